//! Slack incoming webhooks: a blocks message. Its mrkdwn goes through [`escape`] — `&`, `<` and
//! `>` become `&amp;`, `&lt;`, `&gt;` (so `<!channel>`, `<@U123>` and
//! `<https://evil|Official guidance>` are shown, not acted on), and the broadcast words
//! `@channel`, `@here` and `@everyone` get a word joiner after the `@` — and the sections are
//! sent with `verbatim: true`, so Slack links nothing by itself; the header is `plain_text`,
//! which Slack never parses.

use serde_json::json;

use super::webhook::{Endpoint, Request};
use super::{Channel, ChannelError, Outgoing};
use crate::decide::Payload;
use crate::escape::{clean, link_target, one_line};
use crate::render::{subject, views};

/// Slack's broadcast mentions, which some workspaces turn into pings even without `<! >`.
const BROADCASTS: [&str; 3] = ["channel", "here", "everyone"];

/// Text for Slack mrkdwn (see the module documentation).
pub fn escape(s: &str) -> String {
    let s = clean(s);
    let mut out = String::with_capacity(s.len() + 16);
    for (i, c) in s.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => {
                out.push('@');
                let rest = &s[i + 1..];
                if BROADCASTS.iter().any(|w| {
                    rest.get(..w.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(w))
                }) {
                    out.push('\u{2060}');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The blocks message for a payload.
pub fn message(payload: &Payload) -> serde_json::Value {
    let subject = subject(payload);
    let line = |s: &str| escape(&one_line(s));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": subject.chars().take(150).collect::<String>()}}),
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
        text.push_str(&format!("> {}\n", escape(&v.excerpt).replace('\n', "\n> ")));
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
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(text), "verbatim": true}}));
    }
    json!({"text": escape(&subject), "blocks": blocks})
}

/// A `kind = "slack"` webhook.
#[derive(Debug, Clone)]
pub struct Slack {
    endpoint: Endpoint,
}

impl Slack {
    /// Posts to `endpoint`.
    pub fn new(endpoint: Endpoint) -> Slack {
        Slack { endpoint }
    }
}

impl Channel for Slack {
    type Body = Request;

    fn render(&self, message: &Outgoing<'_>) -> Result<Request, ChannelError> {
        Request::json(&self::message(message.payload))
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
    fn slack_shows_mentions_and_links_instead_of_acting_on_them() {
        let s = escape(HOSTILE);
        for bad in ["<!", "<@", "<#", "<http", "<at>", "<a "] {
            assert!(!s.contains(bad), "{bad} in {s}");
        }
        assert!(s.contains("&lt;!channel&gt;"), "{s}");
        assert!(
            s.contains("&lt;https://evil.example|Official guidance&gt;"),
            "{s}"
        );
        assert!(
            s.contains("@\u{2060}channel") && s.contains("@\u{2060}Here"),
            "{s}"
        );
        assert!(s.contains("G &amp; H"), "{s}");
        assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{s:?}");
        assert!(!s.contains('\u{202E}') && !s.contains('\u{2066}'), "{s:?}");
        // Nothing is lost: the words are all still there.
        assert!(s.contains("ABC[31mDEgnp.exeF"), "{s:?}");
        // An address is not a broadcast.
        assert_eq!(escape("mail ro@anytown.gov.uk"), "mail ro@anytown.gov.uk");
    }

    #[test]
    fn hostile_item_text_cannot_ping_or_disguise_links_in_a_slack_message() {
        let p = Payload::Sighting {
            view: Box::new(hostile()),
            thread: None,
        };
        // The only `<…>` left is Ballotwatch's own link to the item, percent-encoded.
        let s = message(&p);
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
        // A URL that is not http(s) is shown, never linked.
        let mut js = hostile();
        js.url = Some("javascript:alert(document.cookie)".into());
        let s = message(&Payload::Sighting {
            view: Box::new(js),
            thread: None,
        });
        assert!(!s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("<javascript"));
    }

    #[test]
    fn slack_messages_have_a_header_and_a_section_per_sighting() {
        let p = Payload::Digest {
            rule: "r".into(),
            views: vec![view(), view()],
        };
        let s = message(&p);
        assert_eq!(s["blocks"][0]["type"], "header");
        let sections = s["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "section")
            .count();
        assert_eq!(sections, 2);
        let n = message(&Payload::Notice {
            subject: "s".into(),
            text: "<!channel> quarantine retry 3".into(),
        });
        let text = n["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(text, "&lt;!channel&gt; quarantine retry 3");
    }
}
