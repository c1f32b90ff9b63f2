//! Delivery: the outbox sender, which hands each due message to the channel its row names
//! ([`crate::channels`]) with retries, exponential backoff with jitter and dead-lettering, and
//! the digest scheduler.
//!
//! Exactly once: a message is marked `sending` before it is handed to the server and `sent`
//! (with `accepted_at`) straight after the server accepted it (SMTP `250` after `DATA`, or a
//! webhook's 2xx). A crash inside that window — after the server accepted, before `sent` was
//! committed — is the only way a message goes twice; the copy carries the same `Message-ID`
//! (and webhook idempotency key header), so receivers can drop it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::{AlertMode, AlertRule, AlertsConfig, OnUpdate};
use ballotwatch_store::{DigestEntry, NewOutbox, OutboxKind, OutboxRow, PipelineStore, Store};
use chrono::{DateTime, Utc};
use rand::RngExt;

use crate::channels::{destinations, ChannelError, Channels, Outgoing};
use crate::decide::{digest_slot, AlertView, Payload};
use crate::time::Zone;
use crate::AlertError;

/// Delivers outbox messages and closes digests.
#[derive(Debug)]
pub struct Sender {
    channels: Channels,
    retry_initial: Duration,
    retry_max: Duration,
    dead_after: Duration,
    digests: Vec<AlertRule>,
    /// Per digest rule, the latest scheduled time known to be closed (by this process or, on a
    /// shared store, another node): until the next one comes, the store is not asked again.
    closed: Mutex<HashMap<String, DateTime<Utc>>>,
    zone: Zone,
}

impl Sender {
    /// Builds the channels from the configuration: reads `password_env` and `secret_env`
    /// variables and the CA file now, so a mistake stops start-up rather than an alert.
    pub fn new(a: &AlertsConfig) -> Result<Sender, AlertError> {
        Ok(Sender {
            channels: Channels::new(a)?,
            retry_initial: a.retry_initial,
            retry_max: a.retry_max,
            dead_after: a.dead_letter_after,
            digests: a
                .rules
                .iter()
                .filter(|r| r.mode == AlertMode::Digest || r.on_update == OnUpdate::Digest)
                .cloned()
                .collect(),
            closed: Mutex::default(),
            zone: a.timezone,
        })
    }

    /// Delay before attempt `attempts + 1`: `retry_initial` doubled per failure, capped at
    /// `retry_max`, then a random 50–100 % of it (jitter), so a recovering server is not hit by
    /// every sender at once.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .retry_initial
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)))
            .min(self.retry_max);
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Delivers every message that is due, channel by channel in queue order, until nothing is
    /// due; returns how many were delivered. A failing message holds back the later messages of
    /// its channel (so they arrive in order) and is retried with backoff.
    pub async fn deliver_due(&self, store: &Store) -> Result<usize, AlertError> {
        let mut delivered = 0;
        loop {
            let due = blocking(store, |s| s.outbox_due(Utc::now())).await?;
            if due.is_empty() {
                return Ok(delivered);
            }
            let mut progressed = false;
            for row in due {
                if self.deliver_one(store, &row).await? {
                    delivered += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(delivered);
            }
        }
    }

    /// One attempt at one message; `Ok(true)` when the server accepted it.
    async fn deliver_one(&self, store: &Store, row: &OutboxRow) -> Result<bool, AlertError> {
        let id = row.id;
        blocking(store, move |s| s.outbox_start(id)).await?;
        let shared: Arc<dyn PipelineStore> = Arc::new(store.clone());
        self.attempt(&shared, row).await
    }

    /// Delivers the messages this node claims from a shared store, until none is due; returns
    /// how many were delivered. Cluster mode's sender: [`PipelineStore::outbox_claim`] hands
    /// each message to one node only (PostgreSQL's `FOR UPDATE SKIP LOCKED`), so every message
    /// goes once however many nodes send, with the same retries, backoff and dead letters as
    /// [`Sender::deliver_due`].
    pub async fn deliver_claimed(
        &self,
        store: &Arc<dyn PipelineStore>,
    ) -> Result<usize, AlertError> {
        let mut delivered = 0;
        loop {
            let claimed = blocking_shared(store, |s| s.outbox_claim(Utc::now())).await?;
            if claimed.is_empty() {
                return Ok(delivered);
            }
            let mut progressed = false;
            for row in claimed {
                if self.attempt(store, &row).await? {
                    delivered += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(delivered);
            }
        }
    }

    /// Sends a message already marked `sending` and records the outcome.
    async fn attempt(
        &self,
        store: &Arc<dyn PipelineStore>,
        row: &OutboxRow,
    ) -> Result<bool, AlertError> {
        let id = row.id;
        match self.send(row).await {
            Ok(()) => {
                let at = Utc::now();
                blocking_shared(store, move |s| s.outbox_sent(id, at)).await?;
                tracing::info!(message = id, key = %row.idempotency_key, channel = %row.channel, attempts = row.attempts + 1, "alert delivered");
                Ok(true)
            }
            Err(f) => {
                let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
                let error = f.to_string();
                if !f.retry_can_help() || age >= self.dead_after {
                    tracing::error!(message = id, key = %row.idempotency_key, channel = %row.channel, error = %f, "alert dead-lettered: see `ballotwatch alerts status`");
                    blocking_shared(store, move |s| s.outbox_dead(id, &error)).await?;
                } else {
                    let delay = self.backoff(row.attempts + 1);
                    let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    tracing::warn!(message = id, channel = %row.channel, error = %f, retry_in = ?delay, "alert delivery failed; will retry");
                    blocking_shared(store, move |s| s.outbox_retry(id, &error, next)).await?;
                }
                Ok(false)
            }
        }
    }

    /// One attempt through the channel the row names.
    async fn send(&self, row: &OutboxRow) -> Result<(), ChannelError> {
        let payload: Payload = serde_json::from_value(row.payload.clone()).map_err(|e| {
            ChannelError::Permanent(format!("the queued message cannot be read: {e}"))
        })?;
        let message = Outgoing {
            idempotency_key: &row.idempotency_key,
            recipients: &row.recipients,
            payload: &payload,
        };
        self.channels.send(&row.channel, message).await
    }

    /// Closes every digest whose scheduled time has passed since it last went out; returns how
    /// many sightings went into digests. On a shared store (cluster mode) every alert node runs
    /// this: the store closes each scheduled digest once ([`PipelineStore::close_digest`]).
    pub async fn run_digests(
        &self,
        store: &Arc<dyn PipelineStore>,
        now: DateTime<Utc>,
    ) -> Result<usize, AlertError> {
        let mut taken = 0;
        for rule in &self.digests {
            let slot = digest_slot(rule, now, self.zone);
            if self.closed_slot(&rule.name).is_some_and(|c| c >= slot) {
                continue;
            }
            let rule = rule.clone();
            let name = rule.name.clone();
            taken += blocking_shared(store, move |s| {
                s.close_digest(&rule.name, slot, now, &mut |entries| {
                    digest_message(&rule, entries, now)
                })
            })
            .await?
            .unwrap_or(0);
            // Closed now, or found closed: either way this slot is done.
            self.closed_lock().insert(name, slot);
        }
        Ok(taken)
    }

    /// The latest scheduled time of `rule`'s digest known to be closed.
    fn closed_slot(&self, rule: &str) -> Option<DateTime<Utc>> {
        self.closed_lock().get(rule).copied()
    }

    fn closed_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.closed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The message of `rule`'s digest of `entries`, closed at `now`: to the rule's first channel
/// (its email recipients, or its first webhook when it has no recipients); `None` when the rule
/// has nowhere to send it.
fn digest_message(
    rule: &AlertRule,
    entries: &[DigestEntry],
    now: DateTime<Utc>,
) -> Option<NewOutbox> {
    let views: Vec<AlertView> = entries
        .iter()
        .filter_map(|e| serde_json::from_value(e.summary.clone()).ok())
        .collect();
    let payload = Payload::Digest {
        rule: rule.name.clone(),
        views,
    };
    let value = serde_json::to_value(&payload).ok()?;
    let first = destinations(&rule.to, &rule.webhooks).into_iter().next()?;
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    Some(NewOutbox {
        idempotency_key: format!("digest:{}:{stamp}:{}", rule.name, first.channel),
        channel: first.channel.to_string(),
        kind: OutboxKind::Digest,
        rule: rule.name.clone(),
        incident_id: None,
        recipients: first.recipients,
        payload: value,
        not_before: now,
    })
}

/// Runs store work on the blocking pool.
pub(crate) async fn blocking<T, F>(store: &Store, f: F) -> Result<T, AlertError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> ballotwatch_store::Result<T> + Send + 'static,
{
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| AlertError::Setup(format!("a store task failed: {e}")))??)
}

/// Runs work on a shared store on the blocking pool.
async fn blocking_shared<T, F>(store: &Arc<dyn PipelineStore>, f: F) -> Result<T, AlertError>
where
    T: Send + 'static,
    F: FnOnce(&dyn PipelineStore) -> ballotwatch_store::Result<T> + Send + 'static,
{
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| AlertError::Setup(format!("a store task failed: {e}")))??)
}

/// Shared handle for the serve loops.
pub type SharedSender = Arc<Sender>;
