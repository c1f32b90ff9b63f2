use super::*;
use crate::testutil::*;
use chrono::Duration;

#[test]
fn incidents_are_created_read_and_linked_to_items() {
    let (_dir, store) = store();
    store
        .record_poll(
            "Echo",
            poll(&store, &[("a", "fake council site"), ("b", "x")], 0),
        )
        .unwrap();
    let inc = store
        .create_incident(
            "Lookalike council domain",
            VerdictKind::Impersonation,
            Severity::High,
            "alerting",
        )
        .unwrap();
    assert_eq!(store.get_incident(inc.id).unwrap(), Some(inc.clone()));
    assert_eq!(inc.status, IncidentStatus::New);
    assert!(store.get_incident(inc.id + 100).unwrap().is_none());

    assert!(store
        .get_item("a")
        .unwrap()
        .unwrap()
        .incident_id()
        .is_none());
    assert!(store.add_incident_item(inc.id, "a", "alerting").unwrap());
    assert!(!store.add_incident_item(inc.id, "a", "alerting").unwrap());
    assert_eq!(store.incident_item_ids(inc.id).unwrap(), ["a"]);

    // Every version of the item, and later versions, report the incident.
    store
        .record_poll(
            "Echo",
            poll(&store, &[("a", "fake council site, edited")], 300),
        )
        .unwrap();
    for v in store.item_versions("a").unwrap() {
        assert_eq!(v.incident_id(), Some(inc.id));
    }
    assert!(store
        .get_item("b")
        .unwrap()
        .unwrap()
        .incident_id()
        .is_none());

    let err = store.add_incident_item(inc.id, "nope", "x").unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
    let err = store.add_incident_item(999, "a", "x").unwrap_err();
    assert!(err.to_string().contains("incident 999"), "{err}");

    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT count(*) FROM incident_history WHERE incident_id = {}",
                inc.id
            )
        ),
        2
    );
    let actions: Vec<_> = store
        .audit_entries(10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["incident.add_item", "incident.create"]);
}

#[test]
fn damaged_incident_rows_are_reported() {
    let (_dir, store) = store();
    let inc = store
        .create_incident("t", VerdictKind::Misinformation, Severity::Low, "x")
        .unwrap();
    exec(&store, "UPDATE incidents SET kind = 'rumour'");
    let err = store.get_incident(inc.id).unwrap_err();
    assert!(err.to_string().contains("incidents.kind"), "{err}");
}

#[test]
fn incident_workflow_keeps_history_and_audit() {
    let (_dir, store) = store();
    let inc = store
        .create_incident(
            "Fake polling card",
            VerdictKind::Misinformation,
            Severity::High,
            "alerting",
        )
        .unwrap();
    let changed = store
        .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
        .unwrap();
    assert_eq!(changed.status, IncidentStatus::Escalated);
    // Same status again: no new history.
    store
        .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
        .unwrap();
    store
        .set_incident_assignee(inc.id, Some("bob"), "alice")
        .unwrap();
    store
        .add_incident_note(inc.id, "Called the RO", "alice")
        .unwrap();
    assert!(store.add_incident_note(inc.id, "  ", "alice").is_err());
    let err = store
        .set_incident_status(999, IncidentStatus::Resolved, "alice")
        .unwrap_err();
    assert!(err.to_string().contains("no incident 999"), "{err}");

    let h = store.incident_history(inc.id).unwrap();
    let fields: Vec<_> = h.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["title", "status", "assignee", "note"]);
    assert_eq!(h[1].old.as_deref(), Some("new"));
    assert_eq!(h[1].new.as_deref(), Some("escalated"));
    assert_eq!(h[3].new.as_deref(), Some("Called the RO"));
    let d = store.incident_detail(inc.id).unwrap().unwrap();
    assert_eq!(d.incident.assignee.as_deref(), Some("bob"));
    assert!(d.notes.contains("alice: Called the RO"), "{}", d.notes);
    assert_eq!(
        &actions(&store)[..3],
        ["incident.note", "incident.assign", "incident.status"]
    );

    let counts = store.incident_status_counts().unwrap();
    assert_eq!(counts.len(), 6);
    assert!(counts.contains(&(IncidentStatus::Escalated, 1)));
    assert!(counts.contains(&(IncidentStatus::New, 0)));
    store
        .record_poll("Echo", poll(&store, &[("a", "x"), ("b", "y")], 0))
        .unwrap();
    store.add_incident_item(inc.id, "b", "alerting").unwrap();
    store.add_incident_item(inc.id, "a", "alerting").unwrap();
    let a = store.get_item("a").unwrap().unwrap();
    assert_eq!(a.incident_id(), Some(inc.id));
    assert_eq!(
        a.incidents,
        [ballotwatch_core::IncidentRef {
            id: inc.id,
            status: IncidentStatus::Escalated
        }]
    );
    assert_eq!(
        store
            .list_incidents(Some(IncidentStatus::Resolved), 10)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(store.list_incidents(None, 10).unwrap().len(), 1);
    let day = store
        .incidents_per_day(Utc::now() - Duration::days(1), false)
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!((day[0].group.as_str(), day[0].count), ("misinformation", 1));
    let sev = store
        .incidents_per_day(Utc::now() - Duration::days(1), true)
        .unwrap();
    assert_eq!(sev[0].group, "high");
    assert_eq!(
        store.newest_incidents(Severity::High, 5).unwrap()[0]
            .incident
            .id,
        inc.id
    );
    let low = store
        .create_incident(
            "Odd post",
            VerdictKind::Misinformation,
            Severity::Low,
            "alerting",
        )
        .unwrap();
    let newest: Vec<i64> = store
        .newest_incidents(Severity::Medium, 5)
        .unwrap()
        .iter()
        .map(|d| d.incident.id)
        .collect();
    assert_eq!(newest, [inc.id], "{low:?} is below medium");
}

#[test]
fn incident_history_lists_creation_and_items_in_order() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "one")], 0))
        .unwrap();
    let inc = store
        .create_incident(
            "Fake site",
            VerdictKind::Impersonation,
            Severity::High,
            "ann",
        )
        .unwrap();
    store.add_incident_item(inc.id, "a", "bob").unwrap();
    let h = store.incident_history(inc.id).unwrap();
    assert!(h.len() >= 2, "{h:?}");
    assert_eq!(h[0].actor, "ann");
    let last = h.last().unwrap();
    assert_eq!((last.actor.as_str(), last.field.as_str()), ("bob", "item"));
    assert_eq!(last.new.as_deref(), Some("a"));
    assert!(store.incident_history(9999).unwrap().is_empty());
}

/// Polls `ids` and classifies them (unflagged); returns them as pending indexing.
fn classified(store: &Store, ids: &[&str]) -> Vec<crate::StoredItem> {
    let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (*id, "text")).collect();
    store.record_poll("Echo", poll(store, &pairs, 0)).unwrap();
    let results: Vec<_> = store
        .pending_classification(100)
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.seq,
                ballotwatch_core::ClassifyResult {
                    id: s.item.id.clone(),
                    flagged: false,
                    severity: Severity::None,
                    verdicts: Vec::new(),
                    detector_errors: Vec::new(),
                    media_text: Vec::new(),
                },
            )
        })
        .collect();
    store.save_results(&results).unwrap();
    store.pending_index(100).unwrap()
}

#[test]
fn joining_an_incident_or_changing_its_status_queues_its_items_for_indexing() {
    let (_dir, store) = store();
    let wakes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = wakes.clone();
    store.on_index_queued(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let woken = || wakes.load(std::sync::atomic::Ordering::SeqCst);
    let pending = classified(&store, &["a", "b"]);
    let marks: Vec<_> = pending.iter().map(|s| s.index_mark()).collect();
    store.mark_indexed(&marks).unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());

    let inc = store
        .create_incident("t", VerdictKind::Impersonation, Severity::High, "alice")
        .unwrap();
    assert!(store.add_incident_item(inc.id, "a", "alice").unwrap());
    assert_eq!(woken(), 1);
    let again = store.pending_index(10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].item.id, "a");
    assert_eq!(again[0].incidents[0].status, IncidentStatus::New);
    store.mark_indexed(&[again[0].index_mark()]).unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());

    // A status change queues every item of the incident, and only those.
    store
        .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
        .unwrap();
    assert_eq!(woken(), 2);
    let again = store.pending_index(10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].incidents[0].status, IncidentStatus::Escalated);
    // Setting the same status again, or an assignee, queues nothing.
    store.mark_indexed(&[again[0].index_mark()]).unwrap();
    store
        .set_incident_status(inc.id, IncidentStatus::Escalated, "alice")
        .unwrap();
    store
        .set_incident_assignee(inc.id, Some("bob"), "alice")
        .unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());
    assert_eq!(woken(), 2);
}

#[test]
fn a_requeue_while_indexing_is_not_lost_by_marking_indexed() {
    let (_dir, store) = store();
    let read = classified(&store, &["a"]);
    let inc = store
        .create_incident("t", VerdictKind::Impersonation, Severity::High, "alice")
        .unwrap();
    // The indexer read "a" (no incident); it joins one before the indexer marks it indexed.
    assert!(store.add_incident_item(inc.id, "a", "alice").unwrap());
    store.mark_indexed(&[read[0].index_mark()]).unwrap();
    let again = store.pending_index(10).unwrap();
    assert_eq!(again.len(), 1, "the stale mark must not hide the requeue");
    assert_eq!(again[0].incident_id(), Some(inc.id));
    store.mark_indexed(&[again[0].index_mark()]).unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());
}
