//! Source leases: one holder per source, takeover within one lease period.

use std::time::{Duration, Instant};

use ballotwatch_cluster::lease::Leases;
use ballotwatch_cluster::{Cluster, ClusterError};

use crate::shared;

const PERIOD: Duration = Duration::from_secs(2);

async fn node(prefix: &str, name: &str) -> Leases {
    let cluster = Cluster::connect(&shared(prefix, name)).await.unwrap();
    cluster.leases_with_period(PERIOD).await.unwrap()
}

fn sources() -> Vec<String> {
    (0..10).map(|i| format!("Source {i}")).collect()
}

#[tokio::test]
async fn each_source_has_one_holder_and_a_dead_nodes_sources_move_within_one_period() {
    let (a, b) = (
        node("leases", "node-a").await,
        node("leases", "node-b").await,
    );
    // Both nodes try every source, interleaved: each source goes to exactly one.
    let mut held_a = Vec::new();
    let mut held_b = Vec::new();
    for (i, s) in sources().iter().enumerate() {
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (x, y) = tokio::join!(first.try_acquire(s), second.try_acquire(s));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.is_some() != y.is_some(), "{s}: exactly one holder");
        let (lease, held_by_a) = match (x, y) {
            (Some(l), None) => (l, i % 2 == 0),
            (None, Some(l)) => (l, i % 2 != 0),
            _ => unreachable!(),
        };
        if held_by_a {
            held_a.push(lease);
        } else {
            held_b.push(lease);
        }
    }
    assert_eq!(held_a.len() + held_b.len(), 10);
    let holders = a.holders().await.unwrap();
    assert_eq!(holders.len(), 10);
    for h in &holders {
        let by_a = held_a.iter().any(|l| l.source() == h.source);
        assert_eq!(
            h.node,
            if by_a { "node-a" } else { "node-b" },
            "{}",
            h.source
        );
    }
    // Holding: nobody else can take a held source, even after more than one period, while the
    // holder renews.
    let renew_until = Instant::now() + PERIOD + PERIOD / 2;
    while Instant::now() < renew_until {
        for l in held_a.iter_mut() {
            a.renew(l).await.unwrap();
        }
        for l in held_b.iter_mut() {
            b.renew(l).await.unwrap();
        }
        for l in &held_a {
            assert!(b.try_acquire(l.source()).await.unwrap().is_none());
        }
        tokio::time::sleep(a.renew_every()).await;
    }

    // Node A dies: its renewals stop. B keeps renewing its own and polls for A's sources.
    for l in held_a.iter_mut() {
        a.renew(l).await.unwrap();
    }
    let died = Instant::now();
    let mut taken = Vec::new();
    let mut last_renewal = Instant::now();
    while taken.len() < held_a.len() && died.elapsed() < PERIOD * 3 {
        for l in &held_a {
            if taken
                .iter()
                .any(|t: &ballotwatch_cluster::lease::Lease| t.source() == l.source())
            {
                continue;
            }
            if let Some(t) = b.try_acquire(l.source()).await.unwrap() {
                taken.push(t);
            }
        }
        if last_renewal.elapsed() >= b.renew_every() {
            for l in held_b.iter_mut() {
                b.renew(l).await.unwrap();
            }
            last_renewal = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let takeover = died.elapsed();
    println!(
        "lease takeover: {} sources in {:.2}s after the last renewal (lease period {:.1}s, ratio {:.2})",
        taken.len(),
        takeover.as_secs_f64(),
        PERIOD.as_secs_f64(),
        takeover.as_secs_f64() / PERIOD.as_secs_f64()
    );
    assert_eq!(
        taken.len(),
        held_a.len(),
        "every source of the dead node moved"
    );
    assert!(
        takeover <= PERIOD + Duration::from_millis(1500),
        "within one lease period (+ polling): {takeover:?}"
    );
    // B kept its own sources all along, and A (back from the dead) has lost its leases.
    for l in held_b.iter_mut() {
        b.renew(l).await.unwrap();
    }
    if let Some(l) = held_a.first_mut() {
        assert!(matches!(
            a.renew(l).await,
            Err(ClusterError::LeaseLost { .. })
        ));
    }
    let holders = a.holders().await.unwrap();
    assert_eq!(holders.len(), 10);
    assert!(holders.iter().all(|h| h.node == "node-b"));
}

#[tokio::test]
async fn a_released_source_can_be_taken_at_once() {
    let (a, b) = (
        node("release", "node-a").await,
        node("release", "node-b").await,
    );
    let lease = a.try_acquire("Anytown Echo").await.unwrap().unwrap();
    assert!(b.try_acquire("Anytown Echo").await.unwrap().is_none());
    a.release(lease).await.unwrap();
    let taken = b.try_acquire("Anytown Echo").await.unwrap();
    assert!(taken.is_some(), "no need to wait for the period");
    assert_eq!(b.holders().await.unwrap()[0].node, "node-b");
}

#[tokio::test]
async fn a_restarted_node_takes_back_its_own_lease() {
    let a = node("restartlease", "node-a").await;
    let _old = a.try_acquire("Riverside").await.unwrap().unwrap();
    // The same node, restarted: it lost its Lease value but not its name.
    let again = node("restartlease", "node-a").await;
    assert!(again.try_acquire("Riverside").await.unwrap().is_some());
    let other = node("restartlease", "node-b").await;
    assert!(other.try_acquire("Riverside").await.unwrap().is_none());
}
