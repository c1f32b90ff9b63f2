//! NATS stops and comes back on the same port and store: publishers and consumers resume by
//! themselves and no acknowledged work is lost or redone.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ballotwatch_cluster::testing::NatsServer;
use ballotwatch_cluster::work::ItemRef;
use ballotwatch_cluster::{Cluster, Stage};

/// Publishes 5 and acknowledges 3 of them, stops NATS (`crash`: kill -9) for 3 s while
/// publishing 5 more, starts it again, and returns what the same worker then receives.
async fn outage(crash: bool) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut server = NatsServer::start().unwrap();
    let mut config = server.config("restart", "a");
    config.classify.ack_wait = Some(Duration::from_secs(2));
    let cluster = Cluster::connect(&config).await.unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap()
        .with_publish_retry(Duration::from_secs(20));
    let worker = queue.worker().await.unwrap();
    for i in 0..5 {
        queue
            .publish(&ItemRef::new(format!("before-{i}"), 1))
            .await
            .unwrap();
    }
    // Three done and acknowledged before the outage, two taken and not yet acknowledged.
    let batch = worker.next_batch(5, Duration::from_secs(1)).await.unwrap();
    assert_eq!(batch.len(), 5);
    let mut batch = batch.into_iter();
    for d in batch.by_ref().take(3) {
        d.ack().await.unwrap();
    }
    let unacked: Vec<_> = batch.collect();

    if crash {
        server.kill();
    } else {
        server.stop();
    }
    // Publishing during the outage waits for NATS to come back.
    let publisher = tokio::spawn(async move {
        for i in 0..5 {
            queue
                .publish(&ItemRef::new(format!("during-{i}"), 1))
                .await
                .unwrap();
        }
        queue
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!publisher.is_finished(), "published with NATS down?");
    drop(unacked); // the worker lost its connection mid-batch
    server.start_again().unwrap();
    let queue = tokio::time::timeout(Duration::from_secs(20), publisher)
        .await
        .expect("publisher resumed")
        .unwrap();

    // The same worker, with no help: everything not acknowledged comes (back), once.
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if seen.len() >= 7 && queue.len().await.unwrap_or(1) == 0 {
            break;
        }
        for d in worker.next_batch(10, Duration::from_secs(1)).await.unwrap() {
            assert!(
                seen.insert(d.message().item_id.clone()),
                "twice: {:?}",
                d.message()
            );
            d.ack().await.unwrap();
        }
    }
    let want: BTreeSet<String> = ["before-3", "before-4"]
        .into_iter()
        .map(String::from)
        .chain((0..5).map(|i| format!("during-{i}")))
        .collect();
    assert_eq!(queue.len().await.unwrap(), 0);
    (seen, want)
}

#[tokio::test]
async fn publishers_and_consumers_resume_after_a_nats_restart() {
    let (seen, want) = outage(false).await;
    assert_eq!(seen, want, "acknowledged work not redone, nothing lost");
}

#[tokio::test]
async fn after_a_nats_crash_nothing_is_lost_but_the_last_acks_may_be() {
    // kill -9 loses what a lone server had not yet written: acknowledged work may come back
    // (at-least-once; the store commit is idempotent by item version). Nothing is lost.
    let (seen, want) = outage(true).await;
    assert!(
        seen.is_superset(&want),
        "lost: {:?}",
        want.difference(&seen)
    );
    println!(
        "after kill -9: {} redelivered although acknowledged",
        seen.len() - want.len()
    );
}
