//! The demo's own data about its users, the way an app attaches its data to
//! the library's users: a table of its own (`app_profiles`: first and last
//! name, "about me", when last seen) keyed by the library's `UserId`, in
//! the same database as the library's tables, created by the app's own
//! migrations (`examples/demo-support/migrations/{sqlite,postgres}`).
//!
//! The app's migrations are tracked in sqlx's usual `_sqlx_migrations`
//! table; the library tracks its own in `twofa_migrations`, so neither
//! migrator ever sees the other's versions ("applied but missing") and both
//! can run in either order at every start.
//!
//! With the in-memory store (`--db :memory:`, the tests) there is no
//! database to share: the profiles then live in a private in-memory SQLite
//! database, with the same migrations and queries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use twofa_verify::UserId;

/// `last_seen` is written at most this often per user.
pub const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// What the app keeps about a user. An account without a row (created
/// before this table, or by a tool that does not know it) has the empty
/// profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// "About me", at most 140 characters (see `profile_text.rs`).
    pub about_me: String,
    /// Last request of the user, ms since the Unix epoch.
    pub last_seen: Option<i64>,
}

/// Whether `import` wrote a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Written (new, or replacing one the user never edited here).
    Written,
    /// Kept: the user has edited their profile here since.
    KeptEdited,
}

/// The pool the profiles live in.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// The `app_profiles` table.
#[derive(Clone, Debug)]
pub struct ProfileStore {
    pool: Pool,
    /// When this instance last asked the database to move a user's
    /// `last_seen` (ms): saves a statement per request in between. The
    /// conditional `UPDATE` alone keeps the "once a minute" promise, across
    /// concurrent requests and instances.
    seen: Arc<Mutex<HashMap<i64, i64>>>,
    /// How many `last_seen` writes this instance made (tests count them).
    writes: Arc<std::sync::atomic::AtomicU64>,
}

/// The queries are written once with PostgreSQL's `$n` parameters; SQLite
/// reads the same numbered parameters as `?n`.
fn for_sqlite(sql: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.replace('$', "?"))
}

const SELECT: &str =
    "SELECT first_name, last_name, about_me, last_seen FROM app_profiles WHERE user_id = $1";

/// Written by the user (registration, the edit form): `edited_at` tells the
/// import to leave the row alone from now on.
const SAVE: &str = "INSERT INTO app_profiles (user_id, first_name, last_name, about_me, edited_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name,
         last_name = excluded.last_name, about_me = excluded.about_me,
         edited_at = excluded.edited_at";

/// One statement, so concurrent requests (on any instance) cannot both
/// write: the row is locked (PostgreSQL) or the database is (SQLite) while
/// the condition is checked.
const TOUCH: &str = "INSERT INTO app_profiles (user_id, last_seen) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen
     WHERE app_profiles.last_seen IS NULL OR app_profiles.last_seen <= excluded.last_seen - $3";

/// Fills a profile from an import unless the user has edited it here;
/// `last_seen` only moves forward.
const IMPORT: &str =
    "INSERT INTO app_profiles (user_id, first_name, last_name, about_me, last_seen)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name,
         last_name = excluded.last_name, about_me = excluded.about_me,
         last_seen = CASE WHEN app_profiles.last_seen IS NULL
                            OR app_profiles.last_seen < excluded.last_seen
                          THEN excluded.last_seen ELSE app_profiles.last_seen END
     WHERE app_profiles.edited_at IS NULL";

type Row = (String, String, String, Option<i64>);

impl ProfileStore {
    /// The profiles in a SQLite database (the library's `SqliteStore`
    /// pool); applies the app's migrations.
    pub async fn sqlite(pool: SqlitePool) -> Result<Self, sqlx::Error> {
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self::over(Pool::Sqlite(pool)))
    }

    /// The profiles in a PostgreSQL database (the library's
    /// `PostgresStore` pool, with its schema if it has one); applies the
    /// app's migrations.
    #[cfg(feature = "postgres")]
    pub async fn postgres(pool: sqlx::PgPool) -> Result<Self, sqlx::Error> {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self::over(Pool::Postgres(pool)))
    }

    /// A private in-memory SQLite database, for the in-memory store.
    pub async fn in_memory() -> Result<Self, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await?;
        Self::sqlite(pool).await
    }

    /// Closes the database connections (shared with the library's store:
    /// both are closed), waiting for them to finish.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.close().await,
        }
    }

    fn over(pool: Pool) -> Self {
        ProfileStore {
            pool,
            seen: Arc::default(),
            writes: Arc::default(),
        }
    }

    /// The user's profile (empty when they have no row).
    pub async fn get(&self, user: UserId) -> Result<Profile, sqlx::Error> {
        let row: Option<Row> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_as(for_sqlite(SELECT))
                    .bind(user.0)
                    .fetch_optional(p)
                    .await?
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                sqlx::query_as(SELECT)
                    .bind(user.0)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(row
            .map(|(first_name, last_name, about_me, last_seen)| Profile {
                first_name,
                last_name,
                about_me,
                last_seen,
            })
            .unwrap_or_default())
    }

    /// Saves what the user typed (checked by `profile_text.rs`), at `now`
    /// (ms). `last_seen` is left as is.
    pub async fn save(&self, user: UserId, p: &Profile, now: i64) -> Result<(), sqlx::Error> {
        macro_rules! run {
            ($sql:expr, $pool:expr) => {
                sqlx::query($sql)
                    .bind(user.0)
                    .bind(&p.first_name)
                    .bind(&p.last_name)
                    .bind(&p.about_me)
                    .bind(now)
                    .execute($pool)
                    .await?
                    .rows_affected()
            };
        }
        match &self.pool {
            Pool::Sqlite(pool) => run!(for_sqlite(SAVE), pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(SAVE, pool),
        };
        Ok(())
    }

    /// Records a request of `user` at `now` (ms); writes only when the
    /// stored `last_seen` is a minute old or more. True when it wrote.
    pub async fn touch(&self, user: UserId, now: i64) -> Result<bool, sqlx::Error> {
        let recent = |at: i64| now.saturating_sub(at) < LAST_SEEN_EVERY_MS;
        if let Ok(seen) = self.seen.lock()
            && seen.get(&user.0).is_some_and(|&at| recent(at))
        {
            return Ok(false);
        }
        let wrote = self.touch_in_database(user, now).await?;
        if let Ok(mut seen) = self.seen.lock() {
            // Bounded by the users active within a minute.
            if seen.len() > 10_000 {
                seen.retain(|_, at| recent(*at));
            }
            seen.insert(user.0, now);
        }
        Ok(wrote)
    }

    /// The conditional write itself, without this instance's memory of
    /// recent writes (the burst tests call it directly).
    pub async fn touch_in_database(&self, user: UserId, now: i64) -> Result<bool, sqlx::Error> {
        macro_rules! run {
            ($sql:expr, $pool:expr) => {
                sqlx::query($sql)
                    .bind(user.0)
                    .bind(now)
                    .bind(LAST_SEEN_EVERY_MS)
                    .execute($pool)
                    .await?
                    .rows_affected()
            };
        }
        let written = match &self.pool {
            Pool::Sqlite(pool) => run!(for_sqlite(TOUCH), pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(TOUCH, pool),
        };
        if written > 0 {
            self.writes
                .fetch_add(written, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(written > 0)
    }

    /// How many `last_seen` writes this instance has made.
    pub fn last_seen_writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes an imported profile (`cli import-flask`) unless the user has
    /// edited theirs here since; running it again with the same data
    /// changes nothing.
    pub async fn import(&self, user: UserId, p: &Profile) -> Result<Imported, sqlx::Error> {
        macro_rules! run {
            ($sql:expr, $pool:expr) => {
                sqlx::query($sql)
                    .bind(user.0)
                    .bind(&p.first_name)
                    .bind(&p.last_name)
                    .bind(&p.about_me)
                    .bind(p.last_seen)
                    .execute($pool)
                    .await?
                    .rows_affected()
            };
        }
        let written = match &self.pool {
            Pool::Sqlite(pool) => run!(for_sqlite(IMPORT), pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(IMPORT, pool),
        };
        Ok(if written > 0 {
            Imported::Written
        } else {
            Imported::KeptEdited
        })
    }
}
