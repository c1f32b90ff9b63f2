//! Unit tests of the request encoder and the response parser. The end-to-end tests against a
//! real TSA (`openssl ts` behind a loopback HTTP server) are in `evidence/tests/timestamp.rs`.

use der::Decode;
use proptest::prelude::*;
use x509_tsp::TimeStampReq;

use super::*;

#[test]
fn the_request_carries_the_imprint_nonce_and_cert_req() {
    let hash = [7u8; 32];
    for nonce in [0, 1, 0x7f, 0x80, u64::MAX, 0x0123_4567_89ab_cdef] {
        let der = build_request(&hash, nonce).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.message_imprint.hash_algorithm.oid, oid::SHA_256);
        assert_eq!(req.message_imprint.hashed_message.as_bytes(), &hash);
        assert!(req.cert_req);
        let int = req.nonce.unwrap();
        let bytes = int.as_bytes();
        assert!(
            bytes[0] & 0x80 == 0,
            "the nonce {nonce} must encode as positive"
        );
        let mut value = [0u8; 8];
        let digits = &bytes[bytes.len().saturating_sub(8)..];
        value[8 - digits.len()..].copy_from_slice(digits);
        assert_eq!(u64::from_be_bytes(value), nonce);
    }
}

#[test]
fn a_refusal_says_so() {
    // TimeStampResp { status: PKIStatusInfo { status: rejection(2), failInfo: badAlg } }
    let refused = [
        0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80,
    ];
    let err = parse_response(&refused).unwrap_err();
    assert!(matches!(err, TimestampError::Refused(_)), "{err}");
    assert!(err.to_string().contains("Rejection"), "{err}");
}

#[test]
fn a_granted_status_without_a_token_is_malformed() {
    let granted = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
    let err = parse_response(&granted).unwrap_err();
    assert!(matches!(err, TimestampError::MalformedResponse(_)), "{err}");
}

#[test]
fn html_is_not_a_response() {
    let err = parse_response(b"<html>Service Unavailable</html>").unwrap_err();
    assert!(matches!(err, TimestampError::MalformedResponse(_)), "{err}");
    assert!(inspect_token(b"<html>").is_err());
    let roots = TrustRoots::default();
    assert!(verify_token(b"\x30\x00", &[0; 32], None, &roots).is_err());
}

#[test]
fn roots_must_be_pem_certificates() {
    let err = TrustRoots::from_pem(b"not a certificate", "roots.pem").unwrap_err();
    assert!(err.to_string().contains("roots.pem"), "{err}");
    let err = TrustRoots::from_pem_files(&["/nonexistent/root.pem"]).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/root.pem"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_response(&bytes);
        let _ = inspect_token(&bytes);
        let _ = verify_token(&bytes, &[0; 32], Some(1), &TrustRoots::default());
    }

    #[test]
    fn a_response_prefix_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        status in 0u8..8,
    ) {
        // A well-formed outer SEQUENCE and status, then arbitrary bytes where the token goes.
        let mut inner = vec![0x30, 0x03, 0x02, 0x01, status];
        inner.extend_from_slice(&body);
        let mut bytes = vec![0x30, 0x82, (inner.len() >> 8) as u8, inner.len() as u8];
        bytes.extend_from_slice(&inner);
        let _ = parse_response(&bytes);
    }
}

/// Responses recorded from the test TSA (`evidence/tests/support/tsa.rs`, certificates made at
/// test time; only the root's public certificate is kept) — also the fuzz target's seeds. The
/// certificates are checked at the token's time, so these verify for good.
const RECORDED: [(&str, &[u8]); 3] = [
    (
        "rsa",
        include_bytes!("../../tests/fixtures/timestamp/rsa.tsr"),
    ),
    (
        "p256",
        include_bytes!("../../tests/fixtures/timestamp/p256.tsr"),
    ),
    (
        "p384",
        include_bytes!("../../tests/fixtures/timestamp/p384.tsr"),
    ),
];
const RECORDED_ROOT: &[u8] = include_bytes!("../../tests/fixtures/timestamp/root.pem");

#[test]
fn recorded_tokens_verify_offline_and_any_flipped_byte_is_caught() {
    let roots = TrustRoots::from_pem(RECORDED_ROOT, "root.pem").unwrap();
    for (profile, response) in RECORDED {
        let token = parse_response(response).unwrap();
        let info = inspect_token(&token).unwrap();
        let sha256: [u8; 32] = info.hashed_message.clone().try_into().unwrap();
        let verified = verify_token(&token, &sha256, info.nonce, &roots)
            .unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert!(
            verified.tsa_name.contains(&format!("Test TSA {profile},")),
            "{verified:?}"
        );
        assert!(matches!(
            verify_token(&token, &sha256, None, &TrustRoots::default()),
            Err(TimestampError::Untrusted(_))
        ));
        // A flipped byte is rejected, or lies outside what is signed (the token carries the
        // signer's certificate twice, and the unused copy is covered by nothing) and changes
        // nothing verified; every byte of the TSTInfo is covered.
        let tst = super::request::decode_token(&token).unwrap().tst_der;
        let tst_at = token.windows(tst.len()).position(|w| w == tst).unwrap();
        let in_tst = |i: usize| (tst_at..tst_at + tst.len()).contains(&i);
        // Every third byte of the TSTInfo, every 17th elsewhere (a debug-build P-384 check
        // takes ~10 ms).
        for i in (0..token.len()).filter(|&i| if in_tst(i) { i % 3 == 0 } else { i % 17 == 0 }) {
            let mut edited = token.clone();
            edited[i] ^= 0x01;
            if let Ok(v) = verify_token(&edited, &sha256, info.nonce, &roots) {
                assert_eq!(
                    v, verified,
                    "{profile}: byte {i} changed what the token says"
                );
                assert!(
                    !in_tst(i),
                    "{profile}: byte {i} of the TSTInfo is not covered"
                );
            }
        }
    }
}

#[test]
fn gen_time_may_have_a_fraction_of_a_second() {
    use der::asn1::Any;
    use der::Tag;
    let time = |text: &str| {
        super::request::parse_gen_time(&Any::new(Tag::GeneralizedTime, text.as_bytes()).unwrap())
    };
    let t = time("20261206044900Z").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-12-06T04:49:00+00:00");
    let t = time("20261206044900.12Z").unwrap();
    assert_eq!(t.timestamp_subsec_millis(), 120);
    for bad in [
        "20261206044900",
        "20261206044900.Z",
        "2026120604490Z",
        "20261306044900Z",
        "20261206044900.1234567890Z",
    ] {
        assert!(time(bad).is_err(), "{bad}");
    }
    let utc_time = Any::new(Tag::UtcTime, b"261206044900Z".as_slice()).unwrap();
    assert!(super::request::parse_gen_time(&utc_time).is_err());
}
