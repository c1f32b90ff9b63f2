//! Source ownership: each source is polled by exactly one live node, the holder of its lease.
//!
//! A lease is a key in a JetStream KV bucket whose entries expire after the lease period
//! (`[cluster] lease`). A node acquires a source by creating its key (which fails while another
//! node holds it), keeps it by updating the key at the revision it last wrote (which fails once
//! another node has taken it), and gives it back by deleting it. A node that dies stops
//! renewing; its key expires within one lease period and the next node to try takes the source,
//! resuming from the cursor the store keeps.
//!
//! Renew every [`Leases::renew_every`] (a third of the period), so that two missed renewals do
//! not lose the lease.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use crate::{Cluster, ClusterError};

/// What a lease key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The source.
    pub source: String,
    /// The node holding it.
    pub node: String,
    /// When the node acquired it (ms since the Unix epoch).
    pub acquired_unix_ms: u64,
    /// When the node last renewed it (ms since the Unix epoch).
    pub renewed_unix_ms: u64,
}

/// A source held by this node. Renew it before the lease period ends; release it when done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    holder: LeaseHolder,
    key: String,
    revision: u64,
}

impl Lease {
    /// The source.
    pub fn source(&self) -> &str {
        &self.holder.source
    }

    /// The key's revision this node last wrote.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

/// The lease bucket.
#[derive(Debug, Clone)]
pub struct Leases {
    store: kv::Store,
    node: String,
    period: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A source name as a KV key: letters, digits, `-` and `_` kept, every other byte as `=XX`.
pub fn key_of(source: &str) -> String {
    let mut key = String::with_capacity(source.len());
    for b in source.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

impl Cluster {
    /// The lease bucket, created with the configured period if it does not exist.
    pub async fn leases(&self) -> Result<Leases, ClusterError> {
        self.leases_with_period(self.config.lease).await
    }

    /// The lease bucket with a given period (tests use short ones).
    pub async fn leases_with_period(&self, period: Duration) -> Result<Leases, ClusterError> {
        let bucket = format!("{}_leases", self.config.prefix.to_uppercase());
        // The bucket's stream, as the KV convention lays it out (async-nats' own bucket
        // creation first asks for account details in a form nats-server 2.9 does not send).
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(
                "Ballotwatch source leases: which node polls which source".to_string(),
            ),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age: period,
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: DiscardPolicy::New,
            ..Default::default()
        };
        self.js
            .create_or_update_stream(config)
            .await
            .map_err(|e| ClusterError::nats(format!("create bucket {bucket}"), e))?;
        let store = self
            .js
            .get_key_value(&bucket)
            .await
            .map_err(|e| ClusterError::nats(format!("open bucket {bucket}"), e))?;
        Ok(Leases {
            store,
            node: self.node.clone(),
            period,
        })
    }
}

impl Leases {
    /// The lease period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How often to renew: a third of the period.
    pub fn renew_every(&self) -> Duration {
        self.period / 3
    }

    /// Takes `source` if no live node holds it (or this node held it before a restart).
    /// `None` while another node holds it.
    #[tracing::instrument(skip(self), fields(node = %self.node))]
    pub async fn try_acquire(&self, source: &str) -> Result<Option<Lease>, ClusterError> {
        let key = key_of(source);
        let now = now_ms();
        let holder = LeaseHolder {
            source: source.to_string(),
            node: self.node.clone(),
            acquired_unix_ms: now,
            renewed_unix_ms: now,
        };
        let value = encode(&holder)?;
        match self.store.create(&key, value.clone()).await {
            Ok(revision) => {
                info!(source, "lease acquired");
                Ok(Some(Lease {
                    holder,
                    key,
                    revision,
                }))
            }
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                // Held: by this node before it restarted (take it back), or by another.
                let entry = self
                    .store
                    .entry(&key)
                    .await
                    .map_err(|e| ClusterError::nats("read lease", e))?;
                let Some(entry) = entry else {
                    return Ok(None);
                };
                match serde_json::from_slice::<LeaseHolder>(&entry.value) {
                    Ok(h) if h.node == self.node => {
                        match self.store.update(&key, value, entry.revision).await {
                            Ok(revision) => Ok(Some(Lease {
                                holder,
                                key,
                                revision,
                            })),
                            Err(_) => Ok(None),
                        }
                    }
                    _ => Ok(None),
                }
            }
            Err(e) => Err(ClusterError::nats(format!("acquire lease on {source}"), e)),
        }
    }

    /// Extends the lease by one period. [`ClusterError::LeaseLost`] when another node took it
    /// (this node was too late): stop polling the source.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), ClusterError> {
        let mut holder = lease.holder.clone();
        holder.renewed_unix_ms = now_ms();
        match self
            .store
            .update(&lease.key, encode(&holder)?, lease.revision)
            .await
        {
            Ok(revision) => {
                lease.revision = revision;
                lease.holder = holder;
                debug!(source = %lease.holder.source, "lease renewed");
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                Err(ClusterError::LeaseLost {
                    source_name: lease.holder.source.clone(),
                    detail: "another node holds it now".to_string(),
                })
            }
            Err(e) => Err(ClusterError::nats(
                format!("renew lease on {}", lease.holder.source),
                e,
            )),
        }
    }

    /// Gives the source back at once (on a clean shutdown), unless another node already holds it.
    pub async fn release(&self, lease: Lease) -> Result<(), ClusterError> {
        match self
            .store
            .delete_expect_revision(&lease.key, Some(lease.revision))
            .await
        {
            Ok(()) => {
                info!(source = %lease.holder.source, "lease released");
                Ok(())
            }
            Err(e) => {
                debug!(error = %e, source = %lease.holder.source, "lease not released: taken over");
                Ok(())
            }
        }
    }

    /// Who holds what, for the Sources page: every live lease, by source name.
    pub async fn holders(&self) -> Result<Vec<LeaseHolder>, ClusterError> {
        let keys: Vec<String> = match self.store.keys().await {
            Ok(keys) => keys
                .try_collect()
                .await
                .map_err(|e| ClusterError::nats("list leases", e))?,
            Err(e) => return Err(ClusterError::nats("list leases", e)),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = self
                .store
                .get(&key)
                .await
                .map_err(|e| ClusterError::nats("read lease", e))?
            {
                if let Ok(h) = serde_json::from_slice::<LeaseHolder>(&value) {
                    out.push(h);
                }
            }
        }
        out.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(out)
    }
}

fn encode(holder: &LeaseHolder) -> Result<bytes::Bytes, ClusterError> {
    serde_json::to_vec(holder)
        .map(Into::into)
        .map_err(|source| ClusterError::Encode {
            what: "lease",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_safe_characters_and_escape_the_rest() {
        assert_eq!(key_of("Anytown_Echo-2"), "Anytown_Echo-2");
        assert_eq!(key_of("Anytown Echo"), "Anytown=20Echo");
        assert_eq!(key_of("a.b*>"), "a=2Eb=2A=3E");
        assert_eq!(key_of("é"), "=C3=A9");
    }

    #[test]
    fn distinct_names_give_distinct_keys() {
        // `=` itself is escaped, so an escape can never be confused with a name.
        assert_ne!(key_of("a=20"), key_of("a "));
    }
}
