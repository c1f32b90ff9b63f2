use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ballotwatch_store::Role;

use super::*;
use crate::testutil::*;

/// Records what it is given and answers a receipt.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<NewReport>>,
}

#[async_trait::async_trait]
impl ReportIntake for Recorder {
    async fn submit(&self, report: NewReport) -> Result<Receipt, ReportError> {
        let mut got = self.got.lock().unwrap();
        got.push(report);
        Ok(Receipt {
            reference: ballotwatch_store::report_reference(got.len() as i64),
            item_id: format!("item-{}", got.len()),
            urls: Vec::new(),
            files: Vec::new(),
            joined: None,
        })
    }
}

const BOUNDARY: &str = "XyZbOuNdArY";

/// A multipart body of `(name, file name, bytes)` parts.
fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn post(path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut r = Request::post(path).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body)).unwrap()
}

/// The app with a recording intake and `reports`.
fn app_with(reports: ReportsConfig) -> (TestApp, Arc<Recorder>) {
    let mut t = test_app();
    let recorder = Arc::new(Recorder::default());
    let state = AppState::new(
        t.store.clone(),
        ballotwatch_index::SearchIndex::open_or_create(&t._dir.path().join("i2")).unwrap(),
        crate::WebConfig {
            report_intake: Some(ReportIntakeHandle(recorder.clone())),
            reports,
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..crate::WebConfig::from_server(&Default::default())
        },
    );
    t.router = crate::app(state, true);
    (t, recorder)
}

fn bearer(t: &TestApp, name: &str, role: Role) -> String {
    let user = t.store.create_user(name, role, "x").unwrap();
    let token = format!("api-{name}");
    t.store
        .create_api_token(
            &user,
            &crate::auth::token_hash(&token),
            "test",
            None,
            "admin",
        )
        .unwrap();
    format!("Bearer {token}")
}

#[test]
fn only_web_addresses_are_reported() {
    assert_eq!(
        parse_url(" https://anytown-gov.uk/vote ").unwrap().as_str(),
        "https://anytown-gov.uk/vote"
    );
    for bad in [
        "ftp://x.example/",
        "javascript:alert(1)",
        "not a url",
        "file:///etc/passwd",
    ] {
        let e = parse_url(bad).unwrap_err().to_string();
        assert!(e.contains("not a web address"), "{bad}: {e}");
    }
    let long = format!("https://x.example/{}", "a".repeat(MAX_URL_LEN));
    assert!(parse_url(&long)
        .unwrap_err()
        .to_string()
        .contains("longer than"));
    assert_eq!(
        clean_name("C:\\Users\\me\\shot.png").as_deref(),
        Some("shot.png")
    );
    assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
    assert_eq!(clean_name("/"), None);
}

#[test]
fn the_body_limit_covers_the_files_and_the_fields() {
    let l = Limits {
        files: 3,
        file_size: 10_000_000,
        urls: 3,
    };
    assert!(l.body() > 30_000_000);
    assert!(l.body() < 32_000_000);
}

#[tokio::test]
async fn analysts_report_through_the_api_and_viewers_cannot() {
    let (t, rec) = app_with(ReportsConfig::default());
    let analyst = bearer(&t, "ana", Role::Analyst);
    let viewer = bearer(&t, "vic", Role::Viewer);
    let form = body(&[
        (
            "url",
            None,
            b"https://anytown-gov.uk/vote\nhttps://anytown-gov.uk/vote https://x.example/a",
        ),
        ("file", Some("shot.png"), b"\x89PNG fake"),
        ("file", Some(""), b""),
        ("note", None, "Seen in the residents' group".as_bytes()),
        ("platform", None, b"Facebook"),
        ("group", None, b"  "),
    ]);
    let (status, _, _) = send(&t.router, post("/api/v1/reports", &[], form.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, text) = send(
        &t.router,
        post(
            "/api/v1/reports",
            &[("authorization", &viewer)],
            form.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(rec.got.lock().unwrap().is_empty());

    let (status, _, text) = send(
        &t.router,
        post("/api/v1/reports", &[("authorization", &analyst)], form),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["reference"], "R-000001");
    assert_eq!(v["item_id"], "item-1");
    let got = rec.got.lock().unwrap();
    let r = &got[0];
    assert_eq!(r.reporter, "ana");
    assert!(!r.public);
    let urls: Vec<&str> = r.urls.iter().map(Url::as_str).collect();
    assert_eq!(
        urls,
        ["https://anytown-gov.uk/vote", "https://x.example/a"],
        "repeats dropped"
    );
    assert_eq!(r.files.len(), 1, "the empty file input is no file");
    assert_eq!(r.files[0].name.as_deref(), Some("shot.png"));
    assert_eq!(r.files[0].mime.as_deref(), Some("image/png"));
    assert_eq!(r.platform.as_deref(), Some("Facebook"));
    assert_eq!(r.group, None, "blank is absent");
}

#[tokio::test]
async fn forms_over_a_limit_are_refused_naming_it() {
    let reports = ReportsConfig {
        max_files: 2,
        max_file_size: bytesize::ByteSize::b(1000),
        max_urls: 2,
        ..ReportsConfig::default()
    };
    let (t, rec) = app_with(reports);
    let analyst = bearer(&t, "ana", Role::Analyst);
    let auth = [("authorization", analyst.as_str())];
    let big = vec![b'x'; 1001];
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            body(&[("file", Some("big.png"), &big)]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "`big.png` is larger than",
        ),
        (
            body(&[
                ("file", Some("a.png"), b"a"),
                ("file", Some("b.png"), b"b"),
                ("file", Some("c.png"), b"c"),
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 2 file(s)",
        ),
        (
            body(&[(
                "url",
                None,
                b"https://a.example/ https://b.example/ https://c.example/",
            )]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 2 URL(s)",
        ),
        (
            body(&[("note", None, &vec![b'n'; MAX_TEXT_FIELD + 1])]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "`note` field is longer",
        ),
        (
            body(&[("url", None, b"ftp://a.example/")]),
            StatusCode::BAD_REQUEST,
            "not a web address",
        ),
        (
            body(&[("colour", None, b"red")]),
            StatusCode::BAD_REQUEST,
            "unknown form field `colour`",
        ),
        (
            body(&[("note", None, b"   ")]),
            StatusCode::BAD_REQUEST,
            "at least one URL, file or note",
        ),
        (
            body(&[("file", Some("empty.png"), b"")]),
            StatusCode::BAD_REQUEST,
            "`empty.png` is empty",
        ),
        (
            body(&[("note", None, b"\xff\xfe")]),
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
    ];
    for (form, want, says) in cases {
        let (status, _, text) = send(&t.router, post("/api/v1/reports", &auth, form)).await;
        assert_eq!(status, want, "{says}: {text}");
        assert!(text.contains(says), "{says}: {text}");
    }
    // Far past the body limit: refused while reading, not buffered.
    let huge = vec![
        b'x';
        Limits::staff(&ReportsConfig {
            max_files: 2,
            max_file_size: bytesize::ByteSize::b(1000),
            ..ReportsConfig::default()
        })
        .body()
            + 10
    ];
    let (status, _, text) = send(
        &t.router,
        post("/api/v1/reports", &auth, body(&[("note", None, &huge)])),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let req = Request::post("/api/v1/reports")
        .header("authorization", analyst.as_str())
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, text) = send(&t.router, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("multipart/form-data"), "{text}");
    assert!(rec.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_report_page_needs_an_analyst_and_the_form_token() {
    let (t, rec) = app_with(ReportsConfig::default());
    let (viewer, _) = session(&t, "vic", Role::Viewer);
    let (analyst, csrf) = session(&t, "ana", Role::Analyst);
    let (status, _, _) = send(&t.router, get_with(&viewer, "/reports")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, page) = send(&t.router, get_with(&analyst, "/reports")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("multipart/form-data") && page.contains(&csrf),
        "{page}"
    );
    let form = |csrf: &str| {
        body(&[
            ("csrf", None, csrf.as_bytes()),
            ("note", None, b"fake notice"),
        ])
    };
    let (status, _, _) = send(
        &t.router,
        post("/reports", &[("cookie", &analyst)], form("wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "without the form token");
    assert!(rec.got.lock().unwrap().is_empty());
    let (status, _, page) = send(
        &t.router,
        post("/reports", &[("cookie", &analyst)], form(&csrf)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("R-000001") && page.contains("/items/item-1"),
        "{page}"
    );
}

#[tokio::test]
async fn the_public_form_is_off_unless_enabled() {
    let (t, rec) = app_with(ReportsConfig::default());
    for req in [
        Request::get("/report").body(Body::empty()).unwrap(),
        post("/report", &[], body(&[("note", None, b"x")])),
    ] {
        let (status, _, _) = send(&t.router, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert!(rec.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_public_form_answers_a_reference_limits_addresses_and_traps_robots() {
    let (t, rec) = app_with(ReportsConfig {
        public_form: true,
        public_per_address: 2,
        ..ReportsConfig::default()
    });
    let (status, h, page) = send(
        &t.router,
        Request::get("/report").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("name=\"{HONEYPOT}\"")), "{page}");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let from = |ip: &str| [("x-forwarded-for", ip.to_string())];
    let send_from = |ip: &str, form: Vec<u8>| {
        let headers = from(ip);
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post("/report", &h, form)
    };
    let (status, _, page) = send(
        &t.router,
        send_from(
            "203.0.113.9",
            body(&[("note", None, b"fake polling card"), (HONEYPOT, None, b"")]),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("R-000001"), "{page}");
    assert!(!page.contains("item-1"), "no stored data: {page}");
    {
        let got = rec.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].public);
        assert_eq!(got[0].reporter, PUBLIC_REPORTER);
    }
    // The honeypot: an answer like any other, nothing stored.
    let (status, _, page) = send(
        &t.router,
        send_from(
            "198.51.100.7",
            body(&[
                ("note", None, b"buy now"),
                (HONEYPOT, None, b"http://spam.example"),
            ]),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Reference number: "), "{page}");
    assert_eq!(rec.got.lock().unwrap().len(), 1);
    // Over the public limits: 3 files of 10 MB by default.
    let (status, _, page) = send(
        &t.router,
        send_from(
            "192.0.2.50",
            body(&[("file", Some("a.png"), &vec![0u8; 10_000_001])]),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.contains("`a.png` is larger than"), "{page}");
    // The per-address limit counts the forwarded client, not the proxy.
    let (status, _, _) = send(
        &t.router,
        send_from("203.0.113.9", body(&[("note", None, b"two")])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, page) = send(
        &t.router,
        send_from("203.0.113.9", body(&[("note", None, b"three")])),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(page.contains("too many reports"), "{page}");
    let (status, _, _) = send(
        &t.router,
        send_from("203.0.113.10", body(&[("note", None, b"other")])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "another address is not limited");
    assert_eq!(rec.got.lock().unwrap().len(), 3);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Whatever bytes arrive as a report form (a valid boundary around garbage, or garbage
    /// alone), the answer is a 4xx naming the problem or a stored report, never a panic or 500.
    #[test]
    fn any_form_bytes_get_a_clear_answer(
        garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        framed in proptest::prelude::any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (t, _rec) = app_with(ReportsConfig { public_form: true, ..ReportsConfig::default() });
            let body = if framed {
                let mut b = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n").into_bytes();
                b.extend_from_slice(&garbage);
                b
            } else {
                garbage.clone()
            };
            let (status, _, text) = send(&t.router, post("/report", &[], body)).await;
            assert!(status.is_client_error() || status == StatusCode::OK, "{status}: {text}");
        });
    }
}
