use super::fixtures::{self, ManifestSpec};
use super::*;
use ballotwatch_core::Media;
use std::path::Path;

fn spec(term: &str) -> ManifestSpec {
    ManifestSpec {
        generator: "ExampleGen Image".into(),
        generator_version: "3.1".into(),
        digital_source_type: term.into(),
        signer_name: "ExampleGen Labs".into(),
        title: "test.jpg".into(),
    }
}

fn item(path: &Path) -> Item {
    Item {
        id: "i".into(),
        media: vec![Media {
            path: Some(path.to_path_buf()),
            url: Some("https://x.example/p.jpg".into()),
            ..Media::default()
        }],
        ..Item::default()
    }
}

fn detect(dir: &Path, name: &str, bytes: &[u8]) -> Vec<Verdict> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    ProvenanceDetector::new().detect(&item(&path)).unwrap()
}

#[test]
fn c2pa_ai_manifest_is_flagged_naming_generator_and_signer() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = fixtures::jpeg(&fixtures::scene(320, 240, 1)).unwrap();
    let signed =
        fixtures::sign_image(&jpeg, "image/jpeg", &spec("trainedAlgorithmicMedia")).unwrap();
    let v = detect(dir.path(), "ai.jpg", &signed);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].label, "ai_generated_provenance");
    assert_eq!(v[0].kind, VerdictKind::SyntheticMedia);
    assert_eq!(v[0].score, 0.97);
    let e = &v[0].explanation;
    assert!(e.contains("ExampleGen Image 3.1"), "{e}");
    assert!(e.contains("trainedAlgorithmicMedia"), "{e}");
    assert!(e.contains("signed by ExampleGen Labs"), "{e}");
    assert!(e.contains("not on a trust list"), "{e}");
    assert_eq!(v[0].evidence["signals"][0]["source"], "c2pa");
    assert_eq!(v[0].evidence["signals"][0]["validation"], "valid");

    // Also in a PNG.
    let png = fixtures::png_with_text(&fixtures::scene(64, 64, 2), &[]).unwrap();
    let signed = fixtures::sign_image(
        &png,
        "image/png",
        &spec("compositeWithTrainedAlgorithmicMedia"),
    )
    .unwrap();
    let v = detect(dir.path(), "ai.png", &signed);
    assert_eq!(v[0].score, 0.93, "{v:?}");
}

#[test]
fn c2pa_camera_capture_is_a_reason_to_trust_and_never_flags() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = fixtures::jpeg(&fixtures::scene(320, 240, 3)).unwrap();
    let mut s = spec("digitalCapture");
    s.generator = "ExampleCam Firmware".into();
    let signed = fixtures::sign_image(&jpeg, "image/jpeg", &s).unwrap();
    let v = detect(dir.path(), "cam.jpg", &signed);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].label, "camera_capture_provenance");
    assert_eq!(v[0].score, 0.0);
    assert!(
        v[0].explanation.contains("reason to trust"),
        "{}",
        v[0].explanation
    );
}

#[test]
fn c2pa_manifest_on_altered_pixels_is_reported_as_not_validating() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = fixtures::jpeg(&fixtures::scene(320, 240, 4)).unwrap();
    let mut signed =
        fixtures::sign_image(&jpeg, "image/jpeg", &spec("trainedAlgorithmicMedia")).unwrap();
    // Flip bytes near the end of the entropy-coded data (before the EOI marker).
    let n = signed.len();
    for b in &mut signed[n - 40..n - 30] {
        *b ^= 0x55;
    }
    let v = detect(dir.path(), "tampered.jpg", &signed);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].score, 0.85);
    assert!(
        v[0].explanation.contains("does NOT validate"),
        "{}",
        v[0].explanation
    );

    // A camera claim that does not validate is no reason to trust.
    let mut s = spec("digitalCapture");
    s.generator = "ExampleCam".into();
    let mut signed = fixtures::sign_image(&jpeg, "image/jpeg", &s).unwrap();
    let n = signed.len();
    for b in &mut signed[n - 40..n - 30] {
        *b ^= 0x55;
    }
    assert!(detect(dir.path(), "tampered-cam.jpg", &signed).is_empty());
}

#[test]
fn xmp_digital_source_type_and_creator_tool() {
    let dir = tempfile::tempdir().unwrap();
    let img = fixtures::scene(200, 150, 5);
    let v = detect(
        dir.path(),
        "xmp.jpg",
        &fixtures::jpeg_with_xmp(&img, "trainedAlgorithmicMedia", "Photo Editor 2").unwrap(),
    );
    assert_eq!(v[0].score, 0.90, "{v:?}");
    assert!(v[0]
        .explanation
        .contains("DigitalSourceType trainedAlgorithmicMedia"));
    let v = detect(
        dir.path(),
        "tool.jpg",
        &fixtures::jpeg_with_xmp(&img, "digitalCapture", "Midjourney v6").unwrap(),
    );
    assert_eq!(v[0].score, 0.80, "{v:?}");
    assert!(
        v[0].explanation.contains("Midjourney v6"),
        "{}",
        v[0].explanation
    );
}

#[test]
fn png_generator_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let img = fixtures::scene(64, 64, 6);
    let a1111 = fixtures::png_with_text(
        &img,
        &[("parameters", "queue outside polling station, photo\nSteps: 28, Sampler: Euler a, CFG scale: 7, Seed: 1234, Model: sdxl_base")],
    )
    .unwrap();
    let v = detect(dir.path(), "sd.png", &a1111);
    assert_eq!(v[0].score, 0.85, "{v:?}");
    assert!(
        v[0].explanation.contains("`parameters`"),
        "{}",
        v[0].explanation
    );
    assert!(
        v[0].explanation.contains("Steps: 28"),
        "{}",
        v[0].explanation
    );

    let comfy = fixtures::png_with_text(
        &img,
        &[(
            "prompt",
            r#"{"3": {"class_type": "KSampler", "inputs": {"seed": 5}}}"#,
        )],
    )
    .unwrap();
    assert_eq!(detect(dir.path(), "comfy.png", &comfy)[0].score, 0.85);

    let bare = fixtures::png_with_text(&img, &[("parameters", "hello")]).unwrap();
    assert_eq!(detect(dir.path(), "bare.png", &bare)[0].score, 0.60);

    let ordinary =
        fixtures::png_with_text(&img, &[("Software", "GIMP 2.10"), ("Author", "Jo")]).unwrap();
    assert!(detect(dir.path(), "gimp.png", &ordinary).is_empty());
}

#[test]
fn exif_software_naming_a_generator_flags_but_a_camera_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let img = fixtures::scene(200, 150, 7);
    let gen = fixtures::jpeg_with_exif(&img, "", "", "Adobe Firefly").unwrap();
    let v = detect(dir.path(), "ff.jpg", &gen);
    assert_eq!(v[0].score, 0.80, "{v:?}");
    assert!(
        v[0].explanation.contains("EXIF Software \"Adobe Firefly\""),
        "{}",
        v[0].explanation
    );

    let camera =
        fixtures::jpeg_with_exif(&img, "Canon", "Canon EOS R6", "Firmware Version 1.8.1").unwrap();
    assert!(detect(dir.path(), "cam.jpg", &camera).is_empty());
    let edited = fixtures::jpeg_with_exif(
        &img,
        "NIKON CORPORATION",
        "NIKON Z 6",
        "Adobe Photoshop 25.0 (Windows)",
    )
    .unwrap();
    assert!(detect(dir.path(), "ps.jpg", &edited).is_empty());
    assert!(detect(dir.path(), "plain.jpg", &fixtures::jpeg(&img).unwrap()).is_empty());
}

#[test]
fn unreadable_and_non_image_media() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.jpg");
    let e = ProvenanceDetector::new()
        .detect(&item(&missing))
        .unwrap_err();
    assert!(e.message.contains("gone.jpg"), "{e}");
    // Garbage bytes carrying the `c2pa` label are not a manifest: no verdict, no error.
    assert!(detect(dir.path(), "junk.jpg", b"\xff\xd8\xff junk c2pa jumb junk").is_empty());
    // Media declared as neither an image nor an MP4/MOV video are skipped.
    for mime in ["video/webm", "application/pdf"] {
        let mut it = item(&missing);
        it.media[0].mime = Some(mime.into());
        assert!(ProvenanceDetector::new().detect(&it).unwrap().is_empty());
    }
    let mut it = item(&missing);
    it.media[0].mime = Some("video/mp4".into());
    assert!(
        ProvenanceDetector::new().detect(&it).is_err(),
        "MP4 is examined"
    );
}

#[test]
fn eval_set_every_ai_picture_flags_and_no_other_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, (name, is_ai, bytes)) in fixtures::eval_set().into_iter().enumerate() {
        let v = detect(dir.path(), &format!("{i}.img"), &bytes.unwrap());
        let flagged = v.iter().any(|v| v.score >= 0.5);
        if flagged != is_ai {
            wrong.push(format!("{name}: {v:?}"));
        }
    }
    assert!(wrong.is_empty(), "misclassified: {wrong:#?}");
}

/// One test per generator field the readers missed before (issue 20): each flags, and says
/// where it was found.
#[test]
fn generator_fields_in_every_container() {
    use fixtures::{ExifTag as T, Mp4Meta};
    let dir = tempfile::tempdir().unwrap();
    let img = fixtures::scene(48, 32, 3);
    let cases: Vec<(&str, Vec<u8>, f32, &str)> = vec![
        (
            "comfy.webp",
            fixtures::webp_with_exif(
                &[img.clone(), fixtures::scene(48, 32, 4)],
                &fixtures::exif_block(&[
                    (T::Make, fixtures::COMFY_WORKFLOW),
                    (T::Model, fixtures::COMFY_PROMPT),
                ])
                .unwrap(),
                false,
            )
            .unwrap(),
            0.85,
            "EXIF Make holds ComfyUI generation settings",
        ),
        (
            "a1111.webp",
            fixtures::webp_with_exif(
                std::slice::from_ref(&img),
                &fixtures::exif_block(&[(T::UserComment, fixtures::A1111)]).unwrap(),
                true,
            )
            .unwrap(),
            0.85,
            "EXIF UserComment holds Stable Diffusion web UI (A1111/Forge) generation settings",
        ),
        (
            "a1111.jpg",
            fixtures::jpeg_with_exif_block(
                &img,
                &fixtures::exif_block(&[(T::UserComment, fixtures::A1111)]).unwrap(),
            )
            .unwrap(),
            0.85,
            "EXIF UserComment holds",
        ),
        (
            "comment.jpg",
            fixtures::jpeg_with_comment(&img, fixtures::A1111).unwrap(),
            0.85,
            "JPEG Comment holds",
        ),
        (
            "model.jpg",
            fixtures::jpeg_with_exif(&img, "OpenAI", "Sora", "").unwrap(),
            0.80,
            "names the generator",
        ),
        (
            "google.jpg",
            fixtures::jpeg_with_exif_block(
                &img,
                &fixtures::exif_block(&[(T::ImageDescription, "Made with Google AI")]).unwrap(),
            )
            .unwrap(),
            0.80,
            "EXIF ImageDescription \"Made with Google AI\"",
        ),
        (
            "comfy.mp4",
            fixtures::mp4_with_metadata(
                &Mp4Meta {
                    keys: vec![("prompt", fixtures::COMFY_PROMPT_JSON)],
                    ..Mp4Meta::default()
                },
                64,
            ),
            0.85,
            "MP4 prompt holds ComfyUI generation settings",
        ),
        (
            "sora.mov",
            fixtures::mp4_with_metadata(
                &Mp4Meta {
                    udta: vec![(*b"\xa9swr", "Sora 2")],
                    ..Mp4Meta::default()
                },
                64,
            ),
            0.80,
            "MP4 ©swr \"Sora 2\" names the generator sora",
        ),
        (
            "too.mp4",
            fixtures::mp4_with_metadata(
                &Mp4Meta {
                    ilst: vec![(*b"\xa9too", "Runway Gen-4")],
                    ..Mp4Meta::default()
                },
                64,
            ),
            0.80,
            "MP4 ©too",
        ),
    ];
    for (name, bytes, score, says) in cases {
        let v = detect(dir.path(), name, &bytes);
        assert_eq!(v.len(), 1, "{name}: {v:?}");
        assert_eq!(v[0].score, score, "{name}: {v:?}");
        assert!(
            v[0].explanation.contains(says),
            "{name}: {}",
            v[0].explanation
        );
    }
    // A video's explanation calls it a video.
    let v = detect(
        dir.path(),
        "v.mp4",
        &fixtures::mp4_with_metadata(
            &Mp4Meta {
                udta: vec![(*b"\xa9swr", "Sora")],
                ..Mp4Meta::default()
            },
            8,
        ),
    );
    assert!(
        v[0].explanation.starts_with("video "),
        "{}",
        v[0].explanation
    );
}
