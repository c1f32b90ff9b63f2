//! The web's store interface ([`WebStore`]) on both back ends: accounts and their lockout,
//! sessions, API tokens and the incident workflow, with the same expected rows, ordering and
//! errors from SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use ballotwatch_store::{
    Ended, LoginPolicy, PgStore, Role, Store, StoreError, TokenCheck, WebStore,
};
use chrono::Utc;

use super::{classify_all, pg_options, poll, shared_pg, Keep};

/// Stores a report by `reporter` that became item `item_id`, the way the back end's report
/// desk would (PostgreSQL has no report desk yet: a row written behind the store's back).
type AddReport = Box<dyn Fn(&str, &str)>;

/// A web store under test and what keeps it alive.
struct WebEnv {
    store: Arc<dyn WebStore>,
    add_report: AddReport,
    _keep: Keep,
}

fn sqlite() -> WebEnv {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let s = store.clone();
    WebEnv {
        store: Arc::new(store),
        add_report: Box::new(move |reporter, item_id| {
            let id = s
                .open_report(reporter, false, &serde_json::json!({ "note": "seen" }))
                .unwrap();
            s.close_report(id, item_id, &serde_json::json!({ "note": "seen" }))
                .unwrap();
        }),
        _keep: Keep::Dir(dir),
    }
}

fn pg(name: &str) -> WebEnv {
    let db = shared_pg().database(name).unwrap();
    let url = db.url.clone();
    WebEnv {
        store: Arc::new(PgStore::connect(&db.url, pg_options("web")).unwrap()),
        add_report: Box::new(move |reporter, item_id| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.execute(
                "INSERT INTO reports(received_at, reporter, public, item_id, detail)
                 VALUES (now(), $1, false, $2, '{\"note\":\"seen\"}')",
                &[&reporter, &item_id],
            )
            .unwrap();
        }),
        _keep: Keep::Db(db),
    }
}

#[path = "web_stats.rs"]
mod stats;

/// One `#[test]` per scenario and back end: `web::sqlite::name` and `web::postgresql::name`.
macro_rules! web_conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { let env = super::sqlite(); super::$name(&*env.store); } )*
        }
        mod postgresql {
            $( #[test] fn $name() {
                let env = super::pg(concat!("web_", stringify!($name)));
                super::$name(&*env.store);
            } )*
        }
    };
}

web_conformance!(
    accounts_are_created_listed_disabled_and_deleted,
    failed_logins_lock_with_back_off,
    sessions_expire_and_end,
    api_tokens_expire_are_listed_and_revoked,
    the_incident_workflow_records_history_and_audit,
);

fn invalid(err: StoreError, needle: &str) {
    assert!(
        matches!(err, StoreError::InvalidInput(_)) && err.to_string().contains(needle),
        "expected an invalid-input error about {needle:?}, got {err}"
    );
}

/// The actions of the newest `n` audit entries, oldest first.
fn last_actions(s: &dyn WebStore, n: usize) -> Vec<String> {
    let mut a: Vec<String> = s
        .audit_entries(n)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    a.reverse();
    a
}

const HOUR: Duration = Duration::from_secs(3600);

fn accounts_are_created_listed_disabled_and_deleted(s: &dyn WebStore) {
    let zed = s.create_user("zed", Role::Admin, "h-zed").unwrap();
    let amy = s.create_user("amy", Role::Analyst, "h-amy").unwrap();
    let bob = s.create_user("Bob", Role::Viewer, "h-bob").unwrap();
    invalid(
        s.create_user("amy", Role::Viewer, "x").unwrap_err(),
        "already a user `amy`",
    );
    invalid(
        s.create_user("  ", Role::Viewer, "x").unwrap_err(),
        "non-blank",
    );
    let names = |s: &dyn WebStore| {
        s.users()
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(s), ["Bob", "amy", "zed"], "by name, byte order");
    let login = s.user_login("amy").unwrap().unwrap();
    assert_eq!(login.user, amy);
    assert_eq!(login.password_hash, "h-amy");
    assert!(!login.disabled && login.failed_logins == 0 && login.locked_until.is_none());
    assert!(s.user_login("nobody").unwrap().is_none());

    // A password change ends the account's sessions and tokens.
    s.create_session(&amy, "sess-amy", "csrf", HOUR, &serde_json::json!({}))
        .unwrap();
    s.create_api_token(&amy, "tok-amy", "nightly", None, "zed")
        .unwrap();
    let accounts = s.accounts().unwrap();
    assert_eq!(accounts[1].user, amy);
    assert_eq!(accounts[1].live_tokens, 1);
    assert!(accounts[1].disabled_at.is_none());
    assert_eq!(
        s.set_password("amy", "h-amy-2", "zed").unwrap(),
        Ended {
            sessions: 1,
            tokens: 1
        }
    );
    assert!(s.session("sess-amy").unwrap().is_none());
    assert_eq!(s.check_api_token("tok-amy").unwrap(), TokenCheck::Unknown);
    assert_eq!(
        s.user_login("amy").unwrap().unwrap().password_hash,
        "h-amy-2"
    );
    invalid(
        s.set_password("nobody", "h", "zed").unwrap_err(),
        "no user `nobody`",
    );

    // The last enabled admin cannot be disabled or deleted.
    invalid(
        s.disable_user("zed", "zed").unwrap_err(),
        "last enabled admin",
    );
    invalid(
        s.delete_user("zed", "zed").unwrap_err(),
        "last enabled admin",
    );
    s.create_session(&bob, "sess-bob", "csrf", HOUR, &serde_json::json!({}))
        .unwrap();
    assert_eq!(s.disable_user("Bob", "zed").unwrap().sessions, 1);
    assert_eq!(
        s.disable_user("Bob", "zed").unwrap(),
        Ended::default(),
        "already"
    );
    assert!(s.user_login("Bob").unwrap().unwrap().disabled);
    assert!(s.accounts().unwrap()[0].disabled_at.is_some());
    s.enable_user("Bob", "zed").unwrap();
    assert!(!s.user_login("Bob").unwrap().unwrap().disabled);

    // A deleted account is a tombstone: gone from lists, its name not reused.
    s.delete_user("Bob", "zed").unwrap();
    assert_eq!(names(s), ["amy", "zed"]);
    assert!(s.user_login("Bob").unwrap().is_none());
    invalid(
        s.create_user("Bob", Role::Viewer, "h").unwrap_err(),
        "not reused",
    );
    invalid(s.enable_user("Bob", "zed").unwrap_err(), "no user `Bob`");
    assert_eq!(
        last_actions(s, 100),
        [
            "user.create",
            "user.create",
            "user.create",
            "login",
            "token.create",
            "user.password",
            "login",
            "user.disable",
            "user.enable",
            "user.delete",
        ],
        "refused and no-op changes are not audited"
    );
    let e = &s.audit_entries(1).unwrap()[0];
    assert_eq!(
        (e.actor.as_str(), e.detail["user"].as_str()),
        ("zed", Some("Bob"))
    );
    assert_eq!(e.detail["sessions_ended"], 0);
    let _ = zed;
}

fn failed_logins_lock_with_back_off(s: &dyn WebStore) {
    const MIN: Duration = Duration::from_secs(60);
    let p = LoginPolicy {
        max_failures: 3,
        window: 15 * MIN,
        lockout: 15 * MIN,
        max_lockout: 60 * MIN,
    };
    let u = s.create_user("alice", Role::Viewer, "h").unwrap();
    let ip = serde_json::json!({"ip": "192.0.2.1"});
    let t0 = super::t(0);
    let at = |m: i64| t0 + chrono::Duration::minutes(m);
    // Two failures, a quiet window: the count starts again; three in the window lock.
    for m in [0, 1] {
        assert_eq!(
            s.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
            None
        );
    }
    assert_eq!(s.user_login("alice").unwrap().unwrap().failed_logins, 2);
    for m in [20, 21] {
        assert_eq!(
            s.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
            None
        );
    }
    assert_eq!(
        s.record_login_failure_at(u.id, &p, &ip, at(22)).unwrap(),
        Some(at(37)),
        "15 minutes"
    );
    let login = s.user_login("alice").unwrap().unwrap();
    assert_eq!((login.failed_logins, login.locked_until), (0, Some(at(37))));
    // A failure while locked neither counts nor extends the lock.
    assert_eq!(
        s.record_login_failure_at(u.id, &p, &ip, at(23)).unwrap(),
        None
    );
    assert_eq!(
        s.user_login("alice").unwrap().unwrap().locked_until,
        Some(at(37))
    );
    // The next lock lasts twice as long.
    for m in [40, 41] {
        assert_eq!(
            s.record_login_failure_at(u.id, &p, &ip, at(m)).unwrap(),
            None
        );
    }
    assert_eq!(
        s.record_login_failure_at(u.id, &p, &ip, at(42)).unwrap(),
        Some(at(72))
    );
    let entries = s.audit_entries(2).unwrap();
    assert_eq!(entries[0].action, "login.failed");
    assert_eq!(entries[0].detail["lockouts"], 2);
    assert_eq!(entries[0].detail["ip"], "192.0.2.1");
    let locked: Vec<_> = s
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "login.locked")
        .collect();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].actor, "alice");
    invalid(
        s.record_login_failure_at(999, &p, &ip, at(0)).unwrap_err(),
        "no user 999",
    );
    // Enabling lifts the lock.
    s.enable_user("alice", "cli").unwrap();
    assert!(s
        .user_login("alice")
        .unwrap()
        .unwrap()
        .locked_until
        .is_none());
}

fn sessions_expire_and_end(s: &dyn WebStore) {
    let u = s.create_user("alice", Role::Admin, "h").unwrap();
    let ip = serde_json::json!({"ip": "192.0.2.9"});
    let live = s.create_session(&u, "live", "c1", HOUR, &ip).unwrap();
    s.create_session(&u, "old", "c2", Duration::ZERO, &ip)
        .unwrap();
    let got = s.session("live").unwrap().unwrap();
    assert_eq!((got.user, got.csrf.as_str()), (u.clone(), "c1"));
    assert_eq!(got.expires_at, live.expires_at);
    assert!(s.session("old").unwrap().is_none(), "expired");
    assert!(s.session("nope").unwrap().is_none());
    assert!(
        s.create_session(&u, "live", "c3", HOUR, &ip).is_err(),
        "a second session with one token hash is refused"
    );
    s.end_session("live").unwrap();
    assert!(s.session("live").unwrap().is_none());
    s.end_session("live").unwrap();
    assert_eq!(last_actions(s, 3), ["login", "login", "logout"]);
    assert_eq!(s.audit_entries(2).unwrap()[1].detail["ip"], "192.0.2.9");
}

fn api_tokens_expire_are_listed_and_revoked(s: &dyn WebStore) {
    let u = s.create_user("script", Role::Viewer, "h").unwrap();
    let v = s.create_user("other", Role::Viewer, "h").unwrap();
    let past = Utc::now() - chrono::Duration::seconds(1);
    let future = Utc::now() + chrono::Duration::days(90);
    let old = s
        .create_api_token(&u, "old", "nightly", Some(past), "cli")
        .unwrap();
    let new = s
        .create_api_token(&u, "new", "weekly", Some(future), "cli")
        .unwrap();
    s.create_api_token(&v, "forever", "api", None, "cli")
        .unwrap();
    assert!(matches!(
        s.check_api_token("old").unwrap(),
        TokenCheck::Expired { id, ref label, .. } if id == old && label == "nightly"
    ));
    assert_eq!(
        s.check_api_token("new").unwrap(),
        TokenCheck::Valid(u.clone())
    );
    assert_eq!(s.check_api_token("nope").unwrap(), TokenCheck::Unknown);
    let mine = s.api_tokens(Some("script")).unwrap();
    assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), [old, new]);
    assert!(mine[0].expired_at(Utc::now()) && !mine[1].expired_at(Utc::now()));
    assert!(mine[1].last_used_at.is_some() && mine[0].last_used_at.is_none());
    assert_eq!(mine[0].user, "script");
    assert_eq!(
        s.api_tokens(None)
            .unwrap()
            .iter()
            .map(|t| t.label.as_str())
            .collect::<Vec<_>>(),
        ["nightly", "weekly", "api"]
    );
    invalid(
        s.api_tokens(Some("nobody")).unwrap_err(),
        "no user `nobody`",
    );
    assert_eq!(
        s.accounts().unwrap()[1].live_tokens,
        1,
        "the expired one does not count"
    );
    assert_eq!(s.revoke_api_token(new, "alice").unwrap().label, "weekly");
    assert_eq!(s.check_api_token("new").unwrap(), TokenCheck::Unknown);
    invalid(
        s.revoke_api_token(new, "alice").unwrap_err(),
        "no API token",
    );
    // A disabled account's tokens end with it.
    s.disable_user("other", "alice").unwrap();
    assert_eq!(s.check_api_token("forever").unwrap(), TokenCheck::Unknown);
    let e = &s.audit_entries(2).unwrap()[1];
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("alice", "token.revoke")
    );
    assert_eq!(e.detail["user"], "script");
}

fn the_incident_workflow_records_history_and_audit(s: &dyn WebStore) {
    s.record_poll("Echo", poll(s, &[("a", "1"), ("b", "2")], 0))
        .unwrap();
    classify_all(s, &[]);
    let marks: Vec<_> = s
        .pending_index(10)
        .unwrap()
        .iter()
        .map(|i| ballotwatch_store::IndexMark {
            seq: i.seq,
            gen: i.index_gen,
        })
        .collect();
    s.mark_indexed(&marks).unwrap();

    let one = s
        .create_incident(
            "Fake polling card",
            VerdictKind::Impersonation,
            Severity::High,
            "amy",
        )
        .unwrap();
    let two = s
        .create_incident(
            "Closed polls rumour",
            VerdictKind::Misinformation,
            Severity::Low,
            "bob",
        )
        .unwrap();
    assert_eq!(one.status, IncidentStatus::New);
    assert_eq!(s.get_incident(one.id).unwrap().unwrap(), one);
    assert!(s.add_incident_item(one.id, "a", "amy").unwrap());
    assert!(
        !s.add_incident_item(one.id, "a", "amy").unwrap(),
        "already attached"
    );
    invalid(
        s.add_incident_item(one.id, "zz", "amy").unwrap_err(),
        "no stored item `zz`",
    );
    invalid(
        s.add_incident_item(999, "a", "amy").unwrap_err(),
        "no incident 999",
    );
    assert_eq!(s.incident_item_ids(one.id).unwrap(), ["a"]);
    // Attaching queued the item to be indexed again (the index holds its incidents).
    assert_eq!(
        s.pending_index(10)
            .unwrap()
            .iter()
            .map(|i| i.item.id.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );

    let changed = s
        .set_incident_status(one.id, IncidentStatus::Investigating, "amy")
        .unwrap();
    assert_eq!(changed.status, IncidentStatus::Investigating);
    let same = s
        .set_incident_status(one.id, IncidentStatus::Investigating, "amy")
        .unwrap();
    assert_eq!(same, changed, "no change, nothing recorded");
    assert_eq!(
        s.set_incident_assignee(one.id, Some("  carol "), "amy")
            .unwrap()
            .assignee
            .as_deref(),
        Some("carol")
    );
    assert_eq!(
        s.set_incident_assignee(one.id, Some(" "), "amy")
            .unwrap()
            .assignee,
        None,
        "blank unassigns"
    );
    invalid(
        s.add_incident_note(one.id, "  ", "amy").unwrap_err(),
        "blank",
    );
    s.add_incident_note(one.id, " printed leaflets seen ", "amy")
        .unwrap();
    invalid(
        s.set_incident_status(999, IncidentStatus::Resolved, "amy")
            .unwrap_err(),
        "no incident 999",
    );

    let detail = s.incident_detail(one.id).unwrap().unwrap();
    assert_eq!(detail.incident.status, IncidentStatus::Investigating);
    assert_eq!((detail.sightings, detail.last_seen_at), (0, None));
    let note_line = detail.notes.lines().collect::<Vec<_>>();
    assert_eq!(note_line.len(), 1);
    assert!(
        note_line[0].ends_with("Z amy: printed leaflets seen"),
        "{}",
        detail.notes
    );
    assert!(s.incident_detail(999).unwrap().is_none());

    let history: Vec<_> = s
        .incident_history(one.id)
        .unwrap()
        .into_iter()
        .map(|c| (c.actor, c.field, c.old, c.new))
        .collect();
    let o = |v: &str| Some(v.to_string());
    assert_eq!(
        history,
        [
            ("amy".into(), "title".into(), None, o("Fake polling card")),
            ("amy".into(), "item".into(), None, o("a")),
            ("amy".into(), "status".into(), o("new"), o("investigating")),
            ("amy".into(), "assignee".into(), None, o("carol")),
            ("amy".into(), "assignee".into(), o("carol"), None),
            (
                "amy".into(),
                "note".into(),
                None,
                o("printed leaflets seen")
            ),
        ]
    );
    assert!(s.incident_history(999).unwrap().is_empty());
    assert_eq!(
        last_actions(s, 7),
        [
            "incident.create",
            "incident.create",
            "incident.add_item",
            "incident.status",
            "incident.assign",
            "incident.assign",
            "incident.note",
        ],
        "refused and no-op changes are not audited"
    );
    let e = &s.audit_entries(1).unwrap()[0];
    assert_eq!(e.detail["incident_id"], one.id);

    // Lists: most recently changed first, filtered by status; newest by severity.
    let ids = |v: Vec<ballotwatch_store::IncidentDetail>| {
        v.into_iter().map(|d| d.incident.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(s.list_incidents(None, 10).unwrap()), [one.id, two.id]);
    assert_eq!(ids(s.list_incidents(None, 1).unwrap()), [one.id]);
    assert_eq!(
        ids(s.list_incidents(Some(IncidentStatus::New), 10).unwrap()),
        [two.id]
    );
    assert!(s
        .list_incidents(Some(IncidentStatus::Resolved), 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(s.newest_incidents(Severity::Low, 10).unwrap()),
        [two.id, one.id]
    );
    assert_eq!(
        ids(s.newest_incidents(Severity::High, 10).unwrap()),
        [one.id]
    );
    // A status change queues the incident's items to be indexed again.
    s.set_incident_status(one.id, IncidentStatus::Resolved, "amy")
        .unwrap();
    let pending = s.pending_index(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0]
            .incidents
            .iter()
            .map(|r| (r.id, r.status))
            .collect::<Vec<_>>(),
        [(one.id, IncidentStatus::Resolved)]
    );
}
