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
    describe_edit, describe_lookalikes, fold, folded_decorations, handle_key, handle_local,
    name_tokens, raw_tokens, Identity, ProtectedIdentities, DECORATIONS,
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

    /// Checks one author as of a post's time (for the account's age, where the source gives
    /// it); `None` when official or not a lookalike.
    pub fn check_at(
        &self,
        author: &Author,
        _at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<AccountMatch> {
        self.check(author)
    }

    /// Checks one author; `None` when official or not a lookalike.
    pub fn check(&self, author: &Author) -> Option<AccountMatch> {
        if self
            .ids
            .is_official_author(author.handle.as_deref(), author.url.as_deref())
        {
            return None;
        }
        let mut best: Option<AccountMatch> = None;
        for identity in &self.ids.identities {
            let found = [
                author
                    .display_name
                    .as_deref()
                    .and_then(|n| compare_name(n, identity)),
                author
                    .handle
                    .as_deref()
                    .and_then(|h| compare_handle(h, identity)),
            ];
            for m in found.into_iter().flatten() {
                if best.as_ref().is_none_or(|b| m.score > b.score) {
                    best = Some(m);
                }
            }
        }
        best
    }
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
    }
    best
}

impl Detector for AccountDetector {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn version(&self) -> String {
        "accounts-1".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let Some(author) = &item.author else {
            return Ok(Vec::new());
        };
        let Some(m) = self.check(author) else {
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
