//! The site's pages and their plumbing: the home page and its headers, the
//! session cookie, the error pages, CSRF, registration, login and logout, the
//! lockout's wording, editing the profile and the password.

use super::*;

#[tokio::test]
async fn home_static_and_headers() {
    let mut c = Client::new().await;
    let r = c.get("/").await;
    r.assert(StatusCode::OK, "Create an account");
    assert!(r.body.contains("/static/styles.css"));
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let css = c.get("/static/styles.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains(".card"));
    for page in ["/register", "/login", "/reset_password_request", "/logout"] {
        let r = c.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(r.body.contains("name=\"csrf_token\""), "{page}");
    }
}

#[tokio::test]
async fn session_cookie_flags_and_rotation() {
    let mut c = Client::new().await;
    let r = c.get("/login").await;
    // An anonymous form page: a CSRF nonce cookie, no session.
    assert_eq!(set_cookie(&r, "twofa_session"), None);
    let nonce = set_cookie(&r, "twofa_csrf").expect("a nonce cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(nonce.contains(flag), "{nonce}");
    }
    assert!(!nonce.contains("Secure"), "{nonce}");
    // Once set, it is not sent again.
    assert_eq!(set_cookie(&c.get("/register").await, "twofa_csrf"), None);
    c.register("rota").await;
    let before = c.session();
    assert!(
        before.is_none(),
        "the flash after registering is a cookie, not a session"
    );
    let r = c.login("rota").await;
    r.redirect("/user/rota");
    let cookie = set_cookie(&r, "twofa_session").expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_ne!(c.session(), before, "the session id changes at login");

    // Secure when configured (COOKIE_SECURE=1 or an https BASE_URL).
    let state = axum_app::state_for_tests_with(
        demo_support::Options::default(),
        axum_app::Config {
            cookie_secure: true,
            ..axum_app::Config::for_tests()
        },
    )
    .await
    .unwrap();
    let mut s = Client::with_state(state);
    let r = s.get("/login").await;
    // Over https every cookie is `__Host-` prefixed: Secure, Path=/, no
    // Domain, so no other host or plain-http page can set or shadow it.
    assert_eq!(set_cookie(&r, "twofa_csrf"), None);
    let host_only = |c: String| {
        for attr in ["Secure", "Path=/", "HttpOnly"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"), "{c}");
    };
    host_only(set_cookie(&r, "__Host-twofa_csrf").unwrap());
    s.register("sec").await;
    let r = s.login("sec").await;
    r.redirect("/user/sec");
    assert_eq!(set_cookie(&r, "twofa_session"), None);
    host_only(set_cookie(&r, "__Host-twofa_session").unwrap());
    let r = s.post("/logout", &[]).await;
    host_only(set_cookie(&r, "__Host-twofa_flash").unwrap());
    s.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
}

#[tokio::test]
async fn not_found_and_method_not_allowed_pages() {
    let mut c = Client::new().await;
    c.get("/no/such/page")
        .await
        .assert(StatusCode::NOT_FOUND, "Page not found");
    let r = c.get("/verify_2fa/resend").await;
    r.assert(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    assert!(r.body.contains("<html"), "a full page");
    c.register("nf").await;
    c.login("nf").await;
    c.get("/user/ghost")
        .await
        .assert(StatusCode::NOT_FOUND, "There is no user called");
}

#[tokio::test]
async fn internal_errors_render_the_500_page() {
    let resp = axum_app::AppError::Internal("db on fire".into()).into_response();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Something went wrong"));
    assert!(!text.contains("db on fire"), "details stay in the log");
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_403() {
    let mut c = Client::new().await;
    c.get("/login").await;
    let r = c
        .post_raw("/login", "username=a&password=correct+horse")
        .await;
    r.assert(StatusCode::FORBIDDEN, "This form has expired");
    let r = c
        .post_raw("/login", "csrf_token=forged&username=a&password=b")
        .await;
    r.assert(StatusCode::FORBIDDEN, "Form expired");
    // Without any session at all.
    let mut fresh = c.other();
    fresh
        .post_raw("/register", "csrf_token=x&username=a")
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
    // Every POST route is covered.
    for path in ["/verify_2fa", "/enable_2fa", "/reset_password/x"] {
        let r = c.post_raw(path, "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Logging out while logged out (a stale tab): nothing to do, the home
    // page says so.
    c.post_raw("/logout", "").await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You are logged out.");
}

#[tokio::test]
async fn register_errors_are_friendly() {
    let mut c = Client::new().await;
    c.register("alice").await;
    c.get("/login")
        .await
        .assert(StatusCode::OK, "you are now registered");
    let form = |u: &'static str, e: &'static str, p: &'static str, p2: &'static str| {
        [
            ("username", u),
            ("first_name", "Bob"),
            ("last_name", "Example"),
            ("email", e),
            ("password", p),
            ("password2", p2),
        ]
    };
    c.post("/register", &form("ALICE", "other@example.com", PW, PW))
        .await
        .assert(StatusCode::CONFLICT, "username is already taken");
    c.post("/register", &form("bob", "alice@example.com", PW, PW))
        .await
        .assert(StatusCode::CONFLICT, "email address is already registered");
    c.post(
        "/register",
        &form("bob", "bob@example.com", PW, "other one"),
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(
        "/register",
        &form("bob", "bob@example.com", "password", "password"),
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "commonly used");
    c.post("/register", &form("bob", "not-an-email", PW, PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email address");
    c.post("/register", &form("b o b", "bob@example.com", PW, PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid username");
    c.post("/register", &[("username", "bob")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "fill in every field");
    // What the user typed stays in the form, escaped.
    let r = c
        .post(
            "/register",
            &form("<b>x</b>", "bob@example.com", PW, "nope nope"),
        )
        .await;
    assert!(r.body.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") || r.body.contains("&lt;b&gt;"));
    assert!(!r.body.contains("<b>x</b>"));
    // A form that cannot be read: 400 page, not a bare error.
    let token = c.csrf.clone().unwrap();
    c.post_raw(
        "/register",
        &format!("csrf_token={token}&username=a&username=b"),
    )
    .await
    .assert(StatusCode::BAD_REQUEST, "could not be read");
}

#[tokio::test]
async fn login_logout_and_login_required() {
    let mut c = Client::new().await;
    c.get("/user/carol")
        .await
        .redirect("/login?next=%2Fuser%2Fcarol");
    c.get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    c.register("carol").await;
    c.post(
        "/login",
        &[("username", "carol"), ("password", "wrong password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    c.post("/login", &[("username", "nobody"), ("password", PW)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    c.post("/login", &[("username", ""), ("password", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Please enter");
    // `next` is followed for local paths only.
    c.post(
        "/login",
        &[
            ("username", "carol@example.com"),
            ("password", PW),
            ("next", "https://evil.example/"),
        ],
    )
    .await
    .redirect("/user/carol");
    c.get("/user/carol")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!")
        .assert(StatusCode::OK, "carol@example.com");
    c.get("/login").await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You are logged in as carol.");
    c.post("/logout", &[]).await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You have been logged out");
    c.get("/user/carol")
        .await
        .redirect("/login?next=%2Fuser%2Fcarol");
    c.post(
        "/login",
        &[
            ("username", "carol"),
            ("password", PW),
            ("next", "/edit_profile"),
        ],
    )
    .await
    .redirect("/edit_profile");
}

/// Delays and locks: one wording, told with the failure that earned the
/// wait (never a plain "invalid" between two waits), on the login page
/// reached by a redirect, the username kept, the wait rounded up.
#[tokio::test]
async fn lockout_is_told_in_one_wording_with_the_failure_that_earned_it() {
    let mut policy = twofa_verify::Policy::default();
    policy.lock_after_failures = 7;
    let mut c = site(policy, false, false).await;
    c.register("dave").await;
    let wrong = [("username", "dave"), ("password", "wrong password")];
    // Default policy: a growing delay from the 5th failure in a row.
    for _ in 0..4 {
        c.post("/login", &wrong)
            .await
            .assert(StatusCode::UNAUTHORIZED, "Invalid username or password.");
    }
    let said = "Invalid username or password. Too many failed attempts. You can try again";
    let r = c.post("/login", &wrong).await;
    let page = c.expect_wait(&r, "/login", said).await;
    page.assert(StatusCode::OK, "in 1 s</span>.")
        .assert(StatusCode::OK, "value=\"dave\"");
    assert!(!page.body.contains("wrong password"), "{}", page.body);
    // Trying again at once: the same words, the wait left.
    let r = c.login("dave").await;
    let page = c
        .expect_wait(&r, "/login", "Too many failed attempts. You can try again")
        .await;
    page.assert(StatusCode::OK, "in 1 s</span>.");
    // Once the wait is over, the next failure earns 2 s and says so.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = c.post("/login", &wrong).await;
    c.expect_wait(&r, "/login", said)
        .await
        .assert(StatusCode::OK, "in 2 s</span>.");
    // The lock (7th failure): the same words, in minutes, rounded up.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = c.post("/login", &wrong).await;
    c.expect_wait(&r, "/login", said)
        .await
        .assert(StatusCode::OK, "in 15 min</span>.");
    let r = c.login("dave").await;
    c.expect_wait(&r, "/login", "Too many failed attempts. You can try again")
        .await
        .assert(StatusCode::OK, "in 15 min</span>.");
}

#[tokio::test]
async fn edit_profile_and_change_password() {
    let mut c = Client::new().await;
    c.register("erin").await;
    c.other().register("frank").await;
    c.login("erin").await;
    c.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "value=\"erin\"");
    c.post("/edit_profile", &[("username", "frank")])
        .await
        .assert(StatusCode::CONFLICT, "already taken");
    c.post("/edit_profile", &[("username", "erin2")])
        .await
        .redirect("/user/erin2");
    // The email has its own page, with the password.
    c.get("/change_email")
        .await
        .assert(StatusCode::OK, "erin@example.com");
    let email = |e: &'static str, pw: &'static str| [("email", e), ("password", pw)];
    c.post("/change_email", &email("bad", PW))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email");
    c.post(
        "/change_email",
        &email("erin2@example.com", "wrong password"),
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/change_email", &email("erin2@example.com", PW))
        .await
        .redirect("/user/erin2");
    c.get("/user/erin2")
        .await
        .assert(StatusCode::OK, "We sent a link to erin2@example.com");
    // The change happens through the link mailed to the new address.
    let link =
        credential_changes::mailed_link(&c, "erin2@example.com", "/confirm_new_email/").await;
    c.post(&link, &[]).await.redirect("/user/erin2");
    c.get("/user/erin2")
        .await
        .assert(
            StatusCode::OK,
            "Your email address is now erin2@example.com",
        )
        .assert(StatusCode::OK, "erin2@example.com");
    // The old address is told.
    let notice = notice_to(
        &c,
        "erin@example.com",
        "email address of your account was changed",
    )
    .await;
    assert!(notice.body.contains("Dear erin2"));
    c.get("/user/erin2")
        .await
        .assert(StatusCode::OK, "Member since");
    // Others see the username, not the email.
    let mut f = c.other();
    f.login("frank").await;
    let r = f.get("/user/erin2").await;
    r.assert(StatusCode::OK, "erin2");
    assert!(!r.body.contains("erin2@example.com"));

    c.post(
        "/change_password",
        &[
            ("current", "nope nope"),
            ("password", "a new passphrase"),
            ("password2", "a new passphrase"),
        ],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "current password is not right");
    c.post(
        "/change_password",
        &[
            ("current", PW),
            ("password", "a new passphrase"),
            ("password2", "different"),
        ],
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(
        "/change_password",
        &[
            ("current", PW),
            ("password", "a new passphrase"),
            ("password2", "a new passphrase"),
        ],
    )
    .await
    .redirect("/user/erin2");
}
