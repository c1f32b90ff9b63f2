//! Errors of the evidence crate.

use std::path::{Path, PathBuf};

/// Why a pack could not be written, or a screenshot taken.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The store refused a read (or the screenshot task a write).
    #[error(transparent)]
    Store(#[from] ballotwatch_store::StoreError),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key file is unusable.
    #[error("signing key {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The request names something that does not exist (an unknown incident or item).
    #[error("{0}")]
    NotFound(String),
    /// The request is unusable (nothing to export…).
    #[error("{0}")]
    InvalidRequest(String),
    /// A stored timestamp token cannot be put in the pack.
    #[error("a stored timestamp token: {0}")]
    Timestamp(#[from] crate::timestamp::TimestampError),
    /// Writing the ZIP failed.
    #[error("writing the pack {}: {message}", path.display())]
    Zip {
        /// The pack being written.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

impl EvidenceError {
    /// An I/O error on `path`.
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        EvidenceError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result of this crate.
pub type Result<T, E = EvidenceError> = std::result::Result<T, E>;
