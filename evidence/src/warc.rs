//! A small WARC 1.1 (ISO 28500:2017) writer and reader: `warcinfo`, `request` and `response`
//! records, each in its own gzip member (the usual `.warc.gz` layout), with SHA-256
//! `WARC-Block-Digest` and `WARC-Payload-Digest`.
//!
//! The reader exists for `verify`: it reads back exactly what the writer produces (and any
//! well-formed WARC), checks every block digest and returns the records' headers and payload
//! digests so they can be matched against the manifest.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::rc::Rc;

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

/// Headers of an HTTP response that describe the bytes on the wire rather than the stored
/// body. The capture store keeps the decoded body, so these are renamed with this prefix in the
/// WARC response block (and kept verbatim in the manifest).
pub const ORIGINAL_HEADER_PREFIX: &str = "X-Ballotwatch-Original-";

/// A WARC record to write.
#[derive(Debug, Clone)]
pub struct Record {
    /// `WARC-Type`.
    pub kind: &'static str,
    /// `WARC-Record-ID` (`<urn:uuid:…>`).
    pub id: String,
    /// `WARC-Date`.
    pub date: DateTime<Utc>,
    /// `WARC-Target-URI`, for request and response records.
    pub target_uri: Option<String>,
    /// `WARC-Concurrent-To`, linking a request to its response.
    pub concurrent_to: Option<String>,
    /// `Content-Type` of the block.
    pub content_type: &'static str,
    /// The block.
    pub block: Vec<u8>,
    /// Where the payload (the HTTP body) starts within the block, for `WARC-Payload-Digest`.
    pub payload_offset: Option<usize>,
}

/// `sha256:<hex>`.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A record id derived from `seed` (so the same capture always gets the same id): a UUID of
/// version 8 (custom) made from the seed's SHA-256.
pub fn record_id(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Removes characters that would break a header line (CR, LF).
fn header_value(v: &str) -> String {
    v.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

impl Record {
    /// `WARC-Payload-Digest` of the record (`sha256:<hex>` of the block after
    /// [`Record::payload_offset`]), when it has a payload.
    pub fn payload_digest(&self) -> Option<String> {
        self.payload_offset
            .map(|off| digest(self.block.get(off..).unwrap_or_default()))
    }

    /// The record in WARC 1.1 form (uncompressed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut h = String::from("WARC/1.1\r\n");
        h += &format!("WARC-Type: {}\r\n", self.kind);
        h += &format!("WARC-Record-ID: {}\r\n", self.id);
        h += &format!(
            "WARC-Date: {}\r\n",
            self.date.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        if let Some(uri) = &self.target_uri {
            h += &format!("WARC-Target-URI: {}\r\n", header_value(uri));
        }
        if let Some(c) = &self.concurrent_to {
            h += &format!("WARC-Concurrent-To: {c}\r\n");
        }
        h += &format!("Content-Type: {}\r\n", self.content_type);
        h += &format!("WARC-Block-Digest: {}\r\n", digest(&self.block));
        if let Some(d) = self.payload_digest() {
            h += &format!("WARC-Payload-Digest: {d}\r\n");
        }
        h += &format!("Content-Length: {}\r\n\r\n", self.block.len());
        let mut out = h.into_bytes();
        out.extend_from_slice(&self.block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    /// The record as one gzip member.
    pub fn to_gzip(&self) -> std::io::Result<Vec<u8>> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&self.to_bytes())?;
        enc.finish()
    }
}

/// A `.warc.gz` being written: each appended record becomes one gzip member, and where it went
/// is remembered, so an index (the WACZ's CDXJ) can point at the exact bytes written.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
    written: Vec<Written>,
}

/// Where one record went in the file a [`Writer`] produced, and what an index says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `WARC-Type`.
    pub kind: &'static str,
    /// `WARC-Record-ID`.
    pub id: String,
    /// `WARC-Target-URI`.
    pub target_uri: Option<String>,
    /// `WARC-Date`.
    pub date: DateTime<Utc>,
    /// Byte offset of the record's gzip member in the file.
    pub offset: u64,
    /// Length of that gzip member.
    pub length: u64,
    /// `WARC-Payload-Digest` (`sha256:<hex>`).
    pub payload_digest: Option<String>,
    /// For an HTTP response record: the status of its status line.
    pub http_status: Option<u16>,
    /// For an HTTP response record: its `Content-Type` without parameters.
    pub http_mime: Option<String>,
}

impl Writer {
    /// An empty file.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends `record` as one gzip member.
    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let member = record.to_gzip()?;
        let (http_status, http_mime) = if record.content_type.contains("msgtype=response") {
            http_head(record)
        } else if record.kind == "resource" {
            (None, Some(record.content_type.to_string()))
        } else {
            (None, None)
        };
        self.written.push(Written {
            kind: record.kind,
            id: record.id.clone(),
            target_uri: record.target_uri.clone(),
            date: record.date,
            offset: self.bytes.len() as u64,
            length: member.len() as u64,
            payload_digest: record.payload_digest(),
            http_status,
            http_mime,
        });
        self.bytes.extend_from_slice(&member);
        Ok(())
    }

    /// Records appended so far, in order.
    pub fn written(&self) -> &[Written] {
        &self.written
    }

    /// The file's bytes and where each record is in them.
    pub fn finish(self) -> (Vec<u8>, Vec<Written>) {
        (self.bytes, self.written)
    }
}

/// The status and `Content-Type` (without parameters) of an HTTP response block, read from the
/// head the writer built (everything before the payload).
fn http_head(record: &Record) -> (Option<u16>, Option<String>) {
    let end = record.payload_offset.unwrap_or(record.block.len());
    let head = String::from_utf8_lossy(record.block.get(..end).unwrap_or_default());
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let mime = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|m| !m.is_empty());
    (status, mime)
}

/// A `resource` record: `bytes` (of type `content_type`) as they are, named `uri`, made at
/// `date`. Screenshots go into a WACZ this way, under `urn:fullPage:<page URL>` as browser-based
/// crawlers name them, so ReplayWeb.page lists them with the page's other resources.
pub fn resource(
    uri: &str,
    date: DateTime<Utc>,
    content_type: &'static str,
    bytes: &[u8],
) -> Record {
    Record {
        kind: "resource",
        id: record_id(&format!("resource {uri} {}", digest(bytes))),
        date,
        target_uri: Some(uri.to_string()),
        concurrent_to: None,
        content_type,
        block: bytes.to_vec(),
        payload_offset: Some(0),
    }
}

/// The reason phrase for common statuses (WARC blocks carry a full status line).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// An HTTP/1.1 request block reconstructed from what is known of a capture: `GET`, the URL's
/// path and host, and the User-Agent Ballotwatch sends. (The fetcher does not keep the request
/// it sent; the manifest says so.) Returns the block and where its (empty) body starts.
pub fn request_block(url: &str, user_agent: &str) -> (Vec<u8>, usize) {
    let (target, host) = match url::Url::parse(url) {
        Ok(u) => {
            let mut t = u.path().to_string();
            if let Some(q) = u.query() {
                t.push('?');
                t.push_str(q);
            }
            let host = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                (None, _) => String::new(),
            };
            (t, host)
        }
        Err(_) => (url.to_string(), String::new()),
    };
    let block = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
        header_value(&target),
        header_value(&host),
        header_value(user_agent)
    )
    .into_bytes();
    let len = block.len();
    (block, len)
}

/// An HTTP/1.1 response block: status line, headers (transfer headers renamed, a true
/// `Content-Length` added), blank line, body. Returns the block and where the body starts.
pub fn response_block(status: u16, headers: &[(String, String)], body: &[u8]) -> (Vec<u8>, usize) {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let name = header_value(name);
        if matches!(
            lower.as_str(),
            "content-encoding" | "transfer-encoding" | "content-length"
        ) {
            h += &format!(
                "{ORIGINAL_HEADER_PREFIX}{name}: {}\r\n",
                header_value(value)
            );
        } else {
            h += &format!("{name}: {}\r\n", header_value(value));
        }
    }
    h += &format!("Content-Length: {}\r\n\r\n", body.len());
    let offset = h.len();
    let mut block = h.into_bytes();
    block.extend_from_slice(body);
    (block, offset)
}

/// A `warcinfo` record naming the software that wrote the file.
pub fn warcinfo(date: DateTime<Utc>, software: &str, seed: &str) -> Record {
    let block = format!(
        "software: {}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n",
        header_value(software)
    )
    .into_bytes();
    Record {
        kind: "warcinfo",
        id: record_id(&format!("warcinfo {seed}")),
        date,
        target_uri: None,
        concurrent_to: None,
        content_type: "application/warc-fields",
        block,
        payload_offset: None,
    }
}

/// Why a WARC could not be read back: the record (1-based) and the first problem in it.
#[derive(Debug, thiserror::Error)]
pub enum WarcReadError {
    /// The input could not be read or decompressed (a gzip bomb past the limit is one).
    #[error("record {record}: cannot decompress or read {what}: {source}")]
    Read {
        /// The record (1-based).
        record: usize,
        /// What was being read.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A header line longer than [`MAX_HEADER_LINE`].
    #[error("record {record}: a line of {what} is longer than {MAX_HEADER_LINE} bytes")]
    LineTooLong {
        /// The record (1-based).
        record: usize,
        /// Which line.
        what: &'static str,
    },
    /// The record does not start with a WARC version line.
    #[error("record {record}: starts with {start:?}, not a WARC version line")]
    NotWarc {
        /// The record (1-based).
        record: usize,
        /// Its first line, at most 80 characters.
        start: String,
    },
    /// The input ends before the blank line that closes the headers.
    #[error("record {record}: the file ends inside its headers")]
    EndsInHeaders {
        /// The record (1-based).
        record: usize,
    },
    /// More than [`MAX_HEADERS`] header lines.
    #[error("record {record}: more than {MAX_HEADERS} header lines")]
    TooManyHeaders {
        /// The record (1-based).
        record: usize,
    },
    /// A header line without a colon.
    #[error("record {record}: header line {line:?} has no colon")]
    NoColon {
        /// The record (1-based).
        record: usize,
        /// The line, at most 80 characters.
        line: String,
    },
    /// No parsable `Content-Length` header.
    #[error("record {record}: no valid Content-Length")]
    NoContentLength {
        /// The record (1-based).
        record: usize,
    },
    /// The input ends inside the block.
    #[error("record {record}: block shorter than its Content-Length {length} (the file ends after {got} bytes)")]
    ShortBlock {
        /// The record (1-based).
        record: usize,
        /// The declared length.
        length: u64,
        /// The bytes there were.
        got: u64,
    },
    /// The block is not followed by CRLF CRLF.
    #[error("record {record}: block is not followed by CRLF CRLF{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    BlockEnd {
        /// The record (1-based).
        record: usize,
        /// The read error, when the input ended there.
        source: Option<std::io::Error>,
    },
    /// An `application/http` block whose HTTP headers never end.
    #[error("record {record}: HTTP block has no end of headers")]
    HttpHeadersUnterminated {
        /// The record (1-based).
        record: usize,
    },
    /// A SHA-256 digest header that does not match the content.
    #[error("record {record} ({uri}): {header} says sha256:{claimed} but the content hashes to sha256:{actual}")]
    DigestMismatch {
        /// The record (1-based).
        record: usize,
        /// Its `WARC-Target-URI`, or "no target URI".
        uri: String,
        /// `WARC-Block-Digest` or `WARC-Payload-Digest`.
        header: &'static str,
        /// The hex digest the header states.
        claimed: String,
        /// The hex digest of the content.
        actual: String,
    },
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// Header (name, value) pairs after the version line, in order.
    pub headers: Vec<(String, String)>,
    /// SHA-256 hex of the HTTP payload (after the HTTP headers) of `application/http` blocks.
    pub payload_sha256: Option<String>,
}

impl ReadRecord {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Longest WARC header line the reader accepts (the writer's longest is a target URI).
pub const MAX_HEADER_LINE: usize = 64 * 1024;
/// Most header lines in one WARC record.
pub const MAX_HEADERS: usize = 256;

/// Reads WARC records one at a time from a stream (gzipped, multi-member, or plain), holding
/// one header line at a time and never a block: each block is hashed as it streams past, so a
/// record's `Content-Length` is never trusted for an allocation. Every record's
/// `WARC-Block-Digest` and `WARC-Payload-Digest` are checked when they are SHA-256.
pub struct RecordReader<'a> {
    r: Box<dyn BufRead + 'a>,
    /// Records read so far.
    n: usize,
    /// Bytes decompressed so far (gzip input only).
    unpacked: Rc<Cell<u64>>,
}

impl<'a> RecordReader<'a> {
    /// A reader over `input`; gzip is recognised by its magic bytes. Gzip input may unpack to
    /// at most `max_unpacked` bytes (a decompression bomb is an error, not hours of hashing).
    pub fn new<R: Read + 'a>(input: R, max_unpacked: u64) -> std::io::Result<RecordReader<'a>> {
        let mut raw = BufReader::new(input);
        let gz = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let unpacked = Rc::new(Cell::new(0));
        let r: Box<dyn BufRead + 'a> = if gz {
            Box::new(BufReader::new(Capped {
                inner: flate2::bufread::MultiGzDecoder::new(raw),
                used: unpacked.clone(),
                limit: max_unpacked,
            }))
        } else {
            Box::new(raw)
        };
        Ok(RecordReader { r, n: 0, unpacked })
    }

    /// Bytes decompressed so far (0 for plain input).
    pub fn unpacked(&self) -> u64 {
        self.unpacked.get()
    }

    /// One header line (without its line end), at most [`MAX_HEADER_LINE`] bytes; `None` at
    /// the end of the input.
    fn line(
        &mut self,
        buf: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<Option<String>, WarcReadError> {
        let record = self.n + 1;
        buf.clear();
        let got = (&mut self.r)
            .take(MAX_HEADER_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|source| WarcReadError::Read {
                record,
                what,
                source,
            })?;
        if got == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_HEADER_LINE {
            return Err(WarcReadError::LineTooLong { record, what });
        }
        let line = String::from_utf8_lossy(buf);
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// The next record, `Ok(None)` at the end; `Err` names the first problem and the record
    /// number (1-based).
    pub fn next_record(&mut self) -> Result<Option<ReadRecord>, WarcReadError> {
        let n = self.n + 1;
        let mut buf = Vec::new();
        // Skip blank lines between records.
        let version = loop {
            match self.line(&mut buf, "its version line")? {
                None => return Ok(None),
                Some(l) if l.trim().is_empty() => continue,
                Some(l) => break l,
            }
        };
        if !version.starts_with("WARC/1.") {
            return Err(WarcReadError::NotWarc {
                record: n,
                start: version.chars().take(80).collect(),
            });
        }
        let mut headers = Vec::new();
        loop {
            let l = self
                .line(&mut buf, "its headers")?
                .ok_or(WarcReadError::EndsInHeaders { record: n })?;
            if l.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return Err(WarcReadError::TooManyHeaders { record: n });
            }
            let (name, value) = l.split_once(':').ok_or_else(|| WarcReadError::NoColon {
                record: n,
                line: l.chars().take(80).collect(),
            })?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let rec = ReadRecord {
            headers,
            payload_sha256: None,
        };
        let len: u64 = rec
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .ok_or(WarcReadError::NoContentLength { record: n })?;
        let is_http = rec
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/http"));
        let mut block = Sha256::new();
        let mut payload = is_http.then(BodyHasher::default);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut got: u64 = 0;
        let mut limited = (&mut self.r).take(len);
        loop {
            let k = limited
                .read(&mut chunk)
                .map_err(|source| WarcReadError::Read {
                    record: n,
                    what: "its block",
                    source,
                })?;
            if k == 0 {
                break;
            }
            let bytes = &chunk[..k];
            block.update(bytes);
            if let Some(p) = payload.as_mut() {
                p.update(bytes);
            }
            got += k as u64;
        }
        if got < len {
            return Err(WarcReadError::ShortBlock {
                record: n,
                length: len,
                got,
            });
        }
        let mut end = [0u8; 4];
        self.r
            .read_exact(&mut end)
            .map_err(|e| WarcReadError::BlockEnd {
                record: n,
                source: Some(e),
            })?;
        if &end != b"\r\n\r\n" {
            return Err(WarcReadError::BlockEnd {
                record: n,
                source: None,
            });
        }
        check_digest(&rec, "WARC-Block-Digest", block.finalize().into(), n)?;
        let payload_sha256 = match payload {
            Some(p) => {
                let digest = p
                    .finish()
                    .ok_or(WarcReadError::HttpHeadersUnterminated { record: n })?;
                check_digest(&rec, "WARC-Payload-Digest", digest, n)?;
                Some(hex::encode(digest))
            }
            None => None,
        };
        self.n = n;
        Ok(Some(ReadRecord {
            payload_sha256,
            ..rec
        }))
    }
}

/// A reader that fails once more than `limit` bytes have come out of it.
struct Capped<R> {
    inner: R,
    used: Rc<Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.limit.saturating_sub(self.used.get());
        // One byte past the limit is enough to know it is exceeded.
        let want = usize::try_from(left.saturating_add(1)).map_or(buf.len(), |l| l.min(buf.len()));
        let k = self.inner.read(&mut buf[..want])?;
        if k as u64 > left {
            return Err(std::io::Error::other(format!(
                "it unpacks to more than {} bytes ([limits] verify_max_unpacked)",
                self.limit
            )));
        }
        self.used.set(self.used.get() + k as u64);
        Ok(k)
    }
}

/// Hashes what follows the first CRLF CRLF of a stream (an HTTP message's body), fed in chunks.
#[derive(Default)]
struct BodyHasher {
    /// How much of CRLF CRLF has just been seen; 4 once the body has started.
    matched: u8,
    body: Sha256,
}

impl BodyHasher {
    fn update(&mut self, bytes: &[u8]) {
        if self.matched == 4 {
            self.body.update(bytes);
            return;
        }
        for (i, &b) in bytes.iter().enumerate() {
            let want = b"\r\n\r\n"[usize::from(self.matched)];
            self.matched = if b == want {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == 4 {
                self.body.update(&bytes[i + 1..]);
                return;
            }
        }
    }

    /// The body's SHA-256, or `None` when the headers never ended.
    fn finish(self) -> Option<[u8; 32]> {
        (self.matched == 4).then(|| self.body.finalize().into())
    }
}

/// Reads every record of a (possibly gzipped, multi-member) WARC held in memory; see
/// [`RecordReader`]. `Err` names the first problem and the record number (1-based).
pub fn read_all(bytes: &[u8]) -> Result<Vec<ReadRecord>, WarcReadError> {
    let mut r = RecordReader::new(bytes, u64::MAX).map_err(|source| WarcReadError::Read {
        record: 1,
        what: "the input",
        source,
    })?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    Ok(out)
}

fn check_digest(
    rec: &ReadRecord,
    header: &'static str,
    actual: [u8; 32],
    n: usize,
) -> Result<(), WarcReadError> {
    let Some(value) = rec.header(header) else {
        return Ok(());
    };
    let Some(hexval) = value.strip_prefix("sha256:") else {
        return Ok(());
    };
    let actual = hex::encode(actual);
    if !hexval.eq_ignore_ascii_case(&actual) {
        return Err(WarcReadError::DigestMismatch {
            record: n,
            uri: rec
                .header("WARC-Target-URI")
                .unwrap_or("no target URI")
                .to_string(),
            header,
            claimed: hexval.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
