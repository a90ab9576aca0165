//! The second factors end to end over HTTP: SMS enrollment and login,
//! the half-logged-in session, the pending login's answer limit, recovery
//! codes, the authenticator app, the password reset link, step-up codes.

use super::*;

#[tokio::test]
async fn sms_enrollment_and_login_with_code() {
    let mut c = Client::new().await;
    c.register("gina").await;
    c.login("gina").await;
    c.get("/enable_2fa")
        .await
        .assert(StatusCode::OK, "Mobile number");
    c.get("/enable_2fa/verify").await.redirect("/enable_2fa");
    c.post("/enable_2fa", &[("phone", "hello"), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid phone number");
    c.post("/enable_2fa", &[("phone", ""), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "mobile number");
    c.post("/enable_2fa", &[("phone", PHONE)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "your password");
    c.post(
        "/enable_2fa",
        &[("phone", PHONE), ("password", "wrong password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    c.get("/enable_2fa/verify").await.assert(
        StatusCode::OK,
        "We sent a code by text message to +1 415-555-2671",
    );
    c.post("/enable_2fa/verify", &[("code", "12345x")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "6-digit code");
    let good = c.sms_code();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    c.post("/enable_2fa/verify", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "attempts left");
    let r = c.post("/enable_2fa/verify", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    assert_eq!(codes.len(), 10);
    c.get("/user/gina")
        .await
        .assert(StatusCode::OK, "Codes go to +1415*****71")
        .assert(StatusCode::OK, "10 unused");
    c.get("/enable_2fa").await.redirect("/user/gina");

    // Log out and in again: now the code is due.
    c.post("/logout", &[]).await;
    c.login("gina").await.redirect("/verify_2fa");
    c.get("/verify_2fa").await.assert(
        StatusCode::OK,
        "We sent a code by text message to +1415*****71",
    );
    let wrong = if c.sms_code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    c.post("/verify_2fa", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "4 attempts left");
    c.post("/verify_2fa", &[("code", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter the code");
    // Resending at once is rate limited: back to the code page, which
    // says when (no 429 page at the resend URL).
    let r = c.post("/verify_2fa/resend", &[]).await;
    c.expect_wait(&r, "/verify_2fa?method=sms", "You can ask for a new code")
        .await
        .assert(StatusCode::OK, "action=\"/verify_2fa\"");
    let code = c.sms_code();
    let before = c.session();
    c.post("/verify_2fa", &[("code", &code)])
        .await
        .redirect("/user/gina");
    assert_ne!(
        c.session(),
        before,
        "the session id changes after the second factor"
    );
    c.get("/user/gina")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");
    c.get("/verify_2fa").await.redirect("/login");
}

#[tokio::test]
async fn half_logged_in_session_reaches_only_the_verify_page() {
    let mut c = Client::new().await;
    c.user_with_sms("hank").await;
    c.post("/logout", &[]).await;
    c.login("hank").await.redirect("/verify_2fa");
    for path in [
        "/",
        "/user/hank",
        "/edit_profile",
        "/enable_totp",
        "/disable_2fa",
        "/recovery_codes",
        "/login",
        "/register",
        "/reset_password_request",
        "/change_password",
        "/no/such/page",
    ] {
        c.get(path).await.redirect("/verify_2fa");
    }
    for path in ["/edit_profile", "/disable_2fa", "/login", "/enable_2fa"] {
        c.post(path, &[("username", "x"), ("email", "x@example.com")])
            .await
            .redirect("/verify_2fa");
    }
    c.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "Two-factor authentication")
        .assert(StatusCode::OK, "Cancel");
    assert!(c.get("/static/styles.css").await.status.is_success());
    // Cancel = log out: the pending login is dropped.
    c.post("/logout", &[]).await.redirect("/");
    c.get("/user/hank")
        .await
        .redirect("/login?next=%2Fuser%2Fhank");
}

#[tokio::test]
async fn too_many_wrong_codes_end_the_pending_login() {
    let mut c = Client::new().await;
    c.user_with_sms("ivy").await;
    c.post("/logout", &[]).await;
    c.login("ivy").await.redirect("/verify_2fa");
    let good = c.sms_code();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for left in [4, 3, 2, 1] {
        c.post("/verify_2fa", &[("code", wrong)])
            .await
            .assert(StatusCode::UNAUTHORIZED, &format!("{left} attempt"));
    }
    c.post("/verify_2fa", &[("code", wrong)])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Too many attempts")
        .assert(StatusCode::UNAUTHORIZED, "Log in");
    // Gone: the right code no longer works, the session is back to anonymous.
    c.get("/verify_2fa").await.redirect("/login");
    c.get("/").await.assert(StatusCode::OK, "Create an account");
}

#[tokio::test]
async fn recovery_code_login_and_regeneration() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("jack").await;
    c.post("/logout", &[]).await;
    c.login("jack").await;
    c.get("/verify_2fa?method=recovery")
        .await
        .assert(StatusCode::OK, "Recovery code");
    c.post(
        "/verify_2fa",
        &[("code", "aaaaa-bbbbb-ccccc-ddddd"), ("method", "recovery")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "not right");
    c.post(
        "/verify_2fa",
        &[("code", &codes[0].to_uppercase()), ("method", "recovery")],
    )
    .await
    .redirect("/user/jack");
    c.get("/user/jack")
        .await
        .assert(StatusCode::OK, "You used a recovery code; 9 left")
        .assert(StatusCode::OK, "9 unused");
    // The same code again does not work.
    c.post("/logout", &[]).await;
    c.login("jack").await;
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .assert(StatusCode::UNAUTHORIZED, "not right");
    c.post("/verify_2fa", &[("code", &codes[1])])
        .await
        .redirect("/user/jack");

    // Regenerate: step-up with the password and a code.
    c.get("/recovery_codes")
        .await
        .assert(StatusCode::OK, "8</strong> unused");
    c.post(
        "/recovery_codes",
        &[("password", "wrong password"), ("code", &codes[2])],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/recovery_codes", &[("password", PW), ("code", "")])
        .await
        .assert(StatusCode::FORBIDDEN, "password and a current code");
    c.post("/recovery_codes", &[("password", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter your password");
    c.post("/send_step_up_code", &[("next", "recovery_codes")])
        .await
        .redirect("/recovery_codes");
    let sms = c.sms_code();
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &sms)])
        .await;
    let fresh = c.fresh_codes(&r).await;
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&codes[3]));
    c.get("/user/jack")
        .await
        .assert(StatusCode::OK, "10 unused");
}

#[tokio::test]
async fn totp_enrollment_and_disable_with_step_up() {
    let mut c = Client::new().await;
    c.register("kate").await;
    c.login("kate").await;
    c.get("/recovery_codes").await.redirect("/user/kate");
    c.get("/disable_2fa").await.redirect("/user/kate");
    // The QR code comes after the password.
    c.get("/enable_totp")
        .await
        .assert(StatusCode::OK, "action=\"/enable_totp/start\"");
    c.post("/enable_totp/start", &[("password", "wrong password")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    let r = c.post("/enable_totp/start", &[("password", PW)]).await;
    r.assert(StatusCode::OK, "<img src=\"data:image&#x2f;png;base64,")
        .assert(StatusCode::OK, "id=\"totp-secret\"");
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    c.post("/enable_totp", &[("code", "abc")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "6-digit code");
    let good = totp_code(&secret, now());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let r = c.post("/enable_totp", &[("code", wrong)]).await;
    r.assert(StatusCode::UNAUTHORIZED, "not right")
        .assert(StatusCode::UNAUTHORIZED, "start over");
    assert!(!r.body.contains(&secret), "the secret is not shown again");
    let r = c.post("/enable_totp", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    c.get("/enable_totp").await.redirect("/user/kate");
    c.get("/user/kate")
        .await
        .assert(StatusCode::OK, "Authenticator app")
        .assert(StatusCode::OK, "id=\"twofa-status\">On");
    // The same TOTP step again is refused (replay).
    c.post("/logout", &[]).await;
    c.login("kate").await.redirect("/verify_2fa");
    c.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "authenticator app");
    c.post("/verify_2fa", &[("code", &good), ("method", "totp")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "already used")
        .assert(
            StatusCode::UNAUTHORIZED,
            "Wait until your authenticator app shows the next one",
        );
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/kate");

    // Disable: password plus a code.
    c.get("/disable_2fa")
        .await
        .assert(StatusCode::OK, "Turn off");
    c.post(
        "/disable_2fa",
        &[
            ("factor", "totp"),
            ("password", "wrong password"),
            ("code", &codes[1]),
        ],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post(
        "/disable_2fa",
        &[("factor", "totp"), ("password", PW), ("code", "")],
    )
    .await
    .assert(StatusCode::FORBIDDEN, "a current code");
    c.post(
        "/disable_2fa",
        &[("factor", "sms"), ("password", PW), ("code", &codes[1])],
    )
    .await
    .assert(StatusCode::CONFLICT, "not enabled");
    c.post("/disable_2fa", &[("factor", "bogus"), ("password", PW)])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "choose");
    c.post(
        "/disable_2fa",
        &[("factor", "totp"), ("password", PW), ("code", &codes[1])],
    )
    .await
    .redirect("/user/kate");
    c.get("/user/kate")
        .await
        .assert(StatusCode::OK, "Two-factor authentication is disabled")
        .assert(StatusCode::OK, "id=\"twofa-status\">Off");
    c.post("/logout", &[]).await;
    c.login("kate").await.redirect("/user/kate");
}

#[tokio::test]
async fn password_reset_by_email_link() {
    let mut c = Client::new().await;
    c.user_with_sms("liam").await;
    c.post("/logout", &[]).await;
    c.post(
        "/reset_password_request",
        &[("email", "nobody@example.com")],
    )
    .await
    .redirect("/login");
    c.post("/reset_password_request", &[("email", "")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "enter your email");
    c.post("/reset_password_request", &[("email", "not an email")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "Invalid email");
    c.post("/reset_password_request", &[("email", "LIAM@example.com")])
        .await
        .redirect("/login");
    c.get("/login")
        .await
        .assert(StatusCode::OK, "If that address belongs to an account");
    let outbox = c.state.mailer.console().unwrap().clone();
    let mut mail = None;
    for _ in 0..100 {
        mail = outbox
            .messages()
            .into_iter()
            .rfind(|m| m.subject.contains("Reset your password"));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mail = mail.expect("a reset email");
    let resets = || {
        outbox
            .messages()
            .into_iter()
            .filter(|m| m.subject.contains("Reset your password"))
            .count()
    };
    assert_eq!(resets(), 1, "none for the unknown address");
    assert_eq!(mail.to, "liam@example.com");
    let prefix = "http://127.0.0.1:8000/reset_password/";
    let start = mail.body.find(prefix).unwrap();
    let link = mail.body[start..].split_whitespace().next().unwrap();
    let path = &link["http://127.0.0.1:8000".len()..];

    c.get("/reset_password/garbage").await.assert(
        StatusCode::BAD_REQUEST,
        "invalid, was already used, has expired, or a newer link was sent",
    );
    c.get(path)
        .await
        .assert(StatusCode::OK, "Choose a new password");
    c.post(
        path,
        &[("password", "brand new passphrase"), ("password2", "other")],
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match");
    c.post(path, &[("password", "password"), ("password2", "password")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "commonly used");
    c.post(
        path,
        &[
            ("password", "brand new passphrase"),
            ("password2", "brand new passphrase"),
        ],
    )
    .await
    .redirect("/login");
    c.get("/login")
        .await
        .assert(StatusCode::OK, "Your password has been reset");
    let notice = notice_to(&c, "liam@example.com", "Your password was reset").await;
    assert!(notice.body.contains("reset_password_request"));
    // Single use.
    c.get(path)
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    // The second factor stays on.
    c.post(
        "/login",
        &[("username", "liam"), ("password", "brand new passphrase")],
    )
    .await
    .redirect("/verify_2fa");
    c.post("/logout", &[]).await;
    // Rate limited per address: 3 an hour.
    for _ in 0..2 {
        c.post("/reset_password_request", &[("email", "liam@example.com")])
            .await
            .redirect("/login");
    }
    let r = c
        .post("/reset_password_request", &[("email", "liam@example.com")])
        .await;
    c.expect_wait(
        &r,
        "/reset_password_request",
        "Too many requests. You can try again",
    )
    .await
    .assert(StatusCode::OK, "value=\"liam@example.com\"");
}

#[tokio::test]
async fn step_up_sms_code_disables_sms() {
    let mut c = Client::new().await;
    c.user_with_sms("mia").await;
    c.get("/disable_2fa")
        .await
        .assert(StatusCode::OK, "Text a code to +1415*****71");
    c.post("/send_step_up_code", &[("next", "disable_2fa")])
        .await
        .redirect("/disable_2fa");
    // Asking again at once: back to the page, which says when.
    let r = c
        .post("/send_step_up_code", &[("next", "disable_2fa")])
        .await;
    c.expect_wait(&r, "/disable_2fa", "You can ask for a new code")
        .await;
    let code = c.sms_code();
    c.post("/disable_2fa", &[("password", PW), ("code", &code)])
        .await
        .redirect("/user/mia");
    c.get("/user/mia")
        .await
        .assert(StatusCode::OK, "Text-message codes are off");
}

#[tokio::test]
async fn odd_usernames_get_working_profile_links() {
    let mut c = Client::new().await;
    c.register("o/neil?#").await;
    c.login("o/neil?#").await.redirect("/user/o%2Fneil%3F%23");
    let r = c.get("/user/o%2Fneil%3F%23").await;
    r.assert(StatusCode::OK, "o&#x2f;neil?#")
        .assert(StatusCode::OK, "href=\"&#x2f;user&#x2f;o%2Fneil%3F%23\"");
}
