//! Unit tests of the pack writer and verifier together, on a real store in a temp folder.

use std::collections::BTreeMap;

use ballotwatch_core::{
    sha256_hex, Capture, ClassifyResult, Item, Severity, SourceRef, Verdict, VerdictKind,
};
use ballotwatch_store::{NewScreenshot, PollRecord, ScreenshotOutcome, Store};
use chrono::{TimeZone, Utc};

use crate::key::PackKey;
use crate::manifest::{names, sha256sums, FileEntry};
use crate::pack::{build_at, write_zip, PackContent, PackRequest};
use crate::verify::{verify_bytes, verify_files, VerifyLimits, VerifyOptions};

/// No trusted key: the pack's own key is checked, not trusted.
fn untrusted() -> VerifyOptions {
    VerifyOptions::default()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    key: PackKey,
    incident: i64,
}

fn png() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(8, 6, image::Rgba([200, 10, 10, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let key = PackKey::load_or_create(&dir.path().join("evidence.key")).unwrap();
    let t = Utc.with_ymd_and_hms(2026, 4, 28, 18, 10, 0).unwrap();
    let body = b"<rss><channel><item><title>Postal votes</title></item></channel></rss>";
    let sha256 = store.put_blob(body).unwrap();
    let item = |id: &str, text: &str| Item {
        id: id.into(),
        source: SourceRef {
            kind: "rss".into(),
            name: "Noticeboard".into(),
        },
        url: Some(format!("https://noticeboard.example/{id}")),
        published_at: Some(t),
        title: Some(format!("Post {id}")),
        text: Some(text.into()),
        links: vec!["https://anytown-gov.uk/renew".into()],
        ..Item::default()
    };
    store
        .record_poll(
            "Noticeboard",
            PollRecord {
                captures: vec![Capture {
                    url: "https://noticeboard.example/feed".into(),
                    final_url: "https://noticeboard.example/feed.xml".into(),
                    status: 200,
                    headers: vec![
                        ("content-type".into(), "application/rss+xml".into()),
                        ("content-encoding".into(), "gzip".into()),
                    ],
                    sha256,
                    size: body.len() as u64,
                    started_at: t,
                    finished_at: t + chrono::Duration::milliseconds(120),
                }],
                items: vec![
                    (
                        0,
                        item("fake", "Re-register your postal vote at anytown-gov.uk"),
                    ),
                    (0, item("fine", "Litter pick on Saturday")),
                ],
                etag: None,
                last_modified: None,
                cursor: None,
                not_modified: false,
                attempted_at: t,
                next_attempt_at: t,
            },
        )
        .unwrap();
    let pending = store.pending_classification(10).unwrap();
    let results: Vec<_> = pending
        .iter()
        .map(|s| {
            let flagged = s.item.id == "fake";
            let verdicts = if flagged {
                vec![Verdict {
                    kind: VerdictKind::Impersonation,
                    label: "lookalike_domain".into(),
                    score: 0.95,
                    detector: "domains".into(),
                    explanation: "links to anytown-gov.uk, a lookalike of anytown.gov.uk".into(),
                    evidence: serde_json::json!({"domain": "anytown-gov.uk"}),
                    rebuttal: Some("Postal voters do not need to re-register".into()),
                }]
            } else {
                vec![]
            };
            (
                s.seq,
                ClassifyResult {
                    id: s.item.id.clone(),
                    flagged,
                    severity: if flagged {
                        Severity::High
                    } else {
                        Severity::None
                    },
                    verdicts,
                    detector_errors: vec![],
                    media_text: if flagged {
                        vec![ballotwatch_core::MediaText {
                            media: 0,
                            sha256: None,
                            text: "Scan to re-register your postal vote".into(),
                            text_fraction: 0.4,
                        }]
                    } else {
                        Vec::new()
                    },
                },
            )
        })
        .collect();
    store.save_results(&results).unwrap();
    let inc = store
        .create_incident(
            "Lookalike postal-vote site",
            VerdictKind::Impersonation,
            Severity::High,
            "comms",
        )
        .unwrap();
    store.add_incident_item(inc.id, "fake", "comms").unwrap();
    let png = png();
    let shot = NewScreenshot {
        item_id: "fake".into(),
        url: "https://noticeboard.example/fake".into(),
        attempted_at: t + chrono::Duration::seconds(5),
        tool: "Chromium 156".into(),
        outcome: ScreenshotOutcome::Taken {
            png_sha256: store.put_blob(&png).unwrap(),
            png_size: png.len() as u64,
            width: 8,
            height: 6,
            truncated: false,
            html_sha256: store.put_blob(b"<html>rendered</html>").unwrap(),
            html_size: 21,
        },
    };
    store.record_screenshot(&shot).unwrap();
    store
        .record_screenshot(&NewScreenshot {
            attempted_at: t,
            tool: "none".into(),
            outcome: ScreenshotOutcome::NotTaken {
                reason: "Chromium is not installed".into(),
            },
            ..shot
        })
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        key,
        incident: inc.id,
    }
}

fn request(f: &Fixture) -> PackRequest {
    PackRequest {
        incidents: vec![f.incident],
        items: vec!["fine".into()],
        actor: "ro".into(),
        tool_version: "0.1.0-test".into(),
        user_agent: "Ballotwatch/0.1.0-test".into(),
        detectors: vec![],
        timestamps: false,
        tsa_roots: Vec::new(),
        report_image_width: Some(crate::thumbnail::REPORT_WIDTH),
        include_reporters: false,
    }
}

fn pack(f: &Fixture) -> PackContent {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    build_at(&f.store, &f.key, &request(f), now).unwrap()
}

/// Re-signs a pack after a deliberate change (as someone holding the key could), so checks
/// other than the signature and hashes can be exercised.
fn resign(f: &Fixture, files: &mut BTreeMap<String, Vec<u8>>) {
    resign_with(&f.key, files);
}

/// Re-signs a pack with `key`, naming it in the manifest and `signing-key.pub`, as anyone who
/// altered a pack could.
fn resign_with(key: &PackKey, files: &mut BTreeMap<String, Vec<u8>>) {
    let mut m: crate::Manifest = serde_json::from_slice(&files[names::MANIFEST]).unwrap();
    m.public_key.hex = key.public_hex();
    files.insert(
        names::PUBLIC_KEY.into(),
        format!("{}\n", key.public_hex()).into_bytes(),
    );
    m.files = files
        .iter()
        .filter(|(p, _)| ![names::MANIFEST, names::SIGNATURE, names::SUMS].contains(&p.as_str()))
        .map(|(p, b)| FileEntry {
            path: p.clone(),
            sha256: sha256_hex(b),
            size: b.len() as u64,
        })
        .collect();
    let bytes = serde_json::to_vec_pretty(&m).unwrap();
    let sig = format!("{}\n", key.sign_hex(&bytes));
    let (ms, ss) = (sha256_hex(&bytes), sha256_hex(sig.as_bytes()));
    let sums = sha256sums(
        m.files
            .iter()
            .map(|e| (e.path.as_str(), e.sha256.as_str()))
            .chain([
                (names::MANIFEST, ms.as_str()),
                (names::SIGNATURE, ss.as_str()),
            ]),
    );
    files.insert(names::MANIFEST.into(), bytes);
    files.insert(names::SIGNATURE.into(), sig.into_bytes());
    files.insert(names::SUMS.into(), sums.into_bytes());
}

#[test]
fn a_pack_holds_everything_and_verifies() {
    let f = fixture();
    let p = pack(&f);
    let v = verify_files(&p.files, &VerifyOptions::trusting([f.key.public_hex()])).unwrap();
    assert!(v.signer.trusted);
    assert_eq!(v.signer.fingerprint, f.key.fingerprint());
    let m = &v.manifest;
    assert_eq!(m.exported_by, "ro");
    assert_eq!(m.incidents.len(), 1);
    assert_eq!(m.incidents[0].item_ids, ["fake"]);
    assert!(m.incidents[0].history.iter().any(|h| h.field == "item"));
    let ids: Vec<&str> = m.items.iter().map(|i| i.item.id.as_str()).collect();
    assert_eq!(
        ids,
        ["fake", "fine"],
        "incident items first, then --item ids"
    );
    assert_eq!(m.captures.len(), 1, "one shared capture");
    assert_eq!(m.items[0].capture_ids, m.items[1].capture_ids);
    let c = &m.captures[0];
    assert_eq!(c.final_url, "https://noticeboard.example/feed.xml");
    assert!(c.file.starts_with("captures/") && c.file.ends_with(".xml"));
    assert_eq!(m.warc.records, 3);
    assert_eq!(m.items[0].screenshots.len(), 2);
    assert_eq!(m.items[0].screenshots[0].status, "taken");
    assert_eq!(m.items[0].screenshots[1].status, "not_taken");
    // report.pdf is written in-process: always there, hashed like every other file.
    assert_eq!(m.report.pdf.as_deref(), Some(names::REPORT_PDF));
    assert_eq!(m.report.pdf_not_rendered, None);
    assert!(p.files[names::REPORT_PDF].starts_with(b"%PDF-"));
    assert!(m.files.iter().any(|e| e.path == names::REPORT_PDF));
    // SHA256SUMS lists every other file.
    let sums = String::from_utf8(p.files[names::SUMS].clone()).unwrap();
    assert_eq!(sums.lines().count(), p.files.len() - 1);
    for (path, bytes) in &p.files {
        if path != names::SUMS {
            assert!(
                sums.contains(&format!("{}  {path}\n", sha256_hex(bytes))),
                "{path}"
            );
        }
    }
    // The report: the screenshot (a file of the pack, by relative path: narrow enough to be
    // shown itself), the reason the other was not taken, the rebuttal, hashes.
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains(&format!("src=\"screenshots/{}.png\"", sha256_hex(&png()))));
    assert!(!html.contains("data:"));
    assert!(html.contains("Chromium is not installed"));
    assert!(html.contains("Postal voters do not need to re-register"));
    assert!(html.contains(&c.sha256));
    assert!(html.contains(&format!("Incident {}", f.incident)));
    // Text read from the item's image (OCR) is in the manifest and the report.
    assert_eq!(
        m.items[0].result.as_ref().unwrap().media_text[0].text,
        "Scan to re-register your postal vote"
    );
    assert!(html.contains("Text read from image 1 (OCR)"));
    assert!(html.contains("Scan to re-register your postal vote"));
    // The WARC renames content-encoding (the stored body is decoded).
    let warc = crate::warc::read_all(&p.files[names::WARC]).unwrap();
    assert_eq!(warc[2].payload_sha256.as_deref(), Some(c.sha256.as_str()));

    // Zipped and read back.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pack.zip");
    let (sha, size) = write_zip(&p, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!((sha256_hex(&bytes), bytes.len() as u64), (sha, size));
    let v = verify_bytes(&bytes, "pack.zip", &untrusted()).unwrap();
    // Intact, but nobody vouched for the key: the signer is named, not trusted.
    assert!(!v.signer.trusted);
    assert_eq!(v.signer.public_key, f.key.public_hex());
    assert_eq!(v.signer.fingerprint, f.key.fingerprint());
}

#[test]
fn every_change_is_caught_and_named() {
    let f = fixture();
    let p = pack(&f);
    for name in p.files.keys() {
        let mut files = p.files.clone();
        let b = files.get_mut(name).unwrap();
        let last = b.len() - 1;
        // 'a' ^ 0x03 = 'b': still valid hex in manifest.sig, so the signature check is reached.
        b[last / 2] ^= 0x03;
        let err = verify_files(&files, &untrusted()).unwrap_err();
        assert_eq!(err.file, *name, "flipping {name} reported as {err}");

        let mut files = p.files.clone();
        files.remove(name);
        let err = verify_files(&files, &untrusted()).unwrap_err();
        assert_eq!(err.file, *name, "removing {name} reported as {err}");
    }
    let mut files = p.files.clone();
    files.insert("notes.txt".into(), b"added later".to_vec());
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, "notes.txt");
    assert!(err.message.contains("not listed"), "{err}");

    let err = verify_files(&p.files, &VerifyOptions::trusting(["ab".repeat(32)])).unwrap_err();
    assert!(err.message.contains("not the expected key"), "{err}");
    let err = verify_bytes(b"PK\x03\x04 broken", "x.zip", &untrusted()).unwrap_err();
    assert_eq!(err.file, "x.zip");
}

#[test]
fn a_warc_that_does_not_match_the_captures_fails_even_when_re_signed() {
    let f = fixture();
    let p = pack(&f);
    let m = &p.manifest;
    let c = &m.captures[0];
    // A WARC with the right record ids but another body, hashed and signed as if genuine.
    let (block, off) = crate::warc::response_block(200, &[], b"<rss>something else</rss>");
    let (req_block, req_off) = crate::warc::request_block(&c.final_url, "x");
    let mut warc = crate::warc::warcinfo(m.exported_at, "x", "s")
        .to_gzip()
        .unwrap();
    for r in [
        crate::warc::Record {
            kind: "request",
            id: c.warc_request_id.clone(),
            date: c.started_at,
            target_uri: Some(c.final_url.clone()),
            concurrent_to: Some(c.warc_response_id.clone()),
            content_type: "application/http;msgtype=request",
            block: req_block,
            payload_offset: Some(req_off),
        },
        crate::warc::Record {
            kind: "response",
            id: c.warc_response_id.clone(),
            date: c.started_at,
            target_uri: Some(c.final_url.clone()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block,
            payload_offset: Some(off),
        },
    ] {
        warc.extend(r.to_gzip().unwrap());
    }
    let mut files = p.files.clone();
    files.insert(names::WARC.into(), warc);
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::WARC, "{err}");
    assert!(err.message.contains("does not match"), "{err}");

    // And the untouched pack re-signed the same way still verifies (the helper is faithful).
    let mut same = p.files.clone();
    resign(&f, &mut same);
    verify_files(&same, &untrusted()).unwrap();
}

#[test]
fn unknown_incidents_and_items_and_empty_requests_are_refused() {
    let f = fixture();
    let now = Utc::now();
    let mut req = request(&f);
    req.incidents = vec![4242];
    let err = build_at(&f.store, &f.key, &req, now).unwrap_err();
    assert!(err.to_string().contains("incident 4242"), "{err}");
    let mut req = request(&f);
    req.incidents.clear();
    req.items = vec!["nope".into()];
    let err = build_at(&f.store, &f.key, &req, now).unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
    req.items.clear();
    let err = build_at(&f.store, &f.key, &req, now).unwrap_err();
    assert!(err.to_string().contains("nothing to export"), "{err}");
}

#[test]
fn a_failed_write_leaves_an_existing_pack_untouched() {
    let f = fixture();
    let p = pack(&f);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pack.zip");
    write_zip(&p, &out).unwrap();
    let before = std::fs::read(&out).unwrap();
    let err = write_zip(&p, &dir.path().join("no/such/dir/pack.zip")).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn a_pack_re_signed_with_another_key_is_never_intact_without_qualification() {
    let f = fixture();
    let p = pack(&f);
    let dir = tempfile::tempdir().unwrap();
    let forger = PackKey::load_or_create(&dir.path().join("forger.key")).unwrap();
    let mut files = p.files.clone();
    let report = files.get_mut(names::REPORT_HTML).unwrap();
    *report = String::from_utf8(report.clone())
        .unwrap()
        .replace("Postal voters do not need to re-register", "Nothing to see")
        .into_bytes();
    resign_with(&forger, &mut files);
    // Before: "intact". Now: intact as signed, but by an untrusted key, named by fingerprint.
    let v = verify_files(&files, &untrusted()).unwrap();
    assert!(!v.signer.trusted);
    assert_eq!(v.signer.fingerprint, forger.fingerprint());
    assert_ne!(v.signer.fingerprint, f.key.fingerprint());
    // With the council's key trusted, it fails, naming both keys' facts.
    let err = verify_files(&files, &VerifyOptions::trusting([f.key.public_hex()])).unwrap_err();
    assert_eq!(err.file, names::MANIFEST, "{err}");
    assert!(
        err.message.contains("not the expected key") && err.message.contains(&forger.fingerprint()),
        "{err}"
    );
    // Several trusted keys: any one of them will do.
    let v = verify_files(
        &files,
        &VerifyOptions::trusting([f.key.public_hex(), forger.public_hex()]),
    )
    .unwrap();
    assert!(v.signer.trusted);
    let err = verify_files(
        &files,
        &VerifyOptions::trusting([f.key.public_hex(), "cd".repeat(32)]),
    )
    .unwrap_err();
    assert!(err.message.contains("none of the 2 trusted keys"), "{err}");
}

/// A ZIP of `entries` (name, bytes), deflated, with zip64 headers.
fn deflated_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    deflated_zip_as(entries, true)
}

/// A ZIP of `entries`, deflated; `large`: zip64 headers (sizes in an extra field).
fn deflated_zip_as(entries: &[(&str, &[u8])], large: bool) -> Vec<u8> {
    use std::io::Write;
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(large);
    for (name, bytes) in entries {
        zw.start_file(*name, opts).unwrap();
        zw.write_all(bytes).unwrap();
    }
    zw.finish().unwrap().into_inner()
}

fn limits(max_entries: usize, max_unpacked: u64) -> VerifyOptions {
    VerifyOptions {
        trusted_keys: vec![],
        limits: VerifyLimits {
            max_entries,
            max_unpacked,
        },
        tsa_roots: None,
    }
}

#[test]
fn more_entries_than_the_limit_are_refused_before_any_is_read() {
    let names: Vec<String> = (0..2_000).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let bytes = deflated_zip(&entries);
    let err = verify_bytes(&bytes, "many.zip", &limits(1_000, 1 << 30)).unwrap_err();
    assert_eq!(err.file, "many.zip");
    assert!(
        err.message.contains("2000 files") && err.message.contains("verify_max_entries"),
        "{err}"
    );
}

#[test]
fn a_manifest_bomb_stops_at_its_cap() {
    // 80 MiB of spaces (over the 64 MiB cap) deflates to about 80 KiB. Before: read whole (up
    // to 8 GiB) and handed to the JSON parser.
    let bomb = vec![b' '; 80 << 20];
    let bytes = deflated_zip(&[(names::MANIFEST, &bomb[..])]);
    drop(bomb);
    assert!(bytes.len() < 1 << 20, "{}", bytes.len());
    let started = std::time::Instant::now();
    let err = verify_bytes(&bytes, "bomb.zip", &untrusted()).unwrap_err();
    assert_eq!(err.file, names::MANIFEST, "{err}");
    assert!(err.message.contains("larger than"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_listed_high_ratio_file_stops_at_the_unpacked_limit() {
    // A forger lists a 96 MiB file of zeros (about 96 KiB deflated) and signs the manifest.
    let f = fixture();
    let p = pack(&f);
    let mut files = p.files.clone();
    files.insert("media/huge.bin".into(), vec![0u8; 96 << 20]);
    resign(&f, &mut files);
    let zipped = {
        let entries: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        deflated_zip(&entries)
    };
    drop(files);
    assert!(zipped.len() < 4 << 20, "{}", zipped.len());
    let err = verify_bytes(&zipped, "bomb.zip", &limits(1_000, 16 << 20)).unwrap_err();
    assert_eq!(err.file, "media/huge.bin", "{err}");
    assert!(err.message.contains("verify_max_unpacked"), "{err}");
}

#[test]
fn a_zip_entry_that_lies_about_its_size_is_not_believed() {
    let f = fixture();
    let p = pack(&f);
    let entries: Vec<(&str, &[u8])> = p
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let mut bytes = deflated_zip_as(&entries, false);
    // Every header (local and central) of report.html now claims 10 bytes unpacked.
    let name = names::REPORT_HTML.as_bytes();
    let mut patched = 0;
    for at in 0..bytes.len().saturating_sub(46) {
        let sig = &bytes[at..at + 4];
        let (size_at, name_len_at, name_at) = if sig == b"PK\x03\x04" {
            (at + 22, at + 26, at + 30)
        } else if sig == b"PK\x01\x02" {
            (at + 24, at + 28, at + 46)
        } else {
            continue;
        };
        let len = u16::from_le_bytes([bytes[name_len_at], bytes[name_len_at + 1]]) as usize;
        if bytes.get(name_at..name_at + len) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&10u32.to_le_bytes());
            patched += 1;
        }
    }
    assert!(patched >= 1, "no header patched");
    let err = verify_bytes(&bytes, "liar.zip", &untrusted()).unwrap_err();
    assert_eq!(err.file, names::REPORT_HTML, "{err}");
}

#[test]
fn a_warc_record_with_a_huge_content_length_is_a_problem_not_an_abort() {
    // Before: the reader allocated Content-Length bytes (1 TiB here) and the process aborted.
    let f = fixture();
    let p = pack(&f);
    let mut files = p.files.clone();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 1099511627776\r\n\r\nshort",
    )
    .unwrap();
    files.insert(names::WARC.into(), gz.finish().unwrap());
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::WARC, "{err}");
    assert!(err.message.contains("Content-Length"), "{err}");
}

/// The files of a ZIP held in memory.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().into_owned(), b)
        })
        .collect()
}

#[test]
fn the_pack_holds_a_wacz_of_its_own_warc_listed_and_signed_with_the_rest() {
    let f = fixture();
    let p = pack(&f);
    let listed: Vec<&str> = p.manifest.files.iter().map(|e| e.path.as_str()).collect();
    assert!(listed.contains(&names::WACZ), "{listed:?}");
    let sums = String::from_utf8(p.files[names::SUMS].clone()).unwrap();
    assert!(sums.contains(&format!(
        "{}  {}",
        sha256_hex(&p.files[names::WACZ]),
        names::WACZ
    )));

    let wacz = unzip(&p.files[names::WACZ]);
    assert_eq!(
        wacz[crate::wacz::WARC_PATH],
        p.files[names::WARC],
        "the WACZ's WARC is the pack's, byte for byte"
    );
    // One CDXJ line per capture's response, pointing at that record.
    let index = String::from_utf8(wacz[crate::wacz::INDEX_PATH].clone()).unwrap();
    assert_eq!(index.lines().count(), p.manifest.captures.len(), "{index}");
    for (line, c) in index.lines().zip(&p.manifest.captures) {
        assert!(
            line.starts_with("example,noticeboard)/feed.xml 20260428181000 {"),
            "{line}"
        );
        let json: serde_json::Value =
            serde_json::from_str(line.splitn(3, ' ').nth(2).unwrap()).unwrap();
        let offset: usize = json["offset"].as_str().unwrap().parse().unwrap();
        let length: usize = json["length"].as_str().unwrap().parse().unwrap();
        let warc = &p.files[names::WARC];
        let recs = crate::warc::read_all(&warc[offset..offset + length]).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].header("WARC-Record-ID"),
            Some(c.warc_response_id.as_str())
        );
        assert_eq!(json["digest"], format!("sha256:{}", c.sha256));
        assert_eq!(json["mime"], "application/rss+xml");
    }
    // A page per item: neither item's own URL was captured, so both open the feed they were
    // read from, titled with the item's title.
    let pages = String::from_utf8(wacz[crate::wacz::PAGES_PATH].clone()).unwrap();
    let pages: Vec<serde_json::Value> = pages
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages[1]["id"], "fake");
    assert_eq!(pages[1]["title"], "Post fake");
    assert_eq!(pages[1]["url"], "https://noticeboard.example/feed.xml");
    assert_eq!(pages[1]["ts"], "2026-04-28T18:10:00.000Z");
    let package: serde_json::Value =
        serde_json::from_slice(&wacz[crate::wacz::DATAPACKAGE]).unwrap();
    assert_eq!(
        package["title"],
        format!(
            "Ballotwatch evidence: Incident {} — Lookalike postal-vote site",
            f.incident
        )
    );
    assert_eq!(package["created"], "2026-05-01T09:00:00Z");
}

#[test]
fn a_wacz_alone_is_the_same_archive_as_the_one_in_the_pack() {
    let f = fixture();
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let alone = crate::pack::build_wacz_at(&f.store, &request(&f), now).unwrap();
    assert_eq!((alone.items, alone.captures, alone.pages), (2, 1, 2));
    assert_eq!(alone.incidents, vec![f.incident]);
    // The same WARC and pages; the WACZ alone adds the screenshots (the pack holds them
    // already, under screenshots/).
    let alone = unzip(&alone.bytes);
    let inner = unzip(&pack(&f).files[names::WACZ]);
    for path in [crate::wacz::WARC_PATH, crate::wacz::PAGES_PATH] {
        assert_eq!(alone[path], inner[path], "{path}");
    }
    assert!(alone.contains_key(crate::wacz::SCREENSHOTS_WARC_PATH));
    assert!(!inner.contains_key(crate::wacz::SCREENSHOTS_WARC_PATH));
    let index = |z: &BTreeMap<String, Vec<u8>>| {
        String::from_utf8(z[crate::wacz::INDEX_PATH].clone())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("urn:fullPage:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(index(&alone), index(&inner));
    let mut empty = request(&f);
    empty.incidents.clear();
    empty.items.clear();
    assert!(crate::pack::build_wacz_at(&f.store, &empty, now).is_err());
}

#[test]
fn the_custody_log_lists_views_and_changes_and_an_edit_of_it_fails_verify() {
    let f = fixture();
    f.store
        .audit(
            "alice",
            "incident.view",
            &serde_json::json!({ "incident_id": f.incident }),
        )
        .unwrap();
    f.store
        .set_incident_status(
            f.incident,
            ballotwatch_core::IncidentStatus::Escalated,
            "bob",
        )
        .unwrap();
    f.store
        .audit(
            "carol",
            "item.view",
            &serde_json::json!({ "item_id": "fine" }),
        )
        .unwrap();
    f.store
        .audit(
            "dave",
            "item.view",
            &serde_json::json!({ "item_id": "elsewhere" }),
        )
        .unwrap();
    let p = pack(&f);
    let custody: crate::Custody = serde_json::from_slice(&p.files[names::CUSTODY]).unwrap();
    let got: Vec<(&str, &str)> = custody
        .entries
        .iter()
        .map(|e| (e.actor.as_str(), e.summary.as_str()))
        .collect();
    let inc = f.incident;
    assert_eq!(
        got,
        [
            (
                "comms",
                format!("opened incident {inc}: Lookalike postal-vote site").as_str()
            ),
            (
                "comms",
                format!("added item fake to incident {inc}").as_str()
            ),
            ("alice", format!("viewed incident {inc}").as_str()),
            (
                "bob",
                format!("changed the status of incident {inc} from new to escalated").as_str()
            ),
            ("carol", "viewed item fine"),
        ],
        "{custody:#?}"
    );
    assert!(!custody.truncated);
    assert!(p.manifest.files.iter().any(|e| e.path == names::CUSTODY));
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(
        html.contains("Chain of custody"),
        "the report has the section"
    );
    assert!(html.contains(&format!(
        "<td>bob</td><td>changed the status of incident {inc} from new to escalated</td>"
    )));

    // Someone removes the status change from custody.json: verify names the file.
    let mut files = p.files.clone();
    let mut edited = custody.clone();
    edited.entries.retain(|e| e.actor != "bob");
    files.insert(
        names::CUSTODY.into(),
        serde_json::to_vec_pretty(&edited).unwrap(),
    );
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::CUSTODY, "{err}");
}

/// The recorded test TSA's root (see `evidence/tests/fixtures/timestamp/`).
fn tsa_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/timestamp/root.pem")
}

/// A pack of the fixture written by a deployment with a TSA configured.
fn stamped_pack(f: &Fixture) -> PackContent {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let req = PackRequest {
        timestamps: true,
        tsa_roots: vec![tsa_root()],
        ..request(f)
    };
    build_at(&f.store, &f.key, &req, now).unwrap()
}

fn chain_json(files: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(&files[names::CHAIN]).unwrap()
}

#[test]
fn a_pack_without_a_tsa_has_no_timestamps_and_says_so() {
    let f = fixture();
    let p = pack(&f);
    assert!(p.manifest.timestamps.is_none());
    assert!(!p.files.keys().any(|k| k.starts_with(names::TIMESTAMPS_DIR)));
    assert!(p.manifest.items.iter().all(|i| i.capture_log.is_empty()));
    let manifest = String::from_utf8(p.files[names::MANIFEST].clone()).unwrap();
    assert!(!manifest.contains("capture_log") && !manifest.contains("\"timestamps\""));
    let v = verify_files(&p.files, &untrusted()).unwrap();
    assert!(v.timestamps.is_none());
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(
        html.contains("No trusted timestamps in this pack"),
        "{html}"
    );
}

#[test]
fn a_pack_with_a_tsa_carries_the_chain_and_roots_and_items_name_their_entries() {
    let f = fixture();
    let p = stamped_pack(&f);
    let info = p.manifest.timestamps.clone().unwrap();
    assert_eq!(info.chain, names::CHAIN);
    assert!(info.tokens.is_empty(), "nothing timestamped the log yet");
    assert_eq!(info.roots, [names::root(1)]);
    assert_eq!(
        p.files[&names::root(1)],
        std::fs::read(tsa_root()).unwrap(),
        "the root is copied verbatim"
    );
    for path in [names::CHAIN.to_string(), names::root(1)] {
        assert!(p.manifest.files.iter().any(|e| e.path == path), "{path}");
        let sums = String::from_utf8(p.files[names::SUMS].clone()).unwrap();
        assert!(
            sums.contains(&format!("  {path}\n")),
            "{path} in SHA256SUMS"
        );
    }
    // The poll logged body and headers for each item: seq 1, 2 for `fake`, 3, 4 for `fine`;
    // then `fake`'s screenshot logged its PNG and rendered HTML, 5 and 6.
    let chain = chain_json(&p.files);
    let whats: Vec<&str> = chain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        [
            "body",
            "headers",
            "body",
            "headers",
            "screenshot",
            "rendered_html"
        ]
    );
    let refs = |id: &str| item_entry(&p.manifest, id).capture_log.clone();
    let fake = refs("fake");
    assert_eq!(fake.len(), 1);
    assert_eq!((fake[0].body, fake[0].headers), (1, Some(2)));
    assert_eq!(
        (refs("fine")[0].body, refs("fine")[0].headers),
        (3, Some(4))
    );

    let v = verify_files(&p.files, &untrusted()).unwrap();
    let check = v.timestamps.unwrap();
    assert_eq!(check.entries, 6);
    assert!(
        check.unlogged_files.is_empty(),
        "{:?}",
        check.unlogged_files
    );
    assert!(check.tokens.is_empty());
    assert!(check
        .items
        .iter()
        .all(|(_, s)| *s == crate::timestamp::pack::ItemStamp::NotYetTimestamped));
    match check.roots {
        crate::timestamp::pack::RootsUsed::Pack(roots) => {
            assert_eq!(roots.len(), 1);
            assert_eq!(roots[0].0, names::root(1));
            assert_eq!(roots[0].1.sha256.len(), 64);
        }
        other => panic!("roots from the pack expected, got {other:?}"),
    }
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains("Trusted timestamps") && html.contains("not yet timestamped"));
    assert!(
        html.contains("does not prove"),
        "says what it does not prove"
    );
}

#[test]
fn an_edited_chain_fails_verify_naming_the_entry_and_item_even_when_re_signed() {
    let f = fixture();
    let p = stamped_pack(&f);

    // Not re-signed: the hash check names the file.
    let mut files = p.files.clone();
    let mut chain = chain_json(&files);
    chain["entries"][2]["sha256"] = serde_json::json!("ab".repeat(32));
    files.insert(
        names::CHAIN.into(),
        serde_json::to_vec_pretty(&chain).unwrap(),
    );
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::CHAIN, "{err}");

    // Re-signed: the chain no longer links, at the edited entry, naming its item.
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::CHAIN, "{err}");
    assert!(
        err.message
            .starts_with("chain broken at entry 3 (item fine)"),
        "{err}"
    );

    // Re-signed with every head recomputed: the chain links, but no longer logs the capture.
    let mut prev = ballotwatch_store::GENESIS;
    for e in chain["entries"].as_array_mut().unwrap() {
        let mut sha = [0u8; 32];
        hex::decode_to_slice(e["sha256"].as_str().unwrap(), &mut sha).unwrap();
        let head = ballotwatch_store::chain_head(
            &prev,
            e["seq"].as_i64().unwrap(),
            e["item_id"].as_str().unwrap(),
            e["what"].as_str().unwrap(),
            &sha,
        );
        e["prev_head"] = serde_json::json!(hex::encode(prev));
        e["head"] = serde_json::json!(hex::encode(head));
        prev = head;
    }
    files.insert(
        names::CHAIN.into(),
        serde_json::to_vec_pretty(&chain).unwrap(),
    );
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::CHAIN, "{err}");
    assert!(
        err.message
            .starts_with("chain broken at entry 3 (item fine)")
            && err.message.contains("capture 1's body"),
        "{err}"
    );

    // An item pointing at another item's entry.
    let mut files = p.files.clone();
    let mut m: crate::Manifest = serde_json::from_slice(&files[names::MANIFEST]).unwrap();
    let fine = m.items.iter_mut().find(|i| i.item.id == "fine").unwrap();
    fine.capture_log[0].body = 1;
    files.insert(names::MANIFEST.into(), serde_json::to_vec(&m).unwrap());
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert!(
        err.message
            .starts_with("chain broken at entry 1 (item fine): it logs fake `body`"),
        "{err}"
    );

    // A capture swapped for other bytes, the item's entries no longer named: the chain still
    // logs the original capture for the item.
    let mut m = p.manifest.clone();
    m.captures[0].sha256 = "cd".repeat(32);
    for item in &mut m.items {
        item.capture_log.clear();
    }
    let stamps: BTreeMap<String, Vec<u8>> = p
        .files
        .iter()
        .filter(|(k, _)| k.starts_with(names::TIMESTAMPS_DIR))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let err = crate::timestamp::pack::check(&m, &stamps, None).unwrap_err();
    assert_eq!(err.file, names::CHAIN, "{err}");
    assert!(
        err.message
            .starts_with("chain broken at entry 1 (item fake)")
            && err.message.contains("not among the item's captures"),
        "{err}"
    );
    // Unchanged, the same check passes.
    assert!(crate::timestamp::pack::check(&p.manifest, &stamps, None)
        .unwrap()
        .is_some());

    // Malformed JSON is a problem, not a panic.
    let mut files = p.files.clone();
    files.insert(names::CHAIN.into(), b"{\"entries\": [".to_vec());
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, names::CHAIN, "{err}");
}

#[test]
fn an_edited_screenshot_fails_verify_naming_the_item_and_file_even_when_re_signed() {
    let f = fixture();
    let p = stamped_pack(&f);
    let png = p.manifest.items[0].screenshots[0].png.clone().unwrap();
    assert!(p.files.contains_key(&png));

    // The PNG replaced by other bytes, under the same name, and the pack re-signed: the chain
    // still logs the screenshot as taken.
    let mut files = p.files.clone();
    let mut edited = files[&png].clone();
    edited.extend_from_slice(b"edited");
    files.insert(png.clone(), edited);
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, png, "{err}");
    assert!(
        err.message
            .starts_with("item `fake`: chain entry 5 logs its screenshot")
            && err.message.contains("replaced or edited after capture"),
        "{err}"
    );

    // The rendered HTML dropped from the manifest altogether: the chain still names it.
    let mut files = p.files.clone();
    let mut m: crate::Manifest = serde_json::from_slice(&files[names::MANIFEST]).unwrap();
    let html = m.items[0].screenshots[0].html.take().unwrap();
    files.remove(&html);
    files.insert(names::MANIFEST.into(), serde_json::to_vec(&m).unwrap());
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert!(
        err.message.contains("chain entry 6 logs its rendered_html")
            && err.message.contains("holds no rendered_html of this item"),
        "{err}"
    );
}

#[test]
fn a_pack_whose_chain_predates_screenshot_logging_verifies_and_says_what_it_lacks() {
    let f = fixture();
    let p = stamped_pack(&f);
    // As an older store wrote it: the chain logs only bodies and headers.
    let mut files = p.files.clone();
    let mut chain = chain_json(&files);
    chain["entries"].as_array_mut().unwrap().truncate(4);
    files.insert(
        names::CHAIN.into(),
        serde_json::to_vec_pretty(&chain).unwrap(),
    );
    resign(&f, &mut files);
    let v = verify_files(&files, &untrusted()).unwrap();
    let check = v.timestamps.unwrap();
    let shot = &p.manifest.items[0].screenshots[0];
    assert_eq!(
        check.unlogged_files,
        [
            (
                "fake".to_string(),
                shot.png.clone().unwrap(),
                "screenshot".to_string()
            ),
            (
                "fake".to_string(),
                shot.html.clone().unwrap(),
                "rendered_html".to_string()
            ),
        ]
    );
}

#[test]
fn a_token_for_a_different_hash_is_rejected_naming_it() {
    let f = fixture();
    // A genuine token from the recorded test TSA, but for another hash, recorded for the head.
    let token =
        crate::timestamp::parse_response(include_bytes!("../tests/fixtures/timestamp/rsa.tsr"))
            .unwrap();
    let info = crate::timestamp::inspect_token(&token).unwrap();
    let head = f.store.capture_log_head().unwrap().unwrap();
    let id = f
        .store
        .record_timestamp_token(&ballotwatch_store::NewTimestampToken {
            seq: head.seq,
            head: head.head.clone(),
            tsa_url: "http://127.0.0.1:9/rsa".into(),
            token: token.clone(),
            gen_time: info.gen_time,
            requested_at: info.gen_time,
        })
        .unwrap();
    let p = stamped_pack(&f);
    let file = names::token(id);
    assert_eq!(
        crate::timestamp::parse_response(&p.files[&file]).unwrap(),
        token,
        "the token is in the pack verbatim"
    );
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains("could not be checked when it was exported"));

    let err = verify_files(&p.files, &untrusted()).unwrap_err();
    assert_eq!(err.file, file, "{err}");
    assert!(
        err.message
            .starts_with(&format!("token {id} for a different hash")),
        "{err}"
    );
    // Checked against the roots configured for verify rather than the pack's: the same.
    let configured = crate::timestamp::TrustRoots::from_pem(
        include_bytes!("../tests/fixtures/timestamp/root.pem"),
        "root.pem",
    )
    .unwrap();
    let opts = VerifyOptions {
        tsa_roots: Some(configured),
        ..untrusted()
    };
    assert_eq!(verify_files(&p.files, &opts).unwrap_err().file, file);

    // A token record moved to another entry of the chain: named, with the entry.
    let mut files = p.files.clone();
    let mut chain = chain_json(&files);
    chain["tokens"][0]["seq"] = serde_json::json!(1);
    files.insert(
        names::CHAIN.into(),
        serde_json::to_vec_pretty(&chain).unwrap(),
    );
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, file, "{err}");
    assert!(
        err.message.contains("is not for the head of entry 1"),
        "{err}"
    );

    // A token file that is not a timestamp response is named too.
    let mut files = p.files.clone();
    files.insert(file.clone(), b"not DER".to_vec());
    resign(&f, &mut files);
    let err = verify_files(&files, &untrusted()).unwrap_err();
    assert_eq!(err.file, file, "{err}");
}

#[test]
fn the_report_shows_wide_screenshots_as_thumbnails_and_the_pack_keeps_them_full_size() {
    let f = fixture();
    let wide = image::RgbImage::from_fn(1000, 300, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(wide)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let sha = f.store.put_blob(&png).unwrap();
    f.store
        .record_screenshot(&NewScreenshot {
            item_id: "fine".into(),
            url: "https://noticeboard.example/fine".into(),
            attempted_at: Utc.with_ymd_and_hms(2026, 5, 1, 8, 30, 0).unwrap(),
            tool: "Chromium 156".into(),
            outcome: ScreenshotOutcome::Taken {
                png_sha256: sha.clone(),
                png_size: png.len() as u64,
                width: 1000,
                height: 300,
                truncated: false,
                html_sha256: f.store.put_blob(b"<html>fine</html>").unwrap(),
                html_size: 17,
            },
        })
        .unwrap();
    let path = format!("screenshots/{sha}.png");
    let thumb = format!("thumbnails/{sha}.jpg");
    // Taken before thumbnails were kept at capture: the thumbnail is made at export.
    let p = pack(&f);
    assert_eq!(p.files[&path], png, "the pack keeps the full-size PNG");
    let made = crate::thumbnail::thumbnail(&png, 480).unwrap();
    assert_eq!((made.size, &p.files[&thumb]), ((480, 144), &made.bytes));
    assert!(p.manifest.files.iter().any(|e| e.path == thumb));
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(
        html.contains(&format!(
            "(shown here as a reduced copy, 480 px wide, made for this report: <code>{thumb}</code>; \
             the evidence is the full-size screenshot, 1000 × 300 px, <a href=\"{path}\">"
        )) && html.contains(&format!("src=\"{thumb}\" width=\"480\" height=\"144\"")),
        "{html}"
    );
    assert!(!html.contains("data:"));
    // Kept at capture: the kept copy is what the pack holds (not made again).
    let mut other = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(960, 288, image::Rgb([9, 9, 9])))
        .write_to(
            &mut std::io::Cursor::new(&mut other),
            image::ImageFormat::Png,
        )
        .unwrap();
    let other = crate::thumbnail::thumbnail(&other, 480).unwrap();
    let kind = crate::thumbnail::derived_kind(480);
    f.store.put_derived(&kind, &sha, &other.bytes).unwrap();
    assert_eq!(pack(&f).files[&thumb], other.bytes);
    // Asked for full size, the report shows the PNG itself and the pack has no thumbnail.
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let full = PackRequest {
        report_image_width: None,
        ..request(&f)
    };
    let p = build_at(&f.store, &f.key, &full, now).unwrap();
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains(&format!("src=\"{path}\"")) && !p.files.contains_key(&thumb));
}

#[test]
fn a_wacz_carries_the_screenshots_as_resource_records_replay_can_find() {
    let f = fixture();
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let alone = crate::pack::build_wacz_at(&f.store, &request(&f), now).unwrap();
    let files: BTreeMap<String, Vec<u8>> = unzip(&alone.bytes).into_iter().collect();
    let shots = &files[crate::wacz::SCREENSHOTS_WARC_PATH];
    let records = crate::warc::read_all(shots).unwrap();
    assert_eq!(
        records.len(),
        2,
        "a warcinfo, then the one screenshot taken"
    );
    assert_eq!(records[0].header("WARC-Type"), Some("warcinfo"));
    let r = &records[1];
    assert_eq!(r.header("WARC-Type"), Some("resource"));
    assert_eq!(
        r.header("WARC-Target-URI"),
        Some("urn:fullPage:https://noticeboard.example/fake")
    );
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    let png = png();
    assert_eq!(
        r.header("WARC-Payload-Digest"),
        Some(format!("sha256:{}", sha256_hex(&png)).as_str())
    );
    // The index points at exactly that record, in that file, as an image a viewer serves.
    let index = String::from_utf8(files[crate::wacz::INDEX_PATH].clone()).unwrap();
    let line = index
        .lines()
        .find(|l| l.starts_with("urn:fullPage:https://noticeboard.example/fake 20260428181005 "))
        .unwrap_or_else(|| panic!("{index}"));
    let json: serde_json::Value =
        serde_json::from_str(line.splitn(3, ' ').nth(2).unwrap()).unwrap();
    assert_eq!(json["filename"], "screenshots.warc.gz");
    assert_eq!(
        (json["mime"].as_str(), json["status"].as_str()),
        (Some("image/png"), Some("200"))
    );
    let offset: usize = json["offset"].as_str().unwrap().parse().unwrap();
    let length: usize = json["length"].as_str().unwrap().parse().unwrap();
    let one = crate::warc::read_all(&shots[offset..offset + length]).unwrap();
    assert_eq!(
        one[0].header("WARC-Target-URI"),
        r.header("WARC-Target-URI")
    );
    // datapackage.json lists it with its digest.
    let package: serde_json::Value =
        serde_json::from_slice(&files[crate::wacz::DATAPACKAGE]).unwrap();
    assert!(package["resources"].as_array().unwrap().iter().any(|res| {
        res["path"] == crate::wacz::SCREENSHOTS_WARC_PATH
            && res["hash"] == format!("sha256:{}", sha256_hex(shots))
    }));
}

/// The entry of item `id` in a pack's manifest.
fn item_entry<'a>(m: &'a crate::manifest::Manifest, id: &str) -> &'a crate::manifest::ItemEntry {
    m.items
        .iter()
        .find(|i| i.item.id == id)
        .unwrap_or_else(|| panic!("item `{id}` is not in the manifest"))
}

/// Records `item` as read from `capture` (its bytes already stored) by source `source`.
fn record_one(store: &Store, source: &str, capture: Capture, item: Item) {
    let at = capture.started_at;
    store
        .record_poll(
            source,
            PollRecord {
                captures: vec![capture],
                items: vec![(0, item)],
                etag: None,
                last_modified: None,
                cursor: None,
                not_modified: false,
                attempted_at: at,
                next_attempt_at: at,
            },
        )
        .unwrap();
}

#[test]
fn reporters_are_left_out_of_packs_unless_asked_for() {
    let f = fixture();
    let t = Utc.with_ymd_and_hms(2026, 4, 29, 7, 0, 0).unwrap();
    // A report read from the report inbox: its capture is the forwarded message, whose
    // headers name the resident who forwarded it.
    let eml = b"From: Pat Resident <pat@resident.example>\r\nTo: elections@anytown.gov.uk\r\n\
        Subject: Fwd: polling station closed\r\n\r\nIs this true?\r\n";
    let sha256 = f.store.put_blob(eml).unwrap();
    record_one(
        &f.store,
        "Inbox",
        Capture {
            url: "imaps://mail.example/INBOX;UIDVALIDITY=1/;UID=1".into(),
            final_url: "imaps://mail.example/INBOX;UIDVALIDITY=1/;UID=1".into(),
            status: 200,
            headers: vec![("content-type".into(), "message/rfc822".into())],
            sha256: sha256.clone(),
            size: eml.len() as u64,
            started_at: t,
            finished_at: t,
        },
        Item {
            id: "msg".into(),
            source: SourceRef {
                kind: "imap".into(),
                name: "Inbox".into(),
            },
            title: Some("Fwd: polling station closed".into()),
            text: Some("Is this true?".into()),
            ..Item::default()
        },
    );
    f.store
        .record_inbox_reports(
            "Inbox",
            &[ballotwatch_store::InboxReport {
                item_id: "msg".into(),
                reporter: "Pat Resident <pat@resident.example>".into(),
                detail: serde_json::json!({}),
            }],
            ballotwatch_store::no_acknowledgements(),
        )
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let trusting = VerifyOptions::trusting([f.key.public_hex()]);
    let names_pat = |files: &BTreeMap<String, Vec<u8>>| {
        files
            .iter()
            .filter(|(_, b)| {
                b.windows(b"pat@resident".len())
                    .any(|w| w == b"pat@resident")
            })
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
    };

    // By default: the message is withheld (listed with its hash), no file names the reporter,
    // the report says so, and the pack verifies.
    let req = PackRequest {
        items: vec!["msg".into()],
        ..request(&f)
    };
    let p = build_at(&f.store, &f.key, &req, now).unwrap();
    assert_eq!(names_pat(&p.files), Vec::<String>::new());
    let v = verify_files(&p.files, &trusting).unwrap();
    let msg = item_entry(&v.manifest, "msg");
    assert!(msg.capture_ids.is_empty());
    assert_eq!(msg.withheld.len(), 1);
    assert_eq!(msg.withheld[0].sha256, sha256);
    assert_eq!(v.manifest.reporters, None);
    assert!(!p.files.contains_key(names::REPORTERS));
    assert!(!p.files.keys().any(|k| k.ends_with(".eml")));
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains("Reporters left out."), "{html}");
    assert!(html.contains("--include-reporters"));

    // With timestamps the withheld message is still covered: its body's capture-log entry is
    // named (the manifest holds its SHA-256) and verify checks that entry against it.
    let stamped = PackRequest {
        timestamps: true,
        tsa_roots: vec![tsa_root()],
        ..req.clone()
    };
    let p = build_at(&f.store, &f.key, &stamped, now).unwrap();
    let v = verify_files(&p.files, &trusting).unwrap();
    let msg = item_entry(&v.manifest, "msg");
    assert_eq!(msg.capture_log.len(), 1, "{:?}", msg.capture_log);
    assert_eq!(msg.capture_log[0].capture_id, msg.withheld[0].capture_id);
    assert_eq!(msg.capture_log[0].headers, None);
    let chain = chain_json(&p.files);
    let entry = chain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == msg.capture_log[0].body)
        .unwrap();
    assert_eq!(entry["sha256"], sha256.as_str());
    assert_eq!(entry["what"], "body");
    // A withheld hash edited to another one no longer matches its entry, even re-signed.
    let mut files = p.files.clone();
    let manifest = String::from_utf8(files[names::MANIFEST].clone()).unwrap();
    files.insert(
        names::MANIFEST.into(),
        manifest.replace(&sha256, &"0".repeat(64)).into_bytes(),
    );
    resign(&f, &mut files);
    let problem = verify_files(&files, &trusting).unwrap_err();
    assert!(
        problem.to_string().contains("chain broken at entry"),
        "{problem}"
    );

    // Asked for: the message and `reporters.json` are in, and the report says so.
    let req = PackRequest {
        include_reporters: true,
        ..req
    };
    let p = build_at(&f.store, &f.key, &req, now).unwrap();
    let v = verify_files(&p.files, &trusting).unwrap();
    assert_eq!(v.manifest.reporters.as_deref(), Some(names::REPORTERS));
    let msg = item_entry(&v.manifest, "msg");
    assert!(msg.withheld.is_empty());
    assert_eq!(msg.capture_ids.len(), 1);
    assert_eq!(p.files[&format!("captures/{sha256}.eml")], eml.to_vec());
    let reporters: serde_json::Value = serde_json::from_slice(&p.files[names::REPORTERS]).unwrap();
    assert_eq!(
        reporters[0]["reporter"],
        "Pat Resident <pat@resident.example>"
    );
    assert_eq!(reporters[0]["item_id"], "msg");
    let html = String::from_utf8(p.files[names::REPORT_HTML].clone()).unwrap();
    assert!(html.contains("Reporters included."), "{html}");
}

#[test]
fn a_screenshot_that_is_also_a_medium_is_in_the_pack_once() {
    let f = fixture();
    let t = Utc.with_ymd_and_hms(2026, 4, 29, 9, 0, 0).unwrap();
    // A report item whose page screenshot is one of its media (for OCR), as the report desk
    // stores it.
    let png = png();
    let png_sha = f.store.put_blob(&png).unwrap();
    let html_sha = f.store.put_blob(b"<html>the reported page</html>").unwrap();
    let body = b"{\"report\":\"R-000009\"}";
    let body_sha = f.store.put_blob(body).unwrap();
    let page = "https://social.example/groups/anytown/posts/9";
    record_one(
        &f.store,
        "Reports",
        Capture {
            url: "report:R-000009".into(),
            final_url: "report:R-000009".into(),
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            sha256: body_sha,
            size: body.len() as u64,
            started_at: t,
            finished_at: t,
        },
        Item {
            id: "reported".into(),
            source: SourceRef {
                kind: "report".into(),
                name: "Reports".into(),
            },
            url: Some(page.into()),
            text: Some("Seen in a group".into()),
            media: vec![ballotwatch_core::Media {
                url: Some(format!("screenshot:{page}")),
                mime: Some("image/png".into()),
                sha256: Some(png_sha.clone()),
                ..ballotwatch_core::Media::default()
            }],
            ..Item::default()
        },
    );
    f.store
        .record_screenshot(&NewScreenshot {
            item_id: "reported".into(),
            url: page.into(),
            attempted_at: t,
            tool: "Chromium 156".into(),
            outcome: ScreenshotOutcome::Taken {
                png_sha256: png_sha.clone(),
                png_size: png.len() as u64,
                width: 8,
                height: 6,
                truncated: false,
                html_sha256: html_sha,
                html_size: 30,
            },
        })
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let req = PackRequest {
        items: vec!["reported".into()],
        incidents: Vec::new(),
        ..request(&f)
    };
    let p = build_at(&f.store, &f.key, &req, now).unwrap();
    let shot_file = format!("screenshots/{png_sha}.png");
    assert_eq!(p.files[&shot_file], png);
    assert!(
        !p.files.keys().any(|k| k.starts_with("media/")),
        "no second copy: {:?}",
        p.files.keys().collect::<Vec<_>>()
    );
    let item = item_entry(&p.manifest, "reported");
    assert_eq!(item.media.len(), 1);
    assert_eq!(item.media[0].file, shot_file);
    assert_eq!(item.media[0].sha256, png_sha);
    let trusting = VerifyOptions::trusting([f.key.public_hex()]);
    verify_files(&p.files, &trusting).unwrap();
}
