//! End to end: evidence packs. A recorded-format feed served on 127.0.0.1 is ingested with an
//! `[[identity]]`, so the impersonation detector flags a lookalike link; the flagged item goes
//! into an incident; `serve` screenshots its page with headless Chromium; `export` writes the
//! pack; then standard tools check it (`unzip -t`, `sha256sum -c`, warcio, `pdftotext`) and
//! `verify` catches every kind of tampering, naming the file.

use crate::common;

// The evidence crate's test TSA (`openssl ts -reply` on loopback), shared rather than copied.
#[allow(dead_code)]
#[path = "../../evidence/tests/support/tsa.rs"]
pub(crate) mod tsa;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ballotwatch_core::{Severity, VerdictKind};
use ballotwatch_store::{ScreenshotOutcome, Store};
use common::tools::Tool;
use common::*;

const IDENTITY: &str = r#"
[[identity]]
name = "Anytown Borough Council"
kind = "organisation"
domains = ["anytown.gov.uk"]
"#;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn feed(State(base): State<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        fixture("feed.xml").replace("{BASE}", &base),
    )
        .into_response()
}

async fn post(UrlPath(name): UrlPath<String>) -> Response {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(format!("{name}.html"));
    match std::fs::read(p) {
        Ok(b) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], b).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the noticeboard feed and its pages on 127.0.0.1; returns the base URL.
fn noticeboard() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tx.send(base.clone()).unwrap();
            let app = Router::new()
                .route("/feed.xml", get(feed))
                .route("/posts/{name}", get(post))
                .with_state(base);
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// What the pack tests need: Chromium (screenshots, report.pdf), the standard tools that check
/// a pack (pdftotext, unzip, sha256sum, warcio) and the models the ingest classifies with.
const PACK_TOOLS: &[Tool] = &[
    Tool::Chromium,
    Tool::Pdftotext,
    Tool::Unzip,
    Tool::Sha256sum,
    Tool::Warcio,
    Tool::Models,
];

fn warcio_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/warcio/.venv/bin/python")
}

/// A workspace that has ingested the noticeboard: returns it, the flagged item's id and the
/// harmless item's id.
fn ingested() -> (Workspace, String, String) {
    let base = noticeboard();
    let ws = Workspace::new(&format!(
        "{IDENTITY}\n{}",
        rss_source("Riverside Noticeboard", &format!("{base}/feed.xml"))
    ));
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "ingest failed:\n{}\n{}", r.stdout, r.stderr);
    let store = Store::open(&ws.data_dir()).unwrap();
    let items = store.latest_items_after(0, 100).unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    let flagged: Vec<_> = items
        .iter()
        .filter(|s| s.result.as_ref().is_some_and(|r| r.flagged))
        .collect();
    assert_eq!(
        flagged.len(),
        1,
        "exactly the lookalike post is flagged: {items:?}"
    );
    let bad = flagged[0];
    assert!(bad
        .item
        .url
        .as_deref()
        .unwrap()
        .ends_with("/posts/postal-vote-reregister"));
    let v = &bad.result.as_ref().unwrap().verdicts[0];
    assert_eq!(
        (v.detector.as_str(), v.label.as_str()),
        ("domains", "lookalike_domain")
    );
    let good = items.iter().find(|s| s.item.id != bad.item.id).unwrap();
    (ws, bad.item.id.clone(), good.item.id.clone())
}

/// Opens an incident for the flagged item the way the comms team does.
fn incident(ws: &Workspace, item: &str) -> i64 {
    let store = Store::open(&ws.data_dir()).unwrap();
    let inc = store
        .create_incident(
            "Lookalike council site asks postal voters to re-register",
            VerdictKind::Impersonation,
            Severity::High,
            "comms-officer",
        )
        .unwrap();
    assert!(store
        .add_incident_item(inc.id, item, "comms-officer")
        .unwrap());
    inc.id
}

pub(crate) fn unzip_all(pack: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(pack).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().unwrap().into_owned(), b);
    }
    out
}

fn zip_all(files: &BTreeMap<String, Vec<u8>>, out: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for (name, bytes) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// Starts `serve` and waits until the screenshot task has recorded an attempt for `item`.
fn serve_until_screenshot(ws: &Workspace, item: &str) {
    let log = std::fs::File::create(ws.dir.path().join("serve.log")).unwrap();
    let mut child = ws
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let store = Store::open(&ws.data_dir()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let shots = loop {
        let shots = store.screenshots_of(item).unwrap();
        if !shots.is_empty() || Instant::now() > deadline {
            break shots;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(ws.dir.path().join("serve.log")).unwrap_or_default();
    assert_eq!(
        shots.len(),
        1,
        "serve took no screenshot within 120 s; log:\n{log}"
    );
    assert!(
        status.success(),
        "serve did not stop cleanly: {status}\n{log}"
    );
    match &shots[0].shot.outcome {
        ScreenshotOutcome::Taken {
            html_sha256,
            width,
            height,
            ..
        } => {
            assert!(*width >= 800 && *height >= 100, "{width}x{height}");
            let html = store.read_blob(html_sha256).unwrap();
            assert!(String::from_utf8_lossy(&html).contains("BW-EVIDENCE-PAGE-7f3a"));
        }
        other => panic!("screenshot not taken: {other:?}\n{log}"),
    }
    assert!(
        shots[0].shot.tool.starts_with("Chromium"),
        "{}",
        shots[0].shot.tool
    );
}

#[test]
fn a_pack_for_an_incident_passes_every_standard_check_and_verify() {
    if !common::tools::needs(PACK_TOOLS) {
        return;
    }
    let (ws, bad, _good) = ingested();
    let id = incident(&ws, &bad);
    serve_until_screenshot(&ws, &bad);

    let pack = ws.dir.path().join("incident.zip");
    let r = ws.run(&[
        "export",
        "--incident",
        &id.to_string(),
        "--out",
        pack.to_str().unwrap(),
        "--actor",
        "returning-officer",
    ]);
    assert_eq!(r.code, 0, "export failed:\n{}\n{}", r.stdout, r.stderr);
    let pack_sha = sha256_file(&pack);
    assert!(r.stdout.contains(&pack_sha), "{}", r.stdout);

    // verify: without a trusted key it names the signer by the fingerprint export printed and
    // exits 4; with the deployment's key it is intact, exit 0.
    let key = signing_public_key(&ws.config());
    let fingerprint = ballotwatch_evidence::key::fingerprint(&key).unwrap();
    assert!(
        r.stdout
            .contains(&format!("signing key fingerprint {fingerprint}")),
        "{}",
        r.stdout
    );
    let v = ws.run(&["verify", pack.to_str().unwrap()]);
    assert_eq!(v.code, 4, "verify:\n{}\n{}", v.stdout, v.stderr);
    assert!(
        v.stdout
            .starts_with(&format!("UNVERIFIED SIGNER {fingerprint}\n")),
        "{}",
        v.stdout
    );
    assert!(!v.stdout.contains("\nintact:"), "{}", v.stdout);
    let v = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(v.code, 0, "verify:\n{}\n{}", v.stdout, v.stderr);
    assert!(v.stdout.starts_with("intact: "), "{}", v.stdout);
    assert!(!v.stdout.contains("UNVERIFIED"), "{}", v.stdout);

    // unzip -t
    let t = Command::new("unzip").arg("-t").arg(&pack).output().unwrap();
    let out = String::from_utf8_lossy(&t.stdout);
    assert!(
        t.status.success() && out.contains("No errors detected"),
        "{out}"
    );

    // sha256sum -c
    let dir = ws.dir.path().join("unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    let files = unzip_all(&pack);
    for (name, bytes) in &files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let c = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    let listed = String::from_utf8_lossy(&c.stdout).lines().count();
    assert_eq!(
        listed,
        files.len() - 1,
        "every file but SHA256SUMS itself is checked"
    );

    // The manifest: the item, its capture, verdicts, screenshot, exporter.
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m["schema_version"], 1);
    assert_eq!(m["exported_by"], "returning-officer");
    assert_eq!(m["incidents"][0]["incident"]["id"], id);
    let item = &m["items"][0];
    assert_eq!(item["item"]["id"], bad.as_str());
    assert_eq!(item["result"]["verdicts"][0]["detector"], "domains");
    assert!(item["result"]["verdicts"][0]["explanation"]
        .as_str()
        .unwrap()
        .contains("anytown-gov.uk"));
    assert_eq!(item["screenshots"][0]["status"], "taken", "{item}");
    let cap = &m["captures"][0];
    assert!(cap["url"].as_str().unwrap().ends_with("/feed.xml"));
    assert_eq!(cap["status"], 200);
    assert!(cap["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "content-type"));
    let detectors: Vec<&str> = m["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(detectors.contains(&"domains"), "{detectors:?}");
    assert!(
        m["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["model_sha256"].is_string()),
        "the narratives model hash is recorded: {}",
        m["detectors"]
    );
    for f in m["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        assert!(files.contains_key(path), "{path}");
    }
    assert!(files.contains_key(cap["file"].as_str().unwrap()));

    // warcio reads every record and checks the digests.
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
n = 0
types = []
with open(sys.argv[1], 'rb') as f:
    for rec in ArchiveIterator(f, check_digests='raise'):
        rec.content_stream().read()
        n += 1
        types.append(rec.rec_type)
        if rec.rec_type == 'response':
            print('uri', rec.rec_headers.get_header('WARC-Target-URI'))
            print('status', rec.http_headers.get_statuscode())
print('records', n)
print('types', ','.join(types))
"#;
    let w = Command::new(warcio_python())
        .args(["-c", script])
        .arg(dir.join("captures.warc.gz"))
        .output()
        .unwrap();
    let wout = String::from_utf8_lossy(&w.stdout);
    assert!(
        w.status.success(),
        "{wout}\n{}",
        String::from_utf8_lossy(&w.stderr)
    );
    assert!(
        wout.contains(&format!("records {}", m["warc"]["records"])),
        "{wout}"
    );
    assert!(wout.contains("types warcinfo,request,response"), "{wout}");
    assert!(
        wout.contains(&format!("uri {}", cap["final_url"].as_str().unwrap())),
        "{wout}"
    );
    assert!(wout.contains("status 200"), "{wout}");
    let check = Command::new(warcio_python())
        .args(["-m", "warcio.cli", "check", "-v"])
        .arg(dir.join("captures.warc.gz"))
        .output()
        .unwrap();
    let cout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "warcio check: {cout}");
    assert!(cout.contains("digest pass"), "{cout}");

    // The report: HTML showing the screenshot from a file of the pack (the PNG itself when it
    // is narrow, else its JPEG thumbnail naming the full PNG); the PDF names the incident.
    let html = String::from_utf8_lossy(&files["report.html"]);
    let src = html
        .split("<img class=\"shot\"")
        .nth(1)
        .and_then(|t| t.split("src=\"").nth(1))
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no screenshot in the report: {html}"));
    assert!(
        (src.starts_with("screenshots/") || src.starts_with("thumbnails/"))
            && files.contains_key(src),
        "the report's screenshot {src} is a file of the pack"
    );
    assert!(!html.contains("data:"), "nothing inlined");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url(")
    );
    assert!(
        html.contains("anytown-gov.uk"),
        "the lookalike domain is named"
    );
    let pdf = Command::new("pdftotext")
        .arg(dir.join("report.pdf"))
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&pdf.stdout);
    assert!(
        pdf.status.success(),
        "{}",
        String::from_utf8_lossy(&pdf.stderr)
    );
    assert!(text.contains(&format!("Incident {id}")), "{text}");
    assert!(text.contains("RETURNING OFFICER"), "{text}");

    // The audit log records who exported what, with the pack's hash.
    let store = Store::open(&ws.data_dir()).unwrap();
    let audit = store.audit_entries(50).unwrap();
    let e = audit
        .iter()
        .find(|e| e.action == "evidence.export")
        .expect("export audited");
    assert_eq!(e.actor, "returning-officer");
    assert_eq!(e.detail["sha256"], pack_sha.as_str());
    assert_eq!(e.detail["incidents"], serde_json::json!([id]));

    // Tampering: one flipped byte in any file, an added file, a removed file.
    let tampered = ws.dir.path().join("tampered.zip");
    for name in files.keys() {
        let mut changed = files.clone();
        let bytes = changed.get_mut(name).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        zip_all(&changed, &tampered);
        let r = ws.run(&["verify", tampered.to_str().unwrap()]);
        assert_eq!(
            r.code, 1,
            "flipped byte in {name} not caught:\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(name.as_str()),
            "{name} not named: {}",
            r.stdout
        );
    }
    let mut added = files.clone();
    added.insert("captures/extra.html".into(), b"<p>planted</p>".to_vec());
    zip_all(&added, &tampered);
    let r = ws.run(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("captures/extra.html") && r.stdout.contains("added"),
        "{}",
        r.stdout
    );
    for name in files.keys() {
        let mut removed = files.clone();
        removed.remove(name);
        zip_all(&removed, &tampered);
        let r = ws.run(&["verify", tampered.to_str().unwrap()]);
        assert_eq!(r.code, 1, "removing {name} not caught:\n{}", r.stdout);
        assert!(
            r.stdout.contains(name.as_str()),
            "{name} not named: {}",
            r.stdout
        );
    }
    // A byte flipped in the ZIP file itself (inside compressed data).
    let mut raw = std::fs::read(&pack).unwrap();
    let at = raw.len() / 2;
    raw[at] ^= 0x40;
    std::fs::write(&tampered, &raw).unwrap();
    let r = ws.run(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // The right key is accepted; another is refused.
    let key = m["public_key"]["hex"].as_str().unwrap();
    let r = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", key]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = ws.run(&[
        "verify",
        pack.to_str().unwrap(),
        "--public-key",
        &"0".repeat(64),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn items_without_an_incident_export_by_id_and_bad_requests_are_usage_errors() {
    if !common::tools::needs(PACK_TOOLS) {
        return;
    }
    let (ws, bad, good) = ingested();
    let pack = ws.dir.path().join("items.zip");
    let r = ws.run(&[
        "export",
        "--item",
        &good,
        "--item",
        &bad,
        "--out",
        pack.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let key = signing_public_key(&ws.config());
    let v = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    // No TSA configured: the pack verifies as before and says it has no trusted timestamps.
    assert!(
        v.stdout.contains("\nno trusted timestamps in this pack\n"),
        "{}",
        v.stdout
    );
    let files = unzip_all(&pack);
    assert!(!files.keys().any(|k| k.starts_with("timestamps/")));
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert!(m.get("timestamps").is_none());
    assert_eq!(m["items"].as_array().unwrap().len(), 2);
    assert_eq!(m["incidents"], serde_json::json!([]));
    // Both items came from one feed fetch: one capture, one request/response pair.
    assert_eq!(m["captures"].as_array().unwrap().len(), 1);
    assert_eq!(m["warc"]["records"], 3);
    // Export took the flagged item's screenshot itself (serve was not running); the harmless
    // item is not flagged, so it has none.
    assert_eq!(
        m["items"][1]["screenshots"][0]["status"], "taken",
        "{}",
        m["items"][1]
    );
    assert_eq!(m["items"][0]["screenshots"], serde_json::json!([]));
    // The key was generated at first use with mode 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ws.data_dir().join("evidence.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let r = ws.run(&[
        "export",
        "--incident",
        "999",
        "--out",
        pack.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("incident 999"), "{}", r.stderr);
    let r = ws.run(&[
        "export",
        "--item",
        "no-such-item",
        "--out",
        pack.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-item"), "{}", r.stderr);
    // The earlier pack was not clobbered by the failed exports.
    assert_eq!(
        ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key])
            .code,
        0
    );
    let r = ws.run(&["export", "--out", pack.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = ws.run(&[
        "verify",
        ws.dir.path().join("missing.zip").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("missing.zip"), "{}", r.stderr);
    let r = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", "abc"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--public-key"), "{}", r.stderr);

    // Someone alters the pack and re-signs it with a key of their own. Before, verify said
    // "intact"; now it names the other key as an unverified signer (exit 4), and with the
    // council's key in [evidence] trusted_keys it is refused (exit 1).
    let forged = ws.dir.path().join("forged.zip");
    let forger = resign_altered(&pack, &forged, ws.dir.path());
    let forger_fp = ballotwatch_evidence::key::fingerprint(&forger).unwrap();
    let r = ws.run(&["verify", forged.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("UNVERIFIED SIGNER {forger_fp}")),
        "{}",
        r.stdout
    );
    let r = ws.run(&["verify", forged.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    std::fs::write(ws.dir.path().join("council.pub"), format!("{key}\n")).unwrap();
    let mut config = std::fs::read_to_string(ws.config()).unwrap();
    config.push_str("\n[evidence]\ntrusted_keys = [\"council.pub\"]\n");
    std::fs::write(ws.config(), config).unwrap();
    let r = ws.run(&["verify", forged.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("manifest.json") && r.stdout.contains("not the expected key"),
        "{}",
        r.stdout
    );
    let r = ws.run(&["verify", pack.to_str().unwrap()]);
    assert_eq!(
        r.code, 0,
        "the council's own pack, its key trusted: {}",
        r.stdout
    );
    std::fs::write(ws.dir.path().join("council.pub"), "not a key\n").unwrap();
    let r = ws.run(&["verify", pack.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("trusted_keys") && r.stderr.contains("council.pub"),
        "{}",
        r.stderr
    );

    std::fs::write(ws.dir.path().join("council.pub"), format!("{key}\n")).unwrap();

    let not_zip = ws.dir.path().join("not.zip");
    std::fs::write(&not_zip, b"this is not a zip").unwrap();
    let r = ws.run(&["verify", not_zip.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("not.zip") && r.stdout.contains("not a readable ZIP"),
        "{}",
        r.stdout
    );
}

/// Re-lists every file of a pack in its manifest and `SHA256SUMS` and re-signs it with `key`,
/// as anyone holding a key could after altering it.
fn resign(files: &mut BTreeMap<String, Vec<u8>>, key: &ballotwatch_evidence::PackKey) {
    use ballotwatch_core::sha256_hex;
    use ballotwatch_evidence::manifest::{names, sha256sums};
    files.insert(
        names::PUBLIC_KEY.into(),
        format!("{}\n", key.public_hex()).into_bytes(),
    );
    let mut m: ballotwatch_evidence::Manifest =
        serde_json::from_slice(&files[names::MANIFEST]).unwrap();
    m.public_key.hex = key.public_hex();
    for f in &mut m.files {
        let bytes = &files[&f.path];
        f.sha256 = sha256_hex(bytes);
        f.size = bytes.len() as u64;
    }
    let manifest = serde_json::to_vec_pretty(&m).unwrap();
    let sig = format!("{}\n", key.sign_hex(&manifest));
    let (ms, ss) = (sha256_hex(&manifest), sha256_hex(sig.as_bytes()));
    let sums = sha256sums(
        m.files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .chain([
                (names::MANIFEST, ms.as_str()),
                (names::SIGNATURE, ss.as_str()),
            ]),
    );
    files.insert(names::MANIFEST.into(), manifest);
    files.insert(names::SIGNATURE.into(), sig.into_bytes());
    files.insert(names::SUMS.into(), sums.into_bytes());
}

/// Copies the pack at `pack` to `out` with `report.html` altered and everything re-listed and
/// re-signed with a new key, as a forger would; returns the forger's public key.
fn resign_altered(pack: &Path, out: &Path, dir: &Path) -> String {
    use ballotwatch_evidence::manifest::names;
    let key = ballotwatch_evidence::PackKey::load_or_create(&dir.join("forger.key")).unwrap();
    let mut files = unzip_all(pack);
    files.insert(
        names::REPORT_HTML.into(),
        b"<p>Nothing to see here.</p>".to_vec(),
    );
    resign(&mut files, &key);
    zip_all(&files, out);
    key.public_hex()
}

/// `ballotwatch verify` with at most `mem_kib` of address space (`ulimit -v`), from `cwd`,
/// with `--config` only when given.
fn verify_limited(
    pack: &Path,
    cwd: &Path,
    config: Option<&Path>,
    mem_kib: u64,
) -> (i32, String, String, Duration) {
    let mut args = vec![env!("CARGO_BIN_EXE_ballotwatch").to_string()];
    if let Some(c) = config {
        args.extend(["--config".to_string(), c.display().to_string()]);
    }
    args.extend(["verify".to_string(), pack.display().to_string()]);
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {mem_kib} && exec \"$@\""))
        .arg("sh")
        .args(&args)
        .current_dir(cwd)
        .env_remove("BALLOTWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn zip_bombs_are_refused_within_the_limits_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 GiB manifest.json of spaces (about 1 MiB deflated) after 1 GiB of zeros nobody
    // listed. Before: both were read into memory (8 GiB allowed) before any check, so under a
    // 768 MiB address-space limit verify died; now the unlisted file is never read, the
    // manifest stops at its 64 MiB cap, and the answer is a problem naming the file.
    let bomb = dir.path().join("bomb.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&bomb).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .large_file(true);
        let chunk = vec![0u8; 1 << 20];
        let spaces = vec![b' '; 1 << 20];
        for (name, fill) in [("media/a.bin", &chunk), ("manifest.json", &spaces)] {
            z.start_file(name, opts).unwrap();
            for _ in 0..1024 {
                z.write_all(fill).unwrap();
            }
        }
        z.finish().unwrap();
    }
    assert!(std::fs::metadata(&bomb).unwrap().len() < 16 << 20);
    let (code, stdout, stderr, took) = verify_limited(&bomb, dir.path(), None, 768 * 1024);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("manifest.json") && stdout.contains("larger than"),
        "{stdout}"
    );
    assert!(took < Duration::from_secs(120), "{took:?}");

    // Many entries: over [limits] verify_max_entries of the config given, refused before any
    // is read; without a config the default (100,000) applies and the check goes on.
    let many = dir.path().join("many.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&many).unwrap());
        for i in 0..3_000 {
            z.start_file(
                format!("captures/{i}.txt"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(b"x").unwrap();
        }
        z.finish().unwrap();
    }
    let config = dir.path().join("limits.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[limits]\nverify_max_entries = 1000\nverify_max_unpacked = \"1 MiB\"\n",
    )
    .unwrap();
    let (code, stdout, _, _) = verify_limited(&many, dir.path(), Some(&config), 768 * 1024);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("many.zip")
            && stdout.contains("3000 files")
            && stdout.contains("verify_max_entries"),
        "{stdout}"
    );
    let (code, stdout, stderr, _) = verify_limited(&many, dir.path(), None, 768 * 1024);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("manifest.json") && stdout.contains("missing"),
        "{stdout}"
    );
    // A config asked for but absent is a usage error naming it.
    let (code, _, stderr, _) = verify_limited(
        &many,
        dir.path(),
        Some(&dir.path().join("nope.toml")),
        768 * 1024,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

fn wacz_validate(file: &Path) -> common::Run {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wacz/.venv/bin/wacz");
    common::Run::from(
        Command::new(bin)
            .args(["validate", "-f"])
            .arg(file)
            .output()
            .unwrap(),
    )
}

/// The captures as a WACZ (alone, and inside the pack) pass the independent validator
/// (py-wacz's `wacz validate`), and the pack carries the incident's chain of custody: a status
/// change, a view and an earlier export, with who and when; an edited custody.json fails
/// `verify`, which names it; `verify` itself is recorded. Needs no Chromium (no screenshots).
#[test]
fn a_wacz_export_validates_and_the_pack_carries_the_chain_of_custody() {
    if !common::tools::needs(&[Tool::Wacz, Tool::Models]) {
        return;
    }
    let started = Instant::now();
    let (ws, bad, _good) = ingested();
    let id = incident(&ws, &bad);
    let store = Store::open(&ws.data_dir()).unwrap();
    store
        .set_incident_status(
            id,
            ballotwatch_core::IncidentStatus::Escalated,
            "comms-officer",
        )
        .unwrap();
    // What the web UI's incident page records when someone opens it.
    store
        .audit(
            "election-manager",
            "incident.view",
            &serde_json::json!({ "incident_id": id }),
        )
        .unwrap();

    // The WACZ alone.
    let wacz = ws.dir.path().join("incident.wacz");
    let r = ws.run(&[
        "export",
        "--incident",
        &id.to_string(),
        "--format",
        "wacz",
        "--out",
        wacz.to_str().unwrap(),
        "--actor",
        "returning-officer",
    ]);
    assert_eq!(r.code, 0, "export failed:\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&sha256_file(&wacz)), "{}", r.stdout);
    let v = wacz_validate(&wacz);
    assert_eq!(v.code, 0, "wacz validate:\n{}\n{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("Validation succeeded"),
        "{}\n{}",
        v.stdout,
        v.stderr
    );
    let files = unzip_all(&wacz);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "archive/data.warc.gz",
            "datapackage-digest.json",
            "datapackage.json",
            "indexes/index.cdx",
            "pages/pages.jsonl"
        ]
    );
    let index = String::from_utf8(files["indexes/index.cdx"].clone()).unwrap();
    let line = index.lines().next().unwrap();
    assert!(line.starts_with("1,0,0,127:"), "{index}");
    assert!(line.contains("/feed.xml 20"), "{index}");
    let pages = String::from_utf8(files["pages/pages.jsonl"].clone()).unwrap();
    assert_eq!(
        pages.lines().count(),
        2,
        "a header and the incident's item:\n{pages}"
    );
    let page: serde_json::Value = serde_json::from_str(pages.lines().nth(1).unwrap()).unwrap();
    assert_eq!(page["id"], bad.as_str());
    assert!(
        page["url"].as_str().unwrap().ends_with("/feed.xml"),
        "{page}"
    );
    // The validator is not a formality: a page list changed after export fails it.
    let mut altered = files.clone();
    altered
        .get_mut("pages/pages.jsonl")
        .unwrap()
        .extend_from_slice(b"{\"id\": \"x\", \"url\": \"https://elsewhere.example/\"}\n");
    let altered_wacz = ws.dir.path().join("altered.wacz");
    zip_all(&altered, &altered_wacz);
    let v = wacz_validate(&altered_wacz);
    assert_ne!(v.code, 0, "an altered WACZ passed:\n{}", v.stdout);
    println!(
        "WACZ of incident {id}: {} bytes",
        std::fs::metadata(&wacz).unwrap().len()
    );

    // A format that does not exist is a usage error.
    let r = ws.run(&[
        "export",
        "--incident",
        &id.to_string(),
        "--format",
        "warc",
        "--out",
        wacz.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("--format") && r.stderr.contains("pack") && r.stderr.contains("wacz"),
        "{}",
        r.stderr
    );

    // The pack: its archive.wacz validates too, and custody.json lists what was done.
    let pack = ws.dir.path().join("incident.zip");
    let r = ws.run(&[
        "export",
        "--incident",
        &id.to_string(),
        "--out",
        pack.to_str().unwrap(),
        "--actor",
        "returning-officer",
        "--no-screenshots",
    ]);
    assert_eq!(r.code, 0, "export failed:\n{}\n{}", r.stdout, r.stderr);
    let key = signing_public_key(&ws.config());
    let v = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(v.code, 0, "verify:\n{}\n{}", v.stdout, v.stderr);
    let files = unzip_all(&pack);
    let inner = ws.dir.path().join("inner.wacz");
    std::fs::write(&inner, &files["archive.wacz"]).unwrap();
    let v = wacz_validate(&inner);
    assert_eq!(v.code, 0, "wacz validate:\n{}\n{}", v.stdout, v.stderr);
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"archive.wacz") && listed.contains(&"custody.json"),
        "{listed:?}"
    );
    let custody: serde_json::Value = serde_json::from_slice(&files["custody.json"]).unwrap();
    let entries: Vec<(String, String, String)> = custody["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |actor: &str, action: &str| {
        entries
            .iter()
            .any(|(a, act, at)| a == actor && act == action && at.ends_with('Z'))
    };
    assert!(has("comms-officer", "incident.status"), "{entries:?}");
    assert!(has("election-manager", "incident.view"), "{entries:?}");
    assert!(has("returning-officer", "evidence.export"), "{entries:?}");
    let html = String::from_utf8(files["report.html"].clone()).unwrap();
    assert!(
        html.contains(&format!(
            "<td>comms-officer</td><td>changed the status of incident {id} from new to escalated</td>"
        )),
        "the report's chain of custody in plain words"
    );

    // Someone deletes the status change from custody.json: verify fails and names the file.
    let mut tampered_files = files.clone();
    let mut c = custody.clone();
    c["entries"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["action"] != "incident.status");
    tampered_files.insert(
        "custody.json".into(),
        serde_json::to_vec_pretty(&c).unwrap(),
    );
    let tampered = ws.dir.path().join("tampered.zip");
    zip_all(&tampered_files, &tampered);
    let r = ws.run(&["verify", tampered.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("custody.json"), "{}", r.stdout);

    // Both checks were recorded, and so show in the next pack's chain of custody.
    let verifies: Vec<_> = store
        .audit_entries(50)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "evidence.verify")
        .collect();
    assert_eq!(verifies.len(), 2, "{verifies:?}");
    assert!(verifies[0].detail["outcome"]
        .as_str()
        .unwrap()
        .starts_with("NOT INTACT"));
    assert_eq!(verifies[1].detail["incidents"], serde_json::json!([id]));
    assert_eq!(verifies[1].detail["sha256"], sha256_file(&pack));
    assert_eq!(
        verifies[1].detail["signer_fingerprint"],
        ballotwatch_evidence::key::fingerprint(&key).unwrap()
    );
    let (log, _) = store.custody_log(&[id], &[], 100).unwrap();
    assert!(log.iter().any(|e| e.action == "evidence.verify"));
    println!("e2e took {:?}", started.elapsed());
}

/// `openssl ts -verify` of a pack's token file (a DER `TimeStampResp`) for the hash `digest`
/// (hex), trusting only `root`: whether it says OK.
fn openssl_ts_verify(token: &Path, digest: &str, root: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-in"])
        .arg(token)
        .args(["-digest", digest, "-CAfile"])
        .arg(root)
        .output()
        .expect("run openssl ts -verify (Debian: openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification: OK"),
        text,
    )
}

#[test]
fn trusted_timestamps_travel_in_the_pack_and_verify_offline_as_openssl_agrees() {
    use ballotwatch_evidence::manifest::names;
    let started = Instant::now();
    let tsa = tsa::tsa();
    let base = noticeboard();
    let ws = Workspace::new(&format!(
        "{IDENTITY}\n{}\n[evidence]\nscreenshots = false\ntsa_urls = [\"{}\"]\n\
         tsa_roots = [\"{}\"]\n",
        rss_source("Riverside Noticeboard", &format!("{base}/feed.xml")),
        tsa.url("rsa"),
        tsa.root_pem().display()
    ));
    // Ingest: every capture joins the capture log, and the log's head is timestamped.
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "ingest failed:\n{}\n{}", r.stdout, r.stderr);
    let store = Store::open(&ws.data_dir()).unwrap();
    let items = store.latest_items_after(0, 100).unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    let ids: Vec<String> = items.iter().map(|s| s.item.id.clone()).collect();
    let flagged = items
        .iter()
        .find(|s| s.result.as_ref().is_some_and(|r| r.flagged))
        .expect("the lookalike post is flagged");
    let segment = store
        .capture_log_segment(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    assert!(
        !segment.tokens.is_empty(),
        "ingest --once timestamps the head"
    );
    let inc = incident(&ws, &flagged.item.id);
    let other = ids.iter().find(|i| **i != flagged.item.id).unwrap();

    // Export: the proof is in timestamps/, listed and signed.
    let pack = ws.dir.path().join("pack.zip");
    let r = ws.run(&[
        "export",
        "--incident",
        &inc.to_string(),
        "--item",
        other,
        "--out",
        pack.to_str().unwrap(),
        "--no-screenshots",
    ]);
    assert_eq!(r.code, 0, "export failed:\n{}\n{}", r.stdout, r.stderr);
    let files = unzip_all(&pack);
    let manifest: ballotwatch_evidence::Manifest =
        serde_json::from_slice(&files[names::MANIFEST]).unwrap();
    let info = manifest
        .timestamps
        .clone()
        .expect("the pack has timestamps");
    assert!(!info.tokens.is_empty());
    assert_eq!(info.roots, [names::root(1)]);
    let sums = String::from_utf8(files[names::SUMS].clone()).unwrap();
    for f in info.tokens.iter().chain([&info.chain]).chain(&info.roots) {
        assert!(manifest.files.iter().any(|e| &e.path == f), "{f} listed");
        assert!(sums.contains(&format!("  {f}\n")), "{f} in SHA256SUMS");
    }
    for item in &manifest.items {
        assert!(
            !item.capture_log.is_empty(),
            "item {} names its log entries",
            item.item.id
        );
    }
    let stamp_bytes: usize = files
        .iter()
        .filter(|(k, _)| k.starts_with(names::TIMESTAMPS_DIR))
        .map(|(_, b)| b.len())
        .sum();
    eprintln!(
        "timestamps/ holds {stamp_bytes} bytes for {} items ({} chain entries: chain.json {} \
         bytes; {} token(s): {:?} bytes; root {} bytes)",
        manifest.items.len(),
        segment.entries.len(),
        files[&info.chain].len(),
        info.tokens.len(),
        info.tokens
            .iter()
            .map(|t| files[t].len())
            .collect::<Vec<_>>(),
        files[&names::root(1)].len()
    );
    let report = String::from_utf8(files[names::REPORT_HTML].clone()).unwrap();
    assert!(
        report.contains("Trusted timestamps") && report.contains("Ballotwatch Test TSA rsa"),
        "the report names the TSA"
    );

    // Verify with this deployment's config: the configured roots.
    let key = String::from_utf8(files[names::PUBLIC_KEY].clone()).unwrap();
    let key = key.trim();
    let r = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", key]);
    assert_eq!(r.code, 0, "verify:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("in this config's [evidence] tsa_roots"),
        "{}",
        r.stdout
    );
    for id in &ids {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("item {id}: ")))
            .unwrap_or_else(|| panic!("no line for item {id}:\n{}", r.stdout));
        assert!(
            line.contains("captured no later than 20")
                && line.contains("(TSA ")
                && line.contains("Ballotwatch Test TSA rsa"),
            "{line}"
        );
    }

    // Verify without a config: the roots in the pack, said plainly, with fingerprints that
    // match openssl's.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ballotwatch"))
        .args(["verify", pack.to_str().unwrap(), "--public-key", key])
        .current_dir(elsewhere.path())
        .env_remove("BALLOTWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("IN THE PACK"), "{stdout}");
    let fp = tsa::openssl(
        &tsa.dir,
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            "root.pem",
        ],
    );
    let fp = String::from_utf8_lossy(&fp.stdout)
        .rsplit('=')
        .next()
        .unwrap()
        .trim()
        .replace(':', "")
        .to_ascii_lowercase();
    assert!(
        stdout.contains(&format!("SHA-256 {fp}")),
        "{fp} in\n{stdout}"
    );
    assert_eq!(stdout.matches("captured no later than").count(), 2);

    // openssl agrees on every token, from the pack alone: for the chain's head, yes; for any
    // other hash, no.
    let chain: serde_json::Value = serde_json::from_slice(&files[&info.chain]).unwrap();
    let head = chain["entries"].as_array().unwrap().last().unwrap()["head"]
        .as_str()
        .unwrap()
        .to_string();
    let root = elsewhere.path().join("root.pem");
    std::fs::write(&root, &files[&names::root(1)]).unwrap();
    for t in &info.tokens {
        let tsr = elsewhere.path().join("token.tsr");
        std::fs::write(&tsr, &files[t]).unwrap();
        let (ok, text) = openssl_ts_verify(&tsr, &head, &root);
        assert!(ok, "openssl ts -verify {t} for {head}: {text}");
        let (ok, _) = openssl_ts_verify(&tsr, &"00".repeat(32), &root);
        assert!(!ok, "openssl must reject {t} for another hash");
    }

    // An edited chain, re-signed with the deployment's own key: broken at that entry, naming
    // the item.
    let deploy_key =
        ballotwatch_evidence::PackKey::load_or_create(&ws.data_dir().join("evidence.key")).unwrap();
    assert_eq!(deploy_key.public_hex(), key);
    let entries = chain["entries"].as_array().unwrap();
    let (k, edited) = entries
        .iter()
        .enumerate()
        .find(|(_, e)| e["item_id"] == flagged.item.id.as_str())
        .unwrap();
    let seq = edited["seq"].as_i64().unwrap();
    let mut bad_chain = chain.clone();
    bad_chain["entries"][k]["sha256"] = serde_json::json!("ab".repeat(32));
    let mut altered = files.clone();
    altered.insert(
        info.chain.clone(),
        serde_json::to_vec_pretty(&bad_chain).unwrap(),
    );
    resign(&mut altered, &deploy_key);
    let bad = ws.dir.path().join("edited-chain.zip");
    zip_all(&altered, &bad);
    let r = ws.run(&["verify", bad.to_str().unwrap(), "--public-key", key]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "timestamps/chain.json: chain broken at entry {seq} (item {})",
            flagged.item.id
        )),
        "{}",
        r.stdout
    );

    // A genuine token from the same TSA, but for a different hash, re-signed in: rejected,
    // naming the token.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let other_hash = [0x5au8; 32];
    let stamp = rt
        .block_on(ballotwatch_evidence::timestamp::request_timestamp(
            &reqwest::Client::new(),
            &tsa.url("rsa"),
            &other_hash,
            Duration::from_secs(20),
        ))
        .unwrap();
    let t = &info.tokens[0];
    let mut altered = files.clone();
    altered.insert(
        t.clone(),
        ballotwatch_evidence::timestamp::pack::token_response(&stamp.token).unwrap(),
    );
    resign(&mut altered, &deploy_key);
    let bad = ws.dir.path().join("other-token.zip");
    zip_all(&altered, &bad);
    let r = ws.run(&["verify", bad.to_str().unwrap(), "--public-key", key]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{t}: token ")) && r.stdout.contains("for a different hash"),
        "{}",
        r.stdout
    );
    eprintln!("trusted timestamps end to end: {:?}", started.elapsed());
}
