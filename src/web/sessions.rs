//! Web sessions in a [`StateStore`]: memory, SQLite, PostgreSQL or Redis.

use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::crypto::{Keys, random_token};
use crate::error::{Error, Result};
use crate::key::SecretKey;
use crate::store::StateStore;

/// The state-key prefix (and keyed-hash purpose) of web sessions.
const PREFIX: &str = "websession";

/// How many fresh ids [`SessionRecords::create`] tries before giving up. A
/// collision of two random 128-bit ids is never expected; the bound only
/// keeps a store that wrongly answers "taken" from looping forever.
const CREATE_ATTEMPTS: usize = 8;

/// Web session records in any [`StateStore`] of this crate, for a web
/// framework's session-store trait (tower-sessions' `StateSessionStore`
/// of feature `axum` is one; an
/// actix-session store another), so web sessions live where the rest of
/// the state lives, survive a restart and are shared by every app instance
/// on the same database.
///
/// - The state key is a keyed hash (HMAC-SHA-256 under a key derived from
///   the secret key) of the session id, so a copy of the database does not
///   reveal a live session id. Store only the session's data in the value,
///   never its id.
/// - A record expires at the time given with it; an expired record loads
///   as none.
/// - [`create`](Self::create) gives every new session a fresh id and never
///   overwrites a live session ([`StateStore::put_if_absent`], drawing again
///   on a collision).
/// - [`save`](Self::save) only updates a live session
///   ([`StateStore::put_if_present`]): a deleted session (logout) or a
///   replaced id (login) stays dead, even when a request that loaded it
///   before finishes after the logout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> twofa_verify::Result<()> {
/// use std::time::Duration;
/// use twofa_verify::{MemoryStore, SecretKey, web::SessionRecords};
/// let records = SessionRecords::new(MemoryStore::new(), &SecretKey::generate());
/// let expires = records.now().plus(Duration::from_secs(3600));
/// let id = records.create(|| "a fresh random session id".to_owned(), b"{}", expires).await?;
/// assert_eq!(records.load(id.as_bytes()).await?.as_deref(), Some(&b"{}"[..]));
/// records.delete(id.as_bytes()).await?;
/// // A request that loaded the session before the logout cannot revive it.
/// assert!(!records.save(id.as_bytes(), b"{}", expires).await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionRecords {
    state: Arc<dyn StateStore>,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SessionRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecords")
            .field("state", &self.state)
            .field("keys", &self.keys)
            .field("clock", &self.clock)
            .finish()
    }
}

impl SessionRecords {
    /// Records in `state`, keyed with `secret_key` (the same on every
    /// instance; the authenticator's is the one to give). See the
    /// [`SessionRecords`] example.
    pub fn new(state: impl StateStore + 'static, secret_key: &SecretKey) -> Self {
        Self::from_arc(Arc::new(state), secret_key)
    }

    /// Like [`new`](Self::new), over a shared store: the one the app's
    /// [`Authenticator`](crate::Authenticator) was built with, behind an
    /// `Arc` (see the [`SessionRecords`] example).
    pub fn from_arc(state: Arc<dyn StateStore>, secret_key: &SecretKey) -> Self {
        SessionRecords {
            state,
            keys: Keys::from(secret_key),
            clock: Arc::new(SystemClock),
        }
    }

    /// Records sharing an authenticator's store, keys and clock.
    #[cfg(feature = "axum")]
    pub(crate) fn from_parts(
        state: Arc<dyn StateStore>,
        keys: Keys,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SessionRecords { state, keys, clock }
    }

    /// Uses `clock` for "now" (tests; see
    /// [`ManualClock`](crate::clock::ManualClock)'s example).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Now, by the records' clock: the time expiries are counted from (see
    /// the [`SessionRecords`] example).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn key(&self, id: &[u8]) -> String {
        self.keys.state_key(PREFIX, id)
    }

    /// Stores a new session's `value` until `expires` under an id drawn
    /// from `fresh_id` (128 random bits or more), drawing again while the
    /// id is taken; returns the id. Draw a new id every time, never reuse
    /// the id of a session that a logout deleted. See the
    /// [`SessionRecords`] example.
    pub async fn create<I: AsRef<[u8]>>(
        &self,
        mut fresh_id: impl FnMut() -> I,
        value: &[u8],
        expires: Timestamp,
    ) -> Result<I> {
        for _ in 0..CREATE_ATTEMPTS {
            let id = fresh_id();
            let key = self.key(id.as_ref());
            if self
                .state
                .put_if_absent(&key, value, expires, self.clock.now())
                .await?
            {
                return Ok(id);
            }
        }
        Err(Error::store("no free session id after several attempts"))
    }

    /// Like [`create`](Self::create), with ids of 256 random bits in
    /// URL-safe base64 (43 characters): for frameworks whose session
    /// store names the session (actix-session's `SessionKey`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::{MemoryStore, SecretKey, web::SessionRecords};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let records = SessionRecords::new(MemoryStore::new(), &SecretKey::generate());
    /// let expires = records.now().plus(Duration::from_secs(3600));
    /// let id = records.create_random(br#"{"user":1}"#, expires).await?;
    /// assert_eq!(id.len(), 43); // the cookie's value
    /// assert!(records.save(id.as_bytes(), br#"{"user":1,"n":2}"#, expires).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_random(&self, value: &[u8], expires: Timestamp) -> Result<String> {
        self.create(random_token::<32>, value, expires).await
    }

    /// Replaces a live session's value and expiry; `false` (nothing
    /// written) when the session is gone: deleted, replaced or expired. An
    /// `expires` already past deletes the session. See the
    /// [`SessionRecords`] example.
    pub async fn save(&self, id: &[u8], value: &[u8], expires: Timestamp) -> Result<bool> {
        let key = self.key(id);
        let now = self.clock.now();
        if expires <= now {
            self.state.delete(&key).await?;
            return Ok(false);
        }
        let saved = self.state.put_if_present(&key, value, expires, now).await?;
        if !saved {
            tracing::debug!("a stale session save was refused (deleted, replaced or expired)");
        }
        Ok(saved)
    }

    /// The session's value, while it lives (see the [`SessionRecords`]
    /// example).
    pub async fn load(&self, id: &[u8]) -> Result<Option<Vec<u8>>> {
        self.state.get(&self.key(id), self.clock.now()).await
    }

    /// Deletes the session (logout); see the [`SessionRecords`] example.
    pub async fn delete(&self, id: &[u8]) -> Result<()> {
        self.state.delete(&self.key(id)).await
    }

    /// The state key of a session id (tests of the adapters).
    #[cfg(test)]
    pub(crate) fn state_key(&self, id: &[u8]) -> String {
        self.key(id)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn records_live_until_they_expire_and_never_revive() {
        let mem = MemoryStore::new();
        let clock = ManualClock::starting_now();
        let records =
            SessionRecords::new(mem.clone(), &SecretKey::generate()).with_clock(clock.clone());
        let until = clock.now().plus(Duration::from_secs(60));
        let mut ids = vec!["taken".to_owned()];
        mem.put(&records.state_key(b"taken"), b"other", until)
            .await
            .unwrap();
        // A taken id is never overwritten: the next one is drawn.
        let id = records
            .create(
                || {
                    let next = ids.remove(0);
                    ids.push("second".into());
                    next
                },
                b"v1",
                until,
            )
            .await
            .unwrap();
        assert_eq!(id, "second");
        let key = records.state_key(b"second");
        assert!(key.starts_with("websession:") && !key.contains("second"));
        assert!(records.save(b"second", b"v2", until).await.unwrap());
        assert_eq!(records.load(b"second").await.unwrap().unwrap(), b"v2");
        records.delete(b"second").await.unwrap();
        assert!(!records.save(b"second", b"v3", until).await.unwrap());
        assert_eq!(records.load(b"second").await.unwrap(), None);
        let random = records.create_random(b"r", until).await.unwrap();
        assert_eq!(random.len(), 43);
        assert_eq!(
            records.load(random.as_bytes()).await.unwrap().unwrap(),
            b"r"
        );
        // Expiry, and a save at a past expiry deletes.
        let id = records.create(|| "third", b"v", until).await.unwrap();
        assert!(
            !records
                .save(id.as_bytes(), b"v", clock.now())
                .await
                .unwrap()
        );
        assert_eq!(records.load(b"third").await.unwrap(), None);
        let id = records.create(|| "fourth", b"v", until).await.unwrap();
        clock.advance(Duration::from_secs(61));
        assert_eq!(records.load(id.as_bytes()).await.unwrap(), None);
        // A store that always answers "taken": an error, not a loop.
        let far = clock.now().plus(Duration::from_secs(999));
        records.create(|| "taken", b"v", far).await.unwrap();
        let err = records.create(|| "taken", b"v", far).await;
        assert!(matches!(err, Err(Error::Store(_))));
        // Another key sees nothing.
        let other = SessionRecords::new(mem, &SecretKey::generate()).with_clock(clock);
        assert_ne!(other.state_key(b"taken"), records.state_key(b"taken"));
    }
}
