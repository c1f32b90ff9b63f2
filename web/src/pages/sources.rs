//! The sources page: each source's last success, last error and items stored today.

use axum::extract::State;
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};

use crate::auth::Auth;
use crate::pages::{layout, when_opt};
use crate::{AppState, WebError};

/// `GET /sources`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let (sources, today) = state
        .blocking(move |s| Ok((s.source_states()?, s.items_per_source_since(midnight)?)))
        .await?;
    Ok(layout(
        "Sources",
        Some(&auth),
        html! {
            @if sources.is_empty() { p.muted { "No source has been polled yet." } }
            table {
                thead { tr {
                    th scope="col" { "Source" } th scope="col" { "Health" } th scope="col" { "Last success" }
                    th scope="col" { "Items today" } th scope="col" { "Last error" } th scope="col" { "Next poll" }
                } }
                tbody {
                    @for s in &sources {
                        tr {
                            th scope="row" { (s.source) }
                            td { @if s.consecutive_failures == 0 { "OK" } @else { strong { "Failing (" (s.consecutive_failures) " in a row)" } }
                                @if let Some(d) = &s.last_dropped { br; small { (s.items_dropped) " entries left out in all; " (when_opt(s.last_dropped_at.as_ref())) ": " (d) } }
                            }
                            td { (when_opt(s.last_success_at.as_ref())) }
                            td { (today.iter().find(|(n, _)| *n == s.source).map_or(0, |(_, c)| *c)) }
                            td {
                                @if let Some(e) = &s.last_error {
                                    (when_opt(s.last_error_at.as_ref())) ": " (e)
                                    @if let Some(u) = &s.last_error_url { " (" code { (u) } ")" }
                                } @else { "—" }
                            }
                            td { (when_opt(s.next_attempt_at.as_ref())) }
                        }
                    }
                }
            }
        },
    ))
}
