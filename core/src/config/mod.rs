//! The configuration machinery every component uses, and the two tables every component reads.
//!
//! `ballotwatch.toml` is composed from the components' own tables: each crate owns the types of
//! its table and their rules (`ingest`: `[ingest]` and `[[source]]`, one folder per kind;
//! `classify`: `[detectors]`, `[[identity]]`, `[[narrative]]`; `alerting`: `[alerts]`; `web`:
//! `[server]`; `index`: `[index]`; `evidence`: `[evidence]`), and the pipeline crate's root
//! `Config` reads the file one table at a time, so that every problem of the file — a wrong
//! type, a missing key, an unknown kind, a broken rule — is reported in one run, each naming
//! the file, line and field, with a "did you mean" where one fits.
//!
//! What stays here is what no single component owns: the problem machinery ([`Problems`],
//! [`Validate`], [`deserialize_table`], [`ConfigText`]), checks several tables share, `[watch]`
//! and the ceilings of `[limits]`.

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

mod checks;
mod limits;
mod problem;

pub use checks::{check_domain, env_name_ok, looks_like_mailbox, DomainError};
pub use limits::*;
pub use problem::{
    deserialize_table, did_you_mean, read_list, unknown_keys, ConfigError, ConfigProblem,
    ConfigText, FieldPath, Found, Problems, Seg, Validate,
};

/// `true`, for `#[serde(default = "ballotwatch_core::config::yes")]`.
pub fn yes() -> bool {
    true
}

/// `[watch]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Words and phrases (case-insensitive, whole words) that mark an item relevant.
    #[serde(default)]
    pub terms: Vec<String>,
}

impl Validate for WatchConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        for (i, term) in self.terms.iter().enumerate() {
            if term.trim().is_empty() {
                problems.add(
                    at.key("terms").index(i),
                    "a watch term must not be empty",
                    None,
                );
            }
        }
    }
}
