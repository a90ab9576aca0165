//! `RedisStore` over TLS (`rediss://`, feature `redis-tls`): the
//! state-store conformance suite through a TLS connection, and the
//! connections that must be refused (a server certificate from a CA the
//! client does not trust, bad CA files, an insecure URL).
//! Needs `REDIS_TLS_URL` (e.g. `rediss://127.0.0.1:6390`) and
//! `REDIS_TLS_CA` (the PEM of the CA that signed the server's
//! certificate), as `scripts/test` sets them up with a throwaway CA; without
//! them every test prints a loud SKIPPED line and passes.
#![cfg(all(feature = "redis-tls", feature = "test-util"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use twofa_verify::conformance as support;
use twofa_verify::store::RedisStore;
use twofa_verify::{Error, Result};

mod harness;
use harness::UNRELATED_CA;
use harness::clear_redis_prefix as clear;

/// The TLS URL and the trusted CA's PEM, or `None` (skip, loudly).
fn tls_server() -> Option<(String, Vec<u8>)> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url = std::env::var("REDIS_TLS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let ca = std::env::var("REDIS_TLS_CA").ok().filter(|p| !p.is_empty());
    match (url, ca) {
        (Some(url), Some(ca)) => {
            let pem = std::fs::read(&ca).unwrap_or_else(|e| panic!("REDIS_TLS_CA {ca}: {e}"));
            Some((url, pem))
        }
        _ => {
            // Straight to stderr, so the harness's capture cannot hide it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: REDIS_TLS_URL or REDIS_TLS_CA not set; RedisStore TLS tests did not \
                 run (scripts/test starts a TLS redis-server with a throwaway CA)"
            );
            None
        }
    }
}

fn random_prefix() -> String {
    format!("twofa_tls_test_{:016x}:", rand::random::<u64>())
}

async fn tls_store(url: &str, ca: &[u8], prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .root_certificates_pem(ca)
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to REDIS_TLS_URL trusting REDIS_TLS_CA")
}

async fn fresh() -> Option<RedisStore> {
    let (url, ca) = tls_server()?;
    Some(tls_store(&url, &ca, &random_prefix()).await)
}

async fn finish(store: RedisStore) {
    clear(&store).await;
}

twofa_verify::state_store_conformance!(fresh(), finish);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_state_checks_in_one_go_over_tls() {
    let Some((url, ca)) = tls_server() else {
        return;
    };
    let prefix = random_prefix();
    support::run_state_store(|| {
        let (url, ca, prefix) = (url.clone(), ca.clone(), prefix.clone());
        async move {
            let store = tls_store(&url, &ca, &prefix).await;
            clear(&store).await;
            store
        }
    })
    .await;
    clear(&tls_store(&url, &ca, &prefix).await).await;
}

/// The connection really is TLS: the server has no plain port, and the
/// same address without TLS gets nothing.
#[tokio::test]
async fn the_tls_port_speaks_only_tls() {
    let Some((url, _)) = tls_server() else { return };
    let plain = url.replacen("rediss://", "redis://", 1);
    let err = RedisStore::builder(&plain)
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
}

fn expect_refused(what: &str, r: Result<RedisStore>) {
    match r {
        Err(Error::Store(_)) => {}
        other => panic!("{what}: expected Error::Store, got {other:?}"),
    }
}

/// A server whose certificate does not chain to a trusted CA is refused
/// at connect with `Error::Store`: trusting another CA, or only the
/// system's roots (the test CA is in none), or asking redis-rs to skip the
/// check (`#insecure`).
#[tokio::test]
async fn an_untrusted_server_certificate_is_refused() {
    let Some((url, ca)) = tls_server() else {
        return;
    };
    let builder = |u: &str| RedisStore::builder(u).timeout(Duration::from_secs(2));
    expect_refused(
        "unrelated CA",
        builder(&url)
            .root_certificates_pem(UNRELATED_CA)
            .connect()
            .await,
    );
    expect_refused("system roots", builder(&url).connect().await);
    let insecure = format!("{url}/#insecure");
    expect_refused("#insecure", builder(&insecure).connect().await);
    expect_refused(
        "#insecure with the right CA",
        builder(&insecure)
            .root_certificates_pem(ca.clone())
            .connect()
            .await,
    );
    // The right CA, but a name the certificate does not hold (it names
    // 127.0.0.1 and localhost).
    if let Some(port) = url.rsplit(':').next() {
        let other_name = format!("rediss://127.0.0.2:{port}");
        let r = builder(&other_name)
            .root_certificates_pem(ca)
            .connect()
            .await;
        expect_refused("wrong host name", r);
    }
}

/// Bad CA input and a CA with a plain URL are `Error::Config` before any
/// connection (no server needed).
#[tokio::test]
async fn bad_root_certificates_are_config_errors() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let garbled = UNRELATED_CA.replace("MIIB", "!!!!");
    let cases: [(&str, &str, Vec<u8>); 5] = [
        ("empty", "rediss://127.0.0.1:1", Vec::new()),
        ("no certificate", "rediss://127.0.0.1:1", b"hello".to_vec()),
        ("garbled", "rediss://127.0.0.1:1", garbled.into_bytes()),
        (
            "a key, not a certificate",
            "rediss://127.0.0.1:1",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
        (
            "plain URL",
            "redis://127.0.0.1:1",
            UNRELATED_CA.as_bytes().to_vec(),
        ),
    ];
    for (what, url, pem) in cases {
        let r = RedisStore::builder(url)
            .root_certificates_pem(pem)
            .connect()
            .await;
        assert!(matches!(r, Err(Error::Config(_))), "{what}: {r:?}");
    }
}

/// Two instances over TLS share state atomically: one take of 200 wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_tls_share_one_take() {
    let Some((url, ca)) = tls_server() else {
        return;
    };
    let prefix = random_prefix();
    let a = tls_store(&url, &ca, &prefix).await;
    let b = tls_store(&url, &ca, &prefix).await;
    let won = harness::racing_takes(&a, &b, 200).await;
    assert_eq!(won, 1, "exactly one take wins");
    clear(&a).await;
}
