//! RFC 6962 log entries: the `MerkleTreeLeaf` of a `get-entries` answer (an X.509 certificate
//! or a precertificate's TBSCertificate), the certificate fields Ballotwatch keeps, and the
//! names it is for.
//!
//! Every length read off the wire is checked against the bytes that are left before anything is
//! sliced or allocated, and the names kept per certificate are capped ([`MAX_NAMES`]), so a
//! hostile log costs at most linear work in what it sent.

use chrono::{DateTime, Utc};
use der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::TbsCertificate;

/// Most names read from one certificate (subject CN plus SAN dNSNames); real certificates carry
/// at most a few hundred.
pub const MAX_NAMES: usize = 1000;
/// Longest DNS name kept (RFC 1035: 253 characters).
const MAX_NAME_LEN: usize = 253;

/// Why an entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// The bytes end before a field does.
    #[error("the entry ends inside its {0}")]
    Truncated(&'static str),
    /// A version or type this reader does not know.
    #[error("unknown {what} {value}")]
    Unknown {
        /// Which field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// Bytes left after the entry's last field.
    #[error("{0} bytes left after the entry")]
    Trailing(usize),
    /// The certificate or TBSCertificate is not valid DER X.509.
    #[error("the {what} does not parse: {message}")]
    Certificate {
        /// `certificate` or `precertificate TBSCertificate`.
        what: &'static str,
        /// The DER decoder's reason.
        message: String,
    },
}

/// What kind of entry a leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A final certificate (`x509_entry`).
    Certificate,
    /// A precertificate (`precert_entry`): its TBSCertificate, poison extension removed.
    Precertificate,
}

impl EntryKind {
    /// `certificate` or `precertificate`, for text.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Certificate => "certificate",
            EntryKind::Precertificate => "precertificate",
        }
    }
}

/// One log entry, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Certificate or precertificate.
    pub kind: EntryKind,
    /// When the log says it took the entry (the leaf's timestamp).
    pub logged_at: Option<DateTime<Utc>>,
    /// The certificate's DER (`x509_entry`) or the TBSCertificate's DER (`precert_entry`).
    pub der: Vec<u8>,
    /// The certificate's fields.
    pub cert: CertInfo,
}

/// The fields of a certificate Ballotwatch keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CertInfo {
    /// Subject CN and every SAN dNSName: lower case, IDNs decoded to Unicode, a leading `*.`
    /// removed, each once, in the certificate's order, at most [`MAX_NAMES`].
    pub names: Vec<String>,
    /// The issuer's distinguished name (RFC 4514).
    pub issuer: String,
    /// Start of validity.
    pub not_before: Option<DateTime<Utc>>,
    /// End of validity.
    pub not_after: Option<DateTime<Utc>>,
    /// The serial number as lower-case hex.
    pub serial: String,
}

/// A cursor over wire bytes that never reads past the end.
pub(crate) struct Reader<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], LeafError> {
        if self.rest.len() < n {
            return Err(LeafError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn uint(&mut self, bytes: usize, what: &'static str) -> Result<u64, LeafError> {
        Ok(self
            .take(bytes, what)?
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    /// A TLS `opaque<..2^(8*len_bytes)-1>`: the length is checked against what is left.
    pub(crate) fn opaque(
        &mut self,
        len_bytes: usize,
        what: &'static str,
    ) -> Result<&'a [u8], LeafError> {
        let n = self.uint(len_bytes, what)?;
        let n = usize::try_from(n).map_err(|_| LeafError::Truncated(what))?;
        self.take(n, what)
    }
}

/// Reads one `MerkleTreeLeaf` (a `get-entries` `leaf_input`, base64-decoded).
pub fn parse_leaf(leaf_input: &[u8]) -> Result<Entry, LeafError> {
    let mut r = Reader { rest: leaf_input };
    let version = r.uint(1, "version")?;
    if version != 0 {
        return Err(LeafError::Unknown {
            what: "leaf version",
            value: version,
        });
    }
    let leaf_type = r.uint(1, "leaf type")?;
    if leaf_type != 0 {
        return Err(LeafError::Unknown {
            what: "leaf type",
            value: leaf_type,
        });
    }
    let timestamp = r.uint(8, "timestamp")?;
    let entry_type = r.uint(2, "entry type")?;
    let (kind, der) = match entry_type {
        0 => (EntryKind::Certificate, r.opaque(3, "certificate")?),
        1 => {
            r.take(32, "issuer key hash")?;
            (EntryKind::Precertificate, r.opaque(3, "TBSCertificate")?)
        }
        other => {
            return Err(LeafError::Unknown {
                what: "entry type",
                value: other,
            })
        }
    };
    r.opaque(2, "extensions")?;
    if !r.rest.is_empty() {
        return Err(LeafError::Trailing(r.rest.len()));
    }
    let cert = match kind {
        EntryKind::Certificate => read_certificate(der)?,
        EntryKind::Precertificate => read_tbs(der)?,
    };
    Ok(Entry {
        kind,
        logged_at: i64::try_from(timestamp)
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis),
        der: der.to_vec(),
        cert,
    })
}

/// The precertificate's own DER from a precert entry's `extra_data` (`PrecertChainEntry`: the
/// precertificate first, then the chain): what crt.sh names it by. `None` when it is not there.
pub fn precertificate_der(extra_data: &[u8]) -> Option<&[u8]> {
    let mut r = Reader { rest: extra_data };
    r.opaque(3, "precertificate").ok().filter(|d| !d.is_empty())
}

/// The fields of a DER X.509 certificate.
pub fn read_certificate(der: &[u8]) -> Result<CertInfo, LeafError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| LeafError::Certificate {
        what: "certificate",
        message: e.to_string(),
    })?;
    Ok(cert_info(&cert.tbs_certificate))
}

/// The fields of a DER TBSCertificate (a precertificate entry).
pub fn read_tbs(der: &[u8]) -> Result<CertInfo, LeafError> {
    let tbs = TbsCertificate::from_der(der).map_err(|e| LeafError::Certificate {
        what: "precertificate TBSCertificate",
        message: e.to_string(),
    })?;
    Ok(cert_info(&tbs))
}

fn cert_info(tbs: &TbsCertificate) -> CertInfo {
    let mut names = Vec::new();
    let cn = der::oid::db::rfc4519::CN;
    'subject: for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == cn {
                if let Ok(s) = std::str::from_utf8(atv.value.value()) {
                    push_name(&mut names, s);
                }
                if names.len() >= MAX_NAMES {
                    break 'subject;
                }
            }
        }
    }
    // A SAN extension that does not parse leaves the names the subject gave.
    if let Ok(Some((_, san))) = tbs.get::<SubjectAltName>() {
        for general in san.0.iter() {
            if names.len() >= MAX_NAMES {
                break;
            }
            if let GeneralName::DnsName(dns) = general {
                push_name(&mut names, dns.as_str());
            }
        }
    }
    let time = |t: x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs())
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
    };
    CertInfo {
        names,
        issuer: tbs.issuer.to_string(),
        not_before: time(tbs.validity.not_before),
        not_after: time(tbs.validity.not_after),
        serial: hex::encode(tbs.serial_number.as_bytes()),
    }
}

/// Adds `raw` as a name when it is a DNS name: lower case, `*.` removed, IDN decoded, once.
fn push_name(names: &mut Vec<String>, raw: &str) {
    let Some(name) = dns_name(raw) else { return };
    if !names.contains(&name) {
        names.push(name);
    }
}

/// `raw` (a CN or dNSName) as a DNS name Ballotwatch compares: `None` when it is not one (a
/// person's name in a CN, an IP address, too long).
pub fn dns_name(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('.');
    let raw = raw.strip_prefix("*.").unwrap_or(raw);
    if raw.is_empty() || raw.len() > MAX_NAME_LEN || !raw.contains('.') {
        return None;
    }
    let ok = raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !ok || raw.split('.').any(str::is_empty) || raw.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    if !lower.split('.').any(|l| l.starts_with("xn--")) {
        return Some(lower);
    }
    let (unicode, result) = idna::domain_to_unicode(&lower);
    Some(if result.is_ok() { unicode } else { lower })
}

/// The timestamp (milliseconds since the epoch) of a `MerkleTreeLeaf`, read without the rest.
pub fn leaf_timestamp(leaf_input: &[u8]) -> Option<i64> {
    let mut r = Reader { rest: leaf_input };
    if r.uint(1, "version").ok()? != 0 || r.uint(1, "leaf type").ok()? != 0 {
        return None;
    }
    i64::try_from(r.uint(8, "timestamp").ok()?).ok()
}
