//! Polling: one poll of one source (fetch, media capture, then captures, items and source
//! state recorded in one transaction), the per-source loop of `serve`, and what a poll came to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_ingest::{schedule, Cursor, PollContext, Source, SourceError, Wait};
use ballotwatch_store::{InboxReport, PipelineStore, PollRecord, SourceState};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::{disk, full_message, media, quarantine, Config, Pipeline, PipelineError, Result};

/// What one poll of one source came to, for the `ingest --once` table and logs.
#[derive(Debug, Clone)]
pub struct PollSummary {
    /// Source name.
    pub source: String,
    /// Source kind.
    pub kind: &'static str,
    /// The poll's outcome.
    pub outcome: Result<PollCounts, PollFailure>,
    /// Wall time of the poll, store write included.
    pub elapsed: Duration,
}

/// Why a poll failed: the pipeline's error, shared so a [`PollSummary`] can be cloned; shown
/// with every cause (`full_message`).
#[derive(Debug, Clone)]
pub struct PollFailure(pub Arc<PipelineError>);

impl PollFailure {
    /// The error itself.
    pub fn error(&self) -> &PipelineError {
        &self.0
    }
}

impl From<PipelineError> for PollFailure {
    fn from(e: PipelineError) -> PollFailure {
        PollFailure(Arc::new(e))
    }
}

impl std::fmt::Display for PollFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&full_message(&*self.0))
    }
}

/// Counts from a successful poll.
#[derive(Debug, Clone, Default)]
pub struct PollCounts {
    /// Entries seen for the first time.
    pub new: usize,
    /// Entries whose content changed (stored as a new version).
    pub updated: usize,
    /// Entries already stored unchanged.
    pub unchanged: usize,
    /// The server said nothing changed (HTTP 304).
    pub not_modified: bool,
    /// Bytes captured.
    pub bytes: u64,
    /// Entries of the responses that were left out (not made items), one sentence each.
    pub dropped: Vec<String>,
}

/// Where a poll of a source in `state` resumes: its validators and the source's own cursor.
pub(crate) fn resume_cursor(state: &SourceState) -> Cursor {
    Cursor {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
        state: state.cursor.clone(),
    }
}

/// When a poll of `source` that started at `attempted_at` should be followed by the next one,
/// after `failures` failures in a row and the server's `Retry-After` if it gave one: the
/// source's interval with jitter, or back-off capped at `[ingest] max_backoff`.
pub(crate) fn next_attempt<'a>(
    cfg: &'a Config,
    source: &str,
    attempted_at: DateTime<Utc>,
) -> impl Fn(u32, Option<Duration>) -> DateTime<Utc> + 'a {
    let interval = cfg
        .source(source)
        .map(|s| s.interval(&cfg.ingest))
        .unwrap_or(cfg.ingest.default_interval);
    move |failures: u32, retry_after: Option<Duration>| -> DateTime<Utc> {
        let delay = schedule::next_delay(
            interval,
            cfg.ingest.jitter,
            failures,
            retry_after,
            cfg.ingest.max_backoff,
            &mut rand::rng(),
        );
        attempted_at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
    }
}

/// A failed poll, ready to record on its source: the error's message and URL, and when to try
/// again (back-off after the failures in a row so far, or the server's `Retry-After`).
pub(crate) struct FailedPoll {
    source: String,
    url: String,
    message: String,
    attempted_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
}

impl FailedPoll {
    /// The failure `error` of the poll of `source` that started at `attempted_at`, after
    /// `failures` failures in a row before it; `next` is the poll's [`next_attempt`].
    pub(crate) fn new(
        source: String,
        error: &SourceError,
        failures: u32,
        attempted_at: DateTime<Utc>,
        next: impl Fn(u32, Option<Duration>) -> DateTime<Utc>,
    ) -> FailedPoll {
        FailedPoll {
            source,
            url: error.url().to_string(),
            message: error.to_string(),
            attempted_at,
            next_attempt_at: next(failures + 1, error.retry_after()),
        }
    }

    /// Records it on the source's state.
    pub(crate) fn record(&self, store: &dyn PipelineStore) -> Result<()> {
        Ok(store.record_poll_error(
            &self.source,
            &self.url,
            &self.message,
            self.attempted_at,
            self.next_attempt_at,
        )?)
    }
}

/// Writes a poll's capture blobs, then records its captures, items and cursor in one
/// transaction, with the state kept under `state_name` (the source's name, or its real-time
/// part's).
pub(crate) fn store_poll(
    store: &dyn PipelineStore,
    state_name: &str,
    source: &str,
    poll: ballotwatch_ingest::Poll,
    attempted_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
) -> Result<PollCounts> {
    let mut counts = PollCounts {
        not_modified: poll.not_modified,
        dropped: poll.dropped,
        ..PollCounts::default()
    };
    let mut captures = Vec::with_capacity(poll.captures.len());
    for (capture, body) in poll.captures {
        let sha = store.put_blob(&body)?;
        if sha != capture.sha256 {
            return Err(PipelineError::Inconsistent(format!(
                "capture of {} changed between fetch and store (sha256 {} vs {})",
                capture.url, capture.sha256, sha
            )));
        }
        counts.bytes += capture.size;
        captures.push(capture);
    }
    // Who sent the reports in is recorded first, once per item: a crash before the poll is
    // recorded repeats the poll (its cursor was not kept), which finds the reports recorded.
    // An acknowledgement (the inbox's `acknowledge`) is queued with its report, so it is sent
    // once whatever happens after.
    if !poll.reports.is_empty() {
        let now = Utc::now();
        let (reports, acknowledgements): (Vec<InboxReport>, Vec<_>) = poll
            .reports
            .into_iter()
            .map(|r| {
                let report = InboxReport {
                    item_id: r.item_id,
                    reporter: r.reporter,
                    detail: r.detail,
                };
                (report, r.acknowledgement)
            })
            .unzip();
        let acknowledge = |n: usize, reference: &str| {
            let ack = acknowledgements.get(n)?.as_ref()?;
            let (subject, text) = ack.template.render(reference);
            Some(ballotwatch_alerting::acknowledge::acknowledgement(
                &ack.to, &subject, &text, now,
            ))
        };
        let per_hour = acknowledgements
            .iter()
            .flatten()
            .map(|a| a.template.per_hour)
            .next()
            .unwrap_or(0);
        store.record_inbox_reports(
            source,
            &reports,
            ballotwatch_store::Acknowledger {
                message: &acknowledge,
                per_hour,
            },
        )?;
    }
    let outcome = store.record_poll_as(
        state_name,
        source,
        PollRecord {
            captures,
            items: poll.items,
            etag: poll.etag,
            last_modified: poll.last_modified,
            cursor: poll.state,
            not_modified: poll.not_modified,
            attempted_at,
            next_attempt_at,
        },
    )?;
    counts.new = outcome.new;
    counts.updated = outcome.updated;
    counts.unchanged = outcome.unchanged;
    store.record_dropped(state_name, &counts.dropped, attempted_at)?;
    Ok(counts)
}

impl Pipeline {
    /// Polls every enabled source (or the named one) once, concurrently, and stores what came
    /// in (a real-time stream reads from its cursor until caught up): the first step of
    /// [`Pipeline::run_once`]. A source that fails is reported in its summary.
    pub async fn poll_all(&self, only: Option<&str>) -> Vec<PollSummary> {
        let chosen: Vec<_> = self
            .sources
            .iter()
            .filter(|s| only.is_none_or(|n| s.name() == n))
            .cloned()
            .collect();
        let polls = chosen.iter().map(|s| self.poll_source(s.as_ref()));
        let streams = chosen
            .iter()
            .filter_map(|s| Some((s.name().to_string(), s.kind(), s.realtime()?)))
            .map(|(name, kind, rt)| self.catch_up(rt, name, kind));
        let (mut summaries, streamed) = tokio::join!(
            futures_util::future::join_all(polls),
            futures_util::future::join_all(streams)
        );
        summaries.extend(streamed);
        summaries
    }

    pub(crate) async fn source_loop(&self, source: Arc<dyn Source>, stop: CancellationToken) {
        let name = source.name().to_string();
        loop {
            let wait = match self
                .blocking({
                    let name = name.clone();
                    move |s| Ok(s.source_state(&name)?)
                })
                .await
            {
                Ok(Some(state)) => state
                    .next_attempt_at
                    .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or_default(),
                Ok(None) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(source = %name, error = %full_message(&e), "cannot read source state; retrying in 30s");
                    Duration::from_secs(30)
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wait_for_news(source.as_ref(), wait) => {}
            }
            let summary = tokio::select! {
                _ = stop.cancelled() => return,
                s = self.poll_source(source.as_ref()) => s,
            };
            match &summary.outcome {
                Ok(c) => {
                    tracing::info!(source = %name, new = c.new, updated = c.updated, unchanged = c.unchanged, dropped = c.dropped.len(), not_modified = c.not_modified, "polled");
                    if c.new + c.updated > 0 {
                        self.classify_wake.notify_one();
                    }
                }
                Err(e) => tracing::warn!(source = %name, error = %e, "poll failed"),
            }
            if self.store.ingest_paused().is_some() {
                // Nothing was recorded, so the schedule has not moved: look again shortly.
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(disk::RECHECK) => {}
                }
            }
        }
    }

    /// Waits `wait` before the source's next poll, or less when the source says something new
    /// arrived (the report inbox's IMAP `IDLE`); a source that cannot say, or fails to, is
    /// simply waited for. Dropped at shutdown.
    async fn wait_for_news(&self, source: &dyn Source, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = tokio::time::Instant::now() + wait;
        let name = source.name().to_string();
        let cursor = match self.blocking(move |s| Ok(s.source_state(&name)?)).await {
            Ok(Some(state)) => Cursor {
                etag: state.etag,
                last_modified: state.last_modified,
                state: state.cursor,
            },
            _ => Cursor::default(),
        };
        match source.wait_for_news(&self.ctx, &cursor, wait).await {
            Ok(Wait::News) => {
                tracing::info!(source = %source.name(), "news at the source: polling now");
                return;
            }
            Ok(Wait::Quiet | Wait::Unsupported) => {}
            Err(e) => {
                tracing::warn!(source = %source.name(), error = %e, "waiting for news failed; polling on schedule")
            }
        }
        tokio::time::sleep_until(until).await;
    }

    /// One poll of one source: fetch, write capture blobs, record items and source state in one
    /// transaction; on failure record the error and when to retry.
    pub(crate) async fn poll_source(&self, source: &dyn Source) -> PollSummary {
        let started = Instant::now();
        let outcome = self.poll_and_record(source).await;
        if let Err(e) = &outcome {
            self.note_disk_full(e);
        }
        PollSummary {
            source: source.name().to_string(),
            kind: source.kind(),
            outcome: outcome.map_err(PollFailure::from),
            elapsed: started.elapsed(),
        }
    }

    async fn poll_and_record(&self, source: &dyn Source) -> Result<PollCounts> {
        if let Some(reason) = self.disk_gate().await? {
            return Err(PipelineError::Paused(reason));
        }
        let name = source.name().to_string();
        let state = self
            .blocking({
                let name = name.clone();
                move |s| Ok(s.source_state(&name)?)
            })
            .await?
            .unwrap_or_default();
        let cursor = resume_cursor(&state);
        let attempted_at = Utc::now();
        let cfg = &self.config;
        let next = next_attempt(cfg, &name, attempted_at);

        let turn = self.poll_turns.take(&self.store, &name).await?;
        let gate = quarantine::PollGate::new(self.store.clone(), cfg.clone(), &name);
        let ctx = PollContext {
            fetcher: self.ctx.fetcher.with_response_gate(gate.clone()),
            watch: self.ctx.watch.clone(),
            lookalikes: self.ctx.lookalikes.clone(),
        };
        let polled = source.poll(&ctx, &cursor).await;
        // The parse finished (well or not): it did not kill the process.
        self.blocking(move |_| gate.finish()).await?;
        drop(turn);
        match polled {
            Ok(mut poll) => {
                poll.limit_items(&name, self.config.max_item_text());
                let next_attempt_at = next(0, None);
                let items = std::mem::take(&mut poll.items);
                let mut items = self
                    .blocking(move |store| {
                        let mut items = items;
                        media::reuse_stored(store, &mut items)?;
                        Ok(items)
                    })
                    .await?;
                let caps = media::Caps::from_limits(&self.config.limits);
                let gate = quarantine::MediaGate::new(
                    self.store.clone(),
                    self.config.clone(),
                    &name,
                    self.media_in_flight.clone(),
                );
                let captured = media::capture(
                    &self.ctx.fetcher,
                    caps,
                    Some(&gate),
                    &mut items,
                    &media::prefetched(&poll.captures),
                )
                .await;
                poll.items = items;
                self.blocking(move |store| {
                    media::store_captured(store, &name, &captured)?;
                    store_poll(store, &name, &name, poll, attempted_at, next_attempt_at)
                })
                .await
            }
            Err(error) => {
                let failed =
                    FailedPoll::new(name, &error, state.consecutive_failures, attempted_at, next);
                self.blocking(move |store| failed.record(store)).await?;
                Err(error.into())
            }
        }
    }
}
