//! Search shared by the page and the API: filters turned into the index's query language,
//! the search itself, and the hits joined with the stored items.

use ballotwatch_core::IncidentStatus;
use ballotwatch_index::{Facets, SearchRequest, SortOrder};
use ballotwatch_store::StoredItem;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::sanitize;
use crate::{AppState, WebError};

/// Hits per page.
pub(crate) const PAGE_SIZE: usize = 20;

/// A search as the page's form or the API's query string sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// Query in the index's language.
    #[serde(default)]
    pub q: String,
    /// Verdict kind.
    #[serde(default)]
    pub kind: String,
    /// Verdict label.
    #[serde(default)]
    pub label: String,
    /// Severity.
    #[serde(default)]
    pub severity: String,
    /// Source name.
    #[serde(default)]
    pub source: String,
    /// Published on or after this day (`YYYY-MM-DD`).
    #[serde(default)]
    pub from: String,
    /// Published on or before this day (`YYYY-MM-DD`).
    #[serde(default)]
    pub to: String,
    /// `true`, `false` or blank.
    #[serde(default)]
    pub flagged: String,
    /// Status of one of the item's incidents (an index term: items are indexed again when
    /// they join an incident or its status changes).
    #[serde(default)]
    pub status: String,
    /// `relevance` (default) or `newest`.
    #[serde(default)]
    pub sort: String,
    /// Page number, from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

/// One hit with its stored item.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The item (latest version) with its verdicts and incident.
    pub stored: StoredItem,
    /// Snippet with only `<b>` tags left.
    pub snippet: String,
    /// Relevance score.
    pub score: f32,
}

/// A page of results.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The query sent to the index.
    pub query: String,
    /// Matches in all.
    pub total: usize,
    /// This page.
    pub hits: Vec<Found>,
    /// Facet counts over all matches.
    pub facets: Facets,
    /// Page number, from 1.
    pub page: usize,
}

/// A filter value as a quoted term (quotes and backslashes, which cannot occur in the values
/// the facets offer, are dropped).
fn quoted(v: &str) -> String {
    let clean: String = v.chars().filter(|c| *c != '"' && *c != '\\').collect();
    format!("\"{}\"", clean.trim())
}

fn day(v: &str, field: &str) -> Result<NaiveDate, WebError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
        WebError::BadRequest(format!(
            "`{field}` must be a date such as 2026-05-01, not {v:?}"
        ))
    })
}

impl SearchParams {
    /// The sort order asked for.
    pub(crate) fn sort_order(&self) -> Result<SortOrder, WebError> {
        match self.sort.as_str() {
            "" | "relevance" => Ok(SortOrder::Relevance),
            "newest" => Ok(SortOrder::Newest),
            other => Err(WebError::BadRequest(format!(
                "`sort` is `relevance` or `newest`, not {other:?}"
            ))),
        }
    }

    /// The index request: the typed query (held to `[limits]`'s query length and nesting by
    /// the index) AND each filter, in the order asked for.
    pub(crate) fn index_request(&self) -> Result<SearchRequest, WebError> {
        let mut parts = Vec::new();
        for (field, value) in [
            ("kind", &self.kind),
            ("label", &self.label),
            ("severity", &self.severity),
            ("source", &self.source),
        ] {
            if !value.trim().is_empty() {
                parts.push(format!("{field}:{}", quoted(value)));
            }
        }
        match self.flagged.as_str() {
            "" => {}
            "true" | "false" => parts.push(format!("flagged:{}", self.flagged)),
            other => {
                return Err(WebError::BadRequest(format!(
                    "`flagged` is `true` or `false`, not {other:?}"
                )))
            }
        }
        if !self.from.trim().is_empty() || !self.to.trim().is_empty() {
            let from = if self.from.trim().is_empty() {
                "1970-01-01T00:00:00Z".to_string()
            } else {
                format!("{}T00:00:00Z", day(&self.from, "from")?)
            };
            let to = if self.to.trim().is_empty() {
                "2999-12-31T23:59:59Z".to_string()
            } else {
                format!("{}T23:59:59Z", day(&self.to, "to")?)
            };
            parts.push(format!("published_at:[{from} TO {to}]"));
        }
        if !self.status.is_empty() {
            let status: IncidentStatus = self
                .status
                .parse()
                .map_err(|e: String| WebError::BadRequest(format!("`status`: {e}")))?;
            parts.push(format!("incident_status:{}", quoted(status.as_str())));
        }
        let mut request = SearchRequest::new(self.q.trim(), 0);
        request.sort = self.sort_order()?;
        request.filters = parts;
        Ok(request)
    }
}

/// Runs a search and joins the hits with the store, writing the search to the audit log.
pub(crate) async fn run(
    state: &AppState,
    actor: &str,
    params: SearchParams,
    page_size: usize,
) -> Result<Outcome, WebError> {
    params.sort_order()?;
    let page = params.page.unwrap_or(1).max(1);
    let index = state.index.clone();
    let actor = actor.to_string();
    state
        .blocking(move |store| {
            store.audit(
                &actor,
                "search",
                &serde_json::to_value(&params).unwrap_or_default(),
            )?;
            let mut request = params.index_request()?;
            index.reload()?;
            request.limit = page_size;
            request.offset = (page - 1).saturating_mul(page_size);
            let results = index.search(&request)?;
            let ids: Vec<String> = results.hits.iter().map(|h| h.id.clone()).collect();
            let mut items = crate::get_items(store, &ids)?;
            let hits = results
                .hits
                .iter()
                .filter_map(|h| {
                    let pos = items.iter().position(|s| s.item.id == h.id)?;
                    Some(Found {
                        stored: items.swap_remove(pos),
                        snippet: sanitize::snippet(&h.snippet),
                        score: h.score,
                    })
                })
                .collect();
            Ok(Outcome {
                query: request.index_query(),
                total: results.total,
                hits,
                facets: results.facets,
                page,
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_an_index_query() {
        let p = SearchParams {
            q: "polling station".into(),
            kind: "misinformation".into(),
            source: "Anytown \"Echo\"".into(),
            flagged: "true".into(),
            from: "2026-05-01".into(),
            ..Default::default()
        };
        assert_eq!(
            p.index_request().unwrap().index_query(),
            "(polling station) AND kind:\"misinformation\" AND source:\"Anytown Echo\" AND \
             flagged:true AND published_at:[2026-05-01T00:00:00Z TO 2999-12-31T23:59:59Z]"
        );
        assert_eq!(
            SearchParams::default()
                .index_request()
                .unwrap()
                .index_query(),
            "*"
        );
    }

    #[test]
    fn bad_filters_are_explained() {
        let bad = |p: SearchParams| p.index_request().unwrap_err().to_string();
        assert!(bad(SearchParams {
            from: "May 1".into(),
            ..Default::default()
        })
        .contains("`from`"));
        assert!(bad(SearchParams {
            flagged: "yes".into(),
            ..Default::default()
        })
        .contains("`flagged`"));
        assert!(bad(SearchParams {
            status: "open".into(),
            ..Default::default()
        })
        .contains("unknown incident status"));
        assert!(SearchParams {
            sort: "oldest".into(),
            ..Default::default()
        }
        .sort_order()
        .is_err());
    }

    #[test]
    fn status_filter_is_an_index_term() {
        let p = SearchParams {
            q: "council".into(),
            status: "reported_to_platform".into(),
            ..Default::default()
        };
        assert_eq!(
            p.index_request().unwrap().index_query(),
            "(council) AND incident_status:\"reported_to_platform\""
        );
    }
}
