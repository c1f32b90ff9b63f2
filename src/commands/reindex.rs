//! `ballotwatch reindex`: rebuild the search index from the store (the source of truth).

use ballotwatch_index::{IndexError, SearchIndex};
use ballotwatch_pipeline::Config;
use indicatif::{ProgressBar, ProgressStyle};

use ballotwatch_pipeline::{index_dir, upsert_all};

const BATCH: usize = 1000;

/// Drops every document and re-adds the latest version of every stored item.
pub fn run(config: &Config) -> anyhow::Result<u8> {
    let store = super::open_store(config)?;
    let dir = index_dir(config);
    let index = match SearchIndex::open_or_create(&dir) {
        Err(IndexError::SchemaChanged { .. }) => SearchIndex::recreate(&dir)?,
        other => other?,
    };
    // Taking the writer first means a running `serve` is detected before anything is deleted.
    let mut writer = index.writer(config.index.writer_memory.as_u64() as usize)?;
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
