//! `ballotwatch export --incident ID... [--item ID...] --out FILE.zip`: writes a signed evidence
//! pack, taking any missing screenshots first, and records the export in the audit log. With
//! `--format wacz`, the captures alone as a WACZ file (`--out FILE.wacz`).

use std::path::Path;

use anyhow::Context;
use ballotwatch_classify::Classifier;
use ballotwatch_evidence::chromium::ShotLimits;
use ballotwatch_evidence::key::key_path;
use ballotwatch_evidence::{DetectorInfo, EvidenceError, ExportJob, ExportSettings};
use ballotwatch_pipeline::Config;

use super::UsageError;

/// What `export` was asked to do.
pub struct ExportArgs<'a> {
    /// `--incident` ids.
    pub incidents: &'a [i64],
    /// `--item` ids.
    pub items: &'a [String],
    /// `--out`.
    pub out: &'a Path,
    /// `--actor`, else `$USER`.
    pub actor: Option<&'a str>,
    /// `--no-screenshots`.
    pub no_screenshots: bool,
    /// `--format wacz`: the WACZ alone instead of the pack.
    pub wacz: bool,
    /// `--include-reporters`: put who reported the items in the pack.
    pub include_reporters: bool,
}

/// Writes the pack; exit 0, or an error (2 for an unknown incident or item, 3 otherwise).
pub fn run(config: &Config, args: &ExportArgs<'_>) -> anyhow::Result<u8> {
    if args.incidents.is_empty() && args.items.is_empty() {
        return Err(
            UsageError("export needs at least one --incident ID or --item ID".into()).into(),
        );
    }
    let actor = args
        .actor
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    let store = super::open_item_store(config)?;
    let store = &*store;
    let job = ExportJob {
        incidents: args.incidents,
        items: args.items,
        actor: &actor,
        skip_screenshots: args.no_screenshots,
        include_reporters: args.include_reporters,
    };
    let usage_or = |e: EvidenceError, what: &str| -> anyhow::Error {
        match e {
            EvidenceError::NotFound(_) | EvidenceError::InvalidRequest(_) => {
                UsageError(e.to_string()).into()
            }
            e => anyhow::Error::new(e)
                .context(format!("cannot export the {what} {}", args.out.display())),
        }
    };
    if args.wacz {
        let w = ballotwatch_evidence::export_wacz(store, &settings(config, None)?, &job, args.out)
            .map_err(|e| usage_or(e, "WACZ"))?;
        println!(
            "wrote {} (WACZ {}; {} bytes; {} item(s), {} capture(s), {} page(s))\nsha256 {}\nopen it in ReplayWeb.page (https://replayweb.page) to replay the captured pages; it is not signed: the signed evidence is the pack (`export` without --format), which holds the same WACZ as {}",
            args.out.display(),
            ballotwatch_evidence::wacz::WACZ_VERSION,
            w.size,
            w.items,
            w.captures,
            w.pages,
            w.sha256,
            ballotwatch_evidence::manifest::names::WACZ,
        );
        return Ok(0);
    }
    let summary = ballotwatch_evidence::export(store, &settings(config, None)?, &job, args.out)
        .map_err(|e| usage_or(e, "pack"))?;
    println!(
        "wrote {} ({} files, {} bytes; {} item(s), {} capture(s))\nsha256 {}\nsigned by Ed25519 key {}\nsigning key fingerprint {} (give it, or the key, to whoever checks the pack: `verify` names the signer by it)",
        args.out.display(),
        summary.files,
        summary.size,
        summary.items,
        summary.captures,
        summary.sha256,
        summary.public_key,
        summary.key_fingerprint
    );
    if let Some(why) = &summary.pdf_not_rendered {
        println!("report.pdf not included: {why}");
    }
    if let Some(note) = &summary.timestamp_note {
        println!("{note}");
    }
    Ok(0)
}

/// The deployment's export settings, from its config: what `export` and the web UI's export
/// button both use. `classifier` is the one already loaded (`serve`), else the detectors are
/// loaded here to list them.
pub fn settings(
    config: &Config,
    classifier: Option<&Classifier>,
) -> anyhow::Result<ExportSettings> {
    Ok(ExportSettings {
        key_file: key_path(config.evidence.signing_key.as_deref(), &config.data_dir),
        screenshots: config.evidence.screenshots,
        allow_private_addresses: config.ingest.allow_private_addresses,
        shot_limits: ShotLimits {
            timeout: config.evidence.screenshot_timeout,
            ..ShotLimits::default()
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        user_agent: user_agent(config)?,
        detectors: match classifier {
            Some(c) => detector_infos(c),
            None => detectors(config),
        },
        timestamps: config.evidence.timestamps_enabled(),
        tsa_urls: config.evidence.tsa_urls.clone(),
        tsa_roots: config.evidence.tsa_roots.clone(),
        work_dir: config.data_dir.clone(),
    })
}

/// The User-Agent the fetcher sends, for the reconstructed WARC request records.
fn user_agent(config: &Config) -> anyhow::Result<String> {
    let fetcher = ballotwatch_ingest::Fetcher::new(&config.ingest, env!("CARGO_PKG_VERSION"))
        .context("cannot set up the fetcher to learn its User-Agent")?;
    Ok(fetcher.user_agent().to_string())
}

/// The deployment's detectors with versions and model hashes. A detector set-up failure (a
/// missing model) does not stop an export: the pack records the failure instead.
fn detectors(config: &Config) -> Vec<DetectorInfo> {
    match Classifier::from_config(config.classify()) {
        Ok(c) => detector_infos(&c),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the detectors for the manifest");
            vec![DetectorInfo {
                name: "unavailable".into(),
                version: format!("the detectors could not be loaded at export time: {e}"),
                model_sha256: None,
            }]
        }
    }
}

/// The classifier's detectors as the manifest lists them.
fn detector_infos(classifier: &Classifier) -> Vec<DetectorInfo> {
    classifier
        .detectors()
        .into_iter()
        .map(|(name, version)| DetectorInfo {
            name: name.to_string(),
            model_sha256: model_sha256(&version),
            version,
        })
        .collect()
}

/// The `sha256:<64 hex>` a model-backed detector puts in its version.
fn model_sha256(version: &str) -> Option<String> {
    let i = version.find("sha256:")? + "sha256:".len();
    let hex = version.get(i..i + 64)?;
    hex.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::model_sha256;

    #[test]
    fn model_hashes_are_read_from_detector_versions() {
        let h = "ab".repeat(32);
        assert_eq!(
            model_sha256(&format!("1 (12 narratives; all-MiniLM-L6-v2 sha256:{h})")),
            Some(h)
        );
        assert_eq!(model_sha256("domains-1"), None);
        assert_eq!(model_sha256("sha256:xyz"), None);
    }
}
