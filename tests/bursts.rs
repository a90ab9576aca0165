//! Every "at most N" and "exactly one" promise, under a burst: hundreds of
//! calls held back and released together, on the memory store, on SQLite
//! (two pools on one file) and on PostgreSQL (two pools, i.e. two app
//! instances). PostgreSQL needs `DATABASE_URL`; without it those cases
//! print SKIPPED and pass.
//!
//! The clock is frozen (`ManualClock`), so a delay earned during a burst
//! never runs out in the middle of it and the counts are exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::Arc;
use std::time::Duration;
use twofa_verify::secrecy::SecretString;

use harness::{BAD, GOOD, KINDS, Kind, burst, client, policy, pw, site};
use twofa_verify::{AuthEvent, Error, Login, Policy, RateLimit, SmsDelivery, StepUp};

const BURST: usize = 200;

/// 200 wrong passwords and the right one, released together: no more are
/// evaluated than the policy allows before its first delay (5 per run of
/// failures; the right password, if it gets in, ends a run), every other
/// one is refused without a hash, and afterwards the right password is
/// refused while the delay holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_burst_evaluates_at_most_the_policy() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        site.user("alice").await;
        let results = burst(BURST + 1, |i| {
            let auth = site.at(i).clone();
            async move {
                let p = if i == BURST / 2 { GOOD } else { BAD };
                auth.login("alice", &pw(p)).await
            }
        })
        .await;
        let wrong = results
            .iter()
            .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
            .count();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Delayed { .. } | Error::Locked { .. })))
            .count();
        assert_eq!(wrong + ok + refused, BURST + 1, "{kind:?}: {results:?}");
        let evaluated = wrong + ok;
        // A right password that gets in ends the run of failures, and a new
        // run may start behind it (attempts reserved after the success, when
        // the burst straggles on a loaded machine): at most 5 evaluated per
        // run, the success one of the first run's.
        let most = if ok == 1 { 10 } else { 5 };
        assert!(
            evaluated <= most,
            "{kind:?}: {evaluated} evaluated ({ok} in)"
        );
        assert!(evaluated >= 1, "{kind:?}: nothing evaluated");
        let failed_events = site.count(|e| matches!(e, AuthEvent::LoginFailed { .. }));
        assert_eq!(failed_events, wrong, "{kind:?}");

        // A second burst of wrong ones only, then the right password.
        site.user("bob").await;
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move { auth.login("bob", &pw(BAD)).await }
        })
        .await;
        let wrong = results
            .iter()
            .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
            .count();
        assert_eq!(
            wrong, 5,
            "{kind:?}: exactly the free attempts plus the gate"
        );
        // Refused while delayed, and delayed by the fifth failure's delay
        // (1 s), not by one the refused attempts of the burst would earn.
        match site.at(1).login("bob", &pw(GOOD)).await {
            Err(Error::Delayed { retry_after } | Error::Locked { retry_after }) => {
                assert!(
                    retry_after <= Duration::from_secs(1),
                    "{kind:?}: {retry_after:?}"
                )
            }
            other => {
                panic!("{kind:?}: the right password must be refused while delayed: {other:?}")
            }
        }
        // Once the delay has run out, the right password works again.
        site.clock.advance(Duration::from_secs(2));
        assert!(site.at(0).login("bob", &pw(GOOD)).await.is_ok(), "{kind:?}");
    }
}

/// Unknown usernames lock the same way under a burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_user_burst_is_held_the_same() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            async move { auth.login("nobody", &pw(BAD)).await }
        })
        .await;
        let evaluated = results
            .iter()
            .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
            .count();
        assert_eq!(evaluated, 5, "{kind:?}");
    }
}

/// 40 pending logins × 5 wrong codes each, released together: the
/// account-wide counter holds (5 evaluated), and then even a right recovery
/// code is refused while the delay holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_factor_burst_holds_the_account_limit() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let recovery = site.with_sms(&alice, "+14155552671").await;
        let mut tokens = Vec::new();
        for i in 0..41 {
            match site.at(i).login("alice", &pw(GOOD)).await.unwrap() {
                Login::SecondFactor(ch) => tokens.push(ch.token().to_owned()),
                Login::Complete(_) => panic!("a second factor is enabled"),
                other => panic!("unexpected login outcome {other:?}"),
            }
        }
        // One pending login stays out of the burst, for the right answer.
        let spare = tokens.pop().unwrap();
        let tokens = Arc::new(tokens);
        let results = burst(tokens.len() * 5, |i| {
            let auth = site.at(i).clone();
            let tokens = tokens.clone();
            async move {
                auth.verify(&tokens[i % tokens.len()], &SecretString::from("000000"))
                    .await
            }
        })
        .await;
        let evaluated = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(Error::InvalidCode { .. }) | Err(Error::TooManyAttempts)
                )
            })
            .count();
        let rejected_events = site.count(|e| matches!(e, AuthEvent::CodeRejected { .. }));
        assert_eq!(rejected_events, 5, "{kind:?}: codes checked");
        assert!(evaluated >= 5, "{kind:?}");
        assert!(
            results.iter().all(|r| r.is_err()),
            "{kind:?}: a wrong code let someone in"
        );
        // The right answer, on a fresh challenge, is refused while delayed.
        assert!(matches!(
            site.at(1)
                .verify(&spare, &SecretString::from(recovery[0].as_str()))
                .await,
            Err(Error::Delayed { .. } | Error::Locked { .. })
        ));
        site.clock.advance(Duration::from_secs(2));
        let late = site
            .at(0)
            .verify(&spare, &SecretString::from(recovery[0].as_str()))
            .await;
        assert!(late.is_ok(), "{kind:?}: {late:?}");
    }
}

/// One client spraying one password over 200 usernames: only the client's
/// failure budget is evaluated; another client is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_spraying_from_one_client_is_cut_off() {
    let mut p = policy();
    p.client_failures = RateLimit::new(20, Duration::from_secs(900));
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        site.user("carol").await;
        let attacker = client(7);
        let results = burst(BURST, |i| {
            let auth = site.at(i).with_context(attacker.clone());
            async move { auth.login(&format!("user{i}"), &pw(BAD)).await }
        })
        .await;
        let evaluated = results
            .iter()
            .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
            .count();
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
            .count();
        assert_eq!(evaluated, 20, "{kind:?}");
        assert_eq!(limited, BURST - 20, "{kind:?}");
        assert!(site.count(|e| matches!(e, AuthEvent::ClientLimited { .. })) >= 1);
        // Events carry the client.
        let with_ip = site
            .events
            .events_with_context()
            .iter()
            .filter(|(e, c)| matches!(e, AuthEvent::LoginFailed { .. }) && c.ip() == attacker.ip())
            .count();
        assert_eq!(with_ip, 20, "{kind:?}");
        // The attacker is refused even with the right password of a real
        // account; another client logs in.
        assert!(matches!(
            site.at(0)
                .with_context(attacker.clone())
                .login("carol", &pw(GOOD))
                .await,
            Err(Error::RateLimited { .. })
        ));
        assert!(
            site.at(1)
                .with_context(client(8))
                .login("carol", &pw(GOOD))
                .await
                .is_ok()
        );
    }
}

/// A successful login gives its place in the client's failure budget back.
#[tokio::test]
async fn successes_do_not_spend_the_client_failure_budget() {
    let mut p = policy();
    p.client_failures = RateLimit::new(3, Duration::from_secs(900));
    let site = site(Kind::Memory, p).await.unwrap();
    site.user("dave").await;
    let auth = site.at(0).with_context(client(9));
    for _ in 0..10 {
        assert!(auth.login("dave", &pw(GOOD)).await.is_ok());
    }
    for _ in 0..3 {
        assert!(matches!(
            auth.login("nobody", &pw(BAD)).await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert!(matches!(
        auth.login("dave", &pw(GOOD)).await,
        Err(Error::RateLimited { .. })
    ));
}

/// One client registering many accounts at once: at most its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_burst_from_one_client() {
    let mut p = policy();
    p.client_registrations = RateLimit::new(5, Duration::from_secs(3600));
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        let results = burst(60, |i| {
            let auth = site.at(i).with_context(client(10));
            async move {
                auth.register(
                    &format!("bot{i}"),
                    &format!("bot{i}@example.com"),
                    &pw(GOOD),
                )
                .await
            }
        })
        .await;
        let created = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(created, 5, "{kind:?}");
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(Error::RateLimited { .. }))),
            "{kind:?}"
        );
    }
}

/// Reset requests from one client across many addresses stop at its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_request_burst_from_one_client() {
    let mut p = policy();
    p.client_reset_requests = RateLimit::new(10, Duration::from_secs(3600));
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        let results = burst(BURST, |i| {
            let auth = site.at(i).with_context(client(11));
            async move {
                auth.request_password_reset(&format!("someone{i}@example.com"))
                    .await
            }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10, "{kind:?}");
    }
}

/// 200 concurrent resets with one token: exactly one changes the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_token_burst_has_one_winner() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        site.user("erin").await;
        let token = site
            .at(0)
            .request_password_reset("erin@example.com")
            .await
            .unwrap()
            .unwrap();
        let token = Arc::new(token.token().to_owned());
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let token = token.clone();
            async move {
                auth.reset_password(&token, &pw(&format!("a brand new password {i}")))
                    .await
            }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{kind:?}");
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::PasswordChanged { .. })),
            1
        );
    }
}

/// SMS pumping through enrollments: other accounts enrolling the victim's
/// verified number spend the unverified budget, never the victim's login
/// codes; one client cannot spend the site's budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sms_pumping_cannot_stop_the_owners_codes() {
    let mut p = Policy::default();
    p.sms_unverified_per_phone = RateLimit::new(3, Duration::from_secs(3600));
    p.sms_per_phone = RateLimit::new(5, Duration::from_secs(3600));
    p.client_sms = RateLimit::new(10, Duration::from_secs(3600));
    p.sms_global = RateLimit::new(50, Duration::from_secs(3600));
    p.sms_unverified_global = RateLimit::new(40, Duration::from_secs(3600));
    p.client_registrations = RateLimit::new(1000, Duration::from_secs(3600));
    for kind in KINDS {
        let Some(site) = site(kind, p.clone()).await else {
            continue;
        };
        let victim_phone = "+14155552671";
        let victim = site.user("victim").await;
        site.with_sms(&victim, victim_phone).await;

        // Attackers enroll the victim's number from many accounts, a burst.
        let mut attackers = Vec::new();
        for i in 0..20 {
            attackers.push(site.user(&format!("mallory{i}")).await);
        }
        let attackers = Arc::new(attackers);
        let results = burst(attackers.len(), |i| {
            let auth = site.at(i).with_context(client(100 + i as u8));
            let attackers = attackers.clone();
            async move {
                auth.start_sms_enrollment(attackers[i].id, victim_phone, &StepUp::password(GOOD))
                    .await
            }
        })
        .await;
        // The victim's own enrollment spent one of the number's three.
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            2,
            "{kind:?}: the unverified budget of the number: {results:?}"
        );
        // The victim's own login still texts a code.
        match site.at(0).login("victim", &pw(GOOD)).await.unwrap() {
            Login::SecondFactor(ch) => assert!(
                matches!(ch.sms, Some(SmsDelivery::Sent { .. })),
                "{kind:?}: {:?}",
                ch.sms
            ),
            Login::Complete(_) => panic!("SMS is enabled"),
            other => panic!("unexpected login outcome {other:?}"),
        }

        // One client with many throwaway accounts and numbers: its own budget
        // trips, far below the site's.
        let pumper = client(200);
        let results = burst(attackers.len(), |i| {
            let auth = site.at(i).with_context(pumper.clone());
            let attackers = attackers.clone();
            async move {
                auth.start_sms_enrollment(
                    attackers[i].id,
                    &format!("+1415555{:04}", 3000 + i),
                    &StepUp::password(GOOD),
                )
                .await
            }
        })
        .await;
        let sent = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(sent, 10, "{kind:?}: {results:?}");

        // Many clients pumping many numbers exhaust only the unverified
        // budget of the site; login codes still go out.
        let results = burst(60, |i| {
            let auth = site.at(i).with_context(client(i as u8));
            let attackers = attackers.clone();
            async move {
                auth.start_sms_enrollment(
                    attackers[i % attackers.len()].id,
                    &format!("+1415555{:04}", 4000 + i),
                    &StepUp::password(GOOD),
                )
                .await
            }
        })
        .await;
        let sent_more = results.iter().filter(|r| r.is_ok()).count();
        assert!(sent + sent_more + 3 <= 40, "{kind:?}: unverified budget");
        let ch = match site.at(1).login("victim", &pw(GOOD)).await.unwrap() {
            Login::SecondFactor(ch) => ch,
            Login::Complete(_) => panic!("SMS is enabled"),
            other => panic!("unexpected login outcome {other:?}"),
        };
        assert!(
            matches!(ch.sms, Some(SmsDelivery::Sent { .. })),
            "{kind:?}: {:?}",
            ch.sms
        );
    }
}

/// The confirmation link of a registration just started.
async fn confirm_link(auth: &twofa_verify::Authenticator, username: &str, email: &str) -> String {
    match auth.start_registration(username, email).await.unwrap() {
        twofa_verify::RegistrationStart::Confirm(m) => {
            assert!(!format!("{m:?}").contains(m.token()));
            m.token().to_owned()
        }
        other => panic!("{other:?}"),
    }
}

/// A policy with email-confirmed registration.
fn confirmed_policy() -> twofa_verify::Policy {
    let mut p = policy();
    p.registration = twofa_verify::Registration::EmailConfirmed;
    // Many links for one address are the point here: the mail budget that
    // would stop them at 5 has tests of its own (tests/mail_budget.rs).
    p.mail_per_address = RateLimit::new(10_000, Duration::from_secs(3600));
    p
}

/// Email-confirmed registration: checking a link (what a GET or HEAD of it
/// does) changes nothing; one link, posted by a burst across both
/// instances, creates exactly one account and then says "already
/// confirmed" until it would have expired; a taken address answers like a
/// new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirmed_registration_is_single_use_and_silent() {
    use twofa_verify::RegistrationStart;
    for kind in KINDS {
        let Some(site) = site(kind, confirmed_policy()).await else {
            continue;
        };
        assert!(matches!(
            site.at(0).register("x", "x@example.com", &pw(GOOD)).await,
            Err(Error::Config(_))
        ));
        let token = Arc::new(confirm_link(site.at(0), "frank", "frank@example.com").await);
        // Opened many times (a mail scanner, a preview, the owner): nothing
        // is created and the link still works.
        for i in 0..4 {
            let pending = site.at(i).check_registration_token(&token).await.unwrap();
            assert_eq!(
                (pending.username.as_str(), pending.email.as_str()),
                ("frank", "frank@example.com"),
                "{kind:?}"
            );
        }
        assert!(
            site.at(0)
                .user_by_username("frank")
                .await
                .unwrap()
                .is_none()
        );
        // A refused password uses nothing up either.
        assert!(matches!(
            site.at(1).confirm_registration(&token, &pw("frank")).await,
            Err(Error::WeakPassword(_))
        ));
        assert!(site.at(0).check_registration_token(&token).await.is_ok());

        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let token = token.clone();
            async move { auth.confirm_registration(&token, &pw(GOOD)).await }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{kind:?}");
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(Error::RegistrationAlreadyConfirmed))),
            "{kind:?}: {results:?}"
        );
        assert!(
            site.at(1).login("frank", &pw(GOOD)).await.is_ok(),
            "{kind:?}"
        );
        // Used: the page and the form both say so.
        assert!(matches!(
            site.at(0).check_registration_token(&token).await,
            Err(Error::RegistrationAlreadyConfirmed)
        ));
        assert!(matches!(
            site.at(1).confirm_registration(&token, &pw(GOOD)).await,
            Err(Error::RegistrationAlreadyConfirmed)
        ));

        // The same address again: no error, no account, a notice for the owner.
        match site
            .at(1)
            .start_registration("frank2", "Frank@Example.com")
            .await
            .unwrap()
        {
            RegistrationStart::AlreadyRegistered { email, username } => {
                assert_eq!(
                    (email.as_str(), username.as_str()),
                    ("frank@example.com", "frank")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            site.at(0)
                .user_by_username("frank2")
                .await
                .unwrap()
                .is_none()
        );
        for bad in ["not-a-token", "", "   ", &"x".repeat(129)] {
            assert!(matches!(
                site.at(0).check_registration_token(bad).await,
                Err(Error::InvalidConfirmationToken)
            ));
            assert!(matches!(
                site.at(0).confirm_registration(bad, &pw(GOOD)).await,
                Err(Error::InvalidConfirmationToken)
            ));
        }
        // Expired links stop working, used or not.
        let gina = confirm_link(site.at(0), "gina", "gina@example.com").await;
        site.clock.advance(Duration::from_secs(25 * 3600));
        for t in [gina.as_str(), token.as_str()] {
            assert!(matches!(
                site.at(0).check_registration_token(t).await,
                Err(Error::InvalidConfirmationToken)
            ));
            assert!(matches!(
                site.at(0).confirm_registration(t, &pw(GOOD)).await,
                Err(Error::InvalidConfirmationToken)
            ));
        }
        assert!(site.at(0).user_by_username("gina").await.unwrap().is_none());
    }
}

/// Account pre-hijacking: a registration someone else started with an
/// address gets no password from them, and never blocks the address's
/// owner. Of many links for one address confirmed at once, exactly one
/// creates the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_registration_never_blocks_the_address_owner() {
    for kind in KINDS {
        let Some(site) = site(kind, confirmed_policy()).await else {
            continue;
        };
        // The attacker's start: its link goes to the victim's mailbox,
        // where a scanner opens it.
        let attackers = confirm_link(site.at(0), "mallory", "victim@example.com").await;
        assert!(
            site.at(1)
                .check_registration_token(&attackers)
                .await
                .is_ok()
        );
        // The owner registers while it is pending, and confirms.
        let owners = confirm_link(site.at(1), "victim", "victim@example.com").await;
        let user = site
            .at(0)
            .confirm_registration(&owners, &pw(GOOD))
            .await
            .unwrap();
        assert_eq!(user.username, "victim");
        assert!(
            site.at(1).login("victim", &pw(GOOD)).await.is_ok(),
            "{kind:?}"
        );
        // The attacker's link creates nothing any more.
        assert!(matches!(
            site.at(0).check_registration_token(&attackers).await,
            Err(Error::EmailTaken)
        ));
        assert!(matches!(
            site.at(1).confirm_registration(&attackers, &pw(BAD)).await,
            Err(Error::EmailTaken)
        ));
        assert!(
            site.at(0)
                .user_by_username("mallory")
                .await
                .unwrap()
                .is_none()
        );
        assert!(site.at(0).login("victim", &pw(BAD)).await.is_err());

        // Many links for one address, all posted at once: one account.
        const LINKS: usize = 40;
        let mut tokens = Vec::new();
        for i in 0..LINKS {
            tokens.push(confirm_link(site.at(i), &format!("hal{i}"), "hal@example.com").await);
        }
        let tokens = Arc::new(tokens);
        let results = burst(LINKS, |i| {
            let auth = site.at(i).clone();
            let tokens = tokens.clone();
            async move { auth.confirm_registration(&tokens[i], &pw(GOOD)).await }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{kind:?}");
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(Error::EmailTaken))),
            "{kind:?}: {results:?}"
        );
        // The losers' links were handed back, not burnt: they say why.
        let lost = results.iter().position(|r| r.is_err()).unwrap();
        assert!(matches!(
            site.at(0).check_registration_token(&tokens[lost]).await,
            Err(Error::EmailTaken)
        ));
    }
}

/// Right codes and re-sends of one pending login released together on both
/// instances: at most one `verify` signs in, and once one has, the pending
/// login stays used: a re-send that loaded it before the `verify` took it
/// does not write it back (it used to, and its new code signed in again).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resend_racing_the_verify_does_not_bring_the_pending_login_back() {
    const PHONE: &str = "+14155550177";
    for kind in KINDS {
        let mut p = policy();
        p.resend_interval = Duration::from_secs(1);
        let Some(site) = site(kind, p).await else {
            continue;
        };
        let user = site.user("resend").await;
        site.with_sms(&user, PHONE).await;
        let Login::SecondFactor(ch) = site.at(0).login("resend", &pw(GOOD)).await.unwrap() else {
            panic!("{kind:?}: SMS is on")
        };
        let token = ch.token().to_owned();
        let code = site.sms.last_code_for(PHONE).unwrap();
        site.clock.advance(Duration::from_secs(2));
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let (token, code) = (token.clone(), code.clone());
            async move {
                if i % 2 == 0 {
                    auth.verify(&token, &SecretString::from(code)).await.is_ok()
                } else {
                    let _ = auth.resend(&token).await;
                    false
                }
            }
        })
        .await;
        let signed_in = results.iter().filter(|ok| **ok).count();
        assert!(signed_in <= 1, "{kind:?}: {signed_in} sign-ins");
        if signed_in == 1 {
            let latest = site.sms.last_code_for(PHONE).unwrap();
            let again = site.at(1).verify(&token, &SecretString::from(latest)).await;
            assert!(
                again.is_err(),
                "{kind:?}: the used pending login signed in again"
            );
        }
    }
}
