//! Real-time Bluesky posts from Jetstream (`jetstream = true`): one long-lived websocket.
//!
//! **Protocol.** `GET <jetstream_url>?wantedCollections=app.bsky.feed.post[&wantedDids=…]
//! [&cursor=TIME_US]`, upgraded to a websocket; every text message is one JSON event
//! `{"did", "time_us", "kind": "commit"|"identity"|"account", …}`. A `commit` carries
//! `{"operation": "create"|"update"|"delete", "collection", "rkey", "record", "cid"}`, where
//! `record` is the raw `app.bsky.feed.post` record (text, facets, embed with blob refs,
//! `createdAt`); `identity` events carry the account's current `handle`.
//!
//! **What is kept.** Posts by the `actors` (handles are resolved to DIDs once with
//! `com.atproto.identity.resolveHandle` on the AppView) and posts matching the `[watch] terms`
//! or the source's `queries`. When there are no terms and no queries, the actors' DIDs are sent
//! as `wantedDids` and Jetstream filters; otherwise every post arrives and is filtered here.
//! Creates and updates become items (an update of a known post is a new version); deletes
//! record nothing new (the deleted post stays in the store as it was seen).
//!
//! **Posts → items** ([`normalise_event`]): the same item as the AppView path makes — the id is
//! derived from `at://DID/app.bsky.feed.post/RKEY`, so a post seen both ways is one item. The
//! handle is taken from `identity` events and the resolved actors when known, else the DID is
//! shown; the profile URL always carries the DID. Image blobs become
//! `https://cdn.bsky.app/img/feed_fullsize/plain/DID/CID@jpeg` media, a video blob its
//! `https://video.bsky.app/watch/DID/CID/playlist.m3u8`, external embeds and link facets links.
//!
//! **No gaps, no repeats.** Events are handed over in batches (every second, or every
//! [`BATCH_EVENTS`] events): the raw event lines as one capture (URL = the subscribe URL with
//! its cursor, status 101, the handshake's headers), the items, and the resume state (the
//! newest `time_us`). The caller commits each batch in one transaction and reconnects after a
//! drop with `cursor` = the last committed `time_us` minus [`REWIND`] (Jetstream's advice):
//! replayed events are the same items (same id, same content), so nothing is missed or
//! doubled.
//!
//! **Limits.** The connection goes through the fetcher's SSRF guard and `connect_timeout`
//! ([`Fetcher::connect`](crate::Fetcher::connect)), sends the product User-Agent, and refuses a
//! websocket message or frame over [`MAX_MESSAGE`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use ballotwatch_core::{sha256_hex, Capture, Item, Media, WatchTerms};

use super::BlueskyConfig;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

use super::{build_item, PostParts, PostRecord};
use crate::fetcher::{FetchError, FetchRequest, Fetched};
use crate::sources::common::{self, JSON_ACCEPT};
use crate::sources::{
    Cursor, Poll, PollContext, RealtimeSource, SourceError, StreamEvent, StreamUntil,
    CAUGHT_UP_IDLE,
};

/// The collection of posts.
pub const POST_COLLECTION: &str = "app.bsky.feed.post";
/// How far before the last committed event a reconnect resumes.
pub const REWIND: Duration = Duration::from_secs(3);
/// Most events in one batch.
pub const BATCH_EVENTS: usize = 500;
/// Longest time events wait before their batch is handed over.
pub const BATCH_EVERY: Duration = Duration::from_secs(1);
/// Largest websocket message (and frame) accepted; Jetstream events are a few KiB.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Where image blobs are served.
pub const CDN: &str = "https://cdn.bsky.app/img/feed_fullsize/plain";
/// Where video blobs are served.
pub const VIDEO: &str = "https://video.bsky.app/watch";
const WHAT: &str = "Jetstream event";

/// The resume state kept between connections.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JetstreamState {
    /// `time_us` of the newest event handed over.
    pub time_us: Option<i64>,
    /// Handles of the authors of kept posts, by DID (at most [`MAX_HANDLES`]), so that events
    /// replayed after a restart make the very same items.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub handles: BTreeMap<String, String>,
}

/// Most handles kept in the resume state.
pub const MAX_HANDLES: usize = 10_000;

/// The real-time part of a Bluesky source.
#[derive(Debug)]
pub struct JetstreamSource {
    source: String,
    state_name: String,
    endpoint: Url,
    endpoint_text: String,
    appview: Url,
    actors: Vec<String>,
    queries: WatchTerms,
    /// DIDs of the actors, once resolved.
    dids: Mutex<Option<Vec<String>>>,
    /// Handles by DID, from the resolved actors and `identity` events.
    handles: Mutex<HashMap<String, String>>,
}

/// The name a source's Jetstream state and health are kept under.
pub fn state_name(source: &str) -> String {
    format!("{source} (jetstream)")
}

impl JetstreamSource {
    /// The Jetstream part of a `[[source]]` of kind `bluesky` (whether or not `jetstream` is on).
    pub fn new(name: &str, cfg: &BlueskyConfig) -> JetstreamSource {
        JetstreamSource {
            source: name.to_string(),
            state_name: state_name(name),
            endpoint_text: cfg.jetstream_url.to_string(),
            endpoint: cfg.jetstream_url.clone(),
            appview: cfg.appview.clone(),
            actors: cfg
                .actors
                .iter()
                .map(|a| a.trim().trim_start_matches('@').to_string())
                .collect(),
            queries: WatchTerms::new(&cfg.queries),
            dids: Mutex::new(None),
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// The actors' DIDs: DIDs as configured, handles resolved on the AppView (once).
    async fn watched_dids(&self, ctx: &PollContext) -> Result<Vec<String>, SourceError> {
        if let Some(d) = self.dids.lock().ok().and_then(|d| d.clone()) {
            return Ok(d);
        }
        let mut dids = Vec::with_capacity(self.actors.len());
        for actor in &self.actors {
            if actor.starts_with("did:") {
                dids.push(actor.clone());
                continue;
            }
            let did = self.resolve_handle(ctx, actor).await?;
            if let Ok(mut h) = self.handles.lock() {
                h.insert(did.clone(), actor.clone());
            }
            dids.push(did);
        }
        if let Ok(mut d) = self.dids.lock() {
            *d = Some(dids.clone());
        }
        Ok(dids)
    }

    async fn resolve_handle(&self, ctx: &PollContext, handle: &str) -> Result<String, SourceError> {
        #[derive(Deserialize)]
        struct Resolved {
            did: String,
        }
        let mut url = common::join_path(&self.appview, "xrpc/com.atproto.identity.resolveHandle");
        url.query_pairs_mut().append_pair("handle", handle);
        let fetched = ctx
            .fetcher
            .get(&FetchRequest::new(url.clone(), JSON_ACCEPT))
            .await
            .map_err(|error| SourceError::Fetch {
                source_name: self.source.clone(),
                error,
            })?;
        let Fetched::Body { body, .. } = fetched else {
            return Err(SourceError::Payload {
                source_name: self.source.clone(),
                url: url.to_string(),
                what: "Bluesky API response",
                message: "it answered 304 Not Modified to a request that was not conditional"
                    .into(),
            });
        };
        let r: Resolved = common::decode_json(&self.source, &url, &body, "Bluesky API response")?;
        if !r.did.starts_with("did:") {
            return Err(SourceError::Payload {
                source_name: self.source.clone(),
                url: url.to_string(),
                what: "Bluesky API response",
                message: format!("`{}` is not a DID (resolving `{handle}`)", r.did),
            });
        }
        Ok(r.did)
    }

    /// The subscribe URL: posts only, the actors' DIDs when Jetstream can filter alone, and
    /// the cursor to resume from.
    pub fn subscribe_url(&self, wanted_dids: &[String], cursor: Option<i64>) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("wantedCollections", POST_COLLECTION);
            for d in wanted_dids {
                q.append_pair("wantedDids", d);
            }
            if let Some(c) = cursor {
                q.append_pair("cursor", &c.to_string());
            }
        }
        url
    }

    fn handle_of(&self, did: &str) -> Option<String> {
        self.handles.lock().ok().and_then(|h| h.get(did).cloned())
    }

    fn err(&self, url: &Url, message: String) -> SourceError {
        SourceError::Payload {
            source_name: self.source.clone(),
            url: url.to_string(),
            what: WHAT,
            message,
        }
    }

    /// Reads one event: updates the handle map and returns its `time_us` and the item to keep
    /// (if any).
    fn read_event(
        &self,
        url: &Url,
        raw: &str,
        watch: &WatchTerms,
        dids: &[String],
    ) -> Result<(i64, Option<Item>), SourceError> {
        let event: Event = serde_json::from_str(raw).map_err(|e| {
            let shown: String = raw.chars().take(120).collect();
            self.err(url, format!("{e} (event starts `{shown}`)"))
        })?;
        if event.kind == "identity" {
            if let Some(handle) = event.identity.as_ref().and_then(|i| i.handle.clone()) {
                if let Ok(mut h) = self.handles.lock() {
                    h.insert(event.did.clone(), handle);
                }
            }
            return Ok((event.time_us, None));
        }
        let handle = self.handle_of(&event.did);
        let item = normalise_event(&self.source, &event, handle.as_deref(), watch)
            .map_err(|e| self.err(url, format!("event at time_us {}: {e}", event.time_us)))?
            .filter(|item| {
                dids.contains(&event.did)
                    || !item.matched_terms.is_empty()
                    || !self.queries.matches(&item.full_text()).is_empty()
            });
        Ok((event.time_us, item))
    }
}

#[async_trait::async_trait]
impl RealtimeSource for JetstreamSource {
    fn state_name(&self) -> &str {
        &self.state_name
    }

    fn url(&self) -> &str {
        &self.endpoint_text
    }

    async fn run(
        &self,
        ctx: &PollContext,
        cursor: &Cursor,
        until: StreamUntil,
        tx: &mpsc::Sender<StreamEvent>,
    ) -> Result<(), SourceError> {
        let state: JetstreamState = common::load_state(&self.state_name, cursor.state.as_ref());
        if let Ok(mut h) = self.handles.lock() {
            for (did, handle) in &state.handles {
                h.entry(did.clone()).or_insert_with(|| handle.clone());
            }
        }
        let dids = self.watched_dids(ctx).await?;
        let filter_here = !ctx.watch.is_empty() || !self.queries.is_empty();
        let wanted: &[String] = if filter_here { &[] } else { &dids };
        let rewind = i64::try_from(REWIND.as_micros()).unwrap_or(i64::MAX);
        let url = self.subscribe_url(wanted, state.time_us.map(|t| t.saturating_sub(rewind)));
        let fetch_err = |error: FetchError| SourceError::Fetch {
            source_name: self.source.clone(),
            error,
        };
        let conn = ctx.fetcher.connect(&url).await.map_err(fetch_err)?;
        let mut request = url.as_str().into_client_request().map_err(|e| {
            fetch_err(FetchError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })
        })?;
        if let Ok(ua) = HeaderValue::from_str(ctx.fetcher.user_agent()) {
            request.headers_mut().insert("user-agent", ua);
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let handshake = tokio_tungstenite::client_async_with_config(request, conn, Some(config));
        let (mut ws, response) = tokio::time::timeout(ctx.fetcher.connect_timeout(), handshake)
            .await
            .map_err(|_| {
                fetch_err(FetchError::Timeout {
                    url: url.to_string(),
                    after: ctx.fetcher.connect_timeout(),
                })
            })?
            .map_err(|e| fetch_err(ws_error(&url, e)))?;
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        tracing::info!(source = %self.source, url = %url, "connected to Jetstream");

        let caught_up_at = match until {
            StreamUntil::CaughtUp(t) => Some(t.timestamp_micros()),
            StreamUntil::Stopped => None,
        };
        let mut batch = Batch::new(url.to_string(), headers, state);
        let mut last_message = Instant::now();
        loop {
            let flush_at = batch
                .started
                .map_or(Instant::now() + BATCH_EVERY, |s| s + BATCH_EVERY);
            let wake = match caught_up_at {
                Some(_) => flush_at.min(last_message + CAUGHT_UP_IDLE),
                None => flush_at,
            };
            let next = tokio::time::timeout_at(wake, ws.next()).await;
            let message = match next {
                Err(_) => {
                    if !batch.send(tx).await {
                        return Ok(());
                    }
                    if caught_up_at.is_some() && last_message.elapsed() >= CAUGHT_UP_IDLE {
                        tracing::info!(source = %self.source, "Jetstream is quiet: caught up");
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) => {
                    batch.send(tx).await;
                    return Err(fetch_err(FetchError::Connect {
                        url: url.to_string(),
                        message: "the server closed the connection".into(),
                    }));
                }
                Ok(Some(Err(e))) => {
                    batch.send(tx).await;
                    return Err(fetch_err(ws_error(&url, e)));
                }
                Ok(Some(Ok(m))) => m,
            };
            last_message = Instant::now();
            let raw = match message {
                Message::Text(t) => t.as_str().to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(frame) => {
                    batch.send(tx).await;
                    let why = frame
                        .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                        .unwrap_or_default();
                    return Err(fetch_err(FetchError::Connect {
                        url: url.to_string(),
                        message: format!("the server closed the connection{why}"),
                    }));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            batch.started.get_or_insert_with(Instant::now);
            // The fetcher's gate sees each message before it is parsed (the pipeline's
            // quarantine of a message whose parse killed the process).
            if let Err(reason) = ctx.fetcher.admit_message(raw.as_bytes()) {
                tracing::error!(source = %self.source, %reason, "Jetstream message skipped");
                batch.lines.push(raw);
                if tx
                    .send(StreamEvent::Problem(self.err(&url, reason.to_string())))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                if batch.lines.len() >= BATCH_EVENTS && !batch.send(tx).await {
                    return Ok(());
                }
                continue;
            }
            let read = self.read_event(&url, &raw, &ctx.watch, &dids);
            ctx.fetcher.parsed_message(raw.as_bytes());
            match read {
                Ok((time_us, item)) => {
                    batch.advance(time_us);
                    if let Some(item) = item {
                        batch.remember_handle(&item);
                        batch.items.push(item);
                    }
                    batch.lines.push(raw);
                    if caught_up_at.is_some_and(|at| time_us >= at) {
                        batch.send(tx).await;
                        tracing::info!(source = %self.source, "Jetstream reached the start time: caught up");
                        return Ok(());
                    }
                }
                Err(problem) => {
                    tracing::warn!(source = %self.source, error = %problem, "unreadable Jetstream event");
                    // Keep its bytes as evidence; its time is unknown, so the cursor stays.
                    batch.lines.push(raw);
                    if tx.send(StreamEvent::Problem(problem)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if batch.lines.len() >= BATCH_EVENTS && !batch.send(tx).await {
                return Ok(());
            }
        }
    }
}

/// Events received but not yet handed over.
struct Batch {
    url: String,
    headers: Vec<(String, String)>,
    state: JetstreamState,
    lines: Vec<String>,
    items: Vec<Item>,
    started: Option<Instant>,
    started_at: DateTime<Utc>,
}

impl Batch {
    fn new(url: String, headers: Vec<(String, String)>, state: JetstreamState) -> Batch {
        Batch {
            url,
            headers,
            state,
            lines: Vec::new(),
            items: Vec::new(),
            started: None,
            started_at: Utc::now(),
        }
    }

    /// Keeps the handle shown on a kept post (when it is a handle, not the DID).
    fn remember_handle(&mut self, item: &Item) {
        let Some(author) = &item.author else { return };
        let (Some(handle), Some(url)) = (&author.handle, &author.url) else {
            return;
        };
        let Some(did) = url.strip_prefix(&format!("{}/profile/", super::WEB)) else {
            return;
        };
        if handle != did
            && (self.state.handles.len() < MAX_HANDLES || self.state.handles.contains_key(did))
        {
            self.state.handles.insert(did.to_string(), handle.clone());
        }
    }

    fn advance(&mut self, time_us: i64) {
        self.state.time_us = Some(self.state.time_us.map_or(time_us, |t| t.max(time_us)));
    }

    /// Hands over what is held (nothing when empty); false when the receiver is gone.
    async fn send(&mut self, tx: &mpsc::Sender<StreamEvent>) -> bool {
        if self.lines.is_empty() {
            self.started = None;
            return !tx.is_closed();
        }
        let mut body = self.lines.join("\n").into_bytes();
        body.push(b'\n');
        let capture = Capture {
            url: self.url.clone(),
            final_url: self.url.clone(),
            status: 101,
            headers: self.headers.clone(),
            sha256: sha256_hex(&body),
            size: body.len() as u64,
            started_at: self.started_at,
            finished_at: Utc::now(),
        };
        let poll = Poll {
            captures: vec![(capture, body)],
            items: self.items.drain(..).map(|i| (0, i)).collect(),
            state: serde_json::to_value(&self.state).ok(),
            ..Poll::default()
        };
        self.lines.clear();
        self.started = None;
        self.started_at = Utc::now();
        tx.send(StreamEvent::Batch(poll)).await.is_ok()
    }
}

/// A websocket failure as a fetch error naming the URL.
fn ws_error(url: &Url, e: tungstenite::Error) -> FetchError {
    let url = url.to_string();
    match e {
        tungstenite::Error::Http(response) => FetchError::Status {
            url,
            status: response.status().as_u16(),
            retry_after: None,
            detail: None,
        },
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => FetchError::Connect {
            url,
            message: "the server closed the connection".into(),
        },
        tungstenite::Error::Capacity(c) => FetchError::Body {
            url,
            message: format!("{c} (the limit is {MAX_MESSAGE} bytes per message)"),
        },
        other => FetchError::Connect {
            url,
            message: other.to_string(),
        },
    }
}

/// One Jetstream event.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// The account.
    pub did: String,
    /// When Jetstream saw it (microseconds since the Unix epoch): the resume position.
    pub time_us: i64,
    /// `commit`, `identity` or `account`.
    pub kind: String,
    /// For `commit` events.
    #[serde(default)]
    pub commit: Option<Commit>,
    /// For `identity` events.
    #[serde(default)]
    pub identity: Option<Identity>,
}

/// A repository change.
#[derive(Debug, Deserialize)]
pub struct Commit {
    /// `create`, `update` or `delete`.
    pub operation: String,
    /// e.g. `app.bsky.feed.post`.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record (absent for deletes).
    #[serde(default)]
    pub record: Option<serde_json::Value>,
}

/// An identity change (the handle now in use).
#[derive(Debug, Deserialize)]
pub struct Identity {
    /// The handle, when the account has one.
    #[serde(default)]
    pub handle: Option<String>,
}

/// Why a post event is not read as an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A create or update of a post came without its record.
    #[error("a `{operation}` of a post has no record")]
    NoRecord {
        /// `create` or `update`.
        operation: String,
    },
    /// The record is not a valid `app.bsky.feed.post`.
    #[error("the post record is not valid at `{path}`: {message}")]
    BadRecord {
        /// Where in the record (e.g. `text`).
        path: String,
        /// What is wrong there.
        message: String,
    },
}

/// The item for a `commit` event creating or updating a post; `Ok(None)` for other events,
/// deletes and posts with neither text nor media; `Err` with the reason when the post record
/// is not a valid `app.bsky.feed.post`.
pub fn normalise_event(
    source_name: &str,
    event: &Event,
    handle: Option<&str>,
    watch: &WatchTerms,
) -> Result<Option<Item>, EventError> {
    let Some(commit) = event.commit.as_ref().filter(|_| event.kind == "commit") else {
        return Ok(None);
    };
    if commit.collection != POST_COLLECTION
        || !matches!(commit.operation.as_str(), "create" | "update")
    {
        return Ok(None);
    }
    let Some(raw) = &commit.record else {
        return Err(EventError::NoRecord {
            operation: commit.operation.clone(),
        });
    };
    let record: PostRecord =
        serde_path_to_error::deserialize(raw).map_err(|e| EventError::BadRecord {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    let uri = format!("at://{}/{POST_COLLECTION}/{}", event.did, commit.rkey);
    let mut links = Vec::new();
    let mut media = Vec::new();
    if let Some(embed) = &record.embed {
        collect_record_embed(&event.did, embed, &mut links, &mut media);
    }
    let seen_at = DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now);
    Ok(build_item(
        source_name,
        PostParts {
            uri: &uri,
            did: &event.did,
            handle,
            display_name: None,
            record: &record,
            links,
            media,
            seen_at,
        },
        watch,
    ))
}

/// Media and links from a raw record's embed (blob refs, not the AppView's hydrated view).
fn collect_record_embed(
    did: &str,
    embed: &serde_json::Value,
    links: &mut Vec<String>,
    media: &mut Vec<Media>,
) {
    match embed["$type"].as_str().unwrap_or_default() {
        "app.bsky.embed.images" => {
            for img in embed["images"].as_array().into_iter().flatten() {
                if let Some(cid) = blob_cid(&img["image"]) {
                    media.push(common::media(
                        &format!("{CDN}/{did}/{cid}@jpeg"),
                        Some("image/jpeg"),
                    ));
                }
            }
        }
        "app.bsky.embed.video" => {
            if let Some(cid) = blob_cid(&embed["video"]) {
                media.push(common::media(
                    &format!("{VIDEO}/{did}/{cid}/playlist.m3u8"),
                    Some("application/x-mpegURL"),
                ));
            }
        }
        "app.bsky.embed.external" => {
            if let Some(u) = embed["external"]["uri"].as_str() {
                links.push(u.to_string());
            }
        }
        "app.bsky.embed.recordWithMedia" => {
            collect_record_embed(did, &embed["media"], links, media);
        }
        _ => {}
    }
}

/// The CID of a blob ref (`{"$type": "blob", "ref": {"$link": CID}, …}`, or the legacy
/// `{"cid": CID}`), when it is a plausible CID (letters and digits only).
fn blob_cid(blob: &serde_json::Value) -> Option<&str> {
    blob["ref"]["$link"]
        .as_str()
        .or(blob["cid"].as_str())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests;
