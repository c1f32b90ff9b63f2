//! The report inbox (`kind = "imap"`, issue 19): messages that residents, councillors and staff
//! forward to the elections inbox, each read into one report [`Item`].
//!
//! [`ImapSource`] polls one folder of the inbox over IMAP (keys: [`ImapConfig`]; the cursor is
//! the folder's `UIDVALIDITY` and the last UID read, [`ImapState`]); each message's raw bytes are
//! its capture, and [`read_message`] reads it (with the forwarded-header parser,
//! [`forwarded`]). Each message becomes one item: the subject as title, the body text (an
//! HTML body sanitised by [`crate::html::from_html`], as RSS does), every `http`/`https` URL of the
//! body in `links`. When the message forwards a post (a Gmail, Apple Mail or Outlook forwarded
//! header, or an attached `message/rfc822`), the original sender and date become the item's
//! author and `published_at`; the person who forwarded it (the envelope `From`) is the
//! [`Reporter`], personal data kept apart from the item: never in its text or author.

mod config;
pub mod forwarded;
mod idle;
mod login;
mod reply;
mod source;
mod wire;

pub use config::{
    Acknowledge, ImapConfig, Tls, DEFAULT_MAX_MESSAGES, MAX_ACK_SUBJECT, MAX_ACK_TEXT,
    MAX_MESSAGES_CEILING, REFERENCE,
};
pub use source::{batch, capture_of, resume, server_words, ImapSource, ImapState, Resume};

use ballotwatch_core::{Author, Item, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use url::Url;

use crate::html;

/// The `kind` value of a report inbox source.
pub const KIND: &str = "imap";
/// At most this many links are kept from one message body.
pub const MAX_LINKS: usize = 200;
/// At most this many bytes of one message body are read for text and links.
pub const MAX_BODY: usize = 1 << 20;

/// Who sent a report to the inbox (the envelope `From`): personal data, kept apart from the
/// item and shown to analysts and admins only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reporter {
    /// The display name, if the message gives one.
    pub name: Option<String>,
    /// The mail address, if the message gives one.
    pub address: Option<String>,
}

impl Reporter {
    /// How the report record names them: `Name <address>`, the address alone, the name
    /// alone, or `(no From)`.
    pub fn describe(&self) -> String {
        match (&self.name, &self.address) {
            (Some(n), Some(a)) => format!("{n} <{a}>"),
            (None, Some(a)) => a.clone(),
            (Some(n), None) => n.clone(),
            (None, None) => "(no From)".into(),
        }
    }
}

/// One message read as a report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The report item (no reporter data in it).
    pub item: Item,
    /// Who sent it to the inbox.
    pub reporter: Reporter,
    /// Where an acknowledgement may go: the reporter's address, unless the message is
    /// automatic (an auto-reply, a bounce, a list message) or the address is not one.
    pub reply_to: Option<String>,
    /// The attachments' names and media types, in message order (their bytes are in the raw
    /// message, the capture; the pictures and videos among them also in `media`).
    pub attachments: Vec<(Option<String>, String)>,
    /// The attachments that may be pictures or videos (declared `image/*`, `video/*` or
    /// `application/octet-stream`), decoded, at most [`MAX_MEDIA`] of them in message order:
    /// the source hands them to media capture, which sniffs what they really are.
    pub media: Vec<MediaPart>,
    /// The PDF attachments (declared `application/pdf`, named `*.pdf`, or starting with
    /// `%PDF-`), decoded, at most [`MAX_DOCUMENTS`] in message order: the source keeps each as
    /// a capture and adds its text to the item's.
    pub documents: Vec<MediaPart>,
}

/// At most this many PDF attachments of one report are read.
pub const MAX_DOCUMENTS: usize = 4;

/// At most this many of a message's links are captured as pages (the first ones: a forwarded
/// post's link comes before a signature's).
pub const MAX_LINKED_PAGES: usize = 3;

/// At most this many attachments of one report become media (as many as media capture takes
/// per item).
pub const MAX_MEDIA: usize = 8;

/// One attachment handed to media capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPart {
    /// Its place among [`Report::attachments`], from 1.
    pub number: usize,
    /// The declared media type.
    pub mime: String,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

/// Why a message could not be read as a report.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// The bytes are not an RFC 822 message.
    #[error("message {key}: not an RFC 822 message ({reason})")]
    Malformed {
        /// Which message (e.g. `UID 42`).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Reads one raw RFC 822 message (`raw`) into a report item of source `source_name`; `key`
/// names the message in errors and, without a `Message-ID`, makes the item's id (e.g.
/// `UIDVALIDITY/UID`).
pub fn read_message(
    source_name: &str,
    key: &str,
    raw: &[u8],
    watch: &WatchTerms,
) -> Result<Report, MessageError> {
    let malformed = |reason| MessageError::Malformed {
        key: key.to_string(),
        reason,
    };
    // mail-parser 0.11.9 asserts (in builds with debug assertions only) on some multipart
    // structures it otherwise reads through ("Invalid part ID"), found by the `imap` fuzz
    // target; a hostile message must be a reason, never a panic, so the parse is contained.
    // The parser keeps no state between calls, so nothing is left half-changed.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| malformed("its MIME structure could not be read"))?;
    let msg = parsed.ok_or_else(|| malformed("no headers could be read"))?;
    if msg.from().is_none() && msg.date().is_none() && msg.subject().is_none() {
        return Err(malformed("it has no From, Date or Subject header"));
    }
    let reporter = msg
        .from()
        .and_then(|a| a.first())
        .map(|a| Reporter {
            name: a.name().map(html::single_line).filter(|n| !n.is_empty()),
            address: a.address().map(str::to_string),
        })
        .unwrap_or_default();
    let base = Url::parse("https://invalid.example/").map_err(|_| malformed("base URL"))?;
    let body = body_of(&msg, &base);
    let mut text = body.text;
    let mut links = body.links;
    links.extend(text_links(&text));

    // The original post: a forwarded header in the body, else an attached message.
    let mut original = forwarded::parse(&text);
    let mut attachments = Vec::new();
    let mut media = Vec::new();
    let mut documents = Vec::new();
    for part in msg.attachments() {
        if let Some(inner) = part.message() {
            let inner_body = body_of(inner, &base);
            links.extend(inner_body.links);
            links.extend(text_links(&inner_body.text));
            if original.is_none() {
                original = Some(forwarded::Forwarded {
                    from_name: inner
                        .from()
                        .and_then(|a| a.first())
                        .and_then(|a| a.name())
                        .map(html::single_line),
                    from_address: inner
                        .from()
                        .and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .map(str::to_string),
                    date: inner
                        .date()
                        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0)),
                    subject: inner.subject().map(html::single_line),
                });
            }
            if !inner_body.text.is_empty() && text.len() < MAX_BODY {
                text.push_str("\n\n");
                text.push_str(&inner_body.text);
            }
            continue;
        }
        let ctype = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let name = part.attachment_name().unwrap_or_default();
        let is_pdf = crate::pdf::is_pdf(Some(&ctype), Some(name), part.contents());
        let maybe_media = !is_pdf
            && (ctype.starts_with("image/")
                || ctype.starts_with("video/")
                || ctype == "application/octet-stream");
        if is_pdf && documents.len() < MAX_DOCUMENTS && !part.contents().is_empty() {
            documents.push(MediaPart {
                number: attachments.len() + 1,
                mime: "application/pdf".into(),
                bytes: part.contents().to_vec(),
            });
        }
        if maybe_media && media.len() < MAX_MEDIA && !part.contents().is_empty() {
            media.push(MediaPart {
                number: attachments.len() + 1,
                mime: ctype.clone(),
                bytes: part.contents().to_vec(),
            });
        }
        attachments.push((part.attachment_name().map(str::to_string), ctype));
    }

    let (author, published_at) = match &original {
        Some(f) => (f.author(), f.date),
        None => (
            None,
            msg.date()
                .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0)),
        ),
    };
    // The reporter's address or name quoted in the body (a forwarded block's `To:` line, a
    // signature) is personal data: it stays in the capture, never in the item.
    let text = redact_reporter(&text, &reporter);
    let title = msg
        .subject()
        .map(html::single_line)
        .map(|t| redact_reporter(&t, &reporter))
        .filter(|t| !t.is_empty());
    let id_key = msg
        .message_id()
        .map(|m| format!("<{m}>"))
        .unwrap_or_else(|| key.to_string());
    let mut item = Item {
        id: Item::derive_id(source_name, &id_key),
        source: SourceRef {
            kind: KIND.into(),
            name: source_name.into(),
        },
        url: None,
        published_at,
        author,
        title,
        text: Some(text).filter(|t| !t.is_empty()),
        links: html::dedup_http(links.into_iter().take(MAX_LINKS).collect()),
        truncated: body.cut,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    let reply_to = reply::reply_address(&msg, reporter.address.as_deref());
    Ok(Report {
        item,
        reporter,
        reply_to,
        attachments,
        media,
        documents,
    })
}

/// The readable body of a message: its first text part, else its first HTML part sanitised.
struct Body {
    text: String,
    links: Vec<String>,
    cut: Option<String>,
}

fn body_of(msg: &Message<'_>, base: &Url) -> Body {
    let plain = msg
        .text_part(0)
        .and_then(|p| match &p.body {
            PartType::Text(t) => Some(t.as_ref()),
            _ => None,
        })
        .filter(|t| !t.trim().is_empty());
    if let Some(t) = plain {
        let content = html::from_plain_text(cut(t));
        return Body {
            text: content.text,
            links: Vec::new(),
            cut: None,
        };
    }
    match msg.body_html(0) {
        Some(h) => {
            let content = html::from_html(cut(&h), base);
            Body {
                cut: content.cut_reason(),
                text: content.text,
                links: content.links,
            }
        }
        None => Body {
            text: String::new(),
            links: Vec::new(),
            cut: None,
        },
    }
}

/// What stands in an item's text where the reporter's address or name was.
pub const REPORTER_MARK: &str = "[reporter]";

/// `text` with every occurrence of the reporter's mail address and display name (ASCII case
/// ignored) replaced by [`REPORTER_MARK`]. Linear in the text: one search pass per needle.
pub fn redact_reporter(text: &str, reporter: &Reporter) -> String {
    let mut out = text.to_string();
    let needles = [reporter.address.as_deref(), reporter.name.as_deref()];
    for needle in needles.into_iter().flatten().map(str::trim) {
        // A one- or two-letter name would blank out ordinary words.
        if needle.chars().count() < 3 {
            continue;
        }
        out = replace_ascii_case_insensitive(&out, needle, REPORTER_MARK);
    }
    out
}

/// `haystack` with each non-overlapping match of `needle` (ASCII letters in any case) replaced
/// by `with`.
fn replace_ascii_case_insensitive(haystack: &str, needle: &str, with: &str) -> String {
    // ASCII lowercasing keeps every byte offset, so offsets found in the lowered copy are
    // character boundaries of the original.
    let lower = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&haystack[at..at + found]);
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(&haystack[at..]);
    out
}

/// At most [`MAX_BODY`] bytes of `s`, cut at a character boundary.
fn cut(s: &str) -> &str {
    &s[..ballotwatch_core::floor_char_boundary(s, MAX_BODY)]
}

/// Every `http://` or `https://` URL in plain text (up to [`MAX_LINKS`]): one pass over the
/// text; a URL ends at whitespace, a quote or angle bracket, without trailing punctuation.
pub fn text_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while out.len() < MAX_LINKS {
        let Some(at) = rest.find("http") else { break };
        let tail = &rest[at..];
        let is_url = tail.starts_with("http://") || tail.starts_with("https://");
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        if is_url {
            let candidate = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
            if let Ok(u) = Url::parse(candidate) {
                if u.host_str().is_some() {
                    out.push(u.to_string());
                }
            }
            rest = &tail[end.max(4)..];
        } else {
            rest = &tail[4..];
        }
    }
    out
}

impl forwarded::Forwarded {
    /// The original sender as an item author (platform `email`).
    fn author(&self) -> Option<Author> {
        if self.from_name.is_none() && self.from_address.is_none() {
            return None;
        }
        Some(Author {
            handle: self.from_address.clone(),
            display_name: self.from_name.clone(),
            platform: Some("email".into()),
            url: None,
            // A forwarded header carries no profile.
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        })
    }
}

#[cfg(test)]
mod tests;
