//! Trusted timestamps end to end: a feed served on loopback is ingested, its captures join the
//! capture log, and the pipeline timestamps the log's head with a real TSA (`openssl ts` on
//! loopback: the evidence crate's test TSA, started once for this test binary). A TSA that is
//! down does not hold up ingest, and the token comes once it is up.

// The evidence crate's test TSA, shared rather than copied.
#[allow(dead_code)]
#[path = "../../evidence/tests/support/tsa.rs"]
mod tsa;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_classify::Classifier;
use ballotwatch_evidence::timestamp::{verify_token, TrustRoots};
use ballotwatch_pipeline::{Config, Pipeline};
use tokio_util::sync::CancellationToken;

const FEED: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Echo</title>
<link>http://example.invalid/</link><description>d</description>
<item><title>Anytown count tonight</title><link>http://example.invalid/a</link>
<guid>a</guid><description>The Anytown count starts at 10pm.</description></item>
<item><title>Riverside ward hustings</title><link>http://example.invalid/b</link>
<guid>b</guid><description>Hustings in Riverside ward on Monday.</description></item>
</channel></rss>"#;

/// Answers every request with `body` as RSS, from a thread of its own; returns the base URL.
fn serve_feed(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// A port nothing listens on (yet).
fn free_port() -> SocketAddr {
    let port = ballotwatch_core::net::free_loopback_port().expect("a free loopback port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Forwards connections on `at` to `to` (the TSA "comes up" at `at`).
fn forward(at: SocketAddr, to: SocketAddr) {
    let listener = TcpListener::bind(at).expect("bind the forwarding port");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(to) else {
                continue;
            };
            let (mut c2, mut s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s, &mut c);
            });
        }
    });
}

fn config(dir: &Path, feed: &str, tsa_url: &str) -> Config {
    let toml = format!(
        "data_dir = \"data\"\n[ingest]\nallow_private_addresses = true\npoliteness_delay = \"1ms\"\n\
         [index]\nwriter_memory = \"64 MiB\"\n\
         [evidence]\nscreenshots = false\ntsa_urls = [\"{tsa_url}\"]\ntsa_roots = [\"{}\"]\n\
         timestamp_interval = \"10s\"\n\
         [[source]]\nname = \"Echo\"\nkind = \"rss\"\nurl = \"{feed}/feed.xml\"\ninterval = \"1h\"\n",
        tsa::tsa().root_pem().display()
    );
    let path = dir.join("ballotwatch.toml");
    std::fs::write(&path, toml).expect("write the config");
    Config::load(&path).expect("the config loads")
}

fn open(config: Config) -> Pipeline {
    Pipeline::open_with(config, |c, _| {
        Ok(Classifier::new(Vec::new(), c.detectors.clone()))
    })
    .expect("the pipeline opens")
}

/// The head's token verifies against the test root, for the head's own hash.
fn assert_head_verified(pipeline: &Pipeline) {
    let store = pipeline.store();
    let head = store
        .capture_log_head()
        .unwrap()
        .expect("the capture log has entries");
    let segment = store.capture_log_segment(&[head.item_id.as_str()]).unwrap();
    assert_eq!(
        segment.check().unwrap().as_deref(),
        Some(head.head.as_str())
    );
    let token = segment.tokens.first().expect("a token for the head");
    let roots = TrustRoots::from_pem_files(&[tsa::tsa().root_pem()]).unwrap();
    let verified = verify_token(&token.token, &head.head_bytes().unwrap(), None, &roots)
        .expect("the recorded token verifies for the head");
    assert_eq!(verified.gen_time, token.gen_time);
    assert!(store.untimestamped_heads(10).unwrap().is_empty());
}

#[test]
fn ingest_once_logs_captures_and_timestamps_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let feed = serve_feed(FEED);
    let pipeline = open(config(dir.path(), &feed, &tsa::tsa().url("rsa")));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let cycle = rt.block_on(pipeline.run_once(None)).unwrap();
    let elapsed = started.elapsed();
    assert!(cycle.polls.iter().all(|p| p.outcome.is_ok()), "{cycle:?}");

    // Two items, each with its capture's body and headers in the log.
    let store = pipeline.store();
    let head = store.capture_log_head().unwrap().unwrap();
    assert_eq!(head.seq, 4, "body and headers of two items");
    let segment = store.capture_log_segment(&[head.item_id.as_str()]).unwrap();
    assert!(segment.entries.iter().any(|e| e.what == "body"));
    assert!(segment.entries.iter().any(|e| e.what == "headers"));
    assert_head_verified(&pipeline);
    let health = pipeline.timestamp_health().expect("timestamps are on");
    assert!(health.last_token_at.is_some() && health.waiting_since.is_none());
    eprintln!("ingest --once with a timestamp: {elapsed:?}");

    // Nothing new: nothing more to timestamp.
    assert!(rt.block_on(pipeline.timestamp_head()).unwrap().is_none());
}

#[test]
fn a_tsa_that_is_down_does_not_stall_ingest_and_stamps_once_up() {
    let dir = tempfile::tempdir().unwrap();
    let feed = serve_feed(FEED);
    let tsa_addr: SocketAddr = tsa::tsa()
        .url("rsa")
        .trim_start_matches("http://")
        .trim_end_matches("/rsa")
        .parse()
        .unwrap();
    let down = free_port();
    let pipeline = Arc::new(open(config(
        dir.path(),
        &feed,
        &format!("http://{down}/rsa"),
    )));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = CancellationToken::new();
    let running = rt.spawn(pipeline.clone().run(stop.clone()));

    // Ingest goes on while the TSA is down.
    let started = Instant::now();
    while pipeline.store().count_items().unwrap() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ingest stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ingested = started.elapsed();
    assert_eq!(pipeline.store().untimestamped_heads(10).unwrap().len(), 4);
    // Asking now fails fast, naming the TSA, and leaves the entries waiting.
    let failed = rt.block_on(pipeline.timestamp_head()).unwrap_err();
    assert!(failed.to_string().contains(&down.to_string()), "{failed}");
    let health = pipeline.timestamp_health().unwrap();
    assert!(
        health.last_error.is_some() && health.waiting_since.is_some(),
        "{health:?}"
    );
    // The gap is shown to the web UI's Sources page and /readyz through the store.
    let gap = pipeline
        .store()
        .timestamp_gap()
        .expect("a gap while the TSA is down");
    assert!(
        gap.contains("waiting since") && gap.contains(&down.to_string()),
        "{gap}"
    );
    assert_eq!(pipeline.store().untimestamped_heads(10).unwrap().len(), 4);

    // The TSA comes up: the task's next attempt (a back-off retry, or the 10s interval if it
    // last looked before the items came) gets the token.
    forward(down, tsa_addr);
    let up = Instant::now();
    while !pipeline.store().untimestamped_heads(1).unwrap().is_empty() {
        assert!(
            up.elapsed() < Duration::from_secs(20),
            "no token after the TSA came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "items stored after {ingested:?} with the TSA down; token {:?} after it came up",
        up.elapsed()
    );
    // The gap is cleared just after the token is recorded.
    while let Some(gap) = pipeline.store().timestamp_gap() {
        assert!(
            up.elapsed() < Duration::from_secs(25),
            "the gap was not cleared: {gap}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.cancel();
    rt.block_on(running).unwrap().unwrap();
    assert_head_verified(&pipeline);
}
