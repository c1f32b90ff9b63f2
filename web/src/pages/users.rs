//! The users page (admins): every account with its state and API tokens, and the forms that
//! disable, enable, delete an account, set its password and revoke a token. Each action is a
//! plain form carrying the session's CSRF token, and each is in the audit log with who did it.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use ballotwatch_store::Role;
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{self, Auth};
use crate::pages::{layout, when, when_opt};
use crate::{AppState, WebError};

/// `GET /users`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Markup, WebError> {
    auth.require(Role::Admin)?;
    let (accounts, tokens) = state
        .blocking(|s| Ok((s.accounts()?, s.api_tokens(None)?)))
        .await?;
    let now = chrono::Utc::now();
    let csrf = auth.csrf.clone();
    let hidden = |name: &str| {
        html! {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="name" value=(name);
        }
    };
    Ok(layout(
        "Users",
        Some(&auth),
        html! {
            p.muted {
                "Disabling, deleting or setting a new password ends every session and API token \
                 of the account at once. Deleted accounts stay named in the audit log, and their \
                 names cannot be reused."
            }
            table {
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "State" }
                    th scope="col" { "API tokens" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for a in &accounts {
                        @let name = a.user.name.as_str();
                        tr {
                            td { (name) }
                            td { (a.user.role) }
                            td {
                                @if let Some(d) = &a.disabled_at { "disabled since " (when(d)) }
                                @else if let Some(l) = &a.locked_until { "locked until " (when(l)) }
                                @else { "active" }
                            }
                            td { (a.live_tokens) }
                            td {
                                @if a.disabled_at.is_some() || a.locked_until.is_some() {
                                    form method="post" action="/users/enable" {
                                        (hidden(name))
                                        button type="submit" { "Enable " (name) }
                                    }
                                }
                                @if a.disabled_at.is_none() {
                                    form method="post" action="/users/disable" {
                                        (hidden(name))
                                        button type="submit" { "Disable " (name) }
                                    }
                                }
                                form method="post" action="/users/password" {
                                    (hidden(name))
                                    label for=(format!("pw-{}", a.user.id)) { "New password (empty: generate one)" }
                                    input id=(format!("pw-{}", a.user.id)) name="password" type="password" autocomplete="new-password";
                                    button type="submit" { "Set password of " (name) }
                                }
                                form method="post" action="/users/delete" {
                                    (hidden(name))
                                    label {
                                        input type="checkbox" name="confirm" value="yes" required;
                                        " I mean to delete " (name)
                                    }
                                    button type="submit" { "Delete " (name) }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "API tokens" }
            @if tokens.is_empty() {
                p.muted { "No API tokens. Create one with " code { "ballotwatch user token NAME" } "." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "User" } th scope="col" { "Label" }
                        th scope="col" { "Created" } th scope="col" { "Last used" }
                        th scope="col" { "Expires" } th scope="col" { "Action" }
                    } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.id) } td { (t.user) } td { (t.label) }
                                td { (when(&t.created_at)) } td { (when_opt(t.last_used_at.as_ref())) }
                                td {
                                    @match &t.expires_at {
                                        Some(e) if t.expired_at(now) => { "expired " (when(e)) }
                                        Some(e) => { (when(e)) }
                                        None => { "never" }
                                    }
                                }
                                td {
                                    form method="post" action="/tokens/revoke" {
                                        input type="hidden" name="csrf" value=(auth.csrf);
                                        input type="hidden" name="id" value=(t.id);
                                        button type="submit" { "Revoke token " (t.id) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The fields of the account forms.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountForm {
    csrf: String,
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Checks the form token and the admin role; refuses `what` on the admin's own account (they
/// would lock themselves out: another admin or the command line does it).
fn admin_action(auth: &Auth, form: &AccountForm, what: &str) -> Result<(), WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Admin)?;
    if form.name == auth.user.name {
        return Err(WebError::BadRequest(format!(
            "you cannot {what} your own account here: ask another admin, or use `ballotwatch \
             user {what} {}` on the server",
            form.name
        )));
    }
    Ok(())
}

/// `POST /users/disable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<AccountForm>,
) -> Result<Redirect, WebError> {
    admin_action(&auth, &form, "disable")?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.disable_user(&form.name, &actor)?))
        .await?;
    Ok(Redirect::to("/users"))
}

/// `POST /users/enable` (also lifts a lockout).
pub(crate) async fn enable(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<AccountForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Admin)?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.enable_user(&form.name, &actor)?))
        .await?;
    Ok(Redirect::to("/users"))
}

/// `POST /users/delete` (needs the confirmation box ticked).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<AccountForm>,
) -> Result<Redirect, WebError> {
    admin_action(&auth, &form, "delete")?;
    if form.confirm != "yes" {
        return Err(WebError::BadRequest(format!(
            "tick the box to confirm that you mean to delete `{}`",
            form.name
        )));
    }
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.delete_user(&form.name, &actor)?))
        .await?;
    Ok(Redirect::to("/users"))
}

/// `POST /users/password`: the typed password (12 characters or more), or with none a
/// generated one shown once on the answer page.
pub(crate) async fn set_password(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Admin)?;
    let (password, generated) = auth::choose_password(&form.password)
        .map_err(|e| WebError::BadRequest(format!("`password`: {e}")))?;
    let hash = auth::hash_password(&password)?;
    let actor = auth.user.name.clone();
    let name = form.name.clone();
    let ended = state
        .blocking(move |s| Ok(s.set_password(&name, &hash, &actor)?))
        .await?;
    Ok(layout(
        "Password changed",
        Some(&auth),
        html! {
            p role="status" {
                "The password of " strong { (form.name) } " is changed; "
                (ended.sessions) " sessions and " (ended.tokens) " API tokens of the account ended."
            }
            @if generated {
                p { "New password (shown once: pass it on safely now): " code.password { (password) } }
            }
            p { a href="/users" { "Back to the users" } }
        },
    )
    .into_response())
}

/// The token form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    csrf: String,
    id: String,
}

/// `POST /tokens/revoke`.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<TokenForm>,
) -> Result<Redirect, WebError> {
    auth.check_csrf(&form.csrf)?;
    auth.require(Role::Admin)?;
    let id: i64 = form
        .id
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("`id`: `{}` is not a token id", form.id)))?;
    let actor = auth.user.name.clone();
    state
        .blocking(move |s| Ok(s.revoke_api_token(id, &actor)?))
        .await?;
    Ok(Redirect::to("/users"))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use axum::http::StatusCode;
    use ballotwatch_store::{Role, TokenCheck};

    #[tokio::test]
    async fn admins_manage_accounts_with_form_tokens_and_everything_is_audited() {
        let t = test_app();
        let (admin, csrf) = session(&t, "root", Role::Admin);
        let (alice, alice_csrf) = session(&t, "alice", Role::Analyst);
        let alice_user = t.store.user_login("alice").unwrap().unwrap().user;
        let tok = t
            .store
            .create_api_token(&alice_user, "alice-tok", "nightly", None, "cli")
            .unwrap();

        // The page lists accounts and tokens; only admins see it.
        let (status, _, body) = send(&t.router, get_with(&admin, "/users")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for s in [
            "alice",
            "analyst",
            "nightly",
            "Revoke token",
            "/users/disable",
        ] {
            assert!(body.contains(s), "{s} missing: {body}");
        }
        assert!(body.contains("href=\"/users\""), "admins get the nav link");
        let (status, _, _) = send(&t.router, get_with(&alice, "/users")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = send(
            &t.router,
            post_form(
                &alice,
                "/users/disable",
                format!("csrf={alice_csrf}&name=root"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "analysts cannot");

        // A forged form is refused and changes nothing.
        let (status, _, _) = send(
            &t.router,
            post_form(&admin, "/users/disable", "csrf=forged&name=alice".into()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!t.store.user_login("alice").unwrap().unwrap().disabled);

        // Disable: alice's session and token end at once.
        let (status, h, body) = send(
            &t.router,
            post_form(&admin, "/users/disable", format!("csrf={csrf}&name=alice")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(h["location"], "/users");
        let (status, h, _) = send(&t.router, get_with(&alice, "/")).await;
        assert_eq!(
            (status, h["location"].to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/login")
        );
        assert_eq!(
            t.store
                .check_api_token(&crate::auth::token_hash("alice-tok"))
                .unwrap(),
            TokenCheck::Unknown
        );
        let _ = tok;
        let (_, _, body) = send(&t.router, get_with(&admin, "/users")).await;
        assert!(body.contains("disabled since"), "{body}");

        // Enable, then set a generated password, shown once.
        let (status, _, _) = send(
            &t.router,
            post_form(&admin, "/users/enable", format!("csrf={csrf}&name=alice")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _, body) = send(
            &t.router,
            post_form(
                &admin,
                "/users/password",
                format!("csrf={csrf}&name=alice&password="),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let shown = body
            .split("<code class=\"password\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap();
        let hash = t.store.user_login("alice").unwrap().unwrap().password_hash;
        assert!(crate::auth::verify_password(shown, &hash));
        let (status, _, body) = send(
            &t.router,
            post_form(
                &admin,
                "/users/password",
                format!("csrf={csrf}&name=alice&password=short"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Tokens are revoked by id.
        let again = t
            .store
            .create_api_token(&alice_user, "alice-2", "weekly", None, "cli")
            .unwrap();
        let (status, _, _) = send(
            &t.router,
            post_form(&admin, "/tokens/revoke", format!("csrf={csrf}&id={again}")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            t.store
                .check_api_token(&crate::auth::token_hash("alice-2"))
                .unwrap(),
            TokenCheck::Unknown
        );
        let (status, _, _) = send(
            &t.router,
            post_form(&admin, "/tokens/revoke", format!("csrf={csrf}&id={again}")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "already revoked");

        // Delete needs the confirmation, and an admin cannot delete themselves here.
        let (status, _, _) = send(
            &t.router,
            post_form(&admin, "/users/delete", format!("csrf={csrf}&name=alice")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, body) = send(
            &t.router,
            post_form(
                &admin,
                "/users/delete",
                format!("csrf={csrf}&name=root&confirm=yes"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("your own account"), "{body}");
        let (status, _, _) = send(
            &t.router,
            post_form(
                &admin,
                "/users/delete",
                format!("csrf={csrf}&name=alice&confirm=yes"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(t.store.user_login("alice").unwrap().is_none());

        let audit: Vec<(String, String)> = t
            .store
            .audit_entries(20)
            .unwrap()
            .into_iter()
            .filter(|e| e.actor == "root" && e.action != "login")
            .map(|e| {
                (
                    e.action,
                    e.detail["user"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let audit: Vec<(&str, &str)> = audit
            .iter()
            .map(|(a, u)| (a.as_str(), u.as_str()))
            .collect();
        assert_eq!(
            audit,
            [
                ("user.delete", "alice"),
                ("token.revoke", "alice"),
                ("user.password", "alice"),
                ("user.enable", "alice"),
                ("user.disable", "alice"),
            ]
        );
    }
}
