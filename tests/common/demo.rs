//! `ballotwatch demo` run as the README says, on a temporary data folder and a free port: the
//! real binary, its printed web address and one-time login link, and the ordinary commands on
//! the config it wrote.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `ballotwatch demo --once --data-dir PARENT/demo` (one ingest pass, then exit) and
/// returns the data folder it filled, holding the config it wrote (`ballotwatch.toml`).
pub fn once(parent: &std::path::Path) -> PathBuf {
    let data = parent.join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .args(["demo", "--once", "--data-dir"])
        .arg(&data)
        .env_remove("RUST_LOG")
        .env_remove("BALLOTWATCH_CONFIG")
        .env("BALLOTWATCH_MODELS", super::models_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "demo --once failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// A running `ballotwatch demo`, stopped with SIGTERM when dropped.
pub struct Demo {
    child: Child,
    _dir: tempfile::TempDir,
    /// The demo's data folder (`--data-dir`), holding the config it wrote.
    pub data: PathBuf,
    /// The web UI's address as printed, without a trailing `/`.
    pub web: String,
    /// The one-time login link as printed.
    pub login: String,
    /// The demo's stdout, line by line (kept open so the demo never blocks writing to it).
    _lines: mpsc::Receiver<String>,
}

impl Demo {
    /// Starts `ballotwatch demo --bind 127.0.0.1:0 --data-dir TMP` and waits until it has
    /// printed its web address and one-time login link.
    pub fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("demo");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
            .args(["demo", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("RUST_LOG")
            .env_remove("BALLOTWATCH_CONFIG")
            .env("BALLOTWATCH_MODELS", super::models_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut web = None;
        let mut login = None;
        let until = Instant::now() + Duration::from_secs(120);
        while login.is_none() {
            let left = until.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the demo did not print its web address and login link");
            println!("demo: {line}");
            if let Some(u) = line.strip_prefix("Web UI:") {
                web = Some(u.trim().trim_end_matches('/').to_string());
            }
            if let Some(u) = line.trim().strip_prefix("log in once with:") {
                login = Some(u.trim().to_string());
            }
        }
        Demo {
            child,
            _dir: dir,
            data,
            web: web.expect("the demo printed no `Web UI:` line"),
            login: login.unwrap_or_default(),
            _lines: rx,
        }
    }

    /// The config the demo wrote into its data folder.
    pub fn config(&self) -> PathBuf {
        self.data.join("ballotwatch.toml")
    }

    /// Runs `ballotwatch --config DEMO_CONFIG ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> super::Run {
        let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("RUST_LOG")
            .env("BALLOTWATCH_MODELS", super::models_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        super::Run::from(out)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SIGTERM: the demo is `serve`, which finishes the work in hand and stops.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
