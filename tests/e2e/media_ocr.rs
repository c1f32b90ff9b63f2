//! End to end: OCR through the real `ballotwatch classify` — an item whose only content is a
//! screenshot of a fake "polling station closed" notice (`demo/media/fake-notice.png`) gets
//! the text read from the image and the narrative verdict that text deserves, saying it came
//! from the image; the pixel model does not score a mostly-text image.

use crate::common;

use common::tools::Tool;
use common::{Classified, Workspace};

fn notice() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/fake-notice.png")
}

#[test]
fn a_screenshot_of_a_fake_notice_is_read_and_judged_like_the_words_in_a_post() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new("");
    let item = serde_json::json!({
        "id": "screenshot",
        "media": [{ "path": notice(), "mime": "image/png", "sha256": "ab".repeat(32) }],
    });
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(&[item]);
    assert_eq!(code, 0, "{stderr}");
    let r = &out[0];
    let texts = r["media_text"].as_array().expect("media_text");
    assert_eq!(texts.len(), 1, "{r}");
    assert_eq!(texts[0]["media"], 0);
    assert_eq!(texts[0]["sha256"], "ab".repeat(32));
    let text = texts[0]["text"].as_str().unwrap();
    let expected = "Riverside Community Hall polling station is CLOSED";
    assert!(
        text.lines()
            .any(|l| strsim::normalized_levenshtein(l, expected) >= 0.95),
        "{text}"
    );
    assert!(texts[0]["text_fraction"].as_f64().unwrap() > 0.2, "{r}");

    let verdicts = r["verdicts"].as_array().unwrap();
    let narrative = verdicts
        .iter()
        .find(|v| v["evidence"]["narrative"] == "polling-station-closed")
        .unwrap_or_else(|| panic!("no polling-station-closed verdict: {r}"));
    assert_eq!(narrative["kind"], "misinformation");
    assert!(narrative["score"].as_f64().unwrap() >= 0.5, "{narrative}");
    assert!(
        narrative["explanation"]
            .as_str()
            .unwrap()
            .starts_with("In text read from image 1: "),
        "{narrative}"
    );
    assert_eq!(narrative["evidence"]["from_image"]["media"], 0);
    assert_eq!(r["flagged"], true);
    // The notice is mostly text: the pixel model does not score it.
    assert!(
        verdicts.iter().all(|v| v["detector"] != "pixel_model"),
        "{r}"
    );
}

#[test]
fn ocr_can_be_turned_off_and_a_bad_image_is_named() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new(
        "[detectors.ocr]\nenabled = false\n[detectors.pixel_model]\nenabled = false\n",
    );
    let item = serde_json::json!({
        "id": "screenshot",
        "media": [{ "path": notice(), "mime": "image/png" }],
    });
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(&[item]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out[0].get("media_text").is_none(), "{}", out[0]);
    assert_eq!(out[0]["flagged"], false, "{}", out[0]);

    let ws = Workspace::new("");
    let bad = ws.dir.path().join("broken.png");
    std::fs::write(&bad, b"not a picture").unwrap();
    let item = serde_json::json!({
        "id": "broken",
        "text": "Polling day is Thursday.",
        "media": [{ "path": bad, "mime": "image/png" }],
    });
    let Classified {
        code,
        results: out,
        stderr,
    } = ws.classify(&[item]);
    assert_eq!(code, 0, "{stderr}");
    let errors = out[0]["detector_errors"].to_string();
    assert!(errors.contains("broken.png"), "{}", out[0]);
}

#[test]
fn a_word_only_in_an_image_is_found_by_search_after_the_pipeline_classifies_it() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new("");
    // An item stored as ingest stores it, its image already captured (media[].path), waiting
    // for classification.
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let now = chrono::Utc::now();
    let body = b"<rss/>".to_vec();
    let sha256 = store.put_blob(&body).unwrap();
    let record = ballotwatch_store::PollRecord {
        captures: vec![ballotwatch_core::Capture {
            url: "https://echo.example/rss".into(),
            final_url: "https://echo.example/rss".into(),
            status: 200,
            headers: vec![],
            sha256,
            size: body.len() as u64,
            started_at: now,
            finished_at: now,
        }],
        items: vec![(
            0,
            ballotwatch_core::Item {
                id: "shared-screenshot".into(),
                source: ballotwatch_core::SourceRef {
                    kind: "rss".into(),
                    name: "Echo".into(),
                },
                url: Some("https://echo.example/shared".into()),
                text: Some("Seen on a community page, please share".into()),
                media: vec![ballotwatch_core::Media {
                    path: Some(notice()),
                    mime: Some("image/png".into()),
                    ..ballotwatch_core::Media::default()
                }],
                ..ballotwatch_core::Item::default()
            },
        )],
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: false,
        attempted_at: now,
        next_attempt_at: now,
    };
    store.record_poll("Echo", record).unwrap();
    drop(store);

    // One pipeline pass (no sources configured): classify what is pending, then index it.
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // "flooding" and "Civic Centre" are only in the image.
    for query in ["flooding", "\"Civic Centre\""] {
        let hits = ws.search_json(query);
        assert_eq!(hits.len(), 1, "{query}: {hits:?}");
        assert_eq!(hits[0]["id"], "shared-screenshot");
    }
    let hits = ws.search_json("flooding");
    assert_eq!(hits[0]["flagged"], true, "{}", hits[0]);
}
