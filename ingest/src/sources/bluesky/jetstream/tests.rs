//! Jetstream events → items, and a real websocket server on 127.0.0.1 serving recorded events:
//! filtering, resume with the cursor after the server drops the socket, malformed events and
//! the SSRF guard.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::sources::SourceSettings;
use crate::IngestConfig;
use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::*;
use crate::fetcher::Fetcher;
use crate::sources::test_support::{serve, test_ctx, watch};

const EVENTS: &str = include_str!("../testdata/jetstream.jsonl");
const COUNCIL: &str = "did:plc:4anytownbc2gov3uk4abcdef";
const FAKE: &str = "did:plc:fake0anytown0votes0abcde";
/// `time_us` of the first and the last recorded event.
const FIRST_US: i64 = 1_777_543_200_000_000;
const LAST_US: i64 = 1_777_543_208_750_000;

fn events() -> Vec<Event> {
    EVENTS
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn config(jetstream_url: &str, appview: &str, extra: &str) -> BlueskyConfig {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Bluesky\"\nkind = \"bluesky\"\nappview = \"{appview}\"\njetstream = true\njetstream_url = \"{jetstream_url}\"\n{extra}\n"
    ));
    match &cfg.settings {
        SourceSettings::Bluesky(c) => c.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn posts_become_the_same_items_as_the_appview_makes() {
    let ev = events();
    let w = watch();
    // A create with an image blob and a link facet.
    let item = normalise_event(
        "Bluesky",
        &ev[2],
        Some("anytown-council-official.bsky.social"),
        &w,
    )
    .unwrap()
    .unwrap();
    let uri = format!("at://{FAKE}/app.bsky.feed.post/3lnvb3fakepost");
    assert_eq!(item.id, Item::derive_id("Bluesky", &uri));
    assert_eq!(
        item.url.as_deref(),
        Some("https://bsky.app/profile/anytown-council-official.bsky.social/post/3lnvb3fakepost")
    );
    let author = item.author.as_ref().unwrap();
    assert_eq!(
        author.handle.as_deref(),
        Some("anytown-council-official.bsky.social")
    );
    assert_eq!(
        author.url.as_deref(),
        Some(format!("https://bsky.app/profile/{FAKE}").as_str())
    );
    assert_eq!(item.media.len(), 1);
    assert_eq!(
        item.media[0].url.as_deref(),
        Some(format!("https://cdn.bsky.app/img/feed_fullsize/plain/{FAKE}/bafkreifakenoticeimage2xq4yfm3t6k5wbz7r4alq2k3y4d5nplq@jpeg").as_str())
    );
    assert_eq!(item.media[0].mime.as_deref(), Some("image/jpeg"));
    assert_eq!(item.links, vec!["https://anytown-votes-info.com/text"]);
    assert!(item.matched_terms.contains(&"polling station".to_string()));
    assert_eq!(
        item.published_at.map(|t| t.to_rfc3339()),
        Some("2026-04-30T10:00:02.500+00:00".into())
    );

    // Without a known handle the DID is shown; the id does not change.
    let bare = normalise_event("Bluesky", &ev[2], None, &w)
        .unwrap()
        .unwrap();
    assert_eq!(bare.id, item.id);
    assert_eq!(
        bare.url.as_deref(),
        Some(format!("https://bsky.app/profile/{FAKE}/post/3lnvb3fakepost").as_str())
    );
    assert_eq!(bare.author.as_ref().unwrap().handle.as_deref(), Some(FAKE));

    // An external embed is a link.
    let council = normalise_event("Bluesky", &ev[3], None, &w)
        .unwrap()
        .unwrap();
    assert_eq!(
        council.links,
        vec!["https://www.anytown.gov.uk/elections/where-to-vote"]
    );
    assert!(council.media.is_empty());

    // An update is the same item with new content; its video becomes media.
    let updated = normalise_event("Bluesky", &ev[7], None, &w)
        .unwrap()
        .unwrap();
    assert_eq!(updated.id, item.id);
    assert_ne!(updated.content_hash(), bare.content_hash());
    assert_eq!(
        updated.media[0].url.as_deref(),
        Some(format!("https://video.bsky.app/watch/{FAKE}/bafkreifakevideoclip7m2q4yfm3t6k5wbz7r4alq2k3y4d5nplq/playlist.m3u8").as_str())
    );

    // Identity, account, delete and like events are no items.
    for i in [0, 4, 5, 6] {
        assert!(
            normalise_event("Bluesky", &ev[i], None, &w)
                .unwrap()
                .is_none(),
            "event {i}"
        );
    }
}

#[test]
fn a_post_record_of_the_wrong_shape_is_an_error_naming_the_field() {
    let raw = format!(
        r#"{{"did":"{FAKE}","time_us":1,"kind":"commit","commit":{{"rev":"r","operation":"create","collection":"app.bsky.feed.post","rkey":"k","record":{{"text":42}}}}}}"#
    );
    let ev: Event = serde_json::from_str(&raw).unwrap();
    let err = normalise_event("Bluesky", &ev, None, &watch()).unwrap_err();
    assert!(
        matches!(&err, EventError::BadRecord { path, .. } if path == "text"),
        "{err:?}"
    );
    assert!(err.to_string().contains("at `text`"), "{err}");
    let raw = format!(
        r#"{{"did":"{FAKE}","time_us":1,"kind":"commit","commit":{{"rev":"r","operation":"create","collection":"app.bsky.feed.post","rkey":"k"}}}}"#
    );
    let ev: Event = serde_json::from_str(&raw).unwrap();
    assert!(normalise_event("Bluesky", &ev, None, &watch()).is_err());
}

#[test]
fn blob_cids_must_look_like_cids() {
    assert_eq!(
        blob_cid(&serde_json::json!({"ref": {"$link": "bafkreiabc"}})),
        Some("bafkreiabc")
    );
    assert_eq!(
        blob_cid(&serde_json::json!({"cid": "bafkreiabc"})),
        Some("bafkreiabc")
    );
    assert_eq!(
        blob_cid(&serde_json::json!({"ref": {"$link": "../../x"}})),
        None
    );
    assert_eq!(blob_cid(&serde_json::json!({})), None);
}

/// A Jetstream server: replays the recorded events from the `cursor` it is given (all of them
/// without one), then stays open; the first connection is dropped after `drop_after` events.
#[derive(Default)]
struct Jet {
    lines: Vec<String>,
    drop_after: Option<usize>,
    /// The query string of every connection.
    queries: Mutex<Vec<String>>,
}

impl Jet {
    fn cursors(&self) -> Vec<Option<i64>> {
        self.queries
            .lock()
            .unwrap()
            .iter()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "cursor")
                    .map(|(_, v)| v.parse().unwrap())
            })
            .collect()
    }
}

async fn jetstream_server(jet: Arc<Jet>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut connection = 0usize;
        while let Ok((tcp, _)) = listener.accept().await {
            connection += 1;
            let jet = jet.clone();
            tokio::spawn(async move {
                let seen = Arc::new(Mutex::new(String::new()));
                let keep = seen.clone();
                // The error type is tungstenite's, fixed by its `Callback` trait.
                #[allow(clippy::result_large_err)]
                let callback = move |req: &Request, resp: Response| {
                    *keep.lock().unwrap() = req.uri().query().unwrap_or_default().to_string();
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                let query = seen.lock().unwrap().clone();
                jet.queries.lock().unwrap().push(query.clone());
                let cursor: Option<i64> = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "cursor")
                    .map(|(_, v)| v.parse().unwrap());
                let mut sent = 0usize;
                for line in &jet.lines {
                    let t = serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v["time_us"].as_i64());
                    if let (Some(c), Some(t)) = (cursor, t) {
                        if t < c {
                            continue;
                        }
                    }
                    if connection == 1 && jet.drop_after == Some(sent) {
                        // Drop the socket without a close frame, like a crashed server.
                        return;
                    }
                    if ws.send(Message::text(line.clone())).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                // Stay open (idle) until the client leaves.
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    format!("ws://{addr}/subscribe")
}

async fn appview() -> String {
    async fn resolve(Query(q): Query<BTreeMap<String, String>>) -> Json<serde_json::Value> {
        assert_eq!(q.get("handle").map(String::as_str), Some("anytown.gov.uk"));
        Json(serde_json::json!({ "did": COUNCIL }))
    }
    serve(Router::new().route("/xrpc/com.atproto.identity.resolveHandle", get(resolve))).await
}

/// Runs connections the way the pipeline does: each batch "committed" (its state becomes the
/// cursor) as it arrives, reconnecting after a failure, until caught up with the last event.
async fn run_to_end(
    source: &JetstreamSource,
    ctx: &PollContext,
) -> (Vec<Poll>, Vec<SourceError>, Vec<SourceError>) {
    let mut cursor = Cursor::default();
    let (mut polls, mut problems, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let until = StreamUntil::CaughtUp(DateTime::from_timestamp_micros(LAST_US).unwrap());
    for _ in 0..5 {
        let (tx, mut rx) = mpsc::channel(64);
        let result = source.run(ctx, &cursor, until, &tx).await;
        drop(tx);
        while let Some(ev) = rx.recv().await {
            match ev {
                StreamEvent::Batch(p) => {
                    cursor.state = p.state.clone();
                    polls.push(p);
                }
                StreamEvent::Problem(e) => problems.push(e),
            }
        }
        match result {
            Ok(()) => return (polls, problems, failures),
            Err(e) => failures.push(e),
        }
    }
    panic!("never caught up: {failures:?}");
}

#[tokio::test]
async fn reconnects_with_the_cursor_after_a_drop_without_gaps() {
    let jet = Arc::new(Jet {
        lines: EVENTS.lines().map(str::to_string).collect(),
        drop_after: Some(4),
        ..Jet::default()
    });
    let url = jetstream_server(jet.clone()).await;
    let appview = appview().await;
    let source = JetstreamSource::new(
        "Bluesky",
        &config(&url, &appview, "actors = [\"anytown.gov.uk\"]"),
    );
    let (polls, problems, failures) = run_to_end(&source, &test_ctx()).await;
    assert!(problems.is_empty(), "{problems:?}");

    // The drop is an error naming the source and the URL, then one reconnect.
    assert_eq!(failures.len(), 1, "{failures:?}");
    let msg = failures[0].to_string();
    assert!(
        msg.starts_with("source `Bluesky`: could not fetch ws://"),
        "{msg}"
    );
    assert!(msg.contains("the server closed the connection"), "{msg}");
    assert!(failures[0].is_transient());

    // The second connection resumed from the last event handed over, minus the rewind.
    let cursors = jet.cursors();
    assert_eq!(cursors.len(), 2);
    assert_eq!(cursors[0], None);
    let committed_before_drop = FIRST_US + 3 * 1_250_000;
    assert_eq!(cursors[1], Some(committed_before_drop - 3_000_000));

    // Every post is there (no gap); the replayed ones are the very same items.
    let mut distinct: HashSet<(String, String)> = HashSet::new();
    for p in &polls {
        for (_, item) in &p.items {
            distinct.insert((item.id.clone(), item.content_hash()));
        }
    }
    let ids: HashSet<&str> = distinct.iter().map(|(id, _)| id.as_str()).collect();
    let fake = Item::derive_id(
        "Bluesky",
        &format!("at://{FAKE}/app.bsky.feed.post/3lnvb3fakepost"),
    );
    let council = Item::derive_id(
        "Bluesky",
        &format!("at://{COUNCIL}/app.bsky.feed.post/3lnvb4council1"),
    );
    assert_eq!(ids, HashSet::from([fake.as_str(), council.as_str()]));
    // The fake post and its update (two versions) and the council's post: nothing doubled.
    assert_eq!(distinct.len(), 3, "{distinct:?}");

    // The handle from the identity event is on the fake post; the council's from the actors.
    let by_id = |id: &str| {
        polls
            .iter()
            .flat_map(|p| &p.items)
            .find(|(_, i)| i.id == id)
            .map(|(_, i)| i.clone())
            .unwrap()
    };
    assert_eq!(
        by_id(&fake).author.unwrap().handle.as_deref(),
        Some("anytown-council-official.bsky.social")
    );
    assert_eq!(
        by_id(&council).url.as_deref(),
        Some("https://bsky.app/profile/anytown.gov.uk/post/3lnvb4council1")
    );

    // Captures hold the raw events, named by the subscribe URL with its cursor.
    let last = polls.last().unwrap();
    let (capture, body) = &last.captures[0];
    assert_eq!(capture.status, 101);
    assert!(capture
        .url
        .contains(&format!("cursor={}", committed_before_drop - 3_000_000)));
    assert_eq!(capture.sha256, sha256_hex(body));
    assert!(
        String::from_utf8_lossy(body).ends_with(&format!("{}\n", EVENTS.lines().last().unwrap()))
    );
    assert_eq!(
        last.state,
        Some(serde_json::json!({
            "time_us": LAST_US,
            "handles": {FAKE: "anytown-council-official.bsky.social", COUNCIL: "anytown.gov.uk"}
        }))
    );

    // After a restart (a new source, the stored state) the replayed update is the same item
    // version: the handle comes back from the state, not from the identity event.
    let restarted = JetstreamSource::new(
        "Bluesky",
        &config(&url, &appview, "actors = [\"anytown.gov.uk\"]"),
    );
    let (tx, mut rx) = mpsc::channel(64);
    let cursor = Cursor {
        state: last.state.clone(),
        ..Cursor::default()
    };
    let until = StreamUntil::CaughtUp(DateTime::from_timestamp_micros(LAST_US).unwrap());
    restarted
        .run(&test_ctx(), &cursor, until, &tx)
        .await
        .unwrap();
    drop(tx);
    let mut replayed = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let StreamEvent::Batch(p) = ev {
            replayed.extend(
                p.items
                    .into_iter()
                    .map(|(_, i)| (i.id.clone(), i.content_hash())),
            );
        }
    }
    assert!(!replayed.is_empty());
    assert!(
        replayed.iter().all(|r| distinct.contains(r)),
        "{replayed:?}"
    );
    // Terms are watched, so Jetstream is not asked to filter by DID.
    assert!(jet.queries.lock().unwrap()[0].contains("wantedCollections=app.bsky.feed.post"));
    assert!(!jet.queries.lock().unwrap()[0].contains("wantedDids"));
}

#[tokio::test]
async fn a_malformed_event_is_reported_and_the_stream_goes_on() {
    let mut lines: Vec<String> = EVENTS.lines().map(str::to_string).collect();
    lines.insert(2, "{\"did\": \"did:plc:x\", \"time_us\": ".into());
    let jet = Arc::new(Jet {
        lines,
        ..Jet::default()
    });
    let url = jetstream_server(jet).await;
    let appview = appview().await;
    let source = JetstreamSource::new(
        "Bluesky",
        &config(&url, &appview, "actors = [\"anytown.gov.uk\"]"),
    );
    let (polls, problems, failures) = run_to_end(&source, &test_ctx()).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let msg = problems[0].to_string();
    assert!(
        msg.starts_with(&format!("source `Bluesky`: {url}?wantedCollections=app.bsky.feed.post is not a valid Jetstream event: ")),
        "{msg}"
    );
    assert!(
        msg.contains("event starts `{\"did\": \"did:plc:x\""),
        "{msg}"
    );
    let items: HashSet<String> = polls
        .iter()
        .flat_map(|p| &p.items)
        .map(|(_, i)| i.id.clone())
        .collect();
    assert_eq!(items.len(), 2, "the posts after the bad event are read");
    let raw: String = polls
        .iter()
        .map(|p| String::from_utf8_lossy(&p.captures[0].1).into_owned())
        .collect();
    assert!(
        raw.contains("{\"did\": \"did:plc:x\", \"time_us\": \n"),
        "the bad bytes are kept as evidence"
    );
}

#[tokio::test]
async fn without_terms_jetstream_filters_by_the_actors_dids() {
    let jet = Arc::new(Jet {
        lines: EVENTS.lines().map(str::to_string).collect(),
        ..Jet::default()
    });
    let url = jetstream_server(jet.clone()).await;
    let appview = appview().await;
    let source = JetstreamSource::new(
        "Bluesky",
        &config(&url, &appview, "actors = [\"anytown.gov.uk\"]"),
    );
    let mut ctx = test_ctx();
    ctx.watch = WatchTerms::new::<&str>(&[]);
    let (polls, _, _) = run_to_end(&source, &ctx).await;
    let q = jet.queries.lock().unwrap()[0].clone();
    assert!(
        q.contains(&format!("wantedDids={}", COUNCIL.replace(':', "%3A"))),
        "{q}"
    );
    // This server ignores wantedDids; the client still keeps only the actor's posts.
    let ids: Vec<String> = polls
        .iter()
        .flat_map(|p| &p.items)
        .map(|(_, i)| i.id.clone())
        .collect();
    assert_eq!(
        ids,
        vec![Item::derive_id(
            "Bluesky",
            &format!("at://{COUNCIL}/app.bsky.feed.post/3lnvb4council1")
        )]
    );
}

#[tokio::test]
async fn a_private_address_is_refused_unless_allowed() {
    let jet = Arc::new(Jet::default());
    let url = jetstream_server(jet.clone()).await;
    let source = JetstreamSource::new(
        "Bluesky",
        &config(
            &url,
            "https://public.api.bsky.app",
            "queries = [\"Anytown\"]",
        ),
    );
    let cfg = IngestConfig::default();
    let ctx = PollContext {
        fetcher: Fetcher::new(&cfg, "test").unwrap(),
        watch: watch(),
        lookalikes: None,
    };
    let (tx, _rx) = mpsc::channel(4);
    let err = source
        .run(&ctx, &Cursor::default(), StreamUntil::Stopped, &tx)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "127.0.0.1 is a loopback address; set [ingest] allow_private_addresses = true to allow"
        ),
        "{msg}"
    );
    assert!(msg.contains(&url), "{msg}");
    assert!(jet.queries.lock().unwrap().is_empty(), "nothing was sent");
}

/// A gate that refuses the messages containing a word and counts what it saw.
#[derive(Default)]
struct Refuse {
    word: &'static str,
    admitted: Mutex<Vec<String>>,
    parsed: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl crate::ResponseGate for Refuse {
    async fn admit(&self, _capture: &Capture, _body: &[u8]) -> Result<(), crate::GateRefusal> {
        Ok(())
    }

    fn admit_message(&self, message: &[u8]) -> Result<(), crate::GateRefusal> {
        let text = String::from_utf8_lossy(message).into_owned();
        if text.contains(self.word) {
            return Err(crate::GateRefusal::Quarantined {
                what: "message",
                sha256: ballotwatch_core::sha256_hex(message),
                attempts: 1,
            });
        }
        self.admitted.lock().unwrap().push(text);
        Ok(())
    }

    fn parsed_message(&self, message: &[u8]) {
        self.parsed
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(message).into_owned());
    }
}

#[tokio::test]
async fn the_gate_sees_every_message_before_and_after_its_parse_and_may_skip_one() {
    let lines: Vec<String> = EVENTS.lines().map(str::to_string).collect();
    let poisoned = lines
        .iter()
        .filter(|l| l.contains("3lnvb4council1"))
        .count();
    assert!(poisoned > 0, "the council's post is in the recording");
    let jet = Arc::new(Jet {
        lines: lines.clone(),
        ..Jet::default()
    });
    let url = jetstream_server(jet.clone()).await;
    let appview = appview().await;
    let source = JetstreamSource::new(
        "Bluesky",
        &config(&url, &appview, "actors = [\"anytown.gov.uk\"]"),
    );
    let gate = Arc::new(Refuse {
        word: "3lnvb4council1",
        ..Refuse::default()
    });
    let plain = test_ctx();
    let ctx = PollContext {
        fetcher: plain.fetcher.with_response_gate(gate.clone()),
        watch: plain.watch.clone(),
        lookalikes: None,
    };
    let (polls, problems, failures) = run_to_end(&source, &ctx).await;
    assert!(failures.is_empty(), "{failures:?}");
    // The skipped message is a problem naming the stream and the gate's reason.
    assert_eq!(problems.len(), poisoned, "{problems:?}");
    let p = problems[0].to_string();
    assert!(
        p.contains("this message (sha256 ") && p.contains(") is quarantined"),
        "{p}"
    );
    assert!(p.contains("ws://"), "{p}");
    // It was never parsed; every other message was admitted, then parsed, in order.
    let others: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("3lnvb4council1"))
        .cloned()
        .collect();
    assert_eq!(*gate.admitted.lock().unwrap(), others);
    assert_eq!(*gate.parsed.lock().unwrap(), others);
    // Its bytes are kept with the batch; the other posts are items.
    let body: Vec<u8> = polls
        .iter()
        .flat_map(|p| p.captures.iter().flat_map(|(_, b)| b.clone()))
        .collect();
    for l in lines.iter().filter(|l| l.contains("3lnvb4council1")) {
        assert!(String::from_utf8_lossy(&body).contains(l.as_str()));
    }
    let ids: HashSet<String> = polls
        .iter()
        .flat_map(|p| p.items.iter().map(|(_, i)| i.id.clone()))
        .collect();
    let council = Item::derive_id(
        "Bluesky",
        &format!("at://{COUNCIL}/app.bsky.feed.post/3lnvb4council1"),
    );
    assert!(!ids.contains(&council), "{ids:?}");
    assert!(!ids.is_empty());
}
