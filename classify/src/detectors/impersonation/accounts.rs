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
    describe_edit, describe_lookalikes, fold, folded_decorations, folded_type_words, handle_key,
    handle_local, is_type_run, name_tokens, raw_tokens, squash, Identity, ProtectedIdentities,
    DECORATIONS,
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

/// A council's name run together, compressed or abbreviated, with or without a suffix that
/// claims its elections office: (score, how).
fn compare_forms(squashed: &str, identity: &Identity) -> Option<(f32, String)> {
    if identity.forms.is_empty() || squashed.is_empty() {
        return None;
    }
    let (core, suffixes) = strip_claim_suffixes(squashed);
    let with = |how: String| {
        if suffixes.is_empty() {
            how
        } else {
            format!("{how} with '{}' added", suffixes.join("', '"))
        }
    };
    let place = identity.place.concat();
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
    if let Some((score, how)) = compare_forms(&squash(display), identity) {
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
        if let Some((score, how)) = compare_forms(&squash(local), identity) {
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
        "accounts-2".into()
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
mod tests {
    use super::*;
    use crate::config::{IdentityConfig, IdentityKind};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn detector() -> AccountDetector {
        let ids = ProtectedIdentities::new(&[IdentityConfig {
            name: "Leeds City Council".into(),
            names: vec![],
            kind: IdentityKind::Organisation,
            domains: vec!["leeds.gov.uk".into()],
            handles: BTreeMap::from([
                ("x".to_string(), vec!["@LeedsCC_News".to_string()]),
                ("bluesky".to_string(), vec!["leeds.gov.uk".to_string()]),
                (
                    "mastodon".to_string(),
                    vec!["@leedscc@mastodon.social".to_string()],
                ),
            ]),
            logos: vec![],
        }]);
        AccountDetector::new(Arc::new(ids))
    }

    fn author(handle: &str, name: &str) -> Author {
        Author {
            handle: (!handle.is_empty()).then(|| handle.to_string()),
            display_name: (!name.is_empty()).then(|| name.to_string()),
            platform: None,
            url: None,
            bio: None,
            verified: None,
            followers: None,
            created_at: None,
        }
    }

    fn how(handle: &str, name: &str) -> Option<String> {
        detector()
            .check(&author(handle, name))
            .map(|m| m.transformation)
    }

    /// `[[identity]] names`: a bilingual council's Welsh name is protected like its English
    /// one, with the same official accounts.
    #[test]
    fn other_names_such_as_the_welsh_name_are_protected_too() {
        let ids = ProtectedIdentities::new(&[IdentityConfig {
            name: "Cardiff Council".into(),
            names: vec!["Cyngor Caerdydd".into()],
            kind: IdentityKind::Organisation,
            domains: vec!["cardiff.gov.uk".into()],
            handles: BTreeMap::from([("x".to_string(), vec!["@cardiffcouncil".to_string()])]),
            logos: vec![],
        }]);
        let d = AccountDetector::new(Arc::new(ids));
        let fake = d
            .check(&author("@cyngorcaerdydd_news", "Cyngor Caerdydd Official"))
            .expect("the Welsh name decorated is a lookalike");
        assert_eq!(fake.identity, "Cyngor Caerdydd");
        let english = d
            .check(&author("@cardiff_votes", "Cardiff Counci1"))
            .expect("the English name still is");
        assert_eq!(english.identity, "Cardiff Council");
        // The official account under either name is never flagged.
        assert!(d
            .check(&author("@cardiffcouncil", "Cyngor Caerdydd"))
            .is_none());
    }

    #[test]
    fn fakes_are_flagged_and_explained() {
        assert_eq!(
            how("@someone", "Leeds City Counci1").as_deref(),
            Some("digit 1 for letter l")
        );
        assert_eq!(
            how("@someone", "Leeds City Cоuncil").as_deref(),
            Some("Cyrillic 'о' for Latin 'o'")
        );
        assert_eq!(
            how("@someone", "Leeds City Council ✔ Official").as_deref(),
            Some("decorated with 'official', '✔'")
        );
        assert_eq!(
            how("@someone", "Council Leeds City").as_deref(),
            Some("words reordered")
        );
        assert_eq!(
            how("@someone", "Leeds City Counsil").as_deref(),
            Some("'s' for neighbouring key 'c'")
        );
        assert_eq!(
            how("@LeedsCC_Newss", "").as_deref(),
            Some("drifts from official @LeedsCC_News: letter 's' repeated")
        );
        assert_eq!(
            how("@leedscc@evil.example", "").as_deref(),
            Some("same name as official @leedscc@mastodon.social on another server")
        );
        assert_eq!(
            how("@LeedsCityCouncil", "").as_deref(),
            Some("spells the name")
        );
    }

    fn council(name: &str, handle: &str) -> AccountDetector {
        AccountDetector::new(Arc::new(ProtectedIdentities::new(&[IdentityConfig {
            name: name.into(),
            names: vec![],
            kind: IdentityKind::Organisation,
            domains: vec![],
            handles: BTreeMap::from([("x".to_string(), vec![handle.to_string()])]),
            logos: vec![],
        }])))
    }

    fn account(handle: &str, name: &str, bio: &str, followers: u64, created: &str) -> Author {
        Author {
            bio: (!bio.is_empty()).then(|| bio.to_string()),
            followers: Some(followers),
            created_at: chrono::DateTime::parse_from_rfc3339(created)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            ..author(handle, name)
        }
    }

    fn may_2026() -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// Issue 20: local organisations carry the place name and are not the council; names
    /// run together, role words and bios that claim the council are.
    #[test]
    fn local_organisations_pass_and_claims_to_be_the_council_do_not() {
        let d = council("Norwich City Council", "@NorwichCC");
        let at = may_2026();
        let flag = |a: &Author| d.check_at(a, at).map(|m| m.transformation);
        for (h, n, bio) in [
            (
                "@NorwichCityFC",
                "Norwich City FC",
                "The official account of Norwich City Football Club",
            ),
            ("@EveningNews", "Norwich Evening News", "News from Norwich"),
            (
                "@norwichcitycouncilwatch",
                "Norwich Council Watch",
                "Unofficial: watching Norwich City Council",
            ),
            ("@NorwichElectionWatch", "Norwich Election Watch", ""),
            ("@norwichcc_cricket", "Norwich Cricket Club", ""),
        ] {
            assert_eq!(
                flag(&account(h, n, bio, 5000, "2012-01-01T00:00:00Z")),
                None,
                "{n}"
            );
        }
        // One letter from the official handle, but an established club with its own name.
        let club = account(
            "@NorwichCFC",
            "Norwich City Women",
            "",
            19_000,
            "2016-08-01T00:00:00Z",
        );
        assert_eq!(flag(&club), None);
        // The same handle on a new account with no followers is still a lookalike.
        let new = account(
            "@NorwichCFC",
            "Norwich City Women",
            "",
            3,
            "2026-04-01T00:00:00Z",
        );
        assert!(flag(&new).is_some());
        let fake =
            |n: &str, bio: &str| flag(&account("@someone", n, bio, 4, "2026-04-01T00:00:00Z"));
        assert_eq!(
            fake("NorwichCityCouncilElections", "").as_deref(),
            Some("the council's name run together or abbreviated with 'elections' added (account created April 2026, weeks before, 4 followers)")
        );
        assert!(fake("Norwich CC", "").is_some());
        assert!(fake("Norwiich City Council Info", "").is_some());
        assert!(fake("Norwich Returning Officer", "")
            .is_some_and(|t| t.starts_with("names itself the council's electoral officers")));
        assert!(fake("Electoral Services, Norwich", "").is_some());
        assert!(fake(
            "Fine City Votes",
            "We are Norwich City Council's electoral services."
        )
        .is_some_and(|t| t.starts_with("the bio claims to be Norwich City Council ('we are')")));
        assert_eq!(
            fake(
                "Fine City Votes",
                "Not affiliated with Norwich City Council"
            ),
            None
        );
    }

    #[test]
    fn real_and_merely_similar_accounts_are_not_flagged() {
        assert_eq!(how("@LeedsCC_News", "Leeds City Council"), None);
        assert_eq!(how("leeds.gov.uk", "Leeds City Council"), None);
        assert_eq!(how("elections.leeds.gov.uk", "Leeds Elections"), None);
        assert_eq!(how("@leedscc@mastodon.social", "Leeds City Council"), None);
        assert_eq!(how("@LeedsLive", "Leeds Live"), None);
        assert_eq!(how("@LeedsBeckett", "Leeds Beckett University"), None);
        assert_eq!(how("@LeedsUnited", "Leeds United"), None);
        assert_eq!(how("@BBCLeeds", "BBC Look North"), None);
    }

    #[test]
    fn verdict_names_the_identity_and_handle() {
        let item = Item {
            id: "1".into(),
            text: Some("Polling stations have moved".into()),
            author: Some(Author {
                platform: Some("x".into()),
                ..author("@LeedsCounci1", "Leeds City Counci1")
            }),
            ..Item::default()
        };
        let v = detector().detect(&item).unwrap();
        assert_eq!(v.len(), 1);
        assert!(
            v[0].explanation.contains("Leeds City Council"),
            "{}",
            v[0].explanation
        );
        assert_eq!(v[0].evidence["handle"], "x:@LeedsCounci1");
        assert_eq!(v[0].evidence["identity"], "Leeds City Council");
    }

    proptest! {
        #[test]
        fn official_handles_are_never_flagged(
            which in 0usize..3,
            upper in proptest::collection::vec(any::<bool>(), 30),
            at in any::<bool>(),
            dot in any::<bool>(),
        ) {
            let h = ["LeedsCC_News", "leeds.gov.uk", "leedscc@mastodon.social"][which];
            let mut s: String = h.chars().zip(upper.iter().cycle())
                .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            if at || which == 2 { s.insert(0, '@'); }
            if dot && which == 1 { s.push('.'); }
            prop_assert_eq!(detector().check(&author(&s, "Leeds City Council")), None);
        }
    }
}
