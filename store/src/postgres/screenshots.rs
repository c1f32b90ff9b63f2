//! Screenshots in PostgreSQL: the same records as the SQLite store's (`crate::screenshots`);
//! a screenshot taken joins the capture log in the transaction that records it.

use postgres::Row;

use super::items::{items_of, pg_item_query};
use super::{capture_log::append_in, col, pg_limit, PgStore};
use crate::error::{PgContext, Result};
use crate::{NewScreenshot, ScreenshotOutcome, ScreenshotRecord, StoredItem};

const COLUMNS: &str = "id, item_id, url, attempted_at, taken, reason, tool, png_sha256, \
     png_size, width, height, truncated, html_sha256, html_size";

fn screenshot_row(r: &Row) -> Result<ScreenshotRecord> {
    let size = |i: usize| -> Result<u64> {
        let v: Option<i64> = col(r, i)?;
        Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    };
    let pixels = |i: usize| -> Result<u32> {
        let v: Option<i32> = col(r, i)?;
        Ok(v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
    };
    let taken: bool = col(r, 4)?;
    let png: Option<String> = col(r, 7)?;
    let html: Option<String> = col(r, 12)?;
    let outcome = match (taken, png, html) {
        (true, Some(png_sha256), Some(html_sha256)) => ScreenshotOutcome::Taken {
            png_sha256,
            png_size: size(8)?,
            width: pixels(9)?,
            height: pixels(10)?,
            truncated: col(r, 11)?,
            html_sha256,
            html_size: size(13)?,
        },
        _ => ScreenshotOutcome::NotTaken {
            reason: col::<Option<String>>(r, 5)?.unwrap_or_else(|| "no reason recorded".into()),
        },
    };
    Ok(ScreenshotRecord {
        id: col(r, 0)?,
        shot: NewScreenshot {
            item_id: col(r, 1)?,
            url: col(r, 2)?,
            attempted_at: col(r, 3)?,
            tool: col(r, 6)?,
            outcome,
        },
    })
}

impl PgStore {
    /// Records a screenshot attempt (see [`crate::Store::record_screenshot`]).
    pub fn record_screenshot(&self, shot: &NewScreenshot) -> Result<i64> {
        let what = || format!("recording the screenshot of item `{}`", shot.item_id);
        let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let px = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let at = shot.attempted_at;
        self.with_client("recording a screenshot", |c| {
            let mut tx = c.transaction().pg_with(what)?;
            let insert = "INSERT INTO screenshots(item_id, url, attempted_at, taken, reason, tool,
                     png_sha256, png_size, width, height, truncated, html_sha256, html_size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id";
            let row = match &shot.outcome {
                ScreenshotOutcome::Taken {
                    png_sha256,
                    png_size,
                    width,
                    height,
                    truncated,
                    html_sha256,
                    html_size,
                } => tx.query_one(
                    insert,
                    &[
                        &shot.item_id,
                        &shot.url,
                        &at,
                        &true,
                        &None::<String>,
                        &shot.tool,
                        &Some(png_sha256.to_ascii_lowercase()),
                        &Some(big(*png_size)),
                        &Some(px(*width)),
                        &Some(px(*height)),
                        truncated,
                        &Some(html_sha256.to_ascii_lowercase()),
                        &Some(big(*html_size)),
                    ],
                ),
                ScreenshotOutcome::NotTaken { reason } => tx.query_one(
                    insert,
                    &[
                        &shot.item_id,
                        &shot.url,
                        &at,
                        &false,
                        reason,
                        &shot.tool,
                        &None::<String>,
                        &None::<i64>,
                        &None::<i32>,
                        &None::<i32>,
                        &false,
                        &None::<String>,
                        &None::<i64>,
                    ],
                ),
            }
            .pg_with(what)?;
            let id: i64 = col(&row, 0)?;
            append_in(&mut tx, &shot.log_entries())?;
            tx.commit().pg_with(what)?;
            Ok(id)
        })
    }

    /// Every screenshot attempt for an item, oldest first.
    pub fn screenshots_of(&self, item_id: &str) -> Result<Vec<ScreenshotRecord>> {
        self.with_client("reading screenshots", |c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM screenshots WHERE item_id = $1 ORDER BY id"),
                &[&item_id],
            )
            .pg_with(|| format!("reading the screenshots of item `{item_id}`"))?
            .iter()
            .map(screenshot_row)
            .collect()
        })
    }

    /// Flagged items (latest version) with a web URL and no screenshot attempt yet, oldest
    /// first, at most `limit` (see [`crate::Store::flagged_items_without_screenshot`]).
    pub fn flagged_items_without_screenshot(&self, limit: usize) -> Result<Vec<StoredItem>> {
        let what = "reading flagged items awaiting a screenshot";
        self.with_client(what, |c| {
            let rows = c
                .query(
                    pg_item_query!(
                        "WHERE i.flagged AND (i.url LIKE 'http://%' OR i.url LIKE 'https://%')
                           AND NOT EXISTS (SELECT 1 FROM items n WHERE n.id = i.id
                                           AND n.version > i.version)
                           AND NOT EXISTS (SELECT 1 FROM screenshots s WHERE s.item_id = i.id)
                         ORDER BY i.seq LIMIT $1"
                    ),
                    &[&pg_limit(limit)],
                )
                .pg(what)?;
            items_of(&rows)
        })
    }
}
