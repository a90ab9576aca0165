//! An attacker's view of the demo's newer pages: what a read of the session
//! store, a stolen session or hostile input get.

use std::sync::Arc;

use super::*;

/// `code` as it may be spelled: as shown, without separators, upper case.
fn spellings(code: &str) -> Vec<String> {
    let bare: String = code.chars().filter(char::is_ascii_alphanumeric).collect();
    vec![code.to_owned(), bare.clone(), bare.to_ascii_uppercase()]
}

fn leaks_a_code(written: &[String], codes: &[String]) -> Option<String> {
    for json in written {
        for code in codes {
            for s in spellings(code) {
                if json.contains(&s) || json.to_ascii_lowercase().contains(&s.to_lowercase()) {
                    return Some(format!("{code} in {json}"));
                }
            }
        }
    }
    None
}

#[tokio::test]
async fn the_session_store_never_holds_fresh_recovery_codes_in_the_clear() {
    let mut c = Client::new().await;
    c.register("sam").await;
    c.login("sam").await.redirect("/user/sam");
    c.post("/enable_2fa", &[("phone", PHONE), ("password", PW)])
        .await
        .redirect("/enable_2fa/verify");
    let code = c.sms_code();
    let r = c.post("/enable_2fa/verify", &[("code", &code)]).await;
    // Kept, not yet shown: what the store was given holds no code.
    let page = {
        r.redirect("/recovery_codes/new");
        c.get("/recovery_codes/new").await
    };
    let codes = recovery_codes(&page.body);
    assert_eq!(codes.len(), 10, "{}", page.body);
    let written = c.sessions.written();
    assert!(
        written.iter().any(|j| j.contains("fresh_recovery_codes")),
        "the codes are kept in the session: {written:#?}"
    );
    if let Some(leak) = leaks_a_code(&written, &codes) {
        panic!("a session record holds a recovery code: {leak}");
    }
    // The download still gets them, from the sealed copy.
    let key = download_key(&page.body);
    let file = c
        .post("/recovery_codes/download", &[("download_key", &key)])
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    for code in &codes {
        assert!(file.body.contains(&format!("{code}\n")), "{}", file.body);
    }
    // New codes by a step-up: sealed too.
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &codes[0])])
        .await;
    let new = c.fresh_codes(&r).await;
    assert_eq!(new.len(), 10);
    if let Some(leak) = leaks_a_code(&c.sessions.written(), &new) {
        panic!("a session record holds a regenerated code: {leak}");
    }
}

#[test]
fn sealed_codes_open_only_for_their_user_and_key() {
    use axum_app::sealed::SessionSeal;
    use twofa_verify::UserId;
    let seal = SessionSeal::new(&twofa_verify::SecretKey::generate());
    let sealed = seal.seal(UserId(7), b"aaaa-bbbb\ncccc-dddd").unwrap();
    assert!(!sealed.contains("aaaa"));
    assert_eq!(
        &**seal.open(UserId(7), &sealed).unwrap(),
        b"aaaa-bbbb\ncccc-dddd"
    );
    // Copied into another user's session: does not open.
    assert!(seal.open(UserId(8), &sealed).is_err());
    // Under another secret key: does not open.
    let other = SessionSeal::new(&twofa_verify::SecretKey::generate());
    assert!(other.open(UserId(7), &sealed).is_err());
    // Tampered, truncated, not base64: errors, no panic.
    let mut bytes = sealed.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert!(
        seal.open(UserId(7), std::str::from_utf8(&bytes).unwrap())
            .is_err()
    );
    assert!(seal.open(UserId(7), &sealed[..10]).is_err());
    assert!(seal.open(UserId(7), "not base64 !!").is_err());
    assert!(seal.open(UserId(7), "").is_err());
    // Two seals of the same codes differ (a fresh nonce each time).
    assert_ne!(
        sealed,
        seal.seal(UserId(7), b"aaaa-bbbb\ncccc-dddd").unwrap()
    );
}

#[tokio::test]
async fn a_stolen_session_cookie_cannot_download_codes_already_shown() {
    let mut victim = Client::new().await;
    let first = victim.user_with_sms("vic").await;
    let r = victim
        .post("/recovery_codes", &[("password", PW), ("code", &first[0])])
        .await;
    r.redirect("/recovery_codes/new");
    let page = victim.get("/recovery_codes/new").await;
    let codes = recovery_codes(&page.body);
    assert_eq!(codes.len(), 10, "{}", page.body);
    let key = download_key(&page.body);

    // The thief replays the victim's cookies: the same session.
    let mut thief = victim.other();
    thief.cookies = victim.cookies.clone();
    let r = thief.get("/recovery_codes").await;
    r.assert(StatusCode::OK, "Recovery codes");
    // The page is not shown again, and the download wants its key.
    thief
        .get("/recovery_codes/new")
        .await
        .redirect("/recovery_codes");
    for tried in ["", "x", &key[..key.len() - 1], &format!("{key}A")] {
        let r = thief
            .post("/recovery_codes/download", &[("download_key", tried)])
            .await;
        r.assert(StatusCode::NOT_FOUND, "Nothing to download");
        assert!(!codes.iter().any(|code| r.body.contains(code.as_str())));
    }
    let r = thief.post("/recovery_codes/download", &[]).await;
    r.assert(StatusCode::NOT_FOUND, "Nothing to download");
    // The victim's page still downloads them, once.
    let file = victim
        .post("/recovery_codes/download", &[("download_key", &key)])
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    for code in &codes {
        assert!(file.body.contains(&format!("{code}\n")), "{}", file.body);
    }
}

#[tokio::test]
async fn a_username_changed_by_a_stolen_session_is_told_to_the_owner() {
    let mut victim = Client::new().await;
    victim.register("owen").await;
    victim.login("owen").await.redirect("/user/owen");
    let mut thief = victim.other();
    thief.cookies = victim.cookies.clone();
    // Names and "about me" alone: the app's data, no notice.
    let names = [
        ("username", "owen"),
        ("first_name", "Owen"),
        ("last_name", "Example"),
        ("about_me", "hi"),
    ];
    thief
        .post("/edit_profile", &names)
        .await
        .redirect("/user/owen");
    // The username (a login identifier): the owner hears of it.
    let renamed = [
        ("username", "not-owen"),
        ("first_name", "Owen"),
        ("last_name", "Example"),
        ("about_me", "hi"),
    ];
    thief
        .post("/edit_profile", &renamed)
        .await
        .redirect("/user/not-owen");
    let mail = notice_to(
        &victim,
        "owen@example.com",
        "username of your account was changed",
    )
    .await;
    assert!(mail.body.starts_with("Dear not-owen,"), "{}", mail.body);
    let outbox = victim.state.mailer.console().unwrap().clone();
    let notices = outbox
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("Security notice"))
        .count();
    assert_eq!(notices, 1, "{:#?}", outbox.messages());
}

/// Fresh codes are shown once: of a burst of page loads of the same
/// session (a thief replaying the victim's cookie as the redirect lands),
/// spread over `routers`, one shows them.
async fn page_loads_show_fresh_codes_once(c: &mut Client, routers: &[Router]) {
    let first = c.user_with_sms("bea").await;
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &first[0])])
        .await;
    r.redirect("/recovery_codes/new");
    let gate = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let router = routers[i % routers.len()].clone();
        let req = c
            .request("GET", "/recovery_codes/new")
            .body(Body::empty())
            .unwrap();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            read(router.oneshot(req).await.unwrap()).await
        }));
    }
    let mut shown = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == StatusCode::OK {
            shown.push(r);
        } else {
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        }
    }
    assert_eq!(shown.len(), 1, "fresh codes shown {} times", shown.len());
    assert_eq!(recovery_codes(&shown[0].body).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_page_loads_shows_fresh_codes_once() {
    let mut c = Client::new().await;
    let routers = [c.router.clone()];
    page_loads_show_fresh_codes_once(&mut c, &routers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_page_loads_on_two_instances_shows_fresh_codes_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db").display().to_string();
    let open = || {
        axum_app::state_for_tests_with(
            demo_support::Options {
                db: db.clone(),
                ..Default::default()
            },
            axum_app::Config::for_tests(),
        )
    };
    let (one, two) = (open().await.unwrap(), open().await.unwrap());
    let mut c = Client::with_state(one);
    let other = Client::with_state(two);
    let routers = [c.router.clone(), other.router.clone()];
    page_loads_show_fresh_codes_once(&mut c, &routers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_page_loads_on_two_postgres_instances_shows_fresh_codes_once() {
    use super::profile_data::{drop_schema, pg_url, random_schema};
    let Some(url) = pg_url() else { return };
    let schema = random_schema("codes");
    let key = twofa_verify::SecretKey::generate();
    let open = || {
        axum_app::state_for_tests_with(
            demo_support::Options {
                db: url.clone(),
                pg_schema: Some(schema.clone()),
                secret_key: Some(key.clone()),
                ..Default::default()
            },
            axum_app::Config::for_tests(),
        )
    };
    let (one, two) = (open().await.unwrap(), open().await.unwrap());
    let mut c = Client::with_state(one);
    let other = Client::with_state(two);
    let routers = [c.router.clone(), other.router.clone()];
    page_loads_show_fresh_codes_once(&mut c, &routers).await;
    drop_schema(&url, &schema).await;
}

/// Of a burst of downloads with the page's key (the victim's click and a
/// thief who somehow has the key and the cookie), one gets the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_downloads_gets_the_file_once() {
    let mut c = Client::new().await;
    let first = c.user_with_sms("dot").await;
    let r = c
        .post("/recovery_codes", &[("password", PW), ("code", &first[0])])
        .await;
    r.redirect("/recovery_codes/new");
    let page = c.get("/recovery_codes/new").await;
    let key = download_key(&page.body);
    let body = serde_urlencoded::to_string([
        ("csrf_token", c.csrf.clone().unwrap().as_str()),
        ("download_key", key.as_str()),
    ])
    .unwrap();
    let gate = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let router = c.router.clone();
        let req = c
            .request("POST", "/recovery_codes/download")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            read(router.oneshot(req).await.unwrap()).await.status
        }));
    }
    let mut files = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => files += 1,
            s => assert_eq!(s, StatusCode::NOT_FOUND),
        }
    }
    assert_eq!(files, 1, "the codes were downloaded {files} times");
}
