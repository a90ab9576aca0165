//! "Recent security activity": the user's own audit trail on a page of the
//! profile (date, event, the client's network only, device).

use super::*;

#[tokio::test]
async fn recent_security_activity_lists_the_users_own_events() {
    let mut c = Client::new().await.at_peer("203.0.113.77:40000");
    c.get("/security_activity")
        .await
        .redirect("/login?next=%2Fsecurity_activity");
    c.register("greta").await;
    c.post(
        "/login",
        &[("username", "greta"), ("password", "not greta's password")],
    )
    .await
    .assert(StatusCode::UNAUTHORIZED, "Invalid username or password");
    c.login("greta").await.redirect("/user/greta");
    c.get("/user/greta")
        .await
        .assert(StatusCode::OK, "href=\"/security_activity\"");
    let page = c.get("/security_activity").await;
    page.assert(StatusCode::OK, "Recent security activity")
        .assert(StatusCode::OK, "Signed in")
        .assert(StatusCode::OK, "Failed sign-in (wrong password)")
        .assert(StatusCode::OK, "Account created")
        .assert(StatusCode::OK, "203.0.113.0&#x2f;24") // "/" escaped
        .assert(StatusCode::OK, "UTC");
    // Newest first; the network, never the address; no password.
    let signed_in = page.body.find("Signed in").unwrap();
    let failed = page.body.find("Failed sign-in").unwrap();
    let created = page.body.find("Account created").unwrap();
    assert!(signed_in < failed && failed < created, "{}", page.body);
    assert!(!page.body.contains("203.0.113.77"), "{}", page.body);
    assert!(
        !page.body.contains("not greta&#x27;s password"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(PW), "{}", page.body);

    // Another user sees only their own.
    let mut other = c.other();
    other.register("hans").await;
    other.login("hans").await.redirect("/user/hans");
    let page = other.get("/security_activity").await;
    page.assert(StatusCode::OK, "Account created");
    assert!(!page.body.contains("Failed sign-in"), "{}", page.body);
}
