//! `ballotwatch verify FILE.zip [--public-key HEX]`: checks an evidence pack. Exit 0 intact and
//! signed by a trusted key, 1 altered or incomplete (naming the first problem and its file) or
//! signed by a key other than the trusted ones, 2 bad usage, 4 intact as signed but by a key
//! nobody said to trust (`UNVERIFIED SIGNER <fingerprint>`).
//!
//! The trusted keys are `--public-key`, else the config's `[evidence] trusted_keys`. The limits
//! are the config's `[limits]` (`verify_max_entries`, `verify_max_unpacked`), or their defaults
//! when verify runs without a config file.
//!
//! Run with a deployment's config whose store exists, the check is recorded in its audit log
//! (`evidence.verify`: who, the pack's SHA-256, its signer, the outcome, and its incidents and
//! items when the deployment's own key signed it), so it shows in the chain of custody of the
//! next pack of those incidents.

use std::path::Path;

use ballotwatch_evidence::timestamp::pack::{RootsUsed, TimestampCheck};
use ballotwatch_evidence::timestamp::TrustRoots;
use ballotwatch_evidence::{key, Problem, Verified, VerifyLimits, VerifyOptions};
use ballotwatch_pipeline::Config;
use sha2::Digest;

use super::UsageError;

/// Exit code of an intact pack whose signer is not a trusted key.
pub const UNVERIFIED_SIGNER: u8 = 4;

/// The trusted keys and limits from `--public-key` and the config.
fn options(public_key: Option<&str>, config: Option<&Config>) -> anyhow::Result<VerifyOptions> {
    let limits = config.map_or_else(VerifyLimits::default, |c| {
        VerifyLimits::from_config(&c.limits)
    });
    let trusted_keys = match (public_key, config) {
        (Some(k), _) => {
            if !key::is_public_hex(k) {
                return Err(UsageError(format!(
                    "--public-key {k:?} is not an Ed25519 public key: expected 64 hex digits \
                     (what `export` prints after \"signed by Ed25519 key\")"
                ))
                .into());
            }
            vec![k.trim().to_ascii_lowercase()]
        }
        (None, Some(c)) => c
            .evidence
            .trusted_keys
            .iter()
            .map(|p| {
                key::read_public_key_file(p)
                    .map_err(|e| UsageError(format!("[evidence] trusted_keys: {e}")))
            })
            .collect::<Result<_, _>>()?,
        (None, None) => Vec::new(),
    };
    let tsa_roots = match config {
        Some(c) if !c.evidence.tsa_roots.is_empty() => Some(
            TrustRoots::from_pem_files(&c.evidence.tsa_roots)
                .map_err(|e| UsageError(format!("[evidence] tsa_roots: {e}")))?,
        ),
        _ => None,
    };
    Ok(VerifyOptions {
        trusted_keys,
        limits,
        tsa_roots,
    })
}

/// Verifies the pack and prints the outcome.
pub fn run(file: &Path, public_key: Option<&str>, config: Option<&Config>) -> anyhow::Result<u8> {
    let options = options(public_key, config)?;
    let outcome = ballotwatch_evidence::verify_file(file, &options)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?;
    if let Some(config) = config {
        if let Err(e) = audit(config, file, &outcome) {
            eprintln!("warning: this check could not be recorded in the audit log: {e:#}");
        }
    }
    let v = match outcome {
        Ok(v) => v,
        Err(problem) => {
            println!("NOT INTACT: {} — {problem}", file.display());
            eprintln!(
                "error: {} is altered or incomplete: {problem}",
                file.display()
            );
            return Ok(1);
        }
    };
    let m = &v.manifest;
    let s = &v.signer;
    if !s.trusted {
        println!("UNVERIFIED SIGNER {}", s.fingerprint);
    }
    println!(
        "{}: {} — {} files, every hash, the WARC records and the signature check out{}",
        if s.trusted {
            "intact"
        } else {
            "intact as signed, signer not verified"
        },
        file.display(),
        v.files,
        if s.trusted {
            ""
        } else {
            ", but the key that signed it is not one you trust: whoever altered a pack can \
             re-sign it with a key of their own"
        }
    );
    println!(
        "exported {} by {} with {} {}",
        m.exported_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        m.exported_by,
        m.tool.name,
        m.tool.version
    );
    let incidents: Vec<String> = m
        .incidents
        .iter()
        .map(|i| i.incident.id.to_string())
        .collect();
    println!(
        "incidents: {}; items: {}; captures: {}",
        if incidents.is_empty() {
            "none".to_string()
        } else {
            incidents.join(", ")
        },
        m.items.len(),
        m.captures.len()
    );
    println!(
        "signed by Ed25519 key {} (fingerprint {}){}",
        s.public_key,
        s.fingerprint,
        if s.trusted { " — a trusted key" } else { "" }
    );
    print_timestamps(&v);
    if s.trusted {
        return Ok(0);
    }
    println!(
        "To check the signer, compare the fingerprint with the one the council's Ballotwatch \
         printed when it exported the pack, then run verify with --public-key KEY (or list the \
         key file in [evidence] trusted_keys)."
    );
    eprintln!(
        "warning: {} is intact as signed, but by a key you did not say to trust (fingerprint {})",
        file.display(),
        s.fingerprint
    );
    Ok(UNVERIFIED_SIGNER)
}

/// What the pack's trusted timestamps prove, per item.
fn print_timestamps(v: &Verified) {
    let Some(check) = &v.timestamps else {
        println!("no trusted timestamps in this pack");
        return;
    };
    print_roots(check);
    match &check.head {
        Some((seq, head)) => println!(
            "trusted timestamps: the capture log segment in the pack ({} entries) re-links to \
             its head, entry {seq} ({head}); {} token(s) for it verify",
            check.entries,
            check.tokens.len()
        ),
        None => println!("trusted timestamps: the pack's capture log segment is empty"),
    }
    for t in &check.tokens {
        println!(
            "  {}: {} by {} (signer {}, root {}, serial {})",
            t.file,
            t.verified
                .gen_time
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            t.verified.tsa_name,
            t.verified.signer,
            t.verified.root,
            t.verified.serial
        );
    }
    for (id, stamp) in &check.items {
        println!("item {id}: {stamp}");
        for (_, file, what) in check.unlogged_files.iter().filter(|(i, _, _)| i == id) {
            println!(
                "  {file} ({what}) is not in the capture log: it was taken before Ballotwatch \
                 logged {what} files, so the timestamps do not cover it"
            );
        }
    }
}

/// Where the TSA roots came from, with their fingerprints when they came from the pack.
fn print_roots(check: &TimestampCheck) {
    match &check.roots {
        RootsUsed::Configured(roots) => println!(
            "TSA tokens checked against the {} root certificate(s) in this config's [evidence] \
             tsa_roots",
            roots.len()
        ),
        RootsUsed::Pack(roots) => {
            println!(
                "TSA tokens checked against the root certificate(s) IN THE PACK (no [evidence] \
                 tsa_roots configured here): they prove the time only if these are the TSA's \
                 real roots, so compare each SHA-256 fingerprint with the certificate the TSA \
                 publishes:"
            );
            for (file, r) in roots {
                println!("  {file}: {} SHA-256 {}", r.subject, r.sha256);
            }
        }
    }
}

/// Records the check in the deployment's audit log: the cluster's PostgreSQL, or the embedded
/// store when it exists (verify never creates one).
fn audit(config: &Config, file: &Path, outcome: &Result<Verified, Problem>) -> anyhow::Result<()> {
    if config.cluster.is_none() && !config.data_dir.join(ballotwatch_store::DB_FILE).is_file() {
        return Ok(());
    }
    // A pack's incident and item ids are this deployment's only when its key signed the pack:
    // a pack from elsewhere is recorded, but not in the custody of local incidents that happen
    // to share its ids.
    let key_file = key::key_path(config.evidence.signing_key.as_deref(), &config.data_dir);
    let ours = |v: &Verified| {
        key_file.is_file()
            && ballotwatch_evidence::PackKey::load_or_create(&key_file)
                .is_ok_and(|k| k.public_hex() == v.signer.public_key)
    };
    let (result, signer, incidents, items) = match outcome {
        Ok(v) => {
            let result = if v.signer.trusted {
                "intact, signed by a trusted key".to_string()
            } else {
                format!(
                    "intact as signed by {}, a key not trusted",
                    v.signer.fingerprint
                )
            };
            let (incidents, items) = if ours(v) {
                (
                    v.manifest
                        .incidents
                        .iter()
                        .map(|i| i.incident.id)
                        .collect::<Vec<_>>(),
                    v.manifest
                        .items
                        .iter()
                        .map(|i| i.item.id.clone())
                        .collect::<Vec<_>>(),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            (result, Some(v.signer.fingerprint.clone()), incidents, items)
        }
        Err(p) => (format!("NOT INTACT: {p}"), None, Vec::new(), Vec::new()),
    };
    let sha256 = sha256_of(file)?;
    // The deployment's audit log: the embedded store, or the cluster's PostgreSQL.
    let store = super::open_item_store(config)?;
    store.audit(
        &super::actor_or_user(None),
        "evidence.verify",
        &serde_json::json!({
            "file": file.display().to_string(),
            "sha256": sha256,
            "signer_fingerprint": signer,
            "incidents": incidents,
            "items": items,
            "outcome": result,
        }),
    )?;
    Ok(())
}

/// SHA-256 (hex) of a file, read in chunks.
fn sha256_of(file: &Path) -> anyhow::Result<String> {
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(file)?, &mut h)?;
    Ok(hex::encode(h.finalize()))
}
