//! The PostgreSQL store.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};

use super::users::user_write_error;
use super::{PurgeTicker, valid_identifier};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::Counter;
use crate::user::UserId;

/// Most connections a pool opened by [`PostgresStore::connect`] holds.
const MAX_CONNECTIONS: u32 = 10;
/// How long an operation waits for a free pool connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A pooled connection idle for longer than this is pinged before use (see
/// `pool_options`).
const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// A [`UserStore`](crate::store::UserStore) and [`StateStore`](crate::store::StateStore) in PostgreSQL: for many application
/// instances sharing one database (they behave as one).
///
/// Clones share the same connection pool. Tables are prefixed `twofa_` and
/// the crate's migrations are tracked in `twofa_migrations`, in the first
/// schema of the connections' `search_path` (see
/// [`connect_with_schema`](Self::connect_with_schema) to use a dedicated one).
///
/// ```no_run
/// use twofa_verify::{Authenticator, PostgresStore, SecretKey};
/// # async fn f() -> twofa_verify::Result<()> {
/// let store = PostgresStore::connect("postgres://app@db.internal/app").await?;
/// let auth = Authenticator::builder()
///     .store(store) // users and state, shared by every app instance
///     .secret_key(SecretKey::from_env("TWOFA_SECRET_KEY")?)
///     .build()?;
/// # let _ = auth;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    purge: PurgeTicker,
    /// Whether the compound state operations wait for their commit to
    /// reach the disk (see [`PostgresStore::synchronous_state_commits`]).
    pub(super) synchronous_state_commits: bool,
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
            .field("synchronous_state_commits", &self.synchronous_state_commits)
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`;
    /// the usual `PG*` environment variables fill in what is missing) and
    /// applies the crate's migrations. The pool holds at most 10 connections
    /// and pings one before use only when it sat idle for over a second
    /// (sqlx's default pings before every statement). See the
    /// [`PostgresStore`] example.
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
    ///
    /// ```no_run
    /// use twofa_verify::PostgresStore;
    /// # async fn f() -> twofa_verify::Result<()> {
    /// let url = "postgres://app@db.internal/app";
    /// let staging = PostgresStore::connect_with_schema(url, "twofa_staging").await?;
    /// assert_eq!(staging.schema(), Some("twofa_staging"));
    /// assert!(PostgresStore::connect_with_schema(url, "a; DROP TABLE x").await.is_err());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// For an app that already has a `sqlx` pool on its database (the same
    /// `sqlx` version as this crate's):
    ///
    /// ```no_run
    /// use sqlx::postgres::PgPoolOptions;
    /// use twofa_verify::PostgresStore;
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new().max_connections(20).connect("postgres://app@db/app").await?;
    /// let store = PostgresStore::from_pool(pool);
    /// store.migrate().await?; // once, at start-up; safe from many instances at once
    /// // The app's own queries share the pool.
    /// let users: i64 = sqlx::query_scalar("SELECT count(*) FROM twofa_users")
    ///     .fetch_one(store.pool())
    ///     .await?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_pool(pool: PgPool) -> Self {
        PostgresStore {
            pool,
            schema: None,
            purge: PurgeTicker::default(),
            synchronous_state_commits: false,
        }
    }

    /// Whether the attempt bookkeeping of every sign-in (the compound state
    /// operations: an attempt's reservation and settlement, and a time-step
    /// code's acceptance) waits for its commit to reach the disk. Off by
    /// default: each such commit then skips one WAL flush (on the machine
    /// in `BENCHMARKS.md`, about 0.15 ms of the 0.25 ms a settlement takes
    /// in the server), and other connections and instances still see it at
    /// once, with the same atomicity and locking.
    ///
    /// What it gives up: if the PostgreSQL server itself crashes (or fails
    /// over to a replica), the last fraction of a second of these entries
    /// (failure counts, gates, pending logins, accepted time steps) may be
    /// lost, which is what a Redis state store without persistence gives up
    /// too. The users' records, credentials and every other write of the
    /// store always wait for the disk. Turn it on where a crash must not
    /// forget even those:
    ///
    /// ```no_run
    /// use twofa_verify::PostgresStore;
    /// # async fn f() -> twofa_verify::Result<()> {
    /// let store = PostgresStore::connect("postgres://app@db.internal/app")
    ///     .await?
    ///     .synchronous_state_commits(true);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn synchronous_state_commits(mut self, synchronous: bool) -> Self {
        self.synchronous_state_commits = synchronous;
        self
    }

    /// Applies the crate's pending migrations (idempotent; concurrent callers
    /// are serialised by an advisory lock), tracked in the table
    /// `twofa_migrations`, then [fills in](Self::backfill_skeletons) the
    /// username skeletons of rows written before they existed.
    /// [`connect`](Self::connect) runs it; a store made
    /// [`from_pool`](Self::from_pool) needs it once (see its example).
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
        migrator.run(&self.pool).await.map_err(Error::store)?;
        self.backfill_skeletons().await?;
        Ok(())
    }

    /// The underlying connection pool, for the app's own queries on the
    /// same database (see the [`from_pool`](Self::from_pool) example).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema given to [`connect_with_schema`](Self::connect_with_schema)
    /// (see its example), if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx pings every connection it hands out (a round trip before
            // each statement) and again when it takes one back. A connection
            // taken back moments ago was just pinged: only one that sat idle
            // longer than `PING_IF_IDLE` (the server may have dropped it, or
            // restarted) is pinged again, and dropped if it fails.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IF_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
    }

    /// Replaces the user's recovery codes in one transaction. Locking the
    /// user's row first serialises concurrent replacements for one user;
    /// the codes go in as one array.
    async fn write_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
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
                 SELECT $1, h FROM pg_catalog.unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(hashes)
            .execute(&mut *tx)
            .await
            .map_err(user_write_error)?;
        }
        tx.commit().await.map_err(Error::store)
    }
}

super::users::user_store!(PostgresStore, Postgres);
super::state::state_store!(PostgresStore, sqlx::PgConnection, "''");
super::audit::audit_store!(PostgresStore);
