//! Building pictures that carry provenance metadata, for tests, the evaluation
//! (`examples/provenance_eval.rs`), the benchmark and the demo media only — Ballotwatch never
//! writes metadata into media it watches.
//!
//! [`sign_image`] embeds a C2PA manifest signed with a throw-away certificate chain the `c2pa` crate generates ([`c2pa::EphemeralSigner`]:
//! an Ed25519 CA and end-entity certificate with the key usages C2PA requires). Such a signature
//! validates but is never on a trust list, which is exactly what the detector must report
//! honestly. Ballotwatch never signs media in production.

use std::io::Cursor;

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
    use exif::experimental::Writer;
    use exif::{Field, In, Tag, Value};
    let fields: Vec<Field> = [
        (Tag::Make, make),
        (Tag::Model, model),
        (Tag::Software, software),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(tag, v)| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![v.as_bytes().to_vec()]),
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
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff.into_inner());
    insert_app1(&jpeg(img)?, &payload)
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

/// One evaluation fixture: name, whether it is AI-made, and its bytes (or why they could not be
/// built).
pub type Fixture = (&'static str, bool, Result<Vec<u8>, String>);

/// The provenance evaluation set (see `examples/provenance_eval.rs`): 9 AI-made pictures as
/// generators and editors label them, and 9 that are not (camera EXIF, edits, a signed camera
/// capture, plain files). Built in memory; C2PA ones are signed afresh each call.
pub fn eval_set() -> Vec<Fixture> {
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
        ("c2pa camera capture", false, sign_image(&plain_jpeg(10), "image/jpeg", &eval_spec("ExampleCam Firmware", "digitalCapture", "ExampleCam"))),
        ("exif canon", false, jpeg_with_exif(&s(11), "Canon", "Canon EOS R6", "Firmware Version 1.8.1")),
        ("exif nikon", false, jpeg_with_exif(&s(12), "NIKON CORPORATION", "NIKON Z 6", "Ver.01.00")),
        ("exif iphone", false, jpeg_with_exif(&s(13), "Apple", "iPhone 15 Pro", "17.4.1")),
        ("exif photoshop edit", false, jpeg_with_exif(&s(14), "SONY", "ILCE-7M4", "Adobe Photoshop 25.0 (Windows)")),
        ("png gimp", false, png_with_text(&s(15), &[("Software", "GIMP 2.10.36"), ("Comment", "Created with GIMP")])),
        ("xmp lightroom capture", false, jpeg_with_xmp(&s(16), "digitalCapture", "Adobe Lightroom Classic 13.2")),
        ("plain jpeg", false, jpeg(&s(17))),
        ("plain png", false, png_with_text(&s(18), &[])),
    ]
}
