use super::*;

#[test]
fn the_builtin_library_parses_and_covers_the_issue() {
    let lib = builtin_library().unwrap();
    assert!(lib.narratives.len() >= 16, "{}", lib.narratives.len());
    let mut ids = std::collections::HashSet::new();
    for n in &lib.narratives {
        assert!(ids.insert(n.id.clone()), "duplicate id {}", n.id);
        assert!(n.examples.len() >= 3, "{} needs phrasings", n.id);
        assert!(!n.debunks.is_empty(), "{} needs debunk phrasings", n.id);
        assert!(!n.rebuttal.trim().is_empty(), "{} needs a rebuttal", n.id);
        assert!(
            n.source.as_ref().is_some_and(|s| s.scheme() == "https"),
            "{} needs a public source",
            n.id
        );
    }
    for id in [
        "pen-pencil",
        "vote-online-text",
        "wrong-polling-day",
        "polling-station-closed",
        "poll-card-needed",
        "no-id-needed",
        "expired-id-refused",
        "postal-votes-dumped",
        "count-rigged",
        "spoilt-ballot-counts",
        "vote-twice",
        "election-postponed",
        "register-on-the-day",
        "ballot-not-secret",
        "eligibility",
        "fake-official-notice",
        "photo-id-list",
        "ballots-discarded",
        "leaked-recording",
    ] {
        assert!(ids.contains(id), "missing narrative {id}");
    }
}

#[test]
fn calibration_is_monotonic_in_claim_and_margin_and_falls_with_cues() {
    let c = builtin_library().unwrap().calibration;
    let f = |claim: f32, rebuttal: f32, cues| {
        c.score(&Features {
            claim,
            rebuttal,
            segment_rebuttal: rebuttal,
            narrative_rebuttal: rebuttal,
            background: 0.3,
            claim_top3: claim - 0.05,
            cues,
            spread: 0.0,
            polarity: 0.0,
            reported: 0.0,
            question: 0.0,
        })
    };
    assert!(f(0.8, 0.4, 0.0) > f(0.5, 0.4, 0.0));
    assert!(f(0.8, 0.3, 0.0) > f(0.8, 0.7, 0.0));
    assert!(f(0.8, 0.4, 0.0) > f(0.8, 0.4, 2.0));
    assert!((0.0..=1.0).contains(&f(1.0, 0.0, 0.0)));
}

#[test]
fn cues() {
    assert_eq!(fact_check_cues("You must use a pencil"), 0.0);
    assert_eq!(fact_check_cues("MYTH: you must use a pencil"), 1.0);
    assert_eq!(
        fact_check_cues("Fact check: this is not true, ignore these posts"),
        2.0
    );
}

#[test]
fn negation() {
    assert!(negated("Your vote is not secret"));
    assert!(negated("You can't vote without your poll card"));
    assert!(negated("It doesn’t count"));
    assert!(!negated("Your vote is secret"));
    assert!(!negated(
        "Nothingness aside, the count went ahead for the government agent"
    ));
    assert!(!negated("Polls are open from 7am to 10pm on Thursday"));
}

#[test]
fn reported_speech_and_questions() {
    assert!(reported_speech(
        "A post going round says the polls close at 8pm"
    ));
    assert!(reported_speech(
        "I've been told you can vote twice if you have two homes"
    ));
    assert!(!reported_speech("Polls close at 10pm on Thursday"));
    assert!(asks("Did you know you can vote by text"));
    assert!(asks("Can I vote by text?"));
    assert!(!asks("You can vote by text"));
}

#[test]
fn spread() {
    assert_eq!(spread_cues("Polls are open from 7am to 10pm."), 0.0);
    assert_eq!(spread_cues("Pencil votes get erased, pass it on"), 1.0);
    assert_eq!(
        spread_cues("URGENT: POLLING STATIONS ARE CLOSED, share before it's deleted!!"),
        2.0
    );
    assert_eq!(spread_cues("The BBC and ITV reported the result"), 0.0);
}

#[test]
fn jokes_and_forgeries_are_correction_cues() {
    assert_eq!(
        fact_check_cues("My cat ate my postal vote (joking, it'll be counted)"),
        1.0
    );
    assert_eq!(
        fact_check_cues("The clip of the Returning Officer was made with voice-cloning software"),
        1.0
    );
}

fn detector() -> Option<Narratives> {
    let lib = builtin_library().unwrap();
    Some(Narratives::new(crate::onnx::tests::test_encoder()?, lib, None).unwrap())
}

fn item(text: &str) -> Item {
    Item {
        id: "t".into(),
        text: Some(text.into()),
        ..Item::default()
    }
}

#[test]
fn flags_a_false_claim_with_narrative_sentence_and_rebuttal_but_not_its_debunk() {
    let Some(d) = detector() else {
        return;
    };
    let claim =
        item("Don't use the pencils at the polling station, they rub out your vote. Take a pen!");
    let debunk = item("You can use a pen or a pencil to vote, both are fine. Claims that pencil votes are rubbed out are false.");
    let out = d.detect_batch(&[&claim, &debunk]);
    let v = out[0].as_ref().unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    let v = &v[0];
    assert!(v.score >= 0.5, "{v:?}");
    assert_eq!(v.label, "election_process_claim");
    assert_eq!(v.evidence["narrative"], "pen-pencil");
    assert!(v.explanation.contains("pencil"), "{}", v.explanation);
    assert!(v.rebuttal.as_deref().unwrap().contains("pencil provided"));
    let debunked = out[1].as_ref().unwrap();
    assert!(
        debunked.iter().all(|v| v.score < 0.5),
        "debunk flagged: {debunked:?}"
    );
}

#[test]
fn a_claim_at_the_end_of_a_long_article_is_found() {
    let Some(d) = detector() else {
        return;
    };
    let mut text = "The council's planning committee met on Tuesday to discuss new housing on the old gasworks site. ".repeat(40);
    text.push_str("Meanwhile posts are telling residents that the local elections have been postponed until June, so there is no vote on Thursday.");
    let v = d.detect(&item(&text)).unwrap();
    assert!(
        v.iter()
            .any(|v| v.evidence["narrative"] == "election-postponed"),
        "{v:?}"
    );
}

#[test]
fn a_reported_claim_is_flagged_but_the_same_claim_called_false_is_not() {
    let Some(d) = detector() else {
        return;
    };
    let reported = item("A message going round the estate says the council elections have been called off until the autumn.");
    let called_false = item("Messages saying the council elections have been called off are false. The election goes ahead on Thursday.");
    let out = d.detect_batch(&[&reported, &called_false]);
    let v = out[0].as_ref().unwrap();
    assert!(
        v.iter()
            .any(|v| v.score >= 0.5 && v.evidence["narrative"] == "election-postponed"),
        "{v:?}"
    );
    let v = out[1].as_ref().unwrap();
    assert!(v.iter().all(|v| v.score < 0.5), "debunk flagged: {v:?}");
}

/// The built-in library plus the example config's council narrative, with `debunks`.
fn with_bridge_closed(debunks: Vec<String>) -> Option<Narratives> {
    let mut lib = builtin_library().unwrap();
    lib.narratives.push(Narrative {
        id: "bridge-closed".into(),
        claim: "The Riverside polling station is closed because the bridge is shut".into(),
        examples: vec!["Riverside polling station shut, bridge closed, don't go".into()],
        rebuttal: "All polling stations are open 7am-10pm".into(),
        debunks,
        source: Some("https://www.anytown.gov.uk/elections".parse().unwrap()),
    });
    Some(Narratives::new(crate::onnx::tests::test_encoder()?, lib, None).unwrap())
}

#[test]
fn council_narratives_are_added() {
    let Some(d) = with_bridge_closed(Vec::new()) else {
        return;
    };
    let m = d
        .best_matches(&[
            "Don't go to vote in Riverside, the bridge is closed so the polling station is shut",
        ])
        .unwrap();
    let m = m[0].as_ref().unwrap();
    assert!(
        ["bridge-closed", "polling-station-closed"]
            .contains(&d.narratives()[m.narrative].id.as_str()),
        "{}",
        d.narratives()[m.narrative].id
    );
}

#[test]
fn a_council_narratives_debunks_keep_its_corrections_unflagged() {
    let correction =
        "Riverside polling station is open as usual; the bridge closure does not affect it";
    let Some(d) = with_bridge_closed(vec![correction.into()]) else {
        return;
    };
    let out = d.detect_batch(&[&item(correction)]);
    let verdicts = out[0].as_ref().unwrap();
    assert!(
        verdicts.iter().all(|v| v.score < 0.5),
        "the council's own correction was flagged: {verdicts:?}"
    );
}

#[test]
fn embedding_cache_round_trips() {
    let Some(enc) = crate::onnx::tests::test_encoder() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("bw-narr-cache-{}", std::process::id()));
    let texts = ["first text", "second text"];
    let fresh = cached_embeddings(&enc, &texts, Some(&dir)).unwrap();
    let file = dir.join(format!("narratives-{}.bin", enc.sha256()));
    assert!(file.is_file());
    let read = read_cache(&file);
    assert_eq!(read.len(), 2);
    let again = cached_embeddings(&enc, &texts, Some(&dir)).unwrap();
    assert_eq!(fresh, again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Floors on the Welsh slice `tests/eval/claims-cy.jsonl` (its own split `cy`, never fitted
/// on): the English sentence encoder reads Welsh only as word pieces, so this is the measured
/// limit of Welsh, not a target.
const WELSH_PRECISION_FLOOR: f64 = 0.9;
const WELSH_RECALL_FLOOR: f64 = 0.4;

#[test]
fn welsh_slice_meets_its_floor_and_flags_no_welsh_debunk() {
    let Some(d) = detector() else {
        return;
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/eval/claims-cy.jsonl");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 20, "{path}: {} rows", rows.len());
    let items: Vec<Item> = rows
        .iter()
        .map(|r| item(r["text"].as_str().unwrap()))
        .collect();
    let refs: Vec<&Item> = items.iter().collect();
    let (mut tp, mut fp, mut fn_) = (0.0f64, 0.0, 0.0);
    for (row, out) in rows.iter().zip(d.detect_batch(&refs)) {
        let flagged = out.unwrap().iter().any(|v| v.score >= 0.5);
        let label = row["label"] == true;
        assert!(
            !(flagged && row["kind"] == "debunk"),
            "Welsh debunk flagged: {}",
            row["text"]
        );
        match (flagged, label) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
    let recall = tp / (tp + fn_).max(1.0);
    eprintln!(
        "welsh slice: precision {precision:.3} recall {recall:.3} (tp {tp} fp {fp} fn {fn_})"
    );
    assert!(
        precision >= WELSH_PRECISION_FLOOR,
        "Welsh precision {precision:.3}"
    );
    assert!(recall >= WELSH_RECALL_FLOOR, "Welsh recall {recall:.3}");
}
