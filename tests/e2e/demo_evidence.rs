//! End to end: the demo's evidence has trusted time. `demo --once` ingests the recorded election
//! week with its own RFC 3161 TSA ("Ballotwatch demo TSA (not a trusted authority)", on
//! 127.0.0.1, made in the data folder); a pack of every incident, exported afterwards (the TSA
//! gone: nothing is asked of it at export), verifies offline with a trusted capture time per
//! item, the item's media and screenshots included in the capture log, and `openssl ts -verify`
//! agrees on every token in the pack.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ballotwatch_store::Store;
use common::tools::Tool;

const DEMO_TSA: &str = "Ballotwatch demo TSA (not a trusted authority)";

/// `openssl ts -verify` of a pack's token file for the hash `digest`, trusting `root`.
fn openssl_ts_verify(token: &Path, digest: &str, root: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-in"])
        .arg(token)
        .args(["-digest", digest, "-CAfile"])
        .arg(root)
        .output()
        .expect("run openssl ts -verify (Debian: openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification: OK"),
        text,
    )
}

#[test]
fn the_demos_pack_verifies_with_trusted_capture_times_and_openssl_agrees() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // The binary's one `demo --once` pass, copied for this test.
    let common::demo::Once { data, stdout } = common::demo::once(dir.path());
    assert!(
        stdout.contains(&format!(
            "trusted timestamps: {DEMO_TSA} at http://127.0.0.1:"
        )),
        "{stdout}"
    );
    let root = data.join("demo-tsa-root.pem");
    assert!(root.is_file(), "the demo TSA's root is in the data folder");
    let ingested = started.elapsed();

    // Every incident the pass opened, in one pack.
    let store = Store::open(&data).unwrap();
    let incidents = store.list_incidents(None, 100).unwrap();
    assert!(!incidents.is_empty(), "demo --once opens incidents");
    let mut items: Vec<String> = Vec::new();
    for i in &incidents {
        items.extend(store.incident_item_ids(i.incident.id).unwrap());
    }
    items.sort();
    items.dedup();
    assert!(
        store.untimestamped_heads(1).unwrap().is_empty(),
        "demo --once timestamps the capture log's head before it exits"
    );
    drop(store);
    let config = data.join("ballotwatch.toml");
    let pack = dir.path().join("pack.zip");
    let mut args = vec!["export".to_string()];
    for i in &incidents {
        args.extend(["--incident".to_string(), i.incident.id.to_string()]);
    }
    args.extend([
        "--out".to_string(),
        pack.display().to_string(),
        "--no-screenshots".to_string(),
    ]);
    let run = |args: &[String]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("RUST_LOG")
            .env("BALLOTWATCH_MODELS", common::models_dir())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, so, se) = run(&args);
    assert_eq!(code, Some(0), "{so}{se}");

    // verify, offline, with the demo config's roots: a trusted time per item.
    let key = common::signing_public_key(&config);
    let (code, so, se) = run(&[
        "verify".into(),
        pack.display().to_string(),
        "--public-key".into(),
        key,
    ]);
    assert_eq!(code, Some(0), "{so}{se}");
    assert!(
        so.contains("TSA tokens checked against the 1 root certificate(s) in this config's"),
        "{so}"
    );
    for id in &items {
        let line = so
            .lines()
            .find(|l| l.starts_with(&format!("item {id}: ")))
            .unwrap_or_else(|| panic!("no line for item {id}:\n{so}"));
        assert!(
            line.contains("captured no later than 20") && line.contains(DEMO_TSA),
            "{line}"
        );
    }
    assert!(
        !so.contains("is not in the capture log"),
        "every medium is in the capture log: {so}"
    );

    // The pack's items carry media, and each one is in the chain for its item.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&pack).unwrap()).unwrap();
    let read = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
        let mut bytes = Vec::new();
        zip.by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&mut zip, "manifest.json")).unwrap();
    let chain: serde_json::Value =
        serde_json::from_slice(&read(&mut zip, "timestamps/chain.json")).unwrap();
    let entries = chain["entries"].as_array().unwrap();
    let mut media = 0;
    for item in manifest["items"].as_array().unwrap() {
        let id = item["item"]["id"].as_str().unwrap();
        for m in item["media"].as_array().unwrap() {
            media += 1;
            let sha = m["sha256"].as_str().unwrap();
            assert!(
                entries.iter().any(|e| e["item_id"] == id
                    && e["sha256"] == sha
                    && (e["what"] == "media" || e["what"] == "frame")),
                "{id}'s {} is not in the chain",
                m["file"]
            );
        }
    }
    assert!(media > 0, "the demo's incidents include pictures");

    // openssl agrees on every token, for the chain's head, trusting the demo TSA's root.
    let head = entries.last().unwrap()["head"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens: Vec<String> = manifest["timestamps"]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert!(!tokens.is_empty());
    for t in &tokens {
        let file = dir.path().join(t.replace('/', "_"));
        std::fs::write(&file, read(&mut zip, t)).unwrap();
        let (ok, text) = openssl_ts_verify(&file, &head, &root);
        assert!(ok, "openssl ts -verify {t}: {text}");
        let other = "00".repeat(32);
        assert!(
            !openssl_ts_verify(&file, &other, &root).0,
            "{t} for another hash"
        );
    }
    eprintln!(
        "demo --once with its TSA: {:.1} s; export + verify + openssl: {:.1} s; {} items, {} media, {} token(s)",
        ingested.as_secs_f64(),
        (started.elapsed() - ingested).as_secs_f64(),
        items.len(),
        media,
        tokens.len()
    );
}
