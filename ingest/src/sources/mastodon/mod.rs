//! Mastodon sources (`kind = "mastodon"`): public hashtag timelines and account statuses on
//! one server, through the REST API.
//!
//! - Hashtags: `GET /api/v1/timelines/tag/:tag?limit=40&min_id=…`.
//! - Accounts: `GET /api/v1/accounts/lookup?acct=…` once (the id is kept in the cursor), then
//!   `GET /api/v1/accounts/:id/statuses?limit=40&min_id=…`.
//!
//! **Resume without gaps or repeats.** The cursor keeps, per timeline, the newest status id
//! seen. `min_id` asks for the statuses immediately newer than it, so the next request uses the
//! newest id of the page just read, until a page comes back short (caught up) or
//! [`MAX_PAGES`](super::common::MAX_PAGES) pages were read (the rest waits for the next poll,
//! from where this one stopped). A timeline's first poll reads only its newest page.
//!
//! **Statuses → items.** A boost is resolved to the boosted status (same item whoever boosted
//! it); the content HTML is sanitized and rendered to text, with a content warning
//! (`spoiler_text`) as the title; media attachments become item media and a preview card's URL
//! a link. The item id is derived from the status `uri`, which is the same on every server.
//!
//! `token_env` names an environment variable with an access token, sent as a bearer token
//! (never captured). Search and the streaming API are not used: hashtag and account timelines
//! are what every server offers without authentication.

mod config;

pub use config::{hashtag, MastodonConfig};
use std::collections::BTreeMap;

use ballotwatch_core::{Author, Item, SourceRef, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, JSON_ACCEPT, MAX_PAGES};
use super::{Cursor, Poll, PollContext, Source, SourceError};
use crate::html;

/// Statuses asked for per page (the API's maximum).
const PAGE: usize = 40;
const WHAT: &str = "Mastodon API response";

/// A Mastodon source.
#[derive(Debug, Clone)]
pub struct MastodonSource {
    name: String,
    instance: Url,
    instance_text: String,
    hashtags: Vec<String>,
    accounts: Vec<String>,
    token_env: Option<String>,
}

/// What the cursor keeps between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MastodonState {
    /// Newest status id seen per hashtag.
    pub tags: BTreeMap<String, String>,
    /// Per configured account: its id on the server and the newest status id seen.
    pub accounts: BTreeMap<String, AccountState>,
}

/// The cursor of one watched account.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountState {
    /// The account's id on the server (from `accounts/lookup`).
    pub id: String,
    /// Newest status id seen.
    pub newest: Option<String>,
}

impl MastodonSource {
    /// The source for a `[[source]]` of kind `mastodon`.
    pub fn new(name: &str, cfg: &MastodonConfig) -> MastodonSource {
        MastodonSource {
            name: name.to_string(),
            instance_text: cfg.instance.to_string(),
            instance: cfg.instance.clone(),
            hashtags: cfg
                .hashtags
                .iter()
                .filter_map(|t| hashtag(t).map(str::to_string))
                .collect(),
            accounts: cfg.accounts.clone(),
            token_env: cfg.token_env.clone(),
        }
    }

    fn token(&self) -> Result<Option<String>, SourceError> {
        self.token_env
            .as_deref()
            .map(|var| common::token_from_env(&self.name, &self.instance_text, var))
            .transpose()
    }

    /// Reads one timeline from `newest` on; returns the new newest id.
    async fn read_timeline(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        path: &str,
        newest: Option<String>,
        token: Option<&str>,
    ) -> Result<Option<String>, SourceError> {
        let mut since = newest;
        for page in 0..MAX_PAGES {
            let mut url = common::join_path(&self.instance, path);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", &PAGE.to_string());
                if let Some(id) = &since {
                    q.append_pair("min_id", id);
                }
            }
            let (capture, body) = out
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, token, WHAT)
                .await?;
            let statuses: Vec<Status> = common::decode_json(&self.name, &url, &body, WHAT)?;
            let count = statuses.len();
            let page_newest = statuses
                .iter()
                .map(|s| s.id.clone())
                .max_by(|a, b| compare_ids(a, b));
            for status in &statuses {
                if let Some(item) = normalise_status(&self.name, &self.instance, status, &ctx.watch)
                {
                    out.items.push((capture, item));
                }
            }
            let first_poll = since.is_none();
            if let Some(n) = page_newest {
                if since.as_deref().is_none_or(|s| compare_ids(&n, s).is_gt()) {
                    since = Some(n);
                }
            }
            if first_poll || count < PAGE {
                return Ok(since);
            }
            if page + 1 == MAX_PAGES {
                tracing::info!(source = %self.name, path, "more new statuses than one poll reads; the rest follow next poll");
            }
        }
        Ok(since)
    }

    async fn lookup(
        &self,
        ctx: &PollContext,
        out: &mut Collected,
        acct: &str,
        token: Option<&str>,
    ) -> Result<String, SourceError> {
        let mut url = common::join_path(&self.instance, "api/v1/accounts/lookup");
        url.query_pairs_mut()
            .append_pair("acct", acct.trim().trim_start_matches('@'));
        let (_, body) = out
            .get(ctx, &self.name, url.clone(), JSON_ACCEPT, token, WHAT)
            .await?;
        let account: Account = common::decode_json(&self.name, &url, &body, WHAT)?;
        if account.id.is_empty() {
            return Err(SourceError::Payload {
                source_name: self.name.clone(),
                url: url.to_string(),
                what: WHAT,
                message: format!("the account `{acct}` came back without an id"),
            });
        }
        Ok(account.id)
    }
}

#[async_trait::async_trait]
impl Source for MastodonSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "mastodon"
    }

    fn url(&self) -> &str {
        &self.instance_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let token = self.token()?;
        let token = token.as_deref();
        let old: MastodonState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = MastodonState::default();
        let mut out = Collected::default();
        for tag in &self.hashtags {
            let path = format!("api/v1/timelines/tag/{tag}");
            let newest = self
                .read_timeline(ctx, &mut out, &path, old.tags.get(tag).cloned(), token)
                .await?;
            if let Some(n) = newest {
                state.tags.insert(tag.clone(), n);
            }
        }
        for acct in &self.accounts {
            let mut acc = old.accounts.get(acct).cloned().unwrap_or_default();
            if acc.id.is_empty() {
                acc.id = self.lookup(ctx, &mut out, acct, token).await?;
            }
            let path = format!("api/v1/accounts/{}/statuses", acc.id);
            acc.newest = self
                .read_timeline(ctx, &mut out, &path, acc.newest.clone(), token)
                .await?;
            state.accounts.insert(acct.clone(), acc);
        }
        Ok(out.into_poll(&state))
    }
}

/// Orders Mastodon ids: numeric strings (snowflakes) by value, anything else as text.
fn compare_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

/// A Mastodon `Status` entity (the fields Ballotwatch reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// Id on this server.
    pub id: String,
    /// ActivityPub URI: the same on every server.
    pub uri: String,
    /// The HTML page of the status.
    #[serde(default)]
    pub url: Option<String>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Who posted it.
    pub account: Account,
    /// The body, HTML.
    #[serde(default)]
    pub content: String,
    /// Content warning.
    #[serde(default)]
    pub spoiler_text: String,
    /// Attached media.
    #[serde(default)]
    pub media_attachments: Vec<Attachment>,
    /// The boosted status, when this is a boost.
    #[serde(default)]
    pub reblog: Option<Box<Status>>,
    /// Link preview card.
    #[serde(default)]
    pub card: Option<Card>,
}

/// A Mastodon `Account` entity (the fields Ballotwatch reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Id on this server.
    pub id: String,
    /// `user` for local accounts, `user@server` for remote ones.
    #[serde(default)]
    pub acct: String,
    /// `user`.
    #[serde(default)]
    pub username: String,
    /// The profile's display name.
    #[serde(default)]
    pub display_name: String,
    /// Profile page.
    #[serde(default)]
    pub url: Option<String>,
    /// The profile's description (HTML).
    #[serde(default)]
    pub note: String,
    /// When the account was created; kept loose so a malformed value never loses the post.
    #[serde(default)]
    pub created_at: Option<serde_json::Value>,
    /// How many accounts follow it; kept loose.
    #[serde(default)]
    pub followers_count: Option<serde_json::Value>,
}

/// A `MediaAttachment` entity.
#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    /// `image`, `gifv`, `video`, `audio` or `unknown`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Where the server serves it.
    #[serde(default)]
    pub url: Option<String>,
    /// The original on a remote server.
    #[serde(default)]
    pub remote_url: Option<String>,
    /// Alt text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A `PreviewCard` entity.
#[derive(Debug, Clone, Deserialize)]
pub struct Card {
    /// The linked page.
    pub url: String,
}

/// One status as an item (a boost as the boosted status), or `None` when it shows nothing.
pub fn normalise_status(
    source_name: &str,
    instance: &Url,
    status: &Status,
    watch: &WatchTerms,
) -> Option<Item> {
    let s = status.reblog.as_deref().unwrap_or(status);
    let base = s
        .url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| instance.clone());
    let body = html::from_html(&s.content, &base);
    let mut links = body.links.clone();
    if let Some(card) = &s.card {
        links.push(card.url.clone());
    }
    let mut media: Vec<_> = s
        .media_attachments
        .iter()
        .filter_map(|a| {
            let url = a.url.as_deref().or(a.remote_url.as_deref())?;
            let mime = match a.kind.as_str() {
                "image" => None,
                "video" | "gifv" => Some("video/mp4"),
                _ => None,
            };
            Some(common::media(url, mime))
        })
        .collect();
    media.extend(body.images.iter().map(|i| common::media(i, None)));
    let media = common::dedup_media(media);
    let title = Some(html::single_line(&s.spoiler_text)).filter(|t| !t.is_empty());
    let truncated = body.cut_reason();
    let text = Some(body.text).filter(|t| !t.is_empty());
    if title.is_none() && text.is_none() && media.is_empty() {
        return None;
    }
    let acct = s.account.acct.trim_start_matches('@');
    let handle = match (acct.contains('@'), instance.host_str()) {
        (true, _) => format!("@{acct}"),
        (false, Some(host)) if !acct.is_empty() => format!("@{acct}@{host}"),
        _ => format!("@{}", s.account.username),
    };
    let mut item = Item {
        id: Item::derive_id(source_name, &s.uri),
        source: SourceRef {
            kind: "mastodon".into(),
            name: source_name.into(),
        },
        url: s.url.clone().or_else(|| Some(s.uri.clone())),
        published_at: Some(s.created_at),
        author: Some(Author {
            handle: Some(handle),
            display_name: Some(html::single_line(&s.account.display_name))
                .filter(|n| !n.is_empty()),
            platform: Some("mastodon".into()),
            url: s.account.url.clone(),
            bio: Some(html::html_to_text(&s.account.note)).filter(|b| !b.trim().is_empty()),
            verified: None,
            followers: s
                .account
                .followers_count
                .as_ref()
                .and_then(serde_json::Value::as_u64),
            created_at: super::x::loose_time(s.account.created_at.as_ref()),
        }),
        title,
        html: text.as_ref().map(|_| body.html.clone()),
        text,
        links: html::dedup_http(links),
        media,
        truncated,
        ..Item::default()
    };
    item.matched_terms = watch.matches(&item.full_text());
    Some(item)
}

#[cfg(test)]
mod tests;
