//! Known-fake re-uploads (`label: "known_fake_reupload"`): an image attached to an item (read from
//! `media[].path`, never fetched) that is the same picture as media an officer has confirmed
//! fake — byte-identical (same SHA-256), or re-encoded, resized or lightly cropped (PDQ hashes
//! within `[detectors] known_fake_distance` bits of 256). The verdict links the original
//! incident.
//!
//! The detector does not read the store: it holds a [`KnownFakeSet`], a shared, updatable list
//! the binary fills from the store at start-up and refreshes when officers confirm new fakes.

pub mod pdq;

use std::sync::{Arc, PoisonError, RwLock};

use ballotwatch_core::{Item, Verdict, VerdictKind};
use sha2::{Digest, Sha256};

pub use pdq::{pdq_hash, PdqHash, MIN_QUALITY};

use crate::{Detector, DetectorError};

/// Default for `[detectors] known_fake_distance`: Meta's usual PDQ match threshold.
pub const DEFAULT_MAX_DISTANCE: u32 = 31;

/// One piece of media an officer confirmed fake.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownFake {
    /// The store's id for this confirmation.
    pub id: i64,
    /// PDQ hash of the confirmed picture.
    pub pdq: PdqHash,
    /// SHA-256 of the confirmed file.
    pub sha256: String,
    /// The incident it was confirmed in.
    pub incident_id: i64,
    /// Where it was published, when known.
    pub media_url: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    fakes: Vec<KnownFake>,
    version: i64,
}

/// The confirmed-fake list shared by the detector and whoever keeps it current. Cloning shares
/// the same list.
#[derive(Debug, Clone, Default)]
pub struct KnownFakeSet {
    inner: Arc<RwLock<Inner>>,
}

impl KnownFakeSet {
    /// An empty set (version 0).
    pub fn new() -> KnownFakeSet {
        KnownFakeSet::default()
    }

    /// Replaces the whole list. `version` identifies the store state it came from (the highest
    /// confirmation id and the count, folded into one number by the caller), so a refresher
    /// can skip reloading when nothing changed.
    pub fn replace(&self, fakes: Vec<KnownFake>, version: i64) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.fakes = fakes;
        inner.version = version;
    }

    /// The version given to the last [`KnownFakeSet::replace`].
    pub fn version(&self) -> i64 {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .version
    }

    /// How many confirmed fakes are held.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .fakes
            .len()
    }

    /// True when no fake is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The closest confirmed fake to a picture: an exact SHA-256 match (distance 0) first,
    /// otherwise the smallest PDQ distance within `max_distance`. Near matches need both hashes
    /// to have at least [`MIN_QUALITY`], so flat pictures do not match each other.
    pub fn closest(
        &self,
        sha256: &str,
        hash: Option<&PdqHash>,
        max_distance: u32,
    ) -> Option<(KnownFake, u32)> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = inner
            .fakes
            .iter()
            .find(|f| f.sha256.eq_ignore_ascii_case(sha256))
        {
            return Some((f.clone(), 0));
        }
        let hash = hash.filter(|h| h.quality >= MIN_QUALITY)?;
        inner
            .fakes
            .iter()
            .filter(|f| f.pdq.quality >= MIN_QUALITY)
            .map(|f| (f, f.pdq.distance(hash)))
            .filter(|(_, d)| *d <= max_distance)
            .min_by_key(|(f, d)| (*d, f.id))
            .map(|(f, d)| (f.clone(), d))
    }
}

/// The known-fake detector.
pub struct KnownFakeDetector {
    set: KnownFakeSet,
    max_distance: u32,
}

impl KnownFakeDetector {
    /// A detector over `set`, matching within `max_distance` bits of 256.
    pub fn new(set: KnownFakeSet, max_distance: u32) -> KnownFakeDetector {
        KnownFakeDetector { set, max_distance }
    }
}

fn err(message: String) -> DetectorError {
    DetectorError {
        detector: "known_fakes".into(),
        message,
    }
}

impl Detector for KnownFakeDetector {
    fn name(&self) -> &'static str {
        "known_fakes"
    }

    fn version(&self) -> String {
        format!(
            "known_fakes-1 (PDQ 256-bit, max distance {})",
            self.max_distance
        )
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        if self.set.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for media in item
            .media
            .iter()
            .filter(|m| m.mime.as_deref().is_none_or(|t| t.starts_with("image/")))
        {
            let Some(path) = &media.path else { continue };
            let bytes = std::fs::read(path)
                .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
            let sha = hex::encode(Sha256::digest(&bytes));
            let found = match self.set.closest(&sha, None, self.max_distance) {
                Some(exact) => Some(exact),
                None => {
                    let img = crate::media::decode_image(path).map_err(|e| err(e.to_string()))?;
                    let hash = pdq_hash(&img);
                    self.set.closest(&sha, Some(&hash), self.max_distance)
                }
            };
            let Some((fake, distance)) = found else {
                continue;
            };
            // An identical file is certain; at the threshold it is still very likely the same
            // picture (PDQ's published false-match rate at 31 bits is tiny), so 0.99 → 0.85.
            let score = 0.99 - 0.14 * distance as f32 / self.max_distance.max(1) as f32;
            let shown = media
                .url
                .clone()
                .unwrap_or_else(|| path.display().to_string());
            let how = if distance == 0 && fake.sha256.eq_ignore_ascii_case(&sha) {
                "an identical file".to_string()
            } else {
                format!("distance {distance}/256")
            };
            let original = fake
                .media_url
                .as_deref()
                .map(|u| format!(", originally {u}"))
                .unwrap_or_default();
            out.push(Verdict {
                kind: VerdictKind::SyntheticMedia,
                label: "known_fake_reupload".into(),
                score,
                detector: "known_fakes".into(),
                explanation: format!(
                    "image {shown} matches media confirmed fake in incident #{} ({how}{original})",
                    fake.incident_id
                ),
                evidence: serde_json::json!({
                    "media_sha256": sha,
                    "incident_id": fake.incident_id,
                    "known_fake_id": fake.id,
                    "known_fake_sha256": fake.sha256,
                    "known_fake_url": fake.media_url,
                    "distance": distance,
                    "max_distance": self.max_distance,
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
    use ballotwatch_core::Media;
    use std::path::Path;

    fn scene(seed: u32) -> image::DynamicImage {
        pdq::tests::scene(640, 480, seed)
    }

    fn item(path: &Path) -> Item {
        Item {
            id: "i".into(),
            media: vec![Media {
                path: Some(path.to_path_buf()),
                url: Some("https://x.example/p.jpg".into()),
                ..Media::default()
            }],
            ..Item::default()
        }
    }

    fn confirmed(path: &Path, id: i64, incident: i64) -> KnownFake {
        let bytes = std::fs::read(path).unwrap();
        KnownFake {
            id,
            pdq: pdq_hash(&crate::media::decode_image(path).unwrap()),
            sha256: hex::encode(Sha256::digest(&bytes)),
            incident_id: incident,
            media_url: Some("https://orig.example/fake.png".into()),
        }
    }

    #[test]
    fn flags_a_reencoded_resized_copy_and_links_the_incident() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("fake.png");
        scene(1).save(&original).unwrap();
        let set = KnownFakeSet::new();
        set.replace(vec![confirmed(&original, 7, 12)], 1);
        let det = KnownFakeDetector::new(set, DEFAULT_MAX_DISTANCE);

        let copy = dir.path().join("copy.jpg");
        scene(1)
            .crop_imm(6, 5, 628, 470)
            .resize_exact(400, 300, image::imageops::FilterType::Triangle)
            .to_rgb8()
            .save_with_format(&copy, image::ImageFormat::Jpeg)
            .unwrap();
        let v = det.detect(&item(&copy)).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].label, "known_fake_reupload");
        assert_eq!(v[0].kind, VerdictKind::SyntheticMedia);
        assert!(
            v[0].explanation.contains("incident #12"),
            "{}",
            v[0].explanation
        );
        assert_eq!(v[0].evidence["incident_id"], 12);
        let d = v[0].evidence["distance"].as_u64().unwrap();
        assert!(d > 0 && d <= 31, "{d}");
        assert!(v[0].score > 0.8 && v[0].score < 0.99);

        // The identical file: distance 0, top score.
        let v = det.detect(&item(&original)).unwrap();
        assert_eq!(v[0].evidence["distance"], 0);
        assert!(v[0].explanation.contains("identical file"));
    }

    #[test]
    fn other_pictures_and_empty_sets_are_not_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("fake.png");
        scene(1).save(&original).unwrap();
        let other = dir.path().join("other.png");
        scene(4).save(&other).unwrap();
        let set = KnownFakeSet::new();
        let det = KnownFakeDetector::new(set.clone(), DEFAULT_MAX_DISTANCE);
        assert!(
            det.detect(&item(&original)).unwrap().is_empty(),
            "empty set"
        );
        set.replace(vec![confirmed(&original, 1, 3)], 1);
        assert!(det.detect(&item(&other)).unwrap().is_empty());
        assert_eq!(
            det.detect(&item(&original)).unwrap().len(),
            1,
            "shared set updated"
        );
    }

    #[test]
    fn flat_pictures_do_not_match_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        let b = dir.path().join("b.png");
        image::RgbImage::from_pixel(100, 100, image::Rgb([10, 10, 10]))
            .save(&a)
            .unwrap();
        image::RgbImage::from_pixel(100, 100, image::Rgb([12, 10, 10]))
            .save(&b)
            .unwrap();
        let set = KnownFakeSet::new();
        set.replace(vec![confirmed(&a, 1, 1)], 1);
        let det = KnownFakeDetector::new(set, DEFAULT_MAX_DISTANCE);
        assert!(det.detect(&item(&b)).unwrap().is_empty());
    }

    #[test]
    fn unreadable_media_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        scene(2).save(&a).unwrap();
        let set = KnownFakeSet::new();
        set.replace(vec![confirmed(&a, 1, 1)], 1);
        let det = KnownFakeDetector::new(set, DEFAULT_MAX_DISTANCE);
        let missing = dir.path().join("gone.jpg");
        let e = det.detect(&item(&missing)).unwrap_err();
        assert!(e.message.contains("gone.jpg"), "{e}");
    }
}
