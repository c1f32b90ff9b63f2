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

use std::collections::HashSet;

use ammonia::UrlRelative;
use html2text::render::TrivialDecorator;
use html2text::{Handle, RcDom};
use url::Url;

/// Wrap width for html2text: wide enough that paragraphs are never wrapped.
const TEXT_WIDTH: usize = 100_000;

/// The `rel` every sanitized link carries.
pub const LINK_REL: &str = "noopener noreferrer nofollow";

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
}

/// Sanitizes `html`, resolving relative URLs against `base`, and extracts text, links and
/// images from the result.
pub fn from_html(html: &str, base: &Url) -> HtmlContent {
    let clean = sanitize(html, base);
    // html5ever reading from memory cannot fail; without a DOM there is just no text.
    let Some(dom) = parse(&clean) else {
        return HtmlContent {
            html: clean,
            ..HtmlContent::default()
        };
    };
    let mut links = Vec::new();
    let mut images = Vec::new();
    collect_urls(&dom.document, &mut links, &mut images);
    HtmlContent {
        text: render_text(&dom),
        html: clean,
        links: dedup_http(links),
        images: dedup_http(images),
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

/// Plain text of an HTML fragment (e.g. an HTML title), tidied.
pub fn html_to_text(html: &str) -> String {
    parse(html).map(|dom| render_text(&dom)).unwrap_or_default()
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

fn collect_urls(node: &Handle, links: &mut Vec<String>, images: &mut Vec<String>) {
    if let html2text::Element { name, attrs, .. } = &node.data {
        let wanted = match &*name.local {
            "a" => Some(("href", &mut *links)),
            "img" => Some(("src", &mut *images)),
            _ => None,
        };
        if let Some((attr_name, out)) = wanted {
            for attr in attrs.borrow().iter() {
                if &*attr.name.local == attr_name {
                    out.push(attr.value.to_string());
                }
            }
        }
    }
    for child in node.children.borrow().iter() {
        collect_urls(child, links, images);
    }
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
    fn walk(node: &Handle, out: &mut Vec<(String, Vec<(String, String)>)>) {
        if let html2text::Element { name, attrs, .. } = &node.data {
            let attrs = attrs
                .borrow()
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect();
            out.push((name.local.to_string(), attrs));
        }
        for child in node.children.borrow().iter() {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    if let Some(dom) = parse(html) {
        walk(&dom.document, &mut out);
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
