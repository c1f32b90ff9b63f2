//! The alert stage's store side: which flagged items still need an alert decision, and
//! recording a decision — the sighting joins or opens an incident, the messages and digest
//! entries the rules chose are queued, and the item is marked decided — in one transaction.
//!
//! Exactly-once delivery rests on three rules:
//! - a decision (incident, outbox rows, digest entries, the item marked alerted) is one
//!   transaction, so a crash before it commits redoes the decision and a crash after it finds
//!   the outbox rows waiting;
//! - every outbox row has a unique idempotency key, so deciding twice queues once;
//! - a row becomes `sent` in its own transaction straight after the server accepted it (see
//!   `outbox`).

use std::time::Duration;

use ballotwatch_core::{Incident, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};

use crate::digests::{add_entry, NewDigestEntry};
use crate::error::{Result, SqlContext, StoreError};
use crate::incidents::{incident_by_id, join_or_open};
use crate::items::{item_query, StoredItem};
use crate::outbox::{insert_outbox, NewOutbox, OutboxKind};
use crate::row::{query_all, query_opt};
use crate::{now_ms, parse_ts, sql_limit, ts, Store};

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

impl Store {
    /// Classified items the alert stage has not decided about yet, oldest first, at most
    /// `limit` (stage `classified` or `indexed`, not yet marked alerted).
    pub fn pending_alerts(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_all(
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
            let row: Option<(String, bool)> = query_opt(
                &tx,
                "SELECT id, alerted FROM items WHERE seq = ?1",
                [seq],
                || format!("reading item seq {seq}"),
            )?;
            let Some((item_id, false)) = row else {
                return Ok(None);
            };
            let (id, is_new, sightings) = join_or_open(&tx, sighting, &item_id, &now)?;
            let ctx = incident_context(&tx, id, is_new, sightings)?;
            let decided = plan(&ctx);
            queue_plan(&tx, id, &item_id, &decided, &at)?;
            tx.execute("UPDATE items SET alerted = 1 WHERE seq = ?1", [seq])
                .with_ctx(|| format!("marking item seq {seq} alerted"))?;
            tx.commit()
                .with_ctx(|| format!("committing the alert decision for item `{item_id}`"))?;
            Ok(Some((ctx, decided)))
        })
        .inspect(|decided| {
            if decided.is_some() {
                self.index_queued();
            }
        })
    }
}

/// The incident `id` as the alert decision sees it, inside the caller's transaction.
pub(crate) fn incident_context(
    tx: &rusqlite::Connection,
    id: i64,
    is_new: bool,
    sightings: i64,
) -> Result<IncidentContext> {
    let incident = incident_by_id(tx, id)?
        .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
    let alerted: Vec<(String, String)> = query_all(
        tx,
        "SELECT rule, first_key FROM incident_alerts WHERE incident_id = ?1",
        [id],
        || format!("reading the alerts of incident {id}"),
    )?;
    let last_raw: Vec<(String, String)> = query_all(
        tx,
        "SELECT rule, max(next_attempt_at) FROM outbox
         WHERE kind IN ('alert', 'update') GROUP BY rule",
        [],
        || "reading when each rule last alerted".into(),
    )?;
    let last_immediate = last_raw
        .into_iter()
        .map(|(rule, t)| Ok((rule, parse_ts(&t, || "outbox.next_attempt_at".into())?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(IncidentContext {
        incident,
        is_new,
        sightings,
        alerted,
        last_immediate,
    })
}

/// Queues what a plan decided about incident `id` (item `item_id`), inside the caller's
/// transaction: its messages (a first alert recorded per rule) and digest entries.
pub(crate) fn queue_plan(
    tx: &rusqlite::Connection,
    id: i64,
    item_id: &str,
    decided: &AlertPlan,
    at: &str,
) -> Result<()> {
    for m in &decided.outbox {
        insert_outbox(tx, m, at)?;
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
        add_entry(tx, d, id, item_id, at)?;
        tx.prepare_cached(
            "INSERT INTO incident_alerts(incident_id, rule, first_key, at)
             VALUES (?1, ?2, '', ?3) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut st| st.execute(params![id, d.rule, at]))
        .with_ctx(|| format!("recording rule `{}` noted incident {id}", d.rule))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::tests::msg;
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
            store.get_item("b").unwrap().unwrap().incident_id(),
            Some(first.incident.id)
        );

        let slot = now_ms();
        let n = store
            .close_digest("comms", slot, slot, |entries| {
                assert_eq!(entries.len(), 1);
                Some(NewOutbox {
                    kind: OutboxKind::Digest,
                    incident_id: None,
                    ..msg("digest-1", 0)
                })
            })
            .unwrap();
        assert_eq!(n, Some(1));
        // The same slot again: already closed, nothing asked for.
        assert_eq!(
            store
                .close_digest("comms", slot, slot, |_| unreachable!())
                .unwrap(),
            None
        );
        let next = slot + chrono::Duration::hours(1);
        assert_eq!(
            store.close_digest("comms", next, next, |_| None).unwrap(),
            Some(0)
        );
        assert_eq!(store.digest_last_sent("comms").unwrap(), Some(next));
        assert_eq!(store.outbox_rows(10).unwrap().len(), 2);
    }

    #[test]
    fn an_item_indexed_before_it_joins_an_incident_is_queued_for_indexing_again() {
        let (_dir, store) = store();
        let items = flag(&store, &["early", "late"], 0);
        // "early" was indexed before the alert stage saw it; "late" was not.
        let indexed = store.pending_index(10).unwrap();
        assert_eq!(indexed.len(), 2);
        store.mark_indexed(&[items[0].index_mark()]).unwrap();
        assert_eq!(store.pending_index(10).unwrap().len(), 1);
        for s in &items {
            store
                .record_sighting(&sighting(s.seq, Some("k")), |_| AlertPlan::default())
                .unwrap()
                .unwrap();
        }
        let again = store.pending_index(10).unwrap();
        let ids: Vec<&str> = again.iter().map(|s| s.item.id.as_str()).collect();
        assert_eq!(ids, ["early", "late"]);
        assert!(again.iter().all(|s| s.incident_id().is_some()), "{again:?}");
        let seqs: Vec<_> = again.iter().map(StoredItem::index_mark).collect();
        store.mark_indexed(&seqs).unwrap();
        assert!(store.pending_index(10).unwrap().is_empty());
    }
}
