//! Synthetic-media detectors (`kind: "synthetic_media"`), one module each. They read media from
//! `media[].path` only (the pipeline fills it from the capture store; `classify` callers give
//! local files) and never fetch.

pub mod known_fakes;
pub mod provenance;

use crate::{ClassifyError, Detector};

/// The media detectors for a configuration. `fakes` is the shared confirmed-fake list the
/// known-fake detector matches against (see [`known_fakes::KnownFakeSet`]).
pub fn from_config(
    config: &ballotwatch_core::Config,
    fakes: &known_fakes::KnownFakeSet,
) -> Result<Vec<Box<dyn Detector>>, ClassifyError> {
    let detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(provenance::ProvenanceDetector::new()),
        Box::new(known_fakes::KnownFakeDetector::new(
            fakes.clone(),
            config.detectors.known_fake_distance,
        )),
    ];
    Ok(detectors)
}
