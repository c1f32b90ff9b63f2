//! Incidents: flagged items grouped into one threat the comms team works on. Opening and
//! grouping (a sighting joins the open incident with its key, or opens one), attaching items,
//! the workflow (status, assignee, notes), and each incident's history. Every change is written
//! to the incident's history and the audit log in the change's own transaction.

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row, TransactionBehavior};
use serde::Serialize;

use crate::audit;
use crate::error::{Result, SqlContext, StoreError};
use crate::items::{queue_incident_reindex, queue_reindex};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::sightings::Sighting;
use crate::{now_ms, parse_opt_ts, parse_ts, sql_limit, ts, Store};

/// An incident with the sighting counts and notes the alerting stage keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// Flagged items seen for it (repeats included).
    pub sightings: i64,
    /// When it was last seen.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Free-text notes, oldest first, one per line as `time actor: text`.
    pub notes: String,
}

/// One change in an incident's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentChange {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Who: a user name or a component such as `alerting`.
    pub actor: String,
    /// What changed: `created`, `status`, `assignee`, `note`, `item`, `title`…
    pub field: String,
    /// The value before, where there was one.
    pub old: Option<String>,
    /// The value after (the note's text for `note`).
    pub new: Option<String>,
}

/// The columns [`Incident`]'s [`FromRow`] reads, from `incidents`.
const INCIDENT_COLUMNS: &str =
    "id, title, kind, severity, status, assignee, created_at, updated_at";

/// The columns [`IncidentDetail`]'s [`FromRow`] reads, from `incidents`.
const DETAIL_COLUMNS: &str =
    "id, title, kind, severity, status, assignee, created_at, updated_at, \
     sightings, last_seen_at, notes";

impl FromRow for Incident {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let what = |c: &str| format!("incidents.{c} of incident {id}");
        let kind: String = col(r, 2)?;
        let severity: i64 = col(r, 3)?;
        let status: String = col(r, 4)?;
        let created: String = col(r, 6)?;
        let updated: String = col(r, 7)?;
        Ok(Incident {
            id,
            title: col(r, 1)?,
            kind: VerdictKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| {
                    StoreError::corrupt(what("kind"), format!("unknown kind `{kind}`"))
                })?,
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
            created_at: parse_ts(&created, || what("created_at"))?,
            updated_at: parse_ts(&updated, || what("updated_at"))?,
        })
    }
}

impl FromRow for IncidentDetail {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let incident = Incident::from_row(r)?;
        let id = incident.id;
        Ok(IncidentDetail {
            incident,
            sightings: col(r, 8)?,
            last_seen_at: parse_opt_ts(col(r, 9)?, || format!("incidents.last_seen_at of {id}"))?,
            notes: col(r, 10)?,
        })
    }
}

impl IncidentChange {
    const COLUMNS: &'static str = "id, at, actor, field, old, new";
}

impl FromRow for IncidentChange {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let at: String = col(r, 1)?;
        Ok(IncidentChange {
            at: parse_ts(&at, || format!("incident_history.at of row {id}"))?,
            actor: col(r, 2)?,
            field: col(r, 3)?,
            old: col(r, 4)?,
            new: col(r, 5)?,
        })
    }
}

/// An incident by id, read on a connection or inside a transaction.
pub(crate) fn incident_by_id(conn: &Connection, id: i64) -> Result<Option<Incident>> {
    query_opt(
        conn,
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"),
        [id],
        || format!("reading incident {id}"),
    )
}

/// Adds a row to an incident's history.
fn history(
    conn: &Connection,
    incident_id: i64,
    at: &str,
    actor: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO incident_history(incident_id, at, actor, field, old, new)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| st.execute(params![incident_id, at, actor, field, old, new]))
    .with_ctx(|| format!("recording the history of incident {incident_id}"))?;
    Ok(())
}

/// Records that `field` became `new` in an incident's history and the audit log (as `action`),
/// inside the caller's transaction.
pub(crate) fn log_change(
    conn: &Connection,
    incident_id: i64,
    at: &str,
    actor: &str,
    field: &str,
    new: &str,
    action: &str,
) -> Result<()> {
    history(conn, incident_id, at, actor, field, None, Some(new))?;
    let detail = serde_json::json!({ "incident_id": incident_id, field: new });
    audit::record(conn, at, actor, action, &detail)
}

/// Inserts a new incident (status `new`) and logs its creation; returns its id. An incident
/// opened by a sighting (`seen`) counts it and records when it was last seen.
#[allow(clippy::too_many_arguments)]
fn open(
    conn: &Connection,
    title: &str,
    kind: VerdictKind,
    severity: Severity,
    group_key: Option<&str>,
    seen: bool,
    at: &str,
    actor: &str,
) -> Result<i64> {
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO incidents(title, kind, severity, status, created_at, updated_at,
                 group_key, sightings, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .and_then(|mut st| {
            st.query_row(
                params![
                    title,
                    kind.as_str(),
                    severity.rank(),
                    IncidentStatus::New.as_str(),
                    at,
                    group_key,
                    i64::from(seen),
                    seen.then_some(at)
                ],
                |r| r.get(0),
            )
        })
        .with_ctx(|| format!("opening incident `{title}`"))?;
    log_change(conn, id, at, actor, "title", title, "incident.create")?;
    Ok(id)
}

/// Attaches an item (by its stable id) to an incident, logs it and queues the item to be indexed
/// again (the index holds its incidents); `false` if it already was attached. The caller calls
/// [`Store::index_queued`] after committing.
fn attach(
    conn: &Connection,
    incident_id: i64,
    item_id: &str,
    at: &str,
    actor: &str,
) -> Result<bool> {
    let added = conn
        .prepare_cached(
            "INSERT INTO incident_items(incident_id, item_id, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(incident_id, item_id) DO NOTHING",
        )
        .and_then(|mut st| st.execute(params![incident_id, item_id, at]))
        .with_ctx(|| format!("adding item `{item_id}` to incident {incident_id}"))?
        > 0;
    if added {
        // The item goes back to the index queue, so the index's incidents are right for it
        // (its latest version is what the index holds).
        queue_reindex(conn, item_id)?;
        log_change(
            conn,
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
/// resolved or a false alarm), or opens one; attaches the item. Returns (incident id, is new,
/// sightings), inside the caller's transaction.
pub(crate) fn join_or_open(
    conn: &Connection,
    s: &Sighting,
    item_id: &str,
    now: &DateTime<Utc>,
) -> Result<(i64, bool, i64)> {
    let at = ts(now);
    let since = ts(&(*now - chrono::Duration::from_std(s.window).unwrap_or(chrono::Duration::MAX)));
    let existing: Option<(i64, i64, i64)> = match &s.group_key {
        None => None,
        Some(key) => query_opt(
            conn,
            "SELECT id, severity, sightings FROM incidents
             WHERE group_key = ?1 AND last_seen_at >= ?2
               AND status NOT IN ('resolved', 'false_alarm')
             ORDER BY last_seen_at DESC, id DESC LIMIT 1",
            params![key, since],
            || format!("looking for an open incident with key `{key}`"),
        )?,
    };
    let (id, is_new, sightings) = match existing {
        Some((id, severity, sightings)) => {
            let new_sev = severity.max(i64::from(s.severity.rank()));
            conn.execute(
                "UPDATE incidents SET sightings = sightings + 1, last_seen_at = ?2,
                     updated_at = ?2, severity = ?3 WHERE id = ?1",
                params![id, at, new_sev],
            )
            .with_ctx(|| format!("recording a sighting in incident {id}"))?;
            if new_sev > severity {
                log_change(
                    conn,
                    id,
                    &at,
                    "alerting",
                    "severity",
                    &new_sev.to_string(),
                    "incident.update",
                )?;
            }
            (id, false, sightings + 1)
        }
        None => {
            let key = s.group_key.as_deref();
            let id = open(
                conn, &s.title, s.kind, s.severity, key, true, &at, "alerting",
            )?;
            (id, true, 1)
        }
    };
    attach(conn, id, item_id, &at, "alerting")?;
    Ok((id, is_new, sightings))
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
            let id = open(&tx, title, kind, severity, None, false, &at, actor)?;
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
            let (incident_exists, item_exists): (bool, bool) = query_opt(
                &tx,
                "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = ?1),
                        EXISTS(SELECT 1 FROM items WHERE id = ?2)",
                params![incident_id, item_id],
                || format!("checking incident {incident_id} and item `{item_id}`"),
            )?
            .unwrap_or((false, false));
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
            let added = attach(&tx, incident_id, item_id, &at, actor)?;
            if added {
                tx.execute(
                    "UPDATE incidents SET updated_at = ?2 WHERE id = ?1",
                    params![incident_id, at],
                )
                .with_ctx(|| format!("updating incident {incident_id}"))?;
            }
            tx.commit()
                .with_ctx(|| format!("committing item `{item_id}` in incident {incident_id}"))?;
            Ok(added)
        })
        .inspect(|added| {
            if *added {
                self.index_queued();
            }
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

    /// An incident with its sighting count, last sighting and notes.
    pub fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>> {
        self.with_conn(|conn| {
            query_opt(
                conn,
                &format!("SELECT {DETAIL_COLUMNS} FROM incidents WHERE id = ?1"),
                [id],
                || format!("reading incident {id}"),
            )
        })
    }

    /// Incidents, most recently changed first; only those with `status` when given.
    pub fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {DETAIL_COLUMNS} FROM incidents WHERE ?1 IS NULL OR status = ?1
                     ORDER BY updated_at DESC, id DESC LIMIT ?2"
                ),
                params![status.map(|s| s.as_str()), sql_limit(limit)],
                || "listing incidents".into(),
            )
        })
    }

    /// The newest incidents of at least `min` severity, newest first.
    pub fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {DETAIL_COLUMNS} FROM incidents WHERE severity >= ?1
                     ORDER BY created_at DESC, id DESC LIMIT ?2"
                ),
                params![min.rank(), sql_limit(limit)],
                || "listing the newest incidents".into(),
            )
        })
    }

    /// The history of an incident, oldest first (empty for an unknown incident).
    pub fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM incident_history WHERE incident_id = ?1 ORDER BY id",
                    IncidentChange::COLUMNS
                ),
                [incident_id],
                || format!("reading the history of incident {incident_id}"),
            )
        })
    }

    /// Moves an incident to `status`, recording the old and new value in its history and the
    /// audit log. Setting the status it already has changes nothing and returns it unchanged.
    pub fn set_incident_status(
        &self,
        id: i64,
        status: IncidentStatus,
        actor: &str,
    ) -> Result<Incident> {
        self.change_incident(id, actor, Field::Status, Some(status.as_str()))
    }

    /// Assigns an incident to someone (`None` unassigns), in its history and the audit log.
    pub fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident> {
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        self.change_incident(id, actor, Field::Assignee, assignee)
    }

    /// Adds a note to an incident: appended to its notes and recorded in its history and the
    /// audit log. Blank notes are refused.
    pub fn add_incident_note(&self, id: i64, note: &str, actor: &str) -> Result<Incident> {
        let note = note.trim();
        if note.is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "the note for incident {id} is blank"
            )));
        }
        self.change_incident(id, actor, Field::Note, Some(note))
    }

    fn change_incident(
        &self,
        id: i64,
        actor: &str,
        field: Field,
        new: Option<&str>,
    ) -> Result<Incident> {
        let at = ts(&now_ms());
        let name = field.name();
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to change an incident")?;
            let current = incident_by_id(&tx, id)?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no incident {id}")))?;
            let old = match field {
                Field::Status => Some(current.status.as_str().to_string()),
                Field::Assignee => current.assignee.clone(),
                Field::Note => None,
            };
            if field != Field::Note && old.as_deref() == new {
                return Ok((current, false));
            }
            match field {
                Field::Status => tx.execute(
                    "UPDATE incidents SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, new, at],
                ),
                Field::Assignee => tx.execute(
                    "UPDATE incidents SET assignee = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, new, at],
                ),
                Field::Note => tx.execute(
                    "UPDATE incidents SET notes = notes || ?2, updated_at = ?3 WHERE id = ?1",
                    params![
                        id,
                        format!("{at} {actor}: {}\n", new.unwrap_or_default()),
                        at
                    ],
                ),
            }
            .with_ctx(|| format!("changing the {name} of incident {id}"))?;
            if field == Field::Status {
                // The index holds each item's incident statuses.
                queue_incident_reindex(&tx, id)?;
            }
            history(&tx, id, &at, actor, name, old.as_deref(), new)?;
            audit::record(
                &tx,
                &at,
                actor,
                field.action(),
                &serde_json::json!({"incident_id": id, "old": old, "new": new}),
            )?;
            let changed = incident_by_id(&tx, id)?
                .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
            tx.commit()
                .with_ctx(|| format!("committing the {name} of incident {id}"))?;
            tracing::info!(incident = id, field = name, actor, "incident changed");
            Ok((changed, true))
        })
        .map(|(incident, changed)| {
            if changed && field == Field::Status {
                self.index_queued();
            }
            incident
        })
    }
}

/// What the workflow changes about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Status,
    Assignee,
    Note,
}

impl Field {
    /// The name in the incident's history.
    fn name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Assignee => "assignee",
            Field::Note => "note",
        }
    }

    /// The audit action.
    fn action(self) -> &'static str {
        match self {
            Field::Status => "incident.status",
            Field::Assignee => "incident.assign",
            Field::Note => "incident.note",
        }
    }
}

#[cfg(test)]
mod tests;
