//! The `ballotwatch.toml` configuration: types, loading and validation.
//!
//! Loading never stops at the first problem it can avoid stopping at: a file that parses is
//! validated as a whole and every problem is reported, each naming the file, line and field,
//! with a "did you mean" where one fits.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use url::Url;

use crate::model::{Severity, VerdictKind};

mod platforms;
pub use platforms::{
    default_appview, default_jetstream_url, default_reddit, default_telegram, hashtag, subreddit,
    telegram_channel_ok, youtube_feed_url, BlueskySourceConfig, MastodonSourceConfig,
    RedditSourceConfig, TelegramSourceConfig, UrlSourceConfig,
};

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

/// One `[[identity]]`: someone Ballotwatch protects from impersonation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Name as the public knows it.
    pub name: String,
    /// What sort of identity it is.
    pub kind: IdentityKind,
    /// Official domains (their subdomains are official too).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Official handles per platform.
    #[serde(default)]
    pub handles: BTreeMap<String, Vec<String>>,
    /// Logo images whose reuse by others is suspicious.
    #[serde(default)]
    pub logos: Vec<PathBuf>,
}

/// The sort of protected identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The council or another body.
    Organisation,
    /// A post such as the Returning Officer.
    Role,
    /// A candidate standing for election.
    Candidate,
    /// A named official.
    Official,
}

/// The platforms `[[identity]] handles` may name.
pub const HANDLE_PLATFORMS: [&str; 8] = [
    "mastodon",
    "bluesky",
    "x",
    "facebook",
    "instagram",
    "tiktok",
    "youtube",
    "telegram",
];

/// One `[[narrative]]`: a false claim to watch for, with the correct position.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NarrativeConfig {
    /// Unique id.
    pub id: String,
    /// The false claim in one sentence.
    pub claim: String,
    /// Ways people phrase it.
    #[serde(default)]
    pub examples: Vec<String>,
    /// The correct position, ready to paste as a reply.
    pub rebuttal: String,
    /// Ways people correct it (debunks, official guidance). Posts that repeat these are on the
    /// rebuttal side and are not flagged.
    #[serde(default)]
    pub debunks: Vec<String>,
    /// Where the correct position is published.
    #[serde(default)]
    pub source: Option<Url>,
}

/// `[detectors]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorsConfig {
    /// Default score at or above which a verdict flags an item.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-detector thresholds by detector name.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
    /// Where ONNX models are installed (default: `BALLOTWATCH_MODELS`, then `./models`).
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// Threads each ONNX model may use (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Most texts a model runs at once.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Most differing PDQ hash bits (of 256) for an image to count as a re-upload of media
    /// confirmed fake (default 31, Meta's usual match threshold).
    #[serde(default = "default_known_fake_distance")]
    pub known_fake_distance: u32,
    /// `[detectors.ocr]`: reading the text in images.
    #[serde(default)]
    pub ocr: OcrConfig,
    /// `[detectors.pixel_model]`: the image classifier for AI-generated pictures.
    #[serde(default)]
    pub pixel_model: PixelModelConfig,
}

/// `[detectors.ocr]`: OCR of every image medium, whose text joins the item's text for the
/// text detectors, the index and evidence packs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcrConfig {
    /// Run OCR at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Longest side, in pixels, of the image the text detector sees (default 1280; larger
    /// images are scaled down).
    #[serde(default = "default_ocr_max_side")]
    pub max_side: u32,
    /// Most text lines read from one image (default 64).
    #[serde(default = "default_ocr_max_lines")]
    pub max_lines: usize,
}

fn default_ocr_max_side() -> u32 {
    1280
}

fn default_ocr_max_lines() -> usize {
    64
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            enabled: true,
            max_side: default_ocr_max_side(),
            max_lines: default_ocr_max_lines(),
        }
    }
}

/// `[detectors.pixel_model]`: a pluggable ONNX image classifier described by a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelModelConfig {
    /// Run the pixel model at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A manifest (TOML) describing your own model; default: the built-in manifest of the
    /// CLIP probe in `<models_dir>/pixel/`.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// Skip images whose OCR text covers more than this fraction of the picture (default 0.2):
    /// the model is not reliable on documents and screenshots.
    #[serde(default = "default_max_text_fraction")]
    pub max_text_fraction: f32,
}

fn default_max_text_fraction() -> f32 {
    0.2
}

impl Default for PixelModelConfig {
    fn default() -> Self {
        PixelModelConfig {
            enabled: true,
            manifest: None,
            max_text_fraction: default_max_text_fraction(),
        }
    }
}

fn default_known_fake_distance() -> u32 {
    31
}

fn default_threshold() -> f32 {
    0.5
}

fn default_batch_size() -> usize {
    32
}

impl Default for DetectorsConfig {
    fn default() -> Self {
        DetectorsConfig {
            threshold: default_threshold(),
            thresholds: BTreeMap::new(),
            models_dir: None,
            threads: None,
            batch_size: default_batch_size(),
            known_fake_distance: default_known_fake_distance(),
            ocr: OcrConfig::default(),
            pixel_model: PixelModelConfig::default(),
        }
    }
}

impl DetectorsConfig {
    /// The threshold that applies to a detector.
    pub fn threshold_for(&self, detector: &str) -> f32 {
        self.thresholds
            .get(detector)
            .copied()
            .unwrap_or(self.threshold)
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The mail server.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Alert rules (`[[alerts.rule]]`).
    #[serde(default, rename = "rule")]
    pub rules: Vec<AlertRule>,
    /// Webhook channels (`[[alerts.webhook]]`), named by rules' `webhooks`.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Flagged items with the same label and grouping evidence (narrative, domain, handle or
    /// media hash) within this long of an incident's last sighting join that incident.
    #[serde(default = "default_group_window", with = "humantime_serde")]
    pub group_window: Duration,
    /// First retry delay after a failed delivery; doubles on each failure (with jitter).
    #[serde(default = "default_retry_initial", with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Longest delay between two delivery attempts.
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// A message still undelivered this long after it was queued is dead-lettered (no more
    /// attempts; listed by `ballotwatch alerts status`).
    #[serde(default = "default_dead_letter_after", with = "humantime_serde")]
    pub dead_letter_after: Duration,
    /// Email addresses told once when work is quarantined (the system's own notices, apart
    /// from the alert rules).
    #[serde(default)]
    pub admin_to: Vec<String>,
    /// Webhooks (`[[alerts.webhook]] name`) told once when work is quarantined.
    #[serde(default)]
    pub admin_webhooks: Vec<String>,
}

fn default_group_window() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_retry_initial() -> Duration {
    Duration::from_secs(5)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(600)
}
fn default_dead_letter_after() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            smtp: None,
            rules: Vec::new(),
            webhooks: Vec::new(),
            group_window: default_group_window(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            dead_letter_after: default_dead_letter_after(),
            admin_to: Vec::new(),
            admin_webhooks: Vec::new(),
        }
    }
}

/// `[alerts.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Mail server host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 for none).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Transport security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login name, if the server wants AUTH.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The From: header.
    pub from: String,
    /// PEM file of CA certificates to trust for the server instead of the system's (for a
    /// council's internal CA). Relative paths are relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connect-and-send timeout for one message.
    #[serde(default = "default_smtp_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(30)
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (only for a relay on the same host).
    None,
    /// Upgrade with STARTTLS.
    #[default]
    Starttls,
    /// Implicit TLS.
    Tls,
}

/// One `[[alerts.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique name.
    pub name: String,
    /// Verdict kinds that match (empty: all).
    #[serde(default)]
    pub kinds: Vec<VerdictKind>,
    /// Verdict labels that match, e.g. `lookalike_domain` (empty: all).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Least severity that matches.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Least verdict score that matches (default: any flagged verdict).
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Source names that match (empty: all).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Watch terms, one of which the item must contain (empty: any item).
    #[serde(default)]
    pub terms: Vec<String>,
    /// Identity names (`[[identity]] name`) a verdict must be about (empty: any).
    #[serde(default)]
    pub identities: Vec<String>,
    /// Email recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Webhooks (`[[alerts.webhook]] name`) to deliver to.
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// Send at once or collect into digests.
    #[serde(default)]
    pub mode: AlertMode,
    /// How often digests go out (`mode = "digest"`, and updates with `on_update = "digest"`).
    #[serde(default)]
    pub digest: DigestEvery,
    /// Time of day (UTC, `HH:MM`) daily digests go out; hourly digests go out at this minute.
    #[serde(default = "default_digest_at")]
    pub digest_at: String,
    /// Hours (UTC, `HH:MM-HH:MM`) when immediate alerts below `high` wait until the end.
    #[serde(default)]
    pub quiet_hours: Option<String>,
    /// Least time between two immediate alerts of this rule; later ones wait (never `high`).
    #[serde(default, with = "humantime_serde")]
    pub throttle: Option<Duration>,
    /// What a new sighting of an incident already alerted does.
    #[serde(default)]
    pub on_update: OnUpdate,
}

fn default_min_severity() -> Severity {
    Severity::Medium
}

fn default_digest_at() -> String {
    "08:00".into()
}

/// How an alert rule delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertMode {
    /// One message per incident, at once.
    #[default]
    Immediate,
    /// Collected into a periodic digest.
    Digest,
}

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestEvery {
    /// Every hour, at `digest_at`'s minute.
    Hourly,
    /// Every day at `digest_at`.
    #[default]
    Daily,
}

/// What a new sighting of an incident that was already alerted does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUpdate {
    /// It goes into the rule's next digest.
    #[default]
    Digest,
    /// An immediate update, threaded under the first alert.
    Immediate,
    /// Nothing is sent (the incident is still updated).
    Ignore,
}

/// One `[[alerts.webhook]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique name, used in rules' `webhooks`.
    pub name: String,
    /// Payload format.
    pub kind: WebhookKind,
    /// Where to POST.
    pub url: Url,
    /// Environment variable holding the HMAC-SHA256 key (`kind = "json"`): the body's signature
    /// is sent as `X-Ballotwatch-Signature: sha256=<hex>`.
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// Webhook payload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// Microsoft Teams incoming webhook (message card).
    Teams,
    /// Slack incoming webhook (blocks).
    Slack,
    /// Generic JSON POST, optionally signed.
    Json,
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Parses quiet hours `HH:MM-HH:MM` into (start, end) minutes after midnight; the span may
/// wrap past midnight.
pub fn parse_quiet_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (parse_hhmm(a)?, parse_hhmm(b)?);
    (a != b).then_some((a, b))
}

/// `[evidence]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Ed25519 key that signs evidence packs (default: `evidence.key` in `data_dir`).
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Take a full-page screenshot and rendered-HTML snapshot of flagged items' web pages with
    /// headless Chromium (`serve` does it as items are flagged; `export` for any still missing).
    #[serde(default = "yes")]
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

/// `[limits]`: every ceiling on the work that one piece of untrusted input (a feed entry, a page,
/// a post, a picture, a search, a pack given to `verify`) may cause, in one place. Everything
/// Ballotwatch reads is written by the people it watches, so each walk over their structure is
/// bounded, each superlinear algorithm has a size cap and a deadline, and work that a stage
/// cannot survive is quarantined instead of retried for ever. The security model
/// (`docs/security.md`) lists these with their defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Deepest element nesting walked in fetched HTML (feed entries, pages); content below it is
    /// kept as flat text, and the item records that it was cut.
    #[serde(default = "default_max_html_depth")]
    pub max_html_depth: usize,
    /// Most text kept per item (title and body together); longer text is cut at a character
    /// boundary, and the item records that it was cut.
    #[serde(default = "default_max_item_text")]
    pub max_item_text: ByteSize,
    /// Longest search query accepted, in characters (web UI, API and `search`).
    #[serde(default = "default_max_query_length")]
    pub max_query_length: usize,
    /// Deepest nesting in a search query: each open bracket, and each `NOT` before a term, is
    /// one level.
    #[serde(default = "default_max_query_depth")]
    pub max_query_depth: usize,
    /// Most lines on each side of a watched page's diff; beyond it the change is recorded without
    /// a line diff.
    #[serde(default = "default_diff_max_lines")]
    pub diff_max_lines: usize,
    /// Wall-clock limit for one watched page's diff.
    #[serde(default = "default_diff_timeout", with = "humantime_serde")]
    pub diff_timeout: Duration,
    /// Most files in a pack that `verify` will read.
    #[serde(default = "default_verify_max_entries")]
    pub verify_max_entries: usize,
    /// Most bytes, unpacked, that `verify` will read from one pack (streamed, never held whole).
    #[serde(default = "default_verify_max_unpacked")]
    pub verify_max_unpacked: ByteSize,
    /// Largest captured image.
    #[serde(default = "default_max_image_size")]
    pub max_image_size: ByteSize,
    /// Largest captured video.
    #[serde(default = "default_max_video_size")]
    pub max_video_size: ByteSize,
    /// Attempts at one stage's work on one item (or one poll's response) that did not finish
    /// (a crash, an abort, a kill) before it is quarantined instead of tried again.
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u32,
    /// Free space `data_dir` must keep; below it ingest pauses (nothing committed is touched)
    /// and resumes by itself when space returns.
    #[serde(default = "default_min_free_disk")]
    pub min_free_disk: ByteSize,
}

/// The default of `[limits] max_html_depth`.
pub const DEFAULT_MAX_HTML_DEPTH: usize = 256;

/// The largest `[limits] max_html_depth` accepted: the deepest tree html2text's recursive layout
/// is ever given (nested tables at this depth) still fits a 2 MiB worker stack with room to spare
/// (ingest's `the_ceiling_fits_a_worker_stack`). Ingest clamps to it; validation refuses more.
pub const MAX_HTML_DEPTH_CEILING: usize = 1024;

fn default_max_html_depth() -> usize {
    DEFAULT_MAX_HTML_DEPTH
}
fn default_max_item_text() -> ByteSize {
    ByteSize::kib(512)
}
fn default_max_query_length() -> usize {
    1024
}
fn default_max_query_depth() -> usize {
    16
}
fn default_diff_max_lines() -> usize {
    20_000
}
fn default_diff_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_verify_max_entries() -> usize {
    100_000
}
fn default_verify_max_unpacked() -> ByteSize {
    ByteSize::gib(8)
}
fn default_max_image_size() -> ByteSize {
    ByteSize::mib(20)
}
fn default_max_video_size() -> ByteSize {
    ByteSize::mib(100)
}
fn default_quarantine_after() -> u32 {
    2
}
fn default_min_free_disk() -> ByteSize {
    ByteSize::mib(256)
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_html_depth: default_max_html_depth(),
            max_item_text: default_max_item_text(),
            max_query_length: default_max_query_length(),
            max_query_depth: default_max_query_depth(),
            diff_max_lines: default_diff_max_lines(),
            diff_timeout: default_diff_timeout(),
            verify_max_entries: default_verify_max_entries(),
            verify_max_unpacked: default_verify_max_unpacked(),
            max_image_size: default_max_image_size(),
            max_video_size: default_max_video_size(),
            quarantine_after: default_quarantine_after(),
            min_free_disk: default_min_free_disk(),
        }
    }
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, where the problem can be placed.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `source[1].url`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it ("did you mean …").
    pub help: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": `{}`: {}", self.field, self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source} (pass --config PATH or set BALLOTWATCH_CONFIG)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not valid.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl ConfigError {
    /// Every problem found (empty for a read error).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(p) => p,
        }
    }
}

struct ProblemList<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
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

    /// Every rule a loaded config must satisfy beyond its types: (path, message, help).
    fn validate(&self) -> Vec<(Vec<Seg>, String, Option<String>)> {
        let mut out = Vec::new();
        let mut bad =
            |path: Vec<Seg>, msg: String, help: Option<String>| out.push((path, msg, help));

        if self.data_dir.as_os_str().is_empty() {
            bad(vec![key("data_dir")], "must not be empty".into(), None);
        }
        let srv = &self.server;
        if srv.login_max_failures == 0 {
            bad(
                vec![key("server"), key("login_max_failures")],
                "must be at least 1".into(),
                Some("5 locks an account after five wrong passwords in a row".into()),
            );
        }
        if srv.login_attempts_per_address == Some(0) {
            bad(
                vec![key("server"), key("login_attempts_per_address")],
                "must be at least 1".into(),
                Some("4 lets one address try four times per `login_window`".into()),
            );
        } else if srv.attempts_per_address() >= srv.login_max_failures && srv.login_max_failures > 0
        {
            let field = if srv.login_attempts_per_address.is_some() {
                "login_attempts_per_address"
            } else {
                "login_max_failures"
            };
            bad(
                vec![key("server"), key(field)],
                format!(
                    "must be below `login_max_failures` ({}), or one address could lock any \
                     account",
                    srv.login_max_failures
                ),
                Some(format!(
                    "set it to {} or less, or raise `login_max_failures`",
                    srv.login_max_failures.saturating_sub(1).max(1)
                )),
            );
        }
        if srv.login_window.is_zero() {
            bad(
                vec![key("server"), key("login_window")],
                "must be longer than zero".into(),
                Some("for example \"15m\"".into()),
            );
        }
        if srv.login_max_lockout < srv.login_lockout {
            bad(
                vec![key("server"), key("login_max_lockout")],
                "must not be shorter than `login_lockout`".into(),
                Some("for example \"24h\"".into()),
            );
        }
        if srv.session_ttl.is_zero() {
            bad(
                vec![key("server"), key("session_ttl")],
                "must be longer than zero".into(),
                Some("for example \"12h\"".into()),
            );
        }
        for (i, term) in self.watch.terms.iter().enumerate() {
            if term.trim().is_empty() {
                bad(
                    vec![key("watch"), key("terms"), Seg::Index(i)],
                    "a watch term must not be empty".into(),
                    None,
                );
            }
        }

        let lim = &self.limits;
        for (field, zero) in [
            ("max_html_depth", lim.max_html_depth == 0),
            ("max_item_text", lim.max_item_text.as_u64() == 0),
            ("max_query_length", lim.max_query_length == 0),
            ("max_query_depth", lim.max_query_depth == 0),
            ("diff_max_lines", lim.diff_max_lines == 0),
            ("diff_timeout", lim.diff_timeout.is_zero()),
            ("verify_max_entries", lim.verify_max_entries == 0),
            ("verify_max_unpacked", lim.verify_max_unpacked.as_u64() == 0),
            ("max_image_size", lim.max_image_size.as_u64() == 0),
            ("max_video_size", lim.max_video_size.as_u64() == 0),
            ("quarantine_after", lim.quarantine_after == 0),
        ] {
            if zero {
                bad(
                    vec![key("limits"), key(field)],
                    "must be more than zero".into(),
                    Some("leave the key out to use the default".into()),
                );
            }
        }

        if lim.max_html_depth > MAX_HTML_DEPTH_CEILING {
            bad(
                vec![key("limits"), key("max_html_depth")],
                format!(
                    "must be at most {MAX_HTML_DEPTH_CEILING}: deeper HTML is cut at the ceiling \
                     anyway, the deepest layout known to fit a worker's stack"
                ),
                Some(format!(
                    "use {MAX_HTML_DEPTH_CEILING} or less, or leave the key out for the default ({DEFAULT_MAX_HTML_DEPTH})"
                )),
            );
        }

        if self.evidence.screenshot_timeout.is_zero() {
            bad(
                vec![key("evidence"), key("screenshot_timeout")],
                "must be longer than zero".into(),
                Some("e.g. \"30s\"".into()),
            );
        }

        let ing = &self.ingest;
        let at = |k: &str| vec![key("ingest"), key(k)];
        if !(0.0..=0.5).contains(&ing.jitter) {
            bad(
                at("jitter"),
                format!("{} is out of range", ing.jitter),
                Some("use a fraction from 0 to 0.5".into()),
            );
        }
        if ing.max_response_size.as_u64() < 1024 {
            bad(
                at("max_response_size"),
                "must be at least 1 KiB".into(),
                None,
            );
        }
        if ing.per_host_concurrency == 0 {
            bad(
                at("per_host_concurrency"),
                "must be at least 1".into(),
                None,
            );
        }
        if ing.connect_timeout.is_zero() || ing.timeout.is_zero() {
            bad(
                at(if ing.timeout.is_zero() {
                    "timeout"
                } else {
                    "connect_timeout"
                }),
                "must be more than 0s".into(),
                None,
            );
        }
        if ing.max_redirects > 20 {
            bad(at("max_redirects"), "must be 20 or fewer".into(), None);
        }
        if let Some(u) = &ing.contact_url {
            if !matches!(u.scheme(), "http" | "https" | "mailto") {
                bad(
                    at("contact_url"),
                    format!("`{u}` must be an http(s) or mailto URL"),
                    None,
                );
            }
        }
        if ing.default_interval < Duration::from_secs(10) {
            bad(at("default_interval"), "must be at least 10s".into(), None);
        }
        if self.index.commit_interval.is_zero()
            || self.index.commit_interval > Duration::from_secs(60)
        {
            bad(
                vec![key("index"), key("commit_interval")],
                "must be between 1ms and 60s".into(),
                None,
            );
        }

        let mut names = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let path = |k: &str| vec![key("source"), Seg::Index(i), key(k)];
            let name = source.name();
            if name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            } else if !names.insert(name.to_string()) {
                bad(
                    path("name"),
                    format!("`{name}` is used by another source"),
                    Some("give every source a unique name".into()),
                );
            }
            let url_key = source.url_key();
            if !matches!(source.url().scheme(), "http" | "https") {
                bad(
                    path(url_key),
                    format!("`{}` is not an http or https URL", source.url()),
                    None,
                );
            }
            if source.url().host_str().is_none_or(str::is_empty) {
                bad(
                    path(url_key),
                    format!("`{}` has no host", source.url()),
                    None,
                );
            }
            let own = match source {
                SourceConfig::Rss(_) | SourceConfig::Web(_) => Vec::new(),
                SourceConfig::Mastodon(c) => c.problems(),
                SourceConfig::Bluesky(c) => c.problems(),
                SourceConfig::Reddit(c) => c.problems(),
                SourceConfig::Youtube(c) => c.youtube_problems(),
                SourceConfig::Telegram(c) => c.problems(),
            };
            for (k, msg, help) in own {
                bad(path(k), msg, help);
            }
            if let Some(iv) = source.own_interval() {
                if iv < Duration::from_secs(10) {
                    bad(
                        path("interval"),
                        format!("{} is too short", humantime::format_duration(iv)),
                        Some("poll no more often than every 10s".into()),
                    );
                }
            }
        }

        for (i, id) in self.identities.iter().enumerate() {
            let path = |k: &str| vec![key("identity"), Seg::Index(i), key(k)];
            if id.name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            }
            for (j, d) in id.domains.iter().enumerate() {
                if let Err(msg) = check_domain(d) {
                    let mut p = path("domains");
                    p.push(Seg::Index(j));
                    bad(
                        p,
                        msg,
                        Some("write the bare domain, e.g. \"anytown.gov.uk\"".into()),
                    );
                }
            }
            for (platform, handles) in &id.handles {
                let mut p = path("handles");
                p.push(key(platform));
                if !HANDLE_PLATFORMS.contains(&platform.as_str()) {
                    let help = did_you_mean(platform, HANDLE_PLATFORMS.iter().copied())
                        .or_else(|| Some(format!("platforms: {}", HANDLE_PLATFORMS.join(", "))));
                    bad(p, format!("unknown platform `{platform}`"), help);
                    continue;
                }
                for (j, h) in handles.iter().enumerate() {
                    if let Err((msg, help)) = check_handle(platform, h) {
                        let mut p = p.clone();
                        p.push(Seg::Index(j));
                        bad(p, msg, Some(help.to_string()));
                    }
                }
            }
        }

        let mut ids = HashSet::new();
        for (i, n) in self.narratives.iter().enumerate() {
            let path = |k: &str| vec![key("narrative"), Seg::Index(i), key(k)];
            if n.id.trim().is_empty() {
                bad(path("id"), "must not be empty".into(), None);
            } else if !ids.insert(n.id.clone()) {
                bad(
                    path("id"),
                    format!("`{}` is used by another narrative", n.id),
                    None,
                );
            }
            if n.claim.trim().is_empty() {
                bad(path("claim"), "must not be empty".into(), None);
            }
            if n.rebuttal.trim().is_empty() {
                bad(
                    path("rebuttal"),
                    "must not be empty".into(),
                    Some("give the correct position a comms officer can paste as a reply".into()),
                );
            }
        }

        let d = &self.detectors;
        if !(0.0..=1.0).contains(&d.threshold) {
            bad(
                vec![key("detectors"), key("threshold")],
                format!("{} is out of range", d.threshold),
                Some("use a score from 0 to 1".into()),
            );
        }
        for (name, t) in &d.thresholds {
            if !(0.0..=1.0).contains(t) {
                bad(
                    vec![key("detectors"), key("thresholds"), key(name)],
                    format!("{t} is out of range"),
                    Some("use a score from 0 to 1".into()),
                );
            }
        }
        if d.threads == Some(0) {
            bad(
                vec![key("detectors"), key("threads")],
                "must be at least 1".into(),
                Some("leave it out to use every core".into()),
            );
        }
        if d.batch_size == 0 {
            bad(
                vec![key("detectors"), key("batch_size")],
                "must be at least 1".into(),
                None,
            );
        }
        if d.known_fake_distance > 64 {
            bad(
                vec![key("detectors"), key("known_fake_distance")],
                format!(
                    "{} of 256 bits would match unrelated pictures",
                    d.known_fake_distance
                ),
                Some("use 31 (the usual PDQ threshold) or less".into()),
            );
        }
        if d.ocr.max_side < 32 || d.ocr.max_side > 4096 {
            bad(
                vec![key("detectors"), key("ocr"), key("max_side")],
                format!("{} is out of range", d.ocr.max_side),
                Some("use 32 to 4096 pixels (default 1280)".into()),
            );
        }
        if d.ocr.max_lines == 0 {
            bad(
                vec![key("detectors"), key("ocr"), key("max_lines")],
                "must be at least 1".into(),
                None,
            );
        }
        if !(0.0..=1.0).contains(&d.pixel_model.max_text_fraction) {
            bad(
                vec![
                    key("detectors"),
                    key("pixel_model"),
                    key("max_text_fraction"),
                ],
                format!("{} is out of range", d.pixel_model.max_text_fraction),
                Some("use a fraction from 0 to 1".into()),
            );
        }

        if let Some(smtp) = &self.alerts.smtp {
            let path = |k: &str| vec![key("alerts"), key("smtp"), key(k)];
            if smtp.host.trim().is_empty() {
                bad(path("host"), "must not be empty".into(), None);
            }
            if !looks_like_mailbox(&smtp.from) {
                bad(
                    path("from"),
                    format!("`{}` is not an email address", smtp.from),
                    Some("e.g. \"Ballotwatch <ballotwatch@anytown.gov.uk>\"".into()),
                );
            }
            if smtp.password_env.is_some() && smtp.username.is_none() {
                bad(
                    path("username"),
                    "is needed when password_env is set".into(),
                    None,
                );
            }
        }
        let mut hook_names = HashSet::new();
        for (i, hook) in self.alerts.webhooks.iter().enumerate() {
            let path = |k: &str| vec![key("alerts"), key("webhook"), Seg::Index(i), key(k)];
            if hook.name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            } else if !hook_names.insert(hook.name.clone()) {
                bad(
                    path("name"),
                    format!("`{}` is used by another webhook", hook.name),
                    None,
                );
            }
            if !matches!(hook.url.scheme(), "http" | "https") {
                bad(
                    path("url"),
                    format!("`{}` is not an http or https URL", hook.url),
                    None,
                );
            }
            if hook.secret_env.is_some() && hook.kind != WebhookKind::Json {
                bad(
                    path("secret_env"),
                    "only `kind = \"json\"` webhooks are signed".into(),
                    None,
                );
            }
        }
        let a = &self.alerts;
        for (k, d) in [
            ("group_window", a.group_window),
            ("retry_initial", a.retry_initial),
            ("retry_max", a.retry_max),
            ("dead_letter_after", a.dead_letter_after),
        ] {
            if d.is_zero() {
                bad(
                    vec![key("alerts"), key(k)],
                    "must be more than 0s".into(),
                    None,
                );
            }
        }
        if a.retry_max < a.retry_initial {
            bad(
                vec![key("alerts"), key("retry_max")],
                "must not be shorter than retry_initial".into(),
                None,
            );
        }
        let mut rule_names = HashSet::new();
        for (i, rule) in self.alerts.rules.iter().enumerate() {
            let path = |k: &str| vec![key("alerts"), key("rule"), Seg::Index(i), key(k)];
            if !rule_names.insert(rule.name.clone()) {
                bad(
                    path("name"),
                    format!("`{}` is used by another rule", rule.name),
                    None,
                );
            }
            if rule.to.is_empty() && rule.webhooks.is_empty() {
                bad(
                    path("to"),
                    "names no recipient".into(),
                    Some("list email addresses in `to` or webhook names in `webhooks`".into()),
                );
            }
            for (j, to) in rule.to.iter().enumerate() {
                if !looks_like_mailbox(to) {
                    let mut p = path("to");
                    p.push(Seg::Index(j));
                    bad(p, format!("`{to}` is not an email address"), None);
                }
            }
            for (j, w) in rule.webhooks.iter().enumerate() {
                if !hook_names.contains(w) {
                    let mut p = path("webhooks");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(w, hook_names.iter().map(String::as_str))
                        .or_else(|| Some("add an [[alerts.webhook]] with this name".into()));
                    bad(p, format!("there is no webhook named `{w}`"), help);
                }
            }
            for (j, s) in rule.sources.iter().enumerate() {
                if self.source(s).is_none() {
                    let mut p = path("sources");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(s, self.sources.iter().map(|s| s.name()));
                    bad(p, format!("there is no source named `{s}`"), help);
                }
            }
            for (j, n) in rule.identities.iter().enumerate() {
                if !self.identities.iter().any(|id| &id.name == n) {
                    let mut p = path("identities");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(n, self.identities.iter().map(|i| i.name.as_str()));
                    bad(p, format!("there is no identity named `{n}`"), help);
                }
            }
            if let Some(s) = rule.min_score {
                if !(0.0..=1.0).contains(&s) {
                    bad(
                        path("min_score"),
                        format!("{s} is out of range"),
                        Some("use a score from 0 to 1".into()),
                    );
                }
            }
            if parse_hhmm(&rule.digest_at).is_none() {
                bad(
                    path("digest_at"),
                    format!("`{}` is not a time of day", rule.digest_at),
                    Some("write it as HH:MM (UTC), e.g. \"08:00\"".into()),
                );
            }
            if let Some(q) = &rule.quiet_hours {
                if parse_quiet_hours(q).is_none() {
                    bad(
                        path("quiet_hours"),
                        format!("`{q}` is not a span of hours"),
                        Some("write it as HH:MM-HH:MM (UTC), e.g. \"22:00-07:00\"".into()),
                    );
                }
            }
        }
        if self.alerts.rules.iter().any(|r| !r.to.is_empty()) && self.alerts.smtp.is_none() {
            bad(
                vec![key("alerts"), key("rule")],
                "alert rules need a mail server".into(),
                Some("add an [alerts.smtp] table".into()),
            );
        }
        for (j, to) in self.alerts.admin_to.iter().enumerate() {
            if !looks_like_mailbox(to) {
                let p = vec![key("alerts"), key("admin_to"), Seg::Index(j)];
                bad(p, format!("`{to}` is not an email address"), None);
            }
        }
        if !self.alerts.admin_to.is_empty() && self.alerts.smtp.is_none() {
            bad(
                vec![key("alerts"), key("admin_to")],
                "admin notices by email need a mail server".into(),
                Some("add an [alerts.smtp] table".into()),
            );
        }
        for (j, w) in self.alerts.admin_webhooks.iter().enumerate() {
            if !hook_names.contains(w) {
                let p = vec![key("alerts"), key("admin_webhooks"), Seg::Index(j)];
                let help = did_you_mean(w, hook_names.iter().map(String::as_str))
                    .or_else(|| Some("add an [[alerts.webhook]] with this name".into()));
                bad(p, format!("there is no webhook named `{w}`"), help);
            }
        }
        out
    }
}

/// Checks a bare domain name such as `anytown.gov.uk`.
pub fn check_domain(d: &str) -> Result<(), String> {
    if d.contains("://") || d.contains('/') {
        return Err(format!("`{d}` is a URL, not a domain"));
    }
    let labels: Vec<&str> = d.trim_end_matches('.').split('.').collect();
    let ok_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(ok_label) || d.len() > 253 {
        return Err(format!("`{d}` is not a valid domain name"));
    }
    Ok(())
}

/// Checks an official handle for a platform; on failure gives (message, help).
pub fn check_handle(platform: &str, h: &str) -> Result<(), (String, &'static str)> {
    let word =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c));
    let ok = match platform {
        "mastodon" => {
            let parts: Vec<&str> = h.strip_prefix('@').unwrap_or("").split('@').collect();
            parts.len() == 2 && word(parts[0]) && check_domain(parts[1]).is_ok()
        }
        "bluesky" => {
            h.strip_prefix("did:plc:")
                .is_some_and(|r| r.len() == 24 && r.chars().all(|c| c.is_ascii_alphanumeric()))
                || h.starts_with("did:web:") && check_domain(&h[8..]).is_ok()
                || check_domain(h.trim_start_matches('@')).is_ok()
        }
        // Platform user-name rules: (longest, allowed punctuation besides letters and digits).
        _ => {
            let name = h.strip_prefix('@').unwrap_or(h);
            let (max, punct) = match platform {
                "x" => (15, "_"),
                "telegram" => (32, "_"),
                "instagram" => (30, "._"),
                "tiktok" => (24, "._"),
                "youtube" => (100, "._-"),
                _ => (80, "._-"),
            };
            !name.is_empty()
                && name.chars().count() <= max
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || punct.contains(c))
        }
    };
    if ok {
        return Ok(());
    }
    let help = match platform {
        "mastodon" => {
            "Mastodon handles are written @user@instance, e.g. \"@anytown@social.example\""
        }
        "bluesky" => "Bluesky handles are domains (\"anytown.gov.uk\") or DIDs (\"did:plc:…\")",
        "x" => "X handles are up to 15 letters, digits or underscores, e.g. \"@AnytownBC\"",
        "telegram" => "Telegram user names are up to 32 letters, digits or underscores",
        "instagram" | "tiktok" => {
            "write the user name as shown on the profile: letters, digits, '.' and '_'"
        }
        _ => "write the handle as shown on the platform, e.g. \"@AnytownBC\"",
    };
    Err((format!("`{h}` is not a valid {platform} handle"), help))
}

fn looks_like_mailbox(s: &str) -> bool {
    let addr = match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let mut parts = addr.trim().splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(l), Some(d)) if !l.is_empty() && !l.contains(' ') && check_domain(d).is_ok())
}

/// The closest candidate to `word`, phrased as a hint, when one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

fn to_segs(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Rewrites serde's message into ours: (message, help, field the message is about).
fn explain_serde_message(msg: &str) -> (String, Option<String>, Option<String>) {
    let msg = msg.trim();
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            let expected = ticked(rest.split_once("expected").map(|x| x.1).unwrap_or(""));
            let help = did_you_mean(&name, expected.iter().map(String::as_str)).or_else(|| {
                (!expected.is_empty()).then(|| format!("expected one of: {}", expected.join(", ")))
            });
            let field = (what == "key").then(|| name.clone());
            return (format!("unknown {what} `{name}`"), help, field);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default().to_string();
        return (format!("missing required key `{name}`"), None, None);
    }
    (msg.to_string(), None, None)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Finds the span of the deepest part of `path` present in the document.
fn locate(root: &toml_edit::Table, path: &[Seg]) -> Option<Range<usize>> {
    use toml_edit::{Item, Value};
    enum Node<'a> {
        Table(&'a toml_edit::Table),
        Inline(&'a toml_edit::InlineTable),
        Array(&'a toml_edit::Array),
        Tables(&'a toml_edit::ArrayOfTables),
        Leaf,
    }
    fn of_value(v: &Value) -> Node<'_> {
        match v {
            Value::Array(a) => Node::Array(a),
            Value::InlineTable(t) => Node::Inline(t),
            _ => Node::Leaf,
        }
    }
    fn of_item(i: &Item) -> Node<'_> {
        match i {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => of_value(v),
            Item::None => Node::Leaf,
        }
    }
    let mut node = Node::Table(root);
    let mut best = None;
    for seg in path {
        let next = match (&node, seg) {
            (Node::Table(t), Seg::Key(k)) => t
                .get_key_value(k)
                .map(|(key, item)| (key.span().or(item.span()), of_item(item))),
            (Node::Inline(t), Seg::Key(k)) => t
                .get_key_value(k)
                .map(|(key, item)| (key.span().or(item.span()), of_item(item))),
            (Node::Array(a), Seg::Index(i)) => a.get(*i).map(|v| (v.span(), of_value(v))),
            (Node::Tables(a), Seg::Index(i)) => a.get(*i).map(|t| (t.span(), Node::Table(t))),
            _ => None,
        };
        match next {
            Some((span, n)) => {
                if span.is_some() {
                    best = span;
                }
                node = n;
            }
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_EXAMPLE: &str = r#"
data_dir = "/var/lib/ballotwatch"
[server]
bind = "127.0.0.1:8080"
public_url = "https://ballotwatch.example.gov.uk"
[watch]
terms = ["Anytown", "Riverside ward", "Jane Okafor", "polling station"]
[[source]]
name = "Anytown Echo"
kind = "rss"
url = "https://news.example/rss"
interval = "5m"
[[identity]]
name = "Anytown Borough Council"
kind = "organisation"
domains = ["anytown.gov.uk"]
handles = { bluesky = ["anytown.gov.uk"], mastodon = ["@anytown@social.example"], x = ["@AnytownBC"] }
logos = ["/etc/ballotwatch/logo.png"]
[[narrative]]
id = "bridge-closed"
claim = "The Riverside polling station is closed because the bridge is shut"
examples = ["Riverside polling station shut, bridge closed, don't go"]
rebuttal = "All polling stations are open 7am-10pm; check your poll card or anytown.gov.uk/vote"
source = "https://anytown.gov.uk/elections"
[detectors]
threshold = 0.5
models_dir = "./models"
[alerts.smtp]
host = "smtp.example.gov.uk"
port = 587
tls = "starttls"
username = "ballotwatch"
password_env = "BALLOTWATCH_SMTP_PASSWORD"
from = "Ballotwatch <ballotwatch@example.gov.uk>"
[[alerts.rule]]
name = "comms-high"
kinds = ["impersonation", "synthetic_media", "misinformation"]
min_severity = "medium"
to = ["comms@example.gov.uk"]
mode = "immediate"
[evidence]
signing_key = "/var/lib/ballotwatch/evidence.key"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("bw.toml"))
    }

    fn one_problem(text: &str) -> ConfigProblem {
        let err = parse(text).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].clone()
    }

    #[test]
    fn the_contract_example_is_valid() {
        let c = parse(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].interval(&c.ingest), Duration::from_secs(300));
        assert_eq!(
            c.identities[0].handles["mastodon"],
            ["@anytown@social.example"]
        );
        assert_eq!(c.alerts.rules[0].min_severity, Severity::Medium);
        assert_eq!(c.ingest.max_response_size, ByteSize::mib(10));
    }

    #[test]
    fn limits_have_defaults_and_refuse_zero() {
        let c = parse("data_dir = \"d\"\n").unwrap();
        assert_eq!(c.limits.max_query_depth, 16);
        assert_eq!(c.limits.quarantine_after, 2);
        assert_eq!(c.limits.verify_max_unpacked, ByteSize::gib(8));
        let c = parse(
            "data_dir = \"d\"\n[limits]\ndiff_timeout = \"500ms\"\nmax_item_text = \"64 KiB\"\n",
        )
        .unwrap();
        assert_eq!(c.limits.diff_timeout, Duration::from_millis(500));
        assert_eq!(c.limits.max_item_text, ByteSize::kib(64));
        let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_depth = 0\n");
        assert_eq!(p.field, "limits.max_html_depth", "{p}");
        let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_dept = 10\n");
        assert!(p.to_string().contains("max_html_depth"), "{p}");
    }

    #[test]
    fn max_html_depth_above_the_ceiling_is_a_problem() {
        let c = parse("data_dir = \"d\"\n[limits]\nmax_html_depth = 1024\n").unwrap();
        assert_eq!(c.limits.max_html_depth, MAX_HTML_DEPTH_CEILING);
        let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_depth = 1025\n");
        assert_eq!(p.field, "limits.max_html_depth", "{p}");
        assert_eq!(p.line, Some(3), "{p}");
        assert!(p.message.contains("at most 1024"), "{p}");
    }

    #[test]
    fn known_fake_distance_defaults_to_31_and_is_bounded() {
        let c = parse("data_dir = \"d\"\n").unwrap();
        assert_eq!(c.detectors.known_fake_distance, 31);
        let p = one_problem("data_dir = \"d\"\n[detectors]\nknown_fake_distance = 100\n");
        assert_eq!(p.field, "detectors.known_fake_distance", "{p}");
    }

    #[test]
    fn ocr_and_pixel_model_keys_are_checked() {
        let p = one_problem("data_dir = \"d\"\n[detectors.ocr]\nmax_side = 8\n");
        assert_eq!(p.field, "detectors.ocr.max_side", "{p}");
        let p = one_problem("data_dir = \"d\"\n[detectors.pixel_model]\nmax_text_fraction = 2.0\n");
        assert_eq!(p.field, "detectors.pixel_model.max_text_fraction", "{p}");
        let p = one_problem("data_dir = \"d\"\n[detectors.pixel_model]\nmodel = \"x\"\n");
        assert!(p.to_string().contains("model"), "{p}");
        let c = parse(
            "data_dir = \"d\"\n[detectors.pixel_model]\nmanifest = \"mine/manifest.toml\"\n[detectors.ocr]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(
            c.detectors.pixel_model.manifest.as_deref(),
            Some(std::path::Path::new("mine/manifest.toml"))
        );
        assert!(!c.detectors.ocr.enabled && c.detectors.pixel_model.enabled);
        assert_eq!(c.detectors.ocr.max_side, 1280);
    }

    #[test]
    fn detector_threads_and_batch_size_must_be_positive() {
        let p = one_problem("data_dir = \"d\"\n[detectors]\nthreads = 0\n");
        assert_eq!(p.field, "detectors.threads", "{p}");
        assert_eq!(p.line, Some(3), "{p}");
        let p = one_problem("data_dir = \"d\"\n[detectors]\nbatch_size = 0\n");
        assert_eq!(p.field, "detectors.batch_size", "{p}");
        let c = parse("data_dir = \"d\"\n[detectors]\nthreads = 2\n").unwrap();
        assert_eq!((c.detectors.threads, c.detectors.batch_size), (Some(2), 32));
    }

    #[test]
    fn unknown_source_key_names_line_field_and_suggestion() {
        let text = "data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/\"\nintervl = \"5m\"\n";
        let p = one_problem(text);
        assert_eq!(p.line, Some(6), "{p}");
        assert_eq!(p.field, "source[0].intervl");
        assert_eq!(p.help.as_deref(), Some("did you mean `interval`?"));
        assert!(
            p.to_string()
                .starts_with("bw.toml:6: `source[0].intervl`: unknown key"),
            "{p}"
        );
    }

    #[test]
    fn unknown_top_level_key_and_table() {
        let p = one_problem("data_dir = \"d\"\n\n[watc]\nterms = []\n");
        assert_eq!(p.line, Some(3));
        assert_eq!(p.help.as_deref(), Some("did you mean `watch`?"));
    }

    #[test]
    fn unknown_source_kind_suggests() {
        let p = one_problem("data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rs\"\nurl = \"https://a.example/\"\n");
        assert!(p.message.contains("unknown value `rs`"), "{p}");
        assert_eq!(p.help.as_deref(), Some("did you mean `rss`?"));
        assert_eq!(p.line, Some(4), "{p}");
    }

    #[test]
    fn bad_duration_and_bad_url_name_their_field() {
        let p = one_problem("data_dir = \"d\"\n[ingest]\ntimeout = \"soon\"\n");
        assert_eq!(p.field, "ingest.timeout");
        assert_eq!(p.line, Some(3));
        let p = one_problem(
            "data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rss\"\nurl = \"not a url\"\n",
        );
        assert!(p.field.starts_with("source[0]"), "{p}");
        assert!(p.line.is_some());
    }

    #[test]
    fn missing_required_key() {
        let p = one_problem("[watch]\nterms = []\n");
        assert!(p.message.contains("missing required key `data_dir`"), "{p}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let p = one_problem("data_dir = \"d\"\n[watch\nterms = []\n");
        assert!(p.message.starts_with("not valid TOML"), "{p}");
        assert_eq!(p.line, Some(2));
    }

    #[test]
    fn validation_reports_every_problem_with_lines() {
        let text = r#"data_dir = "d"
[[source]]
name = "a"
kind = "rss"
url = "ftp://a.example/"
[[source]]
name = "a"
kind = "rss"
url = "https://b.example/"
interval = "1s"
[[identity]]
name = "Council"
kind = "organisation"
domains = ["https://anytown.gov.uk"]
handles = { mastodn = ["@a@b.example"], bluesky = ["not a handle"] }
"#;
        let err = parse(text).unwrap_err();
        let by_field: BTreeMap<_, _> = err
            .problems()
            .iter()
            .map(|p| (p.field.as_str(), p))
            .collect();
        assert_eq!(by_field["source[0].url"].line, Some(5));
        assert_eq!(by_field["source[1].name"].line, Some(7));
        assert_eq!(by_field["source[1].interval"].line, Some(10));
        assert_eq!(by_field["identity[0].domains[0]"].line, Some(14));
        assert_eq!(
            by_field["identity[0].handles.mastodn"].help.as_deref(),
            Some("did you mean `mastodon`?")
        );
        assert!(by_field.contains_key("identity[0].handles.bluesky[0]"));
        assert_eq!(err.problems().len(), 6, "{err}");
    }

    #[test]
    fn admin_notice_recipients_are_validated() {
        let text = "data_dir = \"d\"\n[alerts]\nadmin_to = [\"it@anytown.gov.uk\", \"ops\"]\n\
                    admin_webhooks = [\"tems\"]\n[[alerts.webhook]]\nname = \"teams\"\n\
                    kind = \"teams\"\nurl = \"https://hooks.example/x\"\n";
        let err = parse(text).unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "alerts.admin_to[1]",
                "alerts.admin_to",
                "alerts.admin_webhooks[0]"
            ],
            "{err}"
        );
        assert!(err.to_string().contains("did you mean `teams`"), "{err}");
        let ok = parse(
            "data_dir = \"d\"\n[alerts]\nadmin_to = [\"it@anytown.gov.uk\"]\n\
             [alerts.smtp]\nhost = \"smtp.example\"\nfrom = \"bw@anytown.gov.uk\"\n",
        )
        .unwrap();
        assert_eq!(ok.alerts.admin_to, ["it@anytown.gov.uk"]);
    }

    #[test]
    fn rules_need_smtp_and_valid_recipients() {
        let text = "data_dir = \"d\"\n[[alerts.rule]]\nname = \"r\"\nto = [\"comms\"]\n";
        let err = parse(text).unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"alerts.rule[0].to[0]"), "{fields:?}");
        assert!(fields.contains(&"alerts.rule"), "{fields:?}");
    }

    #[test]
    fn load_resolves_relative_paths_and_names_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bw.toml");
        std::fs::write(&path, "data_dir = \"data\"\n").unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert!(c.evidence.trusted_keys.is_empty());
        std::fs::write(
            &path,
            "data_dir = \"data\"\n[evidence]\ntrusted_keys = [\"keys/council.pub\", \"/etc/ro.pub\"]\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.evidence.trusted_keys,
            [
                dir.path().join("keys/council.pub"),
                PathBuf::from("/etc/ro.pub")
            ]
        );
        let err = Config::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }

    #[test]
    fn handles_and_domains() {
        assert!(check_handle("mastodon", "@anytown@social.example").is_ok());
        assert!(check_handle("mastodon", "anytown").is_err());
        assert!(check_handle("bluesky", "anytown.gov.uk").is_ok());
        assert!(check_handle("bluesky", "did:plc:abcdefghijklmnopqrstuvwx").is_ok());
        assert!(check_handle("x", "@AnytownBC").is_ok());
        assert!(check_handle("x", "@Anytown BC").is_err());
        assert!(check_handle("x", "@AnytownBoroughCouncil").is_err());
        assert!(check_handle("x", "@Anytown.BC").is_err());
        assert!(check_handle("instagram", "@anytown.council").is_ok());
        assert!(check_handle("telegram", "@anytown_elections").is_ok());
        assert!(check_handle("facebook", "AnytownCouncil").is_ok());
        assert!(check_handle("facebook", "https://facebook.com/x").is_err());
        assert!(check_domain("anytown.gov.uk").is_ok());
        assert!(check_domain("anytown").is_err());
        assert!(check_domain("-a.example").is_err());
    }

    proptest::proptest! {
        #[test]
        fn loading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn every_problem_line_is_inside_the_file(extra in "[a-z_]{1,12}") {
            let text = format!("data_dir = \"d\"\n[ingest]\n{extra} = 1\n");
            if let Err(e) = parse(&text) {
                for p in e.problems() {
                    let line = p.line.unwrap_or(1);
                    proptest::prop_assert!((1..=3).contains(&line));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn times_of_day_parse_exactly(h in 0u32..24, m in 0u32..60, junk in "\\PC{0,12}") {
            proptest::prop_assert_eq!(parse_hhmm(&format!("{h:02}:{m:02}")), Some(h * 60 + m));
            // Anything else never panics, and what it accepts is a valid time.
            if let Some(v) = parse_hhmm(&junk) {
                proptest::prop_assert!(v < 24 * 60);
            }
            if let Some((a, b)) = parse_quiet_hours(&junk) {
                proptest::prop_assert!(a < 24 * 60 && b < 24 * 60 && a != b);
            }
        }
    }

    #[test]
    fn alert_rules_and_webhooks_are_validated() {
        let text = "data_dir = \"d\"\n[alerts]\nretry_initial = \"10m\"\nretry_max = \"1m\"\n\
            [[alerts.webhook]]\nname = \"t\"\nkind = \"teams\"\nurl = \"ftp://x.example/\"\nsecret_env = \"S\"\n\
            [[alerts.rule]]\nname = \"r\"\nwebhooks = [\"teams\"]\nsources = [\"Nope\"]\n\
            digest_at = \"8am\"\nquiet_hours = \"22:00\"\nmin_score = 2.0\n";
        let Err(ConfigError::Invalid(problems)) = Config::from_toml(text, Path::new("c.toml"))
        else {
            panic!("should be invalid");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "alerts.retry_max",
            "alerts.webhook[0].url",
            "alerts.webhook[0].secret_env",
            "alerts.rule[0].webhooks[0]",
            "alerts.rule[0].sources[0]",
            "alerts.rule[0].digest_at",
            "alerts.rule[0].quiet_hours",
            "alerts.rule[0].min_score",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        // A webhook-only rule needs no mail server.
        let ok = "data_dir = \"d\"\n[[alerts.webhook]]\nname = \"t\"\nkind = \"slack\"\nurl = \"https://h.example/x\"\n\
            [[alerts.rule]]\nname = \"r\"\nwebhooks = [\"t\"]\n";
        assert!(Config::from_toml(ok, Path::new("c.toml")).is_ok());
    }

    #[test]
    fn server_web_keys_are_read_and_validated() {
        let ok = "data_dir = \"d\"\n[server]\nmetrics_bind = \"127.0.0.1:9090\"\n\
            session_ttl = \"8h\"\nlogin_max_failures = 3\nlogin_lockout = \"30m\"\n";
        let c = Config::from_toml(ok, Path::new("c.toml")).unwrap();
        assert_eq!(
            c.server.metrics_bind,
            Some(SocketAddr::from(([127, 0, 0, 1], 9090)))
        );
        assert_eq!(c.server.session_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(c.server.login_max_failures, 3);
        assert_eq!(c.server.login_lockout, Duration::from_secs(1800));
        let d = Config::from_toml("data_dir = \"d\"\n", Path::new("c.toml")).unwrap();
        assert_eq!(d.server.login_max_failures, 5);
        assert_eq!(
            c.server.attempts_per_address(),
            2,
            "one fewer than the failures"
        );
        assert_eq!(d.server.attempts_per_address(), 4);
        assert_eq!(d.server.login_window, Duration::from_secs(900));
        assert_eq!(d.server.login_max_lockout, Duration::from_secs(86400));
        for (toml, field) in [
            (
                "login_attempts_per_address = 5",
                "server.login_attempts_per_address",
            ),
            (
                "login_attempts_per_address = 0",
                "server.login_attempts_per_address",
            ),
            ("login_max_failures = 1", "server.login_max_failures"),
            ("login_window = \"0s\"", "server.login_window"),
            ("login_max_lockout = \"1m\"", "server.login_max_lockout"),
        ] {
            let bad = format!("data_dir = \"d\"\n[server]\n{toml}\n");
            let Err(ConfigError::Invalid(problems)) = Config::from_toml(&bad, Path::new("c.toml"))
            else {
                panic!("{toml} should be invalid");
            };
            assert!(
                problems.iter().any(|p| p.field == field),
                "{toml}: {problems:?}"
            );
        }
        let bad = "data_dir = \"d\"\n[server]\nlogin_max_failures = 0\nsession_ttl = \"0s\"\n";
        let Err(ConfigError::Invalid(problems)) = Config::from_toml(bad, Path::new("c.toml"))
        else {
            panic!("should be invalid");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"server.login_max_failures"), "{fields:?}");
        assert!(fields.contains(&"server.session_ttl"), "{fields:?}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges_and_name_a_bad_one() {
        let ok = "data_dir = \"d\"\n[server]\ntrusted_proxies = [\"127.0.0.1\", \
                  \"10.0.0.0/24\", \"::1\"]\n";
        let c = Config::from_toml(ok, Path::new("c.toml")).unwrap();
        let got: Vec<String> = c
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(got, ["127.0.0.1/32", "10.0.0.0/24", "::1/128"]);
        let bad = "data_dir = \"d\"\n[server]\ntrusted_proxies = [\"proxy.local\"]\n";
        let e = Config::from_toml(bad, Path::new("c.toml"))
            .expect_err("a host name is not an address")
            .to_string();
        assert!(
            e.contains("trusted_proxies") && e.contains("`proxy.local` is not an IP address"),
            "{e}"
        );
    }
}
