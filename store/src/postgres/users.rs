//! Web accounts in PostgreSQL: roles, password hashes (argon2id PHC strings made by the caller),
//! disabling, enabling, deleting (a tombstone keeps the name), the login lockout with back-off,
//! and ending an account's sessions and API tokens, as in the SQLite store (`crate::users`).
//!
//! Account administration takes one transaction-scoped advisory lock ([`ACCOUNTS_LOCK`]), so
//! two nodes changing accounts at once act one after the other, like SQLite's single writer
//! (two admins cannot disable each other and leave no admin). A failed login locks its user
//! row (`FOR UPDATE`), so two nodes counting failures of one account count both.

use chrono::{DateTime, Duration, Utc};
use postgres::{GenericClient, Row};

use super::{audit, col, ms, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::users::UnknownRole;
use crate::{now_ms, Account, Ended, LoginPolicy, Role, User, UserLogin};

/// Advisory lock key account changes run under ("BWUSERS" in ASCII).
pub(crate) const ACCOUNTS_LOCK: i64 = 0x0042_5755_5345_5253;

/// The columns [`user_row`] reads, first in a query (from `users u`).
pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.role";

/// Reads [`USER_COLUMNS`] (columns 0 to 2).
pub(crate) fn user_row(r: &Row) -> Result<User> {
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

/// Takes the account-administration lock inside the caller's transaction.
fn lock_accounts(c: &mut impl GenericClient) -> Result<()> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&ACCOUNTS_LOCK])
        .pg("waiting for other account changes")?;
    Ok(())
}

/// The live (not deleted) account called `name`, as (id, role, disabled).
fn live_user(c: &mut impl GenericClient, name: &str) -> Result<(i64, Role, bool)> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {USER_COLUMNS}, u.disabled_at IS NOT NULL FROM users u
                 WHERE u.name = $1 AND u.deleted_at IS NULL"
            ),
            &[&name],
        )
        .pg_with(|| format!("reading user `{name}`"))?
        .ok_or_else(|| StoreError::InvalidInput(format!("there is no user `{name}`")))?;
    let user = user_row(&row)?;
    Ok((user.id, user.role, col(&row, 3)?))
}

/// Ends every session and API token of user `id`.
pub(crate) fn end_all(c: &mut impl GenericClient, id: i64, name: &str) -> Result<Ended> {
    let sessions = c
        .execute("DELETE FROM sessions WHERE user_id = $1", &[&id])
        .pg_with(|| format!("ending the sessions of `{name}`"))?;
    let tokens = c
        .execute("DELETE FROM api_tokens WHERE user_id = $1", &[&id])
        .pg_with(|| format!("revoking the API tokens of `{name}`"))?;
    Ok(Ended { sessions, tokens })
}

/// Refuses to disable or delete the last enabled admin.
fn keep_an_admin(
    c: &mut impl GenericClient,
    id: i64,
    name: &str,
    role: Role,
    what: &str,
) -> Result<()> {
    if role != Role::Admin {
        return Ok(());
    }
    let others: i64 = c
        .query_one(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL
             AND deleted_at IS NULL AND id <> $1",
            &[&id],
        )
        .and_then(|r| r.try_get(0))
        .pg("counting the enabled admins")?;
    if others == 0 {
        return Err(StoreError::InvalidInput(format!(
            "`{name}` is the last enabled admin: add or enable another admin before you {what} it"
        )));
    }
    Ok(())
}

impl PgStore {
    /// Creates a web account (see [`crate::Store::create_user`]).
    pub fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(StoreError::InvalidInput(format!(
                "user name {name:?} must be non-blank and printable"
            )));
        }
        let at = now_ms();
        self.with_client("creating a user", |c| {
            let mut tx = c.transaction().pg("starting to create a user")?;
            lock_accounts(&mut tx)?;
            let exists = tx
                .query_opt(
                    "SELECT deleted_at IS NOT NULL FROM users WHERE name = $1",
                    &[&name],
                )
                .pg_with(|| format!("checking whether user `{name}` exists"))?;
            if let Some(r) = exists {
                let deleted: bool = col(&r, 0)?;
                return Err(StoreError::InvalidInput(if deleted {
                    format!(
                        "there is already a user `{name}` (deleted: the audit log names it, so \
                         the name is not reused; choose another)"
                    )
                } else {
                    format!("there is already a user `{name}`")
                }));
            }
            let row = tx
                .query_one(
                    "INSERT INTO users(name, role, password_hash, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&name, &role.as_str(), &password_hash, &at],
                )
                .pg_with(|| format!("creating user `{name}`"))?;
            let id: i64 = col(&row, 0)?;
            audit::record(
                &mut tx,
                at,
                "cli",
                "user.create",
                &serde_json::json!({"user": name, "role": role.as_str()}),
            )?;
            tx.commit()
                .pg_with(|| format!("committing user `{name}`"))?;
            Ok(User {
                id,
                name: name.to_string(),
                role,
            })
        })
    }

    /// Replaces an account's password and ends its sessions and tokens (see
    /// [`crate::Store::set_password`]).
    pub fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended> {
        let at = now_ms();
        self.with_client("changing a password", |c| {
            let mut tx = c.transaction().pg("starting to change a password")?;
            lock_accounts(&mut tx)?;
            let id: i64 = tx
                .query_opt(
                    "UPDATE users SET password_hash = $2, failed_logins = 0,
                     failure_window_start = NULL, lockouts = 0, locked_until = NULL
                     WHERE name = $1 AND deleted_at IS NULL RETURNING id",
                    &[&name, &password_hash],
                )
                .pg_with(|| format!("changing the password of `{name}`"))?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no user `{name}`")))
                .and_then(|r| col(&r, 0))?;
            let ended = end_all(&mut tx, id, name)?;
            audit::record(
                &mut tx,
                at,
                actor,
                "user.password",
                &serde_json::json!({"user": name, "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .pg_with(|| format!("committing the password of `{name}`"))?;
            Ok(ended)
        })
    }

    /// Every account that is not deleted, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.with_client("reading the users", |c| {
            c.query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.deleted_at IS NULL
                     ORDER BY u.name COLLATE \"C\""
                ),
                &[],
            )
            .pg("reading the users")?
            .iter()
            .map(user_row)
            .collect()
        })
    }

    /// The account called `name`, with what the login check needs.
    pub fn user_login(&self, name: &str) -> Result<Option<UserLogin>> {
        self.with_client("reading a user", |c| {
            c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, u.password_hash, u.failed_logins, u.locked_until,
                            u.disabled_at IS NOT NULL
                     FROM users u WHERE u.name = $1 AND u.deleted_at IS NULL"
                ),
                &[&name],
            )
            .pg_with(|| format!("reading user `{name}`"))?
            .map(|r| {
                let failed: i32 = col(&r, 4)?;
                Ok(UserLogin {
                    user: user_row(&r)?,
                    password_hash: col(&r, 3)?,
                    failed_logins: u32::try_from(failed).unwrap_or(0),
                    locked_until: col(&r, 5)?,
                    disabled: col(&r, 6)?,
                })
            })
            .transpose()
        })
    }

    /// Every account that is not deleted, by name, with its state.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let now = now_ms();
        self.with_client("reading the accounts", |c| {
            c.query(
                &format!(
                    "SELECT {USER_COLUMNS}, u.created_at, u.disabled_at, u.locked_until,
                            (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id
                             AND (t.expires_at IS NULL OR t.expires_at > $1))
                     FROM users u WHERE u.deleted_at IS NULL ORDER BY u.name COLLATE \"C\""
                ),
                &[&now],
            )
            .pg("reading the accounts")?
            .iter()
            .map(|r| {
                let tokens: i64 = col(r, 6)?;
                let locked: Option<DateTime<Utc>> = col(r, 5)?;
                Ok(Account {
                    user: user_row(r)?,
                    created_at: col(r, 3)?,
                    disabled_at: col(r, 4)?,
                    locked_until: locked.filter(|u| *u > now),
                    live_tokens: u64::try_from(tokens).unwrap_or(0),
                })
            })
            .collect()
        })
    }

    /// Disables an account and ends its sessions and tokens (see
    /// [`crate::Store::disable_user`]).
    pub fn disable_user(&self, name: &str, actor: &str) -> Result<Ended> {
        let at = now_ms();
        self.with_client("disabling a user", |c| {
            let mut tx = c.transaction().pg("starting to disable a user")?;
            lock_accounts(&mut tx)?;
            let (id, role, disabled) = live_user(&mut tx, name)?;
            if disabled {
                return Ok(Ended::default());
            }
            keep_an_admin(&mut tx, id, name, role, "disable")?;
            tx.execute(
                "UPDATE users SET disabled_at = $2 WHERE id = $1",
                &[&id, &at],
            )
            .pg_with(|| format!("disabling `{name}`"))?;
            let ended = end_all(&mut tx, id, name)?;
            audit::record(
                &mut tx,
                at,
                actor,
                "user.disable",
                &serde_json::json!({"user": name, "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .pg_with(|| format!("committing disabling `{name}`"))?;
            Ok(ended)
        })
    }

    /// Enables an account again and lifts any lockout (see [`crate::Store::enable_user`]).
    pub fn enable_user(&self, name: &str, actor: &str) -> Result<()> {
        let at = now_ms();
        self.with_client("enabling a user", |c| {
            let mut tx = c.transaction().pg("starting to enable a user")?;
            lock_accounts(&mut tx)?;
            let (id, _, _) = live_user(&mut tx, name)?;
            tx.execute(
                "UPDATE users SET disabled_at = NULL, failed_logins = 0,
                 failure_window_start = NULL, lockouts = 0, locked_until = NULL WHERE id = $1",
                &[&id],
            )
            .pg_with(|| format!("enabling `{name}`"))?;
            audit::record(
                &mut tx,
                at,
                actor,
                "user.enable",
                &serde_json::json!({ "user": name }),
            )?;
            tx.commit()
                .pg_with(|| format!("committing enabling `{name}`"))
        })
    }

    /// Deletes an account, keeping a tombstone (see [`crate::Store::delete_user`]).
    pub fn delete_user(&self, name: &str, actor: &str) -> Result<Ended> {
        let at = now_ms();
        self.with_client("deleting a user", |c| {
            let mut tx = c.transaction().pg("starting to delete a user")?;
            lock_accounts(&mut tx)?;
            let (id, role, _) = live_user(&mut tx, name)?;
            keep_an_admin(&mut tx, id, name, role, "delete")?;
            let ended = end_all(&mut tx, id, name)?;
            tx.execute(
                "UPDATE users SET deleted_at = $2, disabled_at = coalesce(disabled_at, $2),
                 password_hash = '', failed_logins = 0, failure_window_start = NULL,
                 lockouts = 0, locked_until = NULL WHERE id = $1",
                &[&id, &at],
            )
            .pg_with(|| format!("deleting `{name}`"))?;
            audit::record(
                &mut tx,
                at,
                actor,
                "user.delete",
                &serde_json::json!({"user": name, "role": role.as_str(),
                                    "sessions_ended": ended.sessions,
                                    "tokens_revoked": ended.tokens}),
            )?;
            tx.commit()
                .pg_with(|| format!("committing deleting `{name}`"))?;
            Ok(ended)
        })
    }

    /// Records a failed login under `policy` at `now` (see
    /// [`crate::Store::record_login_failure_at`]).
    pub fn record_login_failure_at(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let now = ms(now);
        let window = Duration::from_std(policy.window).unwrap_or(Duration::MAX);
        self.with_client("recording a failed login", |c| {
            let mut tx = c.transaction().pg("starting to record a failed login")?;
            let row = tx
                .query_opt(
                    "SELECT name, failed_logins, failure_window_start, locked_until, lockouts
                     FROM users WHERE id = $1 FOR UPDATE",
                    &[&user_id],
                )
                .pg_with(|| format!("reading the failed logins of user {user_id}"))?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no user {user_id}")))?;
            let name: String = col(&row, 0)?;
            let failures: i32 = col(&row, 1)?;
            let failures = u32::try_from(failures).unwrap_or(0);
            let start: Option<DateTime<Utc>> = col(&row, 2)?;
            let locked: Option<DateTime<Utc>> = col(&row, 3)?;
            let locked = locked.filter(|u| *u > now);
            let lockouts: i32 = col(&row, 4)?;
            let lockouts = u32::try_from(lockouts).unwrap_or(0);
            let mut detail = detail.clone();
            let mut note = |k: &str, v: serde_json::Value| {
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert(k.into(), v);
                }
            };
            let newly_locked = if let Some(until) = locked {
                note("locked_until", crate::ts(&until).into());
                None
            } else {
                let in_window = start.filter(|s| now.signed_duration_since(*s) < window);
                let (failures, start) = match in_window {
                    Some(s) => (failures.saturating_add(1), s),
                    None => (1, now),
                };
                note("failures", failures.into());
                if failures >= policy.max_failures {
                    let lockouts = lockouts.saturating_add(1);
                    let lock_for =
                        Duration::from_std(policy.lock_for(lockouts)).unwrap_or(Duration::MAX);
                    let until = ms(now.checked_add_signed(lock_for).unwrap_or(now));
                    let n = i32::try_from(lockouts).unwrap_or(i32::MAX);
                    tx.execute(
                        "UPDATE users SET failed_logins = 0, failure_window_start = NULL,
                         lockouts = $2, locked_until = $3 WHERE id = $1",
                        &[&user_id, &n, &until],
                    )
                    .pg_with(|| format!("locking user `{name}`"))?;
                    note("locked_until", crate::ts(&until).into());
                    note("lockouts", lockouts.into());
                    Some(until)
                } else {
                    let n = i32::try_from(failures).unwrap_or(i32::MAX);
                    tx.execute(
                        "UPDATE users SET failed_logins = $2, failure_window_start = $3
                         WHERE id = $1",
                        &[&user_id, &n, &start],
                    )
                    .pg_with(|| format!("counting a failed login of `{name}`"))?;
                    None
                }
            };
            let action = if locked.is_some() {
                "login.locked"
            } else {
                "login.failed"
            };
            audit::record(&mut tx, now, &name, action, &detail)?;
            tx.commit().pg("committing a failed login")?;
            Ok(newly_locked)
        })
    }
}
