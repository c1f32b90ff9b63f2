//! Delivery channels: one module per transport behind the [`Channel`] trait, each with its own
//! templates and escaping, and the [`ChannelId`] that names a channel in rules and outbox rows.
//!
//! * [`email`]: SMTP through lettre, multipart plain text + Outlook-safe HTML;
//! * [`teams`]: a Microsoft Teams incoming-webhook message card;
//! * [`slack`]: a Slack incoming-webhook blocks message;
//! * [`json`]: the generic JSON webhook, signed with HMAC-SHA256 when it has a secret;
//! * [`webhook`]: the HTTP POST the three webhook channels share.
//!
//! [`Channels::new`] builds every configured channel once at start-up; [`Channels::send`]
//! delivers one queued message through the channel its row names. Adding a webhook format is
//! one module here plus one arm in [`Channels::new`]; see "Adding an alert channel" in
//! `docs/ARCHITECTURE.md`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::config::{AlertsConfig, WebhookKind};

use crate::decide::Payload;
use crate::AlertError;

pub mod email;
mod id;
pub mod json;
pub mod slack;
pub mod teams;
pub mod webhook;

pub use id::{destinations, ChannelId, Destination, UnknownChannel};

/// One queued message, as a channel sees it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The message's idempotency key: the same on a re-send after a crash, so receivers can
    /// drop the copy (email `Message-ID`, the webhooks' idempotency header).
    pub idempotency_key: &'a str,
    /// Email addresses (empty for webhooks).
    pub recipients: &'a [String],
    /// What to say.
    pub payload: &'a Payload,
}

/// Why a channel could not deliver one message, and whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The outbox row names a channel this configuration does not have (a webhook removed
    /// from the configuration, or a channel id this version cannot read). Never retried.
    #[error("unknown channel `{channel}`: {reason}")]
    Unknown {
        /// The channel as the row names it.
        channel: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The message or the server's answer rules out success (a malformed recipient, an SMTP
    /// 5xx, a webhook 4xx other than 408 and 429): it becomes a dead letter at once.
    #[error("{0}")]
    Permanent(String),
    /// It may pass (a network error or timeout, an SMTP 4xx, a webhook's 408, 429 or 5xx):
    /// retried with backoff until `dead_letter_after`.
    #[error("{0}")]
    Transient(String),
}

impl ChannelError {
    /// Whether another attempt later could succeed.
    pub fn retry_can_help(&self) -> bool {
        matches!(self, ChannelError::Transient(_))
    }
}

impl From<UnknownChannel> for ChannelError {
    fn from(e: UnknownChannel) -> Self {
        ChannelError::Unknown {
            channel: e.channel,
            reason: "a channel is `email` or `webhook:<name>`".into(),
        }
    }
}

/// A transport: renders a queued message for itself, with its own escaping, and delivers it.
///
/// Rendering is separate from delivery so that templates and escaping are tested without a
/// server, and so a message that cannot be rendered is refused before anything is sent.
pub trait Channel: Send + Sync {
    /// What [`Channel::render`] produces and [`Channel::deliver`] sends: a mail, a request body.
    type Body: Send;

    /// The message as this channel sends it. Every string that came from an item goes
    /// through this channel's escaping.
    fn render(&self, message: &Outgoing<'_>) -> Result<Self::Body, ChannelError>;

    /// Hands `body` to the server; `Ok` once the server accepted it (SMTP `250` after `DATA`,
    /// a webhook's 2xx).
    fn deliver(
        &self,
        message: &Outgoing<'_>,
        body: Self::Body,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;
}

/// A boxed delivery.
type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), ChannelError>> + Send + 'a>>;

/// [`Channel`] behind a pointer: render, then deliver.
trait AnyChannel: Send + Sync {
    fn send<'a>(&'a self, message: Outgoing<'a>) -> Delivery<'a>;
}

impl<C: Channel> AnyChannel for C {
    fn send<'a>(&'a self, message: Outgoing<'a>) -> Delivery<'a> {
        Box::pin(async move {
            let body = self.render(&message)?;
            self.deliver(&message, body).await
        })
    }
}

/// Every configured channel, by id.
pub struct Channels {
    channels: HashMap<ChannelId, Box<dyn AnyChannel>>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<String> = self.channels.keys().map(ToString::to_string).collect();
        ids.sort();
        f.debug_struct("Channels").field("channels", &ids).finish()
    }
}

impl Channels {
    /// Builds the configured channels: reads `password_env` and `secret_env` variables and
    /// the CA file now, so a mistake stops start-up rather than an alert.
    pub fn new(alerts: &AlertsConfig) -> Result<Channels, AlertError> {
        let mut channels: HashMap<ChannelId, Box<dyn AnyChannel>> = HashMap::new();
        if let Some(smtp) = &alerts.smtp {
            channels.insert(ChannelId::Email, Box::new(email::Email::new(smtp)?));
        }
        if !alerts.webhooks.is_empty() {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("Ballotwatch/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| AlertError::Setup(format!("cannot build the webhook client: {e}")))?;
            for hook in &alerts.webhooks {
                let endpoint = webhook::Endpoint::new(hook, http.clone());
                let channel: Box<dyn AnyChannel> = match hook.kind {
                    WebhookKind::Teams => Box::new(teams::Teams::new(endpoint)),
                    WebhookKind::Slack => Box::new(slack::Slack::new(endpoint)),
                    WebhookKind::Json => Box::new(json::Json::new(endpoint, hook)?),
                };
                channels.insert(ChannelId::Webhook(hook.name.clone()), channel);
            }
        }
        Ok(Channels { channels })
    }

    /// Delivers one message through the channel named `channel` (an outbox row's `channel`
    /// column). A name that is not a channel id, or a webhook no longer configured, is a
    /// permanent [`ChannelError::Unknown`] naming it.
    pub async fn send(&self, channel: &str, message: Outgoing<'_>) -> Result<(), ChannelError> {
        let id: ChannelId = channel.parse()?;
        match (self.channels.get(&id), &id) {
            (Some(c), _) => c.send(message).await,
            // An email row queued before `[alerts.smtp]` was removed: kept, and retried, until
            // the mail server is configured again or the message is too old.
            (None, ChannelId::Email) => Err(ChannelError::Transient(
                "no [alerts.smtp] is configured".into(),
            )),
            (None, ChannelId::Webhook(name)) => Err(ChannelError::Unknown {
                channel: id.to_string(),
                reason: format!(
                    "there is no [[alerts.webhook]] named `{name}` (removed from the \
                     configuration after the message was queued?)"
                ),
            }),
        }
    }

    /// Whether `id` is configured.
    pub fn contains(&self, id: &ChannelId) -> bool {
        self.channels.contains_key(id)
    }
}

/// The secret in environment variable `var`, or a set-up error naming it and `what` it is for.
pub(crate) fn env_secret(var: &str, what: &str) -> Result<String, AlertError> {
    std::env::var(var).map_err(|_| {
        AlertError::Setup(format!(
            "{what}: environment variable `{var}` is not set (it must hold the secret)"
        ))
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Views and strings shared by the channels' tests.

    use crate::decide::{AlertView, VerdictView};
    use ballotwatch_core::Severity;

    /// What posters write to hijack an alert.
    pub const HOSTILE: &str = "<!channel> <!here|here> <@U024BE7LH> <#C024BE7LR> @channel @Here \
        <https://evil.example|Official guidance> [Official guidance](https://evil.example) \
        **URGENT** _polls_ # Heading <at>Returning Officer</at> <a href=\"https://evil.example\">x</a> \
        A\u{0}B\u{7}C\u{1b}[31mD\u{85}E\u{202E}gnp.exe\u{2066}F\r\nG & H";

    /// An ordinary sighting.
    pub fn view() -> AlertView {
        AlertView {
            incident_id: 7,
            incident_title: "fake notice: polls-closed".into(),
            severity: Severity::High,
            kind: "misinformation".into(),
            sightings: 1,
            item_id: "i".into(),
            item_title: Some("<b>Polls closed</b>".into()),
            excerpt: "Polls are closed <script>alert(1)</script>".into(),
            url: Some("https://echo.example/1?a=1&b=\"2\"".into()),
            source: "Echo".into(),
            author: None,
            verdicts: vec![VerdictView {
                kind: "misinformation".into(),
                label: "false_voting_info".into(),
                score: 0.93,
                explanation: "says polling stations are closed".into(),
                rebuttal: Some("All polling stations are open 7am-10pm".into()),
            }],
            incident_url: Some("https://bw.example/incidents/7".into()),
        }
    }

    /// A sighting whose every item-derived field is hostile.
    pub fn hostile() -> AlertView {
        let mut v = view();
        v.incident_title =
            "fake notice: <!channel> [Official guidance](https://evil.example)".into();
        v.item_title = Some("<@U024BE7LH> **Polls closed**\r\nBcc: x@evil.example".into());
        v.excerpt = "<!here> Polls closed, see <https://evil.example|Official guidance>\n\
                     > quoted <at>Returning Officer</at> @channel \u{202E}gnp.exe\u{0}"
            .into();
        v.url = Some("https://evil.example/x|<!channel>)](y)".into());
        v.source = "Echo <!everyone>".into();
        v.author = Some("@everyone".into());
        v.verdicts[0].explanation = "links to [anytown.gov.uk](https://evil.example)".into();
        v.verdicts[0].rebuttal = Some("<!subteam^S123> see _this_".into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// An HTTP server on 127.0.0.1 that answers every request with `status`.
    async fn answering(status: u16) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let code = axum::http::StatusCode::from_u16(status).unwrap();
        let app = axum::Router::new().fallback(move || async move { code });
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn config(toml_alerts: &str) -> AlertsConfig {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            alerts: AlertsConfig,
        }
        toml::from_str::<File>(toml_alerts).unwrap().alerts
    }

    fn notice() -> Payload {
        Payload::Notice {
            subject: "s".into(),
            text: "t".into(),
        }
    }

    #[tokio::test]
    async fn unknown_and_removed_channels_are_permanent_errors_that_name_them() {
        let channels = Channels::new(&config("")).unwrap();
        let p = notice();
        let m = Outgoing {
            idempotency_key: "k",
            recipients: &[],
            payload: &p,
        };
        for (row, needle) in [
            (
                "sms",
                "unknown channel `sms`: a channel is `email` or `webhook:<name>`",
            ),
            ("webhook:", "unknown channel `webhook:`"),
            (
                "webhook:gone",
                "unknown channel `webhook:gone`: there is no [[alerts.webhook]] named `gone`",
            ),
        ] {
            let e = channels.send(row, m).await.unwrap_err();
            assert!(!e.retry_can_help(), "{row}: {e}");
            assert!(matches!(e, ChannelError::Unknown { .. }), "{row}: {e:?}");
            assert!(e.to_string().contains(needle), "{row}: {e}");
        }
        // Email without a mail server waits for one (as before channels were typed).
        let e = channels.send("email", m).await.unwrap_err();
        assert!(e.retry_can_help(), "{e}");
        assert!(e.to_string().contains("[alerts.smtp]"), "{e}");
    }

    #[tokio::test]
    async fn webhook_answers_say_whether_a_retry_can_help() {
        for (status, retry) in [
            (200, None),
            (204, None),
            (400, Some(false)),
            (404, Some(false)),
            (408, Some(true)),
            (429, Some(true)),
            (500, Some(true)),
            (503, Some(true)),
        ] {
            let addr = answering(status).await;
            let channels = Channels::new(&config(&format!(
                "[[alerts.webhook]]\nname = \"ops\"\nkind = \"slack\"\nurl = \"http://{addr}/x\"\n"
            )))
            .unwrap();
            assert!(channels.contains(&ChannelId::Webhook("ops".into())));
            let p = notice();
            let m = Outgoing {
                idempotency_key: "k",
                recipients: &[],
                payload: &p,
            };
            let got = channels.send("webhook:ops", m).await;
            match retry {
                None => assert!(got.is_ok(), "{status}: {got:?}"),
                Some(r) => {
                    let e = got.unwrap_err();
                    assert_eq!(e.retry_can_help(), r, "{status}: {e}");
                    assert!(e.to_string().contains(&status.to_string()), "{e}");
                    assert!(e.to_string().contains("webhook `ops`"), "{e}");
                }
            }
        }
        // Nobody listening: may pass later.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let channels = Channels::new(&config(&format!(
            "[[alerts.webhook]]\nname = \"ops\"\nkind = \"teams\"\nurl = \"http://{closed}/x\"\n"
        )))
        .unwrap();
        let p = notice();
        let e = channels
            .send(
                "webhook:ops",
                Outgoing {
                    idempotency_key: "k",
                    recipients: &[],
                    payload: &p,
                },
            )
            .await
            .unwrap_err();
        assert!(e.retry_can_help(), "{e}");
    }
}
