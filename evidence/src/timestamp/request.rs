//! Asking a TSA: the `TimeStampReq`, the HTTP exchange and the `TimeStampResp`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::cert::CertificateChoices;
use cms::content_info::CmsVersion;
use cms::content_info::ContentInfo;
use cms::signed_data::{DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignerInfos};
use der::asn1::{Int, OctetString, Uint};
use der::{Any, Decode, Encode, Header, Reader, Sequence, SliceReader, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TsaPolicyId, TspVersion};

use super::{oid, Result, TimestampError};

/// The largest `TimeStampResp` accepted from a TSA (real ones are a few KiB: a signature and a
/// certificate or two).
pub const MAX_RESPONSE_SIZE: usize = 256 * 1024;

/// The DER `TimeStampReq` for a SHA-256 hash: the imprint, `nonce` and `certReq` true (so the
/// token carries the TSA's certificate and verifies offline).
pub fn build_request(sha256: &[u8; 32], nonce: u64) -> Result<Vec<u8>> {
    let encode = |e: der::Error| TimestampError::Encode(e.to_string());
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: spki::AlgorithmIdentifier {
                oid: oid::SHA_256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(sha256.to_vec()).map_err(encode)?,
        },
        req_policy: None,
        nonce: Some(Int::from(Uint::new(&nonce.to_be_bytes()).map_err(encode)?)),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(encode)
}

/// What a TSA answered: the token, byte for byte as the TSA sent it, and what it states.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// The TSA asked.
    pub url: String,
    /// The hash timestamped.
    pub sha256: [u8; 32],
    /// The request's nonce (the token repeats it).
    pub nonce: u64,
    /// The `TimeStampToken` (a CMS `ContentInfo`), verbatim. Keep these bytes: they are the proof.
    pub token: Vec<u8>,
    /// What the token states (not yet checked against trusted roots: see [`super::verify_token`]).
    pub info: TokenInfo,
    /// When the request was sent (our clock).
    pub requested_at: DateTime<Utc>,
    /// How long the exchange took.
    pub round_trip: Duration,
}

/// What a token's `TSTInfo` states, read without any signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TSA's time.
    pub gen_time: DateTime<Utc>,
    /// The imprint's hash algorithm (dotted OID).
    pub hash_algorithm: String,
    /// The imprint's hash.
    pub hashed_message: Vec<u8>,
    /// The nonce, when present and a non-negative 64-bit number.
    pub nonce: Option<u64>,
    /// The token's serial number (hex).
    pub serial: String,
    /// The TSA policy (dotted OID).
    pub policy: String,
    /// The TSA's name from the `tsa` field, when present.
    pub tsa_name: Option<String>,
}

/// Asks the TSA at `url` to timestamp `sha256`, with a fresh random nonce.
///
/// `timeout` covers the whole exchange. The answer is parsed ([`parse_response`]) and its
/// imprint and nonce checked against the request; the certificate chain is not checked here
/// (call [`super::verify_token`] with the trusted roots).
pub async fn request_timestamp(
    client: &reqwest::Client,
    url: &str,
    sha256: &[u8; 32],
    timeout: Duration,
) -> Result<Timestamp> {
    let nonce: u64 = rand::random();
    let body = build_request(sha256, nonce)?;
    let requested_at = Utc::now();
    let started = Instant::now();
    let unreachable = |e: reqwest::Error| TimestampError::Unreachable {
        url: url.to_string(),
        message: error_chain(&e),
    };
    let mut response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
        .header(reqwest::header::ACCEPT, "application/timestamp-reply")
        .timeout(timeout)
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(TimestampError::Http {
            url: url.to_string(),
            message: format!("HTTP {status}"),
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_SIZE {
            return Err(TimestampError::Http {
                url: url.to_string(),
                message: format!("with more than {MAX_RESPONSE_SIZE} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let round_trip = started.elapsed();
    let token = parse_response(&bytes)?;
    let info = inspect_token(&token)?;
    check_imprint(&info, sha256)?;
    if info.nonce != Some(nonce) {
        return Err(TimestampError::NonceMismatch {
            expected: nonce,
            found: info
                .nonce
                .map_or_else(|| "none".to_string(), |n| n.to_string()),
        });
    }
    Ok(Timestamp {
        url: url.to_string(),
        sha256: *sha256,
        nonce,
        token,
        info,
        requested_at,
        round_trip,
    })
}

/// Asks each TSA in `urls` in turn for a token for `sha256` and verifies it against `roots`
/// ([`super::verify_token`], with the request's nonce); the first that verifies wins. When none
/// does, the error lists every TSA's failure.
pub async fn timestamp_with_any(
    client: &reqwest::Client,
    urls: &[String],
    sha256: &[u8; 32],
    timeout: Duration,
    roots: &super::TrustRoots,
) -> Result<(Timestamp, super::VerifiedTimestamp)> {
    let mut failures = Vec::new();
    for url in urls {
        let verified = match request_timestamp(client, url, sha256, timeout).await {
            Ok(stamp) => super::verify_token(&stamp.token, sha256, Some(stamp.nonce), roots)
                .map(|verified| (stamp, verified)),
            Err(e) => Err(e),
        };
        match verified {
            Ok(done) => return Ok(done),
            Err(e) => {
                tracing::warn!(tsa = %url, error = %e, "timestamp request failed");
                failures.push(format!("- {url}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        failures.push("- no TSA URL is configured".into());
    }
    Err(TimestampError::AllFailed(failures.join("\n")))
}

/// The token of a DER `TimeStampResp` whose status is granted (or granted with
/// modifications), as the exact bytes the TSA sent. Never panics, whatever `bytes` holds.
pub fn parse_response(bytes: &[u8]) -> Result<Vec<u8>> {
    let malformed = |e: der::Error| TimestampError::MalformedResponse(e.to_string());
    let mut outer = SliceReader::new(bytes).map_err(malformed)?;
    let header = Header::decode(&mut outer).map_err(malformed)?;
    if header.tag != Tag::Sequence {
        return Err(TimestampError::MalformedResponse(format!(
            "starts with {} where a SEQUENCE belongs",
            header.tag
        )));
    }
    let body = outer.read_slice(header.length).map_err(malformed)?;
    if !outer.is_finished() {
        return Err(TimestampError::MalformedResponse(
            "trailing bytes after the response".into(),
        ));
    }
    let mut inner = SliceReader::new(body).map_err(malformed)?;
    let status = PkiStatusInfo::decode(&mut inner).map_err(malformed)?;
    if !matches!(
        status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        return Err(TimestampError::Refused(describe_status(&status)));
    }
    let consumed = usize::try_from(inner.position()).map_err(malformed)?;
    let token = body.get(consumed..).unwrap_or_default();
    if token.is_empty() {
        return Err(TimestampError::MalformedResponse(
            "the status is granted but there is no token".into(),
        ));
    }
    // Exactly one ContentInfo, nothing after it.
    ContentInfo::from_der(token).map_err(malformed)?;
    Ok(token.to_vec())
}

fn describe_status(status: &PkiStatusInfo<'_>) -> String {
    let mut out = format!("status {:?}", status.status);
    if let Some(text) = &status.status_string {
        let text: Vec<&str> = text.iter().map(|t| t.as_str()).collect();
        out.push_str(&format!(" ({})", text.join("; ")));
    }
    if let Some(fail) = &status.fail_info {
        out.push_str(&format!(", failure {fail:?}"));
    }
    out
}

/// CMS `SignedData` as `cms::signed_data::SignedData`, except that the certificates are a plain
/// list: `openssl ts` (and TSAs built on it) put the signer's certificate in twice when the
/// request asks for certificates and the TSA's chain also holds it, and a DER `SET OF` with a
/// duplicate does not decode. The certificates are not covered by the signature.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct TokenSignedData {
    pub version: CmsVersion,
    pub digest_algorithms: DigestAlgorithmIdentifiers,
    pub encap_content_info: EncapsulatedContentInfo,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub certificates: Option<Vec<CertificateChoices>>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub crls: Option<Vec<Any>>,
    pub signer_infos: SignerInfos,
}

/// `TSTInfo` as `x509_tsp::TstInfo`, except that `genTime` is kept as the encoded
/// GeneralizedTime: RFC 3161 allows fractional seconds (`YYYYMMDDhhmmss[.s…]Z`), which `der`
/// 0.7's `GeneralizedTime` (RFC 5280's profile, whole seconds) refuses, and TSAs send them.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct TokenTstInfo {
    pub version: TspVersion,
    pub policy: TsaPolicyId,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: Any,
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// A GeneralizedTime as RFC 3161 has it: UTC (`Z`), whole seconds or a fraction of them.
pub(crate) fn parse_gen_time(value: &Any) -> Result<DateTime<Utc>> {
    let bad = |why: &str| TimestampError::MalformedToken(format!("genTime: {why}"));
    if value.tag() != Tag::GeneralizedTime {
        return Err(bad(&format!(
            "{} where a GeneralizedTime belongs",
            value.tag()
        )));
    }
    let text = std::str::from_utf8(value.value()).map_err(|_| bad("not text"))?;
    let text = text
        .strip_suffix('Z')
        .ok_or_else(|| bad("not UTC (no Z)"))?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!("`{text}` is not YYYYMMDDhhmmss")));
    }
    if (text.contains('.') && fraction.is_empty())
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad(&format!(
            "`{text}` has a malformed fraction of a second"
        )));
    }
    let time = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map_err(|e| bad(&format!("`{text}`: {e}")))?;
    let nanos: u32 = format!("{fraction:0<9}").parse().unwrap_or(0);
    let time = time
        .with_nanosecond(nanos)
        .ok_or_else(|| bad(&format!("`{text}`: bad fraction")))?;
    Ok(time.and_utc())
}

/// A token taken apart: the SignedData, the TSTInfo and its exact DER (what `messageDigest`
/// covers).
pub(crate) struct DecodedToken {
    pub signed_data: TokenSignedData,
    pub tst_der: Vec<u8>,
    pub tst: TokenTstInfo,
}

pub(crate) fn decode_token(token: &[u8]) -> Result<DecodedToken> {
    let malformed =
        |what: &str, e: der::Error| TimestampError::MalformedToken(format!("{what}: {e}"));
    let info = ContentInfo::from_der(token).map_err(|e| malformed("ContentInfo", e))?;
    if info.content_type != oid::SIGNED_DATA {
        return Err(TimestampError::MalformedToken(format!(
            "content type {} is not SignedData",
            info.content_type
        )));
    }
    let signed_data: TokenSignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed("SignedData", e))?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != oid::CT_TST_INFO {
        return Err(TimestampError::MalformedToken(format!(
            "the signed content is {}, not a TSTInfo",
            encap.econtent_type
        )));
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::MalformedToken("the TSTInfo is missing".into()))?;
    let tst_der = econtent
        .decode_as::<OctetString>()
        .map_err(|e| malformed("eContent", e))?
        .into_bytes();
    let tst = TokenTstInfo::from_der(&tst_der).map_err(|e| malformed("TSTInfo", e))?;
    Ok(DecodedToken {
        signed_data,
        tst_der,
        tst,
    })
}

/// What a token states, without checking any signature. Never panics.
pub fn inspect_token(token: &[u8]) -> Result<TokenInfo> {
    token_info(&decode_token(token)?.tst)
}

pub(crate) fn token_info(tst: &TokenTstInfo) -> Result<TokenInfo> {
    let gen_time = parse_gen_time(&tst.gen_time)?;
    Ok(TokenInfo {
        gen_time,
        hash_algorithm: tst.message_imprint.hash_algorithm.oid.to_string(),
        hashed_message: tst.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: tst.nonce.as_ref().and_then(nonce_value),
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        tsa_name: tst.tsa.as_ref().map(general_name),
    })
}

/// A non-negative INTEGER of at most 64 bits.
fn nonce_value(int: &Int) -> Option<u64> {
    let bytes = int.as_bytes();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let digits = bytes.get(start..)?;
    if digits.len() > 8 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf.get_mut(8 - digits.len()..)?.copy_from_slice(digits);
    Some(u64::from_be_bytes(buf))
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(dn) => dn.to_string(),
        GeneralName::DnsName(s) => s.to_string(),
        GeneralName::Rfc822Name(s) => s.to_string(),
        GeneralName::UniformResourceIdentifier(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn check_imprint(info: &TokenInfo, sha256: &[u8; 32]) -> Result<()> {
    if info.hash_algorithm != oid::SHA_256.to_string() || info.hashed_message != sha256 {
        return Err(TimestampError::ImprintMismatch {
            expected: hex::encode(sha256),
            found: format!(
                "{} {}",
                if info.hash_algorithm == oid::SHA_256.to_string() {
                    "SHA-256".to_string()
                } else {
                    info.hash_algorithm.clone()
                },
                hex::encode(&info.hashed_message)
            ),
        });
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
