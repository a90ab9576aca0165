//! Where users and short-lived state live.
//!
//! Two traits, both `#[async_trait]` (re-exported as
//! [`twofa_verify::async_trait`](crate::async_trait)), dyn-compatible and
//! `Send + Sync`:
//! [`UserStore`] for identities and their factors, [`StateStore`] for
//! short-lived state with atomic operations. Every operation documented as
//! atomic must be atomic across processes sharing the store (many app
//! instances on one database behave as one). The conformance suite in
//! `twofa_verify::conformance` (feature `test-util`) checks any
//! implementation, one trait at a time.

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::user::UserId;

pub mod attempt;
mod audit;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod compound_reply;
pub(crate) use audit::clip;
pub use audit::{AUDIT_TEXT_MAX, AuditRecord, AuditStore, NewAuditRecord};
mod memory;
pub use attempt::{
    Admission, AttemptSpec, Budget, Lockout, Reservation, Settlement, StepAcceptance, StepCheck,
    StepOutcome,
};
pub use memory::MemoryStore;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};

mod passkeys;
pub use passkeys::{PasskeyRecord, PasskeyUse, passkey_counter_advances};

mod records;
pub use records::{DeviceRecord, NewUser, StoredSecret, UserRecord};

/// Identities and their factors.
///
/// Uniqueness of `username_key`, `username_skeleton` (among the rows that
/// have one) and `email` must be enforced by the store itself (a unique
/// constraint, or a check under the store's lock), reported as
/// `Error::UsernameTaken` (key or skeleton) / `Error::EmailTaken`, so two
/// racing registrations of look-alike names cannot both win.
///
/// An app rarely calls it: the authenticator does. A store of another
/// crate implements this trait (under
/// [`#[twofa_verify::async_trait]`](crate::async_trait)) and checks itself
/// with the conformance suite (feature `test-util`). The contract, on the
/// crate's [`MemoryStore`]:
///
/// ```
/// use twofa_verify::store::{NewUser, StoredSecret, UserStore};
/// use twofa_verify::user::{Username, username_skeleton};
/// use twofa_verify::{Error, MemoryStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let new_user = |name: &str, email: &str| -> twofa_verify::Result<NewUser> {
///     let (username, username_key, username_skeleton) = Username::parse(name)?.into_parts();
///     Ok(NewUser {
///         username, username_key, username_skeleton,
///         email: email.into(),
///         password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
///         created_at: Timestamp::from_millis(0),
///     })
/// };
/// let alice = store.create_user(new_user("Alice", "alice@example.com")?).await?;
/// // Unique: the username key, its look-alike skeleton, the email.
/// let twin = store.create_user(new_user("ALICE", "other@example.com")?).await;
/// assert!(matches!(twin, Err(Error::UsernameTaken)));
/// let same_mail = store.create_user(new_user("bob", "alice@example.com")?).await;
/// assert!(matches!(same_mail, Err(Error::EmailTaken)));
///
/// assert_eq!(store.user_by_username("alice").await?.map(|u| u.id), Some(alice.id));
/// assert_eq!(store.user_by_email("alice@example.com").await?.map(|u| u.id), Some(alice.id));
/// let record = store.user_by_id(alice.id).await?.expect("stored");
/// assert_eq!(record.to_user().username, "Alice");
///
/// // Compare-and-set: of two racing rehashes of one old hash, one wins.
/// let old = record.password_hash.clone();
/// assert!(store.replace_password_hash(alice.id, &old, "$argon2id$new").await?);
/// assert!(!store.replace_password_hash(alice.id, &old, "$argon2id$other").await?);
/// assert!(store.set_password_hash(alice.id, "$argon2id$reset").await?);
///
/// let skeleton = username_skeleton("alicia");
/// store.update_profile(alice.id, "Alicia", "alicia", Some(&skeleton), "alicia@example.com").await?;
/// store.set_phone(alice.id, Some("+14155552671")).await?;
/// store.set_totp(alice.id, Some(&StoredSecret { key_id: 0, sealed: vec![0; 48] })).await?;
///
/// // Single use: a recovery code is gone once spent.
/// store.replace_recovery_codes(alice.id, &[[1; 32], [2; 32]]).await?;
/// assert!(store.use_recovery_code(alice.id, &[1; 32]).await?);
/// assert!(!store.use_recovery_code(alice.id, &[1; 32]).await?);
/// assert_eq!(store.recovery_codes_left(alice.id).await?, 1);
///
/// // Every credential change moves the generation: older sessions end.
/// assert_eq!(store.bump_credential_generation(alice.id).await?, 1);
/// # Ok(())
/// # }
/// ```
///
/// The remembered-device methods have defaults that keep no device (see
/// [`DeviceRecord`] for them).
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug {
    /// Inserts a user; fails with `UsernameTaken` (same key or skeleton) or
    /// `EmailTaken` on a duplicate (see the [`UserStore`] example).
    async fn create_user(&self, user: NewUser) -> Result<UserRecord>;
    /// The user with this id (see the [`UserStore`] example).
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>>;
    /// The user with this lower-case username (the key of
    /// [`Username`](crate::user::Username); see the [`UserStore`] example).
    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>>;
    /// The user with this lower-case email (see the [`UserStore`] example).
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    /// Replaces the password hash. Returns false if the user does not exist
    /// (see the [`UserStore`] example).
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool>;
    /// Replaces the password hash only if the current one equals `expected`
    /// (atomic compare-and-set; used by rehash-on-login and reset). Returns
    /// whether it was replaced (see the [`UserStore`] example).
    async fn replace_password_hash(&self, id: UserId, expected: &str, hash: &str) -> Result<bool>;
    /// Changes username, its key and skeleton, and email (all stored as
    /// given; `None` stores no skeleton); `UsernameTaken`/`EmailTaken` on a
    /// duplicate of another user's, `UserNotFound` if the user is gone (see
    /// the [`UserStore`] example).
    async fn update_profile(
        &self,
        id: UserId,
        username: &str,
        username_key: &str,
        username_skeleton: Option<&str>,
        email: &str,
    ) -> Result<()>;
    /// Sets or clears the SMS factor's phone number (see the [`UserStore`]
    /// example).
    async fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<()>;
    /// Sets or clears the encrypted TOTP secret (see the [`UserStore`]
    /// example).
    async fn set_totp(&self, id: UserId, secret: Option<&StoredSecret>) -> Result<()>;
    /// Replaces all recovery codes of the user with these keyed hashes (see
    /// the [`UserStore`] example).
    async fn replace_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()>;
    /// Atomically removes the recovery code with this hash; true if it existed
    /// (exactly one of many concurrent callers gets true; see the
    /// [`UserStore`] example).
    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool>;
    /// How many unused recovery codes the user has (see the [`UserStore`]
    /// example).
    async fn recovery_codes_left(&self, id: UserId) -> Result<usize>;
    /// Atomically adds one to the user's credential generation and returns
    /// the new value; `UserNotFound` if the user is gone (see the
    /// [`UserStore`] example).
    async fn bump_credential_generation(&self, id: UserId) -> Result<i64>;

    /// Stores a remembered device (see the [`DeviceRecord`] example). The
    /// default refuses: a store without devices simply offers no "remember
    /// this device".
    async fn add_device(&self, device: &DeviceRecord) -> Result<()> {
        let _ = device;
        Err(Error::FactorUnavailable(
            crate::error::FactorUnavailable::NotSupportedByStore,
        ))
    }
    /// The device with this token hash, if any (expired ones included; the
    /// caller checks). See the [`DeviceRecord`] example.
    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<DeviceRecord>> {
        let _ = token_hash;
        Ok(None)
    }
    /// Records a use of the device: its `last_used_at` becomes `now` (see
    /// the [`DeviceRecord`] example).
    async fn touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
        let _ = (token_hash, now);
        Ok(())
    }
    /// The user's devices, oldest first (see the [`DeviceRecord`] example).
    async fn devices(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        let _ = user;
        Ok(Vec::new())
    }
    /// Removes one device of the user; true if it existed (see the
    /// [`DeviceRecord`] example).
    async fn remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
        let _ = (user, device_id);
        Ok(false)
    }
    /// Removes every device of the user; returns how many (see the
    /// [`DeviceRecord`] example).
    async fn remove_devices(&self, user: UserId) -> Result<u64> {
        let _ = user;
        Ok(0)
    }

    /// Records a password sign-in of a user whom
    /// [`Policy::second_factor_required`](crate::Policy::second_factor_required)
    /// applies to and who has no second factor, and returns the user's
    /// record after it, atomically: the first call sets `since` to `now`,
    /// each call adds one to `sign_ins`, so of concurrent calls each sees a
    /// different count. The record survives restarts (the grace period
    /// must not start over). See the
    /// [`SecondFactorRequirement`](crate::policy::SecondFactorRequirement)
    /// example.
    ///
    /// The default refuses with [`Error::Config`]: with such a store, a
    /// policy that requires a second factor lets no unenrolled user in
    /// (fail closed). The crate's stores implement it.
    async fn record_unenrolled_sign_in(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<crate::policy::RequiredSignIns> {
        let _ = (user, now);
        Err(Error::Config(
            "the user store does not record sign-ins under a second-factor requirement".into(),
        ))
    }
    /// Stores a new passkey and counts it in the user's
    /// [`UserRecord::passkeys`], atomically; `PasskeyExists` when its
    /// credential id is already stored (for any user), `UserNotFound` when
    /// the user is gone. The default (a store without passkeys) refuses
    /// with `FactorUnavailable::NotSupportedByStore`, as do the other
    /// passkey methods: never a silent success. See [`PasskeyRecord`].
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<()> {
        let _ = passkey;
        Err(passkeys_unsupported())
    }
    /// The user's passkeys, oldest first (see [`PasskeyRecord`]).
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>> {
        let _ = user;
        Err(passkeys_unsupported())
    }
    /// The passkey with this credential id, whoever owns it (passwordless
    /// sign-in; see [`PasskeyRecord`]).
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>> {
        let _ = credential_id;
        Err(passkeys_unsupported())
    }
    /// Records a use of the user's passkey in one atomic step: counter,
    /// backed-up flag, credential and last use, only if
    /// [`passkey_counter_advances`] from the stored counter. True when
    /// written; false when the counter did not advance or the passkey is
    /// gone (see [`PasskeyUse`]).
    async fn record_passkey_use(
        &self,
        user: UserId,
        credential_id: &[u8],
        used: &PasskeyUse,
    ) -> Result<bool> {
        let _ = (user, credential_id, used);
        Err(passkeys_unsupported())
    }
    /// Renames the user's passkey; false if the user has none with that id
    /// (see [`PasskeyRecord`]).
    async fn rename_passkey(&self, user: UserId, credential_id: &[u8], name: &str) -> Result<bool> {
        let _ = (user, credential_id, name);
        Err(passkeys_unsupported())
    }
    /// Removes the user's passkey and uncounts it, atomically; false if the
    /// user has none with that id (see [`PasskeyRecord`]).
    async fn remove_passkey(&self, user: UserId, credential_id: &[u8]) -> Result<bool> {
        let _ = (user, credential_id);
        Err(passkeys_unsupported())
    }

    /// A user whose SMS factor's phone is this E.164 number, if any (for an
    /// operator's search, [`Admin::find_user`](crate::authenticator::Admin::find_user)).
    /// The default finds none. See the [`Admin`](crate::authenticator::Admin) example.
    async fn user_by_phone(&self, phone: &str) -> Result<Option<UserRecord>> {
        let _ = phone;
        Ok(None)
    }
}

/// What the passkey methods of a store without passkeys answer.
fn passkeys_unsupported() -> Error {
    Error::FactorUnavailable(crate::error::FactorUnavailable::NotSupportedByStore)
}

/// Short-lived state: pending logins, counters, single-use markers, TOTP steps.
///
/// Keys are ASCII strings of at most 200 bytes chosen by the crate; values
/// are small byte strings. Every entry has an expiry time; an entry whose
/// expiry is at or before `now` must behave exactly as if absent. Stores may
/// delete expired entries at any time.
///
/// The contract, on the crate's [`MemoryStore`] (the time is always the
/// caller's `now`, never the store's clock):
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::{MemoryStore, StateStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_millis(1_000_000_000_000);
/// let soon = now.plus(Duration::from_secs(60));
///
/// store.put("challenge:1", b"pending", soon).await?;
/// assert_eq!(store.get("challenge:1", now).await?.as_deref(), Some(&b"pending"[..]));
/// assert_eq!(store.get("challenge:1", soon).await?, None); // expired at `expires_at`
///
/// // Single use: of racing `take`s, one gets the value.
/// assert_eq!(store.take("challenge:1", now).await?.as_deref(), Some(&b"pending"[..]));
/// assert_eq!(store.take("challenge:1", now).await?, None);
///
/// // Compare-and-set on presence.
/// assert!(store.put_if_absent("once", b"1", soon, now).await?);
/// assert!(!store.put_if_absent("once", b"2", soon, now).await?);
/// assert!(store.put_if_present("once", b"3", soon, now).await?);
/// store.delete("once").await?;
/// assert!(!store.put_if_present("once", b"4", soon, now).await?); // stays deleted
///
/// // Fixed-window counters: the window starts at the first increment.
/// let window = Duration::from_secs(3600);
/// assert_eq!(store.increment("sends", window, false, now).await?.count, 1);
/// let c = store.increment("sends", window, false, now).await?;
/// assert_eq!((c.count, c.expires_at), (2, now.plus(window)));
/// store.release("sends", now).await?; // hand a reservation back
/// assert_eq!(store.increment("sends", window, false, now).await?.count, 2);
///
/// // A number that only goes up: each TOTP step is accepted once.
/// assert!(store.advance("step", 100, soon, now).await?);
/// assert!(!store.advance("step", 100, soon, now).await?);
/// # Ok(())
/// # }
/// ```
///
/// The compound operations (`reserve_attempt` and the others) have
/// defaults built from these; see [`AttemptSpec`] for them.
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Sets `key` to `value` until `expires_at`, replacing any previous
    /// entry (see the [`StateStore`] example).
    async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()>;
    /// Sets `key` only if it is absent (or expired). Atomic: of concurrent
    /// callers exactly one gets `true` (see the [`StateStore`] example).
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    /// Replaces the value and expiry of `key` only if a live entry is there
    /// (an absent or expired one stays absent); returns whether it wrote.
    /// Atomic against every other operation on `key`: once `delete` or
    /// `take` has removed an entry, no `put_if_present` can bring it back,
    /// however long ago it started. Web sessions are saved with it, so that
    /// a request still in flight cannot revive a session that a logout
    /// deleted or a login replaced. See the [`StateStore`] example.
    async fn put_if_present(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    /// The live value of `key` (see the [`StateStore`] example).
    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>>;
    /// Atomically removes `key` and returns its live value: of concurrent
    /// callers at most one gets `Some` (see the [`StateStore`] example).
    async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>>;
    /// Removes `key` (no error if absent; see the [`StateStore`] example).
    async fn delete(&self, key: &str) -> Result<()>;
    /// Atomically increments the counter at `key` and returns the new count
    /// and the counter's expiry. An absent or expired counter starts at 1
    /// and expires at `now + ttl`; a live one keeps its expiry unless
    /// `extend` is true, in which case the expiry moves to `now + ttl`. See
    /// the [`StateStore`] example.
    async fn increment(
        &self,
        key: &str,
        ttl: std::time::Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter>;
    /// Atomically takes one back from the live counter at `key` (never below
    /// zero; an absent or expired counter stays absent). Used to hand back a
    /// reservation made by [`increment`](Self::increment) that turned out not
    /// to be needed: an attempt refused by another limit, or one that
    /// succeeded.
    ///
    /// The default does nothing, which errs on the safe side: a store that
    /// cannot decrement keeps the reservation, so limits trip early, never
    /// late. The crate's stores implement it (see the [`StateStore`]
    /// example).
    async fn release(&self, key: &str, now: Timestamp) -> Result<()> {
        let _ = (key, now);
        Ok(())
    }
    /// Atomically raises the number at `key` to `value` if `value` is greater
    /// than the live stored number (or none is stored); returns whether it did.
    /// Used to accept each TOTP step at most once (see the [`StateStore`]
    /// example).
    async fn advance(
        &self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    // ------------------------------------------------ compound operations
    //
    // Each is one call, atomic as a whole in the crate's stores (one lock in
    // memory, one transaction in SQLite, one SQL function call in
    // PostgreSQL, one script in Redis): no other
    // compound operation on the same lockout interleaves with its steps,
    // and each primitive step is atomic against every other operation. The
    // defaults run the same steps as separate calls of the primitives above
    // (`attempt::reference`), each atomic on its own, which keeps every
    // limit (at most, never more) but costs a round trip per step. A store
    // that can run them in one transaction or under one lock runs the same
    // steps there (`attempt::reference` over its own `attempt::Primitives`).

    /// Reserves an attempt's places before its secret is checked (reserve,
    /// then check). Atomically, in this order:
    ///
    /// 1. If `lockout.hold` is set, live and the time in its value is
    ///    after `now`, or else if `lockout.gate` is: return
    ///    [`Admission::Held`] with that gate's time left and its value's
    ///    lock flag ([`Lockout::read_gate`]). Nothing is written.
    /// 2. For each budget `b` in order: `increment(b.key, b.window,
    ///    extend = false)`. If the new count exceeds `b.max`, `release` every
    ///    budget incremented so far (this one included) and return
    ///    [`Admission::RateLimited`] with the budget's index and its
    ///    counter's time left (at least one second).
    /// 3. `count = increment(lockout.counter, lockout.memory, extend = true)`.
    ///    If `count < lockout.threshold`, return
    ///    `Admitted { failures: count, gated: false, counts }`, `counts`
    ///    holding each budget's new count.
    /// 4. Otherwise set the gate: `put_if_absent(lockout.gate, value,
    ///    expires = until)` with `until = now + waits[0]` and `value =`
    ///    [`Lockout::gate_value`]`(until, lock)` ([`Lockout::wait`]`(1)`
    ///    gives both). If it is refused (only possible when the steps are
    ///    not atomic), `release` the counter and every budget and return
    ///    `Held` with the gate's time left (one second if it is gone). Then
    ///    `k = increment(lockout.gates, lockout.memory, extend = true)`; when
    ///    the `k`-th wait ([`Lockout::wait`]`(k)`) differs from the first in
    ///    length or kind, `put` the gate again with `until = now + that
    ///    wait` and its kind.
    ///    Return `Admitted { failures: threshold + k - 1, gated: true, counts }`.
    ///
    /// Concurrent calls on one lockout therefore admit every attempt below
    /// the threshold and at most one per gate from it on. See the
    /// [`AttemptSpec`] example.
    async fn reserve_attempt(&self, spec: &AttemptSpec, now: Timestamp) -> Result<Admission> {
        attempt::reference::reserve_attempt(&mut attempt::Calls(self), spec, now).await
    }

    /// Settles an attempt admitted by [`reserve_attempt`](Self::reserve_attempt)
    /// (a failed attempt needs no settlement). Atomically:
    ///
    /// - [`Settlement::Succeeded`]: `delete` `lockout.counter`,
    ///   `lockout.gates` and `lockout.gate`; `release` every budget.
    /// - [`Settlement::Released`]: `release` `lockout.counter`; if `gated`,
    ///   `release` `lockout.gates` and `delete` `lockout.gate`; `release`
    ///   every budget.
    /// - [`Settlement::ReleasedThenPut`]: as `Released`, then `put(key,
    ///   value, expires_at)`.
    /// - [`Settlement::SucceededIfTaken`]: `take(key)`; if a live value was
    ///   taken, as `Succeeded` and return it; otherwise as `Released`
    ///   (with `gated`) and return `None`. Of concurrent calls on one key
    ///   at most one gets the value.
    ///
    /// Returns `None` except for a taken value. See the [`AttemptSpec`]
    /// example.
    async fn settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        attempt::reference::settle_attempt(&mut attempt::Calls(self), spec, settlement, now).await
    }

    /// Reserves an attempt and, if it is admitted, accepts a time-step code
    /// (TOTP) that finishes a single-use entry, all atomically:
    ///
    /// 1. Exactly [`reserve_attempt`](Self::reserve_attempt). Unless
    ///    admitted, return its refusal and `None`.
    /// 2. `advance(step.key, step.step, step.expires_at)`. If refused (the
    ///    step is not newer than the last accepted one): return the
    ///    admission and [`StepOutcome::Replayed`]; the attempt stays counted
    ///    as a failure.
    /// 3. Exactly [`settle_attempt`](Self::settle_attempt) with
    ///    `SucceededIfTaken { gated, key: step.take }`: [`StepOutcome::Accepted`]
    ///    if the entry was taken, else [`StepOutcome::Gone`].
    ///
    /// Returns the admission of step 1 and the outcome. See the
    /// [`StepAcceptance`] example.
    async fn reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        attempt::reference::reserve_attempt_and_accept_step(
            &mut attempt::Calls(self),
            spec,
            step,
            now,
        )
        .await
    }

    /// Reserves an attempt and, if it is admitted, accepts a time-step code
    /// (TOTP) of a signed-in user, all atomically:
    ///
    /// 1. Exactly [`reserve_attempt`](Self::reserve_attempt). Unless
    ///    admitted, return its refusal and `None`.
    /// 2. `advance(step.key, step.step, step.expires_at)`. If refused (the
    ///    step is not newer than the last accepted one): return the
    ///    admission and [`StepOutcome::Replayed`]; the attempt stays counted
    ///    as a failure.
    /// 3. Exactly [`settle_attempt`](Self::settle_attempt) with
    ///    `Released { gated }`, and [`StepOutcome::Accepted`].
    ///
    /// Returns the admission of step 1 and the outcome. See the
    /// [`StepCheck`] example.
    async fn reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        attempt::reference::reserve_attempt_and_check_step(
            &mut attempt::Calls(self),
            spec,
            step,
            now,
        )
        .await
    }
}

/// The result of [`StateStore::increment`] (see the [`StateStore`]
/// example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The count after this increment.
    pub count: u64,
    /// When the counter expires (its window ends).
    pub expires_at: Timestamp,
}
