//! The real-time stage: one long-lived connection per source that has one (Bluesky's
//! Jetstream), beside that source's polls.
//!
//! Each batch the connection hands over is recorded exactly like a poll ([`store_poll`]: capture
//! blobs, then captures, items and the resume state in one transaction), under the real-time
//! part's own state name, so a crash resumes from the last committed batch. When the connection
//! drops, the error (naming the URL) goes into source health and the stage reconnects with
//! backoff from the committed state. An unreadable event is recorded in source health too; the
//! stream goes on. A message whose parse killed the process is quarantined
//! ([`StreamGate`]) and skipped from then on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_ingest::{Cursor, PollContext, RealtimeSource, StreamEvent, StreamUntil};
use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use ballotwatch_store::PipelineStore;

use super::quarantine::StreamGate;
use super::{
    full_message, on_blocking_pool, store_poll, Pipeline, PipelineError, PollCounts, PollFailure,
    PollSummary, Result,
};

/// Batches in flight between the connection and the store.
const IN_FLIGHT: usize = 8;

/// Where a stream's batches are recorded: the embedded store (then the classify stage is woken)
/// or, in cluster mode, PostgreSQL (then the new versions go on the classify queue).
#[async_trait::async_trait]
pub(crate) trait StreamSink: Send + Sync {
    /// The store the stream's state and health are kept in.
    fn stream_store(&self) -> Arc<dyn PipelineStore>;

    /// Records one batch as a poll is recorded (capture blobs, then captures, items and the
    /// resume state in one transaction) and hands its new versions on.
    async fn record_batch(
        &self,
        state_name: &str,
        source: &str,
        poll: ballotwatch_ingest::Poll,
    ) -> Result<PollCounts>;

    /// The stream's stored resume position.
    async fn stream_cursor(&self, state_name: &str) -> Result<Option<serde_json::Value>> {
        let name = state_name.to_string();
        let state =
            on_blocking_pool(&self.stream_store(), move |s| Ok(s.source_state(&name)?)).await?;
        Ok(state.and_then(|s| s.cursor))
    }

    /// Records a connection failure or an unreadable event in the stream's health.
    async fn record_stream_error(&self, state_name: &str, url: &str, message: &str) -> Result<()> {
        let (state_name, url, message) =
            (state_name.to_string(), url.to_string(), message.to_string());
        let at = Utc::now();
        on_blocking_pool(&self.stream_store(), move |store| {
            Ok(store.record_poll_error(&state_name, &url, &message, at, at)?)
        })
        .await
    }
}

/// Runs the real-time part `rt` of source `source` until `stop` (or, with
/// [`StreamUntil::CaughtUp`], until caught up or failed), each batch recorded through `sink`.
/// `limits` are the longest item text kept (`[limits]`) and the longest wait before
/// reconnecting (`[ingest] max_backoff`; the waits double from 2 s). Returns what was recorded,
/// or the last error when a catch-up run failed.
pub(crate) async fn stream_loop(
    sink: &dyn StreamSink,
    ctx: Arc<PollContext>,
    rt: Arc<dyn RealtimeSource>,
    source: String,
    until: StreamUntil,
    stop: CancellationToken,
    limits: (usize, Duration),
) -> Result<PollCounts, PipelineError> {
    let (max_item_text, max_backoff) = limits;
    let state_name = rt.state_name().to_string();
    let mut failures: u32 = 0;
    let mut total = PollCounts::default();
    loop {
        let cursor = match sink.stream_cursor(&state_name).await {
            Ok(state) => Cursor {
                state,
                ..Cursor::default()
            },
            Err(e) => {
                tracing::error!(source = %state_name, error = %full_message(&e), "cannot read the stream's state; retrying in 30s");
                if matches!(until, StreamUntil::CaughtUp(_)) {
                    return Err(e);
                }
                tokio::select! {
                    _ = stop.cancelled() => return Ok(total),
                    _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
                }
            }
        };
        let (tx, mut rx) = mpsc::channel(IN_FLIGHT);
        let run = {
            let rt = rt.clone();
            let ctx = ctx.clone();
            async move {
                let r = rt.run(&ctx, &cursor, until, &tx).await;
                drop(tx);
                r
            }
        };
        let mut recorded = false;
        let record = async {
            while let Some(event) = rx.recv().await {
                match event {
                    StreamEvent::Batch(mut poll) => {
                        poll.limit_items(&state_name, max_item_text);
                        let counts = sink.record_batch(&state_name, &source, poll).await?;
                        recorded = true;
                        total.new += counts.new;
                        total.updated += counts.updated;
                        total.unchanged += counts.unchanged;
                        total.bytes += counts.bytes;
                        total.dropped.extend(counts.dropped);
                        if counts.new + counts.updated > 0 {
                            tracing::info!(source = %state_name, new = counts.new, updated = counts.updated, "streamed");
                        }
                    }
                    StreamEvent::Problem(error) => {
                        sink.record_stream_error(&state_name, error.url(), &error.to_string())
                            .await?;
                    }
                }
            }
            Ok::<(), PipelineError>(())
        };
        let (ran, stored) = tokio::select! {
            _ = stop.cancelled() => return Ok(total),
            r = async { tokio::join!(run, record) } => r,
        };
        if recorded {
            failures = 0;
        }
        let failure = match (ran, stored) {
            (_, Err(e)) => {
                tracing::error!(source = %state_name, error = %full_message(&e), "cannot record what the stream sent");
                e
            }
            (Ok(()), Ok(())) => return Ok(total),
            (Err(error), Ok(())) => {
                let message = error.to_string();
                tracing::warn!(source = %state_name, error = %message, "stream ended");
                if let Err(e) = sink
                    .record_stream_error(&state_name, error.url(), &message)
                    .await
                {
                    tracing::error!(source = %state_name, error = %full_message(&e), "cannot record the stream's error");
                }
                PipelineError::Source(Box::new(error))
            }
        };
        if matches!(until, StreamUntil::CaughtUp(_)) {
            return Err(failure);
        }
        failures = failures.saturating_add(1);
        let wait = Duration::from_secs(1u64 << failures.min(10)).min(max_backoff);
        tracing::info!(source = %state_name, wait = %humantime_secs(wait), "reconnecting");
        tokio::select! {
            _ = stop.cancelled() => return Ok(total),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[async_trait::async_trait]
impl StreamSink for Pipeline {
    fn stream_store(&self) -> Arc<dyn PipelineStore> {
        Arc::new(self.store.clone())
    }

    async fn record_batch(
        &self,
        state_name: &str,
        source: &str,
        poll: ballotwatch_ingest::Poll,
    ) -> Result<PollCounts> {
        let at = Utc::now();
        let (name, src) = (state_name.to_string(), source.to_string());
        let counts = self
            .blocking(move |store| store_poll(store, &name, &src, poll, at, at))
            .await?;
        if counts.new + counts.updated > 0 {
            self.classify_wake.notify_one();
        }
        Ok(counts)
    }
}

impl Pipeline {
    /// Runs the real-time part `rt` of source `source` through [`stream_loop`] into this
    /// pipeline's store, with the stream's quarantine gate.
    pub(super) async fn realtime_loop(
        &self,
        rt: Arc<dyn RealtimeSource>,
        source: String,
        until: StreamUntil,
        stop: CancellationToken,
    ) -> Result<PollCounts, PipelineError> {
        let ctx = self
            .stream_context(&source, rt.state_name(), rt.url())
            .await;
        let limits = (self.config.max_item_text(), self.config.ingest.max_backoff);
        stream_loop(self, ctx, rt, source, until, stop, limits).await
    }

    /// The poll context of a stream: the pipeline's, with the stream's quarantine gate
    /// ([`StreamGate`]) on its fetcher; without the gate (logged) when its marker or the store
    /// cannot be read.
    async fn stream_context(&self, source: &str, stream: &str, url: &str) -> Arc<PollContext> {
        let (store, config) = (self.store.clone(), self.config.clone());
        let (source, stream_name, url) = (source.to_string(), stream.to_string(), url.to_string());
        let opened = tokio::task::spawn_blocking(move || {
            StreamGate::open(store, config, &source, &stream_name, &url)
        })
        .await
        .map_err(|e| PipelineError::panicked("opening the stream's quarantine gate", e))
        .and_then(|r| r);
        match opened {
            Ok(gate) => {
                if gate.has_suspect() {
                    gate.hold_alone(self.poll_turns.alone().await);
                }
                Arc::new(PollContext {
                    fetcher: self.ctx.fetcher.with_response_gate(Arc::new(gate)),
                    watch: self.ctx.watch.clone(),
                    lookalikes: self.ctx.lookalikes.clone(),
                })
            }
            Err(e) => {
                tracing::error!(stream, error = %full_message(&e), "cannot set up the quarantine of this stream's messages; streaming without it");
                self.ctx.clone()
            }
        }
    }

    /// Catches up the real-time part of a source once (for `ingest --once`): from the stored
    /// position until an event newer than now arrives or the stream is quiet.
    pub(super) async fn catch_up(
        &self,
        rt: Arc<dyn RealtimeSource>,
        source: String,
        kind: &'static str,
    ) -> PollSummary {
        let started = Instant::now();
        let name = rt.state_name().to_string();
        let until = StreamUntil::CaughtUp(Utc::now());
        let outcome = self
            .realtime_loop(rt, source, until, CancellationToken::new())
            .await;
        PollSummary {
            source: name,
            kind,
            outcome: outcome.map_err(PollFailure::from),
            elapsed: started.elapsed(),
        }
    }
}

/// "4s" for logs.
fn humantime_secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
