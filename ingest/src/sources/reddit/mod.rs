//! Reddit sources (`kind = "reddit"`): subreddits' `new` listings and searches for watch
//! terms, through the public JSON endpoints.
//!
//! - Subreddits: `GET /r/NAME/new.json?limit=100&raw_json=1[&after=…]`.
//! - Queries: `GET /search.json?q=…&sort=new&type=link&limit=100&raw_json=1[&after=…]`.
//!
//! Reddit asks API clients for a descriptive `User-Agent` with a contact: the fetcher's
//! (`Ballotwatch/VERSION (+[ingest] contact_url)`) is that, so set `contact_url`. A 429 with
//! `Retry-After` fails the poll with that wait (the scheduler honours it); when the
//! `x-ratelimit-remaining` header says the allowance is used up, the poll stops paging and
//! keeps what it has.
//!
//! **Resume without gaps or repeats.** Listings are newest first and page with `after`. The
//! cursor keeps, per listing, the newest `created_utc` seen; a poll reads pages until one
//! reaches it (or no `after`, or [`MAX_PAGES`](super::common::MAX_PAGES)); a first poll reads
//! one page. Item ids come from the post's fullname (`t3_…`), so a post found by a subreddit
//! and by a search is one item. Comments are not read.

mod config;

pub use config::{default_reddit, subreddit, RedditConfig};
use std::collections::BTreeMap;

use ballotwatch_core::{Author, Item, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, JSON_ACCEPT, MAX_PAGES};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::html;

const PAGE: usize = 100;
const WHAT: &str = "Reddit listing";
/// Where permalinks point.
pub const WEB: &str = "https://www.reddit.com";

/// A Reddit source.
#[derive(Debug, Clone)]
pub struct RedditSource {
    name: String,
    base: Url,
    base_text: String,
    subreddits: Vec<String>,
    queries: Vec<String>,
}

/// What the cursor keeps: the newest `created_utc` seen per listing (`r/NAME` or
/// `search:TERMS`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedditState {
    /// Newest creation time seen, per listing.
    pub listings: BTreeMap<String, f64>,
}

impl RedditSource {
    /// The source for a `[[source]]` of kind `reddit`.
    pub fn new(name: &str, cfg: &RedditConfig) -> RedditSource {
        RedditSource {
            name: name.to_string(),
            base_text: cfg.base_url.to_string(),
            base: cfg.base_url.clone(),
            subreddits: cfg
                .subreddits
                .iter()
                .filter_map(|s| subreddit(s).map(str::to_string))
                .collect(),
            queries: cfg.queries.clone(),
        }
    }

    async fn read(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        path: &str,
        params: &[(&str, &str)],
        mark: Option<f64>,
    ) -> Result<Option<f64>, SourceError> {
        let mut newest = mark;
        let mut after: Option<String> = None;
        for page in 0..MAX_PAGES {
            let mut url = common::join_path(&self.base, path);
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                q.append_pair("limit", &PAGE.to_string());
                q.append_pair("raw_json", "1");
                if let Some(a) = &after {
                    q.append_pair("after", a);
                }
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, None, WHAT)
                .await?;
            let listing = decode_listing(&self.name, &url, &body)?;
            let mut reached_old = false;
            let count = listing.data.children.len();
            for thing in &listing.data.children {
                let Some(post) = thing.post() else { continue };
                if let Some(m) = mark {
                    if post.created_utc() <= m {
                        reached_old = true;
                    }
                    if post.created_utc() < m {
                        continue;
                    }
                }
                newest = Some(newest.map_or(post.created_utc(), |n| n.max(post.created_utc())));
                if let Some(item) = normalise_post(&self.name, post, &ctx.watch) {
                    out.items.push((capture, item));
                }
            }
            after = listing.data.after.filter(|a| !a.is_empty());
            let exhausted = out.captures.get(capture).is_some_and(|(c, _)| {
                common::rate_limit_spent(&c.headers, "x-ratelimit-remaining")
            });
            if exhausted {
                tracing::warn!(source = %self.name, %url, "Reddit's rate-limit allowance is used up; stopping here until the next poll");
            }
            if mark.is_none() || reached_old || count == 0 || after.is_none() || exhausted {
                return Ok(newest);
            }
            if page + 1 == MAX_PAGES {
                tracing::warn!(source = %self.name, path, "more new posts than one poll reads ({MAX_PAGES} pages); older ones in this burst are skipped");
            }
        }
        Ok(newest)
    }
}

#[async_trait::async_trait]
impl Source for RedditSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "reddit"
    }

    fn url(&self) -> &str {
        &self.base_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let old: RedditState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = RedditState::default();
        let mut out = Collected::default();
        for sub in &self.subreddits {
            let key = format!("r/{sub}");
            let newest = self
                .read(
                    ctx,
                    &mut out,
                    &format!("r/{sub}/new.json"),
                    &[],
                    old.listings.get(&key).copied(),
                )
                .await?;
            if let Some(n) = newest {
                state.listings.insert(key, n);
            }
        }
        for q in &self.queries {
            let key = format!("search:{q}");
            let newest = self
                .read(
                    ctx,
                    &mut out,
                    "search.json",
                    &[("q", q), ("sort", "new"), ("type", "link")],
                    old.listings.get(&key).copied(),
                )
                .await?;
            if let Some(n) = newest {
                state.listings.insert(key, n);
            }
        }
        Ok(out.into_poll(&state))
    }
}

/// A Reddit `Listing`.
#[derive(Debug, Deserialize)]
struct Listing {
    kind: String,
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    children: Vec<Thing>,
}

/// Decodes one answer, which must be a `Listing`.
fn decode_listing(source_name: &str, url: &Url, body: &[u8]) -> Result<Listing, SourceError> {
    let listing: Listing = common::decode_json(source_name, url, body, WHAT)?;
    if listing.kind != "Listing" {
        return Err(SourceError::Payload {
            source_name: source_name.to_string(),
            url: url.to_string(),
            what: WHAT,
            message: format!("its `kind` is `{}`, not `Listing`", listing.kind),
        });
    }
    Ok(listing)
}

/// The items in one listing answer, read as a poll reads it (the same decoding and
/// [`normalise_post`]) but without the resume mark. The way in for the fuzz target and for
/// tools that hold a saved answer; `url` names it in errors.
pub fn parse_answer(
    source_name: &str,
    url: &Url,
    body: &[u8],
    watch: &WatchTerms,
) -> Result<Vec<Item>, SourceError> {
    let listing = decode_listing(source_name, url, body)?;
    Ok(listing
        .data
        .children
        .iter()
        .filter_map(Thing::post)
        .filter_map(|post| normalise_post(source_name, post, watch))
        .collect())
}

/// A listing child: `t3` is a post (link); other kinds are skipped.
#[derive(Debug, Deserialize)]
struct Thing {
    kind: String,
    data: serde_json::Value,
}

impl Thing {
    fn post(&self) -> Option<&serde_json::Value> {
        (self.kind == "t3").then_some(&self.data)
    }
}

/// Reads the fields of a `t3` post that Ballotwatch uses.
#[derive(Debug, Deserialize)]
struct Post {
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    selftext: String,
    #[serde(default)]
    selftext_html: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    is_self: bool,
    created_utc: f64,
    #[serde(default)]
    post_hint: Option<String>,
    #[serde(default)]
    preview: Option<Preview>,
}

#[derive(Debug, Deserialize)]
struct Preview {
    #[serde(default)]
    images: Vec<PreviewImage>,
}

#[derive(Debug, Deserialize)]
struct PreviewImage {
    source: PreviewSource,
}

#[derive(Debug, Deserialize)]
struct PreviewSource {
    url: String,
}

trait CreatedUtc {
    fn created_utc(&self) -> f64;
}

impl CreatedUtc for serde_json::Value {
    fn created_utc(&self) -> f64 {
        self["created_utc"].as_f64().unwrap_or(0.0)
    }
}

/// One `t3` post (its `data` object) as an item, or `None` when it is not a readable post.
pub fn normalise_post(
    source_name: &str,
    data: &serde_json::Value,
    watch: &WatchTerms,
) -> Option<Item> {
    let post: Post = match serde_json::from_value(data.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(source = source_name, error = %e, "skipping a Reddit post that does not read");
            return None;
        }
    };
    let web = Url::parse(WEB).ok()?;
    let permalink = post
        .permalink
        .as_deref()
        .and_then(|p| web.join(p).ok())
        .map(String::from);
    let base = permalink
        .as_deref()
        .and_then(|p| Url::parse(p).ok())
        .unwrap_or_else(|| web.clone());
    let body = match post
        .selftext_html
        .as_deref()
        .filter(|h| !h.trim().is_empty())
    {
        Some(h) => html::from_html(h, &base),
        None => html::from_plain_text(&post.selftext),
    };
    let mut links = Vec::new();
    let mut media = Vec::new();
    if let Some(u) = post.url.as_deref().filter(|_| !post.is_self) {
        if post.post_hint.as_deref() == Some("image") {
            media.push(common::media(u, None));
        } else if Some(u) != permalink.as_deref() {
            links.push(u.to_string());
        }
    }
    links.extend(body.links.iter().cloned());
    if let Some(p) = &post.preview {
        media.extend(p.images.iter().map(|i| common::media(&i.source.url, None)));
    }
    media.extend(body.images.iter().map(|i| common::media(i, None)));
    let title = Some(html::single_line(&post.title)).filter(|t| !t.is_empty());
    let truncated = body.cut_reason();
    let text = Some(body.text).filter(|t| !t.is_empty());
    if title.is_none() && text.is_none() && media.is_empty() {
        return None;
    }
    let author = post
        .author
        .as_deref()
        .filter(|a| !a.is_empty() && *a != "[deleted]")
        .map(|a| Author {
            handle: Some(format!("u/{a}")),
            display_name: None,
            platform: Some("reddit".into()),
            url: Some(format!("{WEB}/user/{a}")),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        });
    let mut item = Item {
        id: Item::derive_id(source_name, &post.name),
        source: SourceRef {
            kind: "reddit".into(),
            name: source_name.into(),
        },
        url: permalink,
        published_at: DateTime::<Utc>::from_timestamp(post.created_utc as i64, 0),
        author,
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

#[cfg(test)]
mod tests;
