//! Cluster mode against a real nats-server: one server for the test binary (each test keeps to
//! its own prefix), and one of its own for the test that stops and restarts it.

mod index_feed;
mod lease;
mod restart;
mod work;

use ballotwatch_cluster::testing::NatsServer;
use ballotwatch_cluster::ClusterConfig;

/// A `[cluster]` on the shared server under `prefix`, as node `node`.
pub fn shared(prefix: &str, node: &str) -> ClusterConfig {
    match NatsServer::shared() {
        Ok(server) => server.config(prefix, node),
        Err(e) => panic!("cannot start nats-server: {e}"),
    }
}
