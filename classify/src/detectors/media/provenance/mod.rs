//! Provenance (`label: "ai_generated_provenance"`): what an image's own metadata says about how
//! it was made. Read from `media[].path` only, never fetched, and without decoding pixels:
//!
//! | signal | score | why |
//! | --- | --- | --- |
//! | C2PA manifest (active) declaring `trainedAlgorithmicMedia`, signature valid | 0.97 | a signed statement by the tool that made it |
//! | … `compositeWithTrainedAlgorithmicMedia`, signature valid | 0.93 | signed: partly AI-made |
//! | an ingredient's C2PA manifest declaring an AI source type | 0.90 | an AI-made picture was edited into this one |
//! | IPTC XMP `DigitalSourceType` = `trainedAlgorithmicMedia` (no C2PA) | 0.90 | the standard label generators write, but unsigned |
//! | C2PA AI claim whose signature or hashes do **not** validate | 0.85 | still a claim of AI origin; the file changed after signing |
//! | XMP `compositeWithTrainedAlgorithmicMedia` | 0.85 | unsigned, partly AI |
//! | PNG text chunk with generation settings (A1111 `parameters`, ComfyUI `prompt`/`workflow`, InvokeAI) | 0.85 | only generators write these, but anyone can add one |
//! | EXIF `Software` / XMP `CreatorTool` / PNG `Software` naming a generator | 0.80 | a single free-text field |
//! | `algorithmicMedia` / `compositeSynthetic` (C2PA or XMP) | 0.75 / 0.70 | synthetic, not necessarily a trained model |
//! | generator chunk keyword without settings | 0.60 | weak |
//!
//! A picture with a valid C2PA manifest declaring a capture (`digitalCapture`,
//! `computationalCapture`, …) and no AI signal gets a `camera_capture_provenance` verdict with
//! score 0: it never flags, and its explanation tells the officer it is a reason to trust the
//! picture. Metadata is easy to strip, so the absence of every signal says nothing.

pub mod fixtures;
pub mod manifest;
pub mod metadata;

use ballotwatch_core::{Item, Verdict, VerdictKind};

use crate::{Detector, DetectorError};

/// Largest media file examined (bytes); larger files are an error naming the file.
pub const MAX_FILE: u64 = 100 * 1024 * 1024;

/// IPTC terms meaning the picture is (partly) made by a generative model, with the score for a
/// valid C2PA claim and for an unsigned XMP claim.
fn ai_term_scores(term: &str) -> Option<(f32, f32)> {
    match term {
        "trainedAlgorithmicMedia" => Some((0.97, 0.90)),
        "compositeWithTrainedAlgorithmicMedia" => Some((0.93, 0.85)),
        "algorithmicMedia" => Some((0.75, 0.75)),
        "compositeSynthetic" => Some((0.70, 0.70)),
        _ => None,
    }
}

/// IPTC terms meaning a capture by a camera (or scanner / screen capture of a real thing).
fn is_capture_term(term: &str) -> bool {
    matches!(
        term,
        "digitalCapture"
            | "computationalCapture"
            | "negativeFilm"
            | "positiveFilm"
            | "print"
            | "compositeCapture"
            | "minorHumanEdits"
    )
}

/// One signal found in a file.
#[derive(Debug, Clone)]
struct Signal {
    score: f32,
    sentence: String,
    evidence: serde_json::Value,
}

/// Everything the provenance readers found in one file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    ai: Vec<Signal>,
    capture: Option<Signal>,
    /// Why the C2PA store, present but unreadable, was skipped.
    pub c2pa_error: Option<String>,
}

impl Report {
    /// The highest AI-origin score found, if any.
    pub fn ai_score(&self) -> Option<f32> {
        self.ai.iter().map(|s| s.score).reduce(f32::max)
    }

    /// True when a valid C2PA manifest declares a capture and nothing says AI.
    pub fn is_trusted_capture(&self) -> bool {
        self.ai.is_empty() && self.capture.is_some()
    }
}

fn signer_phrase(f: &manifest::C2paFindings) -> String {
    let who = f.signer.as_deref().unwrap_or("an unnamed signer");
    match f.validation {
        "trusted" => format!("signed by {who} (signature valid, signer on a trust list)"),
        "valid" => format!("signed by {who} (signature valid; signer not on a trust list)"),
        _ => format!(
            "signed by {who}, but it does NOT validate ({}): the file was changed after signing or the signature is broken",
            if f.failures.is_empty() {
                "invalid".to_string()
            } else {
                f.failures.join(", ")
            }
        ),
    }
}

/// Examines one file's bytes.
pub fn examine(bytes: &[u8]) -> Report {
    let mut report = Report::default();
    match manifest::read(bytes) {
        Ok(Some(f)) => {
            let valid = f.validation != "invalid";
            let generator = f.generator.as_deref().unwrap_or("an unnamed tool");
            let c2pa_evidence = |term: &str, action: &str, active: bool| {
                serde_json::json!({
                    "source": "c2pa",
                    "digital_source_type": term,
                    "action": action,
                    "active_manifest": active,
                    "claim_generator": f.generator,
                    "signer": f.signer,
                    "issuer": f.issuer,
                    "signed_at": f.signed_at,
                    "validation": f.validation,
                    "failures": f.failures,
                })
            };
            for st in &f.source_types {
                if let Some((signed, _)) = ai_term_scores(&st.term) {
                    let score = match (st.active, valid) {
                        (_, false) => signed.min(0.85),
                        (true, true) => signed,
                        (false, true) => signed.min(0.90),
                    };
                    let sentence = if st.active {
                        format!(
                            "C2PA manifest {}: created by {generator}, {} ({})",
                            signer_phrase(&f),
                            st.term,
                            st.action
                        )
                    } else {
                        format!(
                            "C2PA manifest {} (made with {generator}) includes an ingredient declared {} ({})",
                            signer_phrase(&f),
                            st.term,
                            st.action
                        )
                    };
                    report.ai.push(Signal {
                        score,
                        sentence,
                        evidence: c2pa_evidence(&st.term, &st.action, st.active),
                    });
                }
            }
            if valid {
                if let Some(st) = f
                    .source_types
                    .iter()
                    .find(|s| s.active && is_capture_term(&s.term))
                {
                    report.capture = Some(Signal {
                        score: 0.0,
                        sentence: format!(
                            "C2PA manifest {}: captured with {generator}, {} ({}) — a reason to trust this picture",
                            signer_phrase(&f),
                            st.term,
                            st.action
                        ),
                        evidence: c2pa_evidence(&st.term, &st.action, true),
                    });
                }
            }
        }
        Ok(None) => {}
        Err(e) => report.c2pa_error = Some(e),
    }
    if let Some(xmp) = metadata::xmp_from_bytes(bytes) {
        if let Some(term) = &xmp.digital_source_type {
            if let Some((_, unsigned)) = ai_term_scores(term) {
                report.ai.push(Signal {
                    score: unsigned,
                    sentence: format!(
                        "XMP metadata (unsigned) declares IPTC DigitalSourceType {term}"
                    ),
                    evidence: serde_json::json!({"source": "xmp", "digital_source_type": term}),
                });
            }
        }
        if let Some(tool) = &xmp.creator_tool {
            if let Some(g) = metadata::generator_named(tool) {
                report.ai.push(Signal {
                    score: 0.80,
                    sentence: format!("XMP CreatorTool \"{}\" names the image generator {g}", metadata::quote(tool)),
                    evidence: serde_json::json!({"source": "xmp", "creator_tool": tool, "generator": g}),
                });
            }
        }
    }
    for chunk in metadata::png_text_chunks(bytes) {
        if let Some(g) = metadata::generator_chunk(&chunk) {
            let (score, what) = if g.keyword == "Software"
                || g.keyword == "Description"
                || g.keyword == "Title"
                || g.keyword == "Source"
                || (g.keyword == "Comment" && !g.has_settings)
            {
                (
                    0.80,
                    format!(
                        "PNG {} text \"{}\" names the image generator {}",
                        g.keyword, g.quote, g.tool
                    ),
                )
            } else if g.has_settings {
                (
                    0.85,
                    format!(
                        "PNG `{}` text chunk holds {} generation settings: \"{}\"",
                        g.keyword, g.tool, g.quote
                    ),
                )
            } else {
                (0.60, format!("PNG `{}` text chunk, as written by {}, but without generation settings: \"{}\"", g.keyword, g.tool, g.quote))
            };
            report.ai.push(Signal {
                score,
                sentence: what,
                evidence: serde_json::json!({"source": "png_text", "keyword": g.keyword, "tool": g.tool, "has_settings": g.has_settings, "quote": g.quote}),
            });
        }
    }
    if let Some(exif) = metadata::exif_origin(bytes) {
        if let Some(sw) = &exif.software {
            if let Some(g) = metadata::generator_named(sw) {
                report.ai.push(Signal {
                    score: 0.80,
                    sentence: format!("EXIF Software \"{}\" names the image generator {g}", metadata::quote(sw)),
                    evidence: serde_json::json!({"source": "exif", "software": sw, "make": exif.make, "model": exif.model, "generator": g}),
                });
            }
        }
    }
    report
}

/// The provenance detector.
#[derive(Debug, Default)]
pub struct ProvenanceDetector;

fn err(message: String) -> DetectorError {
    DetectorError {
        detector: "provenance".into(),
        message,
    }
}

impl ProvenanceDetector {
    /// The detector (it needs no configuration).
    pub fn new() -> ProvenanceDetector {
        ProvenanceDetector
    }
}

/// Reads a media file for examination, refusing files over [`MAX_FILE`].
pub fn read_media(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if len > MAX_FILE {
        return Err(format!(
            "{} is too large to examine ({len} bytes; the limit is {} MiB)",
            path.display(),
            MAX_FILE / (1024 * 1024)
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl Detector for ProvenanceDetector {
    fn name(&self) -> &'static str {
        "provenance"
    }

    fn version(&self) -> String {
        "provenance-1 (c2pa 0.90.22, IPTC XMP, PNG text chunks, EXIF)".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let mut out = Vec::new();
        for media in item
            .media
            .iter()
            .filter(|m| m.mime.as_deref().is_none_or(|t| t.starts_with("image/")))
        {
            let Some(path) = &media.path else { continue };
            let bytes = read_media(path).map_err(err)?;
            let report = examine(&bytes);
            let shown = media
                .url
                .clone()
                .unwrap_or_else(|| path.display().to_string());
            let sha = media.sha256.clone().unwrap_or_else(|| {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&bytes))
            });
            if let Some(c2pa_error) = &report.c2pa_error {
                tracing::info!(media = %shown, error = %c2pa_error, "unreadable C2PA manifest store");
            }
            let mut ai = report.ai.clone();
            ai.sort_by(|a, b| b.score.total_cmp(&a.score));
            if let Some(best) = ai.first() {
                let also: Vec<&str> = ai[1..].iter().map(|s| s.sentence.as_str()).collect();
                let mut explanation = format!("image {shown}: {}", best.sentence);
                if !also.is_empty() {
                    explanation.push_str(&format!("; also {}", also.join("; ")));
                }
                out.push(Verdict {
                    kind: VerdictKind::SyntheticMedia,
                    label: "ai_generated_provenance".into(),
                    score: best.score,
                    detector: "provenance".into(),
                    explanation,
                    evidence: serde_json::json!({
                        "media_sha256": sha,
                        "media_url": media.url,
                        "signals": ai.iter().map(|s| s.evidence.clone()).collect::<Vec<_>>(),
                        "c2pa_error": report.c2pa_error,
                    }),
                    rebuttal: None,
                });
            } else if let Some(capture) = &report.capture {
                out.push(Verdict {
                    kind: VerdictKind::SyntheticMedia,
                    label: "camera_capture_provenance".into(),
                    score: 0.0,
                    detector: "provenance".into(),
                    explanation: format!("image {shown}: {}", capture.sentence),
                    evidence: serde_json::json!({
                        "media_sha256": sha,
                        "media_url": media.url,
                        "signals": [capture.evidence.clone()],
                    }),
                    rebuttal: None,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
