//! The connection to NATS and the names every stream, subject and bucket is derived from.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::ConnectOptions;
use tracing::{info, warn};

use crate::{ClusterConfig, ClusterError, Stage, StageSettings};

/// A node's connection to the cluster's NATS: the client reconnects by itself (to any of the
/// configured servers) for as long as the process runs.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) config: ClusterConfig,
    pub(crate) node: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("nats_url", &self.config.nats_url)
            .finish_non_exhaustive()
    }
}

fn env(key: &'static str, var: &str) -> Result<String, ClusterError> {
    std::env::var(var).map_err(|_| ClusterError::MissingEnv {
        key,
        var: var.to_string(),
    })
}

impl Cluster {
    /// Connects to NATS with `[cluster]`'s URLs and credentials. The first connection is
    /// retried for as long as the caller waits; later disconnections are healed by the client.
    #[tracing::instrument(skip_all, fields(node))]
    pub async fn connect(config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        let node = config.node();
        tracing::Span::current().record("node", node.as_str());
        let mut options = ConnectOptions::new();
        if let Some(path) = &config.nats_creds_file {
            options =
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| ClusterError::Creds {
                        path: path.display().to_string(),
                        source,
                    })?;
        }
        if let (Some(u), Some(p)) = (&config.nats_user_env, &config.nats_password_env) {
            options =
                options.user_and_password(env("nats_user_env", u)?, env("nats_password_env", p)?);
        }
        if let Some(t) = &config.nats_token_env {
            options = options.token(env("nats_token_env", t)?);
        }
        if let Some(s) = &config.nats_nkey_seed_env {
            options = options.nkey(env("nats_nkey_seed_env", s)?);
        }
        let options = options
            .name(format!("ballotwatch-{node}"))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            // Back off to at most 2 s between attempts, so a NATS restart is noticed quickly.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100u64 << attempts.min(5)).min(2000))
            })
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => info!("connected to NATS"),
                    async_nats::Event::Disconnected => warn!("disconnected from NATS"),
                    other => info!(event = %other, "NATS event"),
                }
            });
        let urls = config.nats_url.join(", ");
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            options.connect(config.nats_url.as_slice()),
        )
        .await
        .map_err(|_| ClusterError::Connect {
            urls: urls.clone(),
            detail: "no server answered within 30s".to_string(),
        })?
        .map_err(|e| ClusterError::Connect {
            urls: urls.clone(),
            detail: e.to_string(),
        })?;
        let js = jetstream::new(client.clone());
        Ok(Cluster {
            client,
            js,
            config: config.clone(),
            node,
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The configuration this connection was made with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The NATS client (for health checks and metrics).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// `Err` naming the connection's state while this node is not connected to NATS (the
    /// client reconnects by itself); for `/healthz` and `/readyz`.
    pub fn check_connected(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            other => Err(format!("connection state {other:?}")),
        }
    }

    /// The settings of `stage`.
    pub fn settings(&self, stage: Stage) -> StageSettings {
        self.config.stage(stage)
    }

    /// `BALLOTWATCH_<SUFFIX>`: a stream's name.
    pub(crate) fn stream_name(&self, suffix: &str) -> String {
        format!("{}_{}", self.config.prefix.to_uppercase(), suffix)
    }

    /// `ballotwatch.<rest>`: a subject.
    pub(crate) fn subject(&self, rest: &str) -> String {
        format!("{}.{}", self.config.prefix, rest)
    }
}
