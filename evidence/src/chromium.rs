//! Headless Chromium (Debian `chromium`), launched once per job with a fresh temporary profile,
//! no background networking, name resolution limited to the page's own site, and a wall-clock
//! limit: full-page screenshots with the rendered HTML, and `report.html` → PDF.

use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use url::{Host, Url};

/// Environment variable naming the Chromium binary (default: `chromium`, `chromium-browser`,
/// `google-chrome` on `PATH`).
pub const CHROMIUM_ENV: &str = "BALLOTWATCH_CHROMIUM";

/// Limits on one screenshot.
#[derive(Debug, Clone, Copy)]
pub struct ShotLimits {
    /// Wall-clock limit for each Chromium run.
    pub timeout: Duration,
    /// Viewport width in CSS pixels.
    pub width: u32,
    /// Tallest page captured; taller pages are cut here (and marked truncated).
    pub max_height: u32,
    /// Largest PNG or rendered HTML kept, in bytes.
    pub max_bytes: u64,
}

impl Default for ShotLimits {
    fn default() -> Self {
        ShotLimits {
            timeout: Duration::from_secs(30),
            width: 1280,
            max_height: 8000,
            max_bytes: 20 * 1024 * 1024,
        }
    }
}

/// A screenshot and the DOM as rendered.
#[derive(Debug, Clone)]
pub struct Shot {
    /// PNG bytes (cropped to the page's content).
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// True when the page reached the height limit and may continue below it.
    pub truncated: bool,
    /// The rendered DOM (`--dump-dom`) as HTML.
    pub html: Vec<u8>,
}

/// Why Chromium could not be used, or could not make a screenshot, rendered HTML or PDF. The
/// message says what happened and, where it can, what to do; it is what the evidence records as
/// the reason a screenshot is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChromiumError {
    /// No Chromium on this machine.
    #[error(
        "Chromium is not installed (install the Debian package: apt-get install \
         --no-install-recommends chromium), or set BALLOTWATCH_CHROMIUM to its path"
    )]
    NotInstalled,
    /// The program could not be started or asked its version.
    #[error("cannot run {}: {reason}", path.display())]
    Unrunnable {
        /// The program.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// `--version` failed or printed nothing.
    #[error("{} --version failed ({status}); is Chromium installed correctly?", path.display())]
    BadInstall {
        /// The program.
        path: PathBuf,
        /// Its exit status.
        status: String,
    },
    /// A local step (a temp folder, reading or writing a file, waiting for the process) failed.
    #[error("cannot {action}: {reason}")]
    Local {
        /// What was being done, e.g. "create a temp folder".
        action: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// Chromium ran out of time and was stopped.
    #[error("Chromium did not finish the {what} within {seconds}s and was stopped")]
    TimedOut {
        /// What it was making.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// Chromium exited with an error.
    #[error("Chromium failed making the {what} ({status})")]
    Failed {
        /// What it was making.
        what: &'static str,
        /// Its exit status.
        status: String,
    },
    /// What Chromium made is over its size limit.
    #[error("the {what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// What it made.
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Chromium made nothing usable.
    #[error("{0}")]
    Nothing(&'static str),
    /// The screenshot could not be decoded or re-encoded.
    #[error("{what}: {reason}")]
    Image {
        /// Which step.
        what: &'static str,
        /// The decoder's reason.
        reason: String,
    },
    /// The URL may not be visited (not http(s), no host, unresolvable, or a non-public address
    /// while `[ingest] allow_private_addresses` is off).
    #[error("{0}")]
    Refused(String),
}

/// A Chromium installation.
#[derive(Debug, Clone)]
pub struct Chromium {
    path: PathBuf,
    version: String,
}

impl Chromium {
    /// Finds Chromium (`$BALLOTWATCH_CHROMIUM`, else on `PATH`) and asks its version. `Err` says
    /// why it cannot be used and how to install it.
    pub fn find() -> Result<Chromium, ChromiumError> {
        let candidates: Vec<PathBuf> = match std::env::var_os(CHROMIUM_ENV) {
            Some(p) => vec![PathBuf::from(p)],
            None => ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .filter_map(|name| find_on_path(name))
                .collect(),
        };
        let Some(path) = candidates.into_iter().next() else {
            return Err(ChromiumError::NotInstalled);
        };
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| ChromiumError::Unrunnable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let version = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !out.status.success() || version.is_empty() {
            return Err(ChromiumError::BadInstall {
                path,
                status: out.status.to_string(),
            });
        }
        Ok(Chromium { path, version })
    }

    /// What `--version` printed, e.g. `Chromium 156.0.8078.114 built on Debian…`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Takes a full-page screenshot of `url` and dumps its rendered DOM. The URL must have
    /// passed [`guard`], whose resolver rules are passed on so Chromium only reaches that site.
    pub fn screenshot(
        &self,
        url: &Url,
        resolver_rules: &str,
        limits: &ShotLimits,
    ) -> Result<Shot, ChromiumError> {
        let dir = temp_dir()?;
        let png_path = dir.path().join("shot.png");
        let mut cmd = self.base(dir.path(), resolver_rules, limits.timeout);
        cmd.arg(format!(
            "--window-size={},{}",
            limits.width, limits.max_height
        ))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(url.as_str());
        run(cmd, limits.timeout, 0, "screenshot")?;
        let png = read_limited(&png_path, limits.max_bytes)?;
        let (png, width, height, truncated) = crop_to_content(&png, limits.max_height)?;

        let dom_dir = temp_dir()?;
        let mut cmd = self.base(dom_dir.path(), resolver_rules, limits.timeout);
        cmd.arg(format!("--window-size={},{}", limits.width, 1000))
            .arg("--dump-dom")
            .arg(url.as_str());
        let html = run(cmd, limits.timeout, limits.max_bytes, "rendered HTML")?;
        if html.is_empty() {
            return Err(ChromiumError::Nothing("Chromium returned no rendered HTML"));
        }
        Ok(Shot {
            png,
            width,
            height,
            truncated,
            html,
        })
    }

    /// Renders a local HTML file to PDF (`--print-to-pdf`), untagged, with every network name
    /// unresolvable (nothing should be fetched). Packs no longer use it (`report.pdf` is
    /// written in-process: [`crate::report::pdf`]); `benches/evidence.rs` times it against
    /// that on the same report, and tests make real PDF attachments with it.
    pub fn print_to_pdf(
        &self,
        html: &Path,
        pdf: &Path,
        timeout: Duration,
    ) -> Result<(), ChromiumError> {
        let _span = tracing::info_span!("print_to_pdf").entered();
        let started = Instant::now();
        let dir = temp_dir()?;
        let cmd = self.pdf_command(dir.path(), html, pdf, timeout)?;
        run(cmd, timeout, 0, "PDF")?;
        let len = std::fs::metadata(pdf).map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(ChromiumError::Nothing("Chromium wrote no PDF"));
        }
        tracing::debug!(
            bytes = len,
            ms = started.elapsed().as_millis() as u64,
            "PDF rendered"
        );
        Ok(())
    }

    /// The command line that prints `html` to `pdf`.
    fn pdf_command(
        &self,
        profile: &Path,
        html: &Path,
        pdf: &Path,
        timeout: Duration,
    ) -> Result<Command, ChromiumError> {
        let url = Url::from_file_path(html).map_err(|()| ChromiumError::Local {
            action: "open the report",
            reason: format!("{} is not an absolute path", html.display()),
        })?;
        let mut cmd = self.base(profile, "MAP * ~NOTFOUND", timeout);
        cmd.args(["--no-pdf-header-footer", "--disable-pdf-tagging"]);
        cmd.arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(url.as_str());
        Ok(cmd)
    }

    /// The command line every run shares.
    fn base(&self, profile: &Path, resolver_rules: &str, timeout: Duration) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--headless")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args([
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--disable-breakpad",
                "--no-pings",
                "--mute-audio",
                "--hide-scrollbars",
                "--deny-permission-prompts",
            ])
            .arg(format!("--host-resolver-rules={resolver_rules}"))
            // Stop loading (and take the picture) a little before our own wall-clock limit.
            .arg(format!(
                "--timeout={}",
                timeout.as_millis().saturating_mul(3) / 4
            ));
        if running_as_root() {
            // Chromium refuses to start its sandbox as root; the resolver rules and the fresh
            // profile still confine it. Run Ballotwatch as an ordinary user to keep the sandbox.
            cmd.arg("--no-sandbox");
        }
        cmd.env("HOME", profile)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(unix)]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
fn running_as_root() -> bool {
    false
}

/// A temp folder for one Chromium run (its profile, its output).
fn temp_dir() -> Result<tempfile::TempDir, ChromiumError> {
    tempfile::tempdir().map_err(|e| local("create a temp folder", e))
}

/// A local step that failed.
fn local(action: &'static str, reason: impl std::fmt::Display) -> ChromiumError {
    ChromiumError::Local {
        action,
        reason: reason.to_string(),
    }
}

/// Runs `cmd` to completion within `timeout` (killing it after), returning up to `max_stdout`
/// bytes of its stdout (`0`: stdout is discarded).
fn run(
    mut cmd: Command,
    timeout: Duration,
    max_stdout: u64,
    what: &'static str,
) -> Result<Vec<u8>, ChromiumError> {
    cmd.stdout(if max_stdout > 0 {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().map_err(|e| ChromiumError::Local {
        action: "start Chromium",
        reason: format!("for the {what}: {e}"),
    })?;
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let r = out.take(max_stdout.saturating_add(1)).read_to_end(&mut buf);
            r.map(|_| buf)
        })
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChromiumError::TimedOut {
                    what,
                    seconds: timeout.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(local("wait for Chromium", e)),
        }
    };
    let out = match reader {
        Some(h) => h
            .join()
            .map_err(|_| local("read Chromium's output", "the reader panicked"))?
            .map_err(|e| local("read Chromium's output", e))?,
        None => Vec::new(),
    };
    if !status.success() {
        return Err(ChromiumError::Failed {
            what,
            status: status.to_string(),
        });
    }
    if max_stdout > 0 && out.len() as u64 > max_stdout {
        return Err(ChromiumError::TooLarge {
            what,
            limit: max_stdout,
        });
    }
    Ok(out)
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ChromiumError> {
    let len = std::fs::metadata(path)
        .map_err(|_| {
            ChromiumError::Nothing(
                "Chromium wrote no screenshot: the page could not be loaded, or it was refused",
            )
        })?
        .len();
    if len > max {
        return Err(ChromiumError::TooLarge {
            what: "screenshot",
            limit: max,
        });
    }
    std::fs::read(path).map_err(|e| local("read the screenshot", e))
}

/// Crops the blank space below a page's content (Chromium draws the whole tall viewport). The
/// blank area is the run of rows at the bottom identical to the last row. Returns the PNG,
/// width, height and whether the content reached the limit (so the page may be longer).
fn crop_to_content(
    png: &[u8],
    max_height: u32,
) -> Result<(Vec<u8>, u32, u32, bool), ChromiumError> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| ChromiumError::Image {
            what: "Chromium's screenshot is not a readable PNG",
            reason: e.to_string(),
        })?
        .to_rgba8();
    let (w, h) = img.dimensions();
    if h == 0 || w == 0 {
        return Err(ChromiumError::Nothing("Chromium's screenshot is empty"));
    }
    let row = |y: u32| &img.as_raw()[(y * w * 4) as usize..((y + 1) * w * 4) as usize];
    let last = row(h - 1);
    // `y`: the first row of the uniform block at the bottom.
    let mut y = h - 1;
    while y > 0 && row(y - 1) == last {
        y -= 1;
    }
    // Keep one blank row under the content so the page's bottom edge shows.
    let keep = (y + 1).min(h);
    let truncated = y + 1 >= h && h >= max_height;
    if keep == h {
        return Ok((png.to_vec(), w, h, truncated));
    }
    let cropped = image::imageops::crop_imm(&img, 0, 0, w, keep).to_image();
    let mut out = std::io::Cursor::new(Vec::new());
    cropped
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ChromiumError::Image {
            what: "cannot encode the cropped screenshot",
            reason: e.to_string(),
        })?;
    Ok((out.into_inner(), w, keep, truncated))
}

/// Checks that Chromium may be pointed at `url` (http/https; with `allow_private` off, every
/// address its host resolves to must be public, as the fetcher's SSRF guard requires) and
/// returns the `--host-resolver-rules` that pin the host to the checked address and make every
/// other name unresolvable, so the page cannot pull in other sites (or the council's intranet).
pub fn guard(url: &Url, allow_private: bool) -> Result<String, ChromiumError> {
    let refused = ChromiumError::Refused;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(format!("{url} is not an http(s) URL")));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let check = |ip: IpAddr| -> Result<(), ChromiumError> {
        if allow_private {
            return Ok(());
        }
        match ballotwatch_ingest::fetcher::guard::blocked_reason(ip) {
            Some(why) => Err(refused(format!(
                "{url} resolves to {ip}, {why}; screenshots of non-public addresses are refused \
                 (set [ingest] allow_private_addresses = true to allow)"
            ))),
            None => Ok(()),
        }
    };
    // Chromium applies the rules to IP literals too, so the page's own address is excluded.
    let only = |host: &str| format!("MAP * ~NOTFOUND, EXCLUDE {host}");
    match url.host() {
        Some(Host::Ipv4(ip)) => check(IpAddr::V4(ip)).map(|()| only(&ip.to_string())),
        Some(Host::Ipv6(ip)) => check(IpAddr::V6(ip)).map(|()| only(&format!("[{ip}]"))),
        Some(Host::Domain(name)) => {
            let addrs: Vec<IpAddr> = (name, port)
                .to_socket_addrs()
                .map_err(|e| refused(format!("cannot resolve {name}: {e}")))?
                .map(|a| a.ip())
                .collect();
            let first = *addrs
                .first()
                .ok_or_else(|| refused(format!("{name} resolves to no address")))?;
            for ip in &addrs {
                check(*ip)?;
            }
            let pinned = match first {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            Ok(format!("MAP {name} {pinned}, MAP * ~NOTFOUND"))
        }
        None => Err(refused(format!("{url} has no host"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_private_addresses_unless_allowed() {
        let u = Url::parse("http://127.0.0.1:8080/x").unwrap();
        let err = guard(&u, false).unwrap_err().to_string();
        assert!(
            err.contains("loopback") && err.contains("allow_private_addresses"),
            "{err}"
        );
        assert_eq!(
            guard(&u, true).unwrap(),
            "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
        );
        let u = Url::parse("http://10.1.2.3/").unwrap();
        assert!(guard(&u, false)
            .unwrap_err()
            .to_string()
            .contains("private"));
        let u = Url::parse("http://localhost:1/").unwrap();
        assert!(guard(&u, false)
            .unwrap_err()
            .to_string()
            .contains("loopback"));
        assert_eq!(
            guard(&u, true).unwrap().split(", ").last(),
            Some("MAP * ~NOTFOUND")
        );
        let u = Url::parse("file:///etc/passwd").unwrap();
        assert!(guard(&u, true)
            .unwrap_err()
            .to_string()
            .contains("not an http"));
        let u = Url::parse("http://93.184.215.14/").unwrap();
        assert_eq!(
            guard(&u, false).unwrap(),
            "MAP * ~NOTFOUND, EXCLUDE 93.184.215.14"
        );
    }

    #[test]
    fn a_pdf_is_printed_untagged_with_no_network() {
        let c = Chromium {
            path: PathBuf::from("chromium"),
            version: "Chromium 1".into(),
        };
        let dir = std::env::temp_dir();
        let cmd = c
            .pdf_command(
                &dir,
                &dir.join("report.html"),
                &dir.join("report.pdf"),
                Duration::from_secs(8),
            )
            .unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().any(|a| a == "--disable-pdf-tagging"));
        assert!(args.iter().any(|a| a == "--no-pdf-header-footer"));
        assert!(args
            .iter()
            .any(|a| a == "--host-resolver-rules=MAP * ~NOTFOUND"));
        assert!(args.last().is_some_and(|a| a.starts_with("file://")));
        assert!(c
            .pdf_command(
                &dir,
                Path::new("relative.html"),
                &dir.join("r.pdf"),
                Duration::from_secs(1),
            )
            .is_err());
    }

    #[test]
    fn blank_space_below_the_content_is_cropped() {
        let mut img = image::RgbaImage::from_pixel(4, 100, image::Rgba([255, 255, 255, 255]));
        for y in 0..30 {
            img.put_pixel(1, y, image::Rgba([0, 0, 0, 255]));
        }
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let (out, w, h, truncated) = crop_to_content(png.get_ref(), 100).unwrap();
        assert_eq!((w, h, truncated), (4, 31, false));
        let back = image::load_from_memory(&out).unwrap();
        assert_eq!(back.height(), 31);

        // Content down to the last row: nothing to crop, and the page may continue.
        let full = image::RgbaImage::from_fn(4, 50, |_, y| image::Rgba([y as u8, 0, 0, 255]));
        let mut png = std::io::Cursor::new(Vec::new());
        full.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let (_, _, h, truncated) = crop_to_content(png.get_ref(), 50).unwrap();
        assert_eq!((h, truncated), (50, true));
        assert!(crop_to_content(b"not a png", 10).is_err());
    }
}
