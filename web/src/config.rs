//! `[server]`: where the web UI and API listen, sessions and the login rate limits.

use std::net::SocketAddr;
use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use serde::Deserialize;
use url::Url;

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

impl Validate for ServerConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.login_max_failures == 0 {
            problems.advise(
                at.key("login_max_failures"),
                "must be at least 1",
                "5 locks an account after five wrong passwords in a row",
            );
        }
        if self.login_attempts_per_address == Some(0) {
            problems.advise(
                at.key("login_attempts_per_address"),
                "must be at least 1",
                "4 lets one address try four times per `login_window`",
            );
        } else if self.attempts_per_address() >= self.login_max_failures
            && self.login_max_failures > 0
        {
            let field = if self.login_attempts_per_address.is_some() {
                "login_attempts_per_address"
            } else {
                "login_max_failures"
            };
            problems.add(
                at.key(field),
                format!(
                    "must be below `login_max_failures` ({}), or one address could lock any \
                     account",
                    self.login_max_failures
                ),
                Some(format!(
                    "set it to {} or less, or raise `login_max_failures`",
                    self.login_max_failures.saturating_sub(1).max(1)
                )),
            );
        }
        if self.login_window.is_zero() {
            problems.advise(
                at.key("login_window"),
                "must be longer than zero",
                "for example \"15m\"",
            );
        }
        if self.login_max_lockout < self.login_lockout {
            problems.advise(
                at.key("login_max_lockout"),
                "must not be shorter than `login_lockout`",
                "for example \"24h\"",
            );
        }
        if self.session_ttl.is_zero() {
            problems.advise(
                at.key("session_ttl"),
                "must be longer than zero",
                "for example \"12h\"",
            );
        }
    }
}

/// `[reports]`: the Report page, `POST /api/v1/reports` and the public report form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Serve the public report form at `/report` (no login). Off by default.
    pub public_form: bool,
    /// Most files one report from the Report page or the API may carry.
    pub max_files: usize,
    /// Largest file of a report from the Report page or the API.
    pub max_file_size: bytesize::ByteSize,
    /// Most URLs one report from the Report page or the API may carry.
    pub max_urls: usize,
    /// Most files one report from the public form may carry.
    pub public_max_files: usize,
    /// Largest file of a report from the public form.
    pub public_max_file_size: bytesize::ByteSize,
    /// Most URLs one report from the public form may carry.
    pub public_max_urls: usize,
    /// Reports one client address (an IPv6 /64; behind `trusted_proxies`, the address they
    /// forward) may send through the public form within `public_window`.
    pub public_per_address: u32,
    /// The window `public_per_address` is counted in.
    #[serde(with = "humantime_serde")]
    pub public_window: Duration,
    /// Days a report's reporter (who sent it: a mail address, a user name) is kept; then it is
    /// replaced by "(removed after N days)" by a daily sweep (the report and its item stay).
    pub reporter_retention_days: u32,
    /// A reported picture within this many bits (of 256) of one reported before (PDQ hashes)
    /// is the same picture: the report joins that item. 31 is PDQ's published match threshold.
    pub same_picture_distance: u32,
    /// How many reports joining one incident within how long raise its severity one step.
    pub burst: BurstConfig,
}

/// The default of `[reports] reporter_retention_days`: long enough to cover an election's
/// count, the 21 days in which an election petition can be brought, and following a report up
/// with the person who sent it; short enough that residents' addresses are not kept long after
/// the election they wrote about (UK GDPR storage limitation).
pub const DEFAULT_REPORTER_RETENTION_DAYS: u32 = 90;
/// The longest `[reports] reporter_retention_days` allowed (ten years).
pub const MAX_REPORTER_RETENTION_DAYS: u32 = 3650;

/// `[reports] burst = { count = 5, within = "30m" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BurstConfig {
    /// Reports (including the one that completes the burst).
    pub count: u32,
    /// Within this long.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
}

impl Default for BurstConfig {
    /// Five reports in half an hour: an elections inbox gets a few reports a day, so five
    /// people sending the same thing within 30 minutes means it is spreading now; fewer (or a
    /// longer window) would fire on ordinary repeat reports over a polling day.
    fn default() -> Self {
        BurstConfig {
            count: 5,
            within: Duration::from_secs(30 * 60),
        }
    }
}

/// Largest `[reports] same_picture_distance` (the picture index answers up to this exactly).
pub const MAX_SAME_PICTURE_DISTANCE: u32 = 47;

/// Most files of one report: as many as media capture takes for one item.
pub const MAX_REPORT_FILES: usize = 8;
/// Most URLs of one report.
pub const MAX_REPORT_URLS: usize = 20;

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            public_form: false,
            max_files: MAX_REPORT_FILES,
            max_file_size: bytesize::ByteSize::mb(50),
            max_urls: 10,
            public_max_files: 3,
            public_max_file_size: bytesize::ByteSize::mb(10),
            public_max_urls: 3,
            public_per_address: 5,
            public_window: Duration::from_secs(3600),
            reporter_retention_days: DEFAULT_REPORTER_RETENTION_DAYS,
            same_picture_distance: 31,
            burst: BurstConfig::default(),
        }
    }
}

impl Validate for ReportsConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        for (key, n, max) in [
            ("max_files", self.max_files, MAX_REPORT_FILES),
            ("public_max_files", self.public_max_files, MAX_REPORT_FILES),
            ("max_urls", self.max_urls, MAX_REPORT_URLS),
            ("public_max_urls", self.public_max_urls, MAX_REPORT_URLS),
        ] {
            if n == 0 || n > max {
                problems.add(
                    at.key(key),
                    format!("must be between 1 and {max}"),
                    Some(format!(
                        "{max} at most: media capture takes {MAX_REPORT_FILES} files per item"
                    )),
                );
            }
        }
        for (key, size) in [
            ("max_file_size", self.max_file_size),
            ("public_max_file_size", self.public_max_file_size),
        ] {
            if size.as_u64() == 0 {
                problems.advise(
                    at.key(key),
                    "must be more than zero",
                    "for example \"10MB\"",
                );
            } else if size.as_u64() > 1 << 30 {
                problems.advise(at.key(key), "must be 1 GiB or less", "for example \"50MB\"");
            }
        }
        if self.public_per_address == 0 {
            problems.advise(
                at.key("public_per_address"),
                "must be at least 1",
                "5 lets one address send five reports per `public_window`",
            );
        }
        if self.same_picture_distance > MAX_SAME_PICTURE_DISTANCE {
            problems.advise(
                at.key("same_picture_distance"),
                format!("must be {MAX_SAME_PICTURE_DISTANCE} or less"),
                "31 is PDQ's published match threshold",
            );
        }
        if self.burst.count < 2 {
            problems.advise(
                at.key("burst").key("count"),
                "must be at least 2",
                "for example 5",
            );
        }
        if self.burst.within.is_zero() {
            problems.advise(
                at.key("burst").key("within"),
                "must be longer than zero",
                "for example \"30m\"",
            );
        }
        if self.public_window.is_zero() {
            problems.advise(
                at.key("public_window"),
                "must be longer than zero",
                "for example \"1h\"",
            );
        }
        if self.reporter_retention_days == 0
            || self.reporter_retention_days > MAX_REPORTER_RETENTION_DAYS
        {
            problems.advise(
                at.key("reporter_retention_days"),
                format!("must be between 1 and {MAX_REPORTER_RETENTION_DAYS}"),
                "90 (the default) keeps who sent a report for about three months",
            );
        }
    }
}

#[cfg(test)]
mod reports_tests {
    use super::*;

    fn problems_of(c: &ReportsConfig) -> Vec<String> {
        let mut p = Problems::default();
        c.validate(&FieldPath::root().key("reports"), &mut p);
        p.iter()
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    }

    #[test]
    fn report_limits_are_checked_with_their_place() {
        assert!(problems_of(&ReportsConfig::default()).is_empty());
        let bad = ReportsConfig {
            max_files: 0,
            public_max_files: 9,
            public_max_file_size: bytesize::ByteSize::b(0),
            public_per_address: 0,
            public_window: Duration::ZERO,
            ..ReportsConfig::default()
        };
        let all = problems_of(&bad).join("\n");
        for key in [
            "reports.max_files",
            "reports.public_max_files",
            "reports.public_max_file_size",
            "reports.public_per_address",
            "reports.public_window",
        ] {
            assert!(all.contains(key), "{key} missing from:\n{all}");
        }
    }
}
