//! The guarded HTTP fetcher every source uses.
//!
//! One [`Fetcher`] per process holds one reqwest client (rustls, HTTP/2, gzip/deflate/brotli
//! decoding) and applies the `[ingest]` rules to every request. Proxy settings from the
//! environment are ignored: a proxy resolves names itself, which would bypass the SSRF guard.
//! The rules:
//!
//! - **Timeouts**: `connect_timeout` for TCP+TLS and `timeout` for the whole exchange, body
//!   included.
//! - **Size cap**: a response whose `Content-Length` is over `max_response_size` is refused
//!   before its body is read; otherwise the body is read chunk by chunk and the fetch fails as
//!   soon as the cap would be passed, so no more than the cap is ever buffered. The cap applies
//!   to the decoded body, so a small compressed "zip bomb" cannot get past it.
//! - **Redirects**: at most `max_redirects`, only to `http`/`https`, each hop checked by the
//!   SSRF guard when its host is an IP literal.
//! - **SSRF guard** ([`guard`]): unless `allow_private_addresses`, IP-literal URLs in private,
//!   loopback, link-local and similar ranges are refused before anything is sent, and host names
//!   are resolved by a resolver that drops such addresses. The only names it does not resolve
//!   are `IngestConfig::pinned_hosts`, which no config file can set (the demo pins its
//!   recorded sites' names to its replay server).
//! - **Politeness**: at most `per_host_concurrency` requests in flight per host and at least
//!   `politeness_delay` between two request starts to one host (the host of the URL
//!   requested; redirect hops ride in the same slot).
//! - **Conditional GET**: `If-None-Match` / `If-Modified-Since` from the caller's cursor; a 304
//!   comes back as [`Fetched::NotModified`].
//!
//! A successful fetch comes back with a [`Capture`]: the evidence record of exactly what was
//! received. Its `sha256` and `size` are of the body **after content-encoding is removed**
//! (the bytes a reader of the feed sees, and the bytes returned next to the capture); for the
//! same reason the `Content-Encoding` and `Content-Length` headers of a compressed response are
//! not in the captured headers, because they described the encoded bytes. Headers are listed
//! in the order the HTTP library exposes them: the order in which each header name was first
//! received, with repeated headers of one name next to each other.

mod connect;
mod error;
mod gate;
pub mod guard;
mod hosts;
mod retry;

pub use self::connect::{BoxedConnection, Connection};

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::IngestConfig;
use ballotwatch_core::{sha256_hex, Capture};
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{redirect, StatusCode};
use url::Url;

pub use self::error::{FetchError, ERROR_BODY_LEN};
pub use self::gate::{GateRefusal, ResponseGate};
use self::guard::{BlockedAddress, GuardedResolver};
use self::hosts::HostLimiter;
pub use self::retry::{parse_rate_limit_reset, parse_retry_after};

/// The `Accept` header for feeds: feed types first, generic XML next, anything last.
pub const FEED_ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1";

/// How many leading bytes [`Fetcher::get_capped`] shows its cap function.
pub const SNIFF_LEN: usize = 64;

/// A size cap chosen from a body's first bytes (see [`Fetcher::get_capped`]).
pub type SizeCap = dyn Fn(&[u8]) -> u64 + Sync;

/// One GET to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// What to fetch (`http` or `https`).
    pub url: Url,
    /// The `ETag` from the previous fetch, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` from the previous fetch, sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// The `Accept` header, e.g. [`FEED_ACCEPT`].
    pub accept: &'static str,
}

impl FetchRequest {
    /// An unconditional GET of `url` with the given `Accept` header.
    pub fn new(url: Url, accept: &'static str) -> FetchRequest {
        FetchRequest {
            url,
            etag: None,
            last_modified: None,
            accept,
        }
    }
}

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The server answered 304: nothing changed since the `etag`/`last_modified` we sent.
    NotModified {
        /// The URL requested.
        url: String,
        /// The URL after redirects.
        final_url: String,
        /// When the request started (UTC).
        started_at: DateTime<Utc>,
        /// When the answer arrived (UTC).
        finished_at: DateTime<Utc>,
    },
    /// A 2xx answer with its body.
    Body {
        /// The evidence record (status, headers, SHA-256 and size of `body`, times).
        capture: Capture,
        /// The body, content-encoding removed; `capture.sha256` is its hash.
        body: Vec<u8>,
        /// The response's `ETag`, for the next conditional GET.
        etag: Option<String>,
        /// The response's `Last-Modified`, for the next conditional GET.
        last_modified: Option<String>,
    },
}

/// Why the redirect policy stopped following.
#[derive(Debug)]
enum RedirectRefused {
    TooMany,
    Scheme { to: String },
    Blocked { to: String, reason: String },
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectRefused::TooMany => f.write_str("too many redirects"),
            RedirectRefused::Scheme { to } => write!(f, "redirect to `{to}` is not http or https"),
            RedirectRefused::Blocked { to, reason } => {
                write!(f, "redirect to {to} refused: {reason}")
            }
        }
    }
}

impl StdError for RedirectRefused {}

struct Inner {
    client: reqwest::Client,
    limiter: HostLimiter,
    user_agent: String,
    max_size: u64,
    timeout: Duration,
    connect_timeout: Duration,
    max_redirects: usize,
    allow_private: bool,
}

/// The guarded HTTP client. Cheap to clone: clones share the connection pool and the per-host
/// limits.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
    gate: Option<Arc<dyn ResponseGate>>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("user_agent", &self.inner.user_agent)
            .field("max_size", &self.inner.max_size)
            .field("timeout", &self.inner.timeout)
            .field("max_redirects", &self.inner.max_redirects)
            .field("allow_private", &self.inner.allow_private)
            .field("gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the fetcher from `[ingest]`. `version` goes into the User-Agent:
    /// `Ballotwatch/<version> (+<contact_url>)`, or `Ballotwatch/<version>` without a
    /// `contact_url`. Names in `cfg.pinned_hosts` connect to their pinned address without DNS.
    pub fn new(cfg: &IngestConfig, version: &str) -> Result<Fetcher, FetchError> {
        let user_agent = match &cfg.contact_url {
            Some(contact) => format!("Ballotwatch/{version} (+{contact})"),
            None => format!("Ballotwatch/{version}"),
        };
        let max_redirects = cfg.max_redirects;
        let allow_private = cfg.allow_private_addresses;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(RedirectRefused::TooMany);
            }
            let to = attempt.url();
            if !matches!(to.scheme(), "http" | "https") {
                let to = to.to_string();
                return attempt.error(RedirectRefused::Scheme { to });
            }
            if let Err(blocked) = guard::check_url_host(to, allow_private) {
                let (to, reason) = (to.to_string(), blocked.to_string());
                return attempt.error(RedirectRefused::Blocked { to, reason });
            }
            attempt.follow()
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .redirect(policy)
            .referer(false)
            .no_proxy()
            .gzip(true)
            .deflate(true)
            .brotli(true)
            .dns_resolver(Arc::new(GuardedResolver { allow_private }));
        for (name, addr) in &cfg.pinned_hosts {
            builder = builder.resolve(name, *addr);
        }
        let client = builder.build().map_err(|e| FetchError::Setup {
            message: error_chain(&e),
        })?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                limiter: HostLimiter::new(cfg.per_host_concurrency, cfg.politeness_delay),
                user_agent,
                max_size: cfg.max_response_size.as_u64(),
                timeout: cfg.timeout,
                connect_timeout: cfg.connect_timeout,
                max_redirects,
                allow_private,
            }),
            gate: None,
        })
    }

    /// This fetcher (sharing its connection pool and per-host limits) with `gate` looking at
    /// every feed or API response before it is handed back.
    pub fn with_response_gate(&self, gate: Arc<dyn ResponseGate>) -> Fetcher {
        Fetcher {
            inner: self.inner.clone(),
            gate: Some(gate),
        }
    }

    /// Asks the gate, if there is one, whether a real-time source may parse `message` (see
    /// [`ResponseGate::admit_message`]); call [`Fetcher::parsed_message`] once it is parsed.
    pub fn admit_message(&self, message: &[u8]) -> Result<(), GateRefusal> {
        match &self.gate {
            Some(gate) => gate.admit_message(message),
            None => Ok(()),
        }
    }

    /// Tells the gate, if there is one, that `message` was parsed.
    pub fn parsed_message(&self, message: &[u8]) {
        if let Some(gate) = &self.gate {
            gate.parsed_message(message);
        }
    }

    /// The User-Agent sent with every request.
    pub fn user_agent(&self) -> &str {
        &self.inner.user_agent
    }

    /// `[ingest] connect_timeout`.
    pub fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// `[ingest] timeout`: the most one request may take.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// `[ingest] max_response_size` in bytes.
    pub fn max_size(&self) -> u64 {
        self.inner.max_size
    }

    /// Fetches `req.url` under every rule of the fetcher (see the [module docs](self)).
    ///
    /// 2xx → [`Fetched::Body`]; 304 → [`Fetched::NotModified`]; anything else is a
    /// [`FetchError`].
    pub async fn get(&self, req: &FetchRequest) -> Result<Fetched, FetchError> {
        self.get_with_bearer(req, None).await
    }

    /// Like [`Fetcher::get`], with `Authorization: Bearer <token>` when a token is given (for
    /// APIs such as Mastodon's). The token is a request header, so it is never in a capture.
    pub async fn get_with_bearer(
        &self,
        req: &FetchRequest,
        bearer: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        self.fetch(req, bearer, None, None).await
    }

    /// `POST`s `form` (`application/x-www-form-urlencoded`) to `req.url` under every rule of
    /// the fetcher, e.g. an OAuth 2.0 token request. The answer is not shown to the response
    /// gate: it is read by the caller, not recorded as a capture (it may hold a secret).
    pub async fn post_form(
        &self,
        req: &FetchRequest,
        form: &[(&str, &str)],
    ) -> Result<Fetched, FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.fetch(req, None, None, Some(body)).await
    }

    /// Like [`Fetcher::get`], with a size cap chosen from the body's first bytes instead of
    /// `[ingest] max_response_size`: for media, whose cap depends on what the bytes are (a
    /// video may be larger than an image). `cap` is called with no bytes first (its answer,
    /// the largest cap, is what a `Content-Length` is checked against), then once with the
    /// first [`SNIFF_LEN`] bytes (or the whole body, if shorter); the body is cut off as soon
    /// as it passes the cap then in force. [`FetchError::TooLarge`] carries that cap.
    pub async fn get_capped(
        &self,
        req: &FetchRequest,
        cap: &SizeCap,
    ) -> Result<Fetched, FetchError> {
        self.fetch(req, None, Some(cap), None).await
    }

    /// One request: a `GET`, or a `POST` of `form` (an encoded form body) when it is given.
    async fn fetch(
        &self,
        req: &FetchRequest,
        bearer: Option<&str>,
        cap: Option<&SizeCap>,
        form: Option<String>,
    ) -> Result<Fetched, FetchError> {
        let url = req.url.to_string();
        if !matches!(req.url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                url,
                reason: format!(
                    "the scheme is `{}`; only http and https are fetched",
                    req.url.scheme()
                ),
            });
        }
        let host = match req.url.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => {
                return Err(FetchError::InvalidUrl {
                    url,
                    reason: "it has no host".into(),
                })
            }
        };
        if let Err(blocked) = guard::check_url_host(&req.url, self.inner.allow_private) {
            let reason = blocked.to_string();
            return Err(FetchError::Blocked { url, reason });
        }

        let _slot = self.inner.limiter.acquire(&host).await;
        let started_at = Utc::now();
        tracing::debug!(%url, "fetching");

        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(req.accept));
        if let Some(v) = conditional_header(&url, "ETag", req.etag.as_deref()) {
            headers.insert(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = conditional_header(&url, "Last-Modified", req.last_modified.as_deref()) {
            headers.insert(header::IF_MODIFIED_SINCE, v);
        }
        if let Some(token) = bearer {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    FetchError::InvalidUrl {
                        url: url.clone(),
                        reason:
                            "the access token contains characters not allowed in an HTTP header"
                                .into(),
                    }
                })?;
            v.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, v);
        }

        let posted = form.is_some();
        let request = match form {
            None => self.inner.client.get(req.url.clone()),
            Some(body) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                self.inner.client.post(req.url.clone()).body(body)
            }
        };
        let mut resp = request
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.map_error(&url, &e))?;

        let status = resp.status();
        let final_url = resp.url().to_string();
        if status == StatusCode::NOT_MODIFIED {
            let finished_at = Utc::now();
            tracing::debug!(%url, "not modified");
            return Ok(Fetched::NotModified {
                url,
                final_url,
                started_at,
                finished_at,
            });
        }
        if status.is_redirection() {
            // reqwest hands back redirects it will not follow, such as one to `file:`.
            let target = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| resp.url().join(loc).ok());
            if let Some(to) = target.filter(|t| !matches!(t.scheme(), "http" | "https")) {
                return Err(FetchError::InvalidUrl {
                    url,
                    reason: format!("it redirects to `{to}`; only http and https are fetched"),
                });
            }
        }
        if !status.is_success() {
            let code = status.as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let now = SystemTime::now();
            let retry_after = if code == 429 || status.is_server_error() {
                header("retry-after")
                    .and_then(|v| parse_retry_after(&v, now))
                    .or_else(|| {
                        let reset =
                            header("x-rate-limit-reset").or_else(|| header("x-ratelimit-reset"))?;
                        (code == 429).then(|| parse_rate_limit_reset(&reset, now))?
                    })
            } else {
                None
            };
            let mut detail = Vec::new();
            while detail.len() < ERROR_BODY_LEN {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        let room = ERROR_BODY_LEN - detail.len();
                        detail.extend_from_slice(&c[..c.len().min(room)]);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let detail = String::from_utf8_lossy(&detail).trim().to_string();
            return Err(FetchError::Status {
                url,
                status: code,
                retry_after,
                detail: (!detail.is_empty()).then_some(detail),
            });
        }

        // Content-Length is only present when the body is not being decoded, so it is the
        // size of what we would buffer.
        let declared = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut limit = match cap {
            Some(cap) => cap(&[]),
            None => self.inner.max_size,
        };
        let mut sniffed = cap.is_none();
        if declared.is_some_and(|n| n > limit) {
            tracing::debug!(%url, ?declared, limit, "refusing an oversized response");
            return Err(FetchError::TooLarge { url, limit });
        }

        let captured_headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let header_text = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let etag = header_text(header::ETAG);
        let last_modified = header_text(header::LAST_MODIFIED);

        let capacity = declared.unwrap_or(0).min(limit).min(1 << 20);
        let mut body: Vec<u8> = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Err(self.map_error(&url, &e)),
            };
            if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
                tracing::debug!(%url, limit, "response passed the size cap while streaming");
                return Err(FetchError::TooLarge { url, limit });
            }
            body.extend_from_slice(&chunk);
            if !sniffed && body.len() >= SNIFF_LEN {
                if let Some(cap) = cap {
                    limit = cap(&body[..SNIFF_LEN]);
                }
                sniffed = true;
                if body.len() as u64 > limit {
                    return Err(FetchError::TooLarge { url, limit });
                }
            }
        }
        if !sniffed {
            if let Some(cap) = cap {
                limit = cap(&body);
            }
            if body.len() as u64 > limit {
                return Err(FetchError::TooLarge { url, limit });
            }
        }
        let finished_at = Utc::now();
        let capture = Capture {
            url,
            final_url,
            status: status.as_u16(),
            headers: captured_headers,
            sha256: sha256_hex(&body),
            size: body.len() as u64,
            started_at,
            finished_at,
        };
        tracing::debug!(url = %capture.url, status = capture.status, size = capture.size, "fetched");
        if let (Some(gate), None, false) = (&self.gate, cap, posted) {
            if let Err(reason) = gate.admit(&capture, &body).await {
                return Err(FetchError::Refused {
                    url: capture.url,
                    reason,
                });
            }
        }
        Ok(Fetched::Body {
            capture,
            body,
            etag,
            last_modified,
        })
    }

    /// Turns a reqwest error into the [`FetchError`] a user can act on.
    fn map_error(&self, url: &str, err: &reqwest::Error) -> FetchError {
        let url = url.to_string();
        let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = cause {
            if let Some(r) = e.downcast_ref::<RedirectRefused>() {
                return match r {
                    RedirectRefused::TooMany => FetchError::TooManyRedirects {
                        url,
                        max: self.inner.max_redirects,
                    },
                    RedirectRefused::Scheme { to } => FetchError::InvalidUrl {
                        url,
                        reason: format!("it redirects to `{to}`; only http and https are fetched"),
                    },
                    RedirectRefused::Blocked { to, reason } => FetchError::Blocked {
                        url,
                        reason: format!("it redirects to {to}, and {reason}"),
                    },
                };
            }
            if let Some(b) = e.downcast_ref::<BlockedAddress>() {
                return FetchError::Blocked {
                    url,
                    reason: b.reason(),
                };
            }
            cause = e.source();
        }
        if err.is_timeout() {
            let after = if err.is_connect() {
                self.inner.connect_timeout
            } else {
                self.inner.timeout
            };
            return FetchError::Timeout { url, after };
        }
        let message = error_chain(err);
        if err.is_body() || err.is_decode() {
            FetchError::Body { url, message }
        } else {
            FetchError::Connect { url, message }
        }
    }
}

/// A header value from a stored validator, or `None` (with a warning) when it cannot be sent.
fn conditional_header(url: &str, what: &str, value: Option<&str>) -> Option<HeaderValue> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    match HeaderValue::from_str(value) {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(%url, what, value, "the stored validator is not a valid header value; fetching unconditionally");
            None
        }
    }
}

/// The causes of an error joined by ": ", without reqwest's own "error sending request for
/// url (...)" line (the URL is already in our message) and without repeats.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests;
