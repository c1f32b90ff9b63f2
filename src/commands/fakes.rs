//! `ballotwatch fakes …`: media officers confirmed fake, which the `known_fakes` detector
//! matches re-uploads against. On the embedded store, or the cluster's PostgreSQL when the
//! config has a `[cluster]` table (every classify node picks a change up before its next batch).

use std::io::Write;
use std::path::Path;

use ballotwatch_pipeline::Config;

use super::{actor_or_user, open_item_store as open};

/// `fakes add --incident ID [--media SHA256 | --file PATH] [--note TEXT]`.
pub fn add(
    config: &Config,
    incident: i64,
    media: Option<&str>,
    file: Option<&Path>,
    note: &str,
    actor: Option<String>,
) -> anyhow::Result<u8> {
    let store = open(config)?;
    let actor = actor_or_user(actor);
    let records = crate::fakes::confirm(&*store, incident, media, file, note, &actor)?;
    let mut out = std::io::stdout().lock();
    for (r, created) in records {
        writeln!(
            out,
            "{} confirmed fake #{}: sha256 {} pdq {} (quality {}) in incident {}{}",
            if created { "added" } else { "already" },
            r.id,
            r.sha256,
            r.pdq,
            r.pdq_quality,
            r.incident_id,
            r.media_url
                .map(|u| format!(", from {u}"))
                .unwrap_or_default()
        )?;
    }
    Ok(0)
}

/// `fakes list [--json]`.
pub fn list(config: &Config, json: bool) -> anyhow::Result<u8> {
    let store = open(config)?;
    let records = store.known_fakes()?;
    let mut out = std::io::stdout().lock();
    if json {
        for r in &records {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        return Ok(0);
    }
    if records.is_empty() {
        writeln!(
            out,
            "no media confirmed fake yet (add with `ballotwatch fakes add --incident ID`)"
        )?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:>4}  {:>8}  {:<20}  {:<12}  {:<16}  media",
        "id", "incident", "added", "by", "sha256"
    )?;
    for r in &records {
        writeln!(
            out,
            "{:>4}  {:>8}  {:<20}  {:<12}  {:<16}  {}",
            r.id,
            r.incident_id,
            r.added_at.format("%Y-%m-%d %H:%M:%S"),
            r.added_by,
            &r.sha256[..16.min(r.sha256.len())],
            r.media_url.as_deref().unwrap_or("-")
        )?;
    }
    Ok(0)
}

/// `fakes remove ID`: exit 1 when there is no such confirmation.
pub fn remove(config: &Config, id: i64, actor: Option<String>) -> anyhow::Result<u8> {
    let store = open(config)?;
    let actor = actor_or_user(actor);
    if store.remove_known_fake(id, &actor)? {
        println!("removed confirmed fake #{id}");
        Ok(0)
    } else {
        eprintln!("there is no confirmed fake #{id} (see `ballotwatch fakes list`)");
        Ok(1)
    }
}
