//! Web UI accounts: creating them with a role, passwords (kept as the caller's argon2id PHC
//! strings: the store never sees a password), disabling, enabling and deleting, and ending every
//! session and API token of an account whose password changes or that is disabled or deleted.
//!
//! A deleted account is kept as a tombstone: its row (name, role, when created and deleted)
//! stays, with no password, sessions or tokens, and the name cannot be reused. Audit entries
//! name accounts by name, so every entry that names a deleted account keeps meaning that one
//! person and no later account of the same name.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;

use crate::audit;
use crate::error::{Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{now_ms, parse_opt_ts, parse_ts, ts, Store};

mod lockout;

pub use lockout::LoginPolicy;

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
    type Err = UnknownRole;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected viewer, analyst or admin)")]
pub struct UnknownRole(pub String);

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

/// A web account as the administration page and `user list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Logins are refused until then (a lockout after failed logins).
    pub locked_until: Option<DateTime<Utc>>,
    /// Its API tokens that have not expired.
    pub live_tokens: u64,
}

/// What an account change ended: sessions and API tokens that no longer work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ended {
    /// Login sessions ended.
    pub sessions: u64,
    /// API tokens revoked.
    pub tokens: u64,
}

impl User {
    /// The columns [`User`]'s [`FromRow`] reads, first in a query (from `users u`).
    pub(crate) const COLUMNS: &'static str = "u.id, u.name, u.role";
}

impl FromRow for User {
    /// Reads [`User::COLUMNS`] (columns 0 to 2).
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let role: String = col(r, 2)?;
        Ok(User {
            id,
            name: col(r, 1)?,
            role: role.parse().map_err(|e: UnknownRole| {
                StoreError::corrupt(format!("users.role of user {id}"), e.to_string())
            })?,
        })
    }
}

impl FromRow for UserLogin {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let user = User::from_row(r)?;
        let id = user.id;
        Ok(UserLogin {
            user,
            password_hash: col(r, 3)?,
            failed_logins: col(r, 4)?,
            locked_until: parse_opt_ts(col(r, 5)?, || format!("users.locked_until of user {id}"))?,
            disabled: col(r, 6)?,
        })
    }
}

impl FromRow for Account {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let user = User::from_row(r)?;
        let id = user.id;
        let what = |c: &str| format!("users.{c} of user {id}");
        let created: String = col(r, 3)?;
        let tokens: i64 = col(r, 6)?;
        Ok(Account {
            user,
            created_at: parse_ts(&created, || what("created_at"))?,
            disabled_at: parse_opt_ts(col(r, 4)?, || what("disabled_at"))?,
            locked_until: parse_opt_ts(col(r, 5)?, || what("locked_until"))?,
            live_tokens: u64::try_from(tokens).unwrap_or(0),
        })
    }
}

/// The live (not deleted) account called `name`, as (id, role, disabled).
fn live_user(conn: &Connection, name: &str) -> Result<(i64, Role, bool)> {
    let found: Option<(User, bool)> = query_opt(
        conn,
        &format!(
            "SELECT {}, u.disabled_at IS NOT NULL FROM users u
             WHERE u.name = ?1 AND u.deleted_at IS NULL",
            User::COLUMNS
        ),
        [name],
        || format!("reading user `{name}`"),
    )?;
    let (user, disabled) =
        found.ok_or_else(|| StoreError::InvalidInput(format!("there is no user `{name}`")))?;
    Ok((user.id, user.role, disabled))
}

impl FromRow for (User, bool) {
    /// [`User::COLUMNS`], then a flag.
    fn from_row(r: &Row<'_>) -> Result<Self> {
        Ok((User::from_row(r)?, col(r, 3)?))
    }
}

/// Ends every session and API token of user `id`.
pub(crate) fn end_all(conn: &Connection, id: i64, name: &str) -> Result<Ended> {
    let sessions = conn
        .execute("DELETE FROM sessions WHERE user_id = ?1", [id])
        .with_ctx(|| format!("ending the sessions of `{name}`"))?;
    let tokens = conn
        .execute("DELETE FROM api_tokens WHERE user_id = ?1", [id])
        .with_ctx(|| format!("revoking the API tokens of `{name}`"))?;
    Ok(Ended {
        sessions: sessions as u64,
        tokens: tokens as u64,
    })
}

/// Refuses to disable or delete the last enabled admin (nobody could administer accounts from
/// the web UI any more).
fn keep_an_admin(conn: &Connection, id: i64, name: &str, role: Role, what: &str) -> Result<()> {
    if role != Role::Admin {
        return Ok(());
    }
    let others: i64 = conn
        .query_row(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL
             AND deleted_at IS NULL AND id <> ?1",
            [id],
            |r| r.get(0),
        )
        .ctx("counting the enabled admins")?;
    if others == 0 {
        return Err(StoreError::InvalidInput(format!(
            "`{name}` is the last enabled admin: add or enable another admin before you {what} it"
        )));
    }
    Ok(())
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
            audit::record(
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
    pub fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended> {
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
            let ended = end_all(&tx, id, name)?;
            audit::record(
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
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM users u WHERE u.deleted_at IS NULL ORDER BY u.name",
                    User::COLUMNS
                ),
                [],
                || "reading the users".into(),
            )
        })
    }

    /// The account called `name`, with what the login check needs.
    pub fn user_login(&self, name: &str) -> Result<Option<UserLogin>> {
        self.with_conn(|conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {}, u.password_hash, u.failed_logins, u.locked_until,
                            u.disabled_at IS NOT NULL
                     FROM users u WHERE u.name = ?1 AND u.deleted_at IS NULL",
                    User::COLUMNS
                ),
                [name],
                || format!("reading user `{name}`"),
            )
        })
    }

    /// Every account that is not deleted, by name, with its state.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let at = ts(&now_ms());
        let mut accounts: Vec<Account> = self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {}, u.created_at, u.disabled_at, u.locked_until,
                            (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id
                             AND (t.expires_at IS NULL OR t.expires_at > ?1))
                     FROM users u WHERE u.deleted_at IS NULL ORDER BY u.name",
                    User::COLUMNS
                ),
                [&at],
                || "reading the accounts".into(),
            )
        })?;
        let now = now_ms();
        for a in &mut accounts {
            a.locked_until = a.locked_until.filter(|u| *u > now);
        }
        Ok(accounts)
    }

    /// Disables an account: its logins are refused and its sessions and API tokens end (they do
    /// not come back with `enable`). Disabling a disabled account changes nothing. Audited as
    /// `user.disable` by `actor`.
    pub fn disable_user(&self, name: &str, actor: &str) -> Result<Ended> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to disable a user")?;
            let (id, role, disabled) = live_user(&tx, name)?;
            if disabled {
                return Ok(Ended::default());
            }
            keep_an_admin(&tx, id, name, role, "disable")?;
            tx.execute(
                "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .with_ctx(|| format!("disabling `{name}`"))?;
            let ended = end_all(&tx, id, name)?;
            audit::record(
                &tx,
                &at,
                actor,
                "user.disable",
                &serde_json::json!({"user": name, "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .with_ctx(|| format!("committing disabling `{name}`"))?;
            Ok(ended)
        })
    }

    /// Enables an account again and lifts any lockout (failure counts and back-off start
    /// afresh). Audited as `user.enable` by `actor`.
    pub fn enable_user(&self, name: &str, actor: &str) -> Result<()> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to enable a user")?;
            let (id, _, _) = live_user(&tx, name)?;
            tx.execute(
                "UPDATE users SET disabled_at = NULL, failed_logins = 0,
                 failure_window_start = NULL, lockouts = 0, locked_until = NULL WHERE id = ?1",
                [id],
            )
            .with_ctx(|| format!("enabling `{name}`"))?;
            audit::record(
                &tx,
                &at,
                actor,
                "user.enable",
                &serde_json::json!({ "user": name }),
            )?;
            tx.commit()
                .with_ctx(|| format!("committing enabling `{name}`"))
        })
    }

    /// Deletes an account: its password, sessions and API tokens go; its row stays as a
    /// tombstone (name, role, created and deleted times) so the audit entries naming it stay
    /// unambiguous, and the name cannot be reused. Audited as `user.delete` by `actor`.
    pub fn delete_user(&self, name: &str, actor: &str) -> Result<Ended> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to delete a user")?;
            let (id, role, _) = live_user(&tx, name)?;
            keep_an_admin(&tx, id, name, role, "delete")?;
            let ended = end_all(&tx, id, name)?;
            tx.execute(
                "UPDATE users SET deleted_at = ?2, disabled_at = coalesce(disabled_at, ?2),
                 password_hash = '', failed_logins = 0, failure_window_start = NULL,
                 lockouts = 0, locked_until = NULL WHERE id = ?1",
                params![id, at],
            )
            .with_ctx(|| format!("deleting `{name}`"))?;
            audit::record(
                &tx,
                &at,
                actor,
                "user.delete",
                &serde_json::json!({"user": name, "role": role.as_str(),
                                    "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .with_ctx(|| format!("committing deleting `{name}`"))?;
            Ok(ended)
        })
    }
}

#[cfg(test)]
mod tests;
