//! Checks of the passkey methods of a [`UserStore`] (for stores that keep
//! passkeys; a store without them answers `NotSupportedByStore` and skips
//! these): credential ids unique across users, listing per user, rename,
//! removal and the per-user count, and the counter's compare-and-set under
//! a burst. [`run_passkeys`] runs them all.

use super::*;
use crate::store::{PasskeyRecord, PasskeyUse};

/// Concurrent uses recorded by [`concurrent_passkey_use`] (see the
/// [`run_passkeys`] example).
pub const PASSKEY_RACERS: usize = 200;

fn passkey(user: UserId, id: u8, name: &str) -> PasskeyRecord {
    PasskeyRecord {
        user,
        credential_id: vec![id; 16],
        name: name.into(),
        credential: format!("{{\"cred\":{id}}}"),
        counter: 0,
        backup_eligible: true,
        backed_up: false,
        created_at: at(i64::from(id)),
        last_used_at: None,
    }
}

/// Adding, listing (per user, oldest first), unique credential ids across
/// users, rename, removal, and `UserRecord::passkeys` following along.
///
/// One of the checks [`run_passkeys`] runs (see its example).
pub async fn passkeys_per_user<S: UserStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await;
    let bob = create(&store, "bob").await;
    store
        .add_passkey(&passkey(alice.id, 1, "one"))
        .await
        .unwrap();
    store
        .add_passkey(&passkey(alice.id, 2, "two"))
        .await
        .unwrap();
    // The same credential id again, for anyone: refused, nothing stored.
    for user in [alice.id, bob.id] {
        let again = store.add_passkey(&passkey(user, 1, "copy")).await;
        assert!(matches!(again, Err(Error::PasskeyExists)), "{again:?}");
    }
    let count = |s: &S, id| {
        let s = s.clone();
        async move { s.user_by_id(id).await.unwrap().unwrap().passkeys }
    };
    assert_eq!(count(&store, alice.id).await, 2);
    assert_eq!(count(&store, bob.id).await, 0);
    let names: Vec<String> = store
        .passkeys(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
    assert!(store.passkeys(bob.id).await.unwrap().is_empty());
    let found = store
        .passkey_by_credential(&[2; 16])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.user, found.name.as_str()), (alice.id, "two"));
    assert!(
        store
            .passkey_by_credential(&[9; 16])
            .await
            .unwrap()
            .is_none()
    );

    // Bob can neither rename nor remove Alice's.
    assert!(
        !store
            .rename_passkey(bob.id, &[1; 16], "mine")
            .await
            .unwrap()
    );
    assert!(!store.remove_passkey(bob.id, &[1; 16]).await.unwrap());
    assert!(
        store
            .rename_passkey(alice.id, &[1; 16], "first")
            .await
            .unwrap()
    );
    assert_eq!(store.passkeys(alice.id).await.unwrap()[0].name, "first");
    assert!(store.remove_passkey(alice.id, &[1; 16]).await.unwrap());
    assert!(!store.remove_passkey(alice.id, &[1; 16]).await.unwrap());
    assert_eq!(count(&store, alice.id).await, 1);
    // Removed ids can be registered again.
    store
        .add_passkey(&passkey(bob.id, 1, "bob's"))
        .await
        .unwrap();
    assert_eq!(count(&store, bob.id).await, 1);
}

/// [`PASSKEY_RACERS`] uses of one passkey recorded at once, each with its
/// own counter: the stored counter ends at the highest, never goes back,
/// and a use is written exactly when it moved the counter forward at that
/// moment (so at least the highest one is written, and a counter reported
/// twice is written once).
///
/// One of the checks [`run_passkeys`] runs (see its example).
pub async fn concurrent_passkey_use<S: UserStoreUnderTest>(store: S) {
    let alice = create(&store, "alice").await;
    store
        .add_passkey(&passkey(alice.id, 1, "key"))
        .await
        .unwrap();
    let user = alice.id;
    // Counters 1..=100, each reported twice.
    let written = race(&store, PASSKEY_RACERS, move |s, i| async move {
        let counter = u32::try_from(i / 2 + 1).unwrap_or(u32::MAX);
        let used = PasskeyUse {
            counter,
            backed_up: true,
            credential: format!("{{\"counter\":{counter}}}"),
            at: at(1_000 + i64::from(counter)),
        };
        (
            counter,
            s.record_passkey_use(user, &[1; 16], &used).await.unwrap(),
        )
    })
    .await;
    let stored = store
        .passkey_by_credential(&[1; 16])
        .await
        .unwrap()
        .unwrap();
    let top = u32::try_from(PASSKEY_RACERS / 2).unwrap_or(u32::MAX);
    assert_eq!(stored.counter, top, "the highest counter wins");
    assert_eq!(stored.credential, format!("{{\"counter\":{top}}}"));
    assert!(stored.backed_up);
    for c in 1..=top {
        let n = written.iter().filter(|(k, w)| *k == c && *w).count();
        assert!(n <= 1, "counter {c} written {n} times");
    }
    // Going back or standing still is refused; the row is unchanged.
    for counter in [top, top - 1, 0] {
        let used = PasskeyUse {
            counter,
            backed_up: false,
            credential: "{}".into(),
            at: at(9_999),
        };
        assert!(
            !store
                .record_passkey_use(user, &[1; 16], &used)
                .await
                .unwrap()
        );
    }
    // Another user's id never writes.
    let bob = create(&store, "bob").await;
    let used = PasskeyUse {
        counter: top + 1,
        backed_up: false,
        credential: "{}".into(),
        at: at(9_999),
    };
    assert!(
        !store
            .record_passkey_use(bob.id, &[1; 16], &used)
            .await
            .unwrap()
    );
    let after = store
        .passkey_by_credential(&[1; 16])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, stored);
    // A passkey without a counter (0 then 0) is always written.
    store
        .add_passkey(&passkey(alice.id, 2, "synced"))
        .await
        .unwrap();
    let zero = PasskeyUse {
        counter: 0,
        backed_up: true,
        credential: "{}".into(),
        at: at(5),
    };
    assert!(
        store
            .record_passkey_use(user, &[2; 16], &zero)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_passkey_use(user, &[2; 16], &zero)
            .await
            .unwrap()
    );
}

/// Runs every passkey check, each on a fresh store from `make`.
///
/// ```
/// use twofa_verify::MemoryStore;
/// use twofa_verify::conformance::run_passkeys;
///
/// #[tokio::main(flavor = "multi_thread", worker_threads = 4)]
/// async fn main() {
///     run_passkeys(|| async { MemoryStore::new() }).await;
/// }
/// ```
pub async fn run_passkeys<S, F, Fut>(make: F)
where
    S: UserStoreUnderTest,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    passkeys_per_user(make().await).await;
    concurrent_passkey_use(make().await).await;
}
