//! Query parsing: the user's query language on top of Tantivy's `QueryParser`, and error
//! messages that say what is wrong with a query in the user's terms.

use tantivy::query::{Query, QueryParser, QueryParserError};
use tantivy::{Index, TantivyError};

use crate::error::IndexError;
use crate::schema::{Fields, QUERYABLE_FIELDS};

/// How much more a match in the title counts than one in the text or author.
const TITLE_BOOST: f32 = 2.0;

/// Builds the parser: default fields title (boosted), text and author; every word must match.
pub(crate) fn query_parser(index: &Index, f: &Fields) -> QueryParser {
    let mut parser = QueryParser::for_index(index, vec![f.title, f.text, f.author]);
    parser.set_conjunction_by_default();
    parser.set_field_boost(f.title, TITLE_BOOST);
    parser
}

/// Parses `query` (already trimmed, never empty) into a Tantivy query; errors quote `typed`,
/// the query as the user typed it.
pub(crate) fn parse(
    parser: &QueryParser,
    query: &str,
    typed: &str,
) -> Result<Box<dyn Query>, IndexError> {
    parser.parse_query(query).map_err(|e| IndexError::Query {
        query: typed.to_string(),
        message: explain_parse_error(&e),
    })
}

fn field_list() -> String {
    QUERYABLE_FIELDS.join(", ")
}

fn closest_field(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    QUERYABLE_FIELDS
        .iter()
        .map(|f| (strsim::levenshtein(&lower, f), *f))
        .filter(|(d, f)| *d <= 2.max(f.len() / 3) && *d < f.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f)
}

const DATE_HELP: &str = "dates are RFC 3339 times in UTC such as 2026-05-01T00:00:00Z, and a \
                         range looks like published_at:[2026-05-01T00:00:00Z TO \
                         2026-05-02T00:00:00Z]";

/// Turns a parser error into a sentence naming the problem and the fix.
pub(crate) fn explain_parse_error(e: &QueryParserError) -> String {
    match e {
        QueryParserError::FieldDoesNotExist(name) => {
            let hint = match closest_field(name) {
                Some(f) => format!(" (did you mean `{f}:`?)"),
                None => String::new(),
            };
            format!(
                "there is no field `{name}:`{hint}. The fields you can search are: {}. To search \
                 for words containing a colon, such as a web address, put them in double quotes",
                field_list()
            )
        }
        QueryParserError::SyntaxError(detail) => format!(
            "the query is not well formed ({detail}): check that double quotes, brackets and \
             parentheses are balanced and that ranges look like field:[LOW TO HIGH]"
        ),
        QueryParserError::AllButQueryForbidden => "the query only excludes things; add \
             something to include, for example `* -kind:impersonation`"
            .to_string(),
        QueryParserError::ExpectedInt(_) => {
            "`incident_id:` takes a whole number, for example incident_id:42".to_string()
        }
        QueryParserError::ExpectedFloat(_) => {
            "`max_score:` takes a number between 0 and 1, for example max_score:[0.8 TO 1]"
                .to_string()
        }
        QueryParserError::ExpectedBool(_) => {
            "`flagged:` takes `true` or `false`, for example flagged:true".to_string()
        }
        QueryParserError::DateFormatError(_) => {
            format!("a date could not be read: {DATE_HELP}")
        }
        QueryParserError::FieldNotIndexed(name) => format!(
            "the field `{name}:` cannot be searched. The fields you can search are: {}",
            field_list()
        ),
        QueryParserError::FieldDoesNotHavePositionsIndexed(name) => {
            format!(
                "phrases in quotes cannot be searched in the field `{name}:`; remove the quotes"
            )
        }
        QueryParserError::PhrasePrefixRequiresAtLeastTwoTerms { phrase, .. } => format!(
            "a quoted phrase ending in `*` needs at least two words, but \"{phrase}\" has fewer; \
             remove the `*` or add a word"
        ),
        QueryParserError::RangeMustNotHavePhrase => {
            "the ends of a range must be single values, not quoted phrases".to_string()
        }
        QueryParserError::UnsupportedQuery(detail) => {
            format!("this kind of query is not supported: {detail}")
        }
        QueryParserError::FacetFormatError(detail) => format!(
            "the facet is malformed ({detail}); facets look like facets:/kind/impersonation"
        ),
        other => format!("the query could not be understood: {other}"),
    }
}

/// Explains an error Tantivy raised while running a parsed query; `None` when the error is
/// not caused by the query (disk, corruption, ...) and must be reported as such.
pub(crate) fn explain_search_error(e: &TantivyError) -> Option<String> {
    match e {
        TantivyError::SchemaError(msg) if msg.contains("not a fast field") => Some(
            "`field:*` (has any value) only works on flagged, published_at, ingested_at, \
             max_score and incident_id; to match every item use `*` on its own"
                .to_string(),
        ),
        // `nosuchfield:*` parses (as an exists-query) and only fails when run.
        TantivyError::FieldNotFound(name) => Some(explain_parse_error(
            &QueryParserError::FieldDoesNotExist(name.clone()),
        )),
        TantivyError::SchemaError(msg) | TantivyError::InvalidArgument(msg) => {
            Some(format!("the query cannot run on this index: {msg}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{build_schema, register_tokenizers};

    fn parser() -> QueryParser {
        let (schema, f) = build_schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index);
        query_parser(&index, &f)
    }

    fn err(q: &str) -> String {
        match parse(&parser(), q, q) {
            Err(IndexError::Query { query, message }) => {
                assert_eq!(query, q);
                message
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(parsed) => panic!("`{q}` parsed as {parsed:?}"),
        }
    }

    #[test]
    fn unknown_field_suggests_and_lists_fields() {
        let m = err("sourc:\"Anytown Echo\"");
        assert!(m.contains("no field `sourc:`"), "{m}");
        assert!(m.contains("did you mean `source:`?"), "{m}");
        assert!(m.contains("title, text, author, source"), "{m}");
        let m = err("zzzzzz:1");
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn value_errors_name_the_expected_form() {
        assert!(err("flagged:maybe").contains("`flagged:` takes `true` or `false`"));
        assert!(err("incident_id:seven").contains("whole number"));
        assert!(err("max_score:high").contains("number between 0 and 1"));
        assert!(err("published_at:[yesterday TO today]").contains("RFC 3339"));
        assert!(err("-kind:impersonation").contains("only excludes"));
    }

    #[test]
    fn keyword_values_parse_to_single_lower_cased_terms() {
        let p = parser();
        for q in ["source:\"Anytown Echo\"", "source:\"anytown echo\""] {
            let parsed = parse(&p, q, q).unwrap();
            let dbg = format!("{parsed:?}");
            assert!(dbg.contains("\"anytown echo\""), "{dbg}");
        }
    }

    #[test]
    fn words_are_stemmed_and_conjoined_across_default_fields() {
        let dbg = format!(
            "{:?}",
            parse(&parser(), "voting stations", "voting stations").unwrap()
        );
        assert!(dbg.contains("\"vote\""), "{dbg}");
        assert!(dbg.contains("\"station\""), "{dbg}");
        assert!(dbg.contains("Must"), "conjunction by default: {dbg}");
    }

    #[test]
    fn search_errors_caused_by_the_query_are_explained() {
        let fast = TantivyError::SchemaError("Field title is not a fast field.".into());
        assert!(explain_search_error(&fast).unwrap().contains("`field:*`"));
        let missing = TantivyError::FieldNotFound("sorce".into());
        let m = explain_search_error(&missing).unwrap();
        assert!(
            m.contains("no field `sorce:`") && m.contains("did you mean `source:`"),
            "{m}"
        );
        let io = TantivyError::IoError(std::sync::Arc::new(std::io::Error::other("disk")));
        assert!(explain_search_error(&io).is_none());
    }
}
