//! `manifest.json`: what a pack holds and why, signed by `manifest.sig`.

use ballotwatch_core::{ClassifyResult, Incident, Item};
use ballotwatch_store::IncidentChange;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `schema` of every manifest.
pub const SCHEMA: &str = "ballotwatch.evidence-pack";
/// The manifest schema version this build writes and verifies.
pub const SCHEMA_VERSION: u32 = 1;

/// File names with a fixed meaning in a pack.
pub mod names {
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// Ed25519 signature (hex) over the exact bytes of `manifest.json`.
    pub const SIGNATURE: &str = "manifest.sig";
    /// `sha256sum -c` list of every other file.
    pub const SUMS: &str = "SHA256SUMS";
    /// The HTTP exchanges as WARC 1.1.
    pub const WARC: &str = "captures.warc.gz";
    /// The report for the Returning Officer.
    pub const REPORT_HTML: &str = "report.html";
    /// The report as PDF.
    pub const REPORT_PDF: &str = "report.pdf";
    /// The public key (hex) that checks `manifest.sig`.
    pub const PUBLIC_KEY: &str = "signing-key.pub";
    /// Who sent each exported item in as a report (only with `export --include-reporters`).
    pub const REPORTERS: &str = "reporters.json";
    /// The chain of custody: the audit log's entries about the exported incidents and items.
    pub const CUSTODY: &str = "custody.json";
    /// The captures as WACZ 1.1.1, for replay in ReplayWeb.page.
    pub const WACZ: &str = "archive.wacz";
    /// The capture-log segment covering the exported items, with its timestamp tokens' records.
    pub const CHAIN: &str = "timestamps/chain.json";
    /// The folder of the trusted-timestamp proof: the chain, the tokens and the TSA roots.
    pub const TIMESTAMPS_DIR: &str = "timestamps/";

    /// A timestamp token, verbatim in a DER `TimeStampResp`.
    pub fn token(id: i64) -> String {
        format!("timestamps/token-{id}.tsr")
    }

    /// A copy of the `n`th configured TSA root certificate file (PEM), from 1.
    pub fn root(n: usize) -> String {
        format!("timestamps/roots/{n}.pem")
    }
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The software that wrote the pack.
    pub tool: Tool,
    /// When the pack was written (UTC).
    pub exported_at: DateTime<Utc>,
    /// Who exported it.
    pub exported_by: String,
    /// What was asked for.
    pub request: PackRequestRecord,
    /// The key that signed this manifest.
    pub public_key: PublicKey,
    /// The incidents, with their history.
    pub incidents: Vec<IncidentEntry>,
    /// Every item, with its verdicts, captures and screenshots.
    pub items: Vec<ItemEntry>,
    /// Every HTTP capture (shared by the items read from it).
    pub captures: Vec<CaptureEntry>,
    /// The detectors of this deployment at export time, with versions and model hashes.
    pub detectors: Vec<DetectorInfo>,
    /// About `captures.warc.gz`.
    pub warc: WarcInfo,
    /// About the report files.
    pub report: ReportInfo,
    /// The trusted-timestamp proof in `timestamps/`; absent when the pack has none (no TSA
    /// configured when it was exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamps: Option<TimestampsInfo>,
    /// `reporters.json` (who sent each exported item in as a report) when the export asked for
    /// reporters (`export --include-reporters`); absent otherwise, when who reported the items
    /// is left out of the pack as personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporters: Option<String>,
    /// Every file of the pack except `manifest.json`, `manifest.sig` and `SHA256SUMS`.
    pub files: Vec<FileEntry>,
}

/// The software that wrote a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `ballotwatch`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// What the exporter asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackRequestRecord {
    /// `--incident` ids.
    pub incidents: Vec<i64>,
    /// `--item` ids.
    pub items: Vec<String>,
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    /// `ed25519`.
    pub algorithm: String,
    /// The key, 64 hex digits.
    pub hex: String,
    /// The file in the pack holding it.
    pub file: String,
}

/// An incident in a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentEntry {
    /// The incident as stored.
    pub incident: Incident,
    /// Its history, oldest first.
    pub history: Vec<IncidentChange>,
    /// Its items, in the order they were added.
    pub item_ids: Vec<String>,
}

/// An item in a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemEntry {
    /// The item (latest version) exactly as stored.
    pub item: Item,
    /// Its classification: flagged, severity, verdicts with explanations and rebuttals.
    pub result: Option<ClassifyResult>,
    /// Ids (in [`Manifest::captures`]) of the captures every stored version was read from.
    pub capture_ids: Vec<i64>,
    /// Capture-time screenshots of its web page.
    pub screenshots: Vec<ScreenshotEntry>,
    /// Its media files in the pack (those captured).
    pub media: Vec<MediaEntry>,
    /// Its media that could not be captured, with the reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_not_captured: Vec<MediaFailure>,
    /// The capture-log entries (in `timestamps/chain.json`) that cover its captures; empty when
    /// the pack has no timestamps or its captures predate the capture log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture_log: Vec<CaptureLogRef>,
    /// Its captures left out of the pack because they name who reported it (a forwarded
    /// message's headers), with their hashes; `export --include-reporters` puts them in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldCapture>,
}

/// A capture of an item left out of a pack, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithheldCapture {
    /// The capture's id in the store.
    pub capture_id: i64,
    /// Where it was read from.
    pub url: String,
    /// Its content type.
    pub content_type: Option<String>,
    /// SHA-256 of its bytes (so a copy handed over later can be checked against the pack).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Why it is not in the pack.
    pub reason: String,
}

/// Which capture-log entries cover one capture of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureLogRef {
    /// The capture (in [`Manifest::captures`], or one of the item's `withheld` captures: then
    /// only its body's entry is named).
    pub capture_id: i64,
    /// The entry (`seq`) logging the SHA-256 of its body.
    pub body: i64,
    /// The entry logging the SHA-256 of its headers (their JSON as stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<i64>,
}

/// The pack's trusted-timestamp proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampsInfo {
    /// `timestamps/chain.json`: the capture-log segment and its tokens' records.
    pub chain: String,
    /// The tokens (`timestamps/token-<id>.tsr`), each a DER `TimeStampResp` holding the token
    /// exactly as the TSA sent it; empty when the segment's head is not timestamped yet.
    pub tokens: Vec<String>,
    /// Copies of the TSA root certificate files configured at export (`timestamps/roots/<n>.pem`).
    pub roots: Vec<String>,
}

/// One HTTP capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureEntry {
    /// Capture id in the store.
    pub id: i64,
    /// The source it was fetched for.
    pub source: String,
    /// URL requested.
    pub url: String,
    /// URL after redirects.
    pub final_url: String,
    /// HTTP status.
    pub status: u16,
    /// Response headers as received.
    pub headers: Vec<(String, String)>,
    /// SHA-256 of the body (as decoded from any content-encoding).
    pub sha256: String,
    /// Body size.
    pub size: u64,
    /// When the request started (UTC).
    pub started_at: DateTime<Utc>,
    /// When the body was complete (UTC).
    pub finished_at: DateTime<Utc>,
    /// The body in the pack.
    pub file: String,
    /// `WARC-Record-ID` of its request record.
    pub warc_request_id: String,
    /// `WARC-Record-ID` of its response record.
    pub warc_response_id: String,
}

/// A screenshot attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotEntry {
    /// The page.
    pub url: String,
    /// When it was taken (or attempted).
    pub attempted_at: DateTime<Utc>,
    /// The browser (`Chromium …`) or `none`.
    pub tool: String,
    /// `taken` or `not_taken`.
    pub status: String,
    /// Why not taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The PNG in the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub png: Option<String>,
    /// The rendered HTML in the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Pixel size (width, height).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_px: Option<(u32, u32)>,
    /// True when the page was cut at the height limit.
    #[serde(default)]
    pub truncated: bool,
}

/// A captured media file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaEntry {
    /// Where it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// The file in the pack.
    pub file: String,
    /// The type sniffed from the bytes when it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Id (in [`Manifest::captures`]) of the HTTP exchange that fetched it, when it was
    /// downloaded by Ballotwatch (not for frames taken from a video, nor local files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_id: Option<i64>,
    /// For a frame taken from a video: the index in the item's `media` of that video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_of: Option<usize>,
    /// For a frame taken from a video: its time in the video, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_time_ms: Option<u64>,
    /// A problem with it (for a video: why no frames were taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_error: Option<String>,
}

/// A medium of an item that could not be captured, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFailure {
    /// Where it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why it was not captured.
    pub reason: String,
}

/// A detector of the exporting deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorInfo {
    /// Name (as in verdicts).
    pub name: String,
    /// Version of its logic or model.
    pub version: String,
    /// SHA-256 of its model file, for model-backed detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// About the WARC file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarcInfo {
    /// `captures.warc.gz`.
    pub file: String,
    /// `WARC/1.1`.
    pub version: String,
    /// Number of records (one warcinfo, then a request and a response per capture).
    pub records: usize,
    /// How the records were made.
    pub notes: Vec<String>,
}

/// About the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInfo {
    /// `report.html`.
    pub html: String,
    /// `report.pdf`, when it could be rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    /// Why there is no PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_not_rendered: Option<String>,
}

/// One file of the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the ZIP.
    pub path: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A pack's `SHA256SUMS`: every file `manifest` lists, plus `manifest.json` itself
/// (`manifest_bytes`) and its signature file (`sig`). What export writes and verify expects.
pub fn pack_sums(manifest: &Manifest, manifest_bytes: &[u8], sig: &str) -> String {
    let manifest_sha = ballotwatch_core::sha256_hex(manifest_bytes);
    let sig_sha = ballotwatch_core::sha256_hex(sig.as_bytes());
    sha256sums(
        manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .chain([
                (names::MANIFEST, manifest_sha.as_str()),
                (names::SIGNATURE, sig_sha.as_str()),
            ]),
    )
}

/// The `SHA256SUMS` text for these (path, sha256) pairs: `sha256sum -c` format, sorted by path.
pub fn sha256sums<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines: Vec<(&str, &str)> = entries.into_iter().collect();
    lines.sort();
    lines
        .into_iter()
        .map(|(path, sha)| format!("{sha}  {path}\n"))
        .collect()
}
