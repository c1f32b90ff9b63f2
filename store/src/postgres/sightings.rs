//! The alert decision in PostgreSQL: which flagged items still need one, and recording it — the
//! sighting joins or opens an incident, the messages and digest entries the rules chose are
//! queued, the item is marked decided — in one transaction, as in the SQLite store
//! (`crate::sightings`). The item's row is locked first, so when two nodes decide about one
//! item, one records the decision and the other finds it decided.

use postgres::GenericClient;

use super::incidents::{incident_by_id, join_or_open};
use super::items::{items_of, pg_item_query};
use super::outbox::insert_outbox;
use super::{col, pg_limit, PgStore};
use crate::error::{JsonContext, PgContext, Result, StoreError};
use crate::outbox::OutboxKind;
use crate::{now_ms, AlertPlan, IncidentContext, NewDigestEntry, Sighting, StoredItem};
use chrono::{DateTime, Utc};

/// Adds a sighting of `item_id` in incident `incident_id` to the digest of `d.rule`.
fn add_digest_entry(
    c: &mut impl GenericClient,
    d: &NewDigestEntry,
    incident_id: i64,
    item_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let summary = serde_json::to_string(&d.summary)
        .json_ctx(|| format!("serializing a digest entry for item `{item_id}`"))?;
    c.execute(
        "INSERT INTO digest_entries(rule, incident_id, item_id, summary, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&d.rule, &incident_id, &item_id, &summary, &at],
    )
    .pg_with(|| format!("adding item `{item_id}` to the digest of `{}`", d.rule))?;
    Ok(())
}

/// What the alert rules decide an incident's messages from, read inside the caller's
/// transaction (see `crate::sightings::incident_context`).
pub(crate) fn incident_context(
    c: &mut impl GenericClient,
    id: i64,
    is_new: bool,
    sightings: i64,
) -> Result<IncidentContext> {
    let incident = incident_by_id(c, id)?
        .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
    let alerted = c
        .query(
            "SELECT rule, first_key FROM incident_alerts WHERE incident_id = $1 ORDER BY rule",
            &[&id],
        )
        .pg_with(|| format!("reading the alerts of incident {id}"))?
        .iter()
        .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
        .collect::<Result<Vec<(String, String)>>>()?;
    let last_immediate = c
        .query(
            "SELECT rule, max(next_attempt_at) FROM outbox
             WHERE kind IN ('alert', 'update') GROUP BY rule ORDER BY rule",
            &[],
        )
        .pg("reading when each rule last alerted")?
        .iter()
        .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
        .collect::<Result<Vec<(String, DateTime<Utc>)>>>()?;
    Ok(IncidentContext {
        incident,
        is_new,
        sightings,
        alerted,
        last_immediate,
    })
}

/// Queues what a plan decided about incident `id` (item `item_id`) inside the caller's
/// transaction: its messages (a first alert recorded per rule) and digest entries.
pub(crate) fn queue_plan(
    c: &mut impl GenericClient,
    id: i64,
    item_id: &str,
    decided: &AlertPlan,
    now: DateTime<Utc>,
) -> Result<()> {
    for m in &decided.outbox {
        insert_outbox(c, m, now)?;
        if m.kind == OutboxKind::Alert {
            c.execute(
                "INSERT INTO incident_alerts(incident_id, rule, first_key, at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&id, &m.rule, &m.idempotency_key, &now],
            )
            .pg_with(|| format!("recording rule `{}` alerted incident {id}", m.rule))?;
        }
    }
    for d in &decided.digest {
        add_digest_entry(c, d, id, item_id, now)?;
        c.execute(
            "INSERT INTO incident_alerts(incident_id, rule, first_key, at)
             VALUES ($1, $2, '', $3) ON CONFLICT DO NOTHING",
            &[&id, &d.rule, &now],
        )
        .pg_with(|| format!("recording rule `{}` noted incident {id}", d.rule))?;
    }
    Ok(())
}

impl PgStore {
    /// Classified items the alert stage has not decided about yet, oldest first.
    pub fn pending_alerts(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_client("reading items pending an alert decision", |c| {
            let rows = c
                .query(
                    pg_item_query!(
                        "WHERE NOT i.alerted AND i.stage <> 'new' ORDER BY i.seq LIMIT $1"
                    ),
                    &[&pg_limit(limit)],
                )
                .pg("reading items pending an alert decision")?;
            items_of(&rows)
        })
    }

    /// Marks items decided with nothing to send.
    pub fn mark_alerted(&self, seqs: &[i64]) -> Result<()> {
        self.with_client("marking items alerted", |c| {
            c.execute(
                "UPDATE items SET alerted = true WHERE seq = ANY($1)",
                &[&seqs],
            )
            .pg("marking items alerted")?;
            Ok(())
        })
    }

    /// Records a flagged item as a sighting and queues what `plan` decides, in one transaction
    /// (see [`crate::Store::record_sighting`]). Returns `None` (and does nothing) when the item
    /// was already decided, by this node or another.
    pub fn record_sighting(
        &self,
        sighting: &Sighting,
        plan: &mut dyn FnMut(&IncidentContext) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, AlertPlan)>> {
        let now = now_ms();
        let decided = self.with_client("recording a sighting", |c| {
            let mut tx = c.transaction().pg("starting to record a sighting")?;
            let seq = sighting.seq;
            let row = tx
                .query_opt(
                    "SELECT id, alerted FROM items WHERE seq = $1 FOR UPDATE",
                    &[&seq],
                )
                .pg_with(|| format!("reading item seq {seq}"))?;
            let Some(row) = row else { return Ok(None) };
            let item_id: String = col(&row, 0)?;
            let alerted: bool = col(&row, 1)?;
            if alerted {
                return Ok(None);
            }
            let (id, is_new, sightings) = join_or_open(&mut tx, sighting, &item_id, now)?;
            let ctx = incident_context(&mut tx, id, is_new, sightings)?;
            let decided = plan(&ctx);
            queue_plan(&mut tx, id, &item_id, &decided, now)?;
            tx.execute("UPDATE items SET alerted = true WHERE seq = $1", &[&seq])
                .pg_with(|| format!("marking item seq {seq} alerted"))?;
            tx.commit()
                .pg_with(|| format!("committing the alert decision for item `{item_id}`"))?;
            Ok(Some((ctx, decided)))
        })?;
        if decided.is_some() {
            self.index_queued();
        }
        Ok(decided)
    }
}
