//! Text: the fonts and their glyphs, runs of styled text, and lines wrapped to a width.

use super::*;

pub(super) struct Face {
    pub(super) name: &'static str,
    pub(super) data: &'static [u8],
    pub(super) face: ttf_parser::Face<'static>,
    pub(super) units: f32,
    /// Character → (glyph, advance per point of size); `None`: not in this face.
    pub(super) glyphs: HashMap<char, Option<(u16, f32)>>,
    pub(super) used: GlyphRemapper,
    /// New glyph id → the character it shows (for `ToUnicode`).
    pub(super) chars: BTreeMap<u16, char>,
}

impl Face {
    pub(super) fn load(name: &'static str, data: &'static [u8]) -> Result<Self, PdfError> {
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

    pub(super) fn glyph(&mut self, c: char) -> Option<(u16, f32)> {
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

    pub(super) fn notdef(&self) -> (u16, f32) {
        let adv = self
            .face
            .glyph_hor_advance(ttf_parser::GlyphId(0))
            .unwrap_or(0);
        (0, f32::from(adv) / self.units)
    }
}

pub(super) struct Fonts {
    pub(super) faces: Vec<Face>,
}

impl Fonts {
    pub(super) fn new() -> Result<Self, PdfError> {
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
    pub(super) fn glyph(&mut self, face: usize, c: char) -> (usize, u16, f32) {
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

    pub(super) fn width(&mut self, face: usize, size: f32, s: &str) -> f32 {
        s.chars().map(|c| self.glyph(face, c).2 * size).sum()
    }
}

/// How a run of text looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Style {
    pub(super) face: usize,
    pub(super) size: f32,
    pub(super) color: [f32; 3],
}

impl Style {
    pub(super) const fn new(face: usize, size: f32, color: [f32; 3]) -> Self {
        Style { face, size, color }
    }
}

/// One glyph as laid out: the face it is in (after fallback), its id in that face, its width
/// in points and the character it shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Glyph {
    pub(super) style: Style,
    pub(super) id: u16,
    pub(super) width: f32,
    pub(super) c: char,
}

/// Text broken into what a line may break between.
pub(super) enum Token {
    Word(Vec<Glyph>),
    Space(f32),
    Break,
}

/// A line of text: glyphs with their x offsets, and its height.
#[derive(Default)]
pub(super) struct Line {
    pub(super) glyphs: Vec<(f32, Glyph)>,
    pub(super) width: f32,
    pub(super) size: f32,
}

impl Line {
    pub(super) fn height(&self, base: f32) -> f32 {
        self.size.max(base) * LEADING
    }
}

/// The style of each inline within text of `base` style.
pub(super) fn inline_style(i: &Inline, base: Style) -> Style {
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

pub(super) fn inline_text(i: &Inline) -> &str {
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
pub(super) enum Run<'a> {
    Text(Style, &'a str),
    Break,
}

/// Splits text into words, spaces and breaks. Words of adjacent runs with no space between
/// them stay one word (`capture 3` + `,`). `keep_lines`: a newline is a line break (quoted
/// text), else it is a space.
pub(super) fn tokens(fonts: &mut Fonts, runs: &[Run<'_>], keep_lines: bool) -> Vec<Token> {
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
pub(super) fn wrap(tokens: Vec<Token>, width: f32) -> Vec<Line> {
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
pub(super) fn lay_out(fonts: &mut Fonts, spans: &[Inline], base: Style, width: f32) -> Vec<Line> {
    let runs: Vec<Run<'_>> = spans
        .iter()
        .map(|i| match i {
            Inline::Break => Run::Break,
            _ => Run::Text(inline_style(i, base), inline_text(i)),
        })
        .collect();
    wrap(tokens(fonts, &runs, false), width)
}

pub(super) fn lay_out_plain(
    fonts: &mut Fonts,
    text: &str,
    base: Style,
    width: f32,
    keep_lines: bool,
) -> Vec<Line> {
    wrap(tokens(fonts, &[Run::Text(base, text)], keep_lines), width)
}
