//! Pictures: decoded within limits, a JPEG passed through, a PNG stored deflated.

use super::*;

/// An image as the PDF holds it.
pub(super) enum PdfImage<'f> {
    /// JPEG bytes passed through (`DCTDecode`).
    Jpeg {
        bytes: &'f [u8],
        size: (u32, u32),
        gray: bool,
    },
    /// Decoded RGB, deflated.
    Rgb { deflated: Vec<u8>, size: (u32, u32) },
}

impl PdfImage<'_> {
    pub(super) fn size(&self) -> (u32, u32) {
        match self {
            PdfImage::Jpeg { size, .. } | PdfImage::Rgb { size, .. } => *size,
        }
    }
}

/// The most memory one image may take decoded.
pub(super) const MAX_DECODED: u64 = 512 * 1024 * 1024;

pub(super) fn load_image(bytes: &[u8]) -> Result<PdfImage<'_>, String> {
    use image::ImageDecoder as _;
    let format = image::guess_format(bytes).map_err(|e| e.to_string())?;
    if format == image::ImageFormat::Jpeg {
        let d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes))
            .map_err(|e| e.to_string())?;
        // Thumbnails are written by Ballotwatch as RGB (or grey) JPEG: passed through.
        match d.color_type() {
            image::ColorType::Rgb8 => {
                return Ok(PdfImage::Jpeg {
                    bytes,
                    size: d.dimensions(),
                    gray: false,
                })
            }
            image::ColorType::L8 => {
                return Ok(PdfImage::Jpeg {
                    bytes,
                    size: d.dimensions(),
                    gray: true,
                })
            }
            _ => {}
        }
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED);
    reader.limits(limits);
    let rgb = reader.decode().map_err(|e| e.to_string())?.into_rgb8();
    let size = rgb.dimensions();
    Ok(PdfImage::Rgb {
        deflated: deflate(rgb.as_raw()),
        size,
    })
}

pub(super) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}
