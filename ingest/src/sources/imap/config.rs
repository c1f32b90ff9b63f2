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
    /// The mailbox user name (for `LOGIN`, or the `user=` of XOAUTH2).
    pub username: String,
    /// The environment variable that holds the mailbox password (`LOGIN`). Either this or
    /// `token_url` (XOAUTH2).
    #[serde(default)]
    pub password_env: Option<String>,
    /// An OAuth 2.0 token endpoint: log in with XOAUTH2 and an access token got there with the
    /// client-credentials grant (`client_id`, `client_secret_env`, `scope`), as Microsoft 365
    /// app-only access does. Either this or `password_env`.
    #[serde(default)]
    pub token_url: Option<Url>,
    /// The OAuth 2.0 client (application) id, with `token_url`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The environment variable that holds the OAuth 2.0 client secret, with `token_url`.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The scope asked for, with `token_url` (for Microsoft 365:
    /// `https://outlook.office365.com/.default`); none by default.
    #[serde(default)]
    pub scope: Option<String>,
    /// A folder the messages are moved to once they are stored (must exist); without it they
    /// stay in `folder` and the cursor keeps them from being read twice.
    #[serde(default)]
    pub move_to: Option<String>,
    /// At most this many messages are read per poll (1–1000, default 50); the rest wait for
    /// the next poll.
    #[serde(default = "default_max_messages")]
    pub max_messages: u32,
    /// Mail whoever sent a report an acknowledgement with its reference number (off without
    /// this table; needs `[alerts.smtp]`). See [`Acknowledge`].
    #[serde(default)]
    pub acknowledge: Option<Box<Acknowledge>>,
    /// `imaps://host:port/folder`, made from the keys above when first asked for (messages).
    #[serde(skip)]
    url: OnceLock<Url>,
}

/// `acknowledge = { subject = "…", text = "…" }`: the reply a report's sender gets, through
/// the alert outbox and `[alerts.smtp]`. `{reference}` in either is replaced by the report's
/// reference (e.g. `R-000042`); nothing of the message reported is echoed back. It goes to
/// the message's `From` unless the message is automatic (an auto-reply, a bounce, a list
/// message), and at most once a day to one address, so a forged
/// `From` cannot make the council's mailbox write to anyone more than that.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Acknowledge {
    /// One line; `{reference}` is replaced.
    pub subject: String,
    /// Plain text; must contain `{reference}`.
    pub text: String,
    /// The most acknowledgements sent in any hour, every inbox's together (default 60): past
    /// it reports are still recorded, and not acknowledged.
    pub per_hour: u32,
}

/// The default of `acknowledge.per_hour`.
pub const DEFAULT_ACKS_PER_HOUR: u32 = 60;
/// The most `acknowledge.per_hour` may be.
pub const MAX_ACKS_PER_HOUR: u32 = 10_000;

/// The most characters of an acknowledgement's `subject`.
pub const MAX_ACK_SUBJECT: usize = 200;
/// The most characters of an acknowledgement's `text`.
pub const MAX_ACK_TEXT: usize = 5000;

impl Default for Acknowledge {
    fn default() -> Self {
        Acknowledge {
            subject: "Your report to the elections team: {reference}".into(),
            text: "Thank you for your report. It has been received by the elections team and \
                   its reference is {reference}; please quote it if you write to us about it.\n\n\
                   We read every report, but we cannot always reply to each one. This message \
                   was sent automatically."
                .into(),
            per_hour: DEFAULT_ACKS_PER_HOUR,
        }
    }
}

impl Acknowledge {
    /// The subject and text for the report `reference`.
    pub fn render(&self, reference: &str) -> (String, String) {
        (
            self.subject.replace(REFERENCE, reference),
            self.text.replace(REFERENCE, reference),
        )
    }

    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        let subject = self.subject.trim();
        if subject.is_empty() {
            problems.add(at.key("subject"), "must not be empty", None);
        } else if self.subject.chars().any(char::is_control) {
            problems.add(
                at.key("subject"),
                "must be one line (no line breaks or other control characters)",
                None,
            );
        } else if self.subject.chars().count() > MAX_ACK_SUBJECT {
            problems.add(
                at.key("subject"),
                format!("is longer than {MAX_ACK_SUBJECT} characters"),
                None,
            );
        }
        if !self.text.contains(REFERENCE) {
            problems.add(
                at.key("text"),
                "does not say the reference: put {reference} where it goes",
                Some("e.g. text = \"Thank you. Your report's reference is {reference}.\"".into()),
            );
        }
        if self.text.chars().count() > MAX_ACK_TEXT {
            problems.add(
                at.key("text"),
                format!("is longer than {MAX_ACK_TEXT} characters"),
                None,
            );
        }
        if !(1..=MAX_ACKS_PER_HOUR).contains(&self.per_hour) {
            problems.add(
                at.key("per_hour"),
                format!(
                    "must be from 1 to {MAX_ACKS_PER_HOUR}, not {}",
                    self.per_hour
                ),
                Some("leave acknowledge out to send none".into()),
            );
        }
    }
}

/// What an acknowledgement's `subject` and `text` replace by the report's reference.
pub const REFERENCE: &str = "{reference}";

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
        self.validate_auth(at, problems);
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
        if let Some(ack) = &self.acknowledge {
            ack.validate(&at.key("acknowledge"), problems);
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

impl ImapConfig {
    /// How the source logs in: `password_env` (LOGIN), or `token_url` with `client_id` and
    /// `client_secret_env` (XOAUTH2), not both.
    fn validate_auth(&self, at: &FieldPath, problems: &mut Problems) {
        let env_key = |key: &str, value: &str, what: &str, problems: &mut Problems| {
            if !env_name_ok(value) {
                problems.add(
                    at.key(key),
                    format!("`{value}` is not an environment variable name"),
                    Some(format!("name the variable that holds {what}")),
                );
            }
        };
        match (&self.password_env, &self.token_url) {
            (None, None) => problems.add(
                at.key("password_env"),
                "missing: a report inbox logs in with `password_env` (LOGIN) or `token_url` (XOAUTH2)",
                Some(
                    "e.g. password_env = \"REPORTS_IMAP_PASSWORD\"; for Microsoft 365, token_url, \
                     client_id and client_secret_env"
                        .into(),
                ),
            ),
            (Some(_), Some(_)) => problems.add(
                at.key("token_url"),
                "set either `password_env` (LOGIN) or `token_url` (XOAUTH2), not both",
                None,
            ),
            (Some(var), None) => {
                env_key(
                    "password_env",
                    var,
                    "the mailbox password, e.g. \"REPORTS_IMAP_PASSWORD\"",
                    problems,
                );
                for (key, set) in [
                    ("client_id", self.client_id.is_some()),
                    ("client_secret_env", self.client_secret_env.is_some()),
                    ("scope", self.scope.is_some()),
                ] {
                    if set {
                        problems.add(
                            at.key(key),
                            "is only used with `token_url` (XOAUTH2)",
                            Some("leave it out, or log in with token_url instead of password_env".into()),
                        );
                    }
                }
            }
            (None, Some(url)) => {
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    problems.add(
                        at.key("token_url"),
                        format!("`{url}` is not an http or https URL with a host"),
                        None,
                    );
                }
                match &self.client_id {
                    Some(id) if !id.trim().is_empty() => {}
                    _ => problems.add(
                        at.key("client_id"),
                        "missing: XOAUTH2 needs the OAuth 2.0 client (application) id",
                        None,
                    ),
                }
                match &self.client_secret_env {
                    Some(var) => env_key(
                        "client_secret_env",
                        var,
                        "the OAuth 2.0 client secret, e.g. \"REPORTS_IMAP_CLIENT_SECRET\"",
                        problems,
                    ),
                    None => problems.add(
                        at.key("client_secret_env"),
                        "missing: XOAUTH2 needs the variable that holds the client secret",
                        None,
                    ),
                }
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
