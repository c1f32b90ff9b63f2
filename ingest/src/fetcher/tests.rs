//! Fetcher tests against real HTTP servers on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header as h, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytesize::ByteSize;

use super::*;

/// Test config: loopback allowed (the servers are on 127.0.0.1), no politeness delay.
fn cfg() -> IngestConfig {
    IngestConfig {
        allow_private_addresses: true,
        politeness_delay: Duration::ZERO,
        per_host_concurrency: 8,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..IngestConfig::default()
    }
}

fn fetcher(cfg: &IngestConfig) -> Fetcher {
    Fetcher::new(cfg, "0.1.0-test").unwrap()
}

async fn serve(app: Router) -> (String, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), addr)
}

fn req(url: &str) -> FetchRequest {
    FetchRequest::new(Url::parse(url).unwrap(), FEED_ACCEPT)
}

/// 304 counter and the If-Modified-Since values seen.
type CondState = (Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);
/// In-flight count, max in flight, request start times.
type ProbeState = (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<Mutex<Vec<Instant>>>);

const FEED: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Anytown Echo</title></channel></rss>";

#[tokio::test]
async fn conditional_get_sends_validators_and_maps_304() {
    let not_modified = Arc::new(AtomicUsize::new(0));
    let seen_ims = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = Router::new()
        .route(
            "/feed",
            get(
                |State((n, ims)): State<CondState>, headers: HeaderMap| async move {
                    if let Some(v) = headers.get(h::IF_MODIFIED_SINCE) {
                        ims.lock().unwrap().push(v.to_str().unwrap().to_string());
                    }
                    if headers.get(h::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some("\"v1\"")
                    {
                        n.fetch_add(1, Ordering::SeqCst);
                        return StatusCode::NOT_MODIFIED.into_response();
                    }
                    (
                        [
                            (h::ETAG, "\"v1\""),
                            (h::LAST_MODIFIED, "Thu, 30 Apr 2026 08:00:00 GMT"),
                            (h::CONTENT_TYPE, "application/rss+xml"),
                        ],
                        FEED,
                    )
                        .into_response()
                },
            ),
        )
        .with_state((not_modified.clone(), seen_ims.clone()));
    let (base, _) = serve(app).await;
    let f = fetcher(&cfg());
    let url = format!("{base}/feed");

    let first = f.get(&req(&url)).await.unwrap();
    let Fetched::Body {
        capture,
        body,
        etag,
        last_modified,
    } = first
    else {
        panic!("expected a body, got {first:?}");
    };
    assert_eq!(body, FEED.as_bytes());
    assert_eq!(etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        last_modified.as_deref(),
        Some("Thu, 30 Apr 2026 08:00:00 GMT")
    );
    assert_eq!(capture.status, 200);
    assert_eq!(capture.url, url);
    assert_eq!(capture.final_url, url);
    assert_eq!(capture.size, FEED.len() as u64);
    assert_eq!(capture.sha256, sha256_hex(FEED.as_bytes()));
    assert!(capture.started_at <= capture.finished_at);
    assert!(capture
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/rss+xml"));
    assert_eq!(not_modified.load(Ordering::SeqCst), 0);

    let mut again = req(&url);
    again.etag = etag;
    again.last_modified = last_modified;
    for _ in 0..2 {
        match f.get(&again).await.unwrap() {
            Fetched::NotModified {
                url: u,
                final_url,
                started_at,
                finished_at,
            } => {
                assert_eq!(u, url);
                assert_eq!(final_url, url);
                assert!(started_at <= finished_at);
            }
            other => panic!("expected NotModified, got {other:?}"),
        }
    }
    assert_eq!(not_modified.load(Ordering::SeqCst), 2);
    assert_eq!(
        seen_ims.lock().unwrap().as_slice(),
        [
            "Thu, 30 Apr 2026 08:00:00 GMT",
            "Thu, 30 Apr 2026 08:00:00 GMT"
        ]
    );

    // A changed ETag gets the body again.
    let mut stale = req(&url);
    stale.etag = Some("\"v0\"".into());
    assert!(matches!(f.get(&stale).await.unwrap(), Fetched::Body { .. }));
    assert_eq!(not_modified.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_cut_off_while_streaming() {
    let produced = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/huge",
            get(|State(produced): State<Arc<AtomicUsize>>| async move {
                // 1 GiB in 64 KiB chunks, no Content-Length: only streaming can stop it.
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let stream = futures_util::stream::iter(0..16 * 1024).map(move |_| {
                    produced.fetch_add(chunk.len(), Ordering::SeqCst);
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                Body::from_stream(stream)
            }),
        )
        .with_state(produced.clone());
    use futures_util::StreamExt;
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.max_response_size = ByteSize::kib(256);
    let f = fetcher(&c);
    let url = format!("{base}/huge");
    let started = Instant::now();
    let err = f.get(&req(&url)).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::TooLarge { url: u, limit } if *u == url && *limit == 256 * 1024),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Give the server a moment to notice the closed connection, then check it was stopped
    // long before the end: the client read at most the cap plus socket buffers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = produced.load(Ordering::SeqCst);
    assert!(sent < 32 * 1024 * 1024, "server produced {sent} bytes");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn declared_content_length_over_the_cap_is_refused_before_the_body() {
    // The server promises 20 MiB and then never sends a byte: only a check of the header can
    // answer before the timeout.
    let app = Router::new().route(
        "/big",
        get(|| async {
            Response::builder()
                .header(h::CONTENT_LENGTH, 20 * 1024 * 1024)
                .body(Body::from_stream(futures_util::stream::pending::<
                    Result<Bytes, std::io::Error>,
                >()))
                .unwrap()
        }),
    );
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.max_response_size = ByteSize::mib(10);
    c.timeout = Duration::from_secs(20);
    let f = fetcher(&c);
    let started = Instant::now();
    let err = f.get(&req(&format!("{base}/big"))).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        format!("{base}/big is larger than the 10 MiB limit ([ingest] max_response_size); the response was cut off and discarded")
    );
}

#[tokio::test]
async fn body_at_exactly_the_cap_is_accepted() {
    let app = Router::new().route("/exact", get(|| async { vec![b'a'; 4096] }));
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.max_response_size = ByteSize::b(4096);
    let f = fetcher(&c);
    match f.get(&req(&format!("{base}/exact"))).await.unwrap() {
        Fetched::Body { body, capture, .. } => {
            assert_eq!(body.len(), 4096);
            assert_eq!(capture.size, 4096);
        }
        other => panic!("{other:?}"),
    }
    c.max_response_size = ByteSize::b(4095);
    let f = fetcher(&c);
    let err = f.get(&req(&format!("{base}/exact"))).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 4095, .. }));
}

#[tokio::test]
async fn a_capped_fetch_picks_its_cap_from_the_first_bytes() {
    // "big" bodies start with `B`, the rest are small; the cap knows nothing else.
    let app = Router::new()
        .route("/small-over", get(|| async { vec![b's'; 3000] }))
        .route("/big-under", get(|| async { vec![b'B'; 6000] }))
        .route("/big-over", get(|| async { vec![b'B'; 9000] }))
        .route("/tiny", get(|| async { vec![b's'; 10] }));
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.max_response_size = ByteSize::b(1024);
    let f = fetcher(&c);
    let cap = |head: &[u8]| -> u64 {
        match head.first() {
            None => 8000,
            Some(b'B') => 8000,
            Some(_) => 2000,
        }
    };
    let err = f
        .get_capped(&req(&format!("{base}/small-over")), &cap)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 2000, .. }),
        "{err:?}"
    );
    // Over the feed cap of 1 KiB but under its own cap: accepted.
    match f.get_capped(&req(&format!("{base}/big-under")), &cap).await {
        Ok(Fetched::Body { body, .. }) => assert_eq!(body.len(), 6000),
        other => panic!("{other:?}"),
    }
    let err = f
        .get_capped(&req(&format!("{base}/big-over")), &cap)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 8000, .. }),
        "{err:?}"
    );
    // Shorter than the sniffing window: the cap still sees the whole body.
    match f.get_capped(&req(&format!("{base}/tiny")), &cap).await {
        Ok(Fetched::Body { body, .. }) => assert_eq!(body.len(), 10),
        other => panic!("{other:?}"),
    }
    // The plain fetch keeps the feed cap.
    let err = f.get(&req(&format!("{base}/big-under"))).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
}

fn redirect_app<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/r/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    FEED.into_response()
                } else {
                    (StatusCode::FOUND, [(h::LOCATION, format!("/r/{}", n - 1))]).into_response()
                }
            }),
        )
        .route(
            "/to/{*target}",
            get(|Path(target): Path<String>| async move {
                (StatusCode::MOVED_PERMANENTLY, [(h::LOCATION, target)]).into_response()
            }),
        )
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit_and_no_further() {
    let (base, _) = serve(redirect_app()).await;
    let mut c = cfg();
    c.max_redirects = 3;
    let f = fetcher(&c);
    match f.get(&req(&format!("{base}/r/3"))).await.unwrap() {
        Fetched::Body { capture, .. } => {
            assert_eq!(capture.url, format!("{base}/r/3"));
            assert_eq!(capture.final_url, format!("{base}/r/0"));
        }
        other => panic!("{other:?}"),
    }
    let url = format!("{base}/r/4");
    let err = f.get(&req(&url)).await.unwrap_err();
    match &err {
        FetchError::TooManyRedirects { url: u, max } => {
            assert_eq!(u, &url);
            assert_eq!(*max, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("([ingest] max_redirects)"),
        "{err}"
    );
}

#[tokio::test]
async fn redirect_to_another_scheme_is_refused() {
    let (base, _) = serve(redirect_app()).await;
    let f = fetcher(&cfg());
    let err = f
        .get(&req(&format!("{base}/to/file:///etc/passwd")))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("file:///etc/passwd"), "{err}");
}

#[tokio::test]
async fn redirect_to_a_private_ip_literal_is_blocked_by_default() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = redirect_app()
        .route(
            "/inside",
            get(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "secret"
            }),
        )
        .with_state(hits.clone());
    let (_, addr) = serve(app).await;
    // The feed's host name is pinned to the test server (pins bypass the guard, as a public
    // address would pass it); every redirect target is judged by the guard.
    let c = IngestConfig {
        allow_private_addresses: false,
        pinned_hosts: vec![("news.anytown.test".into(), addr)],
        ..cfg()
    };
    let f = Fetcher::new(&c, "0.1.0-test").unwrap();
    let port = addr.port();

    let ok = f
        .get(&req(&format!("http://news.anytown.test:{port}/r/1")))
        .await
        .unwrap();
    assert!(matches!(ok, Fetched::Body { .. }));

    for target in [
        "http://10.0.0.5/feed".to_string(),
        format!("http://127.0.0.1:{port}/inside"),
        format!("http://[::ffff:127.0.0.1]:{port}/inside"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let url = format!("http://news.anytown.test:{port}/to/{target}");
        let err = f.get(&req(&url)).await.unwrap_err();
        match &err {
            FetchError::Blocked { url: u, reason } => {
                assert_eq!(u, &url);
                assert!(
                    reason.contains("allow_private_addresses = true"),
                    "{reason}"
                );
            }
            other => panic!("{target}: {other:?}"),
        }
        assert!(!err.is_transient());
    }
    let err = f
        .get(&req(&format!(
            "http://news.anytown.test:{port}/to/http://10.0.0.5/feed"
        )))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "it redirects to http://10.0.0.5/feed, and 10.0.0.5 is a private address; set [ingest] allow_private_addresses = true to allow"
        ),
        "{err}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the private target was reached"
    );
}

#[tokio::test]
async fn ip_literals_in_guarded_ranges_are_refused_before_sending() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/",
            get(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "hello"
            }),
        )
        .with_state(hits.clone());
    let (_, addr) = serve(app).await;
    let port = addr.port();
    let f = fetcher(&IngestConfig::default());
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://10.1.2.3/".into(),
        "http://192.168.0.1/".into(),
        "http://169.254.169.254/".into(),
        format!("http://[::1]:{port}/"),
        "http://[fc00::1]/".into(),
        "http://[fe80::1]/".into(),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let err = f.get(&req(&url)).await.unwrap_err();
        assert!(matches!(err, FetchError::Blocked { .. }), "{url}: {err:?}");
        assert_eq!(err.url(), Url::parse(&url).unwrap().as_str());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn host_names_resolving_to_loopback_are_refused_by_the_resolver() {
    let (_, addr) = serve(Router::new().route("/", get(|| async { "hi" }))).await;
    let f = fetcher(&IngestConfig::default());
    let url = format!("http://localhost:{}/", addr.port());
    let err = f.get(&req(&url)).await.unwrap_err();
    match &err {
        FetchError::Blocked { reason, .. } => {
            assert!(reason.starts_with("`localhost` resolves to "), "{reason}");
            assert!(reason.contains("a loopback address"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // With the guard off, the same URL works.
    let open = fetcher(&cfg());
    assert!(matches!(
        open.get(&req(&url)).await.unwrap(),
        Fetched::Body { .. }
    ));
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[tokio::test]
async fn gzip_bodies_are_decoded_and_hashed_after_decoding() {
    let plain: Vec<u8> = FEED.repeat(50).into_bytes();
    let gz = gzip_stored(&plain);
    let accept_encoding = Arc::new(Mutex::new(String::new()));
    let app = Router::new()
        .route(
            "/gz",
            get(
                |State((gz, ae)): State<(Vec<u8>, Arc<Mutex<String>>)>, headers: HeaderMap| async move {
                    *ae.lock().unwrap() = headers
                        .get(h::ACCEPT_ENCODING)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    (
                        [
                            (h::CONTENT_ENCODING, "gzip"),
                            (h::CONTENT_TYPE, "application/rss+xml"),
                        ],
                        gz,
                    )
                },
            ),
        )
        .with_state((gz.clone(), accept_encoding.clone()));
    let (base, _) = serve(app).await;
    let f = fetcher(&cfg());
    match f.get(&req(&format!("{base}/gz"))).await.unwrap() {
        Fetched::Body { capture, body, .. } => {
            assert_eq!(body, plain);
            assert_eq!(capture.sha256, sha256_hex(&plain));
            assert_eq!(capture.size, plain.len() as u64);
            assert!(
                !capture.headers.iter().any(|(k, _)| k == "content-encoding"),
                "{:?}",
                capture.headers
            );
        }
        other => panic!("{other:?}"),
    }
    let ae = accept_encoding.lock().unwrap().clone();
    assert!(ae.contains("gzip") && ae.contains("br"), "{ae}");
}

#[tokio::test]
async fn gzip_bombs_are_capped_on_the_decoded_size() {
    let plain = vec![b' '; 300 * 1024];
    let gz = gzip_stored(&plain);
    let app = Router::new().route(
        "/gz",
        get(move || {
            let gz = gz.clone();
            async move { ([(h::CONTENT_ENCODING, "gzip")], gz) }
        }),
    );
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.max_response_size = ByteSize::kib(100);
    let err = fetcher(&c)
        .get(&req(&format!("{base}/gz")))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

fn status_app() -> Router {
    Router::new()
        .route(
            "/429",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(h::RETRY_AFTER, "120")],
                    "slow down",
                )
            }),
        )
        .route(
            "/503",
            get(|| async {
                let at = SystemTime::now() + Duration::from_secs(120);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(h::RETRY_AFTER, httpdate::fmt_http_date(at))],
                    "maintenance",
                )
            }),
        )
        .route(
            "/404",
            get(|| async { (StatusCode::NOT_FOUND, [(h::RETRY_AFTER, "5")], "no") }),
        )
        .route("/500", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/x-429",
            get(|| async {
                let reset = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 300;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("x-rate-limit-remaining", "0".to_string()), ("x-rate-limit-reset", reset.to_string())],
                    r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
                )
            }),
        )
        .route(
            "/big-401",
            get(|| async { (StatusCode::UNAUTHORIZED, "x".repeat(1 << 20)) }),
        )
}

#[tokio::test]
async fn status_errors_carry_retry_after_for_429_and_5xx() {
    let (base, _) = serve(status_app()).await;
    let f = fetcher(&cfg());

    let err = f.get(&req(&format!("{base}/429"))).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Status {
                status: 429,
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(120)
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(
        err.to_string(),
        format!("{base}/429 answered HTTP 429 (Too Many Requests); the server is rate-limiting us; it asked us to wait 2m before retrying")
    );

    let err = f.get(&req(&format!("{base}/503"))).await.unwrap_err();
    let wait = err.retry_after().expect("a Retry-After date");
    // HTTP dates have one-second resolution.
    assert!(
        wait >= Duration::from_secs(115) && wait <= Duration::from_secs(121),
        "{wait:?}"
    );
    assert!(matches!(err, FetchError::Status { status: 503, .. }));
    assert!(err.is_transient());

    let err = f.get(&req(&format!("{base}/404"))).await.unwrap_err();
    assert!(matches!(
        err,
        FetchError::Status {
            status: 404,
            retry_after: None,
            ..
        }
    ));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("check the URL"), "{err}");

    let err = f.get(&req(&format!("{base}/500"))).await.unwrap_err();
    assert!(matches!(
        err,
        FetchError::Status {
            status: 500,
            retry_after: None,
            detail: None,
            ..
        }
    ));

    // X's rate limit: no Retry-After, the reset time as a Unix time; the body is kept apart
    // from the message for the source to read.
    let err = f.get(&req(&format!("{base}/x-429"))).await.unwrap_err();
    let wait = err.retry_after().expect("a wait from x-rate-limit-reset");
    assert!(
        wait >= Duration::from_secs(295) && wait <= Duration::from_secs(300),
        "{wait:?}"
    );
    let FetchError::Status { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail
        .as_deref()
        .unwrap()
        .contains("\"title\":\"Too Many Requests\""));
    assert!(!err.to_string().contains("title"), "{err}");

    // A huge error body is read no further than ERROR_BODY_LEN.
    let err = f.get(&req(&format!("{base}/big-401"))).await.unwrap_err();
    let FetchError::Status { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(detail.as_deref().map(str::len), Some(ERROR_BODY_LEN));
}

#[test]
fn rate_limit_resets_read_as_unix_times_or_seconds() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_777_000_000);
    assert_eq!(
        parse_rate_limit_reset("1777000090", now),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        parse_rate_limit_reset("1776999000", now),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_rate_limit_reset("42.0", now),
        Some(Duration::from_secs(42))
    );
    assert_eq!(
        parse_rate_limit_reset("9999999999999", now),
        Some(Duration::from_secs(24 * 3600))
    );
    assert_eq!(parse_rate_limit_reset("-1", now), None);
    assert_eq!(parse_rate_limit_reset("NaN", now), None);
    assert_eq!(parse_rate_limit_reset("soon", now), None);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/stall",
            get(|| async {
                // Headers and a first chunk at once, then nothing.
                let first = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(Bytes::from_static(b"<rss>"))
                });
                let rest = futures_util::stream::pending();
                Body::from_stream(futures_util::StreamExt::chain(first, rest))
            }),
        );
    let (base, _) = serve(app).await;
    let mut c = cfg();
    c.timeout = Duration::from_millis(400);
    let f = fetcher(&c);
    for path in ["/slow", "/stall"] {
        let started = Instant::now();
        let err = f.get(&req(&format!("{base}{path}"))).await.unwrap_err();
        assert!(
            matches!(&err, FetchError::Timeout { after, .. } if *after == Duration::from_millis(400)),
            "{path}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
        assert!(err.is_transient());
        assert!(err.to_string().contains("400ms"), "{err}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/feed");
    let err = fetcher(&cfg()).get(&req(&url)).await.unwrap_err();
    match &err {
        FetchError::Connect { url: u, message } => {
            assert_eq!(u, &url);
            assert!(message.to_lowercase().contains("refused"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert!(err
        .to_string()
        .starts_with(&format!("could not fetch {url}: ")));
}

/// A server that records how many requests were in flight at once and when each started.
fn probe_app(
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    starts: Arc<Mutex<Vec<Instant>>>,
) -> Router {
    Router::new()
        .route(
            "/probe",
            get(
                |State((in_flight, max, starts)): State<ProbeState>| async move {
                    starts.lock().unwrap().push(Instant::now());
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    "ok"
                },
            ),
        )
        .with_state((in_flight, max, starts))
}

async fn probe(per_host: usize, delay: Duration, requests: usize) -> (usize, Vec<Instant>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (base, _) = serve(probe_app(in_flight, max.clone(), starts.clone())).await;
    let mut c = cfg();
    c.per_host_concurrency = per_host;
    c.politeness_delay = delay;
    let f = fetcher(&c);
    let url = format!("{base}/probe");
    let gets = (0..requests).map(|_| {
        let f = f.clone();
        let r = req(&url);
        async move { f.get(&r).await }
    });
    for result in futures_util::future::join_all(gets).await {
        assert!(matches!(result.unwrap(), Fetched::Body { .. }));
    }
    let starts = starts.lock().unwrap().clone();
    (max.load(Ordering::SeqCst), starts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_concurrency_is_observed() {
    let (max, _) = probe(1, Duration::ZERO, 4).await;
    assert_eq!(max, 1, "with per_host_concurrency = 1");
    // The probe does see overlap when the limit allows it.
    let (max, _) = probe(3, Duration::ZERO, 6).await;
    assert!(max >= 2, "with per_host_concurrency = 3 saw {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn politeness_delay_spaces_request_starts() {
    let delay = Duration::from_millis(300);
    let (_, mut starts) = probe(4, delay, 3).await;
    starts.sort();
    assert_eq!(starts.len(), 3);
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        // Network jitter can shift arrival a little against the client's send time.
        assert!(gap >= Duration::from_millis(250), "gap {gap:?}");
    }
}

#[tokio::test]
async fn user_agent_names_the_version_and_contact() {
    let seen = Arc::new(Mutex::new(String::new()));
    let app = Router::new()
        .route(
            "/",
            get(
                |State(seen): State<Arc<Mutex<String>>>, headers: HeaderMap| async move {
                    *seen.lock().unwrap() = headers
                        .get(h::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    "ok"
                },
            ),
        )
        .with_state(seen.clone());
    let (base, _) = serve(app).await;
    let mut c = cfg();
    assert_eq!(fetcher(&c).user_agent(), "Ballotwatch/0.1.0-test");
    c.contact_url = Some(Url::parse("https://anytown.gov.uk/ballotwatch").unwrap());
    let f = fetcher(&c);
    assert_eq!(
        f.user_agent(),
        "Ballotwatch/0.1.0-test (+https://anytown.gov.uk/ballotwatch)"
    );
    f.get(&req(&format!("{base}/"))).await.unwrap();
    assert_eq!(seen.lock().unwrap().as_str(), f.user_agent());
}

#[tokio::test]
async fn non_http_urls_are_invalid() {
    let f = fetcher(&cfg());
    let err = f
        .get(&req("ftp://files.anytown.test/feed.xml"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot fetch `ftp://files.anytown.test/feed.xml`: the scheme is `ftp`; only http and https are fetched"
    );
    assert!(!err.is_transient());
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_777_000_000);
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(
        parse_retry_after(&later, now),
        Some(Duration::from_secs(90))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
    assert_eq!(parse_retry_after("", now), None);
    assert_eq!(
        parse_retry_after("99999999999999999999999", now),
        Some(Duration::from_secs(u64::MAX))
    );
}

#[test]
fn transience_by_status() {
    let s = |status| FetchError::Status {
        url: "u".into(),
        status,
        retry_after: None,
        detail: None,
    };
    for code in [408, 425, 429, 500, 502, 503, 504] {
        assert!(s(code).is_transient(), "{code}");
    }
    for code in [400, 401, 403, 404, 410, 451] {
        assert!(!s(code).is_transient(), "{code}");
    }
}

proptest::proptest! {
    #[test]
    fn retry_after_never_panics(v in "\\PC{0,40}") {
        let _ = parse_retry_after(&v, SystemTime::now());
    }

    #[test]
    fn retry_after_seconds_round_trip(n in 0u64..10_000_000) {
        proptest::prop_assert_eq!(
            parse_retry_after(&n.to_string(), SystemTime::now()),
            Some(Duration::from_secs(n))
        );
    }
}

/// Refuses bodies containing `POISON`, and remembers what it was shown.
#[derive(Default)]
struct TestGate {
    seen: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl ResponseGate for TestGate {
    async fn admit(&self, capture: &Capture, body: &[u8]) -> Result<(), GateRefusal> {
        self.seen
            .lock()
            .unwrap()
            .push((capture.url.clone(), capture.sha256.clone()));
        if body.windows(6).any(|w| w == b"POISON") {
            Err(GateRefusal::Quarantined {
                what: "response",
                sha256: capture.sha256.clone(),
                attempts: 2,
            })
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_response_gate_sees_feed_bodies_before_the_caller_and_may_refuse_them() {
    let app = Router::new()
        .route("/good", get(|| async { FEED }))
        .route("/bad", get(|| async { "<rss>POISON</rss>" }))
        .route("/media", get(|| async { "POISON media bytes" }));
    let (base, _) = serve(app).await;
    let gate = Arc::new(TestGate::default());
    let plain = fetcher(&cfg());
    let f = plain.with_response_gate(gate.clone());

    let Fetched::Body { capture, .. } = f.get(&req(&format!("{base}/good"))).await.unwrap() else {
        panic!("expected a body");
    };
    assert_eq!(capture.sha256, sha256_hex(FEED.as_bytes()));

    let err = f.get(&req(&format!("{base}/bad"))).await.unwrap_err();
    assert!(matches!(err, FetchError::Refused { .. }), "{err:?}");
    let bad_sha = sha256_hex(b"<rss>POISON</rss>");
    match &err {
        FetchError::Refused { url, reason } => {
            assert_eq!(url, &format!("{base}/bad"));
            assert_eq!(
                reason,
                &GateRefusal::Quarantined {
                    what: "response",
                    sha256: bad_sha.clone(),
                    attempts: 2
                }
            );
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!(
            "{base}/bad: this response (sha256 {bad_sha}) is quarantined"
        )),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(err.url(), format!("{base}/bad"));

    // Media (capped fetches) and fetchers without the gate are not gated.
    let cap = |_: &[u8]| -> u64 { 1 << 20 };
    f.get_capped(&req(&format!("{base}/media")), &cap)
        .await
        .unwrap();
    plain.get(&req(&format!("{base}/bad"))).await.unwrap();
    let seen = gate.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, format!("{base}/bad"));
}
