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
    let config = twofa_verify::passkey::PasskeyConfig::builder()
        .rp_id("localhost")
        .rp_name("demo")
        .origin(ORIGIN)
        .build()
        .unwrap();
    let state = axum_app::state_for_tests_with(
        demo_support::Options {
            passkeys: Some(config),
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
