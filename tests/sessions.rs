//! Sessions that end when credentials change, the takeover path a stolen
//! session opens, and remembered devices, on the memory store, SQLite and
//! PostgreSQL (two app instances each; PostgreSQL needs `DATABASE_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::Arc;
use std::time::Duration;
use twofa_verify::secrecy::SecretString;

use harness::{BAD, GOOD, KINDS, Site, burst, policy, pw, site};
use twofa_verify::{AuthEvent, Error, Login, RequestContext, StepUp, User, Verification};

const PHONE: &str = "+14155552671";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Logs `name` in through the SMS code; returns the verification.
async fn login_with_code(site: &Site, i: usize, name: &str) -> Verification {
    let ch = match site.at(i).login(name, &pw(GOOD)).await.unwrap() {
        Login::SecondFactor(ch) => ch,
        Login::Complete(_) => panic!("a second factor is enabled"),
        other => panic!("unexpected login outcome {other:?}"),
    };
    let code = site.sms.last_code_for(PHONE).unwrap();
    site.at(i)
        .verify(ch.token(), &SecretString::from(code.as_str()))
        .await
        .unwrap()
}

async fn is_current(site: &Site, user: &User, stamp: &str) -> bool {
    site.at(1)
        .session_user(user.id, stamp)
        .await
        .unwrap()
        .is_some()
}

/// Every change of a credential or factor ends the other sessions: the
/// stamp taken before it no longer matches, on the other instance too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_end_when_credentials_change() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let old = site.at(0).session_stamp(&alice);
        assert!(is_current(&site, &alice, old.as_str()).await, "{kind:?}");
        assert!(!format!("{old:?}").contains(old.as_str()));
        // Garbage and other users' stamps never match.
        let bob = site.user("bob").await;
        for bad in ["", "x", "%%%", &"A".repeat(10_000)] {
            assert!(!is_current(&site, &alice, bad).await);
        }
        assert!(!is_current(&site, &alice, site.at(0).session_stamp(&bob).as_str()).await);

        // Password change: the old stamp dies, the returned user's works.
        let new_pw = "another horse battery";
        let alice2 = site
            .at(0)
            .change_password(alice.id, &StepUp::password(GOOD), &pw(new_pw))
            .await
            .unwrap();
        assert!(!is_current(&site, &alice, old.as_str()).await, "{kind:?}");
        let s2 = site.at(0).session_stamp(&alice2);
        assert!(is_current(&site, &alice2, s2.as_str()).await);

        // Reset.
        let t = site
            .at(0)
            .request_password_reset("alice@example.com")
            .await
            .unwrap()
            .unwrap();
        site.at(1)
            .reset_password(t.token(), &pw(GOOD))
            .await
            .unwrap();
        assert!(!is_current(&site, &alice2, s2.as_str()).await, "{kind:?}");

        // Enabling a factor, then disabling it.
        let before = site.at(0).user(alice.id).await.unwrap().unwrap();
        let s3 = site.at(0).session_stamp(&before);
        site.with_sms(&before, PHONE).await;
        assert!(!is_current(&site, &before, s3.as_str()).await, "{kind:?}");
        let on = site.at(0).user(alice.id).await.unwrap().unwrap();
        let s4 = site.at(0).session_stamp(&on);
        site.at(0).send_step_up_code(alice.id).await.unwrap();
        site.at(0)
            .disable_factor(
                alice.id,
                twofa_verify::Factor::Sms,
                &StepUp::new(GOOD, Some(site.sms.last_code_for(PHONE).unwrap())),
            )
            .await
            .unwrap();
        assert!(!is_current(&site, &on, s4.as_str()).await, "{kind:?}");

        // Sign out everywhere.
        let now = site.at(0).user(alice.id).await.unwrap().unwrap();
        let s5 = site.at(0).session_stamp(&now);
        site.at(1)
            .sign_out_everywhere(alice.id, &StepUp::password(GOOD))
            .await
            .unwrap();
        assert!(!is_current(&site, &now, s5.as_str()).await, "{kind:?}");
        // Bob was never touched.
        assert!(is_current(&site, &bob, site.at(0).session_stamp(&bob).as_str()).await);
    }
}

/// A login started before a reset cannot be finished after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_logins_die_with_a_reset() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let ch = match site.at(0).login("alice", &pw(GOOD)).await.unwrap() {
            Login::SecondFactor(ch) => ch,
            Login::Complete(_) => panic!(),
            other => panic!("unexpected login outcome {other:?}"),
        };
        let code = site.sms.last_code_for(PHONE).unwrap();
        let t = site
            .at(1)
            .request_password_reset("alice@example.com")
            .await
            .unwrap()
            .unwrap();
        site.at(1)
            .reset_password(t.token(), &pw("reset horse battery"))
            .await
            .unwrap();
        assert!(
            matches!(
                site.at(0)
                    .verify(ch.token(), &SecretString::from(code.as_str()))
                    .await,
                Err(Error::ChallengeNotFound)
            ),
            "{kind:?}"
        );
        assert!(matches!(
            site.at(0).resend(ch.token()).await,
            Err(Error::ChallengeNotFound)
        ));
    }
}

/// The takeover chain of a stolen session (change the email, add an own
/// authenticator, reset the password to the new email) stops at the first
/// two steps without the password and a current code; a reset link sent
/// before an email change dies with it; the old address is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stolen_session_cannot_take_the_account_over() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let recovery = site.with_sms(&alice, PHONE).await;
        let auth = site.at(0);
        // Email change through the profile: refused.
        assert!(matches!(
            auth.update_profile(alice.id, Some("alice"), Some("evil@example.com"))
                .await,
            Err(Error::StepUpRequired)
        ));
        // The same email is fine (the form sends it back unchanged).
        auth.update_profile(alice.id, Some("Alice"), Some("alice@example.com"))
            .await
            .unwrap();
        // start_email_change without the password, or with the password only.
        assert!(matches!(
            auth.start_email_change(alice.id, "evil@example.com", &StepUp::password(BAD))
                .await,
            Err(Error::InvalidCredentials)
        ));
        assert!(matches!(
            auth.start_email_change(alice.id, "evil@example.com", &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        // Adding an authenticator app: the same.
        assert!(matches!(
            auth.start_totp_enrollment(alice.id, &StepUp::password(BAD))
                .await,
            Err(Error::InvalidCredentials)
        ));
        assert!(matches!(
            auth.start_totp_enrollment(alice.id, &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        assert!(matches!(
            auth.start_sms_enrollment(alice.id, "+14155550123", &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        assert_eq!(
            auth.user(alice.id).await.unwrap().unwrap().email,
            "alice@example.com"
        );

        // The owner changes the email with a step-up: old reset links die,
        // other sessions end, the event names the old address.
        let link = auth
            .request_password_reset("alice@example.com")
            .await
            .unwrap()
            .unwrap();
        let stamp = auth.session_stamp(&alice);
        let mail = auth
            .start_email_change(
                alice.id,
                "Alice.New@Example.com",
                &StepUp::new(GOOD, Some(recovery[0].clone())),
            )
            .await
            .unwrap();
        assert_eq!(mail.email, "alice.new@example.com");
        let changed = site.at(1).confirm_email_change(mail.token()).await.unwrap();
        assert_eq!(changed.email, "alice.new@example.com");
        assert!(site.events.events().contains(&AuthEvent::EmailChanged {
            user: alice.id,
            old_email: "alice@example.com".into(),
        }));
        assert!(matches!(
            auth.reset_password(link.token(), &pw("taken over battery"))
                .await,
            Err(Error::InvalidResetToken)
        ));
        assert!(!is_current(&site, &alice, stamp.as_str()).await, "{kind:?}");
        // The email is unique like before: the link of a taken address
        // is refused when followed.
        let bob = site.user("bob").await;
        let mail = auth
            .start_email_change(bob.id, "alice.new@example.com", &StepUp::password(GOOD))
            .await
            .unwrap();
        assert!(matches!(
            auth.confirm_email_change(mail.token()).await,
            Err(Error::EmailTaken)
        ));
    }
}

/// Remember this device: the next login from it skips the code; a
/// password change, a revoke or the expiry ends it; a token of another user
/// or a made-up one is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remembered_devices_skip_the_code_until_voided() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let v = login_with_code(&site, 0, "alice").await;
        let browser = site
            .at(0)
            .with_context(RequestContext::new().with_user_agent(FIREFOX));
        let device = browser.remember_device(&v).await.unwrap();
        assert!(!format!("{device:?}").contains(device.token()));
        let listed = site.at(1).devices(alice.id).await.unwrap();
        assert_eq!(listed.len(), 1, "{kind:?}");
        assert_eq!(listed[0].label, "Firefox on Linux");

        let with = |token: Option<String>| {
            let auth = site.at(1).clone();
            async move {
                auth.login_with_device("alice", &pw(GOOD), token.as_deref())
                    .await
                    .unwrap()
            }
        };
        assert!(matches!(
            with(Some(device.token().to_owned())).await,
            Login::Complete(_)
        ));
        for junk in [
            None,
            Some(String::new()),
            Some("x".repeat(5000)),
            Some("made-up".into()),
        ] {
            assert!(matches!(with(junk).await, Login::SecondFactor(_)));
        }
        // Bob cannot use Alice's device token.
        let bob = site.user("bob").await;
        site.with_sms(&bob, "+14155550199").await;
        assert!(matches!(
            site.at(0)
                .login_with_device("bob", &pw(GOOD), Some(device.token()))
                .await
                .unwrap(),
            Login::SecondFactor(_)
        ));
        // A wrong password with the device is still a wrong password.
        assert!(matches!(
            site.at(0)
                .login_with_device("alice", &pw(BAD), Some(device.token()))
                .await,
            Err(Error::InvalidCredentials)
        ));

        // Revoked one by one.
        let id = &site.at(0).devices(alice.id).await.unwrap()[0].id;
        // Another user's device id is left alone (and the answer is the
        // same as for an unknown id).
        site.at(0).forget_device(bob.id, id).await.unwrap();
        assert_eq!(site.at(0).devices(alice.id).await.unwrap().len(), 1);
        site.at(0).forget_device(alice.id, id).await.unwrap();
        // Forgetting it again is fine: it is gone either way.
        site.at(0).forget_device(alice.id, id).await.unwrap();
        assert!(matches!(
            with(Some(device.token().to_owned())).await,
            Login::SecondFactor(_)
        ));

        // Voided by a password change.
        let v = login_with_code(&site, 0, "alice").await;
        let device = site.at(0).remember_device(&v).await.unwrap();
        assert!(matches!(
            with(Some(device.token().to_owned())).await,
            Login::Complete(_)
        ));
        let proof = site.sms_step_up(alice.id, GOOD, PHONE).await;
        site.at(0)
            .change_password(alice.id, &proof, &pw(GOOD.to_uppercase().as_str()))
            .await
            .unwrap();
        let proof = site
            .sms_step_up(alice.id, &GOOD.to_uppercase(), PHONE)
            .await;
        site.at(0)
            .change_password(alice.id, &proof, &pw(GOOD))
            .await
            .unwrap();
        assert!(matches!(
            with(Some(device.token().to_owned())).await,
            Login::SecondFactor(_)
        ));
        assert!(site.at(0).devices(alice.id).await.unwrap().is_empty());

        // Expiry (30 days by default).
        let v = login_with_code(&site, 0, "alice").await;
        let device = site.at(0).remember_device(&v).await.unwrap();
        site.clock.advance(Duration::from_secs(31 * 24 * 3600));
        assert!(matches!(
            with(Some(device.token().to_owned())).await,
            Login::SecondFactor(_)
        ));

        // Forget all.
        let v = login_with_code(&site, 1, "alice").await;
        site.at(0).remember_device(&v).await.unwrap();
        site.at(0).remember_device(&v).await.unwrap();
        assert_eq!(site.at(0).forget_all_devices(alice.id).await.unwrap(), 2);
    }
}

/// Smart lockout: a stranger's burst of wrong passwords locks the account,
/// but not its owner's remembered browser; the browser's own failures are
/// held by the same reserve-then-check rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stranger_cannot_lock_the_owner_out_of_a_trusted_browser() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let v = login_with_code(&site, 0, "alice").await;
        let device = Arc::new(
            site.at(0)
                .remember_device(&v)
                .await
                .unwrap()
                .token()
                .to_owned(),
        );

        let results = burst(200, |i| {
            let auth = site.at(i).clone();
            async move { auth.login("alice", &pw(BAD)).await }
        })
        .await;
        assert_eq!(
            results
                .iter()
                .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
                .count(),
            5,
            "{kind:?}"
        );
        // Locked for everyone else...
        assert!(matches!(
            site.at(1).login("alice", &pw(GOOD)).await,
            Err(Error::Delayed { .. } | Error::Locked { .. })
        ));
        // ...not for the trusted browser.
        assert!(matches!(
            site.at(1)
                .login_with_device("alice", &pw(GOOD), Some(&device))
                .await
                .unwrap(),
            Login::Complete(_)
        ));
        // A burst of wrong passwords with the stolen device token is held too.
        let results = burst(200, |i| {
            let auth = site.at(i).clone();
            let device = device.clone();
            async move {
                auth.login_with_device("alice", &pw(BAD), Some(&device))
                    .await
            }
        })
        .await;
        assert_eq!(
            results
                .iter()
                .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
                .count(),
            5,
            "{kind:?}"
        );
    }
}
