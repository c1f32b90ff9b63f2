//! What a new report is matched against (issue 19): the same URL or the same picture reported
//! again joins the item (and so the incident) the first report became, as another report.
//!
//! * **Keys**: a reported URL's normal form (the caller normalises it) → the item it first
//!   became; an exact lookup on the primary key.
//! * **Picture hashes**: 256-bit perceptual hashes (PDQ) of reported pictures and video frames,
//!   matched within a Hamming distance. A lookup is *multi-index hashing*: every hash is also
//!   stored as its sixteen 16-bit chunks, indexed by (position, value). By the pigeonhole
//!   principle two hashes at most `d` bits apart agree to within `d / 16` bits on at least one
//!   chunk, so the candidates are the hashes sharing one chunk, at a radius of `d / 16`, with
//!   the query's: `16 × (1 + 16)` index probes at `d = 31`, each returning a bucket of about
//!   `n / 65 536` hashes for unrelated pictures, instead of reading all `n`. Distances up to
//!   [`MAX_HASH_DISTANCE`] are answered exactly (radius 2); [`Store::report_hashes_scan`] is
//!   the linear scan kept as the baseline the benchmark and the tests compare with.

use rusqlite::{params, OptionalExtension};

use crate::error::{Result, SqlContext};
use crate::row::query_all;
use crate::{now_ms, ts, Store};

/// A 256-bit perceptual hash, bit `k` in byte `k / 8`.
pub type Hash256 = [u8; 32];

/// Chunks a hash is indexed by.
pub const HASH_CHUNKS: usize = 16;

/// Largest distance a lookup answers exactly (chunk radius 2); larger ones are taken as this.
pub const MAX_HASH_DISTANCE: u32 = 47;

/// The stored picture hash nearest a query, within the distance asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HashMatch {
    /// The item the matching picture was reported in.
    pub item_id: String,
    /// Bits differing (0–256).
    pub distance: u32,
    /// The matching hash, as 64 hex digits.
    pub hash: String,
}

/// The hash's sixteen 16-bit chunks, in order.
pub(crate) fn chunks(h: &Hash256) -> [u16; HASH_CHUNKS] {
    let mut out = [0u16; HASH_CHUNKS];
    for (i, c) in out.iter_mut().enumerate() {
        *c = u16::from_be_bytes([h[2 * i], h[2 * i + 1]]);
    }
    out
}

/// The chunk radius searched for `max_distance`, and that distance capped at
/// [`MAX_HASH_DISTANCE`].
pub(crate) fn radius_of(max_distance: u32) -> (u32, u32) {
    let max = max_distance.min(MAX_HASH_DISTANCE);
    (max / HASH_CHUNKS as u32, max)
}

/// Every 16-bit value within `radius` (at most 2) bits of `v`.
pub(crate) fn neighbours(v: u16, radius: u32) -> Vec<u16> {
    let mut out = vec![v];
    if radius >= 1 {
        for a in 0..16 {
            out.push(v ^ (1 << a));
        }
    }
    if radius >= 2 {
        for a in 0..16 {
            for b in (a + 1)..16 {
                out.push(v ^ (1 << a) ^ (1 << b));
            }
        }
    }
    out
}

/// For each chunk position, the values a stored hash within `max_distance` of `h` may have there
/// (at least one position matches), and the capped distance.
pub(crate) fn probes(h: &Hash256, max_distance: u32) -> (Vec<Vec<u16>>, u32) {
    let (r, max) = radius_of(max_distance);
    (chunks(h).iter().map(|c| neighbours(*c, r)).collect(), max)
}

/// Bits differing between two hashes.
pub fn hash_distance(a: &Hash256, b: &Hash256) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Parses 64 hex digits.
pub(crate) fn parse_hash(s: &str) -> Option<Hash256> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The nearest of `candidates` (`(id, item, hex hash)`) within `max` of `query`; ties go to the
/// earliest stored. Stored hashes that do not parse are skipped (they cannot match anything).
pub(crate) fn nearest(
    query: &Hash256,
    max: u32,
    candidates: impl IntoIterator<Item = (i64, String, String)>,
) -> Option<HashMatch> {
    candidates
        .into_iter()
        .filter_map(|(id, item_id, hex)| {
            let d = hash_distance(query, &parse_hash(&hex)?);
            (d <= max).then_some((d, id, item_id, hex))
        })
        .min_by_key(|(d, id, _, _)| (*d, *id))
        .map(|(distance, _, item_id, hash)| HashMatch {
            item_id,
            distance,
            hash,
        })
}

impl Store {
    /// Records that reports keyed `key` (a reported URL's normal form) become item `item_id`;
    /// `false` (and nothing changes) when the key already names an item.
    pub fn add_report_key(&self, key: &str, item_id: &str) -> Result<bool> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            Ok(conn
                .execute(
                    "INSERT INTO report_keys(key, item_id, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO NOTHING",
                    params![key, item_id, at],
                )
                .with_ctx(|| format!("recording report key `{key}`"))?
                > 0)
        })
    }

    /// The item reports keyed `key` became, if one did.
    pub fn report_key_item(&self, key: &str) -> Result<Option<String>> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT item_id FROM report_keys WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .with_ctx(|| format!("looking up report key `{key}`"))
        })
    }

    /// Records a reported picture's hash for item `item_id`, with its chunks indexed; `false`
    /// when the item already has that hash.
    pub fn add_report_hash(&self, item_id: &str, hash: &Hash256) -> Result<bool> {
        let at = ts(&now_ms());
        let hex = hex::encode(hash);
        self.with_conn(|conn| {
            let tx = conn
                .transaction()
                .ctx("starting to record a picture hash")?;
            let added = tx
                .execute(
                    "INSERT INTO report_hashes(item_id, hash, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(item_id, hash) DO NOTHING",
                    params![item_id, hex, at],
                )
                .with_ctx(|| format!("recording a picture hash of item `{item_id}`"))?
                > 0;
            if added {
                let id = tx.last_insert_rowid();
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO report_hash_chunks(pos, val, hash_id) VALUES (?1, ?2, ?3)",
                    )
                    .ctx("indexing a picture hash")?;
                for (pos, val) in chunks(hash).iter().enumerate() {
                    st.execute(params![pos as i64, i64::from(*val), id])
                        .with_ctx(|| format!("indexing a picture hash of item `{item_id}`"))?;
                }
            }
            tx.commit().ctx("committing a picture hash")?;
            Ok(added)
        })
    }

    /// The stored picture hash nearest `hash` within `max_distance` bits (at most
    /// [`MAX_HASH_DISTANCE`]), through the chunk index: bounded work, whatever the number of
    /// hashes stored.
    pub fn nearest_report_hash(
        &self,
        hash: &Hash256,
        max_distance: u32,
    ) -> Result<Option<HashMatch>> {
        let (per_pos, max) = probes(hash, max_distance);
        self.with_conn(|conn| {
            let mut seen = std::collections::HashSet::new();
            let mut candidates = Vec::new();
            let what = || "looking up a picture hash".to_string();
            let mut st = conn
                .prepare_cached(
                    "SELECT h.id, h.item_id, h.hash FROM report_hash_chunks c
                     JOIN report_hashes h ON h.id = c.hash_id
                     WHERE c.pos = ?1 AND c.val = ?2",
                )
                .with_ctx(what)?;
            for (pos, values) in per_pos.iter().enumerate() {
                for v in values {
                    let mut rows = st
                        .query(params![pos as i64, i64::from(*v)])
                        .with_ctx(what)?;
                    while let Some(r) = rows.next().with_ctx(what)? {
                        let id: i64 = r.get(0).with_ctx(what)?;
                        if seen.insert(id) {
                            candidates.push((
                                id,
                                r.get(1).with_ctx(what)?,
                                r.get(2).with_ctx(what)?,
                            ));
                        }
                    }
                }
            }
            Ok(nearest(hash, max, candidates))
        })
    }

    /// [`Store::nearest_report_hash`] by reading every stored hash: the baseline it is measured
    /// and tested against.
    pub fn report_hashes_scan(
        &self,
        hash: &Hash256,
        max_distance: u32,
    ) -> Result<Option<HashMatch>> {
        let (_, max) = radius_of(max_distance);
        self.with_conn(|conn| {
            let all: Vec<(i64, String, String)> = query_all(
                conn,
                "SELECT id, item_id, hash FROM report_hashes",
                [],
                || "reading every picture hash".into(),
            )?;
            Ok(nearest(hash, max, all))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random hash (splitmix64).
    pub(crate) fn random_hash(seed: u64) -> Hash256 {
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

    /// `h` with `n` bits flipped, spread over the hash (every 256/n-th bit, from `start`).
    fn flip(h: &Hash256, n: usize, start: usize) -> Hash256 {
        let mut out = *h;
        for k in 0..n {
            let bit = (start + k * (256 / n.max(1))) % 256;
            out[bit / 8] ^= 0x80 >> (bit % 8);
        }
        out
    }

    #[test]
    fn neighbours_cover_the_radius() {
        assert_eq!(neighbours(7, 0), vec![7]);
        let one = neighbours(0, 1);
        assert_eq!(one.len(), 17);
        assert!(one.iter().all(|v| v.count_ones() <= 1));
        let two = neighbours(0, 2);
        assert_eq!(two.len(), 137);
        let distinct: std::collections::HashSet<_> = two.iter().collect();
        assert_eq!(distinct.len(), 137);
        assert_eq!(radius_of(31), (1, 31));
        assert_eq!(radius_of(500), (2, MAX_HASH_DISTANCE));
    }

    #[test]
    fn the_index_finds_what_the_scan_finds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..300u64 {
            store
                .add_report_hash(&format!("item-{i}"), &random_hash(i))
                .unwrap();
        }
        // The same hash again for the same item is not stored twice.
        assert!(!store.add_report_hash("item-3", &random_hash(3)).unwrap());
        for (n, start) in [(0, 0), (5, 1), (16, 3), (31, 0), (31, 7), (32, 2), (60, 1)] {
            let q = flip(&random_hash(42), n, start);
            let indexed = store.nearest_report_hash(&q, 31).unwrap();
            let scanned = store.report_hashes_scan(&q, 31).unwrap();
            assert_eq!(indexed, scanned, "{n} bits flipped from {start}");
            if n <= 31 {
                let m = indexed.unwrap();
                assert_eq!((m.item_id.as_str(), m.distance), ("item-42", n as u32));
            } else {
                assert_eq!(indexed, None, "{n} bits is not the same picture");
            }
        }
        // 31 bits flipped all inside two chunks still leaves fourteen chunks equal; 31 bits
        // spread one or two per chunk leaves every chunk within radius 1 of some stored one.
        let mut crowded = random_hash(9);
        for b in crowded.iter_mut().take(4) {
            *b ^= 0xFF;
        }
        let m = store.nearest_report_hash(&crowded, 32).unwrap().unwrap();
        assert_eq!((m.item_id.as_str(), m.distance), ("item-9", 32));
    }

    #[test]
    fn keys_name_the_first_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.report_key_item("url:https://a.example/x").unwrap(),
            None
        );
        assert!(store
            .add_report_key("url:https://a.example/x", "i1")
            .unwrap());
        assert!(!store
            .add_report_key("url:https://a.example/x", "i2")
            .unwrap());
        assert_eq!(
            store.report_key_item("url:https://a.example/x").unwrap(),
            Some("i1".into())
        );
    }
}
