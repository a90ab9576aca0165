//! `RedisStore` on a Redis Cluster (feature `redis-cluster`): the
//! state-store conformance suite, two instances racing over one cluster,
//! where the keys land (one slot, the prefix's, on one node), what the
//! cluster refuses (a script across slots), and the settings a cluster
//! store checks. The flows' burst tests run on the cluster too (harness
//! kind `PostgresRedisCluster`).
//! Needs `REDIS_CLUSTER_URLS` (comma-separated node URLs, e.g.
//! `redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002`),
//! as `scripts/test` sets it for the 3-master cluster it starts; without it
//! every test prints a loud SKIPPED line and passes.
#![cfg(all(feature = "redis-cluster", feature = "test-util"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::cluster_routing::Slot;
use twofa_verify::conformance as support;
use twofa_verify::store::redis::RedisConnection;
use twofa_verify::store::{AttemptSpec, Budget, Lockout, RedisStore, StateStore};
use twofa_verify::{Error, Result};

use support::{T0, at};

mod harness;
use harness::clear_redis_prefix as clear;

fn nodes() -> Option<Vec<String>> {
    let nodes = harness::redis_cluster_urls();
    if nodes.is_none() {
        // Straight to stderr, so the harness's capture cannot hide it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: REDIS_CLUSTER_URLS not set; RedisStore cluster tests did not run \
             (scripts/test starts a 3-master cluster)"
        );
    }
    nodes
}

/// The nodes, if there are at least `n` (masters) for `what`; else it
/// skips, loudly.
fn nodes_at_least(n: usize, what: &str) -> Option<Vec<String>> {
    let nodes = nodes()?;
    if nodes.len() < n {
        eprintln!("SKIPPED: {what} wants {n} masters' URLs in REDIS_CLUSTER_URLS");
        return None;
    }
    Some(nodes)
}

fn random_prefix() -> String {
    format!("twofa_cluster_test_{:016x}:", rand::random::<u64>())
}

async fn cluster_store(nodes: &[String], prefix: &str) -> RedisStore {
    RedisStore::cluster_builder(nodes)
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to REDIS_CLUSTER_URLS")
}

async fn fresh() -> Option<RedisStore> {
    let nodes = nodes()?;
    Some(cluster_store(&nodes, &random_prefix()).await)
}

async fn finish(store: RedisStore) {
    clear(&store).await;
}

twofa_verify::state_store_conformance!(fresh(), finish);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_state_checks_in_one_go_on_a_cluster() {
    let Some(nodes) = nodes() else { return };
    let prefix = random_prefix();
    support::run_state_store(|| {
        let (nodes, prefix) = (nodes.clone(), prefix.clone());
        async move {
            let store = cluster_store(&nodes, &prefix).await;
            clear(&store).await;
            store
        }
    })
    .await;
    clear(&cluster_store(&nodes, &prefix).await).await;
}

/// Two instances (two cluster connections) with one prefix share state
/// atomically: of 200 takes one wins, 200 increments count 1 to 200, and
/// of 200 compound reservations against a budget of 50 exactly 50 are
/// admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_a_cluster_share_state_atomically() {
    let Some(nodes) = nodes() else { return };
    let prefix = random_prefix();
    let a = cluster_store(&nodes, &prefix).await;
    let b = cluster_store(&nodes, &prefix).await;
    a.put("challenge", b"x", at(60_000)).await.unwrap();
    const N: usize = 200;
    let spec = Arc::new(attempt_spec(50));
    let gate = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (gate, spec) = (gate.clone(), spec.clone());
            tokio::spawn(async move {
                gate.wait().await;
                let taken = s.take("challenge", T0).await.unwrap().is_some();
                let count = s
                    .increment("hot", Duration::from_secs(60), false, T0)
                    .await
                    .unwrap()
                    .count;
                let admitted = matches!(
                    s.reserve_attempt(&spec, T0).await.unwrap(),
                    twofa_verify::store::Admission::Admitted(_)
                );
                (taken, count, admitted)
            })
        })
        .collect();
    let (mut taken, mut admitted, mut counts) = (0, 0, Vec::new());
    for t in tasks {
        let (got, count, yes) = t.await.unwrap();
        taken += usize::from(got);
        admitted += usize::from(yes);
        counts.push(count);
    }
    assert_eq!(taken, 1, "exactly one take wins");
    assert_eq!(admitted, 50, "exactly the budget is admitted");
    counts.sort_unstable();
    assert_eq!(counts, (1..=N as u64).collect::<Vec<_>>());
    clear(&a).await;
}

/// An attempt with a lockout (of one account) and a client budget of
/// `max`, as the login flow makes them: the compound scripts' keys span
/// several entities.
fn attempt_spec(max: u64) -> AttemptSpec {
    AttemptSpec {
        lockout: Lockout {
            counter: "fail:u:42".into(),
            gate: "lock:u:42".into(),
            gates: "gates:u:42".into(),
            hold: Some("admin-lock:u:42".into()),
            memory: Duration::from_secs(3600),
            // Never gated here: the budget is what this counts.
            threshold: 1_000_000,
            waits: vec![Duration::from_secs(1)],
            locks_from: 1,
        },
        budgets: vec![Budget {
            key: "rl:cf:client".into(),
            window: Duration::from_secs(3600),
            max,
        }],
    }
}

/// A plain connection to each node of the cluster, by its URL.
async fn each_node(nodes: &[String]) -> Vec<(String, redis::aio::MultiplexedConnection)> {
    let mut out = Vec::new();
    for url in nodes {
        let client = redis::Client::open(url.as_str()).unwrap();
        out.push((
            url.clone(),
            client.get_multiplexed_async_connection().await.unwrap(),
        ));
    }
    out
}

/// After a run of every kind of operation, all of the store's keys are on
/// one node, each `{prefix}...` and in the prefix's slot as the server
/// computes it (`CLUSTER KEYSLOT`), which is also the slot redis-rs
/// computes.
#[tokio::test]
async fn all_of_a_stores_keys_live_in_the_prefixs_slot() {
    let Some(nodes) = nodes_at_least(3, "the slot test") else {
        return;
    };
    let prefix = random_prefix();
    let store = cluster_store(&nodes, &prefix).await;
    store.put("ch:abc", b"pending", at(60_000)).await.unwrap();
    assert!(
        store
            .put_if_absent("reg-used:x", b"1", at(60_000), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance("totp-step:42", 7, at(60_000), T0)
            .await
            .unwrap()
    );
    store
        .increment("rl:sms-g", Duration::from_secs(60), false, T0)
        .await
        .unwrap();
    // Enough failures to set the gate too.
    let mut spec = attempt_spec(100);
    spec.lockout.threshold = 1;
    store.reserve_attempt(&spec, T0).await.unwrap();

    let mut per_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let pattern = format!("{{{prefix}}}*");
    for (url, mut conn) in each_node(&nodes).await {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let expected: i64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&prefix)
                .query_async(&mut conn)
                .await
                .unwrap();
            for key in &keys {
                let slot: i64 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(slot, expected, "{key}");
                assert_eq!(Slot::for_key(key), Slot::for_key(&prefix), "{key}");
            }
            per_node.insert(url, keys);
        }
    }
    assert_eq!(per_node.len(), 1, "one node holds every key: {per_node:?}");
    let keys = per_node.values().next().unwrap();
    for k in [
        "ch:abc",
        "reg-used:x",
        "totp-step:42",
        "rl:sms-g",
        "lock:u:42",
        "fail:u:42",
    ] {
        assert!(
            keys.contains(&format!("{{{prefix}}}{k}")),
            "{k} missing from {keys:?}"
        );
    }
    // Untagged keys of the same names would not be there at all.
    assert!(keys.iter().all(|k| k.starts_with(&format!("{{{prefix}}}"))));
    clear(&store).await;
}

/// What the tagging prevents: the cluster refuses a script whose keys lie
/// in two slots (`CROSSSLOT`), so an untagged compound script would fail
/// every call, closed, but fail.
#[tokio::test]
async fn the_cluster_refuses_a_script_across_slots() {
    let Some(nodes) = nodes() else { return };
    let prefix = random_prefix();
    let store = cluster_store(&nodes, &prefix).await;
    let (a, b) = (
        format!("{prefix}fail:u:42"),
        format!("{prefix}rl:cf:client"),
    );
    assert_ne!(
        Slot::for_key(&a),
        Slot::for_key(&b),
        "pick keys of two slots"
    );
    let script = redis::Script::new("return redis.call('GET', KEYS[1])");
    let r: redis::RedisResult<Option<String>> = script
        .key(&a)
        .key(&b)
        .invoke_async(&mut store.connection())
        .await;
    let err = r.unwrap_err();
    assert!(
        err.to_string().to_uppercase().contains("CROSSSLOT"),
        "{err}"
    );
    // Tagged, the same two keys are one slot: accepted.
    let r: Option<String> = script
        .key(store.redis_key("fail:u:42"))
        .key(store.redis_key("rl:cf:client"))
        .invoke_async(&mut store.connection())
        .await
        .unwrap();
    assert_eq!(r, None);
}

/// After `SCRIPT FLUSH` on every node the scripts load again by
/// themselves (`NOSCRIPT`, `SCRIPT LOAD` on every primary, `EVALSHA`).
#[tokio::test]
async fn scripts_survive_a_flush_on_every_node() {
    let Some(nodes) = nodes() else { return };
    let store = cluster_store(&nodes, &random_prefix()).await;
    assert!(store.advance("t", 1, at(1000), T0).await.unwrap());
    for (_, mut conn) in each_node(&nodes).await {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert!(store.advance("t", 2, at(1000), T0).await.unwrap());
    assert!(!store.advance("t", 2, at(1000), T0).await.unwrap());
    let admission = store.reserve_attempt(&attempt_spec(1), T0).await.unwrap();
    assert!(matches!(
        admission,
        twofa_verify::store::Admission::Admitted(_)
    ));
    clear(&store).await;
}

/// Settings a cluster store refuses before connecting (`Error::Config`):
/// no nodes, a prefix with a brace (it would not be the whole tag),
/// `rediss://` nodes without feature `redis-tls` or (no test here installs
/// one) a rustls crypto provider. An unreachable cluster is an `Error::Store`;
/// no password shows in errors or `Debug`.
#[tokio::test]
async fn cluster_settings_are_checked() {
    let config = |r: Result<RedisStore>, what: &str| match r {
        Err(Error::Config(_)) => {}
        other => panic!("{what}: expected Error::Config, got {other:?}"),
    };
    let none: [&str; 0] = [];
    config(RedisStore::connect_cluster(none).await, "no nodes");
    for bad in ["{app}:", "app}:", "a{b"] {
        let r = RedisStore::cluster_builder(["redis://127.0.0.1:1"])
            .prefix(bad)
            .connect()
            .await;
        config(r, bad);
    }
    config(
        RedisStore::connect_cluster(["rediss://127.0.0.1:1"]).await,
        "rediss",
    );
    let unreachable = RedisStore::cluster_builder(["redis://:Sup3rS3cretPw@127.0.0.1:1"])
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(unreachable, Error::Store(_)), "{unreachable:?}");
    assert!(!format!("{unreachable:?}").contains("Sup3rS3cretPw"));
    let builder = RedisStore::cluster_builder(["redis://:Sup3rS3cretPw@127.0.0.1:1"]);
    let debug = format!("{builder:?}");
    assert!(
        !debug.contains("Sup3rS3cretPw") && debug.contains("cluster: true"),
        "{debug}"
    );

    let Some(nodes) = nodes() else { return };
    let store = cluster_store(&nodes, "twofa_debug:").await;
    let debug = format!("{store:?}");
    assert!(
        debug.contains("cluster: true") && debug.contains("twofa_debug:"),
        "{debug}"
    );
    assert!(!debug.contains("redis://"), "{debug}");
    assert!(matches!(store.connection(), RedisConnection::Cluster(_)));
    assert_eq!(store.redis_key("k"), "{twofa_debug:}k");
}

/// A call that meets a moved slot fails closed, and is not retried: the
/// store's slot is migrated to another primary under a connected store
/// (`CLUSTER SETSLOT`, `MIGRATE`, as a resharding or a failover moves
/// it); the next call after the `MOVED` reply is `Error::Store`, and the
/// calls after it find the keys on the new primary.
#[tokio::test]
async fn a_moved_slot_fails_the_call_closed_then_the_store_follows() {
    let Some(nodes) = nodes_at_least(2, "the migration test") else {
        return;
    };
    let prefix = random_prefix();
    let store = cluster_store(&nodes, &prefix).await;
    store.put("k", b"v", at(60_000)).await.unwrap();
    assert!(store.advance("t", 1, at(60_000), T0).await.unwrap());

    // Which node serves the slot, and another master to move it to.
    let slot: i64 = {
        let (_, mut conn) = each_node(&nodes).await.remove(0);
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&prefix)
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    let mut conns = each_node(&nodes).await;
    let mut ids = Vec::new();
    let mut source = None;
    for (i, (_, conn)) in conns.iter_mut().enumerate() {
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(conn)
            .await
            .unwrap();
        let count: i64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query_async(conn)
            .await
            .unwrap();
        if count > 0 {
            source = Some(i);
        }
        ids.push(id);
    }
    let source = source.expect("one node holds the store's keys");
    let target = (source + 1) % conns.len();
    let target_url = &conns[target].0;
    let target_port: u16 = target_url.rsplit(':').next().unwrap().parse().unwrap();

    let setslot = |state: &str, id: &str| {
        let mut c = redis::cmd("CLUSTER");
        c.arg("SETSLOT").arg(slot).arg(state).arg(id);
        c
    };
    let _: () = setslot("IMPORTING", &ids[source])
        .query_async(&mut conns[target].1)
        .await
        .unwrap();
    let _: () = setslot("MIGRATING", &ids[target])
        .query_async(&mut conns[source].1)
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(1000)
        .query_async(&mut conns[source].1)
        .await
        .unwrap();
    assert!(keys.len() >= 2, "{keys:?}");
    let _: () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(target_port)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(&keys)
        .query_async(&mut conns[source].1)
        .await
        .unwrap();
    for (_, conn) in conns.iter_mut() {
        let _: () = setslot("NODE", &ids[target])
            .query_async(conn)
            .await
            .unwrap();
    }

    // The store still sends to the old primary: MOVED, not retried.
    match store.get("k", T0).await {
        Err(Error::Store(_)) => {}
        other => panic!("the call that met MOVED: expected Error::Store, got {other:?}"),
    }
    // Then it follows the slot: the keys, and the scripts, on the new node.
    let mut found = None;
    for _ in 0..50 {
        if let Ok(v) = store.get("k", T0).await {
            found = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        found,
        Some(Some(b"v".to_vec())),
        "the store found the moved slot"
    );
    assert!(
        !store.advance("t", 1, at(60_000), T0).await.unwrap(),
        "state moved with it"
    );
    assert!(store.advance("t", 2, at(60_000), T0).await.unwrap());
    clear(&store).await;
}
