//! Keys of a Certificate Transparency source (`kind = "ct"`) and their rules.

use std::sync::OnceLock;
use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use super::sth::LogKey;
use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::Source;

/// Most entries asked for in one `get-entries` request (logs cap it lower themselves).
pub const MAX_BATCH: u64 = 1000;

/// Keys of a Certificate Transparency source (`kind = "ct"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtConfig {
    /// The RFC 6962 logs followed.
    #[serde(default)]
    pub logs: Vec<LogConfig>,
    /// On the first poll of a log, start this far back (e.g. `"7d"`) instead of at the current
    /// head.
    #[serde(default, with = "humantime_serde")]
    pub backfill: Option<Duration>,
    /// Entries asked for per `get-entries` request (1–1000, default 256).
    #[serde(default = "default_batch")]
    pub batch: u64,
    /// Point each certificate's item at the lookalike name's home page (`https://NAME/`)
    /// instead of the crt.sh look-up (kept in the item's links), so the screenshot task
    /// (`[evidence] screenshots`) captures the page and its rendered HTML through the SSRF guard
    /// once the item is flagged. Off by default: visiting a new phishing site from the
    /// council's network tells its owner that it has been noticed.
    #[serde(default)]
    pub home_page: bool,
}

/// One CT log, as in the CT log lists (`log_list.json` v3): an RFC 6962 log (in the list's
/// `logs`) by its `url`, a static-ct-api "tiled" log (in the list's `tiled_logs`) by its
/// `monitoring_url` and `submission_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// An RFC 6962 log's base URL (the part before `/ct/v1/`).
    #[serde(default)]
    pub url: Option<Url>,
    /// A tiled log's monitoring prefix (where `checkpoint` and `tile/` are).
    #[serde(default)]
    pub monitoring_url: Option<Url>,
    /// A tiled log's submission prefix: its checkpoint origin (without the scheme and trailing
    /// slash) names its signature. Defaults to `monitoring_url`.
    #[serde(default)]
    pub submission_url: Option<Url>,
    /// The log's public key: base64 DER `SubjectPublicKeyInfo` (the log list's `key`).
    pub public_key: String,
    /// A name for messages, items and the cursor (the log list's `description`).
    pub name: String,
}

fn default_batch() -> u64 {
    256
}

/// The URL shown for a source with no logs (the config check reports that).
pub(super) fn no_log() -> &'static Url {
    static URL: OnceLock<Url> = OnceLock::new();
    URL.get_or_init(|| fixed_url("https://ct.invalid/"))
}

impl KindConfig for CtConfig {
    const KIND: &'static str = "ct";
    const URL_KEY: &'static str = "logs";

    fn url(&self) -> &Url {
        self.logs
            .first()
            .and_then(|l| l.url.as_ref().or(l.monitoring_url.as_ref()))
            .unwrap_or_else(|| no_log())
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::CtSource::new(name, self))
    }
}

impl Validate for CtConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.logs.is_empty() {
            problems.add(
                at.key("logs"),
                "a CT source needs at least one log",
                Some(
                    "e.g. logs = [{ url = \"https://ct.googleapis.com/logs/us1/argon2026h1/\", \
                     public_key = \"MFkw…\", name = \"Google Argon 2026h1\" }]"
                        .into(),
                ),
            );
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            problems.add(
                at.key("batch"),
                format!("{} is out of range", self.batch),
                Some(format!("ask for 1 to {MAX_BATCH} entries per request")),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, log) in self.logs.iter().enumerate() {
            let at = at.key("logs").index(i);
            if log.name.trim().is_empty() {
                problems.add(at.key("name"), "must not be empty", None);
            } else if !names.insert(log.name.as_str()) {
                problems.add(
                    at.key("name"),
                    format!("`{}` is used by another log of this source", log.name),
                    Some("give every log a unique name".into()),
                );
            }
            match (&log.url, &log.monitoring_url) {
                (Some(_), Some(_)) => problems.add(
                    at.key("monitoring_url"),
                    "a log has either `url` (RFC 6962) or `monitoring_url` (tiled), not both",
                    Some("copy the one the CT log list gives: `url` for a log in `logs`, `monitoring_url` and `submission_url` for one in `tiled_logs`".into()),
                ),
                (None, None) => problems.add(
                    at.key("url"),
                    "a log needs `url` (an RFC 6962 log) or `monitoring_url` (a static-ct-api tiled log)",
                    Some("copy them from the CT log list: `logs[].url`, or `tiled_logs[].monitoring_url` and `submission_url`".into()),
                ),
                _ => {}
            }
            if log.submission_url.is_some() && log.monitoring_url.is_none() {
                problems.add(
                    at.key("submission_url"),
                    "only a tiled log (with `monitoring_url`) has a `submission_url`",
                    None,
                );
            }
            for (key, url) in [
                ("url", &log.url),
                ("monitoring_url", &log.monitoring_url),
                ("submission_url", &log.submission_url),
            ] {
                let Some(url) = url else { continue };
                if !matches!(url.scheme(), "http" | "https")
                    || url.host_str().is_none_or(str::is_empty)
                {
                    problems.add(
                        at.key(key),
                        format!("`{url}` is not an http or https URL with a host"),
                        None,
                    );
                }
            }
            if let Err(e) = LogKey::from_base64(&log.public_key) {
                problems.add(
                    at.key("public_key"),
                    format!("the key {e}"),
                    Some("copy the log's `key` from the CT log list (base64 DER SubjectPublicKeyInfo)".into()),
                );
            }
        }
    }
}
