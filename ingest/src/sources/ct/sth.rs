//! A log's public key and its signed tree heads (RFC 6962 §3.5): the `get-sth` answer and the
//! check of its `tree_head_signature`, a TLS `DigitallySigned` over the `TreeHeadSignature`
//! structure, with ECDSA P-256/SHA-256 or RSA PKCS#1 v1.5/SHA-256 keys.

use base64::Engine;
use der::Decode;
use p256::ecdsa::signature::Verifier;
use rsa::pkcs8::DecodePublicKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a public key or a tree head is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SthError {
    /// The configured key is not a key this reader can check signatures with.
    #[error("{0}")]
    Key(String),
    /// The tree head is not well formed.
    #[error("the tree head is malformed: {0}")]
    Malformed(String),
    /// The signature does not verify with the log's key.
    #[error("the tree head signature does not verify with the configured public_key")]
    BadSignature,
}

/// A log's public key, from the base64 DER `SubjectPublicKeyInfo` of the CT log lists.
#[derive(Debug, Clone)]
pub enum LogKey {
    /// ECDSA over P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// RSA (PKCS#1 v1.5 signatures).
    Rsa(Box<rsa::RsaPublicKey>),
}

const EC_PUBLIC_KEY: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ED25519: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA_ENCRYPTION: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

impl LogKey {
    /// Reads a key written as base64 DER `SubjectPublicKeyInfo`.
    pub fn from_base64(text: &str) -> Result<LogKey, SthError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| SthError::Key(format!("is not base64: {e}")))?;
        LogKey::from_der(&der)
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    pub fn from_der(der: &[u8]) -> Result<LogKey, SthError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| SthError::Key(format!("is not a DER SubjectPublicKeyInfo: {e}")))?;
        let oid = spki.algorithm.oid;
        if oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
            if curve != Some(PRIME256V1) {
                return Err(SthError::Key(
                    "is an elliptic-curve key on a curve other than P-256; CT logs use P-256"
                        .into(),
                ));
            }
            let point = spki.subject_public_key.raw_bytes();
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(LogKey::P256)
                .map_err(|_| SthError::Key("holds a P-256 point that is not on the curve".into()))
        } else if oid == RSA_ENCRYPTION {
            rsa::RsaPublicKey::from_public_key_der(der)
                .map(|k| LogKey::Rsa(Box::new(k)))
                .map_err(|e| SthError::Key(format!("is not a readable RSA key: {e}")))
        } else {
            let name = if oid == ED25519 {
                "Ed25519".to_string()
            } else {
                format!("algorithm {oid}")
            };
            Err(SthError::Key(format!(
                "uses {name}; RFC 6962 logs sign with ECDSA P-256 or RSA"
            )))
        }
    }

    /// Checks a TLS `DigitallySigned` (`hash`, `signature` algorithm bytes, then a 2-byte
    /// length and the signature) over `message`.
    pub fn verify(&self, digitally_signed: &[u8], message: &[u8]) -> Result<(), SthError> {
        let [hash, alg, len_hi, len_lo, sig @ ..] = digitally_signed else {
            return Err(SthError::Malformed(
                "the signature is shorter than 4 bytes".into(),
            ));
        };
        if *hash != 4 {
            return Err(SthError::Malformed(format!(
                "the signature's hash algorithm is {hash}, not SHA-256 (4)"
            )));
        }
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
        if len != sig.len() {
            return Err(SthError::Malformed(format!(
                "the signature says it is {len} bytes long but {} follow",
                sig.len()
            )));
        }
        match (self, alg) {
            (LogKey::P256(key), 3) => {
                let sig =
                    p256::ecdsa::Signature::from_der(sig).map_err(|_| SthError::BadSignature)?;
                key.verify(message, &sig)
                    .map_err(|_| SthError::BadSignature)
            }
            (LogKey::Rsa(key), 1) => key
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    sig,
                )
                .map_err(|_| SthError::BadSignature),
            (_, other) => Err(SthError::Malformed(format!(
                "the signature algorithm is {other}, which is not the configured key's"
            ))),
        }
    }
}

/// A `get-sth` answer, as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct SthJson {
    /// Number of entries in the tree.
    pub tree_size: u64,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// Base64 Merkle root.
    pub sha256_root_hash: String,
    /// Base64 `DigitallySigned`.
    pub tree_head_signature: String,
}

/// A tree head whose signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries in the tree.
    pub tree_size: u64,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// Merkle root.
    pub root_hash: [u8; 32],
}

/// The bytes a tree head signature covers (RFC 6962 §3.5 `TreeHeadSignature`).
pub fn tree_head_message(tree_size: u64, timestamp: u64, root_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(2 + 8 + 8 + 32);
    m.push(0); // version v1
    m.push(1); // signature_type tree_hash
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(root_hash);
    m
}

/// Checks a `get-sth` answer's signature with `key`.
pub fn verify_sth(sth: &SthJson, key: &LogKey) -> Result<TreeHead, SthError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let root = b64
        .decode(sth.sha256_root_hash.trim())
        .map_err(|e| SthError::Malformed(format!("sha256_root_hash is not base64: {e}")))?;
    let root_hash: [u8; 32] = root.as_slice().try_into().map_err(|_| {
        SthError::Malformed(format!("sha256_root_hash is {} bytes, not 32", root.len()))
    })?;
    let sig = b64
        .decode(sth.tree_head_signature.trim())
        .map_err(|e| SthError::Malformed(format!("tree_head_signature is not base64: {e}")))?;
    key.verify(
        &sig,
        &tree_head_message(sth.tree_size, sth.timestamp, &root_hash),
    )?;
    Ok(TreeHead {
        tree_size: sth.tree_size,
        timestamp: sth.timestamp,
        root_hash,
    })
}
