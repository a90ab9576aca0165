//! Passkeys over HTTP: the JSON endpoints of `static/passkeys.js` driven
//! with the library's software authenticator (add, passwordless sign-in,
//! second factor, step-up removal), and their refusals: no CSRF token, a
//! finish without its start or in another session, a replay, hostile JSON.

use super::*;
use serde_json::Value;

#[path = "../../../../tests/passkeys/soft.rs"]
mod soft;

const ORIGIN: &str = "http://localhost:8000";

async fn client() -> Client {
    client_with(None).await
}

/// A site with passkeys and `policy` (the default without).
async fn client_with(policy: Option<twofa_verify::Policy>) -> Client {
    let config = twofa_verify::passkey::PasskeyConfig::builder()
        .rp_id("localhost")
        .rp_name("demo")
        .origin(ORIGIN)
        .build()
        .unwrap();
    let state = axum_app::state_for_tests_with(
        demo_support::Options {
            passkeys: Some(config),
            policy,
            ..Default::default()
        },
        axum_app::Config::for_tests(),
    )
    .await
    .unwrap();
    Client::with_state(state)
}

impl Client {
    /// POSTs JSON as `static/passkeys.js` does: the token in the header.
    async fn post_json(&mut self, path: &str, body: &str) -> Resp {
        let token = self.token().await;
        let req = self
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("x-csrf-token", token)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let r = self.send(req).await;
        if r.body.contains("\"redirect\"") {
            // The script goes to another page (a login rotates the token).
            self.csrf = None;
        }
        r
    }

    /// The JSON of an answer that must be 200.
    fn json(r: &Resp) -> Value {
        assert_eq!(r.status, StatusCode::OK, "body: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// Adds a passkey named `name` (the step-up: the password only when the
    /// user has no factor yet); returns where the script goes.
    async fn add_passkey(
        &mut self,
        key: &mut soft::SoftAuthenticator,
        name: &str,
        code: &str,
    ) -> String {
        let r = self
            .post(
                "/passkeys/add/start",
                &[("name", name), ("password", PW), ("code", code)],
            )
            .await;
        let options = Self::json(&r);
        let cred = key.register(&options);
        let r = self.post_json("/passkeys/add/finish", &cred).await;
        Self::json(&r)["redirect"].as_str().unwrap().to_owned()
    }

    /// A ceremony of `kind` (`/login/passkey`, `/verify_2fa/passkey`)
    /// answered by `key`.
    async fn passkey_get(&mut self, key: &mut soft::SoftAuthenticator, kind: &str) -> Resp {
        let r = self.post_json(&format!("{kind}/start"), "").await;
        let options = Self::json(&r);
        let assertion = key.assert(&options);
        self.post_json(&format!("{kind}/finish"), &assertion).await
    }
}

fn redirect_of(r: &Resp) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(r.status, StatusCode::OK, "body: {}", r.body);
    v["redirect"].as_str().unwrap().to_owned()
}

/// A user with one passkey named "Laptop" (their only factor), logged in.
async fn user_with_passkey(c: &mut Client, key: &mut soft::SoftAuthenticator, name: &str) {
    c.register(name).await;
    c.login(name).await.redirect(&format!("/user/{name}"));
    let to = c.add_passkey(key, "Laptop", "").await;
    // The first factor: the recovery codes, shown once.
    assert_eq!(to, "/recovery_codes/new");
    let page = c.get(&to).await;
    page.assert(StatusCode::OK, "Your recovery codes");
}

#[tokio::test]
async fn add_list_rename_then_sign_in_without_a_password() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    c.register("ada").await;
    c.login("ada").await.redirect("/user/ada");
    c.get("/user/ada")
        .await
        .assert(StatusCode::OK, "id=\"manage-passkeys\"");
    c.get("/passkeys")
        .await
        .assert(StatusCode::OK, "You have no passkeys yet.")
        .assert(StatusCode::OK, "id=\"passkey-add-form\"");
    assert_eq!(
        c.add_passkey(&mut key, "Laptop", "").await,
        "/recovery_codes/new"
    );
    let page = c.get("/passkeys").await;
    page.assert(
        StatusCode::OK,
        "<strong class=\"passkey-name\">Laptop</strong>",
    )
    .assert(StatusCode::OK, "<span class=\"last-used\">never</span>");
    let id = find_attr(&page.body, "name=\"id\" value=\"").unwrap();
    c.post("/passkeys/rename", &[("id", &id), ("name", "Work laptop")])
        .await
        .redirect("/passkeys");
    c.get("/passkeys").await.assert(
        StatusCode::OK,
        "<strong class=\"passkey-name\">Work laptop</strong>",
    );

    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    // The login page offers it, and autofill on the username field.
    c.get("/login")
        .await
        .assert(StatusCode::OK, "autocomplete=\"username webauthn\"")
        .assert(StatusCode::OK, "Sign in with a passkey")
        .assert(StatusCode::OK, "/static/passkeys.js");
    let r = c.passkey_get(&mut key, "/login/passkey").await;
    assert_eq!(redirect_of(&r), "/user/ada");
    c.get("/user/ada")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");
    c.get("/passkeys").await.assert(
        StatusCode::OK,
        "<strong class=\"passkey-name\">Work laptop</strong>",
    );
}

#[tokio::test]
async fn the_passkey_as_second_factor_and_as_the_step_up_of_its_removal() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "bob").await;
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    c.login("bob").await.redirect("/verify_2fa");
    c.get("/verify_2fa")
        .await
        .assert(StatusCode::OK, "Use your passkey");
    let r = c.passkey_get(&mut key, "/verify_2fa/passkey").await;
    assert_eq!(redirect_of(&r), "/user/bob");
    c.get("/user/bob")
        .await
        .assert(StatusCode::OK, "Welcome, Ann!");

    // Removal: a wrong code is refused; a passkey in its place works.
    let page = c.get("/passkeys").await;
    let id = find_attr(&page.body, "name=\"id\" value=\"").unwrap();
    c.post(
        "/passkeys/remove",
        &[("id", &id), ("password", PW), ("code", "000000")],
    )
    .await
    .assert(
        StatusCode::UNAUTHORIZED,
        "<strong class=\"passkey-name\">Laptop</strong>",
    );
    let r = c.post_json("/passkeys/step_up/start", "").await;
    let assertion = key.assert(&Client::json(&r));
    c.post(
        "/passkeys/remove",
        &[
            ("id", &id),
            ("password", PW),
            ("passkey_response", &assertion),
        ],
    )
    .await
    .redirect("/passkeys");
    c.get("/passkeys")
        .await
        .assert(
            StatusCode::OK,
            "The passkey is removed. Two-factor authentication is disabled.",
        )
        .assert(StatusCode::OK, "You have no passkeys yet.");
}

#[tokio::test]
async fn a_step_up_assertion_is_single_use_and_needs_the_password() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "cy").await;
    let page = c.get("/passkeys").await;
    let id = find_attr(&page.body, "name=\"id\" value=\"").unwrap();
    let r = c.post_json("/passkeys/step_up/start", "").await;
    let assertion = key.assert(&Client::json(&r));
    let wrong_pw = c
        .post(
            "/passkeys/remove",
            &[
                ("id", &id),
                ("password", "nope"),
                ("passkey_response", &assertion),
            ],
        )
        .await;
    assert_eq!(
        wrong_pw.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        wrong_pw.body
    );
    // The ceremony went with the first try: the same assertion again fails.
    let again = c
        .post(
            "/passkeys/remove",
            &[
                ("id", &id),
                ("password", PW),
                ("passkey_response", &assertion),
            ],
        )
        .await;
    assert!(
        again.status.is_client_error(),
        "{} {}",
        again.status,
        again.body
    );
    c.get("/passkeys").await.assert(
        StatusCode::OK,
        "<strong class=\"passkey-name\">Laptop</strong>",
    );
}

#[tokio::test]
async fn every_endpoint_needs_the_csrf_token() {
    let mut c = client().await;
    c.register("dee").await;
    c.login("dee").await.redirect("/user/dee");
    for path in [
        "/passkeys/add/start",
        "/passkeys/add/finish",
        "/passkeys/step_up/start",
        "/passkeys/rename",
        "/passkeys/remove",
        "/login/passkey/start",
        "/login/passkey/finish",
        "/verify_2fa/passkey/start",
        "/verify_2fa/passkey/finish",
    ] {
        let req = c
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let r = c.send(req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn hostile_json_and_finishes_without_their_start_are_refused_with_4xx() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "eve").await;
    // No start in this session.
    let r = c.post_json("/passkeys/add/finish", "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    let r = c.post_json("/login/passkey/finish", "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    c.login("eve").await.redirect("/verify_2fa");
    let r = c.post_json("/verify_2fa/passkey/finish", "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = c.passkey_get(&mut key, "/verify_2fa/passkey").await;
    assert_eq!(redirect_of(&r), "/user/eve");
    let big = format!("{{\"id\":\"{}\"}}", "A".repeat(12_000));
    for body in [
        "",
        "[",
        "null",
        "{\"id\":1}",
        "{\"response\":{\"clientDataJSON\":\"%%%\"}}",
        &big,
        "\u{0}\u{ffff}",
    ] {
        let r = c.post_json("/passkeys/step_up/start", "").await;
        Client::json(&r);
        let r = c
            .post(
                "/passkeys/remove",
                &[("id", "x"), ("password", PW), ("passkey_response", body)],
            )
            .await;
        assert!(
            r.status.is_client_error(),
            "{body:?}: {} {}",
            r.status,
            r.body
        );

        c.post("/logout", &[]).await.redirect("/");
        c.csrf = None;
        let r = c.post_json("/login/passkey/start", "").await;
        Client::json(&r);
        let r = c.post_json("/login/passkey/finish", body).await;
        assert!(
            r.status.is_client_error(),
            "{body:?}: {} {}",
            r.status,
            r.body
        );
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(v["message"].is_string(), "{}", r.body);
        c.login("eve").await.redirect("/verify_2fa");
        let r = c.post_json("/verify_2fa/passkey/start", "").await;
        Client::json(&r);
        let r = c.post_json("/verify_2fa/passkey/finish", body).await;
        assert!(
            r.status.is_client_error(),
            "{body:?}: {} {}",
            r.status,
            r.body
        );
        c.post("/logout", &[]).await.redirect("/");
        c.csrf = None;
        c.login("eve").await.redirect("/verify_2fa");
        let r = c.passkey_get(&mut key, "/verify_2fa/passkey").await;
        assert_eq!(redirect_of(&r), "/user/eve");
    }
}

#[tokio::test]
async fn a_ceremony_is_bound_to_its_session_and_used_once() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "fay").await;
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;

    // The options of one browser, answered in another: nothing to finish.
    let r = c.post_json("/login/passkey/start", "").await;
    let assertion = key.assert(&Client::json(&r));
    let mut other = c.other();
    let r = other.post_json("/login/passkey/finish", &assertion).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(other.get("/passkeys").await.status.is_redirection());

    // In the right browser it works once; a replay finds nothing.
    let r = c.post_json("/login/passkey/finish", &assertion).await;
    assert_eq!(redirect_of(&r), "/user/fay");
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    let r = c.post_json("/login/passkey/finish", &assertion).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(c.get("/passkeys").await.status.is_redirection());

    // Logged out, the profile's endpoints send to the login page.
    let r = c
        .post("/passkeys/add/start", &[("name", "x"), ("password", PW)])
        .await;
    assert!(
        r.status.is_redirection() || r.status == StatusCode::UNAUTHORIZED,
        "{}",
        r.status
    );
}

#[tokio::test]
async fn the_login_page_sends_next_along() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "gus").await;
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    c.get("/login?next=/edit_profile").await.assert(
        StatusCode::OK,
        "data-passkey-sign-in=\"/login/passkey/finish?next=&#x2f;edit_profile\"",
    );
    let r = c.post_json("/login/passkey/start", "").await;
    let assertion = key.assert(&Client::json(&r));
    let r = c
        .post_json("/login/passkey/finish?next=%2Fedit_profile", &assertion)
        .await;
    assert_eq!(redirect_of(&r), "/edit_profile");
    // Not off the site.
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    let r = c.post_json("/login/passkey/start", "").await;
    let assertion = key.assert(&Client::json(&r));
    let r = c
        .post_json(
            "/login/passkey/finish?next=https%3A%2F%2Fevil.example",
            &assertion,
        )
        .await;
    assert_eq!(redirect_of(&r), "/user/gus");
}

impl Client {
    /// What the "Use a passkey instead" button puts in `passkey_response`:
    /// the step-up ceremony of this session answered by `key`.
    async fn step_up_assertion(&mut self, key: &mut soft::SoftAuthenticator) -> String {
        let r = self.post_json("/passkeys/step_up/start", "").await;
        key.assert(&Self::json(&r))
    }

    /// POSTs a step-up form with `fields`, the password and a passkey in
    /// place of the code.
    async fn post_with_passkey(
        &mut self,
        key: &mut soft::SoftAuthenticator,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Resp {
        let assertion = self.step_up_assertion(key).await;
        let mut all = fields.to_vec();
        all.push(("passkey_response", &assertion));
        self.post(path, &all).await
    }
}

/// Each step-up page's form and the "Use a passkey instead" control
/// (`_macros.html`, `passkey_step_up`).
const STEP_UP_PAGES: &[&str] = &[
    "/change_password",
    "/sign_out_everywhere",
    "/change_email",
    "/recovery_codes",
    "/enable_totp",
    "/disable_2fa",
];

#[tokio::test]
async fn every_step_up_page_takes_a_passkey_in_place_of_the_code() {
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "hal").await;
    // A passkey is the only factor: /disable_2fa has nothing it turns off
    // yet, and sends to the Passkeys page.
    c.get("/disable_2fa").await.redirect("/passkeys");
    c.get("/passkeys")
        .await
        .assert(StatusCode::OK, "remove them on this page");
    for page in STEP_UP_PAGES.iter().filter(|p| **p != "/disable_2fa") {
        c.get(page)
            .await
            .assert(StatusCode::OK, "data-step-up-form")
            .assert(StatusCode::OK, "data-passkey-step-up hidden")
            .assert(StatusCode::OK, "name=\"passkey_response\"");
    }
    c.get("/enable_2fa")
        .await
        .assert(StatusCode::OK, "data-passkey-step-up hidden");

    c.post_with_passkey(&mut key, "/recovery_codes", &[("password", PW)])
        .await
        .redirect("/recovery_codes/new");
    c.post_with_passkey(
        &mut key,
        "/change_email",
        &[("email", "hal2@example.com"), ("password", PW)],
    )
    .await
    .redirect("/user/hal");
    c.post_with_passkey(
        &mut key,
        "/enable_2fa",
        &[("phone", "+1 415 555 2671"), ("password", PW)],
    )
    .await
    .redirect("/enable_2fa/verify");
    c.post_with_passkey(&mut key, "/sign_out_everywhere", &[("password", PW)])
        .await
        .redirect("/user/hal");
    let r = c
        .post_with_passkey(&mut key, "/enable_totp/start", &[("password", PW)])
        .await;
    r.assert(StatusCode::OK, "id=\"totp-secret\"");
    let secret = find_attr(&r.body, "data-secret=\"").unwrap();
    let r = c
        .post("/enable_totp", &[("code", &totp_code(&secret, now()))])
        .await;
    assert!(r.status.is_redirection(), "{} {}", r.status, r.body);
    c.get("/disable_2fa")
        .await
        .assert(StatusCode::OK, "data-passkey-step-up hidden");
    c.post_with_passkey(
        &mut key,
        "/disable_2fa",
        &[("factor", "totp"), ("password", PW)],
    )
    .await
    .redirect("/user/hal");
    c.get("/user/hal")
        .await
        .assert(StatusCode::OK, "Your authenticator app is removed.");
    let new = "a new horse battery staple";
    c.post_with_passkey(
        &mut key,
        "/change_password",
        &[("current", PW), ("password", new), ("password2", new)],
    )
    .await
    .redirect("/user/hal");
    c.get("/user/hal")
        .await
        .assert(StatusCode::OK, "Your password has been changed.");
}

#[tokio::test]
async fn the_control_shows_only_for_a_user_with_a_passkey() {
    let mut c = client().await;
    c.register("ivy").await;
    c.login("ivy").await.redirect("/user/ivy");
    for page in ["/change_password", "/sign_out_everywhere", "/change_email"] {
        let r = c.get(page).await;
        r.assert(StatusCode::OK, "data-step-up-form");
        assert!(!r.body.contains("data-passkey-step-up"), "{page}");
    }
}

/// A step-up refused: a 4xx of the form, or its redirect with a wait
/// (failed step-ups count in the account's login counter).
fn refused(r: &Resp, path: &str) {
    let waits = r.status.is_redirection() && r.headers.contains_key(header::RETRY_AFTER);
    assert!(
        r.status.is_client_error() || waits,
        "{path}: {} {}",
        r.status,
        r.body
    );
}

#[tokio::test]
async fn a_step_up_passkey_of_another_user_or_replayed_is_refused_on_every_page() {
    let base = client().await;
    let new = "a new horse battery staple";
    let pages = [
        "/recovery_codes",
        "/change_email",
        "/enable_2fa",
        "/sign_out_everywhere",
        "/enable_totp/start",
        "/change_password",
    ];
    // A fresh pair of users per page: three refusals each, under the
    // five failures after which the account's delay would refuse alone.
    for (i, path) in pages.into_iter().enumerate() {
        let (jon, kim) = (format!("jon{i}"), format!("kim{i}"));
        let email = format!("{jon}.new@example.com");
        let fields: Vec<(&str, &str)> = match path {
            "/change_email" => vec![("email", &email), ("password", PW)],
            "/enable_2fa" => vec![("phone", "+1 415 555 2671"), ("password", PW)],
            "/change_password" => vec![("current", PW), ("password", new), ("password2", new)],
            _ => vec![("password", PW)],
        };
        let with = |response: &str| {
            let mut all: Vec<(String, String)> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            all.push(("passkey_response".to_owned(), response.to_owned()));
            all
        };
        let mut c = base.other();
        let mut mine = soft::SoftAuthenticator::new(ORIGIN);
        user_with_passkey(&mut c, &mut mine, &jon).await;
        let mut other = base.other();
        let mut theirs = soft::SoftAuthenticator::new(ORIGIN);
        user_with_passkey(&mut other, &mut theirs, &kim).await;

        // Kim's passkey signs Jon's own challenge (the credential list
        // emptied, as a hostile script would): not Jon's passkey.
        let r = c.post_json("/passkeys/step_up/start", "").await;
        let mut options = Client::json(&r);
        options["publicKey"]["allowCredentials"] = Value::Array(vec![]);
        let foreign = with(&theirs.assert(&options));
        refused(&c.post(path, &pairs(&foreign)).await, path);

        // Kim's own step-up, sent in Jon's session: no ceremony there.
        let kims = with(&other.step_up_assertion(&mut theirs).await);
        refused(&c.post(path, &pairs(&kims)).await, path);

        // An assertion used once (signing out elsewhere), then again here.
        let used = c.step_up_assertion(&mut mine).await;
        c.post(
            "/sign_out_everywhere",
            &[("password", PW), ("passkey_response", &used)],
        )
        .await
        .redirect(&format!("/user/{jon}"));
        refused(&c.post(path, &pairs(&with(&used))).await, path);

        // Jon's own, fresh: taken (the refusals were the passkey's).
        let fresh = with(&c.step_up_assertion(&mut mine).await);
        let r = c.post(path, &pairs(&fresh)).await;
        assert!(
            !r.status.is_client_error() && !r.headers.contains_key(header::RETRY_AFTER),
            "{path}: {} {}",
            r.status,
            r.body
        );
    }
}

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn a_login_that_ended_at_enrollment_sets_up_a_passkey_and_is_in() {
    let mut policy = twofa_verify::Policy::default();
    policy.second_factor_required = Some(twofa_verify::policy::SecondFactorRequirement::everyone());
    let mut c = client_with(Some(policy)).await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    c.register("lea").await;
    c.login("lea").await.redirect("/enroll_2fa");
    c.get("/enroll_2fa")
        .await
        .assert(StatusCode::OK, "time to set one up has run out")
        .assert(StatusCode::OK, "id=\"enroll-passkey\"");
    // Not logged in yet: the profile's other pages stay shut.
    c.get("/user/lea").await.redirect("/enroll_2fa");
    c.get("/passkeys")
        .await
        .assert(StatusCode::OK, "id=\"passkey-add-form\"");
    assert_eq!(
        c.add_passkey(&mut key, "Laptop", "").await,
        "/recovery_codes/new"
    );
    c.get("/recovery_codes/new")
        .await
        .assert(StatusCode::OK, "Your recovery codes");
    c.get("/user/lea").await.assert(StatusCode::OK, "lea");
    // Its next login asks for the passkey, not for enrollment.
    c.post("/logout", &[]).await.redirect("/");
    c.csrf = None;
    c.login("lea").await.redirect("/verify_2fa");
    let r = c.passkey_get(&mut key, "/verify_2fa/passkey").await;
    assert_eq!(redirect_of(&r), "/user/lea");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_one_step_up_assertion_is_taken_once() {
    const BURST: usize = 100;
    let mut c = client().await;
    let mut key = soft::SoftAuthenticator::new(ORIGIN);
    user_with_passkey(&mut c, &mut key, "max").await;
    c.get("/recovery_codes").await;
    let assertion = c.step_up_assertion(&mut key).await;
    let token = c.csrf.clone().unwrap();
    let body = serde_urlencoded::to_string([
        ("csrf_token", token.as_str()),
        ("password", PW),
        ("passkey_response", assertion.as_str()),
    ])
    .unwrap();
    // The same session (its cookies) in every request, released together:
    // each may still find the ceremony id in its copy of the session; the
    // library's state store gives the ceremony to one.
    let answers = c.burst("/recovery_codes", &body, BURST).await;
    let taken = answers
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER && r.location() == "/recovery_codes/new")
        .count();
    assert_eq!(
        taken,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers
        .iter()
        .filter(|r| !(r.status == StatusCode::SEE_OTHER && r.location() == "/recovery_codes/new"))
    {
        refused(r, "/recovery_codes");
    }
}
