//! The fuzz targets: each feeds one input to a shipped library entry point that reads
//! untrusted bytes, exactly as the service calls it. A target passes when the call returns
//! (an `Err` is a fine answer to garbage); a panic, an abort (stack overflow, failed
//! allocation) or a hang is a finding.

// A build of some target groups (see fuzz/Cargo.toml) leaves the others' helpers unused.
#![cfg_attr(
    not(all(
        feature = "sources",
        feature = "media",
        feature = "search",
        feature = "evidence"
    )),
    allow(dead_code, unused_imports)
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ballotwatch_core::{Item, WatchTerms};
#[cfg(feature = "sources")]
use ballotwatch_ingest::sources::{
    bluesky, ct, ct_search, imap, mastodon, reddit, rss, telegram, threads, web, x,
};
use chrono::{TimeZone, Utc};
use url::Url;

/// One fuzz target.
pub struct Target {
    /// The name `scripts/fuzz` takes.
    pub name: &'static str,
    /// What it drives.
    pub about: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
    /// Prepares what `run` needs once per process (before the fork server starts).
    pub setup: fn(),
    /// The code under test contains a dependency's panic on purpose (`catch_unwind` around a
    /// parser whose assertion fires on hostile input): run without afl's
    /// abort-on-any-panic hook, so only a panic that escapes is a finding.
    pub contains_panics: bool,
}

fn no_setup() {}

/// Every target, in the order `scripts/fuzz all` runs them.
pub const ALL: &[Target] = &[
    #[cfg(feature = "sources")]
    Target {
        name: "feed",
        about: "RSS/Atom/JSON Feed bytes: rss::parse_feed then normalise_feed (HTML to text, sanitising)",
        run: feed,
        setup: no_setup,
        // quick-xml's encoding assertion, contained by `parse_feed`.
        contains_panics: true,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "mastodon",
        about: "a Mastodon timeline answer: Vec<Status> then normalise_status",
        run: mastodon,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "bluesky",
        about: "a Bluesky AppView answer: bluesky::parse_answer",
        run: bluesky,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "jetstream",
        about: "Jetstream events, one JSON per line: Event then normalise_event",
        run: jetstream,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "reddit",
        about: "a Reddit listing answer: reddit::parse_answer",
        run: reddit,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "imap",
        about: "a raw RFC 822 message: imap::read_message (report item, forwarded header)",
        run: imap_message,
        setup: no_setup,
        contains_panics: true,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "ct",
        about: "a CT log entry: ct::leaf::parse_leaf on the bytes (an RFC 6962 MerkleTreeLeaf), or a get-entries answer through ct::read_entry and ct::certificate_item",
        run: ct_entry,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "ct_tile",
        about: "a static-ct-api data tile through ct::read_tile and ct::certificate_item, and the same bytes as a checkpoint: ct::checkpoint::verify_checkpoint (signed note, tlog-checkpoint, RFC 6962 note signature)",
        run: ct_tile,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "ct_search",
        about: "a crt.sh-style CT search answer: ct_search::parse_answer, row_found and search_item",
        run: ct_search_answer,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "telegram",
        about: "a Telegram channel preview page: telegram::parse_page",
        run: telegram,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "x",
        about: "an X API v2 page (search or timeline): x::Page then normalise_tweet",
        run: x_page,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "threads",
        about: "a Threads API page (keyword search or profile posts): threads::Page then normalise_post",
        run: threads_page,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "sources")]
    Target {
        name: "web",
        about: "a watched or reported page: web::extract (with its metadata), report::wall, then web::version (diff against a previous version)",
        run: web_page,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "media")]
    Target {
        name: "image",
        about: "a media file: classify::media::decode_image (format sniffed from bytes, bounded decode)",
        run: image,
        setup: scratch_setup,
        contains_panics: false,
    },
    #[cfg(feature = "media")]
    Target {
        name: "provenance",
        about: "a media file's provenance: C2PA (JPEG, PNG, WebP RIFF), XMP, PNG text chunks, EXIF",
        run: provenance,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "media")]
    Target {
        name: "containers",
        about: "a media file's metadata fields: JPEG COM/EXIF, WebP (animated) EXIF, MP4/MOV udta/ilst/keys, and the video metadata reader",
        run: containers,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "search")]
    Target {
        name: "search",
        about: "a search query against a small index: SearchIndex::search",
        run: search,
        setup: search_setup,
        contains_panics: false,
    },
    #[cfg(feature = "evidence")]
    Target {
        name: "verify",
        about: "an evidence pack ZIP: evidence::verify_file",
        run: verify,
        setup: scratch_setup,
        contains_panics: false,
    },
    #[cfg(feature = "evidence")]
    Target {
        name: "warc",
        about: "a (gzipped) WARC file: evidence::warc::read_all",
        run: warc,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "evidence")]
    Target {
        name: "timestamp",
        about: "an RFC 3161 TimeStampResp or token: evidence::timestamp::{parse_response, verify_token}",
        run: timestamp,
        setup: no_setup,
        contains_panics: false,
    },
    #[cfg(feature = "evidence")]
    Target {
        name: "tsa-request",
        about: "a request to the demo's RFC 3161 TSA: evidence::timestamp::authority::LocalTsa::respond (parse_request, then sign or reject)",
        run: tsa_request,
        setup: tsa_setup,
        contains_panics: false,
    },
    #[cfg(feature = "config")]
    Target {
        name: "config",
        about: "ballotwatch.toml text: Config::from_toml (parse and validate)",
        run: config,
        setup: no_setup,
        contains_panics: false,
    },
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    ALL.iter().find(|t| t.name == name)
}

const SOURCE: &str = "Fuzzed Source";

fn watch() -> &'static WatchTerms {
    static WATCH: OnceLock<WatchTerms> = OnceLock::new();
    WATCH.get_or_init(|| {
        WatchTerms::new(&[
            "Anytown",
            "Riverside ward",
            "Jane Okafor",
            "polling station",
        ])
    })
}

/// A fixed URL (a literal that parses).
fn url(s: &str) -> Url {
    match Url::parse(s) {
        Ok(u) => u,
        Err(e) => panic!("the fuzz harness's own URL `{s}` does not parse: {e}"),
    }
}

/// Every item a target produces is used the way the pipeline uses it next (its full text and
/// JSON form), so a value that only breaks later still shows up here.
fn consume(items: &[Item]) {
    for item in items {
        let _ = item.full_text();
        let _ = serde_json::to_vec(item);
    }
}

#[cfg(feature = "sources")]
fn feed(data: &[u8]) {
    let base = url("https://news.example/feed.xml");
    if let Ok(feed) = rss::parse_feed(data, None, &base) {
        let items = rss::normalise::normalise_feed(SOURCE, &base, feed, watch());
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn mastodon(data: &[u8]) {
    let instance = url("https://social.example/");
    if let Ok(statuses) = serde_json::from_slice::<Vec<mastodon::Status>>(data) {
        let items: Vec<Item> = statuses
            .iter()
            .filter_map(|s| mastodon::normalise_status(SOURCE, &instance, s, watch()))
            .collect();
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn x_page(data: &[u8]) {
    if let Ok(page) = serde_json::from_slice::<x::Page>(data) {
        let items: Vec<Item> = page
            .data
            .iter()
            .filter_map(|t| x::normalise_tweet(SOURCE, t, &page.includes, watch()))
            .collect();
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn threads_page(data: &[u8]) {
    if let Ok(page) = serde_json::from_slice::<threads::Page>(data) {
        let items: Vec<Item> = page
            .data
            .iter()
            .filter_map(|p| {
                let at = p.timestamp.as_deref().and_then(threads::parse_time);
                threads::normalise_post(SOURCE, p, at, watch())
            })
            .collect();
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn bluesky(data: &[u8]) {
    let at = url("https://public.api.bsky.example/xrpc/app.bsky.feed.searchPosts");
    if let Ok(items) = bluesky::parse_answer(SOURCE, &at, data, watch()) {
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn jetstream(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<bluesky::jetstream::Event>(line) else {
            continue;
        };
        if let Ok(Some(item)) =
            bluesky::jetstream::normalise_event(SOURCE, &event, Some("someone.example"), watch())
        {
            consume(std::slice::from_ref(&item));
        }
    }
}

#[cfg(feature = "sources")]
fn reddit(data: &[u8]) {
    let at = url("https://www.reddit.example/r/anytown/new.json");
    if let Ok(items) = reddit::parse_answer(SOURCE, &at, data, watch()) {
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn imap_message(data: &[u8]) {
    if let Ok(report) = imap::read_message(SOURCE, "UID 1", data, watch()) {
        consume(std::slice::from_ref(&report.item));
    }
}

#[cfg(feature = "sources")]
fn ct_entry(data: &[u8]) {
    let keep_all = |_: &str| true;
    let answer = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| serde_json::from_value::<Vec<ct::EntryJson>>(v["entries"].clone()).ok());
    if let Some(entries) = answer {
        let items: Vec<Item> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| ct::read_entry(e, &keep_all).ok().flatten().map(|f| (i, f)))
            .map(|(i, found)| ct::certificate_item(SOURCE, "Fuzzed log", i as u64, &found))
            .collect();
        consume(&items);
        return;
    }
    if let Ok(entry) = ct::leaf::parse_leaf(data) {
        let _ = entry.cert.names.len();
    }
    let _ = ct::leaf::precertificate_der(data);
}

/// The origin the `ct_tile` seeds' checkpoint is signed for.
#[cfg(feature = "sources")]
const CT_ORIGIN: &str = "log.example/2026h1";

#[cfg(feature = "sources")]
fn ct_tile(data: &[u8]) {
    let keep_all = |_: &str| true;
    let read = ct::read_tile(data, ct::tile::TILE_WIDTH, 0..ct::tile::TILE_WIDTH, &keep_all);
    let items: Vec<Item> = read
        .entries
        .into_iter()
        .filter_map(|(i, r)| r.ok().flatten().map(|f| (i, f)))
        .map(|(i, found)| ct::certificate_item(SOURCE, "Fuzzed log", i, &found))
        .collect();
    consume(&items);
    // The seeds' checkpoint is signed by the test log with seed 31.
    static KEY: OnceLock<Option<(ct::sth::LogKey, [u8; 32])>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let spki = ct::testlog::TestLog::new(31).public_key_der();
        let key = ct::sth::LogKey::from_der(&spki).ok()?;
        Some((key, ct::checkpoint::log_id(&spki)))
    });
    if let Some((key, id)) = key {
        let _ = ct::checkpoint::verify_checkpoint(data, CT_ORIGIN, key, id);
    }
}

#[cfg(feature = "sources")]
fn ct_search_answer(data: &[u8]) {
    let base = url("https://crt.sh/");
    let keep_all = |_: &str| true;
    if let Ok(rows) = ct_search::parse_answer(data) {
        let items: Vec<Item> = rows
            .iter()
            .filter_map(|r| {
                ct_search::row_found(r, &base, &keep_all)
                    .map(|f| ct_search::search_item(SOURCE, &base, r, &f))
            })
            .collect();
        consume(&items);
    }
}

#[cfg(feature = "sources")]
fn telegram(data: &[u8]) {
    let page = String::from_utf8_lossy(data);
    if let Ok(messages) = telegram::parse_page(SOURCE, "anytownvotes", &page, watch()) {
        let items: Vec<Item> = messages.into_iter().map(|(_, item)| item).collect();
        consume(&items);
    }
}

/// The text of the previous version a watched page is compared with (the shape of the
/// polling-stations fixture: a title and a few lines).
const PREVIOUS_PAGE: &str = "Polling stations\nRiverside ward: St Mary's Church Hall, Bridge Street\nNorth ward: Anytown Library\nPolls are open 7am to 10pm.\n";

#[cfg(feature = "sources")]
fn web_page(data: &[u8]) {
    let at = url("https://anytown.gov.example/elections/polling-stations");
    let html = rss::decode_to_utf8(data, Some("text/html"));
    let page = web::extract(&html, &at);
    // A reported page read the same way is also checked for a login or cookie wall.
    let _ = ballotwatch_ingest::sources::report::wall(&at, &html, &page);
    let old = web::WebState {
        text_sha256: Some(ballotwatch_core::sha256_hex(PREVIOUS_PAGE.as_bytes())),
        text: Some(PREVIOUS_PAGE.to_string()),
    };
    let observed = Utc
        .timestamp_opt(1_777_000_000, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let (item, _state) = web::version(
        SOURCE,
        &at,
        page,
        &old,
        observed,
        watch(),
        &web::DiffLimits::default(),
    );
    if let Some(item) = item {
        consume(std::slice::from_ref(&item));
    }
}

/// A scratch folder for targets whose entry point reads a file (one per process, removed by
/// the OS with the fuzzer's temp dir; kept out of the loop so no input pays for creating it).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("BALLOTWATCH_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("ballotwatch-fuzz-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create the scratch folder {}: {e}", dir.display());
        }
        dir
    })
}

fn scratch_setup() {
    let _ = scratch();
}

/// Writes `data` to `name` in the scratch folder; each forked run writes its own copy.
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(format!("{}-{name}", std::process::id()));
    if let Err(e) = std::fs::write(&path, data) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

#[cfg(feature = "media")]
fn image(data: &[u8]) {
    let path = scratch_file("media", data);
    let _ = ballotwatch_classify::media::decode_image(&path);
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "media")]
fn provenance(data: &[u8]) {
    let report = ballotwatch_classify::detectors::media::provenance::examine(data);
    let _ = report.ai_score();
    let _ = report.is_trusted_capture();
}

#[cfg(feature = "media")]
fn containers(data: &[u8]) {
    use ballotwatch_classify::detectors::media::provenance::{containers, metadata};
    for f in containers::fields(data) {
        let _ = metadata::generator_field(&f.name, &f.text);
    }
    let mut cursor = std::io::Cursor::new(data);
    if let Ok(compact) = containers::read_bmff_metadata(&mut cursor, 1 << 20) {
        let _ = containers::fields(&compact);
    }
}

/// The index searched by the `search` target: a few items, built once per process.
#[cfg(feature = "search")]
fn search_index() -> &'static ballotwatch_index::SearchIndex {
    static INDEX: OnceLock<ballotwatch_index::SearchIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = scratch().join("index");
        let index = match ballotwatch_index::SearchIndex::recreate(&dir) {
            Ok(i) => i,
            Err(e) => panic!("cannot create the search index in {}: {e}", dir.display()),
        };
        let texts = [
            (
                "a",
                "Riverside polling station is closed because the bridge is shut",
            ),
            ("b", "Vote by text message: send your name to 60000"),
            ("c", "Anytown Borough Council results 2026"),
        ];
        let items: Vec<Item> = texts
            .iter()
            .map(|(id, text)| Item {
                id: (*id).to_string(),
                source: ballotwatch_core::SourceRef {
                    kind: "rss".into(),
                    name: "Anytown Echo".into(),
                },
                title: Some(format!("Post {id}")),
                text: Some((*text).to_string()),
                published_at: Utc.timestamp_opt(1_777_000_000, 0).single(),
                version: 1,
                ..Item::default()
            })
            .collect();
        let written = index.writer(15_000_000).and_then(|mut w| {
            for item in &items {
                w.upsert(&ballotwatch_index::IndexDoc {
                    item,
                    result: None,
                    incidents: &[],
                })?;
            }
            w.commit()?;
            w.close()
        });
        if let Err(e) = written.and_then(|()| index.reload()) {
            panic!("cannot build the search index: {e}");
        }
        index
    })
}

#[cfg(feature = "search")]
fn search_setup() {
    let _ = search_index();
}

#[cfg(feature = "search")]
fn search(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let req = ballotwatch_index::SearchRequest::new(query.into_owned(), 10);
    let _ = search_index().search(&req);
}

#[cfg(feature = "evidence")]
fn verify(data: &[u8]) {
    let options = ballotwatch_evidence::VerifyOptions::default();
    let _ = ballotwatch_evidence::verify_bytes(data, "pack.zip", &options);
}

#[cfg(feature = "evidence")]
fn warc(data: &[u8]) {
    let _ = ballotwatch_evidence::warc::read_all(data);
}

#[cfg(feature = "evidence")]
fn timestamp(data: &[u8]) {
    use ballotwatch_evidence::timestamp::{
        inspect_token, parse_response, verify_token, TrustRoots,
    };
    let token = parse_response(data).unwrap_or_else(|_| data.to_vec());
    let _ = inspect_token(&token);
    let _ = verify_token(&token, &[0; 32], Some(1), &TrustRoots::default());
}

#[cfg(feature = "evidence")]
static DEMO_TSA: OnceLock<ballotwatch_evidence::timestamp::authority::LocalTsa> = OnceLock::new();

#[cfg(feature = "evidence")]
fn tsa_setup() {
    let _ = demo_tsa();
}

#[cfg(feature = "evidence")]
fn demo_tsa() -> &'static ballotwatch_evidence::timestamp::authority::LocalTsa {
    DEMO_TSA.get_or_init(|| {
        ballotwatch_evidence::timestamp::authority::LocalTsa::generate()
            .unwrap_or_else(|e| panic!("the fuzz target's TSA: {e}"))
    })
}

#[cfg(feature = "evidence")]
fn tsa_request(data: &[u8]) {
    let _ = demo_tsa().respond(data);
}

#[cfg(feature = "config")]
fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ballotwatch_pipeline::Config::from_toml(text, Path::new("fuzzed.toml"));
}
