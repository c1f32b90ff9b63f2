//! Headless Chromium for the end-to-end tests, driven through chromedriver (WebDriver):
//! starting both, waiting for outcomes, screenshots into `target/screenshots/`, and an audit of
//! the DOM for anything that could run or load from elsewhere.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::tools::Tool;
use serde_json::json;

/// The browser window: screenshots are this wide (the README's are too).
pub const WINDOW: (u32, u32) = (1280, 1100);

/// chromedriver on a free local port in its own process group, which the browsers it starts
/// join. One serves every browser test of the binary ([`chromedriver`]), each test in a
/// browser session of its own; when the process exits the whole group is killed, so a failed
/// test (which never closes its browser session) leaves no Chromium behind.
pub struct Driver {
    child: Child,
    /// The port chromedriver listens on (127.0.0.1).
    pub port: u16,
}

/// The chromedriver this test binary's browser tests share, started on first use (on a free
/// port, waiting until it accepts connections) and killed with its browsers when the process
/// exits. The test checks first that Chromium and chromedriver are there
/// ([`super::tools::needs`]).
pub fn chromedriver() -> &'static Driver {
    static SHARED: OnceLock<Driver> = OnceLock::new();
    // The group's id is chromedriver's pid (`process_group(0)`).
    super::shared::once(&SHARED, start_chromedriver, |d| {
        super::shared::kill(d.child.id(), true)
    })
}

fn start_chromedriver() -> Driver {
    for tool in [Tool::Chromium, Tool::Chromedriver] {
        assert!(
            tool.present(),
            "{}",
            super::tools::missing_message("start_chromedriver", &[tool])
        );
    }
    let port = super::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { child, port }
}

/// A headless Chromium session.
pub async fn browser(driver: &Driver) -> Client {
    browser_with_downloads(driver, None).await
}

/// A headless Chromium session that saves downloads into `downloads` without asking.
pub async fn browser_with_downloads(driver: &Driver, downloads: Option<&Path>) -> Client {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let window = format!("--window-size={},{}", WINDOW.0, WINDOW.1);
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        window.as_str(),
        "--no-first-run",
    ];
    if root {
        args.push("--no-sandbox");
    }
    let mut options = json!({ "binary": "/usr/bin/chromium", "args": args });
    if let Some(dir) = downloads {
        options["prefs"] = json!({
            "download.default_directory": dir.to_string_lossy(),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

/// Where screenshots go: `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// Saves what the browser shows as `target/screenshots/{name}.png`; returns its path.
pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    let path = dir.join(format!("{name}.png"));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&png).unwrap();
    path
}

/// Polls `f` until it returns `Some`, or fails after a generous deadline.
pub async fn wait_for<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for_within(what, Duration::from_secs(90), f).await
}

/// Polls `f` until it returns `Some`, or fails after `limit`.
pub async fn wait_for_within<T, F, Fut>(what: &str, limit: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    match poll_until(limit, f).await {
        Some(v) => v,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Polls `f` until it returns `Some`; `None` when `limit` passes first (for a caller that
/// fails with what it saw last).
pub async fn poll_until<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the browser is at a URL for which `ok` holds.
pub async fn wait_url(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    wait_for(what, || async {
        let u = c.current_url().await.ok()?.to_string();
        ok(&u).then_some(u)
    })
    .await
}

/// JavaScript run in the page that lists everything in the DOM that could run script, style
/// the page from an attribute, or load from anywhere but the capture store and the stylesheet;
/// an empty list means the page is inert.
pub const DOM_AUDIT: &str = r#"
const bad = [];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    const n = a.name.toLowerCase();
    const v = a.value.toLowerCase().replace(/\s/g, '');
    if (n.startsWith('on')) bad.push(el.tagName + ' ' + n);
    if (n === 'style' || n === 'srcdoc') bad.push(el.tagName + ' ' + n);
    if (v.includes('javascript:') || v.includes('expression(')) bad.push(el.tagName + ' ' + n + '=' + v);
    if (['src', 'srcset', 'data', 'poster', 'background'].includes(n) && !v.startsWith('/media/'))
      bad.push(el.tagName + ' ' + n + '=' + v);
  }
}
for (const sel of ['script', 'iframe', 'object', 'embed', 'style', 'base', 'meta[http-equiv]',
                   'svg:not([role="img"])', 'math', 'input[name="password"]', 'form[action^="http"]',
                   'link:not([href="/static/app.css"])']) {
  for (const el of document.querySelectorAll(sel)) bad.push('element ' + sel);
}
for (const r of performance.getEntriesByType('resource'))
  if (!r.name.startsWith(location.origin)) bad.push('loaded ' + r.name);
return bad;
"#;

/// On an incident page: sets the status to `status` (a value of the status select) with
/// `note`, submits, and waits until the page shows the new status.
pub async fn set_incident_status(c: &Client, status: &str, note: &str) {
    c.find(Locator::Id("status"))
        .await
        .unwrap()
        .select_by_value(status)
        .await
        .unwrap();
    c.find(Locator::Id("status-note"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/status'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&format!("the status to read {status}"), || async {
        let t = c
            .find(Locator::Id("incident-status"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (t == status).then_some(())
    })
    .await;
}
