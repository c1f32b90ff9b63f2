//! Unit tests of `warc.rs`.

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn t() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + chrono::Duration::milliseconds(250)
}

fn pair(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records(body) {
        out.extend(r.to_gzip().unwrap());
    }
    out
}

/// A warcinfo record, then a request and its response.
fn records(body: &[u8]) -> Vec<Record> {
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
    vec![warcinfo(t(), "Ballotwatch 0.1.0", "s"), req, resp]
}

#[test]
fn the_writer_says_where_each_record_went() {
    let recs = records(b"<p>vote by post</p>");
    let mut w = Writer::new();
    for r in &recs {
        w.append(r).unwrap();
    }
    let (bytes, written) = w.finish();
    assert_eq!(
        bytes,
        pair(b"<p>vote by post</p>"),
        "the same bytes as to_gzip"
    );
    assert_eq!(written.len(), 3);
    assert_eq!(written[0].offset, 0);
    let mut end = 0;
    for (r, wr) in recs.iter().zip(&written) {
        assert_eq!(wr.offset, end, "members are back to back");
        end = wr.offset + wr.length;
        // Each (offset, length) is exactly one record: read alone, it is that record.
        let member = &bytes[wr.offset as usize..end as usize];
        let back = read_all(member).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].header("WARC-Record-ID"), Some(r.id.as_str()));
        assert_eq!(
            back[0].header("WARC-Payload-Digest").map(str::to_string),
            wr.payload_digest
        );
        assert_eq!(wr.kind, r.kind);
        assert_eq!(wr.date, r.date);
    }
    assert_eq!(end, bytes.len() as u64);
    assert_eq!(written[0].payload_digest, None);
    assert_eq!(
        (written[1].http_status, written[1].http_mime.as_deref()),
        (None, None)
    );
    assert_eq!(
        (written[2].http_status, written[2].http_mime.as_deref()),
        (Some(200), Some("text/html"))
    );
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
    let err = read_all(&raw).unwrap_err().to_string();
    assert!(
        err.contains("record 1") && err.contains("WARC-Block-Digest"),
        "{err}"
    );
    let truncated = &r.to_bytes()[..50];
    assert!(read_all(truncated).is_err());
}

#[test]
fn a_huge_content_length_is_not_an_allocation() {
    // Before: `vec![0; Content-Length]` asked for 1 TiB here and aborted the process.
    let raw = b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 1099511627776\r\n\r\nhello";
    let err = read_all(raw).unwrap_err().to_string();
    assert!(
        err.contains("record 1") && err.contains("shorter than its Content-Length"),
        "{err}"
    );
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(raw).unwrap();
    let err = read_all(&gz.finish().unwrap()).unwrap_err().to_string();
    assert!(err.contains("shorter than its Content-Length"), "{err}");
}

#[test]
fn a_gzip_bomb_stops_at_the_unpacked_limit() {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(b"WARC/1.1\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    gz.write_all(&vec![0u8; 4 << 20]).unwrap();
    let bytes = gz.finish().unwrap();
    assert!(bytes.len() < 20_000, "{}", bytes.len());
    let mut r = RecordReader::new(&bytes[..], 1 << 20).unwrap();
    let err = r.next_record().unwrap_err().to_string();
    assert!(err.contains("more than 1048576 bytes"), "{err}");
    assert!(r.unpacked() <= 1 << 20);
}

#[test]
fn an_endless_header_line_is_refused_at_its_limit() {
    let mut raw = b"WARC/1.1\r\nWARC-Target-URI: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', MAX_HEADER_LINE + 10));
    let err = read_all(&raw).unwrap_err().to_string();
    assert!(err.contains("longer than"), "{err}");
    let many = format!("WARC/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS + 1));
    let err = read_all(many.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("header lines"), "{err}");
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
