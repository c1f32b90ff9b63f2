//! `cargo bench --bench media`: images/s through the provenance detector (C2PA, XMP, PNG text,
//! EXIF readers, no pixel decode) and through PDQ hashing for the known-fake detector (decode +
//! hash), each against the named baseline measured in the same run: a plain limited decode of
//! the same files with `classify::media::decode_image`.
//!
//! Files: 40 synthetic 640×480 pictures made here with the provenance fixture builders — 10
//! C2PA-signed JPEGs, 10 JPEGs with IPTC XMP, 10 PNGs with generator text chunks, 10 camera
//! JPEGs with EXIF — read `BENCH_MEDIA_ROUNDS` times (default 5).

use std::time::Instant;

use ballotwatch_classify::detectors::media::known_fakes::{
    pdq_hash, KnownFake, KnownFakeDetector, KnownFakeSet,
};
use ballotwatch_classify::detectors::media::provenance::fixtures::{self, ManifestSpec};
use ballotwatch_classify::detectors::media::provenance::ProvenanceDetector;
use ballotwatch_classify::media::decode_image;
use ballotwatch_classify::Detector;
use ballotwatch_core::{Item, Media};

fn main() {
    let rounds: usize = std::env::var("BENCH_MEDIA_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for i in 0..40u32 {
        let img = fixtures::scene(640, 480, i);
        let bytes = match i % 4 {
            0 => fixtures::sign_image(
                &fixtures::jpeg(&img).expect("jpeg"),
                "image/jpeg",
                &ManifestSpec {
                    generator: "ExampleGen Image".into(),
                    generator_version: "3.1".into(),
                    digital_source_type: "trainedAlgorithmicMedia".into(),
                    signer_name: "ExampleGen Labs".into(),
                    title: format!("{i}.jpg"),
                },
            )
            .expect("sign"),
            1 => fixtures::jpeg_with_xmp(&img, "trainedAlgorithmicMedia", "").expect("xmp"),
            2 => fixtures::png_with_text(
                &img,
                &[(
                    "parameters",
                    "a photo\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1",
                )],
            )
            .expect("png"),
            _ => fixtures::jpeg_with_exif(&img, "Canon", "Canon EOS R6", "Firmware 1.8.1")
                .expect("exif"),
        };
        let path = dir.path().join(format!("{i}.img"));
        std::fs::write(&path, bytes).expect("write");
        paths.push(path);
    }
    let items: Vec<Item> = paths
        .iter()
        .map(|p| Item {
            id: p.display().to_string(),
            media: vec![Media {
                path: Some(p.clone()),
                ..Media::default()
            }],
            ..Item::default()
        })
        .collect();
    let n = (paths.len() * rounds) as f64;

    let t = Instant::now();
    let mut pixels = 0u64;
    for _ in 0..rounds {
        for p in &paths {
            let img = decode_image(p).expect("decode");
            pixels += u64::from(img.width()) * u64::from(img.height());
        }
    }
    let decode = n / t.elapsed().as_secs_f64();

    let provenance = ProvenanceDetector::new();
    let t = Instant::now();
    let mut flagged = 0;
    for _ in 0..rounds {
        for item in &items {
            flagged += provenance.detect(item).expect("provenance").len();
        }
    }
    let prov = n / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut hashes = Vec::new();
    for _ in 0..rounds {
        hashes.clear();
        for p in &paths {
            hashes.push(pdq_hash(&decode_image(p).expect("decode")));
        }
    }
    let pdq = n / t.elapsed().as_secs_f64();

    // The whole known-fake detector against 1,000 confirmed fakes (a busy election).
    let set = KnownFakeSet::new();
    set.replace(
        (0..1000)
            .map(|i| KnownFake {
                id: i,
                pdq: hashes[(i as usize) % hashes.len()],
                sha256: format!("{i:064x}"),
                incident_id: i,
                media_url: None,
            })
            .collect(),
        1,
    );
    let known = KnownFakeDetector::new(set, 31);
    let t = Instant::now();
    for _ in 0..rounds {
        for item in &items {
            known.detect(item).expect("known fakes");
        }
    }
    let kf = n / t.elapsed().as_secs_f64();

    println!(
        "media bench: {} files x {rounds} rounds ({pixels} pixels decoded by the baseline)",
        paths.len()
    );
    println!("baseline  decode_image (limited decode)        {decode:>9.1} images/s");
    println!("provenance (C2PA+XMP+PNG text+EXIF, no decode) {prov:>9.1} images/s  = {:.2}x baseline  ({flagged} verdicts)", prov / decode);
    println!(
        "pdq       (decode + PDQ hash)                  {pdq:>9.1} images/s  = {:.2}x baseline",
        pdq / decode
    );
    println!(
        "known_fakes detector (1,000 confirmed fakes)   {kf:>9.1} images/s  = {:.2}x baseline",
        kf / decode
    );
}
