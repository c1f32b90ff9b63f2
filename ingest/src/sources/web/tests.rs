//! Watched pages: main-text extraction, versions only on text changes, diffs, and polling a
//! real HTTP server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const V1: &str = include_str!("testdata/polling-stations-v1.html");
const V1_RELOADED: &str = include_str!("testdata/polling-stations-v1-reloaded.html");
const V2: &str = include_str!("testdata/polling-stations-v2.html");

fn page_url() -> Url {
    Url::parse("https://anytown.gov.uk/elections/polling-stations").unwrap()
}

#[test]
fn the_main_text_leaves_out_navigation_cookies_and_footer() {
    let p = extract(V1, &page_url());
    assert_eq!(
        p.title.as_deref(),
        Some("Polling stations for the 7 May 2026 elections")
    );
    assert!(
        p.text
            .contains("Polling stations are open from 7am to 10pm on Thursday 7 May 2026."),
        "{}",
        p.text
    );
    assert!(
        p.text
            .contains("Mill Lane Community Centre, Mill Lane, AN1 4RT"),
        "{}",
        p.text
    );
    for boiler in [
        "Cookie settings",
        "Bins and recycling",
        "Page generated",
        "Accessibility",
    ] {
        assert!(!p.text.contains(boiler), "{boiler} in {}", p.text);
    }
    assert!(
        p.links
            .contains(&"https://anytown.gov.uk/elections/photo-id".to_string()),
        "{:?}",
        p.links
    );
    assert!(!p.html.contains("<script"));
}

#[test]
fn the_same_text_is_no_new_version_and_a_change_is_one_with_a_diff() {
    let t = chrono::DateTime::<Utc>::from_timestamp(1_777_539_600, 0).unwrap();
    let (first, s1) = version(
        "Elections page",
        &page_url(),
        extract(V1, &page_url()),
        &WebState::default(),
        t,
        &watch(),
        &DiffLimits::default(),
    );
    let first = first.unwrap();
    assert_eq!(first.source.kind, "web");
    assert_eq!(
        first.id,
        Item::derive_id("Elections page", page_url().as_str())
    );
    assert_eq!(
        first.diff, None,
        "a first version has nothing to compare with"
    );
    assert_eq!(first.published_at, Some(t));
    assert!(first.matched_terms.contains(&"polling station".to_string()));

    // A new cookie-banner session and footer timestamp: the main text is the same.
    let (again, s2) = version(
        "Elections page",
        &page_url(),
        extract(V1_RELOADED, &page_url()),
        &s1,
        t,
        &watch(),
        &DiffLimits::default(),
    );
    assert!(again.is_none());
    assert_eq!(s2, s1);

    let (second, s3) = version(
        "Elections page",
        &page_url(),
        extract(V2, &page_url()),
        &s2,
        t,
        &watch(),
        &DiffLimits::default(),
    );
    let second = second.unwrap();
    assert_eq!(second.id, first.id, "a new version of the same item");
    let diff = second.diff.as_deref().unwrap();
    assert!(diff.starts_with("--- previous\n+++ current\n@@ "), "{diff}");
    assert!(
        diff.contains(
            "\n-Mill Lane Community Centre, Mill Lane, AN1 4RT (polling districts RA and RB)\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("\n+Riverside Methodist Church, 3 Chapel Walk, AN1 4RW"),
        "{diff}"
    );
    assert_eq!(
        diff.lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .count(),
        1,
        "{diff}"
    );
    assert_ne!(s3.text_sha256, s2.text_sha256);
}

#[test]
fn long_diffs_are_cut_on_a_character_boundary() {
    let before: String = (0..5000).map(|i| format!("line {i} é\n")).collect();
    let after: String = (0..5000).map(|i| format!("ligne {i} é\n")).collect();
    let d = text_diff(&before, &after, &DiffLimits::default());
    assert!(d.len() <= MAX_DIFF + 64);
    assert!(d.ends_with("… (diff cut at 64 KiB)\n"));
    assert_eq!(cut("ééé", 3), "é");
}

/// `n` lines, none of them in a page made with another `word`.
fn lines(word: &str, n: usize) -> String {
    (0..n).map(|i| format!("{word} {i}\n")).collect()
}

#[test]
fn a_side_longer_than_the_line_cap_is_stored_without_a_line_diff() {
    let limits = DiffLimits {
        max_lines: 20,
        timeout: None,
    };
    let d = text_diff(&lines("a", 10), &lines("b", 21), &limits);
    assert_eq!(
        d,
        "(no line diff: the previous version has 10 lines and this one 21, more than the 20 \
         compared ([limits] diff_max_lines); the whole new text is stored)\n"
    );
    // Either side: the old text is cut when kept, the new one was not capped at all.
    assert!(text_diff(&lines("a", 21), &lines("b", 3), &limits).contains("has 21 lines"));
    assert!(text_diff(&lines("a", 20), &lines("b", 20), &limits).starts_with("--- previous"));
    assert_eq!(line_count("a\nb"), 2);
    assert_eq!(line_count("a\nb\n"), 2);
    assert_eq!(line_count(""), 0);

    // The version is stored all the same, with its whole text.
    let t = chrono::DateTime::<Utc>::from_timestamp(1_777_539_600, 0).unwrap();
    let old = WebState {
        text_sha256: Some(sha256_hex(b"old")),
        text: Some(lines("a", 10)),
    };
    let page = PageText {
        text: lines("b", 5000),
        ..PageText::default()
    };
    let (item, state) = version("P", &page_url(), page, &old, t, &watch(), &limits);
    let item = item.unwrap();
    assert!(item.diff.as_deref().unwrap().starts_with("(no line diff"));
    assert_eq!(item.text.as_deref(), Some(lines("b", 5000).as_str()));
    assert_eq!(state.text.as_deref(), Some(lines("b", 5000).as_str()));
}

#[test]
fn a_diff_that_outlasts_its_deadline_is_a_sentence_and_stops_on_time() {
    let limits = DiffLimits {
        max_lines: usize::MAX,
        timeout: Some(Duration::from_millis(50)),
    };
    let (before, after) = (lines("a", 20_000), lines("b", 20_000));
    let start = Instant::now();
    let d = text_diff(&before, &after, &limits);
    let took = start.elapsed();
    assert_eq!(
        d,
        "(no line diff: comparing the previous version (20000 lines) with this one (20000 \
         lines) took longer than 50ms ([limits] diff_timeout); the whole new text is stored)\n"
    );
    // The deadline, plus reading the lines once (slow in a debug build).
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // A small change well inside the deadline is still a line diff.
    let small = lines("a", 1000);
    let changed = format!("{small}one more\n");
    let d = text_diff(&small, &changed, &DiffLimits::default());
    assert!(d.contains("\n+one more\n"), "{d}");
}

#[derive(Default)]
struct Site {
    page: Mutex<&'static str>,
    content_type: Mutex<&'static str>,
}

async fn site(State(s): State<Arc<Site>>, h: HeaderMap) -> Response {
    let body = *s.page.lock().unwrap();
    let etag = format!("\"{}\"", sha256_hex(body.as_bytes()));
    if h.get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap() == etag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let ct = *s.content_type.lock().unwrap();
    (
        [(header::CONTENT_TYPE, ct.to_string()), (header::ETAG, etag)],
        body,
    )
        .into_response()
}

#[tokio::test]
async fn polling_a_page_that_changes() {
    let s = Arc::new(Site::default());
    *s.page.lock().unwrap() = V1;
    *s.content_type.lock().unwrap() = "text/html; charset=utf-8";
    let base = serve(
        Router::new()
            .route("/elections/polling-stations", get(site))
            .with_state(s.clone()),
    )
    .await;
    let url = format!("{base}/elections/polling-stations");
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Elections page\"\nkind = \"web\"\nurl = \"{url}\"\n"
    ));
    let src = match &cfg.settings {
        crate::sources::SourceSettings::Web(c) => {
            WebSource::new(cfg.name(), c, DiffLimits::default())
        }
        other => panic!("{other:?}"),
    };
    let ctx = test_ctx();
    let next = |p: &Poll| Cursor {
        etag: p.etag.clone(),
        last_modified: p.last_modified.clone(),
        state: p.state.clone(),
    };

    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.captures.len(), 1);

    // Same bytes: a 304.
    let same = src.poll(&ctx, &next(&first)).await.unwrap();
    assert!(same.not_modified && same.items.is_empty());

    // Different bytes, same main text: captured, no item, state kept.
    *s.page.lock().unwrap() = V1_RELOADED;
    let reloaded = src.poll(&ctx, &next(&first)).await.unwrap();
    assert!(reloaded.items.is_empty());
    assert_eq!(reloaded.captures.len(), 1);
    assert_eq!(reloaded.state, first.state);

    *s.page.lock().unwrap() = V2;
    let changed = src.poll(&ctx, &next(&reloaded)).await.unwrap();
    assert_eq!(changed.items.len(), 1);
    assert!(changed.items[0]
        .1
        .diff
        .as_deref()
        .unwrap()
        .contains("+Riverside Methodist Church"));

    // Not a web page at all.
    *s.content_type.lock().unwrap() = "application/pdf";
    *s.page.lock().unwrap() = "%PDF-1.7";
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("source `Elections page`: {url} is not a valid web page: the server sent `application/pdf`, not HTML or text")
    );
}

proptest::proptest! {
    #[test]
    fn diffs_apply_back_to_the_new_text(
        before in proptest::collection::vec("[a-zé ]{0,12}", 0..20),
        after in proptest::collection::vec("[a-zé ]{0,12}", 0..20),
    ) {
        let (b, a) = (before.join("\n"), after.join("\n"));
        let d = text_diff(&b, &a, &DiffLimits::default());
        // Every line of the new text that is not in the old one shows as an addition.
        for line in a.lines().filter(|l| !b.lines().any(|o| o == *l)) {
            let added = format!("+{line}");
            proptest::prop_assert!(d.lines().any(|l| l == added), "{} missing in {}", added, d);
        }
        if b == a {
            proptest::prop_assert!(d.is_empty());
        }
    }

    #[test]
    fn extraction_never_panics(body in "\\PC{0,300}") {
        let _ = extract(&body, &page_url());
        let _ = extract(&format!("<html><body><article><p>{body}</p></article></body></html>"), &page_url());
    }
}
