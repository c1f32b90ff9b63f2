//! The incident page's "Mark media as confirmed fake" button (analysts): `POST
//! /incidents/{id}/fakes` with the image's SHA-256. Hashing pictures is not the web crate's
//! business, so the binary plugs in a [`FakeMarker`] (via [`crate::WebConfig::fake_marker`]) that
//! hashes the captured copy, records it (with an audit entry) and refreshes the detector's list.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::{Extension, Form};
use ballotwatch_store::{PipelineStore, Role};
use serde::Deserialize;

use crate::auth::Auth;
use crate::{AppState, WebError};

/// Records an incident's image as confirmed fake. Runs on a blocking thread.
pub trait FakeMarker: Send + Sync {
    /// Confirms the image with SHA-256 `sha256` among incident `incident_id`'s media as fake,
    /// on behalf of `actor`; returns a short description of what was recorded.
    fn mark(
        &self,
        store: &dyn PipelineStore,
        incident_id: i64,
        sha256: &str,
        note: &str,
        actor: &str,
    ) -> Result<String, MarkFakeError>;
}

/// Why [`FakeMarker::mark`] recorded nothing.
#[derive(Debug, thiserror::Error)]
pub enum MarkFakeError {
    /// The request cannot be done as asked (no such incident, no such image in it): a message
    /// the officer can act on (answered 400).
    #[error("{0}")]
    Refused(String),
    /// Recording it failed on the server's side (answered 500).
    #[error("marking the media as fake failed: {0}")]
    Failed(String),
}

/// A shared [`FakeMarker`] (cloneable, printable in [`crate::WebConfig`]'s debug output).
#[derive(Clone)]
pub struct FakeMarkerHandle(pub Arc<dyn FakeMarker>);

impl std::fmt::Debug for FakeMarkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeMarkerHandle")
    }
}

/// The button's form.
#[derive(Debug, Deserialize)]
pub(crate) struct MarkFakeForm {
    csrf: String,
    media: String,
    #[serde(default)]
    note: String,
}

/// `POST /incidents/{id}/fakes` (analysts).
pub(crate) async fn mark(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<i64>,
    Form(form): Form<MarkFakeForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Analyst)?;
    let sha = form.media.trim().to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WebError::BadRequest(
            "`media` must be the image's SHA-256 (64 hex digits)".into(),
        ));
    }
    let Some(marker) = state.config.fake_marker.clone() else {
        return Err(WebError::Unavailable(
            "marking media as fake is not available on this server".into(),
        ));
    };
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| {
            let what = marker
                .0
                .mark(s, id, &sha, &form.note, &actor)
                .map_err(|e| match e {
                    MarkFakeError::Refused(m) => WebError::BadRequest(m),
                    failed @ MarkFakeError::Failed(_) => WebError::Internal(failed.to_string()),
                })?;
            tracing::info!(incident = id, media = %sha, actor, "{what}");
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use axum::http::StatusCode;
    use ballotwatch_core::{Severity, VerdictKind};
    use std::sync::Mutex;

    /// Records what it was asked to mark.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(i64, String, String, String)>>);

    impl FakeMarker for Recorder {
        fn mark(
            &self,
            store: &dyn PipelineStore,
            incident_id: i64,
            sha256: &str,
            note: &str,
            actor: &str,
        ) -> Result<String, MarkFakeError> {
            if store
                .get_incident(incident_id)
                .map_err(|e| MarkFakeError::Failed(e.to_string()))?
                .is_none()
            {
                return Err(MarkFakeError::Refused(format!(
                    "there is no incident {incident_id}"
                )));
            }
            self.0.lock().unwrap().push((
                incident_id,
                sha256.to_string(),
                note.to_string(),
                actor.to_string(),
            ));
            Ok("recorded".into())
        }
    }

    #[tokio::test]
    async fn analysts_mark_media_fake_with_a_valid_form_token() {
        let mut t = test_app();
        let recorder = Arc::new(Recorder::default());
        let state = AppState::new(
            t.store.clone(),
            ballotwatch_index::SearchIndex::open_or_create(&t._dir.path().join("i2")).unwrap(),
            crate::WebConfig {
                fake_marker: Some(FakeMarkerHandle(recorder.clone())),
                ..crate::WebConfig::from_server(&Default::default())
            },
        );
        t.router = crate::app(state, true);
        let inc = t
            .store
            .create_incident(
                "fake flood",
                VerdictKind::SyntheticMedia,
                Severity::High,
                "x",
            )
            .unwrap();
        let sha = "ab".repeat(32);
        let path = format!("/incidents/{}/fakes", inc.id);
        let (viewer, viewer_csrf) = session(&t, "vic", Role::Viewer);
        let (analyst, csrf) = session(&t, "ana", Role::Analyst);

        let (status, _, _) = send(
            &t.router,
            post_form(&viewer, &path, format!("csrf={viewer_csrf}&media={sha}")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewers cannot");
        let (status, _, _) = send(
            &t.router,
            post_form(&analyst, &path, format!("csrf=wrong&media={sha}")),
        )
        .await;
        assert_ne!(status, StatusCode::SEE_OTHER, "a forged form is refused");
        let (status, _, body) = send(
            &t.router,
            post_form(&analyst, &path, format!("csrf={csrf}&media=../../etc")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(recorder.0.lock().unwrap().is_empty());

        let (status, headers, body) = send(
            &t.router,
            post_form(
                &analyst,
                &path,
                format!("csrf={csrf}&media={sha}&note=AI+flood"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(headers["location"], format!("/incidents/{}", inc.id));
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [(
                inc.id,
                sha.clone(),
                "AI flood".to_string(),
                "ana".to_string()
            )]
        );

        // The marker's refusal reaches the officer.
        let (status, _, body) = send(
            &t.router,
            post_form(
                &analyst,
                "/incidents/999/fakes",
                format!("csrf={csrf}&media={sha}"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("no incident 999"), "{body}");
    }

    #[tokio::test]
    async fn without_a_marker_the_button_is_unavailable() {
        let t = test_app();
        let (analyst, csrf) = session(&t, "ana", Role::Analyst);
        let (status, _, _) = send(
            &t.router,
            post_form(
                &analyst,
                "/incidents/1/fakes",
                format!("csrf={csrf}&media={}", "ab".repeat(32)),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
