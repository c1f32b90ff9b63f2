//! Renders lines of text into an image with a TrueType font (DejaVu Sans from Debian's
//! `fonts-dejavu-core`), for OCR tests, benchmarks and the demo's fake notice.
//! Each test crate uses only some of it.
#![allow(dead_code)]

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// Where Debian's `fonts-dejavu-core` puts DejaVu Sans.
pub const DEJAVU_SANS: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Where Debian's `fonts-dejavu-core` puts DejaVu Sans Bold.
pub const DEJAVU_SANS_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// Reads a font file, failing with how to install it when it is absent.
pub fn font_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the font {path} ({e}): install Debian's fonts-dejavu-core \
             (apt-get install -y --no-install-recommends fonts-dejavu-core)"
        )
    })
}

/// One line to draw: text, font bytes, pixel size, colour.
pub struct Line<'a> {
    /// The text.
    pub text: &'a str,
    /// The font file's bytes.
    pub font: &'a [u8],
    /// Height in pixels.
    pub size: f32,
    /// Colour.
    pub colour: [u8; 3],
}

/// Draws the lines top to bottom, left-aligned with a margin, on a `width`-wide canvas of
/// `background`, with a coloured band of `band` pixels at the top (0 for none). Returns the
/// image, exactly as tall as the text needs.
pub fn render(width: u32, background: [u8; 3], band: ([u8; 3], u32), lines: &[Line]) -> RgbImage {
    let margin = 40.0f32;
    let gap = 0.6f32;
    let height =
        band.1 as f32 + margin + lines.iter().map(|l| l.size * (1.0 + gap)).sum::<f32>() + margin;
    let mut img = RgbImage::from_pixel(width, height.ceil() as u32, Rgb(background));
    for y in 0..band.1.min(img.height()) {
        for x in 0..width {
            img.put_pixel(x, y, Rgb(band.0));
        }
    }
    let mut baseline = band.1 as f32 + margin;
    for line in lines {
        let font = FontRef::try_from_slice(line.font).expect("a valid TrueType font");
        let scaled = font.as_scaled(PxScale::from(line.size));
        baseline += scaled.ascent();
        let mut x = margin;
        let mut previous = None;
        for ch in line.text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(p) = previous {
                x += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(line.size, ab_glyph::point(x, baseline));
            x += scaled.h_advance(id);
            previous = Some(id);
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    let px = bounds.min.x as i64 + i64::from(gx);
                    let py = bounds.min.y as i64 + i64::from(gy);
                    if px < 0 || py < 0 || px >= i64::from(width) || py >= i64::from(img.height()) {
                        return;
                    }
                    let pixel = img.get_pixel_mut(px as u32, py as u32);
                    for c in 0..3 {
                        let bg = f32::from(pixel[c]);
                        let fg = f32::from(line.colour[c]);
                        pixel[c] = (bg + (fg - bg) * coverage.clamp(0.0, 1.0)).round() as u8;
                    }
                });
            }
        }
        baseline += -scaled.descent() + line.size * gap;
    }
    img
}

/// The English test notice: lines of (text, bold).
pub const NOTICE: &[(&str, bool)] = &[
    ("ANYTOWN BOROUGH COUNCIL", true),
    (
        "NOTICE: Riverside polling station is CLOSED on 7 May.",
        false,
    ),
    ("Vote at the Town Hall, Market Street, instead.", false),
    ("Polling stations are open from 7am to 10pm.", false),
];

/// Renders [`NOTICE`] in DejaVu Sans: black text on white under a dark blue band.
pub fn notice() -> RgbImage {
    let regular = font_bytes(DEJAVU_SANS);
    let bold = font_bytes(DEJAVU_SANS_BOLD);
    let lines: Vec<Line> = NOTICE
        .iter()
        .map(|&(text, is_bold)| Line {
            text,
            font: if is_bold { &bold } else { &regular },
            size: if is_bold { 40.0 } else { 30.0 },
            colour: [20, 20, 20],
        })
        .collect();
    render(1000, [255, 255, 255], ([0, 51, 102], 24), &lines)
}

/// The notice's text, lines joined with newlines.
pub fn notice_text() -> String {
    NOTICE.iter().map(|l| l.0).collect::<Vec<_>>().join("\n")
}

/// The demo's fake notice (`demo/media/fake-notice.png`): an "official-looking" council notice
/// falsely saying a polling station is closed.
pub const FAKE_NOTICE: &[(&str, bool)] = &[
    ("ANYTOWN BOROUGH COUNCIL", true),
    ("IMPORTANT NOTICE TO VOTERS", true),
    ("Riverside Community Hall polling station is CLOSED", false),
    ("on polling day because of flooding.", false),
    ("Vote instead at the Civic Centre, Market Street.", false),
    ("Issued by the Returning Officer", false),
];

/// Renders [`FAKE_NOTICE`]: council-blue band and heading, dark text on off-white.
pub fn fake_notice() -> RgbImage {
    let regular = font_bytes(DEJAVU_SANS);
    let bold = font_bytes(DEJAVU_SANS_BOLD);
    let lines: Vec<Line> = FAKE_NOTICE
        .iter()
        .map(|&(text, is_bold)| Line {
            text,
            font: if is_bold { &bold } else { &regular },
            size: if is_bold { 38.0 } else { 30.0 },
            colour: if is_bold { [0, 51, 102] } else { [25, 25, 25] },
        })
        .collect();
    render(960, [250, 250, 246], ([0, 51, 102], 36), &lines)
}
