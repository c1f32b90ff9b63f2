//! The PostgreSQL back end for cluster mode: [`PgStore`], the pipeline's store interface
//! ([`crate::PipelineStore`]) on a PostgreSQL database shared by every node.
//!
//! Same semantics as the SQLite [`crate::Store`], with one module per entity like it and one
//! ordered migration list (`migrations`). Where several nodes can act at once, the SQLite
//! store's single writer is replaced by PostgreSQL locks:
//! - recording a poll takes transaction-scoped advisory locks on its source and item ids (in
//!   one sorted order, so two transactions never deadlock) before it reads latest versions, and
//!   appends to the capture log under a table lock (the hash chain is one sequence);
//! - a sighting locks its item row (`FOR UPDATE`: two nodes deciding one item decide once) and
//!   an advisory lock on its group key (two nodes seeing one threat open one incident);
//! - outbox claims use `FOR UPDATE SKIP LOCKED`, so two nodes never take one message, and a
//!   claim records the node; a `sending` claim older than `claim_timeout` is a crashed node's
//!   and is claimed again.
//!
//! Connections come from a small r2d2 pool; each is checked before use, so after a PostgreSQL
//! restart the next call reconnects by itself. While the server is unreachable calls fail with
//! [`StoreError::PostgresUnavailable`] (nothing written) or [`StoreError::Postgres`] naming what
//! was being done. Capture bytes are content-addressed in the `blobs` table (see `blobs`).
//!
//! The client is synchronous (rust-postgres' `postgres` crate, which runs its own small
//! runtime): call it from blocking threads (`spawn_blocking`), as with [`crate::Store`].

mod audit;
mod blobs;
mod capture_log;
mod captures;
mod dashboard;
mod derived;
mod digests;
mod fakes;
mod import;
mod incidents;
mod items;
mod migrations;
mod outbox;
mod report_match;
mod reports;
mod screenshots;
mod sessions;
mod sightings;
mod sources;
mod tokens;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ballotwatch_core::{Capture, ClassifyResult, Incident};
use chrono::{DateTime, SubsecRound, Utc};
use postgres::config::SslMode;
use postgres::types::FromSql;
use postgres::Row;
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::backend::IndexQueuedHook;
use crate::error::{PgContext, Result, StoreError};
use crate::{
    AlertPlan, AuditEntry, Burst, ChainSegment, DigestEntry, Hash256, HashMatch, InboxReport,
    IncidentChange, IncidentContext, IndexMark, KnownFakeRecord, LogEntry, NewCapture,
    NewKnownFake, NewOutbox, NewScreenshot, NewTimestampToken, OutboxRow, PollOutcome, PollRecord,
    ReportRecord, ScreenshotRecord, Sighting, SourceState, StoredItem,
};

pub use import::{import_tables, Pass, TableReport};
pub use migrations::PG_SCHEMA_VERSION;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
type Client = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// How a [`PgStore`] connects and behaves in a cluster.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections kept open at most (default 4: the pipeline's stages and the web UI).
    pub pool_size: u32,
    /// How long a call waits for a connection before failing with
    /// [`StoreError::PostgresUnavailable`] (default 5 s); also the TCP connect timeout.
    pub connect_timeout: Duration,
    /// This node's name, recorded on the outbox messages it claims (default the host name, or
    /// `ballotwatch`).
    pub node: String,
    /// A message another node claimed (`sending`) longer ago than this is taken to be a crashed
    /// node's and is claimed again (default 5 minutes: far longer than any send).
    pub claim_timeout: Duration,
    /// With trusted timestamps on: a capture log entry waiting longer than this for a token is
    /// reported by [`PgStore::timestamp_gap`] (the node holding the timestamp lease stamps the
    /// head every `timestamp_interval`); `None` (the default) reports nothing.
    pub timestamp_overdue: Option<Duration>,
    /// The PEM file of the CA that signed the server's certificate (`[cluster]
    /// postgres_ca_file`), for TLS (`sslmode=require` in the URL); without it the system's
    /// trusted roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            node: std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "ballotwatch".into()),
            claim_timeout: Duration::from_secs(300),
            timestamp_overdue: None,
            ca_file: None,
        }
    }
}

/// Handle on a PostgreSQL database holding the store: cheap to clone and safe to share.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<PgInner>,
}

struct PgInner {
    pool: Pool,
    /// `host:port/dbname`: what errors and logs name (never the password).
    server: String,
    node: String,
    claim_timeout: Duration,
    timestamp_overdue: Option<Duration>,
    index_queued: Mutex<Option<IndexQueuedHook>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("server", &self.inner.server)
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

/// `host:port/dbname` of a connection config, for messages (no user or password).
fn describe(cfg: &postgres::Config) -> String {
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .zip(cfg.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| match h {
            postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "{}/{}",
        if hosts.is_empty() {
            "localhost:5432".to_string()
        } else {
            hosts.join(",")
        },
        cfg.get_dbname().unwrap_or("")
    )
}

/// Why one connection to `cfg` fails, with every cause (the pool's error names only the last
/// attempt's outermost one, e.g. "error performing TLS handshake" without the certificate
/// problem); `None` when it connects.
fn connect_cause(cfg: &postgres::Config, tls: MakeRustlsConnect) -> Option<String> {
    let error = cfg.connect(tls).err()?;
    let mut cause = error.to_string();
    let mut next = std::error::Error::source(&error);
    while let Some(e) = next {
        cause.push_str(": ");
        cause.push_str(&e.to_string());
        next = e.source();
    }
    Some(cause)
}

/// libpq's `sslmode=verify-full` and `verify-ca` as `require`, which this client always
/// verifies fully (the certificate chain to a trusted root, and the host name); the client reads
/// only `disable`, `prefer` and `require`.
fn libpq_ssl_modes(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

/// The TLS side of connections. TLS is used when the URL asks for it (`sslmode=require`): the
/// server's certificate must chain to `ca_file`'s CA (else the system's trusted roots) and name
/// the host connected to. Without `sslmode` (or with `prefer`) connections are unencrypted, as
/// on a loopback or private network (never half-verified).
fn tls_connector(cfg: &mut postgres::Config, ca_file: Option<&Path>) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use rustls_platform_verifier::BuilderVerifierExt;
    if cfg.get_ssl_mode() == SslMode::Prefer {
        cfg.ssl_mode(SslMode::Disable);
    }
    let problem = |message: String| StoreError::InvalidInput(message);
    // aws-lc-rs, the provider the rest of Ballotwatch's TLS uses.
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| problem(format!("cannot set up TLS to PostgreSQL: {e}")))?;
    let config = match ca_file {
        Some(path) => {
            let shown = path.display();
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                problem(format!(
                    "[cluster] postgres_ca_file {shown} cannot be read: {e}"
                ))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    problem(format!(
                        "[cluster] postgres_ca_file {shown} is not a PEM certificate file: {e}"
                    ))
                })?;
                roots.add(cert).map_err(|e| {
                    problem(format!(
                        "[cluster] postgres_ca_file {shown} holds a certificate that cannot be used: {e}"
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(problem(format!(
                    "[cluster] postgres_ca_file {shown} holds no PEM certificate"
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .with_platform_verifier()
            .map_err(|e| {
                problem(format!(
                    "cannot load the system's trusted roots for TLS to PostgreSQL: {e} \
                     (name the server's CA in [cluster] postgres_ca_file)"
                ))
            })?
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connects to the database `url` names (a `postgresql://` URL or `key=value` pairs, as
    /// libpq takes them), and brings its schema up to date (several nodes may start at once:
    /// migrations run under an advisory lock). Refuses a database migrated by a newer
    /// Ballotwatch ([`StoreError::TooNew`]).
    pub fn connect(url: &str, options: PgOptions) -> Result<PgStore> {
        let mut cfg = postgres::Config::from_str(&libpq_ssl_modes(url)).map_err(|e| {
            StoreError::InvalidInput(format!(
                "the PostgreSQL URL (in the variable [cluster] postgres_url_env names) cannot be read: {e}"
            ))
        })?;
        cfg.connect_timeout(options.connect_timeout)
            .application_name("ballotwatch");
        let server = describe(&cfg);
        let tls = tls_connector(&mut cfg, options.ca_file.as_deref())?;
        let (first_cfg, first_tls) = (cfg.clone(), tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .test_on_check_out(true)
            .build(PostgresConnectionManager::new(cfg, tls))
            .map_err(|source| StoreError::PostgresUnavailable {
                context: match connect_cause(&first_cfg, first_tls) {
                    Some(cause) => format!("opening the store ({cause})"),
                    None => "opening the store".into(),
                },
                server: server.clone(),
                source,
            })?;
        let store = PgStore {
            inner: Arc::new(PgInner {
                pool,
                server,
                node: options.node,
                claim_timeout: options.claim_timeout,
                timestamp_overdue: options.timestamp_overdue,
                index_queued: Mutex::new(None),
            }),
        };
        store.with_client("migrating the schema", |c| {
            migrations::migrate(&mut **c, &store.inner.server)
        })?;
        tracing::info!(server = %store.inner.server, node = %store.inner.node, "PostgreSQL store opened");
        Ok(store)
    }

    /// `host:port/dbname` of the database.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// Runs a trivial query: `Ok` when the server answers (health checks).
    pub fn ping(&self) -> Result<()> {
        self.with_client("checking that PostgreSQL answers", |c| {
            c.simple_query("SELECT 1")
                .pg("checking that PostgreSQL answers")
                .map(drop)
        })
    }

    /// Runs `f` on a pooled connection and names the server in its errors. `what` says what the
    /// call is for when no connection can be had.
    fn with_client<T>(&self, what: &str, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let mut client =
            self.inner
                .pool
                .get()
                .map_err(|source| StoreError::PostgresUnavailable {
                    context: what.to_string(),
                    server: self.inner.server.clone(),
                    source,
                })?;
        f(&mut client).map_err(|e| e.in_pg(&self.inner.server))
    }

    /// Calls the index-queued hook, if any.
    fn index_queued(&self) {
        let hook = self
            .inner
            .index_queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(f) = hook {
            f();
        }
    }
}

/// A time as stored: truncated to milliseconds, like the SQLite store's text timestamps, so both
/// back ends give back the same instants.
pub(crate) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Column `i` of a row; an error names the column.
pub(crate) fn col<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
    r.try_get(i).pg_with(|| {
        let name = r.columns().get(i).map_or("?", |c| c.name());
        format!("reading column `{name}`")
    })
}

/// A non-negative count column as `u64`; `what` names it for the error.
pub(crate) fn count_col(r: &Row, i: usize, what: impl FnOnce() -> String) -> Result<u64> {
    let v: i64 = col(r, i)?;
    u64::try_from(v).map_err(|_| StoreError::corrupt(what(), format!("{v} is negative")))
}

/// A `limit` argument as PostgreSQL wants it.
pub(crate) fn pg_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

crate::backend::pipeline_store_impl!(PgStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }
    fn exclusively(&self, key: &str, f: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        let _one = crate::backend::process_exclusive();
        let what = format!("taking the cluster-wide lock `{key}`");
        self.with_client(&what, |c| {
            c.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
                .pg(&what)?;
            // Released even when `f` panics: the connection goes back to the pool, and a lock
            // left on it would hold every node up.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *f));
            let released = c
                .execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", &[&key])
                .pg_with(|| format!("releasing the cluster-wide lock `{key}`"));
            match result {
                Ok(result) => result.and(released.map(drop)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
    fn set_index_queued_hook(&self, hook: IndexQueuedHook) {
        *self
            .inner
            .index_queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_server_description_names_hosts_and_database_but_never_the_password() {
        let cfg = postgres::Config::from_str("postgresql://bw:s3cret@db.example:6543/ballotwatch")
            .unwrap();
        assert_eq!(describe(&cfg), "db.example:6543/ballotwatch");
        let cfg = postgres::Config::from_str(
            "host=10.0.0.1,10.0.0.2 port=5433,5434 user=bw password=s3cret dbname=bw",
        )
        .unwrap();
        let d = describe(&cfg);
        assert_eq!(d, "10.0.0.1:5433,10.0.0.2:5434/bw");
        assert!(!d.contains("s3cret"));
        let cfg = postgres::Config::from_str("host=/run/postgresql dbname=x").unwrap();
        assert_eq!(describe(&cfg), "/run/postgresql:5432/x");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let err = PgStore::connect(
            "postgresql://bw:s3cret@db.example:notaport/x",
            PgOptions::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("postgres_url_env"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn times_are_kept_to_the_millisecond_like_sqlite() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
            + chrono::Duration::microseconds(1_234_567);
        assert_eq!(crate::ts(&ms(t)), "2026-05-01T08:00:01.234Z");
        assert_eq!(
            ms(t),
            crate::parse_ts(&crate::ts(&t), || "t".into()).unwrap()
        );
    }
}
