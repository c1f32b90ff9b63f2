//! `ballotwatch serve` run by a test: its own config, free ports, its log kept and printed when
//! the test fails, stopped with SIGTERM when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Workspace;

/// A running `serve`, stopped with SIGTERM when dropped; its log is printed if a test fails.
pub struct Serve {
    pub child: Child,
    pub base: String,
    /// The `/metrics` listener's base URL, when `[server] metrics_bind` is set (else empty).
    pub metrics: String,
    pub log: PathBuf,
}

impl Serve {
    /// Starts `serve` with `ws`'s config and waits until the web UI (and, when the config
    /// sets `metrics_bind`, the metrics listener) is up.
    pub fn start(ws: &Workspace) -> Serve {
        Serve::start_with_env(ws, &[])
    }

    /// Like [`Serve::start`], with `env` (e.g. a source's `password_env`) set for `serve`.
    pub fn start_with_env(ws: &Workspace, env: &[(&str, &str)]) -> Serve {
        Serve::start_args(ws, &["serve"], env)
    }

    /// Like [`Serve::start_with_env`], running `args` (e.g. `serve --roles web`).
    pub fn start_args(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let wants_metrics = std::fs::read_to_string(ws.config())
            .unwrap_or_default()
            .contains("metrics_bind");
        let log = ws.dir.path().join("serve.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = ws
            .cmd(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut serve = Serve {
            child,
            base: String::new(),
            metrics: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&serve.log).unwrap_or_default();
            let find = |marker: &str| {
                text.split(marker)
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(|addr| format!("http://{}", addr.trim_end_matches("/metrics")))
            };
            let metrics = find("metrics listening on http://");
            if let Some(base) = find("web UI listening on http://") {
                if metrics.is_some() || !wants_metrics {
                    serve.base = base;
                    serve.metrics = metrics.unwrap_or_default();
                    return serve;
                }
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("serve exited with {status}:\n{text}");
            }
            assert!(Instant::now() < deadline, "serve did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log so far, without its colour codes.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // `ESC [ … letter`
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Waits up to `within` until the log holds a line with every one of `words`; panics
    /// with the log otherwise.
    pub fn wait_for_log(&self, words: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let text = self.log_text();
            if text.lines().any(|l| words.iter().all(|w| l.contains(w))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {words:?} within {within:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `path` on the web UI.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Logs in through the web UI's real form at `base` (its cookie-bound token first); the
/// session cookie (`name=value`) on success, else the status.
pub async fn form_login(base: &str, user: &str, password: &str) -> Result<String, u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(format!("{base}/login")).send().await.unwrap();
    let form_cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = res.text().await.unwrap();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let res = client
        .post(format!("{base}/login"))
        .header("cookie", form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("username", user)
                .append_pair("password", password)
                .append_pair("csrf", &csrf)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("bw_session="))
        .and_then(|c| c.split(';').next())
        .filter(|_| status == 303)
        .map(str::to_string)
        .ok_or(status)
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- serve log ----\n{log}");
        }
    }
}
