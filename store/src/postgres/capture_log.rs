//! The capture log in PostgreSQL: the same hash chain as the SQLite store's (see
//! `crate::capture_log`), appended under a table lock so entries from several nodes form one
//! chain without gaps.

use postgres::{GenericClient, Row};

use super::{col, pg_limit, PgStore};
use crate::capture_log::{chain_head, hex32, parse_entries, NewLogEntry, GENESIS};
use crate::error::{PgContext, Result, StoreError};
use crate::{now_ms, ChainSegment, LogEntry, NewTimestampToken, TimestampTokenRecord};

const COLUMNS: &str = "seq, item_id, what, sha256, prev_head, head, logged_at";

fn entry_row(r: &Row) -> Result<LogEntry> {
    Ok(LogEntry {
        seq: col(r, 0)?,
        item_id: col(r, 1)?,
        what: col(r, 2)?,
        sha256: col(r, 3)?,
        prev_head: col(r, 4)?,
        head: col(r, 5)?,
        logged_at: col(r, 6)?,
    })
}

fn last_entry(c: &mut impl GenericClient) -> Result<Option<LogEntry>> {
    c.query_opt(
        &format!("SELECT {COLUMNS} FROM capture_log ORDER BY seq DESC LIMIT 1"),
        &[],
    )
    .pg("reading the capture log's head")?
    .map(|r| entry_row(&r))
    .transpose()
}

/// Appends `entries` inside the caller's transaction (so they commit with what they describe).
/// Takes a lock on the log that only one transaction holds at a time, released at commit.
pub(crate) fn append_in(c: &mut impl GenericClient, entries: &[NewLogEntry]) -> Result<()> {
    let parsed = parse_entries(entries)?;
    if parsed.is_empty() {
        return Ok(());
    }
    c.batch_execute("LOCK TABLE capture_log IN SHARE ROW EXCLUSIVE MODE")
        .pg("locking the capture log")?;
    let (mut seq, mut head) = match last_entry(c)? {
        Some(e) => (
            e.seq,
            hex32(&e.head).ok_or_else(|| {
                StoreError::corrupt(format!("capture log entry {}", e.seq), "bad head")
            })?,
        ),
        None => (0, GENESIS),
    };
    let logged_at = now_ms();
    let (mut seqs, mut item_ids, mut whats, mut shas, mut prevs, mut heads) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (e, sha256) in parsed {
        seq += 1;
        let prev = head;
        head = chain_head(&prev, seq, &e.item_id, &e.what, &sha256);
        seqs.push(seq);
        item_ids.push(e.item_id.as_str());
        whats.push(e.what.as_str());
        shas.push(hex::encode(sha256));
        prevs.push(hex::encode(prev));
        heads.push(hex::encode(head));
    }
    c.execute(
        "INSERT INTO capture_log (seq, item_id, what, sha256, prev_head, head, logged_at)
         SELECT u.*, $7 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                                    $5::text[], $6::text[]) AS u",
        &[&seqs, &item_ids, &whats, &shas, &prevs, &heads, &logged_at],
    )
    .pg("appending to the capture log")?;
    Ok(())
}

impl PgStore {
    /// The newest capture log entry, if any.
    pub fn capture_log_head(&self) -> Result<Option<LogEntry>> {
        self.with_client("reading the capture log", |c| last_entry(&mut **c))
    }

    /// Entries after the last timestamped one, newest first, at most `limit` (see
    /// [`crate::Store::untimestamped_heads`]).
    pub fn untimestamped_heads(&self, limit: usize) -> Result<Vec<LogEntry>> {
        let what = "reading the capture log's untimestamped heads";
        self.with_client(what, |c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM capture_log
                     WHERE seq > (SELECT COALESCE(max(seq), 0) FROM timestamp_tokens)
                     ORDER BY seq DESC LIMIT $1"
                ),
                &[&pg_limit(limit)],
            )
            .pg(what)?
            .iter()
            .map(entry_row)
            .collect()
        })
    }

    /// The oldest entry waiting for a timestamp (see [`crate::Store::oldest_untimestamped`]).
    pub fn oldest_untimestamped(&self) -> Result<Option<LogEntry>> {
        let what = "reading the capture log's oldest untimestamped entry";
        self.with_client(what, |c| {
            c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM capture_log
                     WHERE seq > (SELECT COALESCE(max(seq), 0) FROM timestamp_tokens)
                     ORDER BY seq LIMIT 1"
                ),
                &[],
            )
            .pg(what)?
            .map(|r| entry_row(&r))
            .transpose()
        })
    }

    /// Why trusted timestamps are behind, cluster-wide: the capture log's oldest entry without
    /// a token has waited longer than [`super::PgOptions::timestamp_overdue`] (the timestamping
    /// node's log says why). `None` when nothing is overdue, when that option is not set, or
    /// when PostgreSQL does not answer (`/readyz` reports that itself). Queries the database:
    /// call it from a blocking thread.
    pub fn timestamp_gap(&self) -> Option<String> {
        let overdue = self.inner.timestamp_overdue?;
        let oldest = match self.oldest_untimestamped() {
            Ok(oldest) => oldest?,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the capture log's oldest untimestamped entry");
                return None;
            }
        };
        let waited = now_ms() - oldest.logged_at;
        if waited.to_std().is_ok_and(|w| w <= overdue) || waited < chrono::Duration::zero() {
            return None;
        }
        let head = self
            .capture_log_head()
            .ok()
            .flatten()
            .map_or(oldest.seq, |h| h.seq);
        let waiting = head - oldest.seq + 1;
        Some(format!(
            "{waiting} capture log entr{} waiting since {}, longer than {} (the node holding \
             the timestamp lease logs why); ingest goes on, and they are timestamped once a TSA \
             answers",
            if waiting == 1 { "y is" } else { "ies are" },
            oldest.logged_at.format("%Y-%m-%d %H:%M:%S UTC"),
            humantime::format_duration(overdue),
        ))
    }

    /// Records a token for the head of entry `token.seq`, refusing one whose head is not that
    /// entry's (see [`crate::Store::record_timestamp_token`]). Returns its id.
    pub fn record_timestamp_token(&self, token: &NewTimestampToken) -> Result<i64> {
        self.with_client("recording a timestamp token", |c| {
            let mut tx = c
                .transaction()
                .pg("starting to record a timestamp token")?;
            let head: Option<String> = tx
                .query_opt("SELECT head FROM capture_log WHERE seq = $1", &[&token.seq])
                .pg_with(|| format!("reading capture log entry {}", token.seq))?
                .map(|r| col(&r, 0))
                .transpose()?;
            token.check_head(head)?;
            let id: i64 = col(
                &tx.query_one(
                    "INSERT INTO timestamp_tokens (seq, head, tsa_url, token, gen_time, requested_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &token.seq,
                        &token.head,
                        &token.tsa_url,
                        &token.token,
                        &token.gen_time,
                        &token.requested_at,
                    ],
                )
                .pg("recording a timestamp token")?,
                0,
            )?;
            tx.commit().pg("committing a timestamp token")?;
            Ok(id)
        })
    }

    /// The chain segment that covers every entry of `item_ids` (see
    /// [`crate::Store::capture_log_segment`]), read in one snapshot; empty when none of them
    /// has an entry.
    pub fn capture_log_segment(&self, item_ids: &[&str]) -> Result<ChainSegment> {
        let what = "reading a capture log segment";
        self.with_client(what, |c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .pg(what)?;
            let ids: Vec<&str> = item_ids.to_vec();
            let range = tx
                .query_one(
                    "SELECT min(seq), max(seq) FROM capture_log WHERE item_id = ANY($1)",
                    &[&ids],
                )
                .pg("finding the items in the capture log")?;
            let (Some(first), Some(last)) = (
                col::<Option<i64>>(&range, 0)?,
                col::<Option<i64>>(&range, 1)?,
            ) else {
                return Ok(ChainSegment::default());
            };
            let stamped: Option<i64> = col(
                &tx.query_one(
                    "SELECT min(seq) FROM timestamp_tokens WHERE seq >= $1",
                    &[&last],
                )
                .pg("finding the timestamp that covers the items")?,
                0,
            )?;
            // The segment runs to the first timestamped head at or after the items' last
            // entry, else to the log's head; its tokens are for that head, else for the last
            // timestamped head inside it.
            let (end, token_seq) = match stamped {
                Some(seq) => (seq, seq),
                None => {
                    let end = last_entry(&mut tx)?.map_or(last, |e| e.seq);
                    let before: Option<i64> = col(
                        &tx.query_one(
                            "SELECT max(seq) FROM timestamp_tokens WHERE seq BETWEEN $1 AND $2",
                            &[&first, &end],
                        )
                        .pg("finding the last timestamp inside the segment")?,
                        0,
                    )?;
                    (end, before.unwrap_or(end))
                }
            };
            let entries = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM capture_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq"
                    ),
                    &[&first, &end],
                )
                .pg(what)?
                .iter()
                .map(entry_row)
                .collect::<Result<Vec<_>>>()?;
            let tokens = tx
                .query(
                    "SELECT id, seq, head, tsa_url, token, gen_time, requested_at
                     FROM timestamp_tokens WHERE seq = $1 ORDER BY id",
                    &[&token_seq],
                )
                .pg("reading timestamp tokens")?
                .iter()
                .map(|r| {
                    Ok(TimestampTokenRecord {
                        id: col(r, 0)?,
                        seq: col(r, 1)?,
                        head: col(r, 2)?,
                        tsa_url: col(r, 3)?,
                        token: col(r, 4)?,
                        gen_time: col(r, 5)?,
                        requested_at: col(r, 6)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            tx.commit().pg(what)?;
            Ok(ChainSegment { entries, tokens })
        })
    }
}
