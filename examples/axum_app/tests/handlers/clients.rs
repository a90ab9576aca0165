//! Who is asking: registration that answers new and taken addresses alike,
//! the per-client failure budget, `X-Forwarded-For` behind a trusted proxy
//! only, and the per-client refusals' pages.

use super::*;

fn hourly(max: u32) -> twofa_verify::RateLimit {
    twofa_verify::RateLimit::new(max, std::time::Duration::from_secs(3600))
}

#[tokio::test]
async fn confirmed_registration_answers_new_and_taken_addresses_alike() {
    let mut owner = site(Default::default(), true, false).await;
    assert_eq!(
        owner.state.auth.policy().registration,
        twofa_verify::Registration::EmailConfirmed
    );
    // The first account, through its link.
    owner
        .post("/register", &registration("owner", "owner@example.com"))
        .await
        .assert(
            StatusCode::OK,
            "Check your inbox: we sent a link to confirm your address",
        );
    let link = confirm_path(&mails(&owner, 1).await[0].body);
    owner
        .login("owner")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    confirm(&mut owner, &link, PW).await.redirect("/login");
    owner.get("/login").await.assert(
        StatusCode::OK,
        "Your address is confirmed and your account is ready",
    );
    owner.login("owner").await.redirect("/user/owner");

    // A new and a taken address, each from a fresh browser: the same answer.
    let mut newbie = owner.other();
    let new = newbie
        .post("/register", &registration("newbie", "newbie@example.com"))
        .await;
    let mut mallory = owner.other();
    let taken = mallory
        .post("/register", &registration("mallory", "OWNER@example.com"))
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
    assert_eq!(taken.status, new.status);
    assert_eq!(
        without_csrf_tokens(&taken.body),
        without_csrf_tokens(&new.body)
    );
    let names = |r: &Resp| {
        r.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&taken), names(&new));
    assert!(!new.body.contains("newbie@example.com"));

    // A link for the new address, a notice (no link) for the taken one.
    let all = mails(&owner, 3).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let to_new = all.iter().find(|m| m.to == "newbie@example.com").unwrap();
    let notice = &all[1..]
        .iter()
        .find(|m| m.to == "owner@example.com")
        .expect("a notice to the owner");
    assert!(
        notice.body.contains("Someone tried to register"),
        "{notice:?}"
    );
    assert!(notice.body.contains("/reset_password_request"));
    assert!(!notice.body.contains("/confirm_email/"));
    // Nothing was created for the taken address.
    mallory
        .login("mallory")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");

    // The link creates the account, once; it does not log anyone in.
    let link = confirm_path(&to_new.body);
    newbie
        .login("newbie")
        .await
        .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    confirm(&mut newbie, &link, PW).await.redirect("/login");
    newbie
        .get("/edit_profile")
        .await
        .redirect("/login?next=%2Fedit_profile");
    newbie.login("newbie").await.redirect("/user/newbie");
    let mut again = owner.other();
    let r = again.get(&link).await;
    r.assert(StatusCode::CONFLICT, "already confirmed")
        .assert(StatusCode::CONFLICT, "Please log in");
    assert!(r.body.contains("href=\"/login\""), "{}", r.body);
    again
        .get("/confirm_email/garbage")
        .await
        .assert(StatusCode::BAD_REQUEST, "Link not valid");
    // A taken username is still said to be taken.
    again
        .post("/register", &registration("Owner", "someone@example.com"))
        .await
        .assert(StatusCode::CONFLICT, "username is already taken");
}

#[tokio::test]
async fn a_burst_from_one_client_is_cut_at_its_failure_budget() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_failures = twofa_verify::RateLimit::new(10, std::time::Duration::from_secs(900));
    let mut sam = site(policy, false, false).await;
    sam.register("sam").await;

    // 30 wrong passwords for 30 names, all at once, from one address.
    let mut attacker = sam.other().at_peer("203.0.113.5:40000");
    let token = attacker.token().await;
    let requests: Vec<_> = (0..30)
        .map(|i| {
            let name = format!("user{i}");
            let body = serde_urlencoded::to_string([
                ("csrf_token", token.as_str()),
                ("username", &name),
                ("password", "wrong password"),
            ])
            .unwrap();
            let req = attacker
                .request("POST", "/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let router = attacker.router.clone();
            async move { read(router.oneshot(req).await.unwrap()).await }
        })
        .collect();
    let answers = futures::future::join_all(requests).await;
    let count = |s: StatusCode| answers.iter().filter(|r| r.status == s).count();
    assert_eq!(count(StatusCode::UNAUTHORIZED), 10);
    assert_eq!(count(StatusCode::SEE_OTHER), 20);
    for r in &answers {
        if r.status == StatusCode::SEE_OTHER {
            r.redirect("/login");
            assert!(r.headers.contains_key(header::RETRY_AFTER));
        } else {
            r.assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
        }
    }
    // The address is spent, even for a right password...
    let r = attacker.login("sam").await;
    attacker
        .expect_wait(
            &r,
            "/login",
            "Too many failed attempts from your network. You can try again",
        )
        .await
        .assert(StatusCode::OK, "value=\"sam\"");
    // ...while another address logs in, and so does a request with no
    // address at all (no per-client limit then).
    sam.other()
        .at_peer("198.51.100.7:50000")
        .login("sam")
        .await
        .redirect("/user/sam");
    sam.other().login("sam").await.redirect("/user/sam");
}

/// A wrong password for `name`, with this `X-Forwarded-For`.
async fn wrong_login(c: &mut Client, xff: Option<&str>, name: &str) -> StatusCode {
    c.forwarded_for = xff.map(str::to_owned);
    c.post(
        "/login",
        &[("username", name), ("password", "wrong password")],
    )
    .await
    .status
}

#[tokio::test]
async fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_failures = hourly(1);
    // Not trusted (the default): the header is ignored; the socket counts.
    let mut c = site(policy.clone(), false, false)
        .await
        .at_peer("10.0.0.1:1000");
    assert_eq!(
        wrong_login(&mut c, Some("192.0.2.1"), "a").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        wrong_login(&mut c, Some("192.0.2.2"), "b").await,
        StatusCode::SEE_OTHER
    );

    // Trusted: the right-most address, the one the proxy appended.
    let mut p = site(policy, false, true).await.at_peer("10.0.0.1:1000");
    let cases = [
        (Some("198.51.100.1, 192.0.2.1"), StatusCode::UNAUTHORIZED),
        // The same client writing anything to the left: the same budget.
        (Some("203.0.113.99, 192.0.2.1"), StatusCode::SEE_OTHER),
        (Some("192.0.2.1"), StatusCode::SEE_OTHER),
        // Another client behind the same proxy.
        (Some("192.0.2.1, 192.0.2.2"), StatusCode::UNAUTHORIZED),
        // Unparsable, then absent: the socket's address (the proxy's).
        (Some("not an address"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::SEE_OTHER),
    ];
    for (i, (xff, want)) in cases.into_iter().enumerate() {
        let got = wrong_login(&mut p, xff, &format!("user{i}")).await;
        assert_eq!(got, want, "X-Forwarded-For {xff:?}");
    }
}

#[tokio::test]
async fn per_client_refusals_are_friendly_form_pages() {
    let mut policy = twofa_verify::Policy::default();
    policy.client_registrations = hourly(1);
    policy.client_reset_requests = hourly(1);
    policy.client_sms = hourly(1);
    let friendly = "Too many requests. You can try again";

    let mut c = site(policy.clone(), false, false)
        .await
        .at_peer("203.0.113.9:1234");
    c.register("uma").await;
    // Every refusal is the form's own page, reached by a redirect, with
    // what was typed in it (but the password).
    let r = c
        .post("/register", &registration("vic", "vic@example.com"))
        .await;
    let page = c.expect_wait(&r, "/register", friendly).await;
    page.assert(StatusCode::OK, "action=\"/register\"")
        .assert(StatusCode::OK, "value=\"vic\"")
        .assert(StatusCode::OK, "value=\"vic@example.com\"");
    assert!(!page.body.contains(PW), "{}", page.body);
    // Shown once: a reload shows the empty form.
    let again = c.get("/register").await;
    assert!(!again.body.contains("value=\"vic\""), "{}", again.body);
    assert!(!again.body.contains(friendly), "{}", again.body);

    c.post("/reset_password_request", &[("email", "uma@example.com")])
        .await
        .redirect("/login");
    let r = c
        .post(
            "/reset_password_request",
            &[("email", "nobody@example.com")],
        )
        .await;
    c.expect_wait(&r, "/reset_password_request", friendly)
        .await
        .assert(StatusCode::OK, "action=\"/reset_password_request\"");

    c.login("uma").await.redirect("/user/uma");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    let r = c
        .post(
            "/enable_2fa",
            &[
                ("phone", "415 555 2672"),
                ("country", "US"),
                ("password", PW),
            ],
        )
        .await;
    c.expect_wait(&r, "/enable_2fa", "You can ask for a new code")
        .await
        .assert(StatusCode::OK, "action=\"/enable_2fa\"")
        .assert(StatusCode::OK, "value=\"415 555 2672\"");

    // With confirmed registration too.
    let mut d = site(policy, true, false).await.at_peer("203.0.113.9:1234");
    d.post("/register", &registration("wes", "wes@example.com"))
        .await
        .assert(StatusCode::OK, "Check your inbox");
    let r = d
        .post("/register", &registration("xia", "xia@example.com"))
        .await;
    d.expect_wait(&r, "/register", friendly)
        .await
        .assert(StatusCode::OK, "value=\"xia\"");
}
