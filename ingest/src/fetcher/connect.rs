//! Raw TCP connections under the fetcher's rules, for protocols reqwest does not speak
//! (Jetstream's websocket, IMAP): the same SSRF guard, the same `connect_timeout`, and TLS with
//! the platform's certificate verifier (or a private CA's roots, for IMAP's `ca_file`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use super::guard;
use super::{FetchError, Fetcher};

/// A connected byte stream: plain TCP or TLS over TCP.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// A boxed [`Connection`].
pub type BoxedConnection = Pin<Box<dyn Connection>>;

impl Fetcher {
    /// Opens a connection to the host of `url` (schemes `ws`, `wss`, `http`, `https`), TLS for
    /// `wss`/`https`, under the SSRF guard: the host is resolved, refused addresses are dropped
    /// (unless `allow_private_addresses`), and only a checked address is connected to. The
    /// whole of it (DNS, TCP, TLS) must finish within `connect_timeout`.
    pub async fn connect(&self, url: &Url) -> Result<BoxedConnection, FetchError> {
        let after = self.inner.connect_timeout;
        match tokio::time::timeout(after, self.connect_inner(url)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                after,
            }),
        }
    }

    async fn connect_inner(&self, url: &Url) -> Result<BoxedConnection, FetchError> {
        let text = url.to_string();
        let tls = match url.scheme() {
            "wss" | "https" => true,
            "ws" | "http" => false,
            other => {
                return Err(FetchError::InvalidUrl {
                    url: text,
                    reason: format!("the scheme `{other}` is not ws, wss, http or https"),
                })
            }
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let tcp = self.guarded_tcp(url, port).await?;
        if !tls {
            return Ok(Box::pin(tcp));
        }
        let config = tls_config().map_err(|e| FetchError::Setup {
            message: e.to_string(),
        })?;
        Ok(Box::pin(tls_handshake(url, config, tcp).await?))
    }

    /// Opens a TCP connection to the host of `url` on `port` under the SSRF guard and within
    /// `connect_timeout`, as [`Fetcher::connect`] does, for protocols that negotiate TLS
    /// themselves (IMAP's `STARTTLS`); [`Fetcher::start_tls`] then secures it.
    pub async fn connect_tcp(&self, url: &Url, port: u16) -> Result<TcpStream, FetchError> {
        let after = self.inner.connect_timeout;
        match tokio::time::timeout(after, self.guarded_tcp(url, port)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                after,
            }),
        }
    }

    /// Secures `stream`, connected to the host of `url`, with TLS within `connect_timeout`:
    /// the server's certificate is checked against `roots` when given (a private CA), else the
    /// system's trust store.
    pub async fn start_tls<S>(
        &self,
        url: &Url,
        stream: S,
        roots: Option<Arc<rustls::RootCertStore>>,
    ) -> Result<tokio_rustls::client::TlsStream<S>, FetchError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = match roots {
            None => tls_config(),
            Some(roots) => tls_config_with_roots(roots),
        }
        .map_err(|e| FetchError::Setup {
            message: e.to_string(),
        })?;
        let after = self.inner.connect_timeout;
        match tokio::time::timeout(after, tls_handshake(url, config, stream)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                after,
            }),
        }
    }

    /// The guarded TCP connection of [`Fetcher::connect_tcp`], without the time limit.
    async fn guarded_tcp(&self, url: &Url, port: u16) -> Result<TcpStream, FetchError> {
        let text = url.to_string();
        let bare = bare_host(url)?;
        let allow_private = self.inner.allow_private;
        guard::check_url_host(url, allow_private).map_err(|blocked| FetchError::Blocked {
            url: text.clone(),
            reason: blocked.to_string(),
        })?;
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| FetchError::Connect {
                url: text.clone(),
                message: format!("cannot resolve `{bare}`: {e}"),
            })?
            .collect();
        if found.is_empty() {
            return Err(FetchError::Connect {
                url: text,
                message: format!("`{bare}` has no addresses"),
            });
        }
        let addrs =
            guard::filter_addrs(bare, found, allow_private).map_err(|b| FetchError::Blocked {
                url: text.clone(),
                reason: b.reason(),
            })?;
        let mut last_error = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_error = Some(format!("{addr}: {e}")),
            }
        }
        let Some(tcp) = tcp else {
            return Err(FetchError::Connect {
                url: text,
                message: last_error.unwrap_or_else(|| "no address to connect to".into()),
            });
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(url = %text, error = %e, "cannot set TCP_NODELAY");
        }
        Ok(tcp)
    }
}

/// The host of `url` without IPv6 brackets (`host_str` keeps them; the resolver and TLS
/// server names want them bare).
fn bare_host(url: &Url) -> Result<&str, FetchError> {
    url.host_str()
        .filter(|h| !h.is_empty())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .ok_or_else(|| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: "it has no host".into(),
        })
}

/// The TLS handshake with the host of `url` over `stream`.
async fn tls_handshake<S>(
    url: &Url,
    config: Arc<rustls::ClientConfig>,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let text = url.to_string();
    let bare = bare_host(url)?;
    let name = rustls::pki_types::ServerName::try_from(bare.to_string()).map_err(|e| {
        FetchError::InvalidUrl {
            url: text.clone(),
            reason: format!("`{bare}` is not a valid TLS server name: {e}"),
        }
    })?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| FetchError::Connect {
            url: text,
            message: format!("TLS handshake failed: {e}"),
        })
}

/// The TLS client settings: aws-lc-rs (the provider reqwest uses here) and the platform's
/// certificate verifier (the system's trust store).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?
        .with_platform_verifier()
        .map_err(TlsSetupError::Verifier)?
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TLS client settings that trust only `roots` (a private CA), with the same provider.
fn tls_config_with_roots(
    roots: Arc<rustls::RootCertStore>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why the TLS client settings could not be made.
#[derive(Debug, thiserror::Error)]
enum TlsSetupError {
    /// The protocol versions could not be set.
    #[error("cannot set up TLS: {0}")]
    Protocols(rustls::Error),
    /// The system's certificate verifier could not be loaded.
    #[error("cannot load the system's certificate verifier: {0}")]
    Verifier(rustls::Error),
}
