//! `RedisStore`: the state-store conformance suite, each test under its own
//! random key prefix (its keys deleted afterwards), plus Redis-specific
//! checks: TTLs for garbage collection, prefixes, two instances, malformed
//! entries, script reloading, failures that must close. (PostgreSQL users
//! with Redis state, as an app pairs them, run in `tests/bursts.rs` and
//! `tests/sessions.rs`.)
//! Needs `REDIS_URL`, e.g. `REDIS_URL=redis://127.0.0.1:6379`; without it
//! every test prints a loud SKIPPED line and passes.
#![cfg(all(feature = "redis", feature = "test-util"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use twofa_verify::conformance as support;
use twofa_verify::store::redis::DEFAULT_PREFIX;
use twofa_verify::store::{RedisStore, StateStore};
use twofa_verify::{Error, Result};

use support::{T0, at};

mod harness;
use harness::clear_redis_prefix as clear;

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Straight to stderr, so the harness's capture cannot hide it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: REDIS_URL not set; RedisStore tests did not run \
                 (e.g. REDIS_URL=redis://127.0.0.1:6379)"
            );
            None
        }
    }
}

fn random_prefix() -> String {
    format!("twofa_test_{:016x}:", rand::random::<u64>())
}

async fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to REDIS_URL")
}

async fn raw<T: redis::FromRedisValue>(store: &RedisStore, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut store.connection()).await.unwrap()
}

/// A store under a fresh prefix, or `None` (skip) without `REDIS_URL`.
async fn fresh() -> Option<RedisStore> {
    let url = redis_url()?;
    Some(redis_store(&url, &random_prefix()).await)
}

async fn finish(store: RedisStore) {
    clear(&store).await;
}

twofa_verify::state_store_conformance!(fresh(), finish);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_state_checks_in_one_go() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    support::run_state_store(|| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            // One prefix for the run, emptied before each check.
            let store = redis_store(&url, &prefix).await;
            clear(&store).await;
            store
        }
    })
    .await;
    clear(&redis_store(&url, &prefix).await).await;
}

// ------------------------------------------------------------ Redis-specific

/// Every write leaves a Redis TTL covering the entry's life plus the grace,
/// seen from the caller's `now` (from the wall clock for `put`); a kept
/// counter window and a release keep the TTL; `take` removes the key even
/// when expired.
#[tokio::test]
async fn writes_set_a_ttl_for_garbage_collection() {
    let Some(url) = redis_url() else { return };
    let grace = Duration::from_secs(60);
    let store = RedisStore::builder(&url)
        .prefix(random_prefix())
        .gc_grace(grace)
        .connect()
        .await
        .unwrap();
    let key = |k: &str| format!("{}{k}", store.prefix());
    let pttl = |k: &'static str| {
        let store = store.clone();
        let k = key(k);
        async move { raw::<i64>(&store, redis::cmd("PTTL").arg(k)).await }
    };
    let within = |ttl: i64, expected: Duration| {
        let expected = expected.as_millis() as i64;
        assert!(
            ttl <= expected && ttl > expected - 5_000,
            "TTL {ttl} ms, expected about {expected} ms"
        );
    };

    // Far from the wall clock (T0 is in 2001): measured from `now`.
    assert!(
        store
            .put_if_absent("p", b"v", at(120_000), T0)
            .await
            .unwrap()
    );
    within(pttl("p").await, grace + Duration::from_secs(120));
    assert!(store.advance("a", 7, at(30_000), T0).await.unwrap());
    within(pttl("a").await, grace + Duration::from_secs(30));
    store
        .increment("c", Duration::from_secs(300), false, T0)
        .await
        .unwrap();
    within(pttl("c").await, grace + Duration::from_secs(300));

    // Kept window, release: the TTL is not renewed.
    let _: () = raw(&store, redis::cmd("PEXPIRE").arg(key("c")).arg(50_000)).await;
    store
        .increment("c", Duration::from_secs(300), false, at(1))
        .await
        .unwrap();
    store.release("c", at(2)).await.unwrap();
    within(pttl("c").await, Duration::from_secs(50));
    // Extending renews it.
    store
        .increment("c", Duration::from_secs(300), true, at(3))
        .await
        .unwrap();
    within(pttl("c").await, grace + Duration::from_secs(300));

    // `put` has no `now`: from the wall clock. An expiry in 2001 is long
    // past: grace only. One a minute from the wall clock: a minute more.
    store.put("old", b"v", at(1_000)).await.unwrap();
    within(pttl("old").await, grace);
    let wall = twofa_verify::clock::SystemClock;
    let soon = twofa_verify::clock::Clock::now(&wall).plus(Duration::from_secs(60));
    store.put("soon", b"v", soon).await.unwrap();
    within(pttl("soon").await, grace + Duration::from_secs(60));

    // Expired entries are taken away (and not returned).
    assert_eq!(store.take("p", at(120_000)).await.unwrap(), None);
    assert_eq!(pttl("p").await, -2, "the key is gone");
    clear(&store).await;
}

/// Stores with different prefixes do not see each other; stores with the
/// same prefix (two app instances, two connections) share state atomically.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prefixes_isolate_and_instances_share() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    let a = redis_store(&url, &prefix).await;
    let b = redis_store(&url, &prefix).await;
    let other = redis_store(&url, &random_prefix()).await;
    a.put("k", b"a", at(1000)).await.unwrap();
    assert_eq!(other.get("k", T0).await.unwrap(), None);
    assert!(other.put_if_absent("k", b"o", at(1000), T0).await.unwrap());
    assert_eq!(b.get("k", T0).await.unwrap().as_deref(), Some(&b"a"[..]));

    // 200 takes and 200 increments across the two instances.
    const N: usize = 200;
    a.put("challenge", b"x", at(60_000)).await.unwrap();
    let gate = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.wait().await;
                let taken = s.take("challenge", T0).await.unwrap();
                let count = s
                    .increment("hot", Duration::from_secs(60), false, T0)
                    .await
                    .unwrap();
                (taken, count)
            })
        })
        .collect();
    let mut taken = 0;
    let mut counts = Vec::new();
    for t in tasks {
        let (got, count) = t.await.unwrap();
        taken += usize::from(got.is_some());
        assert_eq!(count.expires_at, at(60_000));
        counts.push(count.count);
    }
    assert_eq!(taken, 1, "exactly one take wins");
    counts.sort_unstable();
    assert_eq!(counts, (1..=N as u64).collect::<Vec<_>>());
    clear(&a).await;
    clear(&other).await;
}

/// The default prefix is `twofa:`; bad settings are `Error::Config` before
/// any connection.
#[tokio::test]
async fn settings_are_checked() {
    assert_eq!(DEFAULT_PREFIX, "twofa:");
    // No server needed: the checks come first.
    let url = "redis://127.0.0.1:1";
    for bad in ["", " ", "a b", "tab\t", "é:", "\u{0}", &"p".repeat(65)] {
        let err = RedisStore::builder(url).prefix(bad).connect().await;
        assert!(matches!(err, Err(Error::Config(_))), "{bad:?}: {err:?}");
    }
    let err = RedisStore::builder(url)
        .gc_grace(Duration::from_millis(999))
        .connect()
        .await;
    assert!(matches!(err, Err(Error::Config(_))), "{err:?}");
    let err = RedisStore::builder(url)
        .timeout(Duration::ZERO)
        .connect()
        .await;
    assert!(matches!(err, Err(Error::Config(_))), "{err:?}");

    let Some(url) = redis_url() else { return };
    let store = RedisStore::connect(&url).await.unwrap();
    assert_eq!(store.prefix(), "twofa:");
    let longest = redis_store(&url, &format!("{}~", "p".repeat(63))).await;
    longest.put("k", b"v", at(1000)).await.unwrap();
    assert_eq!(
        raw::<Option<Vec<u8>>>(
            &longest,
            redis::cmd("GET").arg(format!("{}~k", "p".repeat(63)))
        )
        .await
        .map(|v| v.len()),
        Some(20 + 1),
        "20 digits of expiry, then the value"
    );
    clear(&longest).await;
}

/// An unreachable server, a malformed URL or a refused password is an
/// `Error::Store` from `connect`, and no password shows in the error or
/// in `Debug`.
#[tokio::test]
async fn connection_failures_are_store_errors_without_secrets() {
    let fast = |url: &str| {
        RedisStore::builder(url)
            .timeout(Duration::from_millis(500))
            .connect()
    };
    for url in [
        "redis://:Sup3rS3cretPw@127.0.0.1:1",
        "not a url Sup3rS3cretPw",
        "http://:Sup3rS3cretPw@127.0.0.1:6379",
    ] {
        let err = fast(url).await.unwrap_err();
        assert!(matches!(err, Error::Store(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains("Sup3rS3cretPw"), "{err}");
        assert!(!format!("{err:?}").contains("Sup3rS3cretPw"), "{err:?}");
    }
    let builder = RedisStore::builder("redis://:Sup3rS3cretPw@127.0.0.1:6379").prefix("app:");
    let debug = format!("{builder:?}");
    assert!(
        !debug.contains("Sup3rS3cretPw") && debug.contains("app:"),
        "{debug}"
    );

    let Some(url) = redis_url() else { return };
    // A password the server does not expect: refused at connect.
    if let Some(rest) = url.strip_prefix("redis://")
        && !rest.contains('@')
    {
        let err = fast(&format!("redis://:Sup3rS3cretPw@{rest}"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Store(_)), "{err:?}");
        assert!(!err.to_string().contains("Sup3rS3cretPw"), "{err}");
    }
    let store = redis_store(&url, "twofa_debug:").await;
    let debug = format!("{store:?}");
    assert!(debug.starts_with("RedisStore"), "{debug}");
    assert!(debug.contains("twofa_debug:"), "{debug}");
    assert!(!debug.contains("redis://"), "{debug}");
}

/// A `rediss://` URL is an `Error::Config` before any connection: without
/// feature `redis-tls`, saying so; with it, while the app has installed no
/// rustls crypto provider (no test in this file installs one), instead of
/// the panic rustls would raise in redis-rs's reconnecting task.
#[tokio::test]
async fn rediss_needs_the_feature_and_a_crypto_provider() {
    let err = RedisStore::connect("rediss://127.0.0.1:1")
        .await
        .unwrap_err();
    let Error::Config(msg) = &err else {
        panic!("expected Error::Config, got {err:?}")
    };
    let expected = if cfg!(feature = "redis-tls") {
        "crypto provider"
    } else {
        "redis-tls"
    };
    assert!(msg.contains(expected), "{msg}");
}

/// Entries that the store did not write (another program on the same
/// prefix, a wrong type) are `Error::Store`, never a value or a win.
#[tokio::test]
async fn foreign_entries_are_store_errors() {
    let Some(url) = redis_url() else { return };
    let store = redis_store(&url, &random_prefix()).await;
    let key = |k: &str| format!("{}{k}", store.prefix());
    let _: () = raw(&store, redis::cmd("SET").arg(key("junk")).arg("hello")).await;
    let _: () = raw(
        &store,
        redis::cmd("SET")
            .arg(key("junk2"))
            .arg("1234567890123456789x-and-more"),
    )
    .await;
    let _: () = raw(
        &store,
        redis::cmd("HSET").arg(key("hash")).arg("f").arg("v"),
    )
    .await;
    for k in ["junk", "junk2", "hash"] {
        let check = |what: &str, r: Result<bool>| match r {
            Err(Error::Store(e)) => assert!(!e.to_string().is_empty()),
            other => panic!("{k} {what}: expected Error::Store, got {other:?}"),
        };
        check("get", store.get(k, T0).await.map(|v| v.is_some()));
        check(
            "put_if_absent",
            store.put_if_absent(k, b"v", at(1000), T0).await,
        );
        check(
            "increment",
            store
                .increment(k, Duration::from_secs(1), false, T0)
                .await
                .map(|c| c.count > 0),
        );
        check("release", store.release(k, T0).await.map(|()| true));
        check("advance", store.advance(k, 1, at(1000), T0).await);
        check("take", store.take(k, T0).await.map(|v| v.is_some()));
    }
    // `put` and `delete` overwrite and remove whatever is there.
    store.put("junk", b"mine", at(1000)).await.unwrap();
    assert_eq!(
        store.get("junk", T0).await.unwrap().as_deref(),
        Some(&b"mine"[..])
    );
    store.delete("hash").await.unwrap();
    assert!(
        store
            .put_if_absent("hash", b"v", at(1000), T0)
            .await
            .unwrap()
    );
    clear(&store).await;
}

/// After `SCRIPT FLUSH` (or a Redis restart) the scripts are loaded again
/// transparently (`EVALSHA` answered `NOSCRIPT`).
#[tokio::test]
async fn scripts_survive_a_flush() {
    let Some(url) = redis_url() else { return };
    let store = redis_store(&url, &random_prefix()).await;
    assert!(store.advance("t", 1, at(1000), T0).await.unwrap());
    let _: () = raw(&store, redis::cmd("SCRIPT").arg("FLUSH")).await;
    assert!(store.advance("t", 2, at(1000), T0).await.unwrap());
    assert!(!store.advance("t", 2, at(1000), T0).await.unwrap());
    let _: () = raw(&store, redis::cmd("SCRIPT").arg("FLUSH")).await;
    let c = store
        .increment("c", Duration::from_secs(1), false, T0)
        .await
        .unwrap();
    assert_eq!(c.count, 1);
    clear(&store).await;
}

/// A TCP relay to Redis that can be cut and restored, to lose the server
/// under a connected store.
struct Relay {
    port: u16,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String, port: u16) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(Notify::new());
        let stop = cut.clone();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.notified() => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { break };
                        let target = target.clone();
                        links.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                }
            }
            // Dropping the set aborts every link: both sides see a reset.
            links.abort_all();
        });
        Relay { port, cut, task }
    }

    async fn cut(self) {
        self.cut.notify_one();
        self.task.await.unwrap();
    }
}

/// With the server gone, every operation fails with `Error::Store` (no
/// panic, no success, no "absent"), within the timeout; when it is back,
/// the store reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_fails_closed_and_reconnects() {
    let Some(url) = redis_url() else { return };
    let target = match url.strip_prefix("redis://") {
        Some(rest) if !rest.contains('@') && !rest.contains('/') => rest.to_owned(),
        _ => {
            eprintln!("SKIPPED: the relay test needs REDIS_URL=redis://host:port");
            return;
        }
    };
    let relay = Relay::start(target.clone(), 0).await;
    let port = relay.port;
    let store = RedisStore::builder(&format!("redis://127.0.0.1:{port}"))
        .prefix(random_prefix())
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    store.put("k", b"v", at(1000)).await.unwrap();
    assert!(store.advance("t", 1, at(1000), T0).await.unwrap());
    relay.cut().await;

    let started = std::time::Instant::now();
    let check = |what: &str, r: Result<bool>| match r {
        Err(Error::Store(_)) => {}
        other => panic!("{what}: expected Error::Store, got {other:?}"),
    };
    check("get", store.get("k", T0).await.map(|v| v.is_some()));
    check("take", store.take("k", T0).await.map(|v| v.is_some()));
    check("put", store.put("k", b"v", at(1000)).await.map(|()| true));
    check(
        "put_if_absent",
        store.put_if_absent("n", b"v", at(1000), T0).await,
    );
    check(
        "increment",
        store
            .increment("c", Duration::from_secs(1), false, T0)
            .await
            .map(|c| c.count > 0),
    );
    check("release", store.release("c", T0).await.map(|()| true));
    check("advance", store.advance("t", 2, at(1000), T0).await);
    check("delete", store.delete("k").await.map(|()| true));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "failures must not hang: {:?}",
        started.elapsed()
    );

    // Back on the same port: the store finds it again.
    let relay = Relay::start(target, port).await;
    let mut back = false;
    for _ in 0..100 {
        if let Ok(v) = store.get("k", T0).await {
            assert_eq!(v.as_deref(), Some(&b"v"[..]));
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the store did not reconnect");
    assert!(store.advance("t", 2, at(1000), T0).await.unwrap());
    clear(&store).await;
    relay.cut().await;
}
