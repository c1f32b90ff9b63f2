//! Channel ids: what rules and admin notices deliver to, and what an outbox row's `channel`
//! column records. The column stays text (the store knows nothing of alerting); the strings are
//! the ones every existing database holds, so no migration is needed.

use std::fmt;
use std::str::FromStr;

/// A delivery channel, as rules name it and the outbox records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelId {
    /// Email through `[alerts.smtp]`; stored as `email`.
    Email,
    /// The `[[alerts.webhook]]` with this name; stored as `webhook:<name>`.
    Webhook(String),
}

const EMAIL: &str = "email";
const WEBHOOK_PREFIX: &str = "webhook:";

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelId::Email => f.write_str(EMAIL),
            ChannelId::Webhook(name) => write!(f, "{WEBHOOK_PREFIX}{name}"),
        }
    }
}

/// A stored channel string that is not a channel id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{channel}` is not a channel (expected `email` or `webhook:<name>`)")]
pub struct UnknownChannel {
    /// The string as stored.
    pub channel: String,
}

impl FromStr for ChannelId {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == EMAIL {
            return Ok(ChannelId::Email);
        }
        match s.strip_prefix(WEBHOOK_PREFIX) {
            Some(name) if !name.is_empty() => Ok(ChannelId::Webhook(name.to_string())),
            _ => Err(UnknownChannel {
                channel: s.to_string(),
            }),
        }
    }
}

/// Where one message goes: a channel and, for email, its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The channel.
    pub channel: ChannelId,
    /// Email addresses (empty for webhooks).
    pub recipients: Vec<String>,
}

/// The destinations of a rule or of the admin notices: email to `to` when it is not empty,
/// then each named webhook, in order.
pub fn destinations(to: &[String], webhooks: &[String]) -> Vec<Destination> {
    let email = (!to.is_empty()).then(|| Destination {
        channel: ChannelId::Email,
        recipients: to.to_vec(),
    });
    email
        .into_iter()
        .chain(webhooks.iter().map(|w| Destination {
            channel: ChannelId::Webhook(w.clone()),
            recipients: Vec::new(),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_the_strings_stored_in_the_outbox() {
        for s in [
            "email",
            "webhook:teams",
            "webhook:ops:out of hours",
            "webhook:é<!x>",
        ] {
            let id: ChannelId = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
        }
        assert_eq!("email".parse(), Ok(ChannelId::Email));
        assert_eq!(
            "webhook:siem".parse(),
            Ok(ChannelId::Webhook("siem".into()))
        );
    }

    #[test]
    fn anything_else_is_an_error_naming_it() {
        for s in [
            "",
            "Email",
            " email",
            "sms",
            "webhook",
            "webhook:",
            "webhooks:x",
        ] {
            let e = s.parse::<ChannelId>().unwrap_err();
            assert_eq!(e.channel, s);
            assert!(e.to_string().contains(&format!("`{s}`")), "{e}");
        }
    }

    #[test]
    fn destinations_are_email_first_then_webhooks_in_order() {
        let to = vec!["ro@anytown.gov.uk".to_string()];
        let hooks = vec!["teams".to_string(), "siem".to_string()];
        let d = destinations(&to, &hooks);
        assert_eq!(
            d.iter().map(|d| d.channel.to_string()).collect::<Vec<_>>(),
            ["email", "webhook:teams", "webhook:siem"]
        );
        assert_eq!(d[0].recipients, to);
        assert!(d[1].recipients.is_empty());
        assert_eq!(destinations(&[], &hooks).len(), 2);
        assert!(destinations(&[], &[]).is_empty());
    }
}
