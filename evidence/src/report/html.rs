//! `report.html`: the document as one self-contained, printable page (inline CSS, no scripts,
//! no remote resources; screenshots are files of the pack by relative path).

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::doc::{Block, Cell, Doc, Group, Inline, Para};

const CSS: &str = r#"
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 0 auto; max-width: 190mm; }
h1 { font-size: 20pt; margin: 0 0 4mm; }
h2 { font-size: 14pt; border-bottom: 2px solid #333; padding-bottom: 1mm; margin: 8mm 0 3mm; }
h3 { font-size: 12pt; margin: 6mm 0 2mm; }
.cover { page-break-after: always; break-after: page; }
.banner { background: #222; color: #fff; padding: 3mm 4mm; font-weight: bold; letter-spacing: .03em; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 4mm; }
th, td { border: 1px solid #999; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.hash, code { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all; }
.sev-high, .sev-critical { color: #a00; font-weight: bold; } .sev-medium { color: #b50; font-weight: bold; }
.item, .section { page-break-before: always; break-before: page; }
h2.section + section.item { page-break-before: auto; break-before: auto; }
.why { border-left: 4px solid #a00; padding: 1mm 3mm; margin: 2mm 0; background: #fff6f6; }
.rebuttal { border-left: 4px solid #060; padding: 1mm 3mm; margin: 2mm 0; background: #f4fff4; }
.quote { border: 1px dashed #888; padding: 2mm 3mm; white-space: pre-wrap; }
img.shot { display: block; max-width: 100%; max-height: 250mm; object-fit: contain; object-position: top; border: 1px solid #444; height: auto; }
.note { color: #555; font-size: 9pt; }
"#;

/// The document as HTML.
pub fn render(doc: &Doc) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"generator\" content=\"{}\">\
         <title>Evidence pack: {}</title><style>{CSS}</style></head><body>\n",
        attr(&doc.generator),
        text(&doc.title),
    );
    for b in &doc.blocks {
        block(&mut h, b);
    }
    h += "</body></html>\n";
    h
}

fn block(h: &mut String, b: &Block) {
    match b {
        Block::Banner(t) => {
            let _ = write!(h, "<div class=\"banner\">{}</div>", text(t));
        }
        Block::Title(t) => {
            let _ = write!(h, "<h1>{}</h1>", text(t));
        }
        Block::Section(t) => {
            let _ = write!(h, "<h2 class=\"section\">{}</h2>", text(t));
        }
        Block::Heading(t) => {
            let _ = write!(h, "<h3>{}</h3>", text(t));
        }
        Block::Para(p) => para(h, p),
        Block::List(items) => {
            h.push_str("<ul>");
            for i in items {
                h.push_str("<li>");
                inlines(h, i);
                h.push_str("</li>");
            }
            h.push_str("</ul>");
        }
        Block::Quote(t) => {
            let _ = write!(h, "<div class=\"quote\">{}</div>", text(t));
        }
        Block::Why(s) => boxed(h, "why", s),
        Block::Rebuttal(s) => boxed(h, "rebuttal", s),
        Block::Table(rows) => table(h, rows),
        Block::Image(i) => {
            let _ = write!(
                h,
                "<img class=\"shot\" alt=\"{}\" src=\"{}\"{}>",
                attr(&i.alt),
                attr(&i.src),
                match i.size {
                    (w, ht) if w > 0 && ht > 0 => format!(" width=\"{w}\" height=\"{ht}\""),
                    _ => String::new(),
                }
            );
        }
        Block::Group(g, blocks) => {
            h.push_str(match g {
                Group::Cover => "<section class=\"cover\">",
                Group::Item => "<section class=\"item\">",
            });
            for b in blocks {
                block(h, b);
            }
            h.push_str("</section>");
        }
    }
}

fn para(h: &mut String, p: &Para) {
    h.push_str("<p");
    if p.note {
        h.push_str(" class=\"note\"");
    }
    if let Some(id) = p.id {
        let _ = write!(h, " id=\"{}\"", attr(id));
    }
    h.push('>');
    inlines(h, &p.spans);
    h.push_str("</p>");
}

fn boxed(h: &mut String, class: &str, spans: &[Inline]) {
    let _ = write!(h, "<div class=\"{class}\">");
    inlines(h, spans);
    h.push_str("</div>");
}

fn table(h: &mut String, rows: &[Vec<Cell>]) {
    h.push_str("<table>");
    for row in rows {
        h.push_str("<tr>");
        for c in row {
            let tag = if c.head { "th" } else { "td" };
            let _ = write!(h, "<{tag}>");
            inlines(h, &c.spans);
            let _ = write!(h, "</{tag}>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn inlines(h: &mut String, spans: &[Inline]) {
    for s in spans {
        match s {
            Inline::Text(t) => h.push_str(&text(t)),
            Inline::Bold(t) => {
                let _ = write!(h, "<b>{}</b>", text(t));
            }
            Inline::Em(t) => {
                let _ = write!(h, "<em>{}</em>", text(t));
            }
            Inline::Code(t) => {
                let _ = write!(h, "<code>{}</code>", text(t));
            }
            Inline::Hash(t) => {
                let _ = write!(h, "<span class=\"hash\">{}</span>", text(t));
            }
            Inline::Note(t) => {
                let _ = write!(h, "<span class=\"note\">{}</span>", text(t));
            }
            Inline::Severity(t) => {
                let _ = write!(h, "<span class=\"sev-{}\">{}</span>", attr(t), text(t));
            }
            Inline::File(p) => {
                let _ = write!(h, "<a href=\"{}\"><code>{}</code></a>", attr(p), text(p));
            }
            Inline::Break => h.push_str("<br>"),
        }
    }
}
