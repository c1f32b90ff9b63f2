//! Bluesky sources (`kind = "bluesky"`): post search and watched accounts' feeds through the
//! public AppView's XRPC API.
//!
//! - Queries: `GET /xrpc/app.bsky.feed.searchPosts?q=…&sort=latest&limit=100[&cursor=…]`.
//! - Actors: `GET /xrpc/app.bsky.feed.getAuthorFeed?actor=…&limit=100[&cursor=…]`.
//!
//! **Resume without gaps or repeats.** Both answer newest first with an opaque `cursor` to the
//! next (older) page. The source cursor keeps, per query and per actor, the newest time seen
//! (`indexedAt`, or the repost's time in an author feed). A poll reads pages until it reaches a
//! post at or before that time, the server has no more pages, or
//! [`MAX_PAGES`](super::common::MAX_PAGES) were read; a query's or actor's first poll reads one
//! page. A post seen twice (at the boundary, or found by two queries) keeps one item id, derived
//! from its `at://` URI, so the store counts it once.
//!
//! **Posts → items** ([`normalise_post`]): `app.bsky.feed.defs#postView`. The handle is the
//! author handle and the DID is kept in the profile URL (`https://bsky.app/profile/did:…`), so
//! both are recorded; the item URL is `https://bsky.app/profile/HANDLE/post/RKEY`; embedded
//! images (also inside a quote with media) and video thumbnails become media; link facets and
//! external embeds become links. A repost in an author feed is the reposted post.
//!
//! With `jetstream = true` the source also has a real-time part, [`jetstream`], a websocket
//! that runs beside the polls with its own resume state.

mod config;

pub use config::{default_appview, default_jetstream_url, BlueskyConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

use ballotwatch_core::{Author, Item, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, JSON_ACCEPT, MAX_PAGES};
use super::{Cursor, Poll, PollContext, RealtimeSource, Source, SourceError};
use crate::html;

const PAGE: usize = 100;
const WHAT: &str = "Bluesky API response";
/// Where post and profile links point.
pub const WEB: &str = "https://bsky.app";

/// A Bluesky source.
#[derive(Debug, Clone)]
pub struct BlueskySource {
    name: String,
    appview: Url,
    appview_text: String,
    queries: Vec<String>,
    actors: Vec<String>,
    realtime: Option<Arc<jetstream::JetstreamSource>>,
}

/// What the cursor keeps between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlueskyState {
    /// Newest time seen per search query.
    pub queries: BTreeMap<String, DateTime<Utc>>,
    /// Newest time seen per actor.
    pub actors: BTreeMap<String, DateTime<Utc>>,
}

impl BlueskySource {
    /// The source for a `[[source]]` of kind `bluesky`.
    pub fn new(name: &str, cfg: &BlueskyConfig) -> BlueskySource {
        BlueskySource {
            name: name.to_string(),
            appview_text: cfg.appview.to_string(),
            appview: cfg.appview.clone(),
            queries: cfg.queries.clone(),
            actors: cfg
                .actors
                .iter()
                .map(|a| a.trim().trim_start_matches('@').to_string())
                .collect(),
            realtime: cfg
                .jetstream
                .then(|| Arc::new(jetstream::JetstreamSource::new(name, cfg))),
        }
    }

    /// Reads pages of one listing back to `mark`; returns the new newest time.
    async fn read(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        method: &str,
        params: &[(&str, &str)],
        mark: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, SourceError> {
        let mut newest = mark;
        let mut page_cursor: Option<String> = None;
        for page in 0..MAX_PAGES {
            let mut url = common::join_path(&self.appview, &format!("xrpc/{method}"));
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                q.append_pair("limit", &PAGE.to_string());
                if let Some(c) = &page_cursor {
                    q.append_pair("cursor", c);
                }
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, None, WHAT)
                .await?;
            let listing: Listing = common::decode_json(&self.name, &url, &body, WHAT)?;
            let entries = listing.entries();
            let mut reached_old = false;
            for (at, post) in &entries {
                // Posts older than the mark were read before. One at exactly the mark may be
                // new (two posts in the same millisecond): keep it, the store drops a repeat.
                if let Some(m) = mark {
                    if *at <= m {
                        reached_old = true;
                    }
                    if *at < m {
                        continue;
                    }
                }
                newest = Some(newest.map_or(*at, |n| n.max(*at)));
                if let Some(item) = normalise_post(&self.name, post, &ctx.watch) {
                    out.items.push((capture, item));
                }
            }
            let empty = entries.is_empty();
            page_cursor = listing.cursor.clone().filter(|c| !c.is_empty());
            if mark.is_none() || reached_old || empty || page_cursor.is_none() {
                return Ok(newest);
            }
            if page + 1 == MAX_PAGES {
                tracing::warn!(source = %self.name, method, ?params, "more new posts than one poll reads ({MAX_PAGES} pages); older ones in this burst are skipped");
            }
        }
        Ok(newest)
    }
}

#[async_trait::async_trait]
impl Source for BlueskySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "bluesky"
    }

    fn url(&self) -> &str {
        &self.appview_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let old: BlueskyState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = BlueskyState::default();
        let mut out = Collected::default();
        for q in &self.queries {
            let newest = self
                .read(
                    ctx,
                    &mut out,
                    "app.bsky.feed.searchPosts",
                    &[("q", q), ("sort", "latest")],
                    old.queries.get(q).copied(),
                )
                .await?;
            if let Some(n) = newest {
                state.queries.insert(q.clone(), n);
            }
        }
        for actor in &self.actors {
            let newest = self
                .read(
                    ctx,
                    &mut out,
                    "app.bsky.feed.getAuthorFeed",
                    &[("actor", actor)],
                    old.actors.get(actor).copied(),
                )
                .await?;
            if let Some(n) = newest {
                state.actors.insert(actor.clone(), n);
            }
        }
        Ok(out.into_poll(&state))
    }

    fn realtime(&self) -> Option<Arc<dyn RealtimeSource>> {
        self.realtime.clone().map(|r| r as Arc<dyn RealtimeSource>)
    }
}

/// The output of `searchPosts` (`posts`) or `getAuthorFeed` (`feed`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    posts: Option<Vec<PostView>>,
    #[serde(default)]
    feed: Option<Vec<FeedViewPost>>,
}

impl Listing {
    /// (time for the resume mark, post) in server order.
    fn entries(&self) -> Vec<(DateTime<Utc>, &PostView)> {
        let mut out: Vec<(DateTime<Utc>, &PostView)> = Vec::new();
        if let Some(posts) = &self.posts {
            out.extend(posts.iter().map(|p| (p.indexed_at, p)));
        }
        if let Some(feed) = &self.feed {
            out.extend(feed.iter().map(|f| {
                let at = f
                    .reason
                    .as_ref()
                    .and_then(|r| r.indexed_at)
                    .unwrap_or(f.post.indexed_at);
                (at, &f.post)
            }));
        }
        out
    }
}

/// The items in one AppView answer (`searchPosts` or `getAuthorFeed`), read as a poll reads
/// it (the same decoding and [`normalise_post`]) but without the resume mark. The way in for
/// the fuzz target and for tools that hold a saved answer; `url` names it in errors.
pub fn parse_answer(
    source_name: &str,
    url: &Url,
    body: &[u8],
    watch: &WatchTerms,
) -> Result<Vec<Item>, SourceError> {
    let listing: Listing = common::decode_json(source_name, url, body, WHAT)?;
    Ok(listing
        .entries()
        .into_iter()
        .filter_map(|(_, post)| normalise_post(source_name, post, watch))
        .collect())
}

/// `app.bsky.feed.defs#feedViewPost`.
#[derive(Debug, Deserialize)]
struct FeedViewPost {
    post: PostView,
    #[serde(default)]
    reason: Option<Reason>,
}

/// `app.bsky.feed.defs#reasonRepost` (and other reasons, which carry no time).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reason {
    #[serde(default)]
    indexed_at: Option<DateTime<Utc>>,
}

/// `app.bsky.feed.defs#postView` (the fields Ballotwatch reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    /// `at://DID/app.bsky.feed.post/RKEY`.
    pub uri: String,
    /// `app.bsky.actor.defs#profileViewBasic`.
    pub author: ProfileViewBasic,
    /// The `app.bsky.feed.post` record.
    pub record: PostRecord,
    /// The hydrated embed (`…#view`).
    #[serde(default)]
    pub embed: Option<serde_json::Value>,
    /// When the AppView indexed it.
    pub indexed_at: DateTime<Utc>,
}

/// `app.bsky.actor.defs#profileViewBasic`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileViewBasic {
    /// `did:plc:…` or `did:web:…`.
    pub did: String,
    /// The handle (`handle.invalid` when it does not verify).
    pub handle: String,
    /// The name shown.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The `app.bsky.feed.post` record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostRecord {
    /// The text.
    #[serde(default)]
    pub text: String,
    /// When the author says it was written.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Rich-text facets (links, mentions, tags).
    #[serde(default)]
    pub facets: Vec<Facet>,
    /// The raw embed (`app.bsky.embed.images` with blob refs, `…external`, …): what Jetstream
    /// sends; the AppView's hydrated view is [`PostView::embed`].
    #[serde(default)]
    pub embed: Option<serde_json::Value>,
}

/// `app.bsky.richtext.facet`.
#[derive(Debug, Clone, Deserialize)]
pub struct Facet {
    /// Its features; links have `$type` `app.bsky.richtext.facet#link` and a `uri`.
    #[serde(default)]
    pub features: Vec<serde_json::Value>,
}

/// The last segment of an `at://` URI (the record key).
fn rkey(uri: &str) -> Option<&str> {
    uri.strip_prefix("at://")?
        .rsplit('/')
        .next()
        .filter(|k| !k.is_empty())
}

/// One post view as an item, or `None` when it has no text or media.
pub fn normalise_post(source_name: &str, post: &PostView, watch: &WatchTerms) -> Option<Item> {
    let mut links = Vec::new();
    let mut media = Vec::new();
    if let Some(embed) = &post.embed {
        collect_embed(embed, &mut links, &mut media);
    }
    build_item(
        source_name,
        PostParts {
            uri: &post.uri,
            did: &post.author.did,
            handle: Some(post.author.handle.as_str()),
            display_name: post.author.display_name.as_deref(),
            record: &post.record,
            links,
            media,
            seen_at: post.indexed_at,
        },
        watch,
    )
}

/// What an item is made of, whichever way the post arrived (AppView or Jetstream).
pub(crate) struct PostParts<'a> {
    /// `at://DID/app.bsky.feed.post/RKEY`: the item id is derived from it.
    pub uri: &'a str,
    /// The author's DID.
    pub did: &'a str,
    /// The author's handle, when known (`handle.invalid` counts as unknown).
    pub handle: Option<&'a str>,
    /// The author's display name, when known.
    pub display_name: Option<&'a str>,
    /// The post record (text, facets, `createdAt`).
    pub record: &'a PostRecord,
    /// Links from the embed (facet links are added from the record).
    pub links: Vec<String>,
    /// Media from the embed.
    pub media: Vec<ballotwatch_core::Media>,
    /// When the service saw it: the published time when the record has no `createdAt`.
    pub seen_at: DateTime<Utc>,
}

/// The item for a post, or `None` when it has no text or media. The handle is shown when
/// known, else the DID; the profile URL always carries the DID, so both are recorded.
pub(crate) fn build_item(
    source_name: &str,
    post: PostParts<'_>,
    watch: &WatchTerms,
) -> Option<Item> {
    let shown = post
        .handle
        .map(str::trim)
        .filter(|h| !h.is_empty() && *h != "handle.invalid")
        .unwrap_or(post.did);
    let url = rkey(post.uri).map(|k| format!("{WEB}/profile/{shown}/post/{k}"));
    let mut links: Vec<String> = post
        .record
        .facets
        .iter()
        .flat_map(|f| &f.features)
        .filter(|f| f["$type"] == "app.bsky.richtext.facet#link")
        .filter_map(|f| f["uri"].as_str().map(str::to_string))
        .collect();
    links.extend(post.links);
    let text = Some(html::tidy_text(&post.record.text)).filter(|t| !t.is_empty());
    if text.is_none() && post.media.is_empty() {
        return None;
    }
    let body = text.as_deref().map(html::from_plain_text);
    let mut item = Item {
        id: Item::derive_id(source_name, post.uri),
        source: SourceRef {
            kind: "bluesky".into(),
            name: source_name.into(),
        },
        url,
        published_at: post
            .record
            .created_at
            .as_deref()
            .and_then(common::rfc3339)
            .or(Some(post.seen_at)),
        author: Some(Author {
            handle: Some(shown.to_string()),
            display_name: post
                .display_name
                .map(html::single_line)
                .filter(|n| !n.is_empty()),
            platform: Some("bluesky".into()),
            url: Some(format!("{WEB}/profile/{}", post.did)),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        }),
        html: body.map(|b| b.html),
        text,
        links: html::dedup_http(links),
        media: common::dedup_media(post.media),
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    Some(item)
}

/// Media and links from a hydrated embed view.
fn collect_embed(
    embed: &serde_json::Value,
    links: &mut Vec<String>,
    media: &mut Vec<ballotwatch_core::Media>,
) {
    match embed["$type"].as_str().unwrap_or_default() {
        "app.bsky.embed.images#view" => {
            for img in embed["images"].as_array().into_iter().flatten() {
                if let Some(u) = img["fullsize"].as_str().or(img["thumb"].as_str()) {
                    media.push(common::media(u, image_mime(u)));
                }
            }
        }
        "app.bsky.embed.video#view" => {
            if let Some(u) = embed["thumbnail"].as_str() {
                media.push(common::media(u, image_mime(u)));
            }
            if let Some(u) = embed["playlist"].as_str() {
                media.push(common::media(u, Some("application/x-mpegURL")));
            }
        }
        "app.bsky.embed.external#view" => {
            if let Some(u) = embed["external"]["uri"].as_str() {
                links.push(u.to_string());
            }
        }
        "app.bsky.embed.recordWithMedia#view" => {
            collect_embed(&embed["media"], links, media);
        }
        _ => {}
    }
}

/// Bluesky's CDN names the format after an `@` (`…/bafkrei…@jpeg`).
fn image_mime(url: &str) -> Option<&'static str> {
    match url.rsplit('@').next() {
        Some("jpeg") => Some("image/jpeg"),
        Some("png") => Some("image/png"),
        Some("webp") => Some("image/webp"),
        _ => None,
    }
}

pub mod jetstream;

#[cfg(test)]
mod tests;
