//! End to end: a Bluesky source with `jetstream = true` against a real websocket server on
//! 127.0.0.1 replaying recorded Jetstream events (and a real HTTP AppView beside it). `serve`
//! streams the posts in, survives the server dropping the socket (resuming with the cursor:
//! nothing missed, nothing doubled), makes them searchable by handle and text, and `sources`
//! shows the stream's health; `ingest --once` then catches up from the stored cursor and stops.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use common::tools::Tool;
use common::{row, Workspace};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// `time_us` of the last recorded event.
pub(crate) const LAST_US: i64 = 1_777_543_208_750_000;
/// `time_us` of the fourth event, the last one sent before the first connection is dropped.
pub(crate) const FOURTH_US: i64 = 1_777_543_203_750_000;

fn events() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ingest/src/sources/bluesky/testdata/jetstream.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The query strings the websocket server was opened with, in order.
pub(crate) type Queries = Arc<Mutex<Vec<String>>>;

pub(crate) fn cursor_of(query: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("cursor="))
        .map(|v| v.parse().unwrap())
}

/// Starts the AppView (HTTP) and Jetstream (websocket) servers; the first websocket connection
/// is dropped after four events, like a server restart.
pub(crate) fn start(queries: Queries) -> (SocketAddr, SocketAddr) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            async fn resolve(Query(q): Query<BTreeMap<String, String>>) -> Json<serde_json::Value> {
                assert_eq!(q.get("handle").map(String::as_str), Some("anytown.gov.uk"));
                Json(serde_json::json!({"did": "did:plc:4anytownbc2gov3uk4abcdef"}))
            }
            let app = Router::new()
                .route(
                    "/bsky/xrpc/com.atproto.identity.resolveHandle",
                    get(resolve),
                )
                .route(
                    "/bsky/xrpc/app.bsky.feed.getAuthorFeed",
                    get(|| async { Json(serde_json::json!({"feed": []})) }),
                );
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let wsl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send((http.local_addr().unwrap(), wsl.local_addr().unwrap()))
                .unwrap();
            tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
            let lines = events();
            let mut connection = 0;
            while let Ok((tcp, _)) = wsl.accept().await {
                connection += 1;
                let (lines, queries) = (lines.clone(), queries.clone());
                tokio::spawn(async move {
                    let seen = Arc::new(Mutex::new(String::new()));
                    let keep = seen.clone();
                    // The error type is tungstenite's, fixed by its `Callback` trait.
                    #[allow(clippy::result_large_err)]
                    let cb = move |req: &Request, resp: Response| {
                        *keep.lock().unwrap() = req.uri().query().unwrap_or_default().into();
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                        return;
                    };
                    let query = seen.lock().unwrap().clone();
                    queries.lock().unwrap().push(query.clone());
                    let cursor = cursor_of(&query);
                    let mut sent = 0;
                    for line in lines {
                        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                        if cursor.is_some_and(|c| v["time_us"].as_i64().unwrap() < c) {
                            continue;
                        }
                        if connection == 1 && sent == 4 {
                            return; // dropped without a close frame
                        }
                        if ws.send(Message::text(line)).await.is_err() {
                            return;
                        }
                        sent += 1;
                    }
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

pub(crate) fn config(http: SocketAddr, wsa: SocketAddr) -> String {
    format!(
        "[[source]]\nname = \"Bluesky live\"\nkind = \"bluesky\"\nappview = \"http://{http}/bsky/\"\n\
         actors = [\"anytown.gov.uk\"]\njetstream = true\njetstream_url = \"ws://{wsa}/subscribe\"\n\
         interval = \"1h\"\n"
    )
}

#[test]
fn jetstream_streams_posts_resumes_after_a_drop_and_catches_up_once() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let queries: Queries = Arc::default();
    let (http, wsa) = start(queries.clone());
    let ws = Workspace::new(&config(http, wsa));
    let check = ws.run(&["check-config"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    let mut child = ws
        .cmd(&["serve"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The fake post's update is the last event: once its text is searchable, every event was
    // read, across the dropped connection.
    let mut found = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let r = ws.run(&["search", "\"deadline 9pm\"", "--json"]);
        if r.code == 0 && !r.stdout.trim().is_empty() && queries.lock().unwrap().len() >= 2 {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        found,
        "the streamed posts never became searchable:\n{stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");

    // The reconnect resumed from the last committed event minus the rewind.
    let seen = queries.lock().unwrap().clone();
    assert_eq!(cursor_of(&seen[0]), None, "{seen:?}");
    assert_eq!(cursor_of(&seen[1]), Some(FOURTH_US - 3_000_000), "{seen:?}");

    // By handle (from the identity event) and by text; the cat post was filtered out; the
    // replayed events doubled nothing.
    let by_handle = ws.search_json("author:\"anytown-council-official.bsky.social\"");
    assert_eq!(by_handle.len(), 1, "{by_handle:#?}");
    assert_eq!(by_handle[0]["source"]["name"], "Bluesky live");
    assert_eq!(
        by_handle[0]["url"],
        "https://bsky.app/profile/anytown-council-official.bsky.social/post/3lnvb3fakepost"
    );
    assert!(ws.search_json("radiator").is_empty());
    let all = ws.search_json("source:\"Bluesky live\"");
    assert_eq!(all.len(), 2, "{all:#?}");
    let council = ws.search_json("\"cannot vote by text message\"");
    assert_eq!(council.len(), 1);
    assert_eq!(
        council[0]["url"],
        "https://bsky.app/profile/anytown.gov.uk/post/3lnvb4council1"
    );

    // `sources` shows the stream's own row: its last success, and the drop as its last error.
    let r = ws.run(&["sources", "--json"]);
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stream = rows
        .iter()
        .find(|v| v["name"] == "Bluesky live (jetstream)")
        .unwrap_or_else(|| panic!("no stream row in {}", r.stdout));
    assert_eq!(stream["status"], "ok", "{stream}");
    assert!(stream["last_success_at"].is_string(), "{stream}");
    let err = stream["last_error"].as_str().unwrap();
    assert!(
        err.contains("source `Bluesky live`: could not fetch ws://")
            && err.contains("the server closed the connection"),
        "{err}"
    );
    assert!(
        stream["last_error_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "ws://{wsa}/subscribe?wantedCollections=app.bsky.feed.post"
            )),
        "{stream}"
    );
    let polled = rows.iter().find(|v| v["name"] == "Bluesky live").unwrap();
    assert!(polled["last_success_at"].is_string(), "{polled}");

    // `ingest --once` catches up from the stored cursor, then stops: nothing new.
    let once = ws.run(&["ingest", "--once"]);
    assert_eq!(once.code, 0, "{}{}", once.stdout, once.stderr);
    let line = row(&once.stdout, "Bluesky live (jetstream)");
    assert!(line.contains(" ok"), "{line}\n{}", once.stdout);
    let seen = queries.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(cursor_of(&seen[2]), Some(LAST_US - 3_000_000), "{seen:?}");
    assert_eq!(ws.search_json("source:\"Bluesky live\"").len(), 2);
}
