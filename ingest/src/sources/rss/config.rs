//! Keys of a feed source (`kind = "rss"`: RSS 2.0, RSS 1.0 or Atom).

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Keys of a feed source (`kind = "rss"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RssConfig {
    /// The feed URL.
    pub url: Url,
}

impl KindConfig for RssConfig {
    const KIND: &'static str = "rss";
    const URL_KEY: &'static str = "url";

    fn url(&self) -> &Url {
        &self.url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::RssSource::new(name.to_string(), self.url.clone()))
    }
}

/// A feed has no keys beyond its URL, which every source's URL check covers.
impl Validate for RssConfig {
    fn validate(&self, _at: &FieldPath, _problems: &mut Problems) {}
}
