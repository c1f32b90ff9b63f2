//! Derived blobs in PostgreSQL: a convenience copy made from a stored blob (a screenshot's
//! report thumbnail), stored in `blobs` like any blob, with a `derived_blobs` row linking it to
//! the blob it was made from. Never evidence: it can be made again at any time (see
//! `crate::derived`).

use super::{col, PgStore};
use crate::derived::check_derived;
use crate::error::{PgContext, Result};

impl PgStore {
    /// Stores `bytes` as the `kind` made from the blob `source` and returns their SHA-256; the
    /// newest copy wins (see [`crate::Store::put_derived`]).
    pub fn put_derived(&self, kind: &str, source: &str, bytes: &[u8]) -> Result<String> {
        let source = check_derived(kind, source)?;
        let sha = self.put_blob(bytes)?;
        self.with_client("linking a derived blob", |c| {
            c.execute(
                "INSERT INTO derived_blobs(kind, source, sha256) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, source) DO UPDATE SET sha256 = EXCLUDED.sha256",
                &[&kind, &source, &sha],
            )
            .pg_with(|| format!("linking the {kind} of blob {source}"))
        })?;
        Ok(sha)
    }

    /// The `kind` made from the blob `source`, if one was stored; its bytes are checked like
    /// any blob's (see [`crate::Store::read_derived`]).
    pub fn read_derived(&self, kind: &str, source: &str) -> Result<Option<Vec<u8>>> {
        let source = check_derived(kind, source)?;
        let sha: Option<String> = self.with_client("reading a derived blob's link", |c| {
            c.query_opt(
                "SELECT sha256 FROM derived_blobs WHERE kind = $1 AND source = $2",
                &[&kind, &source],
            )
            .pg_with(|| format!("reading the link to the {kind} of blob {source}"))?
            .map(|r| col(&r, 0))
            .transpose()
        })?;
        sha.map(|sha| self.read_blob(&sha)).transpose()
    }
}
