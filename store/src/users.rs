//! Account lifecycle: disabling, enabling and deleting accounts, ending every session and API
//! token of an account whose password changes or that is disabled or deleted, API tokens with
//! an optional expiry (listed and revoked by id), and the per-account login lockout with
//! exponential back-off.
//!
//! A deleted account is kept as a tombstone: its row (name, role, when created and deleted)
//! stays, with no password, sessions or tokens, and the name cannot be reused. Audit entries
//! name accounts by name, so every entry that names a deleted account keeps meaning that one
//! person and no later account of the same name.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::error::{Result, SqlContext, StoreError};
use crate::web::{audit_in, user_from, Role, User};
use crate::{now_ms, parse_opt_ts, parse_ts, ts, Store};

/// Migration: account states, the lockout's window and back-off, and API tokens with ids
/// (for listing and revoking) and an optional expiry.
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN deleted_at TEXT;
ALTER TABLE users ADD COLUMN failure_window_start TEXT;
ALTER TABLE users ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;

CREATE TABLE api_tokens_v2 (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT
);
INSERT INTO api_tokens_v2(token_hash, user_id, label, created_at, last_used_at)
    SELECT token_hash, user_id, label, created_at, last_used_at FROM api_tokens
    ORDER BY created_at, token_hash;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_v2 RENAME TO api_tokens;
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE INDEX sessions_user ON sessions(user_id);
"#;

/// How failed logins lock an account.
///
/// `max_failures` failures within `window` (counted from the first of them) lock the account.
/// The first lock lasts `lockout`; each further lock before a successful login (or an
/// administrator's `enable` or password change) lasts twice the one before, up to
/// `max_lockout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures within `window` that lock the account.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: std::time::Duration,
    /// How long the first lock lasts.
    pub lockout: std::time::Duration,
    /// The longest lock.
    pub max_lockout: std::time::Duration,
}

impl LoginPolicy {
    /// How long the `n`-th consecutive lock (1-based) lasts: `lockout · 2^(n-1)`, at most
    /// `max_lockout`.
    pub fn lock_for(&self, n: u32) -> std::time::Duration {
        let doublings = n.saturating_sub(1).min(32);
        self.lockout
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max_lockout)
            .min(self.max_lockout)
    }
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

/// An API token as listed (never the token itself: only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// The id `user token revoke` takes.
    pub id: i64,
    /// The account it acts as.
    pub user: String,
    /// What it is for.
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether it has expired at `now`.
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// What an API token presented to the API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token of an enabled account: the request acts as this user.
    Valid(User),
    /// A token that has expired.
    Expired {
        /// The token's id.
        id: i64,
        /// Its label.
        label: String,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// Not a token this server knows (never issued, revoked, or its account's password changed
    /// or the account was disabled or deleted).
    Unknown,
}

/// What an account change ended: sessions and API tokens that no longer work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ended {
    /// Login sessions ended.
    pub sessions: u64,
    /// API tokens revoked.
    pub tokens: u64,
}

/// The live (not deleted) account called `name`, as (id, role, disabled).
fn live_user(tx: &Transaction<'_>, name: &str) -> Result<(i64, Role, bool)> {
    let raw: Option<(i64, String, Option<String>)> = tx
        .query_row(
            "SELECT id, role, disabled_at FROM users WHERE name = ?1 AND deleted_at IS NULL",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .with_ctx(|| format!("reading user `{name}`"))?;
    let (id, role, disabled) =
        raw.ok_or_else(|| StoreError::InvalidInput(format!("there is no user `{name}`")))?;
    let user = user_from(id, name.to_string(), &role)?;
    Ok((id, user.role, disabled.is_some()))
}

/// Ends every session and API token of user `id`.
pub(crate) fn end_all(tx: &Transaction<'_>, id: i64, name: &str) -> Result<Ended> {
    let sessions = tx
        .execute("DELETE FROM sessions WHERE user_id = ?1", [id])
        .with_ctx(|| format!("ending the sessions of `{name}`"))?;
    let tokens = tx
        .execute("DELETE FROM api_tokens WHERE user_id = ?1", [id])
        .with_ctx(|| format!("revoking the API tokens of `{name}`"))?;
    Ok(Ended {
        sessions: sessions as u64,
        tokens: tokens as u64,
    })
}

/// Refuses to disable or delete the last enabled admin (nobody could administer accounts from
/// the web UI any more).
fn keep_an_admin(tx: &Transaction<'_>, id: i64, name: &str, role: Role, what: &str) -> Result<()> {
    if role != Role::Admin {
        return Ok(());
    }
    let others: i64 = tx
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
    /// Every account that is not deleted, by name, with its state.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        type Raw = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
        );
        let at = ts(&now_ms());
        let raws: Vec<Raw> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT u.id, u.name, u.role, u.created_at, u.disabled_at, u.locked_until,
                        (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id
                         AND (t.expires_at IS NULL OR t.expires_at > ?1))
                 FROM users u WHERE u.deleted_at IS NULL ORDER BY u.name",
            )
            .and_then(|mut st| {
                st.query_map([&at], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("reading the accounts")
        })?;
        let now = now_ms();
        raws.into_iter()
            .map(|(id, name, role, created, disabled, locked, tokens)| {
                Ok(Account {
                    user: user_from(id, name, &role)?,
                    created_at: parse_ts(&created, || format!("users.created_at of user {id}"))?,
                    disabled_at: parse_opt_ts(disabled, || {
                        format!("users.disabled_at of user {id}")
                    })?,
                    locked_until: parse_opt_ts(locked, || {
                        format!("users.locked_until of user {id}")
                    })?
                    .filter(|u| *u > now),
                    live_tokens: u64::try_from(tokens).unwrap_or(0),
                })
            })
            .collect()
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
            audit_in(
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
            audit_in(
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
            audit_in(
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

    /// API tokens, oldest first: every account's, or `user`'s only (an error naming it when
    /// there is no such account).
    pub fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        type Raw = (i64, String, String, String, Option<String>, Option<String>);
        let raws: Vec<Raw> = self.with_conn(|conn| {
            if let Some(name) = user {
                let exists: bool = conn
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1 AND deleted_at IS NULL)",
                        [name],
                        |r| r.get(0),
                    )
                    .with_ctx(|| format!("reading user `{name}`"))?;
                if !exists {
                    return Err(StoreError::InvalidInput(format!(
                        "there is no user `{name}`"
                    )));
                }
            }
            conn.prepare_cached(
                "SELECT t.id, u.name, t.label, t.created_at, t.last_used_at, t.expires_at
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id",
            )
            .and_then(|mut st| {
                st.query_map([user], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("listing API tokens")
        })?;
        raws.into_iter()
            .map(|(id, user, label, created, used, expires)| {
                let what = |col: &str| format!("api_tokens.{col} of token {id}");
                Ok(ApiToken {
                    id,
                    user,
                    label,
                    created_at: parse_ts(&created, || what("created_at"))?,
                    last_used_at: parse_opt_ts(used, || what("last_used_at"))?,
                    expires_at: parse_opt_ts(expires, || what("expires_at"))?,
                })
            })
            .collect()
    }

    /// Revokes API token `id`; audited as `token.revoke` by `actor`. An error names the id
    /// when there is no such token.
    pub fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken> {
        let token = self
            .api_tokens(None)?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::InvalidInput(format!("there is no API token {id}")))?;
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to revoke an API token")?;
            let gone = tx
                .execute("DELETE FROM api_tokens WHERE id = ?1", [id])
                .with_ctx(|| format!("revoking API token {id}"))?;
            if gone == 0 {
                return Err(StoreError::InvalidInput(format!(
                    "there is no API token {id}"
                )));
            }
            audit_in(
                &tx,
                &at,
                actor,
                "token.revoke",
                &serde_json::json!({"id": id, "user": token.user, "label": token.label}),
            )?;
            tx.commit().ctx("committing an API token's revocation")
        })?;
        Ok(token)
    }

    /// What the API token whose hash is `token_hash` is; records that a live one was used.
    pub fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck> {
        let now = now_ms();
        let at = ts(&now);
        type Raw = (i64, String, Option<String>, i64, String, String);
        let raw: Option<Raw> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT t.id, t.label, t.expires_at, u.id, u.name, u.role
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND u.disabled_at IS NULL AND u.deleted_at IS NULL",
            )
            .and_then(|mut st| {
                st.query_row([token_hash], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()
            })
            .ctx("checking an API token")
        })?;
        let Some((id, label, expires, user_id, name, role)) = raw else {
            return Ok(TokenCheck::Unknown);
        };
        let expires = parse_opt_ts(expires, || format!("api_tokens.expires_at of token {id}"))?;
        if let Some(expired_at) = expires.filter(|e| *e <= now) {
            return Ok(TokenCheck::Expired {
                id,
                label,
                expired_at,
            });
        }
        self.with_conn(|conn| {
            conn.prepare_cached("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![id, at]))
                .with_ctx(|| format!("recording the use of API token {id}"))
        })?;
        Ok(TokenCheck::Valid(user_from(user_id, name, &role)?))
    }

    /// Records a failed login for an existing account under `policy` (see [`LoginPolicy`]):
    /// counts it in the current window, locks the account (with back-off) when the window holds
    /// `max_failures`, and audits it. A failure while the account is locked is audited but
    /// neither counted nor extends the lock. Returns when the account is locked until, if it
    /// now is.
    pub fn record_login_failure(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
    ) -> Result<Option<DateTime<Utc>>> {
        self.record_login_failure_at(user_id, policy, detail, now_ms())
    }

    /// [`Store::record_login_failure`] at a given time (for tests and simulations).
    pub fn record_login_failure_at(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let at = ts(&now);
        let window = Duration::from_std(policy.window).unwrap_or(Duration::MAX);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record a failed login")?;
            type Raw = (String, u32, Option<String>, Option<String>, u32);
            let (name, failures, start, locked, lockouts): Raw = tx
                .query_row(
                    "SELECT name, failed_logins, failure_window_start, locked_until, lockouts
                     FROM users WHERE id = ?1",
                    [user_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .with_ctx(|| format!("reading the failed logins of user {user_id}"))?;
            let what = |col: &str| format!("users.{col} of user {user_id}");
            let locked = parse_opt_ts(locked, || what("locked_until"))?.filter(|u| *u > now);
            let start = parse_opt_ts(start, || what("failure_window_start"))?;
            let mut detail = detail.clone();
            let mut note = |k: &str, v: serde_json::Value| {
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert(k.into(), v);
                }
            };
            let newly_locked = if let Some(until) = locked {
                note("locked_until", ts(&until).into());
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
                    let until = now.checked_add_signed(lock_for).unwrap_or(now);
                    tx.execute(
                        "UPDATE users SET failed_logins = 0, failure_window_start = NULL,
                         lockouts = ?2, locked_until = ?3 WHERE id = ?1",
                        params![user_id, lockouts, ts(&until)],
                    )
                    .with_ctx(|| format!("locking user `{name}`"))?;
                    note("locked_until", ts(&until).into());
                    note("lockouts", lockouts.into());
                    Some(until)
                } else {
                    tx.execute(
                        "UPDATE users SET failed_logins = ?2, failure_window_start = ?3
                         WHERE id = ?1",
                        params![user_id, failures, ts(&start)],
                    )
                    .with_ctx(|| format!("counting a failed login of `{name}`"))?;
                    None
                }
            };
            let action = if locked.is_some() {
                "login.locked"
            } else {
                "login.failed"
            };
            audit_in(&tx, &at, &name, action, &detail)?;
            tx.commit().ctx("committing a failed login")?;
            Ok(newly_locked)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const MIN: std::time::Duration = std::time::Duration::from_secs(60);

    fn policy() -> LoginPolicy {
        LoginPolicy {
            max_failures: 3,
            window: 15 * MIN,
            lockout: 15 * MIN,
            max_lockout: 60 * MIN,
        }
    }

    fn actions(store: &Store) -> Vec<String> {
        store
            .audit_entries(100)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    #[test]
    fn upgrading_keeps_existing_api_tokens_working() {
        use crate::schema::{migrate, MIGRATIONS};
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let path = std::path::Path::new("mem.db");
        migrate(&mut conn, &MIGRATIONS[..MIGRATIONS.len() - 1], path).unwrap();
        conn.execute_batch(
            "INSERT INTO users(id, name, role, password_hash, created_at)
             VALUES (1, 'script', 'viewer', 'h', '2026-01-01T00:00:00.000Z');
             INSERT INTO api_tokens(token_hash, user_id, label, created_at)
             VALUES ('old-hash', 1, 'nightly', '2026-01-02T00:00:00.000Z');",
        )
        .unwrap();
        migrate(&mut conn, MIGRATIONS, path).unwrap();
        let (id, label, expires): (i64, String, Option<String>) = conn
            .query_row(
                "SELECT id, label, expires_at FROM api_tokens WHERE token_hash = 'old-hash'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((id, label.as_str(), expires), (1, "nightly", None));
    }

    #[test]
    fn lock_lengths_double_up_to_the_ceiling() {
        let p = policy();
        let got: Vec<u64> = (1..=5).map(|n| p.lock_for(n).as_secs() / 60).collect();
        assert_eq!(got, [15, 30, 60, 60, 60]);
        assert_eq!(p.lock_for(u32::MAX), p.max_lockout);
    }

    #[test]
    fn failures_count_within_the_window_and_locks_back_off() {
        let (_dir, store) = store();
        let u = store.create_user("alice", Role::Viewer, "h").unwrap();
        let p = policy();
        let ip = serde_json::json!({"ip": "192.0.2.1"});
        let t0 = Utc::now();
        let at = |m: i64| t0 + Duration::minutes(m);
        // Two failures, then a quiet window: the count starts again.
        for m in [0, 1] {
            assert_eq!(
                store.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
                None
            );
        }
        for m in [20, 21] {
            assert_eq!(
                store.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
                None
            );
        }
        // The third inside one window locks for 15 minutes.
        let until = store
            .record_login_failure_at(u.id, &p, &ip, at(22))
            .unwrap();
        assert_eq!(until, Some(at(37)));
        // Failures while locked neither count nor extend the lock.
        for m in [23, 30, 36] {
            assert_eq!(
                store.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
                None
            );
        }
        // The next lock lasts twice as long, then four times, then the ceiling.
        let mut lengths = Vec::new();
        let mut t = 40;
        for _ in 0..3 {
            store.record_login_failure_at(u.id, &p, &ip, at(t)).unwrap();
            store
                .record_login_failure_at(u.id, &p, &ip, at(t + 1))
                .unwrap();
            let until = store
                .record_login_failure_at(u.id, &p, &ip, at(t + 2))
                .unwrap()
                .unwrap();
            lengths.push((until - at(t + 2)).num_minutes());
            t = (until - t0).num_minutes() + 1;
        }
        assert_eq!(lengths, [30, 60, 60]);
        let a = actions(&store);
        assert_eq!(a.iter().filter(|x| *x == "login.locked").count(), 3);

        // A successful login starts the back-off afresh.
        store
            .create_session(&u, "s", "c", std::time::Duration::from_secs(60), &ip)
            .unwrap();
        let t = t + 200;
        store.record_login_failure_at(u.id, &p, &ip, at(t)).unwrap();
        store.record_login_failure_at(u.id, &p, &ip, at(t)).unwrap();
        let until = store.record_login_failure_at(u.id, &p, &ip, at(t)).unwrap();
        assert_eq!(until, Some(at(t + 15)));
    }

    #[test]
    fn password_change_disable_and_delete_end_sessions_and_tokens() {
        let (_dir, store) = store();
        let admin = store.create_user("root", Role::Admin, "h").unwrap();
        let u = store.create_user("alice", Role::Analyst, "h").unwrap();
        let ip = serde_json::json!({});
        let hour = std::time::Duration::from_secs(3600);
        let open = |tag: &str| {
            store
                .create_session(&u, &format!("s-{tag}"), "c", hour, &ip)
                .unwrap();
            store
                .create_api_token(&u, &format!("t-{tag}"), tag, None, "cli")
                .unwrap();
        };
        let live = |tag: &str| {
            (
                store.session(&format!("s-{tag}")).unwrap().is_some(),
                store.check_api_token(&format!("t-{tag}")).unwrap() != TokenCheck::Unknown,
            )
        };
        open("a");
        assert_eq!(live("a"), (true, true));
        store.set_password("alice", "h2", "root").unwrap();
        assert_eq!(live("a"), (false, false), "a new password ends everything");

        open("b");
        let ended = store.disable_user("alice", "root").unwrap();
        assert_eq!(
            ended,
            Ended {
                sessions: 1,
                tokens: 1
            }
        );
        assert_eq!(live("b"), (false, false), "disabling ends everything");
        assert!(store.user_login("alice").unwrap().unwrap().disabled);
        // Even a session or token that somehow survived is refused while disabled.
        store.create_session(&u, "s-c", "c", hour, &ip).unwrap();
        assert!(store.session("s-c").unwrap().is_none());
        assert_eq!(
            store.disable_user("alice", "root").unwrap(),
            Ended::default()
        );
        store.enable_user("alice", "root").unwrap();
        assert!(!store.user_login("alice").unwrap().unwrap().disabled);
        assert!(store.session("s-c").unwrap().is_some());

        open("d");
        let ended = store.delete_user("alice", "root").unwrap();
        assert_eq!(
            ended,
            Ended {
                sessions: 2,
                tokens: 1
            }
        );
        assert_eq!(live("d"), (false, false));
        assert!(
            store.user_login("alice").unwrap().is_none(),
            "gone for logins"
        );
        assert_eq!(
            store
                .accounts()
                .unwrap()
                .iter()
                .map(|a| &a.user.name)
                .collect::<Vec<_>>(),
            ["root"]
        );
        let err = store.create_user("alice", Role::Viewer, "h").unwrap_err();
        assert!(err.to_string().contains("already a user `alice`"), "{err}");
        let err = store.set_password("alice", "h", "root").unwrap_err();
        assert!(err.to_string().contains("no user `alice`"), "{err}");
        assert!(store.delete_user("alice", "root").is_err());

        // The last admin cannot be disabled or deleted.
        let err = store.disable_user("root", "cli").unwrap_err();
        assert!(err.to_string().contains("last enabled admin"), "{err}");
        assert!(store.delete_user("root", "cli").is_err());
        assert!(store.session("nothing").unwrap().is_none());
        let _ = admin;

        // Every change is audited with who did it, and the entries keep the name.
        let entries = store.audit_entries(100).unwrap();
        let by_root: Vec<(&str, &str)> = entries
            .iter()
            .filter(|e| e.actor == "root")
            .map(|e| (e.action.as_str(), e.detail["user"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            by_root,
            [
                ("user.delete", "alice"),
                ("user.enable", "alice"),
                ("user.disable", "alice"),
                ("user.password", "alice"),
            ]
        );
    }

    #[test]
    fn tokens_expire_are_listed_and_revoked() {
        let (_dir, store) = store();
        let u = store.create_user("script", Role::Viewer, "h").unwrap();
        let v = store.create_user("other", Role::Viewer, "h").unwrap();
        let past = Utc::now() - Duration::seconds(1);
        let future = Utc::now() + Duration::days(90);
        let old = store
            .create_api_token(&u, "old", "nightly", Some(past), "cli")
            .unwrap();
        let new = store
            .create_api_token(&u, "new", "weekly", Some(future), "cli")
            .unwrap();
        let forever = store
            .create_api_token(&v, "forever", "api", None, "cli")
            .unwrap();
        assert!(matches!(
            store.check_api_token("old").unwrap(),
            TokenCheck::Expired { id, ref label, .. } if id == old && label == "nightly"
        ));
        assert_eq!(
            store.check_api_token("new").unwrap(),
            TokenCheck::Valid(u.clone())
        );
        assert_eq!(store.check_api_token("nope").unwrap(), TokenCheck::Unknown);

        let mine = store.api_tokens(Some("script")).unwrap();
        assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), [old, new]);
        assert!(mine[0].expired_at(Utc::now()) && !mine[1].expired_at(Utc::now()));
        assert!(mine[1].last_used_at.is_some() && mine[0].last_used_at.is_none());
        assert_eq!(store.api_tokens(None).unwrap().len(), 3);
        let err = store.api_tokens(Some("nobody")).unwrap_err();
        assert!(err.to_string().contains("no user `nobody`"), "{err}");
        let accounts = store.accounts().unwrap();
        assert_eq!(accounts[1].user.name, "script");
        assert_eq!(accounts[1].live_tokens, 1, "the expired one does not count");

        let revoked = store.revoke_api_token(new, "alice").unwrap();
        assert_eq!(revoked.label, "weekly");
        assert_eq!(store.check_api_token("new").unwrap(), TokenCheck::Unknown);
        let err = store.revoke_api_token(new, "alice").unwrap_err();
        assert!(err.to_string().contains("no API token"), "{err}");
        assert_eq!(
            store.check_api_token("forever").unwrap(),
            TokenCheck::Valid(v)
        );
        let _ = forever;
        let e = &store.audit_entries(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str()),
            ("alice", "token.revoke")
        );
        assert_eq!(e.detail["user"], "script");
    }
}
