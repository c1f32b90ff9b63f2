//! What can go wrong with the search index, phrased so the operator knows what to do next.

use std::fmt;
use std::path::PathBuf;

/// Everything the index can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Tantivy itself failed (disk full, corrupt segment, ...).
    #[error("{context}: {source}")]
    Tantivy {
        /// What the index was doing, naming the index directory.
        context: String,
        /// The underlying Tantivy error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// A file or directory of the index could not be read or written.
    #[error(
        "could not read or write `{}`: {source} (check the path exists and the ballotwatch \
         user may write to it)",
        path.display()
    )]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another writer holds the index lock.
    #[error(
        "another ballotwatch process is writing the search index at `{}` (is `serve` \
         running?): stop it or wait for it to finish, then try again",
        dir.display()
    )]
    Locked {
        /// The index directory.
        dir: PathBuf,
    },
    /// There is no index in the directory yet.
    #[error(
        "no search index at `{}` yet: run `ballotwatch ingest --once` or `ballotwatch reindex`",
        dir.display()
    )]
    Missing {
        /// The index directory.
        dir: PathBuf,
    },
    /// The index on disk was built with a different schema than this build uses.
    #[error(
        "the search index at `{}` was built with {} but this build of ballotwatch needs \
         schema version {expected}: run `ballotwatch reindex` to rebuild it from the store",
        dir.display(),
        FoundVersion(*found)
    )]
    SchemaChanged {
        /// The index directory.
        dir: PathBuf,
        /// The schema version recorded on disk; `None` when it is missing, unreadable or does
        /// not describe the schema actually on disk.
        found: Option<u32>,
        /// The schema version this build writes ([`crate::SCHEMA_VERSION`]).
        expected: u32,
    },
    /// The user's query could not be understood or cannot run.
    #[error("cannot search for `{query}`: {message}")]
    Query {
        /// The query as the user typed it.
        query: String,
        /// What is wrong and how to write it instead.
        message: String,
    },
    /// `recreate` was pointed at a directory that holds something other than a search index.
    #[error(
        "refusing to delete `{}`: it is not empty and does not look like a ballotwatch search \
         index (no meta.json or ballotwatch-index.json); point the index at an empty or \
         dedicated directory",
        dir.display()
    )]
    NotAnIndex {
        /// The directory that was not wiped.
        dir: PathBuf,
    },
    /// An item without an id was given to the writer.
    #[error(
        "cannot index an item with no id (source `{source_name}`, url `{}`): items must be \
         normalised (Item::normalise) before indexing",
        url.as_deref().unwrap_or("none")
    )]
    EmptyId {
        /// The item's source name.
        source_name: String,
        /// The item's URL, if any.
        url: Option<String>,
    },
}

/// `Result` with [`IndexError`].
pub type Result<T> = std::result::Result<T, IndexError>;

struct FoundVersion(Option<u32>);

impl fmt::Display for FoundVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "schema version {v}"),
            None => f.write_str("an unknown or unrecorded schema"),
        }
    }
}

impl IndexError {
    pub(crate) fn tantivy(context: impl Into<String>, source: tantivy::TantivyError) -> Self {
        IndexError::Tantivy {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_tell_the_user_what_to_do() {
        let dir = PathBuf::from("/var/lib/bw/index");
        let locked = IndexError::Locked { dir: dir.clone() }.to_string();
        assert!(locked.contains("another ballotwatch process is writing"));
        assert!(locked.contains("is `serve` running?"));
        assert!(locked.contains("/var/lib/bw/index"));

        let missing = IndexError::Missing { dir: dir.clone() }.to_string();
        assert_eq!(
            missing,
            "no search index at `/var/lib/bw/index` yet: run `ballotwatch ingest --once` or \
             `ballotwatch reindex`"
        );

        let changed = IndexError::SchemaChanged {
            dir: dir.clone(),
            found: Some(1),
            expected: 2,
        }
        .to_string();
        assert!(changed.contains("schema version 1"), "{changed}");
        assert!(changed.contains("needs schema version 2"), "{changed}");
        assert!(changed.contains("run `ballotwatch reindex`"), "{changed}");

        let unknown = IndexError::SchemaChanged {
            dir,
            found: None,
            expected: 2,
        }
        .to_string();
        assert!(
            unknown.contains("unknown or unrecorded schema"),
            "{unknown}"
        );

        let query = IndexError::Query {
            query: "sourc:x".into(),
            message: "there is no field `sourc`".into(),
        }
        .to_string();
        assert_eq!(
            query,
            "cannot search for `sourc:x`: there is no field `sourc`"
        );
    }

    #[test]
    fn tantivy_and_io_errors_keep_their_source() {
        use std::error::Error as _;
        let e = IndexError::io(
            "/x/meta.json",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert!(e.to_string().contains("/x/meta.json"));
        assert!(e.source().is_some());
        let t = IndexError::tantivy(
            "committing the search index at /x",
            tantivy::TantivyError::InvalidArgument("bad".into()),
        );
        assert!(t
            .to_string()
            .starts_with("committing the search index at /x: "));
        assert!(t.source().is_some());
    }
}
