//! YouTube sources (`kind = "youtube"`): a channel's or playlist's Atom feed
//! (`/feeds/videos.xml?channel_id=…` or `?playlist_id=…`).
//!
//! The configured `url` may be the feed itself, a channel URL (`/channel/UC…`) or a playlist
//! URL (`/playlist?list=…`); it is turned into the feed URL on the same host. A poll is one
//! conditional GET, parsed by the RSS source's parser; each video becomes an item with its
//! title, its `media:description` as text, its thumbnail as media and the channel as author
//! (`platform = "youtube"`, the channel id as handle). The Flash player URL YouTube still lists
//! as `media:content` is dropped.

mod config;

use ballotwatch_core::{Item, WatchTerms};
pub use config::{youtube_feed_url, YoutubeConfig, YoutubeUrlError};
use url::Url;

use super::common::{self, Changed};
use super::rss::{normalise_entry, parse_feed, FeedParseError};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::fetcher::FEED_ACCEPT;

/// A YouTube channel or playlist source.
#[derive(Debug, Clone)]
pub struct YoutubeSource {
    name: String,
    feed: Url,
    feed_text: String,
}

impl YoutubeSource {
    /// The source for a `[[source]]` of kind `youtube`. A URL that is not a channel,
    /// playlist or feed (refused by config validation) is fetched as given.
    pub fn new(name: &str, cfg: &YoutubeConfig) -> YoutubeSource {
        let feed = youtube_feed_url(&cfg.url).unwrap_or_else(|_| cfg.url.clone());
        YoutubeSource {
            name: name.to_string(),
            feed_text: feed.to_string(),
            feed,
        }
    }
}

#[async_trait::async_trait]
impl Source for YoutubeSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "youtube"
    }

    fn url(&self) -> &str {
        &self.feed_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let Some(Changed {
            capture,
            body,
            etag,
            last_modified,
            content_type,
        }) = common::get_if_changed(ctx, &self.name, &self.feed, cursor, FEED_ACCEPT).await?
        else {
            return Ok(common::unchanged(cursor));
        };
        let items = parse_videos(
            &self.name,
            &self.feed,
            &body,
            content_type.as_deref(),
            &ctx.watch,
        )
        .map_err(|e| SourceError::Parse {
            source_name: self.name.clone(),
            url: self.feed_text.clone(),
            message: e.to_string(),
        })?;
        Ok(Poll {
            captures: vec![(capture, body)],
            items: items.into_iter().map(|i| (0, i)).collect(),
            etag,
            last_modified,
            ..Poll::default()
        })
    }
}

/// The videos of a YouTube Atom feed as items.
pub fn parse_videos(
    source_name: &str,
    feed_url: &Url,
    body: &[u8],
    content_type: Option<&str>,
    watch: &WatchTerms,
) -> Result<Vec<Item>, FeedParseError> {
    let feed = parse_feed(body, content_type, feed_url)?;
    let channel_id = feed_url
        .query_pairs()
        .find(|(k, _)| k == "channel_id")
        .map(|(_, v)| v.into_owned());
    let feed_authors = feed.authors.clone();
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|mut entry| {
            if entry.authors.is_empty() {
                entry.authors = feed_authors.clone();
            }
            let mut item = normalise_entry(source_name, feed_url, &entry, watch)?;
            item.source.kind = "youtube".into();
            item.media.retain(|m| {
                !m.mime
                    .as_deref()
                    .is_some_and(|t| t.contains("flash") || t.starts_with("application/"))
            });
            if let Some(a) = item.author.as_mut() {
                a.platform = Some("youtube".into());
                // The channel id, from the author URI (/channel/UC…) or the feed URL.
                a.handle = a
                    .url
                    .as_deref()
                    .and_then(|u| u.split("/channel/").nth(1))
                    .map(|id| id.trim_end_matches('/').to_string())
                    .or_else(|| channel_id.clone());
            }
            Some(item)
        })
        .collect())
}

#[cfg(test)]
mod tests;
