//! One export, whoever asks for it (`ballotwatch export` or the web UI's button): take the
//! screenshots still missing, write the signed pack, and record the export in the audit log.
//! [`export_wacz`] writes the captures alone as a WACZ (`export --format wacz`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ballotwatch_store::Store;

use crate::chromium::{Chromium, ChromiumError, ShotLimits};
use crate::pack::{build_wacz_at, write_file_atomically};
use crate::{DetectorInfo, PackKey, PackRequest, PackSummary, Result, Screenshotter};

/// The deployment's facts an export needs, worked out once (at start-up for `serve`).
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// The Ed25519 signing key file (created at first export).
    pub key_file: PathBuf,
    /// Take missing screenshots of flagged pages before packing (`[evidence] screenshots`).
    pub screenshots: bool,
    /// Let Chromium reach private and loopback addresses (`[ingest] allow_private_addresses`).
    pub allow_private_addresses: bool,
    /// Limits of one screenshot.
    pub shot_limits: ShotLimits,
    /// Ballotwatch's version.
    pub tool_version: String,
    /// The User-Agent the fetcher sends (for the reconstructed WARC request records).
    pub user_agent: String,
    /// The deployment's detectors with versions and model hashes.
    pub detectors: Vec<DetectorInfo>,
    /// Wall-clock limit for printing a small pack's `report.pdf`.
    pub pdf_timeout: Duration,
    /// Put the trusted-timestamp proof in packs (`[evidence] tsa_urls` is set).
    pub timestamps: bool,
    /// The TSA root certificate files (`[evidence] tsa_roots`), copied into packs.
    pub tsa_roots: Vec<PathBuf>,
}

/// What to export and who asks.
#[derive(Debug, Clone, Copy)]
pub struct ExportJob<'a> {
    /// Incidents (with all their items).
    pub incidents: &'a [i64],
    /// Further items by id.
    pub items: &'a [String],
    /// Who is exporting, for the manifest and the audit log.
    pub actor: &'a str,
    /// Skip taking missing screenshots even when the settings allow it.
    pub skip_screenshots: bool,
}

/// The pack writer's request for a job.
fn pack_request(
    settings: &ExportSettings,
    job: &ExportJob<'_>,
    pdf: std::result::Result<Chromium, ChromiumError>,
) -> PackRequest {
    PackRequest {
        incidents: job.incidents.to_vec(),
        items: job.items.to_vec(),
        actor: job.actor.to_string(),
        tool_version: settings.tool_version.clone(),
        user_agent: settings.user_agent.clone(),
        detectors: settings.detectors.clone(),
        pdf,
        pdf_timeout: settings.pdf_timeout,
        timestamps: settings.timestamps,
        tsa_roots: settings.tsa_roots.clone(),
        report_image_width: Some(crate::thumbnail::REPORT_WIDTH),
    }
}

/// Takes missing screenshots, writes the pack to `out` and records `evidence.export` in the
/// audit log (who, incidents, items, file, pack SHA-256 and size, signing key).
///
/// An unknown incident or item is [`crate::EvidenceError::NotFound`]; an empty job is
/// [`crate::EvidenceError::InvalidRequest`]. A pack that was written but could not be audited is
/// an error too (the caller should not hand it out unrecorded).
pub fn export(
    store: &Store,
    settings: &ExportSettings,
    job: &ExportJob<'_>,
    out: &Path,
) -> Result<PackSummary> {
    if settings.screenshots && !job.skip_screenshots {
        let mut ids: Vec<String> = Vec::new();
        for &id in job.incidents {
            ids.extend(store.incident_item_ids(id)?);
        }
        ids.extend(job.items.iter().cloned());
        let items = store.get_items(&ids)?;
        let shotter = Screenshotter::new(settings.allow_private_addresses, settings.shot_limits);
        let n = shotter.ensure(store, &items)?;
        if n > 0 {
            tracing::info!(count = n, "took missing screenshots");
        }
    }
    let key = PackKey::load_or_create(&settings.key_file)?;
    let request = pack_request(settings, job, Chromium::find());
    let summary = crate::write_pack(store, &key, &request, out)?;
    store.audit(
        job.actor,
        "evidence.export",
        &serde_json::json!({
            "incidents": summary.incidents,
            "items": job.items,
            "item_count": summary.items,
            "format": "pack",
            "file": out.display().to_string(),
            "sha256": summary.sha256,
            "size": summary.size,
            "public_key": summary.public_key,
            "key_fingerprint": summary.key_fingerprint,
        }),
    )?;
    Ok(summary)
}

/// What [`export_wacz`] wrote.
#[derive(Debug, Clone)]
pub struct WaczExport {
    /// The WACZ file.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Incidents exported.
    pub incidents: Vec<i64>,
    /// Items exported.
    pub items: usize,
    /// HTTP captures in its WARC.
    pub captures: usize,
    /// Pages it lists.
    pub pages: usize,
}

/// Writes the captures of the job's incidents and items as a WACZ 1.1.1 file to `out` (the
/// same as the `archive.wacz` inside a pack; not signed, and no screenshots are taken: they
/// are not part of a WACZ) and records `evidence.export` with `"format": "wacz"` in the audit
/// log.
///
/// An unknown incident or item is [`crate::EvidenceError::NotFound`]; an empty job is
/// [`crate::EvidenceError::InvalidRequest`].
pub fn export_wacz(
    store: &Store,
    settings: &ExportSettings,
    job: &ExportJob<'_>,
    out: &Path,
) -> Result<WaczExport> {
    let request = pack_request(
        settings,
        job,
        Err(ChromiumError::Nothing("a WACZ holds no report")),
    );
    let w = build_wacz_at(store, &request, chrono::Utc::now())?;
    write_file_atomically(&w.bytes, out)?;
    let done = WaczExport {
        path: out.to_path_buf(),
        sha256: ballotwatch_core::sha256_hex(&w.bytes),
        size: w.bytes.len() as u64,
        incidents: w.incidents,
        items: w.items,
        captures: w.captures,
        pages: w.pages,
    };
    store.audit(
        job.actor,
        "evidence.export",
        &serde_json::json!({
            "format": "wacz",
            "incidents": done.incidents,
            "items": job.items,
            "item_count": done.items,
            "file": out.display().to_string(),
            "sha256": done.sha256,
            "size": done.size,
        }),
    )?;
    Ok(done)
}
