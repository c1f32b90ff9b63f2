//! `ballotwatch serve`: the main job, until SIGTERM or Ctrl-C, then a clean shutdown.

use std::sync::Arc;

use ballotwatch_cluster::{Role, Roles};
use ballotwatch_pipeline::Config;
use tokio_util::sync::CancellationToken;

use ballotwatch_pipeline::{cluster, Pipeline};

use super::UsageError;

/// `--roles`, parsed: an unknown role is a usage error (exit 2) naming it, with a did-you-mean.
pub fn roles(list: &str) -> anyhow::Result<Roles> {
    Roles::parse(list).map_err(|e| UsageError(format!("--roles: {e}")).into())
}

/// What embedded mode can run: every role in one process (the pipeline's stages are not
/// separable there).
pub fn check_mode(config: &Config, roles: Roles) -> anyhow::Result<()> {
    if config.cluster.is_none() && !roles.is_all() {
        return Err(UsageError(format!(
            "--roles {roles}: embedded mode (no [cluster] table) runs every role in one process; \
             a node with only some roles needs cluster mode"
        ))
        .into());
    }
    Ok(())
}

/// The roles a cluster node runs: `--roles`, or by default all four.
pub fn cluster_roles(roles: Option<Roles>) -> Roles {
    roles.unwrap_or_else(cluster::default_roles)
}

/// Runs a cluster node (`serve` with a `[cluster]` table) until a signal arrives. With the web
/// role, the web UI and API run on the node's PostgreSQL store and index replica; `/healthz`
/// and `/readyz` report NATS and PostgreSQL.
pub async fn run_cluster(config: Config, roles: Roles) -> anyhow::Result<u8> {
    warn_unused_sections(&config);
    let mut web_config = ballotwatch_web::WebConfig::from_server(&config.server);
    web_config.reports = config.reports.clone();
    let query_limits = ballotwatch_index::QueryLimits::from(&config.limits);
    let export_config = config.clone();
    let node = Arc::new(cluster::ClusterNode::open(config, roles).await?);
    if roles.has(Role::Web) {
        // The export button signs packs with this node's key (`[evidence] signing_key`: give
        // every web node the same key file and every pack names one signer).
        match super::export::settings(&export_config, node.classifier()) {
            Ok(settings) => web_config.export = Some(settings),
            Err(e) => {
                node.close().await;
                return Err(e);
            }
        }
        web_config.report_intake = Some(ballotwatch_web::ReportIntakeHandle(Arc::new(
            node.report_desk(ballotwatch_pipeline::screenshotter(&export_config)),
        )));
    }
    web_config.fake_marker = Some(ballotwatch_web::FakeMarkerHandle(Arc::new(
        crate::fakes::WebFakeMarker {
            set: node.known_fakes().clone(),
        },
    )));
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let web_task = if roles.has(Role::Web) {
        let nats = node.clone();
        let web = match ballotwatch_web::WebServer::bind_shared(
            web_config,
            node.web_store(),
            node.index().clone().with_query_limits(query_limits),
        )
        .await
        {
            Ok(web) => web.with_dependency("nats", Arc::new(move || nats.nats_check())),
            Err(e) => {
                drop(nats);
                node.close().await;
                return Err(e.into());
            }
        };
        tracing::info!("web UI listening on http://{}", web.local_addr()?);
        if let Some(m) = web.metrics_addr() {
            tracing::info!("metrics listening on http://{m}/metrics");
        }
        Some(tokio::spawn(web.run(shutdown.clone())))
    } else {
        None
    };
    let result = node.clone().run(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(task) = web_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the web server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the web server task failed"),
        }
    }
    node.close().await;
    result?;
    tracing::info!("stopped cleanly");
    Ok(0)
}

/// Runs the pipeline until a signal arrives.
pub async fn run(config: Config) -> anyhow::Result<u8> {
    run_with(config, None, |addr| {
        tracing::info!("web UI listening on http://{addr}");
    })
    .await
}

/// [`run`], with the demo's web extras when `demo` is set; `on_ready` gets the web UI's
/// address once it is listening.
pub async fn run_with(
    config: Config,
    demo: Option<Arc<ballotwatch_web::demo::DemoSettings>>,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<u8> {
    warn_unused_sections(&config);
    let shotter = ballotwatch_pipeline::screenshotter(&config);
    let mut web_config = ballotwatch_web::WebConfig::from_server(&config.server);
    web_config.demo = demo;
    web_config.reports = config.reports.clone();
    let export_config = config.clone();
    let query_limits = ballotwatch_index::QueryLimits::from(&config.limits);
    let pipeline = Arc::new(Pipeline::open(config)?);
    web_config.report_intake = Some(ballotwatch_web::ReportIntakeHandle(Arc::new(
        pipeline.report_desk(shotter.clone()),
    )));
    web_config.export = Some(super::export::settings(
        &export_config,
        Some(pipeline.classifier()),
    )?);
    web_config.fake_marker = Some(ballotwatch_web::FakeMarkerHandle(std::sync::Arc::new(
        crate::fakes::WebFakeMarker {
            set: pipeline.known_fakes().clone(),
        },
    )));
    let web = ballotwatch_web::WebServer::bind(
        web_config,
        pipeline.store().clone(),
        pipeline.index().clone().with_query_limits(query_limits),
    )
    .await?;
    on_ready(web.local_addr()?);
    if let Some(m) = web.metrics_addr() {
        tracing::info!("metrics listening on http://{m}/metrics");
    }
    let names = pipeline.source_names();
    tracing::info!(sources = names.len(), data_dir = %pipeline.store().data_dir().display(), "ballotwatch serving");
    if names.is_empty() {
        tracing::warn!("no enabled sources: add [[source]] tables to the config");
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let screenshots = shotter.map(|s| {
        let stamp = pipeline.clone();
        ballotwatch_evidence::screenshot::ScreenshotTask::spawn(
            Arc::new(pipeline.store().clone()),
            s,
            std::time::Duration::from_secs(2),
            Box::new(move || stamp.timestamp_soon()),
        )
    });
    let web_task = tokio::spawn(web.run(shutdown.clone()));
    let result = pipeline.run(shutdown.clone()).await;
    shutdown.cancel();
    match web_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the web server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "the web server task failed"),
    }
    if let Some(task) = screenshots {
        tokio::task::spawn_blocking(move || task.stop()).await?;
    }
    result?;
    tracing::info!("stopped cleanly");
    Ok(0)
}

/// Cancels `token` at the first SIGTERM or SIGINT.
pub async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: finishing the work in hand"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: finishing the work in hand"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    token.cancel();
}

/// Says which configured sections this version validates but does not act on yet, so nobody
/// believes alerts are being sent when they are not.
fn warn_unused_sections(config: &Config) {
    if config.alerts.rules.is_empty() && config.alerts.smtp.is_some() {
        tracing::warn!(
            "[alerts.smtp] is configured but there is no [[alerts.rule]]: flagged items become incidents, but no alerts will be sent"
        );
    }
}
