//! Feed entries → [`Item`]s. Pure functions: no I/O, same input → same output.

use std::collections::HashMap;

use ballotwatch_core::{Author, Item, Media, SourceRef, WatchTerms};
use feed_rs::model::{Entry, Feed, FeedType, Link, Person, Text};
use sha2::{Digest, Sha256};
use url::Url;

use super::prenormalise::NO_LINK;
use crate::html::{self, HtmlContent};

/// Link relations that are about the entry itself rather than where it points.
const SKIPPED_RELS: &[&str] = &[
    "self",
    "edit",
    "edit-media",
    "replies",
    "license",
    "enclosure",
];

/// Normalises every entry of a parsed feed, giving entries without an author the feed's
/// author first. Entries with nothing to show are left out (see [`normalise_feed_reporting`]
/// for why and how many).
pub fn normalise_feed(
    source_name: &str,
    feed_url: &Url,
    feed: Feed,
    watch: &WatchTerms,
) -> Vec<Item> {
    normalise_feed_reporting(source_name, feed_url, feed, watch).items
}

/// What [`normalise_feed_reporting`] kept and what it left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalised {
    /// One item per entry kept, ids unique.
    pub items: Vec<Item>,
    /// One sentence per entry left out, saying which and why.
    pub dropped: Vec<String>,
}

/// Like [`normalise_feed`], also saying which entries were left out and why, and making sure
/// no two kept entries share an id (the store keeps only one item per id from a poll).
///
/// Ids of entries without a GUID / id or a link (see [`normalise_entry`]):
/// - with a title: source + title. Editing the body makes a new version of the same item;
///   editing the title makes a new item (there is nothing else to tie the two together).
/// - without a title: source + a hash of the body, media URLs and date. Any edit makes a new
///   item; an unchanged entry keeps its id wherever it moves in the feed.
/// - when entries of one feed share a title and have no id of their own (a live blog's
///   "Update", say), each of them is keyed by title + content hash instead, so none is lost;
///   an edit to one of those is a new item.
///
/// Entries that share a GUID / id / link with another entry of the same feed are one item:
/// an exact repeat is not reported, a differing one keeps the last (as the store does) and is
/// reported.
pub fn normalise_feed_reporting(
    source_name: &str,
    feed_url: &Url,
    feed: Feed,
    watch: &WatchTerms,
) -> Normalised {
    let feed_authors = feed.authors;
    let is_json = feed.feed_type == FeedType::JSON;
    let total = feed.entries.len();
    let mut out = Normalised::default();
    let mut keyed: Vec<(Item, Key)> = Vec::with_capacity(total);
    for (i, mut entry) in feed.entries.into_iter().enumerate() {
        if !entry.authors.iter().any(has_identity) {
            entry.authors = feed_authors.clone();
        }
        // The placeholder the pre-normaliser gives RSS 1.0 items without a link.
        entry.links.retain(|l| l.href != NO_LINK);
        if is_json {
            // feed-rs gives JSON Feed attachments as plain links, told apart from `url` and
            // `external_url` only by their (required) MIME type: they are enclosures.
            for l in &mut entry.links {
                if l.rel.is_none() && l.media_type.is_some() {
                    l.rel = Some("enclosure".into());
                }
            }
        }
        match normalise_keyed(source_name, feed_url, &entry, watch) {
            Some(pair) => keyed.push(pair),
            None => out.dropped.push(format!(
                "entry {} of {total}{} has no title, text or media",
                i + 1,
                describe(&entry)
            )),
        }
    }

    // Entries keyed by a title that another entry also has: key them by content too.
    let mut title_counts: HashMap<String, usize> = HashMap::new();
    for (_, key) in &keyed {
        if let Key::Title { title, .. } = key {
            *title_counts.entry(title.clone()).or_default() += 1;
        }
    }
    for (item, key) in &mut keyed {
        if let Key::Title { title, content } = key {
            if title_counts.get(title.as_str()).is_some_and(|n| *n > 1) {
                item.id = Item::derive_id(source_name, &format!("title:{title}\n{content}"));
            }
        }
    }

    // Same id twice: the last occurrence stands, as in the store.
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, (item, _)) in keyed.iter().enumerate() {
        last.insert(item.id.clone(), i);
    }
    let hashes: Vec<String> = keyed.iter().map(|(item, _)| item.content_hash()).collect();
    for (i, (item, _)) in keyed.into_iter().enumerate() {
        let keep = last.get(&item.id).copied().unwrap_or(i);
        if keep == i {
            out.items.push(item);
        } else if hashes.get(keep) != hashes.get(i) {
            out.dropped.push(format!(
                "an entry{} has the same id as a later, different entry of the feed; the later one was kept",
                item.title
                    .as_deref()
                    .map(|t| format!(" titled \"{}\"", truncate(t, 80)))
                    .unwrap_or_default(),
            ));
        }
    }
    if !out.dropped.is_empty() {
        tracing::info!(
            source = source_name,
            dropped = out.dropped.len(),
            "feed entries left out"
        );
    }
    out
}

/// How an item's id was derived.
enum Key {
    /// From the entry's own GUID / id or link.
    Own,
    /// From its title (`title` is the title, `content` the entry's content key).
    Title { title: String, content: String },
    /// From its content.
    Content,
}

/// `" (id …)"`, `" (link …)"` or `""`, to name an entry in a message.
fn describe(entry: &Entry) -> String {
    let id = entry.id.trim();
    if !id.is_empty() {
        return format!(" (id {})", truncate(id, 120));
    }
    entry
        .links
        .first()
        .map(|l| format!(" (link {})", truncate(l.href.trim(), 120)))
        .unwrap_or_default()
}

/// `s` cut to at most `max` characters, with "…" when cut.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// One feed entry as an [`Item`], or `None` when it has no title, text or media.
///
/// - `id`: [`Item::derive_id`] of the source name and the entry's key: its GUID / Atom id
///   when the feed gives one, else its link, else its title, else a hash of its content. The
///   same entry gets the same id on every poll, wherever it is in the feed and whatever URL
///   the feed was fetched from. (Within one feed, [`normalise_feed_reporting`] tells apart
///   entries that share a title.)
/// - `url`: the entry's alternate link (or a GUID that is an http(s) URL), made absolute.
/// - `published_at`: published, else updated.
/// - `author`: the first author with a name or URI (`display_name` = name, `url` = URI).
/// - `title`: plain text. `text`: plain text of the content, else the summary, else a media
///   description. `html`: the same body sanitized (see [`crate::html`]).
/// - `links`: the entry's links and the links inside the body, absolute http(s), no repeats.
/// - `media`: enclosures, Media RSS content and thumbnails, and images in the body.
/// - `matched_terms`: the watch terms in title and text.
///
/// Relative URLs resolve against the entry's `xml:base`, else its link, else `feed_url`.
pub fn normalise_entry(
    source_name: &str,
    feed_url: &Url,
    entry: &Entry,
    watch: &WatchTerms,
) -> Option<Item> {
    normalise_keyed(source_name, feed_url, entry, watch).map(|(item, _)| item)
}

fn normalise_keyed(
    source_name: &str,
    feed_url: &Url,
    entry: &Entry,
    watch: &WatchTerms,
) -> Option<(Item, Key)> {
    let base = entry
        .base
        .as_deref()
        .and_then(|b| feed_url.join(b).ok())
        .unwrap_or_else(|| feed_url.clone());

    let alternate = entry
        .links
        .iter()
        .find(|l| {
            l.rel
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case("alternate"))
        })
        .and_then(|l| absolute_http(&base, &l.href));
    let url = alternate.clone().or_else(|| {
        // RSS items often carry their permalink only as the GUID.
        Url::parse(entry.id.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from)
    });

    let title = entry
        .title
        .as_ref()
        .map(|t| html::single_line(&text_of(t)))
        .filter(|t| !t.is_empty());

    let body_base = alternate
        .as_deref()
        .filter(|_| entry.base.is_none())
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| base.clone());
    let body = entry_body(entry).map(|(content, is_html)| {
        if is_html {
            html::from_html(&content, &body_base)
        } else {
            html::from_plain_text(&content)
        }
    });
    let body = body.filter(|b| !b.text.is_empty() || !b.images.is_empty());

    let mut links: Vec<String> = entry
        .links
        .iter()
        .filter(|l| {
            l.rel
                .as_deref()
                .is_none_or(|r| !SKIPPED_RELS.iter().any(|s| r.eq_ignore_ascii_case(s)))
        })
        .filter_map(|l| absolute_http(&base, &l.href))
        .collect();
    if let Some(b) = &body {
        links.extend(b.links.iter().cloned());
    }
    let links = html::dedup_http(links);

    let media = collect_media(entry, &base, body.as_ref());

    let truncated = body.as_ref().and_then(HtmlContent::cut_reason);
    let HtmlContent {
        text,
        html: clean,
        images,
        ..
    } = body.unwrap_or_default();
    let text = Some(text).filter(|t| !t.is_empty());
    // Keep the HTML when it shows something: text, or images (a photo post).
    let clean =
        Some(clean).filter(|h| !h.trim().is_empty() && (text.is_some() || !images.is_empty()));

    if title.is_none() && text.is_none() && media.is_empty() {
        tracing::debug!(source = source_name, entry = %entry.id, "skipping an entry with no title, text or media");
        return None;
    }

    let (key, how) = entry_key(entry, alternate.as_deref(), title.as_deref());
    let mut item = Item {
        id: Item::derive_id(source_name, &key),
        source: SourceRef {
            kind: "rss".into(),
            name: source_name.into(),
        },
        url,
        published_at: entry.published.or(entry.updated),
        author: entry
            .authors
            .iter()
            .find(|p| has_identity(p))
            .map(|p| author_of(p, &base)),
        title,
        text,
        html: clean,
        links,
        media,
        truncated,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    Some((item, how))
}

/// The entry's identity: GUID / id, else link, else `title:` and its (plain, one-line) title,
/// else its content key; with how it was made.
fn entry_key(entry: &Entry, alternate: Option<&str>, title: Option<&str>) -> (String, Key) {
    let id = entry.id.trim();
    if !id.is_empty() {
        return (id.to_string(), Key::Own);
    }
    let link = alternate.or_else(|| {
        entry
            .links
            .iter()
            .map(|l| l.href.trim())
            .find(|h| !h.is_empty())
    });
    if let Some(link) = link {
        return (link.to_string(), Key::Own);
    }
    let content = content_key(entry);
    match title {
        Some(title) => (
            format!("title:{title}"),
            Key::Title {
                title: title.to_string(),
                content,
            },
        ),
        None => (content, Key::Content),
    }
}

/// A hash of what an entry says (summary, content, media URLs, date): the same wherever the
/// entry sits in the feed.
fn content_key(entry: &Entry) -> String {
    let mut h = Sha256::new();
    for part in [
        entry.summary.as_ref().map(|t| t.content.as_str()),
        entry.content.as_ref().and_then(|c| c.body.as_deref()),
    ] {
        h.update(part.unwrap_or_default().as_bytes());
        h.update([0u8]);
    }
    for m in &entry.media {
        for c in &m.content {
            h.update(
                c.url
                    .as_ref()
                    .map(Url::as_str)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.update([0u8]);
        }
    }
    if let Some(p) = entry.published.or(entry.updated) {
        h.update(p.to_rfc3339().as_bytes());
    }
    format!("content:{}", hex::encode(h.finalize()))
}

/// The body to show: content, else summary, else the first media description; with whether
/// it is HTML.
fn entry_body(entry: &Entry) -> Option<(String, bool)> {
    if let Some(c) = &entry.content {
        if let Some(body) = c.body.as_deref().filter(|b| !b.trim().is_empty()) {
            return Some((body.to_string(), is_html(c.content_type.as_ref())));
        }
    }
    let text = entry
        .summary
        .as_ref()
        .filter(|t| !t.content.trim().is_empty())
        .or_else(|| {
            entry
                .media
                .iter()
                .filter_map(|m| m.description.as_ref())
                .find(|t| !t.content.trim().is_empty())
        })?;
    Some((text.content.clone(), is_html(text.content_type.as_ref())))
}

fn is_html(mime: &str) -> bool {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html" | "application/xhtml+xml" | "html" | "xhtml"
    )
}

/// Plain text of a feed `Text` (HTML titles are rendered, plain ones kept).
fn text_of(t: &Text) -> String {
    if is_html(t.content_type.as_ref()) {
        html::html_to_text(&t.content)
    } else {
        t.content.clone()
    }
}

fn has_identity(p: &Person) -> bool {
    let name = p.name.as_deref().is_some_and(|n| !n.trim().is_empty());
    let uri = p.uri.as_deref().is_some_and(|u| !u.trim().is_empty());
    name || uri
}

fn author_of(p: &Person, base: &Url) -> Author {
    Author {
        handle: None,
        display_name: p
            .name
            .as_deref()
            .map(html::single_line)
            .filter(|n| !n.is_empty()),
        platform: None,
        url: p.uri.as_deref().and_then(|u| absolute_http(base, u)),
        bio: None,
        verified: None,
        followers: None,
        created_at: None,
    }
}

/// `href` resolved against `base`, if the result is an http(s) URL with a host.
fn absolute_http(base: &Url, href: &str) -> Option<String> {
    let u = base.join(href.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some()).then(|| u.into())
}

fn collect_media(entry: &Entry, base: &Url, body: Option<&HtmlContent>) -> Vec<Media> {
    let mut found: Vec<(String, Option<String>)> = Vec::new();
    for obj in &entry.media {
        for c in &obj.content {
            if let Some(u) = &c.url {
                found.push((
                    u.to_string(),
                    c.content_type.as_ref().map(|m| m.to_string()),
                ));
            }
        }
        for t in &obj.thumbnails {
            found.push((t.image.uri.clone(), None));
        }
    }
    for l in entry.links.iter().filter(|l: &&Link| {
        l.rel
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("enclosure"))
    }) {
        found.push((l.href.clone(), l.media_type.clone()));
    }
    if let Some(b) = body {
        found.extend(b.images.iter().map(|src| (src.clone(), None)));
    }

    let mut media: Vec<Media> = Vec::new();
    for (href, mime) in found {
        let Some(url) = absolute_http(base, &href) else {
            continue;
        };
        let mime = mime.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
        match media
            .iter_mut()
            .find(|m| m.url.as_deref() == Some(url.as_str()))
        {
            Some(existing) => {
                if existing.mime.is_none() {
                    existing.mime = mime;
                }
            }
            None => media.push(Media {
                url: Some(url),
                mime,
                ..Media::default()
            }),
        }
    }
    media
}

#[cfg(test)]
mod tests;
