//! The per-account login lockout: failed logins counted in a window lock the account, each lock
//! before a successful login twice as long as the one before, up to a ceiling. One address
//! cannot keep an account locked: a failure while locked neither counts nor extends the lock.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Row, TransactionBehavior};

use crate::audit;
use crate::error::{Result, SqlContext, StoreError};
use crate::row::{col, query_opt, FromRow};
use crate::{now_ms, parse_opt_ts, ts, Store};

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

impl Store {
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
            let failures: Option<Failures> = query_opt(
                &tx,
                "SELECT name, failed_logins, failure_window_start, locked_until, lockouts
                 FROM users WHERE id = ?1",
                [user_id],
                || format!("reading the failed logins of user {user_id}"),
            )?;
            let Failures {
                name,
                failures,
                start,
                locked,
                lockouts,
            } = failures
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no user {user_id}")))?;
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
            audit::record(&tx, &at, &name, action, &detail)?;
            tx.commit().ctx("committing a failed login")?;
            Ok(newly_locked)
        })
    }
}

/// An account's failed-login state, as stored.
struct Failures {
    name: String,
    failures: u32,
    start: Option<String>,
    locked: Option<String>,
    lockouts: u32,
}

impl FromRow for Failures {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        Ok(Failures {
            name: col(r, 0)?,
            failures: col(r, 1)?,
            start: col(r, 2)?,
            locked: col(r, 3)?,
            lockouts: col(r, 4)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::users::Role;

    const MIN: std::time::Duration = std::time::Duration::from_secs(60);

    fn policy() -> LoginPolicy {
        LoginPolicy {
            max_failures: 3,
            window: 15 * MIN,
            lockout: 15 * MIN,
            max_lockout: 60 * MIN,
        }
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
}
