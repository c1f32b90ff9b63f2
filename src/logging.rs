//! The log filter: `-v` and `-vv` make Ballotwatch's own crates verbose while third-party
//! crates (html5ever's parser internals, hyper, tantivy, ort…) stay at `info`; `RUST_LOG`, when
//! set, replaces the whole filter and may ask any crate for more.

use tracing_subscriber::EnvFilter;

/// The target prefix of every crate in the workspace (`ballotwatch`, `ballotwatch_ingest`, …):
/// a directive's target matches every target that starts with it.
const OUR_TARGETS: &str = "ballotwatch";

/// The filter directives without `RUST_LOG`: Ballotwatch's crates at `ours`, everything else
/// at `ours` or `info`, whichever says less.
pub fn default_directives(verbose: u8, long_running: bool) -> String {
    let ours = match (verbose, long_running) {
        (0, true) => "info",
        (0, false) => "warn",
        (1, _) => "debug",
        _ => "trace",
    };
    let others = if ours == "warn" { "warn" } else { "info" };
    format!("{others},{OUR_TARGETS}={ours}")
}

/// `RUST_LOG` when it is set (and parses), else [`default_directives`].
pub fn filter(verbose: u8, long_running: bool, rust_log: Option<&str>) -> EnvFilter {
    rust_log
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default_directives(verbose, long_running)))
}

/// Installs the stderr logger with [`filter`] (reading `RUST_LOG`).
pub fn init(verbose: u8, long_running: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, long_running, rust_log.as_deref()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What the filter lets through of one event per (target, level) below.
    fn passed(filter: EnvFilter) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(move || out.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "html5ever::tree_builder", "html5ever-debug");
            tracing::trace!(target: "html5ever::tokenizer", "html5ever-trace");
            tracing::info!(target: "hyper::client", "hyper-info");
            tracing::debug!(target: "ballotwatch_ingest::fetcher", "ingest-debug");
            tracing::trace!(target: "ballotwatch_classify::onnx", "classify-trace");
            tracing::debug!(target: "ballotwatch::demo", "bin-debug");
            tracing::info!(target: "ballotwatch_store", "store-info");
        });
        let bytes = buf.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn has(log: &str, wanted: &[&str], not: &[&str]) {
        for w in wanted {
            assert!(log.contains(w), "{w} missing from:\n{log}");
        }
        for n in not {
            assert!(!log.contains(n), "{n} let through:\n{log}");
        }
    }

    #[test]
    fn dash_v_makes_our_crates_verbose_but_not_html5ever() {
        let log = passed(filter(1, true, None));
        has(
            &log,
            &["ingest-debug", "bin-debug", "store-info", "hyper-info"],
            &["html5ever-debug", "html5ever-trace", "classify-trace"],
        );
    }

    #[test]
    fn dash_vv_traces_our_crates_only() {
        let log = passed(filter(2, false, None));
        has(
            &log,
            &["classify-trace", "ingest-debug", "hyper-info"],
            &["html5ever-debug", "html5ever-trace"],
        );
    }

    #[test]
    fn quiet_commands_say_only_warnings_and_serve_says_info() {
        let log = passed(filter(0, false, None));
        has(&log, &[], &["store-info", "hyper-info", "ingest-debug"]);
        let log = passed(filter(0, true, None));
        has(
            &log,
            &["store-info", "hyper-info"],
            &["ingest-debug", "html5ever-debug"],
        );
    }

    #[test]
    fn rust_log_can_ask_a_third_party_crate_for_more() {
        let log = passed(filter(0, false, Some("html5ever=trace")));
        has(
            &log,
            &["html5ever-debug", "html5ever-trace"],
            &["ingest-debug", "hyper-info"],
        );
        let log = passed(filter(1, false, Some("  ")));
        has(&log, &["ingest-debug"], &["html5ever-debug"]);
    }
}
