//! # ballotwatch-alerting
//!
//! Owns what happens after a verdict flags an item: alert rules, grouping flagged items into
//! incidents (near-duplicates — same label and same narrative, media hash, lookalike domain or
//! account within `alerts.group_window` — join one incident), the durable outbox that gives
//! exactly-once delivery, digests, and the delivery channels ([`channels`]: SMTP through lettre;
//! Teams, Slack and signed generic JSON webhooks, each behind the [`Channel`] trait with its own
//! template and escaping). It must not fetch sources, run detectors or write the search index;
//! it reads flagged items and writes incidents and outbox rows through the store.
//!
//! The flow: [`Decider::decide_pending`] reads classified items not yet decided from the store,
//! and for each flagged one records the sighting, the incident and every message to queue in
//! one store transaction. [`Sender::deliver_due`] delivers due messages in order with backoff;
//! [`Sender::run_digests`] closes digests on their schedule. See [`send`] for the one window in
//! which a message can be delivered twice.

#![warn(missing_docs)]

pub mod acknowledge;
pub mod admin;
pub mod channels;
pub mod config;
pub mod decide;
pub mod escape;
pub mod render;
pub mod send;
pub mod time;

pub use channels::{Channel, ChannelError, ChannelId, Destination};
pub use config::AlertsConfig;
pub use decide::{AlertView, Decider, Decision, Payload};
pub use send::Sender;

/// Why alerting could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ballotwatch_store::StoreError),
    /// A channel could not be set up from the configuration (missing secret, bad CA file).
    #[error("{0}")]
    Setup(String),
}
