//! WACZ 1.1.1 (Web Archive Collection Zipped): the pack's WARC packaged so the captured pages
//! replay in a browser (ReplayWeb.page) and any WACZ tool can read them.
//!
//! A WACZ is a ZIP holding:
//!
//! * `archive/data.warc.gz`: the very bytes of the pack's `captures.warc.gz` (written once by
//!   [`crate::warc::Writer`]), stored, not compressed again;
//! * `archive/screenshots.warc.gz` (when the items have screenshots): each screenshot PNG as a
//!   `resource` record named `urn:fullPage:<page URL>`, the name browser-based crawlers give a
//!   full-page screenshot, so ReplayWeb.page lists it beside the page;
//! * `indexes/index.cdx`: a CDXJ index, one line per HTTP response or resource record, `SURT
//!   timestamp {json}` sorted, whose `offset` and `length` are where the writer put the record's gzip
//!   member (so a reader fetches exactly one record with one range request);
//! * `pages/pages.jsonl`: a header line, then one page per exported item (its URL when that was
//!   captured, else the capture it was read from), with its title and capture time;
//! * `datapackage.json`: every file above with its size and SHA-256, the WACZ version, when and
//!   by what it was written;
//! * `datapackage-digest.json`: the SHA-256 of `datapackage.json`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{EvidenceError, Result};
use crate::warc::Written;

/// The WACZ version written.
pub const WACZ_VERSION: &str = "1.1.1";
/// The WARC inside the WACZ.
pub const WARC_PATH: &str = "archive/data.warc.gz";
/// The screenshots' WARC inside the WACZ.
pub const SCREENSHOTS_WARC_PATH: &str = "archive/screenshots.warc.gz";
/// The `WARC-Target-URI` of a page's full-page screenshot is this followed by the page's URL.
pub const SCREENSHOT_URI_PREFIX: &str = "urn:fullPage:";
/// The CDXJ index inside the WACZ.
pub const INDEX_PATH: &str = "indexes/index.cdx";
/// The page list inside the WACZ.
pub const PAGES_PATH: &str = "pages/pages.jsonl";
/// The package description.
pub const DATAPACKAGE: &str = "datapackage.json";
/// The digest of the package description.
pub const DATAPACKAGE_DIGEST: &str = "datapackage-digest.json";

/// One entry of `pages/pages.jsonl`: a page a viewer lists and opens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// Unique within the WACZ (the item id).
    pub id: String,
    /// The captured URL.
    pub url: String,
    /// What the viewer shows for it.
    pub title: String,
    /// When it was captured (the capture's start), ISO 8601 UTC.
    #[serde(serialize_with = "iso")]
    pub ts: DateTime<Utc>,
}

fn iso<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// What a WACZ is made of.
#[derive(Debug, Clone, Copy)]
pub struct WaczInput<'a> {
    /// The `.warc.gz` bytes.
    pub warc: &'a [u8],
    /// Where each record is in them, as the writer made them.
    pub records: &'a [Written],
    /// The screenshots' `.warc.gz` bytes (empty: none, and no such file in the WACZ).
    pub screenshot_warc: &'a [u8],
    /// Where each record is in them.
    pub screenshot_records: &'a [Written],
    /// The pages to list.
    pub pages: &'a [Page],
    /// `title` of the package (e.g. the incidents exported).
    pub title: &'a str,
    /// `software` of the package, e.g. `Ballotwatch 0.1.0`.
    pub software: &'a str,
    /// `created` of the package (the export time).
    pub created: DateTime<Utc>,
}

/// `sha256:<hex>` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The SURT (Sort-friendly URI Reordering Transform) form of `url` that CDXJ lines are keyed
/// and sorted by, as the `surt` library and ReplayWeb.page compute it: scheme and `www.`
/// (`www2.`…) dropped, host labels (or an IPv4 address's bytes) reversed and comma-joined, a
/// non-default port kept, `)` then the path and the query with its parameters sorted; lower
/// case; no fragment. `https://www.Example.org:8443/a?b=2&a=1` becomes
/// `org,example:8443)/a?a=1&b=2`, `http://127.0.0.1:8080/x` becomes `1,0,0,127:8080)/x`. A
/// string that is not a URL is only lower-cased; a URL of another scheme than http(s) (a
/// screenshot's `urn:fullPage:…`) is its own key, as ReplayWeb.page looks it up.
pub fn surt(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else {
        return url.to_ascii_lowercase();
    };
    if !matches!(u.scheme(), "http" | "https") {
        return url.to_string();
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            strip_www(&d).rsplit('.').collect::<Vec<_>>().join(",")
        }
        Some(url::Host::Ipv4(ip)) => ip
            .octets()
            .iter()
            .rev()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(","),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => String::new(),
    };
    let mut key = host;
    if let Some(port) = u.port() {
        key.push_str(&format!(":{port}"));
    }
    key.push(')');
    key.push_str(u.path());
    if let Some(q) = u.query() {
        let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
        params.sort_unstable();
        if !params.is_empty() {
            key.push('?');
            key.push_str(&params.join("&"));
        }
    }
    key.to_lowercase()
}

/// `host` without a leading `www.`, `www2.`… (when something is left after it).
fn strip_www(host: &str) -> &str {
    let Some(rest) = host.strip_prefix("www") else {
        return host;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    match rest.strip_prefix('.') {
        Some(after) if !after.is_empty() => after,
        _ => host,
    }
}

/// The JSON block of a CDXJ line (field names as pywb and ReplayWeb.page read them).
#[derive(Serialize)]
struct CdxjBlock<'a> {
    url: &'a str,
    mime: &'a str,
    status: String,
    digest: &'a str,
    length: String,
    offset: String,
    filename: &'a str,
}

/// The CDXJ index of the response and resource records in `records` (those with a target
/// URI), sorted, one line each: `SURT YYYYMMDDhhmmss {"url", "mime", "status", "digest",
/// "length", "offset", "filename"}`; `offset` and `length` are the record's gzip member in
/// `filename`. A resource is served as it is: status 200.
pub fn cdxj(records: &[Written], filename: &str) -> String {
    let mut lines = cdxj_lines(records, filename);
    lines.sort_unstable();
    lines.concat()
}

fn cdxj_lines(records: &[Written], filename: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.kind == "response" || r.kind == "resource")
        .filter_map(|r| {
            let url = r.target_uri.as_deref()?;
            let status = match (r.kind, r.http_status) {
                ("resource", _) => "200".to_string(),
                (_, Some(s)) => s.to_string(),
                (_, None) => "-".into(),
            };
            let block = CdxjBlock {
                url,
                mime: r.http_mime.as_deref().unwrap_or("unk"),
                status,
                digest: r.payload_digest.as_deref().unwrap_or("-"),
                length: r.length.to_string(),
                offset: r.offset.to_string(),
                filename,
            };
            // Serialising a struct of strings cannot fail.
            let json = serde_json::to_string(&block).ok()?;
            Some(format!(
                "{} {} {json}\n",
                surt(url),
                r.date.format("%Y%m%d%H%M%S")
            ))
        })
        .collect()
}

/// `pages/pages.jsonl`: the `json-pages-1.0` header line, then one line per page.
pub fn pages_jsonl(pages: &[Page]) -> String {
    let mut out = serde_json::json!({
        "format": "json-pages-1.0",
        "id": "pages",
        "title": "All Pages",
    })
    .to_string();
    out.push('\n');
    for p in pages {
        // A struct of strings always serialises.
        if let Ok(line) = serde_json::to_string(p) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// One resource of `datapackage.json`.
#[derive(Serialize)]
struct Resource<'a> {
    name: String,
    path: &'a str,
    hash: String,
    bytes: u64,
}

/// `datapackage.json` for these files (path → bytes).
fn datapackage(files: &BTreeMap<&str, Vec<u8>>, input: &WaczInput<'_>) -> Result<Vec<u8>> {
    let resources: Vec<Resource<'_>> = files
        .iter()
        .map(|(path, bytes)| Resource {
            name: path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase(),
            path,
            hash: sha256(bytes),
            bytes: bytes.len() as u64,
        })
        .collect();
    let package = serde_json::json!({
        "profile": "data-package",
        "resources": resources,
        "title": input.title,
        "created": input.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        "wacz_version": WACZ_VERSION,
        "software": input.software,
    });
    serde_json::to_vec_pretty(&package)
        .map_err(|e| EvidenceError::InvalidRequest(format!("cannot serialise {DATAPACKAGE}: {e}")))
}

/// Every file of the WACZ, by path, in the order they go into the ZIP.
pub fn files(input: &WaczInput<'_>) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut content: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    content.insert(WARC_PATH, input.warc.to_vec());
    let mut index = cdxj_lines(input.records, file_name(WARC_PATH));
    if !input.screenshot_warc.is_empty() {
        content.insert(SCREENSHOTS_WARC_PATH, input.screenshot_warc.to_vec());
        index.extend(cdxj_lines(
            input.screenshot_records,
            file_name(SCREENSHOTS_WARC_PATH),
        ));
    }
    index.sort_unstable();
    content.insert(INDEX_PATH, index.concat().into_bytes());
    content.insert(PAGES_PATH, pages_jsonl(input.pages).into_bytes());
    let package = datapackage(&content, input)?;
    let digest = serde_json::to_vec_pretty(&serde_json::json!({
        "path": DATAPACKAGE,
        "hash": sha256(&package),
    }))
    .map_err(|e| {
        EvidenceError::InvalidRequest(format!("cannot serialise {DATAPACKAGE_DIGEST}: {e}"))
    })?;
    let mut out = vec![(DATAPACKAGE, package), (DATAPACKAGE_DIGEST, digest)];
    for path in [WARC_PATH, SCREENSHOTS_WARC_PATH, INDEX_PATH, PAGES_PATH] {
        if let Some(bytes) = content.remove(path) {
            out.push((path, bytes));
        }
    }
    Ok(out)
}

/// The last part of a path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The WACZ as ZIP bytes: the WARC stored as it is (it is gzip already, and the spec wants it
/// stored so it can be read by range), the small text files deflated. `name` is for errors.
///
/// # Example
///
/// ```
/// use ballotwatch_evidence::wacz::{self, Page, WaczInput};
/// use ballotwatch_evidence::warc;
///
/// let now = chrono::Utc::now();
/// let mut w = warc::Writer::new();
/// w.append(&warc::warcinfo(now, "Ballotwatch", "example")).unwrap();
/// let (warc_bytes, records) = w.finish();
/// let pages = [Page { id: "1".into(), url: "https://example.org/".into(),
///                     title: "Example".into(), ts: now }];
/// let bytes = wacz::zip(
///     &WaczInput { warc: &warc_bytes, records: &records, screenshot_warc: &[],
///                  screenshot_records: &[], pages: &pages,
///                  title: "Example", software: "Ballotwatch", created: now },
///     zip::DateTime::default(),
///     std::path::Path::new("example.wacz"),
/// )
/// .unwrap();
/// assert!(bytes.starts_with(b"PK"));
/// ```
pub fn zip(input: &WaczInput<'_>, stamp: zip::DateTime, name: &Path) -> Result<Vec<u8>> {
    let _span = tracing::info_span!(
        "wacz",
        records = input.records.len(),
        pages = input.pages.len()
    )
    .entered();
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let files = files(input)?;
    crate::pack::add_entries(
        &mut zw,
        files.iter().map(|(p, b)| (*p, b.as_slice())),
        stamp,
        name,
    )?;
    let cursor = zw.finish().map_err(|e| EvidenceError::Zip {
        path: name.to_path_buf(),
        message: format!("cannot finish: {e}"),
    })?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use chrono::TimeZone;
    use zip::CompressionMethod;

    use super::*;
    use crate::warc::{self, Record, Writer};

    fn t(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 28, 18, min, 7).unwrap()
    }

    /// A WARC of a warcinfo record, then a request and a response for each (url, body).
    fn warc_of(pages: &[(&str, &str, DateTime<Utc>)]) -> (Vec<u8>, Vec<Written>) {
        let mut w = Writer::new();
        w.append(&warc::warcinfo(t(0), "Ballotwatch test", "x"))
            .unwrap();
        for (url, body, date) in pages {
            let (block, off) = warc::response_block(
                200,
                &[("Content-Type".into(), "text/html; charset=utf-8".into())],
                body.as_bytes(),
            );
            let (req_block, req_off) = warc::request_block(url, "Ballotwatch/test");
            let id = warc::record_id(&format!("resp {url}"));
            w.append(&Record {
                kind: "request",
                id: warc::record_id(&format!("req {url}")),
                date: *date,
                target_uri: Some((*url).into()),
                concurrent_to: Some(id.clone()),
                content_type: "application/http;msgtype=request",
                block: req_block,
                payload_offset: Some(req_off),
            })
            .unwrap();
            w.append(&Record {
                kind: "response",
                id,
                date: *date,
                target_uri: Some((*url).into()),
                concurrent_to: None,
                content_type: "application/http;msgtype=response",
                block,
                payload_offset: Some(off),
            })
            .unwrap();
        }
        w.finish()
    }

    #[test]
    fn surt_keys_sort_by_host_from_the_right() {
        assert_eq!(
            surt("https://www.Example.org:8443/A?b=2&a=1#frag"),
            "org,example:8443)/a?a=1&b=2"
        );
        assert_eq!(surt("http://anytown-gov.uk/renew"), "uk,anytown-gov)/renew");
        // The same keys as the `surt` library gives (checked against its output).
        assert_eq!(
            surt("http://127.0.0.1:8080/posts/x"),
            "1,0,0,127:8080)/posts/x"
        );
        assert_eq!(surt("https://example.com"), "com,example)/");
        assert_eq!(surt("http://www2.example.com/"), "com,example)/");
        assert_eq!(surt("https://example.com:443/a"), "com,example)/a");
        assert_eq!(surt("http://example.com/a?"), "com,example)/a");
        assert_eq!(surt("https://[::1]:8080/a"), "::1:8080)/a");
        assert_eq!(surt("http://www.com/"), "com)/");
        assert_eq!(surt("http://wwwhat.example/"), "example,wwwhat)/");
        assert_eq!(surt("not a url"), "not a url");
        assert_eq!(
            surt("urn:fullPage:https://Example.org/A"),
            "urn:fullPage:https://Example.org/A",
            "another scheme is its own key, as ReplayWeb.page looks it up"
        );
    }

    #[test]
    fn cdxj_lines_point_at_the_response_records_the_writer_produced() {
        let (bytes, written) = warc_of(&[
            ("https://zeta.example/b", "<title>B</title>", t(2)),
            ("https://alpha.example/a", "<title>A</title>", t(1)),
        ]);
        let index = cdxj(&written, "data.warc.gz");
        let lines: Vec<&str> = index.lines().collect();
        assert_eq!(lines.len(), 2, "responses only:\n{index}");
        assert!(
            lines[0].starts_with("example,alpha)/a 20260428180107 {"),
            "{index}"
        );
        assert!(
            lines[1].starts_with("example,zeta)/b 20260428180207 {"),
            "{index}"
        );
        for line in lines {
            let json: serde_json::Value =
                serde_json::from_str(line.splitn(3, ' ').nth(2).unwrap()).unwrap();
            let offset: usize = json["offset"].as_str().unwrap().parse().unwrap();
            let length: usize = json["length"].as_str().unwrap().parse().unwrap();
            assert_eq!(json["filename"], "data.warc.gz");
            assert_eq!(json["mime"], "text/html");
            assert_eq!(json["status"], "200");
            // The range is exactly the response record for that URL, with that digest.
            let rec = warc::read_all(&bytes[offset..offset + length]).unwrap();
            assert_eq!(rec.len(), 1);
            assert_eq!(rec[0].header("WARC-Type"), Some("response"));
            assert_eq!(rec[0].header("WARC-Target-URI"), json["url"].as_str());
            assert_eq!(
                rec[0].header("WARC-Payload-Digest"),
                json["digest"].as_str()
            );
        }
    }

    fn unzip(bytes: &[u8]) -> Vec<(String, CompressionMethod, Vec<u8>)> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut b = Vec::new();
                f.read_to_end(&mut b).unwrap();
                (f.name().unwrap().into_owned(), f.compression(), b)
            })
            .collect()
    }

    #[test]
    fn a_wacz_lists_every_file_with_its_digest_and_stores_the_warc() {
        let (bytes, written) = warc_of(&[("https://alpha.example/a", "<p>a</p>", t(1))]);
        let pages = [Page {
            id: "rss:1".into(),
            url: "https://alpha.example/a".into(),
            title: "Postal votes: \"re-register\"".into(),
            ts: t(1),
        }];
        let input = WaczInput {
            warc: &bytes,
            records: &written,
            screenshot_warc: &[],
            screenshot_records: &[],
            pages: &pages,
            title: "Incident 3",
            software: "Ballotwatch 0.1.0",
            created: t(5),
        };
        let z = zip(&input, zip::DateTime::default(), Path::new("x.wacz")).unwrap();
        let entries = unzip(&z);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                DATAPACKAGE,
                DATAPACKAGE_DIGEST,
                WARC_PATH,
                INDEX_PATH,
                PAGES_PATH
            ]
        );
        let get = |n: &str| entries.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(get(WARC_PATH).1, CompressionMethod::Stored);
        assert_eq!(get(WARC_PATH).2, bytes, "the WARC is the writer's bytes");

        let package: serde_json::Value = serde_json::from_slice(&get(DATAPACKAGE).2).unwrap();
        assert_eq!(package["profile"], "data-package");
        assert_eq!(package["wacz_version"], "1.1.1");
        assert_eq!(package["title"], "Incident 3");
        assert_eq!(package["software"], "Ballotwatch 0.1.0");
        assert_eq!(package["created"], "2026-04-28T18:05:07Z");
        let resources = package["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 3);
        for r in resources {
            let (_, _, body) = get(r["path"].as_str().unwrap());
            assert_eq!(r["hash"], sha256(body));
            assert_eq!(r["bytes"], body.len() as u64);
        }
        let digest: serde_json::Value = serde_json::from_slice(&get(DATAPACKAGE_DIGEST).2).unwrap();
        assert_eq!(digest["path"], DATAPACKAGE);
        assert_eq!(digest["hash"], sha256(&get(DATAPACKAGE).2));

        let pages_text = String::from_utf8(get(PAGES_PATH).2.clone()).unwrap();
        let lines: Vec<serde_json::Value> = pages_text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["format"], "json-pages-1.0");
        assert_eq!(lines[1]["url"], "https://alpha.example/a");
        assert_eq!(lines[1]["title"], "Postal votes: \"re-register\"");
        assert_eq!(lines[1]["ts"], "2026-04-28T18:01:07.000Z");
        assert_eq!(lines.len(), 2);
    }
}
