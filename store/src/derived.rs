//! Derived blobs: a convenience copy made from a stored blob (a screenshot's report thumbnail),
//! stored content-addressed like any blob, with a link from the blob it was made from:
//! `captures/derived/<kind>/ab/cd/<source sha256>` holds the derived blob's SHA-256 (64 hex
//! digits). The link is written atomically after the derived blob, so a reader finds either no
//! link or a link to a complete blob, whose bytes [`Store::read_blob`] checks against its name.
//!
//! A derived blob is never evidence: it can be made again from its source at any time, and is
//! only kept so it is not made again for every export.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use crate::blobs::normalise_sha;
use crate::error::{Result, StoreError};
use crate::Store;

/// A kind is lowercase letters, digits and `-`, 1 to 40 of them (it names a folder).
fn valid_kind(kind: &str) -> bool {
    (1..=40).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a derived blob's `kind` and `source` (on either back end); returns the source's
/// SHA-256, normalised.
pub(crate) fn check_derived(kind: &str, source: &str) -> Result<String> {
    if !valid_kind(kind) {
        return Err(StoreError::InvalidInput(format!(
            "`{}` is not a derived-blob kind (lowercase letters, digits and `-`)",
            kind.escape_debug()
        )));
    }
    normalise_sha(source).ok_or_else(|| {
        StoreError::InvalidInput(format!(
            "`{}` is not a SHA-256 (64 hex digits)",
            source.escape_debug()
        ))
    })
}

impl Store {
    /// The link file for `kind` of `source`, after checking both.
    fn derived_link(&self, kind: &str, source: &str) -> Result<PathBuf> {
        let sha = check_derived(kind, source)?;
        Ok(self
            .inner
            .captures_dir
            .join("derived")
            .join(kind)
            .join(&sha[0..2])
            .join(&sha[2..4])
            .join(sha))
    }

    /// Stores `bytes` as the `kind` made from the blob `source` and returns their SHA-256.
    /// Storing it again replaces the link (the newest copy wins; both are equivalent).
    pub fn put_derived(&self, kind: &str, source: &str, bytes: &[u8]) -> Result<String> {
        let link = self.derived_link(kind, source)?;
        let sha = self.put_blob(bytes)?;
        let dir = link.parent().unwrap_or(&self.inner.captures_dir);
        fs::create_dir_all(dir).map_err(|e| StoreError::io("create folder", dir, e))?;
        let tmp_dir = self.inner.captures_dir.join("tmp");
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| StoreError::io("create temp file in", &tmp_dir, e))?;
        tmp.write_all(sha.as_bytes())
            .map_err(|e| StoreError::io("write derived-blob link", tmp.path(), e))?;
        tmp.persist(&link)
            .map_err(|e| StoreError::io("move derived-blob link into place at", &link, e.error))?;
        Ok(sha)
    }

    /// The `kind` made from the blob `source`, if one was stored. A link to a missing or
    /// damaged blob is an error (a damaged link is reported as not found, so the caller makes
    /// the copy again).
    pub fn read_derived(&self, kind: &str, source: &str) -> Result<Option<Vec<u8>>> {
        let link = self.derived_link(kind, source)?;
        let target = match fs::read(&link) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read derived-blob link", &link, e)),
        };
        let Some(sha) = std::str::from_utf8(&target).ok().and_then(normalise_sha) else {
            tracing::warn!(file = %link.display(), "derived-blob link is damaged; ignored");
            return Ok(None);
        };
        self.read_blob(&sha).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_blob_is_found_from_its_source_and_checked() {
        let (_dir, store) = crate::testutil::store();
        let source = store.put_blob(b"screenshot").unwrap();
        assert_eq!(store.read_derived("thumb-480", &source).unwrap(), None);
        let sha = store.put_derived("thumb-480", &source, b"small").unwrap();
        assert_eq!(sha, ballotwatch_core::sha256_hex(b"small"));
        assert_eq!(
            store.read_derived("thumb-480", &source).unwrap().as_deref(),
            Some(&b"small"[..])
        );
        assert_eq!(store.read_derived("thumb-320", &source).unwrap(), None);
        // A damaged derived blob fails its integrity check; bad names are refused.
        fs::write(store.blob_path(&sha), b"smaLL").unwrap();
        assert!(matches!(
            store.read_derived("thumb-480", &source),
            Err(StoreError::Integrity { .. })
        ));
        assert!(store.put_derived("../x", &source, b"x").is_err());
        assert!(store.read_derived("thumb-480", "../../etc").is_err());
    }
}
