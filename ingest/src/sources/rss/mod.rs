//! RSS 0.9x/1.0/2.0, Atom and JSON Feed sources (`kind = "rss"`).
//!
//! A poll is one conditional GET of the feed URL, parsed with feed-rs and normalised entry by
//! entry into [`Item`](ballotwatch_core::Item)s (see [`normalise`]). Every item points at
//! capture 0, the feed response.
//!
//! ## Character sets
//! feed-rs decodes a non-UTF-8 feed only when the XML declaration names its encoding; a
//! charset given only in the HTTP `Content-Type` is ignored and the bytes are read as UTF-8,
//! which garbles `£`, `é` and curly quotes. So [`decode_to_utf8`] picks the encoding the way
//! XML-over-HTTP says to (RFC 7303: byte-order mark, then the `Content-Type` charset, then the
//! XML declaration, else UTF-8), transcodes with encoding_rs, and rewrites the declaration to
//! say UTF-8 so that feed-rs does not decode a second time.

mod config;

pub use config::RssConfig;
pub mod normalise;
pub mod prenormalise;

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};
use feed_rs::model::Feed;
use url::Url;

use super::common::{self, Changed};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::fetcher::FEED_ACCEPT;

pub use normalise::{normalise_entry, normalise_feed, normalise_feed_reporting, Normalised};

/// A feed source.
#[derive(Debug, Clone)]
pub struct RssSource {
    name: String,
    url: Url,
    url_text: String,
}

impl RssSource {
    /// A source named `name` polling `url`.
    pub fn new(name: impl Into<String>, url: Url) -> RssSource {
        RssSource {
            name: name.into(),
            url_text: url.to_string(),
            url,
        }
    }
}

#[async_trait::async_trait]
impl Source for RssSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "rss"
    }

    fn url(&self) -> &str {
        &self.url_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let Some(Changed {
            capture,
            body,
            etag,
            last_modified,
            content_type,
        }) = common::get_if_changed(ctx, &self.name, &self.url, cursor, FEED_ACCEPT).await?
        else {
            tracing::debug!(source = %self.name, "feed not modified");
            return Ok(common::unchanged(cursor));
        };
        // Relative links resolve against where the feed really is, after redirects.
        let base = Url::parse(&capture.final_url).unwrap_or_else(|_| self.url.clone());
        let name = self.name.clone();
        let watch = ctx.watch.clone();
        // Parsing and sanitizing a large feed is CPU work: keep it off the async workers.
        let (body, parsed) = tokio::task::spawn_blocking(move || {
            let parsed = parse_feed(&body, content_type.as_deref(), &base)
                .map(|feed| normalise_feed_reporting(&name, &base, feed, &watch));
            (body, parsed)
        })
        .await
        .map_err(|e| SourceError::Parse {
            source_name: self.name.clone(),
            url: self.url_text.clone(),
            message: format!("the feed parser crashed ({e}); please report this with the feed"),
        })?;
        let Normalised { items, dropped } = parsed.map_err(|message| {
            let message = if capture.final_url != self.url_text {
                format!(
                    "{message} (after redirects, the feed came from {})",
                    capture.final_url
                )
            } else {
                message.to_string()
            };
            SourceError::Parse {
                source_name: self.name.clone(),
                url: self.url_text.clone(),
                message,
            }
        })?;
        tracing::debug!(source = %self.name, items = items.len(), dropped = dropped.len(), size = capture.size, "feed parsed");
        Ok(Poll {
            captures: vec![(capture, body)],
            items: items.into_iter().map(|item| (0, item)).collect(),
            etag,
            last_modified,
            state: cursor.state.clone(),
            not_modified: false,
            dropped,
            reports: Vec::new(),
        })
    }
}

/// Why feed bytes are not a feed. The message is a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedParseError {
    /// The server answered with a web page.
    #[error(
        "the server sent a web page (Content-Type: {content_type}), not a feed; check the source's url points at the RSS or Atom feed itself"
    )]
    WebPage {
        /// The answer's `Content-Type` (`none` when it had none).
        content_type: String,
    },
    /// Nothing that starts a feed was found.
    #[error("no RSS, Atom or JSON Feed root element found; check the URL points at a feed")]
    NoFeedRoot,
    /// The feed is malformed; feed-rs's own description.
    #[error("{0}")]
    Malformed(String),
}

/// Parses feed bytes (any supported format and character set) into feed-rs's model.
///
/// `content_type` is the HTTP `Content-Type`, if any; `base` resolves relative URLs. Entries
/// without an id of their own keep an empty `id` (feed-rs would otherwise invent one from the
/// link and title, which changes when a headline is edited); [`normalise_entry`] derives a
/// stable key instead.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<Feed, FeedParseError> {
    if looks_like_html(body, content_type) {
        return Err(FeedParseError::WebPage {
            content_type: content_type.unwrap_or("none").to_string(),
        });
    }
    let utf8 = decode_to_utf8(body, content_type);
    let utf8 = prenormalise::prenormalise(&utf8);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .id_generator(|_links, _title, _uri| String::new())
        .sanitize_content(false)
        .build();
    // quick-xml 0.42 (under feed-rs) asserts on some documents it could refuse instead: an XML
    // declaration naming another encoding after other text, found by the `feed` fuzz target.
    // A hostile feed must be a reason, never a panic; the parser keeps no state between calls,
    // so nothing is left half-changed.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(utf8.as_bytes())
    }))
    .map_err(|_| {
        FeedParseError::Malformed(
            "the XML parser could not read it (an XML declaration after other text?)".into(),
        )
    })?
    .map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => FeedParseError::NoFeedRoot,
        other => FeedParseError::Malformed(other.to_string()),
    })
}

fn looks_like_html(body: &[u8], content_type: Option<&str>) -> bool {
    let ct_html = content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("text/html")
    });
    let start: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    let body_html = start.starts_with(b"<!doctype html") || start.starts_with(b"<html");
    // A feed mislabelled text/html is common; only refuse when the body agrees.
    body_html
        || (ct_html
            && !start.starts_with(b"<?xml")
            && !start.starts_with(b"<rss")
            && !start.starts_with(b"<feed")
            && !start.starts_with(b"{"))
}

/// The encoding to read `body` with: byte-order mark, else `Content-Type` charset, else the
/// XML declaration's encoding, else UTF-8 (RFC 7303 §3). Also returns the BOM length.
pub fn detect_encoding(body: &[u8], content_type: Option<&str>) -> (&'static Encoding, usize) {
    if let Some((enc, bom_len)) = Encoding::for_bom(body) {
        return (enc, bom_len);
    }
    if let Some(enc) = content_type
        .and_then(charset_param)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
    {
        return (enc, 0);
    }
    if let Some(enc) = xml_declaration(body)
        .and_then(|(decl, _)| declared_encoding(decl))
        .and_then(|(label, _)| Encoding::for_label(label.as_bytes()))
    {
        return (enc, 0);
    }
    (UTF_8, 0)
}

/// `body` as UTF-8 text, transcoded when needed, with any XML declaration saying UTF-8.
/// Undecodable bytes become U+FFFD rather than failing the whole feed.
pub fn decode_to_utf8<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let (enc, bom_len) = detect_encoding(body, content_type);
    let (text, had_errors) = enc.decode_without_bom_handling(&body[bom_len..]);
    if had_errors {
        tracing::debug!(
            encoding = enc.name(),
            "feed had bytes invalid in its encoding"
        );
    }
    let Some((decl, end)) = xml_declaration(text.as_bytes()) else {
        return text;
    };
    match declared_encoding(decl) {
        Some((label, range)) if !label.eq_ignore_ascii_case("utf-8") => {
            // The declaration is ASCII up to the label, so byte offsets are char boundaries.
            let decl_start = end - decl.len();
            let (from, to) = (decl_start + range.start, decl_start + range.end);
            Cow::Owned(format!("{}UTF-8{}", &text[..from], &text[to..]))
        }
        _ => text,
    }
}

/// The `charset` parameter of a `Content-Type` value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_string())
            .filter(|v| !v.is_empty())
    })
}

/// The XML declaration (`<?xml ... ?>`) at the start of `body`, and where it ends.
fn xml_declaration(body: &[u8]) -> Option<(&[u8], usize)> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if !body[start..].starts_with(b"<?xml") {
        return None;
    }
    let window = &body[start..body.len().min(start + 512)];
    let close = window.windows(2).position(|w| w == b"?>")?;
    let end = start + close + 2;
    Some((&body[start..end], end))
}

/// The `encoding="..."` pseudo-attribute of an XML declaration: the label and its byte range
/// inside `decl`.
fn declared_encoding(decl: &[u8]) -> Option<(String, std::ops::Range<usize>)> {
    let text = std::str::from_utf8(decl).ok()?;
    let at = text.find("encoding")?;
    let after = &text[at + "encoding".len()..];
    let rest = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value_start = text.len() - rest.len() + 1;
    let len = text[value_start..].find(quote)?;
    let range = value_start..value_start + len;
    let label = text[range.clone()].trim();
    (!label.is_empty()).then(|| (label.to_string(), range))
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
