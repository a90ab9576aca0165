//! SQL stores: [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`]
//! (feature `postgres`).
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
//! statements in one transaction that no other compound operation on the
//! same lockout interleaves with (see `state`). Expiry is always compared
//! with the caller's `now`, never with the database clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{DeviceRecord, StoredSecret, UserRecord};
use crate::user::UserId;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod state;

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
        "id, username, username_key, username_skeleton, email, password_hash, phone, totp_key_id, totp_sealed, created_at, credential_generation"
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
    credential_generation: i64,
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
            credential_generation: self.credential_generation,
        })
    }
}

/// A row of `twofa_devices`.
#[derive(sqlx::FromRow)]
struct DeviceRow {
    token_hash: Vec<u8>,
    id: String,
    user_id: i64,
    credential_generation: i64,
    label: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
}

impl DeviceRow {
    fn into_record(self) -> Result<DeviceRecord> {
        let token_hash = <[u8; 32]>::try_from(self.token_hash.as_slice())
            .map_err(|_| Error::Internal(format!("device {}: bad token hash", self.id)))?;
        Ok(DeviceRecord {
            id: self.id,
            user: UserId(self.user_id),
            token_hash,
            credential_generation: self.credential_generation,
            label: self.label,
            created_at: Timestamp::from_millis(self.created_at),
            last_used_at: Timestamp::from_millis(self.last_used_at),
            expires_at: Timestamp::from_millis(self.expires_at),
        })
    }
}

/// The credential-generation and remembered-device statements, identical
/// for both SQL stores (they use `$n` parameters, which SQLite also reads, in
/// order), as inherent methods of `$store`; the `UserStore` impls forward to
/// them (`#[async_trait]` cannot see into a macro).
macro_rules! session_methods {
    ($store:ty) => {
        impl $store {
            async fn sql_bump_credential_generation(&self, id: UserId) -> Result<i64> {
                let g: Option<i64> = sqlx::query_scalar(
                    "UPDATE twofa_users SET credential_generation = credential_generation + 1 \
                 WHERE id = $1 RETURNING credential_generation",
                )
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::store)?;
                g.ok_or(Error::UserNotFound)
            }

            async fn sql_add_device(&self, d: &crate::store::DeviceRecord) -> Result<()> {
                sqlx::query(
                    "INSERT INTO twofa_devices (token_hash, id, user_id, credential_generation, \
                 label, created_at, last_used_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(d.token_hash.to_vec())
                .bind(d.id.clone())
                .bind(d.user.0)
                .bind(d.credential_generation)
                .bind(d.label.clone())
                .bind(d.created_at.as_millis())
                .bind(d.last_used_at.as_millis())
                .bind(d.expires_at.as_millis())
                .execute(&self.pool)
                .await
                .map_err(super::user_write_error)?;
                Ok(())
            }

            async fn sql_device_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<crate::store::DeviceRecord>> {
                sqlx::query_as::<_, super::DeviceRow>(concat!(
                    "SELECT ",
                    super::device_columns!(),
                    " FROM twofa_devices WHERE token_hash = $1"
                ))
                .bind(token_hash.to_vec())
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::store)?
                .map(super::DeviceRow::into_record)
                .transpose()
            }

            async fn sql_touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
                sqlx::query("UPDATE twofa_devices SET last_used_at = $1 WHERE token_hash = $2")
                    .bind(now.as_millis())
                    .bind(token_hash.to_vec())
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                Ok(())
            }

            async fn sql_devices(&self, user: UserId) -> Result<Vec<crate::store::DeviceRecord>> {
                sqlx::query_as::<_, super::DeviceRow>(concat!(
                    "SELECT ",
                    super::device_columns!(),
                    " FROM twofa_devices WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user.0)
                .fetch_all(&self.pool)
                .await
                .map_err(Error::store)?
                .into_iter()
                .map(super::DeviceRow::into_record)
                .collect()
            }

            async fn sql_remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
                let done = sqlx::query("DELETE FROM twofa_devices WHERE user_id = $1 AND id = $2")
                    .bind(user.0)
                    .bind(device_id.to_owned())
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                Ok(done.rows_affected() == 1)
            }

            async fn sql_remove_devices(&self, user: UserId) -> Result<u64> {
                let done = sqlx::query("DELETE FROM twofa_devices WHERE user_id = $1")
                    .bind(user.0)
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use session_methods;

/// The columns of `twofa_devices`, in the order [`DeviceRow`] reads them.
macro_rules! device_columns {
    () => {
        "token_hash, id, user_id, credential_generation, label, created_at, last_used_at, expires_at"
    };
}
pub(crate) use device_columns;

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
