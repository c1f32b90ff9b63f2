//! Lookalike accounts (`label: "impersonated_account"`): the author's display name and handle
//! compared with the protected identities' names and official handles.
//!
//! An account that IS an official handle (or a Bluesky handle under an official domain, or a
//! profile on an official domain) is never flagged. Names are compared word by word after the
//! look-alike fold and with decorations ("Official", "UK", "✔", "_news") removed, so "Leeds
//! Live" and "Leeds Beckett University" (which merely share a word) are not flagged.

use std::sync::Arc;

use ballotwatch_core::{Author, Item, Verdict, VerdictKind};

use super::identities::{
    describe_edit, describe_lookalikes, fold, folded_decorations, folded_the, folded_type_words,
    handle_key, handle_local, is_reversed_name, is_type_run, name_tokens, raw_tokens, squash,
    Identity, ProtectedIdentities, DECORATIONS,
};
use crate::{Detector, DetectorError};

/// An account found to imitate a protected identity.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountMatch {
    /// The protected identity's name.
    pub identity: String,
    /// What imitates it: `display name "…"` or `handle @…`.
    pub what: String,
    /// How ("digit 1 for letter l", "decorated with 'official'").
    pub transformation: String,
    /// The official handle it drifts from, when the handle was the match.
    pub official_handle: Option<String>,
    /// Calibrated score.
    pub score: f32,
}

/// The lookalike-account detector.
pub struct AccountDetector {
    ids: Arc<ProtectedIdentities>,
}

impl AccountDetector {
    /// A detector over these identities.
    pub fn new(ids: Arc<ProtectedIdentities>) -> AccountDetector {
        AccountDetector { ids }
    }

    /// Checks one author as of a post's time (`at`, for the account's age where the source
    /// gives it); `None` when official or not a lookalike.
    ///
    /// A match on the handle alone (one letter from an official handle) is not a claim when
    /// the display name names something else and the platform shows an established account
    /// (see [`established`]): that is a local club or business whose handle happens to be
    /// close, like `@NorwichCFC` beside `@NorwichCC`.
    pub fn check_at(
        &self,
        author: &Author,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<AccountMatch> {
        if self
            .ids
            .is_official_author(author.handle.as_deref(), author.url.as_deref())
        {
            return None;
        }
        let display = author
            .display_name
            .as_deref()
            .filter(|n| !n.trim().is_empty());
        let bio = author.bio.as_deref().filter(|b| !b.trim().is_empty());
        let mut best: Option<AccountMatch> = None;
        let mut consider = |m: AccountMatch| {
            if best.as_ref().is_none_or(|b| m.score > b.score) {
                best = Some(m);
            }
        };
        let mut claimed = false;
        for identity in &self.ids.identities {
            if let Some(m) = display.and_then(|n| compare_name(n, identity)) {
                claimed = true;
                consider(m);
            }
            if let Some(m) = bio.and_then(|b| bio_claim(b, identity)) {
                claimed = true;
                consider(m);
            }
        }
        for identity in &self.ids.identities {
            if let Some(m) = author
                .handle
                .as_deref()
                .and_then(|h| compare_handle(h, identity))
            {
                // A handle one letter from an official one, on an account whose display name
                // names something else and which the platform shows as established, is a
                // neighbour, not a claim.
                let weak = m.score <= 0.8 && display.is_some() && !claimed;
                if weak && established(author, at) {
                    continue;
                }
                consider(m);
            }
        }
        best.map(|mut m| {
            if let Some(signals) = signals(author, at) {
                m.transformation = format!("{} ({signals})", m.transformation);
            }
            m
        })
    }

    /// Checks one author, without a time (account age unused); `None` when official or not a
    /// lookalike.
    pub fn check(&self, author: &Author) -> Option<AccountMatch> {
        self.check_at(author, None)
    }
}

/// An account the platform shows as established: at least [`ESTABLISHED_FOLLOWERS`]
/// followers and created at least [`ESTABLISHED_YEARS`] years before `at`. A paid tick alone
/// is not enough, and without both figures no account is established.
pub fn established(author: &Author, at: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    let (Some(followers), Some(created), Some(at)) = (author.followers, author.created_at, at)
    else {
        return false;
    };
    followers >= ESTABLISHED_FOLLOWERS
        && at.signed_duration_since(created).num_days() >= 365 * ESTABLISHED_YEARS
}

/// Followers an established account has at least.
pub const ESTABLISHED_FOLLOWERS: u64 = 1_000;
/// Years an established account has existed at least.
pub const ESTABLISHED_YEARS: i64 = 2;

/// What the platform says about a flagged account, in plain words, when it says anything:
/// "account created April 2026, 12 followers, ticked".
fn signals(author: &Author, at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = author.created_at {
        let new = at.is_some_and(|at| at.signed_duration_since(c).num_days() < 90);
        parts.push(format!(
            "account created {}{}",
            c.format("%B %Y"),
            if new { ", weeks before" } else { "" }
        ));
    }
    if let Some(f) = author.followers {
        parts.push(format!("{f} followers"));
    }
    if author.verified == Some(true) {
        parts.push("with a platform tick, which can be bought".into());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Of [`CLAIM_SUFFIXES`], the government words: the place with one of these and nothing else
/// names itself the council ("DerbyGov"); the place with "news" or "info" does not.
const GOVERNMENT_SUFFIXES: &[&str] = &["gov", "govuk"];

/// Words that, run together after a council's name or with its place, claim its elections
/// office ("SwindonBoroughCouncilElections", "Stockport Council Election Updates").
pub const CLAIM_SUFFIXES: &[&str] = &[
    "elections",
    "election",
    "electoral",
    "info",
    "information",
    "vote",
    "votes",
    "voting",
    "voter",
    "polls",
    "poll",
    "polling",
    "register",
    "registration",
    "team",
    "office",
    "updates",
    "update",
    "official",
    "news",
    "uk",
    "gov",
    "govuk",
    "hq",
    "services",
    "service",
    "ballot",
    "postal",
];

/// Words naming a council's electoral officers ("Returning Officer", "Electoral Services",
/// "Elections Team"); with the place and nothing else, they claim to be those officers.
pub const ROLE_WORDS: &[&str] = &[
    "returning",
    "officer",
    "electoral",
    "services",
    "service",
    "registration",
    "elections",
    "election",
    "team",
    "office",
    "unit",
    "official",
];

/// Of [`ROLE_WORDS`], those that must be present for a role claim.
const ROLE_CORE: &[&str] = &["returning", "electoral", "elections", "election"];

fn folded_list(list: &'static [&'static str]) -> Vec<String> {
    list.iter().map(|w| fold(w)).collect()
}

/// [`CLAIM_SUFFIXES`] folded, beside their spelling.
fn claim_suffixes() -> &'static [(String, &'static str)] {
    static F: std::sync::LazyLock<Vec<(String, &'static str)>> =
        std::sync::LazyLock::new(|| CLAIM_SUFFIXES.iter().map(|w| (fold(w), *w)).collect());
    &F
}

fn role_words() -> &'static [String] {
    static F: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| folded_list(ROLE_WORDS));
    &F
}

fn role_core() -> &'static [String] {
    static F: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| folded_list(ROLE_CORE));
    &F
}

/// `squashed` with [`CLAIM_SUFFIXES`] taken off its end (greedily, longest first), and the
/// suffixes taken.
fn strip_claim_suffixes(squashed: &str) -> (String, Vec<&'static str>) {
    let mut s = squashed.to_string();
    let mut taken = Vec::new();
    while let Some((w, spelt)) = claim_suffixes()
        .iter()
        .filter(|(w, _)| s.len() > w.len() + 3 && s.ends_with(w.as_str()))
        .max_by_key(|(w, _)| w.len())
    {
        s.truncate(s.len() - w.len());
        taken.push(*spelt);
    }
    taken.reverse();
    (s, taken)
}

/// A council's name (`raw`: a display name or a handle's user part) run together, compressed,
/// abbreviated or reordered, with or without a suffix that claims its elections office or a
/// year or number after it: (score, how).
fn compare_forms(raw: &str, identity: &Identity) -> Option<(f32, String)> {
    if let Some(found) = compare_squashed(&squash(raw), None, identity) {
        return Some(found);
    }
    // A number after the name ("DerbyCouncil2026", "Kirklees_Council_24"), up to four digits;
    // tried second, so that a digit standing for a letter ("SwindonCounci1") is read as one.
    let unnumbered = raw.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = &raw[unnumbered.len()..];
    if !(1..=4).contains(&number.len()) {
        return None;
    }
    compare_squashed(&squash(unnumbered), Some(number), identity)
}

/// [`compare_forms`] on the squashed name, with the number taken off its end if any.
fn compare_squashed(
    squashed: &str,
    number: Option<&str>,
    identity: &Identity,
) -> Option<(f32, String)> {
    if identity.forms.is_empty() || squashed.is_empty() {
        return None;
    }
    let (core, taken) = strip_claim_suffixes(squashed);
    let suffixes: Vec<&str> = taken.into_iter().chain(number).collect();
    let with = |how: String| {
        if suffixes.is_empty() {
            how
        } else {
            format!("{how} with '{}' added", suffixes.join("', '"))
        }
    };
    let place = identity.place.concat();
    // "The" before the name ("TheDerbyCouncil").
    let core = match core.strip_prefix(folded_the()) {
        Some(rest) if rest.starts_with(place.as_str()) => rest.to_string(),
        _ => core,
    };
    // The place with a government word and nothing else ("DerbyGov", "Kirklees GovUK"): the
    // form of the council's own site name.
    if core == place && suffixes.iter().any(|s| GOVERNMENT_SUFFIXES.contains(s)) {
        return Some((0.85, with("the place named as a government body".into())));
    }
    // Type words before the place ("CouncilOfDerby", "CityOfDerbyCouncil").
    if is_reversed_name(&core, &place) {
        return Some((
            0.85,
            with("the council's name run together, reordered".into()),
        ));
    }
    for form in &identity.forms {
        if core == *form {
            return Some((
                if suffixes.is_empty() { 0.85 } else { 0.9 },
                with("the council's name run together or abbreviated".into()),
            ));
        }
    }
    // The full compressed name after the place ("stockportmetropolitanboroughcouncil").
    if let Some(rest) = core.strip_prefix(place.as_str()) {
        if !rest.is_empty() && is_type_run(rest) {
            return Some((0.85, with("the council's full name run together".into())));
        }
    }
    // One letter inserted, doubled, dropped or changed in a long form that spells "council"
    // ("Swiindon Council"); not in an abbreviation, where one letter makes another name
    // ("Swindon RFC" is not "Swindon MBC").
    let council = fold("council");
    for form in identity
        .forms
        .iter()
        .filter(|f| f.chars().count() >= 10 && f.contains(council.as_str()))
    {
        if strsim::osa_distance(&core, form) == 1 {
            return Some((0.8, with("one letter changed in the council's name".into())));
        }
    }
    None
}

/// A display name of the council's place and its electoral officers' title and nothing else
/// ("Derby Returning Officer", "Electoral Services, Swindon").
fn role_claim(display: &str, identity: &Identity) -> Option<(f32, String)> {
    if identity.place.is_empty() {
        return None;
    }
    let tokens = name_tokens(display);
    if !identity.place.iter().all(|p| tokens.contains(p)) {
        return None;
    }
    let types = folded_type_words();
    let rest: Vec<&String> = tokens
        .iter()
        .filter(|t| !identity.place.contains(t) && !types.contains(t))
        .collect();
    if rest.is_empty()
        || !rest.iter().all(|t| role_words().contains(t))
        || !rest.iter().any(|t| role_core().contains(t))
    {
        return None;
    }
    Some((
        0.82,
        "names itself the council's electoral officers (returning officer, electoral services or elections team)".into(),
    ))
}

/// Phrases with which a bio claims to be an organisation or its officers.
const BIO_CLAIMS: &[&str] = &[
    "official",
    "we are",
    "run by",
    "returning officer",
    "electoral services",
    "elections team",
    "elections office",
    "elections channel",
    "elections account",
];

/// Phrases with which a bio disclaims being the organisation.
const BIO_DISCLAIMERS: &[&str] = &[
    "unofficial",
    "not official",
    "not affiliated",
    "not the council",
    "parody",
    "fan account",
    "views my own",
    "not endorsed",
];

/// A bio that names the identity and claims to be it or its officers ("Official account of
/// Swindon Borough Council elections team"), without disclaiming it.
fn bio_claim(bio: &str, identity: &Identity) -> Option<AccountMatch> {
    let lower = bio.to_lowercase();
    if BIO_DISCLAIMERS.iter().any(|d| lower.contains(d)) {
        return None;
    }
    let tokens = name_tokens(bio);
    let want = &identity.name_tokens;
    if want.is_empty() || !tokens.windows(want.len()).any(|w| w == want.as_slice()) {
        return None;
    }
    let words = raw_tokens(bio).join(" ");
    let claim = BIO_CLAIMS.iter().find(|c| {
        words == **c
            || words.starts_with(&format!("{c} "))
            || words.contains(&format!(" {c} "))
            || words.ends_with(&format!(" {c}"))
    })?;
    let quoted: String = bio.trim().chars().take(120).collect();
    Some(AccountMatch {
        identity: identity.name.clone(),
        what: "bio".into(),
        transformation: format!(
            "the bio claims to be {} ('{claim}'): \"{quoted}\"",
            identity.name
        ),
        official_handle: None,
        score: 0.8,
    })
}

fn decorations_in(raw: &[String]) -> Vec<String> {
    raw.iter()
        .filter(|t| DECORATIONS.contains(&t.as_str()))
        .cloned()
        .collect()
}

fn compare_name(display: &str, identity: &Identity) -> Option<AccountMatch> {
    let want = &identity.name_tokens;
    if want.is_empty() {
        return None;
    }
    let got = name_tokens(display);
    let raw = raw_tokens(display);
    let m = |score: f32, transformation: String| {
        Some(AccountMatch {
            identity: identity.name.clone(),
            what: format!("display name \"{}\"", display.trim()),
            transformation,
            official_handle: None,
            score,
        })
    };
    let symbols: Vec<char> = display
        .chars()
        .filter(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii_punctuation())
        .collect();
    let mut decorations: Vec<String> = decorations_in(&raw)
        .into_iter()
        .filter(|d| !raw_tokens(&identity.name).contains(d))
        .map(|d| format!("'{d}'"))
        .collect();
    decorations.extend(symbols.iter().map(|c| format!("'{c}'")));
    let decorated = || {
        if decorations.is_empty() {
            String::new()
        } else {
            format!("decorated with {}", decorations.join(", "))
        }
    };
    let join = |parts: &[String]| {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    };
    if got == *want {
        // Same words once folded: what differs in the raw spelling?
        let plain: Vec<String> = raw
            .iter()
            .filter(|t| {
                !DECORATIONS.contains(&t.as_str()) || raw_tokens(&identity.name).contains(t)
            })
            .cloned()
            .collect();
        let name_raw: Vec<String> = raw_tokens(&identity.name)
            .into_iter()
            .filter(|t| !DECORATIONS.contains(&t.as_str()) || plain.contains(t))
            .collect();
        if plain == name_raw {
            let d = decorated();
            return if d.is_empty() {
                m(0.85, "uses the name exactly".into())
            } else {
                m(0.9, d)
            };
        }
        let how = describe_lookalikes(&plain.join(" "), &name_raw.join(" "));
        return m(0.95, join(&[how, decorated()]));
    }
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_want = want.clone();
    sorted_want.sort();
    if sorted_got == sorted_want {
        return m(0.85, join(&["words reordered".into(), decorated()]));
    }
    let (g, w) = (got.join(" "), want.join(" "));
    if got.len() == want.len() && w.chars().count() >= 8 && strsim::osa_distance(&g, &w) == 1 {
        let plain = raw
            .iter()
            .filter(|t| !DECORATIONS.contains(&t.as_str()))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let name_plain = raw_tokens(&identity.name)
            .into_iter()
            .filter(|t| !DECORATIONS.contains(&t.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        let how = if strsim::osa_distance(&plain, &name_plain) == 1 {
            describe_edit(&plain, &name_plain)
        } else {
            "one letter changed".into()
        };
        return m(0.8, join(&[how, decorated()]));
    }
    if let Some((score, how)) = compare_forms(display, identity) {
        return m(score, join(&[how, decorated()]));
    }
    if let Some((score, how)) = role_claim(display, identity) {
        return m(score, how);
    }
    None
}

/// The handle's user part, folded, with separators and decorations removed from its ends.
fn handle_core(local: &str) -> String {
    let mut s: String = fold(local)
        .chars()
        .filter(|c| !matches!(c, '_' | '.' | '-'))
        .collect();
    loop {
        let before = s.len();
        for d in folded_decorations() {
            if s.len() > d.len() + 3 {
                if let Some(rest) = s.strip_suffix(d.as_str()) {
                    s = rest.to_string();
                }
                if let Some(rest) = s.strip_prefix(d.as_str()) {
                    s = rest.to_string();
                }
            }
        }
        if s.len() == before {
            return s;
        }
    }
}

fn compare_handle(handle: &str, identity: &Identity) -> Option<AccountMatch> {
    let key = handle_key(handle);
    let local = handle_local(&key);
    if local.is_empty() {
        return None;
    }
    let core = handle_core(local);
    let m = |score: f32, transformation: String, official: Option<String>| {
        Some(AccountMatch {
            identity: identity.name.clone(),
            what: format!("handle {}", handle.trim()),
            transformation,
            official_handle: official,
            score,
        })
    };
    let mut best: Option<AccountMatch> = None;
    for o in &identity.handles {
        let ocore = handle_core(&o.local);
        if ocore.len() < 4 {
            continue;
        }
        let found = if local == o.local {
            // Same user name elsewhere (another Mastodon instance).
            m(
                0.9,
                format!("same name as official {} on another server", o.raw),
                Some(o.raw.clone()),
            )
        } else if core == ocore {
            let how = if fold(local) == fold(&o.local) {
                describe_lookalikes(local, &o.local)
            } else if strsim::osa_distance(local, &o.local) == 1 {
                describe_edit(local, &o.local)
            } else {
                "decorated".into()
            };
            m(
                0.9,
                format!("drifts from official {}: {how}", o.raw),
                Some(o.raw.clone()),
            )
        } else if ocore.len() >= 5 && strsim::osa_distance(local, &o.local) == 1 {
            let how = describe_edit(local, &o.local);
            m(
                0.8,
                format!("drifts from official {}: {how}", o.raw),
                Some(o.raw.clone()),
            )
        } else {
            None
        };
        if let Some(f) = found {
            if best.as_ref().is_none_or(|b| f.score > b.score) {
                best = Some(f);
            }
        }
    }
    if best.is_none() {
        // The handle spells the protected name (@LeedsCityCouncil).
        let name: String = identity.name_tokens.concat();
        if name.len() >= 8 && core == name {
            return m(0.85, "spells the name".into(), None);
        }
        // ... or a council's name run together or abbreviated (@swindonboroughcouncil).
        if let Some((score, how)) = compare_forms(local, identity) {
            return m(score, how, None);
        }
    }
    best
}

impl Detector for AccountDetector {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn version(&self) -> String {
        "accounts-3".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let Some(author) = &item.author else {
            return Ok(Vec::new());
        };
        let Some(m) = self.check_at(author, item.published_at) else {
            return Ok(Vec::new());
        };
        let handle = author.handle.as_deref().map(|h| match &author.platform {
            Some(p) if !p.is_empty() => format!("{p}:{}", h.trim()),
            _ => h.trim().to_string(),
        });
        let posted_by = match (&author.display_name, &author.handle) {
            (Some(n), Some(h)) => format!("\"{}\" ({})", n.trim(), h.trim()),
            (Some(n), None) => format!("\"{}\"", n.trim()),
            (None, Some(h)) => h.trim().to_string(),
            (None, None) => "the author".into(),
        };
        Ok(vec![Verdict {
            kind: VerdictKind::Impersonation,
            label: "impersonated_account".into(),
            score: m.score,
            detector: "accounts".into(),
            explanation: format!(
                "posted by {posted_by}, not an official account of {}: the {} imitates {}: {}",
                m.identity, m.what, m.identity, m.transformation
            ),
            evidence: serde_json::json!({
                "handle": handle,
                "display_name": author.display_name,
                "identity": m.identity,
                "official_handle": m.official_handle,
                "transformation": m.transformation,
            }),
            rebuttal: None,
        }])
    }
}

#[cfg(test)]
mod tests;
