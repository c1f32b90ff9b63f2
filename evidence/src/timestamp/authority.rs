//! A small RFC 3161 Time-Stamping Authority, for the demo: it answers a DER `TimeStampReq` with
//! a DER `TimeStampResp` holding a token signed with an ECDSA P-256 key whose certificate
//! (critical extendedKeyUsage timeStamping, as RFC 3161 section 2.3 requires) is issued by a
//! root made at the same time. Everything is named [`DEMO_TSA_NAME`]: its time is only this
//! machine's clock, so its tokens prove nothing to anyone else. It exists so that the demo's
//! packs carry real tokens that `verify` and `openssl ts -verify` check exactly as they check a
//! public TSA's.
//!
//! All ASN.1 is built with the RustCrypto crates (`x509-tsp`, `cms` and `x509-cert` builders,
//! `der`). [`parse_request`] reads untrusted bytes: it is capped at [`MAX_REQUEST_SIZE`], never
//! panics and has a fuzz target (`scripts/fuzz tsa-request`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use cmpv2::status::{PkiFailureInfoValues, PkiStatus, PkiStatusInfo};
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{GeneralizedTime, Int, OctetString, SetOfVec, Uint};
use der::oid::{AssociatedOid, ObjectIdentifier};
use der::{Any, Decode, DecodePem, Encode, EncodePem, Tag};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::ext::AsExtension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use super::oid;
use super::verify::{EssCertIdV2, SigningCertificateV2};

/// The name of the demo TSA, in its certificates and wherever the demo shows it.
pub const DEMO_TSA_NAME: &str = "Ballotwatch demo TSA (not a trusted authority)";
/// The name of the root certificate that issues the demo TSA's certificate.
pub const DEMO_ROOT_NAME: &str = "Ballotwatch demo TSA root (not a trusted authority)";
/// The largest request read: a `TimeStampReq` with a SHA-512 imprint, a policy and a nonce is
/// about 120 bytes.
pub const MAX_REQUEST_SIZE: usize = 4096;
/// The policy the demo TSA states in its tokens: `1.2.3.4.1`, the placeholder OpenSSL's example
/// TSA configuration uses (`tsa_policy1`); it names no real policy.
pub const DEMO_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.3.4.1");
/// The files the demo TSA keeps in its folder.
pub const ROOT_FILE: &str = "demo-tsa-root.pem";
/// The TSA's certificate.
pub const CERT_FILE: &str = "demo-tsa.pem";
/// The TSA's private key (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "demo-tsa.key";

/// Why a request is refused: the `PKIFailureInfo` bit RFC 3161 section 2.4.2 gives for it, and
/// the reason in words (sent as the response's status string).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RequestError {
    /// The failure bit.
    pub fail: PkiFailureInfoValues,
    /// What was wrong.
    pub reason: String,
}

impl RequestError {
    fn new(fail: PkiFailureInfoValues, reason: impl Into<String>) -> RequestError {
        RequestError {
            fail,
            reason: reason.into(),
        }
    }
}

/// A request the demo TSA accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaRequest {
    /// What to timestamp: a SHA-256, SHA-384 or SHA-512 hash.
    pub imprint: MessageImprint,
    /// The requester's nonce, repeated in the token.
    pub nonce: Option<Int>,
    /// Whether the token must carry the TSA's certificate.
    pub cert_req: bool,
}

/// Reads a DER `TimeStampReq` from untrusted bytes: at most [`MAX_REQUEST_SIZE`], version 1, a
/// SHA-256/384/512 imprint of the right length, no policy but [`DEMO_POLICY`], no extensions.
pub fn parse_request(bytes: &[u8]) -> Result<TsaRequest, RequestError> {
    use PkiFailureInfoValues as F;
    if bytes.len() > MAX_REQUEST_SIZE {
        return Err(RequestError::new(
            F::BadDataFormat,
            format!(
                "the request is {} bytes; at most {MAX_REQUEST_SIZE} are read",
                bytes.len()
            ),
        ));
    }
    let req = TimeStampReq::from_der(bytes).map_err(|e| {
        RequestError::new(
            F::BadDataFormat,
            format!("not a DER RFC 3161 TimeStampReq: {e}"),
        )
    })?;
    if req.version != TspVersion::V1 {
        return Err(RequestError::new(F::BadRequest, "version is not 1"));
    }
    let algorithm = req.message_imprint.hash_algorithm.oid;
    let wanted = match algorithm {
        a if a == oid::SHA_256 => 32,
        a if a == oid::SHA_384 => 48,
        a if a == oid::SHA_512 => 64,
        other => {
            return Err(RequestError::new(
                F::BadAlg,
                format!("hash algorithm {other} is not SHA-256, SHA-384 or SHA-512"),
            ))
        }
    };
    let got = req.message_imprint.hashed_message.as_bytes().len();
    if got != wanted {
        return Err(RequestError::new(
            F::BadDataFormat,
            format!("the imprint is {got} bytes, not the {wanted} of its hash algorithm"),
        ));
    }
    if let Some(policy) = req.req_policy {
        if policy != DEMO_POLICY {
            return Err(RequestError::new(
                F::UnacceptedPolicy,
                format!("policy {policy} is not this TSA's ({DEMO_POLICY})"),
            ));
        }
    }
    if req.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(RequestError::new(
            F::UnacceptedExtension,
            "extensions are not supported",
        ));
    }
    Ok(TsaRequest {
        imprint: req.message_imprint,
        nonce: req.nonce,
        cert_req: req.cert_req,
    })
}

/// Why the demo TSA could not be set up or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// A file of the TSA could not be read or written.
    #[error("demo TSA: cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A file of the TSA is not what it should be.
    #[error("demo TSA: {} {problem}; delete the demo TSA's files to make new ones", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Encoding or signing failed.
    #[error("demo TSA: cannot {action}: {message}")]
    Build {
        /// What was being built.
        action: &'static str,
        /// Why not.
        message: String,
    },
}

fn build(action: &'static str) -> impl Fn(&dyn std::fmt::Display) -> AuthorityError {
    move |e| AuthorityError::Build {
        action,
        message: e.to_string(),
    }
}

/// The extendedKeyUsage id-kp-timeStamping, marked critical (RFC 3161 section 2.3).
struct CriticalTimeStamping(ExtendedKeyUsage);

impl AssociatedOid for CriticalTimeStamping {
    const OID: ObjectIdentifier = oid::CE_EXT_KEY_USAGE;
}

impl Encode for CriticalTimeStamping {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }

    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}

impl AsExtension for CriticalTimeStamping {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        true
    }
}

/// A signing key from fresh random bytes.
fn new_key() -> Result<SigningKey, AuthorityError> {
    // A random 32-byte string is a valid P-256 scalar but with probability about 2^-32 (zero
    // or not below the group order); try again then.
    for _ in 0..8 {
        let bytes: [u8; 32] = rand::random();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
    Err(AuthorityError::Build {
        action: "make a key",
        message: "no valid P-256 key from the random source".into(),
    })
}

fn random_serial() -> Result<SerialNumber, AuthorityError> {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and not starting with a zero byte.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).map_err(|e| build("make a serial number")(&e))
}

/// The demo's Time-Stamping Authority: its key, its certificate and the root that issued it.
pub struct LocalTsa {
    key: SigningKey,
    cert: Certificate,
    cert_der: Vec<u8>,
    root: Certificate,
    serial: AtomicU64,
}

impl std::fmt::Debug for LocalTsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTsa")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

impl LocalTsa {
    /// A new TSA: a root (its key discarded once it has issued the TSA's certificate, so it
    /// can issue nothing else) and a TSA key and certificate, valid from an hour ago for ten
    /// years.
    pub fn generate() -> Result<LocalTsa, AuthorityError> {
        let now = SystemTime::now();
        let validity = Validity {
            not_before: Time::try_from(now - Duration::from_secs(3600))
                .map_err(|e| build("set the validity")(&e))?,
            not_after: Time::try_from(now + Duration::from_secs(10 * 365 * 24 * 3600))
                .map_err(|e| build("set the validity")(&e))?,
        };
        let name = |cn: &str| {
            Name::from_str(&format!("CN={cn},O=Ballotwatch demo"))
                .map_err(|e| build("make a certificate name")(&e))
        };
        let root_name = name(DEMO_ROOT_NAME)?;
        let root_key = new_key()?;
        let spki = |key: &SigningKey| {
            SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())
                .map_err(|e| build("encode a public key")(&e))
        };
        let root = CertificateBuilder::new(
            Profile::Root,
            random_serial()?,
            validity,
            root_name.clone(),
            spki(&root_key)?,
            &root_key,
        )
        .map_err(|e| build("make the root certificate")(&e))?
        .build::<DerSignature>()
        .map_err(|e| build("sign the root certificate")(&e))?;

        let key = new_key()?;
        let mut tsa = CertificateBuilder::new(
            Profile::Leaf {
                issuer: root_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            random_serial()?,
            validity,
            name(DEMO_TSA_NAME)?,
            spki(&key)?,
            &root_key,
        )
        .map_err(|e| build("make the TSA certificate")(&e))?;
        tsa.add_extension(&CriticalTimeStamping(ExtendedKeyUsage(vec![
            oid::KP_TIME_STAMPING,
        ])))
        .map_err(|e| build("add the timeStamping usage")(&e))?;
        let cert = tsa
            .build::<DerSignature>()
            .map_err(|e| build("sign the TSA certificate")(&e))?;
        LocalTsa::new(key, cert, root)
    }

    fn new(
        key: SigningKey,
        cert: Certificate,
        root: Certificate,
    ) -> Result<LocalTsa, AuthorityError> {
        let cert_der = cert
            .to_der()
            .map_err(|e| build("encode the TSA certificate")(&e))?;
        // Token serial numbers go up from the start time in microseconds: unique across restarts.
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        Ok(LocalTsa {
            key,
            cert,
            cert_der,
            root,
            serial: AtomicU64::new(start),
        })
    }

    /// The TSA kept in `dir` ([`ROOT_FILE`], [`CERT_FILE`], [`KEY_FILE`]), or a new one written
    /// there when none is.
    pub fn load_or_create(dir: &Path) -> Result<LocalTsa, AuthorityError> {
        let (root_path, cert_path, key_path) =
            (dir.join(ROOT_FILE), dir.join(CERT_FILE), dir.join(KEY_FILE));
        if key_path.exists() {
            let read = |path: &Path| {
                std::fs::read_to_string(path).map_err(|source| AuthorityError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })
            };
            let cert = |path: &Path| {
                Certificate::from_pem(read(path)?).map_err(|e| AuthorityError::BadFile {
                    path: path.to_path_buf(),
                    problem: format!("is not a PEM certificate: {e}"),
                })
            };
            let key = SigningKey::from_pkcs8_pem(&read(&key_path)?).map_err(|e| {
                AuthorityError::BadFile {
                    path: key_path.clone(),
                    problem: format!("is not a P-256 PKCS#8 PEM key: {e}"),
                }
            })?;
            let tsa = LocalTsa::new(key, cert(&cert_path)?, cert(&root_path)?)?;
            let public = SubjectPublicKeyInfoOwned::from_key(*tsa.key.verifying_key())
                .map_err(|e| build("encode a public key")(&e))?;
            if public != tsa.cert.tbs_certificate.subject_public_key_info {
                return Err(AuthorityError::BadFile {
                    path: cert_path,
                    problem: format!("is not the certificate of the key in {KEY_FILE}"),
                });
            }
            return Ok(tsa);
        }
        let tsa = LocalTsa::generate()?;
        std::fs::create_dir_all(dir).map_err(|source| AuthorityError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let key_pem = tsa
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| build("encode the key")(&e))?;
        write_private(&key_path, key_pem.as_bytes())?;
        for (path, pem) in [(&cert_path, tsa.cert_pem()?), (&root_path, tsa.root_pem()?)] {
            std::fs::write(path, pem).map_err(|source| AuthorityError::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
        }
        Ok(tsa)
    }

    /// The root certificate, PEM: what `[evidence] tsa_roots` names.
    pub fn root_pem(&self) -> Result<String, AuthorityError> {
        self.root
            .to_pem(LineEnding::LF)
            .map_err(|e| build("encode the root certificate")(&e))
    }

    /// The TSA's certificate, PEM.
    pub fn cert_pem(&self) -> Result<String, AuthorityError> {
        self.cert
            .to_pem(LineEnding::LF)
            .map_err(|e| build("encode the TSA certificate")(&e))
    }

    /// The TSA certificate's subject, as `verify` names the TSA.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// Answers a request (untrusted bytes) with a DER `TimeStampResp`: a token for its imprint
    /// at this machine's time, or a rejection saying why. `Err` only when signing fails.
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let (status, token) = match parse_request(request) {
            Ok(req) => (
                PkiStatusInfo {
                    status: PkiStatus::Accepted,
                    status_string: None,
                    fail_info: None,
                },
                Some(self.token(&req, SystemTime::now())?),
            ),
            Err(e) => {
                tracing::info!(reason = %e.reason, "demo TSA refused a request");
                (
                    PkiStatusInfo {
                        status: PkiStatus::Rejection,
                        status_string: None,
                        fail_info: Some(e.fail.into()),
                    },
                    None,
                )
            }
        };
        TimeStampResp {
            status,
            time_stamp_token: token,
        }
        .to_der()
        .map_err(|e| build("encode the response")(&e))
    }

    /// A `TimeStampToken` (CMS SignedData over a TSTInfo) for `req` at `at`.
    pub fn token(
        &self,
        req: &TsaRequest,
        at: SystemTime,
    ) -> Result<cms::content_info::ContentInfo, AuthorityError> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let int = |n: u64| -> Result<Int, AuthorityError> {
            Ok(Int::from(
                Uint::new(&n.to_be_bytes()).map_err(|e| build("encode a number")(&e))?,
            ))
        };
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: DEMO_POLICY,
            message_imprint: req.imprint.clone(),
            serial_number: int(serial)?,
            gen_time: GeneralizedTime::from_system_time(at)
                .map_err(|e| build("encode the time")(&e))?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: Some(GeneralName::DirectoryName(
                self.cert.tbs_certificate.subject.clone(),
            )),
            extensions: None,
        };
        let tst_der = tst.to_der().map_err(|e| build("encode the TSTInfo")(&e))?;
        let content = EncapsulatedContentInfo {
            econtent_type: oid::CT_TST_INFO,
            econtent: Some(
                Any::new(Tag::OctetString, tst_der).map_err(|e| build("wrap the TSTInfo")(&e))?,
            ),
        };
        let sha256 = AlgorithmIdentifierOwned {
            oid: oid::SHA_256,
            parameters: None,
        };
        // RFC 5035: the signed attributes name this certificate by its SHA-256.
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(Sha256::digest(&self.cert_der).to_vec())
                    .map_err(|e| build("encode the certificate hash")(&e))?,
                issuer_serial: None,
            }],
            policies: None,
        };
        let ess_attr = Attribute {
            oid: oid::SIGNING_CERTIFICATE_V2,
            values: SetOfVec::try_from(vec![
                Any::encode_from(&ess).map_err(|e| build("encode signingCertificateV2")(&e))?
            ])
            .map_err(|e| build("encode signingCertificateV2")(&e))?,
        };
        let mut signer = SignerInfoBuilder::new(
            &self.key,
            SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.cert.tbs_certificate.issuer.clone(),
                serial_number: self.cert.tbs_certificate.serial_number.clone(),
            }),
            sha256.clone(),
            &content,
            None,
        )
        .map_err(|e| build("start the signer info")(&e))?;
        signer
            .add_signed_attribute(ess_attr)
            .map_err(|e| build("add signingCertificateV2")(&e))?;
        let mut signed = SignedDataBuilder::new(&content);
        signed
            .add_digest_algorithm(sha256)
            .map_err(|e| build("add the digest algorithm")(&e))?;
        if req.cert_req {
            signed
                .add_certificate(CertificateChoices::Certificate(self.cert.clone()))
                .map_err(|e| build("add the certificate")(&e))?;
        }
        signed
            .add_signer_info::<SigningKey, DerSignature>(signer)
            .map_err(|e| build("sign the token")(&e))?;
        signed.build().map_err(|e| build("build the token")(&e))
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthorityError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |source| AuthorityError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
