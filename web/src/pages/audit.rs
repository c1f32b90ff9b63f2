//! The audit log page (admins): every login, search, incident view and change, newest first.

use axum::extract::State;
use axum::Extension;
use ballotwatch_store::Role;
use maud::{html, Markup};

use crate::auth::Auth;
use crate::pages::{layout, when};
use crate::{AppState, WebError};

/// Entries shown.
const LIMIT: usize = 500;

/// `GET /audit`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    auth.require(Role::Admin)?;
    let entries = state.blocking(|s| Ok(s.audit_entries(LIMIT)?)).await?;
    Ok(layout(
        "Audit log",
        Some(&auth),
        html! {
            p.muted { "The newest " (entries.len()) " entries. The log is append-only." }
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Details" } } }
                tbody {
                    @for e in &entries {
                        tr { td { (when(&e.at)) } td { (e.actor) } td { (e.action) } td { code { (e.detail) } } }
                    }
                }
            }
        },
    ))
}
