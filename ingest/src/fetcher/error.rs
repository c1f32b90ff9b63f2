//! Why a fetch failed, and how an error status reads.

use std::time::Duration;

use reqwest::StatusCode;

use super::GateRefusal;

/// Why a fetch failed. Every message names the URL and, where there is one, the setting to
/// change.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be fetched at all (not http/https, no host).
    #[error("cannot fetch `{url}`: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SSRF guard refused the address (see [`guard`]).
    #[error("refused to fetch {url}: {reason}")]
    Blocked {
        /// The URL requested.
        url: String,
        /// Which address was refused, why, and how to allow it.
        reason: String,
    },
    /// The connection could not be made or broke before an answer arrived.
    #[error("could not fetch {url}: {message}")]
    Connect {
        /// The URL requested.
        url: String,
        /// The underlying error chain.
        message: String,
    },
    /// No complete answer within the configured time.
    #[error("{url} did not answer in time: gave up after {} ([ingest] connect_timeout / timeout); the server may be down or overloaded", humantime::format_duration(*.after))]
    Timeout {
        /// The URL requested.
        url: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// The body is larger than `[ingest] max_response_size`.
    #[error("{url} is larger than the {} limit ([ingest] max_response_size); the response was cut off and discarded", format_size(*.limit))]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// More redirects than `[ingest] max_redirects`.
    #[error("{url} redirected more than {max} times ([ingest] max_redirects); check the URL or raise the limit")]
    TooManyRedirects {
        /// The URL requested.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A non-2xx, non-304 answer.
    #[error("{url} answered HTTP {status}{}", status_detail(*.status, *.retry_after))]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// How long the server asked us to wait (from `Retry-After`, on 429 and 5xx; on a 429
        /// without it, from the `x-rate-limit-reset` or `x-ratelimit-reset` header that X and
        /// Reddit send).
        retry_after: Option<Duration>,
        /// The start of the response body (at most [`ERROR_BODY_LEN`] bytes, as text), for
        /// APIs that explain an error in it. It is the server's text: not in the message.
        detail: Option<String>,
    },
    /// The answer started but its body could not be read or decoded.
    #[error("reading the response from {url} failed: {message}")]
    Body {
        /// The URL requested.
        url: String,
        /// The underlying error chain.
        message: String,
    },
    /// The response's body was refused by the fetcher's [`ResponseGate`] before anyone parsed
    /// it (e.g. it is quarantined: parsing it killed the process before).
    #[error("{url}: {reason}")]
    Refused {
        /// The URL requested.
        url: String,
        /// Why the gate refused it, and what to do (shown in this error's message, so not
        /// also its `source`).
        reason: GateRefusal,
    },
    /// The HTTP client could not be set up (only from [`Fetcher::new`]; no URL involved).
    #[error("cannot set up the HTTP client: {message}")]
    Setup {
        /// The underlying error.
        message: String,
    },
}

impl FetchError {
    /// The URL the failed fetch was for (empty for [`FetchError::Setup`]).
    pub fn url(&self) -> &str {
        match self {
            FetchError::InvalidUrl { url, .. }
            | FetchError::Blocked { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::TooManyRedirects { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::Body { url, .. }
            | FetchError::Refused { url, .. } => url,
            FetchError::Setup { .. } => "",
        }
    }

    /// How long the server asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when trying again later may well succeed (network trouble, timeouts, 408, 425,
    /// 429, 5xx); false when the same request will fail the same way until someone changes
    /// the configuration or the server.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Connect { .. } | FetchError::Timeout { .. } | FetchError::Body { .. } => {
                true
            }
            FetchError::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            FetchError::InvalidUrl { .. }
            | FetchError::Blocked { .. }
            | FetchError::TooLarge { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::Refused { .. }
            | FetchError::Setup { .. } => false,
        }
    }
}

/// "10 MiB", "512 KiB" or "1500 bytes".
fn format_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// The part of a status error after the code: reason phrase, what to do, Retry-After.
fn status_detail(status: u16, retry_after: Option<Duration>) -> String {
    let mut out = String::new();
    if let Some(reason) = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        out.push_str(&format!(" ({reason})"));
    }
    let advice = match status {
        401 | 403 => "; the server refused access: check the URL is public",
        404 => "; check the URL is still right",
        410 => "; the server says it is gone for good: update or remove the source",
        429 => "; the server is rate-limiting us",
        500..=599 => "; the server is having trouble",
        _ => "",
    };
    out.push_str(advice);
    if let Some(wait) = retry_after {
        out.push_str(&format!(
            "; it asked us to wait {} before retrying",
            humantime::format_duration(wait)
        ));
    }
    out
}

/// How much of an error response's body [`FetchError::Status`] keeps.
pub const ERROR_BODY_LEN: usize = 4096;

#[cfg(test)]
mod tests {
    use super::format_size;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_size(10 * 1024 * 1024), "10 MiB");
        assert_eq!(format_size(256 * 1024), "256 KiB");
        assert_eq!(format_size(2 * 1024 * 1024 * 1024), "2 GiB");
        assert_eq!(format_size(1500), "1500 bytes");
        assert_eq!(format_size(0), "0 bytes");
    }
}
