//! The JSON API under `/api/v1/`: the same capabilities as the pages, for scripts, with bearer
//! tokens. Errors are `{"error": "..."}` with the matching HTTP status.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use ballotwatch_core::IncidentStatus;
use ballotwatch_store::{Role, StoredItem};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::search::{self, SearchParams};
use crate::{AppState, WebError};

/// Hits per API search page.
const API_PAGE_SIZE: usize = 100;
/// Most audit entries one request returns.
const MAX_AUDIT: usize = 5000;

/// A [`WebError`] answered as JSON.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        (status, Json(json!({ "error": self.0.public_message() }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The API routes (mounted at `/api/v1`, behind the token check).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/search", get(search))
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(incident).post(change_incident))
        .route("/incidents/{id}/export", post(export_incident))
        .route("/items/{id}", get(item))
        .route("/sources", get(sources))
        .route("/audit", get(audit))
        .route("/openapi.json", get(openapi))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        ApiError(WebError::Internal(format!(
            "cannot serialize the answer: {e}"
        )))
    })
}

/// An item as the API shows it: like `ballotwatch search --json`.
fn item_json(s: &StoredItem) -> Result<Value, ApiError> {
    let mut v = to_value(&s.item)?;
    if let Some(obj) = v.as_object_mut() {
        if let Some(r) = &s.result {
            obj.insert("flagged".into(), r.flagged.into());
            obj.insert("severity".into(), to_value(&r.severity)?);
            obj.insert("verdicts".into(), to_value(&r.verdicts)?);
        }
        if let Some(i) = s.incident_id() {
            obj.insert("incident_id".into(), i.into());
            let all: Vec<i64> = s.incidents.iter().map(|i| i.id).collect();
            obj.insert("incident_ids".into(), all.into());
        }
    }
    Ok(v)
}

/// `GET /api/v1/search`.
async fn search(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(params): Query<SearchParams>,
) -> ApiResult {
    let o = search::run(&state, &auth.user.name, params, API_PAGE_SIZE).await?;
    let hits = o
        .hits
        .iter()
        .map(|f| {
            let mut v = item_json(&f.stored)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("snippet".into(), f.snippet.clone().into());
                obj.insert("score".into(), f.score.into());
            }
            Ok(v)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(json!({
        "query": o.query,
        "total": o.total,
        "page": o.page,
        "page_size": API_PAGE_SIZE,
        "facets": to_value(&o.facets)?,
        "hits": hits,
    })))
}

/// `?status=&limit=` of the incident list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/incidents`.
async fn incidents(State(state): State<AppState>, Query(p): Query<ListParams>) -> ApiResult {
    let status = p
        .status
        .as_deref()
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(|e| ApiError(WebError::BadRequest(format!("`status`: {e}"))))?;
    let limit = p.limit.unwrap_or(100).min(1000);
    let list = state
        .blocking(move |s| Ok(s.list_incidents(status, limit)?))
        .await?;
    Ok(Json(json!({ "incidents": to_value(&list)? })))
}

/// `GET /api/v1/incidents/{id}`: the incident, its items and history; audited as a view.
async fn incident(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
) -> ApiResult {
    let actor = auth.user.name.clone();
    let (detail, items, history, reports) = state
        .blocking(move |s| {
            let detail = s
                .incident_detail(id)?
                .ok_or_else(|| WebError::NotFound(format!("there is no incident {id}")))?;
            s.audit(
                &actor,
                "incident.view",
                &json!({ "incident_id": id, "via": "api" }),
            )?;
            let ids = s.incident_item_ids(id)?;
            Ok((
                detail,
                crate::get_items(s, &ids)?,
                s.incident_history(id)?,
                s.report_count(&ids)?,
            ))
        })
        .await?;
    let mut v = to_value(&detail)?;
    if let Some(obj) = v.as_object_mut() {
        let items = items.iter().map(item_json).collect::<Result<Vec<_>, _>>()?;
        obj.insert("items".into(), items.into());
        obj.insert("history".into(), to_value(&history)?);
        obj.insert(
            "reports".into(),
            json!({ "count": reports.count, "first": reports.first, "last": reports.last }),
        );
    }
    Ok(Json(v))
}

/// A change to an incident: any of status, assignee (empty string unassigns) and a note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/incidents/{id}/export` (analysts): the incident's evidence pack (ZIP).
async fn export_incident(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    auth.require(Role::Analyst)?;
    Ok(crate::export::incident_pack(&state, id, auth.user.name.clone()).await?)
}

/// `POST /api/v1/incidents/{id}` (analysts).
async fn change_incident(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult {
    auth.require(Role::Analyst)?;
    let change: Change = serde_json::from_slice(&body).map_err(|e| {
        ApiError(WebError::BadRequest(format!(
            "the body must be a JSON object with `status`, `assignee` and/or `note`: {e}"
        )))
    })?;
    let status = change
        .status
        .as_deref()
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(|e| ApiError(WebError::BadRequest(format!("`status`: {e}"))))?;
    let actor = auth.user.name.clone();
    let detail = state
        .blocking(move |s| {
            if s.get_incident(id)?.is_none() {
                return Err(WebError::NotFound(format!("there is no incident {id}")));
            }
            if let Some(st) = status {
                s.set_incident_status(id, st, &actor)?;
            }
            if let Some(a) = &change.assignee {
                s.set_incident_assignee(id, Some(a), &actor)?;
            }
            if let Some(n) = &change.note {
                s.add_incident_note(id, n, &actor)?;
            }
            s.incident_detail(id)?
                .ok_or_else(|| WebError::NotFound(format!("there is no incident {id}")))
        })
        .await?;
    Ok(Json(to_value(&detail)?))
}

/// `GET /api/v1/items/{id}`.
async fn item(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = auth.user.name.clone();
    let stored = state
        .blocking(move |s| {
            let item = s
                .get_item(&id)?
                .ok_or_else(|| WebError::NotFound(format!("there is no item `{id}`")))?;
            s.audit(&actor, "item.view", &json!({ "item_id": id, "via": "api" }))?;
            Ok(item)
        })
        .await?;
    Ok(Json(item_json(&stored)?))
}

/// `GET /api/v1/sources`.
async fn sources(State(state): State<AppState>) -> ApiResult {
    let list = state.blocking(|s| Ok(s.source_states()?)).await?;
    Ok(Json(json!({ "sources": to_value(&list)? })))
}

/// `?limit=` of the audit log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/audit` (admins).
async fn audit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(p): Query<AuditParams>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let limit = p.limit.unwrap_or(500).min(MAX_AUDIT);
    let entries = state.blocking(move |s| Ok(s.audit_entries(limit)?)).await?;
    Ok(Json(json!({ "entries": to_value(&entries)? })))
}

/// `GET /api/v1/openapi.json`.
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document().to_string(),
    )
        .into_response()
}
