//! End to end: the narrative detector through the real `ballotwatch classify` — a false claim is
//! flagged with an explanation and rebuttal, its debunk is not, a missing model is a clear
//! error, and precision/recall/F1 on the test split of `tests/eval/claims.jsonl` at the shipped
//! threshold, with no debunk on it flagged.

use crate::common;

use common::tools::Tool;
use common::{Classified, Workspace};

fn item(text: &str) -> serde_json::Value {
    serde_json::json!({"source": {"kind": "rss", "name": "Echo"}, "url": format!("https://echo.example/{}", text.len()), "text": text})
}

#[test]
fn classify_flags_a_false_claim_with_explanation_and_rebuttal_but_not_its_debunk() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new("");
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(
        &[
            item("Heads up everyone: you have to use a pen on Thursday, the pencils in the booth let them rub out your vote"),
            item("Myth: you must use a pen. Fact: you can use a pen or the pencil provided, and your vote counts either way."),
            item("Riverside ward result: Jane Okafor (Green) elected with 1,204 votes."),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["flagged"], true, "{}", out[0]);
    let v = &out[0]["verdicts"][0];
    assert_eq!(v["kind"], "misinformation");
    assert_eq!(v["label"], "election_process_claim");
    assert_eq!(v["detector"], "narratives");
    assert_eq!(v["evidence"]["narrative"], "pen-pencil");
    let explanation = v["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("pen-pencil") && explanation.contains("Correct position"),
        "{explanation}"
    );
    assert!(
        v["rebuttal"].as_str().unwrap().contains("pencil provided"),
        "{v}"
    );
    assert_eq!(out[1]["flagged"], false, "debunk flagged: {}", out[1]);
    assert_eq!(out[2]["flagged"], false, "result flagged: {}", out[2]);
}

#[test]
fn a_missing_model_is_exit_2_naming_the_install_command() {
    let ws = Workspace::new("[detectors]\nmodels_dir = \"no-models-here\"\n");
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(&[item("Use a pen")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(out.is_empty());
    assert!(stderr.contains("models/install"), "{stderr}");
    assert!(stderr.contains("no-models-here"), "{stderr}");
}

/// A copy of the `ballotwatch` binary at `dir/rel` (a hard link when the file system allows).
fn binary_at(dir: &std::path::Path, rel: &str) -> std::path::PathBuf {
    let to = dir.join(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let from = env!("CARGO_BIN_EXE_ballotwatch");
    if std::fs::hard_link(from, &to).is_err() {
        std::fs::copy(from, &to).unwrap();
    }
    to
}

/// `classify` of one false claim by the binary at `exe`, run in `cwd` with no models folder
/// configured (no `models_dir`, no BALLOTWATCH_MODELS).
fn classify_from(exe: &std::path::Path, cwd: &std::path::Path) -> common::Run {
    use std::io::Write;
    let ws_config = cwd.join("ballotwatch.toml");
    std::fs::write(&ws_config, "data_dir = \"data\"\n").unwrap();
    let mut child = std::process::Command::new(exe)
        .current_dir(cwd)
        .arg("classify")
        .env_remove("BALLOTWATCH_MODELS")
        .env_remove("BALLOTWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!(
        "{}\n",
        item("You must use a pen, pencil votes are not counted")
    );
    let mut stdin = child.stdin.take().unwrap();
    // A run that stops early (no models: exit 2) may close stdin first.
    let _ = stdin.write_all(line.as_bytes());
    drop(stdin);
    common::Run::from(child.wait_with_output().unwrap())
}

#[test]
fn the_models_are_found_beside_a_cargo_build_from_any_directory_and_the_error_names_every_place() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // The binary reports the real paths (getcwd and /proc/self/exe resolve symlinks).
    let root = t.path().canonicalize().unwrap();
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // A checkout built with cargo: target/debug/ballotwatch and models/ beside target/.
    let checkout = root.join("checkout");
    let exe = binary_at(&checkout, "target/debug/ballotwatch");
    std::os::unix::fs::symlink(common::models_dir(), checkout.join("models")).unwrap();
    let r = classify_from(&exe, &elsewhere);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let result: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(result["flagged"], true, "{result}");

    // No models anywhere: exit 2, naming every place looked in and the install command.
    if std::path::Path::new("/opt/ballotwatch/models/runtime").exists() {
        return; // this machine has them installed: nothing is missing.
    }
    let bare = root.join("bare");
    let exe = binary_at(&bare, "bin/ballotwatch");
    let r = classify_from(&exe, &elsewhere);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for place in [
        elsewhere.join("models"),
        bare.join("bin/models"),
        bare.join("share/ballotwatch/models"),
        "/opt/ballotwatch/models".into(),
    ] {
        assert!(
            r.stderr.contains(&place.display().to_string()),
            "{} not named in: {}",
            place.display(),
            r.stderr
        );
    }
    assert!(r.stderr.contains("models/install"), "{}", r.stderr);
}

/// Floors on the test split at the shipped threshold. Issue 20's target is recall ≥ 0.90 at
/// precision ≥ 0.95; what the detector reaches today (precision 0.964, recall 0.885, F1 0.923 on
/// 132 test rows) is the floor, rounded down, until it gets there. The calibration and threshold
/// are fitted on the other splits only.
const PRECISION_GATE: f64 = 0.96;
const RECALL_GATE: f64 = 0.88;
const F1_GATE: f64 = 0.92;

#[test]
fn eval_claims_f1_at_the_shipped_threshold() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new("");
    let eval = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/eval/claims.jsonl"
    ))
    .unwrap();
    let rows: Vec<serde_json::Value> = eval
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 400, "the eval set has {} rows", rows.len());
    let test: Vec<&serde_json::Value> = rows.iter().filter(|r| r["split"] == "test").collect();
    let items: Vec<serde_json::Value> = test
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"id": format!("eval-{i}"), "text": r["text"]}))
        .collect();
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(&items);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.len(), test.len());
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0f64, 0.0, 0.0, 0.0);
    let mut debunks_flagged = Vec::new();
    // Test rows are measured, never read for phrasing ideas: errors are listed by row number
    // and narrative, not by their text.
    for (i, (row, result)) in test.iter().zip(&out).enumerate() {
        // This set judges the narrative detector: other detectors' verdicts (a campaign post's
        // missing imprint) do not count here.
        let flagged = result["verdicts"].as_array().is_some_and(|vs| {
            vs.iter().any(|v| {
                v["kind"] == "misinformation" && v["score"].as_f64().is_some_and(|s| s >= 0.5)
            })
        });
        match (flagged, row["label"] == true) {
            (true, true) => tp += 1.0,
            (true, false) => {
                fp += 1.0;
                eprintln!("false positive: test row {i} ({})", row["kind"]);
                if row["kind"] == "debunk" {
                    debunks_flagged.push(i);
                }
            }
            (false, true) => {
                fn_ += 1.0;
                eprintln!("missed: test row {i} ({})", row["narrative"]);
            }
            (false, false) => tn += 1.0,
        }
    }
    let precision = tp / (tp + fp).max(1.0);
    let recall = tp / (tp + fn_).max(1.0);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    println!(
        "eval claims.jsonl test split ({} rows: {} true claims, {} negatives) at the shipped threshold: precision {precision:.3} recall {recall:.3} F1 {f1:.3} (tp {tp} fp {fp} fn {fn_} tn {tn})",
        test.len(),
        tp + fn_,
        fp + tn
    );
    assert!(
        debunks_flagged.is_empty(),
        "debunks flagged on the test split (row numbers): {debunks_flagged:?}"
    );
    assert!(
        precision >= PRECISION_GATE,
        "precision {precision:.3} on the test split is below the required {PRECISION_GATE}"
    );
    assert!(
        recall >= RECALL_GATE,
        "recall {recall:.3} on the test split is below the required {RECALL_GATE}"
    );
    assert!(
        f1 >= F1_GATE,
        "F1 {f1:.3} on the test split is below the required {F1_GATE}"
    );
}
