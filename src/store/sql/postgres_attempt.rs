//! The compound state operations of [`PostgresStore`] as one statement
//! each: a call of the SQL function of the same name (migrations
//! `20261204150000_compound_state_functions` and, for the reserving ones'
//! hold, `20261204233000_compound_state_hold`), which runs the steps of
//! `attempt::reference` one for one inside the statement's transaction,
//! after the lockout's advisory lock.
//!
//! As for the Redis scripts, the functions never do arithmetic on times:
//! every window's end, every gate's end and value is computed here (one set
//! per wait of the lockout); the functions only compare and choose.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};

use super::count_from_db;
use super::postgres::PostgresStore;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::compound_reply;
use crate::store::{
    Admission, AttemptSpec, Lockout, Reservation, Settlement, StepAcceptance, StepCheck,
    StepOutcome,
};

/// `reserve_attempt`'s statement.
const RESERVE: &str = "SELECT o_kind, o_gate, o_budget, o_budget_end, o_failures, o_gated, \
     o_counts, o_outcome FROM twofa_reserve_attempt(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// The statement of both step operations (`$15`, the entry to take, is
/// `NULL` for `reserve_attempt_and_check_step`). The last two arguments of
/// each statement are [`PostgresStore::synchronous_state_commits`] and the
/// lockout's hold.
const RESERVE_AND_STEP: &str = "SELECT o_kind, o_gate, o_budget, o_budget_end, o_failures, \
     o_gated, o_counts, o_outcome FROM twofa_reserve_attempt_and_step(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// A `u64` limit as PostgreSQL's `BIGINT`: one too large for it is
/// unreachable by any count, as `i64::MAX` is.
fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Binds the arguments every reserving function starts with, after `$1`…:
/// now, the lockout's three keys, its memory's end and threshold, the
/// budgets (keys, windows' ends, maxima) and the waits (ends, gate values).
fn bind_reserve<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    spec: &AttemptSpec,
    now: Timestamp,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let l = &spec.lockout;
    // An empty list waits one second, as `Lockout::wait` does.
    let count = l.waits.len().max(1);
    let (wait_ends, wait_values): (Vec<i64>, Vec<Vec<u8>>) = (1..=count)
        .map(|k| {
            let (wait, lock) = l.wait(k as u64);
            let until = now.plus(wait);
            (until.as_millis(), Lockout::gate_value(until, lock).to_vec())
        })
        .unzip();
    query
        .bind(now.as_millis())
        .bind(l.gate.clone())
        .bind(l.counter.clone())
        .bind(l.gates.clone())
        .bind(now.plus(l.memory).as_millis())
        .bind(limit(l.threshold))
        .bind(budget_keys(spec))
        .bind(
            spec.budgets
                .iter()
                .map(|b| now.plus(b.window).as_millis())
                .collect::<Vec<_>>(),
        )
        .bind(
            spec.budgets
                .iter()
                .map(|b| limit(b.max))
                .collect::<Vec<_>>(),
        )
        .bind(wait_ends)
        .bind(wait_values)
}

/// The budgets' keys, in the spec's order.
fn budget_keys(spec: &AttemptSpec) -> Vec<String> {
    spec.budgets.iter().map(|b| b.key.clone()).collect()
}

/// Reads a reserving function's row: the admission, and the step's outcome
/// when there is one.
fn read_reservation(
    row: &PgRow,
    spec: &AttemptSpec,
    now: Timestamp,
) -> Result<(Admission, Option<StepOutcome>)> {
    let bad = |what: &str| Error::store(format!("unexpected row from twofa_reserve: {what}"));
    let kind: i32 = row.try_get("o_kind").map_err(Error::store)?;
    match kind {
        0 => {
            let gate: Option<Vec<u8>> = row.try_get("o_gate").map_err(Error::store)?;
            Ok((
                compound_reply::held(gate.as_deref(), &spec.lockout, now),
                None,
            ))
        }
        1 => {
            let budget: Option<i32> = row.try_get("o_budget").map_err(Error::store)?;
            let end: Option<i64> = row.try_get("o_budget_end").map_err(Error::store)?;
            let (Some(budget), Some(end)) = (budget, end) else {
                return Err(bad("a refusal without its budget"));
            };
            let budget = usize::try_from(budget).map_err(|_| bad("a negative budget index"))?;
            Ok((
                compound_reply::rate_limited(budget, Timestamp::from_millis(end), now),
                None,
            ))
        }
        2 => {
            let failures: Option<i64> = row.try_get("o_failures").map_err(Error::store)?;
            let gated: Option<bool> = row.try_get("o_gated").map_err(Error::store)?;
            let counts: Option<Vec<i64>> = row.try_get("o_counts").map_err(Error::store)?;
            let outcome: Option<i32> = row.try_get("o_outcome").map_err(Error::store)?;
            let (Some(failures), Some(gated), Some(counts)) = (failures, gated, counts) else {
                return Err(bad("an admission without its reservation"));
            };
            let outcome = u64::try_from(outcome.unwrap_or(0))
                .map_err(|_| ())
                .and_then(compound_reply::step_outcome)
                .map_err(|()| bad("an unknown step outcome"))?;
            Ok((
                Admission::Admitted(Reservation {
                    failures: count_from_db(failures)?,
                    gated,
                    counts: counts
                        .into_iter()
                        .map(count_from_db)
                        .collect::<Result<_>>()?,
                }),
                outcome,
            ))
        }
        _ => Err(bad("an unknown kind")),
    }
}

impl PostgresStore {
    /// [`StateStore::reserve_attempt`](crate::StateStore::reserve_attempt)
    /// as one call of `twofa_reserve_attempt`.
    pub(super) async fn compound_reserve_attempt(
        &self,
        spec: &AttemptSpec,
        now: Timestamp,
    ) -> Result<Admission> {
        let row = bind_reserve(sqlx::query(RESERVE), spec, now)
            .bind(self.synchronous_state_commits)
            .bind(spec.lockout.hold.clone())
            .fetch_one(self.pool())
            .await
            .map_err(Error::store)?;
        Ok(read_reservation(&row, spec, now)?.0)
    }

    /// [`StateStore::settle_attempt`](crate::StateStore::settle_attempt) as
    /// one call of `twofa_settle_attempt`.
    pub(super) async fn compound_settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        let (mode, gated, key, value, expires_at) = match settlement {
            Settlement::Succeeded => ("s", false, None, None, None),
            Settlement::Released { gated } => ("r", gated, None, None, None),
            Settlement::ReleasedThenPut {
                gated,
                key,
                value,
                expires_at,
            } => (
                "p",
                gated,
                Some(key),
                Some(value),
                Some(expires_at.as_millis()),
            ),
            Settlement::SucceededIfTaken { gated, key } => ("t", gated, Some(key), None, None),
        };
        let l = &spec.lockout;
        sqlx::query_scalar(
            "SELECT twofa_settle_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(now.as_millis())
        .bind(l.gate.clone())
        .bind(l.counter.clone())
        .bind(l.gates.clone())
        .bind(budget_keys(spec))
        .bind(mode)
        .bind(gated)
        .bind(key.map(str::to_owned))
        .bind(value.map(<[u8]>::to_vec))
        .bind(expires_at)
        .bind(self.synchronous_state_commits)
        .fetch_one(self.pool())
        .await
        .map_err(Error::store)
    }

    /// [`StateStore::reserve_attempt_and_accept_step`](crate::StateStore::reserve_attempt_and_accept_step)
    /// as one call of `twofa_reserve_attempt_and_step`.
    pub(super) async fn compound_reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let answer = self
            .reserve_attempt_and_step(spec, step.check(), Some(step.take), now)
            .await?;
        compound_reply::step_answer(answer, true, "twofa_reserve_attempt_and_step")
    }

    /// [`StateStore::reserve_attempt_and_check_step`](crate::StateStore::reserve_attempt_and_check_step)
    /// as one call of `twofa_reserve_attempt_and_step`, with no entry to take.
    pub(super) async fn compound_reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let answer = self.reserve_attempt_and_step(spec, step, None, now).await?;
        compound_reply::step_answer(answer, false, "twofa_reserve_attempt_and_step")
    }

    /// Both step operations: `take` is the entry an accepted step finishes.
    async fn reserve_attempt_and_step(
        &self,
        spec: &AttemptSpec,
        step: StepCheck<'_>,
        take: Option<&str>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let row = bind_reserve(sqlx::query(RESERVE_AND_STEP), spec, now)
            .bind(step.key.to_owned())
            .bind(step.step)
            .bind(step.expires_at.as_millis())
            .bind(take.map(str::to_owned))
            .bind(self.synchronous_state_commits)
            .bind(spec.lockout.hold.clone())
            .fetch_one(self.pool())
            .await
            .map_err(Error::store)?;
        read_reservation(&row, spec, now)
    }
}
