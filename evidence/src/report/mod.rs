//! The report for the Returning Officer, as `report.html` and `report.pdf`: a cover page with
//! the incident summary, then per incident a timeline, every item with why it was flagged
//! (explanations and rebuttals), its captures and screenshots, the trusted timestamps, the chain
//! of custody (who viewed, changed, exported and checked the evidence, and when) and finally the
//! table of file hashes.
//!
//! The content is built once as a [`doc::Doc`] ([`document`]) and written by [`html::render`]
//! (a self-contained page: inline CSS, no remote resources, screenshots as files of the pack by
//! relative path) and [`pdf::render`] (A4, printed in-process: text in embedded DejaVu fonts,
//! the thumbnails' JPEG bytes passed through), so the two always say the same.
//!
//! # Example
//!
//! ```
//! use ballotwatch_evidence::report::doc::{Block, Doc, Para, Inline};
//! use ballotwatch_evidence::report::{html, pdf};
//!
//! let doc = Doc {
//!     title: "Incident 1 — Fake postal vote notice".into(),
//!     generator: "ballotwatch 0.1.0".into(),
//!     blocks: vec![
//!         Block::Title("Incident 1 — Fake postal vote notice".into()),
//!         Block::Para(Para { spans: vec![Inline::Text("Captured 2026-05-01.".into())], ..Para::default() }),
//!     ],
//! };
//! assert!(html::render(&doc).contains("<h1>Incident 1"));
//! let bytes = pdf::render(&doc, &|_| None).unwrap();
//! assert!(bytes.starts_with(b"%PDF-"));
//! ```

pub mod doc;
pub mod html;
pub mod pdf;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::custody::Custody;
use crate::manifest::{names, FileEntry, IncidentEntry, ItemEntry, Manifest};
use crate::thumbnail::ReportImage;
use crate::timestamp::pack::{ItemStamp, TimestampCheck};
use doc::{Block, Cell, Doc, Group, Image, Inline, Para};

/// The pack's trusted timestamps as checked at export: `Ok(None)` when it has none, `Err` why
/// they could not be checked.
pub type Stamps = std::result::Result<Option<TimestampCheck>, String>;

/// A time for people: `2026-05-01 08:00:00 UTC`.
fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Helpers for building inline text.
fn t(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}
fn b(s: impl Into<String>) -> Inline {
    Inline::Bold(s.into())
}
fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}
fn note(s: impl Into<String>) -> Inline {
    Inline::Note(s.into())
}
fn para(spans: Vec<Inline>) -> Block {
    Block::Para(Para {
        spans,
        ..Para::default()
    })
}
fn note_para(spans: Vec<Inline>) -> Block {
    Block::Para(Para {
        spans,
        note: true,
        id: None,
    })
}
/// A paragraph that is one bold label (`What was published`).
fn label(s: &str) -> Block {
    para(vec![b(s)])
}

/// Builds the report. `manifest` is complete except for `files` and `report`; `hashes` lists
/// every other file of the pack; `images` maps a screenshot's pack path to the image shown for
/// it (a thumbnail, or the PNG itself: [`crate::thumbnail`]);
/// `custody` is the pack's `custody.json`; `stamps` its trusted timestamps, checked.
pub fn document(
    manifest: &Manifest,
    hashes: &[FileEntry],
    images: &BTreeMap<String, ReportImage>,
    custody: &Custody,
    stamps: &Stamps,
) -> Doc {
    let title = title(&manifest.incidents, manifest.items.len());
    let mut blocks = Vec::new();
    blocks.push(Block::Group(Group::Cover, cover(manifest, &title)));
    let items: BTreeMap<&str, &ItemEntry> = manifest
        .items
        .iter()
        .map(|e| (e.item.id.as_str(), e))
        .collect();
    let mut shown = std::collections::BTreeSet::new();
    for inc in &manifest.incidents {
        let i = &inc.incident;
        blocks.push(Block::Section(format!("Incident {} — {}", i.id, i.title)));
        timeline(&mut blocks, manifest, inc);
        for id in &inc.item_ids {
            if let Some(e) = items.get(id.as_str()) {
                blocks.push(Block::Group(Group::Item, item(manifest, e, images)));
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
        blocks.push(Block::Section("Items exported without an incident".into()));
        for e in others {
            blocks.push(Block::Group(Group::Item, item(manifest, e, images)));
        }
    }
    timestamps_section(&mut blocks, manifest, stamps);
    custody_section(&mut blocks, custody);
    hash_table(&mut blocks, manifest, hashes);
    Doc {
        title,
        generator: format!("{} {}", manifest.tool.name, manifest.tool.version),
        blocks,
    }
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
fn reporters_note(m: &Manifest) -> Block {
    let withheld: usize = m.items.iter().map(|e| e.withheld.len()).sum();
    let spans =
        match &m.reporters {
            Some(file) => vec![
            b("Reporters included."),
            t(" This pack was exported with "),
            code("--include-reporters"),
            t(": who sent each item in as a report is in "),
            code(file.clone()),
            t(", and the forwarded messages (whose headers name their senders) are among the \
               captures. This is personal data: share the pack only with those who need it."),
        ],
            None => vec![
                b("Reporters left out."),
                t(format!(
                " Who reported these items (residents' mail addresses, staff names) is personal \
                 data and is not in this pack; {withheld} forwarded message(s) that name their \
                 senders are withheld, each listed with its SHA-256 under its item. The council \
                 can export the pack again with "
            )),
                code("ballotwatch export --include-reporters"),
                t(" to put them in."),
            ],
        };
    Block::Para(Para {
        spans,
        note: true,
        id: Some("reporters"),
    })
}

fn cover(m: &Manifest, title: &str) -> Vec<Block> {
    let mut blocks = vec![
        Block::Banner("EVIDENCE PACK — FOR THE RETURNING OFFICER".into()),
        Block::Title(title.to_string()),
    ];
    if !m.incidents.is_empty() {
        let mut rows = vec![[
            "Incident", "Title", "Kind", "Severity", "Status", "Opened", "Items",
        ]
        .map(Cell::head)
        .to_vec()];
        for e in &m.incidents {
            let i = &e.incident;
            rows.push(vec![
                Cell::text(i.id.to_string()),
                Cell::text(i.title.clone()),
                Cell::text(i.kind.as_str()),
                Cell::of(vec![Inline::Severity(i.severity.as_str().into())]),
                Cell::text(i.status.as_str()),
                Cell::text(when(&i.created_at)),
                Cell::text(e.item_ids.len().to_string()),
            ]);
        }
        blocks.push(Block::Table(rows));
    }
    blocks.push(Block::Heading("Summary".into()));
    blocks.push(Block::List(
        m.items
            .iter()
            .map(|e| {
                let why = e
                    .result
                    .as_ref()
                    .and_then(|r| r.verdicts.first())
                    .map_or_else(|| "not flagged".to_string(), |v| v.explanation.clone());
                vec![
                    b(e.item.url.as_deref().unwrap_or(&e.item.id)),
                    t(format!(" ({}): {why}", e.item.source.name)),
                ]
            })
            .collect(),
    ));
    let shots = m
        .items
        .iter()
        .flat_map(|e| &e.screenshots)
        .filter(|s| s.status == "taken")
        .count();
    blocks.push(Block::Heading("This pack".into()));
    let kv = |k: &str, v: Vec<Inline>| vec![Cell::head(k), Cell::of(v)];
    blocks.push(Block::Table(vec![
        kv("Exported by", vec![t(m.exported_by.clone())]),
        kv("Exported at", vec![t(when(&m.exported_at))]),
        kv(
            "Software",
            vec![t(format!("{} {}", m.tool.name, m.tool.version))],
        ),
        kv(
            "Contents",
            vec![t(format!(
                "{} item(s), {} HTTP capture(s), {} screenshot(s)",
                m.items.len(),
                m.captures.len(),
                shots
            ))],
        ),
        kv(
            "Signing key (Ed25519)",
            vec![Inline::Hash(m.public_key.hex.clone())],
        ),
        kv(
            "Signing key fingerprint (SHA-256)",
            vec![Inline::Hash(
                crate::key::fingerprint(&m.public_key.hex).unwrap_or_default(),
            )],
        ),
    ]));
    blocks.push(note_para(vec![
        t("Every file of this pack is listed with its SHA-256 in "),
        code("manifest.json"),
        t(", which is signed ("),
        code("manifest.sig"),
        t(
            ") with the key above. Anyone who alters a pack can re-sign it with a key of their \
           own, so compare the fingerprint with the one the council gave you, not with this \
           page. To check the pack: ",
        ),
        code("ballotwatch verify PACK.zip --public-key KEY"),
        t(" (without a trusted key it answers "),
        code("UNVERIFIED SIGNER"),
        t(" and the fingerprint), or unzip it and run "),
        code("sha256sum -c SHA256SUMS"),
        t(". The raw HTTP exchanges are in "),
        code("captures.warc.gz"),
        t(" (WARC 1.1, readable by standard web-archive tools)."),
    ]));
    blocks.push(reporters_note(m));
    blocks
}

fn timeline(blocks: &mut Vec<Block>, m: &Manifest, inc: &IncidentEntry) {
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
    blocks.push(Block::Heading("Timeline".into()));
    let mut rows = vec![vec![Cell::head("When (UTC)"), Cell::head("What")]];
    rows.extend(
        events
            .into_iter()
            .map(|(at, what)| vec![Cell::text(when(&at)), Cell::text(what)]),
    );
    blocks.push(Block::Table(rows));
}

fn item(m: &Manifest, e: &ItemEntry, images: &BTreeMap<String, ReportImage>) -> Vec<Block> {
    let it = &e.item;
    let mut blocks = vec![Block::Heading(format!("Item {}", it.id))];
    let mut rows = Vec::new();
    let mut row = |k: &str, v: Vec<Inline>| rows.push(vec![Cell::head(k), Cell::of(v)]);
    row(
        "Source",
        vec![t(format!("{} ({})", it.source.name, it.source.kind))],
    );
    if let Some(u) = &it.url {
        row("URL", vec![code(u.clone())]);
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
        row("Author", vec![t(who)]);
    }
    if let Some(p) = &it.published_at {
        row("Published", vec![t(when(p))]);
    }
    if let Some(r) = &e.result {
        row(
            "Assessment",
            vec![
                Inline::Severity(r.severity.as_str().into()),
                t(if r.flagged {
                    " — flagged"
                } else {
                    " — not flagged"
                }),
            ],
        );
    }
    blocks.push(Block::Table(rows));
    let body = [it.title.as_deref(), it.text.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    if !body.is_empty() {
        blocks.push(label("What was published"));
        blocks.push(Block::Quote(body));
    }
    if !it.links.is_empty() {
        blocks.push(label("Links in it"));
        blocks.push(Block::List(
            it.links.iter().map(|l| vec![code(l.clone())]).collect(),
        ));
    }
    if !e.media.is_empty() || !e.media_not_captured.is_empty() || !e.withheld.is_empty() {
        blocks.push(label("Media"));
        let mut list = Vec::new();
        for (n, md) in e.media.iter().enumerate() {
            let mut li = vec![t(format!("{}. ", n + 1))];
            if let (Some(v), Some(ms)) = (md.frame_of, md.frame_time_ms) {
                li.push(t(format!("frame at {:.1} s of ", ms as f64 / 1000.0)));
                let video = it
                    .media
                    .get(v)
                    .and_then(|x| x.sha256.as_deref())
                    .and_then(|sha| e.media.iter().find(|o| o.sha256 == sha));
                li.push(match video {
                    Some(o) => code(o.file.clone()),
                    None => t(format!("media {}", v + 1)),
                });
                li.push(t(": "));
            }
            li.extend([
                code(md.file.clone()),
                t(format!(
                    " ({}), SHA-256 ",
                    md.mime.as_deref().unwrap_or("type unknown")
                )),
                code(md.sha256.clone()),
            ]);
            if let Some(u) = &md.url {
                li.extend([t(", from "), code(u.clone())]);
            }
            if let Some(c) = md.capture_id {
                li.push(t(format!(", capture {c} in the WARC")));
            }
            if let Some(r) = &md.capture_error {
                li.extend([Inline::Break, note(r.clone())]);
            }
            list.push(li);
        }
        for w in &e.withheld {
            list.push(vec![
                t("Withheld: "),
                code(w.url.clone()),
                t(format!(" ({} bytes, SHA-256 ", w.size)),
                Inline::Hash(w.sha256.clone()),
                t(")"),
                Inline::Break,
                note(w.reason.clone()),
            ]);
        }
        for f in &e.media_not_captured {
            list.push(vec![
                t("Not captured: "),
                code(f.url.as_deref().unwrap_or("no address")),
                Inline::Break,
                note(f.reason.clone()),
            ]);
        }
        blocks.push(Block::List(list));
    }
    if let Some(r) = &e.result {
        for mt in &r.media_text {
            blocks.push(label(&format!(
                "Text read from image {} (OCR)",
                mt.media + 1
            )));
            blocks.push(Block::Quote(mt.text.clone()));
        }
        if !r.verdicts.is_empty() {
            blocks.push(label("Why it was flagged"));
        }
        for v in &r.verdicts {
            let version = m
                .detectors
                .iter()
                .find(|d| d.name == v.detector)
                .map(|d| format!(" (version {})", d.version))
                .unwrap_or_default();
            blocks.push(Block::Why(vec![
                b(format!("{} / {}", v.kind.as_str(), v.label)),
                t(format!(" — score {:.2}, detector ", v.score)),
                code(v.detector.clone()),
                t(version),
                Inline::Break,
                t(v.explanation.clone()),
                Inline::Break,
                note("Evidence: "),
                code(v.evidence.to_string()),
            ]));
            if let Some(rb) = &v.rebuttal {
                blocks.push(Block::Rebuttal(vec![b("The facts:"), t(format!(" {rb}"))]));
            }
        }
    }
    let caps: Vec<_> = m
        .captures
        .iter()
        .filter(|c| e.capture_ids.contains(&c.id))
        .collect();
    if !caps.is_empty() {
        blocks.push(label("Captured from"));
        let mut rows = vec![["URL", "Status", "Fetched (UTC)", "SHA-256 of the bytes"]
            .map(Cell::head)
            .to_vec()];
        for c in caps {
            rows.push(vec![
                Cell::of(vec![code(c.final_url.clone())]),
                Cell::text(c.status.to_string()),
                Cell::text(when(&c.started_at)),
                Cell::of(vec![Inline::Hash(c.sha256.clone())]),
            ]);
        }
        blocks.push(Block::Table(rows));
    }
    for s in &e.screenshots {
        match (&s.png, images.get(s.png.as_deref().unwrap_or(""))) {
            (Some(path), Some(img)) => {
                // The image is a file of the pack, by relative path: the report is read from
                // the unzipped pack, and carries no copy of the image.
                let mut spans = vec![
                    b("Screenshot"),
                    t(" of "),
                    code(s.url.clone()),
                    t(format!(" taken {} with {}", when(&s.attempted_at), s.tool)),
                ];
                if s.truncated {
                    spans.push(t(" (cut at the height limit; the page continues)"));
                }
                let src = if img.thumbnail {
                    let (w, h) = s.size_px.unwrap_or_default();
                    let thumb = crate::thumbnail::pack_path(path);
                    spans.extend([
                        t(format!(
                            " (shown here as a reduced copy, {} px wide, made for this report: ",
                            img.size.0
                        )),
                        code(thumb.clone()),
                        t(format!(
                            "; the evidence is the full-size screenshot, {w} × {h} px, "
                        )),
                        Inline::File(path.clone()),
                        t(" in this pack)"),
                    ]);
                    thumb
                } else {
                    path.clone()
                };
                spans.push(t(":"));
                blocks.push(para(spans));
                blocks.push(Block::Image(Image {
                    src,
                    alt: path.clone(),
                    size: img.size,
                }));
            }
            _ => {
                blocks.push(para(vec![
                    b("No screenshot"),
                    t(" of "),
                    code(s.url.clone()),
                    t(format!(
                        " (attempted {}): {}",
                        when(&s.attempted_at),
                        s.reason.as_deref().unwrap_or("not recorded")
                    )),
                ]));
            }
        }
    }
    blocks
}

/// The trusted timestamps in plain words: what they prove, what they do not, and per item the
/// time and the TSA.
fn timestamps_section(blocks: &mut Vec<Block>, m: &Manifest, stamps: &Stamps) {
    blocks.push(Block::Section("Trusted timestamps".into()));
    let check = match stamps {
        Ok(None) => {
            blocks.push(para(vec![t(
                "No trusted timestamps in this pack: this Ballotwatch was not set up with a \
                 Time-Stamping Authority when it was exported. The capture times below come \
                 from the council's own clock.",
            )]));
            return;
        }
        Err(why) => {
            blocks.push(para(vec![
                t(format!(
                    "This pack holds trusted timestamps, but they could not be checked when it \
                     was exported: {why}. Run "
                )),
                code("ballotwatch verify"),
                t(" on the pack."),
            ]));
            return;
        }
        Ok(Some(c)) => c,
    };
    blocks.push(para(vec![
        b("What a trusted timestamp proves."),
        t(
            " When Ballotwatch captures something, it adds the capture's fingerprint (its SHA-256 \
           hash) to a log in which each entry is bound to the one before. An independent \
           Time-Stamping Authority (TSA) signed the log's latest fingerprint at the time stated \
           below. That shows each capture listed existed, exactly as it is in this pack, ",
        ),
        Inline::Em("no later than".into()),
        t(
            " that time: nobody, the council included, could have made or changed it afterwards \
           without the check failing. The time comes from the TSA's clock, not the council's.",
        ),
    ]));
    blocks.push(para(vec![
        b("What it does not prove."),
        t(
            " That what was captured is true, who wrote it, or that it was published at that \
           time: only that Ballotwatch held this copy by then. An item may have been captured \
           well before the time shown (the time is when the log was next timestamped, usually \
           within minutes).",
        ),
    ]));
    blocks.push(note_para(vec![
        t("The proof is in "),
        code(names::TIMESTAMPS_DIR),
        t(": the log entries, each TSA's signed token and the TSA's root certificate. "),
        code("ballotwatch verify"),
        t(" checks it offline, and so can "),
        code("openssl ts -verify"),
        t("."),
    ]));
    let mut rows = vec![["Item", "Captured no later than (UTC)", "TSA"]
        .map(Cell::head)
        .to_vec()];
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
        rows.push(vec![
            Cell::of(vec![t(title), Inline::Break, code(id.clone())]),
            Cell::text(time),
            Cell::text(tsa),
        ]);
    }
    blocks.push(Block::Table(rows));
}

/// The chain of custody in plain words: who did what to the evidence, and when.
fn custody_section(blocks: &mut Vec<Block>, c: &Custody) {
    blocks.push(Block::Section("Chain of custody".into()));
    blocks.push(para(vec![
        t(
            "Everyone who viewed, changed, exported or checked this evidence in Ballotwatch, and \
           when (UTC), from its audit log, which can only be added to. The same list is in ",
        ),
        code(names::CUSTODY),
        t(format!(", signed with the rest of the pack. {}", c.note)),
    ]));
    if c.entries.is_empty() {
        blocks.push(para(vec![t("Nothing was recorded.")]));
        return;
    }
    let mut rows = vec![["When (UTC)", "Who", "What"].map(Cell::head).to_vec()];
    rows.extend(c.entries.iter().map(|e| {
        vec![
            Cell::text(when(&e.at)),
            Cell::text(e.actor.clone()),
            Cell::text(e.summary.clone()),
        ]
    }));
    blocks.push(Block::Table(rows));
}

fn hash_table(blocks: &mut Vec<Block>, m: &Manifest, hashes: &[FileEntry]) {
    blocks.push(Block::Section("Files and their SHA-256".into()));
    blocks.push(note_para(vec![
        t(format!(
            "Exported {} by {}. ",
            iso(&m.exported_at),
            m.exported_by
        )),
        code("report.html"),
        t(" and "),
        code("report.pdf"),
        t(" are hashed in "),
        code("manifest.json"),
        t(" and "),
        code("SHA256SUMS"),
        t("."),
    ]));
    let mut rows = vec![["File", "Bytes", "SHA-256"].map(Cell::head).to_vec()];
    rows.extend(hashes.iter().map(|f| {
        vec![
            Cell::of(vec![code(f.path.clone())]),
            Cell::text(f.size.to_string()),
            Cell::of(vec![Inline::Hash(f.sha256.clone())]),
        ]
    }));
    blocks.push(Block::Table(rows));
}
