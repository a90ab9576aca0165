//! The `UserStore` of both SQL stores, written once: the rows as the
//! database returns them, the mapping of constraint violations to errors,
//! and [`user_store!`], which writes the statements for a store.
//!
//! The statements are identical for SQLite and PostgreSQL: `$n` parameters
//! (SQLite reads them by number too), `RETURNING`, and plain `UPDATE`s
//! whose uniqueness and foreign keys the schema enforces. The one operation
//! that differs, replacing a user's recovery codes (how the transaction
//! serialises concurrent replacements, and how the codes are inserted in
//! bulk), is the store's own `write_recovery_codes`.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{DeviceRecord, PasskeyRecord, StoredSecret, UserRecord};
use crate::user::UserId;

/// The columns of `twofa_users`, in the order [`UserRow`] reads them.
macro_rules! user_columns {
    () => {
        "id, username, username_key, username_skeleton, email, password_hash, phone, totp_key_id, totp_sealed, created_at, credential_generation, passkeys"
    };
}
pub(super) use user_columns;

/// The columns of `twofa_devices`, in the order [`DeviceRow`] reads them.
macro_rules! device_columns {
    () => {
        "token_hash, id, user_id, credential_generation, label, created_at, last_used_at, expires_at"
    };
}
pub(super) use device_columns;

/// A row of `twofa_users` as the database returns it.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
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
    passkeys: i64,
}

impl UserRow {
    pub(super) fn into_record(self) -> Result<UserRecord> {
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
            passkeys: u32::try_from(self.passkeys.max(0)).unwrap_or(u32::MAX),
        })
    }
}

/// The columns of `twofa_passkeys`, in the order [`PasskeyRow`] reads them.
macro_rules! passkey_columns {
    () => {
        "credential_id, user_id, name, credential, counter, backup_eligible, backed_up, created_at, last_used_at"
    };
}
pub(super) use passkey_columns;

/// A row of `twofa_passkeys`.
#[derive(sqlx::FromRow)]
pub(super) struct PasskeyRow {
    credential_id: Vec<u8>,
    user_id: i64,
    name: String,
    credential: String,
    counter: i64,
    backup_eligible: bool,
    backed_up: bool,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl PasskeyRow {
    pub(super) fn into_record(self) -> PasskeyRecord {
        PasskeyRecord {
            credential_id: self.credential_id,
            user: UserId(self.user_id),
            name: self.name,
            credential: self.credential,
            counter: u32::try_from(self.counter.max(0)).unwrap_or(u32::MAX),
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            created_at: Timestamp::from_millis(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp::from_millis),
        }
    }
}

/// Maps an error of inserting a passkey: a duplicate credential id is
/// `PasskeyExists`, a missing user `UserNotFound`.
pub(super) fn passkey_write_error(err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return Error::PasskeyExists;
        }
        if db.is_foreign_key_violation() {
            return Error::UserNotFound;
        }
    }
    Error::store(err)
}

/// A row of `twofa_devices`.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceRow {
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
    pub(super) fn into_record(self) -> Result<DeviceRecord> {
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

/// Maps an error of a statement that writes `username_key`,
/// `username_skeleton` or `email`: unique violations become `UsernameTaken`
/// (key or skeleton) / `EmailTaken`, a foreign-key
/// violation `UserNotFound`, anything else `Error::Store`.
pub(super) fn user_write_error(err: sqlx::Error) -> Error {
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
pub(super) fn backfill_outcome(id: i64, done: Result<u64, sqlx::Error>) -> Result<bool> {
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

/// Writes, for the SQL store `$store` on database `$db`, the `UserStore`
/// impl and the public `backfill_skeletons`. The store supplies `pool` and
/// `write_recovery_codes(id, hashes)`, which replaces the user's codes in
/// one transaction (`UserNotFound` when the user is gone).
macro_rules! user_store {
    ($store:ty, $db:ty) => {
        // A block of its own, so the imports below stay inside the expansion.
        const _: () = {
            use crate::clock::Timestamp;
            use crate::error::{Error, Result};
            use crate::store::sql::users::{
                DeviceRow, PasskeyRow, UserRow, backfill_outcome, device_columns,
                passkey_columns, passkey_write_error, user_columns, user_write_error,
            };
            use crate::store::{
                DeviceRecord, NewUser, PasskeyRecord, PasskeyUse, StoredSecret, UserRecord,
                UserStore,
            };
            use crate::user::{UserId, username_skeleton};

            impl $store {
                /// Gives every user without a username skeleton the skeleton of
                /// its `username_key`, oldest first; returns how many it filled.
                /// Idempotent, and safe while other processes run it or register
                /// users (each row is one conditional `UPDATE`). A row whose
                /// skeleton another user already holds (two look-alike names from
                /// before skeletons existed) stays without one, with a warning;
                /// both accounts keep working. [`migrate`](Self::migrate) runs it
                /// (see [`from_pool`](Self::from_pool)'s example); call it yourself
                /// only after writing rows without a skeleton.
                pub async fn backfill_skeletons(&self) -> Result<u64> {
                    let rows: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT id, username_key FROM twofa_users \
                         WHERE username_skeleton IS NULL ORDER BY id",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    let mut filled = 0;
                    for (id, key) in rows {
                        let done = sqlx::query(
                            "UPDATE twofa_users SET username_skeleton = $1 \
                             WHERE id = $2 AND username_skeleton IS NULL",
                        )
                        .bind(username_skeleton(&key))
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map(|d| d.rows_affected());
                        if backfill_outcome(id, done)? {
                            filled += 1;
                        }
                    }
                    Ok(filled)
                }

                /// Runs an `UPDATE twofa_users ... WHERE id = ...`;
                /// `UserNotFound` when no row matched.
                async fn update_user(
                    &self,
                    query: sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments>,
                ) -> Result<()> {
                    let done = query.execute(&self.pool).await.map_err(user_write_error)?;
                    if done.rows_affected() == 0 {
                        return Err(Error::UserNotFound);
                    }
                    Ok(())
                }

                /// The user a `SELECT` of [`user_columns!`] finds, if any.
                async fn user_where(
                    &self,
                    query: sqlx::query::QueryAs<
                        '_,
                        $db,
                        UserRow,
                        <$db as sqlx::Database>::Arguments,
                    >,
                ) -> Result<Option<UserRecord>> {
                    query
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Error::store)?
                        .map(UserRow::into_record)
                        .transpose()
                }
            }

            #[async_trait::async_trait]
            impl UserStore for $store {
                async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO twofa_users (username, username_key, username_skeleton, \
                         email, password_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(&user.username)
                    .bind(&user.username_key)
                    .bind(&user.username_skeleton)
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind(user.created_at.as_millis())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(user_write_error)?;
                    Ok(user.into_record(UserId(id)))
                }

                async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
                    self.user_where(
                        sqlx::query_as(concat!(
                            "SELECT ",
                            user_columns!(),
                            " FROM twofa_users WHERE id = $1"
                        ))
                        .bind(id.0),
                    )
                    .await
                }

                async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>> {
                    self.user_where(
                        sqlx::query_as(concat!(
                            "SELECT ",
                            user_columns!(),
                            " FROM twofa_users WHERE username_key = $1"
                        ))
                        .bind(username_key.to_owned()),
                    )
                    .await
                }

                async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
                    self.user_where(
                        sqlx::query_as(concat!(
                            "SELECT ",
                            user_columns!(),
                            " FROM twofa_users WHERE email = $1"
                        ))
                        .bind(email.to_owned()),
                    )
                    .await
                }

                async fn user_by_phone(&self, phone: &str) -> Result<Option<UserRecord>> {
                    self.user_where(
                        sqlx::query_as(concat!(
                            "SELECT ",
                            user_columns!(),
                            " FROM twofa_users WHERE phone = $1 ORDER BY id LIMIT 1"
                        ))
                        .bind(phone.to_owned()),
                    )
                    .await
                }

                async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool> {
                    let done =
                        sqlx::query("UPDATE twofa_users SET password_hash = $1 WHERE id = $2")
                            .bind(hash)
                            .bind(id.0)
                            .execute(&self.pool)
                            .await
                            .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn replace_password_hash(
                    &self,
                    id: UserId,
                    expected: &str,
                    hash: &str,
                ) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE twofa_users SET password_hash = $1 \
                         WHERE id = $2 AND password_hash = $3",
                    )
                    .bind(hash)
                    .bind(id.0)
                    .bind(expected)
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn update_profile(
                    &self,
                    id: UserId,
                    username: &str,
                    username_key: &str,
                    username_skeleton: Option<&str>,
                    email: &str,
                ) -> Result<()> {
                    self.update_user(
                        sqlx::query(
                            "UPDATE twofa_users SET username = $1, username_key = $2, \
                             username_skeleton = $3, email = $4 WHERE id = $5",
                        )
                        .bind(username.to_owned())
                        .bind(username_key.to_owned())
                        .bind(username_skeleton.map(str::to_owned))
                        .bind(email.to_owned())
                        .bind(id.0),
                    )
                    .await
                }

                async fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<()> {
                    self.update_user(
                        sqlx::query("UPDATE twofa_users SET phone = $1 WHERE id = $2")
                            .bind(phone.map(str::to_owned))
                            .bind(id.0),
                    )
                    .await
                }

                async fn set_totp(&self, id: UserId, secret: Option<&StoredSecret>) -> Result<()> {
                    self.update_user(
                        sqlx::query(
                            "UPDATE twofa_users SET totp_key_id = $1, totp_sealed = $2 \
                             WHERE id = $3",
                        )
                        .bind(secret.map(|s| i64::from(s.key_id)))
                        .bind(secret.map(|s| s.sealed.clone()))
                        .bind(id.0),
                    )
                    .await
                }

                async fn replace_recovery_codes(
                    &self,
                    id: UserId,
                    hashes: &[[u8; 32]],
                ) -> Result<()> {
                    self.write_recovery_codes(id, hashes).await
                }

                async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool> {
                    let done = sqlx::query(
                        "DELETE FROM twofa_recovery_codes WHERE user_id = $1 AND code_hash = $2",
                    )
                    .bind(id.0)
                    .bind(hash.to_vec())
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM twofa_recovery_codes WHERE user_id = $1",
                    )
                    .bind(id.0)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    usize::try_from(n).map_err(Error::store)
                }

                async fn bump_credential_generation(&self, id: UserId) -> Result<i64> {
                    let generation: Option<i64> = sqlx::query_scalar(
                        "UPDATE twofa_users SET credential_generation = credential_generation + 1 \
                         WHERE id = $1 RETURNING credential_generation",
                    )
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    generation.ok_or(Error::UserNotFound)
                }

                async fn add_device(&self, d: &DeviceRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO twofa_devices (",
                        device_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
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
                    .map_err(user_write_error)?;
                    Ok(())
                }

                async fn device_by_token(
                    &self,
                    token_hash: &[u8; 32],
                ) -> Result<Option<DeviceRecord>> {
                    sqlx::query_as::<_, DeviceRow>(concat!(
                        "SELECT ",
                        device_columns!(),
                        " FROM twofa_devices WHERE token_hash = $1"
                    ))
                    .bind(token_hash.to_vec())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Error::store)?
                    .map(DeviceRow::into_record)
                    .transpose()
                }

                async fn touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
                    sqlx::query("UPDATE twofa_devices SET last_used_at = $1 WHERE token_hash = $2")
                        .bind(now.as_millis())
                        .bind(token_hash.to_vec())
                        .execute(&self.pool)
                        .await
                        .map_err(Error::store)?;
                    Ok(())
                }

                async fn devices(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
                    sqlx::query_as::<_, DeviceRow>(concat!(
                        "SELECT ",
                        device_columns!(),
                        " FROM twofa_devices WHERE user_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(user.0)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::store)?
                    .into_iter()
                    .map(DeviceRow::into_record)
                    .collect()
                }

                async fn remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
                    let done =
                        sqlx::query("DELETE FROM twofa_devices WHERE user_id = $1 AND id = $2")
                            .bind(user.0)
                            .bind(device_id.to_owned())
                            .execute(&self.pool)
                            .await
                            .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn remove_devices(&self, user: UserId) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM twofa_devices WHERE user_id = $1")
                        .bind(user.0)
                        .execute(&self.pool)
                        .await
                        .map_err(Error::store)?;
                    Ok(done.rows_affected())
                }

                async fn record_unenrolled_sign_in(
                    &self,
                    user: UserId,
                    now: Timestamp,
                ) -> Result<crate::policy::RequiredSignIns> {
                    // One statement: the first sign-in starts the record,
                    // every one counts, each caller reads its own count.
                    let (since, sign_ins): (i64, i64) = sqlx::query_as(
                        "INSERT INTO twofa_second_factor_grace (user_id, since, sign_ins) \
                         VALUES ($1, $2, 1) ON CONFLICT (user_id) DO UPDATE \
                         SET sign_ins = twofa_second_factor_grace.sign_ins + 1 \
                         RETURNING since, sign_ins",
                    )
                    .bind(user.0)
                    .bind(now.as_millis())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(user_write_error)?;
                    Ok(crate::policy::RequiredSignIns {
                        since: Timestamp::from_millis(since),
                        sign_ins: u64::try_from(sign_ins).map_err(Error::store)?,
                    })
                }

                // Passkeys: one statement each; the schema's triggers keep
                // `twofa_users.passkeys` in the same statement.
                async fn add_passkey(&self, p: &PasskeyRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO twofa_passkeys (",
                        passkey_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ))
                    .bind(&p.credential_id)
                    .bind(p.user.0)
                    .bind(&p.name)
                    .bind(&p.credential)
                    .bind(i64::from(p.counter))
                    .bind(p.backup_eligible)
                    .bind(p.backed_up)
                    .bind(p.created_at.as_millis())
                    .bind(p.last_used_at.map(|t| t.as_millis()))
                    .execute(&self.pool)
                    .await
                    .map_err(passkey_write_error)?;
                    Ok(())
                }

                async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>> {
                    let rows: Vec<PasskeyRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        passkey_columns!(),
                        " FROM twofa_passkeys WHERE user_id = $1 ORDER BY created_at, credential_id"
                    ))
                    .bind(user.0)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(rows.into_iter().map(PasskeyRow::into_record).collect())
                }

                async fn passkey_by_credential(
                    &self,
                    credential_id: &[u8],
                ) -> Result<Option<PasskeyRecord>> {
                    let row: Option<PasskeyRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        passkey_columns!(),
                        " FROM twofa_passkeys WHERE credential_id = $1"
                    ))
                    .bind(credential_id.to_vec())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(row.map(PasskeyRow::into_record))
                }

                async fn record_passkey_use(
                    &self,
                    user: UserId,
                    credential_id: &[u8],
                    used: &PasskeyUse,
                ) -> Result<bool> {
                    // `passkey_counter_advances`, in the statement: atomic.
                    let done = sqlx::query(
                        "UPDATE twofa_passkeys SET counter = $1, backed_up = $2,                          credential = $3, last_used_at = $4                          WHERE credential_id = $5 AND user_id = $6                          AND (counter < $1 OR (counter = 0 AND $1 = 0))",
                    )
                    .bind(i64::from(used.counter))
                    .bind(used.backed_up)
                    .bind(&used.credential)
                    .bind(used.at.as_millis())
                    .bind(credential_id.to_vec())
                    .bind(user.0)
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn rename_passkey(
                    &self,
                    user: UserId,
                    credential_id: &[u8],
                    name: &str,
                ) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE twofa_passkeys SET name = $1                          WHERE credential_id = $2 AND user_id = $3",
                    )
                    .bind(name)
                    .bind(credential_id.to_vec())
                    .bind(user.0)
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn remove_passkey(&self, user: UserId, credential_id: &[u8]) -> Result<bool> {
                    let done = sqlx::query(
                        "DELETE FROM twofa_passkeys WHERE credential_id = $1 AND user_id = $2",
                    )
                    .bind(credential_id.to_vec())
                    .bind(user.0)
                    .execute(&self.pool)
                    .await
                    .map_err(Error::store)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        };
    };
}
pub(super) use user_store;
