//! Escaping per channel. Everything an alert shows — the item's text and title, its author, its
//! URL, the incident title and the explanations built from them — was written by the people
//! Ballotwatch watches, and goes out in the council's own name. Each channel parses its text
//! differently, so each gets its own escaping, applied by [`crate::render`] to every string
//! that is not Ballotwatch's own:
//!
//! * every channel: control characters (C0 but tab and newline, DEL, C1) and the Unicode bidi
//!   controls that reorder what is shown (U+200E/F, U+202A–E, U+2066–9) are removed
//!   ([`clean`]); one-line fields (subjects, titles, facts) also lose their newlines
//!   ([`one_line`]);
//! * Slack mrkdwn ([`slack`]): `&`, `<` and `>` become `&amp;`, `&lt;`, `&gt;` (so `<!channel>`,
//!   `<@U123>` and `<https://evil|Official guidance>` are shown, not acted on), and the broadcast
//!   words `@channel`, `@here` and `@everyone` get a word joiner after the `@`; the sections
//!   are also sent with `verbatim: true`, so Slack links nothing by itself;
//! * Teams message-card text, Markdown plus limited HTML ([`teams`]): `&`, `<`, `>` become
//!   entities (no `<at>` mention, tag or autolink), and Markdown punctuation gets a backslash
//!   (no `[text](url)` link, emphasis or heading); a backslash before `(` also keeps `](` from
//!   ever being adjacent, for renderers that ignore backslash escapes;
//! * links ([`link_target`]): only `http` and `https` URLs are linked, percent-encoding every
//!   character that could end the link syntax of any channel; the link's text is the URL itself
//!   or Ballotwatch's own words, never the poster's;
//! * email HTML: every string goes through `html_escape`, URLs only into `href` when
//!   [`link_target`] accepts them; the signed JSON webhook carries data, escaped by JSON itself.

/// Whether `c` is removed from every alert: control characters but tab and newline, and the
/// bidi controls that can make text read differently from what it is.
fn unwanted(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without control characters (but tab and newline) and bidi controls.
pub fn clean(s: &str) -> String {
    s.chars().filter(|c| !unwanted(*c)).collect()
}

/// [`clean`], with every run of line breaks and tabs made one space: for subjects, titles and
/// other one-line fields.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars().filter(|c| !unwanted(*c)) {
        if c == '\n' || c == '\t' {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    out
}

/// Slack's broadcast mentions, which some workspaces turn into pings even without `<! >`.
const BROADCASTS: [&str; 3] = ["channel", "here", "everyone"];

/// Text for Slack mrkdwn (see the module documentation).
pub fn slack(s: &str) -> String {
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

/// Markdown punctuation a Teams card would act on.
const TEAMS_MARKDOWN: &str = "\\`*_{}[]()#+-.!|~";

/// Text for a Teams message card's Markdown-with-HTML fields (see the module documentation).
pub fn teams(s: &str) -> String {
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

/// The URL to put in a link, or `None` when it must not be linked (not `http`/`https`, or
/// empty). Everything outside the URL characters that no channel's link syntax uses is
/// percent-encoded: spaces, quotes, `<>()[]{}|\^` and backticks, control and non-ASCII
/// characters (as UTF-8).
pub fn link_target(url: &str) -> Option<String> {
    let url = url.trim();
    // A scheme we link, followed by a host.
    let linkable = ["http://", "https://"].iter().any(|p| {
        url.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
            && url.len() > p.len()
    });
    if !linkable {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#@!$&'*+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What posters write to hijack an alert.
    const HOSTILE: &str = "<!channel> <!here|here> <@U024BE7LH> <#C024BE7LR> @channel @Here \
        <https://evil.example|Official guidance> [Official guidance](https://evil.example) \
        **URGENT** _polls_ # Heading <at>Returning Officer</at> <a href=\"https://evil.example\">x</a> \
        A\u{0}B\u{7}C\u{1b}[31mD\u{85}E\u{202E}gnp.exe\u{2066}F\r\nG & H";

    #[test]
    fn slack_shows_mentions_and_links_instead_of_acting_on_them() {
        let s = slack(HOSTILE);
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
        assert_eq!(slack("mail ro@anytown.gov.uk"), "mail ro@anytown.gov.uk");
    }

    #[test]
    fn teams_shows_markdown_links_mentions_and_html_as_text() {
        let t = teams(HOSTILE);
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
    fn one_line_fields_lose_line_breaks_and_controls() {
        assert_eq!(one_line("a\r\n\r\nb\tc\u{0}d\u{202E}"), "a b cd");
        assert_eq!(one_line("\nlead"), "lead");
    }

    #[test]
    fn only_http_urls_are_linked_and_never_break_out_of_the_link() {
        assert_eq!(link_target("javascript:alert(1)"), None);
        assert_eq!(link_target("data:text/html,x"), None);
        assert_eq!(link_target("https://"), None);
        assert_eq!(
            link_target("https://evil.example/a b|<!channel>)](x)\"`\u{202E}é").as_deref(),
            Some("https://evil.example/a%20b%7C%3C!channel%3E%29%5D%28x%29%22%60%E2%80%AE%C3%A9")
        );
        assert_eq!(
            link_target(" HTTPS://echo.example/1?a=1&b=2#top ").as_deref(),
            Some("HTTPS://echo.example/1?a=1&b=2#top")
        );
    }
}
