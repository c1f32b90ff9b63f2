//! Telegram preview pages → items, and polling a real HTTP server with `before=` paging.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const PAGE: &str = include_str!("testdata/anytown-votes.html");

fn source(base: &str) -> TelegramSource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Anytown Votes\"\nkind = \"telegram\"\nchannel = \"anytown_votes\"\nbase_url = \"{base}\"\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Telegram(c) => TelegramSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn preview_messages_become_items() {
    let msgs = parse_page("Anytown Votes", "anytown_votes", PAGE, &watch()).unwrap();
    let ids: Vec<u64> = msgs.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [1201, 1202, 1203]);

    let reminder = &msgs[0].1;
    assert_eq!(reminder.source.kind, "telegram");
    assert_eq!(
        reminder.url.as_deref(),
        Some("https://t.me/anytown_votes/1201")
    );
    assert_eq!(
        reminder.id,
        Item::derive_id("Anytown Votes", "https://t.me/anytown_votes/1201")
    );
    assert_eq!(
        reminder.text.as_deref(),
        Some("Reminder: polling stations open 7am–10pm on Thursday 7 May. Bring photo ID.\n\nFind yours: anytown.gov.uk/vote")
    );
    assert_eq!(reminder.links, ["https://anytown.gov.uk/vote"]);
    assert!(!reminder.html.as_deref().unwrap().contains("onclick"));
    let a = reminder.author.as_ref().unwrap();
    assert_eq!(a.handle.as_deref(), Some("@anytown_votes"));
    assert_eq!(a.display_name.as_deref(), Some("Anytown Votes"));
    assert_eq!(a.platform.as_deref(), Some("telegram"));
    assert_eq!(
        reminder.published_at.unwrap().to_rfc3339(),
        "2026-04-29T18:02:10+00:00"
    );

    // A forwarded photo post.
    let fwd = &msgs[1].1;
    assert_eq!(fwd.title.as_deref(), Some("Forwarded from Riverside Truth"));
    assert_eq!(fwd.links[0], "https://t.me/riverside_truth/88");
    assert_eq!(fwd.media.len(), 1);
    assert_eq!(
        fwd.media[0].url.as_deref(),
        Some("https://cdn4.telesco.pe/file/m1ll_lane_closed_notice.jpg")
    );
    assert_eq!(fwd.media[0].mime.as_deref(), Some("image/jpeg"));
    assert!(fwd.matched_terms.contains(&"Riverside ward".to_string()));

    // A link preview is a link.
    assert!(msgs[2]
        .1
        .links
        .contains(&"https://anytown.gov.uk/news/mill-lane-open".to_string()));
}

#[test]
fn pages_that_are_not_channel_previews_are_refused() {
    let e = parse_page(
        "X",
        "anytown_votes",
        "<html><body><h1>Sorry, this page doesn't exist</h1></body></html>",
        &watch(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        PageError::NotAPreview {
            channel: "anytown_votes".into()
        }
    );
    assert!(
        e.to_string()
            .contains("`anytown_votes` is a public channel"),
        "{e}"
    );
}

#[test]
fn background_images_are_read_from_styles() {
    assert_eq!(
        background_image("width:800px;background-image:url('https://cdn4.telesco.pe/file/a.jpg')")
            .as_deref(),
        Some("https://cdn4.telesco.pe/file/a.jpg")
    );
    assert_eq!(
        background_image("background-image:url(\"/b.png\")").as_deref(),
        Some("/b.png")
    );
    assert_eq!(background_image("width:10px"), None);
}

/// A channel with messages 1..=len, 20 per page, oldest first on each page.
#[derive(Default)]
struct Channel {
    len: Mutex<u64>,
    befores: Mutex<Vec<String>>,
}

fn message_html(id: u64) -> String {
    format!(
        r#"<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="anytown_votes/{id}"><div class="tgme_widget_message_bubble"><div class="tgme_widget_message_text js-message_text" dir="auto">Message {id} about the Anytown count</div><div class="tgme_widget_message_footer"><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/anytown_votes/{id}"><time datetime="2026-04-30T08:00:00+00:00" class="time">08:00</time></a></span></div></div></div></div>"#
    )
}

async fn channel(
    State(c): State<Arc<Channel>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    c.befores
        .lock()
        .unwrap()
        .push(q.get("before").cloned().unwrap_or_default());
    let len = *c.len.lock().unwrap();
    let top = q
        .get("before")
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(len, |b| b - 1);
    let low = top.saturating_sub(19).max(1);
    let msgs: String = (low..=top).map(message_html).collect();
    let page = format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div class="tgme_channel_info"><div class="tgme_channel_info_header_title"><span dir="auto">Anytown Votes</span></div></div><section class="tgme_channel_history">{msgs}</section></body></html>"#
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

#[tokio::test]
async fn polls_page_back_with_before_until_the_last_message_seen() {
    let c = Arc::new(Channel::default());
    *c.len.lock().unwrap() = 30;
    let base = serve(
        Router::new()
            .route("/s/anytown_votes", get(channel))
            .with_state(c.clone()),
    )
    .await;
    let src = source(&base);
    assert_eq!(src.url(), format!("{base}/s/anytown_votes"));
    let ctx = test_ctx();

    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 20, "messages 11..=30");
    let mut seen: HashSet<String> = first.items.iter().map(|(_, i)| i.id.clone()).collect();

    *c.len.lock().unwrap() = 75;
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
    assert_eq!(*c.befores.lock().unwrap(), ["", "", "56", "36"]);
    assert_eq!(second.items.len(), 45);
    for (_, item) in &second.items {
        assert!(seen.insert(item.id.clone()), "repeated {:?}", item.url);
    }
    let expected: HashSet<String> = (11..=75)
        .map(|i| Item::derive_id("Anytown Votes", &format!("https://t.me/anytown_votes/{i}")))
        .collect();
    assert_eq!(seen, expected);
    let state: TelegramState = serde_json::from_value(second.state.unwrap()).unwrap();
    assert_eq!(state.last_id, Some(75));
}

proptest::proptest! {
    #[test]
    fn any_page_parses_without_panicking(body in "\\PC{0,400}", id in 0u64..100_000) {
        // Arbitrary text, and arbitrary text inside a real message skeleton.
        let _ = parse_page("X", "anytown_votes", &body, &watch());
        let page = format!(
            r#"<div class="tgme_channel_info"></div><div class="tgme_widget_message" data-post="anytown_votes/{id}"><div class="tgme_widget_message_text">{body}</div><a class="tgme_widget_message_photo_wrap" style="background-image:url('{body}')"></a></div>"#
        );
        let msgs = parse_page("X", "anytown_votes", &page, &watch()).unwrap();
        for (got, item) in msgs {
            proptest::prop_assert_eq!(got, id);
            let expected = format!("https://t.me/anytown_votes/{id}");
            proptest::prop_assert_eq!(item.url.as_deref(), Some(expected.as_str()));
        }
    }

    #[test]
    fn background_image_never_panics(style in "\\PC{0,80}") {
        let _ = background_image(&style);
    }
}
