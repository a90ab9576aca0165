//! Shared by the flow tests that run on every store: a "site" of two app
//! instances over one store (memory, SQLite on one file, PostgreSQL with two
//! pools, PostgreSQL users with Redis state on two connections each, the same
//! with the state on a Redis Cluster), with a frozen clock, and a burst
//! runner.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Barrier;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::{
    AuthEvent, Authenticator, ConsoleSms, LocalCodes, MemoryStore, Policy, RateLimit,
    RequestContext, StepUp, User, UserId,
};

pub const GOOD: &str = "correct horse battery";
pub const BAD: &str = "wrong horse battery";
const KEY: &[u8] = b"burst-test-secret-key-0123456789abcdef";

pub fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Two app instances over one store, sharing a frozen clock, an SMS outbox
/// and an event recorder.
pub struct Site {
    pub instances: Vec<Authenticator>,
    pub sms: ConsoleSms,
    pub events: RecordingSink,
    pub clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
    // After the instances: their pools go first.
    _schema: Option<SchemaGuard>,
}

/// Drops the PostgreSQL schema a site made when the site goes: the tests
/// share one database, which would otherwise keep every run's schemas (and
/// their migrations, which a later change of a migration file would no
/// longer match).
pub struct SchemaGuard {
    url: String,
    schema: String,
}

impl SchemaGuard {
    /// Drops `schema` on the database at `url` when the guard goes.
    pub fn new(url: &str, schema: &str) -> Self {
        SchemaGuard {
            url: url.to_owned(),
            schema: schema.to_owned(),
        }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop cannot await, and may run on the test's runtime: a thread
        // with a runtime of its own does the dropping, waited for.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
                done.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("the test schema {} was not dropped", self.schema);
        }
    }
}

impl Site {
    /// Instance `i % 2`: bursts alternate between the two.
    pub fn at(&self, i: usize) -> &Authenticator {
        &self.instances[i % self.instances.len()]
    }

    pub async fn user(&self, name: &str) -> User {
        self.at(0)
            .register(name, &format!("{name}@example.com"), &pw(GOOD))
            .await
            .unwrap()
    }

    /// Turns on SMS for `user` with `phone`; returns the recovery codes.
    pub async fn with_sms(&self, user: &User, phone: &str) -> Vec<String> {
        self.at(0)
            .start_sms_enrollment(user.id, phone, &StepUp::password(GOOD))
            .await
            .unwrap();
        let code = self.sms.last_code_for(phone).unwrap();
        let codes = self
            .at(0)
            .confirm_sms_enrollment(user.id, &SecretString::from(code.as_str()))
            .await
            .unwrap()
            .recovery_codes
            .unwrap();
        codes.codes().iter().map(|c| c.to_string()).collect()
    }

    /// A step-up of `password` and an SMS code just sent to `phone`, the
    /// phone of `user`'s SMS factor.
    pub async fn sms_step_up(&self, user: UserId, password: &str, phone: &str) -> StepUp {
        self.at(0).send_step_up_code(user).await.unwrap();
        StepUp::new(password, self.sms.last_code_for(phone))
    }

    /// Turns on an authenticator app for `user` after `step_up`; returns
    /// its secret. The clock moves on a time step, so the enrollment's
    /// code is not the one a test sends next.
    pub async fn with_totp(&self, user: UserId, step_up: &StepUp) -> Vec<u8> {
        let e = self
            .at(0)
            .start_totp_enrollment(user, step_up)
            .await
            .unwrap();
        let secret = data_encoding::BASE32_NOPAD
            .decode(e.secret_base32.expose_secret().as_bytes())
            .unwrap();
        let code = self.totp_now(&secret);
        let _enrolled = self
            .at(1)
            .confirm_totp_enrollment(user, &SecretString::from(code.as_str()))
            .await
            .unwrap();
        self.clock.advance(Duration::from_secs(30));
        secret
    }

    /// The authenticator-app code of `secret` at the site's clock.
    pub fn totp_now(&self, secret: &[u8]) -> String {
        use twofa_verify::clock::Clock;
        let now = u64::try_from(self.clock.now().as_secs()).unwrap();
        twofa_verify::factor::totp_code(secret, now, 30, 6)
    }

    pub fn count(&self, pred: impl Fn(&AuthEvent) -> bool) -> usize {
        self.events.events().iter().filter(|e| pred(e)).count()
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Memory,
    Sqlite,
    Postgres,
    /// Users in PostgreSQL, state in Redis (`DATABASE_URL` and `REDIS_URL`).
    PostgresRedis,
    /// Users in PostgreSQL, state in a Redis Cluster (`DATABASE_URL` and
    /// `REDIS_CLUSTER_URLS`).
    PostgresRedisCluster,
}

pub const KINDS: [Kind; 5] = [
    Kind::Memory,
    Kind::Sqlite,
    Kind::Postgres,
    Kind::PostgresRedis,
    Kind::PostgresRedisCluster,
];

pub fn policy() -> Policy {
    let mut p = Policy::default();
    // SMS budgets out of the way unless a test is about them.
    p.sms_per_phone = RateLimit::new(10_000, Duration::from_secs(3600));
    p.sms_per_account = RateLimit::new(10_000, Duration::from_secs(3600));
    p.client_sms = RateLimit::new(10_000, Duration::from_secs(3600));
    p.sms_unverified_per_phone = RateLimit::new(10_000, Duration::from_secs(3600));
    p
}

fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())
}

fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// The node URLs in `REDIS_CLUSTER_URLS` (comma-separated), as
/// `scripts/test` sets them for the cluster it starts.
pub fn redis_cluster_urls() -> Option<Vec<String>> {
    let urls = std::env::var("REDIS_CLUSTER_URLS").ok()?;
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    (!urls.is_empty()).then_some(urls)
}

pub async fn site(kind: Kind, policy: Policy) -> Option<Site> {
    let sms = ConsoleSms::quiet();
    let events = RecordingSink::new();
    let clock = ManualClock::starting_now();
    let build = |store_users: Box<
        dyn FnOnce(twofa_verify::AuthenticatorBuilder) -> twofa_verify::AuthenticatorBuilder,
    >| {
        store_users(
            Authenticator::builder()
                .secret_key(twofa_verify::SecretKey::from_bytes(KEY.to_vec()).unwrap())
                .sms(LocalCodes::new(sms.clone()))
                .policy(policy.clone())
                .clock(clock.clone())
                .events(events.clone()),
        )
        .build()
        .unwrap()
    };
    let mut dir = None;
    let mut schema_guard = None;
    let instances = match kind {
        Kind::Memory => {
            let store = MemoryStore::new();
            (0..2)
                .map(|_| {
                    let s = store.clone();
                    build(Box::new(move |b| b.store(s)))
                })
                .collect()
        }
        Kind::Sqlite => {
            let d = tempfile::tempdir().unwrap();
            let path = d.path().join("app.db").to_str().unwrap().to_owned();
            let mut v = Vec::new();
            for _ in 0..2 {
                let s = twofa_verify::SqliteStore::open(&path).await.unwrap();
                v.push(build(Box::new(move |b| b.store(s))));
            }
            dir = Some(d);
            v
        }
        Kind::Postgres => {
            let Some(url) = database_url() else {
                eprintln!("SKIPPED: DATABASE_URL not set; PostgreSQL burst case did not run");
                return None;
            };
            let schema = format!("twofa_burst_{:016x}", rand::random::<u64>());
            schema_guard = Some(SchemaGuard::new(&url, &schema));
            let mut v = Vec::new();
            for _ in 0..2 {
                let s = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
                    .await
                    .unwrap();
                v.push(build(Box::new(move |b| b.store(s))));
            }
            v
        }
        Kind::PostgresRedis | Kind::PostgresRedisCluster => {
            let cluster = matches!(kind, Kind::PostgresRedisCluster);
            let redis = if cluster {
                redis_cluster_urls()
            } else {
                redis_url().map(|url| vec![url])
            };
            let (Some(db), Some(redis)) = (database_url(), redis) else {
                eprintln!(
                    "SKIPPED: DATABASE_URL or {} not set; PostgreSQL + Redis{} burst case \
                     did not run",
                    if cluster {
                        "REDIS_CLUSTER_URLS"
                    } else {
                        "REDIS_URL"
                    },
                    if cluster { " Cluster" } else { "" },
                );
                return None;
            };
            let schema = format!("twofa_burst_{:016x}", rand::random::<u64>());
            schema_guard = Some(SchemaGuard::new(&db, &schema));
            let prefix = format!("twofa_burst_{:016x}:", rand::random::<u64>());
            let mut v = Vec::new();
            for _ in 0..2 {
                let users = twofa_verify::PostgresStore::connect_with_schema(&db, &schema)
                    .await
                    .unwrap();
                let state = if cluster {
                    twofa_verify::RedisStore::cluster_builder(&redis)
                } else {
                    twofa_verify::RedisStore::builder(&redis[0])
                };
                let state = state.prefix(&prefix).connect().await.unwrap();
                v.push(build(Box::new(move |b| {
                    b.user_store(users).state_store(state)
                })));
            }
            v
        }
    };
    Some(Site {
        instances,
        sms,
        events,
        clock,
        _dir: dir,
        _schema: schema_guard,
    })
}

/// Runs `n` calls of `f(i)` on their own tasks, held at a barrier and
/// released together; returns their results in order.
pub async fn burst<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let gate = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let gate = gate.clone();
            let fut = f(i);
            tokio::spawn(async move {
                gate.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub fn client(last: u8) -> RequestContext {
    RequestContext::new().with_ip(IpAddr::from([198, 51, 100, last]))
}

/// Puts one entry in a Redis store, then races `n` takes of it across two
/// instances `a` and `b` (alternating), released together; returns how
/// many won.
pub async fn racing_takes(
    a: &twofa_verify::RedisStore,
    b: &twofa_verify::RedisStore,
    n: usize,
) -> usize {
    use twofa_verify::StateStore;
    use twofa_verify::conformance::{T0, at};
    a.put("challenge", b"x", at(60_000)).await.unwrap();
    let won = burst(n, |i| {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { s.take("challenge", T0).await.unwrap().is_some() }
    })
    .await;
    won.into_iter().filter(|&w| w).count()
}

/// Deletes every key under a Redis store's prefix (the Redis test files
/// clean up after themselves with it). On a cluster, the keys are all in
/// the prefix's slot: `SCAN` goes to the node serving it.
pub async fn clear_redis_prefix(store: &twofa_verify::store::redis::RedisStore) {
    let mut conn = store.connection();
    let pattern = format!("{}*", store.redis_key(""));
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, keys): (u64, Vec<String>) = scan_on_store_node(store, &mut conn, scan).await;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Runs the keyless `cmd` on the node holding `store`'s keys: on a single
/// Redis, that Redis; on a cluster, the primary serving the prefix's slot.
pub async fn scan_on_store_node<T: redis::FromRedisValue>(
    store: &twofa_verify::store::redis::RedisStore,
    conn: &mut twofa_verify::store::redis::RedisConnection,
    cmd: redis::Cmd,
) -> T {
    use twofa_verify::store::redis::RedisConnection;
    match conn {
        #[cfg(feature = "redis-cluster")]
        RedisConnection::Cluster(cluster) => {
            use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
            let node = Route::with_key(store.redis_key(""), SlotAddr::Master);
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(node));
            let reply = cluster.route_command(cmd, routing).await.unwrap();
            redis::from_redis_value(reply).unwrap()
        }
        _ => {
            let _ = store;
            cmd.query_async(conn).await.unwrap()
        }
    }
}

/// A self-signed CA that signed nothing: trusting it alone must refuse the
/// TLS test servers (`tests/store_redis_tls*.rs`).
pub const UNRELATED_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhDCCASugAwIBAgIUZj4NPTaCz9WgCv2/7TzgLZmRhzMwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdW5yZWxhdGVkIENBMCAXDTI2MTIwNDE1MTA0MFoYDzIxMjYx
MTEwMTUxMDQwWjAXMRUwEwYDVQQDDAx1bnJlbGF0ZWQgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQc3YaoSasw9XDTgj0J0ri4+JWRoqSmg5LGVJRebPLgvkRn
gFDO/8WzPijShEHf1grMeWb7J51ek74oJ/Wq/htao1MwUTAdBgNVHQ4EFgQUKsk+
oLzqY8MQIEeKkw5e70X+DRIwHwYDVR0jBBgwFoAUKsk+oLzqY8MQIEeKkw5e70X+
DRIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAV2bFDbTjb+1un
Gv3ovqPu27tqQQZt8vKsFuImoADCoAIgcjL7p6KFYtf2u+la8Om9JnPwbQNM7W6b
2HbTQV18S68=
-----END CERTIFICATE-----
";

/// An audit trail that locks the account the moment it records `kind`: the
/// operator's lock lands after a change was written and before its user is
/// read again for the new session stamp, the gap a concurrent
/// `Admin::lock` can fall in.
#[derive(Debug, Clone)]
pub struct LockOn {
    records: MemoryStore,
    kind: &'static str,
    auth: Arc<OnceLock<Authenticator>>,
}

impl LockOn {
    /// Keeps the records in `records`; locks through the authenticator
    /// `auth` holds once it is set (after the build that takes this).
    pub fn new(
        records: MemoryStore,
        kind: &'static str,
        auth: Arc<OnceLock<Authenticator>>,
    ) -> Self {
        LockOn {
            records,
            kind,
            auth,
        }
    }
}

#[async_trait::async_trait]
impl twofa_verify::store::AuditStore for LockOn {
    async fn append_audit(
        &self,
        record: &twofa_verify::store::NewAuditRecord,
    ) -> twofa_verify::Result<()> {
        twofa_verify::store::AuditStore::append_audit(&self.records, record).await?;
        if record.kind == self.kind
            && let Some(auth) = self.auth.get()
        {
            let op =
                twofa_verify::authenticator::Operator::new("jane", "account takeover suspected")
                    .unwrap();
            auth.admin().lock(record.user, &op).await?;
        }
        Ok(())
    }

    async fn audit_for_user(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> twofa_verify::Result<Vec<twofa_verify::store::AuditRecord>> {
        twofa_verify::store::AuditStore::audit_for_user(&self.records, user, before, limit).await
    }

    async fn prune_audit(&self, older_than: twofa_verify::Timestamp) -> twofa_verify::Result<u64> {
        twofa_verify::store::AuditStore::prune_audit(&self.records, older_than).await
    }
}
