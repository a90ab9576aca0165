//! Email-confirmed registration on the demo: opening the link (GET, HEAD:
//! what mail scanners and link previews do) creates nothing; the password
//! is typed on the link's page, by whoever holds the mailbox; its POST
//! creates the account once, then redirects; a used link says "already
//! confirmed, log in".

use super::*;

/// The password the mailbox holder types on the link's page.
const CHOSEN: &str = "the mailbox holder's own passphrase";
/// The password an attacker types on the register form.
const ATTACKERS: &str = "the attacker's secret passphrase";

/// A register form with every field, `password` in both password fields
/// (what a site without confirmation needs; this one reads only the
/// username and the address).
fn form_with_password<'a>(
    username: &'a str,
    email: &'a str,
    password: &'a str,
) -> [(&'a str, &'a str); 6] {
    [
        ("username", username),
        ("first_name", "Ann"),
        ("last_name", "Example"),
        ("email", email),
        ("password", password),
        ("password2", password),
    ]
}

/// The confirmation page's form.
fn page_form<'a>(password: &'a str, again: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("first_name", "Tess"),
        ("last_name", "Holder"),
        ("password", password),
        ("password2", again),
    ]
}

async fn head(c: &mut Client, path: &str) -> Resp {
    let req = c.request("HEAD", path).body(Body::empty()).unwrap();
    c.send(req).await
}

async fn login_as(c: &mut Client, username: &str, password: &str) -> Resp {
    c.post("/login", &[("username", username), ("password", password)])
        .await
}

/// The confirmation link in the mail that greets `username`.
async fn link_for(c: &Client, n: usize, username: &str) -> String {
    let all = mails(c, n).await;
    let greeting = format!("Dear {username},");
    let mail = all
        .iter()
        .find(|m| m.body.contains(&greeting))
        .unwrap_or_else(|| panic!("no mail to {username}: {all:?}"));
    confirm_path(&mail.body)
}

#[tokio::test]
async fn opening_a_confirmation_link_creates_nothing() {
    let mut rita = site(Default::default(), true, false).await;
    // The register form asks for no password here.
    let form = rita.get("/register").await;
    form.assert(
        StatusCode::OK,
        "you choose your password on the page it opens",
    );
    assert!(!form.body.contains("name=\"password\""), "{}", form.body);
    rita.post(
        "/register",
        &form_with_password("rita", "rita@example.com", PW),
    )
    .await
    .assert(StatusCode::OK, "Check your inbox");
    let link = link_for(&rita, 1, "rita").await;

    // A mail scanner and a link preview, each in its own browser, several
    // times: a page, nothing more.
    for _ in 0..3 {
        let mut scanner = rita.other();
        let r = head(&mut scanner, &link).await;
        assert_eq!(r.status, StatusCode::OK, "HEAD {link}");
        scanner
            .get(&link)
            .await
            .assert(StatusCode::OK, "Finish creating your account");
    }
    assert!(
        rita.state
            .auth
            .user_by_username("rita")
            .await
            .unwrap()
            .is_none()
    );
    login_as(&mut rita, "rita", PW)
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");

    // The owner's visit still works, with the password typed on the page;
    // the one typed on the register form opens nothing.
    confirm(&mut rita, &link, CHOSEN).await.redirect("/login");
    login_as(&mut rita, "rita", PW)
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    login_as(&mut rita, "rita", CHOSEN)
        .await
        .redirect("/user/rita");
}

#[tokio::test]
async fn an_attackers_pending_registration_never_gets_the_victims_account() {
    let site = site(Default::default(), true, false).await;
    // The attacker registers the victim's address with their own password.
    let mut mallory = site.other();
    mallory
        .post(
            "/register",
            &form_with_password("mallory", "victim@example.com", ATTACKERS),
        )
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let attackers_link = link_for(&site, 1, "mallory").await;
    // The link lands in the victim's mailbox, whose scanner opens it.
    let mut scanner = site.other();
    head(&mut scanner, &attackers_link).await;
    scanner
        .get(&attackers_link)
        .await
        .assert(StatusCode::OK, "victim@example.com");

    // The victim registers while that is pending: not blocked.
    let mut victim = site.other();
    victim
        .post(
            "/register",
            &form_with_password("victim", "victim@example.com", CHOSEN),
        )
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let victims_link = link_for(&site, 2, "victim").await;
    confirm(&mut victim, &victims_link, CHOSEN)
        .await
        .redirect("/login");
    login_as(&mut victim, "victim", CHOSEN)
        .await
        .redirect("/user/victim");

    // The attacker's password opens nothing, and their link is dead.
    for name in ["mallory", "victim"] {
        login_as(&mut mallory, name, ATTACKERS)
            .await
            .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    scanner
        .get(&attackers_link)
        .await
        .assert(StatusCode::CONFLICT, "got an account in the meantime");
    let r = scanner
        .post(&attackers_link, &page_form(ATTACKERS, ATTACKERS))
        .await;
    r.assert(StatusCode::CONFLICT, "got an account in the meantime");
    assert!(
        site.state
            .auth
            .user_by_username("mallory")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_confirmation_form_creates_the_account_once() {
    let mut tess = site(Default::default(), true, false).await;
    tess.post("/register", &registration("tess", "tess@example.com"))
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let link = link_for(&tess, 1, "tess").await;
    tess.get(&link)
        .await
        .assert(StatusCode::OK, "<strong>tess</strong>")
        .assert(StatusCode::OK, "<strong>tess@example.com</strong>")
        .assert(StatusCode::OK, "method=\"post\"");

    // Refused forms change nothing: no CSRF token, passwords that differ,
    // a weak one, missing names.
    let body = serde_urlencoded::to_string(page_form(CHOSEN, CHOSEN)).unwrap();
    let r = tess.post_raw(&link, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    tess.get(&link).await;
    tess.post(&link, &page_form(CHOSEN, "something else"))
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "do not match")
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "value=\"Tess\"");
    tess.post(&link, &page_form("password", "password"))
        .await
        .assert(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please choose another password",
        );
    tess.post(
        &link,
        &[
            ("first_name", " "),
            ("password", CHOSEN),
            ("password2", CHOSEN),
        ],
    )
    .await
    .assert(StatusCode::UNPROCESSABLE_ENTITY, "fill in every field");
    assert!(
        tess.state
            .auth
            .user_by_username("tess")
            .await
            .unwrap()
            .is_none()
    );

    // The form: the account, then the login page (post, redirect, get).
    let form = page_form(CHOSEN, CHOSEN);
    tess.post(&link, &form).await.redirect("/login");
    tess.get("/login")
        .await
        .assert(StatusCode::OK, "your account is ready");
    // A reload posts it again: "already confirmed", nothing changes.
    tess.post(&link, &form)
        .await
        .assert(StatusCode::CONFLICT, "already confirmed")
        .assert(StatusCode::CONFLICT, "href=\"/login\"");
    tess.get(&link)
        .await
        .assert(StatusCode::CONFLICT, "already confirmed");
    login_as(&mut tess, "tess", CHOSEN)
        .await
        .redirect("/user/tess");
    // The names typed on the page are the profile's.
    tess.get("/user/tess")
        .await
        .assert(StatusCode::OK, "Holder");

    // Unknown links: a clear page, GET or POST.
    let mut other = tess.other();
    other
        .get("/confirm_email/garbage")
        .await
        .assert(StatusCode::BAD_REQUEST, "invalid or has expired");
    other.get("/login").await;
    other
        .post("/confirm_email/garbage", &form)
        .await
        .assert(StatusCode::BAD_REQUEST, "invalid or has expired");
}

/// One link posted by a burst of requests, released together: exactly one
/// account; every other answer says "already confirmed".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_posts_of_one_link_creates_one_account() {
    const BURST: usize = 100;
    let mut c = site(Default::default(), true, false).await;
    c.post("/register", &registration("burt", "burt@example.com"))
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let link = link_for(&c, 1, "burt").await;
    c.get(&link).await;
    let token = c.csrf.clone().unwrap();
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend_from_slice(&page_form(CHOSEN, CHOSEN));
    let body = serde_urlencoded::to_string(&fields).unwrap();
    let answers = c.burst(&link, &body, BURST).await;
    let created = answers
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(created, 1);
    for r in answers.iter().filter(|r| r.status != StatusCode::SEE_OTHER) {
        r.assert(StatusCode::CONFLICT, "already confirmed");
    }
    login_as(&mut c, "burt", CHOSEN)
        .await
        .redirect("/user/burt");
}
