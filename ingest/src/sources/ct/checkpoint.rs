//! The signed tree head of a static-ct-api ("tiled") log: a checkpoint (c2sp.org/tlog-checkpoint)
//! in a signed note (c2sp.org/signed-note), with the log's RFC 6962 note signature
//! (c2sp.org/static-ct-api, "Checkpoints").
//!
//! A note is its text (lines ending in `\n`), a blank line, then signature lines
//! `— <key name> <base64(key ID ‖ signature)>`. The checkpoint text is the origin (the log's
//! submission prefix without scheme or trailing slash), the tree size in decimal and the base64
//! Merkle root. The log's signature has key name = origin, key ID = the first 4 bytes of
//! SHA-256(origin ‖ `\n` ‖ `0x05` ‖ LogID) and body `RFC6962NoteSignature`: the tree head's
//! 8-byte timestamp then its RFC 6962 `TreeHeadSignature` (`DigitallySigned`), over the same
//! bytes as a `get-sth` signature. Other signatures (witness cosignatures, Ed25519 note keys)
//! are ignored, as the spec says.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::sth::{tree_head_message, LogKey, SthError, TreeHead};

/// Most signature lines read from one note (real checkpoints carry a handful).
pub const MAX_SIGNATURES: usize = 100;
/// Largest checkpoint read, in bytes (real ones are a few hundred).
pub const MAX_CHECKPOINT: usize = 64 * 1024;
/// The signed-note signature type of an RFC 6962 tree head signature.
const RFC6962_SIGNATURE_TYPE: u8 = 0x05;

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not a signed note, or not a checkpoint.
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    /// The origin line is another log's.
    #[error(
        "the checkpoint's origin is `{got}`, not `{expected}` (the configured submission_url)"
    )]
    Origin {
        /// The origin the config implies.
        expected: String,
        /// The origin line served.
        got: String,
    },
    /// No signature line by the log's key.
    #[error("the checkpoint has no signature by `{origin}` with the configured public_key (key ID {key_id})")]
    Unsigned {
        /// The key name looked for.
        origin: String,
        /// The key ID looked for, hex.
        key_id: String,
    },
    /// The log's signature line is there but does not verify (or is not a tree head signature).
    #[error("the checkpoint signature does not verify with the configured public_key: {0}")]
    Signature(SthError),
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature<'a> {
    /// The key name.
    pub name: &'a str,
    /// The key ID (first 4 bytes of the decoded signature).
    pub key_id: [u8; 4],
    /// The signature after the key ID.
    pub signature: Vec<u8>,
}

/// A note split into its text (with its final newline) and signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note<'a> {
    /// The signed text.
    pub text: &'a str,
    /// Its signature lines, in order.
    pub signatures: Vec<NoteSignature<'a>>,
}

/// A checkpoint's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody<'a> {
    /// The origin line.
    pub origin: &'a str,
    /// The tree size.
    pub tree_size: u64,
    /// The Merkle root.
    pub root_hash: [u8; 32],
    /// Number of extension lines after the root.
    pub extensions: usize,
}

fn malformed(m: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(m.into())
}

/// Splits a signed note (c2sp.org/signed-note).
pub fn parse_note(bytes: &[u8]) -> Result<Note<'_>, CheckpointError> {
    if bytes.len() > MAX_CHECKPOINT {
        return Err(malformed(format!(
            "it is {} bytes, more than the {MAX_CHECKPOINT} a checkpoint may be",
            bytes.len()
        )));
    }
    let all = std::str::from_utf8(bytes).map_err(|_| malformed("it is not UTF-8"))?;
    let split = all
        .rfind("\n\n")
        .ok_or_else(|| malformed("it has no blank line before the signatures"))?;
    let text = &all[..=split];
    let sigs = &all[split + 2..];
    if !sigs.ends_with('\n') {
        return Err(malformed(
            "the last signature line does not end with a newline",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        if signatures.len() >= MAX_SIGNATURES {
            return Err(malformed(format!(
                "it has more than {MAX_SIGNATURES} signatures"
            )));
        }
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
            malformed(format!(
                "signature line `{}` does not start with `— `",
                line.chars().take(40).collect::<String>()
            ))
        })?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line has no space between name and signature"))?;
        if name.is_empty() || name.contains('+') || sig.contains(' ') {
            return Err(malformed(format!(
                "signature line for `{name}` is not `— NAME BASE64`"
            )));
        }
        let raw = b64
            .decode(sig)
            .map_err(|_| malformed(format!("the signature by `{name}` is not base64")))?;
        let Some((id, signature)) = raw.split_first_chunk::<4>() else {
            return Err(malformed(format!(
                "the signature by `{name}` is shorter than its 4-byte key ID"
            )));
        };
        signatures.push(NoteSignature {
            name,
            key_id: *id,
            signature: signature.to_vec(),
        });
    }
    if signatures.is_empty() {
        return Err(malformed("it has no signature lines"));
    }
    Ok(Note { text, signatures })
}

/// Reads a checkpoint's text (c2sp.org/tlog-checkpoint).
pub fn parse_checkpoint_body(text: &str) -> Result<CheckpointBody<'_>, CheckpointError> {
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| malformed("the text does not end with a newline"))?;
    let mut lines = body.split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err(malformed("the origin line is empty"));
    }
    let size = lines
        .next()
        .ok_or_else(|| malformed("there is no tree size line"))?;
    let leading_zero = size.len() > 1 && size.starts_with('0');
    if leading_zero || size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!(
            "the tree size `{size}` is not a decimal number"
        )));
    }
    let tree_size: u64 = size
        .parse()
        .map_err(|_| malformed(format!("the tree size `{size}` is too large")))?;
    let root = lines
        .next()
        .ok_or_else(|| malformed("there is no root hash line"))?;
    let root = base64::engine::general_purpose::STANDARD
        .decode(root)
        .map_err(|_| malformed("the root hash is not base64"))?;
    let root_hash: [u8; 32] = root
        .as_slice()
        .try_into()
        .map_err(|_| malformed(format!("the root hash is {} bytes, not 32", root.len())))?;
    let extensions = lines.count();
    Ok(CheckpointBody {
        origin,
        tree_size,
        root_hash,
        extensions,
    })
}

/// The checkpoint origin of a log with this submission prefix: no scheme, no trailing slash.
pub fn origin_of(submission_url: &url::Url) -> String {
    let s = submission_url.as_str();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    s.trim_end_matches('/').to_string()
}

/// A log's RFC 6962 `LogID`: the SHA-256 of its DER `SubjectPublicKeyInfo`.
pub fn log_id(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// The signed-note key ID of a log's RFC 6962 note signature.
pub fn rfc6962_key_id(origin: &str, log_id: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    h.update([b'\n', RFC6962_SIGNATURE_TYPE]);
    h.update(log_id);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Reads a checkpoint served by the log whose origin is `origin`, and checks its RFC 6962 note
/// signature with `key` (whose `LogID` is `log_id`).
pub fn verify_checkpoint(
    bytes: &[u8],
    origin: &str,
    key: &LogKey,
    log_id: &[u8; 32],
) -> Result<TreeHead, CheckpointError> {
    let note = parse_note(bytes)?;
    let body = parse_checkpoint_body(note.text)?;
    if body.origin != origin {
        return Err(CheckpointError::Origin {
            expected: origin.to_string(),
            got: body.origin.chars().take(200).collect(),
        });
    }
    let key_id = rfc6962_key_id(origin, log_id);
    let sig = note
        .signatures
        .iter()
        .find(|s| s.name == origin && s.key_id == key_id)
        .ok_or_else(|| CheckpointError::Unsigned {
            origin: origin.to_string(),
            key_id: hex::encode(key_id),
        })?;
    if body.extensions > 0 {
        return Err(malformed(
            "it has extension lines, which a checkpoint with an RFC 6962 signature must not have",
        ));
    }
    let Some((timestamp, digitally_signed)) = sig.signature.split_first_chunk::<8>() else {
        return Err(CheckpointError::Signature(SthError::Malformed(
            "the signature is shorter than its 8-byte timestamp".into(),
        )));
    };
    let timestamp = u64::from_be_bytes(*timestamp);
    key.verify(
        digitally_signed,
        &tree_head_message(body.tree_size, timestamp, &body.root_hash),
    )
    .map_err(CheckpointError::Signature)?;
    Ok(TreeHead {
        tree_size: body.tree_size,
        timestamp,
        root_hash: body.root_hash,
    })
}
