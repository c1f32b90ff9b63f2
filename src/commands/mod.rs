//! One module per subcommand, and what they share: config loading and exit codes.
//!
//! Exit codes (the product contract): 0 success, 1 the job found a problem it reports,
//! 2 bad usage or bad config, 3 a runtime failure; and for `verify` only, 4 an intact pack
//! signed by a key nobody said to trust.

mod alerts;
mod check_config;
mod classify;
mod export;
mod fakes;
mod ingest;
mod migrate;
mod quarantine;
mod reindex;
mod search;
pub mod serve;
mod sources;
mod user;
mod verify;

pub use ingest::{cycle_line, summary_table};

use std::path::Path;

use anyhow::Context;
use ballotwatch_classify::ClassifyError;
use ballotwatch_core::ConfigError;
use ballotwatch_pipeline::Config;
use ballotwatch_pipeline::PipelineError;

use crate::{Cli, Command};

/// An error that is the user's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the chosen subcommand; `Ok` carries the exit code (0, or 1 for reported problems).
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let config_path = cli.config.as_path();
    match cli.command {
        Command::CheckConfig => check_config::run(config_path),
        Command::Classify => classify::run(config_path),
        Command::Serve { roles } => {
            let roles = roles.as_deref().map(serve::roles).transpose()?;
            let config = load_config(config_path)?;
            if config.cluster.is_some() {
                let roles = serve::cluster_roles(roles);
                return runtime()?.block_on(serve::run_cluster(config, roles));
            }
            serve::check_mode(&config, roles.unwrap_or_default())?;
            runtime()?.block_on(serve::run(config))
        }
        Command::Demo {
            data_dir,
            once,
            bind,
        } => runtime()?.block_on(crate::demo::run(crate::demo::DemoArgs {
            data_dir,
            once,
            bind,
        })),
        Command::Ingest { once: _, source } => {
            let config = load_config(config_path)?;
            runtime()?.block_on(ingest::run(config, source))
        }
        Command::Search {
            query,
            limit,
            offset,
            sort,
            json,
        } => {
            let config = load_config(config_path)?;
            let sort = match sort {
                crate::Sort::Relevance => ballotwatch_index::SortOrder::Relevance,
                crate::Sort::Newest => ballotwatch_index::SortOrder::Newest,
            };
            search::run(&config, &query, limit, offset, sort, json)
        }
        Command::Alerts {
            command: crate::AlertsCommand::Status { json },
        } => {
            let config = load_config(config_path)?;
            alerts::status(&config, json)
        }
        Command::Export {
            incidents,
            items,
            out,
            actor,
            no_screenshots,
            include_reporters,
            format,
        } => {
            let config = load_config(config_path)?;
            export::run(
                &config,
                &export::ExportArgs {
                    incidents: &incidents,
                    items: &items,
                    out: &out,
                    actor: actor.as_deref(),
                    no_screenshots,
                    wacz: format == crate::ExportFormat::Wacz,
                    include_reporters,
                },
            )
        }
        Command::Verify { file, public_key } => {
            // verify needs no config: the defaults, unless one is asked for or is here.
            let config = if cli.config_given || config_path.exists() {
                Some(load_config(config_path)?)
            } else {
                None
            };
            verify::run(&file, public_key.as_deref(), config.as_ref())
        }
        Command::Sources { json } => {
            let config = load_config(config_path)?;
            sources::run(&config, json)
        }
        Command::User { command } => {
            let config = load_config(config_path)?;
            match command {
                crate::UserCommand::Add { name, role } => user::add(&config, &name, &role),
                crate::UserCommand::Token { command, create } => match command {
                    None => user::token(&config, create),
                    Some(crate::TokenCommand::Create { create }) => user::token(&config, create),
                    Some(crate::TokenCommand::List { name }) => {
                        user::token_list(&config, name.as_deref())
                    }
                    Some(crate::TokenCommand::Revoke { id, actor }) => {
                        user::token_revoke(&config, id, &actor_or_user(actor))
                    }
                },
                crate::UserCommand::List => user::list(&config),
                crate::UserCommand::Disable { name, actor } => {
                    user::disable(&config, &name, &actor_or_user(actor))
                }
                crate::UserCommand::Enable { name, actor } => {
                    user::enable(&config, &name, &actor_or_user(actor))
                }
                crate::UserCommand::Delete { name, actor } => {
                    user::delete(&config, &name, &actor_or_user(actor))
                }
                crate::UserCommand::Passwd { name, actor } => {
                    user::passwd(&config, &name, &actor_or_user(actor))
                }
            }
        }
        Command::Fakes { command } => {
            let config = load_config(config_path)?;
            match command {
                crate::FakesCommand::Add {
                    incident,
                    media,
                    file,
                    note,
                    actor,
                } => fakes::add(
                    &config,
                    incident,
                    media.as_deref(),
                    file.as_deref(),
                    &note,
                    actor,
                ),
                crate::FakesCommand::List { json } => fakes::list(&config, json),
                crate::FakesCommand::Remove { id, actor } => fakes::remove(&config, id, actor),
            }
        }
        Command::Quarantine { command } => {
            let config = load_config(config_path)?;
            match command {
                crate::QuarantineCommand::List { json, all } => {
                    quarantine::list(&config, json, all)
                }
                crate::QuarantineCommand::Retry { id, actor } => {
                    quarantine::retry(&config, id, actor)
                }
                crate::QuarantineCommand::Drop { id, actor } => {
                    quarantine::drop(&config, id, actor)
                }
            }
        }
        Command::Reindex => {
            let config = load_config(config_path)?;
            if config.cluster.is_some() {
                return runtime()?.block_on(reindex::run_cluster(&config));
            }
            reindex::run(&config)
        }
        Command::Migrate {
            to_cluster: _,
            force,
        } => {
            let config = load_config(config_path)?;
            migrate::to_cluster(&config, force)
        }
    }
}

/// Opens the configured store, naming its folder on failure.
pub(crate) fn open_store(config: &Config) -> anyhow::Result<ballotwatch_store::Store> {
    ballotwatch_store::Store::open(&config.data_dir)
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))
}

/// The store items are read from: the cluster's PostgreSQL when the config has a `[cluster]`
/// table (a node's data folder then holds only its index replica), else the embedded store.
pub(crate) fn open_item_store(
    config: &Config,
) -> anyhow::Result<Box<dyn ballotwatch_store::PipelineStore>> {
    let Some(cluster) = &config.cluster else {
        return Ok(Box::new(open_store(config)?));
    };
    let url = cluster
        .postgres_url()
        .map_err(|e| UsageError(e.to_string()))?;
    let options = ballotwatch_store::PgOptions {
        pool_size: 1,
        ca_file: cluster.postgres_ca_file.clone(),
        ..ballotwatch_store::PgOptions::default()
    };
    let store = ballotwatch_store::PgStore::connect(&url, options)
        .context("cannot open the cluster's PostgreSQL store")?;
    Ok(Box::new(store))
}

/// Who runs a command, for the audit log: `--actor`, else `$USER`, else `cli`.
pub(crate) fn actor_or_user(actor: Option<String>) -> String {
    actor
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".into())
}

/// Maps an error to the contract's exit code: 2 for configuration, usage and detector set-up
/// (a missing model is the operator's to fix), 3 otherwise.
pub fn exit_code_of(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| {
        c.is::<ConfigError>()
            || c.is::<UsageError>()
            || c.is::<ClassifyError>()
            || c.downcast_ref::<PipelineError>()
                .is_some_and(PipelineError::is_setup)
    }) {
        2
    } else {
        3
    }
}

/// Loads and validates the configuration file.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
