//! `ballotwatch alerts status`: what the outbox holds — counts per state, the oldest message not
//! yet delivered, and every dead letter with its last error.

use ballotwatch_pipeline::Config;
use ballotwatch_store::{OutboxRow, OutboxState};
use chrono::Utc;

/// Prints the outbox status; exit code 1 when there are dead letters (a problem to act on).
pub fn status(config: &Config, json: bool) -> anyhow::Result<u8> {
    let store = super::open_store(config)?;
    let status = store.outbox_status()?;
    let dead = status
        .counts
        .iter()
        .find(|(s, _)| *s == OutboxState::Dead)
        .map_or(0, |(_, n)| *n);
    if json {
        let counts: serde_json::Map<String, serde_json::Value> = status
            .counts
            .iter()
            .map(|(s, n)| (s.as_str().to_string(), (*n).into()))
            .collect();
        let out = serde_json::json!({
            "counts": counts,
            "digest_waiting": status.digest_waiting,
            "oldest_pending": status.oldest_pending.as_ref().map(summary),
            "dead": status.dead.iter().map(summary).collect::<Vec<_>>(),
        });
        println!("{out}");
    } else {
        for (s, n) in &status.counts {
            println!("{:<8} {n}", s.as_str());
        }
        println!("digest entries waiting: {}", status.digest_waiting);
        match &status.oldest_pending {
            Some(r) => {
                let age = (Utc::now() - r.created_at).num_seconds().max(0);
                println!(
                    "oldest undelivered: message {} ({}, {}) queued {age}s ago, {} attempt(s), next at {}{}",
                    r.id,
                    r.channel,
                    r.idempotency_key,
                    r.attempts,
                    r.next_attempt_at.to_rfc3339(),
                    r.last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default()
                );
            }
            None => println!("oldest undelivered: none"),
        }
        for r in &status.dead {
            println!(
                "DEAD message {} ({}, {}, rule {}) queued {}, {} attempt(s): {}",
                r.id,
                r.channel,
                r.idempotency_key,
                r.rule,
                r.created_at.to_rfc3339(),
                r.attempts,
                r.last_error.as_deref().unwrap_or("no error recorded")
            );
        }
    }
    Ok(u8::from(dead > 0))
}

fn summary(r: &OutboxRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "idempotency_key": r.idempotency_key,
        "channel": r.channel,
        "rule": r.rule,
        "incident_id": r.incident_id,
        "recipients": r.recipients,
        "state": r.state,
        "attempts": r.attempts,
        "created_at": r.created_at,
        "next_attempt_at": r.next_attempt_at,
        "last_error": r.last_error,
    })
}
