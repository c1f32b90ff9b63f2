//! The `ballotwatch.toml` configuration: types, loading and validation.
//!
//! Loading never stops at the first problem it can avoid stopping at: a file that parses is
//! validated as a whole and every problem is reported, each naming the file, line and field,
//! with a "did you mean" where one fits.

use std::collections::BTreeMap;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use url::Url;

use crate::model::{Severity, VerdictKind};

mod alerts;
mod checks;
mod detectors;
mod limits;
mod platforms;
mod problem;
#[cfg(test)]
mod tests;
mod time;
mod validate;

pub use alerts::*;
use checks::looks_like_mailbox;
pub use checks::{check_domain, check_handle};
pub use detectors::*;
pub use limits::*;
pub use platforms::{
    default_appview, default_jetstream_url, default_reddit, default_telegram, hashtag, subreddit,
    telegram_channel_ok, youtube_feed_url, BlueskySourceConfig, MastodonSourceConfig,
    RedditSourceConfig, TelegramSourceConfig, UrlSourceConfig,
};
pub use problem::{did_you_mean, ConfigError, ConfigProblem};
use problem::{explain_serde_message, key, line_of, locate, path_string, to_segs, Seg};
pub use time::{parse_hhmm, parse_quiet_hours};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the store, captures and index live. Relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// Web UI and API.
    #[serde(default)]
    pub server: ServerConfig,
    /// Terms that make an item relevant.
    #[serde(default)]
    pub watch: WatchConfig,
    /// How sources are fetched.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Search index behaviour.
    #[serde(default)]
    pub index: IndexConfig,
    /// The sources to watch (`[[source]]`).
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Protected identities (`[[identity]]`).
    #[serde(default, rename = "identity")]
    pub identities: Vec<IdentityConfig>,
    /// Council-specific false narratives (`[[narrative]]`), added to the built-in library.
    #[serde(default, rename = "narrative")]
    pub narratives: Vec<NarrativeConfig>,
    /// Detector thresholds and model location.
    #[serde(default)]
    pub detectors: DetectorsConfig,
    /// Email and alert rules.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Evidence pack signing.
    #[serde(default)]
    pub evidence: EvidenceConfig,
    /// Ceilings on the work any one piece of untrusted input may cause.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the web UI and API listen on.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The URL users reach the UI at (used in alert links; https makes cookies `Secure`).
    #[serde(default)]
    pub public_url: Option<Url>,
    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9090`) instead of on `bind`.
    #[serde(default)]
    pub metrics_bind: Option<SocketAddr>,
    /// How long a web login lasts.
    #[serde(default = "default_session_ttl", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Failed logins within `login_window` that lock an account.
    #[serde(default = "default_login_max_failures")]
    pub login_max_failures: u32,
    /// How long an account's first lock lasts; each further lock before a successful login
    /// lasts twice as long, up to `login_max_lockout`.
    #[serde(default = "default_login_lockout", with = "humantime_serde")]
    pub login_lockout: Duration,
    /// The longest lock.
    #[serde(default = "default_login_max_lockout", with = "humantime_serde")]
    pub login_max_lockout: Duration,
    /// The window failed logins are counted in, per account and per client address.
    #[serde(default = "default_login_window", with = "humantime_serde")]
    pub login_window: Duration,
    /// Login attempts one client address (an IPv6 /64) may make within `login_window` (a
    /// successful login gives its attempt back). Must be below `login_max_failures`, so that
    /// one address can never lock an account; unset, it is `login_max_failures - 1` (see
    /// [`ServerConfig::attempts_per_address`]).
    #[serde(default)]
    pub login_attempts_per_address: Option<u32>,
    /// Reverse proxies (addresses or CIDR ranges, e.g. `127.0.0.1` or `10.0.0.0/24`) whose
    /// `X-Forwarded-For` header is believed: a request arriving from one of them is counted
    /// (login rate limit, audit log) against the client address the proxy saw. Empty (the
    /// default): the header is ignored and the connecting address is the client.
    #[serde(default, deserialize_with = "ip_ranges")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// A list of IP addresses or CIDR ranges (`127.0.0.1`, `10.0.0.0/24`, `2001:db8::/32`).
fn ip_ranges<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is not an IP address or CIDR range (e.g. `127.0.0.1` or \
                         `10.0.0.0/24`)"
                    ))
                })
        })
        .collect()
}

fn default_session_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}

fn default_login_max_failures() -> u32 {
    5
}

fn default_login_lockout() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_login_max_lockout() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_login_window() -> Duration {
    Duration::from_secs(15 * 60)
}

impl ServerConfig {
    /// Login attempts one client address may make within `login_window`: the configured
    /// number, else one fewer than `login_max_failures` (at least 1).
    pub fn attempts_per_address(&self) -> u32 {
        self.login_attempts_per_address
            .unwrap_or(self.login_max_failures.saturating_sub(1))
            .max(1)
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: default_bind(),
            public_url: None,
            metrics_bind: None,
            session_ttl: default_session_ttl(),
            login_max_failures: default_login_max_failures(),
            login_lockout: default_login_lockout(),
            login_max_lockout: default_login_max_lockout(),
            login_window: default_login_window(),
            login_attempts_per_address: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[watch]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Words and phrases (case-insensitive, whole words) that mark an item relevant.
    #[serde(default)]
    pub terms: Vec<String>,
}

/// `[ingest]`: the fetcher's rules, shared by every source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// A page about this deployment, sent in the User-Agent so site owners can reach the council.
    #[serde(default)]
    pub contact_url: Option<Url>,
    /// Poll interval for sources that set none.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub default_interval: Duration,
    /// Random spread added to each interval, as a fraction of it (0 to 0.5).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// TCP+TLS connect timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest response body accepted; larger ones are cut off with an error.
    #[serde(default = "default_max_response_size")]
    pub max_response_size: ByteSize,
    /// Most redirects followed for one request.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    /// Most requests in flight to one host.
    #[serde(default = "default_per_host_concurrency")]
    pub per_host_concurrency: usize,
    /// Least time between two requests to one host.
    #[serde(default = "default_politeness_delay", with = "humantime_serde")]
    pub politeness_delay: Duration,
    /// Longest wait between retries of a failing source.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Allow fetching from loopback, private and link-local addresses. Off by default so that a
    /// hostile feed or redirect cannot make Ballotwatch probe the council's own network.
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Host names answered with a fixed address instead of DNS: `ballotwatch demo` points its
    /// recorded sites' own names at its replay server. Not a config key (a table may not set
    /// it): pinned names skip the SSRF guard's resolver, so only code sets them.
    #[serde(skip)]
    pub pinned_hosts: Vec<(String, std::net::SocketAddr)>,
}

fn default_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_jitter() -> f64 {
    0.1
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_response_size() -> ByteSize {
    ByteSize::mib(10)
}
fn default_max_redirects() -> usize {
    5
}
fn default_per_host_concurrency() -> usize {
    2
}
fn default_politeness_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(3600)
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            contact_url: None,
            default_interval: default_interval(),
            jitter: default_jitter(),
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
            max_response_size: default_max_response_size(),
            max_redirects: default_max_redirects(),
            per_host_concurrency: default_per_host_concurrency(),
            politeness_delay: default_politeness_delay(),
            max_backoff: default_max_backoff(),
            allow_private_addresses: false,
            pinned_hosts: Vec::new(),
        }
    }
}

/// `[index]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Longest time between an item being stored and it being searchable.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Memory the index writer may use for buffering.
    #[serde(default = "default_writer_memory")]
    pub writer_memory: ByteSize,
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_writer_memory() -> ByteSize {
    ByteSize::mib(64)
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            commit_interval: default_commit_interval(),
            writer_memory: default_writer_memory(),
        }
    }
}

/// One `[[source]]`, tagged by `kind`. Adding a source kind adds one variant here.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// An RSS 2.0, RSS 1.0 or Atom feed.
    Rss(FeedSourceConfig),
    /// Mastodon hashtag timelines and account posts.
    Mastodon(MastodonSourceConfig),
    /// Bluesky search and author feeds through an AppView (and optionally Jetstream).
    Bluesky(BlueskySourceConfig),
    /// Reddit subreddit `new` listings and searches.
    Reddit(RedditSourceConfig),
    /// A YouTube channel or playlist feed.
    Youtube(UrlSourceConfig),
    /// A Telegram public channel's web preview.
    Telegram(TelegramSourceConfig),
    /// A watched web page: a new version whenever its main text changes.
    Web(UrlSourceConfig),
}

/// Keys of a feed source (`kind = "rss"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// The feed URL.
    pub url: Url,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl SourceConfig {
    /// The source's unique name.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Rss(c) => &c.name,
            SourceConfig::Mastodon(c) => &c.name,
            SourceConfig::Bluesky(c) => &c.name,
            SourceConfig::Reddit(c) => &c.name,
            SourceConfig::Youtube(c) | SourceConfig::Web(c) => &c.name,
            SourceConfig::Telegram(c) => &c.name,
        }
    }

    /// The `kind` key's value.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Rss(_) => "rss",
            SourceConfig::Mastodon(_) => "mastodon",
            SourceConfig::Bluesky(_) => "bluesky",
            SourceConfig::Reddit(_) => "reddit",
            SourceConfig::Youtube(_) => "youtube",
            SourceConfig::Telegram(_) => "telegram",
            SourceConfig::Web(_) => "web",
        }
    }

    /// Whether the source is polled.
    pub fn enabled(&self) -> bool {
        match self {
            SourceConfig::Rss(c) => c.enabled,
            SourceConfig::Mastodon(c) => c.enabled,
            SourceConfig::Bluesky(c) => c.enabled,
            SourceConfig::Reddit(c) => c.enabled,
            SourceConfig::Youtube(c) | SourceConfig::Web(c) => c.enabled,
            SourceConfig::Telegram(c) => c.enabled,
        }
    }

    /// The poll interval, falling back to the ingest default.
    pub fn interval(&self, ingest: &IngestConfig) -> Duration {
        self.own_interval().unwrap_or(ingest.default_interval)
    }

    /// The source's own `interval` key, if set.
    pub fn own_interval(&self) -> Option<Duration> {
        match self {
            SourceConfig::Rss(c) => c.interval,
            SourceConfig::Mastodon(c) => c.interval,
            SourceConfig::Bluesky(c) => c.interval,
            SourceConfig::Reddit(c) => c.interval,
            SourceConfig::Youtube(c) | SourceConfig::Web(c) => c.interval,
            SourceConfig::Telegram(c) => c.interval,
        }
    }

    /// The URL the source fetches first (for messages): the feed or page, or the platform's
    /// base URL.
    pub fn url(&self) -> &Url {
        match self {
            SourceConfig::Rss(c) => &c.url,
            SourceConfig::Mastodon(c) => &c.instance,
            SourceConfig::Bluesky(c) => &c.appview,
            SourceConfig::Reddit(c) => &c.base_url,
            SourceConfig::Youtube(c) | SourceConfig::Web(c) => &c.url,
            SourceConfig::Telegram(c) => &c.base_url,
        }
    }

    /// The key that holds [`SourceConfig::url`], for messages.
    pub fn url_key(&self) -> &'static str {
        match self {
            SourceConfig::Rss(_) | SourceConfig::Youtube(_) | SourceConfig::Web(_) => "url",
            SourceConfig::Mastodon(_) => "instance",
            SourceConfig::Bluesky(_) => "appview",
            SourceConfig::Reddit(_) | SourceConfig::Telegram(_) => "base_url",
        }
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    ///
    /// Relative paths inside it (`data_dir`, `models_dir`, logos, the signing key) are resolved
    /// against the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text, path)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and validates configuration text; `file` is used in messages only.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let doc = toml_edit::Document::parse(text);
        let locate_line = |path: &[Seg], fallback: Option<Range<usize>>| -> Option<usize> {
            let span = doc
                .as_ref()
                .ok()
                .and_then(|d| locate(d.as_table(), path))
                .or(fallback)?;
            Some(line_of(text, span.start))
        };
        let problem =
            |path: &[Seg], span: Option<Range<usize>>, message: String, help| ConfigProblem {
                file: file.to_path_buf(),
                line: locate_line(path, span),
                field: path_string(path),
                message,
                help,
            };

        let de = match toml::Deserializer::parse(text) {
            Ok(de) => de,
            Err(e) => {
                return Err(ConfigError::Invalid(vec![problem(
                    &[],
                    e.span(),
                    format!("not valid TOML: {}", e.message().trim()),
                    None,
                )]))
            }
        };
        let config: Config = match serde_path_to_error::deserialize(de) {
            Ok(c) => c,
            Err(e) => {
                let mut path = to_segs(e.path());
                let inner = e.into_inner();
                let (message, help, field) = explain_serde_message(inner.message());
                if let Some(field) = field {
                    if path.last() != Some(&Seg::Key(field.clone())) {
                        path.push(Seg::Key(field));
                    }
                }
                return Err(ConfigError::Invalid(vec![problem(
                    &path,
                    inner.span(),
                    message,
                    help,
                )]));
            }
        };

        let problems: Vec<ConfigProblem> = config
            .validate()
            .into_iter()
            .map(|(path, message, help)| problem(&path, None, message, help))
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(p) = self.detectors.models_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.detectors.pixel_model.manifest.as_mut() {
            fix(p);
        }
        if let Some(p) = self.evidence.signing_key.as_mut() {
            fix(p);
        }
        self.evidence.trusted_keys.iter_mut().for_each(fix);
        if let Some(p) = self.alerts.smtp.as_mut().and_then(|s| s.ca_file.as_mut()) {
            fix(p);
        }
        for identity in &mut self.identities {
            identity.logos.iter_mut().for_each(fix);
        }
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name() == name)
    }
}
