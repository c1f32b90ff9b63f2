//! The search page: query box, filters, facet counts, highlighted snippets, sort and paging.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Extension;
use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use maud::{html, Markup, PreEscaped};

use crate::auth::Auth;
use crate::pages::{item_heading, layout, severity_badge, when_opt};
use crate::search::{self, SearchParams, PAGE_SIZE};
use crate::{AppState, WebError};

/// `GET /search`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(params): Query<SearchParams>,
) -> Result<(StatusCode, Markup), WebError> {
    let searched = !params.q.is_empty() || params.page.is_some() || has_filters(&params);
    let outcome = if searched {
        Some(search::run(&state, &auth.user.name, params.clone(), PAGE_SIZE).await)
    } else {
        None
    };
    // A query the index refuses (malformed, too long, too deeply nested) is answered 400 with
    // the form and the reason, so the user can fix it in place.
    let (outcome, error, status) = match outcome {
        Some(Ok(o)) => (Some(o), None, StatusCode::OK),
        Some(Err(e)) if e.status().is_client_error() => (None, Some(e.to_string()), e.status()),
        Some(Err(e)) => return Err(e),
        None => (None, None, StatusCode::OK),
    };
    let page = layout(
        "Search",
        Some(&auth),
        html! {
            form method="get" action="/search" role="search" {
                label for="q" { "Search words" }
                input id="q" name="q" type="search" value=(params.q) size="60"
                    aria-describedby="q-help";
                p id="q-help" class="muted" {
                    "Every word must match. Use \"quotes\" for phrases, OR, -word to exclude, * for everything."
                }
                div.filters {
                    (select("kind", "Kind", &params.kind, &VerdictKind::ALL.map(|k| k.as_str().to_string())))
                    (select("severity", "Severity", &params.severity, &Severity::ALL.map(|s| s.to_string())))
                    (select("status", "Incident status", &params.status, &IncidentStatus::ALL.map(|s| s.as_str().to_string())))
                    (select("flagged", "Flagged", &params.flagged, &["true".to_string(), "false".to_string()]))
                    div { label for="label" { "Label" } input id="label" name="label" type="text" value=(params.label); }
                    div { label for="source" { "Source" } input id="source" name="source" type="text" value=(params.source); }
                    div { label for="from" { "Published from" } input id="from" name="from" type="date" value=(params.from); }
                    div { label for="to" { "Published to" } input id="to" name="to" type="date" value=(params.to); }
                    div {
                        label for="sort" { "Order" }
                        select id="sort" name="sort" {
                            option value="relevance" selected[params.sort != "newest"] { "Best match" }
                            option value="newest" selected[params.sort == "newest"] { "Newest first" }
                        }
                    }
                }
                button type="submit" { "Search" }
            }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(o) = outcome {
                h2 { (o.total) " result" @if o.total != 1 { "s" } }
                div.results {
                    nav.facets aria-label="Refine the results" {
                        (facet("Kind", "kind", &o.facets.kinds, &params))
                        (facet("Severity", "severity", &o.facets.severities, &params))
                        (facet("Source", "source", &o.facets.sources, &params))
                        (facet("Label", "label", &o.facets.labels, &params))
                        p { "Flagged: " (o.facets.flagged) }
                    }
                    div {
                        @for f in &o.hits {
                            @let item = &f.stored.item;
                            @let result = f.stored.result.as_ref();
                            article.hit {
                                h3 {
                                    @match f.stored.incident_id() {
                                        Some(id) => a href=(format!("/incidents/{id}")) { (item_heading(item)) },
                                        None => a href=(format!("/items/{}", item.id)) { (item_heading(item)) },
                                    }
                                }
                                p.snippet { (PreEscaped(&f.snippet)) }
                                p.muted {
                                    (item.source.name) " · " (when_opt(item.published_at.as_ref()))
                                    @if let Some(r) = result.filter(|r| r.flagged) { " · flagged " (severity_badge(r.severity)) }
                                    @if let Some(id) = f.stored.incident_id() { " · incident " (id) }
                                }
                            }
                        }
                        @let pages = o.total.div_ceil(PAGE_SIZE);
                        @if pages > 1 {
                            nav aria-label="Pages" {
                                @if o.page > 1 { a href=(page_link(&params, o.page - 1)) rel="prev" { "Previous" } " " }
                                "Page " (o.page) " of " (pages)
                                @if o.page < pages { " " a href=(page_link(&params, o.page + 1)) rel="next" { "Next" } }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok((status, page))
}

fn has_filters(p: &SearchParams) -> bool {
    [
        &p.kind,
        &p.label,
        &p.severity,
        &p.source,
        &p.from,
        &p.to,
        &p.flagged,
        &p.status,
    ]
    .iter()
    .any(|v| !v.is_empty())
}

/// A labelled `<select>` with an "any" choice.
fn select(name: &str, label: &str, current: &str, options: &[String]) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" { "Any" }
                @for o in options {
                    option value=(o) selected[o == current] { (o.replace('_', " ")) }
                }
            }
        }
    }
}

/// One facet's counts as links that add the filter.
fn facet(title: &str, field: &str, counts: &[(String, u64)], params: &SearchParams) -> Markup {
    html! {
        @if !counts.is_empty() {
            h3 { (title) }
            ul {
                @for (value, n) in counts.iter().take(10) {
                    li { a href=(facet_link(params, field, value)) { (value) } " (" (n) ")" }
                }
            }
        }
    }
}

/// The search with `field` set to `value`, from the first page.
fn facet_link(params: &SearchParams, field: &str, value: &str) -> String {
    let mut p = params.clone();
    p.page = None;
    let slot = match field {
        "kind" => &mut p.kind,
        "severity" => &mut p.severity,
        "source" => &mut p.source,
        _ => &mut p.label,
    };
    *slot = value.to_string();
    link(&p)
}

fn page_link(params: &SearchParams, page: usize) -> String {
    let mut p = params.clone();
    p.page = Some(page);
    link(&p)
}

/// `/search?…` for these parameters (blank ones left out).
fn link(p: &SearchParams) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    {
        for (k, v) in [
            ("q", &p.q),
            ("kind", &p.kind),
            ("label", &p.label),
            ("severity", &p.severity),
            ("source", &p.source),
            ("from", &p.from),
            ("to", &p.to),
            ("flagged", &p.flagged),
            ("status", &p.status),
            ("sort", &p.sort),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(page) = p.page {
            q.append_pair("page", &page.to_string());
        }
    }
    format!("/search?{}", q.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_filters_and_escape_values() {
        let p = SearchParams {
            q: "a&b".into(),
            source: "Anytown Echo".into(),
            page: Some(2),
            ..Default::default()
        };
        assert_eq!(link(&p), "/search?q=a%26b&source=Anytown+Echo&page=2");
        assert_eq!(
            page_link(&p, 3),
            "/search?q=a%26b&source=Anytown+Echo&page=3"
        );
    }
}
