//! `ballotwatch sources [--json]`: the health of every configured source — enabled or not,
//! its last success, its last error (and the URL it was about), how many item versions it
//! stored in the last 24 hours, and when it is polled next.

use ballotwatch_ingest::sources::bluesky::jetstream;
use ballotwatch_ingest::sources::SourceSettings;
use ballotwatch_pipeline::Config;
use ballotwatch_store::SourceState;
use chrono::{DateTime, Utc};

/// One configured source's health.
struct Health<'a> {
    name: &'a str,
    kind: &'static str,
    enabled: bool,
    url: String,
    state: Option<SourceState>,
    items_24h: u64,
}

impl Health<'_> {
    /// The last attempt failed (and nothing has succeeded since).
    fn failing(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.consecutive_failures > 0)
    }

    fn status(&self) -> &'static str {
        match (&self.state, self.enabled) {
            (_, false) => "disabled",
            (None, true) => "never polled",
            (Some(_), true) if self.failing() => "FAILING",
            (Some(_), true) => "ok",
        }
    }

    fn json(&self) -> serde_json::Value {
        let s = self.state.as_ref();
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "enabled": self.enabled,
            "url": self.url,
            "status": self.status(),
            "last_attempt_at": s.and_then(|s| s.last_attempt_at),
            "last_success_at": s.and_then(|s| s.last_success_at),
            "last_error": s.and_then(|s| s.last_error.clone()),
            "last_error_at": s.and_then(|s| s.last_error_at),
            "last_error_url": s.and_then(|s| s.last_error_url.clone()),
            "consecutive_failures": s.map_or(0, |s| s.consecutive_failures),
            "next_attempt_at": s.and_then(|s| s.next_attempt_at),
            "items_24h": self.items_24h,
            "items_dropped": s.map_or(0, |s| s.items_dropped),
            "last_dropped": s.and_then(|s| s.last_dropped.clone()),
            "last_dropped_at": s.and_then(|s| s.last_dropped_at),
        })
    }
}

/// Prints the health table (or one JSON object per source); exit code 1 when an enabled
/// source's last attempt failed.
pub fn run(config: &Config, json: bool) -> anyhow::Result<u8> {
    let store = super::open_store(config)?;
    let now = Utc::now();
    let states = store.source_states()?;
    let counts = store.items_stored_since(now - chrono::Duration::hours(24))?;
    // A Bluesky source with `jetstream = true` has a second row: its real-time connection,
    // with its own last success and last error.
    let stream_names: Vec<Option<String>> = config
        .sources
        .iter()
        .map(|s| match &s.settings {
            SourceSettings::Bluesky(b) if b.jetstream => Some(jetstream::state_name(s.name())),
            _ => None,
        })
        .collect();
    let mut health: Vec<Health> = Vec::new();
    for (s, stream) in config.sources.iter().zip(&stream_names) {
        health.push(Health {
            name: s.name(),
            kind: s.kind(),
            enabled: s.enabled(),
            url: s.url().to_string(),
            state: states.iter().find(|st| st.source == s.name()).cloned(),
            items_24h: counts.get(s.name()).copied().unwrap_or(0),
        });
        if let (Some(name), SourceSettings::Bluesky(b)) = (stream, &s.settings) {
            health.push(Health {
                name,
                kind: s.kind(),
                enabled: s.enabled(),
                url: b.jetstream_url.to_string(),
                state: states.iter().find(|st| &st.source == name).cloned(),
                // Its items are counted in the source's own row.
                items_24h: 0,
            });
        }
    }
    if json {
        for h in &health {
            println!("{}", h.json());
        }
    } else {
        print!("{}", table(&health, now));
    }
    Ok(u8::from(health.iter().any(|h| h.enabled && h.failing())))
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else {
        return "never".into();
    };
    let secs = (now - t).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

fn table(health: &[Health], now: DateTime<Utc>) -> String {
    let width = health
        .iter()
        .map(|h| h.name.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:<width$}  {:<8}  {:<7}  {:<12}  {:>9}  status\n",
        "source", "kind", "enabled", "last success", "items 24h"
    );
    for h in health {
        let s = h.state.as_ref();
        let mut status = h.status().to_string();
        if let Some(err) = s.and_then(|s| s.last_error.as_deref()) {
            let when = ago(s.and_then(|s| s.last_error_at), now);
            if h.failing() {
                status = format!("{status}: {err} ({when})");
            } else {
                status = format!("{status} (last error {when}: {err})");
            }
        }
        if let Some(dropped) = s.and_then(|s| s.last_dropped.as_deref()) {
            let when = ago(s.and_then(|s| s.last_dropped_at), now);
            status = format!("{status} (last poll that left entries out {when}: {dropped})");
        }
        out += &format!(
            "{:<width$}  {:<8}  {:<7}  {:<12}  {:>9}  {status}\n",
            h.name,
            h.kind,
            if h.enabled { "yes" } else { "no" },
            ago(s.and_then(|s| s.last_success_at), now),
            h.items_24h,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short_and_never_negative() {
        let now = Utc::now();
        assert_eq!(ago(None, now), "never");
        assert_eq!(ago(Some(now - chrono::Duration::seconds(5)), now), "5s ago");
        assert_eq!(ago(Some(now + chrono::Duration::seconds(5)), now), "0s ago");
        assert_eq!(
            ago(Some(now - chrono::Duration::minutes(30)), now),
            "30m ago"
        );
        assert_eq!(ago(Some(now - chrono::Duration::hours(5)), now), "5h ago");
        assert_eq!(ago(Some(now - chrono::Duration::days(3)), now), "3d ago");
    }
}
