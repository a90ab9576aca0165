//! The conformance suite against `PostgresStore`, each test in its own fresh
//! schema with a random name (dropped afterwards), plus PostgreSQL-specific
//! checks. Needs `DATABASE_URL`, e.g.
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`; without it every
//! test prints a loud SKIPPED line and passes.
#![cfg(all(feature = "postgres", feature = "test-util"))]

use twofa_verify::conformance as support;

use twofa_verify::store::{Admission, NewUser, PostgresStore, StateStore, UserStore};
use twofa_verify::{Error, Timestamp};

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to stderr directly (not `eprintln!`), so that the test
            // harness's output capture cannot hide it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: DATABASE_URL not set; PostgresStore tests did not run \
                 (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

fn random_schema() -> String {
    format!("twofa_test_{:016x}", rand::random::<u64>())
}

/// A store in a fresh random schema, or `None` (skip) without `DATABASE_URL`.
async fn fresh() -> Option<PostgresStore> {
    let url = database_url()?;
    Some(
        PostgresStore::connect_with_schema(&url, &random_schema())
            .await
            .expect("connect to DATABASE_URL"),
    )
}

/// Drops the store's schema and closes its pool.
async fn drop_schema(store: PostgresStore) {
    if let Some(schema) = store.schema() {
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await
            .expect("drop test schema");
    }
    store.pool().close().await;
}

twofa_verify::conformance_suite!(fresh(), drop_schema);
twofa_verify::audit_store_conformance!(fresh(), drop_schema);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_in_one_schema_per_check() {
    if database_url().is_none() {
        return;
    }
    // Each check gets a fresh schema; the previous one is dropped (and its
    // pool closed) when the next is made, so connections do not pile up.
    let previous = std::sync::Arc::new(tokio::sync::Mutex::new(None::<PostgresStore>));
    let prev = previous.clone();
    support::run_all(move || {
        let prev = prev.clone();
        async move {
            let mut prev = prev.lock().await;
            if let Some(old) = prev.take() {
                drop_schema(old).await;
            }
            let store = fresh().await.expect("DATABASE_URL is set");
            *prev = Some(store.clone());
            store
        }
    })
    .await;
    if let Some(last) = previous.lock().await.take() {
        drop_schema(last).await;
    }
}

/// Two stores on one schema (two app instances) share state, atomically.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_schema() {
    let Some(url) = database_url() else { return };
    let schema = random_schema();
    let a = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    let b = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    a.put("challenge", b"x", support::at(1000)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.take("challenge", support::T0).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(won, 1);
    let alice = a.create_user(support::new_user("alice")).await.unwrap();
    assert_eq!(b.user_by_username("alice").await.unwrap(), Some(alice));
    assert!(matches!(
        b.create_user(support::new_user("alice")).await,
        Err(Error::UsernameTaken)
    ));
    b.pool().close().await;
    drop_schema(a).await;
}

/// Different schemas do not see each other's data.
#[tokio::test]
async fn schemas_are_isolated() {
    let Some(url) = database_url() else { return };
    let a = PostgresStore::connect_with_schema(&url, &random_schema())
        .await
        .unwrap();
    let b = PostgresStore::connect_with_schema(&url, &random_schema())
        .await
        .unwrap();
    a.create_user(support::new_user("alice")).await.unwrap();
    a.put("k", b"a", support::at(1000)).await.unwrap();
    assert_eq!(b.user_by_username("alice").await.unwrap(), None);
    assert_eq!(b.get("k", support::T0).await.unwrap(), None);
    b.create_user(support::new_user("alice")).await.unwrap();
    // The compound operations are functions of each schema: a gate set
    // through one schema's is not seen through the other's.
    let spec = gated_spec();
    let first = a.reserve_attempt(&spec, support::T0).await.unwrap();
    assert!(
        matches!(&first, Admission::Admitted(r) if r.gated),
        "{first:?}"
    );
    assert!(matches!(
        a.reserve_attempt(&spec, support::T0).await.unwrap(),
        Admission::Held { lock: true, .. }
    ));
    let other = b.reserve_attempt(&spec, support::T0).await.unwrap();
    assert!(
        matches!(&other, Admission::Admitted(r) if r.gated),
        "{other:?}"
    );
    drop_schema(a).await;
    drop_schema(b).await;
}

/// Mixed-case schema names work (they are quoted everywhere); hostile ones
/// are refused before reaching the database.
#[tokio::test]
async fn schema_names() {
    let Some(url) = database_url() else { return };
    let schema = format!("Twofa_Mixed_{:08x}", rand::random::<u32>());
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    assert_eq!(store.schema(), Some(schema.as_str()));
    let current: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(current, schema);
    store.put("k", b"v", support::at(1000)).await.unwrap();
    // Reconnecting to the existing schema: migrations already applied.
    let again = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    assert_eq!(
        again.get("k", support::T0).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    let own: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twofa_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(own >= 1);
    again.pool().close().await;
    drop_schema(store).await;

    for bad in [
        "",
        "a\"b",
        "x; DROP SCHEMA public CASCADE",
        "1abc",
        "a b",
        "ä",
    ] {
        let err = PostgresStore::connect_with_schema(&url, bad)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{bad:?}: {err:?}");
    }
}

/// `Debug` shows where the store points, never the password or URL.
#[tokio::test]
async fn debug_hides_the_password() {
    let Some(url) = database_url() else { return };
    // Add a password to the URL (trust authentication ignores it).
    let with_password = match url.split_once("://") {
        Some((scheme, rest))
            if !rest.split('@').next().unwrap_or("").contains(':') && rest.contains('@') =>
        {
            format!("{scheme}://{}", rest.replacen('@', ":Sup3rS3cretPw@", 1))
        }
        _ => url.clone(),
    };
    let store = match PostgresStore::connect_with_schema(&with_password, &random_schema()).await {
        Ok(s) => s,
        // Password authentication in place: fall back to the given URL.
        Err(_) => PostgresStore::connect_with_schema(&url, &random_schema())
            .await
            .unwrap(),
    };
    let debug = format!("{store:?}");
    assert!(debug.starts_with("PostgresStore"), "{debug}");
    assert!(!debug.contains("Sup3rS3cretPw"), "{debug}");
    assert!(!debug.contains("postgres://"), "{debug}");
    assert!(debug.contains("twofa_test_"), "{debug}");
    drop_schema(store).await;
}

#[tokio::test]
async fn purge_expired_removes_only_expired_rows() {
    let Some(store) = fresh().await else { return };
    store.put("old", b"1", support::at(10)).await.unwrap();
    store.put("edge", b"2", support::at(20)).await.unwrap();
    store.put("live", b"3", support::at(30)).await.unwrap();
    assert_eq!(store.purge_expired(support::at(20)).await.unwrap(), 2);
    assert_eq!(
        store.get("live", support::at(20)).await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(store.purge_expired(support::at(20)).await.unwrap(), 0);
    drop_schema(store).await;
}

/// Failures surface as `Error::Store`: unreachable server, closed pool,
/// missing tables.
#[tokio::test]
async fn failures_give_store_errors() {
    let Some(store) = fresh().await else { return };
    // Nothing listens on port 1.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    let err = PostgresStore::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");

    sqlx::query("DROP TABLE twofa_state")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.get("k", support::T0).await,
        Err(Error::Store(_))
    ));
    let closed = PostgresStore::from_pool(store.pool().clone());
    drop_schema(store).await;
    assert!(matches!(
        closed.get("k", Timestamp::from_millis(0)).await,
        Err(Error::Store(_))
    ));
    assert!(matches!(
        closed.create_user(support::new_user("x")).await,
        Err(Error::Store(_))
    ));
}

/// Rows without a skeleton (written before skeletons existed) get theirs
/// from `migrate()`, oldest first; a younger look-alike keeps NULL; running
/// it again changes nothing.
#[tokio::test]
async fn migrate_backfills_legacy_skeletons() {
    let Some(store) = fresh().await else { return };
    for name in ["alice", "user1", "userl"] {
        store
            .create_user(NewUser {
                username_skeleton: format!("placeholder-{name}"),
                ..support::new_user(name)
            })
            .await
            .unwrap();
    }
    sqlx::query("UPDATE twofa_users SET username_skeleton = NULL")
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let skeletons = || async {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT username_key, username_skeleton FROM twofa_users ORDER BY id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
    };
    let expected = vec![
        ("alice".to_owned(), Some("alice".to_owned())),
        ("user1".to_owned(), Some("userl".to_owned())),
        ("userl".to_owned(), None),
    ];
    assert_eq!(skeletons().await, expected);
    assert_eq!(store.backfill_skeletons().await.unwrap(), 0);
    assert_eq!(skeletons().await, expected);
    let err = store
        .create_user(NewUser {
            username_skeleton: "alice".into(),
            ..support::new_user("a1ice")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UsernameTaken), "got {err:?}");
    drop_schema(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkeys() {
    let Some(probe) = fresh().await else {
        eprintln!("SKIPPED: DATABASE_URL not set; PostgreSQL passkey conformance did not run");
        return;
    };
    drop_schema(probe).await;
    let made = std::sync::Mutex::new(Vec::new());
    support::run_passkeys(|| async {
        let store = fresh().await.expect("DATABASE_URL");
        made.lock().unwrap().push(store.clone());
        store
    })
    .await;
    for store in made.into_inner().unwrap() {
        drop_schema(store).await;
    }
}

/// An operator's search by phone number can use its index (the planner
/// is told not to scan, as it would on a table this small).
#[tokio::test]
async fn the_phone_lookup_uses_an_index() {
    let Some(store) = fresh().await else {
        return;
    };
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM twofa_users WHERE phone = $1 ORDER BY id LIMIT 1",
    )
    .bind("+14155550100")
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    assert!(
        plan.iter().any(|step| step.contains("twofa_users_phone")),
        "{plan:?}"
    );
    drop_schema(store).await;
}

/// A spec for the compound-operation checks below: threshold 1, so the
/// first reservation already sets the gate, a 30 s lock.
fn gated_spec() -> twofa_verify::store::AttemptSpec {
    use std::time::Duration;
    use twofa_verify::store::{AttemptSpec, Lockout};
    AttemptSpec {
        lockout: Lockout {
            counter: "fail:alice".into(),
            gate: "gate:alice".into(),
            gates: "gates:alice".into(),
            hold: Some("admin-lock:alice".into()),
            memory: Duration::from_secs(600),
            threshold: 1,
            waits: vec![Duration::from_secs(30)],
            locks_from: 0,
        },
        budgets: vec![],
    }
}

/// A compound call commits without waiting for the WAL flush unless asked
/// to, for its own transaction only: inside a transaction that calls the
/// function the setting is off (on with `p_synchronous`), and the
/// connection's next statement sees it on again.
#[tokio::test]
async fn compound_calls_relax_only_their_own_commit() {
    let Some(store) = fresh().await else { return };
    let call = "SELECT o_kind FROM twofa_reserve_attempt(0, 'g', 'c', 'gs', 1000, 5, \
                '{}'::text[], '{}'::bigint[], '{}'::bigint[], '{1000}'::bigint[], \
                ARRAY['\\x00'::bytea], $1)";
    for synchronous in [false, true] {
        let mut conn = store.pool().acquire().await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        let kind: i32 = sqlx::query_scalar(call)
            .bind(synchronous)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(kind, 2, "admitted");
        let inside: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(inside, if synchronous { "on" } else { "off" });
        tx.commit().await.unwrap();
        let after: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(after, "on", "the setting ended with the transaction");
    }
    // Through the store, both ways: the pool's connection is left as it was.
    let spec = gated_spec();
    for store in [store.clone(), store.clone().synchronous_state_commits(true)] {
        store.reserve_attempt(&spec, support::T0).await.unwrap();
        let after: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(after, "on");
    }
    drop_schema(store).await;
}

/// A compound operation whose function fails (here: the one the hold's
/// overload calls is gone) is a store error, never an admission.
#[tokio::test]
async fn a_failing_compound_call_is_a_store_error() {
    let Some(store) = fresh().await else { return };
    let spec = gated_spec();
    sqlx::query(
        "DROP FUNCTION twofa_reserve_attempt(BIGINT, TEXT, TEXT, TEXT, BIGINT, BIGINT, TEXT[], \
         BIGINT[], BIGINT[], BIGINT[], BYTEA[], BOOLEAN)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let err = store.reserve_attempt(&spec, support::T0).await.unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    // The gate entry holds a value that is not a gate: read as a lock.
    store
        .put("gate:alice", b"junk", support::at(60_000))
        .await
        .unwrap();
    let step = twofa_verify::store::StepCheck {
        key: "step:alice",
        step: 1,
        expires_at: support::at(90_000),
    };
    let (admission, outcome) = store
        .reserve_attempt_and_check_step(&spec, step, support::T0)
        .await
        .unwrap();
    assert!(
        matches!(
            admission,
            twofa_verify::store::Admission::Held { lock: true, .. }
        ),
        "{admission:?}"
    );
    assert_eq!(outcome, None);
    drop_schema(store).await;
}

/// The compound functions (and the store's bulk insert of recovery codes)
/// call only the built-ins: overloads that a role could create in another
/// schema on the connection's search_path (here each one fails the call)
/// are never a better match.
#[tokio::test]
async fn compound_functions_ignore_look_alike_built_ins() {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr;
    use twofa_verify::store::{Settlement, StepCheck};
    let Some(url) = database_url() else { return };
    let (schema, evil) = (random_schema(), random_schema());
    let setup = PgPoolOptions::new().connect(&url).await.unwrap();
    let trap = |signature: &str, returns: &str| {
        format!(
            "CREATE FUNCTION \"{evil}\".{signature} RETURNS {returns} LANGUAGE plpgsql AS \
             $$BEGIN RAISE EXCEPTION 'look-alike called'; END$$"
        )
    };
    for sql in [
        format!("CREATE SCHEMA \"{schema}\""),
        format!("CREATE SCHEMA \"{evil}\""),
        trap("cardinality(text[])", "int"),
        trap("cardinality(bigint[])", "int"),
        trap("hashtextextended(text, int)", "bigint"),
        trap("set_config(text, text, bool)", "text"),
        trap("length(bytea)", "int"),
        trap("unnest(bytea[])", "SETOF bytea"),
        trap("evil_append(bigint[], bigint)", "bigint[]"),
        format!(
            "CREATE OPERATOR \"{evil}\".|| (LEFTARG = bigint[], RIGHTARG = bigint, \
             FUNCTION = \"{evil}\".evil_append)"
        ),
        trap("evil_plus(numeric, bigint)", "numeric"),
        format!(
            "CREATE OPERATOR \"{evil}\".+ (LEFTARG = numeric, RIGHTARG = bigint, \
             FUNCTION = \"{evil}\".evil_plus)"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&setup)
            .await
            .unwrap();
    }
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", format!("\"{schema}\", \"{evil}\""))]);
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    let store = PostgresStore::from_pool(pool);
    store.migrate().await.unwrap();

    let mut spec = gated_spec();
    spec.budgets.push(twofa_verify::store::Budget {
        key: "client".into(),
        window: std::time::Duration::from_secs(60),
        max: 10,
    });
    let first = store.reserve_attempt(&spec, support::T0).await.unwrap();
    assert!(
        matches!(&first, Admission::Admitted(r) if r.gated),
        "{first:?}"
    );
    store
        .settle_attempt(&spec, Settlement::Released { gated: true }, support::T0)
        .await
        .unwrap();
    let step = StepCheck {
        key: "step:alice",
        step: 7,
        expires_at: support::at(90_000),
    };
    store
        .reserve_attempt_and_check_step(&spec, step, support::T0)
        .await
        .unwrap();
    let alice = store.create_user(support::new_user("alice")).await.unwrap();
    store
        .replace_recovery_codes(alice.id, &[support::code(1), support::code(2)])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 2);
    store.pool().close().await;
    for s in [&schema, &evil] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{s}\" CASCADE")))
            .execute(&setup)
            .await
            .unwrap();
    }
}
