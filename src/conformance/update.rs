//! Checks of [`StateStore::put_if_present`],
//! the update web sessions are saved with: it must never bring back an
//! entry that was deleted or taken, even when it races the delete.

use super::*;

/// `put_if_present`: replaces only a live entry (value and expiry); never
/// brings back one that expired, was deleted or was taken.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn put_if_present<S: StateStoreUnderTest>(store: S) {
    assert!(
        !store.put_if_present("k", b"v", at(1000), T0).await.unwrap(),
        "absent stays absent"
    );
    assert_eq!(store.get("k", T0).await.unwrap(), None);

    store.put("k", b"v1", at(1000)).await.unwrap();
    assert!(
        store
            .put_if_present("k", b"v2", at(5000), T0)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("k", at(4999)).await.unwrap().as_deref(),
        Some(&b"v2"[..]),
        "value and expiry replaced"
    );
    assert!(
        !store
            .put_if_present("k", b"v3", at(9000), at(5000))
            .await
            .unwrap(),
        "expired at now: not revived"
    );
    assert_eq!(
        store.get("k", at(4000)).await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );

    // A stale save after a delete (a logout) or a take.
    store.delete("k").await.unwrap();
    assert!(
        !store
            .put_if_present("k", b"stale", at(9000), T0)
            .await
            .unwrap()
    );
    assert_eq!(store.get("k", T0).await.unwrap(), None, "after delete");
    store.put("t", b"x", at(1000)).await.unwrap();
    assert_eq!(
        store.take("t", T0).await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert!(
        !store
            .put_if_present("t", b"stale", at(9000), T0)
            .await
            .unwrap()
    );
    assert_eq!(store.get("t", T0).await.unwrap(), None, "after take");

    // Other keys are untouched.
    store.put("a", b"1", at(1000)).await.unwrap();
    assert!(
        !store
            .put_if_present("a:b", b"2", at(1000), T0)
            .await
            .unwrap()
    );
    assert_eq!(store.get("a:b", T0).await.unwrap(), None);
}

/// 200 concurrent `put_if_present` of one live key, with one `delete`
/// released among them: whatever the order, the key ends absent (a save
/// that lost the race to the delete must not bring it back), on every
/// round.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_put_if_present_and_delete<S: StateStoreUnderTest>(store: S) {
    const SAVERS: usize = 200;
    for round in 0..5 {
        let key = format!("session-{round}");
        store.put(&key, b"live", at(60_000)).await.unwrap();
        let results = race(&store, SAVERS, {
            let key = key.clone();
            move |s, i| {
                let key = key.clone();
                async move {
                    if i == SAVERS / 2 {
                        s.delete(&key).await.unwrap();
                        None
                    } else {
                        Some(
                            s.put_if_present(&key, format!("v{i}").as_bytes(), at(60_000), T0)
                                .await
                                .unwrap(),
                        )
                    }
                }
            }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1);
        assert_eq!(
            store.get(&key, T0).await.unwrap(),
            None,
            "round {round}: a save raced past the delete and revived the entry"
        );
    }
}
