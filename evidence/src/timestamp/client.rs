//! [`TsaClient`]: the configured TSAs, their trusted roots and one HTTP client, for callers
//! (the pipeline's timestamp task) that timestamp hashes again and again.

use std::path::Path;
use std::time::Duration;

use super::{timestamp_with_any, Result, Timestamp, TimestampError, TrustRoots, VerifiedTimestamp};

/// How long one TSA may take to answer before the next one is asked.
pub const TSA_TIMEOUT: Duration = Duration::from_secs(30);

/// The TSAs to ask, in order, and the roots their tokens must chain to.
#[derive(Debug, Clone)]
pub struct TsaClient {
    client: reqwest::Client,
    urls: Vec<String>,
    roots: TrustRoots,
    timeout: Duration,
}

impl TsaClient {
    /// A client for `urls`, trusting the root certificates in the PEM files `roots`.
    pub fn new<P: AsRef<Path>>(urls: &[String], roots: &[P]) -> Result<TsaClient> {
        let roots = TrustRoots::from_pem_files(roots)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("ballotwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TimestampError::Client(e.to_string()))?;
        Ok(TsaClient {
            client,
            urls: urls.to_vec(),
            roots,
            timeout: TSA_TIMEOUT,
        })
    }

    /// The same client with another per-TSA timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> TsaClient {
        self.timeout = timeout;
        self
    }

    /// The TSA URLs, in the order they are asked.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The trusted roots.
    pub fn roots(&self) -> &TrustRoots {
        &self.roots
    }

    /// A verified token for `sha256` from the first TSA that gives one
    /// ([`timestamp_with_any`]).
    pub async fn stamp(&self, sha256: &[u8; 32]) -> Result<(Timestamp, VerifiedTimestamp)> {
        timestamp_with_any(&self.client, &self.urls, sha256, self.timeout, &self.roots).await
    }
}
