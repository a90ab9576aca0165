//! Web sessions in a [`StateStore`]: memory, SQLite or PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

use crate::clock::{Clock, Timestamp};
use crate::error::Error;
use crate::key::SecretKey;
use crate::store::StateStore;
use crate::web::SessionRecords;

/// A [`tower_sessions::SessionStore`](crate::axum::tower_sessions::SessionStore) over any [`StateStore`] of this crate,
/// so web sessions live where the rest of the state lives (memory, SQLite,
/// PostgreSQL), survive a restart and are shared by every app instance on
/// the same database.
///
/// Over [`SessionRecords`]: keyed-hash keys, so a copy of the database
/// does not reveal a live session id (the stored value holds only the
/// session's data and expiry); `create` gives every new session a fresh
/// random id (never one a session had before, even the id of the session
/// a logout just deleted) and never overwrites a live session; `save` only
/// updates a live session, so a logout or a login (which cycles the id)
/// stays final even when a request that loaded the session before
/// finishes after it. Every instance must use the same secret key (the
/// authenticator's is the one to give).
///
/// ```
/// use twofa_verify::axum::tower_sessions::SessionManagerLayer;
/// use twofa_verify::{MemoryStore, SecretKey, axum::StateSessionStore};
/// let key = SecretKey::generate(); // SecretKey::from_env("TWOFA_SECRET_KEY")? in an app
/// let store = MemoryStore::new(); // the same store the Authenticator uses
/// let layer = SessionManagerLayer::new(StateSessionStore::new(store, key));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct StateSessionStore {
    records: SessionRecords,
}

/// What is stored under the hashed key: no id.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    data: HashMap<String, serde_json::Value>,
    /// The record's expiry, in nanoseconds since the Unix epoch (exact).
    expiry_ns: i128,
}

impl StateSessionStore {
    /// A session store over `state`, keyed with `secret_key` (the same on
    /// every instance; the authenticator's is the one to give). See the
    /// [`StateSessionStore`] example.
    pub fn new(state: impl StateStore + 'static, secret_key: SecretKey) -> Self {
        Self::from_arc(Arc::new(state), secret_key)
    }

    /// Like [`new`](Self::new), over a shared store (an `Arc` the app also
    /// builds its authenticator from); see the [`StateSessionStore`]
    /// example.
    pub fn from_arc(state: Arc<dyn StateStore>, secret_key: SecretKey) -> Self {
        StateSessionStore {
            records: SessionRecords::from_arc(state, &secret_key),
        }
    }

    /// The sessions of an authenticator's web layer.
    pub(crate) fn from_records(records: SessionRecords) -> Self {
        StateSessionStore { records }
    }

    /// Uses `clock` for "now" when checking expiry (tests; see
    /// [`ManualClock`](crate::clock::ManualClock)'s example).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.records = self.records.with_clock(clock);
        self
    }

    fn encode(record: &Record) -> session_store::Result<(Vec<u8>, Timestamp)> {
        let expires = to_timestamp(record.expiry_date);
        let stored = Stored {
            data: record.data.clone(),
            expiry_ns: record.expiry_date.unix_timestamp_nanos(),
        };
        let bytes =
            serde_json::to_vec(&stored).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        Ok((bytes, expires))
    }
}

/// An `OffsetDateTime` as a [`Timestamp`] (milliseconds, saturating).
fn to_timestamp(t: OffsetDateTime) -> Timestamp {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Timestamp::from_millis(i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX }))
}

/// A [`Timestamp`] as an `OffsetDateTime` (clamped to the range `time` supports).
pub(crate) fn to_offset(t: Timestamp) -> OffsetDateTime {
    let nanos = i128::from(t.as_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if nanos < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        // The far end of what a cookie can say; nothing lives that long.
        OffsetDateTime::UNIX_EPOCH
            .saturating_add(tower_sessions::cookie::time::Duration::days(365 * 400))
    })
}

fn backend(e: Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The bytes of a session id in its state key.
fn id_bytes(id: &Id) -> [u8; 16] {
    id.0.to_le_bytes()
}

/// A new random session id, with its bytes.
struct FreshId(Id, [u8; 16]);

impl FreshId {
    fn draw() -> Self {
        let id = Id::default();
        FreshId(id, id_bytes(&id))
    }
}

impl AsRef<[u8]> for FreshId {
    fn as_ref(&self) -> &[u8] {
        &self.1
    }
}

#[async_trait]
impl tower_sessions::SessionStore for StateSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (bytes, expires) = Self::encode(record)?;
        // Always a fresh id, never the record's: after a logout
        // (`Session::flush`) tower-sessions creates the next session with
        // the deleted one's id, which a stale save of the old session (a
        // request in flight) would then overwrite, logged in. An id is
        // used once.
        record.id = self
            .records
            .create(FreshId::draw, &bytes, expires)
            .await
            .map_err(backend)?
            .0;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (bytes, expires) = Self::encode(record)?;
        // A refused save leaves the response with a cookie for a session
        // that no longer exists, which loads as none.
        self.records
            .save(&id_bytes(&record.id), &bytes, expires)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(bytes) = self.records.load(&id_bytes(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(stored.expiry_ns)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        if to_timestamp(expiry_date) <= self.records.now() {
            return Ok(None);
        }
        Ok(Some(Record {
            id: *id,
            data: stored.data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.records.delete(&id_bytes(id)).await.map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tower_sessions::SessionStore;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn key() -> SecretKey {
        SecretKey::from_bytes(b"session-store-test-key-0123456789abcdef".to_vec()).unwrap()
    }

    fn record(clock: &ManualClock, ttl: Duration, value: &str) -> Record {
        let mut data = HashMap::new();
        data.insert("k".to_owned(), serde_json::Value::from(value));
        Record {
            id: Id::default(),
            data,
            expiry_date: to_offset(clock.now().plus(ttl)),
        }
    }

    #[tokio::test]
    async fn keys_hide_the_id_and_values_hold_no_id() {
        let mem = MemoryStore::new();
        let clock = ManualClock::starting_now();
        let store = StateSessionStore::new(mem.clone(), key()).with_clock(clock.clone());
        let mut rec = record(&clock, Duration::from_secs(60), "v");
        store.create(&mut rec).await.unwrap();
        let key = store.records.state_key(&id_bytes(&rec.id));
        assert!(key.starts_with("websession:"));
        let id_text = rec.id.to_string();
        assert!(!key.contains(&id_text));
        let raw = mem.get(&key, clock.now()).await.unwrap().unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(!raw.contains(&id_text), "{raw}");
        assert!(!raw.contains(&rec.id.0.to_string()), "{raw}");
        // Another key maps the same id elsewhere.
        let other = StateSessionStore::new(mem, SecretKey::generate()).with_clock(clock);
        assert_ne!(other.records.state_key(&id_bytes(&rec.id)), key);
        assert_eq!(other.load(&rec.id).await.unwrap(), None);
        assert_eq!(store.load(&rec.id).await.unwrap(), Some(rec));
    }

    #[tokio::test]
    async fn create_never_overwrites_and_expiry_is_honoured() {
        let clock = ManualClock::starting_now();
        let store = StateSessionStore::new(MemoryStore::new(), key()).with_clock(clock.clone());
        let mut first = record(&clock, Duration::from_secs(60), "first");
        store.create(&mut first).await.unwrap();
        let mut second = record(&clock, Duration::from_secs(60), "second");
        second.id = first.id;
        store.create(&mut second).await.unwrap();
        assert_ne!(second.id, first.id, "a colliding id is replaced");
        assert_eq!(store.load(&first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(store.load(&second.id).await.unwrap(), Some(second.clone()));

        clock.advance(Duration::from_secs(61));
        assert_eq!(store.load(&first.id).await.unwrap(), None);
        // An id is never used again, even once its session is gone.
        let mut third = record(&clock, Duration::from_secs(60), "third");
        third.id = first.id;
        store.create(&mut third).await.unwrap();
        assert_ne!(third.id, first.id);
        store.delete(&second.id).await.unwrap();
        let mut fourth = record(&clock, Duration::from_secs(60), "fourth");
        fourth.id = second.id;
        store.create(&mut fourth).await.unwrap();
        assert_ne!(fourth.id, second.id, "the id of a deleted session");

        // Saving an expired record removes it.
        third.expiry_date = to_offset(clock.now());
        store.save(&third).await.unwrap();
        assert_eq!(store.load(&third.id).await.unwrap(), None);
        store.delete(&third.id).await.unwrap();
    }

    #[tokio::test]
    async fn a_stale_save_never_revives_a_deleted_session() {
        let clock = ManualClock::starting_now();
        let store = StateSessionStore::new(MemoryStore::new(), key()).with_clock(clock.clone());
        let mut rec = record(&clock, Duration::from_secs(60), "logged in");
        store.create(&mut rec).await.unwrap();
        let in_flight = store.load(&rec.id).await.unwrap().unwrap();
        store.delete(&rec.id).await.unwrap();
        store.save(&in_flight).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
        // Nor through the next session created after it (a logout that
        // keeps a flash message creates one at once).
        let mut next = in_flight.clone();
        next.data.clear();
        store.create(&mut next).await.unwrap();
        store.save(&in_flight).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
        assert_eq!(store.load(&next.id).await.unwrap(), Some(next));
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error_not_a_panic() {
        let mem = MemoryStore::new();
        let clock = ManualClock::starting_now();
        let store = StateSessionStore::new(mem.clone(), key()).with_clock(clock.clone());
        let id = Id::default();
        mem.put(
            &store.records.state_key(&id_bytes(&id)),
            b"{not json",
            clock.now().plus(Duration::from_secs(9)),
        )
        .await
        .unwrap();
        assert!(matches!(
            store.load(&id).await,
            Err(session_store::Error::Decode(_))
        ));
    }

    #[test]
    fn the_key_is_not_shown() {
        let s = StateSessionStore::new(MemoryStore::new(), key());
        assert!(!format!("{s:?}").contains("0123456789"));
    }

    #[test]
    fn times_convert_both_ways() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(to_timestamp(to_offset(t)), t);
        assert_eq!(
            to_offset(Timestamp::from_millis(i64::MIN)),
            OffsetDateTime::UNIX_EPOCH
        );
        assert!(to_offset(Timestamp::from_millis(i64::MAX)) > OffsetDateTime::now_utc());
    }
}
