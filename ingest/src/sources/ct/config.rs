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
}

/// One CT log, as in the CT log lists (`log_list.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The log's base URL (the part before `/ct/v1/`).
    pub url: Url,
    /// The log's public key: base64 DER `SubjectPublicKeyInfo` (the log list's `key`).
    pub public_key: String,
    /// A name for messages, items and the cursor (the log list's `description`).
    pub name: String,
}

fn default_batch() -> u64 {
    256
}

/// The URL shown for a source with no logs (the config check reports that).
fn no_log() -> &'static Url {
    static URL: OnceLock<Url> = OnceLock::new();
    URL.get_or_init(|| fixed_url("https://ct.invalid/"))
}

impl KindConfig for CtConfig {
    const KIND: &'static str = "ct";
    const URL_KEY: &'static str = "logs";

    fn url(&self) -> &Url {
        match self.logs.first() {
            Some(l) => &l.url,
            None => no_log(),
        }
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
            if !matches!(log.url.scheme(), "http" | "https")
                || log.url.host_str().is_none_or(str::is_empty)
            {
                problems.add(
                    at.key("url"),
                    format!("`{}` is not an http or https URL with a host", log.url),
                    None,
                );
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
