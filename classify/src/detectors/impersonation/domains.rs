//! Lookalike domains (`label: "lookalike_domain"`): every link in an item, the item's own URL,
//! the author's URL and domains written in the text are compared with the protected domains.
//!
//! Registrable domains come from the public suffix list, so `evil.leeds.gov.uk.example.com`
//! is understood as `example.com` abusing `leeds.gov.uk`. The real domains and their
//! subdomains are never flagged. A TLD swap to a vetted second-level domain (`.ac.uk`,
//! `.nhs.uk`, `.police.uk`, ...) is not flagged: nobody but the matching institution can
//! register there, so `leeds.ac.uk` is the university, not an attacker.

use std::sync::Arc;

use ballotwatch_core::{Item, Verdict, VerdictKind};
use regex::Regex;

use super::identities::{
    describe_edit, describe_lookalikes, flat, fold, host_of_url, ProtectedDomain,
    ProtectedIdentities,
};
use crate::{Detector, DetectorError};

/// Words that, added to a protected name, make a combosquat (`leeds-vote.com`).
pub const COMBO_WORDS: &[&str] = &[
    "vote",
    "votes",
    "voting",
    "voter",
    "voters",
    "election",
    "elections",
    "electoral",
    "register",
    "registration",
    "poll",
    "polls",
    "polling",
    "ballot",
    "ballots",
    "council",
    "city",
    "cc",
    "official",
    "gov",
    "govuk",
    "uk",
    "postal",
    "proxy",
    "info",
    "secure",
    "login",
    "verify",
    "online",
    "portal",
    "services",
    "service",
    "support",
    "help",
    "returning",
    "officer",
    "ro",
];

/// UK second-level domains whose registrations are vetted: a TLD swap into them is not an
/// attack anyone can mount.
pub const VETTED_SUFFIXES: &[&str] = &[
    "ac.uk",
    "gov.uk",
    "nhs.uk",
    "police.uk",
    "sch.uk",
    "mod.uk",
    "parliament.uk",
];

/// A domain found to look like a protected one.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainMatch {
    /// The suspect host as seen (Unicode).
    pub domain: String,
    /// The protected domain it imitates.
    pub protected: String,
    /// The protected identity's name.
    pub identity: String,
    /// What was done to the protected domain ("hyphen inserted").
    pub transformation: String,
    /// Calibrated score.
    pub score: f32,
}

/// The lookalike-domain detector.
pub struct DomainDetector {
    ids: Arc<ProtectedIdentities>,
    domain_in_text: Regex,
}

impl DomainDetector {
    /// A detector over these identities.
    pub fn new(ids: Arc<ProtectedIdentities>) -> DomainDetector {
        DomainDetector {
            ids,
            // Domain-shaped words in text: labels of letters, digits and hyphens joined by dots.
            domain_in_text: Regex::new(
                r"(?:https?://)?[\p{L}\p{N}][\p{L}\p{N}-]*(?:\.[\p{L}\p{N}-]+)+",
            )
            .unwrap_or_else(|_| unreachable!("the pattern is a constant")),
        }
    }

    /// Checks one host (or URL, or bare domain); `None` when it is official or not a lookalike.
    pub fn check(&self, host_or_url: &str) -> Option<DomainMatch> {
        let host = host_of_url(host_or_url)?;
        if self.ids.official_for_host(&host).is_some() {
            return None;
        }
        let registrable = psl::domain_str(&host)?;
        let suffix = psl::suffix_str(&host)?;
        let label_ascii = registrable
            .strip_suffix(suffix)
            .unwrap_or(registrable)
            .trim_end_matches('.');
        let label = idna::domain_to_unicode(label_ascii).0;
        let shown = idna::domain_to_unicode(&host).0;
        let mut best: Option<DomainMatch> = None;
        for identity in &self.ids.identities {
            for p in &identity.domains {
                let Some((score, transformation)) = compare(&host, registrable, suffix, &label, p)
                else {
                    continue;
                };
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(DomainMatch {
                        domain: shown.clone(),
                        protected: p.full.clone(),
                        identity: identity.name.clone(),
                        transformation,
                        score,
                    });
                }
            }
        }
        best
    }
}

/// Compares one suspect host with one protected domain: (score, transformation).
fn compare(
    host: &str,
    registrable: &str,
    suffix: &str,
    label: &str,
    p: &ProtectedDomain,
) -> Option<(f32, String)> {
    if registrable == p.registrable {
        return None;
    }
    // The protected domain used as a subdomain of (or embedded in) another domain.
    if host.contains(&p.full) {
        return Some((
            0.95,
            format!("{} used inside the domain {registrable}", p.full),
        ));
    }
    let same_suffix = suffix == p.suffix;
    let swap = || format!("TLD swapped .{}→.{suffix}", p.suffix);
    // Same letters, different dots and hyphens: leeds-gov.uk, leedsgov.uk, l.eeds.gov.uk.
    if flat(registrable) == p.flat || flat(host) == p.flat {
        let how = if registrable.replace('-', ".") == p.registrable {
            "dot replaced by hyphen".to_string()
        } else if flat(host) == p.flat && host.len() > p.full.len() {
            "dot inserted".to_string()
        } else {
            "dots and hyphens moved".to_string()
        };
        return Some((0.95, how));
    }
    if label == p.label {
        if same_suffix || VETTED_SUFFIXES.contains(&suffix) {
            return None;
        }
        return Some((0.85, swap()));
    }
    let n = p.label.chars().count();
    // Look-alike characters (homoglyphs, IDN confusables, digits for letters).
    if fold(label) == p.label_fold {
        let how = describe_lookalikes(label, &p.label);
        return Some(if same_suffix {
            (0.97, how)
        } else {
            (0.85, format!("{how}, {}", swap()))
        });
    }
    // One keyboard edit of the label.
    let d = strsim::osa_distance(label, &p.label);
    if d == 1 && n >= 4 {
        let how = describe_edit(label, &p.label);
        if same_suffix {
            return Some((if n >= 5 { 0.9 } else { 0.75 }, how));
        }
        if n >= 7 {
            return Some((0.65, format!("{how}, {}", swap())));
        }
    }
    // Look-alike characters plus one edit.
    if same_suffix && n >= 5 && strsim::osa_distance(&fold(label), &p.label_fold) == 1 {
        return Some((0.8, "look-alike characters and one edit".into()));
    }
    // Combosquat: the protected label plus campaign words.
    let joined: String = label.chars().filter(|c| *c != '-').collect();
    if let Some(words) = combo_words(&joined, &p.label) {
        return Some((0.8, format!("combined with the word(s) {words}")));
    }
    None
}

/// When `label` is `name` with campaign words before and/or after it, those words.
fn combo_words(label: &str, name: &str) -> Option<String> {
    let at = label.find(name)?;
    let (before, after) = (&label[..at], &label[at + name.len()..]);
    if before.is_empty() && after.is_empty() {
        return None;
    }
    let mut words = split_words(before)?;
    words.extend(split_words(after)?);
    Some(
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Splits `s` into [`COMBO_WORDS`] (longest first); `None` when it cannot be.
fn split_words(s: &str) -> Option<Vec<&'static str>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    let mut candidates: Vec<&&str> = COMBO_WORDS.iter().filter(|w| s.starts_with(**w)).collect();
    candidates.sort_by_key(|w| std::cmp::Reverse(w.len()));
    for w in candidates {
        if let Some(mut rest) = split_words(&s[w.len()..]) {
            rest.insert(0, w);
            return Some(rest);
        }
    }
    None
}

impl Detector for DomainDetector {
    fn name(&self) -> &'static str {
        "domains"
    }

    fn version(&self) -> String {
        "domains-1".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let mut places: Vec<(String, &'static str)> = Vec::new();
        places.extend(item.links.iter().map(|l| (l.clone(), "links to")));
        if let Some(u) = &item.url {
            places.push((u.clone(), "is published at"));
        }
        if let Some(u) = item.author.as_ref().and_then(|a| a.url.as_ref()) {
            places.push((u.clone(), "is posted by an account whose page is at"));
        }
        let text = item.full_text();
        for m in self.domain_in_text.find_iter(&text) {
            let s = m.as_str().trim_end_matches(['.', '-']);
            // Only domains with a known public suffix, so "e.g." and "3.30pm" are not hosts.
            let known = host_of_url(s)
                .is_some_and(|h| psl::suffix(h.as_bytes()).is_some_and(|x| x.is_known()));
            if known {
                places.push((s.to_string(), "mentions"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (place, how) in places {
            let Some(m) = self.check(&place) else {
                continue;
            };
            if !seen.insert(m.domain.clone()) {
                continue;
            }
            out.push(Verdict {
                kind: VerdictKind::Impersonation,
                label: "lookalike_domain".into(),
                score: m.score,
                detector: "domains".into(),
                explanation: format!(
                    "{how} {}, a lookalike of {} ({}): {}",
                    m.domain, m.protected, m.identity, m.transformation
                ),
                evidence: serde_json::json!({
                    "domain": m.domain,
                    "protected": m.protected,
                    "identity": m.identity,
                    "transformation": m.transformation,
                }),
                rebuttal: None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IdentityConfig, IdentityKind};
    use proptest::prelude::*;

    fn detector() -> DomainDetector {
        let ids = ProtectedIdentities::new(&[
            IdentityConfig {
                name: "Leeds City Council".into(),
                names: vec![],
                kind: IdentityKind::Organisation,
                domains: vec!["leeds.gov.uk".into()],
                handles: Default::default(),
                logos: vec![],
            },
            IdentityConfig {
                name: "Electoral Commission".into(),
                names: vec![],
                kind: IdentityKind::Organisation,
                domains: vec!["electoralcommission.org.uk".into()],
                handles: Default::default(),
                logos: vec![],
            },
        ]);
        DomainDetector::new(Arc::new(ids))
    }

    fn how(d: &DomainDetector, host: &str) -> Option<String> {
        d.check(host).map(|m| m.transformation)
    }

    #[test]
    fn lookalikes_are_named() {
        let d = detector();
        assert_eq!(
            how(&d, "leeds-gov.uk").as_deref(),
            Some("dot replaced by hyphen")
        );
        assert_eq!(
            how(&d, "https://leeds.co.uk/x").as_deref(),
            Some("TLD swapped .gov.uk→.co.uk")
        );
        assert_eq!(
            how(&d, "leedss.gov.uk").as_deref(),
            Some("letter 's' repeated")
        );
        assert_eq!(
            how(&d, "evil.leeds.gov.uk.example.com").as_deref(),
            Some("leeds.gov.uk used inside the domain example.com")
        );
        assert_eq!(
            how(&d, "lееds.gov.uk").as_deref(),
            Some("Cyrillic 'е' for Latin 'e'")
        );
        assert_eq!(
            how(&d, "xn--lds-rdda.gov.uk").as_deref(),
            Some("Cyrillic 'е' for Latin 'e'")
        );
        assert_eq!(
            how(&d, "leeds-vote.com").as_deref(),
            Some("combined with the word(s) 'vote'")
        );
        assert_eq!(
            how(&d, "electoralcomission.org.uk").as_deref(),
            Some("letter 'm' omitted")
        );
        let m = d.check("leeds-gov.uk").unwrap();
        assert_eq!(
            (m.identity.as_str(), m.protected.as_str()),
            ("Leeds City Council", "leeds.gov.uk")
        );
    }

    #[test]
    fn real_domains_and_neighbours_are_not_flagged() {
        let d = detector();
        for ok in [
            "leeds.gov.uk",
            "https://www.leeds.gov.uk/elections",
            "democracy.leeds.gov.uk",
            "leeds.ac.uk",
            "leedsbeckett.ac.uk",
            "leeds-live.co.uk",
            "leedsunited.com",
            "yorkshireeveningpost.co.uk",
            "bbc.co.uk",
            "electoral-reform.org.uk",
        ] {
            assert_eq!(d.check(ok), None, "{ok}");
        }
    }

    #[test]
    fn detect_reads_links_author_and_text() {
        let d = detector();
        let item = Item {
            id: "1".into(),
            text: Some("Register at leeds-elections.co.uk today, see www.leeds.gov.uk".into()),
            links: vec![
                "https://leeds-gov.uk/vote".into(),
                "https://leeds.gov.uk/".into(),
            ],
            ..Item::default()
        };
        let v = d.detect(&item).unwrap();
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(
            v[0].explanation,
            "links to leeds-gov.uk, a lookalike of leeds.gov.uk (Leeds City Council): dot replaced by hyphen"
        );
        assert_eq!(v[0].evidence["domain"], "leeds-gov.uk");
        assert_eq!(v[0].evidence["identity"], "Leeds City Council");
        assert!(v[1]
            .explanation
            .starts_with("mentions leeds-elections.co.uk"));
    }

    proptest! {
        #[test]
        fn the_official_domain_is_never_flagged(
            upper in proptest::collection::vec(any::<bool>(), 12),
            www in any::<bool>(),
            dot in any::<bool>(),
            sub in proptest::option::of("[a-z][a-z0-9-]{0,10}[a-z0-9]"),
            scheme in any::<bool>(),
        ) {
            let d = detector();
            let cased: String = "leeds.gov.uk".chars().zip(upper.iter().cycle())
                .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
                .collect();
            let mut host = String::new();
            if www { host.push_str("www."); }
            if let Some(s) = sub { host.push_str(&s); host.push('.'); }
            host.push_str(&cased);
            if dot { host.push('.'); }
            let input = if scheme { format!("https://{host}/path") } else { host };
            prop_assert_eq!(d.check(&input), None);
        }
    }
}
