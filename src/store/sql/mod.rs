//! SQL stores (to be written).
#[cfg(feature = "sqlite")]
/// SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore;
#[cfg(feature = "postgres")]
/// PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore;
