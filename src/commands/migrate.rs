//! `ballotwatch migrate --to-cluster`: copy an embedded store (the config's `data_dir`) into the
//! cluster's PostgreSQL (`[cluster] postgres_url_env`), then verify the copy.
//!
//! Every table is copied with its ids (see `ballotwatch_store::PgStore::import_tables`), capture
//! bytes by SHA-256 (each read back and checked), in pages: memory stays bounded whatever the
//! store's size. A run is idempotent and resumable: it inserts only what the target lacks, so
//! a second run copies nothing and says so. A target that already holds data must be an earlier
//! copy of this store (every row it has equal to ours, none we lack); otherwise the run refuses
//! (exit 2, naming the first difference) unless `--force`, which drops every Ballotwatch table in
//! the target first. The run ends by verifying: every table's rows equal on both sides (so the
//! counts are equal), every blob re-read from both sides with its SHA-256 checked, the capture
//! log's head equal; exit 1 naming the first mismatch.

use std::time::Instant;

use anyhow::Context;
use ballotwatch_pipeline::Config;
use ballotwatch_store::{Pass, PgOptions, PgStore, Store, TableReport};

use super::UsageError;

/// Progress lines (on stderr) come every this many rows of one table.
const PROGRESS_EVERY: u64 = 10_000;

/// Runs the migration; returns the exit code (0 verified, 1 a mismatch).
pub fn to_cluster(config: &Config, force: bool) -> anyhow::Result<u8> {
    let cluster = config.cluster.as_ref().ok_or_else(|| {
        UsageError(
            "migrate --to-cluster copies into the PostgreSQL database of the config's [cluster] \
             table, and this config has none (see README, Running a cluster)"
                .into(),
        )
    })?;
    let url = cluster
        .postgres_url()
        .map_err(|e| UsageError(e.to_string()))?;
    let store = super::open_store(config)?;
    let pg = PgStore::connect(
        &url,
        PgOptions {
            pool_size: 2,
            ca_file: cluster.postgres_ca_file.clone(),
            ..PgOptions::default()
        },
    )
    .context("cannot open the cluster's PostgreSQL store")?;
    println!(
        "migrating the embedded store in {} to PostgreSQL {}",
        config.data_dir.display(),
        pg.server()
    );
    let started = Instant::now();
    let mut progress = progress_printer();

    if pg.holds_data()? {
        if force {
            println!(
                "--force: the target holds data; dropping every Ballotwatch table there first"
            );
            pg.reset_schema()?;
        } else {
            println!(
                "the target already holds data: checking that it is an earlier copy of this store"
            );
            if let Some(problem) = earlier_copy_problem(&pg, &store, &mut progress)? {
                return Err(UsageError(format!(
                    "PostgreSQL {} holds data that is not a copy of this store ({problem}); \
                     nothing was copied. Use an empty database, or --force to drop every \
                     Ballotwatch table there and copy afresh",
                    pg.server()
                ))
                .into());
            }
        }
    }

    let mut copied = pg.import_tables(&store, Pass::Copy, &mut progress)?;
    copied.push(pg.import_blobs(&store, Pass::Copy, &mut progress)?);
    let copy_time = started.elapsed();

    let verify_started = Instant::now();
    let mut verified = pg.import_tables(&store, Pass::Check, &mut progress)?;
    verified.push(pg.import_blobs(&store, Pass::Check, &mut progress)?);
    let heads = (store.capture_log_head()?, pg.capture_log_head()?);

    print_table(&copied, &verified);
    let head = |h: &Option<ballotwatch_store::LogEntry>| {
        h.as_ref()
            .map_or("empty".to_string(), |e| format!("seq {} {}", e.seq, e.head))
    };
    let heads_equal =
        heads.0.as_ref().map(|e| (e.seq, &e.head)) == heads.1.as_ref().map(|e| (e.seq, &e.head));
    println!(
        "capture log head: embedded {}, PostgreSQL {}{}",
        head(&heads.0),
        head(&heads.1),
        if heads_equal { " (equal)" } else { "" }
    );

    let rows: u64 = copied
        .iter()
        .filter(|r| r.table != "blobs")
        .map(|r| r.copied)
        .sum();
    let blobs = copied.iter().find(|r| r.table == "blobs");
    let (blob_n, blob_bytes) = blobs.map_or((0, 0), |b| (b.copied, b.bytes));
    let items = copied
        .iter()
        .find(|r| r.table == "items")
        .map_or(0, |r| r.copied);
    if rows == 0 && blob_n == 0 {
        println!("nothing to copy: PostgreSQL already held every row and blob of this store");
    } else {
        let secs = copy_time.as_secs_f64().max(1e-3);
        println!(
            "copied {rows} rows and {blob_n} blobs ({:.1} MB) in {secs:.1} s ({:.0} item versions/s, {:.0} rows/s)",
            blob_bytes as f64 / 1e6,
            items as f64 / secs,
            rows as f64 / secs,
        );
    }

    // The first mismatch, in copy order: a table, the blobs, then the capture log's head.
    let problem = verified
        .iter()
        .find(|r| !r.matches())
        .map(|r| {
            r.first_problem.clone().unwrap_or_else(|| {
                format!(
                    "{}: {} rows in the embedded store, {} in PostgreSQL",
                    r.table, r.source, r.target
                )
            })
        })
        .or_else(|| {
            (!heads_equal).then(|| {
                format!(
                    "the capture log's head differs: embedded {}, PostgreSQL {}",
                    head(&heads.0),
                    head(&heads.1)
                )
            })
        });
    if let Some(p) = problem {
        println!("MISMATCH: {p}");
        eprintln!("error: the copy in PostgreSQL does not match the embedded store: {p}");
        return Ok(1);
    }
    let blob_total = verified
        .iter()
        .find(|r| r.table == "blobs")
        .map_or(0, |r| r.source);
    println!(
        "verified in {:.1} s: every table's rows equal, {blob_total} blobs re-read from both \
         stores with their SHA-256 checked, capture-log heads equal",
        verify_started.elapsed().as_secs_f64()
    );
    Ok(0)
}

/// The first reason the target is not an earlier (maybe partial) copy of `store`: a row that
/// differs, or rows or blobs the embedded store does not have.
fn earlier_copy_problem(
    pg: &PgStore,
    store: &Store,
    progress: &mut dyn FnMut(&str, u64),
) -> anyhow::Result<Option<String>> {
    let tables = pg.import_tables(store, Pass::Check, progress)?;
    // Missing rows are fine (an interrupted copy); different or extra ones are not.
    Ok(tables
        .iter()
        .find(|r| r.conflicts())
        .map(|r| r.first_conflict.clone().unwrap_or_else(|| r.table.clone())))
}

/// A progress callback that prints a line to stderr every [`PROGRESS_EVERY`] rows of a table.
fn progress_printer() -> impl FnMut(&str, u64) {
    let mut last: (String, u64) = (String::new(), 0);
    move |table: &str, done: u64| {
        if last.0 != table {
            last = (table.to_string(), 0);
        }
        if done / PROGRESS_EVERY > last.1 / PROGRESS_EVERY {
            eprintln!("  {table}: {done} rows");
        }
        last.1 = done;
    }
}

/// The summary: per table, rows in each store after the copy and how many this run copied.
fn print_table(copied: &[TableReport], verified: &[TableReport]) {
    println!(
        "{:<18} {:>10} {:>11} {:>8}  check",
        "table", "embedded", "postgresql", "copied"
    );
    for (c, v) in copied.iter().zip(verified) {
        println!(
            "{:<18} {:>10} {:>11} {:>8}  {}",
            v.table,
            v.source,
            v.target,
            c.copied,
            if v.matches() { "ok" } else { "MISMATCH" }
        );
    }
}
