//! The demo's recorded election week, served from 127.0.0.1 under each site's own host name
//! ([`HOSTS`], which the demo's fetcher resolves here) in each platform's real format:
//! news feeds, Mastodon, Bluesky (and its Jetstream websocket, see [`super::jetstream`]),
//! Reddit, YouTube, Telegram, X and Threads (their APIs, as a council with access tokens sees
//! them), the council's polling-station page
//! (which changes after the first visit, as a real page would), a lookalike site, the media
//! the posts attach, and a static-ct-api Certificate Transparency log that logs a certificate
//! for a lookalike domain after the demo starts (its checkpoint grows on the second request). Every answer comes from a recorded file bundled in the binary (`demo/`).
//! Answers carry ETags and honour `If-None-Match`, like a well-behaved publisher.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use include_dir::{include_dir, Dir};

use super::jetstream::{self, Jetstream};

/// The bundled demo material.
pub static DEMO: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/demo");

/// One recorded endpoint.
struct Route {
    /// The site it belongs to (one of [`HOSTS`]): `{{BASE}}` in its answers becomes
    /// `http://{host}`, so the media and links they name are on the same site.
    host: &'static str,
    /// The request path.
    path: &'static str,
    /// The answers under `demo/`: the first request gets the first, the next the second, and
    /// so on; the last repeats.
    files: &'static [&'static str],
    /// A query parameter by which a source asks for what is newer than (or older than) what
    /// it has; a request carrying it gets `rest` instead: the recording has nothing more.
    paging_param: Option<(&'static str, &'static str)>,
}

const EMPTY_REDDIT: &str =
    r#"{"kind": "Listing", "data": {"after": null, "dist": 0, "children": [], "before": null}}"#;
const EMPTY_TELEGRAM: &str = r#"<!DOCTYPE html><html><body><section class="tgme_channel_history js-message_history"></section></body></html>"#;

/// The recorded sites' own host names. The demo's fetcher resolves each to the replay server
/// (`[ingest]`'s code-only `pinned_hosts`), so items, captures and explanations name the site a
/// council would see, not 127.0.0.1. The demo's configuration names its sources by these hosts.
const ECHO: &str = "www.anytownecho.co.uk";
const COUNCIL: &str = "www.anytown.gov.uk";
const GAZETTE: &str = "www.riversidegazette.co.uk";
const MASTODON: &str = "social.example";
const BLUESKY: &str = "public.api.bsky.app";
const REDDIT: &str = "www.reddit.com";
const YOUTUBE: &str = "www.youtube.com";
const TELEGRAM: &str = "t.me";
const X: &str = "api.x.com";
const THREADS: &str = "graph.threads.net";
/// The site someone reported: a fake postal-vote form dressed as the council's (its host
/// is not a lookalike of anytown.gov.uk; the page itself names one, anytown-gov.uk).
const LOOKALIKE: &str = "voter-reregistration.co.uk";
/// A tiled Certificate Transparency log (`demo/ct/`): its first checkpoint is the head the
/// source starts from, its second adds a certificate for `anytown-elections.co.uk`.
const CT_LOG: &str = "ct.example";
/// Every host name the replay server answers for.
pub const HOSTS: &[&str] = &[
    ECHO, COUNCIL, GAZETTE, MASTODON, BLUESKY, REDDIT, YOUTUBE, TELEGRAM, X, THREADS, LOOKALIKE,
    CT_LOG,
];

/// Pins for `[ingest] pinned_hosts`: every recorded site's name to the replay server at `addr`.
pub fn pins(addr: SocketAddr) -> Vec<(String, SocketAddr)> {
    HOSTS.iter().map(|h| ((*h).to_string(), addr)).collect()
}

const ROUTES: &[Route] = &[
    Route {
        host: ECHO,
        path: "/feeds/anytown-echo.xml",
        files: &["feeds/anytown-echo.xml"],
        paging_param: None,
    },
    Route {
        host: COUNCIL,
        path: "/feeds/anytown-council.atom",
        files: &["feeds/anytown-council.atom"],
        paging_param: None,
    },
    Route {
        host: GAZETTE,
        path: "/feeds/riverside-gazette.xml",
        files: &["feeds/riverside-gazette.xml"],
        paging_param: None,
    },
    Route {
        host: MASTODON,
        path: "/api/v1/timelines/tag/AnytownVotes",
        files: &["mastodon/tag-anytownvotes.json"],
        paging_param: Some(("min_id", "[]")),
    },
    Route {
        host: MASTODON,
        path: "/api/v1/accounts/lookup",
        files: &["mastodon/account-lookup.json"],
        paging_param: None,
    },
    Route {
        host: MASTODON,
        path: "/api/v1/accounts/109000000000000001/statuses",
        files: &["mastodon/account-statuses.json"],
        paging_param: Some(("min_id", "[]")),
    },
    Route {
        host: BLUESKY,
        path: "/xrpc/app.bsky.feed.searchPosts",
        files: &["bluesky/search-posts.json"],
        paging_param: Some(("cursor", r#"{"posts": []}"#)),
    },
    Route {
        host: BLUESKY,
        path: "/xrpc/app.bsky.feed.getAuthorFeed",
        files: &["bluesky/author-feed.json"],
        paging_param: Some(("cursor", r#"{"feed": []}"#)),
    },
    Route {
        host: REDDIT,
        path: "/r/AnytownUK/new.json",
        files: &["reddit/anytownuk-new.json"],
        paging_param: Some(("after", EMPTY_REDDIT)),
    },
    Route {
        host: YOUTUBE,
        path: "/feeds/videos.xml",
        files: &["youtube/anytown-council-videos.xml"],
        paging_param: None,
    },
    Route {
        host: TELEGRAM,
        path: "/s/anytown_votes",
        files: &["telegram/anytown-votes.html"],
        paging_param: Some(("before", EMPTY_TELEGRAM)),
    },
    Route {
        host: X,
        path: "/2/tweets/search/recent",
        files: &["x/search-recent.json"],
        paging_param: Some(("since_id", r#"{"meta": {"result_count": 0}}"#)),
    },
    Route {
        host: THREADS,
        path: "/v1.0/keyword_search",
        files: &["threads/keyword-search.json"],
        paging_param: Some(("since", r#"{"data": []}"#)),
    },
    Route {
        host: COUNCIL,
        path: "/council/elections/polling-stations",
        files: &[
            "web/polling-stations-v1.html",
            "web/polling-stations-v2.html",
        ],
        paging_param: None,
    },
    Route {
        host: LOOKALIKE,
        path: "/lookalike/postal-vote",
        files: &["web/lookalike-postal-vote.html"],
        paging_param: None,
    },
    Route {
        host: CT_LOG,
        path: "/checkpoint",
        files: &["ct/checkpoint-1.txt", "ct/checkpoint-2.txt"],
        paging_param: None,
    },
    Route {
        host: CT_LOG,
        path: "/tile/data/000.p/3",
        files: &["ct/tile-data-000.p-3.bin"],
        paging_param: None,
    },
];

/// The server's state.
struct Replay {
    /// How many times each route was asked for (which version of a changing page comes next).
    hits: Vec<AtomicUsize>,
    /// The recorded Jetstream, live since the server started.
    jetstream: Arc<Jetstream>,
}

/// Serves the recording on an ephemeral 127.0.0.1 port, the recorded Jetstream events going
/// live one every `pace` (zero: all at once); returns its address.
pub async fn start(pace: std::time::Duration) -> anyhow::Result<SocketAddr> {
    for r in ROUTES {
        for f in r.files {
            DEMO.get_file(f)
                .with_context(|| format!("the demo recording lacks demo/{f}"))?;
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot open a port on 127.0.0.1 for the demo's recorded sources")?;
    let addr = listener.local_addr()?;
    let state = Arc::new(Replay {
        hits: ROUTES.iter().map(|_| AtomicUsize::new(0)).collect(),
        jetstream: Arc::new(Jetstream::start(pace)?),
    });
    let app = Router::new().fallback(answer).with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the demo's recorded sources stopped");
        }
    });
    Ok(addr)
}

async fn answer(State(replay): State<Arc<Replay>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    match path.as_str() {
        jetstream::SUBSCRIBE => return jetstream::subscribe(replay.jetstream.clone(), req),
        jetstream::RESOLVE_HANDLE => return jetstream::resolve_handle(&query),
        _ => {}
    }
    let headers = req.headers().clone();
    if let Some(name) = path.strip_prefix("/media/") {
        return match DEMO.get_file(format!("media/{name}")) {
            Some(f) if !name.contains("..") => {
                reply(&headers, content_type(name), f.contents().to_vec())
            }
            _ => (StatusCode::NOT_FOUND, "no such demo media").into_response(),
        };
    }
    // The site asked for: the Host header without its port (the fetcher sends the URL's).
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name))
        .unwrap_or_default()
        .to_string();
    let Some((i, route)) = ROUTES
        .iter()
        .enumerate()
        .find(|(_, r)| r.path == path && r.host == host)
    else {
        return (StatusCode::NOT_FOUND, "not part of the demo recording").into_response();
    };
    if let Some((param, rest)) = route.paging_param {
        let paging = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == param);
        if paging {
            return reply(
                &headers,
                content_type(route.files[0]),
                rest.as_bytes().to_vec(),
            );
        }
    }
    let n = replay.hits[i].fetch_add(1, Ordering::SeqCst);
    let file = route.files[n.min(route.files.len() - 1)];
    match DEMO.get_file(file) {
        Some(f) if content_type(file) == BINARY => reply(&headers, BINARY, f.contents().to_vec()),
        Some(f) => match f.contents_utf8() {
            Some(text) => reply(
                &headers,
                content_type(file),
                text.replace("{{BASE}}", &format!("http://{}", route.host))
                    .into_bytes(),
            ),
            None => (StatusCode::NOT_FOUND, "not part of the demo recording").into_response(),
        },
        None => (StatusCode::NOT_FOUND, "not part of the demo recording").into_response(),
    }
}

/// The answer with an ETag, or 304 when the client already has it.
fn reply(headers: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let etag = format!("\"{}\"", &ballotwatch_core::sha256_hex(&body)[..16]);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// The content type of recorded bytes served as they are (a CT data tile).
const BINARY: &str = "application/octet-stream";

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or_default() {
        "txt" => "text/plain; charset=utf-8",
        "bin" => BINARY,
        "json" => "application/json; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => BINARY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_answer_is_bundled_and_parses() {
        for r in ROUTES {
            for f in r.files {
                let file = DEMO
                    .get_file(f)
                    .unwrap_or_else(|| panic!("demo/{f} is missing"));
                if f.ends_with(".json") {
                    serde_json::from_slice::<serde_json::Value>(file.contents())
                        .unwrap_or_else(|e| panic!("demo/{f}: {e}"));
                }
            }
            assert!(HOSTS.contains(&r.host), "{} is not pinned", r.host);
            if let Some((_, rest)) = r.paging_param {
                if rest.starts_with(['{', '[']) {
                    serde_json::from_str::<serde_json::Value>(rest).unwrap();
                }
            }
        }
    }

    /// The recorded CT log: both checkpoints verify with the key `demo/ballotwatch.toml` names
    /// for it, and the tile holds two unrelated certificates then one for the lookalike
    /// `anytown-elections.co.uk` (made with rcgen; `BALLOTWATCH_WRITE_DEMO_CT=1` records
    /// them again).
    #[test]
    fn the_recorded_ct_log_verifies_and_logs_one_lookalike() {
        use ballotwatch_ingest::sources::ct::{checkpoint, read_tile, sth, testlog::TestLog};
        const ORIGIN: &str = "ct.example";
        // Wednesday 6 May 2026, the eve of the election.
        const LOGGED: u64 = 1_778_101_453_000;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/ct");
        let log = TestLog::new(7);
        if std::env::var_os("BALLOTWATCH_WRITE_DEMO_CT").is_some() {
            let cert = |name: &str| {
                let mut p =
                    rcgen::CertificateParams::new(vec![name.to_string(), format!("www.{name}")])
                        .unwrap();
                p.distinguished_name.push(rcgen::DnType::CommonName, name);
                let ca = rcgen::KeyPair::generate().unwrap();
                p.self_signed(&ca).unwrap().der().to_vec()
            };
            let mut log = log.clone();
            log.add_certificate(&cert("riverside-bakery.co.uk"), LOGGED - 60_000);
            log.add_certificate(&cert("millfield-garden-centre.co.uk"), LOGGED - 30_000);
            log.add_certificate(&cert("anytown-elections.co.uk"), LOGGED);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("checkpoint-1.txt"),
                log.checkpoint(ORIGIN, 2, LOGGED - 20_000),
            )
            .unwrap();
            std::fs::write(
                dir.join("checkpoint-2.txt"),
                log.checkpoint(ORIGIN, 3, LOGGED + 1_000),
            )
            .unwrap();
            std::fs::write(dir.join("tile-data-000.p-3.bin"), log.data_tile(0, 3)).unwrap();
        }
        let config = DEMO
            .get_file("ballotwatch.toml")
            .and_then(|f| f.contents_utf8())
            .unwrap();
        let key_b64 = log.public_key_base64();
        assert!(
            config.contains(&key_b64),
            "the demo config names another CT log key than {key_b64}"
        );
        let spki = log.public_key_der();
        let key = sth::LogKey::from_der(&spki).unwrap();
        let id = checkpoint::log_id(&spki);
        for (file, size) in [("checkpoint-1.txt", 2), ("checkpoint-2.txt", 3)] {
            let text = std::fs::read(dir.join(file)).unwrap();
            let head = checkpoint::verify_checkpoint(&text, ORIGIN, &key, &id).unwrap();
            assert_eq!(head.tree_size, size, "{file}");
        }
        let tile = std::fs::read(dir.join("tile-data-000.p-3.bin")).unwrap();
        let read = read_tile(&tile, 3, 0..3, &|n| n.contains("anytown"));
        assert!(read.rest.is_none());
        let kept: Vec<u64> = read
            .entries
            .iter()
            .filter(|(_, r)| matches!(r, Ok(Some(_))))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(kept, [2]);
    }

    /// The demo must not reach the internet: every http URL its configuration names is on a
    /// recorded site the fetcher resolves to the replay server.
    #[test]
    fn every_site_the_demo_config_names_is_replayed_locally() {
        let config = DEMO
            .get_file("ballotwatch.toml")
            .and_then(|f| f.contents_utf8())
            .expect("demo/ballotwatch.toml");
        let mut seen = 0;
        // Sources are fetched over plain http (the `https` URLs are a contact page and a
        // narrative's citation, never fetched).
        for (i, _) in config.match_indices("\"http://") {
            let rest = &config[i + 1..];
            let url = &rest[..rest.find('"').unwrap_or(rest.len())];
            let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            let host = parsed.host_str().unwrap_or_default();
            assert!(HOSTS.contains(&host), "{url}: {host} is not replayed");
            assert!(
                ROUTES.iter().any(|r| r.host == host),
                "{url}: no recorded answer on {host}"
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} source URLs found");
        let pinned = pins(SocketAddr::from(([127, 0, 0, 1], 9)));
        assert_eq!(pinned.len(), HOSTS.len());
    }
}
