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
use ballotwatch_ingest::{build_source, Fetcher, HostFilter, PollContext, Source, StreamUntil};
use ballotwatch_store::{PipelineStore, Stage, Store, StoredItem};
use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub mod cluster;
pub mod config;
mod disk;
mod error;
pub mod fakes;
mod media;
mod poll;
mod quarantine;
mod realtime;
pub mod reports;
mod retention;
mod timestamps;
mod video;

pub use config::Config;
pub use error::{full_message, PipelineError, Result};
use poll::store_poll;
pub use poll::{PollCounts, PollFailure, PollSummary};
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
    /// Delivers queued messages, when there is anything to send ([`Config::sends_messages`]).
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
        let sender = if !config.sends_messages() {
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
        // Who sent reports in is kept no longer than configured.
        self.sweep_reporters().await?;
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

    /// Opens and joins incidents for the flagged items not yet decided about, queueing what the
    /// alert rules ask for; returns how many sightings were recorded.
    pub async fn decide_pending(&self) -> Result<usize> {
        let decider = self.decider.clone();
        self.blocking(move |store| Ok(decider.decide_pending(store)?))
            .await
    }

    /// The store as the shared interface the sender's digest scheduler takes.
    fn shared_store(&self) -> Arc<dyn PipelineStore> {
        Arc::new(self.store.clone())
    }

    /// The send stage's work, once: retries deliveries a crash interrupted, closes due digests
    /// and delivers what is due. A failing message stays queued for the next cycle.
    async fn deliver_once(&self, sender: &Sender) -> Result<usize> {
        self.recover_deliveries().await?;
        sender.run_digests(&self.shared_store(), Utc::now()).await?;
        Ok(sender.deliver_due(&self.store).await?)
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
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            me.retention_loop(stop).await;
            Ok(())
        });
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
        let shared = self.shared_store();
        loop {
            sender.run_digests(&shared, Utc::now()).await?;
            sender.deliver_due(&self.store).await?;
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

/// The screenshotter for flagged items' and reported pages, unless `[evidence] screenshots =
/// false`: Chromium with `[evidence] screenshot_timeout`, reaching private addresses only when
/// `[ingest] allow_private_addresses` lets the fetcher.
pub fn screenshotter(config: &Config) -> Option<ballotwatch_evidence::Screenshotter> {
    if !config.evidence.screenshots {
        return None;
    }
    let limits = ballotwatch_evidence::chromium::ShotLimits {
        timeout: config.evidence.screenshot_timeout,
        ..Default::default()
    };
    Some(ballotwatch_evidence::Screenshotter::new(
        config.ingest.allow_private_addresses,
        limits,
    ))
}

/// Runs work on a shared store on the blocking pool (the PostgreSQL client must not block an
/// async worker).
pub(crate) async fn on_blocking_pool<T, F>(store: &Arc<dyn PipelineStore>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn PipelineStore) -> Result<T> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| PipelineError::panicked("a store task panicked", e))?
}
