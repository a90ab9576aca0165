//! [`UserStore::record_unenrolled_sign_in`]: the grace period of a
//! required second factor.

use super::*;

/// The first call starts the record at its `now`, each call counts one,
/// users are counted apart, and an unknown user is `UserNotFound`.
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn unenrolled_sign_ins<S: UserStoreUnderTest>(store: S) {
    let alice = create(&store, "Alice").await;
    let bob = create(&store, "bob").await;
    for (n, t) in [(1, 10), (2, 20), (3, 30)] {
        let r = store
            .record_unenrolled_sign_in(alice.id, at(t))
            .await
            .unwrap();
        assert_eq!((r.since, r.sign_ins), (at(10), n), "sign-in {n}");
    }
    let r = store
        .record_unenrolled_sign_in(bob.id, at(40))
        .await
        .unwrap();
    assert_eq!((r.since, r.sign_ins), (at(40), 1), "bob counts apart");
    let gone = store
        .record_unenrolled_sign_in(UserId(i64::MAX), at(0))
        .await;
    assert!(matches!(gone, Err(Error::UserNotFound)), "{gone:?}");
}

/// [`RACERS`] sign-ins at once each get a count of their own: 1 to
/// [`RACERS`], none twice (a burst cannot stretch a grace of N sign-ins).
///
/// One of the checks [`run_user_store`] runs (see its example).
pub async fn concurrent_unenrolled_sign_ins<S: UserStoreUnderTest>(store: S) {
    let alice = create(&store, "Alice").await;
    let got = race(&store, RACERS, move |s, i| async move {
        s.record_unenrolled_sign_in(alice.id, at(i as i64))
            .await
            .unwrap()
            .sign_ins
    })
    .await;
    let mut got = got;
    got.sort_unstable();
    assert_eq!(got, (1..=RACERS as u64).collect::<Vec<_>>());
}
