//! What a user met walking the demo in a browser (issue 20), pinned at
//! the HTTP level: "Text a code" keeps the step-up form, a stale login tab
//! goes home, the phone's country, remembered devices told before they are
//! forgotten. (Waits on their form's page: `expect_wait` in the tests of
//! each form; the browser's side: `tests/e2e.rs`.)

use super::*;

/// The JSON answer of `/send_step_up_code` to the page's script.
async fn send_code_by_script(c: &mut Client, next: &str) -> (StatusCode, serde_json::Value) {
    let token = c.token().await;
    let body =
        serde_urlencoded::to_string([("csrf_token", token.as_str()), ("next", next)]).unwrap();
    let req = c
        .request("POST", "/send_step_up_code")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(body))
        .unwrap();
    let r = c.send(req).await;
    (r.status, serde_json::from_str(&r.body).expect("JSON"))
}

/// Without scripts, "Text a code to ..." posts its step-up form: the page
/// comes back with what was typed in it (never the password), and
/// pressing it again within the resend interval says when, on the same
/// full page: never "Your address now is ;".
#[tokio::test]
async fn text_a_code_keeps_the_step_up_form() {
    let mut c = Client::new().await;
    c.user_with_sms("tess").await;
    let page = c.get("/change_email").await;
    // The button belongs to the form, after its submit button (Enter in a
    // field submits the form, not the button).
    let form = &page.body[page.body.find("action=\"/change_email\"").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    let (submit, send) = (
        form.find("Send the link").unwrap(),
        form.find("formaction=\"/send_step_up_code\"").unwrap(),
    );
    assert!(submit < send, "{form}");
    let typed = [
        ("next", "change_email"),
        ("email", "tess.new@example.com"),
        ("password", PW),
        ("code", "123"),
    ];
    c.post("/send_step_up_code", &typed)
        .await
        .redirect("/change_email");
    let r = c.get("/change_email").await;
    r.assert(
        StatusCode::OK,
        "We sent a code by text message to +1415*****71.",
    )
    .assert(StatusCode::OK, "value=\"tess.new@example.com\"")
    .assert(
        StatusCode::OK,
        "Your address now is <strong>tess@example.com</strong>",
    );
    assert!(!r.body.contains(PW), "{}", r.body);
    // Kept once: the next visit shows the empty form.
    let again = c.get("/change_email").await;
    assert!(
        !again.body.contains("tess.new@example.com"),
        "{}",
        again.body
    );

    // Pressed again at once.
    let r = c.post("/send_step_up_code", &typed).await;
    let page = c
        .expect_wait(&r, "/change_email", "You can ask for a new code")
        .await;
    page.assert(
        StatusCode::OK,
        "Your address now is <strong>tess@example.com</strong>",
    )
    .assert(StatusCode::OK, "value=\"tess.new@example.com\"");
    assert!(
        !page.body.contains("Your address now is ;"),
        "{}",
        page.body
    );

    // The disable page keeps the factor chosen.
    let r = c
        .post(
            "/send_step_up_code",
            &[("next", "disable_2fa"), ("factor", "sms")],
        )
        .await;
    let page = c
        .expect_wait(&r, "/disable_2fa", "You can ask for a new code")
        .await;
    page.assert(StatusCode::OK, "action=\"/disable_2fa\"");
}

/// With scripts, the button's request gets JSON and the page stays as it
/// is: what was sent, or the words before a wait and its seconds.
#[tokio::test]
async fn text_a_code_answers_the_page_script_in_json() {
    let mut c = Client::new().await;
    c.user_with_sms("uli").await;
    let (status, answer) = send_code_by_script(&mut c, "change_password").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["message"],
        "We sent a code by text message to +1415*****71."
    );
    assert!(answer["wait"].is_null(), "{answer}");
    let (status, answer) = send_code_by_script(&mut c, "change_password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["message"], "You can ask for a new code");
    let wait = answer["wait"].as_u64().unwrap();
    assert!((1..=30).contains(&wait), "{answer}");
    // No message was left for the next page.
    let page = c.get("/change_password").await;
    assert!(!page.body.contains("class=\"flash"), "{}", page.body);
}

/// A login (or register) form left open in a tab from before the login
/// carries the anonymous CSRF token: it goes to the home page with a note
/// instead of "Form expired", and nothing changes.
#[tokio::test]
async fn a_stale_login_tab_goes_home() {
    let mut c = Client::new().await;
    c.register("vera").await;
    c.other().register("walt").await;
    // The tab: the login page, before the login.
    c.get("/login").await;
    let stale = c.csrf.clone().unwrap();
    // Another tab logs in.
    c.login("vera").await.redirect("/user/vera");
    for (path, fields) in [
        ("/login", vec![("username", "walt"), ("password", PW)]),
        (
            "/register",
            registration("xena", "xena@example.com").to_vec(),
        ),
    ] {
        let mut all = vec![("csrf_token", stale.as_str())];
        all.extend(fields);
        let r = c
            .post_raw(path, &serde_urlencoded::to_string(&all).unwrap())
            .await;
        r.redirect("/");
        c.get("/").await.assert(
            StatusCode::OK,
            "You are logged in as vera. To use another account, log out first.",
        );
    }
    // Still vera; nobody was registered.
    c.get("/user/vera")
        .await
        .assert(StatusCode::OK, "vera@example.com");
    assert!(
        c.state
            .auth
            .user_by_username("xena")
            .await
            .unwrap()
            .is_none()
    );
    // The pages themselves say the same.
    c.get("/login").await.redirect("/");
    c.get("/register").await.redirect("/");
    c.get("/")
        .await
        .assert(StatusCode::OK, "You are logged in as vera.");
    // Logged out, the tab's form works again; a forged token is still
    // refused.
    c.post("/logout", &[]).await.redirect("/");
    c.post_raw(
        "/login",
        &format!("csrf_token={stale}&username=walt&password=x"),
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Invalid username or password.");
    c.post_raw("/login", "csrf_token=forged&username=walt&password=x")
        .await
        .assert(StatusCode::FORBIDDEN, "Form expired");
}

/// Adding a factor forgets the remembered devices (every credential change
/// does): the page says so before, and the profile after.
#[tokio::test]
async fn adding_a_factor_says_it_forgets_remembered_devices() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("yuri").await;
    c.get("/enable_totp")
        .await
        .assert(StatusCode::OK, "Authenticator app");
    let before = c.get("/enable_totp").await;
    assert!(!before.body.contains("devices-note"), "no device yet");
    c.post("/logout", &[]).await;
    c.post("/login", &[("username", "yuri"), ("password", PW)])
        .await
        .redirect("/verify_2fa");
    c.post(
        "/verify_2fa",
        &[("code", codes[0].as_str()), ("remember_device", "1")],
    )
    .await
    .redirect("/user/yuri");
    c.get("/enable_totp").await.assert(
        StatusCode::OK,
        "Adding an authenticator app signs out your other sessions and forgets your remembered device: it will ask for a code at its next login.",
    );
    let r = c
        .post(
            "/enable_totp/start",
            &[("password", PW), ("code", codes[1].as_str())],
        )
        .await;
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    c.post("/enable_totp", &[("code", &totp_code(&secret, now()))])
        .await
        .redirect("/user/yuri");
    c.get("/user/yuri")
        .await
        .assert(
            StatusCode::OK,
            "Your remembered device was forgotten: it asks for a code at its next login.",
        )
        .assert(StatusCode::OK, "No device skips the second factor");
    // And it does.
    c.post("/logout", &[]).await;
    c.login("yuri").await.redirect("/verify_2fa");
}

/// The text-message page has a country list, the site's default chosen
/// (`DEFAULT_PHONE_COUNTRY`); a national number is read in the country
/// chosen, an international one in its own.
#[tokio::test]
async fn phone_numbers_are_read_in_the_country_chosen() {
    let state = axum_app::state_for_tests_with(
        demo_support::Options::default(),
        axum_app::Config {
            default_phone_country: "GB".into(),
            ..axum_app::Config::for_tests()
        },
    )
    .await
    .unwrap();
    let mut c = Client::with_state(state);
    c.register("zoe").await;
    c.login("zoe").await;
    let page = c.get("/enable_2fa").await;
    page.assert(StatusCode::OK, "<select name=\"country\"")
        .assert(StatusCode::OK, "<option value=\"GB\" selected>")
        .assert(StatusCode::OK, "(+44)");
    assert_eq!(page.body.matches(" selected>").count(), 1);
    c.post(
        "/enable_2fa",
        &[
            ("phone", "07911 123456"),
            ("country", "GB"),
            ("password", PW),
        ],
    )
    .await
    .redirect("/enable_2fa/verify");
    c.get("/enable_2fa/verify")
        .await
        .assert(StatusCode::OK, "id=\"enroll-phone\">+44 7911 123456<");
    let sms = c.state.console_sms.clone().unwrap();
    assert!(
        sms.last_code_for("+447911123456").is_some(),
        "texted in E.164"
    );
    // A wrong country, or none: the form again, what was typed kept.
    let r = c
        .post(
            "/enable_2fa",
            &[
                ("phone", "07911 123456"),
                ("country", "US"),
                ("password", PW),
            ],
        )
        .await;
    r.assert(StatusCode::UNPROCESSABLE_ENTITY, "phone number")
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "value=\"07911 123456\"")
        .assert(
            StatusCode::UNPROCESSABLE_ENTITY,
            "<option value=\"US\" selected>",
        );
}

#[test]
fn the_default_phone_country_is_a_flag_and_a_variable() {
    use axum_app::args::Args;
    use clap::Parser;
    let parse = |argv: &[&str]| Args::try_parse_from([&["axum_app"], argv].concat());
    let help = parse(&["--help"]).unwrap_err().to_string();
    assert!(help.contains("--default-phone-country"), "{help}");
    assert!(help.contains("[env: DEFAULT_PHONE_COUNTRY"), "{help}");
    let local = "127.0.0.1:8000".parse().unwrap();
    assert_eq!(
        parse(&[]).unwrap().config(local).default_phone_country,
        "US"
    );
    assert_eq!(
        parse(&["--default-phone-country", "gb"])
            .unwrap()
            .config(local)
            .default_phone_country,
        "GB"
    );
    for bad in ["XX", "United Kingdom", "", "001"] {
        assert!(parse(&["--default-phone-country", bad]).is_err(), "{bad}");
    }
}

/// The page's script may ask this site only (`connect-src 'self'`).
#[tokio::test]
async fn scripts_may_talk_to_this_site_only() {
    let mut c = Client::new().await;
    let r = c.get("/").await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    r.assert(
        StatusCode::OK,
        "<script src=\"/static/forms.js\" defer></script>",
    );
    let js = c.get("/static/forms.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("data-countdown"), "{}", js.body);
}

/// A wrong password on a step-up form counts like one at the login: the
/// failure that earns a wait says so, on the form's page, what was typed
/// kept; the next try within it gets the same words.
#[tokio::test]
async fn step_up_failures_tell_the_wait_they_earned() {
    let mut c = Client::new().await;
    c.register("abby").await;
    c.login("abby").await;
    let wrong = [
        ("email", "abby.new@example.com"),
        ("password", "wrong password"),
    ];
    for _ in 0..4 {
        c.post("/change_email", &wrong)
            .await
            .assert(StatusCode::UNAUTHORIZED, "Your password is not right.");
    }
    let r = c.post("/change_email", &wrong).await;
    c.expect_wait(
        &r,
        "/change_email",
        "Your password is not right. Too many failed attempts. You can try again",
    )
    .await
    .assert(StatusCode::OK, "value=\"abby.new@example.com\"")
    .assert(
        StatusCode::OK,
        "Your address now is <strong>abby@example.com</strong>",
    );
    let r = c
        .post(
            "/change_password",
            &[
                ("current", PW),
                ("password", "x y z w v u"),
                ("password2", "x y z w v u"),
            ],
        )
        .await;
    c.expect_wait(
        &r,
        "/change_password",
        "Too many failed attempts. You can try again",
    )
    .await;
}
