//! The classify, decide and send stages of a cluster node, fed from JetStream.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ballotwatch_alerting::{Decision, Sender};
use ballotwatch_classify::Classifier;
use ballotwatch_cluster::index_feed::{IndexChange, IndexOp};
use ballotwatch_cluster::work::{Delivery, ItemRef};
use ballotwatch_cluster::Stage;
use ballotwatch_core::Item;
use ballotwatch_store::{PipelineStore, StoredItem};
use tokio_util::sync::CancellationToken;

use super::{sleep_or_stop, ClusterNode, RETRY};
use crate::{full_message, PipelineError, Result};

/// How long a worker waits for its first delivery before looking at `stop` again.
pub(super) const PULL_WAIT: Duration = Duration::from_millis(500);
/// Deliveries taken at once by the decide stage.
const DECIDE_PULL: usize = 64;
/// How often the sender looks for due messages it was not woken for.
const SEND_POLL: Duration = Duration::from_millis(500);

/// What the classify stage found for one delivery.
enum Found {
    /// The version to classify.
    Classify(Box<StoredItem>),
    /// Already classified (by this node or another): pass it on.
    Done,
    /// The store does not have this version.
    Missing,
}

impl ClusterNode {
    /// Pulls batches from the classify queue until stopped; the batch in hand is finished.
    pub(super) async fn classify_loop(
        &self,
        classifier: Arc<Classifier>,
        stop: CancellationToken,
    ) -> Result<()> {
        let worker = self.classify_queue.worker().await?;
        let batch_size = self.config.detectors.batch_size.max(1);
        // A few model batches per pull, within the stage's max_ack_pending.
        let pull = (batch_size * 4).clamp(1, 256);
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let batch = match worker.next_batch(pull, PULL_WAIT).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "classify queue unreachable; trying again");
                    if sleep_or_stop(&stop, RETRY).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            if let Err(e) = self.classify_batch(&classifier, batch).await {
                tracing::warn!(error = %full_message(&e), "classify batch failed; its deliveries come back");
            }
        }
    }

    /// Classifies one pulled batch: load, classify in model batches, save, publish to decide,
    /// acknowledge. A store failure naks the whole batch with a delay.
    async fn classify_batch(
        &self,
        classifier: &Arc<Classifier>,
        batch: Vec<Delivery<ItemRef>>,
    ) -> Result<()> {
        let refs: Vec<ItemRef> = batch.iter().map(|d| d.message().clone()).collect();
        let cache = self.media_cache();
        let loaded = self
            .blocking(move |store| {
                refs.iter()
                    .map(|r| {
                        Ok(match ClusterNode::find_version(store, r)? {
                            None => Found::Missing,
                            Some(s) if s.result.is_some() => Found::Done,
                            Some(s) => Found::Classify(Box::new(s)),
                        })
                    })
                    .collect::<Result<Vec<Found>>>()
            })
            .await;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => return nak_all(batch, &e).await,
        };
        let todo: Vec<StoredItem> = loaded
            .iter()
            .filter_map(|f| match f {
                Found::Classify(s) => Some(StoredItem::clone(s)),
                _ => None,
            })
            .collect();
        let classifier = classifier.clone();
        let known_fakes = self.known_fakes.clone();
        let batch_size = self.config.detectors.batch_size.max(1);
        let work = self.blocking(move |store| {
            crate::fakes::refresh(store, &known_fakes)?;
            let mut results = Vec::with_capacity(todo.len());
            for chunk in todo.chunks(batch_size) {
                let local: Vec<Item> = chunk
                    .iter()
                    .map(|s| with_cached_media(store, &cache, &s.item))
                    .collect();
                let out = classifier.classify_batch(&local);
                if out.len() != chunk.len() {
                    return Err(PipelineError::Inconsistent(format!(
                        "the classifier returned {} results for {} items",
                        out.len(),
                        chunk.len()
                    )));
                }
                results.extend(chunk.iter().map(|s| s.seq).zip(out));
            }
            store.save_results(&results)?;
            Ok(results.len())
        });
        // Long batches (OCR, video frames) keep their deliveries: `in_progress` restarts each
        // one's `ack_wait`, so a slow batch is not handed to another node as well.
        let keep_every = self.cluster_config.stage(Stage::Classify).ack_wait / 3;
        tokio::pin!(work);
        let classified = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = tokio::time::sleep(keep_every) => {
                    for d in &batch {
                        if let Err(e) = d.in_progress().await {
                            tracing::debug!(error = %e, "cannot extend a delivery");
                        }
                    }
                }
            }
        };
        let classified = match classified {
            Ok(n) => n,
            Err(e) => return nak_all(batch, &e).await,
        };
        if classified > 0 {
            tracing::info!(items = classified, node = %self.node(), "classified");
        }
        for (delivery, found) in batch.into_iter().zip(loaded) {
            let r = delivery.message().clone();
            if let Found::Missing = found {
                tracing::error!(item = %r.item_id, version = r.version, "queued for classification but not in the store; dead-lettered");
                settled(
                    delivery
                        .reject("the item version is not in the store")
                        .await,
                );
                continue;
            }
            match self.decide_queue.publish(&r).await {
                Ok(_) => settled(delivery.ack().await),
                Err(e) => settled(
                    delivery
                        .nak(RETRY, &format!("cannot queue for decide: {e}"))
                        .await,
                ),
            }
        }
        Ok(())
    }

    /// Turns dead letters into an error log line and an audit row each, until stopped.
    pub(super) async fn dead_letter_loop(&self, stop: CancellationToken) -> Result<()> {
        let dead = self.cluster.dead_letters().await?;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let batch = match dead.next_batch(64, PULL_WAIT).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "dead letters unreachable; trying again");
                    if sleep_or_stop(&stop, RETRY).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            for d in batch {
                let letter = d.letter().clone();
                tracing::error!(stage = %letter.stage, deliveries = letter.deliveries, reason = %letter.reason, message = %letter.message, "work given up on (dead letter)");
                let detail = serde_json::to_value(&letter).unwrap_or_default();
                let audited = self
                    .blocking(move |s| Ok(s.audit("cluster", "dead_letter", &detail)?))
                    .await;
                match audited {
                    Ok(()) => settled(d.ack().await),
                    Err(e) => {
                        tracing::warn!(error = %full_message(&e), "cannot record a dead letter; it comes back");
                    }
                }
            }
        }
    }

    /// Pulls the decide queue: incidents, sightings and outbox rows, then the index change.
    pub(super) async fn decide_loop(&self, stop: CancellationToken) -> Result<()> {
        let worker = self.decide_queue.worker().await?;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let batch = match worker.next_batch(DECIDE_PULL, PULL_WAIT).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "decide queue unreachable; trying again");
                    if sleep_or_stop(&stop, RETRY).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let mut queued = false;
            for delivery in batch {
                let r = delivery.message().clone();
                let decider = self.decider.clone();
                let decided = self
                    .blocking(move |store| {
                        let Some(s) = ClusterNode::find_version(store, &r)? else {
                            return Ok(None);
                        };
                        if s.result.is_none() {
                            return Err(PipelineError::Inconsistent(format!(
                                "item {} version {} is queued for decide but not classified",
                                r.item_id, r.version
                            )));
                        }
                        Ok(Some(decider.decide_one(store, &s)?))
                    })
                    .await;
                let r = delivery.message().clone();
                match decided {
                    Ok(None) => {
                        tracing::error!(item = %r.item_id, version = r.version, "queued for decide but not in the store; dead-lettered");
                        settled(
                            delivery
                                .reject("the item version is not in the store")
                                .await,
                        );
                    }
                    Ok(Some(decision)) => {
                        queued |= decision == Decision::Recorded;
                        let change = IndexChange {
                            item_id: r.item_id.clone(),
                            version: r.version,
                            op: IndexOp::Upsert,
                        };
                        match self.index_feed.publish(&change).await {
                            Ok(_) => settled(delivery.ack().await),
                            Err(e) => settled(
                                delivery
                                    .nak(RETRY, &format!("cannot publish the index change: {e}"))
                                    .await,
                            ),
                        }
                    }
                    Err(e) => {
                        let reason = full_message(&e);
                        tracing::warn!(item = %r.item_id, error = %reason, "decide failed; the item comes back");
                        settled(delivery.nak(RETRY, &reason).await);
                    }
                }
            }
            if queued {
                self.send_wake.notify_one();
            }
        }
    }

    /// Closes due digests and sends the outbox messages this node claims, until stopped.
    pub(super) async fn send_loop(
        &self,
        sender: Arc<Sender>,
        stop: CancellationToken,
    ) -> Result<()> {
        loop {
            match self.blocking(|s| Ok(s.outbox_recover()?)).await {
                Ok(rows) => {
                    for row in rows {
                        tracing::warn!(message = row.id, key = %row.idempotency_key, "a delivery was interrupted; retrying it (a duplicate, if the server had accepted it, carries the same Message-ID)");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %full_message(&e), "cannot recover interrupted deliveries; trying again");
                    if sleep_or_stop(&stop, RETRY).await {
                        return Ok(());
                    }
                }
            }
        }
        loop {
            // Every alert node closes due digests; the store closes each scheduled one once.
            if let Err(e) = sender.run_digests(&self.store, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "closing digests failed; trying again");
            }
            if let Err(e) = sender.deliver_claimed(&self.store).await {
                tracing::warn!(error = %e, "sending failed; trying again");
            }
            if stop.is_cancelled() {
                return Ok(());
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.send_wake.notified() => {}
                _ = tokio::time::sleep(SEND_POLL) => {}
            }
        }
    }
}

/// A copy of `item` whose captured media point at files in `cache` (written from the store's
/// bytes when not there yet): the detectors read only local files. Media whose bytes cannot be
/// read are left without a path (the detectors say so in `detector_errors`).
fn with_cached_media(store: &dyn PipelineStore, cache: &Path, item: &Item) -> Item {
    let mut copy = item.clone();
    for m in &mut copy.media {
        if m.path.is_some() {
            continue;
        }
        let Some(sha) = m.sha256.clone() else {
            continue;
        };
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = cache.join(&sha);
        if !path.exists() {
            let written = store
                .read_blob(&sha)
                .map_err(PipelineError::from)
                .and_then(|bytes| {
                    std::fs::create_dir_all(cache)
                        .and_then(|()| {
                            let tmp = tempfile::NamedTempFile::new_in(cache)?;
                            std::fs::write(tmp.path(), &bytes)?;
                            tmp.persist(&path).map_err(|e| e.error)?;
                            Ok(())
                        })
                        .map_err(|source| PipelineError::File {
                            what: "cannot write media bytes to the cache",
                            path: path.clone(),
                            source,
                        })
                });
            if let Err(e) = written {
                tracing::warn!(media = %sha, error = %full_message(&e), "media bytes unavailable to the detectors");
                continue;
            }
        }
        m.path = Some(path);
    }
    copy
}

/// Logs an answer to a delivery (ack, nak, reject) that did not reach NATS (it is away): the
/// delivery is not lost — JetStream hands it out again after `ack_wait`, and every stage's
/// store work is idempotent — so the node carries on instead of stopping.
pub(super) fn settled(answer: std::result::Result<(), ballotwatch_cluster::ClusterError>) {
    if let Err(e) = answer {
        tracing::warn!(error = %e, "cannot answer a delivery (NATS away?); it comes back after ack_wait");
    }
}

/// Naks every delivery of a batch after a failure that is not the work's fault (the store is
/// away): they come back after a delay, or become dead letters on their last attempt.
async fn nak_all(batch: Vec<Delivery<ItemRef>>, e: &PipelineError) -> Result<()> {
    let reason = full_message(e);
    tracing::warn!(error = %reason, items = batch.len(), "classify batch not saved; retrying later");
    for d in batch {
        settled(d.nak(RETRY, &reason).await);
    }
    Ok(())
}
