//! Capture bytes in PostgreSQL: the `blobs` table, keyed by SHA-256, verified when read.
//!
//! Why a table and not an object store: every node already shares this database, so the bytes
//! need no second service, no second set of credentials and no second backup; a capture row and
//! its bytes are in one backup and one point-in-time restore; and writing bytes is idempotent
//! (`ON CONFLICT`). Captures are bounded by the fetcher's size caps, well under `bytea`'s 1 GiB.
//! A deployment whose media outgrows its database can move them to an S3 bucket in a later
//! migration without changing this interface.

use ballotwatch_core::sha256_hex;

use super::{col, PgStore};
use crate::blobs::normalise_sha;
use crate::error::{PgContext, Result, StoreError};

impl PgStore {
    /// Stores `bytes` and returns their SHA-256 (lowercase hex). Storing bytes already stored is
    /// a no-op; a stored copy that was damaged is replaced by the true bytes.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let sha = sha256_hex(bytes);
        let size = i64::try_from(bytes.len()).map_err(|_| {
            StoreError::InvalidInput(format!("a blob of {} bytes is too large", bytes.len()))
        })?;
        self.with_client("storing a capture blob", |c| {
            c.execute(
                "INSERT INTO blobs(sha256, size, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO UPDATE SET size = EXCLUDED.size, bytes = EXCLUDED.bytes
                 WHERE blobs.size <> EXCLUDED.size OR blobs.bytes <> EXCLUDED.bytes",
                &[&sha, &size, &bytes],
            )
            .pg_with(|| format!("storing capture blob {sha}"))
        })?;
        tracing::debug!(sha256 = %sha, size = bytes.len(), "stored capture blob");
        Ok(sha)
    }

    /// Reads a blob and checks that its bytes hash to its key.
    ///
    /// Errors: [`StoreError::InvalidInput`] for a malformed SHA-256, [`StoreError::BlobMissing`]
    /// when it is not stored, [`StoreError::BlobTampered`] when its content does not match.
    pub fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        let sha = normalise_sha(sha256).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "`{}` is not a SHA-256 (64 hex digits)",
                sha256.escape_debug()
            ))
        })?;
        let row = self.with_client("reading a capture blob", |c| {
            c.query_opt("SELECT bytes FROM blobs WHERE sha256 = $1", &[&sha])
                .pg_with(|| format!("reading capture blob {sha}"))
        })?;
        let Some(row) = row else {
            return Err(StoreError::BlobMissing {
                sha256: sha,
                server: self.inner.server.clone(),
            });
        };
        let bytes: Vec<u8> = col(&row, 0)?;
        let actual = sha256_hex(&bytes);
        if actual != sha {
            tracing::error!(server = %self.inner.server, expected = %sha, %actual, "capture blob failed its integrity check");
            return Err(StoreError::BlobTampered {
                sha256: sha,
                server: self.inner.server.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Size of a stored blob, or [`StoreError::BlobMissing`]. Used to check captures before
    /// they are recorded.
    pub(crate) fn blob_len(&self, sha: &str) -> Result<u64> {
        let size: Option<i64> = self.with_client("checking a capture blob", |c| {
            c.query_opt("SELECT size FROM blobs WHERE sha256 = $1", &[&sha])
                .pg_with(|| format!("checking capture blob {sha}"))?
                .map(|r| col(&r, 0))
                .transpose()
        })?;
        match size {
            Some(n) => Ok(u64::try_from(n).unwrap_or(0)),
            None => Err(StoreError::BlobMissing {
                sha256: sha.to_string(),
                server: self.inner.server.clone(),
            }),
        }
    }
}
