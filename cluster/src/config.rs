//! `[cluster]`: where NATS is, how to log in to it, where PostgreSQL is, this node's name, the
//! source lease period and each stage's delivery settings. Absent = embedded mode.
//!
//! Secrets are never inline: NATS credentials come from environment variables named by `*_env`
//! keys or from a `.creds` file, and the PostgreSQL URL (which carries its password) from the
//! environment variable `postgres_url_env` names.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ballotwatch_core::config::{did_you_mean, env_name_ok, FieldPath, Problems, Validate};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::Stage;

/// URL schemes a NATS server address may use.
pub const NATS_SCHEMES: [&str; 4] = ["nats", "tls", "ws", "wss"];

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// One or more NATS server URLs (`nats://host:4222`); the client fails over between them.
    #[serde(deserialize_with = "one_or_many")]
    pub nats_url: Vec<String>,
    /// Environment variable holding the NATS user name (with `nats_password_env`).
    #[serde(default)]
    pub nats_user_env: Option<String>,
    /// Environment variable holding the NATS password (with `nats_user_env`).
    #[serde(default)]
    pub nats_password_env: Option<String>,
    /// Environment variable holding a NATS token.
    #[serde(default)]
    pub nats_token_env: Option<String>,
    /// Environment variable holding an NKey seed (`SU…`).
    #[serde(default)]
    pub nats_nkey_seed_env: Option<String>,
    /// A NATS `.creds` file (user JWT and NKey seed).
    #[serde(default)]
    pub nats_creds_file: Option<PathBuf>,
    /// Environment variable holding the PostgreSQL URL (`postgres://user:password@host/db`;
    /// `?sslmode=require` for TLS).
    pub postgres_url_env: String,
    /// The PEM file of the CA that signed the PostgreSQL server's certificate, for TLS
    /// (`sslmode=require`); without it the system's trusted roots.
    #[serde(default)]
    pub postgres_ca_file: Option<PathBuf>,
    /// This node's name in consumer names, leases and the Sources page (default: the host name).
    #[serde(default)]
    pub node_name: Option<String>,
    /// How long a source lease lasts without renewal: a dead node's sources move to another
    /// node within this time.
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
    /// Prefix of every subject, stream and bucket name, so that deployments can share a NATS.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Copies of each stream and bucket kept by a NATS cluster (1, or 3 in a cluster of 3).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The classify stage's queue (`[cluster.classify]`).
    #[serde(default)]
    pub classify: StageConfig,
    /// The decide stage's queue (`[cluster.decide]`).
    #[serde(default)]
    pub decide: StageConfig,
    /// Each web node's index replica feed (`[cluster.index_feed]`).
    #[serde(default)]
    pub index_feed: StageConfig,
}

/// A stage's delivery settings; an absent key takes the stage's default ([`Stage::defaults`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Deliveries before a message goes to the dead letters (and so to quarantine).
    #[serde(default)]
    pub max_deliver: Option<u32>,
    /// How long a delivery may stay unacknowledged before it is redelivered to another worker.
    #[serde(default, with = "humantime_serde")]
    pub ack_wait: Option<Duration>,
    /// Deliveries a stage may hold unacknowledged at once across its workers (back-pressure).
    #[serde(default)]
    pub max_ack_pending: Option<u32>,
}

/// A stage's delivery settings with the defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSettings {
    /// Deliveries before a message goes to the dead letters.
    pub max_deliver: u32,
    /// Time a delivery may stay unacknowledged.
    pub ack_wait: Duration,
    /// Unacknowledged deliveries at once (back-pressure).
    pub max_ack_pending: u32,
}

impl StageConfig {
    /// The settings, each absent key taking `defaults`' value.
    pub fn resolve(&self, defaults: StageSettings) -> StageSettings {
        StageSettings {
            max_deliver: self.max_deliver.unwrap_or(defaults.max_deliver),
            ack_wait: self.ack_wait.unwrap_or(defaults.ack_wait),
            max_ack_pending: self.max_ack_pending.unwrap_or(defaults.max_ack_pending),
        }
    }
}

fn default_lease() -> Duration {
    Duration::from_secs(30)
}
fn default_prefix() -> String {
    "ballotwatch".to_string()
}
fn default_replicas() -> usize {
    1
}

impl ClusterConfig {
    /// A configuration for one NATS URL with every default (tests, examples).
    pub fn new(nats_url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            nats_url: vec![nats_url.into()],
            nats_user_env: None,
            nats_password_env: None,
            nats_token_env: None,
            nats_nkey_seed_env: None,
            nats_creds_file: None,
            postgres_url_env: "BALLOTWATCH_POSTGRES_URL".to_string(),
            postgres_ca_file: None,
            node_name: None,
            lease: default_lease(),
            prefix: default_prefix(),
            replicas: default_replicas(),
            classify: StageConfig::default(),
            decide: StageConfig::default(),
            index_feed: StageConfig::default(),
        }
    }

    /// This node's name: `node_name`, or the host name made safe for NATS names.
    pub fn node(&self) -> String {
        match &self.node_name {
            Some(n) => n.clone(),
            None => default_node_name(),
        }
    }

    /// The settings of `stage`, defaults filled in.
    pub fn stage(&self, stage: Stage) -> StageSettings {
        let table = match stage {
            Stage::Classify => &self.classify,
            Stage::Decide => &self.decide,
            Stage::IndexFeed => &self.index_feed,
        };
        table.resolve(stage.defaults())
    }

    /// The PostgreSQL URL, read from the variable `postgres_url_env` names (never logged).
    pub fn postgres_url(&self) -> Result<String, crate::ClusterError> {
        match std::env::var(&self.postgres_url_env) {
            Ok(url) if !url.trim().is_empty() => Ok(url),
            _ => Err(crate::ClusterError::MissingEnv {
                key: "postgres_url_env",
                var: self.postgres_url_env.clone(),
            }),
        }
    }

    /// Relative `nats_creds_file` and `postgres_ca_file` against the config file's folder.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for p in [
            self.nats_creds_file.as_mut(),
            self.postgres_ca_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// The host name with every character NATS names do not allow replaced by `-`.
pub fn default_node_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_string());
    let safe: String = host
        .chars()
        .map(|c| if name_char_ok(c) { c } else { '-' })
        .take(MAX_NAME)
        .collect();
    safe
}

const MAX_NAME: usize = 64;

fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `name` can be part of a stream, consumer or bucket name.
pub fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(name_char_ok)
}

/// Why a NATS URL cannot be used.
pub fn check_nats_url(raw: &str) -> Result<(), (String, Option<String>)> {
    let url = url::Url::parse(raw).map_err(|e| {
        (
            format!("`{raw}` is not a URL: {e}"),
            Some("e.g. nats://10.0.0.5:4222".to_string()),
        )
    })?;
    if !NATS_SCHEMES.contains(&url.scheme()) {
        let help = did_you_mean(url.scheme(), NATS_SCHEMES.iter().copied())
            .or_else(|| Some(format!("schemes: {}", NATS_SCHEMES.join(", "))));
        return Err((format!("`{}` is not a NATS URL scheme", url.scheme()), help));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err((format!("`{raw}` has no host"), None));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err((
            "credentials must not be written in the URL".to_string(),
            Some("use nats_user_env and nats_password_env".to_string()),
        ));
    }
    Ok(())
}

impl Validate for ClusterConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.nats_url.is_empty() {
            problems.advise(
                at.key("nats_url"),
                "at least one NATS URL is needed",
                "e.g. nats_url = [\"nats://10.0.0.5:4222\"]",
            );
        }
        for (i, u) in self.nats_url.iter().enumerate() {
            if let Err((msg, help)) = check_nats_url(u) {
                problems.add(at.key("nats_url").index(i), msg, help);
            }
        }
        let envs = [
            ("nats_user_env", &self.nats_user_env),
            ("nats_password_env", &self.nats_password_env),
            ("nats_token_env", &self.nats_token_env),
            ("nats_nkey_seed_env", &self.nats_nkey_seed_env),
            ("postgres_url_env", &Some(self.postgres_url_env.clone())),
        ];
        for (key, value) in envs {
            if let Some(name) = value {
                if !env_name_ok(name) {
                    problems.add(
                        at.key(key),
                        format!("`{name}` is not an environment variable name"),
                        Some("the name of the variable that holds the secret, e.g. BALLOTWATCH_NATS_PASSWORD".to_string()),
                    );
                }
            }
        }
        match (&self.nats_user_env, &self.nats_password_env) {
            (Some(_), None) => problems.advise(
                at.key("nats_password_env"),
                "nats_user_env is set but nats_password_env is not",
                "a NATS user logs in with both",
            ),
            (None, Some(_)) => problems.advise(
                at.key("nats_user_env"),
                "nats_password_env is set but nats_user_env is not",
                "a NATS user logs in with both",
            ),
            _ => {}
        }
        let methods: Vec<&str> = [
            ("nats_user_env", self.nats_user_env.is_some()),
            ("nats_token_env", self.nats_token_env.is_some()),
            ("nats_nkey_seed_env", self.nats_nkey_seed_env.is_some()),
            ("nats_creds_file", self.nats_creds_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if methods.len() > 1 {
            problems.add(
                at.key(methods[1]),
                format!(
                    "choose one way to log in to NATS, not {}",
                    methods.join(" and ")
                ),
                None,
            );
        }
        if self
            .nats_creds_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            problems.add(at.key("nats_creds_file"), "must not be empty", None);
        }
        if self
            .postgres_ca_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            problems.add(
                at.key("postgres_ca_file"),
                "must not be empty",
                Some("the PEM file of the PostgreSQL server's CA, or leave it out".into()),
            );
        }
        if let Some(n) = &self.node_name {
            if !name_ok(n) {
                problems.advise(
                    at.key("node_name"),
                    format!("`{n}` cannot name a node"),
                    "1 to 64 letters, digits, `-` or `_`",
                );
            }
        }
        if !name_ok(&self.prefix) {
            problems.advise(
                at.key("prefix"),
                format!("`{}` cannot prefix NATS names", self.prefix),
                "1 to 64 letters, digits, `-` or `_`",
            );
        }
        if self.lease < Duration::from_secs(3) || self.lease > Duration::from_secs(3600) {
            problems.advise(
                at.key("lease"),
                "must be between 3s and 1h",
                "30s is usual: a dead node's sources move within one lease",
            );
        }
        if !(1..=5).contains(&self.replicas) {
            problems.advise(
                at.key("replicas"),
                "must be between 1 and 5",
                "3 in a NATS cluster of 3",
            );
        }
        for stage in Stage::ALL {
            let table = match stage {
                Stage::Classify => &self.classify,
                Stage::Decide => &self.decide,
                Stage::IndexFeed => &self.index_feed,
            };
            table.validate(&at.key(stage.name()), problems);
        }
    }
}

impl Validate for StageConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.max_deliver.is_some_and(|m| !(1..=100).contains(&m)) {
            problems.advise(
                at.key("max_deliver"),
                "must be between 1 and 100",
                "5 is usual: a message failing that often is quarantined",
            );
        }
        if self
            .ack_wait
            .is_some_and(|d| d < Duration::from_secs(1) || d > Duration::from_secs(3600))
        {
            problems.add(at.key("ack_wait"), "must be between 1s and 1h", None);
        }
        if self
            .max_ack_pending
            .is_some_and(|m| !(1..=100_000).contains(&m))
        {
            problems.add(
                at.key("max_ack_pending"),
                "must be between 1 and 100000",
                None,
            );
        }
    }
}

/// `nats_url = "nats://…"` or `nats_url = ["nats://…", …]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a NATS URL or a list of NATS URLs")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
