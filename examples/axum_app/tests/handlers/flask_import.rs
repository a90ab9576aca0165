//! A profile imported from the Flask app, as `cli import-flask` writes it
//! (`ProfileStore::import`), seen on the demo's profile page. The import
//! itself, as a process, is tested in the `cli` package
//! (`examples/cli/tests/cli/flask_import.rs`).

use super::*;
use demo_support::profiles::{Imported, Profile};

#[tokio::test]
async fn an_imported_profile_shows_on_the_demo() {
    let mut c = Client::new().await;
    let state = c.state.clone();
    // Accounts without a profile row, as `import_user` makes them.
    let pw = secrecy::SecretString::from(PW.to_owned());
    let alice = state
        .auth
        .register("alice", "alice@example.com", &pw)
        .await
        .unwrap();
    state
        .auth
        .register("bob", "bob@example.com", &pw)
        .await
        .unwrap();
    let imported = Profile {
        about_me: "Hi, I am alice.".into(),
        last_seen: Some(1_614_592_800_000), // 2021-03-01 10:00 UTC
        ..Profile::default()
    };
    assert_eq!(
        state.profiles.import(alice.id, &imported).await.unwrap(),
        Imported::Written
    );

    c.register("viewer").await;
    c.login("viewer").await.redirect("/user/viewer");
    let p = c.get("/user/alice").await;
    p.assert(StatusCode::OK, "Hi, I am alice.");
    assert!(p.body.contains("years ago"), "{}", p.body);
    assert!(p.body.contains("2021-03-01 10:00 UTC"), "{}", p.body);
    let bob = c.get("/user/bob").await;
    assert!(!bob.body.contains("id=\"about-me\""), "bob had none");
}
