//! `cargo run -p ballotwatch-classify --example provenance_eval`: recall and false-positive rate
//! of the provenance detector over a fixture set made here, in memory, with this crate's
//! fixture builders (`detectors::media::provenance::fixtures`):
//!
//! - AI-made (should flag): C2PA manifests signed with a throw-away certificate declaring
//!   `trainedAlgorithmicMedia` / `compositeWithTrainedAlgorithmicMedia` (JPEG and PNG), IPTC XMP
//!   `DigitalSourceType`, an XMP `CreatorTool` naming Midjourney, A1111 `parameters` and ComfyUI
//!   `prompt` PNG chunks, a NovelAI `Software` chunk, EXIF `Software` naming DALL-E 3.
//! - Not AI (must not flag): a C2PA-signed camera capture, camera JPEGs with EXIF make/model
//!   (Canon, Nikon, Apple), a Photoshop-edited JPEG, a GIMP PNG, XMP `digitalCapture` from
//!   Lightroom, plain JPEG and PNG.
//!
//! The metadata is what real tools write, but the pictures are synthetic: this measures the
//! readers and scoring, not how often real-world uploads keep their metadata (platforms often
//! strip it, and then this detector has nothing to say).

use ballotwatch_classify::detectors::media::provenance::fixtures;
use ballotwatch_classify::detectors::media::provenance::ProvenanceDetector;
use ballotwatch_classify::Detector;
use ballotwatch_core::{Item, Media};

fn main() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot make a temporary folder: {e}");
            std::process::exit(3);
        }
    };
    let detector = ProvenanceDetector::new();
    let threshold = 0.5;
    let (mut tp, mut fn_, mut fp, mut tn) = (0, 0, 0, 0);
    println!(
        "{:<26} {:<8} {:<8} {:>5}  label / explanation",
        "fixture", "truth", "flagged", "score"
    );
    for (i, (name, is_ai, bytes)) in fixtures::eval_set().into_iter().enumerate() {
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                eprintln!("cannot build fixture `{name}`: {e}");
                std::process::exit(3);
            }
        };
        let path = dir.path().join(format!("{i}.img"));
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(3);
        }
        let item = Item {
            id: name.into(),
            media: vec![Media {
                path: Some(path),
                ..Media::default()
            }],
            ..Item::default()
        };
        let verdicts = match detector.detect(&item) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(3);
            }
        };
        let best = verdicts.iter().max_by(|a, b| a.score.total_cmp(&b.score));
        let score = best.map(|v| v.score).unwrap_or(0.0);
        let flagged = score >= threshold;
        match (is_ai, flagged) {
            (true, true) => tp += 1,
            (true, false) => fn_ += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
        }
        println!(
            "{name:<26} {:<8} {:<8} {score:>5.2}  {}",
            if is_ai { "ai" } else { "not-ai" },
            flagged,
            best.map(|v| format!("{}: {}", v.label, v.explanation))
                .unwrap_or_else(|| "-".into())
        );
    }
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let fpr = fp as f64 / (fp + tn).max(1) as f64;
    println!("\nprovenance at threshold {threshold}: recall {recall:.3} ({tp}/{}), false-positive rate {fpr:.3} ({fp}/{})", tp + fn_, fp + tn);
}
