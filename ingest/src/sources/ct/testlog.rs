//! A Certificate Transparency log in memory, with real structures: RFC 6962 leaves for
//! certificates and precertificates, the Merkle tree hash over them, and tree heads signed with
//! a P-256 key, served through both APIs: RFC 6962 (`get-sth`, `get-entries`) and static-ct-api
//! (a checkpoint signed with an RFC 6962 note signature, data tiles of `TileLeaf`s). The unit
//! and end-to-end tests serve it on 127.0.0.1, and the benchmark reads its entries; it is never
//! used to follow a real log.

use base64::Engine;
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};

use super::checkpoint::{log_id, rfc6962_key_id};
use super::sth::tree_head_message;
use super::tile::TILE_WIDTH;
use super::EntryJson;

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (algorithm id-ecPublicKey, prime256v1,
/// then a 66-byte BIT STRING holding the uncompressed point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A log: its signing key and its entries (leaf, extra data), in order, with each one's
/// `TileLeaf`.
#[derive(Debug, Clone)]
pub struct TestLog {
    key: p256::ecdsa::SigningKey,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    tile_leaves: Vec<Vec<u8>>,
}

/// The `TileLeaf` of a `MerkleTreeLeaf`: its `TimestampedEntry`, the precertificate for a
/// precert entry, then the chain's SHA-256 fingerprints.
pub fn tile_leaf(merkle_leaf: &[u8], pre_certificate: Option<&[u8]>, chain: &[&[u8]]) -> Vec<u8> {
    let mut t = merkle_leaf.get(2..).unwrap_or_default().to_vec();
    if let Some(p) = pre_certificate {
        t.extend_from_slice(&u24_prefixed(p));
    }
    t.extend_from_slice(&((chain.len() * 32) as u16).to_be_bytes());
    for c in chain {
        t.extend_from_slice(&Sha256::digest(c));
    }
    t
}

/// A `MerkleTreeLeaf` (`timestamped_entry`) of `entry_type` with its `signed_entry` bytes.
fn leaf(timestamp_ms: u64, entry_type: u16, signed_entry: &[u8]) -> Vec<u8> {
    let mut l = vec![0, 0];
    l.extend_from_slice(&timestamp_ms.to_be_bytes());
    l.extend_from_slice(&entry_type.to_be_bytes());
    l.extend_from_slice(signed_entry);
    l.extend_from_slice(&[0, 0]); // no extensions
    l
}

/// `bytes` as a TLS `opaque<1..2^24-1>`.
pub fn u24_prefixed(bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len() as u32;
    let mut v = n.to_be_bytes()[1..].to_vec();
    v.extend_from_slice(bytes);
    v
}

/// The `MerkleTreeLeaf` of a certificate (`x509_entry`) logged at `timestamp_ms`.
pub fn certificate_leaf(cert_der: &[u8], timestamp_ms: u64) -> Vec<u8> {
    leaf(timestamp_ms, 0, &u24_prefixed(cert_der))
}

/// The `MerkleTreeLeaf` of a precertificate (`precert_entry`) whose TBSCertificate is
/// `tbs_der`, logged at `timestamp_ms`.
pub fn precertificate_leaf(tbs_der: &[u8], timestamp_ms: u64) -> Vec<u8> {
    let mut signed = [0x5a; 32].to_vec(); // issuer_key_hash (not checked)
    signed.extend_from_slice(&u24_prefixed(tbs_der));
    leaf(timestamp_ms, 1, &signed)
}

/// The RFC 6962 Merkle tree hash of `leaves`.
pub fn merkle_root(leaves: &[&[u8]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest(b"").into(),
        [one] => {
            let mut h = Sha256::new();
            h.update([0]);
            h.update(one);
            h.finalize().into()
        }
        _ => {
            let mut k = 1;
            while k * 2 < leaves.len() {
                k *= 2;
            }
            let mut h = Sha256::new();
            h.update([1]);
            h.update(merkle_root(&leaves[..k]));
            h.update(merkle_root(&leaves[k..]));
            h.finalize().into()
        }
    }
}

impl TestLog {
    /// An empty log whose key is derived from `seed` (any byte but 0).
    pub fn new(seed: u8) -> TestLog {
        let secret = [seed.max(1); 32];
        // A 32-byte string of one non-zero byte is a valid P-256 scalar.
        #[allow(clippy::expect_used)]
        let key = p256::ecdsa::SigningKey::from_slice(&secret).expect("a valid P-256 scalar");
        TestLog {
            key,
            entries: Vec::new(),
            tile_leaves: Vec::new(),
        }
    }

    /// The DER SubjectPublicKeyInfo of the log's key.
    pub fn public_key_der(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(point.as_bytes());
        der
    }

    /// The log's public key as the CT log lists write it (base64 DER SubjectPublicKeyInfo).
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public_key_der())
    }

    /// Logs a certificate (DER) at `timestamp_ms`; returns its index.
    pub fn add_certificate(&mut self, cert_der: &[u8], timestamp_ms: u64) -> u64 {
        self.add_raw(certificate_leaf(cert_der, timestamp_ms), Vec::new())
    }

    /// Logs a certificate submitted with `chain` (its issuers, DER) at `timestamp_ms`: the chain
    /// in the extra data, its fingerprints in the `TileLeaf`; returns its index.
    pub fn add_certificate_with_chain(&mut self, cert_der: &[u8], chain: &[&[u8]], ts: u64) -> u64 {
        let leaf = certificate_leaf(cert_der, ts);
        let list: Vec<u8> = chain.iter().flat_map(|c| u24_prefixed(c)).collect();
        let tile = tile_leaf(&leaf, None, chain);
        self.add_entry(leaf, u24_prefixed(&list), tile)
    }

    /// Logs a precertificate at `timestamp_ms`: its TBSCertificate (poison removed) in the leaf,
    /// the precertificate itself first in the extra data; returns its index.
    pub fn add_precertificate(&mut self, tbs_der: &[u8], precert_der: &[u8], ts: u64) -> u64 {
        let mut extra = u24_prefixed(precert_der);
        extra.extend_from_slice(&[0, 0, 0]); // an empty chain
        let leaf = precertificate_leaf(tbs_der, ts);
        let tile = tile_leaf(&leaf, Some(precert_der), &[]);
        self.add_entry(leaf, extra, tile)
    }

    /// Logs raw leaf and extra-data bytes (which may be garbage), the `TileLeaf` made from the
    /// leaf with no chain; returns the index.
    pub fn add_raw(&mut self, leaf_input: Vec<u8>, extra_data: Vec<u8>) -> u64 {
        let tile = tile_leaf(&leaf_input, None, &[]);
        self.add_entry(leaf_input, extra_data, tile)
    }

    /// Logs an entry with its leaf, extra data and `TileLeaf` (any of which may be garbage);
    /// returns the index.
    pub fn add_entry(&mut self, leaf_input: Vec<u8>, extra_data: Vec<u8>, tile: Vec<u8>) -> u64 {
        self.entries.push((leaf_input, extra_data));
        self.tile_leaves.push(tile);
        self.entries.len() as u64 - 1
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The size (the log's, or less) and Merkle root of the first `tree_size` entries, and
    /// their tree head's `DigitallySigned` signature at `timestamp_ms`.
    fn signed_head(&self, tree_size: u64, timestamp_ms: u64) -> (usize, [u8; 32], Vec<u8>) {
        let n = usize::try_from(tree_size)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        let leaves: Vec<&[u8]> = self.entries[..n]
            .iter()
            .map(|(l, _)| l.as_slice())
            .collect();
        let root = merkle_root(&leaves);
        let sig: p256::ecdsa::Signature =
            self.key
                .sign(&tree_head_message(n as u64, timestamp_ms, &root));
        let der = sig.to_der();
        let mut ds = vec![4, 3];
        ds.extend_from_slice(&(der.as_bytes().len() as u16).to_be_bytes());
        ds.extend_from_slice(der.as_bytes());
        (n, root, ds)
    }

    /// The static-ct-api checkpoint of the first `tree_size` entries for the log whose origin
    /// is `origin`, signed at `timestamp_ms` with an RFC 6962 note signature.
    pub fn checkpoint(&self, origin: &str, tree_size: u64, timestamp_ms: u64) -> String {
        let (n, root, ds) = self.signed_head(tree_size, timestamp_ms);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut sig = rfc6962_key_id(origin, &log_id(&self.public_key_der())).to_vec();
        sig.extend_from_slice(&timestamp_ms.to_be_bytes());
        sig.extend_from_slice(&ds);
        format!(
            "{origin}\n{n}\n{}\n\n\u{2014} {origin} {}\n",
            b64.encode(root),
            b64.encode(sig)
        )
    }

    /// Data tile `index` with `width` entries (cut at the log's size): its `TileLeaf`s, one
    /// after the other.
    pub fn data_tile(&self, index: u64, width: u64) -> Vec<u8> {
        let start = usize::try_from(index.saturating_mul(TILE_WIDTH)).unwrap_or(usize::MAX);
        let width = usize::try_from(width.min(TILE_WIDTH)).unwrap_or(0);
        self.tile_leaves
            .iter()
            .skip(start)
            .take(width)
            .flatten()
            .copied()
            .collect()
    }

    /// The `get-sth` answer for the first `tree_size` entries, signed at `timestamp_ms`.
    pub fn sth_json(&self, tree_size: u64, timestamp_ms: u64) -> serde_json::Value {
        let (n, root, ds) = self.signed_head(tree_size, timestamp_ms);
        let b64 = base64::engine::general_purpose::STANDARD;
        serde_json::json!({
            "tree_size": n,
            "timestamp": timestamp_ms,
            "sha256_root_hash": b64.encode(root),
            "tree_head_signature": b64.encode(ds),
        })
    }

    /// The entries `start..=end` (cut at the log's size and at `max` entries), as `get-entries`
    /// answers them.
    pub fn entries(&self, start: u64, end: u64, max: usize) -> Vec<EntryJson> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .enumerate()
            .skip(start)
            .take_while(|(i, _)| *i <= end)
            .take(max)
            .map(|(_, (l, e))| EntryJson {
                leaf_input: b64.encode(l),
                extra_data: b64.encode(e),
            })
            .collect()
    }
}
