//! `report.pdf`: the document laid out on A4 pages in-process (no browser).
//!
//! Text is set in DejaVu Sans, Sans Bold, Sans Oblique and Sans Mono (from the `dejavu` crate;
//! the fonts' licence, Bitstream Vera's with DejaVu's changes in the public domain, allows
//! embedding them), embedded as subsets (only the glyphs used) with a `ToUnicode` map, so the
//! text can be searched and copied. A character none of the faces has is shown as an empty box; text is
//! set without complex-script shaping (right-to-left and Indic scripts read better in
//! `report.html`, which the browser shapes). Lines break at spaces, and a word wider than its
//! column (a URL, a hash) breaks where it must. Screenshots' JPEG thumbnails are passed through
//! as they are (no re-encoding); a PNG is decoded and stored deflated. Each page carries a
//! footer with the pack's title and its page number.
//!
//! The layout is linear in the size of the document: every glyph is measured once, and a
//! table, quote or box longer than a page continues on the next.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;

use super::doc::{Block, Cell, Doc, Group, Image, Inline};

mod layout;
mod picture;
mod text;
mod write;

use layout::*;
use picture::*;
use text::*;
use write::*;

/// Why the PDF could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// An embedded font could not be read or subset (a build problem, not the data's).
    #[error("the report's font {font} could not be embedded: {reason}")]
    Font {
        /// Which face.
        font: &'static str,
        /// What went wrong.
        reason: String,
    },
}

// Page geometry, in points (1/72 in): A4 with the margins `report.html` prints with.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 34.0; // 12 mm
const MARGIN_TOP: f32 = 39.7; // 14 mm
const MARGIN_BOTTOM: f32 = 51.0; // 14 mm and the footer
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN_X;
const BOTTOM: f32 = PAGE_H - MARGIN_BOTTOM;
/// The tallest a screenshot is shown (250 mm), as in `report.html`.
const MAX_IMAGE_H: f32 = 708.7;
/// CSS pixels to points (96 px to the inch).
const PX: f32 = 0.75;

/// Table cells' padding, across and down.
const PAD_X: f32 = 5.7;
const PAD_Y: f32 = 3.4;

const BODY: f32 = 10.5;
const SMALL: f32 = 9.0;
const MONO: f32 = 8.0;
const LEADING: f32 = 1.4;

const INK: [f32; 3] = [0.067, 0.067, 0.067];
const GREY: [f32; 3] = [0.333, 0.333, 0.333];
const RED: [f32; 3] = [0.667, 0.0, 0.0];
const ORANGE: [f32; 3] = [0.71, 0.33, 0.0];
const WHITE: [f32; 3] = [1.0, 1.0, 1.0];
const RULE: [f32; 3] = [0.6, 0.6, 0.6];
const HEAD_BG: [f32; 3] = [0.933, 0.933, 0.933];

/// The faces, by index into [`Fonts::faces`].
const SANS: usize = 0;
const BOLD: usize = 1;
const OBLIQUE: usize = 2;
const MONOSPACE: usize = 3;

/// Writes `doc` as a PDF. `lookup` gives the bytes of a file of the pack by its path (the
/// screenshots and thumbnails the document shows); an image it cannot give or that cannot be
/// read is named on its page instead.
pub fn render<'f>(
    doc: &Doc,
    lookup: &dyn Fn(&str) -> Option<&'f [u8]>,
) -> Result<Vec<u8>, PdfError> {
    let _span = tracing::info_span!("report_pdf", blocks = doc.blocks.len()).entered();
    let mut l = Layout {
        fonts: Fonts::new()?,
        pages: vec![Page::new()],
        y: MARGIN_TOP,
        fresh: true,
        after_section: false,
        images: Vec::new(),
        image_index: HashMap::new(),
        lookup,
        marks: Vec::new(),
    };
    for b in &doc.blocks {
        l.block(b);
    }
    // A page left empty at the end (after the cover of a document with nothing else) is dropped.
    if l.pages.len() > 1 && l.fresh {
        l.pages.pop();
    }
    footers(&mut l, &doc.title);
    write(l, doc)
}

/// `<title> — page N of M` at the foot of every page.
fn footers(l: &mut Layout<'_, '_>, title: &str) {
    let total = l.pages.len();
    let style = Style::new(SANS, 7.5, GREY);
    for n in 0..total {
        let page = format!(" — page {} of {total}", n + 1);
        let room = WIDTH - l.fonts.width(SANS, 7.5, &page);
        let mut shown = String::from("Evidence pack: ");
        let mut w = l.fonts.width(SANS, 7.5, &shown);
        for c in title.chars() {
            let cw = l.fonts.glyph(SANS, c).2 * 7.5;
            if w + cw > room - 8.0 {
                shown.push('…');
                break;
            }
            w += cw;
            shown.push(c);
        }
        shown.push_str(&page);
        let lines = lay_out_plain(&mut l.fonts, &shown, style, f32::MAX, false);
        if let Some(line) = lines.first() {
            l.text_line_on(n, line, MARGIN_X, PAGE_H - 30.0, 7.5);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::Para;

    fn doc(blocks: Vec<Block>) -> Doc {
        Doc {
            title: "Incident 7 — Fake notice".into(),
            generator: "ballotwatch test".into(),
            blocks,
        }
    }

    fn text_of(pdf: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("r.pdf");
        std::fs::write(&path, pdf).ok()?;
        let out = std::process::Command::new("pdftotext")
            .arg("-layout")
            .arg(&path)
            .arg("-")
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn words_wrap_at_spaces_and_a_word_wider_than_the_line_is_cut() {
        let mut fonts = Fonts::new().unwrap();
        let style = Style::new(SANS, 10.0, INK);
        let w = fonts_width(&mut fonts, "aaaa bbbb");
        let lines = lay_out_plain(&mut fonts, "aaaa bbbb cccc", style, w, false);
        assert_eq!(lines.len(), 2);
        let hash = "0123456789abcdef".repeat(4);
        let w = fonts_width(&mut fonts, "0123456789");
        let lines = lay_out_plain(&mut fonts, &hash, style, w, false);
        assert_eq!(lines.len(), 7, "64 characters at 10 a line");
        assert!(lines.iter().all(|l| l.width <= w + 0.01));
        let shown: String = lines
            .iter()
            .flat_map(|l| l.glyphs.iter().map(|(_, g)| g.c))
            .collect();
        assert_eq!(shown, hash, "nothing lost at the cuts");
    }

    fn fonts_width(fonts: &mut Fonts, s: &str) -> f32 {
        fonts.width(SANS, 10.0, s) + 0.01
    }

    #[test]
    fn a_word_of_a_million_characters_is_cut_in_linear_time() {
        let mut fonts = Fonts::new().unwrap();
        let style = Style::new(MONOSPACE, MONO, INK);
        let started = std::time::Instant::now();
        let lines = lay_out_plain(&mut fonts, &"0".repeat(1_000_000), style, WIDTH, false);
        let per_line = lines[0].glyphs.len();
        assert_eq!(lines.len(), 1_000_000_usize.div_ceil(per_line));
        // Summing and copying the rest of the word at each cut (as first written) is quadratic.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn newlines_break_quoted_text_only() {
        let mut fonts = Fonts::new().unwrap();
        let style = Style::new(SANS, 10.0, INK);
        assert_eq!(
            lay_out_plain(&mut fonts, "a\nb", style, 500.0, true).len(),
            2
        );
        assert_eq!(
            lay_out_plain(&mut fonts, "a\nb", style, 500.0, false).len(),
            1
        );
    }

    #[test]
    fn columns_share_the_width_by_their_text() {
        let w = share(&[20.0, 20.0], &[40.0, 400.0], 300.0);
        assert!((w.iter().sum::<f32>() - 300.0).abs() < 0.01);
        assert!(w[1] > w[0]);
        let w = share(&[200.0, 200.0], &[300.0, 300.0], 300.0);
        assert!(
            (w[0] - 150.0).abs() < 0.01,
            "minimums over the width are scaled down"
        );
    }

    #[test]
    fn the_pdf_holds_its_text_and_a_long_table_runs_over_pages_with_its_header() {
        let mut rows = vec![vec![Cell::head("File"), Cell::head("SHA-256")]];
        for n in 0..200 {
            rows.push(vec![
                Cell::of(vec![Inline::Code(format!("screenshots/{n}.png"))]),
                Cell::of(vec![Inline::Hash(format!("{n:064x}"))]),
            ]);
        }
        let d = doc(vec![
            Block::Banner("EVIDENCE PACK — FOR THE RETURNING OFFICER".into()),
            Block::Title("Incident 7 — Fake notice".into()),
            Block::Para(Para {
                spans: vec![
                    Inline::Text("Ballot papers in Ynys Môn and Łódź, “quoted”: ".into()),
                    Inline::Code("anytown-gov.uk".into()),
                ],
                ..Para::default()
            }),
            Block::Quote("Line one\nLine two".into()),
            Block::Section("Files and their SHA-256".into()),
            Block::Table(rows),
        ]);
        let pdf = render(&d, &|_| None).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let Some(text) = text_of(&pdf) else {
            return; // pdftotext (poppler-utils) is not installed: the structure was checked above.
        };
        for want in [
            "EVIDENCE PACK — FOR THE RETURNING OFFICER",
            "Ynys Môn and Łódź, “quoted”: anytown-gov.uk",
            "Line one",
            "Line two",
            "screenshots/199.png",
            "page 1 of",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
        let pages = text.matches("Evidence pack: Incident 7").count();
        assert!(pages >= 4, "{pages} pages");
        assert_eq!(
            text.matches("SHA-256").count(),
            1 + (pages - 1),
            "the section heading, and the header row at the top of every page of the table"
        );
    }

    #[test]
    fn a_jpeg_is_passed_through_and_a_png_is_decoded_and_a_missing_image_is_named() {
        let rgb =
            image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(rgb.clone())
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(rgb)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let files: BTreeMap<String, Vec<u8>> = [
            ("thumbnails/a.jpg".to_string(), jpeg.clone()),
            ("screenshots/b.png".to_string(), png),
        ]
        .into();
        let img = |src: &str| {
            Block::Image(Image {
                src: src.into(),
                alt: src.into(),
                size: (40, 30),
            })
        };
        let d = doc(vec![
            img("thumbnails/a.jpg"),
            img("screenshots/b.png"),
            img("thumbnails/gone.jpg"),
        ]);
        let pdf = render(&d, &|p| files.get(p).map(Vec::as_slice)).unwrap();
        let at = pdf.windows(jpeg.len()).position(|w| w == jpeg.as_slice());
        assert!(at.is_some(), "the JPEG's bytes are in the PDF as they are");
        assert_eq!(pdf.windows(10).filter(|w| w == b"/DCTDecode").count(), 1);
        if let Some(text) = text_of(&pdf) {
            assert!(text.contains("thumbnails/gone.jpg"), "{text}");
        }
    }

    #[test]
    fn hostile_text_lays_out_in_linear_time_and_never_panics() {
        let long_word = "x".repeat(200_000);
        let controls: String = (0u32..0x250).filter_map(char::from_u32).collect();
        let d = doc(vec![
            Block::Quote(long_word),
            Block::Quote(format!(
                "{controls}\u{202e}\u{1F5F3}\u{FFFF}{}",
                "\n".repeat(5_000)
            )),
            Block::Table(vec![
                vec![Cell::text("a".repeat(50_000)), Cell::head("")],
                vec![],
            ]),
            Block::Table(vec![]),
            Block::List(vec![vec![], vec![Inline::Break, Inline::Break]]),
        ]);
        let started = std::time::Instant::now();
        let pdf = render(&d, &|_| None).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_text_in_any_block_makes_a_pdf(
            texts in proptest::collection::vec(".{0,400}", 1..8),
            columns in 1usize..6,
        ) {
            let blocks = texts
                .iter()
                .enumerate()
                .map(|(n, t)| match n % 5 {
                    0 => Block::Quote(t.clone()),
                    1 => Block::Para(Para {
                        spans: vec![
                            Inline::Text(t.clone()),
                            Inline::Hash(t.clone()),
                            Inline::Break,
                            Inline::Code(t.clone()),
                        ],
                        ..Para::default()
                    }),
                    2 => Block::Table(vec![(0..columns).map(|_| Cell::text(t.clone())).collect()]),
                    3 => Block::Section(t.clone()),
                    _ => Block::List(vec![vec![Inline::Severity(t.clone())]]),
                })
                .collect();
            let pdf = render(&doc(blocks), &|_| None).unwrap();
            proptest::prop_assert!(pdf.starts_with(b"%PDF-"));
        }
    }
}
