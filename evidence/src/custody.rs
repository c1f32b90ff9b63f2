//! `custody.json`: the chain of custody of what a pack holds — every view, change, export and
//! verification of its incidents and items recorded in the store's audit log, with who and
//! when (UTC). It is a file of the pack like any other, so the manifest lists its SHA-256 and
//! the signature covers it; `report.html` repeats it in plain words.

use ballotwatch_store::{AuditEntry, PipelineStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// `schema` of `custody.json`.
pub const SCHEMA: &str = "ballotwatch.custody";
/// Most entries a pack carries (the newest; `truncated` says when older ones were left out).
pub const MAX_ENTRIES: usize = 20_000;

/// The custody log of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custody {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The incidents it is about.
    pub incidents: Vec<i64>,
    /// The items it is about.
    pub items: Vec<String>,
    /// What was done, oldest first.
    pub entries: Vec<CustodyEntry>,
    /// True when older entries were left out (more than [`MAX_ENTRIES`]).
    pub truncated: bool,
    /// What the log covers, in plain words.
    pub note: String,
}

/// One thing done to an incident or item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodyEntry {
    /// The audit log entry number.
    pub audit_id: i64,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Who: a user name, or a component such as `alerting`.
    pub actor: String,
    /// What, as the audit log names it (`incident.view`, `incident.status`, `evidence.export`…).
    pub action: String,
    /// The same in plain words.
    pub summary: String,
    /// The audit log's details, as recorded.
    pub detail: serde_json::Value,
}

/// A detail field as text (`"new"` → `new`, `7` → `7`).
fn field(detail: &serde_json::Value, key: &str) -> Option<String> {
    match detail.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        v => Some(v.to_string()),
    }
}

/// An audit entry in plain words, e.g. "changed the status of incident 3 from new to
/// escalated".
pub fn summary(action: &str, detail: &serde_json::Value) -> String {
    let incident = field(detail, "incident_id")
        .map(|i| format!("incident {i}"))
        .unwrap_or_else(|| "the incident".into());
    let item = field(detail, "item_id")
        .map(|i| format!("item {i}"))
        .unwrap_or_else(|| "an item".into());
    let via = match field(detail, "via").as_deref() {
        Some("api") => " through the API",
        _ => "",
    };
    let change = |what: &str| match (field(detail, "old"), field(detail, "new")) {
        (Some(old), Some(new)) => format!("changed the {what} of {incident} from {old} to {new}"),
        (None, Some(new)) => format!("set the {what} of {incident} to {new}"),
        _ => format!("changed the {what} of {incident}"),
    };
    match action {
        "incident.view" => format!("viewed {incident}{via}"),
        "item.view" => format!("viewed {item}{via}"),
        "incident.create" => format!(
            "opened {incident}{}",
            field(detail, "title")
                .map(|t| format!(": {t}"))
                .unwrap_or_default()
        ),
        "incident.add_item" => format!(
            "added item {} to {incident}",
            field(detail, "item").unwrap_or_else(|| "?".into())
        ),
        "incident.status" => change("status"),
        "incident.assign" => change("assignee"),
        "incident.note" => format!("added a note to {incident}"),
        "incident.update" => match field(detail, "severity") {
            Some(s) => format!("raised the severity of {incident} to {s}"),
            None => format!("updated {incident}"),
        },
        "evidence.export" => format!(
            "exported an evidence pack{}{}",
            field(detail, "format")
                .filter(|f| f != "pack")
                .map(|f| format!(" ({f})"))
                .unwrap_or_default(),
            field(detail, "sha256")
                .map(|s| format!(" with SHA-256 {s}"))
                .unwrap_or_default()
        ),
        "evidence.verify" => format!(
            "checked an evidence pack with verify{}: {}",
            field(detail, "sha256")
                .map(|s| format!(" (SHA-256 {s})"))
                .unwrap_or_default(),
            field(detail, "outcome").unwrap_or_else(|| "outcome not recorded".into())
        ),
        other => format!("{other} (see the details)"),
    }
}

impl Custody {
    /// The custody log of these incidents and items, from the store's audit log.
    pub fn read(store: &dyn PipelineStore, incidents: &[i64], items: &[String]) -> Result<Custody> {
        let (entries, truncated) = store.custody_log(incidents, items, MAX_ENTRIES)?;
        Ok(Custody::from_entries(incidents, items, entries, truncated))
    }

    /// The custody log made of these audit entries (oldest first).
    pub fn from_entries(
        incidents: &[i64],
        items: &[String],
        entries: Vec<AuditEntry>,
        truncated: bool,
    ) -> Custody {
        Custody {
            schema: SCHEMA.into(),
            incidents: incidents.to_vec(),
            items: items.to_vec(),
            entries: entries
                .into_iter()
                .map(|e| CustodyEntry {
                    audit_id: e.id,
                    at: e.at,
                    summary: summary(&e.action, &e.detail),
                    actor: e.actor,
                    action: e.action,
                    detail: e.detail,
                })
                .collect(),
            truncated,
            note: format!(
                "Every entry of the audit log about these incidents and items up to the moment \
                 this pack was written: views in the web UI and API, changes, exports and \
                 checks with verify (where verify was run with this deployment's config). The \
                 export that wrote this pack is recorded just after it, so it appears in the \
                 next pack's log. {}",
                if truncated {
                    format!("Only the newest {MAX_ENTRIES} entries are included.")
                } else {
                    "Nothing was left out.".to_string()
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_read_in_plain_words() {
        let cases = [
            (
                "incident.view",
                json!({"incident_id": 3}),
                "viewed incident 3",
            ),
            (
                "incident.view",
                json!({"incident_id": 3, "via": "api"}),
                "viewed incident 3 through the API",
            ),
            (
                "item.view",
                json!({"item_id": "rss:a"}),
                "viewed item rss:a",
            ),
            (
                "incident.status",
                json!({"incident_id": 3, "old": "new", "new": "escalated"}),
                "changed the status of incident 3 from new to escalated",
            ),
            (
                "incident.assign",
                json!({"incident_id": 3, "old": null, "new": "alice"}),
                "set the assignee of incident 3 to alice",
            ),
            (
                "incident.add_item",
                json!({"incident_id": 3, "item": "rss:a"}),
                "added item rss:a to incident 3",
            ),
            (
                "evidence.export",
                json!({"incidents": [3], "sha256": "ab12"}),
                "exported an evidence pack with SHA-256 ab12",
            ),
            (
                "evidence.export",
                json!({"incidents": [3], "format": "wacz", "sha256": "ab12"}),
                "exported an evidence pack (wacz) with SHA-256 ab12",
            ),
            (
                "evidence.verify",
                json!({"incidents": [3], "sha256": "cd", "outcome": "intact"}),
                "checked an evidence pack with verify (SHA-256 cd): intact",
            ),
            ("fake.confirm", json!({}), "fake.confirm (see the details)"),
        ];
        for (action, detail, want) in cases {
            assert_eq!(summary(action, &detail), want, "{action} {detail}");
        }
    }

    #[test]
    fn the_log_keeps_the_audit_entries_in_order_with_who_and_when() {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_777_000_000 + s, 0).unwrap();
        let entries = vec![
            AuditEntry {
                id: 4,
                at: t(0),
                actor: "comms".into(),
                action: "incident.view".into(),
                detail: json!({"incident_id": 3}),
            },
            AuditEntry {
                id: 9,
                at: t(60),
                actor: "ro".into(),
                action: "evidence.export".into(),
                detail: json!({"incidents": [3]}),
            },
        ];
        let c = Custody::from_entries(&[3], &["rss:a".into()], entries, false);
        assert_eq!(c.schema, SCHEMA);
        assert_eq!(c.entries.len(), 2);
        assert_eq!(
            (
                c.entries[0].audit_id,
                c.entries[0].actor.as_str(),
                c.entries[0].at
            ),
            (4, "comms", t(0))
        );
        assert_eq!(c.entries[1].summary, "exported an evidence pack");
        assert!(c.note.contains("Nothing was left out"));
        let back: Custody = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let cut = Custody::from_entries(&[3], &[], Vec::new(), true);
        assert!(cut.note.contains("Only the newest"));
    }
}
