//! Digests in PostgreSQL: closing a rule's digest queues its message and marks the entries as
//! in it, in one transaction, as in the SQLite store (`crate::digests`). The transaction first
//! takes an advisory lock on the rule and reads when its digest last went out, so however many
//! nodes run the alert role, each scheduled digest is closed by one of them and goes out once.

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::outbox::insert_outbox;
use super::{col, ms, PgStore};
use crate::error::{JsonContext, PgContext, Result};
use crate::{DigestEntry, NewOutbox};

fn digest_entry(r: &Row) -> Result<DigestEntry> {
    let id: i64 = col(r, 0)?;
    let summary: String = col(r, 3)?;
    Ok(DigestEntry {
        id,
        incident_id: col(r, 1)?,
        item_id: col(r, 2)?,
        summary: serde_json::from_str(&summary)
            .json_ctx(|| format!("digest_entries.summary of entry {id}"))?,
        created_at: col(r, 4)?,
    })
}

/// When the digest of `rule` last went out, read on `c` (or inside its transaction).
fn last_sent(c: &mut impl GenericClient, rule: &str) -> Result<Option<DateTime<Utc>>> {
    c.query_opt(
        "SELECT last_sent_at FROM digest_state WHERE rule = $1",
        &[&rule],
    )
    .pg_with(|| format!("reading the digest state of rule `{rule}`"))?
    .map(|r| col(&r, 0))
    .transpose()
}

impl PgStore {
    /// Closes the digest of `rule` for its scheduled time `slot`, at `now` (see
    /// [`crate::Store::close_digest`]). Under an advisory lock on the rule: a node that finds
    /// the digest of `slot` already closed by another gets `None` and queues nothing.
    pub fn close_digest(
        &self,
        rule: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        build: impl FnOnce(&[DigestEntry]) -> Option<NewOutbox>,
    ) -> Result<Option<usize>> {
        let now = ms(now);
        self.with_client("closing a digest", |c| {
            let mut tx = c
                .transaction()
                .pg_with(|| format!("starting to close the digest of rule `{rule}`"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("digest:{rule}")],
            )
            .pg_with(|| format!("locking the digest of rule `{rule}`"))?;
            if last_sent(&mut tx, rule)?.is_some_and(|l| l >= slot) {
                return Ok(None);
            }
            let entries = tx
                .query(
                    "SELECT id, incident_id, item_id, summary, created_at FROM digest_entries
                     WHERE rule = $1 AND outbox_id IS NULL ORDER BY id",
                    &[&rule],
                )
                .pg_with(|| format!("reading the digest entries of rule `{rule}`"))?
                .iter()
                .map(digest_entry)
                .collect::<Result<Vec<_>>>()?;
            let taken = entries.len();
            if let Some(m) = (!entries.is_empty()).then(|| build(&entries)).flatten() {
                insert_outbox(&mut tx, &m, now)?;
                let outbox_id: i64 = col(
                    &tx.query_one(
                        "SELECT id FROM outbox WHERE idempotency_key = $1",
                        &[&m.idempotency_key],
                    )
                    .pg_with(|| format!("reading back digest `{}`", m.idempotency_key))?,
                    0,
                )?;
                let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
                tx.execute(
                    "UPDATE digest_entries SET outbox_id = $2 WHERE id = ANY($1)",
                    &[&ids, &outbox_id],
                )
                .pg_with(|| format!("marking the digest entries of rule `{rule}` sent"))?;
            }
            tx.execute(
                "INSERT INTO digest_state(rule, last_sent_at) VALUES ($1, $2)
                 ON CONFLICT (rule) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                &[&rule, &now],
            )
            .pg_with(|| format!("recording the digest time of rule `{rule}`"))?;
            tx.commit()
                .pg_with(|| format!("committing the digest of rule `{rule}`"))?;
            Ok(Some(taken))
        })
    }
}
