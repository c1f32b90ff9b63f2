//! The durable outbox: every alert, update and digest message to send, with a unique
//! idempotency key (queuing the same key twice queues once), delivered in order per channel.
//!
//! A row becomes `sent` (with `accepted_at`) in its own transaction straight after the server
//! accepted it. A crash between the server's acceptance and that commit is the only window in
//! which a message can be sent twice (the row is still `sending` at restart and is retried).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row, TransactionBehavior};
use serde::Serialize;

use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::row::{col, query_all, FromRow};
use crate::{now_ms, parse_opt_ts, parse_ts, sql_limit, ts, Store};

/// Where an outbox message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Being handed to the server (a row still `sending` at start-up was interrupted).
    Sending,
    /// Accepted by the server.
    Sent,
    /// Given up on after `dead_letter_after`; listed by `ballotwatch alerts status`.
    Dead,
}

impl OutboxState {
    /// Every state, in delivery order.
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Sent,
        OutboxState::Dead,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Dead => "dead",
        }
    }
}

/// What kind of message an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// The first alert of an incident for a rule.
    Alert,
    /// A new sighting of an incident already alerted.
    Update,
    /// A digest of several sightings.
    Digest,
}

impl OutboxKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Alert => "alert",
            OutboxKind::Update => "update",
            OutboxKind::Digest => "digest",
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    /// Unique key: queuing the same key again is a no-op.
    pub idempotency_key: String,
    /// `email` or `webhook:<name>`.
    pub channel: String,
    /// What it carries.
    pub kind: OutboxKind,
    /// The rule it is for.
    pub rule: String,
    /// The incident it is about (none for digests).
    pub incident_id: Option<i64>,
    /// Email addresses or the webhook URL.
    pub recipients: Vec<String>,
    /// The rendered message.
    pub payload: serde_json::Value,
    /// Not sent before this time (quiet hours, throttling).
    pub not_before: DateTime<Utc>,
}

/// A queued message.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    /// Row id: increases in queue order.
    pub id: i64,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// `email` or `webhook:<name>`.
    pub channel: String,
    /// The rule it is for.
    pub rule: String,
    /// The incident it is about.
    pub incident_id: Option<i64>,
    /// Email addresses or the webhook URL.
    pub recipients: Vec<String>,
    /// The rendered message.
    pub payload: serde_json::Value,
    /// Delivery state.
    pub state: OutboxState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it is next due.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the server accepted it.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// Counts and problems for `ballotwatch alerts status`.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    /// Rows per state (every state listed).
    pub counts: Vec<(OutboxState, u64)>,
    /// The oldest message not yet delivered.
    pub oldest_pending: Option<OutboxRow>,
    /// Dead letters, newest first (at most 100).
    pub dead: Vec<OutboxRow>,
    /// Digest entries waiting for their digest.
    pub digest_waiting: u64,
}

impl OutboxRow {
    pub(crate) const COLUMNS: &'static str =
        "id, idempotency_key, channel, rule, incident_id, recipients, \
         payload, state, attempts, created_at, next_attempt_at, last_error, accepted_at";
}

impl FromRow for OutboxRow {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let what = |c: &str| format!("outbox.{c} of message {id}");
        let recipients: String = col(r, 5)?;
        let payload: String = col(r, 6)?;
        let state: String = col(r, 7)?;
        let attempts: i64 = col(r, 8)?;
        let created: String = col(r, 9)?;
        let next: String = col(r, 10)?;
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
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            created_at: parse_ts(&created, || what("created_at"))?,
            next_attempt_at: parse_ts(&next, || what("next_attempt_at"))?,
            last_error: col(r, 11)?,
            accepted_at: parse_opt_ts(col(r, 12)?, || what("accepted_at"))?,
        })
    }
}

/// Queues a message inside the caller's transaction; a key already queued is left as it is.
pub(crate) fn insert_outbox(conn: &Connection, m: &NewOutbox, now: &str) -> Result<()> {
    let rcpt = serde_json::to_string(&m.recipients)
        .json_ctx(|| format!("serializing the recipients of `{}`", m.idempotency_key))?;
    let payload = serde_json::to_string(&m.payload)
        .json_ctx(|| format!("serializing the message `{}`", m.idempotency_key))?;
    conn.prepare_cached(
        "INSERT INTO outbox(idempotency_key, channel, kind, rule, incident_id, recipients,
             payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(idempotency_key) DO NOTHING",
    )
    .and_then(|mut st| {
        st.execute(params![
            m.idempotency_key,
            m.channel,
            m.kind.as_str(),
            m.rule,
            m.incident_id,
            rcpt,
            payload,
            now,
            ts(&m.not_before.max(now_ms()))
        ])
    })
    .with_ctx(|| format!("queuing message `{}`", m.idempotency_key))?;
    Ok(())
}

impl Store {
    /// Puts messages left `sending` by a crash back to `pending`; returns them. Each may already
    /// have been accepted by its server just before the crash: the one duplicate window.
    pub fn outbox_recover(&self) -> Result<Vec<OutboxRow>> {
        let rows = self.outbox_query("state = 'sending' ORDER BY id", [])?;
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE outbox SET state = 'pending' WHERE state = 'sending'",
                [],
            )
            .ctx("recovering interrupted messages")?;
            Ok(())
        })?;
        Ok(rows)
    }

    /// Queues messages that belong to no sighting or digest (the admins' notices), in one
    /// transaction; a message whose idempotency key is already queued is left as it is.
    pub fn outbox_enqueue(&self, messages: &[NewOutbox]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to queue messages")?;
            for m in messages {
                insert_outbox(&tx, m, &at)?;
            }
            tx.commit().ctx("committing queued messages")
        })
    }

    /// The next message of each channel (the oldest undelivered one), if it is due by `now`.
    /// Later messages of a channel wait for earlier ones, so each channel delivers in order.
    pub fn outbox_due(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>> {
        let heads = self.outbox_query(
            "id IN (SELECT min(id) FROM outbox WHERE state IN ('pending', 'sending')
                    GROUP BY channel) ORDER BY id",
            [],
        )?;
        Ok(heads
            .into_iter()
            .filter(|r| r.next_attempt_at <= now)
            .collect())
    }

    /// When the earliest undelivered message is next due.
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let raw: Option<String> = self.with_conn(|conn| {
            conn.query_row(
                "SELECT min(next_attempt_at) FROM outbox WHERE state IN ('pending', 'sending')",
                [],
                |r| r.get(0),
            )
            .ctx("reading when the next message is due")
        })?;
        parse_opt_ts(raw, || "outbox.next_attempt_at".into())
    }

    /// Claims the messages to send now, in one transaction: each channel's head (its oldest
    /// undelivered message) that is `pending` and due by `now` moves to `sending` with one more
    /// attempt, and is returned, oldest first. A channel whose head is already `sending` is busy
    /// and gives nothing. This is [`Store::outbox_due`] and [`Store::outbox_start`] as one atomic
    /// step, so two senders never take the same message (PostgreSQL does the same with
    /// `FOR UPDATE SKIP LOCKED` across nodes).
    pub fn outbox_claim(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>> {
        let due = ts(&now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to claim due messages")?;
            let ids: Vec<(i64,)> = query_all(
                &tx,
                "SELECT id FROM outbox
                 WHERE id IN (SELECT min(id) FROM outbox WHERE state IN ('pending', 'sending')
                              GROUP BY channel)
                   AND state = 'pending' AND next_attempt_at <= ?1
                 ORDER BY id",
                [&due],
                || "reading the messages due".into(),
            )?;
            let mut rows = Vec::with_capacity(ids.len());
            for (id,) in ids {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
                )
                .and_then(|mut st| st.execute([id]))
                .with_ctx(|| format!("claiming message {id}"))?;
                rows.extend(query_all::<OutboxRow>(
                    &tx,
                    &format!("SELECT {} FROM outbox WHERE id = ?1", OutboxRow::COLUMNS),
                    [id],
                    || format!("reading message {id}"),
                )?);
            }
            tx.commit().ctx("committing claimed messages")?;
            Ok(rows)
        })
    }

    /// Marks a message as being sent (one more attempt).
    pub fn outbox_start(&self, id: i64) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )
    }

    /// Records that the server accepted a message.
    pub fn outbox_sent(&self, id: i64, accepted_at: DateTime<Utc>) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'sent', accepted_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, ts(&accepted_at)],
        )
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'pending', last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1",
            params![id, error, ts(&next)],
        )
    }

    /// Gives up on a message.
    pub fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        self.outbox_update(
            id,
            "UPDATE outbox SET state = 'dead', last_error = ?2 WHERE id = ?1",
            params![id, error],
        )
    }

    /// Every message, oldest first (for tests and tools; at most `limit`).
    pub fn outbox_rows(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        self.outbox_query("1 ORDER BY id LIMIT ?1", [sql_limit(limit)])
    }

    /// What `ballotwatch alerts status` shows.
    pub fn outbox_status(&self) -> Result<OutboxStatus> {
        let raw_counts: Vec<(String, i64)> = self.with_conn(|conn| {
            query_all(
                conn,
                "SELECT state, count(*) FROM outbox GROUP BY state",
                [],
                || "counting messages by state".into(),
            )
        })?;
        let counts = OutboxState::ALL
            .into_iter()
            .map(|s| {
                let n = raw_counts
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                (s, n)
            })
            .collect();
        let oldest_pending = self
            .outbox_query("state IN ('pending', 'sending') ORDER BY id LIMIT 1", [])?
            .into_iter()
            .next();
        let dead = self.outbox_query("state = 'dead' ORDER BY id DESC LIMIT 100", [])?;
        let digest_waiting: i64 = self.with_conn(|conn| {
            conn.query_row(
                "SELECT count(*) FROM digest_entries WHERE outbox_id IS NULL",
                [],
                |r| r.get(0),
            )
            .ctx("counting digest entries")
        })?;
        Ok(OutboxStatus {
            counts,
            oldest_pending,
            dead,
            digest_waiting: u64::try_from(digest_waiting).unwrap_or(0),
        })
    }

    fn outbox_update(&self, id: i64, sql: &str, p: impl rusqlite::Params) -> Result<()> {
        self.with_conn(|conn| {
            let n = conn
                .prepare_cached(sql)
                .and_then(|mut st| st.execute(p))
                .with_ctx(|| format!("updating message {id} in the outbox"))?;
            if n == 0 {
                return Err(StoreError::InvalidInput(format!(
                    "there is no message {id} in the outbox"
                )));
            }
            Ok(())
        })
    }

    fn outbox_query(&self, filter: &str, p: impl rusqlite::Params) -> Result<Vec<OutboxRow>> {
        let sql = format!("SELECT {} FROM outbox WHERE {filter}", OutboxRow::COLUMNS);
        self.with_conn(|conn| query_all(conn, &sql, p, || "reading the outbox".into()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::*;
    use ballotwatch_core::{Severity, VerdictKind};

    pub(crate) fn msg(key: &str, incident: i64) -> NewOutbox {
        NewOutbox {
            idempotency_key: key.into(),
            channel: "email".into(),
            kind: OutboxKind::Alert,
            rule: "comms".into(),
            incident_id: Some(incident),
            recipients: vec!["a@x.example".into()],
            payload: serde_json::json!({"subject": key}),
            not_before: now_ms(),
        }
    }

    #[test]
    fn messages_outside_sightings_queue_once_and_are_delivered_like_alerts() {
        let (_dir, store) = store();
        let notice = NewOutbox {
            incident_id: None,
            ..msg("admin:quarantine:poll:k:1:email", 0)
        };
        store.outbox_enqueue(std::slice::from_ref(&notice)).unwrap();
        store.outbox_enqueue(&[notice, msg("x", 0)][..1]).unwrap();
        store.outbox_enqueue(&[]).unwrap();
        let rows = store.outbox_rows(10).unwrap();
        assert_eq!(rows.len(), 1, "the same key queues once");
        assert_eq!(rows[0].incident_id, None);
        assert_eq!(store.outbox_due(Utc::now()).unwrap().len(), 1);
    }

    #[test]
    fn outbox_delivers_in_order_per_channel_and_reports_status() {
        let (_dir, store) = store();
        let inc = store
            .create_incident("t", VerdictKind::Misinformation, Severity::High, "x")
            .unwrap();
        store
            .with_conn(|conn| {
                let tx = conn.transaction().ctx("t")?;
                for k in ["m1", "m2"] {
                    insert_outbox(&tx, &msg(k, inc.id), &ts(&now_ms()))?;
                }
                tx.commit().ctx("t")
            })
            .unwrap();
        let due = store
            .outbox_due(now_ms() + chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].idempotency_key, "m1");
        store.outbox_start(due[0].id).unwrap();
        // A crash now: the message comes back as pending.
        let recovered = store.outbox_recover().unwrap();
        assert_eq!(recovered.len(), 1);
        store
            .outbox_retry(
                due[0].id,
                "connection refused",
                now_ms() + chrono::Duration::seconds(60),
            )
            .unwrap();
        // m1 is not due, and m2 waits behind it.
        assert!(store.outbox_due(now_ms()).unwrap().is_empty());
        store.outbox_sent(due[0].id, now_ms()).unwrap();
        let due = store
            .outbox_due(now_ms() + chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(due[0].idempotency_key, "m2");
        store.outbox_dead(due[0].id, "gave up").unwrap();
        let status = store.outbox_status().unwrap();
        assert_eq!(
            status.counts,
            vec![
                (OutboxState::Pending, 0),
                (OutboxState::Sending, 0),
                (OutboxState::Sent, 1),
                (OutboxState::Dead, 1)
            ]
        );
        assert_eq!(status.dead[0].last_error.as_deref(), Some("gave up"));
        assert!(status.oldest_pending.is_none());
        assert!(store.outbox_sent(999, now_ms()).is_err());
    }
}
