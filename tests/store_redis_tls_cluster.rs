//! `RedisStore` on a Redis Cluster over TLS (features `redis-cluster` and
//! `redis-tls`): the state-store conformance suite through TLS to every
//! node, two instances racing, and the connections that must be refused
//! (an untrusted CA, the system's roots, `#insecure`, a CA with plain
//! nodes).
//! Needs `REDIS_TLS_CLUSTER_URLS` (comma-separated `rediss://` node URLs)
//! and `REDIS_TLS_CA` (the PEM of the CA that signed the nodes'
//! certificates), as `scripts/test` sets them for the TLS-only cluster it
//! starts with a throwaway CA; without them every test prints a loud
//! SKIPPED line and passes.
#![cfg(all(
    feature = "redis-cluster",
    feature = "redis-tls",
    feature = "test-util"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use redis::cluster_routing::Slot;
use twofa_verify::store::RedisStore;
use twofa_verify::{Error, Result};

mod harness;
use harness::UNRELATED_CA;
use harness::clear_redis_prefix as clear;

/// The TLS nodes' URLs and the trusted CA's PEM, or `None` (skip, loudly).
fn tls_cluster() -> Option<(Vec<String>, Vec<u8>)> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let nodes = std::env::var("REDIS_TLS_CLUSTER_URLS")
        .ok()
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty());
    let ca = std::env::var("REDIS_TLS_CA").ok().filter(|p| !p.is_empty());
    match (nodes, ca) {
        (Some(nodes), Some(ca)) => {
            let pem = std::fs::read(&ca).unwrap_or_else(|e| panic!("REDIS_TLS_CA {ca}: {e}"));
            Some((nodes, pem))
        }
        _ => {
            // Straight to stderr, so the harness's capture cannot hide it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: REDIS_TLS_CLUSTER_URLS or REDIS_TLS_CA not set; RedisStore TLS \
                 cluster tests did not run (scripts/test starts a TLS cluster with a \
                 throwaway CA)"
            );
            None
        }
    }
}

/// The same nodes as plain `redis://` URLs.
fn plain(nodes: &[String]) -> Vec<String> {
    nodes
        .iter()
        .map(|u| u.replacen("rediss://", "redis://", 1))
        .collect()
}

fn random_prefix() -> String {
    format!("twofa_tls_cluster_test_{:016x}:", rand::random::<u64>())
}

async fn tls_cluster_store(nodes: &[String], ca: &[u8], prefix: &str) -> RedisStore {
    RedisStore::cluster_builder(nodes)
        .root_certificates_pem(ca)
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to REDIS_TLS_CLUSTER_URLS trusting REDIS_TLS_CA")
}

async fn fresh() -> Option<RedisStore> {
    let (nodes, ca) = tls_cluster()?;
    Some(tls_cluster_store(&nodes, &ca, &random_prefix()).await)
}

async fn finish(store: RedisStore) {
    clear(&store).await;
}

twofa_verify::state_store_conformance!(fresh(), finish);

/// The nodes speak only TLS: the same addresses as plain `redis://` get
/// nothing.
#[tokio::test]
async fn the_nodes_speak_only_tls() {
    let Some((nodes, _)) = tls_cluster() else {
        return;
    };
    let plain = plain(&nodes);
    let err = RedisStore::cluster_builder(&plain)
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
}

/// Nodes whose certificates do not chain to a trusted CA are refused:
/// trusting another CA or only the system's roots is an `Error::Store` at
/// connect; `#insecure` (which redis-rs's cluster client would take
/// without checking host names) and a CA given with plain nodes are
/// `Error::Config`.
#[tokio::test]
async fn untrusted_cluster_certificates_are_refused() {
    let Some((nodes, ca)) = tls_cluster() else {
        return;
    };
    let builder = |n: &[String]| RedisStore::cluster_builder(n).timeout(Duration::from_secs(2));
    let store_err = |what: &str, r: Result<RedisStore>| match r {
        Err(Error::Store(_)) => {}
        other => panic!("{what}: expected Error::Store, got {other:?}"),
    };
    let config_err = |what: &str, r: Result<RedisStore>| match r {
        Err(Error::Config(_)) => {}
        other => panic!("{what}: expected Error::Config, got {other:?}"),
    };
    store_err(
        "unrelated CA",
        builder(&nodes)
            .root_certificates_pem(UNRELATED_CA)
            .connect()
            .await,
    );
    store_err("system roots", builder(&nodes).connect().await);
    let insecure: Vec<String> = nodes.iter().map(|u| format!("{u}/#insecure")).collect();
    config_err(
        "#insecure with the right CA",
        builder(&insecure)
            .root_certificates_pem(ca.clone())
            .connect()
            .await,
    );
    let plain = plain(&nodes);
    config_err(
        "CA with plain nodes",
        builder(&plain)
            .root_certificates_pem(ca.clone())
            .connect()
            .await,
    );
    // The right CA, but a host name the certificates do not hold (they name
    // 127.0.0.1 and localhost).
    let other_name: Vec<String> = nodes
        .iter()
        .map(|u| u.replacen("127.0.0.1", "127.0.0.2", 1))
        .collect();
    store_err(
        "wrong host name",
        builder(&other_name)
            .root_certificates_pem(ca)
            .connect()
            .await,
    );
}

/// Two instances over TLS share state atomically (one take of 200 wins),
/// and the keys are the prefix's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_tls_share_one_take_in_one_slot() {
    let Some((nodes, ca)) = tls_cluster() else {
        return;
    };
    let prefix = random_prefix();
    let a = tls_cluster_store(&nodes, &ca, &prefix).await;
    let b = tls_cluster_store(&nodes, &ca, &prefix).await;
    let won = harness::racing_takes(&a, &b, 200).await;
    assert_eq!(won, 1, "exactly one take wins");
    assert_eq!(
        Slot::for_key(a.redis_key("challenge")),
        Slot::for_key(&prefix)
    );
    clear(&a).await;
}
