//! Unit tests of `capture_log.rs`.

use super::*;

fn entry(item: &str, what: &str, data: &[u8]) -> NewLogEntry {
    NewLogEntry {
        item_id: item.into(),
        what: what.into(),
        sha256: hex::encode(Sha256::digest(data)),
    }
}

fn token(e: &LogEntry, url: &str) -> NewTimestampToken {
    NewTimestampToken {
        seq: e.seq,
        head: e.head.clone(),
        tsa_url: url.into(),
        token: vec![0x30, 0x03, 0x02, 0x01, 0x00],
        gen_time: now_ms(),
        requested_at: now_ms(),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn entries_chain_from_genesis() {
    let (_dir, store) = store();
    assert_eq!(store.capture_log_head().unwrap(), None);
    let a = store
        .append_capture_log(&[entry("a", "body", b"A"), entry("a", "headers", b"H")])
        .unwrap();
    let b = store
        .append_capture_log(&[entry("b", "body", b"B")])
        .unwrap();
    assert_eq!((a[0].seq, a[1].seq, b[0].seq), (1, 2, 3));
    assert_eq!(a[0].prev_head, hex::encode(GENESIS));
    assert_eq!(a[1].prev_head, a[0].head);
    assert_eq!(b[0].prev_head, a[1].head);
    let expected = chain_head(
        &hex32(&a[1].head).unwrap(),
        3,
        "b",
        "body",
        &Sha256::digest(b"B").into(),
    );
    assert_eq!(b[0].head, hex::encode(expected));
    assert_eq!(store.capture_log_head().unwrap().unwrap(), b[0]);
}

#[test]
fn field_boundaries_are_part_of_the_hash() {
    let sha = [1u8; 32];
    assert_ne!(
        chain_head(&GENESIS, 1, "ab", "c", &sha),
        chain_head(&GENESIS, 1, "a", "bc", &sha)
    );
}

#[test]
fn bad_entries_are_refused_and_nothing_is_appended() {
    let (_dir, store) = store();
    let mut bad = entry("a", "body", b"A");
    bad.sha256 = "zz".into();
    let err = store
        .append_capture_log(&[entry("a", "body", b"A"), bad])
        .unwrap_err();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert_eq!(store.capture_log_head().unwrap(), None);
}

#[test]
fn the_log_is_append_only() {
    let (_dir, store) = store();
    store
        .append_capture_log(&[entry("a", "body", b"A")])
        .unwrap();
    store
        .with_conn(|conn| {
            let update = conn.execute("UPDATE capture_log SET sha256 = 'x'", []);
            assert!(update.is_err());
            assert!(conn.execute("DELETE FROM capture_log", []).is_err());
            Ok(())
        })
        .unwrap();
}

#[test]
fn untimestamped_heads_stop_at_the_last_token() {
    let (_dir, store) = store();
    let first = store
        .append_capture_log(&[entry("a", "body", b"A"), entry("b", "body", b"B")])
        .unwrap();
    let heads = store.untimestamped_heads(10).unwrap();
    assert_eq!(heads.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
    store
        .record_timestamp_token(&token(&first[1], "http://tsa"))
        .unwrap();
    assert!(store.untimestamped_heads(10).unwrap().is_empty());
    store
        .append_capture_log(&[entry("c", "body", b"C")])
        .unwrap();
    let heads = store.untimestamped_heads(10).unwrap();
    assert_eq!(heads.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
}

#[test]
fn a_token_must_name_the_entrys_head() {
    let (_dir, store) = store();
    let e = store
        .append_capture_log(&[entry("a", "body", b"A")])
        .unwrap();
    let mut wrong = token(&e[0], "http://tsa");
    wrong.head = hex::encode([9u8; 32]);
    assert!(store.record_timestamp_token(&wrong).is_err());
    let mut missing = token(&e[0], "http://tsa");
    missing.seq = 7;
    assert!(store.record_timestamp_token(&missing).is_err());
    let id = store
        .record_timestamp_token(&token(&e[0], "http://tsa"))
        .unwrap();
    assert!(id > 0);
}

#[test]
fn a_segment_runs_from_the_items_to_a_timestamped_head_and_checks() {
    let (_dir, store) = store();
    let log = store
        .append_capture_log(&[
            entry("x", "body", b"X"),
            entry("a", "body", b"A"),
            entry("b", "body", b"B"),
            entry("a", "screenshot", b"S"),
            entry("c", "body", b"C"),
        ])
        .unwrap();
    // Not yet timestamped: the segment runs to the current head, without tokens.
    let seg = store.capture_log_segment(&["a"]).unwrap();
    assert_eq!(
        seg.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(seg.tokens.is_empty());
    assert_eq!(seg.check().unwrap(), Some(log[4].head.clone()));

    store
        .record_timestamp_token(&token(&log[3], "http://tsa1"))
        .unwrap();
    store
        .record_timestamp_token(&token(&log[3], "http://tsa2"))
        .unwrap();
    store
        .record_timestamp_token(&token(&log[4], "http://tsa1"))
        .unwrap();
    let seg = store.capture_log_segment(&["a", "nobody"]).unwrap();
    assert_eq!(
        seg.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(seg.tokens.len(), 2);
    assert_eq!(seg.check().unwrap(), Some(log[3].head.clone()));

    let mut edited = seg.clone();
    edited.entries[1].sha256 = hex::encode(Sha256::digest(b"edited"));
    let err = edited.check().unwrap_err();
    assert!(
        matches!(&err, ChainError::Entry { seq: 3, item_id, .. } if item_id == "b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("entry 3 (b)"), "{err}");
    let mut gap = seg.clone();
    gap.entries.remove(1);
    assert!(
        matches!(gap.check(), Err(ChainError::Entry { seq: 4, .. })),
        "{:?}",
        gap.check()
    );

    assert_eq!(
        store.capture_log_segment(&["nobody"]).unwrap(),
        ChainSegment::default()
    );
}

#[test]
fn entries_after_the_last_token_keep_the_earlier_tokens_in_the_segment() {
    let (_dir, store) = store();
    let log = store
        .append_capture_log(&[
            entry("a", "body", b"A"),
            entry("b", "body", b"B"),
            entry("a", "headers", b"H"),
        ])
        .unwrap();
    store
        .record_timestamp_token(&token(&log[0], "http://old"))
        .unwrap();
    store
        .record_timestamp_token(&token(&log[2], "http://tsa"))
        .unwrap();
    // A screenshot logged after the last token: the segment runs to it, and carries the
    // token of entry 3 (the last timestamped head inside it), not entry 1's.
    let shot = store
        .append_capture_log(&[entry("a", "screenshot", b"S")])
        .unwrap();
    let seg = store.capture_log_segment(&["a"]).unwrap();
    assert_eq!(
        seg.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        seg.tokens
            .iter()
            .map(|t| (t.seq, t.tsa_url.as_str()))
            .collect::<Vec<_>>(),
        [(3, "http://tsa")]
    );
    assert_eq!(seg.check().unwrap(), Some(shot[0].head.clone()));

    // A token whose head is not its entry's, or tokens for two entries, do not check.
    let mut wrong = seg.clone();
    wrong.tokens[0].head = log[1].head.clone();
    assert!(matches!(
        wrong.check(),
        Err(ChainError::Token { seq: 3, .. })
    ));
    let mut two = seg.clone();
    let mut other = two.tokens[0].clone();
    other.seq = 1;
    other.head = log[0].head.clone();
    two.tokens.push(other);
    assert!(matches!(two.check(), Err(ChainError::Token { seq: 1, .. })));
}
