//! Feed parsing, character sets and polling against a real HTTP server.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::IngestConfig;
use axum::http::{header as h, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use ballotwatch_core::{Item, WatchTerms};

use super::*;
use crate::fetcher::{FetchError, Fetcher};

const ECHO: &[u8] = include_bytes!("testdata/anytown-echo.rss");
const COUNCIL: &[u8] = include_bytes!("testdata/anytown-council.atom");
const LIVE: &[u8] = include_bytes!("testdata/anytown-live.json");
const BLOG: &[u8] = include_bytes!("testdata/civic-blog.rdf");
const LATIN1: &[u8] = include_bytes!("testdata/riverside-latin1.rss");
const CP1252: &[u8] = include_bytes!("testdata/community-radio-cp1252.rss");
const MALFORMED: &[u8] = include_bytes!("testdata/malformed.rss");

fn watch() -> WatchTerms {
    WatchTerms::new(&[
        "Anytown",
        "Riverside ward",
        "Jane Okafor",
        "polling station",
    ])
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn items(name: &str, body: &[u8], content_type: Option<&str>, feed_url: &str) -> Vec<Item> {
    let base = url(feed_url);
    let feed = parse_feed(body, content_type, &base).unwrap();
    normalise_feed(name, &base, feed, &watch())
}

fn media_urls(item: &Item) -> BTreeSet<(String, Option<String>)> {
    item.media
        .iter()
        .map(|m| (m.url.clone().unwrap(), m.mime.clone()))
        .collect()
}

#[test]
fn rss2_entries_become_items() {
    let items = items(
        "Anytown Echo",
        ECHO,
        Some("application/rss+xml"),
        "https://echo.anytown.test/feeds/elections.rss",
    );
    // The link-only entry has no title, text or media and is skipped.
    assert_eq!(items.len(), 4, "{items:#?}");

    let a = &items[0];
    assert_eq!(a.id, Item::derive_id("Anytown Echo", "echo-2026-0412"));
    assert_eq!(a.source.kind, "rss");
    assert_eq!(a.source.name, "Anytown Echo");
    assert_eq!(
        a.url.as_deref(),
        Some("https://echo.anytown.test/news/2026/04/polling-stations-riverside")
    );
    assert_eq!(
        a.published_at.unwrap().to_rfc3339(),
        "2026-04-30T07:00:00+00:00"
    );
    let author = a.author.as_ref().unwrap();
    assert_eq!(author.display_name.as_deref(), Some("Priya Shah"));
    assert_eq!(
        (author.handle.as_deref(), author.platform.as_deref()),
        (None, None)
    );
    assert_eq!(
        a.title.as_deref(),
        Some("Polling stations confirmed for Riverside ward")
    );
    let text = a.text.as_deref().unwrap();
    assert!(
        text.starts_with("Anytown Borough Council has confirmed the polling station list for Riverside ward ahead of the local elections on Thursday 7 May.\n\nVoters should check their poll card or visit where to vote."),
        "{text}"
    );
    for gone in ["document.cookie", "display", "steal", "[1]", "**"] {
        assert!(!text.contains(gone), "{gone} in {text}");
    }
    let html = a.html.as_deref().unwrap();
    for gone in ["<script", "onerror", "javascript:", "<style"] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    assert!(html.contains(r#"<a href="https://echo.anytown.test/elections/where-to-vote" rel="noopener noreferrer nofollow">where to vote</a>"#), "{html}");
    assert_eq!(
        a.links,
        [
            "https://echo.anytown.test/news/2026/04/polling-stations-riverside",
            "https://echo.anytown.test/elections/where-to-vote",
            "https://anytown-gov.uk.example/vote",
        ]
    );
    let expected: BTreeSet<(String, Option<String>)> = [
        (
            "https://cdn.anytown.test/img/count-centre.jpg",
            Some("image/jpeg"),
        ),
        ("https://cdn.anytown.test/img/count-centre-thumb.jpg", None),
        ("https://echo.anytown.test/images/riverside-hall.jpg", None),
        ("https://echo.anytown.test/news/2026/04/x.png", None),
    ]
    .into_iter()
    .map(|(u, m)| (u.to_string(), m.map(str::to_string)))
    .collect();
    assert_eq!(media_urls(a), expected);
    assert_eq!(
        a.matched_terms,
        ["Anytown", "Riverside ward", "polling station"]
    );
    assert_eq!((a.version, a.ingested_at), (0, None));

    // No GUID: the link is the key. The description is escaped HTML.
    let b = &items[1];
    assert_eq!(
        b.id,
        Item::derive_id(
            "Anytown Echo",
            "https://echo.anytown.test/news/2026/04/okafor-launch"
        )
    );
    assert_eq!(
        b.text.as_deref(),
        Some("Candidate Jane Okafor spoke to around 200 people on Saturday.")
    );
    assert_eq!(b.matched_terms, ["Anytown", "Jane Okafor"]);
    assert!(b.author.is_none());

    // A permalink GUID is the URL when there is no <link>.
    let d = &items[2];
    assert_eq!(
        d.url.as_deref(),
        Some("https://echo.anytown.test/news/2026/04/count-venue")
    );
    assert_eq!(
        d.id,
        Item::derive_id(
            "Anytown Echo",
            "https://echo.anytown.test/news/2026/04/count-venue"
        )
    );
    // An RSS enclosure (relative here) is media with its type.
    assert_eq!(
        d.media,
        [ballotwatch_core::Media {
            url: Some("https://echo.anytown.test/audio/count-briefing.mp3".into()),
            mime: Some("audio/mpeg".into()),
            ..Default::default()
        }]
    );

    // Media only: the text comes from the media description.
    let e = &items[3];
    assert_eq!(e.title, None);
    assert_eq!(
        e.text.as_deref(),
        Some("Queue outside St Mary's polling station, Anytown")
    );
    assert_eq!(e.media.len(), 1);
    assert_eq!(e.media[0].mime.as_deref(), Some("image/jpeg"));
    assert_eq!(e.id, Item::derive_id("Anytown Echo", "echo-photo-88"));
}

#[test]
fn atom_entries_become_items() {
    let items = items(
        "Anytown Council",
        COUNCIL,
        Some("application/atom+xml"),
        "https://anytown.gov.uk/elections/feed.atom",
    );
    assert_eq!(items.len(), 2);

    let notice = &items[0];
    assert_eq!(
        notice.id,
        Item::derive_id("Anytown Council", "tag:anytown.gov.uk,2026:notice-17")
    );
    assert_eq!(
        notice.url.as_deref(),
        Some("https://anytown.gov.uk/news/notice-of-election")
    );
    assert_eq!(
        notice.published_at.unwrap().to_rfc3339(),
        "2026-03-20T09:00:00+00:00"
    );
    // No author on the entry: the feed's.
    let author = notice.author.as_ref().unwrap();
    assert_eq!(
        author.display_name.as_deref(),
        Some("Anytown Borough Council Electoral Services")
    );
    assert_eq!(
        author.url.as_deref(),
        Some("https://anytown.gov.uk/elections")
    );
    assert_eq!(
        notice.text.as_deref(),
        Some("Elections will be held for all 14 wards, including Riverside ward.\n\nNomination papers are available from the nomination pack.")
    );
    // Links: the alternate link, then the body's links resolved against the content's
    // xml:base; the edit link and the enclosure are not links.
    assert_eq!(
        notice.links,
        [
            "https://anytown.gov.uk/news/notice-of-election",
            "https://anytown.gov.uk/wards/riverside",
            "https://anytown.gov.uk/elections/docs/nomination-pack.pdf",
        ]
    );
    assert_eq!(
        notice.media,
        [ballotwatch_core::Media {
            url: Some("https://anytown.gov.uk/docs/notice-of-election.pdf".into()),
            mime: Some("application/pdf".into()),
            ..Default::default()
        }]
    );
    assert_eq!(notice.matched_terms, ["Anytown", "Riverside ward"]);

    let postal = &items[1];
    // An HTML title is rendered to plain text.
    assert_eq!(
        postal.title.as_deref(),
        Some("Postal vote deadline – 5pm 16 April")
    );
    assert_eq!(
        postal.published_at.unwrap().to_rfc3339(),
        "2026-04-10T08:00:00+00:00"
    );
    let author = postal.author.as_ref().unwrap();
    assert_eq!(author.display_name.as_deref(), Some("Sam Whitfield"));
    assert_eq!(
        author.url.as_deref(),
        Some("https://anytown.gov.uk/people/sam-whitfield")
    );
    assert_eq!(
        postal.text.as_deref(),
        Some("Apply for a postal vote by 5pm on 16 April.\nApplications received later cannot be processed.")
    );
    assert_eq!(
        postal.html.as_deref(),
        Some("<p>Apply for a postal vote by 5pm on 16 April.<br>Applications received later cannot be processed.</p>")
    );
}

#[test]
fn json_feed_and_rss1_are_read_too() {
    let live = items(
        "Anytown Live",
        LIVE,
        Some("application/feed+json"),
        "https://live.anytown.test/feed.json",
    );
    assert_eq!(live.len(), 1);
    let i = &live[0];
    assert_eq!(i.id, Item::derive_id("Anytown Live", "live-5512"));
    assert_eq!(
        i.url.as_deref(),
        Some("https://live.anytown.test/2026/05/07/count-latest")
    );
    assert_eq!(
        i.text.as_deref(),
        Some("A recount has been requested in Riverside ward.")
    );
    assert!(i
        .links
        .contains(&"https://live.anytown.test/wards/riverside".to_string()));
    assert_eq!(
        i.author.as_ref().and_then(|a| a.display_name.as_deref()),
        Some("Anytown Live desk")
    );

    let blog = items("Civic Blog", BLOG, None, "https://blog.anytown.test/rss");
    assert_eq!(blog.len(), 1);
    assert_eq!(
        blog[0].title.as_deref(),
        Some("How Anytown's ballot papers are printed")
    );
    assert_eq!(
        blog[0].url.as_deref(),
        Some("https://blog.anytown.test/2026/04/ballot-papers")
    );
}

#[test]
fn ids_are_stable_across_parses() {
    let first = items(
        "Anytown Echo",
        ECHO,
        None,
        "https://echo.anytown.test/feeds/elections.rss",
    );
    let second = items(
        "Anytown Echo",
        ECHO,
        None,
        "https://echo.anytown.test/feeds/elections.rss",
    );
    let ids = |v: &[Item]| v.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(first, second);
    // A headline edit keeps the id (feed-rs's own generated ids would change with the title).
    let edited = String::from_utf8(ECHO.to_vec()).unwrap().replace(
        "Jane Okafor launches campaign",
        "Jane Okafor launches her campaign",
    );
    let third = items(
        "Anytown Echo",
        edited.as_bytes(),
        None,
        "https://echo.anytown.test/feeds/elections.rss",
    );
    assert_eq!(ids(&first), ids(&third));
    assert_ne!(first[1].title, third[1].title);
    // Another source name gives other ids.
    let other = items(
        "Other",
        ECHO,
        None,
        "https://echo.anytown.test/feeds/elections.rss",
    );
    assert!(ids(&first).iter().zip(ids(&other)).all(|(a, b)| *a != b));
}

#[test]
fn feed_rs_alone_reads_the_prolog_charset_but_not_the_http_one() {
    // Why this module transcodes: feed-rs honours `encoding=` in the XML declaration...
    let latin = feed_rs::parser::parse(LATIN1).unwrap();
    let title = latin.entries[0].title.as_ref().unwrap().content.clone();
    assert!(title.contains("£500") && title.contains("café"), "{title}");
    // ...but knows nothing of a charset sent only in Content-Type.
    let garbled = match feed_rs::parser::parse(CP1252) {
        Err(_) => true,
        Ok(feed) => !feed.entries[0]
            .title
            .as_ref()
            .is_some_and(|t| t.content.contains("“Vote early”")),
    };
    assert!(
        garbled,
        "feed-rs now decodes the HTTP charset itself; the transcoding could go"
    );
}

#[test]
fn non_utf8_feeds_declared_in_the_prolog_are_read() {
    let items = items(
        "Riverside Gazette",
        LATIN1,
        Some("application/rss+xml"),
        "https://gazette.riverside.test/rss",
    );
    assert_eq!(
        items[0].title.as_deref(),
        Some("Candidates' deposit £500 paid at Anytown café hustings")
    );
    assert_eq!(
        items[0].text.as_deref(),
        Some("Each candidate paid the £500 deposit. The naïve claim that it was waived is false.")
    );
}

#[test]
fn non_utf8_feeds_declared_only_in_content_type_are_read() {
    let ct = "application/rss+xml; charset=\"windows-1252\"";
    let items = items(
        "Community Radio",
        CP1252,
        Some(ct),
        "https://radio.anytown.test/rss",
    );
    assert_eq!(
        items[0].title.as_deref(),
        Some("“Vote early” – Anytown turnout drive costs €0 and £0")
    );
    assert_eq!(
        items[0].text.as_deref(),
        Some("Volunteers say “every vote counts” – polls close at 10pm.")
    );
}

#[test]
fn encoding_detection_follows_rfc_7303() {
    // BOM first.
    let mut utf16 = vec![0xff, 0xfe];
    for unit in "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss/>".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(
        detect_encoding(&utf16, Some("text/xml; charset=iso-8859-1")).0,
        encoding_rs::UTF_16LE
    );
    assert_eq!(
        decode_to_utf8(&utf16, None),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>"
    );
    // Then the HTTP charset, over the declaration.
    assert_eq!(
        detect_encoding(LATIN1, Some("text/xml; Charset=UTF-8")).0,
        encoding_rs::UTF_8
    );
    // Then the declaration (iso-8859-1 is windows-1252 per the Encoding Standard).
    assert_eq!(
        detect_encoding(LATIN1, Some("application/rss+xml")).0,
        encoding_rs::WINDOWS_1252
    );
    assert_eq!(detect_encoding(LATIN1, None).0, encoding_rs::WINDOWS_1252);
    // Else UTF-8.
    assert_eq!(
        detect_encoding(b"<rss version=\"2.0\"/>", None).0,
        encoding_rs::UTF_8
    );
    assert_eq!(
        detect_encoding(b"<rss/>", Some("text/xml; charset=nonsense")).0,
        encoding_rs::UTF_8
    );

    let decoded = decode_to_utf8(LATIN1, None);
    assert!(
        decoded.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{decoded}"
    );
    assert!(decoded.contains("£500"));
    // UTF-8 input is borrowed, not copied.
    assert!(matches!(decode_to_utf8(ECHO, None), Cow::Borrowed(_)));
}

#[test]
fn malformed_and_html_bodies_are_parse_errors() {
    let base = url("https://echo.anytown.test/rss");
    let err = parse_feed(MALFORMED, Some("application/rss+xml"), &base).unwrap_err();
    assert!(matches!(err, FeedParseError::Malformed(_)), "{err}");
    let err = parse_feed(
        b"<!DOCTYPE html><html><body>Log in</body></html>",
        Some("text/html; charset=utf-8"),
        &base,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "the server sent a web page (Content-Type: text/html; charset=utf-8), not a feed"
        ),
        "{err}"
    );
    let err = parse_feed(b"just words", None, &base)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no RSS, Atom or JSON Feed root element"),
        "{err}"
    );
    // A feed mislabelled as text/html is still read.
    assert!(parse_feed(ECHO, Some("text/html"), &base).is_ok());
}

fn test_ctx() -> PollContext {
    let cfg = IngestConfig {
        allow_private_addresses: true,
        politeness_delay: Duration::ZERO,
        ..IngestConfig::default()
    };
    PollContext {
        fetcher: Fetcher::new(&cfg, "test").unwrap(),
        watch: watch(),
        lookalikes: None,
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn polling_uses_conditional_get_and_points_items_at_the_capture() {
    let full = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let (f2, n2) = (full.clone(), not_modified.clone());
    let app = Router::new().route(
        "/feeds/elections.rss",
        get(move |headers: HeaderMap| {
            let (full, nm) = (f2.clone(), n2.clone());
            async move {
                if headers.get(h::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
                    == Some("W/\"echo-42\"")
                {
                    nm.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                full.fetch_add(1, Ordering::SeqCst);
                (
                    [
                        (h::CONTENT_TYPE, "application/rss+xml"),
                        (h::ETAG, "W/\"echo-42\""),
                    ],
                    ECHO,
                )
                    .into_response()
            }
        }),
    );
    let base = serve(app).await;
    let feed_url = format!("{base}/feeds/elections.rss");
    let source = RssSource::new("Anytown Echo", url(&feed_url));
    assert_eq!(
        (source.name(), source.kind(), source.url()),
        ("Anytown Echo", "rss", feed_url.as_str())
    );
    let ctx = test_ctx();

    let cursor = Cursor {
        state: Some(serde_json::json!({"kept": true})),
        ..Cursor::default()
    };
    let poll = source.poll(&ctx, &cursor).await.unwrap();
    assert!(!poll.not_modified);
    assert_eq!(poll.captures.len(), 1);
    let (capture, body) = &poll.captures[0];
    assert_eq!(body.as_slice(), ECHO);
    assert_eq!(capture.url, feed_url);
    assert_eq!(capture.sha256, ballotwatch_core::sha256_hex(ECHO));
    assert_eq!(poll.items.len(), 4);
    assert!(poll.items.iter().all(|(i, _)| *i == 0));
    // Relative links resolve against the feed's real location.
    let first = &poll.items[0].1;
    assert_eq!(
        first.url.as_deref(),
        Some(format!("{base}/news/2026/04/polling-stations-riverside").as_str())
    );
    assert_eq!(poll.etag.as_deref(), Some("W/\"echo-42\""));
    assert_eq!(poll.state, cursor.state);

    let next = Cursor {
        etag: poll.etag.clone(),
        last_modified: poll.last_modified.clone(),
        state: poll.state.clone(),
    };
    let again = source.poll(&ctx, &next).await.unwrap();
    assert!(again.not_modified);
    assert!(again.captures.is_empty() && again.items.is_empty());
    assert_eq!(again.etag, next.etag);
    assert_eq!(again.state, next.state);
    assert_eq!(full.load(Ordering::SeqCst), 1);
    assert_eq!(not_modified.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn polling_a_windows_1252_feed_uses_the_http_charset() {
    let app = Router::new().route(
        "/rss",
        get(|| async {
            (
                [(h::CONTENT_TYPE, "text/xml; charset=windows-1252")],
                CP1252,
            )
        }),
    );
    let base = serve(app).await;
    let source = RssSource::new("Community Radio", url(&format!("{base}/rss")));
    let poll = source.poll(&test_ctx(), &Cursor::default()).await.unwrap();
    let item = &poll.items[0].1;
    assert_eq!(
        item.title.as_deref(),
        Some("“Vote early” – Anytown turnout drive costs €0 and £0")
    );
    assert_eq!(item.matched_terms, ["Anytown"]);
    // The capture keeps the bytes exactly as received.
    assert_eq!(poll.captures[0].1.as_slice(), CP1252);
}

#[tokio::test]
async fn a_malformed_feed_names_the_source_and_url() {
    let app = Router::new()
        .route(
            "/bad.rss",
            get(|| async { ([(h::CONTENT_TYPE, "application/rss+xml")], MALFORMED) }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(h::LOCATION, "/bad.rss")]) }),
        )
        .route("/gone", get(|| async { StatusCode::GONE }));
    let base = serve(app).await;
    let ctx = test_ctx();

    let feed_url = format!("{base}/bad.rss");
    let err = RssSource::new("Anytown Echo", url(&feed_url))
        .poll(&ctx, &Cursor::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Parse { .. }), "{err:?}");
    assert_eq!(err.url(), feed_url);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "source `Anytown Echo`: {feed_url} is not a valid feed: "
        )),
        "{msg}"
    );
    assert!(!err.is_transient());

    let moved = format!("{base}/moved");
    let err = RssSource::new("Anytown Echo", url(&moved))
        .poll(&ctx, &Cursor::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with(&format!("(after redirects, the feed came from {feed_url})")),
        "{err}"
    );

    let gone = format!("{base}/gone");
    let err = RssSource::new("Anytown Echo", url(&gone))
        .poll(&ctx, &Cursor::default())
        .await
        .unwrap_err();
    match &err {
        SourceError::Fetch {
            source_name,
            error: FetchError::Status { status: 410, .. },
        } => {
            assert_eq!(source_name, "Anytown Echo");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.url(), gone);
}

proptest::proptest! {
    #[test]
    fn decoding_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), ct in proptest::option::of("[a-z/+;= -]{0,40}")) {
        let text = decode_to_utf8(&body, ct.as_deref());
        let _ = parse_feed(text.as_bytes(), ct.as_deref(), &url("https://x.test/"));
    }

    #[test]
    fn declared_encodings_are_honoured(label in proptest::sample::select(vec!["ISO-8859-1", "windows-1252", "iso-8859-15", "latin1"]), word in "[a-zA-Z]{0,8}") {
        let doc = format!("<?xml version=\"1.0\" encoding='{label}'?><rss version=\"2.0\"><channel><title>caf\u{e9} {word}</title></channel></rss>");
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&doc);
        let feed = parse_feed(&bytes, None, &url("https://x.test/")).unwrap();
        let expected = format!("café {word}");
        let title = feed.title.map(|t| t.content).unwrap_or_default();
        proptest::prop_assert_eq!(title.trim(), expected.trim());
    }
}

/// A feed with text before an XML declaration that names another encoding made quick-xml
/// assert (found by the `feed` fuzz target; the bytes are a mutation of the project's own
/// `non-utf8-latin1.xml` fixture): it is a malformed feed, not a panic.
#[test]
fn a_declaration_after_text_is_a_reason_not_a_panic() {
    let body = include_bytes!("testdata/fuzz-declaration-after-text.rss");
    let base = Url::parse("https://cafe-society.example/feed").unwrap();
    let err = parse_feed(body, Some("application/rss+xml"), &base).unwrap_err();
    assert!(matches!(err, FeedParseError::Malformed(_)), "{err:?}");
}
