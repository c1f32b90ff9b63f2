//! Incidents in PostgreSQL: a sighting joins the open incident with its group key or opens one,
//! items are attached, and every change goes to the incident's history and the audit log in the
//! change's transaction, as in the SQLite store (`crate::incidents`).

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::items::queue_reindex;
use super::{audit, col, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::Sighting;

const INCIDENT_COLUMNS: &str =
    "id, title, kind, severity, status, assignee, created_at, updated_at";

fn incident_row(r: &Row) -> Result<Incident> {
    let id: i64 = col(r, 0)?;
    let what = |c: &str| format!("incidents.{c} of incident {id}");
    let kind: String = col(r, 2)?;
    let severity: i16 = col(r, 3)?;
    let status: String = col(r, 4)?;
    Ok(Incident {
        id,
        title: col(r, 1)?,
        kind: VerdictKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| StoreError::corrupt(what("kind"), format!("unknown kind `{kind}`")))?,
        severity: u8::try_from(severity)
            .ok()
            .and_then(Severity::from_rank)
            .ok_or_else(|| {
                StoreError::corrupt(what("severity"), format!("unknown severity {severity}"))
            })?,
        status: status
            .parse::<IncidentStatus>()
            .map_err(|e| StoreError::corrupt(what("status"), e))?,
        assignee: col(r, 5)?,
        created_at: col(r, 6)?,
        updated_at: col(r, 7)?,
    })
}

/// An incident by id, on a connection or inside a transaction.
pub(crate) fn incident_by_id(c: &mut impl GenericClient, id: i64) -> Result<Option<Incident>> {
    c.query_opt(
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"),
        &[&id],
    )
    .pg_with(|| format!("reading incident {id}"))?
    .map(|r| incident_row(&r))
    .transpose()
}

/// Records that `field` became `new` in an incident's history and the audit log (as `action`).
fn log_change(
    c: &mut impl GenericClient,
    incident_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    field: &str,
    new: &str,
    action: &str,
) -> Result<()> {
    c.execute(
        "INSERT INTO incident_history(incident_id, at, actor, field, old, new)
         VALUES ($1, $2, $3, $4, NULL, $5)",
        &[&incident_id, &at, &actor, &field, &new],
    )
    .pg_with(|| format!("recording the history of incident {incident_id}"))?;
    let detail = serde_json::json!({ "incident_id": incident_id, field: new });
    audit::record(c, at, actor, action, &detail)
}

/// Attaches an item to an incident, logs it and queues the item to be indexed again; `false`
/// if it already was attached.
fn attach(
    c: &mut impl GenericClient,
    incident_id: i64,
    item_id: &str,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<bool> {
    let added = c
        .execute(
            "INSERT INTO incident_items(incident_id, item_id, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (incident_id, item_id) DO NOTHING",
            &[&incident_id, &item_id, &at],
        )
        .pg_with(|| format!("adding item `{item_id}` to incident {incident_id}"))?
        > 0;
    if added {
        queue_reindex(c, item_id)?;
        log_change(
            c,
            incident_id,
            at,
            actor,
            "item",
            item_id,
            "incident.add_item",
        )?;
    }
    Ok(added)
}

/// Finds the open incident a sighting joins (same group key, seen within the window, not
/// resolved or a false alarm) or opens one, and attaches the item; returns (incident id, is new,
/// sightings). Inside the caller's transaction, which first takes an advisory lock on the group
/// key: two nodes deciding sightings with one key at once join one incident.
pub(crate) fn join_or_open(
    c: &mut impl GenericClient,
    s: &Sighting,
    item_id: &str,
    now: DateTime<Utc>,
) -> Result<(i64, bool, i64)> {
    let since = now - chrono::Duration::from_std(s.window).unwrap_or(chrono::Duration::MAX);
    let existing = match &s.group_key {
        None => None,
        Some(key) => {
            c.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("incident-group:{key}")],
            )
            .pg_with(|| format!("locking incident group `{key}`"))?;
            c.query_opt(
                "SELECT id, severity, sightings FROM incidents
                 WHERE group_key = $1 AND last_seen_at >= $2
                   AND status NOT IN ('resolved', 'false_alarm')
                 ORDER BY last_seen_at DESC, id DESC LIMIT 1",
                &[key, &since],
            )
            .pg_with(|| format!("looking for an open incident with key `{key}`"))?
            .map(|r| -> Result<(i64, i16, i64)> { Ok((col(&r, 0)?, col(&r, 1)?, col(&r, 2)?)) })
            .transpose()?
        }
    };
    let (id, is_new, sightings) = match existing {
        Some((id, severity, sightings)) => {
            let new_sev = severity.max(i16::from(s.severity.rank()));
            c.execute(
                "UPDATE incidents SET sightings = sightings + 1, last_seen_at = $2,
                     updated_at = $2, severity = $3 WHERE id = $1",
                &[&id, &now, &new_sev],
            )
            .pg_with(|| format!("recording a sighting in incident {id}"))?;
            if new_sev > severity {
                log_change(
                    c,
                    id,
                    now,
                    "alerting",
                    "severity",
                    &new_sev.to_string(),
                    "incident.update",
                )?;
            }
            (id, false, sightings + 1)
        }
        None => {
            let row = c
                .query_one(
                    "INSERT INTO incidents(title, kind, severity, status, created_at, updated_at,
                         group_key, sightings, last_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $5, $6, 1, $5) RETURNING id",
                    &[
                        &s.title,
                        &s.kind.as_str(),
                        &i16::from(s.severity.rank()),
                        &IncidentStatus::New.as_str(),
                        &now,
                        &s.group_key,
                    ],
                )
                .pg_with(|| format!("opening incident `{}`", s.title))?;
            let id: i64 = col(&row, 0)?;
            log_change(c, id, now, "alerting", "title", &s.title, "incident.create")?;
            (id, true, 1)
        }
    };
    attach(c, id, item_id, now, "alerting")?;
    Ok((id, is_new, sightings))
}

impl PgStore {
    /// An incident by id.
    pub fn get_incident(&self, id: i64) -> Result<Option<Incident>> {
        self.with_client("reading an incident", |c| incident_by_id(&mut **c, id))
    }

    /// The ids of an incident's items, in the order they were added.
    pub fn incident_item_ids(&self, incident_id: i64) -> Result<Vec<String>> {
        self.with_client("reading an incident's items", |c| {
            c.query(
                "SELECT item_id FROM incident_items WHERE incident_id = $1
                 ORDER BY added_at, item_id",
                &[&incident_id],
            )
            .pg_with(|| format!("reading the items of incident {incident_id}"))?
            .iter()
            .map(|r| col(r, 0))
            .collect()
        })
    }
}
