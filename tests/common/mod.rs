//! Shared harness for the end-to-end tests: a real HTTP server on 127.0.0.1 serving recorded
//! feeds (and misbehaving on purpose), config files, and running the real `ballotwatch` binary.

#![allow(dead_code)]

pub mod browser;
pub mod demo;
pub mod dovecot;
pub mod serve;
pub mod shared;
pub mod tools;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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
            .route("/nested/{depth}", get(nested))
            .with_state(state.clone());
        let addr = serve_router(app);
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

/// Entries in each `/bulk/{n}` feed.
pub const BULK_ENTRIES: usize = 100;

/// `/bulk/{n}`: feed number n with [`BULK_ENTRIES`] realistic entries of about 1 KB each.
async fn bulk(State(state): State<Arc<ServerState>>, UrlPath(n): UrlPath<String>) -> Response {
    state.count(format!("/bulk/{n}"));
    let n: usize = n.trim_end_matches(".xml").parse().unwrap_or(0);
    // Stagger the feeds so that a kill lands while some are stored and others are in flight.
    tokio::time::sleep(Duration::from_millis(60 * n as u64)).await;
    rss_response(bulk_feed(n, BULK_ENTRIES))
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

/// `/nested/{depth}`: three ordinary entries and, between them, one whose HTML nests `depth`
/// elements (unclosed `<div>`s, each with a few words, and a link at the bottom).
async fn nested(State(state): State<Arc<ServerState>>, UrlPath(depth): UrlPath<usize>) -> Response {
    state.count(format!("/nested/{depth}"));
    rss_response(nested_feed(depth))
}

/// The feed `/nested/{depth}` serves.
pub fn nested_feed(depth: usize) -> String {
    let hostile = format!(
        "<![CDATA[<p>Hostile post.</p>{}<a href=\"https://news.example/bottom\">bottom link</a>]]>",
        "<div>level ".repeat(depth)
    );
    let entries = [
        rss_item(
            "ordinary-1",
            "Riverside ward count",
            "The count starts at 10pm.",
            1,
        ),
        rss_item("hostile", "Deeply nested post", &hostile, 2),
        rss_item(
            "ordinary-2",
            "Polling station moved",
            "The Castle ward polling station moved.",
            3,
        ),
        rss_item(
            "ordinary-3",
            "Postal votes",
            "Postal votes must arrive by 10pm.",
            4,
        ),
    ];
    rss_doc("Nested feed", &entries.concat())
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

/// A free port on 127.0.0.1 (free when asked: the server binds it right after).
pub fn free_port() -> u16 {
    ballotwatch_core::net::free_loopback_port().expect("a free port on 127.0.0.1")
}

/// A test's own data folder and config file.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A config with `data_dir` in a temp folder, loopback fetching allowed (the fixture server
    /// is on 127.0.0.1), a fast politeness delay, and the given extra TOML (sources...).
    ///
    /// `serve`'s web UI gets a free port (`[server] bind = "127.0.0.1:0"`) unless `extra` sets
    /// one, so tests running `serve` at the same time do not fight over 8080.
    pub fn new(extra: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let extra = if !extra.contains("[server]") {
            format!("[server]\nbind = \"127.0.0.1:0\"\n{extra}")
        } else if extra.contains("\nbind = ") {
            extra.to_string()
        } else {
            extra.replacen("[server]\n", "[server]\nbind = \"127.0.0.1:0\"\n", 1)
        };
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
        c.env("BALLOTWATCH_MODELS", models_dir());
        c.stdin(Stdio::null());
        c
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().unwrap())
    }

    /// Runs a command to completion with `input` on its stdin. The input is written from its
    /// own thread, so a command that answers while it reads (`classify`) cannot fill its stdout
    /// pipe and deadlock against us.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        match writer.join().unwrap() {
            Ok(()) => {}
            // A command that stops early (a config or model error, exit 2) closes its stdin
            // before reading it all; what it answered is what the test checks.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("writing the command's stdin: {e}"),
        }
        Run::from(out)
    }

    /// `classify` with one item (a JSON object) per line on stdin: the exit code, one parsed
    /// result (or `{"line", "error"}`) per output line, and stderr.
    pub fn classify<T: std::fmt::Display>(&self, items: &[T]) -> Classified {
        let input: String = items.iter().map(|i| format!("{i}\n")).collect();
        let r = self.run_with_stdin(&["classify"], &input);
        let results = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        Classified {
            code: r.code,
            results,
            stderr: r.stderr,
        }
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

    /// `export --incident ID --out <dir>/pack.zip`, which must succeed; the pack's path.
    pub fn export_incident(&self, incident: i64) -> PathBuf {
        let pack = self.dir.path().join("pack.zip");
        let r = self.run(&[
            "export",
            "--incident",
            &incident.to_string(),
            "--out",
            pack.to_str().unwrap(),
        ]);
        assert_eq!(
            r.code, 0,
            "export --incident {incident} failed: {}",
            r.stderr
        );
        assert!(pack.is_file(), "no pack at {}", pack.display());
        pack
    }
}

pub use tools::models_dir;

/// What [`Workspace::classify`] answered.
pub struct Classified {
    pub code: i32,
    pub results: Vec<serde_json::Value>,
    pub stderr: String,
}

impl Classified {
    /// The results, after checking that `classify` succeeded.
    pub fn ok(self) -> Vec<serde_json::Value> {
        assert_eq!(self.code, 0, "classify failed: {}", self.stderr);
        self.results
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

/// Serves `routes` (path → content type, body) on 127.0.0.1 from its own thread; returns the
/// base URL.
pub fn serve_bytes(routes: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    use axum::http::header;
    use axum::response::IntoResponse;
    let mut app = axum::Router::new();
    for (path, mime, body) in routes {
        app = app.route(
            path,
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, mime)], body).into_response() }
            }),
        );
    }
    format!("http://{}", serve_router(app))
}

/// Serves `app` on a free port of 127.0.0.1 from a thread of its own (for the rest of the test
/// process); returns the address.
pub fn serve_router(app: Router) -> SocketAddr {
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
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
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

/// A real SMTP server (aiosmtpd, installed by `tests/smtp/install`) on 127.0.0.1, with a test
/// CA and server certificate made by rcgen, AUTH, and every accepted message written to a
/// folder.
///
/// Tests share one server per TLS mode ([`SmtpServer::shared`]) and each reads only its own
/// [`Mailbox`] (the messages sent from its own address). A test that stops the server and
/// starts it again (an outage) starts one of its own ([`SmtpServer::start`]).
pub struct SmtpServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls: &'static str,
    child: Option<std::process::Child>,
}

/// One message the SMTP server accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The value of a header (first occurrence, unfolded), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The plain-text body, decoded (quoted-printable soft breaks joined), as a reader sees it.
    pub fn text(&self) -> String {
        let parsed = mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .unwrap_or_else(|| {
                panic!("the server accepted an unparseable message:\n{}", self.data)
            });
        parsed.body_text(0).unwrap_or_default().into_owned()
    }
}

pub const SMTP_USER: &str = "ballotwatch";
pub const SMTP_PASSWORD: &str = "test-password-1";

/// Writes a test CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it
/// (`cert.pem`, key `key.pem`) into `dir`, made by rcgen: what the test mail servers present.
pub fn write_test_certificates(dir: &Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

impl SmtpServer {
    /// Starts a server of its own; `tls` is `none`, `starttls` or `tls`.
    pub fn start(tls: &'static str) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        write_test_certificates(dir.path());
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::create_dir(dir.path().join("refuse")).unwrap();
        let port = free_port();
        let mut s = SmtpServer {
            dir,
            port,
            tls,
            child: None,
        };
        s.up();
        s
    }

    /// The server with `tls` (`none`, `starttls` or `tls`) that the tests of this binary share,
    /// started on first use and stopped when the process exits. A test takes a
    /// [`SmtpServer::mailbox`] of its own on it.
    pub fn shared(tls: &'static str) -> &'static SmtpServer {
        static SHARED: [OnceLock<SmtpServer>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let cell = match tls {
            "none" => &SHARED[0],
            "starttls" => &SHARED[1],
            "tls" => &SHARED[2],
            other => panic!("no TLS mode {other:?}: none, starttls or tls"),
        };
        shared::once(
            cell,
            || SmtpServer::start(tls),
            |s| {
                if let Some(child) = &s.child {
                    shared::kill(child.id(), false);
                }
                let _ = std::fs::remove_dir_all(s.dir.path());
            },
        )
    }

    /// A mailbox of its own on this server for one test: the messages sent from its own
    /// address, `alerts-N@anytown.example`.
    pub fn mailbox(&self) -> Mailbox<'_> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        Mailbox {
            server: self,
            from: format!(
                "alerts-{}@anytown.example",
                NEXT.fetch_add(1, Ordering::SeqCst)
            ),
        }
    }

    /// Starts (again) on the same port.
    pub fn up(&mut self) {
        use std::io::BufRead;
        assert!(self.child.is_none(), "already running");
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/.venv/bin/python");
        assert!(
            tools::Tool::SmtpServer.present(),
            "{python} is missing: run tests/smtp/install (scripts/test does); a test that starts \
             the SMTP server begins with tools::needs(&[Tool::SmtpServer])"
        );
        let d = self.dir.path();
        let mut child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py"))
            .args(["--port", &self.port.to_string(), "--tls", self.tls])
            .arg("--cert")
            .arg(d.join("cert.pem"))
            .arg("--key")
            .arg(d.join("key.pem"))
            .args(["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")])
            .arg("--maildir")
            .arg(d.join("mail"))
            .arg("--refuse-dir")
            .arg(d.join("refuse"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        // Address reuse can briefly fail right after a stop: retry a few times.
        out.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("READY"),
            "SMTP server did not start: {line:?}"
        );
        self.child = Some(child);
    }

    /// Stops the server (an outage): connections are refused until [`SmtpServer::up`].
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// The CA certificate that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `[alerts.smtp]` for this server (password from `BW_TEST_SMTP_PASSWORD`), sending from
    /// `from`.
    fn config_from(&self, from: &str) -> String {
        format!(
            "[alerts.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{}\"\nusername = \"{SMTP_USER}\"\n\
             password_env = \"BW_TEST_SMTP_PASSWORD\"\nfrom = \"Ballotwatch <{from}>\"\n\
             ca_file = \"{}\"\ntimeout = \"5s\"\n\n",
            self.port,
            self.tls,
            self.ca_file().display()
        )
    }

    /// `[alerts.smtp]` for this server, sending from `alerts@anytown.example`.
    pub fn config(&self) -> String {
        self.config_from("alerts@anytown.example")
    }

    /// Every accepted message sent from `from` (any sender when `None`), in the order accepted.
    fn messages_from(&self, from: Option<&str>) -> Vec<Mail> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice::<Mail>(&std::fs::read(p).unwrap()).unwrap())
            .filter(|m| from.is_none_or(|f| m.mail_from == f))
            .collect()
    }

    /// Every accepted message, in the order accepted.
    pub fn messages(&self) -> Vec<Mail> {
        self.messages_from(None)
    }

    /// Waits until at least `n` messages arrived (or `timeout`), then returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        wait_for_mail(n, timeout, || self.messages())
    }
}

/// Polls `messages` until it holds at least `n` (or `timeout` passed); returns the last answer.
fn wait_for_mail(n: usize, timeout: Duration, messages: impl Fn() -> Vec<Mail>) -> Vec<Mail> {
    let start = std::time::Instant::now();
    loop {
        let m = messages();
        if m.len() >= n || start.elapsed() > timeout {
            return m;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One test's part of an [`SmtpServer`]: what is sent from its own address.
pub struct Mailbox<'a> {
    pub server: &'a SmtpServer,
    /// The envelope sender (and `From`) of this test's messages.
    pub from: String,
}

impl Mailbox<'_> {
    /// `[alerts.smtp]` for the server, sending from this mailbox's address (password from
    /// `BW_TEST_SMTP_PASSWORD`).
    pub fn config(&self) -> String {
        self.server.config_from(&self.from)
    }

    /// The messages sent from this mailbox's address, in the order accepted.
    pub fn messages(&self) -> Vec<Mail> {
        self.server.messages_from(Some(&self.from))
    }

    /// Waits until at least `n` of this mailbox's messages arrived (or `timeout`), then returns
    /// them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        wait_for_mail(n, timeout, || self.messages())
    }

    /// From now on the server answers this mailbox's messages `451` (a temporary failure).
    pub fn refuse(&self) {
        std::fs::write(self.server.dir.path().join("refuse").join(&self.from), "").unwrap();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
    }
}

/// Stores `items` (id, text, verdict label, evidence, severity) as if ingested from source
/// `Echo` and classified with these verdicts, directly through the store API (there are no
/// detectors on this branch that would flag them). Safe while `serve` runs on the same data.
pub fn store_flagged(
    data_dir: &Path,
    items: &[(
        &str,
        &str,
        &str,
        serde_json::Value,
        ballotwatch_core::Severity,
    )],
) {
    use ballotwatch_core::{ClassifyResult, Item, SourceRef, Verdict, VerdictKind};
    let store = ballotwatch_store::Store::open(data_dir).unwrap();
    let now = chrono::Utc::now();
    let body = serde_json::to_vec(&items.iter().map(|i| i.0).collect::<Vec<_>>()).unwrap();
    let sha256 = store.put_blob(&body).unwrap();
    let capture = ballotwatch_core::Capture {
        url: "https://echo.example/rss".into(),
        final_url: "https://echo.example/rss".into(),
        status: 200,
        headers: vec![],
        sha256,
        size: body.len() as u64,
        started_at: now,
        finished_at: now,
    };
    let record = ballotwatch_store::PollRecord {
        captures: vec![capture],
        items: items
            .iter()
            .map(|(id, text, ..)| {
                (
                    0,
                    Item {
                        id: id.to_string(),
                        source: SourceRef {
                            kind: "rss".into(),
                            name: "Echo".into(),
                        },
                        url: Some(format!("https://echo.example/{id}")),
                        title: Some(format!("Post {id}")),
                        text: Some(text.to_string()),
                        ..Item::default()
                    },
                )
            })
            .collect(),
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: false,
        attempted_at: now,
        next_attempt_at: now,
    };
    store.record_poll("Echo", record).unwrap();
    let pending = store.pending_classification(10_000).unwrap();
    let results: Vec<_> = pending
        .iter()
        .filter_map(|s| {
            let (_, _, label, evidence, severity) = items.iter().find(|i| i.0 == s.item.id)?;
            Some((
                s.seq,
                ClassifyResult {
                    id: s.item.id.clone(),
                    flagged: true,
                    severity: *severity,
                    verdicts: vec![Verdict {
                        kind: VerdictKind::Misinformation,
                        label: label.to_string(),
                        score: 0.95,
                        detector: "test".into(),
                        explanation: format!("{label}: says polling stations are closed"),
                        evidence: evidence.clone(),
                        rebuttal: Some("All polling stations are open 7am-10pm".into()),
                    }],
                    detector_errors: vec![],
                    media_text: Vec::new(),
                },
            ))
        })
        .collect();
    store.save_results(&results).unwrap();
}

/// The public half (64 hex digits) of the evidence signing key of the deployment configured by
/// `config`: what a council gives whoever checks its packs, for `verify --public-key`.
pub fn signing_public_key(config: &Path) -> String {
    let c = ballotwatch_pipeline::Config::load(config).unwrap();
    let path = ballotwatch_evidence::key::key_path(c.evidence.signing_key.as_deref(), &c.data_dir);
    ballotwatch_evidence::PackKey::load_or_create(&path)
        .unwrap()
        .public_hex()
}
