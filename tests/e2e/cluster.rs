//! End to end, cluster mode: `ballotwatch serve` nodes with a `[cluster]` table against one real
//! nats-server and one real PostgreSQL (each started once for this test binary on loopback,
//! each test with its own stream prefix and database), RSS feeds on loopback and the real test
//! SMTP server. Two all-role nodes share the work: every threat becomes exactly one incident,
//! emailed exactly once, and no item is classified twice; kill -9 one node mid-run and the
//! other takes its sources over within one lease period and finishes everything; and, in one
//! scenario, nats-server stopped for 20 s, PostgreSQL crashed and restarted, and a late node's
//! search replica rebuilt from PostgreSQL (that test has its own nats-server, and holds the
//! shared PostgreSQL exclusively while it restarts it).

use crate::common;

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use ballotwatch_cluster::testing::NatsServer;
use common::tools::Tool;
use common::*;

/// The lookalikes of anytown.gov.uk the feeds carry, one per source: each is one threat.
const THREATS: [&str; 5] = [
    "anytown-gov.uk",
    "anytown.co.uk",
    "anytownn.gov.uk",
    "anytown-vote.com",
    "anytown.gov.uk.example.com",
];
/// Ordinary posts per feed beside its threat.
const ORDINARY: usize = 30;
/// The lease period of the test config (the shortest `[cluster] lease` allows): a dead node's
/// sources move within it.
const LEASE: Duration = Duration::from_secs(3);

const ANYTOWN: &str = "[[identity]]\nname = \"Anytown Borough Council\"\nkind = \"organisation\"\n\
                       domains = [\"anytown.gov.uk\"]\n\n";

/// Feed `n`: one post linking to its lookalike domain and [`ORDINARY`] election posts; served
/// after `n` × 400 ms, so a node is killed while some sources are stored and others in flight.
fn feed(n: usize) -> String {
    let mut items = format!(
        "<item><guid>https://ward{n}.example/threat</guid><link>https://ward{n}.example/threat</link>\
         <title>Postal votes</title><description>Apply for your postal vote before Friday at \
         https://{}/postal-vote</description></item>\n",
        THREATS[n]
    );
    for i in 0..ORDINARY {
        items.push_str(&format!(
            "<item><guid>https://ward{n}.example/{i}</guid><link>https://ward{n}.example/{i}</link>\
             <title>Ward {n} update {i}</title><description>The count for ward {n} is at the \
             town hall on Thursday night; update {i} on polling station opening hours.\
             </description></item>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Ward {n}</title>\
         <link>https://ward{n}.example/</link><description>x</description>\n{items}</channel></rss>"
    )
}

/// The five feeds on loopback; returns their `[[source]]` tables.
fn sources() -> String {
    let mut app = axum::Router::new();
    for n in 0..THREATS.len() {
        let body = feed(n);
        app = app.route(
            &format!("/ward{n}.xml"),
            axum::routing::get(move || {
                let body = body.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(400 * n as u64)).await;
                    ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
                }
            }),
        );
    }
    let base = format!("http://{}", serve_router(app));
    (0..THREATS.len())
        .map(|n| rss_source(&format!("Ward {n}"), &format!("{base}/ward{n}.xml")))
        .collect()
}

/// One test's cluster: a stream prefix on the shared nats-server, a database on the shared
/// PostgreSQL, the feeds, and a mailbox on the shared SMTP server.
struct Setup {
    nats_url: String,
    prefix: String,
    pg_url: String,
    sources: String,
    /// The threats the feeds carry (each one incident, one email), and the items in all.
    threats: Vec<&'static str>,
    total: usize,
    /// The nodes' `[evidence]` table.
    evidence: String,
    smtp: Mailbox<'static>,
    _db: Option<ballotwatch_store::testing::PgDatabase<'static>>,
}

/// The shared servers, or `None` (the test is skipped; under CI it fails) without them.
fn servers(
    name: &str,
) -> Option<(
    &'static NatsServer,
    &'static ballotwatch_store::testing::SharedPg,
)> {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return None;
    }
    let found = NatsServer::shared().and_then(|n| Ok((n, ballotwatch_store::testing::shared()?)));
    match found {
        Ok(s) => Some(s),
        Err(e) if !common::tools::in_ci() => {
            eprintln!("SKIPPED {name}: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

impl Setup {
    /// `None` (the test is skipped, or fails under CI) without the servers or the models.
    fn new(name: &str) -> Option<Setup> {
        let (nats, pg) = servers(name)?;
        let db = pg.database(name).unwrap();
        Some(Setup {
            nats_url: nats.url(),
            prefix: name.replace('_', "-"),
            pg_url: db.url.clone(),
            sources: sources(),
            threats: THREATS.to_vec(),
            total: THREATS.len() * (ORDINARY + 1),
            evidence: "screenshots = false\n".into(),
            smtp: SmtpServer::shared("none").mailbox(),
            _db: Some(db),
        })
    }

    /// A node's workspace: the same config for every node but its name (and data folder).
    fn node(&self, name: &str) -> Workspace {
        Workspace::new(&format!(
            "{ANYTOWN}{}{}[[alerts.rule]]\nname = \"comms\"\nkinds = [\"impersonation\"]\n\
             to = [\"comms@anytown.example\"]\n\n\
             [evidence]\n{}\n\
             [cluster]\nnats_url = \"{}\"\npostgres_url_env = \"BW_TEST_PG_URL\"\n\
             node_name = \"{name}\"\nprefix = \"{}\"\nlease = \"{}ms\"\nreplicas = 1\n\
             [cluster.classify]\nack_wait = \"5s\"\n[cluster.decide]\nack_wait = \"5s\"\n",
            self.sources,
            self.smtp.config(),
            self.evidence,
            self.nats_url,
            self.prefix,
            LEASE.as_millis()
        ))
    }

    /// Starts `serve` in `ws`, its log in `serve.log` there.
    fn serve(&self, ws: &Workspace) -> Child {
        self.serve_with(ws, &[])
    }

    /// [`Setup::serve`] with more arguments.
    fn serve_with(&self, ws: &Workspace, args: &[&str]) -> Child {
        let log = std::fs::File::create(ws.dir.path().join("serve.log")).unwrap();
        let mut cmd = vec!["serve"];
        cmd.extend_from_slice(args);
        ws.cmd(&cmd)
            .env("BW_TEST_PG_URL", &self.pg_url)
            .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn pg(&self) -> postgres::Client {
        postgres::Client::connect(&self.pg_url, postgres::NoTls).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.pg().query_one(sql, &[]).unwrap().get(0)
    }

    /// [`Setup::count`], or -1 while the nodes have not created the schema yet.
    fn count_once_migrated(&self, sql: &str) -> i64 {
        match self.pg().query_one(sql, &[]) {
            Ok(row) => row.get(0),
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => -1,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Waits until every item is stored and classified, every threat is an incident and every
    /// alert was accepted by the SMTP server; panics after `timeout`.
    fn wait_until_done(&self, timeout: Duration, logs: &[&Workspace]) {
        self.wait_until(self.total, self.threats.len(), timeout, logs);
    }

    /// [`Setup::wait_until_done`] for the first `total` items and `threats` threats.
    fn wait_until(&self, total: usize, threats: usize, timeout: Duration, logs: &[&Workspace]) {
        let (total, threats) = (total as i64, threats as i64);
        let start = Instant::now();
        loop {
            let items = self.count_once_migrated("SELECT count(*) FROM items");
            let new = self.count_once_migrated("SELECT count(*) FROM items WHERE stage = 'new'");
            let incidents = self.count_once_migrated("SELECT count(*) FROM incidents");
            let sent = self.count_once_migrated("SELECT count(*) FROM outbox WHERE state = 'sent'");
            if items == total && new == 0 && incidents == threats && sent == incidents {
                return;
            }
            if start.elapsed() > timeout {
                for ws in logs {
                    eprintln!("---- {} ----\n{}", ws.dir.path().display(), log(ws));
                }
                panic!("not done after {timeout:?}: {items}/{total} items, {new} unclassified, {incidents} incidents, {sent} sent");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The end state both tests check: one incident per threat with its one item, one email
    /// per incident, everything classified exactly once in the store.
    fn check_exactly_once(&self) {
        let threats = &self.threats;
        let pg = &mut self.pg();
        let rows = pg
            .query(
                "SELECT i.id, count(ii.item_id) FROM incidents i \
                 JOIN incident_items ii ON ii.incident_id = i.id GROUP BY i.id",
                &[],
            )
            .unwrap();
        assert_eq!(rows.len(), threats.len(), "one incident per threat");
        for r in &rows {
            assert_eq!(
                r.get::<_, i64>(1),
                1,
                "incident {} has one item",
                r.get::<_, i64>(0)
            );
        }
        let versions: i64 = pg
            .query_one("SELECT count(*) FROM items WHERE version <> 1", &[])
            .unwrap()
            .get(0);
        assert_eq!(versions, 0, "the feeds did not change");
        // Let any duplicate send happen before counting.
        std::thread::sleep(Duration::from_millis(1500));
        let mails = self.smtp.messages();
        assert_eq!(mails.len(), threats.len(), "one email per incident");
        let mut domains: Vec<&str> = threats
            .iter()
            .copied()
            .filter(|d| mails.iter().any(|m| m.text().contains(d)))
            .collect();
        domains.dedup();
        assert_eq!(domains.len(), threats.len(), "each threat emailed");
        let ids: std::collections::HashSet<String> = mails
            .iter()
            .filter_map(|m| m.header("Message-ID"))
            .collect();
        assert_eq!(ids.len(), threats.len(), "distinct messages");
        let outbox: i64 = pg
            .query_one("SELECT count(*) FROM outbox", &[])
            .unwrap()
            .get(0);
        assert_eq!(outbox, threats.len() as i64);
    }
}

/// A node's log, without the terminal colours of its fields.
fn log(ws: &Workspace) -> String {
    let raw = std::fs::read_to_string(ws.dir.path().join("serve.log")).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Items the node's log says it classified (the `classified items=N` lines).
fn classified_by(ws: &Workspace) -> usize {
    log(ws)
        .lines()
        .filter(|l| l.contains(" classified items="))
        .filter_map(|l| {
            let rest = l.split(" classified items=").nth(1)?;
            rest.split_whitespace().next()?.parse::<usize>().ok()
        })
        .sum()
}

fn term(child: &mut Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Waits for `child` to exit; its exit code.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the node on drop (a failing test must not leave it running).
/// Asserts that `child` (sent SIGTERM) exits with 0 within 20 s; its log when not.
fn assert_exits_cleanly(child: &mut Child, ws: &Workspace) {
    assert_eq!(
        wait_exit(child, Duration::from_secs(20)),
        Some(0),
        "{}",
        log(ws)
    );
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_all_role_nodes_make_one_incident_and_one_email_per_threat() {
    let Some(mut setup) = Setup::new("cluster_two_nodes") else {
        return;
    };
    // Trusted timestamps of the shared capture log, from the test TSA.
    let tsa = crate::evidence::tsa::tsa();
    setup.evidence = format!(
        "screenshots = false\ntsa_urls = [\"{}\"]\ntsa_roots = [\"{}\"]\n\
         timestamp_interval = \"10s\"\n",
        tsa.url("rsa"),
        tsa.root_pem().display()
    );
    let started = Instant::now();
    let (a, b) = (setup.node("bw-a"), setup.node("bw-b"));
    let mut na = Running(setup.serve(&a));
    let mut nb = Running(setup.serve(&b));
    setup.wait_until_done(Duration::from_secs(120), &[&a, &b]);
    eprintln!("two nodes: everything done in {:?}", started.elapsed());
    setup.check_exactly_once();
    let total = THREATS.len() * (ORDINARY + 1);
    let (ca, cb) = (classified_by(&a), classified_by(&b));
    assert_eq!(
        ca + cb,
        total,
        "each item classified once: {ca} by bw-a, {cb} by bw-b"
    );
    // Every source was polled (by whichever node held its lease).
    let taken = log(&a).matches("source taken").count() + log(&b).matches("source taken").count();
    assert!(taken >= THREATS.len(), "{}\n{}", log(&a), log(&b));
    // One node at a time timestamps the shared chain: the head as it was once everything was
    // done gets covered by a token (every `timestamp_interval`, 10 s; later polls may add
    // entries meanwhile), each token is for a head of the chain in PostgreSQL, and no head is
    // stamped twice.
    let head_when_done = setup.count("SELECT COALESCE(max(seq), 0) FROM capture_log");
    assert!(head_when_done > 0);
    let deadline = Instant::now() + Duration::from_secs(40);
    while setup.count("SELECT COALESCE(max(seq), 0) FROM timestamp_tokens") < head_when_done {
        assert!(
            Instant::now() < deadline,
            "entry {head_when_done} was never covered by a token:\n{}\n{}",
            log(&a),
            log(&b)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        setup.count(
            "SELECT count(*) FROM timestamp_tokens t JOIN capture_log c ON c.seq = t.seq \
             WHERE c.head <> t.head"
        ),
        0
    );
    assert_eq!(
        setup.count("SELECT count(*) - count(DISTINCT seq) FROM timestamp_tokens"),
        0,
        "a head stamped twice"
    );
    let holders = [&a, &b]
        .iter()
        .filter(|n| log(n).contains("lease taken: this node does the cluster's timestamps"))
        .count();
    // One holder at a time; a lease that lapsed under load may pass to the other node.
    assert!(holders >= 1, "{}\n{}", log(&a), log(&b));
    // A clean stop releases the leases and exits 0.
    term(&mut na.0);
    term(&mut nb.0);
    assert_exits_cleanly(&mut na.0, &a);
    assert_exits_cleanly(&mut nb.0, &b);
    assert!(log(&a).contains("stopped cleanly"));
}

#[test]
fn kill_9_one_node_and_the_other_takes_over_and_finishes_everything() {
    let Some(setup) = Setup::new("cluster_kill_9") else {
        return;
    };
    let (a, b) = (setup.node("bw-a"), setup.node("bw-b"));
    // bw-a starts first and takes every source; bw-b starts once bw-a runs, and bw-a is killed
    // as soon as bw-b runs too (loading the models takes a while on a shared machine), with
    // bw-a holding every lease and its slower feeds' polls in flight.
    let mut na = Running(setup.serve(&a));
    let start = Instant::now();
    while log(&a).matches("source taken").count() < THREATS.len() {
        assert!(start.elapsed() < Duration::from_secs(120), "{}", log(&a));
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut nb = Running(setup.serve(&b));
    while !log(&b).contains("cluster node running") {
        assert!(start.elapsed() < Duration::from_secs(180), "{}", log(&b));
        std::thread::sleep(Duration::from_millis(10));
    }
    na.0.kill().unwrap();
    na.0.wait().unwrap();
    let killed = Instant::now();
    let stored_at_kill = setup.count("SELECT count(*) FROM items");
    // bw-b takes every source within one lease period (plus its acquisition beat).
    while log(&b).matches("source taken").count() < THREATS.len() {
        assert!(
            killed.elapsed() < LEASE * 3,
            "sources not taken over: {}",
            log(&b)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let takeover = killed.elapsed();
    eprintln!("kill -9 with {stored_at_kill} items stored: sources taken over in {takeover:?} (lease {LEASE:?})");
    assert!(
        takeover <= LEASE + Duration::from_millis(1500),
        "{takeover:?}"
    );
    setup.wait_until_done(Duration::from_secs(90), &[&a, &b]);
    eprintln!(
        "kill -9: everything done {:?} after the kill",
        killed.elapsed()
    );
    setup.check_exactly_once();
    term(&mut nb.0);
    assert_exits_cleanly(&mut nb.0, &b);
}

/// A Bluesky source's real-time stream in cluster mode: one ingest node streams it, under the
/// stream's own lease, into PostgreSQL (reconnecting from the committed cursor when the server
/// drops it); when that node is killed the other takes the stream over within a lease period
/// and resumes from the cursor in PostgreSQL: nothing missed, nothing stored twice.
#[test]
fn a_real_time_stream_is_streamed_by_one_node_and_taken_over_after_kill_9() {
    use crate::jetstream::{cursor_of, Queries, FOURTH_US, LAST_US};
    let Some(mut setup) = Setup::new("cluster_stream") else {
        return;
    };
    let queries: Queries = Arc::default();
    let (http, wsa) = crate::jetstream::start(queries.clone());
    setup.sources = crate::jetstream::config(http, wsa);
    let (a, b) = (setup.node("bw-a"), setup.node("bw-b"));
    let rows = "SELECT count(*) FROM items WHERE source = 'Bluesky live'";
    // The fake post's update is the last event: once it is in PostgreSQL every event was read,
    // across the dropped connection.
    let last = "SELECT count(*) FROM items WHERE source = 'Bluesky live' \
                AND item_json LIKE '%deadline 9pm%'";
    let mut na = Running(serve_roles(&setup, &a, "ingest"));
    let start = Instant::now();
    while setup.count_once_migrated(last) < 1 || queries.lock().unwrap().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", log(&a));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(log(&a).contains("stream taken: this node streams it now"));
    let mut nb = Running(serve_roles(&setup, &b, "ingest"));
    while !log(&b).contains("cluster node running") {
        assert!(start.elapsed() < Duration::from_secs(90), "{}", log(&b));
        std::thread::sleep(Duration::from_millis(20));
    }
    // bw-b waits: the stream is bw-a's while bw-a renews its lease.
    std::thread::sleep(LEASE);
    assert!(!log(&b).contains("stream taken"), "{}", log(&b));
    let stored = setup.count(rows);
    na.0.kill().unwrap();
    na.0.wait().unwrap();
    let killed = Instant::now();
    while queries.lock().unwrap().len() < 3 {
        assert!(
            killed.elapsed() < LEASE * 3,
            "the stream was not taken over: {}",
            log(&b)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "kill -9: stream taken over in {:?} (lease {LEASE:?})",
        killed.elapsed()
    );
    assert!(log(&b).contains("stream taken: this node streams it now"));
    let seen = queries.lock().unwrap().clone();
    assert_eq!(cursor_of(&seen[0]), None, "{seen:?}");
    assert_eq!(cursor_of(&seen[1]), Some(FOURTH_US - 3_000_000), "{seen:?}");
    // bw-b resumed from the last event bw-a committed (less the rewind), and the replayed
    // events stored nothing new.
    assert_eq!(cursor_of(&seen[2]), Some(LAST_US - 3_000_000), "{seen:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(setup.count(rows), stored);
    assert_eq!(
        setup.count("SELECT count(DISTINCT id) FROM items WHERE source = 'Bluesky live'"),
        2
    );
    term(&mut nb.0);
    assert_exits_cleanly(&mut nb.0, &b);
}

/// The faults scenario's feeds: [`FAULT_FEEDS`] feeds that grow by one phase's items at each
/// step of the scenario (the threats of [`PHASE_THREATS`] and [`FAULT_ORDINARY`] posts each).
const FAULT_FEEDS: usize = 3;
const FAULT_ORDINARY: usize = 4;
/// Per phase, the feeds that carry a threat and which one.
const PHASE_THREATS: [&[(usize, usize)]; 3] = [&[(0, 0), (1, 1)], &[(2, 2), (0, 3)], &[(1, 4)]];

/// Items and threats the feeds carry once `phase` is reached.
fn fault_totals(phase: usize) -> (usize, usize) {
    let threats: usize = PHASE_THREATS[..=phase].iter().map(|p| p.len()).sum();
    (
        threats + (phase + 1) * FAULT_FEEDS * FAULT_ORDINARY,
        threats,
    )
}

/// Feed `n` as of `phase`: every earlier phase's items too.
fn fault_feed(n: usize, phase: usize) -> String {
    let mut items = String::new();
    for (p, threats) in PHASE_THREATS.iter().enumerate().take(phase + 1) {
        for &(_, t) in threats.iter().filter(|(feed, _)| *feed == n) {
            items.push_str(&format!(
                "<item><guid>https://ward{n}.example/threat{t}</guid>\
                 <link>https://ward{n}.example/threat{t}</link><title>Postal votes</title>\
                 <description>Apply for your postal vote before Friday at https://{}/postal-vote\
                 </description></item>\n",
                THREATS[t]
            ));
        }
        for i in 0..FAULT_ORDINARY {
            items.push_str(&format!(
                "<item><guid>https://ward{n}.example/{p}/{i}</guid>\
                 <link>https://ward{n}.example/{p}/{i}</link><title>Ward {n} phase {p} update \
                 {i}</title><description>Polling station hours for ward {n}, update {p}.{i}.\
                 </description></item>\n"
            ));
        }
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Ward {n}</title>\
         <link>https://ward{n}.example/</link><description>x</description>\n{items}</channel></rss>"
    )
}

/// The growing feeds on loopback, polled every 10 s (the shortest interval allowed); returns their `[[source]]` tables.
fn fault_sources(phase: Arc<AtomicUsize>) -> String {
    let mut app = axum::Router::new();
    for n in 0..FAULT_FEEDS {
        let phase = phase.clone();
        app =
            app.route(
                &format!("/ward{n}.xml"),
                axum::routing::get(move || {
                    let body = fault_feed(n, phase.load(Ordering::SeqCst));
                    async move {
                        ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
                    }
                }),
            );
    }
    let base = format!("http://{}", serve_router(app));
    (0..FAULT_FEEDS)
        .map(|n| {
            format!(
                "[[source]]\nname = \"Ward {n}\"\nkind = \"rss\"\nurl = \"{base}/ward{n}.xml\"\n\
                 interval = \"10s\"\n\n"
            )
        })
        .collect()
}

/// `search QUERY --json` on a node's replica (items read from PostgreSQL): the hits' ids, sorted.
fn search_ids(setup: &Setup, ws: &Workspace, query: &str) -> Vec<String> {
    try_search_ids(setup, ws, query).unwrap_or_else(|e| panic!("search {query:?}: {e}"))
}

/// [`search_ids`], or the command's error (e.g. a node that has not made its index yet).
fn try_search_ids(setup: &Setup, ws: &Workspace, query: &str) -> Result<Vec<String>, String> {
    let out = ws
        .cmd(&["search", query, "--json", "--limit", "1000"])
        .env("BW_TEST_PG_URL", &setup.pg_url)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// Waits until `search QUERY` on `ws` finds `want` items; how long that took.
fn wait_searchable(
    setup: &Setup,
    ws: &Workspace,
    query: &str,
    want: usize,
    timeout: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let found = try_search_ids(setup, ws, query).map_or(0, |ids| ids.len());
        if found == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "{query:?} on {}: {found} of {want} after {timeout:?}\n{}",
            ws.dir.path().display(),
            log(ws)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many times a node's log says it (re)connected to NATS.
fn connects(ws: &Workspace) -> usize {
    log(ws).matches("connected to NATS").count()
}

/// Every item id in PostgreSQL with its versions, sorted.
fn stored_ids(setup: &Setup) -> Vec<(String, i64)> {
    let rows = setup
        .pg()
        .query(
            "SELECT id, count(*) FROM items GROUP BY id ORDER BY id",
            &[],
        )
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The faults of issue 18 in sequence on two all-role nodes: (a) nats-server stopped for 20 s
/// and started again on the same port and store, (b) PostgreSQL crashed and restarted under the
/// running nodes, (c) a node started late (and one whose index folder was emptied) catches its
/// search replica up. After each, everything is classified, each threat is one incident and one
/// email, nothing committed is lost and nothing is doubled.
#[test]
fn faults_nats_outage_postgres_restart_and_a_late_replica() {
    let name = "cluster_faults";
    let Some((_, pg)) = servers(name) else {
        return;
    };
    let started = Instant::now();
    // This test restarts PostgreSQL: the other tests' databases wait until it is done.
    let (pg_server, _exclusive) = pg.exclusive();
    let mut nats = NatsServer::start().unwrap();
    let phase = Arc::new(AtomicUsize::new(0));
    let setup = Setup {
        nats_url: nats.url(),
        prefix: "faults".into(),
        pg_url: pg_server.create_database(name).unwrap(),
        sources: fault_sources(phase.clone()),
        threats: THREATS.to_vec(),
        total: fault_totals(2).0,
        evidence: "screenshots = false\n".into(),
        smtp: SmtpServer::shared("none").mailbox(),
        _db: None,
    };
    let (a, b) = (setup.node("bw-a"), setup.node("bw-b"));
    let _na = Running(setup.serve(&a));
    let _nb = Running(setup.serve(&b));
    let (items, threats) = fault_totals(0);
    setup.wait_until(items, threats, Duration::from_secs(120), &[&a, &b]);
    eprintln!("faults: phase 0 done after {:?}", started.elapsed());

    // (a) NATS away for 20 s while the feeds grow.
    let (ca, cb) = (connects(&a), connects(&b));
    phase.store(1, Ordering::SeqCst);
    nats.stop();
    std::thread::sleep(Duration::from_secs(20));
    nats.start_again().unwrap();
    let back = Instant::now();
    let (items, threats) = fault_totals(1);
    setup.wait_until(items, threats, Duration::from_secs(60), &[&a, &b]);
    eprintln!(
        "faults: NATS down 20 s; everything done {:?} after it came back",
        back.elapsed()
    );
    for (ws, before) in [(&a, ca), (&b, cb)] {
        let nats_lines: Vec<String> = log(ws)
            .lines()
            .filter(|l| !l.contains(" polled ") && !l.contains(" classified "))
            .map(String::from)
            .collect();
        assert!(connects(ws) > before, "reconnected: {nats_lines:#?}");
    }

    // (b) PostgreSQL crashes (SIGQUIT: no shutdown checkpoint) under the running nodes.
    let before = stored_ids(&setup);
    phase.store(2, Ordering::SeqCst);
    pg_server.restart(false, Duration::from_secs(2)).unwrap();
    let back = Instant::now();
    let (items, threats) = fault_totals(2);
    setup.wait_until(items, threats, Duration::from_secs(60), &[&a, &b]);
    eprintln!(
        "faults: PostgreSQL restarted; everything done {:?} after it came back",
        back.elapsed()
    );
    let after = stored_ids(&setup);
    assert!(
        before.iter().all(|b| after.contains(b)),
        "nothing committed lost"
    );
    assert!(
        after.iter().all(|(_, versions)| *versions == 1),
        "nothing doubled"
    );
    setup.check_exactly_once();

    // (c) Every replica answers what PostgreSQL holds, a node started now included (it has no
    // index: it rebuilds from PostgreSQL, then follows the feed).
    let c = setup.node("bw-c");
    let nc = Running(setup.serve_with(&c, &["--roles", "alert"]));
    for ws in [&a, &b, &c] {
        let took = wait_searchable(&setup, ws, "*", items, Duration::from_secs(15));
        eprintln!(
            "faults: {} searchable after {took:?}",
            ws.dir.path().display()
        );
    }
    let flagged = search_ids(&setup, &a, "incident_id:*");
    assert_eq!(flagged.len(), threats, "{flagged:?}");
    for ws in [&b, &c] {
        assert_eq!(search_ids(&setup, ws, "incident_id:*"), flagged);
        assert_eq!(
            search_ids(&setup, ws, "postal"),
            search_ids(&setup, &a, "postal")
        );
    }
    assert!(
        log(&c).contains("index replica rebuilt from PostgreSQL"),
        "{}",
        log(&c)
    );
    drop(nc);
    eprintln!("faults: all done in {:?}", started.elapsed());
}

// --- the web role (issue 18) -----------------------------------------------------------------

/// Starts `serve --roles ROLES` in `ws` with the cluster's variables, its log in `serve.log`.
fn serve_roles(setup: &Setup, ws: &Workspace, roles: &str) -> Child {
    let log = std::fs::File::create(ws.dir.path().join("serve.log")).unwrap();
    ws.cmd(&["serve", "--roles", roles])
        .env("BW_TEST_PG_URL", &setup.pg_url)
        .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// A node running the pipeline roles and two `--roles web` nodes: a threat from the feeds
/// becomes an incident that a user logged in on one web node lists, opens and works on (saved in
/// PostgreSQL), finds with `/api/v1/search` on that node's replica, and opens with the same
/// session on the other web node; both report NATS and PostgreSQL as reachable.
#[test]
fn web_role_serves_the_cluster_and_a_session_works_on_every_web_node() {
    use ballotwatch_store::{PgOptions, PgStore, Role};
    const PASSWORD: &str = "correct horse battery staple";
    let Some(mut setup) = Setup::new("cluster_web") else {
        return;
    };
    // Page screenshots of flagged items: the ingest node holding the screenshot lease.
    setup.evidence = "screenshots = true\n".into();
    let started = Instant::now();
    // The account and an API token, in PostgreSQL (what `migrate --to-cluster` would copy).
    let store = PgStore::connect(&setup.pg_url, PgOptions::default()).unwrap();
    let hash = ballotwatch_web::hash_password(PASSWORD).unwrap();
    let ana = store.create_user("ana", Role::Analyst, &hash).unwrap();
    let api_token = ballotwatch_web::new_secret();
    store
        .create_api_token(
            &ana,
            &ballotwatch_web::token_hash(&api_token),
            "e2e",
            None,
            "ana",
        )
        .unwrap();

    let (a, b, c) = (setup.node("bw-a"), setup.node("bw-b"), setup.node("bw-c"));
    let _pipeline = Running(serve_roles(&setup, &a, "ingest,classify,alert"));
    let env = [
        ("BW_TEST_PG_URL", setup.pg_url.as_str()),
        ("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD),
    ];
    let web_b = common::serve::Serve::start_args(&b, &["serve", "--roles", "web"], &env);
    let web_c = common::serve::Serve::start_args(&c, &["serve", "--roles", "web"], &env);

    // The first threat's incident, with its item.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (incident, item) = loop {
        let found = setup.count_once_migrated(
            "SELECT count(*) FROM incidents i JOIN incident_items ii ON ii.incident_id = i.id",
        );
        if found > 0 {
            let row = setup
                .pg()
                .query_one(
                    "SELECT i.id, ii.item_id FROM incidents i \
                     JOIN incident_items ii ON ii.incident_id = i.id ORDER BY i.id LIMIT 1",
                    &[],
                )
                .unwrap();
            break (row.get::<_, i64>(0), row.get::<_, String>(1));
        }
        assert!(Instant::now() < deadline, "no incident:\n{}", log(&a));
        std::thread::sleep(Duration::from_millis(100));
    };
    let incident_seen = started.elapsed();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |base: &str, path: &str, cookie: &str| {
        let req = http.get(format!("{base}{path}")).header("cookie", cookie);
        rt.block_on(async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        })
    };
    let post = |path: &str, cookie: &str, form: &[(&str, &str)]| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = http
            .post(web_b.url(path))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        rt.block_on(async move { req.send().await.unwrap().status().as_u16() })
    };

    // Log in on web node B; the incident list shows the incident, its page renders.
    let cookie = rt
        .block_on(common::serve::form_login(&web_b.base, "ana", PASSWORD))
        .unwrap();
    let (status, list) = get(&web_b.base, "/incidents", &cookie);
    assert_eq!(status, 200, "{list}");
    assert!(list.contains(&format!("/incidents/{incident}\"")), "{list}");
    let (status, page) = get(&web_b.base, &format!("/incidents/{incident}"), &cookie);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("Incident {incident}:")), "{page}");
    assert!(
        page.contains("Postal votes"),
        "the item, read from PostgreSQL: {page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

    // The workflow: status, assignee and a note, saved in PostgreSQL with their history.
    let path = |what: &str| format!("/incidents/{incident}/{what}");
    for (what, key, value) in [
        ("status", "status", "investigating"),
        ("assignee", "assignee", "ana"),
        ("notes", "note", "Reported to the registrar by phone"),
    ] {
        let form = [("csrf", csrf.as_str()), (key, value)];
        assert_eq!(post(&path(what), &cookie, &form), 303, "POST {what}");
    }
    let row = setup
        .pg()
        .query_one(
            "SELECT status, assignee, notes FROM incidents WHERE id = $1",
            &[&incident],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "investigating");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("ana"));
    assert!(row
        .get::<_, String>(2)
        .contains("Reported to the registrar by phone"));
    let changes = setup.count(&format!(
        "SELECT count(*) FROM incident_history WHERE incident_id = {incident} AND actor = 'ana'"
    ));
    assert!(changes >= 3, "{changes} history rows");

    // Media confirmed fake, on PostgreSQL: the web button is live on a cluster web node (an
    // image the incident does not have is the officer's mistake, 400, not 503), and `fakes`
    // confirms, lists and removes in PostgreSQL, with the audit entries beside the change.
    let unknown = "ab".repeat(32);
    let form = [("csrf", csrf.as_str()), ("media", unknown.as_str())];
    assert_eq!(post(&path("fakes"), &cookie, &form), 400, "POST fakes");
    let picture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/fake-notice.png");
    let fakes = |args: &[&str]| {
        let out = a
            .cmd(args)
            .env("BW_TEST_PG_URL", &setup.pg_url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let incident_arg = incident.to_string();
    let (code, out, err) = fakes(&[
        "fakes",
        "add",
        "--incident",
        &incident_arg,
        "--file",
        picture.to_str().unwrap(),
        "--actor",
        "ana",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("added confirmed fake #"), "{out}");
    let (code, out, err) = fakes(&["fakes", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["incident_id"], incident);
    assert_eq!(
        setup.count(
            "SELECT count(*) FROM audit_log WHERE action = 'fake.confirm' AND actor = 'ana'"
        ),
        1
    );
    let (code, out, err) = fakes(&["fakes", "remove", &listed[0]["id"].to_string()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(setup.count("SELECT count(*) FROM known_fakes"), 0);

    // The API's search on B's own index replica finds the item (the replica follows the feed).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let req = http
            .get(web_b.url("/api/v1/search?q=postal"))
            .bearer_auth(&api_token);
        let (status, v): (u16, serde_json::Value) = rt.block_on(async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or_default())
        });
        assert_eq!(status, 200, "{v}");
        let ids: Vec<&str> = v["hits"]
            .as_array()
            .map(|h| h.iter().filter_map(|x| x["id"].as_str()).collect())
            .unwrap_or_default();
        if ids.contains(&item.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "search never found {item}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // `reindex` on a cluster node (here a new one, not running) rebuilds its replica from
    // PostgreSQL and stores the feed position `serve` follows from. Node A is still ingesting,
    // so the replica holds at least what PostgreSQL held before and at most what it holds after.
    let d = setup.node("bw-d");
    let before = setup.count("SELECT count(DISTINCT id) FROM items");
    assert!(before > 0);
    let out = d
        .cmd(&["reindex"])
        .env("BW_TEST_PG_URL", &setup.pg_url)
        .output()
        .unwrap();
    let after = setup.count("SELECT count(DISTINCT id) FROM items");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let reindexed: i64 = stdout
        .strip_prefix("reindexed ")
        .and_then(|r| r.split(" items from PostgreSQL").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        (before..=after).contains(&reindexed),
        "{reindexed} items, PostgreSQL held {before} before and {after} after"
    );
    let replica =
        ballotwatch_index::SearchIndex::open_existing(&d.data_dir().join("index")).unwrap();
    assert_eq!(replica.num_docs() as i64, reindexed);
    let position = std::fs::read_to_string(d.data_dir().join("index/feed-position")).unwrap();
    assert!(position.trim().parse::<u64>().unwrap() > 0, "{position}");

    // Evidence from the cluster. The leased screenshot task on node A recorded an attempt at
    // the item's page in PostgreSQL (its host does not resolve: not taken, with the reason).
    let deadline = Instant::now() + Duration::from_secs(60);
    let attempts = format!("SELECT count(*) FROM screenshots WHERE item_id = '{item}'");
    while setup.count(&attempts) == 0 {
        assert!(
            Instant::now() < deadline,
            "no screenshot attempt:\n{}",
            log(&a)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        log(&a).contains("lease taken: this node does the cluster's screenshots"),
        "{}",
        log(&a)
    );
    // The export button's API on web node B and `export` on node D write packs from
    // PostgreSQL that `verify` finds intact with each node's key; both exports and both
    // verifications are audited in PostgreSQL.
    let req = http
        .post(web_b.url(&format!("/api/v1/incidents/{incident}/export")))
        .bearer_auth(&api_token);
    let (status, pack_sha, bytes) = rt.block_on(async move {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let sha = res
            .headers()
            .get("x-ballotwatch-pack-sha256")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, sha, res.bytes().await.unwrap().to_vec())
    });
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(ballotwatch_core::sha256_hex(&bytes), pack_sha);
    let web_pack = b.dir.path().join("web-pack.zip");
    std::fs::write(&web_pack, &bytes).unwrap();
    let cli_pack = d.dir.path().join("cli-pack.zip");
    let incident_arg = incident.to_string();
    let out = d
        .cmd(&[
            "export",
            "--incident",
            &incident_arg,
            "--out",
            cli_pack.to_str().unwrap(),
            "--actor",
            "returning-officer",
        ])
        .env("BW_TEST_PG_URL", &setup.pg_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (ws, pack) in [(&b, &web_pack), (&d, &cli_pack)] {
        let key = signing_public_key(&ws.config());
        let out = ws
            .cmd(&["verify", pack.to_str().unwrap(), "--public-key", &key])
            .env("BW_TEST_PG_URL", &setup.pg_url)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.starts_with("intact: "), "{stdout}");
        let files = crate::evidence::unzip_all(pack);
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let entry = manifest["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["item"]["id"] == item.as_str()))
            .unwrap_or_else(|| panic!("{item} is not in the pack: {manifest}"));
        let shots = entry["screenshots"].as_array().unwrap();
        assert!(
            !shots.is_empty() && shots.iter().all(|s| s["status"] == "not_taken"),
            "the screenshot attempt is in the pack: {entry}"
        );
    }
    assert_eq!(
        setup.count("SELECT count(*) FROM audit_log WHERE action = 'evidence.export'"),
        2
    );
    assert_eq!(
        setup.count("SELECT count(*) FROM audit_log WHERE action = 'evidence.verify'"),
        2
    );

    // Reports on cluster web nodes: a page reported on B is captured and stored as a report
    // item in PostgreSQL and published to the classify queue (node A classifies it: its
    // lookalike link flags it and it joins an incident); the same page reported on C joins
    // that item as a second report.
    let site = serve_router(axum::Router::new().route(
        "/notice",
        axum::routing::get(|| async {
            axum::response::Html(
                "<html><head><title>Anytown Borough Council: postal votes</title></head><body>\
                 <p>Apply for your postal vote at <a href=\"https://anytown-gov.uk/postal-vote\">\
                 anytown-gov.uk</a> before Friday.</p></body></html>",
            )
        }),
    ));
    let notice = format!("http://{site}/notice");
    let report = |web: &common::serve::Serve, note: &str| -> serde_json::Value {
        let body = crate::reports::form(&[
            ("url", None, "text/plain", notice.as_bytes()),
            ("note", None, "text/plain", note.as_bytes()),
        ]);
        let req = http
            .post(web.url("/api/v1/reports"))
            .bearer_auth(&api_token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={}", crate::reports::BOUNDARY),
            )
            .body(body);
        let (status, text) = rt.block_on(async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        });
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    };
    let first = report(&web_b, "Forwarded in the Riverside parents' WhatsApp group");
    assert_eq!(first["urls"][0]["captured"], true, "{first}");
    let reported = first["item_id"].as_str().unwrap().to_string();
    let in_incident = format!(
        "SELECT count(*) FROM items i JOIN incident_items ii ON ii.item_id = i.id \
         WHERE i.id = '{reported}' AND i.flagged"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.count(&in_incident) == 0 {
        assert!(
            Instant::now() < deadline,
            "the report was never classified into an incident:\n{}",
            log(&a)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let second = report(&web_c, "Same page, now on the Anytown Facebook group");
    assert_eq!(second["item_id"], reported.as_str(), "{second}");
    assert_eq!(second["joined"]["by"], "url", "{second}");
    assert!(second["joined"]["incident_id"].is_i64(), "{second}");
    assert_eq!(
        setup.count(&format!(
            "SELECT count(*) FROM reports WHERE item_id = '{reported}'"
        )),
        2
    );
    assert_eq!(
        setup.count("SELECT count(*) FROM audit_log WHERE action = 'report.receive'"),
        2
    );

    // The same session on web node C: logged in there too; the page shows the saved change.
    let (status, page) = get(&web_c.base, &format!("/incidents/{incident}"), &cookie);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Reported to the registrar by phone"),
        "{page}"
    );
    let (status, _) = get(&web_c.base, "/incidents", "bw_session=forged");
    assert_eq!(status, 303, "a forged session is refused");

    // Health: both dependencies reachable.
    for web in [&web_b, &web_c] {
        let (status, body) = get(&web.base, "/readyz", "");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "ready\nnats: reachable\npostgresql: reachable\n");
        let (status, body) = get(&web.base, "/healthz", "");
        assert_eq!(
            (status, body.as_str()),
            (200, "ok\nnats: reachable\npostgresql: reachable\n")
        );
    }
    eprintln!(
        "web role: first incident after {incident_seen:?}, everything checked after {:?}",
        started.elapsed()
    );
    drop(rt);
    // The PostgreSQL client must not be dropped inside a runtime: dropped here, outside one.
    drop(store);
}
