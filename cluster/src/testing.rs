//! A real `nats-server` for tests (feature `testing`): JetStream on a free loopback port with a
//! temporary store directory, stopped when dropped. [`NatsServer::shared`] gives one server per
//! test binary (tests keep apart by each using its own `[cluster] prefix`); a test that stops
//! and restarts the server starts its own with [`NatsServer::start`].
//!
//! A watchdog shell stops the server if the test process ends without dropping it (a shared
//! server lives in a static, which is never dropped).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ClusterConfig;

/// Why the test server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `nats-server` is not installed.
    #[error("nats-server not found on PATH or in /usr/sbin (apt-get install nats-server): {0}")]
    NotInstalled(std::io::Error),
    /// It started but did not listen in time.
    #[error("nats-server on {0} did not accept connections within 10s")]
    NotReady(SocketAddr),
    /// Temporary files or ports.
    #[error("test harness: {0}")]
    Io(#[from] std::io::Error),
}

/// A running `nats-server -js`.
#[derive(Debug)]
pub struct NatsServer {
    addr: SocketAddr,
    store: TempDir,
    child: Option<Child>,
    watchdog: Option<Child>,
}

fn binary() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("nats-server")
    }
}

impl NatsServer {
    /// Starts a server of its own on a free loopback port.
    pub fn start() -> Result<NatsServer, HarnessError> {
        let port = ballotwatch_core::net::free_loopback_port()?;
        let mut server = NatsServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            store: tempfile::Builder::new().prefix("bw-nats-").tempdir()?,
            child: None,
            watchdog: None,
        };
        server.start_again()?;
        Ok(server)
    }

    /// The server shared by every test of this test binary.
    pub fn shared() -> Result<&'static NatsServer, String> {
        static SHARED: OnceLock<Result<NatsServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| NatsServer::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// A `[cluster]` for this server with its own `prefix`, so tests sharing a server do not
    /// see each other's streams.
    pub fn config(&self, prefix: &str, node: &str) -> ClusterConfig {
        let mut c = ClusterConfig::new(self.url());
        c.prefix = prefix.to_string();
        c.node_name = Some(node.to_string());
        c
    }

    /// Stops the server the way an operator does (SIGTERM: it flushes its store and exits);
    /// the store directory is kept.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Kills the server as a crash would (SIGKILL): what it had not yet written to its store is
    /// lost, e.g. the last acknowledgements (JetStream is at-least-once, so they come back).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    /// Starts the server again on the same port and store directory.
    pub fn start_again(&mut self) -> Result<(), HarnessError> {
        self.kill();
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.addr.port().to_string())
            .arg("-js")
            .arg("-sd")
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(HarnessError::NotInstalled)?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {} 2>/dev/null && kill -0 {} 2>/dev/null; do sleep 1; done; kill {} 2>/dev/null",
                std::process::id(),
                child.id(),
                child.id()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        self.child = Some(child);
        self.watchdog = watchdog;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(HarnessError::NotReady(self.addr))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
