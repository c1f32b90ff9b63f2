//! End to end: the web UI and JSON API of the real `serve` on 127.0.0.1.
//!
//! - Every route refuses anonymous requests; the API works with a token and respects roles;
//!   `/metrics` is on its own listener; health and readiness answer.
//! - In headless Chromium (driven through chromedriver): a newcomer logs in, finds an incident
//!   by searching a word from it, sets it to "escalated" with a note and sees it on the
//!   dashboard chart; a hostile item (scripts, event handlers, `javascript:` URLs, CSS
//!   expressions, remote images) renders inert. Screenshots go to `target/screenshots/`.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use ballotwatch_core::{
    Capture, ClassifyResult, Item, Media, Severity, SourceRef, Verdict, VerdictKind,
};
use common::browser::*;
use common::serve::Serve;
use common::tools::Tool;
use common::*;
use fantoccini::Locator;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// Config for `serve`: web on a free port, metrics on another, and an alert rule so flagged
/// items become incidents (its webhook points at a closed port; delivery is not under test).
fn workspace() -> Workspace {
    Workspace::new(
        "[server]\nbind = \"127.0.0.1:0\"\nmetrics_bind = \"127.0.0.1:0\"\n\n\
         [[alerts.webhook]]\nname = \"hook\"\nkind = \"json\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
         [[alerts.rule]]\nname = \"comms\"\nwebhooks = [\"hook\"]\n",
    )
}

fn add_user(ws: &Workspace, name: &str, role: &str) {
    let r = ws.run_with_stdin(
        &["user", "add", name, "--role", role],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(r.code, 0, "user add: {}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("created user `{name}` with role {role}")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains(PASSWORD),
        "the typed password is never echoed"
    );
}

fn token(ws: &Workspace, name: &str) -> String {
    let r = ws.run(&["user", "token", name]);
    assert_eq!(r.code, 0, "user token: {}", r.stderr);
    r.stdout.trim().to_string()
}

/// The ordinary incident the newcomer works on.
fn seed_incident(data: &Path) {
    store_flagged(
        data,
        &[(
            "leisure-1",
            "Polling stations in Riverside ward have moved to the leisure centre this year.",
            "election_process_claim",
            json!({ "narrative": "polling-station-moved" }),
            Severity::High,
        )],
    );
}

/// A flagged item whose every field is hostile, stored as if ingested and classified, with
/// its HTML exactly as a hostile feed could send it (the web UI must not rely on ingest having
/// sanitized it).
fn seed_hostile(data: &Path) {
    let store = ballotwatch_store::Store::open(data).unwrap();
    let html = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/web/hostile-entry.html"),
    )
    .unwrap();
    let now = chrono::Utc::now();
    let sha256 = store.put_blob(html.as_bytes()).unwrap();
    let capture = Capture {
        url: "https://hostile.example/feed".into(),
        final_url: "https://hostile.example/feed".into(),
        status: 200,
        headers: vec![],
        sha256,
        size: html.len() as u64,
        started_at: now,
        finished_at: now,
    };
    let item = Item {
        id: "hostile-1".into(),
        source: SourceRef {
            kind: "rss".into(),
            name: "Hostile <b>Feed</b>".into(),
        },
        url: Some("javascript:window.bwPwned='url'".into()),
        title: Some("Rigged count <script>window.bwPwned='title'</script><img src=x onerror=\"window.bwPwned='title-img'\">".into()),
        text: Some("Leaflet claims the Riverside ward count is rigged. <script>window.bwPwned='text'</script>".into()),
        html: Some(html),
        media: vec![Media {
            url: Some("https://tracker.example/photo.png".into()),
            mime: Some("image/png".into()),
            capture_error: Some("https://tracker.example/photo.png answered HTTP 404 <script>window.bwPwned='media'</script>".into()),
            capture_retry: true,
            ..Media::default()
        }],
        ..Item::default()
    };
    store
        .record_poll(
            "Hostile",
            ballotwatch_store::PollRecord {
                captures: vec![capture],
                items: vec![(0, item)],
                etag: None,
                last_modified: None,
                cursor: None,
                not_modified: false,
                attempted_at: now,
                next_attempt_at: now,
            },
        )
        .unwrap();
    let pending = store.pending_classification(100).unwrap();
    let seq = pending
        .iter()
        .find(|s| s.item.id == "hostile-1")
        .unwrap()
        .seq;
    store
        .save_results(&[(
            seq,
            ClassifyResult {
                id: "hostile-1".into(),
                flagged: true,
                severity: Severity::High,
                verdicts: vec![Verdict {
                    kind: VerdictKind::Misinformation,
                    label: "election_process_claim".into(),
                    score: 0.9,
                    detector: "test".into(),
                    explanation: "claims <script>window.bwPwned='explanation'</script> rigging"
                        .into(),
                    evidence: json!({ "narrative": "count-rigged" }),
                    rebuttal: Some(
                        "<img src=x onerror=\"window.bwPwned='rebuttal'\">Counts are observed."
                            .into(),
                    ),
                }],
                detector_errors: vec![],
                media_text: Vec::new(),
            },
        )])
        .unwrap();
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn api_get(base: &Serve, token: &str, path: &str) -> (u16, Value) {
    let res = http()
        .get(base.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits until `serve` has opened both incidents and indexed both items; returns the ids of
/// the ordinary and the hostile incident.
async fn wait_until_ready(serve: &Serve, token: &str) -> (i64, i64) {
    wait_for("both items indexed", || async {
        let (_, v) = api_get(serve, token, "/api/v1/search?q=*").await;
        (v["total"] == 2).then_some(())
    })
    .await;
    wait_for("both incidents", || async {
        let (_, v) = api_get(serve, token, "/api/v1/incidents").await;
        let list = v["incidents"].as_array()?.clone();
        if list.len() < 2 {
            return None;
        }
        let mut ordinary = None;
        let mut hostile = None;
        for inc in &list {
            let id = inc["id"].as_i64()?;
            let (_, full) = api_get(serve, token, &format!("/api/v1/incidents/{id}")).await;
            match full["items"][0]["id"].as_str()? {
                "hostile-1" => hostile = Some(id),
                "leisure-1" => ordinary = Some(id),
                _ => {}
            }
        }
        Some((ordinary?, hostile?))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_anonymous_requests_and_the_api_works_with_tokens() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = workspace();
    seed_incident(&ws.data_dir());
    seed_hostile(&ws.data_dir());
    add_user(&ws, "vera", "viewer");
    add_user(&ws, "ana", "analyst");
    add_user(&ws, "adam", "admin");
    let dup = ws.run_with_stdin(
        &["user", "add", "ana", "--role", "viewer"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(dup.code, 2, "{}", dup.stderr);
    assert!(
        dup.stderr.contains("already a user `ana`"),
        "{}",
        dup.stderr
    );
    let short = ws.run_with_stdin(&["user", "add", "sam", "--role", "viewer"], "short\n");
    assert_eq!(short.code, 2, "{}", short.stderr);
    let badrole = ws.run(&["user", "add", "sam", "--role", "root"]);
    assert_eq!(badrole.code, 2, "{}", badrole.stderr);
    let generated = ws.run(&["user", "add", "gen", "--role", "viewer"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    assert!(
        generated.stdout.contains("password: "),
        "{}",
        generated.stdout
    );
    let (viewer, analyst, admin) = (token(&ws, "vera"), token(&ws, "ana"), token(&ws, "adam"));

    let serve = Serve::start(&ws);
    let (incident, _) = wait_until_ready(&serve, &viewer).await;
    let client = http();

    // Anonymous: every protected route is refused, with a session-less redirect for pages and
    // 401 for the API; a wrong token is refused too.
    for (method, path) in ballotwatch_web::PROTECTED_ROUTES {
        let path = path
            .replace("{id}", &incident.to_string())
            .replace("{sha256}", &"0".repeat(64));
        let req = client
            .request(method.parse().unwrap(), serve.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=x&status=escalated&note=n");
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let body = res.text().await.unwrap();
        if path.starts_with("/api/") {
            assert_eq!(status, 401, "{method} {path}: {body}");
        } else {
            assert_eq!(
                (status, location.as_deref()),
                (303, Some("/login")),
                "{method} {path}"
            );
        }
        assert!(
            !body.contains("leisure"),
            "{method} {path} leaked data: {body}"
        );
        let forged = client
            .request(method.parse().unwrap(), serve.url(&path))
            .bearer_auth("not-a-token")
            .header("cookie", "bw_session=not-a-session")
            .send()
            .await
            .unwrap();
        assert!(
            matches!(forged.status().as_u16(), 401 | 303),
            "{method} {path} with forged credentials: {}",
            forged.status()
        );
    }
    // Nothing changed.
    let (_, inc) = api_get(&serve, &viewer, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["status"], "new");

    // Open routes and headers.
    for path in ["/login", "/healthz", "/readyz", "/static/app.css"] {
        let res = client.get(serve.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }
    // Metrics live on their own listener only.
    assert_eq!(
        client
            .get(serve.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let metrics = client
        .get(format!("{}/metrics", serve.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ballotwatch_items_ingested_total 2",
        "ballotwatch_verdicts_total{kind=\"misinformation\"} 2",
        "ballotwatch_incidents_total 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("ballotwatch_alert_latency_seconds_count"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ballotwatch_source_errors_total"),
        "{metrics}"
    );

    // The API: search with a filter, roles on changes and the audit log.
    let (s, v) = api_get(&serve, &viewer, "/api/v1/search?q=leisure&flagged=true").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["hits"][0]["id"], "leisure-1");
    assert!(
        v["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<b>leisure</b>"),
        "{v}"
    );
    let (s, v) = api_get(&serve, &viewer, "/api/v1/search?q=leisure&bogus=1").await;
    assert_eq!(s, 400, "unknown parameters are refused: {v}");
    let (s, v) = api_get(&serve, &viewer, "/api/v1/search?q=title:(").await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("not well formed"),
        "{v}"
    );

    let change = |tok: &str, body: Value| {
        client
            .post(serve.url(&format!("/api/v1/incidents/{incident}")))
            .bearer_auth(tok)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let res = change(&viewer, json!({ "status": "escalated" }))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = change(
        &analyst,
        json!({ "status": "escalated", "assignee": "ana", "note": "Sent to the RO" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["assignee"].as_str()),
        (Some("escalated"), Some("ana"))
    );
    assert!(
        v["notes"].as_str().unwrap().contains("ana: Sent to the RO"),
        "{v}"
    );
    let res = change(&analyst, json!({ "status": "closed" }))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // The item is indexed again with its incident's new status, within seconds.
    wait_for_within(
        "the escalated incident's item in search",
        Duration::from_secs(5),
        || async {
            let (s, v) = api_get(&serve, &viewer, "/api/v1/search?status=escalated").await;
            (s == 200 && v["total"].as_u64() == Some(1)).then_some(())
        },
    )
    .await;

    // The evidence pack behind the incident page's export button: analysts only, a ZIP that
    // `ballotwatch verify` accepts, recorded in the audit log.
    let export = |tok: &str, id: i64| {
        client
            .post(serve.url(&format!("/api/v1/incidents/{id}/export")))
            .bearer_auth(tok)
            .send()
    };
    assert_eq!(
        export(&viewer, incident).await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(
        export(&analyst, 999_999).await.unwrap().status().as_u16(),
        404
    );
    let res = export(&analyst, incident).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/zip"
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with(&format!(
                "attachment; filename=\"ballotwatch-incident-{incident}-"
            )),
        "{:?}",
        res.headers()
    );
    let pack_sha = res.headers()["x-ballotwatch-pack-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let fingerprint_header = res.headers()["x-ballotwatch-signing-key-fingerprint"]
        .to_str()
        .unwrap()
        .to_string();
    let pack = ws.dir.path().join("download.zip");
    std::fs::write(&pack, res.bytes().await.unwrap()).unwrap();
    let key = common::signing_public_key(&ws.config());
    let verified = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    // The download names the signer by the fingerprint verify prints.
    let fingerprint = ballotwatch_evidence::key::fingerprint(&key).unwrap();
    assert_eq!(fingerprint_header, fingerprint);
    assert!(
        verified.stdout.contains(&fingerprint),
        "{}",
        verified.stdout
    );

    let (s, _) = api_get(&serve, &analyst, "/api/v1/audit").await;
    assert_eq!(s, 403);
    let (s, v) = api_get(&serve, &admin, "/api/v1/audit").await;
    assert_eq!(s, 200);
    let actions: Vec<(&str, &str)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    for expected in [
        ("ana", "incident.status"),
        ("ana", "incident.note"),
        ("vera", "search"),
        ("vera", "incident.view"),
        ("ana", "evidence.export"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }

    let (s, doc) = api_get(&serve, &viewer, "/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/incidents/{id}"]["post"].is_object(), "{doc}");
    let exported = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "evidence.export")
        .unwrap();
    assert_eq!(
        exported["detail"]["sha256"],
        pack_sha.as_str(),
        "{exported}"
    );
}

/// Issue 17: a search of 10,000 nested brackets overflowed the stack in Tantivy's parser and
/// aborted `serve`. Now the page and the API answer 400 naming the limit, `search` exits 2 with
/// the same message, and `serve` keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bracket_bomb_is_refused_and_serve_stays_up() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = workspace();
    seed_incident(&ws.data_dir());
    add_user(&ws, "vera", "viewer");
    let viewer = token(&ws, "vera");
    let mut serve = Serve::start(&ws);
    wait_for("the item indexed", || async {
        let (_, v) = api_get(&serve, &viewer, "/api/v1/search?q=leisure").await;
        (v["total"] == 1).then_some(())
    })
    .await;
    let deep = "query too deeply nested (10000 levels; at most 16)";
    let bomb = format!("{}leisure{}", "(".repeat(10_000), ")".repeat(10_000));

    let (s, v) = api_get(&serve, &viewer, &format!("/api/v1/search?q={bomb}")).await;
    assert_eq!(s, 400, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains(deep), "{error}");
    assert!(
        error.len() < 400,
        "the error quotes only the query's start: {error}"
    );

    let cookie = form_login(&serve, "vera", PASSWORD)
        .await
        .expect("vera logs in");
    let base = serve.base.clone();
    let page = |q: String| {
        let req = http()
            .get(format!("{base}/search?q={q}"))
            .header("cookie", cookie.clone());
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (s, body) = page(bomb.clone()).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains(deep), "{body}");
    let (s, body) = page("leisure+".repeat(200)).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body.contains("query too long (1599 characters; at most 1024)"),
        "{body}"
    );

    // Still up, still answering.
    assert!(serve.child.try_wait().unwrap().is_none(), "serve exited");
    let (s, v) = api_get(&serve, &viewer, "/api/v1/search?q=(((leisure)))").await;
    assert_eq!((s, v["total"].as_u64()), (200, Some(1)), "{v}");
    let (s, body) = page("leisure".into()).await;
    assert_eq!(s, 200, "{body}");

    let r = ws.run(&["search", &bomb]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(deep), "{}", r.stderr);
    assert!(serve.child.try_wait().unwrap().is_none(), "serve exited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_escalates_an_incident_in_chromium_and_hostile_content_stays_inert() {
    if !common::tools::needs(&[Tool::Chromium, Tool::Chromedriver, Tool::Models]) {
        return;
    }
    let ws = workspace();
    seed_incident(&ws.data_dir());
    seed_hostile(&ws.data_dir());
    add_user(&ws, "alice", "analyst");
    let api = token(&ws, "alice");
    let serve = Serve::start(&ws);
    let (incident, hostile) = wait_until_ready(&serve, &api).await;
    let driver = chromedriver();
    let c = browser(driver).await;

    // Log in.
    c.goto(&serve.url("/")).await.unwrap();
    wait_url(&c, "the login page", |u| u.ends_with("/login")).await;
    screenshot(&c, "login").await;
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the dashboard", |u| u.ends_with('/')).await;

    // Search a word from the incident and open it.
    c.find(Locator::LinkText("Search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the search page", |u| u.contains("/search")).await;
    c.find(Locator::Id("q"))
        .await
        .unwrap()
        .send_keys("leisure")
        .await
        .unwrap();
    c.find(Locator::Css("form[role='search'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "search results", |u| u.contains("q=leisure")).await;
    let hit = c.find(Locator::Css("article.hit h3 a")).await.unwrap();
    assert!(hit.text().await.unwrap().contains("Post leisure-1"));
    let snippet = c
        .find(Locator::Css("article.hit .snippet b"))
        .await
        .unwrap();
    assert_eq!(snippet.text().await.unwrap().to_lowercase(), "leisure");
    screenshot(&c, "search").await;
    hit.click().await.unwrap();
    wait_url(&c, "the incident", |u| {
        u.ends_with(&format!("/incidents/{incident}"))
    })
    .await;

    // Escalate with a note.
    set_incident_status(
        &c,
        "escalated",
        "Passed to the Returning Officer and the police",
    )
    .await;
    let notes = c
        .find(Locator::Css("pre.notes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notes.contains("alice: Passed to the Returning Officer and the police"),
        "{notes}"
    );
    let history = c
        .find(Locator::Css("section[aria-labelledby='h-history'] table"))
        .await
        .unwrap();
    assert!(
        history.text().await.unwrap().contains("new escalated"),
        "history row"
    );
    screenshot(&c, "incident").await;

    // The dashboard's status chart shows it.
    c.find(Locator::LinkText("Dashboard"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "the dashboard", |u| u.ends_with('/')).await;
    let bar = c
        .find(Locator::Css("#chart-status rect[data-label='escalated']"))
        .await
        .unwrap();
    assert_eq!(bar.attr("data-count").await.unwrap().as_deref(), Some("1"));
    let width: f64 = bar.attr("width").await.unwrap().unwrap().parse().unwrap();
    assert!(width > 100.0, "the escalated bar is drawn: {width}");
    let by_kind = c
        .find_all(Locator::Css(
            "#chart-kind rect[data-series='misinformation']",
        ))
        .await
        .unwrap();
    let opened: u32 = {
        let mut n = 0;
        for r in &by_kind {
            n += r
                .attr("data-count")
                .await
                .unwrap()
                .unwrap()
                .parse::<u32>()
                .unwrap();
        }
        n
    };
    assert_eq!(
        opened, 2,
        "both incidents opened today are on the kind chart"
    );
    screenshot(&c, "dashboard").await;

    // Hostile content is inert on the incident page, the item page and in search results.
    for path in [
        format!("/incidents/{hostile}"),
        "/items/hostile-1".to_string(),
        "/search?q=rigged".to_string(),
    ] {
        c.goto(&serve.url(&path)).await.unwrap();
        wait_for("the page", || async {
            c.find(Locator::Css("main h1")).await.ok().map(|_| ())
        })
        .await;
        let page = c
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Rigged count"),
            "{path}: the hostile item is shown: {page}"
        );
        let canary = c
            .execute("return typeof window.bwPwned", vec![])
            .await
            .unwrap();
        assert_eq!(canary, json!("undefined"), "{path}: a hostile script ran");
        let bad = c.execute(DOM_AUDIT, vec![]).await.unwrap();
        assert_eq!(bad, json!([]), "{path}: dangerous markup reached the DOM");
        if path.starts_with("/incidents") {
            assert!(
                page.contains("Styled text") && page.contains("Real story"),
                "{page}"
            );
            assert!(
                page.contains("Not captured: https://tracker.example/photo.png"),
                "{page}"
            );
            assert!(
                page.contains("https://tracker.example/photo.png answered HTTP 404 <script>")
                    && page.contains("(tried again on the next poll)"),
                "the reason is shown, as text: {page}"
            );
            c.execute(
                "document.querySelector('article.item').scrollIntoView()",
                vec![],
            )
            .await
            .unwrap();
            screenshot(&c, "hostile-incident").await;
        }
    }
    c.close().await.unwrap();
}

/// Logs in through the real form (its cookie-bound token first); the session cookie
/// (`name=value`) on success, else the status.
async fn form_login(serve: &Serve, user: &str, password: &str) -> Result<String, u16> {
    common::serve::form_login(&serve.base, user, password).await
}

/// The status of `GET /` with a session cookie (200, or 303 to the login page).
async fn dashboard_status(serve: &Serve, cookie: &str) -> u16 {
    http()
        .get(serve.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The ids `user token list NAME` prints, in order.
fn token_ids(ws: &Workspace, name: &str) -> Vec<String> {
    let r = ws.run(&["user", "token", "list", name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_the_cli_a_new_password_disable_and_revoke_end_sessions_and_tokens() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = workspace();
    add_user(&ws, "adam", "admin");
    add_user(&ws, "ana", "analyst");
    let admin = token(&ws, "adam");
    let lasting = token(&ws, "ana");
    let r = ws.run(&[
        "user",
        "token",
        "ana",
        "--label",
        "short",
        "--expires",
        "2s",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let short = r.stdout.trim().to_string();
    let bad = ws.run(&["user", "token", "ana", "--expires", "soon"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--expires"), "{}", bad.stderr);
    let none = ws.run(&["user", "token", "list", "nobody"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("no user `nobody`"), "{}", none.stderr);

    let serve = Serve::start(&ws);
    assert_eq!(api_get(&serve, &lasting, "/api/v1/incidents").await.0, 200);
    let session = form_login(&serve, "ana", PASSWORD).await.unwrap();
    assert_eq!(dashboard_status(&serve, &session).await, 200);

    // The short-lived token expires, with a 401 that says so.
    let (status, v) = wait_for("the short token to expire", || async {
        let (status, v) = api_get(&serve, &short, "/api/v1/incidents").await;
        (status == 401).then_some((status, v))
    })
    .await;
    assert_eq!(status, 401);
    assert!(v["error"].as_str().unwrap().contains("expired"), "{v}");
    let listed = ws.run(&["user", "token", "list", "ana"]);
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    assert!(listed.stdout.contains("\tshort\t"), "{}", listed.stdout);
    assert!(listed.stdout.contains("expired "), "{}", listed.stdout);

    // A new password ends the session and every token.
    let r = ws.run_with_stdin(
        &["user", "passwd", "ana", "--actor", "helpdesk"],
        "a brand new passphrase\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("ended 1 sessions and 2 API tokens"),
        "{}",
        r.stdout
    );
    assert_eq!(dashboard_status(&serve, &session).await, 303);
    assert_eq!(api_get(&serve, &lasting, "/api/v1/incidents").await.0, 401);
    assert_eq!(form_login(&serve, "ana", PASSWORD).await, Err(401));
    let session = form_login(&serve, "ana", "a brand new passphrase")
        .await
        .unwrap();
    let short_pw = ws.run_with_stdin(&["user", "passwd", "ana"], "short\n");
    assert_eq!(short_pw.code, 2, "{}", short_pw.stderr);

    // Revoke by id.
    let revocable = token(&ws, "ana");
    assert_eq!(
        api_get(&serve, &revocable, "/api/v1/incidents").await.0,
        200
    );
    let ids = token_ids(&ws, "ana");
    assert_eq!(ids.len(), 1);
    let r = ws.run(&["user", "token", "revoke", &ids[0]]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        api_get(&serve, &revocable, "/api/v1/incidents").await.0,
        401
    );
    let again = ws.run(&["user", "token", "revoke", &ids[0]]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(token_ids(&ws, "ana").is_empty());

    // Disable: the session and the token end, the right password is refused; enable lets the
    // account in again (its old tokens stay revoked).
    let disabled_token = token(&ws, "ana");
    let r = ws.run(&["user", "disable", "ana"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(dashboard_status(&serve, &session).await, 303);
    assert_eq!(
        api_get(&serve, &disabled_token, "/api/v1/incidents")
            .await
            .0,
        401
    );
    assert_eq!(
        form_login(&serve, "ana", "a brand new passphrase").await,
        Err(401)
    );
    let list = ws.run(&["user", "list"]);
    assert!(
        list.stdout.contains("ana\tanalyst\tdisabled"),
        "{}",
        list.stdout
    );
    assert_eq!(ws.run(&["user", "enable", "ana"]).code, 0);
    let session = form_login(&serve, "ana", "a brand new passphrase")
        .await
        .unwrap();
    assert_eq!(
        api_get(&serve, &disabled_token, "/api/v1/incidents")
            .await
            .0,
        401
    );

    // Delete: gone for logins and lists; the name is not reused; the last admin stays.
    let r = ws.run(&["user", "delete", "ana"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(dashboard_status(&serve, &session).await, 303);
    assert_eq!(
        form_login(&serve, "ana", "a brand new passphrase").await,
        Err(401)
    );
    assert!(!ws.run(&["user", "list"]).stdout.contains("ana"));
    let reuse = ws.run_with_stdin(
        &["user", "add", "ana", "--role", "viewer"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(reuse.code, 2, "{}", reuse.stderr);
    let last = ws.run(&["user", "disable", "adam"]);
    assert_eq!(last.code, 2, "{}", last.stderr);
    assert!(
        last.stderr.contains("last enabled admin"),
        "{}",
        last.stderr
    );
    for cmd in ["disable", "enable", "delete", "passwd"] {
        let r = ws.run_with_stdin(&["user", cmd, "nobody"], "");
        assert_eq!(r.code, 2, "user {cmd} nobody: {}", r.stderr);
        assert!(r.stderr.contains("no user `nobody`"), "{}", r.stderr);
    }

    // Every change is in the audit log, with who did it; the entries keep ana's name.
    let (status, v) = api_get(&serve, &admin, "/api/v1/audit").await;
    assert_eq!(status, 200, "{v}");
    let entries = v["entries"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["detail"]["user"] == "ana")
            .unwrap_or_else(|| panic!("no {action} for ana in {v}"))
    };
    assert_eq!(find("user.password")["actor"], "helpdesk");
    for action in [
        "token.create",
        "token.revoke",
        "user.disable",
        "user.enable",
        "user.delete",
    ] {
        assert!(find(action)["at"].is_string());
    }
}

/// `total` of `GET /api/v1/search` with this query string.
async fn search_total(serve: &Serve, token: &str, query: &str) -> Option<i64> {
    let (status, v) = api_get(serve, token, &format!("/api/v1/search?{query}")).await;
    (status == 200).then(|| v["total"].as_i64()).flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_filters_are_index_filters_kept_current_without_a_reindex_and_without_rules() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // No [[alerts.rule]]: incidents are opened whatever the rules.
    let ws = Workspace::new("[server]\nbind = \"127.0.0.1:0\"\nmetrics_bind = \"127.0.0.1:0\"\n");
    seed_incident(&ws.data_dir());
    // The item is in the index before it joins any incident.
    let r = ws.run(&["reindex"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ws.search_json("*").len(), 1);
    assert!(ws.search_json("incident_id:*").is_empty());
    add_user(&ws, "ana", "analyst");
    let tok = token(&ws, "ana");

    let serve = Serve::start(&ws);
    // serve opens the incident and indexes the item again: the status filter finds it.
    wait_for("the item indexed with its new incident", || async {
        (search_total(&serve, &tok, "status=new").await? == 1).then_some(())
    })
    .await;
    let (_, v) = api_get(&serve, &tok, "/api/v1/search?q=incident_id:*").await;
    assert_eq!(v["total"], 1, "{v}");
    let incident = v["hits"][0]["incident_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no incident_id in {v}"));
    assert_eq!(
        search_total(&serve, &tok, "status=escalated").await,
        Some(0)
    );

    // A status change through the API reaches the search filter within seconds.
    let res = http()
        .post(serve.url(&format!("/api/v1/incidents/{incident}")))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body(json!({ "status": "escalated" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let changed = Instant::now();
    wait_for_within(
        "the status change in the index",
        Duration::from_secs(5),
        || async {
            let escalated = search_total(&serve, &tok, "status=escalated").await?;
            let new = search_total(&serve, &tok, "status=new").await?;
            (escalated == 1 && new == 0).then_some(())
        },
    )
    .await;
    eprintln!("status change searchable after {:?}", changed.elapsed());
    let (_, v) = api_get(
        &serve,
        &tok,
        &format!("/api/v1/search?q=incident_status:escalated%20AND%20incident_id:{incident}"),
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    drop(serve);

    // `search --json` and `export --incident` see the same incident.
    let hits = ws.search_json("incident_status:escalated");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["incident_id"], incident);
    assert_eq!(hits[0]["incident_ids"], json!([incident]));
    ws.export_incident(incident);
}
