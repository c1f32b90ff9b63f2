//! Disk full: ingest pauses while `data_dir` has less than `[limits] min_free_disk` available
//! (statvfs) or the store reports the disk full (SQLite's `SQLITE_FULL`, the OS's ENOSPC), and
//! resumes by itself when space returns. Nothing committed is touched: a write that fails for
//! lack of space is a rolled-back transaction (or a blob left in `captures/tmp/`, removed at the
//! next start). The reason is kept on the store, where the Sources page and `/readyz` read it.

use std::time::Duration;

use super::{Pipeline, PipelineError, Result};

/// How often a paused stage looks at the free space again.
pub(crate) const RECHECK: Duration = Duration::from_secs(2);

impl Pipeline {
    /// Measures the free space of `data_dir`, pausing or resuming ingest; the reason while
    /// paused.
    pub(crate) async fn disk_gate(&self) -> Result<Option<String>> {
        let min = self.config.limits.min_free_disk.as_u64();
        let reason = self.blocking(move |s| Ok(s.low_disk(min)?)).await?;
        self.set_paused(reason.clone());
        Ok(reason)
    }

    /// Records (and logs, when it changes) whether ingest is paused and why.
    fn set_paused(&self, reason: Option<String>) {
        let paused = reason.is_some();
        let shown = reason.clone();
        if self.store.set_ingest_paused(reason) {
            match shown {
                Some(r) if paused => tracing::error!(reason = %r, "ingest paused"),
                _ => tracing::info!("free space is back in data_dir; ingest resumed"),
            }
        }
    }

    /// When `e` is the disk being full, pauses ingest (until [`Pipeline::disk_gate`] finds
    /// space again) and returns true.
    pub(crate) fn note_disk_full(&self, e: &PipelineError) -> bool {
        if !e.is_disk_full() {
            return false;
        }
        self.set_paused(Some(format!(
            "the disk of data_dir {} is full ({full}); free some space (ingest resumes by \
             itself) — nothing stored so far is affected",
            self.store.data_dir().display(),
            full = crate::full_message(e)
        )));
        true
    }
}
