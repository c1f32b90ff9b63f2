//! The one check for what a test needs beyond Rust: Chromium, ffmpeg, the models, the Python
//! helpers, Dovecot. Every test that needs one starts with `if !tools::needs(&[...]) { return; }`.
//!
//! - All there: the test runs.
//! - Something missing on a developer's machine: the test is skipped, and says so on stderr
//!   (written past the test harness's capture, so `cargo test` shows it) with what is missing
//!   and how to install it: `SKIPPED demo_tour::… : needs chromium (apt-get install …)`.
//! - Something missing under `CI=true` (or `CI=1`): the test fails with the same message;
//!   nothing is skipped in CI.
//!
//! Standard library only: the workspace's end-to-end tests (`tests/common`) and the classify
//! crate's tests include this same file.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Something a test needs that `cargo test` does not build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Headless Chromium (browser tests, screenshots, PDF reports).
    Chromium,
    /// chromedriver (the browser tests drive Chromium through it).
    Chromedriver,
    /// ffmpeg (video keyframes; making test videos).
    Ffmpeg,
    /// pdftotext from poppler-utils (reading report.pdf).
    Pdftotext,
    /// unzip (checking packs with a standard tool).
    Unzip,
    /// sha256sum (checking `SHA256SUMS` with a standard tool).
    Sha256sum,
    /// ONNX Runtime and the models `models/install` fetches.
    Models,
    /// warcio, the standard WARC reader (`tests/warcio/install`).
    Warcio,
    /// wacz (py-wacz), the independent WACZ validator (`tests/wacz/install`).
    Wacz,
    /// aiosmtpd, the test SMTP server (`tests/smtp/install`).
    SmtpServer,
    /// The DejaVu font the OCR tests render text with.
    DejaVuFont,
    /// Dovecot, the test IMAP server of the report inbox (`tests/common/dovecot.rs`).
    Dovecot,
}

/// The workspace root: the package's folder (this file is compiled into the root package's
/// tests and the classify crate's) or the nearest folder above it with `models/install`.
pub fn workspace() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package
        .ancestors()
        .find(|d| d.join("models/install").is_file())
        .unwrap_or(package)
        .to_path_buf()
}

/// The models folder `models/install` fills.
pub fn models_dir() -> PathBuf {
    workspace().join("models")
}

impl Tool {
    /// What it is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Chromium => "chromium",
            Tool::Chromedriver => "chromedriver",
            Tool::Ffmpeg => "ffmpeg",
            Tool::Pdftotext => "pdftotext",
            Tool::Unzip => "unzip",
            Tool::Sha256sum => "sha256sum",
            Tool::Models => "ONNX Runtime and the models",
            Tool::Warcio => "warcio",
            Tool::Wacz => "wacz (py-wacz)",
            Tool::SmtpServer => "the test SMTP server (aiosmtpd)",
            Tool::DejaVuFont => "the DejaVu Sans font",
            Tool::Dovecot => "dovecot",
        }
    }

    /// How to install it.
    pub fn install(self) -> &'static str {
        match self {
            Tool::Chromium => "apt-get install -y --no-install-recommends chromium",
            Tool::Chromedriver => "apt-get install -y --no-install-recommends chromium-driver",
            Tool::Ffmpeg => "apt-get install -y --no-install-recommends ffmpeg",
            Tool::Pdftotext => "apt-get install -y --no-install-recommends poppler-utils",
            Tool::Unzip => "apt-get install -y --no-install-recommends unzip",
            Tool::Sha256sum => "apt-get install -y coreutils",
            Tool::Models => "models/install",
            Tool::Warcio => "tests/warcio/install",
            Tool::Wacz => "tests/wacz/install",
            Tool::SmtpServer => "tests/smtp/install",
            Tool::DejaVuFont => "apt-get install -y --no-install-recommends fonts-dejavu-core",
            Tool::Dovecot => "apt-get install -y --no-install-recommends dovecot-imapd",
        }
    }

    /// Whether it is installed.
    pub fn present(self) -> bool {
        let root = workspace();
        match self {
            Tool::Chromium
            | Tool::Chromedriver
            | Tool::Ffmpeg
            | Tool::Pdftotext
            | Tool::Unzip
            | Tool::Sha256sum => on_path(self.command()),
            Tool::Models => root
                .join("models/runtime/libonnxruntime.so.1.31.1")
                .is_file(),
            Tool::Warcio => root.join("tests/warcio/.venv/bin/python").is_file(),
            Tool::Wacz => root.join("tests/wacz/.venv/bin/wacz").is_file(),
            Tool::SmtpServer => root.join("tests/smtp/.venv/bin/python").is_file(),
            Tool::DejaVuFont => {
                Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").is_file()
            }
            // Debian puts it in /usr/sbin, which is not on a normal user's PATH.
            Tool::Dovecot => Path::new("/usr/sbin/dovecot").is_file() || on_path("dovecot"),
        }
    }

    /// The program to look for on `PATH`.
    fn command(self) -> &'static str {
        match self {
            Tool::Chromium => "chromium",
            Tool::Chromedriver => "chromedriver",
            Tool::Ffmpeg => "ffmpeg",
            Tool::Pdftotext => "pdftotext",
            Tool::Unzip => "unzip",
            Tool::Sha256sum => "sha256sum",
            _ => "",
        }
    }
}

/// Whether `program` runs from `PATH` (found and executable).
fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True under CI (`CI=true` or `CI=1`): a missing tool fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The message for the missing tools of a test.
pub fn missing_message(test: &str, missing: &[Tool]) -> String {
    let what: Vec<String> = missing
        .iter()
        .map(|t| format!("{} ({})", t.name(), t.install()))
        .collect();
    format!("{test}: needs {}", what.join(", "))
}

/// Whether the calling test can run: true when every tool is installed. Otherwise, under CI
/// it panics (the test fails), and elsewhere it says on stderr that the test is skipped and
/// why, and returns false (the test returns at once).
pub fn needs(tools: &[Tool]) -> bool {
    let missing: Vec<Tool> = tools.iter().copied().filter(|t| !t.present()).collect();
    if missing.is_empty() {
        return true;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let message = missing_message(test, &missing);
    if in_ci() {
        panic!("{message} (CI=true: nothing is skipped in CI)");
    }
    // Straight to the process's stderr: the harness captures only print!/eprint!.
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
    false
}
