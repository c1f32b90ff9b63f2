//! Reading C2PA manifests (Content Credentials) with the `c2pa` crate: the digital source type
//! each manifest's actions declare, the claim generator, the signer and whether the signature and
//! content hashes validate. Nothing is fetched: remote manifests and OCSP are not consulted (the
//! crate is built without HTTP), and no trust list is configured, so a valid signature is
//! reported as "signer not on a trust list" unless the crate itself says it is trusted.

use std::io::Cursor;

use c2pa::{Reader, ValidationState};

/// What one picture's C2PA manifest store says.
#[derive(Debug, Clone, PartialEq)]
pub struct C2paFindings {
    /// The claim generator of the active manifest (`name version`), e.g. `Adobe Firefly 3.1`.
    pub generator: Option<String>,
    /// The signer's common name (or issuer organisation when there is no CN).
    pub signer: Option<String>,
    /// The certificate issuer.
    pub issuer: Option<String>,
    /// When it was signed, as the manifest states.
    pub signed_at: Option<String>,
    /// `trusted`, `valid` (signature and hashes check out, signer not on a trust list) or
    /// `invalid`.
    pub validation: &'static str,
    /// Failure codes from validation, e.g. `assertion.dataHash.mismatch`.
    pub failures: Vec<String>,
    /// Every digital source type declared, with the action and whether it is in the active
    /// manifest (`true`) or an ingredient's (`false`). Terms only (prefix stripped).
    pub source_types: Vec<SourceType>,
}

/// One `digitalSourceType` declared by an action.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceType {
    /// The IPTC term, e.g. `trainedAlgorithmicMedia`.
    pub term: String,
    /// The action declaring it, e.g. `c2pa.created`.
    pub action: String,
    /// Declared by the active manifest (not by an ingredient's).
    pub active: bool,
}

/// The MIME type of a file from its first bytes, for formats the C2PA reader handles here.
pub fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else {
        None
    }
}

/// Reads the C2PA manifest store embedded in `bytes`. `Ok(None)` when there is none (the usual
/// case); `Err` with the reader's error when one is present but cannot be parsed at all.
pub fn read(bytes: &[u8]) -> Result<Option<C2paFindings>, c2pa::Error> {
    let Some(mime) = sniff_mime(bytes) else {
        return Ok(None);
    };
    // Cheap pre-check: every embedded manifest store is a JUMBF box labelled `c2pa`.
    if !bytes.windows(4).any(|w| w == b"c2pa") {
        return Ok(None);
    }
    // A fresh context each time: default settings (trust not verified against any list), and no
    // thread-local state shared with other callers.
    let reader = match Reader::from_context(c2pa::Context::new())
        .with_stream(mime, Cursor::new(bytes))
    {
        Ok(r) => r,
        Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(active) = reader.active_manifest() else {
        return Ok(None);
    };
    let generator = active
        .claim_generator_info
        .as_ref()
        .and_then(|infos| infos.first())
        .map(|g| match &g.version {
            Some(v) => format!("{} {v}", g.name),
            None => g.name.clone(),
        })
        .or_else(|| active.claim_generator().map(str::to_string));
    let sig = active.signature_info();
    let active_label = reader.active_label().map(str::to_string);
    let mut source_types = Vec::new();
    // Active manifest first, then the others (ingredients' histories).
    let mut manifests: Vec<_> = reader.iter_manifests().collect();
    manifests.sort_by_key(|m| m.label() != active_label.as_deref());
    for m in manifests {
        let is_active = m.label() == active_label.as_deref();
        for a in m.assertions() {
            if !a.label().starts_with("c2pa.actions") {
                continue;
            }
            let Ok(value) = a.value() else { continue };
            let Some(actions) = value.get("actions").and_then(|v| v.as_array()) else {
                continue;
            };
            for action in actions {
                if let Some(dst) = action.get("digitalSourceType").and_then(|v| v.as_str()) {
                    source_types.push(SourceType {
                        term: dst
                            .strip_prefix(super::metadata::IPTC_DST)
                            .unwrap_or(dst)
                            .to_string(),
                        action: action
                            .get("action")
                            .and_then(|v| v.as_str())
                            .unwrap_or("unnamed action")
                            .to_string(),
                        active: is_active,
                    });
                }
            }
        }
    }
    let validation = match reader.validation_state() {
        ValidationState::Trusted => "trusted",
        ValidationState::Valid => "valid",
        _ => "invalid",
    };
    let failures = reader
        .validation_status()
        .unwrap_or_default()
        .iter()
        .map(|s| s.code().to_string())
        .filter(|c| c != c2pa::validation_status::SIGNING_CREDENTIAL_UNTRUSTED)
        .collect();
    Ok(Some(C2paFindings {
        generator,
        signer: sig.and_then(|s| s.common_name.clone().or_else(|| s.issuer.clone())),
        issuer: sig.and_then(|s| s.issuer.clone()),
        signed_at: sig.and_then(|s| s.time.clone()),
        validation,
        failures,
        source_types,
    }))
}

#[cfg(test)]
mod deep_tests {
    use super::*;

    /// A PNG whose `caBX` chunk (where C2PA keeps its manifest store in PNGs) holds `depth`
    /// JUMBF superboxes, each inside the one before, every one labelled `c2pa`.
    fn png_with_nested_jumbf(depth: usize) -> Vec<u8> {
        let jumd = |label: &str| {
            let mut d = Vec::new();
            let len = 8 + 16 + 1 + label.len() + 1;
            d.extend_from_slice(&(len as u32).to_be_bytes());
            d.extend_from_slice(b"jumd");
            d.extend_from_slice(b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71");
            d.push(0x03);
            d.extend_from_slice(label.as_bytes());
            d.push(0);
            d
        };
        // Written outermost first: each box is its header, its description and the rest.
        let desc = jumd("c2pa");
        let per_level = 8 + desc.len();
        let mut inner: Vec<u8> = Vec::with_capacity(per_level * depth);
        for level in 0..depth {
            let len = per_level * (depth - level);
            inner.extend_from_slice(&(len as u32).to_be_bytes());
            inner.extend_from_slice(b"jumb");
            inner.extend_from_slice(&desc);
        }
        let chunk = |name: &[u8], data: &[u8]| {
            let mut c = Vec::new();
            c.extend_from_slice(&(data.len() as u32).to_be_bytes());
            c.extend_from_slice(name);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0; 4]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
        png.extend(chunk(b"caBX", &inner));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_manifest_store_nested_twenty_thousand_deep_is_an_error_not_a_crash() {
        // The c2pa crate bounds JUMBF nesting (and CBOR nesting and ingredient chains) itself;
        // this holds it to that on a tokio worker's 2 MiB stack.
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| read(&png_with_nested_jumbf(20_000)))
            .unwrap()
            .join()
            .unwrap();
        assert!(!matches!(result, Ok(Some(_))), "{result:?}");
    }
}
