//! Opening, creating and recreating the index directory, and handing out its single writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::LockError;
use tantivy::directory::{Directory, MmapDirectory, INDEX_WRITER_LOCK};
use tantivy::query::QueryParser;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyError};

use crate::error::{IndexError, Result};
use crate::query::QueryLimits;
use crate::schema::{
    build_schema, read_version, register_tokenizers, write_version, Fields, SCHEMA_VERSION,
    VERSION_FILE,
};
use crate::writer::IndexWriter;

/// Tantivy's own marker that a directory holds an index.
const META_FILE: &str = "meta.json";

/// Tantivy's smallest indexing budget per thread (its `MEMORY_BUDGET_NUM_BYTES_MIN`, which it
/// does not export).
const WRITER_MEMORY_MIN: usize = 15_000_000;
/// Tantivy's largest indexing budget per thread (its `MEMORY_BUDGET_NUM_BYTES_MAX`).
const WRITER_MEMORY_MAX: usize = u32::MAX as usize - 1_000_000;

/// The search index in one directory: cheap to clone, shareable between threads.
///
/// Searches see the index as of the last [`SearchIndex::reload`] (or open, or a commit made
/// through a writer from this handle or one of its clones).
#[derive(Clone)]
pub struct SearchIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    pub(crate) parser: Arc<QueryParser>,
    pub(crate) query_limits: QueryLimits,
    pub(crate) dir: PathBuf,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn has_index(dir: &Path) -> bool {
    dir.join(META_FILE).is_file()
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index when there is none.
    ///
    /// Fails with [`IndexError::SchemaChanged`] when the index was built with another schema.
    pub fn open_or_create(dir: &Path) -> Result<SearchIndex> {
        if has_index(dir) {
            SearchIndex::open_existing(dir)
        } else {
            SearchIndex::create(dir)
        }
    }

    /// Opens the index in `dir`; [`IndexError::Missing`] when there is none yet.
    pub fn open_existing(dir: &Path) -> Result<SearchIndex> {
        if !has_index(dir) {
            return Err(IndexError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        let schema_changed = |found| IndexError::SchemaChanged {
            dir: dir.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        };
        let found = read_version(dir)?;
        if found != Some(SCHEMA_VERSION) {
            return Err(schema_changed(found));
        }
        let index = match Index::open_in_dir(dir) {
            Ok(index) => index,
            Err(TantivyError::IncompatibleIndex(inc)) => {
                tracing::warn!(
                    dir = %dir.display(),
                    ?inc,
                    "index written by an incompatible Tantivy"
                );
                return Err(schema_changed(None));
            }
            Err(e) => {
                return Err(IndexError::tantivy(
                    format!("opening the search index at `{}`", dir.display()),
                    e,
                ))
            }
        };
        let (schema, fields) = build_schema();
        if index.schema() != schema {
            // The version file matches but the schema on disk does not: an index from a
            // development build. Rebuilding is the only safe way forward.
            tracing::warn!(dir = %dir.display(), "index schema differs from this build's");
            return Err(schema_changed(None));
        }
        SearchIndex::from_index(index, fields, dir)
    }

    /// Deletes whatever index is in `dir` and creates an empty one (for `reindex`).
    ///
    /// Refuses with [`IndexError::Locked`] while another writer holds the index, and with
    /// [`IndexError::NotAnIndex`] when `dir` holds files that are not an index.
    pub fn recreate(dir: &Path) -> Result<SearchIndex> {
        if dir.exists() {
            let empty = std::fs::read_dir(dir)
                .map_err(|e| IndexError::io(dir, e))?
                .next()
                .is_none();
            if !empty && !has_index(dir) && !dir.join(VERSION_FILE).exists() {
                return Err(IndexError::NotAnIndex {
                    dir: dir.to_path_buf(),
                });
            }
            if has_index(dir) {
                ensure_unlocked(dir)?;
            }
            remove_contents(dir)?;
            tracing::info!(dir = %dir.display(), "search index deleted for rebuild");
        }
        SearchIndex::create(dir)
    }

    fn create(dir: &Path) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        // The version goes first: a crash before the index exists leaves a directory that
        // `open_or_create` simply creates the index in.
        write_version(dir)?;
        let (schema, fields) = build_schema();
        let index = Index::create_in_dir(dir, schema).map_err(|e| {
            IndexError::tantivy(format!("creating a search index at `{}`", dir.display()), e)
        })?;
        tracing::info!(dir = %dir.display(), version = SCHEMA_VERSION, "search index created");
        SearchIndex::from_index(index, fields, dir)
    }

    fn from_index(index: Index, fields: Fields, dir: &Path) -> Result<SearchIndex> {
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| {
                IndexError::tantivy(
                    format!(
                        "opening a reader on the search index at `{}`",
                        dir.display()
                    ),
                    e,
                )
            })?;
        let parser = Arc::new(crate::query::query_parser(&index, &fields));
        Ok(SearchIndex {
            index,
            reader,
            fields,
            parser,
            query_limits: QueryLimits::default(),
            dir: dir.to_path_buf(),
        })
    }

    /// This handle with `limits` on the queries it accepts (the defaults are `[limits]`'s).
    pub fn with_query_limits(mut self, limits: QueryLimits) -> SearchIndex {
        self.query_limits = limits;
        self
    }

    /// The limits on the queries this handle accepts.
    pub fn query_limits(&self) -> QueryLimits {
        self.query_limits
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the index's single writer, with an indexing memory budget of `memory_bytes`
    /// (raised to Tantivy's minimum of 15 MB when lower).
    ///
    /// Fails with [`IndexError::Locked`] while another writer (in this or another process)
    /// holds the index.
    pub fn writer(&self, memory_bytes: usize) -> Result<IndexWriter> {
        let budget = memory_bytes.clamp(WRITER_MEMORY_MIN, WRITER_MEMORY_MAX);
        match self.index.writer(budget) {
            Ok(inner) => Ok(IndexWriter::new(
                inner,
                self.fields,
                self.reader.clone(),
                self.dir.clone(),
            )),
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) => Err(IndexError::Locked {
                dir: self.dir.clone(),
            }),
            Err(e) => Err(IndexError::tantivy(
                format!(
                    "opening a writer on the search index at `{}`",
                    self.dir.display()
                ),
                e,
            )),
        }
    }

    /// Makes the latest commit (from any process) visible to searches through this handle.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| {
            IndexError::tantivy(
                format!("reloading the search index at `{}`", self.dir.display()),
                e,
            )
        })
    }

    /// How many items the index holds, as of the last reload.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// Fails with `Locked` while a writer holds `dir`'s index lock.
fn ensure_unlocked(dir: &Path) -> Result<()> {
    let directory = MmapDirectory::open(dir).map_err(|e| {
        IndexError::tantivy(
            format!("opening the search index directory `{}`", dir.display()),
            e.into(),
        )
    })?;
    match directory.acquire_lock(&INDEX_WRITER_LOCK) {
        // Dropping the lock releases it straight away.
        Ok(_lock) => Ok(()),
        Err(LockError::LockBusy) => Err(IndexError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(LockError::IoError(e)) => Err(IndexError::io(
            dir.join(INDEX_WRITER_LOCK.filepath.as_path()),
            std::io::Error::new(e.kind(), e.to_string()),
        )),
    }
}

/// Removes every entry in `dir`, leaving the directory itself (it may be a mount point).
fn remove_contents(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| IndexError::io(dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(|e| IndexError::io(&path, e))?
            .is_dir();
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| IndexError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{item, upsert_all};

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn handles_are_shareable() {
        assert_send_sync_clone::<SearchIndex>();
        assert_send::<IndexWriter>();
        // So the binary can `?` it into anyhow and move it across tasks.
        fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<IndexError>();
    }

    #[test]
    fn open_existing_on_empty_or_absent_dir_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        match SearchIndex::open_existing(dir.path()) {
            Err(IndexError::Missing { dir: d }) => assert_eq!(d, dir.path()),
            other => panic!("expected Missing, got {other:?}"),
        }
        let absent = dir.path().join("nope");
        assert!(matches!(
            SearchIndex::open_existing(&absent),
            Err(IndexError::Missing { .. })
        ));
        assert!(!absent.exists(), "open_existing must not create anything");
    }

    #[test]
    fn open_or_create_creates_then_reopens_with_the_same_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let idx = SearchIndex::open_or_create(&path).unwrap();
        assert_eq!(idx.num_docs(), 0);
        assert!(path.join(VERSION_FILE).is_file());
        upsert_all(&idx, &[item("a", "hello")]);
        drop(idx);
        let again = SearchIndex::open_or_create(&path).unwrap();
        assert_eq!(again.num_docs(), 1);
        let existing = SearchIndex::open_existing(&path).unwrap();
        assert_eq!(existing.num_docs(), 1);
    }

    #[test]
    fn schema_version_mismatch_is_schema_changed() {
        let dir = tempfile::tempdir().unwrap();
        SearchIndex::open_or_create(dir.path()).unwrap();
        let vf = dir.path().join(VERSION_FILE);
        std::fs::write(&vf, r#"{"schema_version": 999}"#).unwrap();
        for result in [
            SearchIndex::open_existing(dir.path()),
            SearchIndex::open_or_create(dir.path()),
        ] {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("ballotwatch reindex"), "{err}");
            match err {
                IndexError::SchemaChanged {
                    found, expected, ..
                } => {
                    assert_eq!(found, Some(999));
                    assert_eq!(expected, SCHEMA_VERSION);
                }
                other => panic!("expected SchemaChanged, got {other:?}"),
            }
        }
        std::fs::remove_file(&vf).unwrap();
        assert!(matches!(
            SearchIndex::open_existing(dir.path()),
            Err(IndexError::SchemaChanged { found: None, .. })
        ));
    }

    #[test]
    fn a_different_schema_under_the_current_version_is_schema_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tantivy::schema::Schema::builder();
        b.add_text_field("id", tantivy::schema::STRING);
        Index::create_in_dir(dir.path(), b.build()).unwrap();
        write_version(dir.path()).unwrap();
        assert!(matches!(
            SearchIndex::open_existing(dir.path()),
            Err(IndexError::SchemaChanged { found: None, .. })
        ));
    }

    #[test]
    fn recreate_empties_the_index_and_fixes_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(dir.path()).unwrap();
        upsert_all(&idx, &[item("a", "one"), item("b", "two")]);
        assert_eq!(idx.num_docs(), 2);
        drop(idx);
        std::fs::write(dir.path().join(VERSION_FILE), r#"{"schema_version": 0}"#).unwrap();
        let fresh = SearchIndex::recreate(dir.path()).unwrap();
        assert_eq!(fresh.num_docs(), 0);
        assert_eq!(
            SearchIndex::open_existing(dir.path()).unwrap().num_docs(),
            0
        );
        // Recreating where nothing exists yet simply creates.
        let new_dir = dir.path().join("sub");
        assert_eq!(SearchIndex::recreate(&new_dir).unwrap().num_docs(), 0);
    }

    #[test]
    fn recreate_refuses_foreign_directories_and_locked_indexes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        assert!(matches!(
            SearchIndex::recreate(dir.path()),
            Err(IndexError::NotAnIndex { .. })
        ));
        assert!(dir.path().join("precious.txt").exists());

        let other = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(other.path()).unwrap();
        upsert_all(&idx, &[item("a", "one")]);
        let writer = idx.writer(20_000_000).unwrap();
        assert!(matches!(
            SearchIndex::recreate(other.path()),
            Err(IndexError::Locked { .. })
        ));
        assert_eq!(idx.num_docs(), 1, "nothing was deleted");
        drop(writer);
        assert_eq!(SearchIndex::recreate(other.path()).unwrap().num_docs(), 0);
    }

    #[test]
    fn second_writer_is_locked_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(dir.path()).unwrap();
        let first = idx.writer(1).unwrap(); // budget below the minimum is raised
        let other_handle = SearchIndex::open_existing(dir.path()).unwrap();
        for attempt in [idx.writer(20_000_000), other_handle.writer(20_000_000)] {
            match attempt {
                Err(e @ IndexError::Locked { .. }) => {
                    assert!(e.to_string().contains("is `serve` running?"));
                }
                Err(other) => panic!("expected Locked, got {other}"),
                Ok(_) => panic!("expected Locked, got a second writer"),
            }
        }
        drop(first);
        assert!(other_handle.writer(20_000_000).is_ok());
    }

    #[test]
    fn separately_opened_reader_sees_commits_after_reload() {
        let dir = tempfile::tempdir().unwrap();
        let writer_side = SearchIndex::open_or_create(dir.path()).unwrap();
        let cli_side = SearchIndex::open_existing(dir.path()).unwrap();
        upsert_all(&writer_side, &[item("a", "first"), item("b", "second")]);
        assert_eq!(
            writer_side.num_docs(),
            2,
            "writer's own reader sees the commit"
        );
        assert_eq!(cli_side.num_docs(), 0, "manual reload policy");
        cli_side.reload().unwrap();
        assert_eq!(cli_side.num_docs(), 2);
        // A handle opened after the commit sees it without reloading.
        assert_eq!(
            SearchIndex::open_existing(dir.path()).unwrap().num_docs(),
            2
        );
    }
}
