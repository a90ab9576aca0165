//! [`RedisStore`] (feature `redis`): a [`StateStore`] in Redis, for the
//! short-lived state of many app instances at scale, next to a SQL
//! [`UserStore`](crate::store::UserStore) for the users.
//!
//! # The client: `redis` (redis-rs)
//!
//! Built on the [`redis`] crate with only its `tokio-comp`,
//! `connection-manager` and `script` features, rather than `fred`:
//!
//! - maintenance: redis-rs is the Redis organisation's Rust client, with
//!   many contributors (1.8.0 and 1.8.1 both shipped in October 2026);
//!   `fred` is essentially one maintainer's;
//! - the async API is what the store needs and no more: a
//!   [`ConnectionManager`] multiplexes every call of every clone over one
//!   connection and, when it drops, reconnects in the background with
//!   exponential back-off, failing the calls caught in between (never
//!   retrying a write behind the caller's back);
//! - scripts: [`redis::Script`] sends `EVALSHA` and falls back to loading the
//!   script when the server answers `NOSCRIPT` (first use, restart,
//!   `SCRIPT FLUSH`);
//! - weight: with default features off it adds 12 small crates to the
//!   library's default build (`combine`, `arc-swap`, `backon`, `sha1_smol`,
//!   `tokio-util`, ...); `fred` always brings `futures`, `parking_lot`,
//!   `redis-protocol` with `nom`, a proc-macro crate and more.
//!
//! # What each operation sends
//!
//! Every operation is one Redis command or one Lua script, so it is atomic
//! across every instance sharing the Redis:
//!
//! | operation | Redis |
//! | --- | --- |
//! | `put` | `SET key entry PX retention` |
//! | `get` | `GET key` (expiry checked against `now` here) |
//! | `take` | `GETDEL key` (expiry checked against `now` here) |
//! | `delete` | `DEL key` |
//! | `put_if_absent`, `increment`, `release`, `advance` | one script each |
//! | `reserve_attempt`, `settle_attempt`, `reserve_attempt_and_accept_step`, `reserve_attempt_and_check_step` | one script each, over the same primitives (several keys) |
//!
//! # Time
//!
//! The library's clock is injectable (tests freeze it far from the wall
//! clock), so Redis's own expiry cannot decide what is live. As in the SQL
//! stores, each entry carries its expiry (the caller's time) and every read
//! compares it with the caller's `now`. Redis additionally expires each key
//! (`PX`) once it is surely dead: its time left plus a grace period
//! ([`RedisStoreBuilder::gc_grace`], one hour by default), so memory does not
//! grow with expired entries. The time left is measured from the caller's
//! `now`, or from the wall clock for `put`, which is given none.
//!
//! Needs Redis 6.2 or later (`GETDEL`, `KEEPTTL`), or Valkey.
//!
//! # TLS (`rediss://`, feature `redis-tls`)
//!
//! With feature `redis-tls`, a `rediss://` (or `valkeys://`) URL connects
//! over TLS by rustls (redis-rs's `tokio-rustls-comp`; no OpenSSL). The
//! server's certificate must chain to the system's roots, or to the CA
//! given to [`RedisStoreBuilder::root_certificates_pem`] (a private CA, as
//! managed Redis services and `redis-server --tls-port` setups use), and
//! name the URL's host. There is no way to turn the check off: redis-rs's
//! `#insecure` URL fragment is refused at connect (its `tls-rustls-insecure`
//! feature is not enabled).
//!
//! As for the `twilio` feature, the library picks no crypto provider: the
//! app installs rustls's process-wide one once at start-up, before
//! connecting, and [`RedisStoreBuilder::connect`] is an `Error::Config`
//! when it has not:
//!
//! ```no_run
//! # async fn f() -> twofa_verify::Result<()> {
//! // rustls 0.23 with its `aws-lc-rs` feature (or `ring`) in the app's Cargo.toml.
//! let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
//! let ca = std::fs::read("/etc/redis/ca.pem").map_err(twofa_verify::Error::store)?;
//! let store = twofa_verify::RedisStore::builder("rediss://:password@cache.internal:6380")
//!     .root_certificates_pem(ca)
//!     .connect()
//!     .await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! Without the feature, a `rediss://` URL is an `Error::Config` saying so.
//!
//! # Redis Cluster (feature `redis-cluster`)
//!
//! With feature `redis-cluster`, [`RedisStore::cluster_builder`] (or
//! [`RedisStore::connect_cluster`]) connects to a Redis Cluster through
//! redis-rs's `cluster_async::ClusterConnection`, given one or more of its
//! nodes (it finds the others):
//!
//! ```no_run
//! # #[cfg(feature = "redis-cluster")]
//! # async fn f() -> twofa_verify::Result<()> {
//! let store = twofa_verify::RedisStore::cluster_builder([
//!     "redis://:password@10.0.0.1:7000",
//!     "redis://:password@10.0.0.2:7000",
//! ])
//! .prefix("shop:")
//! .connect()
//! .await?;
//! assert_eq!(store.redis_key("k"), "{shop:}k");
//! # Ok(()) }
//! ```
//!
//! A script runs on one node, so Redis Cluster refuses one whose keys lie
//! in several hash slots. The compound scripts touch keys of several
//! entities at once, and not always the same ones:
//!
//! | script | keys |
//! | --- | --- |
//! | `put_if_absent`, `put_if_present`, `increment`, `release`, `advance` | the one entry |
//! | `reserve` | a lockout's gate, counter and gate count (of an account, an email, a device or an unknown name), then its budgets: a client network's failure counters, shared by every account that client tries, or a pending login's answer count |
//! | `settle` | `reserve`'s keys, then the pending login it takes or stores |
//! | `reserve_and_accept_step` | `reserve`'s keys, the account's last TOTP step, the pending login |
//! | `reserve_and_check_step` | `reserve`'s keys, the account's last TOTP step |
//!
//! No tag per account would do: a client's failure counters count that
//! client's attempts on *every* account, so tagging them by account would
//! give the client one budget per account it tries, which is what the
//! budget is there to prevent. So a cluster store tags every key with its
//! whole prefix: the Redis key of state key `k` is `{prefix}k` (see
//! [`RedisStore::redis_key`]), and **all of a store's keys live in one
//! slot: the cluster gives failover, not sharding.** One primary (and its
//! replicas) holds all of the store's state and takes all of its traffic;
//! stores with other prefixes (other applications) may land on other
//! primaries. A standalone store's keys stay `prefixk`, untagged, as
//! before; moving between a standalone Redis and a cluster starts from
//! empty state (logins in progress start again, counters start from zero),
//! as any move to a new Redis does. A cluster store's prefix may not hold
//! `{` or `}`, so the tag is exactly the prefix.
//!
//! Failover is closed, as a lost standalone server is: the connection does
//! not retry a command (`retries(0)`), so the calls caught by a failover,
//! a `MOVED` or a dropped connection fail with `Error::Store` while the
//! connection re-reads the cluster's layout in the background, and no
//! write is ever sent twice (a script whose reply was lost might have run).
//!
//! With feature `redis-tls` too, `rediss://` nodes connect over TLS as [a
//! single server does](crate::store::redis#tls-rediss-feature-redis-tls),
//! trusting the CA given to [`RedisStoreBuilder::root_certificates_pem`] or
//! the system's roots; all the nodes must be `rediss://`.

mod attempt;
#[cfg(feature = "redis-cluster")]
mod cluster;
mod codec;
mod connection;
mod scripts;
#[cfg(feature = "redis-tls")]
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{IntoConnectionInfo, Script};
use async_trait::async_trait;
pub use connection::RedisConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::error::{Error, Result};
use crate::store::{
    Admission, AttemptSpec, Counter, Settlement, StateStore, StepAcceptance, StepOutcome,
};
use scripts::Scripts;

/// The key prefix unless [`RedisStoreBuilder::prefix`] says otherwise (see
/// its example).
pub const DEFAULT_PREFIX: &str = "twofa:";
/// Longest key prefix accepted.
const MAX_PREFIX: usize = 64;
const DEFAULT_GC_GRACE: Duration = Duration::from_secs(3600);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection attempts before the calls waiting on them fail.
const RECONNECT_RETRIES: usize = 4;
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// A [`StateStore`] in Redis: pending logins, rate-limit counters,
/// single-use markers, TOTP steps and (with feature `axum`) web sessions,
/// shared by every app instance that connects to the same Redis with the
/// same key prefix. Users stay in a SQL store:
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn demo() -> twofa_verify::Result<()> {
/// use twofa_verify::{Authenticator, PostgresStore, RedisStore};
///
/// let users = PostgresStore::connect("postgres://app@db.internal/app").await?;
/// let state = RedisStore::connect("redis://cache.internal:6379").await?;
/// let auth = Authenticator::builder()
///     .user_store(users)
///     .state_store(state)
///     .secret_key(twofa_verify::SecretKey::from_env("APP_SECRET_KEY")?)
///     .build()?;
/// # let _ = auth; Ok(()) }
/// ```
///
/// Clones share one multiplexed connection, re-established in the
/// background when it drops. Every failure (no connection, timeout, an
/// error reply) is an [`Error::Store`], which never lets anyone in. `Debug`
/// shows the address, database and prefix, never the URL's password.
///
/// See [the module](self) for what each operation sends and how expiry works.
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    shared: Arc<Shared>,
}

/// What the clones of a store share besides the connection.
struct Shared {
    prefix: String,
    /// What every Redis key starts with: the prefix, or on a cluster the
    /// prefix as a hash tag (`{prefix}`, see [the module](crate::store::redis#redis-cluster-feature-redis-cluster)).
    head: String,
    gc_grace: Duration,
    /// `host:port` or the socket path (on a cluster, the nodes given), for
    /// `Debug`.
    addr: String,
    db: i64,
    scripts: Scripts,
}

impl Shared {
    fn new(prefix: String, cluster: bool, gc_grace: Duration, addr: String, db: i64) -> Self {
        let head = if cluster {
            format!("{{{prefix}}}")
        } else {
            prefix.clone()
        };
        Shared {
            prefix,
            head,
            gc_grace,
            addr,
            db,
            scripts: Scripts::new(),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.shared.addr)
            .field("db", &self.shared.db)
            .field("prefix", &self.shared.prefix)
            .field("cluster", &self.conn.is_cluster())
            .field("gc_grace", &self.shared.gc_grace)
            .finish()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[:password@]host[:port][/db]`,
    /// `redis+unix:///path`, with feature `redis-tls` also
    /// [`rediss://`](self#tls-rediss-feature-redis-tls)) with the default settings: key prefix
    /// [`DEFAULT_PREFIX`], one hour of [GC grace](RedisStoreBuilder::gc_grace),
    /// 3 s timeouts. An unreachable server is an `Error::Store`. See the
    /// [`RedisStore`] example.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// A builder for other settings (see the [`RedisStoreBuilder::prefix`]
    /// example).
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Target::Single(SecretString::from(url.to_owned())))
    }

    /// Connects to the Redis Cluster that `nodes` belong to (`redis://`
    /// URLs of one or more of its nodes, with the same password if any)
    /// with the default settings, as [`connect`](Self::connect) does. Every
    /// key is tagged with the prefix: see [the
    /// module](crate::store::redis#redis-cluster-feature-redis-cluster) for what that
    /// means, and for an example.
    #[cfg(feature = "redis-cluster")]
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::cluster_builder(nodes).connect().await
    }

    /// A builder for a store on the Redis Cluster that `nodes` belong to
    /// (see [`connect_cluster`](Self::connect_cluster)); the settings are
    /// those of [`builder`](Self::builder), and the prefix may not hold `{`
    /// or `}`. An empty list is an `Error::Config` at `connect`. See [the
    /// module](crate::store::redis#redis-cluster-feature-redis-cluster) for an example.
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes
            .into_iter()
            .map(|n| SecretString::from(n.as_ref().to_owned()))
            .collect();
        RedisStoreBuilder::new(Target::Cluster(nodes))
    }

    /// The prefix of every key this store writes (see the
    /// [`RedisStoreBuilder::prefix`] example).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The Redis key under which this store keeps the state key `key`: the
    /// prefix then `key` (`twofa:k`) on a single Redis, the prefix as a
    /// hash tag then `key` (`{twofa:}k`) on a cluster (see [the
    /// module](crate::store::redis#redis-cluster-feature-redis-cluster)).
    ///
    /// ```no_run
    /// # async fn f() -> twofa_verify::Result<()> {
    /// let store = twofa_verify::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.redis_key("k"), "twofa:k");
    /// # Ok(()) }
    /// ```
    pub fn redis_key(&self, key: &str) -> String {
        self.key(key)
    }

    /// The underlying connection (shared with the store), for an
    /// application that wants to use it too, or to inspect the keys. On a
    /// cluster, keyless commands such as `SCAN` go to any node: route them
    /// to the store's slot (see [`RedisConnection`]).
    ///
    /// ```no_run
    /// use twofa_verify::RedisStore;
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let mut conn = store.connection();
    /// // The first keys of this store (SCAN: never blocks the server as KEYS would).
    /// let (_cursor, keys): (u64, Vec<String>) = redis::cmd("SCAN")
    ///     .arg(0)
    ///     .arg("MATCH")
    ///     .arg(format!("{}*", store.prefix()))
    ///     .arg("COUNT")
    ///     .arg(100)
    ///     .query_async(&mut conn)
    ///     .await?;
    /// # let _ = keys;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    /// The Redis key of the state key `key`.
    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.shared.head.len() + key.len());
        k.push_str(&self.shared.head);
        k.push_str(key);
        k
    }

    fn retention(&self, expires_at: Timestamp, reference: Timestamp) -> u64 {
        codec::retention_ms(expires_at, reference, self.shared.gc_grace)
    }

    /// `put_if_absent` or `put_if_present`: the same arguments to either
    /// script (now, expiry, value, retention); true if it wrote.
    async fn conditional_put(
        &self,
        script: &Script,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let written: i64 = self
            .run(
                script
                    .key(self.key(key))
                    .arg(codec::sortable(now.as_millis()))
                    .arg(codec::sortable(expires_at.as_millis()))
                    .arg(value)
                    .arg(self.retention(expires_at, now)),
            )
            .await?;
        Ok(written == 1)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        cmd.query_async(&mut self.conn.clone())
            .await
            .map_err(Error::store)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Error::store)
    }
}

/// Settings of a [`RedisStore`], checked by [`connect`](Self::connect) (see
/// [`prefix`](Self::prefix)'s example).
///
/// `Debug` leaves out the URL (it may hold a password).
pub struct RedisStoreBuilder {
    target: Target,
    prefix: String,
    gc_grace: Duration,
    timeout: Duration,
    /// PEM CA certificates trusted instead of the system's roots.
    #[cfg(feature = "redis-tls")]
    root_certificates: Option<Vec<u8>>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("gc_grace", &self.gc_grace)
            .field("timeout", &self.timeout)
            .field("custom_root_certificates", &self.has_root_certificates())
            .field("cluster", &matches!(self.target, Target::Cluster(_)))
            .finish_non_exhaustive()
    }
}

/// What a builder connects to.
enum Target {
    /// One Redis, by its URL.
    Single(SecretString),
    /// A Redis Cluster, by the URLs of some of its nodes.
    #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
    Cluster(Vec<SecretString>),
}

impl RedisStoreBuilder {
    fn new(target: Target) -> Self {
        RedisStoreBuilder {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            gc_grace: DEFAULT_GC_GRACE,
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "redis-tls")]
            root_certificates: None,
        }
    }

    /// The prefix of every key (default [`DEFAULT_PREFIX`]), so that several
    /// applications, deployments or test runs share one Redis without
    /// colliding; every instance of one application must use the same.
    /// 1 to 64 printable ASCII characters, no space.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use twofa_verify::RedisStore;
    /// # async fn f() -> twofa_verify::Result<()> {
    /// let store = RedisStore::builder("redis://cache.internal:6379/2")
    ///     .prefix("shop:twofa:")
    ///     .gc_grace(Duration::from_secs(600))
    ///     .timeout(Duration::from_millis(500))
    ///     .connect()
    ///     .await?;
    /// assert_eq!(store.prefix(), "shop:twofa:");
    /// # Ok(())
    /// # }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long Redis keeps an entry after it expired (default one hour,
    /// at least one second). Expiry itself follows the caller's clock; this
    /// only bounds memory, and must exceed the clock skew between instances.
    /// See the [`prefix`](Self::prefix) example.
    pub fn gc_grace(mut self, grace: Duration) -> Self {
        self.gc_grace = grace;
        self
    }

    /// How long connecting, and each command, may take before it fails with
    /// `Error::Store` (default 3 s, at least 1 ms). See the
    /// [`prefix`](Self::prefix) example.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the CA certificates in `pem` (one or more `BEGIN CERTIFICATE`
    /// blocks), and only them, to sign a `rediss://` server's certificate,
    /// instead of the system's roots. `connect` is an `Error::Config` if
    /// `pem` holds no certificate or a malformed one, or if the URL is not
    /// `rediss://`. The app installs a rustls crypto provider first (see
    /// [the module](crate::store::redis#tls-rediss-feature-redis-tls)):
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    /// let store = twofa_verify::RedisStore::builder("rediss://cache.internal:6380")
    ///     .root_certificates_pem(std::fs::read("/etc/redis/ca.pem")?)
    ///     .connect()
    ///     .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    #[cfg(feature = "redis-tls")]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates = Some(pem.into());
        self
    }

    fn has_root_certificates(&self) -> bool {
        #[cfg(feature = "redis-tls")]
        return self.root_certificates.is_some();
        #[cfg(not(feature = "redis-tls"))]
        false
    }

    /// Checks the settings (`Error::Config`, also for a `rediss://` URL
    /// without feature `redis-tls` or without a rustls crypto provider),
    /// then connects (`Error::Store` if the URL is malformed or the server
    /// unreachable or, over TLS, its certificate is not trusted). See the
    /// [`prefix`](Self::prefix) example.
    pub async fn connect(self) -> Result<RedisStore> {
        let prefix_ok = (1..=MAX_PREFIX).contains(&self.prefix.len())
            && self.prefix.bytes().all(|b| b.is_ascii_graphic());
        if !prefix_ok {
            return Err(Error::Config(
                "Redis key prefix must be 1 to 64 printable ASCII characters, no space".into(),
            ));
        }
        if self.gc_grace < Duration::from_secs(1) {
            return Err(Error::Config("Redis GC grace must be at least 1 s".into()));
        }
        if self.timeout < Duration::from_millis(1) {
            return Err(Error::Config("Redis timeout must be at least 1 ms".into()));
        }
        match &self.target {
            Target::Single(url) => {
                let client = self.client(url)?;
                let info = client.get_connection_info();
                let addr = info.addr().to_string();
                let db = info.redis_settings().db();
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(Error::store)?;
                Ok(self.store(RedisConnection::Single(conn), addr, db))
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => {
                if self.prefix.contains(['{', '}']) {
                    return Err(Error::Config(
                        "a Redis Cluster store's key prefix may not hold `{` or `}` \
                         (it is the keys' hash tag)"
                            .into(),
                    ));
                }
                let infos = nodes
                    .iter()
                    .map(|url| self.connection_info(url))
                    .collect::<Result<Vec<_>>>()?;
                let tls = infos
                    .iter()
                    .any(|i| matches!(i.addr(), redis::ConnectionAddr::TcpTls { .. }));
                if self.has_root_certificates() && !tls {
                    return Err(Error::Config(
                        "Redis root certificates are given but the URLs are not rediss://".into(),
                    ));
                }
                #[cfg(feature = "redis-tls")]
                let certificates = if tls {
                    // redis-rs refuses `#insecure` for one server, but would
                    // take it for a cluster without checking host names.
                    if infos.iter().any(|i| {
                        matches!(
                            i.addr(),
                            redis::ConnectionAddr::TcpTls { insecure: true, .. }
                        )
                    }) {
                        return Err(Error::Config(
                            "`#insecure` Redis URLs are refused: certificates are always checked"
                                .into(),
                        ));
                    }
                    tls::certificates(self.root_certificates.as_deref())?
                } else {
                    None
                };
                let (conn, addr) = cluster::connect(
                    infos,
                    self.timeout,
                    #[cfg(feature = "redis-tls")]
                    certificates,
                )
                .await?;
                Ok(self.store(RedisConnection::Cluster(conn), addr, 0))
            }
            #[cfg(not(feature = "redis-cluster"))]
            Target::Cluster(_) => Err(Error::Config(
                "a Redis Cluster needs twofa-verify's `redis-cluster` feature".into(),
            )),
        }
    }

    fn store(self, conn: RedisConnection, addr: String, db: i64) -> RedisStore {
        let cluster = conn.is_cluster();
        RedisStore {
            conn,
            shared: Arc::new(Shared::new(self.prefix, cluster, self.gc_grace, addr, db)),
        }
    }
}

impl RedisStoreBuilder {
    /// The address in `url`, after the checks redis-rs would make
    /// unhelpfully or not at all.
    fn connection_info(&self, url: &SecretString) -> Result<redis::ConnectionInfo> {
        let url = url.expose_secret();
        // Before redis-rs parses it: without its TLS feature it refuses
        // `rediss://` with a message naming its own features, not ours.
        #[cfg(not(feature = "redis-tls"))]
        if is_tls_url(url) {
            return Err(Error::Config(
                "a rediss:// Redis URL needs twofa-verify's `redis-tls` feature".into(),
            ));
        }
        url.into_connection_info().map_err(Error::store)
    }

    /// The redis-rs client for the URL, over TLS when it says `rediss://`.
    fn client(&self, url: &SecretString) -> Result<redis::Client> {
        let info = self.connection_info(url)?;
        #[cfg(feature = "redis-tls")]
        if matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            return tls::client(info, self.root_certificates.as_deref());
        }
        if self.has_root_certificates() {
            return Err(Error::Config(
                "Redis root certificates are given but the URL is not rediss://".into(),
            ));
        }
        redis::Client::open(info).map_err(Error::store)
    }
}

#[async_trait]
impl StateStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        let retention = self.retention(expires_at, SystemClock.now());
        self.query::<()>(
            redis::cmd("SET")
                .arg(self.key(key))
                .arg(codec::entry(expires_at, value))
                .arg("PX")
                .arg(retention),
        )
        .await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let script = &self.shared.scripts.put_if_absent;
        self.conditional_put(script, key, value, expires_at, now)
            .await
    }

    async fn put_if_present(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let script = &self.shared.scripts.put_if_present;
        self.conditional_put(script, key, value, expires_at, now)
            .await
    }

    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        let entry: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(self.key(key))).await?;
        live_value(entry, now)
    }

    async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        // Removes the entry whether live or expired; only a live one is returned.
        let entry: Option<Vec<u8>> = self.query(redis::cmd("GETDEL").arg(self.key(key))).await?;
        live_value(entry, now)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.query::<()>(redis::cmd("DEL").arg(self.key(key))).await
    }

    async fn increment(
        &self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        let fresh = now.plus(ttl);
        let (count, expires_at): (u64, Vec<u8>) = self
            .run(
                self.shared
                    .scripts
                    .increment
                    .key(self.key(key))
                    .arg(codec::sortable(now.as_millis()))
                    .arg(codec::sortable(fresh.as_millis()))
                    .arg(if extend { "1" } else { "0" })
                    .arg(self.retention(fresh, now)),
            )
            .await?;
        let expires_at = codec::from_sortable(&expires_at)
            .ok_or_else(|| Error::store("malformed counter expiry from Redis"))?;
        Ok(Counter {
            count,
            expires_at: Timestamp::from_millis(expires_at),
        })
    }

    async fn release(&self, key: &str, now: Timestamp) -> Result<()> {
        self.run::<i64>(
            self.shared
                .scripts
                .release
                .key(self.key(key))
                .arg(codec::sortable(now.as_millis())),
        )
        .await?;
        Ok(())
    }

    async fn advance(
        &self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let written: i64 = self
            .run(
                self.shared
                    .scripts
                    .advance
                    .key(self.key(key))
                    .arg(codec::sortable(now.as_millis()))
                    .arg(codec::sortable(value))
                    .arg(codec::sortable(expires_at.as_millis()))
                    .arg(self.retention(expires_at, now)),
            )
            .await?;
        Ok(written == 1)
    }

    async fn reserve_attempt(&self, spec: &AttemptSpec, now: Timestamp) -> Result<Admission> {
        self.redis_reserve_attempt(spec, now).await
    }

    async fn settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        self.redis_settle_attempt(spec, settlement, now).await
    }

    async fn reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        self.redis_reserve_attempt_and_accept_step(spec, step, now)
            .await
    }

    async fn reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: crate::store::StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        self.redis_reserve_attempt_and_check_step(spec, step, now)
            .await
    }
}

/// Whether `url` asks for TLS (`rediss://`, `valkeys://`).
#[cfg(not(feature = "redis-tls"))]
fn is_tls_url(url: &str) -> bool {
    ["rediss:", "valkeys:"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    })
}

/// The value of an entry read from Redis, if it is live at `now`.
fn live_value(entry: Option<Vec<u8>>, now: Timestamp) -> Result<Option<Vec<u8>>> {
    match entry {
        None => Ok(None),
        Some(entry) => Ok(codec::live_body(&entry, now)?.map(<[u8]>::to_vec)),
    }
}

#[cfg(test)]
mod tests;
