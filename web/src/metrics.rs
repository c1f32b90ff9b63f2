//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the store and index
//! answer) and Prometheus `/metrics`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ballotwatch_store::{MetricCounts, SourceState};

use crate::AppState;

/// `GET /healthz`: the server is up (always 200: the process answers). On a cluster node it
/// also reports each dependency and the store, one `name: reachable` or `name: unreachable:
/// why` line each, so an operator sees what is down without the node being restarted for it.
pub(crate) async fn healthz(State(state): State<AppState>) -> String {
    if state.dependencies.is_empty() {
        return "ok\n".to_string();
    }
    let mut out = String::from("ok\n");
    for (name, problem) in dependency_report(&state).await {
        match problem {
            None => {
                let _ = writeln!(out, "{name}: reachable");
            }
            Some(why) => {
                let _ = writeln!(out, "{name}: unreachable: {why}");
            }
        }
    }
    out
}

/// Each dependency (then the store, by back end) with what is wrong with it, if anything.
async fn dependency_report(state: &AppState) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = state
        .dependencies
        .iter()
        .map(|(name, check)| (name.clone(), check().err()))
        .collect();
    let store = state.blocking(|s| Ok(s.ping()?)).await.err();
    out.push((
        state.store.backend().to_string(),
        store.map(|e| e.to_string()),
    ));
    out
}

/// `GET /readyz`: the store answers a query and ingest is not paused (disk full); 503 with the
/// reason when either fails. Quarantined work does not count: it is the pipeline protecting
/// itself. Captures waiting for a trusted timestamp (no TSA answers) are a `warning:` line of a
/// ready answer: ingest goes on, so the node stays in service.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if !state.dependencies.is_empty() {
        // A cluster node: ready when NATS and PostgreSQL both answer.
        let report = dependency_report(&state).await;
        let mut body = String::new();
        let mut ready = true;
        for (name, problem) in &report {
            if let Some(why) = problem {
                ready = false;
                tracing::warn!(dependency = %name, error = %why, "not ready");
                let _ = writeln!(body, "{name}: unreachable: {why}");
            } else {
                let _ = writeln!(body, "{name}: reachable");
            }
        }
        if ready {
            if let Ok(Some(gap)) = state.blocking(|s| Ok(s.timestamp_gap())).await {
                let _ = writeln!(body, "warning: trusted timestamps are behind: {gap}");
            }
        }
        return if ready {
            (StatusCode::OK, format!("ready\n{body}")).into_response()
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready\n{body}"),
            )
                .into_response()
        };
    }
    if let Some(reason) = state.store.ingest_paused() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: ingest paused: {reason}\n"),
        )
            .into_response();
    }
    match state
        .blocking(|s| Ok((s.metric_counts()?, s.timestamp_gap())))
        .await
    {
        Ok((_, gap)) => match gap {
            Some(gap) => (
                StatusCode::OK,
                format!("ready\nwarning: trusted timestamps are behind: {gap}\n"),
            )
                .into_response(),
            None => (StatusCode::OK, "ready\n").into_response(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store does not answer\n",
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let docs = state.index.num_docs();
    match state
        .blocking(|s| Ok((s.metric_counts()?, s.source_states()?)))
        .await
    {
        Ok((counts, sources)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&counts, &sources, docs),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metrics unavailable: the store does not answer\n",
            )
                .into_response()
        }
    }
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(c: &MetricCounts, sources: &[SourceState], docs: u64) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "ballotwatch_items_ingested_total",
        "counter",
        "Item versions stored.",
        vec![(String::new(), c.items.to_string())],
    );
    metric(
        "ballotwatch_verdicts_total",
        "counter",
        "Verdicts on flagged items, by kind.",
        c.verdicts
            .iter()
            .map(|(k, n)| (format!("{{kind=\"{}\"}}", label(k)), n.to_string()))
            .collect(),
    );
    metric(
        "ballotwatch_incidents_total",
        "counter",
        "Incidents opened.",
        vec![(String::new(), c.incidents.to_string())],
    );
    metric(
        "ballotwatch_alert_latency_seconds",
        "summary",
        "Time from an alert being queued to the channel accepting it.",
        // A summary's samples are the name with `_sum` and `_count` appended.
        vec![
            ("_sum".into(), format!("{:.3}", c.latency_sum)),
            ("_count".into(), c.latency_count.to_string()),
        ],
    );
    metric(
        "ballotwatch_source_errors_total",
        "counter",
        "Failed polls, by source.",
        sources
            .iter()
            .map(|s| {
                (
                    format!("{{source=\"{}\"}}", label(&s.source)),
                    s.errors.to_string(),
                )
            })
            .collect(),
    );
    metric(
        "ballotwatch_source_consecutive_failures",
        "gauge",
        "Failed polls since the last success, by source.",
        sources
            .iter()
            .map(|s| {
                (
                    format!("{{source=\"{}\"}}", label(&s.source)),
                    s.consecutive_failures.to_string(),
                )
            })
            .collect(),
    );
    metric(
        "ballotwatch_index_documents",
        "gauge",
        "Items in the search index.",
        vec![(String::new(), docs.to_string())],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_prometheus_text() {
        let c = MetricCounts {
            items: 12,
            verdicts: vec![("misinformation".into(), 3)],
            latency_sum: 1.5,
            latency_count: 2,
            incidents: 1,
        };
        let s = SourceState {
            source: "Anytown \"Echo\"".into(),
            errors: 4,
            consecutive_failures: 2,
            ..SourceState::default()
        };
        let text = render(&c, &[s], 9);
        for line in [
            "ballotwatch_items_ingested_total 12",
            "ballotwatch_verdicts_total{kind=\"misinformation\"} 3",
            "ballotwatch_alert_latency_seconds_sum 1.500",
            "ballotwatch_alert_latency_seconds_count 2",
            "ballotwatch_source_errors_total{source=\"Anytown \\\"Echo\\\"\"} 4",
            "ballotwatch_source_consecutive_failures{source=\"Anytown \\\"Echo\\\"\"} 2",
            "ballotwatch_index_documents 9",
            "# TYPE ballotwatch_alert_latency_seconds summary",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
