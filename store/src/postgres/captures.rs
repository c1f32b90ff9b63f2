//! Capture records in PostgreSQL: one row per HTTP exchange, the bytes in `blobs`.

use ballotwatch_core::Capture;
use postgres::{GenericClient, Row};

use super::{col, ms, PgStore};
use crate::captures::check_capture_with;
use crate::error::{JsonContext, PgContext, Result, StoreError};

/// Reads `id, source, url, final_url, status, headers, sha256, size, started_at, finished_at`.
const COLUMNS: &str =
    "id, source, url, final_url, status, headers, sha256, size, started_at, finished_at";

fn capture_row(r: &Row) -> Result<(i64, String, Capture)> {
    let id: i64 = col(r, 0)?;
    let what = |c: &str| format!("captures.{c} of capture {id}");
    let status: i32 = col(r, 4)?;
    let headers: String = col(r, 5)?;
    let size: i64 = col(r, 7)?;
    Ok((
        id,
        col(r, 1)?,
        Capture {
            url: col(r, 2)?,
            final_url: col(r, 3)?,
            status: u16::try_from(status).map_err(|_| {
                StoreError::corrupt(what("status"), format!("{status} is not an HTTP status"))
            })?,
            headers: serde_json::from_str(&headers)
                .json_ctx(|| format!("reading {}", what("headers")))?,
            sha256: col(r, 6)?,
            size: u64::try_from(size)
                .map_err(|_| StoreError::corrupt(what("size"), format!("{size} is negative")))?,
            started_at: col(r, 8)?,
            finished_at: col(r, 9)?,
        },
    ))
}

/// Inserts a capture row, or finds the row of the same fetch recorded earlier, inside the
/// caller's transaction. Returns the row id and whether it was inserted now.
pub(crate) fn insert_capture(
    c_: &mut impl GenericClient,
    source: &str,
    c: &Capture,
) -> Result<(i64, bool)> {
    let headers = serde_json::to_string(&c.headers)
        .json_ctx(|| format!("serializing the headers of the capture of {}", c.url))?;
    let sha = c.sha256.to_ascii_lowercase();
    let size = i64::try_from(c.size).map_err(|_| {
        StoreError::InvalidInput(format!(
            "capture of {} is {} bytes: too large",
            c.url, c.size
        ))
    })?;
    let started = ms(c.started_at);
    let what = || format!("recording the capture of {} for source `{source}`", c.url);
    let inserted = c_
        .query_opt(
            // Only when absent, so a replayed fetch takes no id (see `outbox::insert_outbox`).
            "INSERT INTO captures(source, url, final_url, status, headers, sha256, size,
                 started_at, finished_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
             WHERE NOT EXISTS (SELECT 1 FROM captures WHERE source = $1 AND url = $2
                               AND started_at = $8 AND sha256 = $6)
             ON CONFLICT (source, url, started_at, sha256) DO NOTHING
             RETURNING id",
            &[
                &source,
                &c.url,
                &c.final_url,
                &i32::from(c.status),
                &headers,
                &sha,
                &size,
                &started,
                &ms(c.finished_at),
            ],
        )
        .pg_with(what)?;
    if let Some(r) = inserted {
        return Ok((col(&r, 0)?, true));
    }
    let r = c_
        .query_one(
            "SELECT id FROM captures
             WHERE source = $1 AND url = $2 AND started_at = $3 AND sha256 = $4",
            &[&source, &c.url, &started, &sha],
        )
        .pg_with(what)?;
    Ok((col(&r, 0)?, false))
}

impl PgStore {
    /// Records one capture outside a poll and returns its row id; recording the same fetch
    /// again returns the existing row (see [`crate::Store::record_capture`]).
    pub fn record_capture(&self, source: &str, new: crate::NewCapture) -> Result<i64> {
        self.check_capture(source, &new.capture)?;
        self.with_client("recording a capture", |c| {
            let mut tx = c
                .transaction()
                .pg_with(|| format!("starting to record a capture of {}", new.capture.url))?;
            let (id, _) = insert_capture(&mut tx, source, &new.capture)?;
            tx.commit()
                .pg_with(|| format!("committing the capture of {}", new.capture.url))?;
            Ok(id)
        })
    }

    /// A capture record by row id: `(id, source name, capture)`.
    pub fn get_capture(&self, id: i64) -> Result<Option<(i64, String, Capture)>> {
        self.with_client("reading a capture", |c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM captures WHERE id = $1"),
                &[&id],
            )
            .pg_with(|| format!("reading capture {id}"))?
            .map(|r| capture_row(&r))
            .transpose()
        })
    }

    /// The id of the first recorded capture of `url` whose body has SHA-256 `sha256` (see
    /// [`crate::Store::media_capture_id`]).
    pub fn media_capture_id(&self, url: &str, sha256: &str) -> Result<Option<i64>> {
        let sha = sha256.to_ascii_lowercase();
        self.with_client("finding a medium's capture", |c| {
            c.query_opt(
                "SELECT id FROM captures WHERE sha256 = $1 AND url = $2 ORDER BY id LIMIT 1",
                &[&sha, &url],
            )
            .pg_with(|| format!("finding the capture of medium {url}"))?
            .map(|r| col(&r, 0))
            .transpose()
        })
    }

    /// Checks a capture before it is recorded: valid SHA-256, blob stored, sizes agree.
    pub(crate) fn check_capture(&self, source: &str, c: &Capture) -> Result<()> {
        check_capture_with(source, c, |sha| self.blob_len(sha))
    }
}
