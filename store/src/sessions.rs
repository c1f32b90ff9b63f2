//! Login sessions: kept by the SHA-256 of the random token the browser holds (never the token
//! itself), each with its anti-CSRF token and expiry. Opening and ending one is audited.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::audit;
use crate::error::{Result, SqlContext};
use crate::row::{col, query_opt, FromRow};
use crate::users::User;
use crate::{now_ms, parse_ts, ts, Store};

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

impl FromRow for Session {
    /// [`User::COLUMNS`], then the session's `csrf` and `expires_at`.
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let expires: String = col(r, 4)?;
        Ok(Session {
            user: User::from_row(r)?,
            csrf: col(r, 3)?,
            expires_at: parse_ts(&expires, || "sessions.expires_at".into())?,
        })
    }
}

impl Store {
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
            audit::record(&tx, &at, &user.name, "login", detail)?;
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
        self.with_conn(|conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {}, s.csrf, s.expires_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2
                       AND u.disabled_at IS NULL AND u.deleted_at IS NULL",
                    User::COLUMNS
                ),
                params![token_hash, at],
                || "reading a session".into(),
            )
        })
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
                audit::record(&tx, &at, &name, "logout", &serde_json::json!({}))?;
            }
            tx.commit().ctx("committing a logout")
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::users::Role;

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
}
