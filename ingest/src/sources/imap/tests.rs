use super::forwarded::{self, parse_date, Forwarded};
use super::*;
use chrono::TimeZone;

fn read(name: &str, raw: &[u8]) -> Result<Report, MessageError> {
    read_message("Elections inbox", name, raw, &WatchTerms::new::<&str>(&[]))
}

fn eml(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/sources/imap/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_gmail_forward_keeps_the_original_sender_apart_from_the_reporter() {
    let r = read("UID 1", &eml("gmail_forward.eml")).expect("reads");
    let item = &r.item;
    assert_eq!(item.source.kind, "imap");
    assert_eq!(item.title.as_deref(), Some("Fwd: Polling station closed??"));
    let author = item.author.as_ref().expect("original sender");
    assert_eq!(author.handle.as_deref(), Some("updates@example.com"));
    assert_eq!(author.display_name.as_deref(), Some("Anytown Updates"));
    assert_eq!(
        item.published_at,
        Some(Utc.with_ymd_and_hms(2026, 5, 7, 7, 45, 0).unwrap())
    );
    assert_eq!(
        r.reporter.address.as_deref(),
        Some("pat.resident@example.org")
    );
    assert_eq!(r.reporter.name.as_deref(), Some("Pat Resident"));
    let text = item.text.as_deref().unwrap_or("");
    assert!(text.contains("CLOSED today"), "{text}");
    assert!(!text.contains("Pat Resident"), "{text}");
    // The forwarded block's `To:` line named the reporter: their address is not in the item.
    assert!(!text.contains("pat.resident@example.org"), "{text}");
    assert!(text.contains("To: <[reporter]>"), "{text}");
    assert_eq!(
        item.links,
        vec!["https://vote-anytown.example.com/new-station"]
    );
    assert_eq!(
        r.attachments,
        vec![(Some("screenshot.png".into()), "image/png".into())]
    );
    // The screenshot's decoded bytes go to media capture.
    assert_eq!(r.media.len(), 1);
    assert_eq!(
        (r.media[0].number, r.media[0].mime.as_str()),
        (1, "image/png")
    );
    assert!(r.media[0].bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn an_apple_mail_forward_reads_its_quoted_header_and_bst_date() {
    let r = read("UID 2", &eml("apple_forward.eml")).expect("reads");
    let author = r.item.author.expect("original sender");
    assert_eq!(
        author.handle.as_deref(),
        Some("info@anytown-council.example.com")
    );
    assert_eq!(author.display_name.as_deref(), Some("Anytown Council Info"));
    assert_eq!(
        r.item.published_at,
        Some(Utc.with_ymd_and_hms(2026, 5, 6, 17, 55, 40).unwrap())
    );
    assert_eq!(
        r.item.links,
        vec!["https://anytown-council.example.com/vote"]
    );
    assert_eq!(r.reporter.address.as_deref(), Some("sam.agent@example.org"));
}

#[test]
fn an_outlook_html_forward_is_sanitised_and_read() {
    let r = read("UID 3", &eml("outlook_forward.eml")).expect("reads");
    let text = r.item.text.clone().unwrap_or_default();
    assert!(!text.contains("alert(1)"), "{text}");
    assert!(text.contains("moved to Friday"), "{text}");
    let author = r.item.author.expect("original sender");
    assert_eq!(author.handle.as_deref(), Some("candidate@example.com"));
    assert_eq!(
        r.item.published_at,
        Some(Utc.with_ymd_and_hms(2026, 5, 5, 9, 30, 0).unwrap())
    );
    assert_eq!(r.item.links, vec!["https://example.com/moved"]);
}

#[test]
fn an_attached_original_message_gives_the_author_and_text() {
    let r = read("UID 4", &eml("rfc822_attachment.eml")).expect("reads");
    let author = r.item.author.expect("original sender");
    assert_eq!(
        author.handle.as_deref(),
        Some("ro@anytown-elections.example.net")
    );
    assert!(r
        .item
        .text
        .unwrap_or_default()
        .contains("polling card is cancelled"));
    assert_eq!(
        r.item.links,
        vec!["https://anytown-elections.example.net/register"]
    );
    assert!(r.attachments.is_empty());
    assert!(
        r.media.is_empty(),
        "an attached message is read, not a medium"
    );
}

#[test]
fn a_malformed_message_is_an_error_naming_it() {
    let err = read("UID 5", &eml("malformed.eml")).expect_err("malformed");
    assert!(err.to_string().contains("UID 5"), "{err}");
    assert!(read("UID 6", b"").is_err());
}

/// Found by the `imap` fuzz target: multipart structures on which mail-parser 0.11.9's debug
/// assertion fires ("Invalid part ID, could not find multipart"). Each is a reason, not a
/// panic (and in a release build, where the assertion is compiled out, whatever the parser
/// reads of it).
#[test]
fn messages_that_trip_the_mail_parsers_assertion_are_a_reason_not_a_panic() {
    for name in ["fuzz-invalid-part-id.eml", "fuzz-invalid-part-id-2.eml"] {
        let read = read("UID 9", &eml(name));
        if cfg!(debug_assertions) {
            let err = read.expect_err("the parser's assertion fires on it");
            assert!(err.to_string().contains("UID 9"), "{name}: {err}");
        }
    }
}

#[test]
fn a_message_without_a_forward_has_no_author_and_its_own_date() {
    let raw = b"From: a@example.org\r\nSubject: Hello\r\nDate: Mon, 4 May 2026 12:00:00 +0000\r\n\r\nNothing forwarded, see http://example.org/x.\r\n";
    let r = read("UID 7", raw).expect("reads");
    assert!(r.item.author.is_none());
    assert_eq!(
        r.item.published_at,
        Some(Utc.with_ymd_and_hms(2026, 5, 4, 12, 0, 0).unwrap())
    );
    assert_eq!(r.item.links, vec!["http://example.org/x"]);
}

#[test]
fn forwarded_headers_in_each_style() {
    let gmail = "hi\n\n---------- Forwarded message ---------\nFrom: A B <a@example.com>\nDate: Sat, 2 May 2026 at 09:14\nSubject: S\nTo: <c@example.org>\n\nbody";
    assert_eq!(
        forwarded::parse(gmail),
        Some(Forwarded {
            from_name: Some("A B".into()),
            from_address: Some("a@example.com".into()),
            date: Some(Utc.with_ymd_and_hms(2026, 5, 2, 9, 14, 0).unwrap()),
            subject: Some("S".into()),
        })
    );
    let apple = "Begin forwarded message:\n\nFrom: a@example.com\nSubject: S\nDate: 2 May 2026 at 09:14:22 BST\n";
    let f = forwarded::parse(apple).expect("apple");
    assert_eq!(f.from_address.as_deref(), Some("a@example.com"));
    assert_eq!(
        f.date,
        Some(Utc.with_ymd_and_hms(2026, 5, 2, 8, 14, 22).unwrap())
    );
    let outlook = "FYI\n\nFrom: A B <a@example.com>\nSent: Saturday, May 2, 2026 9:14 AM\nTo: C\nSubject: S\n";
    let f = forwarded::parse(outlook).expect("outlook");
    assert_eq!(f.from_name.as_deref(), Some("A B"));
    assert_eq!(
        f.date,
        Some(Utc.with_ymd_and_hms(2026, 5, 2, 9, 14, 0).unwrap())
    );
    let original = "-----Original Message-----\nFrom: A B [mailto:a@example.com]\nSent: Saturday, 2 May 2026 09:14\n";
    let f = forwarded::parse(original).expect("original message");
    assert_eq!(f.from_address.as_deref(), Some("a@example.com"));
    assert!(forwarded::parse("From: someone\nno sent line").is_none());
    assert!(parse_date("not a date").is_none());
}

#[test]
fn plain_text_links_end_before_punctuation() {
    assert_eq!(
        text_links("see (https://a.example/x), or <http://b.example/y>. httpfoo http:// no"),
        vec!["https://a.example/x", "http://b.example/y"]
    );
}

proptest::proptest! {
    #[test]
    fn forwarded_parsing_never_panics(s in "\\PC{0,300}") {
        let _ = forwarded::parse(&s);
        let _ = text_links(&s);
    }

    #[test]
    fn forwarded_headers_round_trip(name in "[A-Z][a-z]{1,10}", user in "[a-z]{1,10}",
                                    day in 1u32..28, hour in 0u32..24, min in 0u32..60) {
        let text = format!(
            "note\n\n---------- Forwarded message ---------\nFrom: {name} <{user}@example.com>\nDate: {} at {hour:02}:{min:02}\nSubject: x\n\nbody",
            Utc.with_ymd_and_hms(2026, 5, day, 0, 0, 0).unwrap().format("%a, %-d %b %Y")
        );
        let f = forwarded::parse(&text).expect("parses");
        proptest::prop_assert_eq!(f.from_name, Some(name));
        proptest::prop_assert_eq!(f.from_address, Some(format!("{user}@example.com")));
        proptest::prop_assert_eq!(f.date, Some(Utc.with_ymd_and_hms(2026, 5, day, hour, min, 0).unwrap()));
    }

    #[test]
    fn any_bytes_read_or_fail_cleanly(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = read("UID 9", &raw);
    }
}

#[test]
fn the_reporter_is_blanked_out_of_the_text_in_any_case_but_short_names_are_left() {
    let reporter = Reporter {
        name: Some("Pat Resident".into()),
        address: Some("Pat.Resident@Example.org".into()),
    };
    assert_eq!(
        redact_reporter(
            "From PAT.RESIDENT@example.ORG: thanks, pat resident — Straße",
            &reporter
        ),
        "From [reporter]: thanks, [reporter] — Straße"
    );
    let short = Reporter {
        name: Some("Al".into()),
        address: None,
    };
    assert_eq!(redact_reporter("Also all", &short), "Also all");
    assert_eq!(redact_reporter("", &reporter), "");
}

/// The problems of one `[[source]]` table of kind `imap` with `keys`, as `(field, message)`.
fn problems_of(keys: &str) -> Vec<(String, String)> {
    let keys = format!("name = \"Inbox\"\nkind = \"imap\"\n{keys}");
    crate::sources::test_support::read_source_config(&keys)
        .1
        .into_vec()
        .into_iter()
        .map(|f| (f.path.to_string(), f.message))
        .collect()
}

const GOOD: &str = "host = \"imap.anytown.gov.uk\"\nusername = \"reports\"\npassword_env = \"REPORTS_IMAP_PASSWORD\"\n";

#[test]
fn a_good_config_has_defaults_and_an_imaps_url() {
    assert_eq!(problems_of(GOOD), vec![]);
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Inbox\"\nkind = \"imap\"\n{GOOD}"
    ));
    assert_eq!(cfg.kind(), "imap");
    assert_eq!(cfg.url().as_str(), "imaps://imap.anytown.gov.uk:993/INBOX");
    let crate::sources::SourceSettings::Imap(c) = &cfg.settings else {
        panic!("{cfg:?}")
    };
    assert_eq!((c.tls, c.port(), c.max_messages), (Tls::Implicit, 993, 50));
    let starttls = crate::sources::test_support::source_config(&format!(
        "name = \"Inbox\"\nkind = \"imap\"\n{GOOD}tls = \"starttls\"\nfolder = \"Reports/Forwarded\"\n"
    ));
    assert_eq!(
        starttls.url().as_str(),
        "imap://imap.anytown.gov.uk:143/Reports%2FForwarded"
    );
}

#[test]
fn config_problems_name_their_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("tls = \"ssl\"", "source[0].tls", "unknown value `ssl`"),
        (
            "password_env = \"not a var\"",
            "source[0].password_env",
            "not an environment variable",
        ),
        ("port = 0", "source[0].port", "0 is not a port"),
        ("host = \"\"", "source[0].host", "not a host name"),
        ("host = \"bad host/x\"", "source[0].host", "not a host name"),
        (
            "username = \" \"",
            "source[0].username",
            "must not be empty",
        ),
        ("folder = \"\"", "source[0].folder", "must not be empty"),
        (
            "folder = \"IN\\nBOX\"",
            "source[0].folder",
            "control characters",
        ),
        (
            "move_to = \"INBOX\"",
            "source[0].move_to",
            "is the folder read",
        ),
        ("max_messages = 0", "source[0].max_messages", "out of range"),
        (
            "max_messages = 5000",
            "source[0].max_messages",
            "out of range",
        ),
        ("xoauth = true", "source[0].xoauth", "unknown key"),
    ];
    for (line, field, message) in cases {
        // Each case replaces the good key of the same name, or adds one.
        let key = line.split(' ').next().unwrap();
        let keys: String = GOOD
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let found = problems_of(&format!("{keys}{line}\n"));
        assert!(
            found.iter().any(|(f, m)| f == field && m.contains(message)),
            "{line}: expected `{field}`: {message} in {found:?}"
        );
    }
    for key in ["host", "username", "password_env"] {
        let keys: String = GOOD
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let found = problems_of(&keys);
        assert!(
            found.iter().any(|(_, m)| m.contains(&format!("`{key}`"))),
            "missing {key}: {found:?}"
        );
    }
}

#[test]
fn the_cursor_resumes_after_the_last_uid_and_starts_over_when_the_folder_is_renumbered() {
    let fresh = resume(&ImapState::default(), "INBOX", 7);
    assert_eq!(
        fresh,
        Resume {
            after: 0,
            read_up_to: None,
            note: None
        }
    );
    let state = ImapState {
        uid_validity: Some(7),
        last_uid: 41,
    };
    let same = resume(&state, "INBOX", 7);
    assert_eq!(
        (same.after, same.read_up_to, same.note),
        (41, Some(41), None)
    );
    let renumbered = resume(&state, "INBOX", 8);
    assert_eq!((renumbered.after, renumbered.read_up_to), (0, None));
    let note = renumbered.note.expect("a health note");
    assert!(
        note.contains("`INBOX`") && note.contains("UIDVALIDITY 7 → 8"),
        "{note}"
    );
    // A cursor from before any message: nothing to move.
    let empty = ImapState {
        uid_validity: Some(7),
        last_uid: 0,
    };
    assert_eq!(resume(&empty, "INBOX", 7).read_up_to, None);
}

#[test]
fn a_batch_is_the_lowest_new_uids_up_to_the_cap() {
    // `UID n:*` always answers the highest UID, even when it is below n.
    assert_eq!(batch([41], 41, 50), Vec::<u32>::new());
    assert_eq!(batch([50, 42, 44, 43, 42], 41, 3), vec![42, 43, 44]);
    assert_eq!(batch([], 0, 10), Vec::<u32>::new());
    assert_eq!(batch([u32::MAX, 1], 0, 10), vec![1, u32::MAX]);
}

#[tokio::test]
async fn a_server_that_is_down_is_an_error_naming_host_and_port_and_what_to_check() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::set_var("BALLOTWATCH_TEST_IMAP_PASSWORD", "secret");
    let cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Inbox\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         username = \"reports\"\npassword_env = \"BALLOTWATCH_TEST_IMAP_PASSWORD\"\n"
    ));
    let source = cfg.build(&ballotwatch_core::LimitsConfig::default());
    let ctx = crate::sources::test_support::test_ctx();
    let err = source
        .poll(&ctx, &crate::sources::Cursor::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(err.is_transient(), "{text}");
    assert!(
        text.contains(&format!("cannot reach 127.0.0.1:{port}"))
            && text.contains("check host and port"),
        "{text}"
    );
}

/// The error of one poll of an `imap` source with `keys` (after `name` and `kind`).
async fn poll_error(keys: &str) -> crate::sources::SourceError {
    crate::sources::test_support::source_config(&format!(
        "name = \"Inbox\"\nkind = \"imap\"\n{keys}"
    ))
    .build(&ballotwatch_core::LimitsConfig::default())
    .poll(
        &crate::sources::test_support::test_ctx(),
        &crate::sources::Cursor::default(),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn a_missing_password_is_a_setup_error_naming_the_variable() {
    let err = poll_error(
        "host = \"127.0.0.1\"\nport = 9\nusername = \"reports\"\n\
         password_env = \"BALLOTWATCH_TEST_IMAP_UNSET\"\n",
    )
    .await;
    assert!(
        err.to_string().contains("`BALLOTWATCH_TEST_IMAP_UNSET`") && !err.is_transient(),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_a_setup_error_naming_it() {
    let dir = tempfile_dir();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    std::env::set_var("BALLOTWATCH_TEST_IMAP_PASSWORD", "secret");
    let err = poll_error(&format!(
        "host = \"127.0.0.1\"\nport = 9\nca_file = \"{}\"\nusername = \"reports\"\n\
         password_env = \"BALLOTWATCH_TEST_IMAP_PASSWORD\"\n",
        ca.display()
    ))
    .await;
    assert!(
        err.to_string()
            .contains(&format!("ca_file {}", ca.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh folder under the system's temp folder.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ballotwatch-imap-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_relative_ca_file_is_relative_to_the_config_file() {
    let mut cfg = crate::sources::test_support::source_config(&format!(
        "name = \"Inbox\"\nkind = \"imap\"\n{GOOD}ca_file = \"certs/ca.pem\"\n"
    ));
    cfg.resolve_paths(std::path::Path::new("/etc/ballotwatch"));
    let crate::sources::SourceSettings::Imap(c) = &cfg.settings else {
        panic!("{cfg:?}")
    };
    assert_eq!(
        c.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ballotwatch/certs/ca.pem"))
    );
}

#[test]
fn login_keys_are_password_env_or_token_url_with_its_client() {
    let oauth = "host = \"outlook.office365.com\"\nusername = \"reports@anytown.gov.uk\"\n\
                 token_url = \"https://login.microsoftonline.com/anytown/oauth2/v2.0/token\"\n\
                 client_id = \"app-id\"\nclient_secret_env = \"REPORTS_CLIENT_SECRET\"\n\
                 scope = \"https://outlook.office365.com/.default\"\n";
    assert_eq!(problems_of(oauth), vec![]);
    let expect = |keys: &str, field: &str, message: &str| {
        let found = problems_of(keys);
        assert!(
            found.iter().any(|(f, m)| f == field && m.contains(message)),
            "expected `{field}`: {message} in {found:?}"
        );
    };
    expect(
        &format!("{oauth}password_env = \"P\"\n"),
        "source[0].token_url",
        "not both",
    );
    expect(
        &oauth.replace("client_id = \"app-id\"\n", ""),
        "source[0].client_id",
        "missing",
    );
    expect(
        &oauth.replace("client_secret_env = \"REPORTS_CLIENT_SECRET\"\n", ""),
        "source[0].client_secret_env",
        "missing",
    );
    expect(
        &oauth.replace("REPORTS_CLIENT_SECRET", "not a var"),
        "source[0].client_secret_env",
        "not an environment variable",
    );
    expect(
        &oauth.replace("https://login.microsoftonline.com", "ftp://login.example"),
        "source[0].token_url",
        "not an http or https URL",
    );
    expect(
        &format!("{GOOD}client_id = \"app-id\"\n"),
        "source[0].client_id",
        "only used with `token_url`",
    );
}

#[tokio::test]
async fn an_xoauth2_token_comes_from_the_client_credentials_grant_and_is_reused() {
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    /// The forms the token endpoint was sent, and whether it refuses (non-zero).
    type Endpoint = (Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>);
    let forms: Arc<Mutex<Vec<String>>> = Arc::default();
    let refuse = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/token",
            post(
                |axum::extract::State((forms, refuse)): axum::extract::State<Endpoint>,
                 body: String| async move {
                    forms.lock().unwrap().push(body);
                    if refuse.load(Ordering::SeqCst) > 0 {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.test"}"#,
                    )
                },
            ),
        )
        .with_state((forms.clone(), refuse.clone()));
    let base = crate::sources::test_support::serve(app).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::set_var("BALLOTWATCH_TEST_IMAP_CLIENT_SECRET", "s3cret&=x");
    let keys = format!(
        "name = \"Inbox\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {closed}\n\
         username = \"reports@anytown.gov.uk\"\ntoken_url = \"{base}/token\"\nclient_id = \"app-id\"\n\
         client_secret_env = \"BALLOTWATCH_TEST_IMAP_CLIENT_SECRET\"\n\
         scope = \"https://outlook.office365.com/.default\"\n"
    );
    let source = crate::sources::test_support::source_config(&keys)
        .build(&ballotwatch_core::LimitsConfig::default());
    let ctx = crate::sources::test_support::test_ctx();
    // The token is fetched, then the server is down: a connection error, not a token error.
    for _ in 0..2 {
        let err = source
            .poll(&ctx, &crate::sources::Cursor::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot reach"), "{err}");
    }
    let sent = forms.lock().unwrap().clone();
    assert_eq!(
        sent.len(),
        1,
        "the token is reused until it expires: {sent:?}"
    );
    assert_eq!(
        sent[0],
        "grant_type=client_credentials&client_id=app-id&client_secret=s3cret%26%3Dx\
         &scope=https%3A%2F%2Foutlook.office365.com%2F.default"
    );

    // A refused secret is a setup error quoting the endpoint and naming the variable.
    refuse.store(1, Ordering::SeqCst);
    let fresh = crate::sources::test_support::source_config(&keys)
        .build(&ballotwatch_core::LimitsConfig::default());
    let err = fresh
        .poll(&ctx, &crate::sources::Cursor::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.is_transient(), "{text}");
    assert!(
        text.contains("refused the client credentials (HTTP 401")
            && text.contains("AADSTS7000215")
            && text.contains("`BALLOTWATCH_TEST_IMAP_CLIENT_SECRET`"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn refusals_quote_the_servers_own_words() {
    assert_eq!(
        server_words(
            "code: Some(AuthenticationFailed), info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")"
        ),
        "[AUTHENTICATIONFAILED] Authentication failed."
    );
    assert_eq!(
        server_words("outcome: whatever\nelse"),
        "outcome: whatever else"
    );
    assert_eq!(
        server_words("info: Some(\"unterminated"),
        "info: Some(\"unterminated"
    );
}
