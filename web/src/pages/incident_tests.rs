//! Tests of the incident and item pages.
use super::*;

#[tokio::test]
async fn the_reporter_is_shown_to_analysts_and_admins_never_to_viewers() {
    use crate::testutil::*;
    use ballotwatch_store::Role;
    let t = test_app();
    let at = chrono::Utc::now();
    let item = ballotwatch_core::Item {
        id: "msg".into(),
        source: ballotwatch_core::SourceRef {
            kind: "imap".into(),
            name: "Inbox".into(),
        },
        text: Some("Fwd: the Civic Centre polling station is closed".into()),
        ..Default::default()
    };
    let body = b"From: Chris Voter <chris.voter@resident.example>\r\n\r\nFwd";
    t.store
        .record_poll(
            "Inbox",
            ballotwatch_store::PollRecord {
                captures: vec![ballotwatch_core::Capture {
                    url: "imaps://mail.example/INBOX;UIDVALIDITY=1/;UID=1".into(),
                    final_url: "imaps://mail.example/INBOX;UIDVALIDITY=1/;UID=1".into(),
                    status: 200,
                    headers: vec![("content-type".into(), "message/rfc822".into())],
                    sha256: t.store.put_blob(body).unwrap(),
                    size: body.len() as u64,
                    started_at: at,
                    finished_at: at,
                }],
                items: vec![(0, item)],
                etag: None,
                last_modified: None,
                cursor: None,
                not_modified: false,
                attempted_at: at,
                next_attempt_at: at,
            },
        )
        .unwrap();
    t.store
        .record_inbox_reports(
            "Inbox",
            &[ballotwatch_store::InboxReport {
                item_id: "msg".into(),
                reporter: "Chris Voter <chris.voter@resident.example>".into(),
                detail: serde_json::json!({}),
            }],
            ballotwatch_store::no_acknowledgements(),
        )
        .unwrap();
    for (name, role, shown) in [
        ("vic", Role::Viewer, false),
        ("ana", Role::Analyst, true),
        ("adm", Role::Admin, true),
    ] {
        let (cookie, _) = session(&t, name, role);
        let (status, _, html) = send(&t.router, get_with(&cookie, "/items/msg")).await;
        assert_eq!(status, axum::http::StatusCode::OK, "{html}");
        assert!(html.contains("R-000001"), "{name}: {html}");
        assert_eq!(
            html.contains("chris.voter@resident.example"),
            shown,
            "{name} ({role:?}): {html}"
        );
    }
}

#[test]
fn only_real_images_are_recognised() {
    assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
    assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
    assert_eq!(image_type(b"GIF89a.."), Some("image/gif"));
    assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
    assert_eq!(image_type(b"<html><script>"), None);
    assert!(is_sha256(&"a".repeat(64)));
    assert!(!is_sha256(&"A".repeat(64)));
    assert!(!is_sha256("../../etc/passwd"));
}

#[test]
fn why_flagged_lists_each_reason_once_strongest_first_and_escaped() {
    let verdict = |label: &str, score: f32, why: &str| ballotwatch_core::Verdict {
        kind: ballotwatch_core::VerdictKind::Impersonation,
        label: label.into(),
        score,
        detector: "d".into(),
        explanation: why.into(),
        evidence: serde_json::Value::Null,
        rebuttal: None,
    };
    let item = |id: &str, flagged: bool, verdicts: Vec<ballotwatch_core::Verdict>| {
        (
            StoredItem {
                seq: 1,
                item: ballotwatch_core::Item {
                    id: id.into(),
                    ..Default::default()
                },
                result: Some(ballotwatch_core::ClassifyResult {
                    id: id.into(),
                    flagged,
                    severity: ballotwatch_core::Severity::High,
                    verdicts,
                    detector_errors: Vec::new(),
                    media_text: Vec::new(),
                }),
                capture_id: None,
                incidents: vec![ballotwatch_core::IncidentRef {
                    id: 1,
                    status: ballotwatch_core::IncidentStatus::New,
                }],
                index_gen: 0,
            },
            None,
        )
    };
    let items = vec![
        item(
            "a",
            true,
            vec![verdict("fake_official_notice", 0.8, "notice <b>")],
        ),
        item(
            "b",
            true,
            vec![
                verdict("lookalike_domain", 0.95, "mentions anytown-gov.uk"),
                verdict("fake_official_notice", 0.8, "notice <b>"),
            ],
        ),
        item("c", false, vec![verdict("logo_reuse", 0.3, "not flagged")]),
    ];
    let html = why_flagged(&items).into_string();
    assert!(html.contains("Why it was flagged"), "{html}");
    let lookalike = html.find("mentions anytown-gov.uk").unwrap();
    let notice = html.find("notice &lt;b&gt;").unwrap();
    assert!(lookalike < notice, "strongest first: {html}");
    assert_eq!(html.matches("notice &lt;b&gt;").count(), 1, "once: {html}");
    assert!(!html.contains("not flagged"), "{html}");
    assert_eq!(why_flagged(&items[2..]).into_string(), "");
}

#[test]
fn a_changed_page_shows_its_diff_escaped() {
    let mut stored = StoredItem {
        seq: 2,
        item: ballotwatch_core::Item {
            id: "page".into(),
            version: 2,
            text: Some("Mill Lane: closed".into()),
            diff: Some("-Mill Lane: open\n+Mill Lane: closed <b>\n".into()),
            ..Default::default()
        },
        result: None,
        capture_id: None,
        incidents: Vec::new(),
        index_gen: 0,
    };
    let html = render_item(&stored, None).into_string();
    assert!(html.contains("What changed since version 1"), "{html}");
    assert!(
        html.contains("+Mill Lane: closed &lt;b&gt;"),
        "the diff is escaped: {html}"
    );
    stored.item.diff = None;
    assert!(!render_item(&stored, None)
        .into_string()
        .contains("What changed"));
}

#[test]
fn text_read_from_an_image_is_shown_escaped() {
    let stored = StoredItem {
        seq: 1,
        item: ballotwatch_core::Item {
            id: "i".into(),
            ..Default::default()
        },
        result: Some(ballotwatch_core::ClassifyResult {
            id: "i".into(),
            flagged: false,
            severity: ballotwatch_core::Severity::None,
            verdicts: Vec::new(),
            detector_errors: Vec::new(),
            media_text: vec![ballotwatch_core::MediaText {
                media: 0,
                sha256: None,
                text: "Polling station CLOSED <script>".into(),
                text_fraction: 0.62,
            }],
        }),
        capture_id: None,
        incidents: Vec::new(),
        index_gen: 0,
    };
    let html = render_item(&stored, None).into_string();
    assert!(html.contains("Text read from the image"), "{html}");
    assert!(html.contains("Image 1, text covers 62%"), "{html}");
    assert!(
        html.contains("Polling station CLOSED &lt;script&gt;"),
        "{html}"
    );
    let mut plain = stored.clone();
    plain.result.as_mut().unwrap().media_text.clear();
    assert!(!render_item(&plain, None)
        .into_string()
        .contains("Text read from the image"));
}
