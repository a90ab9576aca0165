//! Users of the Flask tutorial app, from the committed fixture
//! (`tests/fixtures/flask_users.db`, made by `scripts/flask-fixture.py` with
//! real Werkzeug), imported into SQLite and logged in.
#![cfg(feature = "sqlite")]

use secrecy::SecretString;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use twofa_verify::factor::{ConsoleSms, LocalCodes};
use twofa_verify::password::legacy::{Bcrypt, WerkzeugPbkdf2, WerkzeugScrypt};
use twofa_verify::{
    Authenticator, Error, Factor, ImportedUser, Login, RecordingSink, SqliteStore, StepUp,
    UserStore,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/flask_users.db");

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

async fn fixture_rows() -> Vec<ImportedUser> {
    let opts = SqliteConnectOptions::new()
        .filename(FIXTURE)
        .read_only(true);
    let pool = SqlitePool::connect_with(opts).await.unwrap();
    let rows = sqlx::query(
        "SELECT username, email, password_hash, verification_phone FROM user ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| ImportedUser {
            username: r.get(0),
            email: r.get(1),
            password_hash: r.get(2),
            phone: r.get(3),
        })
        .collect()
}

async fn setup() -> (Authenticator, SqliteStore, RecordingSink, tempfile::TempDir) {
    setup_with(false).await
}

async fn setup_with(
    bcrypt: bool,
) -> (Authenticator, SqliteStore, RecordingSink, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    let events = RecordingSink::default();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(*b"0123456789abcdef0123456789abcdeX")
        .sms(LocalCodes::new(ConsoleSms::quiet()))
        .events(events.clone())
        .legacy_verifier(WerkzeugPbkdf2::new())
        .legacy_verifier(WerkzeugScrypt::new());
    let auth = if bcrypt {
        auth.legacy_verifier(Bcrypt::new())
    } else {
        auth
    };
    (auth.build().unwrap(), store, events, dir)
}

/// Imports every row; the outcome per username (`Ok(sms)` or the error).
async fn import_all(auth: &Authenticator) -> Vec<(String, Result<bool, Error>)> {
    let mut out = Vec::new();
    for row in fixture_rows().await {
        let name = row.username.clone();
        out.push((name, auth.import_user(row).await.map(|u| u.phone.is_some())));
    }
    out
}

async fn hash_of(store: &SqliteStore, auth: &Authenticator, name: &str) -> String {
    let id = auth.user_by_username(name).await.unwrap().unwrap().id;
    store.user_by_id(id).await.unwrap().unwrap().password_hash
}

#[tokio::test]
async fn import_login_rehash_and_reimport() {
    let (auth, store, events, _dir) = setup().await;
    let first = import_all(&auth).await;
    let outcome = |name: &str| {
        first
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
            .unwrap()
    };
    assert!(matches!(outcome("alice"), Ok(false)), "{first:?}");
    assert!(matches!(outcome("bob"), Ok(false)), "{first:?}");
    assert!(matches!(outcome("carol"), Ok(true)), "{first:?}");
    assert!(
        matches!(outcome("dave"), Err(Error::EmailTaken)),
        "{first:?}"
    );
    assert!(
        matches!(outcome("eve smith"), Err(Error::InvalidUsername(_))),
        "{first:?}"
    );
    assert!(
        matches!(outcome("frank"), Err(Error::InvalidPhoneNumber(_))),
        "{first:?}"
    );
    // Werkzeug 1.0's salted HMAC-SHA256: no verifier, not imported.
    assert!(
        matches!(outcome("grace"), Err(Error::Config(_))),
        "{first:?}"
    );
    let imported = events
        .events()
        .iter()
        .filter(|e| matches!(e, twofa_verify::AuthEvent::UserImported { .. }))
        .count();
    assert_eq!(imported, 3);

    // The hashes are kept as they were.
    assert!(
        hash_of(&store, &auth, "alice")
            .await
            .starts_with("pbkdf2:sha256:150000$")
    );
    assert!(
        hash_of(&store, &auth, "bob")
            .await
            .starts_with("scrypt:32768:8:1$")
    );

    // Wrong passwords are refused, and leave the hash alone.
    for (name, wrong) in [("alice", "alice-flask-pw-2"), ("bob", "bob-scrypt-pw-1")] {
        let before = hash_of(&store, &auth, name).await;
        assert!(matches!(
            auth.login(name, &pw(wrong)).await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(hash_of(&store, &auth, name).await, before);
    }
    // The right ones log in and upgrade the hash; the password keeps working.
    for (name, right) in [("alice", "alice-flask-pw-1"), ("bob", "bob-scrypt-pw-2")] {
        assert!(matches!(
            auth.login(name, &pw(right)).await.unwrap(),
            Login::Complete(u) if u.username == name
        ));
        let upgraded = hash_of(&store, &auth, name).await;
        assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
        assert!(matches!(
            auth.login(name, &pw(right)).await.unwrap(),
            Login::Complete(_)
        ));
        assert_eq!(hash_of(&store, &auth, name).await, upgraded);
        assert!(matches!(
            auth.login(name, &pw("not the password")).await,
            Err(Error::InvalidCredentials)
        ));
    }
    // The phone the Flask app verified is the SMS factor, in E.164.
    let carol = auth.user_by_username("carol").await.unwrap().unwrap();
    assert_eq!(carol.phone.as_deref(), Some("+14155552671"));
    match auth.login("carol", &pw("carol-phone-pw-3")).await.unwrap() {
        Login::SecondFactor(c) => assert!(c.methods.contains(&Factor::Sms), "{c:?}"),
        Login::Complete(_) => panic!("carol has SMS 2FA"),
    }

    // Re-importing adds nobody.
    let again = import_all(&auth).await;
    assert!(again.iter().all(|(_, r)| r.is_err()), "{again:?}");
    let imported_after = events
        .events()
        .iter()
        .filter(|e| matches!(e, twofa_verify::AuthEvent::UserImported { .. }))
        .count();
    assert_eq!(imported_after, 3);
}

#[tokio::test]
async fn change_password_accepts_a_legacy_hash() {
    let (auth, store, _events, _dir) = setup().await;
    import_all(&auth).await;
    let bob = auth.user_by_username("bob").await.unwrap().unwrap();
    assert!(matches!(
        auth.change_password(
            bob.id,
            &StepUp::password("wrong wrong wrong"),
            &pw("a brand new passphrase")
        )
        .await,
        Err(Error::InvalidCredentials)
    ));
    auth.change_password(
        bob.id,
        &StepUp::password("bob-scrypt-pw-2"),
        &pw("a brand new passphrase"),
    )
    .await
    .unwrap();
    assert!(
        hash_of(&store, &auth, "bob")
            .await
            .starts_with("$argon2id$")
    );
    assert!(matches!(
        auth.login("bob", &pw("a brand new passphrase"))
            .await
            .unwrap(),
        Login::Complete(_)
    ));
}

#[tokio::test]
async fn import_refuses_unknown_formats_without_a_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("a.db").to_str().unwrap())
        .await
        .unwrap();
    // No legacy verifier registered: Werkzeug hashes are not accepted.
    let auth = Authenticator::builder()
        .store(store)
        .secret_key(*b"0123456789abcdef0123456789abcdeX")
        .build()
        .unwrap();
    let rows = fixture_rows().await;
    assert!(matches!(
        auth.import_user(rows[0].clone()).await,
        Err(Error::Config(_))
    ));
    // An Argon2 PHC string is always accepted.
    let phc = twofa_verify::Hasher::new(Default::default(), 1, None)
        .hash(pw("imported argon pw"))
        .await
        .unwrap();
    let u = auth
        .import_user(ImportedUser {
            username: "argon".into(),
            email: "argon@example.com".into(),
            password_hash: phc,
            phone: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        auth.login("argon", &pw("imported argon pw")).await.unwrap(),
        Login::Complete(x) if x.id == u.id
    ));
}

/// Made by Python bcrypt 4.3.0 (`hashpw(b"bcrypt-user-pw-8", gensalt(12))`).
const BCRYPT_12: &str = "$2b$12$aHMQCEVE2StuQV957YJHh.bRqCBPl.wzrGmX6duCdUS4abi0yEi7S";

/// The median time of three failed logins as `name`.
async fn failed_login_ms(auth: &Authenticator, name: &str) -> u128 {
    let mut t = Vec::new();
    for _ in 0..3 {
        let start = std::time::Instant::now();
        assert!(matches!(
            auth.login(name, &pw("a wrong password")).await,
            Err(Error::InvalidCredentials)
        ));
        t.push(start.elapsed().as_millis());
    }
    t.sort_unstable();
    t[1]
}

/// An unknown user costs as much as the dearest format registered, so a
/// failed login does not tell whether the account exists. Prints the
/// figures quoted in the README (`-- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cost_the_slowest_format() {
    let (auth, _store, _events, _dir) = setup_with(true).await;
    import_all(&auth).await;
    let phc = twofa_verify::Hasher::new(Default::default(), 1, None)
        .hash(pw("imported argon pw"))
        .await
        .unwrap();
    for (name, hash) in [("argon", phc.as_str()), ("bcrypt", BCRYPT_12)] {
        auth.import_user(ImportedUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            password_hash: hash.into(),
            phone: None,
        })
        .await
        .unwrap();
    }
    // The first unknown-user login measures the formats once: not timed.
    let _ = auth.login("nobody-warmup", &pw("x")).await;
    let mut figures = Vec::new();
    for (label, name) in [
        ("argon2id m=19456 t=2", "argon"),
        ("pbkdf2:sha256:150000", "alice"),
        ("scrypt:32768:8:1", "bob"),
        ("bcrypt cost 12", "bcrypt"),
        ("unknown user", "nobody"),
    ] {
        figures.push((label, failed_login_ms(&auth, name).await));
    }
    for (label, ms) in &figures {
        println!("{label:>22}: {ms} ms");
    }
    let slowest = figures[..4].iter().map(|f| f.1).max().unwrap();
    let unknown = figures[4].1;
    // Loose bounds: the machine is shared; the point is the order of magnitude.
    assert!(
        unknown * 2 >= slowest,
        "unknown user {unknown} ms, slowest format {slowest} ms: {figures:?}"
    );
}
