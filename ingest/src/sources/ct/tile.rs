//! Data tiles of a static-ct-api ("tiled") log (c2sp.org/static-ct-api, "Log entries"): their
//! paths (`tile/data/<N>[.p/<W>]`, `N` in 3-digit path elements) and the `TileLeaf` entries they
//! hold, each framed here and read into the same [`Entry`](super::leaf::Entry) as an RFC 6962
//! leaf.
//!
//! ```text
//! struct {
//!     TimestampedEntry timestamped_entry;          // RFC 6962 §3.4
//!     select (entry_type) {
//!         case x509_entry: Empty;
//!         case precert_entry: ASN.1Cert pre_certificate;
//!     };
//!     Fingerprint certificate_chain<0..2^16-1>;    // SHA-256 of each issuer
//! } TileLeaf;
//! ```
//!
//! Every length is checked against what is left before anything is sliced; a tile holds at most
//! [`TILE_WIDTH`] entries, so reading one is linear in its size.

use super::leaf::{parse_leaf, Entry, LeafError, Reader};

/// Entries in a full tile.
pub const TILE_WIDTH: u64 = 256;

/// The path of data tile `index` below the monitoring prefix: `tile/data/x001/x234/067` for
/// tile 1234067, with `.p/<width>` for a partial tile (`width` 1–255).
pub fn data_tile_path(index: u64, partial: Option<u64>) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    let elements: Vec<String> = groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect();
    let mut path = format!("tile/data/{}", elements.join("/"));
    if let Some(w) = partial.filter(|w| (1..TILE_WIDTH).contains(w)) {
        path.push_str(&format!(".p/{w}"));
    }
    path
}

/// The tile index a `tile/data/…` path names (the inverse of [`data_tile_path`]), and its
/// partial width; `None` when the path is not one.
pub fn parse_data_tile_path(path: &str) -> Option<(u64, Option<u64>)> {
    let rest = path.trim_start_matches('/').strip_prefix("tile/data/")?;
    let (index, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w: u64 = w.parse().ok().filter(|w| (1..TILE_WIDTH).contains(w))?;
            (i, Some(w))
        }
        None => (rest, None),
    };
    let elements: Vec<&str> = index.split('/').collect();
    let last = elements.len().checked_sub(1)?;
    if last > 6 {
        return None;
    }
    let mut n: u64 = 0;
    for (i, e) in elements.iter().enumerate() {
        let digits = if i < last { e.strip_prefix('x')? } else { e };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
    }
    Some((n, width))
}

/// One entry of a data tile, framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileLeaf<'a> {
    /// The whole `TileLeaf` as served (what an item's capture keeps).
    pub bytes: &'a [u8],
    /// The RFC 6962 `MerkleTreeLeaf` it stands for (`0x00 0x00` then the `TimestampedEntry`):
    /// the bytes the Merkle tree hashes.
    pub merkle_leaf: Vec<u8>,
    /// A precertificate entry's precertificate (what crt.sh names it by).
    pub pre_certificate: Option<&'a [u8]>,
    /// SHA-256 fingerprints of the issuers in the submitted chain.
    pub chain: Vec<[u8; 32]>,
}

impl TileLeaf<'_> {
    /// The entry's certificate or precertificate TBSCertificate, read.
    pub fn entry(&self) -> Result<Entry, LeafError> {
        parse_leaf(&self.merkle_leaf)
    }
}

/// A data tile split into its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile<'a> {
    /// The entries framed, in order.
    pub leaves: Vec<TileLeaf<'a>>,
    /// Why the bytes after the framed entries could not be read (the entries there are lost:
    /// a tile has no per-entry lengths to skip a bad one by).
    pub rest: Option<LeafError>,
}

/// Frames one `TileLeaf` from the front of `r`.
fn frame<'a>(r: &mut Reader<'a>) -> Result<TileLeaf<'a>, LeafError> {
    let start = r.rest;
    r.take(8, "timestamp")?;
    let entry_type = r.uint(2, "entry type")?;
    let precert = match entry_type {
        0 => {
            r.opaque(3, "certificate")?;
            false
        }
        1 => {
            r.take(32, "issuer key hash")?;
            r.opaque(3, "TBSCertificate")?;
            true
        }
        other => {
            return Err(LeafError::Unknown {
                what: "entry type",
                value: other,
            })
        }
    };
    r.opaque(2, "extensions")?;
    let timestamped_len = start.len() - r.rest.len();
    let pre_certificate = if precert {
        Some(r.opaque(3, "pre_certificate")?)
    } else {
        None
    };
    let chain = r.opaque(2, "certificate chain")?;
    if chain.len() % 32 != 0 {
        return Err(LeafError::Certificate {
            what: "certificate chain",
            message: format!(
                "it is {} bytes, not a whole number of 32-byte fingerprints",
                chain.len()
            ),
        });
    }
    let mut merkle_leaf = Vec::with_capacity(2 + timestamped_len);
    merkle_leaf.extend_from_slice(&[0, 0]);
    merkle_leaf.extend_from_slice(&start[..timestamped_len]);
    Ok(TileLeaf {
        bytes: &start[..start.len() - r.rest.len()],
        merkle_leaf,
        pre_certificate,
        chain: chain
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect(),
    })
}

/// Splits a data tile into at most `width` entries. Bytes left after `width` entries, or an
/// entry that does not frame, end the reading with [`Tile::rest`] saying why.
pub fn split_tile(bytes: &[u8], width: u64) -> Tile<'_> {
    let mut r = Reader { rest: bytes };
    let mut leaves = Vec::new();
    let mut rest = None;
    while !r.rest.is_empty() {
        if leaves.len() as u64 >= width {
            rest = Some(LeafError::Trailing(r.rest.len()));
            break;
        }
        match frame(&mut r) {
            Ok(leaf) => leaves.push(leaf),
            Err(e) => {
                rest = Some(e);
                break;
            }
        }
    }
    Tile { leaves, rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_use_three_digit_elements() {
        assert_eq!(data_tile_path(0, None), "tile/data/000");
        assert_eq!(data_tile_path(5, Some(17)), "tile/data/005.p/17");
        assert_eq!(data_tile_path(1000, None), "tile/data/x001/000");
        assert_eq!(data_tile_path(1_234_067, None), "tile/data/x001/x234/067");
        // A width that is not partial is no suffix.
        assert_eq!(data_tile_path(7, Some(256)), "tile/data/007");
        assert_eq!(data_tile_path(7, Some(0)), "tile/data/007");
        for (n, w) in [
            (0, None),
            (999, Some(1)),
            (1_234_067, Some(255)),
            (u64::MAX, None),
        ] {
            assert_eq!(parse_data_tile_path(&data_tile_path(n, w)), Some((n, w)));
        }
        for bad in [
            "tile/data/1",
            "tile/data/001/002",
            "tile/data/x001",
            "tile/data/000.p/0",
            "tile/data/000.p/256",
            "tile/0/000",
            "tile/data/x99999999/000",
        ] {
            assert_eq!(parse_data_tile_path(bad), None, "{bad}");
        }
    }
}
