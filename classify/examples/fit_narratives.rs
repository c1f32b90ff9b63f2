//! Fits the narrative detector's calibration on the **tune** and **dev** splits of
//! `tests/eval/claims.jsonl` and prints the `[calibration]` table for
//! `classify/narratives/uk.toml`. The test split is never read.
//!
//! Logistic regression on the inputs of `Features::inputs` (claim similarity; claim minus the
//! text's, the segment's, the narrative's own and the background's similarity; the mean of the
//! three best phrasings of the matched narrative; fact-check cues; spreading cues) for the texts
//! that pass the stance gate (a text closer to a correction than to any claim, by more than the
//! gate, is never a claim). Then the threshold with the best F1 on the same rows (ties: nearest
//! 0.5) is folded into the bias, so the shipped threshold is the classifier's default 0.5. The
//! gate is chosen from a small grid: the one with the best F1 among those that flag no debunk
//! of the fitted rows. Five-fold cross-validation inside those rows (each fold's threshold
//! chosen on its own training part) estimates how well this generalises.
//!
//! ```sh
//! cargo run -p ballotwatch-classify --example fit_narratives --release
//! ```

use std::path::Path;

use ballotwatch_classify::detectors::narratives::{
    builtin_library, Calibration, Features, Narratives,
};
use ballotwatch_classify::onnx::{self, Encoder};
use ballotwatch_classify::DetectorsConfig;

/// The splits the calibration is fitted on.
const FIT_SPLITS: [&str; 2] = ["tune", "dev"];
/// Folds of the cross-validation.
const FOLDS: usize = 5;
/// L2 penalty on the weights.
const L2: f64 = 1e-3;
/// The stance gates tried.
const GATES: [f32; 2] = [0.0, 0.02];
/// The extra opening of the gate for a segment negated like its claim (`polarity_gate`) tried.
const POLARITY_GATES: [f32; 3] = [0.03, 0.06, 0.10];
/// The extra opening for reported speech without a cue (`reported_gate`) tried.
const REPORTED_GATES: [f32; 3] = [0.0, 0.04, 0.08];
/// The extra opening for a question without a cue (`question_gate`) tried.
const QUESTION_GATES: [f32; 2] = [0.0, 0.04];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = DetectorsConfig::default();
    let dir = onnx::models_dir(&config)?;
    let encoder = Encoder::shared(&dir, onnx::TEXT_ENCODER, &config)?;
    let narratives = Narratives::new(encoder, builtin_library()?, None)?;
    let eval = std::fs::read_to_string(root.join("tests/eval/claims.jsonl"))?;
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    let mut splits = Vec::new();
    let mut debunk = Vec::new();
    for (n, line) in eval.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("tests/eval/claims.jsonl line {}: {e}", n + 1))?;
        let Some(split) = FIT_SPLITS.iter().find(|s| row["split"] == **s) else {
            continue;
        };
        let text = row["text"]
            .as_str()
            .ok_or_else(|| format!("tests/eval/claims.jsonl line {}: no text", n + 1))?;
        texts.push(text.to_string());
        labels.push(row["label"] == true);
        debunk.push(row["kind"] == "debunk");
        splits.push(*split);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let feats: Vec<Features> = narratives
        .best_matches(&refs)?
        .iter()
        .map(|m| {
            m.as_ref()
                .map(|m| m.features)
                .unwrap_or_else(Features::empty)
        })
        .collect();
    for (((t, l), f), s) in texts.iter().zip(&labels).zip(&feats).zip(&splits) {
        eprintln!(
            "{s} {} c={:.3} r={:.3} r_seg={:.3} r_nar={:.3} bg={:.3} c3={:.3} k={} s={} p={} a={} q={} {t}",
            if *l { "+" } else { "-" },
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
            f.question
        );
    }
    let mut best: Option<(f64, Calibration)> = None;
    let grid = GATES.iter().flat_map(|g| {
        POLARITY_GATES.iter().flat_map(move |p| {
            REPORTED_GATES
                .iter()
                .flat_map(move |r| QUESTION_GATES.iter().map(move |q| [*g, *p, *r, *q]))
        })
    });
    for gates @ [gate, polarity_gate, reported_gate, question_gate] in grid {
        let c = fit(&feats, &labels, &debunk, gates);
        let flagged: Vec<bool> = feats.iter().map(|f| c.score(f) >= 0.5).collect();
        let debunks = flagged
            .iter()
            .zip(&debunk)
            .filter(|(f, d)| **f && **d)
            .count();
        let score = f1(&flagged, &labels);
        eprintln!(
            "stance gate {gate:.2} polarity gate {polarity_gate:.2} reported gate {reported_gate:.2} question gate {question_gate:.2}: fitted {}; {debunks} debunks flagged",
            prf(&flagged, &labels)
        );
        if debunks == 0 && best.as_ref().is_none_or(|b| score > b.0 + 1e-9) {
            best = Some((score, c));
        }
    }
    let cal = match best {
        Some((_, c)) => c,
        None => fit(&feats, &labels, &debunk, [0.0; 4]),
    };
    // Cross-validation: every row is scored by a calibration fitted without it.
    let mut held_out = vec![false; feats.len()];
    for fold in 0..FOLDS {
        let (train_f, train_l): (Vec<Features>, Vec<bool>) = feats
            .iter()
            .zip(&labels)
            .enumerate()
            .filter(|(i, _)| i % FOLDS != fold)
            .map(|(_, (f, l))| (*f, *l))
            .unzip();
        let train_d: Vec<bool> = debunk
            .iter()
            .enumerate()
            .filter(|(i, _)| i % FOLDS != fold)
            .map(|(_, d)| *d)
            .collect();
        let c = fit(
            &train_f,
            &train_l,
            &train_d,
            [
                cal.stance_gate,
                cal.polarity_gate,
                cal.reported_gate,
                cal.question_gate,
            ],
        );
        for (i, f) in feats.iter().enumerate() {
            if i % FOLDS == fold {
                held_out[i] = c.score(f) >= 0.5;
            }
        }
    }
    let flagged: Vec<bool> = feats.iter().map(|f| cal.score(f) >= 0.5).collect();
    for split in FIT_SPLITS {
        let pick = |v: &[bool]| -> (Vec<bool>, Vec<bool>) {
            v.iter()
                .zip(&labels)
                .zip(&splits)
                .filter(|(_, s)| **s == split)
                .map(|((p, l), _)| (*p, *l))
                .unzip()
        };
        let (p, l) = pick(&flagged);
        let (pc, lc) = pick(&held_out);
        eprintln!(
            "{split}: {} rows; fitted {}; {FOLDS}-fold CV {}",
            l.len(),
            prf(&p, &l),
            prf(&pc, &lc)
        );
    }
    eprintln!(
        "all fitted rows: fitted {}; {FOLDS}-fold CV {}",
        prf(&flagged, &labels),
        prf(&held_out, &labels)
    );
    println!("[calibration]");
    println!("bias = {:.3}", cal.bias);
    println!("claim = {:.3}", cal.claim);
    println!("margin = {:.3}", cal.margin);
    println!("segment_margin = {:.3}", cal.segment_margin);
    println!("narrative_margin = {:.3}", cal.narrative_margin);
    println!("background_margin = {:.3}", cal.background_margin);
    println!("claim_top3 = {:.3}", cal.claim_top3);
    println!("cue = {:.3}", cal.cue);
    println!("spread = {:.3}", cal.spread);
    println!("polarity = {:.3}", cal.polarity);
    println!("reported = {:.3}", cal.reported);
    println!("question = {:.3}", cal.question);
    println!("stance_gate = {:.2}", cal.stance_gate);
    println!("polarity_gate = {:.2}", cal.polarity_gate);
    println!("reported_gate = {:.2}", cal.reported_gate);
    println!("question_gate = {:.2}", cal.question_gate);
    println!("min_claim = {:.2}", cal.min_claim);
    Ok(())
}

/// Counts of (true positives, false positives, false negatives).
fn counts(flagged: &[bool], labels: &[bool]) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (&p, &l) in flagged.iter().zip(labels) {
        match (p, l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    (tp, fp, fn_)
}

/// F1 of predictions.
fn f1(flagged: &[bool], labels: &[bool]) -> f64 {
    let (tp, fp, fn_) = counts(flagged, labels);
    2.0 * tp / (2.0 * tp + fp + fn_).max(1.0)
}

/// "precision P recall R F1 F".
fn prf(flagged: &[bool], labels: &[bool]) -> String {
    let (tp, fp, fn_) = counts(flagged, labels);
    format!(
        "precision {:.3} recall {:.3} F1 {:.3}",
        tp / (tp + fp).max(1.0),
        tp / (tp + fn_).max(1.0),
        f1(flagged, labels)
    )
}

/// Logistic regression (gradient descent, L2 on the weights) on the rows that pass the stance
/// gate `stance_gate`, then the threshold with the best F1 (ties: nearest 0.5) among those that
/// flag no debunk (`debunk`) folded into the bias.
fn fit(
    feats: &[Features],
    labels: &[bool],
    debunk: &[bool],
    [stance_gate, polarity_gate, reported_gate, question_gate]: [f32; 4],
) -> Calibration {
    let gate = |bias: f32, w: &[f64; Features::INPUTS]| Calibration {
        bias,
        claim: w[0] as f32,
        margin: w[1] as f32,
        segment_margin: w[2] as f32,
        narrative_margin: w[3] as f32,
        background_margin: w[4] as f32,
        claim_top3: w[5] as f32,
        cue: w[6] as f32,
        spread: w[7] as f32,
        polarity: w[8] as f32,
        reported: w[9] as f32,
        question: w[10] as f32,
        stance_gate,
        polarity_gate,
        reported_gate,
        question_gate,
        min_claim: 0.0,
    };
    let open = gate(0.0, &[0.0; Features::INPUTS]);
    let rows: Vec<([f64; Features::INPUTS], f64)> = feats
        .iter()
        .zip(labels)
        .filter(|(f, _)| open.score(f) > 0.0)
        .map(|(f, &l)| (f.inputs().map(f64::from), if l { 1.0 } else { 0.0 }))
        .collect();
    let mut b = 0.0f64;
    let mut w = [0.0f64; Features::INPUTS];
    let n = rows.len().max(1) as f64;
    for _ in 0..20_000 {
        let mut gb = 0.0;
        let mut g = [0.0f64; Features::INPUTS];
        for (x, y) in &rows {
            let z = b + w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
            let d = 1.0 / (1.0 + (-z).exp()) - y;
            gb += d;
            for j in 0..Features::INPUTS {
                g[j] += d * x[j];
            }
        }
        b -= gb / n;
        for j in 0..Features::INPUTS {
            w[j] -= g[j] / n + L2 * w[j];
        }
    }
    let fitted = gate(b as f32, &w);
    let mut best = (f64::MIN, 0.5f32);
    for step in 5..=95 {
        let t = step as f32 / 100.0;
        let flagged: Vec<bool> = feats.iter().map(|f| fitted.score(f) >= t).collect();
        if flagged.iter().zip(debunk).any(|(f, d)| *f && *d) {
            continue;
        }
        let f = f1(&flagged, labels);
        if f > best.0 + 1e-9
            || ((f - best.0).abs() < 1e-9 && (t - 0.5).abs() < (best.1 - 0.5).abs())
        {
            best = (f, t);
        }
    }
    let t = f64::from(best.1);
    gate((b - (t / (1.0 - t)).ln()) as f32, &w)
}
