//! Free space in `data_dir`, and the in-process "ingest paused" flag the pipeline sets while the
//! disk is (nearly) full and the web UI and `/readyz` report.
//!
//! Ingest stops writing before the disk is full (`[limits] min_free_disk`) so that nothing
//! committed is put at risk and SQLite always has room for its journal; it resumes by itself when
//! space returns. SQLite's own "database or disk is full" and the OS's "no space left on device"
//! are recognised too ([`StoreError::is_disk_full`]).

use std::sync::PoisonError;

use crate::error::{Result, StoreError};
use crate::Store;

/// "1.5 GiB", "300 MiB", "12 KiB", "512 bytes".
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

impl Store {
    /// Bytes available to this process on `data_dir`'s file system (statvfs).
    pub fn available_space(&self) -> Result<u64> {
        fs4::available_space(&self.inner.data_dir)
            .map_err(|e| StoreError::io("measure the free space of", &self.inner.data_dir, e))
    }

    /// `None` when `data_dir` has at least `min_free` bytes available; otherwise what is wrong
    /// and what to do, naming the folder, the free space and the setting.
    pub fn low_disk(&self, min_free: u64) -> Result<Option<String>> {
        let available = self.available_space()?;
        Ok((available < min_free).then(|| {
            format!(
                "data_dir {} has {} free, less than [limits] min_free_disk ({}); free some space \
                 (ingest resumes by itself) — nothing stored so far is affected",
                self.inner.data_dir.display(),
                human(available),
                human(min_free)
            )
        }))
    }

    /// Sets (or with `None` clears) why ingest is paused in this process; returns true when
    /// that changed whether it is paused.
    pub fn set_ingest_paused(&self, reason: Option<String>) -> bool {
        let mut paused = self
            .inner
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let changed = paused.is_some() != reason.is_some();
        *paused = reason;
        changed
    }

    /// Why ingest is paused in this process, if it is.
    pub fn ingest_paused(&self) -> Option<String> {
        self.inner
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl StoreError {
    /// True when the error is the disk being full: SQLite's `SQLITE_FULL`, or the OS's "no
    /// space left on device" (or a quota) on a capture blob.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull)
            ),
            StoreError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.kind() == std::io::ErrorKind::QuotaExceeded
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn low_disk_names_the_folder_the_space_and_the_setting() {
        let (dir, store) = store();
        let available = store.available_space().unwrap();
        assert!(available > 0);
        assert_eq!(store.low_disk(0).unwrap(), None);
        let reason = store
            .low_disk(available.saturating_mul(4).max(1 << 40))
            .unwrap()
            .unwrap();
        assert!(
            reason.contains(&dir.path().display().to_string()),
            "{reason}"
        );
        assert!(reason.contains("[limits] min_free_disk"), "{reason}");
        assert!(reason.contains("resumes by itself"), "{reason}");
    }

    #[test]
    fn the_pause_flag_is_shared_by_clones_and_reports_changes() {
        let (_dir, store) = store();
        let other = store.clone();
        assert!(store.set_ingest_paused(Some("full".into())));
        assert!(!store.set_ingest_paused(Some("still full".into())));
        assert_eq!(other.ingest_paused().as_deref(), Some("still full"));
        assert!(other.set_ingest_paused(None));
        assert_eq!(store.ingest_paused(), None);
    }

    #[test]
    fn disk_full_errors_are_recognised() {
        let full = StoreError::Sqlite {
            context: "x".into(),
            db: "d".into(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            ),
        };
        assert!(full.is_disk_full());
        let enospc = StoreError::io(
            "write",
            std::path::Path::new("/x"),
            std::io::Error::from_raw_os_error(28),
        );
        assert!(enospc.is_disk_full());
        let other = StoreError::io(
            "write",
            std::path::Path::new("/x"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(!other.is_disk_full());
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }
}
