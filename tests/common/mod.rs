//! Shared harness for the end-to-end tests: a real HTTP server on 127.0.0.1 serving recorded
//! feeds (and misbehaving on purpose), config files, and running the real `ballotwatch` binary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Counters and knobs shared between a test and its server.
#[derive(Default)]
pub struct ServerState {
    /// Requests per path.
    pub hits: Mutex<HashMap<String, u32>>,
    /// 304 responses sent.
    pub not_modified: AtomicU32,
    /// Entries in `/growing.xml`.
    pub growing_len: AtomicUsize,
    /// Edit generation of the first entry of `/growing.xml`.
    pub growing_edit: AtomicU32,
}

impl ServerState {
    /// Requests so far for a path.
    pub fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    fn count(&self, path: String) {
        *self.hits.lock().unwrap().entry(path).or_default() += 1;
    }
}

/// A fixture server running on its own thread until dropped with the test process.
pub struct FixtureServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
}

impl FixtureServer {
    pub fn start() -> FixtureServer {
        let state = Arc::new(ServerState::default());
        state.growing_len.store(3, Ordering::SeqCst);
        let app = Router::new()
            .route("/feeds/{name}", get(static_feed))
            .route("/nocache/{name}", get(static_feed_no_validators))
            .route("/growing.xml", get(growing))
            .route("/bulk/{n}", get(bulk))
            .route("/huge.xml", get(huge))
            .route("/redirect/{n}", get(redirect))
            .with_state(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        FixtureServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

fn fixture_bytes(name: &str) -> Option<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [root.join("tests/fixtures/feeds"), root.join("demo/feeds")]
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read(p).ok())
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".atom") {
        "application/atom+xml"
    } else if name.contains("latin1") {
        "application/rss+xml; charset=ISO-8859-1"
    } else {
        "application/rss+xml; charset=utf-8"
    }
}

async fn static_feed(
    State(state): State<Arc<ServerState>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    state.count(format!("/feeds/{name}"));
    let Some(body) = fixture_bytes(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", body.len());
    let last_modified = "Tue, 28 Apr 2026 17:00:00 GMT";
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let ims = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    if inm == Some(etag.as_str()) || (inm.is_none() && ims == Some(last_modified)) {
        state.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type(&name).to_string()),
            (header::ETAG, etag),
            (header::LAST_MODIFIED, last_modified.to_string()),
        ],
        body,
    )
        .into_response()
}

async fn static_feed_no_validators(
    State(state): State<Arc<ServerState>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    state.count(format!("/nocache/{name}"));
    match fixture_bytes(&name) {
        Some(body) => ([(header::CONTENT_TYPE, content_type(&name))], body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An RSS 2.0 feed of `growing_len` entries; the first entry's text changes with `growing_edit`.
async fn growing(State(state): State<Arc<ServerState>>) -> Response {
    state.count("/growing.xml".into());
    let n = state.growing_len.load(Ordering::SeqCst);
    let edit = state.growing_edit.load(Ordering::SeqCst);
    let entries: Vec<String> = (1..=n)
        .map(|i| {
            let text = if i == 1 && edit > 0 {
                format!("Correction {edit}: the Castle ward polling station opens at 7am, not 8am.")
            } else {
                format!("Update {i} on the Castle ward polling station and the count.")
            };
            rss_item(
                &format!("growing-{i}"),
                &format!("Castle ward update {i}"),
                &text,
                i,
            )
        })
        .collect();
    rss_response(rss_doc("Growing feed", &entries.concat()))
}

/// `/bulk/{n}`: feed number n with 250 realistic entries of about 1 KB each.
async fn bulk(State(state): State<Arc<ServerState>>, UrlPath(n): UrlPath<String>) -> Response {
    state.count(format!("/bulk/{n}"));
    let n: usize = n.trim_end_matches(".xml").parse().unwrap_or(0);
    // Stagger the feeds so that a kill lands while some are stored and others are in flight.
    tokio::time::sleep(Duration::from_millis(60 * n as u64)).await;
    rss_response(bulk_feed(n, 250))
}

/// A feed of `count` entries for feed number `feed`, each about 1 KB of text.
pub fn bulk_feed(feed: usize, count: usize) -> String {
    let entries: Vec<String> = (0..count)
        .map(|i| {
            let text = format!(
                "Report {i} from desk {feed}. Residents of Riverside ward asked where their polling \
                 station will be on 7 May and how postal votes are counted. {}",
                "The council's elections team answered questions about poll cards, photo ID and \
                 accessible voting at the library drop-in session. "
                    .repeat(6)
            );
            rss_item(
                &format!("bulk-{feed}-{i}"),
                &format!("Desk {feed} election report {i}"),
                &text,
                i,
            )
        })
        .collect();
    rss_doc(&format!("Bulk feed {feed}"), &entries.concat())
}

fn rss_item(guid: &str, title: &str, text: &str, minute: usize) -> String {
    format!(
        "<item><title>{title}</title><link>https://news.example/{guid}</link>\
         <guid isPermaLink=\"false\">{guid}</guid>\
         <pubDate>Mon, 27 Apr 2026 {:02}:{:02}:00 GMT</pubDate>\
         <description>{text}</description></item>\n",
        (minute / 60) % 24,
        minute % 60
    )
}

fn rss_doc(title: &str, items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>{title}</title><link>https://news.example/</link><description>{title}</description>\n\
         {items}</channel></rss>\n"
    )
}

fn rss_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An endless chunked body (no Content-Length): only a size cap stops it.
async fn huge(State(state): State<Arc<ServerState>>) -> Response {
    state.count("/huge.xml".into());
    let chunk = bytes_of_feed_padding();
    let stream = futures_util::stream::iter(
        std::iter::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone())).take(100_000),
    );
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn bytes_of_feed_padding() -> axum::body::Bytes {
    axum::body::Bytes::from(
        "<!-- padding padding padding padding padding padding -->\n".repeat(1000),
    )
}

/// `/redirect/n` redirects to `/redirect/n-1`; `/redirect/0` serves the Echo feed.
async fn redirect(State(state): State<Arc<ServerState>>, UrlPath(n): UrlPath<u32>) -> Response {
    state.count(format!("/redirect/{n}"));
    if n == 0 {
        let body = fixture_bytes("anytown-echo.xml").unwrap_or_default();
        return ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response();
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/redirect/{}", n - 1))],
    )
        .into_response()
}

/// A test's own data folder and config file.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A config with `data_dir` in a temp folder, loopback fetching allowed (the fixture server
    /// is on 127.0.0.1), a fast politeness delay, and the given extra TOML (sources...).
    pub fn new(extra: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "data_dir = \"data\"\n\
             [watch]\nterms = [\"polling station\", \"Riverside ward\", \"Anytown\"]\n\
             [ingest]\nallow_private_addresses = true\npoliteness_delay = \"10ms\"\n\
             timeout = \"20s\"\nconnect_timeout = \"5s\"\n\
             [index]\ncommit_interval = \"500ms\"\n\n{extra}"
        );
        std::fs::write(dir.path().join("ballotwatch.toml"), config).unwrap();
        Workspace { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ballotwatch.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `ballotwatch` command with this workspace's config.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ballotwatch"));
        c.arg("--config").arg(self.config()).args(args);
        c.env_remove("RUST_LOG").env_remove("BALLOTWATCH_CONFIG");
        c.stdin(Stdio::null());
        c
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().unwrap())
    }

    /// Runs a command to completion with `input` on its stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// `search QUERY --json --limit 10000`, parsed.
    pub fn search_json(&self, query: &str) -> Vec<serde_json::Value> {
        let r = self.run(&["search", query, "--json", "--limit", "1000"]);
        assert_eq!(r.code, 0, "search {query:?} failed: {}", r.stderr);
        r.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A finished command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A `[[source]]` table for an RSS/Atom feed.
pub fn rss_source(name: &str, url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nkind = \"rss\"\nurl = \"{url}\"\ninterval = \"10s\"\n\n"
    )
}

/// The table row of `ingest --once` output for a source.
pub fn row<'a>(stdout: &'a str, source: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(source))
        .unwrap_or_else(|| panic!("no row for {source} in:\n{stdout}"))
}
