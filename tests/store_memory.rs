//! The conformance suite against `MemoryStore`.

#[macro_use]
mod support;

use twofa_verify::MemoryStore;

conformance_suite!(async { Some(MemoryStore::new()) });

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_in_one_go() {
    support::run_all(|| async { MemoryStore::new() }).await;
}
