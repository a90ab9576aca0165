//! Time, behind a seam so that tests can move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, as milliseconds since the Unix epoch.
///
/// The stores keep every expiry as one of these, and every store call that
/// compares with expiry takes the caller's `now`
/// ([`Authenticator::now`](crate::Authenticator::now)), never the database's
/// clock.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::Timestamp;
///
/// let t = Timestamp::from_millis(1_700_000_000_500);
/// let later = t.plus(Duration::from_secs(90));
/// assert_eq!(later.as_millis(), 1_700_000_090_500);
/// assert_eq!(later.as_secs(), 1_700_000_090); // rounded down
/// assert_eq!(t.until(later), Duration::from_secs(90));
/// assert_eq!(later.until(t), Duration::ZERO); // never negative
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the Unix epoch (see the [`Timestamp`]
    /// example); `const`, so fixed test times can be constants.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }
    /// Milliseconds since the Unix epoch, the unit the SQL stores keep in
    /// their `expires_at` columns (see the [`Timestamp`] example).
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// Seconds since the Unix epoch, rounded down (toward the past, also
    /// before 1970).
    ///
    /// ```
    /// # use twofa_verify::Timestamp;
    /// assert_eq!(Timestamp::from_millis(1_999).as_secs(), 1);
    /// assert_eq!(Timestamp::from_millis(-1).as_secs(), -1);
    /// ```
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// This instant plus `d`, saturating at the end of time rather than
    /// overflowing: an expiry is `now.plus(ttl)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use twofa_verify::Timestamp;
    /// let never = Timestamp::from_millis(0).plus(Duration::MAX);
    /// assert_eq!(never.as_millis(), i64::MAX);
    /// ```
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    /// How long from `self` until `later`, zero if `later` is not later:
    /// the time left before an expiry (see the [`Timestamp`] example).
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }
}

/// The source of the current time: [`SystemClock`] in production,
/// [`ManualClock`] in tests, given to
/// [`AuthenticatorBuilder::clock`](crate::AuthenticatorBuilder::clock).
///
/// ```
/// use twofa_verify::Timestamp;
/// use twofa_verify::clock::{Clock, ManualClock, SystemClock};
///
/// fn expired(clock: &dyn Clock, expires_at: Timestamp) -> bool {
///     clock.now() >= expires_at
/// }
/// assert!(!expired(&SystemClock, Timestamp::from_millis(i64::MAX)));
/// assert!(expired(&ManualClock::new(Timestamp::from_millis(5)), Timestamp::from_millis(5)));
/// ```
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time (see the [`Clock`] example).
    fn now(&self) -> Timestamp;
}

/// The real wall clock, the [`Clock`] an
/// [`Authenticator`](crate::Authenticator) uses unless told otherwise (see
/// the [`Clock`] example).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock that only moves when told to: for tests of expiry, windows and locks.
///
/// Cloning shares the same time, so a test keeps one clone and gives the
/// other to the authenticator:
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::clock::{Clock, ManualClock};
/// use twofa_verify::{Authenticator, MemoryStore, SecretKey, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_millis(1_000_000_000_000));
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .clock(clock.clone())
///     .build()?;
/// clock.advance(Duration::from_secs(15 * 60)); // a lock's whole duration
/// assert_eq!(auth.now(), Timestamp::from_millis(1_000_000_900_000));
/// clock.set(Timestamp::from_millis(0));
/// assert_eq!(clock.now().as_millis(), 0);
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `start` (see the [`ManualClock`] example).
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }
    /// A clock stopped at the current wall-clock time: for tests whose
    /// times must also make sense outside the crate (a session cookie's
    /// expiry, a Redis TTL). See the [`ManualClock`] example.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }
    /// Moves the clock forward by `d`, for every clone (see the
    /// [`ManualClock`] example).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock to `t`, also backwards (see the [`ManualClock`]
    /// example).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
