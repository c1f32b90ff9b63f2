//! The SQLite schema as an ordered list of hand-written migrations.
//!
//! `PRAGMA user_version` holds how many migrations a database has had. Migration `n` (1-based)
//! is `MIGRATIONS[n - 1]`; each runs in its own `IMMEDIATE` transaction together with the bump of
//! `user_version`, so a crash or failure leaves the database at the previous version, never
//! half-migrated. Never edit a migration that has shipped: append a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, SqlContext, StoreError};

/// Migration 1: the whole initial schema.
///
/// Invariant relied on by queries: within one item id, a higher `version` always has a higher
/// `seq` (versions are only ever inserted as latest + 1, and `seq` is AUTOINCREMENT).
/// `UNIQUE (id, version)` also serves as the index on `id`.
const M1_INITIAL: &str = r#"
CREATE TABLE captures (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    final_url   TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    headers     TEXT    NOT NULL,      -- JSON array of [name, value]
    sha256      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    started_at  TEXT    NOT NULL,      -- RFC 3339 UTC, milliseconds
    finished_at TEXT    NOT NULL
);
-- One fetch is one row: re-recording the same fetch after a crash finds the existing row.
CREATE UNIQUE INDEX captures_fetch ON captures(source, url, started_at, sha256);
CREATE INDEX captures_sha256 ON captures(sha256);

CREATE TABLE items (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL CHECK (id <> ''),
    version      INTEGER NOT NULL CHECK (version >= 1),
    source       TEXT    NOT NULL,
    source_kind  TEXT    NOT NULL,
    url          TEXT,
    published_at TEXT,
    ingested_at  TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    item_json    TEXT    NOT NULL,
    capture_id   INTEGER REFERENCES captures(id),
    stage        TEXT    NOT NULL DEFAULT 'new'
                 CHECK (stage IN ('new', 'classified', 'indexed')),
    flagged      INTEGER,
    severity     INTEGER,
    max_score    REAL,
    result_json  TEXT,
    UNIQUE (id, version)
);
CREATE INDEX items_stage ON items(stage, seq);
CREATE INDEX items_capture ON items(capture_id);

CREATE TABLE verdicts (
    item_seq    INTEGER NOT NULL REFERENCES items(seq) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    score       REAL    NOT NULL,
    detector    TEXT    NOT NULL,
    explanation TEXT    NOT NULL,
    evidence    TEXT    NOT NULL,      -- JSON
    rebuttal    TEXT,
    PRIMARY KEY (item_seq, idx)
) WITHOUT ROWID;
CREATE INDEX verdicts_kind_label ON verdicts(kind, label);

CREATE TABLE source_state (
    source               TEXT PRIMARY KEY,
    etag                 TEXT,
    last_modified        TEXT,
    cursor               TEXT,         -- opaque JSON owned by the source
    last_attempt_at      TEXT,
    last_success_at      TEXT,
    last_error           TEXT,
    last_error_at        TEXT,
    last_error_url       TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      TEXT,
    fetches              INTEGER NOT NULL DEFAULT 0,
    not_modified         INTEGER NOT NULL DEFAULT 0,
    items_new            INTEGER NOT NULL DEFAULT 0,
    items_updated        INTEGER NOT NULL DEFAULT 0,
    errors               INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    severity   INTEGER NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'new',
    assignee   TEXT,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX incidents_status ON incidents(status, updated_at);

-- item_id is an item's stable id (all its versions), so it cannot be a foreign key.
CREATE TABLE incident_items (
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    item_id     TEXT    NOT NULL,
    added_at    TEXT    NOT NULL,
    PRIMARY KEY (incident_id, item_id)
) WITHOUT ROWID;
CREATE INDEX incident_items_item ON incident_items(item_id);

CREATE TABLE incident_history (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    old         TEXT,
    new         TEXT
);
CREATE INDEX incident_history_incident ON incident_history(incident_id, id);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL              -- JSON
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"#;

/// Migration 2: alerting. Incidents get a grouping key, notes and sighting counts; items get an
/// `alerted` mark (the alert stage's queue); the durable outbox, digest entries and which rules
/// have alerted which incident.
///
/// Items stored before this migration are marked alerted: upgrading must not send a flood of
/// alerts about old items.
const M2_ALERTING: &str = r#"
ALTER TABLE incidents ADD COLUMN group_key TEXT;
ALTER TABLE incidents ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN sightings INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN last_seen_at TEXT;
CREATE INDEX incidents_group ON incidents(group_key, last_seen_at);

ALTER TABLE items ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
UPDATE items SET alerted = 1;
CREATE INDEX items_unalerted ON items(seq) WHERE alerted = 0;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL,          -- `email` or `webhook:<name>`
    kind            TEXT    NOT NULL CHECK (kind IN ('alert', 'update', 'digest')),
    rule            TEXT    NOT NULL,
    incident_id     INTEGER REFERENCES incidents(id),
    recipients      TEXT    NOT NULL,          -- JSON array
    payload         TEXT    NOT NULL,          -- JSON: the rendered message
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    accepted_at     TEXT
);
CREATE INDEX outbox_queue ON outbox(state, channel, id);

CREATE TABLE digest_entries (
    id          INTEGER PRIMARY KEY,
    rule        TEXT    NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    item_id     TEXT    NOT NULL,
    summary     TEXT    NOT NULL,              -- JSON
    created_at  TEXT    NOT NULL,
    outbox_id   INTEGER REFERENCES outbox(id)
);
CREATE INDEX digest_entries_open ON digest_entries(rule, outbox_id, id);

CREATE TABLE digest_state (
    rule         TEXT PRIMARY KEY,
    last_sent_at TEXT NOT NULL
);

CREATE TABLE incident_alerts (
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    rule        TEXT    NOT NULL,
    first_key   TEXT    NOT NULL,              -- idempotency key of the first message
    at          TEXT    NOT NULL,
    PRIMARY KEY (incident_id, rule)
) WITHOUT ROWID;
"#;

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    M1_INITIAL,
    M2_ALERTING,
    crate::evidence::M_SCREENSHOTS,
    crate::web::MIGRATION,
    crate::fakes::MIGRATION,
    crate::poll::M_DROPPED,
    crate::users::MIGRATION,
    crate::quarantine::MIGRATION,
];

/// The schema version this build creates and understands (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx("reading the schema version")
}

/// Brings the database up to `migrations.len()`, one transaction per migration.
///
/// Refuses ([`StoreError::TooNew`]) a database whose version is newer than `migrations` knows.
/// Safe when several processes open the same database at once: the version is re-read after the
/// write lock is taken.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str], db_path: &Path) -> Result<()> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let too_new = |found| StoreError::TooNew {
        path: db_path.to_path_buf(),
        found,
        known,
    };
    let found = user_version(conn)?;
    if found > known {
        return Err(too_new(found));
    }
    for (i, sql) in migrations.iter().enumerate() {
        let target = i64::try_from(i + 1).unwrap_or(i64::MAX);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_ctx(|| format!("starting schema migration {target}"))?;
        let current = user_version(&tx)?;
        if current > known {
            return Err(too_new(current));
        }
        if current >= target {
            continue;
        }
        tx.execute_batch(sql)
            .with_ctx(|| format!("applying schema migration {target}"))?;
        tx.pragma_update(None, "user_version", target)
            .with_ctx(|| format!("recording schema version {target}"))?;
        tx.commit()
            .with_ctx(|| format!("committing schema migration {target}"))?;
        tracing::info!(db = %db_path.display(), version = target, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn migrates_an_empty_database_to_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        for t in [
            "captures",
            "items",
            "verdicts",
            "source_state",
            "incidents",
            "incident_items",
            "incident_history",
            "audit_log",
            "outbox",
            "digest_entries",
            "digest_state",
            "incident_alerts",
        ] {
            assert!(table_exists(&conn, t), "missing table {t}");
        }
        // Running again is a no-op.
        migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version_intact() {
        let mut conn = Connection::open_in_memory().unwrap();
        let migrations = [
            "CREATE TABLE a (x INTEGER);",
            // Creates a table, then fails: the table must not survive.
            "CREATE TABLE b (y INTEGER); INSERT INTO no_such_table VALUES (1);",
        ];
        let err = migrate(&mut conn, &migrations, Path::new("t.db")).unwrap_err();
        assert!(
            err.to_string().contains("applying schema migration 2"),
            "{err}"
        );
        assert_eq!(user_version(&conn).unwrap(), 1);
        assert!(table_exists(&conn, "a"));
        assert!(!table_exists(&conn, "b"));
        // Fixed migration 2 then applies cleanly.
        let fixed = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER);"];
        migrate(&mut conn, &fixed, Path::new("t.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        assert!(table_exists(&conn, "b"));
    }

    #[test]
    fn refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
        let err = migrate(&mut conn, MIGRATIONS, Path::new("/x/ballotwatch.db")).unwrap_err();
        match err {
            StoreError::TooNew { found, known, .. } => {
                assert_eq!(found, SCHEMA_VERSION + 5);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {other}"),
        }
        // Nothing was created.
        assert!(!table_exists(&conn, "items"));
    }

    #[test]
    fn upgrading_to_alerting_does_not_alert_old_items() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &MIGRATIONS[..1], Path::new("mem.db")).unwrap();
        conn.execute(
            "INSERT INTO items(id, version, source, source_kind, ingested_at, content_hash,
             item_json, stage) VALUES ('old', 1, 's', 'rss', 't', 'h', '{}', 'indexed')",
            [],
        )
        .unwrap();
        migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
        conn.execute(
            "INSERT INTO items(id, version, source, source_kind, ingested_at, content_hash,
             item_json) VALUES ('new', 1, 's', 'rss', 't', 'h', '{}')",
            [],
        )
        .unwrap();
        let alerted = |id: &str| -> i64 {
            conn.query_row("SELECT alerted FROM items WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(alerted("old"), 1, "stored before alerting existed");
        assert_eq!(alerted("new"), 0, "waits for an alert decision");
    }

    #[test]
    fn audit_log_is_append_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
        conn.execute(
            "INSERT INTO audit_log(at, actor, action, detail) VALUES ('t', 'a', 'x', '{}')",
            [],
        )
        .unwrap();
        let upd = conn.execute("UPDATE audit_log SET actor = 'b'", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = conn.execute("DELETE FROM audit_log", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
    }

    #[test]
    fn items_reject_bad_stage_and_duplicate_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
        let ins = |version: i64, stage: &str| {
            conn.execute(
                "INSERT INTO items(id, version, source, source_kind, ingested_at, content_hash,
                 item_json, stage) VALUES ('a', ?1, 's', 'rss', 't', 'h', '{}', ?2)",
                rusqlite::params![version, stage],
            )
        };
        ins(1, "new").unwrap();
        assert!(ins(1, "new").is_err(), "duplicate (id, version)");
        assert!(ins(2, "done").is_err(), "unknown stage");
        assert!(ins(0, "new").is_err(), "version 0");
    }
}
