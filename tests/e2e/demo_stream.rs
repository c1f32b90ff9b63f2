//! End to end: the demo's recorded Bluesky Jetstream through `demo --once`, twice on one data
//! folder. The first pass streams in every recorded event the source subscribes to (the
//! recording's likes are filtered out by the replay server's `wantedCollections`); the second
//! resumes from the stored cursor, so the replay server sends only the events after it (the
//! client's rewind) and nothing is recorded twice.

use crate::common;

use common::tools::Tool;

use std::path::Path;
use std::process::Command;

const STREAM_ROW: &str = "Bluesky (jetstream)";

/// The recorded events a subscriber to posts receives: every line but the likes.
fn subscribed_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/bluesky/jetstream.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["kind"] != "commit" || v["commit"]["collection"] == "app.bsky.feed.post"
        })
        .map(str::to_string)
        .collect()
}

/// `demo --once` on `data`; its stdout.
fn once(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .args(["demo", "--once", "--data-dir"])
        .arg(data)
        .env_remove("RUST_LOG")
        .env_remove("BALLOTWATCH_CONFIG")
        .env("BALLOTWATCH_MODELS", common::models_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The stream row's (new, updated, unchanged, bytes, status).
fn stream_row(stdout: &str) -> (u64, u64, u64, u64, String) {
    let line = common::row(stdout, STREAM_ROW);
    let cols: Vec<&str> = line[STREAM_ROW.len()..].split_whitespace().collect();
    let n = |i: usize| -> u64 {
        cols[i]
            .parse()
            .unwrap_or_else(|_| panic!("column {i} of {line:?}"))
    };
    // kind, new, updated, unchanged, bytes, time, status
    (n(1), n(2), n(3), n(4), cols[6..].join(" "))
}

fn search(data: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .arg("--config")
        .arg(data.join("ballotwatch.toml"))
        .args(["search", query, "--json"])
        .env("BALLOTWATCH_MODELS", common::models_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_second_demo_pass_resumes_the_stream_from_its_cursor() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lines = subscribed_lines();
    let all_bytes: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();

    // The first pass: the binary's one `demo --once` run, copied for this test.
    let common::demo::Once {
        data,
        stdout: first,
    } = common::demo::once(dir.path());
    let (new, updated, unchanged, bytes, status) = stream_row(&first);
    assert_eq!(status, "ok", "{first}");
    // Every subscribed event arrived and was kept as evidence, byte for byte.
    assert_eq!(bytes, all_bytes, "{first}");
    // Nine posts are about the election (watch terms, or the council's own account) and became
    // items; the rest of the stream (gardening, cats, a bakery) did not. One of the nine was
    // edited later in the stream: its edit is the same item, kept in its latest version
    // (counted `unchanged` when both came in one batch, `updated` when they did not).
    assert_eq!(new, 9, "{first}");
    assert_eq!(updated + unchanged, 1, "{first}");
    assert_eq!(search(&data, "\"Good luck to all of them\"").len(), 1);
    let myth = search(&data, "\"vote on Friday 8 May\"");
    assert_eq!(myth.len(), 1, "{myth:#?}");
    assert_eq!(
        myth[0]["author"]["handle"],
        "riverside-mum-of-3.bsky.social"
    );
    assert!(search(&data, "laundry").is_empty());

    // Again on the same data: only the events after the stored cursor (minus the client's
    // 3-second rewind) are sent — in this recording, the last one.
    let second = once(&data);
    let (new, updated, unchanged, bytes, status) = stream_row(&second);
    assert_eq!(status, "ok", "{second}");
    let last = lines.last().unwrap();
    assert_eq!(bytes, last.len() as u64 + 1, "{second}");
    assert_eq!((new, updated, unchanged), (0, 0, 0), "{second}");
    assert_eq!(search(&data, "\"vote on Friday 8 May\"").len(), 1);
}
