//! The database a command runs on. Commands that read accounts need one
//! that exists: a mistyped `--db` must fail naming the path, not create an
//! empty database (and key) and answer "invalid username or password".
//! Only `register` and `import-flask` create one, and when such a command
//! fails before any account is in it, what it created is removed again: no
//! empty database or key file is left behind. A database another process
//! created meanwhile, or one holding an account (another process's, or the
//! first users of an import that failed later), is never removed.

use std::path::{Path, PathBuf};

use crate::Command;
use crate::output::CliError;

impl Command {
    /// Whether the command may create the database: the ones that put the
    /// first accounts in.
    pub fn creates_database(&self) -> bool {
        matches!(self, Command::Register { .. } | Command::ImportFlask { .. })
    }
}

/// Files a command created, removed if it fails.
#[derive(Debug)]
pub struct Created {
    files: Vec<PathBuf>,
}

impl Created {
    /// Removes the database (with its `-wal`, `-shm` and `-journal` files)
    /// and the key file this command created, unless an account is in it
    /// (or whether one is cannot be told). Call it once the command's
    /// connections are closed.
    pub async fn remove_if_empty(self) {
        let Some(db) = self.files.first() else {
            return;
        };
        if !holds_no_account(db).await {
            return;
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Whether the SQLite file `db` holds no account: no users table yet, or
/// an empty one. `false` when it cannot be read (then it is kept).
async fn holds_no_account(db: &Path) -> bool {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let Ok(pool) = SqlitePool::connect_with(opts).await else {
        return false;
    };
    let table: Result<bool, _> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'twofa_users')",
    )
    .fetch_one(&pool)
    .await;
    let empty = match table {
        Ok(false) => true,
        Ok(true) => sqlx::query_scalar::<_, bool>("SELECT NOT EXISTS (SELECT 1 FROM twofa_users)")
            .fetch_one(&pool)
            .await
            .unwrap_or(false),
        Err(_) => false,
    };
    pool.close().await;
    empty
}

/// Checks the database setting `db` before anything is opened: a SQLite
/// file must be in a directory that exists, and exist unless `create`.
/// Returns what opening it will create (for [`Created::remove`]), if
/// anything. Database servers and `:memory:` are not checked here.
pub fn prepare(db: &str, create: bool) -> Result<Option<Created>, CliError> {
    let Some(file) = demo_support::sqlite_file(db) else {
        return Ok(None);
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(CliError::bad_input(
            "no_database",
            format!(
                "{}: no such directory (the database is {})",
                dir.display(),
                file.display()
            ),
        ));
    }
    if !create {
        if file.exists() {
            return Ok(None);
        }
        return Err(CliError::bad_input(
            "no_database",
            format!(
                "{}: no such database (a mistyped --db or DATABASE_URL?); \
                 `cli register` or `cli import-flask` creates one",
                file.display()
            ),
        ));
    }
    // The key file is this command's if it is missing now (kept by an
    // operator otherwise); looked at before the database is made.
    let key = demo_support::key_file(db).filter(|k| !k.exists());
    // Made here, empty and private (as the store would make it), so that
    // exactly one process knows it made it.
    let mut new = std::fs::OpenOptions::new();
    new.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut new, 0o600);
    match new.open(&file) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => {
            return Err(CliError::service(
                "config_error",
                format!("cannot create the database {}: {e}", file.display()),
            ));
        }
    }
    let mut files: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", file.display())))
        .collect();
    files.extend(key);
    Ok(Some(Created { files }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly one process makes the database; what it made goes only while
    /// no account is in it (another process may have registered one).
    #[tokio::test]
    async fn only_an_empty_database_this_command_made_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db").display().to_string();
        let ours = prepare(&db, true).unwrap().expect("made here");
        assert!(prepare(&db, true).unwrap().is_none(), "made by the first");
        assert!(prepare(&db, false).unwrap().is_none());
        std::fs::write(format!("{db}.key"), "k").unwrap();
        ours.remove_if_empty().await;
        assert!(!Path::new(&db).exists());
        assert!(!Path::new(&format!("{db}.key")).exists());

        // Someone registered meanwhile: kept.
        let ours = prepare(&db, true).unwrap().expect("made here");
        let store = twofa_verify::store::SqliteStore::open(&db).await.unwrap();
        sqlx::query(
            "INSERT INTO twofa_users (username, username_key, email, password_hash, created_at)
             VALUES ('bob', 'bob', 'bob@example.com', 'x', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.pool().close().await;
        ours.remove_if_empty().await;
        assert!(Path::new(&db).exists());
    }
}
