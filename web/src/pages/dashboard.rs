//! The dashboard: incidents over time by kind and by severity, incidents by status, top
//! narratives, the newest high-severity incidents and a source health summary.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Extension;
use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use ballotwatch_store::{DayCount, IncidentDetail, SourceState};
use chrono::{Duration, Utc};
use maud::{html, Markup};

use crate::auth::Auth;
use crate::chart;
use crate::pages::{incident_title, layout, severity_badge, status_words, when, when_opt};
use crate::{AppState, WebError};

/// Days shown in the over-time charts.
const DAYS: i64 = 14;

/// Everything the dashboard shows, read in one go.
struct Data {
    by_kind: Vec<DayCount>,
    by_severity: Vec<DayCount>,
    statuses: Vec<(IncidentStatus, u64)>,
    narratives: Vec<(String, u64)>,
    newest: Vec<IncidentDetail>,
    sources: Vec<SourceState>,
}

/// `GET /`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    let since = (Utc::now() - Duration::days(DAYS - 1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let data = state
        .blocking(move |s| {
            Ok(Data {
                by_kind: s.incidents_per_day(since, false)?,
                by_severity: s.incidents_per_day(since, true)?,
                statuses: s.incident_status_counts()?,
                narratives: s.top_narratives(Utc::now() - Duration::days(7), 10)?,
                newest: s.newest_incidents(Severity::High, 10)?,
                sources: s.source_states()?,
            })
        })
        .await?;
    let days: Vec<String> = (0..DAYS)
        .map(|i| (since + Duration::days(i)).format("%Y-%m-%d").to_string())
        .collect();
    let kinds: Vec<String> = VerdictKind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    let severities: Vec<String> = Severity::ALL[1..].iter().map(|s| s.to_string()).collect();
    let statuses: Vec<(String, u64)> = data
        .statuses
        .iter()
        .map(|(s, n)| (status_words(*s), *n))
        .collect();
    let failing = data
        .sources
        .iter()
        .filter(|s| s.consecutive_failures > 0)
        .count();
    Ok(layout(
        "Dashboard",
        Some(&auth),
        html! {
            div.grid2 {
                section aria-labelledby="h-status" {
                    h2 id="h-status" { "Incidents by status" }
                    (chart::hbars("chart-status", "Incidents by status", &statuses))
                }
                section aria-labelledby="h-newest" {
                    h2 id="h-newest" { "Newest high-severity incidents" }
                    @if data.newest.is_empty() { p.muted { "None." } }
                    ul {
                        @for d in &data.newest {
                            li {
                                a href=(format!("/incidents/{}", d.incident.id)) { (incident_title(&d.incident.title)) }
                                " " (severity_badge(d.incident.severity))
                                " — " (status_words(d.incident.status)) ", " span.when { (when(&d.incident.created_at)) }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="h-kind" {
                h2 id="h-kind" { "Incidents opened per day, by kind (last " (DAYS) " days)" }
                (chart::stacked_bars("chart-kind", "Incidents opened per day by kind", &days, &series(&days, &kinds, &data.by_kind)))
            }
            section aria-labelledby="h-sev" {
                h2 id="h-sev" { "Incidents opened per day, by severity" }
                (chart::stacked_bars("chart-severity", "Incidents opened per day by severity", &days, &series(&days, &severities, &data.by_severity)))
            }
            div.grid2 {
                section aria-labelledby="h-narr" {
                    h2 id="h-narr" { "Top false narratives (7 days)" }
                    @if data.narratives.is_empty() { p.muted { "None seen." } }
                    ol {
                        @for (n, count) in &data.narratives {
                            li { code { (n) } " — " (count) " item" @if *count != 1 { "s" } }
                        }
                    }
                }
                section aria-labelledby="h-src" {
                    h2 id="h-src" { "Source health" }
                    p { (data.sources.len()) " sources polled; "
                        @if failing == 0 { "all healthy." } @else { strong { (failing) " failing." } } }
                    table {
                        thead { tr { th scope="col" { "Source" } th scope="col" { "Last success" } th scope="col" { "Failures in a row" } } }
                        tbody {
                            @for s in &data.sources {
                                tr {
                                    td { (s.source) }
                                    td { (when_opt(s.last_success_at.as_ref())) }
                                    td { (s.consecutive_failures) }
                                }
                            }
                        }
                    }
                    p { a href="/sources" { "All source details" } }
                }
            }
        },
    ))
}

/// Per-group values for each day, in `groups` order, zeros filled in.
fn series(days: &[String], groups: &[String], counts: &[DayCount]) -> Vec<(String, Vec<u64>)> {
    let mut by: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for c in counts {
        *by.entry((c.day.as_str(), c.group.as_str())).or_default() += c.count;
    }
    groups
        .iter()
        .map(|g| {
            let values = days
                .iter()
                .map(|d| by.get(&(d.as_str(), g.as_str())).copied().unwrap_or(0))
                .collect();
            (g.clone(), values)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_fill_missing_days_with_zero() {
        let days = vec!["2026-05-01".to_string(), "2026-05-02".to_string()];
        let groups = vec!["a".to_string(), "b".to_string()];
        let counts = vec![DayCount {
            day: "2026-05-02".into(),
            group: "b".into(),
            count: 4,
        }];
        assert_eq!(
            series(&days, &groups, &counts),
            vec![("a".to_string(), vec![0, 0]), ("b".to_string(), vec![0, 4])]
        );
    }
}
