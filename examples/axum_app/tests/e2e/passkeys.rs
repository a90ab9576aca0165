//! Passkeys in Chromium, with its virtual authenticator added over
//! WebDriver (a platform authenticator with resident keys and user
//! verification that always says yes): register, add a passkey, log out,
//! sign in with it (no password: the login page's autofill), the passkey as the second factor after
//! the password, the passkey as the step-up of its own removal. The site is
//! opened at http://localhost:PORT, the passkeys' relying party.

use fantoccini::wd::WebDriverCompatibleCommand;

use super::{Browser, PW, Site};

/// `POST /session/{id}/webauthn/authenticator` (WebAuthn Level 2, §11).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// The walk, on `site` (its own, with passkeys), in the same browser.
pub async fn walk(b: &mut Browser, site: &Site) -> Result<(), String> {
    b.c.issue_cmd(AddVirtualAuthenticator)
        .await
        .map_err(|e| format!("no virtual authenticator: {e}"))?;
    let old_base = std::mem::replace(&mut b.base, site.base.clone());

    // Register, log in with the password.
    b.go("/register").await;
    b.fill("input[name=first_name]", "Pia").await;
    b.fill("input[name=last_name]", "Example").await;
    b.fill("input[name=username]", "pia").await;
    b.fill("input[name=email]", "pia@example.com").await;
    b.fill("input[name=password]", PW).await;
    b.fill("input[name=password2]", PW).await;
    b.submit("/register").await;
    b.wait_path("/login").await;
    b.log_in("pia", PW, "/user/pia").await;

    // The Passkeys page; add one (the password is the step-up: no factor
    // yet). The first factor brings the recovery codes.
    b.click("#manage-passkeys").await;
    b.wait_path("/passkeys").await;
    b.expect_text("You have no passkeys yet.").await;
    b.fill("#passkey-add-form input[name=name]", "Laptop").await;
    b.fill("#passkey-add-form input[name=password]", PW).await;
    b.audit("passkeys-add").await;
    b.click("#passkey-add").await;
    b.wait_path("/recovery_codes/new").await;
    b.expect_text("Your passkey is added. Two-factor authentication is enabled.")
        .await;
    b.go("/passkeys").await;
    b.expect_text("Laptop").await;
    b.audit("passkeys").await;

    // Log out; sign in with the passkey, no password: the login page's
    // autofill request (conditional mediation) gets it, as when the user
    // picks the passkey under the username field (the virtual
    // authenticator picks at once). The button posts to the same
    // endpoints (the HTTP tests).
    b.log_out().await;
    b.go("/login").await;
    b.wait_path("/user/pia").await;
    b.expect_text("Welcome, Pia!").await;

    // The password, then the passkey as the second factor.
    // The login page would sign in by autofill again (the virtual
    // authenticator picks at once): the password goes from another page's
    // form, as a user who ignores the autofill would send it.
    b.log_out().await;
    b.go("/logout").await;
    b.c.execute(
        r#"const f = document.querySelector("form[action='/logout']");
           f.action = "/login";
           for (const [k, v] of [["username", arguments[0]], ["password", arguments[1]]]) {
             const i = document.createElement("input");
             i.type = "hidden"; i.name = k; i.value = v; f.append(i);
           }
           f.submit();"#,
        vec!["pia".into(), PW.into()],
    )
    .await
    .map_err(|e| format!("posting the password: {e}"))?;
    b.wait_path("/verify_2fa").await;
    b.expect_text("Use your passkey").await;
    b.audit("verify-2fa-passkey").await;
    b.click("#passkey-verify").await;
    b.wait_path("/user/pia").await;

    // Removal: the password and the passkey in place of a code.
    b.go("/passkeys").await;
    b.click("#passkey-list li details:last-of-type summary")
        .await;
    b.fill("form[action=\"/passkeys/remove\"] input[name=password]", PW)
        .await;
    b.audit("passkeys-remove").await;
    b.click("form[action=\"/passkeys/remove\"] [data-passkey-step-up]")
        .await;
    b.expect_text("The passkey is removed. Two-factor authentication is disabled.")
        .await;
    b.expect_text("You have no passkeys yet.").await;

    b.log_out().await;
    b.base = old_base;
    Ok(())
}
