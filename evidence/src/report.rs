//! `report.html`: one self-contained, printable document for the Returning Officer (inline CSS,
//! screenshots as `data:` URIs, no remote resources): a cover page with the incident summary,
//! then per incident a timeline, every item with why it was flagged (explanations and
//! rebuttals), its captures and screenshots, the chain of custody (who viewed, changed, exported
//! and checked the evidence, and when) and finally the table of file hashes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::custody::Custody;
use crate::manifest::{names, FileEntry, IncidentEntry, ItemEntry, Manifest};
use crate::thumbnail::ReportImage;
use crate::timestamp::pack::{ItemStamp, TimestampCheck};

/// The pack's trusted timestamps as checked at export: `Ok(None)` when it has none, `Err` why
/// they could not be checked.
pub type Stamps = std::result::Result<Option<TimestampCheck>, String>;

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
td.hash, code { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all; }
.sev-high { color: #a00; font-weight: bold; } .sev-medium { color: #b50; font-weight: bold; }
.item, .section { page-break-before: always; break-before: page; }
h2.section + section.item { page-break-before: auto; break-before: auto; }
.why { border-left: 4px solid #a00; padding: 1mm 3mm; margin: 2mm 0; background: #fff6f6; }
.rebuttal { border-left: 4px solid #060; padding: 1mm 3mm; margin: 2mm 0; background: #f4fff4; }
.quote { border: 1px dashed #888; padding: 2mm 3mm; white-space: pre-wrap; }
img.shot { display: block; max-width: 100%; max-height: 250mm; object-fit: contain; object-position: top; border: 1px solid #444; height: auto; }
.note { color: #555; font-size: 9pt; }
"#;

/// A time for people: `2026-05-01 08:00:00 UTC`.
fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Renders the report. `manifest` is complete except for `files` and `report`; `hashes` lists
/// every other file of the pack; `images` maps a screenshot's pack path to the image shown for
/// it (a thumbnail, or the PNG itself: [`crate::thumbnail`]);
/// `custody` is the pack's `custody.json`; `stamps` its trusted timestamps, checked.
pub fn render(
    manifest: &Manifest,
    hashes: &[FileEntry],
    images: &BTreeMap<String, ReportImage>,
    custody: &Custody,
    stamps: &Stamps,
) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = title(&manifest.incidents, manifest.items.len());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"generator\" content=\"{tool} {ver}\">\
         <title>Evidence pack: {t}</title><style>{CSS}</style></head><body>\n",
        tool = attr(&manifest.tool.name),
        ver = attr(&manifest.tool.version),
        t = text(&title),
    );
    cover(&mut h, manifest, &title);
    let items: BTreeMap<&str, &ItemEntry> = manifest
        .items
        .iter()
        .map(|e| (e.item.id.as_str(), e))
        .collect();
    let mut shown = std::collections::BTreeSet::new();
    for inc in &manifest.incidents {
        let i = &inc.incident;
        let _ = write!(
            h,
            "<h2 class=\"section\">Incident {} — {}</h2>",
            i.id,
            text(&i.title)
        );
        timeline(&mut h, manifest, inc);
        for id in &inc.item_ids {
            if let Some(e) = items.get(id.as_str()) {
                item(&mut h, manifest, e, images);
                shown.insert(id.as_str());
            }
        }
    }
    let others: Vec<&ItemEntry> = manifest
        .items
        .iter()
        .filter(|e| !shown.contains(e.item.id.as_str()))
        .collect();
    if !others.is_empty() {
        h += "<h2 class=\"section\">Items exported without an incident</h2>";
        for e in others {
            item(&mut h, manifest, e, images);
        }
    }
    timestamps_section(&mut h, manifest, stamps);
    custody_section(&mut h, custody);
    hash_table(&mut h, manifest, hashes);
    h += "</body></html>\n";
    h
}

/// The title of a pack: `Incident 3 — <title>`, `Incidents 3, 4`, or `2 item(s)`.
pub(crate) fn title(incidents: &[IncidentEntry], items: usize) -> String {
    match incidents {
        [one] => format!("Incident {} — {}", one.incident.id, one.incident.title),
        [] => format!("{items} item(s)"),
        many => format!(
            "Incidents {}",
            many.iter()
                .map(|i| i.incident.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the pack says about who reported its items: in it (`--include-reporters`) or left out.
fn reporters_note(h: &mut String, m: &Manifest) {
    let withheld: usize = m.items.iter().map(|e| e.withheld.len()).sum();
    match &m.reporters {
        Some(file) => {
            let _ = write!(
                h,
                "<p class=\"note\" id=\"reporters\"><b>Reporters included.</b> This pack was exported \
                 with <code>--include-reporters</code>: who sent each item in as a report is in \
                 <code>{}</code>, and the forwarded messages (whose headers name their senders) are \
                 among the captures. This is personal data: share the pack only with those who need it.</p>",
                text(file)
            );
        }
        None => {
            let _ = write!(
                h,
                "<p class=\"note\" id=\"reporters\"><b>Reporters left out.</b> Who reported these items \
                 (residents' mail addresses, staff names) is personal data and is not in this pack; \
                 {withheld} forwarded message(s) that name their senders are withheld, each listed \
                 with its SHA-256 under its item. The council can export the pack again with \
                 <code>ballotwatch export --include-reporters</code> to put them in.</p>"
            );
        }
    }
}

fn cover(h: &mut String, m: &Manifest, title: &str) {
    let _ = write!(
        h,
        "<section class=\"cover\"><div class=\"banner\">EVIDENCE PACK — FOR THE RETURNING OFFICER</div>\
         <h1>{}</h1>",
        text(title)
    );
    if !m.incidents.is_empty() {
        h.push_str(
            "<table><tr><th>Incident</th><th>Title</th><th>Kind</th><th>Severity</th>\
             <th>Status</th><th>Opened</th><th>Items</th></tr>",
        );
        for e in &m.incidents {
            let i = &e.incident;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                i.id,
                text(&i.title),
                i.kind.as_str(),
                i.status.as_str(),
                when(&i.created_at),
                e.item_ids.len(),
                sev = i.severity.as_str(),
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h3>Summary</h3><ul>");
    for e in &m.items {
        let why = e
            .result
            .as_ref()
            .and_then(|r| r.verdicts.first())
            .map_or_else(|| "not flagged".to_string(), |v| v.explanation.clone());
        let _ = write!(
            h,
            "<li><b>{}</b> ({}): {}</li>",
            text(e.item.url.as_deref().unwrap_or(&e.item.id)),
            text(&e.item.source.name),
            text(&why)
        );
    }
    h.push_str("</ul>");
    let shots = m
        .items
        .iter()
        .flat_map(|e| &e.screenshots)
        .filter(|s| s.status == "taken")
        .count();
    let _ = write!(
        h,
        "<h3>This pack</h3><table>\
         <tr><th>Exported by</th><td>{}</td></tr>\
         <tr><th>Exported at</th><td>{}</td></tr>\
         <tr><th>Software</th><td>{} {}</td></tr>\
         <tr><th>Contents</th><td>{} item(s), {} HTTP capture(s), {} screenshot(s)</td></tr>\
         <tr><th>Signing key (Ed25519)</th><td class=\"hash\">{}</td></tr>\
         <tr><th>Signing key fingerprint (SHA-256)</th><td class=\"hash\">{}</td></tr></table>\
         <p class=\"note\">Every file of this pack is listed with its SHA-256 in <code>manifest.json</code>, \
         which is signed (<code>manifest.sig</code>) with the key above. Anyone who alters a pack can re-sign it \
         with a key of their own, so compare the fingerprint with the one the council gave you, not with this page. \
         To check the pack: <code>ballotwatch verify PACK.zip --public-key KEY</code> (without a trusted key it \
         answers <code>UNVERIFIED SIGNER</code> and the fingerprint), or unzip it and run \
         <code>sha256sum -c SHA256SUMS</code>. The raw HTTP exchanges are in <code>captures.warc.gz</code> \
         (WARC 1.1, readable by standard web-archive tools).</p></section>",
        text(&m.exported_by),
        when(&m.exported_at),
        text(&m.tool.name),
        text(&m.tool.version),
        m.items.len(),
        m.captures.len(),
        shots,
        text(&m.public_key.hex),
        text(&crate::key::fingerprint(&m.public_key.hex).unwrap_or_default()),
    );
    reporters_note(h, m);
}

fn timeline(h: &mut String, m: &Manifest, inc: &crate::manifest::IncidentEntry) {
    let mut events: Vec<(DateTime<Utc>, String)> = Vec::new();
    for c in &inc.history {
        let what = match (c.field.as_str(), c.new.as_deref()) {
            ("title", Some(t)) => format!("incident opened by {}: “{t}”", c.actor),
            ("item", Some(id)) => format!("item {id} added by {}", c.actor),
            (f, Some(v)) => format!("{f} set to “{v}” by {}", c.actor),
            (f, None) => format!("{f} cleared by {}", c.actor),
        };
        events.push((c.at, what));
    }
    for id in &inc.item_ids {
        let Some(e) = m.items.iter().find(|e| &e.item.id == id) else {
            continue;
        };
        if let Some(p) = e.item.published_at {
            events.push((p, format!("item {id} published ({})", e.item.source.name)));
        }
        for cid in &e.capture_ids {
            if let Some(c) = m.captures.iter().find(|c| c.id == *cid) {
                events.push((
                    c.started_at,
                    format!("captured {} (HTTP {})", c.url, c.status),
                ));
            }
        }
        if let Some(at) = e.item.ingested_at {
            events.push((at, format!("item {id} stored and examined")));
        }
        for s in &e.screenshots {
            events.push((
                s.attempted_at,
                if s.status == "taken" {
                    format!("screenshot of {} taken", s.url)
                } else {
                    format!("screenshot of {} not taken", s.url)
                },
            ));
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    events.dedup();
    h.push_str("<h3>Timeline</h3><table><tr><th>When (UTC)</th><th>What</th></tr>");
    for (at, what) in events {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", when(&at), text(&what));
    }
    h.push_str("</table>");
}

fn item(h: &mut String, m: &Manifest, e: &ItemEntry, images: &BTreeMap<String, ReportImage>) {
    let it = &e.item;
    let _ = write!(
        h,
        "<section class=\"item\"><h3>Item {}</h3><table>",
        text(&it.id)
    );
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", text(k), v);
    };
    row(
        "Source",
        format!("{} ({})", text(&it.source.name), text(&it.source.kind)),
    );
    if let Some(u) = &it.url {
        row("URL", format!("<code>{}</code>", text(u)));
    }
    if let Some(a) = &it.author {
        let who = [
            a.display_name.as_deref(),
            a.handle.as_deref(),
            a.platform.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
        row("Author", text(&who).into_owned());
    }
    if let Some(p) = &it.published_at {
        row("Published", when(p));
    }
    if let Some(r) = &e.result {
        row(
            "Assessment",
            format!(
                "<span class=\"sev-{s}\">{s}</span>{}",
                if r.flagged {
                    " — flagged"
                } else {
                    " — not flagged"
                },
                s = r.severity.as_str()
            ),
        );
    }
    h.push_str("</table>");
    let body = [it.title.as_deref(), it.text.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    if !body.is_empty() {
        let _ = write!(
            h,
            "<p><b>What was published</b></p><div class=\"quote\">{}</div>",
            text(&body)
        );
    }
    if !it.links.is_empty() {
        h.push_str("<p><b>Links in it</b></p><ul>");
        for l in &it.links {
            let _ = write!(h, "<li><code>{}</code></li>", text(l));
        }
        h.push_str("</ul>");
    }
    if !e.media.is_empty() || !e.media_not_captured.is_empty() || !e.withheld.is_empty() {
        h.push_str("<p><b>Media</b></p><ul>");
        for (n, md) in e.media.iter().enumerate() {
            let what = match (md.frame_of, md.frame_time_ms) {
                (Some(v), Some(ms)) => {
                    let video = it
                        .media
                        .get(v)
                        .and_then(|x| x.sha256.as_deref())
                        .and_then(|sha| e.media.iter().find(|o| o.sha256 == sha))
                        .map(|o| format!("<code>{}</code>", text(&o.file)))
                        .unwrap_or_else(|| format!("media {}", v + 1));
                    format!("frame at {:.1} s of {video}: ", ms as f64 / 1000.0)
                }
                _ => String::new(),
            };
            let _ = write!(
                h,
                "<li>{}. {}<code>{}</code> ({}), SHA-256 <code>{}</code>{}{}{}</li>",
                n + 1,
                what,
                text(&md.file),
                text(md.mime.as_deref().unwrap_or("type unknown")),
                text(&md.sha256),
                md.url
                    .as_deref()
                    .map(|u| format!(", from <code>{}</code>", text(u)))
                    .unwrap_or_default(),
                md.capture_id
                    .map(|c| format!(", capture {c} in the WARC"))
                    .unwrap_or_default(),
                md.capture_error
                    .as_deref()
                    .map(|r| format!("<br><span class=\"note\">{}</span>", text(r)))
                    .unwrap_or_default(),
            );
        }
        for w in &e.withheld {
            let _ = write!(
                h,
                "<li>Withheld: <code>{}</code> ({} bytes, SHA-256 <span class=\"hash\">{}</span>)<br>\
                 <span class=\"note\">{}</span></li>",
                text(&w.url),
                w.size,
                text(&w.sha256),
                text(&w.reason)
            );
        }
        for f in &e.media_not_captured {
            let _ = write!(
                h,
                "<li>Not captured: <code>{}</code><br><span class=\"note\">{}</span></li>",
                text(f.url.as_deref().unwrap_or("no address")),
                text(&f.reason)
            );
        }
        h.push_str("</ul>");
    }
    if let Some(r) = &e.result {
        for t in &r.media_text {
            let _ = write!(
                h,
                "<p><b>Text read from image {} (OCR)</b></p><div class=\"quote\">{}</div>",
                t.media + 1,
                text(&t.text)
            );
        }
        if !r.verdicts.is_empty() {
            h.push_str("<p><b>Why it was flagged</b></p>");
        }
        for v in &r.verdicts {
            let _ = write!(
                h,
                "<div class=\"why\"><b>{} / {}</b> — score {:.2}, detector <code>{}</code>{}<br>{}\
                 <br><span class=\"note\">Evidence: <code>{}</code></span></div>",
                v.kind.as_str(),
                text(&v.label),
                v.score,
                text(&v.detector),
                m.detectors
                    .iter()
                    .find(|d| d.name == v.detector)
                    .map(|d| format!(" (version {})", text(&d.version)))
                    .unwrap_or_default(),
                text(&v.explanation),
                text(&v.evidence.to_string()),
            );
            if let Some(rb) = &v.rebuttal {
                let _ = write!(
                    h,
                    "<div class=\"rebuttal\"><b>The facts:</b> {}</div>",
                    text(rb)
                );
            }
        }
    }
    let caps: Vec<_> = m
        .captures
        .iter()
        .filter(|c| e.capture_ids.contains(&c.id))
        .collect();
    if !caps.is_empty() {
        h.push_str(
            "<p><b>Captured from</b></p><table><tr><th>URL</th><th>Status</th><th>Fetched (UTC)</th>\
             <th>SHA-256 of the bytes</th></tr>",
        );
        for c in caps {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"hash\">{}</td></tr>",
                text(&c.final_url),
                c.status,
                when(&c.started_at),
                c.sha256
            );
        }
        h.push_str("</table>");
    }
    for s in &e.screenshots {
        match (&s.png, images.get(s.png.as_deref().unwrap_or(""))) {
            (Some(path), Some(img)) => {
                // The image is a file of the pack, by relative path: the report is read (and
                // printed) from the unzipped pack, and carries no copy of the image.
                let (src, full) = if img.thumbnail {
                    let (w, h) = s.size_px.unwrap_or_default();
                    let thumb = crate::thumbnail::pack_path(path);
                    let note = format!(
                        " (shown here as a reduced copy, {} px wide, made for this report: \
                         <code>{}</code>; the evidence is the full-size screenshot, {w} × {h} px, \
                         <a href=\"{}\"><code>{}</code></a> in this pack)",
                        img.size.0,
                        text(&thumb),
                        attr(path),
                        text(path)
                    );
                    (thumb, note)
                } else {
                    (path.clone(), String::new())
                };
                let _ = write!(
                    h,
                    "<p><b>Screenshot</b> of <code>{}</code>, taken {} with {}{}{full}:</p>\
                     <img class=\"shot\" alt=\"{}\" src=\"{}\"{}>",
                    text(&s.url),
                    when(&s.attempted_at),
                    text(&s.tool),
                    if s.truncated {
                        " (cut at the height limit; the page continues)"
                    } else {
                        ""
                    },
                    attr(path),
                    attr(&src),
                    match img.size {
                        (w, h) if w > 0 && h > 0 => format!(" width=\"{w}\" height=\"{h}\""),
                        _ => String::new(),
                    },
                );
            }
            _ => {
                let _ = write!(
                    h,
                    "<p><b>No screenshot</b> of <code>{}</code> (attempted {}): {}</p>",
                    text(&s.url),
                    when(&s.attempted_at),
                    text(s.reason.as_deref().unwrap_or("not recorded"))
                );
            }
        }
    }
    h.push_str("</section>");
}

/// The trusted timestamps in plain words: what they prove, what they do not, and per item the
/// time and the TSA.
fn timestamps_section(h: &mut String, m: &Manifest, stamps: &Stamps) {
    h.push_str("<h2 class=\"section\">Trusted timestamps</h2>");
    let check = match stamps {
        Ok(None) => {
            h.push_str(
                "<p>No trusted timestamps in this pack: this Ballotwatch was not set up with a \
                 Time-Stamping Authority when it was exported. The capture times below come \
                 from the council's own clock.</p>",
            );
            return;
        }
        Err(why) => {
            let _ = write!(
                h,
                "<p>This pack holds trusted timestamps, but they could not be checked when it \
                 was exported: {}. Run <code>ballotwatch verify</code> on the pack.</p>",
                text(why)
            );
            return;
        }
        Ok(Some(c)) => c,
    };
    let _ = write!(
        h,
        "<p><strong>What a trusted timestamp proves.</strong> When Ballotwatch captures \
         something, it adds the capture's fingerprint (its SHA-256 hash) to a log in which each \
         entry is bound to the one before. An independent Time-Stamping Authority (TSA) signed \
         the log's latest fingerprint at the time stated below. That shows each capture listed \
         existed, exactly as it is in this pack, <em>no later than</em> that time: nobody, \
         the council included, could have made or changed it afterwards without the check \
         failing. The time comes from the TSA's clock, not the council's.</p>\
         <p><strong>What it does not prove.</strong> That what was captured is true, who wrote \
         it, or that it was published at that time: only that Ballotwatch held this copy by \
         then. An item may have been captured well before the time shown (the time is when the \
         log was next timestamped, usually within minutes).</p>\
         <p class=\"note\">The proof is in <code>{}</code>: the log entries, each TSA's \
         signed token and the TSA's root certificate. <code>ballotwatch verify</code> checks \
         it offline, and so can <code>openssl ts -verify</code>.</p>",
        text(names::TIMESTAMPS_DIR)
    );
    h.push_str("<table><tr><th>Item</th><th>Captured no later than (UTC)</th><th>TSA</th></tr>");
    let titles: BTreeMap<&str, &ItemEntry> =
        m.items.iter().map(|e| (e.item.id.as_str(), e)).collect();
    for (id, stamp) in &check.items {
        let title = titles
            .get(id.as_str())
            .and_then(|e| e.item.title.clone())
            .unwrap_or_else(|| id.clone());
        let (time, tsa) = match stamp {
            ItemStamp::Captured {
                gen_time,
                tsa,
                after,
                ..
            } if after.is_empty() => (when(gen_time), tsa.clone()),
            ItemStamp::Captured {
                gen_time,
                tsa,
                after,
                ..
            } => (
                format!(
                    "{}; except what was logged after that timestamp, which no TSA has \
                     timestamped and which is covered only by the council's signature: {}",
                    when(gen_time),
                    after.join(", ")
                ),
                tsa.clone(),
            ),
            ItemStamp::NotYetTimestamped => (
                "not yet timestamped: no TSA had answered when the pack was exported, so this \
                 item is covered only by the council's signature"
                    .into(),
                String::new(),
            ),
            ItemStamp::NotLogged => (
                "no trusted timestamp: captured before Ballotwatch kept a capture log".into(),
                String::new(),
            ),
        };
        let _ = write!(
            h,
            "<tr><td>{}<br><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            text(&title),
            text(id),
            text(&time),
            text(&tsa)
        );
    }
    h.push_str("</table>");
}

/// The chain of custody in plain words: who did what to the evidence, and when.
fn custody_section(h: &mut String, c: &Custody) {
    let _ = write!(
        h,
        "<h2 class=\"section\">Chain of custody</h2><p>Everyone who viewed, changed, exported or \
         checked this evidence in Ballotwatch, and when (UTC), from its audit log, which can \
         only be added to. The same list is in <code>{}</code>, signed with the rest of the \
         pack. {}</p>",
        names::CUSTODY,
        text(&c.note)
    );
    if c.entries.is_empty() {
        h.push_str("<p>Nothing was recorded.</p>");
        return;
    }
    h.push_str("<table><tr><th>When (UTC)</th><th>Who</th><th>What</th></tr>");
    for e in &c.entries {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(&e.at),
            text(&e.actor),
            text(&e.summary)
        );
    }
    h.push_str("</table>");
}

fn hash_table(h: &mut String, m: &Manifest, hashes: &[FileEntry]) {
    let _ = write!(
        h,
        "<h2 class=\"section\">Files and their SHA-256</h2><p class=\"note\">Exported {} by {}. \
         <code>report.html</code> and <code>report.pdf</code> are hashed in <code>manifest.json</code> \
         and <code>SHA256SUMS</code>.</p><table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>",
        iso(&m.exported_at),
        text(&m.exported_by)
    );
    for f in hashes {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"hash\">{}</td></tr>",
            text(&f.path),
            f.size,
            f.sha256
        );
    }
    h.push_str("</table>");
}
