//! Impersonation detection (`kind: "impersonation"`): lookalike domains, lookalike accounts,
//! fake official notices and logo reuse, all measured against the protected identities of
//! `[[identity]]`, compiled once into [`ProtectedIdentities`] and shared by the detectors.

pub mod accounts;
pub mod domains;
pub mod identities;
pub mod logos;
pub mod notices;

use std::sync::Arc;

pub use identities::ProtectedIdentities;

use crate::{ClassifyError, Detector};

/// The impersonation detectors for a configuration; none when it has no `[[identity]]`.
pub fn from_config(
    config: crate::ClassifyConfig<'_>,
) -> Result<Vec<Box<dyn Detector>>, ClassifyError> {
    if config.identities.is_empty() {
        return Ok(Vec::new());
    }
    let ids = Arc::new(ProtectedIdentities::new(config.identities));
    let mut detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(domains::DomainDetector::new(ids.clone())),
        Box::new(accounts::AccountDetector::new(ids.clone())),
        Box::new(notices::NoticeDetector::new(ids.clone())?),
    ];
    if let Some(logos) = logos::LogoDetector::new(ids)? {
        detectors.push(Box::new(logos));
    }
    Ok(detectors)
}
