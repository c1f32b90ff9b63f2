//! # ballotwatch-core
//!
//! The shared vocabulary of Ballotwatch: the data model that flows between stages ([`Item`],
//! [`Verdict`], [`ClassifyResult`], [`Incident`], [`Capture`]), the configuration machinery every
//! component's table uses ([`config::Validate`], [`config::Problems`], did-you-mean, locating a
//! field's line) with `[watch]` and `[limits]`, and small pure helpers every stage needs (stable
//! ids, content hashing, watch-term matching). It owns the JSON formats of the product contract
//! and knows no platform, detector or channel. It does no I/O: no network, no store, no index —
//! those belong to the crates that depend on this one.

#![warn(missing_docs)]

pub mod config;
pub mod model;
pub mod net;
pub mod watch;

pub use config::{ConfigError, ConfigProblem, LimitsConfig};
pub use model::{
    floor_char_boundary, sha256_hex, Author, Capture, ClassifyResult, Incident, IncidentRef,
    IncidentStatus, Item, ItemError, Media, MediaText, Severity, SourceRef, Verdict, VerdictKind,
};
pub use watch::WatchTerms;
