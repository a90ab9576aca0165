//! Passkeys end to end with a software authenticator: registration and
//! management, the second factor, passwordless sign-in, step-up, and what
//! must be refused (wrong origin or RP id, replays, unknown and foreign
//! credentials, clones, expired ceremonies, hostile JSON), with a burst of
//! concurrent finishes of one ceremony on every state store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
#[path = "passkeys/soft.rs"]
mod soft;

use std::sync::Arc;
use std::time::Duration;

use harness::burst;
use secrecy::SecretString;
use serde_json::Value;
use soft::SoftAuthenticator;
use tokio::sync::Barrier;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::LimitedAction;
use twofa_verify::event::RecordingSink;
use twofa_verify::passkey::PasskeyConfig;
use twofa_verify::{
    AuthEvent, Authenticator, Error, Factor, Login, MemoryStore, Policy, RequestContext, SecretKey,
    StateStore, StepUp, User, UserStore,
};

const ORIGIN: &str = "https://example.com";
const GOOD: &str = "correct horse battery";
const KEY: &[u8] = b"passkey-test-secret-key-0123456789abcdef";

struct Site {
    auth: Authenticator,
    clock: ManualClock,
    events: RecordingSink,
}

fn config() -> PasskeyConfig {
    PasskeyConfig::builder()
        .rp_id("example.com")
        .rp_name("Example")
        .origin(ORIGIN)
        .build()
        .unwrap()
}

fn builder(clock: &ManualClock, events: &RecordingSink) -> twofa_verify::AuthenticatorBuilder {
    Authenticator::builder()
        .secret_key(SecretKey::from_bytes(KEY.to_vec()).unwrap())
        .clock(clock.clone())
        .events(events.clone())
        .passkeys(config())
}

fn site() -> Site {
    let clock = ManualClock::starting_now();
    let events = RecordingSink::new();
    let auth = builder(&clock, &events)
        .store(MemoryStore::new())
        .build()
        .unwrap();
    Site {
        auth,
        clock,
        events,
    }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

async fn user(auth: &Authenticator, name: &str) -> User {
    auth.register(
        name,
        &format!("{name}@example.com"),
        &SecretString::from(GOOD),
    )
    .await
    .unwrap()
}

/// Registers a passkey for `user` (their first factor: password step-up).
async fn add_passkey(auth: &Authenticator, user: &User, key: &mut SoftAuthenticator, name: &str) {
    let step_up = if auth.passkeys(user.id).await.unwrap().is_empty() {
        StepUp::password(GOOD)
    } else {
        let req = auth.start_passkey_step_up(user.id).await.unwrap();
        let answer = key.assert(&json(req.options()));
        StepUp::with_passkey(GOOD, req.ceremony_id(), answer)
    };
    let reg = auth
        .start_passkey_registration(user.id, name, &step_up)
        .await
        .unwrap();
    let answer = key.register(&json(reg.options()));
    let _ = auth
        .finish_passkey_registration(user.id, reg.ceremony_id(), &answer)
        .await
        .unwrap();
}

#[tokio::test]
async fn register_list_rename_remove() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    let reg = s
        .auth
        .start_passkey_registration(alice.id, "  MacBook ", &StepUp::password(GOOD))
        .await
        .unwrap();
    assert!(!format!("{reg:?}").contains(reg.ceremony_id()));
    // Asks for a discoverable credential, so that it signs in without a
    // password too (webauthn-rs alone says "discouraged").
    let options = json(reg.options());
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred",
        "{options}"
    );
    let answer = key.register(&json(reg.options()));
    let enrolled = s
        .auth
        .finish_passkey_registration(alice.id, reg.ceremony_id(), &answer)
        .await
        .unwrap();
    assert!(enrolled.user.has_second_factor());
    assert_eq!(enrolled.user.passkeys, 1);
    assert_eq!(enrolled.recovery_codes.map(|c| c.len()), Some(10));
    // The ceremony is used up.
    let again = s
        .auth
        .finish_passkey_registration(alice.id, reg.ceremony_id(), &answer)
        .await;
    assert!(matches!(again, Err(Error::ChallengeNotFound)), "{again:?}");

    // A second one, later; now adding needs a step-up beyond the password.
    s.clock.advance(Duration::from_secs(1));
    let refused = s
        .auth
        .start_passkey_registration(alice.id, "Phone", &StepUp::password(GOOD))
        .await;
    assert!(matches!(refused, Err(Error::StepUpRequired)), "{refused:?}");
    add_passkey(&s.auth, &enrolled.user, &mut key, "Phone").await;
    let list = s.auth.passkeys(alice.id).await.unwrap();
    assert_eq!(
        list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["MacBook", "Phone"]
    );
    // The step-up used the newest passkey: its last use is recorded.
    assert!(list[0].last_used_at.is_some() || list[1].last_used_at.is_some());

    let renamed = s
        .auth
        .rename_passkey(alice.id, &list[0].id, "Work laptop")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Work laptop");
    let bad = s
        .auth
        .rename_passkey(alice.id, &list[0].id, "a\u{202e}b")
        .await;
    assert!(matches!(bad, Err(Error::InvalidPasskeyName(_))));
    let bob = user(&s.auth, "bob").await;
    let foreign = s.auth.rename_passkey(bob.id, &list[0].id, "mine").await;
    assert!(matches!(foreign, Err(Error::PasskeyNotFound)));
    assert!(s.auth.passkeys(bob.id).await.unwrap().is_empty());

    // Removal: a step-up with a passkey, then the list shrinks.
    let req = s.auth.start_passkey_step_up(alice.id).await.unwrap();
    let proof = StepUp::with_passkey(GOOD, req.ceremony_id(), key.assert(&json(req.options())));
    let after = s
        .auth
        .remove_passkey(alice.id, &list[1].id, &proof)
        .await
        .unwrap();
    assert_eq!(after.passkeys, 1);
    // Removing the last one removes the recovery codes, as disabling the last factor does.
    let req = s.auth.start_passkey_step_up(alice.id).await.unwrap();
    let proof = StepUp::with_passkey(GOOD, req.ceremony_id(), key.assert(&json(req.options())));
    let after = s
        .auth
        .remove_passkey(alice.id, &list[0].id, &proof)
        .await
        .unwrap();
    assert!(!after.has_second_factor());
    assert_eq!(s.auth.recovery_codes_left(alice.id).await.unwrap(), 0);
    let events = s.events.events();
    for e in [
        AuthEvent::PasskeyAdded { user: alice.id },
        AuthEvent::PasskeyRenamed { user: alice.id },
        AuthEvent::PasskeyRemoved { user: alice.id },
    ] {
        assert!(events.contains(&e), "{e:?}");
    }
}

#[tokio::test]
async fn same_credential_twice_is_refused() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let bob = user(&s.auth, "bob").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut key, "Key").await;
    // The same authenticator registers the same credential for Bob.
    key.reuse_last = true;
    let reg = s
        .auth
        .start_passkey_registration(bob.id, "Key", &StepUp::password(GOOD))
        .await
        .unwrap();
    let answer = key.register(&json(reg.options()));
    let r = s
        .auth
        .finish_passkey_registration(bob.id, reg.ceremony_id(), &answer)
        .await;
    assert!(matches!(r, Err(Error::PasskeyExists)), "{r:?}");
    assert!(s.auth.passkeys(bob.id).await.unwrap().is_empty());
    assert_eq!(s.auth.passkeys(alice.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn second_factor_after_the_password() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let bob = user(&s.auth, "bob").await;
    let mut alice_key = SoftAuthenticator::new(ORIGIN);
    let mut bob_key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut alice_key, "Key").await;
    add_passkey(&s.auth, &bob, &mut bob_key, "Key").await;

    let Login::SecondFactor(challenge) = s
        .auth
        .login("alice", &SecretString::from(GOOD))
        .await
        .unwrap()
    else {
        panic!("a passkey is a second factor")
    };
    assert!(challenge.methods.contains(&Factor::Passkey));
    let token = challenge.token();

    // Bob's passkey cannot finish Alice's pending login.
    let req = s.auth.start_passkey_verification(token).await.unwrap();
    let mut options = json(req.options());
    options["publicKey"]["allowCredentials"] = Value::Array(vec![]);
    let bobs = bob_key.assert(&options);
    let refused = s.auth.verify_passkey(token, req.ceremony_id(), &bobs).await;
    assert!(
        matches!(refused, Err(Error::PasskeyRejected)),
        "{refused:?}"
    );

    // Hostile JSON: typed, no panic.
    let req = s.auth.start_passkey_verification(token).await.unwrap();
    for junk in ["", "{", "[1,2]", "{\"id\":7}", &"x".repeat(200_000)] {
        let r = s.auth.verify_passkey(token, req.ceremony_id(), junk).await;
        assert!(matches!(r, Err(Error::PasskeyMalformed)), "{r:?}");
    }

    // Alice's passkey does.
    let answer = alice_key.assert(&json(req.options()));
    let verified = s
        .auth
        .verify_passkey(token, req.ceremony_id(), &answer)
        .await
        .unwrap();
    assert_eq!(
        (verified.user.id, verified.factor),
        (alice.id, Factor::Passkey)
    );
    // The same assertion again: the ceremony and the pending login are gone.
    let replay = s
        .auth
        .verify_passkey(token, req.ceremony_id(), &answer)
        .await;
    assert!(replay.is_err(), "{replay:?}");
    assert!(s.events.events().contains(&AuthEvent::LoginSucceeded {
        user: alice.id,
        factor: Some(Factor::Passkey)
    }));
}

#[tokio::test]
async fn passwordless_sign_in() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut key, "Key").await;

    let req = s.auth.start_passkey_login().await.unwrap();
    let options = json(req.options());
    // Usable for autofill: conditional mediation, no credential list, UV required.
    assert_eq!(options["mediation"], "conditional");
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let answer = key.assert(&options);
    let verified = s
        .auth
        .login_with_passkey(req.ceremony_id(), &answer)
        .await
        .unwrap();
    assert_eq!(
        (verified.user.id, verified.factor),
        (alice.id, Factor::Passkey)
    );
    // Replayed: the ceremony is gone.
    let replay = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(
        matches!(replay, Err(Error::ChallengeNotFound)),
        "{replay:?}"
    );
    // The assertion under a new ceremony: the challenge differs.
    let req = s.auth.start_passkey_login().await.unwrap();
    let replay = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(matches!(replay, Err(Error::PasskeyRejected)), "{replay:?}");

    // Without user verification: refused.
    key.claims.user_verified = false;
    let req = s.auth.start_passkey_login().await.unwrap();
    let answer = key.assert(&json(req.options()));
    let r = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(matches!(r, Err(Error::PasskeyRejected)), "{r:?}");
}

#[tokio::test]
async fn wrong_origin_rp_unknown_credential_expired() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut key, "Key").await;

    let mut phisher = key.clone();
    phisher.claims.origin = "https://examp1e.com".into();
    let req = s.auth.start_passkey_login().await.unwrap();
    let r = s
        .auth
        .login_with_passkey(req.ceremony_id(), &phisher.assert(&json(req.options())))
        .await;
    assert!(
        matches!(r, Err(Error::PasskeyRejected)),
        "wrong origin: {r:?}"
    );

    let mut other_rp = key.clone();
    other_rp.claims.rp_id = Some("evil.example".into());
    let req = s.auth.start_passkey_login().await.unwrap();
    let r = s
        .auth
        .login_with_passkey(req.ceremony_id(), &other_rp.assert(&json(req.options())))
        .await;
    assert!(
        matches!(r, Err(Error::PasskeyRejected)),
        "wrong RP id: {r:?}"
    );

    // A credential this site never registered.
    let mut stranger = SoftAuthenticator::new(ORIGIN);
    let other = site();
    let eve = user(&other.auth, "eve").await;
    add_passkey(&other.auth, &eve, &mut stranger, "Key").await;
    let req = s.auth.start_passkey_login().await.unwrap();
    let r = s
        .auth
        .login_with_passkey(req.ceremony_id(), &stranger.assert(&json(req.options())))
        .await;
    assert!(matches!(r, Err(Error::PasskeyRejected)), "unknown: {r:?}");

    // Expired ceremony.
    let req = s.auth.start_passkey_login().await.unwrap();
    let answer = key.assert(&json(req.options()));
    s.clock.advance(Duration::from_secs(3600));
    let r = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(matches!(r, Err(Error::ChallengeNotFound)), "expired: {r:?}");
}

#[tokio::test]
async fn cloned_authenticator_is_refused_and_reported() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut key, "Key").await;
    let mut clone = key.clone();
    for _ in 0..2 {
        let req = s.auth.start_passkey_login().await.unwrap();
        let answer = key.assert(&json(req.options()));
        s.auth
            .login_with_passkey(req.ceremony_id(), &answer)
            .await
            .unwrap();
    }
    // The copy's counter is behind.
    let req = s.auth.start_passkey_login().await.unwrap();
    let answer = clone.assert(&json(req.options()));
    let r = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(matches!(r, Err(Error::PasskeyCloneSuspected)), "{r:?}");
    assert!(
        s.events
            .events()
            .contains(&AuthEvent::PasskeyCloneSuspected { user: alice.id })
    );
}

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

#[tokio::test]
async fn the_last_passkey_stays_while_a_second_factor_is_required() {
    let clock = ManualClock::starting_now();
    let events = RecordingSink::new();
    let mut policy = twofa_verify::Policy::default();
    policy.second_factor_required = Some(twofa_verify::policy::SecondFactorRequirement::everyone());
    let auth = builder(&clock, &events)
        .store(MemoryStore::new())
        .policy(policy)
        .build()
        .unwrap();
    let alice = user(&auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&auth, &alice, &mut key, "Laptop").await;
    clock.advance(Duration::from_secs(1));
    add_passkey(&auth, &alice, &mut key, "Phone").await;
    let list = auth.passkeys(alice.id).await.unwrap();
    let proof = |req: &twofa_verify::passkey::PasskeyRequest, key: &mut SoftAuthenticator| {
        StepUp::with_passkey(GOOD, req.ceremony_id(), key.assert(&json(req.options())))
    };
    // One of two may go.
    let req = auth.start_passkey_step_up(alice.id).await.unwrap();
    let step_up = proof(&req, &mut key);
    let after = auth
        .remove_passkey(alice.id, &list[1].id, &step_up)
        .await
        .unwrap();
    assert_eq!(after.passkeys, 1);
    // The last one may not, before any step-up is spent.
    let req = auth.start_passkey_step_up(alice.id).await.unwrap();
    let step_up = proof(&req, &mut key);
    let refused = auth.remove_passkey(alice.id, &list[0].id, &step_up).await;
    assert!(
        matches!(
            refused,
            Err(Error::FactorUnavailable(
                twofa_verify::error::FactorUnavailable::Required
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(auth.passkeys(alice.id).await.unwrap().len(), 1);
}

/// An operator's reset of the second factor (a lost or stolen device)
/// takes the passkeys too: none of them signs in afterwards.
#[tokio::test]
async fn an_operators_second_factor_reset_removes_the_passkeys() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&s.auth, &alice, &mut key, "Key").await;
    let op = twofa_verify::authenticator::Operator::new("jane", "phone and laptop stolen").unwrap();
    let after = s
        .auth
        .admin()
        .reset_second_factor(alice.id, &op)
        .await
        .unwrap();
    assert_eq!(after.passkeys, 0);
    assert!(!after.has_second_factor());
    assert!(s.auth.passkeys(alice.id).await.unwrap().is_empty());
    let req = s.auth.start_passkey_login().await.unwrap();
    let answer = key.assert(&json(req.options()));
    let refused = s.auth.login_with_passkey(req.ceremony_id(), &answer).await;
    assert!(
        matches!(refused, Err(Error::PasskeyRejected)),
        "{refused:?}"
    );
}

/// A passkey registration started before a credential change cannot be
/// finished after it ("sign out everywhere" here): the ceremony carries
/// the credential generation it started at.
#[tokio::test]
async fn a_registration_started_before_a_credential_change_is_void() {
    let s = site();
    let alice = user(&s.auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    let reg = s
        .auth
        .start_passkey_registration(alice.id, "Key", &StepUp::password(GOOD))
        .await
        .unwrap();
    let answer = key.register(&json(reg.options()));
    s.auth
        .sign_out_everywhere(alice.id, &StepUp::password(GOOD))
        .await
        .unwrap();
    let late = s
        .auth
        .finish_passkey_registration(alice.id, reg.ceremony_id(), &answer)
        .await;
    assert!(matches!(late, Err(Error::ChallengeNotFound)), "{late:?}");
    assert!(s.auth.passkeys(alice.id).await.unwrap().is_empty());
}
