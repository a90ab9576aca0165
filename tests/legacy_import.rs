//! Users of the Flask tutorial app, from the committed fixture
//! (`tests/fixtures/flask_users.db`, made by `scripts/flask-fixture.py` with
//! real Werkzeug), imported into SQLite and logged in.
#![cfg(all(feature = "sqlite", feature = "legacy-hashes"))]

use secrecy::SecretString;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use twofa_verify::event::RecordingSink;
use twofa_verify::factor::{ConsoleSms, LocalCodes};
use twofa_verify::password::legacy::{Bcrypt, WerkzeugPbkdf2, WerkzeugScrypt};
use twofa_verify::{
    Authenticator, Error, Factor, ImportedUser, Login, SqliteStore, StepUp, UserStore,
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
    setup_bounded(bcrypt, WerkzeugPbkdf2::MAX_ITERATIONS).await
}

/// With bcrypt or not, and PBKDF2 hashes up to `max_iterations`.
async fn setup_bounded(
    bcrypt: bool,
    max_iterations: u32,
) -> (Authenticator, SqliteStore, RecordingSink, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    let events = RecordingSink::default();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(
            twofa_verify::SecretKey::from_bytes(*b"0123456789abcdef0123456789abcdeX").unwrap(),
        )
        .sms(LocalCodes::new(ConsoleSms::quiet()))
        .events(events.clone())
        .legacy_verifier(WerkzeugPbkdf2::new().max_iterations(max_iterations))
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
        other => panic!("unexpected login outcome {other:?}"),
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
        .secret_key(
            twofa_verify::SecretKey::from_bytes(*b"0123456789abcdef0123456789abcdeX").unwrap(),
        )
        .build()
        .unwrap();
    let rows = fixture_rows().await;
    assert!(matches!(
        auth.import_user(rows[0].clone()).await,
        Err(Error::Config(_))
    ));
    // An Argon2 PHC string is always accepted.
    let phc = twofa_verify::password::Hasher::new(Default::default(), 1, None)
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

/// Made by Python's `hashlib.pbkdf2_hmac` in Werkzeug's format (password
/// `werkzeug-user-pw-8`): the defaults of Werkzeug 2.3 and 3.1.
const PBKDF2_600K: &str = "pbkdf2:sha256:600000$Vq3xYb7LmN2pQr8T$d2c7f75a7187f24d24a0d300c10c59a40647ed9a7e7a5f20ed6ebd31f997b0cb";
const PBKDF2_1M: &str = "pbkdf2:sha256:1000000$Vq3xYb7LmN2pQr8T$63be478d90602d9f82b6854ec73a99b8e353a1c4ab9ebd0c687e9088b31e5522";
/// The same password at Werkzeug 1.0's 150000 iterations.
const ALICE_150K: &str = "pbkdf2:sha256:150000$Vq3xYb7LmN2pQr8T$0246befa15e73937d0a269a8a2a1c362480d3c19fb978a887396b02ba33b9512";

/// The time of one failed login as `name`, in microseconds.
async fn failed_login_us(auth: &Authenticator, name: &str) -> u128 {
    let start = std::time::Instant::now();
    let r = auth.login(name, &pw("a wrong password")).await;
    assert!(matches!(r, Err(Error::InvalidCredentials)), "{name}: {r:?}");
    start.elapsed().as_micros()
}

/// An unknown user costs as much as the dearest format accepted, so a
/// failed login does not tell whether the account exists, nor that it is
/// one not yet upgraded from Werkzeug (here up to 2.3's 600000 PBKDF2
/// iterations, the bound; 3.1's million takes twice as long in the
/// unoptimised test build, for the same result). Failed logins are measured in
/// rounds, one per account each (so a busy moment of the shared machine
/// hits every account alike), and medians compared. Prints the figures
/// quoted in the README (`-- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cost_the_slowest_format() {
    let (auth, _store, _events, _dir) = setup_bounded(true, 600_000).await;
    import_all(&auth).await;
    let phc = twofa_verify::password::Hasher::new(Default::default(), 1, None)
        .hash(pw("imported argon pw"))
        .await
        .unwrap();
    for (name, hash) in [
        ("argon", phc.as_str()),
        ("bcrypt", BCRYPT_12),
        ("werkzeug23", PBKDF2_600K),
    ] {
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
    let accounts = [
        ("argon2id m=19456 t=2", "argon"),
        ("pbkdf2:sha256:150000", "alice"),
        ("scrypt:32768:8:1", "bob"),
        ("bcrypt cost 12", "bcrypt"),
        ("pbkdf2:sha256:600000", "werkzeug23"),
        ("unknown user", "nobody"),
    ];
    // Five rounds: the fifth failure is still evaluated (the sixth would
    // meet the delay).
    let mut times = vec![Vec::new(); accounts.len()];
    for _ in 0..5 {
        for (i, (_, name)) in accounts.iter().enumerate() {
            times[i].push(failed_login_us(&auth, name).await);
        }
    }
    let medians: Vec<u128> = times
        .iter_mut()
        .map(|t| {
            t.sort_unstable();
            t[t.len() / 2]
        })
        .collect();
    for ((label, _), us) in accounts.iter().zip(&medians) {
        println!("{label:>22}: {:.1} ms", *us as f64 / 1000.0);
    }
    let (last, formats) = medians.split_last().unwrap();
    let slowest = *formats.iter().max().unwrap();
    let unknown = *last;
    // A ratio, not a difference: a loaded machine slows both alike.
    assert!(
        unknown * 10 >= slowest * 8,
        "unknown user {unknown} µs, slowest format {slowest} µs: {medians:?}"
    );
    // The dearest hash is a real one: it logs in (and is upgraded).
    assert!(matches!(
        auth.login("werkzeug23", &pw("werkzeug-user-pw-8")).await,
        Ok(Login::Complete(_))
    ));
}

/// A stored hash beyond its verifier's bound is refused at import (with a
/// typed error, not an account whose login can never succeed), and one already stored
/// costs a login what an unknown user's does, not more and not less.
#[tokio::test]
async fn hashes_beyond_the_bound_are_refused_not_run() {
    // Bounded at Werkzeug 1.0's 150000 iterations (the cheapest to measure).
    let (auth, store, _events, _dir) = setup_bounded(false, 150_000).await;
    let crafted = PBKDF2_1M.replace(":1000000$", ":4000000000$");
    let r = auth
        .import_user(ImportedUser {
            username: "crafted".into(),
            email: "crafted@example.com".into(),
            password_hash: crafted.clone(),
            phone: None,
        })
        .await;
    assert!(matches!(r, Err(Error::PasswordHashBeyondBound)), "{r:?}");
    // Stored by other means (an older release, a direct write): the login
    // fails as a wrong password would, at an unknown user's cost (seconds
    // in the unoptimised test build), not the hours asked for.
    let u = auth
        .import_user(ImportedUser {
            username: "stored".into(),
            email: "stored@example.com".into(),
            password_hash: ALICE_150K.into(),
            phone: None,
        })
        .await
        .unwrap();
    assert!(
        store
            .replace_password_hash(u.id, ALICE_150K, &crafted)
            .await
            .unwrap()
    );
    let start = std::time::Instant::now();
    assert!(matches!(
        auth.login("stored", &pw("werkzeug-user-pw-8")).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    // Werkzeug 2.3's 600000 iterations are beyond this bound.
    let r = auth
        .import_user(ImportedUser {
            username: "werkzeug23".into(),
            email: "werkzeug23@example.com".into(),
            password_hash: PBKDF2_600K.into(),
            phone: None,
        })
        .await;
    assert!(matches!(r, Err(Error::PasswordHashBeyondBound)), "{r:?}");
}

/// A hash in a recognised format that could never verify is refused at
/// import with its reason, not made into an account that can never log
/// in: a missing or truncated digest, an empty salt, impossible
/// parameters; a cost beyond the bound keeps its own error.
#[tokio::test]
async fn unusable_hashes_are_refused_with_their_reason() {
    use twofa_verify::error::HashProblem;
    let (auth, _store, events, _dir) = setup_with(true).await;
    let import = async |name: &str, hash: String| {
        auth.import_user(ImportedUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            password_hash: hash,
            phone: None,
        })
        .await
    };
    let hex = ALICE_150K.rsplit('$').next().unwrap();
    for (name, hash, problem) in [
        ("nodigest", ALICE_150K.replace(hex, ""), HashProblem::Digest),
        (
            "short",
            ALICE_150K[..ALICE_150K.len() - 8].to_owned(),
            HashProblem::Digest,
        ),
        (
            "nosalt",
            ALICE_150K.replace("Vq3xYb7LmN2pQr8T", ""),
            HashProblem::Salt,
        ),
        (
            "md5",
            ALICE_150K.replace("sha256", "md5"),
            HashProblem::Parameters,
        ),
        (
            "scryptn",
            "scrypt:1000:8:1$salt$00".to_owned(),
            HashProblem::Parameters,
        ),
        ("bcryptcut", BCRYPT_12[..50].to_owned(), HashProblem::Digest),
    ] {
        let r = import(name, hash).await;
        assert!(
            matches!(r, Err(Error::UnusablePasswordHash(p)) if p == problem),
            "{name}: {r:?}"
        );
    }
    for (name, hash) in [
        ("pbkdf2huge", ALICE_150K.replace(":150000$", ":99999999$")),
        (
            "scryptgib",
            format!("scrypt:1048576:8:1$salt${}", "00".repeat(64)),
        ),
    ] {
        let r = import(name, hash).await;
        assert!(
            matches!(r, Err(Error::PasswordHashBeyondBound)),
            "{name}: {r:?}"
        );
    }
    let imported = events
        .events()
        .iter()
        .filter(|e| matches!(e, twofa_verify::AuthEvent::UserImported { .. }))
        .count();
    assert_eq!(imported, 0);
    // The good one is imported.
    import("alice", ALICE_150K.to_owned()).await.unwrap();
}

/// A landline the old application verified is imported as the SMS factor
/// (its codes go by call); a number that reaches no one's own line is not.
#[cfg(feature = "phone-numbers")]
#[tokio::test]
async fn a_verified_landline_is_imported() {
    let (auth, _store, _events, _dir) = setup().await;
    let row = |name: &str, phone: &str| ImportedUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password_hash: ALICE_150K.into(),
        phone: Some(phone.into()),
    };
    let u = auth
        .import_user(row("lena", "+44 20 7183 8750"))
        .await
        .unwrap();
    assert_eq!(u.phone.as_deref(), Some("+442071838750"));
    let r = auth.import_user(row("paul", "+44 909 879 0879")).await;
    assert!(matches!(r, Err(Error::InvalidPhoneNumber(_))), "{r:?}");
}
