//! The HTTP POST the webhook channels ([`super::teams`], [`super::slack`], [`super::json`])
//! share: a JSON body, the message's idempotency key in a header, and what the answer means
//! for a retry.

use crate::config::WebhookConfig;

use super::{ChannelError, Outgoing};

/// The header carrying a webhook message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "X-Ballotwatch-Idempotency-Key";

/// One configured webhook: where to POST, with the shared client.
#[derive(Debug, Clone)]
pub struct Endpoint {
    name: String,
    url: String,
    http: reqwest::Client,
}

/// A rendered webhook request: the JSON body and any header of the channel's own (a
/// signature).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The body as sent.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    /// `value` as a JSON body with no extra header.
    pub fn json(value: &serde_json::Value) -> Result<Request, ChannelError> {
        let body = serde_json::to_vec(value).map_err(|e| {
            ChannelError::Permanent(format!("cannot serialize the webhook body: {e}"))
        })?;
        Ok(Request {
            body,
            headers: Vec::new(),
        })
    }
}

impl Endpoint {
    /// The endpoint of `[[alerts.webhook]]` `hook`.
    pub fn new(hook: &WebhookConfig, http: reqwest::Client) -> Endpoint {
        Endpoint {
            name: hook.name.clone(),
            url: hook.url.to_string(),
            http,
        }
    }

    /// POSTs `request`. A 2xx is delivered; a 4xx is a refusal retrying cannot help, except
    /// 408 and 429; a 5xx or no answer may pass.
    pub async fn post(&self, message: &Outgoing<'_>, request: Request) -> Result<(), ChannelError> {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(IDEMPOTENCY_HEADER, message.idempotency_key);
        for (k, v) in request.headers {
            req = req.header(k, v);
        }
        let resp = req.body(request.body).send().await.map_err(|e| {
            ChannelError::Transient(format!("webhook `{}` ({}): {e}", self.name, self.url))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let what = format!("webhook `{}` ({}) answered {status}", self.name, self.url);
        if status.is_client_error()
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
        {
            Err(ChannelError::Permanent(what))
        } else {
            Err(ChannelError::Transient(what))
        }
    }
}
