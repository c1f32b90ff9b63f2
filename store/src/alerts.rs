//! The alert stage's store side: which flagged items still need an alert decision, grouping
//! sightings into incidents, the durable outbox and digest entries.
//!
//! Exactly-once delivery rests on three rules kept here:
//! - a decision (incident, outbox rows, digest entries, the item marked alerted) is one
//!   transaction, so a crash before it commits redoes the decision and a crash after it finds
//!   the outbox rows waiting;
//! - every outbox row has a unique idempotency key, so deciding twice queues once;
//! - a row becomes `sent` (with `accepted_at`) in its own transaction straight after the server
//!   accepted it. A crash between the server's acceptance and that commit is the only window in
//!   which a message can be sent twice (the row is still `sending` at restart and is retried).

use std::time::Duration;

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::incidents::{incident_by_id, log_change};
use crate::items::{query_items, StoredItem};
use crate::{item_query, now_ms, parse_opt_ts, parse_ts, sql_limit, ts, Store};

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
    fn as_str(self) -> &'static str {
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

/// A sighting for a digest.
#[derive(Debug, Clone)]
pub struct NewDigestEntry {
    /// The digest rule.
    pub rule: String,
    /// What it is about (a summary the digest renders).
    pub summary: serde_json::Value,
}

/// A flagged item to record as a sighting.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// The item version's seq.
    pub seq: i64,
    /// Near-duplicate key (`label|evidence`); `None` always opens a new incident.
    pub group_key: Option<String>,
    /// Title for a new incident.
    pub title: String,
    /// Kind for a new incident.
    pub kind: VerdictKind,
    /// Severity of this sighting (an incident keeps its highest).
    pub severity: Severity,
    /// Join an open incident with this key last seen no longer ago than this.
    pub window: Duration,
}

/// The incident a sighting joined or opened, as the alert decision sees it.
#[derive(Debug, Clone)]
pub struct IncidentContext {
    /// The incident after this sighting.
    pub incident: Incident,
    /// This sighting opened it.
    pub is_new: bool,
    /// Sightings including this one.
    pub sightings: i64,
    /// Rules that have already queued a message about it, with that first message's key.
    pub alerted: Vec<(String, String)>,
    /// Per rule, the latest `not_before` of its queued alerts and updates (for throttling).
    pub last_immediate: Vec<(String, DateTime<Utc>)>,
}

/// What to queue for a sighting.
#[derive(Debug, Clone, Default)]
pub struct AlertPlan {
    /// Messages to queue.
    pub outbox: Vec<NewOutbox>,
    /// Digest entries to add.
    pub digest: Vec<NewDigestEntry>,
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

const OUTBOX_COLS: &str = "id, idempotency_key, channel, rule, incident_id, recipients, payload, \
     state, attempts, created_at, next_attempt_at, last_error, accepted_at";

type RawOutbox = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn raw_outbox(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawOutbox> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn into_outbox(raw: RawOutbox) -> Result<OutboxRow> {
    let (
        id,
        key,
        channel,
        rule,
        incident_id,
        rcpt,
        payload,
        state,
        attempts,
        created,
        next,
        err,
        acc,
    ) = raw;
    let col = |c: &str| format!("outbox.{c} of message {id}");
    Ok(OutboxRow {
        id,
        idempotency_key: key,
        channel,
        rule,
        incident_id,
        recipients: serde_json::from_str(&rcpt).json_ctx(|| col("recipients"))?,
        payload: serde_json::from_str(&payload).json_ctx(|| col("payload"))?,
        state: OutboxState::ALL
            .into_iter()
            .find(|s| s.as_str() == state)
            .ok_or_else(|| StoreError::corrupt(col("state"), format!("unknown state `{state}`")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: parse_ts(&created, || col("created_at"))?,
        next_attempt_at: parse_ts(&next, || col("next_attempt_at"))?,
        last_error: err,
        accepted_at: parse_opt_ts(acc, || col("accepted_at"))?,
    })
}

fn insert_outbox(tx: &Transaction<'_>, m: &NewOutbox, now: &str) -> Result<()> {
    let rcpt = serde_json::to_string(&m.recipients)
        .json_ctx(|| format!("serializing the recipients of `{}`", m.idempotency_key))?;
    let payload = serde_json::to_string(&m.payload)
        .json_ctx(|| format!("serializing the message `{}`", m.idempotency_key))?;
    tx.prepare_cached(
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

/// Finds the open incident a sighting joins, or opens one; attaches the item. Returns
/// (incident id, is new, sightings).
fn join_or_open(
    tx: &Transaction<'_>,
    s: &Sighting,
    item_id: &str,
    now: &DateTime<Utc>,
) -> Result<(i64, bool, i64)> {
    let at = ts(now);
    let since = ts(&(*now - chrono::Duration::from_std(s.window).unwrap_or(chrono::Duration::MAX)));
    let existing: Option<(i64, i64, i64)> = match &s.group_key {
        None => None,
        Some(key) => tx
            .prepare_cached(
                "SELECT id, severity, sightings FROM incidents
                 WHERE group_key = ?1 AND last_seen_at >= ?2
                   AND status NOT IN ('resolved', 'false_alarm')
                 ORDER BY last_seen_at DESC, id DESC LIMIT 1",
            )
            .and_then(|mut st| {
                st.query_row(params![key, since], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .with_ctx(|| format!("looking for an open incident with key `{key}`"))?,
    };
    let (id, is_new, sightings) = match existing {
        Some((id, severity, sightings)) => {
            let new_sev = severity.max(i64::from(s.severity.rank()));
            tx.execute(
                "UPDATE incidents SET sightings = sightings + 1, last_seen_at = ?2,
                     updated_at = ?2, severity = ?3 WHERE id = ?1",
                params![id, at, new_sev],
            )
            .with_ctx(|| format!("recording a sighting in incident {id}"))?;
            if new_sev > severity {
                log_change(
                    tx,
                    id,
                    &at,
                    "alerting",
                    "severity",
                    &new_sev.to_string(),
                    "incident.update",
                )?;
            }
            (id, false, sightings + 1)
        }
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO incidents(title, kind, severity, status, created_at, updated_at,
                         group_key, sightings, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 1, ?5) RETURNING id",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![
                            s.title,
                            s.kind.as_str(),
                            s.severity.rank(),
                            IncidentStatus::New.as_str(),
                            at,
                            s.group_key
                        ],
                        |r| r.get(0),
                    )
                })
                .with_ctx(|| format!("opening an incident for item `{item_id}`"))?;
            log_change(
                tx,
                id,
                &at,
                "alerting",
                "title",
                &s.title,
                "incident.create",
            )?;
            (id, true, 1)
        }
    };
    let added = tx
        .prepare_cached(
            "INSERT INTO incident_items(incident_id, item_id, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(incident_id, item_id) DO NOTHING",
        )
        .and_then(|mut st| st.execute(params![id, item_id, at]))
        .with_ctx(|| format!("adding item `{item_id}` to incident {id}"))?;
    if added > 0 {
        log_change(
            tx,
            id,
            &at,
            "alerting",
            "item",
            item_id,
            "incident.add_item",
        )?;
    }
    Ok((id, is_new, sightings))
}

impl Store {
    /// Classified items the alert stage has not decided about yet, oldest first, at most
    /// `limit` (stage `classified` or `indexed`, not yet marked alerted).
    pub fn pending_alerts(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_items(
                conn,
                item_query!("WHERE i.alerted = 0 AND i.stage <> 'new' ORDER BY i.seq LIMIT ?1"),
                [sql_limit(limit)],
                || "reading items pending an alert decision".into(),
            )
        })
    }

    /// Marks items decided with nothing to send (not flagged, or no rule matched).
    pub fn mark_alerted(&self, seqs: &[i64]) -> Result<()> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to mark items alerted")?;
            for seq in seqs {
                tx.prepare_cached("UPDATE items SET alerted = 1 WHERE seq = ?1")
                    .and_then(|mut st| st.execute([seq]))
                    .with_ctx(|| format!("marking item seq {seq} alerted"))?;
            }
            tx.commit().ctx("committing alerted marks")
        })
    }

    /// Records a flagged item as a sighting and queues what `plan` decides, in one transaction:
    /// the item joins the open incident with its group key seen within the window (or opens
    /// one), `plan` sees that incident and returns the messages and digest entries to queue,
    /// and the item is marked alerted. Returns `None` (and does nothing) when the item was
    /// already decided.
    pub fn record_sighting(
        &self,
        sighting: &Sighting,
        plan: impl FnOnce(&IncidentContext) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, AlertPlan)>> {
        let now = now_ms();
        let at = ts(&now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record a sighting")?;
            let seq = sighting.seq;
            let row: Option<(String, bool)> = tx
                .query_row("SELECT id, alerted FROM items WHERE seq = ?1", [seq], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .with_ctx(|| format!("reading item seq {seq}"))?;
            let Some((item_id, false)) = row else {
                return Ok(None);
            };
            let (id, is_new, sightings) = join_or_open(&tx, sighting, &item_id, &now)?;
            let incident = incident_by_id(&tx, id)?
                .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
            let alerted = tx
                .prepare_cached(
                    "SELECT rule, first_key FROM incident_alerts WHERE incident_id = ?1",
                )
                .and_then(|mut st| {
                    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, String)>>>()
                })
                .with_ctx(|| format!("reading the alerts of incident {id}"))?;
            let last_raw = tx
                .prepare_cached(
                    "SELECT rule, max(next_attempt_at) FROM outbox
                     WHERE kind IN ('alert', 'update') GROUP BY rule",
                )
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, String)>>>()
                })
                .ctx("reading when each rule last alerted")?;
            let last_immediate = last_raw
                .into_iter()
                .map(|(rule, t)| Ok((rule, parse_ts(&t, || "outbox.next_attempt_at".into())?)))
                .collect::<Result<Vec<_>>>()?;
            let ctx = IncidentContext {
                incident,
                is_new,
                sightings,
                alerted,
                last_immediate,
            };
            let decided = plan(&ctx);
            for m in &decided.outbox {
                insert_outbox(&tx, m, &at)?;
                if m.kind == OutboxKind::Alert {
                    tx.prepare_cached(
                        "INSERT INTO incident_alerts(incident_id, rule, first_key, at)
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    )
                    .and_then(|mut st| st.execute(params![id, m.rule, m.idempotency_key, at]))
                    .with_ctx(|| format!("recording rule `{}` alerted incident {id}", m.rule))?;
                }
            }
            for d in &decided.digest {
                let summary = serde_json::to_string(&d.summary)
                    .json_ctx(|| format!("serializing a digest entry for item `{item_id}`"))?;
                tx.prepare_cached(
                    "INSERT INTO digest_entries(rule, incident_id, item_id, summary, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| st.execute(params![d.rule, id, item_id, summary, at]))
                .with_ctx(|| format!("adding item `{item_id}` to the digest of `{}`", d.rule))?;
                tx.prepare_cached(
                    "INSERT INTO incident_alerts(incident_id, rule, first_key, at)
                     VALUES (?1, ?2, '', ?3) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut st| st.execute(params![id, d.rule, at]))
                .with_ctx(|| format!("recording rule `{}` noted incident {id}", d.rule))?;
            }
            tx.execute("UPDATE items SET alerted = 1 WHERE seq = ?1", [seq])
                .with_ctx(|| format!("marking item seq {seq} alerted"))?;
            tx.commit()
                .with_ctx(|| format!("committing the alert decision for item `{item_id}`"))?;
            Ok(Some((ctx, decided)))
        })
    }

    /// When the digest of `rule` last went out.
    pub fn digest_last_sent(&self, rule: &str) -> Result<Option<DateTime<Utc>>> {
        let raw: Option<String> = self.with_conn(|conn| {
            conn.query_row(
                "SELECT last_sent_at FROM digest_state WHERE rule = ?1",
                [rule],
                |r| r.get(0),
            )
            .optional()
            .with_ctx(|| format!("reading the digest state of rule `{rule}`"))
        })?;
        parse_opt_ts(raw, || {
            format!("digest_state.last_sent_at of rule `{rule}`")
        })
    }

    /// Closes the digest of `rule` at `now`: the entries waiting for it are handed to `build`,
    /// whose message (if any) is queued and the entries marked as in it, all in one transaction
    /// together with the digest's `last_sent_at`. Returns how many entries it took.
    pub fn close_digest(
        &self,
        rule: &str,
        now: DateTime<Utc>,
        build: impl FnOnce(&[DigestEntry]) -> Option<NewOutbox>,
    ) -> Result<usize> {
        let at = ts(&now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to close the digest of rule `{rule}`"))?;
            let raws = tx
                .prepare_cached(
                    "SELECT id, incident_id, item_id, summary, created_at FROM digest_entries
                     WHERE rule = ?1 AND outbox_id IS NULL ORDER BY id",
                )
                .and_then(|mut st| {
                    st.query_map([rule], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<rusqlite::Result<Vec<(i64, i64, String, String, String)>>>()
                })
                .with_ctx(|| format!("reading the digest entries of rule `{rule}`"))?;
            let entries = raws
                .into_iter()
                .map(|(id, incident_id, item_id, summary, created)| {
                    let col = |c: &str| format!("digest_entries.{c} of entry {id}");
                    Ok(DigestEntry {
                        id,
                        incident_id,
                        item_id,
                        summary: serde_json::from_str(&summary).json_ctx(|| col("summary"))?,
                        created_at: parse_ts(&created, || col("created_at"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
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
            Ok(taken)
        })
    }

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
            conn.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .ctx("counting messages by state")
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
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE {filter}");
        let raws = self.with_conn(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut st| {
                    st.query_map(p, raw_outbox)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .ctx("reading the outbox")
        })?;
        raws.into_iter().map(into_outbox).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballotwatch_core::{ClassifyResult, Verdict};

    fn flag(store: &Store, ids: &[&str], at: i64) -> Vec<StoredItem> {
        let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (*id, "fake notice")).collect();
        store.record_poll("Echo", poll(store, &pairs, at)).unwrap();
        let pending = store.pending_classification(100).unwrap();
        let results: Vec<_> = pending
            .iter()
            .map(|s| {
                (
                    s.seq,
                    ClassifyResult {
                        id: s.item.id.clone(),
                        flagged: true,
                        severity: Severity::High,
                        verdicts: vec![Verdict {
                            kind: VerdictKind::Misinformation,
                            label: "false_voting_info".into(),
                            score: 0.9,
                            detector: "narratives".into(),
                            explanation: "claims polls closed".into(),
                            evidence: serde_json::json!({"narrative": "polls-closed"}),
                            rebuttal: None,
                        }],
                        detector_errors: vec![],
                        media_text: Vec::new(),
                    },
                )
            })
            .collect();
        store.save_results(&results).unwrap();
        store.pending_alerts(100).unwrap()
    }

    fn sighting(seq: i64, key: Option<&str>) -> Sighting {
        Sighting {
            seq,
            group_key: key.map(str::to_string),
            title: "Polls closed claim".into(),
            kind: VerdictKind::Misinformation,
            severity: Severity::Medium,
            window: Duration::from_secs(3600),
        }
    }

    fn msg(key: &str, incident: i64) -> NewOutbox {
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
    fn near_duplicates_join_one_incident_and_queue_once() {
        let (_dir, store) = store();
        let items = flag(&store, &["a", "b", "c"], 0);
        assert_eq!(items.len(), 3);
        let (first, _) = store
            .record_sighting(&sighting(items[0].seq, Some("k1")), |ctx| AlertPlan {
                outbox: vec![msg(&format!("inc-{}", ctx.incident.id), ctx.incident.id)],
                digest: vec![],
            })
            .unwrap()
            .unwrap();
        assert!(first.is_new);
        let (second, _) = store
            .record_sighting(&sighting(items[1].seq, Some("k1")), |ctx| {
                assert_eq!(ctx.alerted.len(), 1);
                AlertPlan {
                    // The same key again: must not queue a second message.
                    outbox: vec![msg(&format!("inc-{}", ctx.incident.id), ctx.incident.id)],
                    digest: vec![NewDigestEntry {
                        rule: "comms".into(),
                        summary: serde_json::json!({"n": 2}),
                    }],
                }
            })
            .unwrap()
            .unwrap();
        assert!(!second.is_new);
        assert_eq!(second.incident.id, first.incident.id);
        assert_eq!(second.sightings, 2);
        let (third, _) = store
            .record_sighting(&sighting(items[2].seq, Some("other")), |_| {
                AlertPlan::default()
            })
            .unwrap()
            .unwrap();
        assert_ne!(third.incident.id, first.incident.id);
        // Deciding an item twice does nothing.
        assert!(store
            .record_sighting(&sighting(items[0].seq, Some("k1")), |_| unreachable!())
            .unwrap()
            .is_none());
        assert!(store.pending_alerts(10).unwrap().is_empty());
        assert_eq!(store.outbox_rows(10).unwrap().len(), 1);
        assert_eq!(
            store.incident_item_ids(first.incident.id).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            store.get_item("b").unwrap().unwrap().incident_id,
            Some(first.incident.id)
        );

        let n = store
            .close_digest("comms", now_ms(), |entries| {
                assert_eq!(entries.len(), 1);
                Some(NewOutbox {
                    kind: OutboxKind::Digest,
                    incident_id: None,
                    ..msg("digest-1", 0)
                })
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(store.close_digest("comms", now_ms(), |_| None).unwrap(), 0);
        assert!(store.digest_last_sent("comms").unwrap().is_some());
        assert_eq!(store.outbox_rows(10).unwrap().len(), 2);
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
