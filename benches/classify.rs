//! `cargo bench --bench classify`: texts/s through the classifier (the narrative detector:
//! segmenting, tokenizing, ONNX inference, scoring, thresholds) against the baseline of raw
//! `Session::run` on the same pre-tokenised batches, both in one run; and peak RSS.
//!
//! Texts are all the posts and sentences of `tests/eval/claims.jsonl` (short social posts and
//! news sentences), repeated `BENCH_CLASSIFY_ROUNDS` times (default 3), classified in batches
//! of `[detectors] batch_size` items as `classify` and the pipeline do.
//! Needs `models/install`.

use std::path::Path;
use std::time::Instant;

use ballotwatch_classify::detectors::narratives::segments;
use ballotwatch_classify::onnx::{self, Encoder};
use ballotwatch_classify::Classifier;
use ballotwatch_core::Item;
use ballotwatch_pipeline::Config;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config::from_toml(
        &format!(
            "data_dir = \".\"\n[detectors]\nmodels_dir = \"{}\"\n",
            root.join("models").display()
        ),
        Path::new("<bench>"),
    )
    .expect("bench config");
    let rounds: usize = std::env::var("BENCH_CLASSIFY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let eval = std::fs::read_to_string(root.join("tests/eval/claims.jsonl")).expect("eval set");
    let texts: Vec<String> = eval
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    let items: Vec<Item> = (0..rounds)
        .flat_map(|r| {
            texts.iter().enumerate().map(move |(i, t)| Item {
                id: format!("{r}-{i}"),
                text: Some(t.clone()),
                ..Item::default()
            })
        })
        .collect();
    let batch = config.detectors.batch_size;

    let started = Instant::now();
    let classifier =
        Classifier::from_config(config.classify()).expect("classifier (run models/install)");
    println!(
        "classifier start-up (session + narrative embeddings): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let encoder = Encoder::shared(
        &onnx::models_dir(&config.detectors).expect("models folder (run models/install)"),
        onnx::TEXT_ENCODER,
        &config.detectors,
    )
    .expect("encoder");

    // Baseline input: exactly the token batches the detector will run, tokenised up front.
    let mut token_batches = Vec::new();
    let mut segment_count = 0;
    for chunk in items.chunks(batch) {
        let segs: Vec<String> = chunk
            .iter()
            .flat_map(|i| segments(&i.full_text()))
            .collect();
        segment_count += segs.len();
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        token_batches.extend(
            encoder
                .token_batches(&refs)
                .expect("tokenize")
                .into_iter()
                .map(|(_, b)| b),
        );
    }

    // Warm up both paths once.
    let _ = encoder.run(&token_batches[0]).expect("run");
    let _ = classifier.classify_batch(&items[..batch.min(items.len())]);

    let t = Instant::now();
    for b in &token_batches {
        std::hint::black_box(encoder.run(b).expect("run"));
    }
    let raw = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut flagged = 0;
    for chunk in items.chunks(batch) {
        flagged += classifier
            .classify_batch(chunk)
            .iter()
            .filter(|r| r.flagged)
            .count();
    }
    let pipeline = t.elapsed().as_secs_f64();

    let n = items.len() as f64;
    println!(
        "{} texts ({} segments, {} model batches of up to {batch}), {} flagged",
        items.len(),
        segment_count,
        token_batches.len(),
        flagged
    );
    println!(
        "  raw Session::run on pre-tokenised batches (baseline) {:>8.1} texts/s  1.00x",
        n / raw
    );
    println!(
        "  Classifier::classify_batch (segment+tokenize+run+score) {:>8.1} texts/s  {:.2}x baseline",
        n / pipeline,
        raw / pipeline
    );
    if let Some(kib) = peak_rss_kib() {
        println!("  peak RSS {:.0} MiB", kib as f64 / 1024.0);
    }
}
