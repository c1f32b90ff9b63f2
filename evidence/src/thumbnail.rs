//! The screenshots as `report.html` and `report.pdf` show them: downscaled to at most
//! [`REPORT_WIDTH`] pixels wide (JPEG), so a report of a thousand items stays small enough for
//! Chromium to print quickly. The full-size PNGs stay in the pack under `screenshots/`, and the
//! report names each one.

use std::collections::BTreeMap;

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
}
