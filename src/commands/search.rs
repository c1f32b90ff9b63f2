//! `ballotwatch search QUERY`: query the index, show items from the store.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use ballotwatch_index::{IndexError, QueryLimits, SearchIndex, SearchRequest, SortOrder};
use ballotwatch_pipeline::Config;
use ballotwatch_store::StoredItem;

use crate::commands::UsageError;
use ballotwatch_pipeline::index_dir;

/// Prints matching items, best first (or newest first).
pub fn run(
    config: &Config,
    query: &str,
    limit: usize,
    offset: usize,
    sort: SortOrder,
    json: bool,
) -> anyhow::Result<u8> {
    let index = SearchIndex::open_existing(&index_dir(config))?
        .with_query_limits(QueryLimits::from(&config.limits));
    let store = super::open_item_store(config)?;
    let results = index
        .search(&SearchRequest {
            query: query.to_string(),
            limit,
            offset,
            sort,
            filters: Vec::new(),
        })
        .map_err(|e| match e {
            // The user's to fix (malformed, too long, too deeply nested): exit code 2.
            IndexError::Query { .. } => anyhow::Error::new(UsageError(e.to_string())),
            other => other.into(),
        })?;
    let ids: Vec<String> = results.hits.iter().map(|h| h.id.clone()).collect();
    // In cluster mode the items are in PostgreSQL, not in this node's data folder.
    let items = ids
        .iter()
        .filter_map(|id| store.get_item(id).transpose())
        .collect::<Result<Vec<StoredItem>, _>>()?;
    let by_id: std::collections::HashMap<&str, &StoredItem> =
        items.iter().map(|s| (s.item.id.as_str(), s)).collect();

    let mut out = std::io::stdout().lock();
    if json {
        for hit in &results.hits {
            let Some(stored) = by_id.get(hit.id.as_str()) else {
                tracing::warn!(id = %hit.id, "in the index but not in the store: run `ballotwatch reindex`");
                continue;
            };
            writeln!(out, "{}", result_json(stored, &hit.snippet, hit.score)?)?;
        }
        return Ok(0);
    }

    let bold = std::io::stdout().is_terminal();
    let shown_to = offset + results.hits.len();
    writeln!(
        out,
        "{} result{} for {query:?}{}",
        results.total,
        if results.total == 1 { "" } else { "s" },
        if results.hits.is_empty() {
            String::new()
        } else {
            format!(" (showing {}-{shown_to})", offset + 1)
        }
    )?;
    let facet_line = |name: &str, f: &[(String, u64)]| {
        (!f.is_empty()).then(|| {
            let parts: Vec<String> = f.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!("  {name}: {}", parts.join(", "))
        })
    };
    for line in [
        facet_line("sources", &results.facets.sources),
        facet_line("kinds", &results.facets.kinds),
        facet_line("severity", &results.facets.severities),
    ]
    .into_iter()
    .flatten()
    {
        writeln!(out, "{line}")?;
    }
    for (n, hit) in results.hits.iter().enumerate() {
        let Some(stored) = by_id.get(hit.id.as_str()) else {
            continue;
        };
        let item = &stored.item;
        let severity = stored
            .result
            .as_ref()
            .filter(|r| r.flagged)
            .map(|r| format!("[{}] ", r.severity.as_str().to_uppercase()))
            .unwrap_or_default();
        let when = item
            .published_at
            .or(item.ingested_at)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let title = item.title.as_deref().unwrap_or("(untitled)");
        writeln!(out, "\n{}. {severity}{title}", offset + n + 1)?;
        writeln!(out, "   {} · {when} · id {}", item.source.name, item.id)?;
        writeln!(out, "   {}", snippet_for_terminal(&hit.snippet, bold))?;
        if let Some(url) = &item.url {
            writeln!(out, "   {url}")?;
        }
    }
    Ok(0)
}

/// The `--json` line: the item, its classification, the highlighted snippet and its incident.
pub fn result_json(stored: &StoredItem, snippet: &str, score: f32) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(&stored.item)?;
    let obj = value
        .as_object_mut()
        .context("an item did not serialize as a JSON object")?;
    let (flagged, severity, verdicts) = match &stored.result {
        Some(r) => (r.flagged, r.severity, serde_json::to_value(&r.verdicts)?),
        None => (
            false,
            ballotwatch_core::Severity::None,
            serde_json::json!([]),
        ),
    };
    obj.insert("verdicts".into(), verdicts);
    obj.insert("flagged".into(), flagged.into());
    obj.insert("severity".into(), severity.as_str().into());
    obj.insert("snippet".into(), snippet.into());
    obj.insert("score".into(), serde_json::json!(score));
    if let Some(incident) = stored.incident_id() {
        obj.insert("incident_id".into(), incident.into());
        let all: Vec<i64> = stored.incidents.iter().map(|i| i.id).collect();
        obj.insert("incident_ids".into(), all.into());
    }
    Ok(serde_json::to_string(&value)?)
}

/// Turns the index's HTML snippet into terminal text: highlights in bold (or `**…**` when not a
/// terminal), entities decoded, whitespace folded.
fn snippet_for_terminal(html: &str, bold: bool) -> String {
    let (on, off) = if bold {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("**", "**")
    };
    let marked = html.replace("<b>", on).replace("</b>", off);
    let text = html_escape::decode_html_entities(&marked);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_readable_in_a_terminal() {
        let s = snippet_for_terminal("the <b>polling</b> &amp; <b>station</b>\n&lt;x&gt;", false);
        assert_eq!(s, "the **polling** & **station** <x>");
        let s = snippet_for_terminal("<b>vote</b>", true);
        assert_eq!(s, "\x1b[1mvote\x1b[0m");
    }
}
