//! Notices to the admins about Ballotwatch itself, apart from the alert rules: today, work the
//! pipeline quarantined (a response, medium or item a stage could not survive). They go through
//! the same durable outbox and channels as alerts, to `[alerts] admin_to` by email and to the
//! `[alerts] admin_webhooks`, once per quarantine (the idempotency key names it).

use crate::config::AlertsConfig;
use ballotwatch_store::{NewOutbox, OutboxKind, QuarantineEntry};
use chrono::Utc;

use crate::channels::{self, Destination};
use crate::decide::Payload;

/// The `rule` column of queued admin notices (no alert rule's throttle or digest reads it).
pub const NOTICE_RULE: &str = "(admin notice)";

/// Where admin notices go: email to `admin_to`, then each of `admin_webhooks`.
pub fn destinations(alerts: &AlertsConfig) -> Vec<Destination> {
    channels::destinations(&alerts.admin_to, &alerts.admin_webhooks)
}

/// The messages telling the admins that `q` was quarantined: one per configured channel, none
/// when no admin channel is configured. Queuing them again is a no-op (same idempotency keys).
pub fn quarantine_notices(alerts: &AlertsConfig, q: &QuarantineEntry) -> Vec<NewOutbox> {
    let subject = format!(
        "[Ballotwatch] Quarantined: {} work from source {}",
        q.stage, q.source
    );
    let mut text = format!(
        "The {stage} stage could not finish a piece of work and set it aside; everything else \
         carries on.\n\nSource: {source}\nWhat: {what}\nReason: {reason}\nQuarantined at: {at}\n",
        stage = q.stage,
        source = q.source,
        what = q.what,
        reason = q.reason,
        at = q.quarantined_at.to_rfc3339(),
    );
    if let Some(sha) = &q.sha256 {
        text.push_str(&format!("Captured bytes (kept): sha256 {sha}\n"));
    }
    text.push_str(&format!(
        "\nSee `ballotwatch quarantine list`; once the cause is fixed, `ballotwatch quarantine \
         retry {id}`, or `ballotwatch quarantine drop {id}` to discard it (the record and bytes \
         stay).\n",
        id = q.id
    ));
    let payload = serde_json::to_value(Payload::Notice { subject, text }).unwrap_or_default();
    destinations(alerts)
        .into_iter()
        .map(
            |Destination {
                 channel,
                 recipients,
             }| NewOutbox {
                idempotency_key: format!(
                    "admin:quarantine:{}:{}:{}:{channel}",
                    q.stage,
                    q.key,
                    q.quarantined_at.timestamp_millis()
                ),
                channel: channel.to_string(),
                kind: OutboxKind::Alert,
                rule: NOTICE_RULE.to_string(),
                incident_id: None,
                recipients,
                payload: payload.clone(),
                not_before: Utc::now(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::{email, json, slack, teams};
    use ballotwatch_store::Stage;

    fn entry() -> QuarantineEntry {
        QuarantineEntry {
            id: 3,
            stage: Stage::Poll,
            key: "Echo|ab".into(),
            source: "Echo".into(),
            what: "https://echo.example/feed?<!channel>&x=<script>".into(),
            item_seq: None,
            sha256: Some("ab".repeat(32)),
            reason: "parsing this response: 2 attempts did not finish".into(),
            attempts: 2,
            quarantined_at: Utc::now(),
            state: "held".into(),
        }
    }

    #[test]
    fn one_notice_per_admin_channel_with_a_stable_key_and_nothing_without_admins() {
        let mut alerts = AlertsConfig::default();
        assert!(quarantine_notices(&alerts, &entry()).is_empty());
        alerts.admin_to = vec!["it@anytown.gov.uk".into()];
        alerts.admin_webhooks = vec!["ops".into()];
        let q = entry();
        let n = quarantine_notices(&alerts, &q);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].channel, "email");
        assert_eq!(n[0].recipients, ["it@anytown.gov.uk"]);
        assert_eq!(n[1].channel, "webhook:ops");
        assert!(n
            .iter()
            .all(|m| m.incident_id.is_none() && m.rule == NOTICE_RULE));
        let again = quarantine_notices(&alerts, &q);
        assert_eq!(n[0].idempotency_key, again[0].idempotency_key);
        assert_ne!(n[0].idempotency_key, n[1].idempotency_key);
    }

    #[test]
    fn notices_say_what_to_do_and_escape_the_hostile_url_in_every_channel() {
        let alerts = AlertsConfig {
            admin_to: vec!["it@anytown.gov.uk".into()],
            ..AlertsConfig::default()
        };
        let n = quarantine_notices(&alerts, &entry());
        let payload: Payload = serde_json::from_value(n[0].payload.clone()).unwrap();
        let mail = email::mail(&payload);
        assert_eq!(
            mail.subject,
            "[Ballotwatch] Quarantined: poll work from source Echo"
        );
        for needle in [
            "quarantine retry 3",
            "quarantine drop 3",
            "2 attempts did not finish",
            &"ab".repeat(32),
        ] {
            assert!(mail.text.contains(needle), "{needle}: {}", mail.text);
            assert!(mail.html.contains(needle), "{needle}: {}", mail.html);
        }
        assert!(!mail.html.contains("<script"), "{}", mail.html);
        let slack = slack::message(&payload).to_string();
        assert!(!slack.contains("<!channel>"), "{slack}");
        assert!(slack.contains("quarantine retry 3"), "{slack}");
        let teams = teams::card(&payload).to_string();
        assert!(!teams.contains("<script"), "{teams}");
        assert!(teams.contains("quarantine retry 3"), "{teams}");
        let generic = json::body(&payload, &n[0].idempotency_key);
        assert_eq!(generic["event"], "notice");
    }
}
