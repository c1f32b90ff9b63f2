//! The text fields image and video generators write, read from every container they write:
//!
//! - **JPEG**: `COM` segments, and EXIF in `APP1` (`Make`, `Model`, `Software`,
//!   `ImageDescription`, `Artist`, `UserComment`: A1111 and Forge put their settings in
//!   `UserComment`, Fooocus its name in `Software`).
//! - **WebP**, still and animated: the RIFF `EXIF` chunk, wherever it is (in an animated file it
//!   comes after the `ANMF` frames; ComfyUI's animated WebP writes `workflow:{…}` and
//!   `prompt:{…}` JSON into EXIF `Make` and `Model`), with or without the `Exif\0\0` prefix.
//! - **MP4/MOV** (ISO-BMFF): `moov/udta` QuickTime text atoms (`©too`, `©swr`, `©cmt`, `©des`,
//!   `©inf`, …), `meta/ilst` items (`©too`, `©cmt`, `desc`, …) and `meta/keys` named items
//!   (`mdta` keys such as ComfyUI's `prompt` and `workflow`, FFmpeg's `encoder`, `comment`).
//! - PNG text chunks are read by [`super::metadata::png_text_chunks`]; XMP packets (JPEG APP1,
//!   PNG iTXt, WebP `XMP ` chunk, MP4 XMP `uuid` box or `XMP_` atom) are found by
//!   [`super::metadata::xmp_from_bytes`], which scans the bytes; PNG `eXIf`, HEIF and TIFF EXIF by
//!   kamadak-exif's container reader.
//!
//! Every walk here is iterative, visits each byte at most a bounded number of times (linear in
//! the input), caps the number of segments, chunks and boxes, the nesting depth and the text kept
//! per field, and never panics on the bytes it is given (property-tested and fuzzed by the
//! `provenance` target).

use std::io::{Read, Seek, SeekFrom};

/// Longest text kept per field (bytes).
pub const MAX_FIELD: usize = 256 * 1024;
/// Largest EXIF block read.
const MAX_EXIF: usize = 4 << 20;
/// Most segments, chunks or boxes looked at in one file.
const MAX_UNITS: usize = 100_000;
/// Most fields returned for one file.
const MAX_FIELDS: usize = 512;
/// Deepest ISO-BMFF box nesting followed.
const MAX_DEPTH: usize = 12;

/// One metadata text field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Where it was found, for the explanation: `EXIF`, `JPEG`, `MP4`.
    pub place: &'static str,
    /// Its name: an EXIF tag (`Make`, `UserComment`), `Comment` (JPEG COM), an MP4 atom
    /// (`©too`) or `mdta` key (`prompt`).
    pub name: String,
    /// Its text (at most [`MAX_FIELD`] bytes).
    pub text: String,
}

/// The container of `bytes`, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP (RIFF).
    WebP,
    /// ISO-BMFF: MP4, MOV, HEIF, AVIF.
    Bmff,
    /// Anything else.
    Other,
}

/// Sniffs the container.
pub fn container(bytes: &[u8]) -> Container {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        Container::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Container::Png
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Container::WebP
    } else if bytes.len() >= 8 && matches!(&bytes[4..8], b"ftyp" | b"moov" | b"wide" | b"free") {
        Container::Bmff
    } else {
        Container::Other
    }
}

/// Every generator-relevant text field in `bytes` (JPEG, WebP, ISO-BMFF; PNG, HEIF and TIFF
/// EXIF through kamadak-exif), in file order.
pub fn fields(bytes: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    match container(bytes) {
        Container::Jpeg => jpeg(bytes, &mut out),
        Container::WebP => webp(bytes, &mut out),
        Container::Bmff => {
            bmff(bytes, &mut out);
            exif_from_container(bytes, &mut out);
        }
        Container::Png | Container::Other => exif_from_container(bytes, &mut out),
    }
    out.truncate(MAX_FIELDS);
    out
}

fn u16_be(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?) as usize)
}

fn u32_be(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_be_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as u64)
}

fn u32_le(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
}

fn u64_be(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Text from bytes: UTF-8 (lossy), NULs trimmed, capped at [`MAX_FIELD`].
fn text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_FIELD)];
    String::from_utf8_lossy(bytes)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

fn push(out: &mut Vec<Field>, place: &'static str, name: &str, value: String) {
    if !value.is_empty() && out.len() < MAX_FIELDS {
        out.push(Field {
            place,
            name: name.to_string(),
            text: value,
        });
    }
}

/// JPEG segments up to the image data: `COM` and `APP1` EXIF.
fn jpeg(b: &[u8], out: &mut Vec<Field>) {
    let mut i = 2;
    for _ in 0..MAX_UNITS {
        // Fill bytes (0xFF) may precede a marker.
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if b.get(i) != Some(&0xFF) {
            return;
        }
        let Some(&marker) = b.get(i + 1) else { return };
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            i += 2;
            continue;
        }
        if matches!(marker, 0xD9 | 0xDA) {
            return;
        }
        let Some(len) = u16_be(b, i + 2) else { return };
        let Some(seg) = b.get(i + 4..(i + 2 + len).min(b.len())) else {
            return;
        };
        match marker {
            0xFE => push(out, "JPEG", "Comment", text(seg)),
            0xE1 if seg.starts_with(b"Exif\0") => exif(seg.get(6..).unwrap_or_default(), out),
            _ => {}
        }
        i += 2 + len;
    }
}

/// WebP RIFF chunks (`EXIF`, in still and animated files alike).
fn webp(b: &[u8], out: &mut Vec<Field>) {
    let mut i = 12;
    for _ in 0..MAX_UNITS {
        let (Some(fourcc), Some(size)) = (b.get(i..i + 4), u32_le(b, i + 4)) else {
            return;
        };
        let start = i + 8;
        let end = start.saturating_add(size).min(b.len());
        if fourcc == b"EXIF" {
            let payload = b.get(start..end).unwrap_or_default();
            // Pillow before 8.x, and some tools since, keep JPEG's `Exif\0\0` prefix.
            let tiff = payload.strip_prefix(b"Exif\0\0").unwrap_or(payload);
            exif(tiff, out);
        }
        i = start.saturating_add(size).saturating_add(size & 1);
    }
}

/// PNG `eXIf`, HEIF and TIFF, through kamadak-exif.
fn exif_from_container(b: &[u8], out: &mut Vec<Field>) {
    if let Ok(e) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(b)) {
        exif_fields(&e, out);
    }
}

/// EXIF (a TIFF structure) at most [`MAX_EXIF`] bytes.
fn exif(tiff: &[u8], out: &mut Vec<Field>) {
    if tiff.is_empty() || tiff.len() > MAX_EXIF {
        return;
    }
    if let Ok(e) = exif::Reader::new().read_raw(tiff.to_vec()) {
        exif_fields(&e, out);
    }
}

/// The EXIF tags generators write into.
const EXIF_TAGS: [(exif::Tag, &str); 6] = [
    (exif::Tag::Make, "Make"),
    (exif::Tag::Model, "Model"),
    (exif::Tag::Software, "Software"),
    (exif::Tag::ImageDescription, "ImageDescription"),
    (exif::Tag::Artist, "Artist"),
    (exif::Tag::UserComment, "UserComment"),
];

fn exif_fields(e: &exif::Exif, out: &mut Vec<Field>) {
    for (tag, name) in EXIF_TAGS {
        let Some(f) = e.get_field(tag, exif::In::PRIMARY) else {
            continue;
        };
        let value = match &f.value {
            exif::Value::Ascii(parts) => {
                let mut s = String::new();
                for p in parts {
                    if s.len() >= MAX_FIELD {
                        break;
                    }
                    s.push_str(&text(p));
                    s.push(' ');
                }
                s.trim().to_string()
            }
            exif::Value::Undefined(bytes, _) | exif::Value::Byte(bytes) => {
                if tag == exif::Tag::UserComment {
                    user_comment(bytes)
                } else {
                    text(bytes)
                }
            }
            _ => continue,
        };
        push(out, "EXIF", name, value);
    }
}

/// EXIF `UserComment`: an 8-byte character code (`ASCII`, `UNICODE`, `JIS` or none) and the
/// text. `UNICODE` is UTF-16, big-endian as piexif (A1111, Forge, Fooocus) writes it whatever
/// the file's byte order, so the order is taken from where the zero bytes of ASCII text fall.
pub fn user_comment(bytes: &[u8]) -> String {
    let (code, body) = bytes.split_at(bytes.len().min(8));
    let body = &body[..body.len().min(2 * MAX_FIELD)];
    if code.starts_with(b"UNICODE") {
        let even_zeros = body.iter().step_by(2).filter(|b| **b == 0).count();
        let odd_zeros = body.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
        let units = body.chunks_exact(2).map(|p| {
            if even_zeros >= odd_zeros {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                u16::from_le_bytes([p[0], p[1]])
            }
        });
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string()
    } else if code.len() == 8 {
        text(body)
    } else {
        text(bytes)
    }
}

/// ISO-BMFF boxes whose children are boxes.
fn is_container_box(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"moov" | b"udta" | b"meta" | b"ilst" | b"trak" | b"moof" | b"uuid"
    )
}

/// One open box on the walk's stack: where its next child starts and where it ends.
struct Frame {
    at: usize,
    end: usize,
    kind: [u8; 4],
}

/// ISO-BMFF (MP4, MOV): QuickTime `udta` text atoms and `meta` `ilst` items, with `keys`
/// names. Walked with an explicit stack (depth at most [`MAX_DEPTH`]).
fn bmff(b: &[u8], out: &mut Vec<Field>) {
    let mut stack = vec![Frame {
        at: 0,
        end: b.len(),
        kind: *b"file",
    }];
    // The `mdta` key names of the `meta` box being walked (1-based indices in `ilst`).
    let mut keys: Vec<String> = Vec::new();
    let mut units = 0;
    while let Some(frame) = stack.last_mut() {
        units += 1;
        if units > MAX_UNITS {
            return;
        }
        let at = frame.at;
        let parent = frame.kind;
        let Some((kind, header, size)) = box_header(b, at, frame.end) else {
            stack.pop();
            continue;
        };
        let end = at + size;
        frame.at = end;
        let body = at + header;
        let mut kind4 = [0u8; 4];
        kind4.copy_from_slice(kind);
        match kind {
            b"keys" => keys = mdta_keys(b.get(body..end).unwrap_or_default()),
            b"meta" if stack.len() < MAX_DEPTH => {
                // ISO `meta` is a full box (4 bytes of version and flags before its children);
                // QuickTime's is not: its first child's type follows at once.
                let full = b
                    .get(body + 4..body + 8)
                    .is_some_and(|t| !matches!(t, b"hdlr" | b"keys" | b"ilst" | b"free"));
                let first = if full { body + 4 } else { body };
                stack.push(Frame {
                    at: first,
                    end,
                    kind: kind4,
                });
            }
            b"uuid" => {} // XMP in a `uuid` box is found by the XMP scan.
            _ if parent == *b"ilst" => {
                let name = ilst_name(kind, &keys);
                if let Some(v) = data_box_text(b.get(body..end).unwrap_or_default()) {
                    push(out, "MP4", &name, v);
                }
            }
            _ if parent == *b"udta" && kind.first() == Some(&0xA9) => {
                let payload = b.get(body..end).unwrap_or_default();
                let v = data_box_text(payload).or_else(|| quicktime_text(payload));
                if let Some(v) = v {
                    push(out, "MP4", &ilst_name(kind, &[]), v);
                }
            }
            _ if is_container_box(kind) && stack.len() < MAX_DEPTH => stack.push(Frame {
                at: body,
                end,
                kind: kind4,
            }),
            _ => {}
        }
    }
}

/// A box at `at` ending by `end`: its type, header length and total size.
fn box_header(b: &[u8], at: usize, end: usize) -> Option<(&[u8], usize, usize)> {
    if at.checked_add(8)? > end {
        return None;
    }
    let size32 = u32_be(b, at)?;
    let kind = b.get(at + 4..at + 8)?;
    let (header, size) = match size32 {
        0 => (8, (end - at) as u64),
        1 => (16, u64_be(b, at + 8)?),
        s => (8, s),
    };
    let size = usize::try_from(size).ok()?;
    if size < header || at.checked_add(size)? > end {
        return None;
    }
    Some((kind, header, size))
}

/// The key names of a `keys` box (full box: version and flags, a count, then
/// `size, namespace, name` entries).
fn mdta_keys(body: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let count = u32_be(body, 4).unwrap_or(0);
    let mut i = 8;
    for _ in 0..count.min(MAX_UNITS as u64) {
        let Some(size) = u32_be(body, i).and_then(|s| usize::try_from(s).ok()) else {
            break;
        };
        if size < 8 {
            break;
        }
        let name = body
            .get(i + 8..(i + size).min(body.len()))
            .unwrap_or_default();
        keys.push(text(&name[..name.len().min(256)]));
        i += size;
    }
    keys
}

/// An `ilst` item's name: its atom type (`©too`, `desc`), or the `keys` name its 1-based index
/// points to.
fn ilst_name(kind: &[u8], keys: &[String]) -> String {
    let index = u32_be(kind, 0).unwrap_or(0) as usize;
    if kind.first() != Some(&0xA9) && index >= 1 && index <= keys.len() {
        return keys[index - 1].clone();
    }
    kind.iter()
        .map(|&c| if c == 0xA9 { '©' } else { c as char })
        .collect()
}

/// The text of the first `data` box in `body` (type 1 UTF-8, 2 UTF-16 BE; other types are not
/// text).
fn data_box_text(body: &[u8]) -> Option<String> {
    let (kind, header, size) = box_header(body, 0, body.len())?;
    if kind != b"data" {
        return None;
    }
    let well_known = u32_be(body, header)? & 0x00FF_FFFF;
    let payload = body.get(header + 8..size)?;
    let v = match well_known {
        1 => text(payload),
        2 => {
            let units = payload
                .chunks_exact(2)
                .take(MAX_FIELD)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect::<String>()
        }
        _ => return None,
    };
    (!v.is_empty()).then_some(v)
}

/// A classic QuickTime `udta` text atom: one or more `length (u16), language (u16), text`.
fn quicktime_text(body: &[u8]) -> Option<String> {
    let len = u16_be(body, 0)?;
    let t = text(body.get(4..(4 + len).min(body.len()))?);
    (!t.is_empty()).then_some(t)
}

/// Reads the parts of an ISO-BMFF file (MP4, MOV) that hold metadata: every top-level box but
/// the media data (`mdat`, `free`, `skip`, `wide`), each at most `max_box` bytes, by seeking past
/// the rest, so a large video is examined without reading its frames. The result is itself a
/// valid box sequence for [`fields`] and the XMP scan.
pub fn read_bmff_metadata<R: Read + Seek>(r: &mut R, max_box: u64) -> std::io::Result<Vec<u8>> {
    let len = r.seek(SeekFrom::End(0))?;
    let mut at = 0u64;
    let mut out = Vec::new();
    for _ in 0..MAX_UNITS {
        if at.saturating_add(8) > len {
            break;
        }
        r.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 16];
        let n = r.read(&mut head[..8])?;
        if n < 8 {
            break;
        }
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match size32 {
            0 => len - at,
            1 => {
                r.read_exact(&mut head[8..16])?;
                u64::from_be_bytes([
                    head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
                ])
            }
            s => s,
        };
        if size < 8 || at.saturating_add(size) > len {
            break;
        }
        if !matches!(&kind, b"mdat" | b"free" | b"skip" | b"wide") && size <= max_box {
            r.seek(SeekFrom::Start(at))?;
            let start = out.len();
            r.by_ref().take(size).read_to_end(&mut out)?;
            if size32 == 0 {
                // Write the real size so the copy stays a valid box sequence.
                if let Ok(s) = u32::try_from(size) {
                    out[start..start + 4].copy_from_slice(&s.to_be_bytes());
                }
            }
        }
        at += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, Mp4Meta};
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn names(fields: &[Field]) -> Vec<(&str, &str)> {
        fields.iter().map(|f| (f.place, f.name.as_str())).collect()
    }

    #[test]
    fn reads_exif_after_the_frames_of_an_animated_webp_with_or_without_prefix() {
        let frames = [fixtures::scene(32, 24, 1), fixtures::scene(32, 24, 2)];
        let tiff = fixtures::exif_block(&[
            (exif::Tag::Make, fixtures::COMFY_WORKFLOW),
            (exif::Tag::Model, fixtures::COMFY_PROMPT),
        ])
        .unwrap();
        for prefix in [false, true] {
            let webp = fixtures::webp_with_exif(&frames, &tiff, prefix).unwrap();
            // A real animated WebP: the decoder reads it.
            assert!(image::load_from_memory(&webp).is_ok());
            let f = fields(&webp);
            assert_eq!(names(&f), [("EXIF", "Make"), ("EXIF", "Model")], "{f:?}");
            assert!(f[1].text.starts_with("prompt:{"), "{f:?}");
        }
    }

    #[test]
    fn reads_jpeg_comments_and_every_exif_text_tag() {
        let img = fixtures::scene(16, 16, 3);
        let f = fields(&fixtures::jpeg_with_comment(&img, "hello comment").unwrap());
        assert_eq!(f[0].text, "hello comment");
        let tiff = fixtures::exif_block(&[
            (exif::Tag::ImageDescription, "desc"),
            (exif::Tag::Artist, "artist"),
            (
                exif::Tag::UserComment,
                "Steps: 20, Sampler: Euler, Seed: 1 — ünïcode",
            ),
        ])
        .unwrap();
        let f = fields(&fixtures::jpeg_with_exif_block(&img, &tiff).unwrap());
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str()))
            .collect();
        assert!(got.contains(&("ImageDescription", "desc")), "{got:?}");
        assert!(got.contains(&("Artist", "artist")), "{got:?}");
        assert!(
            got.contains(&(
                "UserComment",
                "Steps: 20, Sampler: Euler, Seed: 1 — ünïcode"
            )),
            "{got:?}"
        );
    }

    #[test]
    fn user_comment_codes() {
        assert_eq!(user_comment(b"ASCII\0\0\0hello"), "hello");
        let mut le = b"UNICODE\0".to_vec();
        le.extend("hi".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(user_comment(&le), "hi");
        assert_eq!(user_comment(b"UNI"), "UNI");
        assert_eq!(user_comment(b""), "");
    }

    #[test]
    fn reads_mp4_udta_ilst_and_mdta_keys() {
        let mp4 = fixtures::mp4_with_metadata(
            &Mp4Meta {
                udta: vec![(*b"\xa9swr", "OpenAI Sora")],
                ilst: vec![(*b"\xa9too", "Lavf61.7.100"), (*b"desc", "a description")],
                keys: vec![("prompt", "{}"), ("workflow", "{\"nodes\":[]}")],
            },
            100,
        );
        let f = fields(&mp4);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("©swr", "OpenAI Sora"),
                ("©too", "Lavf61.7.100"),
                ("desc", "a description"),
                ("prompt", "{}"),
                ("workflow", "{\"nodes\":[]}"),
            ]
        );
        // Read from a file without its media data: the same fields.
        let compact = read_bmff_metadata(&mut std::io::Cursor::new(&mp4), 1 << 20).unwrap();
        assert!(compact.len() < mp4.len());
        assert_eq!(fields(&compact), f);
    }

    #[test]
    fn a_large_video_is_examined_without_reading_its_media_data() {
        // A 2 GiB `mdat` (sparse file): only the metadata boxes are read.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.mp4");
        let small = fixtures::mp4_with_metadata(
            &Mp4Meta {
                keys: vec![("prompt", fixtures::COMFY_PROMPT_JSON)],
                ..Mp4Meta::default()
            },
            0,
        );
        // ftyp, free, then a 64-bit mdat header declaring 2 GiB, then moov.
        let ftyp_free = &small[..small.windows(4).position(|w| w == b"mdat").unwrap() - 4];
        let moov = &small[small.windows(4).position(|w| w == b"moov").unwrap() - 4..];
        let mdat_len: u64 = 2 << 30;
        let mut file = std::fs::File::create(&path).unwrap();
        use std::io::Write;
        file.write_all(ftyp_free).unwrap();
        file.write_all(&1u32.to_be_bytes()).unwrap();
        file.write_all(b"mdat").unwrap();
        file.write_all(&(mdat_len + 16).to_be_bytes()).unwrap();
        file.set_len(ftyp_free.len() as u64 + 16 + mdat_len)
            .unwrap();
        file.seek(SeekFrom::End(0)).unwrap();
        file.write_all(moov).unwrap();
        drop(file);
        let started = Instant::now();
        let bytes = super::super::read_media(&path).unwrap();
        let f = fields(&bytes);
        let took = started.elapsed();
        println!("2 GiB MP4: metadata read and parsed in {took:?}");
        assert!(bytes.len() < 4096, "{}", bytes.len());
        assert_eq!(f[0].name, "prompt");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn hostile_structures_take_linear_time() {
        // 8 MiB of empty boxes, of nested `moov`s, of 4-byte JPEG segments and of RIFF chunks.
        let n = 1 << 20;
        let mut empty = Vec::with_capacity(8 * n);
        for _ in 0..n {
            empty.extend_from_slice(&8u32.to_be_bytes());
            empty.extend_from_slice(b"udta");
        }
        let mut nested = Vec::new();
        for i in 0..n {
            nested.extend_from_slice(&((8 * (n - i)) as u32).to_be_bytes());
            nested.extend_from_slice(b"moov");
        }
        let mut jpeg = vec![0xFF, 0xD8];
        for _ in 0..2 * n {
            jpeg.extend_from_slice(&[0xFF, 0xFE, 0, 2]);
        }
        let mut webp = b"RIFF\0\0\0\0WEBP".to_vec();
        for _ in 0..n {
            webp.extend_from_slice(b"EXIF\0\0\0\0");
        }
        for (what, bytes) in [
            ("boxes", empty),
            ("nested", nested),
            ("jpeg", jpeg),
            ("webp", webp),
        ] {
            let started = Instant::now();
            let f = fields(&bytes);
            println!(
                "{what}: {} MiB in {:?}",
                bytes.len() >> 20,
                started.elapsed()
            );
            assert!(f.len() <= MAX_FIELDS);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(
            kind in 0usize..5,
            body in proptest::collection::vec(any::<u8>(), 0..4096),
        ) {
            let prefix: &[u8] = match kind {
                0 => b"\xff\xd8",
                1 => b"RIFF\xff\xff\xff\xffWEBP",
                2 => b"\0\0\0\x0cftypisom",
                3 => b"\x89PNG\r\n\x1a\n",
                _ => b"",
            };
            let mut bytes = prefix.to_vec();
            bytes.extend_from_slice(&body);
            let _ = fields(&bytes);
            let _ = read_bmff_metadata(&mut std::io::Cursor::new(&bytes), 1 << 16);
            let _ = user_comment(&body);
        }

        #[test]
        fn never_panics_on_damaged_real_files(
            which in 0usize..3,
            cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            truncate in any::<prop::sample::Index>(),
        ) {
            let img = fixtures::scene(8, 8, 1);
            let tiff = fixtures::exif_block(&[(exif::Tag::Make, "m"), (exif::Tag::UserComment, "c")]).unwrap();
            let mut bytes = match which {
                0 => fixtures::webp_with_exif(&[img.clone(), img], &tiff, false).unwrap(),
                1 => fixtures::jpeg_with_exif_block(&img, &tiff).unwrap(),
                _ => fixtures::mp4_with_metadata(&Mp4Meta { udta: vec![(*b"\xa9too", "x")], ilst: vec![(*b"desc", "d")], keys: vec![("k", "v")] }, 16),
            };
            for (at, v) in cuts {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            bytes.truncate(truncate.index(bytes.len() + 1));
            let _ = fields(&bytes);
            let _ = read_bmff_metadata(&mut std::io::Cursor::new(&bytes), 1 << 16);
        }
    }
}
