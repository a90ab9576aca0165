//! Step-up and events for every credential change, on every store (two
//! app instances each; PostgreSQL needs `DATABASE_URL`, Redis `REDIS_URL`):
//! the password change and "sign out everywhere" ask for the second factor,
//! an email change waits for its link to the new address, and only the
//! newest reset link works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use twofa_verify::secrecy::SecretString;

use harness::{BAD, GOOD, KINDS, burst, policy, pw, site};
use twofa_verify::store::Counter;
use twofa_verify::{AuthEvent, Authenticator, Error, MemoryStore, StateStore, StepUp, Timestamp};

const PHONE: &str = "+14155552671";
const BURST: usize = 200;

/// With 2FA on, the password alone no longer changes the password: the
/// code is asked for (`StepUpRequired`), a wrong one is refused and counts,
/// and nothing changes until both are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn change_password_asks_for_the_second_factor() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let new = pw("a brand new passphrase");
        let auth = site.at(0);
        assert!(
            matches!(
                auth.change_password(alice.id, &StepUp::password(GOOD), &new)
                    .await,
                Err(Error::StepUpRequired)
            ),
            "{kind:?}"
        );
        assert!(matches!(
            auth.change_password(alice.id, &StepUp::new(GOOD, Some("   ")), &new)
                .await,
            Err(Error::StepUpRequired)
        ));
        assert!(matches!(
            auth.change_password(alice.id, &StepUp::new(BAD, Some("123456")), &new)
                .await,
            Err(Error::InvalidCredentials)
        ));
        site.at(0).send_step_up_code(alice.id).await.unwrap();
        let sent = site.sms.last_code_for(PHONE).unwrap();
        let wrong = if sent == "000000" { "111111" } else { "000000" };
        assert!(matches!(
            auth.change_password(alice.id, &StepUp::new(GOOD, Some(wrong)), &new)
                .await,
            Err(Error::InvalidCode { .. })
        ));
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::PasswordChanged { .. })),
            0
        );
        // The old password still logs in: nothing changed.
        assert!(site.at(1).login("alice", &pw(GOOD)).await.is_ok());

        let stamp = site.at(0).session_stamp(&alice);
        let changed = site
            .at(1)
            .change_password(alice.id, &StepUp::new(GOOD, Some(sent)), &new)
            .await
            .unwrap();
        assert_ne!(site.at(0).session_stamp(&changed), stamp);
        assert!(site.events.events().contains(&AuthEvent::PasswordChanged {
            user: alice.id,
            via_reset: false,
        }));
        assert!(matches!(
            site.at(0).login("alice", &pw(GOOD)).await,
            Err(Error::InvalidCredentials)
        ));
        // Without a second factor the password alone is the step-up.
        let bob = site.user("bob").await;
        site.at(0)
            .change_password(bob.id, &StepUp::password(GOOD), &new)
            .await
            .unwrap();
    }
}

/// A stolen session cannot sign the owner out everywhere: the password,
/// and with 2FA on a current code, are asked for; a refusal ends nothing.
/// A success ends every session and is an event (for a notice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_out_everywhere_needs_a_step_up() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let alice = site.at(0).user(alice.id).await.unwrap().unwrap();
        let stamp = site.at(0).session_stamp(&alice);
        let auth = site.at(1);
        assert!(
            matches!(
                auth.sign_out_everywhere(alice.id, &StepUp::password(BAD))
                    .await,
                Err(Error::InvalidCredentials)
            ),
            "{kind:?}"
        );
        assert!(matches!(
            auth.sign_out_everywhere(alice.id, &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        assert!(
            site.at(0)
                .session_user(alice.id, stamp.as_str())
                .await
                .unwrap()
                .is_some(),
            "a refused sign-out ends nothing"
        );
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::SignedOutEverywhere { .. })),
            0
        );
        let proof = site.sms_step_up(alice.id, GOOD, PHONE).await;
        auth.sign_out_everywhere(alice.id, &proof).await.unwrap();
        assert!(
            site.at(0)
                .session_user(alice.id, stamp.as_str())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            site.events
                .events()
                .contains(&AuthEvent::SignedOutEverywhere { user: alice.id })
        );
    }
}

/// Changing the phone, regenerating recovery codes and removing a factor
/// each need a step-up and leave an event behind for a notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factor_changes_need_a_step_up_and_are_events() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        site.with_sms(&alice, PHONE).await;
        let auth = site.at(0);
        assert!(matches!(
            auth.regenerate_recovery_codes(alice.id, &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        let proof = site.sms_step_up(alice.id, GOOD, PHONE).await;
        auth.regenerate_recovery_codes(alice.id, &proof)
            .await
            .unwrap();
        assert_eq!(
            site.count(|e| *e == AuthEvent::RecoveryCodesGenerated { user: alice.id }),
            2,
            "{kind:?}: enrollment and regeneration"
        );
        let other = "+14155550123";
        assert!(matches!(
            auth.start_sms_enrollment(alice.id, other, &StepUp::password(GOOD))
                .await,
            Err(Error::StepUpRequired)
        ));
        let proof = site.sms_step_up(alice.id, GOOD, PHONE).await;
        auth.start_sms_enrollment(alice.id, other, &proof)
            .await
            .unwrap();
        let code = site.sms.last_code_for(other).unwrap();
        let _enrolled = auth
            .confirm_sms_enrollment(alice.id, &SecretString::from(code.as_str()))
            .await
            .unwrap();
        assert!(
            site.events
                .events()
                .contains(&AuthEvent::PhoneChanged { user: alice.id })
        );
    }
}

/// An email change waits for the link mailed to the new address: starting
/// it changes nothing, the link shows what it will do without doing it,
/// works once, and the old address is named in the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_change_waits_for_the_link_to_the_new_address() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let stamp = site.at(0).session_stamp(&alice);
        let auth = site.at(0);
        assert!(matches!(
            auth.start_email_change(alice.id, "not an address", &StepUp::password(GOOD))
                .await,
            Err(Error::InvalidEmail)
        ));
        assert!(matches!(
            auth.start_email_change(alice.id, "ALICE@example.com", &StepUp::password(GOOD))
                .await,
            Err(Error::EmailTaken)
        ));
        let mail = auth
            .start_email_change(alice.id, "Alice.New@Example.com", &StepUp::password(GOOD))
            .await
            .unwrap();
        assert_eq!(mail.email, "alice.new@example.com");
        assert_eq!(mail.current_email, "alice@example.com");
        assert!(!format!("{mail:?}").contains(mail.token()));
        assert!(
            site.events
                .events()
                .contains(&AuthEvent::EmailChangeRequested {
                    user: alice.id,
                    current_email: "alice@example.com".into(),
                })
        );
        // Nothing changed yet: the address, the session, the login.
        let now = site.at(1).user(alice.id).await.unwrap().unwrap();
        assert_eq!(now.email, "alice@example.com", "{kind:?}");
        assert!(
            site.at(1)
                .session_user(alice.id, stamp.as_str())
                .await
                .unwrap()
                .is_some()
        );
        // Checking the link (the page behind a GET) changes nothing either.
        for _ in 0..2 {
            let pending = site.at(1).check_email_change(mail.token()).await.unwrap();
            assert_eq!(pending.new_email, "alice.new@example.com");
            assert_eq!(pending.user.email, "alice@example.com");
        }
        let changed = site.at(1).confirm_email_change(mail.token()).await.unwrap();
        assert_eq!(changed.email, "alice.new@example.com");
        assert!(site.events.events().contains(&AuthEvent::EmailChanged {
            user: alice.id,
            old_email: "alice@example.com".into(),
        }));
        // Every session ends; the link is used up.
        assert!(
            site.at(0)
                .session_user(alice.id, stamp.as_str())
                .await
                .unwrap()
                .is_none()
        );
        for auth in [site.at(0), site.at(1)] {
            assert!(matches!(
                auth.confirm_email_change(mail.token()).await,
                Err(Error::InvalidConfirmationToken)
            ));
            assert!(matches!(
                auth.check_email_change(mail.token()).await,
                Err(Error::InvalidConfirmationToken)
            ));
        }
    }
}

/// A link dies when a newer change is started, when a credential changes
/// (password, "sign out everywhere") and when it expires; a made-up or
/// edited token, or one of another user, never works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_change_links_die_with_newer_links_and_credential_changes() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let bob = site.user("bob").await;
        let auth = site.at(0);
        let start = |to: &'static str| {
            let auth = auth.clone();
            async move {
                auth.start_email_change(alice.id, to, &StepUp::password(GOOD))
                    .await
                    .unwrap()
            }
        };
        let refused = |token: String| {
            let auth = site.at(1).clone();
            async move {
                matches!(
                    auth.confirm_email_change(&token).await,
                    Err(Error::InvalidConfirmationToken)
                )
            }
        };
        // A newer change voids the older link.
        let first = start("first@example.com").await;
        let second = start("second@example.com").await;
        assert!(refused(first.token().to_owned()).await, "{kind:?}");
        // The refused older link did not use up the newer one.
        assert_eq!(
            site.at(1)
                .check_email_change(second.token())
                .await
                .unwrap()
                .new_email,
            "second@example.com"
        );
        // A password change voids it.
        site.at(1)
            .change_password(alice.id, &StepUp::password(GOOD), &pw("another passphrase"))
            .await
            .unwrap();
        assert!(refused(second.token().to_owned()).await, "{kind:?}");
        site.at(1)
            .change_password(alice.id, &StepUp::password("another passphrase"), &pw(GOOD))
            .await
            .unwrap();
        // "Sign out everywhere" voids it.
        let third = start("third@example.com").await;
        site.at(0)
            .sign_out_everywhere(alice.id, &StepUp::password(GOOD))
            .await
            .unwrap();
        assert!(refused(third.token().to_owned()).await);
        // Expiry (the registration link's lifetime).
        let fourth = start("fourth@example.com").await;
        site.clock.advance(policy().registration_token_ttl);
        assert!(refused(fourth.token().to_owned()).await);
        // Made-up and edited tokens, and a link of bob's used as alice's.
        let fifth = start("fifth@example.com").await;
        let mut edited = fifth.token().to_owned();
        let last = edited.pop().unwrap();
        edited.push(if last == 'A' { 'B' } else { 'A' });
        // 54 characters decode to a token's 40 bytes (user id 0).
        let zeros = "A".repeat(54);
        for bad in [
            "",
            "x",
            "%%%",
            "\u{0}\u{202e}ünïcødé",
            &zeros,
            &"A".repeat(10_000),
            &edited,
        ] {
            assert!(refused(bad.to_owned()).await, "{bad:?}");
        }
        let bobs = site
            .at(0)
            .start_email_change(bob.id, "bob2@example.com", &StepUp::password(GOOD))
            .await
            .unwrap();
        let mut raw = data_encoding::BASE64URL_NOPAD
            .decode(bobs.token().as_bytes())
            .unwrap();
        raw[..8].copy_from_slice(&alice.id.0.to_be_bytes());
        assert!(refused(data_encoding::BASE64URL_NOPAD.encode(&raw)).await);
        // None of that used the live links up.
        site.at(1)
            .confirm_email_change(fifth.token())
            .await
            .unwrap();
        site.at(1).confirm_email_change(bobs.token()).await.unwrap();
        let emails = (
            site.at(0).user(alice.id).await.unwrap().unwrap().email,
            site.at(0).user(bob.id).await.unwrap().unwrap().email,
        );
        assert_eq!(
            emails,
            ("fifth@example.com".into(), "bob2@example.com".into())
        );
    }
}

/// 200 concurrent confirmations of one email-change link, across both
/// instances: exactly one changes the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_change_link_burst_has_one_winner() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let mail = site
            .at(0)
            .start_email_change(alice.id, "alice2@example.com", &StepUp::password(GOOD))
            .await
            .unwrap();
        let token = Arc::new(mail.token().to_owned());
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let token = token.clone();
            async move { auth.confirm_email_change(&token).await }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{kind:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(_) | Err(Error::InvalidConfirmationToken)))
        );
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::EmailChanged { .. })),
            1
        );
    }
}

/// Requesting a new reset link voids the older ones: the older link shows
/// no form and sets no password, on either instance; the newest still
/// works (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_reset_link_voids_the_older_ones() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let alice = site.user("alice").await;
        let request = |i: usize| {
            let auth = site.at(i).clone();
            async move {
                auth.request_password_reset("alice@example.com")
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        // The clock is frozen: both links are asked for in the same
        // millisecond.
        let old = request(0).await;
        let new = request(1).await;
        assert_ne!(old.token(), new.token());
        for i in 0..2 {
            assert!(
                matches!(
                    site.at(i).check_reset_token(old.token()).await,
                    Err(Error::InvalidResetToken)
                ),
                "{kind:?}"
            );
            assert!(
                matches!(
                    site.at(i)
                        .reset_password(old.token(), &pw("an old link's passphrase"))
                        .await,
                    Err(Error::InvalidResetToken)
                ),
                "{kind:?}"
            );
        }
        // The refused older link did not use up the newer one.
        assert_eq!(
            site.at(0).check_reset_token(new.token()).await.unwrap().id,
            alice.id
        );
        site.at(1)
            .reset_password(new.token(), &pw("the newest passphrase"))
            .await
            .unwrap();
        assert!(matches!(
            site.at(0)
                .reset_password(new.token(), &pw("once more passphrase"))
                .await,
            Err(Error::InvalidResetToken)
        ));
        assert!(
            site.at(0)
                .login("alice", &pw("the newest passphrase"))
                .await
                .is_ok()
        );
    }
}

/// 200 concurrent resets, half with an older link and half with the newest,
/// across both instances: exactly one sets the password, with the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_burst_with_an_older_link_has_one_winner_the_newest() {
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        site.user("erin").await;
        let mut tokens = Vec::new();
        for i in 0..2 {
            let t = site
                .at(i)
                .request_password_reset("erin@example.com")
                .await
                .unwrap()
                .unwrap();
            tokens.push(t.token().to_owned());
        }
        let tokens = Arc::new(tokens);
        let results = burst(BURST, |i| {
            let auth = site.at(i).clone();
            let tokens = tokens.clone();
            async move {
                auth.reset_password(&tokens[i % 2], &pw(&format!("a brand new password {i}")))
                    .await
            }
        })
        .await;
        let winners: Vec<usize> = (0..BURST).filter(|i| results[*i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{kind:?}");
        assert_eq!(winners[0] % 2, 1, "{kind:?}: only the newest link works");
        assert_eq!(
            site.count(|e| matches!(e, AuthEvent::PasswordChanged { .. })),
            1
        );
    }
}

/// A memory state store that, armed, writes a value under a key just before
/// the next `take` of that key: a newer link issued between a use's check
/// and its take.
#[derive(Debug, Clone, Default)]
struct Interposing {
    inner: MemoryStore,
    armed: Arc<Mutex<Option<Entry>>>,
}

/// A key and the value to write under it.
type Entry = (String, Vec<u8>);

#[async_trait::async_trait]
impl StateStore for Interposing {
    async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<(), Error> {
        StateStore::put(&self.inner, key, value, expires_at).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.inner.put_if_absent(key, value, expires_at, now).await
    }
    async fn put_if_present(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.inner.put_if_present(key, value, expires_at, now).await
    }
    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>, Error> {
        StateStore::get(&self.inner, key, now).await
    }
    async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>, Error> {
        let armed = self.armed.lock().unwrap().take_if(|(k, _)| k == key);
        if let Some((k, v)) = armed {
            let later = now.plus(Duration::from_secs(3600));
            StateStore::put(&self.inner, &k, &v, later).await?;
        }
        self.inner.take(key, now).await
    }
    async fn delete(&self, key: &str) -> Result<(), Error> {
        StateStore::delete(&self.inner, key).await
    }
    async fn increment(
        &self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter, Error> {
        self.inner.increment(key, ttl, extend, now).await
    }
    async fn release(&self, key: &str, now: Timestamp) -> Result<(), Error> {
        self.inner.release(key, now).await
    }
    async fn advance(
        &self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.inner.advance(key, value, expires_at, now).await
    }
}

/// A link that was the newest when checked, but not any more when taken
/// (a newer one was issued in between), is refused, and the newer link it
/// took by mistake is put back: the newer one still works.
#[tokio::test]
async fn a_link_superseded_between_check_and_take_leaves_the_newer_one_working() {
    let state = Interposing::default();
    let users = MemoryStore::new();
    let auth = Authenticator::builder()
        .secret_key(
            twofa_verify::SecretKey::from_bytes(b"interposing-test-secret-key-0123456789".to_vec())
                .unwrap(),
        )
        .user_store(users)
        .state_store(state.clone())
        .build()
        .unwrap();
    let alice = auth
        .register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    let key = format!("reset-link:{}", alice.id);
    let now = auth.now();
    let request = || async {
        let t = auth
            .request_password_reset("alice@example.com")
            .await
            .unwrap()
            .unwrap();
        let stored = StateStore::get(&state.inner, &key, now).await.unwrap();
        (t.token().to_owned(), stored.unwrap())
    };
    let (older, older_entry) = request().await;
    let (newer, newer_entry) = request().await;
    // The older link is live again when checked; the newer one lands just
    // before the take.
    StateStore::put(
        &state.inner,
        &key,
        &older_entry,
        now.plus(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    *state.armed.lock().unwrap() = Some((key.clone(), newer_entry));
    assert!(matches!(
        auth.reset_password(&older, &pw("the older link's passphrase"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    assert!(state.armed.lock().unwrap().is_none(), "the take ran");
    auth.reset_password(&newer, &pw("the newer link's passphrase"))
        .await
        .unwrap();
}

/// Starts an authenticator-app enrollment for `user`; the app's current
/// code.
async fn totp_pending(site: &harness::Site, user: twofa_verify::UserId) -> String {
    use twofa_verify::secrecy::ExposeSecret;
    let e = site
        .at(0)
        .start_totp_enrollment(user, &StepUp::password(GOOD))
        .await
        .unwrap();
    let secret = data_encoding::BASE32_NOPAD
        .decode(e.secret_base32.expose_secret().as_bytes())
        .unwrap();
    site.totp_now(&secret)
}

/// An enrollment started before a credential change cannot be finished
/// after it: an authenticator app started, then "sign out everywhere"
/// (or an operator's lock): the right code is refused and no factor is
/// added; an SMS enrollment likewise after a password change. Otherwise a
/// confirm held open across the change would add a factor and hand its
/// session a fresh stamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_enrollment_in_progress_dies_with_a_credential_change() {
    use twofa_verify::authenticator::Operator;
    for kind in KINDS {
        let Some(site) = site(kind, policy()).await else {
            continue;
        };
        let carol = site.user("carol").await;
        let code = totp_pending(&site, carol.id).await;
        site.at(1)
            .sign_out_everywhere(carol.id, &StepUp::password(GOOD))
            .await
            .unwrap();
        let late = site
            .at(0)
            .confirm_totp_enrollment(carol.id, &SecretString::from(code))
            .await;
        assert!(
            matches!(late, Err(Error::ChallengeNotFound)),
            "{kind:?}: {late:?}"
        );

        let dan = site.user("dan").await;
        let code = totp_pending(&site, dan.id).await;
        let op = Operator::new("jane", "account takeover suspected").unwrap();
        site.at(1).admin().lock(dan.id, &op).await.unwrap();
        let late = site
            .at(0)
            .confirm_totp_enrollment(dan.id, &SecretString::from(code))
            .await;
        assert!(late.is_err(), "{kind:?}: {late:?}");

        let erin = site.user("erin").await;
        site.at(0)
            .start_sms_enrollment(erin.id, PHONE, &StepUp::password(GOOD))
            .await
            .unwrap();
        let code = site.sms.last_code_for(PHONE).unwrap();
        site.at(1)
            .change_password(
                erin.id,
                &StepUp::password(GOOD),
                &pw("a brand new passphrase"),
            )
            .await
            .unwrap();
        let late = site
            .at(0)
            .confirm_sms_enrollment(erin.id, &SecretString::from(code))
            .await;
        assert!(
            matches!(late, Err(Error::ChallengeNotFound)),
            "{kind:?}: {late:?}"
        );
        for user in [carol.id, dan.id, erin.id] {
            let state = site.at(0).admin().security_state(user).await.unwrap();
            assert!(
                !state.user.has_second_factor(),
                "{kind:?}: a factor was added"
            );
        }
    }
}
