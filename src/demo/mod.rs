//! `ballotwatch demo`: the real product — `serve` with its web UI, pipeline and alerting — on a
//! recorded election week for the fictional Anytown Borough Council, replayed from 127.0.0.1
//! under each recorded site's own host name (resolved to the replay server by this process
//! only) so it needs no outside network. Alert emails go through the real SMTP path to a mail catcher
//! built into the demo, and show on the web UI's Demo mail page. A one-time login link is
//! printed at start.

mod inbox;
mod jetstream;
mod mail;
mod replay;
mod tsa;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ballotwatch_pipeline::Config;
use ballotwatch_store::{Role, Store};
use ballotwatch_web::demo::{DemoMailbox, DemoSettings};

use ballotwatch_pipeline::Pipeline;

/// The account the printed one-time link logs in as.
const DEMO_USER: &str = "demo";
/// Where the web UI listens unless `--bind` says otherwise (a free port if it is taken).
const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// What `ballotwatch demo` was asked for.
pub struct DemoArgs {
    /// Keep the data here instead of a temporary folder.
    pub data_dir: Option<PathBuf>,
    /// One ingest pass, a summary, and exit.
    pub once: bool,
    /// The web UI's address.
    pub bind: Option<SocketAddr>,
}

/// The environment variables the demo configuration's X and Threads sources read their tokens
/// from (`token_env`); the recorded APIs accept any token.
pub const TOKEN_VARIABLES: [&str; 2] =
    ["BALLOTWATCH_DEMO_X_TOKEN", "BALLOTWATCH_DEMO_THREADS_TOKEN"];

/// Sets [`TOKEN_VARIABLES`] (where unset) to a stand-in token, and the demo inbox's password
/// variable to the password it accepts. Called from `main` before any thread starts, as setting
/// the environment must be.
pub fn set_demo_tokens() {
    for var in TOKEN_VARIABLES {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "demo-token");
        }
    }
    if std::env::var_os(inbox::PASSWORD_VARIABLE).is_none() {
        std::env::set_var(inbox::PASSWORD_VARIABLE, inbox::PASSWORD);
    }
}

/// Runs the demo until Ctrl-C (or one pass with `once`).
pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let (temp, data_dir) = match args.data_dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::Builder::new()
                .prefix("ballotwatch-demo-")
                .tempdir()
                .context("cannot create a temporary folder for the demo")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    // Live, the recorded Bluesky stream arrives post by post; one pass reads it all at once.
    let pace = if args.once {
        std::time::Duration::ZERO
    } else {
        jetstream::PACE
    };
    let sources = replay::start(pace).await?;
    let mailbox = DemoMailbox::default();
    let smtp = mail::start(mailbox.clone())?;
    let bind = match args.bind {
        Some(b) => b,
        None => default_bind(),
    };
    let tsa_url = tsa::start(&data_dir).await?;
    let (imap, imap_ca) = inbox::start(&data_dir).await?;
    let config_path = write_files(
        &data_dir,
        bind,
        Ports {
            sources,
            smtp,
            imap,
        },
        &tsa_url,
    )?;
    let mut config = Config::load(&config_path)?;
    // The recorded sites keep their own names; only this process resolves them to the replay.
    config.ingest.pinned_hosts = replay::pins(sources);

    println!("Ballotwatch demo: Anytown Borough Council (fictional), election week");
    println!(
        "  recorded sites ({}, …) replayed from http://{sources}/",
        replay::HOSTS[..3].join(", ")
    );
    println!("  data folder:  {}", data_dir.display());
    println!("  config:       {}", config_path.display());
    println!(
        "  elections inbox: imaps://{imap}/ ({} forwarded reports; its CA: {})",
        inbox::message_count(),
        imap_ca.display()
    );
    println!(
        "  trusted timestamps: {} at {tsa_url} (its root: {})",
        ballotwatch_evidence::timestamp::authority::DEMO_TSA_NAME,
        data_dir
            .join(ballotwatch_evidence::timestamp::authority::ROOT_FILE)
            .display()
    );

    let code = if args.once {
        once(config).await?
    } else {
        let password = ballotwatch_web::new_secret()[..24].to_string();
        let token = ballotwatch_web::new_secret();
        ensure_user(&config, &password)?;
        let demo = Arc::new(DemoSettings::new(mailbox, DEMO_USER, &token));
        let announce = move |addr: SocketAddr| {
            println!("\nWeb UI:  http://{addr}/");
            println!("  log in once with: http://{addr}/login/once/{token}");
            println!("  or as `{DEMO_USER}` with password {password}");
            println!("  alert emails:     http://{addr}/demo/mail");
            println!(
                "  from a terminal:  ballotwatch --config {} search 'polling station'",
                config_path.display()
            );
            println!("Stop with Ctrl-C.\n");
        };
        crate::commands::serve::run_with(config, Some(demo), announce).await?
    };
    if let Some(t) = temp {
        println!("\n(the demo's temporary data folder is removed now; pass --data-dir to keep it)");
        drop(t);
    }
    Ok(code)
}

/// `demo --once`: one pass over every source, a per-source table and a sample search.
async fn once(config: Config) -> anyhow::Result<u8> {
    let pipeline = Arc::new(Pipeline::open(config)?);
    let cycle = pipeline.run_once(None).await?;
    print!("\n{}", crate::commands::summary_table(&cycle.polls));
    println!("{}", crate::commands::cycle_line(&cycle));
    let results = pipeline.index().search(&ballotwatch_index::SearchRequest {
        query: "\"polling station\"".into(),
        limit: 5,
        offset: 0,
        sort: ballotwatch_index::SortOrder::Relevance,
        filters: Vec::new(),
    })?;
    println!(
        "\nsearch \"polling station\": {} matching items",
        results.total
    );
    for hit in &results.hits {
        println!(
            "  - {}",
            hit.snippet.replace("<b>", "**").replace("</b>", "**")
        );
    }
    Ok(u8::from(cycle.polls.iter().any(|s| s.outcome.is_err())))
}

/// 127.0.0.1:8080 when it is free, else a free port.
fn default_bind() -> SocketAddr {
    let preferred: SocketAddr = DEFAULT_BIND
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)));
    match std::net::TcpListener::bind(preferred) {
        Ok(l) => {
            drop(l);
            preferred
        }
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

/// The demo account, with a new password each start (a kept `--data-dir` reuses the account).
fn ensure_user(config: &Config, password: &str) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir)
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    let hash = ballotwatch_web::hash_password(password)?;
    if store.user_login(DEMO_USER)?.is_some() {
        store.set_password(DEMO_USER, &hash, "demo")?;
    } else {
        store.create_user(DEMO_USER, Role::Admin, &hash)?;
    }
    Ok(())
}

/// Where the demo's own servers listen.
struct Ports {
    /// The replay server (recorded sites and the Jetstream).
    sources: SocketAddr,
    /// The mail catcher.
    smtp: SocketAddr,
    /// The elections inbox (IMAP over TLS).
    imap: SocketAddr,
}

/// Writes the demo's configuration and the council's logo into `data_dir`; returns the
/// configuration's path.
fn write_files(
    data_dir: &Path,
    bind: SocketAddr,
    ports: Ports,
    tsa_url: &str,
) -> anyhow::Result<PathBuf> {
    let Ports {
        sources,
        smtp,
        imap,
    } = ports;
    let template = replay::DEMO
        .get_file("ballotwatch.toml")
        .and_then(|f| f.contents_utf8())
        .context("the demo's configuration is missing from this build")?;
    let logo = replay::DEMO
        .get_file("media/anytown-logo.png")
        .context("the demo's logo is missing from this build")?;
    let logo_path = data_dir.join("anytown-logo.png");
    std::fs::write(&logo_path, logo.contents())
        .with_context(|| format!("cannot write {}", logo_path.display()))?;
    // TOML basic strings need backslashes and quotes escaped (Windows paths, odd folder names).
    let dir = data_dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let text = template
        .replace("{{DATA_DIR}}", &dir)
        .replace("{{BIND}}", &bind.to_string())
        .replace("{{WS_BASE}}", &format!("ws://{sources}"))
        .replace("{{SMTP_PORT}}", &smtp.port().to_string())
        .replace("{{TSA_URL}}", tsa_url)
        .replace("{{IMAP_PORT}}", &imap.port().to_string())
        .replace("{{IMAP_CA}}", inbox::CA_FILE)
        .replace(
            "{{TSA_ROOT}}",
            ballotwatch_evidence::timestamp::authority::ROOT_FILE,
        );
    let path = data_dir.join("ballotwatch.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
