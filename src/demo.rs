//! `ballotwatch demo`: the real pipeline on bundled, recorded feeds served from 127.0.0.1, so it
//! needs no outside network.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Path as UrlPath;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ballotwatch_core::Config;
use tokio_util::sync::CancellationToken;

use crate::pipeline::Pipeline;

/// The demo configuration template.
const CONFIG_TEMPLATE: &str = include_str!("../demo/ballotwatch.toml");

/// The recorded feeds: (file name, content type, bytes).
const FEEDS: &[(&str, &str, &str)] = &[
    (
        "anytown-echo.xml",
        "application/rss+xml; charset=utf-8",
        include_str!("../demo/feeds/anytown-echo.xml"),
    ),
    (
        "anytown-council.atom",
        "application/atom+xml; charset=utf-8",
        include_str!("../demo/feeds/anytown-council.atom"),
    ),
    (
        "riverside-gazette.xml",
        "application/rss+xml; charset=utf-8",
        include_str!("../demo/feeds/riverside-gazette.xml"),
    ),
];

/// Runs the demo until Ctrl-C (or one pass with `once`).
pub async fn run(data_dir: Option<PathBuf>, once: bool) -> anyhow::Result<u8> {
    let (temp, data_dir) = match data_dir {
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
    let addr = start_feed_server().await?;
    let config_path = write_config(&data_dir, &format!("http://{addr}/feeds"))?;
    let config = Config::load(&config_path)?;
    let pipeline = Arc::new(Pipeline::open(config)?);

    println!("Ballotwatch demo");
    println!("  recorded feeds served at http://{addr}/feeds/");
    println!("  data folder:  {}", data_dir.display());
    println!("  config:       {}", config_path.display());

    let code = if once {
        let summaries = pipeline.run_once(None).await?;
        print!("\n{}", crate::commands::summary_table(&summaries));
        let results = pipeline.index().search(&ballotwatch_index::SearchRequest {
            query: "\"polling station\"".into(),
            limit: 5,
            offset: 0,
            sort: ballotwatch_index::SortOrder::Relevance,
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
        u8::from(summaries.iter().any(|s| s.outcome.is_err()))
    } else {
        println!("\nTry, in another terminal:");
        println!(
            "  ballotwatch --config {} search 'polling station'",
            config_path.display()
        );
        println!("Stop with Ctrl-C.\n");
        let shutdown = CancellationToken::new();
        tokio::spawn(crate::commands::cancel_on_signal(shutdown.clone()));
        pipeline.run(shutdown).await?;
        0
    };
    if let Some(t) = temp {
        if once {
            println!(
                "\n(the demo's temporary data folder is removed now; pass --data-dir to keep it)"
            );
        }
        drop(t);
    }
    Ok(code)
}

fn write_config(data_dir: &Path, feeds: &str) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("ballotwatch.toml");
    // TOML basic strings need backslashes and quotes escaped (Windows paths, odd folder names).
    let dir = data_dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let text = CONFIG_TEMPLATE
        .replace("{{DATA_DIR}}", &dir)
        .replace("{{FEEDS}}", feeds);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Serves the recorded feeds on an ephemeral 127.0.0.1 port, with ETags and 304s like a real
/// publisher.
async fn start_feed_server() -> anyhow::Result<SocketAddr> {
    let app = Router::new().route("/feeds/{name}", get(serve_feed));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot open a port on 127.0.0.1 for the demo feeds")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "demo feed server stopped");
        }
    });
    Ok(addr)
}

async fn serve_feed(UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, body)) = FEEDS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such demo feed").into_response();
    };
    let etag = format!(
        "\"{}\"",
        &ballotwatch_core::sha256_hex(body.as_bytes())[..16]
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::ETAG, etag),
        ],
        *body,
    )
        .into_response()
}
