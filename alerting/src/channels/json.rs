//! The generic JSON webhook: a body with `event`, `idempotency_key`, `subject` and the
//! sightings (or a notice's text), for a SIEM or a council's own systems. It carries data, which
//! JSON itself escapes; text is only stripped of control and bidi characters. With `secret_env`
//! the body is signed: `X-Ballotwatch-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use crate::config::WebhookConfig;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::webhook::{Endpoint, Request};
use super::{Channel, ChannelError, Outgoing};
use crate::decide::Payload;
use crate::escape::clean;
use crate::render::{subject, views};
use crate::AlertError;

/// The header carrying a generic webhook's HMAC-SHA256 signature (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Ballotwatch-Signature";

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON body for a payload.
pub fn body(payload: &Payload, idempotency_key: &str) -> serde_json::Value {
    let event = match payload {
        Payload::Sighting { thread: None, .. } => "alert",
        Payload::Sighting {
            thread: Some(_), ..
        } => "update",
        Payload::Digest { .. } => "digest",
        Payload::Notice { text, .. } => {
            return json!({
                "event": "notice",
                "idempotency_key": idempotency_key,
                "subject": subject(payload),
                "text": clean(text),
            })
        }
    };
    json!({
        "event": event,
        "idempotency_key": idempotency_key,
        "subject": subject(payload),
        "sightings": views(payload),
    })
}

/// A `kind = "json"` webhook.
#[derive(Debug, Clone)]
pub struct Json {
    endpoint: Endpoint,
    secret: Option<Vec<u8>>,
}

impl Json {
    /// Posts to `endpoint`, signing with the key in `hook.secret_env` when it is set; an unset
    /// variable stops start-up.
    pub fn new(endpoint: Endpoint, hook: &WebhookConfig) -> Result<Json, AlertError> {
        let secret = hook
            .secret_env
            .as_deref()
            .map(|v| super::env_secret(v, &format!("webhook `{}` secret_env", hook.name)))
            .transpose()?
            .map(String::into_bytes);
        Ok(Json::with_secret(endpoint, secret))
    }

    /// Posts to `endpoint`, signing with `secret` when there is one.
    pub fn with_secret(endpoint: Endpoint, secret: Option<Vec<u8>>) -> Json {
        Json { endpoint, secret }
    }
}

impl Channel for Json {
    type Body = Request;

    fn render(&self, message: &Outgoing<'_>) -> Result<Request, ChannelError> {
        let mut request = Request::json(&body(message.payload, message.idempotency_key))?;
        if let Some(secret) = &self.secret {
            request
                .headers
                .push((SIGNATURE_HEADER, sign(secret, &request.body)));
        }
        Ok(request)
    }

    async fn deliver(&self, message: &Outgoing<'_>, body: Request) -> Result<(), ChannelError> {
        self.endpoint.post(message, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::{hostile, view};

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn hook(secret_env: Option<&str>) -> WebhookConfig {
        WebhookConfig {
            name: "siem".into(),
            kind: crate::config::WebhookKind::Json,
            url: "https://siem.example/in".parse().unwrap(),
            secret_env: secret_env.map(str::to_string),
        }
    }

    #[test]
    fn signed_bodies_carry_the_signature_of_exactly_the_bytes_sent() {
        let h = hook(None);
        let endpoint = || Endpoint::new(&h, reqwest::Client::new());
        let json = Json::with_secret(endpoint(), Some(b"hook-secret".to_vec()));
        let p = Payload::Sighting {
            view: Box::new(hostile()),
            thread: Some("first".into()),
        };
        let m = Outgoing {
            idempotency_key: "alert:7:r:webhook:siem",
            recipients: &[],
            payload: &p,
        };
        let r = json.render(&m).unwrap();
        assert_eq!(
            r.headers,
            [(SIGNATURE_HEADER, sign(b"hook-secret", &r.body))]
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["event"], "update");
        assert_eq!(v["idempotency_key"], "alert:7:r:webhook:siem");
        // Data, not markup: the poster's text arrives as written, JSON-escaped.
        assert_eq!(v["sightings"][0]["source"], "Echo <!everyone>", "{v}");
        let plain = Json::new(endpoint(), &h).unwrap().render(&m).unwrap();
        assert!(plain.headers.is_empty());
        assert_eq!(plain.body, r.body);
    }

    #[test]
    fn a_missing_secret_variable_stops_start_up_naming_it() {
        let h = hook(Some("BW_ALERTING_TEST_UNSET_SECRET"));
        let e = Json::new(Endpoint::new(&h, reqwest::Client::new()), &h).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("BW_ALERTING_TEST_UNSET_SECRET") && e.contains("siem"),
            "{e}"
        );
    }

    #[test]
    fn bodies_name_their_event() {
        let p = Payload::Digest {
            rule: "r".into(),
            views: vec![view(), view()],
        };
        let g = body(&p, "k");
        assert_eq!(g["event"], "digest");
        assert_eq!(g["sightings"].as_array().unwrap().len(), 2);
        let first = body(
            &Payload::Sighting {
                view: Box::new(view()),
                thread: None,
            },
            "k",
        );
        assert_eq!(first["event"], "alert");
        let n = body(
            &Payload::Notice {
                subject: "s".into(),
                text: "a\u{202E}b\u{0}".into(),
            },
            "k",
        );
        assert_eq!(n["event"], "notice");
        assert_eq!(n["text"], "ab");
    }
}
