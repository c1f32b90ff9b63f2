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

use super::quarantine::StreamGate;
use super::{
    full_message, store_poll, Pipeline, PipelineError, PollCounts, PollFailure, PollSummary, Result,
};

/// Batches in flight between the connection and the store.
const IN_FLIGHT: usize = 8;

impl Pipeline {
    /// Runs the real-time part `rt` of source `source` until `stop` (or, with
    /// [`StreamUntil::CaughtUp`], until caught up or failed), reconnecting after failures.
    /// Returns what was recorded, or the last error when a catch-up run failed.
    pub(super) async fn realtime_loop(
        &self,
        rt: Arc<dyn RealtimeSource>,
        source: String,
        until: StreamUntil,
        stop: CancellationToken,
    ) -> Result<PollCounts, PipelineError> {
        let state_name = rt.state_name().to_string();
        let mut failures: u32 = 0;
        let mut total = PollCounts::default();
        let ctx = self.stream_context(&source, &state_name, rt.url()).await;
        loop {
            let cursor = match self
                .blocking({
                    let state_name = state_name.clone();
                    move |s| Ok(s.source_state(&state_name)?)
                })
                .await
            {
                Ok(state) => Cursor {
                    state: state.and_then(|s| s.cursor),
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
                            poll.limit_items(&state_name, self.config.max_item_text());
                            let at = Utc::now();
                            let (name, src) = (state_name.clone(), source.clone());
                            let counts = self
                                .blocking(move |store| store_poll(store, &name, &src, poll, at, at))
                                .await?;
                            recorded = true;
                            total.new += counts.new;
                            total.updated += counts.updated;
                            total.unchanged += counts.unchanged;
                            total.bytes += counts.bytes;
                            total.dropped.extend(counts.dropped);
                            if counts.new + counts.updated > 0 {
                                tracing::info!(source = %state_name, new = counts.new, updated = counts.updated, "streamed");
                                self.classify_wake.notify_one();
                            }
                        }
                        StreamEvent::Problem(error) => {
                            self.record_stream_error(&state_name, error.url(), &error.to_string())
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
                    if let Err(e) = self
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
            let wait =
                Duration::from_secs(1u64 << failures.min(10)).min(self.config.ingest.max_backoff);
            tracing::info!(source = %state_name, wait = %humantime_secs(wait), "reconnecting");
            tokio::select! {
                _ = stop.cancelled() => return Ok(total),
                _ = tokio::time::sleep(wait) => {}
            }
        }
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

    async fn record_stream_error(&self, state_name: &str, url: &str, message: &str) -> Result<()> {
        let (state_name, url, message) =
            (state_name.to_string(), url.to_string(), message.to_string());
        let at = Utc::now();
        self.blocking(move |store| {
            Ok(store.record_poll_error(&state_name, &url, &message, at, at)?)
        })
        .await
    }
}

/// "4s" for logs.
fn humantime_secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
