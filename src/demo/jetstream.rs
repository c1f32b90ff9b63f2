//! The demo's Bluesky Jetstream: `/jetstream/subscribe` on the replay server, a websocket that
//! replays the recorded election-eve stream (`demo/bluesky/jetstream.jsonl`, one real-format
//! Jetstream event per line) as the real service would send it, and the AppView's
//! `com.atproto.identity.resolveHandle` the Jetstream client calls first to learn the watched
//! actors' DIDs.
//!
//! **Pacing.** The recording goes "live" when the replay server starts: event `i` (0-based, in
//! `time_us` order) is published [`PACE`] × (`i` + 1) after the start, so the whole recording
//! takes about 25 seconds to arrive and the web UI visibly receives posts one by one. A
//! subscriber gets what was already published at once, then each later event when it is
//! published; after the last one the socket stays open, idle, as the real service's does.
//! `demo --once` (one pass, nobody watching) publishes the whole recording at once.
//!
//! **Parameters, as the real service reads them.** `cursor` (Unix microseconds): only events
//! with `time_us` greater than it are sent, so a client reconnecting from its cursor, or a
//! demo restarted on the same data folder, is not sent everything again. Without a cursor the
//! recording is sent from its beginning (the real service would start from "now", which in a
//! recording is its start). `wantedCollections` (repeatable; an NSID or a prefix ending `.*`)
//! filters commit events by collection; identity and account events always pass.
//! `wantedDids` (repeatable) keeps only those accounts' events. `compress` and `requireHello`
//! are refused with 400: the demo's recording does not speak zstd or subscriber options.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::replay::DEMO;

/// The websocket's path on the replay server (the config's `jetstream_url`).
pub const SUBSCRIBE: &str = "/jetstream/subscribe";
/// The AppView endpoint resolving a handle to its DID.
pub const RESOLVE_HANDLE: &str = "/xrpc/com.atproto.identity.resolveHandle";
/// The recorded stream under `demo/`.
pub const RECORDING: &str = "bluesky/jetstream.jsonl";
/// Recorded `resolveHandle` answers under `demo/`, one file per handle: `HANDLE.json`.
const HANDLES_DIR: &str = "bluesky/resolve-handle";
/// Time between two recorded events going live.
pub const PACE: Duration = Duration::from_millis(1200);
/// Most `wantedCollections` the real service accepts.
const MAX_COLLECTIONS: usize = 100;
/// Most `wantedDids` the real service accepts.
const MAX_DIDS: usize = 10_000;

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Its `time_us`: the cursor position.
    pub time_us: i64,
    /// The account.
    pub did: String,
    /// The collection, for commit events.
    pub collection: Option<String>,
    /// The event exactly as recorded (one JSON object).
    pub line: String,
}

/// The recorded stream, in `time_us` order.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// The events.
    pub events: Vec<Recorded>,
}

impl Recording {
    /// Reads a JSON-lines recording; the error names the line and what is wrong with it.
    /// `time_us` must increase strictly from line to line (it is the resume cursor).
    pub fn parse(text: &str) -> Result<Recording, String> {
        #[derive(Deserialize)]
        struct Head {
            did: String,
            time_us: i64,
            kind: String,
            #[serde(default)]
            commit: Option<CommitHead>,
        }
        #[derive(Deserialize)]
        struct CommitHead {
            collection: String,
        }
        let mut events: Vec<Recorded> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let at = n + 1;
            let head: Head = serde_json::from_str(line).map_err(|e| format!("line {at}: {e}"))?;
            if !head.did.starts_with("did:") {
                return Err(format!("line {at}: `{}` is not a DID", head.did));
            }
            let collection = match (head.kind.as_str(), head.commit) {
                ("commit", Some(c)) => Some(c.collection),
                ("commit", None) => {
                    return Err(format!("line {at}: a commit event without `commit`"));
                }
                ("identity" | "account", _) => None,
                (other, _) => return Err(format!("line {at}: unknown event kind `{other}`")),
            };
            if let Some(prev) = events.last() {
                if head.time_us <= prev.time_us {
                    return Err(format!(
                        "line {at}: time_us {} does not come after the previous event's {}",
                        head.time_us, prev.time_us
                    ));
                }
            }
            events.push(Recorded {
                time_us: head.time_us,
                did: head.did,
                collection,
                line: line.to_string(),
            });
        }
        if events.is_empty() {
            return Err("the recording has no events".into());
        }
        Ok(Recording { events })
    }

    /// The events a subscriber asked for, with each one's position in the recording.
    pub fn selected<'a>(
        &'a self,
        sub: &'a Subscription,
    ) -> impl Iterator<Item = (usize, &'a Recorded)> + 'a {
        self.events
            .iter()
            .enumerate()
            .filter(move |(_, e)| sub.wants(e))
    }
}

/// What a subscriber asked for in the subscribe URL's query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Only events after this `time_us`.
    pub cursor: Option<i64>,
    /// Collections (NSIDs, or prefixes ending `.*`); empty = all.
    pub collections: Vec<String>,
    /// Accounts; empty = all.
    pub dids: Vec<String>,
}

impl Subscription {
    /// Reads the query string; the error names the parameter and value at fault.
    pub fn parse(query: &str) -> Result<Subscription, String> {
        let mut sub = Subscription::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "cursor" => {
                    let c = v.trim().parse::<i64>().map_err(|_| {
                        format!("`cursor` must be a Unix time in microseconds, not `{v}`")
                    })?;
                    sub.cursor = Some(c);
                }
                "wantedCollections" => {
                    if !valid_collection(&v) {
                        return Err(format!(
                            "`wantedCollections`: `{v}` is not an NSID (like app.bsky.feed.post) \
                             or a prefix ending in .* (like app.bsky.feed.*)"
                        ));
                    }
                    sub.collections.push(v.into_owned());
                }
                "wantedDids" => {
                    if !is_did(&v) {
                        return Err(format!("`wantedDids`: `{v}` is not a DID"));
                    }
                    sub.dids.push(v.into_owned());
                }
                "compress" | "requireHello" if v == "true" => {
                    return Err(format!(
                        "`{k}=true` is not supported by the demo's recorded Jetstream"
                    ));
                }
                _ => {}
            }
        }
        if sub.collections.len() > MAX_COLLECTIONS {
            return Err(format!(
                "at most {MAX_COLLECTIONS} `wantedCollections` (got {})",
                sub.collections.len()
            ));
        }
        if sub.dids.len() > MAX_DIDS {
            return Err(format!(
                "at most {MAX_DIDS} `wantedDids` (got {})",
                sub.dids.len()
            ));
        }
        Ok(sub)
    }

    /// Whether this event is sent to the subscriber.
    pub fn wants(&self, e: &Recorded) -> bool {
        if self.cursor.is_some_and(|c| e.time_us <= c) {
            return false;
        }
        if !self.dids.is_empty() && !self.dids.contains(&e.did) {
            return false;
        }
        match &e.collection {
            Some(c) if !self.collections.is_empty() => {
                self.collections.iter().any(|w| match w.strip_suffix('*') {
                    Some(prefix) => c.starts_with(prefix),
                    None => c == w,
                })
            }
            _ => true,
        }
    }
}

/// `did:METHOD:ID`: a lowercase method and a non-empty identifier.
fn is_did(v: &str) -> bool {
    let mut parts = v.splitn(3, ':');
    parts.next() == Some("did")
        && parts.next().is_some_and(|m| {
            !m.is_empty()
                && m.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .next()
            .is_some_and(|id| !id.is_empty() && !id.chars().any(char::is_whitespace))
}

/// `app.bsky.feed.post` or `app.bsky.feed.*`: dot-separated segments of letters, digits and
/// hyphens, at least three (a prefix: at least one before the `*`).
fn valid_collection(v: &str) -> bool {
    let (body, prefix) = match v.strip_suffix(".*") {
        Some(b) => (b, true),
        None => (v, false),
    };
    let segments: Vec<&str> = body.split('.').collect();
    let enough = if prefix {
        !segments.is_empty()
    } else {
        segments.len() >= 3
    };
    enough
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// The live recording: its events and when it went live.
#[derive(Debug)]
pub struct Jetstream {
    recording: Recording,
    started: Instant,
    pace: Duration,
}

impl Jetstream {
    /// The bundled recording, live from now, one event every `pace`.
    pub fn start(pace: Duration) -> anyhow::Result<Jetstream> {
        let text = DEMO
            .get_file(RECORDING)
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| anyhow::anyhow!("the demo recording lacks demo/{RECORDING}"))?;
        let recording = Recording::parse(text)
            .map_err(|e| anyhow::anyhow!("the demo recording demo/{RECORDING}: {e}"))?;
        Ok(Jetstream {
            recording,
            started: Instant::now(),
            pace,
        })
    }

    /// When event `i` of the recording is published.
    fn due(&self, i: usize) -> Instant {
        let n = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        self.started + self.pace.saturating_mul(n)
    }
}

/// Answers `GET /jetstream/subscribe`: the websocket handshake, then the recording.
pub fn subscribe(jetstream: Arc<Jetstream>, req: Request) -> Response {
    if req.method() != Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "Jetstream is subscribed to with GET",
        )
            .into_response();
    }
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket")
        || !has_token(headers, header::CONNECTION, "upgrade")
    {
        return (
            StatusCode::BAD_REQUEST,
            "Jetstream is a websocket: connect with ws://, not plain HTTP",
        )
            .into_response();
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(header::SEC_WEBSOCKET_VERSION, "13")],
            "only websocket version 13 is spoken here",
        )
            .into_response();
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return (
            StatusCode::BAD_REQUEST,
            "the handshake lacks Sec-WebSocket-Key",
        )
            .into_response();
    };
    let accept = derive_accept_key(key.as_bytes());
    let sub = match Subscription::parse(req.uri().query().unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "bad accept key").into_response();
    };
    tracing::debug!(cursor = ?sub.cursor, collections = ?sub.collections, dids = sub.dids.len(), "a subscriber joined the demo's Jetstream");
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default();
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                feed(ws, jetstream, sub).await;
            }
            Err(e) => tracing::warn!(error = %e, "the demo's Jetstream handshake failed"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("Upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

/// Whether a comma-separated header carries `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Sends the subscriber its events as they are published, then keeps the socket open until
/// the subscriber leaves.
async fn feed<S>(mut ws: WebSocketStream<S>, jetstream: Arc<Jetstream>, sub: Subscription)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for (i, event) in jetstream.recording.selected(&sub) {
        let due = jetstream.due(i);
        // Wait for the event's turn, answering the subscriber (pings, a close) meanwhile.
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                m = ws.next() => if !still_open(m) { return },
            }
        }
        if ws.send(Message::text(event.line.clone())).await.is_err() {
            return;
        }
    }
    while still_open(ws.next().await) {}
}

/// False when the subscriber closed the socket or it broke.
fn still_open(m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> bool {
    matches!(m, Some(Ok(ref msg)) if !msg.is_close())
}

/// Answers `com.atproto.identity.resolveHandle?handle=…` from the recorded answers, or with the
/// AppView's own 400 error for a handle it cannot resolve.
pub fn resolve_handle(query: &str) -> Response {
    let handle = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "handle")
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    let Some(handle) = handle else {
        return xrpc_error("Error: Params must have the property \"handle\"");
    };
    let plausible = !handle.is_empty()
        && !handle.contains("..")
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let answer = plausible
        .then(|| DEMO.get_file(format!("{HANDLES_DIR}/{handle}.json")))
        .flatten();
    match answer {
        Some(f) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            f.contents().to_vec(),
        )
            .into_response(),
        None => xrpc_error("Unable to resolve handle"),
    }
}

fn xrpc_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        serde_json::json!({"error": "InvalidRequest", "message": message}).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
