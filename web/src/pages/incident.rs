//! Incidents and items: the incident list, the incident page (items as captured, verdicts,
//! sightings, the status workflow, assignee, notes, history), the item page, and media served
//! from the capture store.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use ballotwatch_core::{Capture, IncidentStatus};
use ballotwatch_store::{IncidentChange, IncidentDetail, Role, StoredItem};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use crate::auth::Auth;
use crate::pages::{
    incident_title, item_heading, layout, severity_badge, status_words, when, when_opt,
};
use crate::sanitize;
use crate::{AppState, WebError};

/// Incidents listed per page.
const LIST_LIMIT: usize = 200;

/// `?status=` of the incident list.
#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    #[serde(default)]
    status: String,
}

/// `GET /incidents`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(params): Query<ListParams>,
) -> Result<Markup, WebError> {
    let status = parse_status(&params.status)?;
    let incidents = state
        .blocking(move |s| Ok(s.list_incidents(status, LIST_LIMIT)?))
        .await?;
    Ok(layout(
        "Incidents",
        Some(&auth),
        html! {
            form method="get" action="/incidents" {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "Any" }
                    @for s in IncidentStatus::ALL {
                        option value=(s.as_str()) selected[status == Some(s)] { (status_words(s)) }
                    }
                }
                " " button type="submit" { "Show" }
            }
            (incident_table(&incidents))
        },
    ))
}

fn parse_status(s: &str) -> Result<Option<IncidentStatus>, WebError> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e: String| WebError::BadRequest(format!("`status`: {e}")))
}

/// A table of incidents with links.
pub(crate) fn incident_table(incidents: &[IncidentDetail]) -> Markup {
    html! {
        @if incidents.is_empty() { p.muted { "No incidents." } }
        @else {
            table {
                thead { tr {
                    th scope="col" { "Incident" } th scope="col" { "Kind" } th scope="col" { "Severity" }
                    th scope="col" { "Status" } th scope="col" { "Assignee" } th scope="col" { "Sightings" } th scope="col" { "Updated" }
                } }
                tbody {
                    @for d in incidents {
                        tr {
                            td { a href=(format!("/incidents/{}", d.incident.id)) { "#" (d.incident.id) " " (incident_title(&d.incident.title)) } }
                            td { (d.incident.kind) }
                            td { (severity_badge(d.incident.severity)) }
                            td { (status_words(d.incident.status)) }
                            td { (d.incident.assignee.as_deref().unwrap_or("—")) }
                            td { (d.sightings) }
                            td.when { (when(&d.incident.updated_at)) }
                        }
                    }
                }
            }
        }
    }
}

/// What the incident page shows.
struct IncidentView {
    detail: IncidentDetail,
    /// Reports that became its items: how many, first and last.
    reports: ballotwatch_store::ReportCount,
    /// Report bursts that raised its severity.
    bursts: Vec<ballotwatch_store::Burst>,
    items: Vec<(StoredItem, Option<Capture>)>,
    history: Vec<IncidentChange>,
}

/// `GET /incidents/{id}`; the view is written to the audit log.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    let actor = auth.user.name.clone();
    let view = state
        .blocking(move |s| {
            let detail = s
                .incident_detail(id)?
                .ok_or_else(|| WebError::NotFound(format!("there is no incident {id}")))?;
            s.audit(
                &actor,
                "incident.view",
                &serde_json::json!({ "incident_id": id }),
            )?;
            let ids = s.incident_item_ids(id)?;
            let items = with_captures(s, s.get_items(&ids)?)?;
            Ok(IncidentView {
                detail,
                reports: s.report_count(&ids)?,
                bursts: s.report_bursts(id)?,
                items,
                history: s.incident_history(id)?,
            })
        })
        .await?;
    let d = &view.detail;
    let inc = &d.incident;
    let can_work = auth.user.role >= Role::Analyst;
    Ok(layout(
        &format!("Incident {}: {}", inc.id, incident_title(&inc.title)),
        Some(&auth),
        html! {
            dl.facts {
                dt { "Kind" } dd { (inc.kind) }
                dt { "Severity" } dd { (severity_badge(inc.severity)) }
                dt { "Status" } dd id="incident-status" { (status_words(inc.status)) }
                dt { "Assignee" } dd { (inc.assignee.as_deref().unwrap_or("nobody")) }
                dt { "Sightings" } dd { (d.sightings) " (last " (when_opt(d.last_seen_at.as_ref())) ")" }
                @if view.reports.count > 0 {
                    dt { "Reports" } dd.reported { "reported " (view.reports.count) (if view.reports.count == 1 { " time" } else { " times" })
                        " (first " (when_opt(view.reports.first.as_ref())) ", last " (when_opt(view.reports.last.as_ref())) ")" }
                }
                @for b in &view.bursts {
                    dt { "Report burst" } dd.burst { (b.reports) " reports within the burst window: severity raised from "
                        (b.from) " to " (b.to) " (" (when_opt(Some(&b.at))) ")" }
                }
                dt { "Opened" } dd { (when(&inc.created_at)) }
                dt { "Last change" } dd { (when(&inc.updated_at)) }
            }
            (why_flagged(&view.items))
            section aria-labelledby="h-work" {
                h2 id="h-work" { "Work on this incident" }
                @if can_work {
                    div.grid2 {
                        form method="post" action=(format!("/incidents/{}/status", inc.id)) {
                            input type="hidden" name="csrf" value=(auth.csrf);
                            label for="status" { "Status" }
                            select id="status" name="status" {
                                @for s in IncidentStatus::ALL {
                                    option value=(s.as_str()) selected[s == inc.status] { (status_words(s)) }
                                }
                            }
                            label for="status-note" { "Note (optional)" }
                            textarea id="status-note" name="note" rows="3" cols="40" {}
                            div { button type="submit" { "Update status" } }
                        }
                        div {
                            form method="post" action=(format!("/incidents/{}/assignee", inc.id)) {
                                input type="hidden" name="csrf" value=(auth.csrf);
                                label for="assignee" { "Assignee (blank to unassign)" }
                                input id="assignee" name="assignee" type="text" value=(inc.assignee.as_deref().unwrap_or(""));
                                div { button type="submit" { "Assign" } }
                            }
                            form method="post" action=(format!("/incidents/{}/notes", inc.id)) {
                                input type="hidden" name="csrf" value=(auth.csrf);
                                label for="note" { "Add a note" }
                                textarea id="note" name="note" rows="3" cols="40" required {}
                                div { button type="submit" { "Add note" } }
                            }
                            form method="post" action=(format!("/incidents/{}/export", inc.id)) {
                                input type="hidden" name="csrf" value=(auth.csrf);
                                p { "A signed evidence pack (ZIP: captures, screenshots, WARC, report for the Returning Officer); the export is recorded in the audit log." }
                                div { button type="submit" { "Export evidence pack" } }
                            }
                        }
                    }
                } @else {
                    p.muted { "Your role (" (auth.user.role) ") can read incidents; an analyst or admin can change them." }
                }
            }
            @if can_work {
                (confirm_fake_forms(&view.items, inc.id, &auth.csrf))
            }
            section aria-labelledby="h-notes" {
                h2 id="h-notes" { "Notes" }
                @if d.notes.is_empty() { p.muted { "No notes yet." } } @else { pre.notes { (d.notes) } }
            }
            section aria-labelledby="h-items" {
                h2 id="h-items" { "Sightings: items as captured (" (view.items.len()) ")" }
                @for (stored, capture) in &view.items { (render_item(stored, capture.as_ref())) }
            }
            section aria-labelledby="h-history" {
                h2 id="h-history" { "History" }
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "From" } th scope="col" { "To" } } }
                    tbody {
                        @for h in &view.history {
                            tr {
                                td { (when(&h.at)) } td { (h.actor) } td { (h.field) }
                                td { (h.old.as_deref().unwrap_or("")) } td { (h.new.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// Most reasons listed in "Why it was flagged".
const WHY_LIMIT: usize = 8;

/// "Why it was flagged": the verdicts of the incident's flagged sightings, each once (by label
/// and explanation), strongest first, at the top of the page; each sighting below has them all
/// with scores and rebuttals.
fn why_flagged(items: &[(StoredItem, Option<Capture>)]) -> Markup {
    let mut reasons: Vec<&ballotwatch_core::Verdict> = Vec::new();
    for v in items
        .iter()
        .filter_map(|(stored, _)| stored.result.as_ref().filter(|r| r.flagged))
        .flat_map(|r| r.verdicts.iter())
    {
        if !reasons
            .iter()
            .any(|r| r.label == v.label && r.explanation == v.explanation)
        {
            reasons.push(v);
        }
    }
    reasons.sort_by(|a, b| b.score.total_cmp(&a.score));
    let more = reasons.len().saturating_sub(WHY_LIMIT);
    html! {
        @if !reasons.is_empty() {
            section aria-labelledby="h-why" {
                h2 id="h-why" { "Why it was flagged" }
                ul.why {
                    @for v in reasons.iter().take(WHY_LIMIT) {
                        li { strong { (v.kind) " / " (v.label) } ": " (v.explanation) }
                    }
                }
                @if more > 0 { p.muted { (more) " more below, with the sightings." } }
            }
        }
    }
}

/// One "Mark media as confirmed fake" form per captured image of the incident's items.
fn confirm_fake_forms(
    items: &[(StoredItem, Option<Capture>)],
    incident_id: i64,
    csrf: &str,
) -> Markup {
    let mut seen = std::collections::BTreeSet::new();
    let images: Vec<(&str, Option<&str>)> = items
        .iter()
        .flat_map(|(stored, _)| stored.item.media.iter())
        .filter(|m| m.mime.as_deref().is_none_or(|t| t.starts_with("image/")))
        .filter_map(|m| {
            m.sha256
                .as_deref()
                .filter(|s| is_sha256(s) && seen.insert(s.to_string()))
                .map(|s| (s, m.url.as_deref()))
        })
        .collect();
    html! {
        @if !images.is_empty() {
            section aria-labelledby="h-fakes" {
                h2 id="h-fakes" { "Confirm fake media" }
                p { "Marking an image as confirmed fake flags every re-upload, crop or re-encode of it (label known_fake_reupload), linking back to this incident. It is recorded in the audit log." }
                @for (sha, url) in &images {
                    form.mark-fake method="post" action=(format!("/incidents/{incident_id}/fakes")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="media" value=(sha);
                        img.media src=(format!("/media/{sha}")) alt="Captured image" width="160";
                        p { "SHA-256 " code { (sha) } @if let Some(u) = url { br; "from " (u) } }
                        label for=(format!("fake-note-{sha}")) { "Why it is fake (optional)" }
                        input id=(format!("fake-note-{sha}")) name="note" type="text";
                        div { button type="submit" { "Mark media as confirmed fake" } }
                    }
                }
            }
        }
    }
}

/// Items with the capture each was read from.
fn with_captures(
    s: &dyn ballotwatch_store::WebStore,
    items: Vec<StoredItem>,
) -> Result<Vec<(StoredItem, Option<Capture>)>, WebError> {
    items
        .into_iter()
        .map(|i| {
            let cap = match i.capture_id {
                Some(c) => s.get_capture(c)?.map(|(_, _, cap)| cap),
                None => None,
            };
            Ok((i, cap))
        })
        .collect()
}

/// `GET /items/{id}`: one item as captured (latest version).
pub(crate) async fn item_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Result<Markup, WebError> {
    let actor = auth.user.name.clone();
    let ((stored, capture), reports) = state
        .blocking(move |s| {
            let item = s
                .get_item(&id)?
                .ok_or_else(|| WebError::NotFound(format!("there is no item `{id}`")))?;
            s.audit(&actor, "item.view", &serde_json::json!({ "item_id": id }))?;
            let reports = s.reports_of_item(&id)?;
            Ok((with_captures(s, vec![item])?.remove(0), reports))
        })
        .await?;
    let show_reporter = auth.user.role >= ballotwatch_store::Role::Analyst;
    Ok(layout(
        &format!("Item: {}", item_heading(&stored.item)),
        Some(&auth),
        html! {
            @if let Some(i) = stored.incident_id() {
                p { "Part of " a href=(format!("/incidents/{i}")) { "incident " (i) } "." }
            }
            (render_item(&stored, capture.as_ref()))
            (crate::reports::render_reports(&reports, show_reporter))
        },
    ))
}

/// One item as captured: metadata, sanitized body, media from the capture store, verdicts.
fn render_item(stored: &StoredItem, capture: Option<&Capture>) -> Markup {
    let item = &stored.item;
    html! {
        article.item {
            // The item's own page: every version, and who reported it (analysts and admins).
            h3 { a href=(format!("/items/{}", item.id)) { (item_heading(item)) } }
            p.muted {
                (item.source.name) " (" (item.source.kind) ")"
                @if let Some(a) = &item.author {
                    " · by " (a.display_name.as_deref().or(a.handle.as_deref()).unwrap_or("unknown"))
                }
                " · published " (when_opt(item.published_at.as_ref()))
                " · version " (item.version)
            }
            @if let Some(url) = &item.url {
                p { "Original: "
                    @match sanitize::web_link(url) {
                        Some(link) => a href=(link) rel="noopener noreferrer nofollow" { (url) },
                        None => code { (url) },
                    }
                }
            }
            @if let Some(diff) = item.diff.as_deref().filter(|d| !d.trim().is_empty()) {
                h4 { "What changed since version " (item.version.saturating_sub(1)) }
                pre.diff { (diff) }
            }
            div.captured {
                @match &item.html {
                    Some(h) => (PreEscaped(sanitize::item_html(h))),
                    None => pre.notes { (item.text.as_deref().unwrap_or("")) },
                }
            }
            @if let Some(reason) = &item.truncated {
                p.muted.truncated { "Not all of it was kept: " (reason) ". The captured response holds every byte." }
            }
            @if !item.media.is_empty() {
                h4 { "Media" }
                ul {
                    @for (n, m) in item.media.iter().enumerate() {
                        li {
                            @match m.sha256.as_deref().filter(|s| is_sha256(s)) {
                                Some(sha) => {
                                    @if m.mime.as_deref().is_some_and(|t| t.starts_with("image/")) {
                                        img.media src=(format!("/media/{sha}")) alt=(format!("Captured media {} of this item", n + 1));
                                    }
                                    @if let (Some(video), Some(ms)) = (m.frame_of, m.frame_time_ms) {
                                        " Frame at " (format!("{:.1}", ms as f64 / 1000.0)) " s of media " (video + 1) "."
                                    }
                                    " " a href=(format!("/media/{sha}")) { "Captured copy (SHA-256 " code { (sha) } ")" }
                                }
                                None => span.muted { "Not captured: " code { (m.url.as_deref().unwrap_or("no address")) } },
                            }
                            @if let Some(reason) = &m.capture_error {
                                div.muted.capture-error {
                                    (reason)
                                    @if m.capture_retry { " (tried again on the next poll)" }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = capture {
                p.muted { "Captured from " code { (c.final_url) } " at " (when(&c.started_at)) ", HTTP " (c.status) ", SHA-256 " code { (c.sha256) } }
            }
            @if let Some(r) = stored.result.as_ref().filter(|r| !r.media_text.is_empty()) {
                h4 { "Text read from the image" }
                @for t in &r.media_text {
                    div.media-text {
                        p.muted { "Image " (t.media + 1) ", text covers " (format!("{:.0}", t.text_fraction * 100.0)) "% of it (OCR; may contain misreadings)" }
                        pre { (t.text) }
                    }
                }
            }
            @if let Some(r) = &stored.result {
                h4 { "Verdicts" @if r.flagged { " — flagged " (severity_badge(r.severity)) } }
                @if r.verdicts.is_empty() { p.muted { "No detector found anything." } }
                @for v in &r.verdicts {
                    div.verdict {
                        p { strong { (v.kind) " / " (v.label) } " — score " (format!("{:.2}", v.score)) " by " (v.detector) }
                        p { (v.explanation) }
                        @if let Some(reb) = &v.rebuttal { p { strong { "Rebuttal: " } (reb) } }
                    }
                }
            } @else {
                p.muted { "Not classified yet." }
            }
        }
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The image type of `bytes` from its magic number: only these are served.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// `GET /media/{sha256}`: a captured image, from the capture store (verified against its
/// hash when read). Only PNG, JPEG, GIF and WebP are served, by their bytes, never by a
/// declared type; anything else is refused so captured HTML or SVG cannot run here.
pub(crate) async fn media(
    State(state): State<AppState>,
    Path(sha): Path<String>,
) -> Result<Response, WebError> {
    if !is_sha256(&sha) {
        return Err(WebError::NotFound(
            "media addresses are lowercase SHA-256".into(),
        ));
    }
    let bytes = state
        .blocking(move |s| match s.read_blob(&sha) {
            Ok(b) => Ok(b),
            Err(ballotwatch_store::StoreError::BlobNotFound { .. }) => {
                Err(WebError::NotFound(format!("no captured media {sha}")))
            }
            Err(e) => Err(e.into()),
        })
        .await?;
    let Some(mime) = image_type(&bytes) else {
        return Err(WebError::NotFound(
            "this capture is not an image, so it is not shown here (it is in evidence exports)"
                .into(),
        ));
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, "inline"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

/// The status form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    csrf: String,
    status: String,
    #[serde(default)]
    note: String,
}

/// `POST /incidents/{id}/status` (analysts): new status, and a note when one is given.
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Analyst)?;
    let status: IncidentStatus = form
        .status
        .parse()
        .map_err(|e: String| WebError::BadRequest(format!("`status`: {e}")))?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| {
            s.set_incident_status(id, status, &actor)?;
            if !form.note.trim().is_empty() {
                s.add_incident_note(id, &form.note, &actor)?;
            }
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")))
}

/// The assignee form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct AssigneeForm {
    csrf: String,
    #[serde(default)]
    assignee: String,
}

/// `POST /incidents/{id}/assignee` (analysts).
pub(crate) async fn set_assignee(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    Form(form): Form<AssigneeForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Analyst)?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.set_incident_assignee(id, Some(&form.assignee), &actor)?))
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")))
}

/// The note form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    csrf: String,
    note: String,
}

/// `POST /incidents/{id}/notes` (analysts).
pub(crate) async fn add_note(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Analyst)?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.add_incident_note(id, &form.note, &actor)?))
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")))
}

/// The export form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportForm {
    csrf: String,
}

/// `POST /incidents/{id}/export` (analysts): the incident's evidence pack as a download.
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    Form(form): Form<ExportForm>,
) -> Result<axum::response::Response, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Analyst)?;
    crate::export::incident_pack(&state, id, auth.user.name.clone()).await
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
