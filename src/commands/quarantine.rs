//! `ballotwatch quarantine list|retry|drop`: work a stage could not survive, set aside.

use std::io::Write;

use ballotwatch_pipeline::Config;

use super::{actor_or_user, open_store};

/// `quarantine list [--json] [--all]`.
pub fn list(config: &Config, json: bool, all: bool) -> anyhow::Result<u8> {
    let store = open_store(config)?;
    let entries = store.quarantine_list(all)?;
    let mut out = std::io::stdout().lock();
    if json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        return Ok(0);
    }
    if entries.is_empty() {
        writeln!(out, "nothing is quarantined")?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:>4}  {:<8}  {:<20}  {:>8}  {:<16}  {:<7}  what / reason",
        "id", "stage", "when", "attempts", "source", "state"
    )?;
    for e in &entries {
        writeln!(
            out,
            "{:>4}  {:<8}  {:<20}  {:>8}  {:<16}  {:<7}  {}\n{:>70}{}{}",
            e.id,
            e.stage.as_str(),
            e.quarantined_at.format("%Y-%m-%d %H:%M:%S"),
            e.attempts,
            e.source,
            e.state,
            e.what,
            "",
            e.reason,
            e.sha256
                .as_deref()
                .map(|s| format!(" (bytes: sha256 {s})"))
                .unwrap_or_default(),
        )?;
    }
    writeln!(
        out,
        "`ballotwatch quarantine retry ID` lets the stage try again; `drop ID` discards it"
    )?;
    Ok(0)
}

/// `quarantine retry ID`: exit 1 when there is no such entry.
pub fn retry(config: &Config, id: i64, actor: Option<String>) -> anyhow::Result<u8> {
    let store = open_store(config)?;
    match store.quarantine_retry(id, &actor_or_user(actor))? {
        Some(e) => {
            println!(
                "released quarantine #{id} ({} of {} from {}): the stage tries it again on its next run",
                e.stage, e.what, e.source
            );
            Ok(0)
        }
        None => {
            eprintln!("there is no quarantine entry #{id} (see `ballotwatch quarantine list`)");
            Ok(1)
        }
    }
}

/// `quarantine drop ID`: exit 1 when there is no such entry.
pub fn drop(config: &Config, id: i64, actor: Option<String>) -> anyhow::Result<u8> {
    let store = open_store(config)?;
    match store.quarantine_drop(id, &actor_or_user(actor))? {
        Some(e) => {
            println!(
                "dropped quarantine #{id} ({} of {} from {}): it will not be tried again; its record and bytes are kept",
                e.stage, e.what, e.source
            );
            Ok(0)
        }
        None => {
            eprintln!("there is no quarantine entry #{id} (see `ballotwatch quarantine list`)");
            Ok(1)
        }
    }
}
