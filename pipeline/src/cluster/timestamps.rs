//! Trusted timestamps of the cluster's capture log: the chain in PostgreSQL is one for every
//! node, so one node at a time stamps its head — the holder of the timestamp lease, taken and
//! renewed like a source's (see `ingest`). When that node dies another takes the lease within
//! one lease period and carries on from the newest untimestamped head. Each attempt is the
//! embedded task's ([`Timestamps::attempt`]): the same TSAs, verification, back-off and logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_cluster::lease::{Lease, Leases};
use tokio_util::sync::CancellationToken;

use super::{sleep_or_stop, ClusterNode};
use crate::timestamps::Timestamps;

/// The lease name of the timestamp task, in the same key space as the sources' names.
pub(super) const TIMESTAMP_LEASE: &str = "@capture-log-timestamps";

impl ClusterNode {
    /// Stamps the capture log's head while this node holds the timestamp lease, every
    /// `timestamp_interval` (sooner after a failure's back-off runs out), until stopped.
    pub(super) async fn timestamp_task(
        &self,
        ts: Arc<Timestamps>,
        leases: Leases,
        stop: CancellationToken,
    ) {
        let beat = leases.renew_every();
        let mut lease: Option<Lease> = None;
        let mut failures = 0u32;
        let mut next_at = Instant::now();
        // The gap is logged by each attempt; a web node reads no process-local gap here.
        let gap = |_: Option<String>| {};
        loop {
            if stop.is_cancelled() {
                break;
            }
            match lease.as_mut() {
                None => match leases.try_acquire(TIMESTAMP_LEASE).await {
                    Ok(Some(l)) => {
                        tracing::info!(node = %self.node(), "timestamp lease taken: this node timestamps the capture log now");
                        lease = Some(l);
                        next_at = Instant::now();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the timestamp lease; trying again")
                    }
                },
                Some(l) => {
                    if let Err(e) = leases.renew(l).await {
                        tracing::warn!(error = %e, "timestamp lease lost: another node timestamps the capture log");
                        lease = None;
                    }
                }
            }
            if lease.is_some() && Instant::now() >= next_at {
                let wait = tokio::select! {
                    _ = stop.cancelled() => break,
                    w = ts.attempt(&self.store, &gap, &mut failures) => w,
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
                tracing::warn!(error = %e, "cannot release the timestamp lease; it expires by itself");
            }
        }
    }
}
