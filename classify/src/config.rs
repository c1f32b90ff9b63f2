//! `[[identity]]`, `[[narrative]]` and `[detectors]` (with OCR and the pixel model): what classify
//! reads, and their rules.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use ballotwatch_core::config::{check_domain, yes, FieldPath, Problems, Validate};
use serde::Deserialize;
use url::Url;

/// What classify reads of the configuration, borrowed from the root `Config`.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyConfig<'a> {
    /// `[detectors]`.
    pub detectors: &'a DetectorsConfig,
    /// The protected identities (`[[identity]]`).
    pub identities: &'a [IdentityConfig],
    /// The council's own narratives (`[[narrative]]`).
    pub narratives: &'a [NarrativeConfig],
}

/// One `[[identity]]`: someone Ballotwatch protects from impersonation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Name as the public knows it.
    pub name: String,
    /// Other names the public knows it by, each protected like `name`: its Welsh name (a
    /// bilingual council's "Cyngor Sir Ynys Môn"), a short form.
    #[serde(default)]
    pub names: Vec<String>,
    /// What sort of identity it is.
    pub kind: IdentityKind,
    /// Official domains (their subdomains are official too).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Official handles per platform.
    #[serde(default)]
    pub handles: BTreeMap<String, Vec<String>>,
    /// Logo images whose reuse by others is suspicious.
    #[serde(default)]
    pub logos: Vec<PathBuf>,
}

/// The sort of protected identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The council or another body.
    Organisation,
    /// A post such as the Returning Officer.
    Role,
    /// A candidate standing for election.
    Candidate,
    /// A named official.
    Official,
    /// A political party or its local branch (its name is what its material asks votes for;
    /// its handles are campaigners' accounts, checked for imprints).
    Party,
}

/// One `[[narrative]]`: a false claim to watch for, with the correct position.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NarrativeConfig {
    /// Unique id.
    pub id: String,
    /// The false claim in one sentence.
    pub claim: String,
    /// Ways people phrase it.
    #[serde(default)]
    pub examples: Vec<String>,
    /// The correct position, ready to paste as a reply.
    pub rebuttal: String,
    /// Ways people correct it (debunks, official guidance). Posts that repeat these are on the
    /// rebuttal side and are not flagged.
    #[serde(default)]
    pub debunks: Vec<String>,
    /// Where the correct position is published.
    #[serde(default)]
    pub source: Option<Url>,
}

/// `[detectors]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorsConfig {
    /// Default score at or above which a verdict flags an item.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-detector thresholds by detector name.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
    /// Where ONNX models are installed (default: `BALLOTWATCH_MODELS`, then `./models`).
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// Threads each ONNX model may use (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Most texts a model runs at once.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Most differing PDQ hash bits (of 256) for an image to count as a re-upload of media
    /// confirmed fake (default 31, Meta's usual match threshold).
    #[serde(default = "default_known_fake_distance")]
    pub known_fake_distance: u32,
    /// `[detectors.ocr]`: reading the text in images.
    #[serde(default)]
    pub ocr: OcrConfig,
    /// `[detectors.pixel_model]`: the image classifier for AI-generated pictures.
    #[serde(default)]
    pub pixel_model: PixelModelConfig,
}

/// `[detectors.ocr]`: OCR of every image medium, whose text joins the item's text for the
/// text detectors, the index and evidence packs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcrConfig {
    /// Run OCR at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Longest side, in pixels, of the image the text detector sees (default 960; larger
    /// images are scaled down).
    #[serde(default = "default_ocr_max_side")]
    pub max_side: u32,
    /// Most text lines read from one image (default 64).
    #[serde(default = "default_ocr_max_lines")]
    pub max_lines: usize,
}

fn default_ocr_max_side() -> u32 {
    960
}

fn default_ocr_max_lines() -> usize {
    64
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            enabled: true,
            max_side: default_ocr_max_side(),
            max_lines: default_ocr_max_lines(),
        }
    }
}

/// `[detectors.pixel_model]`: a pluggable ONNX image classifier described by a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelModelConfig {
    /// Run the pixel model at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A manifest (TOML) describing your own model; default: the built-in manifest of the
    /// CLIP probe in `<models_dir>/pixel/`.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// Skip images whose OCR text covers more than this fraction of the picture (default 0.2):
    /// the model is not reliable on documents and screenshots.
    #[serde(default = "default_max_text_fraction")]
    pub max_text_fraction: f32,
    /// The model's probability at or above which its verdict flags an item on its own (default
    /// 0.99). Below it, a pixel-model verdict is shown on the item and raises the severity of
    /// another verdict that flags it, but never flags, opens an incident or alerts by itself.
    #[serde(default = "default_alone_threshold")]
    pub alone_threshold: f32,
}

fn default_max_text_fraction() -> f32 {
    0.2
}

fn default_alone_threshold() -> f32 {
    0.99
}

impl Default for PixelModelConfig {
    fn default() -> Self {
        PixelModelConfig {
            enabled: true,
            manifest: None,
            max_text_fraction: default_max_text_fraction(),
            alone_threshold: default_alone_threshold(),
        }
    }
}

fn default_known_fake_distance() -> u32 {
    31
}

fn default_threshold() -> f32 {
    0.5
}

fn default_batch_size() -> usize {
    32
}

impl Default for DetectorsConfig {
    fn default() -> Self {
        DetectorsConfig {
            threshold: default_threshold(),
            thresholds: BTreeMap::new(),
            models_dir: None,
            threads: None,
            batch_size: default_batch_size(),
            known_fake_distance: default_known_fake_distance(),
            ocr: OcrConfig::default(),
            pixel_model: PixelModelConfig::default(),
        }
    }
}

impl DetectorsConfig {
    /// The threshold that applies to a detector.
    pub fn threshold_for(&self, detector: &str) -> f32 {
        self.thresholds
            .get(detector)
            .copied()
            .unwrap_or(self.threshold)
    }
}

impl Validate for IdentityConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if self.name.trim().is_empty() {
            problems.add(at.key("name"), "must not be empty", None);
        }
        for (j, n) in self.names.iter().enumerate() {
            if n.trim().is_empty() {
                problems.add(at.key("names").index(j), "must not be empty", None);
            }
        }
        for (j, d) in self.domains.iter().enumerate() {
            if let Err(e) = check_domain(d) {
                problems.advise(
                    at.key("domains").index(j),
                    e.to_string(),
                    "write the bare domain, e.g. \"anytown.gov.uk\"",
                );
            }
        }
        // `handles` are checked with the platforms' own rules by the root configuration
        // (ingest knows the platforms).
    }
}

/// The rules of the whole `[[narrative]]` list (found at `at`): each entry's, and ids unique
/// across the list.
pub fn validate_narratives(
    narratives: &[NarrativeConfig],
    at: &FieldPath,
    problems: &mut Problems,
) {
    {
        let mut ids = HashSet::new();
        for (i, n) in narratives.iter().enumerate() {
            let at = at.index(i);
            if n.id.trim().is_empty() {
                problems.add(at.key("id"), "must not be empty", None);
            } else if !ids.insert(n.id.as_str()) {
                problems.add(
                    at.key("id"),
                    format!("`{}` is used by another narrative", n.id),
                    None,
                );
            }
            if n.claim.trim().is_empty() {
                problems.add(at.key("claim"), "must not be empty", None);
            }
            if n.rebuttal.trim().is_empty() {
                problems.advise(
                    at.key("rebuttal"),
                    "must not be empty",
                    "give the correct position a comms officer can paste as a reply",
                );
            }
        }
    }
}

impl Validate for DetectorsConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if !(0.0..=1.0).contains(&self.threshold) {
            problems.advise(
                at.key("threshold"),
                format!("{} is out of range", self.threshold),
                "use a score from 0 to 1",
            );
        }
        for (name, t) in &self.thresholds {
            if !(0.0..=1.0).contains(t) {
                problems.advise(
                    at.key("thresholds").key(name),
                    format!("{t} is out of range"),
                    "use a score from 0 to 1",
                );
            }
        }
        if self.threads == Some(0) {
            problems.advise(
                at.key("threads"),
                "must be at least 1",
                "leave it out to use every core",
            );
        }
        if self.batch_size == 0 {
            problems.add(at.key("batch_size"), "must be at least 1", None);
        }
        if self.known_fake_distance > 64 {
            problems.advise(
                at.key("known_fake_distance"),
                format!(
                    "{} of 256 bits would match unrelated pictures",
                    self.known_fake_distance
                ),
                "use 31 (the usual PDQ threshold) or less",
            );
        }
        let ocr = at.key("ocr");
        if self.ocr.max_side < 32 || self.ocr.max_side > 4096 {
            problems.advise(
                ocr.key("max_side"),
                format!("{} is out of range", self.ocr.max_side),
                "use 32 to 4096 pixels (default 960)",
            );
        }
        if self.ocr.max_lines == 0 {
            problems.add(ocr.key("max_lines"), "must be at least 1", None);
        }
        if !(0.0..=1.0).contains(&self.pixel_model.max_text_fraction) {
            problems.advise(
                at.key("pixel_model").key("max_text_fraction"),
                format!("{} is out of range", self.pixel_model.max_text_fraction),
                "use a fraction from 0 to 1",
            );
        }
        if !(0.0..=1.0).contains(&self.pixel_model.alone_threshold) {
            problems.advise(
                at.key("pixel_model").key("alone_threshold"),
                format!("{} is out of range", self.pixel_model.alone_threshold),
                "use a probability from 0 to 1 (default 0.99)",
            );
        }
    }
}
