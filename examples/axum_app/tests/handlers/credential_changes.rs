//! Step-ups and notices for every credential change in the demo: the
//! password change and "sign out everywhere" ask for the second factor, an
//! email change waits for a POST from the link mailed to the new address,
//! only the newest reset link works, and each change mails a notice.

use super::*;

const NEW_PW: &str = "a brand new passphrase";

/// The path of the link in the last mail to `to` that holds `prefix`
/// (mails leave in the background: waits a little for it).
pub async fn mailed_link(c: &Client, to: &str, prefix: &str) -> String {
    let outbox = c.state.mailer.console().unwrap().clone();
    let base = "http://127.0.0.1:8000";
    let full = format!("{base}{prefix}");
    for _ in 0..200 {
        let found = outbox
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to && m.body.contains(&full));
        if let Some(m) = found {
            let start = m.body.find(&full).unwrap();
            let link = m.body[start..].split_whitespace().next().unwrap();
            return link[base.len()..].to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no link {prefix} to {to}: {:#?}", outbox.messages());
}

/// The user as stored now.
async fn stored(c: &Client, name: &str) -> twofa_verify::User {
    c.state.auth.user_by_username(name).await.unwrap().unwrap()
}

#[tokio::test]
async fn password_change_asks_for_the_code_with_2fa_on() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("gil").await;
    c.get("/change_password")
        .await
        .assert(StatusCode::OK, "a current code")
        .assert(StatusCode::OK, "name=\"code\"");
    let form = |code: &'static str| {
        [
            ("current", PW),
            ("code", code),
            ("password", NEW_PW),
            ("password2", NEW_PW),
        ]
    };
    // The password alone (a stolen session with a phished password).
    c.post("/change_password", &form(""))
        .await
        .assert(StatusCode::FORBIDDEN, "a current code");
    c.post("/change_password", &form("123456"))
        .await
        .assert(StatusCode::UNAUTHORIZED, "not right");
    // Nothing changed: the old password still logs in elsewhere.
    c.other().login("gil").await.redirect("/verify_2fa");
    // A code by text message, from the page's own button.
    c.post("/send_step_up_code", &[("next", "change_password")])
        .await
        .redirect("/change_password");
    let code = c.sms_code();
    let fields = [
        ("current", PW),
        ("code", code.as_str()),
        ("password", NEW_PW),
        ("password2", NEW_PW),
    ];
    c.post("/change_password", &fields)
        .await
        .redirect("/user/gil");
    notice_to(&c, "gil@example.com", "Your password was changed").await;
    // A recovery code works as the code too.
    let fields = [
        ("current", NEW_PW),
        ("code", codes[0].as_str()),
        ("password", PW),
        ("password2", PW),
    ];
    c.post("/change_password", &fields)
        .await
        .redirect("/user/gil");
}

#[tokio::test]
async fn sign_out_everywhere_needs_a_step_up_and_sends_a_notice() {
    let mut owner = Client::new().await;
    owner.user_with_sms("hal").await;
    let mut thief = owner.other();
    thief.cookies = owner.cookies.clone();
    thief
        .get("/sign_out_everywhere")
        .await
        .assert(StatusCode::OK, "a current code");
    thief
        .post("/sign_out_everywhere", &[])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "your password");
    thief
        .post("/sign_out_everywhere", &[("password", "a guess")])
        .await
        .assert(StatusCode::UNAUTHORIZED, "Your password is not right");
    thief
        .post("/sign_out_everywhere", &[("password", PW)])
        .await
        .assert(StatusCode::FORBIDDEN, "a current code");
    // The owner's session still works.
    owner
        .get("/edit_profile")
        .await
        .assert(StatusCode::OK, "Edit profile");
    // The owner, with a code: every other session ends, a notice goes out.
    let mut elsewhere = owner.other();
    elsewhere.login("hal").await.redirect("/verify_2fa");
    let code = elsewhere.sms_code();
    elsewhere
        .post("/verify_2fa", &[("code", code.as_str())])
        .await
        .redirect("/user/hal");
    owner
        .post("/send_step_up_code", &[("next", "sign_out_everywhere")])
        .await
        .redirect("/sign_out_everywhere");
    let code = owner.sms_code();
    owner
        .post(
            "/sign_out_everywhere",
            &[("password", PW), ("code", code.as_str())],
        )
        .await
        .redirect("/user/hal");
    owner
        .get("/user/hal")
        .await
        .assert(StatusCode::OK, "signed out everywhere else");
    elsewhere
        .get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    notice_to(
        &owner,
        "hal@example.com",
        "Every session of your account was signed out",
    )
    .await;
}

#[tokio::test]
async fn email_change_is_made_by_a_post_from_the_link() {
    let mut c = Client::new().await;
    c.register("ida").await;
    c.login("ida").await.redirect("/user/ida");
    c.post(
        "/change_email",
        &[("email", "Ida.New@Example.com"), ("password", PW)],
    )
    .await
    .redirect("/user/ida");
    // Nothing changed yet; the current address is told how to stop it.
    assert_eq!(stored(&c, "ida").await.email, "ida@example.com");
    let notice = notice_to(
        &c,
        "ida@example.com",
        "Someone asked to change the email address",
    )
    .await;
    assert!(notice.body.contains("/change_password"), "{}", notice.body);
    let link = mailed_link(&c, "ida.new@example.com", "/confirm_new_email/").await;

    // Opening the link (a mail scanner, a prefetch) changes nothing.
    let mut scanner = c.other();
    for _ in 0..2 {
        scanner
            .get(&link)
            .await
            .assert(StatusCode::OK, "ida.new@example.com")
            .assert(StatusCode::OK, "method=\"post\"");
    }
    assert_eq!(stored(&c, "ida").await.email, "ida@example.com");
    // A POST without the page's CSRF token is refused.
    let mut forger = c.other();
    let r = forger.post_raw(&link, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(stored(&c, "ida").await.email, "ida@example.com");

    // The button, from another browser: the address changes, every
    // session ends (this one too), the old address is told.
    let mut mailbox = c.other();
    mailbox
        .get(&link)
        .await
        .assert(StatusCode::OK, "confirm-new-email");
    mailbox.post(&link, &[]).await.redirect("/login");
    mailbox.get("/login").await.assert(
        StatusCode::OK,
        "Your email address is now ida.new@example.com",
    );
    assert_eq!(stored(&c, "ida").await.email, "ida.new@example.com");
    c.get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    let notice = notice_to(
        &c,
        "ida@example.com",
        "email address of your account was changed",
    )
    .await;
    // The old address cannot reset the password any more: it is told to
    // log in and take the account back instead.
    assert!(notice.body.contains("/login"), "{}", notice.body);
    assert!(
        !notice.body.contains("reset_password_request"),
        "{}",
        notice.body
    );
    // Used up.
    mailbox
        .get(&link)
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    mailbox
        .post(&link, &[])
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
}

#[tokio::test]
async fn email_change_links_die_with_a_newer_one_or_a_password_change() {
    let mut c = Client::new().await;
    c.register("jo").await;
    c.other().register("kay").await;
    c.login("jo").await.redirect("/user/jo");
    let start = |to: &'static str| [("email", to), ("password", PW)];
    c.post("/change_email", &start("jo1@example.com"))
        .await
        .redirect("/user/jo");
    let first = mailed_link(&c, "jo1@example.com", "/confirm_new_email/").await;
    c.post("/change_email", &start("jo2@example.com"))
        .await
        .redirect("/user/jo");
    let second = mailed_link(&c, "jo2@example.com", "/confirm_new_email/").await;
    c.get(&first)
        .await
        .assert(StatusCode::BAD_REQUEST, "a newer change");
    // A password change (what the notice advises) voids the pending one.
    c.post(
        "/change_password",
        &[("current", PW), ("password", NEW_PW), ("password2", NEW_PW)],
    )
    .await
    .redirect("/user/jo");
    c.post(&second, &[])
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    assert_eq!(stored(&c, "jo").await.email, "jo@example.com");
    // An address another account holds: the form says nothing about it;
    // the link then says it is taken.
    let to_kay = [("email", "kay@example.com"), ("password", NEW_PW)];
    c.post("/change_email", &to_kay).await.redirect("/user/jo");
    let taken = mailed_link(&c, "kay@example.com", "/confirm_new_email/").await;
    c.post(&taken, &[])
        .await
        .assert(StatusCode::CONFLICT, "Another account uses that address");
    assert_eq!(stored(&c, "jo").await.email, "jo@example.com");
    // The own address is no change.
    let own = [("email", "JO@example.com"), ("password", NEW_PW)];
    c.post("/change_email", &own)
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "your address already");
}

#[tokio::test]
async fn a_new_reset_link_voids_the_older_one() {
    let mut c = Client::new().await;
    c.register("lou").await;
    let ask = [("email", "lou@example.com")];
    c.post("/reset_password_request", &ask)
        .await
        .redirect("/login");
    let old = mailed_link(&c, "lou@example.com", "/reset_password/").await;
    c.post("/reset_password_request", &ask)
        .await
        .redirect("/login");
    let new = loop {
        let link = mailed_link(&c, "lou@example.com", "/reset_password/").await;
        if link != old {
            break link;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    c.get(&old)
        .await
        .assert(StatusCode::BAD_REQUEST, "a newer link was sent");
    let pw2 = [("password", NEW_PW), ("password2", NEW_PW)];
    c.post(&old, &pw2)
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    c.get(&new)
        .await
        .assert(StatusCode::OK, "Choose a new password");
    c.post(&new, &pw2).await.redirect("/login");
}

#[tokio::test]
async fn phone_and_recovery_code_changes_send_notices() {
    let mut c = Client::new().await;
    let codes = c.user_with_sms("max").await;
    c.post("/recovery_codes", &[("password", PW)])
        .await
        .assert(StatusCode::FORBIDDEN, "a current code");
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &codes[0])])
        .await;
    let codes = c.fresh_codes(&r).await;
    notice_to(&c, "max@example.com", "New recovery codes were made").await;
    let other = "+14155550123";
    c.post(
        "/enable_2fa",
        &[("phone", other), ("password", PW), ("code", &codes[1])],
    )
    .await
    .redirect("/enable_2fa/verify");
    let sms = c.state.console_sms.as_ref().unwrap();
    let code = sms.last_code_for(other).unwrap();
    c.post("/enable_2fa/verify", &[("code", &code)]).await;
    assert_eq!(stored(&c, "max").await.phone.as_deref(), Some(other));
    notice_to(
        &c,
        "max@example.com",
        "phone number that receives your sign-in codes was changed",
    )
    .await;
}
