//! The evidence-pack download behind the incident page's "Export evidence pack" button and
//! `POST /api/v1/incidents/{id}/export`: the same export as `ballotwatch export`, audited the same
//! way, answered as a ZIP attachment.

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use ballotwatch_evidence::{EvidenceError, ExportJob};

use crate::error::WebError;
use crate::AppState;

/// Exports incident `id` as `actor` and answers with the pack.
pub(crate) async fn incident_pack(
    state: &AppState,
    id: i64,
    actor: String,
) -> Result<Response, WebError> {
    let settings = state.config.export.clone().ok_or_else(|| {
        WebError::Unavailable("evidence export is not set up on this server".into())
    })?;
    let (bytes, sha256, fingerprint) = state
        .blocking(move |s| {
            if s.get_incident(id)?.is_none() {
                return Err(WebError::NotFound(format!("there is no incident {id}")));
            }
            let tmp = tempfile::Builder::new()
                .prefix(".export-")
                .suffix(".zip")
                .tempfile_in(&settings.work_dir)
                .map_err(|e| {
                    WebError::Internal(format!(
                        "cannot make a temporary file in {}: {e}",
                        settings.work_dir.display()
                    ))
                })?;
            let job = ExportJob {
                incidents: &[id],
                items: &[],
                actor: &actor,
                skip_screenshots: false,
                // The web UI's packs leave reporters out; `export --include-reporters` puts them in.
                include_reporters: false,
            };
            let summary = ballotwatch_evidence::export(s, &settings, &job, tmp.path()).map_err(
                |e| match e {
                    EvidenceError::NotFound(m) => WebError::NotFound(m),
                    other => WebError::Internal(format!("exporting incident {id}: {other}")),
                },
            )?;
            let bytes = std::fs::read(tmp.path()).map_err(|e| {
                WebError::Internal(format!("reading back the pack of incident {id}: {e}"))
            })?;
            Ok((bytes, summary.sha256, summary.key_fingerprint))
        })
        .await?;
    let name = format!(
        "ballotwatch-incident-{id}-{}.zip",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(|e| WebError::Internal(format!("a download name: {e}")))?;
    h.insert(header::CONTENT_DISPOSITION, disposition);
    let digest = HeaderValue::from_str(&sha256)
        .map_err(|e| WebError::Internal(format!("a pack digest: {e}")))?;
    h.insert("x-ballotwatch-pack-sha256", digest);
    let fingerprint = HeaderValue::from_str(&fingerprint)
        .map_err(|e| WebError::Internal(format!("a key fingerprint: {e}")))?;
    h.insert("x-ballotwatch-signing-key-fingerprint", fingerprint);
    Ok(res)
}
