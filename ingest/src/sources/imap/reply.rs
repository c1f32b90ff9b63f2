//! Whether a report may be answered (the inbox's optional acknowledgement, `acknowledge`): only
//! a message a person sent, to an address that looks like one. Automatic mail (auto-replies,
//! bounces, mailing lists, bulk senders: RFC 3834 `Auto-Submitted`, `Precedence`, `List-Id`,
//! an empty `Return-Path`, Microsoft's `X-Auto-Response-Suppress`, `mailer-daemon` and `noreply`
//! addresses) gets no answer, so two robots can never write to each other for ever.

use ballotwatch_core::config::looks_like_mailbox;
use mail_parser::Message;

/// The longest mail address answered (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;

/// The address to acknowledge the report `msg` at (its `From` address, `from`), or `None` when
/// the message is automatic or the address is not one a reply can go to.
pub(crate) fn reply_address(msg: &Message<'_>, from: Option<&str>) -> Option<String> {
    let address = from?.trim();
    if !plausible(address) || automatic_sender(address) || automatic(msg) {
        return None;
    }
    Some(address.to_string())
}

/// A bare address (the config's own mailbox rule, [`looks_like_mailbox`]: a local part and a
/// domain of two or more labels), not too long, with no spaces, control characters or list and
/// angle-bracket punctuation that could make it more than one address, and without the
/// trailing dot a DNS name may have and a mail domain may not (RFC 5321).
fn plausible(address: &str) -> bool {
    address.len() <= MAX_ADDRESS
        && !address.ends_with('.')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && looks_like_mailbox(address)
}

/// The local parts robots send from (compared without `-`, `_`, `.`, in any case).
const ROBOTS: [&str; 6] = [
    "mailerdaemon",
    "postmaster",
    "noreply",
    "donotreply",
    "bounce",
    "bounces",
];

fn automatic_sender(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    let squashed: String = local
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    ROBOTS.iter().any(|r| {
        squashed
            .strip_prefix(r)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('+'))
    })
}

fn automatic(msg: &Message<'_>) -> bool {
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    // RFC 3834: anything but `no` is automatic.
    if header("Auto-Submitted").is_some_and(|v| !v.starts_with("no")) {
        return true;
    }
    if header("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list")) {
        return true;
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return true;
    }
    // A bounce's envelope sender is empty.
    if header("Return-Path")
        .is_some_and(|v| v.trim_matches(|c| c == '<' || c == '>').trim().is_empty())
    {
        return true;
    }
    header("X-Auto-Response-Suppress")
        .is_some_and(|v| v.contains("all") || v.contains("autoreply") || v.contains("oof"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn answer(headers: &str) -> Option<String> {
        let raw = format!(
            "From: Chris Voter <chris.voter@example.org>\r\n{headers}Subject: Fwd: look\r\n\r\nSee below.\r\n"
        );
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let from = msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string);
        reply_address(&msg, from.as_deref())
    }

    #[test]
    fn a_person_is_answered() {
        assert_eq!(answer("").as_deref(), Some("chris.voter@example.org"));
        assert_eq!(
            answer("Auto-Submitted: no\r\nReturn-Path: <chris.voter@example.org>\r\n").as_deref(),
            Some("chris.voter@example.org")
        );
    }

    #[test]
    fn automatic_mail_is_never_answered() {
        for headers in [
            "Auto-Submitted: auto-replied\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "AUTO-SUBMITTED: Auto-Notified\r\n",
            "Precedence: bulk\r\n",
            "Precedence: list\r\n",
            "List-Id: <residents.lists.example.org>\r\n",
            "List-Unsubscribe: <mailto:leave@example.org>\r\n",
            "Return-Path: <>\r\n",
            "X-Auto-Response-Suppress: All\r\n",
            "X-Auto-Response-Suppress: OOF, AutoReply\r\n",
        ] {
            assert_eq!(answer(headers), None, "{headers}");
        }
    }

    #[test]
    fn robots_and_odd_addresses_are_never_answered() {
        let reply = |from: &str| {
            let msg = MessageParser::default()
                .parse(b"Subject: x\r\n\r\nx\r\n".as_slice())
                .unwrap();
            reply_address(&msg, Some(from))
        };
        for from in [
            "MAILER-DAEMON@mx.example.org",
            "postmaster@example.org",
            "no-reply@example.org",
            "noreply+123@example.org",
            "do_not_reply@example.org",
            "bounces@example.org",
            "chris",
            "chris@localhost",
            "@example.org",
            "a@b@example.org",
            "chris voter@example.org",
            "chris@example.org.",
            "chris@example.org>,eve@example.net",
            &format!("{}@example.org", "a".repeat(250)),
        ] {
            assert_eq!(reply(from), None, "{from}");
        }
        assert_eq!(
            reply(" sam@example.org ").as_deref(),
            Some("sam@example.org")
        );
        assert_eq!(
            reply("noreplyfan@example.org").as_deref(),
            Some("noreplyfan@example.org")
        );
    }
}
