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
        Ok(Err(message)) => form_page(StatusCode::UNAUTHORIZED, Some(&message), secure),
        Err(e) => e.into_response(),
    }
}

/// The password check; `Ok(Err(message))` for a refused login.
async fn check(
    state: &AppState,
    client: IpAddr,
    form: LoginForm,
) -> Result<Result<String, String>, WebError> {
    let config = state.config.clone();
    state
        .blocking(move |store| {
            let detail = serde_json::json!({ "ip": client.to_string() });
            let refused = "Wrong user name or password.".to_string();
            let Some(login) = store.user_login(form.username.trim())? else {
                auth::verify_password(&form.password, &DUMMY_HASH);
                store.audit(form.username.trim(), "login.unknown_user", &detail)?;
                return Ok(Err(refused));
            };
            if let Some(until) = login.locked_until.filter(|u| *u > chrono::Utc::now()) {
                store.audit(&login.user.name, "login.locked", &detail)?;
                return Ok(Err(format!(
                    "This account is locked after repeated failed logins until {}. Ask an \
                     administrator if you need in sooner.",
                    crate::pages::when(&until)
                )));
            }
            if !auth::verify_password(&form.password, &login.password_hash) {
                let locked = store.record_login_failure(
                    login.user.id,
                    config.login_max_failures,
                    config.login_lockout,
                    &detail,
                )?;
                return Ok(Err(match locked {
                    Some(until) => format!(
                        "Wrong password. The account is now locked until {}.",
                        crate::pages::when(&until)
                    ),
                    None => refused,
                }));
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

    #[tokio::test]
    async fn wrong_passwords_lock_the_account_and_forged_forms_are_refused() {
        let t = test_app();
        let hash = auth::hash_password("a long passphrase").unwrap();
        t.store.create_user("alice", Role::Viewer, &hash).unwrap();
        for _ in 0..2 {
            let (status, _, body) = login(&t, "alice", "wrong").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(body.contains("Wrong user name or password"), "{body}");
        }
        let (_, _, body) = login(&t, "alice", "wrong").await;
        assert!(body.contains("now locked until"), "{body}");
        let (status, _, body) = login(&t, "alice", "a+long+passphrase").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "locked even with the right password"
        );
        assert!(body.contains("locked"), "{body}");
        let (status, _, _) = login(&t, "nobody", "x").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // No form cookie: refused before any password check.
        let req = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("username=alice&password=x&csrf=abc"))
            .unwrap();
        assert_eq!(send(&t.router, req).await.0, StatusCode::FORBIDDEN);

        // The address limit: 10 attempts in the window; 5 used above, 5 left.
        for _ in 0..5 {
            assert_ne!(
                login(&t, "nobody", "x").await.0,
                StatusCode::TOO_MANY_REQUESTS
            );
        }
        assert_eq!(
            login(&t, "nobody", "x").await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_each_client_address_has_its_own_limit() {
        // The test app's requests come from 127.0.0.1, configured as a trusted proxy.
        let t = test_app();
        let from = |xff: &'static str| {
            let t = &t;
            async move { login_via(t, "nobody", "x", Some(xff)).await.0 }
        };
        for _ in 0..10 {
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
        let audit = t.store.audit_entries(50).unwrap();
        assert!(
            audit.iter().any(|e| e.detail["ip"] == "198.51.100.8"),
            "the audit log records the client address, not the proxy's"
        );
    }
}
