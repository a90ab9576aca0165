//! The conformance suite against `MemoryStore`.
#![cfg(feature = "test-util")]

use twofa_verify::conformance as support;

use twofa_verify::MemoryStore;

twofa_verify::conformance_suite!(async { Some(MemoryStore::new()) });
twofa_verify::audit_store_conformance!(async { Some(MemoryStore::new()) });

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_in_one_go() {
    support::run_all(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkeys() {
    support::run_passkeys(|| async { MemoryStore::new() }).await;
}
