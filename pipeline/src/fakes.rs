//! The known-fake detector's shared list, kept current from the store: loaded at start and
//! reloaded (one cheap query when nothing changed) before each classify batch, on either back
//! end (in cluster mode every classify node reloads it from PostgreSQL).

use ballotwatch_classify::detectors::media::known_fakes::{KnownFake, KnownFakeSet, PdqHash};
use ballotwatch_store::{KnownFakeRecord, PipelineStore, StoreError};

/// The detector's view of stored confirmations (records with unreadable hashes are skipped
/// with a warning; the store only accepts 64 hex digits, so that means a damaged database).
pub fn to_detector_list(records: &[KnownFakeRecord]) -> Vec<KnownFake> {
    records
        .iter()
        .filter_map(|r| {
            let Some(pdq) = PdqHash::from_hex(&r.pdq, r.pdq_quality) else {
                tracing::warn!(id = r.id, pdq = %r.pdq, "skipping a confirmed fake with an unreadable PDQ hash");
                return None;
            };
            Some(KnownFake {
                id: r.id,
                pdq,
                sha256: r.sha256.clone(),
                incident_id: r.incident_id,
                media_url: r.media_url.clone(),
            })
        })
        .collect()
}

/// Reloads `set` from the store when the store's list changed since the last load; returns
/// whether it reloaded. One cheap query when nothing changed.
pub fn refresh(store: &dyn PipelineStore, set: &KnownFakeSet) -> Result<bool, StoreError> {
    let version = store.known_fakes_version()?;
    if version == set.version() && (version != 0 || set.is_empty()) {
        return Ok(false);
    }
    let records = store.known_fakes()?;
    set.replace(to_detector_list(&records), version);
    tracing::info!(count = records.len(), "confirmed-fake list loaded");
    Ok(true)
}
