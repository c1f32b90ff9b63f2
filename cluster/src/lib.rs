//! Cluster mode's NATS JetStream side: the `[cluster]` table ([`ClusterConfig`]), the work
//! queues between stages with their dead letters ([`work`]), source ownership by lease
//! ([`lease`]), each web node's index replica feed ([`index_feed`]) and `serve --roles`
//! ([`Roles`]).
//!
//! Embedded mode (no `[cluster]` table) does not use this crate at run time. In cluster mode the
//! PostgreSQL store stays the source of truth: messages carry only an item's id and version,
//! and a delivery is acknowledged after the store commit of its result, so a worker that dies
//! mid-batch loses nothing (its deliveries go to another worker after `ack_wait`) and a message
//! that fails `max_deliver` times goes to the dead letters, which the pipeline turns into
//! quarantine entries.
//!
//! Names: with the default prefix `ballotwatch`, the classify stage is the stream
//! `BALLOTWATCH_CLASSIFY` on subject `ballotwatch.work.classify`; dead letters are on
//! `ballotwatch.dead.<stage>` in `BALLOTWATCH_DEAD`; leases are in the KV bucket
//! `BALLOTWATCH_leases`; index changes are on `ballotwatch.index` in `BALLOTWATCH_INDEX`.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use ballotwatch_cluster::work::ItemRef;
//! use ballotwatch_cluster::{Cluster, ClusterConfig, Stage};
//!
//! # async fn run() -> Result<(), ballotwatch_cluster::ClusterError> {
//! let cluster = Cluster::connect(&ClusterConfig::new("nats://127.0.0.1:4222")).await?;
//!
//! // Ingest: the item is committed to the store, then queued for classify.
//! let queue = cluster.work_queue::<ItemRef>(Stage::Classify).await?;
//! queue.publish(&ItemRef::new("item-1", 1)).await?;
//!
//! // A classify worker: take a batch, commit each result, then acknowledge it.
//! let worker = queue.worker().await?;
//! for delivery in worker.next_batch(16, Duration::from_secs(5)).await? {
//!     let item = delivery.message();
//!     // … classify `item.item_id`, commit the verdicts to the store …
//!     delivery.ack().await?;
//! }
//!
//! // Ingest scheduler: poll a source only while holding its lease.
//! let leases = cluster.leases().await?;
//! if let Some(mut lease) = leases.try_acquire("Anytown Echo").await? {
//!     // … poll, renewing every `leases.renew_every()` …
//!     leases.renew(&mut lease).await?;
//!     leases.release(lease).await?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod config;
mod connect;
mod error;
pub mod index_feed;
pub mod lease;
mod roles;
#[cfg(feature = "testing")]
pub mod testing;
pub mod work;

use std::time::Duration;

pub use config::{ClusterConfig, StageConfig, StageSettings};
pub use connect::Cluster;
pub use error::ClusterError;
pub use roles::{Role, RoleError, Roles};

/// A stage fed through JetStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// New or changed items waiting for the detectors.
    Classify,
    /// Classified items waiting for the incident decision and alerts.
    Decide,
    /// Indexed-item changes, replayed by every web node into its own Tantivy replica.
    IndexFeed,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 3] = [Stage::Classify, Stage::Decide, Stage::IndexFeed];

    /// The stage's name in config tables and subjects.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Classify => "classify",
            Stage::Decide => "decide",
            Stage::IndexFeed => "index_feed",
        }
    }

    /// The defaults of `[cluster.<stage>]`: classify's work (models, OCR) is slow, so its
    /// deliveries may stay out longer and fewer are out at once.
    pub fn defaults(self) -> StageSettings {
        match self {
            Stage::Classify => StageSettings {
                max_deliver: 5,
                ack_wait: Duration::from_secs(120),
                max_ack_pending: 64,
            },
            Stage::Decide => StageSettings {
                max_deliver: 5,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 256,
            },
            Stage::IndexFeed => StageSettings {
                max_deliver: 20,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 1024,
            },
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
