//! Reports: links and uploads people send in (the Report page, `POST /api/v1/reports`, the
//! public report form). Each report gets a number when it arrives (its reference, answered to
//! the reporter as [`reference()`]) and, once its item is stored, the item's id. Who sent it is
//! personal data: kept here (and, for the web UI's users, in the audit log), shown to analysts
//! and admins, never in the item (so never in alerts or the index), left out of evidence packs
//! unless asked for, and replaced by [`removed_mark`] once older than `[reports]
//! reporter_retention_days` ([`Store::remove_old_reporters`]).
//!
//! The report inbox's messages become reports here too ([`Store::record_inbox_reports`]): the
//! reporter is the message's `From`, the audit actor the inbox (never the address, which the
//! append-only audit log could not forget).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::error::{JsonContext, Result, SqlContext};
use crate::row::{col, query_all, FromRow};
use crate::{now_ms, parse_ts, ts, Store};

/// The reference number people are given for report `id`, e.g. `R-000042`.
pub fn reference(id: i64) -> String {
    format!("R-{id:06}")
}

/// A report's number from its reference (`R-000042`, `r-42` or `42`), if it is one.
pub fn parse_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .strip_prefix("R-")
        .or_else(|| s.strip_prefix("r-"))
        .unwrap_or(s);
    digits.parse::<i64>().ok().filter(|n| *n > 0)
}

/// One stored report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportRecord {
    /// The report's number.
    pub id: i64,
    /// Its reference ([`reference()`] of `id`).
    pub reference: String,
    /// When it arrived (UTC).
    pub received_at: DateTime<Utc>,
    /// Who sent it: a user name, or `public report form`.
    pub reporter: String,
    /// Sent through the public report form.
    pub public: bool,
    /// The item it became; `None` while it is being captured (or if storing it failed).
    pub item_id: Option<String>,
    /// What was sent and what became of it (note, where it was seen, each URL's capture).
    pub detail: serde_json::Value,
}

/// How many reports became some items, and when the first and last arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportCount {
    /// How many.
    pub count: u64,
    /// When the first arrived.
    pub first: Option<DateTime<Utc>>,
    /// When the last arrived.
    pub last: Option<DateTime<Utc>>,
}

/// A report read from the report inbox (`kind = "imap"`): who forwarded it and what it was,
/// recorded with the poll that stored its item.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxReport {
    /// The item the message became.
    pub item_id: String,
    /// Who sent it (`Name <address>`, or the address alone).
    pub reporter: String,
    /// What was sent (subject, the message's place in the folder, attachments): no reporter.
    pub detail: serde_json::Value,
}

/// What [`Store::record_inbox_reports`] queues with each report it records (the report inbox's
/// `acknowledge`).
#[derive(Clone, Copy)]
pub struct Acknowledger<'a> {
    /// Given the report's place in the slice and its reference, the outbox message
    /// acknowledging it to the sender, or `None`.
    pub message: &'a dyn Fn(usize, &str) -> Option<crate::NewOutbox>,
    /// The most acknowledgements queued in any hour, every inbox's together: past it a report
    /// is recorded but not acknowledged (audited once per poll as
    /// `report.acknowledgements_withheld`), so a flood of forged senders cannot make the
    /// council's mail server write to each of them.
    pub per_hour: u32,
}

impl std::fmt::Debug for Acknowledger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acknowledger")
            .field("per_hour", &self.per_hour)
            .finish_non_exhaustive()
    }
}

/// The audit action recorded when acknowledgements were withheld over the hourly cap.
pub const ACKNOWLEDGEMENTS_WITHHELD: &str = "report.acknowledgements_withheld";

/// The `rule` column of queued report acknowledgements. Their recipient (the reporter's
/// address) is removed with the reporters ([`Store::remove_old_reporters`]) once they were sent
/// or given up on.
pub const ACKNOWLEDGEMENT_RULE: &str = "(report acknowledgement)";

/// An [`Acknowledger`] that acknowledges nothing.
pub fn no_acknowledgements() -> Acknowledger<'static> {
    fn none(_: usize, _: &str) -> Option<crate::NewOutbox> {
        None
    }
    Acknowledger {
        message: &none,
        per_hour: 0,
    }
}

/// The audit detail of the acknowledgements of reports `references` withheld over the cap.
pub(crate) fn withheld_detail(per_hour: u32, references: &[String]) -> serde_json::Value {
    serde_json::json!({
        "withheld": references.len(),
        "per_hour": per_hour,
        "reports": references,
    })
}

/// What stands in place of a reporter removed after `days` days.
pub fn removed_mark(days: u32) -> String {
    format!("(removed after {days} days)")
}

/// The `LIKE` pattern of every [`removed_mark`]: rows already swept are not swept again.
pub(crate) const REMOVED_LIKE: &str = "(removed after %";

/// The audit actor of the report inbox `source`'s reports (not the reporter's address: the
/// audit log is append-only, and the address must be deletable).
pub fn inbox_actor(source: &str) -> String {
    format!("report inbox `{source}`")
}

/// The audit actor of the reporter retention sweep.
pub const RETENTION_ACTOR: &str = "reporter retention";

impl ReportRecord {
    const COLUMNS: &'static str = "id, received_at, reporter, public, item_id, detail";
}

impl FromRow for ReportRecord {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let at: String = col(r, 1)?;
        let detail: String = col(r, 5)?;
        Ok(ReportRecord {
            id,
            reference: reference(id),
            received_at: parse_ts(&at, || format!("reports.received_at of report {id}"))?,
            reporter: col(r, 2)?,
            public: col::<i64>(r, 3)? != 0,
            item_id: col(r, 4)?,
            detail: serde_json::from_str(&detail)
                .json_ctx(|| format!("reading reports.detail of report {id}"))?,
        })
    }
}

impl Store {
    /// Records a report's arrival from `reporter` (with an audit entry `report.receive` by the
    /// same actor, in one transaction) and returns its number.
    pub fn open_report(
        &self,
        reporter: &str,
        public: bool,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record a report")?;
            tx.execute(
                "INSERT INTO reports(received_at, reporter, public, detail) VALUES (?1, ?2, ?3, ?4)",
                params![at, reporter, i64::from(public), detail.to_string()],
            )
            .ctx("recording a report")?;
            let id = tx.last_insert_rowid();
            crate::audit::record(
                &tx,
                &at,
                reporter,
                "report.receive",
                &serde_json::json!({ "report": reference(id), "public": public }),
            )?;
            tx.commit().ctx("committing a report")?;
            Ok(id)
        })
    }

    /// Records that report `id` became item `item_id`, with what became of it (`detail`
    /// replaces what [`Store::open_report`] recorded).
    pub fn close_report(&self, id: i64, item_id: &str, detail: &serde_json::Value) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE reports SET item_id = ?2, detail = ?3 WHERE id = ?1",
                params![id, item_id, detail.to_string()],
            )
            .with_ctx(|| format!("recording the item of report {}", reference(id)))?;
            Ok(())
        })
    }

    /// Report `id`, if there is one.
    pub fn report(&self, id: i64) -> Result<Option<ReportRecord>> {
        self.with_conn(|conn| {
            conn.query_row(
                &format!(
                    "SELECT {} FROM reports WHERE id = ?1",
                    ReportRecord::COLUMNS
                ),
                [id],
                |r| Ok(ReportRecord::from_row(r)),
            )
            .optional()
            .with_ctx(|| format!("reading report {}", reference(id)))?
            .transpose()
        })
    }

    /// How many reports became one of `item_ids` (an incident's items), with the first and last
    /// time one arrived: the incident's "reported N times".
    pub fn report_count(&self, item_ids: &[String]) -> Result<ReportCount> {
        let mut n = 0u64;
        let mut first: Option<DateTime<Utc>> = None;
        let mut last: Option<DateTime<Utc>> = None;
        for id in item_ids {
            for r in self.reports_of_item(id)? {
                n += 1;
                first = Some(first.map_or(r.received_at, |f| f.min(r.received_at)));
                last = Some(last.map_or(r.received_at, |l| l.max(r.received_at)));
            }
        }
        Ok(ReportCount {
            count: n,
            first,
            last,
        })
    }

    /// Records the report inbox `source`'s reports (one transaction; each with an audit entry
    /// `report.receive` by [`inbox_actor`], and the outbox message `acknowledge` gives for it),
    /// skipping any whose item already has a report (the same message read again after a
    /// restart or a renumbered folder: it is neither recorded nor acknowledged again). Returns
    /// the numbers of the reports recorded.
    pub fn record_inbox_reports(
        &self,
        source: &str,
        reports: &[InboxReport],
        acknowledge: Acknowledger<'_>,
    ) -> Result<Vec<i64>> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let at = ts(&now_ms());
        let actor = inbox_actor(source);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record the report inbox's reports")?;
            let since = ts(&(now_ms() - chrono::Duration::hours(1)));
            let queued: i64 = tx
                .query_row(
                    "SELECT count(*) FROM outbox WHERE rule = ?1 AND created_at >= ?2",
                    params![ACKNOWLEDGEMENT_RULE, since],
                    |row| row.get(0),
                )
                .ctx("counting the last hour's report acknowledgements")?;
            let mut room = i64::from(acknowledge.per_hour).saturating_sub(queued);
            let mut withheld = Vec::new();
            let mut ids = Vec::new();
            for (n, r) in reports.iter().enumerate() {
                let known: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM reports WHERE item_id = ?1 LIMIT 1",
                        [&r.item_id],
                        |row| row.get(0),
                    )
                    .optional()
                    .with_ctx(|| format!("looking up the report of item `{}`", r.item_id))?;
                if known.is_some() {
                    continue;
                }
                tx.execute(
                    "INSERT INTO reports(received_at, reporter, public, item_id, detail) \
                     VALUES (?1, ?2, 0, ?3, ?4)",
                    params![at, r.reporter, r.item_id, r.detail.to_string()],
                )
                .with_ctx(|| format!("recording the report of item `{}`", r.item_id))?;
                let id = tx.last_insert_rowid();
                crate::audit::record(
                    &tx,
                    &at,
                    &actor,
                    "report.receive",
                    &serde_json::json!({ "report": reference(id), "public": false, "item": r.item_id }),
                )?;
                if let Some(message) = (acknowledge.message)(n, &reference(id)) {
                    if room > 0 {
                        crate::outbox::insert_outbox(&tx, &message, &at)?;
                        room -= 1;
                    } else {
                        withheld.push(reference(id));
                    }
                }
                ids.push(id);
            }
            if !withheld.is_empty() {
                crate::audit::record(
                    &tx,
                    &at,
                    &actor,
                    ACKNOWLEDGEMENTS_WITHHELD,
                    &withheld_detail(acknowledge.per_hour, &withheld),
                )?;
            }
            tx.commit()
                .ctx("committing the report inbox's reports")?;
            Ok(ids)
        })
    }

    /// Replaces the reporter of every report received before `now - days` by
    /// [`removed_mark`]`(days)` (the report, its item and detail stay), and the recipient of
    /// every acknowledgement queued before then and sent (or given up on), with one audit entry
    /// `report.reporters_removed` by [`RETENTION_ACTOR`] naming how many and the first and last
    /// reference, in one transaction. Returns how many reports had their reporter removed.
    pub fn remove_old_reporters(&self, days: u32, now: DateTime<Utc>) -> Result<u64> {
        let cutoff = ts(&(now - chrono::Duration::days(i64::from(days))));
        let mark = removed_mark(days);
        let at = ts(&now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting the reporter retention sweep")?;
            tx.execute(
                "UPDATE outbox SET recipients = ?3 WHERE rule = ?1 AND created_at < ?2 \
                 AND state IN ('sent', 'dead') AND recipients NOT LIKE ?4",
                params![
                    ACKNOWLEDGEMENT_RULE,
                    cutoff,
                    removed_recipients(days),
                    REMOVED_RECIPIENTS_LIKE
                ],
            )
            .ctx("removing the recipients of old report acknowledgements")?;
            let span: (i64, Option<i64>, Option<i64>) = tx
                .query_row(
                    "SELECT count(*), min(id), max(id) FROM reports \
                     WHERE received_at < ?1 AND reporter NOT LIKE ?2",
                    params![cutoff, REMOVED_LIKE],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .ctx("finding the reports past reporter retention")?;
            let (n, Some(first), Some(last)) = span else {
                tx.commit().ctx("committing the reporter retention sweep")?;
                return Ok(0);
            };
            tx.execute(
                "UPDATE reports SET reporter = ?3 WHERE received_at < ?1 AND reporter NOT LIKE ?2",
                params![cutoff, REMOVED_LIKE, mark],
            )
            .ctx("removing the reporters past retention")?;
            crate::audit::record(
                &tx,
                &at,
                RETENTION_ACTOR,
                "report.reporters_removed",
                &retention_detail(n, first, last, days),
            )?;
            tx.commit().ctx("committing the reporter retention sweep")?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
    }

    /// The reports that became item `item_id`, oldest first.
    pub fn reports_of_item(&self, item_id: &str) -> Result<Vec<ReportRecord>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM reports WHERE item_id = ?1 ORDER BY id",
                    ReportRecord::COLUMNS
                ),
                [item_id],
                || format!("reading the reports of item `{item_id}`"),
            )
        })
    }
}

/// The recipients (JSON) of an acknowledgement whose recipient was removed after `days` days.
pub(crate) fn removed_recipients(days: u32) -> String {
    serde_json::json!([removed_mark(days)]).to_string()
}

/// The `LIKE` pattern of every [`removed_recipients`].
pub(crate) const REMOVED_RECIPIENTS_LIKE: &str = "[\"(removed after %";

/// The audit detail of a retention sweep.
pub(crate) fn retention_detail(n: i64, first: i64, last: i64, days: u32) -> serde_json::Value {
    serde_json::json!({
        "reports": n,
        "first": reference(first),
        "last": reference(last),
        "retention_days": days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_back() {
        assert_eq!(reference(42), "R-000042");
        assert_eq!(parse_reference("R-000042"), Some(42));
        assert_eq!(parse_reference(" r-7 "), Some(7));
        assert_eq!(parse_reference("1234567"), Some(1_234_567));
        assert_eq!(parse_reference("R-0"), None);
        assert_eq!(parse_reference("R-x"), None);
        assert_eq!(reference(1_234_567), "R-1234567");
    }

    #[test]
    fn a_report_is_numbered_audited_and_tied_to_its_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store
            .open_report("alice", false, &serde_json::json!({"note": "seen"}))
            .unwrap();
        let b = store
            .open_report("public report form", true, &serde_json::json!({}))
            .unwrap();
        assert!(b > a);
        let open = store.report(a).unwrap().unwrap();
        assert_eq!(open.item_id, None);
        assert_eq!(open.reporter, "alice");
        store
            .close_report(
                a,
                "item-1",
                &serde_json::json!({"note": "seen", "urls": []}),
            )
            .unwrap();
        let mine = store.reports_of_item("item-1").unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].reference, reference(a));
        assert_eq!(mine[0].detail["urls"], serde_json::json!([]));
        assert!(!mine[0].public);
        assert!(store.report(b).unwrap().unwrap().public);
        assert_eq!(store.report(999).unwrap(), None);
        let c = store
            .report_count(&["item-1".to_string(), "none".to_string()])
            .unwrap();
        assert_eq!(c.count, 1);
        assert!(c.first.is_some());
        assert_eq!(c.first, c.last);
        assert_eq!(store.report_count(&[]).unwrap(), ReportCount::default());
        let audit = store.audit_entries(10).unwrap();
        let received: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "report.receive")
            .map(|e| (e.actor.as_str(), e.detail["report"].as_str().unwrap_or("")))
            .collect();
        assert!(
            received.contains(&("alice", reference(a).as_str())),
            "{received:?}"
        );
        assert!(received.contains(&("public report form", reference(b).as_str())));
    }

    #[test]
    fn reporters_past_retention_are_replaced_and_the_sweep_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store
            .open_report("alice", false, &serde_json::json!({"note": "n"}))
            .unwrap();
        store
            .close_report(a, "item-a", &serde_json::json!({}))
            .unwrap();
        let now = Utc::now();
        assert_eq!(store.remove_old_reporters(90, now).unwrap(), 0);
        assert_eq!(store.report(a).unwrap().unwrap().reporter, "alice");
        let later = now + chrono::Duration::days(90) + chrono::Duration::minutes(1);
        assert_eq!(store.remove_old_reporters(90, later).unwrap(), 1);
        let gone = store.report(a).unwrap().unwrap();
        assert_eq!(gone.reporter, removed_mark(90));
        assert_eq!(gone.item_id.as_deref(), Some("item-a"));
        let audit = store.audit_entries(5).unwrap();
        assert_eq!(audit[0].action, "report.reporters_removed");
        assert_eq!(audit[0].detail["first"], reference(a));
    }
}
