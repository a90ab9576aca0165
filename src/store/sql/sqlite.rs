//! The SQLite store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{PurgeTicker, UserRow, user_columns, user_write_error};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{Counter, NewUser, StoredSecret, UserRecord, UserStore};
use crate::user::{UserId, username_skeleton};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections a pool opened by [`SqliteStore::open`] holds.
const MAX_CONNECTIONS: u32 = 8;
/// How long an operation waits for a free pool connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most recovery codes inserted by one statement (SQLite limits bound parameters).
const INSERT_CHUNK: usize = 256;

/// A [`UserStore`] and [`StateStore`](crate::store::StateStore) in an SQLite database: the embedded
/// default for a single server (several processes on one machine may share
/// the file; writes are serialised by SQLite).
///
/// Clones share the same connection pool. Tables are prefixed `twofa_` and
/// the crate's migrations are tracked in `twofa_migrations`, so the store can
/// live in the application's own database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    purge: PurgeTicker,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = self.pool.connect_options();
        f.debug_struct("SqliteStore")
            .field("filename", &options.get_filename())
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path_or_url`, a file
    /// path or an `sqlite:` URL, and applies the crate's migrations.
    ///
    /// The connections use WAL journaling, `synchronous = NORMAL`, foreign
    /// keys and a 5 s busy timeout; the pool holds at most 8 connections.
    /// Options given in an `sqlite:` URL are kept, except that the file is
    /// always created if missing. For a throw-away database use
    /// [`in_memory`](Self::in_memory) rather than `sqlite::memory:`.
    pub async fn open(path_or_url: &str) -> Result<Self> {
        let options = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url).map_err(Error::store)?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(Error::store)?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh private in-memory database with the crate's migrations
    /// applied: for tests and demos. It lives on a single connection and is
    /// gone when the store (and its clones) are dropped.
    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(Error::store)?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Uses an existing pool as is. Does **not** run migrations: call
    /// [`migrate`](Self::migrate) once (for example at startup). The pool's
    /// connections should have foreign keys on and a busy timeout set.
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqliteStore {
            pool,
            purge: PurgeTicker::default(),
        }
    }

    /// Applies the crate's pending migrations (idempotent), tracked in the
    /// table `twofa_migrations`, then [fills in](Self::backfill_skeletons)
    /// the username skeletons of rows written before they existed.
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
        migrator.run(&self.pool).await.map_err(Error::store)?;
        self.backfill_skeletons().await?;
        Ok(())
    }

    /// Gives every user without a username skeleton the skeleton of its
    /// `username_key`, oldest first; returns how many it filled.
    /// Idempotent. A row whose skeleton another user already holds (two
    /// look-alike names from before skeletons existed) stays without one,
    /// with a warning; both accounts keep working.
    pub async fn backfill_skeletons(&self) -> Result<u64> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, username_key FROM twofa_users WHERE username_skeleton IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store)?;
        let mut filled = 0;
        for (id, key) in rows {
            let done = sqlx::query(
                "UPDATE twofa_users SET username_skeleton = ?1 \
                 WHERE id = ?2 AND username_skeleton IS NULL",
            )
            .bind(username_skeleton(&key))
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|d| d.rows_affected());
            if super::backfill_outcome(id, done)? {
                filled += 1;
            }
        }
        Ok(filled)
    }

    /// The underlying connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Deletes the state entries that expired at or before `now`; returns how
    /// many. The store also does this by itself every 1024 state writes.
    pub async fn purge_expired(&self, now: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM twofa_state WHERE expires_at <= ?1")
            .bind(now.as_millis())
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(done.rows_affected())
    }

    /// A transaction whose steps are atomic: `BEGIN IMMEDIATE` takes the
    /// database's write lock at once (no lock upgrade, hence no deadlock,
    /// later), so compound state operations run one at a time.
    async fn begin_atomic(&self, _lock_key: &str) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::store)
    }

    /// Runs the occasional purge; its failure does not fail the caller.
    async fn maybe_purge(&self, now: Timestamp) {
        if self.purge.tick()
            && let Err(e) = self.purge_expired(now).await
        {
            tracing::warn!(error = %e, "purging expired state failed");
        }
    }

    /// `UPDATE twofa_users SET <column> = ?1 WHERE id = ?2`, `UserNotFound`
    /// when no row matched.
    async fn update_user(
        &self,
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<()> {
        let done = query.execute(&self.pool).await.map_err(user_write_error)?;
        if done.rows_affected() == 0 {
            return Err(Error::UserNotFound);
        }
        Ok(())
    }

    async fn user_where(
        &self,
        query: sqlx::query::QueryAs<'_, Sqlite, UserRow, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Option<UserRecord>> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(UserRow::into_record)
            .transpose()
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
        let row = sqlx::query(
            "INSERT INTO twofa_users \
             (username, username_key, username_skeleton, email, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
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
        let id: i64 = row.try_get(0).map_err(Error::store)?;
        Ok(UserRecord {
            id: UserId(id),
            username: user.username,
            username_key: user.username_key,
            username_skeleton: Some(user.username_skeleton),
            email: user.email,
            password_hash: user.password_hash,
            phone: None,
            totp: None,
            created_at: user.created_at,
            credential_generation: 0,
        })
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.user_where(
            sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM twofa_users WHERE id = ?1"
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
                " FROM twofa_users WHERE username_key = ?1"
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
                " FROM twofa_users WHERE email = ?1"
            ))
            .bind(email.to_owned()),
        )
        .await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE twofa_users SET password_hash = ?1 WHERE id = ?2")
            .bind(hash)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_password_hash(&self, id: UserId, expected: &str, hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE twofa_users SET password_hash = ?1 WHERE id = ?2 AND password_hash = ?3",
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
                "UPDATE twofa_users SET username = ?1, username_key = ?2, \
                 username_skeleton = ?3, email = ?4 WHERE id = ?5",
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
            sqlx::query("UPDATE twofa_users SET phone = ?1 WHERE id = ?2")
                .bind(phone.map(str::to_owned))
                .bind(id.0),
        )
        .await
    }

    async fn set_totp(&self, id: UserId, secret: Option<&StoredSecret>) -> Result<()> {
        self.update_user(
            sqlx::query("UPDATE twofa_users SET totp_key_id = ?1, totp_sealed = ?2 WHERE id = ?3")
                .bind(secret.map(|s| i64::from(s.key_id)))
                .bind(secret.map(|s| s.sealed.clone()))
                .bind(id.0),
        )
        .await
    }

    async fn replace_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
        // Writing first takes SQLite's write lock at once (no lock upgrade
        // later), so concurrent replacements serialise cleanly.
        sqlx::query("DELETE FROM twofa_recovery_codes WHERE user_id = ?1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM twofa_users WHERE id = ?1)")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(Error::store)?;
        if !exists {
            return Err(Error::UserNotFound);
        }
        for chunk in hashes.chunks(INSERT_CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO twofa_recovery_codes (user_id, code_hash) ",
            );
            insert.push_values(chunk, |mut row, hash| {
                row.push_bind(id.0).push_bind(hash.to_vec());
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(user_write_error)?;
        }
        tx.commit().await.map_err(Error::store)
    }

    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM twofa_recovery_codes WHERE user_id = ?1 AND code_hash = ?2")
                .bind(id.0)
                .bind(hash.to_vec())
                .execute(&self.pool)
                .await
                .map_err(Error::store)?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM twofa_recovery_codes WHERE user_id = ?1")
                .bind(id.0)
                .fetch_one(&self.pool)
                .await
                .map_err(Error::store)?;
        usize::try_from(n).map_err(Error::store)
    }

    // The statements are shared with the other SQL store: `session_methods!`.
    async fn bump_credential_generation(&self, id: UserId) -> Result<i64> {
        self.sql_bump_credential_generation(id).await
    }
    async fn add_device(&self, d: &crate::store::DeviceRecord) -> Result<()> {
        self.sql_add_device(d).await
    }
    async fn device_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<crate::store::DeviceRecord>> {
        self.sql_device_by_token(token_hash).await
    }
    async fn touch_device(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<()> {
        self.sql_touch_device(token_hash, now).await
    }
    async fn devices(&self, user: UserId) -> Result<Vec<crate::store::DeviceRecord>> {
        self.sql_devices(user).await
    }
    async fn remove_device(&self, user: UserId, device_id: &str) -> Result<bool> {
        self.sql_remove_device(user, device_id).await
    }
    async fn remove_devices(&self, user: UserId) -> Result<u64> {
        self.sql_remove_devices(user).await
    }
}

super::state::state_store!(SqliteStore, sqlx::SqliteConnection, "X''");

super::session_methods!(SqliteStore);
