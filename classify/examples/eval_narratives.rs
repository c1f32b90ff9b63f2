//! Measures the narrative detector with the shipped library and calibration on every split of
//! `tests/eval/claims.jsonl`: precision, recall, F1 and false-positive rate per split, per error
//! class (rows with a `class` field: the issue-20 classes), and how many debunks are flagged;
//! and the Welsh slice `tests/eval/claims-cy.jsonl` as split `cy`.
//! Nothing is fitted here; misses and false positives are listed for the `tune` and `dev` splits
//! only, so the test split is measured but never used to choose phrasings.
//!
//! ```sh
//! cargo run -p ballotwatch-classify --example eval_narratives
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use ballotwatch_classify::detectors::narratives::{builtin_library, Features, Narratives};
use ballotwatch_classify::onnx::{self, Encoder};
use ballotwatch_classify::DetectorsConfig;

/// True/false positive/negative counts.
#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
    tn: u32,
}

impl Counts {
    fn add(&mut self, flagged: bool, label: bool) {
        match (flagged, label) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tp, fp, fn_, tn) = (
            f64::from(self.tp),
            f64::from(self.fp),
            f64::from(self.fn_),
            f64::from(self.tn),
        );
        write!(
            f,
            "precision {:.3} recall {:.3} F1 {:.3} FPR {:.3} (tp {} fp {} fn {} tn {})",
            tp / (tp + fp).max(1.0),
            tp / (tp + fn_).max(1.0),
            2.0 * tp / (2.0 * tp + fp + fn_).max(1.0),
            fp / (fp + tn).max(1.0),
            self.tp,
            self.fp,
            self.fn_,
            self.tn
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = DetectorsConfig::default();
    let dir = onnx::models_dir(&config)?;
    let encoder = Encoder::shared(&dir, onnx::TEXT_ENCODER, &config)?;
    let library = builtin_library()?;
    let calibration = library.calibration;
    let narratives = Narratives::new(encoder, library, None)?;
    let mut rows = Vec::new();
    // The English set, then the Welsh slice (its own split `cy`).
    for file in ["tests/eval/claims.jsonl", "tests/eval/claims-cy.jsonl"] {
        let eval = std::fs::read_to_string(root.join(file))?;
        for (n, line) in eval.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{file} line {}: {e}", n + 1))?;
            if row["text"].as_str().is_none() {
                return Err(format!("{file} line {}: no text", n + 1).into());
            }
            rows.push(row);
        }
    }
    let texts: Vec<&str> = rows.iter().filter_map(|r| r["text"].as_str()).collect();
    let matches = narratives.best_matches(&texts)?;
    let mut by_split: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_class: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut debunks: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (row, m) in rows.iter().zip(&matches) {
        let f = m
            .as_ref()
            .map(|m| m.features)
            .unwrap_or_else(Features::empty);
        let score = calibration.score(&f);
        let flagged = score >= 0.5;
        let label = row["label"] == true;
        let split = row["split"].as_str().unwrap_or("?").to_string();
        by_split
            .entry(split.clone())
            .or_default()
            .add(flagged, label);
        if split != "cy" {
            by_split
                .entry("all".into())
                .or_default()
                .add(flagged, label);
        }
        if let Some(class) = row["class"].as_str() {
            by_class
                .entry((class.to_string(), split.clone()))
                .or_default()
                .add(flagged, label);
            by_class
                .entry((class.to_string(), "all".into()))
                .or_default()
                .add(flagged, label);
            by_class
                .entry(("new rows".into(), split.clone()))
                .or_default()
                .add(flagged, label);
        }
        if row["kind"] == "debunk" {
            let d = debunks.entry(split.clone()).or_default();
            d.0 += 1;
            d.1 += u32::from(flagged);
        }
        if (split == "tune" || split == "dev") && flagged != label {
            let matched = m
                .as_ref()
                .and_then(|m| narratives.narratives().get(m.narrative))
                .map_or("-", |n| n.id.as_str());
            println!(
                "{split} {} score={score:.2} matched={matched} c={:.3} r={:.3} r_seg={:.3} r_nar={:.3} bg={:.3} c3={:.3} k={} s={} p={} a={} q={} | {}",
                if label { "MISSED" } else { "FALSE+" },
                f.claim,
                f.rebuttal,
                f.segment_rebuttal,
                f.narrative_rebuttal,
                f.background,
                f.claim_top3,
                f.cues,
                f.spread,
                f.polarity,
                f.reported,
                f.question,
                row["text"].as_str().unwrap_or_default()
            );
        }
    }
    for (split, c) in &by_split {
        println!("split {split}: {c}");
    }
    for ((class, split), c) in &by_class {
        println!("class {class} / {split}: {c}");
    }
    for (split, (n, flagged)) in &debunks {
        println!("debunks {split}: {flagged} of {n} flagged");
    }
    // `--speed OLD.toml`: texts/s of this library and of another (say main's
    // `git show main:classify/narratives/uk.toml`) on the same texts, alternating, in one run.
    let args: Vec<String> = std::env::args().collect();
    if let Some(old) = args
        .iter()
        .position(|a| a == "--speed")
        .and_then(|i| args.get(i + 1))
    {
        let old_library: ballotwatch_classify::detectors::narratives::Library =
            toml::from_str(&std::fs::read_to_string(old)?).map_err(|e| format!("{old}: {e}"))?;
        let encoder = Encoder::shared(&dir, onnx::TEXT_ENCODER, &config)?;
        let before = Narratives::new(encoder, old_library, None)?;
        let (mut t_old, mut t_new) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            before.best_matches(&texts)?;
            t_old += t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            narratives.best_matches(&texts)?;
            t_new += t.elapsed().as_secs_f64();
        }
        let n = 3.0 * texts.len() as f64;
        println!(
            "speed: {old} {:.1} texts/s, this library {:.1} texts/s, ratio {:.2}",
            n / t_old,
            n / t_new,
            t_old / t_new
        );
    }
    Ok(())
}
