//! RFC 3161 timestamps against a real TSA: `openssl ts -reply` behind a loopback HTTP server
//! (see `support/tsa.rs`; started once for this test binary). Each verdict of ours is
//! cross-checked against `openssl ts -verify` on the same token.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ballotwatch_evidence::timestamp::{
    request_timestamp, timestamp_with_any, verify_token, Timestamp, TimestampError, TrustRoots,
};
use sha2::{Digest, Sha256};
use support::tsa::{tsa, PROFILES};

const TIMEOUT: Duration = Duration::from_secs(20);

fn hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn roots() -> TrustRoots {
    TrustRoots::from_pem_files(&[tsa().root_pem()]).expect("the test root")
}

async fn stamp(profile: &str, sha256: &[u8; 32]) -> Timestamp {
    let client = reqwest::Client::new();
    request_timestamp(&client, &tsa().url(profile), sha256, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{profile}: {e}"))
}

/// `openssl ts -verify` on `token` for `sha256`, trusting `root`: whether it says OK.
fn openssl_verifies(token: &[u8], sha256: &[u8; 32], root: &Path, signer: &Path) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token.der");
    std::fs::write(&file, token).expect("write the token");
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-token_in", "-in"])
        .arg(&file)
        .arg("-digest")
        .arg(hex::encode(sha256))
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(signer)
        .output()
        .expect("run openssl ts -verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    out.status.success() && stdout.contains("Verification: OK")
}

#[tokio::test]
async fn a_token_for_our_hash_verifies_and_states_the_time() {
    let sha256 = hash(b"the body of a captured page");
    let roots = roots();
    for profile in PROFILES {
        let before = chrono::Utc::now();
        let stamp = stamp(profile, &sha256).await;
        let started = Instant::now();
        let verified = verify_token(&stamp.token, &sha256, Some(stamp.nonce), &roots)
            .unwrap_or_else(|e| panic!("{profile}: {e}"));
        let verify_time = started.elapsed();
        let skew = (verified.gen_time - before).num_seconds().abs();
        assert!(
            skew <= 60,
            "{profile}: genTime {} is {skew}s from now",
            verified.gen_time
        );
        assert_eq!(verified.gen_time, stamp.info.gen_time);
        assert!(
            verified
                .tsa_name
                .contains(&format!("Ballotwatch Test TSA {profile}")),
            "{profile}: {}",
            verified.tsa_name
        );
        assert!(
            verified.root.contains("Ballotwatch Test TSA Root"),
            "{}",
            verified.root
        );
        assert_eq!(verified.policy, "1.2.3.4.1");
        eprintln!(
            "{profile}: genTime {}, round trip {} ms, verify {} µs, token {} bytes",
            verified.gen_time.to_rfc3339(),
            stamp.round_trip.as_millis(),
            verify_time.as_micros(),
            stamp.token.len()
        );
    }
}

#[tokio::test]
async fn openssl_agrees_on_the_same_token() {
    let sha256 = hash(b"headers of a capture");
    let other = hash(b"something else");
    let roots = roots();
    let impostor = TrustRoots::from_pem_files(&[tsa().impostor_root_pem()]).expect("impostor");
    for profile in PROFILES {
        let stamp = stamp(profile, &sha256).await;
        let signer = tsa().signer_pem(profile);
        let cases = [
            (&sha256, &roots, tsa().root_pem(), true),
            (&other, &roots, tsa().root_pem(), false),
            (&sha256, &impostor, tsa().impostor_root_pem(), false),
        ];
        for (expected, trust, root_file, valid) in cases {
            let ours = verify_token(&stamp.token, expected, None, trust);
            let theirs = openssl_verifies(&stamp.token, expected, &root_file, &signer);
            assert_eq!(ours.is_ok(), valid, "{profile}: ours: {ours:?}");
            assert_eq!(
                theirs, valid,
                "{profile}: openssl disagrees ({root_file:?})"
            );
        }
    }
}

#[tokio::test]
async fn a_token_checked_against_a_different_hash_is_rejected() {
    let sha256 = hash(b"screenshot bytes");
    let stamp = stamp("rsa", &sha256).await;
    let err = verify_token(&stamp.token, &hash(b"edited screenshot"), None, &roots()).unwrap_err();
    assert!(
        matches!(err, TimestampError::ImprintMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&hex::encode(hash(b"edited screenshot"))),
        "{err}"
    );
}

#[tokio::test]
async fn a_token_checked_against_a_different_root_is_rejected() {
    let sha256 = hash(b"a body");
    let impostor = TrustRoots::from_pem_files(&[tsa().impostor_root_pem()]).expect("impostor");
    for profile in PROFILES {
        let stamp = stamp(profile, &sha256).await;
        let err = verify_token(&stamp.token, &sha256, None, &impostor).unwrap_err();
        assert!(
            matches!(err, TimestampError::Untrusted(_)),
            "{profile}: {err}"
        );
        assert!(err.to_string().contains("signature"), "{profile}: {err}");
    }
    // A root that is not the issuer at all: the TSA certificate trusted as if it were a root
    // of another TSA.
    let stamp = stamp("rsa", &sha256).await;
    let unrelated = TrustRoots::from_pem_files(&[tsa().signer_pem("p256")]).expect("pem");
    let err = verify_token(&stamp.token, &sha256, None, &unrelated).unwrap_err();
    assert!(matches!(err, TimestampError::Untrusted(_)), "{err}");
}

#[tokio::test]
async fn a_token_edited_after_signing_is_rejected() {
    let sha256 = hash(b"a body");
    let stamp = stamp("p256", &sha256).await;
    let gen_time = stamp.info.gen_time.format("%Y%m%d%H%M%S").to_string();
    let at = stamp
        .token
        .windows(gen_time.len())
        .position(|w| w == gen_time.as_bytes())
        .expect("genTime in the token");
    // Move genTime back a decade (2026 -> 2016): the signature must no longer match.
    let mut edited = stamp.token.clone();
    edited[at + 2] = edited[at + 2].wrapping_sub(1);
    let err = verify_token(&edited, &sha256, None, &roots()).unwrap_err();
    assert!(matches!(err, TimestampError::BadSignature(_)), "{err}");
    assert!(!openssl_verifies(
        &edited,
        &sha256,
        &tsa().root_pem(),
        &tsa().signer_pem("p256")
    ));
}

#[tokio::test]
async fn a_wrong_nonce_is_rejected() {
    let sha256 = hash(b"a body");
    let stamp = stamp("p384", &sha256).await;
    let err = verify_token(&stamp.token, &sha256, Some(stamp.nonce ^ 1), &roots()).unwrap_err();
    assert!(matches!(err, TimestampError::NonceMismatch { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_tsa_is_named_in_the_error() {
    let port = ballotwatch_core::net::free_loopback_port().expect("a free loopback port");
    let url = format!("http://127.0.0.1:{port}/tsa");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let err = request_timestamp(&client, &url, &hash(b"x"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, TimestampError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test]
async fn the_first_tsa_that_gives_a_valid_token_wins() {
    let sha256 = hash(b"a flagged item's body");
    let client = reqwest::Client::new();
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/tsa", listener.local_addr().expect("addr"))
    };
    let urls = [
        down.clone(),
        tsa().url("html"),
        tsa().url("p256"),
        tsa().url("rsa"),
    ];
    let (stamp, verified) = timestamp_with_any(&client, &urls, &sha256, TIMEOUT, &roots())
        .await
        .expect("the third TSA answers");
    assert_eq!(stamp.url, tsa().url("p256"));
    assert!(verified.tsa_name.contains("Test TSA p256"), "{verified:?}");

    let impostor = TrustRoots::from_pem_files(&[tsa().impostor_root_pem()]).expect("impostor");
    let urls = [down.clone(), tsa().url("rsa")];
    let err = timestamp_with_any(&client, &urls, &sha256, TIMEOUT, &impostor)
        .await
        .unwrap_err();
    assert!(matches!(err, TimestampError::AllFailed(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&down) && text.contains(&tsa().url("rsa")),
        "{text}"
    );
    assert!(text.contains("not trusted"), "{text}");
    let err = timestamp_with_any(&client, &[], &sha256, TIMEOUT, &impostor)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no TSA URL"), "{err}");
}

#[tokio::test]
async fn a_url_that_is_not_a_tsa_is_named_in_the_error() {
    let client = reqwest::Client::new();
    let err = request_timestamp(&client, &tsa().url("html"), &hash(b"x"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, TimestampError::MalformedResponse(_)), "{err}");
    let url = tsa().url("nothing-here");
    let err = request_timestamp(&client, &url, &hash(b"x"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, TimestampError::Http { .. }), "{err}");
    assert!(
        err.to_string().contains(&url) && err.to_string().contains("404"),
        "{err}"
    );
}

#[test]
fn verifying_a_token_is_cheap() {
    let sha256 = hash(b"bench");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let roots = roots();
    for profile in PROFILES {
        let stamp = runtime.block_on(stamp(profile, &sha256));
        let runs = 50u32;
        let started = Instant::now();
        for _ in 0..runs {
            verify_token(&stamp.token, &sha256, None, &roots).expect("verifies");
        }
        eprintln!(
            "{profile}: verify_token {} µs on average",
            (started.elapsed() / runs).as_micros()
        );
    }
}

/// The demo's own TSA (`timestamp::authority`, built with the RustCrypto builders): its
/// responses are read by `openssl ts -reply`, and `openssl ts -verify` accepts its tokens with
/// its root (the TSA certificate travels in the token: no `-untrusted` needed), for the hash
/// asked and no other, exactly as our verifier does.
#[test]
fn openssl_verifies_the_demo_tsas_tokens() {
    use ballotwatch_evidence::timestamp::authority::{LocalTsa, ROOT_FILE};
    use ballotwatch_evidence::timestamp::{build_request, parse_response};
    let dir = tempfile::tempdir().expect("temp dir");
    let tsa = LocalTsa::load_or_create(dir.path()).expect("the demo TSA");
    let root = dir.path().join(ROOT_FILE);
    let roots = TrustRoots::from_pem_files(&[&root]).expect("its root");
    let sha256 = hash(b"a screenshot");
    let resp = tsa
        .respond(&build_request(&sha256, 7).expect("request"))
        .expect("a response");
    let resp_file = dir.path().join("resp.tsr");
    std::fs::write(&resp_file, &resp).expect("write");
    let text = Command::new("openssl")
        .args(["ts", "-reply", "-text", "-in"])
        .arg(&resp_file)
        .output()
        .expect("run openssl ts -reply");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Status: Granted")
            && text.contains("Ballotwatch demo TSA (not a trusted authority)"),
        "{text}"
    );
    let token = parse_response(&resp).expect("granted");
    verify_token(&token, &sha256, Some(7), &roots).expect("ours verifies");
    let openssl = |sha: &[u8; 32]| {
        let out = Command::new("openssl")
            .args(["ts", "-verify", "-in"])
            .arg(&resp_file)
            .arg("-digest")
            .arg(hex::encode(sha))
            .arg("-CAfile")
            .arg(&root)
            .output()
            .expect("run openssl ts -verify");
        (
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stderr) = openssl(&sha256);
    assert!(
        ok,
        "openssl ts -verify refused the demo TSA's token: {stderr}"
    );
    let other = hash(b"another screenshot");
    assert!(!openssl(&other).0);
    assert!(verify_token(&token, &other, None, &roots).is_err());
}

/// A flagged item `id` read from `url`, polled into `store` (its body and headers join the
/// capture log).
fn flagged_item(store: &ballotwatch_store::Store, id: &str, url: &str) {
    use ballotwatch_core::{Capture, ClassifyResult, Item, Severity, SourceRef};
    let now = chrono::Utc::now();
    let body = format!("<html>{id}</html>").into_bytes();
    let sha256 = store.put_blob(&body).unwrap();
    let record = ballotwatch_store::PollRecord {
        captures: vec![Capture {
            url: url.into(),
            final_url: url.into(),
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            sha256,
            size: body.len() as u64,
            started_at: now,
            finished_at: now,
        }],
        items: vec![(
            0,
            Item {
                id: id.into(),
                source: SourceRef {
                    kind: "web".into(),
                    name: "Noticeboard".into(),
                },
                url: Some(url.into()),
                title: Some(format!("Notice {id}")),
                text: Some("Re-register your postal vote".into()),
                ..Item::default()
            },
        )],
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: false,
        attempted_at: now,
        next_attempt_at: now,
    };
    store.record_poll("Noticeboard", record).unwrap();
    let results: Vec<_> = store
        .pending_classification(10)
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.seq,
                ClassifyResult {
                    id: s.item.id.clone(),
                    flagged: true,
                    severity: Severity::High,
                    verdicts: vec![],
                    detector_errors: vec![],
                    media_text: Vec::new(),
                },
            )
        })
        .collect();
    store.save_results(&results).unwrap();
}

/// The settings `export` gets from a deployment whose TSAs are `tsa_urls`.
fn export_settings(dir: &Path, tsa_urls: Vec<String>) -> ballotwatch_evidence::ExportSettings {
    ballotwatch_evidence::ExportSettings {
        key_file: dir.join("evidence.key"),
        screenshots: true,
        allow_private_addresses: true,
        shot_limits: ballotwatch_evidence::chromium::ShotLimits::default(),
        tool_version: "test".into(),
        user_agent: "Ballotwatch/test".into(),
        detectors: Vec::new(),
        timestamps: true,
        tsa_urls,
        tsa_roots: vec![tsa().root_pem()],
        work_dir: dir.to_path_buf(),
    }
}

/// Exports `items` to `out` and verifies the pack against the test TSA's root: the export's
/// note and what the timestamps say per item.
fn export_and_verify(
    store: &ballotwatch_store::Store,
    settings: &ballotwatch_evidence::ExportSettings,
    items: &[String],
    out: &Path,
) -> (
    Option<String>,
    ballotwatch_evidence::timestamp::pack::TimestampCheck,
) {
    let job = ballotwatch_evidence::ExportJob {
        incidents: &[],
        items,
        actor: "test",
        skip_screenshots: false,
        include_reporters: false,
    };
    let summary = ballotwatch_evidence::export(store, settings, &job, out).expect("export");
    let options = ballotwatch_evidence::VerifyOptions {
        tsa_roots: Some(roots()),
        ..ballotwatch_evidence::VerifyOptions::trusting(Vec::<String>::new())
    };
    let verified = ballotwatch_evidence::verify_file(out, &options)
        .expect("verify runs")
        .unwrap_or_else(|p| panic!("the pack verifies: {p}"));
    let check = verified.timestamps.expect("the pack has timestamps");
    (summary.timestamp_note, check)
}

#[test]
fn a_screenshot_export_takes_itself_is_timestamped_or_said_to_be_covered_only_by_the_signature() {
    use ballotwatch_evidence::timestamp::pack::ItemStamp;
    if ballotwatch_evidence::chromium::Chromium::find().is_err() {
        panic!("these tests need Chromium to take screenshots (Debian: chromium)");
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = ballotwatch_store::Store::open(&dir.path().join("data")).unwrap();
    let page = tsa().url("html");

    // Item a, polled and timestamped (as `serve` does) but never screenshotted.
    flagged_item(&store, "a", &page);
    let head = store.capture_log_head().unwrap().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stamp, verified) = rt
        .block_on(timestamp_with_any(
            &reqwest::Client::new(),
            &[tsa().url("rsa")],
            &head.head_bytes().unwrap(),
            TIMEOUT,
            &roots(),
        ))
        .unwrap();
    store
        .record_timestamp_token(&ballotwatch_store::NewTimestampToken {
            seq: head.seq,
            head: head.head.clone(),
            tsa_url: stamp.url,
            token: stamp.token,
            gen_time: verified.gen_time,
            requested_at: stamp.requested_at,
        })
        .unwrap();

    // Export with no TSA answering: the screenshot export takes is in the pack, but only the
    // council's signature covers it; the item's capture keeps its trusted time.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsr", l.local_addr().unwrap())
    };
    let out = dir.path().join("down.zip");
    let (note, check) = export_and_verify(
        &store,
        &export_settings(dir.path(), vec![dead]),
        &["a".to_string()],
        &out,
    );
    let note = note.expect("the export logged a screenshot");
    assert!(
        note.contains("covered only by the council's signature"),
        "{note}"
    );
    let shot_seq = head.seq + 1;
    match &check.items[0] {
        (id, ItemStamp::Captured { after, .. }) if id == "a" => {
            assert_eq!(after.len(), 2, "the PNG and the rendered HTML: {after:?}");
            assert!(
                after[0].starts_with("its screenshot screenshots/")
                    && after[0].ends_with(&format!(".png (entry {shot_seq})")),
                "{after:?}"
            );
        }
        other => panic!("item a should have a trusted time for its capture: {other:?}"),
    }
    let said = check.items[0].1.to_string();
    assert!(
        said.contains("captured no later than")
            && said.contains("covered only by the council's signature: its screenshot"),
        "{said}"
    );
    assert_eq!(check.tokens.len(), 1);
    assert_eq!(check.tokens[0].verified.gen_time, verified.gen_time);

    // Item b, flagged later, exported with the TSA up: the screenshot export takes is
    // timestamped before the pack is sealed, and openssl agrees on the token in the pack.
    flagged_item(&store, "b", &format!("{page}?b"));
    let out = dir.path().join("up.zip");
    let (note, check) = export_and_verify(
        &store,
        &export_settings(dir.path(), vec![tsa().url("rsa")]),
        &["a".to_string(), "b".to_string()],
        &out,
    );
    let note = note.expect("the export logged a screenshot");
    assert!(
        note.starts_with("timestamped the 2 capture log entries"),
        "{note}"
    );
    let new_head = store.capture_log_head().unwrap().unwrap();
    assert!(store.untimestamped_heads(1).unwrap().is_empty());
    for (id, stamp) in &check.items {
        match stamp {
            ItemStamp::Captured { after, .. } => assert!(after.is_empty(), "{id}: {after:?}"),
            other => panic!("{id} should be timestamped: {other:?}"),
        }
    }
    assert_eq!(check.head, Some((new_head.seq, new_head.head.clone())));
    let token = &check.tokens[0];
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut tsr = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&token.file).unwrap(), &mut tsr).unwrap();
    let tsr_file = dir.path().join("token.tsr");
    std::fs::write(&tsr_file, &tsr).unwrap();
    let openssl = Command::new("openssl")
        .args(["ts", "-verify", "-in"])
        .arg(&tsr_file)
        .arg("-digest")
        .arg(&new_head.head)
        .arg("-CAfile")
        .arg(tsa().root_pem())
        .arg("-untrusted")
        .arg(tsa().signer_pem("rsa"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&openssl.stdout).contains("Verification: OK"),
        "openssl ts -verify: {}{}",
        String::from_utf8_lossy(&openssl.stdout),
        String::from_utf8_lossy(&openssl.stderr)
    );
    eprintln!("two exports with screenshots took {:?}", started.elapsed());
}
