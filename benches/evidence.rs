//! `cargo bench --bench evidence`: time and size of an evidence pack of 1,000 items (each read
//! from its own captured web page, all flagged, all in one incident), written by the real pack
//! writer from a real store on disk, then checked by the real verifier.
//!
//! Baseline, measured in the same run on the same bytes: a plain ZIP (same compression) of the
//! captured bodies alone, with no manifest, signature, SHA256SUMS, WARC or report. The ratio is
//! what the evidence structure costs. Rendering `report.pdf` with Chromium is timed on its own
//! (it is a separate step that depends on the browser, and is skipped if Chromium is absent),
//! from the same report.html, against the tagged PDF it was printed as before (the baseline of
//! that line, measured in the same run).
//!
//! BENCH_EVIDENCE_ITEMS (default 1000) sets the number of items; BENCH_EVIDENCE_RUNS (default 3)
//! how many times each is timed (the median is printed).

use std::io::Write;
use std::time::{Duration, Instant};

use ballotwatch_core::{Capture, ClassifyResult, Item, Severity, SourceRef, Verdict, VerdictKind};
use ballotwatch_evidence::chromium::Chromium;
use ballotwatch_evidence::pack::{build, write_zip, PackRequest};
use ballotwatch_evidence::{verify_file, PackKey, VerifyOptions};
use ballotwatch_store::{PollRecord, Store};
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

fn populate(store: &Store, n: usize) -> (i64, Vec<Vec<u8>>) {
    let now = Utc::now();
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
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
    let t = Instant::now();
    let (incident, bodies) = populate(&store, n);
    println!(
        "set-up: {n} items, {n} captures ({} bytes of bodies) stored in {:.1} s",
        bodies.iter().map(Vec::len).sum::<usize>(),
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
    };
    let out = dir.path().join("pack.zip");
    let mut times = Vec::new();
    let mut size = 0;
    let mut html = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let content = build(&store, &key, &request).unwrap();
        size = write_zip(&content, &out).unwrap().1;
        times.push(t.elapsed());
        html = content.files["report.html"].clone();
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
        format!("evidence pack, {n} items (no PDF)"),
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
        Ok(chromium) => pdf(&chromium, &html, runs),
        Err(why) => println!("report.pdf not timed: {why}"),
    }
}

/// Times `report.pdf` from the pack's `report.html` as the pack prints it (untagged) against
/// the tagged PDF it was printed as before, alternating the two so both see the same load.
fn pdf(chromium: &Chromium, html: &[u8], runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("report.html");
    std::fs::write(&h, html).unwrap();
    let limit = Duration::from_secs(600);
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let (mut old_size, mut new_size) = (0, 0);
    for _ in 0..runs {
        let p = dir.path().join("tagged.pdf");
        let t = Instant::now();
        chromium.print_to_tagged_pdf(&h, &p, limit).unwrap();
        old.push(t.elapsed());
        old_size = std::fs::metadata(&p).unwrap().len();
        let p = dir.path().join("report.pdf");
        let t = Instant::now();
        chromium.print_to_pdf(&h, &p, limit).unwrap();
        new.push(t.elapsed());
        new_size = std::fs::metadata(&p).unwrap().len();
    }
    let (old, new) = (median(old), median(new));
    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  1.0x (PDF baseline; report.html {} bytes)",
        "baseline: tagged report.pdf (as before issue 21)",
        old.as_secs_f64() * 1e3,
        old_size,
        html.len()
    );
    println!(
        "{:<52} {:>9.1} ms  {:>11} bytes  {:.2}x time, {:.2}x size",
        "report.pdf as the pack prints it (untagged)",
        new.as_secs_f64() * 1e3,
        new_size,
        new.as_secs_f64() / old.as_secs_f64(),
        new_size as f64 / old_size as f64
    );
}
