//! The HTML pages: a shared layout (skip link, navigation, logout form), error pages and the
//! stylesheet; one module per page.

pub(crate) mod audit;
pub(crate) mod dashboard;
pub(crate) mod incident;
pub(crate) mod login;
pub(crate) mod search;
pub(crate) mod sources;
pub(crate) mod users;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ballotwatch_store::Role;
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use crate::auth::Auth;

/// The stylesheet (served from the binary: no external CDN).
const STYLESHEET: &str = include_str!("../../static/app.css");

/// `GET /static/app.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: head, skip link, navigation for the logged-in user (or none), main content.
pub(crate) fn layout(title: &str, auth: Option<&Auth>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Ballotwatch" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                a.skip href="#main" { "Skip to main content" }
                header.top {
                    span.brand { "Ballotwatch" }
                    @if let Some(a) = auth {
                        nav aria-label="Main" {
                            ul {
                                li { a href="/" { "Dashboard" } }
                                li { a href="/search" { "Search" } }
                                li { a href="/incidents" { "Incidents" } }
                                li { a href="/sources" { "Sources" } }
                                @if a.user.role >= Role::Analyst { li { a href="/reports" { "Report" } } }
                                @if a.user.role >= Role::Admin { li { a href="/audit" { "Audit log" } } }
                                @if a.user.role >= Role::Admin { li { a href="/users" { "Users" } } }
                                @if a.demo { li { a href="/demo/mail" { "Demo mail" } } }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(a.csrf);
                            span { (a.user.name) " (" (a.user.role) ") " }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                @if auth.is_some_and(|a| a.demo) {
                    p.demo-banner role="note" {
                        "Demo: a fictional council and recorded material replayed from this computer. "
                        "Alert emails go to the Demo mail page, not to real inboxes."
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page shown for an error.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    layout(
        status.canonical_reason().unwrap_or("Error"),
        None,
        html! {
            p.error role="alert" { (message) }
            p { a href="/" { "Back to the dashboard" } }
        },
    )
}

/// Anything not routed.
pub(crate) async fn not_found() -> Response {
    crate::WebError::NotFound("there is no such page".into()).into_response()
}

/// A time as shown everywhere: UTC, to the minute.
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An optional time, or a dash.
pub(crate) fn when_opt(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), when)
}

/// A severity badge.
pub(crate) fn severity_badge(s: ballotwatch_core::Severity) -> Markup {
    html! { span class=(format!("sev sev-{s}")) { (s) } }
}

/// Hex digits kept when a SHA-256 in an incident title is shortened for display.
const SHORT_HASH: usize = 12;

/// An incident title for reading: a SHA-256 in it (the media hash that grouped a known fake,
/// logo reuse or AI-generated image) shortened to its first 12 digits, as the full 64 would
/// make lists and headings unreadable; the incident page shows the full hash with the media.
pub(crate) fn incident_title(title: &str) -> String {
    title
        .split(' ')
        .map(|w| {
            if w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("{}…", &w[..SHORT_HASH])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Longest heading made from an untitled item's text.
const HEADING_CHARS: usize = 90;

/// What to call an item in a heading or a link: its title, or for an untitled post (Mastodon,
/// Bluesky and Telegram posts have none) the start of its text cut at a word, so a list of
/// results never reads "(untitled)" over and over.
pub(crate) fn item_heading(item: &ballotwatch_core::Item) -> String {
    if let Some(t) = item
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return t.to_string();
    }
    let text = item
        .text
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        return "(untitled)".to_string();
    }
    if text.chars().count() <= HEADING_CHARS {
        return text;
    }
    let cut: String = text.chars().take(HEADING_CHARS).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

/// A status as words.
pub(crate) fn status_words(s: ballotwatch_core::IncidentStatus) -> String {
    s.as_str().replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_in_incident_titles_are_shortened() {
        let sha = "94a5c2463b8ef7d4495d99dac0b732df13e9daba01b33e5aee226ee3b7135174";
        assert_eq!(
            incident_title(&format!("ai generated provenance: {sha}")),
            "ai generated provenance: 94a5c2463b8e…"
        );
        assert_eq!(
            incident_title("lookalike domain: anytown-gov.uk"),
            "lookalike domain: anytown-gov.uk"
        );
        let not_hex = "g".repeat(64);
        assert_eq!(incident_title(&not_hex), not_hex);
    }

    #[test]
    fn an_untitled_item_is_headed_by_the_start_of_its_text() {
        let mut item = ballotwatch_core::Item {
            id: "p".into(),
            title: Some("  Polls open at 7am ".into()),
            text: Some("ignored".into()),
            ..Default::default()
        };
        assert_eq!(item_heading(&item), "Polls open at 7am");
        item.title = None;
        item.text = Some("URGENT:\n voters in Riverside ward can now vote by text.".into());
        assert_eq!(
            item_heading(&item),
            "URGENT: voters in Riverside ward can now vote by text."
        );
        item.text = Some("word ".repeat(40));
        let h = item_heading(&item);
        assert!(h.ends_with("word…"), "{h}");
        assert!(h.chars().count() <= HEADING_CHARS + 1, "{h}");
        item.text = Some("   ".into());
        assert_eq!(item_heading(&item), "(untitled)");
    }
}
