//! A real RFC 3161 Time-Stamping Authority on loopback, for tests: `openssl ts -reply` behind a
//! tiny HTTP server.
//!
//! Everything is made at test time in a temporary directory (so there are no fixture files and
//! no licence question): a test root CA (RSA 2048), a second root with the *same name* and
//! another key (an impostor the verifier must reject), and three TSA certificates issued by the
//! first root, with `extendedKeyUsage = critical, timeStamping`: RSA 2048, ECDSA P-256 and
//! ECDSA P-384. One `openssl ts` config has a section per TSA key; the HTTP path picks it:
//! `POST /rsa`, `/p256`, `/p384`. `/html` (with any query) answers 200 with a web page (a TSA URL that is not one, or a page to
//! screenshot).
//!
//! The server is started once per test binary ([`tsa`]) on a free 127.0.0.1 port, and lives as
//! long as the test process; its directory is under `CARGO_TARGET_TMPDIR` and named after the
//! process id, and directories of finished runs are removed when the next run starts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The TSA profiles the server offers (the HTTP path and the certificate's key type).
pub const PROFILES: [&str; 3] = ["rsa", "p256", "p384"];

/// The running test TSA.
pub struct TestTsa {
    /// Where its keys, certificates and config are.
    pub dir: PathBuf,
    addr: SocketAddr,
}

impl TestTsa {
    /// The URL of one profile, e.g. `http://127.0.0.1:PORT/rsa`.
    pub fn url(&self, profile: &str) -> String {
        format!("http://{}/{profile}", self.addr)
    }

    /// The trusted root (PEM).
    pub fn root_pem(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// A root with the same subject as [`Self::root_pem`] and another key.
    pub fn impostor_root_pem(&self) -> PathBuf {
        self.dir.join("impostor-root.pem")
    }

    /// The TSA certificate of one profile (PEM).
    pub fn signer_pem(&self, profile: &str) -> PathBuf {
        self.dir.join(format!("tsa-{profile}.pem"))
    }
}

/// The test TSA, started on first use.
pub fn tsa() -> &'static TestTsa {
    static TSA: OnceLock<TestTsa> = OnceLock::new();
    TSA.get_or_init(start)
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed for the timestamp tests (Debian: openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn start() -> TestTsa {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    remove_finished_runs(&base);
    let dir = base.join(format!("test-tsa-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test TSA's directory");
    make_pki(&dir);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("the port");
    let serve_dir = dir.clone();
    std::thread::Builder::new()
        .name("test-tsa".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = serve_dir.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir);
                });
            }
        })
        .expect("start the test TSA thread");
    TestTsa { dir, addr }
}

fn remove_finished_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("test-tsa-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

const OPENSSL_CNF: &str = r#"
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = tsa_rsa
"#;

fn tsa_section(dir: &Path, profile: &str) -> String {
    let dir = dir.display();
    format!(
        r#"
[ tsa_{profile} ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa-{profile}.pem
certs = $dir/tsa-{profile}.pem
signer_key = $dir/tsa-{profile}.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = {digits}
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"#,
        // P-256 tokens carry the older ESS signingCertificate (SHA-1), the others V2 (SHA-256).
        ess = if profile == "p256" { "sha1" } else { "sha256" },
        // P-384 tokens state milliseconds (`YYYYMMDDhhmmss.fffZ`), as several public TSAs do.
        digits = if profile == "p384" { 3 } else { 0 }
    )
}

fn make_pki(dir: &Path) {
    let mut cnf = OPENSSL_CNF.to_string();
    for profile in PROFILES {
        cnf.push_str(&tsa_section(dir, profile));
    }
    std::fs::write(dir.join("openssl.cnf"), cnf).expect("write openssl.cnf");
    std::fs::write(dir.join("serial"), "01\n").expect("write the serial file");
    let root_subject = "/CN=Ballotwatch Test TSA Root";
    for (name, key) in [("root", "root.key"), ("impostor-root", "impostor-root.key")] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-config",
                "openssl.cnf",
                "-extensions",
                "v3_ca",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                &format!("{name}.pem"),
                "-days",
                "3",
                "-subj",
                root_subject,
            ],
        );
    }
    for (serial, profile) in PROFILES.iter().enumerate() {
        let newkey: &[&str] = match *profile {
            "rsa" => &["-newkey", "rsa:2048"],
            "p256" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        };
        let key = format!("tsa-{profile}.key");
        let csr = format!("tsa-{profile}.csr");
        let subject = format!("/O=Ballotwatch tests/CN=Ballotwatch Test TSA {profile}");
        let mut args = vec!["req", "-new", "-config", "openssl.cnf", "-nodes"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                &(serial + 2).to_string(),
                "-days",
                "2",
                "-extfile",
                "openssl.cnf",
                "-extensions",
                "tsa_ext",
                "-out",
                &format!("tsa-{profile}.pem"),
            ],
        );
    }
}

/// One HTTP/1.1 exchange: a POST whose body is a TimeStampReq, answered by `openssl ts -reply`.
fn serve(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    static OPENSSL: Mutex<()> = Mutex::new(());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    if path.split('?').next() == Some("html") {
        return respond(&mut out, "200 OK", "text/html", b"<html>Hello</html>");
    }
    if !PROFILES.contains(&path.as_str()) {
        return respond(&mut out, "404 Not Found", "text/plain", b"no such TSA");
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let query = dir.join(format!("query-{n}.tsq"));
    let reply = dir.join(format!("reply-{n}.tsr"));
    std::fs::write(&query, &body)?;
    let status = {
        // `openssl ts -reply` bumps the serial file: one at a time.
        let _guard = OPENSSL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Command::new("openssl")
            .args(["ts", "-reply", "-config", "openssl.cnf", "-section"])
            .arg(format!("tsa_{path}"))
            .arg("-queryfile")
            .arg(&query)
            .arg("-out")
            .arg(&reply)
            .current_dir(dir)
            .output()?
    };
    if !status.status.success() {
        let message = String::from_utf8_lossy(&status.stderr).into_owned();
        return respond(
            &mut out,
            "500 Internal Server Error",
            "text/plain",
            message.as_bytes(),
        );
    }
    let der = std::fs::read(&reply)?;
    respond(&mut out, "200 OK", "application/timestamp-reply", &der)
}

fn respond(out: &mut TcpStream, status: &str, mime: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}
