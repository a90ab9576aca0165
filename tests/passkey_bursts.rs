//! Passkey ceremonies under bursts, on two instances over every state
//! store: 200 concurrent finishes of one ceremony sign in once, a pending
//! login takes one passkey answer, and passwordless starts keep their
//! budget. PostgreSQL and Redis need `DATABASE_URL` / `REDIS_URL`; without
//! them those cases print SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "passkeys/common.rs"]
mod common;
mod harness;
#[path = "passkeys/soft.rs"]
mod soft;

use std::sync::Arc;

use common::{GOOD, ORIGIN, add_passkey, builder, json, user};
use harness::burst;
use secrecy::SecretString;
use serde_json::Value;
use soft::SoftAuthenticator;
use tokio::sync::Barrier;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::{LimitedAction, RecordingSink};
use twofa_verify::{
    Authenticator, Error, Login, MemoryStore, Policy, RequestContext, StateStore, UserStore,
};

/// 200 concurrent finishes of one ceremony with the same valid assertion,
/// across two authenticators sharing the stores: exactly one signs in.
async fn burst_one_ceremony(instances: Vec<Authenticator>) {
    let a = &instances[0];
    let alice = user(a, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(a, &alice, &mut key, "Key").await;
    let req = a.start_passkey_login().await.unwrap();
    let answer = Arc::new(key.assert(&json(req.options())));
    let ceremony = Arc::new(req.ceremony_id().to_owned());
    let barrier = Arc::new(Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let auth = instances[i % instances.len()].clone();
        let (answer, ceremony, barrier) = (answer.clone(), ceremony.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            auth.login_with_passkey(&ceremony, &answer).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::ChallengeNotFound | Error::Delayed { .. } | Error::Locked { .. }) => {}
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!(ok, 1);
}

/// The passkey as a second factor under bursts, across two instances:
/// 200 concurrent finishes of one pending login with one valid assertion
/// sign in exactly once; then 200 assertions of another user's passkey,
/// each with a ceremony of its own, against a new pending login of the
/// same account: no more are judged than the pending login's answer limit.
async fn burst_verify_passkey(instances: &[Authenticator]) {
    const N: usize = 200;
    let a = &instances[0];
    let carol = user(a, "carol").await;
    let dave = user(a, "dave").await;
    let mut carol_key = SoftAuthenticator::new(ORIGIN);
    let mut dave_key = SoftAuthenticator::new(ORIGIN);
    add_passkey(a, &carol, &mut carol_key, "Key").await;
    add_passkey(a, &dave, &mut dave_key, "Key").await;
    let pending = || async {
        match a.login("carol", &SecretString::from(GOOD)).await.unwrap() {
            Login::SecondFactor(c) => c.token().to_owned(),
            other => panic!("a passkey is a second factor: {other:?}"),
        }
    };

    let token = Arc::new(pending().await);
    let req = a.start_passkey_verification(&token).await.unwrap();
    let answer = Arc::new(carol_key.assert(&json(req.options())));
    let ceremony = Arc::new(req.ceremony_id().to_owned());
    let results = burst(N, |i| {
        let auth = instances[i % instances.len()].clone();
        let (token, ceremony, answer) = (token.clone(), ceremony.clone(), answer.clone());
        async move { auth.verify_passkey(&token, &ceremony, &answer).await }
    })
    .await;
    let signed_in = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(signed_in, 1, "{results:?}");

    let token = Arc::new(pending().await);
    let mut wrong = Vec::with_capacity(N);
    for _ in 0..N {
        let req = a.start_passkey_verification(&token).await.unwrap();
        let mut options = json(req.options());
        options["publicKey"]["allowCredentials"] = Value::Array(vec![]);
        wrong.push(Arc::new((
            req.ceremony_id().to_owned(),
            dave_key.assert(&options),
        )));
    }
    let results = burst(N, |i| {
        let auth = instances[i % instances.len()].clone();
        let (token, wrong) = (token.clone(), wrong[i].clone());
        async move { auth.verify_passkey(&token, &wrong.0, &wrong.1).await }
    })
    .await;
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    let judged = results
        .iter()
        .filter(|r| matches!(r, Err(Error::PasskeyRejected)))
        .count();
    let limit = usize::try_from(Policy::default().challenge_max_attempts).unwrap();
    assert!(
        (1..=limit).contains(&judged),
        "{judged} wrong assertions judged, the limit is {limit}"
    );
}

/// More passwordless sign-ins started at once by one client than its
/// budget, across two instances: exactly the budget start (each keeps a
/// ceremony in the store), the rest are `RateLimited`; another client
/// still starts one.
async fn burst_passkey_login_starts(instances: &[Authenticator]) {
    let budget = usize::try_from(Policy::default().client_passkey_sign_ins.max).unwrap();
    let n = budget + 100;
    let client =
        |last: u8| RequestContext::new().with_ip(std::net::IpAddr::from([203, 0, 113, last]));
    let results = burst(n, |i| {
        let auth = instances[i % instances.len()].with_context(client(9));
        async move { auth.start_passkey_login().await.map(|_| ()) }
    })
    .await;
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(started, budget);
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(())
            | Err(Error::RateLimited {
                limit: LimitedAction::PasskeySignIn,
                ..
            })
    )));
    let other = instances[1]
        .with_context(client(10))
        .start_passkey_login()
        .await;
    assert!(other.is_ok(), "{other:?}");
}

/// Every burst of this file on one pair of instances.
async fn bursts(instances: Vec<Authenticator>) {
    burst_verify_passkey(&instances).await;
    burst_passkey_login_starts(&instances).await;
    burst_one_ceremony(instances).await;
}

fn two_over(
    state: impl StateStore + Clone + 'static,
    users: impl UserStore + Clone + 'static,
) -> Vec<Authenticator> {
    let clock = ManualClock::starting_now();
    let events = RecordingSink::new();
    (0..2)
        .map(|_| {
            builder(&clock, &events)
                .user_store(users.clone())
                .state_store(state.clone())
                .build()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_memory() {
    let users = MemoryStore::new();
    bursts(two_over(users.clone(), users)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_sqlite_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let state = twofa_verify::SqliteStore::open(path.to_str().unwrap())
        .await
        .unwrap();
    bursts(two_over(state.clone(), state)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_postgres_state() {
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL not set; PostgreSQL passkey burst did not run");
        return;
    };
    let schema = format!(
        "twofa_pk_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let _schema_guard = harness::SchemaGuard::new(&url, &schema);
    let state = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    bursts(two_over(state.clone(), state)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_redis_state() {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: REDIS_URL not set; Redis passkey burst did not run");
        return;
    };
    let state = twofa_verify::RedisStore::builder(&url)
        .prefix(format!("twofa-pk-{}", std::process::id()))
        .connect()
        .await
        .unwrap();
    bursts(two_over(state, MemoryStore::new())).await;
}
