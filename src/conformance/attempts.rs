//! Checks of the compound [`StateStore`] operations:
//! [`reserve_attempt`](StateStore::reserve_attempt),
//! [`settle_attempt`](StateStore::settle_attempt) and
//! [`reserve_attempt_and_accept_step`](StateStore::reserve_attempt_and_accept_step),
//! each step of their contracts in order (the bursts of [`ATTEMPT_BURST`]
//! concurrent calls are in [`attempt_bursts`]). They pass for the trait's
//! default methods too (which keep every limit); a store that overrides
//! them must keep the same results.

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
pub(super) fn spec(
    name: &str,
    threshold: u64,
    waits: &[u64],
    budgets: &[(&str, u64)],
) -> AttemptSpec {
    AttemptSpec {
        lockout: Lockout {
            counter: format!("fail:{name}"),
            gate: format!("lock:{name}"),
            gates: format!("gates:{name}"),
            hold: Some(format!("hold:{name}")),
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

pub(super) async fn admitted<S: StateStore>(
    store: &S,
    spec: &AttemptSpec,
    now: Timestamp,
) -> Reservation {
    match store.reserve_attempt(spec, now).await.unwrap() {
        Admission::Admitted(r) => r,
        other => panic!("expected an admission, got {other:?}"),
    }
}

pub(super) fn reservation(failures: u64, gated: bool, counts: &[u64]) -> Reservation {
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

/// `Lockout::hold`: while it holds, every reserving operation is refused
/// with its time left and lock flag, counting nothing; no settlement
/// clears it; a junk value reads as a lock; an attempt without a hold
/// passes; once it ends, attempts count again.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn reserve_attempt_hold<S: StateStoreUnderTest>(store: S) {
    let s = spec("held", 2, &[10], &[("held-budget", 100)]);
    let hold = s.lockout.hold.clone().unwrap();
    let until = at(60_000);
    store
        .put(&hold, &Lockout::gate_value(until, true), until)
        .await
        .unwrap();
    let locked = Admission::Held {
        retry_after: Duration::from_secs(60),
        lock: true,
    };
    assert_eq!(store.reserve_attempt(&s, T0).await.unwrap(), locked);
    let step = StepCheck {
        key: "totp-step:held",
        step: 7,
        expires_at: at(90_000),
    };
    assert_eq!(
        store
            .reserve_attempt_and_check_step(&s, step, T0)
            .await
            .unwrap(),
        (locked.clone(), None)
    );
    store.put("login-held", b"L", at(90_000)).await.unwrap();
    let accept = StepAcceptance {
        key: "totp-step:held",
        step: 7,
        expires_at: at(90_000),
        take: "login-held",
    };
    assert_eq!(
        store
            .reserve_attempt_and_accept_step(&s, accept, T0)
            .await
            .unwrap(),
        (locked, None)
    );
    assert_eq!(
        store.get("login-held", T0).await.unwrap(),
        Some(b"L".to_vec()),
        "a refused step takes nothing"
    );
    // No settlement clears it.
    for settlement in [
        Settlement::Succeeded,
        Settlement::Released { gated: true },
        Settlement::SucceededIfTaken {
            gated: true,
            key: "login-held",
        },
    ] {
        let _ = store
            .settle_attempt(&s, settlement, at(1_000))
            .await
            .unwrap();
        assert!(
            matches!(
                store.reserve_attempt(&s, at(1_000)).await.unwrap(),
                Admission::Held { lock: true, .. }
            ),
            "the hold outlasts {settlement:?}"
        );
    }
    // The same keys without the hold: admitted, and nothing was counted
    // while it held (neither the lockout nor the budget).
    let mut free = s.clone();
    free.lockout.hold = None;
    assert_eq!(
        admitted(&store, &free, at(1_000)).await,
        reservation(1, false, &[1])
    );
    // A value that is not a gate's holds as a lock until the entry ends.
    store.put(&hold, b"junk", at(5_000)).await.unwrap();
    assert!(matches!(
        store.reserve_attempt(&s, at(2_000)).await.unwrap(),
        Admission::Held { lock: true, .. }
    ));
    // Ended: attempts count again, after the one made without it.
    assert_eq!(
        admitted(&store, &s, at(5_000)).await,
        reservation(2, true, &[2])
    );
    // A hold whose time ended while its entry lives does not hold either.
    let other = spec("held-2", 5, &[10], &[]);
    let other_hold = other.lockout.hold.clone().unwrap();
    store
        .put(
            &other_hold,
            &Lockout::gate_value(at(1_000), false),
            at(60_000),
        )
        .await
        .unwrap();
    assert_eq!(
        admitted(&store, &other, at(1_000)).await,
        reservation(1, false, &[])
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
