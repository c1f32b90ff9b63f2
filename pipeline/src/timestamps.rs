//! Trusted timestamps of the capture log (`[evidence] tsa_urls`).
//!
//! Every poll logs its captures in the store's capture log (a hash chain) in the transaction
//! that records them. This task asks the configured RFC 3161 TSAs to timestamp the chain's
//! newest head: every `timestamp_interval` while entries wait, at once when an item is flagged,
//! and once at the end of [`Pipeline::run_once`]. A token is recorded only when it verifies
//! against `tsa_roots`; one token covers every entry up to its head.
//!
//! The task runs on its own (tokio task, store work on the blocking pool), so a TSA that is
//! slow or down never holds up ingest: failures are logged and retried with exponential
//! back-off (from [`FIRST_RETRY`], doubling, capped at `timestamp_interval` and
//! [`MAX_RETRY`]), and the entries wait in the log until a TSA answers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ballotwatch_evidence::timestamp::TsaClient;
use ballotwatch_store::{LogEntry, NewTimestampToken, PipelineStore};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{on_blocking_pool, Config, Pipeline, PipelineError, Result};

/// The first retry after a failed timestamp.
pub const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between retries (also bounded by `timestamp_interval`).
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// A token recorded for the capture log's head.
#[derive(Debug, Clone)]
pub struct StampedHead {
    /// The entry whose head was timestamped (every entry up to it is covered).
    pub seq: i64,
    /// That head (hex).
    pub head: String,
    /// The TSA that gave the token.
    pub tsa_url: String,
    /// The TSA's name (the token's `tsa` field, else its certificate's subject).
    pub tsa_name: String,
    /// The TSA's time.
    pub gen_time: DateTime<Utc>,
    /// How long asking the TSA took (request, answer and verification).
    pub elapsed: Duration,
}

/// How the timestamp task is doing, for health pages.
#[derive(Debug, Clone, Default)]
pub struct TimestampHealth {
    /// When the last token was recorded by this process.
    pub last_token_at: Option<DateTime<Utc>>,
    /// The last failure, when the last attempt failed.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// When the oldest entry still waiting for a token was logged (our clock); `None` when
    /// the head is timestamped.
    pub waiting_since: Option<DateTime<Utc>>,
}

/// The timestamp task's setup and state.
pub(crate) struct Timestamps {
    client: TsaClient,
    interval: Duration,
    /// Notified when an item is flagged: timestamp at once.
    pub(crate) wake: Notify,
    health: Mutex<TimestampHealth>,
}

impl Timestamps {
    /// `None` when `[evidence] tsa_urls` is empty; an error when the roots cannot be read.
    pub(crate) fn from_config(config: &Config) -> Result<Option<Timestamps>> {
        let ev = &config.evidence;
        if !ev.timestamps_enabled() {
            return Ok(None);
        }
        let client = TsaClient::new(&ev.tsa_urls, &ev.tsa_roots)
            .map_err(|e| PipelineError::TimestampSetup(Box::new(e)))?;
        Ok(Some(Timestamps {
            client,
            interval: ev.timestamp_interval,
            wake: Notify::new(),
            health: Mutex::new(TimestampHealth::default()),
        }))
    }

    fn health(&self) -> std::sync::MutexGuard<'_, TimestampHealth> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wait before retry number `failures` (1, 2, …): [`FIRST_RETRY`] doubled each time,
/// capped at `interval` and [`MAX_RETRY`].
pub fn retry_delay(failures: u32, interval: Duration) -> Duration {
    let cap = interval.min(MAX_RETRY);
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(factor).min(cap)
}

/// Told why capture log entries are waiting for a trusted timestamp (`None`: nothing waits),
/// for the health pages of the process that timestamps.
pub(crate) type GapReport<'a> = &'a (dyn Fn(Option<String>) + Send + Sync);

impl Timestamps {
    /// Timestamps the capture log's newest head in `store` when entries wait for one: asks the
    /// TSAs in turn, verifies the token against `tsa_roots` and records it. `Ok(None)` when
    /// nothing waits.
    pub(crate) async fn timestamp_head(
        &self,
        store: &Arc<dyn PipelineStore>,
        gap: GapReport<'_>,
    ) -> Result<Option<StampedHead>> {
        let (head, oldest) = on_blocking_pool(store, |store| {
            let head = store.untimestamped_heads(1)?.into_iter().next();
            Ok((head, store.oldest_untimestamped()?))
        })
        .await?;
        let (Some(head), Some(oldest)) = (head, oldest) else {
            self.health().waiting_since = None;
            gap(None);
            return Ok(None);
        };
        self.health().waiting_since = Some(oldest.logged_at);
        let waiting = usize::try_from(head.seq - oldest.seq + 1).unwrap_or(0);
        let outcome = self.stamp(store, head, waiting).await;
        let mut health = self.health();
        match &outcome {
            Ok(stamped) => {
                health.last_token_at = Some(Utc::now());
                health.last_error = None;
                health.consecutive_failures = 0;
                health.waiting_since = None;
                gap(None);
                tracing::info!(seq = stamped.seq, tsa = %stamped.tsa_name, url = %stamped.tsa_url, gen_time = %stamped.gen_time, elapsed_ms = stamped.elapsed.as_millis() as u64, entries = waiting, "capture log head timestamped");
            }
            Err(e) => {
                let error = crate::full_message(e);
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                gap(Some(format!(
                    "{waiting} capture log entr{} waiting since {} (this server's clock): the \
                     last {} attempt{} failed: {error}; ingest goes on, and they are timestamped \
                     once a TSA answers",
                    if waiting == 1 { "y is" } else { "ies are" },
                    oldest.logged_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    health.consecutive_failures,
                    if health.consecutive_failures == 1 {
                        ""
                    } else {
                        "s"
                    },
                )));
                health.last_error = Some(error);
            }
        }
        outcome.map(Some)
    }

    async fn stamp(
        &self,
        store: &Arc<dyn PipelineStore>,
        head: LogEntry,
        waiting: usize,
    ) -> Result<StampedHead> {
        let sha = head.head_bytes().ok_or_else(|| {
            PipelineError::Inconsistent(format!(
                "capture log entry {} has head `{}`, not a SHA-256",
                head.seq, head.head
            ))
        })?;
        tracing::debug!(
            seq = head.seq,
            waiting,
            "asking a TSA to timestamp the capture log head"
        );
        let started = Instant::now();
        let (stamp, verified) = self
            .client
            .stamp(&sha)
            .await
            .map_err(|e| PipelineError::Timestamp(Box::new(e)))?;
        let elapsed = started.elapsed();
        let token = NewTimestampToken {
            seq: head.seq,
            head: head.head.clone(),
            tsa_url: stamp.url.clone(),
            token: stamp.token,
            gen_time: verified.gen_time,
            requested_at: stamp.requested_at,
        };
        on_blocking_pool(
            store,
            move |store| Ok(store.record_timestamp_token(&token)?),
        )
        .await?;
        Ok(StampedHead {
            seq: head.seq,
            head: head.head,
            tsa_url: stamp.url,
            tsa_name: verified.tsa_name,
            gen_time: verified.gen_time,
            elapsed,
        })
    }

    /// One attempt of the timestamp task; returns how long to wait before the next one:
    /// `timestamp_interval`, or after `failures` failures in a row (counted here) the back-off
    /// of [`retry_delay`]. Never fails: TSA and store errors are logged.
    pub(crate) async fn attempt(
        &self,
        store: &Arc<dyn PipelineStore>,
        gap: GapReport<'_>,
        failures: &mut u32,
    ) -> Duration {
        match self.timestamp_head(store, gap).await {
            Ok(_) => {
                if *failures > 0 {
                    tracing::info!(failed_attempts = *failures, "trusted timestamps work again");
                }
                *failures = 0;
                self.interval
            }
            Err(e) => {
                *failures = failures.saturating_add(1);
                let wait = retry_delay(*failures, self.interval);
                tracing::warn!(error = %crate::full_message(&e), failures = *failures, retry_in_s = wait.as_secs(), "trusted timestamp failed; the capture log waits (ingest goes on)");
                wait
            }
        }
    }
}

impl Pipeline {
    /// Timestamps the capture log's newest head when entries wait for one (see
    /// [`Timestamps::timestamp_head`]). `Ok(None)` when trusted timestamps are off or nothing
    /// waits.
    pub async fn timestamp_head(&self) -> Result<Option<StampedHead>> {
        let Some(ts) = self.timestamps.as_ref() else {
            return Ok(None);
        };
        let store = self.store.clone();
        ts.timestamp_head(&self.shared_store(), &move |g| store.set_timestamp_gap(g))
            .await
    }

    /// How the timestamp task is doing; `None` when trusted timestamps are off. The gap is
    /// `waiting_since` (entries waiting for a token since then) against `last_token_at`.
    pub fn timestamp_health(&self) -> Option<TimestampHealth> {
        self.timestamps.as_ref().map(|ts| ts.health().clone())
    }

    /// Asks for an immediate timestamp (an item was flagged, a screenshot recorded); nothing
    /// when timestamps are off.
    pub fn timestamp_soon(&self) {
        if let Some(ts) = &self.timestamps {
            ts.wake.notify_one();
        }
    }

    /// The timestamp task of `serve`: never fails (TSA and store errors are logged and
    /// retried), so it never stops the pipeline.
    pub(crate) async fn timestamp_loop(&self, stop: CancellationToken) {
        let Some(ts) = self.timestamps.as_ref() else {
            return;
        };
        let shared = self.shared_store();
        let store = self.store.clone();
        let gap = move |g| store.set_timestamp_gap(g);
        let mut failures = 0u32;
        loop {
            let wait = tokio::select! {
                _ = stop.cancelled() => return,
                w = ts.attempt(&shared, &gap, &mut failures) => w,
            };
            // While retrying, a flagged item does not cut the back-off short.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = ts.wake.notified(), if failures == 0 => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_are_capped() {
        let ten_min = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=10)
            .map(|n| retry_delay(n, ten_min).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(
            retry_delay(5, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(retry_delay(u32::MAX, ten_min), MAX_RETRY);
    }
}
