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
    let paused = state.store.ingest_paused();
    let (sources, today, quarantined, timestamp_gap) = state
        .blocking(move |s| {
            Ok((
                s.source_states()?,
                s.items_per_source_since(midnight)?,
                s.quarantine_count()?,
                s.timestamp_gap(),
            ))
        })
        .await?;
    Ok(layout(
        "Sources",
        Some(&auth),
        html! {
            @if let Some(reason) = &paused {
                p.error role="alert" { strong { "Ingest is paused: " } (reason) }
            }
            @if let Some(gap) = &timestamp_gap {
                p.notice role="status" {
                    strong { "Trusted timestamps are behind: " } (gap)
                    ". Captures keep their hashes in the capture log; what waits is the TSA's \
                     proof of when, so an evidence pack exported now says those items are not \
                     yet timestamped."
                }
            }
            @if quarantined > 0 {
                p.notice role="status" {
                    strong { "Quarantined: " (quarantined) }
                    " — work a stage could not finish (the process crashed or was killed while on \
                     it) is set aside so that everything else carries on. An admin can see what, \
                     where and why with " code { "ballotwatch quarantine list" } ", then let it \
                     be tried again with " code { "ballotwatch quarantine retry ID" } " or discard \
                     it with " code { "ballotwatch quarantine drop ID" } "."
                }
            }
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use ballotwatch_store::{Role, Stage, Work};

    use crate::auth::{token_hash, SESSION_COOKIE};
    use crate::testutil::{send, test_app};

    #[tokio::test]
    async fn the_sources_page_says_how_much_is_quarantined_and_what_to_do() {
        let t = test_app();
        let user = t.store.create_user("viewer", Role::Viewer, "x").unwrap();
        t.store
            .create_session(
                &user,
                &token_hash("tok"),
                "csrf",
                std::time::Duration::from_secs(600),
                &serde_json::Value::Null,
            )
            .unwrap();
        let get = || {
            Request::get("/sources")
                .header(header::COOKIE, format!("{SESSION_COOKIE}=tok"))
                .body(Body::empty())
                .unwrap()
        };
        let (status, _, body) = send(&t.router, get()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("Quarantined"), "{body}");

        let work = Work {
            key: "Echo|abc".into(),
            source: "Echo".into(),
            what: "https://echo.example/rss".into(),
            item_seq: None,
            sha256: None,
        };
        for _ in 0..3 {
            t.store
                .begin_work(Stage::Poll, std::slice::from_ref(&work), 2, "parsing")
                .unwrap();
        }
        let (status, _, body) = send(&t.router, get()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Quarantined: 1"), "{body}");
        assert!(body.contains("ballotwatch quarantine list"), "{body}");
        // The service is still ready: quarantine is the pipeline working as designed.
        let (status, _, _) = send(
            &t.router,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // Disk full: ingest paused, said on the page and by /readyz, with the reason.
        t.store
            .set_ingest_paused(Some("data_dir /d has 3 MiB free".into()));
        let (_, _, body) = send(&t.router, get()).await;
        assert!(body.contains("Ingest is paused"), "{body}");
        assert!(body.contains("data_dir /d has 3 MiB free"), "{body}");
        let (status, _, text) = send(
            &t.router,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            text,
            "not ready: ingest paused: data_dir /d has 3 MiB free\n"
        );
        t.store.set_ingest_paused(None);
        let (status, _, _) = send(
            &t.router,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "resumed");

        // A TSA that does not answer: shown on the page and by /readyz, which stays ready
        // (ingest goes on; only the proof of time waits).
        let gap = "3 capture log entries are waiting since 2026-05-07 21:00:00 UTC";
        t.store.set_timestamp_gap(Some(gap.into()));
        let (_, _, body) = send(&t.router, get()).await;
        assert!(body.contains("Trusted timestamps are behind"), "{body}");
        assert!(body.contains(gap), "{body}");
        let (status, _, text) = send(
            &t.router,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            text,
            format!("ready\nwarning: trusted timestamps are behind: {gap}\n")
        );
        t.store.set_timestamp_gap(None);
        let (_, _, text) = send(
            &t.router,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(text, "ready\n");
    }
}
