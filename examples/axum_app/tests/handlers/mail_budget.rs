//! Every mail the demo sends goes through the address's mail budget
//! (`Policy::mail_per_address`, 5 an hour): security notices past it are
//! coalesced into one summary, confirmation and reset mails are left out
//! while the page answers exactly as before.

use super::*;

/// The mails to `to` once the background senders have settled: at least
/// `n` of them, and none arriving for a while after.
async fn settled_mails_to(c: &Client, to: &str, n: usize) -> Vec<demo_support::SentMail> {
    let outbox = c.state.mailer.console().unwrap().clone();
    let to_them = || -> Vec<demo_support::SentMail> {
        outbox
            .messages()
            .into_iter()
            .filter(|m| m.to == to)
            .collect()
    };
    for _ in 0..500 {
        if to_them().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Late ones would be the bug: give them time to show.
    let mut last = to_them().len();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = to_them().len();
        if now == last {
            return to_them();
        }
        last = now;
    }
}

fn profile(username: &str) -> [(&str, &str); 4] {
    [
        ("username", username),
        ("first_name", "Una"),
        ("last_name", "Example"),
        ("about_me", ""),
    ]
}

/// 20 username changes (a stolen session renaming the account over and
/// over): 5 notices, then one summary, then nothing.
#[tokio::test]
async fn twenty_username_changes_send_five_notices_and_one_summary() {
    let mut c = Client::new().await;
    c.register("una").await;
    c.login("una").await.redirect("/user/una");
    for i in 0..20 {
        let name = format!("una{i}");
        c.post("/edit_profile", &profile(&name))
            .await
            .redirect(&format!("/user/{name}"));
    }
    let mails = settled_mails_to(&c, "una@example.com", 6).await;
    let notices = mails
        .iter()
        .filter(|m| m.subject.ends_with("Security notice"))
        .count();
    let summaries: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.ends_with("Several security notices"))
        .collect();
    assert_eq!((notices, summaries.len()), (5, 1), "{mails:#?}");
    assert_eq!(mails.len(), 6, "{mails:#?}");
    let summary = &summaries[0].body;
    assert!(summary.contains("several security messages"), "{summary}");
    assert!(summary.contains("/login"), "{summary}");
}

/// 40 registrations for one address: at most 5 mails, and every answer is
/// the same "check your inbox" page.
#[tokio::test]
async fn forty_registrations_for_one_address_send_at_most_five_mails() {
    let c = site(Default::default(), true, false).await;
    let mut pages = Vec::new();
    for i in 0..40 {
        let mut visitor = c.other();
        let r = visitor
            .post(
                "/register",
                &registration(&format!("vic{i}"), "Vic@Example.com"),
            )
            .await;
        pages.push((r.status, without_csrf_tokens(&r.body)));
    }
    assert!(pages.iter().all(|p| *p == pages[0]), "every answer alike");
    assert_eq!(pages[0].0, StatusCode::OK);
    assert!(pages[0].1.contains("Check your inbox"));
    let mails = settled_mails_to(&c, "vic@example.com", 5).await;
    assert_eq!(mails.len(), 5, "{mails:#?}");
    assert!(
        mails
            .iter()
            .all(|m| m.subject.ends_with("Confirm your email address")),
        "{mails:#?}"
    );
}

/// The budget is one per address, across kinds: after four notices, one
/// reset link goes out and the next requests get the same page but no
/// mail; a later notice is the window's summary.
#[tokio::test]
async fn reset_links_and_notices_share_one_budget() {
    let mut c = Client::new().await;
    c.register("wes").await;
    c.login("wes").await.redirect("/user/wes");
    for i in 0..4 {
        let name = format!("wes{i}");
        c.post("/edit_profile", &profile(&name))
            .await
            .redirect(&format!("/user/{name}"));
    }
    assert_eq!(settled_mails_to(&c, "wes@example.com", 4).await.len(), 4);
    let mut visitor = c.other();
    for _ in 0..3 {
        visitor
            .post("/reset_password_request", &[("email", "wes@example.com")])
            .await
            .redirect("/login");
        visitor.get("/login").await.assert(
            StatusCode::OK,
            "If that address belongs to an account, we have sent it a link",
        );
    }
    let mails = settled_mails_to(&c, "wes@example.com", 5).await;
    let resets = mails
        .iter()
        .filter(|m| m.subject.ends_with("Reset your password"))
        .count();
    assert_eq!((mails.len(), resets), (5, 1), "{mails:#?}");
    c.post("/edit_profile", &profile("wes-last"))
        .await
        .redirect("/user/wes-last");
    let mails = settled_mails_to(&c, "wes@example.com", 6).await;
    assert_eq!(mails.len(), 6, "{mails:#?}");
    assert!(mails[5].subject.ends_with("Several security notices"));
}
