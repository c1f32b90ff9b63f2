//! Recording what polling a source produced: capture rows, new item versions and the source's
//! polling state, all in one transaction.

use std::collections::HashMap;

use ballotwatch_core::{Capture, Item};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use crate::blobs::normalise_sha;
use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::{now_ms, parse_opt_ts, ts, Store};

/// Longest `last_error` kept, in bytes; longer messages are cut at a character boundary.
const MAX_ERROR_LEN: usize = 4096;

/// Migration: what polls left out of the responses they read (entries that did not become
/// items), per source.
pub(crate) const M_DROPPED: &str = "
ALTER TABLE source_state ADD COLUMN items_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_state ADD COLUMN last_dropped TEXT;
ALTER TABLE source_state ADD COLUMN last_dropped_at TEXT;
";

/// A capture plus where its bytes are, ready to be recorded.
///
/// The blob must already be stored with [`Store::put_blob`]; [`Store::record_capture`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCapture {
    /// The capture record; its `sha256` names the stored blob.
    pub capture: Capture,
}

/// What one poll of a source produced (a source may make several requests per poll).
#[derive(Debug, Clone)]
pub struct PollRecord {
    /// Every response received, blobs already written with [`Store::put_blob`].
    pub captures: Vec<Capture>,
    /// The items read, each with the index into `captures` of the response it was read from.
    /// Items must be normalised (non-empty `id`).
    pub items: Vec<(usize, Item)>,
    /// The `ETag` to send next time (kept as is when `None`).
    pub etag: Option<String>,
    /// The `Last-Modified` to send next time (kept as is when `None`).
    pub last_modified: Option<String>,
    /// The source's opaque resume position (kept as is when `None`).
    pub cursor: Option<serde_json::Value>,
    /// The source answered 304 Not Modified: there are no captures and no items.
    pub not_modified: bool,
    /// When the poll started.
    pub attempted_at: DateTime<Utc>,
    /// When the source should be polled next.
    pub next_attempt_at: DateTime<Utc>,
}

/// How the items of one poll compared with what was already stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    /// Items never seen before (stored as version 1).
    pub new: usize,
    /// Known items whose content changed (stored as a new version).
    pub updated: usize,
    /// Items identical to their latest stored version (not stored again).
    pub unchanged: usize,
}

/// A source's polling state and counters, as the scheduler and the status page need them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SourceState {
    /// The source's configured name.
    pub source: String,
    /// The last `ETag` the source sent.
    pub etag: Option<String>,
    /// The last `Last-Modified` the source sent.
    pub last_modified: Option<String>,
    /// The source's opaque resume position.
    pub cursor: Option<serde_json::Value>,
    /// When the last poll (successful or not) started.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the last successful poll started.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error, kept after later successes as history.
    pub last_error: Option<String>,
    /// When the last error happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The URL the last error was about.
    pub last_error_url: Option<String>,
    /// Failed polls since the last success.
    pub consecutive_failures: u32,
    /// When the source should be polled next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Successful polls recorded (including 304s).
    pub fetches: u64,
    /// Successful polls that were 304 Not Modified.
    pub not_modified: u64,
    /// Items stored as version 1.
    pub items_new: u64,
    /// New versions stored for known items.
    pub items_updated: u64,
    /// Failed polls recorded.
    pub errors: u64,
    /// Entries that polls read but left out (did not make items of), over all polls.
    pub items_dropped: u64,
    /// What the last poll that left entries out said about them, kept as history.
    pub last_dropped: Option<String>,
    /// When that poll started.
    pub last_dropped_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Records one capture outside a poll (e.g. a media file fetched as evidence) and returns
    /// its row id. Recording the same fetch again (same source, URL, start time and SHA-256)
    /// returns the existing row.
    pub fn record_capture(&self, source: &str, new: NewCapture) -> Result<i64> {
        self.check_capture(source, &new.capture)?;
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to record a capture of {}", new.capture.url))?;
            let (id, _) = insert_capture(&tx, source, &new.capture)?;
            tx.commit()
                .with_ctx(|| format!("committing the capture of {}", new.capture.url))?;
            Ok(id)
        })
    }

    /// Records a successful poll of `source` in one transaction.
    ///
    /// Inserts the captures, then each item as version 1 (unknown id) or latest + 1 (known id
    /// whose latest `content_hash` differs); an item identical to its latest version counts as
    /// `unchanged` and is not inserted. New versions get stage `new`, `version` and `ingested_at`
    /// (now) set by the store. If an id appears more than once in `poll.items`, only its last
    /// occurrence is considered and the others count as `unchanged`. Then updates the source's
    /// state: `etag`/`last_modified`/`cursor` only when `Some`; `last_attempt_at`,
    /// `last_success_at` (both `attempted_at`), `consecutive_failures = 0`, `next_attempt_at`,
    /// counters. `last_error` and friends are kept as history.
    ///
    /// Idempotent under retry: recording the same `PollRecord` again (after a crash, say) inserts
    /// nothing new and does not count the poll twice.
    ///
    /// Fails without writing anything when a capture's blob is missing or the wrong size, an item
    /// has no id or points at a capture that is not in `poll.captures`, or a 304 carries data.
    pub fn record_poll(&self, source: &str, poll: PollRecord) -> Result<PollOutcome> {
        self.record_poll_as(source, source, poll)
    }

    /// Like [`Store::record_poll`], with the resume state and health kept under `state_name`
    /// instead of the source's name: for a source's second way in (e.g. Bluesky's real-time
    /// Jetstream beside its polled API), whose cursor and schedule must not overwrite the
    /// polled part's. Items and captures are stored under `source`, like every other item of
    /// that source.
    pub fn record_poll_as(
        &self,
        state_name: &str,
        source: &str,
        poll: PollRecord,
    ) -> Result<PollOutcome> {
        self.check_poll(source, &poll)?;
        let ingested_at = now_ms();
        let keep = last_occurrences(&poll.items);
        let attempted = ts(&poll.attempted_at);
        let next = ts(&poll.next_attempt_at);
        let cursor = poll
            .cursor
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .json_ctx(|| format!("serializing the cursor of source `{source}`"))?;

        let outcome = self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to record a poll of source `{source}`"))?;

            let mut capture_ids = Vec::with_capacity(poll.captures.len());
            let mut captures_inserted = 0usize;
            for c in &poll.captures {
                let (id, inserted) = insert_capture(&tx, source, c)?;
                capture_ids.push(id);
                captures_inserted += usize::from(inserted);
            }

            let mut out = PollOutcome::default();
            for (i, (capture_idx, item)) in poll.items.iter().enumerate() {
                if !keep[i] {
                    out.unchanged += 1;
                    continue;
                }
                // check_poll guarantees the index is in range.
                let capture_id = capture_ids.get(*capture_idx).copied();
                match insert_item_version(&tx, source, item, capture_id, ingested_at)? {
                    Change::New => out.new += 1,
                    Change::Updated => out.updated += 1,
                    Change::Unchanged => out.unchanged += 1,
                }
            }

            // A retry of a poll that was already committed has the same attempted_at as the
            // recorded last success and brings no new capture: do not count it again.
            let last_success: Option<Option<String>> = tx
                .query_row(
                    "SELECT last_success_at FROM source_state WHERE source = ?1",
                    [state_name],
                    |r| r.get(0),
                )
                .optional()
                .with_ctx(|| format!("reading the state of source `{source}`"))?;
            let replay = captures_inserted == 0
                && last_success.flatten().as_deref() == Some(attempted.as_str());
            let fetches = i64::from(!replay);
            let not_modified = i64::from(!replay && poll.not_modified);

            tx.prepare_cached(
                "INSERT INTO source_state(source, etag, last_modified, cursor, last_attempt_at,
                     last_success_at, consecutive_failures, next_attempt_at, fetches, not_modified,
                     items_new, items_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(source) DO UPDATE SET
                     etag = COALESCE(excluded.etag, etag),
                     last_modified = COALESCE(excluded.last_modified, last_modified),
                     cursor = COALESCE(excluded.cursor, cursor),
                     last_attempt_at = excluded.last_attempt_at,
                     last_success_at = excluded.last_success_at,
                     consecutive_failures = 0,
                     next_attempt_at = excluded.next_attempt_at,
                     fetches = fetches + excluded.fetches,
                     not_modified = not_modified + excluded.not_modified,
                     items_new = items_new + excluded.items_new,
                     items_updated = items_updated + excluded.items_updated",
            )
            .and_then(|mut st| {
                st.execute(params![
                    state_name,
                    poll.etag,
                    poll.last_modified,
                    cursor,
                    attempted,
                    next,
                    fetches,
                    not_modified,
                    i64::try_from(out.new).unwrap_or(i64::MAX),
                    i64::try_from(out.updated).unwrap_or(i64::MAX),
                ])
            })
            .with_ctx(|| format!("updating the state of source `{source}`"))?;

            tx.commit()
                .with_ctx(|| format!("committing a poll of source `{source}`"))?;
            if replay {
                tracing::info!(source, "poll was already recorded; nothing new stored");
            }
            Ok(out)
        })?;
        tracing::debug!(
            source,
            new = outcome.new,
            updated = outcome.updated,
            unchanged = outcome.unchanged,
            "recorded poll"
        );
        Ok(outcome)
    }

    /// Records a failed poll of `source`: `last_error` (cut to 4 KiB), `last_error_at`,
    /// `last_error_url`, `last_attempt_at`, `consecutive_failures + 1`, `errors + 1` and when to
    /// try again.
    pub fn record_poll_error(
        &self,
        source: &str,
        url: &str,
        error: &str,
        attempted_at: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        let error = truncate(error, MAX_ERROR_LEN);
        let attempted = ts(&attempted_at);
        let next = ts(&next_attempt_at);
        self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO source_state(source, last_attempt_at, last_error, last_error_at,
                     last_error_url, consecutive_failures, next_attempt_at, errors)
                 VALUES (?1, ?2, ?3, ?2, ?4, 1, ?5, 1)
                 ON CONFLICT(source) DO UPDATE SET
                     last_attempt_at = excluded.last_attempt_at,
                     last_error = excluded.last_error,
                     last_error_at = excluded.last_error_at,
                     last_error_url = excluded.last_error_url,
                     consecutive_failures = consecutive_failures + 1,
                     next_attempt_at = excluded.next_attempt_at,
                     errors = errors + 1",
            )
            .and_then(|mut st| st.execute(params![source, attempted, error, url, next]))
            .with_ctx(|| format!("recording a failed poll of source `{source}`"))?;
            Ok(())
        })?;
        tracing::debug!(source, url, error, "recorded poll error");
        Ok(())
    }

    /// Records that a poll of `source` (the state name, as for [`Store::record_poll_as`]) that
    /// started at `attempted_at` left out the entries `dropped` describes (one sentence each):
    /// `items_dropped += dropped.len()`, `last_dropped` = a summary (cut to 4 KiB),
    /// `last_dropped_at`. Nothing happens when `dropped` is empty. Recording the same poll
    /// again (same `attempted_at`) does not count it twice.
    pub fn record_dropped(
        &self,
        source: &str,
        dropped: &[String],
        attempted_at: DateTime<Utc>,
    ) -> Result<()> {
        if dropped.is_empty() {
            return Ok(());
        }
        let summary = dropped_summary(dropped);
        let summary = truncate(&summary, MAX_ERROR_LEN);
        let at = ts(&attempted_at);
        let n = i64::try_from(dropped.len()).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO source_state(source, items_dropped, last_dropped, last_dropped_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(source) DO UPDATE SET
                     items_dropped = items_dropped
                         + (CASE WHEN last_dropped_at IS excluded.last_dropped_at THEN 0
                                 ELSE excluded.items_dropped END),
                     last_dropped = excluded.last_dropped,
                     last_dropped_at = excluded.last_dropped_at",
            )
            .and_then(|mut st| st.execute(params![source, n, summary, at]))
            .with_ctx(|| format!("recording entries a poll of source `{source}` left out"))?;
            Ok(())
        })?;
        tracing::warn!(
            source,
            dropped = dropped.len(),
            summary,
            "a poll left entries out"
        );
        Ok(())
    }

    /// The polling state of one source, or `None` if it was never polled.
    pub fn source_state(&self, source: &str) -> Result<Option<SourceState>> {
        let raw = self.with_conn(|conn| {
            conn.prepare_cached(&format!("{SOURCE_STATE_SELECT} WHERE source = ?1"))
                .and_then(|mut st| st.query_row([source], RawSourceState::from_row).optional())
                .with_ctx(|| format!("reading the state of source `{source}`"))
        })?;
        raw.map(RawSourceState::into_state).transpose()
    }

    /// The polling state of every source ever polled, by name.
    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        let raws = self.with_conn(|conn| {
            conn.prepare_cached(&format!("{SOURCE_STATE_SELECT} ORDER BY source"))
                .and_then(|mut st| {
                    st.query_map([], RawSourceState::from_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .ctx("reading the state of every source")
        })?;
        raws.into_iter().map(RawSourceState::into_state).collect()
    }

    /// Checks a capture before it is recorded: valid SHA-256, blob stored, sizes agree.
    fn check_capture(&self, source: &str, c: &Capture) -> Result<()> {
        let sha = normalise_sha(&c.sha256).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "capture of {} for source `{source}` has sha256 `{}`, which is not 64 hex digits",
                c.url,
                c.sha256.escape_debug()
            ))
        })?;
        let len = self.blob_len(&sha).map_err(|e| match e {
            StoreError::BlobNotFound { path, .. } => StoreError::InvalidInput(format!(
                "capture of {} for source `{source}` names blob {sha}, but {} does not exist: \
                 store the body with put_blob before recording the capture",
                c.url,
                path.display()
            )),
            other => other,
        })?;
        if len != c.size {
            return Err(StoreError::InvalidInput(format!(
                "capture of {} for source `{source}` says {} bytes but blob {sha} holds {len}",
                c.url, c.size
            )));
        }
        Ok(())
    }

    /// Checks a poll before anything is written, so bad input never reaches the database.
    fn check_poll(&self, source: &str, poll: &PollRecord) -> Result<()> {
        if source.trim().is_empty() {
            return Err(StoreError::InvalidInput(
                "a poll needs the name of its source".into(),
            ));
        }
        if poll.not_modified && (!poll.captures.is_empty() || !poll.items.is_empty()) {
            return Err(StoreError::InvalidInput(format!(
                "a not-modified poll of source `{source}` carries {} captures and {} items; \
                 a 304 has neither",
                poll.captures.len(),
                poll.items.len()
            )));
        }
        for c in &poll.captures {
            self.check_capture(source, c)?;
        }
        for (i, (capture_idx, item)) in poll.items.iter().enumerate() {
            if item.id.trim().is_empty() {
                return Err(StoreError::InvalidInput(format!(
                    "item {i} of a poll of source `{source}` (url {}) has no id: normalise items \
                     before recording them",
                    item.url.as_deref().unwrap_or("none")
                )));
            }
            if *capture_idx >= poll.captures.len() {
                return Err(StoreError::InvalidInput(format!(
                    "item `{}` of a poll of source `{source}` says it was read from capture \
                     {capture_idx}, but the poll has {} captures",
                    item.id,
                    poll.captures.len()
                )));
            }
        }
        Ok(())
    }
}

/// For each position in `items`, whether it is the last occurrence of its id.
fn last_occurrences(items: &[(usize, Item)]) -> Vec<bool> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (_, item)) in items.iter().enumerate() {
        last.insert(item.id.as_str(), i);
    }
    (0..items.len())
        .map(|i| last.get(items[i].1.id.as_str()) == Some(&i))
        .collect()
}

/// Inserts a capture row, or finds the row of the same fetch recorded earlier.
/// Returns the row id and whether it was inserted now.
fn insert_capture(tx: &Transaction<'_>, source: &str, c: &Capture) -> Result<(i64, bool)> {
    let headers = serde_json::to_string(&c.headers)
        .json_ctx(|| format!("serializing the headers of the capture of {}", c.url))?;
    let sha = c.sha256.to_ascii_lowercase();
    let size = i64::try_from(c.size).map_err(|_| {
        StoreError::InvalidInput(format!(
            "capture of {} is {} bytes: too large",
            c.url, c.size
        ))
    })?;
    let started = ts(&c.started_at);
    let what = || format!("recording the capture of {} for source `{source}`", c.url);
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO captures(source, url, final_url, status, headers, sha256, size,
                 started_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(source, url, started_at, sha256) DO NOTHING
             RETURNING id",
        )
        .and_then(|mut st| {
            st.query_row(
                params![
                    source,
                    c.url,
                    c.final_url,
                    c.status,
                    headers,
                    sha,
                    size,
                    started,
                    ts(&c.finished_at)
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .with_ctx(what)?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id = tx
        .prepare_cached(
            "SELECT id FROM captures
             WHERE source = ?1 AND url = ?2 AND started_at = ?3 AND sha256 = ?4",
        )
        .and_then(|mut st| st.query_row(params![source, c.url, started, sha], |r| r.get(0)))
        .with_ctx(what)?;
    Ok((id, false))
}

enum Change {
    New,
    Updated,
    Unchanged,
}

/// Stores `item` as a new version if its content differs from the latest stored version.
fn insert_item_version(
    tx: &Transaction<'_>,
    source: &str,
    item: &Item,
    capture_id: Option<i64>,
    ingested_at: DateTime<Utc>,
) -> Result<Change> {
    let hash = item.content_hash();
    let latest: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT version, content_hash FROM items WHERE id = ?1 ORDER BY version DESC LIMIT 1",
        )
        .and_then(|mut st| {
            st.query_row([&item.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .with_ctx(|| format!("reading the latest version of item `{}`", item.id))?;
    let (version, change) = match latest {
        None => (1, Change::New),
        Some((_, h)) if h == hash => return Ok(Change::Unchanged),
        Some((v, _)) => (v.saturating_add(1), Change::Updated),
    };
    let mut stored = item.clone();
    stored.version = u32::try_from(version).map_err(|_| {
        StoreError::corrupt(
            format!("items.version of item `{}`", item.id),
            format!("{version} is out of range"),
        )
    })?;
    stored.ingested_at = Some(ingested_at);
    let json =
        serde_json::to_string(&stored).json_ctx(|| format!("serializing item `{}`", item.id))?;
    tx.prepare_cached(
        "INSERT INTO items(id, version, source, source_kind, url, published_at, ingested_at,
             content_hash, item_json, capture_id, stage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'new')",
    )
    .and_then(|mut st| {
        st.execute(params![
            stored.id,
            version,
            source,
            stored.source.kind,
            stored.url,
            stored.published_at.as_ref().map(ts),
            ts(&ingested_at),
            hash,
            json,
            capture_id,
        ])
    })
    .with_ctx(|| format!("storing version {version} of item `{}`", item.id))?;
    Ok(change)
}

/// "1 entry left out: why" / "3 entries left out: why; why; why".
pub fn dropped_summary(dropped: &[String]) -> String {
    let n = dropped.len();
    let noun = if n == 1 { "entry" } else { "entries" };
    format!("{n} {noun} left out: {}", dropped.join("; "))
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const SOURCE_STATE_SELECT: &str = "SELECT source, etag, last_modified, cursor, last_attempt_at,
    last_success_at, last_error, last_error_at, last_error_url, consecutive_failures,
    next_attempt_at, fetches, not_modified, items_new, items_updated, errors, items_dropped,
    last_dropped, last_dropped_at FROM source_state";

/// A `source_state` row before its values are checked.
struct RawSourceState {
    source: String,
    etag: Option<String>,
    last_modified: Option<String>,
    cursor: Option<String>,
    last_attempt_at: Option<String>,
    last_success_at: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<String>,
    last_error_url: Option<String>,
    consecutive_failures: i64,
    next_attempt_at: Option<String>,
    counters: [i64; 6],
    last_dropped: Option<String>,
    last_dropped_at: Option<String>,
}

impl RawSourceState {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawSourceState {
            source: r.get(0)?,
            etag: r.get(1)?,
            last_modified: r.get(2)?,
            cursor: r.get(3)?,
            last_attempt_at: r.get(4)?,
            last_success_at: r.get(5)?,
            last_error: r.get(6)?,
            last_error_at: r.get(7)?,
            last_error_url: r.get(8)?,
            consecutive_failures: r.get(9)?,
            next_attempt_at: r.get(10)?,
            counters: [
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
                r.get(15)?,
                r.get(16)?,
            ],
            last_dropped: r.get(17)?,
            last_dropped_at: r.get(18)?,
        })
    }

    fn into_state(self) -> Result<SourceState> {
        let src = self.source;
        let col = |c: &str| format!("source_state.{c} of source `{src}`");
        let count = |v: i64, c: &str| {
            u64::try_from(v).map_err(|_| StoreError::corrupt(col(c), format!("{v} is negative")))
        };
        let cursor = self
            .cursor
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .json_ctx(|| format!("reading {}", col("cursor")))?;
        let [fetches, not_modified, items_new, items_updated, errors, items_dropped] =
            self.counters;
        Ok(SourceState {
            etag: self.etag,
            last_modified: self.last_modified,
            cursor,
            last_attempt_at: parse_opt_ts(self.last_attempt_at, || col("last_attempt_at"))?,
            last_success_at: parse_opt_ts(self.last_success_at, || col("last_success_at"))?,
            last_error: self.last_error,
            last_error_at: parse_opt_ts(self.last_error_at, || col("last_error_at"))?,
            last_error_url: self.last_error_url,
            consecutive_failures: u32::try_from(self.consecutive_failures).map_err(|_| {
                StoreError::corrupt(
                    col("consecutive_failures"),
                    format!("{} is out of range", self.consecutive_failures),
                )
            })?,
            next_attempt_at: parse_opt_ts(self.next_attempt_at, || col("next_attempt_at"))?,
            fetches: count(fetches, "fetches")?,
            not_modified: count(not_modified, "not_modified")?,
            items_new: count(items_new, "items_new")?,
            items_updated: count(items_updated, "items_updated")?,
            errors: count(errors, "errors")?,
            items_dropped: count(items_dropped, "items_dropped")?,
            last_dropped: self.last_dropped,
            last_dropped_at: parse_opt_ts(self.last_dropped_at, || col("last_dropped_at"))?,
            source: src.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn entries_a_poll_left_out_are_counted_and_described_once_per_poll() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one")], 0))
            .unwrap();
        store.record_dropped("Echo", &[], t(0)).unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(
            (s.items_dropped, s.last_dropped, s.last_dropped_at),
            (0, None, None)
        );

        let why = vec![
            "entry 2 of 3 has no title, text or media".to_string(),
            "entry 3 of 3 has no title, text or media".to_string(),
        ];
        store.record_dropped("Echo", &why, t(0)).unwrap();
        // A retry of the same poll is not counted again.
        store.record_dropped("Echo", &why, t(0)).unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(s.items_dropped, 2);
        assert_eq!(
            s.last_dropped.as_deref(),
            Some("2 entries left out: entry 2 of 3 has no title, text or media; entry 3 of 3 has no title, text or media")
        );
        assert_eq!(s.last_dropped_at, Some(t(0)));

        // A later poll adds to the count; the other counters are untouched.
        store
            .record_poll("Echo", poll(&store, &[("a", "one")], 60))
            .unwrap();
        store.record_dropped("Echo", &why[..1], t(60)).unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!((s.items_dropped, s.items_new, s.fetches), (3, 1, 2));
        assert_eq!(
            s.last_dropped.as_deref(),
            Some("1 entry left out: entry 2 of 3 has no title, text or media")
        );

        // A very long description is cut, not refused.
        let long = vec!["x".repeat(10_000)];
        store.record_dropped("Echo", &long, t(120)).unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(s.last_dropped.unwrap().len(), MAX_ERROR_LEN);
    }

    #[test]
    fn first_poll_stores_new_items_linked_to_their_capture() {
        let (_dir, store) = store();
        let rec = poll(&store, &[("a", "one"), ("b", "two")], 0);
        let cap = rec.captures[0].clone();
        let out = store.record_poll("Echo", rec).unwrap();
        assert_eq!(
            out,
            PollOutcome {
                new: 2,
                updated: 0,
                unchanged: 0
            }
        );
        assert_eq!(store.count_items().unwrap(), 2);
        assert_eq!(store.count_captures().unwrap(), 1);

        let a = store.get_item("a").unwrap().unwrap();
        assert_eq!(a.item.version, 1);
        assert_eq!(a.item.text.as_deref(), Some("one"));
        assert!(a.item.ingested_at.is_some());
        assert!(a.result.is_none());
        let capture_id = a.capture_id.expect("item links to its capture");
        let (id, source, stored) = store.get_capture(capture_id).unwrap().unwrap();
        assert_eq!(id, capture_id);
        assert_eq!(source, "Echo");
        assert_eq!(stored, cap);
        // The capture's bytes are the body the items were read from.
        let body = store.read_blob(&stored.sha256).unwrap();
        assert!(String::from_utf8(body).unwrap().contains("one"));
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE stage = 'new'"),
            2
        );
    }

    #[test]
    fn an_unchanged_repeat_inserts_no_items() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 0))
            .unwrap();
        let out = store
            .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 300))
            .unwrap();
        assert_eq!(
            out,
            PollOutcome {
                new: 0,
                updated: 0,
                unchanged: 2
            }
        );
        assert_eq!(store.count_items().unwrap(), 2);
        // The second fetch is still evidence: its capture is kept.
        assert_eq!(store.count_captures().unwrap(), 2);
    }

    #[test]
    fn an_edited_item_becomes_version_2_and_version_1_stays_readable() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "polls open 7am")], 0))
            .unwrap();
        let out = store
            .record_poll(
                "Echo",
                poll(
                    &store,
                    &[("a", "polls open 7am; bring ID"), ("c", "new")],
                    300,
                ),
            )
            .unwrap();
        assert_eq!(
            out,
            PollOutcome {
                new: 1,
                updated: 1,
                unchanged: 0
            }
        );
        let latest = store.get_item("a").unwrap().unwrap();
        assert_eq!(latest.item.version, 2);
        assert_eq!(
            latest.item.text.as_deref(),
            Some("polls open 7am; bring ID")
        );
        let versions = store.item_versions("a").unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].item.version, 1);
        assert_eq!(versions[0].item.text.as_deref(), Some("polls open 7am"));
        assert_eq!(versions[1].seq, latest.seq);
        assert!(versions[0].seq < versions[1].seq);
        // Each version links to the capture it was read from.
        assert_ne!(versions[0].capture_id, versions[1].capture_id);
        assert_eq!(store.count_items().unwrap(), 3);
        assert_eq!(store.count_latest_items().unwrap(), 2);
    }

    #[test]
    fn watch_term_matches_alone_do_not_make_a_new_version() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "x")], 0))
            .unwrap();
        let mut rec = poll(&store, &[("a", "x")], 300);
        rec.items[0].1.matched_terms = vec!["Anytown".into()];
        let out = store.record_poll("Echo", rec).unwrap();
        assert_eq!(out.unchanged, 1);
        assert_eq!(store.count_items().unwrap(), 1);
    }

    #[test]
    fn re_recording_the_same_poll_is_idempotent() {
        let (_dir, store) = store();
        let rec = poll(&store, &[("a", "one"), ("b", "two")], 0);
        store.record_poll("Echo", rec.clone()).unwrap();
        let before = store.source_state("Echo").unwrap().unwrap();
        let out = store.record_poll("Echo", rec).unwrap();
        assert_eq!(out.new + out.updated, 0);
        assert_eq!(store.count_items().unwrap(), 2);
        assert_eq!(store.count_captures().unwrap(), 1);
        let after = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(after.fetches, before.fetches);
        assert_eq!(after.items_new, 2);

        // A retried 304 is not counted twice either.
        let not_modified = PollRecord {
            captures: vec![],
            items: vec![],
            etag: None,
            last_modified: None,
            cursor: None,
            not_modified: true,
            attempted_at: t(300),
            next_attempt_at: t(600),
        };
        store.record_poll("Echo", not_modified.clone()).unwrap();
        store.record_poll("Echo", not_modified).unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!((s.fetches, s.not_modified), (2, 1));
    }

    #[test]
    fn duplicate_ids_within_one_poll_store_the_last_occurrence_once() {
        let (_dir, store) = store();
        let rec = poll(&store, &[("a", "first"), ("b", "b"), ("a", "second")], 0);
        let out = store.record_poll("Echo", rec.clone()).unwrap();
        assert_eq!(
            out,
            PollOutcome {
                new: 2,
                updated: 0,
                unchanged: 1
            }
        );
        let a = store.item_versions("a").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].item.text.as_deref(), Some("second"));
        // A retry does not flip-flop between the duplicates.
        store.record_poll("Echo", rec).unwrap();
        assert_eq!(store.item_versions("a").unwrap().len(), 1);
    }

    #[test]
    fn source_state_tracks_counters_validators_and_errors() {
        let (_dir, store) = store();
        assert!(store.source_state("Echo").unwrap().is_none());

        let mut rec = poll(&store, &[("a", "one")], 0);
        rec.last_modified = Some("Fri, 01 May 2026 07:00:00 GMT".into());
        rec.cursor = Some(serde_json::json!({"after": "a"}));
        store.record_poll("Echo", rec).unwrap();

        store
            .record_poll_error(
                "Echo",
                "https://echo.example/rss",
                "HTTP 503",
                t(300),
                t(600),
            )
            .unwrap();
        store
            .record_poll_error(
                "Echo",
                "https://echo.example/rss2",
                "timed out",
                t(600),
                t(1200),
            )
            .unwrap();
        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(s.consecutive_failures, 2);
        assert_eq!(s.errors, 2);
        assert_eq!(s.last_error.as_deref(), Some("timed out"));
        assert_eq!(
            s.last_error_url.as_deref(),
            Some("https://echo.example/rss2")
        );
        assert_eq!(s.last_error_at, Some(t(600)));
        assert_eq!(s.last_attempt_at, Some(t(600)));
        assert_eq!(s.last_success_at, Some(t(0)));
        assert_eq!(s.next_attempt_at, Some(t(1200)));

        // A later 304 keeps the validators and cursor it does not replace, resets failures and
        // keeps the last error as history.
        let not_modified = PollRecord {
            captures: vec![],
            items: vec![],
            etag: None,
            last_modified: None,
            cursor: None,
            not_modified: true,
            attempted_at: t(1200),
            next_attempt_at: t(1500),
        };
        store.record_poll("Echo", not_modified).unwrap();
        let mut rec = poll(&store, &[("a", "one, edited"), ("b", "two")], 1500);
        rec.etag = Some("\"v2\"".into());
        store.record_poll("Echo", rec).unwrap();

        let s = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(s.source, "Echo");
        assert_eq!(s.etag.as_deref(), Some("\"v2\""));
        assert_eq!(
            s.last_modified.as_deref(),
            Some("Fri, 01 May 2026 07:00:00 GMT")
        );
        assert_eq!(s.cursor, Some(serde_json::json!({"after": "a"})));
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.last_error.as_deref(), Some("timed out"));
        assert_eq!(s.last_success_at, Some(t(1500)));
        assert_eq!(s.next_attempt_at, Some(t(1800)));
        assert_eq!(
            (
                s.fetches,
                s.not_modified,
                s.items_new,
                s.items_updated,
                s.errors
            ),
            (3, 1, 2, 1, 2)
        );
    }

    #[test]
    fn source_states_lists_every_source_by_name() {
        let (_dir, store) = store();
        store
            .record_poll_error("Zeta", "https://z.example", "dns", t(0), t(60))
            .unwrap();
        store
            .record_poll("Alpha", poll(&store, &[("a", "x")], 0))
            .unwrap();
        let names: Vec<_> = store
            .source_states()
            .unwrap()
            .into_iter()
            .map(|s| s.source)
            .collect();
        assert_eq!(names, ["Alpha", "Zeta"]);
        let zeta = store.source_state("Zeta").unwrap().unwrap();
        assert_eq!(
            (zeta.fetches, zeta.errors, zeta.consecutive_failures),
            (0, 1, 1)
        );
        // Serializes for the status API.
        let json = serde_json::to_value(&zeta).unwrap();
        assert_eq!(json["last_error"], "dns");
    }

    #[test]
    fn long_errors_are_cut_at_a_character_boundary() {
        let (_dir, store) = store();
        let long = "é".repeat(5000);
        store
            .record_poll_error("Echo", "https://e.example", &long, t(0), t(1))
            .unwrap();
        let kept = store
            .source_state("Echo")
            .unwrap()
            .unwrap()
            .last_error
            .unwrap();
        assert!(kept.len() <= MAX_ERROR_LEN && kept.len() >= MAX_ERROR_LEN - 1);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn bad_polls_are_refused_before_anything_is_written() {
        let (_dir, store) = store();
        // Capture whose blob was never stored.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.captures[0].sha256 = ballotwatch_core::sha256_hex(b"not stored");
        let err = store.record_poll("Echo", rec).unwrap_err();
        assert!(err.to_string().contains("put_blob"), "{err}");
        // Size that disagrees with the blob.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.captures[0].size += 1;
        assert!(matches!(
            store.record_poll("Echo", rec),
            Err(StoreError::InvalidInput(_))
        ));
        // Item pointing at a capture that is not there.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.items[0].0 = 3;
        let err = store.record_poll("Echo", rec).unwrap_err();
        assert!(err.to_string().contains("capture 3"), "{err}");
        // Item without an id.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.items[0].1.id = " ".into();
        assert!(store
            .record_poll("Echo", rec)
            .unwrap_err()
            .to_string()
            .contains("no id"));
        // A 304 with data.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.not_modified = true;
        assert!(store.record_poll("Echo", rec).is_err());
        // Malformed sha.
        let mut rec = poll(&store, &[("a", "x")], 0);
        rec.captures[0].sha256 = "../../etc/passwd".into();
        assert!(store.record_poll("Echo", rec).is_err());

        assert_eq!(store.count_items().unwrap(), 0);
        assert_eq!(store.count_captures().unwrap(), 0);
        assert!(store.source_states().unwrap().is_empty());
    }

    #[test]
    fn a_poll_failing_midway_leaves_nothing_behind() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one")], 0))
            .unwrap();
        let state_before = store.source_state("Echo").unwrap().unwrap();
        // Make the database itself fail on the third item, after the captures, one new version
        // and one new item are already written inside the transaction.
        exec(
            &store,
            "CREATE TEMP TRIGGER crash BEFORE INSERT ON items WHEN NEW.id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'simulated crash'); END;",
        );
        let rec = poll(
            &store,
            &[
                ("a", "one, edited"),
                ("b", "two"),
                ("poison", "x"),
                ("c", "three"),
            ],
            300,
        );
        let err = store.record_poll("Echo", rec.clone()).unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        assert!(err.to_string().contains("poison"), "{err}");
        assert_eq!(store.count_items().unwrap(), 1);
        assert_eq!(store.count_captures().unwrap(), 1);
        let state_after = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(state_after.fetches, state_before.fetches);
        assert_eq!(state_after.etag, state_before.etag);

        // After the fault is gone, retrying the same poll stores it exactly once.
        exec(&store, "DROP TRIGGER crash");
        let out = store.record_poll("Echo", rec.clone()).unwrap();
        assert_eq!((out.new, out.updated), (3, 1));
        store.record_poll("Echo", rec).unwrap();
        assert_eq!(store.count_items().unwrap(), 5);
        assert_eq!(store.count_captures().unwrap(), 2);
    }

    #[test]
    fn record_capture_is_idempotent_and_checked() {
        let (_dir, store) = store();
        let cap = capture(&store, "https://echo.example/img.jpg", b"\xff\xd8jpeg", 0);
        let id = store
            .record_capture(
                "Echo",
                NewCapture {
                    capture: cap.clone(),
                },
            )
            .unwrap();
        let again = store
            .record_capture(
                "Echo",
                NewCapture {
                    capture: cap.clone(),
                },
            )
            .unwrap();
        assert_eq!(id, again);
        assert_eq!(store.count_captures().unwrap(), 1);
        let mut later = cap.clone();
        later.started_at = t(60);
        assert_ne!(
            store
                .record_capture("Echo", NewCapture { capture: later })
                .unwrap(),
            id
        );
        let mut missing = cap;
        missing.sha256 = ballotwatch_core::sha256_hex(b"nope");
        assert!(store
            .record_capture("Echo", NewCapture { capture: missing })
            .is_err());
    }

    #[test]
    fn damaged_source_state_is_reported_not_panicked_on() {
        let (_dir, store) = store();
        store
            .record_poll_error("Echo", "https://e.example", "x", t(0), t(1))
            .unwrap();
        exec(&store, "UPDATE source_state SET next_attempt_at = 'soon'");
        let err = store.source_state("Echo").unwrap_err();
        assert!(
            err.to_string()
                .contains("source_state.next_attempt_at of source `Echo`"),
            "{err}"
        );
        exec(
            &store,
            "UPDATE source_state SET next_attempt_at = NULL, errors = -1",
        );
        assert!(matches!(
            store.source_state("Echo"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    /// One generated poll: (item number, content number) pairs, and whether it is retried.
    fn polls() -> impl Strategy<Value = Vec<(Vec<(u8, u8)>, bool)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec((0u8..4, 0u8..3), 0..6),
                any::<bool>(),
            ),
            1..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn stored_versions_follow_consecutive_content_changes(polls in polls()) {
            let (_dir, store) = store();
            // Model: per id, the content of its latest version and how many versions it has.
            let mut model: HashMap<String, (String, usize)> = HashMap::new();
            for (n, (entries, retry)) in polls.iter().enumerate() {
                let items: Vec<(String, String)> = entries
                    .iter()
                    .map(|(id, c)| (format!("item{id}"), format!("content {c}")))
                    .collect();
                let refs: Vec<(&str, &str)> =
                    items.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                let rec = poll(&store, &refs, i64::try_from(n).unwrap() * 300);
                let out = store.record_poll("Echo", rec.clone()).unwrap();
                prop_assert_eq!(out.new + out.updated + out.unchanged, items.len());
                if *retry {
                    let again = store.record_poll("Echo", rec).unwrap();
                    prop_assert_eq!(again.new + again.updated, 0);
                }
                // Last occurrence of an id within a poll wins.
                let mut last: Vec<(String, String)> = Vec::new();
                for (id, c) in items {
                    last.retain(|(i, _)| *i != id);
                    last.push((id, c));
                }
                for (id, c) in last {
                    let e = model.entry(id).or_insert_with(|| (c.clone(), 0));
                    if e.1 == 0 || e.0 != c {
                        *e = (c, e.1 + 1);
                    }
                }
            }
            for (id, (content, n)) in &model {
                let versions = store.item_versions(id).unwrap();
                prop_assert_eq!(versions.len(), *n, "versions of {}", id);
                let numbers: Vec<u32> = versions.iter().map(|v| v.item.version).collect();
                let expected: Vec<u32> = (1..=u32::try_from(*n).unwrap()).collect();
                prop_assert_eq!(numbers, expected);
                prop_assert_eq!(versions.last().unwrap().item.text.as_deref(), Some(content.as_str()));
            }
            prop_assert_eq!(
                count(&store, "SELECT count(*) FROM (SELECT id, version FROM items GROUP BY id, version HAVING count(*) > 1)"),
                0
            );
            let total: usize = model.values().map(|(_, n)| n).sum();
            prop_assert_eq!(store.count_items().unwrap(), total as u64);
            prop_assert_eq!(store.count_latest_items().unwrap(), model.len() as u64);
        }
    }
}
