//! `cargo bench --bench alerts`: time from a flagged item stored to the SMTP server's `250 OK`
//! for an immediate alert, through the real `ballotwatch serve` (alert stage, outbox, lettre
//! over STARTTLS with AUTH) and a real SMTP server (aiosmtpd on 127.0.0.1; run
//! `tests/smtp/install` first).
//!
//! Baseline, measured in the same run against the same server: a bare lettre send of a
//! similar message (new connection, STARTTLS, AUTH, one message), i.e. the SMTP cost alone.
//! The difference is what Ballotwatch adds: noticing the item (the alert stage polls the store
//! every 500 ms for items written by other processes; items classified inside `serve` wake it
//! at once), the decision transaction, and the outbox bookkeeping.
//!
//! BENCH_ALERTS (default 40) sets how many alerts are timed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ballotwatch_core::Severity;
use common::{store_flagged, SmtpServer, Workspace, SMTP_PASSWORD, SMTP_USER};
use lettre::message::header::ContentType;
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>, base_p50: Option<Duration>) -> Duration {
    v.sort();
    let (p50, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
    let ratio = base_p50
        .map(|b| format!("{:.1}x baseline p50", p50.as_secs_f64() / b.as_secs_f64()))
        .unwrap_or_else(|| "1.0x (baseline)".into());
    println!(
        "{name:<58} n={:<3} p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  {ratio}",
        v.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    p50
}

fn main() {
    let n: usize = std::env::var("BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let smtp = SmtpServer::start("starttls");

    // Baseline: bare lettre sends to the same server.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = Certificate::from_pem(&std::fs::read(smtp.ca_file()).unwrap()).unwrap();
    let tls = TlsParameters::builder("127.0.0.1".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(ca)
        .build_rustls()
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(SMTP_USER.into(), SMTP_PASSWORD.into()))
        .build();
    let mut base = Vec::new();
    for i in 0..n {
        let msg = Message::builder()
            .from("alerts@anytown.example".parse().unwrap())
            .to("comms@anytown.example".parse().unwrap())
            .subject(format!("[HIGH] misinformation: baseline {i}"))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body("x".repeat(1500)),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body("<p>x</p>".repeat(400)),
                    ),
            )
            .unwrap();
        let t = Instant::now();
        rt.block_on(transport.send(msg)).unwrap();
        base.push(t.elapsed());
    }
    let sent_by_baseline = smtp.messages().len();

    // Ballotwatch: serve running; each flagged item stored from this process; timed until the
    // server has accepted (and written) the alert.
    let ws = Workspace::new(&format!(
        "{}[[alerts.rule]]\nname = \"comms\"\nto = [\"comms@anytown.example\"]\n",
        smtp.config()
    ));
    let mut child = ws
        .cmd(&["serve"])
        .env("BW_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let mut e2e = Vec::new();
    for i in 0..n {
        let id = format!("bench-{i}");
        let t = Instant::now();
        store_flagged(
            &ws.data_dir(),
            &[(
                id.as_str(),
                "Riverside polling station is closed today, vote tomorrow instead",
                "false_voting_info",
                serde_json::json!({"narrative": id}),
                Severity::High,
            )],
        );
        let want = sent_by_baseline + i + 1;
        let got = smtp.wait_for(want, Duration::from_secs(30));
        assert_eq!(got.len(), want, "alert {i} did not arrive within 30 s");
        e2e.push(t.elapsed());
        // Spread the items so each one's timing starts from an idle pipeline.
        std::thread::sleep(Duration::from_millis(137));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    println!("alert latency, {n} alerts, SMTP server aiosmtpd on 127.0.0.1 (STARTTLS + AUTH):");
    let b = report(
        "baseline: bare lettre send (connect, STARTTLS, AUTH, DATA)",
        base,
        None,
    );
    report(
        "item stored -> SMTP 250 through `serve` (target p99 <= 5 s)",
        e2e,
        Some(b),
    );
}
