//! Microsoft Teams incoming webhooks: a message card. Its text fields are Markdown with limited
//! HTML, so every item-derived string goes through [`escape`]: `&`, `<`, `>` become entities (no
//! `<at>` mention, tag or autolink), and Markdown punctuation gets a backslash (no `[text](url)`
//! link, emphasis or heading); a backslash before `(` also keeps `](` from ever being adjacent,
//! for renderers that ignore backslash escapes.

use serde_json::json;

use super::webhook::{Endpoint, Request};
use super::{Channel, ChannelError, Outgoing};
use crate::decide::Payload;
use crate::escape::{clean, link_target, one_line};
use crate::render::{colour, subject, top_severity, views};

/// Markdown punctuation a Teams card would act on.
const TEAMS_MARKDOWN: &str = "\\`*_{}[]()#+-.!|~";

/// Text for a Teams message card's Markdown-with-HTML fields (see the module documentation).
pub fn escape(s: &str) -> String {
    let s = clean(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if TEAMS_MARKDOWN.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A Teams link: the URL itself as its text (so no post can disguise where it goes), only for
/// http(s); anything else is shown as text.
fn link(url: &str) -> String {
    match link_target(url) {
        Some(target) => format!("[{}]({target})", escape(&target)),
        None => escape(&one_line(url)),
    }
}

/// The message card for a payload.
pub fn card(payload: &Payload) -> serde_json::Value {
    let subject = subject(payload);
    let views = views(payload);
    let line = |s: &str| escape(&one_line(s));
    let notice = match payload {
        Payload::Notice { text, .. } => Some(json!({"text": escape(text)})),
        _ => None,
    };
    let sections: Vec<_> = views
        .iter()
        .map(|v| {
            let facts: Vec<_> = v
                .verdicts
                .iter()
                .map(|x| json!({"name": line(&x.label), "value": line(&x.explanation)}))
                .chain(v.url.iter().map(|u| json!({"name": "Link", "value": link(u)})))
                .collect();
            json!({
                "activityTitle": format!("Incident #{}: {}", v.incident_id, line(&v.incident_title)),
                "activitySubtitle": format!("{} · {} · {} sightings", v.severity.as_str(), line(&v.source), v.sightings),
                "text": escape(&v.excerpt),
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
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": subject,
        "themeColor": colour(top_severity(payload)).trim_start_matches('#'),
        "title": escape(&subject),
        "sections": sections,
        "potentialAction": actions,
    })
}

/// A `kind = "teams"` webhook.
#[derive(Debug, Clone)]
pub struct Teams {
    endpoint: Endpoint,
}

impl Teams {
    /// Posts to `endpoint`.
    pub fn new(endpoint: Endpoint) -> Teams {
        Teams { endpoint }
    }
}

impl Channel for Teams {
    type Body = Request;

    fn render(&self, message: &Outgoing<'_>) -> Result<Request, ChannelError> {
        Request::json(&card(message.payload))
    }

    async fn deliver(&self, message: &Outgoing<'_>, body: Request) -> Result<(), ChannelError> {
        self.endpoint.post(message, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::{hostile, view, HOSTILE};

    #[test]
    fn teams_shows_markdown_links_mentions_and_html_as_text() {
        let t = escape(HOSTILE);
        assert!(!t.contains("](") && !t.contains("<"), "{t}");
        assert!(
            t.contains("\\[Official guidance\\]\\(https://evil\\.example\\)"),
            "{t}"
        );
        assert!(t.contains("&lt;at&gt;Returning Officer&lt;/at&gt;"), "{t}");
        assert!(
            t.contains("\\*\\*URGENT\\*\\*") && t.contains("\\_polls\\_"),
            "{t}"
        );
        assert!(t.contains("\\# Heading"), "{t}");
        assert!(t.contains("G &amp; H"), "{t}");
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        // Every character that is not escaping is the poster's own, in order.
        let shown: String = t
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .replace('\\', "");
        assert_eq!(
            shown.replace('\n', ""),
            clean(HOSTILE).replace(['\\', '\n'], "")
        );
    }

    #[test]
    fn hostile_item_text_cannot_disguise_links_or_inject_markup_in_a_card() {
        let p = Payload::Sighting {
            view: Box::new(hostile()),
            thread: None,
        };
        // No Markdown link but Ballotwatch's own (the URL as its own text), no tags.
        let t = card(&p);
        let sections = serde_json::to_string(&t["sections"]).unwrap();
        assert_eq!(sections.matches("](").count(), 1, "{sections}");
        assert!(!sections.contains('<'), "{sections}");
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
        // A URL that is not http(s) is shown, never linked.
        let mut js = hostile();
        js.url = Some("javascript:alert(document.cookie)".into());
        let t = card(&Payload::Sighting {
            view: Box::new(js),
            thread: None,
        });
        let link = t["sections"][0]["facts"][1]["value"].as_str().unwrap();
        assert!(!link.contains("]("), "{link}");
        assert!(
            link.contains("javascript:alert\\(document\\.cookie\\)"),
            "{link}"
        );
    }

    #[test]
    fn cards_have_one_section_per_sighting_and_notices_say_their_text() {
        let p = Payload::Digest {
            rule: "r".into(),
            views: vec![view(), view()],
        };
        let t = card(&p);
        assert_eq!(t["@type"], "MessageCard");
        assert_eq!(t["themeColor"], "b00020");
        assert_eq!(t["sections"].as_array().unwrap().len(), 2);
        assert_eq!(
            t["potentialAction"][0]["targets"][0]["uri"],
            "https://bw.example/incidents/7"
        );
        let n = card(&Payload::Notice {
            subject: "[Ballotwatch] Quarantined".into(),
            text: "see <script> *now*".into(),
        });
        let text = n["sections"][0]["text"].as_str().unwrap();
        assert_eq!(text, "see &lt;script&gt; \\*now\\*");
    }
}
