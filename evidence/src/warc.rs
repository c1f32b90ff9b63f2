//! A small WARC 1.1 (ISO 28500:2017) writer and reader: `warcinfo`, `request` and `response`
//! records, each in its own gzip member (the usual `.warc.gz` layout), with SHA-256
//! `WARC-Block-Digest` and `WARC-Payload-Digest`.
//!
//! The reader exists for `verify`: it reads back exactly what the writer produces (and any
//! well-formed WARC), checks every block digest and returns the records' headers and payload
//! digests so they can be matched against the manifest.

use std::io::{BufRead, BufReader, Read, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::read::MultiGzDecoder;
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
        if let Some(off) = self.payload_offset {
            let payload = self.block.get(off..).unwrap_or_default();
            h += &format!("WARC-Payload-Digest: {}\r\n", digest(payload));
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

/// Reads every record of a (possibly gzipped, multi-member) WARC, checking each record's
/// `WARC-Block-Digest` and `WARC-Payload-Digest` when they are SHA-256. `Err` names the first
/// problem and the record number (1-based).
pub fn read_all(bytes: &[u8]) -> Result<Vec<ReadRecord>, String> {
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = if gz {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut r = BufReader::new(reader);
    let mut out = Vec::new();
    loop {
        let n = out.len() + 1;
        let mut line = String::new();
        // Skip blank lines between records.
        loop {
            line.clear();
            let got = r
                .read_line(&mut line)
                .map_err(|e| format!("record {n}: cannot decompress or read: {e}"))?;
            if got == 0 {
                return Ok(out);
            }
            if !line.trim().is_empty() {
                break;
            }
        }
        if !line.starts_with("WARC/1.") {
            return Err(format!(
                "record {n}: starts with {:?}, not a WARC version line",
                line.trim_end()
            ));
        }
        let mut headers = Vec::new();
        loop {
            line.clear();
            r.read_line(&mut line)
                .map_err(|e| format!("record {n}: cannot read its headers: {e}"))?;
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            let (name, value) = l
                .split_once(':')
                .ok_or_else(|| format!("record {n}: header line {l:?} has no colon"))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let rec = ReadRecord {
            headers,
            payload_sha256: None,
        };
        let len: usize = rec
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("record {n}: no valid Content-Length"))?;
        let mut block = vec![0u8; len];
        r.read_exact(&mut block)
            .map_err(|e| format!("record {n}: block shorter than its Content-Length {len}: {e}"))?;
        let mut end = [0u8; 4];
        r.read_exact(&mut end)
            .map_err(|e| format!("record {n}: missing the CRLF CRLF after its block: {e}"))?;
        if &end != b"\r\n\r\n" {
            return Err(format!("record {n}: block is not followed by CRLF CRLF"));
        }
        check_digest(&rec, "WARC-Block-Digest", &block, n)?;
        let is_http = rec
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/http"));
        let payload_sha256 = if is_http {
            let start = find_body(&block)
                .ok_or_else(|| format!("record {n}: HTTP block has no end of headers"))?;
            let payload = &block[start..];
            check_digest(&rec, "WARC-Payload-Digest", payload, n)?;
            Some(hex::encode(Sha256::digest(payload)))
        } else {
            None
        };
        out.push(ReadRecord {
            payload_sha256,
            ..rec
        });
    }
}

/// Offset of the body in an HTTP message (after the first CRLF CRLF).
fn find_body(block: &[u8]) -> Option<usize> {
    block
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

fn check_digest(rec: &ReadRecord, header: &str, bytes: &[u8], n: usize) -> Result<(), String> {
    let Some(value) = rec.header(header) else {
        return Ok(());
    };
    let Some(hexval) = value.strip_prefix("sha256:") else {
        return Ok(());
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if !hexval.eq_ignore_ascii_case(&actual) {
        return Err(format!(
            "record {n} ({}): {header} says sha256:{hexval} but the content hashes to sha256:{actual}",
            rec.header("WARC-Target-URI").unwrap_or("no target URI")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + chrono::Duration::milliseconds(250)
    }

    fn pair(body: &[u8]) -> Vec<u8> {
        let (block, off) = response_block(
            200,
            &[
                ("Content-Type".into(), "text/html".into()),
                ("content-encoding".into(), "gzip".into()),
            ],
            body,
        );
        let resp = Record {
            kind: "response",
            id: record_id("resp"),
            date: t(),
            target_uri: Some("https://anytown-gov.uk/vote?x=1".into()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block,
            payload_offset: Some(off),
        };
        let (req_block, req_off) =
            request_block("https://anytown-gov.uk/vote?x=1", "Ballotwatch/0.1.0");
        let req = Record {
            kind: "request",
            id: record_id("req"),
            date: t(),
            target_uri: resp.target_uri.clone(),
            concurrent_to: Some(resp.id.clone()),
            content_type: "application/http;msgtype=request",
            block: req_block,
            payload_offset: Some(req_off),
        };
        let mut out = warcinfo(t(), "Ballotwatch 0.1.0", "s").to_gzip().unwrap();
        out.extend(req.to_gzip().unwrap());
        out.extend(resp.to_gzip().unwrap());
        out
    }

    #[test]
    fn records_have_the_warc_1_1_headers_and_digests() {
        let (block, off) = response_block(200, &[], b"hello");
        let r = Record {
            kind: "response",
            id: record_id("x"),
            date: t(),
            target_uri: Some("https://a.example/".into()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block,
            payload_offset: Some(off),
        };
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(
            text.starts_with("WARC/1.1\r\nWARC-Type: response\r\n"),
            "{text}"
        );
        assert!(
            text.contains("WARC-Date: 2026-05-01T08:00:00.250Z\r\n"),
            "{text}"
        );
        assert!(text.contains("WARC-Target-URI: https://a.example/\r\n"));
        // sha256("hello")
        assert!(text.contains(
            "WARC-Payload-Digest: sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\r\n"
        ));
        assert!(text.contains("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"));
        assert!(
            r.id.starts_with("<urn:uuid:") && r.id.len() == 47,
            "{}",
            r.id
        );
    }

    #[test]
    fn what_is_written_reads_back_with_payload_digests() {
        let bytes = pair(b"<html>fake council</html>");
        let recs = read_all(&bytes).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].header("WARC-Type"), Some("warcinfo"));
        assert_eq!(recs[1].header("WARC-Type"), Some("request"));
        assert_eq!(recs[2].header("WARC-Type"), Some("response"));
        assert_eq!(
            recs[1].header("WARC-Concurrent-To"),
            recs[2].header("WARC-Record-ID")
        );
        assert_eq!(
            recs[2].payload_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"<html>fake council</html>")).as_str())
        );
        assert_eq!(
            recs[1].payload_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"")).as_str())
        );
    }

    #[test]
    fn transfer_headers_are_renamed_so_tools_do_not_decode_twice() {
        let (block, _) = response_block(200, &[("Content-Encoding".into(), "gzip".into())], b"x");
        let text = String::from_utf8(block).unwrap();
        assert!(
            text.contains("X-Ballotwatch-Original-Content-Encoding: gzip\r\n"),
            "{text}"
        );
        assert!(!text.contains("\r\nContent-Encoding"), "{text}");
    }

    #[test]
    fn a_changed_byte_fails_the_block_digest() {
        let (block, off) = response_block(200, &[], b"hello");
        let r = Record {
            kind: "response",
            id: record_id("x"),
            date: t(),
            target_uri: Some("https://a.example/".into()),
            concurrent_to: None,
            content_type: "application/http;msgtype=response",
            block,
            payload_offset: Some(off),
        };
        let mut raw = r.to_bytes();
        let pos = raw.len() - 6;
        raw[pos] ^= 1;
        let err = read_all(&raw).unwrap_err();
        assert!(
            err.contains("record 1") && err.contains("WARC-Block-Digest"),
            "{err}"
        );
        let truncated = &r.to_bytes()[..50];
        assert!(read_all(truncated).is_err());
    }

    proptest! {
        #[test]
        fn any_body_and_headers_round_trip(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            name in "[A-Za-z-]{1,20}",
            value in "[ -~\r\n]{0,40}",
            status in 100u16..600,
        ) {
            let (block, off) = response_block(status, &[(name, value)], &body);
            let r = Record {
                kind: "response",
                id: record_id("p"),
                date: t(),
                target_uri: Some("https://a.example/\r\nX: y".into()),
                concurrent_to: None,
                content_type: "application/http;msgtype=response",
                block,
                payload_offset: Some(off),
            };
            let recs = read_all(&r.to_gzip().unwrap()).unwrap();
            prop_assert_eq!(recs.len(), 1);
            let expected = hex::encode(Sha256::digest(&body));
            prop_assert_eq!(recs[0].payload_sha256.as_deref(), Some(expected.as_str()));
            prop_assert_eq!(recs[0].header("WARC-Target-URI"), Some("https://a.example/X: y"));
        }
    }
}
