//! Watched web pages (`kind = "web"`): the council's own elections page, candidates' sites,
//! suspected lookalike sites. A new item version only when the page's main text changes, with
//! a diff against the previous version.
//!
//! A poll is one conditional GET. The main text is extracted readability-style with
//! dom_smoothie (a port of Mozilla's readability.js), falling back to the whole `<body>` when
//! the page is too short or too unusual for it (a list of polling stations can be both); the
//! extracted HTML is sanitized and rendered to text like every other source's.
//!
//! The cursor keeps the SHA-256 and the text of the last version. If the new text is the same
//! (a changed footer, a new session cookie, a 200 that should have been a 304), the poll
//! returns the capture (evidence that the page was checked) and no item. If it differs, the
//! poll returns one item with a stable id (from the source name and URL), so the store keeps it
//! as the next version of the same item, and with [`Item::diff`] set to a unified diff of the
//! text (`-` old lines, `+` new ones; none on the first version).
//!
//! The diff is quadratic in the worst case (two versions with no line in common), so it runs
//! on a blocking thread, never on the async workers, within [`DiffLimits`]: when either side
//! has more lines than `[limits] diff_max_lines`, or comparing takes longer than
//! `[limits] diff_timeout`, the version is stored all the same and its diff is a sentence
//! saying why there is no line diff.

mod config;

pub use config::WebConfig;
use std::time::{Duration, Instant};

use ballotwatch_core::{sha256_hex, Author, Item, LimitsConfig, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use similar::{Algorithm, TextDiff};
use url::Url;

use super::common::{self, Changed, HTML_ACCEPT};
use super::rss::decode_to_utf8;
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::html;

/// Longest text kept in the cursor for the next diff; a longer page is diffed on its start.
const MAX_KEPT_TEXT: usize = 512 * 1024;
/// Longest diff stored in an item.
const MAX_DIFF: usize = 64 * 1024;
/// Lines of context around each change in the diff.
const DIFF_CONTEXT: usize = 2;

/// A watched web page.
#[derive(Debug, Clone)]
pub struct WebSource {
    name: String,
    url: Url,
    url_text: String,
    diff_limits: DiffLimits,
}

/// Bounds on one line diff between two versions of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLimits {
    /// Most lines on either side (`[limits] diff_max_lines`); beyond it there is no line diff.
    pub max_lines: usize,
    /// Longest time spent comparing (`[limits] diff_timeout`); `None` has no deadline.
    pub timeout: Option<Duration>,
}

impl DiffLimits {
    /// No bounds at all: how diffs were made before the limits (for measuring them).
    pub const UNBOUNDED: DiffLimits = DiffLimits {
        max_lines: usize::MAX,
        timeout: None,
    };
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits::from(&LimitsConfig::default())
    }
}

impl From<&LimitsConfig> for DiffLimits {
    fn from(l: &LimitsConfig) -> Self {
        DiffLimits {
            max_lines: l.diff_max_lines,
            timeout: Some(l.diff_timeout),
        }
    }
}

/// What the cursor keeps between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebState {
    /// SHA-256 of the last version's text.
    pub text_sha256: Option<String>,
    /// The last version's text (cut to 512 KiB), for the next diff.
    pub text: Option<String>,
}

/// What one page yields: its title, main text (plain and sanitized HTML), links and images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageText {
    /// The article title, else the document title.
    pub title: Option<String>,
    /// Tidied plain text of the main content.
    pub text: String,
    /// Sanitized HTML of the main content.
    pub html: String,
    /// Links in the main content.
    pub links: Vec<String>,
    /// Images in the main content.
    pub images: Vec<String>,
    /// Why less than the page was kept (elements nested deeper than `[limits] max_html_depth`
    /// flattened), for the item's `truncated`.
    pub truncated: Option<String>,
    /// What the page says about itself in its metadata.
    pub meta: PageMeta,
}

/// What a page says about itself: its JSON-LD (`author`, `datePublished`, `description`,
/// `publisher`), else its `og:`, `twitter:`, `article:` and Dublin Core `<meta>` tags, as
/// Readability reads them. Each value is one line, at most [`META_MAX_CHARS`] characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// Who wrote it (`author`, `article:author`, `dc.creator`, a byline).
    pub author: Option<String>,
    /// Its summary (`description`, `og:description`, `twitter:description`).
    pub description: Option<String>,
    /// The site (`og:site_name`, the JSON-LD publisher).
    pub site_name: Option<String>,
    /// When it was published (`datePublished`, `article:published_time`), when that is an
    /// RFC 3339 time.
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The longest metadata value kept, in characters.
pub const META_MAX_CHARS: usize = 500;

/// A metadata value as kept: one line, not empty, at most [`META_MAX_CHARS`] characters.
fn meta_value(v: Option<&str>) -> Option<String> {
    let line = html::single_line(v?);
    let line = line.trim();
    (!line.is_empty()).then(|| line.chars().take(META_MAX_CHARS).collect())
}

impl WebSource {
    /// The source for a `[[source]]` of kind `web`, diffing versions within `diff_limits`.
    pub fn new(name: &str, cfg: &WebConfig, diff_limits: DiffLimits) -> WebSource {
        WebSource {
            name: name.to_string(),
            url_text: cfg.url.to_string(),
            url: cfg.url.clone(),
            diff_limits,
        }
    }
}

#[async_trait::async_trait]
impl Source for WebSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "web"
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
        }) = common::get_if_changed(ctx, &self.name, &self.url, cursor, HTML_ACCEPT).await?
        else {
            return Ok(common::unchanged(cursor));
        };
        if content_type.as_deref().is_some_and(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !(essence.starts_with("text/") || essence == "application/xhtml+xml")
        }) {
            return Err(SourceError::Payload {
                source_name: self.name.clone(),
                url: self.url_text.clone(),
                what: "web page",
                message: format!(
                    "the server sent `{}`, not HTML or text",
                    content_type.unwrap_or_default()
                ),
            });
        }
        let base = Url::parse(&capture.final_url).unwrap_or_else(|_| self.url.clone());
        let ct = content_type.clone();
        let (body, page) = tokio::task::spawn_blocking(move || {
            let html = decode_to_utf8(&body, ct.as_deref()).into_owned();
            let page = extract(&html, &base);
            (body, page)
        })
        .await
        .map_err(|e| SourceError::Payload {
            source_name: self.name.clone(),
            url: self.url_text.clone(),
            what: "web page",
            message: format!("text extraction crashed ({e}); please report this with the page"),
        })?;
        let old: WebState = common::load_state(&self.name, cursor.state.as_ref());
        let observed = last_modified
            .as_deref()
            .and_then(|lm| httpdate::parse_http_date(lm).ok())
            .map(DateTime::<Utc>::from)
            .unwrap_or(capture.finished_at);
        // The diff is quadratic at worst: off the async workers, within the limits.
        let (name, url, watch, limits) = (
            self.name.clone(),
            self.url.clone(),
            ctx.watch.clone(),
            self.diff_limits,
        );
        let (item, state) = tokio::task::spawn_blocking(move || {
            version(&name, &url, page, &old, observed, &watch, &limits)
        })
        .await
        .map_err(|e| SourceError::Payload {
            source_name: self.name.clone(),
            url: self.url_text.clone(),
            what: "web page",
            message: format!("comparing versions crashed ({e}); please report this with the page"),
        })?;
        Ok(Poll {
            captures: vec![(capture, body)],
            items: item.into_iter().map(|i| (0, i)).collect(),
            etag,
            last_modified,
            state: serde_json::to_value(&state).ok(),
            ..Poll::default()
        })
    }
}

/// The next version of the page, if its text changed since `old`, and the state to keep.
/// Blocking (the diff can take up to `limits.timeout`): call it off the async workers.
pub fn version(
    source_name: &str,
    url: &Url,
    page: PageText,
    old: &WebState,
    observed: DateTime<Utc>,
    watch: &WatchTerms,
    limits: &DiffLimits,
) -> (Option<Item>, WebState) {
    let sha = sha256_hex(page.text.as_bytes());
    if old.text_sha256.as_deref() == Some(sha.as_str()) {
        return (None, old.clone());
    }
    let kept = cut(&page.text, MAX_KEPT_TEXT).to_string();
    // Both sides as kept: a longer page is diffed on its start.
    let diff = old
        .text
        .as_deref()
        .map(|before| text_diff(cut(before, MAX_KEPT_TEXT), &kept, limits));
    let truncated = page.truncated.clone();
    let text = Some(page.text).filter(|t| !t.is_empty());
    let mut item = Item {
        id: Item::derive_id(source_name, url.as_str()),
        source: SourceRef {
            kind: "web".into(),
            name: source_name.into(),
        },
        url: Some(url.to_string()),
        published_at: Some(observed),
        author: url.host_str().map(|h| Author {
            handle: None,
            display_name: Some(h.to_string()),
            platform: Some("web".into()),
            url: Some(format!("{}://{h}/", url.scheme())),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        }),
        title: page.title.or_else(|| Some(url.to_string())),
        html: text.as_ref().map(|_| page.html),
        text,
        links: page.links,
        media: page.images.iter().map(|i| common::media(i, None)).collect(),
        diff,
        truncated,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    (
        Some(item),
        WebState {
            text_sha256: Some(sha),
            text: Some(kept),
        },
    )
}

/// A unified diff of `before` → `after`, line by line, cut to 64 KiB; or, when either side has
/// more than `limits.max_lines` lines or comparing them outlasts `limits.timeout`, a sentence
/// saying why there is no line diff.
pub fn text_diff(before: &str, after: &str, limits: &DiffLimits) -> String {
    let (old_lines, new_lines) = (line_count(before), line_count(after));
    if old_lines.max(new_lines) > limits.max_lines {
        return format!(
            "(no line diff: the previous version has {old_lines} lines and this one \
             {new_lines}, more than the {} compared ([limits] diff_max_lines); the whole new \
             text is stored)\n",
            limits.max_lines
        );
    }
    let before = ensure_newline(before);
    let after = ensure_newline(after);
    let mut config = TextDiff::configure();
    config.algorithm(Algorithm::Myers);
    let deadline = limits.timeout.map(|t| Instant::now() + t);
    if let Some(deadline) = deadline {
        config.deadline(deadline);
    }
    let diff = config.diff_lines(before.as_str(), after.as_str());
    // Past the deadline Myers gives up and calls the rest one big replacement, which is no
    // use to a reader.
    if let (Some(deadline), Some(timeout)) = (deadline, limits.timeout) {
        if Instant::now() >= deadline {
            tracing::warn!(
                old_lines,
                new_lines,
                ?timeout,
                "watched page diff stopped at [limits] diff_timeout"
            );
            return format!(
                "(no line diff: comparing the previous version ({old_lines} lines) with this \
                 one ({new_lines} lines) took longer than {} ([limits] diff_timeout); the whole \
                 new text is stored)\n",
                humantime::format_duration(timeout)
            );
        }
    }
    let diff = diff
        .unified_diff()
        .context_radius(DIFF_CONTEXT)
        .header("previous", "current")
        .to_string();
    if diff.len() > MAX_DIFF {
        format!("{}\n… (diff cut at 64 KiB)\n", cut(&diff, MAX_DIFF))
    } else {
        diff
    }
}

/// Lines as the diff counts them (a last line without a newline counts).
fn line_count(s: &str) -> usize {
    let newlines = s.bytes().filter(|b| *b == b'\n').count();
    newlines + usize::from(!s.is_empty() && !s.ends_with('\n'))
}

fn ensure_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    &s[..ballotwatch_core::floor_char_boundary(s, max)]
}

/// The main content of an HTML page: readability's article when it finds one, else the body.
pub fn extract(page: &str, base: &Url) -> PageText {
    let bounded = html::bound_page(page);
    let page_cut = bounded.cut;
    let page = bounded.html.as_ref();
    let cfg = dom_smoothie::Config {
        // Short official pages (a list of polling stations) are still the content.
        char_threshold: 200,
        ..dom_smoothie::Config::default()
    };
    let mut meta = PageMeta::default();
    let article =
        dom_smoothie::Readability::new(page, Some(base.as_str()), Some(cfg)).and_then(|mut r| {
            // Read before `parse`, which rewrites the document.
            let m = r.get_article_metadata(r.parse_json_ld());
            meta = PageMeta {
                author: meta_value(m.byline.as_deref()),
                description: meta_value(m.excerpt.as_deref()),
                site_name: meta_value(m.site_name.as_deref()),
                published_at: m
                    .published_time
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
                    .map(|t| t.with_timezone(&chrono::Utc)),
            };
            r.parse()
        });
    let (title, content) = match article {
        Ok(a) if !a.text_content.trim().is_empty() => {
            let title = Some(html::single_line(&a.title)).filter(|t| !t.is_empty());
            (title, a.content.to_string())
        }
        other => {
            if let Err(e) = other {
                tracing::debug!(url = %base, error = %e, "no readable article; using the whole page");
            }
            let doc = scraper::Html::parse_document(page);
            let pick = |css: &str| {
                scraper::Selector::parse(css).ok().and_then(|s| {
                    doc.select(&s)
                        .next()
                        .map(|e| (e.html(), e.text().collect::<String>()))
                })
            };
            let title = pick("title")
                .map(|(_, t)| html::single_line(&t))
                .filter(|t| !t.is_empty());
            let body = pick("body")
                .map(|(h, _)| h)
                .unwrap_or_else(|| page.to_string());
            (title, body)
        }
    };
    let c = html::from_html(&content, base);
    let truncated = if page_cut {
        Some(html::nesting_cut_reason(html::max_depth()))
    } else {
        c.cut_reason()
    };
    PageText {
        title,
        text: c.text,
        html: c.html,
        links: c.links,
        images: c.images,
        truncated,
        meta,
    }
}

#[cfg(test)]
mod tests;
