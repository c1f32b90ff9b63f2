//! The data that flows through Ballotwatch: items, verdicts, classification results, incidents
//! and capture records. These are the JSON formats of the product contract.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which source an item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceRef {
    /// The source kind, e.g. `rss`.
    #[serde(default)]
    pub kind: String,
    /// The source's configured name, e.g. `Anytown Echo`.
    #[serde(default)]
    pub name: String,
}

/// Who published an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Author {
    /// Platform handle, e.g. `@someone` or `someone.bsky.social`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// The name shown next to the post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Platform name, e.g. `bluesky`, `mastodon`, `web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The author's profile or home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The profile's description ("bio") as plain text, where the platform gives it with the
    /// post. Some platforms' digital imprints live here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// Whether the platform marks the account as verified (X's tick, paid or organisational),
    /// where the source gives it. A tick can be bought, so it is a weak signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// How many accounts follow this one, where the source gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    /// When the account was created, where the source gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An image or video attached to or linked from an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Media {
    /// Where the media was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A local copy, for `classify` to examine without fetching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// MIME type as declared by the publisher (or sniffed once captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// SHA-256 of the captured bytes, once captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why the media could not be captured (or, for a captured video, why no frames could
    /// be taken from it), naming the URL's problem. Absent when all went well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_error: Option<String>,
    /// With `capture_error`: the failure may pass (network trouble, a timeout, HTTP 404 or
    /// 5xx), so the download is tried again on the next poll that carries the item. Failures
    /// that would recur (refused address, not an image, too large) are not retried.
    #[serde(default, skip_serializing_if = "is_false")]
    pub capture_retry: bool,
    /// For a frame taken from a captured video: the index in the item's `media` of that
    /// video. Frames are added by Ballotwatch after the published media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_of: Option<usize>,
    /// For a frame taken from a captured video: its time in the video, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_time_ms: Option<u64>,
}

/// One published thing: a news article, a post, a video, a version of a web page.
///
/// Every field but one of `text`/`title`/`media` is optional on input; [`Item::normalise`]
/// fills the id when it is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Item {
    /// Stable id: the same published entry always gets the same id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The source that produced it.
    #[serde(default)]
    pub source: SourceRef,
    /// Canonical link to the published entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the publisher says it was published (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// Who published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    /// Title or headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Plain text body, for reading, indexing and detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sanitized HTML body for display (allow-listed tags only, never scripts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Links found in the item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Attached or linked media.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// Watch terms (from `[watch] terms`) that occur in the item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_terms: Vec<String>,
    /// When Ballotwatch stored it (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested_at: Option<DateTime<Utc>>,
    /// Version of this entry: 1 when first seen, +1 each time its content changes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    /// For a watched web page's new version: a unified diff of its main text against the
    /// previous version (absent on a page's first version and for other sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Why less than the published content was kept, naming the limit (`[limits]
    /// max_item_text`, `max_html_depth`): text cut at a size, or HTML nested too deep kept as
    /// flat text. Absent when everything was kept. The captured bytes always hold the whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// The largest index `<= at` that is a character boundary of `s` (or `s.len()`): where to cut
/// text at a byte limit without splitting a character (`&s[..floor_char_boundary(s, max)]`).
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut i = at;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Why an item could not be accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ItemError {
    /// Neither text, title nor media.
    #[error("the item has no `text`, `title` or `media`: at least one is required")]
    Empty,
}

impl Item {
    /// Derives a stable item id from the source name and the entry's own key (its GUID or URL).
    ///
    /// The id is 32 lowercase hex characters; the same inputs always give the same id.
    pub fn derive_id(source_name: &str, key: &str) -> String {
        let mut h = Sha256::new();
        h.update(source_name.as_bytes());
        h.update([0u8]);
        h.update(key.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// Derives a stable id for an item with neither `id` nor `url`: the first 16 bytes (32
    /// lowercase hex characters) of the SHA-256 of its published content, written as
    /// `ballotwatch-content-id-v1` followed by, each as its byte length (8 bytes, big-endian) and
    /// its UTF-8 bytes (absent fields empty): source kind, source name, author platform, handle,
    /// display name and URL, `published_at` (RFC 3339), title, text, the number of links and each
    /// link, the number of media and for each its URL, local path, MIME type and SHA-256.
    ///
    /// The same content always gives the same id (across runs, machines and versions: a change
    /// to this layout gets a new `-v2` tag); any change to one of those fields gives another.
    /// Fields Ballotwatch adds itself (ingest time, version, matched terms, capture errors) are
    /// not part of it.
    pub fn derive_content_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"ballotwatch-content-id-v1");
        let mut field = |v: &str| {
            h.update((v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        field(&self.source.kind);
        field(&self.source.name);
        let a = self.author.clone().unwrap_or_default();
        for v in [&a.platform, &a.handle, &a.display_name, &a.url] {
            field(&opt(v));
        }
        field(
            &self
                .published_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default(),
        );
        field(&opt(&self.title));
        field(&opt(&self.text));
        field(&self.links.len().to_string());
        for l in &self.links {
            field(l);
        }
        field(&self.media.len().to_string());
        for m in &self.media {
            field(&opt(&m.url));
            field(
                &m.path
                    .as_deref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            field(&opt(&m.mime));
            field(&opt(&m.sha256));
        }
        hex::encode(&h.finalize()[..16])
    }

    /// Checks the item has content and fills a missing id: from source name and URL
    /// ([`Item::derive_id`]), or without a URL from the content ([`Item::derive_content_id`]).
    pub fn normalise(mut self) -> Result<Item, ItemError> {
        let has = |s: &Option<String>| s.as_deref().is_some_and(|t| !t.trim().is_empty());
        if !has(&self.text) && !has(&self.title) && self.media.is_empty() {
            return Err(ItemError::Empty);
        }
        if self.id.trim().is_empty() {
            self.id = match self.url.as_deref() {
                Some(url) => Item::derive_id(&self.source.name, url),
                None => self.derive_content_id(),
            };
        }
        Ok(self)
    }

    /// Title and text joined, as detectors and watch terms see the item.
    pub fn full_text(&self) -> String {
        match (self.title.as_deref(), self.text.as_deref()) {
            (Some(t), Some(x)) => format!("{t}\n{x}"),
            (Some(t), None) => t.to_string(),
            (None, Some(x)) => x.to_string(),
            (None, None) => String::new(),
        }
    }

    /// Keeps at most `max_bytes` of title and text together (the title first), each cut at a
    /// character boundary, and records in [`Item::truncated`] that it was cut. Sanitized HTML
    /// longer than the limit is dropped rather than cut (a cut could leave a tag open), so the
    /// item shows its (cut) plain text. True when anything was cut.
    pub fn limit_text(&mut self, max_bytes: usize) -> bool {
        let title_len = self.title.as_deref().map_or(0, str::len);
        let text_len = self.text.as_deref().map_or(0, str::len);
        let html_len = self.html.as_deref().map_or(0, str::len);
        if title_len + text_len <= max_bytes && html_len <= max_bytes {
            return false;
        }
        let total = title_len + text_len;
        let mut left = max_bytes;
        for field in [&mut self.title, &mut self.text] {
            if let Some(s) = field.as_mut() {
                let keep = floor_char_boundary(s, left);
                s.truncate(keep);
                left -= keep;
            }
        }
        if self.text.as_deref() == Some("") {
            self.text = None;
        }
        if html_len > max_bytes {
            self.html = None;
        }
        let kept =
            self.title.as_deref().map_or(0, str::len) + self.text.as_deref().map_or(0, str::len);
        let reason = format!(
            "the text was cut to {kept} of {total} bytes ([limits] max_item_text = {max_bytes} bytes){}",
            if html_len > max_bytes { "; its HTML was not kept" } else { "" }
        );
        self.truncated = Some(match self.truncated.take() {
            Some(earlier) => format!("{earlier}; {reason}"),
            None => reason,
        });
        true
    }

    /// SHA-256 (hex) of the item's published content: what changes when the publisher edits it.
    ///
    /// Ingest bookkeeping (`ingested_at`, `version`, `matched_terms`) is not part of it.
    pub fn content_hash(&self) -> String {
        let mut c = self.clone();
        c.ingested_at = None;
        c.version = 0;
        c.matched_terms.clear();
        // Why content was cut is about what Ballotwatch kept, not what was published (the cut
        // text itself is part of the hash).
        c.truncated = None;
        // Why a download failed is not published content: a retry that fails again (perhaps
        // for another reason) must not make a new version.
        for m in &mut c.media {
            m.capture_error = None;
            m.capture_retry = false;
        }
        // Serializing a plain struct of strings cannot fail.
        let bytes = serde_json::to_vec(&c).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

/// What kind of threat a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Someone pretending to be the council, an official or a candidate.
    Impersonation,
    /// AI-generated or manipulated images and video.
    SyntheticMedia,
    /// False claims about how voting works.
    Misinformation,
    /// Material that breaks election law on its face, e.g. digital election material without
    /// the imprint the Elections Act 2022 requires.
    ElectoralLaw,
}

impl VerdictKind {
    /// Every kind, in a fixed order.
    pub const ALL: [VerdictKind; 4] = [
        VerdictKind::Impersonation,
        VerdictKind::SyntheticMedia,
        VerdictKind::Misinformation,
        VerdictKind::ElectoralLaw,
    ];

    /// The name used in JSON, config and queries.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Impersonation => "impersonation",
            VerdictKind::SyntheticMedia => "synthetic_media",
            VerdictKind::Misinformation => "misinformation",
            VerdictKind::ElectoralLaw => "electoral_law",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent something is. Ordered: `None < Low < Medium < High`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Nothing to act on.
    #[default]
    None,
    /// Worth a look.
    Low,
    /// Needs action today.
    Medium,
    /// Needs action now.
    High,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];

    /// The name used in JSON, config and queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// A small integer, 0 for `none` to 3 for `high`, for storage and range queries.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The inverse of [`Severity::rank`].
    pub fn from_rank(rank: u8) -> Option<Severity> {
        Severity::ALL.get(usize::from(rank)).copied()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown severity `{s}`: expected none, low, medium or high"))
    }
}

/// One detector's finding about one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The threat kind.
    pub kind: VerdictKind,
    /// What exactly was found, e.g. `lookalike_domain`.
    pub label: String,
    /// Calibrated confidence, 0 to 1.
    pub score: f32,
    /// The detector's name, e.g. `domains`.
    pub detector: String,
    /// A sentence a comms officer can read and act on, naming the evidence.
    pub explanation: String,
    /// Machine-readable evidence (the matched domain, the narrative id, ...).
    #[serde(default)]
    pub evidence: serde_json::Value,
    /// The correct position to reply with, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuttal: Option<String>,
}

impl Verdict {
    /// A weak signal shown on the item that did not flag it by itself: its evidence says
    /// `"weak_signal": true` without `"flags_alone": true` (the pixel model below
    /// `[detectors.pixel_model] alone_threshold`). Such a verdict neither titles an incident
    /// nor matches an alert rule's kinds; the verdicts that flagged the item do.
    pub fn is_weak_only(&self) -> bool {
        let flag = |k: &str| self.evidence.get(k).and_then(serde_json::Value::as_bool);
        flag("weak_signal") == Some(true) && flag("flags_alone") != Some(true)
    }
}

/// The result of classifying one item: what `classify` writes and what is attached to items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyResult {
    /// The item's id.
    pub id: String,
    /// True when any verdict crossed its configured threshold.
    pub flagged: bool,
    /// The highest severity among flagged verdicts (`none` when not flagged).
    pub severity: Severity,
    /// Every verdict, flagged or not.
    pub verdicts: Vec<Verdict>,
    /// Detectors that failed on this item, with the reason (their verdicts are missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detector_errors: Vec<String>,
    /// Text read (OCR) from the item's images, which the text detectors also judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_text: Vec<MediaText>,
}

/// Text read (OCR) from one of an item's images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaText {
    /// Index of the medium in the item's `media`.
    pub media: usize,
    /// SHA-256 of the image, when captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The text, one line per text line in reading order.
    pub text: String,
    /// Fraction of the image's area covered by text, 0 to 1.
    pub text_fraction: f32,
}

impl ClassifyResult {
    /// All text read from the item's images, joined with blank lines (empty when none).
    pub fn media_text_joined(&self) -> String {
        self.media_text
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// One incident an item belongs to, as the search index holds it: its id and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IncidentRef {
    /// The incident's id.
    pub id: i64,
    /// Its workflow status.
    pub status: IncidentStatus,
}

/// Where an incident is in the comms team's workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Not looked at yet.
    #[default]
    New,
    /// Someone is on it.
    Investigating,
    /// Passed up to the Returning Officer or police.
    Escalated,
    /// Reported through the platform's channel.
    ReportedToPlatform,
    /// Dealt with.
    Resolved,
    /// Not a real threat.
    FalseAlarm,
}

impl IncidentStatus {
    /// Every status, in workflow order.
    pub const ALL: [IncidentStatus; 6] = [
        IncidentStatus::New,
        IncidentStatus::Investigating,
        IncidentStatus::Escalated,
        IncidentStatus::ReportedToPlatform,
        IncidentStatus::Resolved,
        IncidentStatus::FalseAlarm,
    ];

    /// The name used in JSON, storage and queries.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::New => "new",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Escalated => "escalated",
            IncidentStatus::ReportedToPlatform => "reported_to_platform",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::FalseAlarm => "false_alarm",
        }
    }
}

impl FromStr for IncidentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown incident status `{s}`"))
    }
}

/// A threat the comms team works on: one or more flagged items (sightings) grouped together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Incident id.
    pub id: i64,
    /// Short human title.
    pub title: String,
    /// Threat kind.
    pub kind: VerdictKind,
    /// Current severity.
    pub severity: Severity,
    /// Workflow status.
    pub status: IncidentStatus,
    /// Who is working on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The evidence record of one HTTP fetch: exactly what was received, from where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// The URL requested.
    pub url: String,
    /// The URL after redirects.
    pub final_url: String,
    /// HTTP status code.
    pub status: u16,
    /// Response headers in received order (name, value).
    pub headers: Vec<(String, String)>,
    /// SHA-256 (hex) of the body bytes as received (after content-encoding is undone).
    pub sha256: String,
    /// Body size in bytes.
    pub size: u64,
    /// When the request started (UTC).
    pub started_at: DateTime<Utc>,
    /// When the body was fully received (UTC).
    pub finished_at: DateTime<Utc>,
}

/// SHA-256 of bytes as lowercase hex: the one way Ballotwatch names content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;
