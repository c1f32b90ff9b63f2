//! Telegram public channels (`kind = "telegram"`), read from the public web preview
//! `https://t.me/s/CHANNEL` with a real HTML parser (scraper).
//!
//! The preview shows the newest ~20 messages, oldest first, each a
//! `.tgme_widget_message[data-post="CHANNEL/ID"]` with its text
//! (`.tgme_widget_message_text`), photos (`.tgme_widget_message_photo_wrap`, the image in the
//! `background-image` style), video thumbnails, the time (`time[datetime]`), the channel's name
//! (`.tgme_widget_message_owner_name`) and, for a forward, where it came from
//! (`.tgme_widget_message_forwarded_from_name`). A forward's title says who it was forwarded
//! from and that channel's link is the item's first link.
//!
//! **Resume without gaps or repeats.** The cursor keeps the highest message id seen. A poll
//! reads the newest page, then older pages with `?before=LOWEST_ID_ON_THE_PAGE` until a page
//! reaches the kept id (or [`MAX_PAGES`](super::common::MAX_PAGES)); only messages above the
//! kept id become items. A first poll reads one page.

mod config;

use ballotwatch_core::{Author, Item, Media, SourceRef, WatchTerms};
pub use config::{default_telegram, telegram_channel_ok, TelegramConfig};
use scraper::{ElementRef, Html, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, HTML_ACCEPT, MAX_PAGES};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::html;

const WHAT: &str = "Telegram channel preview";
/// Where message and channel links point.
pub const WEB: &str = "https://t.me";

/// A Telegram public channel source.
#[derive(Debug, Clone)]
pub struct TelegramSource {
    name: String,
    channel: String,
    page_url: Url,
    page_text: String,
}

/// What the cursor keeps between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelegramState {
    /// The highest message id seen.
    pub last_id: Option<u64>,
}

impl TelegramSource {
    /// The source for a `[[source]]` of kind `telegram`.
    pub fn new(name: &str, cfg: &TelegramConfig) -> TelegramSource {
        let page_url = common::join_path(&cfg.base_url, &format!("s/{}", cfg.channel));
        TelegramSource {
            name: name.to_string(),
            channel: cfg.channel.clone(),
            page_text: page_url.to_string(),
            page_url,
        }
    }
}

#[async_trait::async_trait]
impl Source for TelegramSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn url(&self) -> &str {
        &self.page_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let old: TelegramState = common::load_state(&self.name, cursor.state.as_ref());
        let mut out = Collected::default();
        let mut newest = old.last_id;
        let mut before: Option<u64> = None;
        for page in 0..MAX_PAGES {
            let mut url = self.page_url.clone();
            if let Some(b) = before {
                url.query_pairs_mut().append_pair("before", &b.to_string());
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), HTML_ACCEPT, None, WHAT)
                .await?;
            let text = String::from_utf8_lossy(&body);
            let messages =
                parse_page(&self.name, &self.channel, &text, &ctx.watch).map_err(|e| {
                    SourceError::Payload {
                        source_name: self.name.clone(),
                        url: url.to_string(),
                        what: WHAT,
                        message: e.to_string(),
                    }
                })?;
            let lowest = messages.iter().map(|(id, _)| *id).min();
            for (id, item) in messages {
                if old.last_id.is_some_and(|last| id <= last) {
                    continue;
                }
                newest = Some(newest.map_or(id, |n| n.max(id)));
                out.items.push((capture, item));
            }
            let Some(lowest) = lowest else { break };
            let reached = old.last_id.is_none_or(|last| lowest <= last + 1);
            if reached || lowest <= 1 {
                break;
            }
            if page + 1 == MAX_PAGES {
                tracing::warn!(source = %self.name, "more new messages than one poll reads ({MAX_PAGES} pages); older ones in this burst are skipped");
            }
            before = Some(lowest);
        }
        Ok(out.into_poll(&TelegramState { last_id: newest }))
    }
}

fn sel(s: &str) -> Selector {
    // Only called with the literal selectors of this module, which parse.
    #[allow(clippy::expect_used)]
    Selector::parse(s).expect("a valid CSS selector")
}

/// Why a page is not read as a channel preview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The page shows neither messages nor a channel header.
    #[error(
        "the page has neither messages nor channel information; check that `{channel}` is a public channel (t.me/s/{channel} must show its posts)"
    )]
    NotAPreview {
        /// The configured channel.
        channel: String,
    },
    /// The base address links are resolved against is not a URL.
    #[error("cannot resolve links against {WEB}: {0}")]
    Base(url::ParseError),
}

/// The messages of one preview page, as (message id, item), in page order; an error when the
/// page is not a channel preview at all.
pub fn parse_page(
    source_name: &str,
    channel: &str,
    page: &str,
    watch: &WatchTerms,
) -> Result<Vec<(u64, Item)>, PageError> {
    let doc = Html::parse_document(&html::bound_page(page).html);
    let message_sel = sel(".tgme_widget_message[data-post]");
    let messages: Vec<ElementRef> = doc.select(&message_sel).collect();
    if messages.is_empty() && doc.select(&sel(".tgme_channel_info")).next().is_none() {
        return Err(PageError::NotAPreview {
            channel: channel.to_string(),
        });
    }
    let web = Url::parse(WEB).map_err(PageError::Base)?;
    let channel_title = doc
        .select(&sel(".tgme_channel_info_header_title"))
        .next()
        .map(|e| html::single_line(&e.text().collect::<String>()));
    let mut out = Vec::new();
    for m in messages {
        let Some(post) = m.value().attr("data-post") else {
            continue;
        };
        let Some(id) = post.rsplit('/').next().and_then(|n| n.parse::<u64>().ok()) else {
            tracing::debug!(
                source = source_name,
                post,
                "skipping a message without a numeric id"
            );
            continue;
        };
        if let Some(item) = message_item(
            source_name,
            channel,
            &web,
            m,
            post,
            channel_title.as_deref(),
            watch,
        ) {
            out.push((id, item));
        }
    }
    Ok(out)
}

fn message_item(
    source_name: &str,
    channel: &str,
    web: &Url,
    m: ElementRef,
    post: &str,
    channel_title: Option<&str>,
    watch: &WatchTerms,
) -> Option<Item> {
    let url = format!("{WEB}/{post}");
    let base = Url::parse(&url).unwrap_or_else(|_| web.clone());
    let body = m
        .select(&sel(".tgme_widget_message_text"))
        .next()
        .map(|t| html::from_html(&t.inner_html(), &base))
        .unwrap_or_default();
    let mut media: Vec<Media> = Vec::new();
    for wrap in m.select(&sel(
        ".tgme_widget_message_photo_wrap, .tgme_widget_message_video_thumb",
    )) {
        if let Some(u) = wrap.value().attr("style").and_then(background_image) {
            if let Some(abs) = absolute(&base, &u) {
                media.push(common::media(&abs, None));
            }
        }
    }
    for v in m.select(&sel("video[src]")) {
        if let Some(abs) = v.value().attr("src").and_then(|u| absolute(&base, u)) {
            media.push(common::media(&abs, Some("video/mp4")));
        }
    }
    media.extend(body.images.iter().map(|i| common::media(i, None)));
    let mut links = Vec::new();
    let forwarded = m
        .select(&sel(".tgme_widget_message_forwarded_from_name"))
        .next();
    let title = forwarded.map(|f| {
        if let Some(h) = f.value().attr("href").and_then(|h| absolute(&base, h)) {
            links.push(h);
        }
        format!(
            "Forwarded from {}",
            html::single_line(&f.text().collect::<String>())
        )
    });
    links.extend(body.links.iter().cloned());
    for a in m.select(&sel("a.tgme_widget_message_link_preview[href]")) {
        if let Some(h) = a.value().attr("href").and_then(|h| absolute(&base, h)) {
            links.push(h);
        }
    }
    let truncated = body.cut_reason();
    let text = Some(body.text).filter(|t| !t.is_empty());
    if text.is_none() && media.is_empty() {
        return None;
    }
    let published_at = m
        .select(&sel(
            ".tgme_widget_message_date time[datetime], time[datetime]",
        ))
        .next()
        .and_then(|t| t.value().attr("datetime"))
        .and_then(common::rfc3339);
    let owner = m
        .select(&sel(".tgme_widget_message_owner_name"))
        .next()
        .map(|o| html::single_line(&o.text().collect::<String>()))
        .filter(|n| !n.is_empty())
        .or_else(|| channel_title.map(str::to_string));
    let mut item = Item {
        id: Item::derive_id(source_name, &url),
        source: SourceRef {
            kind: "telegram".into(),
            name: source_name.into(),
        },
        url: Some(url),
        published_at,
        author: Some(Author {
            handle: Some(format!("@{channel}")),
            display_name: owner,
            platform: Some("telegram".into()),
            url: Some(format!("{WEB}/{channel}")),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        }),
        title,
        html: text.as_ref().map(|_| body.html.clone()),
        text,
        links: html::dedup_http(links),
        media: common::dedup_media(media),
        truncated,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    Some(item)
}

/// The URL inside `background-image:url('…')` of a style attribute.
fn background_image(style: &str) -> Option<String> {
    let at = style.find("background-image")?;
    let rest = &style[at..];
    let open = rest.find("url(")? + 4;
    let close = rest[open..].find(')')? + open;
    let u = rest[open..close].trim().trim_matches(['\'', '"']);
    (!u.is_empty()).then(|| u.to_string())
}

fn absolute(base: &Url, href: &str) -> Option<String> {
    let u = base.join(href.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.into())
}

#[cfg(test)]
mod tests;
