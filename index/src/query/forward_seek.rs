//! Keeps Tantivy from seeking a scorer backwards.
//!
//! Tantivy 0.27.0 excludes documents (`-word`, `NOT "a phrase"`) by asking the excluded
//! clause's scorer whether it holds each candidate, through `seek_danger`. A phrase scorer that
//! already stands on a later document is then sought backwards, which its own debug assertion
//! refuses (`phrase_scorer.rs:578`, "target (0) should be greater than or equal to doc (1)"):
//! `alpha -"beta gamma"` panicked in every build with debug assertions (tests, fuzzing). Release
//! builds gave the right answer, but only because the check was compiled out.
//!
//! [`forward_exclusions`] wraps every excluded clause of a parsed query in [`ForwardSeek`],
//! whose scorer answers "is `target` in the set?" from its current document and only ever
//! seeks forward — exactly the contract `seek_danger` states — so no backward seek reaches
//! Tantivy's scorers and the answers are unchanged.

use tantivy::query::{BooleanQuery, EnableScoring, Explanation, Occur, Query, Scorer, Weight};
use tantivy::schema::Term;
use tantivy::{DocId, DocSet, Score, SegmentReader};

/// Rebuilds `query` with each `MustNot` clause, at any depth of nested boolean queries,
/// wrapped in [`ForwardSeek`]. Other queries are returned as they are.
///
/// Recursion follows the query's boolean nesting, which [`super::check`] has bounded by
/// `[limits] max_query_depth` before the query was parsed.
pub(crate) fn forward_exclusions(query: Box<dyn Query>) -> Box<dyn Query> {
    let Some(boolean) = query.downcast_ref::<BooleanQuery>() else {
        return query;
    };
    let minimum = boolean.get_minimum_number_should_match();
    let clauses = boolean
        .clauses()
        .iter()
        .map(|(occur, sub)| {
            let sub = forward_exclusions(sub.box_clone());
            let sub: Box<dyn Query> = if *occur == Occur::MustNot {
                Box::new(ForwardSeek(sub))
            } else {
                sub
            };
            (*occur, sub)
        })
        .collect();
    Box::new(BooleanQuery::with_minimum_required_clauses(
        clauses, minimum,
    ))
}

/// A query whose scorer is only ever sought forward (see the module docs).
#[derive(Debug)]
pub(crate) struct ForwardSeek(Box<dyn Query>);

impl Clone for ForwardSeek {
    fn clone(&self) -> Self {
        ForwardSeek(self.0.box_clone())
    }
}

impl Query for ForwardSeek {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ForwardSeekWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ForwardSeekWeight(Box<dyn Weight>);

impl Weight for ForwardSeekWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardSeekScorer(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

/// Forwards everything but `seek_danger`, which keeps the trait's default: compare with the
/// current document and call `seek` only for a later target.
struct ForwardSeekScorer(Box<dyn Scorer>);

impl DocSet for ForwardSeekScorer {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.0.doc();
        if doc >= target {
            return doc;
        }
        self.0.seek(target)
    }

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for ForwardSeekScorer {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::query::TermQuery;
    use tantivy::schema::{IndexRecordOption, Schema, TEXT};

    fn term(field: tantivy::schema::Field, word: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, word),
            IndexRecordOption::WithFreqs,
        ))
    }

    #[test]
    fn only_excluded_clauses_are_wrapped_at_every_depth() {
        let mut schema = Schema::builder();
        let f = schema.add_text_field("text", TEXT);
        let inner = BooleanQuery::new(vec![
            (Occur::Must, term(f, "a")),
            (Occur::MustNot, term(f, "b")),
        ]);
        let outer = BooleanQuery::with_minimum_required_clauses(
            vec![
                (Occur::Should, Box::new(inner)),
                (Occur::Should, term(f, "c")),
                (Occur::MustNot, term(f, "d")),
            ],
            1,
        );
        let rebuilt = forward_exclusions(Box::new(outer));
        let outer = rebuilt
            .downcast_ref::<BooleanQuery>()
            .expect("still boolean");
        assert_eq!(outer.get_minimum_number_should_match(), 1);
        let wrapped: Vec<bool> = outer
            .clauses()
            .iter()
            .map(|(_, q)| q.downcast_ref::<ForwardSeek>().is_some())
            .collect();
        assert_eq!(wrapped, [false, false, true]);
        let inner = outer.clauses()[0]
            .1
            .downcast_ref::<BooleanQuery>()
            .expect("nested boolean kept");
        let wrapped: Vec<bool> = inner
            .clauses()
            .iter()
            .map(|(_, q)| q.downcast_ref::<ForwardSeek>().is_some())
            .collect();
        assert_eq!(wrapped, [false, true]);
    }

    #[test]
    fn a_query_that_is_not_boolean_is_returned_as_it_is() {
        let mut schema = Schema::builder();
        let f = schema.add_text_field("text", TEXT);
        let q = forward_exclusions(term(f, "a"));
        assert!(q.downcast_ref::<TermQuery>().is_some());
    }
}
