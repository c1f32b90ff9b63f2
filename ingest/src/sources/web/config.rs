//! Keys of a watched web page (`kind = "web"`).

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Keys of a watched web page (`kind = "web"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The page.
    pub url: Url,
}

impl KindConfig for WebConfig {
    const KIND: &'static str = "web";
    const URL_KEY: &'static str = "url";

    fn url(&self) -> &Url {
        &self.url
    }

    fn build(&self, name: &str, limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::WebSource::new(
            name,
            self,
            super::DiffLimits::from(limits),
        ))
    }
}

/// A page has no keys beyond its URL, which every source's URL check covers.
impl Validate for WebConfig {
    fn validate(&self, _at: &FieldPath, _problems: &mut Problems) {}
}
