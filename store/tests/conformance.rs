//! The store conformance suite: the same scenarios through [`PipelineStore`] on both back ends,
//! SQLite ([`Store`]) and PostgreSQL ([`PgStore`], on a real server this binary starts — see
//! `ballotwatch_store::testing`), with the same expected results; a differential test that runs
//! one workload on both and compares everything observable; and the PostgreSQL-only cluster
//! cases (two nodes at once, a server restart mid-run, a newer schema).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ballotwatch_core::{Capture, ClassifyResult, Item, Severity, SourceRef, Verdict, VerdictKind};
use ballotwatch_store::testing::{self, PgDatabase};
use ballotwatch_store::{
    AlertPlan, DigestEntry, IncidentContext, NewCapture, NewDigestEntry, NewKnownFake, NewOutbox,
    NewTimestampToken, OutboxKind, OutboxState, PgOptions, PgStore, PipelineStore, PollRecord,
    Sighting, Store, StoreError,
};
use chrono::{DateTime, TimeZone, Utc};

// --- the two back ends ---------------------------------------------------------------------

/// Overwrites the stored bytes of a blob (by SHA-256) behind the store's back.
type Tamper = Box<dyn Fn(&str, &[u8])>;

/// A store under test and what keeps it alive, with a way to damage a stored blob.
struct Env {
    store: Arc<dyn PipelineStore>,
    tamper: Tamper,
    _keep: Keep,
}

#[allow(dead_code)] // held only to be dropped at the end of the test
enum Keep {
    Dir(tempfile::TempDir),
    Db(PgDatabase<'static>),
}

fn sqlite() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let s = store.clone();
    Env {
        store: Arc::new(store),
        tamper: Box::new(move |sha, bytes| std::fs::write(s.blob_path(sha), bytes).unwrap()),
        _keep: Keep::Dir(dir),
    }
}

fn shared_pg() -> &'static testing::SharedPg {
    testing::shared().unwrap_or_else(|e| panic!("cannot start the test PostgreSQL: {e}"))
}

fn pg_options(node: &str) -> PgOptions {
    PgOptions {
        node: node.into(),
        connect_timeout: Duration::from_secs(2),
        ..PgOptions::default()
    }
}

fn pg(name: &str) -> Env {
    let db = shared_pg().database(name).unwrap();
    let store = PgStore::connect(&db.url, pg_options("node-a")).unwrap();
    let url = db.url.clone();
    Env {
        store: Arc::new(store),
        tamper: Box::new(move |sha, bytes| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let n = c
                .execute(
                    "UPDATE blobs SET bytes = $2 WHERE sha256 = $1",
                    &[&sha, &bytes],
                )
                .unwrap();
            assert_eq!(n, 1);
        }),
        _keep: Keep::Db(db),
    }
}

/// One `#[test]` per scenario and back end: `sqlite::name` and `postgresql::name`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { let env = super::sqlite(); super::$name(&env); } )*
        }
        mod postgresql {
            $( #[test] fn $name() { let env = super::pg(stringify!($name)); super::$name(&env); } )*
        }
    };
}

#[path = "conformance/evidence.rs"]
mod evidence;
#[path = "conformance/import.rs"]
mod import;
#[path = "conformance/report_match.rs"]
mod report_match;
#[path = "conformance/web.rs"]
mod web;

use evidence::screenshots_derived_copies_segments_and_custody_for_packs;
use report_match::{
    report_bursts_raise_severity_once_per_burst, report_keys_and_picture_hashes_match,
};

conformance!(
    item_versions_and_source_state,
    stage_queues_move_with_their_results,
    sightings_join_or_open_incidents,
    outbox_keys_order_retries_and_dead_letters,
    outbox_two_threads_claim_each_message_once,
    digests_close_once_per_scheduled_time,
    known_fakes_are_confirmed_listed_and_removed_with_audit,
    capture_log_heads_are_timestamped_and_a_wrong_head_is_refused,
    capture_bytes_round_trip_and_tampering_is_detected,
    captures_and_audit_log,
    inbox_reports_are_recorded_once_and_reporters_expire,
    acknowledgements_over_the_hourly_cap_are_withheld_and_audited,
    get_items_reads_the_latest_versions_in_order,
    report_keys_and_picture_hashes_match,
    report_bursts_raise_severity_once_per_burst,
    screenshots_derived_copies_segments_and_custody_for_packs,
);

// --- builders -------------------------------------------------------------------------------

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn capture(s: &dyn PipelineStore, url: &str, body: &[u8], at: i64) -> Capture {
    Capture {
        url: url.into(),
        final_url: url.into(),
        status: 200,
        headers: vec![("etag".into(), format!("\"{at}\""))],
        sha256: s.put_blob(body).unwrap(),
        size: body.len() as u64,
        started_at: t(at),
        finished_at: t(at) + chrono::Duration::milliseconds(250),
    }
}

fn item(id: &str, text: &str) -> Item {
    Item {
        id: id.into(),
        source: SourceRef {
            kind: "rss".into(),
            name: "Echo".into(),
        },
        url: Some(format!("https://echo.example/{id}")),
        published_at: Some(t(-3600)),
        title: Some(format!("Title {id}")),
        text: Some(text.into()),
        ..Item::default()
    }
}

fn poll(s: &dyn PipelineStore, items: &[(&str, &str)], at: i64) -> PollRecord {
    let body = serde_json::to_vec(items).unwrap();
    PollRecord {
        captures: vec![capture(s, "https://echo.example/rss", &body, at)],
        items: items.iter().map(|(id, text)| (0, item(id, text))).collect(),
        etag: Some(format!("\"{at}\"")),
        last_modified: None,
        cursor: Some(serde_json::json!({ "after": at })),
        not_modified: false,
        attempted_at: t(at),
        next_attempt_at: t(at + 300),
    }
}

fn result(id: &str, flagged: bool) -> ClassifyResult {
    ClassifyResult {
        id: id.into(),
        flagged,
        severity: if flagged {
            Severity::High
        } else {
            Severity::Low
        },
        verdicts: if flagged {
            vec![Verdict {
                kind: VerdictKind::Misinformation,
                label: "false_voting_info".into(),
                score: 0.9,
                detector: "narratives".into(),
                explanation: "claims polls closed".into(),
                evidence: serde_json::json!({"narrative": "polls-closed"}),
                rebuttal: None,
            }]
        } else {
            vec![]
        },
        detector_errors: vec![],
        media_text: vec![],
    }
}

/// Classifies everything pending (flagging the ids in `flag`) and returns the seqs.
fn classify_all(s: &dyn PipelineStore, flag: &[&str]) -> Vec<i64> {
    let pending = s.pending_classification(1000).unwrap();
    let results: Vec<_> = pending
        .iter()
        .map(|p| {
            (
                p.seq,
                result(&p.item.id, flag.contains(&p.item.id.as_str())),
            )
        })
        .collect();
    s.save_results(&results).unwrap();
    pending.iter().map(|p| p.seq).collect()
}

fn sighting(seq: i64, key: Option<&str>, severity: Severity) -> Sighting {
    Sighting {
        seq,
        group_key: key.map(str::to_string),
        title: format!("Threat {}", key.unwrap_or("alone")),
        kind: VerdictKind::Misinformation,
        severity,
        window: Duration::from_secs(3600),
    }
}

fn msg(key: &str, channel: &str, incident: Option<i64>) -> NewOutbox {
    NewOutbox {
        idempotency_key: key.into(),
        channel: channel.into(),
        kind: OutboxKind::Alert,
        rule: "comms".into(),
        incident_id: incident,
        recipients: vec!["team@council.example".into()],
        payload: serde_json::json!({ "subject": key }),
        not_before: Utc::now(),
    }
}

/// A plan that alerts once per incident, keyed by the incident.
fn alert_plan(ctx: &IncidentContext) -> AlertPlan {
    AlertPlan {
        outbox: vec![msg(
            &format!("incident:{}:comms", ctx.incident.id),
            "email",
            Some(ctx.incident.id),
        )],
        digest: vec![],
    }
}

// --- scenarios ------------------------------------------------------------------------------

fn item_versions_and_source_state(env: &Env) {
    let s = &*env.store;
    let first = s
        .record_poll("Echo", poll(s, &[("a", "one"), ("b", "two")], 0))
        .unwrap();
    assert_eq!((first.new, first.updated, first.unchanged), (2, 0, 0));
    let rec = poll(
        s,
        &[
            ("a", "one, edited"),
            ("b", "two"),
            ("c", "three"),
            ("c", "three!"),
        ],
        60,
    );
    let second = s.record_poll("Echo", rec.clone()).unwrap();
    assert_eq!((second.new, second.updated, second.unchanged), (1, 1, 2));
    // The same poll again (a retry after a crash) stores nothing and counts nothing.
    let again = s.record_poll("Echo", rec).unwrap();
    assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 4));
    assert_eq!(s.count_items().unwrap(), 4);

    let versions = s.item_versions("a").unwrap();
    assert_eq!(
        versions.iter().map(|v| v.item.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(versions[0].seq < versions[1].seq);
    assert_eq!(versions[1].item.text.as_deref(), Some("one, edited"));
    assert!(versions[1].item.ingested_at.is_some());
    let c = s.get_item("c").unwrap().unwrap();
    assert_eq!(
        c.item.text.as_deref(),
        Some("three!"),
        "the last occurrence wins"
    );
    assert!(s.get_item("zzz").unwrap().is_none());
    let cap = s.get_capture(c.capture_id.unwrap()).unwrap().unwrap();
    assert_eq!(cap.1, "Echo");
    assert_eq!(cap.2.started_at, t(60));

    let st = s.source_state("Echo").unwrap().unwrap();
    assert_eq!((st.fetches, st.items_new, st.items_updated), (2, 3, 1));
    assert_eq!(st.etag.as_deref(), Some("\"60\""));
    assert_eq!(st.cursor, Some(serde_json::json!({ "after": 60 })));
    assert_eq!(st.last_success_at, Some(t(60)));
    assert_eq!(st.next_attempt_at, Some(t(360)));

    s.record_poll_error(
        "Echo",
        "https://echo.example/rss",
        "timed out",
        t(400),
        t(700),
    )
    .unwrap();
    s.record_poll_error(
        "Echo",
        "https://echo.example/rss",
        "timed out again",
        t(700),
        t(1300),
    )
    .unwrap();
    let dropped = vec!["entry 3 has no link".to_string()];
    s.record_dropped("Echo", &dropped, t(700)).unwrap();
    s.record_dropped("Echo", &dropped, t(700)).unwrap();
    let st = s.source_state("Echo").unwrap().unwrap();
    assert_eq!((st.consecutive_failures, st.errors), (2, 2));
    assert_eq!(st.last_error.as_deref(), Some("timed out again"));
    assert_eq!(st.last_error_at, Some(t(700)));
    assert_eq!(st.items_dropped, 1, "the same poll's drops count once");
    assert_eq!(st.cursor, Some(serde_json::json!({ "after": 60 })), "kept");
    assert!(s.source_state("Nowhere").unwrap().is_none());

    // A second way in keeps its own state; items still belong to the source.
    let mut rt = poll(s, &[("d", "live")], 90);
    rt.cursor = Some(serde_json::json!("jetstream-cursor"));
    s.record_poll_as("Echo#live", "Echo", rt).unwrap();
    assert_eq!(
        s.source_state("Echo#live").unwrap().unwrap().cursor,
        Some(serde_json::json!("jetstream-cursor"))
    );
    assert_eq!(s.get_item("d").unwrap().unwrap().item.source.name, "Echo");

    // Every new or changed item logged its body and headers in the capture log.
    let head = s.capture_log_head().unwrap().unwrap();
    assert_eq!(head.seq, 2 * 5);
    assert_eq!(head.item_id, "d");

    // Pages of latest versions, for rebuilding an index: `a` once, as version 2.
    assert_eq!(s.count_latest_items().unwrap(), 4);
    let first_page = s.latest_items_after(0, 2).unwrap();
    let rest = s.latest_items_after(first_page[1].seq, 100).unwrap();
    let pages: Vec<(String, u32)> = first_page
        .iter()
        .chain(&rest)
        .map(|p| (p.item.id.clone(), p.item.version))
        .collect();
    assert_eq!(
        pages,
        [
            ("b".into(), 1),
            ("a".into(), 2),
            ("c".into(), 1),
            ("d".into(), 1)
        ]
    );

    // Bad input is refused before anything is written.
    let mut bad = poll(s, &[("e", "x")], 120);
    bad.items[0].0 = 5;
    let err = s.record_poll("Echo", bad).unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    let mut missing = poll(s, &[("e", "x")], 130);
    missing.captures[0].sha256 = "ab".repeat(32);
    let err = s.record_poll("Echo", missing).unwrap_err();
    assert!(err.to_string().contains("put_blob"), "{err}");
    assert!(s.get_item("e").unwrap().is_none());
    assert_eq!(s.count_items().unwrap(), 5);
}

/// One batched read: the latest version of each id asked for, in the order asked (an id asked
/// twice comes twice), unknown ids skipped, nothing for nothing.
fn get_items_reads_the_latest_versions_in_order(env: &Env) {
    let s = &*env.store;
    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2"), ("c", "3")], 0))
        .unwrap();
    s.record_poll("Echo", poll(s, &[("b", "2, edited")], 60))
        .unwrap();
    let ids: Vec<String> = ["c", "nope", "b", "a", "c"]
        .iter()
        .map(|i| i.to_string())
        .collect();
    let got: Vec<(String, u32, Option<String>)> = s
        .get_items(&ids)
        .unwrap()
        .into_iter()
        .map(|i| (i.item.id, i.item.version, i.item.text))
        .collect();
    let want = [
        ("c", 1, "3"),
        ("b", 2, "2, edited"),
        ("a", 1, "1"),
        ("c", 1, "3"),
    ];
    assert_eq!(
        got,
        want.map(|(id, v, t)| (id.to_string(), v, Some(t.to_string())))
    );
    // The same as one read per id.
    for (id, got) in ["c", "b", "a"].iter().zip(s.get_items(&ids).unwrap()) {
        assert_eq!(s.get_item(id).unwrap().unwrap().seq, got.seq);
    }
    assert!(s.get_items(&[]).unwrap().is_empty());
}

fn stage_queues_move_with_their_results(env: &Env) {
    let s = &*env.store;
    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2"), ("c", "3")], 0))
        .unwrap();
    let pending = s.pending_classification(2).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| p.item.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"],
        "oldest first, at most the limit"
    );
    // A result given for the wrong item fails the whole call.
    let err = s
        .save_results(&[
            (pending[0].seq, result("a", false)),
            (pending[1].seq, result("a", true)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert_eq!(
        s.pending_classification(10).unwrap().len(),
        3,
        "nothing moved"
    );

    let seqs = classify_all(s, &["b"]);
    assert_eq!(seqs.len(), 3);
    // Saving again is a no-op, and an unknown seq is skipped.
    s.save_results(&[(seqs[0], result("a", true)), (999_999, result("zz", true))])
        .unwrap();
    let a = s.get_item("a").unwrap().unwrap();
    assert!(
        !a.result.as_ref().unwrap().flagged,
        "the first result stays"
    );
    assert!(s.pending_classification(10).unwrap().is_empty());
    let b = s.get_item("b").unwrap().unwrap();
    assert_eq!(b.result.unwrap().verdicts[0].label, "false_voting_info");

    // A new version of `a` waits for classification; the indexer sees only latest versions.
    s.record_poll("Echo", poll(s, &[("a", "1 edited")], 60))
        .unwrap();
    let to_index = s.pending_index(10).unwrap();
    assert_eq!(
        to_index
            .iter()
            .map(|p| p.item.id.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"],
        "`a`'s latest version is still new"
    );
    classify_all(s, &[]);
    let to_index = s.pending_index(10).unwrap();
    assert_eq!(to_index.len(), 3);
    let a2 = to_index.iter().find(|p| p.item.id == "a").unwrap();
    assert_eq!(a2.item.version, 2);

    // A mark made before a re-index request does not hide the request.
    let b_mark = to_index
        .iter()
        .find(|p| p.item.id == "b")
        .unwrap()
        .index_mark();
    let seq_b = b_mark.seq;
    let flagged = s.pending_alerts(10).unwrap();
    let b_pending = flagged.iter().find(|p| p.seq == seq_b).unwrap();
    s.record_sighting(
        &sighting(b_pending.seq, Some("k"), Severity::High),
        &mut alert_plan,
    )
    .unwrap()
    .unwrap();
    let marks: Vec<_> = to_index.iter().map(|p| p.index_mark()).collect();
    s.mark_indexed(&marks).unwrap();
    let left = s.pending_index(10).unwrap();
    assert_eq!(left.len(), 1, "b joined an incident after it was read");
    assert_eq!(left[0].item.id, "b");
    assert_eq!(left[0].index_gen, b_mark.gen + 1);
    assert_eq!(left[0].incidents.len(), 1);
    s.mark_indexed(&[left[0].index_mark()]).unwrap();
    assert!(s.pending_index(10).unwrap().is_empty());
    // Marking again, or an unknown seq, changes nothing.
    s.mark_indexed(&marks).unwrap();
    s.mark_indexed(&[ballotwatch_store::IndexMark {
        seq: 999_999,
        gen: 0,
    }])
    .unwrap();
}

fn sightings_join_or_open_incidents(env: &Env) {
    let s = &*env.store;
    s.record_poll(
        "Echo",
        poll(
            s,
            &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")],
            0,
        ),
    )
    .unwrap();
    classify_all(s, &["a", "b", "c", "d"]);
    let pending = s.pending_alerts(10).unwrap();
    assert_eq!(pending.len(), 5, "every classified item needs a decision");
    let seq = |id: &str| pending.iter().find(|p| p.item.id == id).unwrap().seq;

    let mut calls = 0;
    let (first, plan) = s
        .record_sighting(
            &sighting(seq("a"), Some("k1"), Severity::Medium),
            &mut |ctx| {
                calls += 1;
                alert_plan(ctx)
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(calls, 1);
    assert!(first.is_new);
    assert_eq!(first.sightings, 1);
    assert!(first.alerted.is_empty());
    assert_eq!(plan.outbox.len(), 1);
    let (second, _) = s
        .record_sighting(
            &sighting(seq("b"), Some("k1"), Severity::High),
            &mut alert_plan,
        )
        .unwrap()
        .unwrap();
    assert!(!second.is_new);
    assert_eq!(second.incident.id, first.incident.id);
    assert_eq!(second.sightings, 2);
    assert_eq!(
        second.incident.severity,
        Severity::High,
        "an incident keeps its highest"
    );
    assert_eq!(
        second.alerted,
        [(
            "comms".to_string(),
            format!("incident:{}:comms", first.incident.id)
        )]
    );
    assert_eq!(second.last_immediate.len(), 1);
    let (third, _) = s
        .record_sighting(
            &sighting(seq("c"), Some("k2"), Severity::Low),
            &mut alert_plan,
        )
        .unwrap()
        .unwrap();
    assert!(third.is_new);
    let (fourth, _) = s
        .record_sighting(&sighting(seq("d"), None, Severity::Low), &mut alert_plan)
        .unwrap()
        .unwrap();
    assert!(fourth.is_new, "no key always opens");
    assert_ne!(fourth.incident.id, third.incident.id);

    // Deciding an item again does nothing and never calls the plan.
    let again = s
        .record_sighting(
            &sighting(seq("a"), Some("k1"), Severity::Medium),
            &mut |_| panic!("the plan must not run for a decided item"),
        )
        .unwrap();
    assert!(again.is_none());
    assert!(s
        .record_sighting(
            &sighting(999_999, Some("k1"), Severity::Low),
            &mut alert_plan
        )
        .unwrap()
        .is_none());
    s.mark_alerted(&[seq("e")]).unwrap();
    assert!(s.pending_alerts(10).unwrap().is_empty());

    let inc = s.get_incident(first.incident.id).unwrap().unwrap();
    assert_eq!(inc.severity, Severity::High);
    assert_eq!(
        s.incident_item_ids(first.incident.id).unwrap(),
        ["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        s.get_item("b").unwrap().unwrap().incident_id(),
        Some(first.incident.id)
    );
    // One alert per incident: the same key queued once.
    let rows = s.outbox_rows(100).unwrap();
    assert_eq!(rows.len(), 3);
    let actions: Vec<String> = s
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "incident.create").count(),
        3
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "incident.add_item").count(),
        4
    );
}

fn outbox_keys_order_retries_and_dead_letters(env: &Env) {
    let s = &*env.store;
    s.outbox_enqueue(&[
        msg("m1", "email", None),
        msg("m2", "email", None),
        msg("w1", "webhook:teams", None),
    ])
    .unwrap();
    s.outbox_enqueue(&[msg("m1", "email", None)]).unwrap();
    assert_eq!(s.outbox_rows(10).unwrap().len(), 3, "a key queues once");

    let now = Utc::now() + chrono::Duration::seconds(1);
    let claimed = s.outbox_claim(now).unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|r| r.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["m1", "w1"],
        "each channel's head"
    );
    assert!(claimed
        .iter()
        .all(|r| r.state == OutboxState::Sending && r.attempts == 1));
    assert!(
        s.outbox_claim(now).unwrap().is_empty(),
        "busy channels give nothing"
    );

    let m1 = claimed[0].id;
    let w1 = claimed[1].id;
    let later = now + chrono::Duration::minutes(5);
    s.outbox_retry(m1, "451 try later", later).unwrap();
    s.outbox_sent(w1, now).unwrap();
    assert!(
        s.outbox_claim(now).unwrap().is_empty(),
        "m1 waits for its back-off; m2 behind it"
    );
    let m2_due = s.outbox_rows(10).unwrap()[1].next_attempt_at;
    assert_eq!(
        s.outbox_next_due().unwrap(),
        Some(m2_due),
        "the earliest undelivered"
    );
    let retried = s.outbox_claim(later).unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (m1, 2));
    assert_eq!(retried[0].last_error.as_deref(), Some("451 try later"));
    s.outbox_dead(m1, "550 no such user").unwrap();
    let next = s.outbox_claim(later).unwrap();
    assert_eq!(
        next[0].idempotency_key, "m2",
        "a dead letter frees its channel"
    );
    s.outbox_sent(next[0].id, later).unwrap();
    assert_eq!(s.outbox_next_due().unwrap(), None);

    let rows = s.outbox_rows(10).unwrap();
    let state: BTreeMap<_, _> = rows
        .iter()
        .map(|r| (r.idempotency_key.as_str(), (r.state, r.attempts)))
        .collect();
    assert_eq!(state["m1"], (OutboxState::Dead, 2));
    assert_eq!(state["m2"], (OutboxState::Sent, 1));
    assert_eq!(state["w1"], (OutboxState::Sent, 1));
    assert_eq!(
        rows.iter().find(|r| r.id == w1).unwrap().accepted_at,
        Some(now.trunc_ms())
    );
    let err = s.outbox_sent(999_999, now).unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");

    // A send interrupted by a crash is put back by recovery.
    s.outbox_enqueue(&[msg("m3", "email", None)]).unwrap();
    let m3 = s.outbox_claim(later).unwrap();
    assert_eq!(m3.len(), 1);
    let recovered = s.outbox_recover().unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].idempotency_key, "m3");
    assert_eq!(s.outbox_claim(later).unwrap()[0].attempts, 2);
}

trait TruncMs {
    fn trunc_ms(self) -> Self;
}
impl TruncMs for DateTime<Utc> {
    fn trunc_ms(self) -> Self {
        use chrono::SubsecRound;
        self.trunc_subsecs(3)
    }
}

fn outbox_two_threads_claim_each_message_once(env: &Env) {
    let s = &env.store;
    let channels = ["email", "webhook:teams", "webhook:slack"];
    let messages: Vec<NewOutbox> = (0..60)
        .map(|i| msg(&format!("k{i}"), channels[i % 3], None))
        .collect();
    s.outbox_enqueue(&messages).unwrap();
    // Every claim and every acceptance, in one global order.
    let log: Arc<Mutex<Vec<(&'static str, i64)>>> = Arc::default();
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (s, log, barrier) = (Arc::clone(s), Arc::clone(&log), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut idle = 0;
                while idle < 50 {
                    let claimed = s
                        .outbox_claim(Utc::now() + chrono::Duration::seconds(1))
                        .unwrap();
                    if claimed.is_empty() {
                        idle += 1;
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    idle = 0;
                    for r in claimed {
                        log.lock().unwrap().push(("claim", r.id));
                        log.lock().unwrap().push(("sent", r.id));
                        s.outbox_sent(r.id, Utc::now()).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let log = log.lock().unwrap();
    let mut claims: HashMap<i64, usize> = HashMap::new();
    for (what, id) in log.iter() {
        if *what == "claim" {
            *claims.entry(*id).or_default() += 1;
        }
    }
    assert_eq!(claims.len(), 60, "every message claimed");
    assert!(
        claims.values().all(|n| *n == 1),
        "no message claimed twice: {claims:?}"
    );
    let rows = s.outbox_rows(100).unwrap();
    assert!(rows
        .iter()
        .all(|r| r.state == OutboxState::Sent && r.attempts == 1));
    // Per channel, claims come in queue order.
    let channel_of: HashMap<i64, &str> = rows.iter().map(|r| (r.id, r.channel.as_str())).collect();
    for ch in channels {
        let order: Vec<i64> = log
            .iter()
            .filter(|(what, id)| *what == "claim" && channel_of[id] == ch)
            .map(|(_, id)| *id)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "channel {ch} out of order");
    }
}

/// A plan that puts every sighting in the digest of rule `daily` and queues nothing now.
fn digest_plan(ctx: &IncidentContext) -> AlertPlan {
    AlertPlan {
        outbox: vec![],
        digest: vec![NewDigestEntry {
            rule: "daily".into(),
            summary: serde_json::json!({ "incident": ctx.incident.id }),
        }],
    }
}

/// The digest message of `entries` (what the sender builds), keyed by the closing time.
fn digest_of(entries: &[DigestEntry], now: DateTime<Utc>) -> Option<NewOutbox> {
    Some(NewOutbox {
        kind: OutboxKind::Digest,
        payload: serde_json::json!({ "entries": entries.len() }),
        ..msg(&format!("digest:daily:{}", now.timestamp()), "email", None)
    })
}

/// Flags `ids` and records each one's sighting under the digest plan.
fn sightings_for_the_digest(s: &dyn PipelineStore, ids: &[&str], at: i64) {
    let pairs: Vec<(&str, &str)> = ids.iter().map(|i| (*i, "polls closed")).collect();
    s.record_poll("Echo", poll(s, &pairs, at)).unwrap();
    for seq in classify_all(s, ids) {
        let recorded = s
            .record_sighting(
                &sighting(seq, Some("k"), Severity::Medium),
                &mut digest_plan,
            )
            .unwrap();
        assert!(recorded.is_some());
    }
}

fn digests_close_once_per_scheduled_time(env: &Env) {
    let s = &*env.store;
    sightings_for_the_digest(s, &["d1", "d2"], 0);
    let slot = t(3600);
    let closed = s
        .close_digest("daily", slot, slot, &mut |e| digest_of(e, slot))
        .unwrap();
    assert_eq!(closed, Some(2), "both waiting entries go into the digest");
    // The same scheduled time again (a second sender, or a later loop): closed already.
    assert_eq!(
        s.close_digest("daily", slot, t(3700), &mut |_| panic!("closed twice"))
            .unwrap(),
        None
    );
    // A new entry waits for the next scheduled time and goes alone.
    sightings_for_the_digest(s, &["d3"], 10);
    let next = t(7200);
    assert_eq!(
        s.close_digest("daily", next, next, &mut |e| {
            assert_eq!(e.len(), 1);
            assert!(e[0].item_id == "d3");
            digest_of(e, next)
        })
        .unwrap(),
        Some(1)
    );
    // Nothing waiting: the time is recorded, nothing queued.
    let empty = t(10_800);
    assert_eq!(
        s.close_digest("daily", empty, empty, &mut |_| panic!("nothing to build"))
            .unwrap(),
        Some(0)
    );
    let digests: Vec<_> = s
        .outbox_rows(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.idempotency_key.starts_with("digest:"))
        .collect();
    assert_eq!(digests.len(), 2);
    assert_eq!(digests[0].payload["entries"], 2);
    assert_eq!(digests[1].payload["entries"], 1);
}

fn known_fakes_are_confirmed_listed_and_removed_with_audit(env: &Env) {
    let s = &*env.store;
    s.record_poll("Echo", poll(s, &[("f1", "a fake notice")], 0))
        .unwrap();
    let seq = classify_all(s, &["f1"])[0];
    let (ctx, _) = s
        .record_sighting(&sighting(seq, Some("k"), Severity::High), &mut alert_plan)
        .unwrap()
        .unwrap();
    let before = s.known_fakes_version().unwrap();
    let fake = NewKnownFake {
        pdq: "AB".repeat(32),
        pdq_quality: 80,
        sha256: "CD".repeat(32),
        incident_id: ctx.incident.id,
        item_id: Some("f1".into()),
        media_url: Some("https://x.example/notice.png".into()),
        note: "the printed notice".into(),
    };
    let (rec, new) = s.add_known_fake(&fake, "officer").unwrap();
    assert!(new);
    assert_eq!(
        (rec.pdq.as_str(), rec.sha256.as_str()),
        ("ab".repeat(32).as_str(), "cd".repeat(32).as_str()),
        "hashes are kept in lower case"
    );
    assert_eq!((rec.added_by.as_str(), rec.pdq_quality), ("officer", 80));
    // The same file in the same incident again: the first record, not a second one.
    let (again, new) = s.add_known_fake(&fake, "someone else").unwrap();
    assert!(!new);
    assert_eq!(again, rec);
    assert_eq!(s.known_fakes().unwrap(), std::slice::from_ref(&rec));
    let added = s.known_fakes_version().unwrap();
    assert_ne!(added, before, "confirming changes the version");
    // Refused: hashes that are not 64 hex digits, an incident that does not exist.
    for bad in [
        NewKnownFake {
            pdq: "xyz".into(),
            ..fake.clone()
        },
        NewKnownFake {
            incident_id: 999,
            ..fake.clone()
        },
    ] {
        let e = s.add_known_fake(&bad, "officer").unwrap_err();
        assert!(matches!(e, StoreError::InvalidInput(_)), "{e}");
    }
    assert!(s.remove_known_fake(rec.id, "officer").unwrap());
    assert!(!s.remove_known_fake(rec.id, "officer").unwrap());
    assert!(s.known_fakes().unwrap().is_empty());
    assert_ne!(
        s.known_fakes_version().unwrap(),
        added,
        "removing changes it too"
    );
    let audit: Vec<(String, serde_json::Value)> = s
        .audit_entries(20)
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("fake."))
        .map(|e| (e.action, e.detail))
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].0, "fake.remove");
    assert_eq!(audit[1].0, "fake.confirm");
    assert_eq!(audit[1].1["known_fake_id"], rec.id);
    assert_eq!(audit[1].1["note"], "the printed notice");
}

fn capture_log_heads_are_timestamped_and_a_wrong_head_is_refused(env: &Env) {
    let s = &*env.store;
    s.record_poll("Echo", poll(s, &[("t1", "one"), ("t2", "two")], 0))
        .unwrap();
    let waiting = s.untimestamped_heads(100).unwrap();
    assert!(waiting.len() >= 2, "{waiting:?}");
    let head = s.capture_log_head().unwrap().unwrap();
    assert_eq!(waiting[0], head, "newest first");
    assert!(waiting.windows(2).all(|w| w[0].seq > w[1].seq));
    let oldest = s.oldest_untimestamped().unwrap().unwrap();
    assert_eq!(oldest, *waiting.last().unwrap());
    let token = |seq: i64, head: &str| NewTimestampToken {
        seq,
        head: head.to_string(),
        tsa_url: "http://tsa.example/".into(),
        token: vec![0x30, 0x03, 0x02, 0x01, 0x00],
        gen_time: t(5),
        requested_at: t(4),
    };
    // A token for another head than the entry's, or for no entry: refused, nothing recorded.
    for bad in [
        token(head.seq, &"00".repeat(32)),
        token(head.seq + 100, &head.head),
    ] {
        let e = s.record_timestamp_token(&bad).unwrap_err();
        assert!(matches!(e, StoreError::InvalidInput(_)), "{e}");
    }
    assert_eq!(s.untimestamped_heads(100).unwrap().len(), waiting.len());
    assert!(
        s.record_timestamp_token(&token(head.seq, &head.head))
            .unwrap()
            > 0
    );
    // One token covers every entry up to its head.
    assert!(s.untimestamped_heads(100).unwrap().is_empty());
    assert!(s.oldest_untimestamped().unwrap().is_none());
    s.record_poll("Echo", poll(s, &[("t3", "three")], 10))
        .unwrap();
    let after = s.untimestamped_heads(100).unwrap();
    assert!(
        !after.is_empty() && after.iter().all(|e| e.seq > head.seq),
        "{after:?}"
    );
}

fn capture_bytes_round_trip_and_tampering_is_detected(env: &Env) {
    let s = &*env.store;
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let sha = s.put_blob(&body).unwrap();
    assert_eq!(sha, ballotwatch_core::sha256_hex(&body));
    assert_eq!(s.put_blob(&body).unwrap(), sha, "storing again is a no-op");
    assert_eq!(s.read_blob(&sha).unwrap(), body);
    assert_eq!(s.read_blob(&sha.to_ascii_uppercase()).unwrap(), body);
    let err = s.read_blob("").unwrap_err();
    assert!(err.to_string().contains("not a SHA-256"), "{err}");
    assert!(s.read_blob(&"0".repeat(64)).unwrap_err().is_blob_missing());
    let empty = s.put_blob(b"").unwrap();
    assert_eq!(s.read_blob(&empty).unwrap(), b"");

    (env.tamper)(&sha, b"forged evidence");
    let err = s.read_blob(&sha).unwrap_err();
    assert!(err.is_blob_integrity(), "{err:?}");
    assert!(err.to_string().contains(&sha), "{err}");
    // Storing the true bytes again repairs the damaged copy.
    s.put_blob(&body).unwrap();
    assert_eq!(s.read_blob(&sha).unwrap(), body);
}

fn captures_and_audit_log(env: &Env) {
    let s = &*env.store;
    let cap = capture(s, "https://echo.example/img.jpg", b"\xff\xd8jpeg", 0);
    let id = s
        .record_capture(
            "Echo",
            NewCapture {
                capture: cap.clone(),
            },
        )
        .unwrap();
    let again = s
        .record_capture(
            "Echo",
            NewCapture {
                capture: cap.clone(),
            },
        )
        .unwrap();
    assert_eq!(id, again, "the same fetch is one row");
    assert_eq!(
        s.get_capture(id).unwrap().unwrap(),
        (id, "Echo".to_string(), cap.clone())
    );
    let mut wrong = cap;
    wrong.size += 1;
    wrong.started_at = t(5);
    let err = s
        .record_capture("Echo", NewCapture { capture: wrong })
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(s.get_capture(999_999).unwrap().is_none());

    s.audit(
        "alice",
        "user.login",
        &serde_json::json!({ "ip": "127.0.0.1" }),
    )
    .unwrap();
    s.audit(
        "ingest",
        "source.paused",
        &serde_json::json!({ "n": [1, 2.5, null], "why": "disk" }),
    )
    .unwrap();
    let entries = s.audit_entries(10).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "source.paused", "newest first");
    assert_eq!(
        entries[0].detail,
        serde_json::json!({ "n": [1, 2.5, null], "why": "disk" })
    );
    assert_eq!(entries[1].actor, "alice");
    assert!(entries[0].id > entries[1].id);
    assert_eq!(s.audit_entries(1).unwrap().len(), 1);
}

/// A report acknowledgement to `to` naming `reference`, as the report inbox queues one.
fn acknowledgement(reference: &str, to: &str) -> ballotwatch_store::NewOutbox {
    ballotwatch_store::NewOutbox {
        idempotency_key: format!("ack:{reference}"),
        channel: "email".into(),
        kind: ballotwatch_store::OutboxKind::Alert,
        rule: ballotwatch_store::ACKNOWLEDGEMENT_RULE.into(),
        incident_id: None,
        recipients: vec![to.into()],
        payload: serde_json::json!({ "reference": reference }),
        not_before: Utc::now(),
    }
}

fn acknowledgements_over_the_hourly_cap_are_withheld_and_audited(env: &Env) {
    let s = &*env.store;
    let ack = |reference: &str| acknowledgement(reference, &format!("{reference}@example.org"));
    let report = |item: String| ballotwatch_store::InboxReport {
        item_id: item,
        reporter: "someone@example.org".into(),
        detail: serde_json::json!({}),
    };
    let record = |items: std::ops::Range<u32>, per_hour: u32| {
        let reports: Vec<_> = items.map(|n| report(format!("flood-{n}"))).collect();
        s.record_inbox_reports(
            "Inbox",
            &reports,
            ballotwatch_store::Acknowledger {
                message: &|_, reference| Some(ack(reference)),
                per_hour,
            },
        )
        .unwrap()
    };
    let queued = || {
        s.outbox_rows(50)
            .unwrap()
            .into_iter()
            .filter(|r| r.rule == ballotwatch_store::ACKNOWLEDGEMENT_RULE)
            .count()
    };
    // Three a poll, a cap of four an hour: the first poll's three are queued, one of the
    // second's, none of the third's; every report is recorded all the same.
    assert_eq!(record(0..3, 4).len(), 3);
    assert_eq!(record(3..6, 4).len(), 3);
    assert_eq!(record(6..9, 4).len(), 3);
    assert_eq!(queued(), 4);
    let withheld: Vec<_> = s
        .audit_entries(50)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == ballotwatch_store::ACKNOWLEDGEMENTS_WITHHELD)
        .collect();
    assert_eq!(withheld.len(), 2, "one entry a poll that withheld any");
    let counts: Vec<_> = withheld
        .iter()
        .map(|e| e.detail["withheld"].clone())
        .collect();
    assert_eq!(
        counts,
        [serde_json::json!(3), serde_json::json!(2)],
        "newest first"
    );
    assert_eq!(withheld[0].detail["per_hour"], 4);
    assert_eq!(
        withheld[0].detail["reports"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(withheld.iter().all(|e| e.actor == "report inbox `Inbox`"));
    assert!(!withheld[0].detail.to_string().contains("someone@"));
    // A higher cap lets the next one through.
    assert_eq!(record(9..10, 5).len(), 1);
    assert_eq!(queued(), 5);
}

fn inbox_reports_are_recorded_once_and_reporters_expire(env: &Env) {
    let s = &*env.store;
    // An acknowledgement is queued with its report, in the same transaction, naming the
    // report's reference; a report read again is not acknowledged again.
    let ack = |reference: &str| acknowledgement(reference, "sam@example.org");
    let report = |item: &str, who: &str| ballotwatch_store::InboxReport {
        item_id: item.into(),
        reporter: who.into(),
        detail: serde_json::json!({"subject": format!("Fwd: {item}")}),
    };
    let first = s
        .record_inbox_reports(
            "Inbox",
            &[
                report("m1", "Pat Resident <pat@example.org>"),
                report("m2", "sam@example.org"),
            ],
            ballotwatch_store::Acknowledger {
                message: &|n, reference| (n == 1).then(|| ack(reference)),
                per_hour: 60,
            },
        )
        .unwrap();
    assert_eq!(first.len(), 2);
    // The same messages read again (a restart before the cursor was kept) add nothing.
    let again = s
        .record_inbox_reports(
            "Inbox",
            &[
                report("m1", "Pat Resident <pat@example.org>"),
                report("m3", "x@example.org"),
            ],
            ballotwatch_store::Acknowledger {
                message: &|_, reference| Some(ack(reference)),
                per_hour: 60,
            },
        )
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(s
        .record_inbox_reports("Inbox", &[], ballotwatch_store::no_acknowledgements())
        .unwrap()
        .is_empty());
    let m1 = s.reports_of_item("m1").unwrap();
    assert_eq!(m1.len(), 1);
    assert_eq!(m1[0].reporter, "Pat Resident <pat@example.org>");
    assert_eq!(
        m1[0].reference,
        ballotwatch_store::report_reference(first[0])
    );
    assert!(!m1[0].public);
    assert_eq!(m1[0].detail["subject"], "Fwd: m1");
    let mut queued: Vec<String> = s
        .outbox_rows(10)
        .unwrap()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    queued.sort();
    let m2 = s.reports_of_item("m2").unwrap()[0].reference.clone();
    let m3 = s.reports_of_item("m3").unwrap()[0].reference.clone();
    assert_eq!(queued, [format!("ack:{m2}"), format!("ack:{m3}")]);
    // m2's acknowledgement is sent; m3's is still waiting.
    let m2_ack = s
        .outbox_rows(10)
        .unwrap()
        .into_iter()
        .find(|r| r.idempotency_key == format!("ack:{m2}"))
        .unwrap();
    s.outbox_sent(m2_ack.id, Utc::now()).unwrap();
    // The audit log names the inbox, never the reporter's address.
    let audit = s.audit_entries(20).unwrap();
    let received: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "report.receive")
        .collect();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|e| e.actor == "report inbox `Inbox`"));
    assert!(
        !serde_json::to_string(&received.iter().map(|e| &e.detail).collect::<Vec<_>>())
            .unwrap()
            .contains("@example.org")
    );

    // Not yet past retention: nothing removed.
    let now = Utc::now();
    assert_eq!(s.remove_old_reporters(90, now).unwrap(), 0);
    // 91 days on, every reporter is removed, once; the reports and their items stay.
    let later = now + chrono::Duration::days(91);
    assert_eq!(s.remove_old_reporters(90, later).unwrap(), 3);
    assert_eq!(s.remove_old_reporters(90, later).unwrap(), 0);
    assert_eq!(
        s.remove_old_reporters(30, later).unwrap(),
        0,
        "already removed"
    );
    let m1 = s.reports_of_item("m1").unwrap();
    assert_eq!(m1[0].reporter, "(removed after 90 days)");
    // The sent acknowledgement's recipient went with the reporters; the one not yet sent
    // keeps its address until it is.
    let recipients: BTreeMap<String, Vec<String>> = s
        .outbox_rows(10)
        .unwrap()
        .into_iter()
        .map(|r| (r.idempotency_key, r.recipients))
        .collect();
    assert_eq!(
        recipients[&format!("ack:{m2}")],
        ["(removed after 90 days)"]
    );
    assert_eq!(recipients[&format!("ack:{m3}")], ["sam@example.org"]);
    assert_eq!(m1[0].detail["subject"], "Fwd: m1");
    let swept: Vec<_> = s
        .audit_entries(20)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "report.reporters_removed")
        .collect();
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_eq!(swept[0].actor, ballotwatch_store::RETENTION_ACTOR);
    assert_eq!(swept[0].detail["reports"], 3);
    assert_eq!(swept[0].detail["retention_days"], 90);
}

// --- the same workload on both back ends gives the same observable state ---------------------

/// Everything a workload leaves observable through the interface, without wall-clock times.
fn observe(s: &dyn PipelineStore, ids: &[&str], incidents: i64) -> serde_json::Value {
    let items: Vec<_> = ids
        .iter()
        .flat_map(|id| s.item_versions(id).unwrap())
        .map(|v| {
            serde_json::json!({
                "seq": v.seq, "id": v.item.id, "version": v.item.version,
                "text": v.item.text, "capture": v.capture_id, "gen": v.index_gen,
                "incidents": v.incidents.iter().map(|i| (i.id, i.status.as_str())).collect::<Vec<_>>(),
                "result": v.result.as_ref().map(|r| serde_json::to_value(r).unwrap()),
            })
        })
        .collect();
    let seqs = |v: Vec<ballotwatch_store::StoredItem>| v.iter().map(|p| p.seq).collect::<Vec<_>>();
    let incidents: Vec<_> = (1..=incidents)
        .map(|id| {
            let i = s.get_incident(id).unwrap().unwrap();
            serde_json::json!({
                "title": i.title, "severity": i.severity.rank(), "status": i.status.as_str(),
                "items": s.incident_item_ids(id).unwrap(),
            })
        })
        .collect();
    let outbox: Vec<_> = s
        .outbox_rows(100)
        .unwrap()
        .into_iter()
        .map(|r| {
            serde_json::json!([
                r.id,
                r.idempotency_key,
                r.channel,
                r.state,
                r.attempts,
                r.last_error,
                r.incident_id
            ])
        })
        .collect();
    let head = s
        .capture_log_head()
        .unwrap()
        .map(|h| (h.seq, h.item_id, h.head));
    let audit: Vec<_> = s
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .map(|e| serde_json::json!([e.actor, e.action, e.detail]))
        .collect();
    serde_json::json!({
        "items": items,
        "pending_classification": seqs(s.pending_classification(100).unwrap()),
        "pending_index": seqs(s.pending_index(100).unwrap()),
        "pending_alerts": seqs(s.pending_alerts(100).unwrap()),
        "incidents": incidents,
        "outbox": outbox,
        "capture_log_head": head,
        "audit": audit,
        "source": serde_json::to_value(s.source_state("Echo").unwrap()).unwrap(),
        "count": s.count_items().unwrap(),
    })
}

fn workload(s: &dyn PipelineStore) -> serde_json::Value {
    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2"), ("c", "3")], 0))
        .unwrap();
    classify_all(s, &["a", "b"]);
    s.record_poll("Echo", poll(s, &[("a", "1b"), ("c", "3"), ("d", "4")], 60))
        .unwrap();
    let idx = s.pending_index(2).unwrap();
    s.mark_indexed(&idx.iter().map(|p| p.index_mark()).collect::<Vec<_>>())
        .unwrap();
    for p in s.pending_alerts(100).unwrap() {
        let flagged = p.result.as_ref().is_some_and(|r| r.flagged);
        if flagged {
            s.record_sighting(
                &sighting(p.seq, Some("polls-closed"), Severity::High),
                &mut alert_plan,
            )
            .unwrap();
        } else {
            s.mark_alerted(&[p.seq]).unwrap();
        }
    }
    classify_all(s, &["d"]);
    s.record_poll_error("Echo", "https://echo.example/rss", "reset", t(90), t(120))
        .unwrap();
    s.outbox_enqueue(&[msg("notice", "webhook:teams", None)])
        .unwrap();
    let claimed = s
        .outbox_claim(Utc::now() + chrono::Duration::seconds(1))
        .unwrap();
    s.outbox_retry(claimed[0].id, "timeout", t(0)).unwrap();
    s.outbox_sent(claimed[1].id, Utc::now()).unwrap();
    s.audit(
        "tester",
        "workload.done",
        &serde_json::json!({ "claimed": claimed.len() }),
    )
    .unwrap();
    observe(s, &["a", "b", "c", "d"], 1)
}

#[test]
fn both_back_ends_leave_the_same_observable_state() {
    let lite = sqlite();
    let pg = pg("differential");
    let a = workload(&*lite.store);
    let b = workload(&*pg.store);
    assert_eq!(a, b, "\nsqlite:     {a}\npostgresql: {b}");
    // Not vacuous: the workload did each kind of thing.
    assert_eq!(a["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(a["outbox"].as_array().unwrap().len(), 2);
    assert_eq!(a["count"], 5);
}

// --- PostgreSQL only: several nodes, restarts, schema versions --------------------------------

#[test]
fn postgresql_two_nodes_deciding_at_once_open_one_incident_and_alert_once() {
    let db = shared_pg().database("two_nodes").unwrap();
    let a = Arc::new(PgStore::connect(&db.url, pg_options("node-a")).unwrap());
    let b = Arc::new(PgStore::connect(&db.url, pg_options("node-b")).unwrap());
    let ids: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "polls closed")).collect();
    a.record_poll("Echo", poll(&*a, &pairs, 0)).unwrap();
    classify_all(&*a, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let seqs: Vec<i64> = a
        .pending_alerts(100)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    let barrier = Arc::new(Barrier::new(2));
    // Both nodes decide about every item, in opposite orders, at the same time.
    let run = |node: Arc<PgStore>, mut order: Vec<i64>, reverse: bool| {
        let barrier = Arc::clone(&barrier);
        if reverse {
            order.reverse();
        }
        std::thread::spawn(move || {
            barrier.wait();
            order
                .into_iter()
                .filter(|seq| {
                    node.record_sighting(
                        &sighting(*seq, Some("k"), Severity::High),
                        &mut alert_plan,
                    )
                    .unwrap()
                    .is_some()
                })
                .count()
        })
    };
    let ta = run(Arc::clone(&a), seqs.clone(), false);
    let tb = run(Arc::clone(&b), seqs.clone(), true);
    let decided = ta.join().unwrap() + tb.join().unwrap();
    assert_eq!(decided, 20, "each item decided once across the two nodes");
    assert!(
        a.get_incident(2).unwrap().is_none(),
        "one incident, not two"
    );
    let inc = a.get_incident(1).unwrap().unwrap();
    assert_eq!(a.incident_item_ids(inc.id).unwrap().len(), 20);
    let rows = a.outbox_rows(100).unwrap();
    assert_eq!(rows.len(), 1, "one alert");

    // Both nodes polling the same item at once store one version 1 (no duplicate-key failure).
    let barrier = Arc::new(Barrier::new(2));
    let polls: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .enumerate()
        .map(|(n, node)| {
            let barrier = Arc::clone(&barrier);
            let rec = poll(&*node, &[("shared", "same text")], 100 + n as i64);
            std::thread::spawn(move || {
                barrier.wait();
                node.record_poll("Echo", rec).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = polls.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outcomes.iter().map(|o| o.new).sum::<usize>(), 1);
    assert_eq!(a.item_versions("shared").unwrap().len(), 1);

    // A message claimed by a node that died is claimed again after the claim timeout, by
    // another node; recovery on start only takes back this node's own claims.
    a.outbox_enqueue(&[msg("orphan", "webhook:x", None)])
        .unwrap();
    let soon = Utc::now() + chrono::Duration::seconds(1);
    let taken = a.outbox_claim(soon).unwrap();
    assert_eq!(taken.len(), 2, "the alert and the orphan");
    assert!(
        b.outbox_recover().unwrap().is_empty(),
        "node b does not take node a's claims"
    );
    assert!(b.outbox_claim(soon).unwrap().is_empty());
    let impatient = PgStore::connect(
        &db.url,
        PgOptions {
            claim_timeout: Duration::from_millis(200),
            ..pg_options("node-c")
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let retaken = impatient.outbox_claim(soon).unwrap();
    assert_eq!(retaken.len(), 2);
    assert!(retaken.iter().all(|r| r.attempts == 2));
}

#[test]
fn postgresql_over_tls_verifies_the_server_certificate() {
    let pg = shared_pg();
    let db = pg.database("tls").unwrap();
    let with_ca = |url: &str| {
        PgStore::connect(
            url,
            PgOptions {
                ca_file: Some(pg.ca_file()),
                ..pg_options("tls")
            },
        )
    };
    // TLS with the server's CA: connected and usable; libpq's `verify-full` reads the same.
    let require = format!("{} sslmode=require", db.url);
    let store = with_ca(&require).unwrap();
    assert!(store.source_states().unwrap().is_empty());
    with_ca(&format!("{} sslmode=verify-full", db.url)).unwrap();
    // TLS without the CA named: the system's roots do not vouch for the server, so no connection.
    let refused = PgStore::connect(&require, pg_options("tls")).err().unwrap();
    assert!(refused.to_string().contains("certificate"), "{refused}");
    // A CA that did not sign the server's certificate is refused too.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(&other_ca, other.pem()).unwrap();
    let wrong = PgStore::connect(
        &require,
        PgOptions {
            ca_file: Some(other_ca),
            ..pg_options("tls")
        },
    )
    .err()
    .unwrap();
    assert!(wrong.to_string().contains("certificate"), "{wrong}");
    // A CA file that holds no certificate is named in the error.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let bad = PgStore::connect(
        &require,
        PgOptions {
            ca_file: Some(empty.clone()),
            ..pg_options("tls")
        },
    )
    .err()
    .unwrap();
    assert!(
        bad.to_string().contains("postgres_ca_file")
            && bad.to_string().contains(&empty.display().to_string()),
        "{bad}"
    );
    // Without sslmode the connection is as before, unencrypted (the server allows both).
    PgStore::connect(&db.url, pg_options("tls")).unwrap();
}

#[test]
fn postgresql_two_nodes_closing_one_digest_at_once_queue_it_once() {
    let db = shared_pg().database("two_node_digest").unwrap();
    let a = Arc::new(PgStore::connect(&db.url, pg_options("node-a")).unwrap());
    let b = Arc::new(PgStore::connect(&db.url, pg_options("node-b")).unwrap());
    sightings_for_the_digest(&*a, &["d1", "d2", "d3"], 0);
    // Each scheduled time, both nodes close the digest at the same moment, each with its own
    // clock (so its own idempotency key): one queues it, the other finds it closed.
    for round in 1..=5 {
        let slot = t(3600 * round);
        if round > 1 {
            sightings_for_the_digest(&*a, &[&format!("r{round}")], 3600 * round - 60);
        }
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = [(Arc::clone(&a), 1), (Arc::clone(&b), 2)]
            .into_iter()
            .map(|(node, skew)| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let now = slot + chrono::Duration::milliseconds(skew);
                    barrier.wait();
                    node.close_digest("daily", slot, now, |e: &[DigestEntry]| digest_of(e, now))
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<Option<usize>> = runs.into_iter().map(|h| h.join().unwrap()).collect();
        let expected = if round == 1 { 3 } else { 1 };
        assert!(
            outcomes.contains(&Some(expected)) && outcomes.contains(&None),
            "round {round}: one node closes the digest, the other finds it closed: {outcomes:?}"
        );
    }
    let digests = a
        .outbox_rows(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.idempotency_key.starts_with("digest:"))
        .count();
    assert_eq!(digests, 5, "one digest per scheduled time");
}

#[test]
fn postgresql_a_claim_in_progress_on_another_node_is_skipped_not_waited_for_or_doubled() {
    let db = shared_pg().database("skip_locked").unwrap();
    let store = Arc::new(PgStore::connect(&db.url, pg_options("node-a")).unwrap());
    store
        .outbox_enqueue(&[
            msg("h1", "email", None),
            msg("h2", "email", None),
            msg("w1", "webhook:w", None),
        ])
        .unwrap();
    // Another node is claiming the email head right now: its row is locked and changed, and
    // that node's transaction has not committed yet.
    let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut tx = other.transaction().unwrap();
    tx.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_by = 'node-z',
             claimed_at = now()
         WHERE idempotency_key = 'h1'",
        &[],
    )
    .unwrap();
    let due = Utc::now() + chrono::Duration::seconds(1);
    let (send, recv) = std::sync::mpsc::channel();
    let s = Arc::clone(&store);
    std::thread::spawn(move || send.send(s.outbox_claim(due)));
    let claimed = recv
        .recv_timeout(Duration::from_secs(5))
        .expect("a claim must not wait for another node's claim")
        .unwrap();
    let keys: Vec<_> = claimed.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(
        keys,
        ["w1"],
        "the locked head is skipped, and h2 waits behind it"
    );
    tx.commit().unwrap();
    assert!(
        store.outbox_claim(due).unwrap().is_empty(),
        "once node-z's claim commits, h1 is its own: nothing is claimed twice"
    );
}

#[test]
fn postgresql_a_decision_in_flight_on_another_node_is_waited_for_and_not_repeated() {
    let db = shared_pg().database("decision_lock").unwrap();
    let store = Arc::new(PgStore::connect(&db.url, pg_options("node-a")).unwrap());
    store
        .record_poll("Echo", poll(&*store, &[("x", "polls closed")], 0))
        .unwrap();
    classify_all(&*store, &["x"]);
    let seq = store.pending_alerts(10).unwrap()[0].seq;
    // Another node is deciding about the same item and has not committed yet.
    let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut tx = other.transaction().unwrap();
    tx.execute("UPDATE items SET alerted = true WHERE seq = $1", &[&seq])
        .unwrap();
    let s = Arc::clone(&store);
    let decision = std::thread::spawn(move || {
        s.record_sighting(&sighting(seq, Some("k"), Severity::High), &mut alert_plan)
            .unwrap()
            .is_some()
    });
    std::thread::sleep(Duration::from_millis(300));
    tx.commit().unwrap();
    assert!(
        !decision.join().unwrap(),
        "the item was decided by the other node: no second incident or alert"
    );
    assert!(store.get_incident(1).unwrap().is_none());
    assert!(store.outbox_rows(10).unwrap().is_empty());
}

#[test]
fn postgresql_a_reindex_request_committed_during_a_mark_is_not_lost() {
    let db = shared_pg().database("reindex_race").unwrap();
    let store = Arc::new(PgStore::connect(&db.url, pg_options("node-a")).unwrap());
    store
        .record_poll("Echo", poll(&*store, &[("x", "text")], 0))
        .unwrap();
    classify_all(&*store, &[]);
    let mark = store.pending_index(10).unwrap()[0].index_mark();
    // Another node queues the item for indexing again (it joined an incident), uncommitted.
    let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut tx = other.transaction().unwrap();
    tx.execute(
        "UPDATE items SET index_gen = index_gen + 1 WHERE seq = $1",
        &[&mark.seq],
    )
    .unwrap();
    let s = Arc::clone(&store);
    let marking = std::thread::spawn(move || s.mark_indexed(&[mark]).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    tx.commit().unwrap();
    marking.join().unwrap();
    let left = store.pending_index(10).unwrap();
    assert_eq!(
        left.len(),
        1,
        "the request made meanwhile keeps the item queued"
    );
    assert_eq!(left[0].index_gen, mark.gen + 1);
}

#[test]
fn postgresql_restart_mid_run_loses_nothing_committed_and_writes_resume() {
    let pg = shared_pg();
    // This test restarts the server: it holds the lock other tests share.
    let db_url = {
        let db = pg.database("restart").unwrap();
        db.url.clone()
    };
    let (server, _exclusive) = pg.exclusive();
    let store = Arc::new(PgStore::connect(&db_url, pg_options("node-a")).unwrap());
    let committed: Arc<Mutex<Vec<String>>> = Arc::default();
    let failures: Arc<Mutex<Vec<(bool, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, committed, failures, stop) = (
            Arc::clone(&store),
            Arc::clone(&committed),
            Arc::clone(&failures),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 10 {
                let id = format!("r{n}");
                let rec = || -> Result<(), StoreError> {
                    let body = format!("body {n}");
                    let sha = store.put_blob(body.as_bytes())?;
                    let mut p = PollRecord {
                        captures: vec![],
                        items: vec![(0, item(&id, "text"))],
                        etag: None,
                        last_modified: None,
                        cursor: Some(serde_json::json!(n)),
                        not_modified: false,
                        attempted_at: t(n),
                        next_attempt_at: t(n + 1),
                    };
                    p.captures.push(Capture {
                        url: format!("https://echo.example/{n}"),
                        final_url: format!("https://echo.example/{n}"),
                        status: 200,
                        headers: vec![],
                        sha256: sha,
                        size: body.len() as u64,
                        started_at: t(n),
                        finished_at: t(n),
                    });
                    store.record_poll("Echo", p)?;
                    Ok(())
                };
                match rec() {
                    Ok(()) => {
                        committed.lock().unwrap().push(id);
                        n += 1;
                    }
                    Err(e) => {
                        let typed = matches!(
                            e,
                            StoreError::Postgres { .. } | StoreError::PostgresUnavailable { .. }
                        );
                        failures.lock().unwrap().push((typed, e.to_string()));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                if n > 2000 {
                    break;
                }
            }
        })
    };
    // Let some writes commit, then crash the server, keep it down a moment, and start it again.
    while committed.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = || -> DateTime<Utc> {
        let mut c = postgres::Client::connect(&db_url, postgres::NoTls).unwrap();
        c.query_one("SELECT pg_postmaster_start_time()", &[])
            .unwrap()
            .get(0)
    };
    let before = started();
    server.restart(false, Duration::from_millis(500)).unwrap();
    let after_restart = committed.lock().unwrap().len();
    // Writes resume by themselves.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed.lock().unwrap().len() < after_restart + 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "writes did not resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();

    // The server really went down and came back. The writer may or may not have seen an
    // error: a call that starts while the server is down waits for a connection and can
    // succeed once it is back; any error it did see is a typed one naming the server.
    assert!(started() > before, "the server restarted");
    let failures = failures.lock().unwrap();
    for (typed, f) in failures.iter() {
        assert!(typed, "a PostgreSQL error, not something else: {f}");
        assert!(
            f.contains("PostgreSQL 127.0.0.1:"),
            "errors name the server: {f}"
        );
    }
    // Everything that was committed is there, with its bytes; nothing else is.
    let committed = committed.lock().unwrap();
    for id in committed.iter() {
        let it = store
            .get_item(id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} lost"));
        let cap = store.get_capture(it.capture_id.unwrap()).unwrap().unwrap();
        store.read_blob(&cap.2.sha256).unwrap();
    }
    assert_eq!(store.count_items().unwrap(), committed.len() as u64);
    let last = committed.len() as i64 - 1;
    assert_eq!(
        store.source_state("Echo").unwrap().unwrap().cursor,
        Some(serde_json::json!(last))
    );
}

#[test]
fn postgresql_exclusive_work_waits_for_another_session_and_a_panic_releases_the_lock() {
    let db = shared_pg().database("exclusively").unwrap();
    let store = Arc::new(PgStore::connect(&db.url, pg_options("web-a")).unwrap());
    let key_id = |key: &str| format!("hashtextextended('{key}', 0)");
    // Another node's session holds the lock: the work waits for it.
    let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    other
        .execute(
            &format!("SELECT pg_advisory_lock({})", key_id("report-matching")),
            &[],
        )
        .unwrap();
    let ran = Arc::new(Mutex::new(None::<std::time::Instant>));
    let worker = {
        let (store, ran) = (store.clone(), ran.clone());
        std::thread::spawn(move || {
            store
                .exclusively("report-matching", &mut || {
                    *ran.lock().unwrap() = Some(std::time::Instant::now());
                    Ok(())
                })
                .unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ran.lock().unwrap().is_none(),
        "ran while another session held the lock"
    );
    let released = std::time::Instant::now();
    other
        .execute(
            &format!("SELECT pg_advisory_unlock({})", key_id("report-matching")),
            &[],
        )
        .unwrap();
    worker.join().unwrap();
    assert!(ran.lock().unwrap().is_some_and(|t| t >= released));
    // Work that panics leaves the lock free for the other sessions.
    let s = store.clone();
    let panicked = std::thread::spawn(move || {
        s.exclusively("after-panic", &mut || panic!("the work failed"))
            .ok();
    })
    .join();
    assert!(panicked.is_err(), "the panic reaches the caller");
    let free: bool = other
        .query_one(
            &format!("SELECT pg_try_advisory_lock({})", key_id("after-panic")),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(free, "the lock was left held after a panic");
    drop(other);
    // The store must not be dropped inside a runtime; none here.
    drop(store);
}

#[test]
fn postgresql_an_overdue_timestamp_is_reported_cluster_wide() {
    let db = shared_pg().database("timestamp_overdue").unwrap();
    let overdue = Duration::from_millis(50);
    let watching = PgStore::connect(
        &db.url,
        PgOptions {
            timestamp_overdue: Some(overdue),
            ..pg_options("web-a")
        },
    )
    .unwrap();
    let not_watching = PgStore::connect(&db.url, pg_options("web-b")).unwrap();
    assert_eq!(
        watching.timestamp_gap(),
        None,
        "an empty log waits for nothing"
    );
    watching
        .record_poll("Echo", poll(&watching, &[("g1", "one"), ("g2", "two")], 0))
        .unwrap();
    assert_eq!(watching.timestamp_gap(), None, "not overdue yet");
    std::thread::sleep(overdue * 3);
    let gap = watching.timestamp_gap().expect("overdue");
    let head = watching.capture_log_head().unwrap().unwrap();
    let oldest = watching.oldest_untimestamped().unwrap().unwrap();
    assert!(
        gap.starts_with(&format!(
            "{} capture log entries are waiting since",
            head.seq - oldest.seq + 1
        )),
        "{gap}"
    );
    assert!(gap.contains("longer than 50ms"), "{gap}");
    assert_eq!(not_watching.timestamp_gap(), None, "off unless asked for");
    watching
        .record_timestamp_token(&NewTimestampToken {
            seq: head.seq,
            head: head.head.clone(),
            tsa_url: "http://tsa.example/".into(),
            token: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            gen_time: t(5),
            requested_at: t(4),
        })
        .unwrap();
    assert_eq!(
        watching.timestamp_gap(),
        None,
        "the token covers every entry"
    );
}

#[test]
fn postgresql_unreachable_server_is_a_typed_error_naming_what_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgStore::connect(
        &format!("host=127.0.0.1 port={port} user=x dbname=none"),
        PgOptions {
            connect_timeout: Duration::from_millis(300),
            ..PgOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::PostgresUnavailable { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}/none")), "{msg}");
    assert!(msg.contains("opening the store"), "{msg}");
    let err = PgStore::connect("postgresql://[not a url", PgOptions::default()).unwrap_err();
    assert!(err.to_string().contains("postgres_url_env"), "{err}");
}

#[test]
fn postgresql_schema_is_versioned_and_a_newer_one_is_refused() {
    let db = shared_pg().database("schema").unwrap();
    let store = PgStore::connect(&db.url, pg_options("n")).unwrap();
    drop(store);
    // Connecting again does not migrate again.
    PgStore::connect(&db.url, pg_options("n")).unwrap();
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let v: i32 = c
        .query_one("SELECT max(version) FROM ballotwatch_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(i64::from(v), ballotwatch_store::PG_SCHEMA_VERSION);
    let n: i64 = c
        .query_one("SELECT count(*) FROM ballotwatch_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, ballotwatch_store::PG_SCHEMA_VERSION);
    // The audit log and capture log refuse changes.
    let s = PgStore::connect(&db.url, pg_options("n")).unwrap();
    s.audit("a", "b", &serde_json::json!({})).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = c.batch_execute(sql).unwrap_err();
        let said = err
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(said.contains("audit_log is append-only"), "{sql}: {err:?}");
    }
    c.execute("INSERT INTO ballotwatch_schema(version) VALUES (999)", &[])
        .unwrap();
    let err = PgStore::connect(&db.url, pg_options("n")).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 999, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade Ballotwatch"), "{err}");
}

// --- throughput: PostgreSQL against SQLite in one run -----------------------------------------

/// Items/s recording `polls` polls of 2,000 new items each, and messages/s claiming and marking
/// sent 2,000 queued messages over 20 channels.
fn measure(s: &dyn PipelineStore, polls: i64) -> (f64, f64) {
    let started = std::time::Instant::now();
    for p in 0..polls {
        let ids: Vec<String> = (0..2000).map(|i| format!("p{p}-{i}")).collect();
        let texts: Vec<String> = (0..2000)
            .map(|i| format!("post {i} of poll {p} about the count"))
            .collect();
        let pairs: Vec<(&str, &str)> = ids
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str))
            .collect();
        let out = s.record_poll("Echo", poll(s, &pairs, p * 60)).unwrap();
        assert_eq!(out.new, 2000);
    }
    let items_per_s = (polls * 2000) as f64 / started.elapsed().as_secs_f64();
    assert_eq!(s.count_items().unwrap(), (polls * 2000) as u64);

    let channels: Vec<String> = (0..20).map(|c| format!("webhook:c{c}")).collect();
    let messages: Vec<NewOutbox> = (0..2000)
        .map(|i| msg(&format!("m{i}"), &channels[i % 20], None))
        .collect();
    s.outbox_enqueue(&messages).unwrap();
    let started = std::time::Instant::now();
    let mut sent = 0;
    let due = Utc::now() + chrono::Duration::seconds(1);
    loop {
        let claimed = s.outbox_claim(due).unwrap();
        if claimed.is_empty() {
            break;
        }
        for r in claimed {
            s.outbox_sent(r.id, Utc::now()).unwrap();
            sent += 1;
        }
    }
    assert_eq!(sent, 2000);
    (items_per_s, sent as f64 / started.elapsed().as_secs_f64())
}

#[test]
#[ignore = "a measurement: cargo test -p ballotwatch-store --test conformance -- --ignored --nocapture"]
fn throughput_postgresql_against_sqlite() {
    let lite = sqlite();
    // Its own server with fsync on (the shared one runs with fsync off), so commits cost what
    // SQLite's synchronous=FULL commits cost; the data folders are on the same disk.
    let server = testing::PgServer::start_with(true).unwrap();
    let url = server.create_database("throughput").unwrap();
    let pg = PgStore::connect(&url, pg_options("bench")).unwrap();
    let (lite_items, lite_msgs) = measure(&*lite.store, 5);
    let (pg_items, pg_msgs) = measure(&pg, 5);
    println!("record_poll, 5 polls x 2,000 new items: SQLite {lite_items:.0} items/s, PostgreSQL {pg_items:.0} items/s: {:.2}x", pg_items / lite_items);
    println!("outbox claim + sent, 2,000 messages / 20 channels: SQLite {lite_msgs:.0} msg/s, PostgreSQL {pg_msgs:.0} msg/s: {:.2}x", pg_msgs / lite_msgs);
}
