//! `ballotwatch verify FILE.zip [--public-key HEX]`: checks an evidence pack. Exit 0 intact,
//! 1 altered or incomplete (naming the first problem and its file), 2 bad usage.

use std::path::Path;

use super::UsageError;

/// Verifies the pack and prints the outcome.
pub fn run(file: &Path, public_key: Option<&str>) -> anyhow::Result<u8> {
    let outcome = ballotwatch_evidence::verify_file(file, public_key)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?;
    match outcome {
        Ok(v) => {
            let m = &v.manifest;
            println!(
                "intact: {} — {} files, every hash, the WARC records and the signature check out",
                file.display(),
                v.files
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
                "signed by Ed25519 key {}{}",
                m.public_key.hex,
                if public_key.is_some() {
                    " (the expected key)"
                } else {
                    " (compare it with the key Ballotwatch shows, or pass --public-key)"
                }
            );
            Ok(0)
        }
        Err(problem) => {
            println!("NOT INTACT: {} — {problem}", file.display());
            eprintln!(
                "error: {} is altered or incomplete: {problem}",
                file.display()
            );
            Ok(1)
        }
    }
}
