//! `ballotwatch reindex`: rebuild the search index from the store (the source of truth): the
//! embedded store, or on a cluster node the cluster's PostgreSQL.

use anyhow::Context;
use ballotwatch_index::{IndexError, IndexWriter, SearchIndex};
use ballotwatch_pipeline::Config;
use indicatif::{ProgressBar, ProgressStyle};

use ballotwatch_pipeline::{index_dir, upsert_all};

const BATCH: usize = 1000;

/// This node's index (recreated when its schema changed) and its writer. Taking the writer
/// first means a running `serve` is detected before anything is deleted.
fn open_index(config: &Config) -> anyhow::Result<(SearchIndex, IndexWriter)> {
    let dir = index_dir(config);
    let index = match SearchIndex::open_or_create(&dir) {
        Err(IndexError::SchemaChanged { .. }) => SearchIndex::recreate(&dir)?,
        other => other?,
    };
    let writer = index.writer(config.index.writer_memory.as_u64() as usize)?;
    Ok((index, writer))
}

/// With a `[cluster]` table: rebuilds this node's index replica from the cluster's
/// PostgreSQL, at the index feed's current position (`serve` follows the feed from there).
pub async fn run_cluster(config: &Config) -> anyhow::Result<u8> {
    let (index, writer) = open_index(config)?;
    let (items, position) = ballotwatch_pipeline::cluster::rebuild_replica(config, &index, writer)
        .await
        .context("cannot rebuild this node's index replica")?;
    println!(
        "reindexed {items} items from PostgreSQL into {} (this node's replica; `serve` follows the index feed from position {position})",
        index_dir(config).display()
    );
    Ok(0)
}

/// Drops every document and re-adds the latest version of every stored item.
pub fn run(config: &Config) -> anyhow::Result<u8> {
    let store = super::open_store(config)?;
    let dir = index_dir(config);
    let (index, mut writer) = open_index(config)?;
    writer.delete_all()?;

    let total = store.count_latest_items()?;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} reindexing [{bar:40}] {pos}/{len} items ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut after = 0;
    let mut done = 0u64;
    loop {
        let batch = store.latest_items_after(after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        upsert_all(&mut writer, &batch)?;
        writer.commit()?;
        let classified: Vec<_> = batch
            .iter()
            .filter(|s| s.result.is_some())
            .map(|s| s.index_mark())
            .collect();
        store.mark_indexed(&classified)?;
        done += batch.len() as u64;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    index.reload()?;
    println!("reindexed {done} items into {}", dir.display());
    Ok(0)
}
