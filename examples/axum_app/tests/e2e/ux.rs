//! What issue 20 found walking the demo in a real browser, walked again:
//! waits on the form's own page with a countdown, "Text a code" keeping
//! the step-up form, a login tab older than the login, a long username on
//! a phone, and the pages of a site that confirms addresses.

use fantoccini::Locator;

use super::{Browser, PW, Site};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// "Send a new code" before the interval between texts is over: back on
/// the code page (its own URL, not the resend's), which says when, and
/// counts it down.
pub async fn resend_too_early(b: &mut Browser) -> Result<(), String> {
    b.click("#resend").await;
    b.wait_path("/verify_2fa?method=sms").await;
    let first = b
        .wait_text_of(".flash-error", "You can ask for a new code in")
        .await;
    b.audit("verify-resend-wait").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let later = b.text_of(".flash-error").await;
    assert_ne!(first, later, "the wait is counted down");
    b.wait_text_of(".flash-error", "You can ask for a new code now.")
        .await;
    Ok(())
}

/// Wrong passwords for one name: the failure that earns a wait says so
/// with the wait, on the login page (reached by a redirect: its own URL),
/// the name kept and counted down to "now"; never a plain "invalid"
/// between two waits.
pub async fn lockout_countdown(b: &mut Browser) -> Result<(), String> {
    b.go("/login").await;
    let said = "Invalid username or password. Too many failed attempts. You can try again";
    for n in 1..=7 {
        b.fill("input[name=username]", "mallory").await;
        b.fill("input[name=password]", "wrong password").await;
        b.submit_and_wait("/login").await;
        assert_eq!(b.path().await, "/login");
        let shown = b.text().await.unwrap_or_default();
        if n < 5 {
            assert!(shown.contains("Invalid username or password."), "{shown}");
            assert!(!shown.contains("try again"), "{shown}");
            continue;
        }
        // The 5th failure earns 1 s, the 6th 2 s, the 7th 4 s.
        assert!(shown.contains(said), "failure {n}: {shown}");
        assert_eq!(b.value("input[name=username]").await, "mallory");
        assert_eq!(b.value("input[name=password]").await, "");
        if n == 7 {
            b.audit("login-wait").await;
        }
        b.wait_text_of(".flash-error", "You can try again now.")
            .await;
    }
    Ok(())
}

/// Presses "Text a code to ..." of a step-up page until a code is sent
/// (a wait first when one was sent moments ago); the page stays.
pub async fn send_code_when_allowed(b: &mut Browser) -> Result<(), String> {
    let path = b.path().await;
    loop {
        b.click("#send-code").await;
        let said = b.wait_text_of("#send-code-status", "code").await;
        if said.starts_with("We sent a code by text message to +1415*****71") {
            break;
        }
        assert!(said.starts_with("You can ask for a new code"), "{said}");
        b.wait_text_of("#send-code-status", "now.").await;
    }
    assert_eq!(b.path().await, path, "the page stays");
    Ok(())
}

/// A new email address. "Text a code to ..." sends without leaving the
/// page: what was typed stays; pressed again at once it says when, and the
/// page stays whole ("Your address now is ..."). Then the link's page, and
/// the used link's.
pub async fn change_email(b: &mut Browser, site: &Site, password: &str) -> Result<(), String> {
    b.click("#change-email").await;
    b.wait_path("/change_email").await;
    b.fill("input[name=email]", "susan.new@example.com").await;
    b.fill(
        "form[action=\"/change_email\"] input[name=password]",
        password,
    )
    .await;
    send_code_when_allowed(b).await?;
    b.click("#send-code").await;
    b.wait_text_of("#send-code-status", "You can ask for a new code in")
        .await;
    let button = b.c.find(Locator::Css("#send-code")).await.map_err(err)?;
    assert!(
        !button.is_enabled().await.map_err(err)?,
        "disabled while waiting"
    );
    assert_eq!(b.path().await, "/change_email");
    assert_eq!(b.value("input[name=email]").await, "susan.new@example.com");
    assert_eq!(
        b.value("form[action=\"/change_email\"] input[name=password]")
            .await,
        password
    );
    b.expect_text("Your address now is susan@example.com").await;
    b.audit("change-email-send-code").await;
    let code = site.sms.last_code_for(super::PHONE).ok_or("no code")?;
    b.fill("#step-up-code", &code).await;
    b.submit("/change_email").await;
    b.wait_path("/user/susan").await;
    b.expect_text("We sent a link to susan.new@example.com")
        .await;
    let link = site.link("/confirm_new_email/").await?;
    b.c.goto(&link).await.map_err(err)?;
    b.expect_text("Confirm your new email address").await;
    b.audit("confirm-new-email").await;
    b.click("#confirm-new-email").await;
    b.wait_path("/user/susan").await;
    b.expect_text("Your email address is now susan.new@example.com")
        .await;
    b.c.goto(&link).await.map_err(err)?;
    b.expect_text("Link not valid").await;
    b.audit("email-link-invalid").await;
    b.go("/user/susan").await;
    Ok(())
}

/// A 26-character username on a 375 px screen: the profile wraps it (the
/// audit finds any sideways scroll). Before that, a login form left open
/// in another tab from before the login goes home with a note, not "Form
/// expired". Then someone else's profile.
pub async fn long_username(b: &mut Browser) -> Result<(), String> {
    const NAME: &str = "abcdefghijklmnopqrstuvwxyz";
    b.log_out().await;
    b.go("/register").await;
    b.fill("input[name=first_name]", "Alphabet").await;
    b.fill("input[name=last_name]", "Soup").await;
    b.fill("input[name=username]", NAME).await;
    b.fill("input[name=email]", "abc@example.com").await;
    b.fill("input[name=password]", PW).await;
    b.fill("input[name=password2]", PW).await;
    b.submit("/register").await;
    b.wait_path("/login").await;

    // The other tab: the login page, before the login.
    let main = b.c.window().await.map_err(err)?;
    let tab = b.c.new_window(true).await.map_err(err)?.handle;
    b.c.switch_to_window(tab.clone()).await.map_err(err)?;
    b.go("/login").await;
    b.c.switch_to_window(main.clone()).await.map_err(err)?;
    b.log_in(NAME, PW, &format!("/user/{NAME}")).await;
    b.c.switch_to_window(tab).await.map_err(err)?;
    b.fill("input[name=username]", "susan").await;
    b.fill("input[name=password]", "anything").await;
    b.submit("/login").await;
    b.wait_path("/").await;
    b.expect_text(&format!(
        "You are logged in as {NAME}. To use another account, log out first."
    ))
    .await;
    b.c.close_window().await.map_err(err)?;
    b.c.switch_to_window(main).await.map_err(err)?;

    b.go(&format!("/user/{NAME}")).await;
    b.expect_text("Alphabet Soup").await;
    b.audit("profile-long-username").await;
    b.go("/user/susan").await;
    b.expect_text("susan").await;
    b.audit("profile-other").await;
    Ok(())
}

/// A site that confirms addresses: the register form, "check your inbox",
/// the link's page, and the used link's.
pub async fn confirm_email_pages(b: &mut Browser, site: &Site) -> Result<(), String> {
    b.base = site.base.clone();
    b.go("/register").await;
    b.fill("input[name=username]", "cora").await;
    b.fill("input[name=email]", "cora@example.com").await;
    b.audit("register-confirm-email").await;
    b.submit("/register").await;
    b.expect_text("Check your inbox").await;
    b.audit("check-inbox").await;
    let link = site.link("/confirm_email/").await?;
    b.c.goto(&link).await.map_err(err)?;
    b.expect_text("Finish creating your account").await;
    b.fill("input[name=first_name]", "Cora").await;
    b.fill("input[name=last_name]", "Example").await;
    b.fill("input[name=password]", PW).await;
    b.fill("input[name=password2]", PW).await;
    b.audit("confirm-email").await;
    b.click("form button[type=submit]").await;
    b.wait_path("/login").await;
    b.expect_text("Your address is confirmed").await;
    b.c.goto(&link).await.map_err(err)?;
    b.expect_text("Already confirmed").await;
    b.audit("confirm-email-used").await;
    Ok(())
}
