//! What the web role reads on PostgreSQL besides accounts and the incident workflow: the
//! dashboard's and `/metrics`' aggregates, the sources page's dead-letter count, and the reports
//! behind items. Read-only; each method gives what the SQLite [`crate::Store`] method of the
//! same name gives (text ordered by bytes, as SQLite does: `COLLATE "C"`).

use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use postgres::Row;

use super::{col, count_col, pg_limit, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::{DayCount, MetricCounts};

/// `(name, count)` rows as pairs; `what` names the count for errors.
fn counted(rows: &[Row], what: &str) -> Result<Vec<(String, u64)>> {
    rows.iter()
        .map(|r| Ok((col(r, 0)?, count_col(r, 1, || what.to_string())?)))
        .collect()
}

impl PgStore {
    /// Incidents opened per day (UTC) since `since`, by kind or severity name (see
    /// [`crate::Store::incidents_per_day`]).
    pub fn incidents_per_day(
        &self,
        since: DateTime<Utc>,
        by_severity: bool,
    ) -> Result<Vec<DayCount>> {
        let column = if by_severity {
            "severity::text"
        } else {
            "kind"
        };
        let order = if by_severity {
            "severity"
        } else {
            "kind COLLATE \"C\""
        };
        let sql = format!(
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, {column}, count(*)
             FROM incidents WHERE created_at >= $1
             GROUP BY day, severity, kind ORDER BY day, {order}"
        );
        // Grouped by both columns above for one statement shape; merged per group here.
        let rows = self.with_client("counting incidents per day", |c| {
            c.query(&sql, &[&since]).pg("counting incidents per day")
        })?;
        let mut out: Vec<DayCount> = Vec::new();
        for r in &rows {
            let day: String = col(r, 0)?;
            let raw: String = col(r, 1)?;
            let count = count_col(r, 2, || "incidents per day".into())?;
            let group = if by_severity {
                raw.parse::<u8>()
                    .ok()
                    .and_then(Severity::from_rank)
                    .map(|s| s.to_string())
                    .ok_or_else(|| {
                        StoreError::corrupt("incidents.severity", format!("rank {raw}"))
                    })?
            } else {
                VerdictKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == raw)
                    .map(|k| k.as_str().to_string())
                    .ok_or_else(|| {
                        StoreError::corrupt("incidents.kind", format!("unknown kind `{raw}`"))
                    })?
            };
            match out.last_mut() {
                Some(last) if last.day == day && last.group == group => last.count += count,
                _ => out.push(DayCount { day, group, count }),
            }
        }
        Ok(out)
    }

    /// How many incidents have each status, every status listed (see
    /// [`crate::Store::incident_status_counts`]).
    pub fn incident_status_counts(&self) -> Result<Vec<(IncidentStatus, u64)>> {
        let raws = self.with_client("counting incidents by status", |c| {
            let rows = c
                .query(
                    "SELECT status, count(*) FROM incidents GROUP BY status",
                    &[],
                )
                .pg("counting incidents by status")?;
            counted(&rows, "incidents by status")
        })?;
        Ok(IncidentStatus::ALL
            .into_iter()
            .map(|s| {
                let n = raws
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s, n)
            })
            .collect())
    }

    /// The false narratives most seen on flagged items stored since `since` (see
    /// [`crate::Store::top_narratives`]).
    pub fn top_narratives(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<(String, u64)>> {
        self.with_client("counting the top narratives", |c| {
            let rows = c
                .query(
                    "SELECT v.evidence::jsonb ->> 'narrative' AS narrative, count(*) AS n
                     FROM verdicts v JOIN items i ON i.seq = v.item_seq
                     WHERE v.kind = 'misinformation' AND i.flagged AND i.ingested_at >= $1
                       AND jsonb_typeof(v.evidence::jsonb -> 'narrative') = 'string'
                     GROUP BY narrative
                     ORDER BY n DESC, (v.evidence::jsonb ->> 'narrative') COLLATE \"C\" LIMIT $2",
                    &[&since, &pg_limit(limit)],
                )
                .pg("counting the top narratives")?;
            counted(&rows, "narrative sightings")
        })
    }

    /// Item versions stored per source since `since`, by source name (see
    /// [`crate::Store::items_per_source_since`]).
    pub fn items_per_source_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>> {
        self.with_client("counting items per source", |c| {
            let rows = c
                .query(
                    "SELECT source, count(*) FROM items WHERE ingested_at >= $1
                     GROUP BY source ORDER BY source COLLATE \"C\"",
                    &[&since],
                )
                .pg("counting items per source")?;
            counted(&rows, "items per source")
        })
    }

    /// The counters `/metrics` exports (see [`crate::Store::metric_counts`]).
    pub fn metric_counts(&self) -> Result<MetricCounts> {
        self.with_client("reading the metric counters", |c| {
            let items = c
                .query_one("SELECT count(*) FROM items", &[])
                .pg("counting items")?;
            let verdicts = c
                .query(
                    "SELECT v.kind, count(*) FROM verdicts v JOIN items i ON i.seq = v.item_seq
                     WHERE i.flagged GROUP BY v.kind ORDER BY v.kind COLLATE \"C\"",
                    &[],
                )
                .pg("counting verdicts by kind")?;
            let latency = c
                .query_one(
                    "SELECT coalesce(sum(extract(epoch FROM accepted_at - created_at)), 0)::float8,
                            count(*)
                     FROM outbox WHERE state = 'sent' AND accepted_at IS NOT NULL",
                    &[],
                )
                .pg("summing alert latencies")?;
            let incidents = c
                .query_one("SELECT count(*) FROM incidents", &[])
                .pg("counting incidents")?;
            Ok(MetricCounts {
                items: count_col(&items, 0, || "items".into())?,
                verdicts: counted(&verdicts, "verdicts by kind")?,
                latency_sum: col(&latency, 0)?,
                latency_count: count_col(&latency, 1, || "alerts sent".into())?,
                incidents: count_col(&incidents, 0, || "incidents".into())?,
            })
        })
    }

    /// Work the cluster gave up on: the dead letters its nodes recorded in the audit log
    /// (`dead_letter` by `cluster`). Cluster mode's quarantine is the JetStream dead-letter
    /// subject, not a table, so this is what the sources page counts (see
    /// [`crate::Store::quarantine_count`] for embedded mode's).
    pub fn quarantine_count(&self) -> Result<u64> {
        self.with_client("counting dead letters", |c| {
            let r = c
                .query_one(
                    "SELECT count(*) FROM audit_log WHERE actor = 'cluster' AND action = 'dead_letter'",
                    &[],
                )
                .pg("counting dead letters")?;
            count_col(&r, 0, || "dead letters".into())
        })
    }
}
