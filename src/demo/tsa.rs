//! The demo's Time-Stamping Authority: [`LocalTsa`] (RFC 3161, its key and certificates made
//! at the first start in the demo's data folder) behind HTTP on 127.0.0.1 only, so the demo's
//! capture log gets real tokens and its evidence packs verify with per-item trusted times. It
//! is named "Ballotwatch demo TSA (not a trusted authority)" everywhere: its time is this
//! machine's clock.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use ballotwatch_evidence::timestamp::authority::{LocalTsa, MAX_REQUEST_SIZE};

/// The path the TSA answers on.
pub const PATH: &str = "/tsr";

/// Loads (or makes) the demo TSA kept in `dir` and serves it on an ephemeral 127.0.0.1 port;
/// returns its URL. Requests larger than [`MAX_REQUEST_SIZE`] are refused unread (413).
pub async fn start(dir: &Path) -> anyhow::Result<String> {
    let tsa = Arc::new(
        LocalTsa::load_or_create(dir)
            .with_context(|| format!("cannot set up the demo TSA in {}", dir.display()))?,
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot open a port on 127.0.0.1 for the demo TSA")?;
    let addr: SocketAddr = listener.local_addr()?;
    let app = Router::new()
        .route(PATH, post(answer))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_SIZE))
        .with_state(tsa);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the demo TSA stopped");
        }
    });
    Ok(format!("http://{addr}{PATH}"))
}

async fn answer(State(tsa): State<Arc<LocalTsa>>, body: Bytes) -> Response {
    let _span = tracing::debug_span!("demo_tsa", bytes = body.len()).entered();
    match tsa.respond(&body) {
        Ok(resp) => (
            [(header::CONTENT_TYPE, "application/timestamp-reply")],
            resp,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the demo TSA could not answer");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_evidence::timestamp::{request_timestamp, verify_token, TrustRoots};

    #[tokio::test]
    async fn it_answers_on_loopback_and_refuses_oversized_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let url = start(dir.path()).await.unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let client = reqwest::Client::new();
        let sha = [4u8; 32];
        let stamp = request_timestamp(&client, &url, &sha, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        let roots = TrustRoots::from_pem_files(&[dir
            .path()
            .join(ballotwatch_evidence::timestamp::authority::ROOT_FILE)])
        .unwrap();
        let v = verify_token(&stamp.token, &sha, Some(stamp.nonce), &roots).unwrap();
        assert!(v
            .tsa_name
            .contains("Ballotwatch demo TSA (not a trusted authority)"));

        let big = client
            .post(&url)
            .body(vec![0u8; MAX_REQUEST_SIZE + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
        let garbage = client.post(&url).body("hello").send().await.unwrap();
        assert_eq!(garbage.status(), reqwest::StatusCode::OK);
        let body = garbage.bytes().await.unwrap();
        assert!(ballotwatch_evidence::timestamp::parse_response(&body).is_err());
    }
}
