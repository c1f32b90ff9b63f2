//! # ballotwatch-classify
//!
//! Owns detection: one module per detector behind the [`Detector`] trait, and the
//! [`Classifier`] that runs every configured detector over an item, applies the configured
//! thresholds and turns verdicts into a [`ClassifyResult`] with `flagged` and `severity`.
//! Detectors are pure — an item (and its local media files) in, verdicts out — so
//! `ballotwatch classify`, the pipeline, the tests and the benchmarks all run the same code.
//! This crate must not touch the store, the index or the network. It also owns the ONNX
//! runtime ([`onnx`]), batching and the built-in UK narrative library
//! ([`detectors::narratives`]).

#![warn(missing_docs)]

pub mod config;
pub mod detectors;
pub mod enrich;
pub mod media;
pub mod onnx;

use std::sync::Arc;

use ballotwatch_core::{ClassifyResult, Item, MediaText, Severity, Verdict};
pub use config::{ClassifyConfig, DetectorsConfig};
use detectors::media::ocr::Ocr;

/// Why the configured detectors could not be set up (a missing model, an unreadable logo...).
/// The message tells the operator what to do.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up detector `{detector}`: {message}")]
pub struct ClassifyError {
    /// The detector (or detector family) that could not start.
    pub detector: String,
    /// What went wrong and how to fix it.
    pub message: String,
}

/// Why a detector could not examine an item.
#[derive(Debug, thiserror::Error)]
#[error("detector `{detector}` failed: {message}")]
pub struct DetectorError {
    /// The detector's name.
    pub detector: String,
    /// What went wrong.
    pub message: String,
}

/// One detector: a pure function from an item to verdicts.
pub trait Detector: Send + Sync {
    /// Stable name, used in verdicts, thresholds (`[detectors.thresholds]`) and evidence packs.
    fn name(&self) -> &'static str;
    /// Version of the detector's logic or model, recorded in evidence packs.
    fn version(&self) -> String;
    /// Examines one item. An item the detector has nothing to say about gives no verdicts.
    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError>;
    /// Examines several items, results in input order. Model-backed detectors override this to
    /// run one model batch for all of them; the default calls [`Detector::detect`] per item.
    fn detect_batch(&self, items: &[&Item]) -> Vec<Result<Vec<Verdict>, DetectorError>> {
        items.iter().map(|item| self.detect(item)).collect()
    }
}

/// Runs every detector over items and applies thresholds.
pub struct Classifier {
    detectors: Vec<Box<dyn Detector>>,
    config: DetectorsConfig,
    ocr: Option<Arc<Ocr>>,
}

impl Classifier {
    /// A classifier with the given detectors and thresholds (and no OCR; see
    /// [`Classifier::with_ocr`]).
    pub fn new(detectors: Vec<Box<dyn Detector>>, config: DetectorsConfig) -> Classifier {
        Classifier {
            detectors,
            config,
            ocr: None,
        }
    }

    /// Reads the text in every image medium with `ocr` before the detectors run: the text
    /// joins the item's text for the detectors and is reported in `media_text`.
    pub fn with_ocr(mut self, ocr: Arc<Ocr>) -> Classifier {
        self.ocr = Some(ocr);
        self
    }

    /// The detectors configured for this deployment (see [`detectors::from_config`]), with OCR
    /// unless `[detectors.ocr] enabled = false`, and an empty confirmed-fake list.
    pub fn from_config(config: crate::ClassifyConfig<'_>) -> Result<Classifier, ClassifyError> {
        Classifier::from_config_with_fakes(
            config,
            &detectors::media::known_fakes::KnownFakeSet::new(),
        )
    }

    /// The OCR engine, when OCR is on.
    pub fn ocr(&self) -> Option<&Arc<Ocr>> {
        self.ocr.as_ref()
    }

    /// Like [`Classifier::from_config`], with the known-fake detector matching against `fakes`,
    /// a shared list the caller keeps current.
    pub fn from_config_with_fakes(
        config: crate::ClassifyConfig<'_>,
        fakes: &detectors::media::known_fakes::KnownFakeSet,
    ) -> Result<Classifier, ClassifyError> {
        let classifier = Classifier::new(
            detectors::from_config_with_fakes(config, fakes)?,
            config.detectors.clone(),
        );
        if !config.detectors.ocr.enabled {
            return Ok(classifier);
        }
        let ocr = onnx::models_dir(config.detectors)
            .and_then(|dir| Ocr::shared(&dir, config.detectors))
            .map_err(|e| ClassifyError {
                detector: "ocr".into(),
                message: e.to_string(),
            })?;
        Ok(classifier.with_ocr(ocr))
    }

    /// (name, version) of every detector, in the order they run.
    pub fn detectors(&self) -> Vec<(&'static str, String)> {
        self.detectors
            .iter()
            .map(|d| (d.name(), d.version()))
            .collect()
    }

    /// Classifies one item. A failing detector is reported in `detector_errors`; the others
    /// still run.
    pub fn classify(&self, item: &Item) -> ClassifyResult {
        self.classify_batch(std::slice::from_ref(item))
            .pop()
            .unwrap_or_else(|| self.result(item, Vec::new(), Vec::new()))
    }

    /// Classifies a batch, results in input order. Each detector sees the whole batch at once
    /// ([`Detector::detect_batch`]), so model-backed detectors run one model batch.
    /// Before the detectors, OCR (when on) reads every image medium; detectors see a copy of
    /// the item whose text includes what was read, and verdicts caused by that text say so.
    pub fn classify_batch(&self, items: &[Item]) -> Vec<ClassifyResult> {
        let mut verdicts: Vec<Vec<Verdict>> = vec![Vec::new(); items.len()];
        let mut errors: Vec<Vec<String>> = vec![Vec::new(); items.len()];
        let media_text: Vec<Vec<MediaText>> = match &self.ocr {
            Some(ocr) => items
                .iter()
                .zip(errors.iter_mut())
                .map(|(item, errors)| enrich::read_media(ocr, item, errors))
                .collect(),
            None => vec![Vec::new(); items.len()],
        };
        let enriched: Vec<std::borrow::Cow<'_, Item>> = items
            .iter()
            .zip(&media_text)
            .map(|(item, texts)| enrich::with_media_text(item, texts))
            .collect();
        let refs: Vec<&Item> = enriched.iter().map(|i| i.as_ref()).collect();
        for detector in &self.detectors {
            let mut results = detector.detect_batch(&refs);
            if results.len() != items.len() {
                tracing::error!(
                    detector = detector.name(),
                    "detect_batch returned the wrong number of results"
                );
                results.resize_with(items.len(), || {
                    Err(DetectorError {
                        detector: detector.name().into(),
                        message: "no result for this item".into(),
                    })
                });
            }
            for (i, result) in results.into_iter().enumerate() {
                match result {
                    Ok(v) => verdicts[i].extend(v),
                    Err(e) => {
                        tracing::warn!(item = %items[i].id, error = %e, "detector failed");
                        errors[i].push(e.to_string());
                    }
                }
            }
        }
        items
            .iter()
            .zip(verdicts.into_iter().zip(errors))
            .zip(media_text)
            .map(|((item, (mut v, e)), texts)| {
                enrich::attribute(item, &texts, &mut v);
                let mut result = self.result(item, v, e);
                result.media_text = texts;
                result
            })
            .collect()
    }

    /// Whether the item is flagged and how severe, from its verdicts. A verdict flags when its
    /// score reaches its detector's threshold, except the pixel model's, a weak signal: it
    /// raises the severity of another verdict that flags the item by one band, and flags on
    /// its own only when the model's probability reaches `[detectors.pixel_model]
    /// alone_threshold`. Below that it is shown on the item but opens no incident and sends
    /// no alert (both follow `flagged` and `severity`).
    fn result(
        &self,
        item: &Item,
        mut verdicts: Vec<Verdict>,
        detector_errors: Vec<String>,
    ) -> ClassifyResult {
        let crosses = |v: &&Verdict| v.score >= self.config.threshold_for(&v.detector);
        let weak = |v: &&Verdict| v.detector == detectors::media::pixel::NAME;
        let strong = verdicts
            .iter()
            .filter(crosses)
            .filter(|v| !weak(v))
            .map(|v| severity_of(v.score))
            .max();
        let alone_threshold = f64::from(self.config.pixel_model.alone_threshold);
        let weak_crossing: Vec<&Verdict> = verdicts.iter().filter(crosses).filter(weak).collect();
        let weak_alone = weak_crossing
            .iter()
            .filter(|v| {
                v.evidence
                    .get("probability")
                    .and_then(serde_json::Value::as_f64)
                    .is_some_and(|p| p >= alone_threshold)
            })
            .map(|v| severity_of(v.score))
            .max();
        let flags_alone = |v: &Verdict| {
            v.evidence
                .get("probability")
                .and_then(serde_json::Value::as_f64)
                .is_some_and(|p| p >= alone_threshold)
                && v.score >= self.config.threshold_for(&v.detector)
        };
        // Say on each weak verdict whether it flagged the item by itself (the alerter and the
        // incident title use only the verdicts that did: `Verdict::is_weak_only`).
        let marks: Vec<(usize, bool)> = verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| v.detector == detectors::media::pixel::NAME)
            .map(|(i, v)| (i, flags_alone(v)))
            .collect();
        let severity = match strong {
            Some(s) if !weak_crossing.is_empty() => raised(s),
            Some(s) => s,
            None => Severity::None,
        }
        .max(weak_alone.unwrap_or(Severity::None));
        for (i, alone) in marks {
            if let Some(obj) = verdicts[i].evidence.as_object_mut() {
                obj.insert("weak_signal".into(), true.into());
                obj.insert("flags_alone".into(), alone.into());
            }
        }
        ClassifyResult {
            id: item.id.clone(),
            flagged: severity > Severity::None,
            severity,
            verdicts,
            detector_errors,
            media_text: Vec::new(),
        }
    }
}

/// One severity band up (`high` stays `high`).
fn raised(s: Severity) -> Severity {
    match s {
        Severity::None => Severity::None,
        Severity::Low => Severity::Medium,
        Severity::Medium | Severity::High => Severity::High,
    }
}

/// The severity of a verdict that crossed its threshold, from its calibrated score.
pub fn severity_of(score: f32) -> Severity {
    if score >= 0.9 {
        Severity::High
    } else if score >= 0.7 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// What a test needs beyond Rust (the models), checked the same way as the workspace's
/// end-to-end tests: skipped with a reason when missing, failed under `CI=true`.
#[cfg(test)]
#[path = "../../tests/common/tools.rs"]
pub(crate) mod test_tools;

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_core::VerdictKind;
    use std::collections::BTreeMap;

    /// Flags items whose text contains a word, with a fixed score.
    struct WordDetector(&'static str, &'static str, f32);

    impl Detector for WordDetector {
        fn name(&self) -> &'static str {
            self.0
        }
        fn version(&self) -> String {
            "1".into()
        }
        fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
            if item.full_text().contains(self.1) {
                Ok(vec![Verdict {
                    kind: VerdictKind::Misinformation,
                    label: "test".into(),
                    score: self.2,
                    detector: self.0.into(),
                    explanation: format!("mentions {}", self.1),
                    evidence: serde_json::json!({ "word": self.1 }),
                    rebuttal: None,
                }])
            } else {
                Ok(Vec::new())
            }
        }
    }

    struct Broken;
    impl Detector for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn version(&self) -> String {
            "0".into()
        }
        fn detect(&self, _: &Item) -> Result<Vec<Verdict>, DetectorError> {
            Err(DetectorError {
                detector: "broken".into(),
                message: "model missing".into(),
            })
        }
    }

    fn item(text: &str) -> Item {
        Item {
            id: "i".into(),
            text: Some(text.into()),
            ..Item::default()
        }
    }

    #[test]
    fn no_detectors_means_nothing_flagged() {
        let c = Classifier::new(Vec::new(), DetectorsConfig::default());
        let r = c.classify(&item("anything"));
        assert_eq!(
            (r.flagged, r.severity, r.verdicts.len()),
            (false, Severity::None, 0)
        );
        assert_eq!(r.id, "i");
    }

    #[test]
    fn thresholds_and_severity() {
        let cfg = DetectorsConfig {
            thresholds: BTreeMap::from([("strict".to_string(), 0.95)]),
            ..DetectorsConfig::default()
        };
        let c = Classifier::new(
            vec![
                Box::new(WordDetector("pen", "biro", 0.92)),
                Box::new(WordDetector("strict", "pencil", 0.93)),
                Box::new(WordDetector("weak", "ballot", 0.3)),
            ],
            cfg,
        );
        let r = c.classify(&item("bring a biro"));
        assert!(r.flagged);
        assert_eq!(r.severity, Severity::High);
        // Below its own threshold: reported but not flagging.
        let r = c.classify(&item("only a pencil and a ballot"));
        assert_eq!(r.verdicts.len(), 2);
        assert!(!r.flagged);
        assert_eq!(r.severity, Severity::None);
        assert_eq!(c.detectors().len(), 3);
    }

    #[test]
    fn a_failing_detector_does_not_hide_the_others() {
        let c = Classifier::new(
            vec![Box::new(Broken), Box::new(WordDetector("pen", "pen", 0.75))],
            DetectorsConfig::default(),
        );
        let r = c.classify(&item("pen"));
        assert_eq!(r.severity, Severity::Medium);
        assert_eq!(
            r.detector_errors,
            ["detector `broken` failed: model missing"]
        );
        let results = c.classify_batch(&[item("a"), item("pen")]);
        assert_eq!(
            results.iter().map(|r| r.flagged).collect::<Vec<_>>(),
            [false, true]
        );
    }

    /// Emits a pixel-model verdict (score capped at 0.85) with the given probability.
    struct PixelLike(f32);

    impl Detector for PixelLike {
        fn name(&self) -> &'static str {
            detectors::media::pixel::NAME
        }
        fn version(&self) -> String {
            "1".into()
        }
        fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
            if !item.full_text().contains("photo") {
                return Ok(Vec::new());
            }
            Ok(vec![Verdict {
                kind: VerdictKind::SyntheticMedia,
                label: "ai_generated_model".into(),
                score: self.0.min(0.85),
                detector: detectors::media::pixel::NAME.into(),
                explanation: "weak signal".into(),
                evidence: serde_json::json!({ "probability": self.0 }),
                rebuttal: None,
            }])
        }
    }

    #[test]
    fn the_pixel_model_alone_never_flags_below_its_alone_threshold() {
        let c = |p: f32| {
            Classifier::new(
                vec![
                    Box::new(PixelLike(p)),
                    Box::new(WordDetector("pen", "biro", 0.6)),
                ],
                DetectorsConfig::default(),
            )
        };
        // Alone at 0.95: shown, not flagged.
        let r = c(0.95).classify(&item("a photo"));
        assert_eq!(r.verdicts.len(), 1);
        assert!(!r.flagged, "{r:?}");
        assert_eq!(r.severity, Severity::None);
        // With another flagging verdict: it raises that one's severity a band (low → medium).
        let r = c(0.95).classify(&item("a photo of a biro"));
        assert!(r.flagged);
        assert_eq!(r.severity, Severity::Medium);
        assert_eq!(c(0.95).classify(&item("a biro")).severity, Severity::Low);
        assert!(r.verdicts.iter().any(|v| v.is_weak_only()), "{r:?}");
        // At or over the alone threshold (default 0.99) it flags by itself, at most medium.
        let r = c(0.995).classify(&item("a photo"));
        assert!(r.flagged);
        assert_eq!(r.severity, Severity::Medium);
        assert_eq!(r.verdicts[0].evidence["flags_alone"], true);
        assert!(!r.verdicts[0].is_weak_only());
        // The threshold is configurable.
        let mut cfg = DetectorsConfig::default();
        cfg.pixel_model.alone_threshold = 0.9;
        let r = Classifier::new(vec![Box::new(PixelLike(0.95))], cfg).classify(&item("photo"));
        assert!(r.flagged);
        // Below the detector's own threshold it neither flags nor raises anything.
        let mut cfg = DetectorsConfig::default();
        cfg.thresholds.insert("pixel_model".into(), 0.9);
        let r = Classifier::new(
            vec![
                Box::new(PixelLike(0.95)),
                Box::new(WordDetector("pen", "biro", 0.6)),
            ],
            cfg,
        )
        .classify(&item("a photo of a biro"));
        assert_eq!(r.severity, Severity::Low);
        assert_eq!(raised(Severity::High), Severity::High);
    }

    #[test]
    fn severity_bands() {
        assert_eq!(severity_of(0.5), Severity::Low);
        assert_eq!(severity_of(0.7), Severity::Medium);
        assert_eq!(severity_of(0.95), Severity::High);
    }
}
