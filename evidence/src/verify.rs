//! `verify`: checks a pack's signature, every hash, that every file is listed and nothing
//! unlisted was added, that the WARC records match the listed captures, and the trusted
//! timestamps in `timestamps/` ([`crate::timestamp::pack::check`]). The first problem found is
//! reported, naming the file.
//!
//! A pack comes from outside, so `verify` streams it: the small files it must hold whole
//! (`manifest.json` up to [`MAX_MANIFEST`], `manifest.sig`, `SHA256SUMS`) are read first and the
//! signature is checked before any other file is read; every other file is hashed while it is
//! read and never held in memory; reading stops at the size the manifest lists, at
//! `[limits] verify_max_entries` files and at `[limits] verify_max_unpacked` bytes unpacked
//! (the ZIP's entries and the WARC's gzip members together). No size written in the pack (a ZIP
//! header, a WARC `Content-Length`) is trusted for an allocation.
//!
//! Who signed it: a pack is only as good as the key that signed it, and anyone can re-sign an
//! altered pack with a key of their own. [`VerifyOptions::trusted_keys`] (from `--public-key`
//! or `[evidence] trusted_keys`) are the keys the caller trusts: when given, a pack signed with
//! any other key is a [`Problem`]; when not, an intact pack is reported with
//! [`Signer::trusted`] false and the signer's [`fingerprint`](crate::key::fingerprint).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Seek};
use std::path::Path;

use ballotwatch_core::config::LimitsConfig;
use ballotwatch_core::sha256_hex;
use sha2::{Digest, Sha256};

use crate::manifest::{names, pack_sums, Manifest, SCHEMA, SCHEMA_VERSION};
use crate::timestamp::pack::{TimestampCheck, MAX_ROOT_FILE, MAX_TOKEN_FILE};
use crate::timestamp::TrustRoots;
use crate::{key, warc};

/// Largest `manifest.json` (and `SHA256SUMS`) `verify` reads: these two are held in memory.
/// A manifest of a thousand items with their captures is a few MiB.
pub const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// Largest `manifest.sig` read (export writes 129 bytes).
const MAX_SIGNATURE: u64 = 1024;

/// How much work one pack may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyLimits {
    /// Most files in the ZIP.
    pub max_entries: usize,
    /// Most bytes unpacked from it (ZIP entries and the WARC's gzip members together).
    pub max_unpacked: u64,
}

impl VerifyLimits {
    /// The `[limits]` table's `verify_max_entries` and `verify_max_unpacked`.
    pub fn from_config(limits: &LimitsConfig) -> VerifyLimits {
        VerifyLimits {
            max_entries: limits.verify_max_entries,
            max_unpacked: limits.verify_max_unpacked.as_u64(),
        }
    }
}

impl Default for VerifyLimits {
    fn default() -> Self {
        VerifyLimits::from_config(&LimitsConfig::default())
    }
}

/// What `verify` trusts and how much work it does.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Ed25519 public keys (64 hex digits) the caller trusts. Empty: the pack's own key is
    /// checked but not trusted.
    pub trusted_keys: Vec<String>,
    /// Ceilings.
    pub limits: VerifyLimits,
    /// The TSA root certificates the caller trusts (`[evidence] tsa_roots`). `None`: a pack's
    /// timestamp tokens are checked against the root copies in the pack, and
    /// [`TimestampCheck::roots`] says so.
    pub tsa_roots: Option<TrustRoots>,
}

impl VerifyOptions {
    /// Options trusting `keys` (none for "no trusted key") with the default limits.
    pub fn trusting<I, S>(keys: I) -> VerifyOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        VerifyOptions {
            trusted_keys: keys.into_iter().map(Into::into).collect(),
            limits: VerifyLimits::default(),
            tsa_roots: None,
        }
    }
}

/// The key that signed a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The Ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// Its fingerprint (SHA-256 of the raw key, hex; see [`key::fingerprint`]).
    pub fingerprint: String,
    /// Whether it is one of the trusted keys. `false` means the pack is intact as signed, but
    /// by a key nobody vouched for: it may have been altered and re-signed.
    pub trusted: bool,
}

/// What a good pack holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// Number of files checked.
    pub files: usize,
    /// Who signed it.
    pub signer: Signer,
    /// What its trusted timestamps prove, all checked; `None`: the pack has none.
    pub timestamps: Option<TimestampCheck>,
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

/// Verifies the pack at `path`, reading it as a stream. `Err(Problem)` names the first problem;
/// an unreadable path is an `std::io::Error`.
pub fn verify_file(
    path: &Path,
    options: &VerifyOptions,
) -> std::io::Result<Result<Verified, Problem>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("is a folder, not a pack"));
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(verify_reader(std::io::BufReader::new(file), &name, options))
}

/// Verifies a pack held in memory; `pack_name` names it in problems about the ZIP itself.
pub fn verify_bytes(
    bytes: &[u8],
    pack_name: &str,
    options: &VerifyOptions,
) -> Result<Verified, Problem> {
    verify_reader(std::io::Cursor::new(bytes), pack_name, options)
}

/// Verifies a pack's files (path → bytes), zipped as `export` would and checked as a ZIP.
pub fn verify_files(
    files: &BTreeMap<String, Vec<u8>>,
    options: &VerifyOptions,
) -> Result<Verified, Problem> {
    use std::io::Write;
    let zerr = |e: &dyn fmt::Display| problem("pack", format!("cannot be zipped: {e}"));
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(
            files
                .values()
                .any(|b| b.len() as u64 >= u64::from(u32::MAX)),
        );
    for (name, bytes) in files {
        zw.start_file(name.as_str(), opts).map_err(|e| zerr(&e))?;
        zw.write_all(bytes).map_err(|e| zerr(&e))?;
    }
    let bytes = zw.finish().map_err(|e| zerr(&e))?.into_inner();
    verify_bytes(&bytes, "pack", options)
}

/// The unpacked-bytes budget of one verification.
struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    fn exceeded(&self, file: &str) -> Problem {
        problem(
            file,
            format!(
                "the pack unpacks to more than {} bytes, the most verify reads \
                 ([limits] verify_max_unpacked); checking stopped here",
                self.limit
            ),
        )
    }

    /// Takes `n` bytes; `Err` when that is more than is left.
    fn take(&mut self, n: u64, file: &str) -> Result<(), Problem> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or_else(|| self.exceeded(file))?;
        Ok(())
    }
}

/// A reader that hashes and counts what passes through it, and keeps it when asked.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    count: u64,
    keep: Option<Vec<u8>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.hash.update(&buf[..k]);
        self.count += k as u64;
        if let Some(keep) = &mut self.keep {
            keep.extend_from_slice(&buf[..k]);
        }
        Ok(k)
    }
}

/// The most `verify` holds in memory of a file under `timestamps/`, which it reads whole.
fn timestamp_file_cap(name: &str) -> u64 {
    if name == names::CHAIN {
        MAX_MANIFEST
    } else if name.ends_with(".tsr") {
        MAX_TOKEN_FILE
    } else {
        MAX_ROOT_FILE
    }
}

fn damaged(name: &str, e: impl fmt::Display) -> Problem {
    problem(name, format!("cannot be read from the ZIP (damaged): {e}"))
}

fn zip_error(pack_name: &str, name: &str, e: zip::result::ZipError) -> Problem {
    match e {
        zip::result::ZipError::Io(e) => damaged(name, e),
        e => problem(
            pack_name,
            format!("the ZIP entry {name} is unreadable: {e}"),
        ),
    }
}

/// Reads a small entry whole, at most `cap` bytes; `None` when it is absent.
fn read_small<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    pack_name: &str,
    name: &str,
    cap: u64,
    budget: &mut Budget,
) -> Result<Option<Vec<u8>>, Problem> {
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(zip_error(pack_name, name, e)),
    };
    let room = cap.min(budget.left);
    let mut buf = Vec::new();
    entry
        .take(room.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| damaged(name, e))?;
    budget.take(buf.len() as u64, name)?;
    if buf.len() as u64 > cap {
        return Err(problem(
            name,
            format!("larger than {cap} bytes, more than verify reads for this file (altered after export)"),
        ));
    }
    Ok(Some(buf))
}

/// Verifies a pack read from `reader` (a file or bytes); `pack_name` names it in problems
/// about the ZIP itself.
pub fn verify_reader<R: Read + Seek>(
    reader: R,
    pack_name: &str,
    options: &VerifyOptions,
) -> Result<Verified, Problem> {
    let limits = options.limits;
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| problem(pack_name, format!("not a readable ZIP file: {e}")))?;
    if zip.len() > limits.max_entries {
        return Err(problem(
            pack_name,
            format!(
                "holds {} files, more than the {} verify reads ([limits] verify_max_entries)",
                zip.len(),
                limits.max_entries
            ),
        ));
    }
    if zip.has_duplicate_names() {
        return Err(problem(
            pack_name,
            "the ZIP lists a file name twice (a file added after export under a name it already holds)",
        ));
    }
    let mut entry_names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let name = zip
            .name_for_index(i)
            .ok_or_else(|| problem(pack_name, format!("ZIP entry {} is missing", i + 1)))?
            .map_err(|e| {
                problem(
                    pack_name,
                    format!("ZIP entry {} has an unreadable name: {e}", i + 1),
                )
            })?
            .into_owned();
        if name.ends_with('/') || name.ends_with('\\') {
            return Err(problem(
                &name,
                "a folder entry, which packs never contain (added after export)",
            ));
        }
        entry_names.push(name);
    }
    let mut budget = Budget {
        left: limits.max_unpacked,
        limit: limits.max_unpacked,
    };

    // The manifest and its signature, before anything else is read.
    let manifest_bytes = read_small(
        &mut zip,
        pack_name,
        names::MANIFEST,
        MAX_MANIFEST,
        &mut budget,
    )?
    .ok_or_else(|| {
        problem(
            names::MANIFEST,
            "missing from the pack (removed after export)",
        )
    })?;
    let sig = read_small(
        &mut zip,
        pack_name,
        names::SIGNATURE,
        MAX_SIGNATURE,
        &mut budget,
    )?
    .ok_or_else(|| {
        problem(
            names::SIGNATURE,
            "missing from the pack (removed after export)",
        )
    })?;
    let sig = String::from_utf8(sig)
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
    // With trusted keys, the signature is checked before the manifest is even parsed.
    let signed_by_trusted = options
        .trusted_keys
        .iter()
        .any(|k| key::verify_hex(k, &manifest_bytes, &sig).is_ok());
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
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
    let signer_hex = manifest.public_key.hex.trim().to_ascii_lowercase();
    let signer_fp = key::fingerprint(&signer_hex).unwrap_or_else(|| "unknown".into());
    let trusted = options
        .trusted_keys
        .iter()
        .any(|k| k.trim().eq_ignore_ascii_case(&signer_hex));
    if !options.trusted_keys.is_empty() && !signed_by_trusted && !trusted {
        let expected = match options.trusted_keys.as_slice() {
            [one] => format!("the expected key {}", one.trim()),
            many => format!("the expected key: none of the {} trusted keys", many.len()),
        };
        return Err(problem(
            names::MANIFEST,
            format!("signed with key {signer_hex} (fingerprint {signer_fp}), not {expected}"),
        ));
    }
    if let Err(why) = key::verify_hex(&signer_hex, &manifest_bytes, &sig) {
        // Which of the two changed? SHA256SUMS (not signed, but written with them) usually
        // still holds the original hash of the one left alone.
        let sums = read_small(&mut zip, pack_name, names::SUMS, MAX_MANIFEST, &mut budget)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let listed =
            |name: &str, bytes: &[u8]| sums.contains(&format!("{}  {name}\n", sha256_hex(bytes)));
        let culprit = if listed(names::MANIFEST, &manifest_bytes)
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
    let signer = Signer {
        public_key: signer_hex.clone(),
        fingerprint: signer_fp,
        trusted,
    };

    // What the signed manifest says must agree with itself.
    let listed: BTreeMap<&str, (&str, u64)> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), (f.sha256.as_str(), f.size)))
        .collect();
    let pub_file = manifest.public_key.file.as_str();
    match listed.get(pub_file) {
        None => {
            return Err(problem(
                pub_file,
                "the manifest's public key file is not listed in it",
            ))
        }
        Some((sha, _)) if *sha != sha256_hex(format!("{signer_hex}\n").as_bytes()) => {
            return Err(problem(
                pub_file,
                "does not hold the key named in the manifest",
            ))
        }
        Some(_) => {}
    }
    for c in &manifest.captures {
        match listed.get(c.file.as_str()) {
            Some((sha, _)) if *sha == c.sha256 => {}
            Some((sha, _)) => {
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
    for item in &manifest.items {
        let named = item
            .screenshots
            .iter()
            .flat_map(|s| [s.png.as_deref(), s.html.as_deref()])
            .flatten()
            .chain(item.media.iter().map(|m| m.file.as_str()));
        for path in named {
            if !listed.contains_key(path) {
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
    let warc_file = manifest.warc.file.as_str();
    if !listed.contains_key(warc_file) {
        return Err(problem(warc_file, "the WARC is not listed in the manifest"));
    }
    let expected_sums = pack_sums(&manifest, &manifest_bytes, &sig);

    // Every file, streamed and hashed, in the order the ZIP holds them.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut warc_check: Option<WarcCheck> = None;
    let mut stamp_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, name) in entry_names.iter().enumerate() {
        let name = name.as_str();
        if name == names::MANIFEST || name == names::SIGNATURE {
            continue;
        }
        if name == names::SUMS {
            let cap = expected_sums.len() as u64;
            let got = read_small(&mut zip, pack_name, names::SUMS, cap + 1, &mut budget)?
                .unwrap_or_default();
            if got != expected_sums.as_bytes() {
                return Err(problem(
                    names::SUMS,
                    "does not match the manifest (altered after export)",
                ));
            }
            continue;
        }
        let Some(&(sha, size)) = listed.get(name) else {
            return Err(problem(
                name,
                "not listed in the manifest (added after export)",
            ));
        };
        seen.insert(name);
        let entry = zip.by_index(i).map_err(|e| zip_error(pack_name, name, e))?;
        // Never more than the listed size (plus one byte, to see that it is longer) and never
        // more than the budget left.
        let room = size.min(budget.left);
        // The timestamp proof is checked after every hash: it is kept, within a cap.
        let keep = name.starts_with(names::TIMESTAMPS_DIR);
        if keep && size > timestamp_file_cap(name) {
            return Err(problem(
                name,
                format!(
                    "listed at {size} bytes, more than verify reads for this file ({})",
                    timestamp_file_cap(name)
                ),
            ));
        }
        let mut reader = Hashing {
            inner: entry.take(room.saturating_add(1)),
            hash: Sha256::new(),
            count: 0,
            keep: keep.then(Vec::new),
        };
        let mut warc_problem = None;
        if name == warc_file {
            match check_warc(&mut reader, &manifest, budget.left) {
                Ok(check) => {
                    budget.take(check.unpacked, name)?;
                    warc_check = Some(check);
                }
                Err(p) => warc_problem = Some(p),
            }
        }
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| damaged(name, e))?;
        budget.take(reader.count, name)?;
        let actual = hex::encode(reader.hash.finalize());
        if reader.count > size {
            return Err(problem(
                name,
                format!("altered: it holds more than the {size} bytes the manifest lists"),
            ));
        }
        if actual != sha || reader.count != size {
            return Err(problem(
                name,
                format!(
                    "altered: its SHA-256 is {actual} ({} bytes) but the manifest says {sha} ({size} bytes)",
                    reader.count
                ),
            ));
        }
        if let Some(p) = warc_problem {
            return Err(p);
        }
        if let Some(bytes) = reader.keep {
            stamp_files.insert(name.to_string(), bytes);
        }
    }
    if !entry_names.iter().any(|n| n == names::SUMS) {
        return Err(problem(
            names::SUMS,
            "missing from the pack (removed after export)",
        ));
    }
    if let Some(f) = manifest
        .files
        .iter()
        .find(|f| !seen.contains(f.path.as_str()))
    {
        return Err(problem(
            &f.path,
            "listed in the manifest but missing from the pack (removed after export)",
        ));
    }
    let warc_check = warc_check
        .ok_or_else(|| problem(warc_file, "missing from the pack (removed after export)"))?;
    warc_check.matches(&manifest)?;
    let timestamps =
        crate::timestamp::pack::check(&manifest, &stamp_files, options.tsa_roots.as_ref())?;
    Ok(Verified {
        files: entry_names.len(),
        manifest,
        signer,
        timestamps,
    })
}

/// What the WARC holds that the manifest's captures are checked against: the number of
/// records, and the records the captures name (only those are kept).
struct WarcCheck {
    records: u64,
    named: BTreeMap<String, warc::ReadRecord>,
    unpacked: u64,
}

fn check_warc(
    reader: &mut impl Read,
    manifest: &Manifest,
    max_unpacked: u64,
) -> Result<WarcCheck, Problem> {
    let file = manifest.warc.file.as_str();
    let wanted: BTreeSet<&str> = manifest
        .captures
        .iter()
        .flat_map(|c| [c.warc_request_id.as_str(), c.warc_response_id.as_str()])
        .collect();
    let mut r = warc::RecordReader::new(reader, max_unpacked)
        .map_err(|e| problem(file, format!("cannot be read: {e}")))?;
    let mut check = WarcCheck {
        records: 0,
        named: BTreeMap::new(),
        unpacked: 0,
    };
    while let Some(rec) = r.next_record().map_err(|e| problem(file, e.to_string()))? {
        check.records += 1;
        if let Some(id) = rec
            .header("WARC-Record-ID")
            .filter(|id| wanted.contains(id))
        {
            let id = id.to_string();
            check.named.entry(id).or_insert(rec);
        }
    }
    check.unpacked = r.unpacked();
    Ok(check)
}

impl WarcCheck {
    fn matches(&self, manifest: &Manifest) -> Result<(), Problem> {
        let file = manifest.warc.file.as_str();
        if self.records != manifest.warc.records as u64 {
            return Err(problem(
                file,
                format!(
                    "has {} records, the manifest says {}",
                    self.records, manifest.warc.records
                ),
            ));
        }
        for c in &manifest.captures {
            let resp = self.named.get(&c.warc_response_id).ok_or_else(|| {
                problem(
                    file,
                    format!("no response record for capture {} ({})", c.id, c.url),
                )
            })?;
            let ok = resp.header("WARC-Type") == Some("response")
                && resp.header("WARC-Target-URI") == Some(c.final_url.as_str())
                && resp.payload_sha256.as_deref() == Some(c.sha256.as_str());
            if !ok {
                return Err(problem(
                    file,
                    format!("the response record for capture {} does not match it (URI, type or payload digest)", c.id),
                ));
            }
            let req = self.named.get(&c.warc_request_id).ok_or_else(|| {
                problem(
                    file,
                    format!("no request record for capture {} ({})", c.id, c.url),
                )
            })?;
            if req.header("WARC-Type") != Some("request")
                || req.header("WARC-Concurrent-To") != Some(c.warc_response_id.as_str())
                || req.header("WARC-Target-URI") != Some(c.final_url.as_str())
            {
                return Err(problem(
                    file,
                    format!("the request record for capture {} does not match it", c.id),
                ));
            }
        }
        Ok(())
    }
}
