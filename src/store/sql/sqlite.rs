//! The SQLite store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::PurgeTicker;
use super::users::user_write_error;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::attempt::reference;
use crate::store::{
    Admission, AttemptSpec, Counter, Settlement, StepAcceptance, StepCheck, StepOutcome,
};
use crate::user::UserId;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections a pool opened by [`SqliteStore::open`] holds.
const MAX_CONNECTIONS: u32 = 8;
/// How long an operation waits for a free pool connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most recovery codes inserted by one statement (SQLite limits bound parameters).
const INSERT_CHUNK: usize = 256;

/// A [`UserStore`](crate::store::UserStore) and [`StateStore`](crate::store::StateStore) in an SQLite database: the embedded
/// default for a single server (several processes on one machine may share
/// the file; writes are serialised by SQLite).
///
/// Clones share the same connection pool. Tables are prefixed `twofa_` and
/// the crate's migrations are tracked in `twofa_migrations`, so the store can
/// live in the application's own database file.
///
/// ```
/// use twofa_verify::{Authenticator, SecretKey, SqliteStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// # let dir = tempfile::tempdir().map_err(twofa_verify::Error::store)?;
/// # let path = dir.path().join("app.db");
/// # let path = path.to_str().expect("a UTF-8 path");
/// let store = SqliteStore::open(path).await?; // "app.db", or "sqlite:app.db"
/// let auth = Authenticator::builder()
///     .store(store) // users and state in the one file
///     .secret_key(SecretKey::generate()) // in production: SecretKey::from_env
///     .build()?;
/// # let _ = auth;
/// # Ok(())
/// # }
/// ```
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
    /// keys and a 5 s busy timeout; the pool holds at most 8 connections and
    /// does not ping one before each statement (sqlx's default).
    /// Options given in an `sqlite:` URL are kept, except that the file is
    /// always created if missing. For a throw-away database use
    /// [`in_memory`](Self::in_memory) rather than `sqlite::memory:`. See the
    /// [`SqliteStore`] example.
    ///
    /// A database file this creates is readable and writable by its owner
    /// only (mode 0600 on Unix, whatever the umask), and so are its `-wal`
    /// and `-shm` files, which SQLite gives the database file's mode: it
    /// holds password hashes. An existing file keeps its mode.
    pub async fn open(path_or_url: &str) -> Result<Self> {
        let options = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url).map_err(Error::store)?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        };
        if !in_memory(path_or_url) {
            create_private(options.get_filename())?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx would ping every connection it hands out: for SQLite a
            // trip to the connection's worker thread before each statement,
            // to test a connection that cannot drop like a network one (it
            // is still pinged when taken back).
            .test_before_acquire(false)
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
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, SecretKey, SqliteStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let auth = Authenticator::builder()
    ///     .store(SqliteStore::in_memory().await?)
    ///     .secret_key(SecretKey::generate())
    ///     .build()?;
    /// let password = SecretString::from("correct horse battery");
    /// auth.register("alice", "alice@example.com", &password).await?;
    /// # Ok(())
    /// # }
    /// ```
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
            .test_before_acquire(false)
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
    ///
    /// For an app that already has a `sqlx` pool on its database (the same
    /// `sqlx` version as this crate's):
    ///
    /// ```
    /// use std::time::Duration;
    /// use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    /// use twofa_verify::SqliteStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let options = SqliteConnectOptions::new()
    ///     .in_memory(true) // the app's `filename("app.db")`
    ///     .foreign_keys(true)
    ///     .busy_timeout(Duration::from_secs(5));
    /// let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    /// let store = SqliteStore::from_pool(pool);
    /// store.migrate().await?; // once, at start-up
    /// // The app's own queries share the pool.
    /// let users: i64 = sqlx::query_scalar("SELECT count(*) FROM twofa_users")
    ///     .fetch_one(store.pool())
    ///     .await?;
    /// assert_eq!(users, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqliteStore {
            pool,
            purge: PurgeTicker::default(),
        }
    }

    /// Applies the crate's pending migrations (idempotent), tracked in the
    /// table `twofa_migrations`, then [fills in](Self::backfill_skeletons)
    /// the username skeletons of rows written before they existed.
    /// [`open`](Self::open) and [`in_memory`](Self::in_memory) run it; a
    /// store made [`from_pool`](Self::from_pool) needs it once (see its
    /// example).
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
        migrator.run(&self.pool).await.map_err(Error::store)?;
        self.backfill_skeletons().await?;
        Ok(())
    }

    /// The underlying connection pool, for the app's own queries on the
    /// same database (see the [`from_pool`](Self::from_pool) example).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction whose steps are atomic: `BEGIN IMMEDIATE` takes the
    /// database's write lock at once (no lock upgrade, hence no deadlock,
    /// later), so compound state operations run one at a time.
    async fn begin_atomic(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::store)
    }

    /// [`StateStore::reserve_attempt`](crate::StateStore::reserve_attempt):
    /// the reference steps in one atomic transaction.
    async fn compound_reserve_attempt(
        &self,
        spec: &AttemptSpec,
        now: Timestamp,
    ) -> Result<Admission> {
        let mut tx = self.begin_atomic().await?;
        let admission = reference::reserve_attempt(&mut StateConn(&mut tx), spec, now).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(admission)
    }

    /// [`StateStore::settle_attempt`](crate::StateStore::settle_attempt):
    /// the reference steps in one atomic transaction.
    async fn compound_settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        let mut tx = self.begin_atomic().await?;
        let taken =
            reference::settle_attempt(&mut StateConn(&mut tx), spec, settlement, now).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(taken)
    }

    /// [`StateStore::reserve_attempt_and_accept_step`](crate::StateStore::reserve_attempt_and_accept_step):
    /// the reference steps in one atomic transaction.
    async fn compound_reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let mut tx = self.begin_atomic().await?;
        let outcome =
            reference::reserve_attempt_and_accept_step(&mut StateConn(&mut tx), spec, step, now)
                .await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(outcome)
    }

    /// [`StateStore::reserve_attempt_and_check_step`](crate::StateStore::reserve_attempt_and_check_step):
    /// the reference steps in one atomic transaction.
    async fn compound_reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let mut tx = self.begin_atomic().await?;
        let outcome =
            reference::reserve_attempt_and_check_step(&mut StateConn(&mut tx), spec, step, now)
                .await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(outcome)
    }

    /// Replaces the user's recovery codes in one transaction. Deleting
    /// first takes SQLite's write lock at once (no lock upgrade later), so
    /// concurrent replacements serialise cleanly; the codes go in chunks,
    /// as SQLite limits the parameters of one statement.
    async fn write_recovery_codes(&self, id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
        sqlx::query("DELETE FROM twofa_recovery_codes WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM twofa_users WHERE id = $1)")
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
}

/// Whether `path_or_url` names an in-memory database (`sqlite::memory:`,
/// `?mode=memory`), as sqlx reads it.
fn in_memory(path_or_url: &str) -> bool {
    let Some(rest) = path_or_url.strip_prefix("sqlite:") else {
        return false;
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:"
        || form_urlencoded::parse(params.as_bytes()).any(|(k, v)| k == "mode" && v == "memory")
}

/// Creates the database file at `path`, empty, with mode 0600 when it does
/// not exist (SQLite would create it 0644 less the umask: readable by every
/// local user). An empty file is an empty database to SQLite, which gives
/// its `-wal`, `-shm` and journal files the mode of the database file.
/// Nothing for SQLite URI filenames (`file:...`).
fn create_private(path: &std::path::Path) -> Result<()> {
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with("file:") {
        return Ok(());
    }
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::store(format!(
            "cannot create the database {}: {e}",
            path.display()
        ))),
    }
}

super::users::user_store!(SqliteStore, Sqlite);
super::state::state_store!(SqliteStore, sqlx::SqliteConnection, "X''");
super::audit::audit_store!(SqliteStore);
