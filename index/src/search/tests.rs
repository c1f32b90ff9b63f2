//! Search: queries, filters, sorting, facets, snippets and the hostile-query bounds.

use super::*;
use crate::test_support::*;
use ballotwatch_core::{Author, Severity, VerdictKind};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

fn ids(results: &SearchResults) -> Vec<&str> {
    results.hits.iter().map(|h| h.id.as_str()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn stemming_finds_word_forms() {
    let (_d, idx) = index_with(&[
        doc_item("a", "Residents were voting early", None),
        doc_item("b", "The station on Mill Lane", None),
        doc_item("c", "Nothing relevant here", None),
    ]);
    assert_eq!(search_ids(&idx, "vote"), ["a"]);
    assert_eq!(search_ids(&idx, "stations"), ["b"]);
    assert_eq!(search_ids(&idx, "VOTES"), ["a"]);
}

#[test]
fn all_words_must_match_and_phrases_keep_order() {
    let (_d, idx) = index_with(&[
        doc_item("a", "The polling station is closed", None),
        doc_item("b", "The station near the polling place", None),
        doc_item("c", "Polling opens at seven", None),
    ]);
    assert_eq!(sorted(search_ids(&idx, "polling station")), ["a", "b"]);
    assert_eq!(search_ids(&idx, "\"polling station\""), ["a"]);
    assert_eq!(
        search_ids(&idx, "\"polling stations\""),
        ["a"],
        "stemmed phrase"
    );
    assert_eq!(
        sorted(search_ids(&idx, "polling OR closed")),
        ["a", "b", "c"]
    );
}

#[test]
fn title_author_and_keyword_filters() {
    let mut a = doc_item("a", "body one", None);
    a.title = Some("Bridge closed".into());
    a.author = Some(Author {
        handle: Some("@jokafor".into()),
        display_name: Some("Jane Okafor".into()),
        ..Author::default()
    });
    a.source.name = "Anytown Echo".into();
    a.url = Some("https://Echo.example/A".into());
    a.matched_terms = vec!["Riverside ward".into()];
    let mut b = doc_item("b", "body two bridge", None);
    b.source.name = "Riverside Gazette".into();
    b.source.kind = "bluesky".into();
    let (_d, idx) = index_with(&[a, b]);

    assert_eq!(search_ids(&idx, "author:okafor"), ["a"]);
    assert_eq!(
        search_ids(&idx, "okafor"),
        ["a"],
        "author is a default field"
    );
    assert_eq!(search_ids(&idx, "title:bridge"), ["a"]);
    assert_eq!(
        search_ids(&idx, "bridge")[0],
        "a",
        "title boost ranks it first"
    );
    assert_eq!(search_ids(&idx, "source:\"Anytown Echo\""), ["a"]);
    assert_eq!(search_ids(&idx, "source:\"anytown echo\""), ["a"]);
    assert!(
        search_ids(&idx, "source:anytown").is_empty(),
        "keywords match whole"
    );
    assert_eq!(search_ids(&idx, "source_kind:bluesky"), ["b"]);
    assert_eq!(search_ids(&idx, "term:\"riverside ward\""), ["a"]);
    assert_eq!(search_ids(&idx, "url:\"https://echo.example/a\""), ["a"]);
    assert_eq!(search_ids(&idx, "id:b"), ["b"]);
}

#[test]
fn an_item_in_several_incidents_matches_each_id_and_status() {
    let mut doc = classified(
        "two",
        "Pay the council portal",
        Severity::High,
        &[(VerdictKind::Impersonation, "lookalike_domain", 0.97)],
        Some(4),
    );
    doc.2.push(ballotwatch_core::IncidentRef {
        id: 5,
        status: ballotwatch_core::IncidentStatus::Escalated,
    });
    let (_d, idx) = index_with(&[doc, doc_item("plain", "Ordinary news", None).into()]);
    assert_eq!(search_ids(&idx, "incident_id:4"), ["two"]);
    assert_eq!(search_ids(&idx, "incident_id:5"), ["two"]);
    assert_eq!(search_ids(&idx, "incident_status:escalated"), ["two"]);
    assert_eq!(search_ids(&idx, "incident_status:new"), ["two"]);
    assert!(search_ids(&idx, "incident_status:resolved").is_empty());
}

#[test]
fn verdict_filters_flagged_kind_label_severity_score_incident() {
    let (_d, idx) = index_with(&[
        classified(
            "imp",
            "Pay the council portal",
            Severity::High,
            &[(VerdictKind::Impersonation, "lookalike_domain", 0.97)],
            Some(4),
        ),
        classified(
            "mis",
            "Polls close at noon",
            Severity::Medium,
            &[(VerdictKind::Misinformation, "wrong_date", 0.7)],
            None,
        ),
        unflagged_verdict(
            "low",
            "A faint resemblance",
            VerdictKind::Impersonation,
            "lookalike_handle",
            0.2,
        ),
        doc_item("plain", "Ordinary election news", None).into(),
    ]);
    assert_eq!(sorted(search_ids(&idx, "flagged:true")), ["imp", "mis"]);
    assert_eq!(sorted(search_ids(&idx, "flagged:false")), ["low", "plain"]);
    assert_eq!(
        sorted(search_ids(&idx, "kind:impersonation")),
        ["imp", "low"]
    );
    assert_eq!(
        search_ids(&idx, "kind:impersonation AND flagged:true"),
        ["imp"]
    );
    assert_eq!(search_ids(&idx, "label:lookalike_domain"), ["imp"]);
    assert_eq!(search_ids(&idx, "severity:high"), ["imp"]);
    assert_eq!(search_ids(&idx, "severity:HIGH"), ["imp"]);
    assert_eq!(sorted(search_ids(&idx, "severity:none")), ["low", "plain"]);
    assert_eq!(
        sorted(search_ids(&idx, "max_score:[0.5 TO 1]")),
        ["imp", "mis"]
    );
    assert_eq!(search_ids(&idx, "incident_id:4"), ["imp"]);
    assert_eq!(search_ids(&idx, "incident_id:*"), ["imp"]);
    assert_eq!(search_ids(&idx, "incident_status:new"), ["imp"]);
    assert_eq!(search_ids(&idx, "incident_status:\"NEW\""), ["imp"]);
    assert!(search_ids(&idx, "incident_status:escalated").is_empty());
    assert_eq!(search_ids(&idx, "* -kind:impersonation").len(), 2);
    assert_eq!(search_ids(&idx, "facets:/kind/misinformation"), ["mis"]);
}

#[test]
fn date_ranges_on_published_and_ingested() {
    let (_d, idx) = index_with(&[
        doc_item("may1", "x", Some("2026-05-01T08:00:00Z")),
        doc_item("may2", "x", Some("2026-05-02T08:00:00Z")),
        doc_item("apr", "x", Some("2026-04-20T08:00:00Z")),
    ]);
    assert_eq!(
        search_ids(
            &idx,
            "published_at:[2026-05-01T00:00:00Z TO 2026-05-02T00:00:00Z]"
        ),
        ["may1"]
    );
    assert_eq!(
        sorted(search_ids(&idx, "published_at:[2026-05-01T00:00:00Z TO *]")),
        ["may1", "may2"]
    );
    // test_support sets ingested_at one hour after published_at.
    assert_eq!(
        search_ids(
            &idx,
            "ingested_at:[2026-05-02T09:00:00Z TO 2026-05-02T09:00:01Z}"
        ),
        ["may2"]
    );
    assert_eq!(
        search_ids(
            &idx,
            "x AND published_at:{2026-04-01T00:00:00Z TO 2026-05-01T00:00:00Z}"
        ),
        ["apr"]
    );
}

#[test]
fn star_and_blank_match_everything_with_text_start_as_snippet() {
    let long = format!("<script>alert(1)</script> {}", "word ".repeat(100));
    let (_d, idx) = index_with(&[
        doc_item("a", &long, None),
        doc_item("b", "short & sweet", None),
    ]);
    for q in ["*", "", "   "] {
        let r = idx.search(&SearchRequest::new(q, 10)).unwrap();
        assert_eq!(r.total, 2, "query {q:?}");
        assert_eq!(r.hits.len(), 2);
    }
    let r = idx.search(&SearchRequest::new("*", 10)).unwrap();
    let a = r.hits.iter().find(|h| h.id == "a").unwrap();
    assert!(
        a.snippet
            .starts_with("&lt;script&gt;alert(1)&lt;/script&gt; word"),
        "{}",
        a.snippet
    );
    assert!(a.snippet.ends_with('…'));
    assert!(a.snippet.chars().count() < 240, "{}", a.snippet);
    assert!(!a.snippet.contains("<b>"));
    let b = r.hits.iter().find(|h| h.id == "b").unwrap();
    assert_eq!(b.snippet, "short &amp; sweet");
    assert!((a.score - 1.0).abs() < f32::EPSILON);
}

#[test]
fn snippets_highlight_matches_and_escape_html() {
    let mut a = doc_item(
        "a",
        "Beware <script>steal()</script> the polling station at Mill Lane is closed",
        None,
    );
    a.title = Some("Rumours & <lies>".into());
    let mut t = doc_item("t", "nothing in the body", None);
    t.title = Some("Polling <em>day</em> guide".into());
    let (_d, idx) = index_with(&[a, t]);

    let r = idx.search(&SearchRequest::new("station", 10)).unwrap();
    let snip = &r.hits[0].snippet;
    assert!(snip.contains("<b>station</b>"), "{snip}");
    assert!(
        snip.contains("&lt;script&gt;steal()&lt;/script&gt;"),
        "{snip}"
    );
    assert!(!snip.contains("<script>"), "{snip}");

    // Stemmed match highlights the original word form.
    let r = idx.search(&SearchRequest::new("stations", 10)).unwrap();
    assert!(r.hits[0].snippet.contains("<b>station</b>"));

    // Only the title matches: the title is the snippet.
    let r = idx.search(&SearchRequest::new("guide", 10)).unwrap();
    assert_eq!(
        r.hits[0].snippet,
        "Polling &lt;em&gt;day&lt;/em&gt; <b>guide</b>"
    );

    // A filter-only query falls back to the start of the text.
    let r = idx.search(&SearchRequest::new("id:a", 10)).unwrap();
    assert!(
        r.hits[0].snippet.starts_with("Beware &lt;script&gt;"),
        "{}",
        r.hits[0].snippet
    );
}

#[test]
fn newest_sort_uses_published_then_ingested_time() {
    let mut only_ingested = doc_item("ingested_latest", "vote", None);
    only_ingested.ingested_at = Some("2026-05-03T00:00:00Z".parse().unwrap());
    let mut no_time = doc_item("no_time", "vote", None);
    no_time.ingested_at = None;
    let (_d, idx) = index_with(&[
        doc_item("mid", "vote vote vote vote", Some("2026-05-01T12:00:00Z")),
        no_time,
        doc_item("old", "vote", Some("2026-04-01T00:00:00Z")),
        only_ingested,
        doc_item("new", "vote", Some("2026-05-02T00:00:00Z")),
    ]);
    let mut req = SearchRequest::new("vote", 10);
    req.sort = SortOrder::Newest;
    let r = idx.search(&req).unwrap();
    assert_eq!(ids(&r), ["ingested_latest", "new", "mid", "old", "no_time"]);
    assert!(
        r.hits.iter().all(|h| h.score > 0.0),
        "scores still reported"
    );

    req.offset = 1;
    req.limit = 2;
    let page = idx.search(&req).unwrap();
    assert_eq!(ids(&page), ["new", "mid"]);
    assert_eq!(page.total, 5);

    let relevance = idx.search(&SearchRequest::new("vote", 10)).unwrap();
    assert_eq!(
        relevance.hits[0].id, "mid",
        "most occurrences scores highest"
    );
    let scores: Vec<f32> = relevance.hits.iter().map(|h| h.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Ties on score (match-all) fall back to newest first.
    let all = idx.search(&SearchRequest::new("*", 10)).unwrap();
    assert_eq!(
        ids(&all),
        ["ingested_latest", "new", "mid", "old", "no_time"]
    );
}

/// Five high-severity lookalike-domain items (`imp0`…`imp4`) from "Anytown Echo".
fn echo_impersonations() -> Vec<TestDoc> {
    (0..5)
        .map(|i| {
            let mut d = classified(
                &format!("imp{i}"),
                "council portal",
                Severity::High,
                &[(VerdictKind::Impersonation, "lookalike_domain", 0.9)],
                None,
            );
            d.0.source.name = "Anytown Echo".into();
            d
        })
        .collect()
}

#[test]
fn facets_count_all_matches_not_just_the_page() {
    let mut docs = echo_impersonations();
    for i in 0..3 {
        let mut d = classified(
            &format!("mis{i}"),
            "council polls",
            Severity::Medium,
            &[
                (VerdictKind::Misinformation, "wrong_date", 0.8),
                (VerdictKind::Impersonation, "lookalike_handle", 0.6),
            ],
            None,
        );
        d.0.source.name = "Riverside/Gazette".into();
        docs.push(d);
    }
    let mut plain = doc_item("plain", "council news", None);
    plain.source.name = "Anytown Echo".into();
    docs.push(plain.into());
    docs.push(doc_item("other", "unrelated", None).into());
    let (_d, idx) = index_with(&docs);

    let r = idx.search(&SearchRequest::new("council", 2)).unwrap();
    assert_eq!(r.total, 9);
    assert_eq!(r.hits.len(), 2);
    assert_eq!(r.facets.flagged, 8);
    assert_eq!(
        r.facets.kinds,
        [
            ("impersonation".to_string(), 8),
            ("misinformation".to_string(), 3)
        ]
    );
    assert_eq!(
        r.facets.labels,
        [
            ("lookalike_domain".to_string(), 5),
            ("lookalike_handle".to_string(), 3),
            ("wrong_date".to_string(), 3)
        ]
    );
    assert_eq!(
        r.facets.sources,
        [
            ("Anytown Echo".to_string(), 6),
            ("Riverside/Gazette".to_string(), 3)
        ]
    );
    assert_eq!(
        r.facets.severities,
        [
            ("high".to_string(), 5),
            ("medium".to_string(), 3),
            ("none".to_string(), 1)
        ]
    );

    // limit 0: counts only.
    let counts = idx
        .search(&SearchRequest::new("kind:misinformation", 0))
        .unwrap();
    assert_eq!(counts.total, 3);
    assert!(counts.hits.is_empty());
    assert_eq!(counts.facets.flagged, 3);
    assert_eq!(
        counts.facets.sources,
        [("Riverside/Gazette".to_string(), 3)]
    );

    // No matches: empty facets.
    let none = idx.search(&SearchRequest::new("zebra", 10)).unwrap();
    assert_eq!(none.total, 0);
    assert_eq!(none.facets, Facets::default());
}

#[test]
fn blank_search_counts_facets_from_the_term_dictionary_less_deleted_documents() {
    let mut docs = echo_impersonations();
    for i in 0..3 {
        docs.push(classified(
            &format!("mis{i}"),
            "council polls",
            Severity::Medium,
            &[(VerdictKind::Misinformation, "wrong_date", 0.8)],
            None,
        ));
    }
    let (_d, idx) = index_with(&docs);
    // A second segment re-indexes three items (their first copies are deleted documents now,
    // with the old facets) and an item is removed.
    let mut again = Vec::new();
    for i in 0..3 {
        let mut item = doc_item(&format!("imp{i}"), "council portal, cleared", None);
        item.source.name = "Castle Courier".into();
        again.push(TestDoc::from(item));
    }
    upsert_docs(&idx, &again);
    let mut w = idx.writer(20_000_000).unwrap();
    w.delete("mis0");
    w.commit().unwrap();

    let searcher = idx.reader.searcher();
    assert!(searcher.segment_readers().len() >= 2);
    assert!(searcher
        .segment_readers()
        .iter()
        .any(|s| s.num_deleted_docs() > 0));
    let mut collector = FacetCollector::for_field(FACETS_FIELD);
    for root in FACET_ROOTS {
        collector.add_facet(Facet::from_path([root]));
    }
    let visited = searcher.search(&AllQuery, &collector).unwrap();
    let from_terms = tally_of_all(&searcher, idx.fields.facets).unwrap();
    assert_eq!(facets_from(&from_terms), facets_from(&tally_of(&visited)));

    let blank = idx.search(&SearchRequest::new("", 2)).unwrap();
    assert_eq!(blank.total, 7);
    assert_eq!(blank.hits.len(), 2);
    assert_eq!(blank.facets.flagged, 4);
    assert_eq!(
        blank.facets.sources,
        [
            ("Castle Courier".to_string(), 3),
            ("Anytown Echo".to_string(), 2),
            ("Test Source".to_string(), 2)
        ]
    );
    assert_eq!(
        blank.facets.kinds,
        [
            ("impersonation".to_string(), 2),
            ("misinformation".to_string(), 2)
        ]
    );
}

#[test]
fn limits_and_offsets_are_bounded() {
    let docs: Vec<_> = (0..5)
        .map(|i| doc_item(&format!("d{i}"), "same words", None))
        .collect();
    let (_d, idx) = index_with(&docs);
    let mut req = SearchRequest::new("*", usize::MAX);
    let r = idx.search(&req).unwrap();
    assert_eq!(r.hits.len(), 5);
    req.offset = usize::MAX;
    let r = idx.search(&req).unwrap();
    assert!(r.hits.is_empty());
    assert_eq!(r.total, 5);
    req.offset = 3;
    req.limit = 10;
    assert_eq!(idx.search(&req).unwrap().hits.len(), 2);
}

#[test]
fn bad_queries_are_query_errors_naming_the_problem() {
    let (_d, idx) = index_with(&[doc_item("a", "text", None)]);
    let err = |q: &str| match idx.search(&SearchRequest::new(q, 10)) {
        Err(IndexError::Query { query, message }) => {
            assert_eq!(query, q);
            message
        }
        other => panic!("`{q}`: expected a Query error, got {other:?}"),
    };
    let m = err("sourc:\"Anytown Echo\"");
    assert!(
        m.contains("`sourc:`") && m.contains("did you mean `source:`"),
        "{m}"
    );
    assert!(m.contains("flagged"), "lists the fields: {m}");
    assert!(err("flagged:yes").contains("true"));
    let m = err("title:*");
    assert!(m.contains("has any value"), "{m}");
    let m = err("sevrity:*");
    assert!(m.contains("did you mean `severity:`"), "{m}");
    let full = IndexError::Query {
        query: "sourc:x".into(),
        message: m,
    }
    .to_string();
    assert!(full.starts_with("cannot search for `sourc:x`"));
}

#[test]
fn a_bracket_bomb_is_a_query_error_not_a_stack_overflow() {
    // Before the limits, this aborted the test process inside Tantivy's parser.
    let (_d, idx) = index_with(&[doc_item("a", "vote here", None)]);
    let bomb = format!("{}vote{}", "(".repeat(10_000), ")".repeat(10_000));
    for q in [bomb.clone(), bomb.replace(')', "")] {
        match idx.search(&SearchRequest::new(q, 10)) {
            Err(IndexError::Query { message, .. }) => assert!(
                message.starts_with("query too deeply nested (10000 levels; at most 16)"),
                "{message}"
            ),
            other => panic!("expected a Query error, got {other:?}"),
        }
    }
    let strict = idx.clone().with_query_limits(QueryLimits {
        max_length: 10,
        max_depth: 1,
    });
    let err = |q: &str| {
        strict
            .search(&SearchRequest::new(q, 10))
            .unwrap_err()
            .to_string()
    };
    assert!(err("((vote))").contains("(2 levels; at most 1)"));
    assert!(err("vote vote vote").contains("query too long (14 characters; at most 10)"));
    assert_eq!(
        strict
            .search(&SearchRequest::new("(vote)", 10))
            .unwrap()
            .total,
        1
    );
    assert_eq!(idx.query_limits(), QueryLimits::default());
}

#[test]
fn filters_are_anded_and_only_their_nesting_is_limited() {
    let docs: Vec<_> = (0..3)
        .map(|i| doc_item(&format!("d{i}"), "vote here", None))
        .collect();
    let (_d, idx) = index_with(&docs);
    let strict = idx.with_query_limits(QueryLimits {
        max_length: 20,
        max_depth: 2,
    });
    // A thousand ids, far longer than the query may be: still searched.
    let mut any: Vec<String> = (0..1000).map(|i| format!("id:\"none{i}\"")).collect();
    any.extend(["id:\"d0\"".to_string(), "id:\"d2\"".to_string()]);
    let mut req = SearchRequest::new("vote", 10);
    req.filters = vec![format!("({})", any.join(" OR "))];
    assert!(req
        .index_query()
        .starts_with("(vote) AND (id:\"none0\" OR "));
    let found = strict.search(&req).unwrap();
    let mut got = ids(&found);
    got.sort_unstable();
    assert_eq!(got, ["d0", "d2"]);
    req.query = "  ".into();
    assert!(req.index_query().starts_with("(id:"));
    assert_eq!(strict.search(&req).unwrap().total, 2);
    req.filters = vec!["(((id:\"d0\")))".into()];
    let m = strict.search(&req).unwrap_err().to_string();
    assert!(m.contains("(3 levels; at most 2)"), "{m}");
    assert_eq!(SearchRequest::new(" ", 1).index_query(), "*");
}

#[test]
fn excerpt_cuts_at_words_and_escapes() {
    assert_eq!(leading_excerpt("a  b\n c", 10), "a b c");
    let s = leading_excerpt(&"abc ".repeat(100), 20);
    assert!(s.ends_with('…'));
    assert!(s.chars().count() <= 21, "{s}");
    assert!(
        !s.contains("ab…") || s.ends_with("abc…"),
        "cut on a word: {s}"
    );
    assert_eq!(leading_excerpt("é<", 1), "é…");
    assert_eq!(
        leading_excerpt(r#"<a href="x">'&'</a>"#, 100),
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    );
}

#[test]
fn sort_order_serde_names() {
    assert_eq!(
        serde_json::to_string(&SortOrder::Newest).unwrap(),
        "\"newest\""
    );
    assert_eq!(
        serde_json::from_str::<SortOrder>("\"relevance\"").unwrap(),
        SortOrder::Relevance
    );
    assert_eq!(
        serde_json::from_str::<SortOrder>("\"Newest\"").unwrap(),
        SortOrder::Newest
    );
    assert_eq!(SortOrder::default(), SortOrder::Relevance);
}

fn fuzz_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

fn check_query(idx: &SearchIndex, req: &SearchRequest) -> std::result::Result<(), TestCaseError> {
    match idx.search(req) {
        Ok(r) => {
            prop_assert!(r.hits.len() <= req.limit);
            prop_assert!(r.total >= r.hits.len());
        }
        Err(IndexError::Query { query, message }) => {
            prop_assert_eq!(&query, &req.query);
            prop_assert!(!message.is_empty());
        }
        Err(other) => prop_assert!(false, "`{}` gave {}", req.query, other),
    }
    Ok(())
}

#[test]
fn arbitrary_queries_never_panic() {
    let (_d, idx) = sample_index();
    let mut runner = TestRunner::new(fuzz_config(256));
    runner
        .run(&any::<String>(), |q| {
            check_query(&idx, &SearchRequest::new(q, 5))
        })
        .unwrap();
}

#[test]
fn query_like_strings_never_panic() {
    let (_d, idx) = sample_index();
    let mut runner = TestRunner::new(fuzz_config(512));
    let strategy = (
        r#"[a-z_ :\[\]{}()"*+\-^~!/\\0-9.TOANDR]{0,40}"#,
        any::<bool>(),
        0usize..10,
    );
    runner
        .run(&strategy, |(q, newest, offset)| {
            let mut req = SearchRequest::new(q, 3);
            req.offset = offset;
            req.sort = if newest {
                SortOrder::Newest
            } else {
                SortOrder::Relevance
            };
            check_query(&idx, &req)
        })
        .unwrap();
}

#[test]
fn field_queries_with_arbitrary_values_never_panic() {
    let (_d, idx) = sample_index();
    let mut runner = TestRunner::new(fuzz_config(256));
    let fields: Vec<&str> = crate::schema::QUERYABLE_FIELDS.to_vec();
    let strategy = (
        proptest::sample::select(fields),
        any::<String>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(field, value, quoted)| {
            let q = if quoted {
                format!("{field}:\"{}\"", value.replace('"', ""))
            } else {
                format!("{field}:{value}")
            };
            check_query(&idx, &SearchRequest::new(q, 3))
        })
        .unwrap();
}

#[test]
fn excluded_and_required_phrases_answer_correctly() {
    // Doc a holds every word of the phrase but not in order; b holds the phrase. Tantivy
    // 0.27.0 sought a phrase scorer backwards here (excluded phrase whose first match is
    // after the first candidate), which its own debug assertion refuses.
    let (_d, idx) = index_with(&[
        doc_item("a", "alpha gamma beta", None),
        doc_item("b", "alpha beta gamma", None),
        doc_item("c", "alpha delta", None),
    ]);
    assert_eq!(
        sorted(search_ids(&idx, "alpha -\"beta gamma\"")),
        ["a", "c"]
    );
    assert_eq!(
        search_ids(&idx, "alpha NOT \"beta gamma\""),
        search_ids(&idx, "alpha -\"beta gamma\"")
    );
    assert_eq!(search_ids(&idx, "alpha AND \"beta gamma\""), ["b"]);
    assert_eq!(search_ids(&idx, "\"beta gamma\" -delta"), ["b"]);
    assert_eq!(search_ids(&idx, "-\"gamma beta\" \"beta gamma\""), ["b"]);
    assert!(search_ids(&idx, "delta -\"alpha delta\"").is_empty());
    assert_eq!(
        sorted(search_ids(&idx, "(alpha -\"beta gamma\") OR zeta")),
        ["a", "c"]
    );
    let refused = idx
        .search(&SearchRequest::new("(alpha -\"beta gamma\")^2", 10))
        .expect_err("a boosted group with an exclusion is refused");
    assert!(refused.to_string().contains("boost the words"), "{refused}");
    assert_eq!(
        sorted(search_ids(&idx, "(alpha^2 -\"beta gamma\")")),
        ["a", "c"]
    );
    assert_eq!(sorted(search_ids(&idx, "(alpha delta)^2")), ["c"]);
    assert_eq!(
        sorted(search_ids(&idx, "text:alpha NOT text:\"beta gamma\"")),
        ["a", "c"]
    );
}
