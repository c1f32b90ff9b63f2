//! What the tests of this binary share: a test server (or a command's result) started on first
//! use and kept for the rest of the process, then stopped when the process exits — the way
//! the shared PostgreSQL of `ballotwatch_store::testing::shared` is. Each test keeps to its own
//! part of a shared server (its own mailbox, user or copy), so tests stay independent and run
//! in parallel.

use std::sync::{Mutex, OnceLock, PoisonError};

/// What to do when the process exits, in the order registered.
static AT_EXIT: Mutex<Vec<Box<dyn FnOnce() + Send>>> = Mutex::new(Vec::new());

extern "C" fn run_at_exit() {
    let jobs = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner));
    for job in jobs {
        job();
    }
}

/// Runs `job` when the test process exits (a shared server lives in a static, which is never
/// dropped).
pub fn at_exit(job: impl FnOnce() + Send + 'static) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain function with no arguments to run at exit.
        unsafe { libc::atexit(run_at_exit) };
    });
    AT_EXIT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Box::new(job));
}

/// The value in `cell`, made by `start` on first use (other tests wait for it); `stop` runs
/// on it when the process exits.
pub fn once<T: Send + Sync + 'static>(
    cell: &'static OnceLock<T>,
    start: impl FnOnce() -> T,
    stop: fn(&T),
) -> &'static T {
    cell.get_or_init(|| {
        let value = start();
        at_exit(move || {
            if let Some(v) = cell.get() {
                stop(v);
            }
        });
        value
    })
}

/// Kills process `pid` (`-KILL`), or its whole process group when `group`.
pub fn kill(pid: u32, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &target])
        .stderr(std::process::Stdio::null())
        .status();
}
