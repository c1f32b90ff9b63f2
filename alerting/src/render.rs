//! Templates: email (plain text + Outlook-safe HTML: table layout, inline CSS, no scripts or
//! remote resources) and webhook bodies (Teams message card, Slack blocks, generic JSON). Every
//! string that comes from an item goes through its channel's escaping ([`crate::escape`]).

use ballotwatch_core::Severity;
use html_escape::encode_text as esc;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::decide::{AlertView, Payload};
use crate::escape::{self, clean, link_target, one_line};

/// A rendered email.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

/// The `Message-ID` of the message with this idempotency key: stable, so a resend after a crash
/// carries the same id (receivers that deduplicate by it drop the copy), and updates can name
/// the first alert in `In-Reply-To`.
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let h = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    format!("<{}@{domain}>", &h[..32])
}

fn subject_of(view: &AlertView, update: bool) -> String {
    let prefix = if update { "Update: " } else { "" };
    let sev = view.severity.as_str().to_uppercase();
    let summary: String = view.incident_title.chars().take(80).collect();
    let times = if view.sightings > 1 {
        format!(" ({} sightings)", view.sightings)
    } else {
        String::new()
    };
    one_line(&format!(
        "{prefix}[{sev}] {}: {summary}{times} — incident #{}",
        view.kind.replace('_', " "),
        view.incident_id
    ))
}

fn colour(sev: Severity) -> &'static str {
    match sev {
        Severity::High => "#b00020",
        Severity::Medium => "#c25e00",
        Severity::Low => "#5f6b7a",
        Severity::None => "#5f6b7a",
    }
}

fn text_block(view: &AlertView, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "Incident #{}: {} (severity {}, {} sighting{})",
        view.incident_id,
        one_line(&view.incident_title),
        view.severity.as_str(),
        view.sightings,
        if view.sightings == 1 { "" } else { "s" }
    );
    if let Some(t) = &view.item_title {
        let _ = writeln!(out, "Title: {}", one_line(t));
    }
    let _ = writeln!(out, "Source: {}", one_line(&view.source));
    if let Some(a) = &view.author {
        let _ = writeln!(out, "Author: {}", one_line(a));
    }
    if let Some(u) = &view.url {
        let _ = writeln!(out, "Link: {}", one_line(u));
    }
    let _ = writeln!(out, "\n{}\n", clean(&view.excerpt));
    for v in &view.verdicts {
        let _ = writeln!(
            out,
            "- {} ({}, score {:.2}): {}",
            one_line(&v.label),
            one_line(&v.kind),
            v.score,
            one_line(&v.explanation)
        );
        if let Some(r) = &v.rebuttal {
            let _ = writeln!(out, "  Rebuttal: {}", one_line(r));
        }
    }
    if let Some(u) = &view.incident_url {
        let _ = writeln!(out, "\nIncident page: {u}");
    }
}

fn html_block(view: &AlertView, out: &mut String) {
    let td = "style=\"padding:4px 8px;font-family:Arial,sans-serif;font-size:14px;color:#1f2933;vertical-align:top\"";
    let th = "style=\"padding:4px 8px;font-family:Arial,sans-serif;font-size:14px;color:#5f6b7a;text-align:left;vertical-align:top;width:110px\"";
    out.push_str(&format!(
        "<tr><td colspan=\"2\" style=\"padding:8px;background:{};color:#ffffff;font-family:Arial,sans-serif;font-size:16px;font-weight:bold\">Incident #{} &middot; {} &middot; {}</td></tr>",
        colour(view.severity),
        view.incident_id,
        esc(&view.severity.as_str().to_uppercase()),
        esc(&one_line(&view.incident_title))
    ));
    let mut row = |k: &str, v: String| {
        out.push_str(&format!(
            "<tr><th {th}>{}</th><td {td}>{v}</td></tr>",
            esc(k)
        ));
    };
    if let Some(t) = &view.item_title {
        row("Title", esc(t).to_string());
    }
    row("Source", esc(&view.source).to_string());
    if let Some(a) = &view.author {
        row("Author", esc(a).to_string());
    }
    if let Some(u) = &view.url {
        let shown = esc(&one_line(u)).to_string();
        row(
            "Link",
            match link_target(u) {
                Some(target) => format!(
                    "<a href=\"{}\" style=\"color:#0b5cad\">{shown}</a>",
                    html_escape::encode_double_quoted_attribute(&target)
                ),
                // Not http(s): shown, never linked.
                None => shown,
            },
        );
    }
    row("Sightings", view.sightings.to_string());
    row(
        "Excerpt",
        format!(
            "<div style=\"border-left:3px solid #c9d2dc;padding-left:8px\">{}</div>",
            esc(&clean(&view.excerpt))
        ),
    );
    for v in &view.verdicts {
        let mut cell = format!(
            "<b>{}</b> ({}, score {:.2})<br>{}",
            esc(&v.label),
            esc(&v.kind),
            v.score,
            esc(&v.explanation)
        );
        if let Some(r) = &v.rebuttal {
            cell.push_str(&format!("<br><i>Rebuttal:</i> {}", esc(r)));
        }
        row("Finding", cell);
    }
    if let Some(u) = &view.incident_url {
        row(
            "Incident",
            format!(
                "<a href=\"{}\" style=\"color:#0b5cad\">Open the incident page</a>",
                html_escape::encode_double_quoted_attribute(u)
            ),
        );
    }
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"margin:0;padding:0;background:#f4f6f8\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#f4f6f8\"><tr><td align=\"center\" style=\"padding:16px\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#ffffff;border:1px solid #c9d2dc\">{body}\
         <tr><td colspan=\"2\" style=\"padding:8px;font-family:Arial,sans-serif;font-size:12px;color:#5f6b7a\">Sent by Ballotwatch.</td></tr>\
         </table></td></tr></table></body></html>",
        esc(title)
    )
}

/// Renders an outbox payload as an email.
pub fn email(payload: &Payload) -> Email {
    match payload {
        Payload::Sighting { view, thread } => {
            let subject = subject_of(view, thread.is_some());
            let mut text = String::new();
            text_block(view, &mut text);
            let mut body = String::new();
            html_block(view, &mut body);
            Email {
                html: html_page(&subject, &body),
                subject,
                text,
            }
        }
        Payload::Digest { rule, views } => {
            let top = views
                .iter()
                .map(|v| v.severity)
                .max()
                .unwrap_or(Severity::None);
            let incidents: std::collections::BTreeSet<i64> =
                views.iter().map(|v| v.incident_id).collect();
            let subject = format!(
                "[{}] Ballotwatch digest ({rule}): {} sighting{} in {} incident{}",
                top.as_str().to_uppercase(),
                views.len(),
                if views.len() == 1 { "" } else { "s" },
                incidents.len(),
                if incidents.len() == 1 { "" } else { "s" }
            );
            let mut text = format!("{subject}\n\n");
            let mut body = String::new();
            for v in views {
                text_block(v, &mut text);
                text.push_str("\n----\n\n");
                html_block(v, &mut body);
                body.push_str("<tr><td colspan=\"2\" style=\"height:12px\"></td></tr>");
            }
            Email {
                html: html_page(&subject, &body),
                subject,
                text,
            }
        }
        Payload::Notice { subject, text } => {
            let subject = one_line(subject);
            let text = clean(text);
            let body = format!(
                "<tr><td style=\"padding:8px;font-family:Arial,sans-serif;font-size:14px;color:#1f2933;white-space:pre-wrap\">{}</td></tr>",
                esc(&text)
            );
            Email {
                html: html_page(&subject, &body),
                subject,
                text,
            }
        }
    }
}

/// A Teams link: the URL itself as its text (so no post can disguise where it goes), only for
/// http(s); anything else is shown as text.
fn teams_link(url: &str) -> String {
    match link_target(url) {
        Some(target) => format!("[{}]({target})", escape::teams(&target)),
        None => escape::teams(&one_line(url)),
    }
}

/// A Microsoft Teams incoming-webhook message card. Its text fields are Markdown with limited
/// HTML, so every item-derived string goes through [`escape::teams`].
pub fn teams(payload: &Payload) -> serde_json::Value {
    let mail = email(payload);
    let views = views(payload);
    let line = |s: &str| escape::teams(&one_line(s));
    let notice = match payload {
        Payload::Notice { text, .. } => Some(json!({"text": escape::teams(text)})),
        _ => None,
    };
    let sections: Vec<_> = views
        .iter()
        .map(|v| {
            let facts: Vec<_> = v
                .verdicts
                .iter()
                .map(|x| json!({"name": line(&x.label), "value": line(&x.explanation)}))
                .chain(v.url.iter().map(|u| json!({"name": "Link", "value": teams_link(u)})))
                .collect();
            json!({
                "activityTitle": format!("Incident #{}: {}", v.incident_id, line(&v.incident_title)),
                "activitySubtitle": format!("{} · {} · {} sightings", v.severity.as_str(), line(&v.source), v.sightings),
                "text": escape::teams(&v.excerpt),
                "facts": facts,
            })
        })
        .chain(notice)
        .collect();
    let actions: Vec<_> = views
        .iter()
        .filter_map(|v| v.incident_url.as_ref())
        .take(1)
        .map(|u| json!({"@type": "OpenUri", "name": "Open the incident", "targets": [{"os": "default", "uri": u}]}))
        .collect();
    let sev = views
        .iter()
        .map(|v| v.severity)
        .max()
        .unwrap_or(Severity::None);
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": mail.subject,
        "themeColor": colour(sev).trim_start_matches('#'),
        "title": escape::teams(&mail.subject),
        "sections": sections,
        "potentialAction": actions,
    })
}

/// A Slack incoming-webhook message with blocks. Its mrkdwn is escaped with [`escape::slack`]
/// and sent `verbatim`, so Slack turns nothing in it into a mention, channel or link by itself;
/// the header is `plain_text`, which Slack never parses.
pub fn slack(payload: &Payload) -> serde_json::Value {
    let mail = email(payload);
    let line = |s: &str| escape::slack(&one_line(s));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": mail.subject.chars().take(150).collect::<String>()}}),
    ];
    for v in views(payload) {
        let mut text = format!(
            "*Incident #{}*: {}\n",
            v.incident_id,
            line(&v.incident_title)
        );
        if let Some(u) = &v.url {
            match link_target(u) {
                // `<` `>` `|` are percent-encoded already; `&` is Slack's escape character.
                Some(t) => text.push_str(&format!(
                    "<{}|{}>\n",
                    t.replace('&', "&amp;"),
                    line(&v.source)
                )),
                None => text.push_str(&format!("{} ({})\n", line(u), line(&v.source))),
            }
        }
        text.push_str(&format!(
            "> {}\n",
            escape::slack(&v.excerpt).replace('\n', "\n> ")
        ));
        for x in &v.verdicts {
            text.push_str(&format!(
                "• *{}*: {}\n",
                line(&x.label),
                line(&x.explanation)
            ));
            if let Some(r) = &x.rebuttal {
                text.push_str(&format!("   _Rebuttal_: {}\n", line(r)));
            }
        }
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": true}}),
        );
        if let Some(u) = &v.incident_url {
            blocks.push(json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open the incident"}, "url": u}]}));
        }
    }
    if let Payload::Notice { text, .. } = payload {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape::slack(text), "verbatim": true}}));
    }
    json!({"text": escape::slack(&mail.subject), "blocks": blocks})
}

/// The generic JSON body.
pub fn generic(payload: &Payload, idempotency_key: &str) -> serde_json::Value {
    let event = match payload {
        Payload::Sighting { thread: None, .. } => "alert",
        Payload::Sighting {
            thread: Some(_), ..
        } => "update",
        Payload::Digest { .. } => "digest",
        Payload::Notice { text, .. } => {
            return json!({
                "event": "notice",
                "idempotency_key": idempotency_key,
                "subject": email(payload).subject,
                "text": clean(text),
            })
        }
    };
    json!({
        "event": event,
        "idempotency_key": idempotency_key,
        "subject": email(payload).subject,
        "sightings": views(payload),
    })
}

fn views(payload: &Payload) -> Vec<&AlertView> {
    match payload {
        Payload::Sighting { view, .. } => vec![view.as_ref()],
        Payload::Digest { views, .. } => views.iter().collect(),
        Payload::Notice { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::VerdictView;

    fn view() -> AlertView {
        AlertView {
            incident_id: 7,
            incident_title: "fake notice: polls-closed".into(),
            severity: Severity::High,
            kind: "misinformation".into(),
            sightings: 1,
            item_id: "i".into(),
            item_title: Some("<b>Polls closed</b>".into()),
            excerpt: "Polls are closed <script>alert(1)</script>".into(),
            url: Some("https://echo.example/1?a=1&b=\"2\"".into()),
            source: "Echo".into(),
            author: None,
            verdicts: vec![VerdictView {
                kind: "misinformation".into(),
                label: "false_voting_info".into(),
                score: 0.93,
                explanation: "says polling stations are closed".into(),
                rebuttal: Some("All polling stations are open 7am-10pm".into()),
            }],
            incident_url: Some("https://bw.example/incidents/7".into()),
        }
    }

    #[test]
    fn emails_carry_everything_and_escape_html() {
        let m = email(&Payload::Sighting {
            view: Box::new(view()),
            thread: None,
        });
        assert_eq!(
            m.subject,
            "[HIGH] misinformation: fake notice: polls-closed — incident #7"
        );
        for part in [&m.text, &m.html] {
            assert!(part.contains("says polling stations are closed"), "{part}");
            assert!(part.contains("All polling stations are open 7am-10pm"));
            assert!(part.contains("https://bw.example/incidents/7"));
        }
        assert!(m.text.contains("Polls are closed <script>"));
        assert!(!m.html.contains("<script"), "{}", m.html);
        assert!(m.html.contains("&lt;b&gt;Polls closed"));
        assert!(m.html.contains("<table role=\"presentation\""));
        assert!(!m.html.contains("src="), "no remote resources");
        let u = email(&Payload::Sighting {
            view: Box::new(view()),
            thread: Some("k".into()),
        });
        assert!(u.subject.starts_with("Update: "));
    }

    /// A sighting whose every item-derived field is hostile.
    fn hostile() -> AlertView {
        let mut v = view();
        v.incident_title =
            "fake notice: <!channel> [Official guidance](https://evil.example)".into();
        v.item_title = Some("<@U024BE7LH> **Polls closed**\r\nBcc: x@evil.example".into());
        v.excerpt = "<!here> Polls closed, see <https://evil.example|Official guidance>\n\
                     > quoted <at>Returning Officer</at> @channel \u{202E}gnp.exe\u{0}"
            .into();
        v.url = Some("https://evil.example/x|<!channel>)](y)".into());
        v.source = "Echo <!everyone>".into();
        v.author = Some("@everyone".into());
        v.verdicts[0].explanation = "links to [anytown.gov.uk](https://evil.example)".into();
        v.verdicts[0].rebuttal = Some("<!subteam^S123> see _this_".into());
        v
    }

    #[test]
    fn hostile_item_text_cannot_ping_disguise_links_or_inject_markup_in_any_channel() {
        let p = Payload::Sighting {
            view: Box::new(hostile()),
            thread: None,
        };
        // Slack: the only `<…>` left is Ballotwatch's own link to the item, percent-encoded.
        let s = slack(&p);
        let section = s["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(s["blocks"][1]["text"]["verbatim"], true);
        assert_eq!(section.matches('<').count(), 1, "{section}");
        assert!(
            section.contains(
                "<https://evil.example/x%7C%3C!channel%3E%29%5D%28y%29|Echo &lt;!everyone&gt;>"
            ),
            "{section}"
        );
        for shown in [
            "&lt;!channel&gt;",
            "&lt;!here&gt;",
            "&lt;https://evil.example|Official guidance&gt;",
            "&lt;at&gt;Returning Officer&lt;/at&gt;",
            "&lt;!subteam^S123&gt;",
            "@\u{2060}channel",
        ] {
            assert!(section.contains(shown), "{shown} not in {section}");
        }
        // The poster's `>` cannot end the quote block early or start one.
        assert!(section.contains("\n> &gt; quoted"), "{section}");
        assert!(!section.contains('\u{202E}') && !section.contains('\u{0}'));
        let fallback = s["text"].as_str().unwrap();
        assert!(!fallback.contains('<'), "{fallback}");
        let header = s["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(!header.contains('\n'), "{header}");

        // Teams: no Markdown link but Ballotwatch's own (the URL as its own text), no tags.
        let t = teams(&p);
        let card = serde_json::to_string(&t["sections"]).unwrap();
        assert_eq!(card.matches("](").count(), 1, "{card}");
        assert!(!card.contains('<'), "{card}");
        let link = t["sections"][0]["facts"][1]["value"].as_str().unwrap();
        assert_eq!(
            link,
            "[https://evil\\.example/x%7C%3C\\!channel%3E%29%5D%28y%29](https://evil.example/x%7C%3C!channel%3E%29%5D%28y%29)"
        );
        let title = t["sections"][0]["activityTitle"].as_str().unwrap();
        assert!(
            title
                .contains("&lt;\\!channel&gt; \\[Official guidance\\]\\(https://evil\\.example\\)"),
            "{title}"
        );
        assert!(!t["title"].as_str().unwrap().contains('<'));

        // Email: escaped HTML, one-line subject, no header injection, http(s) links only.
        let m = email(&p);
        assert!(
            !m.subject.contains('\n') && !m.subject.contains('\r'),
            "{}",
            m.subject
        );
        assert!(!m.html.contains("<at>") && !m.html.contains("<!here>"));
        assert!(m.html.contains("&lt;!here&gt;"));
        assert!(m
            .text
            .contains("Title: <@U024BE7LH> **Polls closed** Bcc: x@evil.example\n"));
        let mut js = hostile();
        js.url = Some("javascript:alert(document.cookie)".into());
        let m = email(&Payload::Sighting {
            view: Box::new(js.clone()),
            thread: None,
        });
        assert!(!m.html.contains("href=\"javascript"), "{}", m.html);
        assert!(m.html.contains("javascript:alert(document.cookie)"));
        let s = slack(&Payload::Sighting {
            view: Box::new(js),
            thread: None,
        });
        assert!(!s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("<javascript"));
    }

    #[test]
    fn message_ids_are_stable_per_key() {
        assert_eq!(message_id("a", "x.example"), message_id("a", "x.example"));
        assert_ne!(message_id("a", "x.example"), message_id("b", "x.example"));
        assert!(message_id("a", "x.example").ends_with("@x.example>"));
    }

    #[test]
    fn webhook_bodies_have_their_platform_shape() {
        let p = Payload::Digest {
            rule: "r".into(),
            views: vec![view(), view()],
        };
        let t = teams(&p);
        assert_eq!(t["@type"], "MessageCard");
        assert_eq!(t["sections"].as_array().unwrap().len(), 2);
        let s = slack(&p);
        assert_eq!(s["blocks"][0]["type"], "header");
        let g = generic(&p, "k");
        assert_eq!(g["event"], "digest");
        assert_eq!(g["sightings"].as_array().unwrap().len(), 2);
    }
}
