//! The Tantivy schema: one document per item id holding the latest version of the item, its
//! classification and incident; the tokenizers it needs; and the schema version file.

use std::collections::BTreeSet;
use std::path::Path;

use ballotwatch_core::{ClassifyResult, IncidentRef, Item, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Facet, FacetOptions, Field, IndexRecordOption, Schema,
    TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

use crate::error::{IndexError, Result};

/// The version of the schema this build writes. Bump it whenever the schema or the way documents
/// are built changes, so existing indexes ask for `ballotwatch reindex`.
pub const SCHEMA_VERSION: u32 = 2;

/// Name of the file in the index directory that records [`SCHEMA_VERSION`].
pub const VERSION_FILE: &str = "ballotwatch-index.json";

/// Tokenizer for prose: words, lower-cased, English-stemmed.
pub(crate) const TEXT_TOKENIZER: &str = "en_stem_lc";
/// Tokenizer for keyword fields: the whole value as one lower-cased token.
pub(crate) const KEYWORD_TOKENIZER: &str = "keyword";

/// Tokens longer than this (in bytes) are dropped from prose fields: they are base64 blobs or
/// URLs glued together, never words someone searches for.
const MAX_TOKEN_BYTES: usize = 40;

/// Facet roots, in the order [`crate::Facets`] reports them.
/// The field holding every facet (`/kind/…`, `/source/…`, …).
pub(crate) const FACETS_FIELD: &str = "facets";
pub(crate) const FACET_KIND: &str = "kind";
pub(crate) const FACET_LABEL: &str = "label";
pub(crate) const FACET_SOURCE: &str = "source";
pub(crate) const FACET_SEVERITY: &str = "severity";
pub(crate) const FACET_FLAGGED: &str = "flagged";

/// Handles to every field of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub title: Field,
    pub text: Field,
    pub author: Field,
    pub source: Field,
    pub source_kind: Field,
    pub kind: Field,
    pub label: Field,
    pub severity: Field,
    pub term: Field,
    pub url: Field,
    pub flagged: Field,
    pub published_at: Field,
    pub ingested_at: Field,
    pub time: Field,
    pub max_score: Field,
    pub incident_id: Field,
    pub incident_status: Field,
    pub facets: Field,
}

/// The fields a user can name in a query, for error messages.
pub(crate) const QUERYABLE_FIELDS: &[&str] = &[
    "title",
    "text",
    "author",
    "source",
    "source_kind",
    "kind",
    "label",
    "severity",
    "term",
    "url",
    "flagged",
    "published_at",
    "ingested_at",
    "max_score",
    "incident_id",
    "incident_status",
    "id",
];

/// Builds the schema and returns it with its field handles.
pub(crate) fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let prose = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    // Positions are kept on keyword fields too, so a quoted value never fails as a phrase.
    let keyword = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYWORD_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        )
        .set_stored();
    let date = DateOptions::from(INDEXED)
        .set_stored()
        .set_fast()
        .set_precision(DateTimePrecision::Microseconds);

    let id = b.add_text_field("id", STRING | STORED);
    let title = b.add_text_field("title", prose.clone());
    let text = b.add_text_field("text", prose.clone());
    let author = b.add_text_field("author", prose);
    let source = b.add_text_field("source", keyword.clone());
    let source_kind = b.add_text_field("source_kind", keyword.clone());
    let kind = b.add_text_field("kind", keyword.clone());
    let label = b.add_text_field("label", keyword.clone());
    let severity = b.add_text_field("severity", keyword.clone());
    let term = b.add_text_field("term", keyword.clone());
    let url = b.add_text_field("url", keyword.clone());
    let flagged = b.add_bool_field("flagged", INDEXED | FAST);
    let published_at = b.add_date_field("published_at", date.clone());
    let ingested_at = b.add_date_field("ingested_at", date);
    let time = b.add_date_field(
        "time",
        DateOptions::default()
            .set_fast()
            .set_precision(DateTimePrecision::Microseconds),
    );
    let max_score = b.add_f64_field("max_score", INDEXED | FAST | STORED);
    // Both multi-valued: an item can belong to several incidents.
    let incident_id = b.add_i64_field("incident_id", INDEXED | FAST | STORED);
    let incident_status = b.add_text_field("incident_status", keyword);
    let facets = b.add_facet_field(FACETS_FIELD, FacetOptions::default());
    let fields = Fields {
        id,
        title,
        text,
        author,
        source,
        source_kind,
        kind,
        label,
        severity,
        term,
        url,
        flagged,
        published_at,
        ingested_at,
        time,
        max_score,
        incident_id,
        incident_status,
        facets,
    };
    (b.build(), fields)
}

/// Registers the tokenizers the schema names. Tokenizers are not persisted with the index, so
/// this runs on every open.
pub(crate) fn register_tokenizers(index: &Index) {
    let text = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build();
    let keyword = TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(TEXT_TOKENIZER, text);
    index.tokenizers().register(KEYWORD_TOKENIZER, keyword);
}

/// Contents of [`VERSION_FILE`].
#[derive(Debug, Serialize, Deserialize)]
struct VersionFile {
    schema_version: u32,
}

/// Writes [`VERSION_FILE`] with [`SCHEMA_VERSION`] into `dir`.
pub(crate) fn write_version(dir: &Path) -> Result<()> {
    let path = dir.join(VERSION_FILE);
    let body = serde_json::json!({ "schema_version": SCHEMA_VERSION }).to_string();
    std::fs::write(&path, body).map_err(|e| IndexError::io(path, e))
}

/// Reads the schema version recorded in `dir`: `Ok(None)` when the file is absent or does not
/// parse (an index from before versioning, or a damaged file; either way it needs a reindex).
pub(crate) fn read_version(dir: &Path) -> Result<Option<u32>> {
    let path = dir.join(VERSION_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<VersionFile>(&bytes) {
            Ok(v) => Ok(Some(v.schema_version)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable index version file");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IndexError::io(path, e)),
    }
}

/// What gets indexed for one item: the item, its latest classification and its incidents.
#[derive(Debug, Clone, Copy)]
pub struct IndexDoc<'a> {
    /// The latest version of the item.
    pub item: &'a Item,
    /// Its classification, once classified.
    pub result: Option<&'a ClassifyResult>,
    /// The incidents it belongs to (none, one or several), with their statuses.
    pub incidents: &'a [IncidentRef],
}

fn to_tantivy_date(t: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(t.timestamp_micros())
}

/// Facet path steps may not contain the internal separator (NUL); nothing real does.
fn facet(root: &str, value: &str) -> Facet {
    let clean: String = value.chars().filter(|c| *c != '\0').collect();
    Facet::from_path([root, clean.as_str()])
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Builds the Tantivy document for an item. The caller checks the id is not empty.
pub(crate) fn to_document(f: &Fields, doc: &IndexDoc<'_>) -> TantivyDocument {
    let item = doc.item;
    let mut d = TantivyDocument::new();
    d.add_text(f.id, &item.id);
    if let Some(t) = item.title.as_deref() {
        d.add_text(f.title, t);
    }
    if let Some(t) = item.text.as_deref() {
        d.add_text(f.text, t);
    }
    // Text read from the item's images (OCR) is searchable like the item's own text.
    for m in doc.result.map(|r| r.media_text.as_slice()).unwrap_or(&[]) {
        d.add_text(f.text, &m.text);
    }
    if let Some(a) = &item.author {
        for v in [non_blank(&a.handle), non_blank(&a.display_name)]
            .into_iter()
            .flatten()
        {
            d.add_text(f.author, v);
        }
    }
    let source_name = item.source.name.trim();
    if !source_name.is_empty() {
        d.add_text(f.source, source_name);
        d.add_facet(f.facets, facet(FACET_SOURCE, source_name));
    }
    let source_kind = item.source.kind.trim();
    if !source_kind.is_empty() {
        d.add_text(f.source_kind, source_kind);
    }
    if let Some(u) = non_blank(&item.url) {
        d.add_text(f.url, u);
    }
    for t in item
        .matched_terms
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<BTreeSet<_>>()
    {
        d.add_text(f.term, t);
    }

    let (flagged, severity) = doc
        .result
        .map_or((false, Severity::None), |r| (r.flagged, r.severity));
    d.add_bool(f.flagged, flagged);
    d.add_facet(
        f.facets,
        facet(FACET_FLAGGED, if flagged { "true" } else { "false" }),
    );
    d.add_text(f.severity, severity.as_str());
    d.add_facet(f.facets, facet(FACET_SEVERITY, severity.as_str()));

    let verdicts = doc.result.map(|r| r.verdicts.as_slice()).unwrap_or(&[]);
    let kinds: BTreeSet<&str> = verdicts.iter().map(|v| v.kind.as_str()).collect();
    for k in kinds {
        d.add_text(f.kind, k);
        d.add_facet(f.facets, facet(FACET_KIND, k));
    }
    let labels: BTreeSet<&str> = verdicts
        .iter()
        .map(|v| v.label.trim())
        .filter(|l| !l.is_empty())
        .collect();
    for l in labels {
        d.add_text(f.label, l);
        d.add_facet(f.facets, facet(FACET_LABEL, l));
    }
    let max_score = verdicts
        .iter()
        .map(|v| f64::from(v.score))
        .filter(|s| s.is_finite())
        .fold(0.0_f64, f64::max);
    d.add_f64(f.max_score, max_score);

    if let Some(p) = item.published_at {
        d.add_date(f.published_at, to_tantivy_date(p));
    }
    if let Some(i) = item.ingested_at {
        d.add_date(f.ingested_at, to_tantivy_date(i));
    }
    if let Some(t) = item.published_at.or(item.ingested_at) {
        d.add_date(f.time, to_tantivy_date(t));
    }
    for i in doc.incidents {
        d.add_i64(f.incident_id, i.id);
    }
    for status in doc
        .incidents
        .iter()
        .map(|i| i.status.as_str())
        .collect::<BTreeSet<_>>()
    {
        d.add_text(f.incident_status, status);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_core::{Author, IncidentStatus, SourceRef, Verdict, VerdictKind};
    use tantivy::schema::Value;
    use tantivy::tokenizer::TokenStream;

    fn tokens(index: &Index, tokenizer: &str, text: &str) -> Vec<String> {
        let mut analyzer = index.tokenizers().get(tokenizer).expect("registered");
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn tokenizers_stem_prose_and_keep_keywords_whole() {
        let (schema, _) = build_schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index);
        assert_eq!(
            tokens(&index, TEXT_TOKENIZER, "Voting at Polling Stations"),
            ["vote", "at", "poll", "station"]
        );
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            tokens(&index, TEXT_TOKENIZER, &format!("a {long} b")),
            ["a", "b"]
        );
        assert_eq!(
            tokens(&index, KEYWORD_TOKENIZER, "Anytown Echo"),
            ["anytown echo"]
        );
    }

    #[test]
    fn version_file_round_trips_and_tolerates_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_version(dir.path()).unwrap(), None);
        write_version(dir.path()).unwrap();
        assert_eq!(read_version(dir.path()).unwrap(), Some(SCHEMA_VERSION));
        let raw = std::fs::read_to_string(dir.path().join(VERSION_FILE)).unwrap();
        assert_eq!(raw, format!("{{\"schema_version\":{SCHEMA_VERSION}}}"));
        std::fs::write(dir.path().join(VERSION_FILE), "not json").unwrap();
        assert_eq!(read_version(dir.path()).unwrap(), None);
    }

    #[test]
    fn document_carries_every_field_and_facet() {
        let (_, f) = build_schema();
        let item = Item {
            id: "abc".into(),
            source: SourceRef {
                kind: "rss".into(),
                name: "Anytown Echo".into(),
            },
            url: Some("https://echo.example/1".into()),
            published_at: Some("2026-05-01T08:00:00Z".parse().unwrap()),
            ingested_at: Some("2026-05-01T09:00:00Z".parse().unwrap()),
            author: Some(Author {
                handle: Some("@okafor".into()),
                display_name: Some("Jane Okafor".into()),
                ..Author::default()
            }),
            title: Some("T".into()),
            text: Some("X".into()),
            matched_terms: vec!["Anytown".into(), "Anytown".into()],
            ..Item::default()
        };
        let verdict = |kind, label: &str, score| Verdict {
            kind,
            label: label.into(),
            score,
            detector: "d".into(),
            explanation: "e".into(),
            evidence: serde_json::Value::Null,
            rebuttal: None,
        };
        let result = ClassifyResult {
            id: "abc".into(),
            flagged: true,
            severity: Severity::High,
            verdicts: vec![
                verdict(VerdictKind::Impersonation, "lookalike_domain", 0.9),
                verdict(VerdictKind::Impersonation, "lookalike_handle", 0.4),
            ],
            detector_errors: Vec::new(),
            media_text: Vec::new(),
        };
        let d = to_document(
            &f,
            &IndexDoc {
                item: &item,
                result: Some(&result),
                incidents: &[
                    IncidentRef {
                        id: 7,
                        status: IncidentStatus::Escalated,
                    },
                    IncidentRef {
                        id: 9,
                        status: IncidentStatus::New,
                    },
                ],
            },
        );
        let strs = |field| -> Vec<String> {
            d.get_all(field)
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        assert_eq!(strs(f.author), ["@okafor", "Jane Okafor"]);
        assert_eq!(strs(f.text).len(), 1, "no media text, one text value");
        assert_eq!(strs(f.kind), ["impersonation"]);
        assert_eq!(strs(f.label), ["lookalike_domain", "lookalike_handle"]);
        assert_eq!(strs(f.term), ["Anytown"]);
        assert_eq!(strs(f.severity), ["high"]);
        let max = d.get_first(f.max_score).and_then(|v| v.as_f64()).unwrap();
        assert!((max - 0.9).abs() < 1e-6);
        let incidents: Vec<i64> = d
            .get_all(f.incident_id)
            .filter_map(|v| v.as_i64())
            .collect();
        assert_eq!(incidents, [7, 9]);
        assert_eq!(strs(f.incident_status), ["escalated", "new"]);
        assert_eq!(
            d.get_first(f.time).and_then(|v| v.as_datetime()),
            Some(to_tantivy_date(item.published_at.unwrap()))
        );
        let facets: Vec<String> = d
            .get_all(f.facets)
            .filter_map(|v| v.as_facet().map(|s| format!("/{}", s.replace('\0', "/"))))
            .collect();
        assert_eq!(
            facets,
            [
                "/source/Anytown Echo",
                "/flagged/true",
                "/severity/high",
                "/kind/impersonation",
                "/label/lookalike_domain",
                "/label/lookalike_handle"
            ]
        );
    }

    #[test]
    fn text_read_from_images_is_indexed_with_the_items_text() {
        let (_, f) = build_schema();
        let item = Item {
            id: "img".into(),
            text: Some("look at this".into()),
            ..Item::default()
        };
        let result = ClassifyResult {
            id: "img".into(),
            flagged: false,
            severity: Severity::None,
            verdicts: Vec::new(),
            detector_errors: Vec::new(),
            media_text: vec![ballotwatch_core::MediaText {
                media: 0,
                sha256: None,
                text: "Riverside polling station is CLOSED".into(),
                text_fraction: 0.4,
            }],
        };
        let d = to_document(
            &f,
            &IndexDoc {
                item: &item,
                result: Some(&result),
                incidents: &[],
            },
        );
        let texts: Vec<&str> = d.get_all(f.text).filter_map(|v| v.as_str()).collect();
        assert_eq!(
            texts,
            ["look at this", "Riverside polling station is CLOSED"]
        );
    }

    #[test]
    fn unclassified_item_is_unflagged_with_no_score_and_time_falls_back_to_ingest() {
        let (_, f) = build_schema();
        let item = Item {
            id: "x".into(),
            text: Some("t".into()),
            ingested_at: Some("2026-05-02T00:00:00Z".parse().unwrap()),
            ..Item::default()
        };
        let d = to_document(
            &f,
            &IndexDoc {
                item: &item,
                result: None,
                incidents: &[],
            },
        );
        assert_eq!(
            d.get_first(f.flagged).and_then(|v| v.as_bool()),
            Some(false)
        );
        assert_eq!(d.get_first(f.max_score).and_then(|v| v.as_f64()), Some(0.0));
        assert!(d.get_first(f.incident_id).is_none());
        assert!(d.get_first(f.published_at).is_none());
        assert_eq!(
            d.get_first(f.time).and_then(|v| v.as_datetime()),
            Some(to_tantivy_date(item.ingested_at.unwrap()))
        );
        assert!(d.get_first(f.source).is_none(), "blank source not indexed");
    }
}
