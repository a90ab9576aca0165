//! The database a command runs on. Commands that read accounts need one
//! that exists: a mistyped `--db` must fail naming the path, not create an
//! empty database (and key) and answer "invalid username or password".
//! Only `register` and `import-flask` create one, and when such a command
//! fails, what it created is removed again: no empty database or key file
//! is left behind.

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
    /// and the key file this command created. Call it once the database's
    /// connections are closed.
    pub fn remove(self) {
        for f in self.files {
            let _ = std::fs::remove_file(f);
        }
    }
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
    if file.exists() {
        return Ok(None);
    }
    if !create {
        return Err(CliError::bad_input(
            "no_database",
            format!(
                "{}: no such database (a mistyped --db or DATABASE_URL?); \
                 `cli register` or `cli import-flask` creates one",
                file.display()
            ),
        ));
    }
    let mut files: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", file.display())))
        .collect();
    // The key file too, unless it was there before (kept by an operator).
    if let Some(key) = demo_support::key_file(db).filter(|k| !k.exists()) {
        files.push(key);
    }
    Ok(Some(Created { files }))
}
