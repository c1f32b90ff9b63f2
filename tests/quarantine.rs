//! Poison-work quarantine with the real binary: a stage that aborts the process (no panic, no
//! unwinding, as a stack overflow or an out-of-memory kill does) on one chosen piece of work.
//! After `[limits] quarantine_after` (2) aborted runs the next run quarantines that work and
//! gets everything else done. The abort comes from a fault hook compiled into debug builds only
//! (`BALLOTWATCH_FAULT_ABORT=STAGE:MARKER`).

mod common;

use std::os::unix::process::ExitStatusExt;

use common::tools::Tool;
use common::*;
use sha2::Digest;

const MARKER: &str = "BW-POISON-7f3a";
const FEED: &str = "/feeds/quarantine-poison.xml";

/// `ingest --once` with the fault armed for `stage`; returns the finished run and whether it
/// was killed by SIGABRT. In the poll stage every response's parse is held up for a while
/// first, so that the other sources' parses are in progress when the poison one aborts the
/// process (as they can be in a real crash).
fn run_armed(ws: &Workspace, stage: &str) -> (Run, bool) {
    let mut cmd = ws.cmd(&["ingest", "--once"]);
    cmd.env("BALLOTWATCH_FAULT_ABORT", format!("{stage}:{MARKER}"));
    if stage == "poll" {
        cmd.env("BALLOTWATCH_FAULT_STALL_MS", "1000");
    }
    let out = cmd.output().unwrap();
    let aborted = out.status.signal() == Some(6);
    (Run::from(out), aborted)
}

/// Two aborted runs, each having recorded its attempt before dying.
fn abort_twice(ws: &Workspace, stage: &str) {
    for n in 1..=2 {
        let (r, aborted) = run_armed(ws, stage);
        assert!(
            aborted,
            "run {n} should have aborted in {stage} (exit {}):\n{}\n{}",
            r.code, r.stdout, r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("aborting in stage {stage} on marker {MARKER}")),
            "{}",
            r.stderr
        );
    }
}

fn quarantine_list(ws: &Workspace) -> Vec<serde_json::Value> {
    let r = ws.run(&["quarantine", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(items: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .map(|i| i["url"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

fn item_stage_case(stage: &str) {
    let server = FixtureServer::start();
    let ws = Workspace::new(&rss_source("Castle Notes", &server.url(FEED)));

    abort_twice(&ws, stage);

    // Third start, fault still armed: the poison item is quarantined, the rest is done.
    let (r, aborted) = run_armed(&ws, stage);
    assert!(!aborted && r.code == 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("quarantined"), "{}", r.stderr);
    let held = quarantine_list(&ws);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["stage"], stage);
    assert_eq!(held[0]["source"], "Castle Notes");
    assert_eq!(held[0]["attempts"], 2);
    assert!(
        held[0]["reason"]
            .as_str()
            .unwrap()
            .contains("2 attempts did not finish"),
        "{held:?}"
    );
    let poison_id = held[0]["what"].as_str().unwrap().to_string();
    let searched = ws.search_json("*");
    assert_eq!(
        ids(&searched),
        [
            "https://castle-notes.example/1",
            "https://castle-notes.example/3"
        ],
        "the others are classified and indexed"
    );

    // More runs do not try it again, nor announce it again.
    let (r, aborted) = run_armed(&ws, stage);
    assert!(!aborted && r.code == 0, "{}", r.stderr);
    assert!(!r.stderr.contains("quarantined;"), "{}", r.stderr);

    // The human table names it and says what to do.
    let table = ws.run(&["quarantine", "list"]);
    assert!(table.stdout.contains(&poison_id), "{}", table.stdout);
    assert!(
        table.stdout.contains("quarantine retry ID"),
        "{}",
        table.stdout
    );

    // Retry once the cause is gone (here: the fault disarmed): it goes through.
    let id = held[0]["id"].to_string();
    let r = ws.run(&["quarantine", "retry", &id, "--actor", "tester"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(quarantine_list(&ws).is_empty());
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(ws.search_json("*").len(), 3);
    // Unknown ids are reported, not ignored.
    assert_eq!(ws.run(&["quarantine", "drop", "999"]).code, 1);
}

#[test]
fn an_item_whose_classification_aborts_is_quarantined_and_the_rest_are_classified() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    item_stage_case("classify");
}

#[test]
fn an_item_whose_indexing_aborts_is_quarantined_and_the_rest_are_indexed() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    item_stage_case("index");
}

#[test]
fn a_response_whose_parse_aborts_is_quarantined_and_other_sources_carry_on() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(&format!(
        "{}{}",
        rss_source("Castle Notes", &server.url(FEED)),
        rss_source("Anytown Echo", &server.url("/feeds/anytown-echo.xml"))
    ));

    abort_twice(&ws, "poll");

    let (r, aborted) = run_armed(&ws, "poll");
    assert!(!aborted, "{}", r.stderr);
    assert_eq!(r.code, 1, "one source failed:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        // Polled fine: new items, or "not modified" when an aborted run had already stored them.
        row(&r.stdout, "Anytown Echo").contains("ok")
            || row(&r.stdout, "Anytown Echo").contains("not modified"),
        "{}",
        r.stdout
    );
    let castle = row(&r.stdout, "Castle Notes");
    assert!(
        castle.contains("ERROR") && castle.contains("quarantined"),
        "{castle}"
    );

    let held = quarantine_list(&ws);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["stage"], "poll");
    assert_eq!(held[0]["what"], server.url(FEED));
    // The response's bytes are kept in the capture store.
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds/quarantine-poison.xml"),
    )
    .unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&body));
    assert_eq!(held[0]["sha256"], sha.as_str());
    let blob = ws
        .data_dir()
        .join("captures")
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(std::fs::read(blob).unwrap(), body);
    // The other source's items are stored and searchable; none of the quarantined feed's.
    let searched = ws.search_json("*");
    assert!(!searched.is_empty());
    assert!(
        searched
            .iter()
            .all(|i| i["source"]["name"] == "Anytown Echo"),
        "{searched:?}"
    );
    // The source's health says why.
    let sources = ws.run(&["sources"]);
    assert!(sources.stdout.contains("quarantined"), "{}", sources.stdout);

    // Dropped: never parsed again, still refused, the record kept.
    let id = held[0]["id"].to_string();
    let r = ws.run(&["quarantine", "drop", &id, "--actor", "tester"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(quarantine_list(&ws).is_empty());
    let all = ws.run(&["quarantine", "list", "--json", "--all"]);
    assert!(all.stdout.contains("\"dropped\""), "{}", all.stdout);
    let (r, aborted) = run_armed(&ws, "poll");
    assert!(!aborted && r.code == 1, "{}", r.stderr);

    // Retried: with the cause gone the feed is read.
    let r = ws.run(&["quarantine", "retry", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        ws.search_json("source:\"Castle Notes\"").len(),
        3,
        "{}",
        r.stdout
    );
}
