//! `ballotwatch user …`: web UI accounts and API tokens.

use std::io::{IsTerminal, Read, Write};

use anyhow::Context;
use ballotwatch_core::Config;
use ballotwatch_store::{Role, Store};

use super::UsageError;

/// Shortest password accepted from stdin.
const MIN_PASSWORD_CHARS: usize = 12;

fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(&config.data_dir)
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))
}

/// `user add NAME --role ROLE`: the password is the first line of stdin when stdin is not a
/// terminal and not empty; otherwise one is generated and printed once.
pub fn add(config: &Config, name: &str, role: &str) -> anyhow::Result<u8> {
    let role: Role = role.parse().map_err(UsageError)?;
    let mut input = String::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        stdin
            .lock()
            .take(4096)
            .read_to_string(&mut input)
            .context("cannot read the password from stdin")?;
    }
    let typed = input.lines().next().unwrap_or("").to_string();
    let (password, generated) = if typed.is_empty() {
        (ballotwatch_web::new_secret()[..24].to_string(), true)
    } else {
        if typed.chars().count() < MIN_PASSWORD_CHARS {
            return Err(UsageError(format!(
                "the password on stdin is shorter than {MIN_PASSWORD_CHARS} characters; use a \
                 longer one, or give no input to have one generated"
            ))
            .into());
        }
        (typed, false)
    };
    let hash = ballotwatch_web::hash_password(&password)?;
    let store = open(config)?;
    let user = store.create_user(name, role, &hash).map_err(|e| match e {
        ballotwatch_store::StoreError::InvalidInput(m) => UsageError(m).into(),
        other => anyhow::Error::from(other),
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "created user `{}` with role {}", user.name, user.role)?;
    if generated {
        writeln!(out, "password: {password}")?;
        writeln!(out, "(shown once: store it in your password manager now)")?;
    }
    Ok(0)
}

/// `user token NAME`: creates an API token for the user and prints it once.
pub fn token(config: &Config, name: &str, label: &str) -> anyhow::Result<u8> {
    let store = open(config)?;
    let login = store.user_login(name)?.ok_or_else(|| {
        UsageError(format!(
            "there is no user `{name}` (create one with `ballotwatch user add`)"
        ))
    })?;
    let token = ballotwatch_web::new_secret();
    store.create_api_token(&login.user, &ballotwatch_web::token_hash(&token), label)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    if std::io::stdout().is_terminal() {
        writeln!(
            out,
            "(API token for `{name}` ({}), shown once: send it as `Authorization: Bearer TOKEN`)",
            login.user.role
        )?;
    }
    Ok(0)
}

/// `user list`: every account and its role.
pub fn list(config: &Config) -> anyhow::Result<u8> {
    let store = open(config)?;
    let mut out = std::io::stdout().lock();
    for u in store.users()? {
        writeln!(out, "{}\t{}", u.name, u.role)?;
    }
    Ok(0)
}
