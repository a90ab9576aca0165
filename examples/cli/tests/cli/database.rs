//! The database and the files beside it: a mistyped `--db` creates
//! nothing, a failed import or registration leaves nothing behind, the
//! files the CLI creates are private to their owner, and `logout` ends
//! every copy of the session file.

use crate::support::Dir;

const PW: &str = "correct horse battery\n";

/// Commands that read accounts fail on a database that does not exist,
/// naming its path, and create nothing: no empty database and key file
/// that would answer "invalid username or password".
#[test]
fn a_mistyped_db_names_the_path_and_creates_nothing() {
    let d = Dir::new();
    let typo = d.path("ap.db").display().to_string();
    for args in [
        &["login", "--user", "alice", "--password-stdin"][..],
        &["whoami"],
        &["info"],
        &["password", "reset", "request", "--email", "a@example.com"],
    ] {
        let mut with_db = vec!["--db", &typo];
        with_db.extend_from_slice(args);
        let j = d.fails(&with_db, PW, 2, "no_database");
        let message = j["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&typo), "{args:?}: {j}");
        assert!(message.contains("cli register"), "{args:?}: {j}");
    }
    // `--db` is global: after the command too; in text, on stderr.
    let r = d.run(&["whoami", "--db", &typo], "");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(&typo), "{r:?}");
    assert!(d.files().is_empty(), "{:?}", d.files());

    // A directory that does not exist is named, for every command.
    let nowhere = d.path("no-such-dir").join("app.db").display().to_string();
    for args in [
        &["whoami"][..],
        &[
            "register",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
    ] {
        let mut with_db = vec!["--db", &nowhere];
        with_db.extend_from_slice(args);
        let j = d.fails(&with_db, PW, 2, "no_database");
        let message = j["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("no-such-dir"), "{args:?}: {j}");
        assert!(message.contains("no such directory"), "{args:?}: {j}");
    }
    assert!(d.files().is_empty(), "{:?}", d.files());

    // `register` creates it; then the others find it.
    d.expect(
        &[
            "register",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        PW,
        0,
    );
    d.expect(&["login", "--user", "alice", "--password-stdin"], PW, 0);
    d.expect(&["whoami"], "", 0);
}

/// A failed import into a new database (a mistyped source file), or a
/// failed first registration, leaves no database and no key file behind.
#[test]
fn a_failed_create_leaves_nothing_behind() {
    let d = Dir::new();
    std::fs::write(d.path(".env"), "LEGACY_HASHES=werkzeug\n").expect("write .env");
    let missing = d.path("flask-ap.db").display().to_string();
    let j = d.fails(&["import-flask", &missing], "", 2, "usage");
    assert!(
        j["error"]["message"].as_str().unwrap().contains(&missing),
        "{j}"
    );
    // Not a Flask database: it is read after the new database is made.
    std::fs::write(d.path("notes.db"), b"").expect("write");
    let notes = d.path("notes.db").display().to_string();
    d.fails(&["import-flask", &notes], "", 2, "usage");
    d.fails(
        &[
            "register",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "password\n",
        2,
        "weak_password",
    );
    assert_eq!(d.files(), [".env", "notes.db"]);

    // A failure on a database that exists removes nothing.
    let d = Dir::with_database();
    let before = d.files();
    d.fails(
        &[
            "register",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "password\n",
        2,
        "weak_password",
    );
    d.fails(&["import-flask", &missing], "", 2, "usage");
    assert_eq!(d.files(), before);
    d.fails(
        &["login", "--user", "owner", "--password-stdin"],
        PW,
        3,
        "invalid_credentials",
    );
}

/// The database (and its `-wal` and `-shm` files), the key file and the
/// session file are readable by their owner only, under the common umask
/// 022 too.
#[cfg(unix)]
#[test]
fn the_files_the_cli_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let cli = env!("CARGO_BIN_EXE_cli");
    let run = |args: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; printf 'correct horse battery\\n' | exec \"$0\" --json --db app.db {args}"
            ))
            .arg(cli)
            .current_dir(d.dir.path())
            .env_remove("TWOFA_SECRET_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("TWOFA_CLI_SESSION")
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{args}: {out:?}");
    };
    run("register --username kim --email kim@example.com --password-stdin");
    // A connection held open keeps the -wal and -shm files of the next
    // run (closing the last connection removes them).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pool = rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(d.path("app.db"));
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twofa_users")
            .fetch_one(&pool)
            .await
            .expect("read");
        assert_eq!(n, 1);
        pool
    });
    run("login --user kim --password-stdin");
    for f in [
        "app.db",
        "app.db-wal",
        "app.db-shm",
        "app.db.key",
        "app.db.session",
    ] {
        let mode = std::fs::metadata(d.path(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
    }
    rt.block_on(pool.close());
}

/// `logout` ends the session in the store: a copy of the session file
/// taken before stops working too.
#[test]
fn logout_ends_every_copy_of_the_session() {
    let d = Dir::with_database();
    d.expect(
        &["login", "--user", "owner", "--password-stdin"],
        "owner's long passphrase\n",
        0,
    );
    let session = d.path("app.db.session");
    let copy = std::fs::read(&session).expect("session file");
    d.expect(&["logout"], "", 0);
    std::fs::write(&session, &copy).expect("restore the copy");
    let j = d.fails(&["whoami"], "", 3, "not_logged_in");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("logged out"),
        "{j}"
    );
}
