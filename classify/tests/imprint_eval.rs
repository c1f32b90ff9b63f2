//! Evaluation of the digital imprint check on `tests/eval/imprints.jsonl` (see its README):
//! campaign material with and without imprints (in the post, its images' text or the
//! author's bio), incomplete imprints, and the hard negatives — residents' opinions, news
//! quoting a campaign, the council's guidance and candidates' other posts. Prints precision,
//! recall and false-positive rate per split; fails below precision 0.95 and recall 0.9 on the
//! `test` split, which is never used to tune the detector.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ballotwatch_classify::detectors::impersonation::ProtectedIdentities;
use ballotwatch_classify::detectors::imprint::ImprintDetector;
use ballotwatch_classify::enrich::with_media_text;
use ballotwatch_classify::Detector;
use ballotwatch_core::{Author, Item, MediaText};
use ballotwatch_pipeline::Config;

fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/eval")
}

#[derive(serde::Deserialize)]
struct Row {
    split: String,
    label: bool,
    kind: String,
    text: String,
    handle: Option<String>,
    bio: Option<String>,
    image_text: Option<String>,
}

fn item(row: &Row) -> Item {
    let item = Item {
        id: "eval".into(),
        text: Some(row.text.clone()),
        author: row.handle.as_ref().map(|h| Author {
            handle: Some(h.clone()),
            bio: row.bio.clone(),
            verified: None,
            followers: None,
            created_at: None,
            ..Default::default()
        }),
        ..Default::default()
    };
    // Text read from an image joins the item's text the way the classifier's OCR step does.
    let texts: Vec<MediaText> = row
        .image_text
        .iter()
        .map(|t| MediaText {
            media: 0,
            sha256: None,
            text: t.clone(),
            text_fraction: 0.5,
        })
        .collect();
    with_media_text(&item, &texts).into_owned()
}

#[test]
fn imprint_check_meets_its_floor_on_the_test_split() {
    let config =
        Config::load(&eval_dir().join("imprint-identities.toml")).expect("eval identities load");
    let detector =
        ImprintDetector::new(Arc::new(ProtectedIdentities::new(&config.identities))).unwrap();
    let text = std::fs::read_to_string(eval_dir().join("imprints.jsonl")).expect("eval set");
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("eval line is JSON"))
        .collect();
    let mut floor = None;
    for split in ["tune", "dev", "test"] {
        let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
        for row in rows.iter().filter(|r| r.split == split) {
            let got = !detector.detect(&item(row)).unwrap().is_empty();
            match (row.label, got) {
                (true, true) => tp += 1,
                (true, false) => {
                    fn_ += 1;
                    println!("  missed ({}): {}", row.kind, row.text);
                }
                (false, true) => {
                    fp += 1;
                    println!("  false alarm ({}): {}", row.kind, row.text);
                }
                (false, false) => tn += 1,
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        let fpr = fp as f64 / (fp + tn).max(1) as f64;
        println!(
            "imprint {split}: precision {precision:.3} recall {recall:.3} FPR {fpr:.3} (tp {tp} fp {fp} tn {tn} fn {fn_})"
        );
        if split == "test" {
            floor = Some((precision, recall, tp + fn_, fp + tn));
        }
    }
    let (precision, recall, positives, negatives) = floor.expect("a test split");
    assert!(
        positives >= 10 && negatives >= 10,
        "the test split is too small"
    );
    assert!(
        precision >= 0.95 && recall >= 0.9,
        "imprint check below its floor on the test split: precision {precision:.3}, recall {recall:.3}"
    );
}
