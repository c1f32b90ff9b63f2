//! The demo TSA's tokens verify like a real TSA's; bad requests get a rejection, never a panic.
//! `openssl ts -verify` cross-checks its tokens in `tests/e2e/demo_evidence.rs`.

use proptest::prelude::*;

use super::*;
use crate::timestamp::{build_request, parse_response, verify_token, TimestampError, TrustRoots};

fn roots(tsa: &LocalTsa) -> TrustRoots {
    TrustRoots::from_pem(tsa.root_pem().unwrap().as_bytes(), "demo root").unwrap()
}

#[test]
fn its_tokens_verify_against_its_root_with_imprint_nonce_and_name() {
    let tsa = LocalTsa::generate().unwrap();
    let sha = [7u8; 32];
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let resp = tsa.respond(&build_request(&sha, 42).unwrap()).unwrap();
    let token = parse_response(&resp).unwrap();
    let v = verify_token(&token, &sha, Some(42), &roots(&tsa)).unwrap();
    assert!(
        v.gen_time >= before && v.gen_time <= chrono::Utc::now(),
        "{v:?}"
    );
    assert!(v.tsa_name.contains(DEMO_TSA_NAME), "{}", v.tsa_name);
    assert!(v.signer.contains(DEMO_TSA_NAME), "{}", v.signer);
    assert!(v.root.contains(DEMO_ROOT_NAME), "{}", v.root);
    assert_eq!(v.policy, DEMO_POLICY.to_string());

    // Another hash, another nonce, another TSA's root: refused.
    assert!(matches!(
        verify_token(&token, &[8u8; 32], Some(42), &roots(&tsa)),
        Err(TimestampError::ImprintMismatch { .. })
    ));
    assert!(matches!(
        verify_token(&token, &sha, Some(43), &roots(&tsa)),
        Err(TimestampError::NonceMismatch { .. })
    ));
    let other = LocalTsa::generate().unwrap();
    assert!(matches!(
        verify_token(&token, &sha, Some(42), &roots(&other)),
        Err(TimestampError::Untrusted(_))
    ));
    // Serial numbers differ from token to token.
    let again = parse_response(&tsa.respond(&build_request(&sha, 42).unwrap()).unwrap()).unwrap();
    let serial = |t: &[u8]| verify_token(t, &sha, None, &roots(&tsa)).unwrap().serial;
    assert_ne!(serial(&token), serial(&again));
}

#[test]
fn bad_requests_are_rejected_with_the_reason() {
    let tsa = LocalTsa::generate().unwrap();
    let mut sha384 = build_request(&[1u8; 32], 1).unwrap();
    // Swap the SHA-256 OID's last arc (…2.1) for SHA-384's (…2.2): the imprint is then the
    // wrong length for it.
    let at = sha384
        .windows(9)
        .position(|w| w == [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01])
        .unwrap();
    sha384[at + 8] = 0x02;
    let cases: [(&[u8], PkiFailureInfoValues); 4] = [
        (b"", PkiFailureInfoValues::BadDataFormat),
        (b"\x30\x03\x02\x01\x01", PkiFailureInfoValues::BadDataFormat),
        (&sha384, PkiFailureInfoValues::BadDataFormat),
        (
            &[0u8; MAX_REQUEST_SIZE + 1],
            PkiFailureInfoValues::BadDataFormat,
        ),
    ];
    for (bytes, fail) in cases {
        assert_eq!(parse_request(bytes).unwrap_err().fail, fail, "{bytes:?}");
        let resp = tsa.respond(bytes).unwrap();
        assert!(
            matches!(parse_response(&resp), Err(TimestampError::Refused(_))),
            "{:?}",
            parse_response(&resp)
        );
    }
    let mut md5ish = build_request(&[1u8; 32], 1).unwrap();
    md5ish[at + 8] = 0x09;
    assert_eq!(
        parse_request(&md5ish).unwrap_err().fail,
        PkiFailureInfoValues::BadAlg
    );
}

#[test]
fn it_is_kept_in_its_folder_and_loaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalTsa::load_or_create(dir.path()).unwrap();
    let again = LocalTsa::load_or_create(dir.path()).unwrap();
    assert_eq!(first.cert_pem().unwrap(), again.cert_pem().unwrap());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(ROOT_FILE)).unwrap(),
        first.root_pem().unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A token from the reloaded TSA verifies against the first one's root.
    let sha = [3u8; 32];
    let token = parse_response(&again.respond(&build_request(&sha, 9).unwrap()).unwrap()).unwrap();
    verify_token(&token, &sha, Some(9), &roots(&first)).unwrap();

    // A certificate that is not the key's is refused, naming the file.
    std::fs::write(
        dir.path().join(CERT_FILE),
        LocalTsa::generate().unwrap().cert_pem().unwrap(),
    )
    .unwrap();
    let err = LocalTsa::load_or_create(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(CERT_FILE) && err.contains("not the certificate"),
        "{err}"
    );
    std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
    let err = LocalTsa::load_or_create(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(KEY_FILE), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_get_an_answer_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_request(&bytes);
    }

    #[test]
    fn a_damaged_request_is_refused_or_answered_never_a_panic(
        at in 0usize..60,
        byte in any::<u8>(),
    ) {
        let mut req = build_request(&[5u8; 32], 77).unwrap();
        let at = at % req.len();
        req[at] = byte;
        let _ = parse_request(&req);
    }
}
