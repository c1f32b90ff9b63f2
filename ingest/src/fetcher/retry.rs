//! Reading a server's "wait before retrying" headers.

use std::time::{Duration, SystemTime};

/// The longest wait a rate-limit reset header is believed for (a day).
const MAX_RESET_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Parses an `x-rate-limit-reset` (X: the Unix time the window resets) or `x-ratelimit-reset`
/// (Reddit: seconds until it does) value: a number of at least 10^9 is read as a Unix time,
/// a smaller one as seconds from `now`. A time in the past means "now" (zero); the wait is
/// capped at a day so a hostile value cannot silence a source. Anything else is `None`.
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let wait = if n >= 1e9 {
        let at = SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(n).ok()?)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        Duration::try_from_secs_f64(n).ok()?
    };
    Some(wait.min(MAX_RESET_WAIT))
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (relative to `now`).
///
/// A date in the past means "now" (zero). Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings overflow u64: treat them as "a very long time".
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
