//! Running a search: hits in relevance or newest-first order, highlighted snippets, and facet
//! counts over every matching document.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::{Collector, Count, FacetCollector, FacetCounts, TopDocs};
use tantivy::query::{AllQuery, Query};
use tantivy::schema::{Facet, Field, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Order, Score, Searcher, TantivyDocument};

use crate::error::{IndexError, Result};
use crate::index::SearchIndex;
use crate::query::QueryLimits;
use crate::schema::{
    FACETS_FIELD, FACET_FLAGGED, FACET_KIND, FACET_LABEL, FACET_SEVERITY, FACET_SOURCE,
};

/// The most hits one search returns; larger limits are lowered to this.
pub const MAX_LIMIT: usize = 1000;

/// Roughly how many characters a snippet holds.
const SNIPPET_CHARS: usize = 200;

/// A search as the user asked for it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query (see the crate docs for the language). Blank means `*`.
    pub query: String,
    /// How many hits to return (at most [`MAX_LIMIT`]); 0 returns only counts and facets.
    pub limit: usize,
    /// How many hits to skip, for paging.
    pub offset: usize,
    /// The order of hits.
    pub sort: SortOrder,
    /// Clauses the program adds (a form's filters, an incident's items), each ANDed with the
    /// query. The query limits' length does not apply to them (an incident filter names up to
    /// a thousand items), their nesting does.
    pub filters: Vec<String>,
}

impl SearchRequest {
    /// A request for the first `limit` hits of `query`, most relevant first.
    pub fn new(query: impl Into<String>, limit: usize) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            limit,
            offset: 0,
            sort: SortOrder::Relevance,
            filters: Vec::new(),
        }
    }

    /// The text Tantivy parses: `(query) AND filter AND …`, or the query alone (`*` when
    /// blank) without filters.
    pub fn index_query(&self) -> String {
        let typed = self.query.trim();
        if self.filters.is_empty() {
            return if typed.is_empty() { "*" } else { typed }.to_string();
        }
        let mut parts = Vec::with_capacity(self.filters.len() + 1);
        if !typed.is_empty() {
            parts.push(format!("({typed})"));
        }
        parts.extend(self.filters.iter().cloned());
        parts.join(" AND ")
    }
}

/// The order of hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Best match first (ties: newest first).
    #[default]
    #[serde(alias = "Relevance")]
    Relevance,
    /// Newest first by publication time, or ingest time when there is none (ties: best match).
    #[serde(alias = "Newest")]
    Newest,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// How many documents match in all (not just this page).
    pub total: usize,
    /// This page of hits.
    pub hits: Vec<Hit>,
    /// Counts over every matching document.
    pub facets: Facets,
}

/// One matching item.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The item id (look the item up in the store).
    pub id: String,
    /// The relevance score (BM25; 1 for match-all).
    pub score: f32,
    /// HTML-escaped fragment of title or text with matched words wrapped in <b>…</b>; for `*` or
    /// filter-only queries, the escaped start of the text (~200 chars).
    pub snippet: String,
}

/// Facet counts over every matching document, each list sorted by count (highest first),
/// then by name.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Facets {
    /// Verdict kinds.
    pub kinds: Vec<(String, u64)>,
    /// Verdict labels.
    pub labels: Vec<(String, u64)>,
    /// Source names.
    pub sources: Vec<(String, u64)>,
    /// Severities.
    pub severities: Vec<(String, u64)>,
    /// How many matching documents are flagged.
    pub flagged: u64,
}

const FACET_ROOTS: [&str; 5] = [
    FACET_KIND,
    FACET_LABEL,
    FACET_SOURCE,
    FACET_SEVERITY,
    FACET_FLAGGED,
];

/// Facet counts by root (`kind`, `source`, …): each root's values with their counts.
type FacetTally = BTreeMap<String, Vec<(String, u64)>>;

fn tally_of(counts: &FacetCounts) -> FacetTally {
    FACET_ROOTS
        .iter()
        .map(|root| {
            let values = counts
                .get(Facet::from_path([*root]))
                .filter_map(|(facet, n)| facet.to_path().last().map(|v| (v.to_string(), n)))
                .collect();
            (root.to_string(), values)
        })
        .collect()
}

/// Facet counts over every live document without visiting the documents: each facet value's
/// document frequency from the term dictionary, less the deleted documents (items re-indexed
/// since the segment was written) that carry it. What a blank search (`*`, the search page's
/// first view) shows; the same counts [`FacetCollector`] gives, at the cost of the deleted
/// documents only.
fn tally_of_all(searcher: &Searcher, field: Field) -> tantivy::Result<FacetTally> {
    let mut by_facet: BTreeMap<Facet, u64> = BTreeMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut terms = inverted.terms().stream()?;
        while terms.advance() {
            let facet = Facet::from_encoded(terms.key().to_vec())
                .map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
            *by_facet.entry(facet).or_default() += u64::from(terms.value().doc_freq);
        }
        let Some(alive) = segment.alive_bitset() else {
            continue;
        };
        let column = segment.facet_reader(FACETS_FIELD)?;
        let mut facet = Facet::root();
        for doc in (0..segment.max_doc()).filter(|d| !alive.is_alive(*d)) {
            let mut previous = None;
            for ord in column.facet_ords(doc) {
                // A document counts once per facet, as in the term's document frequency.
                if previous.replace(ord) == Some(ord) {
                    continue;
                }
                column.facet_from_ord(ord, &mut facet)?;
                if let Some(n) = by_facet.get_mut(&facet) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    let mut tally = FacetTally::new();
    for (facet, n) in by_facet {
        if let [root, value] = facet.to_path().as_slice() {
            if n > 0 && FACET_ROOTS.contains(root) {
                tally
                    .entry(root.to_string())
                    .or_default()
                    .push((value.to_string(), n));
            }
        }
    }
    Ok(tally)
}

fn facet_list(tally: &FacetTally, root: &str) -> Vec<(String, u64)> {
    let mut list = tally.get(root).cloned().unwrap_or_default();
    list.sort_by(|a, b| (Reverse(a.1), &a.0).cmp(&(Reverse(b.1), &b.0)));
    list
}

fn facets_from(tally: &FacetTally) -> Facets {
    let flagged = facet_list(tally, FACET_FLAGGED)
        .into_iter()
        .find(|(v, _)| v == "true")
        .map_or(0, |(_, n)| n);
    Facets {
        kinds: facet_list(tally, FACET_KIND),
        labels: facet_list(tally, FACET_LABEL),
        sources: facet_list(tally, FACET_SOURCE),
        severities: facet_list(tally, FACET_SEVERITY),
        flagged,
    }
}

/// The escaped start of `text`, cut at a word boundary near `max_chars`, with `…` when cut.
fn leading_excerpt(text: &str, max_chars: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return html_escape::encode_quoted_attribute(&collapsed).into_owned();
    }
    let cut: String = collapsed.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max_chars / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", html_escape::encode_quoted_attribute(cut.trim_end()))
}

/// A page of hits: each one's score and address.
type PageHits = Vec<(Score, DocAddress)>;

/// Runs `query` through `extra` (counts, facets) and, unless `range` is empty, the page of
/// hits in `range` in `sort` order.
fn collect_page<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    sort: SortOrder,
    range: Range<usize>,
    extra: C,
) -> tantivy::Result<(C::Fruit, PageHits)> {
    if range.is_empty() {
        return Ok((searcher.search(query, &extra)?, Vec::new()));
    }
    let page = TopDocs::for_doc_range(range);
    let time = || SortByStaticFastValue::<tantivy::DateTime>::for_field("time");
    Ok(match sort {
        SortOrder::Relevance => {
            let top = page.order_by(((SortBySimilarityScore, Order::Desc), (time(), Order::Desc)));
            let (fruit, top) = searcher.search(query, &(extra, top))?;
            (fruit, top.into_iter().map(|((s, _), a)| (s, a)).collect())
        }
        SortOrder::Newest => {
            let top = page.order_by(((time(), Order::Desc), (SortBySimilarityScore, Order::Desc)));
            let (fruit, top) = searcher.search(query, &(extra, top))?;
            (fruit, top.into_iter().map(|((_, s), a)| (s, a)).collect())
        }
    })
}

struct Snippets {
    text: SnippetGenerator,
    title: SnippetGenerator,
}

impl SearchIndex {
    /// Runs a search. Query problems (syntax, unknown fields, bad values) are
    /// [`IndexError::Query`] with an explanation.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults> {
        crate::query::check(&req.query, &self.query_limits)?;
        let unbounded_length = QueryLimits {
            max_length: usize::MAX,
            ..self.query_limits
        };
        for filter in &req.filters {
            crate::query::check(filter, &unbounded_length)?;
        }
        let query = crate::query::parse(&self.parser, &req.index_query(), &req.query)?;
        let searcher = self.reader.searcher();

        let limit = req.limit.min(MAX_LIMIT);
        // No page can start past the last document; this also bounds the collector's memory.
        let offset = req
            .offset
            .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        let range = offset..offset.saturating_add(limit);

        let run_error = |e: tantivy::TantivyError| match crate::query::explain_search_error(&e) {
            Some(message) => IndexError::Query {
                query: req.query.clone(),
                message,
            },
            None => IndexError::tantivy(
                format!("searching the search index at `{}`", self.dir.display()),
                e,
            ),
        };

        let (total, tally, page_hits) = if query.downcast_ref::<AllQuery>().is_some() {
            let (total, hits) =
                collect_page(&searcher, &*query, req.sort, range, Count).map_err(run_error)?;
            let tally = tally_of_all(&searcher, self.fields.facets).map_err(run_error)?;
            (total, tally, hits)
        } else {
            let mut facet_collector = FacetCollector::for_field(FACETS_FIELD);
            for root in FACET_ROOTS {
                facet_collector.add_facet(Facet::from_path([root]));
            }
            let ((total, counts), hits) = collect_page(
                &searcher,
                &*query,
                req.sort,
                range,
                (Count, facet_collector),
            )
            .map_err(run_error)?;
            (total, tally_of(&counts), hits)
        };

        let hits = if page_hits.is_empty() {
            Vec::new()
        } else {
            let snippets = self.snippet_generators(&searcher, &*query)?;
            let mut hits = Vec::with_capacity(page_hits.len());
            for (score, address) in page_hits {
                if let Some(hit) = self.hit(&searcher, &snippets, score, address)? {
                    hits.push(hit);
                }
            }
            hits
        };

        Ok(SearchResults {
            total,
            hits,
            facets: facets_from(&tally),
        })
    }

    fn snippet_generators(&self, searcher: &Searcher, query: &dyn Query) -> Result<Snippets> {
        let make = |field| {
            SnippetGenerator::create(searcher, query, field)
                .map(|mut g| {
                    g.set_max_num_chars(SNIPPET_CHARS);
                    g
                })
                .map_err(|e| {
                    IndexError::tantivy(
                        format!("highlighting results from `{}`", self.dir.display()),
                        e,
                    )
                })
        };
        Ok(Snippets {
            text: make(self.fields.text)?,
            title: make(self.fields.title)?,
        })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        snippets: &Snippets,
        score: Score,
        address: DocAddress,
    ) -> Result<Option<Hit>> {
        let doc: TantivyDocument = searcher.doc(address).map_err(|e| {
            IndexError::tantivy(format!("reading a result from `{}`", self.dir.display()), e)
        })?;
        let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_str()) else {
            // Every document is written with an id; one without is damage, not a result.
            tracing::warn!(
                dir = %self.dir.display(),
                ?address,
                "index document without id skipped"
            );
            return Ok(None);
        };
        let snippet = self.snippet(&doc, snippets);
        Ok(Some(Hit {
            id: id.to_string(),
            score,
            snippet,
        }))
    }

    /// Highlighted text if the query matched words in it, else highlighted title, else the
    /// start of the text (or title).
    fn snippet(&self, doc: &TantivyDocument, snippets: &Snippets) -> String {
        let text = snippets.text.snippet_from_doc(doc);
        if !text.highlighted().is_empty() {
            return text.to_html();
        }
        let title = snippets.title.snippet_from_doc(doc);
        if !title.highlighted().is_empty() {
            return title.to_html();
        }
        let first = |field| doc.get_first(field).and_then(|v| v.as_str());
        let start = first(self.fields.text)
            .filter(|t| !t.trim().is_empty())
            .or_else(|| first(self.fields.title))
            .unwrap_or("");
        leading_excerpt(start, SNIPPET_CHARS)
    }
}

#[cfg(test)]
mod tests;
