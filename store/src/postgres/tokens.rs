//! API tokens in PostgreSQL, kept by the SHA-256 of the token a script holds, each acting as one
//! account with a label and an optional expiry; every change audited (see `crate::tokens`).

use chrono::{DateTime, Utc};
use postgres::Row;

use super::users::{user_row, USER_COLUMNS};
use super::{audit, col, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::{now_ms, ApiToken, TokenCheck, User};

/// What [`token_row`] reads, from `api_tokens t JOIN users u`.
const TOKEN_COLUMNS: &str = "t.id, u.name, t.label, t.created_at, t.last_used_at, t.expires_at";

fn token_row(r: &Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: col(r, 0)?,
        user: col(r, 1)?,
        label: col(r, 2)?,
        created_at: col(r, 3)?,
        last_used_at: col(r, 4)?,
        expires_at: col(r, 5)?,
    })
}

impl PgStore {
    /// Stores a new API token by its hash (see [`crate::Store::create_api_token`]).
    pub fn create_api_token(
        &self,
        user: &User,
        token_hash: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<i64> {
        let now = now_ms();
        let expires_at = expires_at.map(super::ms);
        self.with_client("creating an API token", |c| {
            let mut tx = c.transaction().pg("starting to create an API token")?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO api_tokens(token_hash, user_id, label, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&token_hash, &user.id, &label, &now, &expires_at],
                )
                .pg_with(|| format!("creating an API token for `{}`", user.name))
                .and_then(|r| col(&r, 0))?;
            audit::record(
                &mut tx,
                now,
                actor,
                "token.create",
                &serde_json::json!({"id": id, "user": user.name, "label": label,
                                    "expires_at": expires_at.as_ref().map(crate::ts)}),
            )?;
            tx.commit().pg("committing an API token")?;
            Ok(id)
        })
    }

    /// API tokens, oldest first: every account's, or `user`'s only (see
    /// [`crate::Store::api_tokens`]).
    pub fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        self.with_client("listing API tokens", |c| {
            if let Some(name) = user {
                let exists: bool = c
                    .query_one(
                        "SELECT EXISTS(SELECT 1 FROM users WHERE name = $1 AND deleted_at IS NULL)",
                        &[&name],
                    )
                    .and_then(|r| r.try_get(0))
                    .pg_with(|| format!("reading user `{name}`"))?;
                if !exists {
                    return Err(StoreError::InvalidInput(format!(
                        "there is no user `{name}`"
                    )));
                }
            }
            c.query(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                     WHERE $1::text IS NULL OR u.name = $1 ORDER BY t.id"
                ),
                &[&user],
            )
            .pg("listing API tokens")?
            .iter()
            .map(token_row)
            .collect()
        })
    }

    /// Revokes API token `id` (see [`crate::Store::revoke_api_token`]).
    pub fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken> {
        let now = now_ms();
        self.with_client("revoking an API token", |c| {
            let mut tx = c.transaction().pg("starting to revoke an API token")?;
            let token = tx
                .query_opt(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                         WHERE t.id = $1 FOR UPDATE OF t"
                    ),
                    &[&id],
                )
                .pg_with(|| format!("reading API token {id}"))?
                .ok_or_else(|| StoreError::InvalidInput(format!("there is no API token {id}")))
                .and_then(|r| token_row(&r))?;
            tx.execute("DELETE FROM api_tokens WHERE id = $1", &[&id])
                .pg_with(|| format!("revoking API token {id}"))?;
            audit::record(
                &mut tx,
                now,
                actor,
                "token.revoke",
                &serde_json::json!({"id": id, "user": token.user, "label": token.label}),
            )?;
            tx.commit().pg("committing an API token's revocation")?;
            Ok(token)
        })
    }

    /// What the API token whose hash is `token_hash` is; records that a live one was used (see
    /// [`crate::Store::check_api_token`]).
    pub fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck> {
        let now = now_ms();
        self.with_client("checking an API token", |c| {
            let Some(r) = c
                .query_opt(
                    &format!(
                        "SELECT {USER_COLUMNS}, t.id, t.label, t.expires_at
                         FROM api_tokens t JOIN users u ON u.id = t.user_id
                         WHERE t.token_hash = $1 AND u.disabled_at IS NULL
                           AND u.deleted_at IS NULL"
                    ),
                    &[&token_hash],
                )
                .pg("checking an API token")?
            else {
                return Ok(TokenCheck::Unknown);
            };
            let user = user_row(&r)?;
            let id: i64 = col(&r, 3)?;
            let expires_at: Option<DateTime<Utc>> = col(&r, 5)?;
            if let Some(expired_at) = expires_at.filter(|e| *e <= now) {
                return Ok(TokenCheck::Expired {
                    id,
                    label: col(&r, 4)?,
                    expired_at,
                });
            }
            c.execute(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
                &[&id, &now],
            )
            .pg_with(|| format!("recording the use of API token {id}"))?;
            Ok(TokenCheck::Valid(user))
        })
    }
}
