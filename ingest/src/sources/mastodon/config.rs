//! Keys of a Mastodon source (`kind = "mastodon"`) and their rules.

use ballotwatch_core::config::{check_domain, env_name_ok, FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Keys of a Mastodon source (`kind = "mastodon"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonConfig {
    /// The Mastodon server, e.g. `https://social.example` (also accepted as `base_url`).
    #[serde(alias = "base_url")]
    pub instance: Url,
    /// Hashtags whose public timelines are read (with or without the `#`).
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Accounts whose public posts are read: `@user` (on `instance`) or `@user@server`.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Environment variable holding an access token, for servers that require one.
    #[serde(default)]
    pub token_env: Option<String>,
}

impl KindConfig for MastodonConfig {
    const KIND: &'static str = "mastodon";
    const URL_KEY: &'static str = "instance";

    fn url(&self) -> &Url {
        &self.instance
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::MastodonSource::new(name, self))
    }
}

/// A hashtag without its `#`, if it is one: letters, digits and underscores.
pub fn hashtag(tag: &str) -> Option<&str> {
    let t = tag.trim().strip_prefix('#').unwrap_or(tag.trim());
    (!t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(t)
}

impl Validate for MastodonConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.hashtags.is_empty() && self.accounts.is_empty() {
            problems.add(
                at.key("hashtags"),
                "a Mastodon source needs at least one of `hashtags` or `accounts`",
                Some("e.g. hashtags = [\"AnytownVotes\"]".into()),
            );
        }
        for tag in &self.hashtags {
            if hashtag(tag).is_none() {
                problems.add(
                    at.key("hashtags"),
                    format!("`{tag}` is not a hashtag"),
                    Some("letters, digits and underscores, with or without the #".into()),
                );
            }
        }
        let word =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c));
        for acct in &self.accounts {
            let a = acct.trim().trim_start_matches('@');
            let ok = match a.split_once('@') {
                Some((user, server)) => word(user) && check_domain(server).is_ok(),
                None => word(a),
            };
            if !ok {
                problems.add(
                    at.key("accounts"),
                    format!("`{acct}` is not a Mastodon account"),
                    Some("write @user for an account on the instance, or @user@server".into()),
                );
            }
        }
        if let Some(env) = &self.token_env {
            if !env_name_ok(env) {
                problems.add(
                    at.key("token_env"),
                    format!("`{env}` is not an environment variable name"),
                    Some("name the variable that holds the token, e.g. \"MASTODON_TOKEN\"".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn hashtags_are_checked() {
        assert_eq!(hashtag("#AnytownVotes"), Some("AnytownVotes"));
        assert_eq!(hashtag("Anytown Votes"), None);
    }

    proptest::proptest! {
        #[test]
        fn hashtags_never_panic(s in "\\PC{0,40}") {
            let _ = hashtag(&s);
        }
    }
}
