//! The ingest role: source leases, polls, and publishing stored items to the classify queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_cluster::lease::{Lease, Leases};
use ballotwatch_cluster::work::ItemRef;
use ballotwatch_ingest::{RealtimeSource, Source, StreamUntil};
use ballotwatch_store::PipelineStore;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::{sleep_or_stop, ClusterNode};
use crate::poll::{next_attempt, resume_cursor, store_poll, FailedPoll, PollCounts};
use crate::realtime::{stream_loop, StreamSink};
use crate::{full_message, media, Result};

/// Items read per sweep of unclassified items.
const SWEEP_BATCH: usize = 1000;
/// How often the sweep republishes what PostgreSQL holds unclassified.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

impl ClusterNode {
    /// Polls `source` while this node holds its lease: tries to take the lease every third of
    /// the period, renews it on the same beat (also during a poll), stops polling when it is
    /// lost, and releases it on a clean stop.
    pub(super) async fn source_task(
        &self,
        source: Arc<dyn Source>,
        leases: Leases,
        stop: CancellationToken,
    ) {
        let name = source.name().to_string();
        let beat = leases.renew_every();
        let mut lease: Option<Lease> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            match lease.as_mut() {
                None => match leases.try_acquire(&name).await {
                    Ok(Some(l)) => {
                        tracing::info!(source = %name, node = %self.node(), "source taken: this node polls it now");
                        lease = Some(l);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "cannot take the source's lease; trying again")
                    }
                },
                Some(l) => {
                    if let Err(e) = leases.renew(l).await {
                        tracing::warn!(source = %name, error = %e, "source lease lost: this node stops polling it");
                        lease = None;
                    }
                }
            }
            let mut wait = beat;
            if lease.is_some() {
                match self.due_in(&name).await {
                    Ok(d) if d.is_zero() => {
                        let polled = self.poll_holding(source.as_ref(), &leases, &mut lease, &stop);
                        match polled.await {
                            Some(Ok(c)) => {
                                tracing::info!(source = %name, new = c.new, updated = c.updated, unchanged = c.unchanged, dropped = c.dropped.len(), not_modified = c.not_modified, "polled")
                            }
                            Some(Err(e)) => {
                                tracing::warn!(source = %name, error = %full_message(&e), "poll failed")
                            }
                            None => {}
                        }
                        continue;
                    }
                    Ok(d) => wait = wait.min(d),
                    Err(e) => {
                        tracing::warn!(source = %name, error = %full_message(&e), "cannot read the source's state; trying again")
                    }
                }
            }
            if sleep_or_stop(&stop, wait).await {
                break;
            }
        }
        if let Some(l) = lease {
            match leases.release(l).await {
                Ok(()) => tracing::info!(source = %name, "source lease released"),
                Err(e) => {
                    tracing::warn!(source = %name, error = %e, "cannot release the source's lease; it expires by itself")
                }
            }
        }
    }

    /// How long until `source` is due.
    async fn due_in(&self, source: &str) -> Result<Duration> {
        let name = source.to_string();
        let state = self.blocking(move |s| Ok(s.source_state(&name)?)).await?;
        Ok(state
            .and_then(|s| s.next_attempt_at)
            .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or_default())
    }

    /// One poll, renewing the lease while it runs; `None` when the lease was lost or the node
    /// is stopping (the poll is abandoned uncommitted: the next holder polls again from the
    /// stored cursor).
    async fn poll_holding(
        &self,
        source: &dyn Source,
        leases: &Leases,
        lease: &mut Option<Lease>,
        stop: &CancellationToken,
    ) -> Option<Result<PollCounts>> {
        let poll = self.poll_once(source);
        tokio::pin!(poll);
        let mut renew_at = Instant::now() + leases.renew_every();
        loop {
            tokio::select! {
                r = &mut poll => return Some(r),
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep_until(renew_at.into()) => {
                    let l = lease.as_mut()?;
                    if let Err(e) = leases.renew(l).await {
                        tracing::warn!(source = %source.name(), error = %e, "source lease lost during a poll: abandoning it");
                        *lease = None;
                        return None;
                    }
                    renew_at = Instant::now() + leases.renew_every();
                }
            }
        }
    }

    /// Fetch, capture media, commit captures, items and cursor in one transaction, then
    /// publish the stored versions still waiting for classification.
    async fn poll_once(&self, source: &dyn Source) -> Result<PollCounts> {
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
        match source.poll(&self.ctx, &cursor).await {
            Ok(mut poll) => {
                poll.limit_items(&name, cfg.max_item_text());
                let next_attempt_at = next(0, None);
                self.store_with_media(&name, &name, poll, attempted_at, next_attempt_at)
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

    /// Captures the media of `poll`'s items, commits captures, items and the resume state in
    /// one transaction, then publishes the stored versions still waiting for classification.
    async fn store_with_media(
        &self,
        state_name: &str,
        source: &str,
        mut poll: ballotwatch_ingest::Poll,
        attempted_at: chrono::DateTime<Utc>,
        next_attempt_at: chrono::DateTime<Utc>,
    ) -> Result<PollCounts> {
        let items = std::mem::take(&mut poll.items);
        let mut items = self
            .blocking(move |store| {
                let mut items = items;
                media::reuse_stored(store, &mut items)?;
                Ok(items)
            })
            .await?;
        let caps = media::Caps::from_limits(&self.config.limits);
        let captured = media::capture(
            &self.ctx.fetcher,
            caps,
            None,
            &mut items,
            &media::prefetched(&poll.captures),
        )
        .await;
        let ids: Vec<String> = items.iter().map(|(_, i)| i.id.clone()).collect();
        poll.items = items;
        let (name, src) = (state_name.to_string(), source.to_string());
        let counts = self
            .blocking(move |store| {
                media::store_captured(store, &name, &captured)?;
                store_poll(store, &name, &src, poll, attempted_at, next_attempt_at)
            })
            .await?;
        if counts.new + counts.updated > 0 {
            self.publish_unclassified(ids).await?;
        }
        Ok(counts)
    }

    /// Streams `rt`, the real-time part of source `source`, while this node holds the stream's
    /// lease (named after the stream's state, `<source> (jetstream)`, beside the source's own
    /// lease for its polls): one node streams at a time, renewing the lease on the same beat as
    /// a source's; when the lease is lost the stream stops, and when the holder dies another
    /// node takes the lease within one lease period and resumes from the cursor committed in
    /// PostgreSQL with the last batch (nothing missed; a batch seen twice stores nothing new).
    pub(super) async fn stream_task(
        self: Arc<Self>,
        rt: Arc<dyn RealtimeSource>,
        source: String,
        leases: Leases,
        stop: CancellationToken,
    ) {
        let name = rt.state_name().to_string();
        let beat = leases.renew_every();
        let limits = (self.config.max_item_text(), self.config.ingest.max_backoff);
        while !stop.is_cancelled() {
            let mut lease = match leases.try_acquire(&name).await {
                Ok(Some(l)) => l,
                held_elsewhere_or_failed => {
                    if let Err(e) = held_elsewhere_or_failed {
                        tracing::warn!(source = %name, error = %e, "cannot take the stream's lease; trying again");
                    }
                    if sleep_or_stop(&stop, beat).await {
                        break;
                    }
                    continue;
                }
            };
            tracing::info!(source = %name, node = %self.node(), "stream taken: this node streams it now");
            let streaming = stop.child_token();
            let run = stream_loop(
                self.as_ref(),
                self.ctx.clone(),
                rt.clone(),
                source.clone(),
                StreamUntil::Stopped,
                streaming.clone(),
                limits,
            );
            tokio::pin!(run);
            let held = loop {
                tokio::select! {
                    r = &mut run => {
                        if let Err(e) = r {
                            tracing::error!(source = %name, error = %full_message(&e), "real-time stream stopped");
                        }
                        break true;
                    }
                    _ = tokio::time::sleep(beat) => {
                        if let Err(e) = leases.renew(&mut lease).await {
                            tracing::warn!(source = %name, error = %e, "stream lease lost: this node stops streaming it");
                            streaming.cancel();
                            let _ = (&mut run).await;
                            break false;
                        }
                    }
                }
            };
            if held {
                match leases.release(lease).await {
                    Ok(()) => tracing::info!(source = %name, "stream lease released"),
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "cannot release the stream's lease; it expires by itself")
                    }
                }
            }
        }
    }

    /// Publishes to the classify queue the latest versions of `ids` that are not classified.
    pub(crate) async fn publish_unclassified(&self, ids: Vec<String>) -> Result<()> {
        let refs = self
            .blocking(move |store| {
                let mut refs = Vec::new();
                for id in ids {
                    if let Some(s) = store.get_item(&id)? {
                        if s.result.is_none() {
                            refs.push(ItemRef::new(s.item.id, u64::from(s.item.version)));
                        }
                    }
                }
                Ok(refs)
            })
            .await?;
        for r in &refs {
            self.classify_queue.publish(r).await?;
        }
        Ok(())
    }

    /// Republishes what PostgreSQL holds unclassified (a node that died between its commit and
    /// its publish), at start and every [`SWEEP_EVERY`]; the queue's de-duplication drops what
    /// is already queued, and the classify stage skips what is already classified.
    /// The reporter retention sweep (as [`crate::Pipeline::sweep_reporters`]), at start and
    /// daily on every ingest node (a second node's sweep finds nothing left to remove).
    pub(super) async fn retention_loop(&self, stop: CancellationToken) {
        loop {
            let days = self.config.reports.reporter_retention_days;
            let swept = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.blocking(move |s| Ok(s.remove_old_reporters(days, chrono::Utc::now())?)) => r,
            };
            match swept {
                Ok(0) => {}
                Ok(removed) => tracing::info!(
                    removed,
                    days,
                    "removed the reporters of reports older than [reports] reporter_retention_days"
                ),
                Err(e) => {
                    tracing::warn!(error = %full_message(&e), "the reporter retention sweep failed; it runs again tomorrow")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(crate::retention::SWEEP_EVERY) => {}
            }
        }
    }

    pub(super) async fn sweep_loop(&self, stop: CancellationToken) {
        loop {
            match self.sweep_once().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(items = n, "unclassified items republished"),
                Err(e) => {
                    tracing::warn!(error = %full_message(&e), "sweep of unclassified items failed; trying again")
                }
            }
            if sleep_or_stop(&stop, SWEEP_EVERY).await {
                return;
            }
        }
    }

    async fn sweep_once(&self) -> Result<usize> {
        let pending = self
            .blocking(|s| Ok(s.pending_classification(SWEEP_BATCH)?))
            .await?;
        let mut fresh = 0;
        for s in &pending {
            let r = ItemRef::new(s.item.id.clone(), u64::from(s.item.version));
            if !self.classify_queue.publish(&r).await?.duplicate {
                fresh += 1;
            }
        }
        Ok(fresh)
    }
}

#[async_trait::async_trait]
impl StreamSink for ClusterNode {
    fn stream_store(&self) -> Arc<dyn PipelineStore> {
        self.store.clone()
    }

    async fn record_batch(
        &self,
        state_name: &str,
        source: &str,
        poll: ballotwatch_ingest::Poll,
    ) -> Result<PollCounts> {
        let at = Utc::now();
        self.store_with_media(state_name, source, poll, at, at)
            .await
    }
}
