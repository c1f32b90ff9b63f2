//! How the report inbox logs in: the password from `password_env` (`LOGIN`), or XOAUTH2 with an
//! access token from an OAuth 2.0 token endpoint (client-credentials grant, fetched through the
//! guarded fetcher and kept until shortly before it expires); and the trusted roots of a
//! private CA (`ca_file`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::source::ImapSource;
use crate::fetcher::{FetchError, FetchRequest, Fetched};
use crate::sources::common::{decode_json, quote, JSON_ACCEPT};
use crate::sources::{PollContext, SourceError};

/// How one poll logs in.
pub(super) enum Secret {
    /// `LOGIN` with the password from `password_env`.
    Password(String),
    /// `AUTHENTICATE XOAUTH2` with an access token from `token_url`.
    Token(String),
}

/// An OAuth 2.0 token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds the token is valid for.
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A token is used until this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// How long a token is used when the endpoint does not say.
const TOKEN_DEFAULT_LIFE: Duration = Duration::from_secs(300);

/// The SASL XOAUTH2 initial response (`user=…^Aauth=Bearer …^A^A`); an empty answer to any
/// later challenge (the server's error details), as the mechanism asks.
pub(super) struct XOAuth2 {
    first: Option<String>,
}

impl XOAuth2 {
    pub(super) fn new(user: &str, token: &str) -> XOAuth2 {
        XOAuth2 {
            first: Some(format!("user={user}\x01auth=Bearer {token}\x01\x01")),
        }
    }
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        self.first.take().unwrap_or_default()
    }
}

impl ImapSource {
    /// What this poll logs in with: the password from `password_env`, or an access token from
    /// `token_url` (kept until shortly before it expires).
    pub(super) async fn secret(&self, ctx: &PollContext) -> Result<Secret, SourceError> {
        let Some(token_url) = &self.cfg.token_url else {
            let var = self.cfg.password_env.as_deref().unwrap_or_default();
            return match std::env::var(var) {
                Ok(p) if !p.is_empty() => Ok(Secret::Password(p)),
                _ => Err(self.setup(format!(
                    "password_env names the environment variable `{var}`, which is not set or \
                     empty; set it to the mailbox password of `{}`",
                    self.cfg.username
                ))),
            };
        };
        if let Ok(cached) = self.token.lock() {
            if let Some((token, until)) = cached.as_ref() {
                if Instant::now() < *until {
                    return Ok(Secret::Token(token.clone()));
                }
            }
        }
        let (token, life) = self.fetch_token(ctx, token_url).await?;
        if let Ok(mut cached) = self.token.lock() {
            let until = Instant::now() + life.saturating_sub(TOKEN_MARGIN);
            *cached = Some((token.clone(), until));
        }
        Ok(Secret::Token(token))
    }

    /// An access token from `token_url` (client-credentials grant) and how long it lasts.
    async fn fetch_token(
        &self,
        ctx: &PollContext,
        token_url: &Url,
    ) -> Result<(String, Duration), SourceError> {
        let var = self.cfg.client_secret_env.as_deref().unwrap_or_default();
        let secret = match std::env::var(var) {
            Ok(s) if !s.is_empty() => s,
            _ => {
                return Err(self.setup(format!(
                    "client_secret_env names the environment variable `{var}`, which is not set \
                     or empty; set it to the OAuth 2.0 client secret"
                )))
            }
        };
        let mut form = vec![
            ("grant_type", "client_credentials"),
            (
                "client_id",
                self.cfg.client_id.as_deref().unwrap_or_default(),
            ),
            ("client_secret", secret.as_str()),
        ];
        if let Some(scope) = &self.cfg.scope {
            form.push(("scope", scope.as_str()));
        }
        let req = FetchRequest::new(token_url.clone(), JSON_ACCEPT);
        let body = match ctx.fetcher.post_form(&req, &form).await {
            Ok(Fetched::Body { body, .. }) => body,
            Ok(Fetched::NotModified { .. }) => {
                return Err(SourceError::Payload {
                    source_name: self.name.clone(),
                    url: token_url.to_string(),
                    what: "OAuth 2.0 token answer",
                    message: "it answered 304 Not Modified to a token request".into(),
                })
            }
            Err(FetchError::Status {
                status: status @ (400 | 401 | 403),
                detail,
                ..
            }) => {
                return Err(SourceError::Setup {
                    source_name: self.name.clone(),
                    url: token_url.to_string(),
                    message: format!(
                        "the token endpoint {token_url} refused the client credentials (HTTP \
                         {status}{}); check client_id, the secret in `{var}` and scope",
                        detail
                            .map(|d| format!(": {}", quote(&d)))
                            .unwrap_or_default()
                    ),
                })
            }
            Err(error) => {
                return Err(SourceError::Fetch {
                    source_name: self.name.clone(),
                    error,
                })
            }
        };
        let answer: TokenAnswer =
            decode_json(&self.name, token_url, &body, "OAuth 2.0 token answer")?;
        let life = answer
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(TOKEN_DEFAULT_LIFE);
        Ok((answer.access_token, life))
    }

    /// The trusted roots from `ca_file`, if set.
    pub(super) fn roots(&self) -> Result<Option<Arc<rustls::RootCertStore>>, SourceError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let Some(path) = &self.cfg.ca_file else {
            return Ok(None);
        };
        let shown = path.display();
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| self.setup(format!("cannot read ca_file {shown}: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                self.setup(format!(
                    "ca_file {shown} is not a PEM certificate file: {e}"
                ))
            })?;
            roots.add(cert).map_err(|e| {
                self.setup(format!(
                    "ca_file {shown} holds a certificate rustls refuses: {e}"
                ))
            })?;
        }
        if roots.is_empty() {
            return Err(self.setup(format!("ca_file {shown} holds no PEM certificate")));
        }
        Ok(Some(Arc::new(roots)))
    }
}
