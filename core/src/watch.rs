//! Watch terms: the words and phrases that make an item relevant to the election team.

use regex::{Regex, RegexBuilder};

/// A compiled set of watch terms, matched case-insensitively on whole words.
#[derive(Debug, Clone)]
pub struct WatchTerms {
    terms: Vec<(String, Regex)>,
}

impl WatchTerms {
    /// Compiles the terms. Whitespace inside a phrase matches any run of whitespace.
    pub fn new<S: AsRef<str>>(terms: &[S]) -> WatchTerms {
        let terms = terms
            .iter()
            .map(|t| t.as_ref().trim())
            .filter(|t| !t.is_empty())
            .filter_map(|t| {
                let words: Vec<String> = t.split_whitespace().map(regex::escape).collect();
                let pattern = format!(r"(?:^|\W){}(?:\W|$)", words.join(r"\s+"));
                RegexBuilder::new(&pattern)
                    .case_insensitive(true)
                    .build()
                    .ok()
                    .map(|re| (t.to_string(), re))
            })
            .collect();
        WatchTerms { terms }
    }

    /// The configured terms that occur in `text`, in configuration order.
    pub fn matches(&self, text: &str) -> Vec<String> {
        self.terms
            .iter()
            .filter(|(_, re)| re.is_match(text))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// True when no terms are configured (every item is then relevant).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_case_insensitively() {
        let w = WatchTerms::new(&["Anytown", "polling station", "Jane Okafor"]);
        assert_eq!(w.matches("ANYTOWN votes today"), ["Anytown"]);
        assert_eq!(
            w.matches("The Polling\n Station on Mill Lane"),
            ["polling station"]
        );
        assert!(w.matches("Anytowners rejoice").is_empty());
        assert_eq!(w.matches("(Jane Okafor)."), ["Jane Okafor"]);
    }

    #[test]
    fn special_characters_are_literal() {
        let w = WatchTerms::new(&["C++ (ward)", " "]);
        assert_eq!(w.matches("about c++ (ward) today"), ["C++ (ward)"]);
        assert!(!w.is_empty());
        assert!(WatchTerms::new(&[" "]).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn a_term_is_found_wherever_it_is_placed(pre in "[a-z ]{0,20}", post in "[a-z ]{0,20}", upper: bool) {
            let w = WatchTerms::new(&["Riverside ward"]);
            let term = if upper { "RIVERSIDE WARD" } else { "riverside ward" };
            let text = format!("{pre} {term} {post}");
            proptest::prop_assert_eq!(w.matches(&text), vec!["Riverside ward".to_string()]);
        }
    }
}
