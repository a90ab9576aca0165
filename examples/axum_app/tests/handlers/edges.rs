//! The demo's rough edges, each fixed and pinned here: the phone masked on
//! every page but its owner's confirmation page, recovery codes shown by Post/Redirect/Get with a copy and a
//! download button, the manual TOTP key's grouping, account and issuer,
//! cancel links, the "already used" TOTP code, the expired reset link's
//! way out, the turn-off page's words, the favicon, the security headers
//! (error pages too), the command-line flags, and hostile input on the new
//! endpoints.

use clap::Parser;

use super::*;

/// The phone number of the tests in every way a page could spell it out.
fn shows_full_phone(body: &str) -> bool {
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    body.contains("4155552671")
        || body.contains("415 555 2671")
        || body.contains("555 2671")
        || digits.contains("4155552671")
}

/// The number being confirmed is shown in full to the user who just typed
/// it (a typo shows), on the confirmation page only; every other page,
/// and the login's code page above all, masks it.
#[tokio::test]
async fn the_phone_is_masked_on_every_page_but_its_confirmation() {
    let mut c = Client::new().await;
    c.register("pam").await;
    c.login("pam").await;
    // A national number, read in the chosen country.
    c.post(
        "/enable_2fa",
        &[
            ("phone", "(415) 555-2671"),
            ("country", "US"),
            ("password", PW),
        ],
    )
    .await
    .redirect("/enable_2fa/verify");
    // The banner and the text of the code page: in full, grouped.
    let r = c.get("/enable_2fa/verify").await;
    r.assert(
        StatusCode::OK,
        "We sent a code by text message to +1 415-555-2671.",
    )
    .assert(StatusCode::OK, "id=\"enroll-phone\">+1 415-555-2671<");
    // A wrong code shows the page again, the number too.
    let good = c.sms_code();
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let r = c.post("/enable_2fa/verify", &[("code", wrong)]).await;
    r.assert(StatusCode::UNAUTHORIZED, "+1 415-555-2671");
    // Another browser of the same user does not see it.
    let mut other = c.other();
    other.login("pam").await;
    other
        .get("/enable_2fa/verify")
        .await
        .redirect("/enable_2fa");
    let r = c.post("/enable_2fa/verify", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    // Confirmed: the session forgets it.
    c.get("/enable_2fa/verify").await.redirect("/enable_2fa");
    // Every page that names the phone.
    for page in [
        "/user/pam",
        "/disable_2fa",
        "/recovery_codes",
        "/change_email",
        "/change_password",
        "/sign_out_everywhere",
        "/enable_totp",
    ] {
        let r = c.get(page).await;
        r.assert(StatusCode::OK, "+1415*****71");
        assert!(!shows_full_phone(&r.body), "{page}: {}", r.body);
    }
    c.post("/send_step_up_code", &[("next", "disable_2fa")])
        .await
        .redirect("/disable_2fa");
    let r = c.get("/disable_2fa").await;
    r.assert(
        StatusCode::OK,
        "We sent a code by text message to +1415*****71",
    );
    assert!(!shows_full_phone(&r.body), "{}", r.body);
    // The code page of a login.
    c.post("/logout", &[]).await;
    c.login("pam").await.redirect("/verify_2fa");
    let r = c.get("/verify_2fa").await;
    r.assert(StatusCode::OK, "+1415*****71");
    assert!(!shows_full_phone(&r.body), "{}", r.body);
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/pam");
}

#[tokio::test]
async fn recovery_codes_are_shown_once_after_a_redirect() {
    let mut c = Client::new().await;
    c.register("rex").await;
    c.login("rex").await;
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    let code = c.sms_code();
    // The POST answers a redirect, not the codes: a reload cannot post
    // the form again, and the codes are not in that answer.
    let r = c.post("/enable_2fa/verify", &[("code", &code)]).await;
    r.redirect("/recovery_codes/new");
    assert!(!r.body.contains("recovery-codes"), "{}", r.body);
    // A download before the page showed them: nothing.
    c.post("/recovery_codes/download", &[])
        .await
        .assert(StatusCode::NOT_FOUND, "Nothing to download");
    let page = c.get("/recovery_codes/new").await;
    page.assert(StatusCode::OK, "shown only once")
        .assert(
            StatusCode::OK,
            "id=\"copy-codes\" data-copy=\"recovery-codes\" hidden",
        )
        .assert(
            StatusCode::OK,
            "<script src=\"/static/copy.js\" defer></script>",
        )
        .assert(StatusCode::OK, "action=\"/recovery_codes/download\"");
    let codes = recovery_codes(&page.body);
    assert_eq!(codes.len(), 10);
    let key = download_key(&page.body);
    // Reloading the page: they were shown once, so not again.
    let again = c.get("/recovery_codes/new").await;
    again.redirect("/recovery_codes");
    let r = c.get("/recovery_codes").await;
    r.assert(StatusCode::OK, "Recovery codes are shown only once");
    assert!(!codes.iter().any(|code| r.body.contains(code.as_str())));

    // The download, once: a text file holding every code.
    let file = c
        .post("/recovery_codes/download", &[("download_key", &key)])
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    assert_eq!(file.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        file.headers["content-disposition"],
        "attachment; filename=\"recovery-codes.txt\""
    );
    assert_eq!(file.headers["cache-control"], "no-store");
    assert_eq!(file.headers["x-content-type-options"], "nosniff");
    for code in &codes {
        assert!(file.body.contains(&format!("{code}\n")), "{}", file.body);
    }
    assert!(file.body.starts_with("Recovery codes for rex\n"));
    // Twice: nothing left.
    let twice = c
        .post("/recovery_codes/download", &[("download_key", &key)])
        .await;
    twice.assert(StatusCode::NOT_FOUND, "Nothing to download");
    assert!(!codes.iter().any(|code| twice.body.contains(code.as_str())));
    // The codes work.
    c.post("/logout", &[]).await;
    c.login("rex").await.redirect("/verify_2fa");
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/rex");
}

#[tokio::test]
async fn recovery_code_downloads_refuse_other_sessions_and_forged_posts() {
    let mut c = Client::new().await;
    let first = c.user_with_sms("sue").await;
    // New codes, not yet downloaded: the page shows a download button.
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &first[0])])
        .await;
    r.redirect("/recovery_codes/new");
    let page = c.get("/recovery_codes/new").await;
    let codes = recovery_codes(&page.body);
    let key = download_key(&page.body);

    // Another browser of the same user has nothing to show or download.
    let mut other = c.other();
    other.login("sue").await.redirect("/verify_2fa");
    other
        .post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/sue");
    other
        .get("/recovery_codes/new")
        .await
        .redirect("/recovery_codes");
    let r = other
        .post("/recovery_codes/download", &[("download_key", &key)])
        .await;
    r.assert(StatusCode::NOT_FOUND, "Nothing to download");
    assert!(!codes.iter().any(|code| r.body.contains(code.as_str())));
    // Logged out: the login page, nothing else.
    let mut anon = c.other();
    let r = anon.post("/recovery_codes/download", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"), "{}", r.location());
    // Without the CSRF token (a cross-site form): refused before anything.
    let r = c.post_raw("/recovery_codes/download", "").await;
    r.assert(StatusCode::FORBIDDEN, "Form expired");
    let r = c
        .post_raw("/recovery_codes/download", "csrf_token=forged")
        .await;
    r.assert(StatusCode::FORBIDDEN, "Form expired");
    // A GET is not a download.
    c.get("/recovery_codes/download")
        .await
        .assert(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    // "I have saved them": the session forgets them, the download is gone.
    c.post("/recovery_codes/done", &[])
        .await
        .redirect("/user/sue");
    c.post("/recovery_codes/download", &[("download_key", &key)])
        .await
        .assert(StatusCode::NOT_FOUND, "Nothing to download");
    // A user who never made codes: nothing either.
    let mut d = c.other();
    d.register("dan").await;
    d.login("dan").await;
    d.post("/recovery_codes/download", &[])
        .await
        .assert(StatusCode::NOT_FOUND, "Nothing to download");
    d.get("/recovery_codes/new").await.redirect("/user/dan");
}

#[tokio::test]
async fn the_copy_script_is_served_under_the_csp() {
    let mut c = Client::new().await;
    let js = c.get("/static/copy.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("navigator.clipboard"));
    let csp = c.get("/").await.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[tokio::test]
async fn the_manual_totp_key_is_grouped_and_names_account_and_issuer() {
    let mut c = Client::new().await;
    c.register("tia").await;
    c.login("tia").await;
    let r = c.post("/enable_totp/start", &[("password", PW)]).await;
    r.assert(
        StatusCode::OK,
        "Account: <strong id=\"totp-account\">tia</strong>",
    )
    .assert(
        StatusCode::OK,
        "Issuer: <strong id=\"totp-issuer\">twofa-verify demo</strong>",
    )
    .assert(
        StatusCode::OK,
        "<a class=\"cancel-link\" href=\"&#x2f;user&#x2f;tia\"",
    );
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    let start = r.body.find("id=\"totp-secret\"").unwrap();
    let key = &r.body[start..start + r.body[start..].find("</code>").unwrap()];
    let groups: Vec<&str> = key
        .split("<span class=\"group\">")
        .skip(1)
        .map(|g| &g[..g.find("</span>").unwrap()])
        .collect();
    assert_eq!(groups.concat(), secret);
    assert!(groups.len() >= 8, "{groups:?}");
    assert!(groups.iter().all(|g| g.len() <= 4), "{groups:?}");
    // Groups are separated by a space (a line may break there), never
    // inside one (the stylesheet keeps each group whole).
    assert_eq!(key.matches("</span> <span").count(), groups.len() - 1);
    let css = c.get("/static/styles.css").await.body;
    assert!(
        css.contains(".secret .group { display: inline-block; white-space: nowrap; }"),
        "{css}"
    );
    assert!(!css.contains("break-all"));
    // The step-up page has a way back too.
    c.get("/enable_totp").await.assert(
        StatusCode::OK,
        "<a class=\"cancel-link\" href=\"&#x2f;user&#x2f;tia\"",
    );
}

#[tokio::test]
async fn a_reused_totp_code_says_to_wait_for_the_next() {
    let mut c = Client::new().await;
    c.register("uma").await;
    c.login("uma").await;
    let r = c.post("/enable_totp/start", &[("password", PW)]).await;
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    let t = now();
    let good = totp_code(&secret, t);
    let r = c.post("/enable_totp", &[("code", &good)]).await;
    let codes = c.fresh_codes(&r).await;
    c.post("/logout", &[]).await;
    c.login("uma").await.redirect("/verify_2fa");
    // The enrollment's code again (its step is used): "wait", not "wrong".
    let r = c
        .post("/verify_2fa", &[("code", &good), ("method", "totp")])
        .await;
    r.assert(StatusCode::UNAUTHORIZED, "That code was already used")
        .assert(StatusCode::UNAUTHORIZED, "4 attempts left");
    assert!(!r.body.contains("not right"), "{}", r.body);
    // A wrong code still says wrong, and both counted alike.
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let older = totp_code(&secret, t - 30);
    let r = c
        .post("/verify_2fa", &[("code", wrong), ("method", "totp")])
        .await;
    if wrong != older {
        r.assert(
            StatusCode::UNAUTHORIZED,
            "That code is not right. 3 attempts left",
        );
    }
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/uma");
}

#[tokio::test]
async fn cancel_links_and_one_cancel_on_the_code_page() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("vic").await;
    for page in ["/edit_profile", "/enable_totp", "/disable_2fa"] {
        c.get(page).await.assert(
            StatusCode::OK,
            // minijinja escapes `/` in values as `&#x2f;`.
            "<a class=\"cancel-link\" href=\"&#x2f;user&#x2f;vic\" id=\"cancel\">Cancel</a>",
        );
    }
    c.post("/logout", &[]).await;
    c.login("vic").await.redirect("/verify_2fa");
    let r = c.get("/verify_2fa").await;
    r.assert(StatusCode::OK, "Cancel and log out");
    assert_eq!(
        r.body.matches("action=\"/logout\"").count(),
        1,
        "one cancel control: {}",
        r.body
    );
    assert!(!r.body.contains("Cancel login"));
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/vic");
}

#[tokio::test]
async fn a_dead_reset_link_offers_a_new_one() {
    let mut c = Client::new().await;
    for path in ["/reset_password/garbage", "/reset_password/%3Cb%3Ex"] {
        let r = c.get(path).await;
        r.assert(StatusCode::BAD_REQUEST, "Link not valid")
            .assert(StatusCode::BAD_REQUEST, "href=\"/reset_password_request\"")
            .assert(StatusCode::BAD_REQUEST, "Send a new link");
        assert!(!r.body.contains("<b>x"), "{}", r.body);
    }
    // Posting to a dead link: the same page.
    c.post(
        "/reset_password/garbage",
        &[
            ("password", "brand new passphrase"),
            ("password2", "brand new passphrase"),
        ],
    )
    .await
    .assert(StatusCode::BAD_REQUEST, "Send a new link");
}

#[tokio::test]
async fn the_turn_off_page_says_what_it_does() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("wes").await;
    let r = c.get("/disable_2fa").await;
    r.assert(
        StatusCode::OK,
        "<h1>Turn off two-factor authentication</h1>",
    )
    .assert(StatusCode::OK, ">Turn off 2FA</button>")
    .assert(
        StatusCode::OK,
        "Your password alone will then let anyone log in",
    );
    // With two factors: which one, and what stays.
    let r = c
        .post(
            "/enable_totp/start",
            &[("password", PW), ("code", &codes[0])],
        )
        .await;
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    c.post("/enable_totp", &[("code", &totp_code(&secret, now()))])
        .await
        .redirect("/user/wes");
    let r = c.get("/disable_2fa").await;
    r.assert(StatusCode::OK, "<legend>Which one to turn off</legend>")
        .assert(StatusCode::OK, ">Turn off this factor</button>")
        .assert(StatusCode::OK, "The one you keep still asks for a code");
    assert!(!r.body.contains("<legend>Turn off</legend>"));
}

#[tokio::test]
async fn a_favicon_is_declared_and_served() {
    let mut c = Client::new().await;
    c.get("/").await.assert(
        StatusCode::OK,
        "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">",
    );
    for path in ["/favicon.ico", "/static/favicon.svg"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], "image/svg+xml", "{path}");
        assert!(r.body.starts_with("<svg"), "{path}");
        assert_eq!(r.headers["cache-control"], "public, max-age=3600");
    }
    // Half logged in: the icon still loads (no redirect to the code page).
    let codes = c.user_with_sms("xia").await;
    c.post("/logout", &[]).await;
    c.login("xia").await.redirect("/verify_2fa");
    assert_eq!(c.get("/favicon.ico").await.status, StatusCode::OK);
    c.get("/user/xia").await.redirect("/verify_2fa");
    c.post("/verify_2fa", &[("code", &codes[0])])
        .await
        .redirect("/user/xia");
}

/// The headers every answer carries.
fn assert_security_headers(r: &Resp, what: &str) {
    let h = |k: &str| {
        r.headers
            .get(k)
            .unwrap_or_else(|| panic!("{what}: no {k} in {:?}", r.headers))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(h("content-security-policy"), axum_app::CSP, "{what}");
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cross-origin-opener-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn security_headers_on_pages_redirects_and_error_pages() {
    let mut c = Client::new().await;
    let page = c.get("/login").await;
    assert_security_headers(&page, "a page");
    assert_eq!(page.headers["cache-control"], "no-store");
    let r = c.get("/no/such/page").await;
    r.assert(StatusCode::NOT_FOUND, "Page not found");
    assert_security_headers(&r, "404");
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = c.post_raw("/login", "username=a").await;
    r.assert(StatusCode::FORBIDDEN, "Form expired");
    assert_security_headers(&r, "403");
    let r = c.get("/verify_2fa/resend").await;
    r.assert(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    assert_security_headers(&r, "405");
    let r = c.get("/reset_password/garbage").await;
    r.assert(StatusCode::BAD_REQUEST, "Link not valid");
    assert_security_headers(&r, "400");
    let r = c.get("/edit_profile").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_security_headers(&r, "a redirect");
    let css = c.get("/static/styles.css").await;
    assert_security_headers(&css, "a static file");
    assert_eq!(css.headers["cache-control"], "public, max-age=3600");
    // A handler that panics: the 500 page, with the headers.
    let router = axum_app::security_headers(axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async { axum_app::AppError::Internal("boom".into()) }),
    ));
    let resp = read(
        router
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    resp.assert(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong");
    assert_security_headers(&resp, "500");
    assert_eq!(resp.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn flash_messages_and_error_pages_escape_what_users_type() {
    let mut c = Client::new().await;
    c.register("yan").await;
    c.login("yan").await;
    // A profile path with markup: shown as text.
    let r = c.get("/user/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    r.assert(StatusCode::NOT_FOUND, "There is no user called");
    assert!(!r.body.contains("<script>alert"), "{}", r.body);
    assert!(r.body.contains("&lt;script&gt;alert(1)"), "{}", r.body);
    // A phone number with markup comes back as an error, escaped.
    let r = c
        .post(
            "/enable_2fa",
            &[("phone", "<img src=x onerror=alert(1)>"), ("password", PW)],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(!r.body.contains("<img src=x"), "{}", r.body);
    // Flash messages live in the server's session: a cookie or a query
    // string cannot add one.
    let mut forged = c.other();
    forged
        .cookies
        .insert("flash".into(), "%3Cscript%3Ealert(1)%3C%2Fscript%3E".into());
    let r = forged
        .get("/login?flash=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    r.assert(StatusCode::OK, "Log in");
    assert!(!r.body.contains("class=\"flash"), "{}", r.body);
    assert!(!r.body.contains("<script>"), "{}", r.body);
}

#[test]
fn command_line_flags() {
    use axum_app::args::{Args, Bind, LegacyHashes};
    let parse = |argv: &[&str]| Args::try_parse_from([&["axum_app"], argv].concat());
    // --help lists every setting with its variable.
    let help = parse(&["--help"]).unwrap_err();
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    let help = help.to_string();
    for (flag, var) in [
        ("--bind", "BIND"),
        ("--port", "PORT"),
        ("--db", "DATABASE_URL"),
        ("--base-url", "BASE_URL"),
        ("--app-name", "APP_NAME"),
        ("--cookie-secure", "COOKIE_SECURE"),
        ("--trust-proxy", "TRUST_PROXY"),
        ("--registration-confirm-email", "REGISTRATION_CONFIRM_EMAIL"),
        ("--legacy-hashes", "LEGACY_HASHES"),
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
        assert!(help.contains(&format!("[env: {var}")), "{var}: {help}");
    }
    // Flags.
    let a = parse(&[
        "--bind",
        "0.0.0.0",
        "--port",
        "9000",
        "--trust-proxy",
        "--registration-confirm-email=yes",
        "--legacy-hashes",
        "werkzeug",
        "--base-url",
        "https://demo.example/",
    ])
    .unwrap();
    assert_eq!(a.addr(), "0.0.0.0:9000".parse().unwrap());
    assert!(a.trust_proxy && a.registration_confirm_email);
    assert_eq!(a.legacy_hashes, Some(LegacyHashes::Werkzeug));
    let cfg = a.config("0.0.0.0:9000".parse().unwrap());
    assert_eq!(cfg.base_url, "https://demo.example");
    assert!(cfg.cookie_secure, "https base URL: Secure cookies");
    // --bind with its own port wins over --port.
    let a = parse(&["--bind", "[::1]:7000", "--port", "1"]).unwrap();
    assert_eq!(a.bind, Bind::Socket("[::1]:7000".parse().unwrap()));
    assert_eq!(a.addr(), "[::1]:7000".parse().unwrap());
    let a = parse(&["--trust-proxy=off", "--cookie-secure=0"]).unwrap();
    assert!(!a.trust_proxy);
    let cfg = a.config("127.0.0.1:8000".parse().unwrap());
    assert!(!cfg.cookie_secure);
    // Good names and URLs pass (trimmed); a path is kept.
    let a = parse(&[
        "--app-name",
        " Ünïcode démo ",
        "--base-url",
        "http://[::1]:8000/app",
    ])
    .unwrap();
    assert_eq!(a.app_name, "Ünïcode démo");
    assert_eq!(
        a.config("127.0.0.1:8000".parse().unwrap()).base_url,
        "http://[::1]:8000/app"
    );
    // The base URL defaults to where the site listens (0.0.0.0 shown as
    // 127.0.0.1).
    let a = parse(&["--bind", "0.0.0.0", "--base-url", ""]).unwrap();
    assert_eq!(
        a.config("0.0.0.0:8123".parse().unwrap()).base_url,
        "http://127.0.0.1:8123"
    );
    // Bad values: errors naming the flag, not guesses.
    for bad in [
        &["--port", "99999"][..],
        &["--port", "eighty"],
        &["--bind", "localhost:80:80"],
        &["--trust-proxy=maybe"],
        &["--legacy-hashes", "md5"],
        &["--no-such-flag"],
        // Hostile or broken values that every email link or subject, and
        // the authenticator app's issuer, would carry.
        &["--base-url", "javascript:alert(1)"],
        &["--base-url", "demo.example"],
        &["--base-url", "ftp://demo.example"],
        &["--base-url", "https://demo.example/?next=//evil.example"],
        &["--base-url", "https://evil.example#"],
        &["--base-url", "https://user@demo.example"],
        &["--base-url", "https://"],
        &["--app-name", "Demo\nBcc: victim@example.com"],
        &["--app-name", "De\rmo"],
        &["--app-name", "Bank: login"],
        &["--app-name", "   "],
    ] {
        let e = parse(bad).unwrap_err();
        assert!(
            !matches!(e.kind(), clap::error::ErrorKind::DisplayHelp),
            "{bad:?}"
        );
    }
}
