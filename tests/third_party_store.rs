//! A store written outside the crate, through public paths only, passes the
//! whole conformance suite.
//!
//! `ThirdPartyStore` wraps a `MemoryStore` and delegates every method of
//! both traits to it, except the compound state operations: those run the
//! crate's reference steps (`store::attempt::reference`) over the store's
//! own primitives while holding a lock of the store's, the way a store with
//! transactions runs them in one transaction.
#![cfg(feature = "test-util")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use twofa_verify::conformance as support;
use twofa_verify::store::attempt::{Primitives, reference};
use twofa_verify::store::{
    Admission, AttemptSpec, Counter, DeviceRecord, NewUser, Settlement, StateStore, StepAcceptance,
    StepOutcome, StoredSecret, UserRecord, UserStore,
};
use twofa_verify::{MemoryStore, Result, Timestamp, UserId};

/// A store of another crate. Clones share the data, the lock and the count.
#[derive(Debug, Clone, Default)]
struct ThirdPartyStore {
    data: MemoryStore,
    /// Held by each compound operation: one runs at a time.
    compound: Arc<Mutex<()>>,
    /// Primitive steps run inside compound operations.
    steps: Arc<AtomicU64>,
}

/// The primitives of the store, run by a compound operation under its lock.
struct Steps<'a>(&'a ThirdPartyStore);

impl Steps<'_> {
    fn data(&self) -> &MemoryStore {
        self.0.steps.fetch_add(1, Ordering::Relaxed);
        &self.0.data
    }
}

#[async_trait]
impl Primitives for Steps<'_> {
    async fn get(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.data().get(key, now).await
    }
    async fn put(&mut self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        self.data().put(key, value, expires_at).await
    }
    async fn put_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.data().put_if_absent(key, value, expires_at, now).await
    }
    async fn take(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.data().take(key, now).await
    }
    async fn delete(&mut self, key: &str) -> Result<()> {
        self.data().delete(key).await
    }
    async fn increment(
        &mut self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        self.data().increment(key, ttl, extend, now).await
    }
    async fn release(&mut self, key: &str, now: Timestamp) -> Result<()> {
        self.data().release(key, now).await
    }
    async fn advance(
        &mut self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.data().advance(key, value, expires_at, now).await
    }
}

#[async_trait]
impl UserStore for ThirdPartyStore {
    async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
        self.data.create_user(user).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.data.user_by_id(id).await
    }
    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>> {
        self.data.user_by_username(username_key).await
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.data.user_by_email(email).await
    }
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool> {
        self.data.set_password_hash(id, hash).await
    }
    async fn replace_password_hash(&self, id: UserId, expected: &str, hash: &str) -> Result<bool> {
        self.data.replace_password_hash(id, expected, hash).await
    }
    async fn update_profile(
        &self,
        id: UserId,
        username: &str,
        username_key: &str,
        username_skeleton: Option<&str>,
        email: &str,
    ) -> Result<()> {
        self.data
            .update_profile(id, username, username_key, username_skeleton, email)
            .await
    }
    async fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<()> {
        self.data.set_phone(id, phone).await
    }
    async fn set_totp(&self, id: UserId, secret: Option<&StoredSecret>) -> Result<()> {
        self.data.set_totp(id, secret).await
    }
    async fn replace_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        self.data.replace_recovery_codes(id, hashes).await
    }
    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool> {
        self.data.use_recovery_code(id, hash).await
    }
    async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        self.data.recovery_codes_left(id).await
    }
    async fn bump_credential_generation(&self, id: UserId) -> Result<i64> {
        self.data.bump_credential_generation(id).await
    }
    async fn add_device(&self, device: &DeviceRecord) -> Result<()> {
        self.data.add_device(device).await
    }
    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<DeviceRecord>> {
        self.data.device_by_token(token_hash).await
    }
    async fn touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
        self.data.touch_device(token_hash, now).await
    }
    async fn devices(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        self.data.devices(user).await
    }
    async fn remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
        self.data.remove_device(user, device_id).await
    }
    async fn remove_devices(&self, user: UserId) -> Result<u64> {
        self.data.remove_devices(user).await
    }

    async fn record_unenrolled_sign_in(
        &self,
        user: UserId,
        now: twofa_verify::Timestamp,
    ) -> Result<twofa_verify::policy::RequiredSignIns> {
        self.data.record_unenrolled_sign_in(user, now).await
    }
}

#[async_trait]
impl StateStore for ThirdPartyStore {
    async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        self.data.put(key, value, expires_at).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.data.put_if_absent(key, value, expires_at, now).await
    }
    async fn put_if_present(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.data.put_if_present(key, value, expires_at, now).await
    }
    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.data.get(key, now).await
    }
    async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        self.data.take(key, now).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.data.delete(key).await
    }
    async fn increment(
        &self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        self.data.increment(key, ttl, extend, now).await
    }
    async fn release(&self, key: &str, now: Timestamp) -> Result<()> {
        self.data.release(key, now).await
    }
    async fn advance(
        &self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.data.advance(key, value, expires_at, now).await
    }

    async fn reserve_attempt(&self, spec: &AttemptSpec, now: Timestamp) -> Result<Admission> {
        let _one_at_a_time = self.compound.lock().await;
        reference::reserve_attempt(&mut Steps(self), spec, now).await
    }
    async fn settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        let _one_at_a_time = self.compound.lock().await;
        reference::settle_attempt(&mut Steps(self), spec, settlement, now).await
    }
    async fn reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let _one_at_a_time = self.compound.lock().await;
        reference::reserve_attempt_and_accept_step(&mut Steps(self), spec, step, now).await
    }
}

twofa_verify::conformance_suite!(async { Some(ThirdPartyStore::default()) });

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_in_one_go() {
    support::run_all(|| async { ThirdPartyStore::default() }).await;
}

/// The compound operations ran the reference steps over the store's own
/// primitives (not the trait's defaults, which would bypass `Steps`).
#[tokio::test]
async fn compound_operations_run_the_store_steps() {
    let store = ThirdPartyStore::default();
    support::reserve_attempt(store.clone()).await;
    assert!(store.steps.load(Ordering::Relaxed) > 0);
}
