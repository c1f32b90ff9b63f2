//! Media capture: the images that new or changed items attach or link are downloaded through
//! the same fetcher as feeds (SSRF guard, size cap, timeouts, per-host politeness), their type
//! sniffed from the bytes (never the declared Content-Type or the URL), their dimensions checked
//! from the header before anything is decoded, and their bytes kept in the capture store named
//! by SHA-256. The item's `media[].sha256` and `mime` record the result, so the detectors (which
//! read the stored copy), the web UI and evidence packs all use exactly the captured bytes.
//! Media that fail to download are logged with the reason; the item is still stored and
//! classified.

use std::collections::HashMap;

use ballotwatch_core::Item;
use ballotwatch_ingest::{FetchRequest, Fetched, Fetcher};
use ballotwatch_store::Store;

/// Most media captured per item.
pub const MAX_PER_ITEM: usize = 8;
const ACCEPT: &str = "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1";

/// Gives media whose URL was already captured for the same item (an unchanged entry seen
/// again) the stored SHA-256 and type, so they are neither fetched again nor seen as a change.
pub fn reuse_stored(store: &Store, items: &mut [(usize, Item)]) -> anyhow::Result<()> {
    let ids: Vec<String> = items
        .iter()
        .filter(|(_, i)| !i.media.is_empty())
        .map(|(_, i)| i.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut known: HashMap<(String, String), (String, Option<String>)> = HashMap::new();
    for stored in store.get_items(&ids)? {
        for m in &stored.item.media {
            if let (Some(url), Some(sha)) = (&m.url, &m.sha256) {
                known.insert(
                    (stored.item.id.clone(), url.clone()),
                    (sha.clone(), m.mime.clone()),
                );
            }
        }
    }
    for (_, item) in items.iter_mut() {
        for m in &mut item.media {
            if m.sha256.is_some() {
                continue;
            }
            let Some(url) = &m.url else { continue };
            if let Some((sha, mime)) = known.get(&(item.id.clone(), url.clone())) {
                m.sha256 = Some(sha.clone());
                m.mime = mime.clone().or(m.mime.take());
            }
        }
    }
    Ok(())
}

/// Downloads the not yet captured images of `items` (at most [`MAX_PER_ITEM`] each), records
/// their SHA-256 and sniffed type on the items, and returns the bytes to store.
pub async fn capture(fetcher: &Fetcher, items: &mut [(usize, Item)]) -> Vec<Vec<u8>> {
    let mut blobs = Vec::new();
    for (_, item) in items.iter_mut() {
        for m in item.media.iter_mut().take(MAX_PER_ITEM) {
            if m.sha256.is_some() || m.path.is_some() {
                continue;
            }
            let Some(url) = m.url.clone() else { continue };
            match fetch_image(fetcher, &url).await {
                Ok((body, mime)) => {
                    m.sha256 = Some(ballotwatch_core::sha256_hex(&body));
                    m.mime = Some(mime.to_string());
                    blobs.push(body);
                }
                Err(reason) => {
                    tracing::warn!(item = %item.id, %url, %reason, "media not captured; the item is still processed");
                }
            }
        }
    }
    blobs
}

/// One image: its bytes and sniffed MIME type, or why it was not captured.
async fn fetch_image(fetcher: &Fetcher, url: &str) -> Result<(Vec<u8>, &'static str), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    let body = match fetcher
        .get(&FetchRequest::new(parsed, ACCEPT))
        .await
        .map_err(|e| e.to_string())?
    {
        Fetched::Body { body, .. } => body,
        _ => return Err("the server sent no body".into()),
    };
    let mime = sniff(&body)?;
    Ok((body, mime))
}

/// The image type of `bytes` from their content, after checking the declared dimensions.
fn sniff(bytes: &[u8]) -> Result<&'static str, String> {
    let format = image::guess_format(bytes)
        .map_err(|_| "not a PNG, JPEG, GIF or WebP image (by its bytes)".to_string())?;
    let (w, h) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| format!("unreadable image header: {e}"))?;
    let max = ballotwatch_classify::media::MAX_SIDE;
    if w > max || h > max {
        return Err(format!("{w}×{h} pixels is over the {max}-pixel limit"));
    }
    Ok(format.to_mime_type())
}

/// A copy of `item` whose captured media point at their files in the capture store, for the
/// detectors (which read only local files). The stored item stays as published.
pub fn with_local_paths(store: &Store, item: &Item) -> Item {
    let mut copy = item.clone();
    for m in &mut copy.media {
        if m.path.is_none() {
            if let Some(sha) = &m.sha256 {
                m.path = Some(store.blob_path(sha));
            }
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(w, h)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn sniffs_by_content_and_checks_dimensions() {
        assert_eq!(sniff(&png(4, 3)), Ok("image/png"));
        assert!(sniff(b"<html>not an image</html>").is_err());
        // Declared 20000 px wide: refused from the header alone.
        let mut big = png(1, 1);
        big[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(sniff(&big).is_err());
    }

    proptest! {
        #[test]
        fn sniffing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = sniff(&bytes);
        }
    }
}
