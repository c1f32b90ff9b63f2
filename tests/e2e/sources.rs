//! End to end: one source of each social/web kind, pointed at a real HTTP server on 127.0.0.1
//! that answers in each platform's documented format, ingested by the real binary, classified,
//! indexed and found by `search`; then new posts, a rate limit, a malformed answer, a changed
//! and an unchanged page, and `sources` reporting each source's health.
//!
//! The first answers are the unit-test recordings beside each source
//! (`ingest/src/sources/<kind>/testdata/`), served as they are; `tests/fixtures/<kind>/` holds
//! what the platforms answer later (newer statuses, a changed page).

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::tools::Tool;
use common::{row, Workspace};

/// What the platforms answer, changed by the test between runs.
#[derive(Default)]
struct Platforms {
    /// Reddit answers 429 with `Retry-After: 600`.
    reddit_throttled: AtomicBool,
    /// Mastodon has newer statuses after the first page.
    mastodon_newer: AtomicBool,
    /// The watched page: 0 the original, 1 the same text with a new footer, 2 changed.
    page: AtomicU32,
    /// Query strings seen, by path.
    queries: Mutex<Vec<(String, String)>>,
}

fn file(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn unit(kind: &str, name: &str) -> String {
    file(&format!("ingest/src/sources/{kind}/testdata/{name}"))
}

fn json(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

type Q = Query<HashMap<String, String>>;

fn note(p: &Platforms, path: &str, q: &HashMap<String, String>) {
    let mut pairs: Vec<_> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    p.queries
        .lock()
        .unwrap()
        .push((path.to_string(), pairs.join("&")));
}

async fn mastodon_tag(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "mastodon/tag", &q);
    match q.get("min_id").map(String::as_str) {
        None => json(unit("mastodon", "tag-anytownvotes.json")),
        Some("112345678901234570") if p.mastodon_newer.load(Ordering::SeqCst) => {
            json(file("tests/fixtures/mastodon/tag-anytownvotes-newer.json"))
        }
        Some(_) => json("[]".into()),
    }
}

async fn mastodon_lookup(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "mastodon/lookup", &q);
    json(unit("mastodon", "account-lookup.json"))
}

async fn mastodon_statuses(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "mastodon/statuses", &q);
    if q.contains_key("min_id") {
        return json("[]".into());
    }
    json(unit("mastodon", "account-statuses.json"))
}

async fn bsky_search(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "bluesky/search", &q);
    json(unit("bluesky", "search-posts.json"))
}

async fn bsky_feed(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "bluesky/feed", &q);
    json(unit("bluesky", "author-feed.json"))
}

async fn reddit_new(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "reddit/new", &q);
    if p.reddit_throttled.load(Ordering::SeqCst) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "600")],
            "{\"message\": \"Too Many Requests\", \"error\": 429}",
        )
            .into_response();
    }
    json(unit("reddit", "anytownuk-new.json"))
}

async fn youtube(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "youtube", &q);
    (
        [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
        unit("youtube", "anytown-council-videos.xml"),
    )
        .into_response()
}

async fn telegram(State(p): State<Arc<Platforms>>, Query(q): Q) -> Response {
    note(&p, "telegram", &q);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        unit("telegram", "anytown-votes.html"),
    )
        .into_response()
}

async fn web_page(State(p): State<Arc<Platforms>>) -> Response {
    let body = match p.page.load(Ordering::SeqCst) {
        0 => unit("web", "polling-stations-v1.html"),
        1 => unit("web", "polling-stations-v1-reloaded.html"),
        _ => file("tests/fixtures/web/polling-stations-changed.html"),
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn broken() -> Response {
    json(
        "{\"cursor\": \"1\", \"posts\": [{\"uri\": \"at://x\", \"author\": {\"did\": \"did:plc:x\""
            .into(),
    )
}

fn start(p: Arc<Platforms>) -> SocketAddr {
    let app = Router::new()
        .route(
            "/mastodon/api/v1/timelines/tag/AnytownVotes",
            get(mastodon_tag),
        )
        .route("/mastodon/api/v1/accounts/lookup", get(mastodon_lookup))
        .route(
            "/mastodon/api/v1/accounts/109000000000000001/statuses",
            get(mastodon_statuses),
        )
        .route("/bsky/xrpc/app.bsky.feed.searchPosts", get(bsky_search))
        .route("/bsky/xrpc/app.bsky.feed.getAuthorFeed", get(bsky_feed))
        .route("/broken/xrpc/app.bsky.feed.searchPosts", get(broken))
        .route("/reddit/r/AnytownUK/new.json", get(reddit_new))
        .route("/youtube/feeds/videos.xml", get(youtube))
        .route("/telegram/s/anytown_votes", get(telegram))
        .route("/site/elections/polling-stations", get(web_page))
        .with_state(p);
    common::serve_router(app)
}

fn config(addr: SocketAddr) -> String {
    let b = format!("http://{addr}");
    format!(
        r##"[[source]]
name = "Fediverse"
kind = "mastodon"
instance = "{b}/mastodon/"
hashtags = ["#AnytownVotes"]
accounts = ["@anytown"]

[[source]]
name = "Bluesky"
kind = "bluesky"
appview = "{b}/bsky/"
queries = ["Anytown polling station"]
actors = ["anytown.gov.uk"]

[[source]]
name = "Reddit AnytownUK"
kind = "reddit"
base_url = "{b}/reddit/"
subreddits = ["AnytownUK"]

[[source]]
name = "Council YouTube"
kind = "youtube"
url = "{b}/youtube/channel/UCanytownBorough0Council1"

[[source]]
name = "Anytown Votes"
kind = "telegram"
channel = "anytown_votes"
base_url = "{b}/telegram/"

[[source]]
name = "Polling stations page"
kind = "web"
url = "{b}/site/elections/polling-stations"

[[source]]
name = "Broken Bluesky"
kind = "bluesky"
appview = "{b}/broken/"
queries = ["Anytown"]
"##
    )
}

fn ids(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

fn sources_json(ws: &Workspace) -> (i32, HashMap<String, serde_json::Value>) {
    let r = ws.run(&["sources", "--json"]);
    let map = r
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_string(), v)
        })
        .collect();
    (r.code, map)
}

#[test]
fn social_and_web_sources_ingest_classify_index_and_report_health() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let p = Arc::new(Platforms::default());
    p.reddit_throttled.store(true, Ordering::SeqCst);
    let addr = start(p.clone());
    let ws = Workspace::new(&config(addr));

    let check = ws.run(&["check-config"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    // Before any poll: every source is listed, never polled.
    let before = ws.run(&["sources"]);
    assert_eq!(before.code, 0, "{}{}", before.stdout, before.stderr);
    assert!(
        row(&before.stdout, "Fediverse").contains("never polled"),
        "{}",
        before.stdout
    );

    // First pass: Reddit is rate limited and the broken AppView answers garbage; the rest go on.
    let first = ws.run(&["ingest", "--once"]);
    assert_eq!(
        first.code, 1,
        "a failed source makes the pass exit 1:\n{}{}",
        first.stdout, first.stderr
    );
    for (name, new) in [
        ("Fediverse", 4),
        ("Bluesky", 4),
        ("Council YouTube", 2),
        ("Anytown Votes", 3),
        ("Polling stations page", 1),
    ] {
        let r = row(&first.stdout, name);
        assert!(r.contains(" ok"), "{r}\n{}", first.stdout);
        let counts: Vec<&str> = r.split_whitespace().collect();
        assert!(
            r.contains(&format!("  {new:>5}  ")),
            "{name}: expected {new} new in {counts:?}\n{}",
            first.stdout
        );
    }
    let reddit = row(&first.stdout, "Reddit AnytownUK");
    assert!(
        reddit.contains("ERROR: source `Reddit AnytownUK`:"),
        "{reddit}"
    );
    assert!(
        reddit.contains(&format!(
            "http://{addr}/reddit/r/AnytownUK/new.json?limit=100&raw_json=1 answered HTTP 429"
        )),
        "{reddit}"
    );
    assert!(reddit.contains("wait 10m"), "{reddit}");
    let broken = row(&first.stdout, "Broken Bluesky");
    assert!(
        broken.contains(&format!(
            "ERROR: source `Broken Bluesky`: http://{addr}/broken/xrpc/app.bsky.feed.searchPosts?q=Anytown&sort=latest&limit=100 is not a valid Bluesky API response"
        )),
        "{broken}"
    );

    // Search by author handle, one per platform, and by text.
    for (query, source) in [
        ("author:anytown_council_votes", "Fediverse"),
        ("author:\"anytown-elections.bsky.social\"", "Bluesky"),
        ("author:UCanytownBorough0Council1", "Council YouTube"),
        ("author:anytown_votes", "Anytown Votes"),
    ] {
        let hits = ws.search_json(query);
        assert!(!hits.is_empty(), "no hit for {query}");
        assert!(
            hits.iter().all(|h| h["source"]["name"] == source),
            "{query}: {hits:#?}"
        );
    }
    let fake = ws.search_json("\"vote by text\" source:Fediverse");
    assert_eq!(
        fake.len(),
        3,
        "the fake post, the council's rebuttal and its boosted notice: {fake:#?}"
    );
    let flood = ws.search_json("flooding \"Civic Centre\"");
    assert_eq!(flood.len(), 1, "{flood:#?}");
    assert_eq!(flood[0]["source"]["kind"], "telegram");
    assert_eq!(flood[0]["title"], "Forwarded from Riverside Truth");
    let page = ws.search_json("\"Castle Street Library\" source:\"Polling stations page\"");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["source"]["kind"], "web");
    assert!(page[0].get("diff").is_none(), "a first version has no diff");
    let page_id = page[0]["id"].as_str().unwrap().to_string();
    // Classified too: the detectors saw the items (every hit carries a verdict list).
    let everything = ws.search_json("*");
    assert!(everything.len() >= 14, "{}", everything.len());
    assert!(everything
        .iter()
        .all(|h| h["verdicts"].is_array() && h["severity"].is_string()));
    // The same Bluesky post from search and from the author feed is one item.
    let mill = ws.search_json("\"Castle Street library\" source:Bluesky");
    assert_eq!(mill.len(), 1, "{mill:#?}");

    // Health: last success for the good ones, the error and URL for the failing ones; exit 1.
    let (code, health) = sources_json(&ws);
    assert_eq!(code, 1);
    let fedi = &health["Fediverse"];
    assert_eq!(fedi["status"], "ok");
    assert!(fedi["last_success_at"].is_string());
    assert_eq!(fedi["items_24h"], 4);
    let r = &health["Reddit AnytownUK"];
    assert_eq!(r["status"], "FAILING");
    assert!(r["last_success_at"].is_null());
    assert!(r["last_error"].as_str().unwrap().contains("HTTP 429"));
    assert_eq!(
        r["last_error_url"],
        format!("http://{addr}/reddit/r/AnytownUK/new.json?limit=100&raw_json=1")
    );
    // Retry-After is honoured: the next attempt is at least 600 s after the failed one.
    let at =
        |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let wait = at(&r["next_attempt_at"]) - at(&r["last_attempt_at"]);
    assert!(wait >= chrono::Duration::seconds(600), "{wait}");
    assert_eq!(health["Broken Bluesky"]["status"], "FAILING");
    let table = ws.run(&["sources"]);
    assert_eq!(table.code, 1);
    assert!(
        row(&table.stdout, "Reddit AnytownUK").contains("FAILING: source `Reddit AnytownUK`:"),
        "{}",
        table.stdout
    );
    assert!(
        row(&table.stdout, "Council YouTube").contains(" ok"),
        "{}",
        table.stdout
    );

    // Second pass: Reddit answers, Mastodon has one newer status, the page is re-rendered with
    // the same text. Resume: Mastodon asks from the newest id it saw; nothing is repeated.
    p.reddit_throttled.store(false, Ordering::SeqCst);
    p.mastodon_newer.store(true, Ordering::SeqCst);
    p.page.store(1, Ordering::SeqCst);
    p.queries.lock().unwrap().clear();
    let second = ws.run(&["ingest", "--once", "--source", "Fediverse"]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    assert!(
        row(&second.stdout, "Fediverse").contains("      1        0          0"),
        "{}",
        second.stdout
    );
    let asked: Vec<_> = p.queries.lock().unwrap().clone();
    assert!(
        asked.contains(&(
            "mastodon/tag".into(),
            "limit=40&min_id=112345678901234570".into()
        )),
        "{asked:?}"
    );
    assert!(
        asked.contains(&(
            "mastodon/statuses".into(),
            "limit=40&min_id=112345678901234580".into()
        )),
        "{asked:?}"
    );
    assert!(
        !asked.iter().any(|(p, _)| p == "mastodon/lookup"),
        "the account id is remembered: {asked:?}"
    );
    let okafor = ws.search_json("author:cllr_okafor");
    assert_eq!(okafor.len(), 1);

    let third = ws.run(&["ingest", "--once"]);
    assert_eq!(
        third.code, 1,
        "only the broken source still fails:\n{}",
        third.stdout
    );
    assert!(
        row(&third.stdout, "Reddit AnytownUK").contains("      3        0          0"),
        "{}",
        third.stdout
    );
    // The page's text did not change: no new version.
    let unchanged = row(&third.stdout, "Polling stations page");
    assert!(
        unchanged.contains("      0        0          0"),
        "{unchanged}"
    );
    assert_eq!(ws.search_json("author:\"u/riverside_resident\"").len(), 1);

    // The page changes: one new version, with a diff.
    p.page.store(2, Ordering::SeqCst);
    let fourth = ws.run(&["ingest", "--once", "--source", "Polling stations page"]);
    assert_eq!(fourth.code, 0, "{}{}", fourth.stdout, fourth.stderr);
    assert!(
        row(&fourth.stdout, "Polling stations page").contains("      0        1          0"),
        "{}",
        fourth.stdout
    );
    let changed = ws.search_json("\"side door\"");
    assert_eq!(ids(&changed), [page_id]);
    assert_eq!(changed[0]["version"], 2);
    let diff = changed[0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("\n-St Anne's Church Hall, Bridge Street, AN1 5QS (polling district RC)\n"),
        "{diff}"
    );
    assert!(diff.contains("\n+St Anne's Church Hall, Bridge Street, AN1 5QS (polling district RC). Step-free access is via the side door on Bridge Street.\n"), "{diff}");
    let fifth = ws.run(&["ingest", "--once", "--source", "Polling stations page"]);
    assert!(
        row(&fifth.stdout, "Polling stations page").contains("not modified")
            || row(&fifth.stdout, "Polling stations page").contains("      0        0          0"),
        "{}",
        fifth.stdout
    );

    let (_, health) = sources_json(&ws);
    assert_eq!(health["Reddit AnytownUK"]["status"], "ok");
    assert!(health["Reddit AnytownUK"]["last_success_at"].is_string());
    assert!(
        health["Reddit AnytownUK"]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 429"),
        "the last error stays as history"
    );
    assert_eq!(health["Polling stations page"]["items_24h"], 2);
}

/// A resident's report with a screenshot of the demo's fake "polling station closed" notice
/// attached (`demo/media/fake-notice.png`) and a link to where it was posted (`page`), as a
/// mail client sends it.
fn screenshot_report(page: &str) -> Vec<u8> {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    let png =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/fake-notice.png"))
            .unwrap();
    lettre::Message::builder()
        .from("Sam Helper <sam.helper@example.org>".parse().unwrap())
        .to("elections@anytown.gov.uk".parse().unwrap())
        .subject("Fwd: screenshot from our street WhatsApp")
        .message_id(Some("<screenshot-report-1@example.org>".into()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!(
                    "Is this real? It was posted in our street WhatsApp group this morning, \
                     and here: {page}"
                )))
                .singlepart(
                    Attachment::new("IMG-20260507-WA0003.png".into())
                        .body(png, ContentType::parse("image/png").unwrap()),
                ),
        )
        .unwrap()
        .formatted()
}

/// A resident's report with two PDFs attached: a leaflet printed to PDF by Chromium whose
/// text claims a polling station is closed, and a file that only starts like a PDF.
fn pdf_report(ws: &Workspace) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    let html = ws.dir.path().join("leaflet.html");
    std::fs::write(
        &html,
        "<!doctype html><meta charset=utf-8><h1>Notice to voters</h1>\
         <p>URGENT: the Oakfield Primary School polling station is closed today because of \
         flooding. Go to the Civic Centre instead.</p>",
    )
    .unwrap();
    let pdf_path = ws.dir.path().join("leaflet.pdf");
    ballotwatch_evidence::chromium::Chromium::find()
        .unwrap()
        .print_to_pdf(&html, &pdf_path, std::time::Duration::from_secs(60))
        .unwrap();
    let pdf = std::fs::read(&pdf_path).unwrap();
    // Binary, so that it is sent base64-encoded, byte for byte.
    let broken = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nnot really a PDF\x00\x01\n".to_vec();
    let eml = lettre::Message::builder()
        .from("Jo Neighbour <jo.neighbour@example.org>".parse().unwrap())
        .to("elections@anytown.gov.uk".parse().unwrap())
        .subject("Leaflet through our door")
        .message_id(Some("<pdf-report-1@example.org>".into()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(
                    "This came through the door today, is it true?".to_string(),
                ))
                .singlepart(
                    Attachment::new("leaflet.pdf".into())
                        .body(pdf.clone(), ContentType::parse("application/pdf").unwrap()),
                )
                .singlepart(Attachment::new("broken.pdf".into()).body(
                    broken.clone(),
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap()
        .formatted();
    (eml, pdf, broken)
}

/// One `ingest --once` (a whole cycle, a fresh process: a restart) with the inbox password.
fn ingest_once(ws: &Workspace) -> common::Run {
    use common::dovecot::{IMAP_PASSWORD, IMAP_PASSWORD_ENV};
    common::Run::from(
        ws.cmd(&["ingest", "--once"])
            .env(IMAP_PASSWORD_ENV, IMAP_PASSWORD)
            .env("BW_TEST_SMTP_PASSWORD", common::SMTP_PASSWORD)
            .output()
            .unwrap(),
    )
}

#[test]
fn the_report_inbox_reads_forwarded_reports_from_a_real_imap_server_once_each() {
    if !common::tools::needs(&[
        Tool::Dovecot,
        Tool::Models,
        Tool::Chromium,
        Tool::Pdftotext,
        Tool::SmtpServer,
    ]) {
        return;
    }
    let started = std::time::Instant::now();
    let imap = common::dovecot::Dovecot::shared().inbox();
    // Alerts go to a real SMTP server: they must never name who reported.
    let smtp = common::SmtpServer::shared("starttls").mailbox();
    let eml = |name: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap();
    let unit_eml = |name: &str| eml(&format!("ingest/src/sources/imap/testdata/{name}"));
    // A resident forwards a WhatsApp post with a fake "polling station closed" claim; then a
    // message that is not one; then another resident's Gmail forward. Dovecot numbers them
    // UID 1, 2, 3.
    imap.deliver(
        "1000.M1.test",
        &eml("tests/fixtures/imap/whatsapp_forward.eml"),
    );
    imap.deliver("1001.M1.test", &unit_eml("malformed.eml"));
    imap.deliver("1002.M1.test", &unit_eml("gmail_forward.eml"));
    // And a screenshot of a fake council notice, forwarded as it was shared, with a link to
    // the page it was posted on (a loopback page: captured with the report) (UID 4).
    let site = common::serve_bytes(vec![(
        "/street/posts/7",
        "text/html; charset=utf-8",
        b"<html><head><title>Mill Lane street group</title></head><body><article><p>Shared \
          by a neighbour: the council notice says Riverside Community Hall is shut, so the \
          Mill Lane street group is organising lifts to the Civic Centre instead.</p>\
          </article></body></html>"
            .to_vec(),
    )]);
    let linked = format!("{site}/street/posts/7");
    imap.deliver("1003.M1.test", &screenshot_report(&linked));
    let ws = Workspace::new(&format!(
        "{}[[alerts.rule]]\nname = \"comms\"\nkinds = [\"misinformation\"]\nmin_severity = \"low\"\n\
         to = [\"comms@anytown.example\"]\nmode = \"immediate\"\n\n{}",
        smtp.config(),
        imap.source(
            "Report inbox",
            "implicit",
            "move_to = \"Processed\"\nacknowledge = { subject = \"Your report {reference}\" }"
        )
    ));
    let check = ws.run(&["check-config"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    let first = ingest_once(&ws);
    assert_eq!(
        first.code,
        0,
        "{}{}\n{}",
        first.stdout,
        first.stderr,
        imap.log()
    );
    let inbox = row(&first.stdout, "Report inbox");
    assert!(inbox.contains("  imap  "), "{inbox}");
    assert!(
        inbox.contains(&format!("  {:>5}  ", 3)),
        "three reports: {inbox}"
    );
    assert!(
        inbox.contains("ok; 2 entries left out: UID 2: not an RFC 822 message ("),
        "the malformed message is skipped, naming its UID: {inbox}"
    );
    // A linked page that cannot be fetched is named; the report is kept.
    assert!(
        inbox.contains(
            "UID 3: the linked page was not captured: could not fetch \
             https://vote-anytown.example.com/"
        ),
        "{inbox}"
    );
    // The fake claim is an item with the original poster as author, never the reporter.
    let hits = ws.search_json("\"Civic Centre\" author:\"news@riverside-residents.example.com\"");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let report = &hits[0];
    assert_eq!(report["source"]["kind"], "imap");
    assert_eq!(
        report["author"]["handle"],
        "news@riverside-residents.example.com"
    );
    assert_eq!(report["author"]["display_name"], "Riverside Residents News");
    // The original post's time (Gmail's forwarded block gives no zone: read as written), not
    // the time it was forwarded.
    assert_eq!(report["published_at"], "2026-05-07T08:30:00Z");
    let shown = report.to_string();
    assert!(
        !shown.contains("chris.voter") && !shown.contains("Chris Voter"),
        "the reporter is personal data, not part of the item: {shown}"
    );
    assert!(
        report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["detector"] == "narratives"
                && v["explanation"]
                    .as_str()
                    .is_some_and(|e| e.contains("polling-station-closed"))),
        "the narrative detector flags the claim: {report:#}"
    );
    // The Gmail forward after the malformed message is there too, its reporter left out.
    let gmail = ws.search_json("\"St Mary's Hall\"");
    assert_eq!(gmail.len(), 1, "{gmail:#?}");
    assert_eq!(gmail[0]["author"]["handle"], "updates@example.com");
    assert!(
        !gmail[0].to_string().contains("pat.resident"),
        "{:#}",
        gmail[0]
    );

    // The screenshot went through media capture and OCR: its words are judged like a post's.
    let shot = ws.search_json("\"Riverside Community Hall\" source:\"Report inbox\"");
    assert_eq!(shot.len(), 1, "{shot:#?}");
    assert!(
        shot[0]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["evidence"]["narrative"] == "polling-station-closed"
                && v["explanation"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("In text read from image 1: "))),
        "the attached screenshot is read and flagged: {:#}",
        shot[0]
    );
    // The page the message links to was captured with it: the item's `url`, its text the
    // report's too (so a flagged report's page is screenshotted like any flagged item's).
    assert_eq!(shot[0]["url"], linked.as_str(), "{:#}", shot[0]);
    assert!(
        shot[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("Linked page {linked}: "))
                && t.contains("organising lifts to the Civic Centre")),
        "{:#}",
        shot[0]
    );

    // The flagged report opened an incident.
    let id = report["id"].as_str().unwrap();
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let incidents = store
        .newest_incidents(ballotwatch_core::Severity::Low, 50)
        .unwrap();
    let incident = incidents
        .iter()
        .find(|i| {
            store
                .incident_item_ids(i.incident.id)
                .unwrap()
                .iter()
                .any(|item| item == id)
        })
        .unwrap_or_else(|| panic!("an incident holds the report {id}: {incidents:#?}"))
        .incident
        .id;
    // Who forwarded it is kept with the report, apart from the item, and the audit log names
    // the inbox, not the resident.
    let reports = store.reports_of_item(id).unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].reporter, "Chris Voter <chris.voter@example.org>");
    assert_eq!(reports[0].detail["source"], "Report inbox");
    let audit = serde_json::to_string(&store.audit_entries(500).unwrap()).unwrap();
    assert!(audit.contains("report inbox `Report inbox`"), "{audit}");
    assert!(!audit.contains("chris.voter"), "{audit}");
    drop(store);
    // Each person who sent a report (not the malformed message's sender) was acknowledged
    // once, by reference, with nothing of what they sent echoed back; and the alert emails
    // went out, none naming a reporter.
    let mails = smtp.wait_for(4, std::time::Duration::from_secs(30));
    let (acks, alerts): (Vec<_>, Vec<_>) = mails.iter().partition(|m| {
        m.header("Subject")
            .is_some_and(|s| s.starts_with("Your report R-"))
    });
    let mut acked: Vec<_> = acks.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    acked.sort();
    assert_eq!(
        acked,
        [
            "chris.voter@example.org",
            "pat.resident@example.org",
            "sam.helper@example.org"
        ],
        "{acks:#?}"
    );
    let chris = acks
        .iter()
        .find(|m| m.rcpt_tos == ["chris.voter@example.org"])
        .unwrap();
    let reference = &reports[0].reference;
    assert_eq!(
        chris.header("Subject").unwrap(),
        format!("Your report {reference}")
    );
    assert!(
        chris
            .data
            .contains(&format!("its reference is {reference}")),
        "{}",
        chris.data
    );
    assert_eq!(
        chris.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    for m in &acks {
        assert!(
            !m.data.contains("Civic Centre") && !m.data.contains("Riverside"),
            "an acknowledgement echoes the report: {}",
            m.data
        );
    }
    assert!(!alerts.is_empty(), "the flagged reports are alerted");
    for m in &alerts {
        for who in ["chris.voter", "Chris Voter", "pat.resident", "Pat Resident"] {
            assert!(
                !m.data.contains(who),
                "an alert names the reporter {who}: {}",
                m.data
            );
        }
    }
    // By default its evidence pack leaves the reporter out: the forwarded message is withheld
    // (listed with its hash) and no file of the pack names the resident.
    let raw = eml("tests/fixtures/imap/whatsapp_forward.eml");
    let default_pack = std::fs::read(ws.export_incident(incident)).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&default_pack)).unwrap();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
        assert!(!name.ends_with(".eml"), "{name}");
        assert!(
            !bytes.windows(11).any(|w| w == b"chris.voter"),
            "{name} names the reporter"
        );
        if name == "manifest.json" {
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let item = m["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["item"]["id"] == id)
                .unwrap();
            assert_eq!(
                item["withheld"][0]["sha256"],
                ballotwatch_core::sha256_hex(&raw)
            );
        }
        if name == "report.html" {
            assert!(String::from_utf8_lossy(&bytes).contains("Reporters left out."));
        }
    }
    // With --include-reporters it holds the message as the server sent it, openable as an
    // .eml file, and who sent it.
    let pack = ws.dir.path().join("with-reporters.zip");
    let r = ws.run(&[
        "export",
        "--incident",
        &incident.to_string(),
        "--include-reporters",
        "--out",
        pack.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(pack).unwrap()).unwrap();
    let mut reporters = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("reporters.json").expect("reporters.json"),
        &mut reporters,
    )
    .unwrap();
    assert!(
        reporters.contains("Chris Voter <chris.voter@example.org>"),
        "{reporters}"
    );
    let mut packed = Vec::new();
    std::io::Read::read_to_end(
        &mut zip
            .by_name(&format!(
                "captures/{}.eml",
                ballotwatch_core::sha256_hex(&raw)
            ))
            .expect("the raw message is in the pack"),
        &mut packed,
    )
    .unwrap();
    assert_eq!(packed, raw);
    // Messages move only once their items are stored: on the next poll.
    assert_eq!((imap.count("INBOX"), imap.count("Processed")), (4, 0));

    // A restart, now over STARTTLS: nothing is read twice, and what was read is moved.
    std::fs::write(
        ws.config(),
        std::fs::read_to_string(ws.config())
            .unwrap()
            .replace(
                &format!("port = {}", imap.imaps_port),
                &format!("port = {}", imap.imap_port),
            )
            .replace("tls = \"implicit\"", "tls = \"starttls\""),
    )
    .unwrap();
    let second = ingest_once(&ws);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let inbox = row(&second.stdout, "Report inbox");
    assert!(
        inbox.contains(&format!("  {:>5}  ", 0)),
        "nothing new: {inbox}"
    );
    assert!(!inbox.contains("left out"), "{inbox}");
    assert_eq!((imap.count("INBOX"), imap.count("Processed")), (0, 4));
    assert_eq!(
        smtp.messages().len(),
        mails.len(),
        "nothing read again, nothing acknowledged again"
    );
    assert_eq!(ws.search_json("\"St Mary's Hall\"").len(), 1);

    // New reports after the restart are read, once: a forward, and a leaflet sent as a PDF
    // (printed by Chromium) with a false polling-station claim in its text, plus a PDF that
    // is not one.
    imap.deliver("1004.M1.test", &unit_eml("apple_forward.eml"));
    let (pdf_eml, leaflet_pdf, broken_pdf) = pdf_report(&ws);
    imap.deliver("1005.M1.test", &pdf_eml);
    let third = ingest_once(&ws);
    assert_eq!(third.code, 0, "{}{}", third.stdout, third.stderr);
    let inbox = row(&third.stdout, "Report inbox");
    assert!(inbox.contains(&format!("  {:>5}  ", 2)), "two new: {inbox}");
    assert!(
        inbox.contains(
            "the text of the attached PDF `broken.pdf` was not read (pdftotext could not read it"
        ),
        "the broken PDF is named with the reason, the report kept: {inbox}"
    );
    assert_eq!(
        ws.search_json("author:\"info@anytown-council.example.com\"")
            .len(),
        1
    );
    let leaflet = ws.search_json("\"Oakfield Primary School\" source:\"Report inbox\"");
    assert_eq!(leaflet.len(), 1, "{leaflet:#?}");
    assert!(
        leaflet[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("[PDF leaflet.pdf]")),
        "{:#}",
        leaflet[0]
    );
    assert!(
        leaflet[0]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["evidence"]["narrative"] == "polling-station-closed"),
        "the PDF's claim is flagged: {:#}",
        leaflet[0]
    );
    assert!(
        !leaflet[0].to_string().contains("jo.neighbour"),
        "{:#}",
        leaflet[0]
    );
    // Both PDFs are kept as captures of message UID 6, byte for byte.
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let cursor = store.source_state("Report inbox").unwrap().unwrap().cursor;
    let validity = cursor.unwrap()["uid_validity"].as_u64().unwrap();
    for (n, pdf) in [(1, &leaflet_pdf), (2, &broken_pdf)] {
        let url = format!(
            "imap://127.0.0.1:{}/INBOX;UIDVALIDITY={validity}/;UID=6#attachment-{n}",
            imap.imap_port
        );
        let sha = ballotwatch_core::sha256_hex(pdf);
        assert!(
            store.media_capture_id(&url, &sha).unwrap().is_some(),
            "no capture of {url}"
        );
        assert_eq!(&store.read_blob(&sha).unwrap(), pdf);
    }
    drop(store);
    // The two new senders are acknowledged too, each once.
    let mut acked: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|s| s.starts_with("Your report R-"))
        })
        .flat_map(|m| m.rcpt_tos)
        .collect();
    acked.sort();
    assert_eq!(
        acked,
        [
            "chris.voter@example.org",
            "jo.neighbour@example.org",
            "pat.resident@example.org",
            "sam.agent@example.org",
            "sam.helper@example.org"
        ]
    );
    let (_, health) = sources_json(&ws);
    assert_eq!(health["Report inbox"]["status"], "ok");
    eprintln!(
        "report inbox end to end: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn serve_waits_in_imap_idle_and_reads_a_new_report_within_seconds() {
    if !common::tools::needs(&[Tool::Dovecot, Tool::Models]) {
        return;
    }
    use common::dovecot::{IMAP_PASSWORD, IMAP_PASSWORD_ENV};
    use std::time::{Duration, Instant};
    let started = Instant::now();
    let imap = common::dovecot::Dovecot::shared().inbox();
    // Polled every 10 minutes: only IDLE can bring the report in within seconds.
    let ws = Workspace::new(&imap.source("Report inbox", "implicit", "interval = \"10m\""));
    let mut serve =
        common::serve::Serve::start_with_env(&ws, &[(IMAP_PASSWORD_ENV, IMAP_PASSWORD)]);
    serve.wait_for_log(
        &["Report inbox", "polled", "new=0"],
        Duration::from_secs(60),
    );
    serve.wait_for_log(
        &["waiting in IDLE for new reports"],
        Duration::from_secs(30),
    );
    let delivered = Instant::now();
    imap.deliver(
        "1000.M1.test",
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imap/whatsapp_forward.eml"),
        )
        .unwrap(),
    );
    serve.wait_for_log(
        &["Report inbox", "polled", "new=1"],
        Duration::from_secs(30),
    );
    let read_after = delivered.elapsed();
    assert!(
        read_after < Duration::from_secs(10),
        "read {read_after:?} after delivery, want seconds (the poll interval is 10 minutes)"
    );
    assert!(
        serve.log_text().contains("news at the source: polling now"),
        "{}",
        serve.log_text()
    );
    // Back in IDLE, SIGTERM still stops serve promptly.
    let idles = || {
        serve
            .log_text()
            .matches("waiting in IDLE for new reports")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while idles() < 2 {
        assert!(Instant::now() < deadline, "{}", serve.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopping = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "serve did not stop while idling"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    eprintln!(
        "IMAP IDLE: report read {:.2}s after delivery; serve stopped in {:.2}s; test {:.1}s",
        read_after.as_secs_f64(),
        stopping.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_report_inbox_logs_in_with_xoauth2_and_a_client_credentials_token() {
    if !common::tools::needs(&[Tool::Dovecot, Tool::Models]) {
        return;
    }
    use axum::routing::post;
    /// The forms the token endpoint and the introspection endpoint were sent.
    type Seen = Arc<Mutex<Vec<(&'static str, String)>>>;
    let seen: Seen = Arc::default();
    // Microsoft's token endpoint and the identity provider's introspection, in one server.
    let app = Router::new()
        .route(
            "/tenant/oauth2/v2.0/token",
            post(|State(seen): State<Seen>, body: String| async move {
                seen.lock().unwrap().push(("token", body));
                json(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"at-report-inbox-1"}"#.into())
            }),
        )
        .route(
            "/introspect",
            post(|State(seen): State<Seen>, body: String| async move {
                // Dovecot also sends its own (here empty) client_id and client_secret.
                let active = body.split('&').any(|p| p == "token=at-report-inbox-1");
                seen.lock().unwrap().push(("introspect", body));
                json(if active {
                    r#"{"active":true,"username":"reports"}"#.into()
                } else {
                    r#"{"active":false}"#.into()
                })
            }),
        )
        .with_state(seen.clone());
    let idp = common::serve_router(app);
    let server = common::dovecot::Dovecot::start_with_oauth2(&format!("http://{idp}/introspect"));
    let imap = server.inbox_of(common::dovecot::IMAP_USER);
    imap.deliver(
        "1000.M1.test",
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imap/whatsapp_forward.eml"),
        )
        .unwrap(),
    );
    let ws = Workspace::new(&imap.source_with(
        "Report inbox",
        "implicit",
        &format!(
            "token_url = \"http://{idp}/tenant/oauth2/v2.0/token\"\nclient_id = \"ballotwatch-app\"\n\
             client_secret_env = \"BW_TEST_IMAP_CLIENT_SECRET\"\n\
             scope = \"https://outlook.office365.com/.default\""
        ),
    ));
    let run = common::Run::from(
        ws.cmd(&["ingest", "--once"])
            .env("BW_TEST_IMAP_CLIENT_SECRET", "client-secret-1")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}{}\n{}", run.stdout, run.stderr, imap.log());
    let inbox = row(&run.stdout, "Report inbox");
    assert!(
        inbox.contains(&format!("  {:>5}  ", 1)),
        "{inbox}\n{}",
        imap.log()
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.first(),
        Some(&(
            "token",
            "grant_type=client_credentials&client_id=ballotwatch-app&client_secret=client-secret-1\
             &scope=https%3A%2F%2Foutlook.office365.com%2F.default"
                .to_string()
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(to, form)| *to == "introspect"
            && form.split('&').any(|p| p == "token=at-report-inbox-1")),
        "Dovecot checked the token the source got: {seen:?}"
    );
    assert!(
        imap.log().contains("method=XOAUTH2"),
        "logged in with XOAUTH2:\n{}",
        imap.log()
    );
}
