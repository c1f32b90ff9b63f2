//! The index replica feed: every change to an indexed item is published once to one stream,
//! which keeps it for [`RETENTION`]; each web node reads the whole stream through its own
//! durable consumer (`index-<node>`) into its own Tantivy replica, acknowledging each change
//! once applied. A node that was down resumes where its consumer stopped; a node whose replica
//! was rebuilt from PostgreSQL (`reindex`) starts from the stream position it stored with it.
//!
//! How stale a replica may be: changes reach every running replica within one fetch (under a
//! second on a LAN) plus the index's `commit_interval`; a node that was down longer than
//! [`RETENTION`] must rebuild from PostgreSQL.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::{self, RetentionPolicy};
use serde::{Deserialize, Serialize};

use crate::config::name_ok;
use crate::work::{durable, Published, WorkMessage, WorkQueue, Worker};
use crate::{Cluster, ClusterError, Stage};

/// How long the stream keeps changes for replicas that are behind.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What happened to an item in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexOp {
    /// Added or changed: (re)index it from the store.
    Upsert,
    /// Removed: drop it from the replica.
    Delete,
}

/// One indexed-item change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexChange {
    /// The item.
    pub item_id: String,
    /// Its version after the change.
    pub version: u64,
    /// What happened.
    pub op: IndexOp,
}

impl WorkMessage for IndexChange {
    fn dedup_id(&self) -> String {
        let op = match self.op {
            IndexOp::Upsert => "upsert",
            IndexOp::Delete => "delete",
        };
        format!("{}@{}:{op}", self.item_id, self.version)
    }
}

/// The feed: publish changes to it; each web node reads it through [`IndexFeed::replica`].
#[derive(Debug)]
pub struct IndexFeed {
    queue: WorkQueue<IndexChange>,
    stream: stream::Stream,
    cluster: Cluster,
}

impl Cluster {
    /// The index feed, creating its stream if it does not exist.
    pub async fn index_feed(&self) -> Result<IndexFeed, ClusterError> {
        let queue = self
            .work_queue_with::<IndexChange>(Stage::IndexFeed, |c| stream::Config {
                retention: RetentionPolicy::Limits,
                max_age: RETENTION,
                ..c
            })
            .await?;
        let stream = self
            .js
            .get_stream(queue.stream_name())
            .await
            .map_err(|e| ClusterError::nats("open index feed", e))?;
        Ok(IndexFeed {
            queue,
            stream,
            cluster: self.clone(),
        })
    }
}

impl IndexFeed {
    /// Publishes a change (de-duplicated by item, version and operation).
    pub async fn publish(&self, change: &IndexChange) -> Result<Published, ClusterError> {
        self.queue.publish(change).await
    }

    /// The stream's first and last sequence now (`first > last` when it holds nothing; both 0
    /// for a stream that never held anything): a replica whose stored position is outside
    /// `first - 1 ..= last` cannot catch up from the stream and must be rebuilt.
    pub async fn bounds(&self) -> Result<(u64, u64), ClusterError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| ClusterError::nats("index feed info", e))?;
        Ok((info.state.first_sequence, info.state.last_sequence))
    }

    /// This node's reader of the feed: resumes where it stopped; `from` (a stream sequence,
    /// e.g. the one stored with a rebuilt replica) restarts it just after that position.
    pub async fn replica(&self, from: Option<u64>) -> Result<Worker<IndexChange>, ClusterError> {
        let node = self.cluster.node();
        let name = format!("index-{node}");
        if !name_ok(&name) {
            return Err(ClusterError::nats(
                "index replica",
                format!("`{node}` cannot name a consumer"),
            ));
        }
        let settings = self.cluster.settings(Stage::IndexFeed);
        let deliver_policy = match from {
            Some(seq) => {
                // A consumer's start cannot be moved: replace it.
                let _ = self.stream.delete_consumer(&name).await;
                DeliverPolicy::ByStartSequence {
                    start_sequence: seq + 1,
                }
            }
            None => DeliverPolicy::All,
        };
        let consumer = durable(
            &self.stream,
            pull::Config {
                durable_name: Some(name),
                ack_policy: AckPolicy::Explicit,
                deliver_policy,
                ack_wait: settings.ack_wait,
                max_deliver: i64::from(settings.max_deliver),
                max_ack_pending: i64::from(settings.max_ack_pending),
                ..Default::default()
            },
        )
        .await?;
        Ok(Worker::new(self.queue.shared(), consumer))
    }
}
