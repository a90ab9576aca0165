//! The store conformance suite (feature `test-util`): checks that a
//! [`UserStore`] or [`StateStore`] implementation keeps the contract
//! documented on the traits (uniqueness, compare-and-set, single use and
//! atomicity under concurrency, expiry semantics, verbatim storage of hostile
//! strings). The crate runs it against its own stores; a third-party store
//! runs it from its own tests.
//!
//! The checks are split by trait: [`users`] and [`credentials`] for a
//! [`UserStore`], [`state`], [`attempts`] (its compound operations) and [`differential`]
//! (those operations against their reference steps) for a [`StateStore`]. Every check is a public
//! `async fn` taking a fresh, empty store (all are re-exported here). Either
//! call a runner ([`run_user_store`], [`run_state_store`], [`run_all`] for a
//! store that is both) or expand a macro to get one `#[tokio::test]` per
//! check, which names the check that failed:
//!
//! ```toml
//! [dev-dependencies]
//! twofa-verify = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```
//! // tests/conformance.rs of a crate with stores of its own (the crate's
//! // stores stand in for them here).
//! use twofa_verify::{MemoryStore, SqliteStore};
//!
//! // A store that is both: every check of both traits.
//! twofa_verify::conformance_suite!(async { Some(MemoryStore::new()) });
//!
//! // A state store whose database may be missing (`None` skips the test),
//! // with a clean-up after each passing check.
//! mod sqlite_state {
//!     use super::*;
//!     twofa_verify::state_store_conformance!(
//!         async { SqliteStore::in_memory().await.ok() },
//!         |store: SqliteStore| async move { store.pool().close().await }
//!     );
//! }
//! # fn main() {}
//! ```
//!
//! The macros take an expression evaluating to a future of `Option<store>`
//! (evaluated once per test; `None` skips the test, e.g. when no database is
//! configured), and optionally a closure taking the store and returning a
//! future, run after a passing check (for cleanup).
//!
//! A store of another crate needs nothing private to pass: the traits, the
//! records ([`UserRecord`], [`NewUser`], [`DeviceRecord`], [`StoredSecret`],
//! [`Counter`]) and [`Timestamp`] are public, and so are the building
//! blocks of the compound state operations, [`Primitives`] and
//! [`reference`], which run the steps of an attempt's reservation and
//! settlement over the store's own transaction or lock (a store that
//! implements only the primitive methods gets them one call per step from
//! the trait's default methods, and passes too). `tests/third_party_store.rs`
//! in the crate's repository is such a store, checked through public paths
//! only.
//!
//! [`Primitives`]: crate::store::attempt::Primitives
//! [`reference`]: crate::store::attempt::reference
//!
//! Time never passes by sleeping: every check uses explicit [`Timestamp`]s,
//! deliberately far from the wall clock, so a store that compared expiry with
//! its own clock instead of the `now` argument fails.
//!
//! This module is test code: its checks panic (through `assert!` and
//! `unwrap`) to fail the test that runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

use crate::store::{
    Counter, DeviceRecord, NewUser, StateStore, StoredSecret, UserRecord, UserStore,
};
use crate::user::{Username, username_skeleton};
use crate::{Authenticator, Error, Timestamp, UserId};

pub mod attempt_bursts;
pub mod attempts;
pub mod audit;
pub mod credentials;
pub mod differential;
pub mod passkeys;
pub mod requirement;
pub mod state;
pub mod update;
pub mod users;

pub use attempt_bursts::*;
pub use attempts::*;
pub use audit::*;
pub use credentials::*;
pub use differential::*;
pub use passkeys::*;
pub use requirement::*;
pub use state::*;
pub use update::*;
pub use users::*;

/// What a user store under test must be: cloneable (clones share the data)
/// and `'static`, so that racing tasks can each own a clone. Implemented
/// for every such store; see [`run_user_store`].
pub trait UserStoreUnderTest: UserStore + Clone + 'static {}
impl<S: UserStore + Clone + 'static> UserStoreUnderTest for S {}

/// What a state store under test must be: cloneable (clones share the data)
/// and `'static`, so that racing tasks can each own a clone. Implemented
/// for every such store; see [`run_state_store`] (in the
/// [`run_user_store`] example).
pub trait StateStoreUnderTest: StateStore + Clone + 'static {}
impl<S: StateStore + Clone + 'static> StateStoreUnderTest for S {}

/// A store that is both (such as the crate's own stores); see [`run_all`].
pub trait StoreUnderTest: UserStoreUnderTest + StateStoreUnderTest {}
impl<S: UserStoreUnderTest + StateStoreUnderTest> StoreUnderTest for S {}

/// How many tasks race in the concurrency checks (and in a check of your
/// own, see [`race`]).
pub const RACERS: usize = 20;
/// How many registrations of look-alike names race through an
/// Authenticator (see [`alice_look_alikes`]).
pub const BURST: usize = 100;
/// How many tasks increment one counter at once, in the checks
/// [`run_state_store`] runs (see the [`run_user_store`] example).
pub const INCREMENTERS: usize = 50;

/// A strange, fixed "now": 2001-09-09, far from the wall clock (see
/// [`at`]).
pub const T0: Timestamp = Timestamp::from_millis(1_000_000_000_000);

/// `T0` plus `ms` milliseconds: every time a check passes to a store.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::conformance::{T0, at};
/// assert_eq!(at(1_500), T0.plus(Duration::from_millis(1_500)));
/// assert!(at(-1) < T0);
/// ```
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + ms)
}

/// Strings that would break a store building SQL by concatenation, plus
/// unicode that a store must keep byte for byte.
///
/// ```
/// use twofa_verify::conformance::{HOSTILE, at};
/// use twofa_verify::{MemoryStore, StateStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new(); // your store
/// for text in HOSTILE {
///     store.put(text, text.as_bytes(), at(60_000)).await?;
///     assert_eq!(store.get(text, at(0)).await?.as_deref(), Some(text.as_bytes()));
/// }
/// # Ok(())
/// # }
/// ```
pub const HOSTILE: &[&str] = &[
    "Robert'); DROP TABLE users;--",
    "Robert'); DROP TABLE twofa_users;--",
    "'; DELETE FROM twofa_state; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1",
    "a\\'b\\\\c",
    "$1 $2 ?1 ? :name @p1",
    "100%_match",
    "x'); DROP SCHEMA public CASCADE; --",
    "/* comment */ --",
    "Ünïcödé-ß-ẞ-İ-ı",
    "名前-🦀-👩‍👩‍👧‍👦",
    "e\u{301}-é",
    "\u{202e}rtl-override",
    "tab\tnew\nline\r",
];

/// The confusable skeleton of a username key (shorthand for
/// [`username_skeleton`]; see [`race`]).
pub fn sk(key: &str) -> String {
    username_skeleton(key)
}

/// A `NewUser` whose username key, skeleton and email are derived from
/// `name` (see [`race`]).
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        username_key: name.to_lowercase(),
        username_skeleton: sk(&name.to_lowercase()),
        email: format!("{}@example.com", name.to_lowercase()),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}"),
        created_at: at(0),
    }
}

/// A fake recovery-code hash, one per `n` (see [`race`]).
pub fn code(n: u8) -> [u8; 32] {
    let mut h = [n; 32];
    h[0] = 0;
    h[31] = 0xff;
    h
}

async fn create(store: &impl UserStore, name: &str) -> UserRecord {
    match store.create_user(new_user(name)).await {
        Ok(u) => u,
        Err(e) => panic!("create_user({name:?}) failed: {e:?}"),
    }
}

/// Spawns `n` tasks running `f(store_clone, i)` at once; returns their results in order.
///
/// A check of your own, written like the suite's:
///
/// ```
/// use twofa_verify::conformance::{RACERS, code, new_user, race, sk};
/// use twofa_verify::{MemoryStore, UserStore};
///
/// #[tokio::main(flavor = "multi_thread", worker_threads = 4)]
/// async fn main() {
///     let store = MemoryStore::new(); // your store
///     let alice = store.create_user(new_user("Alice")).await.unwrap();
///     assert_eq!(alice.username_skeleton, Some(sk("alice")));
///     store.replace_recovery_codes(alice.id, &[code(1), code(2)]).await.unwrap();
///
///     // RACERS tasks spend the same recovery code at once: one wins.
///     let won = race(&store, RACERS, move |s, _i| async move {
///         s.use_recovery_code(alice.id, &code(1)).await.unwrap()
///     })
///     .await;
///     assert_eq!(won.iter().filter(|w| **w).count(), 1);
/// }
/// ```
pub async fn race<S, F, Fut, T>(store: &S, n: usize, f: F) -> Vec<T>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(store.clone(), i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("racing task panicked"));
    }
    out
}

/// Runs every [`UserStore`] check, each on a fresh store from `make`.
/// [`run_state_store`] does the same for a [`StateStore`]; a store that is
/// both runs [`run_all`].
///
/// ```no_run
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use twofa_verify::conformance::{run_state_store, run_user_store};
/// use twofa_verify::{PostgresStore, RedisStore};
///
/// #[tokio::main(flavor = "multi_thread", worker_threads = 4)]
/// async fn main() {
///     // Users in PostgreSQL, state in Redis (the crate's stores stand in
///     // for yours). Every check gets an empty store: a schema, a key
///     // prefix of its own.
///     let n = AtomicUsize::new(0);
///     run_user_store(|| {
///         let schema = format!("conformance_{}", n.fetch_add(1, Ordering::Relaxed));
///         async move {
///             PostgresStore::connect_with_schema("postgres://postgres@127.0.0.1/test", &schema)
///                 .await
///                 .unwrap()
///         }
///     })
///     .await;
///     run_state_store(|| {
///         let prefix = format!("conformance:{}:", n.fetch_add(1, Ordering::Relaxed));
///         async move {
///             RedisStore::builder("redis://127.0.0.1:6379").prefix(prefix).connect().await.unwrap()
///         }
///     })
///     .await;
/// }
/// ```
pub async fn run_user_store<S, F, Fut>(make: F)
where
    S: UserStoreUnderTest,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_and_lookup(make().await).await;
    uniqueness(make().await).await;
    concurrent_create_same_username(make().await).await;
    skeleton_uniqueness(make().await).await;
    concurrent_create_same_skeleton(make().await).await;
    concurrent_confusable_registrations(make().await).await;
    update_profile(make().await).await;
    hostile_user_strings(make().await).await;
    password_hash(make().await).await;
    phone_and_totp(make().await).await;
    recovery_codes(make().await).await;
    concurrent_recovery_code(make().await).await;
    credential_generation(make().await).await;
    devices(make().await).await;
    unenrolled_sign_ins(make().await).await;
    concurrent_unenrolled_sign_ins(make().await).await;
}

/// Runs every [`StateStore`] check, each on a fresh store from `make` (see
/// the [`run_user_store`] example).
pub async fn run_state_store<S, F, Fut>(make: F)
where
    S: StateStoreUnderTest,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    put_get_delete(make().await).await;
    put_if_absent(make().await).await;
    take(make().await).await;
    concurrent_take(make().await).await;
    concurrent_put_if_absent(make().await).await;
    put_if_present(make().await).await;
    concurrent_put_if_present_and_delete(make().await).await;
    increment(make().await).await;
    concurrent_increment(make().await).await;
    release(make().await).await;
    concurrent_release(make().await).await;
    advance(make().await).await;
    concurrent_advance(make().await).await;
    hostile_state_keys(make().await).await;
    reserve_attempt(make().await).await;
    reserve_attempt_budgets(make().await).await;
    reserve_attempt_hold(make().await).await;
    settle_attempt(make().await).await;
    reserve_attempt_and_accept_step(make().await).await;
    concurrent_reserve_attempt(make().await).await;
    concurrent_reserve_budget(make().await).await;
    concurrent_settle_attempt(make().await).await;
    concurrent_accept_step(make().await).await;
    reserve_attempt_and_check_step(make().await).await;
    concurrent_check_step(make().await).await;
    compound_matches_reference(make().await).await;
}

/// Runs every check of both traits, each on a fresh store from `make`.
///
/// ```
/// use twofa_verify::MemoryStore;
/// use twofa_verify::conformance::run_all;
///
/// #[tokio::main(flavor = "multi_thread", worker_threads = 4)]
/// async fn main() {
///     run_all(|| async { MemoryStore::new() }).await; // panics at the first failing check
/// }
/// ```
pub async fn run_all<S, F, Fut>(make: F)
where
    S: StoreUnderTest,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_user_store(&make).await;
    run_state_store(&make).await;
}

/// Expands to one multi-threaded `#[tokio::test]` per [`UserStore`]
/// conformance check (see the [module docs](crate::conformance)).
#[macro_export]
macro_rules! user_store_conformance {
    ($make:expr) => {
        $crate::user_store_conformance!($make, |_store| async {});
    };
    ($make:expr, $finish:expr) => {
        $crate::__conformance_tests!(($make) ($finish)
            create_and_lookup uniqueness concurrent_create_same_username skeleton_uniqueness
            concurrent_create_same_skeleton concurrent_confusable_registrations update_profile
            hostile_user_strings password_hash phone_and_totp recovery_codes
            concurrent_recovery_code credential_generation devices);
    };
}

/// Expands to one multi-threaded `#[tokio::test]` per [`StateStore`]
/// conformance check (see the [module docs](crate::conformance)).
#[macro_export]
macro_rules! state_store_conformance {
    ($make:expr) => {
        $crate::state_store_conformance!($make, |_store| async {});
    };
    ($make:expr, $finish:expr) => {
        $crate::__conformance_tests!(($make) ($finish)
            put_get_delete put_if_absent take concurrent_take concurrent_put_if_absent
            put_if_present concurrent_put_if_present_and_delete increment concurrent_increment release concurrent_release advance
            concurrent_advance hostile_state_keys reserve_attempt reserve_attempt_budgets
            reserve_attempt_hold
            settle_attempt reserve_attempt_and_accept_step concurrent_reserve_attempt
            concurrent_reserve_budget concurrent_settle_attempt concurrent_accept_step
            reserve_attempt_and_check_step concurrent_check_step compound_matches_reference);
    };
}

/// Expands to one multi-threaded `#[tokio::test]` per conformance check of
/// both traits, for a store that is a [`UserStore`] and a [`StateStore`]
/// (see the [module docs](crate::conformance)).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!($make, |_store| async {});
    };
    ($make:expr, $finish:expr) => {
        $crate::user_store_conformance!($make, $finish);
        $crate::state_store_conformance!($make, $finish);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($make:expr) ($finish:expr) $($name:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make.await else { return };
                $crate::conformance::$name(store.clone()).await;
                ($finish)(store).await;
            }
        )*
    };
}

/// Runs every [`AuditStore`](crate::store::AuditStore) check, each on a
/// fresh store from `make` (a store that is also a user and state store).
///
/// ```
/// use twofa_verify::MemoryStore;
/// use twofa_verify::conformance::run_audit_store;
///
/// #[tokio::main(flavor = "multi_thread", worker_threads = 4)]
/// async fn main() {
///     run_audit_store(|| async { MemoryStore::new() }).await;
/// }
/// ```
pub async fn run_audit_store<S, F, Fut>(make: F)
where
    S: AuditStoreUnderTest,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    audit_append_and_list(make().await).await;
    audit_hostile_text(make().await).await;
    audit_prune(make().await).await;
    audit_concurrent_append(make().await).await;
    audit_through_authenticators(make().await).await;
}

/// Expands to one multi-threaded `#[tokio::test]` per
/// [`AuditStore`](crate::store::AuditStore) conformance check (see the
/// [module docs](crate::conformance) and [`run_audit_store`]).
#[macro_export]
macro_rules! audit_store_conformance {
    ($make:expr) => {
        $crate::audit_store_conformance!($make, |_store| async {});
    };
    ($make:expr, $finish:expr) => {
        $crate::__conformance_tests!(($make) ($finish)
            audit_append_and_list audit_hostile_text audit_prune audit_concurrent_append
            audit_through_authenticators);
    };
}
