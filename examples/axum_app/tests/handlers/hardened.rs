//! Hardened edges: `next` targets that must not be followed, sessions
//! only for signed-in visitors, the anonymous CSRF nonce, and request bodies
//! that are not URL-encoded forms.

use super::*;

/// `next` values (form-encoded) that must not be followed: controls and
/// whitespace, raw and percent-encoded, other hosts, and bytes that are
/// not UTF-8.
const BAD_NEXT: &[&str] = &[
    "%2F%09%2Fevil.example",
    "%2F%250A",
    "%2F%250D",
    "%2F%2500",
    "%2F%2509%2Fevil.example",
    "%2F%0A",
    "%2F%0D%0ASet-Cookie%3A+x%3D1",
    "%2F%00",
    "%2F%FF",
    "%2Fuser%2F%FF%0A",
    "%FF",
    "%2F%2Fevil.example",
    "%2F%5Cevil.example",
    "%2F%255Cevil.example",
    "https%3A%2F%2Fevil.example%2F",
];

#[tokio::test]
async fn login_page_ignores_unsafe_next() {
    let mut c = Client::new().await;
    // The reported one, as a browser sends it.
    let r = c.get("/login?next=/%09/evil.com").await;
    r.assert(StatusCode::OK, "Log in");
    assert!(!r.body.contains("name=\"next\""), "{}", r.body);
    for next in BAD_NEXT {
        let r = c.get(&format!("/login?next={next}")).await;
        r.assert(StatusCode::OK, "Log in");
        assert!(!r.body.contains("name=\"next\""), "{next}");
        assert!(!r.body.contains("Please log in to see this page"), "{next}");
    }
    // A protected page whose address cannot come back as `next`: the plain
    // login page, never the home page or an error.
    let long = format!("/user/{}", "a".repeat(600));
    for path in [long.as_str(), "/user/a%09b"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().starts_with("/login?next="), "{path}");
        let r = c.get(r.location()).await;
        r.assert(StatusCode::OK, "Log in");
        assert!(!r.body.contains("name=\"next\""), "{path}");
    }
    // Repeated keys are no error either; the first one counts.
    let r = c.get("/login?next=%2Fedit_profile&next=x").await;
    r.assert(StatusCode::OK, "Please log in to see this page");
    assert!(
        r.body
            .contains("name=\"next\" value=\"&#x2f;edit_profile\"")
    );
}

#[tokio::test]
async fn unsafe_next_after_login_redirects_home_and_keeps_the_session() {
    let mut c = Client::new().await;
    c.register("nina").await;
    for next in BAD_NEXT {
        let mut b = c.other();
        let token = b.token().await;
        let r = b
            .post_raw(
                "/login",
                &format!(
                    "csrf_token={token}&username=nina&password={}&next={next}",
                    PW.replace(' ', "+")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next}: {}", r.body);
        assert_eq!(r.location(), "/user/nina", "{next}");
        // Still logged in: the session was saved.
        b.get("/edit_profile")
            .await
            .assert(StatusCode::OK, "Edit profile");
    }
    // A good `next` still works.
    let mut b = c.other();
    let token = b.token().await;
    b.post_raw(
        "/login",
        &format!(
            "csrf_token={token}&username=nina&password={}&next=%2Fedit_profile%3Fa%3D1",
            PW.replace(' ', "+")
        ),
    )
    .await
    .redirect("/edit_profile?a=1");
}

#[tokio::test]
async fn unsafe_next_after_the_second_factor_redirects_to_the_profile() {
    let mut c = Client::new().await;
    c.user_with_sms("olga").await;
    c.post("/logout", &[]).await.redirect("/");
    let token = c.token().await;
    c.post_raw(
        "/login",
        &format!(
            "csrf_token={token}&username=olga&password={}&next=%2F%0D%0A",
            PW.replace(' ', "+")
        ),
    )
    .await
    .redirect("/verify_2fa");
    // Odd query strings on the code page: no error page.
    for q in ["?method=sms&method=totp", "?method=%FF", "?method=%0A"] {
        c.get(&format!("/verify_2fa{q}"))
            .await
            .assert(StatusCode::OK, "Two-factor authentication");
    }
    let code = c.sms_code();
    c.post("/verify_2fa", &[("code", &code)])
        .await
        .redirect("/user/olga");
    c.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
}

#[tokio::test]
async fn anonymous_visitors_get_no_server_session() {
    let c = Client::new().await;
    let pages = [
        "/",
        "/login",
        "/register",
        "/reset_password_request",
        "/reset_password/not-a-token",
        "/logout",
        "/login?next=%2Fedit_profile",
        "/edit_profile",
        "/user/nobody",
        "/verify_2fa",
        "/no/such/page",
    ];
    for i in 0..1000 {
        let page = pages[i % pages.len()];
        let mut v = c.other();
        let r = v.get(page).await;
        assert!(!r.status.is_server_error(), "{page}: {}", r.status);
        assert_eq!(set_cookie(&r, "twofa_session"), None, "{page}");
        if r.status == StatusCode::OK && page != "/" {
            // A form page: its token comes with a nonce cookie.
            assert!(v.csrf.is_some(), "{page}");
            assert!(set_cookie(&r, "twofa_csrf").is_some(), "{page}");
        }
    }
    assert_eq!(c.sessions.len(), 0);
    // Forms a visitor may post without a login: a logout (of nobody, with
    // its flash message), a wrong password. Still no session stored.
    for i in 0..200 {
        let mut v = c.other();
        v.get("/logout").await.assert(StatusCode::OK, "Log out");
        v.post("/logout", &[]).await.redirect("/");
        v.get("/")
            .await
            .assert(StatusCode::OK, "You have been logged out");
        if i % 10 == 0 {
            v.get("/login").await;
            let r = v
                .post("/login", &[("username", "nobody"), ("password", "wrong")])
                .await;
            assert!(!r.status.is_server_error(), "{}", r.status);
        }
    }
    assert_eq!(c.sessions.len(), 0);
    assert_eq!(c.sessions.written(), Vec::<String>::new());
    // What needs a session still gets one: logging in works.
    let mut u = c.other();
    u.register("pia").await;
    u.login("pia").await.redirect("/user/pia");
    u.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    assert_eq!(c.sessions.len(), 1, "the login session");
    u.post("/logout", &[]).await.redirect("/");
    u.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
    assert_eq!(c.sessions.len(), 0, "the flash was shown");
}

#[tokio::test]
async fn anonymous_csrf_token_must_match_the_nonce_cookie() {
    let mut a = Client::new().await;
    a.register("quin").await;
    let mut b = a.other();
    let a_token = a.token().await;
    let b_token = b.token().await;
    assert_ne!(a_token, b_token);
    let a_nonce = a.cookies["twofa_csrf"].clone();
    let form = |t: &str| format!("csrf_token={t}&username=quin&password=x");
    // Missing, forged, another visitor's, the nonce itself: 403.
    for body in [
        "username=quin&password=x".to_owned(),
        form("forged"),
        form(""),
        form(&b_token),
        form(&a_nonce),
    ] {
        a.post_raw("/login", &body)
            .await
            .assert(StatusCode::FORBIDDEN, "Form expired");
    }
    // The right token without its cookie: 403.
    let mut bare = a.other();
    bare.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // A forged nonce cookie with someone else's token: 403.
    bare.cookies.insert("twofa_csrf".into(), "A".repeat(43));
    bare.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // Another instance (another secret key) does not take this one's tokens.
    let mut other_site = Client::new().await;
    other_site.cookies = a.cookies.clone();
    other_site
        .post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // The right pair passes the check (and reaches the login handler).
    a.post_raw("/login", &form(&a_token))
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");

    // Logged in, only the session's token counts.
    a.login("quin").await.redirect("/user/quin");
    a.post_raw("/logout", &format!("csrf_token={a_token}"))
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    a.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
}

#[tokio::test]
async fn posts_must_be_url_encoded_forms() {
    let mut c = Client::new().await;
    c.register("rosa").await;
    let token = c.token().await;
    let body = format!(
        "csrf_token={token}&username=rosa&password={}",
        PW.replace(' ', "+")
    );
    for ct in [
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("text/plain; charset=UTF-8"),
        Some("application/x-www-form-urlencoded-x"),
        Some("not a media type"),
        None,
    ] {
        let r = c.post_as("/login", ct, &body).await;
        r.assert(StatusCode::FORBIDDEN, "Form expired");
        assert!(r.body.contains("<html"), "a page: {ct:?}");
        // Refused before the handler: nobody was logged in.
        c.get("/edit_profile")
            .await
            .redirect("/login?next=%2Fedit_profile");
    }
    // Other POST routes too, whatever the CSRF token.
    for path in ["/register", "/reset_password_request"] {
        c.post_as(path, Some("application/json"), "{}")
            .await
            .assert(StatusCode::FORBIDDEN, "Form expired");
    }
    // Parameters and letter case do not matter.
    for ct in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-URLEncoded",
    ] {
        let mut b = c.other();
        let token = b.token().await;
        let body = format!(
            "csrf_token={token}&username=rosa&password={}",
            PW.replace(' ', "+")
        );
        b.post_as("/login", Some(ct), &body)
            .await
            .redirect("/user/rosa");
    }
}
