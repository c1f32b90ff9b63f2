//! The screenshots as `report.html` and `report.pdf` show them: downscaled to at most
//! [`REPORT_WIDTH`] pixels wide (JPEG), so a report of a thousand items stays small (the PDF
//! carries each thumbnail's bytes as they are). The full-size PNGs stay in the pack under `screenshots/`, and the
//! report names each one: they are the evidence, a thumbnail is a convenience copy.
//!
//! A thumbnail is made once, when the screenshot is taken ([`store_thumbnail`]), and kept in
//! the capture store as a derived blob of the screenshot; export reads it
//! ([`report_images_from_store`]) and makes only those that are missing (screenshots taken
//! before thumbnails were kept).

use std::collections::BTreeMap;

use ballotwatch_store::PipelineStore;

use image::{ImageFormat, ImageReader, Limits};

/// The widest a screenshot is shown in the report by default, in pixels (an A4 page's text
/// column at print resolution is about this wide).
pub const REPORT_WIDTH: u32 = 480;

/// JPEG quality of the thumbnails: text in a screenshot stays legible.
const JPEG_QUALITY: u8 = 80;

/// The most memory one screenshot may take decoded (a full-page screenshot at Chromium's height
/// limit is well under this).
const MAX_DECODED: u64 = 512 * 1024 * 1024;

/// A screenshot as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportImage {
    /// `image/png` (the screenshot itself) or `image/jpeg` (a thumbnail of it).
    pub mime: &'static str,
    /// The bytes to inline.
    pub bytes: Vec<u8>,
    /// Pixel size of what is shown.
    pub size: (u32, u32),
    /// True when this is a downscaled copy of the screenshot in the pack.
    pub thumbnail: bool,
}

/// Why a screenshot could not be made into a report image.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// The bytes are not a PNG the decoder can read within its memory limit.
    #[error("the screenshot is not a readable PNG: {0}")]
    Decode(image::ImageError),
    /// The downscaled copy could not be written as JPEG.
    #[error("the thumbnail could not be encoded as JPEG: {0}")]
    Encode(image::ImageError),
}

/// `png` at most `max_width` pixels wide: the PNG itself when it is no wider, else a JPEG
/// thumbnail of it keeping its proportions. `Err` says why the PNG could not be read.
pub fn thumbnail(png: &[u8], max_width: u32) -> Result<ReportImage, ThumbnailError> {
    let mut reader = ImageReader::with_format(std::io::Cursor::new(png), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED);
    reader.limits(limits);
    let decoded = reader.decode().map_err(ThumbnailError::Decode)?;
    let (w, h) = (decoded.width(), decoded.height());
    if w <= max_width.max(1) {
        return Ok(ReportImage {
            mime: "image/png",
            bytes: png.to_vec(),
            size: (w, h),
            thumbnail: false,
        });
    }
    let width = max_width.max(1);
    let height = u32::try_from(u64::from(h) * u64::from(width) / u64::from(w.max(1)))
        .unwrap_or(u32::MAX)
        .max(1);
    let small = image::DynamicImage::ImageRgb8(decoded.into_rgb8()).thumbnail_exact(width, height);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(&small)
        .map_err(ThumbnailError::Encode)?;
    Ok(ReportImage {
        mime: "image/jpeg",
        bytes,
        size: (width, height),
        thumbnail: true,
    })
}

/// The report's images for the pack's screenshots (PNG bytes by path in the pack): thumbnails
/// at most `max_width` wide, made on every core; `None` shows them at full size. A screenshot
/// that cannot be read is shown as it is (and logged).
pub fn report_images<'a>(
    screenshots: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    max_width: Option<u32>,
) -> BTreeMap<String, ReportImage> {
    let all: Vec<(&str, &[u8])> = screenshots.into_iter().collect();
    let _span = tracing::info_span!("report_images", count = all.len()).entered();
    let full = |png: &[u8]| ReportImage {
        mime: "image/png",
        size: (0, 0),
        bytes: png.to_vec(),
        thumbnail: false,
    };
    let Some(width) = max_width else {
        return all
            .into_iter()
            .map(|(path, png)| (path.to_string(), full(png)))
            .collect();
    };
    let one = |(path, png): (&str, &[u8])| match thumbnail(png, width) {
        Ok(img) => (path.to_string(), img),
        Err(why) => {
            tracing::warn!(%path, %why, "screenshot not downscaled for the report; shown as it is");
            (path.to_string(), full(png))
        }
    };
    // Each thread takes the next screenshot not yet taken, so a busy core does less.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(all.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out = BTreeMap::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&shot) = all.get(i) else {
                            return done;
                        };
                        done.push(one(shot));
                    }
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(done) => out.extend(done),
                Err(_) => tracing::error!("a thumbnail thread panicked"),
            }
        }
    });
    out
}

/// The capture store's derived-blob kind of a report thumbnail `width` px wide.
pub fn derived_kind(width: u32) -> String {
    format!("report-jpeg-{width}")
}

/// Where a screenshot's thumbnail goes in the pack: `screenshots/<sha256>.png` gives
/// `thumbnails/<sha256>.jpg`.
pub fn pack_path(screenshot: &str) -> String {
    let name = screenshot.rsplit('/').next().unwrap_or(screenshot);
    let stem = name.strip_suffix(".png").unwrap_or(name);
    format!("thumbnails/{stem}.jpg")
}

/// Makes the report thumbnail of a screenshot just taken (`png`, stored as `png_sha256`) and
/// keeps it in the capture store, so export does not decode the PNG again. Returns the
/// thumbnail's SHA-256, or `None` when the screenshot is narrow enough to be shown itself or
/// the thumbnail could not be made or kept (logged: export then makes it).
pub fn store_thumbnail(
    store: &dyn PipelineStore,
    png_sha256: &str,
    png: &[u8],
    width: u32,
) -> Option<String> {
    let img = match thumbnail(png, width) {
        Ok(img) if img.thumbnail => img,
        Ok(_) => return None,
        Err(why) => {
            tracing::warn!(png = %png_sha256, %why, "no report thumbnail made at capture");
            return None;
        }
    };
    match store.put_derived(&derived_kind(width), png_sha256, &img.bytes) {
        Ok(sha) => Some(sha),
        Err(e) => {
            tracing::warn!(png = %png_sha256, error = %e, "report thumbnail not kept; export will make it");
            None
        }
    }
}

/// The report's images for the pack's screenshots (`(path in the pack, PNG bytes)`, each
/// `screenshots/<sha256>.png`): the thumbnails kept in `store` when they were taken, and for
/// the others (taken before thumbnails were kept, or a damaged copy) thumbnails made now, as
/// [`report_images`] does. Nothing is written to the store.
pub fn report_images_from_store<'a>(
    store: &dyn PipelineStore,
    screenshots: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    max_width: Option<u32>,
) -> BTreeMap<String, ReportImage> {
    let Some(width) = max_width else {
        return report_images(screenshots, None);
    };
    let kind = derived_kind(width);
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (path, png) in screenshots {
        let sha = path
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".png"))
            .unwrap_or("");
        let kept = match store.read_derived(&kind, sha) {
            Ok(Some(bytes)) => jpeg_size(&bytes).map(|size| ReportImage {
                mime: "image/jpeg",
                bytes,
                size,
                thumbnail: true,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(%path, error = %e, "kept thumbnail unreadable; making it again");
                None
            }
        };
        match kept {
            Some(img) => {
                out.insert(path.to_string(), img);
            }
            None => missing.push((path, png)),
        }
    }
    tracing::debug!(kept = out.len(), made = missing.len(), "report thumbnails");
    out.extend(report_images(missing, Some(width)));
    out
}

/// The pixel size of a JPEG, from its header (`None`: not a readable JPEG).
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Jpeg)
        .into_dimensions()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8, 255])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_wide_screenshot_becomes_a_proportional_jpeg_thumbnail() {
        let t = thumbnail(&png(1280, 2000), 480).unwrap();
        assert!(t.thumbnail);
        assert_eq!(t.mime, "image/jpeg");
        assert_eq!(t.size, (480, 750));
        let back = image::load_from_memory_with_format(&t.bytes, ImageFormat::Jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (480, 750));
    }

    #[test]
    fn a_narrow_screenshot_is_kept_as_it_is() {
        let p = png(300, 40);
        let t = thumbnail(&p, 480).unwrap();
        assert!(!t.thumbnail);
        assert_eq!((t.mime, t.bytes, t.size), ("image/png", p, (300, 40)));
    }

    #[test]
    fn every_screenshot_gets_an_image_and_unreadable_ones_are_kept() {
        let mut shots = BTreeMap::new();
        for i in 0..5 {
            shots.insert(format!("screenshots/{i}.png"), png(960, 100 + i));
        }
        shots.insert("screenshots/bad.png".into(), b"not a png".to_vec());
        let borrowed = || shots.iter().map(|(p, b)| (p.as_str(), b.as_slice()));
        let out = report_images(borrowed(), Some(480));
        assert_eq!(out.len(), 6);
        for i in 0..5 {
            let img = &out[&format!("screenshots/{i}.png")];
            assert!(img.thumbnail);
            assert_eq!(img.size, (480, (100 + i) / 2));
        }
        let bad = &out["screenshots/bad.png"];
        assert!(!bad.thumbnail && bad.bytes == b"not a png");
        let full = report_images(borrowed(), None);
        assert!(full.values().all(|i| !i.thumbnail && i.mime == "image/png"));
    }

    #[test]
    fn a_thumbnail_kept_at_capture_is_used_and_a_missing_one_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = ballotwatch_store::Store::open(dir.path()).unwrap();
        let (a, b) = (png(960, 200), png(960, 300));
        let (sa, sb) = (store.put_blob(&a).unwrap(), store.put_blob(&b).unwrap());
        let kept = store_thumbnail(&store, &sa, &a, 480).unwrap();
        assert_eq!(store_thumbnail(&store, &sa, &png(300, 40), 480), None);
        let (pa, pb) = (
            format!("screenshots/{sa}.png"),
            format!("screenshots/{sb}.png"),
        );
        let shots = [(pa.as_str(), a.as_slice()), (pb.as_str(), b.as_slice())];
        let out = report_images_from_store(&store, shots, Some(480));
        // The kept one is read, not made again: same bytes as stored.
        assert_eq!(ballotwatch_core::sha256_hex(&out[&pa].bytes), kept);
        assert_eq!(out[&pa].size, (480, 100));
        // The one taken before thumbnails were kept is made now, the same as at capture.
        assert_eq!(out[&pb], thumbnail(&b, 480).unwrap());
        assert_eq!(store.read_derived(&derived_kind(480), &sb).unwrap(), None);
        assert_eq!(pack_path(&pa), format!("thumbnails/{sa}.jpg"));
    }
}
