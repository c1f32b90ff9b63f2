//! Reports sent in through the web UI's Report page, `POST /api/v1/reports` and the public
//! report form (issue 19), taken in by the [`ReportDesk`] the web server calls.
//!
//! A report is numbered first (its reference, with the reporter in the audit log), then:
//! every reported URL is fetched through the guarded fetcher and read like a watched page
//! ([`ballotwatch_ingest::sources::report`]); the report as received (without the reporter)
//! is a capture of its own, the item's; the uploaded files are captures whose bytes media
//! capture takes instead of downloading ([`media::Prefetched`], as for the report inbox's
//! attachments: sniffed, capped, content-addressed, quarantined like any medium); the report
//! item is stored like a poll's (stage `new`), so the running pipeline classifies it, opens or
//! joins an incident and alerts; and when screenshots are on, each reported URL's page is
//! screenshotted with its rendered HTML. A URL that cannot be fetched is kept with the reason,
//! on the report and in the answer, never an error that loses the report.

use std::sync::Arc;

use ballotwatch_core::{Media, WatchTerms};
use ballotwatch_evidence::Screenshotter;
use ballotwatch_ingest::sources::imap::capture_of;
use ballotwatch_ingest::sources::report::{
    capture_page, page_images, report_item, PageCapture, ReportText, PUBLIC_SOURCE, SOURCE,
};
use ballotwatch_ingest::{Fetcher, Poll};
use ballotwatch_store::{report_reference, Store};
use ballotwatch_web::reports::{
    FileOutcome, NewReport, Receipt, ReportError, ReportIntake, UrlOutcome,
};
use chrono::Utc;
use serde_json::json;
use tokio::sync::Notify;

use crate::quarantine::{MediaGate, MediaInFlight};
use crate::{media, Config, Pipeline, PipelineError, Result};

/// Takes reports in: captures, stores and queues them for the detectors.
#[derive(Clone)]
pub struct ReportDesk {
    store: Store,
    fetcher: Fetcher,
    watch: WatchTerms,
    config: Arc<Config>,
    media_in_flight: MediaInFlight,
    classify_wake: Arc<Notify>,
    shotter: Option<Screenshotter>,
}

impl Pipeline {
    /// The desk the web server hands reports to; `shotter` screenshots the reported pages
    /// (`None` when `[evidence] screenshots = false`).
    pub fn report_desk(&self, shotter: Option<Screenshotter>) -> ReportDesk {
        ReportDesk {
            store: self.store.clone(),
            fetcher: self.ctx.fetcher.clone(),
            watch: self.ctx.watch.clone(),
            config: self.config.clone(),
            media_in_flight: self.media_in_flight.clone(),
            classify_wake: self.classify_wake.clone(),
            shotter,
        }
    }
}

/// What the report says, as recorded with it (no reporter: that is the report's row and the
/// audit log's).
fn received(report: &NewReport) -> serde_json::Value {
    json!({
        "note": report.note,
        "seen_on": report.seen_on,
        "platform": report.platform,
        "group": report.group,
        "urls": report.urls.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "files": report.files.iter().map(|f| json!({
            "name": f.name,
            "mime": f.mime,
            "size": f.bytes.len(),
            "sha256": ballotwatch_core::sha256_hex(&f.bytes),
        })).collect::<Vec<_>>(),
    })
}

fn url_outcome(p: &PageCapture) -> UrlOutcome {
    UrlOutcome {
        url: p.url.to_string(),
        captured: p.fetched.is_some(),
        status: p.fetched.as_ref().map(|(c, _)| c.status),
        title: p.page.as_ref().and_then(|pg| pg.title.clone()),
        error: p.error.clone(),
    }
}

impl ReportDesk {
    /// Runs a store call off the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| PipelineError::Inconsistent(format!("a report task failed: {e}")))?
    }

    /// Captures and stores `report`; returns its reference and what became of each URL and
    /// file.
    pub async fn take(&self, report: NewReport) -> Result<Receipt> {
        // Like a poll: nothing is written while ingest is paused for want of disk space.
        let min = self.config.limits.min_free_disk.as_u64();
        if let Some(reason) = self.blocking(move |s| Ok(s.low_disk(min)?)).await? {
            return Err(PipelineError::Paused(reason));
        }
        let source = if report.public { PUBLIC_SOURCE } else { SOURCE };
        let detail = received(&report);
        let id = self
            .blocking({
                let (reporter, public, detail) =
                    (report.reporter.clone(), report.public, detail.clone());
                move |s| Ok(s.open_report(&reporter, public, &detail)?)
            })
            .await?;
        let reference = report_reference(id);
        let attempted_at = Utc::now();

        let pages: Vec<PageCapture> = futures_util::future::join_all(
            report.urls.iter().map(|u| capture_page(&self.fetcher, u)),
        )
        .await;
        for p in &pages {
            if let Some(e) = &p.error {
                tracing::info!(%reference, url = %p.url, reason = %e, "reported URL not captured; the report is kept");
            }
        }

        // The report as received is the item's capture; then each answer and each file.
        let as_received = serde_json::to_vec_pretty(&json!({
            "reference": reference,
            "received_at": attempted_at,
            "report": detail,
        }))
        .map_err(|e| PipelineError::Inconsistent(format!("report {reference}: {e}")))?;
        let mut captures = vec![(
            capture_of(
                &format!("report:{reference}"),
                "application/json",
                &as_received,
            ),
            as_received,
        )];
        let mut media_list = Vec::new();
        for (n, f) in report.files.iter().enumerate() {
            let url = format!("report:{reference}/file-{}", n + 1);
            let mime = f
                .mime
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            media_list.push(Media {
                url: Some(url.clone()),
                mime: Some(mime.clone()),
                ..Media::default()
            });
            captures.push((capture_of(&url, &mime, &f.bytes), f.bytes.clone()));
        }
        for p in &pages {
            if let Some((capture, body)) = &p.fetched {
                if p.is_media() {
                    media_list.push(Media {
                        url: Some(capture.url.clone()),
                        ..Media::default()
                    });
                }
                captures.push((capture.clone(), body.clone()));
            }
        }
        let mut images = page_images(&pages, media_list.len(), media::MAX_PER_ITEM);
        media_list.append(&mut images);

        let text = ReportText {
            note: report.note.clone(),
            seen_on: report.seen_on.clone(),
            platform: report.platform.clone(),
            group: report.group.clone(),
        };
        let item = report_item(source, &reference, &text, &pages, media_list, &self.watch);
        let item_id = item.id.clone();
        let mut poll = Poll {
            captures,
            items: vec![(0, item)],
            ..Poll::default()
        };
        poll.limit_items(source, self.config.max_item_text());
        let caps = media::Caps::from_limits(&self.config.limits);
        let gate = MediaGate::new(
            self.store.clone(),
            self.config.clone(),
            source,
            self.media_in_flight.clone(),
        );
        let mut items = std::mem::take(&mut poll.items);
        let captured = media::capture(
            &self.fetcher,
            caps,
            Some(&gate),
            &mut items,
            &media::prefetched(&poll.captures),
        )
        .await;
        let files: Vec<FileOutcome> = items
            .first()
            .map(|(_, item)| {
                item.media
                    .iter()
                    .take(report.files.len())
                    .zip(&report.files)
                    .map(|(m, f)| FileOutcome {
                        name: f.name.clone(),
                        mime: m.sha256.as_ref().and(m.mime.clone()),
                        sha256: m.sha256.clone(),
                        error: m.capture_error.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        poll.items = items;
        let urls: Vec<UrlOutcome> = pages.iter().map(url_outcome).collect();
        let mut closing = detail;
        if let Some(obj) = closing.as_object_mut() {
            obj.insert("captured_urls".into(), json!(urls));
            obj.insert("captured_files".into(), json!(files));
        }
        self.blocking({
            let item_id = item_id.clone();
            move |store| {
                media::store_captured(store, source, &captured)?;
                crate::store_poll(store, source, source, poll, attempted_at, attempted_at)?;
                store.close_report(id, &item_id, &closing)?;
                Ok(())
            }
        })
        .await?;
        self.classify_wake.notify_one();
        tracing::info!(%reference, item = %item_id, urls = urls.len(), files = files.len(), "report stored");

        if let Some(shotter) = self.shotter.clone() {
            let store = self.store.clone();
            let targets: Vec<String> = report.urls.iter().map(|u| u.to_string()).collect();
            let item = item_id.clone();
            // Screenshots take seconds each: after the answer, on a blocking thread.
            tokio::task::spawn_blocking(move || {
                for url in targets {
                    if let Err(e) = shotter.take(&store, &item, &url) {
                        tracing::warn!(item = %item, %url, error = %e, "cannot record the reported page's screenshot");
                    }
                }
            });
        }
        Ok(Receipt {
            reference,
            item_id,
            urls,
            files,
        })
    }
}

#[async_trait::async_trait]
impl ReportIntake for ReportDesk {
    async fn submit(&self, report: NewReport) -> std::result::Result<Receipt, ReportError> {
        let span = tracing::info_span!(
            "report",
            public = report.public,
            urls = report.urls.len(),
            files = report.files.len()
        );
        tracing::Instrument::instrument(self.take(report), span)
            .await
            .map_err(|e| match e {
                PipelineError::Paused(reason) => ReportError::Unavailable(reason),
                e => ReportError::Failed(crate::full_message(&e)),
            })
    }
}
