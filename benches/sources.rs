//! `cargo bench --bench sources`: how fast the social and web sources turn recorded answers into
//! items, each against a baseline measured in the same run on the same bytes:
//!
//! - Mastodon statuses and Bluesky post views: decoding the JSON into `serde_json::Value`
//!   (the least any reader must do) vs decoding into the typed entities and normalising each
//!   into an item (sanitizing, text rendering, links, media, watch terms).
//! - Telegram preview pages and watched web pages: `html::from_html` on the whole page (the
//!   sanitize + render pass every source already pays) vs the source's own parser
//!   (scraper selectors for Telegram, readability-style extraction + the same pass for pages).
//! - The watched-page diff of two versions with no line in common, 10k/20k/40k lines a side:
//!   unbounded (as before `[limits]`) vs the default `diff_max_lines` and `diff_timeout`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ballotwatch_core::WatchTerms;
use ballotwatch_ingest::html;
use ballotwatch_ingest::sources::{bluesky, mastodon, telegram, web};
use url::Url;

const TAG: &str = include_str!("../ingest/src/sources/mastodon/testdata/tag-anytownvotes.json");
const SEARCH: &str = include_str!("../ingest/src/sources/bluesky/testdata/search-posts.json");
const TELEGRAM: &str = include_str!("../ingest/src/sources/telegram/testdata/anytown-votes.html");
const PAGE: &str = include_str!("../ingest/src/sources/web/testdata/polling-stations-v1.html");

/// Runs `f` repeatedly for about `for_at_least`; returns calls per second.
fn rate(for_at_least: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut units = 0usize;
    while start.elapsed() < for_at_least {
        units += f();
    }
    units as f64 / start.elapsed().as_secs_f64()
}

/// A JSON array of `n` copies of the first `array` entries of `doc`, each with a unique id.
fn scaled(doc: &serde_json::Value, n: usize, id_key: &str) -> String {
    let src = doc.as_array().map(Vec::as_slice).unwrap_or_default();
    let out: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut v = src[i % src.len()].clone();
            if let Some(s) = v[id_key].as_str() {
                v[id_key] = serde_json::Value::String(format!("{s}-{i}"));
            }
            v
        })
        .collect();
    serde_json::to_string(&out).unwrap_or_default()
}

fn report(what: &str, unit: &str, baseline: (&str, f64), measured: f64) {
    println!("{what}");
    println!(
        "  baseline: {:<52} {:>10.0} {unit}/s  1.00x",
        baseline.0, baseline.1
    );
    println!(
        "  measured: {:<52} {:>10.0} {unit}/s  {:.2}x",
        "the source's parse + normalise",
        measured,
        measured / baseline.1
    );
}

fn main() {
    let watch = WatchTerms::new(&[
        "Anytown",
        "Riverside ward",
        "Jane Okafor",
        "polling station",
    ]);
    let window = Duration::from_secs(2);
    let instance = Url::parse("https://social.example/").expect("a valid URL");

    // Mastodon: a page of 400 statuses (the fixture's three, repeated with new URIs).
    let tag: serde_json::Value = serde_json::from_str(TAG).unwrap_or_default();
    let statuses = scaled(&tag, 400, "uri");
    let base = rate(window, || {
        let v: serde_json::Value = serde_json::from_str(black_box(&statuses)).unwrap_or_default();
        v.as_array().map_or(0, Vec::len)
    });
    let measured = rate(window, || {
        let s: Vec<mastodon::Status> =
            serde_json::from_str(black_box(&statuses)).unwrap_or_default();
        s.iter()
            .filter_map(|s| mastodon::normalise_status("Fediverse", &instance, s, &watch))
            .count()
    });
    report(
        "Mastodon statuses (400 a page)",
        "statuses",
        ("serde_json::Value decode", base),
        measured,
    );

    // Bluesky: 400 post views.
    let search: serde_json::Value = serde_json::from_str(SEARCH).unwrap_or_default();
    let posts = scaled(&search["posts"], 400, "uri");
    let base = rate(window, || {
        let v: serde_json::Value = serde_json::from_str(black_box(&posts)).unwrap_or_default();
        v.as_array().map_or(0, Vec::len)
    });
    let measured = rate(window, || {
        let p: Vec<bluesky::PostView> = serde_json::from_str(black_box(&posts)).unwrap_or_default();
        p.iter()
            .filter_map(|p| bluesky::normalise_post("Bluesky", p, &watch))
            .count()
    });
    report(
        "Bluesky post views (400 a page)",
        "posts",
        ("serde_json::Value decode", base),
        measured,
    );

    // Telegram: the recorded preview page (3 messages).
    let tme = Url::parse("https://t.me/s/anytown_votes").expect("a valid URL");
    let base = rate(window, || {
        black_box(html::from_html(black_box(TELEGRAM), &tme));
        1
    });
    let measured = rate(window, || {
        telegram::parse_page(
            "Anytown Votes",
            "anytown_votes",
            black_box(TELEGRAM),
            &watch,
        )
        .map_or(0, |m| usize::from(!m.is_empty()))
    });
    report(
        "Telegram preview page (3 messages)",
        "pages",
        ("html::from_html of the whole page", base),
        measured,
    );

    // A watched page: the council's polling-stations page.
    let url = Url::parse("https://anytown.gov.uk/elections/polling-stations").expect("a valid URL");
    let base = rate(window, || {
        black_box(html::from_html(black_box(PAGE), &url));
        1
    });
    let measured = rate(window, || {
        black_box(web::extract(black_box(PAGE), &url));
        1
    });
    report(
        "Watched web page (main-text extraction)",
        "pages",
        ("html::from_html of the whole page", base),
        measured,
    );

    diff_limits();
}

/// The watched-page diff of two versions with no line in common (its worst case), through the
/// shipped `web::text_diff`: unbounded (as before `[limits]`) vs the default `diff_max_lines`
/// and `diff_timeout`.
fn diff_limits() {
    let limits = web::DiffLimits::default();
    println!(
        "Watched page diff, disjoint versions (default limits: {} lines, {:?})",
        limits.max_lines, limits.timeout
    );
    println!(
        "  {:>6} lines  {:>10}  {:>10}  after/before",
        "", "before", "after"
    );
    for n in [10_000, 20_000, 40_000] {
        let old: String = (0..n).map(|i| format!("old line {i}\n")).collect();
        let new: String = (0..n).map(|i| format!("new line {i}\n")).collect();
        let time = |limits: &web::DiffLimits| {
            let start = Instant::now();
            black_box(web::text_diff(black_box(&old), black_box(&new), limits));
            start.elapsed()
        };
        let before = time(&web::DiffLimits::UNBOUNDED);
        let after = time(&limits);
        println!(
            "  {n:>6} lines  {:>9.3}s  {:>9.3}s  {:.3}x",
            before.as_secs_f64(),
            after.as_secs_f64(),
            after.as_secs_f64() / before.as_secs_f64()
        );
    }
}
