//! Incidents (flagged items grouped into one threat the comms team works on) and reading the
//! audit log. The basics only: create, read, attach items; the workflow comes later.

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use crate::error::{JsonContext, Result, SqlContext, StoreError};
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

/// Adds a row to an incident's history and the audit log, inside the caller's transaction.
pub(crate) fn log_change(
    tx: &Transaction<'_>,
    incident_id: i64,
    at: &str,
    actor: &str,
    field: &str,
    new: &str,
    action: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO incident_history(incident_id, at, actor, field, old, new)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
    )
    .and_then(|mut st| st.execute(params![incident_id, at, actor, field, new]))
    .with_ctx(|| format!("recording the history of incident {incident_id}"))?;
    let detail = serde_json::json!({ "incident_id": incident_id, field: new }).to_string();
    tx.prepare_cached("INSERT INTO audit_log(at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![at, actor, action, detail]))
        .with_ctx(|| format!("writing audit entry `{action}` by `{actor}`"))?;
    Ok(())
}

type RawIncident = (
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
);

fn raw_incident(r: &Row<'_>) -> rusqlite::Result<RawIncident> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn into_incident(raw: RawIncident) -> Result<Incident> {
    let (id, title, kind, severity, status, assignee, created, updated) = raw;
    let col = |c: &str| format!("incidents.{c} of incident {id}");
    Ok(Incident {
        id,
        title,
        kind: VerdictKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| StoreError::corrupt(col("kind"), format!("unknown kind `{kind}`")))?,
        severity: u8::try_from(severity)
            .ok()
            .and_then(Severity::from_rank)
            .ok_or_else(|| {
                StoreError::corrupt(col("severity"), format!("unknown severity {severity}"))
            })?,
        status: status
            .parse::<IncidentStatus>()
            .map_err(|e| StoreError::corrupt(col("status"), e))?,
        assignee,
        created_at: parse_ts(&created, || col("created_at"))?,
        updated_at: parse_ts(&updated, || col("updated_at"))?,
    })
}

/// An incident by id, read on a connection or inside a transaction.
pub(crate) fn incident_by_id(conn: &rusqlite::Connection, id: i64) -> Result<Option<Incident>> {
    let raw = conn
        .prepare_cached(
            "SELECT id, title, kind, severity, status, assignee, created_at, updated_at
             FROM incidents WHERE id = ?1",
        )
        .and_then(|mut st| st.query_row([id], raw_incident).optional())
        .with_ctx(|| format!("reading incident {id}"))?;
    raw.map(into_incident).transpose()
}

impl Store {
    /// Opens a new incident (status `new`), recording who opened it in its history and the
    /// audit log.
    pub fn create_incident(
        &self,
        title: &str,
        kind: VerdictKind,
        severity: Severity,
        actor: &str,
    ) -> Result<Incident> {
        let now = now_ms();
        let at = ts(&now);
        let id = self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to create an incident")?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO incidents(title, kind, severity, status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![
                            title,
                            kind.as_str(),
                            severity.rank(),
                            IncidentStatus::New.as_str(),
                            at
                        ],
                        |r| r.get(0),
                    )
                })
                .with_ctx(|| format!("creating incident `{title}`"))?;
            log_change(&tx, id, &at, actor, "title", title, "incident.create")?;
            tx.commit().ctx("committing a new incident")?;
            Ok(id)
        })?;
        tracing::info!(incident = id, %kind, %severity, actor, "incident created");
        Ok(Incident {
            id,
            title: title.to_string(),
            kind,
            severity,
            status: IncidentStatus::New,
            assignee: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// An incident by id.
    pub fn get_incident(&self, id: i64) -> Result<Option<Incident>> {
        self.with_conn(|conn| incident_by_id(conn, id))
    }

    /// Attaches an item (all its versions: by item id) to an incident. Returns `false` if it was
    /// already attached. The incident and the item must exist.
    pub fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to add an item to an incident")?;
            let (incident_exists, item_exists): (bool, bool) = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = ?1),
                            EXISTS(SELECT 1 FROM items WHERE id = ?2)",
                    params![incident_id, item_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .with_ctx(|| format!("checking incident {incident_id} and item `{item_id}`"))?;
            if !incident_exists {
                return Err(StoreError::InvalidInput(format!(
                    "there is no incident {incident_id} to add item `{item_id}` to"
                )));
            }
            if !item_exists {
                return Err(StoreError::InvalidInput(format!(
                    "there is no stored item `{item_id}` to add to incident {incident_id}"
                )));
            }
            let added = tx
                .prepare_cached(
                    "INSERT INTO incident_items(incident_id, item_id, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(incident_id, item_id) DO NOTHING",
                )
                .and_then(|mut st| st.execute(params![incident_id, item_id, at]))
                .with_ctx(|| format!("adding item `{item_id}` to incident {incident_id}"))?
                > 0;
            if added {
                tx.execute(
                    "UPDATE incidents SET updated_at = ?2 WHERE id = ?1",
                    params![incident_id, at],
                )
                .with_ctx(|| format!("updating incident {incident_id}"))?;
                log_change(
                    &tx,
                    incident_id,
                    &at,
                    actor,
                    "item",
                    item_id,
                    "incident.add_item",
                )?;
            }
            tx.commit()
                .with_ctx(|| format!("committing item `{item_id}` in incident {incident_id}"))?;
            Ok(added)
        })
    }

    /// The ids of the items attached to an incident, ordered by when they were added (then by id).
    pub fn incident_item_ids(&self, incident_id: i64) -> Result<Vec<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT item_id FROM incident_items WHERE incident_id = ?1
                 ORDER BY added_at, item_id",
            )
            .and_then(|mut st| {
                st.query_map([incident_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .with_ctx(|| format!("reading the items of incident {incident_id}"))
        })
    }

    /// The most recent audit log entries, newest first, at most `limit`.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let raws: Vec<(i64, String, String, String, String)> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            )
            .and_then(|mut st| {
                st.query_map([sql_limit(limit)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("reading the audit log")
        })?;
        raws.into_iter()
            .map(|(id, at, actor, action, detail)| {
                Ok(AuditEntry {
                    id,
                    at: parse_ts(&at, || format!("audit_log.at of entry {id}"))?,
                    actor,
                    action,
                    detail: serde_json::from_str(&detail)
                        .json_ctx(|| format!("reading audit_log.detail of entry {id}"))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn incidents_are_created_read_and_linked_to_items() {
        let (_dir, store) = store();
        store
            .record_poll(
                "Echo",
                poll(&store, &[("a", "fake council site"), ("b", "x")], 0),
            )
            .unwrap();
        let inc = store
            .create_incident(
                "Lookalike council domain",
                VerdictKind::Impersonation,
                Severity::High,
                "alerting",
            )
            .unwrap();
        assert_eq!(store.get_incident(inc.id).unwrap(), Some(inc.clone()));
        assert_eq!(inc.status, IncidentStatus::New);
        assert!(store.get_incident(inc.id + 100).unwrap().is_none());

        assert!(store.get_item("a").unwrap().unwrap().incident_id.is_none());
        assert!(store.add_incident_item(inc.id, "a", "alerting").unwrap());
        assert!(!store.add_incident_item(inc.id, "a", "alerting").unwrap());
        assert_eq!(store.incident_item_ids(inc.id).unwrap(), ["a"]);

        // Every version of the item, and later versions, report the incident.
        store
            .record_poll(
                "Echo",
                poll(&store, &[("a", "fake council site, edited")], 300),
            )
            .unwrap();
        for v in store.item_versions("a").unwrap() {
            assert_eq!(v.incident_id, Some(inc.id));
        }
        assert!(store.get_item("b").unwrap().unwrap().incident_id.is_none());

        let err = store.add_incident_item(inc.id, "nope", "x").unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
        let err = store.add_incident_item(999, "a", "x").unwrap_err();
        assert!(err.to_string().contains("incident 999"), "{err}");

        assert_eq!(
            count(
                &store,
                &format!(
                    "SELECT count(*) FROM incident_history WHERE incident_id = {}",
                    inc.id
                )
            ),
            2
        );
        let actions: Vec<_> = store
            .audit_entries(10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["incident.add_item", "incident.create"]);
    }

    #[test]
    fn damaged_incident_rows_are_reported() {
        let (_dir, store) = store();
        let inc = store
            .create_incident("t", VerdictKind::Misinformation, Severity::Low, "x")
            .unwrap();
        exec(&store, "UPDATE incidents SET kind = 'rumour'");
        let err = store.get_incident(inc.id).unwrap_err();
        assert!(err.to_string().contains("incidents.kind"), "{err}");
    }
}
