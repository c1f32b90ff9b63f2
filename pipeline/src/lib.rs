//! Ballotwatch's pipeline: sources → capture → store → classify → decide → index, with media
//! capture, video frames, real-time streams, the known-fakes refresh and the poison-work
//! quarantine. `serve` runs it until stopped ([`Pipeline::run`]); `ingest --once` and
//! `demo --once` run one full cycle of it ([`Pipeline::run_once`]); the benchmarks and the
//! end-to-end tests drive the same code.
//!
//! The store is the queue between stages. Each stage reads its work from the store by stage
//! status and commits its result with the next status in one transaction, so a crash anywhere
//! means the stage redoes uncommitted work on restart and nothing is lost or doubled. Inside the
//! process, stages wake each other with [`Notify`] signals; the store rows are the (bounded,
//! durable) buffer between them, and each stage pulls fixed-size batches.
//!
//! # Example
//!
//! One cycle of `ingest --once` (the detectors need the models installed by `models/install`):
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("ballotwatch.toml");
//! std::fs::write(&path, "data_dir = \"data\"\n")?;
//! let config = ballotwatch_pipeline::Config::load(&path)?;
//! let pipeline = ballotwatch_pipeline::Pipeline::open(config)?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let cycle = runtime.block_on(pipeline.run_once(None))?;
//! assert!(cycle.polls.is_empty());
//! assert_eq!((cycle.sightings, cycle.delivered), (0, 0));
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballotwatch_alerting::{Decider, Sender};
use ballotwatch_classify::detectors::impersonation::domains::DomainDetector;
use ballotwatch_classify::detectors::impersonation::ProtectedIdentities;
use ballotwatch_classify::detectors::media::known_fakes::KnownFakeSet;
use ballotwatch_classify::{Classifier, ClassifyError};
use ballotwatch_core::{Item, WatchTerms};
use ballotwatch_index::{IndexDoc, IndexWriter, SearchIndex};
use ballotwatch_ingest::{
    build_source, schedule, Cursor, Fetcher, HostFilter, PollContext, Source, StreamUntil,
};
use ballotwatch_store::{PollRecord, Stage, Store, StoredItem};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub mod config;
mod disk;
mod error;
pub mod fakes;
mod media;
mod quarantine;
mod realtime;
pub mod reports;
mod timestamps;
mod video;

pub use config::Config;
pub use error::{full_message, PipelineError, Result};
pub use timestamps::{retry_delay, StampedHead, TimestampHealth};

/// Items taken from the store per classify batch.
const CLASSIFY_BATCH: usize = 256;
/// Items taken from the store per index batch.
const INDEX_BATCH: usize = 512;

/// Where the search index lives inside `data_dir`.
pub fn index_dir(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("index")
}

/// Adds (or replaces) the index documents of stored items; the caller commits.
pub fn upsert_all(writer: &mut IndexWriter, items: &[StoredItem]) -> Result<()> {
    for s in items {
        writer.upsert(&IndexDoc {
            item: &s.item,
            result: s.result.as_ref(),
            incidents: &s.incidents,
        })?;
    }
    Ok(())
}

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

/// Writes a poll's capture blobs, then records its captures, items and cursor in one
/// transaction, with the state kept under `state_name` (the source's name, or its real-time
/// part's).
fn store_poll(
    store: &Store,
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

/// What one [`Pipeline::run_once`] cycle did.
#[derive(Debug)]
pub struct Cycle {
    /// One per source polled, in configuration order.
    pub polls: Vec<PollSummary>,
    /// Flagged items recorded in incidents (each opened one or joined one).
    pub sightings: usize,
    /// Messages delivered (alerts, updates, digests, admin notices).
    pub delivered: usize,
}

/// The wired stages, sharing one store, one index and one classifier.
pub struct Pipeline {
    config: Arc<Config>,
    store: Store,
    index: SearchIndex,
    writer: Arc<Mutex<IndexWriter>>,
    classifier: Arc<Classifier>,
    /// Media confirmed fake, shared with the known-fake detector; reloaded per classify batch
    /// when the store's list changed.
    known_fakes: KnownFakeSet,
    ctx: Arc<PollContext>,
    sources: Vec<Arc<dyn Source>>,
    classify_wake: Arc<Notify>,
    index_wake: Arc<Notify>,
    /// Opens and joins incidents for every flagged item, and queues what the alert rules ask
    /// for (nothing without rules: incidents do not depend on them).
    decider: Arc<Decider>,
    /// Delivers queued messages, when there is anywhere to send them (`[[alerts.rule]]` or the
    /// admin notices are configured).
    sender: Option<Arc<Sender>>,
    alert_wake: Arc<Notify>,
    send_wake: Arc<Notify>,
    /// Polls run side by side, except a source suspected of killing a parse (see
    /// [`quarantine::PollTurns`]).
    poll_turns: quarantine::PollTurns,
    /// Media being looked at now, shared by every source's polls (see
    /// [`quarantine::MediaInFlight`]).
    media_in_flight: quarantine::MediaInFlight,
    /// Trusted timestamps of the capture log, when `[evidence] tsa_urls` is set.
    timestamps: Option<Arc<timestamps::Timestamps>>,
}

/// The host test `ct` sources keep certificates by: the lookalike-domain detector over the
/// `[[identity]]` domains, so a certificate is kept exactly when an item naming its domain would
/// be flagged. `None` when no identity has a domain.
fn lookalike_filter(config: &Config) -> Option<HostFilter> {
    if config.identities.iter().all(|i| i.domains.is_empty()) {
        return None;
    }
    let ids = Arc::new(ProtectedIdentities::new(&config.identities));
    let detector = DomainDetector::new(ids);
    Some(HostFilter::new(move |host| detector.check(host).is_some()))
}

/// How often the alert stage looks for decided-upon work it was not woken for (items written
/// by another process, messages coming due).
const ALERT_POLL: Duration = Duration::from_millis(500);

impl Pipeline {
    /// Opens the store and the index (taking the index writer), builds the sources and loads
    /// the configured detectors.
    pub fn open(config: Config) -> Result<Pipeline> {
        Pipeline::open_with(config, |config, fakes| {
            Classifier::from_config_with_fakes(config.classify(), fakes)
        })
    }

    /// [`Pipeline::open`] with a classifier of the caller's making, from the configuration and
    /// the confirmed-fake list the pipeline keeps current: how a benchmark measures the
    /// pipeline without the models.
    pub fn open_with(
        config: Config,
        classifier: impl FnOnce(&Config, &KnownFakeSet) -> Result<Classifier, ClassifyError>,
    ) -> Result<Pipeline> {
        let store = Store::open(&config.data_dir).map_err(|e| PipelineError::OpenStore {
            dir: config.data_dir.clone(),
            source: Box::new(e),
        })?;
        let index = SearchIndex::open_or_create(&index_dir(&config))?;
        let writer = index.writer(config.index.writer_memory.as_u64() as usize)?;
        let fetcher = Fetcher::new(&config.ingest, env!("CARGO_PKG_VERSION"))?;
        ballotwatch_ingest::html::set_max_depth(config.limits.max_html_depth);
        let ctx = PollContext {
            fetcher,
            watch: WatchTerms::new(&config.watch.terms),
            lookalikes: lookalike_filter(&config),
        };
        let sources = config
            .sources
            .iter()
            .filter(|s| s.enabled())
            .map(|s| Arc::from(build_source(s, &config.limits)))
            .collect();
        let admin_notices =
            !config.alerts.admin_to.is_empty() || !config.alerts.admin_webhooks.is_empty();
        let sender = if config.alerts.rules.is_empty() && !admin_notices {
            None
        } else {
            let sender =
                Sender::new(&config.alerts).map_err(|e| PipelineError::AlertSetup(Box::new(e)))?;
            Some(Arc::new(sender))
        };
        let timestamps = timestamps::Timestamps::from_config(&config)?.map(Arc::new);
        let known_fakes = KnownFakeSet::new();
        fakes::refresh(&store, &known_fakes)?;
        quarantine::notify_held(&store, &config)?;
        // Items queued for indexing again (an item joined an incident, an incident's status
        // changed: in the alert stage, the web UI or the API) wake the index stage, so search
        // filters on incidents catch up within one commit interval.
        let index_wake = Arc::new(Notify::new());
        let wake = index_wake.clone();
        store.on_index_queued(move || wake.notify_one());
        Ok(Pipeline {
            decider: Arc::new(Decider::new(
                &config.alerts,
                config.server.public_url.as_ref(),
            )),
            sender,
            alert_wake: Arc::new(Notify::new()),
            send_wake: Arc::new(Notify::new()),
            classifier: Arc::new(classifier(&config, &known_fakes)?),
            known_fakes,
            config: Arc::new(config),
            store,
            index,
            writer: Arc::new(Mutex::new(writer)),
            ctx: Arc::new(ctx),
            sources,
            classify_wake: Arc::new(Notify::new()),
            index_wake,
            poll_turns: quarantine::PollTurns::default(),
            media_in_flight: quarantine::MediaInFlight::default(),
            timestamps,
        })
    }

    /// `[limits] max_item_text`, in bytes.
    fn max_item_text(&self) -> usize {
        usize::try_from(self.config.limits.max_item_text.as_u64()).unwrap_or(usize::MAX)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The index.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// The classifier (its detectors are listed in evidence packs).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The confirmed-fake list the classifier matches against.
    pub fn known_fakes(&self) -> &KnownFakeSet {
        &self.known_fakes
    }

    /// Names of the enabled sources.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name().to_string()).collect()
    }

    /// One full cycle of what [`Pipeline::run`] does, then returns: polls every enabled source
    /// (or the named one) once, concurrently; classifies everything pending; opens and joins
    /// incidents for the flagged items and queues what the alert rules ask for; delivers every
    /// message that is due (closing due digests); indexes. Poll summaries come back in
    /// configuration order.
    pub async fn run_once(&self, only: Option<&str>) -> Result<Cycle> {
        let polls = self.poll_all(only).await;
        self.classify_pending().await?;
        let sightings = self.decide_pending().await?;
        let delivered = match &self.sender {
            Some(sender) => self.deliver_once(sender).await?,
            None => 0,
        };
        self.index_pending().await?;
        // The capture log's head gets its trusted timestamp; a TSA that fails is logged and
        // does not fail the cycle (the entries wait for the next one, or for `serve`).
        if let Err(e) = self.timestamp_head().await {
            tracing::warn!(error = %full_message(&e), "trusted timestamp failed; the capture log waits for the next attempt");
        }
        Ok(Cycle {
            polls,
            sightings,
            delivered,
        })
    }

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

    /// Opens and joins incidents for the flagged items not yet decided about, queueing what the
    /// alert rules ask for; returns how many sightings were recorded.
    pub async fn decide_pending(&self) -> Result<usize> {
        let decider = self.decider.clone();
        self.blocking(move |store| Ok(decider.decide_pending(store)?))
            .await
    }

    /// The send stage's work, once: retries deliveries a crash interrupted, closes due digests
    /// and delivers what is due. A failing message stays queued for the next cycle.
    async fn deliver_once(&self, sender: &Sender) -> Result<usize> {
        self.recover_deliveries().await?;
        let store = self.store.clone();
        sender.run_digests(&store, Utc::now()).await?;
        Ok(sender.deliver_due(&store).await?)
    }

    /// Puts messages left `sending` by a crash back in the queue, logging each (it may be a
    /// duplicate).
    async fn recover_deliveries(&self) -> Result<()> {
        let recovered = self.blocking(|store| Ok(store.outbox_recover()?)).await?;
        for row in recovered {
            tracing::warn!(message = row.id, key = %row.idempotency_key, channel = %row.channel, "a delivery was interrupted by a crash; retrying it (if the server had already accepted it, this is a duplicate with the same Message-ID)");
        }
        Ok(())
    }

    /// Runs every stage until `shutdown` is cancelled, then finishes the work in hand: what was
    /// stored gets classified and indexed before this returns.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for source in self.sources.clone() {
            if let Some(rt) = source.realtime() {
                let me = self.clone();
                let stop = shutdown.clone();
                let name = source.name().to_string();
                tasks.spawn(async move {
                    // In this mode failures are recorded and retried, never returned.
                    if let Err(e) = me.realtime_loop(rt, name, StreamUntil::Stopped, stop).await {
                        tracing::error!(error = %e, "real-time stream stopped");
                    }
                    Ok(())
                });
            }
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                me.source_loop(source, stop).await;
                Ok(())
            });
        }
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.classify_loop(stop).await });
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.index_loop(stop).await });
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.alert_loop(stop).await });
        if self.timestamps.is_some() {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                me.timestamp_loop(stop).await;
                Ok(())
            });
        }
        if let Some(sender) = self.sender.clone() {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.send_loop(sender, stop).await });
        }

        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined
                .map_err(|e| PipelineError::panicked("a pipeline task panicked", e))
                .and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(error = %full_message(&e), "pipeline stage failed; shutting down");
                shutdown.cancel();
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn source_loop(&self, source: Arc<dyn Source>, stop: CancellationToken) {
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
                _ = tokio::time::sleep(wait) => {}
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

    /// One poll of one source: fetch, write capture blobs, record items and source state in one
    /// transaction; on failure record the error and when to retry.
    async fn poll_source(&self, source: &dyn Source) -> PollSummary {
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
        let cursor = Cursor {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
            state: state.cursor.clone(),
        };
        let attempted_at = Utc::now();
        let cfg = &self.config;
        let interval = cfg
            .source(&name)
            .map(|s| s.interval(&cfg.ingest))
            .unwrap_or(cfg.ingest.default_interval);
        let next = |failures: u32, retry_after: Option<Duration>| -> DateTime<Utc> {
            let delay = schedule::next_delay(
                interval,
                cfg.ingest.jitter,
                failures,
                retry_after,
                cfg.ingest.max_backoff,
                &mut rand::rng(),
            );
            attempted_at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
        };

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
                poll.limit_items(&name, self.max_item_text());
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
                let next_attempt_at = next(state.consecutive_failures + 1, error.retry_after());
                let message = error.to_string();
                let url = error.url().to_string();
                self.blocking(move |store| {
                    Ok(store.record_poll_error(
                        &name,
                        &url,
                        &message,
                        attempted_at,
                        next_attempt_at,
                    )?)
                })
                .await?;
                Err(error.into())
            }
        }
    }

    async fn classify_loop(&self, stop: CancellationToken) -> Result<()> {
        loop {
            let n = match self.classify_pending().await {
                Ok(n) => n,
                Err(e) if self.note_disk_full(&e) && !stop.is_cancelled() => {
                    tokio::time::sleep(disk::RECHECK).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n > 0 {
                self.index_wake.notify_one();
                self.alert_wake.notify_one();
            }
            if stop.is_cancelled() {
                return Ok(());
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.classify_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// Decides about flagged items: incidents, and the messages to queue in the outbox.
    async fn alert_loop(&self, stop: CancellationToken) -> Result<()> {
        loop {
            let n = self.decide_pending().await?;
            if n > 0 {
                self.send_wake.notify_one();
                self.timestamp_soon();
            }
            if stop.is_cancelled() {
                return Ok(());
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.alert_wake.notified() => {}
                _ = tokio::time::sleep(ALERT_POLL) => {}
            }
        }
    }

    /// Delivers queued messages and closes digests. Messages left `sending` by a crash are
    /// retried (and logged: each may be a duplicate).
    async fn send_loop(&self, sender: Arc<Sender>, stop: CancellationToken) -> Result<()> {
        self.recover_deliveries().await?;
        loop {
            let store = self.store.clone();
            sender.run_digests(&store, Utc::now()).await?;
            sender.deliver_due(&store).await?;
            if stop.is_cancelled() {
                return Ok(());
            }
            let wait = self
                .blocking(|store| Ok(store.outbox_next_due()?))
                .await?
                .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(ALERT_POLL)
                .clamp(Duration::from_millis(20), ALERT_POLL);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.send_wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn index_loop(&self, stop: CancellationToken) -> Result<()> {
        let commit_interval = self.config.index.commit_interval;
        loop {
            let committed_at = Instant::now();
            match self.index_pending().await {
                Ok(_) => {}
                Err(e) if self.note_disk_full(&e) && !stop.is_cancelled() => {
                    tokio::time::sleep(disk::RECHECK).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if stop.is_cancelled() {
                // The classify stage may have stored results while we were busy.
                self.index_pending().await?;
                return Ok(());
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.index_wake.notified() => {
                    // Gather what arrives within one commit interval into one commit.
                    let wait = commit_interval.saturating_sub(committed_at.elapsed());
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// Classifies every item waiting in the store; returns how many.
    pub async fn classify_pending(&self) -> Result<usize> {
        let classifier = self.classifier.clone();
        let known_fakes = self.known_fakes.clone();
        let config = self.config.clone();
        self.blocking(move |store| {
            let mut total = 0;
            loop {
                fakes::refresh(store, &known_fakes)?;
                let batch = store.pending_classification(CLASSIFY_BATCH)?;
                if batch.is_empty() {
                    return Ok(total);
                }
                let batch = quarantine::begin_items(store, &config, Stage::Classify, batch)?;
                // Model batches of `[detectors] batch_size`, as `ballotwatch classify` runs
                // them (one item at a time was a third of its speed).
                let mut results = Vec::with_capacity(batch.len());
                for chunk in batch.chunks(config.detectors.batch_size.max(1)) {
                    for s in chunk {
                        quarantine::fault::item(Stage::Classify, &s.item);
                    }
                    let local: Vec<Item> = chunk
                        .iter()
                        .map(|s| media::with_local_paths(store, &s.item))
                        .collect();
                    let classified = classifier.classify_batch(&local);
                    if classified.len() != chunk.len() {
                        return Err(PipelineError::Inconsistent(format!(
                            "the classifier returned {} results for {} items",
                            classified.len(),
                            chunk.len()
                        )));
                    }
                    results.extend(chunk.iter().map(|s| s.seq).zip(classified));
                }
                store.save_results(&results)?;
                quarantine::finish(store, Stage::Classify, &batch)?;
                total += results.len();
            }
        })
        .await
    }

    /// Indexes every classified item waiting in the store, committing per batch; returns how many.
    pub async fn index_pending(&self) -> Result<usize> {
        let writer = self.writer.clone();
        let index = self.index.clone();
        let config = self.config.clone();
        self.blocking(move |store| {
            let mut writer = writer.lock().map_err(|_| {
                PipelineError::Task("the index writer was poisoned by an earlier panic".into())
            })?;
            let mut total = 0;
            loop {
                let batch = store.pending_index(INDEX_BATCH)?;
                if batch.is_empty() {
                    break;
                }
                let batch = quarantine::begin_items(store, &config, Stage::Index, batch)?;
                for s in &batch {
                    quarantine::fault::item(Stage::Index, &s.item);
                }
                let marks: Vec<_> = batch.iter().map(StoredItem::index_mark).collect();
                upsert_all(&mut writer, &batch)?;
                writer.commit()?;
                store.mark_indexed(&marks)?;
                quarantine::finish(store, Stage::Index, &batch)?;
                total += batch.len();
            }
            if total > 0 {
                index.reload()?;
                tracing::debug!(indexed = total, "index committed");
            }
            Ok(total)
        })
        .await
    }

    /// Runs store work on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| PipelineError::panicked("a store task panicked", e))?
    }
}
