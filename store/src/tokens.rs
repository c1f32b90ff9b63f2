//! API tokens: kept by the SHA-256 of the token a script holds (never the token itself), each
//! acting as one account, with a label, an optional expiry and when it was last used; created,
//! listed, checked and revoked, with every change audited.

use chrono::{DateTime, Utc};
use rusqlite::{params, Row, TransactionBehavior};
use serde::Serialize;

use crate::audit;
use crate::error::{Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::users::User;
use crate::{now_ms, parse_opt_ts, parse_ts, ts, Store};

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

impl ApiToken {
    /// What [`ApiToken`]'s [`FromRow`] reads, from `api_tokens t JOIN users u`.
    const COLUMNS: &'static str =
        "t.id, u.name, t.label, t.created_at, t.last_used_at, t.expires_at";
}

impl FromRow for ApiToken {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let what = |c: &str| format!("api_tokens.{c} of token {id}");
        let created: String = col(r, 3)?;
        Ok(ApiToken {
            id,
            user: col(r, 1)?,
            label: col(r, 2)?,
            created_at: parse_ts(&created, || what("created_at"))?,
            last_used_at: parse_opt_ts(col(r, 4)?, || what("last_used_at"))?,
            expires_at: parse_opt_ts(col(r, 5)?, || what("expires_at"))?,
        })
    }
}

/// A token presented to the API, with the account it acts as.
struct Presented {
    user: User,
    id: i64,
    label: String,
    expires_at: Option<DateTime<Utc>>,
}

impl FromRow for Presented {
    /// [`User::COLUMNS`], then the token's `id`, `label` and `expires_at`.
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 3)?;
        Ok(Presented {
            user: User::from_row(r)?,
            id,
            label: col(r, 4)?,
            expires_at: parse_opt_ts(col(r, 5)?, || {
                format!("api_tokens.expires_at of token {id}")
            })?,
        })
    }
}

impl Store {
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
            audit::record(
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

    /// API tokens, oldest first: every account's, or `user`'s only (an error naming it when
    /// there is no such account).
    pub fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        self.with_conn(|conn| {
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
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id
                     WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id",
                    ApiToken::COLUMNS
                ),
                [user],
                || "listing API tokens".into(),
            )
        })
    }

    /// Revokes API token `id`; audited as `token.revoke` by `actor`. An error names the id
    /// when there is no such token.
    pub fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to revoke an API token")?;
            let token: ApiToken = query_opt(
                &tx,
                &format!(
                    "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.id = ?1",
                    ApiToken::COLUMNS
                ),
                [id],
                || format!("reading API token {id}"),
            )?
            .ok_or_else(|| StoreError::InvalidInput(format!("there is no API token {id}")))?;
            tx.execute("DELETE FROM api_tokens WHERE id = ?1", [id])
                .with_ctx(|| format!("revoking API token {id}"))?;
            audit::record(
                &tx,
                &at,
                actor,
                "token.revoke",
                &serde_json::json!({"id": id, "user": token.user, "label": token.label}),
            )?;
            tx.commit().ctx("committing an API token's revocation")?;
            Ok(token)
        })
    }

    /// What the API token whose hash is `token_hash` is; records that a live one was used.
    pub fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck> {
        let now = now_ms();
        let at = ts(&now);
        let presented: Option<Presented> = self.with_conn(|conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {}, t.id, t.label, t.expires_at
                     FROM api_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.token_hash = ?1 AND u.disabled_at IS NULL AND u.deleted_at IS NULL",
                    User::COLUMNS
                ),
                [token_hash],
                || "checking an API token".into(),
            )
        })?;
        let Some(Presented {
            user,
            id,
            label,
            expires_at,
        }) = presented
        else {
            return Ok(TokenCheck::Unknown);
        };
        if let Some(expired_at) = expires_at.filter(|e| *e <= now) {
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
        Ok(TokenCheck::Valid(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::users::Role;
    use chrono::Duration;

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
