use std::time::Duration;

use ballotwatch_core::WatchTerms;
use ballotwatch_ingest::sources::bluesky::jetstream::{normalise_event, Event, POST_COLLECTION};
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio_tungstenite::tungstenite::Message;

use super::*;

fn bundled() -> Recording {
    let text = DEMO
        .get_file(RECORDING)
        .and_then(|f| f.contents_utf8())
        .expect("demo/bluesky/jetstream.jsonl is bundled");
    Recording::parse(text).unwrap_or_else(|e| panic!("demo/{RECORDING}: {e}"))
}

const COUNCIL: &str = "did:plc:4anytownbc2gov3uk4abcdef";

/// `did:plc:` and 24 base32 characters, like every real PLC DID.
fn real_plc(did: &str) -> bool {
    did.strip_prefix("did:plc:").is_some_and(|id| {
        id.len() == 24
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
    })
}

/// A TID record key: 13 characters of the base32-sortable alphabet.
fn tid(rkey: &str) -> bool {
    rkey.len() == 13
        && rkey
            .chars()
            .all(|c| ('2'..='7').contains(&c) || c.is_ascii_lowercase())
}

#[test]
fn the_recording_is_real_format_and_every_post_becomes_an_item() {
    let rec = bundled();
    assert!(rec.events.len() >= 15, "{}", rec.events.len());
    let watch = WatchTerms::new(&["Anytown".to_string()]);
    let mut posts = 0;
    for e in &rec.events {
        assert!(real_plc(&e.did) || e.did == COUNCIL, "{}", e.did);
        let v: serde_json::Value = serde_json::from_str(&e.line).unwrap();
        let event: Event = serde_json::from_str(&e.line).unwrap();
        assert_eq!(event.time_us, e.time_us);
        let Some(commit) = &event.commit else {
            continue;
        };
        assert!(tid(&commit.rkey), "{}", commit.rkey);
        assert!(tid(v["commit"]["rev"].as_str().unwrap()), "{}", e.line);
        if commit.operation == "delete" {
            assert!(commit.record.is_none());
            continue;
        }
        let cid = v["commit"]["cid"].as_str().unwrap();
        assert!(cid.starts_with("bafyrei") && cid.len() == 59, "{cid}");
        let record = commit.record.as_ref().unwrap();
        assert_eq!(record["$type"], commit.collection);
        let created =
            chrono::DateTime::parse_from_rfc3339(record["createdAt"].as_str().unwrap()).unwrap();
        assert!(created.timestamp_micros() < e.time_us, "{}", e.line);
        if commit.collection != POST_COLLECTION {
            continue;
        }
        assert!(record["langs"].is_array(), "{}", e.line);
        let item = normalise_event("Bluesky", &event, None, &watch)
            .unwrap_or_else(|m| panic!("{m}: {}", e.line))
            .unwrap_or_else(|| panic!("no item from {}", e.line));
        assert!(item.text.is_some_and(|t| !t.is_empty()));
        // Facets point at the text they claim to cover.
        let text = record["text"].as_str().unwrap().as_bytes();
        for f in record["facets"].as_array().into_iter().flatten() {
            let (a, b) = (
                f["index"]["byteStart"].as_u64().unwrap() as usize,
                f["index"]["byteEnd"].as_u64().unwrap() as usize,
            );
            let covered = std::str::from_utf8(&text[a..b]).unwrap();
            let feature = &f["features"][0];
            match feature["$type"].as_str().unwrap() {
                "app.bsky.richtext.facet#link" => assert!(
                    feature["uri"].as_str().unwrap().contains(covered),
                    "{covered} vs {feature}"
                ),
                "app.bsky.richtext.facet#tag" => {
                    assert_eq!(covered, format!("#{}", feature["tag"].as_str().unwrap()))
                }
                other => panic!("unexpected facet {other}"),
            }
        }
        posts += 1;
    }
    assert!(posts >= 10, "{posts}");
    // Likes are in the recording, for `wantedCollections` to filter out.
    assert!(rec
        .events
        .iter()
        .any(|e| e.collection.as_deref() == Some("app.bsky.feed.like")));
}

fn all_files<'a>(dir: &'a include_dir::Dir<'a>) -> Vec<&'a include_dir::File<'a>> {
    let mut out: Vec<_> = dir.files().collect();
    for d in dir.dirs() {
        out.extend(all_files(d));
    }
    out
}

#[test]
fn the_streams_threats_arrive_only_through_the_stream() {
    for words in [
        "DM me your full name, address and date of birth",
        "vote on Friday 8 May",
    ] {
        assert!(
            bundled().events.iter().any(|e| e.line.contains(words)),
            "{words}"
        );
        for f in all_files(&DEMO) {
            if f.path().to_str() == Some(RECORDING) {
                continue;
            }
            if let Some(text) = f.contents_utf8() {
                assert!(!text.contains(words), "{words} is in {:?} too", f.path());
            }
        }
    }
}

#[test]
fn a_broken_recording_is_refused_naming_the_line() {
    let ok = r#"{"did":"did:plc:abc","time_us":2,"kind":"identity","identity":{"handle":"a.b"}}"#;
    let e = Recording::parse(&format!("{ok}\n{ok}\n")).unwrap_err();
    assert!(e.contains("line 2: time_us 2 does not come after"), "{e}");
    let e = Recording::parse(&format!("{ok}\nnot json\n")).unwrap_err();
    assert!(e.starts_with("line 2: "), "{e}");
    let e = Recording::parse(r#"{"did":"did:plc:abc","time_us":1,"kind":"commit"}"#).unwrap_err();
    assert!(e.contains("line 1: a commit event without `commit`"), "{e}");
    let e = Recording::parse(r#"{"did":"x","time_us":1,"kind":"identity"}"#).unwrap_err();
    assert!(e.contains("`x` is not a DID"), "{e}");
    assert!(Recording::parse("\n").is_err());
}

#[test]
fn subscription_parameters_are_read_like_the_real_service() {
    let s = Subscription::parse(
        "wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.graph.*\
         &wantedDids=did%3Aplc%3Aabc&cursor=1778086804200000&unknown=1",
    )
    .unwrap();
    assert_eq!(s.cursor, Some(1_778_086_804_200_000));
    assert_eq!(s.collections, ["app.bsky.feed.post", "app.bsky.graph.*"]);
    assert_eq!(s.dids, ["did:plc:abc"]);
    assert_eq!(Subscription::parse("").unwrap(), Subscription::default());

    let e = Subscription::parse("cursor=yesterday").unwrap_err();
    assert_eq!(
        e,
        "`cursor` must be a Unix time in microseconds, not `yesterday`"
    );
    for bad in ["post", "app..post", "app.bsky.feed.post/x", "app.bsky*"] {
        let e = Subscription::parse(&format!("wantedCollections={bad}")).unwrap_err();
        assert!(e.contains(&format!("`{bad}` is not an NSID")), "{e}");
    }
    for bad in [
        "alice.bsky.social",
        "did:plc:",
        "did::abc",
        "did:PLC:abc",
        "did",
    ] {
        let e = Subscription::parse(&format!("wantedDids={bad}")).unwrap_err();
        assert!(e.contains(&format!("`{bad}` is not a DID")), "{e}");
    }
    assert!(Subscription::parse("wantedDids=did:web:anytown.gov.uk").is_ok());
    let e = Subscription::parse("compress=true").unwrap_err();
    assert!(e.contains("`compress=true` is not supported"), "{e}");
    assert!(Subscription::parse("compress=false").is_ok());
    let many: Vec<String> = (0..101)
        .map(|i| format!("wantedCollections=app.bsky.c{i}.post"))
        .collect();
    let e = Subscription::parse(&many.join("&")).unwrap_err();
    assert!(
        e.contains("at most 100 `wantedCollections` (got 101)"),
        "{e}"
    );
}

fn event(time_us: i64, did: &str, collection: Option<&str>) -> Recorded {
    Recorded {
        time_us,
        did: did.into(),
        collection: collection.map(str::to_string),
        line: String::new(),
    }
}

const DIDS: [&str; 3] = ["did:plc:aaa", "did:plc:bbb", "did:plc:ccc"];
const COLLECTIONS: [Option<&str>; 4] = [
    None,
    Some("app.bsky.feed.post"),
    Some("app.bsky.feed.like"),
    Some("app.bsky.graph.follow"),
];

proptest! {
    /// Whatever the cursor and filters: exactly the events after the cursor, of the wanted
    /// accounts, whose collection is wanted (identity and account events pass the collection
    /// filter), in recording order.
    #[test]
    fn the_subscriber_gets_exactly_what_it_asked_for(
        shape in proptest::collection::vec((1i64..50, 0usize..3, 0usize..4), 1..40),
        cursor in proptest::option::of(-5i64..2000),
        wanted_dids in proptest::sample::subsequence(DIDS.to_vec(), 0..=3),
        wanted in proptest::sample::subsequence(
            vec!["app.bsky.feed.post", "app.bsky.feed.*", "app.bsky.graph.follow"], 0..=3),
    ) {
        let mut t = 0;
        let events: Vec<Recorded> = shape
            .iter()
            .map(|(gap, d, c)| {
                t += gap;
                event(t, DIDS[*d], COLLECTIONS[*c])
            })
            .collect();
        let rec = Recording { events: events.clone() };
        let mut query: Vec<String> = wanted.iter().map(|c| format!("wantedCollections={c}")).collect();
        query.extend(wanted_dids.iter().map(|d| format!("wantedDids={d}")));
        if let Some(c) = cursor {
            query.push(format!("cursor={c}"));
        }
        let sub = Subscription::parse(&query.join("&")).unwrap();
        let got: Vec<usize> = rec.selected(&sub).map(|(i, _)| i).collect();
        let expected: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| cursor.is_none_or(|c| e.time_us > c))
            .filter(|(_, e)| wanted_dids.is_empty() || wanted_dids.contains(&e.did.as_str()))
            .filter(|(_, e)| match e.collection.as_deref() {
                None => true,
                Some(c) => wanted.is_empty()
                    || wanted.contains(&c)
                    || (wanted.contains(&"app.bsky.feed.*") && c.starts_with("app.bsky.feed.")),
            })
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(got, expected);
    }

    /// Any query string is read without panicking; a cursor that parses is kept as given.
    #[test]
    fn any_query_is_read_or_refused_with_a_reason(q in "[a-zA-Z=&%0-9.*:_-]{0,80}", c in any::<i64>()) {
        let _ = Subscription::parse(&q);
        prop_assert_eq!(Subscription::parse(&format!("cursor={c}")).unwrap().cursor, Some(c));
    }
}

/// Opens the subscribe websocket with this query; returns the socket.
async fn subscribe_ws(
    addr: std::net::SocketAddr,
    query: &str,
) -> WebSocketStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}{SUBSCRIBE}?{query}");
    let (ws, response) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The next `n` text messages, as JSON (waiting at most a generous deadline for each).
async fn take(ws: &mut WebSocketStream<tokio::net::TcpStream>, n: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the demo's Jetstream sent nothing for 30s")
            .expect("the demo's Jetstream closed the socket")
            .unwrap();
        if let Message::Text(t) = m {
            out.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    out
}

/// The socket is still open: a ping is answered.
async fn still_answers(ws: &mut WebSocketStream<tokio::net::TcpStream>) {
    ws.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no pong within 30s")
            .expect("the socket was closed")
            .unwrap();
        match m {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"still there?");
                return;
            }
            Message::Text(t) => panic!("an event after the end of the recording: {t}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_replay_server_streams_the_recording_by_cursor_and_filters_then_stays_open() {
    let addr = crate::demo::replay::start(Duration::from_millis(5))
        .await
        .unwrap();
    let rec = bundled();
    let posts: Vec<&Recorded> = rec
        .events
        .iter()
        .filter(|e| e.collection.as_deref().is_none_or(|c| c == POST_COLLECTION))
        .collect();

    // Posts (and identity/account events) only, in order, then the socket stays open.
    let mut ws = subscribe_ws(addr, "wantedCollections=app.bsky.feed.post").await;
    let got = take(&mut ws, posts.len()).await;
    let times: Vec<i64> = got.iter().map(|v| v["time_us"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = posts.iter().map(|e| e.time_us).collect();
    assert_eq!(times, expected);
    assert!(got
        .iter()
        .all(|v| v["commit"]["collection"] != "app.bsky.feed.like"));
    still_answers(&mut ws).await;
    ws.close(None).await.unwrap();

    // From a cursor: only what came after it (as a reconnecting client asks).
    let cut = posts[posts.len() - 4].time_us;
    let mut ws = subscribe_ws(
        addr,
        &format!("wantedCollections=app.bsky.feed.post&cursor={cut}"),
    )
    .await;
    let got = take(&mut ws, 3).await;
    let times: Vec<i64> = got.iter().map(|v| v["time_us"].as_i64().unwrap()).collect();
    assert_eq!(times, expected[expected.len() - 3..]);
    still_answers(&mut ws).await;

    // One account's events only.
    let council: Vec<i64> = rec
        .events
        .iter()
        .filter(|e| e.did == COUNCIL)
        .map(|e| e.time_us)
        .collect();
    assert!(council.len() >= 2);
    let mut ws = subscribe_ws(addr, &format!("wantedDids={COUNCIL}")).await;
    let got = take(&mut ws, council.len()).await;
    assert!(got.iter().all(|v| v["did"] == COUNCIL), "{got:?}");
    still_answers(&mut ws).await;
}

#[tokio::test]
async fn the_replay_server_refuses_plain_http_and_bad_parameters_and_resolves_the_council() {
    let addr = crate::demo::replay::start(Duration::from_millis(5))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let res = http
        .get(format!("http://{addr}{SUBSCRIBE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Jetstream is a websocket"));

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}{SUBSCRIBE}?cursor=soon");
    match tokio_tungstenite::client_async(url, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 400);
            let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("`cursor` must be a Unix time"), "{body}");
        }
        other => panic!("a bad cursor was accepted: {:?}", other.map(|(_, r)| r)),
    }

    let resolve = |handle: &str| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("handle", handle)
            .finish();
        http.get(format!("http://{addr}{RESOLVE_HANDLE}?{q}"))
            .send()
    };
    let res = resolve("Anytown.gov.uk").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(v["did"], COUNCIL);
    for unknown in ["nobody.bsky.social", "../ballotwatch.toml", ""] {
        let res = resolve(unknown).await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "{unknown}");
        let v: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(v["error"], "InvalidRequest", "{unknown}");
    }
}
