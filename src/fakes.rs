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
use ballotwatch_store::{KnownFakeRecord, NewKnownFake, Store, StoreError};
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
    let img = ballotwatch_classify::media::decode_image(path)?;
    Ok((pdq_hash(&img), hex::encode(Sha256::digest(&bytes))))
}

/// One image to confirm.
struct Candidate {
    file: PathBuf,
    item_id: Option<String>,
    url: Option<String>,
}

/// The image media of an incident's items whose bytes are on disk (the captured copy in the
/// store, else the item's `media[].path`); `only` keeps the one with that SHA-256.
fn incident_images(
    store: &Store,
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
            let captured = m
                .sha256
                .as_deref()
                .map(|s| store.blob_path(s))
                .filter(|p| p.is_file());
            let Some(file) = captured.or_else(|| m.path.clone().filter(|p| p.is_file())) else {
                tracing::warn!(item = %stored.item.id, url = ?m.url, "no local copy of this image; skipped");
                continue;
            };
            out.push(Candidate {
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
    store: &Store,
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
            file: f.to_path_buf(),
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
    let mut out = Vec::new();
    for c in candidates {
        let (pdq, sha) = hash_file(&c.file)?;
        if pdq.quality < MIN_QUALITY {
            tracing::warn!(file = %c.file.display(), quality = pdq.quality,
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
        store: &Store,
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
