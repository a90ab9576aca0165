//! Checks of the [`UserStore`] contract for what a user proves themselves
//! with: password hashes (compare-and-set), phone and TOTP secret, recovery
//! codes (single use under concurrency), the credential generation and
//! remembered devices.

use super::*;

/// `set_password_hash` and the compare-and-set `replace_password_hash`.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn password_hash<S: UserStoreUnderTest>(store: S) {
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

/// `set_phone` and `set_totp`: set, replace, clear; `UserNotFound`.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn phone_and_totp<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn credential_generation<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn devices<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn recovery_codes<S: UserStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn concurrent_recovery_code<S: UserStoreUnderTest>(store: S) {
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
