//! Unit tests of the pack's timestamp files. Packs with a capture log, edited chains and a
//! token for another hash are tested with the pack writer in `evidence/src/tests.rs`; a real
//! TSA's tokens end to end in `tests/e2e/evidence.rs`.

use super::*;

const RECORDED: [&[u8]; 3] = [
    include_bytes!("../../tests/fixtures/timestamp/rsa.tsr"),
    include_bytes!("../../tests/fixtures/timestamp/p256.tsr"),
    include_bytes!("../../tests/fixtures/timestamp/p384.tsr"),
];

#[test]
fn a_token_is_wrapped_in_a_response_that_gives_back_the_same_bytes() {
    for resp in RECORDED {
        let token = parse_response(resp).unwrap();
        let wrapped = token_response(&token).unwrap();
        assert_eq!(parse_response(&wrapped).unwrap(), token);
        // What the TSA sent was a granted response around the same token: the same bytes.
        assert_eq!(
            wrapped, resp,
            "a granted status with no text encodes the same"
        );
    }
}

#[test]
fn bytes_that_are_not_a_token_are_not_wrapped() {
    for bad in [&b""[..], b"\x30\x00", b"<html>", &RECORDED[0][..40]] {
        assert!(token_response(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_headers_hash_is_of_their_json_as_stored() {
    let headers = vec![("content-type".to_string(), "text/html".to_string())];
    assert_eq!(
        headers_sha256(&headers),
        hex::encode(Sha256::digest(br#"[["content-type","text/html"]]"#))
    );
}

#[test]
fn item_stamps_say_what_they_prove_in_words() {
    let t = DateTime::parse_from_rfc3339("2026-05-01T08:00:00.250Z")
        .unwrap()
        .with_timezone(&Utc);
    let full = ItemStamp::Captured {
        gen_time: t,
        tsa: "CN=Test TSA".into(),
        logged: 2,
        captures: 2,
        after: Vec::new(),
    };
    assert_eq!(
        full.to_string(),
        "captured no later than 2026-05-01T08:00:00Z (TSA CN=Test TSA)"
    );
    let partial = ItemStamp::Captured {
        gen_time: t,
        tsa: "CN=Test TSA".into(),
        logged: 1,
        captures: 3,
        after: Vec::new(),
    };
    assert!(partial.to_string().contains("1 of its 3 captures"));
    let shot_after = ItemStamp::Captured {
        gen_time: t,
        tsa: "CN=Test TSA".into(),
        logged: 1,
        captures: 1,
        after: vec!["its screenshot screenshots/ab.png (entry 9)".into()],
    };
    assert!(shot_after.to_string().ends_with(
        "covered only by the council's signature: its screenshot screenshots/ab.png (entry 9)"
    ));
    assert!(ItemStamp::NotYetTimestamped
        .to_string()
        .starts_with("not yet timestamped"));
    assert!(ItemStamp::NotLogged
        .to_string()
        .contains("not in the capture log"));
}
