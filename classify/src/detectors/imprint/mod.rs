//! The digital imprint check (`kind: "electoral_law"`, `label: "missing_imprint"`).
//!
//! Since November 2023 (Elections Act 2022, Part 6) digital election material published by or
//! for a candidate, party or registered campaigner, and any paid-for election material, must
//! carry an *imprint*: the name and address of the promoter and of anyone on whose behalf it is
//! published. Returning Officers and the police deal with breaches. This detector flags:
//!
//! - **election material**: text that asks for votes for a named candidate (an `[[identity]]`
//!   of kind `candidate`) or party (a `party` identity, or a party Great Britain's voters know by
//!   name) in the imperative, as campaign material does ("Vote Okafor on 7 May", "Re-elect
//!   Jane Okafor", "#VoteGreen"); or, from a candidate's or party's own account, text that asks
//!   for the reader's vote ("I'm asking for your vote");
//! - **without an imprint**: no "Promoted by … <address>" (or "Published by", "Printed and
//!   promoted by", Welsh "Hyrwyddwyd gan") in the text, the text read from its images, or the
//!   author's profile (an imprint in the bio is allowed where the platform has no room in the
//!   post). An imprint with a name and no address is reported as incomplete.
//!
//! It never flags: residents' opinions ("I'll vote Labour", "why I'm backing Jane") — only
//! clause-initial imperatives count; quotations in news ("'Vote Labour,' she said") — an
//! imperative straight after an opening quote is not the author's; material of the council and
//! other non-campaigning identities; and guidance that names no candidate or party ("vote at
//! your polling station"). Material from a candidate's or party's own account scores 0.8
//! (medium); from anyone else 0.6 (low): whether an imprint was needed there depends on who
//! published it and whether it was paid for, which the explanation says.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ballotwatch_core::{Item, Verdict, VerdictKind};
use regex::{Regex, RegexBuilder};

use super::impersonation::identities::{host_of_url, words_pattern, ProtectedIdentities};
use crate::config::IdentityKind;
use crate::{ClassifyError, Detector, DetectorError};

/// Parties Great Britain's voters know by name, as written after "vote" (regex fragments).
const PARTIES: &[&str] = &[
    r"labour(?:\s+party)?",
    r"conservatives?(?:\s+party)?",
    r"tor(?:y|ies)",
    r"liberal\s+democrats?",
    r"lib\s*dems?",
    r"greens?(?:\s+party)?",
    r"reform(?:\s+uk)?",
    r"plaid(?:\s+cymru)?",
    r"snp",
    r"ukip",
    r"workers\s+party",
    r"independents?",
];

/// How far past "promoted by" an imprint's name and address are looked for (bytes).
const IMPRINT_SPAN: usize = 300;

/// Score for material from a candidate's or party's own account (must carry an imprint).
const CAMPAIGNER_SCORE: f32 = 0.8;
/// Score for material from anyone else (needs one if published for a campaigner or paid for).
const OTHER_SCORE: f32 = 0.6;

/// The imprint detector.
pub struct ImprintDetector {
    ids: Arc<ProtectedIdentities>,
    /// Clause-initial "vote/elect/back … <candidate or party>", and `#Vote<name>` hashtags.
    ask: Regex,
    /// A campaigner asking for the reader's vote without naming anyone.
    own_ask: Regex,
    /// The start of an imprint.
    imprint: Regex,
    /// A UK postcode or a street address.
    address: Regex,
}

/// The ways a candidate or party identity is named after "vote" (regex fragments).
fn target_names(ids: &ProtectedIdentities) -> Vec<String> {
    let mut out = Vec::new();
    for i in &ids.identities {
        if !matches!(i.kind, IdentityKind::Candidate | IdentityKind::Party) {
            continue;
        }
        let name = i.name.trim();
        let name = name.strip_prefix("The ").unwrap_or(name);
        let words: Vec<&str> = name.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        out.push(words_pattern(words.iter().copied()));
        // A local party is often named without its place ("Anytown Residents First" is
        // "Residents First" on its own leaflets).
        if i.kind == IdentityKind::Party && words.len() > 2 {
            out.push(words_pattern(words[1..].iter().copied()));
        }
        // A candidate is often asked for by surname alone ("Vote Okafor").
        if i.kind == IdentityKind::Candidate && words.len() > 1 {
            if let Some(last) = words.last().filter(|w| w.chars().count() >= 4) {
                out.push(regex::escape(last));
            }
        }
    }
    out
}

fn build(pattern: &str) -> Result<Regex, ClassifyError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .multi_line(true)
        .size_limit(1 << 24)
        .build()
        .map_err(|e| ClassifyError {
            detector: "imprint".into(),
            message: format!("cannot build a pattern: {e}"),
        })
}

impl ImprintDetector {
    /// A detector over these identities (candidates and parties are what material asks votes
    /// for; the others' own posts are never election material).
    pub fn new(ids: Arc<ProtectedIdentities>) -> Result<ImprintDetector, ClassifyError> {
        let mut names = target_names(&ids);
        names.extend(PARTIES.iter().map(|p| p.to_string()));
        let targets = names.join("|");
        let squashed: Vec<String> = names
            .iter()
            .map(|n| n.replace(r"\s+", "").replace(r"\s*", ""))
            .collect();
        // A clause starts at the beginning of a line or after punctuation that is not a quote
        // mark or a hyphen inside a word ("re-elect"), optionally followed by a softener; the
        // verb must come next.
        let lead = r#"(?:^|[^\p{L}\p{N}\s"“”‘’'\-]|-\s)[\s\p{Extended_Pictographic}]*(?:(?:please|so|and|then|now|go\s+and|remember\s+to|don't\s+forget\s+to|make\s+sure\s+(?:you|to))\s+)*"#;
        let verb = r"(?:vote|elect|re-?elect|back|support|choose)";
        let ask = build(&format!(
            r"{lead}(?P<ask>{verb}\s+(?:for\s+)?(?:the\s+)?(?P<who>{targets})\b[^\n.!?]{{0,60}})|(?P<tag>#(?:vote|votefor|elect|reelect|back)(?:{})\b)",
            squashed.join("|")
        ))?;
        let own_ask = build(
            r"(?P<ask>\b(?:vote\s+for\s+me|(?:ask(?:ing)?|need)\s+(?:for\s+)?your\s+(?:vote|support)|your\s+vote\s+(?:on|this)\b[^\n.!?]{0,40}|i(?:'m|\s+am)\s+standing\s+(?:for|in|as)\b[^\n.!?]{0,40}|put\s+your\s+cross\b[^\n.!?]{0,40}))",
        )?;
        let imprint = build(
            r"\b(?:promoted|published|printed|hyrwyddwyd|cyhoeddwyd|argraffwyd)(?:\s*(?:,|and|&|ac?)\s*(?:promoted|published|printed|hyrwyddwyd|cyhoeddwyd|argraffwyd))*\s+(?:by|gan)\s+\S",
        )?;
        let address = build(
            r"\b[a-z]{1,2}\d[a-z\d]?\s*\d[a-z]{2}\b|\b\d{1,4}[a-z]?,?\s+(?:[\p{L}'-]+\s+){0,3}(?:street|st|road|rd|lane|ln|avenue|ave|way|close|drive|dr|place|square|sq|terrace|crescent|gardens|court|row|hill|parade|walk|grove|park|heol|stryd|ffordd)\b|\bp\.?\s?o\.?\s+box\s+\d+",
        )?;
        Ok(ImprintDetector {
            ids,
            ask,
            own_ask,
            imprint,
            address,
        })
    }

    /// What an imprint in `text` lacks: `None` when there is no imprint at all, an empty list
    /// when it has a name and an address.
    fn imprint_gaps(&self, text: &str) -> Option<Vec<&'static str>> {
        let mut found: Option<Vec<&'static str>> = None;
        for m in self.imprint.find_iter(text) {
            let end = ballotwatch_core::floor_char_boundary(text, m.end() + IMPRINT_SPAN);
            let span = &text[m.start()..end.max(m.end())];
            if self.address.is_match(span) {
                return Some(Vec::new());
            }
            found = Some(vec!["the promoter's address"]);
        }
        found
    }
}

impl Detector for ImprintDetector {
    fn name(&self) -> &'static str {
        "imprint"
    }

    fn version(&self) -> String {
        "imprint-1".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let publisher = self.ids.publisher_of(item).map(|i| i.kind);
        let campaigner = matches!(
            publisher,
            Some(IdentityKind::Candidate | IdentityKind::Party)
        );
        if publisher.is_some() && !campaigner {
            // The council's, an officer's or another protected body's own material.
            return Ok(Vec::new());
        }
        let text = item.full_text();
        let material = self
            .ask
            .captures(&text)
            .and_then(|c| c.name("ask").or_else(|| c.name("tag")))
            .or_else(|| {
                campaigner
                    .then(|| self.own_ask.captures(&text).and_then(|c| c.name("ask")))
                    .flatten()
            });
        let Some(material) = material else {
            return Ok(Vec::new());
        };
        let bio = item.author.as_ref().and_then(|a| a.bio.as_deref());
        let in_text = self.imprint_gaps(&text);
        let in_bio = bio.and_then(|b| self.imprint_gaps(b));
        if in_text.as_ref().is_some_and(Vec::is_empty) || in_bio.as_ref().is_some_and(Vec::is_empty)
        {
            return Ok(Vec::new());
        }
        let gaps = in_text
            .or(in_bio)
            .unwrap_or_else(|| vec!["the promoter's name", "the promoter's address"]);
        let phrase = material.as_str().trim();
        let by = item
            .author
            .as_ref()
            .and_then(|a| a.handle.clone().or(a.display_name.clone()))
            .or_else(|| item.url.as_deref().and_then(host_of_url))
            .unwrap_or_else(|| "an unknown publisher".into());
        let what = if gaps.len() == 2 {
            "carries no imprint".to_string()
        } else {
            format!("has an imprint without {}", gaps.join(" or "))
        };
        let (score, why) = if campaigner {
            (
                CAMPAIGNER_SCORE,
                "digital election material from a candidate or party must say who promoted it \
                 and their address (Elections Act 2022); none was found in the post, the text \
                 read from its images or the profile"
                    .to_string(),
            )
        } else {
            (
                OTHER_SCORE,
                "if it was published by or for a candidate, party or registered campaigner, or \
                 paid to be promoted, it must say who promoted it and their address (Elections \
                 Act 2022); a resident's own unpaid post needs none"
                    .to_string(),
            )
        };
        Ok(vec![Verdict {
            kind: VerdictKind::ElectoralLaw,
            label: "missing_imprint".into(),
            score,
            detector: "imprint".into(),
            explanation: format!("election material (\"{phrase}\") posted by {by} {what}: {why}"),
            evidence: serde_json::json!({
                "material": phrase,
                "publisher": by,
                "campaigner_account": campaigner,
                "missing": gaps,
            }),
            rebuttal: None,
        }])
    }
}
