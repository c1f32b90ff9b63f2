//! What every channel's template shares: the subject line, the sightings a payload shows and
//! the severity colour. Each channel's own template and escaping are in its module under
//! [`crate::channels`].

use ballotwatch_core::Severity;

use crate::decide::{AlertView, Payload};
use crate::escape::one_line;

/// The subject of a message: an email's `Subject:`, a card's title, a Slack header, the JSON
/// body's `subject`. One line, not yet escaped for any markup.
pub fn subject(payload: &Payload) -> String {
    match payload {
        Payload::Sighting { view, thread } => sighting_subject(view, thread.is_some()),
        Payload::Digest { rule, views } => {
            let incidents: std::collections::BTreeSet<i64> =
                views.iter().map(|v| v.incident_id).collect();
            format!(
                "[{}] Ballotwatch digest ({rule}): {} sighting{} in {} incident{}",
                top_severity(payload).as_str().to_uppercase(),
                views.len(),
                if views.len() == 1 { "" } else { "s" },
                incidents.len(),
                if incidents.len() == 1 { "" } else { "s" }
            )
        }
        Payload::Notice { subject, .. } => one_line(subject),
    }
}

fn sighting_subject(view: &AlertView, update: bool) -> String {
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

/// The sightings a payload shows, oldest first (none for a notice).
pub fn views(payload: &Payload) -> Vec<&AlertView> {
    match payload {
        Payload::Sighting { view, .. } => vec![view.as_ref()],
        Payload::Digest { views, .. } => views.iter().collect(),
        Payload::Notice { .. } => Vec::new(),
    }
}

/// The highest severity among the payload's sightings.
pub fn top_severity(payload: &Payload) -> Severity {
    views(payload)
        .iter()
        .map(|v| v.severity)
        .max()
        .unwrap_or(Severity::None)
}

/// The colour a severity is shown in (`#rrggbb`).
pub fn colour(sev: Severity) -> &'static str {
    match sev {
        Severity::High => "#b00020",
        Severity::Medium => "#c25e00",
        Severity::Low => "#5f6b7a",
        Severity::None => "#5f6b7a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::{hostile, view};

    #[test]
    fn subjects_are_one_line_and_say_what_and_how_bad() {
        let first = Payload::Sighting {
            view: Box::new(view()),
            thread: None,
        };
        assert_eq!(
            subject(&first),
            "[HIGH] misinformation: fake notice: polls-closed — incident #7"
        );
        let update = Payload::Sighting {
            view: Box::new(view()),
            thread: Some("k".into()),
        };
        assert!(subject(&update).starts_with("Update: "));
        let mut v = hostile();
        v.incident_title = "a\r\nBcc: x@evil.example\u{202E}".into();
        let s = subject(&Payload::Sighting {
            view: Box::new(v),
            thread: None,
        });
        assert!(!s.contains(['\r', '\n', '\u{202E}']), "{s}");
        let mut low = view();
        low.severity = Severity::Low;
        low.incident_id = 8;
        let digest = Payload::Digest {
            rule: "daily".into(),
            views: vec![low, view(), view()],
        };
        assert_eq!(
            subject(&digest),
            "[HIGH] Ballotwatch digest (daily): 3 sightings in 2 incidents"
        );
        assert_eq!(top_severity(&digest), Severity::High);
        assert_eq!(views(&digest).len(), 3);
        let notice = Payload::Notice {
            subject: "one\ntwo".into(),
            text: "t".into(),
        };
        assert_eq!(subject(&notice), "one two");
        assert_eq!(top_severity(&notice), Severity::None);
    }
}
