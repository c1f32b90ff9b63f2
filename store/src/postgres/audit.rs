//! The audit log in PostgreSQL: append-only (triggers refuse UPDATE, DELETE and TRUNCATE);
//! [`record`] is its one writer, called inside the audited change's own transaction.

use chrono::{DateTime, Utc};
use postgres::GenericClient;

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

impl PgStore {
    /// Appends an entry to the audit log (see [`crate::Store::audit`]).
    pub fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()> {
        let at = now_ms();
        self.with_client("writing the audit log", |c| {
            record(&mut **c, at, actor, action, detail)
        })
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
            .map(|r| {
                Ok(AuditEntry {
                    id: col(r, 0)?,
                    at: col(r, 1)?,
                    actor: col(r, 2)?,
                    action: col(r, 3)?,
                    detail: col(r, 4)?,
                })
            })
            .collect()
        })
    }
}
