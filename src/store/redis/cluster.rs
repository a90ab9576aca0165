//! Redis Cluster connections (feature `redis-cluster`): see [the
//! module](super#redis-cluster-feature-redis-cluster) for how keys are
//! tagged and why.

use std::time::Duration;

use ::redis::ConnectionInfo;
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;

use crate::error::{Error, Result};

/// Connects to the cluster that `nodes` belong to; returns the connection
/// and the nodes' addresses (for `Debug`).
///
/// No retries: redis-rs's cluster connection would otherwise send a
/// command again after a dropped connection, when a script may already
/// have run (a counter counted twice, a release made twice). Without
/// them, a call caught by a failover or a `MOVED` fails (`Error::Store`)
/// and the connection re-reads the slots for the next one.
pub(super) async fn connect(
    nodes: Vec<ConnectionInfo>,
    timeout: Duration,
    #[cfg(feature = "redis-tls")] certificates: Option<::redis::TlsCertificates>,
) -> Result<(ClusterConnection, String)> {
    if nodes.is_empty() {
        return Err(Error::Config(
            "a Redis Cluster store needs at least one node URL".into(),
        ));
    }
    let addr = nodes
        .iter()
        .map(|n| n.addr().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(0);
    #[cfg(feature = "redis-tls")]
    let builder = match certificates {
        Some(certificates) => builder.certs(certificates),
        None => builder,
    };
    let client = builder.build().map_err(Error::store)?;
    let conn = client.get_async_connection().await.map_err(Error::store)?;
    Ok((conn, addr))
}
