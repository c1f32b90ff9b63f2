//! Test helpers shared by the source modules: a fetcher allowed to reach 127.0.0.1 (the same
//! `[ingest] allow_private_addresses` switch the end-to-end tests use) and a real HTTP server.

use std::time::Duration;

use axum::Router;
use ballotwatch_core::config::{FieldPath, Problems};
use ballotwatch_core::WatchTerms;

use super::{PollContext, SourceConfig};
use crate::fetcher::Fetcher;
use crate::IngestConfig;

/// The demo council's watch terms.
pub(crate) fn watch() -> WatchTerms {
    WatchTerms::new(&[
        "Anytown",
        "Riverside ward",
        "Jane Okafor",
        "polling station",
    ])
}

/// A poll context whose fetcher may reach loopback addresses, without politeness delay.
pub(crate) fn test_ctx() -> PollContext {
    let cfg = IngestConfig {
        allow_private_addresses: true,
        politeness_delay: Duration::ZERO,
        ..IngestConfig::default()
    };
    PollContext {
        fetcher: Fetcher::new(&cfg, "test").unwrap(),
        watch: watch(),
        lookalikes: None,
    }
}

/// Serves `app` on 127.0.0.1 and returns its base URL (`http://127.0.0.1:PORT`).
pub(crate) async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// One `[[source]]` table's keys (`name = …`, `kind = …`), read and validated as
/// `ballotwatch.toml` reads them: the config (when it could be read) and every problem found.
pub(crate) fn read_source_config(keys: &str) -> (Option<SourceConfig>, Problems) {
    let value: toml::Value = toml::from_str(keys).unwrap();
    let mut problems = Problems::default();
    let at = FieldPath::root().key("source").index(0);
    let read = SourceConfig::read(value, &at, &mut problems);
    if let Some(cfg) = &read {
        ballotwatch_core::config::Validate::validate(cfg, &at, &mut problems);
    }
    (read, problems)
}

/// One `[[source]]` table's keys, read as `ballotwatch.toml` reads them; panics with the
/// problems if there are any.
pub(crate) fn source_config(keys: &str) -> SourceConfig {
    let (read, problems) = read_source_config(keys);
    assert!(problems.is_empty(), "{problems:?}");
    read.unwrap()
}

/// The problems of one `[[source]]` table's keys as one string (`Problems`' debug form, which
/// names each field), for tests that look for a message and the key it names.
pub(crate) fn config_problems(keys: &str) -> String {
    format!("{:?}", read_source_config(keys).1)
}
