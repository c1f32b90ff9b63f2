//! Threads sources (`kind = "threads"`): keyword search and public profiles' posts through
//! Meta's Threads API, for a council with an access token (Threads has no open feed).
//!
//! - Queries: `GET /v1.0/keyword_search?q=…&search_type=RECENT&since=…&after=…`
//!   (permission `threads_keyword_search`; without it Threads searches only the token owner's
//!   own posts).
//! - Accounts: `GET /v1.0/profile_posts?username=…&since=…&after=…`
//!   (permission `threads_profile_discovery`).
//!
//! The access token comes from the variable `token_env` names and is sent as a bearer token,
//! so it is never in a capture's URL.
//!
//! **Resume without gaps or repeats.** Threads pages newest first and filters by time, not by
//! id. The cursor keeps, per query or profile, `since`: the Unix time of the newest post read
//! completely, and the ids of the posts at that second (a later poll asks `since` that second
//! again and leaves those out). A poll follows the `after` cursors until the pages run out;
//! if they do not within [`MAX_PAGES`](super::common::MAX_PAGES), the cursor keeps where to go
//! on and the next poll continues there. A query's first poll reads only its newest page.
//!
//! **Rate limits and refusals.** Threads explains errors in a Graph API error object. Code
//! 190 (an expired, revoked or wrong token) is a setup error saying so; the rate-limit codes
//! (4, 17, 32, 613; keyword search allows 2,200 queries a day) make the next poll wait an
//! hour; anything else is reported with Threads' own message.
//!
//! **Posts → items.** Text, the permalink, the author's `@username`; an image's or video's
//! file (a video's still too), each image of a carousel; the attached link
//! (`link_attachment_url`). Links written in the text are kept in the text only: the API
//! marks none of them. The item id is derived from the post id.

mod config;

pub use config::{default_threads_api, profile_name, ThreadsConfig};

use std::collections::BTreeMap;
use std::time::Duration;

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
const WHAT: &str = "Threads API response";
const VERSION: &str = "v1.0";
const WEB: &str = "https://www.threads.net";
/// The post fields every request asks for.
const FIELDS: &str = "id,text,media_type,media_url,thumbnail_url,permalink,timestamp,username,link_attachment_url,is_quote_post,children{id,media_type,media_url,thumbnail_url}";
/// The most post ids remembered for one second of one feed.
const MAX_SEEN: usize = 1000;
/// How long a rate-limited source waits before its next poll.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);

/// A Threads source.
#[derive(Debug, Clone)]
pub struct ThreadsSource {
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
pub struct ThreadsState {
    /// Per query, how far its results were read.
    pub queries: BTreeMap<String, Feed>,
    /// Per profile (without `@`), how far its posts were read.
    pub accounts: BTreeMap<String, Feed>,
}

/// How far one query or profile was read.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Feed {
    /// The Unix time of the newest post read completely up to.
    pub since: Option<i64>,
    /// The ids of the posts at `since` already read.
    pub seen: Vec<String>,
    /// A burst of new posts being read over several polls.
    pub resume: Option<FeedResume>,
}

/// Where an unfinished burst goes on.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedResume {
    /// The `after` cursor of the next page.
    pub after: String,
    /// The newest post time seen in the burst.
    pub newest: i64,
    /// The ids of the burst's posts at `newest`.
    pub newest_ids: Vec<String>,
}

/// One page of posts.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    /// The posts.
    #[serde(default)]
    pub data: Vec<Post>,
    /// Paging.
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// A page's paging.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// The cursors.
    #[serde(default)]
    pub cursors: Option<Cursors>,
    /// The next page's address; absent on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

/// Paging cursors.
#[derive(Debug, Default, Deserialize)]
pub struct Cursors {
    /// The cursor of the next (older) page.
    #[serde(default)]
    pub after: Option<String>,
}

/// A Threads media object (a post).
#[derive(Debug, Clone, Deserialize)]
pub struct Post {
    /// The post id.
    pub id: String,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// `TEXT_POST`, `IMAGE`, `VIDEO`, `CAROUSEL_ALBUM`, `AUDIO` or `REPOST_FACADE`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The image or video file.
    #[serde(default)]
    pub media_url: Option<String>,
    /// A video's still.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// The post's page.
    #[serde(default)]
    pub permalink: Option<String>,
    /// When it was posted, e.g. `2026-05-06T07:12:44+0000`.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The author's user name.
    #[serde(default)]
    pub username: Option<String>,
    /// The link attached to the post.
    #[serde(default)]
    pub link_attachment_url: Option<String>,
    /// A carousel's items.
    #[serde(default)]
    pub children: Option<Children>,
}

/// A carousel's items.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Children {
    /// The items.
    #[serde(default)]
    pub data: Vec<Post>,
}

/// The Graph API's error answer.
#[derive(Debug, Default, Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: GraphError,
}

/// A Graph API error object.
#[derive(Debug, Default, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
}

/// Reads Threads' `2026-05-06T07:12:44+0000` (and RFC 3339).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| common::rfc3339(s))
}

impl ThreadsSource {
    /// The source for a `[[source]]` of kind `threads`.
    pub fn new(name: &str, cfg: &ThreadsConfig) -> ThreadsSource {
        ThreadsSource {
            name: name.to_string(),
            base_text: cfg.base_url.to_string(),
            base: cfg.base_url.clone(),
            queries: cfg.queries.iter().map(|q| q.trim().to_string()).collect(),
            accounts: cfg
                .accounts
                .iter()
                .map(|a| profile_name(a).to_string())
                .collect(),
            token_env: cfg.token_env.clone(),
        }
    }

    /// A Graph API error answer read into what to do: a refused token is a setup error, a
    /// rate limit waits an hour; anything else keeps its status and quotes Threads.
    fn graph_error(&self, e: SourceError) -> SourceError {
        let SourceError::Fetch {
            source_name,
            error:
                FetchError::Status {
                    url,
                    status,
                    retry_after,
                    detail,
                },
        } = e
        else {
            return e;
        };
        let said = detail
            .as_deref()
            .and_then(|d| serde_json::from_str::<ErrorAnswer>(d).ok())
            .map(|a| a.error)
            .unwrap_or_default();
        let message = common::quote(&said.message);
        match said.code {
            Some(190) => SourceError::Setup {
                source_name,
                url,
                message: format!(
                    "Threads refused the access token in `{}` with HTTP {status} (code 190{}: {message}): it has expired, been revoked or is wrong; create a new long-lived token for the app and set the variable to it",
                    self.token_env,
                    said.error_subcode.map(|s| format!("/{s}")).unwrap_or_default(),
                ),
            },
            Some(10 | 200..=299) => SourceError::Setup {
                source_name,
                message: format!(
                    "Threads refused {url} with HTTP {status} ({message}): the app lacks the permission this needs (threads_keyword_search for queries, threads_profile_discovery for accounts)"
                ),
                url,
            },
            code => {
                let limited = matches!(code, Some(4 | 17 | 32 | 613)) || status == 429;
                SourceError::Fetch {
                    source_name,
                    error: FetchError::Status {
                        url,
                        status,
                        retry_after: if limited {
                            Some(retry_after.unwrap_or(RATE_LIMIT_WAIT))
                        } else {
                            retry_after
                        },
                        detail: Some(message).filter(|m| !m.is_empty()),
                    },
                }
            }
        }
    }

    /// Reads one query's results or one profile's posts on from `old`; returns how far it
    /// got.
    async fn read_feed(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        path: &str,
        params: &[(&str, &str)],
        old: &Feed,
        token: &str,
    ) -> Result<Feed, SourceError> {
        let first_poll = old.since.is_none() && old.resume.is_none();
        let mut after = old.resume.as_ref().map(|r| r.after.clone());
        let (mut newest, mut newest_ids) = match &old.resume {
            Some(r) => (Some(r.newest), r.newest_ids.clone()),
            None => (None, Vec::new()),
        };
        for page in 0..MAX_PAGES {
            let mut url = common::join_path(&self.base, &format!("{VERSION}/{path}"));
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                q.append_pair("fields", FIELDS);
                q.append_pair("limit", &PAGE.to_string());
                if let Some(s) = old.since {
                    q.append_pair("since", &s.to_string());
                }
                if let Some(a) = &after {
                    q.append_pair("after", a);
                }
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, Some(token), WHAT)
                .await
                .map_err(|e| self.graph_error(e))?;
            let data: Page = common::decode_json(&self.name, &url, &body, WHAT)?;
            let count = data.data.len();
            for post in &data.data {
                let at = post.timestamp.as_deref().and_then(parse_time);
                let secs = at.map(|t| t.timestamp());
                if let (Some(s), Some(since)) = (secs, old.since) {
                    if s < since || (s == since && old.seen.contains(&post.id)) {
                        continue;
                    }
                }
                if let Some(s) = secs {
                    match newest {
                        Some(n) if s < n => {}
                        Some(n) if s == n => {
                            if newest_ids.len() < MAX_SEEN && !newest_ids.contains(&post.id) {
                                newest_ids.push(post.id.clone());
                            }
                        }
                        _ => {
                            newest = Some(s);
                            newest_ids = vec![post.id.clone()];
                        }
                    }
                }
                if let Some(item) = normalise_post(&self.name, post, at, &ctx.watch) {
                    out.items.push((capture, item));
                }
            }
            let next = data
                .paging
                .filter(|p| p.next.is_some())
                .and_then(|p| p.cursors)
                .and_then(|c| c.after)
                .filter(|a| !a.is_empty());
            if first_poll || count == 0 || next.is_none() {
                return Ok(finish(old, newest, newest_ids));
            }
            after = next;
            if page + 1 == MAX_PAGES {
                tracing::info!(source = %self.name, path, "more new posts than one poll reads; the rest follows next poll");
            }
        }
        Ok(match (after, newest) {
            (Some(after), Some(newest)) => Feed {
                since: old.since,
                seen: old.seen.clone(),
                resume: Some(FeedResume {
                    after,
                    newest,
                    newest_ids,
                }),
            },
            (_, newest) => finish(old, newest, newest_ids),
        })
    }
}

/// The cursor once a burst is read to its end.
fn finish(old: &Feed, newest: Option<i64>, newest_ids: Vec<String>) -> Feed {
    match newest {
        Some(n) if old.since.is_none_or(|s| n > s) => Feed {
            since: Some(n),
            seen: newest_ids,
            resume: None,
        },
        Some(n) if old.since == Some(n) => {
            let mut seen = old.seen.clone();
            for id in newest_ids {
                if seen.len() < MAX_SEEN && !seen.contains(&id) {
                    seen.push(id);
                }
            }
            Feed {
                since: Some(n),
                seen,
                resume: None,
            }
        }
        _ => Feed {
            since: old.since,
            seen: old.seen.clone(),
            resume: None,
        },
    }
}

#[async_trait::async_trait]
impl Source for ThreadsSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "threads"
    }

    fn url(&self) -> &str {
        &self.base_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let token = common::token_from_env(&self.name, &self.base_text, &self.token_env)?;
        let old: ThreadsState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = ThreadsState::default();
        let mut out = Collected::default();
        for query in &self.queries {
            let before = old.queries.get(query).cloned().unwrap_or_default();
            let read = self
                .read_feed(
                    ctx,
                    &mut out,
                    "keyword_search",
                    &[("q", query.as_str()), ("search_type", "RECENT")],
                    &before,
                    &token,
                )
                .await?;
            state.queries.insert(query.clone(), read);
        }
        for name in &self.accounts {
            let before = old.accounts.get(name).cloned().unwrap_or_default();
            let read = self
                .read_feed(
                    ctx,
                    &mut out,
                    "profile_posts",
                    &[("username", name.as_str())],
                    &before,
                    &token,
                )
                .await?;
            state.accounts.insert(name.clone(), read);
        }
        Ok(out.into_poll(&state))
    }
}

/// One post as an item, or `None` when it shows nothing (e.g. a bare repost).
pub fn normalise_post(
    source_name: &str,
    post: &Post,
    at: Option<DateTime<Utc>>,
    watch: &WatchTerms,
) -> Option<Item> {
    let mut media = Vec::new();
    media_of(post, &mut media);
    for child in post.children.iter().flat_map(|c| &c.data).take(20) {
        media_of(child, &mut media);
    }
    let text = post
        .text
        .as_deref()
        .map(html::tidy_text)
        .filter(|t| !t.is_empty());
    if text.is_none() && media.is_empty() {
        return None;
    }
    let username = post
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let links: Vec<String> = post.link_attachment_url.iter().cloned().collect();
    let body = text.as_deref().map(html::from_plain_text);
    let mut item = Item {
        id: Item::derive_id(source_name, &format!("threads:{}", post.id)),
        source: SourceRef {
            kind: "threads".into(),
            name: source_name.into(),
        },
        url: post
            .permalink
            .clone()
            .filter(|p| p.starts_with("https://") || p.starts_with("http://")),
        published_at: at,
        author: username.map(|u| Author {
            handle: Some(format!("@{u}")),
            display_name: None,
            platform: Some("threads".into()),
            url: Some(format!("{WEB}/@{u}")),
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
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

/// An image's file, or a video's file and still.
fn media_of(post: &Post, out: &mut Vec<Media>) {
    match post.media_type.as_deref() {
        Some("IMAGE") => out.extend(post.media_url.as_deref().map(|u| common::media(u, None))),
        Some("VIDEO") => {
            out.extend(
                post.media_url
                    .as_deref()
                    .map(|u| common::media(u, Some("video/mp4"))),
            );
            out.extend(
                post.thumbnail_url
                    .as_deref()
                    .map(|u| common::media(u, None)),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
