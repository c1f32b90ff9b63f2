//! End to end: alert emails through a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS and
//! implicit TLS with a test CA, AUTH), threading, outage and crash recovery with exactly-once
//! delivery, webhooks with their signatures against a local HTTP server, and the messages of a
//! webhook removed from the configuration.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballotwatch_core::Severity;
use common::tools::Tool;
use common::*;
use serde_json::json;

fn rule(extra: &str) -> String {
    format!(
        "[[alerts.rule]]\nname = \"comms\"\nkinds = [\"misinformation\"]\nmin_severity = \"medium\"\n\
         to = [\"comms@anytown.example\", \"press@anytown.example\"]\n{extra}\n"
    )
}

/// Starts `serve`, its log appended to `serve.log` in the workspace (printed if the test fails).
fn serve(ws: &Workspace) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ws.dir.path().join("serve.log"))
        .unwrap();
    ws.cmd(&["serve"])
        .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .env("BW_TEST_HOOK_SECRET", "hook-secret")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
}

/// Prints `serve`'s log when the test panics.
struct LogOnFailure(std::path::PathBuf);

impl Drop for LogOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.0.join("serve.log")).unwrap_or_default();
            eprintln!("---- serve log ----\n{log}");
        }
    }
}

fn narrative(id: &str) -> serde_json::Value {
    json!({ "narrative": id })
}

#[test]
fn a_flagged_item_is_emailed_once_and_an_update_threads_under_it() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    let smtp = SmtpServer::shared("starttls").mailbox();
    let ws = Workspace::new(&format!(
        "[server]\npublic_url = \"https://bw.anytown.example\"\n{}{}",
        smtp.config(),
        rule("on_update = \"immediate\"")
    ));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    let child = serve(&ws);
    std::thread::sleep(Duration::from_millis(300));
    let stored = Instant::now();
    store_flagged(
        &ws.data_dir(),
        &[(
            "a1",
            "Riverside polling station is CLOSED today",
            "false_voting_info",
            narrative("polls-closed"),
            Severity::High,
        )],
    );
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    let latency = stored.elapsed();
    assert_eq!(mails.len(), 1, "first alert");
    eprintln!("item stored -> SMTP 250 in {latency:?}");
    // The 5 s target is measured by `cargo bench --bench alerts`, not asserted here.
    let m = &mails[0];
    assert_eq!(
        m.rcpt_tos,
        ["comms@anytown.example", "press@anytown.example"]
    );
    assert_eq!(m.mail_from, smtp.from);
    let subject = m.header("Subject").unwrap();
    assert!(
        subject.contains("[HIGH]") && subject.contains("misinformation"),
        "{subject}"
    );
    assert!(
        m.data.contains("Content-Type: multipart/alternative"),
        "{}",
        m.data
    );
    assert!(m.data.contains("Content-Type: text/plain"));
    assert!(m.data.contains("Content-Type: text/html"));
    assert!(m.data.contains("https://echo.example/a1"));
    assert!(m.data.contains("https://bw.anytown.example/incidents/"));
    let first_id = m.header("Message-ID").unwrap();

    // A near-duplicate (same narrative) joins the incident and threads under the first alert.
    store_flagged(
        &ws.data_dir(),
        &[(
            "a2",
            "Polling station closed, share!",
            "false_voting_info",
            narrative("polls-closed"),
            Severity::High,
        )],
    );
    let mails = smtp.wait_for(2, Duration::from_secs(60));
    assert_eq!(mails.len(), 2);
    let u = &mails[1];
    assert!(
        u.header("Subject").unwrap().starts_with("Update:"),
        "{:?}",
        u.header("Subject")
    );
    assert_eq!(u.header("In-Reply-To").as_deref(), Some(first_id.as_str()));
    assert_eq!(u.header("References").as_deref(), Some(first_id.as_str()));
    assert!(u.data.contains("2 sightings"));
    stop(child);
    // Nothing more was sent, and the status command agrees.
    assert_eq!(smtp.messages().len(), 2);
    let r = ws.run(&["alerts", "status", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["counts"]["sent"], 2);
    assert_eq!(s["counts"]["pending"], 0);
}

#[test]
fn mail_server_down_then_up_every_alert_arrives_once_in_order() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    let mut smtp = SmtpServer::start("tls");
    smtp.down();
    let ws = Workspace::new(&format!(
        "{}[alerts]\nretry_initial = \"200ms\"\nretry_max = \"1s\"\n\n{}",
        smtp.config(),
        rule("")
    ));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    let ids = ["o1", "o2", "o3", "o4"];
    let items: Vec<_> = ids
        .iter()
        .map(|id| {
            (
                *id,
                "Polls moved to Thursday",
                "false_voting_info",
                narrative(id),
                Severity::High,
            )
        })
        .collect();
    store_flagged(&ws.data_dir(), &items);
    let child = serve(&ws);
    // Wait until it has failed at least once against the closed port (serve may take a while to
    // load the models on a busy machine).
    let deadline = Instant::now() + Duration::from_secs(90);
    let s = loop {
        let r = ws.run(&["alerts", "status", "--json"]);
        let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        // An attempt is counted when it starts and its error recorded when it fails: wait
        // for the error, or the status can be read between the two.
        if s["oldest_pending"]["last_error"].is_string() || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(s["counts"]["sent"], 0, "{s}");
    assert!(
        s["oldest_pending"]["attempts"].as_u64().unwrap() >= 1,
        "{s}"
    );
    assert!(
        s["oldest_pending"]["last_error"]
            .as_str()
            .unwrap()
            .contains("SMTP"),
        "{s}"
    );
    smtp.up();
    let mails = smtp.wait_for(4, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    let mails_after = smtp.messages();
    assert_eq!(mails_after.len(), 4, "each alert exactly once");
    let order: Vec<String> = mails
        .iter()
        .map(|m| {
            ids.iter()
                .find(|id| m.data.contains(&format!("https://echo.example/{id}")))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(order, ids, "in the order decided");
}

#[test]
fn kill_9_after_the_decision_delivers_once_after_restart() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    let mut smtp = SmtpServer::start("starttls");
    smtp.down();
    let ws = Workspace::new(&format!("{}{}", smtp.config(), rule("")));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    store_flagged(
        &ws.data_dir(),
        &[(
            "k1",
            "Vote by text message",
            "false_voting_info",
            narrative("vote-by-text"),
            Severity::High,
        )],
    );
    let mut child = serve(&ws);
    // Wait until the decision is committed (the message is queued), then kill -9.
    let start = Instant::now();
    loop {
        let r = ws.run(&["alerts", "status", "--json"]);
        if let Ok(s) = serde_json::from_str::<serde_json::Value>(&r.stdout) {
            if !s["oldest_pending"].is_null() {
                break;
            }
        }
        // Generous: in the one e2e binary, `serve` may load its models while another test's
        // processes hold both of CI's cores.
        assert!(start.elapsed() < Duration::from_secs(60), "never queued");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(smtp.messages().is_empty());
    smtp.up();
    let child = serve(&ws);
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    assert_eq!(mails.len(), 1);
    assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
    // A second restart sends nothing again.
    let child = serve(&ws);
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn a_permanently_refused_message_is_dead_lettered_and_reported() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    let smtp = SmtpServer::shared("starttls").mailbox();
    let ws = Workspace::new(&format!(
        "{}[alerts]\nretry_initial = \"100ms\"\nretry_max = \"200ms\"\ndead_letter_after = \"1s\"\n\n{}",
        smtp.config(),
        rule("")
    ));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    smtp.refuse();
    store_flagged(
        &ws.data_dir(),
        &[(
            "d1",
            "Polls closed",
            "false_voting_info",
            narrative("x"),
            Severity::High,
        )],
    );
    let child = serve(&ws);
    // Wait for the sender to give up on the message (the store is readable while serve runs).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut r = ws.run(&["alerts", "status"]);
    while r.code != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        r = ws.run(&["alerts", "status"]);
    }
    stop(child);
    assert_eq!(
        r.code, 1,
        "dead letters are a reported problem: {}",
        r.stdout
    );
    assert!(r.stdout.contains("DEAD message"), "{}", r.stdout);
    assert!(r.stdout.contains("451"), "{}", r.stdout);
}

type Hits = Arc<Mutex<Vec<(String, axum::http::HeaderMap, Vec<u8>)>>>;

fn hook_server() -> (String, Hits, tokio::runtime::Runtime) {
    use axum::extract::{Path as UrlPath, State};
    let hits: Hits = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/{name}",
            axum::routing::post(
                |State(h): State<Hits>,
                 UrlPath(name): UrlPath<String>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    h.lock().unwrap().push((name, headers, body.to_vec()));
                    "ok"
                },
            ),
        )
        .with_state(hits.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits, rt)
}

#[test]
fn webhooks_get_teams_slack_and_signed_json_payloads() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    use hmac::Mac;
    let (base, hits, _rt) = hook_server();
    let ws = Workspace::new(&format!(
        "[[alerts.webhook]]\nname = \"teams\"\nkind = \"teams\"\nurl = \"{base}/teams\"\n\n\
         [[alerts.webhook]]\nname = \"slack\"\nkind = \"slack\"\nurl = \"{base}/slack\"\n\n\
         [[alerts.webhook]]\nname = \"siem\"\nkind = \"json\"\nurl = \"{base}/siem\"\nsecret_env = \"BW_TEST_HOOK_SECRET\"\n\n\
         [[alerts.rule]]\nname = \"hooks\"\nwebhooks = [\"teams\", \"slack\", \"siem\"]\n"
    ));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    store_flagged(
        &ws.data_dir(),
        &[(
            "w1",
            // Posters write to hijack the council's own alert: ping everyone, disguise a link.
            "Fake council notice <!channel> see <https://evil.example|Official guidance> \
             or [Official guidance](https://evil.example) <at>Returning Officer</at>",
            "fake_notice",
            json!({"narrative": "n1"}),
            Severity::High,
        )],
    );
    let child = serve(&ws);
    let start = Instant::now();
    while hits.lock().unwrap().len() < 3 && start.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop(child);
    let hits = hits.lock().unwrap();
    assert_eq!(hits.len(), 3, "one POST per webhook");
    let get = |n: &str| hits.iter().find(|h| h.0 == n).unwrap();
    let teams: serde_json::Value = serde_json::from_slice(&get("teams").2).unwrap();
    assert_eq!(teams["@type"], "MessageCard");
    // The card's title is Markdown: its brackets are escaped like everything else in it.
    let title = teams["title"].as_str().unwrap();
    assert!(title.contains("\\[HIGH\\]"), "{title}");
    let slack: serde_json::Value = serde_json::from_slice(&get("slack").2).unwrap();
    assert_eq!(slack["blocks"][0]["type"], "header");
    // Each channel got the post escaped its own way: shown, not acted on.
    let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("&lt;!channel&gt; see &lt;https://evil.example|Official guidance&gt;"),
        "{section}"
    );
    assert_eq!(
        section.matches('<').count(),
        1,
        "only Ballotwatch's own link to the item: {section}"
    );
    assert!(
        section.contains("<https://echo.example/w1|Echo>"),
        "{section}"
    );
    let card = serde_json::to_string(&teams["sections"]).unwrap();
    assert!(!card.contains('<'), "{card}");
    assert_eq!(
        card.matches("](").count(),
        1,
        "only the item's own link: {card}"
    );
    assert!(card.contains("&lt;\\\\!channel&gt;"), "{card}");
    let (_, headers, body) = get("siem");
    let j: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(j["event"], "alert");
    assert_eq!(j["sightings"][0]["item_id"], "w1");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        headers["x-ballotwatch-signature"].to_str().unwrap(),
        expected
    );
    assert!(headers.contains_key("x-ballotwatch-idempotency-key"));
}

#[test]
fn a_webhook_removed_from_the_config_dead_letters_its_queued_messages_naming_it() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // Nobody listens at the webhook's address: its message waits in the outbox, retrying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let retries = "[alerts]\nretry_initial = \"100ms\"\nretry_max = \"200ms\"\n\n";
    let ws = Workspace::new(&format!(
        "{retries}[[alerts.webhook]]\nname = \"ops\"\nkind = \"slack\"\nurl = \"http://{closed}/x\"\n\n\
         [[alerts.rule]]\nname = \"hooks\"\nwebhooks = [\"ops\"]\n"
    ));
    let _log = LogOnFailure(ws.dir.path().to_path_buf());
    store_flagged(
        &ws.data_dir(),
        &[(
            "r1",
            "Polls closed",
            "false_voting_info",
            narrative("r"),
            Severity::High,
        )],
    );
    let child = serve(&ws);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut r = ws.run(&["alerts", "status"]);
    while !r.stdout.contains("last error") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        r = ws.run(&["alerts", "status"]);
    }
    stop(child);
    assert!(r.stdout.contains("(webhook:ops, "), "{}", r.stdout);
    assert_eq!(r.code, 0, "still retrying: {}", r.stdout);
    // The webhook is renamed in the configuration (its rule follows); the message queued for
    // `ops` is still in the outbox.
    let config = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("name = \"ops\"", "name = \"duty\"")
        .replace("webhooks = [\"ops\"]", "webhooks = [\"duty\"]");
    std::fs::write(ws.config(), config).unwrap();
    let child = serve(&ws);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut r = ws.run(&["alerts", "status"]);
    while r.code != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        r = ws.run(&["alerts", "status"]);
    }
    stop(child);
    assert_eq!(
        r.code, 1,
        "a dead letter is a reported problem: {}",
        r.stdout
    );
    let dead = r
        .stdout
        .lines()
        .find(|l| l.starts_with("DEAD message"))
        .unwrap_or_default();
    assert!(dead.contains("(webhook:ops, "), "{}", r.stdout);
    assert!(
        dead.contains("unknown channel `webhook:ops`: there is no [[alerts.webhook]] named `ops`"),
        "{}",
        r.stdout
    );
}

const ANYTOWN: &str = "[[identity]]\nname = \"Anytown Borough Council\"\nkind = \"organisation\"\n\
                       domains = [\"anytown.gov.uk\"]\n\n";

/// A feed with one post linking to a lookalike of the council's domain and one ordinary post.
fn lookalike_feed() -> String {
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Ward posts</title><link>https://ward.example/</link><description>x</description>
<item><guid>https://ward.example/1</guid><link>https://ward.example/1</link><title>Postal votes</title><description>Apply for your postal vote before Friday at https://anytown-gov.uk/postal-vote</description></item>
<item><guid>https://ward.example/2</guid><link>https://ward.example/2</link><title>Count venue</title><description>The count is at the town hall on Thursday night.</description></item>
</channel></rss>"#;
    let base = serve_bytes(vec![(
        "/feed.xml",
        "application/rss+xml",
        feed.as_bytes().to_vec(),
    )]);
    rss_source("Ward posts", &format!("{base}/feed.xml"))
}

#[test]
fn ingest_once_is_one_full_cycle_incidents_without_rules_and_due_alerts_with_them() {
    if !common::tools::needs(&[Tool::SmtpServer, Tool::Models]) {
        return;
    }
    // No alert rules: the flagged post still opens an incident, the index knows it, and the
    // incident exports.
    let ws = Workspace::new(&format!("{ANYTOWN}{}", lookalike_feed()));
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("flagged items recorded in incidents: 1; messages delivered: 0"),
        "{}",
        r.stdout
    );
    let hits = ws.search_json("incident_id:*");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["url"], "https://ward.example/1");
    let incident = hits[0]["incident_id"].as_i64().unwrap();
    ws.export_incident(incident);
    // A second run has nothing new to record.
    let r = ws.run(&["ingest", "--once"]);
    assert!(
        r.stdout
            .contains("flagged items recorded in incidents: 0; messages delivered: 0"),
        "{}",
        r.stdout
    );

    // With a rule, the same one cycle emails the comms team before it exits, once.
    let smtp = SmtpServer::shared("none").mailbox();
    let ws = Workspace::new(&format!(
        "{ANYTOWN}{}{}[[alerts.rule]]\nname = \"comms\"\nkinds = [\"impersonation\"]\n\
         to = [\"comms@anytown.example\"]\n",
        lookalike_feed(),
        smtp.config()
    ));
    let once = || {
        ws.cmd(&["ingest", "--once"])
            .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
            .output()
            .map(Run::from)
            .unwrap()
    };
    let r = once();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("flagged items recorded in incidents: 1; messages delivered: 1"),
        "{}",
        r.stdout
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].rcpt_tos, ["comms@anytown.example"]);
    assert!(
        mails[0].text().contains("anytown-gov.uk"),
        "{}",
        mails[0].data
    );
    let r = once();
    assert!(
        r.stdout
            .contains("flagged items recorded in incidents: 0; messages delivered: 0"),
        "{}",
        r.stdout
    );
    assert_eq!(smtp.messages().len(), 1);
}

/// A Certificate Transparency log on 127.0.0.1 serving a
/// [`TestLog`](ballotwatch_ingest::sources::ct::testlog::TestLog) that the test adds to while
/// it runs through both APIs (RFC 6962 `get-sth` and `get-entries`; static-ct-api `checkpoint`
/// and data tiles); returns the `[[source]]` table following it through the RFC 6962 API, or
/// the tiled one when `tiled`, and the log.
fn ct_log(
    tiled: bool,
) -> (
    String,
    Arc<Mutex<ballotwatch_ingest::sources::ct::testlog::TestLog>>,
) {
    use axum::extract::{Query, State};
    use ballotwatch_ingest::sources::ct::testlog::TestLog;
    type Log = Arc<Mutex<TestLog>>;
    let log: Log = Arc::new(Mutex::new(TestLog::new(42)));
    let key = log.lock().unwrap().public_key_base64();
    let app = axum::Router::new()
        .route(
            "/ct/v1/get-sth",
            axum::routing::get(|State(log): State<Log>| async move {
                let log = log.lock().unwrap();
                axum::Json(log.sth_json(log.size(), 1_777_000_000_000))
            }),
        )
        .route(
            "/ct/v1/get-entries",
            axum::routing::get(
                |State(log): State<Log>,
                 Query(q): Query<std::collections::HashMap<String, u64>>| async move {
                    let (start, end) = (q["start"], q["end"]);
                    let entries = log.lock().unwrap().entries(start, end, 1000);
                    axum::Json(json!({ "entries": entries }))
                },
            ),
        )
        .route(
            "/checkpoint",
            axum::routing::get(
                |State(log): State<Log>, headers: axum::http::HeaderMap| async move {
                    // The origin is the submission prefix without its scheme: here the host.
                    let origin = headers[axum::http::header::HOST]
                        .to_str()
                        .unwrap()
                        .to_string();
                    let log = log.lock().unwrap();
                    log.checkpoint(&origin, log.size(), 1_777_000_000_000)
                },
            ),
        )
        .route(
            "/tile/data/{*rest}",
            axum::routing::get(|State(log): State<Log>, uri: axum::http::Uri| async move {
                use ballotwatch_ingest::sources::ct::tile;
                let (index, width) = tile::parse_data_tile_path(uri.path()).unwrap();
                log.lock()
                    .unwrap()
                    .data_tile(index, width.unwrap_or(tile::TILE_WIDTH))
            }),
        )
        .with_state(log.clone());
    let url = format!("http://{}/", serve_router(app));
    let api = if tiled { "monitoring_url" } else { "url" };
    let source = format!(
        "[[source]]\nname = \"CT\"\nkind = \"ct\"\ninterval = \"10s\"\n\
         logs = [{{ name = \"Loopback log\", {api} = \"{url}\", public_key = \"{key}\" }}]\n\n"
    );
    (source, log)
}

/// A self-signed certificate for `names`, DER.
fn certificate(names: &[&str]) -> Vec<u8> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// Runs `ingest --once` in `ws` (with the test SMTP password) and checks it succeeded and
/// recorded `incidents` flagged items and delivered `mails` messages.
fn ingest_once_records(ws: &Workspace, incidents: usize, mails: usize) {
    let r = ws
        .cmd(&["ingest", "--once"])
        .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let want =
        format!("flagged items recorded in incidents: {incidents}; messages delivered: {mails}");
    assert!(r.stdout.contains(&want), "{}\n{}", r.stdout, r.stderr);
}

/// Logs a lookalike certificate and an unrelated one.
fn log_a_lookalike_and_an_unrelated_certificate(
    log: &Mutex<ballotwatch_ingest::sources::ct::testlog::TestLog>,
) {
    let mut log = log.lock().unwrap();
    log.add_certificate(&certificate(&["bakery.example.com"]), 1_777_000_000_000);
    log.add_certificate(
        &certificate(&["anytown-gov.uk", "www.anytown-gov.uk"]),
        1_777_000_000_001,
    );
}

#[test]
fn a_lookalike_certificate_in_a_ct_log_is_an_incident_and_an_alert_within_one_poll() {
    a_lookalike_certificate_is_an_incident_and_an_alert_within_one_poll(false);
}

#[test]
fn a_lookalike_certificate_in_a_tiled_ct_log_is_an_incident_and_an_alert_within_one_poll() {
    a_lookalike_certificate_is_an_incident_and_an_alert_within_one_poll(true);
}

/// The CT end-to-end case, through the RFC 6962 API or (`tiled`) the static-ct-api.
fn a_lookalike_certificate_is_an_incident_and_an_alert_within_one_poll(tiled: bool) {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    // No alert rules: the first poll starts at the log's head (what was logged before is not
    // read); after a lookalike and an unrelated certificate are logged, one poll opens one
    // incident for the lookalike, with the domain detector's explanation.
    let (source, log) = ct_log(tiled);
    log.lock()
        .unwrap()
        .add_certificate(&certificate(&["anytown-old.com"]), 1_776_000_000_000);
    let ws = Workspace::new(&format!("{ANYTOWN}{source}"));
    ingest_once_records(&ws, 0, 0);
    log_a_lookalike_and_an_unrelated_certificate(&log);
    ingest_once_records(&ws, 1, 0);
    let hits = ws.search_json("incident_id:*");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        hits[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://crt.sh/?sha256="),
        "{}",
        hits[0]
    );
    let explained = hits[0]["verdicts"].to_string();
    assert!(
        explained
            .contains("anytown-gov.uk, a lookalike of anytown.gov.uk (Anytown Borough Council)"),
        "{explained}"
    );
    assert!(ws.search_json("bakery").is_empty());
    assert_eq!(ws.search_json("source:CT").len(), 1);
    // Nothing new: nothing twice.
    ingest_once_records(&ws, 0, 0);

    // With a rule, the same one poll also emails the comms team, once.
    if !common::tools::needs(&[Tool::SmtpServer]) {
        return;
    }
    let smtp = SmtpServer::shared("none").mailbox();
    let (source, log) = ct_log(tiled);
    let ws = Workspace::new(&format!(
        "{ANYTOWN}{source}{}[[alerts.rule]]\nname = \"comms\"\nkinds = [\"impersonation\"]\n\
         to = [\"comms@anytown.example\"]\n",
        smtp.config()
    ));
    ingest_once_records(&ws, 0, 0);
    log_a_lookalike_and_an_unrelated_certificate(&log);
    ingest_once_records(&ws, 1, 1);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].text().contains("anytown-gov.uk"),
        "{}",
        mails[0].data
    );
    ingest_once_records(&ws, 0, 0);
    assert_eq!(smtp.messages().len(), 1);
}
