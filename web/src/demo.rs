//! What only `ballotwatch demo` serves: the **Demo mail** page (the alert emails the demo's
//! built-in SMTP catcher received, since the demo sends no real mail) and a **one-time login
//! link** printed at start-up. `serve` never has these: they exist only when
//! [`WebConfig::demo`](crate::WebConfig::demo) is set, which only the demo does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Serialize;
use std::net::SocketAddr;

use crate::auth::{self, Auth, SESSION_COOKIE};
use crate::pages::{layout, when};
use crate::{AppState, WebError};

/// One message the demo's SMTP catcher received.
#[derive(Debug, Clone, Serialize)]
pub struct CapturedMail {
    /// When the catcher received it.
    pub received_at: DateTime<Utc>,
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The `Subject:` header, decoded.
    pub subject: String,
    /// The `Message-ID:` header.
    pub message_id: String,
    /// The plain-text body.
    pub text: String,
}

/// The messages the demo's SMTP catcher received, newest last; shared between the catcher and
/// the web server.
#[derive(Debug, Clone, Default)]
pub struct DemoMailbox {
    messages: Arc<Mutex<Vec<CapturedMail>>>,
}

impl DemoMailbox {
    /// Adds a received message.
    pub fn push(&self, mail: CapturedMail) {
        if let Ok(mut m) = self.messages.lock() {
            m.push(mail);
        }
    }

    /// Every message received so far, oldest first.
    pub fn list(&self) -> Vec<CapturedMail> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The demo's web extras.
#[derive(Debug)]
pub struct DemoSettings {
    /// Where the demo's SMTP catcher puts what it receives.
    pub mailbox: DemoMailbox,
    /// The account the one-time login link logs in as.
    pub login_user: String,
    /// SHA-256 of the one-time login token ([`crate::token_hash`]).
    login_token_hash: String,
    used: AtomicBool,
}

impl DemoSettings {
    /// Demo extras whose one-time link (`/login/once/TOKEN`) logs in as `login_user`; the token
    /// is kept only as its hash and works once.
    pub fn new(mailbox: DemoMailbox, login_user: &str, login_token: &str) -> DemoSettings {
        DemoSettings {
            mailbox,
            login_user: login_user.to_string(),
            login_token_hash: auth::token_hash(login_token),
            used: AtomicBool::new(false),
        }
    }
}

/// `GET /login/once/{token}`: the demo's one-time login link. Opens a session for the demo
/// account and goes to the dashboard; a used or wrong link goes to the login form.
pub(crate) async fn one_time_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some(demo) = state.config.demo.clone() else {
        return Err(WebError::NotFound("no such page".into()));
    };
    let matches = auth::same(&auth::token_hash(&token), &demo.login_token_hash);
    if !matches || demo.used.swap(true, Ordering::SeqCst) {
        let ip = auth::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
        tracing::warn!(%ip, "a wrong or already used one-time login link");
        return Ok(Redirect::to("/login").into_response());
    }
    let config = state.config.clone();
    let name = demo.login_user.clone();
    let session = auth::new_secret();
    let hash = auth::token_hash(&session);
    state
        .blocking(move |store| {
            let login = store.user_login(&name)?.ok_or_else(|| {
                WebError::Internal(format!("the demo account `{name}` is missing"))
            })?;
            let detail = serde_json::json!({ "ip": peer.ip().to_string(), "via": "one-time link" });
            store.create_session(
                &login.user,
                &hash,
                &auth::new_secret(),
                config.session_ttl,
                &detail,
            )?;
            Ok(())
        })
        .await?;
    let cookie = auth::set_cookie(
        SESSION_COOKIE,
        &session,
        "/",
        state.config.session_ttl,
        state.config.secure_cookies,
    );
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

fn mailbox(state: &AppState) -> Result<&DemoMailbox, WebError> {
    state
        .config
        .demo
        .as_ref()
        .map(|d| &d.mailbox)
        .ok_or_else(|| WebError::NotFound("no such page".into()))
}

/// `GET /demo/mail`: the alert emails the demo sent, newest first.
pub(crate) async fn mail_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    let mut mails = mailbox(&state)?.list();
    mails.reverse();
    Ok(layout(
        "Demo mail",
        Some(&auth),
        html! {
            p.notice {
                strong { "Demo only. " }
                "These are the alert emails Ballotwatch sent during this demo. They went to a mail "
                "catcher built into the demo, not to anyone's inbox. `ballotwatch serve` has no such "
                "page: it sends through your [alerts.smtp] server."
            }
            p { (mails.len()) " message(s) received." }
            @for m in &mails {
                article.mail {
                    h2 { (m.subject) }
                    dl {
                        dt { "Received" } dd { (when(&m.received_at)) }
                        dt { "From" } dd { (m.from) }
                        dt { "To" } dd { (m.to.join(", ")) }
                        dt { "Message-ID" } dd { code { (m.message_id) } }
                    }
                    pre { (m.text) }
                }
            }
        },
    ))
}

/// `GET /demo/mail.json`: the same messages as JSON, oldest first (what the demo's
/// end-to-end test reads).
pub(crate) async fn mail_json(State(state): State<AppState>) -> Result<Response, WebError> {
    Ok(Json(mailbox(&state)?.list()).into_response())
}
