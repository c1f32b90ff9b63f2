use super::*;
use ballotwatch_core::VerdictKind;
use chrono::TimeZone;

fn q(s: &str) -> QuietHours {
    s.parse().unwrap()
}

fn rule(toml_body: &str) -> AlertRule {
    let text = format!("name = \"r\"\nto = [\"c@d.example\"]\n{toml_body}");
    toml::from_str(&text).unwrap()
}

fn verdict(label: &str, score: f32, evidence: serde_json::Value) -> Verdict {
    Verdict {
        kind: VerdictKind::Impersonation,
        label: label.into(),
        score,
        detector: "domains".into(),
        explanation: "x".into(),
        evidence,
        rebuttal: None,
    }
}

fn result(sev: Severity, verdicts: Vec<Verdict>) -> ClassifyResult {
    ClassifyResult {
        id: "i".into(),
        flagged: true,
        severity: sev,
        verdicts,
        detector_errors: vec![],
        media_text: Vec::new(),
    }
}

fn item(text: &str) -> Item {
    Item {
        id: "i".into(),
        text: Some(text.into()),
        source: ballotwatch_core::SourceRef {
            kind: "rss".into(),
            name: "Echo".into(),
        },
        ..Item::default()
    }
}

#[test]
fn rules_filter_on_every_field() {
    let v = verdict(
        "lookalike_domain",
        0.8,
        serde_json::json!({"domain": "x-gov.uk", "identity": "Council"}),
    );
    let r = result(Severity::High, vec![v]);
    let it = item("Vote at Riverside");
    assert!(rule_matches(&rule(""), &it, &r));
    assert!(rule_matches(
        &rule("labels = [\"lookalike_domain\"]"),
        &it,
        &r
    ));
    assert!(!rule_matches(&rule("labels = [\"fake_notice\"]"), &it, &r));
    assert!(!rule_matches(
        &rule("kinds = [\"misinformation\"]"),
        &it,
        &r
    ));
    assert!(rule_matches(&rule("min_score = 0.8"), &it, &r));
    assert!(!rule_matches(&rule("min_score = 0.9"), &it, &r));
    assert!(rule_matches(&rule("terms = [\"riverside\"]"), &it, &r));
    assert!(!rule_matches(&rule("terms = [\"hillside\"]"), &it, &r));
    let mut low = r.clone();
    low.severity = Severity::Low;
    assert!(!rule_matches(&rule(""), &it, &low));
    let mut unflagged = r.clone();
    unflagged.flagged = false;
    assert!(!rule_matches(&rule(""), &it, &unflagged));
}

#[test]
fn a_weak_signal_that_did_not_flag_alone_neither_matches_kinds_nor_titles_the_incident() {
    let strong = verdict(
        "lookalike_domain",
        0.6,
        serde_json::json!({"domain": "x-gov.uk"}),
    );
    let mut weak = verdict(
        "ai_generated_model",
        0.85,
        serde_json::json!({"weak_signal": true, "flags_alone": false}),
    );
    weak.kind = ballotwatch_core::VerdictKind::SyntheticMedia;
    let r = result(Severity::Medium, vec![weak.clone(), strong]);
    let it = item("x");
    assert!(!rule_matches(
        &rule("kinds = [\"synthetic_media\"]"),
        &it,
        &r
    ));
    assert!(rule_matches(&rule("kinds = [\"impersonation\"]"), &it, &r));
    assert_eq!(top_verdict(&r).unwrap().label, "lookalike_domain");
    // One that flagged alone counts like any verdict.
    weak.evidence["flags_alone"] = true.into();
    let r = result(Severity::Medium, vec![weak]);
    assert!(rule_matches(
        &rule("kinds = [\"synthetic_media\"]"),
        &it,
        &r
    ));
    assert_eq!(top_verdict(&r).unwrap().label, "ai_generated_model");
}

#[test]
fn an_incident_is_about_the_most_stable_strong_evidence_whatever_the_scores() {
    let domain = verdict(
        "lookalike_domain",
        0.95,
        serde_json::json!({"domain": "anytown-gov.uk"}),
    );
    let narrative = |score| {
        verdict(
            "election_process_claim",
            score,
            serde_json::json!({"narrative": "polling-station-closed"}),
        )
    };
    // The same page reported twice: the narrative outscores the domain in one report only.
    for n in [0.99, 0.78] {
        let r = result(Severity::High, vec![narrative(n), domain.clone()]);
        assert_eq!(
            group_key(grouping_verdict(&r).unwrap()).unwrap(),
            "lookalike_domain|domain=anytown-gov.uk"
        );
    }
    // A weak or sub-floor verdict does not name the incident.
    let low = verdict(
        "lookalike_domain",
        0.3,
        serde_json::json!({"domain": "anytown-gov.uk"}),
    );
    let r = result(Severity::High, vec![narrative(0.9), low]);
    assert_eq!(
        grouping_verdict(&r).unwrap().label,
        "election_process_claim"
    );
    // Without grouping evidence, the top verdict.
    let r = result(
        Severity::High,
        vec![verdict("other", 0.9, serde_json::json!({}))],
    );
    assert_eq!(grouping_verdict(&r).unwrap().label, "other");
}

#[test]
fn group_keys_use_the_evidence_the_detectors_give() {
    let v = verdict(
        "fake_notice",
        0.9,
        serde_json::json!({"narrative": "polls-closed"}),
    );
    assert_eq!(group_key(&v).unwrap(), "fake_notice|narrative=polls-closed");
    let v = verdict(
        "logo_reuse",
        0.9,
        serde_json::json!({"media_sha256": "ab", "identity": "C"}),
    );
    assert_eq!(group_key(&v).unwrap(), "logo_reuse|media_sha256=ab");
    let v = verdict(
        "lookalike_account",
        0.9,
        serde_json::json!({"handle": "@x", "identity": "C"}),
    );
    assert_eq!(group_key(&v).unwrap(), "lookalike_account|handle=@x");
    assert!(group_key(&verdict("other", 0.9, serde_json::json!({}))).is_none());
    // A verdict with several keys is keyed, and titled, by the most stable one: the same
    // order that picks the verdict an item's incident is about.
    let v = verdict(
        "lookalike_site",
        0.9,
        serde_json::json!({"narrative": "polls-closed", "domain": "anytown-gov.uk"}),
    );
    assert_eq!(
        group_key(&v).unwrap(),
        "lookalike_site|domain=anytown-gov.uk"
    );
    assert_eq!(incident_title(&v), "lookalike site: anytown-gov.uk");
}

#[test]
fn quiet_hours_wrap_midnight_and_never_hold_high() {
    let t = |h, m| Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap();
    assert_eq!(
        quiet_end(t(23, 0), q("22:00-07:00"), Zone::UTC),
        t(7, 0) + chrono::Duration::days(1)
    );
    assert_eq!(quiet_end(t(3, 0), q("22:00-07:00"), Zone::UTC), t(7, 0));
    assert_eq!(quiet_end(t(12, 0), q("22:00-07:00"), Zone::UTC), t(12, 0));
    assert_eq!(quiet_end(t(13, 0), q("12:00-14:00"), Zone::UTC), t(14, 0));
    let r = rule("quiet_hours = \"22:00-07:00\"");
    let ctx = IncidentContext {
        incident: ballotwatch_core::Incident {
            id: 1,
            title: "t".into(),
            kind: VerdictKind::Impersonation,
            severity: Severity::Medium,
            status: Default::default(),
            assignee: None,
            created_at: t(0, 0),
            updated_at: t(0, 0),
        },
        is_new: true,
        sightings: 1,
        alerted: vec![],
        last_immediate: vec![("r".into(), t(23, 0))],
    };
    assert_eq!(
        hold_until(&r, Severity::High, &ctx, t(23, 30), Zone::UTC),
        t(23, 30)
    );
    assert_eq!(
        hold_until(&r, Severity::Medium, &ctx, t(23, 30), Zone::UTC),
        t(7, 0) + chrono::Duration::days(1)
    );
    let r = rule("throttle = \"10m\"");
    assert_eq!(
        hold_until(&r, Severity::Medium, &ctx, t(23, 5), Zone::UTC),
        t(23, 10)
    );
    assert_eq!(
        hold_until(&r, Severity::Medium, &ctx, t(23, 30), Zone::UTC),
        t(23, 30)
    );
}

#[test]
fn digest_slots_are_the_latest_scheduled_time() {
    let t = |h, m| Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap();
    let daily = rule("mode = \"digest\"\ndigest = \"daily\"\ndigest_at = \"08:00\"");
    assert_eq!(digest_slot(&daily, t(9, 0), Zone::UTC), t(8, 0));
    assert_eq!(
        digest_slot(&daily, t(7, 59), Zone::UTC),
        t(8, 0) - chrono::Duration::days(1)
    );
    let hourly = rule("mode = \"digest\"\ndigest = \"hourly\"\ndigest_at = \"00:15\"");
    assert_eq!(digest_slot(&hourly, t(9, 20), Zone::UTC), t(9, 15));
    assert_eq!(digest_slot(&hourly, t(9, 10), Zone::UTC), t(8, 15));
}

/// `[alerts] timezone` (default Europe/London): quiet hours and digests follow the wall
/// clock on both clock-change days of 2026 (29 March, 25 October).
#[test]
fn quiet_hours_and_digests_follow_the_council_clock_across_the_changes() {
    let utc = |m, d, h, min| Utc.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap();
    let london = Zone::default();
    let quiet = q("22:00-07:00");
    // Spring: 04:00 BST (03:00 UTC) is quiet until 07:00 BST = 06:00 UTC; the night before
    // started at 22:00 GMT, so the quiet night is an hour shorter.
    assert_eq!(quiet_end(utc(3, 29, 3, 0), quiet, london), utc(3, 29, 6, 0));
    assert_eq!(
        quiet_end(utc(3, 28, 21, 59), quiet, london),
        utc(3, 28, 21, 59)
    );
    assert_eq!(
        quiet_end(utc(3, 28, 22, 0), quiet, london),
        utc(3, 29, 6, 0)
    );
    // Summer: 21:30 UTC is 22:30 BST, already quiet; in UTC it would not be.
    assert_eq!(quiet_end(utc(6, 1, 21, 30), quiet, london), utc(6, 2, 6, 0));
    assert_eq!(
        quiet_end(utc(6, 1, 21, 30), quiet, Zone::UTC),
        utc(6, 1, 21, 30)
    );
    // Autumn: 23:30 BST on the 24th (22:30 UTC) is quiet until 07:00 GMT = 07:00 UTC.
    assert_eq!(
        quiet_end(utc(10, 24, 22, 30), quiet, london),
        utc(10, 25, 7, 0)
    );
    assert_eq!(
        quiet_end(utc(10, 25, 6, 59), quiet, london),
        utc(10, 25, 7, 0)
    );
    assert_eq!(
        quiet_end(utc(10, 25, 7, 0), quiet, london),
        utc(10, 25, 7, 0)
    );

    let daily = rule("mode = \"digest\"\ndigest = \"daily\"\ndigest_at = \"08:00\"");
    assert_eq!(
        digest_slot(&daily, utc(3, 28, 9, 0), london),
        utc(3, 28, 8, 0)
    );
    assert_eq!(
        digest_slot(&daily, utc(3, 29, 7, 30), london),
        utc(3, 29, 7, 0)
    );
    assert_eq!(
        digest_slot(&daily, utc(3, 29, 6, 59), london),
        utc(3, 28, 8, 0)
    );
    assert_eq!(
        digest_slot(&daily, utc(10, 25, 7, 59), london),
        utc(10, 24, 7, 0)
    );
    assert_eq!(
        digest_slot(&daily, utc(10, 25, 8, 0), london),
        utc(10, 25, 8, 0)
    );
    // A digest at a time the spring change skips goes at the same time after the jump.
    let gap = rule("mode = \"digest\"\ndigest = \"daily\"\ndigest_at = \"01:30\"");
    assert_eq!(
        digest_slot(&gap, utc(3, 29, 12, 0), london),
        utc(3, 29, 1, 30)
    );
    // Hourly at :15 past each local hour, also in a zone half an hour off UTC.
    let hourly = rule("mode = \"digest\"\ndigest = \"hourly\"\ndigest_at = \"00:15\"");
    assert_eq!(
        digest_slot(&hourly, utc(10, 25, 1, 20), london),
        utc(10, 25, 1, 15)
    );
    assert_eq!(
        digest_slot(&hourly, utc(10, 25, 1, 10), london),
        utc(10, 25, 0, 15)
    );
    let kolkata: Zone = "Asia/Kolkata".parse().unwrap();
    assert_eq!(
        digest_slot(&hourly, utc(6, 1, 10, 0), kolkata),
        utc(6, 1, 9, 45)
    );
}

#[test]
fn excerpts_cut_at_a_word() {
    assert_eq!(excerpt(&item("short"), 10), "short");
    assert_eq!(excerpt(&item("one two three four"), 10), "one two…");
}
