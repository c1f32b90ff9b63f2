//! End to end: `serve` under signals and kill -9, `classify`, `check-config` and the demo.

use crate::common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::tools::Tool;
use common::{rss_source, FixtureServer, Workspace, BULK_ENTRIES};

const BULK_FEEDS: usize = 8;

fn bulk_config(server: &FixtureServer) -> String {
    (0..BULK_FEEDS)
        .map(|i| rss_source(&format!("Desk {i}"), &server.url(&format!("/bulk/{i}.xml"))))
        .collect()
}

/// How far the pipeline has got: items stored, classified and indexed (0s before the store
/// exists). Read while `serve` may be running (SQLite lets a reader in beside the writer).
fn progress(ws: &Workspace) -> (usize, usize, usize) {
    if !ws.data_dir().join(ballotwatch_store::DB_FILE).exists() {
        return (0, 0, 0);
    }
    let Ok(store) = ballotwatch_store::Store::open(&ws.data_dir()) else {
        return (0, 0, 0);
    };
    let stored = store.count_items().unwrap_or(0) as usize;
    let unclassified = store
        .pending_classification(100_000)
        .map_or(stored, |p| p.len());
    let unindexed = store.pending_index(100_000).map_or(stored, |p| p.len());
    (
        stored,
        stored.saturating_sub(unclassified),
        stored.saturating_sub(unindexed),
    )
}

#[test]
fn kill_9_mid_ingest_then_restart_loses_and_duplicates_nothing() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    // The kills land mid-parse on purpose: the poison-work quarantine counts a SIGKILL during a
    // parse as an unfinished attempt (docs/security.md), which is not what this test is about.
    let ws = Workspace::new(&format!(
        "{}[limits]\nquarantine_after = 10\n",
        bulk_config(&server)
    ));
    let expected = BULK_FEEDS * BULK_ENTRIES;

    // Kill `serve` at several points of its first passes: each round waits until the process
    // has moved an item on (stored, classified or indexed one more than before it started), so
    // the kill lands while it works, then kills it after a growing delay: while fetching and
    // storing, while classifying, while indexing.
    for delay_ms in [0, 100, 300, 700, 1500] {
        let before = progress(&ws);
        let mut child = ws
            .cmd(&["serve"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        // (Nothing can move on once everything is stored, classified and indexed.)
        let finished = before == (expected, expected, expected);
        while !finished && progress(&ws) == before && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (stored, classified, indexed) = progress(&ws);
        eprintln!(
            "kill -9 {delay_ms} ms after progress: {stored} of {expected} stored, {classified} \
             classified, {indexed} indexed (before: {before:?})"
        );
        assert!(
            finished || progress(&ws) != before,
            "serve made no progress in 60 s"
        );
        assert!(
            stored <= expected,
            "after kill at {delay_ms} ms: {stored} items > {expected}"
        );
        let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
        assert_eq!(
            stored,
            store.count_latest_items().unwrap() as usize,
            "no item was stored twice"
        );
    }

    // Restart: everything arrives exactly once, and the index agrees with the store.
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    assert_eq!(store.count_items().unwrap() as usize, expected);
    assert_eq!(store.pending_classification(10).unwrap().len(), 0);
    assert_eq!(store.pending_index(10).unwrap().len(), 0);
    let hits = ws.search_json("*");
    assert_eq!(hits.len(), expected.min(1000));
    let index =
        ballotwatch_index::SearchIndex::open_existing(&ws.data_dir().join("index")).unwrap();
    assert_eq!(index.num_docs() as usize, expected);
    let ids: HashSet<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), hits.len(), "no duplicate documents");
}

#[test]
fn serve_makes_items_searchable_and_stops_cleanly_on_sigterm() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(&rss_source(
        "Anytown Echo",
        &server.url("/feeds/anytown-echo.xml"),
    ));
    let mut child = ws
        .cmd(&["serve"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let start = Instant::now();
    let found = loop {
        let r = ws.run(&["search", "pencil", "--json"]);
        if r.code == 0 && r.stdout.lines().count() == 1 {
            break true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let searchable_after = start.elapsed();

    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(found, "the item never became searchable:\n{stderr}");
    eprintln!("searchable {searchable_after:?} after serve started");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

#[test]
fn classify_answers_every_line_in_order_and_names_bad_lines() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new("");
    let input = concat!(
        r#"{"id": "a1", "source": {"kind": "rss", "name": "Leeds Live"}, "text": "Polling stations open at 7am"}"#,
        "\n",
        r#"{"text": "no closing brace""#,
        "\n\n",
        r#"{"source": {"kind": "bluesky", "name": "Bsky"}, "url": "https://bsky.app/profile/x/post/1", "title": "A post"}"#,
        "\n",
        r#"{"id": "empty"}"#,
        "\n"
    );
    let r = ws.run_with_stdin(&["classify"], input);
    let (stdout, stderr) = (r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0]["id"], "a1");
    assert_eq!(lines[0]["flagged"], false);
    assert_eq!(lines[0]["severity"], "none");
    assert_eq!(lines[0]["verdicts"], serde_json::json!([]));
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .contains("not a valid item"));
    assert_eq!(
        lines[2]["id"].as_str().unwrap().len(),
        32,
        "id derived from source and url"
    );
    assert_eq!(lines[3]["line"], 5);
    assert!(
        stderr.contains("line 2:") && stderr.contains("line 5:"),
        "{stderr}"
    );
    assert!(!ws.data_dir().exists(), "classify has no side effects");
}

#[test]
fn check_config_names_file_line_and_field() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // Four mistakes of four sorts in four places: one run names them all.
    let ws = Workspace::new(
        "[[source]]\nname = \"Echo\"\nkind = \"rss\"\nurl = \"https://echo.example/rss\"\nintervl = \"5m\"\n\
         [[source]]\nname = \"Gopher\"\nkind = \"gopher\"\n\
         [server]\nsession_ttl = 12\n\
         [detectors]\nthreshold = 1.5\n",
    );
    let r = ws.run(&["check-config"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for expected in [
        "`source[1].kind`: unknown value `gopher`",
        "`server.session_ttl`: invalid type",
        "`detectors.threshold`: 1.5 is out of range",
    ] {
        assert!(r.stderr.contains(expected), "{expected}: {}", r.stderr);
    }
    assert!(r.stderr.contains("ballotwatch.toml:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("`source[0].intervl`: unknown key"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean `interval`?"),
        "{}",
        r.stderr
    );

    // Every other command refuses the same config with exit 2.
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 2);

    let good = Workspace::new(&rss_source("Echo", "https://echo.example/rss"));
    let r = good.run(&["check-config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Echo [rss] every 10s"), "{}", r.stdout);
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ballotwatch.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .args(["--config", example, "check-config"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_once_runs_offline_end_to_end() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // The binary's one `demo --once` pass, copied for this test.
    let dir = tempfile::tempdir().unwrap();
    let common::demo::Once { data, stdout } = common::demo::once(dir.path());
    let n: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("search \"polling station\": "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(n >= 4, "{stdout}");
    // The demo's data folder works with the ordinary commands.
    let config = data.join("ballotwatch.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .arg("--config")
        .arg(&config)
        .args(["search", "photo ID", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Bring photo ID to vote"));
}

#[test]
fn serve_roles_are_checked_and_the_cluster_table_is_validated() {
    let ws = Workspace::new(&rss_source("Echo", "https://echo.example/rss"));
    // A misspelt role: exit 2, named, with a did-you-mean; before anything starts.
    let r = ws.run(&["serve", "--roles", "ingest,clasify"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unknown role `clasify`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("did you mean `classify`?"),
        "{}",
        r.stderr
    );
    // Embedded mode runs every role in one process.
    let r = ws.run(&["serve", "--roles", "web"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("embedded mode"), "{}", r.stderr);

    let cluster = format!(
        "{}[cluster]\nnats_url = [\"nats://10.0.0.5:4222\", \"nats://10.0.0.6:4222\"]\n\
         postgres_url_env = \"BW_PG\"\nnode_name = \"node-a\"\n",
        rss_source("Echo", "https://echo.example/rss")
    );
    let ws = Workspace::new(&cluster);
    let r = ws.run(&["check-config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("mode:        cluster (node node-a)"),
        "{}",
        r.stdout
    );
    // Cluster mode needs its PostgreSQL URL's variable: a config error (exit 2) naming it,
    // before anything connects (tests/e2e/cluster.rs runs real nodes).
    let r = ws
        .cmd(&["serve", "--roles", "classify"])
        .env_remove("BW_PG")
        .output()
        .unwrap();
    let r = common::Run::from(r);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("BW_PG"), "{}", r.stderr);
    assert!(
        r.stderr.contains("[cluster] postgres_url_env"),
        "{}",
        r.stderr
    );
    // The web role runs on the cluster too (on PostgreSQL): the same config error without the
    // URL's variable, not a refusal of the role.
    let r = ws
        .cmd(&["serve", "--roles", "ingest,web"])
        .env_remove("BW_PG")
        .output()
        .unwrap();
    let r = common::Run::from(r);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("BW_PG"), "{}", r.stderr);

    let ws = Workspace::new(&format!("{cluster}[cluster.classify]\nmax_delivr = 3\n"));
    let r = ws.run(&["check-config"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`cluster.classify.max_delivr`: unknown key"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean `max_deliver`?"),
        "{}",
        r.stderr
    );
}
