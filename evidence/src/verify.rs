//! `verify`: checks a pack's signature, every hash, that every file is listed and nothing
//! unlisted was added, and that the WARC records match the listed captures. The first problem
//! found is reported, naming the file.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use ballotwatch_core::sha256_hex;

use crate::manifest::{names, sha256sums, Manifest, SCHEMA, SCHEMA_VERSION};
use crate::{key, warc};

/// Largest total of uncompressed bytes `verify` reads from a pack (a guard against ZIP bombs).
pub const MAX_UNPACKED: u64 = 8 * 1024 * 1024 * 1024;

/// What a good pack holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// Number of files checked.
    pub files: usize,
}

/// The first problem found in a pack: the file it is in, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file inside the pack (or the pack itself).
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for Problem {}

fn problem(file: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Reads every entry of a ZIP. A damaged entry (CRC or decompression error) is a problem
/// naming it; a name given twice is a problem too.
fn read_zip(bytes: &[u8], pack_name: &str) -> Result<BTreeMap<String, Vec<u8>>, Problem> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| problem(pack_name, format!("not a readable ZIP file: {e}")))?;
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| problem(pack_name, format!("ZIP entry {} is unreadable: {e}", i + 1)))?;
        let name = entry
            .name()
            .map_err(|e| {
                problem(
                    pack_name,
                    format!("ZIP entry {} has an unreadable name: {e}", i + 1),
                )
            })?
            .into_owned();
        if entry.is_dir() {
            return Err(problem(
                &name,
                "a folder entry, which packs never contain (added after export)",
            ));
        }
        let mut buf = Vec::new();
        let room = MAX_UNPACKED.saturating_sub(total);
        (&mut entry)
            .take(room.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| problem(&name, format!("cannot be read from the ZIP (damaged): {e}")))?;
        total += buf.len() as u64;
        if total > MAX_UNPACKED {
            return Err(problem(
                &name,
                format!("the pack unpacks to more than {MAX_UNPACKED} bytes"),
            ));
        }
        if files.insert(name.clone(), buf).is_some() {
            return Err(problem(&name, "appears twice in the ZIP"));
        }
    }
    Ok(files)
}

/// Verifies the pack at `path`. `expected_key` (hex), when given, must be the key that signed
/// it. `Err(Problem)` names the first problem; an unreadable path is an `std::io::Error`.
pub fn verify_file(
    path: &Path,
    expected_key: Option<&str>,
) -> std::io::Result<Result<Verified, Problem>> {
    let bytes = std::fs::read(path)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(verify_bytes(&bytes, &name, expected_key))
}

/// Verifies a pack held in memory; `pack_name` names it in problems about the ZIP itself.
pub fn verify_bytes(
    bytes: &[u8],
    pack_name: &str,
    expected_key: Option<&str>,
) -> Result<Verified, Problem> {
    let files = read_zip(bytes, pack_name)?;
    verify_files(&files, expected_key)
}

/// Verifies a pack's files (path → bytes).
pub fn verify_files(
    files: &BTreeMap<String, Vec<u8>>,
    expected_key: Option<&str>,
) -> Result<Verified, Problem> {
    let get = |n: &str| {
        files
            .get(n)
            .ok_or_else(|| problem(n, "missing from the pack (removed after export)"))
    };
    let manifest_bytes = get(names::MANIFEST)?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes).map_err(|e| {
        problem(
            names::MANIFEST,
            format!("not a valid manifest (altered after export): {e}"),
        )
    })?;
    if manifest.schema != SCHEMA || manifest.schema_version != SCHEMA_VERSION {
        return Err(problem(
            names::MANIFEST,
            format!(
                "schema {} version {} is not one this Ballotwatch reads ({SCHEMA} version {SCHEMA_VERSION})",
                manifest.schema, manifest.schema_version
            ),
        ));
    }

    // The signature.
    let sig = get(names::SIGNATURE)?;
    let sig = std::str::from_utf8(sig)
        .map_err(|_| problem(names::SIGNATURE, "not text (altered after export)"))?;
    let canonical = sig.len() == 129
        && sig.ends_with('\n')
        && sig[..128]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !canonical {
        return Err(problem(
            names::SIGNATURE,
            "not the 128 lowercase hex digits and newline that export writes (altered after export)",
        ));
    }
    if let Some(k) = expected_key {
        if !k.trim().eq_ignore_ascii_case(&manifest.public_key.hex) {
            return Err(problem(
                names::MANIFEST,
                format!(
                    "signed with key {}, not the expected key {}",
                    manifest.public_key.hex,
                    k.trim()
                ),
            ));
        }
    }
    if let Err(why) = key::verify_hex(&manifest.public_key.hex, manifest_bytes, sig) {
        // Which of the two changed? SHA256SUMS (not signed, but written with them) usually
        // still holds the original hash of the one left alone.
        let sums = files
            .get(names::SUMS)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let listed =
            |name: &str, bytes: &[u8]| sums.contains(&format!("{}  {name}\n", sha256_hex(bytes)));
        let culprit = if listed(names::MANIFEST, manifest_bytes)
            && !listed(names::SIGNATURE, sig.as_bytes())
        {
            names::SIGNATURE
        } else {
            names::MANIFEST
        };
        return Err(problem(
            culprit,
            format!(
                "{why} (the signature in {} no longer matches {}: one of them was altered \
                 after export)",
                names::SIGNATURE,
                names::MANIFEST
            ),
        ));
    }
    // Listed files: present, same size and hash.
    for f in &manifest.files {
        let bytes = files.get(&f.path).ok_or_else(|| {
            problem(
                &f.path,
                "listed in the manifest but missing from the pack (removed after export)",
            )
        })?;
        let actual = sha256_hex(bytes);
        if actual != f.sha256 || bytes.len() as u64 != f.size {
            return Err(problem(
                &f.path,
                format!(
                    "altered: its SHA-256 is {actual} ({} bytes) but the manifest says {} ({} bytes)",
                    bytes.len(),
                    f.sha256,
                    f.size
                ),
            ));
        }
    }
    // Nothing unlisted.
    for name in files.keys() {
        let fixed = [names::MANIFEST, names::SIGNATURE, names::SUMS].contains(&name.as_str());
        if !fixed && !manifest.files.iter().any(|f| &f.path == name) {
            return Err(problem(
                name,
                "not listed in the manifest (added after export)",
            ));
        }
    }

    let pub_file = get(&manifest.public_key.file)?;
    if String::from_utf8_lossy(pub_file).trim() != manifest.public_key.hex {
        return Err(problem(
            &manifest.public_key.file,
            "does not hold the key named in the manifest",
        ));
    }

    // SHA256SUMS says the same as the manifest.
    let manifest_sha = sha256_hex(manifest_bytes);
    let sig_sha = sha256_hex(sig.as_bytes());
    let expected_sums = sha256sums(
        manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .chain([
                (names::MANIFEST, manifest_sha.as_str()),
                (names::SIGNATURE, sig_sha.as_str()),
            ]),
    );
    if get(names::SUMS)?.as_slice() != expected_sums.as_bytes() {
        return Err(problem(
            names::SUMS,
            "does not match the manifest (altered after export)",
        ));
    }

    // Captures: the body files and the WARC records.
    let file_sha: BTreeMap<&str, &str> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    for c in &manifest.captures {
        match file_sha.get(c.file.as_str()) {
            Some(sha) if *sha == c.sha256 => {}
            Some(sha) => {
                return Err(problem(
                    &c.file,
                    format!(
                        "holds bytes with SHA-256 {sha}, not those of capture {} ({})",
                        c.id, c.sha256
                    ),
                ))
            }
            None => {
                return Err(problem(
                    &c.file,
                    format!("the body of capture {} is not listed in the manifest", c.id),
                ))
            }
        }
    }
    let warc_bytes = get(&manifest.warc.file)?;
    let records = warc::read_all(warc_bytes).map_err(|e| problem(&manifest.warc.file, e))?;
    if records.len() != manifest.warc.records {
        return Err(problem(
            &manifest.warc.file,
            format!(
                "has {} records, the manifest says {}",
                records.len(),
                manifest.warc.records
            ),
        ));
    }
    let by_id: BTreeMap<&str, &warc::ReadRecord> = records
        .iter()
        .filter_map(|r| r.header("WARC-Record-ID").map(|id| (id, r)))
        .collect();
    for c in &manifest.captures {
        let resp = by_id.get(c.warc_response_id.as_str()).ok_or_else(|| {
            problem(
                &manifest.warc.file,
                format!("no response record for capture {} ({})", c.id, c.url),
            )
        })?;
        let ok = resp.header("WARC-Type") == Some("response")
            && resp.header("WARC-Target-URI") == Some(c.final_url.as_str())
            && resp.payload_sha256.as_deref() == Some(c.sha256.as_str());
        if !ok {
            return Err(problem(
                &manifest.warc.file,
                format!("the response record for capture {} does not match it (URI, type or payload digest)", c.id),
            ));
        }
        let req = by_id.get(c.warc_request_id.as_str()).ok_or_else(|| {
            problem(
                &manifest.warc.file,
                format!("no request record for capture {} ({})", c.id, c.url),
            )
        })?;
        if req.header("WARC-Type") != Some("request")
            || req.header("WARC-Concurrent-To") != Some(c.warc_response_id.as_str())
            || req.header("WARC-Target-URI") != Some(c.final_url.as_str())
        {
            return Err(problem(
                &manifest.warc.file,
                format!("the request record for capture {} does not match it", c.id),
            ));
        }
    }
    // Screenshots and media named by an item are in the pack.
    for item in &manifest.items {
        let named = item
            .screenshots
            .iter()
            .flat_map(|s| [s.png.as_deref(), s.html.as_deref()])
            .flatten()
            .chain(item.media.iter().map(|m| m.file.as_str()));
        for path in named {
            if !file_sha.contains_key(path) {
                return Err(problem(
                    path,
                    format!(
                        "named by item `{}` but not listed in the manifest",
                        item.item.id
                    ),
                ));
            }
        }
    }
    Ok(Verified {
        files: files.len(),
        manifest,
    })
}
