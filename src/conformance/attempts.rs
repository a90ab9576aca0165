//! Checks of the compound [`StateStore`] operations:
//! [`reserve_attempt`](StateStore::reserve_attempt),
//! [`settle_attempt`](StateStore::settle_attempt) and
//! [`reserve_attempt_and_accept_step`](StateStore::reserve_attempt_and_accept_step),
//! each step of their contracts in order, then under bursts of
//! [`ATTEMPT_BURST`] concurrent calls. They pass for the trait's default
//! methods too (which keep every limit); a store that overrides them must
//! keep the same results.

use std::time::Duration;

use super::*;
use crate::store::{
    Admission, AttemptSpec, Budget, Lockout, Reservation, Settlement, StepAcceptance, StepCheck,
    StepOutcome,
};

/// How many calls race in the compound-operation bursts, among the checks
/// [`run_state_store`] runs (see the [`run_user_store`] example).
pub const ATTEMPT_BURST: usize = 200;

const HOUR: Duration = Duration::from_secs(3600);

/// An attempt spec for lockout `name` with these budgets (`(key, max)`,
/// one-hour windows); every wait is a delay.
fn spec(name: &str, threshold: u64, waits: &[u64], budgets: &[(&str, u64)]) -> AttemptSpec {
    AttemptSpec {
        lockout: Lockout {
            counter: format!("fail:{name}"),
            gate: format!("lock:{name}"),
            gates: format!("gates:{name}"),
            memory: HOUR,
            threshold,
            waits: waits.iter().map(|s| Duration::from_secs(*s)).collect(),
            locks_from: waits.len(),
        },
        budgets: budgets
            .iter()
            .map(|(key, max)| Budget {
                key: format!("rl:{key}"),
                window: HOUR,
                max: *max,
            })
            .collect(),
    }
}

async fn admitted<S: StateStore>(store: &S, spec: &AttemptSpec, now: Timestamp) -> Reservation {
    match store.reserve_attempt(spec, now).await.unwrap() {
        Admission::Admitted(r) => r,
        other => panic!("expected an admission, got {other:?}"),
    }
}

fn reservation(failures: u64, gated: bool, counts: &[u64]) -> Reservation {
    Reservation {
        failures,
        gated,
        counts: counts.to_vec(),
    }
}

/// `reserve_attempt`: counted below the threshold, a gate from it on with
/// the `k`-th wait (the last repeating), refusals while the gate is live.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn reserve_attempt<S: StateStoreUnderTest>(store: S) {
    // A delay of 10 s, then locks of 60 s.
    let mut s = spec("acct", 3, &[10, 60], &[]);
    s.lockout.locks_from = 1;
    assert_eq!(admitted(&store, &s, T0).await, reservation(1, false, &[]));
    assert_eq!(admitted(&store, &s, T0).await, reservation(2, false, &[]));
    // The threshold: this attempt sets the gate (the first wait, 10 s).
    assert_eq!(admitted(&store, &s, T0).await, reservation(3, true, &[]));
    assert_eq!(
        store.reserve_attempt(&s, at(1)).await.unwrap(),
        Admission::Held {
            retry_after: Duration::from_millis(9_999),
            lock: false,
        },
        "a live gate refuses, as a delay"
    );
    // The gate's value: its end, 8 big-endian bytes of Unix milliseconds,
    // then 0 for a delay.
    let mut value = at(10_000).as_millis().to_be_bytes().to_vec();
    value.push(0);
    assert_eq!(store.get("lock:acct", at(1)).await.unwrap(), Some(value));
    // Expired at its end: the second gate holds the second wait, a lock.
    assert_eq!(
        admitted(&store, &s, at(10_000)).await,
        reservation(4, true, &[])
    );
    assert_eq!(
        store.reserve_attempt(&s, at(10_001)).await.unwrap(),
        Admission::Held {
            retry_after: Duration::from_millis(59_999),
            lock: true,
        }
    );
    // The last wait repeats, a lock to its last millisecond.
    assert_eq!(
        admitted(&store, &s, at(70_000)).await,
        reservation(5, true, &[])
    );
    assert_eq!(
        store.reserve_attempt(&s, at(129_999)).await.unwrap(),
        Admission::Held {
            retry_after: Duration::from_millis(1),
            lock: true,
        }
    );
    // A lock as long as the delay before it is still a lock: the gate is
    // written again for its kind alone.
    let mut same = spec("same", 1, &[10, 10], &[]);
    same.lockout.locks_from = 1;
    assert_eq!(admitted(&store, &same, T0).await, reservation(1, true, &[]));
    assert!(matches!(
        store.reserve_attempt(&same, at(1)).await.unwrap(),
        Admission::Held { lock: false, .. }
    ));
    assert_eq!(
        admitted(&store, &same, at(10_000)).await,
        reservation(2, true, &[])
    );
    assert!(matches!(
        store.reserve_attempt(&same, at(10_001)).await.unwrap(),
        Admission::Held { lock: true, .. }
    ));
    // Another lockout is untouched.
    let other = spec("other", 3, &[10], &[]);
    assert_eq!(
        admitted(&store, &other, at(70_000)).await,
        reservation(1, false, &[])
    );
    // The counter is forgotten `memory` after its last count.
    let later = at(70_000 + 3_600_000);
    assert_eq!(
        admitted(&store, &s, later).await,
        reservation(1, false, &[])
    );
}

/// `reserve_attempt` with budgets: each counted, a full one refuses with
/// its index and the window's time left, and a refusal takes no place in
/// any budget nor in the lockout.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn reserve_attempt_budgets<S: StateStoreUnderTest>(store: S) {
    let both = spec("acct", 100, &[10], &[("wide", 2), ("narrow", 1)]);
    let wide = spec("acct", 100, &[10], &[("wide", 2)]);
    let none = spec("acct", 100, &[10], &[]);
    assert_eq!(
        admitted(&store, &both, T0).await,
        reservation(1, false, &[1, 1])
    );
    assert_eq!(
        store.reserve_attempt(&both, at(1_000)).await.unwrap(),
        Admission::RateLimited {
            budget: 1,
            retry_after: Duration::from_millis(3_599_000)
        }
    );
    // The refusal handed back its place in `wide` and took none in the lockout.
    assert_eq!(
        admitted(&store, &wide, at(1_000)).await,
        reservation(2, false, &[2])
    );
    assert!(matches!(
        store.reserve_attempt(&wide, at(1_000)).await.unwrap(),
        Admission::RateLimited { budget: 0, .. }
    ));
    assert_eq!(
        admitted(&store, &none, at(1_000)).await,
        reservation(3, false, &[])
    );
    // The window ends an hour after its first count: at least one second
    // is reported even at its last millisecond.
    assert_eq!(
        store.reserve_attempt(&wide, at(3_599_999)).await.unwrap(),
        Admission::RateLimited {
            budget: 0,
            retry_after: Duration::from_secs(1)
        }
    );
    assert_eq!(
        admitted(&store, &wide, at(3_600_000)).await,
        reservation(4, false, &[1])
    );
    // A live gate refuses before any budget is counted.
    let gated = spec("g", 1, &[10], &[("g-budget", 5)]);
    assert_eq!(
        admitted(&store, &gated, T0).await,
        reservation(1, true, &[1])
    );
    assert!(matches!(
        store.reserve_attempt(&gated, T0).await.unwrap(),
        Admission::Held { .. }
    ));
    assert_eq!(
        admitted(&store, &gated, at(10_000)).await,
        reservation(2, true, &[2]),
        "the refused attempt counted nothing"
    );
}

/// `settle_attempt`: each settlement's writes.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn settle_attempt<S: StateStoreUnderTest>(store: S) {
    let s = spec("acct", 2, &[30], &[("b", 1)]);
    // Released hands the places back (the lockout's and the budget's).
    let r = admitted(&store, &s, T0).await;
    assert_eq!(r, reservation(1, false, &[1]));
    let back = Settlement::Released { gated: false };
    assert_eq!(store.settle_attempt(&s, back, T0).await.unwrap(), None);
    assert_eq!(admitted(&store, &s, T0).await, reservation(1, false, &[1]));
    // A failure stays counted (no settlement): the next one is gated...
    let no_budget = spec("acct", 2, &[30], &[]);
    assert_eq!(
        admitted(&store, &no_budget, T0).await,
        reservation(2, true, &[])
    );
    // ...and Released { gated } also opens the gate and hands back the gate count.
    let back = Settlement::Released { gated: true };
    store.settle_attempt(&no_budget, back, T0).await.unwrap();
    assert_eq!(
        admitted(&store, &no_budget, T0).await,
        reservation(2, true, &[]),
        "the gate was released and its count handed back"
    );
    // ReleasedThenPut also stores the next step's entry.
    let put = Settlement::ReleasedThenPut {
        gated: true,
        key: "pending",
        value: b"record",
        expires_at: at(60_000),
    };
    assert_eq!(
        store.settle_attempt(&no_budget, put, T0).await.unwrap(),
        None
    );
    assert_eq!(
        store.get("pending", T0).await.unwrap(),
        Some(b"record".to_vec())
    );
    assert!(store.get("pending", at(60_000)).await.unwrap().is_none());
    assert_eq!(
        admitted(&store, &no_budget, T0).await,
        reservation(2, true, &[])
    );
    // SucceededIfTaken: taken, the run of failures ends.
    let take = Settlement::SucceededIfTaken {
        gated: true,
        key: "pending",
    };
    assert_eq!(
        store.settle_attempt(&no_budget, take, T0).await.unwrap(),
        Some(b"record".to_vec())
    );
    assert!(store.get("pending", T0).await.unwrap().is_none());
    assert_eq!(
        admitted(&store, &no_budget, T0).await,
        reservation(1, false, &[]),
        "the run of failures ended"
    );
    // Gone: released instead (the count stays what it was).
    let take = Settlement::SucceededIfTaken {
        gated: false,
        key: "pending",
    };
    assert_eq!(
        store.settle_attempt(&no_budget, take, T0).await.unwrap(),
        None
    );
    assert_eq!(
        admitted(&store, &no_budget, T0).await,
        reservation(1, false, &[]),
        "the attempt was handed back"
    );
    // An expired entry is not taken.
    store.put("stale", b"x", at(5)).await.unwrap();
    let take = Settlement::SucceededIfTaken {
        gated: true,
        key: "stale",
    };
    assert_eq!(
        store.settle_attempt(&no_budget, take, at(5)).await.unwrap(),
        None
    );
    // Succeeded clears the counter, the gate count, the gate, and hands
    // back the budgets.
    let r = admitted(&store, &spec("fresh", 1, &[30], &[("c", 1)]), T0).await;
    assert_eq!(r, reservation(1, true, &[1]));
    let fresh = spec("fresh", 1, &[30], &[("c", 1)]);
    store
        .settle_attempt(&fresh, Settlement::Succeeded, T0)
        .await
        .unwrap();
    assert!(store.get("lock:fresh", T0).await.unwrap().is_none());
    assert_eq!(
        admitted(&store, &fresh, T0).await,
        reservation(1, true, &[1])
    );
}

/// `reserve_attempt_and_accept_step`: accepted once, replays refused and
/// counted, a gone entry released, a refused attempt burns no step.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn reserve_attempt_and_accept_step<S: StateStoreUnderTest>(store: S) {
    let s = spec("acct", 100, &[10], &[]);
    let step = |n: i64, take: &'static str| StepAcceptance {
        key: "totp-step:1",
        step: n,
        expires_at: at(90_000),
        take,
    };
    store.put("login-1", b"L1", at(60_000)).await.unwrap();
    let (a, outcome) = store
        .reserve_attempt_and_accept_step(&s, step(5, "login-1"), T0)
        .await
        .unwrap();
    assert_eq!(a, Admission::Admitted(reservation(1, false, &[])));
    assert_eq!(outcome, Some(StepOutcome::Accepted));
    assert!(store.get("login-1", T0).await.unwrap().is_none());
    // Accepted cleared the lockout.
    assert_eq!(admitted(&store, &s, T0).await, reservation(1, false, &[]));
    // A replayed step finishes nothing and stays counted.
    store.put("login-2", b"L2", at(60_000)).await.unwrap();
    let (a, outcome) = store
        .reserve_attempt_and_accept_step(&s, step(5, "login-2"), T0)
        .await
        .unwrap();
    assert_eq!(a, Admission::Admitted(reservation(2, false, &[])));
    assert_eq!(outcome, Some(StepOutcome::Replayed));
    assert_eq!(
        store.get("login-2", T0).await.unwrap(),
        Some(b"L2".to_vec())
    );
    assert_eq!(admitted(&store, &s, T0).await, reservation(3, false, &[]));
    // A new step whose entry is gone: the step is used, the attempt released.
    let (_, outcome) = store
        .reserve_attempt_and_accept_step(&s, step(6, "missing"), T0)
        .await
        .unwrap();
    assert_eq!(outcome, Some(StepOutcome::Gone));
    assert!(
        !store
            .advance("totp-step:1", 6, at(90_000), T0)
            .await
            .unwrap()
    );
    assert_eq!(admitted(&store, &s, T0).await, reservation(4, false, &[]));
    // Refused by a live gate: nothing happens, the step stays unused.
    let gated = spec("locked", 1, &[10], &[]);
    admitted(&store, &gated, T0).await;
    let (a, outcome) = store
        .reserve_attempt_and_accept_step(&gated, step(7, "login-2"), at(1))
        .await
        .unwrap();
    assert!(matches!(a, Admission::Held { .. }));
    assert_eq!(outcome, None);
    assert_eq!(
        store.get("login-2", at(1)).await.unwrap(),
        Some(b"L2".to_vec())
    );
    let (_, outcome) = store
        .reserve_attempt_and_accept_step(&gated, step(7, "login-2"), at(10_000))
        .await
        .unwrap();
    assert_eq!(outcome, Some(StepOutcome::Accepted));
}

/// `reserve_attempt_and_check_step`: a step accepted once and the attempt
/// handed back (earlier failures still count), replays refused and
/// counted, a refused attempt burns no step.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn reserve_attempt_and_check_step<S: StateStoreUnderTest>(store: S) {
    let s = spec("acct", 100, &[10], &[]);
    let step = |n: i64| StepCheck {
        key: "totp-step:1",
        step: n,
        expires_at: at(90_000),
    };
    // One earlier failure.
    assert_eq!(admitted(&store, &s, T0).await, reservation(1, false, &[]));
    let (a, outcome) = store
        .reserve_attempt_and_check_step(&s, step(5), T0)
        .await
        .unwrap();
    assert_eq!(a, Admission::Admitted(reservation(2, false, &[])));
    assert_eq!(outcome, Some(StepOutcome::Accepted));
    // Handed back, not cleared: the earlier failure still counts.
    assert_eq!(admitted(&store, &s, T0).await, reservation(2, false, &[]));
    // A replayed step stays counted.
    let (a, outcome) = store
        .reserve_attempt_and_check_step(&s, step(5), T0)
        .await
        .unwrap();
    assert_eq!(a, Admission::Admitted(reservation(3, false, &[])));
    assert_eq!(outcome, Some(StepOutcome::Replayed));
    assert_eq!(admitted(&store, &s, T0).await, reservation(4, false, &[]));
    // Refused by a live gate: nothing happens, the step stays unused.
    let gated = spec("locked", 1, &[10], &[]);
    admitted(&store, &gated, T0).await;
    let (a, outcome) = store
        .reserve_attempt_and_check_step(&gated, step(7), at(1))
        .await
        .unwrap();
    assert!(matches!(a, Admission::Held { .. }));
    assert_eq!(outcome, None);
    let (a, outcome) = store
        .reserve_attempt_and_check_step(&gated, step(7), at(10_000))
        .await
        .unwrap();
    assert_eq!(outcome, Some(StepOutcome::Accepted));
    // A gated attempt that passed gives its gate back.
    assert!(matches!(
        a,
        Admission::Admitted(Reservation { gated: true, .. })
    ));
    assert!(
        store
            .get("lock:locked", at(10_000))
            .await
            .unwrap()
            .is_none()
    );
}

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
