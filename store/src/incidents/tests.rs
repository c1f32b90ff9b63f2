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

    assert!(store.get_item("a").unwrap().unwrap().incident_id.is_none());
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
        assert_eq!(v.incident_id, Some(inc.id));
    }
    assert!(store.get_item("b").unwrap().unwrap().incident_id.is_none());

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
    assert!(store
        .item_ids_with_incident_status(IncidentStatus::Escalated, 10)
        .unwrap()
        .is_empty());
    store
        .record_poll("Echo", poll(&store, &[("a", "x"), ("b", "y")], 0))
        .unwrap();
    store.add_incident_item(inc.id, "b", "alerting").unwrap();
    store.add_incident_item(inc.id, "a", "alerting").unwrap();
    assert_eq!(
        store
            .item_ids_with_incident_status(IncidentStatus::Escalated, 10)
            .unwrap(),
        ["a", "b"]
    );
    assert!(store
        .item_ids_with_incident_status(IncidentStatus::New, 10)
        .unwrap()
        .is_empty());
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
