//! The index's single writer: upserts keyed by item id, commits that become visible at once.

use std::path::PathBuf;

use tantivy::{IndexReader, TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::schema::{to_document, Fields, IndexDoc};

/// The one writer of an index (see [`crate::SearchIndex::writer`]). Changes are invisible
/// until [`IndexWriter::commit`]; dropping the writer without committing discards them.
pub struct IndexWriter {
    inner: tantivy::IndexWriter<TantivyDocument>,
    fields: Fields,
    reader: IndexReader,
    dir: PathBuf,
    pending: u64,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("dir", &self.dir)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl IndexWriter {
    pub(crate) fn new(
        inner: tantivy::IndexWriter<TantivyDocument>,
        fields: Fields,
        reader: IndexReader,
        dir: PathBuf,
    ) -> IndexWriter {
        IndexWriter {
            inner,
            fields,
            reader,
            dir,
            pending: 0,
        }
    }

    fn context(&self, what: &str) -> String {
        format!("{what} the search index at `{}`", self.dir.display())
    }

    /// Replaces the document for the item's id with this one (or adds it).
    ///
    /// Fails with [`IndexError::EmptyId`] for an item without an id.
    pub fn upsert(&mut self, doc: &IndexDoc<'_>) -> Result<()> {
        let id = doc.item.id.as_str();
        if id.trim().is_empty() {
            return Err(IndexError::EmptyId {
                source_name: doc.item.source.name.clone(),
                url: doc.item.url.clone(),
            });
        }
        self.inner
            .delete_term(Term::from_field_text(self.fields.id, id));
        let document = to_document(&self.fields, doc);
        self.inner
            .add_document(document)
            .map_err(|e| IndexError::tantivy(self.context("adding an item to"), e))?;
        self.pending += 1;
        Ok(())
    }

    /// Removes the document for an item id, if there is one.
    pub fn delete(&mut self, id: &str) {
        self.inner
            .delete_term(Term::from_field_text(self.fields.id, id));
        self.pending += 1;
    }

    /// Removes every document (takes effect on commit; also discards uncommitted changes).
    pub fn delete_all(&mut self) -> Result<()> {
        self.inner
            .delete_all_documents()
            .map_err(|e| IndexError::tantivy(self.context("emptying"), e))?;
        self.pending += 1;
        Ok(())
    }

    /// How many changes were made since the last commit.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Makes every change durable and visible to searches through this process's handles.
    pub fn commit(&mut self) -> Result<()> {
        self.inner
            .commit()
            .map_err(|e| IndexError::tantivy(self.context("committing"), e))?;
        tracing::debug!(dir = %self.dir.display(), changes = self.pending, "index committed");
        self.pending = 0;
        self.reader
            .reload()
            .map_err(|e| IndexError::tantivy(self.context("reloading"), e))
    }

    /// Discards uncommitted changes (for example after a failed batch).
    pub fn rollback(&mut self) -> Result<()> {
        self.inner
            .rollback()
            .map_err(|e| IndexError::tantivy(self.context("rolling back changes to"), e))?;
        self.pending = 0;
        Ok(())
    }

    /// Releases the writer after background segment merges finish: call on clean shutdown,
    /// after the last commit. Uncommitted changes are discarded.
    pub fn close(self) -> Result<()> {
        let context = self.context("finishing merges in");
        self.inner
            .wait_merging_threads()
            .map_err(|e| IndexError::tantivy(context, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{item, search_ids, upsert_all};
    use crate::SearchIndex;
    use ballotwatch_core::Item;

    #[test]
    fn upsert_twice_keeps_one_doc_with_the_latest_content() {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(dir.path()).unwrap();
        upsert_all(&idx, &[item("same", "original wording about turnips")]);
        upsert_all(&idx, &[item("same", "edited wording about parsnips")]);
        assert_eq!(idx.num_docs(), 1);
        assert!(search_ids(&idx, "turnips").is_empty());
        assert_eq!(search_ids(&idx, "parsnips"), ["same"]);

        // Within one commit the later upsert wins too.
        let mut w = idx.writer(20_000_000).unwrap();
        for text in ["first beetroot", "second cabbage"] {
            let it = item("other", text);
            w.upsert(&IndexDoc {
                item: &it,
                result: None,
                incidents: &[],
            })
            .unwrap();
        }
        assert_eq!(w.pending(), 2);
        w.commit().unwrap();
        assert_eq!(w.pending(), 0);
        assert_eq!(idx.num_docs(), 2);
        assert!(search_ids(&idx, "beetroot").is_empty());
        assert_eq!(search_ids(&idx, "cabbage"), ["other"]);
    }

    #[test]
    fn delete_delete_all_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(dir.path()).unwrap();
        upsert_all(
            &idx,
            &[item("a", "one"), item("b", "two"), item("c", "three")],
        );
        let mut w = idx.writer(20_000_000).unwrap();
        w.delete("b");
        w.commit().unwrap();
        assert_eq!(idx.num_docs(), 2);

        let it = item("d", "four");
        w.upsert(&IndexDoc {
            item: &it,
            result: None,
            incidents: &[],
        })
        .unwrap();
        w.rollback().unwrap();
        w.commit().unwrap();
        assert_eq!(idx.num_docs(), 2, "rolled back upsert is gone");

        w.delete_all().unwrap();
        assert_eq!(idx.num_docs(), 2, "not visible before commit");
        w.commit().unwrap();
        assert_eq!(idx.num_docs(), 0);
        w.close().unwrap();
        // The lock is released once closed.
        assert!(idx.writer(20_000_000).is_ok());
    }

    #[test]
    fn items_without_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open_or_create(dir.path()).unwrap();
        let mut w = idx.writer(20_000_000).unwrap();
        let it = Item {
            url: Some("https://x.example/1".into()),
            text: Some("t".into()),
            ..Item::default()
        };
        let err = w
            .upsert(&IndexDoc {
                item: &it,
                result: None,
                incidents: &[],
            })
            .unwrap_err();
        assert!(matches!(err, IndexError::EmptyId { .. }));
        assert!(err.to_string().contains("https://x.example/1"));
        assert_eq!(w.pending(), 0);
    }
}
