//! The app's own data about its users (`examples/demo-support/src/profiles.rs`):
//! names at registration, "about me" and names on the edit page, the
//! profile with the avatar and "last seen", `last_seen` written at most
//! once a minute (bursts, two instances, PostgreSQL), the app's migrations
//! beside the library's, and what a second import from the Flask app keeps.

use std::sync::Arc;

use super::*;
use demo_support::profiles::{Imported, Profile, ProfileStore};

const MINUTE: i64 = 60_000;

pub(super) fn pg_url() -> Option<String> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    if url.is_none() {
        eprintln!("SKIPPED (PostgreSQL case): set DATABASE_URL=postgres://...");
    }
    url.filter(|_| cfg!(feature = "postgres"))
}

pub(super) fn random_schema(what: &str) -> String {
    format!("demo_{what}_{:016x}", rand::random::<u64>())
}

#[cfg(feature = "postgres")]
pub(super) async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
}

#[cfg(not(feature = "postgres"))]
pub(super) async fn drop_schema(_: &str, _: &str) {}

fn gravatar_hash(email: &str) -> String {
    use md5::{Digest, Md5};
    data_encoding::HEXLOWER.encode(&Md5::digest(email.as_bytes()))
}

/// A user registered (as Ann Example) and logged in.
async fn logged_in(name: &str) -> Client {
    let mut c = Client::new().await;
    c.register(name).await;
    c.login(name).await.redirect(&format!("/user/{name}"));
    c
}

fn edit<'a>(
    username: &'a str,
    first: &'a str,
    last: &'a str,
    about: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("username", username),
        ("first_name", first),
        ("last_name", last),
        ("about_me", about),
    ]
}

#[tokio::test]
async fn registration_asks_for_names_and_the_profile_shows_them() {
    let mut c = Client::new().await;
    let page = c.get("/register").await;
    page.assert(StatusCode::OK, "name=\"first_name\"");
    assert!(page.body.contains("name=\"last_name\""));
    fn form<'a>(first: &'a str, last: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("username", "nina"),
            ("first_name", first),
            ("last_name", last),
            ("email", "nina@example.com"),
            ("password", PW),
            ("password2", PW),
        ]
    }
    c.post("/register", &form("", "Example"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "fill in every field");
    let long = "n".repeat(65);
    c.post("/register", &form(&long, "Example"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "at most 64 characters");
    c.post("/register", &form("Nina", "Ex\u{202E}elpma"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "changes the direction");
    c.post("/register", &form("Ni\tna", "Example"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "control character");
    // Markup typed into a name comes back escaped.
    let r = c
        .post("/register", &form("<img src=x>", "Example\u{0}"))
        .await;
    r.assert(StatusCode::UNPROCESSABLE_ENTITY, "control character");
    assert!(!r.body.contains("<img src=x>"), "{}", r.body);
    assert!(r.body.contains("&lt;img"), "{}", r.body);
    // None of these created an account.
    assert!(
        c.state
            .auth
            .user_by_username("nina")
            .await
            .unwrap()
            .is_none()
    );

    c.post("/register", &form("  Nina ", "Ó Briain"))
        .await
        .redirect("/login");
    c.login("nina").await.redirect("/user/nina");
    let p = c.get("/user/nina").await;
    p.assert(StatusCode::OK, "<bdi>Nina</bdi> <bdi>Ó Briain</bdi>");
    // The letter avatar, with the Gravatar image over it (own page).
    assert!(p.body.contains("id=\"avatar\">N<img"), "{}", p.body);
    assert!(
        p.body.contains(&gravatar_hash("nina@example.com")),
        "{}",
        p.body
    );
    assert!(p.body.contains("d=identicon&amp;s=128"), "{}", p.body);
    assert!(p.body.contains("last seen just now"), "{}", p.body);
    // The page may load the image from Gravatar, and from nowhere else.
    let csp = p.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("img-src 'self' data: https://www.gravatar.com;"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn home_and_home_alias_greet_by_first_name_as_the_login_did() {
    let mut c = Client::new().await;
    let (root, home) = (c.get("/").await, c.get("/home").await);
    root.assert(StatusCode::OK, "Two-factor authentication, done right");
    home.assert(StatusCode::OK, "Two-factor authentication, done right");
    let mut c = logged_in("olga").await;
    // One greeting: the login's flash and the home page say the same.
    c.get("/user/olga")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");
    for page in ["/", "/home"] {
        let r = c.get(page).await;
        r.assert(StatusCode::OK, "Welcome, <bdi>Ann</bdi>!");
        assert!(!r.body.contains("Hi,"), "{}", r.body);
    }
}

#[tokio::test]
async fn about_me_and_names_are_edited_beside_the_username() {
    let mut c = logged_in("pia").await;
    let mut other_browser = c.other();
    other_browser.login("pia").await.redirect("/user/pia");

    let form = c.get("/edit_profile").await;
    form.assert(StatusCode::OK, "name=\"about_me\"");
    assert!(form.body.contains("value=\"Ann\""), "{}", form.body);
    assert!(
        form.body.contains("At most 140 characters"),
        "{}",
        form.body
    );

    // 140 characters as the reader sees them: emoji with modifiers count one.
    let ok_about = "👍🏽".repeat(139) + "!";
    c.post("/edit_profile", &edit("pia", "Pia", "Lund", &ok_about))
        .await
        .redirect("/user/pia");
    let p = c.get("/user/pia").await;
    p.assert(StatusCode::OK, &ok_about);
    assert!(p.body.contains("<bdi>Pia</bdi> <bdi>Lund</bdi>"));
    // Saving names and "about me" logs nobody out.
    other_browser
        .get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");

    // Hostile input: nothing is saved, the form comes back with the text.
    let a141 = "a".repeat(141);
    let r = c
        .post("/edit_profile", &edit("pia", "Pia", "Lund", &a141))
        .await;
    r.assert(
        StatusCode::UNPROCESSABLE_ENTITY,
        "at most 140 characters long; this one has 141",
    );
    assert!(r.body.contains(&a141), "the typed text is kept");
    for (about, says) in [
        ("hi\u{202E}ereh", "changes the direction"),
        ("bell\u{7}", "control character"),
        (&*format!("Z{}", "\u{300}".repeat(20)), "too many accents"),
    ] {
        c.post("/edit_profile", &edit("pia", "Pia", "Lund", about))
            .await
            .assert(StatusCode::UNPROCESSABLE_ENTITY, says);
    }
    let long_name = "L".repeat(65);
    c.post("/edit_profile", &edit("pia", "Pia", &long_name, "x"))
        .await
        .assert(
            StatusCode::UNPROCESSABLE_ENTITY,
            "last name can be at most 64",
        );
    c.post("/edit_profile", &edit("pia", " ", "Lund", "x"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter your first name");
    // A taken username with a valid "about me": nothing of it is saved.
    let mut q = c.other();
    q.register("quinn").await;
    c.post("/edit_profile", &edit("quinn", "Pia", "Lund", "changed"))
        .await
        .assert(StatusCode::CONFLICT, "already taken");
    c.get("/user/pia").await.assert(StatusCode::OK, &ok_about);

    // Markup is shown as text; line breaks are kept.
    let script = "<script>alert(1)</script>\r\nline two";
    c.post("/edit_profile", &edit("pia", "Pia", "<b>Lund</b>", script))
        .await
        .redirect("/user/pia");
    let p = c.get("/user/pia").await;
    assert!(!p.body.contains("<script>alert"), "{}", p.body);
    assert!(!p.body.contains("<b>Lund"), "{}", p.body);
    assert!(p.body.contains("&lt;script&gt;alert(1)&lt;"), "{}", p.body);
    assert!(p.body.contains("\nline two"), "{}", p.body);

    // A client that sends only the username keeps the rest; a new username
    // and the rest in one go.
    c.post("/edit_profile", &[("username", "pia")])
        .await
        .redirect("/user/pia");
    c.get("/user/pia").await.assert(StatusCode::OK, "line two");
    c.post("/edit_profile", &edit("pia_l", "Pia", "Lund", ""))
        .await
        .redirect("/user/pia_l");
    let p = c.get("/user/pia_l").await;
    assert!(!p.body.contains("line two"), "an empty about me is saved");
    assert!(p.body.contains("id=\"about-me-empty\""), "{}", p.body);
}

#[tokio::test]
async fn others_see_names_and_about_me_but_not_the_address_or_its_hash() {
    let mut c = logged_in("rita").await;
    c.post(
        "/edit_profile",
        &edit("rita", "Rita", "Ray", "Hello from Rita"),
    )
    .await
    .redirect("/user/rita");
    let mut s = c.other();
    s.register("sam").await;
    s.login("sam").await.redirect("/user/sam");
    let p = s.get("/user/rita").await;
    p.assert(StatusCode::OK, "Hello from Rita");
    assert!(p.body.contains("<bdi>Rita</bdi> <bdi>Ray</bdi>"));
    assert!(p.body.contains("last seen just now"), "{}", p.body);
    assert!(!p.body.contains("rita@example.com"));
    assert!(!p.body.contains(&gravatar_hash("rita@example.com")));
    assert!(!p.body.contains("gravatar"), "only the letter avatar");
    assert!(p.body.contains("id=\"avatar\">R</div>"), "{}", p.body);
}

#[tokio::test]
async fn a_stolen_session_cannot_edit_the_profile_without_its_csrf_token() {
    let mut c = logged_in("tess").await;
    c.post("/edit_profile", &edit("tess", "Tess", "T", "mine"))
        .await
        .redirect("/user/tess");
    // A forged form (another site, no token; or the token of another
    // session): refused, nothing changes.
    let body = serde_urlencoded::to_string(edit("tess", "Evil", "E", "pwned")).unwrap();
    c.post_raw("/edit_profile", &body)
        .await
        .assert(StatusCode::FORBIDDEN, "");
    let mut other = c.other();
    other.get("/logout").await;
    let foreign = other.csrf.clone().unwrap();
    c.post_raw("/edit_profile", &format!("csrf_token={foreign}&{body}"))
        .await
        .assert(StatusCode::FORBIDDEN, "");
    let p = c.get("/user/tess").await;
    p.assert(StatusCode::OK, "mine");
    assert!(!p.body.contains("pwned"));
}

/// With confirmed addresses the names are typed on the link's page (by
/// whoever holds the mailbox), not on the register form.
#[tokio::test]
async fn names_typed_on_the_confirmation_page_reach_the_profile() {
    let mut c = site(twofa_verify::Policy::default(), true, false).await;
    c.post(
        "/register",
        &[
            ("username", "uma"),
            ("first_name", "Not"),
            ("last_name", "These"),
            ("email", "uma@example.com"),
        ],
    )
    .await
    .assert(StatusCode::OK, "inbox");
    let mail = mails(&c, 1).await;
    let link = confirm_path(&mail[0].body);
    c.get(&link).await.assert(StatusCode::OK, "First name");
    c.post(
        &link,
        &[
            ("first_name", "Uma"),
            ("last_name", "Ueda"),
            ("password", PW),
            ("password2", PW),
        ],
    )
    .await
    .redirect("/login");
    c.login("uma").await.redirect("/user/uma");
    let p = c.get("/user/uma").await;
    p.assert(StatusCode::OK, "<bdi>Uma</bdi> <bdi>Ueda</bdi>");
    assert!(!p.body.contains("These"), "{}", p.body);
}

// ---------------------------------------------------------------- last_seen

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let store = ProfileStore::in_memory().await.unwrap();
    let (id, t) = (twofa_verify::UserId(7), 1_800_000_000_000);
    assert!(store.touch_in_database(id, t).await.unwrap(), "no row yet");
    assert!(!store.touch_in_database(id, t).await.unwrap());
    assert!(!store.touch_in_database(id, t + MINUTE - 1).await.unwrap());
    assert!(store.touch_in_database(id, t + MINUTE).await.unwrap());
    assert_eq!(store.get(id).await.unwrap().last_seen, Some(t + MINUTE));
    // An older clock (another instance) never moves it back.
    assert!(!store.touch_in_database(id, t).await.unwrap());
    // The instance's memory skips the statement within the minute.
    assert!(store.touch(id, t + 2 * MINUTE).await.unwrap());
    assert!(!store.touch(id, t + 2 * MINUTE + 5).await.unwrap());
    assert_eq!(store.last_seen_writes(), 3);
    // Saving the profile leaves last_seen alone.
    let p = Profile {
        first_name: "A".into(),
        ..Profile::default()
    };
    store.save(id, &p, t).await.unwrap();
    assert_eq!(store.get(id).await.unwrap().last_seen, Some(t + 2 * MINUTE));
}

/// `n` requests of the same browser released together, spread over the
/// routers; their statuses.
async fn burst(routers: &[Router], c: &Client, n: usize, path: &str) -> Vec<StatusCode> {
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let router = routers[i % routers.len()].clone();
        let req = c.request("GET", path).body(Body::empty()).unwrap();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            router.oneshot(req).await.unwrap().status()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_requests_writes_last_seen_once() {
    let c = logged_in("vera").await;
    let before = c.state.profiles.last_seen_writes();
    let statuses = burst(std::slice::from_ref(&c.router), &c, 200, "/edit_profile").await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(c.state.profiles.last_seen_writes() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_sqlite_file_write_last_seen_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db").display().to_string();
    let open = || {
        axum_app::state_for_tests_with(
            demo_support::Options {
                db: db.clone(),
                ..Default::default()
            },
            axum_app::Config::for_tests(),
        )
    };
    let (one, two) = (open().await.unwrap(), open().await.unwrap());
    two_instances_write_once(one, two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_write_last_seen_once() {
    let Some(url) = pg_url() else { return };
    let schema = random_schema("seen");
    let key = twofa_verify::SecretKey::generate();
    let open = || {
        axum_app::state_for_tests_with(
            demo_support::Options {
                db: url.clone(),
                pg_schema: Some(schema.clone()),
                secret_key: Some(key.clone()),
                ..Default::default()
            },
            axum_app::Config::for_tests(),
        )
    };
    let (one, two) = (open().await.unwrap(), open().await.unwrap());
    two_instances_write_once(one, two).await;
    drop_schema(&url, &schema).await;
}

/// One browser's 200 simultaneous requests, half to each instance: one
/// `last_seen` write in all; a minute later (by the database's condition,
/// whatever the instances remember), one more.
async fn two_instances_write_once(one: axum_app::AppState, two: axum_app::AppState) {
    let mut a = Client::with_state(one.clone());
    a.register("wes").await;
    a.login("wes").await.redirect("/user/wes");
    let b = Client::with_state(two.clone());
    let writes = || one.profiles.last_seen_writes() + two.profiles.last_seen_writes();
    let before = writes();
    let statuses = burst(
        &[a.router.clone(), b.router.clone()],
        &a,
        200,
        "/edit_profile",
    )
    .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(writes() - before, 1);

    let id = one.auth.user_by_username("wes").await.unwrap().unwrap().id;
    let seen = one.profiles.get(id).await.unwrap().last_seen.unwrap();
    let later = seen + MINUTE;
    let gate = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = if i % 2 == 0 { &one } else { &two }.profiles.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            store.touch_in_database(id, later).await.unwrap()
        }));
    }
    let mut wrote = 0;
    for t in tasks {
        wrote += usize::from(t.await.unwrap());
    }
    assert_eq!(wrote, 1);
}

// ---------------------------------------------------------------- migrations

/// The versions recorded in a migrations table.
async fn versions_sqlite(pool: &sqlx::SqlitePool, table: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {table} ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_apps_migrations_and_the_librarys_share_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db").display().to_string();
    // Either order, again and again: no "applied but missing" error.
    let lib = twofa_verify::SqliteStore::open(&db).await.unwrap();
    ProfileStore::sqlite(lib.pool().clone()).await.unwrap();
    lib.migrate().await.unwrap();
    let lib2 = twofa_verify::SqliteStore::open(&db).await.unwrap();
    let profiles = ProfileStore::sqlite(lib2.pool().clone()).await.unwrap();
    // A fresh file, the app's migrator first.
    let db2 = dir.path().join("app2.db").display().to_string();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{db2}?mode=rwc"))
        .await
        .unwrap();
    ProfileStore::sqlite(pool.clone()).await.unwrap();
    twofa_verify::SqliteStore::from_pool(pool.clone())
        .migrate()
        .await
        .unwrap();
    for pool in [lib2.pool(), &pool] {
        let app = versions_sqlite(pool, "_sqlx_migrations").await;
        let ours = versions_sqlite(pool, "twofa_migrations").await;
        assert_eq!(app, [20261126130000], "only the app's in _sqlx_migrations");
        assert!(
            ours.len() >= 3 && !ours.contains(&20261126130000),
            "{ours:?}"
        );
    }
    // Both kinds of table work side by side.
    let auth = twofa_verify::Authenticator::builder()
        .store(lib2.clone())
        .secret_key(twofa_verify::SecretKey::generate())
        .build()
        .unwrap();
    let user = auth
        .register("xena", "xena@example.com", &secrecy::SecretString::from(PW))
        .await
        .unwrap();
    let p = Profile {
        first_name: "Xena".into(),
        ..Profile::default()
    };
    profiles.save(user.id, &p, 1).await.unwrap();
    assert_eq!(profiles.get(user.id).await.unwrap().first_name, "Xena");
}

#[tokio::test]
async fn the_apps_migrations_and_the_librarys_share_a_postgres_schema() {
    let Some(url) = pg_url() else { return };
    #[cfg(feature = "postgres")]
    {
        let schema = random_schema("migr");
        for _ in 0..2 {
            let lib = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap();
            ProfileStore::postgres(lib.pool().clone()).await.unwrap();
            lib.migrate().await.unwrap();
            let pool = lib.pool();
            let app: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let ours: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM twofa_migrations ORDER BY version")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            assert_eq!(app, [20261126130000]);
            assert!(
                ours.len() >= 3 && !ours.contains(&20261126130000),
                "{ours:?}"
            );
        }
        // The tables are in the schema, not in public.
        let lib = twofa_verify::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name IN ('app_profiles', '_sqlx_migrations', 'twofa_users')",
        )
        .bind(&schema)
        .fetch_one(lib.pool())
        .await
        .unwrap();
        assert_eq!(n, 3);
        drop_schema(&url, &schema).await;
    }
    #[cfg(not(feature = "postgres"))]
    let _ = url;
}

#[tokio::test]
async fn an_import_never_overwrites_an_edit_nor_moves_last_seen_back() {
    let store = ProfileStore::in_memory().await.unwrap();
    let id = twofa_verify::UserId(3);
    let flask = Profile {
        first_name: "Old".into(),
        about_me: "from flask".into(),
        last_seen: Some(1_000 * MINUTE),
        ..Profile::default()
    };
    assert_eq!(store.import(id, &flask).await.unwrap(), Imported::Written);
    // Seen on the demo since: a re-import keeps the newer last_seen.
    assert!(store.touch_in_database(id, 2_000 * MINUTE).await.unwrap());
    assert_eq!(store.import(id, &flask).await.unwrap(), Imported::Written);
    let p = store.get(id).await.unwrap();
    assert_eq!(
        (p.about_me.as_str(), p.last_seen),
        ("from flask", Some(2_000 * MINUTE))
    );
    // Edited on the demo: the import leaves the row alone.
    let edited = Profile {
        about_me: "mine now".into(),
        ..p
    };
    store.save(id, &edited, 1).await.unwrap();
    assert_eq!(
        store.import(id, &flask).await.unwrap(),
        Imported::KeptEdited
    );
    assert_eq!(store.get(id).await.unwrap().about_me, "mine now");
}
