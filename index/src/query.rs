//! Query parsing: the user's query language on top of Tantivy's `QueryParser`, and error
//! messages that say what is wrong with a query in the user's terms.

use tantivy::query::{Query, QueryParser, QueryParserError};
use tantivy::query_grammar::{Occur as GrammarOccur, UserInputAst};
use tantivy::{Index, TantivyError};

use ballotwatch_core::LimitsConfig;

use crate::error::IndexError;
use crate::schema::{Fields, QUERYABLE_FIELDS};

mod forward_seek;

/// How much more a match in the title counts than one in the text or author.
const TITLE_BOOST: f32 = 2.0;

/// Builds the parser: default fields title (boosted), text and author; every word must match.
pub(crate) fn query_parser(index: &Index, f: &Fields) -> QueryParser {
    let mut parser = QueryParser::for_index(index, vec![f.title, f.text, f.author]);
    parser.set_conjunction_by_default();
    parser.set_field_boost(f.title, TITLE_BOOST);
    parser
}

/// Ceilings on a query's shape, checked before Tantivy's parser sees it: the parser recurses
/// once per bracket and per `NOT`, so a few thousand of them overflow the stack (an abort that
/// takes the whole process down, not a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest query, in characters (`[limits] max_query_length`).
    pub max_length: usize,
    /// Deepest nesting: each open bracket, and each `NOT` waiting for its term, is one level
    /// (`[limits] max_query_depth`).
    pub max_depth: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits::from(&LimitsConfig::default())
    }
}

impl From<&LimitsConfig> for QueryLimits {
    fn from(l: &LimitsConfig) -> Self {
        QueryLimits {
            max_length: l.max_query_length,
            max_depth: l.max_query_depth,
        }
    }
}

/// A query's length in characters and its deepest nesting, measured in one pass without
/// recursion (so any input can be measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) length: usize,
    pub(crate) depth: usize,
}

/// Measures `query` the way Tantivy's grammar nests it: `(` opens a group one level below the
/// current one (plus any `NOT`s before it), `)` returns to the level outside, and `NOT`
/// followed by white space nests the next term or group one level deeper. Brackets inside
/// "quoted phrases" and after a `\` do not nest. Unbalanced brackets are left for Tantivy to
/// report.
pub(crate) fn shape(query: &str) -> Shape {
    // The level outside each open group; it only grows with the query, which is in memory anyway.
    let mut outside: Vec<usize> = Vec::new();
    let mut level = 0usize;
    let mut pending_not = 0usize;
    let mut deepest = 0usize;
    let mut length = 0usize;
    let mut in_phrase = false;
    let mut escaped = false;
    // The current bare word, for spotting `NOT` (only its first four characters matter).
    let mut word = String::new();
    for c in query.chars() {
        length += 1;
        if escaped {
            escaped = false;
            if word.len() < 4 {
                word.push('x');
            }
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if in_phrase {
            if c == '"' {
                in_phrase = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_phrase = true;
                pending_not = 0;
            }
            '(' => {
                outside.push(level);
                level = level.saturating_add(pending_not).saturating_add(1);
                pending_not = 0;
                deepest = deepest.max(level);
                word.clear();
            }
            ')' => {
                level = outside.pop().unwrap_or(0);
                pending_not = 0;
                word.clear();
            }
            c if c.is_whitespace() => {
                if word == "NOT" {
                    pending_not += 1;
                    deepest = deepest.max(level + pending_not);
                } else if !word.is_empty() {
                    pending_not = 0;
                }
                word.clear();
            }
            '+' | '-' if word.is_empty() => {}
            c => {
                if word.len() < 4 {
                    word.push(c);
                }
            }
        }
    }
    Shape {
        length,
        depth: deepest,
    }
}

/// How a query too large to echo is quoted in an error: its start.
fn quote_start(query: &str) -> String {
    const SHOWN: usize = 60;
    if query.chars().count() <= SHOWN + 20 {
        return query.to_string();
    }
    let start: String = query.chars().take(SHOWN).collect();
    format!("{start}…")
}

/// Refuses a query deeper or longer than `limits` allows, before any parser sees it.
pub(crate) fn check(query: &str, limits: &QueryLimits) -> Result<(), IndexError> {
    let s = shape(query);
    let message = if s.depth > limits.max_depth {
        format!(
            "query too deeply nested ({} levels; at most {}): use fewer brackets and NOTs \
             ([limits] max_query_depth)",
            s.depth, limits.max_depth
        )
    } else if s.length > limits.max_length {
        format!(
            "query too long ({} characters; at most {}): search for fewer words at a time \
             ([limits] max_query_length)",
            s.length, limits.max_length
        )
    } else {
        return Ok(());
    };
    Err(IndexError::Query {
        query: quote_start(query),
        message,
    })
}

/// Parses `query` (already trimmed, never empty) into a Tantivy query; errors quote `typed`,
/// the query as the user typed it.
pub(crate) fn parse(
    parser: &QueryParser,
    query: &str,
    typed: &str,
) -> Result<Box<dyn Query>, IndexError> {
    if tantivy::query_grammar::parse_query(query).is_ok_and(|ast| boosts_an_exclusion(&ast)) {
        return Err(IndexError::Query {
            query: typed.to_string(),
            message: "a boost (^) on a bracketed group that excludes something (- or NOT) \
                      is not supported: boost the words or phrases inside the group instead, \
                      e.g. (a^2 -b) rather than (a -b)^2"
                .to_string(),
        });
    }
    parser
        .parse_query(query)
        .map(forward_seek::forward_exclusions)
        .map_err(|e| IndexError::Query {
            query: typed.to_string(),
            message: explain_parse_error(&e),
        })
}

/// Whether a boost applies to a group holding an excluded clause. Tantivy hides a boosted
/// group inside a `BoostQuery` that [`forward_seek::forward_exclusions`] cannot open, so such
/// an exclusion would reach the backward seek it guards against. Walks without recursion.
fn boosts_an_exclusion(ast: &UserInputAst) -> bool {
    let mut stack = vec![(ast, false)];
    while let Some((node, boosted)) = stack.pop() {
        match node {
            UserInputAst::Clause(clauses) => {
                for (occur, sub) in clauses {
                    if boosted && *occur == Some(GrammarOccur::MustNot) {
                        return true;
                    }
                    stack.push((sub, boosted));
                }
            }
            UserInputAst::Boost(inner, _) => stack.push((inner, true)),
            UserInputAst::Leaf(_) => {}
        }
    }
    false
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

    fn depth(q: &str) -> usize {
        shape(q).depth
    }

    #[test]
    fn shape_counts_brackets_and_nots_as_the_grammar_nests_them() {
        assert_eq!(depth("polling station"), 0);
        assert_eq!(depth("(a OR b) AND (c OR d)"), 1);
        assert_eq!(depth("((a)) (b)"), 2);
        assert_eq!(depth("-(+(a))"), 2);
        assert_eq!(depth("NOT a"), 1);
        assert_eq!(depth("NOT NOT  NOT a NOT b"), 3);
        assert_eq!(depth("NOT (NOT (a))"), 4);
        assert_eq!(depth("(NOT a) NOT b"), 2);
        assert_eq!(depth("-NOT a"), 1);
        // Not NOT: part of a word, or no white space after it.
        assert_eq!(depth("NOTE a aNOT b NOTx"), 0);
        // Quoted and escaped brackets do not nest.
        assert_eq!(depth("\"((((\" a\\(b"), 0);
        assert_eq!(depth("\"a \\\" ((\" (x)"), 1);
        // Unbalanced closing brackets do not go below the top level.
        assert_eq!(depth(")))((a"), 2);
        assert_eq!(shape("é(").length, 2);
    }

    #[test]
    fn deep_and_long_queries_are_refused_naming_both_numbers() {
        let limits = QueryLimits {
            max_length: 1024,
            max_depth: 16,
        };
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = check(&deep, &limits).unwrap_err();
        let IndexError::Query { query, message } = &e else {
            panic!("{e:?}")
        };
        assert!(
            message.starts_with("query too deeply nested (10000 levels; at most 16)"),
            "{message}"
        );
        assert!(
            query.chars().count() <= 61,
            "the error quotes the start only: {query}"
        );
        assert!(e.to_string().len() < 300, "{e}");

        let nots = format!("{}a", "NOT ".repeat(17));
        let m = check(&nots, &limits).unwrap_err().to_string();
        assert!(m.contains("(17 levels; at most 16)"), "{m}");

        let long = "vote ".repeat(300);
        let m = check(&long, &limits).unwrap_err().to_string();
        assert!(
            m.contains("query too long (1500 characters; at most 1024)"),
            "{m}"
        );

        let at_limit = format!("{}a{}", "(".repeat(16), ")".repeat(16));
        assert!(check(&at_limit, &limits).is_ok());
        assert!(check(&"a".repeat(1024), &limits).is_ok());
        assert!(
            check(&"é".repeat(1024), &limits).is_ok(),
            "characters, not bytes"
        );
    }

    /// Runs `f` on a thread with a 256 KiB stack (an eighth of a Tokio blocking thread's), so a
    /// parser that recursed per token would overflow here first.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    /// The worst queries the default limits let through, one per shape that could make the
    /// parser recurse or work hard.
    fn worst_accepted(limits: &QueryLimits) -> Vec<(&'static str, String)> {
        let fill = |unit: &str| unit.repeat(limits.max_length / unit.chars().count());
        let d = limits.max_depth;
        // Room for the quotes and a `*`.
        let phrase = "ab ".repeat((limits.max_length - 3) / 3);
        let phrase = phrase.trim_end();
        vec![
            (
                "deepest brackets",
                format!("{}vote{}", "(".repeat(d), ")".repeat(d)),
            ),
            (
                "deepest brackets around long OR chains",
                format!(
                    "{}{}a{}",
                    "(".repeat(d),
                    "a OR ".repeat((limits.max_length - 2 * d - 1) / 5),
                    ")".repeat(d)
                ),
            ),
            ("NOT chain", format!("{}vote", "NOT ".repeat(d))),
            ("AND chain", format!("{}a", fill("a AND "))),
            ("OR chain", format!("{}a", fill("a OR "))),
            ("minus prefixes", fill("-a ")),
            ("plus prefixes", fill("+a ")),
            ("long phrase", format!("\"{}\"", phrase)),
            ("phrase prefix", format!("\"{}*\"", phrase)),
            (
                "ranges",
                fill("published_at:[2026-05-01T00:00:00Z TO 2026-05-02T00:00:00Z] "),
            ),
            ("field prefixes", fill("title:a ")),
            ("boosts", fill("a^2 ")),
            ("stars", fill("* ")),
        ]
    }

    #[test]
    fn the_worst_accepted_queries_parse_fast_on_a_small_stack() {
        let limits = QueryLimits::default();
        for (what, q) in worst_accepted(&limits) {
            check(&q, &limits).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (took, ok) = on_small_stack(move || {
                let p = parser();
                let start = std::time::Instant::now();
                let parsed = parse(&p, &q, &q);
                (start.elapsed(), parsed.is_ok())
            });
            eprintln!("{what}: parsed in {took:?} (ok: {ok})");
            assert!(
                took < std::time::Duration::from_millis(500),
                "{what} took {took:?}"
            );
        }
    }

    #[test]
    fn prefixes_and_chains_do_not_recurse_in_tantivy_so_length_bounds_them() {
        // About 30 times the default length, straight to the parser: these shapes are flat in
        // Tantivy's grammar, so only brackets and NOT need a depth limit.
        for q in [
            "-a ".repeat(10_000),
            "+a ".repeat(10_000),
            "--".repeat(20_000) + "a",
            "a AND ".repeat(5_000) + "a",
            "a OR ".repeat(6_000) + "a",
            format!("\"{}\"", "ab ".repeat(10_000)),
        ] {
            let shown: String = q.chars().take(12).collect();
            on_small_stack(move || {
                let _ = parse(&parser(), &q, &q);
            });
            eprintln!("{shown}…: no overflow");
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
