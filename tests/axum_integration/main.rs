//! The axum integration (feature `axum`) driven through a small app with
//! `tower::ServiceExt::oneshot` and several cookie jars: sessions that end
//! when credentials change elsewhere, the half-logged-in fence, remember-me
//! against browser sessions, CSRF, error statuses; and the session store on
//! memory, SQLite and PostgreSQL (`DATABASE_URL`, else SKIPPED).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod attacks;
mod enrollment;
mod layer;
mod store;

use std::net::SocketAddr;
use std::time::Duration;
use twofa_verify::secrecy::SecretString;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower_sessions::cookie::Cookie;
use twofa_verify::axum::AuthConfig;
use twofa_verify::clock::ManualClock;
use twofa_verify::{AuthEvent, ConsoleSms, SqliteStore, StepUp};

use app::{App, GOOD, Jar, PHONE, app, location, memory_app};

const DAY: Duration = Duration::from_secs(24 * 3600);

// --------------------------------------------------------------- tests

/// Jars A and B log in as alice; A changes the password: B is logged out
/// at its next request (and its session deleted), A stays in with a new
/// session id. Over memory and over two app instances on one SQLite file.
#[tokio::test]
async fn password_change_in_one_browser_ends_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db").to_str().unwrap().to_owned();
    let clock = ManualClock::starting_now();
    let sms = ConsoleSms::quiet();
    let memory = memory_app(AuthConfig::new());
    let sqlite = [
        app(
            SqliteStore::open(&path).await.unwrap(),
            AuthConfig::new(),
            clock.clone(),
            sms.clone(),
        ),
        app(
            SqliteStore::open(&path).await.unwrap(),
            AuthConfig::new(),
            clock,
            sms,
        ),
    ];
    for (a_app, b_app) in [(&memory, &memory), (&sqlite[0], &sqlite[1])] {
        a_app.user("alice").await;
        let (mut a, mut b) = (Jar::default(), Jar::default());
        assert_eq!(a.home(a_app).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.login(a_app, "alice", false).await.0,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            b.login(b_app, "alice", false).await.0,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            a.home(b_app).await,
            StatusCode::OK,
            "A on the other instance"
        );
        assert_eq!(b.home(b_app).await, StatusCode::OK);

        let before = a.session().unwrap().to_owned();
        let (s, _, body) = a
            .post(
                a_app,
                "/password",
                &[("current", GOOD), ("new", "a brand new horse")],
            )
            .await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "changed"));
        assert_ne!(a.session().unwrap(), before, "new id after the change");

        let b_cookie = b.session().unwrap().to_owned();
        assert_eq!(b.home(b_app).await, StatusCode::UNAUTHORIZED);
        assert!(
            b.session().is_none(),
            "B's cookie is removed: {:?}",
            b.last_set
        );
        // The old session is gone from the store, not just ignored.
        let mut c = Jar::default();
        c.cookies.insert(app::SESSION_COOKIE.into(), b_cookie);
        assert_eq!(c.home(a_app).await, StatusCode::UNAUTHORIZED);

        assert_eq!(a.home(a_app).await, StatusCode::OK);
        assert_eq!(a.home(b_app).await, StatusCode::OK);
        // Logging in with the old password fails; logout ends A.
        let (s, _, _) = b
            .post(
                b_app,
                "/login",
                &[("username", "alice"), ("password", GOOD)],
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(a.post(a_app, "/logout", &[]).await.0, StatusCode::SEE_OTHER);
        assert_eq!(a.home(a_app).await, StatusCode::UNAUTHORIZED);
    }
}

/// A half-logged-in session reaches the code page, logout and static files
/// only; the second factor completes the login with a new session id.
#[tokio::test]
async fn pending_login_is_kept_on_the_code_page() {
    let app = memory_app(AuthConfig::new().login_url("/login"));
    let alice = app.user("alice").await;
    app.with_sms(&alice).await;
    let mut jar = Jar::default();
    jar.get(&app, "/form").await; // an anonymous visitor: no session yet
    assert!(jar.session().is_none());
    let (s, h) = jar.login(&app, "alice", false).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/code"));
    let pending_id = jar.session().unwrap().to_owned();

    for path in ["/", "/password", "/elsewhere"] {
        let (s, h, _) = jar.get(&app, path).await;
        assert_eq!(
            (s, location(&h)),
            (StatusCode::SEE_OTHER, "/code"),
            "{path}"
        );
    }
    let (s, _, _) = jar
        .post(&app, "/password", &[("current", GOOD), ("new", "x")])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(jar.get(&app, "/static/site.css").await.0, StatusCode::OK);
    let (s, _, body) = jar.get(&app, "/code").await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "code sent to +1415*****71")
    );

    let (s, _, body) = jar.post(&app, "/code", &[("code", "000000")]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.starts_with("invalid code"), "{body}");
    let (_, _, pending_token) = jar.get(&app, "/form").await;
    let code = app.sms.last_code_for(PHONE).unwrap();
    let (s, h, _) = jar.post(&app, "/code", &[("code", &code)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/"));
    assert_ne!(jar.session().unwrap(), pending_id);
    // The CSRF token of the half-logged-in session is renewed at the login.
    let fields = [
        ("current", GOOD),
        ("new", "a brand new horse"),
        ("csrf_token", &pending_token),
    ];
    assert_eq!(
        jar.post_raw(&app, "/password", &fields).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _, body) = jar.get(&app, "/").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "hello alice"));
    // The code page no longer applies.
    assert_eq!(jar.get(&app, "/code").await.0, StatusCode::SEE_OTHER);

    // A pending login past its expiry is dropped: the guard lets go.
    let mut late = Jar::default();
    assert_eq!(
        late.login(&app, "alice", false).await.0,
        StatusCode::SEE_OTHER
    );
    app.clock.advance(Duration::from_secs(11 * 60));
    let (s, h, _) = late.get(&app, "/code").await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/login"));
    let (s, h, _) = late.get(&app, "/?x=1&y=%C3%A9").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/login?next=%2F%3Fx%3D1%26y%3D%25C3%25A9");
}

/// Remember-me: a cookie and a session that last `remember_me_for`, idle
/// or not. Otherwise: a cookie without expiry and a session that ends
/// after `inactivity` without a request (activity keeps it alive).
#[tokio::test]
async fn remember_me_against_browser_sessions() {
    let app = memory_app(AuthConfig::new().inactivity(Duration::from_secs(3600)));
    app.user("alice").await;
    let max_age = |jar: &Jar| {
        let line = jar
            .last_set
            .iter()
            .find(|l| l.starts_with("twofa_session="))
            .unwrap();
        let c = Cookie::parse(line.clone()).unwrap();
        (c.max_age(), c.expires_datetime())
    };

    let mut remembered = Jar::default();
    remembered.login(&app, "alice", true).await;
    let (age, _) = max_age(&remembered);
    let secs = age.unwrap().whole_seconds();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&secs), "{secs}");
    // A later change of the session (the app's own data) keeps the deadline.
    app.clock.advance(Duration::from_secs(3600));
    remembered.post(&app, "/note", &[]).await;
    let (age, _) = max_age(&remembered);
    let secs = age.unwrap().whole_seconds();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&secs), "{secs}");

    let mut browser = Jar::default();
    browser.login(&app, "alice", false).await;
    assert_eq!(max_age(&browser), (None, None), "{:?}", browser.last_set);

    // Activity keeps the browser session: 50 min, a request, 50 min.
    app.clock.advance(Duration::from_secs(50 * 60));
    assert_eq!(browser.home(&app).await, StatusCode::OK);
    app.clock.advance(Duration::from_secs(50 * 60));
    assert_eq!(browser.home(&app).await, StatusCode::OK);
    // An idle hour ends it; the remembered one stays.
    app.clock.advance(Duration::from_secs(61 * 60));
    assert_eq!(browser.home(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(remembered.home(&app).await, StatusCode::OK);
    // Until its 30 days are over (the store drops it).
    app.clock.advance(30 * DAY);
    assert_eq!(remembered.home(&app).await, StatusCode::UNAUTHORIZED);
}

/// The `Set-Cookie` line of the session cookie in the jar's last response.
fn session_set(jar: &Jar) -> Option<Cookie<'static>> {
    jar.last_set
        .iter()
        .find(|l| l.starts_with("twofa_session="))
        .map(|l| Cookie::parse(l.clone()).unwrap())
}

/// A request that changes nothing writes nothing back: no store write, no
/// `Set-Cookie`, for a remember-me session (whose deadline used to be set
/// again on every request) and for a browser session between its
/// once-a-minute activity marks. A change of the app's own data in a
/// remember-me session keeps the session's own deadline in the cookie.
#[tokio::test]
async fn unchanged_sessions_are_not_written_back() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut remembered = Jar::default();
    remembered.login(&app, "alice", true).await;
    let mut browser = Jar::default();
    browser.login(&app, "alice", false).await;
    for jar in [&mut remembered, &mut browser] {
        jar.get(&app, "/form").await; // the session's CSRF token, once
        for _ in 0..5 {
            assert_eq!(jar.home(&app).await, StatusCode::OK);
            assert_eq!(session_set(jar), None, "{:?}", jar.last_set);
            app.clock.advance(Duration::from_secs(5));
        }
    }
    // A minute on, the browser session marks its activity (once).
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(browser.home(&app).await, StatusCode::OK);
    assert!(session_set(&browser).is_some());
    assert_eq!(browser.home(&app).await, StatusCode::OK);
    assert_eq!(session_set(&browser), None);
    assert_eq!(remembered.home(&app).await, StatusCode::OK);
    assert_eq!(session_set(&remembered), None);

    // The app's own data changes: written, with the login's deadline.
    let (status, _, _) = remembered.post(&app, "/note", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = session_set(&remembered).expect("a changed session is written");
    let secs = cookie.max_age().unwrap().whole_seconds();
    assert!((29 * 86_400..=30 * 86_400).contains(&secs), "{secs}");
}

/// Pages that show a form right after a login, loaded at once (tabs
/// restored together), write nothing and each show a token that works:
/// the login made the session's token, so no page's later write voids
/// another page's forms. Each shows it masked, so no two are alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forms_loaded_at_once_after_a_login_all_work() {
    let app = std::sync::Arc::new(memory_app(AuthConfig::new()));
    app.user("alice").await;
    let mut jar = Jar::default();
    jar.login(&app, "alice", false).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            let mut tab = Jar {
                cookies: jar.cookies.clone(),
                last_set: Vec::new(),
            };
            tokio::spawn(async move {
                barrier.wait().await;
                let (status, _, token) = tab.get(&app, "/form").await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(session_set(&tab), None, "{:?}", tab.last_set);
                token
            })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap());
    }
    assert_eq!(tokens.len(), 20, "masked: every page its own");
    for token in tokens {
        let (status, _, _) = jar.post_raw(&app, "/note", &[("csrf_token", &token)]).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// `refresh` after a call that changed no credential (a rename) stamps
/// nothing and keeps the session id (a password change does rotate it:
/// `password_change_in_one_browser_ends_the_others`).
#[tokio::test]
async fn refresh_stamps_only_a_credential_change() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut jar = Jar::default();
    jar.login(&app, "alice", false).await;
    let before = jar.session().unwrap().to_owned();
    let (status, _, _) = jar.post(&app, "/rename", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session_set(&jar), None, "{:?}", jar.last_set);
    assert_eq!(jar.session(), Some(before.as_str()));
    assert_eq!(jar.home(&app).await, StatusCode::OK);
}

/// However active, a session ends `absolute_lifetime` after its login: a
/// browser session kept busy, and a remember-me session whose
/// `remember_me_for` (30 days) is longer.
#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let app = memory_app(
        AuthConfig::new()
            .inactivity(Duration::from_secs(3600))
            .absolute_lifetime(Duration::from_secs(3 * 3600)),
    );
    app.user("alice").await;
    let mut browser = Jar::default();
    browser.login(&app, "alice", false).await;
    let mut remembered = Jar::default();
    remembered.login(&app, "alice", true).await;
    let secs = session_set(&remembered)
        .unwrap()
        .max_age()
        .unwrap()
        .whole_seconds();
    assert!((3 * 3600 - 60..=3 * 3600).contains(&secs), "{secs}");
    // Busy every 50 minutes: 3 hours and a little.
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(50 * 60));
        assert_eq!(browser.home(&app).await, StatusCode::OK);
        assert_eq!(remembered.home(&app).await, StatusCode::OK);
    }
    app.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(browser.home(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(remembered.home(&app).await, StatusCode::UNAUTHORIZED);
    // A new login starts a new lifetime.
    browser.login(&app, "alice", false).await;
    assert_eq!(browser.home(&app).await, StatusCode::OK);
}

/// Logging out of a remember-me session clears its cookie, and what the app
/// keeps after the logout (a flash message) lives in a browser session:
/// no long-lived cookie for an anonymous visitor.
#[tokio::test]
async fn logout_of_a_remembered_session_leaves_no_long_lived_cookie() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut jar = Jar::default();
    jar.login(&app, "alice", true).await;
    let before = jar.session().unwrap().to_owned();
    let (status, _, _) = jar.post(&app, "/logout", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = session_set(&jar).expect("the note's new session");
    assert_ne!(cookie.value(), before);
    assert_eq!(cookie.max_age(), None, "{cookie}");
    assert_eq!(cookie.expires_datetime(), None, "{cookie}");
    assert_eq!(jar.home(&app).await, StatusCode::UNAUTHORIZED);
}

/// A request of a session still in flight while it logs out (a thief's
/// request with a copy of the cookie) cannot bring it back, however the
/// requests interleave: 10 rounds, each a logout released among 40
/// requests of the same session, 10 of them writing the session. Through
/// `AuthLayer`, on memory, SQLite and PostgreSQL (`DATABASE_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_stays_dead_with_requests_in_flight() {
    logout_burst(memory_app(AuthConfig::new()), "memory").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db").to_str().unwrap().to_owned();
    let sqlite = app(
        SqliteStore::open(&path).await.unwrap(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    logout_burst(sqlite, "sqlite").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_stays_dead_with_requests_in_flight_on_postgres() {
    use twofa_verify::PostgresStore;
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: DATABASE_URL not set; the PostgreSQL logout burst did not run"
        );
        return;
    };
    let schema = format!("twofa_logout_{:016x}", rand::random::<u64>());
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    let pg = app(
        store.clone(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    logout_burst(pg, "postgres").await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
}

async fn logout_burst(app: App, what: &str) {
    let app = std::sync::Arc::new(app);
    app.user("alice").await;
    for round in 0..10 {
        let mut victim = Jar::default();
        victim.login(&app, "alice", false).await;
        let (_, _, token) = victim.get(&app, "/form").await;
        let cookies = victim.cookies.clone();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(41));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (app, barrier, cookies, token) =
                (app.clone(), barrier.clone(), cookies.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut thief = Jar {
                    cookies,
                    last_set: Vec::new(),
                };
                barrier.wait().await;
                if i % 4 == 0 {
                    thief
                        .post_raw(&app, "/note", &[("csrf_token", &token)])
                        .await;
                } else {
                    thief.home(&app).await;
                }
            }));
        }
        barrier.wait().await;
        let (status, _, _) = victim
            .post_raw(&app, "/logout", &[("csrf_token", &token)])
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        for t in tasks {
            t.await.unwrap();
        }
        let mut thief = Jar {
            cookies,
            last_set: Vec::new(),
        };
        assert_eq!(
            thief.home(&app).await,
            StatusCode::UNAUTHORIZED,
            "{what}, round {round}: the logged-out session came back"
        );
    }
}

/// Forms without the right token are refused (403): none, another
/// visitor's, a JSON body, a token from before the login; the header works.
#[tokio::test]
async fn csrf_refusals() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let creds = [("username", "alice"), ("password", GOOD)];
    let mut mallory = Jar::default();
    let (_, _, mallory_token) = mallory.get(&app, "/form").await;
    assert!(mallory.cookies.contains_key("twofa_csrf"));

    let mut alice = Jar::default();
    assert_eq!(
        alice.post_raw(&app, "/login", &creds).await.0,
        StatusCode::FORBIDDEN
    );
    let mut with_theirs = creds.to_vec();
    with_theirs.push(("csrf_token", &mallory_token));
    assert_eq!(
        alice.post_raw(&app, "/login", &with_theirs).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, _, token) = alice.get(&app, "/form").await;
    let json = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"csrf_token":"{token}"}}"#)))
        .unwrap();
    assert_eq!(alice.send(&app, json).await.0, StatusCode::FORBIDDEN);
    let big = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("a=".repeat(20_000)))
        .unwrap();
    assert_eq!(alice.send(&app, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // The header carries it as well.
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-csrf-token", &token)
        .body(Body::from(serde_urlencoded::to_string(creds).unwrap()))
        .unwrap();
    assert_eq!(alice.send(&app, req).await.0, StatusCode::SEE_OTHER);
    assert_eq!(alice.home(&app).await, StatusCode::OK);

    // Logged in: the anonymous token is void, the session's works.
    let pw_fields = [("current", GOOD), ("new", "a brand new horse")];
    let mut old = pw_fields.to_vec();
    old.push(("csrf_token", &token));
    assert_eq!(
        alice.post_raw(&app, "/password", &old).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, _, session_token) = alice.get(&app, "/form").await;
    assert_ne!(session_token, token);
    let mut theirs = pw_fields.to_vec();
    theirs.push(("csrf_token", &mallory_token));
    assert_eq!(
        alice.post_raw(&app, "/password", &theirs).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        alice.post(&app, "/password", &pw_fields).await.0,
        StatusCode::OK
    );
}

/// Error statuses through the handlers: 401 with the error's text, 429
/// with `Retry-After` once the account slows down, 410 for a pending login
/// that was voided; the client's IP comes from the socket, or from
/// `X-Forwarded-For` only when trusted.
#[tokio::test]
async fn error_statuses_retry_after_and_client_address() {
    let app = memory_app(AuthConfig::new());
    let alice = app.user("alice").await;
    let wrong = [("username", "alice"), ("password", "wrong horse battery")];
    let mut jar = Jar::default();
    let (s, _, body) = jar.post(&app, "/login", &wrong).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid username or password")
    );
    let mut limited = None;
    for _ in 0..10 {
        let (s, h, body) = jar.post(&app, "/login", &wrong).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((h, body));
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (h, body) = limited.expect("a delay after repeated failures");
    let secs: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(secs >= 1, "{secs}");
    assert!(body.contains("try again in"), "{body}");

    // A pending login voided by "sign out everywhere": 410.
    let bob = app.user("bob").await;
    app.auth
        .start_sms_enrollment(bob.id, "+14155550100", &StepUp::password(GOOD))
        .await
        .unwrap();
    let code = app.sms.last_code_for("+14155550100").unwrap();
    let _enrolled = app
        .auth
        .confirm_sms_enrollment(bob.id, &SecretString::from(code.as_str()))
        .await
        .unwrap();
    let mut bobs = Jar::default();
    bobs.login(&app, "bob", false).await;
    let code = app.sms.last_code_for("+14155550100").unwrap();
    app.auth.send_step_up_code(bob.id).await.unwrap();
    let step_up_code = app.sms.last_code_for("+14155550100");
    app.auth
        .sign_out_everywhere(bob.id, &StepUp::new(GOOD, step_up_code))
        .await
        .unwrap();
    let (s, _, body) = bobs.post(&app, "/code", &[("code", &code)]).await;
    assert_eq!(s, StatusCode::GONE, "{body}");
    let _ = alice;

    // Client address: socket unless the proxy is trusted.
    for (trust, expect) in [(false, [10, 0, 0, 7]), (true, [203, 0, 113, 9])] {
        let app = memory_app(AuthConfig::new().trust_proxy(trust));
        app.user("carol").await;
        let router = app
            .router
            .clone()
            .layer(MockConnectInfo(SocketAddr::from(([10, 0, 0, 7], 4000))));
        let app = App { router, ..app };
        let mut jar = Jar::default();
        let (_, _, token) = jar.get(&app, "/form").await;
        let body = serde_urlencoded::to_string([
            ("username", "carol"),
            ("password", GOOD),
            ("csrf_token", &token),
        ])
        .unwrap();
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
            .header(header::USER_AGENT, "TestBrowser/1")
            .body(Body::from(body))
            .unwrap();
        assert_eq!(jar.send(&app, req).await.0, StatusCode::SEE_OTHER);
        let ctx = app
            .events
            .events_with_context()
            .into_iter()
            .find(|(e, _)| matches!(e, AuthEvent::LoginSucceeded { .. }))
            .map(|(_, c)| c)
            .unwrap();
        assert_eq!(ctx.ip(), Some(expect.into()), "trust_proxy {trust}");
        assert_eq!(ctx.user_agent(), Some("TestBrowser/1"));
    }
}
