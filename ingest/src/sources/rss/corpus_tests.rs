//! The odd-but-valid feed corpus (`tests/fixtures/feeds/odd/`, see its README) through the
//! shipped parser and normaliser: how many entries each file keeps, counted as distinct item
//! ids (the store keeps one item per id and poll, so two entries sharing an id are one kept).

use std::collections::BTreeSet;
use std::path::PathBuf;

use ballotwatch_core::WatchTerms;
use url::Url;

use super::*;

/// Entries each file must keep. Every entry with a title, text or media is kept. Left out, and
/// reported: entries with nothing to show (2 in `rss-empty-items.xml`, 2 in
/// `rss-link-only.xml`), and two that feed-rs reads as empty: an RSS 2.0 item whose only title
/// and text are `dc:title` / `dc:description` (`rss-dc.xml`), and one whose only content is a
/// `media:thumbnail` outside any `media:content` (`rss-media.xml`).
const EXPECTED: &[(&str, usize)] = &[
    ("atom-media.xml", 1),
    ("atom-odd-dates.xml", 3),
    ("atom03.xml", 2),
    ("atom10-entities.xml", 1),
    ("atom10-no-id-no-link.xml", 3),
    ("atom10-relative-base.xml", 2),
    ("atom10-xhtml-content.xml", 1),
    ("atom10.xml", 1),
    ("cdata.xml", 2),
    ("cp1252-declared.xml", 2),
    ("cp1252-undeclared.xml", 2),
    ("entities.xml", 2),
    ("jsonfeed-attachments-only.json", 1),
    ("jsonfeed-no-id-no-url.json", 3),
    ("jsonfeed1.json", 2),
    ("jsonfeed11.json", 2),
    ("latin1-declared.xml", 2),
    ("latin1-undeclared.xml", 2),
    ("missing-dates.xml", 2),
    ("odd-dates.xml", 6),
    ("relative-links.xml", 3),
    ("rss-content-encoded-only.xml", 1),
    ("rss-content-encoded.xml", 1),
    ("rss-dc.xml", 1),
    ("rss-description-only.xml", 2),
    ("rss-duplicate-titles.xml", 3),
    ("rss-empty-items.xml", 1),
    ("rss-enclosure-only.xml", 2),
    ("rss-itunes.xml", 1),
    ("rss-link-only.xml", 1),
    ("rss-media.xml", 2),
    ("rss-noversion.xml", 2),
    ("rss-title-only.xml", 3),
    ("rss-unknown-namespace.xml", 1),
    ("rss-version-spaces.xml", 1),
    ("rss090.rdf", 2),
    ("rss091-netscape-doctype.xml", 1),
    ("rss091.xml", 2),
    ("rss092.xml", 3),
    ("rss093.xml", 1),
    ("rss094.xml", 2),
    ("rss10-bare-items.rdf", 2),
    ("rss10-content-encoded.rdf", 1),
    ("rss10-no-link.rdf", 2),
    ("rss10.rdf", 2),
    ("rss20.xml", 1),
    ("rss201.xml", 1),
    ("utf16be-bom.xml", 2),
    ("utf16le-bom.xml", 2),
    ("utf8-bom.xml", 2),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/feeds/odd")
}

/// Distinct item ids kept from one file, or the parse error.
fn kept(file: &str) -> Result<usize, String> {
    let body = std::fs::read(corpus_dir().join(file)).map_err(|e| format!("{file}: {e}"))?;
    let base = Url::parse("https://odd.anytown.test/feeds/feed").map_err(|e| e.to_string())?;
    let feed = parse_feed(&body, None, &base).map_err(|e| e.to_string())?;
    let items = normalise_feed("Odd", &base, feed, &WatchTerms::new::<&str>(&[]));
    Ok(items
        .iter()
        .map(|i| i.id.as_str())
        .collect::<BTreeSet<_>>()
        .len())
}

#[test]
fn the_odd_feed_corpus_keeps_every_entry_with_something_to_show() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    let listed: BTreeSet<String> = EXPECTED.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(on_disk, listed, "every corpus file has an expected count");

    let mut wrong = Vec::new();
    let (mut total_kept, mut total_expected) = (0, 0);
    for (file, expected) in EXPECTED {
        let got = kept(file);
        println!("{file}\t{got:?}");
        total_kept += got.as_ref().copied().unwrap_or(0);
        total_expected += expected;
        if got.as_ref() != Ok(expected) {
            wrong.push(format!("{file}: kept {got:?}, expected {expected}"));
        }
    }
    println!("total\t{total_kept} of {total_expected}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
