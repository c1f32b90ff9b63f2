//! End to end: the real binary ingests recorded feeds from a real HTTP server on 127.0.0.1, and
//! the same code the CLI uses finds them.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use common::tools::Tool;
use common::{row, rss_source, FixtureServer, Workspace};

#[test]
fn ingest_then_search_then_ingest_again_adds_nothing() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(
        &[
            rss_source("Anytown Echo", &server.url("/feeds/anytown-echo.xml")),
            rss_source(
                "Anytown Borough Council",
                &server.url("/feeds/anytown-council.atom"),
            ),
            rss_source(
                "Riverside Gazette",
                &server.url("/feeds/riverside-gazette.xml"),
            ),
            rss_source("Cafe Society", &server.url("/feeds/non-utf8-latin1.xml")),
        ]
        .concat(),
    );

    let first = ws.run(&["ingest", "--once"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        row(&first.stdout, "Anytown Echo").contains("  5  "),
        "{}",
        first.stdout
    );
    assert!(
        row(&first.stdout, "Anytown Borough Council").contains("  3  "),
        "{}",
        first.stdout
    );
    assert!(
        row(&first.stdout, "Riverside Gazette").contains("  2  "),
        "{}",
        first.stdout
    );
    assert!(
        row(&first.stdout, "Cafe Society").contains("  2  "),
        "{}",
        first.stdout
    );

    // Phrase search with highlights, from RSS and Atom alike.
    let hits = ws.search_json("\"polling station\"");
    assert!(hits.len() >= 4, "{hits:#?}");
    for hit in &hits {
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(
            snippet.to_lowercase().contains("<b>polling</b>"),
            "{snippet}"
        );
        assert_eq!(hit["flagged"], false, "{hit}");
        assert_eq!(hit["severity"], "none");
        assert!(hit["verdicts"].as_array().unwrap().is_empty(), "{hit:#}");
        assert!(hit["id"].as_str().unwrap().len() == 32);
    }
    let sources: HashSet<&str> = hits
        .iter()
        .map(|h| h["source"]["name"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains("Anytown Echo") && sources.contains("Anytown Borough Council"),
        "{sources:?}"
    );

    // The Echo's Riverside story, as stored: text, sanitized html, links, author, watch terms.
    let story = ws.search_json("\"Mill Lane community centre\" source:\"Anytown Echo\"");
    assert_eq!(story.len(), 1, "{story:#?}");
    let s = &story[0];
    assert_eq!(
        s["url"],
        "https://www.anytown-echo.example/politics/riverside-polling-station-moves-1042"
    );
    assert_eq!(s["author"]["display_name"], "Priya Shah");
    assert_eq!(s["published_at"], "2026-04-28T16:40:00Z");
    assert!(s["text"]
        .as_str()
        .unwrap()
        .contains("open from 7am to 10pm"));
    assert!(s["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "https://www.anytown.gov.uk/elections/polling-stations"));
    let terms: Vec<&str> = s["matched_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        terms.contains(&"polling station") && terms.contains(&"Riverside ward"),
        "{terms:?}"
    );

    // Enclosures, Media RSS and images in the content become item media.
    let media_of = |query: &str| -> Vec<String> {
        let hits = ws.search_json(query);
        assert_eq!(hits.len(), 1, "{query}: {hits:#?}");
        hits[0]["media"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["url"].as_str().unwrap().to_string())
            .collect()
    };
    let hustings = media_of("packed source:\"Riverside Gazette\"");
    assert!(
        hustings
            .iter()
            .any(|m| m.ends_with("/images/hustings-stage-large.jpg")),
        "{hustings:?}"
    );
    assert!(
        hustings
            .iter()
            .any(|m| m.ends_with("/images/hustings-crowd.jpg")),
        "{hustings:?}"
    );
    let podcast = media_of("podcast source:\"Riverside Gazette\"");
    assert_eq!(
        podcast,
        ["https://riverside-gazette.example/audio/episode-41.mp3"]
    );

    // The ISO-8859-1 feed is decoded, not mangled.
    let cafe = ws.search_json("café");
    assert!(!cafe.is_empty(), "the Latin-1 feed's items are searchable");
    assert!(
        cafe.iter().any(|h| h["text"]
            .as_str()
            .unwrap()
            .contains("Señora Núñez and Zoë Brontë")),
        "{cafe:#?}"
    );

    // Conditional GET: every source answers 304 and nothing new is stored.
    let before_304 = server.state.not_modified.load(Ordering::SeqCst);
    let second = ws.run(&["ingest", "--once"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        server.state.not_modified.load(Ordering::SeqCst) - before_304,
        4
    );
    for name in [
        "Anytown Echo",
        "Anytown Borough Council",
        "Riverside Gazette",
        "Cafe Society",
    ] {
        assert!(
            row(&second.stdout, name).ends_with("not modified"),
            "{}",
            second.stdout
        );
    }
    assert_eq!(ws.search_json("*").len(), 12);

    // The store is the source of truth: reindex rebuilds the same index.
    let reindex = ws.run(&["reindex"]);
    assert_eq!(reindex.code, 0, "{}", reindex.stderr);
    assert!(
        reindex.stdout.contains("reindexed 12 items"),
        "{}",
        reindex.stdout
    );
    assert_eq!(ws.search_json("\"polling station\"").len(), hits.len());
}

#[test]
fn a_server_without_validators_still_gets_no_duplicates_across_restarts() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(&rss_source(
        "Echo",
        &server.url("/nocache/anytown-echo.xml"),
    ));
    for round in 0..3 {
        let r = ws.run(&["ingest", "--once"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let expect = if round == 0 {
            "  5        0          0"
        } else {
            "  0        0          5"
        };
        assert!(
            row(&r.stdout, "Echo").contains(expect),
            "round {round}:\n{}",
            r.stdout
        );
    }
    assert_eq!(server.state.hits("/nocache/anytown-echo.xml"), 3);
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    assert_eq!(store.count_items().unwrap(), 5);
    assert_eq!(
        store.count_captures().unwrap(),
        3,
        "every fetch is recorded as evidence"
    );
}

#[test]
fn a_growing_and_edited_feed_adds_only_what_changed() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(&rss_source("Growing", &server.url("/growing.xml")));
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        row(&r.stdout, "Growing").contains("  3        0          0"),
        "{}",
        r.stdout
    );

    server.state.growing_len.store(5, Ordering::SeqCst);
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        row(&r.stdout, "Growing").contains("  2        0          3"),
        "{}",
        r.stdout
    );

    server.state.growing_edit.store(1, Ordering::SeqCst);
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        row(&r.stdout, "Growing").contains("  0        1          4"),
        "{}",
        r.stdout
    );

    // Search shows the latest version; the earlier one is still held.
    let hits = ws.search_json("correction");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["version"], 2);
    assert!(
        ws.search_json("\"Update 1 on\"").is_empty(),
        "the index holds the latest version only"
    );
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let id = hits[0]["id"].as_str().unwrap();
    let versions = store.item_versions(id).unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0]
        .item
        .text
        .as_deref()
        .unwrap()
        .starts_with("Update 1 on"));
    assert_eq!(ws.search_json("*").len(), 5);
}

#[test]
fn broken_sources_fail_alone_with_errors_that_name_them() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let dead_port = common::free_port();
    let ws = Workspace::new(&format!(
        "{}{}{}{}{}",
        rss_source("Good Echo", &server.url("/feeds/anytown-echo.xml")),
        rss_source("Broken Blog", &server.url("/feeds/malformed.xml")),
        rss_source("Huge Feed", &server.url("/huge.xml")),
        rss_source("Redirect Loop", &server.url("/redirect/8")),
        rss_source(
            "Dead Server",
            &format!("http://127.0.0.1:{dead_port}/feed.xml")
        ),
    ));
    // Tighter limits for this test.
    let config = std::fs::read_to_string(ws.config()).unwrap().replace(
        "[ingest]\n",
        "[ingest]\nmax_response_size = \"1 MiB\"\nmax_redirects = 3\n",
    );
    std::fs::write(ws.config(), config).unwrap();

    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(
        r.code, 1,
        "a failed source is a reported problem:\n{}\n{}",
        r.stdout, r.stderr
    );
    assert!(
        row(&r.stdout, "Good Echo").contains("  5  "),
        "{}",
        r.stdout
    );

    let broken = row(&r.stdout, "Broken Blog");
    assert!(
        broken.contains("ERROR") && broken.contains("Broken Blog"),
        "{broken}"
    );
    assert!(
        broken.contains(&server.url("/feeds/malformed.xml")),
        "{broken}"
    );

    let huge = row(&r.stdout, "Huge Feed");
    assert!(huge.contains("1 MiB") || huge.contains("1.0 MiB"), "{huge}");
    assert!(huge.contains(&server.url("/huge.xml")), "{huge}");

    let redirects = row(&r.stdout, "Redirect Loop");
    assert!(redirects.to_lowercase().contains("redirect"), "{redirects}");
    assert!(
        server.state.hits("/redirect/4") <= 1 && server.state.hits("/redirect/3") == 0,
        "at most 3 redirects were followed"
    );

    let dead = row(&r.stdout, "Dead Server");
    assert!(dead.contains(&format!("127.0.0.1:{dead_port}")), "{dead}");

    // The good source's items are stored and searchable; the errors are in source health.
    assert_eq!(ws.search_json("*").len(), 5);
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let state = store.source_state("Broken Blog").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 1);
    assert!(state.last_error.unwrap().contains("Broken Blog"));
    assert!(state.next_attempt_at.is_some());
    assert!(store
        .source_state("Good Echo")
        .unwrap()
        .unwrap()
        .last_success_at
        .is_some());
}

#[test]
fn an_entry_nesting_a_hundred_thousand_elements_is_stored_cut_with_the_others() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // Issue 17: such an entry overflowed the stack in the HTML walk and aborted the process,
    // losing the feed's ordinary entries with it, poll after poll.
    let server = FixtureServer::start();
    let ws = Workspace::new(&format!(
        "[limits]\nmax_item_text = \"16 KiB\"\n\n{}",
        rss_source("Nested", &server.url("/nested/100000"))
    ));
    let started = std::time::Instant::now();
    let r = ws.run(&["ingest", "--once"]);
    eprintln!("ingest --once of the nested feed: {:?}", started.elapsed());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        row(&r.stdout, "Nested").contains("  4        0          0"),
        "{}",
        r.stdout
    );
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    assert_eq!(store.count_items().unwrap(), 4);
    let hits = ws.search_json("*");
    assert_eq!(hits.len(), 4);
    let hostile = hits
        .iter()
        .find(|h| h["title"] == "Deeply nested post")
        .expect("the hostile entry is stored");
    let reason = hostile["truncated"].as_str().unwrap();
    assert!(reason.contains("max_html_depth"), "{reason}");
    assert!(reason.contains("max_item_text"), "{reason}");
    let text = hostile["text"].as_str().unwrap();
    assert!(text.starts_with("Hostile post."), "{}", &text[..40]);
    assert!(text.len() + "Deeply nested post".len() <= 16 * 1024);
    for h in hits.iter().filter(|h| h["title"] != "Deeply nested post") {
        assert!(h.get("truncated").is_none(), "{h}");
    }
    assert!(ws.search_json("\"Castle ward polling station\"").len() == 1);

    // And `serve` polls the same feed and stays up.
    let mut child = ws
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.state.hits("/nested/100000") < 2 {
        assert!(std::time::Instant::now() < deadline, "serve never polled");
        assert!(child.try_wait().unwrap().is_none(), "serve stopped");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "serve stopped after the poll"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn ingest_rejects_an_unknown_source_name() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let ws = Workspace::new(&rss_source(
        "Anytown Echo",
        &server.url("/feeds/anytown-echo.xml"),
    ));
    let r = ws.run(&["ingest", "--once", "--source", "Anytown Ech"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `Anytown Echo`?"),
        "{}",
        r.stderr
    );
    let r = ws.run(&["ingest", "--once", "--source", "Anytown Echo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn entries_without_link_or_guid_are_kept_versioned_and_what_is_left_out_is_reported() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // Two titled and untitled entries with neither <link> nor <guid>, and one empty entry.
    let server = FixtureServer::start();
    let source = |file: &str| rss_source("Untracked", &server.url(&format!("/nocache/{file}")));
    let ws = Workspace::new(&source("untracked-v1.xml"));
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line = row(&r.stdout, "Untracked");
    assert!(line.contains("  2        0          0"), "{}", r.stdout);
    assert!(
        line.contains("ok; 1 entry left out: entry 3 of 3 has no title, text or media"),
        "{}",
        r.stdout
    );

    let r = ws.run(&["sources", "--json"]);
    let health: serde_json::Value = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["name"] == "Untracked")
        .unwrap_or_else(|| panic!("no Untracked row in {}", r.stdout));
    assert_eq!(health["items_dropped"], 1, "{health}");
    assert_eq!(
        health["last_dropped"], "1 entry left out: entry 3 of 3 has no title, text or media",
        "{health}"
    );
    assert!(health["last_dropped_at"].is_string(), "{health}");

    // The feed moves to another URL, its entries change places and the titled one's text is
    // edited: that is a new version of the same item, and the other is not stored again.
    std::fs::write(
        ws.config(),
        std::fs::read_to_string(ws.config())
            .unwrap()
            .replace("untracked-v1.xml", "untracked-v2.xml"),
    )
    .unwrap();
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        row(&r.stdout, "Untracked").contains("  0        1          1"),
        "{}",
        r.stdout
    );
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        row(&r.stdout, "Untracked").contains("  0        0          2"),
        "{}",
        r.stdout
    );

    let hits = ws.search_json("queue");
    assert_eq!(hits.len(), 2, "{hits:?}");
    let edited = hits
        .iter()
        .find(|h| h["title"] == "Polls close at 10pm")
        .unwrap_or_else(|| panic!("{hits:?}"));
    assert_eq!(edited["version"], 2, "{edited}");
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let versions = store.item_versions(edited["id"].as_str().unwrap()).unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(ws.search_json("*").len(), 2);
}
