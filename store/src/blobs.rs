//! The content-addressed capture store: `data_dir/captures/ab/cd/<sha256hex>` holds the exact
//! bytes whose SHA-256 is the file name.
//!
//! Blobs are written to `captures/tmp/`, fsynced, renamed into place (atomic on one file system)
//! and the folder is fsynced, so a blob is either absent or complete. A blob is never modified
//! once written; writing the same bytes again is a no-op.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ballotwatch_core::sha256_hex;

use crate::error::{Result, StoreError};
use crate::Store;

/// Temp files older than this in `captures/tmp/` are left over from a crash and removed on open.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Name of the folder under `captures/` that [`Store::blob_path`] uses for names that are not a
/// SHA-256: it is not two hex digits, so it can never hold a real blob.
const INVALID_DIR: &str = "invalid";

/// The normalised (lowercase) SHA-256 hex if `s` is exactly 64 hex digits.
pub(crate) fn normalise_sha(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// `captures/ab/cd/<sha>` for a valid, lowercase sha.
fn sharded(captures: &Path, sha: &str) -> PathBuf {
    captures.join(&sha[0..2]).join(&sha[2..4]).join(sha)
}

/// The path for `sha256` under the capture folder `captures`; see [`Store::blob_path`].
fn blob_path_in(captures: &Path, sha256: &str) -> PathBuf {
    match normalise_sha(sha256) {
        Some(sha) => sharded(captures, &sha),
        None => captures
            .join(INVALID_DIR)
            .join(sha256_hex(sha256.as_bytes())),
    }
}

/// Fsyncs a folder so a rename or new entry in it survives power loss.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("sync folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes temp files left in `tmp` by a crash. Young files may belong to another process that
/// is writing right now, so only files older than [`STALE_TMP`] go. Failures are logged, not
/// fatal: a leftover temp file wastes space but harms nothing.
pub(crate) fn clean_tmp(tmp: &Path) {
    let entries = match fs::read_dir(tmp) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot list capture temp folder");
            return;
        }
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TMP);
        if stale && path.is_file() {
            match fs::remove_file(&path) {
                Ok(()) => tracing::info!(file = %path.display(), "removed stale capture temp file"),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove stale capture temp file")
                }
            }
        }
    }
}

impl Store {
    /// Stores `bytes` in the capture store and returns their SHA-256 (lowercase hex).
    ///
    /// The blob is written to a temp file, fsynced and renamed into place, then its folder is
    /// fsynced: once this returns, the bytes survive a crash. Writing bytes that are already
    /// stored is a no-op. Safe to call from several threads and processes at once.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let sha = sha256_hex(bytes);
        let captures = &self.inner.captures_dir;
        let path = sharded(captures, &sha);
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == len => return Ok(sha),
            Ok(m) => {
                // A file of the wrong size under a content name was damaged (not by us: we only
                // rename complete files into place). Replace it with the true content.
                tracing::warn!(file = %path.display(), found = m.len(), expected = len,
                    "capture blob has the wrong size; rewriting it");
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("inspect capture blob", &path, e)),
        }
        let shard = path.parent().unwrap_or(captures);
        let top = shard.parent().unwrap_or(captures);
        let new_top = !top.exists();
        let new_shard = !shard.exists();
        fs::create_dir_all(shard).map_err(|e| StoreError::io("create folder", shard, e))?;

        let tmp_dir = captures.join("tmp");
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| StoreError::io("create temp file in", &tmp_dir, e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| StoreError::io("write capture temp file", tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io("move capture blob into place at", &path, e.error))?;
        sync_dir(shard)?;
        if new_shard {
            sync_dir(top)?;
        }
        if new_top {
            sync_dir(captures)?;
        }
        tracing::debug!(sha256 = %sha, size = bytes.len(), "stored capture blob");
        Ok(sha)
    }

    /// Where the blob with this SHA-256 lives (whether or not it exists).
    ///
    /// Upper-case hex is accepted. Anything that is not 64 hex digits maps to a path inside
    /// `captures/invalid/` named by a hash of the input, so the result never escapes the capture
    /// folder and never names a real blob.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        blob_path_in(&self.inner.captures_dir, sha256)
    }

    /// Reads a blob and checks that its bytes hash to its name.
    ///
    /// Errors: [`StoreError::InvalidInput`] for a malformed SHA-256,
    /// [`StoreError::BlobNotFound`] when it does not exist, [`StoreError::Integrity`] when its
    /// content does not match its name.
    pub fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        let sha = normalise_sha(sha256).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "`{}` is not a SHA-256 (64 hex digits)",
                sha256.escape_debug()
            ))
        })?;
        let path = sharded(&self.inner.captures_dir, &sha);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(StoreError::BlobNotFound { sha256: sha, path })
            }
            Err(e) => return Err(StoreError::io("read capture blob", &path, e)),
        };
        let actual = sha256_hex(&bytes);
        if actual != sha {
            tracing::error!(file = %path.display(), expected = %sha, %actual, "capture blob failed its integrity check");
            return Err(StoreError::Integrity {
                sha256: sha,
                path,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Size of a stored blob, or an error if it is missing. Used to check captures before they
    /// are recorded.
    pub(crate) fn blob_len(&self, sha: &str) -> Result<u64> {
        let path = sharded(&self.inner.captures_dir, sha);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(m.len()),
            Ok(_) => Err(StoreError::BlobNotFound {
                sha256: sha.to_string(),
                path,
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StoreError::BlobNotFound {
                sha256: sha.to_string(),
                path,
            }),
            Err(e) => Err(StoreError::io("inspect capture blob", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn blobs_are_content_addressed_and_round_trip() {
        let (dir, store) = store();
        let sha = store.put_blob(b"<rss>hello</rss>").unwrap();
        assert_eq!(sha, sha256_hex(b"<rss>hello</rss>"));
        let path = store.blob_path(&sha);
        assert_eq!(
            path,
            dir.path()
                .join("captures")
                .join(&sha[..2])
                .join(&sha[2..4])
                .join(&sha)
        );
        assert_eq!(fs::read(&path).unwrap(), b"<rss>hello</rss>");
        assert_eq!(store.read_blob(&sha).unwrap(), b"<rss>hello</rss>");
        // Upper-case names find the same blob.
        assert_eq!(
            store.read_blob(&sha.to_ascii_uppercase()).unwrap(),
            b"<rss>hello</rss>"
        );
        // Empty bodies are blobs too.
        let empty = store.put_blob(b"").unwrap();
        assert_eq!(store.read_blob(&empty).unwrap(), b"");
    }

    #[test]
    fn writing_the_same_bytes_twice_is_a_no_op() {
        let (dir, store) = store();
        let a = store.put_blob(b"same").unwrap();
        let path = store.blob_path(&a);
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        let b = store.put_blob(b"same").unwrap();
        assert_eq!(a, b);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
        // Nothing is left behind in tmp.
        let tmp: Vec<_> = fs::read_dir(dir.path().join("captures/tmp"))
            .unwrap()
            .collect();
        assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    }

    #[test]
    fn a_corrupted_blob_is_an_integrity_error_naming_sha_and_path() {
        let (_dir, store) = store();
        let sha = store.put_blob(b"original evidence").unwrap();
        let path = store.blob_path(&sha);
        fs::write(&path, b"tampered evidence").unwrap();
        let err = store.read_blob(&sha).unwrap_err();
        match &err {
            StoreError::Integrity {
                sha256,
                path: p,
                actual,
            } => {
                assert_eq!(sha256, &sha);
                assert_eq!(p, &path);
                assert_eq!(actual, &sha256_hex(b"tampered evidence"));
            }
            other => panic!("expected Integrity, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&sha) && msg.contains(&path.display().to_string()));
    }

    #[test]
    fn a_wrong_sized_blob_is_repaired_by_putting_it_again() {
        let (_dir, store) = store();
        let sha = store.put_blob(b"full body").unwrap();
        fs::write(store.blob_path(&sha), b"full").unwrap();
        assert!(matches!(
            store.read_blob(&sha),
            Err(StoreError::Integrity { .. })
        ));
        store.put_blob(b"full body").unwrap();
        assert_eq!(store.read_blob(&sha).unwrap(), b"full body");
    }

    #[test]
    fn missing_and_malformed_names_are_reported() {
        let (_dir, store) = store();
        let absent = sha256_hex(b"never stored");
        match store.read_blob(&absent) {
            Err(StoreError::BlobNotFound { sha256, path }) => {
                assert_eq!(sha256, absent);
                assert_eq!(path, store.blob_path(&absent));
            }
            other => panic!("expected BlobNotFound, got {other:?}"),
        }
        for bad in [
            "",
            "abc",
            "../../etc/passwd",
            &"g".repeat(64),
            &"a".repeat(65),
        ] {
            match store.read_blob(bad) {
                Err(StoreError::InvalidInput(msg)) => assert!(msg.contains("SHA-256"), "{msg}"),
                other => panic!("expected InvalidInput for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn stale_temp_files_are_removed_on_open_but_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let tmp = dir.path().join("captures/tmp");
        let old = tmp.join(".tmpOLD");
        let fresh = tmp.join(".tmpNEW");
        fs::write(&old, b"partial").unwrap();
        fs::write(&fresh, b"in flight").unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        drop(Store::open(dir.path()).unwrap());
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn concurrent_puts_of_the_same_bytes_agree() {
        let (_dir, store) = store();
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = store.clone();
                let b = body.clone();
                std::thread::spawn(move || s.put_blob(&b).unwrap())
            })
            .collect();
        let shas: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(shas.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(store.read_blob(&shas[0]).unwrap(), body);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn blob_path_never_escapes_the_capture_folder(name in ".{0,80}") {
            let captures = Path::new("/data/captures");
            let p = blob_path_in(captures, &name);
            prop_assert!(p.starts_with(captures));
            let rest = p.strip_prefix(captures).unwrap();
            prop_assert!(rest.components().all(|c| matches!(c, Component::Normal(_))));
            if normalise_sha(&name).is_some() {
                prop_assert_eq!(rest.components().count(), 3);
            } else {
                prop_assert_eq!(rest.components().count(), 2);
                prop_assert!(rest.starts_with(INVALID_DIR));
            }
        }

        #[test]
        fn valid_names_map_to_their_shard(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let sha = sha256_hex(&bytes);
            let captures = Path::new("/data/captures");
            let p = blob_path_in(captures, &sha);
            prop_assert_eq!(&p, &captures.join(&sha[..2]).join(&sha[2..4]).join(&sha));
            prop_assert_eq!(blob_path_in(captures, &sha.to_ascii_uppercase()), p);
        }
    }
}
