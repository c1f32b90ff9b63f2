//! Certificate Transparency sources (`kind = "ct"`): follow RFC 6962 logs and keep every
//! certificate issued for a lookalike of a protected domain.
//!
//! Each poll, per log:
//! - `GET /ct/v1/get-sth`: the signed tree head, whose signature is checked with the configured
//!   `public_key` ([`sth::verify_sth`]); a head that does not verify is an error for that log
//!   and nothing of it is read.
//! - `GET /ct/v1/get-entries?start=…&end=…` in batches of `batch` from the cursor to the head,
//!   at most [`MAX_REQUESTS`] requests per log per poll (the rest is read by the next polls).
//!   Each leaf is read by [`leaf::parse_leaf`]; one that does not read is skipped with a reason
//!   naming the log and index (`Poll::dropped`).
//!
//! Only certificates with a name that [`PollContext::lookalikes`] accepts (the pipeline fills it
//! from the lookalike-domain detector and the `[[identity]]` domains) become items; without it
//! nothing is kept. An item's capture is the entry as the log served it (the JSON a `get-entries`
//! request for that one index answers), its URL a crt.sh look-up.
//!
//! **Cursor.** Per log, the next index to read (and, after a `Retry-After`, when to ask again).
//! A log seen for the first time starts at its current head, or `backfill` back from it (found
//! by a binary search on the leaves' timestamps). A log that is down, rate-limits, or answers
//! something unreadable is reported in `Poll::dropped` and keeps its cursor; the other logs go
//! on. The poll fails only when every log failed and none moved.

pub mod checkpoint;
mod config;
pub mod leaf;
pub mod sth;
pub mod testlog;
pub mod tile;
mod tiled;

use std::collections::BTreeMap;
use std::sync::Arc;

use ballotwatch_core::{sha256_hex, Capture, Item, SourceRef};
use base64::Engine;
use chrono::{DateTime, Utc};
pub use config::{CtConfig, LogConfig, MAX_BATCH};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, JSON_ACCEPT};
use super::{Cursor, KindConfig, Poll, PollContext, Source, SourceError};
use crate::fetcher::{FetchRequest, Fetched};
use leaf::{Entry, LeafError};
use sth::{LogKey, SthJson, TreeHead};
use tile::TILE_WIDTH;

/// Most `get-entries` requests per log per poll.
pub const MAX_REQUESTS: usize = 64;
/// Most probes of the binary search for the `backfill` start.
const MAX_PROBES: usize = 64;
/// Most names written into an item's text.
const NAMES_IN_TEXT: usize = 50;

const STH_WHAT: &str = "CT signed tree head";
const ENTRIES_WHAT: &str = "CT get-entries answer";
const CHECKPOINT_WHAT: &str = "CT checkpoint";
/// What a tiled log's checkpoint is asked for as.
const CHECKPOINT_ACCEPT: &str = "text/plain";
/// What a data tile is asked for as.
const TILE_ACCEPT: &str = "application/octet-stream";

/// A CT source.
#[derive(Debug, Clone)]
pub struct CtSource {
    name: String,
    url_text: String,
    logs: Vec<Log>,
    backfill: Option<std::time::Duration>,
    batch: u64,
    home_page: bool,
}

#[derive(Debug, Clone)]
struct Log {
    name: String,
    /// Where it is read, and how.
    api: Api,
    key: Result<LogKey, sth::SthError>,
    /// The RFC 6962 LogID (SHA-256 of the key's DER); all zero when the key is not base64.
    log_id: [u8; 32],
}

/// A log's read API.
#[derive(Debug, Clone)]
enum Api {
    /// RFC 6962: `get-sth` and `get-entries` below this URL.
    Rfc6962(Url),
    /// static-ct-api: `checkpoint` and `tile/data/…` below the monitoring prefix; `origin` is
    /// the checkpoint origin (the submission prefix without scheme).
    Tiled { monitoring: Url, origin: String },
}

impl Log {
    /// The URL messages and captures are relative to.
    fn base(&self) -> &Url {
        match &self.api {
            Api::Rfc6962(url) => url,
            Api::Tiled { monitoring, .. } => monitoring,
        }
    }
}

/// What the cursor keeps, per log name.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtState {
    /// Per log (by its configured name).
    pub logs: BTreeMap<String, LogState>,
}

/// Where one log was left.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogState {
    /// The index of the next entry to read (= the tree size reached).
    pub next: u64,
    /// The log asked (with `Retry-After`) not to be asked again before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<DateTime<Utc>>,
}

/// One entry of a `get-entries` answer, as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryJson {
    /// Base64 `MerkleTreeLeaf`.
    pub leaf_input: String,
    /// Base64 chain (and, for a precertificate, the precertificate itself).
    #[serde(default)]
    pub extra_data: String,
}

#[derive(Debug, Deserialize)]
struct GetEntries {
    entries: Vec<EntryJson>,
}

/// One entry read from a log, with what made it worth keeping.
#[derive(Debug, Clone)]
pub struct Found {
    /// The entry.
    pub entry: Entry,
    /// Its names that the filter accepted.
    pub matched: Vec<String>,
    /// A crt.sh look-up for the certificate.
    pub lookup: String,
}

/// Reads one `get-entries` entry and checks its names with `keep`: `Ok(None)` when no name is
/// kept. The way in for the poll, the fuzz target and the benchmark.
pub fn read_entry(
    entry: &EntryJson,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Option<Found>, LeafError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let leaf_bytes = b64
        .decode(entry.leaf_input.trim())
        .map_err(|_| LeafError::Certificate {
            what: "leaf_input",
            message: "it is not base64".into(),
        })?;
    let parsed = leaf::parse_leaf(&leaf_bytes)?;
    let precert = || {
        b64.decode(entry.extra_data.trim())
            .ok()
            .and_then(|extra| leaf::precertificate_der(&extra).map(sha256_hex))
    };
    Ok(keep_found(parsed, precert, keep))
}

/// Reads one `TileLeaf` of a data tile and checks its names with `keep`, as [`read_entry`].
pub fn read_tile_leaf(
    leaf: &tile::TileLeaf<'_>,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Option<Found>, LeafError> {
    let parsed = leaf.entry()?;
    Ok(keep_found(
        parsed,
        || {
            leaf.pre_certificate
                .filter(|p| !p.is_empty())
                .map(sha256_hex)
        },
        keep,
    ))
}

/// What is kept of a read entry: `None` when `keep` accepts none of its names. `precert_hash`
/// gives a precertificate entry's precertificate hash (for the crt.sh look-up).
fn keep_found(
    parsed: Entry,
    precert_hash: impl FnOnce() -> Option<String>,
    keep: &dyn Fn(&str) -> bool,
) -> Option<Found> {
    let matched: Vec<String> = parsed
        .cert
        .names
        .iter()
        .filter(|n| keep(n))
        .cloned()
        .collect();
    if matched.is_empty() {
        return None;
    }
    let lookup = match parsed.kind {
        leaf::EntryKind::Certificate => Some(sha256_hex(&parsed.der)),
        leaf::EntryKind::Precertificate => precert_hash(),
    }
    .map(|h| format!("https://crt.sh/?sha256={h}"))
    .unwrap_or_else(|| format!("https://crt.sh/?serial={}", parsed.cert.serial));
    Some(Found {
        entry: parsed,
        matched,
        lookup,
    })
}

/// What reading the entries of one data tile gave.
#[derive(Debug)]
pub struct TileRead {
    /// Per entry from the first one asked for: its offset in the tile and what reading it
    /// gave.
    pub entries: Vec<(u64, ReadResult)>,
    /// Entries framed in the tile (read or skipped).
    pub framed: u64,
    /// Why the tile could not be framed past `framed` entries, if it could not.
    pub rest: Option<LeafError>,
}

/// Splits a data tile into at most `width` entries and reads those at the offsets in `range`
/// with [`read_tile_leaf`]. The way in for the poll, the fuzz target and the benchmark.
pub fn read_tile(
    body: &[u8],
    width: u64,
    range: std::ops::Range<u64>,
    keep: &dyn Fn(&str) -> bool,
) -> TileRead {
    let split = tile::split_tile(body, width);
    let entries = split
        .leaves
        .iter()
        .enumerate()
        .filter(|(i, _)| range.contains(&(*i as u64)))
        .map(|(i, l)| (i as u64, read_tile_leaf(l, keep)))
        .collect();
    TileRead {
        entries,
        framed: split.leaves.len() as u64,
        rest: split.rest,
    }
}

/// Makes a certificate's item point at the home page of its first lookalike name
/// (`https://NAME/`, a wildcard's `*.` dropped), so the screenshot task captures that page once
/// the item is flagged; the crt.sh look-up moves to the item's links. A name that makes no URL
/// leaves the item as it was.
pub fn point_at_home_page(item: &mut Item, found: &Found) {
    let Some(name) = found
        .matched
        .iter()
        .map(|n| n.strip_prefix("*.").unwrap_or(n))
        .find(|n| !n.contains('*'))
    else {
        return;
    };
    let Ok(home) = Url::parse(&format!("https://{name}/")) else {
        return;
    };
    if home.host_str().is_none() {
        return;
    }
    if let Some(lookup) = item.url.replace(home.to_string()) {
        if !item.links.contains(&lookup) {
            item.links.push(lookup);
        }
    }
}

/// The item for a kept entry, logged by `log_name` at `index`.
pub fn certificate_item(source_name: &str, log_name: &str, index: u64, found: &Found) -> Item {
    certificate_item_logged(source_name, &format!("{log_name} at index {index}"), found)
}

/// The item for a kept certificate, whose text says it was logged by `logged_by`; its id is
/// the certificate's hash (the same certificate from two logs is one item).
pub fn certificate_item_logged(source_name: &str, logged_by: &str, found: &Found) -> Item {
    let cert = &found.entry.cert;
    let kind = found.entry.kind.as_str();
    let first = found.matched.first().map_or("", String::as_str);
    let mut names: Vec<&str> = cert
        .names
        .iter()
        .take(NAMES_IN_TEXT)
        .map(String::as_str)
        .collect();
    let more = cert.names.len().saturating_sub(NAMES_IN_TEXT);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    if names.is_empty() {
        names.push(first);
    }
    let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| "unknown".into(), |t| t.to_rfc3339());
    let text = format!(
        "A TLS {kind} was issued for {}{more}.\nLookalike names: {}\nIssuer: {}\nValid from {} to {}\nSerial: {}\nLogged by {logged_by} on {}",
        names.join(", "),
        found.matched.join(", "),
        cert.issuer,
        when(cert.not_before),
        when(cert.not_after),
        cert.serial,
        when(found.entry.logged_at),
    );
    Item {
        id: Item::derive_id(source_name, &format!("ct:{}", sha256_hex(&found.entry.der))),
        source: SourceRef {
            kind: "ct".into(),
            name: source_name.into(),
        },
        url: Some(found.lookup.clone()),
        published_at: found.entry.logged_at,
        title: Some(format!("TLS {kind} for {first}")),
        text: Some(text),
        ..Item::default()
    }
}

impl CtSource {
    /// The source for a `[[source]]` of kind `ct`.
    pub fn new(name: &str, cfg: &CtConfig) -> CtSource {
        CtSource {
            name: name.to_string(),
            url_text: cfg.url().to_string(),
            logs: cfg
                .logs
                .iter()
                .map(|l| Log {
                    name: l.name.clone(),
                    api: match (&l.monitoring_url, &l.url) {
                        (Some(monitoring), _) => Api::Tiled {
                            monitoring: monitoring.clone(),
                            origin: checkpoint::origin_of(
                                l.submission_url.as_ref().unwrap_or(monitoring),
                            ),
                        },
                        (None, Some(url)) => Api::Rfc6962(url.clone()),
                        // Refused by the config check; a poll then fails on this host.
                        (None, None) => Api::Rfc6962(config::no_log().clone()),
                    },
                    key: LogKey::from_base64(&l.public_key),
                    log_id: base64::engine::general_purpose::STANDARD
                        .decode(l.public_key.trim())
                        .map(|der| checkpoint::log_id(&der))
                        .unwrap_or_default(),
                })
                .collect(),
            backfill: cfg.backfill,
            batch: cfg.batch.clamp(1, MAX_BATCH),
            home_page: cfg.home_page,
        }
    }

    fn payload(&self, url: &Url, what: &'static str, message: String) -> SourceError {
        SourceError::Payload {
            source_name: self.name.clone(),
            url: url.to_string(),
            what,
            message,
        }
    }

    async fn get(&self, ctx: &PollContext, url: Url) -> Result<(Capture, Vec<u8>), SourceError> {
        self.get_as(ctx, url, JSON_ACCEPT).await
    }

    async fn get_as(
        &self,
        ctx: &PollContext,
        url: Url,
        accept: &'static str,
    ) -> Result<(Capture, Vec<u8>), SourceError> {
        let fetched = ctx
            .fetcher
            .get(&FetchRequest::new(url.clone(), accept))
            .await
            .map_err(|error| SourceError::Fetch {
                source_name: self.name.clone(),
                error,
            })?;
        match fetched {
            Fetched::Body { capture, body, .. } => Ok((capture, body)),
            Fetched::NotModified { .. } => Err(self.payload(
                &url,
                ENTRIES_WHAT,
                "it answered 304 Not Modified to a request that was not conditional".into(),
            )),
        }
    }

    /// The log's signed tree head, signature checked.
    async fn tree_head(&self, ctx: &PollContext, log: &Log) -> Result<TreeHead, SourceError> {
        let url = common::join_path(log.base(), "ct/v1/get-sth");
        let key = log.key.as_ref().map_err(|e| SourceError::Setup {
            source_name: self.name.clone(),
            url: url.to_string(),
            message: format!("log `{}`: the public_key {e}", log.name),
        })?;
        let (_, body) = self.get(ctx, url.clone()).await?;
        let json: SthJson = common::decode_json(&self.name, &url, &body, STH_WHAT)?;
        sth::verify_sth(&json, key).map_err(|e| self.payload(&url, STH_WHAT, e.to_string()))
    }

    /// `get-entries` for `start..=end`: the capture and the entries (at most `end - start + 1`;
    /// never none).
    async fn entries(
        &self,
        ctx: &PollContext,
        log: &Log,
        start: u64,
        end: u64,
    ) -> Result<(Capture, Vec<EntryJson>), SourceError> {
        let mut url = common::join_path(log.base(), "ct/v1/get-entries");
        url.query_pairs_mut()
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string());
        let (capture, body) = self.get(ctx, url.clone()).await?;
        let mut got: GetEntries = common::decode_json(&self.name, &url, &body, ENTRIES_WHAT)?;
        if got.entries.is_empty() {
            return Err(self.payload(
                &url,
                ENTRIES_WHAT,
                format!("it holds no entries, though the tree head says {start} exists"),
            ));
        }
        let asked = usize::try_from(end - start + 1).unwrap_or(usize::MAX);
        got.entries.truncate(asked);
        Ok((capture, got.entries))
    }

    /// Where to start reading a log seen for the first time.
    async fn first_index(
        &self,
        ctx: &PollContext,
        log: &Log,
        head: &TreeHead,
    ) -> Result<u64, SourceError> {
        let Some(back) = self.backfill else {
            return Ok(head.tree_size);
        };
        let since_ms = chrono::Duration::from_std(back)
            .ok()
            .and_then(|back| Utc::now().checked_sub_signed(back))
            .map_or(i64::MIN, |since| since.timestamp_millis());
        // The first index logged at or after `since`; the log's order is close enough to time
        // order (within its merge delay) for a back-fill start.
        let (mut lo, mut hi) = (0u64, head.tree_size);
        for _ in 0..MAX_PROBES {
            if lo >= hi {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            let (_, entries) = self.entries(ctx, log, mid, mid).await?;
            let at = entries
                .first()
                .and_then(|e| {
                    base64::engine::general_purpose::STANDARD
                        .decode(e.leaf_input.trim())
                        .ok()
                })
                .and_then(|bytes| leaf::leaf_timestamp(&bytes));
            match at {
                Some(t) if t < since_ms => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// Reads one log from where it was left: updates `state` as it goes (so an error half-way
    /// keeps what was read) and adds the kept certificates to `poll`.
    async fn follow(
        &self,
        ctx: &PollContext,
        log: &Log,
        state: &mut LogState,
        fresh: bool,
        poll: &mut Poll,
    ) -> Result<(), SourceError> {
        match &log.api {
            Api::Rfc6962(_) => self.follow_rfc6962(ctx, log, state, fresh, poll).await,
            Api::Tiled { monitoring, origin } => {
                self.follow_tiled(ctx, log, monitoring, origin, state, fresh, poll)
                    .await
            }
        }
    }

    /// [`follow`](Self::follow) for an RFC 6962 log.
    async fn follow_rfc6962(
        &self,
        ctx: &PollContext,
        log: &Log,
        state: &mut LogState,
        fresh: bool,
        poll: &mut Poll,
    ) -> Result<(), SourceError> {
        let head = self.tree_head(ctx, log).await?;
        if fresh {
            state.next = self.first_index(ctx, log, &head).await?;
            tracing::info!(source = %self.name, log = %log.name, tree_size = head.tree_size, start = state.next, "following a new CT log");
        }
        if head.tree_size < state.next {
            return Err(self.payload(
                &common::join_path(log.base(), "ct/v1/get-sth"),
                STH_WHAT,
                format!(
                    "the tree size is {}, smaller than the {} entries already read; the log is misbehaving (cursor kept)",
                    head.tree_size, state.next
                ),
            ));
        }
        if ctx.lookalikes.is_none() && state.next < head.tree_size {
            tracing::warn!(source = %self.name, "no [[identity]] domains to compare certificates with: nothing is kept");
        }
        for _ in 0..MAX_REQUESTS {
            if state.next >= head.tree_size {
                break;
            }
            let end = state.next.saturating_add(self.batch).min(head.tree_size) - 1;
            let (capture, entries) = self.entries(ctx, log, state.next, end).await?;
            let entries = Arc::new(entries);
            let read = read_batch(entries.clone(), ctx.lookalikes.clone()).await;
            for (i, (e, result)) in entries.iter().zip(read).enumerate() {
                let index = state.next + i as u64;
                match result {
                    Ok(None) => {}
                    Ok(Some(found)) => {
                        let mut item = certificate_item(&self.name, &log.name, index, &found);
                        if self.home_page {
                            point_at_home_page(&mut item, &found);
                        }
                        item.matched_terms = ctx.watch.matches(&item.full_text());
                        poll.captures
                            .push(entry_capture(log.base(), index, &capture, e));
                        poll.items.push((poll.captures.len() - 1, item));
                    }
                    Err(err) => poll
                        .dropped
                        .push(format!("log `{}` entry {index}: {err}", log.name)),
                }
            }
            state.next += entries.len() as u64;
        }
        if state.next < head.tree_size {
            tracing::info!(source = %self.name, log = %log.name, behind = head.tree_size - state.next, "CT log not caught up this poll; the next poll goes on");
        }
        Ok(())
    }
}

/// Reads a batch of entries with [`read_entry`] on a blocking thread (matching a certificate's
/// names against many protected domains takes a while: not on the async workers); one result
/// per entry, in order.
async fn read_batch(
    entries: Arc<Vec<EntryJson>>,
    filter: Option<super::HostFilter>,
) -> Vec<ReadResult> {
    let count = entries.len();
    let read = move || {
        let keep = |name: &str| filter.as_ref().is_some_and(|f| f.matches(name));
        entries.iter().map(|e| read_entry(e, &keep)).collect()
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(done) => done,
        // The reader is fuzzed and should never panic; if it does, the batch is skipped with
        // a reason rather than read again for ever.
        Err(e) => {
            tracing::error!(error = %e, "reading a CT batch failed on its blocking thread");
            vec![
                Err(LeafError::Certificate {
                    what: "batch",
                    message: format!("reading it failed: {e}"),
                });
                count
            ]
        }
    }
}

type ReadResult = Result<Option<Found>, LeafError>;

/// The capture of one entry: the JSON a `get-entries` request for that index alone answers,
/// with the batch response's status, headers and times.
fn entry_capture(base: &Url, index: u64, batch: &Capture, entry: &EntryJson) -> (Capture, Vec<u8>) {
    let mut url = common::join_path(base, "ct/v1/get-entries");
    url.query_pairs_mut()
        .append_pair("start", &index.to_string())
        .append_pair("end", &index.to_string());
    let body = serde_json::to_vec(&serde_json::json!({ "entries": [entry] })).unwrap_or_default();
    let capture = Capture {
        url: url.to_string(),
        final_url: url.to_string(),
        status: batch.status,
        headers: batch.headers.clone(),
        sha256: sha256_hex(&body),
        size: body.len() as u64,
        started_at: batch.started_at,
        finished_at: batch.finished_at,
    };
    (capture, body)
}

#[async_trait::async_trait]
impl Source for CtSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "ct"
    }

    fn url(&self) -> &str {
        &self.url_text
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let old: CtState = common::load_state(&self.name, cursor.state.as_ref());
        let mut state = CtState::default();
        let mut poll = Poll::default();
        let mut first_error = None;
        let mut failed = 0;
        let mut moved = false;
        let now = Utc::now();
        for log in &self.logs {
            let saved = old.logs.get(&log.name).cloned();
            let fresh = saved.is_none();
            let mut ls = saved.unwrap_or_default();
            if ls.wait_until.is_some_and(|w| w > now) {
                state.logs.insert(log.name.clone(), ls);
                continue;
            }
            ls.wait_until = None;
            let before = ls.next;
            let span = tracing::info_span!("ct_log", source = %self.name, log = %log.name);
            let result = tracing::Instrument::instrument(
                self.follow(ctx, log, &mut ls, fresh, &mut poll),
                span,
            )
            .await;
            if let Err(e) = result {
                tracing::warn!(source = %self.name, log = %log.name, error = %e, "CT log failed this poll");
                if let Some(wait) = e.retry_after() {
                    ls.wait_until = chrono::Duration::from_std(wait).ok().map(|w| now + w);
                }
                poll.dropped.push(format!("log `{}`: {e}", log.name));
                failed += 1;
                first_error.get_or_insert(e);
                if fresh && ls.next == before {
                    // Never reached: next time starts from the head (or back-fill) again.
                    continue;
                }
            }
            moved |= ls.next != before || fresh;
            state.logs.insert(log.name.clone(), ls);
        }
        if failed == self.logs.len() && !moved {
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        poll.state = serde_json::to_value(&state).ok();
        Ok(poll)
    }
}

#[cfg(test)]
mod tests;
