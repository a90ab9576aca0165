//! SQL stores: [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`]
//! (feature `postgres`).
//!
//! Both keep their tables (all prefixed `twofa_`) in a database that may also
//! hold the application's own tables, and track their migrations in their own
//! table, `twofa_migrations`, so that they never interfere with an
//! application's `sqlx` migrations.
//!
//! Every atomic operation of the traits is a single SQL statement (an upsert
//! with a `WHERE` on the conflicting row, a `DELETE ... RETURNING`, an
//! `UPDATE ... WHERE password_hash = $expected`) or relies on a unique
//! constraint; nothing is read and then written from Rust. Expiry is always
//! compared with the caller's `now`, never with the database clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{StoredSecret, UserRecord};
use crate::user::UserId;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Name of the table that records which of the crate's migrations ran.
const MIGRATIONS_TABLE: &str = "twofa_migrations";

/// Every this many state writes that know `now`, expired state rows are purged.
const PURGE_EVERY: u64 = 1024;

/// The columns of `twofa_users`, in the order [`UserRow`] reads them.
macro_rules! user_columns {
    () => {
        "id, username, username_key, username_skeleton, email, password_hash, phone, totp_key_id, totp_sealed, created_at"
    };
}
pub(crate) use user_columns;

/// A row of `twofa_users` as the database returns it.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    username_key: String,
    username_skeleton: Option<String>,
    email: String,
    password_hash: String,
    phone: Option<String>,
    totp_key_id: Option<i64>,
    totp_sealed: Option<Vec<u8>>,
    created_at: i64,
}

impl UserRow {
    fn into_record(self) -> Result<UserRecord> {
        let totp = match (self.totp_key_id, self.totp_sealed) {
            (Some(key_id), Some(sealed)) => {
                let key_id = u32::try_from(key_id).map_err(|_| {
                    Error::Internal(format!("user {}: TOTP key id out of range", self.id))
                })?;
                Some(StoredSecret { key_id, sealed })
            }
            (None, None) => None,
            _ => {
                return Err(Error::Internal(format!(
                    "user {}: incomplete TOTP secret",
                    self.id
                )));
            }
        };
        Ok(UserRecord {
            id: UserId(self.id),
            username: self.username,
            username_key: self.username_key,
            username_skeleton: self.username_skeleton,
            email: self.email,
            password_hash: self.password_hash,
            phone: self.phone,
            totp,
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

/// Maps an error of a statement that writes `username_key`,
/// `username_skeleton` or `email`: unique violations become `UsernameTaken`
/// (key or skeleton) / `EmailTaken`, a foreign-key
/// violation `UserNotFound`, anything else `Error::Store`.
fn user_write_error(err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            // PostgreSQL names the constraint; SQLite names the column in the
            // message ("UNIQUE constraint failed: twofa_users.username_key").
            let constraint = db.constraint().unwrap_or_default();
            let message = db.message();
            for column in ["username_key", "username_skeleton"] {
                if constraint.contains(column) || message.contains(column) {
                    return Error::UsernameTaken;
                }
            }
            if constraint.contains("email") || message.contains("email") {
                return Error::EmailTaken;
            }
        } else if db.is_foreign_key_violation() {
            return Error::UserNotFound;
        }
    }
    Error::store(err)
}

/// What filling in one legacy row's skeleton did: `Ok(true)` if it was
/// written, `Ok(false)` if another user already holds that skeleton (two
/// look-alike names registered before skeletons existed; the older one keeps
/// it and this row stays NULL), or the store error.
fn backfill_outcome(id: i64, done: Result<u64, sqlx::Error>) -> Result<bool> {
    match done.map_err(user_write_error) {
        Ok(rows) => Ok(rows == 1),
        Err(Error::UsernameTaken) => {
            tracing::warn!(
                user = id,
                "this username looks like an older user's; it has no confusable skeleton"
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

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
