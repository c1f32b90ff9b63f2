//! `[ingest]`: the fetcher's rules, shared by every source. Each source kind's own keys are in
//! its folder (`sources/<kind>/config.rs`).

use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use bytesize::ByteSize;
use serde::Deserialize;
use url::Url;

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

impl Validate for IngestConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if !(0.0..=0.5).contains(&self.jitter) {
            problems.advise(
                at.key("jitter"),
                format!("{} is out of range", self.jitter),
                "use a fraction from 0 to 0.5",
            );
        }
        if self.max_response_size.as_u64() < 1024 {
            problems.add(at.key("max_response_size"), "must be at least 1 KiB", None);
        }
        if self.per_host_concurrency == 0 {
            problems.add(at.key("per_host_concurrency"), "must be at least 1", None);
        }
        if self.connect_timeout.is_zero() || self.timeout.is_zero() {
            let field = if self.timeout.is_zero() {
                "timeout"
            } else {
                "connect_timeout"
            };
            problems.add(at.key(field), "must be more than 0s", None);
        }
        if self.max_redirects > 20 {
            problems.add(at.key("max_redirects"), "must be 20 or fewer", None);
        }
        if let Some(u) = &self.contact_url {
            if !matches!(u.scheme(), "http" | "https" | "mailto") {
                problems.add(
                    at.key("contact_url"),
                    format!("`{u}` must be an http(s) or mailto URL"),
                    None,
                );
            }
        }
        if self.default_interval < Duration::from_secs(10) {
            problems.add(at.key("default_interval"), "must be at least 10s", None);
        }
    }
}
