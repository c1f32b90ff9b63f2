//! `[index]`: how soon items become searchable and the writer's memory.

use std::time::Duration;

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use bytesize::ByteSize;
use serde::Deserialize;

/// `[index]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Longest time between an item being stored and it being searchable.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Memory the index writer may use for buffering.
    #[serde(default = "default_writer_memory")]
    pub writer_memory: ByteSize,
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_writer_memory() -> ByteSize {
    ByteSize::mib(64)
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            commit_interval: default_commit_interval(),
            writer_memory: default_writer_memory(),
        }
    }
}

impl Validate for IndexConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.commit_interval.is_zero() || self.commit_interval > Duration::from_secs(60) {
            problems.add(
                at.key("commit_interval"),
                "must be between 1ms and 60s",
                None,
            );
        }
    }
}
