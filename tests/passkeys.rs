//! Passkeys end to end with a software authenticator: registration and
//! management, the second factor, passwordless sign-in, step-up, and what
//! must be refused (wrong origin or RP id, replays, unknown and foreign
//! credentials, clones, expired ceremonies, hostile JSON). The bursts are
//! in `passkey_bursts.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "passkeys/common.rs"]
mod common;
mod harness;
#[path = "passkeys/soft.rs"]
mod soft;

use std::time::Duration;

use common::{GOOD, ORIGIN, add_passkey, builder, json, user};
use secrecy::SecretString;
use serde_json::Value;
use soft::SoftAuthenticator;
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::{AuthEvent, Authenticator, Error, Factor, Login, MemoryStore, StepUp};

struct Site {
    auth: Authenticator,
    clock: ManualClock,
    events: RecordingSink,
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

/// An operator's lock that lands while a passkey is removed (after the
/// removal's credential change, before its user is read again) is not
/// stamped over: the removal is refused with the lock, and the user it
/// would have returned for the new session stamp is never handed out.
#[tokio::test]
async fn a_lock_while_a_passkey_is_removed_is_not_stamped_over() {
    let clock = ManualClock::starting_now();
    let events = RecordingSink::new();
    let store = MemoryStore::new();
    let hook = std::sync::Arc::new(std::sync::OnceLock::new());
    let auth = builder(&clock, &events)
        .store(store.clone())
        .audit_store(harness::LockOn::new(store, "passkey_removed", hook.clone()))
        .build()
        .unwrap();
    hook.set(auth.clone()).unwrap();
    let alice = user(&auth, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    add_passkey(&auth, &alice, &mut key, "Laptop").await;
    clock.advance(Duration::from_secs(1));
    add_passkey(&auth, &alice, &mut key, "Phone").await;
    let list = auth.passkeys(alice.id).await.unwrap();
    let req = auth.start_passkey_step_up(alice.id).await.unwrap();
    let step_up = StepUp::with_passkey(GOOD, req.ceremony_id(), key.assert(&json(req.options())));
    let removed = auth.remove_passkey(alice.id, &list[1].id, &step_up).await;
    assert!(matches!(removed, Err(Error::Locked { .. })), "{removed:?}");
}
