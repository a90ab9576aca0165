//! The consecutive-failure counter of an account (or of an unknown
//! identifier): reserve a place first, then check the secret.
//!
//! A burst of concurrent attempts must not all read "not locked" and then
//! all be evaluated. So every attempt first increments the counter (one
//! atomic store operation) and only then is the password or code checked.
//! Attempts numbered below the delay threshold go through at once; from the
//! threshold on, an attempt must also win the account's *gate*: a
//! `put_if_absent` entry that holds the delay (or lock) this attempt would
//! earn by failing. Exactly one concurrent attempt wins it; the others are
//! refused with [`Error::Delayed`] or [`Error::Locked`], hand their place
//! back, and cost no hash.
//! A failure then needs no further write (the gate already holds its
//! delay); a success clears the counter and the gate.
//!
//! The delay a gate holds follows from how many gates were won before it
//! (a counter only winners increment), not from the raw count: under a
//! burst the raw count briefly includes refused attempts that have not yet
//! handed their place back, and the delay must not depend on that.
//!
//! So whatever the concurrency, at most `delay_after_failures` attempts are
//! evaluated before the first delay, and one per delay after it, on every
//! store and across app instances sharing one.
//!
//! The reservation (with the client's and the pending login's budgets) is
//! one store call, [`StateStore::reserve_attempt`], and so is its
//! settlement, [`StateStore::settle_attempt`], which also writes or takes
//! the pending login the attempt opens or finishes. The crate's stores run
//! each atomically, so there a concurrent attempt already sees the gate
//! before it counts; the hand-back above is what keeps the same limits on a
//! store that runs the steps one call at a time.
//!
//! [`StateStore::reserve_attempt`]: crate::store::StateStore::reserve_attempt
//! [`StateStore::settle_attempt`]: crate::store::StateStore::settle_attempt

use std::time::Duration;

use super::Authenticator;
use super::state::{ClientBudget, FailScope, Gate, Marker, StateKey, StateValue};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction};
use crate::store::{
    Admission, AttemptSpec, Budget, Lockout, Settlement, StepAcceptance, StepOutcome,
};
use crate::user::UserId;

/// A budget an attempt spends besides its lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttemptBudget<'a> {
    /// The answers a pending login allows, by its token.
    ChallengeAnswers(&'a str),
    /// The client's failures across accounts (when the call has a client).
    ClientFailures,
}

/// A reserved place in a failure counter. Settle it with
/// [`Authenticator::attempt_failed`], [`Authenticator::attempt_succeeded`]
/// or [`Authenticator::attempt_released`] (or their variants that write or
/// take a pending login); one that is dropped unsettled counts as a failure
/// (the safe side).
#[must_use]
pub(crate) struct Attempt {
    /// What was reserved.
    spec: AttemptSpec,
    /// The account, when it exists.
    user: Option<UserId>,
    /// The consecutive-failure count including this attempt.
    pub(crate) count: u64,
    /// Whether this attempt holds the gate.
    gated: bool,
    /// The answers of the pending login counted so far, this one included.
    pub(crate) challenge_answers: Option<u64>,
}

impl Authenticator {
    /// From this consecutive attempt on, each attempt must win the gate.
    fn gate_threshold(&self) -> u64 {
        let p = &self.inner.policy;
        if p.delay_after_failures > 0 {
            u64::from(p.delay_after_failures)
        } else {
            u64::from(p.lock_after_failures)
        }
    }

    /// The wait that the `n`-th consecutive failure earns, if any.
    fn wait_after(&self, n: u64) -> Option<Duration> {
        let p = &self.inner.policy;
        if n >= u64::from(p.lock_after_failures) {
            Some(p.lock_duration)
        } else if p.delay_after_failures > 0 && n >= u64::from(p.delay_after_failures) {
            let exp = u32::try_from(n - u64::from(p.delay_after_failures))
                .unwrap_or(u32::MAX)
                .min(30);
            Some(p.delay_base.saturating_mul(1u32 << exp).min(p.delay_max))
        } else {
            None
        }
    }

    /// The lockout of `scope`: its keys and the wait of each gate (the
    /// `k`-th gate stands for failure number `threshold + k - 1`), and
    /// `user`'s operator lock as its hold.
    fn lockout(&self, scope: &FailScope, user: Option<UserId>) -> Lockout {
        let p = &self.inner.policy;
        let threshold = self.gate_threshold();
        let last = u64::from(p.lock_after_failures).max(threshold);
        let mut waits: Vec<(Duration, bool)> = (threshold..=last)
            .map(|n| match self.wait_after(n) {
                Some(wait) => (wait, n >= u64::from(p.lock_after_failures)),
                None => (p.delay_base, false),
            })
            .collect();
        // The last wait repeats: equal trailing entries say nothing more.
        while waits.len() > 1 && waits[waits.len() - 2] == waits[waits.len() - 1] {
            waits.pop();
        }
        let locks_from = waits.iter().position(|w| w.1).unwrap_or(waits.len());
        let waits = waits.into_iter().map(|w| w.0).collect();
        let state = self.state();
        Lockout {
            counter: state.key(StateKey::Failures(scope)),
            gate: state.key(StateKey::Gate(scope)),
            gates: state.key(StateKey::Gates(scope)),
            hold: user.map(|id| state.key(StateKey::AdminLock(id))),
            memory: p.failure_memory,
            threshold,
            waits,
            locks_from,
        }
    }

    /// The budget specs of `budget` that apply to this call (the client's
    /// failures are one per network around the client, narrowest first).
    fn attempt_budget(&self, budget: AttemptBudget<'_>) -> Vec<Budget> {
        let p = &self.inner.policy;
        let state = self.state();
        match budget {
            AttemptBudget::ChallengeAnswers(token) => vec![Budget {
                key: state.key(StateKey::ChallengeAttempts(token)),
                // Kept an hour past the challenge, like the challenge itself.
                window: p.challenge_ttl + Duration::from_secs(3600),
                max: u64::from(p.challenge_max_attempts),
            }],
            AttemptBudget::ClientFailures => self
                .client_budget(ClientBudget::Failures, p.client_failures)
                .into_iter()
                .map(|(key, limit)| Budget {
                    key: state.key(StateKey::Budget(&key)),
                    window: limit.window,
                    max: u64::from(limit.max),
                })
                .collect(),
        }
    }

    /// The refusal while a gate is held for `retry_after` more: the gate's
    /// value says whether it holds a lock or a delay.
    fn held(retry_after: Duration, lock: bool) -> Error {
        if lock {
            Error::Locked { retry_after }
        } else {
            Error::Delayed { retry_after }
        }
    }

    /// Refuses with [`Error::Delayed`] or [`Error::Locked`] while the gate
    /// of `scope` is held.
    pub(super) async fn check_lock(&self, scope: &FailScope) -> Result<()> {
        match self.gate_held(scope).await? {
            Some((left, lock)) => Err(Self::held(left, lock)),
            None => Ok(()),
        }
    }

    /// Refuses with [`Error::Locked`] while an operator's lock
    /// ([`Admin::lock`](super::Admin::lock)) holds the account.
    ///
    /// A sign-in's reservation reads the lock already (the lockout's hold,
    /// which no success clears). One that read its user before that
    /// reservation needs nothing more: a lock set after the reservation
    /// changes the credential generation that user holds, so the session
    /// ends with it. A sign-in that reads its user only after its
    /// reservation (the passwordless passkey login) asks this last, after
    /// that read, and so does every change that stamps the acting session
    /// anew (`user_to_restamp`). The confirms of new factors, which reserve
    /// nothing, ask it before they write too.
    pub(super) async fn refuse_if_admin_locked(&self, id: UserId) -> Result<()> {
        match self.admin_lock_wait(id).await? {
            Some(retry_after) => Err(Error::Locked { retry_after }),
            None => Ok(()),
        }
    }

    /// The wait left on an operator's lock of the account, if one holds it.
    pub(super) async fn admin_lock_wait(&self, id: UserId) -> Result<Option<Duration>> {
        let now = self.now();
        let gate = self
            .state()
            .get::<Gate>(StateKey::AdminLock(id), now)
            .await?;
        Ok(gate
            .map(|g| now.until(g.until))
            .filter(|left| !left.is_zero()))
    }

    /// The wait left on the gate of `scope`, if it is held.
    pub(super) async fn gate_wait(&self, scope: &FailScope) -> Result<Option<Duration>> {
        Ok(self.gate_held(scope).await?.map(|(left, _)| left))
    }

    /// The wait left on the gate of `scope` and whether it is a lock, if
    /// the gate is held.
    async fn gate_held(&self, scope: &FailScope) -> Result<Option<(Duration, bool)>> {
        let now = self.now();
        let Some(gate) = self.state().get::<Gate>(StateKey::Gate(scope), now).await? else {
            return Ok(None);
        };
        let left = now.until(gate.until);
        Ok((!left.is_zero()).then_some((left, gate.lock)))
    }

    /// The spec of an attempt in `scope` on `user`'s account, spending
    /// those of `budgets` that apply, and which of them each spec budget is.
    fn attempt_spec(
        &self,
        scope: &FailScope,
        user: Option<UserId>,
        budgets: &[AttemptBudget<'_>],
    ) -> (AttemptSpec, Vec<BudgetKind>) {
        let mut specs = Vec::with_capacity(budgets.len());
        let mut kinds = Vec::with_capacity(budgets.len());
        for b in budgets {
            let kind = match b {
                AttemptBudget::ChallengeAnswers(_) => BudgetKind::ChallengeAnswers,
                AttemptBudget::ClientFailures => BudgetKind::ClientFailures,
            };
            for spec in self.attempt_budget(*b) {
                specs.push(spec);
                kinds.push(kind);
            }
        }
        let spec = AttemptSpec {
            lockout: self.lockout(scope, user),
            budgets: specs,
        };
        (spec, kinds)
    }

    /// Reserves a place for one attempt in the failure counter of `scope`
    /// and in `budgets` before any secret is checked, in one store round
    /// trip. Refuses with [`Error::Delayed`] or [`Error::Locked`] while the
    /// account is delayed or locked (a concurrent attempt may hold the
    /// gate; an operator's lock of `user` holds it too), with
    /// [`Error::TooManyAttempts`] when the pending login has no answer
    /// left, and with [`Error::RateLimited`] when the client's failures are
    /// spent; a refused attempt takes no place anywhere.
    pub(super) async fn reserve_attempt(
        &self,
        scope: &FailScope,
        user: Option<UserId>,
        budgets: &[AttemptBudget<'_>],
    ) -> Result<Attempt> {
        let (spec, kinds) = self.attempt_spec(scope, user, budgets);
        let admission = self.state().reserve_attempt(&spec, self.now()).await?;
        self.admit(spec, &kinds, user, admission)
    }

    /// Like [`reserve_attempt`](Self::reserve_attempt), and in the same
    /// round trip, when admitted, accepts the TOTP time step `step` and
    /// finishes the pending login (see
    /// [`StateStore::reserve_attempt_and_accept_step`](crate::store::StateStore::reserve_attempt_and_accept_step)).
    /// After [`StepOutcome::Accepted`] (succeeded) and
    /// [`StepOutcome::Gone`] (released) the attempt is settled already;
    /// after [`StepOutcome::Replayed`] it is a failure.
    pub(super) async fn reserve_attempt_accepting_step(
        &self,
        scope: &FailScope,
        user: Option<UserId>,
        budgets: &[AttemptBudget<'_>],
        step: StepAcceptance<'_>,
    ) -> Result<(Attempt, StepOutcome)> {
        let (spec, kinds) = self.attempt_spec(scope, user, budgets);
        let (admission, outcome) = self
            .state()
            .reserve_attempt_and_accept_step(&spec, step, self.now())
            .await?;
        let attempt = self.admit(spec, &kinds, user, admission)?;
        let outcome =
            outcome.ok_or_else(|| Error::Internal("an admitted step has no outcome".into()))?;
        Ok((attempt, outcome))
    }

    /// Like [`reserve_attempt`](Self::reserve_attempt), and in the same
    /// round trip, when admitted, accepts the TOTP time step of a signed-in
    /// user (see
    /// [`StateStore::reserve_attempt_and_check_step`](crate::store::StateStore::reserve_attempt_and_check_step)).
    /// After [`StepOutcome::Accepted`] the attempt is released already;
    /// after [`StepOutcome::Replayed`] it is a failure.
    #[cfg(feature = "totp")]
    pub(super) async fn reserve_attempt_checking_step(
        &self,
        scope: &FailScope,
        user: Option<UserId>,
        step: crate::store::StepCheck<'_>,
    ) -> Result<(Attempt, StepOutcome)> {
        let (spec, kinds) = self.attempt_spec(scope, user, &[]);
        let (admission, outcome) = self
            .state()
            .reserve_attempt_and_check_step(&spec, step, self.now())
            .await?;
        let attempt = self.admit(spec, &kinds, user, admission)?;
        let outcome =
            outcome.ok_or_else(|| Error::Internal("an admitted step has no outcome".into()))?;
        Ok((attempt, outcome))
    }

    fn admit(
        &self,
        spec: AttemptSpec,
        kinds: &[BudgetKind],
        user: Option<UserId>,
        admission: Admission,
    ) -> Result<Attempt> {
        match admission {
            Admission::Admitted(r) => {
                let challenge_answers = kinds
                    .iter()
                    .position(|k| *k == BudgetKind::ChallengeAnswers)
                    .and_then(|i| r.counts.get(i).copied());
                Ok(Attempt {
                    spec,
                    user,
                    count: r.failures,
                    gated: r.gated,
                    challenge_answers,
                })
            }
            Admission::Held { retry_after, lock } => Err(Self::held(retry_after, lock)),
            Admission::RateLimited {
                budget,
                retry_after,
            } => match kinds.get(budget) {
                Some(BudgetKind::ChallengeAnswers) => Err(Error::TooManyAttempts),
                _ => {
                    self.notify(&AuthEvent::ClientLimited {
                        action: LimitedAction::Login,
                    });
                    Err(Error::RateLimited {
                        limit: LimitedAction::Login,
                        retry_after,
                    })
                }
            },
        }
    }

    /// The attempt failed: its places stay counted and its gate (the delay
    /// or lock it earned) stays held. Returns the consecutive failures.
    pub(super) async fn attempt_failed(&self, attempt: Attempt) -> Result<u64> {
        if attempt.count >= u64::from(self.inner.policy.lock_after_failures) {
            self.emit(AuthEvent::Locked {
                user: attempt.user,
                seconds: self.inner.policy.lock_duration.as_secs(),
            })
            .await?;
        }
        Ok(attempt.count)
    }

    /// The attempt succeeded and ends the run of failures: the counter and
    /// the gate are cleared, the budgets' places handed back.
    pub(super) async fn attempt_succeeded(&self, attempt: Attempt) -> Result<()> {
        self.settle(&attempt, Settlement::Succeeded).await
    }

    /// The attempt passed a step but the run is not over (a right password
    /// with a second factor due, a step-up), or nothing was decided (a store
    /// or provider failure): its places and gate are handed back and earlier
    /// failures still count.
    pub(super) async fn attempt_released(&self, attempt: Attempt) -> Result<()> {
        let gated = attempt.gated;
        self.settle(&attempt, Settlement::Released { gated }).await
    }

    /// [`attempt_released`](Self::attempt_released), and in the same round
    /// trip `value` is stored at `key` (the pending login the attempt opens).
    pub(super) async fn attempt_released_then_put<T: StateValue>(
        &self,
        attempt: Attempt,
        key: StateKey<'_>,
        value: &T,
        expires_at: Timestamp,
    ) -> Result<()> {
        let state = self.state();
        let key = state.key(key);
        let value = value.encode()?;
        let settlement = Settlement::ReleasedThenPut {
            gated: attempt.gated,
            key: &key,
            value: &value,
            expires_at,
        };
        self.settle(&attempt, settlement).await
    }

    /// The attempt succeeded if it takes the single-use entry at `key` (the
    /// pending login it finishes): then as
    /// [`attempt_succeeded`](Self::attempt_succeeded), and `true`;
    /// otherwise (another request took it) as
    /// [`attempt_released`](Self::attempt_released), and `false`.
    pub(super) async fn attempt_succeeded_if_taken(
        &self,
        attempt: Attempt,
        key: StateKey<'_>,
    ) -> Result<bool> {
        let key = self.state().key(key);
        let settlement = Settlement::SucceededIfTaken {
            gated: attempt.gated,
            key: &key,
        };
        let taken: Option<Marker> = self
            .state()
            .settle_attempt(&attempt.spec, settlement, self.now())
            .await?;
        Ok(taken.is_some())
    }

    async fn settle(&self, attempt: &Attempt, settlement: Settlement<'_>) -> Result<()> {
        let _: Option<Marker> = self
            .state()
            .settle_attempt(&attempt.spec, settlement, self.now())
            .await?;
        Ok(())
    }
}

/// Which [`AttemptBudget`] a budget of an [`AttemptSpec`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BudgetKind {
    ChallengeAnswers,
    ClientFailures,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use secrecy::SecretString;

    use super::super::state::{FailScope, StateKey};
    use super::super::{Authenticator, Operator};
    use crate::error::Error;
    use crate::{ConsoleSms, LocalCodes, Login, MemoryStore, SecretKey, StepUp};

    const PASSWORD: &str = "correct horse battery";
    const PHONE: &str = "+14155552671";

    /// An operator's lock holds when the lockout's gates are gone, as a
    /// success admitted just before the lock leaves them: the lock is the
    /// reservation's hold, which no success clears.
    #[tokio::test]
    async fn an_operator_lock_holds_without_the_lockout_gates() {
        let sms = ConsoleSms::quiet();
        let auth = Authenticator::builder()
            .store(MemoryStore::new())
            .secret_key(SecretKey::generate())
            .sms(LocalCodes::new(sms.clone()))
            .build()
            .unwrap();
        let pw = SecretString::from(PASSWORD);
        let alice = auth
            .register("alice", "alice@example.com", &pw)
            .await
            .unwrap();
        let bob = auth.register("bob", "bob@example.com", &pw).await.unwrap();
        auth.start_sms_enrollment(bob.id, PHONE, &StepUp::password(PASSWORD))
            .await
            .unwrap();
        let code = SecretString::from(sms.last_code_for(PHONE).unwrap());
        let enrolled = auth.confirm_sms_enrollment(bob.id, &code).await.unwrap();
        let recovery = enrolled.recovery_codes.unwrap().codes()[0].to_owned();
        let Login::SecondFactor(pending) = auth.login("bob", &pw).await.unwrap() else {
            panic!("SMS is on")
        };
        let op = Operator::new("jane", "account takeover suspected").unwrap();
        for user in [alice.id, bob.id] {
            auth.admin().lock(user, &op).await.unwrap();
            for scope in [FailScope::Account(user), FailScope::Email(user)] {
                auth.state().delete(StateKey::Gate(&scope)).await.unwrap();
            }
        }
        // Without a second factor, and with one (no pending login opens).
        for name in ["alice", "bob"] {
            let login = auth.login(name, &pw).await;
            assert!(matches!(login, Err(Error::Locked { .. })), "{login:?}");
        }
        // A pending login opened before the lock died with it.
        let verify = auth
            .verify(pending.token(), &SecretString::from(recovery))
            .await;
        assert!(
            matches!(verify, Err(Error::Locked { .. } | Error::ChallengeNotFound)),
            "{verify:?}"
        );
    }
}
