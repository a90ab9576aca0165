//! Reading the reply of a compound operation that runs in the server (the
//! Redis scripts, the PostgreSQL functions): both hand back the same parts
//! (the gate that held, the budget that refused and its window's end, or
//! the reservation and a step's outcome as a number), turned into the
//! trait's types here, once.

use std::time::Duration;

use super::{Admission, Lockout, StepOutcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// The refusal while a gate holds: its value as the server read it, or
/// none when it ended meanwhile (possible only when the steps are not
/// atomic), which waits a second of the first gate's kind, as the
/// reference does.
pub(crate) fn held(gate: Option<&[u8]>, lockout: &Lockout, now: Timestamp) -> Admission {
    let (retry_after, lock) = match gate.map(Lockout::read_gate) {
        Some((until, lock)) if !now.until(until).is_zero() => (now.until(until), lock),
        _ => (Duration::from_secs(1), lockout.wait(1).1),
    };
    Admission::Held { retry_after, lock }
}

/// The refusal by the budget at index `budget`, whose window ends at
/// `window_end` (at least a second's wait).
pub(crate) fn rate_limited(budget: usize, window_end: Timestamp, now: Timestamp) -> Admission {
    Admission::RateLimited {
        budget,
        retry_after: now.until(window_end).max(Duration::from_secs(1)),
    }
}

/// A step's outcome as the server numbers it: 0 none, 1 accepted, 2
/// replayed, 3 gone; `Err(())` for any other number.
pub(crate) fn step_outcome(code: u64) -> std::result::Result<Option<StepOutcome>, ()> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(StepOutcome::Accepted)),
        2 => Ok(Some(StepOutcome::Replayed)),
        3 => Ok(Some(StepOutcome::Gone)),
        _ => Err(()),
    }
}

/// Checks a time-step operation's answer: an admitted attempt has an
/// outcome, and "gone" only when the operation had an entry to take
/// (`takes_entry`); anything else is a store error naming `server`.
pub(crate) fn step_answer(
    answer: (Admission, Option<StepOutcome>),
    takes_entry: bool,
    server: &str,
) -> Result<(Admission, Option<StepOutcome>)> {
    match &answer {
        (Admission::Admitted(_), None) => Err(Error::store(format!(
            "{server} admitted an attempt without a step outcome"
        ))),
        (Admission::Admitted(_), Some(StepOutcome::Gone)) if !takes_entry => Err(Error::store(
            format!("{server} answered \"gone\" with no entry to take"),
        )),
        _ => Ok(answer),
    }
}
