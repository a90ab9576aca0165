//! The session store shared by two store instances: memory, one SQLite
//! file, PostgreSQL with two pools (`DATABASE_URL`, else SKIPPED), Redis
//! with two connections (`REDIS_URL`, else SKIPPED).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use twofa_verify::axum::StateSessionStore;
use twofa_verify::{MemoryStore, SqliteStore};

use super::app::key;

fn record(value: &str) -> Record {
    let mut data = HashMap::new();
    data.insert("k".to_owned(), serde_json::Value::from(value));
    Record {
        id: Id::default(),
        data,
        expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc()
            + tower_sessions::cookie::time::Duration::minutes(10),
    }
}

/// A request that loaded a session before a logout (delete) or a login
/// (new id) finishes after it: its save must not bring the session back.
/// Then 200 saves of one session through both instances, racing one
/// delete: it ends deleted, every time.
async fn stale_saves_stay_dead(one: &StateSessionStore, two: &StateSessionStore, what: &str) {
    // Logout: the in-flight request loaded it, the logout deleted it.
    let mut rec = record("logged in");
    one.create(&mut rec).await.unwrap();
    let in_flight = two.load(&rec.id).await.unwrap().unwrap();
    one.delete(&rec.id).await.unwrap();
    two.save(&in_flight).await.unwrap();
    assert_eq!(
        one.load(&rec.id).await.unwrap(),
        None,
        "{what}: after delete"
    );

    // Login: the id was cycled (old deleted, data under a new id).
    let mut rec = record("before login");
    one.create(&mut rec).await.unwrap();
    let in_flight = two.load(&rec.id).await.unwrap().unwrap();
    let old = rec.id;
    one.delete(&old).await.unwrap();
    rec.id = Id::default();
    one.create(&mut rec).await.unwrap();
    two.save(&in_flight).await.unwrap();
    assert_eq!(one.load(&old).await.unwrap(), None, "{what}: old id");
    assert_eq!(one.load(&rec.id).await.unwrap().as_ref(), Some(&rec));

    for round in 0..3 {
        let mut rec = record("racing");
        one.create(&mut rec).await.unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(201));
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = [one, two][i % 2].clone();
                let (barrier, mut r) = (barrier.clone(), rec.clone());
                tokio::spawn(async move {
                    r.data.insert("k".into(), i.into());
                    barrier.wait().await;
                    store.save(&r).await.unwrap();
                })
            })
            .collect();
        barrier.wait().await;
        one.delete(&rec.id).await.unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            two.load(&rec.id).await.unwrap(),
            None,
            "{what}: round {round}: a save revived the deleted session"
        );
    }
}

/// A session created through one store instance loads through the other;
/// its expiry is honoured; 200 concurrent creates give 200 distinct ids.
async fn shared_store_checks(one: StateSessionStore, two: StateSessionStore, what: &str) {
    let mut rec = record("first");
    one.create(&mut rec).await.unwrap();
    assert_eq!(
        two.load(&rec.id).await.unwrap().as_ref(),
        Some(&rec),
        "{what}"
    );
    rec.data.insert("k".into(), "second".into());
    two.save(&rec).await.unwrap();
    assert_eq!(
        one.load(&rec.id).await.unwrap().as_ref(),
        Some(&rec),
        "{what}"
    );
    one.delete(&rec.id).await.unwrap();
    assert_eq!(two.load(&rec.id).await.unwrap(), None, "{what}");
    stale_saves_stay_dead(&one, &two, what).await;

    let mut short = record("short");
    short.expiry_date = tower_sessions::cookie::time::OffsetDateTime::now_utc()
        + tower_sessions::cookie::time::Duration::milliseconds(300);
    one.create(&mut short).await.unwrap();
    assert!(two.load(&short.id).await.unwrap().is_some(), "{what}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(two.load(&short.id).await.unwrap(), None, "{what}: expired");

    let stores = [one, two];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let mut r = record(&i.to_string());
                store.create(&mut r).await.unwrap();
                r
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(
            stores[1].load(&r.id).await.unwrap().as_ref(),
            Some(&r),
            "{what}"
        );
        ids.insert(r.id);
    }
    assert_eq!(ids.len(), 200, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_store_on_memory_and_sqlite() {
    let mem = MemoryStore::new();
    shared_store_checks(
        StateSessionStore::new(mem.clone(), key()),
        StateSessionStore::new(mem, key()),
        "memory",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db").to_str().unwrap().to_owned();
    let open = || async { StateSessionStore::new(SqliteStore::open(&path).await.unwrap(), key()) };
    shared_store_checks(open().await, open().await, "sqlite").await;

    // A restart: a new process (store) on the same file still has it.
    let mut rec = record("kept");
    open().await.create(&mut rec).await.unwrap();
    let reopened = open().await;
    assert_eq!(reopened.load(&rec.id).await.unwrap(), Some(rec));
    // Another secret key sees nothing.
    let other = StateSessionStore::new(
        SqliteStore::open(&path).await.unwrap(),
        twofa_verify::SecretKey::generate(),
    );
    let mut r = record("x");
    reopened.create(&mut r).await.unwrap();
    assert_eq!(other.load(&r.id).await.unwrap(), None);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_store_on_postgres_across_two_pools() {
    use twofa_verify::PostgresStore;
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: DATABASE_URL not set; the PostgreSQL session store test did not run"
        );
        return;
    };
    let schema = format!("twofa_websession_{:016x}", rand::random::<u64>());
    let a = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    let b = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    shared_store_checks(
        StateSessionStore::new(a.clone(), key()),
        StateSessionStore::new(b.clone(), key()),
        "postgres",
    )
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(a.pool())
    .await
    .unwrap();
    a.pool().close().await;
    b.pool().close().await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_store_on_redis_across_two_connections() {
    use twofa_verify::RedisStore;
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: REDIS_URL not set; the Redis session store test did not run"
        );
        return;
    };
    let prefix = format!("twofa_websession_{:016x}:", rand::random::<u64>());
    let connect = || async {
        RedisStore::builder(&url)
            .prefix(prefix.clone())
            .connect()
            .await
            .unwrap()
    };
    let (a, b) = (connect().await, connect().await);
    shared_store_checks(
        StateSessionStore::new(a.clone(), key()),
        StateSessionStore::new(b, key()),
        "redis",
    )
    .await;
    // The keys expire by themselves (10 minutes); delete them now.
    let mut conn = a.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
