//! Reports (issue 19): the Report page (`GET`/`POST /reports`, analysts and admins), `POST
//! /api/v1/reports` (the same with an API token) and the public report form (`GET`/`POST
//! /report`, off unless `[reports] public_form = true`).
//!
//! A report is a `multipart/form-data` form: `url` (repeated, or one per line), `file`
//! (repeated: screenshots or videos), `note`, `seen_on` (free words), `platform` and `group`.
//! The form is read here within the `[reports]` limits (files, bytes per file, URLs, bytes per
//! text field; too much is answered 413 naming the limit); capturing the URLs, the files and
//! storing the report item is not the web crate's business, so the binary plugs in a
//! [`ReportIntake`] (via [`crate::WebConfig::report_intake`]). The answer is the report's
//! reference number and its item.
//!
//! The public form needs no login. It answers only a reference number and never shows stored
//! data; each client address (behind `[server] trusted_proxies`, the address they forward) may
//! send `public_per_address` reports per `public_window` (then 429); a filled-in honeypot field
//! (`website`, hidden from people by the stylesheet) gets an answer that looks accepted, and
//! nothing is stored.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ballotwatch_store::Role;
use maud::{html, Markup};
use serde::Serialize;
use url::Url;

use crate::api::ApiError;
use crate::auth::{self, Auth};
use crate::config::ReportsConfig;
use crate::pages::layout;
use crate::{AppState, WebError};

/// Longest text field (`note`, `seen_on`, `platform`, `group`, one `url` field), in bytes.
pub const MAX_TEXT_FIELD: usize = 16 * 1024;
/// Longest URL.
pub const MAX_URL_LEN: usize = 4096;
/// Most parts one form may have.
const MAX_PARTS: usize = 64;
/// The public form's honeypot field: hidden from people, filled in by form-spamming robots.
pub const HONEYPOT: &str = "website";

/// A file uploaded with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The file's name as the browser sent it (path parts removed), if any.
    pub name: Option<String>,
    /// The declared media type (media capture sniffs what the bytes really are).
    pub mime: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A report as received, for [`ReportIntake::submit`].
#[derive(Debug, Clone, Default)]
pub struct NewReport {
    /// The reported URLs (http or https), without repeats.
    pub urls: Vec<Url>,
    /// The uploaded files.
    pub files: Vec<Upload>,
    /// The reporter's note.
    pub note: String,
    /// Where it was seen, in the reporter's words.
    pub seen_on: Option<String>,
    /// The platform it was seen on.
    pub platform: Option<String>,
    /// The group, page or chat it was seen in.
    pub group: Option<String>,
    /// Who sent it: the user's name, or [`PUBLIC_REPORTER`].
    pub reporter: String,
    /// Sent through the public form.
    pub public: bool,
}

/// The reporter recorded for reports from the public form.
pub const PUBLIC_REPORTER: &str = "public report form";

/// What became of one reported URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlOutcome {
    /// The URL as reported.
    pub url: String,
    /// Whether an answer was captured.
    pub captured: bool,
    /// The HTTP status of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The page's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Why it was not captured (or not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What became of one uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOutcome {
    /// The file's name, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The media type sniffed from its bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// The SHA-256 of the stored copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it was not kept as media (not a picture or video, over the size caps…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to a stored report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The reference number, e.g. `R-000042`.
    pub reference: String,
    /// The report item's id.
    pub item_id: String,
    /// Each reported URL's capture.
    pub urls: Vec<UrlOutcome>,
    /// Each uploaded file's capture.
    pub files: Vec<FileOutcome>,
    /// Set when the same URL or picture was reported before: the report joined that item
    /// (`item_id`) and its incident as another report instead of making a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<Joined>,
}

/// What a report matched when it joined an earlier report's item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Joined {
    /// `url` (the same page, by its normal form) or `picture` (a PDQ match).
    pub by: String,
    /// The matching URL's normal form, or the PDQ distance in bits as a number's text.
    pub detail: String,
    /// The incident the item belongs to, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<i64>,
}

/// Why a report could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report cannot be taken as sent (answered 400).
    #[error("{0}")]
    Refused(String),
    /// Reports cannot be taken now (ingest is paused: the disk is nearly full), answered 503
    /// with the reason.
    #[error("reports cannot be taken now: {0}")]
    Unavailable(String),
    /// Storing it failed on the server's side (answered 500).
    #[error("storing the report failed: {0}")]
    Failed(String),
}

/// Captures and stores reports.
#[async_trait::async_trait]
pub trait ReportIntake: Send + Sync {
    /// Captures `report`'s URLs and files and stores it as a report item, queued for the
    /// detectors.
    async fn submit(&self, report: NewReport) -> Result<Receipt, ReportError>;
}

/// A shared [`ReportIntake`] (cloneable, printable in [`crate::WebConfig`]'s debug output).
#[derive(Clone)]
pub struct ReportIntakeHandle(pub Arc<dyn ReportIntake>);

impl std::fmt::Debug for ReportIntakeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportIntakeHandle")
    }
}

/// The limits a form is read within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) files: usize,
    pub(crate) file_size: u64,
    pub(crate) urls: usize,
}

impl Limits {
    /// The Report page's and the API's limits.
    pub(crate) fn staff(c: &ReportsConfig) -> Limits {
        Limits {
            files: c.max_files,
            file_size: c.max_file_size.as_u64(),
            urls: c.max_urls,
        }
    }

    /// The public form's limits.
    pub(crate) fn public(c: &ReportsConfig) -> Limits {
        Limits {
            files: c.public_max_files,
            file_size: c.public_max_file_size.as_u64(),
            urls: c.public_max_urls,
        }
    }

    /// The most bytes a whole form within these limits can take (the request body limit).
    pub(crate) fn body(&self) -> usize {
        let files = (self.files as u64).saturating_mul(self.file_size);
        let rest = (MAX_PARTS * (MAX_TEXT_FIELD + 1024)) as u64;
        usize::try_from(files.saturating_add(rest)).unwrap_or(usize::MAX)
    }

    fn describe(&self) -> String {
        format!(
            "at most {} file(s) of {} each and {} URL(s)",
            self.files,
            bytesize::ByteSize::b(self.file_size),
            self.urls
        )
    }
}

/// A form as read.
#[derive(Debug, Default)]
pub(crate) struct ReportForm {
    pub(crate) report: NewReport,
    pub(crate) csrf: String,
    pub(crate) honeypot: bool,
}

/// `url` as a reportable web address.
pub(crate) fn parse_url(s: &str) -> Result<Url, WebError> {
    let s = s.trim();
    let shown: String = s.chars().take(200).collect();
    if s.len() > MAX_URL_LEN {
        return Err(WebError::BadRequest(format!(
            "the URL `{shown}…` is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = Url::parse(s).map_err(|e| {
        WebError::BadRequest(format!(
            "`{shown}` is not a web address ({e}): give it as http://… or https://…"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(WebError::BadRequest(format!(
            "`{shown}` is not a web address: give it as http://… or https://…"
        )));
    }
    Ok(url)
}

/// A file name without any path, control characters or more than 200 characters.
fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    Some(clean.trim().to_string()).filter(|n| !n.is_empty())
}

fn multipart_error(e: MultipartError, limits: &Limits) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge(format!(
            "the report is larger than this form takes ({})",
            limits.describe()
        ))
    } else {
        WebError::BadRequest(format!("the form could not be read: {}", e.body_text()))
    }
}

/// A text field's value, at most [`MAX_TEXT_FIELD`] bytes of UTF-8.
async fn read_text(field: &mut Field<'_>, name: &str, limits: &Limits) -> Result<String, WebError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, limits))?
    {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(WebError::TooLarge(format!(
                "the `{name}` field is longer than {} KiB",
                MAX_TEXT_FIELD / 1024
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| WebError::BadRequest(format!("the `{name}` field is not UTF-8 text")))
}

/// Reads a report form within `limits`. Fails, naming the field or file, on an unknown field,
/// a URL that is not a web address, a file or field over its limit (413), too many files or
/// URLs (413), or a report with neither URL, file nor note.
pub(crate) async fn read_form(mp: &mut Multipart, limits: &Limits) -> Result<ReportForm, WebError> {
    let mut form = ReportForm::default();
    let mut parts = 0usize;
    let optional = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limits))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(WebError::TooLarge(format!(
                "the form has more than {MAX_PARTS} fields"
            )));
        }
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().and_then(clean_name);
                let mime = field.content_type().map(str::to_string);
                let shown = file_name.clone().unwrap_or_else(|| "(unnamed)".into());
                let mut bytes = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, limits))?
                {
                    if (bytes.len() + chunk.len()) as u64 > limits.file_size {
                        return Err(WebError::TooLarge(format!(
                            "the file `{shown}` is larger than {}, the most one file may be",
                            bytesize::ByteSize::b(limits.file_size)
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if bytes.is_empty() {
                    if file_name.is_none() {
                        // A file input left empty.
                        continue;
                    }
                    return Err(WebError::BadRequest(format!("the file `{shown}` is empty")));
                }
                if form.report.files.len() >= limits.files {
                    return Err(WebError::TooLarge(format!(
                        "a report may carry at most {} file(s)",
                        limits.files
                    )));
                }
                form.report.files.push(Upload {
                    name: file_name,
                    mime,
                    bytes,
                });
            }
            "url" => {
                let text = read_text(&mut field, &name, limits).await?;
                for word in text.split_whitespace() {
                    let url = parse_url(word)?;
                    if form.report.urls.contains(&url) {
                        continue;
                    }
                    if form.report.urls.len() >= limits.urls {
                        return Err(WebError::TooLarge(format!(
                            "a report may carry at most {} URL(s)",
                            limits.urls
                        )));
                    }
                    form.report.urls.push(url);
                }
            }
            "note" => form.report.note = read_text(&mut field, &name, limits).await?,
            "seen_on" => {
                form.report.seen_on = optional(read_text(&mut field, &name, limits).await?)
            }
            "platform" => {
                form.report.platform = optional(read_text(&mut field, &name, limits).await?);
            }
            "group" => form.report.group = optional(read_text(&mut field, &name, limits).await?),
            "csrf" => form.csrf = read_text(&mut field, &name, limits).await?,
            HONEYPOT => {
                form.honeypot = !read_text(&mut field, &name, limits)
                    .await?
                    .trim()
                    .is_empty();
            }
            other => {
                let shown: String = other.chars().take(60).collect();
                return Err(WebError::BadRequest(format!(
                    "unknown form field `{shown}`: a report has url, file, note, seen_on, \
                     platform and group"
                )));
            }
        }
    }
    let r = &form.report;
    if r.urls.is_empty() && r.files.is_empty() && r.note.trim().is_empty() {
        return Err(WebError::BadRequest(
            "a report needs at least one URL, file or note".into(),
        ));
    }
    Ok(form)
}

/// The form, or why it is not one.
fn multipart(mp: Result<Multipart, MultipartRejection>) -> Result<Multipart, WebError> {
    mp.map_err(|e| {
        WebError::BadRequest(format!(
            "a report is sent as multipart/form-data ({})",
            e.body_text()
        ))
    })
}

fn intake(state: &AppState) -> Result<ReportIntakeHandle, WebError> {
    state
        .config
        .report_intake
        .clone()
        .ok_or_else(|| WebError::Unavailable("reports cannot be taken on this server".into()))
}

async fn submit(state: &AppState, report: NewReport) -> Result<Receipt, WebError> {
    let intake = intake(state)?;
    intake.0.submit(report).await.map_err(|e| match e {
        ReportError::Refused(m) => WebError::BadRequest(m),
        ReportError::Unavailable(m) => {
            WebError::Unavailable(format!("reports cannot be taken now: {m}"))
        }
        ReportError::Failed(m) => WebError::Internal(m),
    })
}

/// The report form's fields (shared by the Report page and the public form).
fn form_fields(limits: &Limits) -> Markup {
    html! {
        label for="url" { "Links (one per line)" }
        textarea id="url" name="url" rows="3" placeholder="https://…" {}
        label for="file" { "Screenshots or videos (" (limits.files) " at most, "
            (bytesize::ByteSize::b(limits.file_size)) " each)" }
        input id="file" name="file" type="file" multiple accept="image/*,video/*,application/pdf,.pdf";
        label for="note" { "What did you see?" }
        textarea id="note" name="note" rows="4" {}
        label for="platform" { "Where was it (platform)?" }
        input id="platform" name="platform" type="text" placeholder="Facebook, WhatsApp, X, TikTok…";
        label for="group" { "Group, page or chat name" }
        input id="group" name="group" type="text";
    }
}

/// `GET /reports`: the Report page (analysts and admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    auth.require(Role::Analyst)?;
    let limits = Limits::staff(&state.config.reports);
    Ok(layout(
        "Report a link or upload",
        Some(&auth),
        html! {
            p { "Send in what someone saw: the links are captured (page, screenshot), the files \
                 kept as media, and the report goes through every detector like any item." }
            form method="post" action="/reports" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(auth.csrf);
                (form_fields(&limits))
                div { button type="submit" { "Send report" } }
            }
        },
    ))
}

/// `POST /reports` (analysts and admins).
pub(crate) async fn submit_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Markup, WebError> {
    auth.require(Role::Analyst)?;
    let mut mp = multipart(mp)?;
    let limits = Limits::staff(&state.config.reports);
    let mut form = read_form(&mut mp, &limits).await?;
    auth.check_csrf(&form.csrf)?;
    form.report.reporter = auth.user.name.clone();
    let receipt = submit(&state, form.report).await?;
    Ok(layout(
        &format!("Report {} received", receipt.reference),
        Some(&auth),
        html! {
            p role="status" { "Reference number: " strong.reference { (receipt.reference) } }
            @if let Some(j) = &receipt.joined {
                p.joined { "Reported before (same " (j.by) "): added to the earlier report's item as another report." }
            }
            p { a href=(format!("/items/{}", receipt.item_id)) { "See the report item" }
                " (it is classified in a moment; if it is flagged, the item links to its incident)." }
            @if !receipt.urls.is_empty() {
                h2 { "Links" }
                ul {
                    @for u in &receipt.urls {
                        li {
                            code { (u.url) } " — "
                            @match &u.error {
                                Some(e) => span.error { "not captured: " (e) },
                                None => { "captured" @if let Some(s) = u.status { " (HTTP " (s) ")" } }
                            }
                        }
                    }
                }
            }
            @if !receipt.files.is_empty() {
                h2 { "Files" }
                ul {
                    @for f in &receipt.files {
                        li {
                            (f.name.as_deref().unwrap_or("(unnamed)")) " — "
                            @match &f.error {
                                Some(e) => span.error { "not kept as media: " (e) },
                                None => { "kept as " (f.mime.as_deref().unwrap_or("media")) }
                            }
                        }
                    }
                }
            }
            p { a href="/reports" { "Send another report" } }
        },
    ))
}

/// `POST /api/v1/reports` (analysts and admins): 201 with the [`Receipt`].
pub(crate) async fn api_submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    auth.require(Role::Analyst)?;
    let mut mp = multipart(mp)?;
    let limits = Limits::staff(&state.config.reports);
    let mut form = read_form(&mut mp, &limits).await?;
    form.report.reporter = auth.user.name.clone();
    let receipt = submit(&state, form.report).await?;
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

fn public_enabled(state: &AppState) -> Result<(), WebError> {
    if state.config.reports.public_form {
        Ok(())
    } else {
        Err(WebError::NotFound("there is no such page".into()))
    }
}

/// `GET /report`: the public report form (404 unless `[reports] public_form = true`).
pub(crate) async fn public_page(State(state): State<AppState>) -> Result<Markup, WebError> {
    public_enabled(&state)?;
    let limits = Limits::public(&state.config.reports);
    Ok(layout(
        "Report something about the election",
        None,
        html! {
            p { "Seen something about the local elections that looks wrong: a fake council \
                 page or account, a false notice about polling stations, a doctored picture? \
                 Send us the link or a screenshot. You will get a reference number; we do not \
                 reply to reports." }
            p { "Do not include your own personal details." }
            form method="post" action="/report" enctype="multipart/form-data" {
                (form_fields(&limits))
                div.hp aria-hidden="true" {
                    label for=(HONEYPOT) { "Leave this empty" }
                    input id=(HONEYPOT) name=(HONEYPOT) type="text" tabindex="-1" autocomplete="off";
                }
                div { button type="submit" { "Send report" } }
            }
        },
    ))
}

fn public_thanks(reference: &str) -> Markup {
    layout(
        "Thank you",
        None,
        html! {
            p role="status" { "Your report has been received. Reference number: "
                strong.reference { (reference) } }
        },
    )
}

/// `POST /report`: the public form (404 unless enabled; 429 over the per-address limit).
pub(crate) async fn public_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Markup, WebError> {
    public_enabled(&state)?;
    let ip = auth::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    if !state.report_limiter.allow(ip) {
        return Err(WebError::TooMany(format!(
            "too many reports from your address: at most {} per {}; please try again later",
            state.config.reports.public_per_address,
            humantime::format_duration(state.config.reports.public_window)
        )));
    }
    let mut mp = multipart(mp)?;
    let limits = Limits::public(&state.config.reports);
    let mut form = read_form(&mut mp, &limits).await?;
    if form.honeypot {
        tracing::info!(client = %auth::limit_key(ip), "public report with the honeypot filled in: not stored");
        // Looks like any answer; nothing is stored.
        let fake = ballotwatch_store::report_reference(i64::from(rand::random::<u16>()) + 1);
        return Ok(public_thanks(&fake));
    }
    form.report.reporter = PUBLIC_REPORTER.into();
    form.report.public = true;
    let receipt = submit(&state, form.report).await?;
    Ok(public_thanks(&receipt.reference))
}

/// The item page's "Reports" section: each report that became the item, with what became of
/// its URLs; who sent it only when `show_reporter` (analysts and admins).
pub(crate) fn render_reports(
    reports: &[ballotwatch_store::ReportRecord],
    show_reporter: bool,
) -> Markup {
    let list = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    html! {
        @if !reports.is_empty() {
            section.reports {
                h2 { "Reports (" (reports.len()) ")" }
                ul {
                    @for r in reports {
                        li {
                            strong { (r.reference) } " · received " (crate::pages::when(&r.received_at))
                            @if r.public { " · public report form" }
                            @else if show_reporter { " · from " (r.reporter) }
                            @if let Some(seen) = r.detail["seen_on"].as_str() { " · seen on " (seen) }
                            @let urls = list(&r.detail, "captured_urls");
                            @if !urls.is_empty() {
                                ul {
                                    @for u in &urls {
                                        li {
                                            code { (u["url"].as_str().unwrap_or("")) } " — "
                                            @match u["error"].as_str() {
                                                Some(e) => span.error { "not captured: " (e) },
                                                None => "captured",
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
