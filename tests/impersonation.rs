//! End to end: `ballotwatch classify` with a protected identity flags lookalike domains and
//! accounts, names the identity, and leaves the council's own posts and the local paper alone.

mod common;

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
