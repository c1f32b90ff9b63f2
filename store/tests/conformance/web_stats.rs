//! What the web role reads besides accounts and the incident workflow — the dashboard's and
//! `/metrics`' aggregates, the sources page, the reports behind items — on both back ends, with
//! the same expected results. Also that the embedded-only parts say so.

use std::time::Duration;

use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use ballotwatch_store::{Sighting, WebStore};
use chrono::Utc;

use super::super::{classify_all, msg, poll};
use super::WebEnv;

/// One `#[test]` per scenario and back end: `web::stats::sqlite::name` and
/// `web::stats::postgresql::name`.
macro_rules! stats_conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { let env = super::super::sqlite(); super::$name(&env); } )*
        }
        mod postgresql {
            $( #[test] fn $name() {
                let env = super::super::pg(concat!("web_stats_", stringify!($name)));
                super::$name(&env);
            } )*
        }
    };
}

stats_conformance!(
    dashboard_and_metrics_aggregates,
    sources_and_reports_of_items,
);

fn sighting(seq: i64, key: &str, kind: VerdictKind, severity: Severity) -> Sighting {
    Sighting {
        seq,
        group_key: Some(key.into()),
        title: format!("Threat {key}"),
        kind,
        severity,
        window: Duration::from_secs(3600),
    }
}

fn dashboard_and_metrics_aggregates(env: &WebEnv) {
    let s: &dyn WebStore = &*env.store;
    let before = Utc::now() - chrono::Duration::seconds(60);
    let empty = s.metric_counts().unwrap();
    assert_eq!(
        (empty.items, empty.incidents, empty.latency_count),
        (0, 0, 0)
    );
    assert!(s.top_narratives(before, 10).unwrap().is_empty());

    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2"), ("c", "3")], 0))
        .unwrap();
    classify_all(s, &["a", "b"]);
    let pending = s.pending_alerts(10).unwrap();
    let seq = |id: &str| pending.iter().find(|p| p.item.id == id).unwrap().seq;
    let (one, _) = s
        .record_sighting(
            &sighting(seq("a"), "k1", VerdictKind::Misinformation, Severity::High),
            &mut |_| Default::default(),
        )
        .unwrap()
        .unwrap();
    s.record_sighting(
        &sighting(
            seq("b"),
            "k2",
            VerdictKind::Misinformation,
            Severity::Medium,
        ),
        &mut |_| Default::default(),
    )
    .unwrap()
    .unwrap();
    s.create_incident("By hand", VerdictKind::Impersonation, Severity::High, "amy")
        .unwrap();
    s.set_incident_status(one.incident.id, IncidentStatus::Escalated, "amy")
        .unwrap();

    let today = Utc::now().format("%Y-%m-%d").to_string();
    let per_day = |by_severity| {
        s.incidents_per_day(before, by_severity)
            .unwrap()
            .into_iter()
            .map(|d| {
                assert_eq!(d.day, today);
                (d.group, d.count)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        per_day(false),
        [("impersonation".into(), 1), ("misinformation".into(), 2)]
    );
    assert_eq!(
        per_day(true),
        [("medium".to_string(), 1), ("high".to_string(), 2)],
        "by rank"
    );
    assert!(s
        .incidents_per_day(Utc::now() + chrono::Duration::seconds(60), false)
        .unwrap()
        .is_empty());
    let statuses = s.incident_status_counts().unwrap();
    assert_eq!(statuses.len(), IncidentStatus::ALL.len(), "zeros included");
    let count = |st| statuses.iter().find(|(x, _)| *x == st).unwrap().1;
    assert_eq!(count(IncidentStatus::New), 2);
    assert_eq!(count(IncidentStatus::Escalated), 1);
    assert_eq!(count(IncidentStatus::Resolved), 0);

    assert_eq!(
        s.top_narratives(before, 10).unwrap(),
        [("polls-closed".to_string(), 2)]
    );
    assert!(s.top_narratives(before, 0).unwrap().is_empty());
    assert!(s
        .top_narratives(Utc::now() + chrono::Duration::seconds(60), 10)
        .unwrap()
        .is_empty());

    // One alert sent: its latency is counted.
    s.outbox_enqueue(&[msg("k-sent", "email", Some(one.incident.id))])
        .unwrap();
    let claimed = s
        .outbox_claim(Utc::now() + chrono::Duration::seconds(1))
        .unwrap();
    assert_eq!(claimed.len(), 1);
    s.outbox_sent(claimed[0].id, Utc::now() + chrono::Duration::seconds(2))
        .unwrap();
    let m = s.metric_counts().unwrap();
    assert_eq!(m.items, 3);
    assert_eq!(m.incidents, 3);
    assert_eq!(m.verdicts, [("misinformation".to_string(), 2)]);
    assert_eq!(m.latency_count, 1);
    assert!(
        m.latency_sum > 1.0 && m.latency_sum < 60.0,
        "{}",
        m.latency_sum
    );
}

fn sources_and_reports_of_items(env: &WebEnv) {
    let s: &dyn WebStore = &*env.store;
    let before = Utc::now() - chrono::Duration::seconds(60);
    assert!(s.source_states().unwrap().is_empty());
    s.record_poll("gazette", poll(s, &[("g", "1")], 0)).unwrap();
    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2")], 0))
        .unwrap();
    s.record_poll("Echo", poll(s, &[("a", "1, edited"), ("b", "2")], 10))
        .unwrap();
    let names: Vec<String> = s
        .source_states()
        .unwrap()
        .into_iter()
        .map(|st| {
            let one = s.source_state(&st.source).unwrap().unwrap();
            assert_eq!((one.fetches, one.items_new), (st.fetches, st.items_new));
            st.source
        })
        .collect();
    assert_eq!(names, ["Echo", "gazette"], "by name, byte order");
    assert_eq!(
        s.items_per_source_since(before).unwrap(),
        [("Echo".to_string(), 3), ("gazette".to_string(), 1)]
    );
    assert!(s
        .items_per_source_since(Utc::now() + chrono::Duration::seconds(60))
        .unwrap()
        .is_empty());
    assert_eq!(s.quarantine_count().unwrap(), 0);

    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let none = s.report_count(&ids(&["a", "b"])).unwrap();
    assert_eq!((none.count, none.first, none.last), (0, None, None));
    (env.add_report)("amy", "a");
    (env.add_report)("public report form", "a");
    (env.add_report)("bob", "g");
    let reports = s.reports_of_item("a").unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| r.reporter.as_str())
            .collect::<Vec<_>>(),
        ["amy", "public report form"],
        "oldest first"
    );
    assert!(reports[0].id < reports[1].id);
    assert_eq!(reports[0].item_id.as_deref(), Some("a"));
    assert_eq!(reports[0].detail["note"], "seen");
    assert!(s.reports_of_item("b").unwrap().is_empty());
    let n = s.report_count(&ids(&["a", "b", "g"])).unwrap();
    assert_eq!(n.count, 3);
    assert!(n.first <= n.last && n.first.is_some());
    assert_eq!(s.report_count(&ids(&["b"])).unwrap().count, 0);

    // This process's flags: neither paused nor behind on timestamps.
    s.ping().unwrap();
    assert_eq!(s.ingest_paused(), None);
    assert_eq!(s.timestamp_gap(), None);
}
