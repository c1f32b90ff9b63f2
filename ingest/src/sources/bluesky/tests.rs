//! Bluesky post views → items, and polling a real HTTP server: cursor paging back to the last
//! post seen, resume, and malformed answers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const SEARCH: &str = include_str!("testdata/search-posts.json");
const FEED: &str = include_str!("testdata/author-feed.json");

fn source(base: &str, extra: &str) -> BlueskySource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Bluesky\"\nkind = \"bluesky\"\nappview = \"{base}\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Bluesky(c) => BlueskySource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

fn listing(body: &str) -> Listing {
    serde_json::from_str(body).unwrap()
}

#[test]
fn search_results_become_items_with_handles_dids_media_and_links() {
    let l = listing(SEARCH);
    let items: Vec<Item> = l
        .entries()
        .iter()
        .filter_map(|(_, p)| normalise_post("Bluesky", p, &watch()))
        .collect();
    assert_eq!(items.len(), 3);

    let fake = &items[0];
    assert_eq!(fake.source.kind, "bluesky");
    assert_eq!(
        fake.id,
        Item::derive_id(
            "Bluesky",
            "at://did:plc:k7x2m4q9r3t8v5w1y6z0abcd/app.bsky.feed.post/3lnv7pqx2ks2c"
        )
    );
    assert_eq!(
        fake.url.as_deref(),
        Some("https://bsky.app/profile/anytown-elections.bsky.social/post/3lnv7pqx2ks2c")
    );
    let a = fake.author.as_ref().unwrap();
    assert_eq!(a.handle.as_deref(), Some("anytown-elections.bsky.social"));
    assert_eq!(
        a.display_name.as_deref(),
        Some("Anytown Council Elections Team")
    );
    assert_eq!(a.platform.as_deref(), Some("bluesky"));
    assert_eq!(
        a.url.as_deref(),
        Some("https://bsky.app/profile/did:plc:k7x2m4q9r3t8v5w1y6z0abcd")
    );
    assert_eq!(fake.links, ["https://anytown-elections.uk/stations"]);
    assert_eq!(fake.media.len(), 1);
    assert!(fake.media[0]
        .url
        .as_deref()
        .unwrap()
        .contains("feed_fullsize"));
    assert_eq!(fake.media[0].mime.as_deref(), Some("image/jpeg"));
    assert_eq!(
        fake.published_at.unwrap().to_rfc3339(),
        "2026-04-30T10:12:00+00:00"
    );
    assert_eq!(
        fake.matched_terms,
        ["Anytown", "Riverside ward", "polling station"]
    );

    // An external embed is a link, not media.
    let council = &items[1];
    assert_eq!(
        council.links,
        ["https://anytown.gov.uk/elections/polling-stations"]
    );
    assert!(council.media.is_empty());

    // An unverified handle: the DID stands in for it in the post URL.
    let resident = &items[2];
    assert_eq!(
        resident.url.as_deref(),
        Some("https://bsky.app/profile/did:plc:r2esident5anytown7abcdef/post/3lnv5abcde22x")
    );
    assert_eq!(
        resident.author.as_ref().unwrap().handle.as_deref(),
        Some("did:plc:r2esident5anytown7abcdef")
    );
}

#[test]
fn author_feeds_resolve_reposts_and_quote_media() {
    let l = listing(FEED);
    let entries = l.entries();
    // A repost is marked by when it was reposted, and is the original post.
    assert_eq!(entries[0].0.to_rfc3339(), "2026-04-30T11:00:00+00:00");
    let items: Vec<Item> = entries
        .iter()
        .filter_map(|(_, p)| normalise_post("Bluesky", p, &watch()))
        .collect();
    assert_eq!(
        items[0].author.as_ref().unwrap().handle.as_deref(),
        Some("anytown-elections.bsky.social")
    );
    assert_eq!(items[1].media.len(), 1);
    assert!(items[1].media[0]
        .url
        .as_deref()
        .unwrap()
        .ends_with("bafkreifakeflag@jpeg"));
    // The same post from search and from the feed is one item.
    let searched = normalise_post("Bluesky", listing(SEARCH).entries()[0].1, &watch()).unwrap();
    assert_eq!(items[0].id, searched.id);
}

/// Serves `searchPosts` over `len` generated posts, newest first, 100 per page; the cursor is
/// the offset.
#[derive(Default)]
struct Search {
    len: Mutex<usize>,
    cursors: Mutex<Vec<String>>,
    broken: Mutex<bool>,
}

fn post(i: usize) -> serde_json::Value {
    let at = chrono::DateTime::<Utc>::from_timestamp(1_777_000_000 + i as i64 * 60, 0).unwrap();
    serde_json::json!({
        "uri": format!("at://did:plc:resident000000000000000a/app.bsky.feed.post/3lpost{i:05}"),
        "cid": format!("bafyrei{i:05}"),
        "author": {"did": "did:plc:resident000000000000000a", "handle": "resident.bsky.social"},
        "record": {"$type": "app.bsky.feed.post", "createdAt": at.to_rfc3339(), "text": format!("Post {i} about the Anytown count")},
        "indexedAt": at.to_rfc3339(),
    })
}

async fn search(
    State(s): State<Arc<Search>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(q["q"], "Anytown count");
    assert_eq!(q["sort"], "latest");
    s.cursors
        .lock()
        .unwrap()
        .push(q.get("cursor").cloned().unwrap_or_default());
    if *s.broken.lock().unwrap() {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"posts": [{"uri": 5}]}"#,
        )
            .into_response();
    }
    let len = *s.len.lock().unwrap();
    let offset: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q["limit"].parse().unwrap();
    let posts: Vec<_> = (1..=len).rev().skip(offset).take(limit).map(post).collect();
    let next = (offset + limit < len).then(|| (offset + limit).to_string());
    let body = serde_json::json!({"cursor": next, "posts": posts});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[tokio::test]
async fn search_pages_back_to_the_last_post_seen() {
    let s = Arc::new(Search::default());
    *s.len.lock().unwrap() = 150;
    let base = serve(
        Router::new()
            .route("/xrpc/app.bsky.feed.searchPosts", get(search))
            .with_state(s.clone()),
    )
    .await;
    let src = source(&base, "queries = [\"Anytown count\"]");
    let ctx = test_ctx();

    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 100, "a first poll reads one page");
    let mut seen: HashSet<String> = first.items.iter().map(|(_, i)| i.id.clone()).collect();

    *s.len.lock().unwrap() = 400;
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
    assert_eq!(*s.cursors.lock().unwrap(), ["", "", "100", "200"]);
    assert_eq!(second.captures.len(), 3);
    let mut repeats = 0;
    for (_, item) in &second.items {
        if !seen.insert(item.id.clone()) {
            repeats += 1;
        }
    }
    // The post at the mark itself comes again (the store keeps one copy); nothing else.
    assert_eq!(repeats, 1);
    let expected: HashSet<String> = (51..=400)
        .map(|i| {
            Item::derive_id(
                "Bluesky",
                &format!("at://did:plc:resident000000000000000a/app.bsky.feed.post/3lpost{i:05}"),
            )
        })
        .collect();
    assert_eq!(seen, expected, "posts 51..=400, none missing");

    let state: BlueskyState = serde_json::from_value(second.state.clone().unwrap()).unwrap();
    assert_eq!(
        state.queries["Anytown count"],
        chrono::DateTime::<Utc>::from_timestamp(1_777_000_000 + 400 * 60, 0).unwrap()
    );

    *s.broken.lock().unwrap() = true;
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("source `Bluesky`: "), "{msg}");
    assert!(msg.contains("/xrpc/app.bsky.feed.searchPosts?q=Anytown+count&sort=latest&limit=100 is not a valid Bluesky API response: at `posts[0].uri`"), "{msg}");
}

#[tokio::test]
async fn author_feeds_are_read_per_actor() {
    let app = Router::new().route(
        "/xrpc/app.bsky.feed.getAuthorFeed",
        get(|Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(q["actor"], "anytown.gov.uk");
            ([(header::CONTENT_TYPE, "application/json")], FEED)
        }),
    );
    let base = serve(app).await;
    let src = source(&base, "actors = [\"anytown.gov.uk\"]");
    let poll = src.poll(&test_ctx(), &Cursor::default()).await.unwrap();
    assert_eq!(poll.items.len(), 3);
    let state: BlueskyState = serde_json::from_value(poll.state.unwrap()).unwrap();
    assert_eq!(
        state.actors["anytown.gov.uk"].to_rfc3339(),
        "2026-04-30T11:00:00+00:00"
    );
}

/// The fuzz target's way in reads a saved answer (search or author feed) as a poll does, and
/// names the URL when it does not decode.
#[test]
fn parse_answer_reads_search_and_feed_answers() {
    let url = Url::parse("https://public.api.bsky.example/xrpc/app.bsky.feed.searchPosts").unwrap();
    for answer in [SEARCH, FEED] {
        let items = parse_answer("Bluesky", &url, answer.as_bytes(), &watch()).unwrap();
        assert!(!items.is_empty());
        assert!(items.iter().all(|i| i.source.kind == "bluesky"));
    }
    let err = parse_answer("Bluesky", &url, b"[1, 2]", &watch())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bsky.example"), "{err}");
}
