//! End to end: `ballotwatch classify` with a protected identity flags lookalike domains and
//! accounts, names the identity, and leaves the council's own posts and the local paper alone;
//! and a candidate's campaign post without a digital imprint is an `electoral_law` verdict.

use crate::common;

use common::tools::Tool;
use common::Workspace;

const LEEDS: &str = r#"
[[identity]]
name = "Leeds City Council"
kind = "organisation"
domains = ["leeds.gov.uk"]
handles = { x = ["@leedscc"], bluesky = ["leeds.gov.uk"] }

[[identity]]
name = "Leeds Returning Officer"
kind = "role"
handles = { x = ["@LeedsElections"] }
"#;

#[test]
fn lookalikes_are_flagged_and_the_real_accounts_are_not() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new(LEEDS);
    let items = [
        serde_json::json!({"id": "link", "text": "Check where to vote",
            "links": ["https://leeds-gov.uk/polling-stations"],
            "author": {"handle": "@someone", "display_name": "Someone", "platform": "x"}}),
        serde_json::json!({"id": "counci1", "text": "Polling stations close at 8pm this year",
            "author": {"handle": "@leeds_council_info", "display_name": "Leeds City Counci1", "platform": "x"}}),
        serde_json::json!({"id": "own", "text": "Polling stations are open 7am to 10pm. See https://www.leeds.gov.uk/elections",
            "links": ["https://www.leeds.gov.uk/elections"],
            "author": {"handle": "@leedscc", "display_name": "Leeds City Council", "platform": "x"}}),
        serde_json::json!({"id": "own-bsky", "text": "Register to vote by 16 April",
            "author": {"handle": "leeds.gov.uk", "display_name": "Leeds City Council", "platform": "bluesky"}}),
        serde_json::json!({"id": "paper", "title": "Leeds City Council confirms polling station changes",
            "text": "Leeds City Council said three polling stations have moved; details at leeds.gov.uk.",
            "url": "https://www.leeds-live.co.uk/news/leeds-news/polling-stations-1",
            "links": ["https://www.leeds.gov.uk/elections"],
            "source": {"kind": "rss", "name": "Leeds Live"},
            "author": {"display_name": "Leeds Live", "url": "https://www.leeds-live.co.uk/"}}),
    ];
    let out = ws.classify(&items).ok();
    assert_eq!(out.len(), 5);

    let link = &out[0];
    assert_eq!(link["flagged"], true, "{link}");
    let v = &link["verdicts"][0];
    assert_eq!(v["kind"], "impersonation");
    assert_eq!(v["label"], "lookalike_domain");
    assert_eq!(v["detector"], "domains");
    assert_eq!(v["evidence"]["domain"], "leeds-gov.uk");
    assert_eq!(v["evidence"]["protected"], "leeds.gov.uk");
    let why = v["explanation"].as_str().unwrap();
    assert!(
        why.contains("Leeds City Council") && why.contains("leeds-gov.uk"),
        "{why}"
    );

    let account = &out[1];
    assert_eq!(account["flagged"], true, "{account}");
    let v = &account["verdicts"][0];
    assert_eq!(v["label"], "impersonated_account");
    assert_eq!(v["evidence"]["identity"], "Leeds City Council");
    assert_eq!(v["evidence"]["handle"], "x:@leeds_council_info");
    let why = v["explanation"].as_str().unwrap();
    assert!(
        why.contains("Leeds City Council") && why.contains("digit 1 for letter l"),
        "{why}"
    );

    for quiet in &out[2..] {
        assert_eq!(quiet["flagged"], false, "{quiet}");
        assert_eq!(quiet["verdicts"], serde_json::json!([]), "{quiet}");
    }
}

#[test]
fn bad_identity_config_is_rejected_with_the_field() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new(
        "[[identity]]\nname = \"Leeds City Council\"\nkind = \"organisation\"\n\
         domains = [\"https://leeds.gov.uk/\"]\nhandles = { x = [\"@Leeds City\"] }\n",
    );
    let r = ws.run_with_stdin(&["classify"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("identity[0].domains[0]"), "{}", r.stderr);
    assert!(
        r.stderr.contains("identity[0].handles.x[0]"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_candidates_campaign_post_without_an_imprint_is_flagged_and_one_with_it_is_not() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let ws = Workspace::new(
        r#"
[[identity]]
name = "Jane Okafor"
kind = "candidate"
handles = { x = ["@OkaforRiverside"] }
"#,
    );
    let post = "Two days to go! Vote Okafor on 7 May for a Riverside that works.";
    let author = |bio: Option<&str>| serde_json::json!({"handle": "@OkaforRiverside", "platform": "x", "bio": bio});
    let items = [
        serde_json::json!({"id": "bare", "text": post, "author": author(None)}),
        serde_json::json!({"id": "bio", "text": post,
            "author": author(Some("Riverside candidate. Promoted by S. Lee, 12 High Street, Anytown AT1 2BB"))}),
        serde_json::json!({"id": "resident", "text": "I'll vote Okafor again, she fixed our street lights.",
            "author": {"handle": "@riverside_res", "platform": "x"}}),
    ];
    let out = ws.classify(&items).ok();
    assert_eq!(out.len(), 3);
    let bare = &out[0];
    assert_eq!(bare["flagged"], true, "{bare}");
    assert_eq!(bare["severity"], "medium", "{bare}");
    let v = &bare["verdicts"][0];
    assert_eq!(v["kind"], "electoral_law");
    assert_eq!(v["label"], "missing_imprint");
    assert_eq!(v["detector"], "imprint");
    let why = v["explanation"].as_str().unwrap();
    assert!(
        why.contains("Vote Okafor on 7 May") && why.contains("no imprint"),
        "{why}"
    );
    assert_eq!(out[1]["flagged"], false, "{}", out[1]);
    assert_eq!(out[2]["flagged"], false, "{}", out[2]);
}
