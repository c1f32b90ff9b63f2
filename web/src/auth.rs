//! Passwords, sessions, API tokens, CSRF tokens, the login rate limit and role checks.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use ballotwatch_store::{Role, TokenCheck, User};
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::{AppState, WebError};

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "bw_session";
/// Name of the cookie that binds the login form's CSRF token to the browser.
pub(crate) const LOGIN_COOKIE: &str = "bw_login";
/// How often the limiter forgets addresses whose attempts have all left the window.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) and a random salt,
/// as a PHC string.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| WebError::Internal(format!("cannot encode a password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Internal(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Shortest password accepted when one is typed (CLI and web UI).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a typed password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Under [`MIN_PASSWORD_CHARS`].
    #[error(
        "the password is shorter than {MIN_PASSWORD_CHARS} characters; use a longer one, or \
         give none to have one generated"
    )]
    TooShort,
}

/// The password to set: `typed` when it is given (and long enough), else a generated one.
/// Returns it and whether it was generated (to be shown once).
pub fn choose_password(typed: &str) -> Result<(String, bool), PasswordError> {
    if typed.is_empty() {
        return Ok((new_secret()[..24].to_string(), true));
    }
    if typed.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok((typed.to_string(), false))
}

/// A new random secret (256 bits, hex): session tokens, API tokens, CSRF tokens.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// The SHA-256 (hex) a session or API token is stored as.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Who is making a request, and the CSRF token their forms must carry (pages only).
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub(crate) user: User,
    pub(crate) csrf: String,
    /// This is `ballotwatch demo` (pages show the demo banner and the Demo mail page).
    pub(crate) demo: bool,
}

impl Auth {
    /// Refuses unless the user has at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), WebError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!(
                "this needs the {role} role; `{}` is a {}",
                self.user.name, self.user.role
            )))
        }
    }

    /// Refuses a form that does not carry this session's CSRF token.
    pub(crate) fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if !self.csrf.is_empty() && same(&self.csrf, sent) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

/// The value of cookie `name`, if the request sent it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure when configured.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Duration,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Pages: lets requests with a live session through (with [`Auth`] attached); sends the rest
/// to the login page.
pub(crate) async fn require_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(token_hash) else {
        return Redirect::to("/login").into_response();
    };
    match state.blocking(move |s| Ok(s.session(&token)?)).await {
        Ok(Some(session)) => {
            req.extensions_mut().insert(Auth {
                user: session.user,
                csrf: session.csrf,
                demo: state.config.demo.is_some(),
            });
            next.run(req).await
        }
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => e.into_response(),
    }
}

/// API: lets requests with a valid `Authorization: Bearer` token through; refuses the rest
/// with 401. API requests need no CSRF token: browsers never send bearer tokens by themselves.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| token_hash(t.trim()));
    let check = match token {
        Some(hash) => state.blocking(move |s| Ok(s.check_api_token(&hash)?)).await,
        None => Ok(TokenCheck::Unknown),
    };
    let refuse = |message: String| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"ballotwatch\"")],
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    };
    match check {
        Ok(TokenCheck::Valid(user)) => {
            req.extensions_mut().insert(Auth {
                user,
                csrf: String::new(),
                demo: state.config.demo.is_some(),
            });
            next.run(req).await
        }
        Ok(TokenCheck::Expired {
            id,
            label,
            expired_at,
        }) => refuse(format!(
            "this API token (id {id}, `{label}`) expired at {}: create a new one with \
             `ballotwatch user token NAME --expires 90d`",
            crate::pages::when(&expired_at)
        )),
        Ok(TokenCheck::Unknown) => refuse(
            "an API token is required: send `Authorization: Bearer TOKEN` (create one with \
             `ballotwatch user token NAME`); a revoked token, or one whose account was disabled, \
             deleted or given a new password, no longer works"
                .into(),
        ),
        Err(e) => crate::api::ApiError(e).into_response(),
    }
}

/// The client's address: the connecting peer, unless the peer is one of `trusted` reverse
/// proxies, in which case the `X-Forwarded-For` entries are read from the right (the nearest
/// hop first) and the first one that is not itself a trusted proxy is the client. Entries a
/// trusted proxy did not write cannot be told from the client's own claims, so nothing left of
/// the first untrusted entry is believed; an entry that is not an address stops the walk at
/// the last trusted hop (a misconfigured proxy, counted as one client).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The key the login limit counts an address under: an IPv4 address (also when it arrives
/// as an IPv4-mapped IPv6 address) by itself, an IPv6 address by its /64 network, since one
/// subscriber or host usually has a whole /64 to choose addresses from.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// Per-address login attempt limit: at most `attempts` login attempts per address (IPv6: per
/// /64) within `window`, a successful login giving its attempt back. In memory: it protects
/// against guessing at speed and, being stricter than the per-account lockout, keeps one
/// address from locking an account (see `docs/security.md`, "Logins and accounts"); the
/// lockout in the store holds across restarts.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    attempts: usize,
    window: Duration,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    by_key: HashMap<IpAddr, VecDeque<Instant>>,
    pruned: Option<Instant>,
}

impl LoginLimiter {
    /// `attempts` per address within `window`.
    pub(crate) fn new(attempts: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            attempts: usize::try_from(attempts).unwrap_or(usize::MAX).max(1),
            window,
            state: Mutex::new(LimiterState::default()),
        }
    }

    /// Takes an attempt for `ip`; `false` when its address is over the limit (nothing taken).
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    /// Gives back the attempt a successful login from `ip` took.
    pub(crate) fn give_back(&self, ip: IpAddr) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(q) = st.by_key.get_mut(&limit_key(ip)) {
            q.pop_back();
        }
    }

    pub(crate) fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let window = self.window;
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget idle addresses at most once a second, so a flood from many addresses costs
        // a map walk per second, not per attempt.
        if st
            .pruned
            .is_none_or(|t| now.saturating_duration_since(t) >= PRUNE_EVERY)
        {
            st.by_key.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
            st.pruned = Some(now);
        }
        let q = st.by_key.entry(limit_key(ip)).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            q.pop_front();
        }
        if q.len() >= self.attempts {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_secret());
        assert_eq!(token_hash("abc").len(), 64);
        assert_ne!(token_hash("abc"), "abc");
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn cookies_are_read_and_written_safely() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bw_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie("bw_session", "v", "/", Duration::from_secs(60), true);
        let c = c.to_str().unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=60"] {
            assert!(c.contains(part), "{c}");
        }
        let c = set_cookie("bw_session", "v", "/", Duration::from_secs(60), false);
        assert!(!c.to_str().unwrap().contains("Secure"));
    }

    const WINDOW: Duration = Duration::from_secs(900);

    #[test]
    fn the_limiter_allows_a_burst_then_refuses_until_the_window_passes() {
        let l = LoginLimiter::new(4, WINDOW);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(l.allow_at(ip, t0));
        }
        assert!(!l.allow_at(ip, t0 + Duration::from_secs(1)));
        assert!(l.allow_at(other, t0 + Duration::from_secs(1)));
        assert!(l.allow_at(ip, t0 + WINDOW));
        // A successful login gives its attempt back.
        let l = LoginLimiter::new(1, WINDOW);
        assert!(l.allow_at(ip, t0));
        l.give_back(ip);
        assert!(l.allow_at(ip, t0));
        assert!(!l.allow_at(ip, t0));
    }

    #[test]
    fn ipv6_addresses_are_limited_per_64() {
        let l = LoginLimiter::new(2, WINDOW);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let t0 = Instant::now();
        assert!(l.allow_at(ip("2001:db8:1:2::1"), t0));
        assert!(l.allow_at(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"), t0));
        // Another address of the same /64 shares its limit...
        assert!(!l.allow_at(ip("2001:db8:1:2:abcd::9"), t0));
        // ...the next /64 has its own.
        assert!(l.allow_at(ip("2001:db8:1:3::1"), t0));
        assert_eq!(limit_key(ip("2001:db8:1:2:abcd::9")), ip("2001:db8:1:2::"));
        // IPv4, and IPv4 arriving as an IPv4-mapped IPv6 address, are one key.
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn the_client_address_is_believed_only_from_trusted_proxies() {
        let nets: Vec<ipnet::IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/24".parse().unwrap(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = |v: &[&str]| {
            let mut h = HeaderMap::new();
            for x in v {
                h.append("x-forwarded-for", HeaderValue::from_str(x).unwrap());
            }
            h
        };
        // An untrusted peer's header is ignored.
        let h = xff(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &nets), ip("203.0.113.9"));
        // No proxies configured: ignored too.
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        // Through the local proxy.
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &nets), ip("198.51.100.7"));
        // A client's forged entry to the left of what the proxies wrote is not believed.
        let h = xff(&["1.2.3.4, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &nets), ip("198.51.100.7"));
        // Ports and IPv6.
        let h = xff(&["[2001:db8::1]:5000"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &nets), ip("2001:db8::1"));
        let h = xff(&["192.0.2.1:443"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &nets), ip("192.0.2.1"));
        // Garbage stops at the last trusted hop; no header: the proxy itself.
        let h = xff(&["unknown, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &nets), ip("10.0.0.5"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &nets),
            ip("127.0.0.1")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_forwarded_header_yields_the_peer_or_an_address_in_it(v in "[ -~]{0,80}") {
            let nets: Vec<ipnet::IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
            let peer: IpAddr = "127.0.0.1".parse().unwrap();
            let mut h = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&v) {
                h.insert("x-forwarded-for", value);
            }
            let got = client_ip(peer, &h, &nets);
            proptest::prop_assert!(
                got == peer || v.split(',').any(|hop| parse_hop(hop.trim()) == Some(got))
            );
        }
    }

    #[test]
    fn roles_are_ordered_for_checks() {
        let auth = |role| Auth {
            user: User {
                id: 1,
                name: "u".into(),
                role,
            },
            csrf: "t".into(),
            demo: false,
        };
        assert!(auth(Role::Viewer).require(Role::Analyst).is_err());
        assert!(auth(Role::Analyst).require(Role::Analyst).is_ok());
        assert!(auth(Role::Admin).require(Role::Analyst).is_ok());
        assert!(auth(Role::Analyst).require(Role::Admin).is_err());
        assert!(auth(Role::Viewer).check_csrf("t").is_ok());
        assert!(auth(Role::Viewer).check_csrf("u").is_err());
        let mut api = auth(Role::Admin);
        api.csrf.clear();
        assert!(
            api.check_csrf("").is_err(),
            "API identities have no form token"
        );
    }
}
