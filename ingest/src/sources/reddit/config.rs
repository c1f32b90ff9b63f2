//! Keys of a Reddit source (`kind = "reddit"`) and their rules.

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::Source;

/// Keys of a Reddit source (`kind = "reddit"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditConfig {
    /// Subreddits whose `new` listing is read (`AnytownUK` or `r/AnytownUK`).
    #[serde(default)]
    pub subreddits: Vec<String>,
    /// Search terms, newest first across all of Reddit.
    #[serde(default)]
    pub queries: Vec<String>,
    /// The Reddit endpoint serving the public JSON listings.
    #[serde(default = "default_reddit")]
    pub base_url: Url,
}

impl KindConfig for RedditConfig {
    const KIND: &'static str = "reddit";
    const URL_KEY: &'static str = "base_url";

    fn url(&self) -> &Url {
        &self.base_url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::RedditSource::new(name, self))
    }
}

/// Reddit's public endpoint.
pub fn default_reddit() -> Url {
    fixed_url("https://www.reddit.com/")
}

/// A subreddit name without `r/`, if it is one (3–21 letters, digits or underscores).
pub fn subreddit(name: &str) -> Option<&str> {
    let n = name.trim();
    let n = n
        .strip_prefix("/r/")
        .or_else(|| n.strip_prefix("r/"))
        .unwrap_or(n)
        .trim_end_matches('/');
    let len = n.chars().count();
    ((2..=21).contains(&len) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(n)
}

impl Validate for RedditConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.subreddits.is_empty() && self.queries.is_empty() {
            problems.add(
                at.key("subreddits"),
                "a Reddit source needs at least one of `subreddits` or `queries`",
                Some("e.g. subreddits = [\"AnytownUK\"]".into()),
            );
        }
        for s in &self.subreddits {
            if subreddit(s).is_none() {
                problems.add(
                    at.key("subreddits"),
                    format!("`{s}` is not a subreddit name"),
                    Some(
                        "write the name as in reddit.com/r/NAME: 2-21 letters, digits or _".into(),
                    ),
                );
            }
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                problems.add(at.key("queries"), "a query must not be empty", None);
            }
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn subreddit_names_are_checked() {
        assert_eq!(subreddit("r/AnytownUK"), Some("AnytownUK"));
        assert_eq!(subreddit("/r/AnytownUK/"), Some("AnytownUK"));
        assert_eq!(subreddit("Anytown UK"), None);
    }

    proptest::proptest! {
        #[test]
        fn subreddit_names_never_panic(s in "\\PC{0,40}") {
            let _ = subreddit(&s);
        }
    }
}
