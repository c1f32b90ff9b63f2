//! Web UI and API latency through the real `serve` on 127.0.0.1, with 5,000 flagged items in
//! 50 incidents. Baseline in the same run: `/healthz` (the HTTP stack alone: no auth, no store).
//! Each request is sent one at a time; p50 and p99 over `ROUNDS` requests.
//!
//! `cargo bench --bench web` (needs the models: `models/install`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ballotwatch_core::Severity;
use common::{store_flagged, Workspace};

const ITEMS: usize = 5_000;
const ROUNDS: usize = 300;
const PASSWORD: &str = "correct horse battery staple";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let start = Instant::now();
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        res.bytes().await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let ws = Workspace::new(
        "[[alerts.webhook]]\nname = \"hook\"\nkind = \"json\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
         [[alerts.rule]]\nname = \"comms\"\nwebhooks = [\"hook\"]\n",
    );
    let rows: Vec<(String, String, serde_json::Value)> = (0..ITEMS)
        .map(|i| {
            (
                format!("item-{i}"),
                format!(
                    "Report {i}: residents say the Riverside ward polling station has moved to \
                     the leisure centre and postal votes from desk {} will not be counted.",
                    i % 37
                ),
                serde_json::json!({ "narrative": format!("narrative-{}", i % 50) }),
            )
        })
        .collect();
    let items: Vec<_> = rows
        .iter()
        .map(|(id, text, ev)| {
            (
                id.as_str(),
                text.as_str(),
                "election_process_claim",
                ev.clone(),
                Severity::High,
            )
        })
        .collect();
    store_flagged(&ws.data_dir(), &items);
    let add = ws.run_with_stdin(&["user", "add", "bench", "--role", "analyst"], PASSWORD);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let token = ws
        .run(&["user", "token", "bench"])
        .stdout
        .trim()
        .to_string();

    let log = ws.dir.path().join("serve.log");
    let mut child = ws
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let base = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .split("web UI listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            break format!("http://{addr}");
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let auth = [("authorization", format!("Bearer {token}"))];
        // Wait for everything to be indexed and grouped.
        loop {
            let v: serde_json::Value = serde_json::from_str(
                &client
                    .get(format!("{base}/api/v1/incidents?limit=1000"))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            )
            .unwrap();
            let s: serde_json::Value = serde_json::from_str(
                &client
                    .get(format!("{base}/api/v1/search?q=*"))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            )
            .unwrap();
            if v["incidents"].as_array().map_or(0, |a| a.len()) == 50 && s["total"] == ITEMS {
                break;
            }
            assert!(Instant::now() < deadline, "not ready: {}", s["total"]);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // A browser session for the pages.
        let login = client.get(format!("{base}/login")).send().await.unwrap();
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let body = login.text().await.unwrap();
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let res = client
            .post(format!("{base}/login"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=bench&password={}&csrf={csrf}",
                PASSWORD.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap();
        let session = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let page = [("cookie", session)];

        println!(
            "web latency, {ITEMS} flagged items in 50 incidents, {ROUNDS} sequential requests each"
        );
        println!("| request | p50 | p99 | p50 against the baseline |");
        println!("| --- | --- | --- | --- |");
        let (b50, b99) = measure(&client, &format!("{base}/healthz"), &[]).await;
        println!(
            "| GET /healthz (baseline) | {} | {} | 1.0x |",
            ms(b50),
            ms(b99)
        );
        for (name, url, headers) in [
            (
                "GET /api/v1/search?q=leisure (token, search, store, audit)",
                format!("{base}/api/v1/search?q=leisure"),
                &auth[..],
            ),
            (
                "GET /search?q=leisure&flagged=true page",
                format!("{base}/search?q=leisure&flagged=true"),
                &page[..],
            ),
            ("GET / dashboard page", format!("{base}/"), &page[..]),
            (
                "GET /incidents/1 page (100 items)",
                format!("{base}/incidents/1"),
                &page[..],
            ),
        ] {
            let (p50, p99) = measure(&client, &url, headers).await;
            println!(
                "| {name} | {} | {} | {:.1}x |",
                ms(p50),
                ms(p99),
                p50.as_secs_f64() / b50.as_secs_f64()
            );
        }
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
