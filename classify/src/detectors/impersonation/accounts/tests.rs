//! Unit tests of `accounts.rs`.

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

/// A council's name shortened, reordered, numbered or named as a government body is its name;
/// the place alone with a type word, a news word or a club's name is not.
#[test]
fn shortened_reordered_numbered_and_government_forms_of_the_name_are_flagged() {
    let at = may_2026();
    let derby = council("Derby City Council", "@derbycc");
    let stockport = council("Stockport Metropolitan Borough Council", "@StockportMBC");
    let swindon = council("Swindon Borough Council", "@SwindonCouncil");
    let how = |d: &AccountDetector, h: &str, n: &str| {
        d.check_at(&account(h, n, "", 4, "2026-04-01T00:00:00Z"), at)
            .map(|m| m.transformation)
    };
    for (d, h, n) in [
        (&derby, "@user8812", "DerbyCncl"),
        (&derby, "@DerbyCityCncl", ""),
        (&derby, "@user8812", "The Derby Council"),
        (&stockport, "@StockportMetCouncil", ""),
        (&stockport, "@user8812", "Stockport MB Council"),
        (&swindon, "@SwindonBoroCouncil", ""),
        (&swindon, "@SwindonCoun", ""),
    ] {
        let t = how(d, h, n);
        assert!(
            t.as_deref()
                .is_some_and(|t| t.starts_with("the council's") && t.contains("run together")),
            "{h} {n}: {t:?}"
        );
    }
    assert!(how(&derby, "@CouncilOfDerby", "")
        .is_some_and(|t| t.starts_with("the council's name run together, reordered")));
    assert!(how(&derby, "@user8812", "City of Derby Council")
        .is_some_and(|t| t.starts_with("the council's name run together, reordered")));
    assert!(how(&swindon, "@user8812", "SwindonCouncil2026")
        .is_some_and(|t| t.contains("with '2026' added")));
    // A digit standing for a letter is read as the letter, not as a number added.
    let t = how(&derby, "@user8812", "DerbyCityCounci1");
    assert!(t.as_deref().is_some_and(|t| !t.contains("added")), "{t:?}");
    assert!(how(&derby, "@Derby_Gov", "")
        .is_some_and(|t| t.starts_with("the place named as a government body")));
    assert!(how(&stockport, "@user8812", "Stockport GovUK").is_some());
    // Not the council: the place with a type word alone, news, clubs, a school, a council of
    // the place's faith groups, and a year after a club's name.
    for (d, h, n) in [
        (&derby, "@CityOfDerby", "City of Derby"),
        (&derby, "@DerbyCounty1884", "Derby County 1884"),
        (&derby, "@user8812", "Derby News"),
        (&derby, "@CityOfDerbyAcademy", "City of Derby Academy"),
        (&derby, "@user8812", "Council of Derby Faiths"),
        (&swindon, "@SwindonBorough", "Swindon Borough"),
        (&swindon, "@SwindonTownFC", "Swindon Town FC"),
        (&stockport, "@StockportCounty", "Stockport County"),
        (&stockport, "@user8812", "Stockport Info"),
    ] {
        assert_eq!(how(d, h, n), None, "{h} {n}");
    }
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
    let fake = |n: &str, bio: &str| flag(&account("@someone", n, bio, 4, "2026-04-01T00:00:00Z"));
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
