//! # ballotwatch-index
//!
//! Ballotwatch's full-text search index: this crate owns the Tantivy schema (one document per
//! item id, holding the latest version of the item with its verdicts and incident), the single
//! writer, query parsing, and search results with highlighted snippets and facet counts. It is
//! never the source of truth — the store is — so anything here can be thrown away and rebuilt
//! with `ballotwatch reindex` ([`SearchIndex::recreate`] then one [`IndexWriter::upsert`] per
//! item); an index built by a build with a different schema refuses to open with
//! [`IndexError::SchemaChanged`] rather than answering wrongly.
//!
//! ## Query language
//! Words are searched in `title` (counting double), `text` and `author`, English-stemmed
//! (`vote` finds "voting"), and every word must match; `OR`, `AND`, `NOT`/`-`, parentheses and
//! `"quoted phrases"` work as usual, and `*` (or a blank query) matches everything. Filters:
//! `source:"Anytown Echo"`, `source_kind:rss`, `kind:impersonation`, `label:lookalike_domain`,
//! `severity:high`, `term:"polling station"`, `url:"https://…"`, `id:…` (all case-insensitive
//! whole values), `flagged:true`, `incident_id:42`, `max_score:[0.8 TO 1]`, and date ranges such
//! as `published_at:[2026-05-01T00:00:00Z TO 2026-05-02T00:00:00Z]` (also `ingested_at`).
//!
//! A query longer or more deeply nested than its [`QueryLimits`] (`[limits] max_query_length`
//! and `max_query_depth`) is refused with [`IndexError::Query`] before Tantivy's parser, which
//! recurses once per bracket or `NOT`, sees it.
//!
//! ## Concurrency
//! One process writes (it holds the index lock; others get [`IndexError::Locked`]). Readers
//! see the index as of open or the last [`SearchIndex::reload`]; a writer's commit is visible at
//! once to every clone of the [`SearchIndex`] it came from.

#![warn(missing_docs)]

pub mod config;
mod error;
mod index;
mod query;
mod schema;
mod search;
mod writer;

#[cfg(test)]
mod test_support;

pub use config::IndexConfig;
pub use error::{IndexError, Result};
pub use index::SearchIndex;
pub use query::QueryLimits;
pub use schema::{IndexDoc, SCHEMA_VERSION, VERSION_FILE};
pub use search::{Facets, Hit, SearchRequest, SearchResults, SortOrder, MAX_LIMIT};
pub use writer::IndexWriter;
