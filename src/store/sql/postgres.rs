//! The PostgreSQL store.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Row};

use super::{PurgeTicker, UserRow, user_columns, user_write_error, valid_identifier};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{Counter, NewUser, StoredSecret, UserRecord, UserStore};
use crate::user::{UserId, username_skeleton};

/// Most connections a pool opened by [`PostgresStore::connect`] holds.
const MAX_CONNECTIONS: u32 = 10;
/// How long an operation waits for a free pool connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`UserStore`] and [`StateStore`](crate::store::StateStore) in PostgreSQL: for many application
/// instances sharing one database (they behave as one).
///
/// Clones share the same connection pool. Tables are prefixed `twofa_` and
/// the crate's migrations are tracked in `twofa_migrations`, in the first
/// schema of the connections' `search_path` (see
/// [`connect_with_schema`](Self::connect_with_schema) to use a dedicated one).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    purge: PurgeTicker,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL or the password: host, port, database and user only.
        let options = self.pool.connect_options();
        f.debug_struct("PostgresStore")
            .field("host", &options.get_host())
            .field("port", &options.get_port())
            .field("database", &options.get_database())
            .field("username", &options.get_username())
            .field("schema", &self.schema.as_deref())
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`;
    /// the usual `PG*` environment variables fill in what is missing) and
    /// applies the crate's migrations. The pool holds at most 10 connections.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(Error::store)?;
        let store = Self::from_pool(
            Self::pool_options()
                .connect_with(options)
                .await
                .map_err(Error::store)?,
        );
        store.migrate().await?;
        Ok(store)
    }

    /// Like [`connect`](Self::connect), but keeps everything (tables and the
    /// migrations table) in `schema`, which is created if missing: every
    /// connection of the pool gets `search_path` set to it. Lets several
    /// deployments (or test runs) share one database without colliding.
    ///
    /// `schema` must be a plain identifier (ASCII letters, digits and `_`,
    /// not starting with a digit, at most 63 bytes), else `Error::Config`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        if !valid_identifier(schema) {
            return Err(Error::Config(
                "PostgreSQL schema name must be ASCII letters, digits or '_', at most 63 bytes"
                    .into(),
            ));
        }
        let quoted = format!("\"{schema}\"");
        let options = PgConnectOptions::from_str(url).map_err(Error::store)?;

        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(Error::store)?;
        let created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {quoted}"
        )))
        .execute(&mut conn)
        .await;
        // Two processes creating the same schema at once can race inside
        // PostgreSQL ("duplicate key value violates pg_namespace_nspname_index"):
        // the schema then exists, which is all we need.
        match created {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
            Err(e) => return Err(Error::store(e)),
        }
        conn.close().await.map_err(Error::store)?;

        // Set at connection start-up: no extra statement per connection.
        let options = options.options([("search_path", quoted)]);
        let pool = Self::pool_options()
            .connect_with(options)
            .await
            .map_err(Error::store)?;
        let store = PostgresStore {
            schema: Some(schema.into()),
            ..Self::from_pool(pool)
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Uses an existing pool as is. Does **not** run migrations: call
    /// [`migrate`](Self::migrate) once (for example at startup).
    pub fn from_pool(pool: PgPool) -> Self {
        PostgresStore {
            pool,
            schema: None,
            purge: PurgeTicker::default(),
        }
    }

    /// Applies the crate's pending migrations (idempotent; concurrent callers
    /// are serialised by an advisory lock), tracked in the table
    /// `twofa_migrations`, then [fills in](Self::backfill_skeletons) the
    /// username skeletons of rows written before they existed.
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
        migrator.run(&self.pool).await.map_err(Error::store)?;
        self.backfill_skeletons().await?;
        Ok(())
    }

    /// Gives every user without a username skeleton the skeleton of its
    /// `username_key`, oldest first; returns how many it filled.
    /// Idempotent, and safe while other instances run it or register users
    /// (each row is one conditional `UPDATE`). A row whose skeleton another
    /// user already holds (two look-alike names from before skeletons
    /// existed) stays without one, with a warning; both accounts keep working.
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
                "UPDATE twofa_users SET username_skeleton = $1 \
                 WHERE id = $2 AND username_skeleton IS NULL",
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
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema given to [`connect_with_schema`](Self::connect_with_schema), if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Deletes the state entries that expired at or before `now`; returns how
    /// many. The store also does this by itself every 1024 state writes.
    pub async fn purge_expired(&self, now: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM twofa_state WHERE expires_at <= $1")
            .bind(now.as_millis())
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(done.rows_affected())
    }

    fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
    }

    /// A transaction whose steps are atomic for `lock_key`: a
    /// transaction-scoped advisory lock on the key's hash makes the
    /// compound state operations of one lockout run one after the other
    /// (each statement still locks the rows it writes until the commit).
    async fn begin_atomic(&self, lock_key: &str) -> Result<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(lock_key.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        Ok(tx)
    }

    /// Runs the occasional purge; its failure does not fail the caller.
    async fn maybe_purge(&self, now: Timestamp) {
        if self.purge.tick()
            && let Err(e) = self.purge_expired(now).await
        {
            tracing::warn!(error = %e, "purging expired state failed");
        }
    }

    /// Runs an `UPDATE twofa_users ... WHERE id = ...`; `UserNotFound` when
    /// no row matched.
    async fn update_user(
        &self,
        query: sqlx::query::Query<'_, Postgres, PgArguments>,
    ) -> Result<()> {
        let done = query.execute(&self.pool).await.map_err(user_write_error)?;
        if done.rows_affected() == 0 {
            return Err(Error::UserNotFound);
        }
        Ok(())
    }

    async fn user_where(
        &self,
        query: sqlx::query::QueryAs<'_, Postgres, UserRow, PgArguments>,
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
impl UserStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
        let row = sqlx::query(
            "INSERT INTO twofa_users \
             (username, username_key, username_skeleton, email, password_hash, created_at) \
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

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE twofa_users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_password_hash(&self, id: UserId, expected: &str, hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE twofa_users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
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
            sqlx::query("UPDATE twofa_users SET totp_key_id = $1, totp_sealed = $2 WHERE id = $3")
                .bind(secret.map(|s| i64::from(s.key_id)))
                .bind(secret.map(|s| s.sealed.clone()))
                .bind(id.0),
        )
        .await
    }

    async fn replace_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
        // Locking the user row serialises concurrent replacements for one user.
        let exists = sqlx::query("SELECT 1 FROM twofa_users WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::store)?;
        if exists.is_none() {
            return Err(Error::UserNotFound);
        }
        sqlx::query("DELETE FROM twofa_recovery_codes WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        if !hashes.is_empty() {
            let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
            sqlx::query(
                "INSERT INTO twofa_recovery_codes (user_id, code_hash) \
                 SELECT $1, h FROM UNNEST($2::bytea[]) AS h ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(hashes)
            .execute(&mut *tx)
            .await
            .map_err(user_write_error)?;
        }
        tx.commit().await.map_err(Error::store)
    }

    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32]) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM twofa_recovery_codes WHERE user_id = $1 AND code_hash = $2")
                .bind(id.0)
                .bind(hash.to_vec())
                .execute(&self.pool)
                .await
                .map_err(Error::store)?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM twofa_recovery_codes WHERE user_id = $1")
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

super::state::state_store!(PostgresStore, sqlx::PgConnection, "''");

super::session_methods!(PostgresStore);
