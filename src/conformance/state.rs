//! Checks of the [`StateStore`] contract: `put`/`get`/`delete` with expiry,
//! `put_if_absent`, `take` (single use), `increment`/`release` counters,
//! `advance`, each also under concurrency, and hostile keys.

use std::time::Duration;

use super::*;

/// `put`, `get`, `delete`, with expiry at or before `now` meaning absent.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn put_get_delete<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn put_if_absent<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn take<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_take<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_put_if_absent<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn increment<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_increment<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn release<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_release<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn advance<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_advance<S: StateStoreUnderTest>(store: S) {
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
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn hostile_state_keys<S: StateStoreUnderTest>(store: S) {
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
