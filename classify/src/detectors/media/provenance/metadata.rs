//! Provenance metadata outside C2PA: IPTC `DigitalSourceType` and `CreatorTool` in XMP (XML
//! embedded in a JPEG APP1 segment or a PNG iTXt chunk), the text chunks image generators write
//! into PNGs (`parameters`, `prompt`, `workflow`, ...), and EXIF `Software`, `Make` and `Model`.
//! Every reader here takes untrusted bytes and never panics on them (property-tested).

use std::io::Cursor;

/// The IPTC digital-source-type vocabulary prefix.
pub const IPTC_DST: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/";

/// Longest PNG text chunk read (after decompression), per chunk.
const MAX_TEXT: usize = 256 * 1024;

/// Generators whose names in a software or creator-tool field mean "made by an image model".
/// Matched case-insensitively as whole words or phrases.
pub const GENERATORS: &[&str] = &[
    "midjourney",
    "dall-e",
    "dall·e",
    "dalle",
    "stable diffusion",
    "stablediffusion",
    "sdxl",
    "adobe firefly",
    "firefly",
    "imagen",
    "gemini",
    "nano banana",
    "flux",
    "leonardo.ai",
    "novelai",
    "comfyui",
    "automatic1111",
    "invokeai",
    "ideogram",
    "bing image creator",
    "image creator from designer",
    "gpt-4o",
    "chatgpt",
    "openai",
    "grok",
    "runway",
    "sora",
    "veo",
    "kling",
    "pika",
    "hailuo",
    "luma dream machine",
    "hunyuanvideo",
    "ltx-video",
    "fooocus",
    "swarmui",
    "draw things",
    "playground ai",
    "krea",
];

/// The generator named in `text`, if any (the list entry as written in [`GENERATORS`]).
pub fn generator_named(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    GENERATORS.iter().copied().find(|g| {
        lower.match_indices(g).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + g.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// What XMP says about a picture's origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Xmp {
    /// `Iptc4xmpExt:DigitalSourceType`: the term after the IPTC prefix (or the whole value when it
    /// has another form).
    pub digital_source_type: Option<String>,
    /// `xmp:CreatorTool`.
    pub creator_tool: Option<String>,
}

/// Longest XMP packet read: a JPEG APP1 segment holds at most 64 KiB and real packets are far
/// smaller; anything past this is not read.
const MAX_XMP: usize = 1024 * 1024;

/// Finds the first XMP packet (`<x:xmpmeta` … `</x:xmpmeta>`) in raw file bytes and reads it.
/// XMP is stored uncompressed in JPEG APP1 segments and usually in PNG iTXt chunks, so a scan of
/// the bytes finds it in both. At most [`MAX_XMP`] bytes of the packet are read.
pub fn xmp_from_bytes(bytes: &[u8]) -> Option<Xmp> {
    let start = find(bytes, b"<x:xmpmeta")?;
    let end = find(&bytes[start..], b"</x:xmpmeta>").map(|e| start + e + 12)?;
    let packet = &bytes[start..end.min(start + MAX_XMP)];
    let xml = String::from_utf8_lossy(packet);
    let xmp = parse_xmp(&xml);
    (xmp != Xmp::default()).then_some(xmp)
}

/// Reads the properties Ballotwatch cares about from an XMP packet, in either RDF form:
/// an attribute (`Iptc4xmpExt:DigitalSourceType="…"`) or an element
/// (`<Iptc4xmpExt:DigitalSourceType>…</…>`, possibly holding an `rdf:resource`).
///
/// One pass over the packet's tags, without recursion, linear in its length (at most
/// [`MAX_XMP`] bytes are read): the packet is written by whoever made the picture.
pub fn parse_xmp(xml: &str) -> Xmp {
    let xml = &xml[..ballotwatch_core::floor_char_boundary(xml, MAX_XMP)];
    let dst = property(xml, "Iptc4xmpExt:DigitalSourceType").map(|v| {
        v.strip_prefix(IPTC_DST)
            .map(str::to_string)
            .unwrap_or(v.clone())
    });
    Xmp {
        digital_source_type: dst,
        creator_tool: property(xml, "xmp:CreatorTool"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of XMP property `name`, unescaped and trimmed; `None` when absent or empty. The
/// first of: an attribute `name="…"` on any tag; an element `<name>…</name>` with text; an
/// element `<name rdf:resource="…"/>`; or an empty `<name>` whose next tag has an
/// `rdf:resource`.
fn property(xml: &str, name: &str) -> Option<String> {
    let found = |v: Option<&str>| v.map(|v| unescape(v.trim())).filter(|v| !v.is_empty());
    // An empty `<name>` element seen: the next tag's `rdf:resource` is the value.
    let mut pending = false;
    for tag in Tags::new(xml) {
        if pending {
            if let Some(v) = found(attribute(tag.inner, "rdf:resource")) {
                return Some(v);
            }
            pending = false;
        }
        if let Some(v) = found(attribute(tag.inner, name)) {
            return Some(v);
        }
        if tag.name == name && !tag.closing {
            if let Some(v) = found(attribute(tag.inner, "rdf:resource")) {
                return Some(v);
            }
            if let Some(v) = found(Some(tag.text_after)) {
                return Some(v);
            }
            pending = !tag.self_closing;
        }
    }
    None
}

/// One tag of an XML text.
struct Tag<'a> {
    /// The element name, e.g. `rdf:Description`.
    name: &'a str,
    /// Everything between `<` and `>`.
    inner: &'a str,
    /// An end tag (`</name>`).
    closing: bool,
    /// `<name/>`.
    self_closing: bool,
    /// The text up to the next `<`.
    text_after: &'a str,
}

/// The tags of an XML text in order, in one linear pass (quoted attribute values may hold `>`).
struct Tags<'a> {
    xml: &'a str,
    at: usize,
}

impl<'a> Tags<'a> {
    fn new(xml: &'a str) -> Self {
        Tags { xml, at: 0 }
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;

    fn next(&mut self) -> Option<Tag<'a>> {
        let bytes = self.xml.as_bytes();
        let lt = self.at + self.xml.get(self.at..)?.find('<')?;
        let mut i = lt + 1;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'>') => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), b) if b == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        if i >= bytes.len() {
            self.at = bytes.len();
            return None;
        }
        let inner = &self.xml[lt + 1..i];
        let text_end = self.xml[i + 1..]
            .find('<')
            .map_or(bytes.len(), |e| i + 1 + e);
        self.at = i + 1;
        let closing = inner.starts_with('/');
        let name = inner
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        Some(Tag {
            name,
            inner,
            closing,
            self_closing: inner.ends_with('/'),
            text_after: &self.xml[i + 1..text_end],
        })
    }
}

/// The value of attribute `key` in a tag's inside (`key="value"` or `key='value'`).
fn attribute<'a>(inner: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(off) = inner.get(from..)?.find(key) {
        let at = from + off;
        from = at + key.len();
        let starts_word = inner[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let rest = inner[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if !starts_word {
            continue;
        }
        return rest[1..].find(q).map(|e| &rest[1..1 + e]);
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One PNG text chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct PngText {
    /// The chunk's keyword, e.g. `parameters`.
    pub keyword: String,
    /// Its text (at most 256 KiB read).
    pub text: String,
}

/// The text chunks (tEXt, zTXt, iTXt) before a PNG's image data; empty for anything that is not
/// a PNG or whose chunks cannot be read.
pub fn png_text_chunks(bytes: &[u8]) -> Vec<PngText> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Vec::new();
    }
    let limits = png::Limits { bytes: 64 << 20 };
    let decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    let Ok(reader) = decoder.read_info() else {
        return Vec::new();
    };
    let info = reader.info();
    let mut out = Vec::new();
    for c in &info.uncompressed_latin1_text {
        out.push(PngText {
            keyword: c.keyword.clone(),
            text: c.text.clone(),
        });
    }
    for c in &info.compressed_latin1_text {
        if let Ok(text) = c.get_text() {
            out.push(PngText {
                keyword: c.keyword.clone(),
                text,
            });
        }
    }
    for c in &info.utf8_text {
        if let Ok(text) = c.get_text() {
            out.push(PngText {
                keyword: c.keyword.clone(),
                text,
            });
        }
    }
    for t in &mut out {
        let cut = ballotwatch_core::floor_char_boundary(&t.text, MAX_TEXT);
        t.text.truncate(cut);
    }
    out
}

/// What a PNG text chunk says about the picture's origin, if it is a generator's.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorChunk {
    /// The chunk's keyword.
    pub keyword: String,
    /// The tool family the chunk's format belongs to, e.g. `Stable Diffusion web UI (A1111)`.
    pub tool: String,
    /// True when the chunk carries generation settings (steps, sampler, seed, a node graph),
    /// not just the keyword.
    pub has_settings: bool,
    /// A short quote of the chunk, for the explanation.
    pub quote: String,
}

/// Recognises the chunks image generators write: A1111/Forge `parameters` (prompt plus a
/// `Steps: …, Sampler: …, CFG scale: …, Seed: …` line), ComfyUI `prompt`/`workflow` (a JSON
/// node graph with `class_type` or `nodes`), InvokeAI `invokeai_metadata`/`sd-metadata`/`Dream`,
/// NovelAI (`Software` = NovelAI, `Comment` JSON), and a `Software` chunk naming a generator.
pub fn generator_chunk(chunk: &PngText) -> Option<GeneratorChunk> {
    let key = chunk.keyword.as_str();
    let text = chunk.text.as_str();
    let lower = text.to_lowercase();
    let (tool, has_settings) = match key {
        "parameters" => {
            let markers = ["steps:", "sampler:", "cfg scale:", "seed:", "model:"];
            let n = markers.iter().filter(|m| lower.contains(*m)).count();
            ("Stable Diffusion web UI (A1111/Forge)", n >= 3)
        }
        "prompt" | "workflow" => (
            "ComfyUI",
            text.trim_start().starts_with('{')
                && (text.contains("\"class_type\"") || text.contains("\"nodes\"")),
        ),
        "invokeai_metadata" | "invokeai_graph" | "sd-metadata" | "Dream" => (
            "InvokeAI",
            lower.contains("seed") || lower.contains("steps") || lower.contains("model"),
        ),
        "Software" | "Comment" | "Description" | "Title" | "Source" => {
            let g = generator_named(text)?;
            return Some(GeneratorChunk {
                keyword: key.to_string(),
                tool: g.to_string(),
                has_settings: key == "Comment" && lower.contains("\"steps\""),
                quote: quote(text),
            });
        }
        _ => return None,
    };
    Some(GeneratorChunk {
        keyword: key.to_string(),
        tool: tool.to_string(),
        has_settings,
        quote: quote(text),
    })
}

/// The first 80 characters of `text` on one line, with an ellipsis when cut.
pub fn quote(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut q: String = one_line.chars().take(80).collect();
    if one_line.chars().count() > 80 {
        q.push('…');
    }
    q
}

/// Keys whose value names the tool that wrote the file (so a generator's name there is a claim
/// of origin), as opposed to free text (a caption may mention a generator by name).
fn is_tool_field(name: &str) -> bool {
    matches!(
        name,
        "Software"
            | "Make"
            | "Model"
            | "Artist"
            | "CreatorTool"
            | "©too"
            | "©swr"
            | "©enc"
            | "©mak"
            | "©mod"
            | "encoder"
            | "software"
            | "tool"
            | "com.apple.quicktime.software"
            | "com.apple.quicktime.make"
            | "com.apple.quicktime.model"
            | "com.apple.quicktime.author"
    )
}

/// Generation settings in a field's text, and the tool family whose format they are in:
/// ComfyUI's node graph (`{"3": {"class_type": …}}` or `{"nodes": […], "links": …}`, as JSON or
/// after a `prompt:`/`workflow:` prefix as in ComfyUI's WebP EXIF), an A1111/Forge settings
/// line (`Steps: …, Sampler: …, CFG scale: …, Seed: …`), InvokeAI metadata, or a JSON object
/// with a generator's `steps`, `seed` and `sampler`/`cfg_scale`/`scheduler` keys (NovelAI,
/// Fooocus, SwarmUI, Draw Things).
pub fn settings_in(text: &str) -> Option<&'static str> {
    let trimmed = text.trim_start();
    // `prompt:{…}` / `workflow:{…}` (ComfyUI's EXIF) or `Workflow: {…}`.
    let body = match trimmed.split_once(':') {
        Some((k, rest))
            if k.len() <= 32
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && rest.trim_start().starts_with('{') =>
        {
            rest.trim_start()
        }
        _ => trimmed,
    };
    if body.starts_with('{')
        && (body.contains("\"class_type\"")
            || (body.contains("\"nodes\"") && body.contains("\"links\"")))
    {
        return Some("ComfyUI");
    }
    let lower = text.to_lowercase();
    let markers = [
        "steps: ",
        "sampler: ",
        "cfg scale: ",
        "seed: ",
        "model hash: ",
    ];
    if markers.iter().filter(|m| lower.contains(*m)).count() >= 3 {
        return Some("Stable Diffusion web UI (A1111/Forge)");
    }
    if lower.contains("invokeai") && lower.contains("seed") {
        return Some("InvokeAI");
    }
    let key = |k: &str| lower.contains(&format!("\"{k}\""));
    if body.starts_with('{')
        && key("steps")
        && key("seed")
        && [
            "sampler",
            "cfg_scale",
            "scale",
            "scheduler",
            "guidance_scale",
        ]
        .iter()
        .any(|k| key(k))
    {
        return Some("an image generator");
    }
    None
}

/// A generator named right after "made with", "generated by", "created with"… in free text
/// (Google's "Made with Google AI", a caption "generated with Midjourney").
fn made_with(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    const PHRASES: [&str; 8] = [
        "made with ",
        "made by ",
        "made using ",
        "generated by ",
        "generated with ",
        "generated using ",
        "created with ",
        "created using ",
    ];
    if lower.contains("made with google ai") {
        return Some("google ai");
    }
    PHRASES.iter().find_map(|p| {
        lower.match_indices(p).take(16).find_map(|(at, _)| {
            let after = &lower[at + p.len()..];
            let window = &after[..ballotwatch_core::floor_char_boundary(after, 24)];
            generator_named(window)
        })
    })
}

/// What a metadata field outside PNG text chunks (EXIF, JPEG comment, MP4 atoms and keys) says
/// about origin: generation settings anywhere (score 0.85), a generator named in a tool field
/// (`Software`, `Make`, `Model`, `©too`, `encoder`, …) or after "made with"/"generated by" in
/// free text (0.80). A generator named in a caption alone is not a claim of origin.
pub fn generator_field(name: &str, text: &str) -> Option<GeneratorChunk> {
    if let Some(tool) = settings_in(text) {
        return Some(GeneratorChunk {
            keyword: name.to_string(),
            tool: tool.to_string(),
            has_settings: true,
            quote: quote(text),
        });
    }
    let named = if is_tool_field(name) {
        generator_named(text)
    } else {
        made_with(text)
    };
    named.map(|g| GeneratorChunk {
        keyword: name.to_string(),
        tool: g.to_string(),
        has_settings: false,
        quote: quote(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// Found while writing the `provenance` fuzz target (reading the XMP reader): every
    /// `rdf:resource` inside a tag started a search of the rest of the tag, which did the same,
    /// so the time doubled with each one (24 of them: 45 s in the test build; 40: days). A
    /// packet full of names in unclosed tags cost a scan to its end for each.
    #[test]
    fn hostile_xmp_takes_linear_time() {
        let nested = format!(
            "<x:xmpmeta><Iptc4xmpExt:DigitalSourceType {}/></x:xmpmeta>",
            "rdf:resource ".repeat(24)
        );
        let unclosed = format!(
            "<x:xmpmeta>{}</x:xmpmeta>",
            "xmp:CreatorTool ".repeat(200_000)
        );
        for xmp in [nested, unclosed] {
            let started = Instant::now();
            assert_eq!(xmp_from_bytes(xmp.as_bytes()), None);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{} bytes of XMP took {:?}",
                xmp.len(),
                started.elapsed()
            );
        }
    }

    #[test]
    fn reads_digital_source_type_in_both_rdf_forms() {
        let attr = format!(
            r#"<x:xmpmeta><rdf:Description Iptc4xmpExt:DigitalSourceType="{IPTC_DST}trainedAlgorithmicMedia" xmp:CreatorTool="Midjourney v6"/></x:xmpmeta>"#
        );
        let x = xmp_from_bytes(attr.as_bytes()).unwrap();
        assert_eq!(
            x.digital_source_type.as_deref(),
            Some("trainedAlgorithmicMedia")
        );
        assert_eq!(x.creator_tool.as_deref(), Some("Midjourney v6"));

        let elem = format!(
            "junk<x:xmpmeta><rdf:Description><Iptc4xmpExt:DigitalSourceType>{IPTC_DST}compositeWithTrainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType></rdf:Description></x:xmpmeta>junk"
        );
        let x = xmp_from_bytes(elem.as_bytes()).unwrap();
        assert_eq!(
            x.digital_source_type.as_deref(),
            Some("compositeWithTrainedAlgorithmicMedia")
        );

        let res = format!(
            r#"<x:xmpmeta><Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC_DST}digitalCapture"/></x:xmpmeta>"#
        );
        let x = xmp_from_bytes(res.as_bytes()).unwrap();
        assert_eq!(x.digital_source_type.as_deref(), Some("digitalCapture"));
    }

    #[test]
    fn hostile_xmp_is_read_in_linear_time_without_recursion() {
        // The old reader recursed once per repeated `rdf:resource ` (a stack overflow, an
        // abort, well before 70,000, within the 1 MiB read) and rescanned the rest of the packet for each
        // repeated property name (quadratic).
        let run = |xml: String| {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let t = std::time::Instant::now();
                    let x = xmp_from_bytes(xml.as_bytes());
                    (x, t.elapsed())
                })
                .unwrap()
                .join()
                .unwrap()
        };
        let dst = format!("{IPTC_DST}trainedAlgorithmicMedia");
        let recursive = format!(
            "<x:xmpmeta><Iptc4xmpExt:DigitalSourceType {}/><x xmp:CreatorTool='Midjourney'/></x:xmpmeta>",
            "rdf:resource ".repeat(70_000)
        );
        let (x, took) = run(recursive);
        assert_eq!(x.unwrap().creator_tool.as_deref(), Some("Midjourney"));
        let rescans = format!(
            "<x:xmpmeta>{}</x:xmpmeta>",
            "xmp:CreatorTool ".repeat(60_000)
        );
        let (x, took2) = run(rescans);
        assert!(x.is_none());
        let nested = format!(
            "<x:xmpmeta>{}<Iptc4xmpExt:DigitalSourceType>{dst}</Iptc4xmpExt:DigitalSourceType>{}</x:xmpmeta>",
            "<rdf:Bag>".repeat(100_000),
            "</rdf:Bag>".repeat(100_000)
        );
        let (x, took3) = run(nested);
        assert_eq!(
            x.unwrap().digital_source_type.as_deref(),
            Some("trainedAlgorithmicMedia")
        );
        for t in [took, took2, took3] {
            assert!(t < std::time::Duration::from_secs(5), "{t:?}");
        }
    }

    #[test]
    fn attribute_values_may_hold_angle_brackets_and_the_next_tag_a_resource() {
        let x = parse_xmp(
            r#"<rdf:Description xmp:CreatorTool="a > b &amp; c"><Iptc4xmpExt:DigitalSourceType>
            <rdf:li rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"/></Iptc4xmpExt:DigitalSourceType>"#,
        );
        assert_eq!(x.creator_tool.as_deref(), Some("a > b & c"));
        assert_eq!(x.digital_source_type.as_deref(), Some("digitalCapture"));
        // `mxmp:CreatorTool` is another attribute.
        assert_eq!(parse_xmp(r#"<d mxmp:CreatorTool="x"/>"#), Xmp::default());
    }

    #[test]
    fn no_xmp_packet_means_none() {
        assert!(xmp_from_bytes(b"\xff\xd8 plain jpeg").is_none());
        assert!(xmp_from_bytes(b"<x:xmpmeta> unterminated").is_none());
        assert!(xmp_from_bytes(b"<x:xmpmeta></x:xmpmeta>").is_none());
    }

    #[test]
    fn names_generators_as_whole_words_only() {
        assert_eq!(generator_named("Adobe Firefly 3"), Some("adobe firefly"));
        assert_eq!(generator_named("made with Midjourney"), Some("midjourney"));
        assert_eq!(generator_named("Adobe Photoshop 25.0"), None);
        assert_eq!(generator_named("GIMP 2.10"), None);
        assert_eq!(generator_named("influx"), None, "flux inside a word");
    }

    #[test]
    fn recognises_generator_chunks() {
        let a1111 = PngText {
            keyword: "parameters".into(),
            text: "polling station flooded, photo\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42, Model: sdxl".into(),
        };
        let g = generator_chunk(&a1111).unwrap();
        assert!(g.has_settings);
        assert!(g.tool.contains("A1111"));
        let comfy = PngText {
            keyword: "prompt".into(),
            text: r#"{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}"#.into(),
        };
        assert!(generator_chunk(&comfy).unwrap().has_settings);
        let plain = PngText {
            keyword: "Software".into(),
            text: "GIMP".into(),
        };
        assert!(generator_chunk(&plain).is_none());
        let other = PngText {
            keyword: "Author".into(),
            text: "Steps: 1".into(),
        };
        assert!(generator_chunk(&other).is_none());
    }

    #[test]
    fn reads_png_text_chunks() {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.add_text_chunk("parameters".into(), "a cat\nSteps: 20".into())
                .unwrap();
            enc.add_ztxt_chunk("workflow".into(), "{\"nodes\": []}".into())
                .unwrap();
            enc.add_itxt_chunk("Comment".into(), "hello".into())
                .unwrap();
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0; 12]).unwrap();
        }
        let chunks = png_text_chunks(&out);
        let keys: Vec<_> = chunks.iter().map(|c| c.keyword.as_str()).collect();
        assert_eq!(keys, ["parameters", "workflow", "Comment"]);
        assert_eq!(chunks[1].text, "{\"nodes\": []}");
        assert!(png_text_chunks(b"not a png").is_empty());
    }

    proptest! {
        #[test]
        fn readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = xmp_from_bytes(&bytes);
            let _ = generator_field("UserComment", &String::from_utf8_lossy(&bytes));
            let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
            png.extend_from_slice(&bytes);
            let _ = png_text_chunks(&png);
        }

        #[test]
        fn xmp_parser_never_panics(s in ".{0,400}") {
            let _ = parse_xmp(&s);
            let wrapped = format!("<x:xmpmeta>{s}</x:xmpmeta>");
            let _ = xmp_from_bytes(wrapped.as_bytes());
            let _ = generator_named(&s);
            let _ = quote(&s);
        }

        #[test]
        fn xmp_parser_handles_property_fragments(
            pre in "[ <>=\"'/a-z:]{0,20}", val in "[ <>=\"'/a-zA-Z:.]{0,30}"
        ) {
            let s = format!("<x:xmpmeta>{pre}Iptc4xmpExt:DigitalSourceType{val}xmp:CreatorTool{pre}</x:xmpmeta>");
            let _ = xmp_from_bytes(s.as_bytes());
        }
    }
}
