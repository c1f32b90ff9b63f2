//! What evidence packs read and write, on both back ends: screenshot records (a screenshot
//! taken joins the capture log), derived copies of blobs, the capture-log segment covering a
//! pack's items with its tokens, the custody log of the audit entries about them, and the
//! capture a medium's bytes came from.

use ballotwatch_store::{
    NewCapture, NewScreenshot, NewTimestampToken, ScreenshotOutcome, StoreError,
};

use super::{capture, classify_all, poll, t, Env};

fn shot(item_id: &str, png: &str, html: &str) -> NewScreenshot {
    NewScreenshot {
        item_id: item_id.into(),
        url: format!("https://echo.example/{item_id}"),
        attempted_at: t(20),
        tool: "Chromium 140.0".into(),
        outcome: ScreenshotOutcome::Taken {
            png_sha256: png.into(),
            png_size: 9,
            width: 1280,
            height: 4000,
            truncated: true,
            html_sha256: html.into(),
            html_size: 13,
        },
    }
}

pub(super) fn screenshots_derived_copies_segments_and_custody_for_packs(env: &Env) {
    let s = &*env.store;
    s.record_poll(
        "Echo",
        poll(s, &[("a", "one"), ("b", "two"), ("c", "three")], 0),
    )
    .unwrap();
    classify_all(s, &["a", "b"]);

    // Flagged pages without a screenshot attempt are the screenshot task's work, oldest first.
    let todo: Vec<String> = s
        .flagged_items_without_screenshot(10)
        .unwrap()
        .into_iter()
        .map(|i| i.item.id)
        .collect();
    assert_eq!(todo, ["a", "b"]);
    assert_eq!(s.flagged_items_without_screenshot(1).unwrap().len(), 1);

    let head_before = s.capture_log_head().unwrap().unwrap().seq;
    let png = s.put_blob(b"png bytes").unwrap();
    let html = s.put_blob(b"<html></html>").unwrap();
    let taken = shot("a", &png.to_ascii_uppercase(), &html);
    let id = s.record_screenshot(&taken).unwrap();
    let not_taken = NewScreenshot {
        outcome: ScreenshotOutcome::NotTaken {
            reason: "Chromium is not installed".into(),
        },
        ..shot("b", &png, &html)
    };
    s.record_screenshot(&not_taken).unwrap();
    let a = s.screenshots_of("a").unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].id, id);
    let mut expected = taken.clone();
    expected.outcome = ScreenshotOutcome::Taken {
        png_sha256: png.clone(),
        png_size: 9,
        width: 1280,
        height: 4000,
        truncated: true,
        html_sha256: html.clone(),
        html_size: 13,
    };
    assert_eq!(a[0].shot, expected, "stored as given, hashes in lowercase");
    assert_eq!(s.screenshots_of("b").unwrap()[0].shot, not_taken);
    assert!(s.screenshots_of("c").unwrap().is_empty());
    assert!(s.flagged_items_without_screenshot(10).unwrap().is_empty());

    // The screenshot taken joined the capture log (PNG, then rendered HTML); the one not taken
    // did not.
    let head = s.capture_log_head().unwrap().unwrap();
    assert_eq!(head.seq, head_before + 2);
    assert_eq!(
        (head.item_id.as_str(), head.what.as_str()),
        ("a", "rendered_html")
    );
    assert_eq!(head.sha256, html);

    // A pack's segment: from the items' first entry to the log's head while nothing is
    // timestamped, every link checking; then to the first timestamped head, with its token.
    let segment = s.capture_log_segment(&["a"]).unwrap();
    assert!(segment.tokens.is_empty());
    assert_eq!(segment.entries.last().unwrap().seq, head.seq);
    assert!(segment
        .entries
        .iter()
        .any(|e| e.item_id == "a" && e.what == "screenshot"));
    assert_eq!(
        segment.check().unwrap().as_deref(),
        Some(head.head.as_str())
    );
    let token = NewTimestampToken {
        seq: head.seq,
        head: head.head.clone(),
        tsa_url: "http://tsa.example/".into(),
        token: vec![0x30, 0x03, 0x02, 0x01, 0x00],
        gen_time: t(30),
        requested_at: t(29),
    };
    s.record_timestamp_token(&token).unwrap();
    s.record_poll("Echo", poll(s, &[("d", "four")], 40))
        .unwrap();
    let segment = s.capture_log_segment(&["b", "a"]).unwrap();
    assert_eq!(
        segment.entries.last().unwrap().seq,
        head.seq,
        "ends at the stamped head"
    );
    assert_eq!(segment.tokens.len(), 1);
    assert_eq!(segment.tokens[0].token, token.token);
    assert_eq!(segment.tokens[0].gen_time, t(30));
    segment.check().unwrap();
    assert!(s
        .capture_log_segment(&["nobody"])
        .unwrap()
        .entries
        .is_empty());

    // Derived copies: found from their source, checked like any blob, kinds validated.
    assert_eq!(s.read_derived("thumb-480", &png).unwrap(), None);
    let small = s.put_derived("thumb-480", &png, b"small").unwrap();
    assert_eq!(small, ballotwatch_core::sha256_hex(b"small"));
    assert_eq!(
        s.read_derived("thumb-480", &png.to_ascii_uppercase())
            .unwrap()
            .as_deref(),
        Some(&b"small"[..])
    );
    assert_eq!(s.read_derived("thumb-320", &png).unwrap(), None);
    s.put_derived("thumb-480", &png, b"smaller").unwrap();
    assert_eq!(
        s.read_derived("thumb-480", &png).unwrap().as_deref(),
        Some(&b"smaller"[..]),
        "the newest copy wins"
    );
    (env.tamper)(&ballotwatch_core::sha256_hex(b"smaller"), b"forged");
    let err = s.read_derived("thumb-480", &png).unwrap_err();
    assert!(err.is_blob_integrity(), "{err:?}");
    for (kind, source) in [("../x", png.as_str()), ("thumb-480", "../../etc")] {
        let err = s.put_derived(kind, source, b"x").unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
        assert!(s.read_derived(kind, source).is_err());
    }

    // The custody log: entries about the incidents or items in any of the fields exports,
    // workflow and reports use, oldest first, the newest `limit` of them.
    let about = [
        serde_json::json!({ "incident_id": 1, "status": "open" }),
        serde_json::json!({ "item_id": "a" }),
        serde_json::json!({ "item_id": "q" }),
        serde_json::json!({ "incidents": [9, 7], "items": [] }),
        serde_json::json!({ "item": "b" }),
        serde_json::json!({ "items": ["z", "a"] }),
        serde_json::json!({ "incident_id": "1" }),
        serde_json::json!({ "incidents": 7 }),
    ];
    for (n, detail) in about.iter().enumerate() {
        s.audit("comms", &format!("action.{n}"), detail).unwrap();
    }
    let actions = |limit: usize| {
        let (entries, truncated) = s
            .custody_log(&[1, 7], &["a".to_string(), "b".to_string()], limit)
            .unwrap();
        let actions: Vec<String> = entries.into_iter().map(|e| e.action).collect();
        (actions, truncated)
    };
    assert_eq!(
        actions(10),
        (
            vec![
                "action.0".to_string(),
                "action.1".into(),
                "action.3".into(),
                "action.4".into(),
                "action.5".into(),
            ],
            false
        )
    );
    assert_eq!(
        actions(2),
        (vec!["action.4".to_string(), "action.5".into()], true)
    );
    assert_eq!(s.custody_log(&[], &[], 10).unwrap(), (Vec::new(), false));

    // The capture a medium's stored bytes came from: the first with that URL and body.
    let medium = capture(s, "https://echo.example/img.jpg", b"\xff\xd8jpeg", 50);
    let id = s
        .record_capture(
            "Echo",
            NewCapture {
                capture: medium.clone(),
            },
        )
        .unwrap();
    assert_eq!(
        s.media_capture_id(&medium.url, &medium.sha256.to_ascii_uppercase())
            .unwrap(),
        Some(id)
    );
    assert_eq!(
        s.media_capture_id("https://echo.example/other.jpg", &medium.sha256)
            .unwrap(),
        None
    );
}
