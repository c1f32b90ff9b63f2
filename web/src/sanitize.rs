//! Making untrusted content safe to show: captured HTML through an allow-list, search snippets
//! down to `<b>`, and links only when they are plain web addresses.

use std::collections::HashSet;

/// Captured HTML as it may be shown: ammonia's allow-list of formatting tags (no scripts,
/// styles, forms, frames, event handlers or `style` attributes), links only to http(s) and
/// mailto addresses and marked `noopener noreferrer nofollow`, and no images at all (remote
/// images are never loaded; media is shown from the capture store instead).
pub(crate) fn item_html(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// A search snippet with only `<b>` tags (no attributes) left; everything else escaped or
/// dropped. The index already escapes and adds `<b>`; this makes sure nothing else survives.
pub(crate) fn snippet(html: &str) -> String {
    ammonia::Builder::empty()
        .tags(HashSet::from(["b"]))
        .clean_content_tags(HashSet::from(["script", "style"]))
        .clean(html)
        .to_string()
}

/// `url` when it is an absolute http(s) address, for use in a link; `None` otherwise
/// (`javascript:`, `data:` and relative addresses are never linked).
pub(crate) fn web_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<p onclick="window.pwned=1">Hi <script>window.pwned=1</script>
        <a href="javascript:window.pwned=1">click</a> <a href="https://ok.example/">ok</a>
        <img src="https://tracker.example/x.png" onerror="window.pwned=1">
        <div style="background:url(javascript:alert(1));width:expression(alert(1))">css</div>
        <iframe src="https://evil.example"></iframe><style>body{display:none}</style>
        <svg onload="window.pwned=1"><a xlink:href="javascript:alert(1)">x</a></svg>
        <form action="https://evil.example"><input name=x></form></p>"#;

    #[test]
    fn hostile_html_is_made_inert() {
        let out = item_html(HOSTILE);
        for bad in [
            "<script",
            "onclick",
            "onerror",
            "onload",
            "javascript:",
            "<img",
            "tracker.example",
            "style=",
            "expression(",
            "<iframe",
            "<style",
            "<svg",
            "<form",
            "<input",
        ] {
            assert!(!out.to_lowercase().contains(bad), "{bad} survived: {out}");
        }
        assert!(out.contains(r#"href="https://ok.example/""#), "{out}");
        assert!(out.contains("noopener noreferrer nofollow"), "{out}");
        assert!(
            out.contains("click") && out.contains("css"),
            "text is kept: {out}"
        );
    }

    #[test]
    fn snippets_keep_only_bold() {
        let s = snippet(
            r#"polling <b>station</b> <i>x</i> <b onclick="y">z</b> &lt;script&gt; <script>a()</script>"#,
        );
        assert_eq!(s, "polling <b>station</b> x <b>z</b> &lt;script&gt; ");
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            web_link("https://echo.example/a").as_deref(),
            Some("https://echo.example/a")
        );
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "/x",
            "vbscript:x",
        ] {
            assert_eq!(web_link(bad), None, "{bad}");
        }
    }
}
