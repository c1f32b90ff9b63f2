//! Per-host politeness: a concurrency cap and a minimum gap between request starts.
//!
//! Every request to a host first takes one of `per_host_concurrency` permits for that host
//! (a tokio [`Semaphore`] per host, kept in a `Mutex<HashMap>`), then waits its turn at the
//! host's start gate so that two requests to one host never start less than
//! `politeness_delay` apart. Waiters are served first come, first served (tokio's semaphore
//! and mutex are fair). Hosts are keyed by lower-cased host name (or IP literal), without port.
//! The limits apply to the host of the URL requested; a redirect to another host is followed
//! within the same slot rather than taking one of that host's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Hosts remembered before idle ones are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// One host's permits and start gate.
#[derive(Debug)]
struct HostState {
    permits: Arc<Semaphore>,
    /// The earliest instant the next request may start.
    next_start: AsyncMutex<Option<Instant>>,
}

/// Limits concurrency and start rate per host. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct HostLimiter {
    per_host: usize,
    delay: Duration,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
}

/// Held while a request to a host is in flight; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct HostSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostLimiter {
    /// `per_host` is raised to 1 when 0 (a zero limit would block every request forever).
    pub fn new(per_host: usize, delay: Duration) -> HostLimiter {
        HostLimiter {
            per_host: per_host.clamp(1, Semaphore::MAX_PERMITS),
            delay,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self, host: &str) -> Arc<HostState> {
        let key = host.to_ascii_lowercase();
        // The map holds no invariant a panic could break half-way, so a poisoned lock is usable.
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        if hosts.len() > PRUNE_ABOVE {
            let now = Instant::now();
            hosts.retain(|_, st| {
                // In flight (a permit is out) or about to be (someone holds the state).
                let busy =
                    st.permits.available_permits() < self.per_host || Arc::strong_count(st) > 1;
                let gated = st
                    .next_start
                    .try_lock()
                    .map(|t| t.is_some_and(|t| t > now))
                    .unwrap_or(true);
                busy || gated
            });
        }
        hosts
            .entry(key)
            .or_insert_with(|| {
                Arc::new(HostState {
                    permits: Arc::new(Semaphore::new(self.per_host)),
                    next_start: AsyncMutex::new(None),
                })
            })
            .clone()
    }

    /// Waits for a free slot for `host` and for its politeness gap, then returns the slot.
    pub async fn acquire(&self, host: &str) -> HostSlot {
        let state = self.state(host);
        // `acquire_owned` only fails on a closed semaphore, and these are never closed.
        let permit = state.permits.clone().acquire_owned().await.ok();
        let mut next = state.next_start.lock().await;
        if let Some(at) = *next {
            tokio::time::sleep_until(at).await;
        }
        *next = Some(Instant::now() + self.delay);
        drop(next);
        HostSlot { _permit: permit }
    }

    /// Number of hosts currently remembered (for tests and metrics).
    #[cfg(test)]
    pub fn host_count(&self) -> usize {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_delay() {
        let lim = Arc::new(HostLimiter::new(4, Duration::from_secs(2)));
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..3 {
            let _slot = lim.acquire("News.Example").await;
            starts.push(t0.elapsed());
        }
        assert_eq!(
            starts,
            [
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
        // A different host is not delayed by the first one.
        let before = Instant::now();
        let _other = lim.acquire("other.example").await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        assert_eq!(lim.host_count(), 2);
    }

    #[tokio::test]
    async fn concurrency_is_capped_per_host() {
        let lim = Arc::new(HostLimiter::new(2, Duration::ZERO));
        let a = lim.acquire("a.example").await;
        let _b = lim.acquire("a.example").await;
        let third = tokio::time::timeout(Duration::from_millis(50), lim.acquire("a.example")).await;
        assert!(third.is_err(), "a third slot must wait");
        drop(a);
        let third =
            tokio::time::timeout(Duration::from_millis(500), lim.acquire("a.example")).await;
        assert!(third.is_ok(), "a freed slot is reused");
    }

    #[tokio::test]
    async fn idle_hosts_are_forgotten_but_busy_ones_kept() {
        let lim = HostLimiter::new(1, Duration::ZERO);
        let busy = lim.acquire("busy.example").await;
        for i in 0..PRUNE_ABOVE + 50 {
            drop(lim.acquire(&format!("h{i}.example")).await);
        }
        assert!(lim.host_count() < PRUNE_ABOVE, "{}", lim.host_count());
        // The busy host's state survived: its only slot is still taken.
        let second =
            tokio::time::timeout(Duration::from_millis(50), lim.acquire("busy.example")).await;
        assert!(second.is_err(), "the busy host's limit was lost in pruning");
        drop(busy);
    }

    #[test]
    fn zero_limit_is_raised_to_one() {
        let lim = HostLimiter::new(0, Duration::ZERO);
        assert_eq!(lim.per_host, 1);
    }
}
