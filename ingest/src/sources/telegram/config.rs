//! Keys of a Telegram public channel source (`kind = "telegram"`) and their rules.

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::Source;

/// Keys of a Telegram public channel source (`kind = "telegram"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The channel's public user name (as in `t.me/NAME`).
    pub channel: String,
    /// Where the public web preview (`/s/NAME`) is served.
    #[serde(default = "default_telegram")]
    pub base_url: Url,
}

impl KindConfig for TelegramConfig {
    const KIND: &'static str = "telegram";
    const URL_KEY: &'static str = "base_url";

    fn url(&self) -> &Url {
        &self.base_url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::TelegramSource::new(name, self))
    }
}

/// Telegram's public web preview.
pub fn default_telegram() -> Url {
    fixed_url("https://t.me/")
}

/// Whether `name` is a public Telegram user name (5–32 letters, digits or underscores).
pub fn telegram_channel_ok(name: &str) -> bool {
    let len = name.chars().count();
    (5..=32).contains(&len)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

impl Validate for TelegramConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if !telegram_channel_ok(&self.channel) {
            problems.add(
                at.key("channel"),
                format!("`{}` is not a public Telegram channel name", self.channel),
                Some("write the name as in t.me/NAME (5-32 letters, digits or _, no @)".into()),
            );
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn channel_names_are_checked() {
        assert!(telegram_channel_ok("anytown_votes"));
        assert!(!telegram_channel_ok("@anytown_votes"));
        assert!(!telegram_channel_ok("abc"));
    }

    proptest::proptest! {
        #[test]
        fn channel_names_never_panic(s in "\\PC{0,40}") {
            let _ = telegram_channel_ok(&s);
        }
    }
}
