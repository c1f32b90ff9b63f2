//! Login and logout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use crate::auth::{self, Auth, LOGIN_COOKIE, SESSION_COOKIE};
use crate::pages::layout;
use crate::{AppState, WebError};

/// How long the login form stays valid.
const LOGIN_FORM_TTL: Duration = Duration::from_secs(1800);

/// What every refused login says, whatever the reason (no such user, wrong password, account
/// locked or disabled): the answer must not tell anyone which user names exist.
pub(crate) const REFUSED: &str = "Wrong user name or password, or the account is locked or \
     disabled. After repeated failed logins an account is locked for a while; ask an \
     administrator if you need in sooner.";

/// A hash checked for unknown user names, so both cases take the time of one argon2id
/// verification and do not reveal which names exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::new_secret()).unwrap_or_default());

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

/// The login page with a fresh form token (also set as a cookie only this site can send).
fn form_page(status: StatusCode, message: Option<&str>, secure: bool) -> Response {
    let token = auth::new_secret();
    let page = layout(
        "Log in",
        None,
        html! {
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                label for="username" { "User name" }
                input id="username" name="username" type="text" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                div { button type="submit" { "Log in" } }
            }
        },
    );
    let cookie = auth::set_cookie(LOGIN_COOKIE, &token, "/login", LOGIN_FORM_TTL, secure);
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

/// `GET /login`.
pub(crate) async fn form(State(state): State<AppState>) -> Response {
    form_page(StatusCode::OK, None, state.config.secure_cookies)
}

/// `POST /login`: checks the form token, the address's rate limit, the account lock and the
/// password; opens a session on success.
pub(crate) async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let secure = state.config.secure_cookies;
    let bound = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if bound.is_empty() || !auth::same(bound, &form.csrf) {
        return form_page(
            StatusCode::FORBIDDEN,
            Some("The login form expired or did not come from this site. Please try again."),
            secure,
        );
    }
    let client = auth::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    if !state.limiter.allow(client) {
        tracing::warn!(ip = %client, "login rate limit reached");
        return form_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many login attempts from your address. Wait a few minutes and try again."),
            secure,
        );
    }
    match check(&state, client, form).await {
        Ok(Ok(token)) => {
            state.limiter.give_back(client);
            let cookie = auth::set_cookie(
                SESSION_COOKIE,
                &token,
                "/",
                state.config.session_ttl,
                secure,
            );
            let clear = auth::set_cookie(LOGIN_COOKIE, "", "/login", Duration::ZERO, secure);
            let mut res = Redirect::to("/").into_response();
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res.headers_mut().append(header::SET_COOKIE, clear);
            res
        }
        Ok(Err(())) => form_page(StatusCode::UNAUTHORIZED, Some(REFUSED), secure),
        Err(e) => e.into_response(),
    }
}

/// The password check: a session token, or `Ok(Err(()))` for a refused login. Every path runs
/// exactly one argon2id verification (of a dummy hash for unknown names, and also for locked
/// and disabled accounts), and every refusal answers the same; only the audit log tells them
/// apart.
async fn check(
    state: &AppState,
    client: IpAddr,
    form: LoginForm,
) -> Result<Result<String, ()>, WebError> {
    let config = state.config.clone();
    state
        .blocking(move |store| {
            let detail = serde_json::json!({ "ip": client.to_string() });
            let name = form.username.trim();
            let login = store.user_login(name)?;
            let hash = login
                .as_ref()
                .map_or(DUMMY_HASH.as_str(), |l| l.password_hash.as_str());
            let password_ok = auth::verify_password(&form.password, hash);
            let Some(login) = login else {
                store.audit(name, "login.unknown_user", &detail)?;
                return Ok(Err(()));
            };
            let locked = login.locked_until.is_some_and(|u| u > chrono::Utc::now());
            if !password_ok || locked {
                // Counted (unless locked, which the store audits as `login.locked`).
                store.record_login_failure(login.user.id, &config.login, &detail)?;
                return Ok(Err(()));
            }
            if login.disabled {
                store.audit(&login.user.name, "login.disabled", &detail)?;
                return Ok(Err(()));
            }
            let token = auth::new_secret();
            store.create_session(
                &login.user,
                &auth::token_hash(&token),
                &auth::new_secret(),
                config.session_ttl,
                &detail,
            )?;
            Ok(Ok(token))
        })
        .await
}

/// The logout form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, WebError> {
    auth.check_csrf(&form.csrf)?;
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE).map(auth::token_hash) {
        state.blocking(move |s| Ok(s.end_session(&token)?)).await?;
    }
    let clear = auth::set_cookie(
        SESSION_COOKIE,
        "",
        "/",
        Duration::ZERO,
        state.config.secure_cookies,
    );
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use axum::body::Body;
    use axum::http::Request;
    use ballotwatch_store::Role;

    /// GET /login, then POST the form; returns (status, headers, body).
    async fn login(t: &TestApp, user: &str, pass: &str) -> (StatusCode, HeaderMap, String) {
        login_via(t, user, pass, None).await
    }

    /// [`login`] through the (trusted) proxy, which says the client is `forwarded_for`.
    async fn login_via(
        t: &TestApp,
        user: &str,
        pass: &str,
        forwarded_for: Option<&str>,
    ) -> (StatusCode, HeaderMap, String) {
        let (_, h, body) = send(
            &t.router,
            Request::get("/login").body(Body::empty()).unwrap(),
        )
        .await;
        let cookie = h["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let token = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut req = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie);
        if let Some(xff) = forwarded_for {
            req = req.header("x-forwarded-for", xff);
        }
        let req = req
            .body(Body::from(format!(
                "username={user}&password={pass}&csrf={token}"
            )))
            .unwrap();
        send(&t.router, req).await
    }

    #[tokio::test]
    async fn a_user_logs_in_gets_a_strict_cookie_and_reaches_the_dashboard() {
        let t = test_app();
        let hash = auth::hash_password("a long passphrase").unwrap();
        t.store.create_user("alice", Role::Analyst, &hash).unwrap();
        let (status, h, _) = login(&t, "alice", "a+long+passphrase").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = h
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("bw_session="))
            .unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Secure"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let session = cookie.split(';').next().unwrap().to_string();
        let (status, _, body) = send(
            &t.router,
            Request::get("/")
                .header("cookie", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("alice (analyst)"), "{body}");
        assert_eq!(t.store.audit_entries(1).unwrap()[0].action, "login");

        // Logging out needs the form token, then ends the session.
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let post = |body: String| {
            Request::post("/logout")
                .header("cookie", &session)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap()
        };
        let (status, _, _) = send(&t.router, post("csrf=forged".into())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = send(&t.router, post(format!("csrf={csrf}"))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, h, _) = send(
            &t.router,
            Request::get("/")
                .header("cookie", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, h["location"].to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/login")
        );
    }

    /// A page with its one-time form token blanked, so two answers can be compared.
    fn without_token(body: &str) -> String {
        body.split("name=\"csrf\" value=\"")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    part.split_once('"')
                        .map_or(String::new(), |(_, rest)| rest.to_string())
                }
            })
            .collect::<Vec<_>>()
            .join("TOKEN")
    }

    #[tokio::test]
    async fn refused_logins_answer_the_same_for_unknown_and_known_users() {
        // The test app: 3 failures lock, 2 attempts per address; each attempt below comes
        // from its own address (through the trusted proxy) so the address limit stays out of
        // the way.
        let t = test_app();
        let hash = auth::hash_password("a long passphrase").unwrap();
        t.store.create_user("alice", Role::Viewer, &hash).unwrap();
        t.store.create_user("bob", Role::Viewer, &hash).unwrap();
        t.store.disable_user("bob", "cli").unwrap();
        let mut n = 0;
        let mut attempt = |user: &'static str, pass: &'static str| {
            n += 1;
            let ip = format!("198.51.100.{n}");
            let t = &t;
            async move {
                let (status, _, body) = login_via(t, user, pass, Some(&ip)).await;
                (status, without_token(&body))
            }
        };
        let unknown = attempt("nobody", "wrong").await;
        assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
        assert!(
            unknown.1.contains("Wrong user name or password"),
            "{}",
            unknown.1
        );
        // Wrong passwords up to and past the lock, the right password while locked, and the
        // right password of a disabled account: all answer exactly as an unknown name does.
        for (what, user, pass) in [
            ("first failure", "alice", "wrong"),
            ("second failure", "alice", "wrong"),
            ("the failure that locks", "alice", "wrong"),
            (
                "the right password while locked",
                "alice",
                "a+long+passphrase",
            ),
            ("unknown again", "nobody", "a+long+passphrase"),
            ("disabled", "bob", "a+long+passphrase"),
        ] {
            assert_eq!(attempt(user, pass).await, unknown, "{what}");
        }
        assert!(t
            .store
            .user_login("alice")
            .unwrap()
            .unwrap()
            .locked_until
            .is_some());
        let actions: Vec<String> = t
            .store
            .audit_entries(3)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            ["login.disabled", "login.unknown_user", "login.locked"],
            "only the audit log tells them apart"
        );
    }

    #[tokio::test]
    async fn refused_logins_take_about_as_long_for_unknown_and_locked_accounts() {
        // Each case timed three times (median), each attempt from its own address. Before the
        // fix a locked account was refused without the password hash: far quicker than an
        // unknown name, which runs one.
        let t = test_app();
        let hash = auth::hash_password("a long passphrase").unwrap();
        t.store.create_user("alice", Role::Viewer, &hash).unwrap();
        let mut n = 0;
        let mut next_ip = || {
            n += 1;
            format!("192.0.2.{n}")
        };
        for _ in 0..3 {
            login_via(&t, "alice", "wrong", Some(&next_ip())).await;
        }
        assert!(t
            .store
            .user_login("alice")
            .unwrap()
            .unwrap()
            .locked_until
            .is_some());
        let mut median = |user: &'static str, pass: &'static str| {
            let ips: Vec<String> = (0..3).map(|_| next_ip()).collect();
            let t = &t;
            async move {
                let mut times = Vec::new();
                for ip in &ips {
                    let start = std::time::Instant::now();
                    let (status, _, _) = login_via(t, user, pass, Some(ip)).await;
                    times.push(start.elapsed());
                    assert_eq!(status, StatusCode::UNAUTHORIZED);
                }
                times.sort();
                times[1].as_secs_f64()
            }
        };
        let unknown = median("nobody", "wrong").await;
        let locked = median("alice", "a+long+passphrase").await;
        eprintln!(
            "refused login, median of 3: unknown name {:.1} ms, locked account {:.1} ms \
             (ratio {:.2})",
            unknown * 1e3,
            locked * 1e3,
            locked / unknown
        );
        assert!(
            (0.33..3.0).contains(&(locked / unknown)),
            "unknown {unknown} s vs locked {locked} s"
        );
    }

    #[tokio::test]
    async fn one_address_cannot_lock_an_account_but_many_can() {
        let t = test_app();
        let hash = auth::hash_password("a long passphrase").unwrap();
        t.store.create_user("admin", Role::Admin, &hash).unwrap();
        // One address guesses as fast as it is let: refused by the address limit before the
        // account's lockout is reached.
        let mut refused = 0;
        for _ in 0..10 {
            match login_via(&t, "admin", "guess", Some("203.0.113.5")).await.0 {
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                s => assert_eq!(s, StatusCode::UNAUTHORIZED),
            }
        }
        assert_eq!(refused, 8, "2 attempts per address in the window");
        assert!(t
            .store
            .user_login("admin")
            .unwrap()
            .unwrap()
            .locked_until
            .is_none());
        let (status, _, body) =
            login_via(&t, "admin", "a+long+passphrase", Some("192.0.2.10")).await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "the admin still gets in: {body}"
        );

        // Guessing spread over many addresses still locks it.
        for ip in ["192.0.2.20", "192.0.2.21", "192.0.2.22"] {
            login_via(&t, "admin", "guess", Some(ip)).await;
        }
        assert!(t
            .store
            .user_login("admin")
            .unwrap()
            .unwrap()
            .locked_until
            .is_some());
        // Forms without their cookie are refused before any password check.
        let req = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("username=admin&password=x&csrf=abc"))
            .unwrap();
        assert_eq!(send(&t.router, req).await.0, StatusCode::FORBIDDEN);
    }

    #[test]
    fn over_two_days_one_address_as_fast_as_allowed_never_locks_an_account() {
        // The defaults: 5 failures in 15 minutes lock (15 minutes, doubling); one address may
        // try 4 times in 15 minutes. The address tries every second it is let.
        let config = crate::WebConfig::from_server(&Default::default());
        let limiter =
            auth::LoginLimiter::new(config.login_attempts_per_address, config.login.window);
        let dir = tempfile::tempdir().unwrap();
        let store = ballotwatch_store::Store::open(dir.path()).unwrap();
        let user = store.create_user("admin", Role::Admin, "h").unwrap();
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let (t0, w0) = (std::time::Instant::now(), chrono::Utc::now());
        let detail = serde_json::json!({});
        let mut tried = 0;
        for s in 0..(2 * 24 * 3600u64) {
            let step = Duration::from_secs(s);
            // Each attempt from another address of the same /64.
            let from: IpAddr = format!("2001:db8::{:x}", s % 0xffff).parse().unwrap();
            if !limiter.allow_at(if s % 2 == 0 { ip } else { from }, t0 + step) {
                continue;
            }
            tried += 1;
            let now = w0 + chrono::Duration::from_std(step).unwrap();
            let locked = store
                .record_login_failure_at(user.id, &config.login, &detail, now)
                .unwrap();
            assert_eq!(locked, None, "locked after {tried} attempts at {s} s");
        }
        assert_eq!(tried, 4 * 2 * 24 * 4, "4 per 15 minutes for two days");
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_each_client_address_has_its_own_limit() {
        // The test app's requests come from 127.0.0.1, configured as a trusted proxy.
        let t = test_app();
        let from = |xff: &'static str| {
            let t = &t;
            async move { login_via(t, "nobody", "x", Some(xff)).await.0 }
        };
        for _ in 0..2 {
            assert_eq!(from("198.51.100.7").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(from("198.51.100.7").await, StatusCode::TOO_MANY_REQUESTS);
        // Another client behind the same proxy is not held back; a forged entry to the left
        // of the proxy's does not escape the limit.
        assert_eq!(from("198.51.100.8").await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            from("203.0.113.1, 198.51.100.7").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // IPv6 clients are counted per /64.
        assert_eq!(from("2001:db8:5:6::1").await, StatusCode::UNAUTHORIZED);
        assert_eq!(from("2001:db8:5:6::2").await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            from("2001:db8:5:6:ffff::3").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(from("2001:db8:5:7::1").await, StatusCode::UNAUTHORIZED);
        let audit = t.store.audit_entries(50).unwrap();
        assert!(
            audit.iter().any(|e| e.detail["ip"] == "198.51.100.8"),
            "the audit log records the client address, not the proxy's"
        );
    }
}
