//! Checking a timestamp token offline, against trusted root certificates.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cms::cert::CertificateChoices;
use cms::signed_data::{SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, Sequence};
use ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::Certificate;

use super::request::{check_imprint, decode_token, token_info};
use super::{oid, Result, TimestampError};

/// The longest certificate chain followed from the TSA's certificate to a root.
const MAX_CHAIN: usize = 8;

/// The root certificates a token's signer must chain to.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots {
    certs: Vec<Certificate>,
}

impl TrustRoots {
    /// Every certificate in `pem` (one or more `BEGIN CERTIFICATE` blocks); `origin` names
    /// where they came from, for messages.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<Self> {
        let certs = Certificate::load_pem_chain(pem).map_err(|e| TimestampError::Roots {
            origin: origin.to_string(),
            message: format!(
                "not PEM certificates ({e}); give the TSA's root CA certificate in PEM"
            ),
        })?;
        if certs.is_empty() {
            return Err(TimestampError::Roots {
                origin: origin.to_string(),
                message: "no certificate found; give the TSA's root CA certificate in PEM".into(),
            });
        }
        Ok(TrustRoots { certs })
    }

    /// Every certificate in each PEM file.
    pub fn from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut certs = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let pem = std::fs::read(path).map_err(|e| TimestampError::Roots {
                origin: path.display().to_string(),
                message: format!("cannot be read ({e}); check the path and its permissions"),
            })?;
            certs.extend(Self::from_pem(&pem, &path.display().to_string())?.certs);
        }
        Ok(TrustRoots { certs })
    }

    /// How many root certificates there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Adds `other`'s certificates.
    pub fn add(&mut self, other: TrustRoots) {
        self.certs.extend(other.certs);
    }

    /// Whether there are none (then nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Each root's subject and SHA-256 fingerprint (of its DER encoding: what
    /// `openssl x509 -noout -fingerprint -sha256` prints, without the colons), so a person can
    /// compare it with the certificate the TSA publishes.
    pub fn describe(&self) -> Vec<RootCertificate> {
        self.certs
            .iter()
            .map(|cert| RootCertificate {
                subject: cert.tbs_certificate.subject.to_string(),
                sha256: cert
                    .to_der()
                    .map(|der| hex::encode(sha2::Sha256::digest(der)))
                    .unwrap_or_else(|e| format!("(cannot be encoded: {e})")),
            })
            .collect()
    }
}

/// A trusted root, as a person checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCertificate {
    /// Its subject name.
    pub subject: String,
    /// SHA-256 of its DER encoding, 64 lowercase hex digits.
    pub sha256: String,
}

/// A token that verified: what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// The TSA's time: the hash existed no later than this.
    pub gen_time: DateTime<Utc>,
    /// The TSA's name: the token's `tsa` field, else its certificate's subject.
    pub tsa_name: String,
    /// The subject of the certificate that signed the token.
    pub signer: String,
    /// The subject of the trusted root the chain ends at.
    pub root: String,
    /// The token's serial number (hex).
    pub serial: String,
    /// The TSA policy (dotted OID).
    pub policy: String,
}

/// Checks `token` (a `TimeStampToken`, verbatim) offline: the CMS signature over the signed
/// attributes, whose `messageDigest` must be the hash of the `TSTInfo`; the signer's
/// certificate chain up to one of `roots`, every certificate valid at the token's time; the
/// signer's critical `extendedKeyUsage` timeStamping; the imprint equal to `sha256`; and the
/// nonce, when `nonce` is given.
pub fn verify_token(
    token: &[u8],
    sha256: &[u8; 32],
    nonce: Option<u64>,
    roots: &TrustRoots,
) -> Result<VerifiedTimestamp> {
    let decoded = decode_token(token)?;
    let info = token_info(&decoded.tst)?;
    let at = u64::try_from(info.gen_time.timestamp())
        .map(|secs| Duration::new(secs, info.gen_time.timestamp_subsec_nanos()))
        .map_err(|_| TimestampError::MalformedToken("genTime is before 1970".into()))?;
    let sd = &decoded.signed_data;
    let mut signers = sd.signer_infos.0.iter();
    let (Some(signer_info), None) = (signers.next(), signers.next()) else {
        return Err(TimestampError::MalformedToken(format!(
            "{} signers where RFC 3161 has exactly one",
            sd.signer_infos.0.len()
        )));
    };
    let certs: Vec<&Certificate> = sd
        .certificates
        .iter()
        .flatten()
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let signer = certs
        .iter()
        .copied()
        .find(|cert| is_signer(cert, &signer_info.sid))
        .ok_or_else(|| {
            TimestampError::Untrusted(
                "the token does not carry its signer's certificate (request it with certReq)"
                    .into(),
            )
        })?;

    check_signed_attributes(signer_info, signer, &decoded.tst_der)?;
    check_timestamping_usage(signer)?;
    let root = check_chain(signer, &certs, roots, at)?;

    check_imprint(&info, sha256)?;
    if let Some(expected) = nonce {
        if info.nonce != Some(expected) {
            return Err(TimestampError::NonceMismatch {
                expected,
                found: info
                    .nonce
                    .map_or_else(|| "none".to_string(), |n| n.to_string()),
            });
        }
    }
    let signer_name = signer.tbs_certificate.subject.to_string();
    Ok(VerifiedTimestamp {
        gen_time: info.gen_time,
        tsa_name: info.tsa_name.unwrap_or_else(|| signer_name.clone()),
        signer: signer_name,
        root: root.tbs_certificate.subject.to_string(),
        serial: info.serial,
        policy: info.policy,
    })
}

fn is_signer(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            cert.tbs_certificate.issuer == id.issuer
                && cert.tbs_certificate.serial_number == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(extension::<SubjectKeyIdentifier>(cert, oid::CE_SUBJECT_KEY_ID),
                     Ok(Some((_, found))) if found.0 == ski.0)
        }
    }
}

/// The `contentType` and `messageDigest` attributes, and the signature over them all.
fn check_signed_attributes(si: &SignerInfo, signer: &Certificate, tst_der: &[u8]) -> Result<()> {
    let attrs = si.signed_attrs.as_ref().ok_or_else(|| {
        TimestampError::MalformedToken("the signer has no signed attributes".into())
    })?;
    let single = |oid: ObjectIdentifier, name: &str| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(attr), None) if attr.values.len() == 1 => attr
                .values
                .iter()
                .next()
                .ok_or_else(|| TimestampError::MalformedToken(format!("{name} has no value"))),
            _ => Err(TimestampError::MalformedToken(format!(
                "the signed attributes need exactly one {name}"
            ))),
        }
    };
    let content_type: ObjectIdentifier = single(oid::CONTENT_TYPE, "contentType")?
        .decode_as()
        .map_err(|e| TimestampError::MalformedToken(format!("contentType: {e}")))?;
    if content_type != oid::CT_TST_INFO {
        return Err(TimestampError::BadSignature(format!(
            "the signed contentType is {content_type}, not TSTInfo"
        )));
    }
    let digest: OctetString = single(oid::MESSAGE_DIGEST, "messageDigest")?
        .decode_as()
        .map_err(|e| TimestampError::MalformedToken(format!("messageDigest: {e}")))?;
    let hash = Hash::of_digest(&si.digest_alg.oid).ok_or_else(|| {
        TimestampError::BadSignature(format!(
            "digest algorithm {} is not supported (SHA-256/384/512 are)",
            si.digest_alg.oid
        ))
    })?;
    if digest.as_bytes() != hash.digest(tst_der).as_slice() {
        return Err(TimestampError::BadSignature(
            "the signed messageDigest is not the hash of the TSTInfo".into(),
        ));
    }
    if let Some(named) = Hash::of_signature(&si.signature_algorithm.oid) {
        if named != hash {
            return Err(TimestampError::BadSignature(format!(
                "signature algorithm {} disagrees with digest algorithm {}",
                si.signature_algorithm.oid, si.digest_alg.oid
            )));
        }
    }
    check_signing_certificate(&single, signer)?;
    let signed = attrs
        .to_der()
        .map_err(|e| TimestampError::MalformedToken(format!("signed attributes: {e}")))?;
    verify_signature(
        &signer.tbs_certificate.subject_public_key_info,
        hash,
        &signed,
        si.signature.as_bytes(),
    )
    .map_err(|e| TimestampError::BadSignature(format!("over the signed attributes: {e}")))
}

/// `ESSCertIDv2` (RFC 5035): the hash of a certificate, SHA-256 unless it says otherwise.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    /// Absent means SHA-256 (the ASN.1 DEFAULT).
    #[asn1(optional = "true")]
    pub(crate) hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub(crate) cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub(crate) issuer_serial: Option<Any>,
}

/// `SigningCertificateV2` (RFC 5035); the first certificate is the signer's.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub(crate) certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub(crate) policies: Option<Any>,
}

/// `ESSCertID` (RFC 2634): the SHA-1 hash of a certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificate` (RFC 2634); the first certificate is the signer's.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// RFC 3161 section 2.4.1 (and RFC 5816): the signed attributes name the signer's certificate
/// by its hash, so the token cannot be passed off with another certificate for the same key.
fn check_signing_certificate<'a>(
    single: &impl Fn(ObjectIdentifier, &str) -> Result<&'a Any>,
    signer: &Certificate,
) -> Result<()> {
    let signer_der = signer
        .to_der()
        .map_err(|e| TimestampError::MalformedToken(format!("the signer's certificate: {e}")))?;
    let malformed =
        |what: &str, e: der::Error| TimestampError::MalformedToken(format!("{what}: {e}"));
    let (algorithm, named) =
        if let Ok(v2) = single(oid::SIGNING_CERTIFICATE_V2, "signingCertificateV2") {
            let v2: SigningCertificateV2 = v2
                .decode_as()
                .map_err(|e| malformed("signingCertificateV2", e))?;
            let first = v2.certs.into_iter().next().ok_or_else(|| {
                TimestampError::MalformedToken("signingCertificateV2 names no certificate".into())
            })?;
            let hash_oid = first
                .hash_algorithm
                .as_ref()
                .map_or(oid::SHA_256, |a| a.oid);
            let hash = Hash::of_digest(&hash_oid).ok_or_else(|| {
                TimestampError::BadSignature(format!(
                    "signingCertificateV2 uses hash {hash_oid}, which is not supported"
                ))
            })?;
            (hash.digest(&signer_der), first.cert_hash)
        } else if let Ok(v1) = single(oid::SIGNING_CERTIFICATE, "signingCertificate") {
            let v1: SigningCertificate = v1
                .decode_as()
                .map_err(|e| malformed("signingCertificate", e))?;
            let first = v1.certs.into_iter().next().ok_or_else(|| {
                TimestampError::MalformedToken("signingCertificate names no certificate".into())
            })?;
            let sha1 = <sha1::Sha1 as sha1::Digest>::digest(&signer_der);
            (sha1.to_vec(), first.cert_hash)
        } else {
            return Err(TimestampError::MalformedToken(
                "the signed attributes have no signingCertificate or signingCertificateV2".into(),
            ));
        };
    if named.as_bytes() != algorithm.as_slice() {
        return Err(TimestampError::BadSignature(
            "the signed attributes name another certificate than the one that signed".into(),
        ));
    }
    Ok(())
}

/// RFC 3161 section 2.3: one extendedKeyUsage, critical, holding only id-kp-timeStamping.
fn check_timestamping_usage(cert: &Certificate) -> Result<()> {
    let name = cert.tbs_certificate.subject.to_string();
    match extension::<ExtendedKeyUsage>(cert, oid::CE_EXT_KEY_USAGE)? {
        Some((true, eku)) if eku.0 == [oid::KP_TIME_STAMPING] => Ok(()),
        Some((false, _)) => Err(TimestampError::Untrusted(format!(
            "{name}: its extendedKeyUsage is not critical, so it is not a TSA certificate"
        ))),
        Some(_) => Err(TimestampError::Untrusted(format!(
            "{name}: its extendedKeyUsage is not timeStamping alone"
        ))),
        None => Err(TimestampError::Untrusted(format!(
            "{name}: it has no extendedKeyUsage timeStamping, so it is not a TSA certificate"
        ))),
    }
}

/// From the signer up to a trusted root; returns the root.
fn check_chain<'r>(
    signer: &Certificate,
    carried: &[&Certificate],
    roots: &'r TrustRoots,
    at: Duration,
) -> Result<&'r Certificate> {
    if roots.is_empty() {
        return Err(TimestampError::Untrusted(
            "no trusted roots are configured".into(),
        ));
    }
    let mut current = signer;
    let mut why_not = String::new();
    for _ in 0..MAX_CHAIN {
        check_validity(current, at)?;
        if let Some(root) = roots.certs.iter().find(|root| *root == current) {
            return Ok(root);
        }
        let issuer = &current.tbs_certificate.issuer;
        for root in roots
            .certs
            .iter()
            .filter(|r| &r.tbs_certificate.subject == issuer)
        {
            match verify_certificate(current, root) {
                Ok(()) => {
                    check_validity(root, at)?;
                    return Ok(root);
                }
                Err(e) => why_not = format!("; a root named {issuer} is configured but {e}"),
            }
        }
        let next = carried.iter().copied().find(|c| {
            &c.tbs_certificate.subject == issuer
                && *c != current
                && is_ca(c)
                && verify_certificate(current, c).is_ok()
        });
        match next {
            Some(next) => current = next,
            None => {
                return Err(TimestampError::Untrusted(format!(
                    "{} was issued by {issuer}, which is not one of the {} trusted roots{why_not}",
                    current.tbs_certificate.subject,
                    roots.len()
                )))
            }
        }
    }
    Err(TimestampError::Untrusted(format!(
        "the certificate chain is longer than {MAX_CHAIN}"
    )))
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(extension::<BasicConstraints>(cert, oid::CE_BASIC_CONSTRAINTS),
             Ok(Some((_, bc))) if bc.ca)
}

fn check_validity(cert: &Certificate, at: Duration) -> Result<()> {
    let validity = &cert.tbs_certificate.validity;
    if at < validity.not_before.to_unix_duration() || at > validity.not_after.to_unix_duration() {
        return Err(TimestampError::Untrusted(format!(
            "{} is valid from {} to {}, not at the token's time",
            cert.tbs_certificate.subject, validity.not_before, validity.not_after
        )));
    }
    Ok(())
}

/// The extension `id` decoded as `T`, with its critical flag.
fn extension<T: for<'a> Decode<'a>>(
    cert: &Certificate,
    id: ObjectIdentifier,
) -> Result<Option<(bool, T)>> {
    let Some(ext) = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == id)
    else {
        return Ok(None);
    };
    let value = T::from_der(ext.extn_value.as_bytes()).map_err(|e| {
        TimestampError::MalformedToken(format!(
            "extension {id} of {}: {e}",
            cert.tbs_certificate.subject
        ))
    })?;
    Ok(Some((ext.critical, value)))
}

/// Why a signature (the token's over its signed attributes, or a certificate's by its issuer)
/// does not verify.
#[derive(Debug, thiserror::Error)]
enum SignatureFailure {
    #[error("its two signature algorithm fields disagree")]
    AlgorithmFieldsDisagree,
    #[error("its signature algorithm {0} is not supported")]
    UnsupportedAlgorithm(ObjectIdentifier),
    #[error("cannot re-encode its signed part: {0}")]
    Encode(der::Error),
    #[error("its signature is not a whole number of bytes")]
    SignatureBits,
    #[error("the signature on {subject} fails: {cause}")]
    ByIssuer {
        subject: String,
        cause: Box<SignatureFailure>,
    },
    #[error("the public key is not a whole number of bytes")]
    KeyBits,
    #[error("unusable {kind} key: {message}")]
    UnusableKey { kind: &'static str, message: String },
    #[error("the EC key names no curve")]
    NoCurve,
    #[error("the EC key's curve: {0}")]
    Curve(der::Error),
    #[error("not a DER ECDSA signature: {0}")]
    EcdsaEncoding(ecdsa::Error),
    #[error("the {0} signature does not match")]
    Mismatch(&'static str),
    #[error("EC curve {0} is not supported (P-256 and P-384 are)")]
    UnsupportedCurve(ObjectIdentifier),
    #[error("key algorithm {0} is not supported (RSA and ECDSA P-256/P-384 are)")]
    UnsupportedKey(ObjectIdentifier),
}

impl SignatureFailure {
    fn unusable(kind: &'static str, e: impl std::fmt::Display) -> Self {
        SignatureFailure::UnusableKey {
            kind,
            message: e.to_string(),
        }
    }
}

/// `cert`'s signature by `issuer`'s key.
fn verify_certificate(
    cert: &Certificate,
    issuer: &Certificate,
) -> std::result::Result<(), SignatureFailure> {
    let alg = &cert.signature_algorithm.oid;
    if cert.tbs_certificate.signature.oid != *alg {
        return Err(SignatureFailure::AlgorithmFieldsDisagree);
    }
    let hash = Hash::of_signature(alg).ok_or(SignatureFailure::UnsupportedAlgorithm(*alg))?;
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(SignatureFailure::Encode)?;
    let signature = cert
        .signature
        .as_bytes()
        .ok_or(SignatureFailure::SignatureBits)?;
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        hash,
        &tbs,
        signature,
    )
    .map_err(|cause| SignatureFailure::ByIssuer {
        subject: cert.tbs_certificate.subject.to_string(),
        cause: Box::new(cause),
    })
}

/// The digests a signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of_digest(id: &ObjectIdentifier) -> Option<Hash> {
        match *id {
            oid::SHA_256 => Some(Hash::Sha256),
            oid::SHA_384 => Some(Hash::Sha384),
            oid::SHA_512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// The digest a signature algorithm names (none for bare rsaEncryption / ecPublicKey).
    fn of_signature(id: &ObjectIdentifier) -> Option<Hash> {
        match *id {
            oid::SHA256_WITH_RSA | oid::ECDSA_WITH_SHA256 => Some(Hash::Sha256),
            oid::SHA384_WITH_RSA | oid::ECDSA_WITH_SHA384 => Some(Hash::Sha384),
            oid::SHA512_WITH_RSA | oid::ECDSA_WITH_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A signature by the key in `spki`: RSA PKCS#1 v1.5, or ECDSA on P-256 or P-384.
fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> std::result::Result<(), SignatureFailure> {
    let digest = hash.digest(message);
    let key_bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(SignatureFailure::KeyBits)?;
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => {
            let der = spki.to_der().map_err(SignatureFailure::Encode)?;
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .map_err(|e| SignatureFailure::unusable("RSA", e))?;
            let scheme = match hash {
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(scheme, &digest, signature)
                .map_err(|_| SignatureFailure::Mismatch("RSA"))
        }
        oid::EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or(SignatureFailure::NoCurve)?
                .decode_as()
                .map_err(SignatureFailure::Curve)?;
            let mismatch = |_| SignatureFailure::Mismatch("ECDSA");
            match curve {
                oid::SECP256R1 => {
                    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bits)
                        .map_err(|e| SignatureFailure::unusable("P-256", e))?;
                    let sig = p256::ecdsa::Signature::from_der(signature)
                        .map_err(SignatureFailure::EcdsaEncoding)?;
                    key.verify_prehash(&digest, &sig).map_err(mismatch)
                }
                oid::SECP384R1 => {
                    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bits)
                        .map_err(|e| SignatureFailure::unusable("P-384", e))?;
                    let sig = p384::ecdsa::Signature::from_der(signature)
                        .map_err(SignatureFailure::EcdsaEncoding)?;
                    key.verify_prehash(&digest, &sig).map_err(mismatch)
                }
                other => Err(SignatureFailure::UnsupportedCurve(other)),
            }
        }
        other => Err(SignatureFailure::UnsupportedKey(other)),
    }
}
