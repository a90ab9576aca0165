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
//! refused with [`Error::Locked`], hand their place back, and cost no hash.
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

use std::time::Duration;

use super::Authenticator;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::AuthEvent;
use crate::user::UserId;

/// A reserved place in a failure counter. Settle it with
/// [`Authenticator::attempt_failed`], [`Authenticator::attempt_succeeded`]
/// or [`Authenticator::attempt_released`]; one that is dropped unsettled
/// counts as a failure (the safe side).
#[must_use]
pub(crate) struct Attempt {
    /// The counter's key (`u:{id}` or a keyed hash of an unknown identifier).
    key: String,
    /// The account, when it exists.
    user: Option<UserId>,
    /// The consecutive-failure count including this attempt.
    pub(crate) count: u64,
    /// Whether this attempt holds the gate.
    gated: bool,
}

impl Authenticator {
    /// The failure-counter key of an account, or of an unknown identifier.
    pub(super) fn fail_key(&self, user: Option<UserId>, identifier: &str) -> String {
        match user {
            Some(id) => format!("u:{id}"),
            None => self.inner.keys.state_key("i", identifier.as_bytes()),
        }
    }

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

    /// Refuses with [`Error::Locked`] while the gate of `key` is held.
    pub(super) async fn check_lock(&self, key: &str) -> Result<()> {
        let now = self.now();
        match self.gate_until(key, now).await? {
            Some(retry_after) => Err(Error::Locked { retry_after }),
            None => Ok(()),
        }
    }

    /// How long the gate of `key` is still held, if it is.
    async fn gate_until(&self, key: &str, now: Timestamp) -> Result<Option<Duration>> {
        let Some(v) = self.inner.state.get(&format!("lock:{key}"), now).await? else {
            return Ok(None);
        };
        let until = <[u8; 8]>::try_from(v.as_slice())
            .map(i64::from_be_bytes)
            .unwrap_or(i64::MAX);
        let left = now.until(Timestamp::from_millis(until));
        Ok((!left.is_zero()).then_some(left))
    }

    /// Reserves a place for one attempt in the failure counter of `key`
    /// before any secret is checked. Refuses with [`Error::Locked`] when the
    /// account is delayed or locked, or when a concurrent attempt holds the
    /// gate.
    pub(super) async fn reserve_attempt(
        &self,
        key: String,
        user: Option<UserId>,
    ) -> Result<Attempt> {
        // A held gate refuses at once, without touching the counter.
        self.check_lock(&key).await?;
        let p = &self.inner.policy;
        let now = self.now();
        let count_key = format!("fail:{key}");
        let count = self
            .inner
            .state
            .increment(&count_key, p.failure_memory, true, now)
            .await?
            .count;
        let mut attempt = Attempt {
            key,
            user,
            count,
            gated: false,
        };
        if count < self.gate_threshold() {
            return Ok(attempt);
        }
        // Provisional: the delay of the first gate; raised below once this
        // attempt knows which gate it is.
        let wait = self
            .wait_after(self.gate_threshold())
            .unwrap_or(p.delay_base);
        let until = now.plus(wait);
        let won = self
            .inner
            .state
            .put_if_absent(
                &format!("lock:{}", attempt.key),
                &until.as_millis().to_be_bytes(),
                until,
                now,
            )
            .await?;
        if !won {
            // Another attempt of the burst holds the gate: hand the place back.
            self.inner.state.release(&count_key, now).await?;
            let retry_after = self
                .gate_until(&attempt.key, now)
                .await?
                .unwrap_or(Duration::from_secs(1));
            return Err(Error::Locked { retry_after });
        }
        attempt.gated = true;
        // The k-th gate since the last success stands for failure number
        // threshold + k - 1; its delay is that failure's.
        let k = self
            .inner
            .state
            .increment(
                &format!("gates:{}", attempt.key),
                p.failure_memory,
                true,
                now,
            )
            .await?
            .count;
        attempt.count = self.gate_threshold() + k - 1;
        if let Some(longer) = self.wait_after(attempt.count).filter(|w| *w > wait) {
            let until = now.plus(longer);
            self.inner
                .state
                .put(
                    &format!("lock:{}", attempt.key),
                    &until.as_millis().to_be_bytes(),
                    until,
                )
                .await?;
        }
        Ok(attempt)
    }

    /// The attempt failed: its place stays counted and its gate (the delay
    /// or lock it earned) stays held. Returns the consecutive failures.
    pub(super) fn attempt_failed(&self, attempt: Attempt) -> u64 {
        if attempt.count >= u64::from(self.inner.policy.lock_after_failures) {
            self.emit(AuthEvent::Locked {
                user: attempt.user,
                seconds: self.inner.policy.lock_duration.as_secs(),
            });
        }
        attempt.count
    }

    /// The attempt succeeded and ends the run of failures: the counter and
    /// the gate are cleared.
    pub(super) async fn attempt_succeeded(&self, attempt: Attempt) -> Result<()> {
        self.inner
            .state
            .delete(&format!("fail:{}", attempt.key))
            .await?;
        if attempt.gated || attempt.count + 1 >= self.gate_threshold() {
            self.inner
                .state
                .delete(&format!("gates:{}", attempt.key))
                .await?;
        }
        // Cleared even when this attempt did not hold it: a concurrent
        // failure's delay must not outlive the success that reset the count.
        self.inner
            .state
            .delete(&format!("lock:{}", attempt.key))
            .await
    }

    /// The attempt passed a step but the run is not over (a right password
    /// with a second factor due, a step-up): its place and gate are handed
    /// back and earlier failures still count.
    pub(super) async fn attempt_released(&self, attempt: Attempt) -> Result<()> {
        let now = self.now();
        self.inner
            .state
            .release(&format!("fail:{}", attempt.key), now)
            .await?;
        if attempt.gated {
            self.inner
                .state
                .release(&format!("gates:{}", attempt.key), now)
                .await?;
            self.inner
                .state
                .delete(&format!("lock:{}", attempt.key))
                .await?;
        }
        Ok(())
    }
}
