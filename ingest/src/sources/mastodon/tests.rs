//! Mastodon statuses → items, and polling a real HTTP server: paging with `min_id`, resume,
//! rate limits and malformed answers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const TAG: &str = include_str!("testdata/tag-anytownvotes.json");
const LOOKUP: &str = include_str!("testdata/account-lookup.json");
const STATUSES: &str = include_str!("testdata/account-statuses.json");

fn instance() -> Url {
    Url::parse("https://social.example/").unwrap()
}

fn source(base: &str, extra: &str) -> MastodonSource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Fediverse\"\nkind = \"mastodon\"\ninstance = \"{base}\"\n{extra}\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Mastodon(c) => MastodonSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn statuses_become_items_and_boosts_resolve_to_the_original() {
    let statuses: Vec<Status> = serde_json::from_str(TAG).unwrap();
    let items: Vec<Item> = statuses
        .iter()
        .filter_map(|s| normalise_status("Fediverse", &instance(), s, &watch()))
        .collect();
    assert_eq!(items.len(), 3);

    let fake = &items[0];
    assert_eq!(fake.source.kind, "mastodon");
    assert_eq!(
        fake.id,
        Item::derive_id(
            "Fediverse",
            "https://mastodon.example/users/anytown_council_votes/statuses/112345678901234570"
        )
    );
    let author = fake.author.as_ref().unwrap();
    assert_eq!(
        author.handle.as_deref(),
        Some("@anytown_council_votes@mastodon.example")
    );
    assert_eq!(
        author.display_name.as_deref(),
        Some("Anytown Borough Council (Elections)")
    );
    assert_eq!(author.platform.as_deref(), Some("mastodon"));
    // The profile's note, as plain text (where an imprint may live).
    assert_eq!(
        author.bio.as_deref(),
        Some("Official updates for the Anytown local elections")
    );
    let text = fake.text.as_deref().unwrap();
    assert!(
        text.starts_with(
            "URGENT: due to high demand, voters in Riverside ward can now vote by text."
        ),
        "{text}"
    );
    assert!(
        fake.links
            .contains(&"https://anytown-gov.uk/vote-by-text".to_string()),
        "{:?}",
        fake.links
    );
    assert_eq!(fake.media.len(), 1);
    assert!(fake.media[0]
        .url
        .as_deref()
        .unwrap()
        .ends_with("original/vote-by-text.png"));
    assert_eq!(fake.media[0].mime.as_deref(), Some("image/png"));
    assert_eq!(fake.matched_terms, ["Anytown", "Riverside ward"]);
    assert!(!fake.html.as_deref().unwrap().contains("target="));

    // The boost by @priya is the council's original status, with the council as author.
    let boosted = &items[1];
    assert_eq!(
        boosted.id,
        Item::derive_id(
            "Fediverse",
            "https://social.example/users/anytown/statuses/112345678901234500"
        )
    );
    let a = boosted.author.as_ref().unwrap();
    assert_eq!(a.handle.as_deref(), Some("@anytown@social.example"));
    assert_eq!(a.display_name.as_deref(), Some("Anytown Borough Council"));
    assert_eq!(
        boosted.url.as_deref(),
        Some("https://social.example/@anytown/112345678901234500")
    );
    assert!(boosted
        .text
        .as_deref()
        .unwrap()
        .contains("You cannot vote by text or online."));

    // A content warning is the title; entities are decoded.
    let rumour = &items[2];
    assert_eq!(rumour.title.as_deref(), Some("Election rumour"));
    assert!(rumour
        .text
        .as_deref()
        .unwrap()
        .contains("won't open because of the bridge works"));
    assert_eq!(
        rumour.published_at.unwrap().to_rfc3339(),
        "2026-04-30T07:10:44+00:00"
    );
}

#[test]
fn snowflake_ids_compare_by_value() {
    use std::cmp::Ordering::*;
    assert_eq!(compare_ids("99", "100"), Less);
    assert_eq!(
        compare_ids("112345678901234570", "112345678901234560"),
        Greater
    );
    assert_eq!(compare_ids("007", "7"), Equal);
    assert_eq!(compare_ids("abc", "abd"), Less);
}

/// A server holding statuses with ids 1..=len of one hashtag, answering like Mastodon:
/// newest first, `min_id` → the page immediately newer than it.
#[derive(Default)]
struct Timeline {
    len: Mutex<u64>,
    requests: Mutex<Vec<String>>,
    rate_limited: Mutex<bool>,
    broken: Mutex<bool>,
}

fn status_json(id: u64) -> serde_json::Value {
    serde_json::json!({
        "id": id.to_string(),
        "created_at": "2026-04-30T08:00:00.000Z",
        "uri": format!("https://social.example/users/resident/statuses/{id}"),
        "url": format!("https://social.example/@resident/{id}"),
        "content": format!("<p>Update {id} on the Riverside ward count</p>"),
        "spoiler_text": "",
        "account": {"id": "5", "username": "resident", "acct": "resident", "display_name": "A Resident", "url": "https://social.example/@resident"},
        "media_attachments": [],
        "reblog": null,
        "card": null
    })
}

async fn timeline(
    State(t): State<Arc<Timeline>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    t.requests
        .lock()
        .unwrap()
        .push(q.get("min_id").cloned().unwrap_or_default());
    if *t.rate_limited.lock().unwrap() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "120")],
            "{\"error\":\"Too many requests\"}",
        )
            .into_response();
    }
    if *t.broken.lock().unwrap() {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"error\": \"oops\"",
        )
            .into_response();
    }
    let len = *t.len.lock().unwrap();
    let limit: u64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(20);
    let ids: Vec<u64> = match q.get("min_id").and_then(|m| m.parse::<u64>().ok()) {
        Some(min) => ((min + 1)..=len).take(limit as usize).collect(),
        None => (1..=len).rev().take(limit as usize).collect(),
    };
    let mut ids = ids;
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let body: Vec<_> = ids.into_iter().map(status_json).collect();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    (headers, serde_json::to_string(&body).unwrap()).into_response()
}

#[tokio::test]
async fn polls_page_forward_with_min_id_without_gaps_or_repeats() {
    let t = Arc::new(Timeline::default());
    *t.len.lock().unwrap() = 95;
    let base = serve(
        Router::new()
            .route("/api/v1/timelines/tag/AnytownVotes", get(timeline))
            .with_state(t.clone()),
    )
    .await;
    let src = source(&base, "hashtags = [\"#AnytownVotes\"]");
    let ctx = test_ctx();

    // First poll: the newest page only.
    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 40);
    assert_eq!(first.captures.len(), 1);
    let state: MastodonState = serde_json::from_value(first.state.clone().unwrap()).unwrap();
    assert_eq!(state.tags["AnytownVotes"], "95");
    let mut seen: HashSet<String> = first.items.iter().map(|(_, i)| i.id.clone()).collect();

    // 90 more arrive; the next poll pages forward from 95 until a short page.
    *t.len.lock().unwrap() = 185;
    let cursor = Cursor {
        state: first.state.clone(),
        ..Cursor::default()
    };
    let second = src.poll(&ctx, &cursor).await.unwrap();
    assert_eq!(
        *t.requests.lock().unwrap(),
        ["", "95", "135", "175"],
        "one request per page, each from the newest id of the one before"
    );
    assert_eq!(second.items.len(), 90);
    assert_eq!(second.captures.len(), 3);
    for (cap, item) in &second.items {
        assert!(*cap < 3);
        assert!(seen.insert(item.id.clone()), "repeated {}", item.id);
    }
    let expected: HashSet<String> = (56..=185)
        .map(|id| {
            Item::derive_id(
                "Fediverse",
                &format!("https://social.example/users/resident/statuses/{id}"),
            )
        })
        .collect();
    assert_eq!(seen, expected, "every status from 56 to 185, none missing");
    let state: MastodonState = serde_json::from_value(second.state.clone().unwrap()).unwrap();
    assert_eq!(state.tags["AnytownVotes"], "185");

    // Nothing new: one request, no items, the cursor stays.
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
    assert!(third.items.is_empty());
    assert_eq!(third.state, second.state);

    // Rate limited: the error carries Retry-After, names the source and URL.
    *t.rate_limited.lock().unwrap() = true;
    let err = src
        .poll(
            &ctx,
            &Cursor {
                state: third.state.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(msg.starts_with("source `Fediverse`: "), "{msg}");
    assert!(
        msg.contains("/api/v1/timelines/tag/AnytownVotes?limit=40&min_id=185"),
        "{msg}"
    );
    assert!(msg.contains("HTTP 429"), "{msg}");

    // Malformed JSON: a payload error naming source and URL.
    *t.rate_limited.lock().unwrap() = false;
    *t.broken.lock().unwrap() = true;
    let err = src.poll(&ctx, &Cursor::default()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "source `Fediverse`: {base}/api/v1/timelines/tag/AnytownVotes?limit=40 is not a valid Mastodon API response"
        )),
        "{msg}"
    );
    assert!(!err.is_transient());
}

#[derive(Default)]
struct Seen {
    auth: Mutex<Vec<Option<String>>>,
}

#[tokio::test]
async fn accounts_are_looked_up_once_and_the_token_is_sent_but_not_captured() {
    let seen = Arc::new(Seen::default());
    let record = |s: &Arc<Seen>, h: &HeaderMap| {
        s.auth.lock().unwrap().push(
            h.get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_string()),
        );
    };
    let app = Router::new()
        .route(
            "/api/v1/accounts/lookup",
            get(
                move |State(s): State<Arc<Seen>>,
                      Query(q): Query<std::collections::HashMap<String, String>>,
                      h: HeaderMap| async move {
                    record(&s, &h);
                    assert_eq!(q["acct"], "anytown");
                    ([(header::CONTENT_TYPE, "application/json")], LOOKUP)
                },
            ),
        )
        .route(
            "/api/v1/accounts/109000000000000001/statuses",
            get(move |State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                record(&s, &h);
                ([(header::CONTENT_TYPE, "application/json")], STATUSES)
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    // The variable name is unique to this test.
    std::env::set_var("BW_TEST_MASTODON_TOKEN", "s3cret-token");
    let src = source(
        &base,
        "accounts = [\"@anytown\"]\ntoken_env = \"BW_TEST_MASTODON_TOKEN\"",
    );
    let ctx = test_ctx();
    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 1);
    let (cap, item) = &first.items[0];
    assert_eq!(
        *cap, 1,
        "the item points at the statuses response, not the lookup"
    );
    assert_eq!(
        item.author.as_ref().unwrap().handle.as_deref(),
        Some("@anytown@127.0.0.1")
    );
    assert_eq!(item.media[0].mime.as_deref(), Some("video/mp4"));
    assert!(item
        .links
        .contains(&"https://anytown.gov.uk/vote".to_string()));
    for (c, _) in &first.captures {
        assert!(c.headers.iter().all(|(_, v)| !v.contains("s3cret")));
    }
    let state: MastodonState = serde_json::from_value(first.state.clone().unwrap()).unwrap();
    assert_eq!(state.accounts["@anytown"].id, "109000000000000001");
    assert_eq!(
        state.accounts["@anytown"].newest.as_deref(),
        Some("112345678901234580")
    );

    // Next poll: no second lookup.
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
    assert_eq!(second.captures.len(), 1);
    let auth = seen.auth.lock().unwrap().clone();
    assert_eq!(auth.len(), 3);
    assert!(
        auth.iter()
            .all(|a| a.as_deref() == Some("Bearer s3cret-token")),
        "{auth:?}"
    );

    // A token variable that is not set is a clear set-up error.
    let unset = source(
        &base,
        "accounts = [\"@anytown\"]\ntoken_env = \"BW_TEST_UNSET_TOKEN\"",
    );
    let err = unset.poll(&ctx, &Cursor::default()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("`BW_TEST_UNSET_TOKEN`, which is not set"),
        "{err}"
    );
}

proptest::proptest! {
    #[test]
    fn id_order_is_numeric_for_digit_strings(a in 0u128..u128::MAX / 2, b in 0u128..u128::MAX / 2) {
        proptest::prop_assert_eq!(compare_ids(&a.to_string(), &b.to_string()), a.cmp(&b));
    }

    #[test]
    fn any_content_normalises_without_panicking(content in "\\PC{0,200}", spoiler in "\\PC{0,20}", acct in "[a-z_@.]{0,20}") {
        let mut s: Status = serde_json::from_value(status_json(7)).unwrap();
        s.content = content;
        s.spoiler_text = spoiler;
        s.account.acct = acct;
        if let Some(item) = normalise_status("Fediverse", &instance(), &s, &watch()) {
            proptest::prop_assert!(item.author.unwrap().handle.unwrap().starts_with('@'));
        }
    }
}
