//! An operator's lock ([`Admin::lock`]) in the middle of bursts of
//! sign-ins on both instances of every store kind: whichever step a
//! sign-in is at (the password, the second factor), none admitted around
//! the lock keeps a session, and every one after it is refused. And a lock
//! that lands while a change re-stamps the acting session is not stamped
//! over.
//!
//! [`Admin::lock`]: twofa_verify::authenticator::Admin::lock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::{Arc, OnceLock};

use harness::{GOOD, KINDS, LockOn, burst, policy, pw, site};
use twofa_verify::authenticator::Operator;
use twofa_verify::secrecy::SecretString;
use twofa_verify::{
    Authenticator, ConsoleSms, Error, Factor, LocalCodes, Login, MemoryStore, SecretKey, StepUp,
    User,
};

const BURST: usize = 200;
const PHONE: &str = "+14155550123";

/// An operator's lock in the middle of a burst of right passwords on both
/// instances: a login admitted just before the lock may finish, but its
/// success does not clear the lock (it used to: a success clears the
/// lockout's gates, where the lock was kept), afterwards the account is
/// locked by username and by email, and no session the burst's logins
/// returned outlives the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_lock_in_a_burst_of_logins_holds() {
    for kind in KINDS {
        let mut p = policy();
        // Many logins in flight at once, so some straddle the lock.
        p.lock_after_failures = 50;
        p.delay_after_failures = 50;
        let Some(site) = site(kind, p).await else {
            continue;
        };
        let user = site.user("locked").await;
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move {
                if i == BURST / 2 {
                    let op = Operator::new("jane", "account takeover suspected").unwrap();
                    auth.admin().lock(user.id, &op).await.map(|()| None)
                } else {
                    auth.login("locked", &pw(GOOD)).await.map(|l| match l {
                        Login::Complete(u) => Some(auth.session_stamp(&u)),
                        _ => None,
                    })
                }
            }
        })
        .await;
        assert!(results[BURST / 2].is_ok(), "{kind:?}: the lock failed");
        for stamp in results.iter().flatten().flatten() {
            let live = site.at(0).session_user(user.id, stamp.as_str()).await;
            assert!(
                matches!(live, Ok(None)),
                "{kind:?}: a session outlived the lock"
            );
        }
        for ident in ["locked", "locked@example.com"] {
            let after = site.at(1).login(ident, &pw(GOOD)).await;
            assert!(
                matches!(after, Err(Error::Locked { .. })),
                "{kind:?}: {ident} after the burst: {after:?}"
            );
        }
    }
}

/// An operator's lock in the middle of a burst of second-factor answers
/// (recovery codes, some right, on 40 pending logins opened before it):
/// every session an answer returned ends with the lock, and afterwards a
/// pending login opened before the lock is refused (void: the lock changed
/// the credentials), whatever the answer, as is a new login. An answer admitted before the lock finishes and
/// clears the lockout's gates, which the lock also set; the lock itself
/// must still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_lock_in_a_burst_of_second_factors_holds() {
    for kind in KINDS {
        let mut p = policy();
        // Answers in flight on both sides of the lock (the most the
        // policy allows before a delay).
        p.lock_after_failures = 50;
        p.delay_after_failures = 50;
        let Some(site) = site(kind, p).await else {
            continue;
        };
        let user = site.user("held").await;
        let recovery = Arc::new(site.with_sms(&user, PHONE).await);
        let mut tokens = Vec::new();
        for i in 0..41 {
            match site.at(i).login("held", &pw(GOOD)).await.unwrap() {
                Login::SecondFactor(ch) => tokens.push(ch.token().to_owned()),
                other => panic!("{kind:?}: unexpected login outcome {other:?}"),
            }
        }
        let spare = tokens.pop().unwrap();
        let tokens = Arc::new(tokens);
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let (tokens, recovery) = (tokens.clone(), recovery.clone());
            async move {
                if i == BURST / 2 {
                    let op = Operator::new("jane", "account takeover suspected").unwrap();
                    auth.admin().lock(user.id, &op).await.map(|()| None)
                } else {
                    let code = SecretString::from(recovery[i % recovery.len()].clone());
                    auth.verify(&tokens[i % tokens.len()], &code)
                        .await
                        .map(|v| Some(auth.session_stamp(&v.user)))
                }
            }
        })
        .await;
        assert!(results[BURST / 2].is_ok(), "{kind:?}: the lock failed");
        for stamp in results.iter().flatten().flatten() {
            let live = site.at(0).session_user(user.id, stamp.as_str()).await;
            assert!(
                matches!(live, Ok(None)),
                "{kind:?}: a session outlived the lock"
            );
        }
        for auth in [site.at(0), site.at(1)] {
            let late = auth.verify(&spare, &SecretString::from("000000")).await;
            assert!(
                matches!(late, Err(Error::Locked { .. } | Error::ChallengeNotFound)),
                "{kind:?}: a pending login after the burst: {late:?}"
            );
        }
        let after = site.at(1).login("held", &pw(GOOD)).await;
        assert!(
            matches!(after, Err(Error::Locked { .. })),
            "{kind:?}: a login after the burst: {after:?}"
        );
    }
}

/// A site whose audit trail locks an account when it records `kind`, and
/// a user of it.
async fn locking_site(kind: &'static str) -> (Authenticator, ConsoleSms, User) {
    let sms = ConsoleSms::quiet();
    let store = MemoryStore::new();
    let hook = Arc::new(OnceLock::new());
    let auth = Authenticator::builder()
        .store(store.clone())
        .audit_store(LockOn::new(store, kind, hook.clone()))
        .secret_key(SecretKey::generate())
        .sms(LocalCodes::new(sms.clone()))
        .build()
        .unwrap();
    let user = auth
        .register("carol", "carol@example.com", &pw(GOOD))
        .await
        .unwrap();
    hook.set(auth.clone()).unwrap();
    (auth, sms, user)
}

/// Every change that stamps the acting session anew (a password change or
/// reset, "sign out everywhere", a factor added or removed, an email
/// change) is refused when an operator's lock lands while it runs, and the
/// user it would return is not a session: had it been read last without
/// the lock checked, its stamp would carry the generation after the lock
/// and outlive it.
#[tokio::test]
async fn a_lock_during_a_change_is_not_stamped_over() {
    let step_up = StepUp::password(GOOD);
    let new_password = pw("a brand new passphrase");

    let (auth, _, carol) = locking_site("password_changed").await;
    let changed = auth
        .change_password(carol.id, &step_up, &new_password)
        .await;
    assert!(matches!(changed, Err(Error::Locked { .. })), "{changed:?}");

    let (auth, _, _) = locking_site("password_changed").await;
    let token = auth
        .request_password_reset("carol@example.com")
        .await
        .unwrap()
        .unwrap();
    let reset = auth.reset_password(token.token(), &new_password).await;
    assert!(matches!(reset, Err(Error::Locked { .. })), "{reset:?}");

    let (auth, _, carol) = locking_site("signed_out_everywhere").await;
    let out = auth.sign_out_everywhere(carol.id, &step_up).await;
    assert!(matches!(out, Err(Error::Locked { .. })), "{out:?}");

    let (auth, sms, carol) = locking_site("factor_enabled").await;
    auth.start_sms_enrollment(carol.id, PHONE, &step_up)
        .await
        .unwrap();
    let code = SecretString::from(sms.last_code_for(PHONE).unwrap());
    let enrolled = auth.confirm_sms_enrollment(carol.id, &code).await;
    assert!(
        matches!(enrolled, Err(Error::Locked { .. })),
        "{enrolled:?}"
    );

    let (auth, sms, carol) = locking_site("factor_disabled").await;
    auth.start_sms_enrollment(carol.id, PHONE, &step_up)
        .await
        .unwrap();
    let code = SecretString::from(sms.last_code_for(PHONE).unwrap());
    let enrolled = auth.confirm_sms_enrollment(carol.id, &code).await.unwrap();
    let recovery = enrolled.recovery_codes.unwrap().codes()[0].to_owned();
    let with_code = StepUp::new(GOOD, Some(recovery));
    let disabled = auth.disable_factor(carol.id, Factor::Sms, &with_code).await;
    assert!(
        matches!(disabled, Err(Error::Locked { .. })),
        "{disabled:?}"
    );

    let (auth, _, carol) = locking_site("email_changed").await;
    let mail = auth
        .start_email_change(carol.id, "carol@example.net", &step_up)
        .await
        .unwrap();
    let moved = auth.confirm_email_change(mail.token()).await;
    assert!(matches!(moved, Err(Error::Locked { .. })), "{moved:?}");
}

/// A password reset while an operator's lock holds changes nothing (a
/// link asked for before the lock died with it; this one was asked for
/// after).
#[tokio::test]
async fn a_reset_waits_for_the_operator() {
    let (auth, _, carol) = locking_site("none").await;
    let op = Operator::new("jane", "account takeover suspected").unwrap();
    auth.admin().lock(carol.id, &op).await.unwrap();
    let token = auth
        .request_password_reset("carol@example.com")
        .await
        .unwrap()
        .unwrap();
    let reset = auth
        .reset_password(token.token(), &pw("a brand new passphrase"))
        .await;
    assert!(matches!(reset, Err(Error::Locked { .. })), "{reset:?}");
    auth.admin().unlock(carol.id, &op).await.unwrap();
    assert!(matches!(
        auth.login("carol", &pw(GOOD)).await,
        Ok(Login::Complete(_))
    ));
}
