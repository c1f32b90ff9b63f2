//! A throwaway PostgreSQL server for tests (feature `testing`): the store's own tests and the
//! end-to-end tests start one real server per test binary and give each test its own database.
//!
//! [`PgServer::start`] runs `initdb` and `postgres` from `PATH` or `/usr/lib/postgresql/*/bin/`
//! (Debian's `postgresql` package does not put them on `PATH`) with a temporary data folder and
//! a temporary socket folder, listening on a free loopback port, with trust authentication for
//! the `ballotwatch` superuser, and `ssl = on` with a certificate for 127.0.0.1 from a CA made at
//! start ([`PgServer::ca_file`]): tests connect without TLS, or with `sslmode=require` and that
//! CA. PostgreSQL refuses to run as root, so when the tests run as root
//! (as in CI) the server runs as `nobody` (its folders are made under the temp folder, which
//! `nobody` must be able to reach: `/tmp` is). The server stops when the [`PgServer`] is dropped;
//! the shared one ([`shared`]) stops when the test process exits.
//!
//! [`shared`] also hands out a lock: ordinary tests hold it shared ([`SharedPg::database`]);
//! a test that restarts the server takes it exclusively ([`SharedPg::exclusive`]), so no other
//! test sees the restart.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The superuser the test server is created with.
pub const PG_USER: &str = "ballotwatch";

/// uid and gid of `nobody` on Debian.
const NOBODY: u32 = 65534;

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server of our own, on a loopback port, stopped when dropped.
pub struct PgServer {
    bin: PathBuf,
    port: u16,
    data: PathBuf,
    sockets: PathBuf,
    run_as: Option<u32>,
    durable: bool,
    child: Mutex<Option<Child>>,
    // Removed last (fields drop in order): the folders above live in it.
    _dir: tempfile::TempDir,
}

/// Where `initdb` and `postgres` are: beside `initdb` on `PATH`, or the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                if let Some(parent) = real.parent() {
                    if parent.join("postgres").is_file() {
                        return Some(parent.to_path_buf());
                    }
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> Result<u16, String> {
    ballotwatch_core::net::free_loopback_port().map_err(|e| format!("no free loopback port: {e}"))
}

impl PgServer {
    /// Creates a cluster in a temp folder and starts it; see the module documentation. It runs
    /// with `fsync=off` (fast; a crash of the process loses nothing, only an OS crash would).
    pub fn start() -> Result<PgServer, String> {
        PgServer::start_with(false)
    }

    /// Like [`PgServer::start`]; `durable` keeps PostgreSQL's default `fsync=on`, for
    /// measurements that compare commit costs with SQLite's `synchronous=FULL`.
    pub fn start_with(durable: bool) -> Result<PgServer, String> {
        let bin = find_bin_dir().ok_or(
            "PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql/*/bin \
             (apt-get install postgresql)",
        )?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let run_as = root.then_some(NOBODY);
        let dir = tempfile::Builder::new()
            .prefix("ballotwatch-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp folder for PostgreSQL: {e}"))?;
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets)
            .map_err(|e| format!("cannot create {}: {e}", sockets.display()))?;
        if let Some(uid) = run_as {
            for p in [dir.path(), sockets.as_path()] {
                std::os::unix::fs::chown(p, Some(uid), Some(uid))
                    .map_err(|e| format!("cannot hand {} to nobody: {e}", p.display()))?;
            }
        }
        let server = PgServer {
            bin,
            port: free_port()?,
            data,
            sockets,
            run_as,
            durable,
            child: Mutex::new(None),
            _dir: dir,
        };
        let out = server
            .command("initdb")
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ])
            .arg(format!("--username={PG_USER}"))
            .arg("-D")
            .arg(&server.data)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", server.bin.join("initdb").display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        server.write_tls_files()?;
        server.spawn()?;
        Ok(server)
    }

    /// The PEM file of the CA that signed the server's certificate (for `sslmode=require`
    /// with [`crate::PgOptions::ca_file`]).
    pub fn ca_file(&self) -> PathBuf {
        self.sockets
            .parent()
            .unwrap_or(Path::new("/"))
            .join("ca.pem")
    }

    /// A CA made now and a certificate for 127.0.0.1 it signed, as the server's (`ssl=on`:
    /// clients may connect with TLS, `sslmode=require`, or without, as every other test does).
    fn write_tls_files(&self) -> Result<(), String> {
        let err = |e: rcgen::Error| format!("cannot make the test server's certificate: {e}");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Ballotwatch test PostgreSQL CA");
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, key).map_err(err)?;
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .and_then(|p| p.signed_by(&key, &ca))
            .map_err(err)?;
        let files = [
            (self.data.join("server.crt"), cert.pem()),
            (self.data.join("server.key"), key.serialize_pem()),
            (self.ca_file(), ca.pem()),
        ];
        for (path, pem) in files {
            std::fs::write(&path, pem)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            if let Some(uid) = self.run_as {
                std::os::unix::fs::chown(&path, Some(uid), Some(uid))
                    .map_err(|e| format!("cannot hand {} to nobody: {e}", path.display()))?;
            }
        }
        // PostgreSQL refuses a key file others can read.
        let key_file = self.data.join("server.key");
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(|e| format!("cannot restrict {}: {e}", key_file.display()))
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        if let Some(uid) = self.run_as {
            cmd.uid(uid).gid(uid);
        }
        // initdb and postgres look for a writable current folder and HOME in some set-ups.
        cmd.current_dir(self.sockets.parent().unwrap_or(Path::new("/")));
        cmd
    }

    /// Starts `postgres` on the existing data folder and waits until it accepts connections.
    fn spawn(&self) -> Result<(), String> {
        let log = std::fs::File::create(self.log_path())
            .map_err(|e| format!("cannot create the PostgreSQL log: {e}"))?;
        if let Some(uid) = self.run_as {
            let _ = std::os::unix::fs::chown(self.log_path(), Some(uid), Some(uid));
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.sockets)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
                "-c",
                "ssl=on",
            ])
            .args(if self.durable {
                &[][..]
            } else {
                &["-c", "fsync=off", "-c", "full_page_writes=off"][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.join("postgres").display()))?;
        *self.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        let started = Instant::now();
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > START_TIMEOUT => {
                    return Err(format!(
                    "PostgreSQL did not accept connections within {START_TIMEOUT:?}: {e}; log: {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.sockets.with_file_name("postgres.log")
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection string for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={PG_USER} dbname={db} connect_timeout=5",
            self.port
        )
    }

    /// Creates a fresh database with a unique name and returns its connection string.
    pub fn create_database(&self, prefix: &str) -> Result<String, String> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let clean: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("t{}_{clean}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("cannot connect to the test PostgreSQL: {e}"))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        Ok(self.url(&name))
    }

    /// Stops the server: `fast` shuts down cleanly (SIGINT), otherwise it is killed like a
    /// crash (SIGQUIT: no checkpoint; the next start recovers from the WAL).
    pub fn stop(&self, fast: bool) {
        let child = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                let sig = if fast { libc::SIGINT } else { libc::SIGQUIT };
                // SAFETY: kill only sends a signal to our own child process.
                unsafe { libc::kill(pid, sig) };
            }
            let _ = child.wait();
        }
    }

    /// Restarts the server on the same port and data (`fast` as for [`PgServer::stop`]),
    /// waiting `down` in between.
    pub fn restart(&self, fast: bool, down: Duration) -> Result<(), String> {
        self.stop(fast);
        std::thread::sleep(down);
        self.spawn()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop(true);
    }
}

/// The test binary's shared server, and the lock that keeps restarts away from other tests.
pub struct SharedPg {
    server: PgServer,
    lock: RwLock<()>,
}

/// A database on the shared server, with the shared lock held while it is alive.
pub struct PgDatabase<'a> {
    /// Its connection string.
    pub url: String,
    _guard: RwLockReadGuard<'a, ()>,
}

impl SharedPg {
    /// The PEM file of the CA that signed the server's certificate ([`PgServer::ca_file`]).
    pub fn ca_file(&self) -> PathBuf {
        self.server.ca_file()
    }

    /// A fresh database for one test; the shared lock is held until it is dropped.
    pub fn database(&self, name: &str) -> Result<PgDatabase<'_>, String> {
        let guard = self.lock.read().unwrap_or_else(PoisonError::into_inner);
        Ok(PgDatabase {
            url: self.server.create_database(name)?,
            _guard: guard,
        })
    }

    /// The server itself, with every other test's databases out of the way until the guard is
    /// dropped: for tests that stop or restart it.
    pub fn exclusive(&self) -> (&PgServer, RwLockWriteGuard<'_, ()>) {
        let guard = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        (&self.server, guard)
    }
}

static SHARED: OnceLock<Result<SharedPg, String>> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(shared)) = SHARED.get() {
        shared.server.stop(true);
        let _ = std::fs::remove_dir_all(shared.server._dir.path());
    }
}

/// The test binary's one server, started on first use and stopped when the process exits.
pub fn shared() -> Result<&'static SharedPg, String> {
    SHARED
        .get_or_init(|| {
            let server = PgServer::start()?;
            // SAFETY: registers a plain function with no arguments to run at exit.
            unsafe { libc::atexit(stop_shared_at_exit) };
            Ok(SharedPg {
                server,
                lock: RwLock::new(()),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}
