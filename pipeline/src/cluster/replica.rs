//! This node's search replica: its Tantivy index in `data_dir/index`, fed from the index feed.
//!
//! The replica keeps the feed position it has applied (`index/feed-position`, written after
//! each commit). At start-up:
//! - a position the stream still holds (not older than its retention, not newer than its end):
//!   the replica resumes just after it (changes it already applied may come again: they are
//!   idempotent upserts of the latest version from PostgreSQL);
//! - no position (a new node, an emptied or replaced index folder), or one the stream no longer
//!   holds: the replica is rebuilt from PostgreSQL (every item's latest version, in
//!   `reindex`-style pages) and follows the feed from the position read *before* the rebuild,
//!   so a change committed while the rebuild reads is applied after it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ballotwatch_cluster::index_feed::{IndexChange, IndexOp};
use ballotwatch_cluster::Cluster;
use ballotwatch_index::{IndexWriter, SearchIndex};
use ballotwatch_store::{PgOptions, PgStore, PipelineStore};
use tokio_util::sync::CancellationToken;

use super::stages::{settled, PULL_WAIT};
use super::{sleep_or_stop, ClusterNode, RETRY};
use crate::{full_message, index_dir, upsert_all, PipelineError, Result};

/// Index-feed changes applied per replica commit.
const INDEX_PULL: usize = 256;
/// Items read from PostgreSQL per page of a rebuild.
const REBUILD_PAGE: usize = 1000;
/// The file in the index folder holding the last feed position the replica applied.
const POSITION_FILE: &str = "feed-position";

impl ClusterNode {
    /// Keeps this node's Tantivy index fed from the index feed, until stopped: first catches
    /// up (resume from the stored position, or rebuild from PostgreSQL), then applies changes
    /// as they come.
    pub(super) async fn index_loop(&self, stop: CancellationToken) -> Result<()> {
        let Some(from) = self.replica_start(&stop).await? else {
            return Ok(());
        };
        let replica = self.index_feed.replica(Some(from)).await?;
        let position = position_path(&self.config);
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let batch = match replica.next_batch(INDEX_PULL, PULL_WAIT).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "index feed unreachable; trying again");
                    if sleep_or_stop(&stop, RETRY).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            let changes: Vec<IndexChange> = batch.iter().map(|d| d.message().clone()).collect();
            let last = batch
                .iter()
                .map(|d| d.stream_sequence())
                .max()
                .unwrap_or(from);
            let writer = self.writer.clone();
            let index = self.index.clone();
            let path = position.clone();
            let applied = self
                .blocking(move |store| {
                    let n = apply_changes(store, &writer, &index, &changes)?;
                    write_position(&path, last)?;
                    Ok(n)
                })
                .await;
            match applied {
                Ok(n) => {
                    tracing::debug!(changes = n, position = last, "index replica committed");
                    for d in batch {
                        settled(d.ack().await);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %full_message(&e), "index replica update failed; the changes come back");
                    for d in batch {
                        settled(d.nak(RETRY, &full_message(&e)).await);
                    }
                }
            }
        }
    }

    /// The feed position the replica follows from: its stored one when the stream still holds
    /// what came after it, else the stream's end after a rebuild from PostgreSQL. `None` when
    /// stopped first. NATS or PostgreSQL being away is waited out.
    async fn replica_start(&self, stop: &CancellationToken) -> Result<Option<u64>> {
        let path = position_path(&self.config);
        let stored = read_position(&path);
        loop {
            let (first, last) = match self.index_feed.bounds().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "index feed unreachable; trying again");
                    if sleep_or_stop(stop, RETRY).await {
                        return Ok(None);
                    }
                    continue;
                }
            };
            if let Some(p) = stored {
                if p.saturating_add(1) >= first && p <= last {
                    tracing::info!(
                        position = p,
                        feed_end = last,
                        "index replica resumes from its position"
                    );
                    return Ok(Some(p));
                }
                tracing::warn!(position = p, feed_first = first, feed_end = last, "the index replica's position is not in the feed any more; rebuilding it from PostgreSQL");
            }
            // Read the end first: every change up to it was published after its commit, so the
            // rebuild below sees it; later ones are replayed from the feed.
            let writer = self.writer.clone();
            let index = self.index.clone();
            let path = path.clone();
            let started = std::time::Instant::now();
            let rebuilt = self
                .blocking(move |store| rebuild(store, &writer, &index, &path, last))
                .await;
            match rebuilt {
                Ok(n) => {
                    tracing::info!(
                        items = n,
                        position = last,
                        took_ms = started.elapsed().as_millis() as u64,
                        "index replica rebuilt from PostgreSQL"
                    );
                    return Ok(Some(last));
                }
                Err(e) => {
                    tracing::warn!(error = %full_message(&e), "cannot rebuild the index replica yet; trying again");
                    if sleep_or_stop(stop, RETRY).await {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// `ballotwatch reindex` on a cluster node: rebuilds this node's replica (`index`, with its
/// `writer` taken, so a `serve` running on the node is refused before anything is deleted) from
/// PostgreSQL now, and stores as its position the index feed's end read *before* the rebuild, so
/// `serve` replays whatever was committed during it. Needs NATS (for that position) and
/// PostgreSQL. Returns the items indexed and the position.
pub async fn rebuild_replica(
    config: &crate::Config,
    index: &SearchIndex,
    writer: IndexWriter,
) -> Result<(u64, u64)> {
    let cluster_config = config.cluster.clone().ok_or_else(|| {
        PipelineError::Inconsistent("rebuilding a replica needs a [cluster] table".into())
    })?;
    let cluster = Cluster::connect(&cluster_config).await?;
    let (_, last) = cluster.index_feed().await?.bounds().await?;
    let url = cluster_config.postgres_url()?;
    let options = PgOptions {
        node: cluster_config.node(),
        pool_size: 1,
        ca_file: cluster_config.postgres_ca_file.clone(),
        ..PgOptions::default()
    };
    let index = index.clone();
    let path = position_path(config);
    let items = tokio::task::spawn_blocking(move || {
        // Connected, used and dropped on this blocking thread, as the client needs.
        let store = PgStore::connect(&url, options)?;
        rebuild(&store, &Mutex::new(writer), &index, &path, last)
    })
    .await
    .map_err(|e| PipelineError::panicked("rebuilding the index replica", e))??;
    Ok((items, last))
}

/// Where the replica keeps its feed position: inside the index folder, so an emptied or
/// replaced folder has none and is rebuilt.
fn position_path(config: &crate::Config) -> PathBuf {
    index_dir(config).join(POSITION_FILE)
}

/// The stored position; `None` when there is none or it cannot be read (then the replica is
/// rebuilt, which is always safe).
fn read_position(path: &Path) -> Option<u64> {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.trim().parse() {
            Ok(p) => Some(p),
            Err(_) => {
                tracing::warn!(path = %path.display(), "the index replica's feed position is not a number; rebuilding the replica");
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the index replica's feed position; rebuilding the replica");
            None
        }
    }
}

/// Stores `position` (atomically: a crash leaves the old one, and the changes after it are
/// applied again).
fn write_position(path: &Path, position: u64) -> Result<()> {
    let file_error = |source| PipelineError::File {
        what: "cannot store the index replica's feed position",
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(file_error)?;
    std::fs::write(tmp.path(), position.to_string()).map_err(file_error)?;
    tmp.persist(path).map_err(|e| file_error(e.error))?;
    Ok(())
}

/// Empties the replica and adds every item's latest version from the store, then stores
/// `position`; returns how many items it holds.
fn rebuild(
    store: &dyn PipelineStore,
    writer: &Mutex<IndexWriter>,
    index: &SearchIndex,
    path: &Path,
    position: u64,
) -> Result<u64> {
    let mut writer = lock(writer)?;
    let fill = |writer: &mut IndexWriter| -> Result<u64> {
        writer.delete_all()?;
        let mut after = 0;
        let mut done = 0u64;
        loop {
            let page = store.latest_items_after(after, REBUILD_PAGE)?;
            let Some(last) = page.last() else {
                return Ok(done);
            };
            after = last.seq;
            upsert_all(writer, &page)?;
            done += page.len() as u64;
        }
    };
    let done = match fill(&mut writer) {
        Ok(n) => n,
        Err(e) => {
            // Keep the replica as it was (the rebuild is tried again).
            writer.rollback()?;
            return Err(e);
        }
    };
    writer.commit()?;
    index.reload()?;
    write_position(path, position)?;
    Ok(done)
}

fn lock(writer: &Mutex<IndexWriter>) -> Result<std::sync::MutexGuard<'_, IndexWriter>> {
    writer.lock().map_err(|_| {
        PipelineError::Task("the index writer was poisoned by an earlier panic".into())
    })
}

/// Applies index-feed changes to this node's index from the store's latest versions, in one
/// commit; returns how many items were written.
fn apply_changes(
    store: &dyn PipelineStore,
    writer: &Mutex<IndexWriter>,
    index: &SearchIndex,
    changes: &[IndexChange],
) -> Result<usize> {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    let mut deleted = Vec::new();
    for c in changes {
        if !seen.insert(c.item_id.clone()) {
            continue;
        }
        match c.op {
            IndexOp::Upsert => {
                if let Some(s) = store.get_item(&c.item_id)? {
                    items.push(s);
                }
            }
            IndexOp::Delete => deleted.push(c.item_id.clone()),
        }
    }
    let mut writer = lock(writer)?;
    for id in &deleted {
        writer.delete(id);
    }
    upsert_all(&mut writer, &items)?;
    writer.commit()?;
    index.reload()?;
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_round_trips_and_a_bad_one_means_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(POSITION_FILE);
        assert_eq!(read_position(&path), None);
        write_position(&path, 42).unwrap();
        assert_eq!(read_position(&path), Some(42));
        write_position(&path, 43).unwrap();
        assert_eq!(read_position(&path), Some(43));
        std::fs::write(&path, "forty-two").unwrap();
        assert_eq!(read_position(&path), None);
    }
}
