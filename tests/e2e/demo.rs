//! End to end: `ballotwatch demo` as a council's IT officer first runs it — the real binary
//! serving the web UI, replaying the recorded election week from 127.0.0.1, alerting through
//! its built-in mail catcher. Every threat in the material must become an incident of the right
//! kind, the debunks and the ordinary news must not, each incident that the demo's immediate
//! rule covers must be emailed exactly once, and an exported evidence pack must verify.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::demo::Demo;
use common::tools::Tool;
use serde_json::Value;

/// Threats in the recording: (what, verdict kind, verdict label, words of the item that
/// carries it). Each must end up in an incident whose items include an item with these words
/// and a verdict of this kind and label.
const THREATS: &[(&str, &str, &str, &str)] = &[
    (
        "lookalike domain anytown-gov.uk",
        "impersonation",
        "lookalike_domain",
        "vote by text",
    ),
    (
        "homoglyph account (Cyrillic А) posing as the council",
        "impersonation",
        "impersonated_account",
        "bank details",
    ),
    (
        "fake official notice on a lookalike site",
        "impersonation",
        "fake_official_notice",
        "re-register on this page",
    ),
    (
        "a Telegram post saying a polling station is closed",
        "misinformation",
        "election_process_claim",
        "CLOSED on election day due to flooding",
    ),
    (
        "pen-versus-pencil myth",
        "misinformation",
        "election_process_claim",
        "Pencil marks can be rubbed out",
    ),
    (
        "a fake \"official\" notice shared as a picture (read by OCR)",
        "misinformation",
        "election_process_claim",
        "going round the Mill Lane estate",
    ),
    (
        "an AI-generated photo carrying C2PA provenance",
        "synthetic_media",
        "ai_generated_provenance",
        "Photo from outside Riverside polling station",
    ),
    (
        "a lookalike of a candidate's Bluesky handle, only on the live Jetstream",
        "impersonation",
        "impersonated_account",
        "DM me your full name, address and date of birth",
    ),
    (
        "a \"surnames M to Z vote on Friday\" myth, only on the live Jetstream",
        "misinformation",
        "election_process_claim",
        "vote on Friday 8 May",
    ),
    (
        "a candidate's campaign post on X without the digital imprint",
        "electoral_law",
        "missing_imprint",
        "Vote Adeyemi for safer streets",
    ),
    (
        "a picture a resident forwarded to the elections inbox (IMAP), read by OCR",
        "misinformation",
        "election_process_claim",
        "going round the Riverside parents WhatsApp",
    ),
    (
        "a Facebook post a councillor forwarded to the elections inbox (IMAP)",
        "misinformation",
        "election_process_claim",
        "you don't need your poll card or any ID",
    ),
    (
        "a certificate for a lookalike domain, logged in the recorded CT log during the demo",
        "impersonation",
        "lookalike_domain",
        "A TLS certificate was issued for anytown-elections.co.uk",
    ),
];

/// Items that must never be in an incident: debunks, official guidance and ordinary news.
const NOT_FLAGGED: &[&str] = &[
    "no, you do not have to use the pencil",
    "This is false. The only ways to vote",
    "Mill Lane is open as normal",
    "Anytown Rovers win promotion",
    "Bike racks outside Castle ward",
    "Seven names on the ballot in Castle ward",
];

/// How long the demo may take to show everything (it should take well under a minute).
const DEADLINE: Duration = Duration::from_secs(240);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_json(url: &str, auth: (&str, &str)) -> Value {
    let res = http()
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// Each incident with the (kind, label) of its items' verdicts and its items' text.
#[derive(Debug)]
struct Seen {
    id: i64,
    kind: String,
    severity: String,
    labels: Vec<(String, String)>,
    text: String,
}

async fn incidents(web: &str, token: &str) -> Vec<Seen> {
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    let list = get_json(&format!("{web}/api/v1/incidents?limit=1000"), auth).await;
    let mut out = Vec::new();
    for inc in list["incidents"].as_array().cloned().unwrap_or_default() {
        let id = inc["id"].as_i64().unwrap();
        let detail = get_json(&format!("{web}/api/v1/incidents/{id}"), auth).await;
        let mut labels = Vec::new();
        let mut text = String::new();
        for item in detail["items"].as_array().cloned().unwrap_or_default() {
            for v in item["verdicts"].as_array().cloned().unwrap_or_default() {
                labels.push((
                    v["kind"].as_str().unwrap_or_default().to_string(),
                    v["label"].as_str().unwrap_or_default().to_string(),
                ));
            }
            text.push_str(&item.to_string());
            text.push('\n');
        }
        out.push(Seen {
            id,
            kind: detail["kind"].as_str().unwrap_or_default().to_string(),
            severity: detail["severity"].as_str().unwrap_or_default().to_string(),
            labels,
            text,
        });
    }
    out
}

fn missing<'a>(seen: &[Seen]) -> Vec<&'a str> {
    THREATS
        .iter()
        .filter(|(_, kind, label, words)| {
            !seen.iter().any(|s| {
                s.text.contains(words) && s.labels.iter().any(|(k, l)| k == kind && l == label)
            })
        })
        .map(|t| t.0)
        .collect()
}

fn outbox_settled(demo: &Demo) -> bool {
    let r = demo.run(&["alerts", "status", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    let n = |s: &str| v["counts"][s].as_u64().unwrap_or(0);
    v.is_object() && n("pending") + n("sending") == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_turns_each_threat_into_the_right_incident_and_emails_it_once() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let started = Instant::now();
    let wall_start = chrono::Utc::now();
    let demo = Demo::start();

    // The one-time link logs in once.
    let res = http().get(&demo.login).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "one-time login");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("bw_session="))
        .and_then(|c| c.split(';').next())
        .expect("the one-time link set no session cookie")
        .to_string();
    let again = http().get(&demo.login).send().await.unwrap();
    assert_eq!(
        again
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/login"),
        "a used one-time link must not log in again"
    );
    let token = demo.run(&["user", "token", "demo"]);
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token
        .stdout
        .split_whitespace()
        .find(|w| {
            w.len() >= 40
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .unwrap_or_else(|| panic!("no token in {:?}", token.stdout))
        .to_string();

    // Every threat becomes an incident of the right kind.
    let seen = loop {
        let seen = incidents(&demo.web, &token).await;
        if missing(&seen).is_empty() {
            break seen;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "after {:?} still missing: {:?}\nincidents: {seen:#?}",
            started.elapsed(),
            missing(&seen)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let threats_at = started.elapsed();
    for words in NOT_FLAGGED {
        let wrongly: Vec<i64> = seen
            .iter()
            .filter(|s| s.text.contains(words))
            .map(|s| s.id)
            .collect();
        assert!(
            wrongly.is_empty(),
            "{words:?} is in incident(s) {wrongly:?}"
        );
    }

    // The live Bluesky stream is connected and healthy.
    let r = demo.run(&["sources", "--json"]);
    let stream: Value = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["name"] == "Bluesky (jetstream)")
        .unwrap_or_else(|| panic!("no `Bluesky (jetstream)` row in {}", r.stdout));
    assert_eq!(stream["status"], "ok", "{stream}");
    assert!(stream["last_success_at"].is_string(), "{stream}");
    assert!(stream["last_error"].is_null(), "{stream}");
    assert!(
        stream["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("ws://127.0.0.1:")),
        "{stream}"
    );

    // Each incident the immediate rule covers (medium and up) is emailed exactly once.
    let until = Instant::now() + Duration::from_secs(60);
    while !outbox_settled(&demo) {
        assert!(Instant::now() < until, "the alert outbox did not drain");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let seen = incidents(&demo.web, &token).await;
    let mails = get_json(&format!("{}/demo/mail.json", demo.web), ("cookie", &cookie)).await;
    let mails = mails.as_array().cloned().unwrap_or_default();
    let mut per_incident: BTreeMap<i64, usize> = BTreeMap::new();
    for m in &mails {
        let subject = m["subject"].as_str().unwrap_or_default();
        let id: i64 = subject
            .rsplit("incident #")
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no incident number in {subject:?}"));
        *per_incident.entry(id).or_default() += 1;
    }
    for s in &seen {
        let expected = usize::from(s.severity == "medium" || s.severity == "high");
        assert_eq!(
            per_incident.get(&s.id).copied().unwrap_or(0),
            expected,
            "incident {} ({} {}) emails: {mails:#?}",
            s.id,
            s.kind,
            s.severity
        );
    }
    assert!(!mails.is_empty(), "no alert email at all");
    let last_alert = mails
        .iter()
        .filter_map(|m| m["received_at"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .unwrap();
    let to_last_alert = (last_alert.with_timezone(&chrono::Utc) - wall_start).as_seconds_f64();
    println!(
        "demo: {} incidents, {} alert emails; every threat was an incident {:.1}s after start; \
         the last alert arrived {to_last_alert:.1}s after start",
        seen.len(),
        mails.len(),
        threats_at.as_secs_f64(),
    );

    // The Demo mail page shows them, marked as demo-only.
    let page = http()
        .get(format!("{}/demo/mail", demo.web))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Demo only"), "{page}");
    assert!(
        page.contains(&format!("{} message(s) received", mails.len())),
        "{page}"
    );

    // An exported evidence pack verifies.
    let pack = demo.data.join("pack.zip");
    let first = seen.iter().map(|s| s.id).min().unwrap().to_string();
    let export = demo.run(&[
        "export",
        "--incident",
        &first,
        "--out",
        pack.to_str().unwrap(),
        "--no-screenshots",
    ]);
    assert_eq!(export.code, 0, "{}{}", export.stdout, export.stderr);
    let key = common::signing_public_key(&demo.config());
    let verify = demo.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// `migrate --to-cluster` on the demo's data folder, into a real PostgreSQL this test binary
/// starts: every table and blob copied and verified, the capture log's head equal; a second run
/// copies nothing; a blob damaged in the embedded store afterwards fails the verification,
/// named (exit 1).
#[test]
fn migrate_to_cluster_copies_the_demos_store_and_verifies_it() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let pg = ballotwatch_store::testing::shared()
        .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL: {e}"));
    let db = pg.database("migrate_demo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = common::demo::once(dir.path()).data;
    let demo_config = std::fs::read_to_string(data.join("ballotwatch.toml")).unwrap();
    let config = data.join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "{demo_config}\n[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\n\
             postgres_url_env = \"BW_TEST_MIGRATE_PG\"\nnode_name = \"migrate\"\n"
        ),
    )
    .unwrap();
    let migrate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
            .arg("--config")
            .arg(&config)
            .args(["migrate", "--to-cluster"])
            .env_remove("RUST_LOG")
            .env("BW_TEST_MIGRATE_PG", &db.url)
            .output()
            .unwrap();
        let run = common::Run::from(out);
        println!("{}{}", run.stdout, run.stderr);
        run
    };

    let started = Instant::now();
    let first = migrate();
    let took = started.elapsed();
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("verified in"), "{}", first.stdout);
    assert!(
        first.stdout.contains("(equal)"),
        "capture-log heads: {}",
        first.stdout
    );
    // Per table: the embedded and PostgreSQL counts, what was copied, the check.
    let rows: BTreeMap<String, (u64, u64, u64)> = first
        .stdout
        .lines()
        .filter(|l| l.ends_with(" ok") || l.ends_with(" MISMATCH"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                (
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.parse().ok()?,
                    f.get(3)?.parse().ok()?,
                ),
            ))
        })
        .collect();
    let store = ballotwatch_store::Store::open(&data).unwrap();
    let items = store.count_items().unwrap();
    assert!(items > 0);
    assert_eq!(rows["items"], (items, items, items), "{}", first.stdout);
    for table in [
        "captures",
        "capture_log",
        "incidents",
        "incident_items",
        "audit_log",
        "outbox",
        "source_state",
        "blobs",
    ] {
        let (src, dst, copied) = rows[table];
        assert!(
            src > 0 && src == dst && copied == src,
            "{table}: {}",
            first.stdout
        );
    }
    assert!(!first.stdout.contains("MISMATCH"), "{}", first.stdout);

    // Again: nothing copied twice.
    let second = migrate();
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    assert!(
        second.stdout.contains("nothing to copy"),
        "{}",
        second.stdout
    );

    // A damaged capture in the embedded store fails the verification, named.
    let sha = store.get_capture(1).unwrap().unwrap().2.sha256;
    drop(store);
    let path = data
        .join("captures")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(&sha);
    std::fs::write(&path, b"tampered").unwrap();
    let third = migrate();
    assert_eq!(third.code, 1, "{}{}", third.stdout, third.stderr);
    assert!(
        third.stdout.contains(&format!("MISMATCH: blob {sha}")),
        "{}",
        third.stdout
    );
    println!(
        "migrate --to-cluster of the demo: {items} item versions in {:.1} s ({:.0} item versions/s, copy and verify)",
        took.as_secs_f64(),
        items as f64 / took.as_secs_f64()
    );
}
