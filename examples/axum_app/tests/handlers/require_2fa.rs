//! `REQUIRE_2FA=1`: a second factor required of every user. Within the
//! grace a login goes on with a notice and lands on the enrollment page;
//! after it the session reaches only the enrollment pages until a factor
//! is confirmed, and the last factor cannot be removed.

use super::*;

fn requiring(grace_logins: Option<u32>) -> twofa_verify::Policy {
    let mut rule = twofa_verify::policy::SecondFactorRequirement::everyone();
    if let Some(n) = grace_logins {
        rule = rule.grace_sign_ins(n);
    }
    let mut policy = twofa_verify::Policy::default();
    policy.second_factor_required = Some(rule);
    policy
}

#[tokio::test]
async fn within_the_grace_a_login_says_enroll_now() {
    let mut c = site(requiring(Some(2)), false, false).await;
    c.register("hugo").await;
    c.login("hugo").await.redirect("/enroll_2fa");
    c.get("/enroll_2fa")
        .await
        .assert(StatusCode::OK, "requires a second factor")
        .assert(StatusCode::OK, "sign in once more without it")
        .assert(StatusCode::OK, "href=\"/enable_totp\"");
    // Logged in meanwhile: the profile opens.
    c.get("/user/hugo").await.assert(StatusCode::OK, "hugo");
    c.post("/logout", &[]).await;
    c.login("hugo").await.redirect("/enroll_2fa");
    c.get("/enroll_2fa")
        .await
        .assert(StatusCode::OK, "This was your last sign-in without it");
    c.post("/logout", &[]).await;
    // The grace is over: enrollment only.
    c.login("hugo").await.redirect("/enroll_2fa");
    c.get("/enroll_2fa")
        .await
        .assert(StatusCode::OK, "time to set one up has run out")
        .assert(StatusCode::OK, "before you can sign in");
}

#[tokio::test]
async fn after_the_grace_only_enrollment_then_the_login_completes() {
    let mut c = site(requiring(None), false, false).await;
    c.register("iris").await;
    let before = c.session();
    c.login("iris").await.redirect("/enroll_2fa");
    assert_ne!(c.session(), before, "a new session id at enrollment");
    for path in [
        "/user/iris",
        "/edit_profile",
        "/change_password",
        "/recovery_codes",
        "/",
    ] {
        c.get(path).await.redirect("/enroll_2fa");
    }
    c.get("/enroll_2fa")
        .await
        .assert(StatusCode::OK, "You are not signed in yet");
    c.get("/enable_2fa")
        .await
        .assert(StatusCode::OK, "Mobile number");
    c.post(
        "/enable_2fa",
        &[("phone", PHONE), ("password", "wrong password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    let code = c.sms_code();
    let at_enrollment = c.session();
    let r = c.post("/enable_2fa/verify", &[("code", &code)]).await;
    let codes = c.fresh_codes(&r).await;
    assert_eq!(codes.len(), 10);
    assert_ne!(c.session(), at_enrollment, "a new session id at login");
    c.get("/user/iris").await.assert(StatusCode::OK, "iris");

    // The last factor cannot be removed while required.
    c.get("/disable_2fa").await;
    let r = c
        .post("/disable_2fa", &[("factor", "sms"), ("password", PW)])
        .await;
    assert_ne!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.body.contains("second factor is required"), "{}", r.body);

    // The next login asks for the code, as usual.
    c.post("/logout", &[]).await;
    c.login("iris").await.redirect("/verify_2fa");
}

/// Off by default: no requirement, the login completes as before.
#[tokio::test]
async fn off_by_default() {
    let mut c = Client::new().await;
    c.register("jack").await;
    c.login("jack").await.redirect("/user/jack");
}
