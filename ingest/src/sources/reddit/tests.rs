//! Reddit listings → items, and polling a real HTTP server: `after` paging back to the newest
//! post seen, the rate-limit headers, and malformed answers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const NEW: &str = include_str!("testdata/anytownuk-new.json");

fn source(base: &str, extra: &str) -> RedditSource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Reddit\"\nkind = \"reddit\"\nbase_url = \"{base}\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Reddit(c) => RedditSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn listing_posts_become_items() {
    let l: Listing = serde_json::from_str(NEW).unwrap();
    let items: Vec<Item> = l
        .data
        .children
        .iter()
        .filter_map(|t| normalise_post("Reddit", t.post()?, &watch()))
        .collect();
    assert_eq!(items.len(), 3);

    let scam = &items[0];
    assert_eq!(scam.source.kind, "reddit");
    assert_eq!(scam.id, Item::derive_id("Reddit", "t3_1kca1b2"));
    assert_eq!(
        scam.url.as_deref(),
        Some("https://www.reddit.com/r/AnytownUK/comments/1kca1b2/leaflet_says_weve_been_taken_off_the_electoral/")
    );
    assert_eq!(
        scam.title.as_deref(),
        Some("Leaflet says we've been taken off the electoral register - scam?")
    );
    let text = scam.text.as_deref().unwrap();
    assert!(
        text.contains(
            "hasn't got their poll card by Monday has been \"removed from the register\""
        ),
        "{text}"
    );
    let a = scam.author.as_ref().unwrap();
    assert_eq!(a.handle.as_deref(), Some("u/riverside_resident"));
    assert_eq!(a.platform.as_deref(), Some("reddit"));
    assert_eq!(
        a.url.as_deref(),
        Some("https://www.reddit.com/user/riverside_resident")
    );
    assert_eq!(
        scam.published_at.unwrap().to_rfc3339(),
        "2026-04-30T11:00:00+00:00"
    );
    assert!(scam.links.is_empty() && scam.media.is_empty());
    assert_eq!(scam.matched_terms, ["Riverside ward"]);

    // A link post: the link, and the preview image as media.
    let link = &items[1];
    assert_eq!(
        link.links,
        ["https://anytown.gov.uk/elections/polling-stations"]
    );
    assert_eq!(link.media.len(), 1);
    assert!(link.media[0]
        .url
        .as_deref()
        .unwrap()
        .starts_with("https://external-preview.redd.it/"));
    assert!(link.text.is_none());

    // An image post: the image itself is media.
    let image = &items[2];
    assert_eq!(
        image.media[0].url.as_deref(),
        Some("https://i.redd.it/8f3k2j1h0g9f.jpeg")
    );
    assert_eq!(image.media[0].mime.as_deref(), Some("image/jpeg"));
    assert!(image.links.is_empty());
}

#[derive(Default)]
struct Sub {
    len: Mutex<usize>,
    afters: Mutex<Vec<String>>,
    remaining: Mutex<Option<&'static str>>,
    throttle: Mutex<bool>,
    kind: Mutex<&'static str>,
}

fn t3(i: usize) -> serde_json::Value {
    serde_json::json!({"kind": "t3", "data": {
        "name": format!("t3_p{i}"), "id": format!("p{i}"), "title": format!("Anytown post {i}"),
        "selftext": "", "is_self": true, "author": "someone",
        "permalink": format!("/r/AnytownUK/comments/p{i}/post/"),
        "created_utc": 1_777_000_000.0 + i as f64 * 60.0,
    }})
}

async fn new_listing(
    State(s): State<Arc<Sub>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(q["raw_json"], "1");
    s.afters
        .lock()
        .unwrap()
        .push(q.get("after").cloned().unwrap_or_default());
    if *s.throttle.lock().unwrap() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "300")],
            "",
        )
            .into_response();
    }
    let len = *s.len.lock().unwrap();
    let start = q
        .get("after")
        .and_then(|a| a.strip_prefix("t3_p"))
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(len, |n| n - 1);
    let limit: usize = q["limit"].parse().unwrap();
    let children: Vec<_> = (1..=start).rev().take(limit).map(t3).collect();
    let last = start.saturating_sub(limit) + 1;
    let after = (last > 1).then(|| format!("t3_p{last}"));
    let kind = *s.kind.lock().unwrap();
    let body = serde_json::json!({"kind": kind, "data": {"after": after, "children": children}});
    let mut resp = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(r) = *s.remaining.lock().unwrap() {
        resp.headers_mut()
            .insert("x-ratelimit-remaining", r.parse().unwrap());
    }
    resp
}

#[tokio::test]
async fn new_listings_page_with_after_and_honour_rate_limits() {
    let s = Arc::new(Sub::default());
    *s.len.lock().unwrap() = 120;
    *s.kind.lock().unwrap() = "Listing";
    let base = serve(
        Router::new()
            .route("/r/AnytownUK/new.json", get(new_listing))
            .with_state(s.clone()),
    )
    .await;
    let src = source(&base, "subreddits = [\"r/AnytownUK\"]");
    let ctx = test_ctx();

    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 100);
    let mut seen: HashSet<String> = first.items.iter().map(|(_, i)| i.id.clone()).collect();

    *s.len.lock().unwrap() = 330;
    let second = src
        .poll(
            &ctx,
            &Cursor {
                state: first.state.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(*s.afters.lock().unwrap(), ["", "", "t3_p231", "t3_p131"]);
    let new: Vec<_> = second
        .items
        .iter()
        .filter(|(_, i)| seen.insert(i.id.clone()))
        .collect();
    assert_eq!(new.len(), 210, "posts 121..=330");
    assert_eq!(
        second.items.len(),
        211,
        "and post 120 at the mark, which the store drops"
    );
    let expected: HashSet<String> = (21..=330)
        .map(|i| Item::derive_id("Reddit", &format!("t3_p{i}")))
        .collect();
    assert_eq!(seen, expected);

    // When the allowance is spent, paging stops after the page in hand.
    *s.len.lock().unwrap() = 600;
    *s.remaining.lock().unwrap() = Some("0.0");
    s.afters.lock().unwrap().clear();
    let third = src
        .poll(
            &ctx,
            &Cursor {
                state: second.state.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(*s.afters.lock().unwrap(), [""]);
    assert_eq!(third.items.len(), 100);

    // 429 with Retry-After fails the poll with that wait.
    *s.throttle.lock().unwrap() = true;
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(300)));
    assert!(
        err.to_string()
            .contains("/r/AnytownUK/new.json?limit=100&raw_json=1 answered HTTP 429"),
        "{err}"
    );

    // Something that is not a Listing names source and URL.
    *s.throttle.lock().unwrap() = false;
    *s.kind.lock().unwrap() = "t5";
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("source `Reddit`: {base}/r/AnytownUK/new.json?limit=100&raw_json=1 is not a valid Reddit listing: its `kind` is `t5`, not `Listing`")
    );
}

#[tokio::test]
async fn searches_use_sort_new() {
    let app = Router::new().route(
        "/search.json",
        get(|Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(
                (q["q"].as_str(), q["sort"].as_str(), q["type"].as_str()),
                ("Anytown election", "new", "link")
            );
            ([(header::CONTENT_TYPE, "application/json")], NEW)
        }),
    );
    let base = serve(app).await;
    let src = source(&base, "queries = [\"Anytown election\"]");
    let poll = src.poll(&test_ctx(), &Cursor::default()).await.unwrap();
    assert_eq!(poll.items.len(), 3);
    let state: RedditState = serde_json::from_value(poll.state.unwrap()).unwrap();
    assert_eq!(state.listings["search:Anytown election"], 1777546800.0);
}

proptest::proptest! {
    #[test]
    fn any_post_object_normalises_or_is_skipped(
        title in proptest::option::of("\\PC{0,40}"),
        selftext in proptest::option::of("\\PC{0,80}"),
        html in proptest::option::of("\\PC{0,80}"),
        url in proptest::option::of("\\PC{0,40}"),
        permalink in proptest::option::of("\\PC{0,40}"),
        created in proptest::num::f64::ANY,
    ) {
        let data = serde_json::json!({
            "name": "t3_x", "title": title, "selftext": selftext, "selftext_html": html,
            "url": url, "permalink": permalink, "created_utc": created, "is_self": false,
        });
        if let Some(item) = normalise_post("Reddit", &data, &watch()) {
            proptest::prop_assert_eq!(item.id, Item::derive_id("Reddit", "t3_x"));
            proptest::prop_assert!(item.links.iter().all(|l| l.starts_with("http")));
        }
    }
}

/// The fuzz target's way in reads a saved answer as a poll does, and names the URL when the
/// answer is not a listing.
#[test]
fn parse_answer_reads_a_listing_and_names_the_url_of_anything_else() {
    let url = Url::parse("https://www.reddit.example/r/anytownuk/new.json").unwrap();
    let items = parse_answer("Reddit", &url, NEW.as_bytes(), &watch()).unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i.source.kind == "reddit"));
    let err = parse_answer("Reddit", &url, br#"{"kind": "t3", "data": {}}"#, &watch())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not `Listing`") && err.contains("reddit.example"),
        "{err}"
    );
}
