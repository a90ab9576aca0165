//! Checks of the [`UserStore`] contract: creation and lookup, uniqueness of
//! username keys, confusable skeletons and emails (also under concurrency),
//! profile updates, and hostile strings kept verbatim.

use std::collections::HashSet;

use secrecy::SecretString;

use super::*;

/// `create_user` returns the stored record; lookups by id, username key and
/// email find it; unknown ones find nothing.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn create_and_lookup<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn uniqueness<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn concurrent_create_same_username<S: UserStoreUnderTest>(store: S) {
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

/// All-Cyrillic а ӏ і с е: another key than `alice`, the same skeleton (see
/// [`alice_look_alikes`]).
pub const CYRILLIC_ALICE: &str = "\u{430}\u{4cf}\u{456}\u{441}\u{435}";

/// Names with one confusable skeleton are one name: another key with the
/// skeleton of an existing user is refused with `UsernameTaken`, by create
/// and by update, and nothing is stored; rows without a skeleton (written
/// before skeletons existed) never conflict with each other.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn skeleton_uniqueness<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn concurrent_create_same_skeleton<S: UserStoreUnderTest>(store: S) {
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
///
/// ```
/// use twofa_verify::conformance::{CYRILLIC_ALICE, alice_look_alikes, sk};
/// let names = alice_look_alikes();
/// assert!(names.iter().any(|n| n == CYRILLIC_ALICE));
/// assert!(names.iter().all(|n| sk(&n.to_lowercase()) == sk("alice")));
/// ```
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn concurrent_confusable_registrations<S: UserStoreUnderTest>(store: S) {
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
        .user_store(store.clone())
        .state_store(crate::MemoryStore::new())
        .secret_key(
            crate::SecretKey::from_bytes(b"conformance-suite-secret-key-0123456789".to_vec())
                .unwrap(),
        )
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

/// `update_profile`: changes username and email; refuses a username or email
/// of another user; no conflict with the user's own values; `UserNotFound`.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn update_profile<S: UserStoreUnderTest>(store: S) {
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

/// Hostile and unicode strings, and long ones, in every text field are
/// stored and found verbatim, and harm nothing.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn hostile_user_strings<S: UserStoreUnderTest>(store: S) {
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
