//! Looking a reported picture's PDQ hash up among 100,000 stored ones: the chunk index
//! (`Store::nearest_report_hash`, multi-index hashing over sixteen 16-bit chunks) against the
//! linear scan (`Store::report_hashes_scan`) on the same store, in the same run. Half the
//! queries are a stored picture with 31 bits changed (a match), half are new pictures (none).
//!
//! `cargo bench -p ballotwatch-store --bench report_hashes [-- N]` (N hashes, default 100000).

use std::time::{Duration, Instant};

use ballotwatch_store::{Hash256, Store};

/// A deterministic pseudo-random hash (splitmix64).
fn hash(seed: u64) -> Hash256 {
    let mut x = seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path()).expect("a store");
    let started = Instant::now();
    for i in 0..n {
        store
            .add_report_hash(&format!("item-{i}"), &hash(i))
            .expect("storing a hash");
    }
    println!(
        "stored {n} hashes in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let queries: Vec<(Hash256, bool)> = (0..40u64)
        .map(|q| {
            if q % 2 == 0 {
                let mut h = hash(q * 997 % n);
                for k in 0..31 {
                    let bit = k * 8 + (q as usize % 8);
                    h[bit / 8] ^= 0x80 >> (bit % 8);
                }
                (h, true)
            } else {
                (hash(n + q), false)
            }
        })
        .collect();
    let (mut indexed, mut scanned) = (Vec::new(), Vec::new());
    for (q, should_match) in &queries {
        let t = Instant::now();
        let a = store.nearest_report_hash(q, 31).expect("index lookup");
        indexed.push(t.elapsed());
        let t = Instant::now();
        let b = store.report_hashes_scan(q, 31).expect("scan");
        scanned.push(t.elapsed());
        assert_eq!(a, b, "the index and the scan disagree");
        assert_eq!(a.is_some(), *should_match);
    }
    let (i, s) = (median(indexed), median(scanned));
    println!(
        "lookup among {n} hashes: index p50 {:.3} ms, linear scan p50 {:.3} ms: the scan takes {:.0}x the index",
        i.as_secs_f64() * 1e3,
        s.as_secs_f64() * 1e3,
        s.as_secs_f64() / i.as_secs_f64().max(1e-9)
    );
}
