//! `ballotwatch ingest --once [--source NAME]`: one full cycle of `serve` (poll, classify,
//! incidents, alerts, index), then a summary table.

use ballotwatch_pipeline::Config;

use super::UsageError;
use ballotwatch_pipeline::{Cycle, Pipeline, PollSummary};

/// Runs one cycle (poll, classify, open and join incidents, deliver due alerts, index), prints a
/// per-source table and what the cycle recorded and delivered. Exit 1 when any source failed
/// (the others are still ingested).
pub async fn run(config: Config, source: Option<String>) -> anyhow::Result<u8> {
    if let Some(name) = &source {
        match config.source(name) {
            None => {
                let names: Vec<&str> = config.sources.iter().map(|s| s.name()).collect();
                let hint = ballotwatch_core::config::did_you_mean(name, names.iter().copied())
                    .unwrap_or_else(|| format!("configured sources: {}", names.join(", ")));
                return Err(UsageError(format!("no source named `{name}` ({hint})")).into());
            }
            Some(s) if !s.enabled() => {
                return Err(UsageError(format!(
                    "source `{name}` is disabled (enabled = false in the config)"
                ))
                .into());
            }
            Some(_) => {}
        }
    }
    let pipeline = Pipeline::open(config)?;
    let cycle = pipeline.run_once(source.as_deref()).await?;
    print!("{}", summary_table(&cycle.polls));
    println!("{}", cycle_line(&cycle));
    let failed = cycle.polls.iter().filter(|s| s.outcome.is_err()).count();
    Ok(u8::from(failed > 0))
}

/// The line after the table: what the cycle did after polling.
pub fn cycle_line(cycle: &Cycle) -> String {
    format!(
        "flagged items recorded in incidents: {}; messages delivered: {}",
        cycle.sightings, cycle.delivered
    )
}

/// The per-source table printed by `ingest --once` (and the demo).
pub fn summary_table(summaries: &[PollSummary]) -> String {
    let width = summaries
        .iter()
        .map(|s| s.source.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:<width$}  {:<8}  {:>5}  {:>7}  {:>9}  {:>9}  {:>7}  status\n",
        "source", "kind", "new", "updated", "unchanged", "bytes", "time"
    );
    for s in summaries {
        let time = format!("{:.2}s", s.elapsed.as_secs_f64());
        match &s.outcome {
            Ok(c) => {
                let mut status = if c.not_modified { "not modified" } else { "ok" }.to_string();
                if !c.dropped.is_empty() {
                    status += &format!("; {}", ballotwatch_store::dropped_summary(&c.dropped));
                }
                out += &format!(
                    "{:<width$}  {:<8}  {:>5}  {:>7}  {:>9}  {:>9}  {:>7}  {status}\n",
                    s.source, s.kind, c.new, c.updated, c.unchanged, c.bytes, time
                );
            }
            Err(e) => {
                out += &format!(
                    "{:<width$}  {:<8}  {:>5}  {:>7}  {:>9}  {:>9}  {:>7}  ERROR: {e}\n",
                    s.source, s.kind, "-", "-", "-", "-", time
                );
            }
        }
    }
    out
}
