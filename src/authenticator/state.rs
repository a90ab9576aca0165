//! Typed access to the state store: the state layer of the flows.
//!
//! Every kind of entry the flows keep is a [`StateKey`] variant, which
//! renders the store key ([`keys`]); every value kept is a [`StateValue`],
//! which encodes itself ([`values`], where the records the flows store are
//! defined). [`State`] reads and writes through both, so no flow formats a
//! key or encodes a value. The layer imports no flow: the flows import it.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::crypto::Keys;
use crate::error::Result;
use crate::store::{
    Admission, AttemptSpec, Counter, Settlement, StateStore, StepAcceptance, StepOutcome,
};

mod keys;
mod values;

pub(super) use keys::{BudgetKey, ClientBudget, FailScope, PhoneStatus, StateKey};
pub(super) use values::{
    ChallengeRecord, Gate, LiveLink, Marker, PendingRegistration, PendingSms, SentCode, StateValue,
};

/// Runs one call of a store; with feature `metrics`, its time goes to the
/// histogram `histogram` (`twofa_state_store_seconds` for the state store,
/// `twofa_user_store_seconds` for the user store) labelled by the
/// operation (a fixed word), whatever the outcome. Every call of the flows
/// passes here, so the figure is the store's whole share of a flow.
pub(super) async fn timed<T>(
    histogram: &'static str,
    op: &'static str,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    #[cfg(feature = "metrics")]
    let started = std::time::Instant::now();
    let outcome = call.await;
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(histogram, "op" => op).record(started.elapsed().as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (histogram, op);
    outcome
}

/// The histogram of the state store's calls.
const HISTOGRAM: &str = "twofa_state_store_seconds";

/// The state store, typed.
#[derive(Clone, Copy)]
pub(super) struct State<'a> {
    store: &'a dyn StateStore,
    keys: &'a Keys,
}

impl<'a> State<'a> {
    pub(super) fn new(store: &'a dyn StateStore, keys: &'a Keys) -> Self {
        State { store, keys }
    }

    /// The store key of `key`.
    pub(super) fn key(&self, key: StateKey<'_>) -> String {
        key.render(self.keys)
    }

    /// The live value at `key`.
    pub(super) async fn get<T: StateValue>(
        &self,
        key: StateKey<'_>,
        now: Timestamp,
    ) -> Result<Option<T>> {
        let bytes = timed(HISTOGRAM, "get", self.store.get(&self.key(key), now)).await?;
        Ok(bytes.and_then(|b| T::decode(&b)))
    }

    /// Removes the entry at `key` and returns its live value (of concurrent
    /// callers at most one gets it).
    pub(super) async fn take<T: StateValue>(
        &self,
        key: StateKey<'_>,
        now: Timestamp,
    ) -> Result<Option<T>> {
        let bytes = timed(HISTOGRAM, "take", self.store.take(&self.key(key), now)).await?;
        Ok(bytes.and_then(|b| T::decode(&b)))
    }

    /// Stores `value` at `key` until `expires_at`.
    pub(super) async fn put<T: StateValue>(
        &self,
        key: StateKey<'_>,
        value: &T,
        expires_at: Timestamp,
    ) -> Result<()> {
        timed(
            HISTOGRAM,
            "put",
            self.store.put(&self.key(key), &value.encode()?, expires_at),
        )
        .await
    }

    /// Stores `value` at `key` unless a live entry is there (of concurrent
    /// callers exactly one gets `true`).
    pub(super) async fn put_if_absent<T: StateValue>(
        &self,
        key: StateKey<'_>,
        value: &T,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        timed(
            HISTOGRAM,
            "put_if_absent",
            self.store
                .put_if_absent(&self.key(key), &value.encode()?, expires_at, now),
        )
        .await
    }

    /// Replaces the live value at `key` with `value`; `false` (and nothing
    /// written) when no live entry is there, e.g. it was taken meanwhile.
    pub(super) async fn put_if_present<T: StateValue>(
        &self,
        key: StateKey<'_>,
        value: &T,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        timed(
            HISTOGRAM,
            "put_if_present",
            self.store
                .put_if_present(&self.key(key), &value.encode()?, expires_at, now),
        )
        .await
    }

    /// Removes the entry at `key`.
    pub(super) async fn delete(&self, key: StateKey<'_>) -> Result<()> {
        timed(HISTOGRAM, "delete", self.store.delete(&self.key(key))).await
    }

    /// Counts one at the counter `key`.
    pub(super) async fn increment(
        &self,
        key: StateKey<'_>,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        timed(
            HISTOGRAM,
            "increment",
            self.store.increment(&self.key(key), ttl, extend, now),
        )
        .await
    }

    /// Hands back one place taken at the counter `key`.
    pub(super) async fn release(&self, key: StateKey<'_>, now: Timestamp) -> Result<()> {
        timed(
            HISTOGRAM,
            "release",
            self.store.release(&self.key(key), now),
        )
        .await
    }

    /// Raises the number at `key` to `value` if that is higher; whether it did.
    #[cfg(feature = "totp")]
    pub(super) async fn advance(
        &self,
        key: StateKey<'_>,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        timed(
            HISTOGRAM,
            "advance",
            self.store.advance(&self.key(key), value, expires_at, now),
        )
        .await
    }

    /// [`StateStore::reserve_attempt`].
    pub(super) async fn reserve_attempt(
        &self,
        spec: &AttemptSpec,
        now: Timestamp,
    ) -> Result<Admission> {
        timed(
            HISTOGRAM,
            "reserve_attempt",
            self.store.reserve_attempt(spec, now),
        )
        .await
    }

    /// [`StateStore::settle_attempt`], decoding a taken value.
    pub(super) async fn settle_attempt<T: StateValue>(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<T>> {
        let taken = timed(
            HISTOGRAM,
            "settle_attempt",
            self.store.settle_attempt(spec, settlement, now),
        )
        .await?;
        Ok(taken.and_then(|b| T::decode(&b)))
    }

    /// [`StateStore::reserve_attempt_and_accept_step`].
    pub(super) async fn reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        timed(
            HISTOGRAM,
            "reserve_attempt_and_accept_step",
            self.store.reserve_attempt_and_accept_step(spec, step, now),
        )
        .await
    }

    /// [`StateStore::reserve_attempt_and_check_step`](crate::store::StateStore::reserve_attempt_and_check_step).
    #[cfg(feature = "totp")]
    pub(super) async fn reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: crate::store::StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        timed(
            HISTOGRAM,
            "reserve_attempt_and_check_step",
            self.store.reserve_attempt_and_check_step(spec, step, now),
        )
        .await
    }
}
