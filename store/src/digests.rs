//! Digest entries: sightings a digest rule collects until its digest goes out, and when each
//! rule's digest last went out. Closing a digest queues its message in the outbox and marks the
//! entries as in it, in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::error::{JsonContext, Result, SqlContext};
use crate::outbox::{insert_outbox, NewOutbox};
use crate::row::{col, query_all, FromRow};
use crate::{parse_opt_ts, parse_ts, ts, Store};

/// A sighting for a digest.
#[derive(Debug, Clone)]
pub struct NewDigestEntry {
    /// The digest rule.
    pub rule: String,
    /// What it is about (a summary the digest renders).
    pub summary: serde_json::Value,
}

/// A digest entry waiting for its digest.
#[derive(Debug, Clone)]
pub struct DigestEntry {
    /// Entry id.
    pub id: i64,
    /// The incident.
    pub incident_id: i64,
    /// The item.
    pub item_id: String,
    /// What the decision recorded about it.
    pub summary: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl DigestEntry {
    const COLUMNS: &'static str = "id, incident_id, item_id, summary, created_at";
}

impl FromRow for DigestEntry {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let what = |c: &str| format!("digest_entries.{c} of entry {id}");
        let summary: String = col(r, 3)?;
        let created: String = col(r, 4)?;
        Ok(DigestEntry {
            id,
            incident_id: col(r, 1)?,
            item_id: col(r, 2)?,
            summary: serde_json::from_str(&summary).json_ctx(|| what("summary"))?,
            created_at: parse_ts(&created, || what("created_at"))?,
        })
    }
}

/// Adds a sighting of `item_id` in incident `incident_id` to the digest of `d.rule`, inside the
/// caller's transaction.
pub(crate) fn add_entry(
    conn: &Connection,
    d: &NewDigestEntry,
    incident_id: i64,
    item_id: &str,
    at: &str,
) -> Result<()> {
    let summary = serde_json::to_string(&d.summary)
        .json_ctx(|| format!("serializing a digest entry for item `{item_id}`"))?;
    conn.prepare_cached(
        "INSERT INTO digest_entries(rule, incident_id, item_id, summary, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut st| st.execute(params![d.rule, incident_id, item_id, summary, at]))
    .with_ctx(|| format!("adding item `{item_id}` to the digest of `{}`", d.rule))?;
    Ok(())
}

/// When the digest of `rule` last went out, read on `conn` (or inside its transaction).
fn last_sent(conn: &Connection, rule: &str) -> Result<Option<DateTime<Utc>>> {
    let raw: Option<String> = conn
        .query_row(
            "SELECT last_sent_at FROM digest_state WHERE rule = ?1",
            [rule],
            |r| r.get(0),
        )
        .optional()
        .with_ctx(|| format!("reading the digest state of rule `{rule}`"))?;
    parse_opt_ts(raw, || {
        format!("digest_state.last_sent_at of rule `{rule}`")
    })
}

impl Store {
    /// When the digest of `rule` last went out.
    pub fn digest_last_sent(&self, rule: &str) -> Result<Option<DateTime<Utc>>> {
        self.with_conn(|conn| last_sent(conn, rule))
    }

    /// Closes the digest of `rule` for its scheduled time `slot`, at `now`: unless it already
    /// went out at or after `slot`, the entries waiting for it are handed to `build`, whose
    /// message (if any) is queued and the entries marked as in it, all in one transaction
    /// together with the digest's `last_sent_at`. Returns how many entries it took, or `None`
    /// when the digest of `slot` had already gone out. The check is inside the transaction, so
    /// two senders closing one slot close it once.
    pub fn close_digest(
        &self,
        rule: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        build: impl FnOnce(&[DigestEntry]) -> Option<NewOutbox>,
    ) -> Result<Option<usize>> {
        let at = ts(&now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to close the digest of rule `{rule}`"))?;
            let last = last_sent(&tx, rule)?;
            if last.is_some_and(|l| l >= slot) {
                return Ok(None);
            }
            let entries: Vec<DigestEntry> = query_all(
                &tx,
                &format!(
                    "SELECT {} FROM digest_entries
                     WHERE rule = ?1 AND outbox_id IS NULL ORDER BY id",
                    DigestEntry::COLUMNS
                ),
                [rule],
                || format!("reading the digest entries of rule `{rule}`"),
            )?;
            let taken = entries.len();
            if let Some(m) = (!entries.is_empty()).then(|| build(&entries)).flatten() {
                insert_outbox(&tx, &m, &at)?;
                let outbox_id: i64 = tx
                    .query_row(
                        "SELECT id FROM outbox WHERE idempotency_key = ?1",
                        [&m.idempotency_key],
                        |r| r.get(0),
                    )
                    .with_ctx(|| format!("reading back digest `{}`", m.idempotency_key))?;
                for e in &entries {
                    tx.prepare_cached("UPDATE digest_entries SET outbox_id = ?2 WHERE id = ?1")
                        .and_then(|mut st| st.execute(params![e.id, outbox_id]))
                        .with_ctx(|| format!("marking digest entry {} sent", e.id))?;
                }
            }
            tx.execute(
                "INSERT INTO digest_state(rule, last_sent_at) VALUES (?1, ?2)
                 ON CONFLICT(rule) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                params![rule, at],
            )
            .with_ctx(|| format!("recording the digest time of rule `{rule}`"))?;
            tx.commit()
                .with_ctx(|| format!("committing the digest of rule `{rule}`"))?;
            Ok(Some(taken))
        })
    }
}
