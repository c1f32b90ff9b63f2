//! Sources: one module per kind behind the [`Source`] trait.
//!
//! A source turns one poll into [`Poll`]: the captures it fetched (the evidence, with their
//! bytes) and the items it found, each pointing at the capture it came from. Sources do not
//! store anything: the caller records the poll and keeps the [`Cursor`] for the next one.
//!
//! Adding a source kind = a folder `sources/<kind>/` (`mod.rs` with the [`Source`],
//! `config.rs` with its keys implementing [`KindConfig`], `tests.rs`), its `pub mod` line here
//! and one line in the `source_kinds!` list in `sources/config.rs`. `docs/ARCHITECTURE.md`
//! walks through it with a real example.

pub mod bluesky;
mod common;
pub mod config;
pub mod ct;
pub mod ct_search;
pub mod handles;
pub mod imap;
pub mod mastodon;
pub mod reddit;
pub mod report;
pub mod rss;
pub mod telegram;
#[cfg(test)]
pub(crate) mod test_support;
pub mod threads;
pub mod web;
pub mod x;
pub mod youtube;

use std::sync::Arc;
use std::time::Duration;

use ballotwatch_core::{Capture, Item, LimitsConfig, WatchTerms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use config::{
    validate_sources, KindConfig, SourceCommon, SourceConfig, SourceSettings, SOURCE_KINDS,
};

use crate::fetcher::{FetchError, Fetcher};

/// What every poll gets: the shared fetcher, the watch terms to mark items with and the test
/// for lookalike host names.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// The guarded HTTP client.
    pub fetcher: Fetcher,
    /// `[watch] terms`, for each item's `matched_terms`.
    pub watch: WatchTerms,
    /// Which host names imitate a protected (`[[identity]]`) domain: the sources that see host
    /// names in bulk (`ct`) keep only those. `None` when there are no protected domains.
    pub lookalikes: Option<HostFilter>,
}

/// A test of host names, filled in by the caller (the pipeline asks the lookalike-domain
/// detector), so that ingest needs no detector of its own.
#[derive(Clone)]
pub struct HostFilter(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl HostFilter {
    /// A filter that keeps the host names `keep` returns true for.
    pub fn new(keep: impl Fn(&str) -> bool + Send + Sync + 'static) -> HostFilter {
        HostFilter(Arc::new(keep))
    }

    /// True when `host` is to be kept.
    pub fn matches(&self, host: &str) -> bool {
        (self.0)(host)
    }
}

impl std::fmt::Debug for HostFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostFilter(..)")
    }
}

/// What a source remembers between polls (kept by the caller, e.g. in the store).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last `ETag`, for a conditional GET.
    pub etag: Option<String>,
    /// The last `Last-Modified`, for a conditional GET.
    pub last_modified: Option<String>,
    /// Source-specific state (e.g. a "since id" for APIs); RSS keeps none.
    pub state: Option<serde_json::Value>,
}

/// The result of one poll.
#[derive(Debug, Default)]
pub struct Poll {
    /// Every response fetched, with its body.
    pub captures: Vec<(Capture, Vec<u8>)>,
    /// Items found, each with the index into `captures` of the response it came from.
    pub items: Vec<(usize, Item)>,
    /// The new `ETag` to keep in the cursor.
    pub etag: Option<String>,
    /// The new `Last-Modified` to keep in the cursor.
    pub last_modified: Option<String>,
    /// The new source-specific state to keep in the cursor.
    pub state: Option<serde_json::Value>,
    /// The server said nothing changed (HTTP 304); `captures` and `items` are empty.
    pub not_modified: bool,
    /// One sentence per entry of the response that was left out (not made an item), saying
    /// which and why; the poll's summary and the source's health report them.
    pub dropped: Vec<String>,
    /// Who sent which item, for the sources whose items are reports people sent in (the report
    /// inbox): personal data the store keeps apart from the items.
    pub reports: Vec<PollReport>,
}

/// Who sent one item of a poll in, and what they sent: the store's report record of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollReport {
    /// The item it became.
    pub item_id: String,
    /// Who sent it (`Name <address>`, or the address alone).
    pub reporter: String,
    /// What was sent (no reporter in it).
    pub detail: serde_json::Value,
    /// The acknowledgement to mail its sender, when the source sends them and the message
    /// may be answered.
    pub acknowledgement: Option<Acknowledgement>,
}

/// An acknowledgement to mail whoever sent a report in (the report inbox's `acknowledge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The sender's address.
    pub to: String,
    /// The subject and text, with `{reference}` for the report's reference.
    pub template: imap::Acknowledge,
}

impl Poll {
    /// Cuts each item's text to `max_item_text` bytes (`[limits] max_item_text`), recording on
    /// the item that it was cut (see [`Item::limit_text`]). The poll's captures keep every byte.
    pub fn limit_items(&mut self, source_name: &str, max_item_text: usize) {
        for (_, item) in &mut self.items {
            if item.limit_text(max_item_text) {
                tracing::warn!(
                    source = source_name,
                    url = item.url.as_deref().unwrap_or(""),
                    max_item_text,
                    "an item's text is longer than [limits] max_item_text; kept the start of it"
                );
            }
        }
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Fetching failed.
    #[error("source `{source_name}`: {error}")]
    Fetch {
        /// The source's configured name.
        source_name: String,
        /// What went wrong.
        error: FetchError,
    },
    /// The response is not something the source can read.
    #[error("source `{source_name}`: {url} is not a valid feed: {message}")]
    Parse {
        /// The source's configured name.
        source_name: String,
        /// The URL fetched.
        url: String,
        /// The parser's reason, and what to check.
        message: String,
    },
    /// A platform answered with something that is not what it documents.
    #[error("source `{source_name}`: {url} is not a valid {what}: {message}")]
    Payload {
        /// The source's configured name.
        source_name: String,
        /// The URL fetched.
        url: String,
        /// What was expected, e.g. `Mastodon API response`.
        what: &'static str,
        /// The parser's reason.
        message: String,
    },
    /// The source cannot run as configured (e.g. its `token_env` variable is not set).
    #[error("source `{source_name}`: {message}")]
    Setup {
        /// The source's configured name.
        source_name: String,
        /// The URL the source would have fetched.
        url: String,
        /// What is wrong and what to change.
        message: String,
    },
}

impl SourceError {
    /// The URL the failure is about.
    pub fn url(&self) -> &str {
        match self {
            SourceError::Fetch { error, .. } => error.url(),
            SourceError::Parse { url, .. }
            | SourceError::Payload { url, .. }
            | SourceError::Setup { url, .. } => url,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Fetch { error, .. } => error.retry_after(),
            SourceError::Parse { .. } | SourceError::Payload { .. } | SourceError::Setup { .. } => {
                None
            }
        }
    }

    /// True when polling again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Fetch { error, .. } => error.is_transient(),
            SourceError::Parse { .. } | SourceError::Payload { .. } | SourceError::Setup { .. } => {
                false
            }
        }
    }

    /// The configured name of the source that failed.
    pub fn source_name(&self) -> &str {
        match self {
            SourceError::Fetch { source_name, .. }
            | SourceError::Parse { source_name, .. }
            | SourceError::Payload { source_name, .. }
            | SourceError::Setup { source_name, .. } => source_name,
        }
    }
}

/// One configured source.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// The configured, unique name.
    fn name(&self) -> &str;
    /// The kind, as in the config's `kind` key (`rss`, `mastodon`, ...).
    fn kind(&self) -> &'static str;
    /// The URL the source polls (for messages).
    fn url(&self) -> &str;
    /// Fetches what is new since `cursor`.
    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError>;
    /// The source's real-time part, if it has one (Bluesky with `jetstream = true`). It runs
    /// beside the polls, with its own resume state.
    fn realtime(&self) -> Option<Arc<dyn RealtimeSource>> {
        None
    }
    /// Waits up to `max` for something new at the source after the poll that left `cursor`
    /// (the report inbox waits in IMAP `IDLE`), so that the next poll can start as soon as
    /// there is. A source that cannot be told of news answers [`Wait::Unsupported`] at once
    /// (the default); on an error the caller sleeps out `max` as if there were no news. The
    /// future may be dropped at any point (shutdown).
    async fn wait_for_news(
        &self,
        _ctx: &PollContext,
        _cursor: &Cursor,
        _max: Duration,
    ) -> Result<Wait, SourceError> {
        Ok(Wait::Unsupported)
    }
}

/// How [`Source::wait_for_news`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Something new arrived: poll now.
    News,
    /// Nothing arrived within the time given.
    Quiet,
    /// The source (or its server) cannot say when something arrives: the caller sleeps.
    Unsupported,
}

/// What a real-time connection hands to its caller while it runs.
#[derive(Debug)]
pub enum StreamEvent {
    /// What arrived since the last batch, recorded like a poll: the raw events as one capture,
    /// the items read from them and, in `state`, the position to resume from once this batch
    /// is committed.
    Batch(Poll),
    /// Something in the stream could not be read (its bytes are still in the next batch's
    /// capture); the stream goes on.
    Problem(SourceError),
}

/// When a real-time connection ends without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamUntil {
    /// Never: it runs until the connection fails or the caller drops it.
    Stopped,
    /// Once caught up with `since`: an event newer than it arrived, or the server was idle
    /// for [`CAUGHT_UP_IDLE`] (`ingest --once`).
    CaughtUp(DateTime<Utc>),
}

/// How long a quiet stream counts as caught up in [`StreamUntil::CaughtUp`] mode.
pub const CAUGHT_UP_IDLE: Duration = Duration::from_secs(2);

/// A source's long-lived connection (e.g. Bluesky's Jetstream websocket).
#[async_trait::async_trait]
pub trait RealtimeSource: Send + Sync {
    /// The name its resume state and health are kept under (`<source> (jetstream)`), so they
    /// never overwrite the polled part's.
    fn state_name(&self) -> &str;
    /// The endpoint connected to (for messages).
    fn url(&self) -> &str;
    /// Connects once, resuming from `cursor.state`, and sends what arrives to `tx` until the
    /// connection fails (an error naming the URL: the caller records it and reconnects from the
    /// last committed state), `until` is reached (`Ok`), or `tx` is closed (`Ok`).
    async fn run(
        &self,
        ctx: &PollContext,
        cursor: &Cursor,
        until: StreamUntil,
        tx: &tokio::sync::mpsc::Sender<StreamEvent>,
    ) -> Result<(), SourceError>;
}

/// The source for one `[[source]]` entry, within `limits` (`[limits]`).
pub fn build_source(cfg: &SourceConfig, limits: &LimitsConfig) -> Box<dyn Source> {
    cfg.build(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_source_follows_the_config() {
        let cfg = test_support::source_config(
            "name = \"Anytown Echo\"\nkind = \"rss\"\nurl = \"https://echo.anytown.test/rss\"\n",
        );
        let s = build_source(&cfg, &LimitsConfig::default());
        assert_eq!(s.name(), "Anytown Echo");
        assert_eq!(s.kind(), "rss");
        assert_eq!(s.url(), "https://echo.anytown.test/rss");
    }

    #[test]
    fn errors_expose_url_retry_and_name() {
        let e = SourceError::Fetch {
            source_name: "Anytown Echo".into(),
            error: FetchError::Status {
                url: "https://echo.anytown.test/rss".into(),
                status: 503,
                retry_after: Some(Duration::from_secs(60)),
                detail: None,
            },
        };
        assert_eq!(e.url(), "https://echo.anytown.test/rss");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
        assert!(e.is_transient());
        assert_eq!(e.source_name(), "Anytown Echo");
        assert!(e
            .to_string()
            .starts_with("source `Anytown Echo`: https://echo.anytown.test/rss answered HTTP 503"));
        let p = SourceError::Parse {
            source_name: "Anytown Echo".into(),
            url: "https://echo.anytown.test/rss".into(),
            message: "no root element".into(),
        };
        assert_eq!(
            p.to_string(),
            "source `Anytown Echo`: https://echo.anytown.test/rss is not a valid feed: no root element"
        );
        assert_eq!(p.retry_after(), None);
        assert!(!p.is_transient());
    }
}
