//! Sources' polling state (`source_state`: validators, cursor, schedule, health counters) and
//! recording what one poll produced: its capture rows, new item versions and the source's new
//! state, all in one transaction.

use std::collections::HashMap;

use ballotwatch_core::{Capture, Item};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::captures::insert_capture;
use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::items::{insert_item_version, Change};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{now_ms, parse_opt_ts, ts, Store};

/// Longest `last_error` kept, in bytes; longer messages are cut at a character boundary.
pub(crate) const MAX_ERROR_LEN: usize = 4096;

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
            let mut log_entries = Vec::new();
            for (i, (capture_idx, item)) in poll.items.iter().enumerate() {
                if !keep[i] {
                    out.unchanged += 1;
                    continue;
                }
                // check_poll guarantees the index is in range.
                let capture_id = capture_ids.get(*capture_idx).copied();
                let change = insert_item_version(&tx, source, item, capture_id, ingested_at)?;
                match change {
                    Change::New => out.new += 1,
                    Change::Updated => out.updated += 1,
                    Change::Unchanged => out.unchanged += 1,
                }
                if !matches!(change, Change::Unchanged) {
                    if let Some(c) = poll.captures.get(*capture_idx) {
                        log_entries.extend(crate::capture_log::capture_entries(&item.id, c)?);
                    }
                    log_entries.extend(crate::capture_log::media_entries(item));
                }
            }
            // Each new or changed item's capture (body and headers) and captured media (images,
            // videos, attachments, video frames) join the capture log in this transaction:
            // logged exactly when they are recorded with the item.
            crate::capture_log::append_in(&tx, &log_entries)?;

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
        self.with_conn(|conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {} FROM source_state WHERE source = ?1",
                    SourceState::COLUMNS
                ),
                [source],
                || format!("reading the state of source `{source}`"),
            )
        })
    }

    /// The polling state of every source ever polled, by name.
    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM source_state ORDER BY source",
                    SourceState::COLUMNS
                ),
                [],
                || "reading the state of every source".into(),
            )
        })
    }

    /// Checks a poll before anything is written, so bad input never reaches the database.
    fn check_poll(&self, source: &str, poll: &PollRecord) -> Result<()> {
        check_poll_with(source, poll, |c| self.check_capture(source, c))
    }
}

/// For each position in `items`, whether it is the last occurrence of its id.
pub(crate) fn last_occurrences(items: &[(usize, Item)]) -> Vec<bool> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (_, item)) in items.iter().enumerate() {
        last.insert(item.id.as_str(), i);
    }
    (0..items.len())
        .map(|i| last.get(items[i].1.id.as_str()) == Some(&i))
        .collect()
}

/// "1 entry left out: why" / "3 entries left out: why; why; why".
pub fn dropped_summary(dropped: &[String]) -> String {
    let n = dropped.len();
    let noun = if n == 1 { "entry" } else { "entries" };
    format!("{n} {noun} left out: {}", dropped.join("; "))
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    &s[..ballotwatch_core::floor_char_boundary(s, max)]
}

impl SourceState {
    const COLUMNS: &'static str = "source, etag, last_modified, cursor, last_attempt_at,
        last_success_at, last_error, last_error_at, last_error_url, consecutive_failures,
        next_attempt_at, fetches, not_modified, items_new, items_updated, errors, items_dropped,
        last_dropped, last_dropped_at";
}

impl FromRow for SourceState {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let source: String = col(r, 0)?;
        let what = |c: &str| format!("source_state.{c} of source `{source}`");
        let time = |i: usize, c: &str| parse_opt_ts(col(r, i)?, || what(c));
        let count = |i: usize, c: &str| {
            let v: i64 = col(r, i)?;
            u64::try_from(v).map_err(|_| StoreError::corrupt(what(c), format!("{v} is negative")))
        };
        let cursor: Option<String> = col(r, 3)?;
        let failures: i64 = col(r, 9)?;
        Ok(SourceState {
            etag: col(r, 1)?,
            last_modified: col(r, 2)?,
            cursor: cursor
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .json_ctx(|| format!("reading {}", what("cursor")))?,
            last_attempt_at: time(4, "last_attempt_at")?,
            last_success_at: time(5, "last_success_at")?,
            last_error: col(r, 6)?,
            last_error_at: time(7, "last_error_at")?,
            last_error_url: col(r, 8)?,
            consecutive_failures: u32::try_from(failures).map_err(|_| {
                StoreError::corrupt(
                    what("consecutive_failures"),
                    format!("{failures} is out of range"),
                )
            })?,
            next_attempt_at: time(10, "next_attempt_at")?,
            fetches: count(11, "fetches")?,
            not_modified: count(12, "not_modified")?,
            items_new: count(13, "items_new")?,
            items_updated: count(14, "items_updated")?,
            errors: count(15, "errors")?,
            items_dropped: count(16, "items_dropped")?,
            last_dropped: col(r, 17)?,
            last_dropped_at: time(18, "last_dropped_at")?,
            source: source.clone(),
        })
    }
}

/// Checks a poll before it is recorded, on either back end: a source name, a 304 without data,
/// every capture (with `check_capture`), every item with an id and a capture in range.
pub(crate) fn check_poll_with(
    source: &str,
    poll: &PollRecord,
    check_capture: impl Fn(&Capture) -> Result<()>,
) -> Result<()> {
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
        check_capture(c)?;
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

#[cfg(test)]
mod tests;
