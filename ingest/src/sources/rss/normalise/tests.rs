//! Unit tests of entry normalisation on small feeds built in the test.

use ballotwatch_core::WatchTerms;
use proptest::prelude::*;
use url::Url;

use super::*;
use crate::sources::rss::parse_feed;

fn feed_url() -> Url {
    Url::parse("https://live.anytown.test/feeds/main.json").unwrap()
}

/// Parses a JSON Feed with the given items (JSON Feed carries any string without escaping
/// worries) and returns its entries.
fn entries(items: serde_json::Value) -> Vec<Entry> {
    let doc = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Anytown Live",
        "items": items,
    });
    parse_feed(doc.to_string().as_bytes(), None, &feed_url())
        .unwrap()
        .entries
}

fn rss_entries(items: &str) -> Vec<Entry> {
    let doc = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Anytown Echo</title>{items}</channel></rss>"
    );
    parse_feed(doc.as_bytes(), None, &feed_url())
        .unwrap()
        .entries
}

fn none() -> WatchTerms {
    WatchTerms::new::<&str>(&[])
}

#[test]
fn relative_links_without_an_entry_url_resolve_against_the_feed() {
    let e = &rss_entries(
        "<item><title>Ward map</title><description>&lt;a href=\"../maps/riverside\"&gt;map&lt;/a&gt; &lt;img src=\"/img/map.png\"&gt;</description></item>",
    )[0];
    let item = normalise_entry("Echo", &feed_url(), e, &none()).unwrap();
    assert_eq!(item.url, None);
    assert_eq!(item.links, ["https://live.anytown.test/maps/riverside"]);
    assert_eq!(
        item.media[0].url.as_deref(),
        Some("https://live.anytown.test/img/map.png")
    );
}

#[test]
fn keys_fall_back_from_guid_to_link_to_title_to_content() {
    let es = rss_entries(
        "<item><title>Untracked headline</title><description>Body one</description></item>\
         <item><description>Only a body</description></item>\
         <item><link>relative/story</link><title>Linked</title></item>",
    );
    let titled = normalise_entry("Echo", &feed_url(), &es[0], &none()).unwrap();
    assert_eq!(
        titled.id,
        Item::derive_id("Echo", "title:Untracked headline")
    );

    let bare = normalise_entry("Echo", &feed_url(), &es[1], &none()).unwrap();
    let again = normalise_entry(
        "Echo",
        &feed_url(),
        &rss_entries("<item><description>Only a body</description></item>")[0],
        &none(),
    )
    .unwrap();
    assert_eq!(bare.id, again.id, "a content-hash key is stable");
    let other = normalise_entry(
        "Echo",
        &feed_url(),
        &rss_entries("<item><description>Another body</description></item>")[0],
        &none(),
    )
    .unwrap();
    assert_ne!(bare.id, other.id);

    let linked = normalise_entry("Echo", &feed_url(), &es[2], &none()).unwrap();
    assert_eq!(
        linked.url.as_deref(),
        Some("https://live.anytown.test/feeds/relative/story")
    );
    assert_eq!(
        linked.id,
        Item::derive_id("Echo", "https://live.anytown.test/feeds/relative/story")
    );
}

fn reported(channel: &str, items: &str, url: &str) -> Normalised {
    let doc = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{channel}</title>{items}</channel></rss>"
    );
    let url = Url::parse(url).unwrap();
    let feed = parse_feed(doc.as_bytes(), None, &url).unwrap();
    normalise_feed_reporting("Echo", &url, feed, &none())
}

#[test]
fn untracked_entries_keep_their_id_when_moved_or_edited_or_the_feed_moves() {
    let first = reported(
        "Echo",
        "<item><title>Polls close at 10pm</title><description>Queue and you can vote.</description></item>\
         <item><description>A queue at St Mary's.</description></item>",
        "https://echo.anytown.test/a.rss",
    );
    // Moved, the titled one's body edited, fetched from another URL.
    let second = reported(
        "Echo",
        "<item><description>A queue at St Mary's.</description></item>\
         <item><title>Polls close at 10pm</title><description>Queue by 10pm and you can vote.</description></item>",
        "https://mirror.anytown.test/b.rss",
    );
    assert_eq!((first.items.len(), second.items.len()), (2, 2));
    let (titled, bare) = (&first.items[0], &first.items[1]);
    let (bare2, titled2) = (&second.items[0], &second.items[1]);
    assert_eq!(titled.id, titled2.id, "a body edit keeps the id");
    assert_ne!(
        titled.content_hash(),
        titled2.content_hash(),
        "so it is a new version"
    );
    assert_eq!(
        bare.id, bare2.id,
        "an unchanged untitled entry keeps its id"
    );
    assert_eq!(
        bare.content_hash(),
        bare2.content_hash(),
        "and is not stored again"
    );
    assert!(first.dropped.is_empty() && second.dropped.is_empty());

    // A title edit is a new item; so is any edit of an untitled entry.
    let third = reported(
        "Echo",
        "<item><title>Polls close at 10 pm</title><description>Queue by 10pm and you can vote.</description></item>\
         <item><description>A long queue at St Mary's.</description></item>",
        "https://echo.anytown.test/a.rss",
    );
    assert_ne!(third.items[0].id, titled.id);
    assert_ne!(third.items[1].id, bare.id);
}

#[test]
fn untracked_entries_sharing_a_title_are_all_kept() {
    let items =
        "<item><title>Update</title><description>Station 4 opened late.</description></item>\
         <item><title>Update</title><description>Station 4 is open.</description></item>\
         <item><title>Update</title><description>Turnout at noon: 14%.</description></item>\
         <item><title>Result</title><description>Smith elected.</description></item>";
    let got = reported("Echo", items, "https://echo.anytown.test/a.rss");
    let ids: std::collections::BTreeSet<_> = got.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), 4, "{:#?}", got.items);
    assert!(got.dropped.is_empty(), "{:?}", got.dropped);
    // The same entries in another order get the same ids.
    let reordered = "<item><title>Result</title><description>Smith elected.</description></item>\
         <item><title>Update</title><description>Turnout at noon: 14%.</description></item>\
         <item><title>Update</title><description>Station 4 opened late.</description></item>\
         <item><title>Update</title><description>Station 4 is open.</description></item>";
    let again = reported("Echo", reordered, "https://echo.anytown.test/a.rss");
    let ids_again: std::collections::BTreeSet<_> =
        again.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, ids_again);
    // A lone title is keyed by the title alone.
    assert!(ids.contains(&Item::derive_id("Echo", "title:Result")));
}

#[test]
fn left_out_entries_are_reported_and_repeats_are_not() {
    let got = reported(
        "Echo",
        "<item></item>\
         <item><guid isPermaLink=\"false\">g1</guid><title>First</title></item>\
         <item><guid isPermaLink=\"false\">g1</guid><title>First</title></item>\
         <item><guid isPermaLink=\"false\">g2</guid><title>Draft</title></item>\
         <item><guid isPermaLink=\"false\">g2</guid><title>Final</title></item>\
         <item><link>https://echo.anytown.test/bare</link></item>",
        "https://echo.anytown.test/a.rss",
    );
    let titles: Vec<_> = got.items.iter().map(|i| i.title.as_deref()).collect();
    assert_eq!(titles, [Some("First"), Some("Final")]);
    assert_eq!(
        got.dropped,
        [
            "entry 1 of 6 has no title, text or media",
            "entry 6 of 6 (link https://echo.anytown.test/bare) has no title, text or media",
            "an entry titled \"Draft\" has the same id as a later, different entry of the feed; the later one was kept",
        ]
    );
}

#[test]
fn entries_with_nothing_to_show_are_skipped() {
    let es = entries(serde_json::json!([
        {"id": "1", "url": "https://live.anytown.test/1", "content_html": "<script>only()</script>  "},
        {"id": "2", "title": "   "},
        {"id": "3", "content_text": "Counting has started in Anytown."},
    ]));
    let got: Vec<_> = es
        .iter()
        .filter_map(|e| normalise_entry("Live", &feed_url(), e, &none()))
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].text.as_deref(),
        Some("Counting has started in Anytown.")
    );
}

#[test]
fn image_only_content_keeps_its_html_and_media() {
    let es = entries(serde_json::json!([
        {"id": "photo", "content_html": "<img src=\"/img/queue.jpg\" onerror=\"x()\">"},
    ]));
    let item = normalise_entry("Live", &feed_url(), &es[0], &none()).unwrap();
    assert_eq!((item.title.as_deref(), item.text.as_deref()), (None, None));
    assert_eq!(
        item.html.as_deref(),
        Some("<img src=\"https://live.anytown.test/img/queue.jpg\">")
    );
    assert_eq!(
        item.media[0].url.as_deref(),
        Some("https://live.anytown.test/img/queue.jpg")
    );
}

#[test]
fn watch_terms_match_title_and_text() {
    let es = entries(serde_json::json!([
        {"id": "a", "title": "Jane Okafor at the count", "content_html": "<p>Results from <b>Riverside</b> ward soon.</p>"},
    ]));
    let watch = WatchTerms::new(&["Jane Okafor", "Riverside ward", "polling station"]);
    let item = normalise_entry("Live", &feed_url(), &es[0], &watch).unwrap();
    assert_eq!(item.matched_terms, ["Jane Okafor", "Riverside ward"]);
}

#[test]
fn feed_author_fills_in_for_entries_without_one() {
    let doc = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Anytown Live",
        "authors": [{"name": "Live desk"}],
        "items": [
            {"id": "a", "title": "One"},
            {"id": "b", "title": "Two", "authors": [{"name": "Amira Khan", "url": "/people/amira"}]}
        ],
    });
    let feed = parse_feed(doc.to_string().as_bytes(), None, &feed_url()).unwrap();
    let items = normalise_feed("Live", &feed_url(), feed, &none());
    let names: Vec<_> = items
        .iter()
        .map(|i| i.author.as_ref().and_then(|a| a.display_name.clone()))
        .collect();
    assert_eq!(names, [Some("Live desk".into()), Some("Amira Khan".into())]);
    assert_eq!(
        items[1].author.as_ref().unwrap().url.as_deref(),
        Some("https://live.anytown.test/people/amira")
    );
}

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<script>alert('Anytown')</script>".to_string()),
        Just("<img src=x onerror=alert(1)>".to_string()),
        Just("<a href=\"javascript:alert(1)\" onclick=\"x()\">vote here</a>".to_string()),
        Just("<p style=\"color:red\" onmouseover=\"y()\">Riverside ward</p>".to_string()),
        Just("<svg><script>alert(1)</script></svg>".to_string()),
        Just("<object data=\"x\"></object><embed src=\"y\">".to_string()),
        Just("<a href=\"/relative\">rel</a>".to_string()),
        "\\PC{0,30}",
        "[<>&;\"'a-z =/]{0,30}",
    ]
}

proptest! {
    #[test]
    fn normalise_never_panics_and_html_is_always_safe(
        title in proptest::option::of("\\PC{0,60}"),
        parts in prop::collection::vec(hostile(), 0..8),
        as_text: bool,
        url in proptest::option::of("[a-z:/.?#%]{0,30}"),
    ) {
        let content = parts.concat();
        let mut item = serde_json::json!({"id": "p1"});
        if let Some(t) = &title {
            item["title"] = serde_json::Value::String(t.clone());
        }
        if let Some(u) = &url {
            item["url"] = serde_json::Value::String(u.clone());
        }
        let key = if as_text { "content_text" } else { "content_html" };
        item[key] = serde_json::Value::String(content);
        let Ok(feed) = parse_feed(
            serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [item]}).to_string().as_bytes(),
            None,
            &feed_url(),
        ) else {
            // feed-rs refuses some URLs; that is a parse error, not a panic.
            return Ok(());
        };
        let watch = WatchTerms::new(&["Anytown", "Riverside ward"]);
        for e in &feed.entries {
            if let Some(item) = normalise_entry("Live", &feed_url(), e, &watch) {
                if let Some(html) = &item.html {
                    prop_assert!(!html.to_ascii_lowercase().contains("<script"), "{}", html);
                    for (tag, attrs) in crate::html::elements(html) {
                        prop_assert!(!matches!(tag.as_str(), "script" | "style" | "object" | "embed"), "{} in {}", tag, html);
                        for (name, value) in attrs {
                            prop_assert!(!name.starts_with("on"), "{} in {}", name, html);
                            prop_assert!(!value.trim().to_ascii_lowercase().starts_with("javascript:"), "{} in {}", value, html);
                        }
                    }
                }
                for l in item.links.iter().chain(item.media.iter().filter_map(|m| m.url.as_ref())) {
                    prop_assert!(l.starts_with("https://") || l.starts_with("http://"), "{}", l);
                }
                prop_assert_eq!(item.id.len(), 32);
                prop_assert!(item.title.is_some() || item.text.is_some() || !item.media.is_empty());
            }
        }
    }
}
