//! # ballotwatch-ingest
//!
//! Ballotwatch's way in: one module per source kind behind the [`Source`] trait (feeds in
//! [`sources::rss`]; Mastodon, Bluesky, Reddit, YouTube, Telegram public channels and watched
//! web pages beside it), the guarded HTTP [`Fetcher`] every source uses (size caps,
//! timeouts, an SSRF guard, per-host politeness and conditional GET), and the [`Capture`]
//! records that keep exactly what was fetched as evidence, plus the [`schedule`] that decides
//! when to poll next and the [`html`] helpers that turn publishers' HTML into plain text and
//! sanitized HTML. It must not classify, alert, or touch the store or the index: a poll returns
//! captures and items, and the binary wires ingest → store.
//!
//! [`Capture`]: ballotwatch_core::Capture

#![warn(missing_docs)]

pub mod config;
pub mod fetcher;
pub mod html;
pub mod pdf;
pub mod schedule;
pub mod sources;

pub use config::IngestConfig;
pub use fetcher::{
    FetchError, FetchRequest, Fetched, Fetcher, GateRefusal, ResponseGate, FEED_ACCEPT,
};
pub use sources::{
    build_source, Cursor, HostFilter, Poll, PollContext, PollReport, RealtimeSource, Source,
    SourceError, StreamEvent, StreamUntil, Wait,
};
