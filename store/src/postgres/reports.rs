//! Reports in PostgreSQL (see `crate::reports`): the same rows, numbers, audit entries and
//! reporter retention as the SQLite store, so both back ends answer alike (the conformance
//! suite checks it).

use chrono::{DateTime, Utc};
use postgres::Row;

use super::{audit, col, count_col, PgStore};
use crate::error::{JsonContext, PgContext, Result};
use crate::reports::{
    inbox_actor, reference, removed_mark, removed_recipients, retention_detail, Acknowledger,
    InboxReport, ACKNOWLEDGEMENT_RULE, REMOVED_LIKE, REMOVED_RECIPIENTS_LIKE,
};
use crate::{now_ms, ReportCount, ReportRecord};

const COLUMNS: &str = "id, received_at, reporter, public, item_id, detail";

fn report_row(r: &Row) -> Result<ReportRecord> {
    let id: i64 = col(r, 0)?;
    let detail: String = col(r, 5)?;
    Ok(ReportRecord {
        id,
        reference: reference(id),
        received_at: col(r, 1)?,
        reporter: col(r, 2)?,
        public: col(r, 3)?,
        item_id: col(r, 4)?,
        detail: serde_json::from_str(&detail)
            .json_ctx(|| format!("reading reports.detail of report {id}"))?,
    })
}

impl PgStore {
    /// Records a report's arrival (see [`crate::Store::open_report`]).
    pub fn open_report(
        &self,
        reporter: &str,
        public: bool,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        let at = now_ms();
        self.with_client("recording a report", |c| {
            let mut tx = c.transaction().pg("starting to record a report")?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO reports(received_at, reporter, public, detail) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&at, &reporter, &public, &detail.to_string()],
                )
                .pg("recording a report")
                .and_then(|r| col(&r, 0))?;
            audit::record(
                &mut tx,
                at,
                reporter,
                "report.receive",
                &serde_json::json!({ "report": reference(id), "public": public }),
            )?;
            tx.commit().pg("committing a report")?;
            Ok(id)
        })
    }

    /// Records the item of report `id` (see [`crate::Store::close_report`]).
    pub fn close_report(&self, id: i64, item_id: &str, detail: &serde_json::Value) -> Result<()> {
        self.with_client("recording a report's item", |c| {
            c.execute(
                "UPDATE reports SET item_id = $2, detail = $3 WHERE id = $1",
                &[&id, &item_id, &detail.to_string()],
            )
            .pg_with(|| format!("recording the item of report {}", reference(id)))?;
            Ok(())
        })
    }

    /// Report `id`, if there is one (see [`crate::Store::report`]).
    pub fn report(&self, id: i64) -> Result<Option<ReportRecord>> {
        self.with_client("reading a report", |c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM reports WHERE id = $1"),
                &[&id],
            )
            .pg_with(|| format!("reading report {}", reference(id)))?
            .map(|r| report_row(&r))
            .transpose()
        })
    }

    /// The reports that became item `item_id`, oldest first (see
    /// [`crate::Store::reports_of_item`]).
    pub fn reports_of_item(&self, item_id: &str) -> Result<Vec<ReportRecord>> {
        self.with_client("reading an item's reports", |c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM reports WHERE item_id = $1 ORDER BY id"),
                &[&item_id],
            )
            .pg_with(|| format!("reading the reports of item `{item_id}`"))?
            .iter()
            .map(report_row)
            .collect()
        })
    }

    /// How many reports became any of `item_ids`, and when the first and last arrived (see
    /// [`crate::Store::report_count`]).
    pub fn report_count(&self, item_ids: &[String]) -> Result<ReportCount> {
        self.with_client("counting reports", |c| {
            let r = c
                .query_one(
                    "SELECT count(*), min(received_at), max(received_at) FROM reports
                     WHERE item_id = ANY($1)",
                    &[&item_ids],
                )
                .pg("counting the reports of items")?;
            Ok(ReportCount {
                count: count_col(&r, 0, || "reports".into())?,
                first: col(&r, 1)?,
                last: col(&r, 2)?,
            })
        })
    }

    /// Records the report inbox's reports, once per item (see
    /// [`crate::Store::record_inbox_reports`]).
    pub fn record_inbox_reports(
        &self,
        source: &str,
        reports: &[InboxReport],
        acknowledge: Acknowledger<'_>,
    ) -> Result<Vec<i64>> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let at = now_ms();
        let actor = inbox_actor(source);
        self.with_client("recording the report inbox's reports", |c| {
            let mut tx = c
                .transaction()
                .pg("starting to record the report inbox's reports")?;
            // One writer at a time, so two nodes reading the same message record it once.
            tx.execute("LOCK TABLE reports IN SHARE ROW EXCLUSIVE MODE", &[])
                .pg("locking the reports")?;
            let since = at - chrono::Duration::hours(1);
            let queued: i64 = tx
                .query_one(
                    "SELECT count(*) FROM outbox WHERE rule = $1 AND created_at >= $2",
                    &[&ACKNOWLEDGEMENT_RULE, &since],
                )
                .pg("counting the last hour's report acknowledgements")
                .and_then(|row| col(&row, 0))?;
            let mut room = i64::from(acknowledge.per_hour).saturating_sub(queued);
            let mut withheld = Vec::new();
            let mut ids = Vec::new();
            for (n, r) in reports.iter().enumerate() {
                let known = tx
                    .query_opt(
                        "SELECT id FROM reports WHERE item_id = $1 LIMIT 1",
                        &[&r.item_id],
                    )
                    .pg_with(|| format!("looking up the report of item `{}`", r.item_id))?;
                if known.is_some() {
                    continue;
                }
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO reports(received_at, reporter, public, item_id, detail) \
                         VALUES ($1, $2, false, $3, $4) RETURNING id",
                        &[&at, &r.reporter, &r.item_id, &r.detail.to_string()],
                    )
                    .pg_with(|| format!("recording the report of item `{}`", r.item_id))
                    .and_then(|row| col(&row, 0))?;
                audit::record(
                    &mut tx,
                    at,
                    &actor,
                    "report.receive",
                    &serde_json::json!({ "report": reference(id), "public": false, "item": r.item_id }),
                )?;
                if let Some(message) = (acknowledge.message)(n, &reference(id)) {
                    if room > 0 {
                        super::outbox::insert_outbox(&mut tx, &message, at)?;
                        room -= 1;
                    } else {
                        withheld.push(reference(id));
                    }
                }
                ids.push(id);
            }
            if !withheld.is_empty() {
                audit::record(
                    &mut tx,
                    at,
                    &actor,
                    crate::ACKNOWLEDGEMENTS_WITHHELD,
                    &crate::reports::withheld_detail(acknowledge.per_hour, &withheld),
                )?;
            }
            tx.commit().pg("committing the report inbox's reports")?;
            Ok(ids)
        })
    }

    /// Removes the reporters older than `days` (see [`crate::Store::remove_old_reporters`]).
    pub fn remove_old_reporters(&self, days: u32, now: DateTime<Utc>) -> Result<u64> {
        let cutoff = super::ms(now - chrono::Duration::days(i64::from(days)));
        let mark = removed_mark(days);
        self.with_client("the reporter retention sweep", |c| {
            let mut tx = c
                .transaction()
                .pg("starting the reporter retention sweep")?;
            tx.execute(
                "UPDATE outbox SET recipients = $3 WHERE rule = $1 AND created_at < $2 \
                 AND state IN ('sent', 'dead') AND recipients NOT LIKE $4",
                &[
                    &ACKNOWLEDGEMENT_RULE,
                    &cutoff,
                    &removed_recipients(days),
                    &REMOVED_RECIPIENTS_LIKE,
                ],
            )
            .pg("removing the recipients of old report acknowledgements")?;
            let row = tx
                .query_one(
                    "SELECT count(*), min(id), max(id) FROM reports \
                     WHERE received_at < $1 AND reporter NOT LIKE $2",
                    &[&cutoff, &REMOVED_LIKE],
                )
                .pg("finding the reports past reporter retention")?;
            let n: i64 = col(&row, 0)?;
            let (Some(first), Some(last)) =
                (col::<Option<i64>>(&row, 1)?, col::<Option<i64>>(&row, 2)?)
            else {
                tx.commit().pg("committing the reporter retention sweep")?;
                return Ok(0);
            };
            tx.execute(
                "UPDATE reports SET reporter = $3 WHERE received_at < $1 AND reporter NOT LIKE $2",
                &[&cutoff, &REMOVED_LIKE, &mark],
            )
            .pg("removing the reporters past retention")?;
            audit::record(
                &mut tx,
                super::ms(now),
                crate::RETENTION_ACTOR,
                "report.reporters_removed",
                &retention_detail(n, first, last, days),
            )?;
            tx.commit().pg("committing the reporter retention sweep")?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
    }
}
