//! [`RedisConnection`]: the one connection type every command and script
//! of the store goes through, whether to one Redis or to a cluster.

use ::redis::aio::{ConnectionLike, ConnectionManager};
use ::redis::{Cmd, Pipeline, RedisFuture, Value};

/// The connection of a [`RedisStore`](super::RedisStore) (see
/// [`RedisStore::connection`](super::RedisStore::connection)): a
/// redis-rs [`ConnectionLike`], so commands and scripts run on it as on
/// any redis-rs connection, to one Redis or (feature `redis-cluster`) to a
/// cluster. Clones share the underlying connection.
///
/// On a cluster, a command with keys goes to the node serving their slot;
/// a keyless one (`SCAN`, `DBSIZE`) goes to any node. To reach the node
/// holding a store's keys, route by one of them:
///
/// ```no_run
/// # #[cfg(feature = "redis-cluster")]
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
/// use twofa_verify::store::redis::RedisConnection;
///
/// let store = twofa_verify::RedisStore::connect_cluster(["redis://127.0.0.1:7000"]).await?;
/// if let RedisConnection::Cluster(mut conn) = store.connection() {
///     let node = Route::with_key(store.redis_key(""), SlotAddr::Master);
///     let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(node));
///     let mut scan = redis::cmd("SCAN");
///     scan.arg(0).arg("MATCH").arg(format!("{}*", store.redis_key("")));
///     let reply = conn.route_command(scan, routing).await?;
///     # let _ = reply;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum RedisConnection {
    /// One Redis server: a connection that reconnects by itself.
    Single(ConnectionManager),
    /// A Redis Cluster (feature `redis-cluster`): a connection to each of
    /// its primaries, commands routed by their keys' slot.
    #[cfg(feature = "redis-cluster")]
    Cluster(::redis::cluster_async::ClusterConnection),
    /// For the unit tests: records each command and fails it.
    #[cfg(test)]
    Recorder(std::sync::Arc<std::sync::Mutex<Vec<Vec<Vec<u8>>>>>),
}

impl RedisConnection {
    /// Whether this is a cluster connection.
    pub(super) fn is_cluster(&self) -> bool {
        match self {
            RedisConnection::Single(_) => false,
            #[cfg(feature = "redis-cluster")]
            RedisConnection::Cluster(_) => true,
            #[cfg(test)]
            RedisConnection::Recorder(_) => false,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
            #[cfg(test)]
            RedisConnection::Recorder(log) => {
                let args = cmd
                    .args_iter()
                    .map(|a| match a {
                        ::redis::Arg::Simple(b) => b.to_vec(),
                        _ => b"<cursor>".to_vec(),
                    })
                    .collect();
                if let Ok(mut log) = log.lock() {
                    log.push(args);
                }
                Box::pin(std::future::ready(Err(::redis::RedisError::from((
                    ::redis::ErrorKind::Client,
                    "recorded, not sent",
                )))))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(test)]
            RedisConnection::Recorder(_) => Box::pin(std::future::ready(Err(
                ::redis::RedisError::from((::redis::ErrorKind::Client, "no pipelines here")),
            ))),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            RedisConnection::Cluster(c) => c.get_db(),
            #[cfg(test)]
            RedisConnection::Recorder(_) => 0,
        }
    }
}
