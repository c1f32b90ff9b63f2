//! Screenshots: capture-time evidence (a full-page PNG and the rendered HTML) of flagged items'
//! web pages, or why none could be taken.
//!
//! The screenshot bytes themselves live in the content-addressed capture store like every other
//! capture; this module only records which blob is which, when it was taken and with what, or
//! why no screenshot could be taken.

use chrono::{DateTime, Utc};
use rusqlite::{params, Row, TransactionBehavior};

use crate::capture_log::{append_in, what, NewLogEntry};
use crate::error::{Result, SqlContext};
use crate::items::item_query;
use crate::row::{col, query_all, FromRow};
use crate::{parse_ts, sql_limit, ts, Store, StoredItem};

/// A screenshot attempt to record: what was taken (blobs already in the capture store), or why
/// nothing was.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewScreenshot {
    /// The item whose page this is.
    pub item_id: String,
    /// The URL Chromium was pointed at.
    pub url: String,
    /// When the attempt started (UTC).
    pub attempted_at: DateTime<Utc>,
    /// The browser that took it (`Chromium 156.0…`), or `none` when none was available.
    pub tool: String,
    /// The outcome.
    pub outcome: ScreenshotOutcome,
}

/// What a screenshot attempt produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScreenshotOutcome {
    /// A full-page PNG and the rendered HTML, both in the capture store.
    Taken {
        /// SHA-256 of the PNG blob.
        png_sha256: String,
        /// Size of the PNG in bytes.
        png_size: u64,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// True when the page was taller than the height limit and was cut there.
        truncated: bool,
        /// SHA-256 of the rendered-HTML blob.
        html_sha256: String,
        /// Size of the rendered HTML in bytes.
        html_size: u64,
    },
    /// No screenshot: why not (Chromium absent, timed out, address refused…).
    NotTaken {
        /// The reason, readable by a comms officer.
        reason: String,
    },
}

/// A recorded screenshot attempt.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScreenshotRecord {
    /// Row id.
    pub id: i64,
    /// The attempt.
    #[serde(flatten)]
    pub shot: NewScreenshot,
}

impl ScreenshotRecord {
    const COLUMNS: &'static str = "id, item_id, url, attempted_at, taken, reason, tool, \
         png_sha256, png_size, width, height, truncated, html_sha256, html_size";
}

impl FromRow for ScreenshotRecord {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let at: String = col(r, 3)?;
        let taken: i64 = col(r, 4)?;
        let png: Option<String> = col(r, 7)?;
        let html: Option<String> = col(r, 12)?;
        let n = |i: usize| -> Result<u64> {
            let v: Option<i64> = col(r, i)?;
            Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
        };
        let outcome = match (taken, png, html) {
            (1, Some(png_sha256), Some(html_sha256)) => ScreenshotOutcome::Taken {
                png_sha256,
                png_size: n(8)?,
                width: u32::try_from(n(9)?).unwrap_or(u32::MAX),
                height: u32::try_from(n(10)?).unwrap_or(u32::MAX),
                truncated: col::<i64>(r, 11)? != 0,
                html_sha256,
                html_size: n(13)?,
            },
            _ => ScreenshotOutcome::NotTaken {
                reason: col::<Option<String>>(r, 5)?.unwrap_or_else(|| "no reason recorded".into()),
            },
        };
        Ok(ScreenshotRecord {
            id,
            shot: NewScreenshot {
                item_id: col(r, 1)?,
                url: col(r, 2)?,
                attempted_at: parse_ts(&at, || {
                    format!("screenshots.attempted_at of screenshot {id}")
                })?,
                tool: col(r, 6)?,
                outcome,
            },
        })
    }
}

impl NewScreenshot {
    /// The capture log entries a screenshot taken adds (its PNG as `screenshot`, its rendered
    /// HTML as `rendered_html`); none for an attempt that took nothing.
    pub(crate) fn log_entries(&self) -> Vec<NewLogEntry> {
        match &self.outcome {
            ScreenshotOutcome::Taken {
                png_sha256,
                html_sha256,
                ..
            } => vec![
                NewLogEntry {
                    item_id: self.item_id.clone(),
                    what: what::SCREENSHOT.into(),
                    sha256: png_sha256.to_ascii_lowercase(),
                },
                NewLogEntry {
                    item_id: self.item_id.clone(),
                    what: what::RENDERED_HTML.into(),
                    sha256: html_sha256.to_ascii_lowercase(),
                },
            ],
            ScreenshotOutcome::NotTaken { .. } => Vec::new(),
        }
    }
}

impl Store {
    /// Records a screenshot attempt (its blobs must already be in the capture store; their
    /// SHA-256s are kept in lowercase, as everywhere in the store). A screenshot taken joins the capture log in the same transaction: its PNG as `screenshot`
    /// and its rendered HTML as `rendered_html`.
    pub fn record_screenshot(&self, shot: &NewScreenshot) -> Result<i64> {
        let at = ts(&shot.attempted_at);
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let log = shot.log_entries();
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| {
                    format!(
                        "starting to record the screenshot of item `{}`",
                        shot.item_id
                    )
                })?;
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO screenshots(item_id, url, attempted_at, taken, reason, tool,
                         png_sha256, png_size, width, height, truncated, html_sha256, html_size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .with_ctx(|| format!("recording the screenshot of item `{}`", shot.item_id))?;
            let r = match &shot.outcome {
                ScreenshotOutcome::Taken {
                    png_sha256,
                    png_size,
                    width,
                    height,
                    truncated,
                    html_sha256,
                    html_size,
                } => st.execute(params![
                    shot.item_id,
                    shot.url,
                    at,
                    1,
                    None::<String>,
                    shot.tool,
                    png_sha256.to_ascii_lowercase(),
                    i(*png_size),
                    width,
                    height,
                    truncated,
                    html_sha256.to_ascii_lowercase(),
                    i(*html_size)
                ]),
                ScreenshotOutcome::NotTaken { reason } => st.execute(params![
                    shot.item_id,
                    shot.url,
                    at,
                    0,
                    reason,
                    shot.tool,
                    None::<String>,
                    None::<i64>,
                    None::<i64>,
                    None::<i64>,
                    false,
                    None::<String>,
                    None::<i64>
                ]),
            };
            r.with_ctx(|| format!("recording the screenshot of item `{}`", shot.item_id))?;
            drop(st);
            let id = tx.last_insert_rowid();
            append_in(&tx, &log)?;
            tx.commit()
                .with_ctx(|| format!("committing the screenshot of item `{}`", shot.item_id))?;
            Ok(id)
        })
    }

    /// Every screenshot attempt for an item, oldest first.
    pub fn screenshots_of(&self, item_id: &str) -> Result<Vec<ScreenshotRecord>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM screenshots WHERE item_id = ?1 ORDER BY id",
                    ScreenshotRecord::COLUMNS
                ),
                [item_id],
                || format!("reading the screenshots of item `{item_id}`"),
            )
        })
    }

    /// Flagged items (latest version) that have a web URL and no screenshot attempt yet, oldest
    /// first, at most `limit`: the work of the screenshot task.
    pub fn flagged_items_without_screenshot(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                item_query!(
                    "WHERE i.flagged = 1 AND i.url IS NOT NULL
                       AND (i.url LIKE 'http://%' OR i.url LIKE 'https://%')
                       AND i.version = (SELECT max(v.version) FROM items v WHERE v.id = i.id)
                       AND NOT EXISTS (SELECT 1 FROM screenshots s WHERE s.item_id = i.id)
                     ORDER BY i.seq LIMIT ?1"
                ),
                [sql_limit(limit)],
                || "reading flagged items awaiting a screenshot".to_string(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballotwatch_core::{ClassifyResult, Severity, Verdict, VerdictKind};

    fn flag(store: &Store, id: &str) {
        let seq = store.get_item(id).unwrap().unwrap().seq;
        let result = ClassifyResult {
            id: id.into(),
            flagged: true,
            severity: Severity::High,
            verdicts: vec![Verdict {
                kind: VerdictKind::Impersonation,
                label: "lookalike_domain".into(),
                score: 0.9,
                detector: "domains".into(),
                explanation: "x".into(),
                evidence: serde_json::json!({}),
                rebuttal: None,
            }],
            detector_errors: vec![],
            media_text: Vec::new(),
        };
        store.save_results(&[(seq, result)]).unwrap();
    }

    #[test]
    fn flagged_items_wait_for_a_screenshot_until_one_is_recorded() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 0))
            .unwrap();
        assert!(store
            .flagged_items_without_screenshot(10)
            .unwrap()
            .is_empty());
        flag(&store, "b");
        let todo = store.flagged_items_without_screenshot(10).unwrap();
        assert_eq!(todo.len(), 1);
        assert_eq!(todo[0].item.id, "b");

        let png = store.put_blob(b"png").unwrap();
        let html = store.put_blob(b"<html>").unwrap();
        let shot = NewScreenshot {
            item_id: "b".into(),
            url: "https://echo.example/b".into(),
            attempted_at: t(5),
            tool: "Chromium 1".into(),
            outcome: ScreenshotOutcome::Taken {
                png_sha256: png,
                png_size: 3,
                width: 10,
                height: 20,
                truncated: false,
                html_sha256: html,
                html_size: 6,
            },
        };
        store.record_screenshot(&shot).unwrap();
        assert!(store
            .flagged_items_without_screenshot(10)
            .unwrap()
            .is_empty());
        let got = store.screenshots_of("b").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].shot, shot);
        // The PNG and the rendered HTML joined the capture log with the record.
        let seg = store.capture_log_segment(&["b"]).unwrap();
        let logged: Vec<(&str, &str)> = seg
            .entries
            .iter()
            .filter(|e| e.item_id == "b")
            .map(|e| (e.what.as_str(), e.sha256.as_str()))
            .collect();
        let (png, html) = match &shot.outcome {
            ScreenshotOutcome::Taken {
                png_sha256,
                html_sha256,
                ..
            } => (png_sha256.as_str(), html_sha256.as_str()),
            ScreenshotOutcome::NotTaken { .. } => unreachable!(),
        };
        assert!(logged.contains(&("screenshot", png)), "{logged:?}");
        assert!(logged.contains(&("rendered_html", html)), "{logged:?}");
        seg.check().unwrap();
    }

    #[test]
    fn a_screenshot_not_taken_keeps_its_reason() {
        let (_dir, store) = store();
        let shot = NewScreenshot {
            item_id: "x".into(),
            url: "http://10.0.0.1/".into(),
            attempted_at: t(1),
            tool: "none".into(),
            outcome: ScreenshotOutcome::NotTaken {
                reason: "chromium is not installed".into(),
            },
        };
        store.record_screenshot(&shot).unwrap();
        assert_eq!(store.screenshots_of("x").unwrap()[0].shot, shot);
        assert_eq!(store.capture_log_head().unwrap(), None, "nothing to log");
        assert!(store.screenshots_of("y").unwrap().is_empty());
    }
}
