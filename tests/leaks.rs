//! What limits and locks must not tell an outsider, on every store and
//! across two app instances: which identifiers belong to one account, and
//! how the per-client limits hold when a client spreads over its network.
//! PostgreSQL needs `DATABASE_URL` and Redis `REDIS_URL`; without them
//! those cases print SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::Duration;

use harness::{BAD, GOOD, KINDS, Site, policy, pw, site};
use twofa_verify::{Error, Login, Policy};

/// Fails `identifier` with wrong passwords until it answers
/// [`Error::Locked`] for the right one; returns the failures it took.
async fn fail_until_locked(site: &Site, identifier: &str, p: &Policy) -> u32 {
    let mut failures = 0;
    loop {
        match site.at(failures as usize).login(identifier, &pw(BAD)).await {
            Err(Error::InvalidCredentials) => failures += 1,
            Err(Error::Locked { .. }) => {
                // A delay: wait it out, unless it is the lock.
                if failures >= p.lock_after_failures {
                    return failures;
                }
                site.clock.advance(p.delay_max);
            }
            other => panic!("{identifier}: {other:?}"),
        }
        assert!(failures <= 100, "{identifier} never locked");
    }
}

/// The first answers a fresh identifier gives: wrong passwords are wrong
/// until the delay threshold, and the right one then logs in.
async fn answers_like_a_fresh_identifier(site: &Site, identifier: &str, p: &Policy) {
    for i in 1..p.delay_after_failures {
        let r = site.at(i as usize).login(identifier, &pw(BAD)).await;
        assert!(
            matches!(r, Err(Error::InvalidCredentials)),
            "{identifier}: failure {i} answered {r:?}"
        );
    }
    let r = site.at(1).login(identifier, &pw(GOOD)).await;
    assert!(
        matches!(r, Ok(Login::Complete(_))),
        "{identifier}: the right password answered {r:?}"
    );
}

/// Locking an account by its email address does not change what its
/// username answers, and the other way round: the lock does not tell that
/// the two belong together. Each, once locked, stays locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_by_email_does_not_link_the_username() {
    let p = policy();
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        site.user("alice").await;
        site.user("bob").await;
        let by_email = fail_until_locked(&site, "alice@example.com", &p).await;
        assert_eq!(by_email, p.lock_after_failures, "{kind:?}");
        answers_like_a_fresh_identifier(&site, "alice", &p).await;
        assert!(
            matches!(
                site.at(0).login("alice@example.com", &pw(GOOD)).await,
                Err(Error::Locked { .. })
            ),
            "{kind:?}: the email's lock holds"
        );

        let by_name = fail_until_locked(&site, "bob", &p).await;
        assert_eq!(by_name, p.lock_after_failures, "{kind:?}");
        answers_like_a_fresh_identifier(&site, "bob@example.com", &p).await;
        assert!(
            matches!(
                site.at(1).login("bob", &pw(GOOD)).await,
                Err(Error::Locked { .. })
            ),
            "{kind:?}: the username's lock holds"
        );
        // Both ways locked: the account saw at most 2 × 50 failures.
        site.clock.advance(p.lock_duration + Duration::from_secs(1));
        assert!(site.at(0).login("bob", &pw(GOOD)).await.is_ok());
    }
}
