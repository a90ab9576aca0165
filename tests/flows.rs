//! Password flows of the Authenticator (register, login, lockout, change,
//! reset, profile) on the MemoryStore, with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use twofa_verify::clock::ManualClock;
use twofa_verify::error::WeakPassword;
use twofa_verify::event::RecordingSink;
use twofa_verify::password::Hasher;
use twofa_verify::policy::HashParams;
use twofa_verify::store::Counter;
use twofa_verify::store::{NewUser, StoredSecret};
use twofa_verify::*;

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

struct Fx {
    auth: Authenticator,
    clock: ManualClock,
    store: MemoryStore,
    events: RecordingSink,
}

fn fixture_with(policy: Policy) -> Fx {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let events = RecordingSink::new();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(
                b"0123456789abcdef0123456789abcdef-test-key".to_vec(),
            )
            .unwrap(),
        )
        .clock(clock.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    Fx {
        auth,
        clock,
        store,
        events,
    }
}

fn fixture() -> Fx {
    fixture_with(Policy::default())
}

const GOOD: &str = "correct horse battery";

async fn alice(fx: &Fx) -> User {
    fx.auth
        .register("Alice", "Alice@Example.com", &pw(GOOD))
        .await
        .unwrap()
}

fn complete(l: Login) -> User {
    match l {
        Login::Complete(u) => u,
        Login::SecondFactor(c) => panic!("unexpected second factor {c:?}"),
        other => panic!("unexpected login outcome {other:?}"),
    }
}

#[tokio::test]
async fn register_then_login_by_username_or_email_any_case() {
    let fx = fixture();
    let u = alice(&fx).await;
    assert_eq!(u.username, "Alice");
    assert_eq!(u.email, "alice@example.com");
    assert!(!u.has_second_factor());
    for ident in [
        "Alice",
        "alice",
        " ALICE ",
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
    ] {
        let got = complete(fx.auth.login(ident, &pw(GOOD)).await.unwrap());
        assert_eq!(got.id, u.id, "{ident}");
    }
    assert!(
        fx.events
            .events()
            .contains(&AuthEvent::Registered { user: u.id })
    );
    assert!(fx.events.events().contains(&AuthEvent::LoginSucceeded {
        user: u.id,
        factor: None
    }));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_the_same_error() {
    let fx = fixture();
    let u = alice(&fx).await;
    let wrong = fx
        .auth
        .login("alice", &pw("not the password"))
        .await
        .unwrap_err();
    let unknown = fx.auth.login("mallory", &pw(GOOD)).await.unwrap_err();
    assert!(matches!(wrong, Error::InvalidCredentials));
    assert!(matches!(unknown, Error::InvalidCredentials));
    assert_eq!(wrong.to_string(), unknown.to_string());
    let ev = fx.events.events();
    assert!(ev.contains(&AuthEvent::LoginFailed {
        user: Some(u.id),
        failures: 1
    }));
    assert!(ev.contains(&AuthEvent::LoginFailed {
        user: None,
        failures: 1
    }));
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_never_panics() {
    let fx = fixture();
    let huge = "a".repeat(100_000);
    assert!(matches!(
        fx.auth.register("", "a@b.c", &pw(GOOD)).await,
        Err(Error::InvalidUsername(_))
    ));
    assert!(matches!(
        fx.auth.register("   ", "a@b.c", &pw(GOOD)).await,
        Err(Error::InvalidUsername(_))
    ));
    assert!(matches!(
        fx.auth.register(&huge, "a@b.c", &pw(GOOD)).await,
        Err(Error::InvalidUsername(_))
    ));
    assert!(matches!(
        fx.auth.register("bob", "not-an-email", &pw(GOOD)).await,
        Err(Error::InvalidEmail)
    ));
    assert!(matches!(
        fx.auth.register("bob", &huge, &pw(GOOD)).await,
        Err(Error::InvalidEmail)
    ));
    assert!(matches!(
        fx.auth.register("bob", "b@x.io", &pw(&huge)).await,
        Err(Error::WeakPassword(WeakPassword::TooLong(1024)))
    ));
    assert!(matches!(
        fx.auth.register("bob", "b@x.io", &pw("")).await,
        Err(Error::WeakPassword(WeakPassword::TooShort(8)))
    ));
    assert!(matches!(
        fx.auth.register("bob", "b@x.io", &pw("iloveyou2")).await,
        Err(Error::WeakPassword(WeakPassword::Common))
    ));
    assert!(matches!(
        fx.auth
            .register("bobby-tables", "b@x.io", &pw("Bobby-Tables"))
            .await,
        Err(Error::WeakPassword(WeakPassword::SameAsIdentity))
    ));
    // Nothing was created by the failures.
    assert!(fx.auth.user_by_username("bob").await.unwrap().is_none());
    // Login with junk of every kind: the same error, no panic.
    for ident in ["", " ", &huge, "\u{0}", "a@", "@", "🦀🦀🦀"] {
        assert!(
            matches!(
                fx.auth.login(ident, &pw(GOOD)).await,
                Err(Error::InvalidCredentials)
            ),
            "{ident:.10}"
        );
    }
    alice(&fx).await;
    assert!(matches!(
        fx.auth.login("alice", &pw(&huge)).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        fx.auth.verify("junk", &SecretString::from("123456")).await,
        Err(Error::ChallengeNotFound)
    ));
    assert!(matches!(
        fx.auth.verify(&huge, &SecretString::from("123456")).await,
        Err(Error::ChallengeNotFound)
    ));
    assert!(matches!(
        fx.auth.verify("junk", &SecretString::from("12a456")).await,
        Err(Error::MalformedCode)
    ));
    assert!(matches!(
        fx.auth
            .verify("junk", &SecretString::from(huge.as_str()))
            .await,
        Err(Error::MalformedCode)
    ));
    assert!(matches!(
        fx.auth.reset_password(&huge, &pw(GOOD)).await,
        Err(Error::InvalidResetToken)
    ));
    assert!(matches!(
        fx.auth.reset_password("!!!", &pw(GOOD)).await,
        Err(Error::InvalidResetToken)
    ));
}

#[tokio::test]
async fn unicode_passwords_are_nfkc_normalised() {
    let fx = fixture();
    // Fullwidth and ASCII forms are the same password after NFKC.
    fx.auth
        .register(
            "carol",
            "carol@example.com",
            &pw("ｓｅｃｒｅｔ ｗｏｒｄｓ ９"),
        )
        .await
        .unwrap();
    complete(fx.auth.login("carol", &pw("secret words 9")).await.unwrap());
    // 64+ characters, emoji and spaces are fine and not truncated.
    let long = "🦀 long passphrase ".repeat(10);
    fx.auth
        .register("dave", "dave@example.com", &pw(&long))
        .await
        .unwrap();
    complete(fx.auth.login("dave", &pw(&long)).await.unwrap());
    assert!(
        fx.auth
            .login("dave", &pw(&long[..long.len() - 1]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn duplicates_are_refused_and_lose_nothing() {
    let fx = fixture();
    let a = alice(&fx).await;
    assert!(matches!(
        fx.auth
            .register("ALICE", "other@example.com", &pw(GOOD))
            .await,
        Err(Error::UsernameTaken)
    ));
    assert!(matches!(
        fx.auth
            .register("alice2", "ALICE@example.com", &pw(GOOD))
            .await,
        Err(Error::EmailTaken)
    ));
    assert_eq!(
        complete(fx.auth.login("alice", &pw(GOOD)).await.unwrap()).id,
        a.id
    );
}

#[tokio::test]
async fn usernames_are_checked_and_look_alikes_refused() {
    let fx = fixture();
    let a = alice(&fx).await;
    let register = |name: &'static str, n: u32| {
        let auth = fx.auth.clone();
        async move {
            auth.register(name, &format!("u{n}@example.com"), &pw(GOOD))
                .await
        }
    };
    for (name, why) in [
        ("\u{430}lice", "it mixes letters from different scripts"),
        ("alice\u{200b}", "it must not contain invisible characters"),
        ("al\u{ad}ice", "it must not contain invisible characters"),
        (
            "alice\u{202e}",
            "it must not contain characters that change the text direction",
        ),
        ("carol:x", "it must not contain ':'"),
    ] {
        match register(name, 1).await {
            Err(Error::InvalidUsername(got)) => assert_eq!(got.to_string(), why, "{name:?}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    // Same key (fullwidth, other case), or another key with alice's skeleton.
    for name in [
        "\u{ff21}LICE",
        "\u{430}\u{4cf}\u{456}\u{441}\u{435}",
        "a1ice",
    ] {
        assert!(
            matches!(register(name, 2).await, Err(Error::UsernameTaken)),
            "{name:?}"
        );
    }
    let d = register("Дмитрий", 3).await.unwrap();
    assert_eq!(d.username, "Дмитрий");
    assert_eq!(
        complete(fx.auth.login("ДМИТРИЙ", &pw(GOOD)).await.unwrap()).id,
        d.id
    );
    assert_eq!(
        fx.auth
            .user_by_username("дмитрий")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(d.id)
    );
    assert!(matches!(
        fx.auth.update_profile(d.id, Some("a1ice"), None).await,
        Err(Error::UsernameTaken)
    ));
    // Another case of one's own name keeps one's own skeleton.
    let u = fx
        .auth
        .update_profile(a.id, Some("ALICE"), None)
        .await
        .unwrap();
    assert_eq!(u.username, "ALICE");
    let rec = fx.store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(rec.username_skeleton.as_deref(), Some("alice"));
}

#[tokio::test]
async fn profile_updates_check_uniqueness() {
    let fx = fixture();
    let a = alice(&fx).await;
    fx.auth
        .register("bob", "bob@example.com", &pw(GOOD))
        .await
        .unwrap();
    assert!(matches!(
        fx.auth.update_profile(a.id, Some("BOB"), None).await,
        Err(Error::UsernameTaken)
    ));
    // A new email goes through `start_email_change` (re-authenticated) and
    // its link only.
    assert!(matches!(
        fx.auth
            .update_profile(a.id, None, Some("Bob@Example.com"))
            .await,
        Err(Error::StepUpRequired)
    ));
    let mail = fx
        .auth
        .start_email_change(a.id, "Bob@Example.com", &StepUp::password(GOOD))
        .await
        .unwrap();
    assert!(matches!(
        fx.auth.confirm_email_change(mail.token()).await,
        Err(Error::EmailTaken)
    ));
    assert!(matches!(
        fx.auth.update_profile(a.id, Some("a b"), None).await,
        Err(Error::InvalidUsername(_))
    ));
    assert!(matches!(
        fx.auth.update_profile(UserId(999), Some("x"), None).await,
        Err(Error::UserNotFound)
    ));
    fx.auth
        .update_profile(a.id, Some("alicia"), None)
        .await
        .unwrap();
    let mail = fx
        .auth
        .start_email_change(a.id, "ALICIA@example.com", &StepUp::password(GOOD))
        .await
        .unwrap();
    let u = fx.auth.confirm_email_change(mail.token()).await.unwrap();
    assert_eq!(
        (u.username.as_str(), u.email.as_str()),
        ("alicia", "alicia@example.com")
    );
    // Keeping one's own values is not a conflict.
    fx.auth
        .update_profile(a.id, Some("Alicia"), Some("alicia@example.com"))
        .await
        .unwrap();
    complete(
        fx.auth
            .login("alicia@example.com", &pw(GOOD))
            .await
            .unwrap(),
    );
    assert!(fx.auth.user_by_username("alice").await.unwrap().is_none());
}

#[tokio::test]
async fn failures_delay_then_lock_and_the_lock_ends_by_time() {
    let fx = fixture();
    alice(&fx).await;
    let p = Policy::default();
    for i in 1..p.delay_after_failures {
        assert!(
            matches!(
                fx.auth.login("alice", &pw("wrong pw")).await,
                Err(Error::InvalidCredentials)
            ),
            "failure {i}"
        );
    }
    // The 5th failure starts a 1 s delay.
    assert!(matches!(
        fx.auth.login("alice", &pw("wrong pw")).await,
        Err(Error::InvalidCredentials)
    ));
    match fx.auth.login("alice", &pw(GOOD)).await {
        Err(Error::Delayed { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    // Delays grow: 2 s, 4 s, ...
    fx.clock.advance(Duration::from_secs(1));
    assert!(fx.auth.login("alice", &pw("wrong pw")).await.is_err());
    assert!(
        matches!(fx.auth.login("alice", &pw(GOOD)).await, Err(Error::Delayed { retry_after }) if retry_after == Duration::from_secs(2))
    );
    // Push to the lock threshold.
    let mut n = p.delay_after_failures + 1;
    while n < p.lock_after_failures {
        fx.clock.advance(p.delay_max);
        assert!(matches!(
            fx.auth.login("alice", &pw("wrong pw")).await,
            Err(Error::InvalidCredentials)
        ));
        n += 1;
    }
    match fx.auth.login("alice", &pw(GOOD)).await {
        Err(Error::Locked { retry_after }) => assert_eq!(retry_after, p.lock_duration),
        other => panic!("{other:?}"),
    }
    assert!(
        fx.events
            .events()
            .iter()
            .any(|e| matches!(e, AuthEvent::Locked { .. }))
    );
    // A lock stays a lock to its last second: a short wait left does not
    // make it read as a delay.
    let last_second = Duration::from_secs(1);
    fx.clock.advance(p.lock_duration - last_second);
    match fx.auth.login("alice", &pw(GOOD)).await {
        Err(Error::Locked { retry_after }) => assert_eq!(retry_after, last_second),
        other => panic!("{other:?}"),
    }
    fx.clock.advance(last_second);
    complete(fx.auth.login("alice", &pw(GOOD)).await.unwrap());
    // Success reset the counter: four more failures do not delay.
    for _ in 1..p.delay_after_failures {
        assert!(matches!(
            fx.auth.login("alice", &pw("wrong pw")).await,
            Err(Error::InvalidCredentials)
        ));
    }
    complete(fx.auth.login("alice", &pw(GOOD)).await.unwrap());
}

/// A failure that earned a wait can be told with it: `login_wait` answers
/// the wait the next attempt would be refused with, for known and unknown
/// identifiers alike, by username and by email apart, and nothing before
/// the first delay or once the wait is over.
#[tokio::test]
async fn login_wait_tells_the_wait_a_failure_earned() {
    let fx = fixture();
    alice(&fx).await;
    let p = Policy::default();
    for name in ["alice", "ghost"] {
        for _ in 1..p.delay_after_failures {
            assert!(fx.auth.login(name, &pw("wrong pw")).await.is_err());
            assert_eq!(
                fx.auth.login_wait(name, None).await.unwrap(),
                None,
                "{name}"
            );
        }
        // The failure that starts the delays: its wait, then the refusal's.
        assert!(matches!(
            fx.auth.login(name, &pw("wrong pw")).await,
            Err(Error::InvalidCredentials)
        ));
        let wait = fx.auth.login_wait(name, None).await.unwrap();
        assert_eq!(wait, Some(Duration::from_secs(1)), "{name}");
        match fx.auth.login(name, &pw("wrong pw")).await {
            Err(Error::Delayed { retry_after }) => assert_eq!(Some(retry_after), wait),
            other => panic!("{other:?}"),
        }
        // Letter case and spaces name the same counter.
        assert_eq!(
            fx.auth
                .login_wait(&format!(" {} ", name.to_uppercase()), None)
                .await
                .unwrap(),
            wait
        );
    }
    // The email address counts apart from the username.
    assert_eq!(
        fx.auth.login_wait("alice@example.com", None).await.unwrap(),
        None
    );
    // Over when the wait is.
    fx.clock.advance(Duration::from_secs(1));
    assert_eq!(fx.auth.login_wait("alice", None).await.unwrap(), None);
    assert!(fx.auth.login("alice", &pw("wrong pw")).await.is_err());
    assert_eq!(
        fx.auth.login_wait("alice", None).await.unwrap(),
        Some(Duration::from_secs(2))
    );
}

#[tokio::test]
async fn unknown_accounts_lock_the_same_way() {
    let fx = fixture();
    for _ in 0..5 {
        assert!(matches!(
            fx.auth.login("ghost", &pw("wrong pw")).await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert!(matches!(
        fx.auth.login("ghost", &pw("wrong pw")).await,
        Err(Error::Delayed { .. })
    ));
}

#[tokio::test]
async fn policy_never_allows_more_than_100_failures_per_account() {
    let mut p = Policy::default();
    p.lock_after_failures = 51;
    let r = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(b"0123456789abcdef0123456789abcdef!".to_vec())
                .unwrap(),
        )
        .policy(p)
        .build();
    assert!(matches!(r, Err(Error::Config(_))));
}

#[tokio::test]
async fn builder_validates() {
    let key = b"0123456789abcdef0123456789abcdef!".to_vec();
    assert!(matches!(
        Authenticator::builder()
            .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Authenticator::builder().store(MemoryStore::new()).build(),
        Err(Error::Config(_))
    ));
    // Short or placeholder keys never reach the builder.
    assert_eq!(
        twofa_verify::SecretKey::from_bytes(b"short".to_vec()).unwrap_err(),
        twofa_verify::SecretKeyError::TooShort { len: 5 }
    );
    assert_eq!(
        twofa_verify::SecretKey::from_bytes(vec![7u8; 64]).unwrap_err(),
        twofa_verify::SecretKeyError::NotRandom
    );
    assert!(matches!(
        Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
            .issuer("a:b")
            .build(),
        Err(Error::Config(_))
    ));
    let mut weak = Policy::default();
    weak.hash.memory_kib = 1024;
    assert!(matches!(
        Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
            .policy(weak)
            .build(),
        Err(Error::Config(_))
    ));
    let mut short = Policy::default();
    short.password_min_chars = 6;
    assert!(matches!(
        Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
            .policy(short)
            .build(),
        Err(Error::Config(_))
    ));
    assert!(
        Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(twofa_verify::SecretKey::from_bytes(key).unwrap())
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn weaker_hashes_are_upgraded_at_login() {
    use argon2::PasswordHasher;
    let fx = fixture();
    let u = alice(&fx).await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    );
    let old = weak
        .hash_password_with_salt(GOOD.as_bytes(), b"0123456789abcdef")
        .unwrap()
        .to_string();
    fx.store.set_password_hash(u.id, &old).await.unwrap();
    complete(fx.auth.login("alice", &pw(GOOD)).await.unwrap());
    let now = fx
        .store
        .user_by_id(u.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_ne!(now, old);
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
    assert!(
        fx.events
            .events()
            .contains(&AuthEvent::PasswordRehashed { user: u.id })
    );
    complete(fx.auth.login("alice", &pw(GOOD)).await.unwrap());
}

#[tokio::test]
async fn change_password_needs_the_current_one() {
    let fx = fixture();
    let u = alice(&fx).await;
    let new = pw("a different passphrase");
    assert!(matches!(
        fx.auth
            .change_password(u.id, &StepUp::password("wrong pw"), &new)
            .await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        fx.auth
            .change_password(u.id, &StepUp::password(GOOD), &pw("password1"))
            .await,
        Err(Error::WeakPassword(WeakPassword::Common))
    ));
    fx.auth
        .change_password(u.id, &StepUp::password(GOOD), &new)
        .await
        .unwrap();
    assert!(fx.auth.login("alice", &pw(GOOD)).await.is_err());
    complete(fx.auth.login("alice", &new).await.unwrap());
}

#[tokio::test]
async fn reset_token_is_single_use_expires_and_dies_with_the_password() {
    let fx = fixture();
    let u = alice(&fx).await;
    assert!(
        fx.auth
            .request_password_reset("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let t = fx
        .auth
        .request_password_reset("ALICE@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.email, "alice@example.com");
    assert!(!format!("{t:?}").contains(t.token()));
    assert_eq!(fx.auth.check_reset_token(t.token()).await.unwrap().id, u.id);
    // A tampered token is refused.
    let mut bad = t.token().to_owned();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        fx.auth
            .reset_password(&bad, &pw("brand new passphrase"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    // Weak new password: refused, token still usable.
    assert!(matches!(
        fx.auth.reset_password(t.token(), &pw("qwertyuiop")).await,
        Err(Error::WeakPassword(_))
    ));
    fx.auth
        .reset_password(t.token(), &pw("brand new passphrase"))
        .await
        .unwrap();
    assert!(matches!(
        fx.auth
            .reset_password(t.token(), &pw("another new passphrase"))
            .await,
        Err(Error::InvalidResetToken)
    ));
    complete(
        fx.auth
            .login("alice", &pw("brand new passphrase"))
            .await
            .unwrap(),
    );

    // Dies when the password changes by other means.
    let t2 = fx
        .auth
        .request_password_reset("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    fx.auth
        .change_password(
            u.id,
            &StepUp::password("brand new passphrase"),
            &pw("yet another passphrase"),
        )
        .await
        .unwrap();
    assert!(matches!(
        fx.auth
            .reset_password(t2.token(), &pw("some other passphrase"))
            .await,
        Err(Error::InvalidResetToken)
    ));

    // Expires after an hour.
    let t3 = fx
        .auth
        .request_password_reset("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    fx.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        fx.auth
            .reset_password(t3.token(), &pw("some other passphrase"))
            .await,
        Err(Error::InvalidResetToken)
    ));
}

#[tokio::test]
async fn reset_requests_are_limited_the_same_for_known_and_unknown() {
    let fx = fixture();
    alice(&fx).await;
    for email in ["alice@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            fx.auth.request_password_reset(email).await.unwrap();
        }
        assert!(
            matches!(
                fx.auth.request_password_reset(email).await,
                Err(Error::RateLimited { .. })
            ),
            "{email}"
        );
    }
    fx.clock.advance(Duration::from_secs(3600));
    assert!(
        fx.auth
            .request_password_reset("alice@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_simultaneous_resets_with_one_token_exactly_one_wins() {
    let fx = fixture();
    alice(&fx).await;
    let t = fx
        .auth
        .request_password_reset("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let tok = Arc::new(t.token().to_owned());
    let mut tasks = Vec::new();
    for i in 0..2 {
        let (auth, tok) = (fx.auth.clone(), tok.clone());
        tasks.push(tokio::spawn(async move {
            auth.reset_password(&tok, &pw(&format!("winner number {i} pass")))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, Error::InvalidResetToken), "{e:?}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_simultaneous_logins_both_succeed() {
    let fx = fixture();
    let u = alice(&fx).await;
    let good = pw(GOOD);
    let (a, b) = tokio::join!(
        fx.auth.login("alice", &good),
        fx.auth.login("alice@example.com", &good)
    );
    assert_eq!(complete(a.unwrap()).id, u.id);
    assert_eq!(complete(b.unwrap()).id, u.id);
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let key = b"super-secret-application-key-0123456789".to_vec();
    let builder = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(twofa_verify::SecretKey::from_bytes(key.clone()).unwrap())
        .pepper(b"pepper-secret-value".to_vec());
    let dbg = format!("{builder:?}");
    assert!(
        !dbg.contains("super-secret") && !dbg.contains("pepper-secret"),
        "{dbg}"
    );
    let auth = builder.build().unwrap();
    let dbg = format!("{auth:?}");
    assert!(
        !dbg.contains("super-secret") && !dbg.contains("pepper-secret"),
        "{dbg}"
    );
    let step = StepUp::new("my-password-123", Some("654321"));
    let dbg = format!("{step:?}");
    assert!(
        !dbg.contains("my-password") && !dbg.contains("654321"),
        "{dbg}"
    );
    let store = MemoryStore::new();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(twofa_verify::SecretKey::from_bytes(key).unwrap())
        .build()
        .unwrap();
    let u = auth
        .register("erin", "erin@example.com", &pw(GOOD))
        .await
        .unwrap();
    let rec = store.user_by_id(u.id).await.unwrap().unwrap();
    let dbg = format!("{rec:?}");
    assert!(
        !dbg.contains("argon2") && !dbg.contains(&rec.password_hash),
        "{dbg}"
    );
    let err = auth
        .login("erin", &pw("wrong-password-xyz"))
        .await
        .unwrap_err();
    assert!(!format!("{err:?} {err}").contains("wrong-password-xyz"));
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_database_gone_mid_flow_is_a_store_error_and_no_login() {
    let dir = tempfile::tempdir().unwrap();
    let (store, sms, auth, u) = sqlite_with_local_sms(&dir).await;
    auth.start_sms_enrollment(u.id, "+14155552671", &StepUp::password(GOOD))
        .await
        .unwrap();
    let _enrolled = auth
        .confirm_sms_enrollment(
            u.id,
            &SecretString::from(sms.last_code_for("+14155552671").unwrap().as_str()),
        )
        .await
        .unwrap();
    let Login::SecondFactor(c) = auth.login("alice", &pw(GOOD)).await.unwrap() else {
        panic!("expected 2FA")
    };
    store.pool().close().await;
    let code = sms.last_code_for("+14155552671").unwrap();
    assert!(matches!(
        auth.verify(c.token(), &SecretString::from(code.as_str()))
            .await,
        Err(Error::Store(_))
    ));
    assert!(matches!(
        auth.login("alice", &pw(GOOD)).await,
        Err(Error::Store(_))
    ));
}

#[test]
fn debug_of_records_and_helpers_hides_secrets() {
    let new = NewUser {
        username: "zed".into(),
        username_key: "zed".into(),
        username_skeleton: "zed".into(),
        email: "zed@example.com".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$secret-hash-bytes".into(),
        created_at: Timestamp::from_millis(0),
    };
    assert!(!format!("{new:?}").contains("secret-hash-bytes"));
    let sealed = StoredSecret {
        key_id: 3,
        sealed: b"sealed-secret-bytes".to_vec(),
    };
    let dbg = format!("{sealed:?}");
    assert!(
        !dbg.contains("115, 101") && !dbg.contains("sealed-secret"),
        "{dbg}"
    );
    let hasher = Hasher::new(
        HashParams::default(),
        1,
        Some(secrecy::SecretSlice::from(b"pepper-secret".to_vec())),
    );
    assert!(!format!("{hasher:?}").contains("pepper-secret"));
    let sms = twofa_verify::factor::SentSms {
        to: "+14155552671".into(),
        body: "Your code is 424242".into(),
        channel: "sms",
    };
    let dbg = format!("{sms:?}");
    assert!(
        !dbg.contains("424242") && !dbg.contains("+14155552671"),
        "{dbg}"
    );
    assert_eq!(sms.code(), Some("424242"));
}

/// The attempts left on an SMS enrollment are counted by the store, whichever
/// store it is (the SQL stores keep counters apart from values).
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn enrollment_attempts_left_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, sms, auth, u) = sqlite_with_local_sms(&dir).await;
    auth.start_sms_enrollment(u.id, "+14155552671", &StepUp::password(GOOD))
        .await
        .unwrap();
    let code = sms.last_code_for("+14155552671").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        assert!(
            matches!(auth.confirm_sms_enrollment(u.id, &SecretString::from(wrong)).await, Err(Error::InvalidCode { attempts_left }) if attempts_left == left)
        );
    }
    assert!(matches!(
        auth.confirm_sms_enrollment(u.id, &SecretString::from(wrong))
            .await,
        Err(Error::TooManyAttempts)
    ));
    // Past the cap even the right code is refused: the enrollment is spent.
    assert!(matches!(
        auth.confirm_sms_enrollment(u.id, &SecretString::from(code.as_str()))
            .await,
        Err(Error::TooManyAttempts)
    ));
}

/// A SQLite store in `dir`, an authenticator with console SMS codes on it,
/// and a registered user `alice`.
#[cfg(feature = "sqlite")]
async fn sqlite_with_local_sms(
    dir: &tempfile::TempDir,
) -> (SqliteStore, ConsoleSms, Authenticator, User) {
    let store = SqliteStore::open(dir.path().join("app.db").to_str().unwrap())
        .await
        .unwrap();
    let sms = ConsoleSms::quiet();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(
                b"0123456789abcdef0123456789abcdef-test-key".to_vec(),
            )
            .unwrap(),
        )
        .sms(LocalCodes::new(sms.clone()))
        .build()
        .unwrap();
    let u = auth
        .register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    (store, sms, auth, u)
}

/// A state store that counts its calls.
#[derive(Debug, Clone, Default)]
struct CountingState {
    inner: MemoryStore,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingState {
    fn tick(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn count(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl StateStore for CountingState {
    async fn put(&self, k: &str, v: &[u8], e: Timestamp) -> Result<()> {
        self.tick();
        self.inner.put(k, v, e).await
    }
    async fn put_if_absent(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.tick();
        self.inner.put_if_absent(k, v, e, n).await
    }
    async fn put_if_present(&self, k: &str, v: &[u8], e: Timestamp, n: Timestamp) -> Result<bool> {
        self.tick();
        self.inner.put_if_present(k, v, e, n).await
    }
    async fn get(&self, k: &str, n: Timestamp) -> Result<Option<Vec<u8>>> {
        self.tick();
        self.inner.get(k, n).await
    }
    async fn take(&self, k: &str, n: Timestamp) -> Result<Option<Vec<u8>>> {
        self.tick();
        self.inner.take(k, n).await
    }
    async fn delete(&self, k: &str) -> Result<()> {
        self.tick();
        self.inner.delete(k).await
    }
    async fn increment(&self, k: &str, t: Duration, x: bool, n: Timestamp) -> Result<Counter> {
        self.tick();
        self.inner.increment(k, t, x, n).await
    }
    async fn release(&self, k: &str, n: Timestamp) -> Result<()> {
        self.tick();
        self.inner.release(k, n).await
    }
    async fn advance(&self, k: &str, v: i64, e: Timestamp, n: Timestamp) -> Result<bool> {
        self.tick();
        self.inner.advance(k, v, e, n).await
    }
}

/// A reset request for an unknown address makes the same state-store calls
/// as one for an account (a link is stored only for the account; the other
/// stores a decoy), so a round trip more does not tell them apart.
#[tokio::test]
async fn reset_requests_cost_the_same_store_calls_for_unknown_addresses() {
    let users = MemoryStore::new();
    let state = CountingState::default();
    let auth = Authenticator::builder()
        .user_store(users)
        .state_store(state.clone())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(
                b"0123456789abcdef0123456789abcdef-test-key".to_vec(),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    auth.register("alice", "alice@example.com", &pw(GOOD))
        .await
        .unwrap();
    let calls = |before: usize| state.count() - before;
    let before = state.count();
    assert!(
        auth.request_password_reset("alice@example.com")
            .await
            .unwrap()
            .is_some()
    );
    let known = calls(before);
    let before = state.count();
    assert!(
        auth.request_password_reset("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(calls(before), known);
}
