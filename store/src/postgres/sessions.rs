//! Login sessions in PostgreSQL, kept by the SHA-256 of the browser's token, with their anti-CSRF
//! token and expiry; opening and ending one is audited (see `crate::sessions`).

use chrono::Duration;

use super::users::{user_row, USER_COLUMNS};
use super::{audit, col, PgStore};
use crate::error::{PgContext, Result};
use crate::{now_ms, Session, User};

impl PgStore {
    /// Opens a session after a successful login (see [`crate::Store::create_session`]).
    pub fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        ttl: std::time::Duration,
        detail: &serde_json::Value,
    ) -> Result<Session> {
        let now = now_ms();
        let expires_at = now
            .checked_add_signed(Duration::from_std(ttl).unwrap_or(Duration::days(1)))
            .unwrap_or(now);
        self.with_client("opening a session", |c| {
            let mut tx = c.transaction().pg("starting to open a session")?;
            tx.execute(
                "UPDATE users SET failed_logins = 0, failure_window_start = NULL, lockouts = 0,
                 locked_until = NULL WHERE id = $1",
                &[&user.id],
            )
            .pg_with(|| format!("clearing failed logins of `{}`", user.name))?;
            tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])
                .pg("removing expired sessions")?;
            tx.execute(
                "INSERT INTO sessions(token_hash, user_id, csrf, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&token_hash, &user.id, &csrf, &now, &expires_at],
            )
            .pg_with(|| format!("opening a session for `{}`", user.name))?;
            audit::record(&mut tx, now, &user.name, "login", detail)?;
            tx.commit().pg("committing a new session")?;
            Ok(Session {
                user: user.clone(),
                csrf: csrf.to_string(),
                expires_at,
            })
        })
    }

    /// The live (unexpired) session whose token hashes to `token_hash`.
    pub fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let now = now_ms();
        self.with_client("reading a session", |c| {
            c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf, s.expires_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2
                       AND u.disabled_at IS NULL AND u.deleted_at IS NULL"
                ),
                &[&token_hash, &now],
            )
            .pg("reading a session")?
            .map(|r| {
                Ok(Session {
                    user: user_row(&r)?,
                    csrf: col(&r, 3)?,
                    expires_at: col(&r, 4)?,
                })
            })
            .transpose()
        })
    }

    /// Ends a session (logout) and audits it; an unknown session does nothing.
    pub fn end_session(&self, token_hash: &str) -> Result<()> {
        let now = now_ms();
        self.with_client("ending a session", |c| {
            let mut tx = c.transaction().pg("starting to end a session")?;
            let name = tx
                .query_opt(
                    "DELETE FROM sessions s USING users u
                     WHERE s.token_hash = $1 AND u.id = s.user_id RETURNING u.name",
                    &[&token_hash],
                )
                .pg("ending a session")?;
            if let Some(r) = name {
                let name: String = col(&r, 0)?;
                audit::record(&mut tx, now, &name, "logout", &serde_json::json!({}))?;
            }
            tx.commit().pg("committing a logout")
        })
    }
}
