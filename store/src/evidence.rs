//! Capture-time evidence (screenshots and rendered HTML of flagged items' web pages) and the
//! read-only queries the evidence-pack writer needs (incident history, the captures of items).
//!
//! The screenshot bytes themselves live in the content-addressed capture store like every other
//! capture; this module only records which blob is which, when it was taken and with what, or
//! why no screenshot could be taken.

use chrono::{DateTime, Utc};
use rusqlite::{params, Row};

use crate::error::{Result, SqlContext};
use crate::items::{item_query, query_items};
use crate::{parse_ts, sql_limit, ts, Store, StoredItem};

/// Migration: the `screenshots` table.
pub(crate) const M_SCREENSHOTS: &str = r#"
CREATE TABLE screenshots (
    id           INTEGER PRIMARY KEY,
    item_id      TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    attempted_at TEXT    NOT NULL,
    taken        INTEGER NOT NULL CHECK (taken IN (0, 1)),
    reason       TEXT,                 -- why it was not taken (taken = 0)
    tool         TEXT    NOT NULL,     -- e.g. `Chromium 156.0.8078.114`, or `none`
    png_sha256   TEXT,
    png_size     INTEGER,
    width        INTEGER,
    height       INTEGER,
    truncated    INTEGER NOT NULL DEFAULT 0,
    html_sha256  TEXT,
    html_size    INTEGER,
    CHECK (taken = 0 OR (png_sha256 IS NOT NULL AND html_sha256 IS NOT NULL)),
    CHECK (taken = 1 OR reason IS NOT NULL)
);
CREATE INDEX screenshots_item ON screenshots(item_id, id);
"#;

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

/// One change in an incident's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentChange {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Who: a user name or a component such as `alerting`.
    pub actor: String,
    /// What changed: `created`, `status`, `assignee`, `note`, `item`, `title`…
    pub field: String,
    /// The value before, where there was one.
    pub old: Option<String>,
    /// The value after (the note's text for `note`).
    pub new: Option<String>,
}

type RawShot = (
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
);

fn raw_shot(r: &Row<'_>) -> rusqlite::Result<RawShot> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn into_record(raw: RawShot) -> Result<ScreenshotRecord> {
    let (id, item_id, url, at, taken, reason, tool, png, png_size, w, h, trunc, html, html_size) =
        raw;
    let col = |c: &str| format!("screenshots.{c} of screenshot {id}");
    let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let outcome = match (taken, png, html) {
        (1, Some(png_sha256), Some(html_sha256)) => ScreenshotOutcome::Taken {
            png_sha256,
            png_size: n(png_size),
            width: u32::try_from(n(w)).unwrap_or(u32::MAX),
            height: u32::try_from(n(h)).unwrap_or(u32::MAX),
            truncated: trunc != 0,
            html_sha256,
            html_size: n(html_size),
        },
        _ => ScreenshotOutcome::NotTaken {
            reason: reason.unwrap_or_else(|| "no reason recorded".into()),
        },
    };
    Ok(ScreenshotRecord {
        id,
        shot: NewScreenshot {
            item_id,
            url,
            attempted_at: parse_ts(&at, || col("attempted_at"))?,
            tool,
            outcome,
        },
    })
}

impl Store {
    /// Records a screenshot attempt (its blobs must already be in the capture store).
    pub fn record_screenshot(&self, shot: &NewScreenshot) -> Result<i64> {
        let at = ts(&shot.attempted_at);
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let mut st = conn
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
                    png_sha256,
                    i(*png_size),
                    width,
                    height,
                    truncated,
                    html_sha256,
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
            Ok(conn.last_insert_rowid())
        })
    }

    /// Every screenshot attempt for an item, oldest first.
    pub fn screenshots_of(&self, item_id: &str) -> Result<Vec<ScreenshotRecord>> {
        let raws = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, item_id, url, attempted_at, taken, reason, tool, png_sha256, png_size,
                     width, height, truncated, html_sha256, html_size
                 FROM screenshots WHERE item_id = ?1 ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([item_id], raw_shot)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .with_ctx(|| format!("reading the screenshots of item `{item_id}`"))
        })?;
        raws.into_iter().map(into_record).collect()
    }

    /// Flagged items (latest version) that have a web URL and no screenshot attempt yet, oldest
    /// first, at most `limit`: the work of the screenshot task.
    pub fn flagged_items_without_screenshot(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_items(
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

    /// The history of an incident, oldest first (empty for an unknown incident).
    pub fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>> {
        type Raw = (i64, String, String, String, Option<String>, Option<String>);
        let raws: Vec<Raw> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, at, actor, field, old, new FROM incident_history
                 WHERE incident_id = ?1 ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([incident_id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .with_ctx(|| format!("reading the history of incident {incident_id}"))
        })?;
        raws.into_iter()
            .map(|(id, at, actor, field, old, new)| {
                Ok(IncidentChange {
                    at: parse_ts(&at, || format!("incident_history.at of row {id}"))?,
                    actor,
                    field,
                    old,
                    new,
                })
            })
            .collect()
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
        assert!(store.screenshots_of("y").unwrap().is_empty());
    }

    #[test]
    fn incident_history_lists_creation_and_items_in_order() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one")], 0))
            .unwrap();
        let inc = store
            .create_incident(
                "Fake site",
                VerdictKind::Impersonation,
                Severity::High,
                "ann",
            )
            .unwrap();
        store.add_incident_item(inc.id, "a", "bob").unwrap();
        let h = store.incident_history(inc.id).unwrap();
        assert!(h.len() >= 2, "{h:?}");
        assert_eq!(h[0].actor, "ann");
        let last = h.last().unwrap();
        assert_eq!((last.actor.as_str(), last.field.as_str()), ("bob", "item"));
        assert_eq!(last.new.as_deref(), Some("a"));
        assert!(store.incident_history(9999).unwrap().is_empty());
    }
}
