//! Keys of a Threads source (`kind = "threads"`) and their rules.

use ballotwatch_core::config::{env_name_ok, FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::handles::check_handle;
use crate::sources::Source;

/// Keys of a Threads source (`kind = "threads"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsConfig {
    /// Keywords for the keyword search, most recent first (`threads_keyword_search`).
    #[serde(default)]
    pub queries: Vec<String>,
    /// Public profiles whose posts are read (`@anytowncouncil`; `threads_profile_discovery`).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Environment variable holding the Threads access token (required).
    pub token_env: String,
    /// The Threads Graph API endpoint.
    #[serde(default = "default_threads_api")]
    pub base_url: Url,
}

impl KindConfig for ThreadsConfig {
    const KIND: &'static str = "threads";
    const URL_KEY: &'static str = "base_url";

    fn url(&self) -> &Url {
        &self.base_url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::ThreadsSource::new(name, self))
    }
}

/// The Threads Graph API.
pub fn default_threads_api() -> Url {
    fixed_url("https://graph.threads.net/")
}

/// A profile written `@name` or `name`, without the `@`.
pub fn profile_name(account: &str) -> &str {
    account.trim().trim_start_matches('@')
}

impl Validate for ThreadsConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.queries.is_empty() && self.accounts.is_empty() {
            problems.add(
                at.key("queries"),
                "a Threads source needs at least one of `queries` or `accounts`",
                Some("e.g. queries = [\"Anytown polling station\"]".into()),
            );
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                problems.add(at.key("queries"), "a query must not be empty", None);
            }
        }
        for a in &self.accounts {
            if let Err((message, help)) = check_handle("threads", profile_name(a)) {
                problems.add(at.key("accounts"), message, Some(help.into()));
            }
        }
        if !env_name_ok(&self.token_env) {
            problems.add(
                at.key("token_env"),
                format!("`{}` is not an environment variable name", self.token_env),
                Some(
                    "name the variable that holds the access token, e.g. \"THREADS_ACCESS_TOKEN\""
                        .into(),
                ),
            );
        }
    }
}
