//! A differential check of the compound [`StateStore`] operations: long
//! seeded sequences of them, one call at a time, against the store under
//! test and against their definition, the [`reference`](mod@reference) steps over a fresh
//! [`MemoryStore`]'s primitives. Every reply, and every gate left behind,
//! must be the same. It reaches the corners the step-by-step checks in
//! `attempts` name one by one (a gate that runs out, a budget window that
//! ends, the last wait repeating, an empty list of waits, a settlement of a
//! lockout with nothing reserved) in the orders a real site mixes them.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::MemoryStore;
use crate::store::attempt::{Calls, reference};
use crate::store::{AttemptSpec, Budget, Lockout, Settlement, StepAcceptance, StepCheck};

/// How many calls one sequence of [`compound_matches_reference`] makes,
/// among the checks [`run_state_store`] runs (see the [`run_user_store`]
/// example).
pub const DIFFERENTIAL_CALLS: usize = 600;

/// The seeds of the sequences [`compound_matches_reference`] runs.
const SEEDS: [u64; 2] = [0x02fa_5eed, 0x5eed_02fa];

/// The lockouts of the sequences: two accounts sharing a client's budget
/// (one with a second, narrower budget), one with no budget, and one whose
/// list of waits is empty (it waits one second, as [`Lockout::wait`] says).
/// One lockout and one budget are named with [`HOSTILE`] strings. The
/// first and the third have a hold, which the sequences set and lift.
fn specs(tag: u64) -> Vec<AttemptSpec> {
    let s = Duration::from_secs;
    let lockout = |name: &str, threshold: u64, waits: Vec<Duration>, locks_from: usize| Lockout {
        counter: format!("{tag:x}:fail:{name}"),
        gate: format!("{tag:x}:gate:{name}"),
        gates: format!("{tag:x}:gates:{name}"),
        hold: None,
        memory: s(600),
        threshold,
        waits,
        locks_from,
    };
    let budget = |key: &str, window: u64, max: u64| Budget {
        key: format!("{tag:x}:rl:{key}"),
        window: s(window),
        max,
    };
    let held = |mut l: Lockout| {
        l.hold = Some(l.gate.replacen(":gate:", ":hold:", 1));
        l
    };
    vec![
        AttemptSpec {
            lockout: held(lockout("alice", 3, vec![s(1), s(2), s(30)], 2)),
            budgets: vec![budget("client", 120, 9)],
        },
        AttemptSpec {
            lockout: lockout("bob", 1, vec![s(2), s(5)], 1),
            budgets: vec![budget(HOSTILE[11], 60, 4), budget("client", 120, 9)],
        },
        AttemptSpec {
            lockout: held(lockout(HOSTILE[2], 2, vec![s(1), s(4)], usize::MAX)),
            budgets: vec![],
        },
        AttemptSpec {
            lockout: lockout("dave", 2, vec![], 0),
            budgets: vec![budget("client", 120, 9)],
        },
    ]
}

/// Runs one seeded sequence on `store` and on the model; panics at the first
/// reply that differs, naming the call.
async fn sequence<S: StateStore>(store: &S, seed: u64) {
    let model = MemoryStore::new();
    // Each sequence on its own keys: the store is not emptied between.
    let specs = specs(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut elapsed = 0i64;
    let mut step = 0i64;
    for call in 0..DIFFERENTIAL_CALLS {
        // Mostly bursts within one gate's wait, sometimes past a wait, a
        // budget window or the lockout's memory.
        elapsed += match rng.random_range(0..10) {
            0..=4 => 0,
            5 | 6 => rng.random_range(1..1_500),
            7 | 8 => rng.random_range(1_500..6_000),
            _ => rng.random_range(30_000..700_000),
        };
        let now = at(elapsed);
        let spec = &specs[rng.random_range(0..specs.len())];
        let pending = format!("{seed:x}:pending:{}", rng.random_range(0..3));
        // A step that is sometimes new, sometimes a replay.
        step += rng.random_range(-1..=2);
        let step_key = format!("step:{}", spec.lockout.counter);
        let step_end = now.plus(Duration::from_secs(90));
        let gated = rng.random_bool(0.5);
        let what = rng.random_range(0..11);
        let context = format!("seed {seed:#x}, call {call} (kind {what}) at +{elapsed} ms");
        match what {
            0..=2 => {
                let got = store.reserve_attempt(spec, now).await;
                let want = reference::reserve_attempt(&mut Calls(&model), spec, now).await;
                assert_eq!(got.ok(), want.ok(), "reserve_attempt, {context}");
            }
            3..=5 => {
                let settlement = match rng.random_range(0..4) {
                    0 => Settlement::Succeeded,
                    1 => Settlement::Released { gated },
                    2 => Settlement::ReleasedThenPut {
                        gated,
                        key: &pending,
                        value: b"a pending login",
                        expires_at: now.plus(Duration::from_secs(300)),
                    },
                    _ => Settlement::SucceededIfTaken {
                        gated,
                        key: &pending,
                    },
                };
                let got = store.settle_attempt(spec, settlement, now).await;
                let want =
                    reference::settle_attempt(&mut Calls(&model), spec, settlement, now).await;
                assert_eq!(
                    got.ok(),
                    want.ok(),
                    "settle_attempt {settlement:?}, {context}"
                );
            }
            6 | 7 => {
                let acceptance = StepAcceptance {
                    key: &step_key,
                    step,
                    expires_at: step_end,
                    take: &pending,
                };
                let got = store
                    .reserve_attempt_and_accept_step(spec, acceptance, now)
                    .await;
                let want = reference::reserve_attempt_and_accept_step(
                    &mut Calls(&model),
                    spec,
                    acceptance,
                    now,
                )
                .await;
                assert_eq!(got.ok(), want.ok(), "accept_step {step}, {context}");
            }
            8 => {
                let check = StepCheck {
                    key: &step_key,
                    step,
                    expires_at: step_end,
                };
                let got = store.reserve_attempt_and_check_step(spec, check, now).await;
                let want =
                    reference::reserve_attempt_and_check_step(&mut Calls(&model), spec, check, now)
                        .await;
                assert_eq!(got.ok(), want.ok(), "check_step {step}, {context}");
            }
            9 => {
                // A new pending login for the settlements and steps to take.
                let expires_at = now.plus(Duration::from_secs(300));
                store
                    .put(&pending, b"a pending login", expires_at)
                    .await
                    .unwrap();
                model
                    .put(&pending, b"a pending login", expires_at)
                    .await
                    .unwrap();
            }
            _ => {
                // An operator sets, lifts or garbles a hold (a lock or a
                // delay, for up to 5 s).
                let Some(hold) = &spec.lockout.hold else {
                    continue;
                };
                let until = now.plus(Duration::from_millis(rng.random_range(1..5_000)));
                let value = match rng.random_range(0..4) {
                    0 => None,
                    1 => Some(b"junk".to_vec()),
                    _ => Some(Lockout::gate_value(until, rng.random_bool(0.5)).to_vec()),
                };
                for s in [store as &dyn StateStore, &model] {
                    match &value {
                        Some(v) => s.put(hold, v, until).await.unwrap(),
                        None => s.delete(hold).await.unwrap(),
                    }
                }
            }
        }
        for spec in &specs {
            let gate = &spec.lockout.gate;
            assert_eq!(
                store.get(gate, now).await.unwrap(),
                model.get(gate, now).await.unwrap(),
                "the gate {gate} after {context}"
            );
        }
    }
}

/// The compound operations, in [`DIFFERENTIAL_CALLS`]-call seeded random
/// sequences, reply exactly as the [`reference`](mod@reference) steps over
/// [`MemoryStore`]'s primitives do, and leave the same gates behind.
///
/// One of the checks [`run_state_store`] runs (see the
/// [`run_user_store`] example).
pub async fn compound_matches_reference<S: StateStoreUnderTest>(store: S) {
    for seed in SEEDS {
        sequence(&store, seed).await;
    }
}
