//! Keys of a Certificate Transparency search source (`kind = "ct_search"`) and their rules.

use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Most labels one source asks about (one request each per poll).
pub const MAX_LABELS: usize = 20;

/// Keys of a CT search source (`kind = "ct_search"`): a crt.sh-style JSON API asked for
/// certificates whose names contain the council's own labels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtSearchConfig {
    /// The search service (e.g. `https://crt.sh/`): asked `?q=%LABEL%&output=json`.
    pub url: Url,
    /// The labels looked for inside certificate names: the council's own (e.g. `anytown`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// On the first poll, keep certificates logged this far back (e.g. `"7d"`) instead of
    /// only those logged after it.
    #[serde(default, with = "humantime_serde")]
    pub backfill: Option<Duration>,
    /// Leave out expired certificates (the service's `exclude=expired`; default true).
    #[serde(default = "yes")]
    pub exclude_expired: bool,
    /// Point each certificate's item at the lookalike name's home page (`https://NAME/`)
    /// instead of the crt.sh look-up (kept in the item's links), so the screenshot task
    /// (`[evidence] screenshots`) captures the page and its rendered HTML through the SSRF guard
    /// once the item is flagged. Off by default: visiting a new phishing site from the
    /// council's network tells its owner that it has been noticed.
    #[serde(default)]
    pub home_page: bool,
}

fn yes() -> bool {
    true
}

/// Whether `label` can be searched for: 3–63 lower-case letters, digits or hyphens.
pub fn is_label(label: &str) -> bool {
    (3..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl KindConfig for CtSearchConfig {
    const KIND: &'static str = "ct_search";
    const URL_KEY: &'static str = "url";

    fn url(&self) -> &Url {
        &self.url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::CtSearchSource::new(name, self))
    }
}

impl Validate for CtSearchConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.labels.is_empty() {
            problems.add(
                at.key("labels"),
                "a CT search source needs at least one label",
                Some("the council's own label, e.g. labels = [\"anytown\"]".into()),
            );
        }
        if self.labels.len() > MAX_LABELS {
            problems.add(
                at.key("labels"),
                format!("{} labels, more than {MAX_LABELS}", self.labels.len()),
                Some("search services rate-limit: keep to the council's own names".into()),
            );
        }
        for (i, label) in self.labels.iter().enumerate() {
            if !is_label(label) {
                problems.add(
                    at.key("labels").index(i),
                    format!("`{label}` is not a domain label to search for"),
                    Some("3 to 63 lower-case letters, digits or hyphens, e.g. \"anytown\"".into()),
                );
            }
        }
    }
}
