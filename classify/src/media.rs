//! Reading the media files detectors examine (`media[].path`, or a configured logo): one place
//! that opens a file, sniffs its format from its bytes (never from its name or a declared MIME
//! type) and decodes it under limits, so a crafted image (a decompression bomb, a huge canvas)
//! is refused with a message instead of exhausting memory.

use std::path::{Path, PathBuf};

/// Largest width or height decoded, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Most memory one decode may allocate.
pub const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// The item's image media that have a local file, with their index in `media[]`: every
/// medium with a `path` whose declared type (if any) is an image. What the OCR and the image
/// detectors examine.
pub fn local_images(
    item: &ballotwatch_core::Item,
) -> impl Iterator<Item = (usize, &ballotwatch_core::Media, &Path)> {
    item.media.iter().enumerate().filter_map(|(index, medium)| {
        let path = medium.path.as_deref()?;
        let image = medium
            .mime
            .as_deref()
            .is_none_or(|m| m.starts_with("image/"));
        image.then_some((index, medium, path))
    })
}

/// Why an image could not be examined. The message names the file and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImageDecodeError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Its size is over [`MAX_SIDE`] or [`MAX_ALLOC`].
    #[error(
        "{} is too large to examine ({limits}; the limits are {MAX_SIDE} pixels a side and {} MiB)",
        path.display(),
        MAX_ALLOC / (1024 * 1024)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The decoder's description of the limit reached.
        limits: image::error::LimitError,
    },
    /// Not an image the decoder reads.
    #[error("{} is not a readable PNG, JPEG, WebP or GIF image: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        source: image::ImageError,
    },
}

/// Decodes the image at `path` (PNG, JPEG, WebP or GIF, sniffed from the bytes) within
/// [`MAX_SIDE`] and [`MAX_ALLOC`].
pub fn decode_image(path: &Path) -> Result<image::DynamicImage, ImageDecodeError> {
    let reader = image::ImageReader::open(path).map_err(|source| ImageDecodeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_with_limits(reader, path)
}

/// Decodes an image held in memory (a captured copy read back from the store) as
/// [`decode_image`] does; `name` stands for it in errors.
pub fn decode_image_bytes(
    bytes: &[u8],
    name: &Path,
) -> Result<image::DynamicImage, ImageDecodeError> {
    decode_with_limits(image::ImageReader::new(std::io::Cursor::new(bytes)), name)
}

/// Sniffs the format and decodes within [`MAX_SIDE`] and [`MAX_ALLOC`]; `path` names the image
/// in errors.
fn decode_with_limits<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    path: &Path,
) -> Result<image::DynamicImage, ImageDecodeError> {
    let mut reader = reader
        .with_guessed_format()
        .map_err(|source| ImageDecodeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(limits) => ImageDecodeError::TooLarge {
            path: path.to_path_buf(),
            limits,
        },
        source => ImageDecodeError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picture.jpg"); // a PNG under a .jpg name
        image::RgbImage::from_pixel(8, 4, image::Rgb([200, 10, 10]))
            .save_with_format(&path, image::ImageFormat::Png)
            .unwrap();
        let img = decode_image(&path).unwrap();
        assert_eq!((img.width(), img.height()), (8, 4));
    }

    #[test]
    fn refuses_a_canvas_over_the_limit() {
        // A valid PNG header declaring a 20000×20000 canvas: refused before any pixel is
        // allocated.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.png");
        let mut f = std::fs::File::create(&path).unwrap();
        let img = image::GrayImage::new(1, 1);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // Patch the IHDR width and height (bytes 16..24) and its CRC.
        png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        std::io::Write::write_all(&mut f, &png).unwrap();
        drop(f);
        let err = decode_image(&path).unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
        assert!(err.contains("bomb.png"), "{err}");
    }

    #[test]
    fn names_the_file_that_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.png");
        std::fs::write(&path, b"just text").unwrap();
        let err = decode_image(&path).unwrap_err().to_string();
        assert!(
            err.contains("notes.png") && err.contains("not a readable"),
            "{err}"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
