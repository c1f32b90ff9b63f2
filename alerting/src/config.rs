//! `[alerts]`: SMTP, rules and webhooks, what alerting reads, and their rules. Whether a rule's
//! `sources` and `identities` exist is checked by the root configuration, which sees those
//! tables.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use ballotwatch_core::config::{
    deserialize_table, did_you_mean, looks_like_mailbox, read_list, FieldPath, Problems, Validate,
};
use ballotwatch_core::{Severity, VerdictKind};
use serde::Deserialize;
use url::Url;

use crate::time::{QuietHours, TimeOfDay, Zone};

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
    /// The time zone rules' `quiet_hours` and `digest_at` are read in (an IANA name; default
    /// `Europe/London`, so they follow BST and GMT).
    #[serde(default)]
    pub timezone: Zone,
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
            timezone: Zone::default(),
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
    pub digest_at: TimeOfDay,
    /// Hours (UTC, `HH:MM-HH:MM`) when immediate alerts below `high` wait until the end.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
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

fn default_digest_at() -> TimeOfDay {
    TimeOfDay::EIGHT_AM
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

impl AlertsConfig {
    /// Reads `[alerts]` (found at `at`) with each `[[alerts.rule]]` and `[[alerts.webhook]]` on
    /// its own, so that a mistake in one rule does not hide the mistakes of the others. Every
    /// problem is recorded; `None` if any part could not be read.
    pub fn read(
        value: toml::Value,
        at: &FieldPath,
        problems: &mut Problems,
    ) -> Option<AlertsConfig> {
        let toml::Value::Table(mut table) = value else {
            return deserialize_table(value, at, problems);
        };
        let rules = read_list(
            table.remove("rule"),
            &at.key("rule"),
            problems,
            deserialize_table::<AlertRule>,
        );
        let webhooks = read_list(
            table.remove("webhook"),
            &at.key("webhook"),
            problems,
            deserialize_table::<WebhookConfig>,
        );
        let rest = deserialize_table::<AlertsConfig>(toml::Value::Table(table), at, problems);
        let rules: Vec<AlertRule> = rules?.into_iter().collect::<Option<_>>()?;
        let webhooks: Vec<WebhookConfig> = webhooks?.into_iter().collect::<Option<_>>()?;
        let mut alerts = rest?;
        alerts.rules = rules;
        alerts.webhooks = webhooks;
        Some(alerts)
    }
}

impl Validate for AlertsConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if let Some(smtp) = &self.smtp {
            let at = at.key("smtp");
            if smtp.host.trim().is_empty() {
                problems.add(at.key("host"), "must not be empty", None);
            }
            if !looks_like_mailbox(&smtp.from) {
                problems.advise(
                    at.key("from"),
                    format!("`{}` is not an email address", smtp.from),
                    "e.g. \"Ballotwatch <ballotwatch@anytown.gov.uk>\"",
                );
            }
            if smtp.password_env.is_some() && smtp.username.is_none() {
                problems.add(
                    at.key("username"),
                    "is needed when password_env is set",
                    None,
                );
            }
        }
        let mut hook_names = HashSet::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            let at = at.key("webhook").index(i);
            if hook.name.trim().is_empty() {
                problems.add(at.key("name"), "must not be empty", None);
            } else if !hook_names.insert(hook.name.as_str()) {
                problems.add(
                    at.key("name"),
                    format!("`{}` is used by another webhook", hook.name),
                    None,
                );
            }
            if !matches!(hook.url.scheme(), "http" | "https") {
                problems.add(
                    at.key("url"),
                    format!("`{}` is not an http or https URL", hook.url),
                    None,
                );
            }
            if hook.secret_env.is_some() && hook.kind != WebhookKind::Json {
                problems.add(
                    at.key("secret_env"),
                    "only `kind = \"json\"` webhooks are signed",
                    None,
                );
            }
        }
        for (k, d) in [
            ("group_window", self.group_window),
            ("retry_initial", self.retry_initial),
            ("retry_max", self.retry_max),
            ("dead_letter_after", self.dead_letter_after),
        ] {
            if d.is_zero() {
                problems.add(at.key(k), "must be more than 0s", None);
            }
        }
        if self.retry_max < self.retry_initial {
            problems.add(
                at.key("retry_max"),
                "must not be shorter than retry_initial",
                None,
            );
        }
        let unknown_hook = |w: &str| {
            did_you_mean(w, hook_names.iter().copied())
                .or_else(|| Some("add an [[alerts.webhook]] with this name".into()))
        };
        let mut rule_names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = at.key("rule").index(i);
            if !rule_names.insert(rule.name.as_str()) {
                problems.add(
                    at.key("name"),
                    format!("`{}` is used by another rule", rule.name),
                    None,
                );
            }
            if rule.to.is_empty() && rule.webhooks.is_empty() {
                problems.advise(
                    at.key("to"),
                    "names no recipient",
                    "list email addresses in `to` or webhook names in `webhooks`",
                );
            }
            for (j, to) in rule.to.iter().enumerate() {
                if !looks_like_mailbox(to) {
                    problems.add(
                        at.key("to").index(j),
                        format!("`{to}` is not an email address"),
                        None,
                    );
                }
            }
            for (j, w) in rule.webhooks.iter().enumerate() {
                if !hook_names.contains(w.as_str()) {
                    problems.add(
                        at.key("webhooks").index(j),
                        format!("there is no webhook named `{w}`"),
                        unknown_hook(w),
                    );
                }
            }
            if let Some(s) = rule.min_score {
                if !(0.0..=1.0).contains(&s) {
                    problems.advise(
                        at.key("min_score"),
                        format!("{s} is out of range"),
                        "use a score from 0 to 1",
                    );
                }
            }
        }
        if self.rules.iter().any(|r| !r.to.is_empty()) && self.smtp.is_none() {
            problems.advise(
                at.key("rule"),
                "alert rules need a mail server",
                "add an [alerts.smtp] table",
            );
        }
        for (j, to) in self.admin_to.iter().enumerate() {
            if !looks_like_mailbox(to) {
                problems.add(
                    at.key("admin_to").index(j),
                    format!("`{to}` is not an email address"),
                    None,
                );
            }
        }
        if !self.admin_to.is_empty() && self.smtp.is_none() {
            problems.advise(
                at.key("admin_to"),
                "admin notices by email need a mail server",
                "add an [alerts.smtp] table",
            );
        }
        for (j, w) in self.admin_webhooks.iter().enumerate() {
            if !hook_names.contains(w.as_str()) {
                problems.add(
                    at.key("admin_webhooks").index(j),
                    format!("there is no webhook named `{w}`"),
                    unknown_hook(w),
                );
            }
        }
    }
}
