//! An outsider's attacks on `AuthLayer`, through the test site: planted
//! and stolen session ids, CSRF tokens out of place, cookie attributes,
//! hostile input, and what a wrong password tells about a username.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower_sessions::cookie::Cookie;
use twofa_verify::axum::AuthConfig;
use twofa_verify::clock::ManualClock;
use twofa_verify::{ConsoleSms, MemoryStore};

use super::app::{App, GOOD, Jar, PHONE, SESSION_COOKIE, app_at, location, memory_app};

/// A browser holding only `session` as its session cookie.
fn jar_with(session: &str) -> Jar {
    let mut jar = Jar::default();
    jar.cookies.insert(SESSION_COOKIE.into(), session.into());
    jar
}

/// Where a browser with only this session cookie stands: 200 logged in,
/// 303 held at the code page (pending), 401 nobody.
async fn standing(app: &App, session: &str) -> StatusCode {
    jar_with(session).home(app).await
}

/// Session fixation: an id planted in the victim's browser (the
/// attacker's own session, or one no session has) is replaced at the
/// password step, again at the second factor, and the cookie is removed
/// at logout; no id of before carries the login.
#[tokio::test]
async fn planted_and_earlier_session_ids_never_carry_a_login() {
    let app = memory_app(AuthConfig::new());
    let alice = app.user("alice").await;
    app.with_sms(&alice).await;

    let mut mallory = Jar::default();
    let (status, _, _) = mallory.post(&app, "/note", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let planted = mallory.session().unwrap().to_owned();
    let forged = "AAAAAAAAAAAAAAAAAAAAAA".to_owned();

    for seed in [planted.clone(), forged] {
        let mut victim = jar_with(&seed);
        let (status, headers) = victim.login(&app, "alice", false).await;
        assert_eq!(
            (status, location(&headers)),
            (StatusCode::SEE_OTHER, "/code")
        );
        let pending = victim.session().unwrap().to_owned();
        assert_ne!(pending, seed, "a new id at the password step");
        assert_eq!(standing(&app, &seed).await, StatusCode::UNAUTHORIZED);

        let code = app.sms.last_code_for(PHONE).unwrap();
        let (status, headers, _) = victim.post(&app, "/code", &[("code", &code)]).await;
        assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"));
        let full = victim.session().unwrap().to_owned();
        assert_ne!(full, pending, "a new id at the second factor");
        assert_eq!(victim.home(&app).await, StatusCode::OK);
        for old in [&seed, &pending] {
            assert_eq!(standing(&app, old).await, StatusCode::UNAUTHORIZED);
        }

        let (status, _, _) = victim.post(&app, "/bye", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(victim.session(), None, "removed: {:?}", victim.last_set);
        assert_eq!(standing(&app, &full).await, StatusCode::UNAUTHORIZED);
    }
    // Mallory's own session is no longer hers to use as alice's.
    assert_eq!(mallory.home(&app).await, StatusCode::UNAUTHORIZED);
}

/// A stolen session of the password step: held at the code page (every
/// other path, however spelled, is refused), and dead once the owner
/// finishes the login.
#[tokio::test]
async fn a_stolen_pending_session_reaches_nothing() {
    let app = memory_app(AuthConfig::new().login_url("/login"));
    let alice = app.user("alice").await;
    app.with_sms(&alice).await;
    let mut victim = Jar::default();
    victim.login(&app, "alice", false).await;
    let stolen = victim.session().unwrap().to_owned();

    let mut thief = jar_with(&stolen);
    for path in [
        "/",
        "/password",
        "/static/../password",
        "/static/..%2Fpassword",
        "/code/../password",
        "//password",
        "/CODE",
        "/code/",
    ] {
        let (status, headers, body) = thief
            .post(
                &app,
                path,
                &[("current", GOOD), ("new", "a new horse battery")],
            )
            .await;
        assert_ne!(body, "changed", "{path}");
        assert!(
            status == StatusCode::SEE_OTHER || status.is_client_error(),
            "{path}: {status} {headers:?}"
        );
    }
    assert_eq!(thief.home(&app).await, StatusCode::SEE_OTHER);

    let code = app.sms.last_code_for(PHONE).unwrap();
    victim.post(&app, "/code", &[("code", &code)]).await;
    assert_eq!(victim.home(&app).await, StatusCode::OK);
    // The thief's copy: neither logged in nor pending, and its code page
    // sends it to the login form.
    let (status, headers, _) = thief.get(&app, "/code").await;
    assert_eq!(
        (status, location(&headers)),
        (StatusCode::SEE_OTHER, "/login")
    );
    let (status, headers, _) = thief.get(&app, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location(&headers).starts_with("/login?next="),
        "{headers:?}"
    );
    // The password was never changed.
    assert_eq!(
        Jar::default().login(&app, "alice", false).await.0,
        StatusCode::SEE_OTHER
    );
}

/// CSRF tokens out of place: another session's, one from before a logout
/// (with or without a new anonymous session after it), forged, empty,
/// missing, in the query string, in a `text/plain` body (a cross-site
/// form can send one), behind a wrong first field; on every unsafe method.
#[tokio::test]
async fn csrf_tokens_out_of_place_are_refused() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    app.user("bob").await;
    let mut alice = Jar::default();
    alice.login(&app, "alice", false).await;
    let (_, _, alice_token) = alice.get(&app, "/form").await;
    let mut bob = Jar::default();
    bob.login(&app, "bob", false).await;
    let (_, _, bob_token) = bob.get(&app, "/form").await;
    assert_ne!(alice_token, bob_token);

    let refused = |r: (StatusCode, _, String)| {
        assert_eq!(r.0, StatusCode::FORBIDDEN, "{}", r.2);
    };
    refused(
        bob.post_raw(&app, "/note", &[("csrf_token", &alice_token)])
            .await,
    );
    for forged in [
        "",
        "x",
        &"A".repeat(43),
        &format!("{bob_token} "),
        &bob_token[1..],
    ] {
        refused(bob.post_raw(&app, "/note", &[("csrf_token", forged)]).await);
    }
    refused(bob.post_raw(&app, "/note", &[]).await);
    refused(
        bob.post_raw(
            &app,
            "/note",
            &[("csrf_token", "wrong"), ("csrf_token", &bob_token)],
        )
        .await,
    );
    let query = Request::post(format!("/note?csrf_token={bob_token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("a=1"))
        .unwrap();
    refused(bob.send(&app, query).await);
    let plain = Request::post("/note")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(format!("csrf_token={bob_token}")))
        .unwrap();
    refused(bob.send(&app, plain).await);
    for method in ["PUT", "PATCH", "DELETE"] {
        let bare = Request::builder()
            .method(method)
            .uri("/note")
            .body(Body::empty())
            .unwrap();
        refused(bob.send(&app, bare).await);
        let with = Request::builder()
            .method(method)
            .uri("/note")
            .header("x-csrf-token", &bob_token)
            .body(Body::empty())
            .unwrap();
        assert_eq!(bob.send(&app, with).await.0, StatusCode::OK, "{method}");
    }
    // The right token still works.
    let (status, _, _) = bob
        .post_raw(&app, "/note", &[("csrf_token", &bob_token)])
        .await;
    assert_eq!(status, StatusCode::OK);

    // After a logout the session's token is void, whether the logout left
    // nothing (`/bye`) or a new anonymous session (`/logout`'s note).
    let (status, _, _) = bob
        .post_raw(&app, "/bye", &[("csrf_token", &bob_token)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    refused(
        bob.post_raw(&app, "/note", &[("csrf_token", &bob_token)])
            .await,
    );
    let (status, _, _) = alice
        .post_raw(&app, "/logout", &[("csrf_token", &alice_token)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(alice.session().is_some(), "the note's session");
    refused(
        alice
            .post_raw(&app, "/note", &[("csrf_token", &alice_token)])
            .await,
    );
    // Nor does the token of before the logout log anyone in again.
    refused(
        alice
            .post_raw(
                &app,
                "/login",
                &[
                    ("username", "alice"),
                    ("password", GOOD),
                    ("csrf_token", &alice_token),
                ],
            )
            .await,
    );
    // Safe methods never reach a state-changing route.
    for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
        let req = Request::builder()
            .method(method)
            .uri("/bye")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            alice.send(&app, req).await.0,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
}

/// BREACH: a page that is compressed and echoes the visitor's input would
/// leak a token that is the same bytes in every render. Pages show the
/// token masked: two renders differ, both work, for a session and for an
/// anonymous visitor alike.
#[tokio::test]
async fn forms_show_the_token_masked_every_time() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut jar = Jar::default();
    for who in ["anonymous", "alice"] {
        if who == "alice" {
            jar.login(&app, "alice", false).await;
        }
        let (_, _, first) = jar.get(&app, "/form").await;
        let (_, _, second) = jar.get(&app, "/form").await;
        assert_ne!(first, second, "{who}");
        for token in [&first, &second] {
            let req = Request::post("/note")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf_token={token}")))
                .unwrap();
            assert_eq!(jar.send(&app, req).await.0, StatusCode::OK, "{who}");
        }
    }
}

/// The `Set-Cookie` lines of a response for `name`.
fn set_lines<'a>(jar: &'a Jar, name: &str) -> Vec<&'a String> {
    let prefix = format!("{name}=");
    jar.last_set
        .iter()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

/// Cookie attributes on plain http (development): `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, no `Domain`, no `Secure` (browsers would drop
/// it) and no `__Host-` prefix (browsers refuse it without `Secure`).
#[tokio::test]
async fn http_cookies_are_http_only_lax_and_host_wide() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut jar = Jar::default();
    jar.get(&app, "/form").await;
    let nonce: Vec<String> = set_lines(&jar, "twofa_csrf").into_iter().cloned().collect();
    assert_eq!(nonce.len(), 1, "{:?}", jar.last_set);
    jar.post(&app, "/login", &[("username", "alice"), ("password", GOOD)])
        .await;
    let session: Vec<String> = set_lines(&jar, SESSION_COOKIE)
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(session.len(), 1, "{:?}", jar.last_set);
    for line in [nonce[0].clone(), session[0].clone()] {
        let c = Cookie::parse(line.clone()).unwrap();
        assert_eq!(c.http_only(), Some(true), "{line}");
        assert_eq!(
            c.same_site(),
            Some(tower_sessions::cookie::SameSite::Lax),
            "{line}"
        );
        assert_eq!(c.path(), Some("/"), "{line}");
        assert_eq!(c.domain(), None, "{line}");
        assert_ne!(c.secure(), Some(true), "{line}");
    }
}

/// Over https a removal of the `__Host-` session cookie (logout, or a
/// session ended elsewhere) must itself be `Secure` with `Path=/`, or
/// browsers ignore it and keep sending the old cookie.
#[tokio::test]
async fn https_cookie_removals_are_secure() {
    let app = app_at(
        "https://site.example",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    app.user("alice").await;
    let name = "__Host-twofa_session";
    let removal = |jar: &Jar| {
        let lines = set_lines(jar, name);
        assert_eq!(lines.len(), 1, "{:?}", jar.last_set);
        let c = Cookie::parse(lines[0].clone()).unwrap();
        assert!(c.value().is_empty() || c.max_age().is_some_and(|a| a.is_zero()));
        lines[0].clone()
    };
    let mut jar = Jar::default();
    jar.post(&app, "/login", &[("username", "alice"), ("password", GOOD)])
        .await;
    assert!(jar.cookies.contains_key(name), "{:?}", jar.last_set);
    let (status, _, _) = jar.post(&app, "/bye", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let line = removal(&jar);
    for attr in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(line.contains(attr), "{line}");
    }

    // A session that ends at its next request (signed out elsewhere).
    let mut jar = Jar::default();
    jar.post(&app, "/login", &[("username", "alice"), ("password", GOOD)])
        .await;
    let alice = app.auth.user_by_username("alice").await.unwrap().unwrap();
    app.auth
        .sign_out_everywhere(alice.id, &twofa_verify::StepUp::password(GOOD))
        .await
        .unwrap();
    assert_eq!(jar.home(&app).await, StatusCode::UNAUTHORIZED);
    let line = removal(&jar);
    assert!(line.contains("Secure") && line.contains("Path=/"), "{line}");
}

/// Hostile input through the layer: NUL and control characters, huge
/// fields, bodies that are not UTF-8 or not forms, garbage cookies and
/// headers. Each is a 4xx (or an anonymous visitor), never a 500, and
/// nobody logs in.
#[tokio::test]
async fn hostile_input_is_a_4xx_never_a_500() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let long = "a".repeat(12 * 1024);
    for (user, password) in [
        ("alice\0", GOOD),
        ("\0", GOOD),
        ("alice", "correct horse\0battery"),
        ("al\u{202e}ice", GOOD),
        ("alice", ""),
        ("", ""),
        (long.as_str(), GOOD),
        ("alice", long.as_str()),
        ("alice\r\nSet-Cookie: x=1", GOOD),
    ] {
        let (status, headers, body) = Jar::default()
            .post(
                &app,
                "/login",
                &[("username", user), ("password", password)],
            )
            .await;
        assert!(
            status.is_client_error(),
            "{:?}: {status} {body}",
            &user[..user.len().min(20)]
        );
        assert!(headers.get(header::SET_COOKIE).is_none(), "{headers:?}");
    }

    let mut jar = Jar::default();
    let (_, _, token) = jar.get(&app, "/form").await;
    let raw = |body: Vec<u8>, content_type: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, content_type)
            .header("x-csrf-token", &token)
            .body(Body::from(body))
            .unwrap()
    };
    let form = "application/x-www-form-urlencoded";
    for (body, content_type) in [
        (b"username=al\xffice&password=x".to_vec(), form),
        (b"username=alice&password=%FF%FE".to_vec(), form),
        (b"username=%00&password=%00".to_vec(), form),
        (b"%%%%&&&==".to_vec(), form),
        (vec![0; 1000], form),
        (b"{\"username\":\"alice\"}".to_vec(), "application/json"),
        (
            b"username=alice".to_vec(),
            "multipart/form-data; boundary=x",
        ),
        (vec![b'a'; 10 << 20], form),
    ] {
        let (status, _, _) = jar.send(&app, raw(body, content_type)).await;
        assert!(status.is_client_error(), "{content_type}: {status}");
    }
    assert!(jar.session().is_none());

    // Garbage session cookies and CSRF headers: an anonymous visitor.
    for cookie in [
        "not-an-id",
        "../../etc/passwd",
        "%00",
        &"A".repeat(8 * 1024),
        "AAAAAAAAAAAAAAAAAAAAAA==",
    ] {
        assert_eq!(
            standing(&app, cookie).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            &cookie[..cookie.len().min(20)]
        );
    }
    let mut jar = Jar::default();
    let (_, _, token) = jar.get(&app, "/form").await;
    let upper = token.to_uppercase();
    for (bad, field) in [
        (&b"\xff\xfe"[..], ""),
        (&[b'a'; 64 * 1024][..], ""),
        (upper.as_bytes(), ""),
        // A wrong header is a refusal, whatever the form carries.
        (upper.as_bytes(), token.as_str()),
    ] {
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, form)
            .header(
                "x-csrf-token",
                axum::http::HeaderValue::from_bytes(bad).unwrap(),
            )
            .body(Body::from(format!(
                "username=alice&password={GOOD}&csrf_token={field}"
            )))
            .unwrap();
        assert_eq!(jar.send(&app, req).await.0, StatusCode::FORBIDDEN);
    }
    assert!(jar.session().is_none(), "nobody logged in");
}

/// Through the web layer, a wrong password tells nothing about whether the
/// username exists: the same answers, in the same order (slowing down
/// included), in about the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_answers_alike_for_known_and_unknown_names() {
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let attempt = |name: &'static str| {
        let app = &app;
        async move {
            let mut jar = Jar::default();
            let started = Instant::now();
            let (status, headers, body) = jar
                .post(
                    app,
                    "/login",
                    &[("username", name), ("password", "not the password")],
                )
                .await;
            (
                status,
                headers.get(header::RETRY_AFTER).is_some(),
                body,
                started.elapsed(),
            )
        }
    };
    // The answers, attempt by attempt (the account slows down after a few).
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..12 {
        let k = attempt("alice").await;
        let u = attempt("nobody-here").await;
        known.push((k.0, k.1, k.2));
        unknown.push((u.0, u.1, u.2));
        app.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(known, unknown);

    // Timing, on a fresh site (no slowing down): medians within 2x.
    let app = memory_app(AuthConfig::new());
    app.user("alice").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..16 {
        let names = if i % 2 == 0 {
            ["alice", "nobody-here"]
        } else {
            ["nobody-here", "alice"]
        };
        for name in names {
            let mut jar = Jar::default();
            let (_, _, token) = jar.get(&app, "/form").await;
            let started = Instant::now();
            let (status, _, _) = jar
                .post_raw(
                    &app,
                    "/login",
                    &[
                        ("username", name),
                        ("password", "not it"),
                        ("csrf_token", &token),
                    ],
                )
                .await;
            let took = started.elapsed();
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            if name == "alice" {
                known.push(took);
            } else {
                unknown.push(took);
            }
            app.clock.advance(Duration::from_secs(600));
        }
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[known.len() / 2], unknown[unknown.len() / 2]);
    eprintln!("median wrong-password login: known {k:?}, unknown {u:?}");
    let ratio = k.as_secs_f64() / u.as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "known {k:?} unknown {u:?}");
}
