//! `cargo bench --bench pipeline`: the shipped pipeline (`ballotwatch_pipeline::Pipeline`, what
//! `serve` and `ingest --once` run) and search latency, each against a baseline measured in the
//! same run.
//!
//! 1. Ingest without models: generated RSS 2.0 feeds (200 entries of ~1 KB each), served over
//!    HTTP on 127.0.0.1 and polled by `Pipeline::run_once` with a classifier that has no
//!    detectors (fetch + parse + normalise + store + index + incidents: no model runs);
//!    - baseline: `feed_rs::parser::parse` alone on the same feeds;
//!    - parse + normalise alone (the RSS source's code: decoding, HTML to text, watch terms).
//! 2. Ingest with the default detectors (needs `models/install`; skipped with a note
//!    otherwise): 2,000 items (BENCH_PIPELINE_ITEMS overrides) polled, classified, decided and
//!    indexed by the pipeline's own stages, each timed; against `Classifier::classify_batch`
//!    alone on the same items in batches of `[detectors] batch_size` (what `ballotwatch
//!    classify` runs) as the baseline.
//! 3. Search: p50/p99 latency over 100k stored, indexed items (BENCH_SEARCH_ITEMS overrides)
//!    whose text follows Zipf's law over a 20,000-word vocabulary (`Vocabulary`), for a mix of
//!    word, phrase, filter and date queries, against `*` (match-all, the fixed cost
//!    of a search through the same code) as the baseline; and the CLI's path (search + loading
//!    the hits from the store).

use std::time::{Duration, Instant};

use ballotwatch_classify::detectors::media::known_fakes::KnownFakeSet;
use ballotwatch_classify::Classifier;
use ballotwatch_core::{Capture, Item, SourceRef, WatchTerms};
use ballotwatch_index::{SearchRequest, SortOrder};
use ballotwatch_ingest::sources::rss::{normalise::normalise_feed, parse_feed};
use ballotwatch_pipeline::Config;
use ballotwatch_pipeline::Pipeline;
use ballotwatch_store::PollRecord;
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

/// The search benchmark's text: word frequencies follow Zipf's law (s = 1) over a 20,000-word
/// vocabulary, as in real text, rather than the 45-word list above, on which nearly every query
/// matches nearly every item. Ranks 1-30 are common English words; the election and local words
/// of `WORDS` sit every sixth rank from 31 (`council` in ~37% of 150-word items, the last in ~5%);
/// the rest are made-up words.
struct Vocabulary {
    words: Vec<String>,
    /// cumulative[r] = P(rank <= r), for sampling by binary search.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    const SIZE: usize = 20_000;
    const COMMON: [&'static str; 30] = [
        "the", "to", "and", "of", "a", "in", "for", "is", "on", "that", "with", "at", "be", "this",
        "are", "will", "from", "by", "it", "have", "was", "we", "not", "as", "our", "you", "all",
        "can", "an", "or",
    ];

    fn zipf() -> Self {
        let mut words: Vec<String> = Self::COMMON.iter().map(|w| w.to_string()).collect();
        let mut domain = WORDS.iter();
        let mut made_up = 0usize;
        while words.len() < Self::SIZE {
            let rank = words.len() - Self::COMMON.len();
            match rank.is_multiple_of(6).then(|| domain.next()).flatten() {
                Some(w) => words.push(w.to_string()),
                None => {
                    words.push(Self::made_up(made_up));
                    made_up += 1;
                }
            }
        }
        let harmonic: f64 = (1..=Self::SIZE).map(|r| 1.0 / r as f64).sum();
        let mut total = 0.0;
        let cumulative = (1..=Self::SIZE)
            .map(|r| {
                total += 1.0 / (r as f64 * harmonic);
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    /// A pronounceable made-up word for rank `n`: syllables from its digits in base 40.
    fn made_up(mut n: usize) -> String {
        const SYLLABLES: [&str; 40] = [
            "ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so",
            "tu", "va", "we", "xi", "yo", "zu", "bra", "cle", "dri", "flo", "gru", "sta", "pre",
            "tri", "plo", "shu", "ban", "cen", "dor", "fil", "gat", "hum", "lin", "mor", "nes",
            "pol",
        ];
        let mut word = String::new();
        loop {
            word.push_str(SYLLABLES[n % SYLLABLES.len()]);
            n /= SYLLABLES.len();
            if n == 0 {
                break;
            }
        }
        if word.len() < 4 {
            word.push_str("th");
        }
        word
    }

    fn text(&self, rng: &mut Rng, n: usize) -> String {
        let mut s = String::with_capacity(n * 7);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let rank = self.cumulative.partition_point(|&c| c < u);
            s.push_str(&self.words[rank.min(self.words.len() - 1)]);
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

    // The whole pipeline, no detectors.
    let server = FeedServer::start(feeds.clone());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::open_with(bench_config(dir.path(), &server, rounds), |c, _| {
        Ok(no_detectors(c))
    })
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let cycle = rt.block_on(pipeline.run_once(None)).unwrap();
    let full = per_sec(rounds * FEED_ENTRIES, t.elapsed());
    assert!(cycle.polls.iter().all(|p| p.outcome.is_ok()), "{cycle:?}");
    assert_eq!(
        pipeline.store().count_items().unwrap() as usize,
        rounds * FEED_ENTRIES
    );
    drop(pipeline);

    println!("  baseline feed-rs parse only         {baseline:>10.0} items/s");
    println!(
        "  parse + normalise                   {normalise:>10.0} items/s  ({:.2}x baseline)",
        normalise / baseline
    );
    println!(
        "  Pipeline::run_once, no detectors    {full:>10.0} items/s  ({:.2}x baseline; fetch over \
         loopback + parse + normalise + store + incidents + index, no model)",
        full / baseline
    );

    with_models(&rt, &mut rng);
    search_bench(&rt);
}

/// The bench's configuration: one RSS source per served feed, nothing else.
fn bench_config(dir: &std::path::Path, server: &FeedServer, feeds: usize) -> Config {
    let mut toml = format!(
        "data_dir = \"{}\"\n[ingest]\nallow_private_addresses = true\npoliteness_delay = \"1ms\"\n\
         [index]\nwriter_memory = \"64 MiB\"\n\n",
        dir.join("data").display()
    );
    for n in 0..feeds {
        toml += &format!(
            "[[source]]\nname = \"Bench {n}\"\nkind = \"rss\"\nurl = \"{}/feed/{n}\"\n\n",
            server.base
        );
    }
    let path = dir.join("ballotwatch.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(&path).unwrap()
}

fn no_detectors(config: &Config) -> Classifier {
    Classifier::new(Vec::new(), config.detectors.clone())
}

/// Generated feeds served on 127.0.0.1 at `/feed/{n}`, from a thread of its own.
struct FeedServer {
    base: String,
}

impl FeedServer {
    fn start(feeds: Vec<String>) -> FeedServer {
        use axum::extract::Path;
        use axum::http::header;
        let feeds = std::sync::Arc::new(feeds);
        let app = axum::Router::new().route(
            "/feed/{n}",
            axum::routing::get(move |Path(n): Path<usize>| {
                let feeds = feeds.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/rss+xml")],
                        feeds.get(n).cloned().unwrap_or_default(),
                    )
                }
            }),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        FeedServer {
            base: format!("http://{addr}"),
        }
    }
}

/// The pipeline with the default detectors against `classify` alone on the same items.
fn with_models(rt: &tokio::runtime::Runtime, rng: &mut Rng) {
    let items: usize = std::env::var("BENCH_PIPELINE_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let feeds: Vec<String> = (0..items.div_ceil(FEED_ENTRIES))
        .map(|n| feed(100 + n, rng))
        .collect();
    let n_items = feeds.len() * FEED_ENTRIES;
    let server = FeedServer::start(feeds.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = bench_config(dir.path(), &server, feeds.len());
    let pipeline = match Pipeline::open(config.clone()) {
        Ok(p) => p,
        Err(e) => {
            println!("\nwith the default detectors: skipped ({e}); run models/install first");
            return;
        }
    };
    println!(
        "\nwith the default detectors ({}): {n_items} items in {} feeds",
        pipeline
            .classifier()
            .detectors()
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        feeds.len()
    );
    let t = Instant::now();
    let polls = rt.block_on(pipeline.poll_all(None));
    let poll = t.elapsed();
    assert!(polls.iter().all(|p| p.outcome.is_ok()), "{polls:?}");
    let t = Instant::now();
    let classified = rt.block_on(pipeline.classify_pending()).unwrap();
    let classify = t.elapsed();
    assert_eq!(classified, n_items);
    let t = Instant::now();
    rt.block_on(pipeline.decide_pending()).unwrap();
    let decide = t.elapsed();
    let t = Instant::now();
    rt.block_on(pipeline.index_pending()).unwrap();
    let index = t.elapsed();
    let total = poll + classify + decide + index;

    // Baseline: the classifier alone on the same stored items, as `ballotwatch classify` runs
    // it (a fresh classifier, so neither run is warmed by the other's first batch).
    let base = Url::parse("https://news.example/rss").unwrap();
    let watch = WatchTerms::new(&config.watch.terms);
    let stored: Vec<Item> = feeds
        .iter()
        .flat_map(|f| {
            let parsed = parse_feed(f.as_bytes(), Some("application/rss+xml"), &base).unwrap();
            normalise_feed("Bench", &base, parsed, &watch)
        })
        .collect();
    assert_eq!(stored.len(), n_items);
    let alone =
        Classifier::from_config_with_fakes(config.classify(), &KnownFakeSet::new()).unwrap();
    let t = Instant::now();
    for chunk in stored.chunks(config.detectors.batch_size.max(1)) {
        assert_eq!(alone.classify_batch(chunk).len(), chunk.len());
    }
    let baseline = t.elapsed();

    let rate = |d: Duration| per_sec(n_items, d);
    let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64();
    println!(
        "  baseline classify alone (batches of {})  {:>7.1} items/s",
        config.detectors.batch_size,
        rate(baseline)
    );
    println!(
        "  whole pipeline                          {:>7.1} items/s  ({:.2}x baseline)",
        rate(total),
        baseline.as_secs_f64() / total.as_secs_f64()
    );
    println!(
        "    poll + store {:.1}%, classify {:.1}%, incidents {:.1}%, index {:.1}%",
        share(poll),
        share(classify),
        share(decide),
        share(index)
    );
}

fn search_bench(rt: &tokio::runtime::Runtime) {
    let n: usize = std::env::var("BENCH_SEARCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let server = FeedServer::start(Vec::new());
    let pipeline = Pipeline::open_with(bench_config(dir.path(), &server, 0), |c, _| {
        Ok(no_detectors(c))
    })
    .unwrap();
    let store = pipeline.store();
    let index = pipeline.index();
    let mut rng = Rng(0xfeed_0000_0000_0042);
    let vocabulary = Vocabulary::zipf();
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
                    title: Some(vocabulary.text(&mut rng, 8)),
                    text: Some(vocabulary.text(&mut rng, 150)),
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
        rt.block_on(pipeline.classify_pending()).unwrap();
        rt.block_on(pipeline.index_pending()).unwrap();
    }
    let loaded = t.elapsed();
    assert_eq!(index.num_docs() as usize, n);
    println!(
        "\nsearch: {n} items stored and indexed in {:.1}s ({:.0} items/s)",
        loaded.as_secs_f64(),
        per_sec(n, loaded)
    );

    let mixed = [
        "the council",
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
    let matches: Vec<String> = mixed
        .iter()
        .map(|q| {
            let total = index
                .search(&SearchRequest {
                    query: (*q).into(),
                    limit: 0,
                    offset: 0,
                    sort: SortOrder::Relevance,
                    filters: Vec::new(),
                })
                .unwrap()
                .total;
            format!("{q} {:.1}%", total as f64 * 100.0 / n as f64)
        })
        .collect();
    println!("  items each query matches: {}", matches.join(", "));
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
