//! The pipeline's errors: what a stage could not do, with the component error that caused it.

use std::path::PathBuf;

use ballotwatch_alerting::AlertError;
use ballotwatch_classify::ClassifyError;
use ballotwatch_index::IndexError;
use ballotwatch_ingest::{FetchError, SourceError};
use ballotwatch_store::StoreError;

/// What went wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The store could not be opened.
    #[error("cannot open the store in {}: {source}", dir.display())]
    OpenStore {
        /// `data_dir`.
        dir: PathBuf,
        /// Why.
        source: Box<StoreError>,
    },
    /// A store read or write failed (a full disk among them: [`PipelineError::is_disk_full`]).
    #[error(transparent)]
    Store(Box<StoreError>),
    /// The search index failed.
    #[error(transparent)]
    Index(Box<IndexError>),
    /// The detectors could not be set up (a model missing or unreadable): the operator's to fix.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    /// Alerting could not be set up from the configuration: the operator's to fix.
    #[error("cannot set up alerting: {0}")]
    AlertSetup(Box<AlertError>),
    /// Deciding about or delivering alerts failed.
    #[error(transparent)]
    Alert(Box<AlertError>),
    /// The guarded fetcher could not be built from `[ingest]`.
    #[error(transparent)]
    Fetcher(Box<FetchError>),
    /// A source's poll failed (fetching, or reading what came back).
    #[error(transparent)]
    Source(Box<SourceError>),
    /// Ingest is paused (the disk of `data_dir` is full); it resumes by itself.
    #[error("ingest paused: {0}")]
    Paused(String),
    /// A file the pipeline keeps beside the store (a stream's marker) could not be used.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A task of the pipeline panicked; what it had committed is in the store.
    #[error("{0}")]
    Task(String),
    /// Something that must hold did not (a capture changed between fetch and store); the work
    /// is not committed and is redone.
    #[error("{0}")]
    Inconsistent(String),
    /// Trusted timestamps cannot be set up (`[evidence] tsa_roots` unreadable, no HTTP client).
    #[error("cannot set up trusted timestamps ([evidence] tsa_urls, tsa_roots): {0}")]
    TimestampSetup(Box<ballotwatch_evidence::timestamp::TimestampError>),
    /// NATS JetStream (cluster mode) failed: the work waits in its queue and is retried.
    #[error(transparent)]
    Cluster(Box<ballotwatch_cluster::ClusterError>),
    /// A TSA gave no valid timestamp (the capture log waits; the next attempt follows back-off).
    #[error(transparent)]
    Timestamp(Box<ballotwatch_evidence::timestamp::TimestampError>),
}

/// The component errors are boxed (some are large, and `Result`s of this error are returned on
/// every stage's path); `?` converts them.
macro_rules! boxed_from {
    ($($variant:ident($error:ty)),* $(,)?) => {
        $(impl From<$error> for PipelineError {
            fn from(e: $error) -> PipelineError {
                PipelineError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    Store(StoreError),
    Index(IndexError),
    Alert(AlertError),
    Fetcher(FetchError),
    Source(SourceError),
    Cluster(ballotwatch_cluster::ClusterError),
);

impl PipelineError {
    /// The disk of `data_dir` is full (ingest pauses until space returns).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, PipelineError::Store(e) | PipelineError::OpenStore { source: e, .. } if e.is_disk_full())
    }

    /// The configuration or the installed models are at fault, not the run: exit code 2.
    pub fn is_setup(&self) -> bool {
        use ballotwatch_cluster::ClusterError;
        match self {
            PipelineError::Classify(_)
            | PipelineError::AlertSetup(_)
            | PipelineError::TimestampSetup(_) => true,
            // A `*_env` variable of `[cluster]` that is not set, or an unreadable creds file.
            PipelineError::Cluster(e) => matches!(
                **e,
                ClusterError::MissingEnv { .. } | ClusterError::Creds { .. }
            ),
            _ => false,
        }
    }

    /// A task that panicked (joined through tokio).
    pub(crate) fn panicked(what: &str, e: tokio::task::JoinError) -> PipelineError {
        PipelineError::Task(format!("{what}: {e}"))
    }
}

/// The pipeline's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// An error with its causes joined by ": ", each once (as a table row or log line shows it).
pub fn full_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn full_message_joins_each_cause_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(full_message(&e), "outer: disk on fire");
        let p = PipelineError::Paused("the disk is full".into());
        assert_eq!(full_message(&p), "ingest paused: the disk is full");
        assert!(!p.is_setup() && !p.is_disk_full());
    }
}
