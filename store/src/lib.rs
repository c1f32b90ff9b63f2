//! # ballotwatch-store
//!
//! Ballotwatch's durable store, and the queue between its stages. It owns the SQLite schema
//! and its migrations, the content-addressed capture store (the exact bytes of every fetched
//! response under `data_dir/captures/`, named by SHA-256 and verified when read), the stage
//! queues items move through (`new` → `classified` → `indexed`, each move committed together
//! with its result in one transaction, so a crash loses nothing committed and duplicates
//! nothing on restart), per-source polling state, incidents and the append-only audit log. It
//! must not know about HTTP or models: other stages hand it what they fetched or concluded, and
//! it keeps that safe and gives it back intact.
//!
//! [`Store`] is cheap to clone and safe to share between threads; its methods are synchronous
//! and short, so async callers run them with `spawn_blocking`.
//!
//! ## One module per entity
//! | module | keeps |
//! | --- | --- |
//! | `items` | item versions, classification results and verdicts, the stage queues |
//! | `captures` | HTTP exchange records (the bytes are in `blobs`, the capture store) |
//! | `capture_log` | the hash chain over every capture's SHA-256, and RFC 3161 tokens for its heads |
//! | `sources` | per-source polling state, and recording one poll in one transaction |
//! | `incidents` | incidents, their items, workflow (status, assignee, notes) and history |
//! | `sightings` | the alert decision: a flagged item joins or opens an incident, messages queued |
//! | `outbox`, `digests` | messages to deliver; sightings waiting for their digest |
//! | `users`, `sessions`, `tokens` | accounts (and their login lockout), logins, API tokens |
//! | `audit` | the append-only audit log and its one writer |
//! | `stats` | dashboard and `/metrics` aggregates (read-only) |
//! | `screenshots`, `fakes`, `quarantine`, `space` | page evidence, confirmed fakes, poison work, free disk |
//!
//! Beside them: `migrations` (every migration in one ordered list), `row` (the one way rows
//! become values) and `error`.
//!
//! ## The pipeline's store interface
//! [`PipelineStore`] (module `backend`) is what the pipeline's hot path needs from a store: item
//! versions and the stage queues, captures and their bytes, source state and cursors, sightings,
//! the outbox (including [`Store::outbox_claim`], the atomic claim) and the audit log. [`Store`]
//! implements it by delegating to its own methods; embedded mode is unchanged.
//!
//! ## PostgreSQL back end
//! [`PgStore`] (module `postgres`, one file per entity like the SQLite side) implements
//! [`PipelineStore`] on a PostgreSQL database shared by a cluster's nodes, through the
//! synchronous `postgres` client and a small r2d2 pool, so it is called like [`Store`] (from
//! blocking threads). It has its own ordered migration list with a `ballotwatch_schema` version
//! table, keeps capture bytes content-addressed in a `blobs` table (SHA-256 key, verified on
//! read), and replaces SQLite's single writer with PostgreSQL locks: advisory locks on the items
//! and source of a poll and on a sighting's group key, `FOR UPDATE` on the item a decision is
//! about, and `FOR UPDATE SKIP LOCKED` outbox claims, so two nodes never deliver one alert twice.
//! When the server goes away, calls fail with [`StoreError::PostgresUnavailable`] or
//! [`StoreError::Postgres`] saying what failed, and the next call reconnects. The store
//! conformance suite (`store/tests/conformance.rs`) runs the same scenarios on both back ends
//! against a real PostgreSQL the tests start themselves (module `testing`, feature `testing`).

#![warn(missing_docs)]

mod audit;
mod backend;
mod blobs;
mod capture_log;
mod captures;
mod derived;
mod digests;
mod error;
mod fakes;
mod incidents;
mod items;
mod migrations;
mod outbox;
mod postgres;
mod quarantine;
mod report_bursts;
mod report_match;
mod reports;
mod row;
mod screenshots;
mod sessions;
mod sightings;
mod sources;
mod space;
mod stats;
mod tokens;
mod users;
mod web_backend;

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::Connection;

pub use audit::AuditEntry;
pub use backend::{IndexQueuedHook, PipelineStore};
/// The `what` of capture log entries: `body`, `headers`, `media`, `frame`, `screenshot`,
/// `rendered_html`.
pub use capture_log::what as logged_what;
pub use capture_log::{
    chain_head, ChainError, ChainSegment, LogEntry, NewLogEntry, NewTimestampToken,
    TimestampTokenRecord, GENESIS,
};
pub use captures::NewCapture;
pub use digests::{DigestEntry, NewDigestEntry};
pub use error::{Result, StoreError};
pub use fakes::{read_known_fakes_readonly, KnownFakeRecord, NewKnownFake};
pub use incidents::{IncidentChange, IncidentDetail};
pub use items::{IndexMark, StoredItem};
pub use migrations::SCHEMA_VERSION;
pub use outbox::{NewOutbox, OutboxKind, OutboxRow, OutboxState, OutboxStatus};
pub use postgres::{import_tables, Pass, PgOptions, PgStore, TableReport, PG_SCHEMA_VERSION};
pub use quarantine::{Begun, QuarantineEntry, Stage, Work};
pub use report_bursts::Burst;
pub use report_match::{hash_distance, Hash256, HashMatch, HASH_CHUNKS, MAX_HASH_DISTANCE};
pub use reports::{
    inbox_actor, no_acknowledgements, parse_reference, reference as report_reference, removed_mark,
    Acknowledger, InboxReport, ReportCount, ReportRecord, ACKNOWLEDGEMENTS_WITHHELD,
    ACKNOWLEDGEMENT_RULE, RETENTION_ACTOR,
};
pub use screenshots::{NewScreenshot, ScreenshotOutcome, ScreenshotRecord};
pub use sessions::Session;
pub use sightings::{AlertPlan, IncidentContext, Sighting};
pub use sources::{dropped_summary, PollOutcome, PollRecord, SourceState};
pub use stats::{DayCount, MetricCounts};
pub use tokens::{ApiToken, TokenCheck};
pub use users::{Account, Ended, LoginPolicy, Role, UnknownRole, User, UserLogin};
pub use web_backend::WebStore;

use error::SqlContext;

/// File name of the database inside `data_dir`.
pub const DB_FILE: &str = "ballotwatch.db";

/// How long a write waits for another process holding the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle on one `data_dir`: the SQLite database and the capture blobs beside it.
///
/// Cloning is cheap (an [`Arc`]); all clones share one connection behind a mutex, so calls
/// from several threads are serialised. Several processes may open the same `data_dir`: SQLite's
/// locking (WAL, busy timeout of 10 s) keeps them consistent.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    db_path: PathBuf,
    captures_dir: PathBuf,
    conn: Mutex<Connection>,
    /// Why ingest is paused in this process (disk full), if it is.
    paused: Mutex<Option<String>>,
    /// Why captures are waiting for a trusted timestamp in this process (a TSA that does not
    /// answer), if they are.
    timestamp_gap: Mutex<Option<String>>,
    /// Called after a commit that queued items for indexing again (see
    /// [`Store::on_index_queued`]).
    index_queued: Mutex<Option<IndexQueued>>,
}

/// A callback [`Store::on_index_queued`] registers.
type IndexQueued = Arc<dyn Fn() + Send + Sync>;

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema up to date.
    ///
    /// Creates `data_dir`, `data_dir/captures/tmp/` and `data_dir/ballotwatch.db`; sets WAL
    /// mode, `synchronous=FULL`, foreign keys and a 10 s busy timeout; runs pending migrations;
    /// removes temp files a crash left in `captures/tmp/`. Refuses a database written by a newer
    /// Ballotwatch ([`StoreError::TooNew`]).
    pub fn open(data_dir: &Path) -> Result<Store> {
        let captures_dir = data_dir.join("captures");
        let tmp = captures_dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| StoreError::io("create the capture folder", &tmp, e))?;
        blobs::clean_tmp(&tmp);

        let db_path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&db_path)
            .ctx("opening the database")
            .map_err(|e| e.in_db(&db_path))?;
        configure(&conn)
            .and_then(|()| migrations::migrate(&mut conn, migrations::MIGRATIONS, &db_path))
            .map_err(|e| e.in_db(&db_path))?;
        tracing::debug!(db = %db_path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                db_path,
                captures_dir,
                conn: Mutex::new(conn),
                paused: Mutex::new(None),
                timestamp_gap: Mutex::new(None),
                index_queued: Mutex::new(None),
            }),
        })
    }

    /// Registers `f` to be called (replacing any earlier one) after every commit that queues
    /// items for indexing again: an item joining an incident, an incident's status changing.
    /// Every clone of this store shares it, so the pipeline's indexer can wake when the web UI
    /// changes an incident. `f` runs on the committing thread and must be quick.
    pub fn on_index_queued(&self, f: impl Fn() + Send + Sync + 'static) {
        *self
            .inner
            .index_queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
    }

    /// Calls the [`Store::on_index_queued`] callback, if any.
    pub(crate) fn index_queued(&self) {
        let f = self
            .inner
            .index_queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(f) = f {
            f();
        }
    }

    /// The folder this store lives in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Runs a trivial query: `Ok` when the database answers (health checks).
    pub fn ping(&self) -> Result<()> {
        self.with_conn(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .ctx("checking that the database answers")
        })
    }

    /// Runs `f` on the connection, holding the lock, and names the database in SQLite errors.
    ///
    /// A poisoned lock (a thread panicked while holding it) is recovered: any transaction that
    /// thread had open was rolled back when its `Transaction` was dropped during unwinding, so the
    /// connection is in a consistent state.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut conn).map_err(|e| e.in_db(&self.inner.db_path))
    }

    /// Runs a `SELECT count(*)` query.
    fn count(&self, sql: &str, what: &str) -> Result<u64> {
        let n: i64 = self.with_conn(|conn| conn.query_row(sql, [], |r| r.get(0)).ctx(what))?;
        // COUNT is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Connection settings every store connection uses.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting the busy timeout")?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .ctx("switching to WAL journal mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network shares) cannot do WAL; SQLite then keeps its rollback
        // journal, which is slower but just as safe.
        tracing::warn!(journal_mode = %mode, "SQLite could not use WAL mode here; continuing with its rollback journal");
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx("setting synchronous=FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx("enabling foreign keys")?;
    Ok(())
}

/// Now, truncated to the millisecond precision timestamps are stored with, so values written to
/// columns and to JSON agree exactly.
pub(crate) fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// A timestamp as stored: RFC 3339, UTC (`Z`), milliseconds.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses a stored timestamp; `what` names the column and row for the error.
pub(crate) fn parse_ts(s: &str, what: impl FnOnce() -> String) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::corrupt(what(), format!("`{s}` is not an RFC 3339 time: {e}")))
}

/// Parses an optional stored timestamp.
pub(crate) fn parse_opt_ts(
    s: Option<String>,
    what: impl FnOnce() -> String,
) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, what)).transpose()
}

/// A `limit` argument as SQLite wants it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders shared by the tests of every module.

    use super::*;
    use ballotwatch_core::{Capture, Item, SourceRef};
    use chrono::TimeZone;

    /// A fresh store in a temp folder (keep the folder alive as long as the store).
    pub fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A fixed instant plus `secs` seconds.
    pub fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    /// Stores `body` and returns the capture record of fetching it from `url` at `t(at)`.
    pub fn capture(store: &Store, url: &str, body: &[u8], at: i64) -> Capture {
        let sha256 = store.put_blob(body).unwrap();
        Capture {
            url: url.to_string(),
            final_url: url.to_string(),
            status: 200,
            headers: vec![
                ("content-type".into(), "application/rss+xml".into()),
                ("etag".into(), format!("\"{at}\"")),
            ],
            sha256,
            size: body.len() as u64,
            started_at: t(at),
            finished_at: t(at) + chrono::Duration::milliseconds(250),
        }
    }

    /// An RSS item with this id and text.
    pub fn item(id: &str, text: &str) -> Item {
        Item {
            id: id.to_string(),
            source: SourceRef {
                kind: "rss".into(),
                name: "Echo".into(),
            },
            url: Some(format!("https://echo.example/{id}")),
            published_at: Some(t(-3600)),
            title: Some(format!("Title {id}")),
            text: Some(text.to_string()),
            ..Item::default()
        }
    }

    /// A successful poll at `t(at)` of one feed whose body lists `items` (id, text).
    pub fn poll(store: &Store, items: &[(&str, &str)], at: i64) -> PollRecord {
        let body = serde_json::to_vec(items).unwrap();
        let cap = capture(store, "https://echo.example/rss", &body, at);
        PollRecord {
            captures: vec![cap],
            items: items.iter().map(|(id, text)| (0, item(id, text))).collect(),
            etag: Some(format!("\"{at}\"")),
            last_modified: None,
            cursor: None,
            not_modified: false,
            attempted_at: t(at),
            next_attempt_at: t(at + 300),
        }
    }

    /// The actions of the audit log's newest 100 entries, newest first.
    pub fn actions(store: &Store) -> Vec<String> {
        store
            .audit_entries(100)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Runs raw SQL on the store's connection (for fault injection and inspection).
    pub fn exec(store: &Store, sql: &str) {
        store
            .with_conn(|c| c.execute_batch(sql).ctx("test sql"))
            .unwrap();
    }

    /// Runs a single-integer query on the store's connection.
    pub fn count(store: &Store, sql: &str) -> i64 {
        store
            .with_conn(|c| c.query_row(sql, [], |r| r.get(0)).ctx("test sql"))
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn open_creates_the_layout_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let store = Store::open(&data).unwrap();
        assert_eq!(store.data_dir(), data);
        assert!(data.join(DB_FILE).is_file());
        assert!(data.join("captures/tmp").is_dir());
        assert_eq!(count(&store, "PRAGMA user_version"), SCHEMA_VERSION);
        let mode: String = store
            .with_conn(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .ctx("q")
            })
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(count(&store, "PRAGMA synchronous"), 2, "FULL");
        assert_eq!(count(&store, "PRAGMA foreign_keys"), 1);
        assert_eq!(count(&store, "PRAGMA busy_timeout"), 10_000);
    }

    #[test]
    fn reopening_keeps_data_and_does_not_remigrate() {
        let (dir, store) = store();
        let rec = poll(&store, &[("a", "one")], 0);
        store.record_poll("Echo", rec).unwrap();
        store
            .audit("tester", "open", &serde_json::json!({"n": 1}))
            .unwrap();
        drop(store);
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.count_items().unwrap(), 1);
        assert_eq!(count(&again, "SELECT count(*) FROM audit_log"), 1);
        assert_eq!(count(&again, "PRAGMA user_version"), SCHEMA_VERSION);
    }

    #[test]
    fn a_database_from_a_newer_ballotwatch_is_refused() {
        let (dir, store) = store();
        exec(
            &store,
            &format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1),
        );
        drop(store);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("upgrade Ballotwatch"), "{msg}");
        assert!(
            msg.contains(&dir.path().join(DB_FILE).display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn an_unwritable_data_dir_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&file).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("not-a-folder"), "{err}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_milliseconds() {
        let t0 = t(0) + chrono::Duration::microseconds(1_234_567);
        assert_eq!(ts(&t0), "2026-05-01T08:00:01.234Z");
        assert_eq!(
            parse_ts(&ts(&t0), || "x".into()).unwrap(),
            t0.trunc_subsecs(3)
        );
        let err = parse_ts("yesterday", || "items.published_at of seq 4".into()).unwrap_err();
        assert!(err.to_string().contains("items.published_at of seq 4"));
    }

    #[test]
    fn store_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Store>();
        let (_dir, store) = store();
        let clone = store.clone();
        assert!(Arc::ptr_eq(&store.inner, &clone.inner));
    }

    #[test]
    fn a_panic_while_holding_the_lock_does_not_break_the_store() {
        let (_dir, store) = store();
        let s = store.clone();
        let joined = std::thread::spawn(move || {
            let _ = s.with_conn(|c| -> Result<()> {
                let tx = c.transaction().ctx("begin")?;
                tx.execute(
                    "INSERT INTO audit_log(at, actor, action, detail) VALUES ('t','a','x','{}')",
                    [],
                )
                .ctx("insert")?;
                panic!("simulated crash inside a transaction");
            });
        })
        .join();
        assert!(joined.is_err());
        // The half-done transaction was rolled back and the store still works.
        assert_eq!(count(&store, "SELECT count(*) FROM audit_log"), 0);
        store
            .audit("tester", "after-panic", &serde_json::Value::Null)
            .unwrap();
        assert_eq!(count(&store, "SELECT count(*) FROM audit_log"), 1);
    }
}
