//! Incidents in PostgreSQL: a sighting joins the open incident with its group key or opens one,
//! items are attached, and every change goes to the incident's history and the audit log in the
//! change's transaction, as in the SQLite store (`crate::incidents`). The web's workflow
//! (status, assignee, notes) locks the incident row (`FOR UPDATE`) for its change, so two nodes
//! changing one incident at once record both changes, one after the other.

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::items::queue_reindex;
use super::{audit, col, pg_limit, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::{now_ms, IncidentChange, IncidentDetail, Sighting};

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

const DETAIL_COLUMNS: &str = "id, title, kind, severity, status, assignee, created_at, \
     updated_at, sightings, last_seen_at, notes";

fn detail_row(r: &Row) -> Result<IncidentDetail> {
    Ok(IncidentDetail {
        incident: incident_row(r)?,
        sightings: col(r, 8)?,
        last_seen_at: col(r, 9)?,
        notes: col(r, 10)?,
    })
}

/// Adds a row to an incident's history.
fn history(
    c: &mut impl GenericClient,
    incident_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<()> {
    c.execute(
        "INSERT INTO incident_history(incident_id, at, actor, field, old, new)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&incident_id, &at, &actor, &field, &old, &new],
    )
    .pg_with(|| format!("recording the history of incident {incident_id}"))?;
    Ok(())
}

/// Queues the latest version of every item of an incident to be indexed again (the index holds
/// each item's incident statuses), inside the caller's transaction.
fn queue_incident_reindex(c: &mut impl GenericClient, incident_id: i64) -> Result<u64> {
    c.execute(
        "UPDATE items SET index_gen = index_gen + 1,
             stage = CASE stage WHEN 'new' THEN 'new' ELSE 'classified' END
         WHERE seq IN (SELECT max(l.seq) FROM incident_items ii JOIN items l ON l.id = ii.item_id
                       WHERE ii.incident_id = $1 GROUP BY l.id)",
        &[&incident_id],
    )
    .pg_with(|| format!("queueing the items of incident {incident_id} to be indexed again"))
}

/// Records that `field` became `new` in an incident's history and the audit log (as `action`).
pub(crate) fn log_change(
    c: &mut impl GenericClient,
    incident_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    field: &str,
    new: &str,
    action: &str,
) -> Result<()> {
    history(c, incident_id, at, actor, field, None, Some(new))?;
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

/// The web's incident workflow (see the [`crate::Store`] methods of the same names).
impl PgStore {
    /// Opens a new incident (status `new`), in its history and the audit log.
    pub fn create_incident(
        &self,
        title: &str,
        kind: VerdictKind,
        severity: Severity,
        actor: &str,
    ) -> Result<Incident> {
        let now = now_ms();
        let id = self.with_client("creating an incident", |c| {
            let mut tx = c.transaction().pg("starting to create an incident")?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO incidents(title, kind, severity, status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                    &[
                        &title,
                        &kind.as_str(),
                        &i16::from(severity.rank()),
                        &IncidentStatus::New.as_str(),
                        &now,
                    ],
                )
                .pg_with(|| format!("opening incident `{title}`"))
                .and_then(|r| col(&r, 0))?;
            log_change(&mut tx, id, now, actor, "title", title, "incident.create")?;
            tx.commit().pg("committing a new incident")?;
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

    /// Attaches an item (by its id: all its versions) to an incident; `false` if it already
    /// was. The incident and the item must exist.
    pub fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool> {
        let now = now_ms();
        let added = self.with_client("adding an item to an incident", |c| {
            let mut tx = c
                .transaction()
                .pg("starting to add an item to an incident")?;
            let r = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = $1),
                            EXISTS(SELECT 1 FROM items WHERE id = $2)",
                    &[&incident_id, &item_id],
                )
                .pg_with(|| format!("checking incident {incident_id} and item `{item_id}`"))?;
            let (incident_exists, item_exists): (bool, bool) = (col(&r, 0)?, col(&r, 1)?);
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
            let added = attach(&mut tx, incident_id, item_id, now, actor)?;
            if added {
                tx.execute(
                    "UPDATE incidents SET updated_at = $2 WHERE id = $1",
                    &[&incident_id, &now],
                )
                .pg_with(|| format!("updating incident {incident_id}"))?;
            }
            tx.commit()
                .pg_with(|| format!("committing item `{item_id}` in incident {incident_id}"))?;
            Ok(added)
        })?;
        if added {
            self.index_queued();
        }
        Ok(added)
    }

    /// An incident with its sighting count, last sighting and notes.
    pub fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>> {
        self.with_client("reading an incident", |c| {
            c.query_opt(
                &format!("SELECT {DETAIL_COLUMNS} FROM incidents WHERE id = $1"),
                &[&id],
            )
            .pg_with(|| format!("reading incident {id}"))?
            .map(|r| detail_row(&r))
            .transpose()
        })
    }

    /// Incidents, most recently changed first; only those with `status` when given.
    pub fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>> {
        let status = status.map(|s| s.as_str());
        self.with_client("listing incidents", |c| {
            c.query(
                &format!(
                    "SELECT {DETAIL_COLUMNS} FROM incidents WHERE $1::text IS NULL OR status = $1
                     ORDER BY updated_at DESC, id DESC LIMIT $2"
                ),
                &[&status, &pg_limit(limit)],
            )
            .pg("listing incidents")?
            .iter()
            .map(detail_row)
            .collect()
        })
    }

    /// The newest incidents of at least `min` severity, newest first.
    pub fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>> {
        self.with_client("listing the newest incidents", |c| {
            c.query(
                &format!(
                    "SELECT {DETAIL_COLUMNS} FROM incidents WHERE severity >= $1
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ),
                &[&i16::from(min.rank()), &pg_limit(limit)],
            )
            .pg("listing the newest incidents")?
            .iter()
            .map(detail_row)
            .collect()
        })
    }

    /// The history of an incident, oldest first (empty for an unknown incident).
    pub fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>> {
        self.with_client("reading an incident's history", |c| {
            c.query(
                "SELECT at, actor, field, old, new FROM incident_history
                 WHERE incident_id = $1 ORDER BY id",
                &[&incident_id],
            )
            .pg_with(|| format!("reading the history of incident {incident_id}"))?
            .iter()
            .map(|r| {
                Ok(IncidentChange {
                    at: col(r, 0)?,
                    actor: col(r, 1)?,
                    field: col(r, 2)?,
                    old: col(r, 3)?,
                    new: col(r, 4)?,
                })
            })
            .collect()
        })
    }

    /// Moves an incident to `status`; setting the status it has changes nothing.
    pub fn set_incident_status(
        &self,
        id: i64,
        status: IncidentStatus,
        actor: &str,
    ) -> Result<Incident> {
        self.change_incident(id, actor, Field::Status, Some(status.as_str()))
    }

    /// Assigns an incident to someone (`None` or blank unassigns).
    pub fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident> {
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        self.change_incident(id, actor, Field::Assignee, assignee)
    }

    /// Adds a note to an incident; blank notes are refused.
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
        let now = now_ms();
        let name = field.name();
        let (incident, changed) = self.with_client("changing an incident", |c| {
            let mut tx = c.transaction().pg("starting to change an incident")?;
            let current = tx
                .query_opt(
                    &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE"),
                    &[&id],
                )
                .pg_with(|| format!("reading incident {id}"))?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no incident {id}")))
                .and_then(|r| incident_row(&r))?;
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
                    "UPDATE incidents SET status = $2, updated_at = $3 WHERE id = $1",
                    &[&id, &new, &now],
                ),
                Field::Assignee => tx.execute(
                    "UPDATE incidents SET assignee = $2, updated_at = $3 WHERE id = $1",
                    &[&id, &new, &now],
                ),
                Field::Note => tx.execute(
                    "UPDATE incidents SET notes = notes || $2, updated_at = $3 WHERE id = $1",
                    &[
                        &id,
                        &format!("{} {actor}: {}\n", crate::ts(&now), new.unwrap_or_default()),
                        &now,
                    ],
                ),
            }
            .pg_with(|| format!("changing the {name} of incident {id}"))?;
            if field == Field::Status {
                queue_incident_reindex(&mut tx, id)?;
            }
            history(&mut tx, id, now, actor, name, old.as_deref(), new)?;
            audit::record(
                &mut tx,
                now,
                actor,
                field.action(),
                &serde_json::json!({"incident_id": id, "old": old, "new": new}),
            )?;
            let changed = incident_by_id(&mut tx, id)?
                .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
            tx.commit()
                .pg_with(|| format!("committing the {name} of incident {id}"))?;
            tracing::info!(incident = id, field = name, actor, "incident changed");
            Ok((changed, true))
        })?;
        if changed && field == Field::Status {
            self.index_queued();
        }
        Ok(incident)
    }
}
