//! What can go wrong talking to NATS.

/// A cluster operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No NATS server could be reached or logged in to.
    #[error("cannot connect to NATS at {urls}: {detail}")]
    Connect {
        /// The URLs tried.
        urls: String,
        /// Why.
        detail: String,
    },
    /// A secret's environment variable (named by a `*_env` key) is not set.
    #[error("environment variable {var} (named by [cluster] {key}) is not set")]
    MissingEnv {
        /// The config key.
        key: &'static str,
        /// The variable.
        var: String,
    },
    /// The creds file could not be read.
    #[error("cannot read NATS creds file {path}: {source}")]
    Creds {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A JetStream request (stream, consumer, bucket, publish, ack) failed.
    #[error("NATS {what}: {detail}")]
    Nats {
        /// What was being done, e.g. "create stream BALLOTWATCH_CLASSIFY".
        what: String,
        /// The client's error.
        detail: String,
    },
    /// A message could not be encoded.
    #[error("cannot encode a {what} message: {source}")]
    Encode {
        /// The message type.
        what: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The lease was taken over or expired: stop polling the source.
    #[error("lease on source `{source_name}` lost: {detail}")]
    LeaseLost {
        /// The source.
        source_name: String,
        /// Why.
        detail: String,
    },
}

impl ClusterError {
    pub(crate) fn nats(what: impl Into<String>, err: impl std::fmt::Display) -> ClusterError {
        ClusterError::Nats {
            what: what.into(),
            detail: err.to_string(),
        }
    }
}
