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
//! joins an incident and alerts — unless the same page (its URL's normal form) or the same
//! picture (PDQ within `[reports] same_picture_distance`) was reported before, when the report
//! joins that report's item, and so its incident, as another report ([`matching`]). When
//! screenshots are on, each captured page (not a failed fetch, not a login or cookie wall) is
//! screenshotted with its rendered HTML before the report is stored: the screenshot is recorded
//! with the item the report becomes, and a new report item carries it as a medium, so OCR
//! reads what the page shows. A URL that cannot be fetched is kept with the reason, on the
//! report and in the answer, never an error that loses the report.

use std::sync::Arc;

use ballotwatch_alerting::Decider;
use ballotwatch_core::{Media, WatchTerms};
use ballotwatch_evidence::Screenshotter;
use ballotwatch_ingest::sources::imap::{capture_of, MAX_DOCUMENTS};
use ballotwatch_ingest::sources::report::{
    capture_page, page_images, report_item, url_key, PageCapture, ReportText, PUBLIC_SOURCE, SOURCE,
};
use ballotwatch_ingest::{Fetcher, Poll};
use ballotwatch_store::{
    report_reference, NewCapture, NewScreenshot, PipelineStore, ScreenshotOutcome, Store,
};
use ballotwatch_web::reports::{
    FileOutcome, Joined, NewReport, Receipt, ReportError, ReportIntake, UrlOutcome,
};
use chrono::Utc;
use serde_json::json;
use tokio::sync::Notify;

use crate::quarantine::{MediaGate, MediaInFlight};
use crate::{media, Config, Pipeline, PipelineError, Result};

mod matching;

/// Takes reports in: captures, stores and queues them for the detectors, in embedded mode
/// ([`Pipeline::report_desk`]) or on a cluster web node (`ClusterNode::report_desk`).
#[derive(Clone)]
pub struct ReportDesk {
    store: Arc<dyn PipelineStore>,
    mode: DeskMode,
    fetcher: Fetcher,
    watch: WatchTerms,
    config: Arc<Config>,
    decider: Arc<Decider>,
    shotter: Option<Screenshotter>,
}

/// What the desk does differently in the two modes.
#[derive(Clone)]
enum DeskMode {
    /// One process: reports wait while ingest is paused for want of disk, uploads go through
    /// the poison-work quarantine, and the pipeline's classify and send loops are woken.
    Embedded {
        store: Store,
        media_in_flight: MediaInFlight,
        classify_wake: Arc<Notify>,
        alert_wake: Arc<Notify>,
    },
    /// A cluster node: a new report item is published to the classify queue (any classify node
    /// takes it) and this node's sender is woken; PostgreSQL holds the data, and poison work
    /// becomes a dead letter as for polled items.
    Cluster(Arc<crate::cluster::ClusterNode>),
}

/// The lock ([`PipelineStore::exclusively`]) from looking up earlier reports until a report's
/// keys and hashes are recorded: reports of one thing at one moment, on any node, make one item.
const MATCHING_LOCK: &str = "report-matching";

impl Pipeline {
    /// The desk the web server hands reports to; `shotter` screenshots the reported pages
    /// (`None` when `[evidence] screenshots = false`).
    pub fn report_desk(&self, shotter: Option<Screenshotter>) -> ReportDesk {
        ReportDesk {
            store: Arc::new(self.store.clone()),
            mode: DeskMode::Embedded {
                store: self.store.clone(),
                media_in_flight: self.media_in_flight.clone(),
                classify_wake: self.classify_wake.clone(),
                alert_wake: self.alert_wake.clone(),
            },
            fetcher: self.ctx.fetcher.clone(),
            watch: self.ctx.watch.clone(),
            config: self.config.clone(),
            decider: self.decider.clone(),
            shotter,
        }
    }
}

impl crate::cluster::ClusterNode {
    /// The desk this node's web server hands reports to (see [`Pipeline::report_desk`]).
    pub fn report_desk(self: &Arc<Self>, shotter: Option<Screenshotter>) -> ReportDesk {
        ReportDesk {
            store: self.store().clone(),
            mode: DeskMode::Cluster(self.clone()),
            fetcher: self.poll_context().fetcher.clone(),
            watch: self.poll_context().watch.clone(),
            config: self.config().clone(),
            decider: self.decider().clone(),
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
        // A login or cookie wall was fetched, but it is not the page reported.
        captured: p.fetched.is_some() && p.wall.is_none(),
        status: p.fetched.as_ref().map(|(c, _)| c.status),
        title: p.page.as_ref().and_then(|pg| pg.title.clone()),
        error: p.not_captured().map(str::to_string),
    }
}

impl ReportDesk {
    /// Runs a store call off the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn PipelineStore) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        crate::on_blocking_pool(&self.store, f).await
    }

    /// Why reports cannot be taken now: in embedded mode, ingest paused for want of disk space
    /// (nothing is written then, as for a poll).
    async fn paused(&self) -> Result<Option<String>> {
        let DeskMode::Embedded { store, .. } = &self.mode else {
            return Ok(None);
        };
        let store = store.clone();
        let min = self.config.limits.min_free_disk.as_u64();
        tokio::task::spawn_blocking(move || Ok(store.low_disk(min)?))
            .await
            .map_err(|e| PipelineError::panicked("a report task panicked", e))?
    }

    /// The poison-work quarantine's gate for the uploads' media (embedded mode).
    fn media_gate(&self, source: &str) -> Option<MediaGate> {
        match &self.mode {
            DeskMode::Embedded {
                store,
                media_in_flight,
                ..
            } => Some(MediaGate::new(
                store.clone(),
                self.config.clone(),
                source,
                media_in_flight.clone(),
            )),
            DeskMode::Cluster(_) => None,
        }
    }

    /// A new report item was stored: the detectors take it next.
    async fn stored_new(&self, item_id: &str) -> Result<()> {
        match &self.mode {
            DeskMode::Embedded { classify_wake, .. } => {
                classify_wake.notify_one();
                Ok(())
            }
            DeskMode::Cluster(node) => node.publish_unclassified(vec![item_id.to_string()]).await,
        }
    }

    /// Messages were queued: the sender sends them now.
    fn queued_messages(&self) {
        match &self.mode {
            DeskMode::Embedded { alert_wake, .. } => alert_wake.notify_one(),
            DeskMode::Cluster(node) => node.wake_sender(),
        }
    }

    /// Captures and stores `report`; returns its reference and what became of each URL and
    /// file.
    pub async fn take(&self, report: NewReport) -> Result<Receipt> {
        // Like a poll: nothing is written while ingest is paused for want of disk space.
        if let Some(reason) = self.paused().await? {
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
            if let Some(e) = p.not_captured() {
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
        // Each file is a medium (its index among the media) or a PDF (its index among them).
        let mut kinds: Vec<FileKind> = Vec::new();
        let mut pdfs: Vec<(String, Vec<u8>)> = Vec::new();
        for (n, f) in report.files.iter().enumerate() {
            let url = format!("report:{reference}/file-{}", n + 1);
            if ballotwatch_ingest::pdf::is_pdf(f.mime.as_deref(), f.name.as_deref(), &f.bytes) {
                // A PDF is kept as a capture and its text read into the report's (below).
                kinds.push(FileKind::Pdf(pdfs.len()));
                let name = f
                    .name
                    .as_deref()
                    .map(ballotwatch_ingest::html::single_line)
                    .unwrap_or_else(|| format!("file {}", n + 1));
                pdfs.push((name, f.bytes.clone()));
                captures.push((
                    capture_of(&url, "application/pdf", &f.bytes),
                    f.bytes.clone(),
                ));
                continue;
            }
            kinds.push(FileKind::Media(media_list.len()));
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
        // Room is kept for each captured page's screenshot, a medium too (below).
        let shots_to_come = if self.shotter.is_some() {
            pages.iter().filter(|p| p.page.is_some()).count()
        } else {
            0
        };
        let mut images = page_images(
            &pages,
            media_list.len(),
            media::MAX_PER_ITEM.saturating_sub(shots_to_come),
        );
        media_list.append(&mut images);

        let text = ReportText {
            note: report.note.clone(),
            seen_on: report.seen_on.clone(),
            platform: report.platform.clone(),
            group: report.group.clone(),
        };
        let mut item = report_item(source, &reference, &text, &pages, media_list, &self.watch);
        let pdf_errors = read_pdfs(&mut item, &reference, pdfs).await;
        item.matched_terms = self.watch.matches(&item.full_text());
        let item_id = item.id.clone();
        let mut poll = Poll {
            captures,
            items: vec![(0, item)],
            ..Poll::default()
        };
        let caps = media::Caps::from_limits(&self.config.limits);
        let gate = self.media_gate(source);
        let mut items = std::mem::take(&mut poll.items);
        let captured = media::capture(
            &self.fetcher,
            caps,
            gate.as_ref(),
            &mut items,
            &media::prefetched(&poll.captures),
        )
        .await;
        // The reported pages as Chromium renders them, before the report is stored: each
        // screenshot is evidence (recorded with the item the report becomes) and, on a new
        // report item, a medium, so OCR reads what the page shows (a post a script draws).
        let Shots { shots, rendered } = self.shoot_pages(&item_id, &pages).await?;
        if let Some((_, item)) = items.first_mut() {
            item.media
                .extend(shots.iter().filter_map(screenshot_medium));
            // What only the rendered page shows joins the text (cut to the item limit below).
            for text in &rendered {
                let body = item.text.get_or_insert_with(String::new);
                if !body.is_empty() {
                    body.push_str("\n\n");
                }
                body.push_str("As the page renders: ");
                body.push_str(text);
            }
            if !rendered.is_empty() {
                item.matched_terms = self.watch.matches(&item.full_text());
            }
        }
        let item_media: &[Media] = items.first().map_or(&[], |(_, i)| i.media.as_slice());
        let files: Vec<FileOutcome> = kinds
            .iter()
            .zip(&report.files)
            .map(|(kind, f)| match kind {
                FileKind::Media(i) => {
                    let m = item_media.get(*i);
                    FileOutcome {
                        name: f.name.clone(),
                        mime: m.and_then(|m| m.sha256.as_ref().and(m.mime.clone())),
                        sha256: m.and_then(|m| m.sha256.clone()),
                        error: m.and_then(|m| m.capture_error.clone()),
                    }
                }
                FileKind::Pdf(i) => FileOutcome {
                    name: f.name.clone(),
                    mime: Some("application/pdf".into()),
                    sha256: Some(ballotwatch_core::sha256_hex(&f.bytes)),
                    error: pdf_errors.get(*i).cloned().flatten(),
                },
            })
            .collect();
        poll.items = items;
        // Once, on the final text (the note, pages, PDFs and what the rendered pages add).
        poll.limit_items(source, self.config.max_item_text());
        let urls: Vec<UrlOutcome> = pages.iter().map(url_outcome).collect();
        let mut closing = detail;
        if let Some(obj) = closing.as_object_mut() {
            obj.insert("captured_urls".into(), json!(urls));
            obj.insert("captured_files".into(), json!(files));
        }
        let keys: Vec<String> = report.urls.iter().map(url_key).collect();
        let distance = self.config.reports.same_picture_distance;
        let (stored_as, joined) = self
            .blocking({
                let item_id = item_id.clone();
                move |store| {
                    media::store_captured(store, source, &captured)?;
                    let item_media: Vec<Media> = poll
                        .items
                        .first()
                        .map(|(_, i)| i.media.clone())
                        .unwrap_or_default();
                    for (_, body) in &poll.captures {
                        store.put_blob(body)?;
                    }
                    let hashes = matching::picture_hashes(store, &item_media);
                    let found = Found {
                        keys,
                        hashes,
                        distance,
                    };
                    // From the lookup until this report's keys are recorded, one report at a
                    // time, on every node sharing the store.
                    let (mut poll, mut closing) = (Some(poll), Some(closing));
                    let mut outcome = None;
                    store.exclusively(MATCHING_LOCK, &mut || {
                        let (Some(poll), Some(closing)) = (poll.take(), closing.take()) else {
                            return Ok(());
                        };
                        let new = NewReportItem {
                            report: id,
                            item_id: item_id.clone(),
                            source,
                            poll,
                            closing,
                            attempted_at,
                            shots: shots.clone(),
                        };
                        outcome = Some(record(store, new, &found));
                        Ok(())
                    })?;
                    outcome.unwrap_or_else(|| {
                        Err(PipelineError::Inconsistent(format!(
                            "report {id}: the matching lock ran nothing"
                        )))
                    })
                }
            })
            .await?;
        match joined.as_ref().and_then(|j| j.incident_id) {
            None if joined.is_none() => self.stored_new(&stored_as).await?,
            None => {}
            Some(incident) => self.burst(incident, &stored_as).await?,
        }
        tracing::info!(%reference, item = %stored_as, joined = joined.is_some(), urls = urls.len(), files = files.len(), "report stored");

        Ok(Receipt {
            reference,
            item_id: stored_as,
            urls,
            files,
            joined,
        })
    }
}

impl ReportDesk {
    /// Screenshots each reported page that was captured (not a wall, not a failed fetch) with
    /// its rendered HTML, on a blocking thread: the blobs are stored, the attempts returned for
    /// [`record`] to record. Nothing when screenshots are off.
    async fn shoot_pages(&self, item_id: &str, pages: &[PageCapture]) -> Result<Shots> {
        let Some(shotter) = self.shotter.clone() else {
            return Ok(Shots::default());
        };
        // Each captured page with the text read from its raw answer.
        let targets: Vec<(url::Url, String)> = pages
            .iter()
            .filter_map(|p| {
                p.page
                    .as_ref()
                    .map(|page| (p.url.clone(), page.text.clone()))
            })
            .collect();
        if targets.is_empty() {
            return Ok(Shots::default());
        }
        let item_id = item_id.to_string();
        self.blocking(move |store| {
            let mut out = Shots::default();
            for (url, raw_text) in targets {
                let shot = shotter.shoot(store, &item_id, url.as_str()).map_err(|e| {
                    PipelineError::Inconsistent(format!(
                        "cannot store the screenshot of the reported page {url}: {e}"
                    ))
                })?;
                if let ScreenshotOutcome::Taken { html_sha256, .. } = &shot.outcome {
                    let html = store.read_blob(html_sha256)?;
                    let rendered = ballotwatch_ingest::sources::web::extract(
                        &String::from_utf8_lossy(&html),
                        &url,
                    );
                    if let Some(text) = rendered_extra(&raw_text, &rendered.text) {
                        out.rendered.push(text);
                    }
                }
                out.shots.push(shot);
            }
            Ok(out)
        })
        .await
    }
}

/// The reported pages' screenshots and what their rendered pages add to the text.
#[derive(Default)]
struct Shots {
    /// One attempt per captured page.
    shots: Vec<NewScreenshot>,
    /// Text of rendered pages whose raw answer lacked it (a post a script draws).
    rendered: Vec<String>,
}

/// The rendered page's text when it says more than the raw answer's: longer by at least a
/// fifth and not already in it (so a page that renders as served adds nothing).
fn rendered_extra(raw: &str, rendered: &str) -> Option<String> {
    let rendered = rendered.trim();
    let more = rendered.chars().count() > raw.trim().chars().count() * 6 / 5 + 20;
    (more && !raw.contains(rendered)).then(|| rendered.to_string())
}

/// A reported page's screenshot as a medium of the report item (`screenshot:` and the page's
/// URL), so the detectors read it like an uploaded picture; `None` when none was taken.
fn screenshot_medium(shot: &NewScreenshot) -> Option<Media> {
    let ScreenshotOutcome::Taken { png_sha256, .. } = &shot.outcome else {
        return None;
    };
    Some(Media {
        url: Some(format!("screenshot:{}", shot.url)),
        mime: Some("image/png".into()),
        sha256: Some(png_sha256.clone()),
        ..Media::default()
    })
}

/// A report's new item as captured, to record under the matching lock.
struct NewReportItem {
    report: i64,
    item_id: String,
    source: &'static str,
    poll: Poll,
    closing: serde_json::Value,
    attempted_at: chrono::DateTime<Utc>,
    /// The reported pages' screenshots, recorded with the item the report becomes.
    shots: Vec<NewScreenshot>,
}

/// What a report is matched to earlier ones by: its URL keys and picture hashes.
struct Found {
    keys: Vec<String>,
    hashes: Vec<ballotwatch_store::Hash256>,
    distance: u32,
}

/// Stores a report as a new item, or joins it to the item an earlier report of the same page
/// or picture became, then records what it became and its keys and hashes. Returns the item
/// and, when it joined one, what matched. Run under [`MATCHING_LOCK`].
fn record(
    store: &dyn PipelineStore,
    new: NewReportItem,
    found: &Found,
) -> Result<(String, Option<Joined>)> {
    let NewReportItem {
        report,
        item_id,
        source,
        mut poll,
        mut closing,
        attempted_at,
        shots,
    } = new;
    let earlier = matching::earlier_report(store, &found.keys, &found.hashes, found.distance)?;
    let stored_as = match &earlier {
        Some((earlier_item, joined)) => {
            // Reported before: the captures are kept, the report joins the earlier report's
            // item; no new item, so no new incident.
            for (capture, _) in &poll.captures {
                store.record_capture(
                    source,
                    NewCapture {
                        capture: capture.clone(),
                    },
                )?;
            }
            if let Some(obj) = closing.as_object_mut() {
                obj.insert("joined".into(), json!(joined));
            }
            earlier_item.clone()
        }
        None => {
            crate::store_poll(
                store,
                source,
                source,
                std::mem::take(&mut poll),
                attempted_at,
                attempted_at,
            )?;
            item_id
        }
    };
    for mut shot in shots {
        shot.item_id.clone_from(&stored_as);
        store.record_screenshot(&shot)?;
    }
    store.close_report(report, &stored_as, &closing)?;
    for key in &found.keys {
        store.add_report_key(key, &stored_as)?;
    }
    for h in &found.hashes {
        store.add_report_hash(&stored_as, h)?;
    }
    let joined = match earlier {
        Some((_, mut joined)) => {
            joined.incident_id = store.get_item(&stored_as)?.and_then(|s| s.incident_id());
            Some(joined)
        }
        None => None,
    };
    Ok((stored_as, joined))
}

/// What one uploaded file became.
enum FileKind {
    /// A medium: its index in the item's media.
    Media(usize),
    /// A PDF: its index among the report's PDFs.
    Pdf(usize),
}

/// Reads the text of a report's PDFs into its item, as the report inbox does (at most
/// `MAX_DOCUMENTS` of them, within the same limits); per PDF, why its text was not read.
async fn read_pdfs(
    item: &mut ballotwatch_core::Item,
    reference: &str,
    pdfs: Vec<(String, Vec<u8>)>,
) -> Vec<Option<String>> {
    let mut errors = Vec::new();
    for (n, (name, bytes)) in pdfs.into_iter().enumerate() {
        if n >= MAX_DOCUMENTS {
            errors.push(Some(format!(
                "kept as a capture; only the first {MAX_DOCUMENTS} PDFs of a report are read"
            )));
            continue;
        }
        match ballotwatch_ingest::pdf::read_into(item, &name, bytes, str::to_string).await {
            Ok(()) => errors.push(None),
            Err(e) => {
                tracing::info!(%reference, pdf = %name, error = %e, "PDF text not read; kept as a capture");
                errors.push(Some(format!(
                    "kept as a capture; its text was not read: {e}"
                )));
            }
        }
    }
    errors
}

impl ReportDesk {
    /// After a report joined incident `incident` through item `item`: when `[reports] burst`
    /// reports have joined it within the window, its severity goes up one step and the alert
    /// rules' messages are queued (once per burst; see `Store::record_report_burst`).
    async fn burst(&self, incident: i64, item: &str) -> Result<()> {
        let burst = self.config.reports.burst;
        let decider = self.decider.clone();
        let item = item.to_string();
        let recorded = self
            .blocking(move |store| {
                let Some(stored) = store.get_item(&item)? else {
                    return Ok(None);
                };
                Ok(store.record_report_burst(
                    incident,
                    &item,
                    burst.count,
                    burst.within,
                    &mut |ctx, b| decider.plan_burst(&stored, ctx, b, burst.within),
                )?)
            })
            .await?;
        if let Some((ctx, b, plan)) = recorded {
            tracing::info!(
                incident,
                reports = b.reports,
                from = %b.from,
                to = %b.to,
                queued = plan.outbox.len(),
                severity = %ctx.incident.severity,
                "report burst raised the incident's severity"
            );
            self.queued_messages();
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::rendered_extra;

    #[test]
    fn only_a_rendered_page_that_says_more_adds_text() {
        let post = "Castle ward polling station has moved to the leisure centre car park";
        // A shell the script fills: the rendered text is new.
        assert_eq!(rendered_extra("Loading…", post).as_deref(), Some(post));
        // Rendered as served, or barely longer: nothing to add.
        assert_eq!(rendered_extra(post, post), None);
        assert_eq!(rendered_extra(post, &format!("{post} Menu")), None);
        assert_eq!(rendered_extra(post, "   "), None);
    }
}
