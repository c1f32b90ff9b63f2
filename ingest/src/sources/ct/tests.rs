//! CT leaves and tree heads read from real structures (certificates made with rcgen, a Merkle
//! tree and tree heads signed in the test), and polling a log served on 127.0.0.1: start at the
//! head, resume from the cursor, bad signatures, malformed entries, a log down then up.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use der::{Decode, Encode};
use rcgen::{CertificateParams, DnType, KeyPair};

use super::leaf::{parse_leaf, EntryKind, LeafError};
use super::testlog::{certificate_leaf, precertificate_leaf, TestLog};
use super::*;
use crate::sources::test_support::{serve, test_ctx};
use crate::sources::HostFilter;

const T0: u64 = 1_777_000_000_000;

/// A certificate for `names` (the first is also the subject CN), DER.
fn cert_der(names: &[&str]) -> Vec<u8> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].trim_start_matches("*."));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Test CA");
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// The TBSCertificate of a certificate, DER (what a precert entry's leaf holds).
fn tbs_of(cert: &[u8]) -> Vec<u8> {
    x509_cert::Certificate::from_der(cert)
        .unwrap()
        .tbs_certificate
        .to_der()
        .unwrap()
}

/// The filter the tests use in place of the domain detector: any name with "anytown" in it
/// that is not anytown.gov.uk or under it.
fn filter() -> HostFilter {
    HostFilter::new(|h| {
        h.contains("anytown") && h != "anytown.gov.uk" && !h.ends_with(".anytown.gov.uk")
    })
}

fn ctx() -> PollContext {
    PollContext {
        lookalikes: Some(filter()),
        ..test_ctx()
    }
}

#[test]
fn certificate_leaves_read_names_issuer_validity_and_serial() {
    let homoglyph = idna::domain_to_ascii("аnytown.gov.uk").unwrap(); // Cyrillic а
    assert!(homoglyph.starts_with("xn--"));
    let der = cert_der(&[
        "*.anytown-gov.uk",
        "anytown-gov.uk",
        &homoglyph,
        "ANYTOWN-GOV.UK",
    ]);
    let e = parse_leaf(&certificate_leaf(&der, T0)).unwrap();
    assert_eq!(e.kind, EntryKind::Certificate);
    assert_eq!(e.der, der);
    assert_eq!(e.logged_at.unwrap().timestamp_millis(), T0 as i64);
    // CN and SANs, wildcard stripped, IDN decoded, lower case, each once.
    assert_eq!(e.cert.names, ["anytown-gov.uk", "аnytown.gov.uk"]);
    assert!(
        e.cert.issuer.contains("CN=anytown-gov.uk"),
        "{}",
        e.cert.issuer
    );
    assert!(e.cert.issuer.contains("O=Test CA"), "{}", e.cert.issuer);
    assert!(!e.cert.serial.is_empty());
    assert!(e.cert.not_before.unwrap() < e.cert.not_after.unwrap());
}

#[test]
fn precertificate_leaves_read_the_tbs_certificate() {
    let der = cert_der(&["anytown-vote.co.uk", "www.anytown-vote.co.uk"]);
    let e = parse_leaf(&precertificate_leaf(&tbs_of(&der), T0)).unwrap();
    assert_eq!(e.kind, EntryKind::Precertificate);
    assert_eq!(
        e.cert.names,
        ["anytown-vote.co.uk", "www.anytown-vote.co.uk"]
    );
    let full = parse_leaf(&certificate_leaf(&der, T0)).unwrap();
    assert_eq!(e.cert, full.cert);
}

#[test]
fn names_that_are_not_dns_names_are_left_out() {
    assert_eq!(leaf::dns_name("Anytown Borough Council"), None);
    assert_eq!(leaf::dns_name("localhost"), None);
    assert_eq!(leaf::dns_name("10.0.0.1"), None);
    assert_eq!(leaf::dns_name("a..b"), None);
    assert_eq!(leaf::dns_name(&"a.".repeat(200)), None);
    assert_eq!(
        leaf::dns_name("*.Vote.Example."),
        Some("vote.example".into())
    );
}

#[test]
fn malformed_leaves_are_refused_with_a_reason() {
    let der = cert_der(&["anytown-gov.uk"]);
    let good = certificate_leaf(&der, T0);
    // Cut anywhere: never a panic, always a reason.
    for cut in 0..good.len() {
        assert!(parse_leaf(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut v = good.clone();
    v[0] = 1;
    assert_eq!(
        parse_leaf(&v).unwrap_err(),
        LeafError::Unknown {
            what: "leaf version",
            value: 1
        }
    );
    let mut v = good.clone();
    v[11] = 7;
    assert!(matches!(
        parse_leaf(&v).unwrap_err(),
        LeafError::Unknown {
            what: "entry type",
            value: 7
        }
    ));
    let mut v = good.clone();
    v.push(0);
    assert_eq!(parse_leaf(&v).unwrap_err(), LeafError::Trailing(1));
    // A length far beyond the bytes sent: refused before anything is allocated.
    let mut v = good[..12].to_vec();
    v.extend_from_slice(&[0xff, 0xff, 0xff, 1, 2, 3]);
    assert_eq!(
        parse_leaf(&v).unwrap_err(),
        LeafError::Truncated("certificate")
    );
    // Well framed, not a certificate.
    let e = parse_leaf(&certificate_leaf(b"not a certificate", T0)).unwrap_err();
    assert!(
        e.to_string().starts_with("the certificate does not parse"),
        "{e}"
    );
}

#[test]
fn tree_heads_verify_with_the_log_key_only() {
    let mut log = TestLog::new(7);
    let der = cert_der(&["anytown-gov.uk"]);
    log.add_certificate(&der, T0);
    let key = LogKey::from_base64(&log.public_key_base64()).unwrap();
    let sth: SthJson = serde_json::from_value(log.sth_json(1, T0 + 5)).unwrap();
    let head = sth::verify_sth(&sth, &key).unwrap();
    assert_eq!(head.tree_size, 1);
    assert_eq!(
        head.root_hash,
        testlog::merkle_root(&[&certificate_leaf(&der, T0)])
    );
    // Another tree size under the same signature.
    let forged = SthJson {
        tree_size: 2,
        ..sth.clone()
    };
    assert_eq!(
        sth::verify_sth(&forged, &key).unwrap_err(),
        sth::SthError::BadSignature
    );
    // Another log's key.
    let other = LogKey::from_base64(&TestLog::new(9).public_key_base64()).unwrap();
    assert_eq!(
        sth::verify_sth(&sth, &other).unwrap_err(),
        sth::SthError::BadSignature
    );
    // A signature that is not even DigitallySigned.
    let junk = SthJson {
        tree_head_signature: "AAA=".into(),
        ..sth
    };
    assert!(matches!(
        sth::verify_sth(&junk, &key).unwrap_err(),
        sth::SthError::Malformed(_)
    ));
}

#[test]
fn merkle_roots_follow_rfc_6962() {
    // The empty tree and a two-leaf tree, by hand.
    use sha2::{Digest, Sha256};
    assert_eq!(
        testlog::merkle_root(&[]),
        <[u8; 32]>::from(Sha256::digest(b""))
    );
    let h = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
    let (a, b) = (h(&[0, b'a']), h(&[0, b'b']));
    let mut ab = vec![1];
    ab.extend_from_slice(&a);
    ab.extend_from_slice(&b);
    assert_eq!(testlog::merkle_root(&[b"a", b"b"]), h(&ab));
}

#[test]
fn rsa_tree_heads_verify_too() {
    use rcgen::{PublicKeyData, SigningKey};
    let kp = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let key = LogKey::from_der(&kp.subject_public_key_info()).unwrap();
    assert!(matches!(key, LogKey::Rsa(_)));
    let root = [3u8; 32];
    let msg = sth::tree_head_message(10, T0, &root);
    let sig = kp.sign(&msg).unwrap();
    let mut ds = vec![4, 1];
    ds.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    ds.extend_from_slice(&sig);
    key.verify(&ds, &msg).unwrap();
    let other = sth::tree_head_message(11, T0, &root);
    assert_eq!(key.verify(&ds, &other), Err(sth::SthError::BadSignature));
}

#[test]
fn keys_of_other_algorithms_are_refused_clearly() {
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let e = LogKey::from_der(&rcgen::PublicKeyData::subject_public_key_info(&ed)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "uses Ed25519; RFC 6962 logs sign with ECDSA P-256 or RSA"
    );
    let e = LogKey::from_base64("not base64!").unwrap_err();
    assert!(e.to_string().starts_with("is not base64"), "{e}");
    let e = LogKey::from_base64("AAAA").unwrap_err();
    assert!(e.to_string().contains("SubjectPublicKeyInfo"), "{e}");
}

/// The log as served: what it holds, how much of it the tree head shows, and how it misbehaves.
#[derive(Default)]
struct Served {
    log: Option<TestLog>,
    size: u64,
    down: bool,
    bad_signature: bool,
    per_answer: Option<usize>,
    entry_requests: usize,
    /// Tile paths asked for, in order.
    tile_requests: Vec<String>,
    /// Partial tiles whose full tile exists answer 404 (a log may drop them).
    partial_gone: bool,
}

/// The checkpoint origin the tiled tests' logs use (`submission_url` below).
const ORIGIN: &str = "log.example/2026h1";

type Shared = Arc<Mutex<Served>>;

#[derive(serde::Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

async fn get_sth(State(s): State<Shared>) -> Response {
    let s = s.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let log = s.log.as_ref().unwrap();
    let mut sth = log.sth_json(s.size, T0 + 10_000);
    if s.bad_signature {
        sth["tree_size"] = serde_json::json!(s.size + 1);
    }
    Json(sth).into_response()
}

async fn get_entries(State(s): State<Shared>, Query(r): Query<Range>) -> Response {
    let mut s = s.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    s.entry_requests += 1;
    let end = r.end.min(s.size.saturating_sub(1));
    let entries = s
        .log
        .as_ref()
        .unwrap()
        .entries(r.start, end, s.per_answer.unwrap_or(usize::MAX));
    Json(serde_json::json!({ "entries": entries })).into_response()
}

async fn checkpoint(State(s): State<Shared>) -> Response {
    let s = s.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let log = s.log.as_ref().unwrap();
    let mut text = log.checkpoint(ORIGIN, s.size, T0 + 10_000);
    if s.bad_signature {
        // Another tree size under the same signature.
        text = text.replacen(
            &format!("\n{}\n", s.size),
            &format!("\n{}\n", s.size + 1),
            1,
        );
    }
    text.into_response()
}

async fn data_tile(State(s): State<Shared>, uri: axum::http::Uri) -> Response {
    let mut s = s.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    s.tile_requests.push(uri.path().to_string());
    let Some((index, width)) = tile::parse_data_tile_path(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let start = index * tile::TILE_WIDTH;
    let available = s.size.saturating_sub(start).min(tile::TILE_WIDTH);
    let full = available == tile::TILE_WIDTH;
    let ok = match width {
        Some(w) => w <= available && !(full && s.partial_gone),
        None => full,
    };
    if !ok {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body = s
        .log
        .as_ref()
        .unwrap()
        .data_tile(index, width.unwrap_or(tile::TILE_WIDTH));
    ([("content-type", "application/octet-stream")], body).into_response()
}

async fn serve_log(log: TestLog) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(Served {
        size: log.size(),
        log: Some(log),
        ..Served::default()
    }));
    let app = Router::new()
        .route("/ct/v1/get-sth", get(get_sth))
        .route("/ct/v1/get-entries", get(get_entries))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/data/{*rest}", get(data_tile))
        .with_state(shared.clone());
    (serve(app).await, shared)
}

fn source(logs: &[(&str, &str, &str)], extra: &str) -> CtSource {
    let logs: Vec<String> = logs
        .iter()
        .map(|(name, url, key)| {
            format!("{{ name = \"{name}\", url = \"{url}/\", public_key = \"{key}\" }}")
        })
        .collect();
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"CT\"\nkind = \"ct\"\nlogs = [{}]\n{extra}\n",
        logs.join(", ")
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Ct(c) => CtSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

/// A source following one tiled log served at `url` (its monitoring prefix).
fn tiled_source(name: &str, url: &str, key: &str, extra: &str) -> CtSource {
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"CT\"\nkind = \"ct\"\nlogs = [{{ name = \"{name}\", monitoring_url = \"{url}/\", submission_url = \"https://{ORIGIN}/\", public_key = \"{key}\" }}]\n{extra}\n",
    ));
    match &cfg.settings {
        crate::sources::SourceSettings::Ct(c) => CtSource::new(cfg.name(), c),
        other => panic!("{other:?}"),
    }
}

fn cursor(poll: &Poll) -> Cursor {
    Cursor {
        state: poll.state.clone(),
        ..Cursor::default()
    }
}

fn next_of(poll: &Poll, log: &str) -> u64 {
    let s: CtState = serde_json::from_value(poll.state.clone().unwrap()).unwrap();
    s.logs[log].next
}

#[tokio::test]
async fn a_new_log_starts_at_its_head_then_keeps_only_lookalikes() {
    let mut log = TestLog::new(1);
    log.add_certificate(&cert_der(&["anytown-old.co.uk"]), T0);
    let key = log.public_key_base64();
    let (url, served) = serve_log(log).await;
    let src = source(&[("Test log", &url, &key)], "batch = 2");
    let first = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    assert!(first.items.is_empty(), "nothing before the head is read");
    assert_eq!(next_of(&first, "Test log"), 1);

    let lookalike = cert_der(&["anytown-gov.uk", "www.anytown-gov.uk"]);
    let precert = cert_der(&["anytown-postal-vote.com"]);
    {
        let mut s = served.lock().unwrap();
        let log = s.log.as_mut().unwrap();
        log.add_certificate(&cert_der(&["bakery.example.com"]), T0 + 1);
        log.add_certificate(&lookalike, T0 + 2);
        log.add_certificate(&cert_der(&["www.anytown.gov.uk"]), T0 + 3);
        log.add_precertificate(&tbs_of(&precert), &precert, T0 + 4);
        s.size = log.size();
    }
    let second = src.poll(&ctx(), &cursor(&first)).await.unwrap();
    assert!(second.dropped.is_empty(), "{:?}", second.dropped);
    assert_eq!(next_of(&second, "Test log"), 5);
    assert_eq!(served.lock().unwrap().entry_requests, 2, "batches of 2");
    let items: Vec<&Item> = second.items.iter().map(|(_, i)| i).collect();
    assert_eq!(items.len(), 2, "{items:#?}");

    let cert = items[0];
    assert_eq!(cert.source.kind, "ct");
    assert_eq!(
        cert.title.as_deref(),
        Some("TLS certificate for anytown-gov.uk")
    );
    let text = cert.text.as_deref().unwrap();
    assert!(
        text.contains("issued for anytown-gov.uk, www.anytown-gov.uk"),
        "{text}"
    );
    assert!(text.contains("Logged by Test log at index 2"), "{text}");
    assert!(text.contains("Issuer: "), "{text}");
    assert_eq!(
        cert.url.as_deref(),
        Some(format!("https://crt.sh/?sha256={}", sha256_hex(&lookalike)).as_str())
    );
    assert_eq!(
        cert.published_at.unwrap().timestamp_millis(),
        (T0 + 2) as i64
    );
    // Its capture is the entry as served at its own get-entries URL.
    let (capture, body) = &second.captures[second.items[0].0];
    assert!(
        capture.url.ends_with("/ct/v1/get-entries?start=2&end=2"),
        "{}",
        capture.url
    );
    assert_eq!(capture.sha256, sha256_hex(body));
    let got: GetEntries = serde_json::from_slice(body).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(&got.entries[0].leaf_input).unwrap(),
        certificate_leaf(&lookalike, T0 + 2)
    );

    let pre = items[1];
    assert_eq!(
        pre.title.as_deref(),
        Some("TLS precertificate for anytown-postal-vote.com")
    );
    assert_eq!(
        pre.url.as_deref(),
        Some(format!("https://crt.sh/?sha256={}", sha256_hex(&precert)).as_str())
    );

    // Nothing new: nothing fetched but the head, nothing found twice.
    let third = src.poll(&ctx(), &cursor(&second)).await.unwrap();
    assert!(third.items.is_empty());
    assert_eq!(served.lock().unwrap().entry_requests, 2);
}

#[tokio::test]
async fn a_restart_resumes_from_the_cursor_in_short_answers() {
    let mut log = TestLog::new(2);
    let key = log.public_key_base64();
    let names: Vec<String> = (0..7).map(|i| format!("anytown-{i}.example.com")).collect();
    for (i, n) in names.iter().enumerate() {
        log.add_certificate(&cert_der(&[n]), T0 + i as u64);
    }
    let (url, served) = serve_log(log).await;
    served.lock().unwrap().size = 3;
    served.lock().unwrap().per_answer = Some(1); // the log answers one entry at a time
    let start = Cursor {
        state: Some(serde_json::json!({ "logs": { "Test log": { "next": 1 } } })),
        ..Cursor::default()
    };
    let a = source(&[("Test log", &url, &key)], "batch = 100")
        .poll(&ctx(), &start)
        .await
        .unwrap();
    let seen: Vec<String> = a
        .items
        .iter()
        .map(|(_, i)| i.title.clone().unwrap())
        .collect();
    assert_eq!(
        seen,
        [
            "TLS certificate for anytown-1.example.com",
            "TLS certificate for anytown-2.example.com"
        ]
    );
    // A new source (a restart) from the stored cursor, after the log grew.
    served.lock().unwrap().size = 7;
    let b = source(&[("Test log", &url, &key)], "batch = 100")
        .poll(&ctx(), &cursor(&a))
        .await
        .unwrap();
    let seen: Vec<String> = b
        .items
        .iter()
        .map(|(_, i)| i.title.clone().unwrap())
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], "TLS certificate for anytown-3.example.com");
    assert_eq!(next_of(&b, "Test log"), 7);
}

#[tokio::test]
async fn a_bad_tree_head_signature_is_refused_and_the_cursor_kept() {
    let mut log = TestLog::new(3);
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let key = log.public_key_base64();
    let (url, served) = serve_log(log).await;
    served.lock().unwrap().bad_signature = true;
    let src = source(&[("Test log", &url, &key)], "");
    let start = Cursor {
        state: Some(serde_json::json!({ "logs": { "Test log": { "next": 0 } } })),
        ..Cursor::default()
    };
    let e = src.poll(&ctx(), &start).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("is not a valid CT signed tree head: the tree head signature does not verify with the configured public_key"),
        "{e}"
    );
    assert!(!e.is_transient());
    assert_eq!(served.lock().unwrap().entry_requests, 0);
}

#[tokio::test]
async fn malformed_entries_are_skipped_with_the_log_and_index() {
    let mut log = TestLog::new(4);
    let key = log.public_key_base64();
    log.add_raw(vec![0, 0, 1, 2], Vec::new());
    log.add_raw(certificate_leaf(b"junk", T0), Vec::new());
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let (url, _served) = serve_log(log).await;
    let src = source(&[("Test log", &url, &key)], "");
    let start = Cursor {
        state: Some(serde_json::json!({ "logs": { "Test log": { "next": 0 } } })),
        ..Cursor::default()
    };
    let poll = src.poll(&ctx(), &start).await.unwrap();
    assert_eq!(poll.items.len(), 1);
    assert_eq!(poll.dropped.len(), 2, "{:?}", poll.dropped);
    assert_eq!(
        poll.dropped[0],
        "log `Test log` entry 0: the entry ends inside its timestamp"
    );
    assert!(poll.dropped[1].starts_with("log `Test log` entry 1: the certificate does not parse"));
    assert_eq!(next_of(&poll, "Test log"), 3);
}

#[tokio::test]
async fn a_log_down_is_an_error_then_it_catches_up() {
    let mut log = TestLog::new(5);
    let key = log.public_key_base64();
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let (url, served) = serve_log(log).await;
    let mut other = TestLog::new(6);
    let other_key = other.public_key_base64();
    other.add_certificate(&cert_der(&["anytown-vote.com"]), T0);
    let (other_url, _) = serve_log(other).await;
    let at_zero = Cursor {
        state: Some(serde_json::json!({ "logs": { "A": { "next": 0 }, "B": { "next": 0 } } })),
        ..Cursor::default()
    };
    served.lock().unwrap().down = true;
    // Alone, the log down fails the poll (a transient error the scheduler backs off from).
    let alone = source(&[("A", &url, &key)], "");
    let e = alone.poll(&ctx(), &at_zero).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("503"), "{e}");
    // Beside a log that works: a health problem for that log, and the other goes on.
    let both = source(&[("A", &url, &key), ("B", &other_url, &other_key)], "");
    let poll = both.poll(&ctx(), &at_zero).await.unwrap();
    assert_eq!(poll.items.len(), 1);
    assert_eq!(poll.dropped.len(), 1);
    assert!(
        poll.dropped[0].starts_with("log `A`: "),
        "{:?}",
        poll.dropped
    );
    assert_eq!(next_of(&poll, "A"), 0);
    assert_eq!(next_of(&poll, "B"), 1);
    // Up again: A catches up from where it was.
    served.lock().unwrap().down = false;
    let poll = both.poll(&ctx(), &cursor(&poll)).await.unwrap();
    assert!(poll.dropped.is_empty());
    assert_eq!(poll.items.len(), 1);
    assert_eq!(next_of(&poll, "A"), 1);
}

#[tokio::test]
async fn backfill_starts_at_the_first_entry_inside_the_window() {
    let mut log = TestLog::new(8);
    let key = log.public_key_base64();
    let now = Utc::now().timestamp_millis() as u64;
    let day = 86_400_000;
    for (i, age) in [10, 9, 8, 3, 2, 1].iter().enumerate() {
        log.add_certificate(
            &cert_der(&[&format!("anytown-{i}.example.com")]),
            now - age * day,
        );
    }
    let (url, _) = serve_log(log).await;
    let src = source(&[("Test log", &url, &key)], "backfill = \"7d\"");
    let poll = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    assert_eq!(poll.items.len(), 3, "{:?}", poll.dropped);
    assert_eq!(
        poll.items[0].1.title.as_deref(),
        Some("TLS certificate for anytown-3.example.com")
    );
}

#[tokio::test]
async fn without_protected_domains_nothing_is_kept() {
    let mut log = TestLog::new(10);
    let key = log.public_key_base64();
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let (url, _) = serve_log(log).await;
    let src = source(&[("Test log", &url, &key)], "");
    let start = Cursor {
        state: Some(serde_json::json!({ "logs": { "Test log": { "next": 0 } } })),
        ..Cursor::default()
    };
    let poll = src.poll(&test_ctx(), &start).await.unwrap();
    assert!(poll.items.is_empty());
    assert_eq!(next_of(&poll, "Test log"), 1);
}

fn titles(poll: &Poll) -> Vec<String> {
    poll.items
        .iter()
        .map(|(_, i)| i.title.clone().unwrap())
        .collect()
}

fn at_index(next: u64) -> Cursor {
    Cursor {
        state: Some(serde_json::json!({ "logs": { "Tiled": { "next": next } } })),
        ..Cursor::default()
    }
}

#[tokio::test]
async fn a_tiled_log_starts_at_its_head_then_keeps_only_lookalikes() {
    let mut log = TestLog::new(21);
    log.add_certificate(&cert_der(&["anytown-old.co.uk"]), T0);
    let key = log.public_key_base64();
    let (url, served) = serve_log(log).await;
    let src = tiled_source("Tiled", &url, &key, "");
    let first = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    assert!(first.items.is_empty(), "nothing before the head is read");
    assert_eq!(next_of(&first, "Tiled"), 1);
    assert!(served.lock().unwrap().tile_requests.is_empty());

    let lookalike = cert_der(&["anytown-gov.uk", "www.anytown-gov.uk"]);
    let precert = cert_der(&["anytown-postal-vote.com"]);
    let issuer = cert_der(&["Test Intermediate CA"]);
    {
        let mut s = served.lock().unwrap();
        let log = s.log.as_mut().unwrap();
        log.add_certificate(&cert_der(&["bakery.example.com"]), T0 + 1);
        log.add_certificate_with_chain(&lookalike, &[&issuer], T0 + 2);
        log.add_certificate(&cert_der(&["www.anytown.gov.uk"]), T0 + 3);
        log.add_precertificate(&tbs_of(&precert), &precert, T0 + 4);
        s.size = log.size();
    }
    let second = src.poll(&ctx(), &cursor(&first)).await.unwrap();
    assert!(second.dropped.is_empty(), "{:?}", second.dropped);
    assert_eq!(next_of(&second, "Tiled"), 5);
    assert_eq!(
        served.lock().unwrap().tile_requests,
        ["/tile/data/000.p/5"],
        "one partial tile, up to the checkpoint's size"
    );
    assert_eq!(
        titles(&second),
        [
            "TLS certificate for anytown-gov.uk",
            "TLS precertificate for anytown-postal-vote.com"
        ]
    );
    let cert = &second.items[0].1;
    let text = cert.text.as_deref().unwrap();
    assert!(text.contains("Logged by Tiled at index 2"), "{text}");
    assert_eq!(
        cert.url.as_deref(),
        Some(format!("https://crt.sh/?sha256={}", sha256_hex(&lookalike)).as_str())
    );
    assert_eq!(
        second.items[1].1.url.as_deref(),
        Some(format!("https://crt.sh/?sha256={}", sha256_hex(&precert)).as_str())
    );
    // The tile as served is the capture of both, once.
    assert_eq!(second.captures.len(), 1);
    assert_eq!(second.items[0].0, second.items[1].0);
    let (capture, body) = &second.captures[0];
    assert!(
        capture.url.ends_with("/tile/data/000.p/5"),
        "{}",
        capture.url
    );
    assert_eq!(capture.sha256, sha256_hex(body));
    let framed = tile::split_tile(body, 256);
    assert_eq!(framed.leaves.len(), 5);
    assert_eq!(
        framed.leaves[2].chain,
        [<[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(
            &issuer
        ))]
    );
    // The same certificate through the RFC 6962 API is the same item.
    assert_eq!(
        cert.id,
        Item::derive_id("CT", &format!("ct:{}", sha256_hex(&lookalike)))
    );

    // Nothing new: only the checkpoint is fetched.
    let third = src.poll(&ctx(), &cursor(&second)).await.unwrap();
    assert!(third.items.is_empty());
    assert_eq!(served.lock().unwrap().tile_requests.len(), 1);
}

/// 600 entries, every 7th a lookalike, revealed in steps that end inside tiles; a new source
/// (a restart) half-way. Every lookalike is found exactly once.
#[tokio::test]
async fn a_tiled_log_rereads_its_partial_tile_as_it_fills_and_resumes_after_a_restart() {
    let mut log = TestLog::new(22);
    let key = log.public_key_base64();
    let lookalike = cert_der(&["anytown-vote.com"]);
    let other = cert_der(&["shop.example.com"]);
    let mut expected = Vec::new();
    for i in 0..600u64 {
        if i % 7 == 3 {
            log.add_certificate(&lookalike, T0 + i);
            expected.push(i);
        } else {
            log.add_certificate(&other, T0 + i);
        }
    }
    let (url, served) = serve_log(log).await;
    let mut found = Vec::new();
    let mut at = at_index(0);
    for (step, size) in [10u64, 200, 256, 270, 513, 600].into_iter().enumerate() {
        served.lock().unwrap().size = size;
        // A fresh source for every other step: the cursor alone carries the position.
        let src = tiled_source("Tiled", &url, &key, "");
        let poll = src.poll(&ctx(), &at).await.unwrap();
        assert!(poll.dropped.is_empty(), "{:?}", poll.dropped);
        assert_eq!(next_of(&poll, "Tiled"), size, "step {step}");
        for (_, item) in &poll.items {
            let text = item.text.as_deref().unwrap();
            let index: u64 = text
                .split("at index ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            found.push(index);
        }
        at = cursor(&poll);
    }
    assert_eq!(found, expected, "every lookalike once, in order");
    assert_eq!(
        served.lock().unwrap().tile_requests,
        [
            "/tile/data/000.p/10",
            "/tile/data/000.p/200",
            "/tile/data/000",
            "/tile/data/001.p/14",
            "/tile/data/001",
            "/tile/data/002.p/1",
            "/tile/data/002.p/88",
        ]
    );
}

#[tokio::test]
async fn a_gone_partial_tile_is_read_from_the_full_tile() {
    let mut log = TestLog::new(23);
    let key = log.public_key_base64();
    for i in 0..300u64 {
        let name = if i == 250 {
            "anytown-gov.uk"
        } else {
            "shop.example.com"
        };
        log.add_certificate(&cert_der(&[name]), T0 + i);
    }
    let (url, served) = serve_log(log).await;
    served.lock().unwrap().size = 240;
    let src = tiled_source("Tiled", &url, &key, "");
    let a = src.poll(&ctx(), &at_index(0)).await.unwrap();
    assert!(a.items.is_empty());
    {
        let mut s = served.lock().unwrap();
        s.size = 300;
        s.partial_gone = true;
    }
    let b = src.poll(&ctx(), &cursor(&a)).await.unwrap();
    assert!(b.dropped.is_empty(), "{:?}", b.dropped);
    assert_eq!(titles(&b), ["TLS certificate for anytown-gov.uk"]);
    assert_eq!(next_of(&b, "Tiled"), 300);
    // Asked for a partial tile the log has dropped, it read the full one; the new partial
    // tile at the edge is still served.
    assert_eq!(
        served.lock().unwrap().tile_requests,
        [
            "/tile/data/000.p/240",
            "/tile/data/000",
            "/tile/data/001.p/44"
        ]
    );
}

#[tokio::test]
async fn a_bad_checkpoint_is_refused_and_the_cursor_kept() {
    let mut log = TestLog::new(24);
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let key = log.public_key_base64();
    let (url, served) = serve_log(log).await;
    served.lock().unwrap().bad_signature = true;
    let src = tiled_source("Tiled", &url, &key, "");
    let e = src.poll(&ctx(), &at_index(0)).await.unwrap_err();
    assert!(
        e.to_string().contains(
            "is not a valid CT checkpoint: the checkpoint signature does not verify with the configured public_key"
        ),
        "{e}"
    );
    assert!(e.to_string().contains("/checkpoint"), "{e}");
    assert!(!e.is_transient());
    assert!(served.lock().unwrap().tile_requests.is_empty());

    // Signed by another log's key: no signature line it can check.
    served.lock().unwrap().bad_signature = false;
    let other_key = TestLog::new(25).public_key_base64();
    let e = tiled_source("Tiled", &url, &other_key, "")
        .poll(&ctx(), &at_index(0))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the checkpoint has no signature by `log.example/2026h1` with the configured public_key"),
        "{e}"
    );
    // Another log's checkpoint (its origin is not the configured submission_url's).
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"CT\"\nkind = \"ct\"\nlogs = [{{ name = \"Tiled\", monitoring_url = \"{url}/\", submission_url = \"https://other.example/log/\", public_key = \"{key}\" }}]\n",
    ));
    let crate::sources::SourceSettings::Ct(c) = &cfg.settings else {
        panic!()
    };
    let e = CtSource::new("CT", c)
        .poll(&ctx(), &at_index(0))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the checkpoint's origin is `log.example/2026h1`, not `other.example/log`"),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_tile_entries_are_skipped_with_a_reason() {
    let mut log = TestLog::new(26);
    let key = log.public_key_base64();
    // Framed, but the certificate is junk: that entry alone is skipped.
    log.add_raw(certificate_leaf(b"junk", T0), Vec::new());
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    // An unknown entry type: the tile cannot be framed past it.
    let mut bad = certificate_leaf(&cert_der(&["anytown-vote.com"]), T0);
    bad[11] = 9;
    log.add_raw(bad, Vec::new());
    log.add_certificate(&cert_der(&["anytown-lost.com"]), T0);
    let (url, _served) = serve_log(log).await;
    let src = tiled_source("Tiled", &url, &key, "");
    let poll = src.poll(&ctx(), &at_index(0)).await.unwrap();
    assert_eq!(titles(&poll), ["TLS certificate for anytown-gov.uk"]);
    assert_eq!(poll.dropped.len(), 2, "{:?}", poll.dropped);
    assert!(
        poll.dropped[0].starts_with("log `Tiled` entry 0: the certificate does not parse"),
        "{:?}",
        poll.dropped
    );
    assert_eq!(
        poll.dropped[1],
        "log `Tiled` entries 2 to 3: tile 0 cannot be read past its entry 2: unknown entry type 9"
    );
    assert_eq!(next_of(&poll, "Tiled"), 4);
}

#[tokio::test]
async fn a_tiled_log_down_is_an_error_then_it_catches_up() {
    let mut log = TestLog::new(27);
    let key = log.public_key_base64();
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let (url, served) = serve_log(log).await;
    served.lock().unwrap().down = true;
    let src = tiled_source("Tiled", &url, &key, "");
    let e = src.poll(&ctx(), &at_index(0)).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("503"), "{e}");
    served.lock().unwrap().down = false;
    let poll = src.poll(&ctx(), &at_index(0)).await.unwrap();
    assert_eq!(titles(&poll), ["TLS certificate for anytown-gov.uk"]);
    assert_eq!(next_of(&poll, "Tiled"), 1);
}

#[tokio::test]
async fn a_tiled_backfill_starts_at_the_first_entry_inside_the_window() {
    let mut log = TestLog::new(28);
    let key = log.public_key_base64();
    let now = Utc::now().timestamp_millis() as u64;
    let day = 86_400_000;
    // 700 entries, 10 days old up to entry 400, then 1 day old.
    for i in 0..700u64 {
        let age = if i < 400 { 10 * day } else { day };
        let name = if i == 399 || i == 400 || i == 699 {
            format!("anytown-{i}.example.com")
        } else {
            "shop.example.com".into()
        };
        log.add_certificate(&cert_der(&[&name]), now - age + i);
    }
    let (url, _) = serve_log(log).await;
    let src = tiled_source("Tiled", &url, &key, "backfill = \"7d\"");
    let poll = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    assert_eq!(
        titles(&poll),
        [
            "TLS certificate for anytown-400.example.com",
            "TLS certificate for anytown-699.example.com"
        ]
    );
}

#[test]
fn checkpoints_verify_with_the_log_key_and_origin_only() {
    let mut log = TestLog::new(29);
    log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
    let spki = base64::engine::general_purpose::STANDARD
        .decode(log.public_key_base64())
        .unwrap();
    let key = sth::LogKey::from_der(&spki).unwrap();
    let id = checkpoint::log_id(&spki);
    let text = log.checkpoint(ORIGIN, 1, T0 + 5);
    let head = checkpoint::verify_checkpoint(text.as_bytes(), ORIGIN, &key, &id).unwrap();
    assert_eq!(head.tree_size, 1);
    assert_eq!(head.timestamp, T0 + 5);
    // The same tree head as get-sth signs.
    let sth: SthJson = serde_json::from_value(log.sth_json(1, T0 + 5)).unwrap();
    assert_eq!(sth::verify_sth(&sth, &key).unwrap(), head);
    // A witness cosignature (another key name, Ed25519 type) before it is ignored.
    let (body, sig) = text.split_once("\n\n").unwrap();
    let witnessed = format!(
        "{body}\n\n\u{2014} witness.example/w1 {}\n{sig}",
        base64::engine::general_purpose::STANDARD.encode([7u8; 4 + 8 + 64])
    );
    assert_eq!(
        checkpoint::verify_checkpoint(witnessed.as_bytes(), ORIGIN, &key, &id).unwrap(),
        head
    );
    // Extension lines are refused with an RFC 6962 signature.
    let extended = text.replacen("\n\n", "\nextension\n\n", 1);
    let e = checkpoint::verify_checkpoint(extended.as_bytes(), ORIGIN, &key, &id).unwrap_err();
    assert!(e.to_string().contains("extension lines"), "{e}");
    for (bad, why) in [
        ("", "no blank line"),
        (
            "log.example/2026h1\n01\nAAAA\n\n\u{2014} x AAAAAA==\n",
            "not a decimal number",
        ),
        (
            "log.example/2026h1\n1\nAAAA\n\n\u{2014} x AAAAAA==\n",
            "not 32",
        ),
        (
            "log.example/2026h1\n1\nAAAA\n\n- x AAAAAA==\n",
            "does not start with",
        ),
        (
            "log.example/2026h1\n1\nAAAA\n\n\u{2014} x AAAAAA==",
            "does not end with a newline",
        ),
        (
            "log.example/2026h1\n1\nAAAA\n\n\u{2014} x AAA=\n",
            "shorter than its 4-byte key ID",
        ),
    ] {
        let e = checkpoint::verify_checkpoint(bad.as_bytes(), ORIGIN, &key, &id).unwrap_err();
        assert!(e.to_string().contains(why), "{bad:?}: {e}");
    }
    assert_eq!(
        checkpoint::origin_of(&url::Url::parse("https://log.example/2026h1/").unwrap()),
        ORIGIN
    );
}

#[test]
fn config_problems_name_the_key() {
    let read = crate::sources::test_support::config_problems;
    let p = read("name = \"CT\"\nkind = \"ct\"\n");
    assert!(p.contains("a CT source needs at least one log"), "{p}");
    let p = read(
        "name = \"CT\"\nkind = \"ct\"\nbatch = 5000\nlogs = [{ name = \"X\", url = \"https://ct.example/\", public_key = \"AAAA\" }]\n",
    );
    assert!(p.contains("5000 is out of range"), "{p}");
    assert!(p.contains("public_key"), "{p}");
    assert!(p.contains("SubjectPublicKeyInfo"), "{p}");
}

proptest::proptest! {
    #[test]
    fn the_leaf_reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = parse_leaf(&bytes);
        let _ = leaf::leaf_timestamp(&bytes);
        let _ = leaf::precertificate_der(&bytes);
    }

    #[test]
    fn the_tile_and_checkpoint_readers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
        let tile = tile::split_tile(&bytes, 256);
        for leaf in &tile.leaves {
            let _ = leaf.entry();
        }
        let _ = read_tile(&bytes, 256, 0..256, &|_| true);
        let _ = checkpoint::parse_note(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = checkpoint::parse_checkpoint_body(text);
        }
    }

    #[test]
    fn mutated_tiles_and_checkpoints_never_panic(flips in proptest::collection::vec((0usize..8192, proptest::num::u8::ANY), 1..8)) {
        static GOOD: std::sync::OnceLock<(TestLog, Vec<u8>)> = std::sync::OnceLock::new();
        let (log, tile) = GOOD.get_or_init(|| {
            let mut log = TestLog::new(30);
            let pre = cert_der(&["anytown-vote.com"]);
            log.add_certificate(&cert_der(&["anytown-gov.uk"]), T0);
            log.add_precertificate(&tbs_of(&pre), &pre, T0);
            let tile = log.data_tile(0, 2);
            (log, tile)
        });
        let spki = base64::engine::general_purpose::STANDARD.decode(log.public_key_base64()).unwrap();
        let key = sth::LogKey::from_der(&spki).unwrap();
        let mut t = tile.clone();
        let mut c = log.checkpoint(ORIGIN, 2, T0).into_bytes();
        for (at, b) in &flips {
            let i = at % t.len();
            t[i] = *b;
            let j = at % c.len();
            c[j] = *b;
        }
        let read = read_tile(&t, 256, 0..256, &|_| true);
        proptest::prop_assert!(read.framed <= 256);
        let _ = checkpoint::verify_checkpoint(&c, ORIGIN, &key, &checkpoint::log_id(&spki));
    }

    #[test]
    fn tile_paths_round_trip(index in proptest::num::u64::ANY, width in 0u64..300) {
        let path = tile::data_tile_path(index, Some(width));
        let partial = Some(width).filter(|w| (1..256).contains(w));
        proptest::prop_assert_eq!(tile::parse_data_tile_path(&path), Some((index, partial)));
    }

    #[test]
    fn mutated_leaves_never_panic(flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8)) {
        static LEAF: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let good = LEAF.get_or_init(|| precertificate_leaf(&tbs_of(&cert_der(&["anytown-gov.uk", "vote.example"])), T0));
        let mut bytes = good.clone();
        for (at, b) in flips {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        let _ = parse_leaf(&bytes);
    }
}

/// The fuzz target's seeds (`scripts/fuzz ct`): a certificate leaf, a precertificate leaf and a
/// `get-entries` answer holding both, made here (`BALLOTWATCH_WRITE_CT_SEEDS=1` writes them
/// again) and checked to read.
#[test]
fn the_fuzz_seeds_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sources/ct/testdata");
    if std::env::var_os("BALLOTWATCH_WRITE_CT_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let cert = cert_der(&["*.anytown-gov.uk", "anytown-gov.uk"]);
        let pre = cert_der(&["xn--nytown-2nf.gov.uk", "vote.example"]);
        let mut log = TestLog::new(11);
        log.add_certificate(&cert, T0);
        log.add_precertificate(&tbs_of(&pre), &pre, T0 + 1);
        std::fs::write(dir.join("certificate.leaf"), certificate_leaf(&cert, T0)).unwrap();
        std::fs::write(
            dir.join("precertificate.leaf"),
            precertificate_leaf(&tbs_of(&pre), T0 + 1),
        )
        .unwrap();
        let answer = serde_json::json!({ "entries": log.entries(0, 1, 2) });
        std::fs::write(
            dir.join("get-entries.json"),
            serde_json::to_vec_pretty(&answer).unwrap(),
        )
        .unwrap();
        // The ct_tile target's: a data tile of both and a checkpoint signed by the test log
        // with seed 31 (the key the target checks with).
        let mut tiled = TestLog::new(31);
        tiled.add_certificate_with_chain(&cert, &[&pre], T0);
        tiled.add_precertificate(&tbs_of(&pre), &pre, T0 + 1);
        std::fs::write(dir.join("data.tile"), tiled.data_tile(0, 2)).unwrap();
        std::fs::write(dir.join("checkpoint"), tiled.checkpoint(ORIGIN, 2, T0 + 2)).unwrap();
    }
    for leaf in ["certificate.leaf", "precertificate.leaf"] {
        let bytes = std::fs::read(dir.join(leaf)).unwrap();
        assert!(!parse_leaf(&bytes).unwrap().cert.names.is_empty(), "{leaf}");
    }
    let answer: GetEntries =
        serde_json::from_slice(&std::fs::read(dir.join("get-entries.json")).unwrap()).unwrap();
    let kept = answer
        .entries
        .iter()
        .filter(|e| read_entry(e, &|_| true).unwrap().is_some())
        .count();
    assert_eq!(kept, 2);
    let tile = std::fs::read(dir.join("data.tile")).unwrap();
    let read = read_tile(&tile, 256, 0..256, &|_| true);
    assert!(read.rest.is_none(), "{:?}", read.rest);
    assert_eq!(
        read.entries
            .iter()
            .filter(|(_, r)| matches!(r, Ok(Some(_))))
            .count(),
        2
    );
    let spki = base64::engine::general_purpose::STANDARD
        .decode(TestLog::new(31).public_key_base64())
        .unwrap();
    let key = sth::LogKey::from_der(&spki).unwrap();
    let text = std::fs::read(dir.join("checkpoint")).unwrap();
    let head =
        checkpoint::verify_checkpoint(&text, ORIGIN, &key, &checkpoint::log_id(&spki)).unwrap();
    assert_eq!(head.tree_size, 2);
}

#[tokio::test]
async fn with_home_page_an_item_points_at_the_lookalike_site_and_keeps_the_look_up() {
    let mut log = TestLog::new(11);
    log.add_certificate(&cert_der(&["unrelated.example.org"]), T0);
    let key = log.public_key_base64();
    let (url, served) = serve_log(log).await;
    let src = source(&[("Test log", &url, &key)], "home_page = true");
    let first = src.poll(&ctx(), &Cursor::default()).await.unwrap();
    let wildcard = cert_der(&["*.anytown-gov.uk"]);
    {
        let mut s = served.lock().unwrap();
        let log = s.log.as_mut().unwrap();
        log.add_certificate(&wildcard, T0 + 1);
        s.size = log.size();
    }
    let second = src.poll(&ctx(), &cursor(&first)).await.unwrap();
    let items: Vec<&Item> = second.items.iter().map(|(_, i)| i).collect();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(
        items[0].url.as_deref(),
        Some("https://anytown-gov.uk/"),
        "the wildcard's `*.` is dropped"
    );
    let lookup = format!("https://crt.sh/?sha256={}", sha256_hex(&wildcard));
    assert_eq!(items[0].links, vec![lookup]);

    // A match that makes no host name leaves the item as it was.
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry = EntryJson {
        leaf_input: b64.encode(certificate_leaf(&cert_der(&["anytown-gov.uk"]), T0)),
        extra_data: String::new(),
    };
    let mut found = read_entry(&entry, &|_| true).unwrap().unwrap();
    let mut item = certificate_item("CT", "Test log", 1, &found);
    assert!(item.url.as_deref().unwrap().starts_with("https://crt.sh/"));
    assert!(item.links.is_empty(), "off (the default): no link added");
    found.matched = vec!["*".into()];
    point_at_home_page(&mut item, &found);
    assert!(item.url.as_deref().unwrap().starts_with("https://crt.sh/"));
    assert!(item.links.is_empty());
}
