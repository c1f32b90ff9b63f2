//! `cargo bench --bench evidence`: time and size of an evidence pack of 1,000 items (each read
//! from its own captured web page, with its own full-page screenshot of about 370 KB, all
//! flagged, all in one incident), written by the real pack writer from a real store on disk,
//! then checked by the real verifier.
//!
//! Baseline, measured in the same run on the same bytes: a plain ZIP (same compression) of the
//! captured bodies alone, with no manifest, signature, SHA256SUMS, WARC or report. The ratio is
//! what the evidence structure costs. `report.pdf` (skipped if Chromium is absent) is timed as
//! the pack writer makes it, whole pack included: with the screenshots shown as thumbnails at
//! most 480 px wide (what `export` does) against the same pack with them shown at full size
//! (the baseline of that line, as before issue 21's thumbnails, measured in the same run).
//!
//! BENCH_EVIDENCE_ITEMS (default 1000) sets the number of items; BENCH_EVIDENCE_RUNS (default 3)
//! how many times each pack without PDF is timed, BENCH_EVIDENCE_PDF_RUNS (default 1) each pack
//! with its PDF (the median is printed).

use std::io::Write;
use std::time::{Duration, Instant};

use ballotwatch_core::{Capture, ClassifyResult, Item, Severity, SourceRef, Verdict, VerdictKind};
use ballotwatch_evidence::chromium::Chromium;
use ballotwatch_evidence::pack::{build, write_zip, PackRequest};
use ballotwatch_evidence::{verify_file, PackKey, VerifyOptions};
use ballotwatch_store::{NewScreenshot, PollRecord, ScreenshotOutcome, Store};
use chrono::Utc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A web page of about 6 KB that differs per item (as real pages do).
fn page(i: usize) -> Vec<u8> {
    let mut s = format!(
        "<!DOCTYPE html><html><head><title>Notice {i}</title></head><body><h1>Postal votes: \
         re-register now ({i})</h1>"
    );
    for p in 0..40 {
        s += &format!(
            "<p>Paragraph {p} of notice {i}: Anytown Borough Council says every postal voter must \
             re-register at anytown-gov.uk/renew/{i}/{p} before Friday.</p>"
        );
    }
    s += "</body></html>";
    s.into_bytes()
}

/// Width and height of the synthetic screenshots (a 1280-px-wide browser, a long page).
const SHOT: (u32, u32) = (1280, 1800);

/// A full-page screenshot of item `i`'s page, about 370 KB of PNG: lines of "text" whose
/// lengths differ per item, and a photo-like block of noise.
fn screenshot(i: usize) -> Vec<u8> {
    let (w, h) = SHOT;
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let lines: Vec<u32> = (0..h / 24).map(|_| 200 + (next() % 900) as u32).collect();
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for (row, len) in lines.iter().enumerate() {
        let y0 = row as u32 * 24 + 6;
        for y in y0..(y0 + 12).min(h) {
            for x in 40..(40 + len).min(w) {
                if !(x / 7 + row as u32).is_multiple_of(9) {
                    img.put_pixel(x, y, image::Rgb([30, 30, 40]));
                }
            }
        }
    }
    for y in 300..570 {
        for x in 700..1150 {
            let v = next();
            img.put_pixel(
                x,
                y,
                image::Rgb([v as u8 & 0xf0, (v >> 8) as u8 & 0xf0, 120]),
            );
        }
    }
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The screenshots of items `0..n`, made on every core.
fn screenshots(n: usize) -> Vec<Vec<u8>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); n];
    std::thread::scope(|scope| {
        for (t, part) in out.chunks_mut(n.div_ceil(threads).max(1)).enumerate() {
            let start = t * n.div_ceil(threads).max(1);
            scope.spawn(move || {
                for (k, slot) in part.iter_mut().enumerate() {
                    *slot = screenshot(start + k);
                }
            });
        }
    });
    out
}

fn populate(store: &Store, n: usize) -> (i64, Vec<Vec<u8>>) {
    let now = Utc::now();
    let mut bodies = Vec::with_capacity(n);
    let shots = screenshots(n);
    for (i, png) in shots.iter().enumerate() {
        let body = page(i);
        let sha256 = store.put_blob(&body).unwrap();
        let url = format!("https://noticeboard.example/notices/{i}");
        let record = PollRecord {
            captures: vec![Capture {
                url: url.clone(),
                final_url: url.clone(),
                status: 200,
                headers: vec![
                    ("content-type".into(), "text/html; charset=utf-8".into()),
                    ("server".into(), "nginx".into()),
                    ("date".into(), "Tue, 28 Apr 2026 18:05:00 GMT".into()),
                ],
                sha256,
                size: body.len() as u64,
                started_at: now,
                finished_at: now,
            }],
            items: vec![(
                0,
                Item {
                    id: format!("item-{i:04}"),
                    source: SourceRef {
                        kind: "web".into(),
                        name: "Noticeboard".into(),
                    },
                    url: Some(url),
                    published_at: Some(now),
                    title: Some(format!("Postal votes: re-register now ({i})")),
                    text: Some(format!(
                        "Anytown Borough Council says every postal voter must re-register at \
                         anytown-gov.uk/renew/{i}"
                    )),
                    links: vec![format!("https://anytown-gov.uk/renew/{i}")],
                    ..Item::default()
                },
            )],
            etag: None,
            last_modified: None,
            cursor: None,
            not_modified: false,
            attempted_at: now,
            next_attempt_at: now,
        };
        store.record_poll("Noticeboard", record).unwrap();
        let html_sha256 = store.put_blob(&body).unwrap();
        store
            .record_screenshot(&NewScreenshot {
                item_id: format!("item-{i:04}"),
                url: format!("https://noticeboard.example/notices/{i}"),
                attempted_at: now,
                tool: "Chromium (bench)".into(),
                outcome: ScreenshotOutcome::Taken {
                    png_sha256: store.put_blob(png).unwrap(),
                    png_size: png.len() as u64,
                    width: SHOT.0,
                    height: SHOT.1,
                    truncated: false,
                    html_sha256,
                    html_size: body.len() as u64,
                },
            })
            .unwrap();
        bodies.push(body);
    }
    let pending = store.pending_classification(n + 10).unwrap();
    let results: Vec<_> = pending
        .iter()
        .map(|s| {
            (
                s.seq,
                ClassifyResult {
                    id: s.item.id.clone(),
                    flagged: true,
                    severity: Severity::High,
                    verdicts: vec![Verdict {
                        kind: VerdictKind::Impersonation,
                        label: "lookalike_domain".into(),
                        score: 0.95,
                        detector: "domains".into(),
                        explanation: "links to anytown-gov.uk, a lookalike of anytown.gov.uk \
                                      (Anytown Borough Council): dot replaced by hyphen"
                            .into(),
                        evidence: serde_json::json!({"domain": "anytown-gov.uk"}),
                        rebuttal: None,
                    }],
                    detector_errors: vec![],
                    media_text: Vec::new(),
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
            "bench",
        )
        .unwrap();
    for s in &pending {
        store
            .add_incident_item(inc.id, &s.item.id, "bench")
            .unwrap();
    }
    (inc.id, bodies)
}

fn plain_zip(bodies: &[Vec<u8>], out: &std::path::Path) -> u64 {
    let mut z = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (i, b) in bodies.iter().enumerate() {
        z.start_file(format!("captures/{i}.html"), opts).unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap().sync_all().unwrap();
    std::fs::metadata(out).unwrap().len()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n = env_usize("BENCH_EVIDENCE_ITEMS", 1000);
    let runs = env_usize("BENCH_EVIDENCE_RUNS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let key = PackKey::load_or_create(&dir.path().join("evidence.key")).unwrap();
    let pdf_runs = env_usize("BENCH_EVIDENCE_PDF_RUNS", 1).max(1);
    let t = Instant::now();
    let (incident, bodies) = populate(&store, n);
    println!(
        "set-up: {n} items, {n} captures ({} bytes of bodies), {n} screenshots ({}x{} px, {} bytes \
         of PNG for item 0) stored in {:.1} s",
        bodies.iter().map(Vec::len).sum::<usize>(),
        SHOT.0,
        SHOT.1,
        screenshot(0).len(),
        t.elapsed().as_secs_f64()
    );

    let base_out = dir.path().join("plain.zip");
    let mut base_times = Vec::new();
    let mut base_size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        base_size = plain_zip(&bodies, &base_out);
        base_times.push(t.elapsed());
    }
    let base = median(base_times);

    let request = PackRequest {
        incidents: vec![incident],
        items: vec![],
        actor: "bench".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        user_agent: format!("Ballotwatch/{}", env!("CARGO_PKG_VERSION")),
        detectors: vec![],
        pdf: Err(ballotwatch_evidence::chromium::ChromiumError::Nothing(
            "timed separately",
        )),
        pdf_timeout: Duration::from_secs(600),
        timestamps: false,
        tsa_roots: Vec::new(),
        report_image_width: Some(ballotwatch_evidence::thumbnail::REPORT_WIDTH),
    };
    let out = dir.path().join("pack.zip");
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let content = build(&store, &key, &request).unwrap();
        size = write_zip(&content, &out).unwrap().1;
        times.push(t.elapsed());
    }
    let pack = median(times);
    let t = Instant::now();
    let v = verify_file(&out, &VerifyOptions::trusting([key.public_hex()]))
        .unwrap()
        .unwrap();
    let verify = t.elapsed();

    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  1.0x (baseline)",
        "baseline: plain ZIP of the captured bodies",
        base.as_secs_f64() * 1e3,
        base_size
    );
    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  {:.1}x time, {:.2}x size",
        format!("evidence pack, {n} items + screenshots (no PDF)"),
        pack.as_secs_f64() * 1e3,
        size,
        pack.as_secs_f64() / base.as_secs_f64(),
        size as f64 / base_size as f64
    );
    println!(
        "{:<52} {:>9.1} ms  ({} files checked)  {:.1}x baseline time",
        "verify the pack",
        verify.as_secs_f64() * 1e3,
        v.files,
        verify.as_secs_f64() / base.as_secs_f64()
    );
    match Chromium::find() {
        Ok(chromium) => pdf(
            &store,
            &key,
            &request,
            chromium,
            pdf_runs,
            &dir.path().join("pdf.zip"),
        ),
        Err(why) => println!("report.pdf not timed: {why}"),
    }
}

/// Times the whole pack with `report.pdf`, as `export` writes it (screenshots shown as
/// thumbnails), against the same pack with the screenshots shown at full size (the baseline),
/// alternating the two so both see the same load.
fn pdf(
    store: &Store,
    key: &PackKey,
    request: &PackRequest,
    chromium: Chromium,
    runs: usize,
    out: &std::path::Path,
) {
    let thumbs = PackRequest {
        pdf: Ok(chromium.clone()),
        ..request.clone()
    };
    let full = PackRequest {
        report_image_width: None,
        ..thumbs.clone()
    };
    let time = |req: &PackRequest| {
        let t = Instant::now();
        let content = build(store, key, req).unwrap();
        let pdf = match content.files.get("report.pdf") {
            Some(p) => p.len(),
            None => {
                println!(
                    "  report.pdf not rendered: {:?}",
                    content.manifest.report.pdf_not_rendered
                );
                0
            }
        };
        let html = content.files["report.html"].len();
        write_zip(&content, out).unwrap();
        (t.elapsed(), pdf, html)
    };
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let (mut old_size, mut new_size) = ((0, 0), (0, 0));
    for _ in 0..runs {
        let (t, p, h) = time(&full);
        old.push(t);
        old_size = (p, h);
        let (t, p, h) = time(&thumbs);
        new.push(t);
        new_size = (p, h);
    }
    let (old, new) = (median(old), median(new));
    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  1.0x (PDF baseline; report.html {} bytes)",
        "baseline: pack + report.pdf, full-size screenshots",
        old.as_secs_f64() * 1e3,
        old_size.0,
        old_size.1
    );
    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  {:.2}x time, {:.2}x size (report.html {} bytes)",
        "pack + report.pdf, 480-px thumbnails (as exported)",
        new.as_secs_f64() * 1e3,
        new_size.0,
        new.as_secs_f64() / old.as_secs_f64(),
        new_size.0 as f64 / old_size.0 as f64,
        new_size.1
    );
    println!(
        "report.pdf with screenshots: {:.1} s for the whole pack ({})",
        new.as_secs_f64(),
        if new < Duration::from_secs(15) {
            "under the 15 s target"
        } else {
            "OVER the 15 s target"
        }
    );
}
