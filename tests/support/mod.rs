//! The store conformance suite: checks that a [`UserStore`] + [`StateStore`]
//! implementation keeps the contract documented on the traits (uniqueness,
//! compare-and-set, atomicity under concurrency, expiry semantics, verbatim
//! storage of hostile strings).
//!
//! Every check is a public `async fn` taking a fresh, empty store, so that a
//! third-party store can run them too: copy this file into its `tests/`
//! directory and either call [`run_all`] or expand [`conformance_suite!`]
//! to get one `#[tokio::test]` per check:
//!
//! ```ignore
//! #[macro_use]
//! mod support;
//! conformance_suite!(async { Some(MyStore::connect("...").await.unwrap()) });
//! ```
//!
//! Time never passes by sleeping: every check uses explicit [`Timestamp`]s,
//! deliberately far from the wall clock, so a store that compared expiry with
//! its own clock instead of the `now` argument fails.
#![allow(dead_code)]

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use secrecy::SecretString;
use twofa_verify::store::{
    Counter, DeviceRecord, NewUser, StateStore, StoredSecret, UserRecord, UserStore,
};
use twofa_verify::user::{Username, username_skeleton};
use twofa_verify::{Authenticator, Error, Timestamp, UserId};

/// What a store under test must be: both traits, cloneable (clones share the
/// data) and `'static`, so that racing tasks can each own a clone.
pub trait TestStore: UserStore + StateStore + Clone + 'static {}
impl<S: UserStore + StateStore + Clone + 'static> TestStore for S {}

/// How many tasks race in the concurrency checks.
pub const RACERS: usize = 20;
/// How many registrations of look-alike names race through an Authenticator.
pub const BURST: usize = 100;
/// How many tasks increment one counter at once.
pub const INCREMENTERS: usize = 50;

/// A strange, fixed "now": 2001-09-09, far from the wall clock.
pub const T0: Timestamp = Timestamp::from_millis(1_000_000_000_000);

/// `T0` plus `ms` milliseconds.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + ms)
}

/// Strings that would break a store building SQL by concatenation, plus
/// unicode that a store must keep byte for byte.
pub const HOSTILE: &[&str] = &[
    "Robert'); DROP TABLE users;--",
    "Robert'); DROP TABLE twofa_users;--",
    "'; DELETE FROM twofa_state; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1",
    "a\\'b\\\\c",
    "$1 $2 ?1 ? :name @p1",
    "100%_match",
    "x'); DROP SCHEMA public CASCADE; --",
    "/* comment */ --",
    "Ünïcödé-ß-ẞ-İ-ı",
    "名前-🦀-👩‍👩‍👧‍👦",
    "e\u{301}-é",
    "\u{202e}rtl-override",
    "tab\tnew\nline\r",
];

/// The confusable skeleton of a username key (shorthand).
pub fn sk(key: &str) -> String {
    username_skeleton(key)
}

/// A `NewUser` whose username key, skeleton and email are derived from `name`.
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        username_key: name.to_lowercase(),
        username_skeleton: sk(&name.to_lowercase()),
        email: format!("{}@example.com", name.to_lowercase()),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}"),
        created_at: at(0),
    }
}

/// A fake recovery-code hash.
pub fn code(n: u8) -> [u8; 32] {
    let mut h = [n; 32];
    h[0] = 0;
    h[31] = 0xff;
    h
}

async fn create(store: &impl UserStore, name: &str) -> UserRecord {
    match store.create_user(new_user(name)).await {
        Ok(u) => u,
        Err(e) => panic!("create_user({name:?}) failed: {e:?}"),
    }
}

/// Spawns `n` tasks running `f(store_clone, i)` at once; returns their results in order.
pub async fn race<S, F, Fut, T>(store: &S, n: usize, f: F) -> Vec<T>
where
    S: TestStore,
    F: Fn(S, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(store.clone(), i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("racing task panicked"));
    }
    out
}

// ---------------------------------------------------------------- users

/// `create_user` returns the stored record; lookups by id, username key and
/// email find it; unknown ones find nothing.
pub async fn create_and_lookup<S: TestStore>(store: S) {
    let alice = create(&store, "Alice").await;
    assert_eq!(alice.username, "Alice");
    assert_eq!(alice.username_key, "alice");
    assert_eq!(alice.username_skeleton.as_deref(), Some("alice"));
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.password_hash, new_user("Alice").password_hash);
    assert_eq!(alice.phone, None);
    assert_eq!(alice.totp, None);
    assert_eq!(alice.created_at, at(0));

    let bob = store
        .create_user(NewUser {
            created_at: Timestamp::from_millis(-1),
            ..new_user("bob")
        })
        .await
        .unwrap();
    assert_ne!(alice.id, bob.id, "ids must be distinct");
    assert_eq!(bob.created_at, Timestamp::from_millis(-1));

    for rec in [&alice, &bob] {
        assert_eq!(store.user_by_id(rec.id).await.unwrap().as_ref(), Some(rec));
        assert_eq!(
            store
                .user_by_username(&rec.username_key)
                .await
                .unwrap()
                .as_ref(),
            Some(rec)
        );
        assert_eq!(
            store.user_by_email(&rec.email).await.unwrap().as_ref(),
            Some(rec)
        );
    }
    let user = alice.to_user();
    assert!(!user.totp_enabled && user.phone.is_none());

    assert_eq!(
        store
            .user_by_id(UserId(alice.id.0.wrapping_add(1_000_000)))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.user_by_id(UserId(-1)).await.unwrap(), None);
    assert_eq!(store.user_by_username("carol").await.unwrap(), None);
    assert_eq!(store.user_by_username("").await.unwrap(), None);
    assert_eq!(
        store.user_by_email("carol@example.com").await.unwrap(),
        None
    );
    // Lookups are exact: no prefix, pattern or trimming semantics.
    assert_eq!(store.user_by_username("alic").await.unwrap(), None);
    assert_eq!(store.user_by_username("alice ").await.unwrap(), None);
    assert_eq!(store.user_by_username("al_ce").await.unwrap(), None);
    assert_eq!(store.user_by_username("al%").await.unwrap(), None);
    assert_eq!(store.user_by_email("%@example.com").await.unwrap(), None);
}

/// Duplicate username keys (whatever the display case) and emails are
/// refused with `UsernameTaken` / `EmailTaken`, and nothing is stored.
pub async fn uniqueness<S: TestStore>(store: S) {
    let alice = create(&store, "Alice").await;

    // Same key, other display case, other email.
    let err = store
        .create_user(NewUser {
            username: "ALICE".into(),
            email: "other@example.com".into(),
            ..new_user("Alice")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsernameTaken), "got {err:?}");
    assert_eq!(
        store.user_by_email("other@example.com").await.unwrap(),
        None
    );

    // Same email, other username.
    let err = store
        .create_user(NewUser {
            email: "alice@example.com".into(),
            ..new_user("Alicia")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EmailTaken), "got {err:?}");
    assert_eq!(store.user_by_username("alicia").await.unwrap(), None);

    // Both taken: either error is fine.
    let err = store.create_user(new_user("Alice")).await.unwrap_err();
    assert!(
        matches!(err, Error::UsernameTaken | Error::EmailTaken),
        "got {err:?}"
    );

    // Keys that differ are different users (no folding by the store).
    let accented = store
        .create_user(NewUser {
            username: "Alicé".into(),
            username_key: "alicé".into(),
            username_skeleton: sk("alicé"),
            email: "alicé@example.com".into(),
            ..new_user("x")
        })
        .await
        .unwrap();
    assert_ne!(accented.id, alice.id);
    create(&store, "alice2").await;

    // The original is untouched.
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_id(alice.id).await.unwrap(), Some(alice));
}

/// `RACERS` concurrent registrations of one username: exactly one wins, the
/// others get `UsernameTaken`; same for one email and `EmailTaken`.
pub async fn concurrent_create_same_username<S: TestStore>(store: S) {
    let results = race(&store, RACERS, |s, i| async move {
        s.create_user(NewUser {
            email: format!("racer{i}@example.com"),
            ..new_user("Racer")
        })
        .await
    })
    .await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one registration must win");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, Error::UsernameTaken), "got {e:?}");
        }
    }
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(store.user_by_username("racer").await.unwrap(), Some(winner));

    let results = race(&store, RACERS, |s, i| async move {
        s.create_user(NewUser {
            email: "same@example.com".into(),
            ..new_user(&format!("mail{i}"))
        })
        .await
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, Error::EmailTaken), "got {e:?}");
        }
    }
}

/// All-Cyrillic а ӏ і с е: another key than `alice`, the same skeleton.
pub const CYRILLIC_ALICE: &str = "\u{430}\u{4cf}\u{456}\u{441}\u{435}";

/// Names with one confusable skeleton are one name: another key with the
/// skeleton of an existing user is refused with `UsernameTaken`, by create
/// and by update, and nothing is stored; rows without a skeleton (written
/// before skeletons existed) never conflict with each other.
pub async fn skeleton_uniqueness<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    assert_eq!(sk(CYRILLIC_ALICE), sk("alice"));
    let err = store
        .create_user(NewUser {
            username: CYRILLIC_ALICE.into(),
            username_key: CYRILLIC_ALICE.into(),
            username_skeleton: sk(CYRILLIC_ALICE),
            email: "cyril@example.com".into(),
            ..new_user("x")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsernameTaken), "got {err:?}");
    assert_eq!(store.user_by_username(CYRILLIC_ALICE).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("cyril@example.com").await.unwrap(),
        None
    );

    // Renaming to a look-alike of another user: refused, nothing changes.
    let bob = create(&store, "bob").await;
    let err = store
        .update_profile(bob.id, "a1ice", "a1ice", Some(&sk("a1ice")), &bob.email)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsernameTaken), "got {err:?}");
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));

    // No skeleton: any number of users, stored as NULL / None.
    store
        .update_profile(bob.id, "bob", "bob", None, &bob.email)
        .await
        .unwrap();
    let carol = create(&store, "carol").await;
    store
        .update_profile(carol.id, "carol", "carol", None, &carol.email)
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .username_skeleton,
        None
    );
    // ... and bob's former skeleton is free for another key.
    store
        .create_user(NewUser {
            username_skeleton: "bob".into(),
            ..new_user("b0b")
        })
        .await
        .unwrap();
    // One's own skeleton again is no conflict.
    store
        .update_profile(alice.id, "ALICE", "alice", Some("alice"), &alice.email)
        .await
        .unwrap();
}

/// `RACERS` concurrent creations of different keys with one skeleton:
/// exactly one wins, the others get `UsernameTaken`.
pub async fn concurrent_create_same_skeleton<S: TestStore>(store: S) {
    let results = race(&store, RACERS, |s, i| async move {
        s.create_user(NewUser {
            username_skeleton: "racer".into(),
            ..new_user(&format!("racer{i}"))
        })
        .await
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, Error::UsernameTaken), "got {e:?}");
        }
    }
}

/// Distinct valid usernames (per [`Username::parse`]) whose skeleton is
/// `alice`'s: Latin, Cyrillic, look-alike digits and letters, both cases.
pub fn alice_look_alikes() -> Vec<String> {
    let choices: [&[char]; 5] = [
        &['a', 'A', '\u{251}', '\u{430}', '\u{410}'],
        &['l', 'L', '1', '\u{4cf}', '\u{4c0}'],
        &['i', 'I', '\u{131}', '\u{456}', '\u{406}'],
        &['c', 'C', '\u{1d04}', '\u{441}', '\u{421}'],
        &['e', 'E', '\u{435}', '\u{415}'],
    ];
    let target = sk("alice");
    let mut names = vec![String::new()];
    for options in choices {
        names = names
            .iter()
            .flat_map(|prefix| options.iter().map(move |c| format!("{prefix}{c}")))
            .collect();
    }
    names.retain(|n| Username::parse(n).is_ok_and(|u| u.skeleton() == target));
    names
}

/// `BURST` concurrent registrations through an [`Authenticator`] of
/// look-alikes of one name (many keys, one skeleton): exactly one wins, all
/// others get `UsernameTaken`.
pub async fn concurrent_confusable_registrations<S: TestStore>(store: S) {
    let names = alice_look_alikes();
    let keys: HashSet<String> = names
        .iter()
        .filter_map(|n| Username::parse(n).ok())
        .map(|u| u.key().to_owned())
        .collect();
    assert!(
        keys.len() >= 12 && keys.contains(CYRILLIC_ALICE) && keys.contains("alice"),
        "too few look-alikes: {keys:?}"
    );
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(b"conformance-suite-secret-key-0123456789".to_vec())
        .build()
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(BURST));
    let handles: Vec<_> = (0..BURST)
        .map(|i| {
            // Spread over the look-alikes: every kind of variant races.
            let name = names[i * names.len() / BURST % names.len()].clone();
            let (auth, barrier) = (auth.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let password = SecretString::from("correct horse battery");
                let email = format!("burst{i}@example.com");
                (name.clone(), auth.register(&name, &email, &password).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for h in handles {
        let (name, result) = h.await.expect("registering task panicked");
        match result {
            Ok(user) => winners.push((name, user)),
            Err(Error::UsernameTaken) => {}
            Err(e) => panic!("{name:?}: {e:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one look-alike must win: {winners:?}"
    );
    let (name, user) = &winners[0];
    assert_eq!(&user.username, name);
    let winner_key = Username::parse(name).unwrap().key().to_owned();
    for key in &keys {
        let found = store.user_by_username(key).await.unwrap();
        assert_eq!(found.is_some(), key == &winner_key, "{key:?}");
    }
}

/// `set_password_hash` and the compare-and-set `replace_password_hash`.
pub async fn password_hash<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    let bob = create(&store, "bob").await;
    let missing = UserId(alice.id.0.wrapping_add(bob.id.0).wrapping_add(1_000));

    assert!(store.set_password_hash(alice.id, "h1").await.unwrap());
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h1"
    );
    assert!(!store.set_password_hash(missing, "h1").await.unwrap());

    // Wrong expectation: nothing changes.
    assert!(
        !store
            .replace_password_hash(alice.id, "wrong", "h2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_password_hash(alice.id, "H1", "h2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_password_hash(alice.id, "h1' OR '1'='1", "h2")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h1"
    );
    // Right expectation: replaced, once.
    assert!(
        store
            .replace_password_hash(alice.id, "h1", "h2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_password_hash(alice.id, "h1", "h3")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h2"
    );
    assert!(
        !store
            .replace_password_hash(missing, "h1", "h2")
            .await
            .unwrap()
    );
    // Only the targeted user changes.
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        bob.password_hash
    );

    // Racing compare-and-sets from one expected value: exactly one wins.
    let results = race(&store, RACERS, move |s, i| async move {
        s.replace_password_hash(alice.id, "h2", &format!("racer-{i}"))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(results.iter().filter(|&&won| won).count(), 1);
    let winner = results.iter().position(|&won| won).unwrap();
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        format!("racer-{winner}")
    );
}

/// `update_profile`: changes username and email; refuses a username or email
/// of another user; no conflict with the user's own values; `UserNotFound`.
pub async fn update_profile<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    let bob = create(&store, "bob").await;

    store
        .update_profile(
            alice.id,
            "Alicia",
            "alicia",
            Some(&sk("alicia")),
            "alicia@example.org",
        )
        .await
        .unwrap();
    let got = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.username.as_str(),
            got.username_key.as_str(),
            got.username_skeleton.as_deref(),
            got.email.as_str()
        ),
        ("Alicia", "alicia", Some("alicia"), "alicia@example.org")
    );
    assert_eq!(got.password_hash, alice.password_hash);
    assert_eq!(store.user_by_username("alice").await.unwrap(), None);
    assert_eq!(
        store.user_by_email("alice@example.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.user_by_username("alicia").await.unwrap().unwrap().id,
        alice.id
    );
    assert_eq!(
        store
            .user_by_email("alicia@example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );

    // The freed username, skeleton and email can be taken by someone else.
    create(&store, "alice").await;

    // Own values again, or only the display case: no conflict.
    store
        .update_profile(
            alice.id,
            "Alicia",
            "alicia",
            Some(&sk("alicia")),
            "alicia@example.org",
        )
        .await
        .unwrap();
    store
        .update_profile(
            alice.id,
            "ALICIA",
            "alicia",
            Some(&sk("alicia")),
            "alicia@example.org",
        )
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().username,
        "ALICIA"
    );

    // Another user's username or email.
    let err = store
        .update_profile(alice.id, "Bob", "bob", Some(&sk("bob")), "new@example.org")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsernameTaken), "got {err:?}");
    let err = store
        .update_profile(
            alice.id,
            "Alicia",
            "alicia",
            Some(&sk("alicia")),
            &bob.email,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EmailTaken), "got {err:?}");
    let err = store
        .update_profile(alice.id, "Bob", "bob", Some(&sk("bob")), &bob.email)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UsernameTaken | Error::EmailTaken),
        "got {err:?}"
    );
    // ... changed nothing.
    let got = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (got.username_key.as_str(), got.email.as_str()),
        ("alicia", "alicia@example.org")
    );
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob));

    let missing = UserId(alice.id.0.wrapping_add(1_000_000));
    let err = store
        .update_profile(missing, "Zed", "zed", Some("zed"), "zed@example.org")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UserNotFound), "got {err:?}");
    assert_eq!(store.user_by_username("zed").await.unwrap(), None);
}

/// `set_phone` and `set_totp`: set, replace, clear; `UserNotFound`.
pub async fn phone_and_totp<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    let bob = create(&store, "bob").await;
    let missing = UserId(alice.id.0.wrapping_add(1_000_000));

    store
        .set_phone(alice.id, Some("+14155552671"))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .phone
            .as_deref(),
        Some("+14155552671")
    );
    assert!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .to_user()
            .has_second_factor()
    );
    store
        .set_phone(alice.id, Some("+254712345689"))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .phone
            .as_deref(),
        Some("+254712345689")
    );
    store.set_phone(alice.id, None).await.unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().phone,
        None
    );
    assert!(matches!(
        store.set_phone(missing, Some("+14155552671")).await,
        Err(Error::UserNotFound)
    ));

    let secret = StoredSecret {
        key_id: u32::MAX,
        sealed: (0..=255).collect(),
    };
    store.set_totp(alice.id, Some(&secret)).await.unwrap();
    let got = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(got.totp.as_ref(), Some(&secret));
    assert!(got.to_user().totp_enabled);
    let other = StoredSecret {
        key_id: 0,
        sealed: vec![0; 60],
    };
    store.set_totp(alice.id, Some(&other)).await.unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().totp,
        Some(other)
    );
    store.set_totp(alice.id, None).await.unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().totp,
        None
    );
    assert!(matches!(
        store.set_totp(missing, Some(&secret)).await,
        Err(Error::UserNotFound)
    ));

    // Other users untouched.
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob));
}

/// The credential generation starts at 0 and each bump adds exactly one,
/// even when many run at once; a missing user is `UserNotFound`.
pub async fn credential_generation<S: TestStore>(store: S) {
    let alice = store.create_user(new_user("Alice")).await.unwrap();
    let bob = store.create_user(new_user("Bob")).await.unwrap();
    assert_eq!(alice.credential_generation, 0);
    assert_eq!(store.bump_credential_generation(alice.id).await.unwrap(), 1);
    let bumps = race(&store, 50, move |s, _| async move {
        s.bump_credential_generation(alice.id).await.unwrap()
    })
    .await;
    let mut seen: Vec<i64> = bumps;
    seen.sort_unstable();
    assert_eq!(seen, (2..=51).collect::<Vec<_>>());
    let got = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(got.credential_generation, 51);
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .credential_generation,
        0
    );
    assert!(matches!(
        store.bump_credential_generation(UserId(i64::MAX)).await,
        Err(Error::UserNotFound)
    ));
}

fn device(user: UserId, n: u8, created: i64) -> DeviceRecord {
    DeviceRecord {
        id: format!("dev-{n}"),
        user,
        token_hash: code(n),
        credential_generation: 3,
        label: format!("Browser {n} on OS 'quoted' \u{202e}"),
        created_at: at(created),
        last_used_at: at(created),
        expires_at: at(created + 1_000_000),
    }
}

/// Remembered devices: add, find by token hash, touch, list oldest first,
/// remove one (only the owner's) or all; a duplicate token hash or a
/// missing user is refused.
pub async fn devices<S: TestStore>(store: S) {
    let alice = store.create_user(new_user("Alice")).await.unwrap();
    let bob = store.create_user(new_user("Bob")).await.unwrap();
    let (a1, a2, b1) = (
        device(alice.id, 1, 20),
        device(alice.id, 2, 10),
        device(bob.id, 3, 5),
    );
    for d in [&a1, &a2, &b1] {
        store.add_device(d).await.unwrap();
    }
    assert!(store.add_device(&device(bob.id, 1, 30)).await.is_err());
    assert!(
        store
            .add_device(&device(UserId(i64::MAX), 9, 1))
            .await
            .is_err()
    );
    assert_eq!(
        store.device_by_token(&code(1)).await.unwrap(),
        Some(a1.clone())
    );
    assert_eq!(store.device_by_token(&code(42)).await.unwrap(), None);
    store.touch_device(&code(1), at(99)).await.unwrap();
    store.touch_device(&code(42), at(99)).await.unwrap();
    let listed = store.devices(alice.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["dev-2", "dev-1"]
    );
    assert_eq!(listed[1].last_used_at, at(99));
    assert_eq!(listed[0], a2);
    // Bob cannot remove Alice's device by its id.
    assert!(!store.remove_device(bob.id, "dev-1").await.unwrap());
    assert!(store.remove_device(alice.id, "dev-1").await.unwrap());
    assert!(!store.remove_device(alice.id, "dev-1").await.unwrap());
    assert_eq!(store.remove_devices(alice.id).await.unwrap(), 1);
    assert!(store.devices(alice.id).await.unwrap().is_empty());
    assert_eq!(store.devices(bob.id).await.unwrap(), vec![b1]);
}

/// Recovery codes: replace, use once, count, per-user isolation.
pub async fn recovery_codes<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    let bob = create(&store, "bob").await;
    let missing = UserId(alice.id.0.wrapping_add(1_000_000));

    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 0);
    assert!(!store.use_recovery_code(alice.id, &code(1)).await.unwrap());

    let codes: Vec<[u8; 32]> = (1..=10).map(code).collect();
    store
        .replace_recovery_codes(alice.id, &codes)
        .await
        .unwrap();
    store
        .replace_recovery_codes(bob.id, &codes[..3])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 10);
    assert_eq!(store.recovery_codes_left(bob.id).await.unwrap(), 3);

    assert!(store.use_recovery_code(alice.id, &code(1)).await.unwrap());
    assert!(
        !store.use_recovery_code(alice.id, &code(1)).await.unwrap(),
        "a code works once"
    );
    assert!(!store.use_recovery_code(alice.id, &code(11)).await.unwrap());
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 9);
    // Bob's copy of the same hash is his own.
    assert!(store.use_recovery_code(bob.id, &code(1)).await.unwrap());
    assert_eq!(store.recovery_codes_left(bob.id).await.unwrap(), 2);
    assert!(
        !store.use_recovery_code(bob.id, &code(5)).await.unwrap(),
        "alice's code is not bob's"
    );

    // Replacing drops all old codes, used or not.
    store
        .replace_recovery_codes(alice.id, &[code(20), code(21)])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert!(!store.use_recovery_code(alice.id, &code(2)).await.unwrap());
    assert!(store.use_recovery_code(alice.id, &code(20)).await.unwrap());
    // Duplicates in the input count once.
    store
        .replace_recovery_codes(alice.id, &[code(30), code(30), code(31)])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 2);
    // Empty clears.
    store.replace_recovery_codes(alice.id, &[]).await.unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 0);
    assert_eq!(store.recovery_codes_left(bob.id).await.unwrap(), 2);

    // Unknown user.
    assert!(matches!(
        store.replace_recovery_codes(missing, &codes).await,
        Err(Error::UserNotFound)
    ));
    assert_eq!(store.recovery_codes_left(missing).await.unwrap(), 0);
    assert!(!store.use_recovery_code(missing, &code(1)).await.unwrap());
}

/// `RACERS` concurrent uses of one recovery code: exactly one succeeds.
pub async fn concurrent_recovery_code<S: TestStore>(store: S) {
    let alice = create(&store, "alice").await;
    store
        .replace_recovery_codes(alice.id, &[code(1), code(2)])
        .await
        .unwrap();
    let results = race(&store, RACERS, move |s, _| async move {
        s.use_recovery_code(alice.id, &code(1)).await.unwrap()
    })
    .await;
    assert_eq!(results.iter().filter(|&&ok| ok).count(), 1);
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 1);
}

/// Hostile and unicode strings, and long ones, in every text field are
/// stored and found verbatim, and harm nothing.
pub async fn hostile_user_strings<S: TestStore>(store: S) {
    let mut ids = HashSet::new();
    for (i, s) in HOSTILE.iter().enumerate() {
        let user = NewUser {
            username: (*s).to_owned(),
            username_key: format!("{s}#{i}"),
            username_skeleton: format!("{s}#{i}"),
            email: format!("{s}@{i}.example"),
            password_hash: (*s).to_owned(),
            created_at: at(i as i64),
        };
        let rec = store.create_user(user.clone()).await.unwrap();
        assert!(ids.insert(rec.id));
        store.set_phone(rec.id, Some(s)).await.unwrap();
        let got = store
            .user_by_username(&user.username_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.username, *s);
        assert_eq!(got.username_key, user.username_key);
        assert_eq!(
            got.username_skeleton.as_ref(),
            Some(&user.username_skeleton)
        );
        assert_eq!(got.email, user.email);
        assert_eq!(got.password_hash, *s);
        assert_eq!(got.phone.as_deref(), Some(*s));
        assert_eq!(
            store.user_by_email(&user.email).await.unwrap().unwrap().id,
            rec.id
        );
        assert!(
            store
                .replace_password_hash(rec.id, s, &format!("{s}'new"))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .user_by_id(rec.id)
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            format!("{s}'new")
        );
        store
            .update_profile(
                rec.id,
                s,
                &format!("{s}~{i}"),
                Some(&format!("{s}~{i}")),
                &format!("{s}~{i}@x"),
            )
            .await
            .unwrap();
        let got = store
            .user_by_username(&format!("{s}~{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.id, rec.id);
        assert_eq!(got.username_skeleton, Some(format!("{s}~{i}")));
    }
    // Nothing was dropped or wiped: every user is still there.
    for (i, s) in HOSTILE.iter().enumerate() {
        assert!(
            store
                .user_by_username(&format!("{s}~{i}"))
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(ids.len(), HOSTILE.len());

    // Long values: 64 four-byte characters, a 254-byte email, a 4 KiB hash.
    let long_name: String = "🦀".repeat(64);
    let long_email = format!(
        "{}@{}.example",
        "a".repeat(64),
        "b".repeat(254 - 64 - 1 - 8)
    );
    assert_eq!(long_email.len(), 254);
    let long_hash = "$".repeat(4096);
    let rec = store
        .create_user(NewUser {
            username: long_name.clone(),
            username_key: long_name.clone(),
            username_skeleton: long_name.clone(),
            email: long_email.clone(),
            password_hash: long_hash.clone(),
            created_at: Timestamp::from_millis(i64::MAX),
        })
        .await
        .unwrap();
    let got = store.user_by_email(&long_email).await.unwrap().unwrap();
    assert_eq!(got, rec);
    assert_eq!(
        (got.username, got.password_hash, got.created_at),
        (long_name, long_hash, Timestamp::from_millis(i64::MAX))
    );
}

// ---------------------------------------------------------------- state

/// `put`, `get`, `delete`, with expiry at or before `now` meaning absent.
pub async fn put_get_delete<S: TestStore>(store: S) {
    assert_eq!(store.get("k", T0).await.unwrap(), None);
    store.put("k", b"v1", at(1000)).await.unwrap();
    assert_eq!(
        store.get("k", T0).await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        store.get("k", at(999)).await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        store.get("k", at(1000)).await.unwrap(),
        None,
        "expiry == now is expired"
    );
    assert_eq!(store.get("k", at(5000)).await.unwrap(), None);
    // The store follows `now`, not its own clock: far in the past, still live.
    assert_eq!(
        store
            .get("k", Timestamp::from_millis(0))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"v1"[..])
    );

    // put replaces value and expiry.
    store.put("k", b"v2", at(500)).await.unwrap();
    assert_eq!(
        store.get("k", T0).await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(store.get("k", at(600)).await.unwrap(), None);
    store.put("k", b"v3", at(10_000)).await.unwrap();
    assert_eq!(
        store.get("k", at(600)).await.unwrap().as_deref(),
        Some(&b"v3"[..])
    );
    // ... even an expired one, and can move expiry back into the past.
    store.put("k", b"v4", at(-1)).await.unwrap();
    assert_eq!(store.get("k", T0).await.unwrap(), None);

    store.put("k", b"v5", at(1000)).await.unwrap();
    store.delete("k").await.unwrap();
    assert_eq!(store.get("k", T0).await.unwrap(), None);
    store.delete("k").await.unwrap();
    store.delete("never-there").await.unwrap();

    // Keys are independent and exact.
    store.put("a", b"1", at(1000)).await.unwrap();
    store.put("A", b"2", at(1000)).await.unwrap();
    store.put("a:b", b"3", at(1000)).await.unwrap();
    assert_eq!(
        store.get("a", T0).await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.get("A", T0).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        store.get("a:b", T0).await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(store.get("a%", T0).await.unwrap(), None);
    assert_eq!(store.get("_", T0).await.unwrap(), None);

    // Values: empty, every byte, 64 KiB.
    store.put("empty", b"", at(1000)).await.unwrap();
    assert_eq!(store.get("empty", T0).await.unwrap(), Some(vec![]));
    let bytes: Vec<u8> = (0..=255).collect();
    store.put("bytes", &bytes, at(1000)).await.unwrap();
    assert_eq!(store.get("bytes", T0).await.unwrap(), Some(bytes));
    let big = vec![0xa5; 64 * 1024];
    store.put("big", &big, at(1000)).await.unwrap();
    assert_eq!(store.get("big", T0).await.unwrap(), Some(big));
    // Longest key the crate uses: 200 bytes.
    let long_key = "k".repeat(200);
    store.put(&long_key, b"long", at(1000)).await.unwrap();
    assert_eq!(
        store.get(&long_key, T0).await.unwrap().as_deref(),
        Some(&b"long"[..])
    );
}

/// `put_if_absent`: only when absent or expired; never replaces a live entry.
pub async fn put_if_absent<S: TestStore>(store: S) {
    assert!(
        store
            .put_if_absent("k", b"first", at(1000), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent("k", b"second", at(5000), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent("k", b"second", at(5000), at(999))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("k", T0).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(
        store.get("k", at(1500)).await.unwrap(),
        None,
        "the losing call must not extend expiry"
    );

    // Expired (expiry == now) counts as absent.
    assert!(
        store
            .put_if_absent("k", b"third", at(3000), at(1000))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("k", at(1000)).await.unwrap().as_deref(),
        Some(&b"third"[..])
    );
    assert_eq!(
        store.get("k", at(2999)).await.unwrap().as_deref(),
        Some(&b"third"[..])
    );
    assert_eq!(store.get("k", at(3000)).await.unwrap(), None);

    // After delete or take, absent again.
    store.delete("k").await.unwrap();
    assert!(
        store
            .put_if_absent("k", b"fourth", at(1000), T0)
            .await
            .unwrap()
    );
    assert_eq!(
        store.take("k", T0).await.unwrap().as_deref(),
        Some(&b"fourth"[..])
    );
    assert!(
        store
            .put_if_absent("k", b"fifth", at(1000), T0)
            .await
            .unwrap()
    );

    // Over a plain put entry too.
    store.put("p", b"put", at(1000)).await.unwrap();
    assert!(!store.put_if_absent("p", b"x", at(1000), T0).await.unwrap());
    assert!(
        store
            .put_if_absent("p", b"x", at(3000), at(2000))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("p", at(2000)).await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

/// `take`: returns a live value once and removes it; expired or absent: `None`.
pub async fn take<S: TestStore>(store: S) {
    assert_eq!(store.take("k", T0).await.unwrap(), None);
    store.put("k", b"v", at(1000)).await.unwrap();
    assert_eq!(
        store.take("k", T0).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(store.take("k", T0).await.unwrap(), None);
    assert_eq!(store.get("k", T0).await.unwrap(), None);

    store.put("k", b"v", at(1000)).await.unwrap();
    assert_eq!(
        store.take("k", at(1000)).await.unwrap(),
        None,
        "expired: nothing to take"
    );
    assert_eq!(
        store.get("k", T0).await.unwrap(),
        None,
        "an expired entry may be removed, never revived"
    );
    assert_eq!(store.take("k", T0).await.unwrap(), None);

    store.put("a", b"1", at(1000)).await.unwrap();
    store.put("b", b"2", at(1000)).await.unwrap();
    assert_eq!(
        store.take("a", T0).await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.get("b", T0).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

/// `RACERS` concurrent takes of one key: exactly one gets the value.
pub async fn concurrent_take<S: TestStore>(store: S) {
    store.put("challenge", b"secret", at(60_000)).await.unwrap();
    let results = race(&store, RACERS, |s, _| async move {
        s.take("challenge", T0).await.unwrap()
    })
    .await;
    let got: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(got, vec![b"secret".to_vec()], "exactly one take must win");
}

/// `RACERS` concurrent `put_if_absent` of one key: exactly one `true`, and
/// the stored value is the winner's.
pub async fn concurrent_put_if_absent<S: TestStore>(store: S) {
    for (key, pre) in [("fresh", false), ("stale", true)] {
        if pre {
            store.put(key, b"old", at(-1)).await.unwrap();
        }
        let results = race(&store, RACERS, move |s, i| async move {
            s.put_if_absent(key, format!("v{i}").as_bytes(), at(60_000), T0)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(results.iter().filter(|&&won| won).count(), 1, "key {key}");
        let winner = results.iter().position(|&won| won).unwrap();
        assert_eq!(
            store.get(key, T0).await.unwrap(),
            Some(format!("v{winner}").into_bytes())
        );
    }
}

/// `increment`: window start, count, expiry kept or extended, restart after expiry.
pub async fn increment<S: TestStore>(store: S) {
    let ttl = Duration::from_secs(60);
    let c = store.increment("c", ttl, false, T0).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 1,
            expires_at: at(60_000)
        }
    );
    let c = store.increment("c", ttl, false, at(10_000)).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 2,
            expires_at: at(60_000)
        },
        "expiry kept without extend"
    );
    let c = store.increment("c", ttl, true, at(20_000)).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 3,
            expires_at: at(80_000)
        },
        "extend moves expiry to now + ttl"
    );
    let c = store.increment("c", ttl, false, at(79_999)).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 4,
            expires_at: at(80_000)
        }
    );
    // At expiry the window is over: a new one starts.
    let c = store.increment("c", ttl, false, at(80_000)).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 1,
            expires_at: at(140_000)
        }
    );
    let c = store.increment("c", ttl, true, at(500_000)).await.unwrap();
    assert_eq!(
        c,
        Counter {
            count: 1,
            expires_at: at(560_000)
        }
    );

    // Counters are per key; other ttls; sub-second ttl.
    let d = store
        .increment("d", Duration::from_millis(1), false, T0)
        .await
        .unwrap();
    assert_eq!(
        d,
        Counter {
            count: 1,
            expires_at: at(1)
        }
    );
    let d = store
        .increment("d", Duration::from_millis(1), false, at(1))
        .await
        .unwrap();
    assert_eq!(d.count, 1);
    let e = store
        .increment("e", Duration::from_secs(3600), false, T0)
        .await
        .unwrap();
    assert_eq!(
        e,
        Counter {
            count: 1,
            expires_at: at(3_600_000)
        }
    );
    let c = store.increment("c", ttl, false, at(500_001)).await.unwrap();
    assert_eq!(c.count, 2);

    // Deleting a counter resets it.
    store.delete("c").await.unwrap();
    assert_eq!(
        store
            .increment("c", ttl, false, at(500_002))
            .await
            .unwrap()
            .count,
        1
    );

    // Many increments in one window.
    for n in 2..=100 {
        assert_eq!(
            store
                .increment("e", Duration::from_secs(3600), false, at(n))
                .await
                .unwrap()
                .count,
            n as u64
        );
    }
}

/// `INCREMENTERS` concurrent increments of one counter return exactly the
/// counts 1..=INCREMENTERS, all with the same window.
pub async fn concurrent_increment<S: TestStore>(store: S) {
    let results = race(&store, INCREMENTERS, |s, _| async move {
        s.increment("hot", Duration::from_secs(60), false, T0)
            .await
            .unwrap()
    })
    .await;
    let mut counts: Vec<u64> = results.iter().map(|c| c.count).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=INCREMENTERS as u64).collect::<Vec<_>>());
    assert!(results.iter().all(|c| c.expires_at == at(60_000)));
    let next = store
        .increment("hot", Duration::from_secs(60), false, at(1))
        .await
        .unwrap();
    assert_eq!(next.count, INCREMENTERS as u64 + 1);
}

/// `release`: takes one back from a live counter, never below zero, never
/// reviving an expired or absent one; the window is kept.
pub async fn release<S: TestStore>(store: S) {
    let ttl = Duration::from_secs(60);
    for _ in 0..3 {
        store.increment("r", ttl, false, T0).await.unwrap();
    }
    store.release("r", at(1)).await.unwrap();
    let c = store.increment("r", ttl, false, at(2)).await.unwrap();
    assert_eq!((c.count, c.expires_at), (3, at(60_000)));
    for _ in 0..10 {
        store.release("r", at(3)).await.unwrap();
    }
    assert_eq!(
        store.increment("r", ttl, false, at(4)).await.unwrap().count,
        1
    );
    // Absent or expired: nothing happens, the next increment starts afresh.
    store.release("absent", T0).await.unwrap();
    assert_eq!(
        store
            .increment("absent", ttl, false, T0)
            .await
            .unwrap()
            .count,
        1
    );
    store.release("r", at(60_000)).await.unwrap();
    let c = store.increment("r", ttl, false, at(60_000)).await.unwrap();
    assert_eq!((c.count, c.expires_at), (1, at(120_000)));
}

/// `INCREMENTERS` concurrent increments interleaved with as many releases
/// of one counter leave it where it started: no update is lost.
pub async fn concurrent_release<S: TestStore>(store: S) {
    let ttl = Duration::from_secs(60);
    for _ in 0..INCREMENTERS {
        store.increment("hot", ttl, false, T0).await.unwrap();
    }
    race(&store, INCREMENTERS * 2, |s, i| async move {
        if i % 2 == 0 {
            s.increment("hot", Duration::from_secs(60), false, T0)
                .await
                .unwrap();
        } else {
            s.release("hot", T0).await.unwrap();
        }
    })
    .await;
    let c = store.increment("hot", ttl, false, T0).await.unwrap();
    assert_eq!(c.count, INCREMENTERS as u64 + 1);
}

/// `advance`: accepts only strictly greater values while live; an expired
/// value counts as absent.
pub async fn advance<S: TestStore>(store: S) {
    assert!(store.advance("t", 100, at(1000), T0).await.unwrap());
    assert!(
        !store.advance("t", 100, at(1000), T0).await.unwrap(),
        "same value twice"
    );
    assert!(
        !store.advance("t", 99, at(1000), T0).await.unwrap(),
        "lower value"
    );
    assert!(!store.advance("t", i64::MIN, at(1000), T0).await.unwrap());
    assert!(store.advance("t", 101, at(2000), T0).await.unwrap());
    assert!(!store.advance("t", 101, at(5000), at(1500)).await.unwrap());
    // The losing call did not extend expiry: at 2000 the value is gone.
    assert!(
        store.advance("t", 5, at(3000), at(2000)).await.unwrap(),
        "expired = absent"
    );
    assert!(!store.advance("t", 5, at(3000), at(2000)).await.unwrap());
    assert!(store.advance("t", 6, at(3000), at(2999)).await.unwrap());

    // Extremes and negatives.
    assert!(store.advance("n", -5, at(1000), T0).await.unwrap());
    assert!(!store.advance("n", -6, at(1000), T0).await.unwrap());
    assert!(store.advance("n", 0, at(1000), T0).await.unwrap());
    assert!(store.advance("n", i64::MAX, at(1000), T0).await.unwrap());
    assert!(!store.advance("n", i64::MAX, at(1000), T0).await.unwrap());
    assert!(
        store.advance("m", i64::MIN, at(1000), T0).await.unwrap(),
        "nothing stored: any value"
    );
    assert!(!store.advance("m", i64::MIN, at(1000), T0).await.unwrap());

    // Per key; delete resets.
    assert!(store.advance("u", 1, at(1000), T0).await.unwrap());
    store.delete("u").await.unwrap();
    assert!(store.advance("u", 1, at(1000), T0).await.unwrap());
}

/// `RACERS` concurrent `advance` with one value: exactly one `true`. With
/// distinct values, the largest ends up stored.
pub async fn concurrent_advance<S: TestStore>(store: S) {
    let results = race(&store, RACERS, |s, _| async move {
        s.advance("step", 55_555, at(90_000), T0).await.unwrap()
    })
    .await;
    assert_eq!(results.iter().filter(|&&won| won).count(), 1);
    assert!(!store.advance("step", 55_555, at(90_000), T0).await.unwrap());

    let results = race(&store, RACERS, |s, i| async move {
        s.advance("mixed", i as i64, at(90_000), T0).await.unwrap()
    })
    .await;
    assert!(results.iter().any(|&won| won));
    assert!(
        !store
            .advance("mixed", RACERS as i64 - 1, at(90_000), T0)
            .await
            .unwrap(),
        "the largest value must be stored"
    );
    assert!(
        store
            .advance("mixed", RACERS as i64, at(90_000), T0)
            .await
            .unwrap()
    );
}

/// Hostile keys and values in the state store are kept verbatim and harm nothing.
pub async fn hostile_state_keys<S: TestStore>(store: S) {
    store
        .put("sentinel", b"still here", at(1000))
        .await
        .unwrap();
    for (i, s) in HOSTILE.iter().enumerate() {
        let key = format!("{s}:{i}");
        store.put(&key, s.as_bytes(), at(1000)).await.unwrap();
        assert_eq!(
            store.get(&key, T0).await.unwrap(),
            Some(s.as_bytes().to_vec())
        );
        assert!(!store.put_if_absent(&key, b"x", at(1000), T0).await.unwrap());
        assert_eq!(
            store.take(&key, T0).await.unwrap(),
            Some(s.as_bytes().to_vec())
        );
        assert_eq!(
            store
                .increment(&format!("{key}:n"), Duration::from_secs(1), false, T0)
                .await
                .unwrap()
                .count,
            1
        );
        assert!(
            store
                .advance(&format!("{key}:t"), 1, at(1000), T0)
                .await
                .unwrap()
        );
        store.delete(&key).await.unwrap();
    }
    assert_eq!(
        store.get("sentinel", T0).await.unwrap().as_deref(),
        Some(&b"still here"[..])
    );
}

// ---------------------------------------------------------------- runners

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: TestStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_and_lookup(make().await).await;
    uniqueness(make().await).await;
    concurrent_create_same_username(make().await).await;
    skeleton_uniqueness(make().await).await;
    concurrent_create_same_skeleton(make().await).await;
    concurrent_confusable_registrations(make().await).await;
    password_hash(make().await).await;
    update_profile(make().await).await;
    phone_and_totp(make().await).await;
    recovery_codes(make().await).await;
    credential_generation(make().await).await;
    devices(make().await).await;
    concurrent_recovery_code(make().await).await;
    hostile_user_strings(make().await).await;
    put_get_delete(make().await).await;
    put_if_absent(make().await).await;
    take(make().await).await;
    concurrent_take(make().await).await;
    concurrent_put_if_absent(make().await).await;
    increment(make().await).await;
    concurrent_increment(make().await).await;
    release(make().await).await;
    concurrent_release(make().await).await;
    advance(make().await).await;
    concurrent_advance(make().await).await;
    hostile_state_keys(make().await).await;
}

/// Expands to one multi-threaded `#[tokio::test]` per conformance check.
/// `$make` is an expression evaluating to a future of `Option<store>` with a
/// fresh store (evaluated once per test; `None` skips the test, e.g. when no
/// database is configured). An optional `$finish` is a closure taking the
/// store and returning a future, run after a passing check (for cleanup).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!($make, |_store| async {});
    };
    ($make:expr, $finish:expr) => {
        $crate::conformance_suite!(@tests ($make) ($finish)
            create_and_lookup uniqueness concurrent_create_same_username skeleton_uniqueness
            concurrent_create_same_skeleton concurrent_confusable_registrations password_hash
            update_profile phone_and_totp recovery_codes credential_generation devices
            concurrent_recovery_code
            hostile_user_strings put_get_delete put_if_absent take concurrent_take
            concurrent_put_if_absent increment concurrent_increment release concurrent_release advance
            concurrent_advance hostile_state_keys);
    };
    (@tests ($make:expr) ($finish:expr) $($name:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make.await else { return };
                $crate::support::$name(store.clone()).await;
                ($finish)(store).await;
            }
        )*
    };
}
