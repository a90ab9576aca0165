//! The compound [`StateStore`] operations under bursts of
//! [`ATTEMPT_BURST`] concurrent calls: every limit of their contracts
//! holds whatever the interleaving (the step-by-step checks are in
//! [`attempts`]).

use super::attempts::{admitted, reservation, spec};
use super::*;
use crate::store::{Admission, Settlement, StepAcceptance, StepCheck, StepOutcome};

/// A burst of checks of one time step: it is accepted exactly once, and
/// every other attempt of the burst stays counted.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_check_step<S: StateStoreUnderTest>(store: S) {
    let s = spec("check-burst", 1_000, &[60], &[]);
    let results = race(&store, ATTEMPT_BURST, |st, _| {
        let s = s.clone();
        async move {
            let step = StepCheck {
                key: "totp-step:8",
                step: 100,
                expires_at: at(90_000),
            };
            st.reserve_attempt_and_check_step(&s, step, T0)
                .await
                .unwrap()
                .1
        }
    })
    .await;
    let accepted = results
        .iter()
        .filter(|o| **o == Some(StepOutcome::Accepted))
        .count();
    assert_eq!(accepted, 1, "exactly one attempt uses the step");
    let replayed = results
        .iter()
        .filter(|o| **o == Some(StepOutcome::Replayed))
        .count();
    assert_eq!(replayed, results.len() - 1);
    // The replays stay counted, the accepted attempt was handed back.
    let next = u64::try_from(replayed).unwrap() + 1;
    assert_eq!(
        admitted(&store, &s, T0).await,
        reservation(next, false, &[])
    );
}

/// A burst of reservations on one lockout admits exactly `threshold`
/// attempts (those below it and one gate), one of them gated.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_reserve_attempt<S: StateStoreUnderTest>(store: S) {
    let s = spec("burst", 5, &[60], &[]);
    let results = race(&store, ATTEMPT_BURST, |st, _| {
        let s = s.clone();
        async move { st.reserve_attempt(&s, T0).await.unwrap() }
    })
    .await;
    let admitted: Vec<_> = results
        .iter()
        .filter_map(|a| match a {
            Admission::Admitted(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(admitted.len(), 5, "exactly `threshold` attempts admitted");
    assert_eq!(admitted.iter().filter(|r| r.gated).count(), 1);
    assert!(
        results
            .iter()
            .all(|a| matches!(a, Admission::Admitted(_) | Admission::Held { .. }))
    );
    let mut failures: Vec<u64> = admitted.iter().map(|r| r.failures).collect();
    failures.sort_unstable();
    assert_eq!(failures, vec![1, 2, 3, 4, 5]);
}

/// A burst against a budget admits exactly its maximum.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_reserve_budget<S: StateStoreUnderTest>(store: S) {
    let s = spec("budget-burst", 1_000, &[60], &[("shared", 7)]);
    let results = race(&store, ATTEMPT_BURST, |st, _| {
        let s = s.clone();
        async move { st.reserve_attempt(&s, T0).await.unwrap() }
    })
    .await;
    let admissions = results
        .iter()
        .filter(|a| matches!(a, Admission::Admitted(_)))
        .count();
    assert_eq!(admissions, 7, "exactly the budget's maximum admitted");
    assert!(results.iter().all(|a| matches!(
        a,
        Admission::Admitted(_) | Admission::RateLimited { budget: 0, .. }
    )));
    // The refusals took no place in the lockout.
    let r = admitted(&store, &spec("budget-burst", 1_000, &[60], &[]), T0).await;
    assert_eq!(r.failures, 8);
}

/// A burst of settlements that each would take one entry: exactly one takes it.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_settle_attempt<S: StateStoreUnderTest>(store: S) {
    let s = spec("settle-burst", 1_000, &[60], &[]);
    for _ in 0..ATTEMPT_BURST {
        admitted(&store, &s, T0).await;
    }
    store.put("pending", b"login", at(60_000)).await.unwrap();
    let results = race(&store, ATTEMPT_BURST, |st, _| {
        let s = s.clone();
        async move {
            let take = Settlement::SucceededIfTaken {
                gated: false,
                key: "pending",
            };
            st.settle_attempt(&s, take, T0).await.unwrap()
        }
    })
    .await;
    let taken: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(
        taken,
        vec![b"login".to_vec()],
        "exactly one settlement takes it"
    );
}

/// A burst of one right TOTP code on one pending login: exactly one accepted.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn concurrent_accept_step<S: StateStoreUnderTest>(store: S) {
    let s = spec("step-burst", 1_000, &[60], &[("answers", 1_000)]);
    store.put("pending", b"login", at(60_000)).await.unwrap();
    let results = race(&store, ATTEMPT_BURST, |st, i| {
        let s = s.clone();
        async move {
            // Half the burst replays one step, half brings the next one.
            let step = StepAcceptance {
                key: "totp-step:9",
                step: 100 + i64::from(i % 2 == 0),
                expires_at: at(90_000),
                take: "pending",
            };
            st.reserve_attempt_and_accept_step(&s, step, T0)
                .await
                .unwrap()
                .1
        }
    })
    .await;
    let accepted = results
        .iter()
        .filter(|o| **o == Some(StepOutcome::Accepted))
        .count();
    assert_eq!(accepted, 1, "exactly one code finishes the login");
    assert!(store.get("pending", T0).await.unwrap().is_none());
    // Each step was accepted at most once: at most two advanced.
    let advanced = results
        .iter()
        .filter(|o| matches!(o, Some(StepOutcome::Accepted | StepOutcome::Gone)))
        .count();
    assert!(advanced <= 2, "{advanced} attempts used a step");
}
