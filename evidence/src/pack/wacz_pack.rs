//! The WACZ of a pack's captures: its pages, its screenshots' WARC, and the WACZ built alone
//! for `export --format wacz`.

use std::collections::BTreeMap;
use std::path::Path;

use ballotwatch_store::PipelineStore;
use chrono::{DateTime, Utc};

use super::{gather, zip_stamp, Gathered, PackRequest};
use crate::error::{EvidenceError, Result};
use crate::manifest::{names, CaptureEntry, IncidentEntry, ItemEntry, ScreenshotEntry};
use crate::{wacz, warc};

/// The WACZ's pages: per item, its own URL when a response for it was captured, else the
/// capture it was read from (a feed, an API answer), titled with the item's title or the start
/// of its text, at the capture's time.
fn pages(
    items: &[ItemEntry],
    captures: &[CaptureEntry],
    records: &[warc::Written],
) -> Vec<wacz::Page> {
    let responses: BTreeMap<&str, DateTime<Utc>> = records
        .iter()
        .filter(|r| r.kind == "response")
        .filter_map(|r| Some((r.target_uri.as_deref()?, r.date)))
        .collect();
    let by_id: BTreeMap<i64, &CaptureEntry> = captures.iter().map(|c| (c.id, c)).collect();
    items
        .iter()
        .filter_map(|e| {
            let own = e
                .item
                .url
                .as_deref()
                .and_then(|u| responses.get(u).map(|ts| (u.to_string(), *ts)));
            let (url, ts) = own.or_else(|| {
                let c = e.capture_ids.iter().rev().find_map(|id| by_id.get(id))?;
                Some((c.final_url.clone(), c.started_at))
            })?;
            let title = e
                .item
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .or_else(|| {
                    e.item
                        .text
                        .as_deref()
                        .map(|t| t.chars().take(120).collect::<String>())
                })
                .unwrap_or_else(|| url.clone());
            Some(wacz::Page {
                id: e.item.id.clone(),
                url,
                title,
                ts,
            })
        })
        .collect()
}

/// The WACZ's title: the report's title (the incidents exported, or the number of items).
fn title(incidents: &[IncidentEntry], items: usize) -> String {
    format!(
        "Ballotwatch evidence: {}",
        crate::report::title(incidents, items)
    )
}

/// The WACZ of a request alone (for `export --format wacz`): the same WARC, index and pages
/// as the `archive.wacz` inside a pack, without the rest of the pack.
pub fn build_wacz_at(
    store: &dyn PipelineStore,
    req: &PackRequest,
    now: DateTime<Utc>,
) -> Result<WaczSummary> {
    let _span =
        tracing::info_span!("wacz_export", incidents = ?req.incidents, items = req.items.len())
            .entered();
    let g = gather(store, req, now)?;
    let (bytes, pages) = wacz_of(&g, req, now, true)?;
    Ok(WaczSummary {
        bytes,
        incidents: g.incidents.iter().map(|i| i.incident.id).collect(),
        items: g.items.len(),
        captures: g.captures.len(),
        pages,
    })
}

/// The screenshots of `items` as WARC `resource` records (`urn:fullPage:<page URL>`, dated
/// when each was taken), after a `warcinfo`: the WACZ's `archive/screenshots.warc.gz`. Empty
/// when no item has a screenshot.
fn screenshot_warc(
    items: &[ItemEntry],
    files: &BTreeMap<String, Vec<u8>>,
    req: &PackRequest,
    now: DateTime<Utc>,
) -> Result<(Vec<u8>, Vec<warc::Written>)> {
    let shots: Vec<(&ScreenshotEntry, &Vec<u8>)> = items
        .iter()
        .flat_map(|e| &e.screenshots)
        .filter_map(|s| Some((s, files.get(s.png.as_deref()?)?)))
        .collect();
    if shots.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let path = Path::new(wacz::SCREENSHOTS_WARC_PATH);
    let compress = |e| EvidenceError::io("compress", path, e);
    let mut w = warc::Writer::new();
    w.append(&warc::warcinfo(
        now,
        &format!("Ballotwatch {}", req.tool_version),
        &format!("screenshots {}", now.to_rfc3339()),
    ))
    .map_err(compress)?;
    for (s, png) in shots {
        let uri = format!("{}{}", wacz::SCREENSHOT_URI_PREFIX, s.url);
        w.append(&warc::resource(&uri, s.attempted_at, "image/png", png))
            .map_err(compress)?;
    }
    Ok(w.finish())
}

/// The WACZ of what was gathered (with the screenshots' WARC when `screenshots`), and how many
/// pages it lists.
pub(super) fn wacz_of(
    g: &Gathered,
    req: &PackRequest,
    now: DateTime<Utc>,
    screenshots: bool,
) -> Result<(Vec<u8>, usize)> {
    let pages = pages(&g.items, &g.captures, &g.warc_records);
    let (shots, shot_records) = if screenshots {
        screenshot_warc(&g.items, &g.files, req, now)?
    } else {
        (Vec::new(), Vec::new())
    };
    let bytes = wacz::zip(
        &wacz::WaczInput {
            warc: g
                .files
                .get(names::WARC)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            records: &g.warc_records,
            screenshot_warc: &shots,
            screenshot_records: &shot_records,
            pages: &pages,
            title: &title(&g.incidents, g.items.len()),
            software: &format!("Ballotwatch {}", req.tool_version),
            created: now,
        },
        zip_stamp(now),
        Path::new(names::WACZ),
    )?;
    Ok((bytes, pages.len()))
}

/// A WACZ built alone.
#[derive(Debug, Clone)]
pub struct WaczSummary {
    /// The WACZ file.
    pub bytes: Vec<u8>,
    /// Incidents exported.
    pub incidents: Vec<i64>,
    /// Items exported.
    pub items: usize,
    /// HTTP captures in its WARC.
    pub captures: usize,
    /// Pages listed.
    pub pages: usize,
}
