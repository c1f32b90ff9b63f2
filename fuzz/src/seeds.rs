//! Seeds made at run time for the targets whose inputs no test keeps as a file (queries,
//! pictures carrying provenance metadata, WARC files, ZIP packs). `scripts/fuzz` adds the
//! tests' fixture files beside them.

// A build of some target groups (see fuzz/Cargo.toml) leaves the others' seeds unused.
#![cfg_attr(
    not(all(feature = "media", feature = "evidence")),
    allow(dead_code, unused_imports)
)]

use std::io::Write;
use std::path::Path;

#[cfg(feature = "media")]
use ballotwatch_classify::detectors::media::provenance::fixtures;
use ballotwatch_core::sha256_hex;
#[cfg(feature = "evidence")]
use ballotwatch_evidence::manifest::{names, sha256sums};
#[cfg(feature = "evidence")]
use ballotwatch_evidence::warc;
use chrono::{TimeZone, Utc};

/// Writes the generated seeds for `target` into `dir`; returns how many.
pub fn write(target: &str, dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let seeds = match target {
        "search" => queries(),
        #[cfg(feature = "media")]
        "image" | "provenance" | "containers" => pictures()?,
        #[cfg(feature = "evidence")]
        "warc" => warc_files()?,
        #[cfg(feature = "evidence")]
        "verify" => packs()?,
        #[cfg(feature = "evidence")]
        "tsa-request" => tsa_requests()?,
        _ => Vec::new(),
    };
    for (name, bytes) in &seeds {
        let path = dir.join(format!("gen-{name}"));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(seeds.len())
}

type Seeds = Vec<(String, Vec<u8>)>;

/// Queries in every form the search syntax (`docs/commands.md`) shows.
fn queries() -> Seeds {
    [
        "polling station",
        "\"polling station\" AND (closed OR shut) -bridge",
        "source:\"Anytown Echo\" kind:impersonation flagged:true",
        "max_score:[0.8 TO 1] severity:high",
        "published_at:[2026-05-01T00:00:00Z TO 2026-05-02T00:00:00Z]",
        "label:lookalike_domain term:\"Riverside ward\" incident_id:42",
        "*",
        "((vote OR voting) AND NOT postal)",
    ]
    .iter()
    .enumerate()
    .map(|(i, q)| (format!("query-{i}"), q.as_bytes().to_vec()))
    .collect()
}

#[cfg(feature = "media")]
/// Small pictures in every format the media readers take, with and without provenance.
fn pictures() -> Result<Seeds, String> {
    let img = fixtures::scene(24, 16, 1);
    let mut out: Seeds = vec![
        ("plain.jpg".into(), fixtures::jpeg(&img)?),
        (
            "exif.jpg".into(),
            fixtures::jpeg_with_exif(&img, "ExampleCam", "X100", "Stable Diffusion 1.5")?,
        ),
        (
            "xmp.jpg".into(),
            fixtures::jpeg_with_xmp(&img, "trainedAlgorithmicMedia", "Midjourney")?,
        ),
        (
            "text.png".into(),
            fixtures::png_with_text(
                &img,
                &[("parameters", "a polling station, Steps: 20, Sampler: Euler")],
            )?,
        ),
    ];
    for (name, format) in [
        ("plain.webp", image::ImageFormat::WebP),
        ("plain.gif", image::ImageFormat::Gif),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        match image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut bytes, format) {
            Ok(()) => out.push((name.into(), bytes.into_inner())),
            // One format fewer is still a corpus; say so and go on.
            Err(e) => eprintln!("ballotwatch-fuzz: no {name} seed: {e}"),
        }
    }
    // Every container the metadata readers walk, as generators write it.
    let tiff = fixtures::exif_block(&[
        (fixtures::ExifTag::Make, fixtures::COMFY_WORKFLOW),
        (fixtures::ExifTag::Model, fixtures::COMFY_PROMPT),
        (fixtures::ExifTag::UserComment, fixtures::A1111),
    ])?;
    out.push((
        "animated-exif.webp".into(),
        fixtures::webp_with_exif(&[img.clone(), img.clone()], &tiff, false)?,
    ));
    out.push(("still-exif.webp".into(), fixtures::webp_with_exif(&[img.clone()], &tiff, true)?));
    out.push(("exif-block.jpg".into(), fixtures::jpeg_with_exif_block(&img, &tiff)?));
    out.push(("comment.jpg".into(), fixtures::jpeg_with_comment(&img, fixtures::A1111)?));
    out.push((
        "meta.mp4".into(),
        fixtures::mp4_with_metadata(
            &fixtures::Mp4Meta {
                udta: vec![(*b"\xa9swr", "Sora")],
                ilst: vec![(*b"\xa9too", "Lavf61.7.100"), (*b"\xa9cmt", fixtures::A1111)],
                keys: vec![("prompt", fixtures::COMFY_PROMPT_JSON)],
            },
            64,
        ),
    ));
    let spec = fixtures::ManifestSpec {
        generator: "ExampleGen Image".into(),
        generator_version: "3.1".into(),
        digital_source_type: "trainedAlgorithmicMedia".into(),
        signer_name: "ExampleGen Labs".into(),
        title: "seed".into(),
    };
    let jpeg = fixtures::jpeg(&img)?;
    let png = fixtures::png_with_text(&img, &[])?;
    for (name, bytes, mime) in [
        ("c2pa.jpg", jpeg, "image/jpeg"),
        ("c2pa.png", png, "image/png"),
    ] {
        match fixtures::sign_image(&bytes, mime, &spec) {
            Ok(signed) => out.push((name.into(), signed)),
            Err(e) => eprintln!("ballotwatch-fuzz: no {name} seed: {e}"),
        }
    }
    Ok(out)
}

#[cfg(feature = "evidence")]
/// One exchange as the pack writer records it: warcinfo, request, response.
fn warc_records() -> Vec<warc::Record> {
    let date = Utc
        .with_ymd_and_hms(2026, 4, 28, 18, 10, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let url = "https://noticeboard.example/feed.xml";
    let (req, req_off) = warc::request_block(url, "Ballotwatch/0.1 (+https://anytown.example)");
    let body = b"<rss><channel><item><title>Postal votes</title></item></channel></rss>";
    let (resp, resp_off) = warc::response_block(
        200,
        &[("content-type".into(), "application/rss+xml".into())],
        body,
    );
    let response_id = warc::record_id("response seed");
    vec![
        warc::warcinfo(date, "Ballotwatch 0.1", "seed"),
        warc::Record {
            kind: "request",
            id: warc::record_id("request seed"),
            date,
            target_uri: Some(url.into()),
            concurrent_to: Some(response_id.clone()),
            content_type: "application/http;msgtype=request",
            block: req,
            payload_offset: Some(req_off),
        },
        warc::Record {
            kind: "response",
            id: response_id,
            date,
            target_uri: Some(url.into()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block: resp,
            payload_offset: Some(resp_off),
        },
    ]
}

#[cfg(feature = "evidence")]
fn warc_gz() -> Result<Vec<u8>, String> {
    let mut gz = Vec::new();
    for r in warc_records() {
        gz.extend(r.to_gzip().map_err(|e| e.to_string())?);
    }
    Ok(gz)
}

#[cfg(feature = "evidence")]
fn warc_files() -> Result<Seeds, String> {
    let plain: Vec<u8> = warc_records().iter().flat_map(|r| r.to_bytes()).collect();
    Ok(vec![
        ("captures.warc".into(), plain),
        ("captures.warc.gz".into(), warc_gz()?),
    ])
}

#[cfg(feature = "evidence")]
/// A ZIP laid out like a pack (manifest, signature, sums, WARC, report), stored and deflated.
fn packs() -> Result<Seeds, String> {
    let report = b"<!doctype html><title>Report</title><p>Incident 1</p>".to_vec();
    let warc = warc_gz()?;
    let report_sha = sha256_hex(&report);
    let warc_sha = sha256_hex(&warc);
    let sums = sha256sums([
        (names::REPORT_HTML, report_sha.as_str()),
        (names::WARC, warc_sha.as_str()),
    ]);
    let manifest = serde_json::json!({
        "schema": "ballotwatch-evidence-pack",
        "schema_version": 1,
        "files": [
            {"path": names::REPORT_HTML, "sha256": report_sha, "size": report.len()},
            {"path": names::WARC, "sha256": warc_sha, "size": warc.len()},
        ],
    })
    .to_string();
    let files: Vec<(&str, Vec<u8>)> = vec![
        (names::MANIFEST, manifest.into_bytes()),
        (names::SIGNATURE, "00".repeat(64).into_bytes()),
        (names::SUMS, sums.into_bytes()),
        (names::WARC, warc),
        (names::REPORT_HTML, report),
    ];
    let mut out = Seeds::new();
    for (name, method) in [
        ("stored.zip", zip::CompressionMethod::Stored),
        ("deflated.zip", zip::CompressionMethod::Deflated),
    ] {
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (path, bytes) in &files {
            zw.start_file(*path, opts).map_err(|e| e.to_string())?;
            zw.write_all(bytes).map_err(|e| e.to_string())?;
        }
        let bytes = zw.finish().map_err(|e| e.to_string())?.into_inner();
        out.push((name.into(), bytes));
    }
    Ok(out)
}

/// Requests to the demo TSA: SHA-256 imprints with and without a nonce.
#[cfg(feature = "evidence")]
fn tsa_requests() -> Result<Vec<(String, Vec<u8>)>, String> {
    use ballotwatch_evidence::timestamp::build_request;
    let mut out = Vec::new();
    for (i, nonce) in [0u64, 1, u64::MAX].into_iter().enumerate() {
        let sha: [u8; 32] = [u8::try_from(i).unwrap_or(0); 32];
        let req = build_request(&sha, nonce).map_err(|e| e.to_string())?;
        out.push((format!("request-{i}.tsq"), req));
    }
    Ok(out)
}
