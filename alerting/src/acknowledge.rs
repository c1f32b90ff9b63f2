//! Acknowledgements to the people who send reports to the report inbox (its `acknowledge`
//! table): a short reply with the report's reference, queued in the durable outbox in the same
//! transaction that records the report ([`ballotwatch_store::Store::record_inbox_reports`]),
//! and sent by email like alerts and admin notices (every channel renders it as a notice). At
//! most one a day goes to one address (the idempotency key names a hash of it and the day): a
//! forged `From` cannot make the council's mail server write to anyone more often than that.

use ballotwatch_store::{NewOutbox, OutboxKind};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::decide::Payload;

/// The `rule` column of queued acknowledgements (no alert rule reads it; the reporter
/// retention sweep removes their recipients).
pub use ballotwatch_store::ACKNOWLEDGEMENT_RULE as ACK_RULE;

/// The message acknowledging a report to `to`, with the already-rendered `subject` and `text`,
/// queued `now`. Its idempotency key (and so its `Message-ID`) names the day and a hash of
/// the address, never the address: the recipient column alone holds it, and the reporter
/// retention sweep removes it from there.
///
/// # Example
///
/// ```
/// use ballotwatch_alerting::acknowledge::{acknowledgement, ACK_RULE};
///
/// let now = chrono::Utc::now();
/// let m = acknowledgement("Pat@Example.org", "Your report R-000042", "Thanks: R-000042", now);
/// assert_eq!(m.recipients, ["Pat@Example.org"]);
/// assert_eq!(m.rule, ACK_RULE);
/// assert!(m.idempotency_key.starts_with("report-ack:"));
/// assert!(!m.idempotency_key.to_lowercase().contains("pat@example.org"));
/// ```
pub fn acknowledgement(to: &str, subject: &str, text: &str, now: DateTime<Utc>) -> NewOutbox {
    let payload = serde_json::to_value(Payload::Notice {
        subject: subject.to_string(),
        text: text.to_string(),
    })
    .unwrap_or_default();
    NewOutbox {
        idempotency_key: format!(
            "report-ack:{}:{}",
            &hex::encode(Sha256::digest(to.to_lowercase().as_bytes()))[..32],
            now.format("%Y-%m-%d")
        ),
        channel: "email".into(),
        kind: OutboxKind::Alert,
        rule: ACK_RULE.to_string(),
        incident_id: None,
        recipients: vec![to.to_string()],
        payload,
        not_before: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::email;
    use chrono::TimeZone;

    #[test]
    fn one_a_day_per_address_and_the_mail_says_only_what_was_configured() {
        let morning = Utc.with_ymd_and_hms(2026, 5, 7, 7, 0, 0).unwrap();
        let evening = Utc.with_ymd_and_hms(2026, 5, 7, 21, 59, 0).unwrap();
        let next_day = Utc.with_ymd_and_hms(2026, 5, 8, 0, 1, 0).unwrap();
        let a = acknowledgement(
            "pat@example.org",
            "Report R-000001",
            "Ref R-000001",
            morning,
        );
        let b = acknowledgement(
            "PAT@example.org",
            "Report R-000002",
            "Ref R-000002",
            evening,
        );
        let c = acknowledgement(
            "pat@example.org",
            "Report R-000003",
            "Ref R-000003",
            next_day,
        );
        let d = acknowledgement(
            "sam@example.org",
            "Report R-000004",
            "Ref R-000004",
            evening,
        );
        assert_eq!(a.idempotency_key, b.idempotency_key);
        assert_ne!(a.idempotency_key, c.idempotency_key);
        assert_ne!(b.idempotency_key, d.idempotency_key);
        assert!(a.incident_id.is_none() && a.channel == "email");
        let payload: Payload = serde_json::from_value(a.payload).unwrap();
        let mail = email::mail(&payload);
        assert_eq!(mail.subject, "Report R-000001");
        assert_eq!(mail.text, "Ref R-000001");
        assert!(mail.html.contains("Ref R-000001"), "{}", mail.html);
    }
}
