//! One export, whoever asks for it (`ballotwatch export` or the web UI's button): take the
//! screenshots still missing, write the signed pack, and record the export in the audit log.
//! [`export_wacz`] writes the captures alone as a WACZ (`export --format wacz`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ballotwatch_store::PipelineStore;

use crate::chromium::ShotLimits;
use crate::pack::{build_wacz_at, write_file_atomically};
use crate::timestamp::{Timestamp, TimestampError, TsaClient, VerifiedTimestamp};
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
    /// Put the trusted-timestamp proof in packs (`[evidence] tsa_urls` is set).
    pub timestamps: bool,
    /// The TSAs (`[evidence] tsa_urls`), asked in turn for a token when `export` itself added
    /// to the capture log (a screenshot it had to take), each for at most
    /// [`EXPORT_TSA_TIMEOUT`].
    pub tsa_urls: Vec<String>,
    /// The TSA root certificate files (`[evidence] tsa_roots`), copied into packs.
    pub tsa_roots: Vec<PathBuf>,
    /// Where the web server writes a pack before sending it (the node's data folder: a pack
    /// with video can be large for a temporary-files folder in memory).
    pub work_dir: PathBuf,
}

/// How long `export` waits for each TSA when it timestamps what it added to the capture log
/// itself (the pipeline's timestamp task, which never holds anyone up, waits longer).
pub const EXPORT_TSA_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Put who reported the items in the pack (`export --include-reporters`).
    pub include_reporters: bool,
}

/// The pack writer's request for a job.
fn pack_request(settings: &ExportSettings, job: &ExportJob<'_>) -> PackRequest {
    PackRequest {
        incidents: job.incidents.to_vec(),
        items: job.items.to_vec(),
        actor: job.actor.to_string(),
        include_reporters: job.include_reporters,
        tool_version: settings.tool_version.clone(),
        user_agent: settings.user_agent.clone(),
        detectors: settings.detectors.clone(),
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
    store: &dyn PipelineStore,
    settings: &ExportSettings,
    job: &ExportJob<'_>,
    out: &Path,
) -> Result<PackSummary> {
    let head_before = if settings.timestamps {
        store.capture_log_head()?.map(|e| e.seq)
    } else {
        None
    };
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
    let timestamp_note = if settings.timestamps {
        stamp_new_entries(store, settings, head_before)?
    } else {
        None
    };
    let key = PackKey::load_or_create(&settings.key_file)?;
    let request = pack_request(settings, job);
    let mut summary = crate::write_pack(store, &key, &request, out)?;
    summary.timestamp_note = timestamp_note;
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

/// When entries joined the capture log since `before` (the head's `seq` when the export
/// started; a screenshot the export took, or a capture `serve` logged meanwhile) and the head
/// has no token, asks the TSAs for one now ([`EXPORT_TSA_TIMEOUT`] each), so the pack states a
/// trusted time for them too; the token is verified against `tsa_roots` and recorded like the
/// timestamp task's. Returns what happened in words (for the exporter), `None` when nothing new
/// was logged. No TSA answering is not an error: the pack then says which files are covered
/// only by the council's signature.
fn stamp_new_entries(
    store: &dyn PipelineStore,
    settings: &ExportSettings,
    before: Option<i64>,
) -> Result<Option<String>> {
    let Some(head) = store.untimestamped_heads(1)?.into_iter().next() else {
        return Ok(None);
    };
    if before.is_some_and(|b| head.seq <= b) {
        return Ok(None);
    }
    let added = head.seq - before.unwrap_or(0);
    let Some(sha) = head.head_bytes() else {
        return Err(crate::EvidenceError::InvalidRequest(format!(
            "capture log entry {} has head `{}`, not a SHA-256",
            head.seq, head.head
        )));
    };
    let _span = tracing::info_span!("export_timestamp", seq = head.seq, added).entered();
    match request_now(&settings.tsa_urls, &settings.tsa_roots, sha) {
        Ok((stamp, verified)) => {
            store.record_timestamp_token(&ballotwatch_store::NewTimestampToken {
                seq: head.seq,
                head: head.head.clone(),
                tsa_url: stamp.url.clone(),
                token: stamp.token,
                gen_time: verified.gen_time,
                requested_at: stamp.requested_at,
            })?;
            tracing::info!(tsa = %verified.tsa_name, gen_time = %verified.gen_time, "timestamped the capture log entries added during export");
            Ok(Some(format!(
                "timestamped the {added} capture log entr{} added during the export (up to entry \
                 {}): TSA {}, {}",
                if added == 1 { "y" } else { "ies" },
                head.seq,
                verified.tsa_name,
                verified
                    .gen_time
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )))
        }
        Err(why) => {
            tracing::warn!(%why, "no TSA timestamped the capture log entries added during export");
            Ok(Some(format!(
                "no TSA timestamped the {added} capture log entr{} added during the export (up to \
                 entry {}), so what they log is covered only by the council's signature (verify \
                 names the files): {why}",
                if added == 1 { "y" } else { "ies" },
                head.seq
            )))
        }
    }
}

/// A verified token for `sha256` from the first of `urls` that gives one, asked from a thread
/// of its own (with its own runtime, so it works whether or not the caller is inside one).
fn request_now(
    urls: &[String],
    roots: &[PathBuf],
    sha256: [u8; 32],
) -> std::result::Result<(Timestamp, VerifiedTimestamp), TimestampError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| TimestampError::Client(e.to_string()))?;
                rt.block_on(async {
                    TsaClient::new(urls, roots)?
                        .with_timeout(EXPORT_TSA_TIMEOUT)
                        .stamp(&sha256)
                        .await
                })
            })
            .join()
            .unwrap_or_else(|_| {
                Err(TimestampError::Client(
                    "the thread asking the TSAs stopped unexpectedly".into(),
                ))
            })
    })
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
    store: &dyn PipelineStore,
    settings: &ExportSettings,
    job: &ExportJob<'_>,
    out: &Path,
) -> Result<WaczExport> {
    let request = pack_request(settings, job);
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
