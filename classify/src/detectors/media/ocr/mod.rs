//! OCR: reads the text in an image with RapidOCR's PP-OCRv6 detection and recognition models
//! (PyPI `rapidocr==3.10.0`, Apache-2.0; `models/install` puts them in `<models_dir>/ocr/`),
//! run through the shared ONNX runtime ([`crate::onnx`]).
//!
//! Not a detector itself: the [`crate::Classifier`] runs it on every image medium before the
//! detectors and adds the text to the item, so a screenshot of a fake notice is judged like
//! the same words in a post.
//!
//! The pipeline, as RapidOCR runs it:
//! 1. detection (DB): the image (BGR, `(v/255 - 0.5) / 0.5`) scaled so its longest side is at
//!    most `[detectors.ocr] max_side` and both sides are multiples of 32 → a text probability
//!    map → threshold 0.3 → connected regions ([`boxes`]) scored by their mean probability
//!    (kept at ≥ 0.5), each grown by the DB "unclip" distance `area × 1.6 / perimeter`;
//! 2. reading order: top to bottom, then left to right within a line;
//! 3. recognition: each box cropped from the full-resolution image, scaled to height 48, the
//!    crops batched by aspect ratio, CTC greedy decoding with the dictionary stored in the
//!    recogniser's `character` metadata (index 0 = blank, then the dictionary, then a space).
//!
//! Boxes are axis-aligned: rotated or curved text is read poorly (documented in
//! `models/ocr/MODEL.md`). Results are cached per file (path, size, modified time) so the pixel
//! model can ask for the text fraction of an image the classifier has just read.

pub mod boxes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::DetectorsConfig;
use image::{DynamicImage, RgbImage};
use ort::value::Tensor;

use crate::media::ImageDecodeError;
use crate::onnx::{load_model, LoadedModel, OnnxError};

/// Why [`Ocr::read_file`] could not read an image's text.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The file could not be looked at.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The image file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an image OCR can decode.
    #[error(transparent)]
    Decode(#[from] ImageDecodeError),
    /// The OCR models failed on it.
    #[error("OCR of {} failed: {source}", path.display())]
    Model {
        /// The image file.
        path: PathBuf,
        /// The runtime's error.
        source: OnnxError,
    },
}
use boxes::TextBox;

/// The detection model, relative to the models folder.
pub const DET_MODEL: &str = "ocr/det.onnx";
/// The recognition model, relative to the models folder.
pub const REC_MODEL: &str = "ocr/rec.onnx";
/// Height of a recognition crop (the model's fixed input height).
pub const REC_HEIGHT: u32 = 48;
/// Crops per recognition batch, at most.
const REC_BATCH: usize = 6;
/// Padded input width per recognition batch, summed over its crops, at most (a single crop
/// wider than this is a batch of its own). The model's output is `width / 8` steps × 18,710
/// classes per crop, twice over inside the runtime (logits and probabilities): six crops of
/// the widest lines (1,920 px) were 6 × 240 × 18,711 floats, 108 MiB per copy; at this budget
/// a batch's output is at most 18 MiB.
const REC_BATCH_WIDTH: usize = 1920;
/// Narrowest recognition input, as a width/height ratio (RapidOCR's 320/48).
const MIN_WH_RATIO: f32 = 320.0 / 48.0;
/// Widest recognition crop, as a width/height ratio (longer lines are squeezed).
const MAX_WH_RATIO: f32 = 40.0;
/// Probability above which a detection-map pixel is text.
const DET_THRESH: f32 = 0.3;
/// Mean probability a region needs to count as a text box.
const BOX_THRESH: f32 = 0.5;
/// DB unclip ratio.
const UNCLIP_RATIO: f32 = 1.6;
/// Mean character confidence a recognised line needs to be kept.
const TEXT_SCORE: f32 = 0.5;
/// Results kept in the per-file cache.
const CACHE_ENTRIES: usize = 64;

/// One line of recognised text.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrLine {
    /// The text.
    pub text: String,
    /// Mean confidence of its characters, 0 to 1.
    pub score: f32,
    /// Where it is in the image: `[x0, y0, x1, y1]` in pixels.
    pub bbox: [u32; 4],
}

/// What OCR read from one image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OcrOutput {
    /// Lines in reading order.
    pub lines: Vec<OcrLine>,
    /// Fraction of the image's area covered by detected text boxes, 0 to 1.
    pub text_fraction: f32,
}

impl OcrOutput {
    /// The lines joined with newlines.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Key of the per-file cache: the file, its size and modification time.
type CacheKey = (PathBuf, u64, Option<std::time::SystemTime>);

/// The OCR engine: detection and recognition sessions and the dictionary, loaded once per
/// models folder and shared ([`Ocr::shared`]).
pub struct Ocr {
    det: LoadedModel,
    rec: LoadedModel,
    dictionary: Vec<String>,
    max_side: u32,
    max_lines: usize,
    cache: Mutex<Vec<(CacheKey, Arc<OcrOutput>)>>,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("det_sha256", &self.det.sha256)
            .field("rec_sha256", &self.rec.sha256)
            .field("dictionary", &self.dictionary.len())
            .finish()
    }
}

impl Ocr {
    /// The engine for `models_dir` and `[detectors.ocr]`'s limits, loaded on first use and
    /// shared afterwards (by the classifier and the pixel model's text gate).
    pub fn shared(models_dir: &Path, config: &DetectorsConfig) -> Result<Arc<Ocr>, OnnxError> {
        type Key = (PathBuf, u32, usize);
        static LOADED: OnceLock<Mutex<HashMap<Key, Arc<Ocr>>>> = OnceLock::new();
        let key = (
            models_dir.to_path_buf(),
            config.ocr.max_side,
            config.ocr.max_lines,
        );
        let map = LOADED.get_or_init(Default::default);
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = map.get(&key) {
            return Ok(o.clone());
        }
        let ocr = Arc::new(Ocr::load(models_dir, config)?);
        map.insert(key, ocr.clone());
        Ok(ocr)
    }

    /// Loads `ocr/det.onnx` and `ocr/rec.onnx` from `models_dir` (prefer [`Ocr::shared`]).
    pub fn load(models_dir: &Path, config: &DetectorsConfig) -> Result<Ocr, OnnxError> {
        let det = load_model(
            models_dir,
            &models_dir.join(DET_MODEL),
            "OCR detection model",
            config,
        )?;
        let rec_path = models_dir.join(REC_MODEL);
        let rec = load_model(models_dir, &rec_path, "OCR recognition model", config)?;
        let dictionary = {
            let session = rec.session.lock().unwrap_or_else(|p| p.into_inner());
            let meta = session.metadata().map_err(|e| OnnxError::Load {
                path: rec_path.clone(),
                message: format!("cannot read its metadata: {e}"),
            })?;
            let chars = meta.custom("character").ok_or_else(|| OnnxError::Load {
                path: rec_path.clone(),
                message: "it has no `character` metadata (the recogniser's dictionary)".into(),
            })?;
            dictionary_from_metadata(&chars)
        };
        tracing::info!(characters = dictionary.len(), "loaded OCR dictionary");
        Ok(Ocr {
            det,
            rec,
            dictionary,
            max_side: config.ocr.max_side.max(32),
            max_lines: config.ocr.max_lines.max(1),
            cache: Mutex::new(Vec::new()),
        })
    }

    /// SHA-256 of the detection and recognition models, for provenance.
    pub fn version(&self) -> String {
        format!(
            "ppocrv6 det {} rec {}",
            &self.det.sha256[..12],
            &self.rec.sha256[..12]
        )
    }

    /// Characters the recogniser can output (blank and space included).
    pub fn dictionary(&self) -> &[String] {
        &self.dictionary
    }

    /// Reads the image file at `path` (decoded with [`crate::media::decode_image`]); repeated
    /// calls for an unchanged file return the cached result.
    pub fn read_file(&self, path: &Path) -> Result<Arc<OcrOutput>, OcrError> {
        let meta = std::fs::metadata(path).map_err(|source| OcrError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key: CacheKey = (path.to_path_buf(), meta.len(), meta.modified().ok());
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, out)) = cache.iter().find(|(k, _)| *k == key) {
                return Ok(out.clone());
            }
        }
        let img = crate::media::decode_image(path)?;
        let out = Arc::new(self.read(&img).map_err(|source| OcrError::Model {
            path: path.to_path_buf(),
            source,
        })?);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((key, out.clone()));
        Ok(out)
    }

    /// Reads the text in a decoded image.
    pub fn read(&self, img: &DynamicImage) -> Result<OcrOutput, OnnxError> {
        let rgb = img.to_rgb8();
        if rgb.width() < 4 || rgb.height() < 4 {
            return Ok(OcrOutput::default());
        }
        let det = self.det_input(&rgb);
        let (prob, pw, ph) = self.run_det(&det)?;
        let mut found = boxes::text_boxes(&prob, pw, ph, DET_THRESH, BOX_THRESH, UNCLIP_RATIO);
        let text_fraction = boxes::covered_fraction(&found, pw, ph);
        // Back to the original image's pixels.
        let sx = rgb.width() as f32 / pw as f32;
        let sy = rgb.height() as f32 / ph as f32;
        for b in &mut found {
            b.x0 = (b.x0 * sx).clamp(0.0, rgb.width() as f32 - 1.0);
            b.x1 = (b.x1 * sx).clamp(0.0, rgb.width() as f32 - 1.0);
            b.y0 = (b.y0 * sy).clamp(0.0, rgb.height() as f32 - 1.0);
            b.y1 = (b.y1 * sy).clamp(0.0, rgb.height() as f32 - 1.0);
        }
        found.retain(|b| b.x1 - b.x0 >= 3.0 && b.y1 - b.y0 >= 3.0);
        boxes::reading_order(&mut found);
        found.truncate(self.max_lines);
        let crops: Vec<RgbImage> = found.iter().map(|b| crop(&rgb, b)).collect();
        let decoded = self.recognise(&crops)?;
        crate::onnx::release_free_memory();
        let lines = found
            .iter()
            .zip(decoded)
            .filter(|(_, (text, score))| *score >= TEXT_SCORE && !text.trim().is_empty())
            .map(|(b, (text, score))| OcrLine {
                text: text.trim().to_string(),
                score,
                bbox: [b.x0 as u32, b.y0 as u32, b.x1 as u32, b.y1 as u32],
            })
            .collect();
        Ok(OcrOutput {
            lines,
            text_fraction,
        })
    }

    /// The detection input for an image: `[1, 3, h, w]` BGR, normalised, sides multiples of 32
    /// with the longest at most `max_side`.
    pub fn det_input(&self, rgb: &RgbImage) -> DetInput {
        let (w, h) = (rgb.width() as f32, rgb.height() as f32);
        let scale = (self.max_side as f32 / w.max(h)).min(1.0);
        let round32 = |v: f32| (((v * scale) / 32.0).round() as u32).max(1) * 32;
        let (tw, th) = (round32(w), round32(h));
        let resized = image::imageops::resize(rgb, tw, th, image::imageops::FilterType::Triangle);
        DetInput {
            width: tw as usize,
            height: th as usize,
            data: to_chw_bgr(&resized, tw as usize),
        }
    }

    /// Runs the detection model: the text probability map and its width and height.
    pub fn run_det(&self, input: &DetInput) -> Result<(Vec<f32>, usize, usize), OnnxError> {
        let err = |e: ort::Error| OnnxError::Inference(e.to_string());
        let tensor =
            Tensor::from_array(([1usize, 3, input.height, input.width], input.data.clone()))
                .map_err(err)?;
        let mut session = self.det.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(ort::inputs![tensor]).map_err(err)?;
        let (_, value) = outputs
            .iter()
            .next()
            .ok_or_else(|| OnnxError::Inference("the detection model gave no output".into()))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        match &shape[..] {
            [1, 1, h, w] if *h as usize == input.height && *w as usize == input.width => {
                Ok((data.to_vec(), input.width, input.height))
            }
            other => Err(OnnxError::Inference(format!(
                "detection output has shape {other:?}, expected [1, 1, {}, {}]",
                input.height, input.width
            ))),
        }
    }

    /// Recognises crops (in any order), returning (text, mean confidence) per crop in input
    /// order. Crops are batched by aspect ratio so little width is padding.
    pub fn recognise(&self, crops: &[RgbImage]) -> Result<Vec<(String, f32)>, OnnxError> {
        let mut out = vec![(String::new(), 0.0); crops.len()];
        for (rows, batch) in rec_batches(crops) {
            for (i, read) in rows.into_iter().zip(self.run_rec(&batch)?) {
                out[i] = read;
            }
        }
        Ok(out)
    }

    /// Runs the recognition model on one batch and decodes each crop's `steps × classes`
    /// probabilities where the runtime left them (no copy): (text, mean confidence) per crop.
    pub fn run_rec(&self, batch: &RecBatch) -> Result<Vec<(String, f32)>, OnnxError> {
        let err = |e: ort::Error| OnnxError::Inference(e.to_string());
        let n = batch.rows;
        let tensor =
            Tensor::from_array(([n, 3, REC_HEIGHT as usize, batch.width], batch.data.clone()))
                .map_err(err)?;
        let mut session = self.rec.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(ort::inputs![tensor]).map_err(err)?;
        let (_, value) = outputs
            .iter()
            .next()
            .ok_or_else(|| OnnxError::Inference("the recognition model gave no output".into()))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        let (steps, classes) = match &shape[..] {
            [rows, steps, classes] if *rows as usize == n => (*steps as usize, *classes as usize),
            other => {
                return Err(OnnxError::Inference(format!(
                    "recognition output has shape {other:?}"
                )))
            }
        };
        if classes != self.dictionary.len() {
            return Err(OnnxError::Inference(format!(
                "recognition model has {classes} classes but its dictionary has {}",
                self.dictionary.len()
            )));
        }
        Ok(data
            .chunks(steps * classes)
            .map(|row| ctc_greedy(row, classes, &self.dictionary))
            .collect())
    }
}

/// A detection input tensor.
#[derive(Debug, Clone)]
pub struct DetInput {
    /// Width in pixels (a multiple of 32).
    pub width: usize,
    /// Height in pixels (a multiple of 32).
    pub height: usize,
    /// `[3, height, width]` BGR, `(v/255 - 0.5) / 0.5`.
    pub data: Vec<f32>,
}

/// A recognition input batch.
#[derive(Debug, Clone)]
pub struct RecBatch {
    /// Crops in the batch.
    pub rows: usize,
    /// Common width (crops are left-aligned and zero-padded).
    pub width: usize,
    /// `[rows, 3, 48, width]` BGR, `(v/255 - 0.5) / 0.5`.
    pub data: Vec<f32>,
}

/// The dictionary from the recogniser's `character` metadata: index 0 is the CTC blank, then one
/// entry per line, then a space.
pub fn dictionary_from_metadata(chars: &str) -> Vec<String> {
    let mut dict = vec![String::new()];
    dict.extend(
        chars
            .split('\n')
            .map(|c| c.trim_end_matches('\r').to_string()),
    );
    // A trailing newline would leave an empty last entry that is not a class.
    if dict.len() > 1 && dict.last().is_some_and(String::is_empty) {
        dict.pop();
    }
    dict.push(" ".into());
    dict
}

/// CTC greedy decoding of one crop's `steps × classes` probabilities: the best class per step,
/// repeats merged, blanks (class 0) dropped. Returns the text and the mean probability of the
/// kept characters.
pub fn ctc_greedy(probs: &[f32], classes: usize, dictionary: &[String]) -> (String, f32) {
    let mut text = String::new();
    let mut scores = Vec::new();
    let mut previous = 0usize;
    if classes == 0 {
        return (text, 0.0);
    }
    for step in probs.chunks(classes) {
        let (best, p) = step
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a });
        if best != 0 && best != previous {
            if let Some(c) = dictionary.get(best) {
                text.push_str(c);
                scores.push(p);
            }
        }
        previous = best;
    }
    let score = if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f32>() / scores.len() as f32
    };
    (text, score)
}

/// `[3, h, w]` BGR planes of an RGB image, `(v/255 - 0.5) / 0.5`, into `out` at `offset`, each
/// plane `stride` pixels wide (the image is left-aligned; the rest stays as it was).
fn write_chw_bgr(img: &RgbImage, out: &mut [f32], stride: usize, plane: usize) {
    for (x, y, p) in img.enumerate_pixels() {
        let at = y as usize * stride + x as usize;
        for (c, channel) in [2usize, 1, 0].into_iter().enumerate() {
            out[c * plane + at] = f32::from(p[channel]) / 127.5 - 1.0;
        }
    }
}

fn to_chw_bgr(img: &RgbImage, width: usize) -> Vec<f32> {
    let plane = width * img.height() as usize;
    let mut out = vec![0.0; 3 * plane];
    write_chw_bgr(img, &mut out, width, plane);
    out
}

/// The crop of a text box, turned upright when it is much taller than wide (vertical text, as
/// RapidOCR does).
fn crop(img: &RgbImage, b: &TextBox) -> RgbImage {
    let x = b.x0.max(0.0) as u32;
    let y = b.y0.max(0.0) as u32;
    let w = ((b.x1 - b.x0).ceil() as u32).clamp(1, img.width() - x);
    let h = ((b.y1 - b.y0).ceil() as u32).clamp(1, img.height() - y);
    let c = image::imageops::crop_imm(img, x, y, w, h).to_image();
    if h as f32 >= 1.5 * w as f32 {
        image::imageops::rotate270(&c)
    } else {
        c
    }
}

/// Groups crops into recognition batches of similar aspect ratio: (input positions, batch).
/// A batch holds up to [`REC_BATCH`] crops and [`REC_BATCH_WIDTH`] of padded width.
pub fn rec_batches(crops: &[RgbImage]) -> Vec<(Vec<usize>, RecBatch)> {
    let ratio = |c: &RgbImage| c.width() as f32 / c.height().max(1) as f32;
    let padded_width = |r: f32| (REC_HEIGHT as f32 * r.clamp(MIN_WH_RATIO, MAX_WH_RATIO)) as usize;
    let mut order: Vec<usize> = (0..crops.len()).collect();
    order.sort_by(|&a, &b| ratio(&crops[a]).total_cmp(&ratio(&crops[b])));
    // Narrowest first, so a batch's width is its last crop's.
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let width = padded_width(ratio(&crops[i]));
        match chunks.last_mut() {
            Some(chunk)
                if chunk.len() < REC_BATCH && (chunk.len() + 1) * width <= REC_BATCH_WIDTH =>
            {
                chunk.push(i)
            }
            _ => chunks.push(vec![i]),
        }
    }
    chunks
        .into_iter()
        .map(|chunk| {
            let width = padded_width(
                chunk
                    .iter()
                    .map(|&i| ratio(&crops[i]))
                    .fold(MIN_WH_RATIO, f32::max),
            );
            let plane = width * REC_HEIGHT as usize;
            let mut data = vec![0.0; chunk.len() * 3 * plane];
            for (row, &i) in chunk.iter().enumerate() {
                let c = &crops[i];
                let w = ((REC_HEIGHT as f32 * ratio(c)).ceil() as usize).clamp(1, width);
                let resized = image::imageops::resize(
                    c,
                    w as u32,
                    REC_HEIGHT,
                    image::imageops::FilterType::Triangle,
                );
                write_chw_bgr(
                    &resized,
                    &mut data[row * 3 * plane..(row + 1) * 3 * plane],
                    width,
                    plane,
                );
            }
            (
                chunk.to_vec(),
                RecBatch {
                    rows: chunk.len(),
                    width,
                    data,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Vec<String> {
        dictionary_from_metadata("a\nb\nc")
    }

    #[test]
    fn dictionary_has_blank_first_and_space_last() {
        let d = dict();
        assert_eq!(d, ["", "a", "b", "c", " "]);
        assert_eq!(dictionary_from_metadata("x\ny\n").len(), 4);
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let d = dict();
        // steps: a a blank a b space c
        let steps = [1, 1, 0, 1, 2, 4, 3];
        let mut probs = Vec::new();
        for s in steps {
            let mut row = vec![0.0; d.len()];
            row[s] = 0.9;
            probs.extend(row);
        }
        let (text, score) = ctc_greedy(&probs, d.len(), &d);
        assert_eq!(text, "aab c");
        assert!((score - 0.9).abs() < 1e-6);
        assert_eq!(ctc_greedy(&[], d.len(), &d), (String::new(), 0.0));
    }

    #[test]
    fn rec_batches_pad_to_the_widest_crop_and_keep_positions() {
        let crops = vec![
            RgbImage::new(480, 48), // ratio 10
            RgbImage::new(48, 48),  // ratio 1
            RgbImage::new(96, 24),  // ratio 4
        ];
        let batches = rec_batches(&crops);
        assert_eq!(batches.len(), 1);
        let (rows, b) = &batches[0];
        assert_eq!(rows, &[1, 2, 0]);
        assert_eq!(b.width, 480);
        assert_eq!(b.data.len(), 3 * 3 * 48 * 480);
        // A black crop is -1 where it is, and 0 (padding) to its right.
        assert_eq!(b.data[0], -1.0);
        assert_eq!(b.data[100], 0.0);
    }

    #[test]
    fn rec_batches_hold_the_padded_width_budget() {
        // Six short words fill one batch; six of the widest lines are a batch each; a mix
        // keeps the narrow ones together.
        let short = vec![RgbImage::new(96, 48); 7];
        let sizes: Vec<usize> = rec_batches(&short).iter().map(|(r, _)| r.len()).collect();
        assert_eq!(sizes, [6, 1]);
        let wide = vec![RgbImage::new(1920, 48); 6];
        let batches = rec_batches(&wide);
        assert_eq!(batches.len(), 6);
        assert!(batches.iter().all(|(r, b)| r.len() == 1 && b.width == 1920));
        let mut mixed = vec![RgbImage::new(96, 48); 3];
        mixed.push(RgbImage::new(960, 48));
        mixed.push(RgbImage::new(960, 48));
        let batches = rec_batches(&mixed);
        let shape: Vec<(usize, usize)> = batches.iter().map(|(r, b)| (r.len(), b.width)).collect();
        assert_eq!(shape, [(3, 320), (2, 960)]);
        for (rows, b) in &batches {
            assert!(rows.len() * b.width <= REC_BATCH_WIDTH);
        }
    }
}
