//! Keys of a report inbox source (`kind = "imap"`) and their rules.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ballotwatch_core::config::{env_name_ok, FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Messages read in one poll when `max_messages` is not set.
pub const DEFAULT_MAX_MESSAGES: u32 = 50;
/// The most messages one poll may read (`max_messages`).
pub const MAX_MESSAGES_CEILING: u32 = 1000;

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (IMAPS, usually port 993).
    Implicit,
    /// A plain connection upgraded with the `STARTTLS` command before logging in (usually
    /// port 143). The login never goes over a plain connection.
    Starttls,
}

/// Keys of a report inbox source (`kind = "imap"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// The mail server's host name (or IP address).
    pub host: String,
    /// The server's port (default: 993 for `implicit`, 143 for `starttls`).
    #[serde(default)]
    pub port: Option<u16>,
    /// `"implicit"` (default) or `"starttls"`.
    #[serde(default = "default_tls")]
    pub tls: Tls,
    /// A PEM file of the CA certificate(s) that signed the server's certificate, for a server
    /// with a private CA; only these are trusted then. Relative to the config file. Without
    /// it, the system's trust store is used.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The folder read (default `INBOX`).
    #[serde(default = "default_folder")]
    pub folder: String,
    /// The mailbox user name for `LOGIN`.
    pub username: String,
    /// The environment variable that holds the mailbox password.
    pub password_env: String,
    /// A folder the messages are moved to once they are stored (must exist); without it they
    /// stay in `folder` and the cursor keeps them from being read twice.
    #[serde(default)]
    pub move_to: Option<String>,
    /// At most this many messages are read per poll (1–1000, default 50); the rest wait for
    /// the next poll.
    #[serde(default = "default_max_messages")]
    pub max_messages: u32,
    /// `imaps://host:port/folder`, made from the keys above when first asked for (messages).
    #[serde(skip)]
    url: OnceLock<Url>,
}

fn default_tls() -> Tls {
    Tls::Implicit
}

fn default_folder() -> String {
    "INBOX".into()
}

fn default_max_messages() -> u32 {
    DEFAULT_MAX_MESSAGES
}

/// The URL shown when `host` cannot make one (the config check reports that).
fn no_host() -> &'static Url {
    static URL: OnceLock<Url> = OnceLock::new();
    URL.get_or_init(|| crate::sources::config::fixed_url("imaps://imap.invalid/"))
}

impl ImapConfig {
    /// The port connected to: `port`, or the usual one for `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Tls::Implicit => 993,
            Tls::Starttls => 143,
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        match self.host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{}]:{}", self.host, self.port()),
            Err(_) => format!("{}:{}", self.host, self.port()),
        }
    }

    /// The folder's IMAP URL (RFC 5092), `imaps://host:port/INBOX` (`imap://` for STARTTLS),
    /// or `None` when `host` is not a host name.
    fn make_url(&self) -> Option<Url> {
        let scheme = match self.tls {
            Tls::Implicit => "imaps",
            Tls::Starttls => "imap",
        };
        let mut url = Url::parse(&format!("{scheme}://{}/", self.address())).ok()?;
        url.host_str().filter(|h| !h.is_empty())?;
        url.path_segments_mut().ok()?.push(&self.folder);
        Some(url)
    }
}

impl KindConfig for ImapConfig {
    const KIND: &'static str = super::KIND;
    const URL_KEY: &'static str = "host";
    const SCHEMES: &'static [&'static str] = &["imap", "imaps"];

    fn url(&self) -> &Url {
        self.url
            .get_or_init(|| self.make_url().unwrap_or_else(|| no_host().clone()))
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::ImapSource::new(name, self))
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = self.ca_file.as_mut() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

impl Validate for ImapConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.host.trim().is_empty() || self.make_url().is_none() {
            problems.add(
                at.key("host"),
                format!("`{}` is not a host name or IP address", self.host),
                Some("the mail server's name, e.g. host = \"imap.anytown.gov.uk\"".into()),
            );
        }
        if self.port == Some(0) {
            problems.add(
                at.key("port"),
                "0 is not a port",
                Some("usually 993 with tls = \"implicit\", 143 with tls = \"starttls\"".into()),
            );
        }
        if self.username.trim().is_empty() {
            problems.add(
                at.key("username"),
                "must not be empty",
                Some("the report inbox's login, e.g. username = \"elections-reports\"".into()),
            );
        }
        if !env_name_ok(&self.password_env) {
            problems.add(
                at.key("password_env"),
                format!("`{}` is not an environment variable name", self.password_env),
                Some(
                    "name the variable that holds the mailbox password, e.g. \"REPORTS_IMAP_PASSWORD\""
                        .into(),
                ),
            );
        }
        check_folder(&self.folder, &at.key("folder"), problems);
        if let Some(to) = &self.move_to {
            check_folder(to, &at.key("move_to"), problems);
            if to == &self.folder {
                problems.add(
                    at.key("move_to"),
                    format!("`{to}` is the folder read"),
                    Some(
                        "name another folder, e.g. move_to = \"Processed\", or leave move_to out"
                            .into(),
                    ),
                );
            }
        }
        if !(1..=MAX_MESSAGES_CEILING).contains(&self.max_messages) {
            problems.add(
                at.key("max_messages"),
                format!("{} is out of range", self.max_messages),
                Some(format!(
                    "read 1 to {MAX_MESSAGES_CEILING} messages per poll"
                )),
            );
        }
        if let Some(ca) = &self.ca_file {
            if ca.as_os_str().is_empty() {
                problems.add(
                    at.key("ca_file"),
                    "must not be empty",
                    Some("the PEM file of the server's CA, or leave ca_file out".into()),
                );
            }
        }
    }
}

/// A folder name the `SELECT`/`MOVE` commands can carry: not empty, no control characters.
fn check_folder(folder: &str, at: &FieldPath, problems: &mut Problems) {
    if folder.trim().is_empty() {
        problems.add(
            at.clone(),
            "must not be empty",
            Some("e.g. \"INBOX\"".into()),
        );
    } else if folder.chars().any(|c| c.is_control()) {
        problems.add(
            at.clone(),
            "a folder name cannot hold control characters (line breaks, tabs)",
            None,
        );
    }
}
