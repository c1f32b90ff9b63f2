//! X sources (`kind = "x"`): recent search and account timelines through the X API v2, for a
//! council with API access (X has no open feed).
//!
//! - Queries: `GET /2/tweets/search/recent?query=…&since_id=…&next_token=…`.
//! - Accounts: `GET /2/users/by/username/:name` once (the id is kept in the cursor), then
//!   `GET /2/users/:id/tweets?since_id=…&pagination_token=…`.
//!
//! Every request asks for the author, media and referenced-post expansions, so one page holds
//! everything its items need. The bearer token comes from the variable `token_env` names and
//! is a request header (never in a capture).
//!
//! **Resume without gaps or repeats.** X returns the newest posts first. The cursor keeps, per
//! query or account, `since_id`: the newest post id already read. A poll follows `next_token`
//! pages until they run out, then moves `since_id` to the newest id it saw. If the pages do
//! not run out (more than [`MAX_PAGES`](super::common::MAX_PAGES) pages, or
//! `x-rate-limit-remaining: 0`), the cursor keeps the old `since_id` and the page token to go
//! on from, with the newest id seen, and the next poll continues there; nothing between is
//! skipped. A query's first poll reads only its newest page.
//!
//! **Rate limits and refusals.** A 429 carries the `x-rate-limit-reset` time as the wait
//! before the next poll. A 401 (a wrong, expired or revoked token) and a 403 (an app whose
//! access level lacks the endpoint) are setup errors quoting X's own explanation. An account
//! X cannot find, and any partial error in a page, is named in the poll's `dropped` list while
//! the rest goes on.
//!
//! **Posts → items.** A repost is resolved to the original (same item whoever reposted it);
//! long posts' full text (`note_tweet`) is used; `t.co` links are replaced by the addresses
//! they stand for, which also become the item's links; photos, and the best MP4 of a video or
//! GIF, become its media. The item id is derived from the post id.

mod config;

pub use config::{account_name, default_x_api, XConfig, MAX_QUERY_LEN};

use std::collections::{BTreeMap, HashMap};

use ballotwatch_core::{Author, Item, Media, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, JSON_ACCEPT, MAX_PAGES};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::fetcher::FetchError;
use crate::html;

/// Posts asked for per page (the API's maximum).
const PAGE: usize = 100;
const WHAT: &str = "X API response";
const WEB: &str = "https://x.com";
/// The fields and expansions every request asks for.
const FIELDS: [(&str, &str); 4] = [
    (
        "tweet.fields",
        "created_at,author_id,entities,attachments,referenced_tweets,note_tweet,lang",
    ),
    (
        "expansions",
        "author_id,attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id",
    ),
    (
        "user.fields",
        "username,name,verified,created_at,description,public_metrics",
    ),
    (
        "media.fields",
        "media_key,type,url,preview_image_url,variants,alt_text",
    ),
];
/// The most links read from one post (a long post holds far fewer).
const MAX_LINKS: usize = 100;

/// An X source.
#[derive(Debug, Clone)]
pub struct XSource {
    name: String,
    base: Url,
    base_text: String,
    queries: Vec<String>,
    accounts: Vec<String>,
    token_env: String,
}

/// What the cursor keeps between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct XState {
    /// Per query, where its results were read up to.
    pub queries: BTreeMap<String, Timeline>,
    /// Per configured account (without `@`): its id and where its timeline was read up to.
    pub accounts: BTreeMap<String, AccountState>,
}

/// How far one query or timeline was read.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeline {
    /// The newest post id read completely up to.
    pub since_id: Option<String>,
    /// A burst of new posts being read over several polls.
    pub resume: Option<Resume>,
}

/// Where an unfinished burst goes on.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The page token of the next page.
    pub next_token: String,
    /// The newest post id seen in the burst (the next `since_id` once it is read).
    pub newest_id: String,
}

/// The cursor of one watched account.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountState {
    /// The account's user id.
    pub id: String,
    /// How far its timeline was read.
    pub timeline: Timeline,
}

/// One page of posts (search or timeline) with its expansions.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    /// The posts.
    #[serde(default)]
    pub data: Vec<Tweet>,
    /// What the expansions brought: authors, media and referenced posts.
    #[serde(default)]
    pub includes: Includes,
    /// Paging.
    #[serde(default)]
    pub meta: Meta,
    /// Partial errors (e.g. a referenced post that was deleted).
    #[serde(default)]
    pub errors: Vec<Problem>,
}

/// The objects a page's expansions bring.
#[derive(Debug, Default, Deserialize)]
pub struct Includes {
    /// Authors.
    #[serde(default)]
    pub users: Vec<User>,
    /// Attached media.
    #[serde(default)]
    pub media: Vec<XMedia>,
    /// Referenced (reposted, quoted, replied-to) posts.
    #[serde(default)]
    pub tweets: Vec<Tweet>,
}

/// A page's paging metadata.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    /// The newest post id in the page.
    #[serde(default)]
    pub newest_id: Option<String>,
    /// The token of the next (older) page, if there is one.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// A post (the fields Ballotwatch reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Tweet {
    /// The post id.
    pub id: String,
    /// The text (up to 280 characters; see `note_tweet`), with `&`, `<` and `>` escaped.
    #[serde(default)]
    pub text: String,
    /// The author's user id.
    #[serde(default)]
    pub author_id: Option<String>,
    /// When it was posted.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Links and mentions in `text`.
    #[serde(default)]
    pub entities: Option<Entities>,
    /// Attached media.
    #[serde(default)]
    pub attachments: Option<Attachments>,
    /// Posts this one reposts, quotes or replies to.
    #[serde(default)]
    pub referenced_tweets: Vec<Reference>,
    /// The full text of a long post.
    #[serde(default)]
    pub note_tweet: Option<NoteTweet>,
}

/// The full text of a long post, with its own entities.
#[derive(Debug, Clone, Deserialize)]
pub struct NoteTweet {
    /// The whole text.
    #[serde(default)]
    pub text: String,
    /// Links in it.
    #[serde(default)]
    pub entities: Option<Entities>,
}

/// Entities of a text.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Entities {
    /// Links (as `t.co` addresses with what they stand for).
    #[serde(default)]
    pub urls: Vec<UrlEntity>,
}

/// A link in a post.
#[derive(Debug, Clone, Deserialize)]
pub struct UrlEntity {
    /// The `t.co` address written in the text.
    #[serde(default)]
    pub url: String,
    /// The address it stands for.
    #[serde(default)]
    pub expanded_url: Option<String>,
    /// Set when the link is the post's own attached media.
    #[serde(default)]
    pub media_key: Option<String>,
}

/// Media keys of a post.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attachments {
    /// Keys into `includes.media`.
    #[serde(default)]
    pub media_keys: Vec<String>,
}

/// A reference to another post.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// `retweeted`, `quoted` or `replied_to`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The referenced post's id.
    #[serde(default)]
    pub id: String,
}

/// A user (the fields Ballotwatch reads).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The `@name`, without `@`.
    #[serde(default)]
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub name: String,
    /// The profile's description.
    #[serde(default)]
    pub description: String,
    /// The tick (`verified`; paid or organisational). Kept loose: a malformed value is dropped,
    /// never a reason to lose the post.
    #[serde(default)]
    pub verified: Option<serde_json::Value>,
    /// When the account was created (RFC 3339), kept loose like `verified`.
    #[serde(default)]
    pub created_at: Option<serde_json::Value>,
    /// `public_metrics.followers_count` and friends, kept loose.
    #[serde(default)]
    pub public_metrics: Option<serde_json::Value>,
}

/// A media object.
#[derive(Debug, Clone, Deserialize)]
pub struct XMedia {
    /// Its key.
    #[serde(default)]
    pub media_key: String,
    /// `photo`, `video` or `animated_gif`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A photo's address.
    #[serde(default)]
    pub url: Option<String>,
    /// A video's still.
    #[serde(default)]
    pub preview_image_url: Option<String>,
    /// A video's encodings.
    #[serde(default)]
    pub variants: Vec<Variant>,
}

/// One encoding of a video.
#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    /// Bits per second (absent for HLS playlists).
    #[serde(default)]
    pub bit_rate: Option<u64>,
    /// `video/mp4` or `application/x-mpegURL`.
    #[serde(default)]
    pub content_type: String,
    /// Where it is served.
    #[serde(default)]
    pub url: String,
}

/// An error object, in a page's `errors` or as a whole error response (RFC 7807 style).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    /// A short title (`Not Found Error`, `Unauthorized`, `Client Forbidden`).
    #[serde(default)]
    pub title: Option<String>,
    /// The explanation.
    #[serde(default)]
    pub detail: Option<String>,
    /// A machine-readable reason (`client-not-enrolled`).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Problem {
    /// "title: detail" on one line, at most [`common::quote`]'s length.
    fn describe(&self) -> String {
        let text = match (&self.title, &self.detail) {
            (Some(t), Some(d)) if t != d => format!("{t}: {d}"),
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => self.reason.clone().unwrap_or_default(),
        };
        common::quote(&text)
    }
}

/// The answer of a user lookup.
#[derive(Debug, Default, Deserialize)]
struct Lookup {
    #[serde(default)]
    data: Option<User>,
    #[serde(default)]
    errors: Vec<Problem>,
}

/// Which kind of list a timeline is read from (the page parameter differs).
#[derive(Debug, Clone, Copy)]
enum List {
    Search,
    User,
}

impl XSource {
    /// The source for a `[[source]]` of kind `x`.
    pub fn new(name: &str, cfg: &XConfig) -> XSource {
        XSource {
            name: name.to_string(),
            base_text: cfg.base_url.to_string(),
            base: cfg.base_url.clone(),
            queries: cfg.queries.iter().map(|q| q.trim().to_string()).collect(),
            accounts: cfg
                .accounts
                .iter()
                .map(|a| account_name(a).to_string())
                .collect(),
            token_env: cfg.token_env.clone(),
        }
    }

    /// A refusal (401, 403) as a setup error quoting X's reason; anything else unchanged.
    fn refusal(&self, e: SourceError) -> SourceError {
        let SourceError::Fetch {
            error:
                FetchError::Status {
                    url,
                    status: status @ (401 | 403),
                    detail,
                    ..
                },
            ..
        } = &e
        else {
            return e;
        };
        let said = detail
            .as_deref()
            .and_then(|d| serde_json::from_str::<Problem>(d).ok())
            .map(|p| p.describe())
            .filter(|s| !s.is_empty())
            .map(|s| format!(" (X says: {s})"))
            .unwrap_or_default();
        let message = if *status == 401 {
            format!(
                "X refused the bearer token in `{}` with HTTP 401{said}: it is wrong, expired or revoked; create a new bearer token for the app in the X developer portal and set the variable to it",
                self.token_env
            )
        } else {
            format!(
                "X refused {url} with HTTP 403{said}: the app's access level does not include this endpoint (recent search and user timelines need Basic access or above); upgrade the app or remove the queries or accounts it cannot read"
            )
        };
        SourceError::Setup {
            source_name: self.name.clone(),
            url: url.clone(),
            message,
        }
    }

    /// Reads one query's results or one account's timeline on from `old`; returns how far
    /// it got. `dropped` collects partial errors.
    #[allow(clippy::too_many_arguments)]
    async fn read_timeline(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        dropped: &mut Vec<String>,
        path: &str,
        params: &[(&str, &str)],
        list: List,
        old: &Timeline,
        token: &str,
    ) -> Result<Timeline, SourceError> {
        let first_poll = old.since_id.is_none() && old.resume.is_none();
        let mut next = old.resume.as_ref().map(|r| r.next_token.clone());
        let mut newest = old.resume.as_ref().map(|r| r.newest_id.clone());
        for page in 0..MAX_PAGES {
            let mut url = common::join_path(&self.base, path);
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params.iter().chain(FIELDS.iter()) {
                    q.append_pair(k, v);
                }
                q.append_pair("max_results", &PAGE.to_string());
                if let Some(id) = &old.since_id {
                    q.append_pair("since_id", id);
                }
                if let Some(t) = &next {
                    let key = match list {
                        List::Search => "next_token",
                        List::User => "pagination_token",
                    };
                    q.append_pair(key, t);
                }
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, Some(token), WHAT)
                .await
                .map_err(|e| self.refusal(e))?;
            let page_data: Page = common::decode_json(&self.name, &url, &body, WHAT)?;
            for p in &page_data.errors {
                dropped.push(format!("{path}: X reported {}", p.describe()));
            }
            for tweet in &page_data.data {
                if newest
                    .as_deref()
                    .is_none_or(|n| compare_ids(&tweet.id, n).is_gt())
                {
                    newest = Some(tweet.id.clone());
                }
                if let Some(item) =
                    normalise_tweet(&self.name, tweet, &page_data.includes, &ctx.watch)
                {
                    out.items.push((capture, item));
                }
            }
            next = page_data.meta.next_token.filter(|t| !t.is_empty());
            let spent = out.captures.get(capture).is_some_and(|(c, _)| {
                common::rate_limit_spent(&c.headers, "x-rate-limit-remaining")
            });
            let done = first_poll || next.is_none();
            if done {
                return Ok(Timeline {
                    since_id: newest.or_else(|| old.since_id.clone()),
                    resume: None,
                });
            }
            if spent || page + 1 == MAX_PAGES {
                if spent {
                    tracing::warn!(source = %self.name, path, "X's rate-limit allowance is used up; the rest follows next poll");
                } else {
                    tracing::info!(source = %self.name, path, "more new posts than one poll reads; the rest follows next poll");
                }
                break;
            }
        }
        Ok(match (next, newest) {
            (Some(next_token), Some(newest_id)) => Timeline {
                since_id: old.since_id.clone(),
                resume: Some(Resume {
                    next_token,
                    newest_id,
                }),
            },
            (_, newest) => Timeline {
                since_id: newest.or_else(|| old.since_id.clone()),
                resume: None,
            },
        })
    }

    /// The user id of `@name`, or `None` (with the reason in `dropped`) when X has no such
    /// account (deleted, suspended, misspelt).
    async fn lookup(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        dropped: &mut Vec<String>,
        name: &str,
        token: &str,
    ) -> Result<Option<String>, SourceError> {
        let mut url = common::join_path(&self.base, &format!("2/users/by/username/{name}"));
        url.query_pairs_mut().append_pair(
            "user.fields",
            "username,name,verified,created_at,description,public_metrics",
        );
        let (_, body) = out
            .get(ctx, &self.name, url.clone(), JSON_ACCEPT, Some(token), WHAT)
            .await
            .map_err(|e| self.refusal(e))?;
        let found: Lookup = common::decode_json(&self.name, &url, &body, WHAT)?;
        match found.data {
            Some(user) if !user.id.is_empty() => Ok(Some(user.id)),
            _ => {
                let why = found
                    .errors
                    .first()
                    .map(Problem::describe)
                    .unwrap_or_else(|| "no such account".into());
                dropped.push(format!(
                    "account @{name}: X could not find it ({why}); check the name in `accounts`"
                ));
                Ok(None)
            }
        }
    }
}

#[async_trait::async_trait]
impl Source for XSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "x"
    }

    fn url(&self) -> &str {
        &self.base_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let token = common::token_from_env(&self.name, &self.base_text, &self.token_env)?;
        let old: XState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = XState::default();
        let mut out = Collected::default();
        let mut dropped = Vec::new();
        for query in &self.queries {
            let before = old.queries.get(query).cloned().unwrap_or_default();
            let read = self
                .read_timeline(
                    ctx,
                    &mut out,
                    &mut dropped,
                    "2/tweets/search/recent",
                    &[("query", query.as_str())],
                    List::Search,
                    &before,
                    &token,
                )
                .await?;
            state.queries.insert(query.clone(), read);
        }
        for name in &self.accounts {
            let mut acc = old.accounts.get(name).cloned().unwrap_or_default();
            if acc.id.is_empty() {
                match self
                    .lookup(ctx, &mut out, &mut dropped, name, &token)
                    .await?
                {
                    Some(id) => acc.id = id,
                    None => continue,
                }
            }
            let path = format!("2/users/{}/tweets", acc.id);
            acc.timeline = self
                .read_timeline(
                    ctx,
                    &mut out,
                    &mut dropped,
                    &path,
                    &[],
                    List::User,
                    &acc.timeline,
                    &token,
                )
                .await?;
            state.accounts.insert(name.clone(), acc);
        }
        let mut poll = out.into_poll(&state);
        poll.dropped = dropped;
        Ok(poll)
    }
}

/// Orders post ids (decimal snowflakes) by value; anything else as text.
fn compare_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

/// X escapes `&`, `<` and `>` in post text; this undoes it.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// True for the `x.com/…/photo/1` and `…/video/1` addresses X writes for attached media.
fn is_media_link(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| {
        matches!(
            u.host_str(),
            Some("x.com" | "twitter.com" | "www.x.com" | "www.twitter.com")
        ) && u
            .path_segments()
            .is_some_and(|mut s| s.any(|p| p == "photo" || p == "video"))
    })
}

/// One post as an item (a repost as the original), or `None` when it shows nothing.
pub fn normalise_tweet(
    source_name: &str,
    tweet: &Tweet,
    includes: &Includes,
    watch: &WatchTerms,
) -> Option<Item> {
    let tweets: HashMap<&str, &Tweet> =
        includes.tweets.iter().map(|t| (t.id.as_str(), t)).collect();
    let t = tweet
        .referenced_tweets
        .iter()
        .find(|r| r.kind == "retweeted")
        .and_then(|r| tweets.get(r.id.as_str()).copied())
        .unwrap_or(tweet);
    let (raw, entities) = match &t.note_tweet {
        Some(n) if !n.text.trim().is_empty() => (&n.text, n.entities.as_ref()),
        _ => (&t.text, t.entities.as_ref()),
    };
    let mut text = unescape(raw);
    let mut links = Vec::new();
    let urls = entities.map(|e| e.urls.as_slice()).unwrap_or_default();
    // Only X's own short links are replaced, and no more of them than a post can hold.
    for e in urls.iter().take(MAX_LINKS) {
        let expanded = e.expanded_url.as_deref().filter(|u| !u.is_empty());
        let media = e.media_key.is_some() || expanded.is_some_and(is_media_link);
        if !e.url.starts_with("https://t.co/") && !e.url.starts_with("http://t.co/") {
            continue;
        }
        if media {
            text = text.replace(&e.url, "");
        } else if let Some(x) = expanded {
            text = text.replace(&e.url, x);
            links.push(x.to_string());
        }
    }
    for r in &t.referenced_tweets {
        if r.kind == "quoted" && !r.id.is_empty() {
            links.push(format!("{WEB}/i/web/status/{}", r.id));
        }
    }
    let media_by_key: HashMap<&str, &XMedia> = includes
        .media
        .iter()
        .map(|m| (m.media_key.as_str(), m))
        .collect();
    let media: Vec<Media> = t
        .attachments
        .iter()
        .flat_map(|a| &a.media_keys)
        .filter_map(|k| media_by_key.get(k.as_str()).copied())
        .filter_map(media_of)
        .collect();
    let text = Some(html::tidy_text(&text)).filter(|t| !t.is_empty());
    if text.is_none() && media.is_empty() {
        return None;
    }
    let user = t
        .author_id
        .as_deref()
        .and_then(|id| includes.users.iter().find(|u| u.id == id))
        .filter(|u| !u.username.is_empty());
    let url = match user {
        Some(u) => format!("{WEB}/{}/status/{}", u.username, t.id),
        None => format!("{WEB}/i/web/status/{}", t.id),
    };
    let body = text.as_deref().map(html::from_plain_text);
    let mut item = Item {
        id: Item::derive_id(source_name, &format!("{WEB}/i/web/status/{}", t.id)),
        source: SourceRef {
            kind: "x".into(),
            name: source_name.into(),
        },
        url: Some(url),
        published_at: t.created_at,
        author: user.map(|u| Author {
            handle: Some(format!("@{}", u.username)),
            display_name: Some(html::single_line(&u.name)).filter(|n| !n.is_empty()),
            platform: Some("x".into()),
            url: Some(format!("{WEB}/{}", u.username)),
            bio: Some(u.description.trim().to_string()).filter(|b| !b.is_empty()),
            verified: u.verified.as_ref().and_then(serde_json::Value::as_bool),
            followers: u
                .public_metrics
                .as_ref()
                .and_then(|m| m.get("followers_count"))
                .and_then(serde_json::Value::as_u64),
            created_at: loose_time(u.created_at.as_ref()),
        }),
        html: body.map(|b| b.html),
        text,
        links: html::dedup_http(links),
        media: common::dedup_media(media),
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    Some(item)
}

/// A photo's address, or a video's best MP4 (its still when it has none).
fn media_of(m: &XMedia) -> Option<Media> {
    match m.kind.as_str() {
        "photo" => m.url.as_deref().map(|u| common::media(u, None)),
        "video" | "animated_gif" => m
            .variants
            .iter()
            .filter(|v| v.content_type == "video/mp4" && !v.url.is_empty())
            .max_by_key(|v| v.bit_rate.unwrap_or(0))
            .map(|v| common::media(&v.url, Some("video/mp4")))
            .or_else(|| {
                m.preview_image_url
                    .as_deref()
                    .map(|u| common::media(u, None))
            }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

/// An RFC 3339 time from a loosely typed JSON value; `None` when absent or malformed.
pub(crate) fn loose_time(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    v.and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}
