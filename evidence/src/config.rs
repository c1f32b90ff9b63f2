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
    /// Wall-clock limit for each Chromium run (screenshot, rendered HTML, report PDF).
    #[serde(default = "default_screenshot_timeout", with = "humantime_serde")]
    pub screenshot_timeout: Duration,
    /// Public keys (files holding 64 hex digits, e.g. a pack's `signing-key.pub`) that
    /// `verify` trusts: a pack signed with one of them is intact, a pack signed with any other
    /// key is reported as such. Empty: `verify` names the signer as unverified. Relative paths
    /// are relative to the config file.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            signing_key: None,
            screenshots: true,
            screenshot_timeout: default_screenshot_timeout(),
            trusted_keys: Vec::new(),
        }
    }
}

fn default_screenshot_timeout() -> Duration {
    Duration::from_secs(30)
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
    }
}
