//! `import-flask`: the users of the Flask tutorial's database, as a
//! process, then seen by the CLI (their old passwords, SMS factor) and by
//! the demo's code on the same database (their profiles).

use serde_json::{Value, json};
use twofa_verify::SecretKey;

use crate::support::Dir;
use demo_support::profiles::{Profile, ProfileStore};

const PHONE: &str = "+14155552671";
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/flask_users.db"
);

/// A directory whose `.env` accepts Werkzeug hashes (the CLI reads `.env`
/// in its working directory).
fn legacy_dir() -> Dir {
    let d = Dir::new();
    std::fs::write(d.path(".env"), "LEGACY_HASHES=werkzeug\n").expect("write .env");
    d
}

/// The report's skipped users, as (username, reason).
fn skipped_reasons(report: &Value) -> Vec<(String, String)> {
    report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["username"].as_str().unwrap_or_default().to_owned(),
                s["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Names in a JSON array of objects (`key`) or of strings.
fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| {
            x.get(key)
                .unwrap_or(x)
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn import_flask_users_then_log_in() {
    let d = Dir::new();
    let fixture = FIXTURE;
    // Werkzeug hashes are accepted only when asked for (the CLI reads .env
    // in its working directory, the test's); the failed import leaves no
    // database behind.
    d.fails(&["import-flask", fixture], "", 2, "usage");
    assert!(d.files().is_empty(), "{:?}", d.files());
    std::fs::write(d.dir.path().join(".env"), "LEGACY_HASHES=werkzeug\n").expect("write .env");
    let j = d.expect(&["import-flask", fixture], "", 0).json();
    assert_eq!(j["status"], "imported");
    assert_eq!(names(&j["imported"], "username"), ["alice", "bob", "carol"]);
    assert_eq!(j["imported"][2]["sms"], true);
    // Their profile data went to the demo app's table (see below, and the
    // demo's page in examples/axum_app/tests/handlers/flask_import.rs).
    assert_eq!(
        j["profiles"]["written"],
        serde_json::json!(["alice", "bob", "carol"]),
        "{j}"
    );
    assert_eq!(j["profiles"]["dropped"], serde_json::json!([]), "{j}");
    let reasons = skipped_reasons(&j);
    let expected = [
        ("dave", "duplicate_email"),
        ("eve smith", "invalid_username"),
        ("frank", "invalid_phone"),
        ("grace", "unrecognized_hash"),
    ];
    assert_eq!(
        reasons,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{j}"
    );

    // Again: nothing new, the same rows skipped for the same reasons.
    let again = d.expect(&["import-flask", fixture], "", 0).json();
    assert!(names(&again["imported"], "username").is_empty(), "{again}");
    assert_eq!(
        names(&again["already_present"], ""),
        ["alice", "bob", "carol"]
    );
    assert_eq!(again["skipped"], j["skipped"]);
    // In text, the reasons are shown.
    let text = d.run(&["import-flask", fixture], "");
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("duplicate_email"), "{text:?}");
    assert!(
        text.stdout
            .contains("Profiles (names, about_me, last_seen) for the demo app: 3 written"),
        "{text:?}"
    );

    // The old passwords work (pbkdf2 and scrypt); wrong ones do not.
    d.fails(
        &["login", "--user", "alice", "--password-stdin"],
        "alice-flask-pw-2\n",
        3,
        "invalid_credentials",
    );
    let j = d
        .expect(
            &["login", "--user", "alice", "--password-stdin"],
            "alice-flask-pw-1\n",
            0,
        )
        .json();
    assert_eq!(j["status"], "logged_in");
    let j = d
        .expect(
            &["login", "--user", "bob", "--password-stdin"],
            "bob-scrypt-pw-2\n",
            0,
        )
        .json();
    assert_eq!(j["status"], "logged_in");
    // carol's verified phone is her SMS factor.
    let r = d.expect(
        &["login", "--user", "carol", "--password-stdin"],
        "carol-phone-pw-3\n",
        6,
    );
    let code = r.sms_code(PHONE);
    let j = d.expect(&["login", "--code", &code], "", 0).json();
    assert_eq!(j["status"], "logged_in");
}

/// The demo's code on the same database (its profile table, read as the
/// web demo reads it) sees the imported profiles; a profile edited on the
/// demo since is kept by a second import. (Moved from the demo's tests,
/// which built this package with a nested `cargo build`.)
#[tokio::test]
async fn imported_profiles_are_the_demos_and_an_edit_there_is_kept() {
    let d = legacy_dir();
    let j = d.expect(&["import-flask", FIXTURE], "", 0).json();
    assert_eq!(
        names(&j["profiles"]["written"], ""),
        ["alice", "bob", "carol"]
    );

    // The demo's back end on the same database, with the key the CLI made.
    let key = std::fs::read_to_string(d.path("app.db.key")).expect("key file");
    let backend = demo_support::backend(&demo_support::Options {
        db: d.db(),
        quiet: true,
        force_console: true,
        secret_key: Some(SecretKey::from_hex(&key).expect("hex key")),
        legacy_hashes: Some(true),
        ..Default::default()
    })
    .await
    .expect("the demo opens the database");
    let profile = async |store: &ProfileStore, name: &str| {
        let user = backend.auth.user_by_username(name).await.unwrap().unwrap();
        (user.id, store.get(user.id).await.unwrap())
    };
    let (alice, p) = profile(&backend.profiles, "alice").await;
    assert_eq!(p.about_me, "Hi, I am alice.");
    assert_eq!(p.last_seen, Some(1_614_592_800_000)); // 2021-03-01 10:00 UTC
    let (_, bob) = profile(&backend.profiles, "bob").await;
    assert_eq!(bob.about_me, "", "bob had none");

    // alice edits her profile on the demo; importing again keeps it.
    let mine = Profile {
        about_me: "Edited here".into(),
        ..Profile::default()
    };
    backend.profiles.save(alice, &mine, 1).await.unwrap();
    let again = d.expect(&["import-flask", FIXTURE], "", 0).json();
    assert_eq!(again["profiles"]["kept_edited"], json!(["alice"]));
    assert_eq!(again["profiles"]["written"], json!(["bob", "carol"]));
    assert_eq!(
        profile(&backend.profiles, "alice").await.1.about_me,
        "Edited here"
    );
    // Importing the same rows again left the others as they were.
    let (_, carol) = profile(&backend.profiles, "carol").await;
    assert_eq!(carol.about_me, "Hi, I am carol.");
    assert_eq!(carol.last_seen, Some(1_614_765_600_000)); // 2021-03-03 10:00 UTC
    backend.close().await;
}

/// A row of a Flask `user` table: username, email, password_hash,
/// verification_phone, last_seen.
type FlaskRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// A Flask `user` table as the tutorial's model makes it, with `rows`.
fn flask_db(d: &Dir, rows: &[FlaskRow<'_>]) -> String {
    let path = d.path("flask.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("create");
        sqlx::query(
            "CREATE TABLE user (id INTEGER NOT NULL PRIMARY KEY, username VARCHAR(64),
             email VARCHAR(120), password_hash VARCHAR(128), about_me VARCHAR(140),
             last_seen DATETIME, verification_phone VARCHAR(16))",
        )
        .execute(&pool)
        .await
        .expect("create table");
        for (name, email, hash, phone, seen) in rows {
            sqlx::query(
                "INSERT INTO user (username, email, password_hash, verification_phone, last_seen)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(name)
            .bind(email)
            .bind(hash)
            .bind(phone)
            .bind(seen)
            .execute(&pool)
            .await
            .expect("insert");
        }
        pool.close().await;
    });
    path.display().to_string()
}

/// Werkzeug 1.0's PBKDF2 of `werkzeug-user-pw-8`.
const HASH: &str = "pbkdf2:sha256:150000$Vq3xYb7LmN2pQr8T$0246befa15e73937d0a269a8a2a1c362480d3c19fb978a887396b02ba33b9512";

/// What the report says of each row: only unparsable phones (and other
/// bad identities) keep a user out; a landline is imported, an unusable
/// hash is skipped with its reason, a bad `last_seen` is reported.
#[test]
fn the_report_tells_each_user_what_was_kept() {
    let d = legacy_dir();
    let truncated = &HASH[..HASH.len() - 10];
    let huge = HASH.replace(":150000$", ":99999999$");
    let gib = format!("scrypt:1048576:8:1$salt${}", "00".repeat(64));
    let source = flask_db(
        &d,
        &[
            (
                "lena",
                "lena@example.com",
                HASH,
                Some("+44 20 7183 8750"),
                None,
            ),
            ("tom", "tom@example.com", &huge, None, None),
            ("ugo", "ugo@example.com", truncated, None, None),
            ("vic", "vic@example.com", &gib, None, None),
            ("wes", "wes@example.com", HASH, None, Some("last tuesday")),
            ("xia", "xia@example.com", HASH, Some("12345"), None),
        ],
    );
    let j = d.expect(&["import-flask", &source], "", 0).json();
    assert_eq!(names(&j["imported"], "username"), ["lena", "wes"], "{j}");
    assert_eq!(j["imported"][0]["sms"], true, "{j}");
    let skipped = skipped_reasons(&j);
    let expected = [
        ("tom", "hash_beyond_bound"),
        ("ugo", "unusable_hash"),
        ("vic", "hash_beyond_bound"),
        ("xia", "invalid_phone"),
    ];
    assert_eq!(
        skipped,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{j}"
    );
    assert!(
        j["skipped"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("digest"),
        "{j}"
    );
    let dropped = &j["profiles"]["dropped"];
    assert_eq!(dropped.as_array().map(Vec::len), Some(1), "{j}");
    assert_eq!(dropped[0]["username"], "wes");
    assert_eq!(dropped[0]["field"], "last_seen");
    assert!(
        dropped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("last tuesday"),
        "{j}"
    );
    // In text too.
    let text = d.run(&["import-flask", &source], "");
    assert!(
        text.stdout.contains("not kept  #5 \"wes\" last_seen"),
        "{text:?}"
    );

    // lena's landline is her SMS factor: the code is read out by a call.
    let r = d.expect(
        &["login", "--user", "lena", "--password-stdin"],
        "werkzeug-user-pw-8\n",
        6,
    );
    assert!(r.stderr.contains("[call to +442071838750]"), "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["sms"]["channel"], "call", "{j}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("[call to +442071838750]"))
        .expect("the call");
    let code: String = line
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_owned();
    let j = d.expect(&["login", "--code", &code], "", 0).json();
    assert_eq!(j["status"], "logged_in");
}
