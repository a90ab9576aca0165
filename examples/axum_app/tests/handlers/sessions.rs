//! Sessions on the `axum` feature: a change in one browser logs the others
//! out, a stolen session cannot take the account over, remembered devices,
//! remember me, security notices, and sessions kept in the authenticator's
//! store (across a restart on SQLite, across instances on PostgreSQL).

use std::time::Duration;

use super::*;

const NEW_PW: &str = "a brand new passphrase";

/// A registered user logged in in two browsers.
async fn two_browsers(name: &str) -> (Client, Client) {
    let mut a = Client::new().await;
    a.register(name).await;
    a.login(name).await.redirect(&format!("/user/{name}"));
    let mut b = a.other();
    b.login(name).await.redirect(&format!("/user/{name}"));
    (a, b)
}

fn logged_out(r: &Resp) {
    r.redirect("/login?next=%2Fedit_profile");
}

#[tokio::test]
async fn a_password_change_logs_the_other_browsers_out() {
    let (mut a, mut b) = two_browsers("ann").await;
    b.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    a.post(
        "/change_password",
        &[("current", PW), ("password", NEW_PW), ("password2", NEW_PW)],
    )
    .await
    .redirect("/user/ann");
    a.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    logged_out(&b.get("/edit_profile").await);
    // A stays in on later requests too, and the notice went out.
    a.get("/change_password")
        .await
        .assert(StatusCode::OK, "Change password");
    notice_to(&a, "ann@example.com", "Your password was changed").await;
}

#[tokio::test]
async fn a_factor_change_logs_the_other_browsers_out() {
    let (mut a, mut b) = two_browsers("bea").await;
    a.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    // Only starting the enrollment changes nothing yet.
    b.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    let code = a.sms_code();
    let r = a.post("/enable_2fa/verify", &[("code", &code)]).await;
    let codes = a.fresh_codes(&r).await;
    a.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    logged_out(&b.get("/edit_profile").await);
    notice_to(&a, "bea@example.com", "text-message codes was added").await;

    // Regenerating the recovery codes: a notice, and A stays in.
    let mut b = a.other();
    b.login("bea").await.redirect("/verify_2fa");
    b.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/bea");
    let r = a
        .post("/recovery_codes", &[("password", PW), ("code", &codes[1])])
        .await;
    let codes = a.fresh_codes(&r).await;
    a.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    notice_to(&a, "bea@example.com", "New recovery codes were made").await;

    // Turning the factor off ends B's session too.
    a.post(
        "/disable_2fa",
        &[("factor", "sms"), ("password", PW), ("code", &codes[0])],
    )
    .await
    .redirect("/user/bea");
    logged_out(&b.get("/edit_profile").await);
    a.get("/user/bea")
        .await
        .assert(StatusCode::OK, "Two-factor authentication is disabled");
    notice_to(&a, "bea@example.com", "text-message codes was removed").await;
}

#[tokio::test]
async fn a_password_reset_logs_every_browser_out() {
    let (mut a, mut b) = two_browsers("cleo").await;
    let mut r = a.other();
    r.post("/reset_password_request", &[("email", "cleo@example.com")])
        .await
        .redirect("/login");
    let outbox = a.state.mailer.console().unwrap().clone();
    let mut link = None;
    for _ in 0..200 {
        link = outbox.messages().into_iter().find_map(|m| {
            let start = m.body.find("/reset_password/")?;
            Some(m.body[start..].split_whitespace().next()?.to_owned())
        });
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let link = link.expect("a reset link");
    r.get(&link).await.assert(StatusCode::OK, "new password");
    r.post(&link, &[("password", NEW_PW), ("password2", NEW_PW)])
        .await
        .redirect("/login");
    logged_out(&a.get("/edit_profile").await);
    logged_out(&b.get("/edit_profile").await);
}

#[tokio::test]
async fn a_stolen_session_cannot_take_the_account_over() {
    let mut owner = Client::new().await;
    owner.user_with_sms("dina").await;
    let mut thief = owner.other();
    thief.cookies = owner.cookies.clone();
    thief
        .get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");

    // The email: not without the password...
    let to_thief = |pw: &'static str| [("email", "thief@example.com"), ("password", pw)];
    thief
        .post("/change_email", &to_thief("a guess"))
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    // ...nor with it (leaked too) but without a current code.
    thief
        .post("/change_email", &to_thief(PW))
        .await
        .assert(StatusCode::FORBIDDEN, "a current code");
    thief
        .post(
            "/change_email",
            &[
                ("email", "thief@example.com"),
                ("password", PW),
                ("code", "123456"),
            ],
        )
        .await
        .assert(StatusCode::UNAUTHORIZED, "not right");
    // An authenticator app of the thief's: the same.
    thief
        .post("/enable_totp/start", &[("password", "a guess")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    thief
        .post("/enable_totp/start", &[("password", PW)])
        .await
        .assert(StatusCode::FORBIDDEN, "a current code");
    let r = thief.post("/enable_totp", &[("code", "123456")]).await;
    assert!(
        !r.body.contains("Your recovery codes"),
        "no enrollment was started"
    );

    // Nothing changed.
    let me = owner
        .state
        .auth
        .user_by_username("dina")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.email, "dina@example.com");
    assert!(!me.totp_enabled);

    // Text messages to the thief's phone, on an account without a factor.
    let mut victim = owner.other();
    victim.register("ella").await;
    victim.login("ella").await.redirect("/user/ella");
    let mut thief = victim.other();
    thief.cookies = victim.cookies.clone();
    let phone = "+14155550123";
    thief
        .post("/enable_2fa", &[("phone", phone)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "your password");
    thief
        .post("/enable_2fa", &[("phone", phone), ("password", "a guess")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    let sms = owner.state.console_sms.as_ref().unwrap();
    assert_eq!(sms.last_code_for(phone), None, "no code was texted");
    thief
        .get("/enable_2fa/verify")
        .await
        .redirect("/enable_2fa");
    let me = owner
        .state
        .auth
        .user_by_username("ella")
        .await
        .unwrap()
        .unwrap();
    assert!(me.phone.is_none());
}

/// Logs `name` in with the password and a recovery code, optionally
/// remembering the device; returns the answer to the code.
async fn login_with_code(c: &mut Client, name: &str, pw: &str, code: &str, remember: bool) -> Resp {
    c.post("/login", &[("username", name), ("password", pw)])
        .await
        .redirect("/verify_2fa");
    let mut form = vec![("code", code)];
    if remember {
        form.push(("remember_device", "1"));
    }
    let r = c.post("/verify_2fa", &form).await;
    r.redirect(&format!("/user/{name}"));
    r
}

#[tokio::test]
async fn a_remembered_device_skips_the_code_until_revoked_or_the_password_changes() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("fay").await;
    c.post("/logout", &[]).await;

    let r = login_with_code(&mut c, "fay", PW, &codes[0], true).await;
    let cookie = set_cookie(&r, "twofa_device").expect("a device cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    notice_to(&c, "fay@example.com", "A device was remembered").await;

    // The next login from this browser needs only the password...
    c.post("/logout", &[]).await;
    c.login("fay").await.redirect("/user/fay");
    // ...another browser still needs the code.
    c.other().login("fay").await.redirect("/verify_2fa");

    // Listed on the profile; revoked from there.
    let r = c.get("/user/fay").await;
    r.assert(StatusCode::OK, "Remembered devices");
    let id = find_attr(&r.body, "name=\"id\" value=\"").expect("a device");
    c.post("/devices/forget", &[("id", &id)])
        .await
        .redirect("/user/fay");
    c.get("/user/fay")
        .await
        .assert(StatusCode::OK, "No device skips the second factor");
    c.post("/logout", &[]).await;
    c.login("fay").await.redirect("/verify_2fa");
    c.post("/logout", &[]).await;

    // "Forget all".
    login_with_code(&mut c, "fay", PW, &codes[1], true).await;
    c.post("/devices/forget_all", &[])
        .await
        .redirect("/user/fay");
    c.post("/logout", &[]).await;
    c.login("fay").await.redirect("/verify_2fa");
    c.post("/logout", &[]).await;

    // A password change voids it.
    login_with_code(&mut c, "fay", PW, &codes[2], true).await;
    c.post(
        "/change_password",
        &[
            ("current", PW),
            ("code", &codes[3]),
            ("password", NEW_PW),
            ("password2", NEW_PW),
        ],
    )
    .await
    .redirect("/user/fay");
    c.post("/logout", &[]).await;
    c.post("/login", &[("username", "fay"), ("password", NEW_PW)])
        .await
        .redirect("/verify_2fa");
}

#[tokio::test]
async fn a_remembered_device_expires() {
    let mut policy = twofa_verify::Policy::default();
    policy.remember_device_for = Duration::from_secs(1);
    let mut c = site(policy, false, false).await;
    let codes = c.user_with_sms("gwen").await;
    c.post("/logout", &[]).await;
    login_with_code(&mut c, "gwen", PW, &codes[0], true).await;
    c.post("/logout", &[]).await;
    c.login("gwen").await.redirect("/user/gwen");
    c.post("/logout", &[]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.login("gwen").await.redirect("/verify_2fa");
}

#[tokio::test]
async fn remember_me_makes_a_persistent_session() {
    let mut c = Client::new().await;
    c.register("hope").await;
    let r = c
        .post(
            "/login",
            &[("username", "hope"), ("password", PW), ("remember_me", "1")],
        )
        .await;
    r.redirect("/user/hope");
    let cookie = set_cookie(&r, "twofa_session").unwrap();
    assert!(
        cookie.contains("Max-Age=") || cookie.contains("Expires="),
        "{cookie}"
    );
    // It keeps its expiry on later changes of the session.
    let r = c.get("/user/hope").await;
    if let Some(again) = set_cookie(&r, "twofa_session") {
        assert!(
            again.contains("Max-Age=") || again.contains("Expires="),
            "{again}"
        );
    }

    // Without the box: a browser session.
    let mut d = c.other();
    let r = d.login("hope").await;
    r.redirect("/user/hope");
    let cookie = set_cookie(&r, "twofa_session").unwrap();
    assert!(
        !cookie.contains("Max-Age=") && !cookie.contains("Expires="),
        "{cookie}"
    );

    // Through the code page: the choice of the password form counts.
    let mut e = c.other();
    let codes = e.user_with_sms("iris").await;
    e.post("/logout", &[]).await;
    e.post(
        "/login",
        &[("username", "iris"), ("password", PW), ("remember_me", "1")],
    )
    .await
    .redirect("/verify_2fa");
    e.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "Remember this device for 30 days");
    let r = e.post("/verify_2fa", &[("code", &codes[0])]).await;
    r.redirect("/user/iris");
    let cookie = set_cookie(&r, "twofa_session").unwrap();
    assert!(
        cookie.contains("Max-Age=") || cookie.contains("Expires="),
        "{cookie}"
    );
    assert_eq!(set_cookie(&r, "twofa_device"), None, "not asked for");
}

#[tokio::test]
async fn sign_out_everywhere_keeps_only_this_session() {
    let (mut a, mut b) = two_browsers("jill").await;
    a.post("/sign_out_everywhere", &[("password", PW)])
        .await
        .redirect("/user/jill");
    a.get("/user/jill")
        .await
        .assert(StatusCode::OK, "signed out everywhere else");
    logged_out(&b.get("/edit_profile").await);
}

#[tokio::test]
async fn sessions_survive_a_restart_on_sqlite() {
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
    let mut first = Client::with_state(open().await.unwrap());
    first.register("kim").await;
    first.login("kim").await.redirect("/user/kim");
    let cookies = first.cookies.clone();
    drop(first);

    let mut second = Client::with_state(open().await.unwrap());
    second.cookies = cookies;
    second
        .get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    // The CSRF token of the session works on the new instance too.
    second
        .post("/edit_profile", &[("username", "kim2")])
        .await
        .redirect("/user/kim2");
}

#[tokio::test]
async fn sessions_are_shared_by_instances_on_postgres() {
    let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!(
            "SKIPPED sessions_are_shared_by_instances_on_postgres: set DATABASE_URL=postgres://..."
        );
        return;
    };
    if !cfg!(feature = "postgres") {
        eprintln!("SKIPPED sessions_are_shared_by_instances_on_postgres: needs feature postgres");
        return;
    }
    let key = twofa_verify::SecretKey::generate();
    let open = || {
        axum_app::state_for_tests_with(
            demo_support::Options {
                db: url.clone(),
                secret_key: Some(key.clone()),
                ..Default::default()
            },
            axum_app::Config::for_tests(),
        )
    };
    let (one, two) = (open().await.unwrap(), open().await.unwrap());
    let name = format!("pg{}", rand::random::<u32>());
    let mut a = Client::with_state(one);
    a.register(&name).await;
    a.login(&name).await.redirect(&format!("/user/{name}"));
    let mut b = Client::with_state(two);
    b.cookies = a.cookies.clone();
    b.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    // A password change on one instance logs the other browsers out on both.
    let mut other = b.other();
    other.login(&name).await.redirect(&format!("/user/{name}"));
    b.post(
        "/change_password",
        &[("current", PW), ("password", NEW_PW), ("password2", NEW_PW)],
    )
    .await
    .redirect(&format!("/user/{name}"));
    logged_out(&other.get("/edit_profile").await);
    b.get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
}

/// Showing pages to a logged-in user writes no session: taking the flash
/// messages, the CSRF token, the user's check change nothing. (Every page
/// used to write the whole session back, which let a request in flight
/// undo a logout.)
#[tokio::test]
async fn pages_write_no_session() {
    let mut c = Client::new().await;
    c.register("quill").await;
    c.login("quill").await.redirect("/user/quill");
    c.get("/user/quill")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");
    let written = c.sessions.written().len();
    for _ in 0..3 {
        for page in [
            "/",
            "/user/quill",
            "/edit_profile",
            "/change_password",
            "/logout",
        ] {
            let r = c.get(page).await;
            assert_eq!(r.status, StatusCode::OK, "{page}");
            assert_eq!(set_cookie(&r, "twofa_session"), None, "{page}");
        }
    }
    assert_eq!(
        c.sessions.written().len(),
        written,
        "a page view wrote the session"
    );
}

/// A thief with a copy of the session cookie keeps requesting pages while
/// the victim logs out: the session stays dead. 10 rounds of 30 requests
/// released together with the logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_stays_dead_with_requests_in_flight() {
    let mut victim = Client::new().await;
    victim.register("rhea").await;
    for _ in 0..10 {
        victim.login("rhea").await.redirect("/user/rhea");
        victim
            .get("/logout")
            .await
            .assert(StatusCode::OK, "Log out");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(31));
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let mut thief = victim.other();
                thief.cookies = victim.cookies.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let page = ["/user/rhea", "/edit_profile", "/"][i % 3];
                    let r = thief.get(page).await;
                    assert!(!r.status.is_server_error(), "{page}: {}", r.status);
                })
            })
            .collect();
        let mut thief = victim.other();
        thief.cookies = victim.cookies.clone();
        barrier.wait().await;
        victim.post("/logout", &[]).await.redirect("/");
        for t in tasks {
            t.await.unwrap();
        }
        logged_out(&thief.get("/edit_profile").await);
    }
}

/// A username change is no credential change: the session keeps its id and
/// stamp. (A restamp there let a stolen session's rename, in flight while
/// the owner signed out everywhere, come out with the new stamp.) After
/// "sign out everywhere" elsewhere, the renaming session is out.
#[tokio::test]
async fn a_username_change_hands_out_no_new_stamp() {
    let (mut owner, mut thief) = two_browsers("ulla").await;
    let before = thief.session();
    let renamed = [
        ("username", "ulla2"),
        ("first_name", "Ulla"),
        ("last_name", "Example"),
        ("about_me", ""),
    ];
    let r = thief.post("/edit_profile", &renamed).await;
    r.redirect("/user/ulla2");
    assert_eq!(set_cookie(&r, "twofa_session"), None, "no new session id");
    assert_eq!(thief.session(), before);
    thief
        .get("/edit_profile")
        .await
        .assert(StatusCode::OK, "ulla2");
    owner.get("/sign_out_everywhere").await;
    owner
        .post("/sign_out_everywhere", &[("password", PW)])
        .await
        .redirect("/user/ulla2");
    logged_out(&thief.get("/edit_profile").await);
}
