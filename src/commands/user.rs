//! `ballotwatch user …`: web UI accounts and API tokens.

use std::io::{IsTerminal, Read, Write};

use anyhow::Context;
use ballotwatch_pipeline::Config;
use ballotwatch_store::{Role, StoreError, UnknownRole};

use super::{open_store as open, UsageError};
use crate::TokenCreate;

/// Longest token lifetime `--expires` accepts (a typo such as `9000y` is refused, not stored).
const MAX_EXPIRY: std::time::Duration = std::time::Duration::from_secs(10 * 366 * 86_400);

/// A store error the user can fix (no such user, name taken, last admin) as a usage error
/// (exit 2); anything else as it is (exit 3).
fn usage(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::InvalidInput(m) => UsageError(m).into(),
        other => anyhow::Error::from(other),
    }
}

/// The password to set: the first line of stdin when stdin is not a terminal and not empty;
/// otherwise a generated one. Returns it and whether it was generated.
fn password_from_stdin() -> anyhow::Result<(String, bool)> {
    let mut input = String::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        stdin
            .lock()
            .take(4096)
            .read_to_string(&mut input)
            .context("cannot read the password from stdin")?;
    }
    let typed = input.lines().next().unwrap_or("");
    ballotwatch_web::choose_password(typed).map_err(|e| UsageError(format!("stdin: {e}")).into())
}

fn print_generated(out: &mut impl Write, password: &str) -> anyhow::Result<()> {
    writeln!(out, "password: {password}")?;
    writeln!(out, "(shown once: store it in your password manager now)")?;
    Ok(())
}

/// `user add NAME --role ROLE`: the password is the first line of stdin when stdin is not a
/// terminal and not empty; otherwise one is generated and printed once.
pub fn add(config: &Config, name: &str, role: &str) -> anyhow::Result<u8> {
    let role: Role = role
        .parse()
        .map_err(|e: UnknownRole| UsageError(e.to_string()))?;
    let (password, generated) = password_from_stdin()?;
    let hash = ballotwatch_web::hash_password(&password)?;
    let store = open(config)?;
    let user = store.create_user(name, role, &hash).map_err(usage)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "created user `{}` with role {}", user.name, user.role)?;
    if generated {
        print_generated(&mut out, &password)?;
    }
    Ok(0)
}

/// `user passwd NAME`: a new password (stdin or generated, as for `user add`); every session
/// and API token of the account ends.
pub fn passwd(config: &Config, name: &str, actor: &str) -> anyhow::Result<u8> {
    let (password, generated) = password_from_stdin()?;
    let hash = ballotwatch_web::hash_password(&password)?;
    let store = open(config)?;
    let ended = store.set_password(name, &hash, actor).map_err(usage)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "changed the password of `{name}`; ended {} sessions and {} API tokens",
        ended.sessions, ended.tokens
    )?;
    if generated {
        print_generated(&mut out, &password)?;
    }
    Ok(0)
}

/// `user disable NAME`.
pub fn disable(config: &Config, name: &str, actor: &str) -> anyhow::Result<u8> {
    let ended = open(config)?.disable_user(name, actor).map_err(usage)?;
    writeln!(
        std::io::stdout().lock(),
        "disabled `{name}`; ended {} sessions and {} API tokens",
        ended.sessions,
        ended.tokens
    )?;
    Ok(0)
}

/// `user enable NAME`.
pub fn enable(config: &Config, name: &str, actor: &str) -> anyhow::Result<u8> {
    open(config)?.enable_user(name, actor).map_err(usage)?;
    writeln!(std::io::stdout().lock(), "enabled `{name}`")?;
    Ok(0)
}

/// `user delete NAME`.
pub fn delete(config: &Config, name: &str, actor: &str) -> anyhow::Result<u8> {
    let ended = open(config)?.delete_user(name, actor).map_err(usage)?;
    writeln!(
        std::io::stdout().lock(),
        "deleted `{name}`; ended {} sessions and {} API tokens (the audit log keeps the name, \
         which cannot be reused)",
        ended.sessions,
        ended.tokens
    )?;
    Ok(0)
}

/// `user token NAME [--label L] [--expires D]`: creates an API token for the user and prints
/// it once.
pub fn token(config: &Config, create: TokenCreate) -> anyhow::Result<u8> {
    let name = create
        .name
        .ok_or_else(|| UsageError("`user token` needs the account's NAME".into()))?;
    let expires_at = create
        .expires
        .as_deref()
        .map(|d| {
            let d = humantime::parse_duration(d.trim())
                .map_err(|e| UsageError(format!("--expires `{d}`: {e} (e.g. `90d`, `12h`)")))?;
            if d.is_zero() || d > MAX_EXPIRY {
                return Err(UsageError(format!(
                    "--expires: must be longer than zero and at most 10 years, not {}",
                    humantime::format_duration(d)
                )));
            }
            let d = chrono::Duration::from_std(d).map_err(|e| UsageError(e.to_string()))?;
            Ok(chrono::Utc::now() + d)
        })
        .transpose()?;
    let store = open(config)?;
    let login = store.user_login(&name)?.ok_or_else(|| {
        UsageError(format!(
            "there is no user `{name}` (create one with `ballotwatch user add`)"
        ))
    })?;
    if login.disabled {
        return Err(UsageError(format!(
            "`{name}` is disabled: enable it first (`ballotwatch user enable {name}`)"
        ))
        .into());
    }
    let actor = super::actor_or_user(create.actor);
    let token = ballotwatch_web::new_secret();
    let id = store.create_api_token(
        &login.user,
        &ballotwatch_web::token_hash(&token),
        &create.label,
        expires_at,
        &actor,
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    if std::io::stdout().is_terminal() {
        let expiry = expires_at.map_or("never expires".to_string(), |e| {
            format!("expires {}", e.format("%Y-%m-%d %H:%M UTC"))
        });
        writeln!(
            out,
            "(API token {id} for `{name}` ({}), {expiry}; shown once: send it as \
             `Authorization: Bearer TOKEN`)",
            login.user.role
        )?;
    }
    Ok(0)
}

/// `user token list [NAME]`: one tab-separated line per token: id, account, label, created,
/// last used, expiry (`never`, a time, or `expired TIME`).
pub fn token_list(config: &Config, name: Option<&str>) -> anyhow::Result<u8> {
    let tokens = open(config)?.api_tokens(name).map_err(usage)?;
    let now = chrono::Utc::now();
    let time = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut out = std::io::stdout().lock();
    for t in tokens {
        let expires = match &t.expires_at {
            None => "never".to_string(),
            Some(e) if t.expired_at(now) => format!("expired {}", time(e)),
            Some(e) => time(e),
        };
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            t.id,
            t.user,
            t.label,
            time(&t.created_at),
            t.last_used_at.as_ref().map_or("-".to_string(), time),
            expires
        )?;
    }
    Ok(0)
}

/// `user token revoke ID`.
pub fn token_revoke(config: &Config, id: i64, actor: &str) -> anyhow::Result<u8> {
    let t = open(config)?.revoke_api_token(id, actor).map_err(usage)?;
    writeln!(
        std::io::stdout().lock(),
        "revoked API token {id} (`{}` of `{}`)",
        t.label,
        t.user
    )?;
    Ok(0)
}

/// `user list`: every account, its role and its state (`active`, `disabled`, or `locked
/// until TIME`), tab-separated.
pub fn list(config: &Config) -> anyhow::Result<u8> {
    let store = open(config)?;
    let mut out = std::io::stdout().lock();
    for a in store.accounts()? {
        let state = match (&a.disabled_at, &a.locked_until) {
            (Some(_), _) => "disabled".to_string(),
            (None, Some(u)) => format!("locked until {}", u.format("%Y-%m-%dT%H:%M:%SZ")),
            (None, None) => "active".to_string(),
        };
        writeln!(out, "{}\t{}\t{state}", a.user.name, a.user.role)?;
    }
    Ok(0)
}
