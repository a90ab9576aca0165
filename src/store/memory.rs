use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use std::task::{Context, Poll, Waker};

use async_trait::async_trait;

use super::attempt::{Primitives, reference};
use super::{
    Admission, AttemptSpec, Counter, DeviceRecord, NewUser, PasskeyRecord, PasskeyUse, Settlement,
    StateStore, StepAcceptance, StepOutcome, StoredSecret, UserRecord, UserStore,
    passkey_counter_advances,
};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::user::UserId;

mod audit;

/// An in-process store for tests, demos and single-instance apps.
///
/// Implements both [`UserStore`] and [`StateStore`]; clones share the same
/// data. Nothing survives a restart, and two processes do not share it: use
/// `SqliteStore` or `PostgresStore` for that.
///
/// ```
/// use twofa_verify::{Authenticator, MemoryStore, SecretKey, UserStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// let auth = Authenticator::builder()
///     .store(store.clone()) // the test keeps a clone to look inside
///     .secret_key(SecretKey::generate())
///     .build()?;
/// let password = twofa_verify::secrecy::SecretString::from("correct horse battery");
/// let alice = auth.register("alice", "alice@example.com", &password).await?;
/// let record = store.user_by_id(alice.id).await?.expect("stored");
/// assert!(record.password_hash.starts_with("$argon2id$"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next_id: i64,
    users: HashMap<i64, UserRecord>,
    recovery: HashMap<i64, HashSet<[u8; 32]>>,
    devices: HashMap<[u8; 32], DeviceRecord>,
    required_sign_ins: HashMap<i64, crate::policy::RequiredSignIns>,
    /// Passkeys by credential id (unique across users).
    passkeys: HashMap<Vec<u8>, PasskeyRecord>,
    state: HashMap<String, (Vec<u8>, Timestamp)>,
    puts_since_sweep: usize,
    /// The audit trail, oldest first (ids grow by one).
    audit: Vec<super::AuditRecord>,
    /// The last audit id given (never reused, also after pruning).
    last_audit_id: i64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store (see the [`MemoryStore`] example).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Internal("memory store lock poisoned".into()))
    }
}

impl Inner {
    fn check_unique(
        &self,
        except: Option<i64>,
        username_key: &str,
        username_skeleton: Option<&str>,
        email: &str,
    ) -> Result<()> {
        for u in self.users.values() {
            if Some(u.id.0) == except {
                continue;
            }
            if u.username_key == username_key
                || (username_skeleton.is_some()
                    && u.username_skeleton.as_deref() == username_skeleton)
            {
                return Err(Error::UsernameTaken);
            }
            if u.email == email {
                return Err(Error::EmailTaken);
            }
        }
        Ok(())
    }

    fn user_mut(&mut self, id: UserId) -> Result<&mut UserRecord> {
        self.users.get_mut(&id.0).ok_or(Error::UserNotFound)
    }

    fn live(&self, key: &str, now: Timestamp) -> Option<&Vec<u8>> {
        self.state
            .get(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v)
    }

    fn insert(&mut self, key: &str, value: Vec<u8>, expires_at: Timestamp, now: Timestamp) {
        self.puts_since_sweep += 1;
        if self.puts_since_sweep >= 1024 {
            self.puts_since_sweep = 0;
            self.state.retain(|_, (_, exp)| *exp > now);
        }
        self.state.insert(key.to_owned(), (value, expires_at));
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
        let mut g = self.lock()?;
        g.check_unique(
            None,
            &user.username_key,
            Some(&user.username_skeleton),
            &user.email,
        )?;
        g.next_id += 1;
        let rec = user.into_record(UserId(g.next_id));
        g.users.insert(rec.id.0, rec.clone());
        Ok(rec)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        Ok(self.lock()?.users.get(&id.0).cloned())
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .lock()?
            .users
            .values()
            .find(|u| u.username_key == username_key)
            .cloned())
    }

    async fn user_by_phone(&self, phone: &str) -> Result<Option<UserRecord>> {
        let inner = self.lock()?;
        let mut found: Vec<_> = inner
            .users
            .values()
            .filter(|u| u.phone.as_deref() == Some(phone))
            .collect();
        found.sort_by_key(|u| u.id);
        Ok(found.first().map(|u| (*u).clone()))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .lock()?
            .users
            .values()
            .find(|u| u.email == email)
            .cloned())
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool> {
        let mut g = self.lock()?;
        match g.users.get_mut(&id.0) {
            Some(u) => {
                u.password_hash = hash.to_owned();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn replace_password_hash(&self, id: UserId, expected: &str, hash: &str) -> Result<bool> {
        let mut g = self.lock()?;
        match g.users.get_mut(&id.0) {
            Some(u) if u.password_hash == expected => {
                u.password_hash = hash.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn update_profile(
        &self,
        id: UserId,
        username: &str,
        username_key: &str,
        username_skeleton: Option<&str>,
        email: &str,
    ) -> Result<()> {
        let mut g = self.lock()?;
        if !g.users.contains_key(&id.0) {
            return Err(Error::UserNotFound);
        }
        g.check_unique(Some(id.0), username_key, username_skeleton, email)?;
        let u = g.user_mut(id)?;
        u.username = username.to_owned();
        u.username_key = username_key.to_owned();
        u.username_skeleton = username_skeleton.map(str::to_owned);
        u.email = email.to_owned();
        Ok(())
    }

    async fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<()> {
        self.lock()?.user_mut(id)?.phone = phone.map(str::to_owned);
        Ok(())
    }

    async fn set_totp(&self, id: UserId, secret: Option<&StoredSecret>) -> Result<()> {
        self.lock()?.user_mut(id)?.totp = secret.cloned();
        Ok(())
    }

    async fn replace_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        let mut g = self.lock()?;
        g.user_mut(id)?;
        g.recovery.insert(id.0, hashes.iter().copied().collect());
        Ok(())
    }

    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool> {
        let mut g = self.lock()?;
        Ok(g.recovery
            .get_mut(&id.0)
            .is_some_and(|set| set.remove(hash)))
    }

    async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        Ok(self.lock()?.recovery.get(&id.0).map_or(0, HashSet::len))
    }

    async fn bump_credential_generation(&self, id: UserId) -> Result<i64> {
        let mut g = self.lock()?;
        let u = g.user_mut(id)?;
        u.credential_generation = u.credential_generation.saturating_add(1);
        Ok(u.credential_generation)
    }

    async fn add_device(&self, device: &DeviceRecord) -> Result<()> {
        let mut g = self.lock()?;
        g.user_mut(device.user)?;
        if g.devices.contains_key(&device.token_hash)
            || g.devices.values().any(|d| d.id == device.id)
        {
            return Err(Error::store("a device with this token or id exists"));
        }
        g.devices.insert(device.token_hash, device.clone());
        Ok(())
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<DeviceRecord>> {
        Ok(self.lock()?.devices.get(token_hash).cloned())
    }

    async fn touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
        if let Some(d) = self.lock()?.devices.get_mut(token_hash) {
            d.last_used_at = now;
        }
        Ok(())
    }

    async fn devices(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        let mut v: Vec<DeviceRecord> = self
            .lock()?
            .devices
            .values()
            .filter(|d| d.user == user)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    async fn remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
        let mut g = self.lock()?;
        let before = g.devices.len();
        g.devices
            .retain(|_, d| !(d.user == user && d.id == device_id));
        Ok(g.devices.len() < before)
    }

    async fn remove_devices(&self, user: UserId) -> Result<u64> {
        let mut g = self.lock()?;
        let before = g.devices.len();
        g.devices.retain(|_, d| d.user != user);
        Ok((before - g.devices.len()) as u64)
    }

    async fn record_unenrolled_sign_in(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<crate::policy::RequiredSignIns> {
        let mut g = self.lock()?;
        g.user_mut(user)?;
        let rec = g
            .required_sign_ins
            .entry(user.0)
            .or_insert(crate::policy::RequiredSignIns {
                since: now,
                sign_ins: 0,
            });
        rec.sign_ins = rec.sign_ins.saturating_add(1);
        Ok(*rec)
    }

    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<()> {
        let mut g = self.lock()?;
        g.user_mut(passkey.user)?;
        if g.passkeys.contains_key(&passkey.credential_id) {
            return Err(Error::PasskeyExists);
        }
        g.passkeys
            .insert(passkey.credential_id.clone(), passkey.clone());
        let u = g.user_mut(passkey.user)?;
        u.passkeys = u.passkeys.saturating_add(1);
        Ok(())
    }

    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>> {
        let g = self.lock()?;
        let mut list: Vec<PasskeyRecord> = g
            .passkeys
            .values()
            .filter(|p| p.user == user)
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            (a.created_at, &a.credential_id).cmp(&(b.created_at, &b.credential_id))
        });
        Ok(list)
    }

    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>> {
        Ok(self.lock()?.passkeys.get(credential_id).cloned())
    }

    async fn record_passkey_use(
        &self,
        user: UserId,
        credential_id: &[u8],
        used: &PasskeyUse,
    ) -> Result<bool> {
        let mut g = self.lock()?;
        match g.passkeys.get_mut(credential_id) {
            Some(p) if p.user == user && passkey_counter_advances(p.counter, used.counter) => {
                p.counter = used.counter;
                p.backed_up = used.backed_up;
                p.credential.clone_from(&used.credential);
                p.last_used_at = Some(used.at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rename_passkey(&self, user: UserId, credential_id: &[u8], name: &str) -> Result<bool> {
        let mut g = self.lock()?;
        match g.passkeys.get_mut(credential_id) {
            Some(p) if p.user == user => {
                name.clone_into(&mut p.name);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_passkey(&self, user: UserId, credential_id: &[u8]) -> Result<bool> {
        let mut g = self.lock()?;
        if g.passkeys.get(credential_id).is_none_or(|p| p.user != user) {
            return Ok(false);
        }
        g.passkeys.remove(credential_id);
        if let Ok(u) = g.user_mut(user) {
            u.passkeys = u.passkeys.saturating_sub(1);
        }
        Ok(true)
    }
}

/// The state primitives on the data under the store's lock.
struct Locked<'a>(&'a mut Inner);

#[async_trait]
impl Primitives for Locked<'_> {
    async fn get(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        Ok(self.0.live(key, now).cloned())
    }

    async fn put(&mut self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        // Sweeping uses the entry's own expiry as "now" lower bound; harmless.
        self.0.insert(
            key,
            value.to_vec(),
            expires_at,
            Timestamp::from_millis(i64::MIN),
        );
        Ok(())
    }

    async fn put_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        if self.0.live(key, now).is_some() {
            return Ok(false);
        }
        self.0.insert(key, value.to_vec(), expires_at, now);
        Ok(true)
    }

    async fn take(&mut self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .state
            .remove(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v))
    }

    async fn delete(&mut self, key: &str) -> Result<()> {
        self.0.state.remove(key);
        Ok(())
    }

    async fn increment(
        &mut self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        let fresh_exp = now.plus(ttl);
        let (count, exp) = match self.0.state.get(key).filter(|(_, exp)| *exp > now) {
            Some((v, exp)) => {
                let n = decode_u64(v).saturating_add(1);
                (n, if extend { fresh_exp } else { *exp })
            }
            None => (1, fresh_exp),
        };
        self.0.insert(key, count.to_be_bytes().to_vec(), exp, now);
        Ok(Counter {
            count,
            expires_at: exp,
        })
    }

    async fn release(&mut self, key: &str, now: Timestamp) -> Result<()> {
        if let Some((v, exp)) = self.0.state.get_mut(key)
            && *exp > now
        {
            *v = decode_u64(v).saturating_sub(1).to_be_bytes().to_vec();
        }
        Ok(())
    }

    async fn advance(
        &mut self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        if let Some(v) = self.0.live(key, now)
            && decode_i64(v) >= value
        {
            return Ok(false);
        }
        self.0
            .insert(key, value.to_be_bytes().to_vec(), expires_at, now);
        Ok(true)
    }
}

/// Completes a future whose every step runs under the store's lock and
/// never waits (the [`Locked`] primitives are synchronous), without holding
/// the lock across an await point.
fn run_locked<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(Error::Internal(
            "a memory store step waited under the lock".into(),
        )),
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], expires_at: Timestamp) -> Result<()> {
        run_locked(Locked(&mut *self.lock()?).put(key, value, expires_at))
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        run_locked(Locked(&mut *self.lock()?).put_if_absent(key, value, expires_at, now))
    }

    async fn put_if_present(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let mut inner = self.lock()?;
        if inner.live(key, now).is_none() {
            return Ok(false);
        }
        inner.insert(key, value.to_vec(), expires_at, now);
        Ok(true)
    }

    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        run_locked(Locked(&mut *self.lock()?).get(key, now))
    }

    async fn take(&self, key: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        run_locked(Locked(&mut *self.lock()?).take(key, now))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        run_locked(Locked(&mut *self.lock()?).delete(key))
    }

    async fn increment(
        &self,
        key: &str,
        ttl: Duration,
        extend: bool,
        now: Timestamp,
    ) -> Result<Counter> {
        run_locked(Locked(&mut *self.lock()?).increment(key, ttl, extend, now))
    }

    async fn release(&self, key: &str, now: Timestamp) -> Result<()> {
        run_locked(Locked(&mut *self.lock()?).release(key, now))
    }

    async fn advance(
        &self,
        key: &str,
        value: i64,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        run_locked(Locked(&mut *self.lock()?).advance(key, value, expires_at, now))
    }

    async fn reserve_attempt(&self, spec: &AttemptSpec, now: Timestamp) -> Result<Admission> {
        run_locked(reference::reserve_attempt(
            &mut Locked(&mut *self.lock()?),
            spec,
            now,
        ))
    }

    async fn settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        run_locked(reference::settle_attempt(
            &mut Locked(&mut *self.lock()?),
            spec,
            settlement,
            now,
        ))
    }

    async fn reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        run_locked(reference::reserve_attempt_and_accept_step(
            &mut Locked(&mut *self.lock()?),
            spec,
            step,
            now,
        ))
    }

    async fn reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: crate::store::StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        run_locked(reference::reserve_attempt_and_check_step(
            &mut Locked(&mut *self.lock()?),
            spec,
            step,
            now,
        ))
    }
}

fn decode_u64(v: &[u8]) -> u64 {
    <[u8; 8]>::try_from(v).map(u64::from_be_bytes).unwrap_or(0)
}

fn decode_i64(v: &[u8]) -> i64 {
    <[u8; 8]>::try_from(v)
        .map(i64::from_be_bytes)
        .unwrap_or(i64::MIN)
}
