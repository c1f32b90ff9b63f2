//! HTML from publishers → plain text for reading, indexing and detectors, sanitized HTML for
//! display, and the links and images inside it.
//!
//! Sanitizing uses ammonia's default allow-list: no `<script>`, `<style>`, `<iframe>` or
//! `<form>`, no event-handler or `style` attributes, and only URL schemes such as `http`,
//! `https` and `mailto` (so no `javascript:` or `data:` URLs). Every link gets
//! `rel="noopener noreferrer nofollow"`, and relative URLs are resolved against the base URL
//! given (the entry's or the feed's). Plain text is rendered by html2text from the *sanitized*
//! HTML, without link footnotes or emphasis markers, on very wide lines, then tidied: runs of
//! spaces collapse to one, lines are trimmed, and at most one blank line separates paragraphs.
//!
//! Publishers' HTML is untrusted structure: before anything parses it, [`nesting::bound_nesting`]
//! flattens elements nested deeper than `[limits] max_html_depth` (see [`set_max_depth`]), and
//! every walk over the parsed tree here is iterative. A tree that still comes out deeper than
//! the limit allows is not laid out at all: its text is taken flat.

mod nesting;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use ammonia::UrlRelative;
use html2text::render::TrivialDecorator;
use html2text::{Handle, RcDom};
use url::Url;

/// Wrap width for html2text: wide enough that paragraphs are never wrapped.
const TEXT_WIDTH: usize = 100_000;

/// The `rel` every sanitized link carries.
pub const LINK_REL: &str = "noopener noreferrer nofollow";

pub use nesting::{bound_nesting, Bounded};

/// The default of `[limits] max_html_depth` (core's `DEFAULT_MAX_HTML_DEPTH`).
pub const DEFAULT_MAX_DEPTH: usize = ballotwatch_core::config::DEFAULT_MAX_HTML_DEPTH;

/// The largest `[limits] max_html_depth` accepted (core's `MAX_HTML_DEPTH_CEILING`, which config
/// validation enforces): the deepest tree html2text's recursive layout is ever given (nested
/// tables at this depth) still fits a 2 MiB worker stack with room to spare
/// (`the_ceiling_fits_a_worker_stack` below).
pub const MAX_DEPTH_CEILING: usize = ballotwatch_core::config::MAX_HTML_DEPTH_CEILING;

/// The deepest element nesting kept in publishers' HTML, process-wide.
static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// Sets the deepest element nesting [`from_html`], [`html_to_text`] and [`bound_page`] keep
/// (`[limits] max_html_depth`); set once at start-up, before any source is polled. The depth is
/// kept within 1..=[`MAX_DEPTH_CEILING`]: a larger configured value is clamped to the ceiling.
pub fn set_max_depth(depth: usize) {
    MAX_DEPTH.store(depth_within_ceiling(depth), Ordering::Relaxed);
}

fn depth_within_ceiling(depth: usize) -> usize {
    depth.clamp(1, MAX_DEPTH_CEILING)
}

/// The deepest element nesting kept (see [`set_max_depth`]).
pub fn max_depth() -> usize {
    MAX_DEPTH.load(Ordering::Relaxed)
}

/// The reason an item records when its HTML was nested deeper than the limit.
pub fn nesting_cut_reason(depth: usize) -> String {
    format!(
        "the HTML nests elements more than {depth} deep ([limits] max_html_depth); the content below that depth was kept as flat text"
    )
}

/// A whole fetched page bounded to [`max_depth`] before a page-level parser (readability, CSS
/// selectors) sees it; `cut` says whether anything was flattened.
pub fn bound_page(page: &str) -> Bounded<'_> {
    let bounded = bound_nesting(page, max_depth());
    if bounded.cut {
        tracing::warn!(
            max_depth = max_depth(),
            "a page nests elements deeper than [limits] max_html_depth; the deeper part is kept as flat text"
        );
    }
    bounded
}

/// What [`from_html`] or [`from_plain_text`] extracted from one piece of content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtmlContent {
    /// Tidied plain text.
    pub text: String,
    /// Sanitized HTML.
    pub html: String,
    /// Absolute `http`/`https` link targets (`<a href>`), in document order, without repeats.
    pub links: Vec<String>,
    /// Absolute `http`/`https` image sources (`<img src>`), in document order, without repeats.
    pub images: Vec<String>,
    /// Elements were nested deeper than the limit and flattened (see [`HtmlContent::cut_reason`]).
    pub nesting_cut: bool,
}

impl HtmlContent {
    /// What an item built from this content records about it having been cut, if it was.
    pub fn cut_reason(&self) -> Option<String> {
        self.nesting_cut.then(|| nesting_cut_reason(max_depth()))
    }
}

/// Sanitizes `html`, resolving relative URLs against `base`, and extracts text, links and
/// images from the result. Elements nested deeper than [`max_depth`] are flattened.
pub fn from_html(html: &str, base: &Url) -> HtmlContent {
    from_html_bounded(html, base, max_depth())
}

/// [`from_html`] with an explicit nesting limit.
pub fn from_html_bounded(html: &str, base: &Url, max_depth: usize) -> HtmlContent {
    let bounded = bound_nesting(html, max_depth);
    let clean = sanitize(&bounded.html, base);
    // html5ever reading from memory cannot fail; without a DOM there is just no text.
    let Some(dom) = parse(&clean) else {
        return HtmlContent {
            html: clean,
            nesting_cut: bounded.cut,
            ..HtmlContent::default()
        };
    };
    let walked = walk(&dom.document, tree_limit(max_depth));
    if walked.too_deep {
        // The tree came out deeper than the pre-pass allowed for: never lay it out (the layout
        // recurses); keep its text flat, as escaped paragraphs.
        tracing::warn!(
            max_depth,
            "HTML still nested too deep after bounding; keeping its text flat"
        );
        let flat = from_plain_text(&flat_text(&clean));
        return HtmlContent {
            links: dedup_http(walked.links),
            images: dedup_http(walked.images),
            nesting_cut: true,
            ..flat
        };
    }
    HtmlContent {
        text: render_text(&dom),
        html: clean,
        links: dedup_http(walked.links),
        images: dedup_http(walked.images),
        nesting_cut: bounded.cut,
    }
}

/// Wraps plain text as content: the text tidied, and HTML with each paragraph in `<p>` and
/// line breaks as `<br>`.
pub fn from_plain_text(text: &str) -> HtmlContent {
    let text = tidy_text(text);
    let html = text
        .split("\n\n")
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lines: Vec<String> = p
                .lines()
                .map(|l| html_escape::encode_quoted_attribute(l).into_owned())
                .collect();
            format!("<p>{}</p>", lines.join("<br>"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    HtmlContent {
        text,
        html,
        ..HtmlContent::default()
    }
}

/// The sanitized form of `html` (see the module docs), relative URLs resolved against `base`.
pub fn sanitize(html: &str, base: &Url) -> String {
    ammonia::Builder::default()
        .link_rel(Some(LINK_REL))
        .url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .attribute_filter(|_element, attribute, value| {
            // html5ever does not escape `<` and `>` inside attribute values. They are harmless
            // there, but people and tools grep stored HTML for `<script`: percent-encode them
            // in URLs (an equivalent URL) and swap them for lookalikes in other attributes.
            if !value.contains(['<', '>']) {
                return Some(value.into());
            }
            let fixed = if matches!(attribute, "href" | "src" | "cite") {
                value.replace('<', "%3C").replace('>', "%3E")
            } else {
                value.replace('<', "‹").replace('>', "›")
            };
            Some(fixed.into())
        })
        .clean(html)
        .to_string()
}

/// Plain text of an HTML fragment (e.g. an HTML title), tidied. Elements nested deeper than
/// [`max_depth`] are flattened.
pub fn html_to_text(html: &str) -> String {
    let depth = max_depth();
    let bounded = bound_nesting(html, depth);
    let Some(dom) = parse(&bounded.html) else {
        return String::new();
    };
    let walked = walk(&dom.document, tree_limit(depth));
    if walked.too_deep {
        flat_text(&bounded.html)
    } else {
        render_text(&dom)
    }
}

/// Collapses every run of whitespace to one space and trims: for titles and names.
pub fn single_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tidies plain text: within each line runs of whitespace become one space and the ends are
/// trimmed; blank lines collapse so that at most one separates paragraphs; leading and
/// trailing blank lines go.
pub fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_pending = false;
    for line in text.lines() {
        let line = single_line(line);
        if line.is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_pending {
                out.push('\n');
            }
        }
        blank_pending = false;
        out.push_str(&line);
    }
    out
}

fn config() -> html2text::config::Config<TrivialDecorator> {
    html2text::config::with_decorator(TrivialDecorator::new())
        .link_footnotes(false)
        .no_table_borders()
}

fn parse(html: &str) -> Option<RcDom> {
    config().parse_html(html.as_bytes()).ok()
}

fn render_text(dom: &RcDom) -> String {
    let cfg = config();
    let rendered = cfg
        .dom_to_render_tree(dom)
        .and_then(|tree| cfg.render_to_string(tree, TEXT_WIDTH));
    match rendered {
        Ok(text) => tidy_text(&text),
        Err(e) => {
            // Layout only fails on pathological nesting; raw mode does no layout at all.
            tracing::debug!(error = %e, "html2text could not lay the text out; using raw mode");
            let raw = cfg.raw_mode(true);
            raw.dom_to_render_tree(dom)
                .and_then(|tree| raw.render_to_string(tree, TEXT_WIDTH))
                .map(|t| tidy_text(&t))
                .unwrap_or_default()
        }
    }
}

/// How deep a parsed tree may be before it is taken as flat text: the pre-pass bounds what the
/// parser builds to about `max_depth`, plus `<html>` and `<body>`, plus formatting elements the
/// parser re-opens; anything deeper evaded the pre-pass.
fn tree_limit(max_depth: usize) -> usize {
    max_depth.saturating_mul(2).saturating_add(8)
}

/// What one iterative walk over a parsed tree found.
#[derive(Default)]
struct Walked {
    links: Vec<String>,
    images: Vec<String>,
    /// The tree is deeper than the limit given.
    too_deep: bool,
}

/// Walks the tree in document order with an explicit stack (never recursion): the link and
/// image URLs, and whether it is deeper than `limit`.
fn walk(root: &Handle, limit: usize) -> Walked {
    let mut out = Walked::default();
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        out.too_deep |= depth > limit;
        if let html2text::Element { name, attrs, .. } = &node.data {
            let wanted = match &*name.local {
                "a" => Some(("href", &mut out.links)),
                "img" => Some(("src", &mut out.images)),
                _ => None,
            };
            if let Some((attr_name, urls)) = wanted {
                for attr in attrs.borrow().iter() {
                    if &*attr.name.local == attr_name {
                        urls.push(attr.value.to_string());
                    }
                }
            }
        }
        let children = node.children.borrow();
        stack.extend(children.iter().rev().map(|c| (c.clone(), depth + 1)));
    }
    out
}

/// The text nodes of `html` in order, without any layout: for trees too deep to lay out.
/// scraper keeps its tree in an arena and walks it with iterators, so depth costs nothing here.
fn flat_text(html: &str) -> String {
    let doc = scraper::Html::parse_fragment(html);
    let lines: Vec<&str> = doc.root_element().text().collect();
    tidy_text(&lines.join(" "))
}

/// Keeps absolute `http`/`https` URLs (normalised by the url crate), first occurrence first.
pub(crate) fn dedup_http(urls: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    urls.into_iter()
        .filter_map(|u| Url::parse(u.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(String::from)
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

/// Every element in `html` with its attributes `(name, value)`, as a browser would parse it.
#[cfg(test)]
pub(crate) fn elements(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let Some(dom) = parse(html) else {
        return out;
    };
    // Iterative, document order: the input may be as deep as a test makes it.
    let mut stack = vec![dom.document.clone()];
    while let Some(node) = stack.pop() {
        if let html2text::Element { name, attrs, .. } = &node.data {
            let attrs = attrs
                .borrow()
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect();
            out.push((name.local.to_string(), attrs));
        }
        stack.extend(node.children.borrow().iter().rev().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> Url {
        Url::parse("https://echo.anytown.test/news/2026/04/story").unwrap()
    }

    fn assert_harmless(html: &str) {
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        for (name, attrs) in elements(html) {
            assert!(
                !matches!(
                    name.as_str(),
                    "script" | "style" | "iframe" | "object" | "embed" | "form"
                ),
                "<{name}> in {html}"
            );
            for (k, v) in attrs {
                assert!(!k.starts_with("on"), "{k} on <{name}> in {html}");
                assert_ne!(k, "style", "{html}");
                let v = v.trim().to_ascii_lowercase();
                assert!(
                    !v.starts_with("javascript:") && !v.starts_with("data:"),
                    "{k}={v} in {html}"
                );
            }
        }
    }

    #[test]
    fn hostile_markup_is_removed_and_links_are_safe() {
        let input = r#"<p>Polls open <b>7am</b> to 10pm.</p>
<script>alert('x')</script><style>p{display:none}</style>
<img src="/img/hall.jpg" alt="Hall" onerror="steal()">
<a href="javascript:alert(1)">bad</a> <a href="/elections" onclick="x()">where to vote</a>
<iframe src="https://evil.example/"></iframe><div style="position:fixed">overlay</div>"#;
        let out = from_html(input, &base());
        assert_harmless(&out.html);
        assert!(out
            .html
            .contains(r#"<a href="https://echo.anytown.test/elections" rel="noopener noreferrer nofollow">where to vote</a>"#), "{}", out.html);
        assert!(out
            .html
            .contains(r#"src="https://echo.anytown.test/img/hall.jpg""#));
        assert_eq!(out.links, ["https://echo.anytown.test/elections"]);
        assert_eq!(out.images, ["https://echo.anytown.test/img/hall.jpg"]);
        assert!(!out.text.contains("alert"), "{}", out.text);
        assert!(!out.text.contains("display"), "{}", out.text);
        assert!(
            out.text.starts_with("Polls open 7am to 10pm."),
            "{}",
            out.text
        );
        assert!(out.text.contains("where to vote"), "{}", out.text);
    }

    #[test]
    fn text_has_no_footnotes_or_decorations_and_tidy_paragraphs() {
        let input = "<h2>Count   night</h2><p>First   <em>paragraph</em> with a <a href=\"https://anytown.gov.uk/\">link</a>.</p>\n\n\n<p>Second<br>line</p><ul><li>one</li><li>two</li></ul>";
        let out = from_html(input, &base());
        assert_eq!(
            out.text,
            "Count night\n\nFirst paragraph with a link.\n\nSecond\nline\none\ntwo"
        );
        // Long paragraphs are not wrapped.
        let long = format!("<p>{}</p>", "Anytown ".repeat(500));
        assert_eq!(from_html(&long, &base()).text.lines().count(), 1);
    }

    #[test]
    fn links_are_absolute_http_and_deduplicated() {
        let input = r#"<a href="a">1</a><a href="https://echo.anytown.test/news/2026/04/a">2</a>
<a href="mailto:editor@anytown.test">3</a><a href="//cdn.anytown.test/x">4</a><a href="ftp://x.test/">5</a>"#;
        let out = from_html(input, &base());
        assert_eq!(
            out.links,
            [
                "https://echo.anytown.test/news/2026/04/a",
                "https://cdn.anytown.test/x"
            ]
        );
    }

    #[test]
    fn angle_brackets_in_attributes_cannot_spell_script() {
        let out = sanitize(
            r#"<a title="<script>x</script>" href="https://x.test/<script>">t</a><img alt="<script>" src="/i.png">"#,
            &base(),
        );
        assert_harmless(&out);
        assert!(out.contains("title=\"‹script›x‹/script›\""), "{out}");
        assert!(
            out.contains("href=\"https://x.test/%3Cscript%3E\""),
            "{out}"
        );
    }

    #[test]
    fn plain_text_becomes_escaped_paragraphs() {
        let out = from_plain_text("Apply by 5pm <today>.\nLate ones  fail.\n\n\n\nAsk & see.");
        assert_eq!(
            out.text,
            "Apply by 5pm <today>.\nLate ones fail.\n\nAsk & see."
        );
        assert_eq!(
            out.html,
            "<p>Apply by 5pm &lt;today&gt;.<br>Late ones fail.</p>\n<p>Ask &amp; see.</p>"
        );
        assert!(out.links.is_empty() && out.images.is_empty());
    }

    #[test]
    fn tidy_and_single_line() {
        assert_eq!(
            tidy_text("\n\n  a \t b \n\n\n c\u{a0}\u{a0}d \n\n"),
            "a b\n\nc d"
        );
        assert_eq!(tidy_text(""), "");
        assert_eq!(
            single_line("  Notice\n of   election "),
            "Notice of election"
        );
        assert_eq!(
            html_to_text("Postal vote &ndash; <em>5pm</em>"),
            "Postal vote – 5pm"
        );
    }

    /// Runs `f` on a thread with the 2 MiB stack tokio gives its workers (where sources parse).
    fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn a_hundred_thousand_nested_elements_neither_overflow_nor_stall() {
        // Issue 17: the recursive URL walk overflowed the stack (an abort) at ~20,000.
        let out = on_worker_stack(|| {
            let html = format!(
                "<p>Polls open 7am.</p>{}<a href=\"/deep\">deep link</a> bottom text{}",
                "<div>".repeat(100_000),
                "</div>".repeat(100_000)
            );
            let started = std::time::Instant::now();
            let out = from_html(&html, &base());
            (out, started.elapsed())
        });
        let (out, took) = out;
        // Baselines in the same run: the same bytes as flat paragraphs, and a quarter of the
        // nesting (linear work: a quarter of the time).
        let time = |html: String| {
            on_worker_stack(move || {
                let t = std::time::Instant::now();
                from_html(&html, &base());
                t.elapsed()
            })
        };
        let flat = time("<hr/>".repeat(100_000));
        let quarter = time("<div>".repeat(25_000));
        eprintln!(
            "from_html: 100,000 nested elements {took:?}; the same size flat {flat:?} ({:.2}x); 25,000 nested {quarter:?} ({:.2}x for 4x the input)",
            took.as_secs_f64() / flat.as_secs_f64(),
            took.as_secs_f64() / quarter.as_secs_f64()
        );
        assert!(out.nesting_cut);
        assert!(
            out.text.starts_with("Polls open 7am."),
            "{}",
            &out.text[..40]
        );
        assert!(out.text.contains("deep link bottom text"));
        assert_eq!(out.links, ["https://echo.anytown.test/deep"]);
        assert!(out.cut_reason().unwrap().contains("max_html_depth"));
        assert_harmless(&out.html);
        // Unclosed, in a title, and with `/>`: the same.
        for html in ["<b>".repeat(100_000), "<div/>".repeat(100_000)] {
            let t = on_worker_stack(move || html_to_text(&format!("{html}title")));
            assert_eq!(t, "title");
        }
    }

    #[test]
    fn the_ceiling_fits_a_worker_stack() {
        // The worst shape for html2text's recursive layout: nested tables, deeper than the
        // largest limit a config may set, laid out at that limit on a worker's stack.
        for cell in ["<table><tr><td>x", "<div><ul><li><blockquote>x"] {
            let html = cell.repeat(MAX_DEPTH_CEILING * 2);
            let out = on_worker_stack(move || from_html_bounded(&html, &base(), MAX_DEPTH_CEILING));
            assert!(out.nesting_cut);
            assert!(out.text.contains('x'));
        }
        assert_eq!(depth_within_ceiling(usize::MAX), MAX_DEPTH_CEILING);
        assert_eq!(depth_within_ceiling(0), 1);
    }

    #[test]
    fn ordinary_html_is_not_marked_cut() {
        let out = from_html("<ul><li>one<li>two</ul><p>three", &base());
        assert!(!out.nesting_cut && out.cut_reason().is_none());
        assert_eq!(out.text, "one\ntwo\n\nthree");
    }

    #[test]
    fn nested_tables_deeper_than_the_limit_are_flattened() {
        // Nested tables: html2text lays them out recursively, so they must never be deeper
        // than the limit when it sees them.
        let html = format!(
            "{}cell text{}",
            "<table><tr><td>".repeat(40),
            "</td></tr></table>".repeat(40)
        );
        let out = on_worker_stack(move || from_html_bounded(&html, &base(), 3));
        assert!(out.nesting_cut);
        assert_eq!(out.text.trim(), "cell text");
        // At the default limit, on a worker's stack: the deepest layout html2text is given
        // (tables 64 deep) fits.
        let html = "<table><tr><td>x".repeat(1_000);
        let out = on_worker_stack(move || from_html(&html, &base()));
        assert!(out.nesting_cut);
        assert!(out.text.contains('x'));
        // Within the limit, tables are laid out as usual.
        let out = from_html_bounded("<table><tr><td>a</td><td>b</td></tr></table>", &base(), 3);
        assert!(!out.nesting_cut);
        assert!(out.text.contains('a') && out.text.contains('b'));
    }

    #[test]
    fn the_depth_limit_is_the_configs_default() {
        assert_eq!(
            DEFAULT_MAX_DEPTH,
            ballotwatch_core::LimitsConfig::default().max_html_depth
        );
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<script>alert(1)</script>".to_string()),
            Just("<SCRIPT SRC=//evil.example/x.js></SCRIPT>".to_string()),
            Just("<scr<script>ipt>alert(1)</script>".to_string()),
            Just("<img src=x onerror=alert(1)>".to_string()),
            Just("<svg onload=alert(1)><circle/></svg>".to_string()),
            Just("<a href=\"javascript:alert(1)\">x</a>".to_string()),
            Just("<a href=\"  JaVaScRiPt:alert(1)\">x</a>".to_string()),
            Just("<a href=\"data:text/html,<script>alert(1)</script>\">x</a>".to_string()),
            Just("<div style=\"x\" onclick=\"y\" onmouseover='z'>d</div>".to_string()),
            Just("<iframe src=\"https://evil.example\"></iframe>".to_string()),
            Just("<a title=\"<script>\" href=\"/x\">t</a>".to_string()),
            Just("<p>Polling station <b>open</b></p>".to_string()),
            Just("<body onload=alert(1)>".to_string()),
            Just("<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>".to_string()),
            Just("<!-- <script>x</script> -->".to_string()),
            Just(
                "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>"
                    .to_string()
            ),
            "\\PC{0,24}",
            "[<>\"'=a-z /]{0,24}",
        ]
    }

    proptest! {
        #[test]
        fn sanitized_html_never_has_scripts_or_event_handlers(parts in prop::collection::vec(fragment(), 0..10)) {
            let input = parts.concat();
            let out = from_html(&input, &base());
            assert_harmless(&out.html);
            for u in out.links.iter().chain(&out.images) {
                prop_assert!(u.starts_with("http://") || u.starts_with("https://"), "{u}");
            }
        }

        #[test]
        fn tidy_text_is_idempotent_and_trimmed(s in "\\PC{0,80}") {
            let once = tidy_text(&s);
            prop_assert_eq!(tidy_text(&once), once.clone());
            prop_assert_eq!(once.trim(), once.as_str());
            prop_assert!(!once.contains("\n\n\n"));
        }
    }
}
