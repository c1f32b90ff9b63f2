//! The append-only audit log: who did what, when. [`record`] is the only writer: every change
//! that is audited calls it inside the change's own transaction, so an audited change and its
//! entry commit together or not at all. The schema refuses updates and deletes.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};

use crate::error::{JsonContext, Result, SqlContext};
use crate::row::{col, query_all, FromRow};
use crate::{now_ms, parse_ts, sql_limit, ts, Store};

/// One audit log entry: who did what, when.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    /// Entry number, increasing.
    pub id: i64,
    /// When it happened (UTC).
    pub at: DateTime<Utc>,
    /// Who did it: a user name, or a component such as `ingest`.
    pub actor: String,
    /// What was done, e.g. `incident.create`.
    pub action: String,
    /// Details.
    pub detail: serde_json::Value,
}

impl AuditEntry {
    const COLUMNS: &'static str = "id, at, actor, action, detail";
}

impl FromRow for AuditEntry {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let at: String = col(r, 1)?;
        let detail: String = col(r, 4)?;
        Ok(AuditEntry {
            id,
            at: parse_ts(&at, || format!("audit_log.at of entry {id}"))?,
            actor: col(r, 2)?,
            action: col(r, 3)?,
            detail: serde_json::from_str(&detail)
                .json_ctx(|| format!("reading audit_log.detail of entry {id}"))?,
        })
    }
}

/// Appends an entry at `at` (a stored timestamp, see [`ts`]) on `conn`, which is normally the
/// transaction of the change being audited.
pub(crate) fn record(
    conn: &Connection,
    at: &str,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO audit_log(at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![at, actor, action, detail.to_string()]))
        .with_ctx(|| format!("writing audit entry `{action}` by `{actor}`"))?;
    Ok(())
}

impl Store {
    /// Appends an entry to the audit log: who (`actor`) did what (`action`), with details.
    ///
    /// The audit log is append-only: the schema refuses updates and deletes.
    pub fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()> {
        let at = ts(&now_ms());
        self.with_conn(|conn| record(conn, &at, actor, action, detail))
    }

    /// The custody log of some incidents and items: every audit entry about one of them,
    /// oldest first — each entry whose detail names one of the incidents (`incident_id`, or in
    /// `incidents`) or one of the items (`item_id`, `item`, or in `items`): views, changes,
    /// exports, verifications. At most the newest `limit` entries; the flag is true when older
    /// ones were left out. One pass over the audit log.
    pub fn custody_log(
        &self,
        incidents: &[i64],
        items: &[String],
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, bool)> {
        let incidents = serde_json::Value::from(incidents.to_vec()).to_string();
        let items = serde_json::Value::from(items.to_vec()).to_string();
        let mut entries: Vec<AuditEntry> = self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM audit_log
                     WHERE json_valid(detail) AND (
                        json_extract(detail, '$.incident_id') IN (SELECT value FROM json_each(?1))
                        OR json_extract(detail, '$.item_id') IN (SELECT value FROM json_each(?2))
                        OR json_extract(detail, '$.item') IN (SELECT value FROM json_each(?2))
                        OR (json_type(detail, '$.incidents') = 'array' AND EXISTS (
                            SELECT 1 FROM json_each(detail, '$.incidents')
                            WHERE value IN (SELECT value FROM json_each(?1))))
                        OR (json_type(detail, '$.items') = 'array' AND EXISTS (
                            SELECT 1 FROM json_each(detail, '$.items')
                            WHERE value IN (SELECT value FROM json_each(?2)))))
                     ORDER BY id DESC LIMIT ?3",
                    AuditEntry::COLUMNS
                ),
                params![incidents, items, sql_limit(limit.saturating_add(1))],
                || "reading the custody log".into(),
            )
        })?;
        let truncated = entries.len() > limit;
        entries.truncate(limit);
        entries.reverse();
        Ok((entries, truncated))
    }

    /// The most recent audit log entries, newest first, at most `limit`.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM audit_log ORDER BY id DESC LIMIT ?1",
                    AuditEntry::COLUMNS
                ),
                [sql_limit(limit)],
                || "reading the audit log".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn audit_entries_come_back_newest_first() {
        let (_dir, store) = store();
        store
            .audit(
                "alice",
                "user.login",
                &serde_json::json!({"ip": "127.0.0.1"}),
            )
            .unwrap();
        store
            .audit("bob", "export", &serde_json::json!({"incidents": [1, 2]}))
            .unwrap();
        let entries = store.audit_entries(10).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].actor, "bob");
        assert_eq!(entries[0].action, "export");
        assert_eq!(entries[0].detail, serde_json::json!({"incidents": [1, 2]}));
        assert_eq!(entries[1].actor, "alice");
        assert!(entries[0].id > entries[1].id);
        assert!(entries[0].at >= entries[1].at);
        assert_eq!(store.audit_entries(1).unwrap().len(), 1);
    }

    #[test]
    fn the_custody_log_holds_what_was_done_to_the_incident_and_its_items() {
        let (_dir, store) = store();
        for (actor, action, detail) in [
            (
                "alice",
                "incident.view",
                serde_json::json!({"incident_id": 7}),
            ),
            (
                "alice",
                "incident.view",
                serde_json::json!({"incident_id": 8}),
            ),
            (
                "bob",
                "incident.status",
                serde_json::json!({"incident_id": 7, "old": "new", "new": "escalated"}),
            ),
            ("bob", "item.view", serde_json::json!({"item_id": "rss:a"})),
            (
                "bob",
                "item.view",
                serde_json::json!({"item_id": "rss:zzz"}),
            ),
            (
                "carol",
                "incident.add_item",
                serde_json::json!({"incident_id": 9, "item": "rss:a"}),
            ),
            (
                "ro",
                "evidence.export",
                serde_json::json!({"incidents": [7, 8], "items": []}),
            ),
            (
                "ro",
                "evidence.export",
                serde_json::json!({"incidents": [], "items": ["rss:a"]}),
            ),
            (
                "ro",
                "evidence.export",
                serde_json::json!({"incidents": [8], "items": ["rss:b"]}),
            ),
            (
                "ro",
                "evidence.verify",
                serde_json::json!({"incidents": "7", "items": 7}),
            ),
            ("dave", "user.login", serde_json::json!({"ip": "127.0.0.1"})),
        ] {
            store.audit(actor, action, &detail).unwrap();
        }
        let (log, truncated) = store
            .custody_log(&[7], &["rss:a".to_string()], 100)
            .unwrap();
        assert!(!truncated);
        let got: Vec<(&str, &str)> = log
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("alice", "incident.view"),
                ("bob", "incident.status"),
                ("bob", "item.view"),
                ("carol", "incident.add_item"),
                ("ro", "evidence.export"),
                ("ro", "evidence.export"),
            ],
            "oldest first; other incidents, items, and entries about nothing exported are left out"
        );
        assert!(log.windows(2).all(|w| w[0].id < w[1].id));

        // A limit keeps the newest entries and says older ones were left out.
        let (log, truncated) = store.custody_log(&[7], &["rss:a".to_string()], 2).unwrap();
        assert!(truncated);
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].action, "evidence.export");
        assert_eq!(
            log[1].detail,
            serde_json::json!({"incidents": [], "items": ["rss:a"]})
        );
        assert!(store.custody_log(&[], &[], 10).unwrap().0.is_empty());
    }

    #[test]
    fn every_audited_change_goes_through_the_one_writer() {
        // The module sources: only this file may write the audit log.
        let sources = [
            include_str!("captures.rs"),
            include_str!("digests.rs"),
            include_str!("fakes.rs"),
            include_str!("incidents.rs"),
            include_str!("items.rs"),
            include_str!("outbox.rs"),
            include_str!("quarantine.rs"),
            include_str!("screenshots.rs"),
            include_str!("sessions.rs"),
            include_str!("sightings.rs"),
            include_str!("sources.rs"),
            include_str!("stats.rs"),
            include_str!("tokens.rs"),
            include_str!("users.rs"),
            include_str!("users/lockout.rs"),
        ];
        let insert = ["INSERT INTO ", "audit_log"].concat();
        for s in sources {
            assert!(!s.contains(&insert), "a second audit writer");
        }
    }
}
