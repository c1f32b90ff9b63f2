//! Whether a new report is one reported before (issue 19): the same page (by
//! [`url_key`](ballotwatch_ingest::sources::report::url_key)) or the same picture (PDQ, within
//! `[reports] same_picture_distance` bits, looked up through the store's chunk index). Such a
//! report joins the earlier report's item, and so its incident, as another report.

use ballotwatch_classify::detectors::media::known_fakes::{pdq_hash, MIN_QUALITY};
use ballotwatch_classify::media::decode_image_bytes;
use ballotwatch_core::Media;
use ballotwatch_store::{Hash256, PipelineStore};
use ballotwatch_web::reports::Joined;

use crate::Result;

/// The PDQ hashes of an item's captured pictures and video frames (those stored in `store`,
/// read one at a time), leaving out pictures too flat to hash meaningfully (quality under
/// [`MIN_QUALITY`]) and any that cannot be read or decoded within the classifier's limits
/// (logged; the report is kept).
pub(crate) fn picture_hashes(store: &dyn PipelineStore, media: &[Media]) -> Vec<Hash256> {
    let mut out: Vec<Hash256> = Vec::new();
    for m in media {
        let (Some(sha), Some(mime)) = (&m.sha256, &m.mime) else {
            continue;
        };
        if !mime.starts_with("image/") {
            continue;
        }
        let decoded = store
            .read_blob(sha)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                decode_image_bytes(&bytes, std::path::Path::new(sha)).map_err(|e| e.to_string())
            });
        match decoded {
            Ok(img) => {
                let h = pdq_hash(&img);
                if h.quality >= MIN_QUALITY && !out.contains(&h.bits) {
                    out.push(h.bits);
                }
            }
            Err(e) => {
                tracing::info!(media = %sha, error = %e, "reported picture not hashed");
            }
        }
    }
    out
}

/// The item an earlier report of one of `keys` (URL keys, in the report's order) or of a
/// picture within `distance` bits of one of `hashes` became, with what matched. URLs are
/// looked at first: a page is the surer match.
pub(crate) fn earlier_report(
    store: &dyn PipelineStore,
    keys: &[String],
    hashes: &[Hash256],
    distance: u32,
) -> Result<Option<(String, Joined)>> {
    for key in keys {
        if let Some(item) = store.report_key_item(key)? {
            let joined = Joined {
                by: "url".into(),
                detail: key.trim_start_matches("url:").to_string(),
                incident_id: None,
            };
            return Ok(Some((item, joined)));
        }
    }
    let mut best: Option<(u32, String)> = None;
    for h in hashes {
        if let Some(m) = store.nearest_report_hash(h, distance)? {
            if best.as_ref().is_none_or(|(d, _)| m.distance < *d) {
                best = Some((m.distance, m.item_id));
            }
        }
    }
    Ok(best.map(|(d, item)| {
        (
            item,
            Joined {
                by: "picture".into(),
                detail: d.to_string(),
                incident_id: None,
            },
        )
    }))
}
