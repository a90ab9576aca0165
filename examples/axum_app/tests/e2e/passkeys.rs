//! Passkeys in Chromium, with its virtual authenticator added over
//! WebDriver (a platform authenticator with resident keys and user
//! verification that always says yes): register, add a passkey, log out,
//! sign in with it (no password: the login page's autofill), the passkey as the second factor after
//! the password, the passkey as the step-up of its own removal. The site is
//! opened at http://localhost:PORT, the passkeys' relying party.

use fantoccini::wd::WebDriverCompatibleCommand;

use super::{Browser, PW, Site};

/// A POST of JSON to `session/{id}/PATH` of chromedriver: the WebDriver
/// extensions fantoccini has no method for.
#[derive(Debug)]
struct SessionPost(&'static str, serde_json::Value);

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.1.to_string()))
    }
}

/// Adds a virtual authenticator (WebAuthn Level 2, §11): a platform one
/// with resident keys and user verification that always says yes.
fn add_virtual_authenticator() -> SessionPost {
    SessionPost(
        "webauthn/authenticator",
        serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        }),
    )
}

/// A Chrome DevTools command (chromedriver's `goog/cdp/execute`).
fn cdp(cmd: &str, params: serde_json::Value) -> SessionPost {
    SessionPost(
        "goog/cdp/execute",
        serde_json::json!({ "cmd": cmd, "params": params }),
    )
}

/// Run in each new document while installed: holds the autofill's
/// (conditional) request, as a user who does not pick the passkey under
/// the username field (the virtual authenticator would answer it at once).
/// It ends only when the page aborts it; `sessionStorage.conditional`
/// says "pending", then "aborted".
const HOLD_CONDITIONAL: &str = r#"
(function () {
  if (!navigator.credentials) return;
  var real = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = function (opts) {
    if (!opts || opts.mediation !== "conditional") return real(opts);
    sessionStorage.setItem("conditional", "pending");
    return new Promise(function (_, reject) {
      var signal = opts.signal;
      if (!signal) return;
      var abort = function () {
        sessionStorage.setItem("conditional", "aborted");
        reject(new DOMException("The request was aborted.", "AbortError"));
      };
      if (signal.aborted) abort();
      else signal.addEventListener("abort", abort);
    });
  };
})();
"#;

/// `sessionStorage.conditional` of the page (see [`HOLD_CONDITIONAL`]).
async fn conditional(b: &Browser) -> String {
    b.c.execute("return sessionStorage.getItem('conditional') || ''", vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// "Sign in with a passkey", the button: on a fresh login page whose
/// autofill request is pending, the page's script must abort that request
/// before its own (a browser refuses a second while one is pending; the
/// held one ends only on abort), then sign in.
async fn sign_in_with_the_button(b: &mut Browser) -> Result<(), String> {
    let installed =
        b.c.issue_cmd(cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": HOLD_CONDITIONAL }),
        ))
        .await
        .map_err(|e| format!("no CDP: {e}"))?;
    let id = installed["identifier"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    b.go("/login").await;
    let start = std::time::Instant::now();
    while conditional(b).await != "pending" {
        if start.elapsed() > std::time::Duration::from_secs(15) {
            return Err("the login page made no autofill request".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.audit("login-passkey").await;
    b.click("#passkey-sign-in").await;
    b.wait_path("/user/pia").await;
    let ended = conditional(b).await;
    b.c.issue_cmd(cdp(
        "Page.removeScriptToEvaluateOnNewDocument",
        serde_json::json!({ "identifier": id }),
    ))
    .await
    .map_err(|e| format!("removing the script: {e}"))?;
    if ended != "aborted" {
        return Err(format!("the autofill request ended {ended:?}, not aborted"));
    }
    Ok(())
}

/// Registers `username` (first name `first`, password `PW`) with the
/// register form; the browser ends on the login page.
async fn register(b: &Browser, first: &str, username: &str) {
    b.go("/register").await;
    b.fill("input[name=first_name]", first).await;
    b.fill("input[name=last_name]", "Example").await;
    b.fill("input[name=username]", username).await;
    b.fill("input[name=email]", &format!("{username}@example.com"))
        .await;
    b.fill("input[name=password]", PW).await;
    b.fill("input[name=password2]", PW).await;
    b.submit("/register").await;
    b.wait_path("/login").await;
}

/// The walk, on `site` (its own, with passkeys), in the same browser.
pub async fn walk(b: &mut Browser, site: &Site) -> Result<(), String> {
    b.c.issue_cmd(add_virtual_authenticator())
        .await
        .map_err(|e| format!("no virtual authenticator: {e}"))?;
    let old_base = std::mem::replace(&mut b.base, site.base.clone());

    // Register, log in with the password.
    register(b, "Pia", "pia").await;
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

    // The same with the button, the autofill left alone.
    b.log_out().await;
    sign_in_with_the_button(b).await?;

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

    // Another step-up page, the same control: signing out elsewhere with
    // the password and the passkey.
    b.go("/sign_out_everywhere").await;
    b.fill(
        "form[action=\"/sign_out_everywhere\"] input[name=password]",
        PW,
    )
    .await;
    b.audit("sign-out-everywhere-passkey").await;
    b.click("form[action=\"/sign_out_everywhere\"] [data-passkey-step-up]")
        .await;
    b.expect_text("You are signed out everywhere else.").await;

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
    b.go("/security_activity").await;
    b.audit("security-activity-passkeys").await;

    b.log_out().await;
    b.base = old_base;
    Ok(())
}

/// A second factor required (`REQUIRE_2FA`, no grace), on `site`: a new
/// user's login ends at the enrollment page, which offers a passkey; adding
/// one finishes the login. The browser's virtual authenticator of `walk`.
pub async fn enroll(b: &mut Browser, site: &Site) -> Result<(), String> {
    let old_base = std::mem::replace(&mut b.base, site.base.clone());
    register(b, "Ria", "ria").await;
    b.log_in("ria", PW, "/enroll_2fa").await;
    b.expect_text("Use a passkey").await;
    b.audit("enroll-2fa-passkey").await;
    b.click("#enroll-passkey").await;
    b.wait_path("/passkeys").await;
    b.fill("#passkey-add-form input[name=name]", "Laptop").await;
    b.fill("#passkey-add-form input[name=password]", PW).await;
    b.click("#passkey-add").await;
    b.wait_path("/recovery_codes/new").await;
    b.expect_text("Two-factor authentication is enabled.").await;
    b.go("/user/ria").await;
    b.wait_path("/user/ria").await;
    b.log_out().await;
    b.base = old_base;
    Ok(())
}
