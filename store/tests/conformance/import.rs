//! Copying an embedded store into PostgreSQL (what `migrate --to-cluster` runs): every table
//! copied with its ids, blobs by SHA-256, a second copy inserting nothing, the verification
//! naming the first row or blob that differs, and ids continuing after the copied ones.

use ballotwatch_core::{IncidentStatus, Severity, VerdictKind};
use ballotwatch_store::{Pass, PgStore, PipelineStore, Role, Store, TableReport, WebStore};

use super::{alert_plan, classify_all, pg_options, poll, shared_pg, sighting};

fn nothing(_: &str, _: u64) {}

fn report<'a>(reports: &'a [TableReport], table: &str) -> &'a TableReport {
    reports.iter().find(|r| r.table == table).unwrap()
}

/// An embedded store with a little of everything.
fn embedded() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.record_poll("Echo", poll(&s, &[("a", "1"), ("b", "2"), ("c", "3")], 0))
        .unwrap();
    s.record_poll("Echo", poll(&s, &[("a", "1 changed")], 60))
        .unwrap();
    classify_all(&s, &["a", "b"]);
    for p in s.pending_alerts(10).unwrap() {
        if p.item.id == "c" {
            s.mark_alerted(&[p.seq]).unwrap();
        } else {
            s.record_sighting(&sighting(p.seq, Some("k"), Severity::High), alert_plan)
                .unwrap();
        }
    }
    let claimed = s.outbox_claim(chrono::Utc::now()).unwrap();
    s.outbox_sent(claimed[0].id, chrono::Utc::now()).unwrap();
    let amy = s.create_user("amy", Role::Admin, "h").unwrap();
    s.create_api_token(&amy, "tok", "nightly", None, "cli")
        .unwrap();
    let i = s
        .create_incident("By hand", VerdictKind::Impersonation, Severity::Low, "amy")
        .unwrap();
    s.set_incident_status(i.id, IncidentStatus::Investigating, "amy")
        .unwrap();
    (dir, s)
}

#[test]
fn an_embedded_store_is_copied_verified_and_a_second_copy_inserts_nothing() {
    let (_dir, src) = embedded();
    let db = shared_pg().database("import_copy").unwrap();
    let pg = PgStore::connect(&db.url, pg_options("import")).unwrap();
    assert!(!pg.holds_data().unwrap());

    let copied = pg.import_tables(&src, Pass::Copy, &mut nothing).unwrap();
    let blobs = pg.import_blobs(&src, Pass::Copy, &mut nothing).unwrap();
    assert!(pg.holds_data().unwrap());
    assert_eq!(report(&copied, "items").copied, 4, "every version");
    assert_eq!(report(&copied, "outbox").copied, 1);
    assert_eq!(report(&copied, "users").copied, 1);
    assert!(
        blobs.copied >= 2 && blobs.copied == blobs.source,
        "{blobs:?}"
    );
    for r in copied.iter().chain([&blobs]) {
        assert!(r.matches(), "{r:?}");
        assert_eq!(r.copied, r.source, "{r:?}");
    }

    // The copy reads back the same through both back ends.
    let a = PipelineStore::item_versions(&src, "a").unwrap();
    assert_eq!(
        format!("{:?}", PipelineStore::item_versions(&pg, "a").unwrap()),
        format!("{a:?}")
    );
    assert_eq!(
        PipelineStore::capture_log_head(&pg).unwrap(),
        PipelineStore::capture_log_head(&src).unwrap()
    );
    assert_eq!(
        format!("{:?}", pg.outbox_rows(10).unwrap()),
        format!("{:?}", src.outbox_rows(10).unwrap()),
        "sent stays sent"
    );
    assert_eq!(
        PipelineStore::incident_history(&pg, 2).unwrap(),
        PipelineStore::incident_history(&src, 2).unwrap()
    );
    assert_eq!(
        WebStore::accounts(&pg).unwrap(),
        WebStore::accounts(&src).unwrap()
    );
    assert_eq!(
        pg.audit_entries(100).unwrap(),
        src.audit_entries(100).unwrap()
    );

    // Checked: everything equal; copied again: nothing inserted.
    for r in pg.import_tables(&src, Pass::Check, &mut nothing).unwrap() {
        assert!(r.matches() && r.copied == 0, "{r:?}");
    }
    let again = pg.import_tables(&src, Pass::Copy, &mut nothing).unwrap();
    assert_eq!(again.iter().map(|r| r.copied).sum::<u64>(), 0);
    assert_eq!(
        pg.import_blobs(&src, Pass::Copy, &mut nothing)
            .unwrap()
            .copied,
        0
    );

    // New rows get ids after the copied ones.
    let next = WebStore::create_incident(
        &pg,
        "Next",
        VerdictKind::Impersonation,
        Severity::Low,
        "amy",
    )
    .unwrap();
    assert_eq!(next.id, 3);
}

#[test]
fn the_check_names_the_first_row_or_blob_that_differs() {
    let (_dir, src) = embedded();
    let db = shared_pg().database("import_differs").unwrap();
    let pg = PgStore::connect(&db.url, pg_options("import")).unwrap();
    pg.import_tables(&src, Pass::Copy, &mut nothing).unwrap();
    pg.import_blobs(&src, Pass::Copy, &mut nothing).unwrap();

    // A row changed in the target: named by table, key and column, as a conflict.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.execute("UPDATE incidents SET title = 'Other' WHERE id = 2", &[])
        .unwrap();
    let checked = pg.import_tables(&src, Pass::Check, &mut nothing).unwrap();
    let r = report(&checked, "incidents");
    assert!(!r.matches() && r.conflicts());
    let p = r.first_problem.as_deref().unwrap();
    assert!(p.contains("incidents (2): title is \"By hand\""), "{p}");
    assert!(p.contains("\"Other\" in PostgreSQL"), "{p}");
    assert!(report(&checked, "items").matches());

    // A row only the target has.
    c.execute(
        "INSERT INTO digest_state(rule, last_sent_at) VALUES ('x', now())",
        &[],
    )
    .unwrap();
    let checked = pg.import_tables(&src, Pass::Check, &mut nothing).unwrap();
    let r = report(&checked, "digest_state");
    assert!(r.conflicts(), "{r:?}");
    assert!(
        r.first_problem.as_deref().unwrap().contains("holds 1 rows"),
        "{r:?}"
    );

    // A row the target lacks is missing, not a conflict (an interrupted copy resumes).
    c.execute("DELETE FROM api_tokens", &[]).unwrap();
    let checked = pg.import_tables(&src, Pass::Check, &mut nothing).unwrap();
    let r = report(&checked, "api_tokens");
    assert!(!r.matches() && !r.conflicts() && r.missing == 1, "{r:?}");

    // A blob damaged in the embedded store is named.
    let sha = src.get_capture(1).unwrap().unwrap().2.sha256;
    std::fs::write(src.blob_path(&sha), b"not the captured bytes").unwrap();
    let blobs = pg.import_blobs(&src, Pass::Check, &mut nothing).unwrap();
    assert!(!blobs.matches());
    let p = blobs.first_problem.unwrap();
    assert!(p.starts_with(&format!("blob {sha}")), "{p}");
}
