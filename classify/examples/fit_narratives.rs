//! Fits the narrative detector's calibration on the **tune** split of
//! `tests/eval/claims.jsonl` and prints the `[calibration]` table for
//! `classify/narratives/uk.toml`.
//!
//! Logistic regression on (claim similarity, claim − rebuttal similarity, fact-check cues);
//! then the threshold with the best F1 on the tune split is folded into the bias so the shipped
//! threshold is the classifier's default 0.5. The test split is never read.
//!
//! ```sh
//! cargo run -p ballotwatch-classify --example fit_narratives --release
//! ```

use std::path::Path;

use ballotwatch_classify::detectors::narratives::{
    builtin_library, Calibration, Features, Narratives,
};
use ballotwatch_classify::onnx::{self, Encoder};
use ballotwatch_core::config::DetectorsConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = DetectorsConfig::default();
    let dir = onnx::models_dir(&config);
    let encoder = Encoder::shared(&dir, onnx::TEXT_ENCODER, &config)?;
    let narratives = Narratives::new(encoder, builtin_library()?, None)?;
    let eval = std::fs::read_to_string(root.join("tests/eval/claims.jsonl"))?;
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for line in eval.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line)?;
        if row["split"] != "tune" {
            continue;
        }
        texts.push(row["text"].as_str().unwrap_or_default().to_string());
        labels.push(row["label"].as_bool().unwrap_or(false));
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let matches = narratives.best_matches(&refs)?;
    let feats: Vec<Features> = matches
        .iter()
        .map(|m| {
            m.as_ref().map(|m| m.features).unwrap_or(Features {
                claim: 0.0,
                rebuttal: 0.0,
                cues: 0.0,
            })
        })
        .collect();
    for ((t, l), f) in texts.iter().zip(&labels).zip(&feats) {
        eprintln!(
            "{} c={:.3} r={:.3} k={} {t}",
            if *l { "+" } else { "-" },
            f.claim,
            f.rebuttal,
            f.cues
        );
    }
    let (shifted, tune_f1) = fit(&feats, &labels);
    // Two-fold cross-validation inside the tune split: how well the fitting procedure
    // generalises, without touching the test split.
    let mut cv = Vec::new();
    for fold in 0..2 {
        let pick = |keep: bool| -> (Vec<Features>, Vec<bool>) {
            feats
                .iter()
                .zip(&labels)
                .enumerate()
                .filter(|(i, _)| (i % 2 == fold) == keep)
                .map(|(_, (f, l))| (*f, *l))
                .unzip()
        };
        let (train_f, train_l) = pick(true);
        let (held_f, held_l) = pick(false);
        let (c, _) = fit(&train_f, &train_l);
        cv.push(f1_at(&c, &held_f, &held_l, 0.5));
    }
    eprintln!(
        "tune: {} rows, F1 {:.3} at the shipped threshold; 2-fold CV F1 {:.3}, {:.3}",
        feats.len(),
        tune_f1,
        cv[0],
        cv[1]
    );
    println!("[calibration]");
    println!("bias = {:.3}", shifted.bias);
    println!("claim = {:.3}", shifted.claim);
    println!("margin = {:.3}", shifted.margin);
    println!("cue = {:.3}", shifted.cue);
    println!("stance_gate = {:.2}", shifted.stance_gate);
    println!("min_claim = {:.2}", shifted.min_claim);
    Ok(())
}

/// F1 of a calibration at a threshold.
fn f1_at(c: &Calibration, feats: &[Features], labels: &[bool], t: f32) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (f, &l) in feats.iter().zip(labels) {
        match (c.score(f) >= t, l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    2.0 * tp / (2.0 * tp + fp + fn_)
}

/// Logistic regression (gradient descent, a little L2), then the stance gate and threshold with
/// the best F1 (ties: the threshold nearest 0.5, then the loosest gate), the threshold folded
/// into the bias. Returns the calibration and its F1 at 0.5 on the same rows.
fn fit(feats: &[Features], labels: &[bool]) -> (Calibration, f64) {
    let mut w = [0.0f64; 4];
    let x = |f: &Features| {
        [
            1.0,
            f64::from(f.claim),
            f64::from(f.claim - f.rebuttal),
            f64::from(f.cues),
        ]
    };
    for _ in 0..50_000 {
        let mut g = [0.0f64; 4];
        for (f, &l) in feats.iter().zip(labels) {
            let xi = x(f);
            let z: f64 = w.iter().zip(&xi).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if l { 1.0 } else { 0.0 };
            for j in 0..4 {
                g[j] += (p - y) * xi[j];
            }
        }
        for j in 0..4 {
            let reg = if j == 0 { 0.0 } else { 1e-3 * w[j] };
            w[j] -= 0.5 * (g[j] / feats.len() as f64 + reg);
        }
    }
    let cal = |bias: f64, stance_gate: f32, min_claim: f32| Calibration {
        bias: bias as f32,
        claim: w[1] as f32,
        margin: w[2] as f32,
        cue: w[3] as f32,
        stance_gate,
        min_claim,
    };
    // (F1, threshold, stance gate, min claim); the loosest gates are tried first and kept on ties.
    let mut best = (0.0f64, 0.5f32, 1.0f32, 0.0f32);
    // The stance rule is fixed: a segment closer to a correction than to the claim is never a
    // claim (gate 0); only the claim floor and threshold are tuned.
    for gate in [0] {
        for min_claim in (0..=12).map(|m| if m == 0 { 0.0 } else { 0.38 + m as f32 * 0.02 }) {
            for step in 5..=95 {
                let c = cal(w[0], gate as f32 / 100.0, min_claim);
                let t = step as f32 / 100.0;
                let f1 = f1_at(&c, feats, labels, t);
                if f1 > best.0 + 1e-9
                    || ((f1 - best.0).abs() < 1e-9 && (t - 0.5).abs() < (best.1 - 0.5).abs())
                {
                    best = (f1, t, c.stance_gate, min_claim);
                }
            }
        }
    }
    let t = f64::from(best.1);
    let shifted = cal(w[0] - (t / (1.0 - t)).ln(), best.2, best.3);
    let f1 = f1_at(&shifted, feats, labels, 0.5);
    (shifted, f1)
}
