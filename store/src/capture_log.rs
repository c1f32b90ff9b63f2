//! The capture log: every captured thing's SHA-256 (an item's body, its headers, a screenshot…)
//! appended to one hash chain, and the RFC 3161 timestamp tokens obtained for its heads.
//!
//! Entry `seq` (1, 2, 3… without gaps) links to the one before it:
//!
//! ```text
//! head(seq) = SHA-256( prev_head (32 bytes)
//!                   || seq (8 bytes, big-endian)
//!                   || len(item_id) (4 bytes, big-endian) || item_id (UTF-8)
//!                   || len(what)    (4 bytes, big-endian) || what (UTF-8)
//!                   || sha256 (32 bytes) )
//! ```
//!
//! with `prev_head` of entry 1 all zeros ([`GENESIS`]). A token for the head at `seq` proves
//! every entry up to `seq` existed no later than the TSA's time: [`chain_head`] recomputes a
//! link, [`ChainSegment::check`] a whole segment, offline. Both tables are append-only
//! (triggers refuse UPDATE and DELETE). The store keeps tokens verbatim and does not verify
//! them: that is the evidence crate's job.

use chrono::{DateTime, Utc};
use rusqlite::{params, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{now_ms, parse_ts, ts, Store};

/// The `prev_head` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The head after an entry: see the module documentation for the exact bytes hashed.
pub fn chain_head(
    prev_head: &[u8; 32],
    seq: i64,
    item_id: &str,
    what: &str,
    sha256: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_head);
    h.update(seq.to_be_bytes());
    for field in [item_id, what] {
        h.update(u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.update(sha256);
    h.finalize().into()
}

/// Something captured, to append to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogEntry {
    /// The item it belongs to.
    pub item_id: String,
    /// What it is: `body`, `headers`, `screenshot`, `media`…
    pub what: String,
    /// Its SHA-256, 64 hex digits.
    pub sha256: String,
}

/// An entry of the capture log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    /// Its position, from 1.
    pub seq: i64,
    /// The item it belongs to.
    pub item_id: String,
    /// What was captured.
    pub what: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The chain head before it (hex).
    pub prev_head: String,
    /// The chain head after it (hex).
    pub head: String,
    /// When it was logged (our clock: not evidence by itself).
    pub logged_at: DateTime<Utc>,
}

impl LogEntry {
    pub(crate) const COLUMNS: &'static str =
        "seq, item_id, what, sha256, prev_head, head, logged_at";

    /// The head as 32 bytes (what a TSA timestamps); `None` if it is not 64 hex digits.
    pub fn head_bytes(&self) -> Option<[u8; 32]> {
        hex32(&self.head).filter(|_| self.head.len() == 64)
    }
}

impl FromRow for LogEntry {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let seq: i64 = col(r, 0)?;
        let logged_at: String = col(r, 6)?;
        Ok(LogEntry {
            seq,
            item_id: col(r, 1)?,
            what: col(r, 2)?,
            sha256: col(r, 3)?,
            prev_head: col(r, 4)?,
            head: col(r, 5)?,
            logged_at: parse_ts(&logged_at, || {
                format!("logged_at of capture log entry {seq}")
            })?,
        })
    }
}

/// A token a TSA gave for a chain head, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimestampToken {
    /// The entry whose head was timestamped.
    pub seq: i64,
    /// That head (hex): must be the entry's.
    pub head: String,
    /// The TSA asked.
    pub tsa_url: String,
    /// The `TimeStampToken`, verbatim.
    pub token: Vec<u8>,
    /// The TSA's time, as the token states it.
    pub gen_time: DateTime<Utc>,
    /// When we asked.
    pub requested_at: DateTime<Utc>,
}

impl NewTimestampToken {
    /// Refuses the token unless `head` (entry `seq`'s head as stored; `None` when there is no
    /// such entry) is the head it was given for. Both back ends.
    pub(crate) fn check_head(&self, head: Option<String>) -> Result<()> {
        match head {
            Some(head) if head == self.head => Ok(()),
            Some(head) => Err(StoreError::InvalidInput(format!(
                "the token is for head {}, but entry {} has head {head}",
                self.head, self.seq
            ))),
            None => Err(StoreError::InvalidInput(format!(
                "no capture log entry {}",
                self.seq
            ))),
        }
    }
}

/// A recorded token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimestampTokenRecord {
    /// Its id.
    pub id: i64,
    /// The entry whose head it timestamps.
    pub seq: i64,
    /// That head (hex).
    pub head: String,
    /// The TSA.
    pub tsa_url: String,
    /// The `TimeStampToken`, verbatim.
    pub token: Vec<u8>,
    /// The TSA's time.
    pub gen_time: DateTime<Utc>,
    /// When we asked.
    pub requested_at: DateTime<Utc>,
}

impl TimestampTokenRecord {
    const COLUMNS: &'static str = "id, seq, head, tsa_url, token, gen_time, requested_at";
}

impl FromRow for TimestampTokenRecord {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let gen_time: String = col(r, 5)?;
        let requested_at: String = col(r, 6)?;
        Ok(TimestampTokenRecord {
            id,
            seq: col(r, 1)?,
            head: col(r, 2)?,
            tsa_url: col(r, 3)?,
            token: col(r, 4)?,
            gen_time: parse_ts(&gen_time, || format!("gen_time of timestamp token {id}"))?,
            requested_at: parse_ts(&requested_at, || {
                format!("requested_at of timestamp token {id}")
            })?,
        })
    }
}

/// The part of the chain a pack needs: from the first entry of its items to a timestamped head
/// at or after their last entry (or the current head, when none is timestamped yet), and the
/// tokens for that last head; when the last head is not timestamped, the tokens of the last
/// timestamped head inside the segment instead (they cover the entries up to it, so entries
/// logged since, such as a screenshot `export` took itself, are the only ones without a
/// trusted time).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainSegment {
    /// Consecutive entries (other items' entries in between included: the links need them).
    pub entries: Vec<LogEntry>,
    /// Tokens for the last entry's head; when it is not timestamped yet, those for the last
    /// timestamped head in the segment, if any (each token names its entry by `seq`).
    pub tokens: Vec<TimestampTokenRecord>,
}

impl ChainSegment {
    /// Recomputes every link: each entry's `prev_head` is the head before it, each head is
    /// [`chain_head`] of its fields, the `seq`s are consecutive, and every token is for the
    /// head of the entry it names, all of them for one entry. Returns the last head (hex); the
    /// error names the first broken entry.
    pub fn check(&self) -> std::result::Result<Option<String>, ChainError> {
        let mut prev: Option<(i64, [u8; 32])> = None;
        let mut heads: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        for e in &self.entries {
            let at = |problem: String| ChainError::Entry {
                seq: e.seq,
                item_id: e.item_id.clone(),
                problem,
            };
            let prev_head =
                hex32(&e.prev_head).ok_or_else(|| at("prev_head is not a SHA-256".into()))?;
            let sha256 = hex32(&e.sha256).ok_or_else(|| at("sha256 is not a SHA-256".into()))?;
            if let Some((seq, head)) = prev {
                if e.seq != seq + 1 {
                    return Err(at(format!("follows entry {seq}")));
                }
                if prev_head != head {
                    return Err(at("does not link to the entry before it".into()));
                }
            }
            let head = chain_head(&prev_head, e.seq, &e.item_id, &e.what, &sha256);
            if hex::encode(head) != e.head {
                return Err(at(
                    "its head is not the hash of its fields (the entry was edited)".into(),
                ));
            }
            prev = Some((e.seq, head));
            heads.insert(e.seq, hex::encode(head));
        }
        let last = prev.map(|(seq, head)| (seq, hex::encode(head)));
        let stamped = self.tokens.first().map(|t| t.seq);
        for t in &self.tokens {
            if heads.get(&t.seq) != Some(&t.head) || Some(t.seq) != stamped {
                return Err(ChainError::Token {
                    id: t.id,
                    seq: t.seq,
                });
            }
        }
        Ok(last.map(|(_, head)| head))
    }
}

/// Why a [`ChainSegment`] does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An entry is malformed, out of sequence, unlinked or edited.
    #[error("capture log entry {seq} ({item_id}): {problem}")]
    Entry {
        /// The entry's sequence number.
        seq: i64,
        /// The item it logs.
        item_id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A timestamp token is not for the head of an entry in the segment, or not for the same
    /// entry as the others.
    #[error("timestamp token {id} is not for the head of entry {seq} in the segment")]
    Token {
        /// The token's id.
        id: i64,
        /// The entry it is for.
        seq: i64,
    },
}

pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl Store {
    /// Sets (or with `None` clears) why captures are waiting for a trusted timestamp in this
    /// process: the timestamp task sets it while no TSA answers, for the Sources page and
    /// `/readyz` to show. Ingest is not affected.
    pub fn set_timestamp_gap(&self, gap: Option<String>) {
        *self
            .inner
            .timestamp_gap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = gap;
    }

    /// Why captures are waiting for a trusted timestamp in this process, if they are.
    pub fn timestamp_gap(&self) -> Option<String> {
        self.inner
            .timestamp_gap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Appends `entries`, in order, in one transaction; returns them as logged.
    pub fn append_capture_log(&self, entries: &[NewLogEntry]) -> Result<Vec<LogEntry>> {
        let parsed = parse_entries(entries)?;
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting a capture log append")?;
            let out = append_parsed(&tx, parsed)?;
            tx.commit().ctx("committing a capture log append")?;
            Ok(out)
        })
    }

    /// The chain's current head: its last entry, or `None` while the log is empty.
    pub fn capture_log_head(&self) -> Result<Option<LogEntry>> {
        self.with_conn(|conn| last_entry(conn))
    }

    /// Entries after the last timestamped one, newest first, at most `limit`: the first is the
    /// head to timestamp next (a token for it covers all of them). Empty when the head is
    /// timestamped.
    pub fn untimestamped_heads(&self, limit: usize) -> Result<Vec<LogEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM capture_log
                     WHERE seq > (SELECT COALESCE(max(seq), 0) FROM timestamp_tokens)
                     ORDER BY seq DESC LIMIT ?1",
                    LogEntry::COLUMNS
                ),
                [limit],
                || "reading the capture log's untimestamped heads".into(),
            )
        })
    }

    /// The oldest entry waiting for a timestamp (after the last timestamped one): when it was
    /// logged is how long the chain has gone without a trusted time. `None` when the head is
    /// timestamped or the log is empty.
    pub fn oldest_untimestamped(&self) -> Result<Option<LogEntry>> {
        self.with_conn(|conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {} FROM capture_log
                     WHERE seq > (SELECT COALESCE(max(seq), 0) FROM timestamp_tokens)
                     ORDER BY seq LIMIT 1",
                    LogEntry::COLUMNS
                ),
                [],
                || "reading the capture log's oldest untimestamped entry".into(),
            )
        })
    }

    /// Records a token for the head of entry `token.seq`; refuses one whose head is not that
    /// entry's. Returns its id.
    pub fn record_timestamp_token(&self, token: &NewTimestampToken) -> Result<i64> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record a timestamp token")?;
            let head: Option<(String,)> = query_opt(
                &tx,
                "SELECT head FROM capture_log WHERE seq = ?1",
                [token.seq],
                || format!("reading capture log entry {}", token.seq),
            )?;
            token.check_head(head.map(|(h,)| h))?;
            tx.execute(
                "INSERT INTO timestamp_tokens (seq, head, tsa_url, token, gen_time, requested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token.seq,
                    token.head,
                    token.tsa_url,
                    token.token,
                    ts(&token.gen_time),
                    ts(&token.requested_at)
                ],
            )
            .ctx("recording a timestamp token")?;
            let id = tx.last_insert_rowid();
            tx.commit().ctx("committing a timestamp token")?;
            Ok(id)
        })
    }

    /// The chain segment that covers every entry of `item_ids` (see [`ChainSegment`]); empty
    /// when none of them has an entry.
    pub fn capture_log_segment(&self, item_ids: &[&str]) -> Result<ChainSegment> {
        self.with_conn(|conn| {
            let mut first = i64::MAX;
            let mut last = 0;
            for id in item_ids {
                let range: Option<(Option<i64>, Option<i64>)> = query_opt(
                    conn,
                    "SELECT min(seq), max(seq) FROM capture_log WHERE item_id = ?1",
                    [id],
                    || format!("finding item {id} in the capture log"),
                )?;
                if let Some((Some(lo), Some(hi))) = range {
                    first = first.min(lo);
                    last = last.max(hi);
                }
            }
            if last == 0 {
                return Ok(ChainSegment::default());
            }
            let stamped: Option<(Option<i64>,)> = query_opt(
                conn,
                "SELECT min(seq) FROM timestamp_tokens WHERE seq >= ?1",
                [last],
                || "finding the timestamp that covers the items".into(),
            )?;
            let (end, stamped_end) = match stamped {
                Some((Some(seq),)) => (seq, true),
                _ => (last_entry(conn)?.map_or(last, |e| e.seq), false),
            };
            // The last head the tokens are for: the segment's own, else the last timestamped
            // one inside it.
            let token_seq = if stamped_end {
                end
            } else {
                let before: Option<(Option<i64>,)> = query_opt(
                    conn,
                    "SELECT max(seq) FROM timestamp_tokens WHERE seq BETWEEN ?1 AND ?2",
                    [first, end],
                    || "finding the last timestamp inside the segment".into(),
                )?;
                match before {
                    Some((Some(seq),)) => seq,
                    _ => end,
                }
            };
            let entries = query_all(
                conn,
                &format!(
                    "SELECT {} FROM capture_log WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
                    LogEntry::COLUMNS
                ),
                [first, end],
                || "reading a capture log segment".into(),
            )?;
            let tokens = query_all(
                conn,
                &format!(
                    "SELECT {} FROM timestamp_tokens WHERE seq = ?1 ORDER BY id",
                    TimestampTokenRecord::COLUMNS
                ),
                [token_seq],
                || "reading timestamp tokens".into(),
            )?;
            Ok(ChainSegment { entries, tokens })
        })
    }
}

/// The capture log entries of an item's capture: `body` (the response bytes' SHA-256, as
/// captured) and `headers` (the SHA-256 of the headers as the store keeps them: their JSON).
pub(crate) fn capture_entries(
    item_id: &str,
    c: &ballotwatch_core::Capture,
) -> Result<[NewLogEntry; 2]> {
    let headers = serde_json::to_string(&c.headers)
        .json_ctx(|| format!("serializing the headers of the capture of {}", c.url))?;
    Ok([
        NewLogEntry {
            item_id: item_id.to_string(),
            what: what::BODY.into(),
            sha256: c.sha256.to_ascii_lowercase(),
        },
        NewLogEntry {
            item_id: item_id.to_string(),
            what: what::HEADERS.into(),
            sha256: hex::encode(Sha256::digest(headers.as_bytes())),
        },
    ])
}

/// What the capture log calls each kind of captured thing (`what` of an entry).
pub mod what {
    /// An HTTP response body, as captured.
    pub const BODY: &str = "body";
    /// An HTTP exchange's response headers (their JSON as the store keeps them).
    pub const HEADERS: &str = "headers";
    /// A medium (image, video, attachment) attached to or linked by an item, as captured.
    pub const MEDIA: &str = "media";
    /// A frame (first frame or keyframe) taken from one of the item's videos, as PNG.
    pub const FRAME: &str = "frame";
    /// A full-page screenshot (PNG) of the item's web page.
    pub const SCREENSHOT: &str = "screenshot";
    /// The item's web page as Chromium rendered it when the screenshot was taken (HTML).
    pub const RENDERED_HTML: &str = "rendered_html";
}

/// The capture log entries of an item's captured media: `media` for each image, video or
/// attachment with a SHA-256 and `frame` for each frame taken from a video, in the order the
/// item lists them. Media that were not captured (no SHA-256) have none.
pub(crate) fn media_entries(item: &ballotwatch_core::Item) -> Vec<NewLogEntry> {
    item.media
        .iter()
        .filter_map(|m| {
            let sha = m.sha256.as_deref()?;
            Some(NewLogEntry {
                item_id: item.id.clone(),
                what: if m.frame_of.is_some() {
                    what::FRAME
                } else {
                    what::MEDIA
                }
                .into(),
                sha256: sha.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// Checks each entry's fields: the SHA-256 as 32 bytes, item id and `what` not empty.
pub(crate) fn parse_entries(entries: &[NewLogEntry]) -> Result<Vec<(&NewLogEntry, [u8; 32])>> {
    let mut parsed = Vec::with_capacity(entries.len());
    for e in entries {
        let sha256 = hex32(&e.sha256)
            .filter(|_| e.sha256.len() == 64)
            .ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "capture log entry for item {}: sha256 `{}` is not 64 hex digits",
                    e.item_id, e.sha256
                ))
            })?;
        if e.what.is_empty() || e.item_id.is_empty() {
            return Err(StoreError::InvalidInput(
                "capture log entry: item id and what must not be empty".into(),
            ));
        }
        parsed.push((e, sha256));
    }
    Ok(parsed)
}

/// Appends `entries` inside the caller's (immediate) transaction, so they commit or roll back
/// with what they describe: how a poll logs its captures in the transaction that records them.
pub(crate) fn append_in(
    conn: &rusqlite::Connection,
    entries: &[NewLogEntry],
) -> Result<Vec<LogEntry>> {
    append_parsed(conn, parse_entries(entries)?)
}

fn append_parsed(
    conn: &rusqlite::Connection,
    parsed: Vec<(&NewLogEntry, [u8; 32])>,
) -> Result<Vec<LogEntry>> {
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let last = last_entry(conn)?;
    let (mut seq, mut head) = match &last {
        Some(e) => (
            e.seq,
            hex32(&e.head).ok_or_else(|| {
                StoreError::corrupt(format!("capture log entry {}", e.seq), "bad head")
            })?,
        ),
        None => (0, GENESIS),
    };
    let logged_at = now_ms();
    let mut out = Vec::with_capacity(parsed.len());
    for (e, sha256) in parsed {
        seq += 1;
        let prev = head;
        head = chain_head(&prev, seq, &e.item_id, &e.what, &sha256);
        let entry = LogEntry {
            seq,
            item_id: e.item_id.clone(),
            what: e.what.clone(),
            sha256: hex::encode(sha256),
            prev_head: hex::encode(prev),
            head: hex::encode(head),
            logged_at,
        };
        conn.prepare_cached(
            "INSERT INTO capture_log (seq, item_id, what, sha256, prev_head, head, logged_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut st| {
            st.execute(params![
                entry.seq,
                entry.item_id,
                entry.what,
                entry.sha256,
                entry.prev_head,
                entry.head,
                ts(&logged_at)
            ])
        })
        .ctx("appending to the capture log")?;
        out.push(entry);
    }
    Ok(out)
}

fn last_entry(conn: &rusqlite::Connection) -> Result<Option<LogEntry>> {
    query_opt(
        conn,
        &format!(
            "SELECT {} FROM capture_log ORDER BY seq DESC LIMIT 1",
            LogEntry::COLUMNS
        ),
        [],
        || "reading the capture log's head".into(),
    )
}

#[cfg(test)]
mod tests;
