//! `[limits]`: the ceilings on the work one piece of untrusted input may cause.

use super::*;

/// `[limits]`: every ceiling on the work that one piece of untrusted input (a feed entry, a page,
/// a post, a picture, a search, a pack given to `verify`) may cause, in one place. Everything
/// Ballotwatch reads is written by the people it watches, so each walk over their structure is
/// bounded, each superlinear algorithm has a size cap and a deadline, and work that a stage
/// cannot survive is quarantined instead of retried for ever. The security model
/// (`docs/security.md`) lists these with their defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Deepest element nesting walked in fetched HTML (feed entries, pages); content below it is
    /// kept as flat text, and the item records that it was cut.
    #[serde(default = "default_max_html_depth")]
    pub max_html_depth: usize,
    /// Most text kept per item (title and body together); longer text is cut at a character
    /// boundary, and the item records that it was cut.
    #[serde(default = "default_max_item_text")]
    pub max_item_text: ByteSize,
    /// Longest search query accepted, in characters (web UI, API and `search`).
    #[serde(default = "default_max_query_length")]
    pub max_query_length: usize,
    /// Deepest nesting in a search query: each open bracket, and each `NOT` before a term, is
    /// one level.
    #[serde(default = "default_max_query_depth")]
    pub max_query_depth: usize,
    /// Most lines on each side of a watched page's diff; beyond it the change is recorded without
    /// a line diff.
    #[serde(default = "default_diff_max_lines")]
    pub diff_max_lines: usize,
    /// Wall-clock limit for one watched page's diff.
    #[serde(default = "default_diff_timeout", with = "humantime_serde")]
    pub diff_timeout: Duration,
    /// Most files in a pack that `verify` will read.
    #[serde(default = "default_verify_max_entries")]
    pub verify_max_entries: usize,
    /// Most bytes, unpacked, that `verify` will read from one pack (streamed, never held whole).
    #[serde(default = "default_verify_max_unpacked")]
    pub verify_max_unpacked: ByteSize,
    /// Largest captured image.
    #[serde(default = "default_max_image_size")]
    pub max_image_size: ByteSize,
    /// Largest captured video.
    #[serde(default = "default_max_video_size")]
    pub max_video_size: ByteSize,
    /// Attempts at one stage's work on one item (or one poll's response) that did not finish
    /// (a crash, an abort, a kill) before it is quarantined instead of tried again.
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u32,
    /// Free space `data_dir` must keep; below it ingest pauses (nothing committed is touched)
    /// and resumes by itself when space returns.
    #[serde(default = "default_min_free_disk")]
    pub min_free_disk: ByteSize,
}

/// The default of `[limits] max_html_depth`.
pub const DEFAULT_MAX_HTML_DEPTH: usize = 256;

/// The largest `[limits] max_html_depth` accepted: the deepest tree html2text's recursive layout
/// is ever given (nested tables at this depth) still fits a 2 MiB worker stack with room to spare
/// (ingest's `the_ceiling_fits_a_worker_stack`). Ingest clamps to it; validation refuses more.
pub const MAX_HTML_DEPTH_CEILING: usize = 1024;

fn default_max_html_depth() -> usize {
    DEFAULT_MAX_HTML_DEPTH
}
fn default_max_item_text() -> ByteSize {
    ByteSize::kib(512)
}
fn default_max_query_length() -> usize {
    1024
}
fn default_max_query_depth() -> usize {
    16
}
fn default_diff_max_lines() -> usize {
    20_000
}
fn default_diff_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_verify_max_entries() -> usize {
    100_000
}
fn default_verify_max_unpacked() -> ByteSize {
    ByteSize::gib(8)
}
fn default_max_image_size() -> ByteSize {
    ByteSize::mib(20)
}
fn default_max_video_size() -> ByteSize {
    ByteSize::mib(100)
}
fn default_quarantine_after() -> u32 {
    2
}
fn default_min_free_disk() -> ByteSize {
    ByteSize::mib(256)
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_html_depth: default_max_html_depth(),
            max_item_text: default_max_item_text(),
            max_query_length: default_max_query_length(),
            max_query_depth: default_max_query_depth(),
            diff_max_lines: default_diff_max_lines(),
            diff_timeout: default_diff_timeout(),
            verify_max_entries: default_verify_max_entries(),
            verify_max_unpacked: default_verify_max_unpacked(),
            max_image_size: default_max_image_size(),
            max_video_size: default_max_video_size(),
            quarantine_after: default_quarantine_after(),
            min_free_disk: default_min_free_disk(),
        }
    }
}

impl Validate for LimitsConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        for (field, zero) in [
            ("max_html_depth", self.max_html_depth == 0),
            ("max_item_text", self.max_item_text.as_u64() == 0),
            ("max_query_length", self.max_query_length == 0),
            ("max_query_depth", self.max_query_depth == 0),
            ("diff_max_lines", self.diff_max_lines == 0),
            ("diff_timeout", self.diff_timeout.is_zero()),
            ("verify_max_entries", self.verify_max_entries == 0),
            (
                "verify_max_unpacked",
                self.verify_max_unpacked.as_u64() == 0,
            ),
            ("max_image_size", self.max_image_size.as_u64() == 0),
            ("max_video_size", self.max_video_size.as_u64() == 0),
            ("quarantine_after", self.quarantine_after == 0),
        ] {
            if zero {
                problems.advise(
                    at.key(field),
                    "must be more than zero",
                    "leave the key out to use the default",
                );
            }
        }
        if self.max_html_depth > MAX_HTML_DEPTH_CEILING {
            problems.add(
                at.key("max_html_depth"),
                format!(
                    "must be at most {MAX_HTML_DEPTH_CEILING}: deeper HTML is cut at the ceiling \
                     anyway, the deepest layout known to fit a worker's stack"
                ),
                Some(format!(
                    "use {MAX_HTML_DEPTH_CEILING} or less, or leave the key out for the default ({DEFAULT_MAX_HTML_DEPTH})"
                )),
            );
        }
    }
}
