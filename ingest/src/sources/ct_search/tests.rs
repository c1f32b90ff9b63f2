//! The crt.sh-style answer read from a recorded-format fixture, and polling a search service
//! served on 127.0.0.1: first poll at the head, lookalikes only, one item per certificate,
//! back-fill, rate limits and malformed answers.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::*;
use crate::sources::test_support::{serve, source_config, test_ctx};
use crate::sources::HostFilter;

fn fixture() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/sources/ct_search/testdata/crtsh.json"),
    )
    .unwrap()
}

/// In place of the domain detector: a name with "anytown" in it that is not the council's.
fn ctx() -> PollContext {
    PollContext {
        lookalikes: Some(HostFilter::new(|h| {
            h.contains("anytown") && h != "anytown.gov.uk" && !h.ends_with(".anytown.gov.uk")
        })),
        ..test_ctx()
    }
}

#[derive(Default)]
struct Served {
    rows: Vec<serde_json::Value>,
    queries: Vec<String>,
    status: Option<StatusCode>,
    body: Option<&'static str>,
}

type Shared = Arc<Mutex<Served>>;

async fn search(
    State(s): State<Shared>,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let mut s = s.lock().unwrap();
    s.queries.push(uri.query().unwrap_or_default().to_string());
    if let Some(status) = s.status {
        return (status, [("retry-after", "120")], "busy").into_response();
    }
    if let Some(body) = s.body {
        return body.into_response();
    }
    let label = q["q"].trim_matches('%').to_string();
    let rows: Vec<_> = s
        .rows
        .iter()
        .filter(|r| r["name_value"].as_str().unwrap().contains(&label))
        .cloned()
        .collect();
    Json(rows).into_response()
}

async fn serve_search(rows: Vec<serde_json::Value>) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(Served {
        rows,
        ..Served::default()
    }));
    let app = Router::new()
        .route("/", get(search))
        .with_state(shared.clone());
    (serve(app).await, shared)
}

fn source(url: &str, extra: &str) -> CtSearchSource {
    let cfg = source_config(&format!(
        "name = \"CT search\"\nkind = \"ct_search\"\nurl = \"{url}/\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::CtSearch(c) => CtSearchSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

fn cursor(poll: &Poll) -> Cursor {
    Cursor {
        state: poll.state.clone(),
        ..Cursor::default()
    }
}

fn fixture_rows() -> Vec<serde_json::Value> {
    serde_json::from_slice(&fixture()).unwrap()
}

#[test]
fn the_recorded_answer_reads() {
    let rows = parse_answer(&fixture()).unwrap();
    assert_eq!(rows.len(), 5);
    let r = &rows[0];
    assert_eq!(r.id, 15_841_266_810);
    assert_eq!(r.issuer_ca_id, Some(295_815));
    assert_eq!(r.result_count, Some(5));
    let base = Url::parse("https://crt.sh/").unwrap();
    let keep = |h: &str| h.contains("anytown") && !h.ends_with("anytown.gov.uk");
    let found = row_found(r, &base, &keep).unwrap();
    assert_eq!(found.matched, ["anytown-gov.uk", "www.anytown-gov.uk"]);
    assert_eq!(found.lookup, "https://crt.sh/?id=15841266810");
    assert_eq!(found.entry.cert.issuer, "C=US, O=Let's Encrypt, CN=R11");
    assert_eq!(
        found.entry.logged_at.unwrap().to_rfc3339(),
        "2026-12-05T21:04:13.371+00:00"
    );
    assert_eq!(
        found.entry.cert.not_after.unwrap().to_rfc3339(),
        "2027-03-05T20:05:41+00:00"
    );
    // A wildcard name is read without its `*.`.
    assert_eq!(
        row_found(&rows[3], &base, &keep).unwrap().entry.cert.names,
        ["anytown-postal-vote.co.uk"]
    );
    // The council's own certificates are not kept.
    assert!(row_found(&rows[2], &base, &keep).is_none());
    assert!(row_found(&rows[4], &base, &keep).is_none());
}

#[test]
fn malformed_answers_say_where() {
    let e = parse_answer(br#"[{"id": 1}, {"id": "x"}]"#).unwrap_err();
    assert!(e.contains("[1].id"), "{e}");
    assert!(parse_answer(b"{}").is_err());
    assert!(parse_answer(b"[]").unwrap().is_empty());
}

#[tokio::test]
async fn the_first_poll_starts_at_the_head_then_new_lookalikes_become_items() {
    let rows = fixture_rows();
    // The service knows the three oldest rows at first.
    let (url, served) = serve_search(rows[2..].to_vec()).await;
    let src = source(&url, "labels = [\"anytown\"]");
    let first = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    assert!(first.items.is_empty(), "nothing older than the first poll");
    assert_eq!(
        served.lock().unwrap().queries,
        ["q=%25anytown%25&output=json&exclude=expired"]
    );
    // A lookalike certificate and its precertificate are logged.
    served.lock().unwrap().rows = rows.clone();
    let second = src.poll(&ctx(), &cursor(&first)).await.unwrap();
    assert!(second.dropped.is_empty(), "{:?}", second.dropped);
    assert_eq!(
        second.items.len(),
        1,
        "precertificate and certificate: one item"
    );
    let (capture, item) = &second.items[0];
    assert_eq!(item.source.kind, "ct_search");
    assert_eq!(
        item.title.as_deref(),
        Some("TLS certificate or precertificate for anytown-gov.uk")
    );
    assert_eq!(
        item.url.as_deref(),
        Some(format!("{url}/?id=15841266810").as_str())
    );
    let text = item.text.as_deref().unwrap();
    assert!(
        text.contains("Lookalike names: anytown-gov.uk, www.anytown-gov.uk"),
        "{text}"
    );
    assert!(
        text.contains("Issuer: C=US, O=Let's Encrypt, CN=R11"),
        "{text}"
    );
    assert!(
        text.contains("Serial: 04d1a38f0b6e2c9a7f5e31b0c2d46e8a9b17"),
        "{text}"
    );
    assert!(
        text.contains("found through 127.0.0.1, certificate id 15841266810"),
        "{text}"
    );
    // The answer is the capture.
    let (c, body) = &second.captures[*capture];
    assert!(c.url.contains("q=%25anytown%25"), "{}", c.url);
    assert_eq!(parse_answer(body).unwrap().len(), 5);
    // Nothing new: nothing twice.
    let third = src.poll(&ctx(), &cursor(&second)).await.unwrap();
    assert!(third.items.is_empty());
}

#[tokio::test]
async fn backfill_keeps_what_was_logged_inside_the_window() {
    let now = Utc::now();
    let at = |days: i64| {
        (now - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%S%.3f")
            .to_string()
    };
    let row = |id: u64, name: &str, days: i64| {
        serde_json::json!({
            "issuer_ca_id": 1, "issuer_name": "C=US, O=Test CA, CN=T1", "common_name": name,
            "name_value": name, "id": id, "entry_timestamp": at(days),
            "not_before": at(days), "not_after": at(days - 90),
            "serial_number": format!("{id:x}"), "result_count": 2,
        })
    };
    let (url, _) = serve_search(vec![
        row(2, "anytown-new.com", 2),
        row(1, "anytown-old.com", 20),
    ])
    .await;
    let src = source(
        &url,
        "labels = [\"anytown\"]\nbackfill = \"7d\"\nexclude_expired = false",
    );
    let poll = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    let titles: Vec<_> = poll
        .items
        .iter()
        .map(|(_, i)| i.title.clone().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["TLS certificate or precertificate for anytown-new.com"]
    );
}

#[tokio::test]
async fn a_rate_limit_is_kept_and_the_service_not_asked_again_before_then() {
    let (url, served) = serve_search(fixture_rows()).await;
    served.lock().unwrap().status = Some(StatusCode::TOO_MANY_REQUESTS);
    let src = source(&url, "labels = [\"anytown\", \"anytown-council\"]");
    let e = src.poll(&ctx(), &Cursor::default()).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("429"), "{e}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(120)));
    assert_eq!(
        served.lock().unwrap().queries.len(),
        1,
        "the second label waits too"
    );

    // A cursor that says wait: nothing is asked.
    let waiting = Cursor {
        state: Some(serde_json::json!({
            "seen": { "anytown": 1 },
            "wait_until": (Utc::now() + chrono::Duration::minutes(2)).to_rfc3339(),
        })),
        ..Cursor::default()
    };
    served.lock().unwrap().status = None;
    let poll = src.poll(&ctx(), &waiting).await.unwrap();
    assert!(poll.items.is_empty());
    assert_eq!(served.lock().unwrap().queries.len(), 1);
    // Once the time is past, it asks again and keeps its cursor.
    let poll = src
        .poll(
            &ctx(),
            &Cursor {
                state: Some(serde_json::json!({ "seen": { "anytown": 1, "anytown-council": 1 } })),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(poll.items.len(), 2, "{:?}", poll.dropped);
}

#[tokio::test]
async fn a_malformed_answer_is_an_error_naming_the_url() {
    let (url, served) = serve_search(Vec::new()).await;
    served.lock().unwrap().body = Some("<html>502 Bad Gateway</html>");
    let src = source(&url, "labels = [\"anytown\"]");
    let e = src.poll(&ctx(), &Cursor::default()).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("is not a valid CT search answer"), "{msg}");
    assert!(msg.contains("q=%25anytown%25"), "{msg}");
}

#[test]
fn config_problems_name_the_key() {
    let read = crate::sources::test_support::config_problems;
    let p = read("name = \"S\"\nkind = \"ct_search\"\nurl = \"https://crt.sh/\"\n");
    assert!(p.contains("needs at least one label"), "{p}");
    let p = read(
        "name = \"S\"\nkind = \"ct_search\"\nurl = \"https://crt.sh/\"\nlabels = [\"Any Town\", \"ab\"]\n",
    );
    assert!(p.contains("`Any Town` is not a domain label"), "{p}");
    assert!(p.contains("`ab` is not a domain label"), "{p}");
    let p = read("name = \"S\"\nkind = \"ct_search\"\nlabels = [\"anytown\"]\n");
    assert!(p.contains("url"), "{p}");
}

proptest::proptest! {
    #[test]
    fn the_answer_reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..800)) {
        let base = Url::parse("https://crt.sh/").unwrap();
        if let Ok(rows) = parse_answer(&bytes) {
            for r in &rows {
                if let Some(f) = row_found(r, &base, &|_| true) {
                    let _ = search_item("S", &base, r, &f);
                }
            }
        }
    }

    #[test]
    fn any_row_fields_read(name in "\\PC{0,80}", when in "\\PC{0,40}", serial in "\\PC{0,40}") {
        let base = Url::parse("https://crt.sh/").unwrap();
        let row = Row {
            id: 7,
            issuer_ca_id: None,
            issuer_name: Some(name.clone()),
            common_name: Some(name.clone()),
            name_value: Some(format!("{name}\nanytown-{name}.com")),
            entry_timestamp: Some(when.clone()),
            not_before: Some(when),
            not_after: None,
            serial_number: Some(serial),
            result_count: None,
        };
        if let Some(f) = row_found(&row, &base, &|_| true) {
            let item = search_item("S", &base, &row, &f);
            proptest::prop_assert_eq!(item.source.kind.as_str(), "ct_search");
        }
    }
}
