use super::*;
use crate::testutil::*;
use ballotwatch_core::{Severity, Verdict, VerdictKind};

fn result(id: &str, flagged: bool, scores: &[f32]) -> ClassifyResult {
    ClassifyResult {
        id: id.to_string(),
        flagged,
        severity: if flagged {
            Severity::High
        } else {
            Severity::None
        },
        verdicts: scores
            .iter()
            .enumerate()
            .map(|(i, s)| Verdict {
                kind: VerdictKind::Impersonation,
                label: format!("label{i}"),
                score: *s,
                detector: "domains".into(),
                explanation: format!("links to anytown-gov.uk ({i})"),
                evidence: serde_json::json!({"domain": "anytown-gov.uk", "i": i}),
                rebuttal: (i == 0).then(|| "Use anytown.gov.uk".to_string()),
            })
            .collect(),
        detector_errors: vec![],
        media_text: Vec::new(),
    }
}

fn classify_all(store: &Store) -> Vec<i64> {
    let pending = store.pending_classification(100).unwrap();
    let results: Vec<_> = pending
        .iter()
        .map(|s| (s.seq, result(&s.item.id, false, &[0.1])))
        .collect();
    store.save_results(&results).unwrap();
    pending.iter().map(|s| s.seq).collect()
}

fn seqs(items: &[StoredItem]) -> Vec<crate::IndexMark> {
    items.iter().map(StoredItem::index_mark).collect()
}

#[test]
fn items_flow_new_classified_indexed() {
    let (_dir, store) = store();
    store
        .record_poll(
            "Echo",
            poll(&store, &[("a", "1"), ("b", "2"), ("c", "3")], 0),
        )
        .unwrap();
    let pending = store.pending_classification(2).unwrap();
    assert_eq!(pending.len(), 2, "limit respected");
    assert_eq!(
        pending
            .iter()
            .map(|s| s.item.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"],
        "oldest first"
    );
    assert!(store.pending_index(10).unwrap().is_empty());

    let mut r = result("a", true, &[0.97, 0.4]);
    r.detector_errors = vec!["media: model file missing".into()];
    store
        .save_results(&[
            (pending[0].seq, r.clone()),
            (pending[1].seq, result("b", false, &[])),
        ])
        .unwrap();
    let a = store.get_item("a").unwrap().unwrap();
    assert_eq!(a.result.as_ref(), Some(&r));
    assert_eq!(
        count(&store, "SELECT count(*) FROM verdicts"),
        2,
        "one row per verdict"
    );
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT flagged * 10 + severity FROM items WHERE seq = {}",
                a.seq
            )
        ),
        13
    );
    let max: f64 = store
        .with_conn(|c| {
            c.query_row("SELECT max_score FROM items WHERE seq = ?1", [a.seq], |r| {
                r.get(0)
            })
            .ctx("q")
        })
        .unwrap();
    assert!((max - 0.97).abs() < 1e-6);
    let rebuttal: Option<String> = store
        .with_conn(|c| {
            c.query_row(
                "SELECT rebuttal FROM verdicts WHERE item_seq = ?1 AND idx = 0",
                [a.seq],
                |r| r.get(0),
            )
            .ctx("q")
        })
        .unwrap();
    assert_eq!(rebuttal.as_deref(), Some("Use anytown.gov.uk"));

    // Saving again is a no-op: no duplicate verdict rows, result unchanged.
    store
        .save_results(&[(pending[0].seq, result("a", false, &[0.1]))])
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM verdicts"), 2);
    assert_eq!(store.get_item("a").unwrap().unwrap().result, Some(r));

    let remaining = store.pending_classification(10).unwrap();
    assert_eq!(
        remaining
            .iter()
            .map(|s| s.item.id.as_str())
            .collect::<Vec<_>>(),
        ["c"]
    );

    let to_index = store.pending_index(10).unwrap();
    assert_eq!(seqs(&to_index), seqs(&pending));
    store.mark_indexed(&seqs(&to_index)).unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());
    store.mark_indexed(&seqs(&to_index)).unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM items WHERE stage = 'indexed'"),
        2
    );
    // c is still new: marking it "indexed" early does nothing.
    store.mark_indexed(&[remaining[0].index_mark()]).unwrap();
    assert_eq!(
        store.pending_classification(10).unwrap().len(),
        1,
        "c still awaits classification"
    );
}

#[test]
fn pending_index_returns_only_the_latest_version_and_marks_older_ones() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "v1")], 0))
        .unwrap();
    store
        .record_poll("Echo", poll(&store, &[("a", "v2"), ("b", "b1")], 300))
        .unwrap();
    // Classify only a's v1: its latest (v2) is still new, so a is not ready to index.
    let v1 = store.item_versions("a").unwrap()[0].seq;
    store
        .save_results(&[(v1, result("a", false, &[]))])
        .unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());

    classify_all(&store);
    store
        .record_poll("Echo", poll(&store, &[("a", "v3")], 600))
        .unwrap();
    classify_all(&store);

    let pending = store.pending_index(10).unwrap();
    let ids: Vec<_> = pending
        .iter()
        .map(|s| (s.item.id.as_str(), s.item.version))
        .collect();
    assert_eq!(ids, [("b", 1), ("a", 3)], "latest only, oldest first");
    store.mark_indexed(&seqs(&pending)).unwrap();
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM items WHERE stage <> 'indexed'"
        ),
        0,
        "older versions of a were marked too"
    );
}

#[test]
fn marking_an_older_version_leaves_newer_ones_pending() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "v1")], 0))
        .unwrap();
    classify_all(&store);
    let first = store.pending_index(10).unwrap();
    // A new version arrives and is classified while the indexer works on v1.
    store
        .record_poll("Echo", poll(&store, &[("a", "v2")], 300))
        .unwrap();
    classify_all(&store);
    store.mark_indexed(&seqs(&first)).unwrap();
    let next = store.pending_index(10).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].item.version, 2);
}

#[test]
fn a_stray_classified_old_version_does_not_stay_queued_forever() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "v1")], 0))
        .unwrap();
    store
        .record_poll("Echo", poll(&store, &[("a", "v2")], 300))
        .unwrap();
    let versions = store.item_versions("a").unwrap();
    // v2 is classified and indexed before v1 is classified (out-of-order workers).
    store
        .save_results(&[(versions[1].seq, result("a", false, &[]))])
        .unwrap();
    store.mark_indexed(&[versions[1].index_mark()]).unwrap();
    store
        .save_results(&[(versions[0].seq, result("a", false, &[]))])
        .unwrap();
    // The latest version is offered again (re-indexing is idempotent), and marking it clears v1.
    let pending = store.pending_index(10).unwrap();
    assert_eq!(seqs(&pending), [versions[1].index_mark()]);
    store.mark_indexed(&seqs(&pending)).unwrap();
    assert!(store.pending_index(10).unwrap().is_empty());
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM items WHERE stage = 'classified'"
        ),
        0
    );
}

#[test]
fn save_results_refuses_mismatched_ids_and_bad_scores_atomically() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "1"), ("b", "2")], 0))
        .unwrap();
    let p = store.pending_classification(10).unwrap();
    let err = store
        .save_results(&[
            (p[0].seq, result("a", false, &[])),
            (p[1].seq, result("zzz", false, &[])),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("`zzz`"), "{err}");
    assert_eq!(
        store.pending_classification(10).unwrap().len(),
        2,
        "a not moved either"
    );

    let err = store
        .save_results(&[(p[0].seq, result("a", true, &[f32::NAN]))])
        .unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    // Unknown seqs are skipped, the rest saved.
    store
        .save_results(&[
            (9999, result("a", false, &[])),
            (p[0].seq, result("a", false, &[])),
        ])
        .unwrap();
    assert_eq!(store.pending_classification(10).unwrap().len(), 1);
}

#[test]
fn save_results_failing_midway_leaves_nothing_behind() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "1"), ("b", "2")], 0))
        .unwrap();
    let p = store.pending_classification(10).unwrap();
    exec(
        &store,
        "CREATE TEMP TRIGGER crash BEFORE INSERT ON verdicts WHEN NEW.label = 'label1'
         BEGIN SELECT RAISE(ABORT, 'simulated crash'); END;",
    );
    let batch = [
        (p[0].seq, result("a", true, &[0.9])),
        (p[1].seq, result("b", true, &[0.9, 0.8])),
    ];
    let err = store.save_results(&batch).unwrap_err();
    assert!(err.to_string().contains("simulated crash"), "{err}");
    assert_eq!(store.pending_classification(10).unwrap().len(), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM verdicts"), 0);
    assert!(store.get_item("a").unwrap().unwrap().result.is_none());
    exec(&store, "DROP TRIGGER crash");
    store.save_results(&batch).unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM verdicts"), 3);
}

#[test]
fn latest_items_after_pages_through_latest_versions() {
    let (_dir, store) = store();
    let ids: Vec<String> = (0..7).map(|i| format!("i{i}")).collect();
    let first: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "v1")).collect();
    store.record_poll("Echo", poll(&store, &first, 0)).unwrap();
    // i1 and i4 get new versions: their latest rows move to the end.
    store
        .record_poll("Echo", poll(&store, &[("i1", "v2"), ("i4", "v2")], 300))
        .unwrap();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.latest_items_after(after, 3).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        assert!(page.windows(2).all(|w| w[0].seq < w[1].seq));
        after = page.last().unwrap().seq;
        seen.extend(page.into_iter().map(|s| (s.item.id, s.item.version)));
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(store.count_latest_items().unwrap(), 7);
    assert_eq!(store.count_items().unwrap(), 9);
    let order: Vec<_> = seen.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(order, ["i0", "i2", "i3", "i5", "i6", "i1", "i4"]);
    assert!(seen
        .iter()
        .all(|(i, v)| *v == if i == "i1" || i == "i4" { 2 } else { 1 }));
    assert!(store.latest_items_after(i64::MAX, 10).unwrap().is_empty());
    assert!(store.latest_items_after(0, 0).unwrap().is_empty());
}

#[test]
fn get_items_keeps_the_requested_order_and_skips_unknown_ids() {
    let (_dir, store) = store();
    store
        .record_poll(
            "Echo",
            poll(&store, &[("a", "1"), ("b", "2"), ("c", "3")], 0),
        )
        .unwrap();
    store
        .record_poll("Echo", poll(&store, &[("b", "2 edited")], 300))
        .unwrap();
    let got = store
        .get_items(&["c".into(), "nope".into(), "b".into(), "a".into()])
        .unwrap();
    let got: Vec<_> = got
        .iter()
        .map(|s| (s.item.id.as_str(), s.item.version))
        .collect();
    assert_eq!(got, [("c", 1), ("b", 2), ("a", 1)]);
    assert!(store.get_item("nope").unwrap().is_none());
    assert!(store.item_versions("nope").unwrap().is_empty());
    assert!(store.get_capture(12345).unwrap().is_none());
}

#[test]
fn stored_items_round_trip_exactly() {
    let (_dir, store) = store();
    let mut rec = poll(&store, &[("a", "text")], 0);
    let it = &mut rec.items[0].1;
    it.author = Some(ballotwatch_core::Author {
        handle: Some("@someone".into()),
        ..Default::default()
    });
    it.links = vec!["https://anytown-gov.uk/vote".into()];
    it.matched_terms = vec!["Anytown".into()];
    let original = it.clone();
    store.record_poll("Echo", rec).unwrap();
    let stored = store.get_item("a").unwrap().unwrap();
    let mut expected = original;
    expected.version = 1;
    expected.ingested_at = stored.item.ingested_at;
    assert_eq!(stored.item, expected);
}

#[test]
fn damaged_item_json_is_an_error_naming_the_row() {
    let (_dir, store) = store();
    store
        .record_poll("Echo", poll(&store, &[("a", "1")], 0))
        .unwrap();
    exec(&store, "UPDATE items SET item_json = '{not json'");
    let err = store.get_item("a").unwrap_err();
    assert!(matches!(err, StoreError::Json { .. }));
    assert!(err.to_string().contains("items.item_json of seq"), "{err}");
}

#[test]
fn concurrent_use_from_several_threads() {
    let (_dir, store) = store();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = store.clone();
            std::thread::spawn(move || {
                for round in 0..5 {
                    let ids: Vec<String> = (0..3).map(|i| format!("w{w}-{i}")).collect();
                    let text = format!("round {round}");
                    let items: Vec<(&str, &str)> =
                        ids.iter().map(|i| (i.as_str(), text.as_str())).collect();
                    let rec = poll(&s, &items, round * 300 + w);
                    s.record_poll(&format!("source{w}"), rec).unwrap();
                }
            })
        })
        .collect();
    // A classifier and an indexer run at the same time.
    let classifier = {
        let s = store.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let p = s.pending_classification(5).unwrap();
                let r: Vec<_> = p
                    .iter()
                    .map(|x| (x.seq, result(&x.item.id, false, &[0.2])))
                    .collect();
                s.save_results(&r).unwrap();
            }
        })
    };
    let indexer = {
        let s = store.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let p = s.pending_index(5).unwrap();
                s.mark_indexed(&seqs(&p)).unwrap();
            }
        })
    };
    for h in writers {
        h.join().unwrap();
    }
    classifier.join().unwrap();
    indexer.join().unwrap();
    // 4 writers x 3 ids x 5 rounds, each round a new version.
    assert_eq!(store.count_items().unwrap(), 60);
    assert_eq!(store.count_latest_items().unwrap(), 12);
    assert_eq!(store.count_captures().unwrap(), 20);
    // Drain whatever is left, then everything is indexed exactly once per id.
    classify_all(&store);
    let p = store.pending_index(100).unwrap();
    store.mark_indexed(&seqs(&p)).unwrap();
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM items WHERE stage <> 'indexed'"
        ),
        0
    );
    for w in 0..4 {
        let s = store.source_state(&format!("source{w}")).unwrap().unwrap();
        assert_eq!((s.fetches, s.items_new, s.items_updated), (5, 3, 12));
    }
}

#[test]
fn two_processes_on_one_data_dir_stay_consistent() {
    let (dir, store) = store();
    let other = Store::open(dir.path()).unwrap();
    let handles: Vec<_> = [store.clone(), other.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            std::thread::spawn(move || {
                for round in 0..5 {
                    let id = format!("p{n}");
                    let text = format!("r{round}");
                    let rec = poll(&s, &[(id.as_str(), text.as_str())], round * 10 + n as i64);
                    s.record_poll("Echo", rec).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.count_items().unwrap(), 10);
    assert_eq!(other.count_items().unwrap(), 10);
    assert_eq!(store.source_state("Echo").unwrap().unwrap().fetches, 10);
}
