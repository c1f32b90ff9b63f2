//! Rewrites old or unlabelled feed dialects that feed-rs refuses or reads as empty into ones it
//! reads, before it parses them. Only the few bytes that need to change are changed (the rest
//! of the document is copied as is), and anything this pass cannot read is left for feed-rs to
//! report.
//!
//! | Feed                                   | feed-rs alone              | Rewritten to                |
//! |----------------------------------------|----------------------------|-----------------------------|
//! | `<rss>` without `version`, or any      | "no feed root" error       | `version="2.0"` (the most   |
//! | version other than 0.91, 0.92, 2.0     |                            | liberal of its RSS readers) |
//! | RSS 0.90 (`rdf:RDF`, Netscape 0.9 ns)  | no entries                 | the RSS 1.0 namespace       |
//! | RSS 1.0 `<item>` without `<link>`      | item dropped               | `<link>` = its `rdf:about`, |
//! |                                        |                            | else [`NO_LINK`]            |
//! | Atom 0.3 (`purl.org/atom/ns#`)         | no entries                 | the Atom 1.0 namespace;     |
//! |                                        |                            | `issued`/`modified` →       |
//! |                                        |                            | `published`/`updated`       |
//!
//! The pass reads the document once, as a stream of tags (no tree, no recursion), so its cost
//! is linear in the size of the feed.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The `<link>` given to an RSS 1.0 item that has neither a link nor an `rdf:about`, so that
/// feed-rs keeps it; [`super::normalise`] removes it again.
pub const NO_LINK: &str = "urn:ballotwatch:no-link";

const RSS_090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10_NS: &str = "http://purl.org/rss/1.0/";
const ATOM_03_NS: &str = "http://purl.org/atom/ns#";
const ATOM_10_NS: &str = "http://www.w3.org/2005/Atom";
/// The `<rss version>` values feed-rs reads.
const RSS_VERSIONS: &[&str] = &["2.0", "0.91", "0.92"];

/// `xml` with the rewrites above applied, or unchanged (borrowed) when none applies.
pub fn prenormalise(xml: &str) -> Cow<'_, str> {
    let mut edits = Vec::new();
    if collect_edits(xml, &mut edits).is_none() || edits.is_empty() {
        // Not XML this pass can read (JSON Feed, or malformed: feed-rs says why), or nothing
        // to change.
        return Cow::Borrowed(xml);
    }
    let mut out = String::with_capacity(xml.len() + edits.len() * 32);
    let mut at = 0;
    for Edit { range, with } in edits {
        out.push_str(xml.get(at..range.start).unwrap_or_default());
        out.push_str(&with);
        at = range.end;
    }
    out.push_str(xml.get(at..).unwrap_or_default());
    Cow::Owned(out)
}

/// Replace the bytes in `range` with `with`. Edits are collected in document order and never
/// overlap.
struct Edit {
    range: std::ops::Range<usize>,
    with: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Rss,
    Rdf,
    Atom03,
    Other,
}

/// Reads `xml` and pushes the edits it needs; `None` when it is not XML we can read.
fn collect_edits(xml: &str, edits: &mut Vec<Edit>) -> Option<()> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut dialect = None;
    let mut depth = 0usize;
    // For an RSS 1.0 item (a child of the root): its rdf:about and whether it had a <link>
    // with text (feed-rs ignores an empty one); and whether we are inside such a <link>.
    let mut item: Option<(Option<String>, bool)> = None;
    let mut in_link = false;
    loop {
        let start = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        let end = usize::try_from(reader.buffer_position()).ok()?;
        let (tag, empty) = match event {
            Event::Start(tag) => (tag, false),
            Event::Empty(tag) => (tag, true),
            Event::Text(text) if in_link => {
                if !text.trim().is_empty() {
                    if let Some((_, has_link)) = item.as_mut() {
                        *has_link = true;
                    }
                }
                continue;
            }
            Event::CData(text) if in_link => {
                if !text.trim().is_empty() {
                    if let Some((_, has_link)) = item.as_mut() {
                        *has_link = true;
                    }
                }
                continue;
            }
            Event::GeneralRef(_) if in_link => {
                if let Some((_, has_link)) = item.as_mut() {
                    *has_link = true;
                }
                continue;
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                in_link = false;
                let local = tag.local_name();
                let local = local.as_ref();
                if dialect == Some(Dialect::Rdf) && depth == 1 && local == "item" {
                    if let Some((about, false)) = item.take() {
                        let link = about.unwrap_or_else(|| NO_LINK.to_string());
                        edits.push(Edit {
                            range: start..start,
                            with: format!("<link xmlns=\"{RSS_10_NS}\">{link}</link>"),
                        });
                    }
                } else if dialect == Some(Dialect::Atom03) && tag.name().prefix().is_none() {
                    if let Some(new) = atom03_name(local) {
                        edits.push(Edit {
                            range: start..end,
                            with: format!("</{new}>"),
                        });
                    }
                }
                continue;
            }
            Event::Eof => return dialect.map(|_| ()),
            _ => continue,
        };
        let close = if empty { "/>" } else { ">" };
        let Some(dialect) = dialect else {
            let (d, rewritten) = root(&tag, close);
            dialect = Some(d);
            if let Some(with) = rewritten {
                edits.push(Edit {
                    range: start..end,
                    with,
                });
            }
            if d != Dialect::Rdf && d != Dialect::Atom03 {
                // Only the root needed looking at.
                return Some(());
            }
            depth = usize::from(!empty);
            continue;
        };
        let local = tag.local_name();
        let local = local.as_ref();
        let rewritten = match dialect {
            Dialect::Rdf => {
                if depth == 1 && local == "item" && !empty {
                    item = Some((attr(&tag, "rdf:about"), false));
                } else if depth == 2 && local == "link" && !empty {
                    in_link = true;
                }
                remapped_ns(&tag, close)
            }
            Dialect::Atom03 => renamed_atom03(&tag, close),
            Dialect::Rss | Dialect::Other => None,
        };
        if let Some(with) = rewritten {
            edits.push(Edit {
                range: start..end,
                with,
            });
        }
        if !empty {
            depth += 1;
        }
    }
}

/// The root element's dialect and, when it must change, its rewritten start tag.
fn root(tag: &BytesStart<'_>, close: &str) -> (Dialect, Option<String>) {
    let local = tag.local_name();
    match local.as_ref() {
        "rss" => {
            // feed-rs compares the value as written, spaces included.
            let version = tag
                .attributes()
                .with_checks(false)
                .flatten()
                .find(|a| a.key.as_ref() == "version")
                .map(|a| a.value.to_string());
            let ok = version
                .as_deref()
                .is_some_and(|v| RSS_VERSIONS.contains(&v));
            if ok {
                return (Dialect::Rss, None);
            }
            tracing::debug!(version = ?version, "reading an RSS feed of unknown version as RSS 2.0");
            (
                Dialect::Rss,
                Some(rebuild(tag, &[("version", Some("2.0"))], None, close)),
            )
        }
        "RDF" => (Dialect::Rdf, remapped_ns(tag, close)),
        "feed" if namespaces(tag).any(|(_, v)| v == ATOM_03_NS) => (
            Dialect::Atom03,
            Some(rebuild(tag, &[("version", None)], None, close)),
        ),
        _ => (Dialect::Other, None),
    }
}

/// The `xmlns` / `xmlns:*` attributes of a tag.
fn namespaces<'a>(tag: &'a BytesStart<'a>) -> impl Iterator<Item = (String, String)> + 'a {
    tag.attributes().flatten().filter_map(|a| {
        let key = a.key.as_ref().to_string();
        (key == "xmlns" || key.starts_with("xmlns:")).then(|| (key, a.value.trim().to_string()))
    })
}

/// The tag rebuilt when it declares the RSS 0.90 namespace (which becomes RSS 1.0's).
fn remapped_ns(tag: &BytesStart<'_>, close: &str) -> Option<String> {
    let old = namespaces(tag).find(|(_, v)| v == RSS_090_NS)?;
    Some(rebuild(
        tag,
        &[(old.0.as_str(), Some(RSS_10_NS))],
        None,
        close,
    ))
}

/// An Atom 0.3 start tag renamed or given the Atom 1.0 namespace, as needed.
fn renamed_atom03(tag: &BytesStart<'_>, close: &str) -> Option<String> {
    let declares = namespaces(tag).any(|(_, v)| v == ATOM_03_NS);
    let new_name = if tag.name().prefix().is_none() {
        atom03_name(tag.local_name().as_ref())
    } else {
        None
    };
    (declares || new_name.is_some()).then(|| rebuild(tag, &[], new_name, close))
}

/// Atom 0.3 element names that Atom 1.0 renamed.
fn atom03_name(local: &str) -> Option<&'static str> {
    match local {
        "issued" => Some("published"),
        "modified" => Some("updated"),
        _ => None,
    }
}

/// The raw (still escaped) value of attribute `key` (qualified name as written), trimmed.
fn attr(tag: &BytesStart<'_>, key: &str) -> Option<String> {
    tag.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| a.value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `<name attrs>` (or `/>`, per `close`) again, with `set` applied (`Some` value: set or add;
/// `None`: remove), any Atom 0.3 namespace declaration replaced by Atom 1.0's, and the element
/// renamed to `rename` if given. Other attributes keep their raw (still escaped) values. `set`
/// values are constants that need no escaping.
fn rebuild(
    tag: &BytesStart<'_>,
    set: &[(&str, Option<&str>)],
    rename: Option<&str>,
    close: &str,
) -> String {
    let name = tag.name();
    let mut out = format!("<{}", rename.unwrap_or(name.as_ref()));
    let mut done = vec![false; set.len()];
    for a in tag.attributes().with_checks(false).flatten() {
        let key = a.key.as_ref();
        if let Some(i) = set.iter().position(|(k, _)| *k == key) {
            done[i] = true;
            if let Some(v) = set[i].1 {
                out += &format!(" {key}=\"{v}\"");
            }
            continue;
        }
        let is_ns = key == "xmlns" || key.starts_with("xmlns:");
        let value = if is_ns && a.value.trim() == ATOM_03_NS {
            ATOM_10_NS
        } else {
            a.value.as_ref()
        };
        if value.contains('"') {
            out += &format!(" {key}='{value}'");
        } else {
            out += &format!(" {key}=\"{value}\"");
        }
    }
    for ((k, v), done) in set.iter().zip(done) {
        if let (false, Some(v)) = (done, v) {
            out += &format!(" {k}=\"{v}\"");
        }
    }
    out.push_str(close);
    out
}

#[cfg(test)]
mod tests;
