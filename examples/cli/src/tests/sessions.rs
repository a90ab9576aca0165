//! In-process tests of sessions that end when credentials change, of the
//! step-ups for enrolling factors and changing the email address, and of
//! remembered devices.

use std::path::PathBuf;

use twofa_verify::secrecy::SecretString;
use twofa_verify::{StepUp, UserId};

use super::*;

impl H {
    fn session_path(&self) -> PathBuf {
        self.dir.path().join("app.db.session")
    }

    /// The session file as JSON (`Null` when absent).
    fn file(&self) -> Value {
        std::fs::read_to_string(self.session_path())
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(Value::Null)
    }

    /// Switches to another session file, as another terminal would use.
    fn use_session_file(&mut self, name: &str) {
        let key = twofa_verify::SecretKey::from_bytes((1..=32).collect::<Vec<u8>>()).unwrap();
        self.ctx.sessions = Sessions::new(
            self.dir.path().join(name),
            &key,
            self.ctx.backend.state.clone(),
            self.ctx.clock.clone(),
        );
    }

    async fn user_id(&mut self) -> UserId {
        let o = self.ok(&["whoami"], "").await;
        UserId(o.get("user")["id"].as_i64().unwrap())
    }

    async fn enable_sms(&mut self) {
        self.pending(&["2fa", "enable-sms", "--phone", PHONE], &format!("{PW}\n"))
            .await;
        let code = self.sms_code(PHONE);
        self.ok(&["2fa", "enable-sms", "--code", &code], "").await;
    }
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test]
async fn a_change_elsewhere_ends_the_session() {
    let mut h = harness().await;
    h.register_and_login("kim").await;
    let id = h.user_id().await;
    assert!(h.file()["session"]["stamp"].as_str().unwrap().len() > 20);

    // Someone else (the web demo, another terminal) changes the password.
    let auth = h.ctx.backend.auth.clone();
    let new = "a brand new passphrase";
    auth.change_password(id, &StepUp::password(PW), &pw(new))
        .await
        .unwrap();
    let e = h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    assert!(e.message.contains("session ended"), "{}", e.message);
    // The session is gone from the file (nothing else was in it).
    assert!(!h.session_path().exists());

    // A reset elsewhere too.
    h.ok(&["login", "--user", "kim"], &format!("{new}\n")).await;
    h.ok(&["whoami"], "").await;
    let token = auth
        .request_password_reset("kim@example.com")
        .await
        .unwrap()
        .unwrap();
    auth.reset_password(token.token(), &pw("third time lucky!"))
        .await
        .unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;

    // A stamp edited in the file breaks its signature.
    h.ok(&["login", "--user", "kim"], "third time lucky!\n")
        .await;
    let text = std::fs::read_to_string(h.session_path()).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["session"]["stamp"] = "AAAA".into();
    std::fs::write(h.session_path(), v.to_string()).unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
}

#[tokio::test]
async fn changes_made_here_keep_this_session_and_end_the_others() {
    let mut h = harness().await;
    h.register_and_login("lee").await;
    h.use_session_file("other.session");
    h.ok(&["login", "--user", "lee"], &format!("{PW}\n")).await;
    h.use_session_file("app.db.session");

    // Each change re-stamps this session: the file from before the change
    // is refused afterwards, the file after it is accepted.
    let new = "a brand new passphrase";
    let changes: [(&[&str], String); 3] = [
        (&["password", "change"], format!("{PW}\n{new}\n")),
        (
            &["edit-profile", "--email", "lee2@example.com"],
            format!("{new}\n"),
        ),
        (&["2fa", "enable-sms", "--phone", PHONE], format!("{new}\n")),
    ];
    for (args, stdin) in changes {
        let before = std::fs::read_to_string(h.session_path()).unwrap();
        let o = h.run(args, &stdin).await.unwrap();
        if o.status == "email_confirmation_sent" {
            let token = h.mailed_token("lee2@example.com");
            h.ok(&["confirm-email", "--token", &token], "").await;
        } else if o.pending {
            let code = h.sms_code(PHONE);
            h.ok(&["2fa", "enable-sms", "--code", &code], "").await;
        }
        h.ok(&["whoami"], "").await;
        let after = std::fs::read_to_string(h.session_path()).unwrap();
        std::fs::write(h.session_path(), &before).unwrap();
        h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
        std::fs::write(h.session_path(), &after).unwrap();
        h.ok(&["whoami"], "").await;
    }
    // Disabling the factor too.
    h.pending(&["2fa", "disable"], "").await;
    let code = h.sms_code(PHONE);
    h.ok(&["2fa", "disable", "--code", &code], &format!("{new}\n"))
        .await;
    let o = h.ok(&["whoami"], "").await;
    assert_eq!(o.get("user")["email"], "lee2@example.com");

    // The other terminal was signed out by the first change.
    h.use_session_file("other.session");
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;

    // sign-out-everywhere ends this session and the other one.
    h.ok(&["login", "--user", "lee"], &format!("{new}\n")).await;
    h.use_session_file("app.db.session");
    h.err(
        &["sign-out-everywhere"],
        "wrong password\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.ok(&["whoami"], "").await;
    let o = h.ok(&["sign-out-everywhere"], &format!("{new}\n")).await;
    assert_eq!(o.status, "signed_out_everywhere");
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    h.err(&["sign-out-everywhere"], "", Exit::Auth, "not_logged_in")
        .await;
    h.use_session_file("other.session");
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
}

#[tokio::test]
async fn enrollment_and_email_change_need_a_step_up() {
    let mut h = harness().await;
    h.register_and_login("max").await;
    h.err(
        &["2fa", "enable-totp"],
        "",
        Exit::BadInput,
        "missing_password",
    )
    .await;
    h.err(
        &["2fa", "enable-totp"],
        "wrong password\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.err(
        &["edit-profile", "--email", "max2@example.com"],
        "",
        Exit::BadInput,
        "missing_password",
    )
    .await;
    h.err(
        &["edit-profile", "--email", "max2@example.com"],
        "wrong password\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    // The same address, or only the username: no step-up.
    h.ok(&["edit-profile", "--email", "MAX@example.com"], "")
        .await;
    let o = h.ok(&["edit-profile", "--username", "maxi"], "").await;
    assert_eq!(o.get("user")["email"], "max@example.com");

    // With a factor on, a current code is needed too.
    h.enable_sms().await;
    let o = h
        .pending(
            &[
                "edit-profile",
                "--email",
                "max2@example.com",
                "--username",
                "maximilian",
            ],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "code_sent");
    let code = h.sms_code(PHONE);
    h.err(
        &[
            "edit-profile",
            "--email",
            "max2@example.com",
            "--current-code",
            "000000",
        ],
        &format!("{PW}\n"),
        Exit::Auth,
        "invalid_code",
    )
    .await;
    let o = h
        .pending(
            &[
                "edit-profile",
                "--email",
                "max2@example.com",
                "--username",
                "maximilian",
                "--current-code",
                &code,
            ],
            &format!("{PW}\n"),
        )
        .await;
    // The address waits for the token mailed to it; the old one is told.
    assert_eq!(o.status, "email_confirmation_sent");
    assert_eq!(o.get("user")["email"], "max@example.com");
    assert_eq!(o.get("user")["username"], "maximilian");
    let notice = h.mail.messages().pop().unwrap();
    assert_eq!(notice.to, "max@example.com");
    assert!(notice.body.contains("max2@example.com"));
    let token = h.mailed_token("max2@example.com");
    h.err(
        &["confirm-email", "--token", "garbage"],
        "",
        Exit::Auth,
        "invalid_confirmation_token",
    )
    .await;
    let o = h.ok(&["confirm-email", "--token", &token], "").await;
    assert_eq!(o.get("user")["email"], "max2@example.com");
    h.ok(&["whoami"], "").await;
    // Changing the phone needs the password and a current code as well.
    let o = h
        .pending(
            &["2fa", "enable-sms", "--phone", "+254712345689"],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "code_sent");
    assert_eq!(
        o.get("next"),
        "cli 2fa enable-sms --phone +254712345689 --current-code CODE"
    );
}

#[tokio::test]
async fn remembered_devices_skip_the_code() {
    let mut h = harness().await;
    h.register_and_login("ned").await;
    h.enable_sms().await;
    h.ok(&["logout"], "").await;

    // --remember-device on the first invocation, the code in the second.
    h.pending(
        &["login", "--user", "ned", "--remember-device"],
        &format!("{PW}\n"),
    )
    .await;
    let code = h.sms_code(PHONE);
    let o = h.ok(&["login", "--code", &code], "").await;
    let id = o.get("device_id").as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    assert_eq!(h.file()["device"]["id"], id.as_str());

    // Logout keeps the device; the next login needs only the password.
    h.ok(&["logout"], "").await;
    assert!(h.file()["session"].is_null());
    assert_eq!(h.file()["device"]["id"], id.as_str());
    let sent = h.sms.messages().len();
    let o = h.ok(&["login", "--user", "ned"], &format!("{PW}\n")).await;
    assert_eq!(o.get("device"), "remembered");
    assert_eq!(h.sms.messages().len(), sent, "no code was sent");
    // Wrong passwords are still refused.
    h.err(
        &["login", "--user", "ned"],
        "wrong password\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;

    let o = h.ok(&["devices"], "").await;
    let list = o.get("devices").as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["this_terminal"], true);
    assert!(o.text.contains("(this terminal)"), "{}", o.text);

    h.err(
        &["devices", "forget", "nope"],
        "",
        Exit::BadInput,
        "unknown_device",
    )
    .await;
    let o = h.ok(&["devices", "forget", &id], "").await;
    assert_eq!(o.get("forgotten"), 1);
    assert!(h.file()["device"].is_null());
    let o = h.ok(&["devices"], "").await;
    assert_eq!(o.get("devices").as_array().unwrap().len(), 0);
    h.ok(&["logout"], "").await;
    h.pending(&["login", "--user", "ned"], &format!("{PW}\n"))
        .await;

    // Remembered again, then a password change elsewhere: the code is due.
    h.clock.advance(Duration::from_secs(31));
    h.pending(&["login", "--sms"], "").await;
    let code = h.sms_code(PHONE);
    h.ok(&["login", "--code", &code, "--remember-device"], "")
        .await;
    let id = h.user_id().await;
    let auth = h.ctx.backend.auth.clone();
    let new = "a brand new passphrase";
    auth.send_step_up_code(id).await.unwrap();
    let proof = StepUp::new(PW, Some(h.sms_code(PHONE)));
    auth.change_password(id, &proof, &pw(new)).await.unwrap();
    h.pending(&["login", "--user", "ned"], &format!("{new}\n"))
        .await;
}
