//! Splits a text into the pieces the narrative detector embeds: sentences, pairs of
//! neighbouring sentences, the whole text when it is short, and overlapping word windows over
//! any sentence too long for the model's window.

use std::collections::HashSet;

/// Words per window when a single sentence is too long for the encoder.
const WINDOW_WORDS: usize = 120;
/// Step between overlapping windows.
const WINDOW_STRIDE: usize = 60;
/// Sentences shorter than this (in words) are joined to the next one.
const MIN_WORDS: usize = 3;
/// At most this many segments per text (a 50,000-word document still fits).
const MAX_SEGMENTS: usize = 4096;

/// The segments of `text`, in text order, without duplicates. Empty for a text with no words.
pub fn segments(text: &str) -> Vec<String> {
    let sentences = sentences(text);
    let mut out: Vec<String> = Vec::new();
    // Repeats are found by hash, not by comparing with every segment kept so far: a long text
    // of near-identical windows would otherwise cost segments x segments comparisons.
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |s: String, out: &mut Vec<String>| {
        if !s.is_empty() && out.len() < MAX_SEGMENTS && seen.insert(s.clone()) {
            out.push(s);
        }
    };
    let words_total: usize = sentences.iter().map(|s| s.split_whitespace().count()).sum();
    if sentences.len() > 1 && sentences.len() <= 4 && words_total <= WINDOW_WORDS {
        push(sentences.join(" "), &mut out);
    }
    for (i, s) in sentences.iter().enumerate() {
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.len() > WINDOW_WORDS {
            let mut start = 0;
            loop {
                let end = (start + WINDOW_WORDS).min(words.len());
                push(words[start..end].join(" "), &mut out);
                if end == words.len() {
                    break;
                }
                start += WINDOW_STRIDE;
            }
        } else {
            push(s.clone(), &mut out);
        }
        if let Some(next) = sentences.get(i + 1) {
            let pair = format!("{s} {next}");
            if pair.split_whitespace().count() <= WINDOW_WORDS {
                push(pair, &mut out);
            }
        }
    }
    out
}

/// Sentences: split after `.`, `!` or `?` followed by a space, and at line breaks; runs of
/// whitespace collapsed; fragments under [`MIN_WORDS`] words joined to the next sentence.
fn sentences(text: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            flush(&mut current, &mut raw);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_some_and(|n| n.is_whitespace()) {
            flush(&mut current, &mut raw);
        }
    }
    flush(&mut current, &mut raw);
    let mut out: Vec<String> = Vec::new();
    let mut carry = String::new();
    for s in raw {
        let joined = if carry.is_empty() {
            s
        } else {
            format!("{carry} {s}")
        };
        if joined.split_whitespace().count() < MIN_WORDS {
            carry = joined;
        } else {
            carry.clear();
            out.push(joined);
        }
    }
    if !carry.is_empty() {
        match out.last_mut() {
            Some(last) => {
                last.push(' ');
                last.push_str(&carry);
            }
            None => out.push(carry),
        }
    }
    out
}

fn flush(current: &mut String, out: &mut Vec<String>) {
    let s = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !s.is_empty() {
        out.push(s);
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_huge_text_of_near_repeats_is_segmented_in_linear_time() {
        // Sentences of 119 identical words and a number: each is a segment, and each shares a
        // long prefix with every one before it, so comparing each with all kept cost
        // segments x segments x prefix.
        let same = "same ".repeat(118);
        let text: String = (0..10_000).map(|i| format!("{same}{i}.\n")).collect();
        let t = std::time::Instant::now();
        let s = segments(&text);
        let took = t.elapsed();
        assert!(s.len() <= MAX_SEGMENTS);
        assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn short_post() {
        assert_eq!(segments("Use a pen"), ["Use a pen"]);
        assert!(segments("  \n ").is_empty());
        let s = segments("Polls open at 7am. Bring photo ID!\nSee you there");
        assert_eq!(
            s,
            [
                "Polls open at 7am. Bring photo ID! See you there",
                "Polls open at 7am.",
                "Polls open at 7am. Bring photo ID!",
                "Bring photo ID!",
                "Bring photo ID! See you there",
                "See you there",
            ]
        );
    }

    #[test]
    fn a_claim_at_the_end_of_a_long_article_is_a_segment() {
        let mut text = "The council met on Tuesday to discuss the bins. ".repeat(80);
        text.push_str("Voters must use a pencil or their vote will not count.");
        let s = segments(&text);
        assert!(s
            .iter()
            .any(|x| x == "Voters must use a pencil or their vote will not count."));
    }

    #[test]
    fn a_very_long_sentence_is_windowed_with_overlap() {
        let words: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
        let s = segments(&words.join(" "));
        assert!(s.len() >= 4);
        assert!(s
            .iter()
            .all(|x| x.split_whitespace().count() <= WINDOW_WORDS));
        assert!(s.iter().any(|x| x.ends_with("w299")));
        assert!(s[1].starts_with(&format!("w{WINDOW_STRIDE} ")));
    }

    proptest! {
        #[test]
        fn every_word_is_in_some_segment_and_no_segment_is_blank(text in "[a-z .!?\n]{0,400}") {
            let segs = segments(&text);
            for w in text.split_whitespace() {
                prop_assert!(segs.iter().any(|s| s.contains(w)), "{w:?} lost");
            }
            for s in &segs {
                prop_assert!(!s.trim().is_empty());
                prop_assert!(s.split_whitespace().count() <= WINDOW_WORDS);
            }
        }
    }
}
