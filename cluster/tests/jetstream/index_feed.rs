//! The index replica feed: every web node reads every change, and can replay from a position.

use std::time::Duration;

use ballotwatch_cluster::index_feed::{IndexChange, IndexOp};
use ballotwatch_cluster::Cluster;

use crate::shared;

fn change(i: u64) -> IndexChange {
    IndexChange {
        item_id: format!("item-{i}"),
        version: 1,
        op: if i == 4 {
            IndexOp::Delete
        } else {
            IndexOp::Upsert
        },
    }
}

#[tokio::test]
async fn every_node_gets_every_change_and_can_replay_from_a_position() {
    let web1 = Cluster::connect(&shared("feed", "web1")).await.unwrap();
    let web2 = Cluster::connect(&shared("feed", "web2")).await.unwrap();
    let feed = web1.index_feed().await.unwrap();
    for i in 0..5 {
        assert!(!feed.publish(&change(i)).await.unwrap().duplicate);
    }
    assert!(feed.publish(&change(2)).await.unwrap().duplicate);
    // Five changes kept (the duplicate was dropped): what a replica's stored position is
    // checked against at start-up.
    assert_eq!(feed.bounds().await.unwrap(), (1, 5));

    let mut positions = Vec::new();
    for node in [&web1, &web2] {
        let replica = node
            .index_feed()
            .await
            .unwrap()
            .replica(None)
            .await
            .unwrap();
        let got = replica
            .next_batch(10, Duration::from_secs(1))
            .await
            .unwrap();
        let ids: Vec<String> = got.iter().map(|d| d.message().item_id.clone()).collect();
        assert_eq!(ids, (0..5).map(|i| format!("item-{i}")).collect::<Vec<_>>());
        assert_eq!(got[4].message().op, IndexOp::Delete);
        positions = got.iter().map(|d| d.stream_sequence()).collect();
        for d in got {
            d.ack().await.unwrap();
        }
        // Acknowledged by this node: not again for it, still there for the others.
        assert!(replica
            .next_batch(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty());
    }
    // web2 rebuilt its replica from PostgreSQL at the third change's position: replay from it.
    let replica = web2
        .index_feed()
        .await
        .unwrap()
        .replica(Some(positions[2]))
        .await
        .unwrap();
    let got = replica
        .next_batch(10, Duration::from_secs(1))
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|d| d.message().item_id.as_str()).collect();
    assert_eq!(ids, ["item-3", "item-4"]);
}
