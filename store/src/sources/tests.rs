use super::*;
use crate::testutil::*;
use proptest::prelude::*;

#[test]
fn entries_a_poll_left_out_are_counted_and_described_once_per_poll() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "one")], 0))
        .unwrap();
    store.record_dropped("Echo", &[], t(0)).unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(
        (s.items_dropped, s.last_dropped, s.last_dropped_at),
        (0, None, None)
    );

    let why = vec![
        "entry 2 of 3 has no title, text or media".to_string(),
        "entry 3 of 3 has no title, text or media".to_string(),
    ];
    store.record_dropped("Echo", &why, t(0)).unwrap();
    // A retry of the same poll is not counted again.
    store.record_dropped("Echo", &why, t(0)).unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(s.items_dropped, 2);
    assert_eq!(
        s.last_dropped.as_deref(),
        Some("2 entries left out: entry 2 of 3 has no title, text or media; entry 3 of 3 has no title, text or media")
    );
    assert_eq!(s.last_dropped_at, Some(t(0)));

    // A later poll adds to the count; the other counters are untouched.
    store
        .record_poll("Echo", poll(&store, &[("a", "one")], 60))
        .unwrap();
    store.record_dropped("Echo", &why[..1], t(60)).unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!((s.items_dropped, s.items_new, s.fetches), (3, 1, 2));
    assert_eq!(
        s.last_dropped.as_deref(),
        Some("1 entry left out: entry 2 of 3 has no title, text or media")
    );

    // A very long description is cut, not refused.
    let long = vec!["x".repeat(10_000)];
    store.record_dropped("Echo", &long, t(120)).unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(s.last_dropped.unwrap().len(), MAX_ERROR_LEN);
}

#[test]
fn first_poll_stores_new_items_linked_to_their_capture() {
    let (_dir, store) = store();
    let rec = poll(&store, &[("a", "one"), ("b", "two")], 0);
    let cap = rec.captures[0].clone();
    let out = store.record_poll("Echo", rec).unwrap();
    assert_eq!(
        out,
        PollOutcome {
            new: 2,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(store.count_items().unwrap(), 2);
    assert_eq!(store.count_captures().unwrap(), 1);

    let a = store.get_item("a").unwrap().unwrap();
    assert_eq!(a.item.version, 1);
    assert_eq!(a.item.text.as_deref(), Some("one"));
    assert!(a.item.ingested_at.is_some());
    assert!(a.result.is_none());
    let capture_id = a.capture_id.expect("item links to its capture");
    let (id, source, stored) = store.get_capture(capture_id).unwrap().unwrap();
    assert_eq!(id, capture_id);
    assert_eq!(source, "Echo");
    assert_eq!(stored, cap);
    // The capture's bytes are the body the items were read from.
    let body = store.read_blob(&stored.sha256).unwrap();
    assert!(String::from_utf8(body).unwrap().contains("one"));
    assert_eq!(
        count(&store, "SELECT count(*) FROM items WHERE stage = 'new'"),
        2
    );
}

#[test]
fn an_unchanged_repeat_inserts_no_items() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 0))
        .unwrap();
    let out = store
        .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 300))
        .unwrap();
    assert_eq!(
        out,
        PollOutcome {
            new: 0,
            updated: 0,
            unchanged: 2
        }
    );
    assert_eq!(store.count_items().unwrap(), 2);
    // The second fetch is still evidence: its capture is kept.
    assert_eq!(store.count_captures().unwrap(), 2);
}

#[test]
fn an_edited_item_becomes_version_2_and_version_1_stays_readable() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "polls open 7am")], 0))
        .unwrap();
    let out = store
        .record_poll(
            "Echo",
            poll(
                &store,
                &[("a", "polls open 7am; bring ID"), ("c", "new")],
                300,
            ),
        )
        .unwrap();
    assert_eq!(
        out,
        PollOutcome {
            new: 1,
            updated: 1,
            unchanged: 0
        }
    );
    let latest = store.get_item("a").unwrap().unwrap();
    assert_eq!(latest.item.version, 2);
    assert_eq!(
        latest.item.text.as_deref(),
        Some("polls open 7am; bring ID")
    );
    let versions = store.item_versions("a").unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].item.version, 1);
    assert_eq!(versions[0].item.text.as_deref(), Some("polls open 7am"));
    assert_eq!(versions[1].seq, latest.seq);
    assert!(versions[0].seq < versions[1].seq);
    // Each version links to the capture it was read from.
    assert_ne!(versions[0].capture_id, versions[1].capture_id);
    assert_eq!(store.count_items().unwrap(), 3);
    assert_eq!(store.count_latest_items().unwrap(), 2);
}

#[test]
fn watch_term_matches_alone_do_not_make_a_new_version() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "x")], 0))
        .unwrap();
    let mut rec = poll(&store, &[("a", "x")], 300);
    rec.items[0].1.matched_terms = vec!["Anytown".into()];
    let out = store.record_poll("Echo", rec).unwrap();
    assert_eq!(out.unchanged, 1);
    assert_eq!(store.count_items().unwrap(), 1);
}

#[test]
fn re_recording_the_same_poll_is_idempotent() {
    let (_dir, store) = store();
    let rec = poll(&store, &[("a", "one"), ("b", "two")], 0);
    store.record_poll("Echo", rec.clone()).unwrap();
    let before = store.source_state("Echo").unwrap().unwrap();
    let out = store.record_poll("Echo", rec).unwrap();
    assert_eq!(out.new + out.updated, 0);
    assert_eq!(store.count_items().unwrap(), 2);
    assert_eq!(store.count_captures().unwrap(), 1);
    let after = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(after.fetches, before.fetches);
    assert_eq!(after.items_new, 2);

    // A retried 304 is not counted twice either.
    let not_modified = PollRecord {
        captures: vec![],
        items: vec![],
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: true,
        attempted_at: t(300),
        next_attempt_at: t(600),
    };
    store.record_poll("Echo", not_modified.clone()).unwrap();
    store.record_poll("Echo", not_modified).unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!((s.fetches, s.not_modified), (2, 1));
}

#[test]
fn duplicate_ids_within_one_poll_store_the_last_occurrence_once() {
    let (_dir, store) = store();
    let rec = poll(&store, &[("a", "first"), ("b", "b"), ("a", "second")], 0);
    let out = store.record_poll("Echo", rec.clone()).unwrap();
    assert_eq!(
        out,
        PollOutcome {
            new: 2,
            updated: 0,
            unchanged: 1
        }
    );
    let a = store.item_versions("a").unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].item.text.as_deref(), Some("second"));
    // A retry does not flip-flop between the duplicates.
    store.record_poll("Echo", rec).unwrap();
    assert_eq!(store.item_versions("a").unwrap().len(), 1);
}

#[test]
fn source_state_tracks_counters_validators_and_errors() {
    let (_dir, store) = store();
    assert!(store.source_state("Echo").unwrap().is_none());

    let mut rec = poll(&store, &[("a", "one")], 0);
    rec.last_modified = Some("Fri, 01 May 2026 07:00:00 GMT".into());
    rec.cursor = Some(serde_json::json!({"after": "a"}));
    store.record_poll("Echo", rec).unwrap();

    store
        .record_poll_error(
            "Echo",
            "https://echo.example/rss",
            "HTTP 503",
            t(300),
            t(600),
        )
        .unwrap();
    store
        .record_poll_error(
            "Echo",
            "https://echo.example/rss2",
            "timed out",
            t(600),
            t(1200),
        )
        .unwrap();
    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.errors, 2);
    assert_eq!(s.last_error.as_deref(), Some("timed out"));
    assert_eq!(
        s.last_error_url.as_deref(),
        Some("https://echo.example/rss2")
    );
    assert_eq!(s.last_error_at, Some(t(600)));
    assert_eq!(s.last_attempt_at, Some(t(600)));
    assert_eq!(s.last_success_at, Some(t(0)));
    assert_eq!(s.next_attempt_at, Some(t(1200)));

    // A later 304 keeps the validators and cursor it does not replace, resets failures and
    // keeps the last error as history.
    let not_modified = PollRecord {
        captures: vec![],
        items: vec![],
        etag: None,
        last_modified: None,
        cursor: None,
        not_modified: true,
        attempted_at: t(1200),
        next_attempt_at: t(1500),
    };
    store.record_poll("Echo", not_modified).unwrap();
    let mut rec = poll(&store, &[("a", "one, edited"), ("b", "two")], 1500);
    rec.etag = Some("\"v2\"".into());
    store.record_poll("Echo", rec).unwrap();

    let s = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(s.source, "Echo");
    assert_eq!(s.etag.as_deref(), Some("\"v2\""));
    assert_eq!(
        s.last_modified.as_deref(),
        Some("Fri, 01 May 2026 07:00:00 GMT")
    );
    assert_eq!(s.cursor, Some(serde_json::json!({"after": "a"})));
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.last_error.as_deref(), Some("timed out"));
    assert_eq!(s.last_success_at, Some(t(1500)));
    assert_eq!(s.next_attempt_at, Some(t(1800)));
    assert_eq!(
        (
            s.fetches,
            s.not_modified,
            s.items_new,
            s.items_updated,
            s.errors
        ),
        (3, 1, 2, 1, 2)
    );
}

#[test]
fn source_states_lists_every_source_by_name() {
    let (_dir, store) = store();
    store
        .record_poll_error("Zeta", "https://z.example", "dns", t(0), t(60))
        .unwrap();
    store
        .record_poll("Alpha", poll(&store, &[("a", "x")], 0))
        .unwrap();
    let names: Vec<_> = store
        .source_states()
        .unwrap()
        .into_iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(names, ["Alpha", "Zeta"]);
    let zeta = store.source_state("Zeta").unwrap().unwrap();
    assert_eq!(
        (zeta.fetches, zeta.errors, zeta.consecutive_failures),
        (0, 1, 1)
    );
    // Serializes for the status API.
    let json = serde_json::to_value(&zeta).unwrap();
    assert_eq!(json["last_error"], "dns");
}

#[test]
fn long_errors_are_cut_at_a_character_boundary() {
    let (_dir, store) = store();
    let long = "é".repeat(5000);
    store
        .record_poll_error("Echo", "https://e.example", &long, t(0), t(1))
        .unwrap();
    let kept = store
        .source_state("Echo")
        .unwrap()
        .unwrap()
        .last_error
        .unwrap();
    assert!(kept.len() <= MAX_ERROR_LEN && kept.len() >= MAX_ERROR_LEN - 1);
    assert!(kept.chars().all(|c| c == 'é'));
}

#[test]
fn bad_polls_are_refused_before_anything_is_written() {
    let (_dir, store) = store();
    // Capture whose blob was never stored.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.captures[0].sha256 = ballotwatch_core::sha256_hex(b"not stored");
    let err = store.record_poll("Echo", rec).unwrap_err();
    assert!(err.to_string().contains("put_blob"), "{err}");
    // Size that disagrees with the blob.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.captures[0].size += 1;
    assert!(matches!(
        store.record_poll("Echo", rec),
        Err(StoreError::InvalidInput(_))
    ));
    // Item pointing at a capture that is not there.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.items[0].0 = 3;
    let err = store.record_poll("Echo", rec).unwrap_err();
    assert!(err.to_string().contains("capture 3"), "{err}");
    // Item without an id.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.items[0].1.id = " ".into();
    assert!(store
        .record_poll("Echo", rec)
        .unwrap_err()
        .to_string()
        .contains("no id"));
    // A 304 with data.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.not_modified = true;
    assert!(store.record_poll("Echo", rec).is_err());
    // Malformed sha.
    let mut rec = poll(&store, &[("a", "x")], 0);
    rec.captures[0].sha256 = "../../etc/passwd".into();
    assert!(store.record_poll("Echo", rec).is_err());

    assert_eq!(store.count_items().unwrap(), 0);
    assert_eq!(store.count_captures().unwrap(), 0);
    assert!(store.source_states().unwrap().is_empty());
}

#[test]
fn a_poll_failing_midway_leaves_nothing_behind() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "one")], 0))
        .unwrap();
    let state_before = store.source_state("Echo").unwrap().unwrap();
    // Make the database itself fail on the third item, after the captures, one new version
    // and one new item are already written inside the transaction.
    exec(
        &store,
        "CREATE TEMP TRIGGER crash BEFORE INSERT ON items WHEN NEW.id = 'poison'
         BEGIN SELECT RAISE(ABORT, 'simulated crash'); END;",
    );
    let rec = poll(
        &store,
        &[
            ("a", "one, edited"),
            ("b", "two"),
            ("poison", "x"),
            ("c", "three"),
        ],
        300,
    );
    let err = store.record_poll("Echo", rec.clone()).unwrap_err();
    assert!(err.to_string().contains("simulated crash"), "{err}");
    assert!(err.to_string().contains("poison"), "{err}");
    assert_eq!(store.count_items().unwrap(), 1);
    assert_eq!(store.count_captures().unwrap(), 1);
    let state_after = store.source_state("Echo").unwrap().unwrap();
    assert_eq!(state_after.fetches, state_before.fetches);
    assert_eq!(state_after.etag, state_before.etag);

    // After the fault is gone, retrying the same poll stores it exactly once.
    exec(&store, "DROP TRIGGER crash");
    let out = store.record_poll("Echo", rec.clone()).unwrap();
    assert_eq!((out.new, out.updated), (3, 1));
    store.record_poll("Echo", rec).unwrap();
    assert_eq!(store.count_items().unwrap(), 5);
    assert_eq!(store.count_captures().unwrap(), 2);
}

#[test]
fn damaged_source_state_is_reported_not_panicked_on() {
    let (_dir, store) = store();
    store
        .record_poll_error("Echo", "https://e.example", "x", t(0), t(1))
        .unwrap();
    exec(&store, "UPDATE source_state SET next_attempt_at = 'soon'");
    let err = store.source_state("Echo").unwrap_err();
    assert!(
        err.to_string()
            .contains("source_state.next_attempt_at of source `Echo`"),
        "{err}"
    );
    exec(
        &store,
        "UPDATE source_state SET next_attempt_at = NULL, errors = -1",
    );
    assert!(matches!(
        store.source_state("Echo"),
        Err(StoreError::Corrupt { .. })
    ));
}

/// One generated poll: (item number, content number) pairs, and whether it is retried.
fn polls() -> impl Strategy<Value = Vec<(Vec<(u8, u8)>, bool)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec((0u8..4, 0u8..3), 0..6),
            any::<bool>(),
        ),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn stored_versions_follow_consecutive_content_changes(polls in polls()) {
        let (_dir, store) = store();
        // Model: per id, the content of its latest version and how many versions it has.
        let mut model: HashMap<String, (String, usize)> = HashMap::new();
        for (n, (entries, retry)) in polls.iter().enumerate() {
            let items: Vec<(String, String)> = entries
                .iter()
                .map(|(id, c)| (format!("item{id}"), format!("content {c}")))
                .collect();
            let refs: Vec<(&str, &str)> =
                items.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let rec = poll(&store, &refs, i64::try_from(n).unwrap() * 300);
            let out = store.record_poll("Echo", rec.clone()).unwrap();
            prop_assert_eq!(out.new + out.updated + out.unchanged, items.len());
            if *retry {
                let again = store.record_poll("Echo", rec).unwrap();
                prop_assert_eq!(again.new + again.updated, 0);
            }
            // Last occurrence of an id within a poll wins.
            let mut last: Vec<(String, String)> = Vec::new();
            for (id, c) in items {
                last.retain(|(i, _)| *i != id);
                last.push((id, c));
            }
            for (id, c) in last {
                let e = model.entry(id).or_insert_with(|| (c.clone(), 0));
                if e.1 == 0 || e.0 != c {
                    *e = (c, e.1 + 1);
                }
            }
        }
        for (id, (content, n)) in &model {
            let versions = store.item_versions(id).unwrap();
            prop_assert_eq!(versions.len(), *n, "versions of {}", id);
            let numbers: Vec<u32> = versions.iter().map(|v| v.item.version).collect();
            let expected: Vec<u32> = (1..=u32::try_from(*n).unwrap()).collect();
            prop_assert_eq!(numbers, expected);
            prop_assert_eq!(versions.last().unwrap().item.text.as_deref(), Some(content.as_str()));
        }
        prop_assert_eq!(
            count(&store, "SELECT count(*) FROM (SELECT id, version FROM items GROUP BY id, version HAVING count(*) > 1)"),
            0
        );
        let total: usize = model.values().map(|(_, n)| n).sum();
        prop_assert_eq!(store.count_items().unwrap(), total as u64);
        prop_assert_eq!(store.count_latest_items().unwrap(), model.len() as u64);
    }
}

#[test]
fn a_polls_captured_media_and_frames_join_the_capture_log_with_the_item() {
    let (_dir, store) = store();
    let mut poll = poll(&store, &[("a", "one")], 0);
    let video = ballotwatch_core::sha256_hex(b"video");
    let frame = ballotwatch_core::sha256_hex(b"frame");
    poll.items[0].1.media = vec![
        ballotwatch_core::Media {
            url: Some("https://echo.example/v.mp4".into()),
            sha256: Some(video.to_ascii_uppercase()),
            ..Default::default()
        },
        ballotwatch_core::Media {
            url: Some("https://echo.example/missing.png".into()),
            capture_error: Some("404".into()),
            ..Default::default()
        },
        ballotwatch_core::Media {
            sha256: Some(frame.clone()),
            frame_of: Some(0),
            ..Default::default()
        },
    ];
    store.record_poll("Echo", poll.clone()).unwrap();
    let seg = store.capture_log_segment(&["a"]).unwrap();
    let logged: Vec<(&str, &str)> = seg
        .entries
        .iter()
        .map(|e| (e.what.as_str(), e.sha256.as_str()))
        .collect();
    assert_eq!(
        logged.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
        ["body", "headers", "media", "frame"]
    );
    assert_eq!(logged[2].1, video, "lower-case hex");
    assert_eq!(logged[3].1, frame);
    // The same poll again adds nothing: the item is unchanged.
    store.record_poll("Echo", poll).unwrap();
    assert_eq!(store.capture_log_segment(&["a"]).unwrap().entries.len(), 4);
}
