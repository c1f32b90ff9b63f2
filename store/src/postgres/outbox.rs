//! The durable outbox in PostgreSQL, shared by every node: the same idempotency keys, per-channel
//! order, retries and dead letters as the SQLite store (`crate::outbox`), with claims that are
//! safe across nodes.
//!
//! [`PgStore::outbox_claim`] takes each channel's head with `FOR UPDATE SKIP LOCKED` and moves it
//! to `sending` in the same statement, recording the claiming node and when: two nodes claiming
//! at once never take one message, and a channel stays in order because its next message waits
//! until the head is `sent` or `dead`. A head left `sending` longer than the claim timeout
//! belongs to a node that died mid-send and is claimed again (the one duplicate window, as in
//! embedded mode after a crash).

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use super::{col, ms, pg_limit, PgStore};
use crate::error::{JsonContext, PgContext, Result, StoreError};
use crate::{now_ms, NewOutbox, OutboxRow, OutboxState};

const COLUMNS: &str = "id, idempotency_key, channel, rule, incident_id, recipients, payload, \
     state, attempts, created_at, next_attempt_at, last_error, accepted_at";

fn outbox_row(r: &Row) -> Result<OutboxRow> {
    let id: i64 = col(r, 0)?;
    let what = |c: &str| format!("outbox.{c} of message {id}");
    let recipients: String = col(r, 5)?;
    let payload: String = col(r, 6)?;
    let state: String = col(r, 7)?;
    let attempts: i32 = col(r, 8)?;
    Ok(OutboxRow {
        id,
        idempotency_key: col(r, 1)?,
        channel: col(r, 2)?,
        rule: col(r, 3)?,
        incident_id: col(r, 4)?,
        recipients: serde_json::from_str(&recipients).json_ctx(|| what("recipients"))?,
        payload: serde_json::from_str(&payload).json_ctx(|| what("payload"))?,
        state: OutboxState::ALL
            .into_iter()
            .find(|s| s.as_str() == state)
            .ok_or_else(|| {
                StoreError::corrupt(what("state"), format!("unknown state `{state}`"))
            })?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        created_at: col(r, 9)?,
        next_attempt_at: col(r, 10)?,
        last_error: col(r, 11)?,
        accepted_at: col(r, 12)?,
    })
}

fn rows_of(rows: &[Row]) -> Result<Vec<OutboxRow>> {
    let mut out = rows.iter().map(outbox_row).collect::<Result<Vec<_>>>()?;
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// Queues a message inside the caller's transaction; a key already queued is left as it is.
pub(crate) fn insert_outbox(
    c: &mut impl GenericClient,
    m: &NewOutbox,
    now: DateTime<Utc>,
) -> Result<()> {
    let rcpt = serde_json::to_string(&m.recipients)
        .json_ctx(|| format!("serializing the recipients of `{}`", m.idempotency_key))?;
    let payload = serde_json::to_string(&m.payload)
        .json_ctx(|| format!("serializing the message `{}`", m.idempotency_key))?;
    c.execute(
        // Inserting only when the key is absent keeps ids without gaps (an `ON CONFLICT` that
        // fires still takes an id); `ON CONFLICT` covers two nodes queuing the key at once.
        "INSERT INTO outbox(idempotency_key, channel, kind, rule, incident_id, recipients,
             payload, created_at, next_attempt_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
         WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE idempotency_key = $1)
         ON CONFLICT (idempotency_key) DO NOTHING",
        &[
            &m.idempotency_key,
            &m.channel,
            &m.kind.as_str(),
            &m.rule,
            &m.incident_id,
            &rcpt,
            &payload,
            &now,
            &ms(m.not_before.max(now_ms())),
        ],
    )
    .pg_with(|| format!("queuing message `{}`", m.idempotency_key))?;
    Ok(())
}

impl PgStore {
    /// Puts this node's messages left `sending` (it crashed mid-send), and any other node's
    /// claimed longer ago than the claim timeout, back to `pending`; returns them.
    pub fn outbox_recover(&self) -> Result<Vec<OutboxRow>> {
        let stale = self.claim_timeout_secs();
        self.with_client("recovering interrupted messages", |c| {
            let rows = c
                .query(
                    &format!(
                        "UPDATE outbox SET state = 'pending', claimed_by = NULL, claimed_at = NULL
                         WHERE state = 'sending'
                           AND (claimed_by = $1 OR claimed_by IS NULL
                                   OR claimed_at < now() - make_interval(secs => $2))
                         RETURNING {COLUMNS}"
                    ),
                    &[&self.inner.node, &stale],
                )
                .pg("recovering interrupted messages")?;
            rows_of(&rows)
        })
    }

    /// Queues messages that belong to no sighting, in one transaction.
    pub fn outbox_enqueue(&self, messages: &[NewOutbox]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        self.with_client("queuing messages", |c| {
            let mut tx = c.transaction().pg("starting to queue messages")?;
            for m in messages {
                insert_outbox(&mut tx, m, now)?;
            }
            tx.commit().pg("committing queued messages")
        })
    }

    /// Claims the messages to send now for this node (see [`crate::Store::outbox_claim`]): each
    /// channel's head that is `pending` and due by `now`, or `sending` under a claim older than
    /// the claim timeout, moves to `sending` with one more attempt. Safe across nodes.
    pub fn outbox_claim(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>> {
        let stale = self.claim_timeout_secs();
        let now = ms(now);
        self.with_client("claiming due messages", |c| {
            let rows = c
                .query(
                    &format!(
                        "UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                             claimed_by = $2, claimed_at = now()
                         WHERE id IN (
                             SELECT o.id FROM outbox o
                             WHERE o.id IN (SELECT min(id) FROM outbox
                                            WHERE state IN ('pending', 'sending')
                                            GROUP BY channel)
                               AND ((o.state = 'pending' AND o.next_attempt_at <= $1)
                                    OR (o.state = 'sending'
                                        AND o.claimed_at < now() - make_interval(secs => $3)))
                             FOR UPDATE SKIP LOCKED)
                         RETURNING {COLUMNS}"
                    ),
                    &[&now, &self.inner.node, &stale],
                )
                .pg("claiming due messages")?;
            rows_of(&rows)
        })
    }

    /// When the earliest undelivered message is next due.
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.with_client("reading when the next message is due", |c| {
            let r = c
                .query_one(
                    "SELECT min(next_attempt_at) FROM outbox WHERE state IN ('pending', 'sending')",
                    &[],
                )
                .pg("reading when the next message is due")?;
            col(&r, 0)
        })
    }

    /// Records that the server accepted a message.
    pub fn outbox_sent(&self, id: i64, accepted_at: DateTime<Utc>) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'sent', accepted_at = $2, last_error = NULL,
                 claimed_by = NULL, claimed_at = NULL
             WHERE id = $1",
            &[&id, &ms(accepted_at)],
        )
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'pending', last_error = $2, next_attempt_at = $3,
                 claimed_by = NULL, claimed_at = NULL
             WHERE id = $1",
            &[&id, &error, &ms(next)],
        )
    }

    /// Gives up on a message.
    pub fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'dead', last_error = $2, claimed_by = NULL,
                 claimed_at = NULL
             WHERE id = $1",
            &[&id, &error],
        )
    }

    /// Every message, oldest first, at most `limit`.
    pub fn outbox_rows(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        self.with_client("reading the outbox", |c| {
            let rows = c
                .query(
                    &format!("SELECT {COLUMNS} FROM outbox ORDER BY id LIMIT $1"),
                    &[&pg_limit(limit)],
                )
                .pg("reading the outbox")?;
            rows_of(&rows)
        })
    }

    fn outbox_update(&self, id: i64, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<()> {
        let n = self.with_client("updating the outbox", |c| {
            c.execute(sql, p)
                .pg_with(|| format!("updating message {id} in the outbox"))
        })?;
        if n == 0 {
            return Err(StoreError::InvalidInput(format!(
                "there is no message {id} in the outbox"
            )));
        }
        Ok(())
    }

    /// The claim timeout in seconds. Claims are timed by the database's clock (`now()`), so
    /// nodes with skewed clocks agree on which claims are stale.
    fn claim_timeout_secs(&self) -> f64 {
        self.inner.claim_timeout.as_secs_f64()
    }
}
