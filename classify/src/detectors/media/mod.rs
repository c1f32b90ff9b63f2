//! Detectors and enrichers for an item's media (`media[].path`, local files only: the pipeline
//! fills it from the capture store, `classify` callers give local files; nothing here fetches).
//! Synthetic-media detectors (`kind: "synthetic_media"`): [`provenance`] (C2PA, XMP, generator
//! metadata), [`known_fakes`] (re-uploads of media confirmed fake) and [`pixel`] (the pluggable
//! image classifier). [`ocr`] reads the text in images: not a verdict itself, the classifier adds
//! the text to the item for the text detectors.

pub mod known_fakes;
pub mod ocr;
pub mod pixel;
pub mod provenance;

use crate::{ClassifyError, Detector};

/// The media detectors for a configuration. `fakes` is the shared confirmed-fake list the
/// known-fake detector matches against (see [`known_fakes::KnownFakeSet`]).
pub fn from_config(
    config: crate::ClassifyConfig<'_>,
    fakes: &known_fakes::KnownFakeSet,
) -> Result<Vec<Box<dyn Detector>>, ClassifyError> {
    let mut detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(provenance::ProvenanceDetector::new()),
        Box::new(known_fakes::KnownFakeDetector::new(
            fakes.clone(),
            config.detectors.known_fake_distance,
        )),
    ];
    if let Some(pixel) = pixel::PixelModel::from_config(config)? {
        detectors.push(Box::new(pixel));
    }
    Ok(detectors)
}
