//! Trusted timestamps in a pack: what `export` puts under `timestamps/` and how `verify` checks
//! it offline.
//!
//! * `timestamps/chain.json` ([`ChainFile`]): the capture-log segment covering the exported
//!   items (every entry from their first to a timestamped head, other items' entries in
//!   between included because the links need them) and the records of the tokens for its head.
//! * `timestamps/token-<id>.tsr`: each token, exactly as the TSA sent it, in a DER
//!   `TimeStampResp` (what `openssl ts -verify -in` reads).
//! * `timestamps/roots/<n>.pem`: copies of the TSA root certificate files configured at export.
//!
//! The manifest's items name the entries logging their captures ([`CaptureLogRef`]). [`check`]
//! verifies, offline: each named entry logs that capture's body (and headers) SHA-256 for that
//! item; the chain re-links ([`ChainSegment::check`]); each token's CMS signature and
//! certificate chain verify against the roots ([`verify_token`]) for the chain's head.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ballotwatch_store::{
    logged_what, ChainError, ChainSegment, LogEntry, PipelineStore, TimestampTokenRecord,
};
use chrono::{DateTime, Utc};
use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::content_info::ContentInfo;
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_tsp::TimeStampResp;

use super::{parse_response, verify_token, RootCertificate, TimestampError, TrustRoots};
use crate::error::EvidenceError;
use crate::manifest::{names, CaptureEntry, CaptureLogRef, ItemEntry, Manifest, TimestampsInfo};
use crate::verify::Problem;

/// `schema` of `timestamps/chain.json`.
pub const CHAIN_SCHEMA: &str = "ballotwatch.capture-log-segment";

/// Largest token file `verify` reads (a TSA's whole answer is at most this).
pub const MAX_TOKEN_FILE: u64 = super::MAX_RESPONSE_SIZE as u64;
/// Largest root certificate file `verify` reads.
pub const MAX_ROOT_FILE: u64 = 1024 * 1024;

/// `timestamps/chain.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFile {
    /// Always [`CHAIN_SCHEMA`].
    pub schema: String,
    /// How each head is computed, in words (see `store/src/capture_log.rs`).
    pub head: String,
    /// Consecutive capture-log entries, oldest first.
    pub entries: Vec<LogEntry>,
    /// The tokens for the last entry's head; empty when it is not timestamped yet.
    pub tokens: Vec<TokenRecord>,
}

/// What the store recorded about a token (the token itself is in `file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// The token's id in the store.
    pub id: i64,
    /// The entry whose head it timestamps.
    pub seq: i64,
    /// That head (hex).
    pub head: String,
    /// The TSA asked.
    pub tsa_url: String,
    /// The TSA's time as the token states it.
    pub gen_time: DateTime<Utc>,
    /// When it was asked for (our clock).
    pub requested_at: DateTime<Utc>,
    /// The token in the pack.
    pub file: String,
}

/// How each head is computed, for `chain.json` readers.
const HEAD_RULE: &str = "head = SHA-256(prev_head (32 bytes) || seq (8 bytes big-endian) || \
    len(item_id) (4 bytes big-endian) || item_id (UTF-8) || len(what) (4 bytes big-endian) || \
    what (UTF-8) || sha256 (32 bytes)); the first entry's prev_head is 32 zero bytes";

/// What `export` adds for trusted timestamps.
#[derive(Debug, Default)]
pub struct PackTimestamps {
    /// The files under `timestamps/`, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The manifest's `timestamps`.
    pub info: Option<TimestampsInfo>,
    /// Per item id, the entries logging its captures.
    pub refs: BTreeMap<String, Vec<CaptureLogRef>>,
}

/// The SHA-256 (hex) the capture log records for a capture's headers: of their JSON, as the
/// store keeps them.
pub fn headers_sha256(headers: &[(String, String)]) -> String {
    let json = serde_json::to_string(headers).unwrap_or_default();
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// A token in a DER `TimeStampResp` with status granted, its bytes unchanged (checked by
/// reading them back).
pub fn token_response(token: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let malformed = |e: der::Error| TimestampError::MalformedToken(e.to_string());
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Accepted,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(ContentInfo::from_der(token).map_err(malformed)?),
    };
    let der = resp.to_der().map_err(malformed)?;
    if parse_response(&der)? != token {
        return Err(TimestampError::MalformedToken(
            "the token is not in DER and would change if wrapped".into(),
        ));
    }
    Ok(der)
}

/// Gathers the proof for a pack of `items` (with their `captures`): the capture-log segment
/// covering them, its head's tokens and copies of the `roots` files.
pub fn gather(
    store: &dyn PipelineStore,
    items: &[ItemEntry],
    captures: &[CaptureEntry],
    roots: &[PathBuf],
) -> Result<PackTimestamps, EvidenceError> {
    let ids: Vec<&str> = items.iter().map(|i| i.item.id.as_str()).collect();
    let segment = store.capture_log_segment(&ids)?;
    let mut files = BTreeMap::new();
    let mut tokens = Vec::new();
    for t in &segment.tokens {
        let file = names::token(t.id);
        files.insert(file.clone(), token_response(&t.token)?);
        tokens.push(TokenRecord {
            id: t.id,
            seq: t.seq,
            head: t.head.clone(),
            tsa_url: t.tsa_url.clone(),
            gen_time: t.gen_time,
            requested_at: t.requested_at,
            file,
        });
    }
    let mut root_files = Vec::new();
    for (i, path) in roots.iter().enumerate() {
        let bytes = std::fs::read(path)
            .map_err(|e| EvidenceError::io("read the TSA root certificate", path, e))?;
        let file = names::root(i + 1);
        files.insert(file.clone(), bytes);
        root_files.push(file);
    }
    let refs = capture_refs(&segment.entries, items, captures);
    let chain = ChainFile {
        schema: CHAIN_SCHEMA.into(),
        head: HEAD_RULE.into(),
        entries: segment.entries,
        tokens,
    };
    let bytes = serde_json::to_vec_pretty(&chain).map_err(|e| {
        EvidenceError::InvalidRequest(format!("cannot serialise {}: {e}", names::CHAIN))
    })?;
    files.insert(names::CHAIN.into(), bytes);
    tracing::debug!(
        entries = chain.entries.len(),
        tokens = chain.tokens.len(),
        "capture log segment for the pack"
    );
    Ok(PackTimestamps {
        info: Some(TimestampsInfo {
            chain: names::CHAIN.into(),
            tokens: chain.tokens.iter().map(|t| t.file.clone()).collect(),
            roots: root_files,
        }),
        files,
        refs,
    })
}

/// Per item, the entries logging each of its captures' body (and headers).
fn capture_refs(
    entries: &[LogEntry],
    items: &[ItemEntry],
    captures: &[CaptureEntry],
) -> BTreeMap<String, Vec<CaptureLogRef>> {
    let by_id: BTreeMap<i64, &CaptureEntry> = captures.iter().map(|c| (c.id, c)).collect();
    // The first entry logging each (item, what, sha256).
    let mut logged: BTreeMap<(&str, &str, String), i64> = BTreeMap::new();
    for e in entries {
        logged
            .entry((
                e.item_id.as_str(),
                e.what.as_str(),
                e.sha256.to_ascii_lowercase(),
            ))
            .or_insert(e.seq);
    }
    let find = |item: &str, what: &str, sha: &str| {
        logged.get(&(item, what, sha.to_ascii_lowercase())).copied()
    };
    let mut out = BTreeMap::new();
    for item in items {
        let id = item.item.id.as_str();
        let mut refs: Vec<CaptureLogRef> = item
            .capture_ids
            .iter()
            .filter_map(|cid| {
                let c = by_id.get(cid)?;
                Some(CaptureLogRef {
                    capture_id: *cid,
                    body: find(id, "body", &c.sha256)?,
                    headers: find(id, "headers", &headers_sha256(&c.headers)),
                })
            })
            .collect();
        // A capture withheld as personal data (a forwarded message naming its reporter) is
        // covered by its body's entry: the pack holds its SHA-256, not its headers.
        refs.extend(item.withheld.iter().filter_map(|w| {
            Some(CaptureLogRef {
                capture_id: w.capture_id,
                body: find(id, "body", &w.sha256)?,
                headers: None,
            })
        }));
        if !refs.is_empty() {
            out.insert(id.to_string(), refs);
        }
    }
    out
}

/// Where the TSA roots `verify` checked the tokens against came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootsUsed {
    /// The verifying deployment's `[evidence] tsa_roots`.
    Configured(Vec<RootCertificate>),
    /// The copies in the pack: they only prove something once a person has compared their
    /// fingerprints with the TSA's published certificate.
    Pack(Vec<(String, RootCertificate)>),
}

/// What the timestamps say about one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemStamp {
    /// Its logged captures existed no later than `gen_time`, attested by `tsa`.
    Captured {
        /// The TSA's time (the earliest of the head's tokens).
        gen_time: DateTime<Utc>,
        /// The TSA's name.
        tsa: String,
        /// Captures of the item logged in the chain.
        logged: usize,
        /// Captures of the item in the pack.
        captures: usize,
        /// What of the item was logged after the timestamped head (e.g. a screenshot `export`
        /// took itself when no TSA answered), in words naming the file and the entry: covered
        /// only by the council's signature.
        after: Vec<String>,
    },
    /// Its captures are in the chain, but no TSA has timestamped a head covering them: they
    /// are covered only by the council's signature.
    NotYetTimestamped,
    /// None of its captures is in the capture log (captured before the log was kept).
    NotLogged,
}

impl std::fmt::Display for ItemStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemStamp::Captured {
                gen_time,
                tsa,
                logged,
                captures,
                after,
            } => {
                write!(
                    f,
                    "captured no later than {} (TSA {tsa})",
                    gen_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )?;
                if logged < captures {
                    write!(
                        f,
                        "; {logged} of its {captures} captures are in the capture log, the \
                         others predate it"
                    )?;
                }
                if !after.is_empty() {
                    write!(
                        f,
                        "; NOT covered by that time, logged after the last trusted timestamp \
                         (no TSA answered), so covered only by the council's signature: {}",
                        after.join(", ")
                    )?;
                }
                Ok(())
            }
            ItemStamp::NotYetTimestamped => f.write_str(
                "not yet timestamped (its captures are in the capture log, but no TSA had \
                 timestamped the log when the pack was exported): covered only by the \
                 council's signature",
            ),
            ItemStamp::NotLogged => f.write_str(
                "no trusted timestamp: its captures are not in the capture log (they predate it)",
            ),
        }
    }
}

/// One token that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedToken {
    /// Its id.
    pub id: i64,
    /// Its file in the pack.
    pub file: String,
    /// What it proves.
    pub verified: super::VerifiedTimestamp,
}

/// What `verify` found in a pack's `timestamps/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampCheck {
    /// The roots the tokens were checked against.
    pub roots: RootsUsed,
    /// The chain's head (hex) and its `seq`, when the chain has entries.
    pub head: Option<(i64, String)>,
    /// Entries in the chain.
    pub entries: usize,
    /// The tokens, all verified.
    pub tokens: Vec<CheckedToken>,
    /// Per item (in manifest order), what the timestamps say.
    pub items: Vec<(String, ItemStamp)>,
    /// Media and screenshot files the chain does not log (item id, file, what): taken before
    /// the capture log covered them, so the timestamps say nothing about them.
    pub unlogged_files: Vec<(String, String, String)>,
}

fn problem(file: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Checks the pack's `timestamps/` offline. `files` holds the bytes of the files under
/// `timestamps/` (already checked against the signed manifest); `configured` the verifying
/// deployment's roots, else the pack's copies are used. `Ok(None)`: the pack has no timestamps.
pub fn check(
    manifest: &Manifest,
    files: &BTreeMap<String, Vec<u8>>,
    configured: Option<&TrustRoots>,
) -> Result<Option<TimestampCheck>, Problem> {
    let _span = tracing::info_span!("verify_timestamps").entered();
    let Some(info) = &manifest.timestamps else {
        if let Some(item) = manifest.items.iter().find(|i| !i.capture_log.is_empty()) {
            return Err(problem(
                names::MANIFEST,
                format!(
                    "item `{}` names capture-log entries, but the pack has no timestamps",
                    item.item.id
                ),
            ));
        }
        return Ok(None);
    };
    let file = |path: &str| {
        files.get(path).ok_or_else(|| {
            problem(
                path,
                "named by the manifest's timestamps but not in the pack",
            )
        })
    };
    let chain_path = info.chain.as_str();
    let chain: ChainFile = serde_json::from_slice(file(chain_path)?).map_err(|e| {
        problem(
            chain_path,
            format!("not a capture-log segment (altered after export): {e}"),
        )
    })?;
    if chain.schema != CHAIN_SCHEMA {
        return Err(problem(
            chain_path,
            format!("schema {} is not {CHAIN_SCHEMA}", chain.schema),
        ));
    }
    let mut listed: Vec<&str> = chain.tokens.iter().map(|t| t.file.as_str()).collect();
    let mut named: Vec<&str> = info.tokens.iter().map(String::as_str).collect();
    listed.sort_unstable();
    named.sort_unstable();
    if listed != named {
        return Err(problem(
            chain_path,
            "its token records do not name the token files the manifest lists",
        ));
    }

    // The chain re-links, and every token record is for its head.
    let segment = ChainSegment {
        entries: chain.entries.clone(),
        tokens: chain
            .tokens
            .iter()
            .map(|t| TimestampTokenRecord {
                id: t.id,
                seq: t.seq,
                head: t.head.clone(),
                tsa_url: t.tsa_url.clone(),
                token: Vec::new(),
                gen_time: t.gen_time,
                requested_at: t.requested_at,
            })
            .collect(),
    };
    let head = segment.check().map_err(|e| match e {
        ChainError::Entry {
            seq,
            item_id,
            problem: why,
        } => problem(
            chain_path,
            format!("chain broken at entry {seq} (item {item_id}): {why}"),
        ),
        ChainError::Token { id, seq } => problem(
            &chain
                .tokens
                .iter()
                .find(|t| t.id == id)
                .map_or_else(|| names::token(id), |t| t.file.clone()),
            format!("token {id} is not for the head of entry {seq} in the chain in the pack"),
        ),
    })?;
    let head = match (head, chain.entries.last()) {
        (Some(h), Some(last)) => Some((last.seq, h)),
        _ => None,
    };

    // Each item's captures are in the chain, for that item.
    let by_seq: BTreeMap<i64, &LogEntry> = chain.entries.iter().map(|e| (e.seq, e)).collect();
    let captures: BTreeMap<i64, &CaptureEntry> =
        manifest.captures.iter().map(|c| (c.id, c)).collect();
    for item in &manifest.items {
        let id = item.item.id.as_str();
        for r in &item.capture_log {
            let not_its = || {
                problem(
                    names::MANIFEST,
                    format!(
                        "item `{id}` names capture {} in its capture log, which is not one of \
                         its captures",
                        r.capture_id
                    ),
                )
            };
            // One of its captures in the pack (body and headers checked), or one withheld as
            // personal data (its body's SHA-256 is in the manifest; it has no headers here).
            let (body_sha, headers_sha) = match captures
                .get(&r.capture_id)
                .filter(|_| item.capture_ids.contains(&r.capture_id))
            {
                Some(capture) => (
                    capture.sha256.to_ascii_lowercase(),
                    Some(headers_sha256(&capture.headers)),
                ),
                None => {
                    let w = item
                        .withheld
                        .iter()
                        .find(|w| w.capture_id == r.capture_id)
                        .ok_or_else(not_its)?;
                    (w.sha256.to_ascii_lowercase(), None)
                }
            };
            let headers = match (r.headers, headers_sha) {
                (Some(seq), Some(sha)) => Some((seq, "headers", sha)),
                (None, _) => None,
                (Some(_), None) => return Err(not_its()),
            };
            let wanted = [Some((r.body, "body", body_sha)), headers];
            for (seq, what, sha) in wanted.into_iter().flatten() {
                let entry = by_seq.get(&seq).ok_or_else(|| {
                    problem(
                        chain_path,
                        format!(
                            "item `{id}`'s capture {} is logged at entry {seq}, which is not \
                             in the chain",
                            r.capture_id
                        ),
                    )
                })?;
                if entry.item_id != id || entry.what != what || entry.sha256 != sha {
                    return Err(problem(
                        chain_path,
                        format!(
                            "chain broken at entry {seq} (item {id}): it logs {} `{}` SHA-256 \
                             {}, but capture {}'s {what} in the pack has SHA-256 {sha}",
                            entry.item_id, entry.what, entry.sha256, r.capture_id
                        ),
                    ));
                }
            }
        }
    }

    // And the other way: every capture the chain logs for an exported item is in the pack (a
    // capture replaced, with the item's entries no longer named, still shows here).
    for item in &manifest.items {
        let id = item.item.id.as_str();
        let bodies: Vec<String> = item
            .capture_ids
            .iter()
            .filter_map(|c| captures.get(c))
            .map(|c| c.sha256.to_ascii_lowercase())
            // A capture withheld from the pack (it names the reporter) is listed with its hash.
            .chain(item.withheld.iter().map(|w| w.sha256.to_ascii_lowercase()))
            .collect();
        if let Some(e) = chain
            .entries
            .iter()
            .find(|e| e.item_id == id && e.what == "body" && !bodies.contains(&e.sha256))
        {
            return Err(problem(
                chain_path,
                format!(
                    "chain broken at entry {} (item {id}): it logs a capture of this item with \
                     SHA-256 {} that is not among the item's captures in the pack",
                    e.seq, e.sha256
                ),
            ));
        }
    }

    // Each item's media and screenshot files, by the SHA-256 the signed manifest gives them
    // (already checked against their bytes), against what the chain logs for the item.
    let unlogged_files = check_files(manifest, &chain.entries, chain_path)?;

    // The roots, then every token.
    let (roots, used) = match configured {
        Some(roots) => (roots.clone(), RootsUsed::Configured(roots.describe())),
        None => {
            let mut all = TrustRoots::default();
            let mut described = Vec::new();
            for path in &info.roots {
                let r = TrustRoots::from_pem(file(path)?, path)
                    .map_err(|e| problem(path, e.to_string()))?;
                described.extend(r.describe().into_iter().map(|d| (path.clone(), d)));
                all.add(r);
            }
            (all, RootsUsed::Pack(described))
        }
    };
    let mut tokens = Vec::new();
    if let Some(t) = chain.tokens.first() {
        if roots.is_empty() {
            return Err(problem(
                &t.file,
                "there is no TSA root certificate to check it against: the pack holds none; \
                 run verify with a config whose [evidence] tsa_roots names the TSA's root",
            ));
        }
    }
    for t in &chain.tokens {
        let token = parse_response(file(&t.file)?).map_err(|e| {
            problem(
                &t.file,
                format!("token {} is not a timestamp response: {e}", t.id),
            )
        })?;
        // The head of the entry it names (re-linked above: the record's head is that entry's).
        let head_bytes = by_seq
            .get(&t.seq)
            .and_then(|e| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(&e.head, &mut out).ok().map(|()| out)
            })
            .ok_or_else(|| problem(chain_path, "a token, but no chain head to timestamp"))?;
        let verified = verify_token(&token, &head_bytes, None, &roots).map_err(|e| match e {
            TimestampError::ImprintMismatch { .. } => problem(
                &t.file,
                format!(
                    "token {} for a different hash: it does not timestamp the chain's head at \
                     entry {}: {e}",
                    t.id, t.seq
                ),
            ),
            e => problem(&t.file, format!("token {}: {e}", t.id)),
        })?;
        if verified.gen_time != t.gen_time {
            return Err(problem(
                chain_path,
                format!(
                    "token {}'s record says {} but the token says {}",
                    t.id, t.gen_time, verified.gen_time
                ),
            ));
        }
        tokens.push(CheckedToken {
            id: t.id,
            file: t.file.clone(),
            verified,
        });
    }

    // Every token is for one entry (checked above): it covers the entries up to it.
    let earliest = tokens.iter().min_by_key(|t| t.verified.gen_time);
    let stamped_seq = chain.tokens.first().map(|t| t.seq);
    let sums: BTreeMap<&str, &str> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let items = manifest
        .items
        .iter()
        .map(|item| {
            let id = item.item.id.as_str();
            let mine: Vec<&LogEntry> = chain.entries.iter().filter(|e| e.item_id == id).collect();
            let after: Vec<&LogEntry> = mine
                .iter()
                .copied()
                .filter(|e| stamped_seq.is_none_or(|s| e.seq > s))
                .collect();
            let stamp = match (item.capture_log.is_empty(), earliest) {
                (true, _) => ItemStamp::NotLogged,
                (false, None) => ItemStamp::NotYetTimestamped,
                (false, Some(_)) if after.len() == mine.len() => ItemStamp::NotYetTimestamped,
                (false, Some(t)) => ItemStamp::Captured {
                    gen_time: t.verified.gen_time,
                    tsa: t.verified.tsa_name.clone(),
                    logged: item.capture_log.len(),
                    captures: item.capture_ids.len() + item.withheld.len(),
                    after: after.iter().map(|e| describe(item, e, &sums)).collect(),
                },
            };
            (id.to_string(), stamp)
        })
        .collect();
    Ok(Some(TimestampCheck {
        roots: used,
        head,
        entries: chain.entries.len(),
        tokens,
        items,
        unlogged_files,
    }))
}

/// An item's capture-log entry in words for `verify`: the file it logs (or what it is) and its
/// `seq`.
fn describe(item: &ItemEntry, e: &LogEntry, sums: &BTreeMap<&str, &str>) -> String {
    let file = item_files(item, sums)
        .into_iter()
        .find(|f| f.what == e.what && f.sha256 == e.sha256)
        .map(|f| f.file.to_string());
    match file {
        Some(file) => format!("its {} {file} (entry {})", e.what, e.seq),
        None => format!("its {} with SHA-256 {} (entry {})", e.what, e.sha256, e.seq),
    }
}

/// One media or screenshot file of an exported item: what the capture log calls it, its path
/// in the pack and its SHA-256 (hex, lower case).
struct ItemFile<'a> {
    what: &'static str,
    file: &'a str,
    sha256: String,
}

/// The media and screenshot files of an item, with their SHA-256 from the manifest's file list.
fn item_files<'a>(item: &'a ItemEntry, sums: &BTreeMap<&str, &str>) -> Vec<ItemFile<'a>> {
    let mut out = Vec::new();
    for m in &item.media {
        let what = if m.frame_of.is_some() {
            logged_what::FRAME
        } else {
            logged_what::MEDIA
        };
        out.push(ItemFile {
            what,
            file: &m.file,
            sha256: m.sha256.to_ascii_lowercase(),
        });
    }
    for s in &item.screenshots {
        for (what, file) in [
            (logged_what::SCREENSHOT, s.png.as_deref()),
            (logged_what::RENDERED_HTML, s.html.as_deref()),
        ] {
            if let Some(file) = file {
                out.push(ItemFile {
                    what,
                    file,
                    sha256: sums
                        .get(file)
                        .map(|s| s.to_ascii_lowercase())
                        .unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// Checks every media and screenshot file of every item against the chain: the chain must not
/// log a file of an exported item that the pack does not hold with the same bytes (a file
/// replaced after capture fails here, naming the item and the entry). Returns the files that
/// are not in the chain at all — taken before the capture log covered media and screenshots —
/// as (item id, file, what), for `verify` to say what the pack lacks.
fn check_files(
    manifest: &Manifest,
    entries: &[LogEntry],
    chain_path: &str,
) -> Result<Vec<(String, String, String)>, Problem> {
    const FILE_KINDS: [&str; 4] = [
        logged_what::MEDIA,
        logged_what::FRAME,
        logged_what::SCREENSHOT,
        logged_what::RENDERED_HTML,
    ];
    let sums: BTreeMap<&str, &str> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let mut unlogged = Vec::new();
    for item in &manifest.items {
        let id = item.item.id.as_str();
        let files = item_files(item, &sums);
        let logged: Vec<&LogEntry> = entries
            .iter()
            .filter(|e| e.item_id == id && FILE_KINDS.contains(&e.what.as_str()))
            .collect();
        for f in &files {
            if f.sha256.is_empty() {
                return Err(problem(
                    names::MANIFEST,
                    format!(
                        "item `{id}` names {} `{}`, which the manifest's file list does not hold",
                        f.what, f.file
                    ),
                ));
            }
            if !logged
                .iter()
                .any(|e| e.what == f.what && e.sha256 == f.sha256)
            {
                unlogged.push((id.to_string(), f.file.to_string(), f.what.to_string()));
            }
        }
        if let Some(e) = logged.iter().find(|e| {
            !files
                .iter()
                .any(|f| f.what == e.what && f.sha256 == e.sha256)
        }) {
            let same_kind: Vec<&str> = files
                .iter()
                .filter(|f| f.what == e.what)
                .map(|f| f.file)
                .collect();
            let held = if same_kind.is_empty() {
                format!("the pack holds no {} of this item", e.what)
            } else {
                format!(
                    "the pack's {} of this item ({}) has other bytes: it was replaced or edited \
                     after capture",
                    e.what,
                    same_kind.join(", ")
                )
            };
            return Err(problem(
                same_kind.first().copied().unwrap_or(chain_path),
                format!(
                    "item `{id}`: chain entry {} logs its {} with SHA-256 {}, but {held}",
                    e.seq, e.what, e.sha256
                ),
            ));
        }
    }
    Ok(unlogged)
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
