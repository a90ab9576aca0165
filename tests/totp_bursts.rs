//! `verify_totp` under bursts, on every store and across two instances
//! sharing it: one time step is accepted once, and a burst of guesses is
//! evaluated no more often than the account's lockout allows. (The
//! reservation, the step and the settlement are one compound store call.)
#![cfg(all(
    feature = "totp",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{GOOD, KINDS, Site, burst, policy, site};
use secrecy::SecretString;
use twofa_verify::{AuthEvent, Error, StepUp, UserId};

const BURST: usize = 200;

/// Enables TOTP for a new user; returns the user and the secret.
async fn with_totp(site: &Site, name: &str) -> (UserId, Vec<u8>) {
    let user = site.user(name).await;
    let secret = site.with_totp(user.id, &StepUp::password(GOOD)).await;
    (user.id, secret)
}

/// The consecutive failure from which each attempt must win the account's
/// gate: a burst gets no more attempts evaluated than this.
fn gate_threshold() -> usize {
    let p = policy();
    let n = if p.delay_after_failures > 0 {
        p.delay_after_failures
    } else {
        p.lock_after_failures
    };
    usize::try_from(n).unwrap()
}

fn current(site: &Site, secret: &[u8]) -> String {
    site.totp_now(secret)
}

/// One right code sent 200 times at once to two instances: exactly one
/// `Ok`, every other call an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_totp_code_in_a_burst_is_accepted_once() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let (id, secret) = with_totp(&site, "alice").await;
        let code = current(&site, &secret);
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let code = SecretString::from(code.clone());
            async move { auth.verify_totp(id, &code).await }
        })
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{kind:?}: one code, one success");
        for r in &results {
            assert!(
                matches!(
                    r,
                    Ok(())
                        | Err(Error::CodeAlreadyUsed { .. }
                            | Error::Delayed { .. }
                            | Error::Locked { .. })
                ),
                "{kind:?}: {r:?}"
            );
        }
        // The replays count as failures: at most the lockout's threshold
        // of them were evaluated before the account was held.
        let replays = site.count(|e| matches!(e, AuthEvent::TotpReplayRefused { .. }));
        let threshold = gate_threshold();
        assert!(replays >= 1, "{kind:?}: replays refused");
        assert!(
            replays <= threshold,
            "{kind:?}: {replays} replays evaluated"
        );
    }
}

/// 200 wrong codes at once on two instances: no more evaluated than the
/// account's lockout allows, and afterwards even the right code waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_totp_codes_holds_the_account_limit() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let (id, secret) = with_totp(&site, "bob").await;
        let right = current(&site, &secret);
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move { auth.verify_totp(id, &SecretString::from(wrong)).await }
        })
        .await;
        assert!(
            results.iter().all(Result::is_err),
            "{kind:?}: a wrong code passed"
        );
        let rejected = site.count(|e| matches!(e, AuthEvent::CodeRejected { .. }));
        let threshold = gate_threshold();
        assert_eq!(rejected, threshold, "{kind:?}: codes evaluated");
        assert!(matches!(
            site.at(1)
                .verify_totp(id, &SecretString::from(right.as_str()))
                .await,
            Err(Error::Delayed { .. } | Error::Locked { .. })
        ));
    }
}
