//! `[evidence]`: how packs are signed, what `verify` trusts, and the screenshots taken of flagged
//! pages.

use std::path::PathBuf;
use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use serde::Deserialize;

/// `[evidence]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Ed25519 key that signs evidence packs (default: `evidence.key` in `data_dir`).
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Take a full-page screenshot and rendered-HTML snapshot of flagged items' web pages with
    /// headless Chromium (`serve` does it as items are flagged; `export` for any still missing).
    #[serde(default = "ballotwatch_core::config::yes")]
    pub screenshots: bool,
    /// Wall-clock limit for each Chromium run (screenshot, rendered HTML).
    #[serde(default = "default_screenshot_timeout", with = "humantime_serde")]
    pub screenshot_timeout: Duration,
    /// Public keys (files holding 64 hex digits, e.g. a pack's `signing-key.pub`) that
    /// `verify` trusts: a pack signed with one of them is intact, a pack signed with any other
    /// key is reported as such. Empty: `verify` names the signer as unverified. Relative paths
    /// are relative to the config file.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// RFC 3161 Time-Stamping Authorities (`http://` or `https://` URLs), asked in turn for a
    /// trusted timestamp of the capture log's head. Empty (the default): no timestamps.
    #[serde(default)]
    pub tsa_urls: Vec<String>,
    /// PEM files holding the root certificates the TSAs' tokens must chain to; required when
    /// `tsa_urls` is set. Relative paths are relative to the config file.
    #[serde(default)]
    pub tsa_roots: Vec<PathBuf>,
    /// How often the capture log's newest head is timestamped while entries wait (and at once
    /// when an item is flagged). At least 10 seconds.
    #[serde(default = "default_timestamp_interval", with = "humantime_serde")]
    pub timestamp_interval: Duration,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            signing_key: None,
            screenshots: true,
            screenshot_timeout: default_screenshot_timeout(),
            trusted_keys: Vec::new(),
            tsa_urls: Vec::new(),
            tsa_roots: Vec::new(),
            timestamp_interval: default_timestamp_interval(),
        }
    }
}

fn default_screenshot_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_timestamp_interval() -> Duration {
    Duration::from_secs(600)
}

/// The shortest `timestamp_interval` accepted, which keeps the load on a public TSA modest.
pub const MIN_TIMESTAMP_INTERVAL: Duration = Duration::from_secs(10);

impl EvidenceConfig {
    /// Whether trusted timestamps are on (`tsa_urls` is not empty).
    pub fn timestamps_enabled(&self) -> bool {
        !self.tsa_urls.is_empty()
    }
}

impl Validate for EvidenceConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.screenshot_timeout.is_zero() {
            problems.advise(
                at.key("screenshot_timeout"),
                "must be longer than zero",
                "e.g. \"30s\"",
            );
        }
        for (i, u) in self.tsa_urls.iter().enumerate() {
            match url::Url::parse(u) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                Ok(parsed) => problems.advise(
                    at.key("tsa_urls").index(i),
                    format!("`{u}` is a {} URL, not http(s)", parsed.scheme()),
                    "an RFC 3161 TSA's HTTP endpoint, e.g. \"https://freetsa.org/tsr\"",
                ),
                Err(e) => problems.advise(
                    at.key("tsa_urls").index(i),
                    format!("`{u}` is not a URL ({e})"),
                    "an RFC 3161 TSA's HTTP endpoint, e.g. \"https://freetsa.org/tsr\"",
                ),
            }
        }
        if !self.tsa_urls.is_empty() && self.tsa_roots.is_empty() {
            problems.advise(
                at.key("tsa_roots"),
                "is required when tsa_urls is set: tokens are only kept when they verify",
                "the TSAs' root CA certificates in PEM, e.g. tsa_roots = [\"tsa-roots.pem\"]",
            );
        }
        if self.timestamp_interval < MIN_TIMESTAMP_INTERVAL {
            problems.advise(
                at.key("timestamp_interval"),
                "must be at least 10s",
                "e.g. \"10m\" (the default)",
            );
        }
    }
}
