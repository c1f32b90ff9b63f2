//! Writing the PDF: pages, images, the outline and the embedded font subsets.

use super::*;

pub(super) fn font_name(face: usize) -> Name<'static> {
    [Name(b"F0"), Name(b"F1"), Name(b"F2"), Name(b"F3")][face.min(3)]
}

pub(super) struct ImageName(String);

impl ImageName {
    pub(super) fn as_name(&self) -> Name<'_> {
        Name(self.0.as_bytes())
    }
}

pub(super) fn image_name(i: usize) -> ImageName {
    ImageName(format!("Im{i}"))
}

pub(super) fn write(l: Layout<'_, '_>, doc: &Doc) -> Result<Vec<u8>, PdfError> {
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
pub(super) fn write_outline(
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

pub(super) const SYSTEM_INFO: SystemInfo = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// Writes one face as a Type 0 font over a CID TrueType subset of the glyphs used.
pub(super) fn write_font(
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
