//! The capture log in PostgreSQL: the same hash chain as the SQLite store's (see
//! `crate::capture_log`), appended under a table lock so entries from several nodes form one
//! chain without gaps.

use postgres::{GenericClient, Row};

use super::{col, PgStore};
use crate::capture_log::{chain_head, hex32, parse_entries, NewLogEntry, GENESIS};
use crate::error::{PgContext, Result, StoreError};
use crate::{now_ms, LogEntry};

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
}
