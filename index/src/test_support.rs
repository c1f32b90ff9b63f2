//! Helpers shared by the unit tests: items, classified items and small indexes.

use ballotwatch_core::{
    ClassifyResult, IncidentRef, IncidentStatus, Item, Severity, SourceRef, Verdict, VerdictKind,
};
use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;

use crate::{IndexDoc, SearchIndex, SearchRequest};

/// An item, its classification and its incidents, owned, for building indexes in tests.
#[derive(Debug, Clone)]
pub(crate) struct TestDoc(pub Item, pub Option<ClassifyResult>, pub Vec<IncidentRef>);

impl From<Item> for TestDoc {
    fn from(item: Item) -> TestDoc {
        TestDoc(item, None, Vec::new())
    }
}

/// An unclassified item with text only.
pub(crate) fn item(id: &str, text: &str) -> Item {
    doc_item(id, text, None)
}

/// An unclassified item; when `published` is given, it was ingested one hour later.
pub(crate) fn doc_item(id: &str, text: &str, published: Option<&str>) -> Item {
    let published: Option<DateTime<Utc>> =
        published.map(|p| p.parse().expect("test dates are RFC 3339"));
    Item {
        id: id.into(),
        source: SourceRef {
            kind: "rss".into(),
            name: "Test Source".into(),
        },
        text: Some(text.into()),
        published_at: published,
        ingested_at: published.map(|p| p + Duration::hours(1)),
        version: 1,
        ..Item::default()
    }
}

fn verdict(kind: VerdictKind, label: &str, score: f32) -> Verdict {
    Verdict {
        kind,
        label: label.into(),
        score,
        detector: "test".into(),
        explanation: format!("test verdict {label}"),
        evidence: serde_json::Value::Null,
        rebuttal: None,
    }
}

/// A flagged item with the given verdicts.
pub(crate) fn classified(
    id: &str,
    text: &str,
    severity: Severity,
    verdicts: &[(VerdictKind, &str, f32)],
    incident: Option<i64>,
) -> TestDoc {
    let result = ClassifyResult {
        id: id.into(),
        flagged: true,
        severity,
        verdicts: verdicts
            .iter()
            .map(|(k, l, s)| verdict(*k, l, *s))
            .collect(),
        detector_errors: Vec::new(),
        media_text: Vec::new(),
    };
    let incidents = incident
        .map(|id| IncidentRef {
            id,
            status: IncidentStatus::New,
        })
        .into_iter()
        .collect();
    TestDoc(item(id, text), Some(result), incidents)
}

/// An item with one verdict that did not cross its threshold.
pub(crate) fn unflagged_verdict(
    id: &str,
    text: &str,
    kind: VerdictKind,
    label: &str,
    score: f32,
) -> TestDoc {
    let result = ClassifyResult {
        id: id.into(),
        flagged: false,
        severity: Severity::None,
        verdicts: vec![verdict(kind, label, score)],
        detector_errors: Vec::new(),
        media_text: Vec::new(),
    };
    TestDoc(item(id, text), Some(result), Vec::new())
}

/// Upserts and commits `docs` through a fresh writer.
pub(crate) fn upsert_docs(idx: &SearchIndex, docs: &[TestDoc]) {
    let mut w = idx.writer(20_000_000).expect("writer");
    for TestDoc(item, result, incidents) in docs {
        w.upsert(&IndexDoc {
            item,
            result: result.as_ref(),
            incidents,
        })
        .expect("upsert");
    }
    w.commit().expect("commit");
}

/// Upserts and commits unclassified items.
pub(crate) fn upsert_all(idx: &SearchIndex, items: &[Item]) {
    let docs: Vec<TestDoc> = items.iter().cloned().map(TestDoc::from).collect();
    upsert_docs(idx, &docs);
}

/// A new index in a temporary directory holding `docs`.
pub(crate) fn index_with<T: Clone + Into<TestDoc>>(docs: &[T]) -> (TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let idx = SearchIndex::open_or_create(dir.path()).expect("create index");
    let docs: Vec<TestDoc> = docs.iter().cloned().map(Into::into).collect();
    upsert_docs(&idx, &docs);
    (dir, idx)
}

/// A small index with every kind of field filled, for fuzzing queries.
pub(crate) fn sample_index() -> (TempDir, SearchIndex) {
    let mut a = classified(
        "a",
        "The Riverside polling station is closed <b>today</b>",
        Severity::High,
        &[(VerdictKind::Misinformation, "closed_station", 0.9)],
        Some(1),
    );
    a.0.title = Some("Polling station closed".into());
    a.0.published_at = Some("2026-05-01T08:00:00Z".parse().expect("date"));
    a.0.url = Some("https://echo.example/a".into());
    a.0.matched_terms = vec!["polling station".into()];
    let b = TestDoc::from(doc_item(
        "b",
        "Voting runs from 7am to 10pm",
        Some("2026-05-02T08:00:00Z"),
    ));
    index_with(&[a, b])
}

/// Ids of the hits for `query` (up to 100), in result order.
pub(crate) fn search_ids(idx: &SearchIndex, query: &str) -> Vec<String> {
    let results = idx
        .search(&SearchRequest::new(query, 100))
        .unwrap_or_else(|e| panic!("search `{query}` failed: {e}"));
    results.hits.into_iter().map(|h| h.id).collect()
}
