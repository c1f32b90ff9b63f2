//! Fake official notices (`label: "fake_official_notice"`): text that presents itself as
//! coming from a protected identity ("Official notice from the Returning Officer…", "Message
//! from Leeds City Council elections team") posted by an account or domain that is not that
//! identity's.
//!
//! Only text that *presents itself* as the notice counts: the phrase must open a line (after
//! any "IMPORTANT:" or emoji), so a news report saying "in a statement from Leeds City
//! Council, …" is not a notice.

use std::sync::Arc;

use crate::config::IdentityKind;
use ballotwatch_core::{Item, Verdict, VerdictKind};
use regex::Regex;

use super::identities::{host_of_url, words_pattern, ProtectedIdentities};
use crate::{ClassifyError, Detector, DetectorError};

/// The fake-notice detector.
pub struct NoticeDetector {
    ids: Arc<ProtectedIdentities>,
    /// One pattern per identity, same order as `ids.identities`.
    patterns: Vec<Regex>,
}

/// The ways an identity is named in a notice.
fn name_variants(name: &str, kind: IdentityKind) -> Vec<String> {
    let name = name.trim();
    let mut out = vec![name.to_string()];
    let lower = name.to_lowercase();
    if let Some(rest) = lower.strip_prefix("the ") {
        out.push(rest.to_string());
    }
    for kind_word in [
        " city council",
        " borough council",
        " district council",
        " county council",
    ] {
        if let Some(place) = lower.strip_suffix(kind_word) {
            out.push(format!("{place} council"));
        }
    }
    if kind == IdentityKind::Role && lower.contains("returning officer") {
        out.push("returning officer".into());
        out.push("acting returning officer".into());
    }
    out
}

fn pattern(variants: &[String]) -> Result<Regex, regex::Error> {
    let names = variants
        .iter()
        .map(|v| words_pattern(v.split_whitespace()))
        .collect::<Vec<_>>()
        .join("|");
    let lead = r"^[\W_]*(?:(?:important|urgent|attention|notice|update|breaking|alert)\b[\W_]*)*";
    let what = r"(?:this\s+is\s+an?\s+)?(?:official\s+)?(?:notice|message|announcement|statement|update|communication|information|alert|reminder|letter)s?";
    let from = r"(?:from|by|on\s+behalf\s+of|issued\s+by)";
    let team = r"(?:'s)?\s+(?:elections?\s+(?:team|office|services|unit)|electoral\s+(?:services|registration|team)|returning\s+officer)";
    Regex::new(&format!(
        r"(?im){lead}(?:{what}\s+{from}\s+(?:the\s+)?(?:{names})\b(?:{team})?|(?:on\s+behalf\s+of|issued\s+by)\s+(?:the\s+)?(?:{names})\b|(?:the\s+)?(?:{names}){team}\s*[:\-–—])"
    ))
}

impl NoticeDetector {
    /// A detector over these identities.
    pub fn new(ids: Arc<ProtectedIdentities>) -> Result<NoticeDetector, ClassifyError> {
        let patterns = ids
            .identities
            .iter()
            .map(|i| {
                pattern(&name_variants(&i.name, i.kind)).map_err(|e| ClassifyError {
                    detector: "notices".into(),
                    message: format!("cannot build the notice pattern for `{}`: {e}", i.name),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(NoticeDetector { ids, patterns })
    }

    fn posted_officially(&self, item: &Item) -> bool {
        self.ids.publisher_of(item).is_some()
    }
}

impl Detector for NoticeDetector {
    fn name(&self) -> &'static str {
        "notices"
    }

    fn version(&self) -> String {
        "notices-1".into()
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        let text = item.full_text();
        let mut out = Vec::new();
        for (identity, re) in self.ids.identities.iter().zip(&self.patterns) {
            let Some(m) = re.find(&text) else {
                continue;
            };
            if self.posted_officially(item) {
                return Ok(Vec::new());
            }
            let phrase = m
                .as_str()
                .trim_start_matches(|c: char| !c.is_alphanumeric())
                .trim();
            let by = item
                .author
                .as_ref()
                .and_then(|a| a.handle.clone().or(a.display_name.clone()))
                .or_else(|| item.url.as_deref().and_then(host_of_url))
                .unwrap_or_else(|| "an unknown source".into());
            out.push(Verdict {
                kind: VerdictKind::Impersonation,
                label: "fake_official_notice".into(),
                score: 0.8,
                detector: "notices".into(),
                explanation: format!(
                    "presents itself as a notice from {} (\"{phrase}\") but is posted by {by}, \
                     not an official account or domain of {}",
                    identity.name, identity.name
                ),
                evidence: serde_json::json!({ "identity": identity.name, "phrase": phrase }),
                rebuttal: None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdentityConfig;
    use ballotwatch_core::Author;
    use std::collections::BTreeMap;

    fn detector() -> NoticeDetector {
        let ids = ProtectedIdentities::new(&[
            IdentityConfig {
                name: "Leeds City Council".into(),
                names: vec![],
                kind: IdentityKind::Organisation,
                domains: vec!["leeds.gov.uk".into()],
                handles: BTreeMap::from([("x".to_string(), vec!["@leedscc".to_string()])]),
                logos: vec![],
            },
            IdentityConfig {
                name: "Leeds Returning Officer".into(),
                names: vec![],
                kind: IdentityKind::Role,
                domains: vec![],
                handles: BTreeMap::new(),
                logos: vec![],
            },
        ]);
        NoticeDetector::new(Arc::new(ids)).unwrap()
    }

    fn item(text: &str, handle: &str) -> Item {
        Item {
            id: "1".into(),
            text: Some(text.into()),
            author: Some(Author {
                handle: Some(handle.into()),
                ..Author::default()
            }),
            ..Item::default()
        }
    }

    fn flags(text: &str, handle: &str) -> Vec<String> {
        detector()
            .detect(&item(text, handle))
            .unwrap()
            .into_iter()
            .map(|v| v.evidence["identity"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_notice_in_the_councils_welsh_name_is_flagged_unless_posted_officially() {
        let ids = ProtectedIdentities::new(&[IdentityConfig {
            name: "Cardiff Council".into(),
            names: vec!["Cyngor Caerdydd".into()],
            kind: IdentityKind::Organisation,
            domains: vec!["cardiff.gov.uk".into()],
            handles: BTreeMap::from([("x".to_string(), vec!["@cardiffcouncil".to_string()])]),
            logos: vec![],
        }]);
        let d = NoticeDetector::new(Arc::new(ids)).unwrap();
        let text =
            "Official notice from Cyngor Caerdydd: polling stations in Grangetown are closed.";
        let v = d.detect(&item(text, "@someone")).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].evidence["identity"], "Cyngor Caerdydd");
        assert!(d.detect(&item(text, "@cardiffcouncil")).unwrap().is_empty());
    }

    #[test]
    fn notices_from_others_are_flagged() {
        assert_eq!(
            flags(
                "📢 OFFICIAL NOTICE from the Returning Officer: polling is moved to Friday",
                "@x"
            ),
            ["Leeds Returning Officer"]
        );
        assert_eq!(
            flags(
                "Message from Leeds City Council elections team\nVote by text!",
                "@x"
            ),
            ["Leeds City Council"]
        );
        assert_eq!(
            flags(
                "IMPORTANT: Leeds Council electoral services - your poll card is cancelled",
                "@x"
            ),
            ["Leeds City Council"]
        );
        let v = detector()
            .detect(&item("Official message from Leeds City Council", "@fake"))
            .unwrap();
        assert!(
            v[0].explanation.contains("posted by @fake"),
            "{}",
            v[0].explanation
        );
    }

    #[test]
    fn the_real_account_and_news_reports_are_not() {
        assert!(flags(
            "Official notice from Leeds City Council: polls open 7am",
            "@leedscc"
        )
        .is_empty());
        assert!(flags(
            "Leeds Live: In a statement from Leeds City Council, a spokesperson said polls open at 7am",
            "@LeedsLive"
        )
        .is_empty());
        assert!(flags(
            "I got a message from Leeds City Council about my bins",
            "@resident"
        )
        .is_empty());
    }
}
