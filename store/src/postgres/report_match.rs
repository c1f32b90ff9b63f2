//! Report matching in PostgreSQL: reported URLs' normal forms and reported pictures' hashes
//! with their chunk index, answered as in the SQLite store (`crate::report_match`), and report
//! bursts (`crate::report_bursts`).

use std::time::Duration;

use ballotwatch_core::Severity;
use chrono::Utc;

use super::incidents::log_change;
use super::sightings::{incident_context, queue_plan};
use super::{col, PgStore};
use crate::error::{PgContext, Result};
use crate::report_match::{chunks, nearest, probes, radius_of, Hash256, HashMatch};
use crate::{now_ms, AlertPlan, Burst, IncidentContext, ReportCount};

impl PgStore {
    /// See [`crate::Store::add_report_key`].
    pub fn add_report_key(&self, key: &str, item_id: &str) -> Result<bool> {
        self.with_client("recording a report key", |c| {
            Ok(c.execute(
                "INSERT INTO report_keys(key, item_id, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO NOTHING",
                &[&key, &item_id, &Utc::now()],
            )
            .pg_with(|| format!("recording report key `{key}`"))?
                > 0)
        })
    }

    /// See [`crate::Store::report_key_item`].
    pub fn report_key_item(&self, key: &str) -> Result<Option<String>> {
        self.with_client("looking up a report key", |c| {
            c.query_opt("SELECT item_id FROM report_keys WHERE key = $1", &[&key])
                .pg_with(|| format!("looking up report key `{key}`"))?
                .map(|r| col(&r, 0))
                .transpose()
        })
    }

    /// See [`crate::Store::add_report_hash`].
    pub fn add_report_hash(&self, item_id: &str, hash: &Hash256) -> Result<bool> {
        let hex = hex::encode(hash);
        self.with_client("recording a picture hash", |c| {
            let mut tx = c.transaction().pg("starting to record a picture hash")?;
            let row = tx
                .query_opt(
                    "INSERT INTO report_hashes(item_id, hash, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT (item_id, hash) DO NOTHING RETURNING id",
                    &[&item_id, &hex, &Utc::now()],
                )
                .pg_with(|| format!("recording a picture hash of item `{item_id}`"))?;
            let Some(row) = row else {
                return Ok(false);
            };
            let id: i64 = col(&row, 0)?;
            let pos: Vec<i32> = (0..chunks(hash).len() as i32).collect();
            let vals: Vec<i32> = chunks(hash).iter().map(|v| i32::from(*v)).collect();
            tx.execute(
                "INSERT INTO report_hash_chunks(pos, val, hash_id)
                 SELECT p, v, $3 FROM unnest($1::int4[], $2::int4[]) AS t(p, v)",
                &[&pos, &vals, &id],
            )
            .pg_with(|| format!("indexing a picture hash of item `{item_id}`"))?;
            tx.commit().pg("committing a picture hash")?;
            Ok(true)
        })
    }

    /// See [`crate::Store::nearest_report_hash`].
    pub fn nearest_report_hash(
        &self,
        hash: &Hash256,
        max_distance: u32,
    ) -> Result<Option<HashMatch>> {
        let (per_pos, max) = probes(hash, max_distance);
        let mut pos = Vec::new();
        let mut vals = Vec::new();
        for (p, values) in per_pos.iter().enumerate() {
            for v in values {
                pos.push(p as i32);
                vals.push(i32::from(*v));
            }
        }
        self.with_client("looking up a picture hash", |c| {
            let rows = c
                .query(
                    "SELECT DISTINCT h.id, h.item_id, h.hash
                     FROM unnest($1::int4[], $2::int4[]) AS q(p, v)
                     JOIN report_hash_chunks c ON c.pos = q.p AND c.val = q.v
                     JOIN report_hashes h ON h.id = c.hash_id",
                    &[&pos, &vals],
                )
                .pg("looking up a picture hash")?;
            let candidates = rows
                .iter()
                .map(|r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?)))
                .collect::<Result<Vec<(i64, String, String)>>>()?;
            Ok(nearest(hash, max, candidates))
        })
    }

    /// See [`crate::Store::report_hashes_scan`].
    pub fn report_hashes_scan(
        &self,
        hash: &Hash256,
        max_distance: u32,
    ) -> Result<Option<HashMatch>> {
        let max = radius_of(max_distance).1;
        self.with_client("reading every picture hash", |c| {
            let rows = c
                .query("SELECT id, item_id, hash FROM report_hashes", &[])
                .pg("reading every picture hash")?;
            let all = rows
                .iter()
                .map(|r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?)))
                .collect::<Result<Vec<(i64, String, String)>>>()?;
            Ok(nearest(hash, max, all))
        })
    }
}

impl PgStore {
    /// See [`crate::Store::incident_report_counts`].
    pub fn incident_report_counts(
        &self,
        incident_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, ReportCount>> {
        self.with_client("counting the reports of incidents", |c| {
            let rows = c
                .query(
                    "SELECT ii.incident_id, count(*), min(r.received_at), max(r.received_at)
                     FROM incident_items ii JOIN reports r ON r.item_id = ii.item_id
                     WHERE ii.incident_id = ANY($1) GROUP BY ii.incident_id",
                    &[&incident_ids],
                )
                .pg("counting the reports of incidents")?;
            let mut out = std::collections::HashMap::new();
            for r in &rows {
                let n: i64 = col(r, 1)?;
                out.insert(
                    col(r, 0)?,
                    ReportCount {
                        count: u64::try_from(n).unwrap_or(0),
                        first: col(r, 2)?,
                        last: col(r, 3)?,
                    },
                );
            }
            Ok(out)
        })
    }

    /// Records a burst on incident `incident_id` when at least `count` reports joined its
    /// items within `within` (and since its last burst), raising its severity one step and
    /// queueing what `plan` decides, in one transaction (see
    /// [`crate::Store::record_report_burst`]). The incident's row is locked first, so two nodes
    /// taking reports at once record one burst.
    pub fn record_report_burst(
        &self,
        incident_id: i64,
        item_id: &str,
        count: u32,
        within: Duration,
        plan: impl FnOnce(&IncidentContext, &Burst) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, Burst, AlertPlan)>> {
        let now = now_ms();
        let window_start =
            now - chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
        let what = || format!("checking incident {incident_id} for a report burst");
        self.with_client("checking for a report burst", |c| {
            let mut tx = c.transaction().pg_with(what)?;
            let Some(row) = tx
                .query_opt(
                    "SELECT severity, sightings FROM incidents WHERE id = $1 FOR UPDATE",
                    &[&incident_id],
                )
                .pg_with(what)?
            else {
                return Ok(None);
            };
            let (severity, sightings): (i16, i64) = (col(&row, 0)?, col(&row, 1)?);
            let row = tx
                .query_one(
                    "SELECT coalesce(max(last_report), 0), count(*) FROM incident_bursts
                     WHERE incident_id = $1",
                    &[&incident_id],
                )
                .pg_with(what)?;
            let (last_report, bursts): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
            let row = tx
                .query_one(
                    "SELECT count(*), max(r.id) FROM reports r
                     JOIN incident_items ii ON ii.item_id = r.item_id
                     WHERE ii.incident_id = $1 AND r.received_at > $2 AND r.id > $3",
                    &[&incident_id, &window_start, &last_report],
                )
                .pg_with(what)?;
            let (reports, newest): (i64, Option<i64>) = (col(&row, 0)?, col(&row, 1)?);
            if reports < i64::from(count) {
                return Ok(None);
            }
            let burst = Burst::raise(bursts + 1, reports, i64::from(severity), now);
            let (from, to) = (burst.from, burst.to);
            tx.execute(
                "INSERT INTO incident_bursts(incident_id, at, reports, last_report, severity_from,
                     severity_to) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &incident_id,
                    &now,
                    &reports,
                    &newest.unwrap_or(0),
                    &i16::from(from.rank()),
                    &i16::from(to.rank()),
                ],
            )
            .pg_with(|| format!("recording a report burst on incident {incident_id}"))?;
            tx.execute(
                "UPDATE incidents SET severity = $2, updated_at = $3 WHERE id = $1",
                &[&incident_id, &i16::from(to.rank()), &now],
            )
            .pg_with(|| format!("raising the severity of incident {incident_id}"))?;
            log_change(
                &mut tx,
                incident_id,
                now,
                "reports",
                "severity",
                &burst.history_note(within),
                "incident.burst",
            )?;
            let ctx = incident_context(&mut tx, incident_id, false, sightings)?;
            let decided = plan(&ctx, &burst);
            queue_plan(&mut tx, incident_id, item_id, &decided, now)?;
            tx.commit()
                .pg_with(|| format!("committing a report burst on incident {incident_id}"))?;
            Ok(Some((ctx, burst, decided)))
        })
    }

    /// See [`crate::Store::report_bursts`].
    pub fn report_bursts(&self, incident_id: i64) -> Result<Vec<Burst>> {
        self.with_client("reading report bursts", |c| {
            let rows = c
                .query(
                    "SELECT at, reports, severity_from, severity_to FROM incident_bursts
                     WHERE incident_id = $1 ORDER BY id",
                    &[&incident_id],
                )
                .pg_with(|| format!("reading the report bursts of incident {incident_id}"))?;
            rows.iter()
                .enumerate()
                .map(|(n, r)| {
                    let from: i16 = col(r, 2)?;
                    let to: i16 = col(r, 3)?;
                    let rank = |v: i16| {
                        u8::try_from(v)
                            .ok()
                            .and_then(Severity::from_rank)
                            .unwrap_or_default()
                    };
                    Ok(Burst {
                        number: n as i64 + 1,
                        reports: col(r, 1)?,
                        from: rank(from),
                        to: rank(to),
                        at: col(r, 0)?,
                    })
                })
                .collect()
        })
    }
}
