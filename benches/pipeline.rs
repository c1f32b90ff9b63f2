//! `cargo bench --bench pipeline`: ingest throughput and search latency, each against a baseline
//! measured in the same run.
//!
//! 1. Ingest: a generated RSS 2.0 feed of 200 entries (~1 KB of text each).
//!    - baseline: `feed_rs::parser::parse` alone;
//!    - parse + normalise (the RSS source's code: decoding, HTML to text, sanitizing, watch terms);
//!    - the whole path: parse + normalise + capture blob + store transaction + classify + index
//!      upsert + commit.
//! 2. Search: p50/p99 latency over 100k stored, indexed items (BENCH_SEARCH_ITEMS overrides)
//!    for a mix of word, phrase, filter and date queries, against `*` (match-all, the fixed cost
//!    of a search through the same code) as the baseline; and the CLI's path (search + loading
//!    the hits from the store).

use std::time::{Duration, Instant};

use ballotwatch_classify::Classifier;
use ballotwatch_core::config::DetectorsConfig;
use ballotwatch_core::{Capture, Item, SourceRef, WatchTerms};
use ballotwatch_index::{IndexDoc, SearchIndex, SearchRequest, SortOrder};
use ballotwatch_ingest::sources::rss::{normalise::normalise_feed, parse_feed};
use ballotwatch_store::{PollRecord, Store};
use chrono::Utc;
use url::Url;

const FEED_ENTRIES: usize = 200;
const WORDS: &[&str] = &[
    "council",
    "ward",
    "polling",
    "station",
    "ballot",
    "count",
    "postal",
    "vote",
    "candidate",
    "election",
    "Riverside",
    "Castle",
    "Northgate",
    "library",
    "flood",
    "bridge",
    "bus",
    "school",
    "housing",
    "budget",
    "hustings",
    "leaflet",
    "turnout",
    "register",
    "deadline",
    "photo",
    "ID",
    "pencil",
    "queue",
    "result",
    "declaration",
    "recount",
    "agent",
    "mayor",
    "planning",
    "park",
    "road",
    "bins",
    "recycling",
    "nursery",
    "clinic",
    "market",
    "festival",
    "rugby",
    "cricket",
];

/// A small deterministic generator, so every run measures the same material.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn words(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            // Skewed: early words are common, later ones rare, as in real text.
            let r = (self.next() % 1000) as f64 / 1000.0;
            let idx = ((r * r) * WORDS.len() as f64) as usize;
            s.push_str(WORDS[idx.min(WORDS.len() - 1)]);
        }
        s
    }
}

fn feed(n: usize, rng: &mut Rng) -> String {
    let mut items = String::new();
    for i in 0..FEED_ENTRIES {
        let text = rng.words(150); // ~1 KB
        items += &format!(
            "<item><title>Report {n}-{i}: {}</title><link>https://news.example/{n}/{i}</link>\
             <guid isPermaLink=\"false\">bench-{n}-{i}</guid><pubDate>Mon, 27 Apr 2026 10:{:02}:00 GMT</pubDate>\
             <description><![CDATA[<p>{text}</p><p>More at <a href=\"/more/{i}\">the council</a>.</p>]]></description></item>\n",
            rng.words(6),
            i % 60
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Bench</title>\
         <link>https://news.example/</link><description>bench</description>{items}</channel></rss>"
    )
}

fn per_sec(items: usize, d: Duration) -> f64 {
    items as f64 / d.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    let watch = WatchTerms::new(&["polling station", "Riverside", "ballot"]);
    let base = Url::parse("https://news.example/rss").unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let rounds = 20;
    let feeds: Vec<String> = (0..rounds).map(|n| feed(n, &mut rng)).collect();
    let feed_bytes = feeds[0].len();
    println!(
        "ingest: {rounds} feeds x {FEED_ENTRIES} entries, {} KB per feed",
        feed_bytes / 1024
    );

    // Baseline: feed-rs alone.
    let t = Instant::now();
    for f in &feeds {
        let parsed = feed_rs::parser::parse(f.as_bytes()).unwrap();
        assert_eq!(parsed.entries.len(), FEED_ENTRIES);
    }
    let baseline = per_sec(rounds * FEED_ENTRIES, t.elapsed());

    // Parse + normalise.
    let t = Instant::now();
    for f in &feeds {
        let parsed = parse_feed(f.as_bytes(), Some("application/rss+xml"), &base).unwrap();
        let items = normalise_feed("Bench", &base, parsed, &watch);
        assert_eq!(items.len(), FEED_ENTRIES);
    }
    let normalise = per_sec(rounds * FEED_ENTRIES, t.elapsed());

    // The whole path into a fresh store and index.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
    let mut writer = index.writer(64 << 20).unwrap();
    let classifier = Classifier::new(Vec::new(), DetectorsConfig::default());
    let t = Instant::now();
    for f in &feeds {
        let started = Utc::now();
        let parsed = parse_feed(f.as_bytes(), Some("application/rss+xml"), &base).unwrap();
        let items = normalise_feed("Bench", &base, parsed, &watch);
        let sha = store.put_blob(f.as_bytes()).unwrap();
        let capture = Capture {
            url: base.to_string(),
            final_url: base.to_string(),
            status: 200,
            headers: vec![("content-type".into(), "application/rss+xml".into())],
            sha256: sha,
            size: f.len() as u64,
            started_at: started,
            finished_at: Utc::now(),
        };
        store
            .record_poll(
                "Bench",
                PollRecord {
                    captures: vec![capture],
                    items: items.into_iter().map(|i| (0, i)).collect(),
                    etag: None,
                    last_modified: None,
                    cursor: None,
                    not_modified: false,
                    attempted_at: started,
                    next_attempt_at: started,
                },
            )
            .unwrap();
        classify_and_index(&store, &classifier, &mut writer);
    }
    let full = per_sec(rounds * FEED_ENTRIES, t.elapsed());
    assert_eq!(store.count_items().unwrap() as usize, rounds * FEED_ENTRIES);

    println!("  baseline feed-rs parse only         {baseline:>10.0} items/s");
    println!(
        "  parse + normalise                   {normalise:>10.0} items/s  ({:.2}x baseline)",
        normalise / baseline
    );
    println!(
        "  parse+normalise+store+classify+index {full:>9.0} items/s  ({:.2}x baseline)",
        full / baseline
    );

    search_bench();
}

fn classify_and_index(
    store: &Store,
    classifier: &Classifier,
    writer: &mut ballotwatch_index::IndexWriter,
) {
    loop {
        let batch = store.pending_classification(256).unwrap();
        if batch.is_empty() {
            break;
        }
        let results: Vec<_> = batch
            .iter()
            .map(|s| (s.seq, classifier.classify(&s.item)))
            .collect();
        store.save_results(&results).unwrap();
    }
    loop {
        let batch = store.pending_index(512).unwrap();
        if batch.is_empty() {
            break;
        }
        for s in &batch {
            writer
                .upsert(&IndexDoc {
                    item: &s.item,
                    result: s.result.as_ref(),
                    incident_id: s.incident_id,
                })
                .unwrap();
        }
        writer.commit().unwrap();
        let seqs: Vec<i64> = batch.iter().map(|s| s.seq).collect();
        store.mark_indexed(&seqs).unwrap();
    }
}

fn search_bench() {
    let n: usize = std::env::var("BENCH_SEARCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
    let mut writer = index.writer(128 << 20).unwrap();
    let classifier = Classifier::new(Vec::new(), DetectorsConfig::default());
    let mut rng = Rng(0xfeed_0000_0000_0042);
    let sources = [
        "Anytown Echo",
        "Riverside Gazette",
        "Castle Courier",
        "Northgate News",
    ];
    let t = Instant::now();
    let batch = 1000;
    for b in 0..n.div_ceil(batch) {
        let started = Utc::now();
        let body = format!("bench batch {b}");
        let sha = store.put_blob(body.as_bytes()).unwrap();
        let items: Vec<(usize, Item)> = (0..batch.min(n - b * batch))
            .map(|i| {
                let k = b * batch + i;
                let source = sources[k % sources.len()];
                let item = Item {
                    id: Item::derive_id(source, &format!("https://news.example/{k}")),
                    source: SourceRef {
                        kind: "rss".into(),
                        name: source.into(),
                    },
                    url: Some(format!("https://news.example/{k}")),
                    published_at: Some(started - chrono::Duration::minutes(k as i64)),
                    title: Some(rng.words(8)),
                    text: Some(rng.words(150)),
                    ..Item::default()
                };
                (0, item)
            })
            .collect();
        let capture = Capture {
            url: "https://news.example/rss".into(),
            final_url: "https://news.example/rss".into(),
            status: 200,
            headers: Vec::new(),
            sha256: sha,
            size: body.len() as u64,
            started_at: started,
            finished_at: started,
        };
        store
            .record_poll(
                sources[b % sources.len()],
                PollRecord {
                    captures: vec![capture],
                    items,
                    etag: None,
                    last_modified: None,
                    cursor: None,
                    not_modified: false,
                    attempted_at: started,
                    next_attempt_at: started,
                },
            )
            .unwrap();
        classify_and_index(&store, &classifier, &mut writer);
    }
    let loaded = t.elapsed();
    assert_eq!(index.num_docs() as usize, n);
    println!(
        "\nsearch: {n} items stored and indexed in {:.1}s ({:.0} items/s)",
        loaded.as_secs_f64(),
        per_sec(n, loaded)
    );

    let mixed = [
        "polling station",
        "\"polling station\"",
        "ballot count",
        "recount declaration",
        "source:\"Castle Courier\" flood",
        "Riverside AND (bridge OR bus)",
        "vote -postal",
        "flagged:false turnout",
        "published_at:[2026-01-01T00:00:00Z TO 2030-01-01T00:00:00Z] cricket",
        "festival market",
    ];
    let run = |queries: &[&str], sort: SortOrder, with_store: bool| -> Vec<Duration> {
        let mut times = Vec::new();
        for _ in 0..30 {
            for q in queries {
                let t = Instant::now();
                let r = index
                    .search(&SearchRequest {
                        query: (*q).into(),
                        limit: 20,
                        offset: 0,
                        sort,
                        filters: Vec::new(),
                    })
                    .unwrap();
                if with_store {
                    let ids: Vec<String> = r.hits.iter().map(|h| h.id.clone()).collect();
                    let items = store.get_items(&ids).unwrap();
                    assert_eq!(items.len(), ids.len());
                }
                times.push(t.elapsed());
            }
        }
        times.sort();
        times
    };
    let report = |name: &str, times: &[Duration], base: Option<Duration>| {
        let p50 = percentile(times, 0.5);
        let p99 = percentile(times, 0.99);
        let ratio = base
            .map(|b| {
                format!(
                    "  ({:.1}x baseline p50)",
                    p50.as_secs_f64() / b.as_secs_f64()
                )
            })
            .unwrap_or_default();
        println!(
            "  {name:<40} p50 {:>8.2} ms  p99 {:>8.2} ms{ratio}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
        p50
    };
    let base = report(
        "baseline `*` (match-all), top 20",
        &run(&["*"], SortOrder::Relevance, false),
        None,
    );
    report(
        "mixed queries, relevance, top 20",
        &run(&mixed, SortOrder::Relevance, false),
        Some(base),
    );
    report(
        "mixed queries, newest first, top 20",
        &run(&mixed, SortOrder::Newest, false),
        Some(base),
    );
    report(
        "mixed queries + load hits from store",
        &run(&mixed, SortOrder::Relevance, true),
        Some(base),
    );
}
