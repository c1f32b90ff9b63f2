//! # ballotwatch-core
//!
//! The shared vocabulary of Ballotwatch: the data model that flows between stages ([`Item`],
//! [`Verdict`], [`ClassifyResult`], [`Incident`], [`Capture`]), the `ballotwatch.toml`
//! configuration with its validation ([`Config`]), and small pure helpers every stage needs
//! (stable ids, content hashing, watch-term matching). It owns the JSON formats of the product
//! contract. It must not do I/O beyond reading the config file it is asked to load: no network,
//! no store, no index — those belong to the crates that depend on this one.

#![warn(missing_docs)]

pub mod config;
pub mod model;
pub mod watch;

pub use config::{Config, ConfigError, ConfigProblem, LimitsConfig, SourceConfig};
pub use model::{
    floor_char_boundary, sha256_hex, Author, Capture, ClassifyResult, Incident, IncidentRef,
    IncidentStatus, Item, ItemError, Media, MediaText, Severity, SourceRef, Verdict, VerdictKind,
};
pub use watch::WatchTerms;
