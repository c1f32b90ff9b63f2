//! The enricher step the [`crate::Classifier`] runs before the detectors: OCR of every image
//! medium, the item copy the detectors see (its text plus what was read), and marking the
//! verdicts that the read text caused.

use std::borrow::Cow;

use ballotwatch_core::{Item, MediaText, Verdict};

use crate::detectors::media::ocr::Ocr;

/// Reads the text of each of the item's image media (`media[].path`; media declared as
/// something other than an image are skipped). An unreadable image is reported in `errors`
/// and the others are still read. Images with no text give no entry.
pub fn read_media(ocr: &Ocr, item: &Item, errors: &mut Vec<String>) -> Vec<MediaText> {
    let mut out = Vec::new();
    for (index, medium, path) in crate::media::local_images(item) {
        match ocr.read_file(path) {
            Ok(read) => {
                let text = read.text();
                tracing::debug!(item = %item.id, media = index, lines = read.lines.len(), text_fraction = read.text_fraction, "OCR");
                if !text.trim().is_empty() {
                    out.push(MediaText {
                        media: index,
                        sha256: medium.sha256.clone(),
                        text,
                        text_fraction: read.text_fraction,
                    });
                }
            }
            Err(message) => {
                tracing::warn!(item = %item.id, media = index, %message, "OCR failed");
                errors.push(format!("ocr: {message}"));
            }
        }
    }
    out
}

/// The item the detectors see: the item itself when nothing was read, else a copy whose
/// `text` ends with the read text (each image's text as its own paragraph).
pub fn with_media_text<'a>(item: &'a Item, texts: &[MediaText]) -> Cow<'a, Item> {
    if texts.is_empty() {
        return Cow::Borrowed(item);
    }
    let mut copy = item.clone();
    let mut text = item.text.clone().unwrap_or_default();
    for t in texts {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&t.text);
    }
    copy.text = Some(text);
    Cow::Owned(copy)
}

/// Marks the verdicts that rest on text read from an image: a verdict whose evidence quotes
/// (a string of 8+ characters, whitespace-normalised) text found in an image's text and not
/// in the item's own text gets `evidence.from_image = {media, sha256}` and an explanation
/// that starts "In text read from image N: ".
pub fn attribute(item: &Item, texts: &[MediaText], verdicts: &mut [Verdict]) {
    if texts.is_empty() {
        return;
    }
    let own = normalise(&item.full_text());
    let read: Vec<String> = texts.iter().map(|t| normalise(&t.text)).collect();
    for v in verdicts.iter_mut() {
        let mut quoted = Vec::new();
        strings(&v.evidence, &mut quoted);
        let found = quoted
            .iter()
            .map(|q| normalise(q))
            .filter(|q| q.chars().count() >= 8 && !own.contains(q.as_str()))
            .find_map(|q| {
                read.iter().position(|r| {
                    r.contains(&q) || (r.chars().count() >= 8 && q.contains(r.as_str()))
                })
            });
        let Some(i) = found else { continue };
        let t = &texts[i];
        if let Some(evidence) = v.evidence.as_object_mut() {
            let mut from = serde_json::json!({ "media": t.media });
            if let Some(sha) = &t.sha256 {
                from["sha256"] = sha.clone().into();
            }
            evidence.insert("from_image".into(), from);
        }
        v.explanation = format!("In text read from image {}: {}", t.media + 1, v.explanation);
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_core::VerdictKind;

    fn read(text: &str) -> MediaText {
        MediaText {
            media: 1,
            sha256: Some("ab".into()),
            text: text.into(),
            text_fraction: 0.5,
        }
    }

    fn verdict(quote: &str) -> Verdict {
        Verdict {
            kind: VerdictKind::Misinformation,
            label: "x".into(),
            score: 0.8,
            detector: "narratives".into(),
            explanation: "repeats a claim".into(),
            evidence: serde_json::json!({ "sentence": quote, "narrative": "n" }),
            rebuttal: None,
        }
    }

    #[test]
    fn the_detectors_see_the_read_text_after_the_items_own() {
        let item = Item {
            text: Some("Look at this".into()),
            ..Item::default()
        };
        let e = with_media_text(&item, &[read("POLLING STATION\nCLOSED")]);
        assert_eq!(e.full_text(), "Look at this\n\nPOLLING STATION\nCLOSED");
        assert!(matches!(with_media_text(&item, &[]), Cow::Borrowed(_)));
        let bare = Item::default();
        assert_eq!(
            with_media_text(&bare, &[read("only the image")]).full_text(),
            "only the image"
        );
    }

    #[test]
    fn verdicts_quoting_the_image_say_so_and_others_do_not() {
        let item = Item {
            text: Some("Share this widely please".into()),
            ..Item::default()
        };
        let texts = [read("Riverside polling station\nis CLOSED today")];
        let mut v = vec![
            verdict("Riverside polling station is closed today"),
            verdict("Share this widely please"),
        ];
        attribute(&item, &texts, &mut v);
        assert!(v[0].explanation.starts_with("In text read from image 2: "));
        assert_eq!(v[0].evidence["from_image"]["media"], 1);
        assert_eq!(v[0].evidence["from_image"]["sha256"], "ab");
        assert_eq!(v[1].explanation, "repeats a claim");
        assert!(v[1].evidence.get("from_image").is_none());
    }
}
