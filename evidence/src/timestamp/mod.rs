//! RFC 3161 trusted timestamps: proof from an independent Time-Stamping Authority (TSA) that a
//! SHA-256 hash existed no later than the time the TSA states.
//!
//! * [`request`]: builds a `TimeStampReq` (SHA-256 message imprint, random 64-bit nonce,
//!   `certReq` true), posts it to a TSA over HTTP and parses the `TimeStampResp`
//!   ([`parse_response`] never panics, whatever the bytes). The token is kept byte for byte.
//! * [`verify`]: checks a token offline: the CMS signature over the signed attributes (whose
//!   `messageDigest` must be the hash of the `TSTInfo`), the signer's certificate chain up to
//!   one of the trusted roots, the TSA certificate's critical `extendedKeyUsage` timeStamping,
//!   the ESS `signingCertificate(V2)` attribute naming that certificate, the imprint and the
//!   nonce; it returns the TSA's time and name.
//!
//! All ASN.1 goes through the RustCrypto crates (`x509-tsp`, `cms`, `x509-cert`, `der`); the
//! signatures through `rsa` (PKCS#1 v1.5) and `p256`/`p384` (ECDSA).
//!
//! Nothing here reads configuration: callers pass TSA URLs and root certificates.

use der::oid::ObjectIdentifier;

pub mod authority;
mod client;
pub mod pack;
pub mod request;
pub mod verify;

#[cfg(test)]
mod tests;

pub use client::TsaClient;
pub use request::{
    build_request, inspect_token, parse_response, request_timestamp, timestamp_with_any, Timestamp,
    TokenInfo, MAX_RESPONSE_SIZE,
};
pub use verify::{verify_token, RootCertificate, TrustRoots, VerifiedTimestamp};

/// Why a timestamp could not be obtained or does not verify. Each message says what failed and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// The request could not be encoded (should not happen for a 32-byte hash).
    #[error("cannot encode the RFC 3161 request: {0}")]
    Encode(String),
    /// The TSA could not be reached, or did not answer in time.
    #[error(
        "TSA {url} could not be reached: {message}; check the URL, the network and the TSA's \
         status, or try another TSA"
    )]
    Unreachable {
        /// The TSA URL.
        url: String,
        /// What the HTTP client said.
        message: String,
    },
    /// The TSA answered with an HTTP error, or something that is not a timestamp response.
    #[error("TSA {url} answered {message}; check that the URL is an RFC 3161 endpoint")]
    Http {
        /// The TSA URL.
        url: String,
        /// The status and what was wrong.
        message: String,
    },
    /// The bytes are not a DER `TimeStampResp`.
    #[error(
        "not an RFC 3161 TimeStampResp: {0}; the TSA answered something else (check the URL) \
         or the bytes were damaged"
    )]
    MalformedResponse(String),
    /// The TSA answered, but did not grant a timestamp.
    #[error("the TSA refused the request: {0}; try again later or use another TSA")]
    Refused(String),
    /// The token is not a CMS SignedData holding a TSTInfo.
    #[error("the timestamp token is malformed: {0}; the token was damaged or is not RFC 3161")]
    MalformedToken(String),
    /// The CMS signature does not verify.
    #[error(
        "the timestamp token's signature does not verify: {0}; the token was altered or was \
         not issued by the TSA whose certificate it carries"
    )]
    BadSignature(String),
    /// The signer's certificate does not chain to a trusted root, or is not fit to sign
    /// timestamps.
    #[error(
        "the TSA certificate is not trusted: {0}; configure the root certificate (PEM) of the \
         TSA that issued this token"
    )]
    Untrusted(String),
    /// The token timestamps another hash than the one expected.
    #[error(
        "the token timestamps a different hash: expected SHA-256 {expected}, the token has \
         {found}; the data changed after it was timestamped, or this is another item's token"
    )]
    ImprintMismatch {
        /// What the caller expected (hex).
        expected: String,
        /// What the token holds (algorithm and hex).
        found: String,
    },
    /// The token does not answer our request.
    #[error(
        "the token's nonce {found} is not the request's {expected}; the response is a replay or \
         answers another request: discard it and ask again"
    )]
    NonceMismatch {
        /// The request's nonce.
        expected: u64,
        /// The token's nonce, or "none".
        found: String,
    },
    /// The HTTP client for TSAs could not be built.
    #[error("cannot set up the HTTP client for TSAs: {0}")]
    Client(String),
    /// Every TSA tried failed; one line per TSA, in the order tried.
    #[error("no TSA gave a valid timestamp:\n{0}")]
    AllFailed(String),
    /// The trusted root certificates are unusable.
    #[error("trusted TSA root certificates {origin}: {message}")]
    Roots {
        /// Where they were read from.
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Result of this module.
pub type Result<T, E = TimestampError> = std::result::Result<T, E>;

/// Object identifiers this module checks against.
pub(crate) mod oid {
    use super::ObjectIdentifier;

    pub const SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA_384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const RSA_ENCRYPTION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA256_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
    pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_WITH_SHA256: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    pub const CT_TST_INFO: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
    pub const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_CERTIFICATE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
    pub const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
    pub const KP_TIME_STAMPING: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
    pub const CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
    pub const CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
    pub const CE_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
}
