//! Capture records: one row per HTTP exchange (URL, final URL, status, headers, when, and the
//! SHA-256 naming its exact bytes in the capture store, see `blobs`). Polls record theirs with
//! their items (`sources`); media downloads and other evidence fetches one at a time.

use ballotwatch_core::Capture;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::blobs::normalise_sha;
use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::row::{col, query_opt, FromRow};
use crate::{parse_ts, ts, Store};

/// A capture plus where its bytes are, ready to be recorded.
///
/// The blob must already be stored with [`Store::put_blob`]; [`Store::record_capture`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCapture {
    /// The capture record; its `sha256` names the stored blob.
    pub capture: Capture,
}

/// A stored capture row: its id, the source that fetched it, and the capture.
struct CaptureRow {
    id: i64,
    source: String,
    capture: Capture,
}

impl CaptureRow {
    const COLUMNS: &'static str =
        "id, source, url, final_url, status, headers, sha256, size, started_at, finished_at";
}

impl FromRow for CaptureRow {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let what = |c: &str| format!("captures.{c} of capture {id}");
        let status: i64 = col(r, 4)?;
        let headers: String = col(r, 5)?;
        let size: i64 = col(r, 7)?;
        let started: String = col(r, 8)?;
        let finished: String = col(r, 9)?;
        Ok(CaptureRow {
            id,
            source: col(r, 1)?,
            capture: Capture {
                url: col(r, 2)?,
                final_url: col(r, 3)?,
                status: u16::try_from(status).map_err(|_| {
                    StoreError::corrupt(what("status"), format!("{status} is not an HTTP status"))
                })?,
                headers: serde_json::from_str(&headers)
                    .json_ctx(|| format!("reading {}", what("headers")))?,
                sha256: col(r, 6)?,
                size: u64::try_from(size).map_err(|_| {
                    StoreError::corrupt(what("size"), format!("{size} is negative"))
                })?,
                started_at: parse_ts(&started, || what("started_at"))?,
                finished_at: parse_ts(&finished, || what("finished_at"))?,
            },
        })
    }
}

/// Inserts a capture row, or finds the row of the same fetch recorded earlier.
/// Returns the row id and whether it was inserted now.
pub(crate) fn insert_capture(conn: &Connection, source: &str, c: &Capture) -> Result<(i64, bool)> {
    let headers = serde_json::to_string(&c.headers)
        .json_ctx(|| format!("serializing the headers of the capture of {}", c.url))?;
    let sha = c.sha256.to_ascii_lowercase();
    let size = i64::try_from(c.size).map_err(|_| {
        StoreError::InvalidInput(format!(
            "capture of {} is {} bytes: too large",
            c.url, c.size
        ))
    })?;
    let started = ts(&c.started_at);
    let what = || format!("recording the capture of {} for source `{source}`", c.url);
    let inserted: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO captures(source, url, final_url, status, headers, sha256, size,
                 started_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(source, url, started_at, sha256) DO NOTHING
             RETURNING id",
        )
        .and_then(|mut st| {
            st.query_row(
                params![
                    source,
                    c.url,
                    c.final_url,
                    c.status,
                    headers,
                    sha,
                    size,
                    started,
                    ts(&c.finished_at)
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .with_ctx(what)?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id = conn
        .prepare_cached(
            "SELECT id FROM captures
             WHERE source = ?1 AND url = ?2 AND started_at = ?3 AND sha256 = ?4",
        )
        .and_then(|mut st| st.query_row(params![source, c.url, started, sha], |r| r.get(0)))
        .with_ctx(what)?;
    Ok((id, false))
}

impl Store {
    /// Records one capture outside a poll (e.g. a media file fetched as evidence) and returns
    /// its row id. Recording the same fetch again (same source, URL, start time and SHA-256)
    /// returns the existing row.
    pub fn record_capture(&self, source: &str, new: NewCapture) -> Result<i64> {
        self.check_capture(source, &new.capture)?;
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to record a capture of {}", new.capture.url))?;
            let (id, _) = insert_capture(&tx, source, &new.capture)?;
            tx.commit()
                .with_ctx(|| format!("committing the capture of {}", new.capture.url))?;
            Ok(id)
        })
    }

    /// A capture record by row id: `(id, source name, capture)`.
    pub fn get_capture(&self, id: i64) -> Result<Option<(i64, String, Capture)>> {
        let row: Option<CaptureRow> = self.with_conn(|conn| {
            query_opt(
                conn,
                &format!("SELECT {} FROM captures WHERE id = ?1", CaptureRow::COLUMNS),
                [id],
                || format!("reading capture {id}"),
            )
        })?;
        Ok(row.map(|c| (c.id, c.source, c.capture)))
    }

    /// How many captures are recorded.
    pub fn count_captures(&self) -> Result<u64> {
        self.count("SELECT count(*) FROM captures", "counting captures")
    }

    /// The id of the first recorded capture of `url` whose body has SHA-256 `sha256` (the
    /// download a medium's stored bytes came from), if one was recorded.
    pub fn media_capture_id(&self, url: &str, sha256: &str) -> Result<Option<i64>> {
        let sha = sha256.to_ascii_lowercase();
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id FROM captures WHERE sha256 = ?1 AND url = ?2 ORDER BY id LIMIT 1",
            )
            .and_then(|mut st| st.query_row([&sha, url], |r| r.get(0)).optional())
            .with_ctx(|| format!("finding the capture of medium {url}"))
        })
    }

    /// Checks a capture before it is recorded: valid SHA-256, blob stored, sizes agree.
    pub(crate) fn check_capture(&self, source: &str, c: &Capture) -> Result<()> {
        check_capture_with(source, c, |sha| self.blob_len(sha))
    }
}

/// Checks a capture before it is recorded, on either back end: valid SHA-256, its blob stored
/// (`blob_len` gives the stored size, or a missing-blob error) and the sizes agree.
pub(crate) fn check_capture_with(
    source: &str,
    c: &Capture,
    blob_len: impl FnOnce(&str) -> Result<u64>,
) -> Result<()> {
    let sha = normalise_sha(&c.sha256).ok_or_else(|| {
        StoreError::InvalidInput(format!(
            "capture of {} for source `{source}` has sha256 `{}`, which is not 64 hex digits",
            c.url,
            c.sha256.escape_debug()
        ))
    })?;
    let len = blob_len(&sha).map_err(|e| {
        if e.is_blob_missing() {
            StoreError::InvalidInput(format!(
                "capture of {} for source `{source}` names blob {sha}, which is not stored ({e}): \
                 store the body with put_blob before recording the capture",
                c.url
            ))
        } else {
            e
        }
    })?;
    if len != c.size {
        return Err(StoreError::InvalidInput(format!(
            "capture of {} for source `{source}` says {} bytes but blob {sha} holds {len}",
            c.url, c.size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::NewCapture;

    #[test]
    fn record_capture_is_idempotent_and_checked() {
        let (_dir, store) = store();
        let cap = capture(&store, "https://echo.example/img.jpg", b"\xff\xd8jpeg", 0);
        let id = store
            .record_capture(
                "Echo",
                NewCapture {
                    capture: cap.clone(),
                },
            )
            .unwrap();
        let again = store
            .record_capture(
                "Echo",
                NewCapture {
                    capture: cap.clone(),
                },
            )
            .unwrap();
        assert_eq!(id, again);
        assert_eq!(store.count_captures().unwrap(), 1);
        let (got_id, source, got) = store.get_capture(id).unwrap().unwrap();
        assert_eq!((got_id, source.as_str(), &got), (id, "Echo", &cap));
        let mut later = cap.clone();
        later.started_at = t(60);
        assert_ne!(
            store
                .record_capture("Echo", NewCapture { capture: later })
                .unwrap(),
            id
        );
        let mut missing = cap;
        missing.sha256 = ballotwatch_core::sha256_hex(b"nope");
        assert!(store
            .record_capture("Echo", NewCapture { capture: missing })
            .is_err());
        assert!(store.get_capture(12345).unwrap().is_none());
    }

    #[test]
    fn damaged_capture_rows_are_reported() {
        let (_dir, store) = store();
        let cap = capture(&store, "https://echo.example/rss", b"<rss/>", 0);
        let id = store
            .record_capture("Echo", NewCapture { capture: cap })
            .unwrap();
        exec(&store, "UPDATE captures SET status = 70000");
        let err = store.get_capture(id).unwrap_err();
        assert!(
            err.to_string().contains("captures.status of capture"),
            "{err}"
        );
    }

    #[test]
    fn finds_the_first_download_of_a_medium() {
        let (_dir, store) = store();
        let body = b"\x89PNG\r\n\x1a\n not really".to_vec();
        let url = "https://cdn.example/a.png";
        let first = capture(&store, url, &body, 0);
        let sha = first.sha256.clone();
        let id = store
            .record_capture("Echo", NewCapture { capture: first })
            .unwrap();
        let later = capture(&store, url, &body, 60);
        store
            .record_capture("Echo", NewCapture { capture: later })
            .unwrap();
        assert_eq!(store.media_capture_id(url, &sha).unwrap(), Some(id));
        assert_eq!(
            store
                .media_capture_id(url, &sha.to_ascii_uppercase())
                .unwrap(),
            Some(id)
        );
        assert_eq!(
            store
                .media_capture_id("https://cdn.example/b.png", &sha)
                .unwrap(),
            None
        );
        assert_eq!(store.media_capture_id(url, &"0".repeat(64)).unwrap(), None);
    }
}
