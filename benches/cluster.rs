//! `cargo bench --bench cluster`: cluster mode (`ballotwatch serve` with a `[cluster]` table, the
//! real binary) on a real nats-server and PostgreSQL started on loopback for the run, against
//! embedded mode (`ballotwatch_pipeline::Pipeline`, what `serve` runs without `[cluster]`) on
//! the same items in the same run. Needs `models/install`, `tests/smtp/install`, nats-server
//! and PostgreSQL.
//!
//! 1. Embedded (baseline): poll → store → classify → incidents → index over the feeds; the
//!    classify stage alone is the classify baseline.
//! 2. Classify throughput with 1 and with 2 classify workers (`serve --roles classify`, each
//!    its own process): an ingest node stores and queues every item first; the rate counts
//!    from the moment every worker runs (models loaded) to the last item classified.
//! 3. The whole cluster path on one all-role node (`serve`): from "cluster node running" to
//!    every item decided, against embedded's whole pipeline.
//! 4. Replica staleness: a second node (`--roles ingest` with no sources: only its index
//!    replica and the sweep) — the time from an item's decision committed in PostgreSQL (by
//!    the all-role node) to the item being searchable in the second node's replica, sampled
//!    every 20 ms.
//! 5. Alert latency in cluster mode: threats added to a feed one at a time (polled every 10 s);
//!    from the item's ingestion (`ingested_at`) to the SMTP server's `250` (`accepted_at`).
//!
//! BENCH_CLUSTER_ITEMS (default 240) sets the items per run, BENCH_CLUSTER_ALERTS (default 20)
//! the alerts timed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use ballotwatch_cluster::testing::NatsServer;
use ballotwatch_index::{SearchIndex, SearchRequest};
use ballotwatch_pipeline::{Config, Pipeline};
use ballotwatch_store::testing::PgServer;
use common::{serve_router, SmtpServer, Workspace, SMTP_PASSWORD};

const FEEDS: usize = 4;
/// Combosquats of anytown.gov.uk: each is its own incident and alert.
const WORDS: [&str; 12] = [
    "vote",
    "votes",
    "voting",
    "voter",
    "election",
    "elections",
    "electoral",
    "register",
    "registration",
    "polling",
    "ballot",
    "official",
];
const TLDS: [&str; 3] = ["com", "net", "org"];

fn threat_domain(i: usize) -> String {
    format!(
        "anytown-{}.{}",
        WORDS[i % WORDS.len()],
        TLDS[(i / WORDS.len()) % TLDS.len()]
    )
}

/// Feed `n`: `per_feed` ordinary election posts; feed 0 also carries the first `threats`
/// threats.
fn feed(n: usize, per_feed: usize, threats: usize) -> String {
    let mut items = String::new();
    for t in 0..threats {
        items.push_str(&format!(
            "<item><guid>https://ward{n}.example/threat{t}</guid><link>https://ward{n}.example/threat{t}</link>\
             <title>Postal votes {t}</title><description>Apply for your postal vote before Friday at \
             https://{}/postal-vote</description></item>\n",
            threat_domain(t)
        ));
    }
    for i in 0..per_feed {
        items.push_str(&format!(
            "<item><guid>https://ward{n}.example/{i}</guid><link>https://ward{n}.example/{i}</link>\
             <title>Ward {n} update {i}</title><description>The count for ward {n} is at the town \
             hall on Thursday night; update {i} on polling station opening hours, postal vote \
             number {} and the candidates' hustings in the Riverside ward.</description></item>\n",
            i * 7919 % 1000
        ));
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Ward {n}</title>\
         <link>https://ward{n}.example/</link><description>x</description>\n{items}</channel></rss>"
    )
}

/// The feeds on loopback; feed 0 carries as many threats as `threats` says at the time.
fn feeds(per_feed: usize, threats: Arc<AtomicUsize>) -> String {
    let mut app = axum::Router::new();
    for n in 0..FEEDS {
        let threats = threats.clone();
        app =
            app.route(
                &format!("/ward{n}.xml"),
                axum::routing::get(move || {
                    let t = if n == 0 {
                        threats.load(Ordering::SeqCst)
                    } else {
                        0
                    };
                    let body = feed(n, per_feed, t);
                    async move {
                        ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
                    }
                }),
            );
    }
    let base = format!("http://{}", serve_router(app));
    (0..FEEDS)
        .map(|n| {
            format!(
                "[[source]]\nname = \"Ward {n}\"\nkind = \"rss\"\nurl = \"{base}/ward{n}.xml\"\n\
                 interval = \"10s\"\n\n"
            )
        })
        .collect()
}

const ANYTOWN: &str = "[[identity]]\nname = \"Anytown Borough Council\"\nkind = \"organisation\"\n\
                       domains = [\"anytown.gov.uk\"]\n\n";

struct Bench {
    nats: NatsServer,
    pg: PgServer,
    smtp: SmtpServer,
    sources: String,
}

impl Bench {
    /// A node's workspace: `sources` (empty for none), the alert rule, `[cluster]`.
    fn node(&self, prefix: &str, name: &str, sources: &str) -> Workspace {
        Workspace::new(&format!(
            "{ANYTOWN}{sources}{}[[alerts.rule]]\nname = \"comms\"\nkinds = [\"impersonation\"]\n\
             to = [\"comms@anytown.example\"]\n\n[evidence]\nscreenshots = false\n\n\
             [cluster]\nnats_url = \"{}\"\npostgres_url_env = \"BW_TEST_PG_URL\"\n\
             node_name = \"{name}\"\nprefix = \"{prefix}\"\nlease = \"3s\"\nreplicas = 1\n",
            self.smtp.config(),
            self.nats.url(),
        ))
    }

    fn serve(&self, ws: &Workspace, db: &str, roles: &str) -> Node {
        let log = std::fs::File::create(ws.dir.path().join("serve.log")).unwrap();
        let child = ws
            .cmd(&["serve", "--roles", roles])
            .env("BW_TEST_PG_URL", db)
            .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Node {
            child,
            log: ws.dir.path().join("serve.log"),
        }
    }
}

/// A running node, killed when dropped.
struct Node {
    child: Child,
    log: std::path::PathBuf,
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the node runs (models loaded, streams made); panics after 3 minutes.
    fn wait_running(&self) {
        let start = Instant::now();
        while !self.log().contains("cluster node running") {
            assert!(start.elapsed() < Duration::from_secs(180), "{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(db: &str, sql: &str) -> i64 {
    match postgres::Client::connect(db, postgres::NoTls) {
        Ok(mut c) => match c.query_one(sql, &[]) {
            Ok(r) => r.get(0),
            Err(_) => -1, // not migrated yet
        },
        Err(e) => panic!("{e}"),
    }
}

fn wait_count(db: &str, sql: &str, want: i64, timeout: Duration) -> Instant {
    let start = Instant::now();
    loop {
        if count(db, sql) >= want {
            return Instant::now();
        }
        assert!(
            start.elapsed() < timeout,
            "{sql}: not {want} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Embedded mode on the same feeds: (classify stage items/s, whole pipeline items/s).
fn embedded(bench: &Bench, n: usize) -> (f64, f64) {
    let ws = Workspace::new(&format!("{ANYTOWN}{}", bench.sources));
    let config = Config::load(&ws.config()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pipeline = Pipeline::open(config).unwrap();
    let t = Instant::now();
    let polls = rt.block_on(pipeline.poll_all(None));
    let poll = t.elapsed();
    assert!(polls.iter().all(|p| p.outcome.is_ok()), "{polls:?}");
    let t = Instant::now();
    assert_eq!(rt.block_on(pipeline.classify_pending()).unwrap(), n);
    let classify = t.elapsed();
    let t = Instant::now();
    rt.block_on(pipeline.decide_pending()).unwrap();
    rt.block_on(pipeline.index_pending()).unwrap();
    let total = poll + classify + t.elapsed();
    (
        n as f64 / classify.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
    )
}

/// Classify items/s with `workers` classify nodes, counted from when all of them run.
fn classify_run(bench: &Bench, workers: usize, n: usize) -> f64 {
    let prefix = format!("classify{workers}");
    let db = bench.pg.create_database(&prefix).unwrap();
    let ingest_ws = bench.node(&prefix, "ingest", &bench.sources);
    // It stays up: an item is queued after its poll's commit (or by its 15 s sweep).
    let _ingest = bench.serve(&ingest_ws, &db, "ingest");
    wait_count(
        &db,
        "SELECT count(*) FROM items",
        n as i64,
        Duration::from_secs(120),
    );
    let spaces: Vec<Workspace> = (0..workers)
        .map(|w| bench.node(&prefix, &format!("worker{w}"), ""))
        .collect();
    let nodes: Vec<Node> = spaces
        .iter()
        .map(|ws| bench.serve(ws, &db, "classify"))
        .collect();
    for node in &nodes {
        node.wait_running();
    }
    let t0 = Instant::now();
    let classified = "SELECT count(*) FROM items WHERE stage <> 'new'";
    let n0 = count(&db, classified);
    let t1 = wait_count(&db, classified, n as i64, Duration::from_secs(600));
    let rate = (n as i64 - n0) as f64 / (t1 - t0).as_secs_f64();
    println!(
        "  {workers} classify worker(s): {} items classified after all ran, {rate:.1} items/s",
        n as i64 - n0
    );
    rate
}

fn main() {
    let n_items: usize = std::env::var("BENCH_CLUSTER_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let n_alerts: usize = std::env::var("BENCH_CLUSTER_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(WORDS.len() * TLDS.len());
    let per_feed = n_items.div_ceil(FEEDS);
    let n = per_feed * FEEDS;
    let threats = Arc::new(AtomicUsize::new(0));
    let bench = Bench {
        nats: NatsServer::start().expect("nats-server (apt-get install nats-server)"),
        pg: PgServer::start().expect("PostgreSQL (apt-get install postgresql)"),
        smtp: SmtpServer::start("none"),
        sources: feeds(per_feed, threats.clone()),
    };
    println!(
        "cluster bench: {n} items in {FEEDS} feeds, nats-server and PostgreSQL on loopback, {} cores",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );

    let (embedded_classify, embedded_total) = embedded(&bench, n);
    println!(
        "  embedded (baseline): classify {embedded_classify:.1} items/s, whole pipeline {embedded_total:.1} items/s"
    );
    let one = classify_run(&bench, 1, n);
    let two = classify_run(&bench, 2, n);

    // The whole cluster path on one all-role node, a second node's replica watched.
    let prefix = "path";
    let db = bench.pg.create_database(prefix).unwrap();
    let replica_ws = bench.node(prefix, "replica", "");
    let replica = bench.serve(&replica_ws, &db, "ingest");
    replica.wait_running();
    let main_ws = bench.node(prefix, "main", &bench.sources);
    let main = bench.serve(&main_ws, &db, "ingest,classify,alert");
    main.wait_running();
    let t0 = Instant::now();
    let (decided_at, visible_at) = watch_replica(&db, &replica_ws, n, Duration::from_secs(600));
    let t1 = decided_at.values().max().copied().unwrap_or(t0);
    let path = n as f64 / (t1 - t0).as_secs_f64();
    let mut lags: Vec<Duration> = decided_at
        .iter()
        .filter_map(|(id, d)| visible_at.get(id).map(|v| v.saturating_duration_since(*d)))
        .collect();
    lags.sort();

    // Alert latency: one new threat every 1.5 s.
    for t in 1..=n_alerts {
        threats.store(t, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
    }
    wait_count(
        &db,
        "SELECT count(*) FROM outbox WHERE state = 'sent'",
        n_alerts as i64,
        Duration::from_secs(120),
    );
    let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let rows = c
        .query(
            "SELECT EXTRACT(EPOCH FROM (o.accepted_at - min(i.ingested_at)))::float8 \
             FROM outbox o JOIN incident_items ii ON ii.incident_id = o.incident_id \
             JOIN items i ON i.id = ii.item_id WHERE o.state = 'sent' AND o.kind = 'alert' \
             GROUP BY o.id, o.accepted_at",
            &[],
        )
        .unwrap();
    let mut alerts: Vec<Duration> = rows
        .iter()
        .map(|r| Duration::from_secs_f64(r.get::<_, f64>(0).max(0.0)))
        .collect();
    alerts.sort();
    drop(main);
    drop(replica);

    println!();
    println!("| what | result | vs embedded in the same run |");
    println!("| --- | --- | --- |");
    println!("| embedded classify stage (baseline) | {embedded_classify:.1} items/s | 1.00x |");
    println!(
        "| cluster, 1 classify worker | {one:.1} items/s | {:.2}x |",
        one / embedded_classify
    );
    println!(
        "| cluster, 2 classify workers | {two:.1} items/s | {:.2}x (per-worker efficiency {:.0}% of 1 worker) |",
        two / embedded_classify,
        100.0 * two / (2.0 * one)
    );
    println!("| embedded whole pipeline (baseline) | {embedded_total:.1} items/s | 1.00x |");
    println!(
        "| cluster path, one all-role node (poll → PostgreSQL → classify queue → decide → index feed) | {path:.1} items/s | {:.2}x |",
        path / embedded_total
    );
    if !lags.is_empty() {
        println!(
            "| replica staleness: decided in PostgreSQL → searchable on another node ({} items) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms | |",
            lags.len(),
            ms(percentile(&lags, 0.5)),
            ms(percentile(&lags, 0.99)),
            ms(*lags.last().unwrap_or(&Duration::ZERO))
        );
    }
    if !alerts.is_empty() {
        println!(
            "| alert latency in cluster mode: item ingested → SMTP 250 ({} alerts; target p99 ≤ 5 s) | p50 {:.0} ms, p99 {:.0} ms | |",
            alerts.len(),
            ms(percentile(&alerts, 0.5)),
            ms(percentile(&alerts, 0.99))
        );
    }
}

/// Samples every 20 ms which items PostgreSQL holds decided and which the replica in `ws`
/// finds, until all `n` are in both; when each was first seen in each.
fn watch_replica(
    db: &str,
    ws: &Workspace,
    n: usize,
    timeout: Duration,
) -> (HashMap<String, Instant>, HashMap<String, Instant>) {
    let mut c = postgres::Client::connect(db, postgres::NoTls).unwrap();
    let dir = ws.data_dir().join("index");
    let mut index: Option<SearchIndex> = None;
    let mut decided = HashMap::new();
    let mut visible = HashMap::new();
    let start = Instant::now();
    while decided.len() < n || visible.len() < n {
        assert!(
            start.elapsed() < timeout,
            "{} decided, {} visible of {n}",
            decided.len(),
            visible.len()
        );
        let now = Instant::now();
        if let Ok(rows) = c.query("SELECT id FROM items WHERE alerted", &[]) {
            for r in rows {
                decided.entry(r.get::<_, String>(0)).or_insert(now);
            }
        }
        if index.is_none() {
            index = SearchIndex::open_existing(&dir).ok();
        }
        if let Some(ix) = &index {
            let _ = ix.reload();
            let found = ix.search(&SearchRequest::new("*", 1000));
            if let Ok(found) = found {
                let now = Instant::now();
                for hit in found.hits {
                    visible.entry(hit.id).or_insert(now);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (decided, visible)
}
