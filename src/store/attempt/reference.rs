//! The compound operations as sequences of primitive steps: what the
//! trait's default methods run (one call per step), and what the crate's
//! stores run inside one transaction or under one lock (the PostgreSQL
//! functions and the Redis scripts are these steps, one for one).
//!
//! Each function runs exactly the steps of the contract of the
//! [`StateStore`] method of the same name. Run over [`Primitives`] that are
//! one transaction, or data under one lock, it makes that method atomic as
//! a whole. A store with a lock of its own, say, runs them under it:
//!
//! ```
//! use twofa_verify::store::attempt::{Calls, reference};
//! use twofa_verify::store::{Admission, AttemptSpec};
//! use twofa_verify::{MemoryStore, Result, Timestamp};
//!
//! /// A store's `reserve_attempt`: the steps over the store's primitives,
//! /// while holding the lock every compound operation of the store takes.
//! async fn reserve_attempt(
//!     data: &MemoryStore,
//!     compound: &tokio::sync::Mutex<()>,
//!     spec: &AttemptSpec,
//!     now: Timestamp,
//! ) -> Result<Admission> {
//!     let _one_at_a_time = compound.lock().await;
//!     reference::reserve_attempt(&mut Calls(data), spec, now).await
//! }
//! ```
//!
//! A store with transactions implements [`Primitives`] over its
//! transaction instead. `tests/third_party_store.rs` in the crate's
//! repository is a whole store of another crate written this way, passing
//! the [conformance suite](crate::conformance).

use super::*;

/// The refusal while the gate at `key` is held, if it is.
async fn gate_held<P: Primitives + ?Sized>(
    p: &mut P,
    key: &str,
    now: Timestamp,
) -> Result<Option<Admission>> {
    let Some(v) = p.get(key, now).await? else {
        return Ok(None);
    };
    let (until, lock) = Lockout::read_gate(&v);
    let retry_after = now.until(until);
    Ok((!retry_after.is_zero()).then_some(Admission::Held { retry_after, lock }))
}

async fn release_budgets<P: Primitives + ?Sized>(
    p: &mut P,
    budgets: &[Budget],
    now: Timestamp,
) -> Result<()> {
    for b in budgets {
        p.release(&b.key, now).await?;
    }
    Ok(())
}

/// [`StateStore::reserve_attempt`], step by step (see the
/// [`reference`](mod@reference) example).
pub async fn reserve_attempt<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    now: Timestamp,
) -> Result<Admission> {
    let l = &spec.lockout;
    // The hold first: an operator's lock outranks a delay.
    if let Some(hold) = &l.hold
        && let Some(held) = gate_held(p, hold, now).await?
    {
        return Ok(held);
    }
    if let Some(held) = gate_held(p, &l.gate, now).await? {
        return Ok(held);
    }
    let mut counts = Vec::with_capacity(spec.budgets.len());
    for (i, b) in spec.budgets.iter().enumerate() {
        let c = p.increment(&b.key, b.window, false, now).await?;
        counts.push(c.count);
        if c.count > b.max {
            release_budgets(p, &spec.budgets[..=i], now).await?;
            return Ok(Admission::RateLimited {
                budget: i,
                retry_after: now.until(c.expires_at).max(Duration::from_secs(1)),
            });
        }
    }
    let count = p.increment(&l.counter, l.memory, true, now).await?.count;
    if count < l.threshold {
        return Ok(Admission::Admitted(Reservation {
            failures: count,
            gated: false,
            counts,
        }));
    }
    // Provisional: the first gate's wait, raised below once this
    // attempt knows which gate it is.
    let first = l.wait(1);
    let until = now.plus(first.0);
    if !p
        .put_if_absent(&l.gate, &Lockout::gate_value(until, first.1), until, now)
        .await?
    {
        // Another attempt set the gate meanwhile: hand everything back.
        p.release(&l.counter, now).await?;
        release_budgets(p, &spec.budgets, now).await?;
        let held = gate_held(p, &l.gate, now).await?;
        return Ok(held.unwrap_or(Admission::Held {
            retry_after: Duration::from_secs(1),
            lock: first.1,
        }));
    }
    let k = p.increment(&l.gates, l.memory, true, now).await?.count;
    let (wait, lock) = l.wait(k);
    if (wait, lock) != first {
        let until = now.plus(wait);
        p.put(&l.gate, &Lockout::gate_value(until, lock), until)
            .await?;
    }
    Ok(Admission::Admitted(Reservation {
        failures: l.threshold.saturating_add(k).saturating_sub(1),
        gated: true,
        counts,
    }))
}

async fn succeed<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    now: Timestamp,
) -> Result<()> {
    let l = &spec.lockout;
    p.delete(&l.counter).await?;
    p.delete(&l.gates).await?;
    // Cleared even when this attempt did not set it: a concurrent
    // failure's delay must not outlive the success that reset the count.
    p.delete(&l.gate).await?;
    release_budgets(p, &spec.budgets, now).await
}

async fn hand_back<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    gated: bool,
    now: Timestamp,
) -> Result<()> {
    let l = &spec.lockout;
    p.release(&l.counter, now).await?;
    if gated {
        p.release(&l.gates, now).await?;
        p.delete(&l.gate).await?;
    }
    release_budgets(p, &spec.budgets, now).await
}

/// [`StateStore::settle_attempt`], step by step (see the
/// [`reference`](mod@reference) example).
pub async fn settle_attempt<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    settlement: Settlement<'_>,
    now: Timestamp,
) -> Result<Option<Vec<u8>>> {
    match settlement {
        Settlement::Succeeded => succeed(p, spec, now).await.map(|()| None),
        Settlement::Released { gated } => hand_back(p, spec, gated, now).await.map(|()| None),
        Settlement::ReleasedThenPut {
            gated,
            key,
            value,
            expires_at,
        } => {
            hand_back(p, spec, gated, now).await?;
            p.put(key, value, expires_at).await?;
            Ok(None)
        }
        Settlement::SucceededIfTaken { gated, key } => match p.take(key, now).await? {
            Some(v) => {
                succeed(p, spec, now).await?;
                Ok(Some(v))
            }
            None => {
                hand_back(p, spec, gated, now).await?;
                Ok(None)
            }
        },
    }
}

/// What a time-step operation answers: the admission, and the step's
/// outcome when the attempt was admitted.
type StepAnswer = (Admission, Option<StepOutcome>);

/// The steps both time-step operations start with: the reservation, then,
/// when it is admitted, the step accepted once. `Err` holds the operation's
/// answer when it ends there (not admitted, or a replay); `Ok` the
/// admission of an attempt whose step was new, and whether it set the gate.
async fn reserve_and_advance<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    step: StepCheck<'_>,
    now: Timestamp,
) -> Result<std::result::Result<(Admission, bool), StepAnswer>> {
    let admission = reserve_attempt(p, spec, now).await?;
    let Admission::Admitted(r) = &admission else {
        return Ok(Err((admission, None)));
    };
    if !p.advance(step.key, step.step, step.expires_at, now).await? {
        return Ok(Err((admission, Some(StepOutcome::Replayed))));
    }
    let gated = r.gated;
    Ok(Ok((admission, gated)))
}

/// [`StateStore::reserve_attempt_and_accept_step`], step by step (see the
/// [`reference`](mod@reference) example).
pub async fn reserve_attempt_and_accept_step<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    step: StepAcceptance<'_>,
    now: Timestamp,
) -> Result<StepAnswer> {
    let (admission, gated) = match reserve_and_advance(p, spec, step.check(), now).await? {
        Ok(admitted) => admitted,
        Err(answer) => return Ok(answer),
    };
    let settlement = Settlement::SucceededIfTaken {
        gated,
        key: step.take,
    };
    let outcome = match settle_attempt(p, spec, settlement, now).await? {
        Some(_) => StepOutcome::Accepted,
        None => StepOutcome::Gone,
    };
    Ok((admission, Some(outcome)))
}

/// [`StateStore::reserve_attempt_and_check_step`], step by step (see the
/// [`reference`](mod@reference) example).
pub async fn reserve_attempt_and_check_step<P: Primitives + ?Sized>(
    p: &mut P,
    spec: &AttemptSpec,
    step: StepCheck<'_>,
    now: Timestamp,
) -> Result<StepAnswer> {
    let (admission, gated) = match reserve_and_advance(p, spec, step, now).await? {
        Ok(admitted) => admitted,
        Err(answer) => return Ok(answer),
    };
    hand_back(p, spec, gated, now).await?;
    Ok((admission, Some(StepOutcome::Accepted)))
}
