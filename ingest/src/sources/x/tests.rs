//! X posts → items, and polling a real HTTP server serving recorded answers: paging with
//! `since_id` and `next_token`, resuming a burst, unknown accounts, refusals and rate limits.

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

const SEARCH: &str = include_str!("testdata/search-recent.json");
const SEARCH2: &str = include_str!("testdata/search-page2.json");
const LOOKUP: &str = include_str!("testdata/user-lookup.json");
const NOT_FOUND: &str = include_str!("testdata/user-not-found.json");
const USER_TWEETS: &str = include_str!("testdata/user-tweets.json");
const E401: &str = include_str!("testdata/error-401.json");
const E403: &str = include_str!("testdata/error-403.json");
const E429: &str = include_str!("testdata/error-429.json");

const TOKEN_VAR: &str = "BALLOTWATCH_TEST_X_TOKEN";
const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAtest-bearer";

fn source(base: &str, extra: &str) -> XSource {
    std::env::set_var(TOKEN_VAR, TOKEN);
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"X\"\nkind = \"x\"\nbase_url = \"{base}\"\ntoken_env = \"{TOKEN_VAR}\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::X(c) => XSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

fn items_of(json: &str) -> Vec<Item> {
    let page: Page = serde_json::from_str(json).unwrap();
    page.data
        .iter()
        .filter_map(|t| normalise_tweet("X", t, &page.includes, &watch()))
        .collect()
}

#[test]
fn posts_become_items_with_reposts_resolved_links_expanded_and_media() {
    let items = items_of(SEARCH);
    assert_eq!(items.len(), 3);

    // The repost is the original post, by its author, whoever reposted it.
    let fake = &items[0];
    assert_eq!(fake.source.kind, "x");
    assert_eq!(
        fake.id,
        Item::derive_id("X", "https://x.com/i/web/status/1859250000000000001")
    );
    assert_eq!(
        fake.url.as_deref(),
        Some("https://x.com/AnytownElecti0ns/status/1859250000000000001")
    );
    let author = fake.author.as_ref().unwrap();
    assert_eq!(author.handle.as_deref(), Some("@AnytownElecti0ns"));
    assert_eq!(
        author.display_name.as_deref(),
        Some("Anytown Borough Council Elections")
    );
    assert_eq!(author.platform.as_deref(), Some("x"));
    assert_eq!(
        author.bio.as_deref(),
        Some("Official updates for Anytown voters")
    );
    // What X says about the account, for the impersonation detector.
    assert_eq!(author.verified, Some(false));
    assert_eq!(author.followers, Some(12));
    assert_eq!(
        author.created_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-05-01T19:02:11+00:00")
    );
    // `&amp;` is unescaped, the t.co link is the address it stands for, the photo's own
    // link is gone from the text.
    assert_eq!(
        fake.text.as_deref(),
        Some("URGENT: Riverside ward polling station has moved. You can now vote by text & skip the queue: https://anytown-gov.uk/vote-by-text")
    );
    assert_eq!(fake.links, vec!["https://anytown-gov.uk/vote-by-text"]);
    assert_eq!(fake.media.len(), 1);
    assert_eq!(
        fake.media[0].url.as_deref(),
        Some("https://pbs.twimg.com/media/GbAnytownNotice.jpg")
    );
    assert_eq!(
        fake.published_at.unwrap().to_rfc3339(),
        "2026-05-07T07:58:30+00:00"
    );
    assert!(fake.matched_terms.contains(&"Riverside ward".to_string()));

    // A long post: the full text, both links expanded.
    let long = &items[1];
    let text = long.text.as_deref().unwrap();
    assert!(text.ends_with("polls are open 7am to 10pm."), "{text}");
    assert!(text.contains("https://www.gov.uk/how-to-vote/photo-id-youll-need"));
    assert_eq!(long.links.len(), 2);

    // A video: the highest-bit-rate MP4.
    let video = &items[2];
    assert_eq!(video.media.len(), 1);
    assert!(video.media[0]
        .url
        .as_deref()
        .unwrap()
        .contains("queue-high.mp4"));
    assert_eq!(video.media[0].mime.as_deref(), Some("video/mp4"));
    assert_eq!(
        video.text.as_deref(),
        Some("Queues at Riverside ward this morning")
    );
}

#[test]
fn only_x_short_links_are_replaced() {
    let page: Page = serde_json::from_str(
        r#"{"data":[{"id":"1","text":"a b a","author_id":"9","entities":{"urls":[{"url":"a","expanded_url":"https://evil.example/"}]}}]}"#,
    )
    .unwrap();
    let item = normalise_tweet("X", &page.data[0], &page.includes, &watch()).unwrap();
    assert_eq!(item.text.as_deref(), Some("a b a"));
    assert!(item.links.is_empty());
    // Without the author in the page, the post's address is the id form.
    assert_eq!(item.url.as_deref(), Some("https://x.com/i/web/status/1"));
    assert!(item.author.is_none());
}

#[derive(Default)]
struct Api {
    requests: Vec<HashMap<String, String>>,
    paths: Vec<String>,
    /// Answer the first search page with `x-rate-limit-remaining: 0`.
    spend_on_first_page: bool,
    /// Every request answers this status and body instead.
    fail: Option<(StatusCode, &'static str)>,
}

type Shared = Arc<Mutex<Api>>;

fn json(body: &'static str, headers: &[(&'static str, String)]) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    for (k, v) in headers {
        h.insert(*k, v.parse().unwrap());
    }
    (StatusCode::OK, h, body).into_response()
}

async fn answer(
    State(api): State<Shared>,
    path: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(
        headers.get(header::AUTHORIZATION).unwrap(),
        &format!("Bearer {TOKEN}")
    );
    let mut api = api.lock().unwrap();
    api.requests.push(q.clone());
    api.paths.push(path.path().to_string());
    if let Some((status, body)) = api.fail {
        let reset = (chrono::Utc::now().timestamp() + 600).to_string();
        return (
            status,
            [
                ("x-rate-limit-remaining", "0".to_string()),
                ("x-rate-limit-reset", reset),
            ],
            body,
        )
            .into_response();
    }
    match path.path() {
        "/2/tweets/search/recent" => {
            assert!(q["expansions"].contains("attachments.media_keys"));
            assert_eq!(q["max_results"], "100");
            if q.contains_key("next_token") {
                assert_eq!(
                    q["next_token"],
                    "b26v89c19zqg8o3fr5qlyyjh9y7w4ybq3ke5ddlpj3fwd"
                );
                return json(SEARCH2, &[]);
            }
            if q.get("since_id").map(String::as_str) == Some("1859250000000000004") {
                return json(r#"{"meta":{"result_count":0}}"#, &[]);
            }
            let left = if api.spend_on_first_page { "0" } else { "170" };
            json(SEARCH, &[("x-rate-limit-remaining", left.to_string())])
        }
        "/2/users/by/username/AnytownBC" => json(LOOKUP, &[]),
        "/2/users/by/username/AnytownGone" => json(NOT_FOUND, &[]),
        "/2/users/1800000000000000505/tweets" => {
            assert!(!q.contains_key("next_token"));
            json(USER_TWEETS, &[])
        }
        other => panic!("unexpected request {other}"),
    }
}

async fn api_server(api: Shared) -> String {
    serve(Router::new().fallback(get(answer)).with_state(api)).await
}

#[tokio::test]
async fn a_burst_is_read_across_polls_without_gaps_or_repeats() {
    let api: Shared = Arc::default();
    let base = api_server(api.clone()).await;
    let src = source(&base, "queries = [\"Anytown vote\"]");
    let ctx = test_ctx();

    // First poll: the newest page only; since_id = its newest id.
    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let state: XState = serde_json::from_value(first.state.clone().unwrap()).unwrap();
    let tl = &state.queries["Anytown vote"];
    assert_eq!(tl.since_id.as_deref(), Some("1859250000000000004"));
    assert!(tl.resume.is_none());

    // Nothing new: one request with since_id, no items, same cursor.
    let cursor = Cursor {
        state: first.state.clone(),
        ..Cursor::default()
    };
    let again = src.poll(&ctx, &cursor).await.unwrap();
    assert!(again.items.is_empty());
    assert_eq!(again.state, first.state);

    // A burst from an older since_id, the allowance used up after its first page: the cursor
    // keeps the old since_id and where to go on.
    api.lock().unwrap().spend_on_first_page = true;
    let older = Cursor {
        state: Some(
            serde_json::json!({"queries": {"Anytown vote": {"since_id": "1859200000000000000"}}}),
        ),
        ..Cursor::default()
    };
    let part = src.poll(&ctx, &older).await.unwrap();
    assert_eq!(part.items.len(), 3);
    let state: XState = serde_json::from_value(part.state.clone().unwrap()).unwrap();
    let tl = &state.queries["Anytown vote"];
    assert_eq!(tl.since_id.as_deref(), Some("1859200000000000000"));
    let resume = tl.resume.as_ref().unwrap();
    assert_eq!(resume.newest_id, "1859250000000000004");

    // The next poll goes on from the page token, then moves since_id to the burst's newest.
    let rest = src
        .poll(
            &ctx,
            &Cursor {
                state: part.state.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    let last = api.lock().unwrap().requests.last().cloned().unwrap();
    assert_eq!(last["since_id"], "1859200000000000000");
    let state: XState = serde_json::from_value(rest.state.unwrap()).unwrap();
    assert_eq!(
        state.queries["Anytown vote"],
        Timeline {
            since_id: Some("1859250000000000004".into()),
            resume: None
        }
    );
}

#[tokio::test]
async fn accounts_are_looked_up_once_and_unknown_ones_are_named() {
    let api: Shared = Arc::default();
    let base = api_server(api.clone()).await;
    let src = source(&base, "accounts = [\"@AnytownGone\", \"@AnytownBC\"]");
    let ctx = test_ctx();
    let poll = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(poll.items.len(), 1);
    assert_eq!(
        poll.items[0].1.links,
        vec!["https://www.anytown.gov.uk/polling-stations"]
    );
    assert_eq!(poll.dropped.len(), 1, "{:?}", poll.dropped);
    assert!(
        poll.dropped[0].contains("@AnytownGone")
            && poll.dropped[0].contains("Could not find user with username"),
        "{:?}",
        poll.dropped
    );
    let state: XState = serde_json::from_value(poll.state.clone().unwrap()).unwrap();
    assert_eq!(state.accounts["AnytownBC"].id, "1800000000000000505");
    assert!(!state.accounts.contains_key("AnytownGone"));

    // The id is kept: the next poll reads the timeline without looking the account up.
    api.lock().unwrap().paths.clear();
    src.poll(
        &ctx,
        &Cursor {
            state: poll.state,
            ..Cursor::default()
        },
    )
    .await
    .unwrap();
    let paths = api.lock().unwrap().paths.clone();
    assert!(
        !paths.iter().any(|p| p.ends_with("/AnytownBC")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn refusals_say_what_to_do_and_rate_limits_wait_for_the_reset() {
    let api: Shared = Arc::default();
    let base = api_server(api.clone()).await;
    let src = source(&base, "queries = [\"Anytown\"]");
    let ctx = test_ctx();

    api.lock().unwrap().fail = Some((StatusCode::UNAUTHORIZED, E401));
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Setup { .. }), "{err:?}");
    assert!(
        msg.contains(TOKEN_VAR) && msg.contains("revoked") && msg.contains("X says: Unauthorized"),
        "{msg}"
    );
    assert!(
        !msg.contains(TOKEN),
        "the token must never be in a message: {msg}"
    );

    api.lock().unwrap().fail = Some((StatusCode::FORBIDDEN, E403));
    let msg = src
        .poll(&ctx, &Cursor::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Client Forbidden") && msg.contains("access level"),
        "{msg}"
    );

    api.lock().unwrap().fail = Some((StatusCode::TOO_MANY_REQUESTS, E429));
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert!(err.is_transient());
    let wait = err.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_missing_token_is_a_setup_error_naming_the_variable() {
    let cfg = crate::sources::test_support::source_config(
        "name = \"X\"\nkind = \"x\"\ntoken_env = \"BALLOTWATCH_TEST_X_UNSET\"\nqueries = [\"Anytown\"]\n",
    );
    let crate::sources::SourceSettings::X(c) = &cfg.settings else {
        panic!()
    };
    let err = XSource::new("X", c)
        .poll(&test_ctx(), &Cursor::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("BALLOTWATCH_TEST_X_UNSET"),
        "{err}"
    );
}

#[test]
fn config_problems_are_named_by_key() {
    use ballotwatch_core::config::{FieldPath, Problems, Validate};
    let cfg: XConfig = toml::from_str(&format!(
        "token_env = \"not a var\"\nqueries = [\" \", \"{}\"]\naccounts = [\"@this_handle_is_too_long\"]\n",
        "x".repeat(MAX_QUERY_LEN + 1)
    ))
    .unwrap();
    let mut problems = Problems::default();
    cfg.validate(&FieldPath::root(), &mut problems);
    let text = format!("{problems:?}");
    for needle in [
        "must not be empty",
        "at most 512",
        "not a valid x handle",
        "not an environment variable",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

proptest::proptest! {
    #[test]
    fn normalising_never_panics(text in "\\PC{0,200}", url in "\\PC{0,30}", expanded in "\\PC{0,30}") {
        let tweet = Tweet {
            id: "1".into(),
            text,
            author_id: None,
            created_at: None,
            entities: Some(Entities { urls: vec![UrlEntity { url, expanded_url: Some(expanded), media_key: None }] }),
            attachments: None,
            referenced_tweets: vec![],
            note_tweet: None,
        };
        let _ = normalise_tweet("X", &tweet, &Includes::default(), &watch());
    }
}
