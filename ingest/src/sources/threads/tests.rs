//! Threads posts → items, and polling a real HTTP server serving recorded answers: paging with
//! `after`, resuming from `since` without repeats, refused and revoked tokens, rate limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const SEARCH: &str = include_str!("testdata/keyword-search.json");
const SEARCH2: &str = include_str!("testdata/keyword-search-page2.json");
const PROFILE: &str = include_str!("testdata/profile-posts.json");
const EXPIRED: &str = include_str!("testdata/error-expired-token.json");
const REVOKED: &str = include_str!("testdata/error-revoked-token.json");
const LIMITED: &str = include_str!("testdata/error-rate-limit.json");
const PERMISSION: &str = include_str!("testdata/error-permission.json");

const TOKEN_VAR: &str = "BALLOTWATCH_TEST_THREADS_TOKEN";
const TOKEN: &str = "THQWJtest-access-token";
const AFTER: &str = "QVFIUmVYaWZAYcXhPVF9mLTlzc0ZAoUmRfRUtVMFhtYlh5SkpB";

fn source(base: &str, extra: &str) -> ThreadsSource {
    std::env::set_var(TOKEN_VAR, TOKEN);
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Threads\"\nkind = \"threads\"\nbase_url = \"{base}\"\ntoken_env = \"{TOKEN_VAR}\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Threads(c) => ThreadsSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn posts_become_items_with_their_media_and_link() {
    let page: Page = serde_json::from_str(SEARCH).unwrap();
    let items: Vec<Item> = page
        .data
        .iter()
        .filter_map(|p| {
            let at = p.timestamp.as_deref().and_then(parse_time);
            normalise_post("Threads", p, at, &watch())
        })
        .collect();
    // The bare repost shows nothing and is not an item.
    assert_eq!(items.len(), 4);

    let fake = &items[0];
    assert_eq!(fake.source.kind, "threads");
    assert_eq!(
        fake.id,
        Item::derive_id("Threads", "threads:18052233445566771")
    );
    assert_eq!(
        fake.url.as_deref(),
        Some("https://www.threads.net/@anytown.elections.info/post/DAbCdEfGhIj")
    );
    let author = fake.author.as_ref().unwrap();
    assert_eq!(author.handle.as_deref(), Some("@anytown.elections.info"));
    assert_eq!(author.platform.as_deref(), Some("threads"));
    assert_eq!(fake.links, vec!["https://anytown-vote-online.com/ballot"]);
    assert_eq!(
        fake.published_at.unwrap().to_rfc3339(),
        "2026-05-07T08:20:05+00:00"
    );
    assert!(fake.matched_terms.contains(&"Riverside ward".to_string()));

    assert_eq!(items[1].media.len(), 1);
    let video = &items[2];
    assert_eq!(video.media.len(), 2);
    assert_eq!(video.media[0].mime.as_deref(), Some("video/mp4"));
    let carousel = &items[3];
    assert_eq!(carousel.media.len(), 2);
}

#[test]
fn threads_times_are_read() {
    assert_eq!(
        parse_time("2026-05-07T08:20:05+0000").unwrap().to_rfc3339(),
        "2026-05-07T08:20:05+00:00"
    );
    assert_eq!(
        parse_time("2026-05-07T09:20:05+0100").unwrap().to_rfc3339(),
        "2026-05-07T08:20:05+00:00"
    );
    assert!(parse_time("yesterday").is_none());
}

#[derive(Default)]
struct Api {
    requests: Vec<HashMap<String, String>>,
    fail: Option<(StatusCode, &'static str)>,
}

type Shared = Arc<Mutex<Api>>;

async fn answer(
    State(api): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(
        headers.get(header::AUTHORIZATION).unwrap(),
        &format!("Bearer {TOKEN}")
    );
    assert!(
        !q.contains_key("access_token"),
        "the token goes in a header"
    );
    let mut api = api.lock().unwrap();
    api.requests.push(q.clone());
    if let Some((status, body)) = api.fail {
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let body = match uri.path() {
        "/v1.0/keyword_search" => {
            assert_eq!(q["search_type"], "RECENT");
            assert!(q["fields"].contains("permalink"));
            match (q.get("after"), q.get("since")) {
                (Some(a), _) => {
                    assert_eq!(a, AFTER);
                    SEARCH2
                }
                // Asked again from the newest second: Threads answers the posts of that second.
                (None, Some(s)) if s == "1778142005" => SEARCH_NEWEST_SECOND,
                _ => SEARCH,
            }
        }
        "/v1.0/profile_posts" => {
            assert_eq!(q["username"], "anytowncouncil");
            PROFILE
        }
        other => panic!("unexpected request {other}"),
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The two posts of the newest second of `keyword-search.json`, as Threads answers
/// `since=<that second>`.
const SEARCH_NEWEST_SECOND: &str = r#"{"data":[
 {"id":"18052233445566771","text":"Anytown council says Riverside ward polling station is CLOSED today because of a gas leak. Vote online instead.","media_type":"TEXT_POST","timestamp":"2026-05-07T08:20:05+0000","username":"anytown.elections.info"},
 {"id":"18052233445566770","text":"Queue already out the door at St Mary's polling station #Anytown","media_type":"TEXT_POST","timestamp":"2026-05-07T08:20:05+0000","username":"riverside.resident"}
],"paging":{"cursors":{"before":"b","after":"a"}}}"#;

async fn api_server(api: Shared) -> String {
    serve(Router::new().fallback(get(answer)).with_state(api)).await
}

#[tokio::test]
async fn polls_resume_from_since_without_repeats() {
    let api: Shared = Arc::default();
    let base = api_server(api.clone()).await;
    let src = source(
        &base,
        "queries = [\"Anytown\"]\naccounts = [\"@anytowncouncil\"]",
    );
    let ctx = test_ctx();

    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    // The search's newest page (4 items) and the profile's (1).
    assert_eq!(first.items.len(), 5);
    let state: ThreadsState = serde_json::from_value(first.state.clone().unwrap()).unwrap();
    let feed = &state.queries["Anytown"];
    assert_eq!(feed.since, Some(1_778_142_005));
    let mut seen = feed.seen.clone();
    seen.sort();
    assert_eq!(seen, vec!["18052233445566770", "18052233445566771"]);

    // Asked again from that second, the posts already read are left out.
    let again = src
        .poll(
            &ctx,
            &Cursor {
                state: first.state.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    let search_items = again
        .items
        .iter()
        .filter(|(_, i)| {
            i.author.as_ref().and_then(|a| a.handle.as_deref()) != Some("@anytowncouncil")
        })
        .count();
    assert_eq!(search_items, 0, "{:?}", again.items);

    // From an older cursor, the pages are followed to the end.
    let older = Cursor {
        state: Some(serde_json::json!({"queries": {"Anytown": {"since": 1_778_000_000}}})),
        ..Cursor::default()
    };
    let burst = src.poll(&ctx, &older).await.unwrap();
    let afters = api
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|q| q.contains_key("after"))
        .count();
    assert_eq!(afters, 1);
    // 4 from the first page, 1 from the second, 1 from the profile.
    assert_eq!(burst.items.len(), 6);
    let state: ThreadsState = serde_json::from_value(burst.state.unwrap()).unwrap();
    assert_eq!(state.queries["Anytown"].since, Some(1_778_142_005));
    assert!(state.queries["Anytown"].resume.is_none());
}

#[tokio::test]
async fn refused_tokens_say_what_to_do_and_rate_limits_wait() {
    let api: Shared = Arc::default();
    let base = api_server(api.clone()).await;
    let src = source(&base, "queries = [\"Anytown\"]");
    let ctx = test_ctx();

    for body in [EXPIRED, REVOKED] {
        api.lock().unwrap().fail = Some((StatusCode::BAD_REQUEST, body));
        let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SourceError::Setup { .. }), "{err:?}");
        assert!(
            msg.contains(TOKEN_VAR)
                && msg.contains("code 190")
                && msg.contains("expired, been revoked"),
            "{msg}"
        );
        assert!(!msg.contains(TOKEN), "{msg}");
    }

    api.lock().unwrap().fail = Some((StatusCode::FORBIDDEN, PERMISSION));
    let msg = src
        .poll(&ctx, &Cursor::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("threads_keyword_search"), "{msg}");

    api.lock().unwrap().fail = Some((StatusCode::BAD_REQUEST, LIMITED));
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
}

proptest::proptest! {
    #[test]
    fn reading_times_and_posts_never_panics(ts in "\\PC{0,40}", text in "\\PC{0,200}", kind in "\\PC{0,12}") {
        let _ = parse_time(&ts);
        let post = Post {
            id: "1".into(),
            text: Some(text),
            media_type: Some(kind),
            media_url: Some("https://example.com/a.jpg".into()),
            thumbnail_url: None,
            permalink: Some(ts.clone()),
            timestamp: Some(ts),
            username: None,
            link_attachment_url: None,
            children: None,
        };
        let _ = normalise_post("Threads", &post, None, &watch());
    }
}
