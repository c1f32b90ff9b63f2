//! Media confirmed fake, as the CLI and the web UI confirm it: hashing confirmed media (PDQ and
//! SHA-256), recording confirmations for an incident's images, and the read-only list
//! `classify` uses. Keeping the detector's shared [`KnownFakeSet`] current is the pipeline's
//! (`ballotwatch_pipeline::fakes`). Used by `ballotwatch fakes`, `classify` and the web UI's
//! "Mark media as confirmed fake" button.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ballotwatch_classify::detectors::media::known_fakes::{
    pdq_hash, KnownFakeSet, PdqHash, MIN_QUALITY,
};
use ballotwatch_pipeline::fakes::{refresh, to_detector_list};
use ballotwatch_store::{KnownFakeRecord, NewKnownFake, PipelineStore, StoreError};
use ballotwatch_web::MarkFakeError;
use sha2::{Digest, Sha256};

use crate::commands::UsageError;

/// The set for `classify`: read from the store in `data_dir` without creating or changing
/// anything; empty when there is no store yet.
pub fn load_readonly(data_dir: &Path) -> anyhow::Result<KnownFakeSet> {
    let set = KnownFakeSet::new();
    if let Some(records) = ballotwatch_store::read_known_fakes_readonly(data_dir)
        .with_context(|| format!("cannot read the confirmed fakes in {}", data_dir.display()))?
    {
        set.replace(to_detector_list(&records), 1);
    }
    Ok(set)
}

/// PDQ hash and SHA-256 of an image file.
pub fn hash_file(path: &Path) -> anyhow::Result<(PdqHash, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    hash_bytes(&bytes, path)
}

/// PDQ hash and SHA-256 of an image's bytes; `name` stands for it in errors.
fn hash_bytes(bytes: &[u8], name: &Path) -> anyhow::Result<(PdqHash, String)> {
    let img = ballotwatch_classify::media::decode_image_bytes(bytes, name)?;
    Ok((pdq_hash(&img), hex::encode(Sha256::digest(bytes))))
}

/// One image to confirm: its captured copy in the store (by SHA-256, on either back end)
/// and/or a file on this machine.
struct Candidate {
    captured: Option<String>,
    file: Option<PathBuf>,
    item_id: Option<String>,
    url: Option<String>,
}

impl Candidate {
    /// Its PDQ hash and SHA-256, read now (one image in memory at a time): from the captured
    /// copy, else from the file.
    fn hash(&self, store: &dyn PipelineStore) -> anyhow::Result<(PdqHash, String)> {
        let captured = self.captured.as_deref().map(|sha| match store.read_blob(sha) {
            Ok(bytes) => hash_bytes(&bytes, Path::new(&format!("the captured copy {sha}"))),
            // Gone from the store: the officer can still give the image itself.
            Err(e) if e.is_blob_missing() => Err(UsageError(format!(
                "the captured copy of image {sha} is no longer stored (give the image with --file PATH)"
            ))
            .into()),
            Err(e) => {
                Err(anyhow::Error::from(e).context(format!("cannot read the captured copy {sha}")))
            }
        });
        match (captured, &self.file) {
            (Some(Ok(hashes)), _) => Ok(hashes),
            (_, Some(path)) => hash_file(path),
            (Some(Err(e)), None) => Err(e),
            (None, None) => Err(anyhow::anyhow!("no copy of this image to read")),
        }
    }
}

/// The image media of an incident's items with a copy to hash (the captured copy in the store,
/// else the item's `media[].path` on this machine); `only` keeps the one with that SHA-256.
fn incident_images(
    store: &dyn PipelineStore,
    incident_id: i64,
    only: Option<&str>,
) -> anyhow::Result<Vec<Candidate>> {
    let ids = store.incident_item_ids(incident_id)?;
    let mut out = Vec::new();
    for stored in store.get_items(&ids)? {
        for m in &stored.item.media {
            if m.mime.as_deref().is_some_and(|t| !t.starts_with("image/")) {
                continue;
            }
            if let Some(want) = only {
                if !m
                    .sha256
                    .as_deref()
                    .is_some_and(|h| want.eq_ignore_ascii_case(h))
                {
                    continue;
                }
            }
            let file = m.path.clone().filter(|p| p.is_file());
            if m.sha256.is_none() && file.is_none() {
                tracing::warn!(item = %stored.item.id, url = ?m.url, "no copy of this image; skipped");
                continue;
            }
            out.push(Candidate {
                captured: m.sha256.as_deref().map(str::to_ascii_lowercase),
                file,
                item_id: Some(stored.item.id.clone()),
                url: m.url.clone(),
            });
        }
    }
    if let (Some(want), true) = (only, out.is_empty()) {
        return Err(UsageError(format!(
            "incident {incident_id} has no captured image with SHA-256 {want}"
        ))
        .into());
    }
    Ok(out)
}

/// Confirms media fake in an incident: `file` (a local image), or the incident's images
/// (all, or the one with SHA-256 `only`). Each is hashed and recorded with an audit entry;
/// returns the records and whether each was new.
pub fn confirm(
    store: &dyn PipelineStore,
    incident_id: i64,
    only: Option<&str>,
    file: Option<&Path>,
    note: &str,
    actor: &str,
) -> anyhow::Result<Vec<(KnownFakeRecord, bool)>> {
    if store.get_incident(incident_id)?.is_none() {
        return Err(UsageError(format!("there is no incident {incident_id}")).into());
    }
    let candidates = match file {
        Some(f) => vec![Candidate {
            captured: None,
            file: Some(f.to_path_buf()),
            item_id: None,
            url: None,
        }],
        None => incident_images(store, incident_id, only)?,
    };
    if candidates.is_empty() {
        return Err(UsageError(format!(
            "incident {incident_id} has no image with a local copy to confirm (give one with --file PATH)"
        ))
        .into());
    }
    // Confirming every image of an incident skips one that cannot be read (saying so); one
    // named image or file that cannot be read is an error.
    let every = only.is_none() && file.is_none();
    let mut out = Vec::new();
    for c in candidates {
        let (pdq, sha) = match c.hash(store) {
            Ok(hashes) => hashes,
            Err(e) if every => {
                tracing::warn!(item = ?c.item_id, url = ?c.url, error = %format!("{e:#}"), "cannot read this image; skipped");
                continue;
            }
            Err(e) => return Err(e),
        };
        if pdq.quality < MIN_QUALITY {
            tracing::warn!(sha256 = %sha, quality = pdq.quality,
                "this picture is nearly flat: only identical copies will be matched");
        }
        let rec = store
            .add_known_fake(
                &NewKnownFake {
                    pdq: pdq.to_hex(),
                    pdq_quality: pdq.quality,
                    sha256: sha,
                    incident_id,
                    item_id: c.item_id,
                    media_url: c.url,
                    note: note.to_string(),
                },
                actor,
            )
            .map_err(|e| match e {
                StoreError::InvalidInput(m) => UsageError(m).into(),
                other => anyhow::Error::from(other),
            })?;
        out.push(rec);
    }
    if out.is_empty() {
        return Err(UsageError(format!(
            "none of incident {incident_id}'s images could be read (give one with --file PATH)"
        ))
        .into());
    }
    Ok(out)
}

/// The web UI's "Mark media as confirmed fake" button: confirms the incident's image with that
/// SHA-256 and reloads the detector's list at once, so the very next classify batch matches it.
pub struct WebFakeMarker {
    /// The list shared with the pipeline's known-fake detector.
    pub set: KnownFakeSet,
}

impl ballotwatch_web::FakeMarker for WebFakeMarker {
    fn mark(
        &self,
        store: &dyn PipelineStore,
        incident_id: i64,
        sha256: &str,
        note: &str,
        actor: &str,
    ) -> Result<String, MarkFakeError> {
        // A usage error (no such incident or image) is the officer's to fix; anything else is
        // the server's.
        let classify = |e: anyhow::Error| {
            if e.chain().any(|c| {
                c.is::<UsageError>()
                    || matches!(
                        c.downcast_ref::<StoreError>(),
                        Some(StoreError::InvalidInput(_))
                    )
            }) {
                MarkFakeError::Refused(format!("{e:#}"))
            } else {
                MarkFakeError::Failed(format!("{e:#}"))
            }
        };
        let records =
            confirm(store, incident_id, Some(sha256), None, note, actor).map_err(classify)?;
        refresh(store, &self.set).map_err(|e| classify(e.into()))?;
        Ok(format!(
            "media confirmed fake: {}",
            records
                .iter()
                .map(|(r, _)| format!("#{}", r.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_core::{Media, Severity, SourceRef, VerdictKind};
    use ballotwatch_ingest::sources::imap::capture_of;
    use ballotwatch_store::{PollRecord, Store};
    use chrono::Utc;

    /// A store with one incident whose item has three images: one captured, one whose captured
    /// copy is gone, one never captured and without a file.
    fn incident_with_images() -> (tempfile::TempDir, Store, i64, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut png = Vec::new();
        image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
        })
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
        let captured = store.put_blob(&png).unwrap();
        let image = |sha: Option<String>, n: usize| Media {
            url: Some(format!("https://x.example/{n}.png")),
            mime: Some("image/png".into()),
            sha256: sha,
            ..Media::default()
        };
        let item = ballotwatch_core::Item {
            id: "post".into(),
            source: SourceRef {
                kind: "rss".into(),
                name: "Echo".into(),
            },
            text: Some("a fake notice".into()),
            media: vec![
                image(Some(captured.clone()), 1),
                image(Some("cd".repeat(32)), 2),
                image(None, 3),
            ],
            ..Default::default()
        };
        let feed: &[u8] = b"<rss/>";
        store.put_blob(feed).unwrap();
        let now = Utc::now();
        store
            .record_poll(
                "Echo",
                PollRecord {
                    captures: vec![capture_of(
                        "https://x.example/feed",
                        "application/rss+xml",
                        feed,
                    )],
                    items: vec![(0, item)],
                    etag: None,
                    last_modified: None,
                    cursor: None,
                    not_modified: false,
                    attempted_at: now,
                    next_attempt_at: now,
                },
            )
            .unwrap();
        let incident = store
            .create_incident(
                "fake notice",
                VerdictKind::SyntheticMedia,
                Severity::High,
                "ana",
            )
            .unwrap();
        store.add_incident_item(incident.id, "post", "ana").unwrap();
        (dir, store, incident.id, captured)
    }

    #[test]
    fn an_incidents_captured_images_are_confirmed_through_the_store_and_unreadable_ones_named() {
        let (_dir, store, incident, captured) = incident_with_images();
        // Every image: the captured one is confirmed, the one whose copy is gone is skipped.
        let records = confirm(&store, incident, None, None, "seen on Facebook", "ana").unwrap();
        assert_eq!(records.len(), 1);
        let (rec, new) = &records[0];
        assert!(new);
        assert_eq!(rec.sha256, captured);
        assert_eq!(rec.media_url.as_deref(), Some("https://x.example/1.png"));
        assert_eq!(rec.item_id.as_deref(), Some("post"));
        // The one named by SHA-256: the same record again.
        let again = confirm(
            &store,
            incident,
            Some(&captured.to_uppercase()),
            None,
            "",
            "bo",
        )
        .unwrap();
        assert_eq!((again[0].0.id, again[0].1), (rec.id, false));
        // The one whose copy is gone, named: an error that says which.
        let gone = "cd".repeat(32);
        let e = confirm(&store, incident, Some(&gone), None, "", "bo").unwrap_err();
        assert!(format!("{e:#}").contains(&gone), "{e:#}");
        assert!(e.is::<UsageError>(), "the officer's to act on: {e:#}");
        // An image the incident does not have: the officer's mistake.
        let e = confirm(&store, incident, Some(&"ef".repeat(32)), None, "", "bo").unwrap_err();
        assert!(e.is::<UsageError>(), "{e:#}");
    }
}
