//! Work one node at a time does for the whole cluster, under a lease taken and renewed like a
//! source's (see `ingest`); when the holder dies another node takes the lease within one lease
//! period and carries on from what the store holds:
//! - **trusted timestamps** of the capture log: the chain in PostgreSQL is one for every node,
//!   so one node stamps its newest head, each attempt the embedded task's
//!   ([`Timestamps::attempt`]: the same TSAs, verification, back-off and logs);
//! - **page screenshots** of flagged items, as the embedded screenshot task takes them
//!   ([`Screenshotter::run_pending`]): one node's Chromium, one attempt per page.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_cluster::lease::{Lease, Leases};
use ballotwatch_evidence::Screenshotter;
use tokio_util::sync::CancellationToken;

use super::{sleep_or_stop, ClusterNode};
use crate::timestamps::Timestamps;

/// The lease name of the timestamp task, in the same key space as the sources' names.
pub(super) const TIMESTAMP_LEASE: &str = "@capture-log-timestamps";

/// The lease name of the screenshot task.
pub(super) const SCREENSHOT_LEASE: &str = "@page-screenshots";

/// How long the screenshot task waits when no flagged page is waiting (as embedded mode's).
const SCREENSHOT_INTERVAL: Duration = Duration::from_secs(2);

impl ClusterNode {
    /// Runs `work` while this node holds lease `name`, until stopped: `work` says how long to
    /// wait before its next turn (the lease is renewed meanwhile). `task` names the work in
    /// logs.
    async fn leased<F, Fut>(
        &self,
        name: &str,
        task: &str,
        leases: Leases,
        stop: CancellationToken,
        mut work: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = Duration>,
    {
        let beat = leases.renew_every();
        let mut lease: Option<Lease> = None;
        let mut next_at = Instant::now();
        loop {
            if stop.is_cancelled() {
                break;
            }
            match lease.as_mut() {
                None => match leases.try_acquire(name).await {
                    Ok(Some(l)) => {
                        tracing::info!(node = %self.node(), lease = name, "lease taken: this node does the cluster's {task} now");
                        lease = Some(l);
                        next_at = Instant::now();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, lease = name, "cannot take the {task} lease; trying again")
                    }
                },
                Some(l) => {
                    if let Err(e) = leases.renew(l).await {
                        tracing::warn!(error = %e, lease = name, "{task} lease lost: another node does them");
                        lease = None;
                    }
                }
            }
            if lease.is_some() && Instant::now() >= next_at {
                let wait = tokio::select! {
                    _ = stop.cancelled() => break,
                    w = work() => w,
                };
                next_at = Instant::now() + wait;
            }
            let wait = beat.min(next_at.saturating_duration_since(Instant::now()));
            if sleep_or_stop(&stop, wait.max(Duration::from_millis(50))).await {
                break;
            }
        }
        if let Some(l) = lease {
            if let Err(e) = leases.release(l).await {
                tracing::warn!(error = %e, lease = name, "cannot release the {task} lease; it expires by itself");
            }
        }
    }

    /// Stamps the capture log's head while this node holds the timestamp lease, every
    /// `timestamp_interval` (sooner after a failure's back-off runs out), until stopped.
    pub(super) async fn timestamp_task(
        &self,
        ts: Arc<Timestamps>,
        leases: Leases,
        stop: CancellationToken,
    ) {
        // Consecutive failures, for the back-off (kept across turns).
        let failures = AtomicU32::new(0);
        // The gap is logged by each attempt; a web node reads no process-local gap here.
        let gap = |_: Option<String>| {};
        let (failures, gap, ts) = (&failures, &gap, &ts);
        self.leased(
            TIMESTAMP_LEASE,
            "timestamps",
            leases,
            stop,
            move || async move {
                let mut n = failures.load(Ordering::Relaxed);
                let wait = ts.attempt(&self.store, gap, &mut n).await;
                failures.store(n, Ordering::Relaxed);
                wait
            },
        )
        .await;
    }

    /// Screenshots flagged items' pages while this node holds the screenshot lease, a batch at
    /// a time, until stopped.
    pub(super) async fn screenshot_task(
        &self,
        shotter: Screenshotter,
        leases: Leases,
        stop: CancellationToken,
    ) {
        self.leased(SCREENSHOT_LEASE, "screenshots", leases, stop, || {
            let shotter = shotter.clone();
            async move {
                let taken = crate::on_blocking_pool(&self.store, move |store| {
                    Ok(shotter.run_pending(store, ballotwatch_evidence::screenshot::TASK_BATCH))
                })
                .await;
                let error = match taken {
                    Ok(Ok(0)) => return SCREENSHOT_INTERVAL,
                    Ok(Ok(n)) => {
                        tracing::info!(count = n, "screenshots of flagged items recorded");
                        return Duration::ZERO;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::error!(%error, "screenshot task: cannot read or record; retrying later");
                SCREENSHOT_INTERVAL
            }
        })
        .await;
    }
}
