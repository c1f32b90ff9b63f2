//! What can go wrong in the store, with enough context for an operator to act on it.

use std::path::{Path, PathBuf};

/// Why a store operation failed.
///
/// Every variant names what was being done and the file involved; the messages say what the
/// user can do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("database {}: {context}: {source}", db.display())]
    Sqlite {
        /// What the store was doing, e.g. "recording a poll of source `Echo`".
        context: String,
        /// The database file.
        db: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A file or folder under `data_dir` could not be read or written.
    #[error("cannot {context} {}: {source} (check that data_dir exists, is writable by Ballotwatch and the disk is not full)", path.display())]
    Io {
        /// What the store was doing, e.g. "write capture blob".
        context: String,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A capture blob's bytes do not hash to its name: the evidence was altered or damaged.
    #[error("capture blob {} is corrupt: its name says SHA-256 {sha256} but its content hashes to {actual}; evidence from it cannot be trusted (restore data_dir/captures from a backup)", path.display())]
    Integrity {
        /// The SHA-256 the blob should have (its name).
        sha256: String,
        /// The blob file.
        path: PathBuf,
        /// The SHA-256 of what is actually in the file.
        actual: String,
    },
    /// No blob with this SHA-256 exists.
    #[error("capture blob {sha256} is missing: expected it at {} (the capture store is incomplete; restore data_dir/captures from a backup)", path.display())]
    BlobNotFound {
        /// The SHA-256 asked for.
        sha256: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// The database was written by a newer Ballotwatch with a schema this build does not know.
    #[error("database {} has schema version {found} but this Ballotwatch only knows versions up to {known}: it was written by a newer Ballotwatch; upgrade Ballotwatch (or point data_dir at another folder)", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// JSON could not be written or read back.
    #[error("{context}: {source}")]
    Json {
        /// What was being (de)serialized, naming the row or field.
        context: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A value read from the database is not what the store writes there.
    #[error("database content is damaged: {what}: {problem} (was the database edited by hand? restore it from a backup)")]
    Corrupt {
        /// Which table, row and column.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A caller handed the store something it must not record.
    #[error("refusing to store: {0}")]
    InvalidInput(String),
    /// PostgreSQL refused an operation, or the connection broke while it ran (the next call
    /// takes a fresh connection from the pool).
    #[error("PostgreSQL {server}: {context}: {}", pg_detail(source))]
    Postgres {
        /// What the store was doing, e.g. "recording a poll of source `Echo`".
        context: String,
        /// The server and database (`host:port/dbname`, never the password).
        server: String,
        /// The client's error.
        source: postgres::Error,
    },
    /// No connection to PostgreSQL could be had within the pool's timeout: the server is down,
    /// restarting or unreachable. Nothing was written; the next call tries again.
    #[error("PostgreSQL {server} is unreachable while {context}: {source} (is the server running and reachable? the next call tries again)")]
    PostgresUnavailable {
        /// What the store was about to do.
        context: String,
        /// The server and database.
        server: String,
        /// The pool's error.
        source: r2d2::Error,
    },
    /// A capture blob kept in PostgreSQL does not hash to its key: the evidence was altered.
    #[error("capture blob {sha256} in the `blobs` table of PostgreSQL {server} is corrupt: its content hashes to {actual}; evidence from it cannot be trusted (restore the database from a backup)")]
    BlobTampered {
        /// The SHA-256 the blob should have (its key).
        sha256: String,
        /// The server and database.
        server: String,
        /// The SHA-256 of what is actually stored.
        actual: String,
    },
    /// No blob with this SHA-256 is in PostgreSQL's `blobs` table.
    #[error("capture blob {sha256} is missing from the `blobs` table of PostgreSQL {server} (store the bytes with put_blob first, or restore the database from a backup)")]
    BlobMissing {
        /// The SHA-256 asked for.
        sha256: String,
        /// The server and database.
        server: String,
    },
}

/// What PostgreSQL said: the server's message and SQLSTATE for a database error, the cause for
/// an I/O error (the client's own `Display` says only "db error").
fn pg_detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// Fills in the database path of a [`StoreError::Sqlite`] that does not have one yet.
    pub(crate) fn in_db(mut self, db_path: &Path) -> StoreError {
        if let StoreError::Sqlite { db, .. } = &mut self {
            if db.as_os_str().is_empty() {
                *db = db_path.to_path_buf();
            }
        }
        self
    }

    /// Whether this error says a capture blob's bytes do not match their SHA-256, whichever back
    /// end keeps them.
    pub fn is_blob_integrity(&self) -> bool {
        matches!(
            self,
            StoreError::Integrity { .. } | StoreError::BlobTampered { .. }
        )
    }

    /// Whether this error says a capture blob does not exist, whichever back end keeps them.
    pub fn is_blob_missing(&self) -> bool {
        matches!(
            self,
            StoreError::BlobNotFound { .. } | StoreError::BlobMissing { .. }
        )
    }

    /// Fills in the server of a PostgreSQL error that does not have one yet.
    pub(crate) fn in_pg(mut self, name: &str) -> StoreError {
        if let StoreError::Postgres { server, .. } = &mut self {
            if server.is_empty() {
                *server = name.to_string();
            }
        }
        self
    }

    pub(crate) fn io(context: impl Into<String>, path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, problem: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            problem: problem.into(),
        }
    }
}

/// Adds context to SQLite results. The database path is filled in by `Store::with_conn`.
pub(crate) trait SqlContext<T> {
    /// Attaches a fixed description of what was being done.
    fn ctx(self, context: &str) -> Result<T>;
    /// Attaches a description built only when there is an error.
    fn with_ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, context: &str) -> Result<T> {
        self.with_ctx(|| context.to_string())
    }

    fn with_ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Sqlite {
            context: context(),
            db: PathBuf::new(),
            source,
        })
    }
}

/// Adds context to PostgreSQL results. The server is filled in by `PgStore::with_client`.
pub(crate) trait PgContext<T> {
    /// Attaches a fixed description of what was being done.
    fn pg(self, context: &str) -> Result<T>;
    /// Attaches a description built only when there is an error.
    fn pg_with(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> PgContext<T> for std::result::Result<T, postgres::Error> {
    fn pg(self, context: &str) -> Result<T> {
        self.pg_with(|| context.to_string())
    }

    fn pg_with(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Postgres {
            context: context(),
            server: String::new(),
            source,
        })
    }
}

/// Adds context to JSON results.
pub(crate) trait JsonContext<T> {
    /// Attaches a description built only when there is an error.
    fn json_ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> JsonContext<T> for serde_json::Result<T> {
    fn json_ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Json {
            context: context(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_get_the_database_path_once() {
        let err: Result<()> =
            Err(rusqlite::Error::InvalidQuery).ctx("reading pending classification");
        let err = err.unwrap_err().in_db(Path::new("/data/ballotwatch.db"));
        let msg = err.to_string();
        assert!(msg.starts_with("database /data/ballotwatch.db: reading pending classification:"));
        // A second, outer fill does not overwrite the first.
        let again = err.in_db(Path::new("/elsewhere.db")).to_string();
        assert_eq!(again, msg);
    }

    #[test]
    fn too_new_tells_the_user_to_upgrade() {
        let msg = StoreError::TooNew {
            path: PathBuf::from("/d/ballotwatch.db"),
            found: 7,
            known: 1,
        }
        .to_string();
        assert!(msg.contains("/d/ballotwatch.db"), "{msg}");
        assert!(msg.contains("schema version 7"), "{msg}");
        assert!(msg.contains("up to 1"), "{msg}");
        assert!(msg.contains("upgrade Ballotwatch"), "{msg}");
    }
}
