//! Work distribution between stages: one durable JetStream stream per stage (work-queue
//! retention: a message is removed once acknowledged), one durable pull consumer per stage that
//! every worker of the stage shares, explicit acknowledgement after the store commit, and dead
//! letters.
//!
//! - **Publishing** carries a `Nats-Msg-Id` of the item id and version, so an item published
//!   twice (a retry after a lost publish ack, two nodes noticing the same change) is queued once
//!   within the stream's de-duplication window ([`DUPLICATE_WINDOW`]). A publish that fails
//!   while NATS is away is retried until [`WorkQueue::with_publish_retry`]'s limit.
//! - **Consuming**: [`Worker::next_batch`] hands out up to N deliveries. Each must be
//!   [`ack`](Delivery::ack)ed after the caller's store commit, [`nak`](Delivery::nak)ed with a
//!   delay on a transient failure, or [`reject`](Delivery::reject)ed; long work calls
//!   [`in_progress`](Delivery::in_progress) to keep it. A delivery neither acked nor nacked
//!   within `ack_wait` (the worker died) is redelivered, to any worker. At most
//!   `max_ack_pending` deliveries are out at once across the stage's workers: back-pressure.
//! - **Dead letters**: a delivery that fails on its `max_deliver`th attempt, or is rejected, is
//!   published with its reason to `<prefix>.dead.<stage>`. A worker that dies on every attempt
//!   never says why; JetStream then emits a MAX_DELIVERIES advisory, which a stream captures and
//!   [`DeadLetterMonitor`] turns into a dead letter. [`DeadLetters`] hands them to the pipeline,
//!   which writes a quarantine entry and acknowledges them.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::message::PublishMessage as Publish;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::{Cluster, ClusterError, Stage, StageSettings};

/// How long a published message id is remembered for de-duplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// The most of an undecodable payload kept in its dead letter.
const MAX_RAW_KEPT: usize = 4096;

/// The name of each stage's shared durable consumer.
const WORKERS: &str = "workers";

mod dead;
pub use dead::{DeadLetterDelivery, DeadLetterMonitor, DeadLetters};

/// A message a stage's queue carries: small (ids, never the data the store holds) and with an
/// id that is the same whenever the same work is published again.
pub trait WorkMessage: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The de-duplication id (`Nats-Msg-Id`): equal for equal work.
    fn dedup_id(&self) -> String;
}

/// An item at a version: what the classify and decide stages receive. The store holds the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    /// The item's id.
    pub item_id: String,
    /// The item's version (a changed item is work again).
    pub version: u64,
}

impl ItemRef {
    /// `item_id` at `version`.
    pub fn new(item_id: impl Into<String>, version: u64) -> ItemRef {
        ItemRef {
            item_id: item_id.into(),
            version,
        }
    }
}

impl WorkMessage for ItemRef {
    fn dedup_id(&self) -> String {
        format!("{}@{}", self.item_id, self.version)
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The stream sequence the message has (the original's, for a duplicate).
    pub sequence: u64,
    /// Whether the message was already queued (same id within the window) and so dropped.
    pub duplicate: bool,
}

/// A message that could not be processed, with why: the pipeline turns it into a quarantine
/// entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The stage whose queue gave up on it (`classify`, `decide`, `index_feed`).
    pub stage: String,
    /// Its sequence in the stage's stream.
    pub stream_sequence: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// Why it was given up on.
    pub reason: String,
    /// The message as published (JSON), or its first bytes as text if it was not JSON.
    pub message: serde_json::Value,
    /// The node that gave up on it (absent when JetStream's advisory reported it).
    #[serde(default)]
    pub node: Option<String>,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A payload as JSON, or its first bytes as text.
fn payload_value(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload).unwrap_or_else(|_| {
        let end = payload.len().min(MAX_RAW_KEPT);
        serde_json::Value::String(String::from_utf8_lossy(&payload[..end]).into_owned())
    })
}

/// What the queues of every stage share: the stage streams' names and the dead letters'.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub stream: String,
    pub subject: String,
    pub dead_subject: String,
}

impl Cluster {
    fn names(&self, stage: Stage) -> Names {
        Names {
            stream: self.stream_name(&stage.name().to_uppercase()),
            subject: match stage {
                Stage::IndexFeed => self.subject("index"),
                s => self.subject(&format!("work.{}", s.name())),
            },
            dead_subject: self.subject(&format!("dead.{}", stage.name())),
        }
    }

    fn storage_config(&self, name: String, subjects: Vec<String>) -> stream::Config {
        stream::Config {
            name,
            subjects,
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            ..Default::default()
        }
    }

    /// Creates (or updates to this configuration) the dead-letter stream and the stream that
    /// captures JetStream's MAX_DELIVERIES advisories for every stage.
    pub(crate) async fn ensure_dead_letter_streams(&self) -> Result<(), ClusterError> {
        let dead = stream::Config {
            retention: RetentionPolicy::WorkQueue,
            duplicate_window: DUPLICATE_WINDOW,
            ..self.storage_config(self.stream_name("DEAD"), vec![self.subject("dead.>")])
        };
        let advisories = stream::Config {
            retention: RetentionPolicy::WorkQueue,
            ..self.storage_config(
                self.stream_name("ADVISORY"),
                Stage::ALL
                    .iter()
                    .map(|s| {
                        format!(
                            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
                            self.names(*s).stream
                        )
                    })
                    .collect(),
            )
        };
        for config in [dead, advisories] {
            let name = config.name.clone();
            self.js
                .create_or_update_stream(config)
                .await
                .map_err(|e| ClusterError::nats(format!("create stream {name}"), e))?;
        }
        Ok(())
    }

    /// The queue of `stage` (`Classify` or `Decide`), creating its stream and the dead-letter
    /// streams if they do not exist.
    #[tracing::instrument(skip(self))]
    pub async fn work_queue<T: WorkMessage>(
        &self,
        stage: Stage,
    ) -> Result<WorkQueue<T>, ClusterError> {
        self.work_queue_with(stage, |c| c).await
    }

    /// A stage's queue whose stream configuration `adjust` changes (the index feed keeps
    /// messages for every replica instead of removing them once acknowledged).
    pub(crate) async fn work_queue_with<T: WorkMessage>(
        &self,
        stage: Stage,
        adjust: impl FnOnce(stream::Config) -> stream::Config,
    ) -> Result<WorkQueue<T>, ClusterError> {
        let names = self.names(stage);
        let config = adjust(stream::Config {
            retention: RetentionPolicy::WorkQueue,
            duplicate_window: DUPLICATE_WINDOW,
            ..self.storage_config(names.stream.clone(), vec![names.subject.clone()])
        });
        let work_queue = config.retention == RetentionPolicy::WorkQueue;
        let stream = create_stream(&self.js, config).await?;
        self.ensure_dead_letter_streams().await?;
        Ok(WorkQueue {
            shared: Arc::new(Shared {
                cluster: self.clone(),
                stage,
                names,
                settings: self.settings(stage),
                work_queue,
            }),
            stream,
            retry_for: Duration::from_secs(60),
            _message: PhantomData,
        })
    }

    /// The dead letters of every stage, for the pipeline's quarantine.
    pub async fn dead_letters(&self) -> Result<DeadLetters, ClusterError> {
        self.ensure_dead_letter_streams().await?;
        let name = self.stream_name("DEAD");
        let stream = get_stream(&self.js, &name).await?;
        let consumer = durable(
            &stream,
            pull::Config {
                durable_name: Some("quarantine".to_string()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;
        Ok(DeadLetters { consumer })
    }

    /// The processor of MAX_DELIVERIES advisories. Run one (or more: they share the work) on
    /// any node; advisories wait in their stream while none runs.
    pub async fn dead_letter_monitor(&self) -> Result<DeadLetterMonitor, ClusterError> {
        self.ensure_dead_letter_streams().await?;
        let stream = get_stream(&self.js, &self.stream_name("ADVISORY")).await?;
        let consumer = durable(
            &stream,
            pull::Config {
                durable_name: Some("dead-letters".to_string()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;
        Ok(DeadLetterMonitor {
            cluster: self.clone(),
            consumer,
        })
    }
}

pub(crate) async fn create_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, ClusterError> {
    let name = config.name.clone();
    js.create_or_update_stream(config)
        .await
        .map_err(|e| ClusterError::nats(format!("create stream {name}"), e))?;
    get_stream(js, &name).await
}

pub(crate) async fn get_stream(
    js: &jetstream::Context,
    name: &str,
) -> Result<stream::Stream, ClusterError> {
    js.get_stream(name)
        .await
        .map_err(|e| ClusterError::nats(format!("open stream {name}"), e))
}

/// Creates the durable consumer; a consumer that exists with other settings is updated to
/// these (the server applies a changed `ack_wait`, `max_deliver` or `max_ack_pending`).
pub(crate) async fn durable(
    stream: &stream::Stream,
    config: pull::Config,
) -> Result<PullConsumer, ClusterError> {
    let name = config.durable_name.clone().unwrap_or_default();
    stream
        .create_consumer(config)
        .await
        .map_err(|e| ClusterError::nats(format!("create consumer {name}"), e))
}

/// What a queue's publishers, workers and deliveries share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cluster: Cluster,
    pub stage: Stage,
    pub names: Names,
    pub settings: StageSettings,
    /// Whether the stage's stream removes acknowledged messages (a dead letter then removes
    /// its message too); the index feed keeps them for every replica.
    pub work_queue: bool,
}

impl Shared {
    /// Publishes a dead letter (de-duplicated per stream sequence, so the explicit path and
    /// the advisory path cannot both file one).
    pub(crate) async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), ClusterError> {
        let payload = serde_json::to_vec(letter).map_err(|source| ClusterError::Encode {
            what: "dead letter",
            source,
        })?;
        let id = format!("{}-{}", self.stage.name(), letter.stream_sequence);
        let ack = self
            .cluster
            .js
            .send_publish(
                self.names.dead_subject.clone(),
                Publish::build().payload(payload.into()).message_id(id),
            )
            .await
            .map_err(|e| ClusterError::nats("publish dead letter", e))?;
        ack.await
            .map_err(|e| ClusterError::nats("publish dead letter", e))?;
        warn!(stage = %self.stage, seq = letter.stream_sequence, deliveries = letter.deliveries,
              reason = %letter.reason, "dead letter");
        Ok(())
    }
}

/// A stage's queue: publish work to it, and make workers that take work from it.
#[derive(Debug)]
pub struct WorkQueue<T> {
    shared: Arc<Shared>,
    stream: stream::Stream,
    retry_for: Duration,
    _message: PhantomData<fn() -> T>,
}

impl<T: WorkMessage> WorkQueue<T> {
    /// How long a publish keeps retrying while NATS is unreachable (default 60 s).
    pub fn with_publish_retry(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        self.shared.stage
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.shared.names.stream
    }

    /// Queues `message` once: a message with the same [`WorkMessage::dedup_id`] published within
    /// [`DUPLICATE_WINDOW`] is dropped (and reported as a duplicate). Retried with back-off while
    /// NATS is unreachable, for up to the publish retry limit.
    #[tracing::instrument(skip_all, fields(stage = %self.shared.stage))]
    pub async fn publish(&self, message: &T) -> Result<Published, ClusterError> {
        let payload: bytes::Bytes = serde_json::to_vec(message)
            .map_err(|source| ClusterError::Encode {
                what: "work",
                source,
            })?
            .into();
        let id = message.dedup_id();
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let attempt = async {
                let ack = self
                    .shared
                    .cluster
                    .js
                    .send_publish(
                        self.shared.names.subject.clone(),
                        Publish::build().payload(payload.clone()).message_id(&id),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                ack.await.map_err(|e| e.to_string())
            };
            match attempt.await {
                Ok(ack) => {
                    return Ok(Published {
                        sequence: ack.sequence,
                        duplicate: ack.duplicate,
                    })
                }
                Err(e) if started.elapsed() < self.retry_for => {
                    debug!(error = %e, "publish failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    return Err(ClusterError::nats(
                        format!("publish to {}", self.shared.names.subject),
                        e,
                    ))
                }
            }
        }
    }

    /// Messages waiting in the queue or out with workers (not yet acknowledged).
    pub async fn len(&self) -> Result<u64, ClusterError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| ClusterError::nats("stream info", e))?;
        Ok(info.state.messages)
    }

    /// Whether nothing is waiting or out with workers.
    pub async fn is_empty(&self) -> Result<bool, ClusterError> {
        Ok(self.len().await? == 0)
    }

    /// A worker of this stage. All workers of a stage, on every node, share one durable
    /// consumer: each message goes to one of them at a time.
    pub async fn worker(&self) -> Result<Worker<T>, ClusterError> {
        let s = &self.shared.settings;
        let consumer = durable(
            &self.stream,
            pull::Config {
                durable_name: Some(WORKERS.to_string()),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: s.ack_wait,
                max_deliver: i64::from(s.max_deliver),
                max_ack_pending: i64::from(s.max_ack_pending),
                ..Default::default()
            },
        )
        .await?;
        Ok(Worker {
            shared: self.shared.clone(),
            consumer,
            _message: PhantomData,
        })
    }
}

/// Takes work from a stage's queue.
#[derive(Debug)]
pub struct Worker<T> {
    shared: Arc<Shared>,
    consumer: PullConsumer,
    _message: PhantomData<fn() -> T>,
}

impl<T: WorkMessage> Worker<T> {
    pub(crate) fn new(shared: Arc<Shared>, consumer: PullConsumer) -> Worker<T> {
        Worker {
            shared,
            consumer,
            _message: PhantomData,
        }
    }

    /// Up to `max` deliveries, waiting up to `wait` for the first. Empty when nothing came
    /// (or NATS was unreachable the whole time: the next call tries again). A message that is
    /// not a `T` goes straight to the dead letters.
    #[tracing::instrument(skip(self), fields(stage = %self.shared.stage))]
    pub async fn next_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<T>>, ClusterError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let started = Instant::now();
            let messages = fetch(&self.consumer, max, left).await?;
            let mut out = Vec::with_capacity(messages.len());
            for m in messages {
                if let Some(d) = self.delivery(m).await? {
                    out.push(d);
                }
            }
            if !out.is_empty() || Instant::now() >= deadline {
                return Ok(out);
            }
            // A fetch that came back empty at once: NATS is away; try again shortly.
            if started.elapsed() < Duration::from_millis(50) {
                tokio::time::sleep(Duration::from_millis(200).min(left)).await;
            }
        }
    }

    async fn delivery(&self, message: Message) -> Result<Option<Delivery<T>>, ClusterError> {
        let (seq, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered.max(1) as u64),
            Err(e) => {
                warn!(error = %e, "a delivery without JetStream metadata; skipped");
                return Ok(None);
            }
        };
        match serde_json::from_slice::<T>(&message.payload) {
            Ok(value) => Ok(Some(Delivery {
                shared: self.shared.clone(),
                message,
                value,
                seq,
                delivered,
            })),
            Err(e) => {
                let letter = DeadLetter {
                    stage: self.shared.stage.name().to_string(),
                    stream_sequence: seq,
                    deliveries: delivered,
                    reason: format!("the message cannot be decoded: {e}"),
                    message: payload_value(&message.payload),
                    node: Some(self.shared.cluster.node.clone()),
                    at_unix_ms: now_ms(),
                };
                self.shared.dead_letter(&letter).await?;
                message
                    .double_ack()
                    .await
                    .map_err(|e| ClusterError::nats("ack", e))?;
                Ok(None)
            }
        }
    }
}

/// One message handed to a worker. Acknowledge it after the store commit of its result; a
/// delivery dropped without any answer is redelivered after `ack_wait`.
#[derive(Debug)]
pub struct Delivery<T> {
    shared: Arc<Shared>,
    message: Message,
    value: T,
    seq: u64,
    delivered: u64,
}

impl<T: WorkMessage> Delivery<T> {
    /// The message.
    pub fn message(&self) -> &T {
        &self.value
    }

    /// Its sequence in the stage's stream (its position, for the index feed).
    pub fn stream_sequence(&self) -> u64 {
        self.seq
    }

    /// Which delivery this is (1 the first time).
    pub fn attempt(&self) -> u64 {
        self.delivered
    }

    /// Whether this is the last delivery before the dead letters.
    pub fn is_last_attempt(&self) -> bool {
        self.delivered >= u64::from(self.shared.settings.max_deliver)
    }

    /// Done: the result is committed. Waits for the server to confirm, so an `Ok` means the
    /// message will not come back.
    pub async fn ack(self) -> Result<(), ClusterError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| ClusterError::nats(format!("ack {} #{}", self.shared.stage, self.seq), e))
    }

    /// Not now: a transient failure. Redelivered after `delay`; on the last attempt, goes to
    /// the dead letters with `reason` instead.
    pub async fn nak(self, delay: Duration, reason: &str) -> Result<(), ClusterError> {
        if self.is_last_attempt() {
            let reason = format!(
                "failed on all {} attempts; last: {reason}",
                self.shared.settings.max_deliver
            );
            return self.reject(&reason).await;
        }
        debug!(stage = %self.shared.stage, seq = self.seq, reason, "nak");
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| ClusterError::nats("nak", e))
    }

    /// Still working: restarts this delivery's `ack_wait`.
    pub async fn in_progress(&self) -> Result<(), ClusterError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| ClusterError::nats("in-progress", e))
    }

    /// Never: the message goes to the dead letters with `reason` now.
    pub async fn reject(self, reason: &str) -> Result<(), ClusterError> {
        let letter = DeadLetter {
            stage: self.shared.stage.name().to_string(),
            stream_sequence: self.seq,
            deliveries: self.delivered,
            reason: reason.to_string(),
            message: payload_value(&self.message.payload),
            node: Some(self.shared.cluster.node.clone()),
            at_unix_ms: now_ms(),
        };
        self.shared.dead_letter(&letter).await?;
        if self.shared.work_queue {
            self.message
                .double_ack()
                .await
                .map_err(|e| ClusterError::nats("ack", e))
        } else {
            self.message
                .ack_with(AckKind::Term)
                .await
                .map_err(|e| ClusterError::nats("term", e))
        }
    }
}

/// One fetch: up to `max` messages within `wait` (empty when none came or NATS was away).
pub(crate) async fn fetch(
    consumer: &PullConsumer,
    max: usize,
    wait: Duration,
) -> Result<Vec<Message>, ClusterError> {
    let wait = wait.max(Duration::from_millis(100));
    let got = tokio::time::timeout(wait + Duration::from_secs(2), async {
        let mut batch = consumer
            .fetch()
            .max_messages(max.max(1))
            .expires(wait)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => got.push(m),
                Err(e) if got.is_empty() => return Err(e.to_string()),
                Err(_) => break,
            }
        }
        Ok(got)
    })
    .await;
    match got {
        Ok(Ok(got)) => Ok(got),
        Ok(Err(e)) => {
            debug!(error = %e, "fetch failed");
            Ok(Vec::new())
        }
        Err(_) => Ok(Vec::new()),
    }
}
