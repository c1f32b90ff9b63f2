//! Cluster mode's runtime: `serve` with a `[cluster]` table. The same stages as embedded mode,
//! on PostgreSQL ([`PgStore`], behind [`PipelineStore`]) and NATS JetStream (crate `cluster`):
//!
//! - **ingest** ([`ingest`]): each enabled source is polled only while this node holds its
//!   lease in the KV bucket (taken on a timer, renewed every third of the period, released on a
//!   clean stop; a source whose lease is lost stops being polled, and another node takes it
//!   over within one period, resuming from the cursor in PostgreSQL). After the store commit,
//!   every stored item version not yet classified is published to the classify queue (id and
//!   version, de-duplicated by `Nats-Msg-Id`); a sweep republishes whatever PostgreSQL still
//!   holds unclassified, so a node that died between commit and publish loses nothing.
//! - **classify** ([`stages`]): pulls batches, classifies them in model batches with the shared
//!   classifier, saves the results (idempotent per item version across nodes), publishes each to
//!   the decide queue, then acknowledges. A store failure naks with a delay; dead letters become
//!   an error log line and an audit row.
//! - **decide + alert** (role `alert`): incidents, sightings and outbox rows with the embedded
//!   rules and idempotency keys ([`Decider::decide_one`]), then the index-feed change; the sender
//!   claims outbox messages (`FOR UPDATE SKIP LOCKED`), so each goes once across nodes.
//! - **index** ([`replica`]): every node keeps its own Tantivy index in `data_dir/index`, fed
//!   from the index feed; a node resumes from the feed position stored with its index, or
//!   rebuilds the index from PostgreSQL when it has none the feed still holds.
//!
//! - **web**: the web UI and JSON API (crate `web`) on the same [`PgStore`] (as
//!   [`WebStore`]: logins, sessions and API tokens live in PostgreSQL, so any web node accepts a
//!   session another one opened) and this node's index replica; `serve` starts it (see
//!   [`ClusterNode::web_store`], [`ClusterNode::index`], [`ClusterNode::nats_check`]).
//!
//! Work one node does for all (trusted timestamps of the shared capture log, page screenshots
//! of flagged items) runs under a lease on ingest nodes (`leased`). A web node takes reports
//! ([`ClusterNode::report_desk`]) and publishes their items to the classify queue. A source's
//! real-time stream (Bluesky's Jetstream) is streamed by one ingest node at a time, under the
//! stream's own lease (`ingest`). The poison-work quarantine and the disk-full pause still need
//! embedded mode: [`ClusterNode::open`] logs one line for each.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballotwatch_alerting::{Decider, Sender};
use ballotwatch_classify::detectors::media::known_fakes::KnownFakeSet;
use ballotwatch_classify::Classifier;
use ballotwatch_cluster::index_feed::IndexFeed;
use ballotwatch_cluster::work::{ItemRef, WorkQueue};
use ballotwatch_cluster::{Cluster, ClusterConfig, Role, Roles, Stage};
use ballotwatch_core::WatchTerms;
use ballotwatch_index::{IndexWriter, SearchIndex};
use ballotwatch_ingest::{build_source, Fetcher, PollContext, Source};
use ballotwatch_store::{PgOptions, PgStore, PipelineStore, StoredItem, WebStore};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::timestamps::Timestamps;
use crate::{full_message, index_dir, lookalike_filter, Config, PipelineError, Result};
use ballotwatch_evidence::Screenshotter;

mod ingest;
mod leased;
mod replica;
mod stages;

pub use replica::rebuild_replica;

/// How long a failed store or NATS step waits before the work is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// One cluster node: its roles, the shared store and NATS, and what its roles need.
pub struct ClusterNode {
    config: Arc<Config>,
    cluster_config: ClusterConfig,
    roles: Roles,
    store: Arc<dyn PipelineStore>,
    /// The same store, as the web role sees it.
    web_store: Arc<dyn WebStore>,
    cluster: Cluster,
    classify_queue: WorkQueue<ItemRef>,
    decide_queue: WorkQueue<ItemRef>,
    index_feed: Arc<IndexFeed>,
    classifier: Option<Arc<Classifier>>,
    /// The known-fake detector's list (shared with the classifier).
    known_fakes: KnownFakeSet,
    /// Trusted timestamps of the capture log (`[evidence] tsa_urls`), on ingest nodes: the
    /// holder of the timestamp lease stamps the shared chain's head.
    timestamps: Option<Arc<Timestamps>>,
    /// Page screenshots of flagged items (`[evidence] screenshots`), on ingest nodes: the
    /// holder of the screenshot lease takes them.
    screenshots: Option<Screenshotter>,
    decider: Arc<Decider>,
    sender: Option<Arc<Sender>>,
    send_wake: Arc<Notify>,
    sources: Vec<Arc<dyn Source>>,
    ctx: Arc<PollContext>,
    index: SearchIndex,
    writer: Arc<Mutex<IndexWriter>>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("node", &self.cluster.node())
            .field("roles", &self.roles.to_string())
            .finish_non_exhaustive()
    }
}

/// The role set `serve` runs in cluster mode when `--roles` is not given: all four.
pub fn default_roles() -> Roles {
    Roles::parse("ingest,classify,alert,web").unwrap_or_default()
}

impl ClusterNode {
    /// Connects to NATS and PostgreSQL (the URL from the variable `postgres_url_env` names),
    /// creates the streams, opens this node's index and builds what `roles` need.
    pub async fn open(config: Config, roles: Roles) -> Result<ClusterNode> {
        let cluster_config = config.cluster.clone().ok_or_else(|| {
            PipelineError::Inconsistent("cluster mode needs a [cluster] table".into())
        })?;
        let node = cluster_config.node();
        let url = cluster_config.postgres_url()?;
        let options = PgOptions {
            node: node.clone(),
            pool_size: 8,
            ca_file: cluster_config.postgres_ca_file.clone(),
            // The lease holder stamps the head every `timestamp_interval`; an entry waiting
            // through three of them (and a lease handover) is behind.
            timestamp_overdue: config
                .evidence
                .timestamps_enabled()
                .then(|| config.evidence.timestamp_interval * 3 + cluster_config.lease),
            ..PgOptions::default()
        };
        let store = tokio::task::spawn_blocking(move || PgStore::connect(&url, options))
            .await
            .map_err(|e| PipelineError::panicked("opening the PostgreSQL store", e))??;
        let store = Arc::new(store);
        let web_store: Arc<dyn WebStore> = store.clone();
        let store: Arc<dyn PipelineStore> = store;
        match ClusterNode::build(config, roles, cluster_config, store.clone(), web_store).await {
            Ok(node) => Ok(node),
            Err(e) => {
                // The PostgreSQL client must not be dropped on an async worker thread.
                let _ = tokio::task::spawn_blocking(move || drop(store)).await;
                Err(e)
            }
        }
    }

    async fn build(
        config: Config,
        roles: Roles,
        cluster_config: ClusterConfig,
        store: Arc<dyn PipelineStore>,
        web_store: Arc<dyn WebStore>,
    ) -> Result<ClusterNode> {
        let cluster = Cluster::connect(&cluster_config).await?;
        let classify_queue = cluster.work_queue::<ItemRef>(Stage::Classify).await?;
        let decide_queue = cluster.work_queue::<ItemRef>(Stage::Decide).await?;
        let index_feed = Arc::new(cluster.index_feed().await?);
        let index = SearchIndex::open_or_create(&index_dir(&config))?;
        let writer = index.writer(config.index.writer_memory.as_u64() as usize)?;
        // The confirmed-fake list, loaded from PostgreSQL before each classify batch (one cheap
        // query when nothing changed), so a fake confirmed on any node is matched everywhere.
        let known_fakes = KnownFakeSet::new();
        let classifier = if roles.has(Role::Classify) {
            Some(Arc::new(Classifier::from_config_with_fakes(
                config.classify(),
                &known_fakes,
            )?))
        } else {
            None
        };
        let timestamps = if roles.has(Role::Ingest) {
            Timestamps::from_config(&config)?.map(Arc::new)
        } else {
            None
        };
        let screenshots = if roles.has(Role::Ingest) {
            crate::screenshotter(&config)
        } else {
            None
        };
        let sender = if roles.has(Role::Alert) && config.sends_messages() {
            let sender =
                Sender::new(&config.alerts).map_err(|e| PipelineError::AlertSetup(Box::new(e)))?;
            Some(Arc::new(sender))
        } else {
            None
        };
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
        let node = ClusterNode {
            decider: Arc::new(Decider::new(
                &config.alerts,
                config.server.public_url.as_ref(),
            )),
            config: Arc::new(config),
            cluster_config,
            roles,
            store,
            web_store,
            cluster,
            classify_queue,
            decide_queue,
            index_feed,
            classifier,
            known_fakes,
            timestamps,
            screenshots,
            sender,
            send_wake: Arc::new(Notify::new()),
            sources,
            ctx: Arc::new(ctx),
            index,
            writer: Arc::new(Mutex::new(writer)),
        };
        node.log_embedded_only();
        Ok(node)
    }

    /// One startup line per configured part that still needs embedded mode.
    fn log_embedded_only(&self) {
        tracing::info!(
            "cluster mode: the poison-work quarantine is off (a message that fails max_deliver \
             times becomes a dead letter: an error log line and an audit row)"
        );
        tracing::info!(
            "cluster mode: the disk-full ingest pause is off (PostgreSQL holds the data)"
        );
    }

    /// Drops the node off the async workers (the PostgreSQL client must not be dropped on one):
    /// call it with the last handle once [`ClusterNode::run`] returned.
    pub async fn close(self: Arc<Self>) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        self.cluster.node()
    }

    /// The shared store.
    pub fn store(&self) -> &Arc<dyn PipelineStore> {
        &self.store
    }

    /// The shared store as the web role uses it (the same PostgreSQL connection pool).
    pub fn web_store(&self) -> Arc<dyn WebStore> {
        self.web_store.clone()
    }

    /// The configuration the node runs with.
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The fetcher and watch terms polls (and reports) use.
    pub(crate) fn poll_context(&self) -> &PollContext {
        &self.ctx
    }

    /// The alert rules' decider.
    pub(crate) fn decider(&self) -> &Arc<Decider> {
        &self.decider
    }

    /// Wakes the send loop (messages were queued outside it).
    pub(crate) fn wake_sender(&self) {
        self.send_wake.notify_one();
    }

    /// The detectors this node runs, when it has the classify role.
    pub fn classifier(&self) -> Option<&Classifier> {
        self.classifier.as_deref()
    }

    /// The known-fake detector's list on this node (reloaded before each classify batch; the
    /// web's "Mark media as confirmed fake" reloads it at once).
    pub fn known_fakes(&self) -> &KnownFakeSet {
        &self.known_fakes
    }

    /// This node's search index replica (fed from the index feed by [`ClusterNode::run`]).
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// `Err` with the reason while this node is not connected to NATS (for `/healthz` and
    /// `/readyz`).
    pub fn nats_check(&self) -> std::result::Result<(), String> {
        self.cluster.check_connected()
    }

    /// Runs the roles until `shutdown` is cancelled: leases are released, batches in hand are
    /// finished and acknowledged.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<()> {
        tracing::info!(
            node = %self.node(),
            roles = %self.roles,
            store = self.store.backend(),
            sources = self.sources.len(),
            "cluster node running"
        );
        let mut tasks = tokio::task::JoinSet::new();
        if self.roles.has(Role::Ingest) {
            let leases = self
                .cluster
                .leases_with_period(self.cluster_config.lease)
                .await?;
            for source in self.sources.clone() {
                if let Some(rt) = source.realtime() {
                    let me = self.clone();
                    let (stop, leases) = (shutdown.clone(), leases.clone());
                    let name = source.name().to_string();
                    tasks.spawn(async move {
                        me.stream_task(rt, name, leases, stop).await;
                        Ok(())
                    });
                }
                let me = self.clone();
                let stop = shutdown.clone();
                let leases = leases.clone();
                tasks.spawn(async move {
                    me.source_task(source, leases, stop).await;
                    Ok(())
                });
            }
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                me.sweep_loop(stop).await;
                Ok(())
            });
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                me.retention_loop(stop).await;
                Ok(())
            });
            if let Some(ts) = self.timestamps.clone() {
                let me = self.clone();
                let stop = shutdown.clone();
                let leases = leases.clone();
                tasks.spawn(async move {
                    me.timestamp_task(ts, leases, stop).await;
                    Ok(())
                });
            }
            if let Some(shotter) = self.screenshots.clone() {
                let me = self.clone();
                let stop = shutdown.clone();
                tasks.spawn(async move {
                    me.screenshot_task(shotter, leases, stop).await;
                    Ok(())
                });
            }
        }
        if let Some(classifier) = self.classifier.clone() {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.classify_loop(classifier, stop).await });
            let monitor = self.cluster.dead_letter_monitor().await?;
            let stop = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = monitor.run() => {}
                }
                Ok(())
            });
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.dead_letter_loop(stop).await });
        }
        if self.roles.has(Role::Alert) {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.decide_loop(stop).await });
            if let Some(sender) = self.sender.clone() {
                let me = self.clone();
                let stop = shutdown.clone();
                tasks.spawn(async move { me.send_loop(sender, stop).await });
            }
        }
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.index_loop(stop).await });

        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined
                .map_err(|e| PipelineError::panicked("a cluster task panicked", e))
                .and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(error = %full_message(&e), "cluster stage failed; shutting down");
                shutdown.cancel();
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs store work on the blocking pool (the PostgreSQL client must not block a worker).
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn PipelineStore) -> Result<T> + Send + 'static,
    {
        crate::on_blocking_pool(&self.store, f).await
    }

    /// The stored version `r` names: `None` when the store has no such version.
    fn find_version(store: &dyn PipelineStore, r: &ItemRef) -> Result<Option<StoredItem>> {
        if let Some(latest) = store.get_item(&r.item_id)? {
            if u64::from(latest.item.version) == r.version {
                return Ok(Some(latest));
            }
        }
        Ok(store
            .item_versions(&r.item_id)?
            .into_iter()
            .find(|s| u64::from(s.item.version) == r.version))
    }

    /// Where this node keeps media bytes read back from PostgreSQL for the detectors.
    fn media_cache(&self) -> PathBuf {
        self.config.data_dir.join("media-cache")
    }
}

/// Sleeps `d` unless `stop` comes first; `true` when stopped.
async fn sleep_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
