//! Work-queue throughput against a real nats-server: publish (each publish waits for its
//! JetStream ack) and take + acknowledge (each ack waits for the server's confirmation) with
//! one worker, then with two workers on two connections, in the same run. Prints messages/s and
//! the 2-worker / 1-worker ratio.
//!
//! `cargo bench -p ballotwatch-cluster --bench work_queue` (BW_BENCH_MESSAGES, default 4000).

use std::time::{Duration, Instant};

use ballotwatch_cluster::testing::NatsServer;
use ballotwatch_cluster::work::ItemRef;
use ballotwatch_cluster::{Cluster, Stage};

async fn run(server: &NatsServer, workers: usize, n: usize) -> (f64, f64) {
    let prefix = format!("bench{workers}");
    let publisher = Cluster::connect(&server.config(&prefix, "publisher"))
        .await
        .expect("connect");
    let queue = publisher
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .expect("queue");
    let started = Instant::now();
    for i in 0..n {
        queue
            .publish(&ItemRef::new(format!("item-{i}"), 1))
            .await
            .expect("publish");
    }
    let publish_rate = n as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let config = server.config(&prefix, &format!("worker-{w}"));
        tasks.push(tokio::spawn(async move {
            let cluster = Cluster::connect(&config).await.expect("connect");
            let worker = cluster
                .work_queue::<ItemRef>(Stage::Classify)
                .await
                .expect("queue")
                .worker()
                .await
                .expect("worker");
            let mut done = 0usize;
            loop {
                let batch = worker
                    .next_batch(64, Duration::from_millis(300))
                    .await
                    .expect("fetch");
                if batch.is_empty() {
                    return done;
                }
                for d in batch {
                    d.ack().await.expect("ack");
                    done += 1;
                }
            }
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("worker task");
    }
    // The last empty fetch (300 ms) is not work: leave it out.
    let elapsed = started.elapsed().as_secs_f64() - 0.3;
    assert_eq!(done, n, "every message taken and acknowledged once");
    assert_eq!(queue.len().await.expect("len"), 0);
    (publish_rate, n as f64 / elapsed)
}

fn main() {
    let n: usize = std::env::var("BW_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = NatsServer::start().expect("nats-server");
    runtime.block_on(async {
        let (publish1, take1) = run(&server, 1, n).await;
        let (publish2, take2) = run(&server, 2, n).await;
        println!("work queue, {n} messages, nats-server on loopback:");
        println!("  publish (awaiting each JetStream ack): {publish1:.0} msg/s, {publish2:.0} msg/s in the second run");
        println!("  take + ack, 1 worker:  {take1:.0} msg/s (baseline)");
        println!(
            "  take + ack, 2 workers: {take2:.0} msg/s ({:.2}x the baseline)",
            take2 / take1
        );
    });
}
