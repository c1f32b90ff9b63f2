//! `ballotwatch demo` run as the README says, on a temporary data folder and a free port: the
//! real binary, its printed web address and one-time login link, and the ordinary commands on
//! the config it wrote.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// What `ballotwatch demo --once` (one ingest pass, then exit) left: a copy of its data folder
/// for one test, and what it printed.
pub struct Once {
    /// The data folder, holding the config the demo wrote (`ballotwatch.toml`).
    pub data: PathBuf,
    /// The demo's stdout.
    pub stdout: String,
}

/// The one `demo --once` run of this test binary, made on first use: its data folder and
/// stdout. Every test that needs the demo's pass gets its own copy of the folder ([`once`]).
struct Shared {
    dir: tempfile::TempDir,
    stdout: String,
}

/// The data folder's name in the shared run's temp folder and in each copy.
const DATA: &str = "demo";

fn run_once() -> Shared {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(DATA);
    let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .args(["demo", "--once", "--data-dir"])
        .arg(&data)
        .env_remove("RUST_LOG")
        .env_remove("BALLOTWATCH_CONFIG")
        .env("BALLOTWATCH_MODELS", super::models_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "demo --once failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Shared { dir, stdout }
}

/// `ballotwatch demo --once --data-dir PARENT/demo`, as if run there: the binary's one shared
/// run (made on first use, the other tests waiting for it) copied into `PARENT/demo`, with the
/// config's `data_dir` pointing at the copy. The copy is the test's own to change.
pub fn once(parent: &Path) -> Once {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    let shared = super::shared::once(&SHARED, run_once, |s| {
        let _ = std::fs::remove_dir_all(s.dir.path());
    });
    let from = shared.dir.path().join(DATA);
    let data = parent.join(DATA);
    copy_dir(&from, &data);
    let config = data.join("ballotwatch.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&from.display().to_string()),
        "the demo's config names its data folder"
    );
    std::fs::write(
        &config,
        text.replace(&from.display().to_string(), &data.display().to_string()),
    )
    .unwrap();
    Once {
        data,
        stdout: shared.stdout.clone(),
    }
}

/// Copies the folder `from` to `to` (which must not exist), files and folders only.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
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
