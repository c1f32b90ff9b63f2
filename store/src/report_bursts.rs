//! Report bursts (issue 19): when `count` reports have joined one incident within `within`,
//! its severity goes up one step, once per burst: the reports counted are those received
//! within the window *and* after the last one its previous burst counted, so the next burst
//! needs `count` new reports. The change is in the incident's history and the audit log (`incident.burst`), and
//! the messages the alert rules choose are queued in the same transaction.

use std::time::Duration;

use ballotwatch_core::Severity;
use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};

use crate::error::{Result, SqlContext};
use crate::incidents::log_change;
use crate::row::{query_all, query_opt};
use crate::sightings::{incident_context, queue_plan};
use crate::{now_ms, parse_ts, ts, AlertPlan, IncidentContext, ReportCount, Store};

/// A burst recorded on an incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Burst {
    /// The incident's n-th burst (1 for the first).
    pub number: i64,
    /// Reports counted in it.
    pub reports: i64,
    /// Severity before.
    pub from: Severity,
    /// Severity after (the same when it was already `high`).
    pub to: Severity,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

impl Burst {
    /// The `number`th burst of `reports` reports, recorded `at` on an incident of severity
    /// rank `severity`: one step up (`high` stays `high`). On both back ends.
    pub(crate) fn raise(number: i64, reports: i64, severity: i64, at: DateTime<Utc>) -> Burst {
        let from = u8::try_from(severity)
            .ok()
            .and_then(Severity::from_rank)
            .unwrap_or(Severity::None);
        Burst {
            number,
            reports,
            from,
            to: Severity::from_rank(from.rank() + 1).unwrap_or(from),
            at,
        }
    }

    /// What the incident's history says about it.
    pub(crate) fn history_note(&self, within: Duration) -> String {
        format!(
            "{} ({} reports within {})",
            self.to,
            self.reports,
            humantime::format_duration(within)
        )
    }
}

impl Store {
    /// Records a burst on incident `incident_id` if at least `count` reports joined its items
    /// within `within` (and since its last burst): raises its severity one step, logs and
    /// audits it, and queues what `plan` decides (for item `item_id`, the report's), all in one
    /// transaction. `None` when there is no burst (yet), or no such incident.
    pub fn record_report_burst(
        &self,
        incident_id: i64,
        item_id: &str,
        count: u32,
        within: Duration,
        plan: impl FnOnce(&IncidentContext, &Burst) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, Burst, AlertPlan)>> {
        let now = now_ms();
        let at = ts(&now);
        let window_start =
            ts(&(now - chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX)));
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to check for a report burst")?;
            let what = || format!("checking incident {incident_id} for a report burst");
            let row: Option<(i64, i64)> = query_opt(
                &tx,
                "SELECT severity, sightings FROM incidents WHERE id = ?1",
                [incident_id],
                what,
            )?;
            let Some((severity, sightings)) = row else {
                return Ok(None);
            };
            let last: Option<(i64, i64)> = query_opt(
                &tx,
                "SELECT coalesce(max(last_report), 0), count(*) FROM incident_bursts
                 WHERE incident_id = ?1",
                [incident_id],
                what,
            )?;
            let (last_report, bursts) = last.unwrap_or((0, 0));
            let (reports, newest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT count(*), max(r.id) FROM reports r
                     JOIN incident_items ii ON ii.item_id = r.item_id
                     WHERE ii.incident_id = ?1 AND r.received_at > ?2 AND r.id > ?3",
                    params![incident_id, window_start, last_report],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .with_ctx(what)?;
            if reports < i64::from(count) {
                return Ok(None);
            }
            let burst = Burst::raise(bursts + 1, reports, severity, now);
            let (from, to) = (burst.from, burst.to);
            tx.execute(
                "INSERT INTO incident_bursts(incident_id, at, reports, last_report, severity_from,
                     severity_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    incident_id,
                    at,
                    reports,
                    newest.unwrap_or(0),
                    from.rank(),
                    to.rank()
                ],
            )
            .with_ctx(|| format!("recording a report burst on incident {incident_id}"))?;
            tx.execute(
                "UPDATE incidents SET severity = ?2, updated_at = ?3 WHERE id = ?1",
                params![incident_id, i64::from(to.rank()), at],
            )
            .with_ctx(|| format!("raising the severity of incident {incident_id}"))?;
            log_change(
                &tx,
                incident_id,
                &at,
                "reports",
                "severity",
                &burst.history_note(within),
                "incident.burst",
            )?;
            let ctx = incident_context(&tx, incident_id, false, sightings)?;
            let decided = plan(&ctx, &burst);
            queue_plan(&tx, incident_id, item_id, &decided, &at)?;
            tx.commit()
                .with_ctx(|| format!("committing a report burst on incident {incident_id}"))?;
            Ok(Some((ctx, burst, decided)))
        })
    }

    /// The report bursts of incident `incident_id`, oldest first.
    pub fn report_bursts(&self, incident_id: i64) -> Result<Vec<Burst>> {
        self.with_conn(|conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT at, reports, severity_from, severity_to FROM incident_bursts
                     WHERE incident_id = ?1 ORDER BY id",
                )
                .ctx("reading report bursts")?;
            let rows = st
                .query_map([incident_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, u8>(2)?,
                        r.get::<_, u8>(3)?,
                    ))
                })
                .with_ctx(|| format!("reading the report bursts of incident {incident_id}"))?;
            let mut out = Vec::new();
            for (n, row) in rows.enumerate() {
                let (at, reports, from, to) =
                    row.with_ctx(|| format!("reading a report burst of incident {incident_id}"))?;
                out.push(Burst {
                    number: n as i64 + 1,
                    reports,
                    from: Severity::from_rank(from).unwrap_or_default(),
                    to: Severity::from_rank(to).unwrap_or_default(),
                    at: parse_ts(&at, || "incident_bursts.at".into())?,
                });
            }
            Ok(out)
        })
    }
}

impl Store {
    /// For each of `incident_ids` that reports became items of: how many, the first and the
    /// last (one query, for the incident list).
    pub fn incident_report_counts(
        &self,
        incident_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, ReportCount>> {
        let mut out = std::collections::HashMap::new();
        if incident_ids.is_empty() {
            return Ok(out);
        }
        // The ids are numbers, written inline.
        let list = incident_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.with_conn(|conn| {
            let rows: Vec<(i64, i64, String, String)> = query_all(
                conn,
                &format!(
                    "SELECT ii.incident_id, count(*), min(r.received_at), max(r.received_at)
                     FROM incident_items ii JOIN reports r ON r.item_id = ii.item_id
                     WHERE ii.incident_id IN ({list}) GROUP BY ii.incident_id"
                ),
                [],
                || "counting the reports of incidents".into(),
            )?;
            for (id, n, first, last) in rows {
                out.insert(
                    id,
                    ReportCount {
                        count: u64::try_from(n).unwrap_or(0),
                        first: Some(parse_ts(&first, || "reports.received_at".into())?),
                        last: Some(parse_ts(&last, || "reports.received_at".into())?),
                    },
                );
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewOutbox, OutboxKind};

    fn plan_one(ctx: &IncidentContext, b: &Burst) -> AlertPlan {
        AlertPlan {
            outbox: vec![NewOutbox {
                idempotency_key: format!("alert:{}:r:email:burst:{}", ctx.incident.id, b.number),
                channel: "email".into(),
                kind: OutboxKind::Update,
                rule: "r".into(),
                incident_id: Some(ctx.incident.id),
                recipients: vec!["comms@example.org".into()],
                payload: serde_json::json!({}),
                not_before: Utc::now(),
            }],
            digest: vec![],
        }
    }

    #[test]
    fn a_burst_raises_severity_once_and_needs_fresh_reports_for_the_next() {
        let (_dir, store) = crate::testutil::store();
        store
            .record_poll(
                "Echo",
                crate::testutil::poll(&store, &[("item-1", "fake notice")], 0),
            )
            .unwrap();
        let incident = store
            .create_incident(
                "Fake notice",
                ballotwatch_core::VerdictKind::Misinformation,
                Severity::Low,
                "alice",
            )
            .unwrap();
        store
            .add_incident_item(incident.id, "item-1", "alice")
            .unwrap();
        let report = |n: usize| {
            for _ in 0..n {
                let id = store
                    .open_report("alice", false, &serde_json::json!({}))
                    .unwrap();
                store
                    .close_report(id, "item-1", &serde_json::json!({}))
                    .unwrap();
            }
        };
        let window = Duration::from_secs(1800);
        report(2);
        assert!(store
            .record_report_burst(incident.id, "item-1", 3, window, plan_one)
            .unwrap()
            .is_none());
        report(1);
        let (ctx, burst, plan) = store
            .record_report_burst(incident.id, "item-1", 3, window, plan_one)
            .unwrap()
            .unwrap();
        assert_eq!((burst.number, burst.reports), (1, 3));
        assert_eq!((burst.from, burst.to), (Severity::Low, Severity::Medium));
        assert_eq!(ctx.incident.severity, Severity::Medium);
        assert_eq!(plan.outbox.len(), 1);
        // The same reports do not make a second burst; three more do.
        assert!(store
            .record_report_burst(incident.id, "item-1", 3, window, plan_one)
            .unwrap()
            .is_none());
        report(3);
        let (_, second, _) = store
            .record_report_burst(incident.id, "item-1", 3, window, plan_one)
            .unwrap()
            .unwrap();
        assert_eq!((second.number, second.to), (2, Severity::High));
        assert_eq!(store.report_bursts(incident.id).unwrap().len(), 2);
        assert_eq!(store.outbox_rows(10).unwrap().len(), 2);
        let audited = store.audit_entries(50).unwrap();
        assert_eq!(
            audited
                .iter()
                .filter(|e| e.action == "incident.burst")
                .count(),
            2
        );
        let counts = store.incident_report_counts(&[incident.id, 999]).unwrap();
        assert_eq!(counts[&incident.id].count, 6);
        assert!(counts[&incident.id].first <= counts[&incident.id].last);
        assert!(!counts.contains_key(&999));
        assert!(store
            .record_report_burst(999, "item-1", 3, window, plan_one)
            .unwrap()
            .is_none());
    }
}
