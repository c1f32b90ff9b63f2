//! Writing a pack: gathers incidents, items, captures and screenshots from the store (reading
//! only), builds the WARC, report, manifest, signature and `SHA256SUMS`, and writes the ZIP
//! atomically (a temp file renamed into place, so a failed export never leaves half a pack).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ballotwatch_core::sha256_hex;
use ballotwatch_store::{PipelineStore, ScreenshotOutcome};
use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::custody::Custody;
use crate::error::{EvidenceError, Result};
use crate::key::PackKey;
use crate::manifest::{
    names, pack_sums, CaptureEntry, DetectorInfo, FileEntry, IncidentEntry, ItemEntry, Manifest,
    MediaEntry, MediaFailure, PackRequestRecord, PublicKey, ReportInfo, ScreenshotEntry, Tool,
    WarcInfo, WithheldCapture, SCHEMA, SCHEMA_VERSION,
};
use crate::{timestamp, warc};

mod wacz_pack;
mod zip_file;
use wacz_pack::wacz_of;
pub use wacz_pack::{build_wacz_at, WaczSummary};
pub use zip_file::write_zip;
pub(crate) use zip_file::{add_entries, write_file_atomically, zip_stamp};

/// What to export, and the facts about this deployment the pack records.
#[derive(Debug, Clone)]
pub struct PackRequest {
    /// Incidents to export (with all their items).
    pub incidents: Vec<i64>,
    /// Further items to export by id.
    pub items: Vec<String>,
    /// Who is exporting.
    pub actor: String,
    /// Ballotwatch's version.
    pub tool_version: String,
    /// The User-Agent the fetcher sends (for the reconstructed WARC request records).
    pub user_agent: String,
    /// The deployment's detectors at export time.
    pub detectors: Vec<DetectorInfo>,
    /// Put the trusted-timestamp proof in the pack (`timestamps/`): the deployment has TSAs
    /// (`[evidence] tsa_urls`).
    pub timestamps: bool,
    /// The TSA root certificate files (`[evidence] tsa_roots`), copied into the pack and used to
    /// check its tokens for the report.
    pub tsa_roots: Vec<PathBuf>,
    /// The widest (px) a screenshot is shown in `report.html` and `report.pdf`: wider ones are
    /// shown as a JPEG thumbnail ([`crate::thumbnail::REPORT_WIDTH`] is the default), the
    /// full-size PNG staying in the pack. `None`: shown at full size.
    pub report_image_width: Option<u32>,
    /// Put who reported the items in the pack (`reporters.json`, and the forwarded messages,
    /// whose headers name their senders); off by default: they are personal data.
    pub include_reporters: bool,
}

/// Why a forwarded message is not in a pack exported without reporters.
pub const WITHHELD_REASON: &str = "the forwarded message names who reported it (personal data); \
     its attachments are in the pack as media, and `export --include-reporters` puts the \
     message in";

/// Whether a capture is a mail message (the report inbox's), whose headers name its sender.
fn names_reporter(headers: &[(String, String)]) -> bool {
    header(headers, "content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("message/rfc822")
    })
}

/// What was written.
#[derive(Debug, Clone)]
pub struct PackSummary {
    /// The pack.
    pub path: PathBuf,
    /// SHA-256 of the ZIP file.
    pub sha256: String,
    /// Size of the ZIP file.
    pub size: u64,
    /// Files inside it.
    pub files: usize,
    /// Incidents exported.
    pub incidents: Vec<i64>,
    /// Items exported.
    pub items: usize,
    /// HTTP captures included.
    pub captures: usize,
    /// Public key that signed it.
    pub public_key: String,
    /// Its fingerprint ([`crate::key::fingerprint`]), what `verify` names the signer by.
    pub key_fingerprint: String,
    /// Why there is no `report.pdf`, if there is none.
    pub pdf_not_rendered: Option<String>,
    /// What `export` did about trusted timestamps for the capture log entries it added itself
    /// (a screenshot it took), in words; `None` when it added none.
    pub timestamp_note: Option<String>,
}

/// The pack's content before it is zipped: the manifest and every file's bytes.
#[derive(Debug)]
pub struct PackContent {
    /// The signed manifest.
    pub manifest: Manifest,
    /// Every file, by path, including `manifest.json`, `manifest.sig` and `SHA256SUMS`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// How long each phase of [`build`] took, in order (for benchmarks and the debug log).
    pub timings: Vec<(&'static str, Duration)>,
}

/// Times the phases of a pack build.
struct Phases {
    last: std::time::Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new() -> Phases {
        Phases {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    /// Ends the phase `name` (started when the previous one ended).
    fn end(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        let took = now.duration_since(self.last);
        tracing::debug!(
            phase = name,
            ms = took.as_millis() as u64,
            "pack phase done"
        );
        self.done.push((name, took));
        self.last = now;
    }
}

/// A file name extension for a content type.
fn extension(content_type: Option<&str>) -> &'static str {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let ct = ct.split(';').next().unwrap_or("").trim().to_string();
    match ct.as_str() {
        "text/html" | "application/xhtml+xml" => "html",
        "application/rss+xml" | "application/atom+xml" | "application/xml" | "text/xml" => "xml",
        "application/json" | "application/feed+json" => "json",
        "text/plain" => "txt",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "video/x-matroska" => "mkv",
        "message/rfc822" => "eml",
        _ => "bin",
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Gathers everything for a pack from the store and builds its files (nothing is written to
/// the store or to disk).
pub fn build(store: &dyn PipelineStore, key: &PackKey, req: &PackRequest) -> Result<PackContent> {
    build_at(store, key, req, Utc::now())
}

/// [`build`] with a fixed export time.
pub fn build_at(
    store: &dyn PipelineStore,
    key: &PackKey,
    req: &PackRequest,
    now: DateTime<Utc>,
) -> Result<PackContent> {
    let _span =
        tracing::info_span!("pack", incidents = ?req.incidents, items = req.items.len()).entered();
    let mut phases = Phases::new();
    let gathered = gather(store, req, now)?;
    phases.end("gather (store reads, WARC)");
    // The WACZ: the same WARC bytes, indexed, with the pages, for replay.
    // The pack's own WACZ leaves the screenshots out: they are in the pack already, under
    // screenshots/, and a second copy would double a large pack.
    let (wacz, _) = wacz_of(&gathered, req, now, false)?;
    phases.end("archive.wacz");
    let Gathered {
        incidents,
        item_ids,
        mut items,
        captures,
        mut files,
        images,
        warc_records,
    } = gathered;

    // The trusted-timestamp proof: the capture-log segment, its tokens and the TSA roots.
    let stamps = if req.timestamps {
        let mut stamps = timestamp::pack::gather(store, &items, &captures, &req.tsa_roots)?;
        for item in &mut items {
            item.capture_log = stamps.refs.remove(&item.item.id).unwrap_or_default();
        }
        stamps
    } else {
        timestamp::pack::PackTimestamps::default()
    };
    files.insert(names::WACZ.into(), wacz);
    let warc_records_n = warc_records.len();
    files.insert(
        names::PUBLIC_KEY.into(),
        format!("{}\n", key.public_hex()).into_bytes(),
    );

    // The chain of custody, from the audit log.
    let incident_ids: Vec<i64> = incidents.iter().map(|i| i.incident.id).collect();
    let custody = Custody::read(store, &incident_ids, &item_ids)?;
    let custody_bytes = serde_json::to_vec_pretty(&custody).map_err(|e| {
        EvidenceError::InvalidRequest(format!("cannot serialise {}: {e}", names::CUSTODY))
    })?;
    files.insert(names::CUSTODY.into(), custody_bytes);
    phases.end("timestamps, custody");

    let mut manifest = Manifest {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "ballotwatch".into(),
            version: req.tool_version.clone(),
        },
        exported_at: now,
        exported_by: req.actor.clone(),
        request: PackRequestRecord {
            incidents: req.incidents.clone(),
            items: req.items.clone(),
        },
        public_key: PublicKey {
            algorithm: "ed25519".into(),
            hex: key.public_hex(),
            file: names::PUBLIC_KEY.into(),
        },
        incidents,
        items,
        captures,
        detectors: req.detectors.clone(),
        warc: WarcInfo {
            file: names::WARC.into(),
            version: "WARC/1.1".into(),
            records: warc_records_n,
            notes: vec![
                "One warcinfo record, then a request and a response record per capture, each \
                 dated with the time the fetch started (WARC-Date) and in its own gzip member."
                    .into(),
                "Media downloaded by Ballotwatch are captures too: each medium in the \
                 manifest names its download by `capture_id`, and its body file is the \
                 medium's file under media/."
                    .into(),
                "Request records are reconstructed: the fetcher does not keep the request it \
                 sent, so each holds what is known of it (GET, the URL, Host, and the \
                 User-Agent Ballotwatch sends); its other request headers are not recorded."
                    .into(),
                format!(
                    "Response records hold the status, the headers as received and the body as \
                     stored (after any content-encoding was undone); Content-Encoding, \
                     Transfer-Encoding and Content-Length are renamed with the prefix \
                     `{}` and a Content-Length of the stored body is added. The HTTP version \
                     of the exchange was not recorded; HTTP/1.1 is written.",
                    warc::ORIGINAL_HEADER_PREFIX
                ),
            ],
        },
        report: ReportInfo {
            html: names::REPORT_HTML.into(),
            pdf: None,
            pdf_not_rendered: None,
        },
        timestamps: stamps.info,
        reporters: None,
        files: Vec::new(),
    };
    // The screenshots as the report shows them: the thumbnails kept when they were taken (made
    // now for older ones), as files of the pack the report refers to.
    let mut images = crate::thumbnail::report_images_from_store(
        store,
        images
            .iter()
            .filter_map(|p| Some((p.as_str(), files.get(p)?.as_slice()))),
        req.report_image_width,
    );
    for (path, img) in &mut images {
        if img.thumbnail {
            let file = crate::thumbnail::pack_path(path);
            files.insert(file, std::mem::take(&mut img.bytes));
        } else {
            img.bytes = Vec::new();
        }
    }
    phases.end("report images (thumbnails)");
    if req.include_reporters {
        let mut reporters = Vec::new();
        for id in &item_ids {
            for r in store.reports_of_item(id)? {
                reporters.push(serde_json::json!({
                    "reference": r.reference,
                    "received_at": r.received_at,
                    "reporter": r.reporter,
                    "public": r.public,
                    "item_id": r.item_id,
                }));
            }
        }
        let bytes = serde_json::to_vec_pretty(&reporters).map_err(|e| {
            EvidenceError::InvalidRequest(format!("cannot serialise {}: {e}", names::REPORTERS))
        })?;
        files.insert(names::REPORTERS.into(), bytes);
        manifest.reporters = Some(names::REPORTERS.into());
    }
    // What the timestamps prove, checked as `verify` will, for the report (the check reads
    // the screenshots' hashes from the file list, completed below).
    manifest.files = entries(&files);
    phases.end("hash files");
    let stamped = timestamps_for_report(&manifest, &stamps.files, &req.tsa_roots);
    // The report, then its PDF (every file hashed once).
    let mut hashes = std::mem::take(&mut manifest.files);
    hashes.extend(entries(&stamps.files));
    hashes.sort_by(|a, b| a.path.cmp(&b.path));
    files.extend(stamps.files);

    let doc = crate::report::document(&manifest, &hashes, &images, &custody, &stamped);
    let html = crate::report::html::render(&doc);
    phases.end("report.html");
    match crate::report::pdf::render(&doc, &|p| files.get(p).map(Vec::as_slice)) {
        Ok(pdf) => {
            files.insert(names::REPORT_PDF.into(), pdf);
            manifest.report.pdf = Some(names::REPORT_PDF.into());
        }
        Err(why) => {
            tracing::warn!(%why, "report.pdf not written");
            manifest.report.pdf_not_rendered = Some(why.to_string());
        }
    }
    phases.end("report.pdf");
    files.insert(names::REPORT_HTML.into(), html.into_bytes());

    // Manifest, signature, sums: every file was hashed once above, but the report's.
    let mut listed: BTreeMap<String, FileEntry> =
        hashes.into_iter().map(|e| (e.path.clone(), e)).collect();
    for name in [names::REPORT_HTML, names::REPORT_PDF] {
        if let Some(bytes) = files.get(name) {
            listed.insert(
                name.to_string(),
                FileEntry {
                    path: name.to_string(),
                    sha256: sha256_hex(bytes),
                    size: bytes.len() as u64,
                },
            );
        }
    }
    manifest.files = listed.into_values().collect();
    debug_assert_eq!(manifest.files.len(), files.len());
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| {
        EvidenceError::InvalidRequest(format!("cannot serialise the manifest: {e}"))
    })?;
    let sig = format!("{}\n", key.sign_hex(&manifest_bytes));
    let sums = pack_sums(&manifest, &manifest_bytes, &sig);
    files.insert(names::MANIFEST.into(), manifest_bytes);
    files.insert(names::SIGNATURE.into(), sig.into_bytes());
    files.insert(names::SUMS.into(), sums.into_bytes());
    phases.end("hash files, manifest, signature, SHA256SUMS");
    Ok(PackContent {
        manifest,
        files,
        timings: phases.done,
    })
}

/// The pack's timestamps checked against the configured roots, as the report states them;
/// `Err` says why they could not be (the report says so).
fn timestamps_for_report(
    manifest: &Manifest,
    files: &BTreeMap<String, Vec<u8>>,
    roots: &[PathBuf],
) -> crate::report::Stamps {
    if manifest.timestamps.is_none() {
        return Ok(None);
    }
    let roots = timestamp::TrustRoots::from_pem_files(roots).map_err(|e| e.to_string())?;
    timestamp::pack::check(manifest, files, Some(&roots)).map_err(|p| {
        tracing::warn!(problem = %p, "the pack's timestamps do not check at export");
        p.to_string()
    })
}

/// What a pack and its WACZ are made of, read from the store.
struct Gathered {
    incidents: Vec<IncidentEntry>,
    /// Every exported item's id, in order, once.
    item_ids: Vec<String>,
    items: Vec<ItemEntry>,
    captures: Vec<CaptureEntry>,
    /// Capture bodies, screenshots, media and the WARC, by path in the pack.
    files: BTreeMap<String, Vec<u8>>,
    /// The screenshots' paths in `files`, for the report.
    images: Vec<String>,
    /// Where each record of the WARC is.
    warc_records: Vec<warc::Written>,
}

/// Reads the incidents, items, captures, screenshots and media of a request from the store and
/// writes the WARC of the captures.
fn gather(store: &dyn PipelineStore, req: &PackRequest, now: DateTime<Utc>) -> Result<Gathered> {
    if req.incidents.is_empty() && req.items.is_empty() {
        return Err(EvidenceError::InvalidRequest(
            "nothing to export: name at least one --incident ID or --item ID".into(),
        ));
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    // Incidents and the ids of their items.
    let mut incidents = Vec::new();
    let mut item_ids: Vec<String> = Vec::new();
    for &id in &req.incidents {
        let incident = store
            .get_incident(id)?
            .ok_or_else(|| EvidenceError::NotFound(format!("there is no incident {id}")))?;
        let ids = store.incident_item_ids(id)?;
        item_ids.extend(ids.iter().cloned());
        incidents.push(IncidentEntry {
            incident,
            history: store.incident_history(id)?,
            item_ids: ids,
        });
    }
    item_ids.extend(req.items.iter().cloned());
    let mut seen = BTreeSet::new();
    item_ids.retain(|id| seen.insert(id.clone()));

    // Items, their captures, screenshots and media.
    let mut items = Vec::new();
    let mut capture_ids: Vec<i64> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    for id in &item_ids {
        let versions = store.item_versions(id)?;
        let Some(latest) = versions.last().cloned() else {
            return Err(EvidenceError::NotFound(format!("there is no item `{id}`")));
        };
        let mut caps = Vec::new();
        let mut withheld = Vec::new();
        for v in &versions {
            if let Some(c) = v.capture_id {
                if !req.include_reporters && !caps.contains(&c) {
                    if let Some((_, _, cap)) = store.get_capture(c)? {
                        if names_reporter(&cap.headers) {
                            if !withheld.iter().any(|w: &WithheldCapture| w.capture_id == c) {
                                withheld.push(WithheldCapture {
                                    capture_id: c,
                                    url: cap.url,
                                    content_type: header(&cap.headers, "content-type")
                                        .map(str::to_string),
                                    sha256: cap.sha256,
                                    size: cap.size,
                                    reason: WITHHELD_REASON.into(),
                                });
                            }
                            continue;
                        }
                    }
                }
                if !caps.contains(&c) {
                    caps.push(c);
                }
                if !capture_ids.contains(&c) {
                    capture_ids.push(c);
                }
            }
        }
        let mut screenshots = Vec::new();
        for rec in store.screenshots_of(id)? {
            let s = rec.shot;
            let entry = match s.outcome {
                ScreenshotOutcome::Taken {
                    png_sha256,
                    width,
                    height,
                    truncated,
                    html_sha256,
                    ..
                } => {
                    let png_path = format!("screenshots/{png_sha256}.png");
                    let html_path = format!("screenshots/{html_sha256}.html");
                    let png = store.read_blob(&png_sha256)?;
                    images.push(png_path.clone());
                    files.insert(png_path.clone(), png);
                    files.insert(html_path.clone(), store.read_blob(&html_sha256)?);
                    ScreenshotEntry {
                        url: s.url,
                        attempted_at: s.attempted_at,
                        tool: s.tool,
                        status: "taken".into(),
                        reason: None,
                        png: Some(png_path),
                        html: Some(html_path),
                        size_px: Some((width, height)),
                        truncated,
                    }
                }
                ScreenshotOutcome::NotTaken { reason } => ScreenshotEntry {
                    url: s.url,
                    attempted_at: s.attempted_at,
                    tool: s.tool,
                    status: "not_taken".into(),
                    reason: Some(reason),
                    png: None,
                    html: None,
                    size_px: None,
                    truncated: false,
                },
            };
            screenshots.push(entry);
        }
        let mut media = Vec::new();
        let mut media_not_captured = Vec::new();
        for m in &latest.item.media {
            let Some(sha) = &m.sha256 else {
                if let Some(reason) = &m.capture_error {
                    media_not_captured.push(MediaFailure {
                        url: m.url.clone(),
                        reason: reason.clone(),
                    });
                }
                continue;
            };
            // A page's screenshot that is also a medium (a report reads its pages' screenshots
            // as media, for OCR) is in the pack once, as the screenshot.
            let shot_file = format!("screenshots/{}.png", sha.to_ascii_lowercase());
            if files.contains_key(&shot_file) {
                media.push(MediaEntry {
                    url: m.url.clone(),
                    sha256: sha.clone(),
                    file: shot_file,
                    mime: m.mime.clone(),
                    capture_id: None,
                    frame_of: m.frame_of,
                    frame_time_ms: m.frame_time_ms,
                    capture_error: m.capture_error.clone(),
                });
                continue;
            }
            match store.read_blob(sha) {
                Ok(bytes) => {
                    let file = format!("media/{sha}.{}", extension(m.mime.as_deref()));
                    files.insert(file.clone(), bytes);
                    // The download's HTTP exchange goes into the WARC with the feeds'.
                    let capture_id = match &m.url {
                        Some(url) => store.media_capture_id(url, sha)?,
                        None => None,
                    };
                    if let Some(c) = capture_id {
                        if !capture_ids.contains(&c) {
                            capture_ids.push(c);
                        }
                    }
                    media.push(MediaEntry {
                        url: m.url.clone(),
                        sha256: sha.clone(),
                        file,
                        mime: m.mime.clone(),
                        capture_id,
                        frame_of: m.frame_of,
                        frame_time_ms: m.frame_time_ms,
                        capture_error: m.capture_error.clone(),
                    });
                }
                Err(ballotwatch_store::StoreError::BlobNotFound { .. }) => {
                    tracing::warn!(item = %id, %sha, "media listed on the item is not in the capture store");
                }
                Err(e) => return Err(e.into()),
            }
        }
        items.push(ItemEntry {
            item: latest.item,
            result: latest.result,
            capture_ids: caps,
            screenshots,
            media,
            media_not_captured,
            capture_log: Vec::new(),
            withheld,
        });
    }

    // Captures: body files and the WARC.
    let mut captures = Vec::new();
    let mut warc_file = warc::Writer::new();
    let compress = |e| EvidenceError::io("compress", Path::new(names::WARC), e);
    warc_file
        .append(&warc::warcinfo(
            now,
            &format!("Ballotwatch {}", req.tool_version),
            &now.to_rfc3339(),
        ))
        .map_err(compress)?;
    for cid in capture_ids {
        let Some((_, source, c)) = store.get_capture(cid)? else {
            return Err(EvidenceError::NotFound(format!(
                "capture {cid} (referenced by an exported item) is not in the store"
            )));
        };
        let body = store.read_blob(&c.sha256)?;
        // A medium's download: its body is already in the pack under media/.
        let media_file = files
            .keys()
            .find(|k| k.starts_with(&format!("media/{}.", c.sha256)))
            .cloned();
        let file = match media_file {
            Some(f) => f,
            None => {
                let f = format!(
                    "captures/{}.{}",
                    c.sha256,
                    extension(header(&c.headers, "content-type"))
                );
                files.insert(f.clone(), body.clone());
                f
            }
        };
        let resp_id = warc::record_id(&format!("response {cid} {}", c.sha256));
        let req_id = warc::record_id(&format!("request {cid} {}", c.sha256));
        let (block, offset) = warc::response_block(c.status, &c.headers, &body);
        let response = warc::Record {
            kind: "response",
            id: resp_id.clone(),
            date: c.started_at,
            target_uri: Some(c.final_url.clone()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block,
            payload_offset: Some(offset),
        };
        let (req_block, req_offset) = warc::request_block(&c.final_url, &req.user_agent);
        let request = warc::Record {
            kind: "request",
            id: req_id.clone(),
            date: c.started_at,
            target_uri: Some(c.final_url.clone()),
            concurrent_to: Some(resp_id.clone()),
            content_type: "application/http;msgtype=request",
            block: req_block,
            payload_offset: Some(req_offset),
        };
        for r in [&request, &response] {
            warc_file.append(r).map_err(compress)?;
        }
        captures.push(CaptureEntry {
            id: cid,
            source,
            url: c.url,
            final_url: c.final_url,
            status: c.status,
            headers: c.headers,
            sha256: c.sha256,
            size: c.size,
            started_at: c.started_at,
            finished_at: c.finished_at,
            file,
            warc_request_id: req_id,
            warc_response_id: resp_id,
        });
    }
    let (warc_bytes, warc_records) = warc_file.finish();
    files.insert(names::WARC.into(), warc_bytes);
    Ok(Gathered {
        incidents,
        item_ids,
        items,
        captures,
        files,
        images,
        warc_records,
    })
}

/// Hash entries for every file, in path order, hashed on every core (a pack's files are mostly
/// screenshots and media: hashed one after another, they leave a core idle).
fn entries(files: &BTreeMap<String, Vec<u8>>) -> Vec<FileEntry> {
    let all: Vec<(&String, &Vec<u8>)> = files.iter().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let entry = |(path, bytes): &(&String, &Vec<u8>)| FileEntry {
        path: (*path).clone(),
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
    };
    if threads == 1 || all.len() < 2 {
        return all.iter().map(entry).collect();
    }
    let chunk = all.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                (
                    part,
                    scope.spawn(move || part.iter().map(entry).collect::<Vec<_>>()),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| {
                // Should a thread fail, that part is hashed here rather than lost.
                h.join()
                    .unwrap_or_else(|_| part.iter().map(entry).collect::<Vec<_>>())
            })
            .collect::<Vec<_>>()
    })
}

/// Builds a pack and writes it to `out`.
pub fn write_pack(
    store: &dyn PipelineStore,
    key: &PackKey,
    req: &PackRequest,
    out: &Path,
) -> Result<PackSummary> {
    let content = build(store, key, req)?;
    let (sha256, size) = write_zip(&content, out)?;
    let m = &content.manifest;
    Ok(PackSummary {
        path: out.to_path_buf(),
        sha256,
        size,
        files: content.files.len(),
        incidents: m.incidents.iter().map(|i| i.incident.id).collect(),
        items: m.items.len(),
        captures: m.captures.len(),
        public_key: m.public_key.hex.clone(),
        key_fingerprint: key.fingerprint(),
        pdf_not_rendered: m.report.pdf_not_rendered.clone(),
        timestamp_note: None,
    })
}
