use super::*;
use crate::config::IdentityConfig;
use ballotwatch_core::Author;

fn ids() -> Arc<ProtectedIdentities> {
    let toml = r#"
[[identity]]
name = "Anytown Borough Council"
kind = "organisation"
domains = ["anytown.gov.uk"]
handles = { x = ["@AnytownCouncil"] }

[[identity]]
name = "Jane Okafor"
kind = "candidate"
handles = { x = ["@OkaforRiverside"] }

[[identity]]
name = "Anytown Independents"
kind = "party"
handles = { x = ["@AnytownIndies"] }
"#;
    #[derive(serde::Deserialize)]
    struct F {
        identity: Vec<IdentityConfig>,
    }
    let f: F = toml::from_str(toml).unwrap();
    Arc::new(ProtectedIdentities::new(&f.identity))
}

fn det() -> ImprintDetector {
    ImprintDetector::new(ids()).unwrap()
}

fn item(handle: Option<&str>, bio: Option<&str>, text: &str) -> Item {
    Item {
        id: "i".into(),
        text: Some(text.into()),
        author: handle.map(|h| Author {
            handle: Some(h.into()),
            platform: Some("x".into()),
            bio: bio.map(str::to_string),
            verified: None,
            followers: None,
            created_at: None,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn flags(handle: Option<&str>, bio: Option<&str>, text: &str) -> Option<Verdict> {
    let v = det().detect(&item(handle, bio, text)).unwrap();
    assert!(v.len() <= 1, "{v:?}");
    v.into_iter().next()
}

#[test]
fn a_candidates_campaign_post_without_an_imprint_is_flagged_as_medium() {
    let v = flags(
        Some("@OkaforRiverside"),
        None,
        "Out knocking on doors in Riverside today. Vote Okafor on 7 May!",
    )
    .expect("flagged");
    assert_eq!(v.kind, VerdictKind::ElectoralLaw);
    assert_eq!(v.label, "missing_imprint");
    assert_eq!(v.score, CAMPAIGNER_SCORE);
    assert!(
        v.explanation.contains("Vote Okafor on 7 May"),
        "{}",
        v.explanation
    );
    assert!(
        v.explanation.contains("carries no imprint"),
        "{}",
        v.explanation
    );
    // Asking for the reader's vote is enough from a candidate's own account.
    assert!(flags(
        Some("@OkaforRiverside"),
        None,
        "I'm standing for Riverside ward and I'm asking for your vote on Thursday."
    )
    .is_some());
}

#[test]
fn an_imprint_in_the_post_the_image_text_or_the_bio_clears_it() {
    let ask = "Vote Okafor on 7 May!";
    for text in [
        format!("{ask}\nPromoted by A. Agent on behalf of Jane Okafor, both of 12 High Street, Anytown AT1 2BB"),
        format!("{ask}\n\nPrinted and promoted by Sam Lee, 4 Mill Lane, Anytown"),
        format!("{ask}\nHyrwyddwyd gan Sam Lee, 4 Heol y Bont, Anytown AT1 2BB"),
    ] {
        assert!(flags(Some("@OkaforRiverside"), None, &text).is_none(), "{text}");
    }
    let bio = "Labour candidate for Riverside. Promoted by S. Lee, 4 Mill Lane, Anytown AT1 2BB";
    assert!(flags(Some("@OkaforRiverside"), Some(bio), ask).is_none());
}

#[test]
fn an_imprint_without_an_address_is_reported_as_incomplete() {
    let v = flags(
        Some("@AnytownIndies"),
        None,
        "Re-elect Jane Okafor for Riverside! Promoted by the Anytown Independents.",
    )
    .expect("flagged");
    assert_eq!(
        v.evidence["missing"],
        serde_json::json!(["the promoter's address"])
    );
    assert!(
        v.explanation.contains("without the promoter's address"),
        "{}",
        v.explanation
    );
}

#[test]
fn anyone_asking_for_votes_for_a_party_is_flagged_low_with_the_conditions_explained() {
    let v = flags(
        Some("@anytown_voice"),
        None,
        "🗳️ Vote Green in Riverside this Thursday",
    )
    .expect("flagged");
    assert_eq!(v.score, OTHER_SCORE);
    assert!(
        v.explanation.contains("paid to be promoted"),
        "{}",
        v.explanation
    );
    assert!(flags(None, None, "#VoteLabour #Anytown").is_some());
    assert!(flags(
        None,
        None,
        "Please vote for the Liberal Democrats on Thursday."
    )
    .is_some());
}

#[test]
fn opinions_news_quotes_guidance_and_the_councils_own_posts_are_not_flagged() {
    for text in [
        "I'll vote Labour again, same as always.",
        "Why I'm backing Jane Okafor this time",
        "Residents were urged to vote Green by the campaign.",
        "“Vote Labour on Thursday,” the leader told supporters in Anytown.",
        "\"Re-elect Jane Okafor\" posters have appeared across Riverside, the Echo reports.",
        "Remember to vote at your polling station on Thursday 7 May, 7am to 10pm.",
        "Don't forget to bring photo ID when you vote.",
        "Jane Okafor is standing for Riverside ward.",
    ] {
        assert!(flags(Some("@resident"), None, text).is_none(), "{text}");
    }
    // The council's own reminder names the parties' candidates but is never election material.
    assert!(flags(
        Some("@AnytownCouncil"),
        None,
        "Vote Labour, Green or Reform? Whoever you choose, bring photo ID."
    )
    .is_none());
    // A candidate's own non-campaign post.
    assert!(flags(Some("@OkaforRiverside"), None, "Happy new year, Riverside!").is_none());
}

proptest::proptest! {
    #[test]
    fn any_text_is_examined_without_panicking(text in "\\PC{0,400}", bio in "\\PC{0,100}") {
        let d = det();
        let _ = d.detect(&item(Some("@OkaforRiverside"), Some(&bio), &text)).unwrap();
    }
}
