//! What the web UI and JSON API keep: user accounts with roles, login sessions, API tokens,
//! and the incident workflow (status, assignee, notes, history) and the summaries the
//! dashboard shows. Secrets are never stored: sessions and API tokens are kept as SHA-256
//! hashes of the random values the browser or script holds, passwords as the caller's
//! (argon2id) PHC strings.

use std::fmt;
use std::str::FromStr;

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::error::{Result, SqlContext, StoreError};
use crate::incidents::incident_by_id;
use crate::{now_ms, parse_opt_ts, parse_ts, sql_limit, ts, Store};

/// Migration: users, sessions and API tokens.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    token_hash   TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT
) WITHOUT ROWID;
"#;

/// What a web user may do. Each role can do everything the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything but the audit log; changes nothing.
    Viewer,
    /// Works incidents: status, assignee, notes; exports evidence.
    Analyst,
    /// Everything, plus the audit log and user administration.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    /// The name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (expected viewer, analyst or admin)"))
    }
}

/// A web UI account (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
}

/// An account as the login check needs it.
#[derive(Debug, Clone)]
pub struct UserLogin {
    /// The account.
    pub user: User,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Failed logins since the last successful one.
    pub failed_logins: u32,
    /// Logins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// The account is disabled: logins are refused whatever the password.
    pub disabled: bool,
}

/// A live login session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is logged in.
    pub user: User,
    /// The anti-CSRF token every form of this session must carry.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

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

/// Counts for one day of the dashboard chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Group: a kind or severity name.
    pub group: String,
    /// Incidents opened that day in that group.
    pub count: u64,
}

pub(crate) fn user_from(id: i64, name: String, role: &str) -> Result<User> {
    Ok(User {
        id,
        role: role
            .parse()
            .map_err(|e: String| StoreError::corrupt(format!("users.role of user {id}"), e))?,
        name,
    })
}

impl Store {
    /// Creates a web account. The name must be new; `password_hash` is an argon2id PHC string
    /// made by the caller (the store never sees passwords).
    pub fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(StoreError::InvalidInput(format!(
                "user name {name:?} must be non-blank and printable"
            )));
        }
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to create a user")?;
            let exists: Option<Option<String>> = tx
                .query_row(
                    "SELECT deleted_at FROM users WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .with_ctx(|| format!("checking whether user `{name}` exists"))?;
            match exists {
                Some(Some(_)) => {
                    return Err(StoreError::InvalidInput(format!(
                        "there is already a user `{name}` (deleted: the audit log names it, so \
                         the name is not reused; choose another)"
                    )))
                }
                Some(None) => {
                    return Err(StoreError::InvalidInput(format!(
                        "there is already a user `{name}`"
                    )))
                }
                None => {}
            }
            let id: i64 = tx
                .query_row(
                    "INSERT INTO users(name, role, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    params![name, role.as_str(), password_hash, at],
                    |r| r.get(0),
                )
                .with_ctx(|| format!("creating user `{name}`"))?;
            audit_in(
                &tx,
                &at,
                "cli",
                "user.create",
                &serde_json::json!({"user": name, "role": role.as_str()}),
            )?;
            tx.commit()
                .with_ctx(|| format!("committing user `{name}`"))?;
            Ok(User {
                id,
                name: name.to_string(),
                role,
            })
        })
    }

    /// Replaces an account's password (an argon2id PHC string made by the caller), ends all its
    /// sessions and API tokens, and clears its failed-login count, lock and back-off; audited
    /// as `user.password` by `actor`. Returns what it ended.
    pub fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<crate::users::Ended> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to change a password")?;
            let id: Option<i64> = tx
                .query_row(
                    "UPDATE users SET password_hash = ?2, failed_logins = 0,
                     failure_window_start = NULL, lockouts = 0, locked_until = NULL
                     WHERE name = ?1 AND deleted_at IS NULL RETURNING id",
                    params![name, password_hash],
                    |r| r.get(0),
                )
                .optional()
                .with_ctx(|| format!("changing the password of `{name}`"))?;
            let Some(id) = id else {
                return Err(StoreError::InvalidInput(format!(
                    "there is no user `{name}`"
                )));
            };
            let ended = crate::users::end_all(&tx, id, name)?;
            audit_in(
                &tx,
                &at,
                actor,
                "user.password",
                &serde_json::json!({"user": name, "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .with_ctx(|| format!("committing the password of `{name}`"))?;
            Ok(ended)
        })
    }

    /// Every account, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let raws: Vec<(i64, String, String)> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, name, role FROM users WHERE deleted_at IS NULL ORDER BY name",
            )
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("reading the users")
        })?;
        raws.into_iter()
            .map(|(id, name, role)| user_from(id, name, &role))
            .collect()
    }

    /// The account called `name`, with what the login check needs.
    pub fn user_login(&self, name: &str) -> Result<Option<UserLogin>> {
        type Raw = (i64, String, String, String, u32, Option<String>, bool);
        let raw: Option<Raw> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, name, role, password_hash, failed_logins, locked_until,
                        disabled_at IS NOT NULL
                 FROM users WHERE name = ?1 AND deleted_at IS NULL",
            )
            .and_then(|mut st| {
                st.query_row([name], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .optional()
            })
            .with_ctx(|| format!("reading user `{name}`"))
        })?;
        raw.map(
            |(id, name, role, password_hash, failed_logins, locked, disabled)| {
                Ok(UserLogin {
                    user: user_from(id, name, &role)?,
                    password_hash,
                    failed_logins,
                    locked_until: parse_opt_ts(locked, || {
                        format!("users.locked_until of user {id}")
                    })?,
                    disabled,
                })
            },
        )
        .transpose()
    }

    /// Opens a session after a successful login: clears the failure count and lock, stores the
    /// session (by the hash of its token) and audits the login.
    pub fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        ttl: std::time::Duration,
        detail: &serde_json::Value,
    ) -> Result<Session> {
        let now = now_ms();
        let at = ts(&now);
        let expires_at = now
            .checked_add_signed(Duration::from_std(ttl).unwrap_or(Duration::days(1)))
            .unwrap_or(now);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to open a session")?;
            tx.execute(
                "UPDATE users SET failed_logins = 0, failure_window_start = NULL, lockouts = 0,
                 locked_until = NULL WHERE id = ?1",
                [user.id],
            )
            .with_ctx(|| format!("clearing failed logins of `{}`", user.name))?;
            tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [&at])
                .ctx("removing expired sessions")?;
            tx.execute(
                "INSERT INTO sessions(token_hash, user_id, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, user.id, csrf, at, ts(&expires_at)],
            )
            .with_ctx(|| format!("opening a session for `{}`", user.name))?;
            audit_in(&tx, &at, &user.name, "login", detail)?;
            tx.commit().ctx("committing a new session")?;
            Ok(Session {
                user: user.clone(),
                csrf: csrf.to_string(),
                expires_at,
            })
        })
    }

    /// The live (unexpired) session whose token hashes to `token_hash`.
    pub fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let at = ts(&now_ms());
        type Raw = (i64, String, String, String, String);
        let raw: Option<Raw> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT u.id, u.name, u.role, s.csrf, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2
                   AND u.disabled_at IS NULL AND u.deleted_at IS NULL",
            )
            .and_then(|mut st| {
                st.query_row(params![token_hash, at], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .ctx("reading a session")
        })?;
        raw.map(|(id, name, role, csrf, expires)| {
            Ok(Session {
                user: user_from(id, name, &role)?,
                csrf,
                expires_at: parse_ts(&expires, || "sessions.expires_at".into())?,
            })
        })
        .transpose()
    }

    /// Ends a session (logout) and audits it. Ending an unknown session does nothing.
    pub fn end_session(&self, token_hash: &str) -> Result<()> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to end a session")?;
            let name: Option<String> = tx
                .query_row(
                    "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1",
                    [token_hash],
                    |r| r.get(0),
                )
                .optional()
                .ctx("reading a session")?;
            if let Some(name) = name {
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                    .ctx("ending a session")?;
                audit_in(&tx, &at, &name, "logout", &serde_json::json!({}))?;
            }
            tx.commit().ctx("committing a logout")
        })
    }

    /// Stores a new API token (by its hash) for a user, valid until `expires_at` (`None`:
    /// until revoked); audited as `token.create` by `actor`. Returns the token's id.
    pub fn create_api_token(
        &self,
        user: &User,
        token_hash: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<i64> {
        let at = ts(&now_ms());
        let expires = expires_at.as_ref().map(ts);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to create an API token")?;
            let id: i64 = tx
                .query_row(
                    "INSERT INTO api_tokens(token_hash, user_id, label, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                    params![token_hash, user.id, label, at, expires],
                    |r| r.get(0),
                )
                .with_ctx(|| format!("creating an API token for `{}`", user.name))?;
            audit_in(
                &tx,
                &at,
                actor,
                "token.create",
                &serde_json::json!({"id": id, "user": user.name, "label": label,
                                    "expires_at": expires}),
            )?;
            tx.commit().ctx("committing an API token")?;
            Ok(id)
        })
    }

    /// An incident with its sighting count, last sighting and notes.
    pub fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>> {
        self.with_conn(|conn| detail_by_id(conn, id))
    }

    /// Incidents, most recently changed first; only those with `status` when given.
    pub fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>> {
        let ids: Vec<i64> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id FROM incidents WHERE ?1 IS NULL OR status = ?1
                 ORDER BY updated_at DESC, id DESC LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![status.map(|s| s.as_str()), sql_limit(limit)], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .ctx("listing incidents")
        })?;
        self.with_conn(|conn| {
            ids.iter()
                .filter_map(|id| detail_by_id(conn, *id).transpose())
                .collect()
        })
    }

    /// The newest incidents of at least `min` severity, newest first.
    pub fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>> {
        let ids: Vec<i64> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id FROM incidents WHERE severity >= ?1
                 ORDER BY created_at DESC, id DESC LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![min.rank(), sql_limit(limit)], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .ctx("listing the newest incidents")
        })?;
        self.with_conn(|conn| {
            ids.iter()
                .filter_map(|id| detail_by_id(conn, *id).transpose())
                .collect()
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
        self.change_incident(
            id,
            actor,
            "status",
            Some(status.as_str()),
            "incident.status",
        )
    }

    /// Assigns an incident to someone (`None` unassigns), in its history and the audit log.
    pub fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident> {
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        self.change_incident(id, actor, "assignee", assignee, "incident.assign")
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
        self.change_incident(id, actor, "note", Some(note), "incident.note")
    }

    fn change_incident(
        &self,
        id: i64,
        actor: &str,
        field: &'static str,
        new: Option<&str>,
        action: &str,
    ) -> Result<Incident> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to change an incident")?;
            let current = incident_by_id(&tx, id)?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no incident {id}")))?;
            let old = match field {
                "status" => Some(current.status.as_str().to_string()),
                "assignee" => current.assignee.clone(),
                _ => None,
            };
            if field != "note" && old.as_deref() == new {
                return Ok(current);
            }
            match field {
                "status" => tx.execute(
                    "UPDATE incidents SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, new, at],
                ),
                "assignee" => tx.execute(
                    "UPDATE incidents SET assignee = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, new, at],
                ),
                _ => tx.execute(
                    "UPDATE incidents SET notes = notes || ?2, updated_at = ?3 WHERE id = ?1",
                    params![
                        id,
                        format!("{at} {actor}: {}\n", new.unwrap_or_default()),
                        at
                    ],
                ),
            }
            .with_ctx(|| format!("changing the {field} of incident {id}"))?;
            tx.execute(
                "INSERT INTO incident_history(incident_id, at, actor, field, old, new)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, at, actor, field, old, new],
            )
            .with_ctx(|| format!("recording the history of incident {id}"))?;
            audit_in(
                &tx,
                &at,
                actor,
                action,
                &serde_json::json!({"incident_id": id, "old": old, "new": new}),
            )?;
            let changed = incident_by_id(&tx, id)?
                .ok_or_else(|| StoreError::corrupt(format!("incident {id}"), "vanished"))?;
            tx.commit()
                .with_ctx(|| format!("committing the {field} of incident {id}"))?;
            tracing::info!(incident = id, field, actor, "incident changed");
            Ok(changed)
        })
    }

    /// Incidents opened per day since `since`, grouped by kind (`by_severity` false) or by
    /// severity name.
    pub fn incidents_per_day(
        &self,
        since: DateTime<Utc>,
        by_severity: bool,
    ) -> Result<Vec<DayCount>> {
        let column = if by_severity { "severity" } else { "kind" };
        let raws: Vec<(String, rusqlite::types::Value, u64)> = self.with_conn(|conn| {
            conn.prepare(&format!(
                "SELECT substr(created_at, 1, 10) AS day, {column}, count(*) FROM incidents
                 WHERE created_at >= ?1 GROUP BY day, {column} ORDER BY day, {column}"
            ))
            .and_then(|mut st| {
                st.query_map([ts(&since)], |r| {
                    Ok((r.get(0)?, r.get(1)?, count_at(r, 2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("counting incidents per day")
        })?;
        raws.into_iter()
            .map(|(day, group, count)| {
                let group = match group {
                    rusqlite::types::Value::Integer(rank) => u8::try_from(rank)
                        .ok()
                        .and_then(Severity::from_rank)
                        .map(|s| s.to_string())
                        .ok_or_else(|| {
                            StoreError::corrupt("incidents.severity", format!("rank {rank}"))
                        })?,
                    rusqlite::types::Value::Text(kind) => VerdictKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind)
                        .map(|k| k.as_str().to_string())
                        .ok_or_else(|| {
                            StoreError::corrupt("incidents.kind", format!("unknown kind `{kind}`"))
                        })?,
                    other => {
                        return Err(StoreError::corrupt(
                            format!("incidents.{column}"),
                            format!("unexpected value {other:?}"),
                        ))
                    }
                };
                Ok(DayCount { day, group, count })
            })
            .collect()
    }

    /// How many incidents have each status (every status listed, zeros included).
    pub fn incident_status_counts(&self) -> Result<Vec<(IncidentStatus, u64)>> {
        let raws: Vec<(String, u64)> = self.with_conn(|conn| {
            conn.prepare_cached("SELECT status, count(*) FROM incidents GROUP BY status")
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, count_at(r, 1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .ctx("counting incidents by status")
        })?;
        Ok(IncidentStatus::ALL
            .into_iter()
            .map(|s| {
                let n = raws
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s, n)
            })
            .collect())
    }

    /// The false narratives (`evidence.narrative` of misinformation verdicts) most often seen on
    /// flagged items stored since `since`, with how many item versions carried them, most first.
    pub fn top_narratives(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<(String, u64)>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT json_extract(v.evidence, '$.narrative') AS narrative, count(*) AS n
                 FROM verdicts v JOIN items i ON i.seq = v.item_seq
                 WHERE v.kind = 'misinformation' AND i.flagged = 1 AND i.ingested_at >= ?1
                   AND json_type(v.evidence, '$.narrative') = 'text'
                 GROUP BY narrative ORDER BY n DESC, narrative LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![ts(&since), sql_limit(limit)], |r| {
                    Ok((r.get(0)?, count_at(r, 1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("counting the top narratives")
        })
    }

    /// Item versions stored per source since `since`, by source name.
    pub fn items_per_source_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT source, count(*) FROM items WHERE ingested_at >= ?1
                 GROUP BY source ORDER BY source",
            )
            .and_then(|mut st| {
                st.query_map([ts(&since)], |r| Ok((r.get(0)?, count_at(r, 1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("counting items per source")
        })
    }

    /// Ids of the items attached to incidents with `status` (for search filters: the store,
    /// not the index, knows which incident an item is in now), at most `limit`, sorted.
    pub fn item_ids_with_incident_status(
        &self,
        status: IncidentStatus,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT DISTINCT ii.item_id FROM incident_items ii
                 JOIN incidents i ON i.id = ii.incident_id
                 WHERE i.status = ?1 ORDER BY ii.item_id LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![status.as_str(), sql_limit(limit)], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .ctx("listing the items of incidents by status")
        })
    }

    /// Counters for `/metrics`: item versions stored, flagged verdicts per kind, and the sum
    /// and count of alert latencies (item stored → message accepted), in seconds.
    pub fn metric_counts(&self) -> Result<MetricCounts> {
        self.with_conn(|conn| {
            let items: u64 = conn
                .query_row("SELECT count(*) FROM items", [], |r| count_at(r, 0))
                .ctx("counting items")?;
            let verdicts = conn
                .prepare_cached(
                    "SELECT v.kind, count(*) FROM verdicts v JOIN items i ON i.seq = v.item_seq
                     WHERE i.flagged = 1 GROUP BY v.kind ORDER BY v.kind",
                )
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, count_at(r, 1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, u64)>>>()
                })
                .ctx("counting verdicts by kind")?;
            let (latency_sum, latency_count): (f64, u64) = conn
                .query_row(
                    "SELECT coalesce(sum((julianday(accepted_at) - julianday(created_at)) * 86400.0), 0),
                            count(*)
                     FROM outbox WHERE state = 'sent' AND accepted_at IS NOT NULL",
                    [],
                    |r| Ok((r.get(0)?, count_at(r, 1)?)),
                )
                .ctx("summing alert latencies")?;
            let incidents: u64 = conn
                .query_row("SELECT count(*) FROM incidents", [], |r| count_at(r, 0))
                .ctx("counting incidents")?;
            Ok(MetricCounts {
                items,
                verdicts,
                latency_sum,
                latency_count,
                incidents,
            })
        })
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricCounts {
    /// Item versions stored.
    pub items: u64,
    /// Verdicts on flagged items, per kind.
    pub verdicts: Vec<(String, u64)>,
    /// Sum of alert latencies (queued → accepted by the channel), seconds.
    pub latency_sum: f64,
    /// Alerts delivered.
    pub latency_count: u64,
    /// Incidents opened.
    pub incidents: u64,
}

/// A count column (never negative) as `u64`.
fn count_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0))
}

fn detail_by_id(conn: &rusqlite::Connection, id: i64) -> Result<Option<IncidentDetail>> {
    let Some(incident) = incident_by_id(conn, id)? else {
        return Ok(None);
    };
    let (sightings, last_seen, notes): (i64, Option<String>, String) = conn
        .prepare_cached("SELECT sightings, last_seen_at, notes FROM incidents WHERE id = ?1")
        .and_then(|mut st| st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .with_ctx(|| format!("reading incident {id}"))?;
    Ok(Some(IncidentDetail {
        incident,
        sightings,
        last_seen_at: parse_opt_ts(last_seen, || format!("incidents.last_seen_at of {id}"))?,
        notes,
    }))
}

pub(crate) fn audit_in(
    tx: &Transaction<'_>,
    at: &str,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    tx.prepare_cached("INSERT INTO audit_log(at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![at, actor, action, detail.to_string()]))
        .with_ctx(|| format!("writing audit entry `{action}` by `{actor}`"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn actions(store: &Store) -> Vec<String> {
        store
            .audit_entries(100)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    #[test]
    fn users_are_unique_and_roles_round_trip() {
        let (_dir, store) = store();
        let alice = store
            .create_user("alice", Role::Analyst, "$argon2id$x")
            .unwrap();
        assert_eq!(alice.role, Role::Analyst);
        let err = store.create_user("alice", Role::Admin, "h").unwrap_err();
        assert!(err.to_string().contains("already a user `alice`"), "{err}");
        assert!(store.create_user("  ", Role::Admin, "h").is_err());
        let login = store.user_login("alice").unwrap().unwrap();
        assert_eq!(login.user, alice);
        assert_eq!(login.password_hash, "$argon2id$x");
        assert!(store.user_login("bob").unwrap().is_none());
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
        exec(
            &store,
            "PRAGMA ignore_check_constraints = ON; UPDATE users SET role = 'root';
             PRAGMA ignore_check_constraints = OFF;",
        );
        let err = store.user_login("alice").unwrap_err();
        assert!(err.to_string().contains("users.role"), "{err}");
    }

    #[test]
    fn sessions_expire_and_end() {
        let (_dir, store) = store();
        let u = store.create_user("alice", Role::Admin, "h").unwrap();
        let ip = serde_json::json!({});
        store
            .create_session(&u, "live", "c", std::time::Duration::from_secs(3600), &ip)
            .unwrap();
        store
            .create_session(&u, "old", "c", std::time::Duration::ZERO, &ip)
            .unwrap();
        assert_eq!(store.session("live").unwrap().unwrap().user, u);
        assert!(store.session("old").unwrap().is_none(), "expired");
        assert!(store.session("nope").unwrap().is_none());
        store.end_session("live").unwrap();
        assert!(store.session("live").unwrap().is_none());
        store.end_session("live").unwrap();
        assert_eq!(actions(&store)[0], "logout");
    }

    #[test]
    fn api_tokens_find_their_user() {
        let (_dir, store) = store();
        let u = store.create_user("script", Role::Viewer, "h").unwrap();
        store
            .create_api_token(&u, "tokhash", "nightly", None, "cli")
            .unwrap();
        assert_eq!(
            store.check_api_token("tokhash").unwrap(),
            crate::TokenCheck::Valid(u)
        );
        assert_eq!(
            store.check_api_token("other").unwrap(),
            crate::TokenCheck::Unknown
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM api_tokens WHERE last_used_at IS NOT NULL"
            ),
            1
        );
    }

    #[test]
    fn incident_workflow_keeps_history_and_audit() {
        let (_dir, store) = store();
        let inc = store
            .create_incident(
                "Fake polling card",
                VerdictKind::Misinformation,
                Severity::High,
                "alerting",
            )
            .unwrap();
        let changed = store
            .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
            .unwrap();
        assert_eq!(changed.status, IncidentStatus::Escalated);
        // Same status again: no new history.
        store
            .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
            .unwrap();
        store
            .set_incident_assignee(inc.id, Some("bob"), "alice")
            .unwrap();
        store
            .add_incident_note(inc.id, "Called the RO", "alice")
            .unwrap();
        assert!(store.add_incident_note(inc.id, "  ", "alice").is_err());
        let err = store
            .set_incident_status(999, IncidentStatus::Resolved, "alice")
            .unwrap_err();
        assert!(err.to_string().contains("no incident 999"), "{err}");

        let h = store.incident_history(inc.id).unwrap();
        let fields: Vec<_> = h.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "status", "assignee", "note"]);
        assert_eq!(h[1].old.as_deref(), Some("new"));
        assert_eq!(h[1].new.as_deref(), Some("escalated"));
        assert_eq!(h[3].new.as_deref(), Some("Called the RO"));
        let d = store.incident_detail(inc.id).unwrap().unwrap();
        assert_eq!(d.incident.assignee.as_deref(), Some("bob"));
        assert!(d.notes.contains("alice: Called the RO"), "{}", d.notes);
        assert_eq!(
            &actions(&store)[..3],
            ["incident.note", "incident.assign", "incident.status"]
        );

        let counts = store.incident_status_counts().unwrap();
        assert_eq!(counts.len(), 6);
        assert!(counts.contains(&(IncidentStatus::Escalated, 1)));
        assert!(counts.contains(&(IncidentStatus::New, 0)));
        assert!(store
            .item_ids_with_incident_status(IncidentStatus::Escalated, 10)
            .unwrap()
            .is_empty());
        store
            .record_poll("Echo", poll(&store, &[("a", "x"), ("b", "y")], 0))
            .unwrap();
        store.add_incident_item(inc.id, "b", "alerting").unwrap();
        store.add_incident_item(inc.id, "a", "alerting").unwrap();
        assert_eq!(
            store
                .item_ids_with_incident_status(IncidentStatus::Escalated, 10)
                .unwrap(),
            ["a", "b"]
        );
        assert!(store
            .item_ids_with_incident_status(IncidentStatus::New, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .list_incidents(Some(IncidentStatus::Resolved), 10)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(store.list_incidents(None, 10).unwrap().len(), 1);
        let day = store
            .incidents_per_day(Utc::now() - Duration::days(1), false)
            .unwrap();
        assert_eq!(day.len(), 1);
        assert_eq!((day[0].group.as_str(), day[0].count), ("misinformation", 1));
        let sev = store
            .incidents_per_day(Utc::now() - Duration::days(1), true)
            .unwrap();
        assert_eq!(sev[0].group, "high");
        assert_eq!(
            store.newest_incidents(Severity::High, 5).unwrap()[0]
                .incident
                .id,
            inc.id
        );
        let low = store
            .create_incident(
                "Odd post",
                VerdictKind::Misinformation,
                Severity::Low,
                "alerting",
            )
            .unwrap();
        let newest: Vec<i64> = store
            .newest_incidents(Severity::Medium, 5)
            .unwrap()
            .iter()
            .map(|d| d.incident.id)
            .collect();
        assert_eq!(newest, [inc.id], "{low:?} is below medium");
    }

    #[test]
    fn metric_counts_count_items() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "x"), ("b", "y")], 0))
            .unwrap();
        let m = store.metric_counts().unwrap();
        assert_eq!(m.items, 2);
        assert_eq!(
            store.items_per_source_since(t(-10)).unwrap(),
            [("Echo".to_string(), 2)]
        );
        assert!(m.verdicts.is_empty());
        assert_eq!(m.latency_count, 0);
    }
}
