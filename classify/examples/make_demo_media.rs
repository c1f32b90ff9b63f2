//! `cargo run -p ballotwatch-classify --example make_demo_media -- demo/media`: writes the demo's
//! three pictures (see `demo/media/README.md`):
//!
//! - `ai-polling-station.jpg`: a synthetic picture carrying a C2PA manifest whose `c2pa.created`
//!   action declares `trainedAlgorithmicMedia`, claim generator "ExampleGen Image 3.1", signed
//!   with a throw-away certificate the `c2pa` crate generates (common name "ExampleGen Labs").
//! - `camera-count.jpg`: an ordinary JPEG with camera EXIF (Make "Canon", Model "Canon EOS R6",
//!   Software "Firmware Version 1.8.1"), no generator anywhere.
//! - `hustings.jpg`: the same kind of ordinary picture (Make "NIKON CORPORATION", Model "NIKON
//!   Z 6_2"), the local paper's photo of a hustings.

use std::path::PathBuf;

use ballotwatch_classify::detectors::media::provenance::fixtures::{self, ManifestSpec};

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "demo/media".into()),
    );
    let run = || -> Result<(), String> {
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let ai = fixtures::jpeg(&fixtures::scene(640, 426, 1))?;
        let signed = fixtures::sign_image(
            &ai,
            "image/jpeg",
            &ManifestSpec {
                generator: "ExampleGen Image".into(),
                generator_version: "3.1".into(),
                digital_source_type: "trainedAlgorithmicMedia".into(),
                signer_name: "ExampleGen Labs".into(),
                title: "ai-polling-station.jpg".into(),
            },
        )?;
        let camera = fixtures::jpeg_with_exif(
            &fixtures::scene(640, 426, 5),
            "Canon",
            "Canon EOS R6",
            "Firmware Version 1.8.1",
        )?;
        let hustings = fixtures::jpeg_with_exif(
            &fixtures::scene(640, 426, 9),
            "NIKON CORPORATION",
            "NIKON Z 6_2",
            "Ver.01.60",
        )?;
        for (name, bytes) in [
            ("ai-polling-station.jpg", signed),
            ("camera-count.jpg", camera),
            ("hustings.jpg", hustings),
        ] {
            let path = out.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(3);
    }
}
