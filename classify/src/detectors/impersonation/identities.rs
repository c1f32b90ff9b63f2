//! The protected identities, compiled once from `[[identity]]` and shared by the four
//! impersonation detectors, and the text helpers they share: host and handle normalisation,
//! the look-alike fold (UTS #39 skeleton plus ASCII look-alikes) and the wording of edits.

use std::path::PathBuf;

use crate::config::{IdentityConfig, IdentityKind};
use unicode_normalization::UnicodeNormalization;

/// One official handle, as configured and normalised for comparison.
#[derive(Debug, Clone)]
pub struct OfficialHandle {
    /// Platform name (`x`, `mastodon`, ...).
    pub platform: String,
    /// As written in the config, e.g. `@LeedsCC`.
    pub raw: String,
    /// Lower case, no leading `@`, e.g. `leedscc` or `leeds@mastodon.social`.
    pub key: String,
    /// The user part (before any `@instance`), lower case.
    pub local: String,
}

/// One protected domain, split for comparison.
#[derive(Debug, Clone)]
pub struct ProtectedDomain {
    /// The configured domain, normalised (`leeds.gov.uk`).
    pub full: String,
    /// Its registrable domain per the public suffix list.
    pub registrable: String,
    /// Its public suffix (`gov.uk`).
    pub suffix: String,
    /// The registrable label (`leeds`), in Unicode.
    pub label: String,
    /// [`fold`] of the label.
    pub label_fold: String,
    /// The registrable domain with dots and hyphens removed (`leedsgovuk`).
    pub flat: String,
}

/// One protected identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Name as the public knows it.
    pub name: String,
    /// What sort of identity it is.
    pub kind: IdentityKind,
    /// Official domains.
    pub domains: Vec<ProtectedDomain>,
    /// Official handles on every platform.
    pub handles: Vec<OfficialHandle>,
    /// The name's words, folded, decorations removed.
    pub name_tokens: Vec<String>,
    /// For a council ("Swindon Borough Council"): the words of its place ("swindon"), folded;
    /// empty for other identities. A place name alone is no one's identity: local
    /// newspapers, clubs and businesses carry it too.
    pub place: Vec<String>,
    /// For a council: the forms its name is run together or abbreviated into, folded and
    /// without spaces (`swindonboroughcouncil`, `swindoncouncil`, `swindonbc`, `derbycc` for a
    /// city council), longest first. See [`council_forms`].
    pub forms: Vec<String>,
    /// Configured logo files.
    pub logos: Vec<PathBuf>,
}

/// Every protected identity of a deployment.
#[derive(Debug, Clone, Default)]
pub struct ProtectedIdentities {
    /// In config order.
    pub identities: Vec<Identity>,
}

impl ProtectedIdentities {
    /// Compiles `[[identity]]` entries (already validated by the config loader; a domain the
    /// public suffix list cannot split is kept for exact matching only).
    pub fn new(configs: &[IdentityConfig]) -> ProtectedIdentities {
        let mut identities = Vec::new();
        for c in configs {
            let primary = Identity {
                name: c.name.trim().to_string(),
                kind: c.kind,
                domains: c
                    .domains
                    .iter()
                    .filter_map(|d| protected_domain(d))
                    .collect(),
                handles: c
                    .handles
                    .iter()
                    .flat_map(|(platform, hs)| {
                        hs.iter().map(move |h| {
                            let key = handle_key(h);
                            OfficialHandle {
                                platform: platform.clone(),
                                raw: h.clone(),
                                local: handle_local(&key).to_string(),
                                key,
                            }
                        })
                    })
                    .collect(),
                name_tokens: name_tokens(&c.name),
                place: Vec::new(),
                forms: Vec::new(),
                logos: c.logos.clone(),
            };
            let primary = with_council_forms(primary);
            // Each other name (`names`: a Welsh name, a short form) is protected as an identity
            // of its own with the same domains and handles, after the primary one, so a match
            // on both names is reported under the primary name. Logos are compared once.
            let others: Vec<Identity> = c
                .names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(primary.name.as_str()))
                .map(|n| {
                    with_council_forms(Identity {
                        name: n.to_string(),
                        name_tokens: name_tokens(n),
                        logos: Vec::new(),
                        ..primary.clone()
                    })
                })
                .collect();
            identities.push(primary);
            identities.extend(others);
        }
        ProtectedIdentities { identities }
    }

    /// The identity a host belongs to: the host is an official domain or a subdomain of one.
    /// `host` must be normalised with [`normalise_host`].
    pub fn official_for_host(&self, host: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| {
            i.domains
                .iter()
                .any(|d| host == d.full || host.ends_with(&format!(".{}", d.full)))
        })
    }

    /// The identity an author (handle, profile URL) is an official account of: the handle
    /// equals an official handle, is a Bluesky handle under an official domain (domain handles
    /// are verified by DNS), or lives on a Mastodon instance at an official domain; or the
    /// profile URL is on an official domain. A handle that folds to nothing is no one's.
    pub fn official_identity(&self, handle: Option<&str>, url: Option<&str>) -> Option<&Identity> {
        if let Some(h) = handle {
            let key = handle_key(h);
            if key.is_empty() {
                return None;
            }
            if let Some(i) = self
                .identities
                .iter()
                .find(|i| i.handles.iter().any(|o| o.key == key))
            {
                return Some(i);
            }
            // A domain-shaped handle (Bluesky) or the instance of a Mastodon handle.
            let domain_part = key.rsplit('@').next().unwrap_or(&key);
            if domain_part.contains('.') {
                if let Some(i) =
                    normalise_host(domain_part).and_then(|h| self.official_for_host(&h))
                {
                    return Some(i);
                }
            }
        }
        url.and_then(host_of_url)
            .and_then(|h| self.official_for_host(&h))
    }

    /// Whether an author is one of the official accounts ([`Self::official_identity`]).
    pub fn is_official_author(&self, handle: Option<&str>, url: Option<&str>) -> bool {
        self.official_identity(handle, url).is_some()
    }

    /// The identity that published `item` itself: its author is an official account
    /// ([`Self::official_identity`]), or the item is on an official domain.
    pub fn publisher_of(&self, item: &ballotwatch_core::Item) -> Option<&Identity> {
        let author = item.author.as_ref();
        self.official_identity(
            author.and_then(|a| a.handle.as_deref()),
            author.and_then(|a| a.url.as_deref()),
        )
        .or_else(|| {
            item.url
                .as_deref()
                .and_then(host_of_url)
                .and_then(|h| self.official_for_host(&h))
        })
    }
}

/// Words naming what sort of council a council is; the rest of its name is its place.
pub const COUNCIL_TYPE_WORDS: &[&str] = &[
    "council",
    "borough",
    "city",
    "county",
    "district",
    "metropolitan",
    "royal",
    "unitary",
    "of",
    "and",
];

/// Abbreviations a council's name is shortened to after its place (`stockportmbc`,
/// `readingbc`); with [`COUNCIL_SHORT`] (`derbycncl`). `cc` is added only for city and county
/// councils (a cricket club is `cc` too).
pub const COUNCIL_ABBREVIATIONS: &[&str] = &["council", "mbc", "mc", "bc", "dc", "cbc", "bcouncil"];

/// "Council" written short (`cncl`, `coun`): a form of the name after the place, and a type
/// run may end in one of these.
pub const COUNCIL_SHORT: &[&str] = &["cncl", "cnl", "coun", "councl"];

/// Type words written short inside a run-together name (`stockportmetcouncil`,
/// `swindonborocouncil`, `stockportmbcouncil`).
pub const TYPE_SHORT: &[&str] = &["boro", "bor", "cty", "met", "metro", "dist", "mb"];

/// Folded once: each word list's entries through [`fold`].
fn folded(list: &'static [&'static str]) -> Vec<String> {
    list.iter().map(|w| fold(w)).collect()
}

/// [`COUNCIL_TYPE_WORDS`], folded.
pub fn folded_type_words() -> &'static [String] {
    static F: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| folded(COUNCIL_TYPE_WORDS));
    &F
}

/// Fills [`Identity::place`] and [`Identity::forms`] for an organisation whose name says it
/// is a council; leaves them empty otherwise.
fn with_council_forms(mut identity: Identity) -> Identity {
    let council = fold("council");
    if identity.kind != IdentityKind::Organisation || !identity.name_tokens.contains(&council) {
        return identity;
    }
    let types = folded_type_words();
    let place: Vec<String> = identity
        .name_tokens
        .iter()
        .filter(|t| !types.contains(t))
        .cloned()
        .collect();
    if place.is_empty() {
        return identity;
    }
    identity.forms = council_forms(&place, &identity.name_tokens);
    identity.place = place;
    identity
}

/// The run-together and abbreviated forms of a council's name, folded: the whole name, the
/// place + "council", the place + the initials of its type words ("bc"), the place + the usual
/// abbreviations, and + "cc" for a city or county council. Longest first.
pub fn council_forms(place: &[String], name_tokens: &[String]) -> Vec<String> {
    let p = place.concat();
    let types = folded_type_words();
    let type_words: Vec<&String> = name_tokens.iter().filter(|t| types.contains(t)).collect();
    let initials: String = type_words.iter().filter_map(|t| t.chars().next()).collect();
    let mut forms = vec![name_tokens.concat()];
    for a in COUNCIL_ABBREVIATIONS.iter().chain(COUNCIL_SHORT) {
        forms.push(format!("{p}{}", fold(a)));
    }
    if initials.chars().count() >= 2 {
        forms.push(format!("{p}{initials}"));
    }
    if type_words
        .iter()
        .any(|t| **t == fold("city") || **t == fold("county"))
    {
        forms.push(format!("{p}{}", fold("cc")));
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.chars().count()));
    forms.dedup();
    forms
}

/// Type words and their short forms, folded: what a run of type words is read from.
fn folded_type_run_words() -> &'static [String] {
    static F: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        COUNCIL_TYPE_WORDS
            .iter()
            .chain(TYPE_SHORT)
            .chain(COUNCIL_SHORT)
            .map(|w| fold(w))
            .collect()
    });
    &F
}

/// `s` (folded) read as a run of council type words, whole or short ("metropolitanborough
/// council" → metropolitan, borough, council); `None` when it is not one. Linear: greedy,
/// longest word first, over a fixed word list with no backtracking.
fn type_run(s: &str) -> Option<Vec<&'static str>> {
    let mut r = s;
    let mut words = Vec::new();
    while !r.is_empty() {
        let w = folded_type_run_words()
            .iter()
            .filter(|w| r.starts_with(w.as_str()))
            .max_by_key(|w| w.len())?;
        words.push(w.as_str());
        r = &r[w.len()..];
    }
    Some(words)
}

/// Whether `rest` is a run of council type words, whole or short, ending in "council" or a
/// short form of it ("metropolitanboroughcouncil", "metcouncil", "boroughcncl"): what follows
/// the place in a compressed full name.
pub fn is_type_run(rest: &str) -> bool {
    type_run(rest).is_some_and(|words| words.last().is_some_and(|w| is_council_word(w)))
}

/// "the", folded once: the article a name may start with ("TheDerbyCouncil").
pub fn folded_the() -> &'static str {
    static F: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| fold("the"));
    &F
}

/// Whether `w` (folded) is "council" or a short form of it.
fn is_council_word(w: &str) -> bool {
    static F: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        std::iter::once("council")
            .chain(COUNCIL_SHORT.iter().copied())
            .map(fold)
            .collect()
    });
    F.iter().any(|c| c == w)
}

/// Whether `core` names the council with its type words before the place
/// ("councilofderby", "cityofderbycouncil", "boroughofswindoncouncil"): type words, "of",
/// the place, then nothing or "council"; "council" (or a short form) somewhere in it, so that
/// "cityofderby" alone (the city) is not a council's name.
pub fn is_reversed_name(core: &str, place: &str) -> bool {
    if place.is_empty() {
        return false;
    }
    static OF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| fold("of"));
    let of_place = format!("{}{place}", *OF);
    let Some(at) = core.find(&of_place) else {
        return false;
    };
    let (before, after) = (&core[..at], &core[at + of_place.len()..]);
    let before = before.strip_prefix(folded_the()).unwrap_or(before);
    let Some(words) = type_run(before).filter(|w| !w.is_empty()) else {
        return false;
    };
    (after.is_empty() || is_council_word(after))
        && (words.iter().any(|w| is_council_word(w)) || is_council_word(after))
}

/// A string folded and squashed: [`fold`], then only letters and digits (`Swindon BC` →
/// `swlndonbe`, comparable with [`Identity::forms`]).
pub fn squash(s: &str) -> String {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// A regex matching `words` in order, literally, with any run of whitespace between them (a
/// name as it appears in running text).
pub fn words_pattern<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words
        .into_iter()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(r"\s+")
}

fn protected_domain(d: &str) -> Option<ProtectedDomain> {
    let full = normalise_host(d)?;
    let registrable = psl::domain_str(&full).unwrap_or(&full).to_string();
    let suffix = psl::suffix_str(&full).unwrap_or("").to_string();
    let label_ascii = registrable
        .strip_suffix(&suffix)
        .unwrap_or(&registrable)
        .trim_end_matches('.');
    let label = idna::domain_to_unicode(label_ascii).0;
    Some(ProtectedDomain {
        label_fold: fold(&label),
        flat: flat(&registrable),
        label,
        suffix,
        registrable,
        full,
    })
}

/// A domain or host as compared: trimmed, lower case, punycode (IDNA), no trailing dot, no
/// leading `www.`. `None` when it is not a valid host name.
pub fn normalise_host(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.');
    if s.is_empty() {
        return None;
    }
    let ascii = idna::domain_to_ascii(s).ok()?;
    let ascii = ascii.strip_prefix("www.").unwrap_or(&ascii).to_string();
    (!ascii.is_empty() && ascii.contains('.')).then_some(ascii)
}

/// The normalised host of a URL (or of a bare `domain/path`).
pub fn host_of_url(s: &str) -> Option<String> {
    let s = s.trim();
    let parsed = if s.contains("://") {
        url::Url::parse(s).ok()?
    } else {
        url::Url::parse(&format!("http://{s}")).ok()?
    };
    match parsed.host()? {
        url::Host::Domain(d) => normalise_host(d),
        _ => None,
    }
}

/// A handle as compared: lower case, no leading `@`, no surrounding space.
pub fn handle_key(h: &str) -> String {
    let h = h.trim();
    let h = h.strip_prefix('@').unwrap_or(h);
    h.trim_end_matches('.').to_lowercase()
}

/// The user part of a handle key (`leeds` of `leeds@mastodon.social`).
pub fn handle_local(key: &str) -> &str {
    key.split('@').next().unwrap_or(key)
}

/// The look-alike fold: NFKC, the UTS #39 confusable skeleton, lower case, then the ASCII
/// look-alikes phishers use (`1`/`i`/`|` for `l`, `0` for `o`, `rn` for `m`, `vv` for `w`,
/// `cl` for `d`, ...), accents dropped. Two strings with the same fold look alike.
pub fn fold(s: &str) -> String {
    let nfkc: String = s
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .map(script_lookalike)
        .collect();
    let skel: String = unicode_security::skeleton(&nfkc).collect::<String>();
    // The skeleton already spells `m` as `rn`, `w` as `vv` and `d` as `cl`; `nn` joins them.
    // Accents stay behind as combining marks: drop them.
    let lower: String = skel
        .to_lowercase()
        .replace("nn", "rn")
        .chars()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect();
    lower
        .chars()
        .map(|c| match c {
            '1' | 'i' | '|' | '!' | 'ı' => 'l',
            '0' => 'o',
            '5' => 's',
            '3' | 'c' => 'e',
            '4' | '@' => 'a',
            '7' => 't',
            '6' | '8' => 'b',
            '9' | 'q' => 'g',
            c => c,
        })
        .collect()
}

/// Cyrillic, Greek and Armenian letters that look like Latin ones in most fonts but that the
/// UTS #39 skeleton leaves alone; whole-script homographs (every letter swapped) use them.
fn script_lookalike(c: char) -> char {
    match c {
        'т' => 't',
        'м' => 'm',
        'г' => 'r',
        'п' | 'ո' => 'n',
        'к' | 'κ' => 'k',
        'ь' => 'b',
        'ԁ' => 'd',
        'ν' => 'v',
        'ѕ' => 's',
        'ɡ' => 'g',
        'ս' => 'u',
        c => c,
    }
}

/// Dots and hyphens removed.
pub fn flat(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '.' | '-')).collect()
}

/// Words that decorate an impersonating account's name or handle without changing who it
/// claims to be ("Official", "UK", "_news", ...). Removed before comparing names.
pub const DECORATIONS: &[&str] = &[
    "official", "the", "uk", "news", "team", "hq", "real", "verified", "page", "account", "online",
    "updates", "update", "info", "gov", "govuk",
];

/// [`DECORATIONS`], folded (computed once).
pub fn folded_decorations() -> &'static [String] {
    static FOLDED: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| DECORATIONS.iter().map(|d| fold(d)).collect());
    &FOLDED
}

/// A name's words: folded, split on anything that is not a letter or digit, decorations
/// removed.
pub fn name_tokens(name: &str) -> Vec<String> {
    raw_tokens(name)
        .into_iter()
        .map(|t| fold(&t))
        .filter(|t| !DECORATIONS.contains(&t.as_str()) && !folded_decorations().contains(t))
        .collect()
}

/// A name's words, lower case, not folded (decorations kept).
pub fn raw_tokens(name: &str) -> Vec<String> {
    let nfkc: String = name.nfkc().collect::<String>().to_lowercase();
    nfkc.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Describes, for a comms officer, how `candidate` differs from `protected` when they fold to
/// the same thing: "Cyrillic 'а' for Latin 'a'", "digit 1 for letter l".
pub fn describe_lookalikes(candidate: &str, protected: &str) -> String {
    let c: Vec<char> = candidate.to_lowercase().chars().collect();
    let p: Vec<char> = protected.to_lowercase().chars().collect();
    if c.len() != p.len() {
        return "look-alike characters".to_string();
    }
    let parts: Vec<String> = c
        .iter()
        .zip(&p)
        .filter(|(a, b)| a != b)
        .map(|(&a, &b)| describe_char_for(a, b))
        .collect();
    if parts.is_empty() {
        "look-alike characters".to_string()
    } else {
        dedup_join(parts)
    }
}

fn dedup_join(mut parts: Vec<String>) -> String {
    let mut seen = std::collections::HashSet::new();
    parts.retain(|p| seen.insert(p.clone()));
    parts.join(", ")
}

fn script_of(c: char) -> &'static str {
    match c as u32 {
        0x0370..=0x03FF | 0x1F00..=0x1FFF => "Greek",
        0x0400..=0x052F => "Cyrillic",
        0x0530..=0x058F => "Armenian",
        0xFF00..=0xFFEF => "full-width",
        _ if c.is_ascii() => "Latin",
        _ => "accented or other",
    }
}

fn describe_char_for(a: char, b: char) -> String {
    if a.is_ascii_digit() && b.is_alphabetic() {
        format!("digit {a} for letter {b}")
    } else if a.is_ascii() && b.is_ascii() {
        format!("'{a}' for '{b}'")
    } else {
        format!("{} '{a}' for {} '{b}'", script_of(a), script_of(b))
    }
}

/// Describes a single edit turning `protected` into `candidate` (which must be one
/// insertion, omission, replacement or transposition apart): "hyphen inserted", "letter 'e'
/// repeated", "vowel swapped 'e'→'a'", "letters 'e' and 'd' transposed", ...
pub fn describe_edit(candidate: &str, protected: &str) -> String {
    let c: Vec<char> = candidate.chars().collect();
    let p: Vec<char> = protected.chars().collect();
    let start = c.iter().zip(&p).take_while(|(a, b)| a == b).count();
    if c.len() == p.len() + 1 {
        let ins = c[start];
        if ins == '-' {
            return "hyphen inserted".into();
        }
        if ins == '.' {
            return "dot inserted".into();
        }
        if (start > 0 && c[start - 1] == ins) || p.get(start) == Some(&ins) {
            return format!("letter '{ins}' repeated");
        }
        if start == p.len() && ins == 's' {
            return "plural 's' added".into();
        }
        return format!("'{ins}' inserted");
    }
    if c.len() + 1 == p.len() {
        let del = p[start];
        if del == '-' {
            return "hyphen removed".into();
        }
        return format!("letter '{del}' omitted");
    }
    if c.len() == p.len() {
        if start + 1 < c.len() && c[start] == p[start + 1] && c[start + 1] == p[start] {
            return format!("letters '{}' and '{}' transposed", p[start], p[start + 1]);
        }
        if start < c.len() {
            let (a, b) = (c[start], p[start]);
            let vowel = |x: char| "aeiou".contains(x);
            if vowel(a) && vowel(b) {
                return format!("vowel swapped '{b}'→'{a}'");
            }
            if a.is_ascii_digit() && b.is_alphabetic() {
                return format!("digit {a} for letter {b}");
            }
            if keyboard_adjacent(a, b) {
                return format!("'{a}' for neighbouring key '{b}'");
            }
            if a.is_ascii() && b.is_ascii() && (a as u8 ^ b as u8).count_ones() == 1 {
                return format!("bit flip '{b}'→'{a}'");
            }
            if a == '-' {
                return format!("hyphen for '{b}'");
            }
            return format!("'{b}' replaced by '{a}'");
        }
    }
    format!("{} edits", strsim::osa_distance(candidate, protected))
}

fn keyboard_adjacent(a: char, b: char) -> bool {
    const ROWS: [&str; 4] = ["1234567890-", "qwertyuiop", "asdfghjkl", "zxcvbnm"];
    let pos = |x: char| {
        ROWS.iter()
            .enumerate()
            .find_map(|(r, row)| row.find(x).map(|col| (r as i32, col as i32)))
    };
    match (pos(a), pos(b)) {
        (Some((ra, ca)), Some((rb, cb))) => (ra - rb).abs() <= 1 && (ca - cb).abs() <= 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(
            normalise_host("WWW.Leeds.gov.uk.").as_deref(),
            Some("leeds.gov.uk")
        );
        assert_eq!(
            host_of_url("https://www.leeds.gov.uk/elections?x=1").as_deref(),
            Some("leeds.gov.uk")
        );
        assert_eq!(
            host_of_url("leeds-gov.uk/vote").as_deref(),
            Some("leeds-gov.uk")
        );
        assert_eq!(
            normalise_host("lееds.gov.uk").as_deref(),
            Some("xn--lds-rdda.gov.uk")
        );
        assert_eq!(host_of_url("http://127.0.0.1/"), None);
    }

    #[test]
    fn fold_catches_lookalikes() {
        assert_eq!(fold("Counci1"), fold("council"));
        assert_eq!(fold("lееds"), fold("leeds")); // Cyrillic е
        assert_eq!(fold("rnanchester"), fold("manchester"));
        assert_ne!(fold("leeds live"), fold("leeds city council"));
    }

    #[test]
    fn edits_are_named() {
        assert_eq!(describe_edit("leeds-gov", "leedsgov"), "hyphen inserted");
        assert_eq!(describe_edit("leeeds", "leeds"), "letter 'e' repeated");
        assert_eq!(describe_edit("leds", "leeds"), "letter 'e' omitted");
        assert_eq!(
            describe_edit("leesd", "leeds"),
            "letters 'd' and 's' transposed"
        );
        assert_eq!(describe_edit("leads", "leeds"), "vowel swapped 'e'→'a'");
        assert_eq!(describe_edit("leedss", "leeds"), "letter 's' repeated");
        assert_eq!(describe_edit("bristols", "bristol"), "plural 's' added");
        assert_eq!(describe_edit("counci1", "council"), "digit 1 for letter l");
        assert_eq!(
            describe_lookalikes("lееds", "leeds"),
            "Cyrillic 'е' for Latin 'e'"
        );
    }
}
