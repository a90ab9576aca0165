//! The conformance suite against `SqliteStore` (a fresh temporary file per
//! test), plus SQLite-specific checks: file creation, persistence, WAL,
//! purging, and failures that must surface as `Error::Store`.
#![cfg(all(feature = "sqlite", feature = "test-util"))]

use twofa_verify::conformance as support;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;
use twofa_verify::store::SqliteStore;
use twofa_verify::store::{NewUser, StateStore, UserStore};
use twofa_verify::{Authenticator, Error, Login, Timestamp, UserId};

/// A store in a fresh temporary directory, deleted when the guard drops.
async fn temp_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("twofa.db");
    let store = SqliteStore::open(path.to_str().expect("utf-8 path"))
        .await
        .expect("open");
    (store, dir)
}

/// For the suite: a store in a fresh temporary directory that [`remove`] deletes.
async fn fresh() -> Option<SqliteStore> {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let path = dir.join("twofa.db");
    Some(
        SqliteStore::open(path.to_str().expect("utf-8 path"))
            .await
            .expect("open"),
    )
}

/// Closes the store and deletes its directory.
async fn remove(store: SqliteStore) {
    store.pool().close().await;
    let file = store.pool().connect_options().get_filename().to_owned();
    if let Some(dir) = file.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

twofa_verify::conformance_suite!(fresh(), remove);
twofa_verify::audit_store_conformance!(fresh(), remove);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_passes_the_suite() {
    support::run_all(|| async { SqliteStore::in_memory().await.expect("in-memory store") }).await;
}

#[tokio::test]
async fn creates_file_persists_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-dir-less.db");
    assert!(!path.exists());
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists(), "open creates the file");
    let alice = store.create_user(support::new_user("alice")).await.unwrap();
    store.put("k", b"v", support::at(1000)).await.unwrap();
    store.pool().close().await;

    // Reopening runs the (already applied) migrations again: a no-op.
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.user_by_username("alice").await.unwrap(), Some(alice));
    assert_eq!(
        store.get("k", support::T0).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );

    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    // Own migrations table: an app's `_sqlx_migrations` is left alone.
    let own: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twofa_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(own >= 1);
    let theirs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(theirs, 0);

    let debug = format!("{store:?}");
    assert!(debug.starts_with("SqliteStore"), "{debug}");
    assert!(debug.contains("sub-dir-less.db"), "{debug}");
}

#[tokio::test]
async fn two_stores_on_one_file_share_state() {
    let (a, _dir) = temp_store().await;
    let path = a.pool().connect_options().get_filename().to_owned();
    let b = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    a.put("shared", b"x", support::at(1000)).await.unwrap();
    let (ra, rb) = tokio::join!(a.take("shared", support::T0), b.take("shared", support::T0));
    let won = [ra.unwrap(), rb.unwrap()].into_iter().flatten().count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn purge_expired_removes_only_expired_rows() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.put("old", b"1", support::at(10)).await.unwrap();
    store.put("edge", b"2", support::at(20)).await.unwrap();
    store.put("live", b"3", support::at(30)).await.unwrap();
    store
        .increment("counter", Duration::from_millis(5), false, support::T0)
        .await
        .unwrap();
    assert_eq!(store.purge_expired(support::at(20)).await.unwrap(), 3);
    assert_eq!(
        store.get("live", support::at(20)).await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twofa_state")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(store.purge_expired(support::at(20)).await.unwrap(), 0);
}

#[tokio::test]
async fn automatic_purge_runs_occasionally() {
    let store = SqliteStore::in_memory().await.unwrap();
    for i in 0..100 {
        store
            .put(&format!("dead{i}"), b"x", support::at(1))
            .await
            .unwrap();
    }
    // 1024 writes that know `now` trigger one purge.
    for i in 0..1024 {
        assert!(
            store
                .put_if_absent(
                    &format!("live{i}"),
                    b"x",
                    support::at(10_000),
                    support::at(5)
                )
                .await
                .unwrap()
        );
    }
    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twofa_state WHERE key LIKE 'dead%'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(dead, 0);
}

/// Every operation on a store whose pool is closed fails with `Error::Store`
/// (never a panic, never a success, never `UserNotFound` or the like).
#[tokio::test]
async fn closed_database_gives_store_errors() {
    let (store, _dir) = temp_store().await;
    let alice = store.create_user(support::new_user("alice")).await.unwrap();
    store.pool().close().await;
    let id = alice.id;
    let now = Timestamp::from_millis(0);
    let later = Timestamp::from_millis(1);

    fn check<T: std::fmt::Debug>(what: &str, r: Result<T, Error>) {
        match r {
            Err(Error::Store(e)) => assert!(!e.to_string().is_empty(), "{what}"),
            other => panic!("{what}: expected Error::Store, got {other:?}"),
        }
    }
    check(
        "create_user",
        store.create_user(support::new_user("bob")).await,
    );
    check("user_by_id", store.user_by_id(id).await);
    check("user_by_username", store.user_by_username("alice").await);
    check(
        "user_by_email",
        store.user_by_email("alice@example.com").await,
    );
    check("set_password_hash", store.set_password_hash(id, "h").await);
    check(
        "replace_password_hash",
        store.replace_password_hash(id, "a", "b").await,
    );
    check(
        "update_profile",
        store.update_profile(id, "A", "a", Some("a"), "a@x").await,
    );
    check("set_phone", store.set_phone(id, None).await);
    check("set_totp", store.set_totp(id, None).await);
    check(
        "replace_recovery_codes",
        store.replace_recovery_codes(id, &[support::code(1)]).await,
    );
    check(
        "use_recovery_code",
        store.use_recovery_code(id, &support::code(1)).await,
    );
    check("recovery_codes_left", store.recovery_codes_left(id).await);
    check("put", store.put("k", b"v", later).await);
    check(
        "put_if_absent",
        store.put_if_absent("k", b"v", later, now).await,
    );
    check("get", store.get("k", now).await);
    check("take", store.take("k", now).await);
    check("delete", store.delete("k").await);
    check(
        "increment",
        store
            .increment("k", Duration::from_secs(1), false, now)
            .await,
    );
    check("advance", store.advance("k", 1, later, now).await);
    check("purge_expired", store.purge_expired(now).await);
    check("migrate", store.migrate().await);
    let _ = format!("{store:?}");
}

/// A database file that is not a database, or a path that cannot be created,
/// is an `Error::Store` from `open`.
/// The database holds password hashes: a file `open` creates is private to
/// its owner, and so are the `-wal` and `-shm` files SQLite makes beside
/// it, under the usual umask (022) as under any other. A file that exists
/// keeps its mode (the operator's choice); in-memory URLs create no file.
#[cfg(unix)]
#[tokio::test]
async fn created_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    for (i, form) in ["path", "url"].into_iter().enumerate() {
        let path = dir.path().join(format!("private-{i}.db"));
        let arg = match form {
            "path" => path.display().to_string(),
            _ => format!("sqlite://{}", path.display()),
        };
        let store = SqliteStore::open(&arg).await.unwrap();
        store.create_user(support::new_user("alice")).await.unwrap();
        for file in [
            path.clone(),
            path.with_extension("db-wal"),
            path.with_extension("db-shm"),
        ] {
            assert_eq!(mode(&file), 0o600, "{form}: {}", file.display());
        }
        store.pool().close().await;
    }
    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = SqliteStore::open(shared.to_str().unwrap()).await.unwrap();
    store.pool().close().await;
    assert_eq!(mode(&shared), 0o640);

    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    let here = std::env::current_dir().unwrap();
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    store.pool().close().await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before.len());
    assert!(!here.join(":memory:").exists());
}

#[tokio::test]
async fn unusable_paths_give_store_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/db.sqlite");
    assert!(matches!(
        SqliteStore::open(missing_dir.to_str().unwrap()).await,
        Err(Error::Store(_))
    ));

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(garbage.to_str().unwrap()).await,
        Err(Error::Store(_))
    ));
}

/// Dropping a table under the store (a broken database) gives `Error::Store`.
#[tokio::test]
async fn missing_tables_give_store_errors() {
    let store = SqliteStore::in_memory().await.unwrap();
    sqlx::query("DROP TABLE twofa_state")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.get("k", support::T0).await,
        Err(Error::Store(_))
    ));
    assert!(matches!(
        store.take("k", support::T0).await,
        Err(Error::Store(_))
    ));
    // Users still work.
    store.create_user(support::new_user("alice")).await.unwrap();
    assert!(store.user_by_id(UserId(1)).await.unwrap().is_some());
}

/// Uniqueness holds for writers on separate connections to one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_race_for_one_username() {
    let (a, _dir) = temp_store().await;
    let path = a.pool().connect_options().get_filename().to_owned();
    let b = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    let user = |i: usize| NewUser {
        email: format!("r{i}@example.com"),
        ..support::new_user("racer")
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let u = user(i);
        tasks.push(tokio::spawn(async move { s.create_user(u).await }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::UsernameTaken) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
}

/// The skeleton of every user as stored, by username key.
async fn skeletons(store: &SqliteStore) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT username_key, username_skeleton FROM twofa_users ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Rows written before skeletons existed (NULL skeleton) get theirs when the
/// store opens, oldest first; a younger look-alike of an older name keeps
/// NULL and still works; running it again changes nothing; a legacy name
/// holding ':' still logs in, can be kept, and shows exactly in the
/// authenticator-app label.
#[tokio::test]
async fn open_backfills_legacy_skeletons() {
    let (store, dir) = temp_store().await;
    let path = dir.path().join("twofa.db");
    let auth = |store: SqliteStore| {
        Authenticator::builder()
            .store(store)
            .secret_key(
                twofa_verify::SecretKey::from_bytes(
                    b"sqlite-backfill-test-secret-key-0123456789".to_vec(),
                )
                .unwrap(),
            )
            .build()
            .unwrap()
    };
    let password = SecretString::from("correct horse battery");
    {
        let auth = auth(store.clone());
        for name in ["alice", "mary", "user1", "carol"] {
            let email = format!("{name}@example.com");
            auth.register(name, &email, &password).await.unwrap();
        }
    }
    // `userl` looks like `user1`: only a row from before skeletons can hold it.
    store
        .create_user(NewUser {
            username_skeleton: "placeholder".into(),
            ..support::new_user("userl")
        })
        .await
        .unwrap();
    // What the code before skeletons wrote: no skeleton, and ':' allowed.
    sqlx::query(
        "UPDATE twofa_users SET username = 'Carol:X', username_key = 'carol:x' \
         WHERE username_key = 'carol'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE twofa_users SET username_skeleton = NULL")
        .execute(store.pool())
        .await
        .unwrap();
    store.pool().close().await;

    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    let expected = vec![
        ("alice".to_owned(), Some("alice".to_owned())),
        ("mary".to_owned(), Some("rnary".to_owned())),
        ("user1".to_owned(), Some("userl".to_owned())),
        ("carol:x".to_owned(), Some(support::sk("carol:x"))),
        ("userl".to_owned(), None),
    ];
    assert_eq!(skeletons(&store).await, expected);
    assert_eq!(store.backfill_skeletons().await.unwrap(), 0);
    store.migrate().await.unwrap();
    assert_eq!(skeletons(&store).await, expected);

    let auth = auth(store.clone());
    // The backfilled skeletons are enforced.
    for look_alike in [support::CYRILLIC_ALICE, "a1ice", "rnary", "USERL"] {
        let email = format!("new-{}@example.com", look_alike.len());
        assert!(
            matches!(
                auth.register(look_alike, &email, &password).await,
                Err(Error::UsernameTaken)
            ),
            "{look_alike:?}"
        );
    }
    // The legacy look-alike without a skeleton keeps working.
    let userl = auth.user_by_username("userl").await.unwrap().unwrap();
    auth.update_profile(userl.id, Some("userl"), None)
        .await
        .unwrap();
    assert_eq!(skeletons(&store).await[4], ("userl".to_owned(), None));

    // The legacy name with ':' logs in and may be kept, not newly chosen.
    let carol = match auth.login("Carol:X", &password).await.unwrap() {
        Login::Complete(user) => user,
        Login::SecondFactor(_) => panic!("no second factor was enabled"),
        other => panic!("unexpected login outcome {other:?}"),
    };
    assert_eq!(carol.username, "Carol:X");
    auth.update_profile(carol.id, Some("Carol:X"), None)
        .await
        .unwrap();
    assert!(matches!(
        auth.update_profile(carol.id, Some("Carol:Y"), None).await,
        Err(Error::InvalidUsername(
            twofa_verify::error::UsernameProblem::Colon
        ))
    ));
    let step_up = twofa_verify::StepUp::password(password.expose_secret());
    let enrollment = auth
        .start_totp_enrollment(carol.id, &step_up)
        .await
        .unwrap();
    let uri = enrollment.otpauth_uri.expose_secret();
    assert!(
        uri.starts_with("otpauth://totp/twofa-verify:Carol%3AX?"),
        "{uri}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkeys() {
    let dirs = std::sync::Mutex::new(Vec::new());
    support::run_passkeys(|| async {
        let (store, dir) = temp_store().await;
        dirs.lock().unwrap().push(dir);
        store
    })
    .await;
}

/// An operator's search by phone number uses its index, not a scan of
/// every user.
#[tokio::test]
async fn the_phone_lookup_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("phone.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM twofa_users WHERE phone = ? ORDER BY id LIMIT 1",
    )
    .bind("+14155550100")
    .fetch_all(store.pool())
    .await
    .unwrap();
    let plan: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
    assert!(
        plan.iter().any(|step| step.contains("twofa_users_phone")),
        "{plan:?}"
    );
}
