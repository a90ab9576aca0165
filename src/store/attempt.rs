//! Compound state operations: an attempt's reservation and settlement, in
//! one store round trip each.
//!
//! A password or code check must first reserve its place in every limit
//! that guards it (reserve, then check), and afterwards settle the
//! reservation. Done with the primitives of [`StateStore`] that is a
//! handful of round trips; the compound operations here do each step in
//! one, atomically in the crate's stores. Their contracts are written as the
//! primitive steps they stand for ([`reference`](mod@reference) runs exactly those steps,
//! and is what the trait's default methods do), so a store can implement
//! each as one transaction or one script.
//!
//! A store of another crate builds on the same blocks: it implements
//! [`Primitives`] over its transaction (or its data under its lock) and
//! runs the [`reference`](mod@reference) steps over it.
//!
//! [`StateStore`]: super::StateStore

use std::time::Duration;

use async_trait::async_trait;

use super::{Counter, StateStore};
use crate::clock::Timestamp;
use crate::error::Result;

/// A fixed-window budget an attempt spends: the counter at `key` may hold
/// at most `max` reservations per `window` (see the [`AttemptSpec`]
/// example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The counter's key.
    pub key: String,
    /// The window (the counter's lifetime from its first reservation).
    pub window: Duration,
    /// The most reservations the window admits.
    pub max: u64,
}

/// The consecutive-failure lockout of an account (or of an unknown
/// identifier, or of one remembered device of an account).
///
/// `counter` counts attempts since the last success (each attempt is
/// counted when it is reserved; a success clears it, an attempt that turns
/// out not to count hands its place back). From the `threshold`-th counted
/// attempt on, an attempt must also set the *gate*, `gate`, which holds
/// the delay (or lock) the attempt earns by failing; while the gate is live
/// every other attempt is refused. `gates` counts the gates set since the
/// last success: the `k`-th holds `waits[k - 1]` (the last entry repeats).
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::Timestamp;
/// use twofa_verify::store::Lockout;
///
/// let s = Duration::from_secs;
/// let lockout = Lockout {
///     counter: "failures:42".into(),
///     gate: "gate:42".into(),
///     gates: "gates:42".into(),
///     hold: None,
///     memory: s(24 * 3600),
///     threshold: 5,
///     waits: vec![s(1), s(2), s(4), s(900)],
///     locks_from: 3,
/// };
/// assert_eq!(lockout.wait(1), (s(1), false)); // a delay
/// assert_eq!(lockout.wait(4), (s(900), true)); // a lock
/// assert_eq!(lockout.wait(9), (s(900), true)); // the last wait repeats
///
/// let value = Lockout::gate_value(Timestamp::from_millis(5_000), true);
/// assert_eq!(Lockout::read_gate(&value), (Timestamp::from_millis(5_000), true));
/// assert_eq!(Lockout::read_gate(b"junk"), (Timestamp::from_millis(i64::MAX), true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// The consecutive-attempt counter.
    pub counter: String,
    /// The gate entry; its value is [`Lockout::gate_value`]: the end of the
    /// wait, in milliseconds since the Unix epoch, as 8 big-endian bytes (an
    /// `i64`), then one byte, 1 for a lock and 0 for a delay. It expires at
    /// the end of the wait.
    pub gate: String,
    /// The count of gates set since the last success.
    pub gates: String,
    /// A gate that someone else sets and clears, which the attempt only
    /// reads: an operator's lock of the account. While it holds (its value
    /// is a [`Lockout::gate_value`], read as `gate`'s is) every attempt is
    /// refused; no attempt sets it, and no success clears it. `None` when
    /// the attempt has no account to hold.
    pub hold: Option<String>,
    /// How long `counter` and `gates` live after their last increment.
    pub memory: Duration,
    /// From this count on, an attempt must set the gate (at least 1).
    pub threshold: u64,
    /// The wait the `k`-th gate holds, for `k` = 1, 2, …; the last entry
    /// repeats. Not empty.
    pub waits: Vec<Duration>,
    /// The index in `waits` of the first lock: the waits before it are
    /// delays ("wait a few seconds"), the ones from it on are locks ("locked
    /// for 15 minutes"). `waits.len()` or more when every wait is a delay.
    pub locks_from: usize,
}

impl Lockout {
    /// The wait of the `k`-th gate (1-based; the last entry repeats; one
    /// second if `waits` is empty) and whether it is a lock (see the
    /// [`Lockout`] example).
    pub fn wait(&self, k: u64) -> (Duration, bool) {
        let i = usize::try_from(k.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(self.waits.len().saturating_sub(1));
        let wait = self.waits.get(i).copied().unwrap_or(Duration::from_secs(1));
        (wait, i >= self.locks_from)
    }

    /// The gate's value for a wait that ends at `until`: `until` in Unix
    /// milliseconds as 8 big-endian bytes, then 1 for a lock or 0 for a
    /// delay (see the [`Lockout`] example).
    pub fn gate_value(until: Timestamp, lock: bool) -> [u8; 9] {
        let mut value = [0u8; 9];
        value[..8].copy_from_slice(&until.as_millis().to_be_bytes());
        value[8] = u8::from(lock);
        value
    }

    /// Reads a gate's value: when its wait ends and whether it is a lock.
    /// Unreadable bytes read as a lock that lasts until the entry expires
    /// (see the [`Lockout`] example).
    pub fn read_gate(value: &[u8]) -> (Timestamp, bool) {
        match <[u8; 9]>::try_from(value) {
            Ok(v) => {
                let mut end = [0u8; 8];
                end.copy_from_slice(&v[..8]);
                (Timestamp::from_millis(i64::from_be_bytes(end)), v[8] == 1)
            }
            Err(_) => (Timestamp::from_millis(i64::MAX), true),
        }
    }
}

/// Everything one attempt reserves: its lockout and its budgets.
///
/// The authenticator builds these itself; a store's tests (and the
/// conformance suite) drive the compound operations with them:
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::store::{Admission, AttemptSpec, Budget, Lockout, Settlement};
/// use twofa_verify::{MemoryStore, StateStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_millis(1_000_000_000_000);
/// let s = Duration::from_secs;
/// let spec = AttemptSpec {
///     lockout: Lockout {
///         counter: "failures:alice".into(),
///         gate: "gate:alice".into(),
///         gates: "gates:alice".into(),
///         hold: Some("admin-lock:alice".into()),
///         memory: s(24 * 3600),
///         threshold: 2,
///         waits: vec![s(1), s(900)],
///         locks_from: 1,
///     },
///     budgets: vec![Budget { key: "client:203.0.113.7".into(), window: s(900), max: 50 }],
/// };
///
/// // Below the threshold: admitted. It fails: nothing to settle, its
/// // places stay taken.
/// let Admission::Admitted(first) = store.reserve_attempt(&spec, now).await? else {
///     unreachable!()
/// };
/// assert_eq!((first.failures, first.gated, first.counts), (1, false, vec![1]));
///
/// // At the threshold: admitted, and it sets the gate (a 1 s delay).
/// let Admission::Admitted(second) = store.reserve_attempt(&spec, now).await? else {
///     unreachable!()
/// };
/// assert!(second.gated);
/// // While the gate holds, attempts are refused and take nothing.
/// assert_eq!(
///     store.reserve_attempt(&spec, now).await?,
///     Admission::Held { retry_after: s(1), lock: false }
/// );
///
/// // The second attempt was right: the run of failures ends.
/// store.settle_attempt(&spec, Settlement::Succeeded, now).await?;
/// let third = store.reserve_attempt(&spec, now).await?;
/// assert!(matches!(third, Admission::Admitted(r) if r.failures == 1 && !r.gated));
/// store.settle_attempt(&spec, Settlement::Released { gated: false }, now).await?;
///
/// // An operator locks the account for an hour: every attempt is refused,
/// // and a success would not clear it (only the operator deletes it).
/// let until = now.plus(s(3600));
/// store.put("admin-lock:alice", &Lockout::gate_value(until, true), until).await?;
/// assert_eq!(
///     store.reserve_attempt(&spec, now).await?,
///     Admission::Held { retry_after: s(3600), lock: true }
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptSpec {
    /// The lockout the attempt counts in.
    pub lockout: Lockout,
    /// The budgets the attempt spends, narrowest first.
    pub budgets: Vec<Budget>,
}

/// A reservation made by [`StateStore::reserve_attempt`] (see the
/// [`AttemptSpec`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The consecutive failures this attempt stands for if it fails.
    pub failures: u64,
    /// Whether this attempt set the gate.
    pub gated: bool,
    /// The count of each budget after this reservation, in the order given.
    pub counts: Vec<u64>,
}

/// What [`StateStore::reserve_attempt`] decided (see the [`AttemptSpec`]
/// example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// The attempt may be checked; its places are taken.
    Admitted(Reservation),
    /// The gate is held: nothing was taken.
    Held {
        /// Until the gate's wait ends.
        retry_after: Duration,
        /// Whether the wait is a lock rather than a delay (the flag in the
        /// gate's value).
        lock: bool,
    },
    /// The budget at index `budget` is full: nothing was taken.
    RateLimited {
        /// Which budget refused (an index into [`AttemptSpec::budgets`]).
        budget: usize,
        /// Until that budget's window ends (at least one second).
        retry_after: Duration,
    },
}

/// How an admitted attempt ends, for [`StateStore::settle_attempt`]. (A
/// failed attempt needs no settlement: its places stay taken.) Exhaustive:
/// a store implements each. See the [`AttemptSpec`] example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement<'a> {
    /// The attempt passed and ends the run of failures.
    Succeeded,
    /// The attempt passed a step, but the run goes on (a right password
    /// with a second factor due): its places are handed back.
    Released {
        /// Whether the attempt set the gate ([`Reservation::gated`]).
        gated: bool,
    },
    /// [`Released`](Self::Released), and the entry of the next step (a
    /// pending login) is stored.
    ReleasedThenPut {
        /// Whether the attempt set the gate.
        gated: bool,
        /// The entry's key.
        key: &'a str,
        /// Its value.
        value: &'a [u8],
        /// Its expiry.
        expires_at: Timestamp,
    },
    /// The attempt passed if it can take the single-use entry at `key`
    /// (a pending login): taken, it [`Succeeded`](Self::Succeeded);
    /// already gone, it is [`Released`](Self::Released).
    SucceededIfTaken {
        /// Whether the attempt set the gate.
        gated: bool,
        /// The single-use entry.
        key: &'a str,
    },
}

/// A time-step code to accept once, for
/// [`StateStore::reserve_attempt_and_accept_step`]: the pending login at
/// `take` is finished by the step `step` of the counter at `key`.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::store::{AttemptSpec, Lockout, StepAcceptance, StepOutcome};
/// use twofa_verify::{MemoryStore, StateStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_millis(1_000_000_000_000);
/// let spec = AttemptSpec {
///     lockout: Lockout {
///         counter: "failures:alice".into(),
///         gate: "gate:alice".into(),
///         gates: "gates:alice".into(),
///         hold: Some("admin-lock:alice".into()),
///         memory: Duration::from_secs(3600),
///         threshold: 5,
///         waits: vec![Duration::from_secs(1)],
///         locks_from: usize::MAX,
///     },
///     budgets: vec![],
/// };
/// let ttl = now.plus(Duration::from_secs(600));
/// store.put("pending:1", b"a pending login", ttl).await?;
/// store.put("pending:2", b"another one", ttl).await?;
///
/// // An authenticator-app code that matched time step 33_333_333.
/// let step = StepAcceptance {
///     key: "totp-step:alice",
///     step: 33_333_333,
///     expires_at: now.plus(Duration::from_secs(90)),
///     take: "pending:1",
/// };
/// let (_, outcome) = store.reserve_attempt_and_accept_step(&spec, step, now).await?;
/// assert_eq!(outcome, Some(StepOutcome::Accepted));
/// assert_eq!(store.get("pending:1", now).await?, None); // finished
///
/// // The same code again, on another pending login: a replay.
/// let replay = StepAcceptance { take: "pending:2", ..step };
/// let (_, outcome) = store.reserve_attempt_and_accept_step(&spec, replay, now).await?;
/// assert_eq!(outcome, Some(StepOutcome::Replayed));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepAcceptance<'a> {
    /// The last accepted step's key.
    pub key: &'a str,
    /// The step the code matched.
    pub step: i64,
    /// Until when the step must be remembered.
    pub expires_at: Timestamp,
    /// The single-use entry the code finishes (the pending login).
    pub take: &'a str,
}

impl<'a> StepAcceptance<'a> {
    /// The step to accept, without the entry to take.
    pub(crate) fn check(self) -> StepCheck<'a> {
        StepCheck {
            key: self.key,
            step: self.step,
            expires_at: self.expires_at,
        }
    }
}

/// A time-step code to accept once for a signed-in user, for
/// [`StateStore::reserve_attempt_and_check_step`]: like [`StepAcceptance`]
/// without a pending login to finish, so an accepted step hands the
/// attempt's places back (earlier failures still count) instead of ending
/// the run of failures.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::store::{AttemptSpec, Lockout, StepCheck, StepOutcome};
/// use twofa_verify::{MemoryStore, StateStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_millis(1_000_000_000_000);
/// let spec = AttemptSpec {
///     lockout: Lockout {
///         counter: "failures:alice".into(),
///         gate: "gate:alice".into(),
///         gates: "gates:alice".into(),
///         hold: Some("admin-lock:alice".into()),
///         memory: Duration::from_secs(3600),
///         threshold: 5,
///         waits: vec![Duration::from_secs(1)],
///         locks_from: usize::MAX,
///     },
///     budgets: vec![],
/// };
/// // An authenticator-app code that matched time step 33_333_333.
/// let step = StepCheck {
///     key: "totp-step:alice",
///     step: 33_333_333,
///     expires_at: now.plus(Duration::from_secs(90)),
/// };
/// let (_, outcome) = store.reserve_attempt_and_check_step(&spec, step, now).await?;
/// assert_eq!(outcome, Some(StepOutcome::Accepted));
/// // The same code again: a replay, counted as a failure.
/// let (_, outcome) = store.reserve_attempt_and_check_step(&spec, step, now).await?;
/// assert_eq!(outcome, Some(StepOutcome::Replayed));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCheck<'a> {
    /// The last accepted step's key.
    pub key: &'a str,
    /// The step the code matched.
    pub step: i64,
    /// Until when the step must be remembered.
    pub expires_at: Timestamp,
}

/// What happened to a [`StepAcceptance`] after its attempt was admitted
/// (see its example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// The step was new and the entry was taken: the attempt succeeded.
    Accepted,
    /// The step was not newer than the last accepted one (a replay): the
    /// attempt failed and stays counted.
    Replayed,
    /// The step was accepted but the entry was already gone (another
    /// request finished it): the attempt was released.
    Gone,
}

/// The primitive steps the compound operations are made of, over one
/// store, a transaction, or data under a lock: the primitive methods of
/// [`StateStore`], each with the same contract, taking `&mut self` so that
/// an implementation can hold a transaction or a lock guard.
///
/// A store that can make a compound operation atomic (one transaction, one
/// lock) implements this over that transaction or guard and runs the
/// [`reference`](mod@reference) steps over it, as the crate's own stores do; see the
/// example in [`reference`](mod@reference).
#[async_trait]
pub trait Primitives: Send {
    /// [`StateStore::get`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn get(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>>;
    /// [`StateStore::put`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn put(&mut self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()>;
    /// [`StateStore::put_if_absent`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn put_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    /// [`StateStore::take`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn take(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>>;
    /// [`StateStore::delete`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn delete(&mut self, key: &str) -> Result<()>;
    /// [`StateStore::increment`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn increment(
        &mut self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter>;
    /// [`StateStore::release`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn release(&mut self, key: &str, now: Timestamp) -> Result<()>;
    /// [`StateStore::advance`], inside the transaction or lock (see the
    /// [`reference`](mod@reference) example).
    async fn advance(
        &mut self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
}

/// The primitives of a [`StateStore`], one call each: what the trait's
/// default methods run the [`reference`](mod@reference) steps over. Under a lock that
/// every compound operation of the store takes, the steps over `Calls`
/// are atomic as a whole.
pub struct Calls<'a, S: ?Sized>(pub &'a S);

#[async_trait]
impl<S: StateStore + ?Sized> Primitives for Calls<'_, S> {
    async fn get(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.0.get(key, now).await
    }
    async fn put(&mut self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        self.0.put(key, value, expires_at).await
    }
    async fn put_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.0.put_if_absent(key, value, expires_at, now).await
    }
    async fn take(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.0.take(key, now).await
    }
    async fn delete(&mut self, key: &str) -> Result<()> {
        self.0.delete(key).await
    }
    async fn increment(
        &mut self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        self.0.increment(key, ttl, extend, now).await
    }
    async fn release(&mut self, key: &str, now: Timestamp) -> Result<()> {
        self.0.release(key, now).await
    }
    async fn advance(
        &mut self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.0.advance(key, value, expires_at, now).await
    }
}

pub mod reference;
