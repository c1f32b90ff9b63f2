//! `[[source]]`: the keys every source has ([`SourceCommon`]: `name`, `interval`, `enabled`),
//! the trait each kind's own keys implement ([`KindConfig`], in `sources/<kind>/config.rs`), and
//! the one list of kinds (`source_kinds!` below), from which the [`SourceSettings`] enum, the
//! `kind` names and every per-kind dispatch are generated.
//!
//! A `[[source]]` table is read in two steps, so that each problem names its key: the common
//! keys, then the rest as the kind's own table (which refuses keys it does not know).

use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use ballotwatch_core::config::{
    deserialize_table, did_you_mean, yes, FieldPath, Problems, Seg, Validate,
};
use ballotwatch_core::LimitsConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::{
    bluesky, ct, ct_search, imap, mastodon, reddit, rss, telegram, threads, web, x, youtube, Source,
};
use crate::IngestConfig;

/// What each source kind's own keys (`sources/<kind>/config.rs`) provide.
pub trait KindConfig: DeserializeOwned + Validate + Clone + Debug {
    /// The `kind` value that selects it.
    const KIND: &'static str;
    /// The key that holds [`KindConfig::url`], for messages.
    const URL_KEY: &'static str;
    /// The URL the source fetches first (for messages and the SSRF check): the feed or page,
    /// or the platform's base URL.
    fn url(&self) -> &Url;
    /// The URL schemes [`KindConfig::url`] may have (checked for every kind).
    const SCHEMES: &'static [&'static str] = &["http", "https"];
    /// The source for one `[[source]]` entry named `name`, within `limits`.
    fn build(&self, name: &str, limits: &LimitsConfig) -> Box<dyn Source>;
    /// Makes the kind's relative file paths (e.g. a `ca_file`) relative to `base`, the config
    /// file's folder. Most kinds have none.
    fn resolve_paths(&mut self, _base: &Path) {}
}

/// The keys every `[[source]]` has, whatever its kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCommon {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// The keys of [`SourceCommon`].
const COMMON_KEYS: [&str; 3] = ["name", "interval", "enabled"];

/// One `[[source]]`: the common keys and the kind's own.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// `name`, `interval`, `enabled`.
    pub common: SourceCommon,
    /// The kind and its keys.
    pub settings: SourceSettings,
}

macro_rules! source_kinds {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// A source kind with its own keys. Adding a source kind adds one line to the list that
        /// generates this enum (`source_kinds!` in `sources/config.rs`).
        #[derive(Debug, Clone)]
        pub enum SourceSettings {
            $($(#[$doc])* $variant($ty),)*
        }

        /// Every `kind` value, in the order of the list.
        pub const SOURCE_KINDS: &[&str] = &[$(<$ty as KindConfig>::KIND),*];

        impl SourceSettings {
            /// Reads the kind's own keys; `None` if `kind` is not a kind.
            fn read(
                kind: &str,
                value: toml::Value,
                at: &FieldPath,
                problems: &mut Problems,
            ) -> Option<Option<SourceSettings>> {
                $(
                    if kind == <$ty as KindConfig>::KIND {
                        return Some(
                            deserialize_table::<$ty>(value, at, problems)
                                .map(SourceSettings::$variant),
                        );
                    }
                )*
                None
            }

            /// The `kind` key's value.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(SourceSettings::$variant(_) => <$ty as KindConfig>::KIND,)*
                }
            }

            /// See [`KindConfig::url`].
            pub fn url(&self) -> &Url {
                match self {
                    $(SourceSettings::$variant(c) => c.url(),)*
                }
            }

            /// See [`KindConfig::URL_KEY`].
            pub fn url_key(&self) -> &'static str {
                match self {
                    $(SourceSettings::$variant(_) => <$ty as KindConfig>::URL_KEY,)*
                }
            }

            /// See [`KindConfig::SCHEMES`].
            pub fn schemes(&self) -> &'static [&'static str] {
                match self {
                    $(SourceSettings::$variant(_) => <$ty as KindConfig>::SCHEMES,)*
                }
            }

            /// See [`KindConfig::resolve_paths`].
            pub fn resolve_paths(&mut self, base: &Path) {
                match self {
                    $(SourceSettings::$variant(c) => c.resolve_paths(base),)*
                }
            }

            /// See [`KindConfig::build`].
            pub fn build(&self, name: &str, limits: &LimitsConfig) -> Box<dyn Source> {
                match self {
                    $(SourceSettings::$variant(c) => c.build(name, limits),)*
                }
            }

            fn validate_kind(&self, at: &FieldPath, problems: &mut Problems) {
                match self {
                    $(SourceSettings::$variant(c) => c.validate(at, problems),)*
                }
            }
        }
    };
}

source_kinds! {
    /// An RSS 2.0, RSS 1.0 or Atom feed.
    Rss(rss::RssConfig),
    /// Mastodon hashtag timelines and account posts.
    Mastodon(mastodon::MastodonConfig),
    /// Bluesky search and author feeds through an AppView (and optionally Jetstream).
    Bluesky(bluesky::BlueskyConfig),
    /// Reddit subreddit `new` listings and searches.
    Reddit(reddit::RedditConfig),
    /// A YouTube channel or playlist feed.
    Youtube(youtube::YoutubeConfig),
    /// A Telegram public channel's web preview.
    Telegram(telegram::TelegramConfig),
    /// A watched web page: a new version whenever its main text changes.
    Web(web::WebConfig),
    /// X recent search and account timelines (API v2, with the council's bearer token).
    X(x::XConfig),
    /// Threads keyword search and public profiles (with the council's access token).
    Threads(threads::ThreadsConfig),
    /// Certificate Transparency logs: certificates issued for lookalike domains.
    Ct(ct::CtConfig),
    /// A CT search service (crt.sh-style JSON): certificates naming the council's own labels.
    CtSearch(ct_search::CtSearchConfig),
    /// A report inbox: messages forwarded to the council's elections mailbox, over IMAP.
    Imap(imap::ImapConfig),
}

impl SourceConfig {
    /// Reads one `[[source]]` table found at `at`. Every problem (a missing or unknown `kind`,
    /// a wrong type, an unknown key) is recorded; `None` if the table could not be read.
    pub fn read(
        value: toml::Value,
        at: &FieldPath,
        problems: &mut Problems,
    ) -> Option<SourceConfig> {
        let toml::Value::Table(mut table) = value else {
            problems.add(
                at.clone(),
                "a source must be a table",
                Some("write it as [[source]]".into()),
            );
            return None;
        };
        let kinds = || format!("expected one of: {}", SOURCE_KINDS.join(", "));
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => Some(k),
            Some(_) => {
                problems.add(at.key("kind"), "must be a string", Some(kinds()));
                None
            }
            None => {
                problems.add(at.clone(), "missing required key `kind`", Some(kinds()));
                None
            }
        };
        let mut common = toml::Table::new();
        for k in COMMON_KEYS {
            if let Some(v) = table.remove(k) {
                common.insert(k.to_string(), v);
            }
        }
        let common = deserialize_table::<SourceCommon>(toml::Value::Table(common), at, problems);
        // The kind's own table only knows its own keys: a misspelt common key is suggested here.
        let mut own = Problems::default();
        let settings = match kind {
            None => None,
            Some(kind) => {
                match SourceSettings::read(&kind, toml::Value::Table(table), at, &mut own) {
                    Some(settings) => settings,
                    None => {
                        let help = did_you_mean(&kind, SOURCE_KINDS.iter().copied())
                            .or_else(|| Some(kinds()));
                        problems.add(at.key("kind"), format!("unknown value `{kind}`"), help);
                        None
                    }
                }
            }
        };
        for mut found in own.into_vec() {
            if let (Some(Seg::Key(k)), true) = (
                found.path.segs().last(),
                found.message.starts_with("unknown key"),
            ) {
                if !found
                    .help
                    .as_deref()
                    .is_some_and(|h| h.starts_with("did you mean"))
                {
                    if let Some(hint) = did_you_mean(k, COMMON_KEYS.iter().copied()) {
                        found.help = Some(hint);
                    }
                }
            }
            problems.add(found.path, found.message, found.help);
        }
        Some(SourceConfig {
            common: common?,
            settings: settings?,
        })
    }

    /// The source's unique name.
    pub fn name(&self) -> &str {
        &self.common.name
    }

    /// The `kind` key's value.
    pub fn kind(&self) -> &'static str {
        self.settings.kind()
    }

    /// Whether the source is polled.
    pub fn enabled(&self) -> bool {
        self.common.enabled
    }

    /// The poll interval, falling back to the ingest default.
    pub fn interval(&self, ingest: &IngestConfig) -> Duration {
        self.own_interval().unwrap_or(ingest.default_interval)
    }

    /// The source's own `interval` key, if set.
    pub fn own_interval(&self) -> Option<Duration> {
        self.common.interval
    }

    /// The URL the source fetches first (for messages).
    pub fn url(&self) -> &Url {
        self.settings.url()
    }

    /// The key that holds [`SourceConfig::url`], for messages.
    pub fn url_key(&self) -> &'static str {
        self.settings.url_key()
    }

    /// Makes the entry's relative file paths relative to `base`, the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.settings.resolve_paths(base);
    }

    /// The source for this entry, within `limits` (`[limits]`).
    pub fn build(&self, limits: &LimitsConfig) -> Box<dyn Source> {
        self.settings.build(self.name(), limits)
    }
}

impl Validate for SourceConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.name().trim().is_empty() {
            problems.add(at.key("name"), "must not be empty", None);
        }
        let url = self.url();
        let schemes = self.settings.schemes();
        if !schemes.contains(&url.scheme()) {
            problems.add(
                at.key(self.url_key()),
                format!("`{url}` is not an {} URL", schemes.join(" or ")),
                None,
            );
        }
        if url.host_str().is_none_or(str::is_empty) {
            problems.add(at.key(self.url_key()), format!("`{url}` has no host"), None);
        }
        self.settings.validate_kind(at, problems);
        if let Some(iv) = self.own_interval() {
            if iv < Duration::from_secs(10) {
                problems.advise(
                    at.key("interval"),
                    format!("{} is too short", humantime::format_duration(iv)),
                    "poll no more often than every 10s",
                );
            }
        }
    }
}

/// The rules of the whole `[[source]]` list (found at `at`), as read: each entry's own, and
/// names unique across the list. An entry that could not be read is `None`; the others keep
/// their place in the file's list.
pub fn validate_sources(sources: &[Option<SourceConfig>], at: &FieldPath, problems: &mut Problems) {
    let mut names = std::collections::HashSet::new();
    for (i, source) in sources.iter().enumerate() {
        let Some(source) = source else { continue };
        let at = at.index(i);
        let name = source.name();
        if !name.trim().is_empty() && !names.insert(name) {
            problems.advise(
                at.key("name"),
                format!("`{name}` is used by another source"),
                "give every source a unique name",
            );
        }
        source.validate(&at, problems);
    }
}

/// A URL written in the code (a platform's public endpoint).
pub(crate) fn fixed_url(s: &str) -> Url {
    // Only ever called with literals of the platforms' public endpoints, which are valid URLs.
    #[allow(clippy::expect_used)]
    Url::parse(s).expect("a built-in default URL parses")
}

#[cfg(test)]
mod tests;
