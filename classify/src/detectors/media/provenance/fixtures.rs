//! Building pictures that carry provenance metadata, for tests, the evaluation
//! (`examples/provenance_eval.rs`), the benchmark and the demo media only — Ballotwatch never
//! writes metadata into media it watches.
//!
//! [`sign_image`] embeds a C2PA manifest signed with a throw-away certificate chain the `c2pa` crate generates ([`c2pa::EphemeralSigner`]:
//! an Ed25519 CA and end-entity certificate with the key usages C2PA requires). Such a signature
//! validates but is never on a trust list, which is exactly what the detector must report
//! honestly. Ballotwatch never signs media in production.

use std::io::Cursor;

/// EXIF tags, for [`exif_block`] (re-exported so callers need not depend on kamadak-exif).
pub use exif::Tag as ExifTag;

/// What the manifest should claim.
#[derive(Debug, Clone)]
pub struct ManifestSpec {
    /// Claim generator name, e.g. `ExampleGen Image`.
    pub generator: String,
    /// Claim generator version, e.g. `3.1`.
    pub generator_version: String,
    /// IPTC digital source type term for the `c2pa.created` action, e.g.
    /// `trainedAlgorithmicMedia` or `digitalCapture`.
    pub digital_source_type: String,
    /// Common name of the signing certificate, e.g. `ExampleGen Labs`.
    pub signer_name: String,
    /// Title recorded in the manifest.
    pub title: String,
}

/// Returns `image` (JPEG or PNG bytes, `mime` its type) with a signed C2PA manifest embedded
/// whose `c2pa.created` action declares `spec.digital_source_type`.
pub fn sign_image(image: &[u8], mime: &str, spec: &ManifestSpec) -> Result<Vec<u8>, String> {
    let definition = serde_json::json!({
        "title": spec.title,
        "claim_generator_info": [{"name": spec.generator, "version": spec.generator_version}],
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": format!("{}{}", super::metadata::IPTC_DST, spec.digital_source_type),
                "softwareAgent": {"name": spec.generator, "version": spec.generator_version},
            }]}
        }]
    });
    let mut builder = c2pa::Builder::from_context(c2pa::Context::new())
        .with_definition(definition)
        .map_err(|e| format!("building the C2PA manifest: {e}"))?;
    let signer = c2pa::EphemeralSigner::new(spec.signer_name.clone())
        .map_err(|e| format!("creating the test signing certificate: {e}"))?;
    let mut source = Cursor::new(image);
    let mut dest = Cursor::new(Vec::new());
    builder
        .sign(&signer, mime, &mut source, &mut dest)
        .map_err(|e| format!("signing the C2PA manifest: {e}"))?;
    Ok(dest.into_inner())
}

/// A JPEG of `img` (quality 90).
pub fn jpeg(img: &image::RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .map_err(|e| format!("encoding a JPEG: {e}"))?;
    Ok(out)
}

/// Inserts an APP1 segment carrying `payload` right after a JPEG's SOI marker.
pub fn insert_app1(jpeg: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG".into());
    }
    let len =
        u16::try_from(payload.len() + 2).map_err(|_| "APP1 payload over 64 KiB".to_string())?;
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

/// A JPEG with EXIF `Make`, `Model` and `Software` (any may be empty, then left out), as a
/// camera or an editor writes them.
pub fn jpeg_with_exif(
    img: &image::RgbImage,
    make: &str,
    model: &str,
    software: &str,
) -> Result<Vec<u8>, String> {
    use exif::Tag;
    let tiff = exif_block(&[
        (Tag::Make, make),
        (Tag::Model, model),
        (Tag::Software, software),
    ])?;
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    insert_app1(&jpeg(img)?, &payload)
}

/// An EXIF block (TIFF, big-endian, no `Exif\0\0` prefix) with the given text tags (empty values
/// left out). `UserComment` is written as piexif writes it for A1111, Forge and Fooocus: the
/// `UNICODE\0` code and UTF-16 big-endian text; every other tag as ASCII.
pub fn exif_block(tags: &[(exif::Tag, &str)]) -> Result<Vec<u8>, String> {
    use exif::experimental::Writer;
    use exif::{Field, In, Tag, Value};
    let fields: Vec<Field> = tags
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tag, v)| Field {
            tag: *tag,
            ifd_num: In::PRIMARY,
            value: if *tag == Tag::UserComment {
                let mut b = b"UNICODE\0".to_vec();
                b.extend(v.encode_utf16().flat_map(u16::to_be_bytes));
                Value::Undefined(b, 0)
            } else {
                Value::Ascii(vec![v.as_bytes().to_vec()])
            },
        })
        .collect();
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer
        .write(&mut tiff, false)
        .map_err(|e| format!("writing EXIF: {e}"))?;
    Ok(tiff.into_inner())
}

/// A JPEG carrying an EXIF block (from [`exif_block`]).
pub fn jpeg_with_exif_block(img: &image::RgbImage, tiff: &[u8]) -> Result<Vec<u8>, String> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    insert_app1(&jpeg(img)?, &payload)
}

/// A JPEG with a `COM` (comment) segment holding `comment`.
pub fn jpeg_with_comment(img: &image::RgbImage, comment: &str) -> Result<Vec<u8>, String> {
    let jpeg = jpeg(img)?;
    let len = u16::try_from(comment.len() + 2).map_err(|_| "comment over 64 KiB".to_string())?;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

fn riff_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], payload: &[u8]) -> Result<(), String> {
    let len = u32::try_from(payload.len()).map_err(|_| "RIFF chunk over 4 GiB".to_string())?;
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

fn u24(v: u32) -> [u8; 3] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// A WebP (extended format) of `frames` lossless frames of the same size with an `EXIF` chunk
/// after the image data, as Pillow writes it (and so ComfyUI's `SaveAnimatedWEBP`): with two or
/// more frames an animated file (`ANIM`, one `ANMF` per frame, then `EXIF`). `exif_prefix`
/// keeps JPEG's `Exif\0\0` before the TIFF block, as older Pillow did.
pub fn webp_with_exif(
    frames: &[image::RgbImage],
    tiff: &[u8],
    exif_prefix: bool,
) -> Result<Vec<u8>, String> {
    let first = frames.first().ok_or("no frames")?;
    let (w, h) = (first.width(), first.height());
    let mut bitstreams = Vec::new();
    for f in frames {
        let mut one = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut one)
            .encode(f.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| format!("encoding a WebP: {e}"))?;
        // RIFF header (12) then the `VP8L` chunk.
        let chunk = one.get(12..).ok_or("short WebP")?;
        bitstreams.push(chunk.to_vec());
    }
    let animated = frames.len() > 1;
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0x08 | if animated { 0x02 } else { 0 }, 0, 0, 0];
    vp8x.extend_from_slice(&u24(w - 1));
    vp8x.extend_from_slice(&u24(h - 1));
    riff_chunk(&mut body, b"VP8X", &vp8x)?;
    if animated {
        riff_chunk(&mut body, b"ANIM", &[0, 0, 0, 0, 0, 0])?;
        for bits in &bitstreams {
            let mut anmf = Vec::new();
            anmf.extend_from_slice(&u24(0));
            anmf.extend_from_slice(&u24(0));
            anmf.extend_from_slice(&u24(w - 1));
            anmf.extend_from_slice(&u24(h - 1));
            anmf.extend_from_slice(&u24(100));
            anmf.push(0);
            anmf.extend_from_slice(bits);
            riff_chunk(&mut body, b"ANMF", &anmf)?;
        }
    } else {
        body.extend_from_slice(&bitstreams[0]);
    }
    let mut exif = if exif_prefix {
        b"Exif\0\0".to_vec()
    } else {
        Vec::new()
    };
    exif.extend_from_slice(tiff);
    riff_chunk(&mut body, b"EXIF", &exif)?;
    let mut out = b"RIFF".to_vec();
    let len = u32::try_from(body.len()).map_err(|_| "WebP over 4 GiB".to_string())?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// An ISO-BMFF box.
pub fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// Metadata an MP4/MOV test file carries.
#[derive(Debug, Clone, Default)]
pub struct Mp4Meta<'a> {
    /// Classic QuickTime `udta` text atoms, e.g. `(*b"\xa9too", "Lavf61.7.100")`.
    pub udta: Vec<([u8; 4], &'a str)>,
    /// iTunes-style `meta/ilst` items by atom, e.g. `(*b"\xa9cmt", "…")`.
    pub ilst: Vec<([u8; 4], &'a str)>,
    /// `mdta` keys with values (`meta/keys` + `ilst` by index), as FFmpeg writes with
    /// `-movflags use_metadata_tags` and ComfyUI's video output does (`prompt`, `workflow`).
    pub keys: Vec<(&'a str, &'a str)>,
}

/// A small MP4 (`ftyp`, `moov` with `mvhd` and the metadata, an `mdat` of `mdat_len` zero bytes)
/// laid out as FFmpeg writes it: `udta` in `moov`, iTunes items in `udta/meta/ilst`, `mdta` keys
/// in `moov/meta`. The video track is left out: the metadata readers do not need it.
pub fn mp4_with_metadata(meta: &Mp4Meta, mdat_len: usize) -> Vec<u8> {
    let data = |v: &str| {
        let mut d = vec![0, 0, 0, 1, 0, 0, 0, 0];
        d.extend_from_slice(v.as_bytes());
        mp4_box(b"data", &d)
    };
    let hdlr = |kind: &[u8; 4]| {
        let mut h = vec![0; 8];
        h.extend_from_slice(kind);
        h.extend_from_slice(&[0; 13]);
        mp4_box(b"hdlr", &h)
    };
    let mut moov = mp4_box(b"mvhd", &[0; 100]);
    let mut udta = Vec::new();
    for (atom, v) in &meta.udta {
        let mut t = (v.len() as u16).to_be_bytes().to_vec();
        t.extend_from_slice(&[0x55, 0xC4]);
        t.extend_from_slice(v.as_bytes());
        udta.extend(mp4_box(atom, &t));
    }
    if !meta.ilst.is_empty() {
        let items: Vec<u8> = meta
            .ilst
            .iter()
            .flat_map(|(a, v)| mp4_box(a, &data(v)))
            .collect();
        let mut m = vec![0, 0, 0, 0];
        m.extend(hdlr(b"mdir"));
        m.extend(mp4_box(b"ilst", &items));
        udta.extend(mp4_box(b"meta", &m));
    }
    if !udta.is_empty() {
        moov.extend(mp4_box(b"udta", &udta));
    }
    if !meta.keys.is_empty() {
        let mut keys = vec![0, 0, 0, 0];
        keys.extend_from_slice(&(meta.keys.len() as u32).to_be_bytes());
        let mut items = Vec::new();
        for (i, (k, v)) in meta.keys.iter().enumerate() {
            keys.extend_from_slice(&((k.len() + 8) as u32).to_be_bytes());
            keys.extend_from_slice(b"mdta");
            keys.extend_from_slice(k.as_bytes());
            items.extend(mp4_box(&((i + 1) as u32).to_be_bytes(), &data(v)));
        }
        let mut m = hdlr(b"mdta");
        m.extend(mp4_box(b"keys", &keys));
        m.extend(mp4_box(b"ilst", &items));
        moov.extend(mp4_box(b"meta", &m));
    }
    let mut out = mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    out.extend(mp4_box(b"free", &[]));
    out.extend(mp4_box(b"mdat", &vec![0; mdat_len]));
    out.extend(mp4_box(b"moov", &moov));
    out
}

/// A JPEG whose XMP packet declares an IPTC digital source type (and optionally a creator
/// tool), as image generators and editors write it.
pub fn jpeg_with_xmp(
    img: &image::RgbImage,
    digital_source_type: &str,
    creator_tool: &str,
) -> Result<Vec<u8>, String> {
    let xmp = format!(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" Iptc4xmpExt:DigitalSourceType="{}{digital_source_type}" xmp:CreatorTool="{creator_tool}"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#,
        super::metadata::IPTC_DST
    );
    let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    payload.extend_from_slice(xmp.as_bytes());
    insert_app1(&jpeg(img)?, &payload)
}

/// A PNG carrying the given tEXt chunks, as Stable Diffusion web UIs and ComfyUI write them.
pub fn png_with_text(img: &image::RgbImage, chunks: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
        enc.set_color(png::ColorType::Rgb);
        for (k, v) in chunks {
            enc.add_text_chunk(k.to_string(), v.to_string())
                .map_err(|e| format!("PNG text chunk `{k}`: {e}"))?;
        }
        let mut w = enc
            .write_header()
            .map_err(|e| format!("writing a PNG: {e}"))?;
        w.write_image_data(img.as_raw())
            .map_err(|e| format!("writing a PNG: {e}"))?;
    }
    Ok(out)
}

/// A detailed synthetic test picture (gradients, rings and bars; different `seed`s give
/// different pictures).
pub fn scene(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let (cx, cy) = (
            0.3 + 0.1 * (seed % 4) as f32,
            0.35 + 0.1 * (seed % 3) as f32,
        );
        let r = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
        let tau = std::f32::consts::TAU;
        // Smooth, photo-like fields (most energy at low frequencies), different per seed.
        let ring = (tau * r * (1.5 + (seed % 3) as f32)).sin();
        let wave =
            (tau * (fx * (1.0 + (seed % 2) as f32) + fy * (0.5 + 0.25 * (seed % 4) as f32))).cos();
        let blob =
            (-((fx - 0.7).powi(2) + (fy - 0.3 - 0.1 * (seed % 5) as f32).powi(2)) * 12.0).exp();
        let px = |v: f32| v.clamp(0.0, 255.0) as u8;
        image::Rgb([
            px(120.0 + 80.0 * ring + 40.0 * blob),
            px(120.0 + 70.0 * wave - 30.0 * blob),
            px(60.0 + 150.0 * fy * (1.0 - fx) + 40.0 * ring * wave),
        ])
    })
}

fn eval_spec(generator: &str, term: &str, signer: &str) -> ManifestSpec {
    ManifestSpec {
        generator: generator.into(),
        generator_version: "1.0".into(),
        digital_source_type: term.into(),
        signer_name: signer.into(),
        title: "eval".into(),
    }
}

/// An A1111/Forge settings text, as in `parameters` chunks and EXIF `UserComment`.
pub const A1111: &str = "count at the town hall, ballot boxes, photo\nNegative prompt: text\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 1024x768, Model hash: 31e35c80fc, Model: sdxl";
/// ComfyUI's API-format prompt JSON.
pub const COMFY_PROMPT_JSON: &str = r#"{"3":{"class_type":"KSampler","inputs":{"seed":5,"steps":20}},"8":{"class_type":"VAEDecode","inputs":{}}}"#;
/// ComfyUI's workflow JSON (the editor's graph).
pub const COMFY_WORKFLOW_JSON: &str =
    r#"{"last_node_id":9,"nodes":[{"id":3,"type":"KSampler"}],"links":[[1,4,0,3,0,"MODEL"]]}"#;
/// ComfyUI's animated WebP EXIF `Model` (0x0110): `prompt:` and the prompt JSON.
pub const COMFY_PROMPT: &str =
    r#"prompt:{"3":{"class_type":"KSampler","inputs":{"seed":5,"steps":20}}}"#;
/// ComfyUI's animated WebP EXIF `Make` (0x010f): `workflow:` and the workflow JSON.
pub const COMFY_WORKFLOW: &str =
    r#"workflow:{"last_node_id":9,"nodes":[{"id":3,"type":"KSampler"}],"links":[]}"#;

/// One evaluation fixture: name, whether it is AI-made, and its bytes (or why they could not be
/// built).
pub type Fixture = (&'static str, bool, Result<Vec<u8>, String>);

/// The provenance evaluation set (see `examples/provenance_eval.rs`): 17 AI-made pictures and
/// videos as generators and editors label them (C2PA, XMP, PNG chunks, EXIF in JPEG and still
/// and animated WebP, JPEG comments, MP4/MOV metadata), and 15 that are not (camera EXIF and
/// QuickTime keys, edits, a signed camera capture, captions naming a generator, plain files). Built in memory; C2PA ones are signed afresh each call.
pub fn eval_set() -> Vec<Fixture> {
    use exif::Tag;
    let s = |seed| scene(256, 192, seed);
    let plain_jpeg = |seed: u32| jpeg(&s(seed)).unwrap_or_default();
    let plain_png = |seed: u32| png_with_text(&s(seed), &[]).unwrap_or_default();
    vec![
        ("c2pa trained jpeg", true, sign_image(&plain_jpeg(1), "image/jpeg", &eval_spec("ExampleGen Image", "trainedAlgorithmicMedia", "ExampleGen Labs"))),
        ("c2pa trained jpeg 2", true, sign_image(&plain_jpeg(2), "image/jpeg", &eval_spec("Adobe Firefly", "trainedAlgorithmicMedia", "Adobe"))),
        ("c2pa composite png", true, sign_image(&plain_png(3), "image/png", &eval_spec("Photo Editor AI", "compositeWithTrainedAlgorithmicMedia", "Editor Inc"))),
        ("xmp trained jpeg", true, jpeg_with_xmp(&s(4), "trainedAlgorithmicMedia", "")),
        ("xmp creator midjourney", true, jpeg_with_xmp(&s(5), "", "Midjourney v6.1")),
        ("png a1111 parameters", true, png_with_text(&s(6), &[("parameters", "council election count, photo\nNegative prompt: text\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 77, Size: 1024x768, Model: juggernautXL")])),
        ("png comfyui prompt", true, png_with_text(&s(7), &[("prompt", r#"{"3":{"class_type":"KSampler","inputs":{"seed":9,"steps":20}},"4":{"class_type":"CheckpointLoaderSimple"}}"#), ("workflow", r#"{"nodes":[{"id":3,"type":"KSampler"}]}"#)])),
        ("png novelai software", true, png_with_text(&s(8), &[("Software", "NovelAI"), ("Comment", r#"{"steps": 28, "sampler": "k_euler"}"#)])),
        ("exif dall-e", true, jpeg_with_exif(&s(9), "", "", "DALL-E 3")),
        ("webp animated comfyui exif", true, exif_block(&[(Tag::Make, COMFY_WORKFLOW), (Tag::Model, COMFY_PROMPT)]).and_then(|t| webp_with_exif(&[s(19), s(20), s(21)], &t, false))),
        ("webp still a1111 usercomment", true, exif_block(&[(Tag::UserComment, A1111)]).and_then(|t| webp_with_exif(&[s(22)], &t, true))),
        ("jpeg a1111 usercomment", true, exif_block(&[(Tag::UserComment, A1111)]).and_then(|t| jpeg_with_exif_block(&s(23), &t))),
        ("jpeg comment parameters", true, jpeg_with_comment(&s(24), A1111)),
        ("jpeg exif description made with", true, exif_block(&[(Tag::ImageDescription, "Made with Google AI")]).and_then(|t| jpeg_with_exif_block(&s(25), &t))),
        ("mp4 comfyui mdta keys", true, Ok(mp4_with_metadata(&Mp4Meta { keys: vec![("prompt", COMFY_PROMPT_JSON), ("workflow", COMFY_WORKFLOW_JSON)], ilst: vec![(*b"\xa9too", "Lavf61.7.100")], ..Mp4Meta::default() }, 4096))),
        ("mov udta software sora", true, Ok(mp4_with_metadata(&Mp4Meta { udta: vec![(*b"\xa9swr", "OpenAI Sora")], ..Mp4Meta::default() }, 4096))),
        ("mp4 ilst comment a1111", true, Ok(mp4_with_metadata(&Mp4Meta { ilst: vec![(*b"\xa9cmt", A1111), (*b"\xa9too", "Lavf61.7.100")], ..Mp4Meta::default() }, 4096))),
        ("c2pa camera capture", false, sign_image(&plain_jpeg(10), "image/jpeg", &eval_spec("ExampleCam Firmware", "digitalCapture", "ExampleCam"))),
        ("exif canon", false, jpeg_with_exif(&s(11), "Canon", "Canon EOS R6", "Firmware Version 1.8.1")),
        ("exif nikon", false, jpeg_with_exif(&s(12), "NIKON CORPORATION", "NIKON Z 6", "Ver.01.00")),
        ("exif iphone", false, jpeg_with_exif(&s(13), "Apple", "iPhone 15 Pro", "17.4.1")),
        ("exif photoshop edit", false, jpeg_with_exif(&s(14), "SONY", "ILCE-7M4", "Adobe Photoshop 25.0 (Windows)")),
        ("png gimp", false, png_with_text(&s(15), &[("Software", "GIMP 2.10.36"), ("Comment", "Created with GIMP")])),
        ("xmp lightroom capture", false, jpeg_with_xmp(&s(16), "digitalCapture", "Adobe Lightroom Classic 13.2")),
        ("plain jpeg", false, jpeg(&s(17))),
        ("plain png", false, png_with_text(&s(18), &[])),
        ("webp animated camera exif", false, exif_block(&[(Tag::Make, "Google"), (Tag::Model, "Pixel 8"), (Tag::Software, "HDR+ 1.0.641377693")]).and_then(|t| webp_with_exif(&[s(26), s(27)], &t, false))),
        ("jpeg comment gimp", false, jpeg_with_comment(&s(28), "Created with GIMP")),
        ("jpeg caption names a generator", false, exif_block(&[(Tag::ImageDescription, "Councillors debate Midjourney and DALL-E fakes"), (Tag::Make, "FUJIFILM"), (Tag::Model, "X-T5")]).and_then(|t| jpeg_with_exif_block(&s(29), &t))),
        ("mp4 ffmpeg encoder only", false, Ok(mp4_with_metadata(&Mp4Meta { ilst: vec![(*b"\xa9too", "Lavf61.7.100")], ..Mp4Meta::default() }, 4096))),
        ("mov iphone", false, Ok(mp4_with_metadata(&Mp4Meta { keys: vec![("com.apple.quicktime.make", "Apple"), ("com.apple.quicktime.model", "iPhone 15 Pro"), ("com.apple.quicktime.software", "17.4.1")], ..Mp4Meta::default() }, 4096))),
        ("mp4 caption mentions grok", false, Ok(mp4_with_metadata(&Mp4Meta { ilst: vec![(*b"\xa9cmt", "Interview: is Grok fit for election questions?"), (*b"desc", "Local radio interview")], ..Mp4Meta::default() }, 4096))),
    ]
}
