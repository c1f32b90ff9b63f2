//! The alert decision against a real store: digests, updates going to the next digest,
//! throttling and quiet hours (with the store's real transactions; no network); and outbox rows
//! naming a channel that no longer exists.

use ballotwatch_alerting::{AlertsConfig, Decider, Payload, Sender};
use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::{Capture, ClassifyResult, Item, Severity, SourceRef, Verdict, VerdictKind};
use std::sync::Arc;

use ballotwatch_store::{
    NewOutbox, OutboxKind, OutboxRow, OutboxState, PipelineStore, PollRecord, Store,
};
use chrono::Utc;

/// `[alerts]` with a mail server and `rules`, checked as `check-config` would.
fn config(rules: &str) -> AlertsConfig {
    #[derive(serde::Deserialize)]
    struct File {
        alerts: AlertsConfig,
    }
    let text =
        format!("[alerts.smtp]\nhost = \"127.0.0.1\"\nfrom = \"a@anytown.example\"\n{rules}");
    let alerts = toml::from_str::<File>(&text).unwrap().alerts;
    let mut problems = Problems::default();
    alerts.validate(&FieldPath::root().key("alerts"), &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    alerts
}

/// Stores flagged items (id, narrative, severity) as if ingested and classified.
fn flag(store: &Store, items: &[(&str, &str, Severity)]) {
    let now = Utc::now();
    let body = format!("{items:?}");
    let sha256 = store.put_blob(body.as_bytes()).unwrap();
    let capture = Capture {
        url: "https://echo.example/rss".into(),
        final_url: "https://echo.example/rss".into(),
        status: 200,
        headers: vec![],
        sha256,
        size: body.len() as u64,
        started_at: now,
        finished_at: now,
    };
    let record = PollRecord {
        captures: vec![capture],
        items: items
            .iter()
            .map(|(id, ..)| {
                (
                    0,
                    Item {
                        id: id.to_string(),
                        source: SourceRef {
                            kind: "rss".into(),
                            name: "Echo".into(),
                        },
                        text: Some(format!("post {id}: polls closed")),
                        ..Item::default()
                    },
                )
            })
            .collect(),
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: false,
        attempted_at: now,
        next_attempt_at: now,
    };
    store.record_poll("Echo", record).unwrap();
    let results: Vec<_> = store
        .pending_classification(100)
        .unwrap()
        .into_iter()
        .map(|s| {
            let (_, narrative, sev) = items.iter().find(|i| i.0 == s.item.id).unwrap();
            (
                s.seq,
                ClassifyResult {
                    id: s.item.id.clone(),
                    flagged: true,
                    severity: *sev,
                    verdicts: vec![Verdict {
                        kind: VerdictKind::Misinformation,
                        label: "false_voting_info".into(),
                        score: 0.9,
                        detector: "narratives".into(),
                        explanation: "claims polls are closed".into(),
                        evidence: serde_json::json!({ "narrative": narrative }),
                        rebuttal: None,
                    }],
                    detector_errors: vec![],
                    media_text: Vec::new(),
                },
            )
        })
        .collect();
    store.save_results(&results).unwrap();
}

fn payload(row: &OutboxRow) -> Payload {
    serde_json::from_value(row.payload.clone()).unwrap()
}

#[tokio::test]
async fn digest_rules_collect_sightings_until_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cfg = config(
        "[[alerts.rule]]\nname = \"daily\"\nto = [\"ro@anytown.example\"]\nmode = \"digest\"\n\
         digest = \"hourly\"\ndigest_at = \"00:00\"\n",
    );
    let decider = Decider::new(&cfg, None);
    let sender = Sender::new(&cfg).unwrap();
    let shared: Arc<dyn PipelineStore> = Arc::new(store.clone());
    // The first run starts the schedule (nothing waiting yet).
    assert_eq!(sender.run_digests(&shared, Utc::now()).await.unwrap(), 0);
    flag(
        &store,
        &[
            ("a", "n1", Severity::Medium),
            ("b", "n1", Severity::High),
            ("c", "n2", Severity::Medium),
        ],
    );
    assert_eq!(decider.decide_pending(&store).unwrap(), 3);
    assert!(
        store.outbox_rows(10).unwrap().is_empty(),
        "nothing immediate"
    );
    // Not yet the next slot: nothing goes.
    assert_eq!(sender.run_digests(&shared, Utc::now()).await.unwrap(), 0);
    // An hour later: one digest with every sighting, in order.
    let later = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(sender.run_digests(&shared, later).await.unwrap(), 3);
    assert_eq!(sender.run_digests(&shared, later).await.unwrap(), 0);
    let rows = store.outbox_rows(10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipients, ["ro@anytown.example"]);
    let Payload::Digest { views, .. } = payload(&rows[0]) else {
        panic!("not a digest")
    };
    let ids: Vec<_> = views.iter().map(|v| v.item_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    // a and b are near-duplicates: one incident with two sightings.
    assert_eq!(views[0].incident_id, views[1].incident_id);
    assert_ne!(views[0].incident_id, views[2].incident_id);
    assert_eq!(views[1].sightings, 2);
    let mail = ballotwatch_alerting::channels::email::mail(&payload(&rows[0]));
    assert!(
        mail.subject.contains("3 sightings in 2 incidents"),
        "{}",
        mail.subject
    );
}

#[tokio::test]
async fn updates_go_to_the_next_digest_and_throttling_spaces_immediate_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cfg = config(
        "[[alerts.rule]]\nname = \"comms\"\nto = [\"c@anytown.example\"]\nthrottle = \"10m\"\n",
    );
    let decider = Decider::new(&cfg, None);
    flag(
        &store,
        &[
            ("a", "n1", Severity::Medium),
            ("b", "n1", Severity::Medium),
            ("c", "n2", Severity::Medium),
            ("d", "n3", Severity::High),
        ],
    );
    decider.decide_pending(&store).unwrap();
    let rows = store.outbox_rows(10).unwrap();
    // a opens incident 1 (alert), b is an update of it (to the digest, by default), c opens
    // incident 2 (alert, held back by the throttle), d is high (never held back).
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let gap = rows[1].next_attempt_at - rows[0].next_attempt_at;
    assert!(
        gap >= chrono::Duration::minutes(10) - chrono::Duration::seconds(1),
        "{gap}"
    );
    assert!(rows[2].next_attempt_at <= Utc::now());
    let status = store.outbox_status().unwrap();
    assert_eq!(status.digest_waiting, 1, "the update waits for the digest");
}

#[tokio::test]
async fn rows_naming_an_unknown_or_removed_channel_are_dead_letters_that_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Only `[alerts.smtp]`: the webhook `ops` was removed after its messages were queued, and
    // `sms` is no channel this version knows (a newer version's row, or a hand edit).
    let cfg = config("");
    let payload = serde_json::to_value(Payload::Notice {
        subject: "s".into(),
        text: "t".into(),
    })
    .unwrap();
    let row = |key: &str, channel: &str| NewOutbox {
        idempotency_key: key.into(),
        channel: channel.into(),
        kind: OutboxKind::Alert,
        rule: "r".into(),
        incident_id: None,
        recipients: Vec::new(),
        payload: payload.clone(),
        not_before: Utc::now(),
    };
    store
        .outbox_enqueue(&[row("a", "webhook:ops"), row("b", "sms")])
        .unwrap();
    let sender = Sender::new(&cfg).unwrap();
    assert_eq!(sender.deliver_due(&store).await.unwrap(), 0);
    let rows = store.outbox_rows(10).unwrap();
    assert_eq!(rows.len(), 2);
    for (r, needle) in rows.iter().zip([
        "unknown channel `webhook:ops`: there is no [[alerts.webhook]] named `ops`",
        "unknown channel `sms`",
    ]) {
        assert_eq!(r.state, OutboxState::Dead, "{r:?}");
        assert_eq!(r.attempts, 1, "{r:?}");
        let error = r.last_error.as_deref().unwrap_or_default();
        assert!(error.contains(needle), "{error}");
    }
    // `alerts status` lists them.
    assert_eq!(store.outbox_status().unwrap().dead.len(), 2);
}
