//! Keys of an X source (`kind = "x"`) and their rules.

use ballotwatch_core::config::{env_name_ok, FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::handles::check_handle;
use crate::sources::Source;

/// The longest query X's recent search accepts (Basic and Pro access).
pub const MAX_QUERY_LEN: usize = 512;

/// Keys of an X source (`kind = "x"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XConfig {
    /// Recent-search queries, in X's query syntax (e.g. `"Anytown" (vote OR polling) -is:retweet`).
    #[serde(default)]
    pub queries: Vec<String>,
    /// Accounts whose posts are read from their timelines (`@AnytownBC`).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Environment variable holding the app's bearer token (required: X has no open API).
    pub token_env: String,
    /// The X API endpoint.
    #[serde(default = "default_x_api")]
    pub base_url: Url,
}

impl KindConfig for XConfig {
    const KIND: &'static str = "x";
    const URL_KEY: &'static str = "base_url";

    fn url(&self) -> &Url {
        &self.base_url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::XSource::new(name, self))
    }
}

/// X's public API endpoint.
pub fn default_x_api() -> Url {
    fixed_url("https://api.x.com/")
}

/// An account written `@name` or `name`, without the `@`.
pub fn account_name(account: &str) -> &str {
    account.trim().trim_start_matches('@')
}

impl Validate for XConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.queries.is_empty() && self.accounts.is_empty() {
            problems.add(
                at.key("queries"),
                "an X source needs at least one of `queries` or `accounts`",
                Some("e.g. queries = [\"Anytown (polling OR vote) -is:retweet\"]".into()),
            );
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                problems.add(at.key("queries"), "a query must not be empty", None);
            } else if q.chars().count() > MAX_QUERY_LEN {
                problems.add(
                    at.key("queries"),
                    format!(
                        "a query is {} characters long; X's recent search takes at most {MAX_QUERY_LEN}",
                        q.chars().count()
                    ),
                    Some("split it into several queries".into()),
                );
            }
        }
        for a in &self.accounts {
            if let Err((message, help)) = check_handle("x", account_name(a)) {
                problems.add(at.key("accounts"), message, Some(help.into()));
            }
        }
        if !env_name_ok(&self.token_env) {
            problems.add(
                at.key("token_env"),
                format!("`{}` is not an environment variable name", self.token_env),
                Some(
                    "name the variable that holds the bearer token, e.g. \"X_BEARER_TOKEN\"".into(),
                ),
            );
        }
    }
}
