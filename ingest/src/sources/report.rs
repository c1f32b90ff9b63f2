//! Reports sent in by people (the web UI's Report page, `POST /api/v1/reports` and the public
//! report form; issue 19): the reported pages' capture and the report item, in the shape the
//! report inbox ([`super::imap`]) gives its items. Storing the report, its media and its
//! reporter is the pipeline's.
//!
//! Every reported URL is fetched with the [`Fetcher`] (SSRF guard, size cap, timeouts,
//! redirects re-checked): an HTML or text answer is read like a watched page
//! ([`super::web::extract`]: readability, sanitised, links), anything else (a picture or video
//! linked directly) is handed to media capture. A URL that cannot be fetched is kept with the
//! reason ([`PageCapture::error`]), never an error that loses the report.

use ballotwatch_core::{Author, Capture, Item, Media, SourceRef, WatchTerms};
use url::Url;

use super::common::HTML_ACCEPT;
use super::rss::decode_to_utf8;
use super::web::{extract, PageText};
use crate::fetcher::{FetchRequest, Fetched, Fetcher};
use crate::html;

/// The source `kind` of report items.
pub const KIND: &str = "report";
/// The source name of reports from the web UI and the API.
pub const SOURCE: &str = "Reports";
/// The source name of reports from the public report form.
pub const PUBLIC_SOURCE: &str = "Public reports";
/// At most this many links of one report item.
pub const MAX_LINKS: usize = super::imap::MAX_LINKS;

/// What fetching one reported URL gave.
#[derive(Debug, Clone)]
pub struct PageCapture {
    /// The URL as reported.
    pub url: Url,
    /// The answer (its evidence record and body), when there was one.
    pub fetched: Option<(Capture, Vec<u8>)>,
    /// The page's text, when the answer was HTML or text.
    pub page: Option<PageText>,
    /// Why there is no answer (refused by the SSRF guard, 404, timeout, too large…), naming
    /// the URL.
    pub error: Option<String>,
    /// The answer is a login or cookie-consent wall, not the page reported ([`wall`]): why.
    /// Its bytes are kept as the capture (what the site served), its text is not used.
    pub wall: Option<String>,
}

impl PageCapture {
    /// The answer's media type (without parameters, lower case), if it said one.
    pub fn content_type(&self) -> Option<String> {
        let (capture, _) = self.fetched.as_ref()?;
        capture
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| essence(v))
    }

    /// Whether the answer is something other than a page (a picture or video linked directly):
    /// media capture reads it.
    pub fn is_media(&self) -> bool {
        self.fetched.is_some() && self.page.is_none() && self.wall.is_none()
    }

    /// Why the reported page itself was not captured: the fetch failed, or a wall answered.
    pub fn not_captured(&self) -> Option<&str> {
        self.error.as_deref().or(self.wall.as_deref())
    }
}

/// The most text (characters) a page asking to log in may hold and still be taken for a wall:
/// a public post a site shows logged-out visitors carries its own text beside the login box.
const WALL_MAX_TEXT: usize = 1_500;

/// Words of a login prompt, lower case.
const LOGIN_WORDS: &[&str] = &[
    "log in",
    "login",
    "log into",
    "sign in",
    "sign up",
    "create new account",
    "create an account",
    "forgotten password",
    "forgot password",
];

/// Words of a cookie-consent prompt, lower case (with "cookie").
const CONSENT_WORDS: &[&str] = &[
    "accept all",
    "reject all",
    "agree",
    "consent",
    "accept cookies",
];

/// Path segments of login pages (lower case).
const LOGIN_PATHS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "sign_in",
    "checkpoint",
    "auth",
    "authwall",
];

/// Whether the page `raw` (its HTML) at `final_url` (after redirects), read as `page`, is a
/// login or cookie-consent wall rather than what was reported, and why. Signs: the redirect
/// ended on a login or consent address (a `login`/`signin`/`checkpoint`/`authwall` path,
/// a `login.`/`accounts.`/`consent.` host); or the page is short (under [`WALL_MAX_TEXT`]
/// characters of main text) and holds a password field or login words ([`LOGIN_WORDS`]) and
/// little else, or cookie words with consent words ([`CONSENT_WORDS`]).
pub fn wall(final_url: &Url, raw: &str, page: &PageText) -> Option<String> {
    let host = final_url.host_str().unwrap_or("").to_ascii_lowercase();
    let path_login = final_url.path_segments().is_some_and(|mut segs| {
        segs.any(|s| LOGIN_PATHS.contains(&s.to_ascii_lowercase().as_str()))
    }) || final_url
        .path()
        .to_ascii_lowercase()
        .contains("/i/flow/login");
    if host.starts_with("consent.") || final_url.path().contains("collectConsent") {
        return Some(format!(
            "cookie wall: {final_url} is a consent page, not the page reported"
        ));
    }
    if path_login || host.starts_with("login.") || host.starts_with("accounts.") {
        return Some(format!(
            "login wall: the site sent the request to its login page {final_url}"
        ));
    }
    let text = format!("{} {}", page.title.as_deref().unwrap_or(""), page.text).to_lowercase();
    if text.chars().count() > WALL_MAX_TEXT {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let password = lower.contains("type=\"password\"") || lower.contains("type='password'");
    let login_words = LOGIN_WORDS.iter().filter(|w| text.contains(*w)).count();
    if password || login_words >= 2 {
        return Some(format!(
            "login wall: {final_url} shows a login prompt{} instead of the content",
            if password {
                " with a password field"
            } else {
                ""
            }
        ));
    }
    if text.contains("cookie") && CONSENT_WORDS.iter().any(|w| text.contains(w)) {
        return Some(format!(
            "cookie wall: {final_url} shows a cookie-consent prompt instead of the content"
        ));
    }
    None
}

/// `text/html; charset=utf-8` → `text/html`.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a body of this media type is read as a page.
fn is_page(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        let ct = essence(ct);
        ct.is_empty() || ct.starts_with("text/") || ct == "application/xhtml+xml"
    })
}

/// Fetches `url` under every rule of `fetcher` and reads it (the text extraction runs off the
/// async workers). Never fails: a failure is the [`PageCapture::error`].
pub async fn capture_page(fetcher: &Fetcher, url: &Url) -> PageCapture {
    let mut out = PageCapture {
        url: url.clone(),
        fetched: None,
        page: None,
        error: None,
        wall: None,
    };
    let (capture, body) = match fetcher
        .get(&FetchRequest::new(url.clone(), HTML_ACCEPT))
        .await
    {
        Ok(Fetched::Body { capture, body, .. }) => (capture, body),
        Ok(Fetched::NotModified { .. }) => {
            out.error = Some(format!(
                "{url}: the server answered 304 Not Modified to a plain GET"
            ));
            return out;
        }
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.fetched = Some((capture, body));
    let ct = out.content_type();
    if is_page(ct.as_deref()) {
        let Some((capture, body)) = out.fetched.as_ref() else {
            return out;
        };
        let base = Url::parse(&capture.final_url).unwrap_or_else(|_| url.clone());
        let body = body.clone();
        let read = tokio::task::spawn_blocking(move || {
            let raw = decode_to_utf8(&body, ct.as_deref()).into_owned();
            let page = extract(&raw, &base);
            let wall = wall(&base, &raw, &page);
            (page, wall)
        })
        .await;
        match read {
            // A wall is recorded as the reason; its text is not the reported page's.
            Ok((_, Some(why))) => out.wall = Some(why),
            Ok((page, None)) => out.page = Some(page),
            Err(e) => {
                out.error = Some(format!(
                    "{url}: reading the page failed ({e}); its bytes are kept as the capture"
                ));
            }
        }
    }
    out
}

/// What a report says, as the reporter gave it (no reporter data).
#[derive(Debug, Clone, Default)]
pub struct ReportText {
    /// The reporter's note.
    pub note: String,
    /// Where it was seen, in the reporter's words (e.g. "Facebook, Anytown Residents group").
    pub seen_on: Option<String>,
    /// The platform it was seen on (e.g. `facebook`, `whatsapp`).
    pub platform: Option<String>,
    /// The group, page or chat it was seen in.
    pub group: Option<String>,
}

impl ReportText {
    /// "Seen on Facebook, group Anytown Residents", or `None` when nothing says where.
    pub fn seen_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = self.platform.as_deref().filter(|s| !s.is_empty()) {
            parts.push(p.to_string());
        }
        if let Some(g) = self.group.as_deref().filter(|s| !s.is_empty()) {
            parts.push(format!("group {g}"));
        }
        if let Some(s) = self.seen_on.as_deref().filter(|s| !s.is_empty()) {
            parts.push(s.to_string());
        }
        (!parts.is_empty()).then(|| format!("Seen on {}", parts.join(", ")))
    }
}

/// The report item of report `reference` from `source_name`: the note, where it was seen and
/// each captured page's text as its text; the first page's title (else none); the first URL as
/// its `url` (so a flagged report's page is screenshotted like any flagged item's); every
/// reported URL and the pages' links as `links`; `media` as given (the uploads, then pictures
/// linked directly, then the pages' images, as media capture takes them); the first page's
/// author from its metadata (else its site name, else its host) and its published time; each
/// page's metadata description before its text when the text does not hold it.
pub fn report_item(
    source_name: &str,
    reference: &str,
    text: &ReportText,
    pages: &[PageCapture],
    media: Vec<Media>,
    watch: &WatchTerms,
) -> Item {
    let mut body = String::new();
    let mut push = |s: &str| {
        let s = s.trim();
        if !s.is_empty() {
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(s);
        }
    };
    push(&html::from_plain_text(&text.note).text);
    if let Some(line) = text.seen_line() {
        push(&html::single_line(&line));
    }
    let mut links: Vec<String> = pages.iter().map(|p| p.url.to_string()).collect();
    let mut truncated = None;
    for p in pages {
        if let Some(page) = &p.page {
            // The page's summary in its metadata, when its text does not already say it.
            if let Some(d) = page.meta.description.as_deref() {
                if !page.text.contains(d) {
                    push(d);
                }
            }
            push(&page.text);
            links.extend(page.links.iter().cloned());
            if truncated.is_none() {
                truncated.clone_from(&page.truncated);
            }
        }
    }
    let first_page = pages.iter().find(|p| p.page.is_some());
    let first_meta = first_page.and_then(|p| p.page.as_ref()).map(|p| &p.meta);
    let title = first_page
        .and_then(|p| p.page.as_ref())
        .and_then(|p| p.title.clone());
    // The page's own author (its metadata), else its site name, else its host.
    let author = first_page.and_then(|p| {
        p.url.host_str().map(|h| Author {
            handle: None,
            display_name: first_meta
                .and_then(|m| m.author.clone().or_else(|| m.site_name.clone()))
                .or_else(|| Some(h.to_string())),
            platform: Some("web".into()),
            url: Some(format!("{}://{h}/", p.url.scheme())),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        })
    });
    let mut item = Item {
        id: Item::derive_id(source_name, reference),
        source: SourceRef {
            kind: KIND.into(),
            name: source_name.into(),
        },
        url: pages.first().map(|p| p.url.to_string()),
        published_at: first_meta.and_then(|m| m.published_at),
        author,
        title,
        text: Some(body).filter(|t| !t.is_empty()),
        links: html::dedup_http(links.into_iter().take(MAX_LINKS).collect()),
        media,
        truncated,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    item
}

/// Query parameters that only say how someone arrived (campaign tags, click ids, share
/// tokens), dropped from a reported URL's key; plus every `utm_*`.
const TRACKING: &[&str] = &[
    "fbclid", "gclid", "dclid", "msclkid", "igshid", "igsh", "mibextid", "twclid", "ttclid", "si",
    "mc_cid", "mc_eid", "ref_src", "ref_url", "s", "_ga", "_gl", "yclid", "__cft__", "__tn__",
];

fn is_tracking(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_") || TRACKING.contains(&lower.as_str())
}

/// The key reports of the same page share (`url:` and the URL's normal form): scheme and host
/// in lower case (as parsed), no default port, no user info, no fragment, no tracking
/// parameters ([`TRACKING`], `utm_*`), the remaining parameters in their order, and no
/// trailing slash on a path other than `/`. Two reports of one page with different share
/// links get the same key; different pages never do.
pub fn url_key(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    // Only fails for URLs that cannot have them (`mailto:`), which have none to clear.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    let path = u.path().to_string();
    if path.len() > 1 && path.ends_with('/') {
        u.set_path(path.trim_end_matches('/'));
        if u.path().is_empty() {
            u.set_path("/");
        }
    }
    format!("url:{u}")
}

/// The media of a page's images (after `already` media), up to `max` in all.
pub fn page_images(pages: &[PageCapture], already: usize, max: usize) -> Vec<Media> {
    pages
        .iter()
        .filter_map(|p| p.page.as_ref())
        .flat_map(|p| p.images.iter())
        .take(max.saturating_sub(already))
        .map(|u| Media {
            url: Some(u.clone()),
            ..Media::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded page and what `extract` reads of it at `url`.
    fn fixture(name: &str, url: &str) -> (Url, String, PageText) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/sources/report_testdata")
            .join(name);
        let raw = std::fs::read_to_string(path).unwrap();
        let url = Url::parse(url).unwrap();
        let page = extract(&raw, &url);
        (url, raw, page)
    }

    #[test]
    fn login_and_cookie_walls_are_told_from_pages() {
        let (url, raw, page) = fixture(
            "facebook-login-wall.html",
            "https://www.facebook.com/groups/anytownresidents/posts/1234/",
        );
        let why = wall(&url, &raw, &page).expect("a login wall");
        assert!(
            why.starts_with("login wall: ") && why.contains("password field"),
            "{why}"
        );
        let (url, raw, page) = fixture(
            "consent-interstitial.html",
            "https://www.youtube.example/watch?v=x",
        );
        let why = wall(&url, &raw, &page).expect("a cookie wall");
        assert!(why.starts_with("cookie wall: "), "{why}");
        // Redirected to a login or consent address: a wall whatever the page says.
        for (to, kind) in [
            (
                "https://www.facebook.com/login/?next=%2Fgroups%2F1",
                "login wall",
            ),
            ("https://x.example/i/flow/login", "login wall"),
            ("https://www.linkedin.example/authwall?trk=x", "login wall"),
            ("https://consent.youtube.com/m?continue=x", "cookie wall"),
        ] {
            let url = Url::parse(to).unwrap();
            let why = wall(&url, "", &PageText::default()).unwrap_or_default();
            assert!(why.starts_with(kind), "{to}: {why}");
        }
        // Pages that offer a login in passing are not walls.
        for (name, url) in [
            (
                "public-post-with-footer.html",
                "https://nextdoor.example/p/abc",
            ),
            (
                "news-article.html",
                "https://www.anytownecho.co.uk/news/mill-lane",
            ),
        ] {
            let (url, raw, page) = fixture(name, url);
            assert_eq!(wall(&url, &raw, &page), None, "{name}: {}", page.text);
        }
    }

    #[test]
    fn a_pages_metadata_gives_the_report_its_author_time_and_summary() {
        let (url, _, page) = fixture(
            "news-article.html",
            "https://www.anytownecho.co.uk/news/mill-lane",
        );
        assert_eq!(page.meta.author.as_deref(), Some("Sam Reporter"));
        assert_eq!(page.meta.site_name.as_deref(), Some("Anytown Echo"));
        assert_eq!(
            page.meta.published_at,
            Some(
                chrono::DateTime::parse_from_rfc3339("2026-05-01T06:30:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc)
            )
        );
        let summary = page.meta.description.clone().unwrap();
        assert!(
            summary.starts_with("Mill Lane polling station moves"),
            "{summary}"
        );
        let item = report_item(
            SOURCE,
            "R-000001",
            &ReportText::default(),
            &[PageCapture {
                url,
                fetched: None,
                page: Some(page),
                error: None,
                wall: None,
            }],
            Vec::new(),
            &WatchTerms::new::<&str>(&[]),
        );
        let author = item.author.unwrap();
        assert_eq!(author.display_name.as_deref(), Some("Sam Reporter"));
        assert_eq!(
            author.url.as_deref(),
            Some("https://www.anytownecho.co.uk/")
        );
        assert_eq!(
            item.published_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-05-01T06:30:00+00:00")
        );
        assert!(item.text.unwrap().contains("Riverside Methodist Church"));
        // A wall's page is neither media nor the page: it is why the URL was not captured.
        let walled = PageCapture {
            url: Url::parse("https://www.facebook.com/groups/x").unwrap(),
            fetched: None,
            page: None,
            error: None,
            wall: Some("login wall: …".into()),
        };
        assert!(!walled.is_media());
        assert_eq!(walled.not_captured(), Some("login wall: …"));
    }

    #[test]
    fn the_same_page_shared_differently_has_one_key() {
        let key = |s: &str| url_key(&Url::parse(s).unwrap());
        let base = key("https://news.example/story/42");
        for same in [
            "HTTPS://News.Example/story/42/",
            "https://news.example:443/story/42?utm_source=fb&utm_medium=social",
            "https://news.example/story/42?fbclid=IwAR0abc#comments",
            "https://user:pw@news.example/story/42?UTM_Campaign=x&igshid=1",
        ] {
            assert_eq!(key(same), base, "{same}");
        }
        assert_eq!(base, "url:https://news.example/story/42");
        for other in [
            "https://news.example/story/43",
            "http://news.example/story/42",
            "https://news.example/story/42?page=2",
            "https://www.news.example/story/42",
        ] {
            assert_ne!(key(other), base, "{other}");
        }
        assert_eq!(
            key("https://x.example/?b=2&utm_x=1&a=1"),
            "url:https://x.example/?b=2&a=1"
        );
        assert_eq!(key("https://x.example/"), "url:https://x.example/");
    }

    proptest::proptest! {
        #[test]
        fn url_keys_are_stable(path in "[a-zA-Z0-9/._~-]{0,40}", q in "[a-z_=&0-9]{0,30}") {
            if let Ok(u) = Url::parse(&format!("https://h.example/{path}?{q}")) {
                let k = url_key(&u);
                let again = url_key(&Url::parse(k.trim_start_matches("url:")).unwrap());
                proptest::prop_assert_eq!(k, again);
            }
        }
    }

    fn page(url: &str, title: &str, text: &str, links: &[&str]) -> PageCapture {
        PageCapture {
            url: Url::parse(url).unwrap(),
            fetched: None,
            page: Some(PageText {
                title: Some(title.into()),
                text: text.into(),
                links: links.iter().map(|s| s.to_string()).collect(),
                ..PageText::default()
            }),
            error: None,
            wall: None,
        }
    }

    #[test]
    fn a_report_item_carries_the_note_where_it_was_seen_and_the_pages() {
        let watch = WatchTerms::new(&["Anytown".to_string()]);
        let text = ReportText {
            note: "Saw this shared in a group".into(),
            seen_on: None,
            platform: Some("Facebook".into()),
            group: Some("Anytown Residents".into()),
        };
        let failed = PageCapture {
            url: Url::parse("http://10.0.0.1/x").unwrap(),
            fetched: None,
            page: None,
            error: Some("refused".into()),
            wall: None,
        };
        let pages = [
            page(
                "https://anytown-gov.uk/vote",
                "Anytown Council: vote by text",
                "Text your vote to 80000",
                &["https://anytown-gov.uk/more"],
            ),
            failed,
        ];
        let a = report_item(SOURCE, "R-000001", &text, &pages, Vec::new(), &watch);
        let b = report_item(SOURCE, "R-000002", &text, &pages, Vec::new(), &watch);
        assert_ne!(a.id, b.id, "each report is its own item");
        assert_eq!(a.source.kind, KIND);
        assert_eq!(a.title.as_deref(), Some("Anytown Council: vote by text"));
        assert_eq!(a.url.as_deref(), Some("https://anytown-gov.uk/vote"));
        let body = a.text.as_deref().unwrap();
        assert!(body.starts_with("Saw this shared in a group"), "{body}");
        assert!(
            body.contains("Seen on Facebook, group Anytown Residents"),
            "{body}"
        );
        assert!(body.contains("Text your vote to 80000"), "{body}");
        assert!(a.links.contains(&"https://anytown-gov.uk/more".to_string()));
        assert!(a.links.contains(&"http://10.0.0.1/x".to_string()));
        assert_eq!(a.matched_terms, ["Anytown"]);
        assert_eq!(
            a.author.unwrap().display_name.as_deref(),
            Some("anytown-gov.uk")
        );
    }

    #[test]
    fn a_note_alone_is_a_report() {
        let text = ReportText {
            note: "Someone at the school gate said polling is on Friday".into(),
            ..ReportText::default()
        };
        let item = report_item(
            PUBLIC_SOURCE,
            "R-000003",
            &text,
            &[],
            Vec::new(),
            &WatchTerms::new::<&str>(&[]),
        );
        assert_eq!(item.url, None);
        assert_eq!(item.title, None);
        assert_eq!(item.source.name, PUBLIC_SOURCE);
        assert!(item.text.unwrap().contains("Friday"));
        assert_eq!(text.seen_line(), None);
    }

    #[test]
    fn only_text_answers_are_read_as_pages() {
        assert!(is_page(Some("text/html; charset=utf-8")));
        assert!(is_page(Some("application/xhtml+xml")));
        assert!(is_page(None));
        assert!(!is_page(Some("image/png")));
        assert!(!is_page(Some("video/mp4")));
    }
}
