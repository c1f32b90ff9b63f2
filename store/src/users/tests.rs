use super::*;
use crate::testutil::*;
use crate::TokenCheck;

#[test]
fn users_are_unique_and_roles_round_trip() {
    let (_dir, store) = store();
    let alice = store
        .create_user("alice", Role::Analyst, "$argon2id$x")
        .unwrap();
    assert_eq!(alice.role, Role::Analyst);
    let err = store.create_user("alice", Role::Admin, "h").unwrap_err();
    assert!(err.to_string().contains("already a user `alice`"), "{err}");
    assert!(store.create_user("  ", Role::Admin, "h").is_err());
    let login = store.user_login("alice").unwrap().unwrap();
    assert_eq!(login.user, alice);
    assert_eq!(login.password_hash, "$argon2id$x");
    assert!(store.user_login("bob").unwrap().is_none());
    assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
    assert_eq!(
        "root".parse::<Role>().unwrap_err().to_string(),
        "unknown role `root` (expected viewer, analyst or admin)"
    );
    assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
    exec(
        &store,
        "PRAGMA ignore_check_constraints = ON; UPDATE users SET role = 'root';
         PRAGMA ignore_check_constraints = OFF;",
    );
    let err = store.user_login("alice").unwrap_err();
    assert!(err.to_string().contains("users.role"), "{err}");
}

#[test]
fn password_change_disable_and_delete_end_sessions_and_tokens() {
    let (_dir, store) = store();
    let admin = store.create_user("root", Role::Admin, "h").unwrap();
    let u = store.create_user("alice", Role::Analyst, "h").unwrap();
    let ip = serde_json::json!({});
    let hour = std::time::Duration::from_secs(3600);
    let open = |tag: &str| {
        store
            .create_session(&u, &format!("s-{tag}"), "c", hour, &ip)
            .unwrap();
        store
            .create_api_token(&u, &format!("t-{tag}"), tag, None, "cli")
            .unwrap();
    };
    let live = |tag: &str| {
        (
            store.session(&format!("s-{tag}")).unwrap().is_some(),
            store.check_api_token(&format!("t-{tag}")).unwrap() != TokenCheck::Unknown,
        )
    };
    open("a");
    assert_eq!(live("a"), (true, true));
    store.set_password("alice", "h2", "root").unwrap();
    assert_eq!(live("a"), (false, false), "a new password ends everything");

    open("b");
    let ended = store.disable_user("alice", "root").unwrap();
    assert_eq!(
        ended,
        Ended {
            sessions: 1,
            tokens: 1
        }
    );
    assert_eq!(live("b"), (false, false), "disabling ends everything");
    assert!(store.user_login("alice").unwrap().unwrap().disabled);
    // Even a session or token that somehow survived is refused while disabled.
    store.create_session(&u, "s-c", "c", hour, &ip).unwrap();
    assert!(store.session("s-c").unwrap().is_none());
    assert_eq!(
        store.disable_user("alice", "root").unwrap(),
        Ended::default()
    );
    store.enable_user("alice", "root").unwrap();
    assert!(!store.user_login("alice").unwrap().unwrap().disabled);
    assert!(store.session("s-c").unwrap().is_some());

    open("d");
    let ended = store.delete_user("alice", "root").unwrap();
    assert_eq!(
        ended,
        Ended {
            sessions: 2,
            tokens: 1
        }
    );
    assert_eq!(live("d"), (false, false));
    assert!(
        store.user_login("alice").unwrap().is_none(),
        "gone for logins"
    );
    assert_eq!(
        store
            .accounts()
            .unwrap()
            .iter()
            .map(|a| &a.user.name)
            .collect::<Vec<_>>(),
        ["root"]
    );
    let err = store.create_user("alice", Role::Viewer, "h").unwrap_err();
    assert!(err.to_string().contains("already a user `alice`"), "{err}");
    let err = store.set_password("alice", "h", "root").unwrap_err();
    assert!(err.to_string().contains("no user `alice`"), "{err}");
    assert!(store.delete_user("alice", "root").is_err());

    // The last admin cannot be disabled or deleted.
    let err = store.disable_user("root", "cli").unwrap_err();
    assert!(err.to_string().contains("last enabled admin"), "{err}");
    assert!(store.delete_user("root", "cli").is_err());
    assert!(store.session("nothing").unwrap().is_none());
    let _ = admin;

    // Every change is audited with who did it, and the entries keep the name.
    let entries = store.audit_entries(100).unwrap();
    let by_root: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.actor == "root")
        .map(|e| (e.action.as_str(), e.detail["user"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        by_root,
        [
            ("user.delete", "alice"),
            ("user.enable", "alice"),
            ("user.disable", "alice"),
            ("user.password", "alice"),
        ]
    );
}
