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
}

#[test]
fn a_malformed_message_is_an_error_naming_it() {
    let err = read("UID 5", &eml("malformed.eml")).expect_err("malformed");
    assert!(err.to_string().contains("UID 5"), "{err}");
    assert!(read("UID 6", b"").is_err());
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
