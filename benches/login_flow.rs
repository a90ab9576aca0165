//! Login-with-challenge round trip (password + TOTP code) on SQLite,
//! PostgreSQL and PostgreSQL users with Redis state against the same flow on
//! MemoryStore, in one run: the store's share of the cost (the time spent
//! inside the store calls over the whole flow's), and the number of store
//! calls per login and per verify (each one SQL statement in the SQL stores,
//! except SQLite's compound operations, one transaction; in Redis one
//! command or one script).
//!
//! `cargo bench --bench login_flow` (PostgreSQL is included when
//! `DATABASE_URL` is set, PostgreSQL + Redis when `REDIS_URL` is too);
//! `LOGIN_FLOW_DETAIL=1` also prints each operation's calls and mean time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use twofa_verify::clock::Clock;
use twofa_verify::clock::ManualClock;
use twofa_verify::store::{
    Admission, AttemptSpec, Counter, DeviceRecord, NewUser, Settlement, StateStore, StepAcceptance,
    StepOutcome, StoredSecret, UserRecord, UserStore,
};
use twofa_verify::{
    Authenticator, Login, MemoryStore, Result, StepUp, Timestamp, UserId, factor::totp_code,
};

/// Counts every store operation, and the time spent in them.
#[derive(Debug, Clone)]
struct Counting<S> {
    inner: S,
    ops: Arc<AtomicU64>,
    /// Nanoseconds spent waiting on the store, summed.
    busy: Arc<AtomicU64>,
    /// Calls and nanoseconds per operation.
    detail: Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, (u64, u64)>>>,
}

impl<S> Counting<S> {
    async fn timed<T>(&self, op: &'static str, call: impl std::future::Future<Output = T>) -> T {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let out = call.await;
        let spent = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(spent, Ordering::Relaxed);
        if let Ok(mut detail) = self.detail.lock() {
            let entry = detail.entry(op).or_default();
            entry.0 += 1;
            entry.1 += spent;
        }
        out
    }
}

#[async_trait]
impl<S: UserStore + Clone> UserStore for Counting<S> {
    async fn create_user(&self, u: NewUser) -> Result<UserRecord> {
        self.timed("create_user", self.inner.create_user(u)).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.timed("user_by_id", self.inner.user_by_id(id)).await
    }
    async fn user_by_username(&self, k: &str) -> Result<Option<UserRecord>> {
        self.timed("user_by_username", self.inner.user_by_username(k))
            .await
    }
    async fn user_by_email(&self, e: &str) -> Result<Option<UserRecord>> {
        self.timed("user_by_email", self.inner.user_by_email(e))
            .await
    }
    async fn set_password_hash(&self, id: UserId, h: &str) -> Result<bool> {
        self.timed("set_password_hash", self.inner.set_password_hash(id, h))
            .await
    }
    async fn replace_password_hash(&self, id: UserId, e: &str, h: &str) -> Result<bool> {
        self.timed(
            "replace_password_hash",
            self.inner.replace_password_hash(id, e, h),
        )
        .await
    }
    async fn update_profile(
        &self,
        id: UserId,
        u: &str,
        k: &str,
        s: Option<&str>,
        e: &str,
    ) -> Result<()> {
        self.timed("update_profile", self.inner.update_profile(id, u, k, s, e))
            .await
    }
    async fn set_phone(&self, id: UserId, p: Option<&str>) -> Result<()> {
        self.timed("set_phone", self.inner.set_phone(id, p)).await
    }
    async fn set_totp(&self, id: UserId, s: Option<&StoredSecret>) -> Result<()> {
        self.timed("set_totp", self.inner.set_totp(id, s)).await
    }
    async fn replace_recovery_codes(&self, id: UserId, h: &[[u8; 32]]) -> Result<()> {
        self.timed(
            "replace_recovery_codes",
            self.inner.replace_recovery_codes(id, h),
        )
        .await
    }
    async fn use_recovery_code(&self, id: UserId, h: &[u8; 32]) -> Result<bool> {
        self.timed("use_recovery_code", self.inner.use_recovery_code(id, h))
            .await
    }
    async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        self.timed("recovery_codes_left", self.inner.recovery_codes_left(id))
            .await
    }
    async fn bump_credential_generation(&self, id: UserId) -> Result<i64> {
        self.timed(
            "bump_credential_generation",
            self.inner.bump_credential_generation(id),
        )
        .await
    }
    async fn device_by_token(&self, h: &[u8; 32]) -> Result<Option<DeviceRecord>> {
        self.timed("device_by_token", self.inner.device_by_token(h))
            .await
    }
}

#[async_trait]
impl<S: StateStore + Clone> StateStore for Counting<S> {
    async fn put(&self, k: &str, v: &[u8], e: Timestamp) -> Result<()> {
        self.timed("put", self.inner.put(k, v, e)).await
    }
    async fn put_if_absent(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.timed("put_if_absent", self.inner.put_if_absent(k, v, e, n))
            .await
    }
    async fn put_if_present(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.timed("put_if_present", self.inner.put_if_present(k, v, e, n))
            .await
    }
    async fn release(&self, k: &str, n: Timestamp) -> Result<()> {
        self.timed("release", self.inner.release(k, n)).await
    }
    async fn get(&self, k: &str, n: Timestamp) -> Result<Option<Vec<u8>>> {
        self.timed("get", self.inner.get(k, n)).await
    }
    async fn take(&self, k: &str, n: Timestamp) -> Result<Option<Vec<u8>>> {
        self.timed("take", self.inner.take(k, n)).await
    }
    async fn delete(&self, k: &str) -> Result<()> {
        self.timed("delete", self.inner.delete(k)).await
    }
    async fn increment(&self, k: &str, t: Duration, x: bool, n: Timestamp) -> Result<Counter> {
        self.timed("increment", self.inner.increment(k, t, x, n))
            .await
    }
    async fn advance(&self, k: &str, v: i64, e: Timestamp, n: Timestamp) -> Result<bool> {
        self.timed("advance", self.inner.advance(k, v, e, n)).await
    }
    async fn reserve_attempt(&self, s: &AttemptSpec, n: Timestamp) -> Result<Admission> {
        self.timed("reserve_attempt", self.inner.reserve_attempt(s, n))
            .await
    }
    async fn settle_attempt(
        &self,
        s: &AttemptSpec,
        t: Settlement<'_>,
        n: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        self.timed("settle_attempt", self.inner.settle_attempt(s, t, n))
            .await
    }
    async fn reserve_attempt_and_accept_step(
        &self,
        s: &AttemptSpec,
        a: StepAcceptance<'_>,
        n: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        self.timed(
            "reserve_attempt_and_accept_step",
            self.inner.reserve_attempt_and_accept_step(s, a, n),
        )
        .await
    }
}

/// Untimed rounds before the timed ones, per store and pass.
const WARM_UP_ROUNDS: u32 = 10;

struct Row {
    name: &'static str,
    mean: Duration,
    /// The part of `mean` spent waiting on the store.
    store: Duration,
    login_ops: f64,
    verify_ops: f64,
}

async fn run<U: UserStore + Clone + 'static, S: StateStore + Clone + 'static>(
    name: &'static str,
    users: U,
    state: S,
    rounds: u32,
) -> Row {
    let ops = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let detail: Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, (u64, u64)>>> =
        Arc::default();
    let clock = ManualClock::starting_now();
    let auth = Authenticator::builder()
        .user_store(Counting {
            inner: users,
            ops: ops.clone(),
            busy: busy.clone(),
            detail: Arc::clone(&detail),
        })
        .state_store(Counting {
            inner: state,
            ops: ops.clone(),
            busy: busy.clone(),
            detail: Arc::clone(&detail),
        })
        .secret_key(
            twofa_verify::SecretKey::from_bytes(b"bench-secret-key-0123456789abcdef!!".to_vec())
                .unwrap(),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let pw = SecretString::from("correct horse battery");
    let user = format!("bench{}", rand::random::<u32>());
    let u = auth
        .register(&user, &format!("{user}@example.com"), &pw)
        .await
        .unwrap();
    let e = auth
        .start_totp_enrollment(u.id, &StepUp::password(pw.expose_secret()))
        .await
        .unwrap();
    let secret = data_encoding::BASE32_NOPAD
        .decode(e.secret_base32.expose_secret().as_bytes())
        .unwrap();
    let _enrolled = auth
        .confirm_totp_enrollment(
            u.id,
            &SecretString::from(totp_code(&secret, clock.now().as_secs() as u64, 30, 6).as_str()),
        )
        .await
        .unwrap();
    let (mut total, mut store, mut login_ops, mut verify_ops) =
        (Duration::ZERO, Duration::ZERO, 0, 0);
    // The first rounds are an untimed warm-up: the pool opens its
    // connections, the database prepares the statements and compiles the
    // functions once per connection; the timed rounds then see a running site.
    for round in 0..WARM_UP_ROUNDS + rounds {
        if round == WARM_UP_ROUNDS {
            (total, store, login_ops, verify_ops) = (Duration::ZERO, Duration::ZERO, 0, 0);
            if let Ok(mut detail) = detail.lock() {
                detail.clear();
            }
        }
        clock.advance(Duration::from_secs(30));
        let code = totp_code(&secret, clock.now().as_secs() as u64, 30, 6);
        let start = Instant::now();
        let before = ops.load(Ordering::Relaxed);
        let busy_before = busy.load(Ordering::Relaxed);
        let Login::SecondFactor(ch) = auth.login(&user, &pw).await.unwrap() else {
            panic!("expected 2FA")
        };
        let mid = ops.load(Ordering::Relaxed);
        auth.verify(ch.token(), &SecretString::from(code.as_str()))
            .await
            .unwrap();
        total += start.elapsed();
        store += Duration::from_nanos(busy.load(Ordering::Relaxed) - busy_before);
        login_ops += mid - before;
        verify_ops += ops.load(Ordering::Relaxed) - mid;
    }
    if std::env::var_os("LOGIN_FLOW_DETAIL").is_some()
        && let Ok(detail) = detail.lock()
    {
        for (op, (calls, nanos)) in detail.iter() {
            eprintln!(
                "{name:<10} {op:<34} {calls:>6} calls {:>9.1} µs each",
                *nanos as f64 / *calls as f64 / 1e3
            );
        }
    }
    Row {
        name,
        mean: total / rounds,
        store: store / rounds,
        login_ops: login_ops as f64 / f64::from(rounds),
        verify_ops: verify_ops as f64 / f64::from(rounds),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = 40;
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    // Interleave: memory, sqlite, (postgres), twice, and keep the better run of each.
    for _pass in 0..2 {
        let memory = MemoryStore::new();
        rows.push(run("memory", memory.clone(), memory, rounds).await);
        let sqlite = twofa_verify::SqliteStore::open(dir.path().join("bench.db").to_str().unwrap())
            .await
            .unwrap();
        rows.push(run("sqlite", sqlite.clone(), sqlite, rounds).await);
        #[cfg(feature = "postgres")]
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let schema = format!("twofa_bench_{:08x}", rand::random::<u32>());
            let pg = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap();
            rows.push(run("postgres", pg.clone(), pg.clone(), rounds).await);
            #[cfg(feature = "redis")]
            if let Ok(redis_url) = std::env::var("REDIS_URL") {
                let redis = twofa_verify::RedisStore::builder(&redis_url)
                    .prefix(format!("{schema}:"))
                    .connect()
                    .await
                    .unwrap();
                rows.push(run("pg+redis", pg.clone(), redis, rounds).await);
            }
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA \"{schema}\" CASCADE"
            )))
            .execute(pg.pool())
            .await;
        }
    }
    let best = |n: &str| rows.iter().filter(|r| r.name == n).min_by_key(|r| r.mean);
    let Some(mem) = best("memory") else { return };
    println!(
        "\n== login (password) + verify (TOTP) round trip, {rounds} rounds, best of 2 interleaved passes =="
    );
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>10} {:>14} {:>14}",
        "store",
        "mean ms",
        "store ms",
        "store share",
        "vs memory",
        "ops per login",
        "ops per verify"
    );
    for name in ["memory", "sqlite", "postgres", "pg+redis"] {
        if let Some(r) = best(name) {
            // The share is the time measured inside the store calls over
            // the whole flow's; "vs memory" is the older, noisier estimate
            // from the difference of two runs' means.
            let share = r.store.as_secs_f64() / r.mean.as_secs_f64();
            let vs_memory = 1.0 - mem.mean.as_secs_f64() / r.mean.as_secs_f64();
            println!(
                "{:<10} {:>10.2} {:>10.3} {:>11.1}% {:>9.1}% {:>14.1} {:>14.1}",
                r.name,
                r.mean.as_secs_f64() * 1e3,
                r.store.as_secs_f64() * 1e3,
                share * 100.0,
                vs_memory.max(0.0) * 100.0,
                r.login_ops,
                r.verify_ops
            );
        }
    }
}
