//! Dashboard and `/metrics` aggregates: incidents per day and per status, the false narratives
//! most seen, items stored per source, and the counters `/metrics` exports. Read-only.

use std::collections::BTreeMap;

use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use rusqlite::params;
use rusqlite::types::Value;
use serde::Serialize;

use crate::error::{Result, SqlContext, StoreError};
use crate::row::{query_all, query_opt};
use crate::{sql_limit, ts, Store};

/// Counts for one day of the dashboard chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Group: a kind or severity name.
    pub group: String,
    /// Incidents opened that day in that group.
    pub count: u64,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricCounts {
    /// Item versions stored.
    pub items: u64,
    /// Verdicts on flagged items, per kind.
    pub verdicts: Vec<(String, u64)>,
    /// Sum of alert latencies (queued → accepted by the channel), seconds.
    pub latency_sum: f64,
    /// Alerts delivered.
    pub latency_count: u64,
    /// Incidents opened.
    pub incidents: u64,
}

/// Pairs of a name and a count column, as `u64`.
fn counted(rows: Vec<(String, i64)>) -> Vec<(String, u64)> {
    rows.into_iter()
        .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
        .collect()
}

impl Store {
    /// Incidents opened per day since `since`, grouped by kind (`by_severity` false) or by
    /// severity name.
    pub fn incidents_per_day(
        &self,
        since: DateTime<Utc>,
        by_severity: bool,
    ) -> Result<Vec<DayCount>> {
        let column = if by_severity { "severity" } else { "kind" };
        let raws: Vec<(String, Value, i64)> = self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT substr(created_at, 1, 10) AS day, {column}, count(*) FROM incidents
                     WHERE created_at >= ?1 GROUP BY day, {column} ORDER BY day, {column}"
                ),
                [ts(&since)],
                || "counting incidents per day".into(),
            )
        })?;
        raws.into_iter()
            .map(|(day, group, count)| {
                let group = match group {
                    Value::Integer(rank) => u8::try_from(rank)
                        .ok()
                        .and_then(Severity::from_rank)
                        .map(|s| s.to_string())
                        .ok_or_else(|| {
                            StoreError::corrupt("incidents.severity", format!("rank {rank}"))
                        })?,
                    Value::Text(kind) => VerdictKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind)
                        .map(|k| k.as_str().to_string())
                        .ok_or_else(|| {
                            StoreError::corrupt("incidents.kind", format!("unknown kind `{kind}`"))
                        })?,
                    other => {
                        return Err(StoreError::corrupt(
                            format!("incidents.{column}"),
                            format!("unexpected value {other:?}"),
                        ))
                    }
                };
                Ok(DayCount {
                    day,
                    group,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    /// How many incidents have each status (every status listed, zeros included).
    pub fn incident_status_counts(&self) -> Result<Vec<(IncidentStatus, u64)>> {
        let raws = counted(self.with_conn(|conn| {
            query_all(
                conn,
                "SELECT status, count(*) FROM incidents GROUP BY status",
                [],
                || "counting incidents by status".into(),
            )
        })?);
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

    /// The false narratives (`evidence.narrative` of misinformation verdicts) most often seen on
    /// flagged items stored since `since`, with how many item versions carried them, most first.
    pub fn top_narratives(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<(String, u64)>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                "SELECT json_extract(v.evidence, '$.narrative') AS narrative, count(*) AS n
                 FROM verdicts v JOIN items i ON i.seq = v.item_seq
                 WHERE v.kind = 'misinformation' AND i.flagged = 1 AND i.ingested_at >= ?1
                   AND json_type(v.evidence, '$.narrative') = 'text'
                 GROUP BY narrative ORDER BY n DESC, narrative LIMIT ?2",
                params![ts(&since), sql_limit(limit)],
                || "counting the top narratives".into(),
            )
            .map(counted)
        })
    }

    /// Item versions stored per source since `since`, by source name.
    pub fn items_per_source_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                "SELECT source, count(*) FROM items WHERE ingested_at >= ?1
                 GROUP BY source ORDER BY source",
                [ts(&since)],
                || "counting items per source".into(),
            )
            .map(counted)
        })
    }

    /// Item versions (new items and new versions of known ones) stored per source since
    /// `since`, by source name. Sources with none are absent.
    pub fn items_stored_since(&self, since: DateTime<Utc>) -> Result<BTreeMap<String, u64>> {
        Ok(self.items_per_source_since(since)?.into_iter().collect())
    }

    /// Counters for `/metrics`: item versions stored, flagged verdicts per kind, and the sum
    /// and count of alert latencies (item stored → message accepted), in seconds.
    pub fn metric_counts(&self) -> Result<MetricCounts> {
        self.with_conn(|conn| {
            let count = |sql: &str, what: &str| -> Result<u64> {
                conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .ctx(what)
                    .map(|n| u64::try_from(n).unwrap_or(0))
            };
            let items = count("SELECT count(*) FROM items", "counting items")?;
            let verdicts = counted(query_all(
                conn,
                "SELECT v.kind, count(*) FROM verdicts v JOIN items i ON i.seq = v.item_seq
                 WHERE i.flagged = 1 GROUP BY v.kind ORDER BY v.kind",
                [],
                || "counting verdicts by kind".into(),
            )?);
            let latency: Option<(f64, i64)> = query_opt(
                conn,
                "SELECT coalesce(sum((julianday(accepted_at) - julianday(created_at)) * 86400.0), 0),
                        count(*)
                 FROM outbox WHERE state = 'sent' AND accepted_at IS NOT NULL",
                [],
                || "summing alert latencies".into(),
            )?;
            let (latency_sum, latency_count) = latency.unwrap_or_default();
            let latency_count = u64::try_from(latency_count).unwrap_or(0);
            let incidents = count("SELECT count(*) FROM incidents", "counting incidents")?;
            Ok(MetricCounts {
                items,
                verdicts,
                latency_sum,
                latency_count,
                incidents,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn metric_counts_count_items() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "x"), ("b", "y")], 0))
            .unwrap();
        let m = store.metric_counts().unwrap();
        assert_eq!(m.items, 2);
        assert_eq!(
            store.items_per_source_since(t(-10)).unwrap(),
            [("Echo".to_string(), 2)]
        );
        assert!(m.verdicts.is_empty());
        assert_eq!(m.latency_count, 0);
    }

    #[test]
    fn counts_item_versions_per_source_since_a_time() {
        let (_dir, s) = store();
        let before = chrono::Utc::now() - chrono::Duration::seconds(5);
        s.record_poll("Echo", poll(&s, &[("a", "one"), ("b", "two")], 100))
            .unwrap();
        s.record_poll("Gazette", poll(&s, &[("c", "three")], 100))
            .unwrap();
        // A new version of `a` counts; an unchanged `b` does not.
        s.record_poll("Echo", poll(&s, &[("a", "one, edited"), ("b", "two")], 200))
            .unwrap();
        let counts = s.items_stored_since(before).unwrap();
        assert_eq!(counts.get("Echo"), Some(&3));
        assert_eq!(counts.get("Gazette"), Some(&1));
        let later = chrono::Utc::now() + chrono::Duration::seconds(5);
        assert!(s.items_stored_since(later).unwrap().is_empty());
    }
}
