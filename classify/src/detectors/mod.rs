//! The detectors, one module per detector family. Each family contributes its detectors in
//! [`from_config`]; adding a detector means one new module here and one line in that function.

pub mod impersonation;
pub mod imprint;
pub mod media;
pub mod narratives;

use std::sync::Arc;

use crate::{ClassifyError, Detector};

/// Every detector this deployment's configuration asks for, in the order they run.
#[allow(clippy::vec_init_then_push)] // one `push` line per detector family
pub fn from_config(
    config: crate::ClassifyConfig<'_>,
) -> Result<Vec<Box<dyn Detector>>, ClassifyError> {
    from_config_with_fakes(config, &media::known_fakes::KnownFakeSet::new())
}

/// Like [`from_config`], with the known-fake detector matching against `fakes`, a list the
/// caller keeps current (the binary fills it from the store).
#[allow(clippy::vec_init_then_push)] // one `push` line per detector family
pub fn from_config_with_fakes(
    config: crate::ClassifyConfig<'_>,
    fakes: &media::known_fakes::KnownFakeSet,
) -> Result<Vec<Box<dyn Detector>>, ClassifyError> {
    let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
    detectors.extend(impersonation::from_config(config)?);
    detectors.push(Box::new(imprint::ImprintDetector::new(Arc::new(
        impersonation::ProtectedIdentities::new(config.identities),
    ))?));
    detectors.push(Box::new(narratives::Narratives::from_config(config)?));
    detectors.extend(media::from_config(config, fakes)?);
    Ok(detectors)
}
