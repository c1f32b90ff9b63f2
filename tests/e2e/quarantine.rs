//! Poison-work quarantine with the real binary: a stage that aborts the process (no panic, no
//! unwinding, as a stack overflow or an out-of-memory kill does) on one chosen piece of work.
//! After `[limits] quarantine_after` (2) aborted runs the next run quarantines that work and
//! gets everything else done. The abort comes from a fault hook compiled into debug builds only
//! (`BALLOTWATCH_FAULT_ABORT=STAGE:MARKER`).

use crate::common;

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

fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8, y as u8, seed]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// `[alerts] admin_to`, sent through `smtp`.
fn admin_config(smtp: &Mailbox) -> String {
    format!(
        "[alerts]\nadmin_to = [\"it@anytown.example\"]\n{}",
        smtp.config()
    )
}

#[test]
fn a_medium_whose_capture_aborts_is_quarantined_the_item_kept_and_the_admins_emailed() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    let mut poison = png(1);
    poison.extend_from_slice(MARKER.as_bytes());
    let feed = |base: &str| {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Ward posts</title><link>https://ward.example/</link><description>x</description>
<item><guid>https://ward.example/1</guid><link>https://ward.example/1</link><title>Count venue</title><description>The count is at the town hall.</description><media:content url="{base}/img/ok.png" type="image/png"/></item>
<item><guid>https://ward.example/2</guid><link>https://ward.example/2</link><title>Poster</title><description>A poster about polling stations.</description><media:content url="{base}/img/poster.png" type="image/png"/><media:content url="{base}/img/ok2.png" type="image/png"/></item>
</channel></rss>"#
        )
    };
    let media = serve_bytes(vec![
        ("/img/ok.png", "image/png", png(2)),
        ("/img/ok2.png", "image/png", png(3)),
        ("/img/poster.png", "image/png", poison.clone()),
    ]);
    let feeds = serve_bytes(vec![(
        "/feed.xml",
        "application/rss+xml",
        feed(&media).into_bytes(),
    )]);
    let smtp = SmtpServer::shared("none").mailbox();
    let ws = Workspace::new(&format!(
        "{}{}",
        rss_source("Ward posts", &format!("{feeds}/feed.xml")),
        admin_config(&smtp)
    ));
    let run = |armed: bool| {
        let mut c = ws.cmd(&["ingest", "--once"]);
        c.env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD);
        if armed {
            c.env("BALLOTWATCH_FAULT_ABORT", format!("media:{MARKER}"));
        }
        let out = c.output().unwrap();
        (out.status.signal() == Some(6), Run::from(out))
    };
    for n in 1..=2 {
        let (aborted, r) = run(true);
        assert!(
            aborted,
            "run {n} should abort in media:\n{}\n{}",
            r.stdout, r.stderr
        );
        assert!(r.stderr.contains("aborting in stage media"), "{}", r.stderr);
    }
    let (aborted, r) = run(true);
    assert!(!aborted && r.code == 0, "{}\n{}", r.stdout, r.stderr);

    let held = quarantine_list(&ws);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["stage"], "media");
    assert_eq!(held[0]["source"], "Ward posts");
    assert_eq!(held[0]["what"], format!("{media}/img/poster.png"));
    assert_eq!(held[0]["attempts"], 2);
    let sha = hex::encode(sha2::Sha256::digest(&poison));
    assert_eq!(held[0]["sha256"], sha.as_str());

    // Both items are stored, classified and indexed; the poster is not captured, with the
    // quarantine as its reason; the item's other medium is.
    let items = ws.search_json("*");
    assert_eq!(items.len(), 2, "{items:?}");
    let poster = items
        .iter()
        .find(|i| i["url"] == "https://ward.example/2")
        .unwrap();
    let m = &poster["media"];
    assert!(m[0].get("sha256").is_none(), "{m}");
    let reason = m[0]["capture_error"].as_str().unwrap();
    assert!(
        reason.contains("is quarantined") && reason.contains(&sha),
        "{reason}"
    );
    assert_eq!(m[1]["mime"], "image/png", "{m}");
    // The download itself is kept (as a capture blob).
    let blob = ws
        .data_dir()
        .join("captures")
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(std::fs::read(blob).unwrap(), poison);

    // One notice for the admins was queued, and the same `ingest --once` cycle emailed it.
    let status = ws.run(&["alerts", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["counts"]["sent"], 1, "{status}");
    assert_eq!(status["counts"]["pending"], 0, "{status}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].rcpt_tos, ["it@anytown.example"]);
    let subject = mail[0].header("Subject").unwrap_or_default();
    assert!(
        subject.contains("Quarantined: media work from source Ward posts"),
        "{subject}"
    );
    assert!(
        mail[0].text().contains("quarantine retry"),
        "{}",
        mail[0].data
    );
    // Once: a later run neither quarantines nor notifies again.
    let (aborted, r) = run(true);
    assert!(!aborted && r.code == 0, "{}", r.stderr);
    let status = ws.run(&["alerts", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["counts"]["sent"], 1, "{status}");
    assert_eq!(status["counts"]["pending"], 0, "{status}");
}

/// A websocket server replaying `lines` to every connection (from its `cursor`), then idle.
fn jetstream(lines: Vec<String>) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let lines = lines.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    for line in lines {
                        if ws.send(Message::text(line)).await.is_err() {
                            return;
                        }
                    }
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    format!("ws://{addr}/subscribe")
}

#[test]
fn a_jetstream_message_whose_parse_aborts_is_quarantined_and_the_stream_goes_on() {
    let recorded = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ingest/src/sources/bluesky/testdata/jetstream.jsonl"),
    )
    .unwrap();
    let mut lines: Vec<String> = recorded.lines().map(str::to_string).collect();
    // A post about the polling station with the marker, third in the stream.
    let poison = format!(
        r#"{{"did":"did:plc:poison0poison0poison0abc","time_us":1777543201500000,"kind":"commit","commit":{{"rev":"3lnvbpoison2a","operation":"create","collection":"app.bsky.feed.post","rkey":"3lnvbpoison01","record":{{"$type":"app.bsky.feed.post","createdAt":"2026-04-30T10:00:01.500Z","text":"Anytown polling station {MARKER}"}},"cid":"bafyreipoison"}}}}"#
    );
    lines.insert(2, poison.clone());
    let ws_url = jetstream(lines);
    let appview = serve_bytes(vec![
        (
            "/bsky/xrpc/com.atproto.identity.resolveHandle",
            "application/json",
            br#"{"did":"did:plc:4anytownbc2gov3uk4abcdef"}"#.to_vec(),
        ),
        (
            "/bsky/xrpc/app.bsky.feed.getAuthorFeed",
            "application/json",
            br#"{"feed":[]}"#.to_vec(),
        ),
    ]);
    let ws = Workspace::new(&format!(
        "[[source]]\nname = \"Bluesky live\"\nkind = \"bluesky\"\nappview = \"{appview}/bsky/\"\n\
         actors = [\"anytown.gov.uk\"]\njetstream = true\njetstream_url = \"{ws_url}\"\n\
         interval = \"1h\"\n"
    ));

    abort_twice(&ws, "poll");
    let (r, aborted) = run_armed(&ws, "poll");
    assert!(!aborted, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("quarantined"), "{}", r.stderr);

    let held = quarantine_list(&ws);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["stage"], "poll");
    assert_eq!(held[0]["source"], "Bluesky live");
    assert_eq!(held[0]["attempts"], 2);
    let sha = hex::encode(sha2::Sha256::digest(poison.as_bytes()));
    assert_eq!(held[0]["sha256"], sha.as_str());
    assert!(
        held[0]["what"].as_str().unwrap().contains("(jetstream)"),
        "{held:?}"
    );
    // The other posts of the stream are stored; the poisoned one is not.
    let found = ws.search_json("source:\"Bluesky live\"");
    assert!(!found.is_empty(), "{}\n{}", r.stdout, r.stderr);
    assert!(
        found
            .iter()
            .all(|i| !i["text"].as_str().unwrap_or_default().contains(MARKER)),
        "{found:?}"
    );
    // The stream's health names the quarantined message.
    let sources = ws.run(&["sources"]);
    assert!(sources.stdout.contains("quarantined"), "{}", sources.stdout);
    // More runs skip it without aborting or announcing it again.
    let (r, aborted) = run_armed(&ws, "poll");
    assert!(!aborted, "{}", r.stderr);
    assert!(!r.stderr.contains("quarantined;"), "{}", r.stderr);
    assert_eq!(quarantine_list(&ws).len(), 1);
}
