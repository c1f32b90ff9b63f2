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

struct Face {
    name: &'static str,
    data: &'static [u8],
    face: ttf_parser::Face<'static>,
    units: f32,
    /// Character → (glyph, advance per point of size); `None`: not in this face.
    glyphs: HashMap<char, Option<(u16, f32)>>,
    used: GlyphRemapper,
    /// New glyph id → the character it shows (for `ToUnicode`).
    chars: BTreeMap<u16, char>,
}

impl Face {
    fn load(name: &'static str, data: &'static [u8]) -> Result<Self, PdfError> {
        let face = ttf_parser::Face::parse(data, 0).map_err(|e| PdfError::Font {
            font: name,
            reason: e.to_string(),
        })?;
        Ok(Face {
            name,
            data,
            units: f32::from(face.units_per_em()),
            face,
            glyphs: HashMap::new(),
            used: GlyphRemapper::new(),
            chars: BTreeMap::new(),
        })
    }

    fn glyph(&mut self, c: char) -> Option<(u16, f32)> {
        if let Some(g) = self.glyphs.get(&c) {
            return *g;
        }
        let g = self.face.glyph_index(c).map(|id| {
            let adv = self.face.glyph_hor_advance(id).unwrap_or(0);
            (id.0, f32::from(adv) / self.units)
        });
        self.glyphs.insert(c, g);
        g
    }

    fn notdef(&self) -> (u16, f32) {
        let adv = self
            .face
            .glyph_hor_advance(ttf_parser::GlyphId(0))
            .unwrap_or(0);
        (0, f32::from(adv) / self.units)
    }
}

struct Fonts {
    faces: Vec<Face>,
}

impl Fonts {
    fn new() -> Result<Self, PdfError> {
        Ok(Fonts {
            faces: vec![
                Face::load("DejaVuSans", dejavu::sans::regular())?,
                Face::load("DejaVuSans-Bold", dejavu::sans::bold())?,
                Face::load("DejaVuSans-Oblique", dejavu::sans::oblique())?,
                Face::load("DejaVuSansMono", dejavu::sans_mono::regular())?,
            ],
        })
    }

    /// The glyph for `c` in `face`, else in DejaVu Sans (the widest coverage), else the empty
    /// box: (face used, glyph, advance per point).
    fn glyph(&mut self, face: usize, c: char) -> (usize, u16, f32) {
        if let Some((g, a)) = self.faces[face].glyph(c) {
            return (face, g, a);
        }
        if face != SANS {
            if let Some((g, a)) = self.faces[SANS].glyph(c) {
                return (SANS, g, a);
            }
        }
        let (g, a) = self.faces[face].notdef();
        (face, g, a)
    }

    fn width(&mut self, face: usize, size: f32, s: &str) -> f32 {
        s.chars().map(|c| self.glyph(face, c).2 * size).sum()
    }
}

/// How a run of text looks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Style {
    face: usize,
    size: f32,
    color: [f32; 3],
}

impl Style {
    const fn new(face: usize, size: f32, color: [f32; 3]) -> Self {
        Style { face, size, color }
    }
}

/// One glyph as laid out: the face it is in (after fallback), its id in that face, its width
/// in points and the character it shows.
#[derive(Debug, Clone, Copy)]
struct Glyph {
    style: Style,
    id: u16,
    width: f32,
    c: char,
}

/// Text broken into what a line may break between.
enum Token {
    Word(Vec<Glyph>),
    Space(f32),
    Break,
}

/// A line of text: glyphs with their x offsets, and its height.
#[derive(Default)]
struct Line {
    glyphs: Vec<(f32, Glyph)>,
    width: f32,
    size: f32,
}

impl Line {
    fn height(&self, base: f32) -> f32 {
        self.size.max(base) * LEADING
    }
}

/// The style of each inline within text of `base` style.
fn inline_style(i: &Inline, base: Style) -> Style {
    match i {
        Inline::Text(_) | Inline::Break => base,
        Inline::Bold(_) => Style { face: BOLD, ..base },
        Inline::Em(_) => Style {
            face: OBLIQUE,
            ..base
        },
        Inline::Code(_) | Inline::Hash(_) | Inline::File(_) => Style {
            face: MONOSPACE,
            size: MONO.min(base.size),
            ..base
        },
        Inline::Note(_) => Style::new(base.face, SMALL.min(base.size), GREY),
        Inline::Severity(s) => match s.as_str() {
            "high" | "critical" => Style::new(BOLD, base.size, RED),
            "medium" => Style::new(BOLD, base.size, ORANGE),
            _ => base,
        },
    }
}

fn inline_text(i: &Inline) -> &str {
    match i {
        Inline::Text(s)
        | Inline::Bold(s)
        | Inline::Em(s)
        | Inline::Code(s)
        | Inline::Hash(s)
        | Inline::Note(s)
        | Inline::Severity(s)
        | Inline::File(s) => s,
        Inline::Break => "",
    }
}

/// A run of text in one style, or a line break.
enum Run<'a> {
    Text(Style, &'a str),
    Break,
}

/// Splits text into words, spaces and breaks. Words of adjacent runs with no space between
/// them stay one word (`capture 3` + `,`). `keep_lines`: a newline is a line break (quoted
/// text), else it is a space.
fn tokens(fonts: &mut Fonts, runs: &[Run<'_>], keep_lines: bool) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    for run in runs {
        let (style, text) = match run {
            Run::Break => {
                out.push(Token::Break);
                continue;
            }
            Run::Text(style, text) => (style, text),
        };
        for c in text.chars() {
            if c == '\n' && keep_lines {
                out.push(Token::Break);
            } else if c.is_whitespace() || c.is_control() {
                let w = fonts.glyph(style.face, ' ').2 * style.size;
                match out.last_mut() {
                    Some(Token::Space(s)) => *s = s.max(w),
                    _ => out.push(Token::Space(w)),
                }
            } else {
                let (face, id, adv) = fonts.glyph(style.face, c);
                let g = Glyph {
                    style: Style { face, ..*style },
                    id,
                    width: adv * style.size,
                    c,
                };
                match out.last_mut() {
                    Some(Token::Word(w)) => w.push(g),
                    _ => out.push(Token::Word(vec![g])),
                }
            }
        }
    }
    out
}

/// Greedy line breaking at `width`: a word that does not fit on an empty line is cut where it
/// must (a long URL or hash).
fn wrap(tokens: Vec<Token>, width: f32) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut line = Line::default();
    let mut space = 0.0f32;
    let push = |lines: &mut Vec<Line>, line: &mut Line| lines.push(std::mem::take(line));
    for tok in tokens {
        match tok {
            Token::Space(w) => {
                if !line.glyphs.is_empty() {
                    space = space.max(w);
                }
            }
            Token::Break => {
                push(&mut lines, &mut line);
                space = 0.0;
            }
            Token::Word(word) => {
                // The word from `start` on is still to be placed; `rest` is its width. Each
                // glyph is looked at a bounded number of times, however long the word.
                let mut start = 0;
                let mut rest: f32 = word.iter().map(|g| g.width).sum();
                loop {
                    if line.width + space + rest <= width {
                        let mut x = line.width + space;
                        for g in &word[start..] {
                            line.size = line.size.max(g.style.size);
                            line.glyphs.push((x, *g));
                            x += g.width;
                        }
                        line.width = x;
                        space = 0.0;
                        break;
                    }
                    if !line.glyphs.is_empty() {
                        push(&mut lines, &mut line);
                        space = 0.0;
                        continue;
                    }
                    // Alone on its line and still too wide: cut it (at least one glyph a line).
                    let mut end = start;
                    while end < word.len()
                        && (end == start || line.width + word[end].width <= width)
                    {
                        let g = word[end];
                        line.size = line.size.max(g.style.size);
                        line.glyphs.push((line.width, g));
                        line.width += g.width;
                        end += 1;
                    }
                    rest -= line.width;
                    push(&mut lines, &mut line);
                    start = end;
                    if start >= word.len() {
                        break;
                    }
                }
            }
        }
    }
    if !line.glyphs.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Lays out inline text at `width`.
fn lay_out(fonts: &mut Fonts, spans: &[Inline], base: Style, width: f32) -> Vec<Line> {
    let runs: Vec<Run<'_>> = spans
        .iter()
        .map(|i| match i {
            Inline::Break => Run::Break,
            _ => Run::Text(inline_style(i, base), inline_text(i)),
        })
        .collect();
    wrap(tokens(fonts, &runs, false), width)
}

fn lay_out_plain(
    fonts: &mut Fonts,
    text: &str,
    base: Style,
    width: f32,
    keep_lines: bool,
) -> Vec<Line> {
    wrap(tokens(fonts, &[Run::Text(base, text)], keep_lines), width)
}

/// An image as the PDF holds it.
enum PdfImage<'f> {
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
    fn size(&self) -> (u32, u32) {
        match self {
            PdfImage::Jpeg { size, .. } | PdfImage::Rgb { size, .. } => *size,
        }
    }
}

/// The most memory one image may take decoded.
const MAX_DECODED: u64 = 512 * 1024 * 1024;

fn load_image(bytes: &[u8]) -> Result<PdfImage<'_>, String> {
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

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}

/// A page being drawn: what goes under the text (fills, rules) and the text and images.
struct Page {
    under: Content,
    over: Content,
    images: Vec<usize>,
}

impl Page {
    fn new() -> Self {
        Page {
            under: Content::new(),
            over: Content::new(),
            images: Vec::new(),
        }
    }
}

/// A rectangle on the page: left, distance of its top from the top of the page, size.
#[derive(Debug, Clone, Copy)]
struct Area {
    x: f32,
    top: f32,
    w: f32,
    h: f32,
}

/// A table's columns: their left edges and widths.
struct Columns {
    xs: Vec<f32>,
    widths: Vec<f32>,
}

/// PDF y of a distance from the top of the page.
fn py(y: f32) -> f32 {
    PAGE_H - y
}

struct Layout<'f, 'l> {
    fonts: Fonts,
    pages: Vec<Page>,
    /// Distance of the next block from the top of the current page.
    y: f32,
    /// Nothing has been drawn on the current page yet.
    fresh: bool,
    /// The last block was a section heading.
    after_section: bool,
    /// The images, in first use order, by their path in the pack.
    images: Vec<PdfImage<'f>>,
    image_index: HashMap<String, Option<usize>>,
    lookup: &'l dyn Fn(&str) -> Option<&'f [u8]>,
    /// Bookmarks: (level, title, page, distance from the top), sections at level 0 and their
    /// items at level 1.
    marks: Vec<(u8, String, usize, f32)>,
}

impl<'f, 'l> Layout<'f, 'l> {
    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::new());
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    fn new_page(&mut self) {
        self.pages.push(Page::new());
        self.y = MARGIN_TOP;
        self.fresh = true;
    }

    /// Starts a new page unless `h` points still fit on this one (or it is empty).
    fn need(&mut self, h: f32) {
        if !self.fresh && self.y + h > BOTTOM {
            self.new_page();
        }
    }

    /// Vertical space, dropped at the top of a page.
    fn gap(&mut self, h: f32) {
        if !self.fresh {
            self.y = (self.y + h).min(BOTTOM);
        }
    }

    /// A bookmark to what is drawn next.
    fn mark(&mut self, level: u8, title: &str) {
        let page = self.pages.len().saturating_sub(1);
        let title: String = title.chars().take(200).collect();
        self.marks.push((level, title, page, self.y));
    }

    fn drawn(&mut self) {
        self.fresh = false;
        self.after_section = false;
    }

    /// Draws `line` on the current page with its top at `top` and its left at `x`.
    fn text_line(&mut self, line: &Line, x: f32, top: f32, base: f32) {
        self.page();
        let last = self.pages.len() - 1;
        self.text_line_on(last, line, x, top, base);
    }

    /// Draws `line` on page `page`.
    fn text_line_on(&mut self, page: usize, line: &Line, x: f32, top: f32, base: f32) {
        if line.glyphs.is_empty() {
            return;
        }
        let size = line.size.max(base);
        let baseline = top + (line.height(base) - size) / 2.0 + size * 0.85;
        // Glyphs are grouped into runs of one face, size and colour; each run is one `TJ`,
        // the spaces between its words written as offsets (which text extraction reads as
        // spaces).
        struct Shown {
            style: Style,
            x: f32,
            end: f32,
            parts: Vec<(f32, Vec<u8>)>,
        }
        let mut runs: Vec<Shown> = Vec::new();
        for (gx, g) in &line.glyphs {
            let face = &mut self.fonts.faces[g.style.face];
            let id = face.used.remap(g.id);
            face.chars.entry(id).or_insert(g.c);
            match runs.last_mut() {
                Some(r) if r.style == g.style => {
                    let gap = gx - r.end;
                    if gap.abs() > 0.01 {
                        r.parts.push((gap, Vec::new()));
                    }
                    if let Some((_, bytes)) = r.parts.last_mut() {
                        bytes.extend(id.to_be_bytes());
                    }
                    r.end = gx + g.width;
                }
                _ => runs.push(Shown {
                    style: g.style,
                    x: *gx,
                    end: gx + g.width,
                    parts: vec![(0.0, id.to_be_bytes().to_vec())],
                }),
            }
        }
        let c = &mut self.pages[page].over;
        for r in runs {
            let s = r.style;
            c.set_fill_rgb(s.color[0], s.color[1], s.color[2]);
            c.begin_text();
            c.set_font(font_name(s.face), s.size);
            c.next_line(x + r.x, py(baseline));
            {
                let mut shown = c.show_positioned();
                let mut items = shown.items();
                for (gap, bytes) in &r.parts {
                    if *gap != 0.0 {
                        items.adjust(-gap * 1000.0 / s.size);
                    }
                    items.show(Str(bytes));
                }
            }
            c.end_text();
        }
    }

    /// Draws lines from the current position at `x`, continuing on new pages; `frame` is called
    /// with the full-width area of each page's part after it is drawn (for borders and fills),
    /// `pad` above and below the text included.
    fn lines(
        &mut self,
        lines: &[Line],
        x: f32,
        base: f32,
        pad: f32,
        mut frame: impl FnMut(&mut Layout<'f, 'l>, Area),
    ) {
        let part = |top: f32, bottom: f32| Area {
            x: MARGIN_X,
            top,
            w: WIDTH,
            h: bottom - top,
        };
        let Some(first) = lines.first() else {
            return;
        };
        self.need(first.height(base) + 2.0 * pad);
        let mut top = self.y;
        self.y += pad;
        for line in lines {
            let h = line.height(base);
            if self.y + h + pad > BOTTOM && self.y > top + pad {
                frame(self, part(top, self.y + pad));
                self.new_page();
                top = self.y;
                self.y += pad;
            }
            self.text_line(line, x, self.y, base);
            self.y += h;
            self.fresh = false;
        }
        self.y += pad;
        frame(self, part(top, self.y));
        self.drawn();
    }

    fn fill(&mut self, a: Area, color: [f32; 3]) {
        let c = &mut self.page().under;
        c.set_fill_rgb(color[0], color[1], color[2]);
        c.rect(a.x, py(a.top + a.h), a.w, a.h);
        c.fill_nonzero();
    }

    fn stroke_rect(&mut self, a: Area, color: [f32; 3], width: f32, dash: bool) {
        let c = &mut self.page().over;
        c.save_state();
        c.set_stroke_rgb(color[0], color[1], color[2]);
        c.set_line_width(width);
        if dash {
            c.set_dash_pattern([3.0, 2.0], 0.0);
        }
        c.rect(a.x, py(a.top + a.h), a.w, a.h);
        c.stroke();
        c.restore_state();
    }

    fn hline(&mut self, x: f32, y: f32, w: f32, color: [f32; 3], width: f32) {
        let c = &mut self.page().over;
        c.save_state();
        c.set_stroke_rgb(color[0], color[1], color[2]);
        c.set_line_width(width);
        c.move_to(x, py(y));
        c.line_to(x + w, py(y));
        c.stroke();
        c.restore_state();
    }

    /// A heading: bold text of `size` across the page.
    fn bold_line(&mut self, text: &str, size: f32) {
        let style = Style::new(BOLD, size, INK);
        let lines = lay_out_plain(&mut self.fonts, text, style, WIDTH, false);
        self.lines(&lines, MARGIN_X, size, 0.0, |_, _| {});
    }

    fn block(&mut self, b: &Block) {
        let body = Style::new(SANS, BODY, INK);
        match b {
            Block::Banner(t) => {
                let lines = lay_out_plain(
                    &mut self.fonts,
                    t,
                    Style::new(BOLD, BODY, WHITE),
                    WIDTH - 22.0,
                    false,
                );
                self.lines(&lines, MARGIN_X + 11.0, BODY, 8.5, |l, a| {
                    l.fill(a, [0.133, 0.133, 0.133]);
                });
                self.gap(6.0);
            }
            Block::Title(t) => {
                self.gap(6.0);
                self.bold_line(t, 20.0);
                self.gap(11.0);
            }
            Block::Section(t) => {
                if !self.fresh {
                    self.new_page();
                }
                self.mark(0, t);
                self.bold_line(t, 14.0);
                self.y += 3.0;
                let y = self.y;
                self.hline(MARGIN_X, y, WIDTH, [0.2, 0.2, 0.2], 1.5);
                self.y += 8.5;
                self.after_section = true;
            }
            Block::Heading(t) => {
                self.gap(15.0);
                // Kept with what follows it.
                self.need(12.0 * LEADING + 3.0 * BODY * LEADING);
                self.bold_line(t, 12.0);
                self.y += 4.0;
            }
            Block::Para(p) => {
                let base = if p.note {
                    Style::new(SANS, SMALL, GREY)
                } else {
                    body
                };
                self.gap(3.0);
                let lines = lay_out(&mut self.fonts, &p.spans, base, WIDTH);
                self.lines(&lines, MARGIN_X, base.size, 0.0, |_, _| {});
                self.y += 4.0;
            }
            Block::List(items) => {
                self.gap(2.0);
                for item in items {
                    let lines = lay_out(&mut self.fonts, item, body, WIDTH - 16.0);
                    let bullet = lay_out_plain(&mut self.fonts, "•", body, 10.0, false);
                    let first = lines.first().map_or(BODY * LEADING, |l| l.height(BODY));
                    self.need(first);
                    let y = self.y;
                    if let Some(b) = bullet.first() {
                        self.text_line(b, MARGIN_X + 5.0, y, BODY);
                    }
                    self.lines(&lines, MARGIN_X + 16.0, BODY, 0.0, |_, _| {});
                    self.y += 1.5;
                }
                self.y += 3.0;
            }
            Block::Quote(text) => {
                self.gap(3.0);
                let lines = lay_out_plain(&mut self.fonts, text, body, WIDTH - 18.0, true);
                self.lines(&lines, MARGIN_X + 9.0, BODY, 5.7, |l, a| {
                    l.stroke_rect(a, [0.533, 0.533, 0.533], 0.75, true);
                });
                self.y += 5.0;
            }
            Block::Why(spans) | Block::Rebuttal(spans) => {
                let (bar, bg) = if matches!(b, Block::Why(_)) {
                    (RED, [1.0, 0.965, 0.965])
                } else {
                    ([0.0, 0.4, 0.0], [0.957, 1.0, 0.957])
                };
                self.gap(4.0);
                let lines = lay_out(&mut self.fonts, spans, body, WIDTH - 16.0);
                self.lines(&lines, MARGIN_X + 11.0, BODY, 3.0, |l, a| {
                    l.fill(a, bg);
                    l.fill(Area { w: 3.0, ..a }, bar);
                });
                self.y += 4.0;
            }
            Block::Table(rows) => self.table(rows),
            Block::Image(img) => self.image(img),
            Block::Group(Group::Cover, blocks) => {
                for b in blocks {
                    self.block(b);
                }
                self.new_page();
            }
            Block::Group(Group::Item, blocks) => {
                if !self.fresh && !self.after_section {
                    self.new_page();
                }
                if let Some(Block::Heading(t)) = blocks.first() {
                    self.mark(1, t);
                }
                for b in blocks {
                    self.block(b);
                }
            }
        }
    }

    fn table(&mut self, rows: &[Vec<Cell>]) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let body = Style::new(SANS, BODY, INK);
        // Column widths as a browser's automatic layout would give them: each column at least
        // its longest word (capped), the rest shared in proportion to the text it holds.
        let mut min = vec![0.0f32; cols];
        let mut max = vec![0.0f32; cols];
        // A word wider than this is cut rather than widening its column further.
        let cap = WIDTH * 0.4;
        for row in rows {
            for (n, cell) in row.iter().enumerate() {
                let base = if cell.head {
                    Style { face: BOLD, ..body }
                } else {
                    body
                };
                let (mut natural, mut longest) = (0.0f32, 0.0f32);
                for i in &cell.spans {
                    let s = inline_style(i, base);
                    let text = inline_text(i);
                    natural += self.fonts.width(s.face, s.size, text);
                    let word = if matches!(i, Inline::Hash(_)) {
                        // A hash breaks anywhere; keep it readable in 16-character pieces.
                        self.fonts.width(s.face, s.size, "0123456789abcdef")
                    } else {
                        text.split_whitespace()
                            .map(|w| self.fonts.width(s.face, s.size, w))
                            .fold(0.0, f32::max)
                    };
                    longest = longest.max(word);
                }
                min[n] = min[n].max(longest.min(cap) + 2.0 * PAD_X);
                max[n] = max[n].max(natural + 2.0 * PAD_X);
            }
        }
        let widths = share(&min, &max, WIDTH);
        let mut xs = Vec::with_capacity(cols);
        let mut x = MARGIN_X;
        for w in &widths {
            xs.push(x);
            x += w;
        }
        let columns = Columns { xs, widths };
        let header = rows
            .first()
            .filter(|r| r.len() > 1 && r.iter().all(|c| c.head))
            .map(|r| (r.as_slice(), self.table_row_lines(r, &columns.widths)));
        self.gap(5.0);
        for (n, row) in rows.iter().enumerate() {
            let cells = self.table_row_lines(row, &columns.widths);
            let header = header
                .as_ref()
                .filter(|_| n > 0)
                .map(|(r, l)| (*r, l.as_slice()));
            self.table_row(row, &cells, &columns, header);
        }
        self.y += 10.0;
        self.drawn();
    }

    fn table_row_lines(&mut self, row: &[Cell], widths: &[f32]) -> Vec<Vec<Line>> {
        let body = Style::new(SANS, BODY, INK);
        row.iter()
            .zip(widths)
            .map(|(cell, w)| {
                let base = if cell.head {
                    Style { face: BOLD, ..body }
                } else {
                    body
                };
                lay_out(&mut self.fonts, &cell.spans, base, w - 2.0 * PAD_X)
            })
            .collect()
    }

    /// Draws one row, continuing it on the next page when it is taller than what is left (the
    /// header row, if any, drawn again at the top of the new page).
    fn table_row(
        &mut self,
        row: &[Cell],
        cells: &[Vec<Line>],
        cols: &Columns,
        header: Option<(&[Cell], &[Vec<Line>])>,
    ) {
        let mut next: Vec<usize> = vec![0; cells.len()];
        let first_line: f32 = cells
            .iter()
            .filter_map(|c| c.first())
            .map(|l| l.height(BODY))
            .fold(0.0, f32::max);
        if self.y + first_line + 2.0 * PAD_Y > BOTTOM && !self.fresh {
            self.new_page();
            if let Some((hrow, hcells)) = header {
                self.table_row(hrow, hcells, cols, None);
            }
        }
        loop {
            let top = self.y;
            let room = BOTTOM - top - 2.0 * PAD_Y;
            // What of each cell fits on this page.
            let mut take = Vec::with_capacity(cells.len());
            let mut height = 0.0f32;
            for (c, lines) in cells.iter().enumerate() {
                let mut h = 0.0;
                let mut end = next[c];
                // At least one line of each unfinished cell a page, so the row always moves on.
                while end < lines.len() && (h + lines[end].height(BODY) <= room || end == next[c]) {
                    h += lines[end].height(BODY);
                    end += 1;
                }
                take.push(end);
                height = height.max(h);
            }
            let h = height + 2.0 * PAD_Y;
            for (c, lines) in cells.iter().enumerate() {
                let area = Area {
                    x: cols.xs[c],
                    top,
                    w: cols.widths[c],
                    h,
                };
                if row.get(c).is_some_and(|cell| cell.head) {
                    self.fill(area, HEAD_BG);
                }
                let mut y = top + PAD_Y;
                for line in &lines[next[c]..take[c]] {
                    self.text_line(line, area.x + PAD_X, y, BODY);
                    y += line.height(BODY);
                }
                self.stroke_rect(area, RULE, 0.75, false);
            }
            self.y = top + h;
            self.fresh = false;
            let done = cells.iter().zip(&take).all(|(l, t)| *t >= l.len());
            next = take;
            if done {
                break;
            }
            self.new_page();
            if let Some((hrow, hcells)) = header {
                self.table_row(hrow, hcells, cols, None);
            }
        }
    }

    fn image(&mut self, img: &Image) {
        let index = match self.image_index.get(&img.src) {
            Some(i) => *i,
            None => {
                let loaded = match (self.lookup)(&img.src) {
                    Some(bytes) => {
                        load_image(bytes).map_err(|e| format!("it could not be read: {e}"))
                    }
                    None => Err("it is not among the files given to the PDF".into()),
                };
                let i = match loaded {
                    Ok(p) => {
                        self.images.push(p);
                        Some(self.images.len() - 1)
                    }
                    Err(why) => {
                        tracing::warn!(image = %img.src, %why, "a report image is not in report.pdf");
                        None
                    }
                };
                self.image_index.insert(img.src.clone(), i);
                i
            }
        };
        let Some(i) = index else {
            let note = format!(
                "(The image {} is in the pack but could not be shown here.)",
                img.src
            );
            let lines = lay_out_plain(
                &mut self.fonts,
                &note,
                Style::new(SANS, SMALL, GREY),
                WIDTH,
                false,
            );
            self.lines(&lines, MARGIN_X, SMALL, 0.0, |_, _| {});
            return;
        };
        let (pw, ph) = self.images[i].size();
        let (w, h) = (pw.max(1) as f32 * PX, ph.max(1) as f32 * PX);
        let scale = (WIDTH / w).min(MAX_IMAGE_H / h).min(1.0);
        let (w, h) = (w * scale, h * scale);
        self.gap(3.0);
        self.need(h);
        let top = self.y;
        let page = self.page();
        page.images.push(i);
        page.over.save_state();
        page.over.transform([w, 0.0, 0.0, h, MARGIN_X, py(top + h)]);
        page.over.x_object(image_name(i).as_name());
        page.over.restore_state();
        let a = Area {
            x: MARGIN_X,
            top,
            w,
            h,
        };
        self.stroke_rect(a, [0.267, 0.267, 0.267], 0.75, false);
        self.y = top + h + 6.0;
        self.drawn();
    }
}

/// Shares `total` between columns: each gets at least its minimum, and what is left goes in
/// proportion to how much more each would take to fit its text on one line.
fn share(min: &[f32], max: &[f32], total: f32) -> Vec<f32> {
    let min_sum: f32 = min.iter().sum();
    if min_sum >= total {
        return min.iter().map(|m| m / min_sum * total).collect();
    }
    let want: Vec<f32> = min.iter().zip(max).map(|(a, b)| (b - a).max(0.0)).collect();
    let want_sum: f32 = want.iter().sum();
    let left = total - min_sum;
    if want_sum <= left {
        // Everything fits on one line: the spare width goes in proportion to the text.
        let max_sum: f32 = max.iter().sum();
        return max.iter().map(|m| m / max_sum * total).collect();
    }
    min.iter()
        .zip(&want)
        .map(|(m, w)| m + w / want_sum * left)
        .collect()
}

fn font_name(face: usize) -> Name<'static> {
    [Name(b"F0"), Name(b"F1"), Name(b"F2"), Name(b"F3")][face.min(3)]
}

struct ImageName(String);

impl ImageName {
    fn as_name(&self) -> Name<'_> {
        Name(self.0.as_bytes())
    }
}

fn image_name(i: usize) -> ImageName {
    ImageName(format!("Im{i}"))
}

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

fn write(l: Layout<'_, '_>, doc: &Doc) -> Result<Vec<u8>, PdfError> {
    let Layout {
        mut fonts,
        pages,
        images,
        marks,
        ..
    } = l;
    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    let info = alloc();
    let font_refs: Vec<Ref> = fonts.faces.iter().map(|_| alloc()).collect();
    let image_refs: Vec<Ref> = images.iter().map(|_| alloc()).collect();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();
    let outline = alloc();
    let mark_refs: Vec<Ref> = marks.iter().map(|_| alloc()).collect();

    let mut cat = pdf.catalog(catalog);
    cat.pages(tree);
    if !marks.is_empty() {
        cat.outlines(outline)
            .page_mode(pdf_writer::types::PageMode::UseOutlines);
    }
    cat.finish();
    if !marks.is_empty() {
        write_outline(&mut pdf, outline, &marks, &mark_refs, &page_refs);
    }
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(page_refs.len() as i32);
    let generator = doc.generator.as_str();
    pdf.document_info(info)
        .title(TextStr(&format!("Evidence pack: {}", doc.title)))
        .creator(TextStr(generator))
        .producer(TextStr(generator));

    for (page, (page_ref, content_ref)) in pages.into_iter().zip(&page_refs) {
        let mut p = pdf.page(*page_ref);
        p.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(*content_ref);
        let mut res = p.resources();
        {
            let mut f = res.fonts();
            for (n, r) in font_refs.iter().enumerate() {
                f.pair(font_name(n), *r);
            }
        }
        if !page.images.is_empty() {
            let mut x = res.x_objects();
            let mut seen = std::collections::BTreeSet::new();
            for i in page.images {
                if seen.insert(i) {
                    x.pair(image_name(i).as_name(), image_refs[i]);
                }
            }
        }
        res.finish();
        p.finish();
        let mut content = page.under.finish().to_vec();
        content.push(b'\n');
        content.extend_from_slice(&page.over.finish());
        pdf.stream(*content_ref, &deflate(&content))
            .filter(Filter::FlateDecode);
    }

    for (img, r) in images.iter().zip(&image_refs) {
        match img {
            PdfImage::Jpeg { bytes, size, gray } => {
                let mut x = pdf.image_xobject(*r, bytes);
                x.filter(Filter::DctDecode);
                x.width(size.0 as i32);
                x.height(size.1 as i32);
                x.bits_per_component(8);
                if *gray {
                    x.color_space().device_gray();
                } else {
                    x.color_space().device_rgb();
                }
            }
            PdfImage::Rgb { deflated, size } => {
                let mut x = pdf.image_xobject(*r, deflated);
                x.filter(Filter::FlateDecode);
                x.width(size.0 as i32);
                x.height(size.1 as i32);
                x.bits_per_component(8);
                x.color_space().device_rgb();
            }
        }
    }

    for (n, face) in fonts.faces.iter_mut().enumerate() {
        write_font(&mut pdf, &mut alloc, font_refs[n], face, n == MONOSPACE)?;
    }
    Ok(pdf.finish())
}

/// The bookmarks: sections, each with its items beneath it.
fn write_outline(
    pdf: &mut Pdf,
    outline: Ref,
    marks: &[(u8, String, usize, f32)],
    refs: &[Ref],
    pages: &[(Ref, Ref)],
) {
    // Each mark's parent: the last section before it for an item (the outline for a section, or
    // for an item before any section).
    let parent: Vec<Option<usize>> = {
        let mut section = None;
        marks
            .iter()
            .enumerate()
            .map(|(n, (level, ..))| {
                if *level == 0 {
                    section = Some(n);
                    None
                } else {
                    section
                }
            })
            .collect()
    };
    let top: Vec<usize> = (0..marks.len()).filter(|&n| parent[n].is_none()).collect();
    if let (Some(first), Some(last)) = (top.first(), top.last()) {
        pdf.outline(outline)
            .first(refs[*first])
            .last(refs[*last])
            .count(top.len() as i32);
    }
    let mut kids: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (n, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            kids.entry(*p).or_default().push(n);
        }
    }
    let mut prev = vec![None; marks.len()];
    let mut next = vec![None; marks.len()];
    for list in std::iter::once(&top).chain(kids.values()) {
        for pair in list.windows(2) {
            next[pair[0]] = Some(pair[1]);
            prev[pair[1]] = Some(pair[0]);
        }
    }
    for (n, (_, title, page, y)) in marks.iter().enumerate() {
        let mut item = pdf.outline_item(refs[n]);
        item.title(TextStr(title));
        item.parent(parent[n].map_or(outline, |p| refs[p]));
        if let Some(p) = prev[n] {
            item.prev(refs[p]);
        }
        if let Some(x) = next[n] {
            item.next(refs[x]);
        }
        if let Some(k) = kids.get(&n) {
            if let (Some(first), Some(last)) = (k.first(), k.last()) {
                // Closed: a thousand items stay folded under their incident.
                item.first(refs[*first])
                    .last(refs[*last])
                    .count(-(k.len() as i32));
            }
        }
        if let Some((page_ref, _)) = pages.get(*page) {
            item.dest().page(*page_ref).xyz(MARGIN_X, py(*y), None);
        }
    }
}

const SYSTEM_INFO: SystemInfo = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// Writes one face as a Type 0 font over a CID TrueType subset of the glyphs used.
fn write_font(
    pdf: &mut Pdf,
    alloc: &mut impl FnMut() -> Ref,
    type0: Ref,
    face: &mut Face,
    fixed: bool,
) -> Result<(), PdfError> {
    let (cid, descriptor, cmap, file) = (alloc(), alloc(), alloc(), alloc());
    let subset = subsetter::subset(face.data, 0, &face.used).map_err(|e| PdfError::Font {
        font: face.name,
        reason: format!("{e:?}"),
    })?;
    // A subset's name starts with a tag made from the glyphs it holds.
    let tag: String = {
        let mut h: u32 = 2_166_136_261;
        for g in face.used.remapped_gids() {
            h = (h ^ u32::from(g)).wrapping_mul(16_777_619);
        }
        (0..6)
            .map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8))
            .collect()
    };
    let base = format!("{tag}+{}", face.name);
    let scale = 1000.0 / face.units;
    let widths: Vec<f32> = face
        .used
        .remapped_gids()
        .map(|g| {
            f32::from(
                face.face
                    .glyph_hor_advance(ttf_parser::GlyphId(g))
                    .unwrap_or(0),
            ) * scale
        })
        .collect();

    pdf.type0_font(type0)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let mut c = pdf.cid_font(cid);
    c.subtype(CidFontType::Type2)
        .base_font(Name(base.as_bytes()))
        .system_info(SYSTEM_INFO)
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    c.widths().consecutive(0, widths);
    c.finish();

    let bbox = face.face.global_bounding_box();
    let mut flags = FontFlags::NON_SYMBOLIC;
    if fixed {
        flags |= FontFlags::FIXED_PITCH;
    }
    if face.face.is_italic() {
        flags |= FontFlags::ITALIC;
    }
    pdf.font_descriptor(descriptor)
        .name(Name(base.as_bytes()))
        .flags(flags)
        .bbox(Rect::new(
            f32::from(bbox.x_min) * scale,
            f32::from(bbox.y_min) * scale,
            f32::from(bbox.x_max) * scale,
            f32::from(bbox.y_max) * scale,
        ))
        .italic_angle(face.face.italic_angle())
        .ascent(f32::from(face.face.ascender()) * scale)
        .descent(f32::from(face.face.descender()) * scale)
        .cap_height(f32::from(face.face.capital_height().unwrap_or(face.face.ascender())) * scale)
        .stem_v(if face.name.contains("Bold") {
            120.0
        } else {
            80.0
        })
        .font_file2(file);

    let mut unicode = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), SYSTEM_INFO);
    for (g, c) in &face.chars {
        unicode.pair(*g, *c);
    }
    pdf.cmap(cmap, &unicode.finish());
    let len = subset.len();
    pdf.stream(file, &deflate(&subset))
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), len as i32);
    Ok(())
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
