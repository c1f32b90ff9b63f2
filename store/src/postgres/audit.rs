//! The audit log in PostgreSQL: append-only (triggers refuse UPDATE, DELETE and TRUNCATE);
//! [`record`] is its one writer, called inside the audited change's own transaction.

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::{col, pg_limit, PgStore};
use crate::error::{PgContext, Result};
use crate::{now_ms, AuditEntry};

/// Appends an entry at `at` on `c`, normally the transaction of the change being audited.
pub(crate) fn record(
    c: &mut impl GenericClient,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    c.execute(
        "INSERT INTO audit_log(at, actor, action, detail) VALUES ($1, $2, $3, $4)",
        &[&at, &actor, &action, detail],
    )
    .pg_with(|| format!("writing audit entry `{action}` by `{actor}`"))?;
    Ok(())
}

/// Reads an `id, at, actor, action, detail` row.
fn entry_row(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: col(r, 0)?,
        at: col(r, 1)?,
        actor: col(r, 2)?,
        action: col(r, 3)?,
        detail: col(r, 4)?,
    })
}

impl PgStore {
    /// Appends an entry to the audit log (see [`crate::Store::audit`]).
    pub fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()> {
        let at = now_ms();
        self.with_client("writing the audit log", |c| {
            record(&mut **c, at, actor, action, detail)
        })
    }

    /// The audit entries about any of `incidents` or `items`, oldest first: the newest
    /// `limit` of them, and whether older ones were left out (see
    /// [`crate::Store::custody_log`]).
    pub fn custody_log(
        &self,
        incidents: &[i64],
        items: &[String],
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, bool)> {
        let what = "reading the custody log";
        let incidents = serde_json::Value::from(incidents.to_vec());
        let items = serde_json::Value::from(items.to_vec());
        let mut entries = self.with_client(what, |c| {
            c.query(
                "WITH wanted_incidents AS (SELECT jsonb_array_elements($1::jsonb) AS v),
                      wanted_items AS (SELECT jsonb_array_elements($2::jsonb) AS v)
                 SELECT id, at, actor, action, detail FROM audit_log a
                 WHERE (detail->'incident_id') IN (SELECT v FROM wanted_incidents)
                    OR (detail->'item_id') IN (SELECT v FROM wanted_items)
                    OR (detail->'item') IN (SELECT v FROM wanted_items)
                    OR (jsonb_typeof(detail->'incidents') = 'array' AND EXISTS (
                        SELECT 1 FROM jsonb_array_elements(detail->'incidents') e
                        WHERE e IN (SELECT v FROM wanted_incidents)))
                    OR (jsonb_typeof(detail->'items') = 'array' AND EXISTS (
                        SELECT 1 FROM jsonb_array_elements(detail->'items') e
                        WHERE e IN (SELECT v FROM wanted_items)))
                 ORDER BY id DESC LIMIT $3",
                &[&incidents, &items, &pg_limit(limit.saturating_add(1))],
            )
            .pg(what)?
            .iter()
            .map(entry_row)
            .collect::<Result<Vec<_>>>()
        })?;
        let truncated = entries.len() > limit;
        entries.truncate(limit);
        entries.reverse();
        Ok((entries, truncated))
    }

    /// The most recent audit log entries, newest first, at most `limit`.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.with_client("reading the audit log", |c| {
            c.query(
                "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&pg_limit(limit)],
            )
            .pg("reading the audit log")?
            .iter()
            .map(entry_row)
            .collect()
        })
    }
}
