//! The Ed25519 key that signs pack manifests: generated at first use, kept in a file only its
//! owner can read (0600), its public half written into every pack.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::error::{EvidenceError, Result};

/// File name of the key in `data_dir` when `[evidence] signing_key` is not set.
pub const DEFAULT_KEY_FILE: &str = "evidence.key";

/// First line of the key file, so a person who opens it knows what it is.
const KEY_HEADER: &str =
    "# Ballotwatch evidence-pack signing key (Ed25519 secret, hex). Keep private.";

/// The key file to use: `[evidence] signing_key`, else `data_dir/evidence.key`.
pub fn key_path(configured: Option<&Path>, data_dir: &Path) -> PathBuf {
    configured.map_or_else(|| data_dir.join(DEFAULT_KEY_FILE), Path::to_path_buf)
}

/// The pack signing key.
#[derive(Debug)]
pub struct PackKey {
    key: SigningKey,
}

impl PackKey {
    /// Loads the key at `path`, generating it (and any missing parent folder) if the file does
    /// not exist. A new key file is created with mode 0600 and never overwritten. An existing
    /// file that others can read is refused on Unix, naming the file and the fix.
    pub fn load_or_create(path: &Path) -> Result<PackKey> {
        match fs::read_to_string(path) {
            Ok(text) => {
                check_permissions(path)?;
                Self::parse(path, &text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(EvidenceError::io("read the signing key", path, e)),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<PackKey> {
        let hex_line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let bad = |m: &str| EvidenceError::Key {
            path: path.to_path_buf(),
            message: format!(
                "{m}; expected 64 hex digits (an Ed25519 secret key). Move the file away to \
                 have a new key generated (packs signed with the old key then no longer match \
                 the key shown in the UI)"
            ),
        };
        let bytes = hex::decode(hex_line).map_err(|e| bad(&format!("not hex ({e})")))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| bad(&format!("{} bytes, not 32", b.len())))?;
        Ok(PackKey {
            key: SigningKey::from_bytes(&secret),
        })
    }

    fn create(path: &Path) -> Result<PackKey> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| EvidenceError::io("create folder", dir, e))?;
        }
        let secret: [u8; 32] = rand::random();
        let key = SigningKey::from_bytes(&secret);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = match opts.open(path) {
            Ok(f) => f,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(path)
                    .map_err(|e| EvidenceError::io("read the signing key", path, e))?;
                return Self::parse(path, &text);
            }
            Err(e) => return Err(EvidenceError::io("create the signing key", path, e)),
        };
        let text = format!("{KEY_HEADER}\n{}\n", hex::encode(secret));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| EvidenceError::io("write the signing key", path, e))?;
        tracing::info!(key = %path.display(), public = %hex::encode(key.verifying_key().as_bytes()), "generated a new evidence-pack signing key");
        Ok(PackKey { key })
    }

    /// The public key, 64 hex digits.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The public key's fingerprint (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint_of(self.key.verifying_key().as_bytes())
    }

    /// Signs `message`; the signature as 128 hex digits.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| EvidenceError::io("inspect the signing key", path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(EvidenceError::Key {
            path: path.to_path_buf(),
            message: format!(
                "readable or writable by others (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// The fingerprint of an Ed25519 public key given as 64 hex digits: the SHA-256 of the 32 raw
/// key bytes, as 64 lowercase hex digits (what `sha256sum` prints for the raw key). `export`,
/// the report, the web export and `verify` all show it, so a Returning Officer can compare the
/// key that signed a pack with the one the council gave them. `None` when `public_hex` is not
/// 64 hex digits.
pub fn fingerprint(public_hex: &str) -> Option<String> {
    let raw: [u8; 32] = hex::decode(public_hex.trim()).ok()?.try_into().ok()?;
    Some(fingerprint_of(&raw))
}

fn fingerprint_of(raw: &[u8; 32]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(raw))
}

/// Whether `text` is an Ed25519 public key as `verify --public-key` and `signing-key.pub` give
/// it: 64 hex digits.
pub fn is_public_hex(text: &str) -> bool {
    let t = text.trim();
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a trusted public key file (`[evidence] trusted_keys`): the `signing-key.pub` of a
/// pack, or any file whose first line that is neither blank nor a `#` comment is the key's 64
/// hex digits. Returns the key in lowercase hex; an unreadable or malformed file is an error
/// naming it.
pub fn read_public_key_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    fs::File::open(path)
        // A key file is a line; reading more would only let a wrong path eat memory.
        .and_then(|f| f.take(64 * 1024).read_to_string(&mut text))
        .map_err(|e| EvidenceError::io("read the trusted public key", path, e))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if !is_public_hex(line) {
        return Err(EvidenceError::Key {
            path: path.to_path_buf(),
            message: "not an Ed25519 public key: expected 64 hex digits (the contents of a \
                      pack's signing-key.pub)"
                .into(),
        });
    }
    Ok(line.to_ascii_lowercase())
}

/// Why a signature did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not 64 hex digits.
    #[error("the public key is not 64 hex digits")]
    KeyNotHex,
    /// The 32 bytes are not an Ed25519 public key.
    #[error("the public key is invalid: {0}")]
    KeyInvalid(String),
    /// The signature is not 128 hex digits.
    #[error("the signature is not 128 hex digits")]
    SignatureNotHex,
    /// A well-formed signature that the key did not make over this manifest.
    #[error("the signature does not match the manifest")]
    Mismatch,
}

/// Checks a hex signature over `message` against a hex public key.
pub fn verify_hex(
    public_hex: &str,
    message: &[u8],
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let pk: [u8; 32] = hex::decode(public_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::KeyNotHex)?;
    let key =
        VerifyingKey::from_bytes(&pk).map_err(|e| SignatureError::KeyInvalid(e.to_string()))?;
    let sig: [u8; 64] = hex::decode(signature_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::SignatureNotHex)?;
    key.verify(message, &Signature::from_bytes(&sig))
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_generated_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/evidence.key");
        let k1 = PackKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let k2 = PackKey::load_or_create(&path).unwrap();
        assert_eq!(k1.public_hex(), k2.public_hex());
        let sig = k1.sign_hex(b"manifest");
        verify_hex(&k2.public_hex(), b"manifest", &sig).unwrap();
        assert!(verify_hex(&k2.public_hex(), b"manifesT", &sig).is_err());
        let other = PackKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(verify_hex(&other.public_hex(), b"manifest", &sig).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_readable_by_others_is_refused_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evidence.key");
        PackKey::load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = PackKey::load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && err.contains("evidence.key"),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evidence.key");
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&path)
            .unwrap()
            .write_all(b"# header\nabcd\n")
            .unwrap();
        let err = PackKey::load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("evidence.key") && err.contains("2 bytes, not 32"),
            "{err}"
        );
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_raw_key() {
        let dir = tempfile::tempdir().unwrap();
        let k = PackKey::load_or_create(&dir.path().join("k")).unwrap();
        let raw = hex::decode(k.public_hex()).unwrap();
        use sha2::Digest;
        let expected = hex::encode(sha2::Sha256::digest(&raw));
        assert_eq!(k.fingerprint(), expected);
        assert_eq!(
            fingerprint(&k.public_hex()).as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(
            fingerprint(&k.public_hex().to_uppercase()).as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(fingerprint("abcd"), None);
    }

    #[test]
    fn trusted_key_files_are_read_or_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let k = PackKey::load_or_create(&dir.path().join("k")).unwrap();
        let good = dir.path().join("council.pub");
        fs::write(
            &good,
            format!("# Anytown\n\n{}\n", k.public_hex().to_uppercase()),
        )
        .unwrap();
        assert_eq!(read_public_key_file(&good).unwrap(), k.public_hex());
        let bad = dir.path().join("bad.pub");
        fs::write(&bad, "not a key\n").unwrap();
        let err = read_public_key_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.pub") && err.contains("64 hex"), "{err}");
        let err = read_public_key_file(&dir.path().join("none.pub"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.pub"), "{err}");
    }

    #[test]
    fn malformed_signatures_are_reported_not_panicked_on() {
        assert_eq!(verify_hex("zz", b"m", "00"), Err(SignatureError::KeyNotHex));
        let dir = tempfile::tempdir().unwrap();
        let k = PackKey::load_or_create(&dir.path().join("k")).unwrap();
        assert!(verify_hex(&k.public_hex(), b"m", "00")
            .unwrap_err()
            .to_string()
            .contains("128 hex"));
    }
}
