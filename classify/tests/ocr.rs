//! OCR end to end on a rendered English notice, with the real PP-OCRv6 models (installed by
//! `models/install`) and a DejaVu font (Debian `fonts-dejavu-core`).

#[path = "support/render.rs"]
mod render;
#[path = "../../tests/common/tools.rs"]
mod tools;

use ballotwatch_classify::detectors::media::ocr::Ocr;
use ballotwatch_classify::DetectorsConfig;
use tools::Tool;

fn accuracy(expected: &str, got: &str) -> f64 {
    let d = strsim::levenshtein(expected, got) as f64;
    1.0 - d / expected.chars().count() as f64
}

#[test]
fn a_rendered_notice_is_read_back_with_at_least_95_percent_character_accuracy() {
    if !tools::needs(&[Tool::Models, Tool::DejaVuFont]) {
        return;
    }
    let ocr = Ocr::shared(&tools::models_dir(), &DetectorsConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let img = image::DynamicImage::ImageRgb8(render::notice());
    let out = ocr.read(&img).unwrap();
    let got = out.text();
    let expected = render::notice_text();
    let acc = accuracy(&expected, &got);
    println!(
        "read:\n{got}\naccuracy {acc:.4}, text fraction {:.3}",
        out.text_fraction
    );
    assert!(acc >= 0.95, "accuracy {acc:.4}; read:\n{got}");
    assert_eq!(out.lines.len(), render::NOTICE.len(), "{:?}", out.lines);
    assert!(out
        .lines
        .iter()
        .all(|l| l.score > 0.5 && l.bbox[2] > l.bbox[0]));
    assert!(
        out.text_fraction > 0.2 && out.text_fraction < 0.9,
        "{}",
        out.text_fraction
    );
}

#[test]
fn a_notice_in_a_camera_sized_photo_is_read_at_the_default_max_side() {
    if !tools::needs(&[Tool::Models, Tool::DejaVuFont]) {
        return;
    }
    let ocr = Ocr::shared(&tools::models_dir(), &DetectorsConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    // A poster a fifth of the width of a 4000×3000 photo: the detector sees the photo scaled to
    // `max_side`, and the recogniser reads each line from the full-size picture.
    let notice = render::notice();
    let (w, h) = (4000u32, 3000u32);
    let mut photo = image::RgbImage::from_pixel(w, h, image::Rgb([90, 120, 140]));
    let nw = w / 5;
    let nh = notice.height() * nw / notice.width();
    let poster = image::imageops::resize(&notice, nw, nh, image::imageops::FilterType::Triangle);
    image::imageops::overlay(&mut photo, &poster, i64::from(w / 5), i64::from(h / 4));
    let out = ocr.read(&image::DynamicImage::ImageRgb8(photo)).unwrap();
    let got = out.text();
    let acc = accuracy(&render::notice_text(), &got);
    assert!(acc >= 0.95, "accuracy {acc:.4}; read:\n{got}");
}

#[test]
fn a_picture_without_text_reads_nothing() {
    if !tools::needs(&[Tool::Models]) {
        return;
    }
    let ocr = Ocr::shared(&tools::models_dir(), &DetectorsConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    // A smooth gradient: no strokes, no text.
    let img = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([(x * 255 / 400) as u8, (y * 255 / 300) as u8, 128])
    });
    let out = ocr.read(&image::DynamicImage::ImageRgb8(img)).unwrap();
    assert!(out.lines.is_empty(), "{:?}", out.lines);
    assert!(out.text_fraction < 0.05);
}

#[test]
fn the_dictionary_covers_latin_letters_digits_and_punctuation() {
    if !tools::needs(&[Tool::Models]) {
        return;
    }
    let ocr = Ocr::shared(&tools::models_dir(), &DetectorsConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let dict = ocr.dictionary();
    assert_eq!(dict[0], "", "index 0 is the CTC blank");
    assert_eq!(dict.last().map(String::as_str), Some(" "));
    for c in "ABCZabcz0189.,:;!?'\"-()£@".chars() {
        assert!(
            dict.iter().any(|d| d == &c.to_string()),
            "dictionary lacks {c:?}"
        );
    }
}

#[test]
fn read_file_caches_and_names_bad_files() {
    if !tools::needs(&[Tool::Models, Tool::DejaVuFont]) {
        return;
    }
    let ocr = Ocr::shared(&tools::models_dir(), &DetectorsConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notice.png");
    render::notice().save(&path).unwrap();
    let a = ocr.read_file(&path).unwrap();
    let b = ocr.read_file(&path).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "second read is the cached result"
    );
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not an image").unwrap();
    let err = ocr.read_file(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            ballotwatch_classify::detectors::media::ocr::OcrError::Decode(_)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad.png"), "{err}");
}
