//! Delivery: the outbox sender (SMTP through lettre, webhooks through reqwest) with retries,
//! exponential backoff with jitter and dead-lettering, and the digest scheduler.
//!
//! Exactly once: a message is marked `sending` before it is handed to the server and `sent`
//! (with `accepted_at`) straight after the server accepted it (SMTP `250` after `DATA`, or a
//! webhook's 2xx). A crash inside that window — after the server accepted, before `sent` was
//! committed — is the only way a message goes twice; the copy carries the same `Message-ID`
//! (and webhook idempotency key header), so receivers can drop it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ballotwatch_core::config::{AlertMode, OnUpdate, SmtpConfig, SmtpTls, WebhookKind};
use ballotwatch_core::Config;
use ballotwatch_store::{NewOutbox, OutboxKind, OutboxRow, Store};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::RngExt;
use sha2::Sha256;

use crate::decide::{digest_slot, AlertView, Payload};
use crate::render;
use crate::AlertError;

/// The header carrying a generic webhook's HMAC-SHA256 signature (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Ballotwatch-Signature";
/// The header carrying a webhook message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "X-Ballotwatch-Idempotency-Key";

/// Why one delivery attempt failed.
#[derive(Debug)]
struct Failure {
    message: String,
    /// Retrying cannot help (e.g. a 5xx SMTP reply to a recipient, a 4xx from a webhook).
    permanent: bool,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

struct Hook {
    kind: WebhookKind,
    url: String,
    secret: Option<Vec<u8>>,
}

/// Delivers outbox messages and closes digests.
pub struct Sender {
    smtp: Option<Smtp>,
    http: reqwest::Client,
    hooks: HashMap<String, Hook>,
    retry_initial: Duration,
    retry_max: Duration,
    dead_after: Duration,
    digests: Vec<ballotwatch_core::config::AlertRule>,
}

fn env_secret(var: &str, what: &str) -> Result<String, AlertError> {
    std::env::var(var).map_err(|_| {
        AlertError::Setup(format!(
            "{what}: environment variable `{var}` is not set (it must hold the secret)"
        ))
    })
}

fn smtp_transport(c: &SmtpConfig) -> Result<Smtp, AlertError> {
    let setup = |m: String| AlertError::Setup(format!("[alerts.smtp]: {m}"));
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|e| setup(format!("from `{}` is not a mailbox: {e}", c.from)))?;
    let domain = from.email.domain().to_string();
    let tls_params = || -> Result<TlsParameters, AlertError> {
        let mut b = TlsParameters::builder(c.host.clone());
        if let Some(ca) = &c.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(format!("cannot read ca_file {}: {e}", ca.display())))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                setup(format!(
                    "ca_file {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            b = b
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| setup(format!("cannot set up TLS for {}: {e}", c.host)))
    };
    let tls = match c.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_params()?),
        SmtpTls::Tls => Tls::Wrapper(tls_params()?),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
        .port(c.port)
        .tls(tls)
        .timeout(Some(c.timeout));
    if let Some(user) = &c.username {
        let pass = match &c.password_env {
            Some(var) => env_secret(var, "[alerts.smtp] password_env")?,
            None => String::new(),
        };
        b = b.credentials(Credentials::new(user.clone(), pass));
    }
    Ok(Smtp {
        transport: b.build(),
        from,
        domain,
    })
}

impl Sender {
    /// Builds the channels from the configuration: reads `password_env` and `secret_env`
    /// variables and the CA file now, so a mistake stops start-up rather than an alert.
    pub fn new(config: &Config) -> Result<Sender, AlertError> {
        let a = &config.alerts;
        let smtp = a.smtp.as_ref().map(smtp_transport).transpose()?;
        let mut hooks = HashMap::new();
        for h in &a.webhooks {
            let secret = h
                .secret_env
                .as_deref()
                .map(|v| env_secret(v, &format!("webhook `{}` secret_env", h.name)))
                .transpose()?
                .map(String::into_bytes);
            hooks.insert(
                h.name.clone(),
                Hook {
                    kind: h.kind,
                    url: h.url.to_string(),
                    secret,
                },
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Ballotwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertError::Setup(format!("cannot build the webhook client: {e}")))?;
        Ok(Sender {
            smtp,
            http,
            hooks,
            retry_initial: a.retry_initial,
            retry_max: a.retry_max,
            dead_after: a.dead_letter_after,
            digests: a
                .rules
                .iter()
                .filter(|r| r.mode == AlertMode::Digest || r.on_update == OnUpdate::Digest)
                .cloned()
                .collect(),
        })
    }

    /// Delay before attempt `attempts + 1`: `retry_initial` doubled per failure, capped at
    /// `retry_max`, then a random 50–100 % of it (jitter), so a recovering server is not hit by
    /// every sender at once.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .retry_initial
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)))
            .min(self.retry_max);
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Delivers every message that is due, channel by channel in queue order, until nothing is
    /// due; returns how many were delivered. A failing message holds back the later messages of
    /// its channel (so they arrive in order) and is retried with backoff.
    pub async fn deliver_due(&self, store: &Store) -> Result<usize, AlertError> {
        let mut delivered = 0;
        loop {
            let due = blocking(store, |s| s.outbox_due(Utc::now())).await?;
            if due.is_empty() {
                return Ok(delivered);
            }
            let mut progressed = false;
            for row in due {
                if self.deliver_one(store, &row).await? {
                    delivered += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(delivered);
            }
        }
    }

    /// One attempt at one message; `Ok(true)` when the server accepted it.
    async fn deliver_one(&self, store: &Store, row: &OutboxRow) -> Result<bool, AlertError> {
        let id = row.id;
        blocking(store, move |s| s.outbox_start(id)).await?;
        match self.send(row).await {
            Ok(()) => {
                let at = Utc::now();
                blocking(store, move |s| s.outbox_sent(id, at)).await?;
                tracing::info!(message = id, key = %row.idempotency_key, channel = %row.channel, attempts = row.attempts + 1, "alert delivered");
                Ok(true)
            }
            Err(f) => {
                let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
                let error = f.message.clone();
                if f.permanent || age >= self.dead_after {
                    tracing::error!(message = id, key = %row.idempotency_key, channel = %row.channel, error = %f.message, "alert dead-lettered: see `ballotwatch alerts status`");
                    blocking(store, move |s| s.outbox_dead(id, &error)).await?;
                } else {
                    let delay = self.backoff(row.attempts + 1);
                    let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    tracing::warn!(message = id, channel = %row.channel, error = %f.message, retry_in = ?delay, "alert delivery failed; will retry");
                    blocking(store, move |s| s.outbox_retry(id, &error, next)).await?;
                }
                Ok(false)
            }
        }
    }

    async fn send(&self, row: &OutboxRow) -> Result<(), Failure> {
        let payload: Payload =
            serde_json::from_value(row.payload.clone()).map_err(|e| Failure {
                message: format!("the queued message cannot be read: {e}"),
                permanent: true,
            })?;
        if row.channel == "email" {
            self.send_email(row, &payload).await
        } else if let Some(name) = row.channel.strip_prefix("webhook:") {
            self.send_webhook(row, name, &payload).await
        } else {
            Err(Failure {
                message: format!("unknown channel `{}`", row.channel),
                permanent: true,
            })
        }
    }

    async fn send_email(&self, row: &OutboxRow, payload: &Payload) -> Result<(), Failure> {
        let smtp = self.smtp.as_ref().ok_or_else(|| Failure {
            message: "no [alerts.smtp] is configured".into(),
            permanent: false,
        })?;
        let mail = render::email(payload);
        let mut b = Message::builder()
            .from(smtp.from.clone())
            .subject(mail.subject)
            .message_id(Some(render::message_id(&row.idempotency_key, &smtp.domain)));
        for to in &row.recipients {
            let mb: Mailbox = to.parse().map_err(|e| Failure {
                message: format!("recipient `{to}` is not a mailbox: {e}"),
                permanent: true,
            })?;
            b = b.to(mb);
        }
        if let Payload::Sighting {
            thread: Some(first),
            ..
        } = payload
        {
            let first_id = render::message_id(first, &smtp.domain);
            b = b.in_reply_to(first_id.clone()).references(first_id);
        }
        let message = b
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.html),
                    ),
            )
            .map_err(|e| Failure {
                message: format!("cannot build the email: {e}"),
                permanent: true,
            })?;
        smtp.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| Failure {
                permanent: e.is_permanent(),
                message: format!("SMTP: {e}"),
            })
    }

    async fn send_webhook(
        &self,
        row: &OutboxRow,
        name: &str,
        payload: &Payload,
    ) -> Result<(), Failure> {
        let hook = self.hooks.get(name).ok_or_else(|| Failure {
            message: format!("webhook `{name}` is no longer configured"),
            permanent: true,
        })?;
        let body = match hook.kind {
            WebhookKind::Teams => render::teams(payload),
            WebhookKind::Slack => render::slack(payload),
            WebhookKind::Json => render::generic(payload, &row.idempotency_key),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| Failure {
            message: format!("cannot serialize the webhook body: {e}"),
            permanent: true,
        })?;
        let mut req = self
            .http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header(IDEMPOTENCY_HEADER, &row.idempotency_key);
        if let Some(secret) = &hook.secret {
            req = req.header(SIGNATURE_HEADER, sign(secret, &bytes));
        }
        let resp = req.body(bytes).send().await.map_err(|e| Failure {
            message: format!("webhook `{name}` ({}): {e}", hook.url),
            permanent: false,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(Failure {
            message: format!("webhook `{name}` ({}) answered {status}", hook.url),
            permanent: status.is_client_error()
                && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                && status != reqwest::StatusCode::REQUEST_TIMEOUT,
        })
    }

    /// Closes every digest whose scheduled time has passed since it last went out; returns how
    /// many sightings went into digests.
    pub async fn run_digests(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<usize, AlertError> {
        let mut taken = 0;
        for rule in &self.digests {
            let name = rule.name.clone();
            let last = blocking(store, move |s| s.digest_last_sent(&name)).await?;
            let slot = digest_slot(rule, now);
            if last.is_some_and(|l| l >= slot) {
                continue;
            }
            let rule = rule.clone();
            taken += blocking(store, move |s| {
                s.close_digest(&rule.name, now, |entries| {
                    let views: Vec<AlertView> = entries
                        .iter()
                        .filter_map(|e| serde_json::from_value(e.summary.clone()).ok())
                        .collect();
                    let payload = Payload::Digest {
                        rule: rule.name.clone(),
                        views,
                    };
                    let value = serde_json::to_value(&payload).ok()?;
                    let first = crate::decide::channels(&rule).into_iter().next()?;
                    let stamp = now.format("%Y%m%dT%H%M%SZ");
                    // A digest goes to the rule's first channel: its email recipients, or
                    // its first webhook when it has no recipients.
                    Some(NewOutbox {
                        idempotency_key: format!("digest:{}:{stamp}:{}", rule.name, first.0),
                        channel: first.0,
                        kind: OutboxKind::Digest,
                        rule: rule.name.clone(),
                        incident_id: None,
                        recipients: first.1,
                        payload: value,
                        not_before: now,
                    })
                })
            })
            .await?;
        }
        Ok(taken)
    }
}

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs store work on the blocking pool.
pub(crate) async fn blocking<T, F>(store: &Store, f: F) -> Result<T, AlertError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> ballotwatch_store::Result<T> + Send + 'static,
{
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| AlertError::Setup(format!("a store task failed: {e}")))??)
}

/// Shared handle for the serve loops.
pub type SharedSender = Arc<Sender>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
