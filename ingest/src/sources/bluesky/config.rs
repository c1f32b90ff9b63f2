//! Keys of a Bluesky source (`kind = "bluesky"`) and their rules.

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::{fixed_url, KindConfig};
use crate::sources::handles::check_handle;
use crate::sources::Source;

/// Keys of a Bluesky source (`kind = "bluesky"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskyConfig {
    /// Search terms for `app.bsky.feed.searchPosts`.
    #[serde(default)]
    pub queries: Vec<String>,
    /// Accounts (handles or DIDs) whose posts are read with `app.bsky.feed.getAuthorFeed`.
    #[serde(default)]
    pub actors: Vec<String>,
    /// Real-time ingest from Jetstream (a websocket of new posts), beside the polled queries
    /// and feeds: posts by the `actors` and posts matching the `[watch] terms`.
    #[serde(default)]
    pub jetstream: bool,
    /// The AppView serving the XRPC API (also accepted as `base_url`).
    #[serde(default = "default_appview", alias = "base_url")]
    pub appview: Url,
    /// The Jetstream `subscribe` websocket endpoint (`ws`/`wss`), used when `jetstream` is true.
    #[serde(default = "default_jetstream_url")]
    pub jetstream_url: Url,
}

impl KindConfig for BlueskyConfig {
    const KIND: &'static str = "bluesky";
    const URL_KEY: &'static str = "appview";

    fn url(&self) -> &Url {
        &self.appview
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::BlueskySource::new(name, self))
    }
}

/// The public Bluesky AppView.
pub fn default_appview() -> Url {
    fixed_url("https://public.api.bsky.app/")
}

/// The public Jetstream instance.
pub fn default_jetstream_url() -> Url {
    fixed_url("wss://jetstream2.us-east.bsky.network/subscribe")
}

impl Validate for BlueskyConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        // With Jetstream, the `[watch] terms` alone choose the posts.
        if self.queries.is_empty() && self.actors.is_empty() && !self.jetstream {
            problems.add(at.key("queries"), "a Bluesky source needs at least one of `queries` or `actors`, or `jetstream = true`", Some("e.g. queries = [\"Anytown election\"], actors = [\"anytown.gov.uk\"]".into()));
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                problems.add(at.key("queries"), "a query must not be empty", None);
            }
        }
        for a in &self.actors {
            if let Err((msg, help)) = check_handle("bluesky", a) {
                problems.add(at.key("actors"), msg, Some(help.into()));
            }
        }
        if !matches!(self.jetstream_url.scheme(), "ws" | "wss")
            || self.jetstream_url.host_str().is_none_or(str::is_empty)
        {
            problems.add(
                at.key("jetstream_url"),
                format!(
                    "`{}` is not a ws or wss URL with a host",
                    self.jetstream_url
                ),
                None,
            );
        }
    }
}
