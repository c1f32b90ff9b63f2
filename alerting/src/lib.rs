//! # ballotwatch-alerting
//!
//! Owns what happens after a verdict flags an item: alert rules, grouping flagged items into
//! incidents for alerting, the durable outbox that gives exactly-once delivery, and the delivery
//! channels (SMTP through lettre, Teams/Slack/generic webhooks) with their templates and digests.
//! It must not fetch sources, run detectors or write the search index; it reads flagged items
//! and writes incidents and outbox rows through the store.
//!
//! This crate is reserved by the workspace layout; its rules and channels arrive with the
//! alerting issue. `[alerts]` configuration is already parsed and validated by
//! `ballotwatch-core`, and `ballotwatch serve` warns at start-up that it is not acted on yet.
