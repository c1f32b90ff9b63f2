//! End to end: reports sent in to the real `serve` on 127.0.0.1 (issue 19).
//!
//! - An analyst reports, with an API token, a screenshot (a PNG) and the URL of a loopback page
//!   impersonating the council: the report item is stored with the picture as captured media
//!   and the page's capture (its text and links are the item's), classified and flagged like a
//!   watched page, and opens an incident; a URL that answers 404 is recorded with the reason;
//!   no token is 401, a viewer's 403; the public form is off (404). The same page reported
//!   again joins the same item and incident, which counts two reports.
//! - The same picture re-encoded, scaled and cropped joins the first report's item (PDQ); a
//!   different picture does not; a PDF's text is read into its report; the third report of
//!   one incident within `[reports] burst` raises its severity and sends exactly one more
//!   alert.
//! - With private addresses refused, a reported loopback URL is recorded with the SSRF guard's
//!   reason and the report is kept; the public form (on) answers a reference number only,
//!   refuses an oversize upload (413), accepts-looking but stores nothing when the honeypot is
//!   filled, and limits each address (429).

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::browser::{poll_until, wait_for_within};
use common::serve::Serve;
use common::tools::Tool;
use common::*;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";
pub(crate) const BOUNDARY: &str = "ballotwatch-test-boundary";

const ANYTOWN: &str = r#"
[[identity]]
name = "Anytown Borough Council"
kind = "organisation"
domains = ["anytown.gov.uk"]
"#;

/// The loopback page pretending to be the council's.
const FAKE_PAGE: &str = r#"<!doctype html><html><head><title>Anytown Borough Council - Polling station changes</title></head>
<body><article><h1>Anytown Borough Council: polling station changes</h1>
<p>Because of building works, every polling station in Riverside ward is closed on polling day.
Residents of Anytown can vote by text message instead this year: register your vote at
<a href="https://anytown-gov.uk/vote-by-text">anytown-gov.uk/vote-by-text</a> before 10pm.</p>
<p>Anytown Borough Council Elections Office</p></article></body></html>"#;

/// A public post as script-heavy platforms serve it: an empty shell the page's script fills.
const SCRIPTED_POST: &str = r#"<!doctype html><html><head><title>Castle ward neighbours</title></head>
<body><main><div id="post">Loading…</div></main>
<script>document.getElementById("post").textContent = "Castle ward polling station has moved to the leisure centre car park for this election only, tell your neighbours";</script>
</body></html>"#;

/// A multipart form of `(name, file name, content type, bytes)` parts.
pub(crate) fn form(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, mime, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        out.extend_from_slice(
            format!("Content-Disposition: {disposition}\r\nContent-Type: {mime}\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// POSTs a form to `path`, with a bearer token and extra headers; status and body text.
async fn post(
    serve: &Serve,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = http()
        .post(serve.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn api_get(serve: &Serve, token: &str, path: &str) -> Value {
    let res = http()
        .get(serve.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    serde_json::from_str(&res.text().await.unwrap_or_default()).unwrap_or(Value::Null)
}

fn add_user(ws: &Workspace, name: &str, role: &str) -> String {
    let r = ws.run_with_stdin(
        &["user", "add", name, "--role", role],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(r.code, 0, "user add: {}", r.stderr);
    let r = ws.run(&["user", "token", name]);
    assert_eq!(r.code, 0, "user token: {}", r.stderr);
    r.stdout.trim().to_string()
}

fn screenshot_png() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/fake-notice.png")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysts_report_is_captured_classified_and_opens_an_incident() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // A group post that answers a logged-out visitor with a login form (a recorded shape).
    let wall = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ingest/src/sources/report_testdata/facebook-login-wall.html"),
    )
    .unwrap();
    let site = serve_bytes(vec![
        (
            "/notice",
            "text/html; charset=utf-8",
            FAKE_PAGE.as_bytes().to_vec(),
        ),
        ("/groups/anytown/posts/1", "text/html; charset=utf-8", wall),
        // A post whose words a script writes: only the rendered page has them.
        (
            "/p/42",
            "text/html; charset=utf-8",
            SCRIPTED_POST.as_bytes().to_vec(),
        ),
    ]);
    let ws = Workspace::new(&format!("{ANYTOWN}\n[evidence]\nscreenshots = true\n"));
    let analyst = add_user(&ws, "ana", "analyst");
    let viewer = add_user(&ws, "vic", "viewer");
    let serve = Serve::start(&ws);
    let png = screenshot_png();
    let notice = format!("{site}/notice");
    let missing = format!("{site}/gone");
    let walled = format!("{site}/groups/anytown/posts/1");
    let scripted = format!("{site}/p/42");
    let urls = format!("{notice}\n{missing}\n{walled}\n{scripted}");
    let body = form(&[
        ("url", None, "text/plain", urls.as_bytes()),
        ("file", Some("whatsapp-forward.png"), "image/png", &png),
        (
            "note",
            None,
            "text/plain",
            "Forwarded in the Riverside parents' WhatsApp group".as_bytes(),
        ),
        ("platform", None, "text/plain", b"WhatsApp"),
        ("group", None, "text/plain", b"Riverside parents"),
    ]);

    let (status, text) = post(&serve, "/api/v1/reports", None, &[], body.clone()).await;
    assert_eq!(status, 401, "{text}");
    let (status, text) = post(&serve, "/api/v1/reports", Some(&viewer), &[], body.clone()).await;
    assert_eq!(status, 403, "{text}");
    let (status, text) = post(&serve, "/report", None, &[], body.clone()).await;
    assert_eq!(status, 404, "the public form is off by default: {text}");

    let (status, text) = post(&serve, "/api/v1/reports", Some(&analyst), &[], body).await;
    assert_eq!(status, 201, "{text}");
    let receipt: Value = serde_json::from_str(&text).unwrap();
    let reference = receipt["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("R-"), "{receipt}");
    let item_id = receipt["item_id"].as_str().unwrap().to_string();
    let urls = receipt["urls"].as_array().unwrap();
    assert_eq!(urls[0]["url"], notice.as_str());
    assert_eq!(urls[0]["captured"], true, "{receipt}");
    assert_eq!(urls[0]["status"], 200);
    assert!(urls[0]["title"]
        .as_str()
        .unwrap()
        .contains("Anytown Borough Council"));
    assert_eq!(urls[1]["captured"], false, "{receipt}");
    let why = urls[1]["error"].as_str().unwrap();
    assert!(why.contains("404") && why.contains("/gone"), "{why}");
    // The login wall was fetched (its bytes are kept) but is not the post: recorded as why.
    assert_eq!(urls[2]["captured"], false, "{receipt}");
    assert_eq!(urls[2]["status"], 200, "{receipt}");
    let why = urls[2]["error"].as_str().unwrap();
    assert!(
        why.starts_with("login wall: ") && why.contains("password"),
        "{why}"
    );
    let file = &receipt["files"][0];
    assert_eq!(file["name"], "whatsapp-forward.png");
    assert_eq!(file["mime"], "image/png", "{receipt}");
    assert_eq!(file["sha256"].as_str().unwrap().len(), 64);

    // Classified (the page's lookalike link) and in an incident, like a watched page.
    let item = wait_for_within(
        "the report flagged and in an incident",
        Duration::from_secs(90),
        || async {
            let v = api_get(&serve, &analyst, &format!("/api/v1/items/{item_id}")).await;
            (v["flagged"] == true && v["incident_id"].is_i64()).then_some(v)
        },
    )
    .await;
    assert_eq!(item["source"]["kind"], "report");
    assert_eq!(item["source"]["name"], "Reports");
    assert_eq!(item["url"], notice.as_str());
    let text = item["text"].as_str().unwrap();
    assert!(
        text.contains("Forwarded in the Riverside parents"),
        "{text}"
    );
    assert!(
        text.contains("Seen on WhatsApp, group Riverside parents"),
        "{text}"
    );
    assert!(
        text.contains("vote by text message"),
        "the page's text: {text}"
    );
    let verdicts = item["verdicts"].as_array().unwrap();
    assert!(
        verdicts.iter().any(
            |v| v["label"] == "lookalike_domain" && v["evidence"]["domain"] == "anytown-gov.uk"
        ),
        "{item}"
    );
    let media = &item["media"][0];
    assert_eq!(media["mime"], "image/png");
    assert_eq!(media["sha256"], file["sha256"]);

    // The same page reported again (from the public form's neighbour, the API) joins the
    // same incident, which counts both reports.
    let incident = item["incident_id"].as_i64().unwrap();
    let again = form(&[
        ("url", None, "text/plain", notice.as_bytes()),
        (
            "note",
            None,
            "text/plain",
            b"Same page, now on the Anytown Facebook group",
        ),
    ]);
    let (status, text) = post(&serve, "/api/v1/reports", Some(&analyst), &[], again).await;
    assert_eq!(status, 201, "{text}");
    let second: Value = serde_json::from_str(&text).unwrap();
    assert_ne!(second["reference"], reference.as_str());
    // It joins the first report's item (and so its incident) as another report.
    assert_eq!(second["item_id"], item_id.as_str(), "{second}");
    assert_eq!(second["joined"]["by"], "url", "{second}");
    assert_eq!(second["joined"]["incident_id"], incident, "{second}");
    let inc = api_get(&serve, &analyst, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["reports"]["count"], 2, "{inc}");
    assert!(
        inc["reports"]["first"].is_string() && inc["reports"]["last"].is_string(),
        "{inc}"
    );

    // The stored side: the picture's bytes, the reporter (in the report and the audit log),
    // the page capture, and (with Chromium) the page's screenshot.
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let sha = media["sha256"].as_str().unwrap();
    assert_eq!(store.read_blob(sha).unwrap(), png);
    let reports = store.reports_of_item(&item_id).unwrap();
    assert_eq!(reports.len(), 2, "both reports became the one item");
    assert_eq!(reports[0].reference, reference);
    assert_eq!(reports[0].reporter, "ana");
    assert!(!reports[0].public);
    assert_eq!(reports[0].detail["captured_urls"][1]["captured"], false);
    let audit = store.audit_entries(200).unwrap();
    assert!(
        audit.iter().any(|e| e.action == "report.receive"
            && e.actor == "ana"
            && e.detail["report"] == reference.as_str()),
        "{audit:?}"
    );
    let page_sha = ballotwatch_core::sha256_hex(FAKE_PAGE.as_bytes());
    assert_eq!(
        store.read_blob(&page_sha).unwrap(),
        FAKE_PAGE.as_bytes(),
        "the page's raw bytes are a capture"
    );
    if Tool::Chromium.present() {
        let shots = poll_until(Duration::from_secs(90), || async {
            let shots = store.screenshots_of(&item_id).unwrap();
            (!shots.is_empty()).then_some(shots)
        })
        .await
        .expect("a screenshot attempt of the reported page");
        assert!(
            shots.iter().any(|s| s.shot.url == notice
                && matches!(
                    s.shot.outcome,
                    ballotwatch_store::ScreenshotOutcome::Taken { .. }
                )),
            "{shots:?}"
        );
        // The page's screenshot was taken before the report was stored and is a medium of the
        // report item, so OCR read what the page shows (the wall and the 404 were not shot).
        let stored = store.get_item(&item_id).unwrap().unwrap();
        let at = stored
            .item
            .media
            .iter()
            .position(|m| m.url.as_deref() == Some(&format!("screenshot:{notice}")))
            .unwrap_or_else(|| panic!("no screenshot medium: {:?}", stored.item.media));
        assert_eq!(stored.item.media[at].mime.as_deref(), Some("image/png"));
        assert!(!stored.item.media.iter().any(|m| m
            .url
            .as_deref()
            .is_some_and(|u| u.contains("/gone") || u.contains("/groups/"))));
        // What only the rendered page shows is in the item's text.
        let text = stored.item.text.clone().unwrap_or_default();
        assert!(
            text.contains("As the page renders: ")
                && text.contains("leisure centre car park for this election only"),
            "{text}"
        );
        let read = stored.result.unwrap().media_text;
        assert!(
            read.iter()
                .any(|t| t.media == at && t.text.to_lowercase().contains("building works")),
            "OCR of the screenshot (medium {at}): {read:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_urls_are_recorded_and_the_public_form_keeps_its_limits() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [reports]\npublic_form = true\npublic_per_address = 2\npublic_max_file_size = \"100KB\"\n\
         [evidence]\nscreenshots = false\n",
    );
    // This deployment refuses private addresses, as production does.
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        config.replace(
            "allow_private_addresses = true",
            "allow_private_addresses = false",
        ),
    )
    .unwrap();
    let analyst = add_user(&ws, "ana", "analyst");
    let serve = Serve::start(&ws);

    let inside = "http://127.0.0.1:9/admin";
    let (status, text) = post(
        &serve,
        "/api/v1/reports",
        Some(&analyst),
        &[],
        form(&[
            ("url", None, "text/plain", inside.as_bytes()),
            ("note", None, "text/plain", b"odd link"),
        ]),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let receipt: Value = serde_json::from_str(&text).unwrap();
    let refused = &receipt["urls"][0];
    assert_eq!(refused["captured"], false);
    let why = refused["error"].as_str().unwrap();
    assert!(
        why.contains("refused")
            && why.contains("loopback")
            && why.contains("allow_private_addresses"),
        "{why}"
    );
    let item_id = receipt["item_id"].as_str().unwrap();
    let item = api_get(&serve, &analyst, &format!("/api/v1/items/{item_id}")).await;
    assert_eq!(item["url"], inside, "the report is kept: {item}");

    // The public form: a reference number and nothing else.
    let client = |ip: &'static str| [("x-forwarded-for", ip)];
    let (status, page) = post(
        &serve,
        "/report",
        None,
        &client("203.0.113.5"),
        form(&[
            (
                "note",
                None,
                "text/plain",
                b"A leaflet says polling day moved to Friday",
            ),
            ("website", None, "text/plain", b""),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let reference = page
        .split("R-")
        .nth(1)
        .map(|r| format!("R-{}", &r[..6]))
        .expect("a reference number");
    assert!(
        !page.contains("Friday") && !page.contains("/items/"),
        "no stored data: {page}"
    );
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let number = ballotwatch_store::parse_reference(&reference).unwrap();
    let stored = store.report(number).unwrap().expect("the public report");
    assert!(stored.public);
    assert_eq!(stored.reporter, "public report form");
    let item = store
        .get_item(stored.item_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(item.item.source.name, "Public reports");

    // Oversize: 413 with the limit named.
    let big = vec![0u8; 100_001];
    let (status, page) = post(
        &serve,
        "/report",
        None,
        &client("198.51.100.20"),
        form(&[("file", Some("huge.png"), "image/png", &big)]),
    )
    .await;
    assert_eq!(status, 413, "{page}");
    assert!(
        page.contains("huge.png") && page.contains("larger than"),
        "{page}"
    );

    // The honeypot: looks accepted, stores nothing.
    let before = store.count_items().unwrap();
    let (status, page) = post(
        &serve,
        "/report",
        None,
        &client("198.51.100.21"),
        form(&[
            ("note", None, "text/plain", b"cheap pills"),
            ("website", None, "text/plain", b"http://spam.example/"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Reference number"), "{page}");
    assert_eq!(store.count_items().unwrap(), before, "nothing stored");

    // Two reports per address per window: the third is 429.
    let (status, _) = post(
        &serve,
        "/report",
        None,
        &client("203.0.113.5"),
        form(&[("note", None, "text/plain", b"second")]),
    )
    .await;
    assert_eq!(status, 200);
    let (status, page) = post(
        &serve,
        "/report",
        None,
        &client("203.0.113.5"),
        form(&[("note", None, "text/plain", b"third")]),
    )
    .await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("too many reports"), "{page}");
}

/// `png` decoded, cropped by 3 px on every side, scaled to 90% and re-encoded as JPEG: the
/// same picture as PDQ sees it, other bytes.
fn reencoded(png: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(png).unwrap();
    let (w, h) = (img.width(), img.height());
    let cropped = img.crop_imm(3, 3, w - 6, h - 6);
    let scaled = cropped.resize(
        (w - 6) * 9 / 10,
        (h - 6) * 9 / 10,
        image::imageops::FilterType::Triangle,
    );
    let mut out = Vec::new();
    scaled
        .to_rgb8()
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_picture_joins_its_item_a_burst_raises_severity_and_pdfs_are_read() {
    if !common::tools::needs(&[Tool::Models, Tool::SmtpServer, Tool::Pdftotext]) {
        return;
    }
    let smtp = SmtpServer::start("none");
    let site = serve_bytes(vec![(
        "/notice",
        "text/html; charset=utf-8",
        FAKE_PAGE.as_bytes().to_vec(),
    )]);
    let ws = Workspace::new(&format!(
        "{ANYTOWN}\n{}\n[[alerts.rule]]\nname = \"comms\"\n\
         kinds = [\"impersonation\", \"synthetic_media\", \"misinformation\"]\n\
         min_severity = \"low\"\nto = [\"comms@anytown.example\"]\nmode = \"immediate\"\n\
         on_update = \"immediate\"\n\
         [reports]\nburst = {{ count = 3, within = \"30m\" }}\n",
        smtp.config()
    ));
    let analyst = add_user(&ws, "ana", "analyst");
    let serve = Serve::start_with_env(&ws, &[("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)]);
    let png = screenshot_png();
    let notice = format!("{site}/notice");
    let send = |parts: Vec<(&'static str, Option<&'static str>, &'static str, Vec<u8>)>| {
        let serve = &serve;
        let analyst = analyst.clone();
        async move {
            let borrowed: Vec<(&str, Option<&str>, &str, &[u8])> = parts
                .iter()
                .map(|(n, f, m, b)| (*n, *f, *m, b.as_slice()))
                .collect();
            let (status, text) = post(
                serve,
                "/api/v1/reports",
                Some(&analyst),
                &[],
                form(&borrowed),
            )
            .await;
            assert_eq!(status, 201, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };

    // 1. The page and its screenshot: a new item, flagged, an incident, one alert.
    let first = send(vec![
        ("url", None, "text/plain", notice.clone().into_bytes()),
        ("file", Some("notice.png"), "image/png", png.clone()),
    ])
    .await;
    assert!(first.get("joined").is_none(), "{first}");
    let item_id = first["item_id"].as_str().unwrap().to_string();
    let item = wait_for_within("the report's incident", Duration::from_secs(90), || async {
        let v = api_get(&serve, &analyst, &format!("/api/v1/items/{item_id}")).await;
        v["incident_id"].is_i64().then_some(v)
    })
    .await;
    let incident = item["incident_id"].as_i64().unwrap();
    smtp.wait_for(1, Duration::from_secs(60));

    // 2. The same screenshot, re-encoded, scaled and cropped, alone: joins by picture.
    let second = send(vec![(
        "file",
        Some("IMG-0003.jpg"),
        "image/jpeg",
        reencoded(&png),
    )])
    .await;
    assert_eq!(second["item_id"], item_id.as_str(), "{second}");
    assert_eq!(second["joined"]["by"], "picture", "{second}");
    assert_eq!(second["joined"]["incident_id"], incident, "{second}");

    // 3. Another picture with a PDF: its own item, the PDF's text read into it.
    let other =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/hustings.jpg"))
            .unwrap();
    let pdf = ballotwatch_ingest::pdf::one_line_pdf(
        "Hustings at Oakfield Community Centre on Tuesday at 7pm",
    );
    let third = send(vec![
        ("file", Some("hustings.jpg"), "image/jpeg", other),
        ("file", Some("leaflet.pdf"), "application/pdf", pdf),
    ])
    .await;
    assert!(
        third.get("joined").is_none(),
        "a different picture: {third}"
    );
    assert_ne!(third["item_id"], item_id.as_str());
    assert_eq!(third["files"][1]["mime"], "application/pdf", "{third}");
    assert!(third["files"][1]["error"].is_null(), "{third}");
    let third_id = third["item_id"].as_str().unwrap().to_string();
    let third_item = api_get(&serve, &analyst, &format!("/api/v1/items/{third_id}")).await;
    let text = third_item["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("[PDF leaflet.pdf]") && text.contains("Hustings at Oakfield"),
        "{third_item}"
    );

    // 4. The page again, shared with tracking parameters: joins by URL, the third report of
    // the incident within the window, so a burst: severity up one step, one more alert.
    let severity_before = api_get(&serve, &analyst, &format!("/api/v1/incidents/{incident}")).await
        ["severity"]
        .clone();
    let fourth = send(vec![(
        "url",
        None,
        "text/plain",
        format!("{notice}?utm_source=facebook&fbclid=IwAR0x").into_bytes(),
    )])
    .await;
    assert_eq!(fourth["joined"]["by"], "url", "{fourth}");
    let inc = api_get(&serve, &analyst, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["reports"]["count"], 3, "{inc}");
    let bursts = inc["report_bursts"].as_array().unwrap();
    assert_eq!(bursts.len(), 1, "{inc}");
    assert_eq!(bursts[0]["from"], severity_before, "{inc}");
    let steps = ["none", "low", "medium", "high"];
    let rank = |v: &Value| steps.iter().position(|s| v == *s).unwrap();
    assert_eq!(
        rank(&inc["severity"]),
        (rank(&severity_before) + 1).min(3),
        "raised one step: {inc}"
    );
    assert_eq!(bursts[0]["to"], inc["severity"], "{inc}");
    let list = api_get(&serve, &analyst, "/api/v1/incidents").await;
    let listed = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == incident)
        .unwrap();
    assert_eq!(listed["reports"]["count"], 3, "{listed}");
    let burst_mail = poll_until(Duration::from_secs(60), || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.text().contains("Reported 3 times"))
    })
    .await;
    assert!(burst_mail.is_some(), "the burst's alert");
    // Exactly one extra message about this incident: its first alert and the burst's.
    std::thread::sleep(Duration::from_secs(2));
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let about: Vec<_> = store
        .outbox_rows(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.incident_id == Some(incident))
        .collect();
    assert_eq!(about.len(), 2, "{about:?}");
    assert!(about[1].idempotency_key.ends_with(":burst:1"), "{about:?}");
    assert_eq!(store.reports_of_item(&item_id).unwrap().len(), 3);
    assert!(store
        .audit_entries(200)
        .unwrap()
        .iter()
        .any(|e| e.action == "incident.burst"));

    // 5. Four people report one new picture at the same moment: one report becomes the item,
    // the others join it (none misses the others).
    let count =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/camera-count.jpg"))
            .unwrap();
    let receipts = futures_util::future::join_all((0..4).map(|_| {
        send(vec![(
            "file",
            Some("count.jpg"),
            "image/jpeg",
            count.clone(),
        )])
    }))
    .await;
    let together = receipts[0]["item_id"].as_str().unwrap();
    assert!(
        receipts.iter().all(|r| r["item_id"] == together),
        "{receipts:?}"
    );
    let joined = receipts
        .iter()
        .filter(|r| r.get("joined").is_some())
        .count();
    assert_eq!(joined, 3, "{receipts:?}");
    assert_eq!(store.reports_of_item(together).unwrap().len(), 4);
}
