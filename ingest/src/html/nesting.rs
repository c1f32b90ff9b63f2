//! Bounding the element nesting of untrusted HTML before any parser or tree walk sees it.
//!
//! A document nesting tens of thousands of elements makes html5ever's tree builder quadratic
//! (scope checks walk the open-element stack) and any recursive walk over the tree overflow the
//! stack, which aborts the process. [`bound_nesting`] is one linear pass over the markup that
//! tracks how deep the open elements go, approximately as a browser would (void elements,
//! elements that close an open `<p>`, `<li>` or table cell, raw-text elements), and drops the
//! start and end tags of anything deeper than the limit, keeping the text inside as flat text.
//! The result goes on to the sanitizer like any other HTML, so an approximation here can only
//! move where content is flattened, never let markup through unsanitized; [`super`] also checks
//! the depth of the tree it finally parses and falls back to flat text if a document evades this
//! pass.
//!
//! Formatting elements closed implicitly (`<div><b></div>`) stay "active" and the parser opens
//! them again inside later content, so they count towards the depth until their own end tag.

use std::borrow::Cow;

/// Elements that never have content (no end tag).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "basefont", "bgsound", "frame", "image",
];

/// Elements whose content is text up to their end tag (outside SVG and MathML).
const RAW_TEXT: &[&str] = &[
    "script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title",
];

/// Formatting elements: when something closes them implicitly the parser re-opens them inside
/// the next content ("reconstructs" them), up to three of each name and attributes.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Start tags that close an open `<p>` (the HTML standard's list, roughly).
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "search",
    "section",
    "summary",
    "table",
    "ul",
    "dd",
    "dt",
    "plaintext",
];

/// Elements that stop the search for an open element to close implicitly.
const SCOPE: &[&str] = &[
    "html", "body", "table", "td", "th", "caption", "button", "object", "applet", "marquee",
    "template", "svg", "math",
];

/// SVG and MathML elements whose content is HTML again.
const INTEGRATION: &[&str] = &[
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
    "foreignobject",
    "desc",
    "title",
];

/// HTML start tags that end SVG or MathML content.
const BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
    "font",
];

/// The outcome of [`bound_nesting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded<'a> {
    /// The markup, with the tags of elements deeper than the limit replaced by a space.
    pub html: Cow<'a, str>,
    /// Elements were nested deeper than the limit (and their tags dropped).
    pub cut: bool,
}

/// `html` with every element nested more than `max_depth` deep flattened: its start and end tags
/// become a space, its text stays. Linear in the input; the input itself when nothing is cut.
pub fn bound_nesting(html: &str, max_depth: usize) -> Bounded<'_> {
    let bytes = html.as_bytes();
    let mut out = String::new();
    // Up to where `html` has been copied to `out` (only once something was cut).
    let mut copied = 0;
    let mut cut = false;
    let mut open = Open::default();
    // Open elements beyond the limit whose tags were dropped.
    let mut excess = 0usize;
    // `<a>` tags kept beyond the limit whose end tags are still to come.
    let mut kept_links = 0usize;
    let mut i = 0;
    // Replaces `html[from..to]` by `with` in the output.
    let replace = |out: &mut String, copied: &mut usize, from: usize, to: usize, with: &str| {
        out.push_str(&html[*copied..from]);
        out.push_str(with);
        *copied = to;
    };
    while let Some(off) = memchr(b'<', &bytes[i..]) {
        let lt = i + off;
        let rest = &bytes[lt + 1..];
        if rest.starts_with(b"!--") {
            i = find(bytes, lt + 4, b"-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        if rest.first().is_some_and(|b| *b == b'!' || *b == b'?') {
            i = memchr(b'>', rest).map_or(bytes.len(), |e| lt + 1 + e + 1);
            continue;
        }
        let end_tag = rest.first() == Some(&b'/');
        let name_at = lt + 1 + usize::from(end_tag);
        if !bytes.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
            i = lt + 1;
            continue;
        }
        let name_end = bytes[name_at..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
            .map_or(bytes.len(), |p| name_at + p);
        let Some(gt) = tag_end(bytes, name_end) else {
            // An unterminated tag: the parser drops it and everything after it.
            break;
        };
        let name = html[name_at..name_end].to_ascii_lowercase();
        let tag = &html[lt..=gt];
        let self_closing = bytes[..gt].ends_with(b"/");
        i = gt + 1;
        if end_tag {
            if excess > 0 && name == "a" && kept_links > 0 {
                kept_links -= 1;
            } else if excess > 0 {
                excess -= 1;
                replace(&mut out, &mut copied, lt, i, " ");
            } else if let Some(at) = open.stack.iter().rposition(|e| e.name == name) {
                open.close_from(at);
            } else if FORMATTING.contains(&name.as_str()) {
                open.forget_active(&name);
            }
            continue;
        }
        if VOID.contains(&name.as_str()) || (self_closing && open.self_closes(&name)) {
            continue;
        }
        let raw = !open.in_foreign() && (RAW_TEXT.contains(&name.as_str()) || name == "plaintext");
        if excess == 0 {
            // Only a tag the parser will see closes anything.
            close_implied(&name, &mut open);
        }
        if excess == 0 && open.depth() < max_depth {
            if raw {
                // Its content is text up to its end tag, which closes it.
                i = raw_end(html, i, &name).map_or(bytes.len(), |(_, e)| e);
            } else {
                open.push(name, tag);
            }
            continue;
        }
        cut = true;
        if name == "a" {
            // Links are evidence (a lookalike domain can hide at the bottom): keep them. The
            // parser never nests one `<a>` in another, so they add one level at most.
            kept_links += 1;
            continue;
        }
        if raw {
            // Flattened: script and style content goes (the sanitizer would drop it), other
            // raw text stays as escaped text so it cannot turn into markup.
            let (content_end, end) = raw_end(html, i, &name).unwrap_or((bytes.len(), bytes.len()));
            let text = if matches!(name.as_str(), "script" | "style") {
                String::from(" ")
            } else {
                format!(" {} ", html_escape::encode_text(&html[i..content_end]))
            };
            replace(&mut out, &mut copied, lt, end, &text);
            i = end;
        } else {
            excess += 1;
            replace(&mut out, &mut copied, lt, i, " ");
        }
    }
    if !cut {
        return Bounded {
            html: Cow::Borrowed(html),
            cut: false,
        };
    }
    out.push_str(&html[copied..]);
    Bounded {
        html: Cow::Owned(out),
        cut,
    }
}

fn is_foreign(name: &str) -> bool {
    matches!(name, "svg" | "math")
}

/// One open element.
struct Element {
    name: String,
    /// For a formatting element: its start tag, which is what the parser compares when it
    /// decides whether another copy stays active.
    formatting: Option<String>,
    /// An SVG or MathML element (inside one, `/>` closes an element).
    foreign: bool,
}

/// The open elements as the parser would have them, and the formatting elements it would
/// re-open.
#[derive(Default)]
struct Open {
    stack: Vec<Element>,
    /// Formatting elements closed implicitly and still active, by start tag: at most three of
    /// each (the parser's own rule), at most the depth limit in all.
    active: std::collections::HashMap<String, usize>,
    active_total: usize,
}

impl Open {
    /// Whether a self-closing tag `name` opens nothing: only in SVG or MathML, outside their
    /// HTML integration points, and not for the HTML names that break out of them.
    fn self_closes(&self, name: &str) -> bool {
        self.in_foreign() && !BREAKOUT.contains(&name)
    }

    /// Whether content here is SVG or MathML (not HTML).
    fn in_foreign(&self) -> bool {
        self.stack
            .last()
            .is_some_and(|e| e.foreign && !INTEGRATION.contains(&e.name.as_str()))
    }

    /// How deep the next element would be: the open ones plus the ones the parser re-opens.
    fn depth(&self) -> usize {
        self.stack.len() + self.active_total
    }

    fn push(&mut self, name: String, tag: &str) {
        let foreign =
            is_foreign(&name) || (self.in_foreign() && !BREAKOUT.contains(&name.as_str()));
        let formatting = FORMATTING
            .contains(&name.as_str())
            .then(|| tag.to_ascii_lowercase());
        self.stack.push(Element {
            name,
            formatting,
            foreign,
        });
    }

    /// Closes the element at `at` and everything opened after it; formatting elements among
    /// the latter stay active.
    fn close_from(&mut self, at: usize) {
        let closed: Vec<Element> = self.stack.drain(at..).collect();
        for e in closed.into_iter().skip(1) {
            if let Some(key) = e.formatting {
                let n = self.active.entry(key).or_default();
                if *n < 3 {
                    *n += 1;
                    self.active_total += 1;
                }
            }
        }
    }

    /// An end tag for a formatting element that is not open: the parser drops one active copy.
    fn forget_active(&mut self, name: &str) {
        let key = self
            .active
            .iter()
            .find(|(k, n)| **n > 0 && tag_name_is(k, name))
            .map(|(k, _)| k.clone());
        if let Some(key) = key {
            if let Some(n) = self.active.get_mut(&key) {
                *n -= 1;
                self.active_total -= 1;
                if *n == 0 {
                    self.active.remove(&key);
                }
            }
        }
    }
}

/// Whether start tag `tag` (lowercased, `<name ...>`) is of element `name`.
fn tag_name_is(tag: &str, name: &str) -> bool {
    tag.get(1..)
        .and_then(|t| t.strip_prefix(name))
        .and_then(|t| t.chars().next())
        .is_some_and(|c| c.is_ascii_whitespace() || c == '/' || c == '>')
}

/// Pops the elements a start tag `name` closes implicitly (an open `<p>` before a block, an
/// open `<li>` before the next, a table cell or row before the next).
fn close_implied(name: &str, open: &mut Open) {
    let targets: &[&str] = match name {
        "li" => &["li"],
        "dt" | "dd" => &["dt", "dd"],
        "tr" => &["tr"],
        "td" | "th" => &["td", "th"],
        "thead" | "tbody" | "tfoot" => &["thead", "tbody", "tfoot"],
        "option" => &["option"],
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => &["h1", "h2", "h3", "h4", "h5", "h6"],
        _ => &[],
    };
    let pop_to = |open: &mut Open, wanted: &[&str], boundary: &[&str]| {
        let found = open
            .stack
            .iter()
            .rev()
            .take_while(|e| {
                !boundary.contains(&e.name.as_str()) || wanted.contains(&e.name.as_str())
            })
            .position(|e| wanted.contains(&e.name.as_str()));
        if let Some(from_top) = found {
            open.close_from(open.stack.len() - 1 - from_top);
        }
    };
    if CLOSES_P.contains(&name) {
        pop_to(open, &["p"], SCOPE);
    }
    let top_is = |open: &Open, names: &[&str]| {
        open.stack
            .last()
            .is_some_and(|e| names.contains(&e.name.as_str()))
    };
    match name {
        "li" => pop_to(open, targets, &["ul", "ol", "menu", "table", "svg", "math"]),
        "dt" | "dd" => pop_to(open, targets, &["dl", "table", "svg", "math"]),
        "tr" | "thead" | "tbody" | "tfoot" => pop_to(open, targets, &["table"]),
        "td" | "th" => pop_to(open, targets, &["tr", "table"]),
        "option" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if top_is(open, targets) => {
            open.close_from(open.stack.len() - 1);
        }
        _ => {}
    }
}

/// The `>` that ends a tag whose attributes start at `from`, skipping quoted attribute values.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut after_eq = false;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return Some(i),
            b'=' => after_eq = true,
            q @ (b'"' | b'\'') if after_eq => {
                i = memchr(q, &bytes[i + 1..]).map(|e| i + 1 + e)?;
                after_eq = false;
            }
            b if b.is_ascii_whitespace() => {}
            _ => after_eq = false,
        }
        i += 1;
    }
    None
}

/// Where the content of raw-text element `name` whose start tag ended before `from` ends, and
/// where its end tag ends: `(content_end, end)`; `None` when it runs to the end of the input.
fn raw_end(html: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    if name == "plaintext" {
        return None;
    }
    let bytes = html.as_bytes();
    let mut i = from;
    while let Some(off) = find(bytes, i, b"</") {
        let at = off + 2;
        let matches = bytes
            .get(at..at + name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes
                .get(at + name.len())
                .is_none_or(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>');
        if matches {
            let end = memchr(b'>', &bytes[at..]).map_or(bytes.len(), |e| at + e + 1);
            return Some((off, end));
        }
        i = at;
    }
    None
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

/// The first `needle` in `bytes` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest element nesting html5ever builds for `html` (walked with a stack).
    fn parsed_depth(html: &str) -> usize {
        let doc = scraper::Html::parse_fragment(html);
        let mut deepest = 0;
        let mut stack = vec![(doc.tree.root(), 0usize)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            stack.extend(node.children().map(|c| (c, depth + 1)));
        }
        deepest
    }

    #[test]
    fn ordinary_markup_passes_untouched() {
        let many = |unit: &str| unit.repeat(2_000);
        for html in [
            many("<p>Polling stations open at 7am."),
            format!("<ul>{}</ul>", many("<li>Riverside ward")),
            format!("<dl>{}</dl>", many("<dt>Ward<dd>Station")),
            format!("<table>{}</table>", many("<tr><td>Ward<td>Station")),
            many("<br><img src=a.png><hr><input>"),
            many("<p><b>Bold</p>"),
            format!("<select>{}</select>", many("<option>x")),
            format!("<svg>{}</svg>", many("<path d='M0 0'/>")),
            many("<script>if (a<b) { document.write('<div><div><div>') }</script>"),
            many("<!-- <div><div> --><?php x ?><!doctype html>"),
            many("<div title='a > b <div>'>x</div>"),
            "<div>".repeat(100),
        ] {
            let b = bound_nesting(&html, 128);
            assert!(!b.cut, "{}", &html[..80]);
            assert!(matches!(b.html, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn deep_nesting_is_flattened_below_the_limit_and_keeps_the_text() {
        let html = format!(
            "{}deep text{}",
            "<div><span>".repeat(5_000),
            "</span></div>".repeat(5_000)
        );
        let b = bound_nesting(&html, 100);
        assert!(b.cut);
        assert!(b.html.contains("deep text"));
        assert!(
            parsed_depth(&b.html) <= 100 + 4,
            "{}",
            parsed_depth(&b.html)
        );
        // Unclosed, and with `/>` (which HTML ignores on a div).
        for (start, unit) in [
            ("", "<div>"),
            ("", "<div/>"),
            ("", "<b><i><u>"),
            ("", "<table><tr><td>"),
            ("<svg>", "<div/><svg>"),
            ("<math><mi>", "<x/>"),
        ] {
            let input = format!("{start}{}x", unit.repeat(20_000));
            let b = bound_nesting(&input, 100);
            assert!(b.cut, "{unit}");
            let depth = parsed_depth(&b.html);
            assert!(depth <= 2 * 100 + 8, "{unit}: {depth}");
        }
    }

    #[test]
    fn formatting_elements_the_parser_reopens_count_towards_the_depth() {
        // Each `</div>` leaves the bold elements active; the parser re-opens all of them in the
        // next block, so the tree gets deeper every round while the tags alone never do.
        let html: String = (0..40)
            .map(|r| {
                let round: String = (0..50).map(|i| format!("<b id={r}-{i}>")).collect();
                format!("<div>{round}r{r}</div>")
            })
            .collect();
        let b = bound_nesting(&html, 100);
        assert!(b.cut);
        let depth = parsed_depth(&b.html);
        assert!(depth <= 2 * 100 + 8, "{depth}");
        assert!(parsed_depth(&html) > 1_000, "the unbounded input is deep");
    }

    #[test]
    fn flattened_raw_text_cannot_become_markup() {
        let deep = "<div>".repeat(10);
        let input =
            format!("{deep}<textarea><div><div>&</textarea><script>alert('<div>')</script>x");
        let b = bound_nesting(&input, 5);
        assert!(b.cut);
        assert!(b.html.contains("&lt;div&gt;&lt;div&gt;&amp;"), "{}", b.html);
        assert!(!b.html.contains("alert"), "{}", b.html);
        assert!(b.html.ends_with('x'));
    }

    #[test]
    fn the_pass_is_linear_and_unterminated_markup_is_safe() {
        for html in [
            "<div",
            "<div title='",
            "<!--",
            "</",
            "<textarea>",
            "<a href=\"x",
        ] {
            let input = format!("{}{html}", "<p>".repeat(3));
            let b = bound_nesting(&input, 1);
            assert!(!b.html.is_empty());
        }
        // 400,000 nested elements in well under a second's worth of work per 100,000: time the
        // pass at two sizes; linear work grows 4x, quadratic 16x.
        let time = |n: usize| {
            let html = "<div>".repeat(n);
            let t = std::time::Instant::now();
            let b = bound_nesting(&html, 256);
            assert!(b.cut);
            t.elapsed()
        };
        let small = time(100_000).max(std::time::Duration::from_millis(1));
        let large = time(400_000);
        assert!(
            large < small * 10,
            "100k: {small:?}, 400k: {large:?}: not linear"
        );
    }
}
