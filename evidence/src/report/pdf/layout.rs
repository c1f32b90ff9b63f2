//! The layout: pages, areas and columns, and the blocks laid out on them.

use super::*;

/// A page being drawn: what goes under the text (fills, rules) and the text and images.
pub(super) struct Page {
    pub(super) under: Content,
    pub(super) over: Content,
    pub(super) images: Vec<usize>,
}

impl Page {
    pub(super) fn new() -> Self {
        Page {
            under: Content::new(),
            over: Content::new(),
            images: Vec::new(),
        }
    }
}

/// A rectangle on the page: left, distance of its top from the top of the page, size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Area {
    pub(super) x: f32,
    pub(super) top: f32,
    pub(super) w: f32,
    pub(super) h: f32,
}

/// A table's columns: their left edges and widths.
pub(super) struct Columns {
    pub(super) xs: Vec<f32>,
    pub(super) widths: Vec<f32>,
}

/// PDF y of a distance from the top of the page.
pub(super) fn py(y: f32) -> f32 {
    PAGE_H - y
}

pub(super) struct Layout<'f, 'l> {
    pub(super) fonts: Fonts,
    pub(super) pages: Vec<Page>,
    /// Distance of the next block from the top of the current page.
    pub(super) y: f32,
    /// Nothing has been drawn on the current page yet.
    pub(super) fresh: bool,
    /// The last block was a section heading.
    pub(super) after_section: bool,
    /// The images, in first use order, by their path in the pack.
    pub(super) images: Vec<PdfImage<'f>>,
    pub(super) image_index: HashMap<String, Option<usize>>,
    pub(super) lookup: &'l dyn Fn(&str) -> Option<&'f [u8]>,
    /// Bookmarks: (level, title, page, distance from the top), sections at level 0 and their
    /// items at level 1.
    pub(super) marks: Vec<(u8, String, usize, f32)>,
}

impl<'f, 'l> Layout<'f, 'l> {
    pub(super) fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::new());
        }
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    pub(super) fn new_page(&mut self) {
        self.pages.push(Page::new());
        self.y = MARGIN_TOP;
        self.fresh = true;
    }

    /// Starts a new page unless `h` points still fit on this one (or it is empty).
    pub(super) fn need(&mut self, h: f32) {
        if !self.fresh && self.y + h > BOTTOM {
            self.new_page();
        }
    }

    /// Vertical space, dropped at the top of a page.
    pub(super) fn gap(&mut self, h: f32) {
        if !self.fresh {
            self.y = (self.y + h).min(BOTTOM);
        }
    }

    /// A bookmark to what is drawn next.
    pub(super) fn mark(&mut self, level: u8, title: &str) {
        let page = self.pages.len().saturating_sub(1);
        let title: String = title.chars().take(200).collect();
        self.marks.push((level, title, page, self.y));
    }

    pub(super) fn drawn(&mut self) {
        self.fresh = false;
        self.after_section = false;
    }

    /// Draws `line` on the current page with its top at `top` and its left at `x`.
    pub(super) fn text_line(&mut self, line: &Line, x: f32, top: f32, base: f32) {
        self.page();
        let last = self.pages.len() - 1;
        self.text_line_on(last, line, x, top, base);
    }

    /// Draws `line` on page `page`.
    pub(super) fn text_line_on(&mut self, page: usize, line: &Line, x: f32, top: f32, base: f32) {
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
    pub(super) fn lines(
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

    pub(super) fn fill(&mut self, a: Area, color: [f32; 3]) {
        let c = &mut self.page().under;
        c.set_fill_rgb(color[0], color[1], color[2]);
        c.rect(a.x, py(a.top + a.h), a.w, a.h);
        c.fill_nonzero();
    }

    pub(super) fn stroke_rect(&mut self, a: Area, color: [f32; 3], width: f32, dash: bool) {
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

    pub(super) fn hline(&mut self, x: f32, y: f32, w: f32, color: [f32; 3], width: f32) {
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
    pub(super) fn bold_line(&mut self, text: &str, size: f32) {
        let style = Style::new(BOLD, size, INK);
        let lines = lay_out_plain(&mut self.fonts, text, style, WIDTH, false);
        self.lines(&lines, MARGIN_X, size, 0.0, |_, _| {});
    }

    pub(super) fn block(&mut self, b: &Block) {
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

    pub(super) fn table(&mut self, rows: &[Vec<Cell>]) {
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

    pub(super) fn table_row_lines(&mut self, row: &[Cell], widths: &[f32]) -> Vec<Vec<Line>> {
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
    pub(super) fn table_row(
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

    pub(super) fn image(&mut self, img: &Image) {
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
pub(super) fn share(min: &[f32], max: &[f32], total: f32) -> Vec<f32> {
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
