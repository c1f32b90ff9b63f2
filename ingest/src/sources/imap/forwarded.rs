//! Forwarded-message headers in a message body: Gmail (`---------- Forwarded message
//! ---------`), Apple Mail (`Begin forwarded message:`) and Outlook (`From: … Sent: …` after a
//! rule or `-----Original Message-----`). The first such block gives the original sender, date
//! and subject. One pass over the lines; at most [`MAX_HEADER_LINES`] lines after a marker are
//! read.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Header lines read after a marker before giving up.
pub const MAX_HEADER_LINES: usize = 12;

/// The original post's header, as the forwarder's mail program wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// The original sender's display name.
    pub from_name: Option<String>,
    /// The original sender's address.
    pub from_address: Option<String>,
    /// When the original was sent (UTC), if the date reads.
    pub date: Option<DateTime<Utc>>,
    /// The original subject.
    pub subject: Option<String>,
}

fn is_marker(line: &str) -> bool {
    let l = line.trim().trim_start_matches('>').trim();
    let lower = l.to_ascii_lowercase();
    (lower.contains("forwarded message") && l.starts_with('-'))
        || lower == "begin forwarded message:"
        || lower.contains("original message-----")
        || (l.len() >= 10 && l.chars().all(|c| c == '_'))
}

/// The first forwarded header block in `text`, if there is one with a `From:` line.
pub fn parse(text: &str) -> Option<Forwarded> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let window = &lines[i + 1..lines.len().min(i + 1 + MAX_HEADER_LINES)];
        if is_marker(line) {
            if let Some(f) = block(window.iter().copied()) {
                return Some(f);
            }
        } else if header(line).is_some_and(|(k, _)| k == "from")
            && window
                .iter()
                .take_while(|l| header(l).is_some())
                .any(|l| header(l).is_some_and(|(k, _)| k == "sent"))
        {
            // An Outlook block without a rule above it: `From:` then `Sent:` among its lines.
            if let Some(f) = block(lines[i..].iter().copied()) {
                return Some(f);
            }
        }
    }
    None
}

/// Reads `Key: value` lines (after blank lines) until a line that is not a header.
fn block<'a>(lines: impl Iterator<Item = &'a str>) -> Option<Forwarded> {
    let mut f = Forwarded::default();
    let mut seen_from = false;
    let mut started = false;
    for line in lines.take(MAX_HEADER_LINES) {
        let l = line.trim().trim_start_matches('>').trim();
        if l.is_empty() {
            if started {
                break;
            }
            continue;
        }
        let Some((key, value)) = header(l) else { break };
        started = true;
        match key.as_str() {
            "from" => {
                seen_from = true;
                let (name, address) = split_address(value);
                f.from_name = name;
                f.from_address = address;
            }
            "date" | "sent" => f.date = parse_date(value),
            "subject" => f.subject = Some(value.to_string()).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    seen_from.then_some(f)
}

/// `Key: value` with a known forwarded-header key (lower-cased), in English.
fn header(line: &str) -> Option<(String, &str)> {
    let l = line.trim().trim_start_matches('>').trim();
    let (key, value) = l.split_once(':')?;
    let key = key.trim().trim_matches('*').trim().to_ascii_lowercase();
    matches!(
        key.as_str(),
        "from" | "date" | "sent" | "subject" | "to" | "cc" | "reply-to"
    )
    .then(|| (key, value.trim().trim_matches('*').trim()))
}

/// `Name <address>`, `address` or `Name [mailto:address]` into name and address.
fn split_address(value: &str) -> (Option<String>, Option<String>) {
    let value = value.trim();
    let open = value.find(['<', '[']);
    let (name, addr) = match open {
        Some(i) => {
            let addr = value[i + 1..]
                .trim_end_matches(['>', ']'])
                .trim_start_matches("mailto:")
                .trim();
            (value[..i].trim().trim_matches('"').trim(), addr)
        }
        None if value.contains('@') => ("", value),
        None => (value.trim_matches('"'), ""),
    };
    let name = Some(name.to_string()).filter(|n| !n.is_empty());
    let addr =
        Some(addr.to_string()).filter(|a| a.contains('@') && !a.contains(char::is_whitespace));
    (name, addr)
}

/// Dates as Gmail, Apple Mail and Outlook write them, or RFC 2822. A trailing zone name
/// (`BST`, `GMT`, `UTC`) is honoured; a time without a zone is read as UTC.
pub fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    let (v, offset_hours) = match v.rsplit_once(' ') {
        Some((rest, "BST")) => (rest, 1),
        Some((rest, "GMT" | "UTC")) => (rest, 0),
        _ => (v, 0),
    };
    let v = v.replace(" at ", " ").replace(['\u{202f}', '\u{a0}'], " ");
    const FORMATS: &[&str] = &[
        "%a, %d %b %Y %H:%M",     // Gmail: Sat, 2 May 2026 at 09:14
        "%a, %b %d, %Y %I:%M %p", // Gmail (US): Sat, May 2, 2026 at 9:14 AM
        "%d %B %Y %H:%M:%S",      // Apple Mail: 2 May 2026 at 09:14:22 BST
        "%B %d, %Y %I:%M:%S %p",  // Apple Mail (US)
        "%A, %B %d, %Y %I:%M %p", // Outlook: Saturday, May 2, 2026 9:14 AM
        "%A, %d %B %Y %H:%M",     // Outlook (UK): Saturday, 2 May 2026 09:14
        "%d %B %Y %H:%M",
    ];
    FORMATS.iter().find_map(|f| {
        NaiveDateTime::parse_from_str(&v, f).ok().and_then(|n| {
            Utc.from_local_datetime(&n)
                .single()
                .map(|d| d - chrono::Duration::hours(offset_hours))
        })
    })
}
