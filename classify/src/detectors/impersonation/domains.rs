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
    describe_edit, describe_lookalikes, flat, fold, host_of_url, Identity, ProtectedDomain,
    ProtectedIdentities,
};
use crate::{Detector, DetectorError};

/// Words that, added to a protected name, make a combosquat (`leeds-vote.com`): each claims
/// the election, the government or a login. A domain needs at least one of them.
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
    "official",
    "gov",
    "govuk",
    "postal",
    "proxy",
    "secure",
    "login",
    "verify",
    "returning",
    "officer",
    "ro",
];

/// Words that may stand beside a protected name and the [`COMBO_WORDS`] but claim nothing on
/// their own: `swindononline.co.uk` is the local news site, `readinghelp.org` a charity,
/// `derbycity.com` anyone's. A place name is not an identity.
pub const FILLER_WORDS: &[&str] = &[
    "city",
    "cc",
    "uk",
    "info",
    "online",
    "portal",
    "services",
    "service",
    "support",
    "help",
    "to",
    "team",
    "office",
    "id",
    "card",
    "my",
    "e",
    "authority",
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
                let Some((score, transformation)) =
                    compare(&host, registrable, suffix, &label, p, identity)
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
    identity: &Identity,
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
        // A letter inserted or doubled keeps the whole name in sight, so it deceives under any
        // suffix once the name is five letters long (`derrby.co.uk`).
        if n >= 7 || (n >= 5 && label.chars().count() == n + 1) {
            return Some((0.65, format!("{how}, {}", swap())));
        }
    }
    // Look-alike characters plus one edit.
    if same_suffix && n >= 5 && strsim::osa_distance(&fold(label), &p.label_fold) == 1 {
        return Some((0.8, "look-alike characters and one edit".into()));
    }
    let joined: String = label.chars().filter(|c| *c != '-').collect();
    // A council's name run together or abbreviated (`swindonboroughcouncil.co.uk`,
    // `stockportmbc.com`), possibly with election words after it.
    if let Some(how) = council_form(&joined, p, identity) {
        return Some((0.9, how));
    }
    // Combosquat: the protected label plus campaign words.
    if let Some(words) = combo_words(&joined, &p.label) {
        return Some((0.8, format!("combined with the word(s) {words}")));
    }
    None
}

/// When the (hyphen-free) label is a council's name run together or abbreviated after the
/// protected label, optionally followed by combo or filler words: how.
fn council_form(joined: &str, p: &ProtectedDomain, identity: &Identity) -> Option<String> {
    if identity.forms.is_empty() {
        return None;
    }
    let rest = joined.strip_prefix(p.label.as_str())?;
    // The council words right after the place, then anything that splits into words.
    let council_words = [
        "metropolitanboroughcouncil",
        "boroughcouncil",
        "citycouncil",
        "countycouncil",
        "districtcouncil",
        "council",
        "mbc",
        "cbc",
        "bc",
        "dc",
        "mc",
        "cc",
    ];
    // `cc` is a city or county council's abbreviation only (a cricket club's otherwise).
    let city = identity
        .forms
        .contains(&format!("{}{}", identity.place.concat(), fold("cc")));
    for w in council_words {
        let Some(after) = rest.strip_prefix(w) else {
            continue;
        };
        if w == "cc" && !city {
            continue;
        }
        if split_words(after).is_some() {
            return Some(format!(
                "the council's name run together or abbreviated ('{}{w}')",
                p.label
            ));
        }
    }
    None
}

/// When `label` is `name` with campaign words before and/or after it (at least one of
/// [`COMBO_WORDS`]; [`FILLER_WORDS`] alone claim nothing), those words.
fn combo_words(label: &str, name: &str) -> Option<String> {
    let at = label.find(name)?;
    let (before, after) = (&label[..at], &label[at + name.len()..]);
    if before.is_empty() && after.is_empty() {
        return None;
    }
    let mut words = split_words(before)?;
    words.extend(split_words(after)?);
    if !words.iter().any(|w| COMBO_WORDS.contains(w)) {
        return None;
    }
    Some(
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Splits `s` into [`COMBO_WORDS`] and [`FILLER_WORDS`]; `None` when it cannot be. Dynamic
/// programming over the positions (a label is at most 63 bytes), so linear in its length
/// times the word count, never exponential.
fn split_words(s: &str) -> Option<Vec<&'static str>> {
    let n = s.len();
    // back[i] = the word ending at byte i on some split of s[..i], when there is one.
    let mut back: Vec<Option<&'static str>> = vec![None; n + 1];
    let mut reachable = vec![false; n + 1];
    reachable[0] = true;
    for i in 0..n {
        if !reachable[i] {
            continue;
        }
        for w in COMBO_WORDS.iter().chain(FILLER_WORDS) {
            let j = i + w.len();
            if j <= n && !reachable[j] && s.get(i..j) == Some(*w) {
                reachable[j] = true;
                back[j] = Some(*w);
            }
        }
    }
    if !reachable[n] {
        return None;
    }
    let mut words = Vec::new();
    let mut at = n;
    while at > 0 {
        let w = back[at]?;
        words.push(w);
        at -= w.len();
    }
    words.reverse();
    Some(words)
}

impl Detector for DomainDetector {
    fn name(&self) -> &'static str {
        "domains"
    }

    fn version(&self) -> String {
        "domains-2".into()
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

    /// Issue 20: a place name beside words that claim nothing is a local organisation; the
    /// council's name compressed, or the place beside election, government or login words,
    /// is a lookalike; so is a letter doubled under another suffix and a whole-script homograph.
    #[test]
    fn local_sites_are_not_flagged_and_council_forms_are() {
        let d = detector();
        for local in [
            "leedsonline.co.uk",
            "leeds-news.com",
            "leedsinfo.co.uk",
            "leedshelp.org",
            "leedscity.com",
            "leedsservices.co.uk",
            "leedsportal.co.uk",
        ] {
            assert_eq!(how(&d, local), None, "{local}");
        }
        assert_eq!(
            how(&d, "leedscitycouncil.co.uk").as_deref(),
            Some("the council's name run together or abbreviated ('leedscitycouncil')")
        );
        assert_eq!(
            how(&d, "leedscc-elections.com").as_deref(),
            Some("the council's name run together or abbreviated ('leedscc')")
        );
        assert_eq!(
            how(&d, "registertovote-leeds.co.uk").as_deref(),
            Some("combined with the word(s) 'register', 'to', 'vote'")
        );
        assert_eq!(
            how(&d, "leeds-returningofficer.uk").as_deref(),
            Some("combined with the word(s) 'returning', 'officer'")
        );
        assert!(how(&d, "leedds.co.uk").is_some_and(|h| h.contains("repeated")));
        // Every letter from another script, including ones the UTS #39 skeleton leaves.
        assert!(d.check("ӏееԁѕ.gov.uk").is_some());
        assert!(d.check("тоԝп.gov.uk").is_none());
    }

    proptest! {
        /// The word splitter is linear and total on any label.
        #[test]
        fn split_words_never_panics(s in "[a-z-]{0,63}") {
            let _ = split_words(&s);
            let _ = combo_words(&s, "leeds");
        }
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
