//! Escaping every channel shares. Everything an alert shows — the item's text and title, its
//! author, its URL, the incident title and the explanations built from them — was written by
//! the people Ballotwatch watches, and goes out in the council's own name. Each channel parses
//! its text differently, so each escapes in its own module under [`crate::channels`], applied
//! to every string that is not Ballotwatch's own, on top of what is here:
//!
//! * every channel: control characters (C0 but tab and newline, DEL, C1) and the Unicode bidi
//!   controls that reorder what is shown (U+200E/F, U+202A–E, U+2066–9) are removed
//!   ([`clean`]); one-line fields (subjects, titles, facts) also lose their newlines
//!   ([`one_line`]);
//! * links ([`link_target`]): only `http` and `https` URLs are linked, percent-encoding every
//!   character that could end the link syntax of any channel; the link's text is the URL itself
//!   or Ballotwatch's own words, never the poster's;
//! * Slack mrkdwn: [`crate::channels::slack::escape`]; Teams message-card Markdown with HTML:
//!   [`crate::channels::teams::escape`]; email HTML: `html_escape` in
//!   [`crate::channels::email`]; the signed JSON webhook carries data, escaped by JSON itself
//!   ([`crate::channels::json`]).

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

    #[test]
    fn clean_removes_controls_and_bidi_overrides_and_keeps_everything_else() {
        let c = clean(crate::channels::test_support::HOSTILE);
        assert!(!c.chars().any(unwanted), "{c:?}");
        assert!(c.contains("ABC[31mDEgnp.exeF\nG & H"), "{c:?}");
        assert!(c.starts_with("<!channel> <!here|here>"), "{c:?}");
        assert_eq!(clean("tab\tand\nnewline stay"), "tab\tand\nnewline stay");
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
