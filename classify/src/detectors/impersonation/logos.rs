//! Logo reuse (`label: "logo_reuse"`): an image attached to an item (read from `media[].path`,
//! never fetched) whose perceptual hash is near a configured logo, posted by an account that is
//! not the identity's. Perceptual hashes survive re-encoding, resizing and small edits; a logo
//! pasted into a larger picture is not caught.

use std::sync::Arc;

use ballotwatch_core::{Item, Verdict, VerdictKind};
use image_hasher::{HasherConfig, ImageHash};
use sha2::{Digest, Sha256};

use super::identities::{host_of_url, ProtectedIdentities};
use crate::{ClassifyError, Detector, DetectorError};

/// Hash side: 16×16 gradient hash, 256 bits.
const HASH_SIDE: u32 = 16;
/// Most differing bits (of 256) still counted as the same picture: 12%.
pub const MAX_DISTANCE: u32 = 30;

struct Logo {
    identity: String,
    file: String,
    hash: ImageHash,
}

/// The logo-reuse detector.
pub struct LogoDetector {
    ids: Arc<ProtectedIdentities>,
    logos: Vec<Logo>,
}

fn hasher() -> image_hasher::Hasher {
    HasherConfig::new()
        .hash_size(HASH_SIDE, HASH_SIDE)
        .to_hasher()
}

impl LogoDetector {
    /// Loads and hashes every configured logo; `None` when no identity has one. An unreadable
    /// logo is an error naming the file.
    pub fn new(ids: Arc<ProtectedIdentities>) -> Result<Option<LogoDetector>, ClassifyError> {
        let hasher = hasher();
        let mut logos = Vec::new();
        for identity in &ids.identities {
            for path in &identity.logos {
                let img = crate::media::decode_image(path).map_err(|message| ClassifyError {
                    detector: "logos".into(),
                    message: format!(
                        "logo of `{}`: {message} (fix `logos` in its [[identity]])",
                        identity.name
                    ),
                })?;
                logos.push(Logo {
                    identity: identity.name.clone(),
                    file: path.display().to_string(),
                    hash: hasher.hash_image(&img),
                });
            }
        }
        if logos.is_empty() {
            return Ok(None);
        }
        Ok(Some(LogoDetector { ids, logos }))
    }

    fn posted_officially(&self, item: &Item) -> bool {
        let author = item.author.as_ref();
        self.ids.is_official_author(
            author.and_then(|a| a.handle.as_deref()),
            author.and_then(|a| a.url.as_deref()),
        ) || item
            .url
            .as_deref()
            .and_then(host_of_url)
            .is_some_and(|h| self.ids.official_for_host(&h).is_some())
    }
}

impl Detector for LogoDetector {
    fn name(&self) -> &'static str {
        "logos"
    }

    fn version(&self) -> String {
        format!("logos-1 (gradient hash {HASH_SIDE}x{HASH_SIDE}, max distance {MAX_DISTANCE})")
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let images: Vec<_> = item
            .media
            .iter()
            .filter(|m| m.mime.as_deref().is_none_or(|t| t.starts_with("image/")))
            .filter_map(|m| m.path.as_ref().map(|p| (m, p)))
            .collect();
        if images.is_empty() || self.posted_officially(item) {
            return Ok(Vec::new());
        }
        let hasher = hasher();
        let mut out = Vec::new();
        for (media, path) in images {
            let img = crate::media::decode_image(path).map_err(|e| DetectorError {
                detector: "logos".into(),
                message: e.to_string(),
            })?;
            let hash = hasher.hash_image(&img);
            let Some((logo, dist)) = self
                .logos
                .iter()
                .map(|l| (l, l.hash.dist(&hash)))
                .min_by_key(|(_, d)| *d)
                .filter(|(_, d)| *d <= MAX_DISTANCE)
            else {
                continue;
            };
            let sha = match &media.sha256 {
                Some(s) => s.clone(),
                None => std::fs::read(path)
                    .map(|b| hex::encode(Sha256::digest(&b)))
                    .map_err(|e| DetectorError {
                        detector: "logos".into(),
                        message: format!("cannot read {}: {e}", path.display()),
                    })?,
            };
            let score = 0.97 - 0.37 * dist as f32 / MAX_DISTANCE as f32;
            let shown = media
                .url
                .clone()
                .unwrap_or_else(|| path.display().to_string());
            out.push(Verdict {
                kind: VerdictKind::Impersonation,
                label: "logo_reuse".into(),
                score,
                detector: "logos".into(),
                explanation: format!(
                    "image {shown} matches the logo of {} ({}; {dist} of 256 hash bits differ), posted by an account that is not {}'s",
                    logo.identity, logo.file, logo.identity
                ),
                evidence: serde_json::json!({
                    "media_sha256": sha,
                    "identity": logo.identity,
                    "logo": logo.file,
                    "distance": dist,
                }),
                rebuttal: None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IdentityConfig, IdentityKind};
    use ballotwatch_core::{Author, Media};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A crest-like test logo: rings and a diagonal bar.
    fn logo(side: u32, shade: u8) -> image::RgbImage {
        image::RgbImage::from_fn(side, side, |x, y| {
            let (cx, cy) = (x as f32 / side as f32 - 0.5, y as f32 / side as f32 - 0.5);
            let r = (cx * cx + cy * cy).sqrt();
            let on = ((r * 10.0) as u32).is_multiple_of(2) ^ ((cx - cy).abs() < 0.08);
            if on {
                image::Rgb([shade, 20, 40])
            } else {
                image::Rgb([240, 240, 230])
            }
        })
    }

    fn setup(dir: &Path) -> LogoDetector {
        let path = dir.join("crest.png");
        logo(200, 10).save(&path).unwrap();
        let ids = ProtectedIdentities::new(&[IdentityConfig {
            name: "Leeds City Council".into(),
            names: vec![],
            kind: IdentityKind::Organisation,
            domains: vec!["leeds.gov.uk".into()],
            handles: BTreeMap::from([("x".to_string(), vec!["@leedscc".to_string()])]),
            logos: vec![path],
        }]);
        LogoDetector::new(Arc::new(ids)).unwrap().unwrap()
    }

    fn item(path: &Path, handle: &str) -> Item {
        Item {
            id: "1".into(),
            media: vec![Media {
                path: Some(path.to_path_buf()),
                ..Media::default()
            }],
            author: Some(Author {
                handle: Some(handle.into()),
                ..Author::default()
            }),
            ..Item::default()
        }
    }

    #[test]
    fn reused_logo_is_flagged_but_not_for_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let d = setup(dir.path());
        // Re-encoded as JPEG, resized and re-coloured slightly.
        let copy = dir.path().join("copy.jpg");
        logo(130, 30).save(&copy).unwrap();
        let v = d.detect(&item(&copy, "@fake")).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].label, "logo_reuse");
        assert_eq!(v[0].evidence["identity"], "Leeds City Council");
        assert_eq!(v[0].evidence["media_sha256"].as_str().unwrap().len(), 64);
        assert!(d.detect(&item(&copy, "@leedscc")).unwrap().is_empty());
        // A different picture is not flagged.
        let other = dir.path().join("other.png");
        image::RgbImage::from_fn(120, 120, |x, _| image::Rgb([(x * 2) as u8, 90, 200]))
            .save(&other)
            .unwrap();
        assert!(d.detect(&item(&other, "@fake")).unwrap().is_empty());
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = setup(dir.path());
        let err = d
            .detect(&item(&dir.path().join("gone.png"), "@x"))
            .unwrap_err();
        assert!(err.message.contains("gone.png"), "{}", err.message);
        let ids = ProtectedIdentities::new(&[IdentityConfig {
            name: "Leeds City Council".into(),
            names: vec![],
            kind: IdentityKind::Organisation,
            domains: vec![],
            handles: BTreeMap::new(),
            logos: vec![dir.path().join("missing-logo.png")],
        }]);
        let err = LogoDetector::new(Arc::new(ids)).err().unwrap();
        assert!(err.to_string().contains("missing-logo.png"), "{err}");
    }
}
