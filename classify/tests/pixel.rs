//! The pixel model: a user's own ONNX model, pointed at by `[detectors.pixel_model]
//! manifest`, is the one the detector runs (a tiny model built here, byte by byte), and the
//! default CLIP probe loads and scores real images.

#[path = "support/render.rs"]
mod render;
#[path = "../../tests/common/tools.rs"]
mod tools;

use std::path::Path;

use ballotwatch_classify::detectors::media::pixel::{self, PixelModel};
use ballotwatch_classify::Detector;
use ballotwatch_core::{Item, Media, VerdictKind};
use ballotwatch_pipeline::Config;
use tools::Tool;

/// Protobuf encoding, just enough for an ONNX model.
/// Writes `ballotwatch.toml` into `dir` with the installed models and `detectors` (more keys
/// of the `[detectors]` table and its subtables), and loads it as the binary would.
fn load_config(dir: &Path, detectors: &str) -> Config {
    let path = dir.join("ballotwatch.toml");
    let text = format!(
        "data_dir = \"data\"\n[detectors]\nmodels_dir = \"{}\"\n{detectors}",
        tools::models_dir().display()
    );
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3, out);
    varint(v, out);
}
fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint((u64::from(field) << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A float tensor value-info with dims (a dim of `None` is the symbolic batch "N").
fn value_info(name: &str, dims: &[Option<u64>]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Some(v) => field_varint(1, *v, &mut dim),
            None => field_bytes(2, b"N", &mut dim),
        }
        field_bytes(1, &dim, &mut shape);
    }
    let mut tensor = Vec::new();
    field_varint(1, 1, &mut tensor); // elem_type FLOAT
    field_bytes(2, &shape, &mut tensor);
    let mut ty = Vec::new();
    field_bytes(1, &tensor, &mut ty);
    let mut vi = Vec::new();
    field_bytes(1, name.as_bytes(), &mut vi);
    field_bytes(2, &ty, &mut vi);
    vi
}

fn node(op: &str, input: &str, output: &str) -> Vec<u8> {
    let mut n = Vec::new();
    field_bytes(1, input.as_bytes(), &mut n);
    field_bytes(2, output.as_bytes(), &mut n);
    field_bytes(3, output.as_bytes(), &mut n);
    field_bytes(4, op.as_bytes(), &mut n);
    n
}

/// `image [N,3,8,8] → GlobalAveragePool → Flatten → scores [N,3]`: each output is the mean of
/// one input channel.
fn tiny_model() -> Vec<u8> {
    let mut graph = Vec::new();
    field_bytes(1, &node("GlobalAveragePool", "image", "pooled"), &mut graph);
    field_bytes(1, &node("Flatten", "pooled", "scores"), &mut graph);
    field_bytes(2, b"tiny", &mut graph);
    field_bytes(
        11,
        &value_info("image", &[None, Some(3), Some(8), Some(8)]),
        &mut graph,
    );
    field_bytes(12, &value_info("scores", &[None, Some(3)]), &mut graph);
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 13, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 8, &mut model); // ir_version
    field_bytes(8, &opset, &mut model);
    field_bytes(7, &graph, &mut model);
    model
}

/// A user manifest: "AI-generated" is output 2, which (mean 0, std 1, BGR order) is the
/// mean red level of the image.
const TINY_MANIFEST: &str = r#"
name = "tiny test model"
model = "tiny.onnx"
licence = "CC0-1.0"
note = "test model: the red level"
[preprocess]
size = 8
resize = "stretch"
crop = "none"
filter = "nearest"
channels = "bgr"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
[output_meaning]
kind = "probability"
index = 2
[verdict]
threshold = 0.6
max_score = 0.75
"#;

fn item_with(paths: &[&Path]) -> Item {
    Item {
        id: "img".into(),
        media: paths
            .iter()
            .map(|p| Media {
                path: Some(p.to_path_buf()),
                mime: Some("image/png".into()),
                sha256: Some("00".repeat(32)),
                ..Media::default()
            })
            .collect(),
        ..Item::default()
    }
}

#[test]
fn a_users_own_model_from_config_is_the_one_that_runs() {
    if !tools::needs(&[Tool::Models, Tool::DejaVuFont]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.onnx"), tiny_model()).unwrap();
    std::fs::write(dir.path().join("manifest.toml"), TINY_MANIFEST).unwrap();
    let config = load_config(
        dir.path(),
        "[detectors.pixel_model]\nmanifest = \"manifest.toml\"\n",
    );
    let detector = PixelModel::from_config(config.classify())
        .unwrap()
        .expect("enabled");
    assert!(
        detector.version().starts_with("tiny test model"),
        "{}",
        detector.version()
    );

    let red = dir.path().join("red.png");
    image::RgbImage::from_pixel(20, 10, image::Rgb([230, 10, 10]))
        .save(&red)
        .unwrap();
    let blue = dir.path().join("blue.png");
    image::RgbImage::from_pixel(20, 10, image::Rgb([10, 10, 230]))
        .save(&blue)
        .unwrap();

    // A notice is white (high red level) but mostly text: the OCR gate keeps it from the model.
    let notice = dir.path().join("notice.png");
    render::notice().save(&notice).unwrap();

    let verdicts = detector
        .detect(&item_with(&[&blue, &red, &notice]))
        .unwrap();
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let v = &verdicts[0];
    assert_eq!(v.kind, VerdictKind::SyntheticMedia);
    assert_eq!(v.label, pixel::LABEL);
    assert_eq!(v.evidence["media"], 1, "the red image");
    let p = v.evidence["probability"].as_f64().unwrap();
    assert!((p - 230.0 / 255.0).abs() < 1e-3, "{p}");
    assert_eq!(v.score, 0.75, "capped at max_score");
    assert!(
        v.explanation.starts_with("weak signal"),
        "{}",
        v.explanation
    );
    assert!(v.explanation.contains("test model: the red level"));
    assert_eq!(v.evidence["licence"], "CC0-1.0");

    // With the gate opened, the notice is scored too.
    let config = load_config(
        dir.path(),
        "[detectors.pixel_model]\nmanifest = \"manifest.toml\"\nmax_text_fraction = 1.0\n",
    );
    let detector = PixelModel::from_config(config.classify())
        .unwrap()
        .expect("enabled");
    let verdicts = detector
        .detect(&item_with(&[&blue, &red, &notice]))
        .unwrap();
    let media: Vec<u64> = verdicts
        .iter()
        .map(|v| v.evidence["media"].as_u64().unwrap())
        .collect();
    assert_eq!(media, [1, 2]);
}

#[test]
fn a_bad_manifest_or_model_is_refused_naming_the_file() {
    if !tools::needs(&[Tool::Models]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(&manifest, TINY_MANIFEST.replace("index = 2", "index = 7")).unwrap();
    std::fs::write(dir.path().join("tiny.onnx"), tiny_model()).unwrap();
    let config = load_config(
        dir.path(),
        "[detectors.pixel_model]\nmanifest = \"manifest.toml\"\n",
    );
    let err = PixelModel::from_config(config.classify())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("index 7"), "{err}");

    std::fs::write(
        &manifest,
        TINY_MANIFEST.replace("tiny.onnx", "missing.onnx"),
    )
    .unwrap();
    let err = PixelModel::from_config(config.classify())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("missing.onnx"), "{err}");
}

#[test]
fn the_default_clip_probe_loads_and_scores_pictures() {
    if !tools::needs(&[Tool::Models]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = load_config(dir.path(), "");
    let detector = PixelModel::from_config(config.classify())
        .unwrap()
        .expect("enabled");
    // Scores are probabilities and differ between different pictures.
    let noise = image::RgbImage::from_fn(300, 200, |x, y| {
        let v = ((x * 7919 + y * 104_729) % 251) as u8;
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
    });
    let sky = image::RgbImage::from_fn(300, 200, |_, y| image::Rgb([90, 140, 200 + (y / 8) as u8]));
    let t = [
        detector.tensor(&image::DynamicImage::ImageRgb8(noise)),
        detector.tensor(&image::DynamicImage::ImageRgb8(sky)),
    ];
    let p = detector.probabilities(&t).unwrap();
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{p:?}");
    assert!((p[0] - p[1]).abs() > 1e-4, "{p:?}");
    assert!(
        detector.version().contains("CLIP"),
        "{}",
        detector.version()
    );
}

/// The pixel model alone must not flag a camera photo: every photo in
/// `tests/eval/camera-photos/` (real photographs, CC0 or public domain, at two compressions; see
/// its README) scores below `[detectors.pixel_model] alone_threshold`. Prints each probability
/// (`-- --nocapture`).
#[test]
fn camera_photos_stay_below_the_alone_threshold() {
    if !tools::needs(&[Tool::Models]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = load_config(dir.path(), "");
    let alone = config.detectors.pixel_model.alone_threshold;
    let detector = PixelModel::from_config(config.classify())
        .unwrap()
        .expect("enabled");
    let photos = tools::workspace().join("tests/eval/camera-photos");
    let mut paths: Vec<_> = std::fs::read_dir(&photos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 20, "{}", photos.display());
    let tensors: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| {
            let img = ballotwatch_classify::media::decode_image(p).unwrap();
            detector.tensor(&img)
        })
        .collect();
    let probabilities = detector.probabilities(&tensors).unwrap();
    let mut over_report = 0;
    for (p, prob) in paths.iter().zip(&probabilities) {
        println!("{:<28} {prob:.3}", p.file_name().unwrap().to_string_lossy());
        if *prob >= 0.88 {
            over_report += 1;
        }
    }
    let max = probabilities.iter().copied().fold(0.0f32, f32::max);
    println!(
        "camera photos: {} of {} reported (p >= 0.88), highest {max:.3}; alone_threshold {alone}",
        over_report,
        paths.len()
    );
    assert!(
        max < alone,
        "a camera photo reaches the alone threshold: {max}"
    );
}
