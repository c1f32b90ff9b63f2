//! The SQLite schema: every migration, in one ordered list, and the code that applies them.
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

/// Migration 3: capture-time screenshots and rendered HTML of flagged items' pages.
const M3_SCREENSHOTS: &str = r#"
CREATE TABLE screenshots (
    id           INTEGER PRIMARY KEY,
    item_id      TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    attempted_at TEXT    NOT NULL,
    taken        INTEGER NOT NULL CHECK (taken IN (0, 1)),
    reason       TEXT,                 -- why it was not taken (taken = 0)
    tool         TEXT    NOT NULL,     -- e.g. `Chromium 156.0.8078.114`, or `none`
    png_sha256   TEXT,
    png_size     INTEGER,
    width        INTEGER,
    height       INTEGER,
    truncated    INTEGER NOT NULL DEFAULT 0,
    html_sha256  TEXT,
    html_size    INTEGER,
    CHECK (taken = 0 OR (png_sha256 IS NOT NULL AND html_sha256 IS NOT NULL)),
    CHECK (taken = 1 OR reason IS NOT NULL)
);
CREATE INDEX screenshots_item ON screenshots(item_id, id);
"#;

/// Migration 4: web accounts with roles, login sessions and API tokens (secrets kept as hashes).
const M4_USERS: &str = r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    token_hash   TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT
) WITHOUT ROWID;
"#;

/// Migration 5: media officers confirmed fake (PDQ and SHA-256), per incident.
const M5_KNOWN_FAKES: &str = r#"
CREATE TABLE known_fakes (
    id          INTEGER PRIMARY KEY,
    pdq         TEXT    NOT NULL CHECK (length(pdq) = 64),
    pdq_quality INTEGER NOT NULL CHECK (pdq_quality BETWEEN 0 AND 100),
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64),
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    item_id     TEXT,
    media_url   TEXT,
    added_by    TEXT    NOT NULL,
    added_at    TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX known_fakes_media ON known_fakes(sha256, incident_id);
"#;

/// Migration 6: what polls left out of the responses they read (entries that did not become
/// items), per source.
const M6_DROPPED: &str = "
ALTER TABLE source_state ADD COLUMN items_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_state ADD COLUMN last_dropped TEXT;
ALTER TABLE source_state ADD COLUMN last_dropped_at TEXT;
";

/// Migration 7: account states, the lockout's window and back-off, and API tokens with ids
/// (for listing and revoking) and an optional expiry. Existing tokens keep working.
const M7_ACCOUNTS: &str = r#"
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN deleted_at TEXT;
ALTER TABLE users ADD COLUMN failure_window_start TEXT;
ALTER TABLE users ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;

CREATE TABLE api_tokens_v2 (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT
);
INSERT INTO api_tokens_v2(token_hash, user_id, label, created_at, last_used_at)
    SELECT token_hash, user_id, label, created_at, last_used_at FROM api_tokens
    ORDER BY created_at, token_hash;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_v2 RENAME TO api_tokens;
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE INDEX sessions_user ON sessions(user_id);
"#;

/// Migration 8: attempts in progress and the poison-work quarantine.
const M8_QUARANTINE: &str = r#"
CREATE TABLE work_attempts (
    stage    TEXT    NOT NULL CHECK (stage IN ('poll', 'media', 'classify', 'index')),
    key      TEXT    NOT NULL,
    attempts INTEGER NOT NULL CHECK (attempts >= 1),
    first_at TEXT    NOT NULL,
    last_at  TEXT    NOT NULL,
    PRIMARY KEY (stage, key)
) WITHOUT ROWID;

CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    stage          TEXT    NOT NULL CHECK (stage IN ('poll', 'media', 'classify', 'index')),
    key            TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    what           TEXT    NOT NULL,              -- item id, or the URL of the response
    item_seq       INTEGER REFERENCES items(seq),
    sha256         TEXT,                          -- the captured bytes, in the capture store
    reason         TEXT    NOT NULL,
    attempts       INTEGER NOT NULL,
    quarantined_at TEXT    NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'dropped')),
    UNIQUE (stage, key)
);
CREATE INDEX quarantine_item ON quarantine(item_seq);
"#;

/// Items count their re-index requests: an item that joins an incident, or whose incident's
/// status changes, goes back to `classified` with `index_gen` bumped, and the indexer marks it
/// `indexed` only if `index_gen` is still what it read (so a request made while it was
/// indexing is not lost).
const M9_INDEX_GEN: &str = "
ALTER TABLE items ADD COLUMN index_gen INTEGER NOT NULL DEFAULT 0;
";

/// The capture log (a hash chain over every capture's SHA-256) and the RFC 3161 tokens for its
/// heads; both append-only. See `capture_log.rs`.
const M10_CAPTURE_LOG: &str = r#"
CREATE TABLE capture_log (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
    item_id    TEXT    NOT NULL CHECK (item_id <> ''),
    what       TEXT    NOT NULL CHECK (what <> ''),
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    prev_head  TEXT    NOT NULL CHECK (length(prev_head) = 64),
    head       TEXT    NOT NULL UNIQUE CHECK (length(head) = 64),
    logged_at  TEXT    NOT NULL
);
CREATE INDEX capture_log_item ON capture_log(item_id, seq);
CREATE TRIGGER capture_log_no_update BEFORE UPDATE ON capture_log
BEGIN SELECT RAISE(ABORT, 'capture_log is append-only'); END;
CREATE TRIGGER capture_log_no_delete BEFORE DELETE ON capture_log
BEGIN SELECT RAISE(ABORT, 'capture_log is append-only'); END;

CREATE TABLE timestamp_tokens (
    id           INTEGER PRIMARY KEY,
    seq          INTEGER NOT NULL REFERENCES capture_log(seq),
    head         TEXT    NOT NULL,
    tsa_url      TEXT    NOT NULL,
    token        BLOB    NOT NULL,
    gen_time     TEXT    NOT NULL,
    requested_at TEXT    NOT NULL
);
CREATE INDEX timestamp_tokens_seq ON timestamp_tokens(seq);
CREATE TRIGGER timestamp_tokens_no_update BEFORE UPDATE ON timestamp_tokens
BEGIN SELECT RAISE(ABORT, 'timestamp_tokens is append-only'); END;
CREATE TRIGGER timestamp_tokens_no_delete BEFORE DELETE ON timestamp_tokens
BEGIN SELECT RAISE(ABORT, 'timestamp_tokens is append-only'); END;
"#;

/// Reports sent in through the Report page, the API and the public form (`reports.rs`): the
/// number is the reporter's reference; who sent it stays here, never in the item.
const M11_REPORTS: &str = "
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT    NOT NULL,
    reporter    TEXT    NOT NULL,
    public      INTEGER NOT NULL DEFAULT 0,
    item_id     TEXT,
    detail      TEXT    NOT NULL
);
CREATE INDEX reports_item ON reports(item_id);
";

/// What reports are matched by (`report_match.rs`): each reported URL's normal form and each
/// reported picture's 256-bit perceptual hash with its sixteen 16-bit chunks indexed (multi-index
/// hashing), and the report bursts that raised an incident's severity.
const M12_REPORT_MATCHING: &str = "
CREATE TABLE report_keys (
    key      TEXT NOT NULL PRIMARY KEY,
    item_id  TEXT NOT NULL,
    added_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE report_hashes (
    id       INTEGER PRIMARY KEY,
    item_id  TEXT NOT NULL,
    hash     TEXT NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (item_id, hash)
);
CREATE TABLE report_hash_chunks (
    pos     INTEGER NOT NULL,
    val     INTEGER NOT NULL,
    hash_id INTEGER NOT NULL REFERENCES report_hashes(id) ON DELETE CASCADE,
    PRIMARY KEY (pos, val, hash_id)
) WITHOUT ROWID;
CREATE TABLE incident_bursts (
    id            INTEGER PRIMARY KEY,
    incident_id   INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at            TEXT    NOT NULL,
    reports       INTEGER NOT NULL,
    last_report   INTEGER NOT NULL,
    severity_from INTEGER NOT NULL,
    severity_to   INTEGER NOT NULL
);
CREATE INDEX incident_bursts_incident ON incident_bursts(incident_id, at);
";

/// Every migration, oldest first. A database's `user_version` is how many of these it has had,
/// so the order is the schema's history: append, never insert, reorder or edit.
pub(crate) const MIGRATIONS: &[&str] = &[
    M1_INITIAL,
    M2_ALERTING,
    M3_SCREENSHOTS,
    M4_USERS,
    M5_KNOWN_FAKES,
    M6_DROPPED,
    M7_ACCOUNTS,
    M8_QUARANTINE,
    M9_INDEX_GEN,
    M10_CAPTURE_LOG,
    M11_REPORTS,
    M12_REPORT_MATCHING,
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

    #[test]
    fn upgrading_keeps_existing_api_tokens_working() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let path = std::path::Path::new("mem.db");
        migrate(&mut conn, &MIGRATIONS[..MIGRATIONS.len() - 1], path).unwrap();
        conn.execute_batch(
            "INSERT INTO users(id, name, role, password_hash, created_at)
             VALUES (1, 'script', 'viewer', 'h', '2026-01-01T00:00:00.000Z');
             INSERT INTO api_tokens(token_hash, user_id, label, created_at)
             VALUES ('old-hash', 1, 'nightly', '2026-01-02T00:00:00.000Z');",
        )
        .unwrap();
        migrate(&mut conn, MIGRATIONS, path).unwrap();
        let (id, label, expires): (i64, String, Option<String>) = crate::row::query_opt(
            &conn,
            "SELECT id, label, expires_at FROM api_tokens WHERE token_hash = 'old-hash'",
            [],
            || "reading the token".into(),
        )
        .unwrap()
        .unwrap();
        assert_eq!((id, label.as_str(), expires), (1, "nightly", None));
    }

    /// A database written by the last release whose migrations were spread over five modules
    /// (schema version 8, a row in every table, made with that release's `Store`), as the text
    /// `sqlite3 .dump` prints, with its `user_version`.
    const RELEASE_V8: &str = include_str!("../tests/fixtures/release-v8.sql");

    /// Every table, index and trigger with the SQL that made it.
    fn schema(conn: &Connection) -> Vec<(String, String, String)> {
        crate::row::query_all(
            conn,
            "SELECT type, name, sql FROM sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
            [],
            || "reading the schema".into(),
        )
        .unwrap()
    }

    #[test]
    fn the_one_list_makes_the_schema_the_previous_release_made() {
        let old = Connection::open_in_memory().unwrap();
        old.execute_batch(RELEASE_V8).unwrap();
        assert_eq!(user_version(&old).unwrap(), 8);
        let mut new = Connection::open_in_memory().unwrap();
        migrate(&mut new, &MIGRATIONS[..8], Path::new("mem.db")).unwrap();
        let (old, new) = (schema(&old), schema(&new));
        assert!(new.len() > 30, "{new:?}");
        assert_eq!(old, new);
    }

    #[test]
    fn a_release_v8_database_gains_index_gen_at_zero() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(RELEASE_V8).unwrap();
        migrate(&mut old, MIGRATIONS, Path::new("mem.db")).unwrap();
        assert_eq!(user_version(&old).unwrap(), SCHEMA_VERSION);
        let (items, gens): (i64, i64) = old
            .query_row(
                "SELECT count(*), coalesce(sum(index_gen), 0) FROM items",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(items > 0);
        assert_eq!(gens, 0);
    }

    #[test]
    fn every_older_version_upgrades_to_the_same_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh, MIGRATIONS, Path::new("mem.db")).unwrap();
        for k in 0..MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate(&mut conn, &MIGRATIONS[..k], Path::new("mem.db")).unwrap();
            assert_eq!(user_version(&conn).unwrap(), k as i64);
            migrate(&mut conn, MIGRATIONS, Path::new("mem.db")).unwrap();
            assert_eq!(schema(&conn), schema(&fresh), "upgrading from version {k}");
        }
    }

    #[test]
    fn a_database_from_the_previous_release_opens_and_reads_back() {
        use crate::{Role, Stage, TokenCheck};
        let dir = tempfile::tempdir().unwrap();
        Connection::open(dir.path().join(crate::DB_FILE))
            .unwrap()
            .execute_batch(RELEASE_V8)
            .unwrap();
        let store = crate::Store::open(dir.path()).unwrap();

        let a = store.get_item("a").unwrap().unwrap();
        let result = a.result.as_ref().unwrap();
        assert!(result.flagged);
        assert_eq!(result.verdicts[0].label, "false_voting_info");
        assert_eq!(store.count_items().unwrap(), 2);
        let (_, source, capture) = store.get_capture(a.capture_id.unwrap()).unwrap().unwrap();
        assert_eq!((source.as_str(), capture.status), ("Echo", 200));
        assert_eq!(store.count_captures().unwrap(), 2);
        let echo = store.source_state("Echo").unwrap().unwrap();
        assert_eq!(echo.etag.as_deref(), Some("\"v1\""));
        assert_eq!(echo.cursor, Some(serde_json::json!({"after": "b"})));
        assert_eq!((echo.items_new, echo.items_dropped), (2, 1));
        let gazette = store.source_state("Gazette").unwrap().unwrap();
        assert_eq!((gazette.errors, gazette.consecutive_failures), (1, 1));

        let incidents = store.list_incidents(None, 10).unwrap();
        assert_eq!(incidents.len(), 2);
        let inc = incidents
            .iter()
            .find(|d| d.incident.id == a.incident_id().unwrap())
            .unwrap();
        assert_eq!(inc.incident.assignee.as_deref(), Some("bob"));
        assert_eq!(inc.sightings, 1);
        assert!(inc.notes.contains("alice: Called the Returning Officer"));
        let fields: Vec<String> = store
            .incident_history(inc.incident.id)
            .unwrap()
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["title", "item", "status", "assignee", "note"]);
        let outbox = store.outbox_rows(10).unwrap();
        assert_eq!(outbox.len(), 2);
        assert!(outbox[0].accepted_at.is_some());
        assert!(store.digest_last_sent("daily").unwrap().is_some());

        let alice = store.user_login("alice").unwrap().unwrap();
        assert_eq!(alice.user.role, Role::Admin);
        assert_eq!(
            store.session("session-hash").unwrap().unwrap().user,
            alice.user
        );
        let script = store.user_login("script").unwrap().unwrap();
        assert_eq!(script.failed_logins, 1);
        assert_eq!(
            store.check_api_token("token-hash").unwrap(),
            TokenCheck::Valid(script.user.clone())
        );
        assert!(matches!(
            store.check_api_token("expired-hash").unwrap(),
            TokenCheck::Expired { .. }
        ));
        let names: Vec<String> = store
            .accounts()
            .unwrap()
            .into_iter()
            .map(|a| a.user.name)
            .collect();
        assert_eq!(names, ["alice", "script"]);
        assert!(
            store.create_user("carol", Role::Viewer, "h").is_err(),
            "a tombstone"
        );

        assert_eq!(store.screenshots_of("a").unwrap().len(), 1);
        assert_eq!(store.known_fakes().unwrap().len(), 1);
        assert_eq!(store.quarantine_list(false).unwrap().len(), 1);
        assert_eq!(store.work_attempts(Stage::Classify).unwrap().len(), 1);
        let audit = store.audit_entries(100).unwrap();
        assert_eq!(audit[0].action, "export");
        assert!(audit.len() > 10, "{}", audit.len());

        // And it keeps working: a new poll, a new account.
        store
            .record_poll("Echo", crate::testutil::poll(&store, &[("c", "new")], 900))
            .unwrap();
        assert_eq!(store.count_items().unwrap(), 3);
        store.create_user("dave", Role::Viewer, "h").unwrap();
    }
}
