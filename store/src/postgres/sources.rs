//! Sources' polling state in PostgreSQL, and recording one poll (captures, new item versions,
//! capture log entries and the source's new state and cursor) in one transaction, as in the
//! SQLite store (`crate::sources`).

use postgres::Row;

use super::captures::insert_capture;
use super::items::{insert_item_versions, latest_hashes, plan_item_version};
use super::{col, count_col, ms, PgStore};
use crate::error::{JsonContext, PgContext, Result, StoreError};
use crate::items::Change;
use crate::sources::{check_poll_with, last_occurrences, truncate, MAX_ERROR_LEN};
use crate::{dropped_summary, now_ms, PollOutcome, PollRecord, SourceState};
use chrono::{DateTime, Utc};

const COLUMNS: &str = "source, etag, last_modified, cursor, last_attempt_at,
    last_success_at, last_error, last_error_at, last_error_url, consecutive_failures,
    next_attempt_at, fetches, not_modified, items_new, items_updated, errors, items_dropped,
    last_dropped, last_dropped_at";

fn state_row(r: &Row) -> Result<SourceState> {
    let source: String = col(r, 0)?;
    let what = |c: &str| format!("source_state.{c} of source `{source}`");
    let cursor: Option<String> = col(r, 3)?;
    let failures: i32 = col(r, 9)?;
    Ok(SourceState {
        etag: col(r, 1)?,
        last_modified: col(r, 2)?,
        cursor: cursor
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .json_ctx(|| format!("reading {}", what("cursor")))?,
        last_attempt_at: col(r, 4)?,
        last_success_at: col(r, 5)?,
        last_error: col(r, 6)?,
        last_error_at: col(r, 7)?,
        last_error_url: col(r, 8)?,
        consecutive_failures: u32::try_from(failures).map_err(|_| {
            StoreError::corrupt(
                what("consecutive_failures"),
                format!("{failures} is out of range"),
            )
        })?,
        next_attempt_at: col(r, 10)?,
        fetches: count_col(r, 11, || what("fetches"))?,
        not_modified: count_col(r, 12, || what("not_modified"))?,
        items_new: count_col(r, 13, || what("items_new"))?,
        items_updated: count_col(r, 14, || what("items_updated"))?,
        errors: count_col(r, 15, || what("errors"))?,
        items_dropped: count_col(r, 16, || what("items_dropped"))?,
        last_dropped: col(r, 17)?,
        last_dropped_at: col(r, 18)?,
        source: source.clone(),
    })
}

impl PgStore {
    /// Records a successful poll of `source` in one transaction (see
    /// [`crate::Store::record_poll`]).
    pub fn record_poll(&self, source: &str, poll: PollRecord) -> Result<PollOutcome> {
        self.record_poll_as(source, source, poll)
    }

    /// Like [`PgStore::record_poll`], with the resume state kept under `state_name` (see
    /// [`crate::Store::record_poll_as`]).
    ///
    /// Before reading latest versions the transaction takes advisory locks on the state name and
    /// on every item id of the poll, in one sorted order: two nodes recording the same item (or
    /// the same poll, retried) serialise instead of both inserting "version 2", and never
    /// deadlock.
    pub fn record_poll_as(
        &self,
        state_name: &str,
        source: &str,
        poll: PollRecord,
    ) -> Result<PollOutcome> {
        check_poll_with(source, &poll, |c| self.check_capture(source, c))?;
        let ingested_at = now_ms();
        let keep = last_occurrences(&poll.items);
        let attempted = ms(poll.attempted_at);
        let next = ms(poll.next_attempt_at);
        let cursor = poll
            .cursor
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .json_ctx(|| format!("serializing the cursor of source `{source}`"))?;
        let mut lock_keys: Vec<String> = poll
            .items
            .iter()
            .map(|(_, item)| format!("item:{}", item.id))
            .collect();
        lock_keys.push(format!("source:{state_name}"));

        let outcome = self.with_client("recording a poll", |c| {
            let mut tx = c
                .transaction()
                .pg_with(|| format!("starting to record a poll of source `{source}`"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(k)
                 FROM (SELECT DISTINCT hashtextextended(x, 0) AS k FROM unnest($1::text[]) x) s
                 ORDER BY k",
                &[&lock_keys],
            )
            .pg_with(|| format!("locking the items of a poll of source `{source}`"))?;

            let mut capture_ids = Vec::with_capacity(poll.captures.len());
            let mut captures_inserted = 0usize;
            for cap in &poll.captures {
                let (id, inserted) = insert_capture(&mut tx, source, cap)?;
                capture_ids.push(id);
                captures_inserted += usize::from(inserted);
            }

            let ids: Vec<&str> = poll
                .items
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|((_, item), _)| item.id.as_str())
                .collect();
            let latest = latest_hashes(&mut tx, &ids)?;

            let mut out = PollOutcome::default();
            let mut log_entries = Vec::new();
            let mut rows = Vec::new();
            for (i, (capture_idx, item)) in poll.items.iter().enumerate() {
                if !keep[i] {
                    out.unchanged += 1;
                    continue;
                }
                let capture_id = capture_ids.get(*capture_idx).copied();
                let (change, row) =
                    plan_item_version(item, capture_id, ingested_at, latest.get(&item.id))?;
                match change {
                    Change::New => out.new += 1,
                    Change::Updated => out.updated += 1,
                    Change::Unchanged => out.unchanged += 1,
                }
                if let Some(row) = row {
                    rows.push(row);
                    if let Some(cap) = poll.captures.get(*capture_idx) {
                        log_entries.extend(crate::capture_log::capture_entries(&item.id, cap)?);
                    }
                }
            }
            insert_item_versions(&mut tx, source, ingested_at, &rows)?;
            super::capture_log::append_in(&mut tx, &log_entries)?;

            // A retry of a poll already committed has the same attempted_at as the recorded last
            // success and brings no new capture: it is not counted again.
            let last_success: Option<Option<DateTime<Utc>>> = tx
                .query_opt(
                    "SELECT last_success_at FROM source_state WHERE source = $1",
                    &[&state_name],
                )
                .pg_with(|| format!("reading the state of source `{source}`"))?
                .map(|r| col(&r, 0))
                .transpose()?;
            let replay = captures_inserted == 0 && last_success.flatten() == Some(attempted);
            let fetches = i64::from(!replay);
            let not_modified = i64::from(!replay && poll.not_modified);

            tx.execute(
                "INSERT INTO source_state AS s(source, etag, last_modified, cursor,
                     last_attempt_at, last_success_at, consecutive_failures, next_attempt_at,
                     fetches, not_modified, items_new, items_updated)
                 VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $7, $8, $9, $10)
                 ON CONFLICT (source) DO UPDATE SET
                     etag = COALESCE(EXCLUDED.etag, s.etag),
                     last_modified = COALESCE(EXCLUDED.last_modified, s.last_modified),
                     cursor = COALESCE(EXCLUDED.cursor, s.cursor),
                     last_attempt_at = EXCLUDED.last_attempt_at,
                     last_success_at = EXCLUDED.last_success_at,
                     consecutive_failures = 0,
                     next_attempt_at = EXCLUDED.next_attempt_at,
                     fetches = s.fetches + EXCLUDED.fetches,
                     not_modified = s.not_modified + EXCLUDED.not_modified,
                     items_new = s.items_new + EXCLUDED.items_new,
                     items_updated = s.items_updated + EXCLUDED.items_updated",
                &[
                    &state_name,
                    &poll.etag,
                    &poll.last_modified,
                    &cursor,
                    &attempted,
                    &next,
                    &fetches,
                    &not_modified,
                    &i64::try_from(out.new).unwrap_or(i64::MAX),
                    &i64::try_from(out.updated).unwrap_or(i64::MAX),
                ],
            )
            .pg_with(|| format!("updating the state of source `{source}`"))?;

            tx.commit()
                .pg_with(|| format!("committing a poll of source `{source}`"))?;
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

    /// Records a failed poll of `source` (see [`crate::Store::record_poll_error`]).
    pub fn record_poll_error(
        &self,
        source: &str,
        url: &str,
        error: &str,
        attempted_at: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        let error = truncate(error, MAX_ERROR_LEN);
        self.with_client("recording a failed poll", |c| {
            c.execute(
                "INSERT INTO source_state AS s(source, last_attempt_at, last_error, last_error_at,
                     last_error_url, consecutive_failures, next_attempt_at, errors)
                 VALUES ($1, $2, $3, $2, $4, 1, $5, 1)
                 ON CONFLICT (source) DO UPDATE SET
                     last_attempt_at = EXCLUDED.last_attempt_at,
                     last_error = EXCLUDED.last_error,
                     last_error_at = EXCLUDED.last_error_at,
                     last_error_url = EXCLUDED.last_error_url,
                     consecutive_failures = s.consecutive_failures + 1,
                     next_attempt_at = EXCLUDED.next_attempt_at,
                     errors = s.errors + 1",
                &[
                    &source,
                    &ms(attempted_at),
                    &error,
                    &url,
                    &ms(next_attempt_at),
                ],
            )
            .pg_with(|| format!("recording a failed poll of source `{source}`"))
        })?;
        tracing::debug!(source, url, error, "recorded poll error");
        Ok(())
    }

    /// Records entries a poll left out (see [`crate::Store::record_dropped`]).
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
        let n = i64::try_from(dropped.len()).unwrap_or(i64::MAX);
        self.with_client("recording entries a poll left out", |c| {
            c.execute(
                "INSERT INTO source_state AS s(source, items_dropped, last_dropped, last_dropped_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source) DO UPDATE SET
                     items_dropped = s.items_dropped
                         + (CASE WHEN s.last_dropped_at IS NOT DISTINCT FROM EXCLUDED.last_dropped_at
                                 THEN 0 ELSE EXCLUDED.items_dropped END),
                     last_dropped = EXCLUDED.last_dropped,
                     last_dropped_at = EXCLUDED.last_dropped_at",
                &[&source, &n, &summary, &ms(attempted_at)],
            )
            .pg_with(|| format!("recording entries a poll of source `{source}` left out"))
        })?;
        tracing::warn!(
            source,
            dropped = dropped.len(),
            summary,
            "a poll left entries out"
        );
        Ok(())
    }

    /// Every source's polling state, by name (see [`crate::Store::source_states`]).
    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        self.with_client("reading the state of every source", |c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM source_state ORDER BY source COLLATE \"C\""),
                &[],
            )
            .pg("reading the state of every source")?
            .iter()
            .map(state_row)
            .collect()
        })
    }

    /// The polling state of one source, or `None` if it was never polled.
    pub fn source_state(&self, source: &str) -> Result<Option<SourceState>> {
        self.with_client("reading a source's state", |c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM source_state WHERE source = $1"),
                &[&source],
            )
            .pg_with(|| format!("reading the state of source `{source}`"))?
            .map(|r| state_row(&r))
            .transpose()
        })
    }
}
