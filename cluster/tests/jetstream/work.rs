//! The work queues and dead letters.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ballotwatch_cluster::work::{DeadLetter, ItemRef};
use ballotwatch_cluster::{Cluster, ClusterConfig, Stage, StageConfig};

use crate::shared;

fn config(prefix: &str, node: &str, stage: StageConfig) -> ClusterConfig {
    let mut c = shared(prefix, node);
    c.classify = stage;
    c
}

pub fn stage(max_deliver: u32, ack_wait_ms: u64, max_ack_pending: u32) -> StageConfig {
    StageConfig {
        max_deliver: Some(max_deliver),
        ack_wait: Some(Duration::from_millis(ack_wait_ms)),
        max_ack_pending: Some(max_ack_pending),
    }
}

pub async fn dead_letters(cluster: &Cluster, want: usize, within: Duration) -> Vec<DeadLetter> {
    let letters = cluster.dead_letters().await.unwrap();
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        for d in letters
            .next_batch(want, Duration::from_millis(300))
            .await
            .unwrap()
        {
            out.push(d.letter().clone());
            d.ack().await.unwrap();
        }
    }
    out
}

#[tokio::test]
async fn a_dropped_batch_goes_to_another_worker_after_ack_wait() {
    let cluster = Cluster::connect(&config("redeliver", "a", stage(5, 1000, 100)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    for i in 0..10 {
        queue
            .publish(&ItemRef::new(format!("item-{i}"), 1))
            .await
            .unwrap();
    }
    let first = queue.worker().await.unwrap();
    let taken = first.next_batch(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(taken.len(), 10);
    drop(taken); // the worker dies: nothing acked

    let other = Cluster::connect(&config("redeliver", "b", stage(5, 1000, 100)))
        .await
        .unwrap();
    let second = other
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap()
        .worker()
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen = BTreeSet::new();
    while seen.len() < 10 && started.elapsed() < Duration::from_secs(5) {
        for d in second.next_batch(10, Duration::from_secs(1)).await.unwrap() {
            assert_eq!(d.attempt(), 2, "a redelivery");
            assert!(seen.insert(d.message().item_id.clone()), "delivered twice");
            d.ack().await.unwrap();
        }
    }
    assert_eq!(seen.len(), 10, "nothing lost");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before ack_wait"
    );
    // Once acked, nothing comes back, to either worker.
    assert!(second
        .next_batch(10, Duration::from_millis(1500))
        .await
        .unwrap()
        .is_empty());
    assert!(first
        .next_batch(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(queue.len().await.unwrap(), 0);
}

#[tokio::test]
async fn the_same_item_version_is_queued_once() {
    let cluster = Cluster::connect(&config("dedup", "a", stage(5, 5000, 100)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    let first = queue.publish(&ItemRef::new("x", 1)).await.unwrap();
    let again = queue.publish(&ItemRef::new("x", 1)).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);
    let newer = queue.publish(&ItemRef::new("x", 2)).await.unwrap();
    assert!(!newer.duplicate, "a new version is new work");
    assert_eq!(queue.len().await.unwrap(), 2);
    let worker = queue.worker().await.unwrap();
    let got = worker.next_batch(10, Duration::from_secs(1)).await.unwrap();
    let versions: Vec<u64> = got.iter().map(|d| d.message().version).collect();
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test]
async fn max_ack_pending_holds_back_the_rest() {
    let cluster = Cluster::connect(&config("pending", "a", stage(5, 5000, 3)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    for i in 0..10 {
        queue
            .publish(&ItemRef::new(format!("p{i}"), 1))
            .await
            .unwrap();
    }
    let worker = queue.worker().await.unwrap();
    let batch = worker
        .next_batch(10, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(batch.len(), 3, "no more than max_ack_pending out at once");
    let more = worker
        .next_batch(10, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(more.is_empty());
    for d in batch {
        d.ack().await.unwrap();
    }
    let next = worker
        .next_batch(10, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(next.len(), 3, "acks make room");
}

#[tokio::test]
async fn failing_max_deliver_times_makes_a_dead_letter_with_the_reason() {
    let cluster = Cluster::connect(&config("nakdead", "a", stage(2, 5000, 100)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    queue.publish(&ItemRef::new("poison", 7)).await.unwrap();
    queue.publish(&ItemRef::new("fine", 1)).await.unwrap();
    let worker = queue.worker().await.unwrap();
    let mut attempts = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fine = 0;
    while Instant::now() < deadline && (attempts < 2 || fine < 1) {
        for d in worker
            .next_batch(10, Duration::from_millis(300))
            .await
            .unwrap()
        {
            if d.message().item_id == "poison" {
                attempts += 1;
                assert_eq!(d.is_last_attempt(), attempts == 2);
                d.nak(Duration::from_millis(10), "the OCR model crashed")
                    .await
                    .unwrap();
            } else {
                fine += 1;
                d.ack().await.unwrap();
            }
        }
    }
    assert_eq!((attempts, fine), (2, 1));
    let letters = dead_letters(&cluster, 1, Duration::from_secs(3)).await;
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(l.stage, "classify");
    assert_eq!(l.deliveries, 2);
    assert!(l.reason.contains("the OCR model crashed"), "{}", l.reason);
    assert_eq!(l.message["item_id"], "poison");
    assert_eq!(l.message["version"], 7);
    assert_eq!(l.node.as_deref(), Some("a"));
    assert_eq!(queue.len().await.unwrap(), 0, "not left in the queue");
}

#[tokio::test]
async fn a_worker_that_dies_on_every_attempt_is_caught_by_the_advisory() {
    let cluster = Cluster::connect(&config("diedead", "a", stage(2, 1000, 100)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    let monitor = cluster.dead_letter_monitor().await.unwrap();
    queue
        .publish(&ItemRef::new("kills-the-worker", 3))
        .await
        .unwrap();
    let worker = queue.worker().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut deliveries = 0;
    let mut filed = 0;
    while Instant::now() < deadline && filed == 0 {
        // Take it and "die": never ack, nak or reject.
        deliveries += worker
            .next_batch(1, Duration::from_millis(300))
            .await
            .unwrap()
            .len();
        filed += monitor.run_once(Duration::from_millis(200)).await.unwrap();
    }
    assert_eq!(deliveries, 2, "delivered max_deliver times");
    assert_eq!(filed, 1);
    let letters = dead_letters(&cluster, 1, Duration::from_secs(3)).await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("never acknowledged"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].message["item_id"], "kills-the-worker");
    assert_eq!(letters[0].deliveries, 2);
    assert_eq!(queue.len().await.unwrap(), 0, "removed from the queue");
    assert_eq!(
        monitor.run_once(Duration::from_millis(200)).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn an_undecodable_message_goes_straight_to_the_dead_letters() {
    let cluster = Cluster::connect(&config("garbage", "a", stage(5, 5000, 100)))
        .await
        .unwrap();
    let queue = cluster
        .work_queue::<ItemRef>(Stage::Classify)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(cluster.client().clone());
    js.publish("garbage.work.classify", "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    queue.publish(&ItemRef::new("ok", 1)).await.unwrap();
    let worker = queue.worker().await.unwrap();
    let got = worker.next_batch(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message().item_id, "ok");
    let letters = dead_letters(&cluster, 1, Duration::from_secs(3)).await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("cannot be decoded"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].message, "not json");
}
