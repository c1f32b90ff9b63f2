//! `cargo bench --bench ocr`: images/s through OCR (`Ocr::read`: scale, detect, boxes,
//! crops, recognise, decode) and through the pixel model (`PixelModel::detect`: decode, OCR
//! gate, CLIP preprocessing, encoder, probe), each against the baseline of raw
//! `Session::run` on the same, pre-built tensors, in one run; and peak RSS.
//!
//! OCR reads `demo/media/fake-notice.png` (a 960-pixel-wide six-line notice); the pixel model
//! scores a 640×480 synthetic photo-like picture. `BENCH_MEDIA_ROUNDS` (default 5) images each.
//! Needs `models/install`.

use std::path::Path;
use std::time::Instant;

use ballotwatch_classify::detectors::media::ocr::{self, Ocr};
use ballotwatch_classify::detectors::media::pixel::PixelModel;
use ballotwatch_classify::media::decode_image;
use ballotwatch_classify::Detector;
use ballotwatch_core::{Item, Media};
use ballotwatch_pipeline::Config;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn report(what: &str, n: usize, raw: f64, full: f64) {
    let n = n as f64;
    println!(
        "  {what}: raw Session::run on the same tensors (baseline) {:>7.2} images/s ({:>6.1} ms/image)  1.00x",
        n / raw,
        1000.0 * raw / n
    );
    println!(
        "  {what}: full path                                       {:>7.2} images/s ({:>6.1} ms/image)  {:.2}x baseline",
        n / full,
        1000.0 * full / n,
        raw / full
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("models");
    let config = Config::from_toml(
        &format!(
            "data_dir = \".\"\n[detectors]\nmodels_dir = \"{}\"\n",
            models.display()
        ),
        Path::new("<bench>"),
    )
    .expect("bench config");
    let rounds: usize = std::env::var("BENCH_MEDIA_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    let started = Instant::now();
    let ocr_engine = Ocr::shared(&models, &config.detectors).expect("OCR (run models/install)");
    let pixel = PixelModel::from_config(config.classify())
        .expect("pixel model (run models/install)")
        .expect("enabled");
    println!(
        "start-up (OCR det + rec sessions, pixel model session): {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // OCR. Baseline: the detection tensor `read` builds and recognition batches of the crops of
    // the lines it read (their integer boxes), made up front.
    let notice = decode_image(&root.join("demo/media/fake-notice.png")).expect("demo notice");
    let out = ocr_engine.read(&notice).expect("ocr");
    println!(
        "OCR of a {}×{} notice: {} lines, text fraction {:.2}",
        notice.width(),
        notice.height(),
        out.lines.len(),
        out.text_fraction
    );
    let rgb = notice.to_rgb8();
    let det = ocr_engine.det_input(&rgb);
    let crops: Vec<_> = out
        .lines
        .iter()
        .map(|l| {
            let [x0, y0, x1, y1] = l.bbox;
            image::imageops::crop_imm(&rgb, x0, y0, x1 - x0, y1 - y0).to_image()
        })
        .collect();
    let batches = ocr::rec_batches(&crops);
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(ocr_engine.run_det(&det).expect("det"));
        for (_, b) in &batches {
            std::hint::black_box(ocr_engine.run_rec(b).expect("rec"));
        }
    }
    let raw = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(ocr_engine.read(&notice).expect("ocr"));
    }
    let full = t.elapsed().as_secs_f64();
    report("OCR", rounds, raw, full);

    // Pixel model on a photo-like picture (not mostly text, so it is scored).
    let dir = tempfile::tempdir().expect("temp dir");
    let photo_path = dir.path().join("photo.png");
    let photo = image::RgbImage::from_fn(640, 480, |x, y| {
        let n = ((x * 7919 + y * 104_729) % 61) as u8;
        image::Rgb([(x / 4) as u8 + n, (y / 3) as u8 + n, 140u8.wrapping_add(n)])
    });
    photo.save(&photo_path).expect("write photo");
    let item = Item {
        id: "photo".into(),
        media: vec![Media {
            path: Some(photo_path.clone()),
            mime: Some("image/png".into()),
            ..Media::default()
        }],
        ..Item::default()
    };
    let tensor = pixel.tensor(&image::DynamicImage::ImageRgb8(photo));
    let p = pixel
        .probabilities(std::slice::from_ref(&tensor))
        .expect("run");
    let _ = pixel.detect(&item).expect("detect");
    println!("pixel model on a 640×480 picture: probability {:.3}", p[0]);
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(
            pixel
                .probabilities(std::slice::from_ref(&tensor))
                .expect("run"),
        );
    }
    let raw = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(pixel.detect(&item).expect("detect"));
    }
    let full = t.elapsed().as_secs_f64();
    report("pixel model (OCR gate cached)", rounds, raw, full);

    if let Some(kib) = peak_rss_kib() {
        println!("  peak RSS {:.0} MiB", kib as f64 / 1024.0);
    }
}
