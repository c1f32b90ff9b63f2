//! # ballotwatch-evidence
//!
//! Evidence packs for the Returning Officer, and the capture-time evidence they show.
//!
//! * [`screenshot`]: for flagged items' web pages, a full-page screenshot and the rendered HTML
//!   taken with headless Chromium ([`chromium`]), stored in the capture store with their hashes;
//!   when Chromium is absent or fails, a record of why no screenshot was taken.
//! * [`pack`]: the pack writer. It reads the store (never changes it) and writes one ZIP:
//!   `manifest.json` (every file with SHA-256 and size; per item the source URL, capture times,
//!   HTTP status and headers, verdicts with explanations; detector versions and model SHA-256s;
//!   exporter, export time, tool version), `manifest.sig` (Ed25519, [`key`]), `SHA256SUMS`,
//!   the raw captures, screenshots and media, `captures.warc.gz` (WARC 1.1, [`warc`]),
//!   `archive.wacz` (the same WARC as WACZ 1.1.1 for replay, [`wacz`]), `custody.json` (the
//!   chain of custody from the audit log, [`custody`]), `report.html` ([`report`]),
//!   `report.pdf` and, with TSAs configured, `timestamps/` (the capture-log segment, its RFC 3161
//!   tokens and the TSA roots, [`timestamp::pack`]).
//! * [`export`]: one export for the CLI and the web UI alike — missing screenshots, the pack
//!   (or the WACZ alone, [`export_wacz`]), the audit log entry.
//! * [`verify`]: checks a pack and names the first problem; with timestamps, says per item
//!   when its captures existed at the latest, by the TSA's clock.
//! * [`timestamp`]: RFC 3161 trusted timestamps: asking a TSA, and checking its token offline
//!   against trusted roots.

#![warn(missing_docs)]

pub mod chromium;
pub mod config;
pub mod custody;
mod error;
pub mod export;
pub mod key;
pub mod manifest;
pub mod pack;
pub mod report;
pub mod screenshot;
pub mod thumbnail;
pub mod timestamp;
pub mod verify;
pub mod wacz;
pub mod warc;

#[cfg(test)]
mod tests;

pub use config::EvidenceConfig;
pub use custody::Custody;
pub use error::{EvidenceError, Result};
pub use export::{export, export_wacz, ExportJob, ExportSettings, WaczExport, EXPORT_TSA_TIMEOUT};
pub use key::{PackKey, SignatureError};
pub use manifest::{DetectorInfo, Manifest};
pub use pack::{write_pack, PackRequest, PackSummary, WaczSummary};
pub use screenshot::Screenshotter;
pub use verify::{
    verify_bytes, verify_file, verify_reader, Problem, Signer, Verified, VerifyLimits,
    VerifyOptions,
};
