//! SQL stores: [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`]
//! (feature `postgres`).
//!
//! Their statements are written once, for both: `users` writes the
//! `UserStore` impl and `state` the `StateStore` impl of a store, from
//! statements that both databases read alike. Each store's own module holds
//! only what differs: opening the database, its migrations, the compound
//! state operations, and the bulk insert of recovery codes.
//!
//! Both keep their tables (all prefixed `twofa_`) in a database that may also
//! hold the application's own tables, and track their migrations in their own
//! table, `twofa_migrations`, so that they never interfere with an
//! application's `sqlx` migrations.
//!
//! Every primitive atomic operation of the traits is a single SQL statement
//! (an upsert with a `WHERE` on the conflicting row, a `DELETE ... RETURNING`,
//! an `UPDATE ... WHERE password_hash = $expected`) or relies on a unique
//! constraint; nothing is read and then written from Rust. The compound
//! state operations (an attempt's reservation and settlement) run those same
//! statements atomically: in SQLite one `BEGIN IMMEDIATE` transaction, in
//! PostgreSQL one call of a SQL function that holds the lockout's advisory
//! lock (see `state` and `postgres_attempt`), one round trip. Expiry is
//! always compared with the caller's `now`, never with the database clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

mod audit;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_attempt;
#[cfg(feature = "sqlite")]
mod sqlite;
mod state;
mod users;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Name of the table that records which of the crate's migrations ran.
const MIGRATIONS_TABLE: &str = "twofa_migrations";

/// Every this many state writes that know `now`, expired state rows are purged.
const PURGE_EVERY: u64 = 1024;

/// Converts a stored count to the trait's `u64`.
fn count_from_db(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Internal("negative counter in the state store".into()))
}

/// Decides when to run the occasional purge of expired state rows; shared by
/// the clones of a store.
#[derive(Clone, Default)]
struct PurgeTicker(Arc<AtomicU64>);

impl PurgeTicker {
    /// True once every [`PURGE_EVERY`] calls.
    fn tick(&self) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
    }
}

/// Checks that `schema` is a plain SQL identifier (ASCII letter or `_`, then
/// letters, digits or `_`, at most 63 bytes), so it can be quoted safely.
#[cfg(any(feature = "postgres", test))]
fn valid_identifier(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && schema.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(valid_identifier("twofa"));
        assert!(valid_identifier("_t_1"));
        assert!(!valid_identifier(""));
        assert!(!valid_identifier("1abc"));
        assert!(!valid_identifier("a\"; DROP SCHEMA public; --"));
        assert!(!valid_identifier("ümlaut"));
        assert!(!valid_identifier(&"a".repeat(64)));
    }

    #[test]
    fn ticker() {
        let t = PurgeTicker::default();
        let fired = (0..PURGE_EVERY * 3).filter(|_| t.tick()).count();
        assert_eq!(fired, 3);
    }
}
