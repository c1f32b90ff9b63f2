//! YouTube Atom feeds → items, and polling with conditional GET.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::*;
use crate::sources::test_support::{serve, test_ctx, watch};

const VIDEOS: &[u8] = include_bytes!("testdata/anytown-council-videos.xml");

fn source(url: &str) -> YoutubeSource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Council YouTube\"\nkind = \"youtube\"\nurl = \"{url}\"\n"
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Youtube(c) => YoutubeSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

#[test]
fn videos_become_items_with_description_and_thumbnail() {
    let feed =
        Url::parse("https://www.youtube.com/feeds/videos.xml?channel_id=UCanytownBorough0Council1")
            .unwrap();
    let items = parse_videos(
        "Council YouTube",
        &feed,
        VIDEOS,
        Some("text/xml; charset=UTF-8"),
        &watch(),
    )
    .unwrap();
    assert_eq!(items.len(), 2);
    let v = &items[0];
    assert_eq!(v.source.kind, "youtube");
    assert_eq!(
        v.id,
        Item::derive_id("Council YouTube", "yt:video:q7Xv0tA2nYc")
    );
    assert_eq!(
        v.url.as_deref(),
        Some("https://www.youtube.com/watch?v=q7Xv0tA2nYc")
    );
    assert_eq!(
        v.title.as_deref(),
        Some("How to vote at a polling station in Anytown (with photo ID)")
    );
    assert!(v
        .text
        .as_deref()
        .unwrap()
        .starts_with("Polling stations are open 7am to 10pm"));
    assert_eq!(
        v.media.len(),
        1,
        "the thumbnail, not the Flash player: {:?}",
        v.media
    );
    assert_eq!(
        v.media[0].url.as_deref(),
        Some("https://i1.ytimg.com/vi/q7Xv0tA2nYc/hqdefault.jpg")
    );
    let a = v.author.as_ref().unwrap();
    assert_eq!(a.display_name.as_deref(), Some("Anytown Borough Council"));
    assert_eq!(a.handle.as_deref(), Some("UCanytownBorough0Council1"));
    assert_eq!(a.platform.as_deref(), Some("youtube"));
    assert_eq!(
        v.published_at.unwrap().to_rfc3339(),
        "2026-04-28T12:00:05+00:00"
    );
    assert!(items[1].matched_terms.contains(&"Jane Okafor".to_string()));
}

#[tokio::test]
async fn channel_urls_poll_the_feed_with_conditional_get() {
    let app =
        Router::new().route(
            "/feeds/videos.xml",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>,
                 h: HeaderMap| async move {
                    assert_eq!(q["channel_id"], "UCanytownBorough0Council1");
                    if h.get(header::IF_NONE_MATCH).is_some_and(|v| v == "\"v1\"") {
                        return StatusCode::NOT_MODIFIED.into_response();
                    }
                    (
                        [
                            (header::CONTENT_TYPE, "text/xml; charset=UTF-8"),
                            (header::ETAG, "\"v1\""),
                        ],
                        VIDEOS,
                    )
                        .into_response()
                },
            ),
        );
    let base = serve(app).await;
    let src = source(&format!("{base}/channel/UCanytownBorough0Council1"));
    assert_eq!(
        src.url(),
        format!("{base}/feeds/videos.xml?channel_id=UCanytownBorough0Council1")
    );
    let ctx = test_ctx();
    let first = src.poll(&ctx, &Cursor::default()).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    let second = src
        .poll(
            &ctx,
            &Cursor {
                etag: first.etag.clone(),
                ..Cursor::default()
            },
        )
        .await
        .unwrap();
    assert!(second.not_modified && second.items.is_empty());
}
