//! The tutorial's flows through the `cli` example, one process per step,
//! as a person or a script would run them, on a SQLite file that keeps the
//! state between processes.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Dir, Run};
use serde_json::Value;

const PW: &str = "correct horse battery\n";
const PHONE: &str = "+14155552671";

/// A temp database that keeps state between processes.
fn persistent_dir(_test: &str) -> Option<Dir> {
    let d = Dir::with_database();
    let info = d.expect(&["info"], "", 0).json();
    assert_eq!(
        info["persistent"], true,
        "the CLI must run on a persistent store: {}",
        info["setup"]
    );
    Some(d)
}

/// `2fa enable-totp` with a current code and the password on stdin.
fn enable_totp(current: &str) -> [&str; 5] {
    [
        "2fa",
        "enable-totp",
        "--current-code",
        current,
        "--password-stdin",
    ]
}

fn totp_now(uri: &str) -> String {
    let t = totp_rs::Totp::from_url(uri).expect("otpauth URI");
    t.generate_current().to_string()
}

/// Waits for the next 30-second TOTP step (each step is accepted once).
fn next_totp_step() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let left = 30_000 - (now % 30_000) as u64;
    std::thread::sleep(Duration::from_millis(left + 200));
}

pub(crate) fn register_and_login(d: &Dir, name: &str) {
    d.register(name, PW);
    let j = d
        .expect(&["login", "--user", name, "--password-stdin"], PW, 0)
        .json();
    assert_eq!(j["status"], "logged_in");
}

#[test]
fn register_sms_login_totp_login_disable() {
    let Some(d) = persistent_dir("register_sms_login_totp_login_disable") else {
        return;
    };
    register_and_login(&d, "alice");
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["user"]["username"], "alice");
    assert_eq!(j["user"]["two_factor"], false);

    // Enable SMS: one invocation sends (exit 6), the next confirms.
    let r = d.expect(
        &[
            "2fa",
            "enable-sms",
            "--phone",
            "+1 415 555 2671",
            "--password-stdin",
        ],
        PW,
        6,
    );
    assert_eq!(r.json()["status"], "code_sent");
    let code = r.sms_code(PHONE);
    let j = d
        .expect(&["2fa", "enable-sms", "--code", &code], "", 0)
        .json();
    assert_eq!(j["status"], "sms_enabled");
    let recovery: Vec<String> = j["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // Login with the SMS code.
    d.expect(&["logout"], "", 0);
    d.fails(&["whoami"], "", 3, "not_logged_in");
    let r = d.expect(&["login", "--user", "alice", "--password-stdin"], PW, 6);
    let j = r.json();
    assert_eq!(j["status"], "code_required");
    assert_eq!(j["sms"]["state"], "sent");
    let code = r.sms_code(PHONE);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let j = d.fails(&["login", "--code", wrong], "", 3, "invalid_code");
    assert_eq!(j["error"]["attempts_left"], 4);
    let j = d.expect(&["login", "--code", &code], "", 0).json();
    assert_eq!(j["status"], "logged_in");

    // Enable the authenticator app: SMS is on, so the password and a
    // current code are needed; the first invocation texts the code.
    let r = d.expect(&["2fa", "enable-totp"], "", 6);
    assert_eq!(r.json()["status"], "code_sent");
    let code = r.sms_code(PHONE);
    let j = d.expect(&enable_totp(&code), PW, 6).json();
    let uri = j["otpauth_uri"].as_str().expect("uri").to_owned();
    assert!(j["secret"].is_string());
    // In text mode the QR code and the key are printed (a recovery code
    // as the current code this time: the SMS one was used up).
    d.fails(&enable_totp(&code), PW, 3, "invalid_code");
    let text = d.run(&enable_totp(&recovery[1]), PW);
    assert_eq!(text.code, 6, "{text:?}");
    assert!(text.stdout.contains('█') && text.stdout.contains("enter this key"));
    let uri2 = d.expect(&enable_totp(&recovery[2]), PW, 6).json()["otpauth_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    assert_ne!(uri, uri2, "a new start replaces the pending secret");
    let j = d
        .expect(&["2fa", "enable-totp", "--code", &totp_now(&uri2)], "", 0)
        .json();
    assert_eq!(j["status"], "totp_enabled");
    assert_eq!(j["user"]["totp_enabled"], true);

    // Login with the app's code, in one invocation.
    next_totp_step();
    d.expect(&["logout"], "", 0);
    let r = d.expect(
        &[
            "login",
            "--user",
            "alice",
            "--password-stdin",
            "--code",
            &totp_now(&uri2),
        ],
        PW,
        0,
    );
    assert!(!r.stderr.contains("[sms to"), "no SMS when the app is on");

    // Disable: the app with a recovery code as the current code, then SMS
    // with a step-up code sent by SMS.
    d.fails(&["2fa", "disable"], "", 2, "factor_required");
    d.fails(
        &[
            "2fa",
            "disable",
            "--factor",
            "totp",
            "--code",
            &recovery[0],
            "--password-stdin",
        ],
        "not my password\n",
        3,
        "invalid_credentials",
    );
    let j = d
        .expect(
            &[
                "2fa",
                "disable",
                "--factor",
                "totp",
                "--code",
                &recovery[0],
                "--password-stdin",
            ],
            PW,
            0,
        )
        .json();
    assert_eq!(j["factors"], serde_json::json!(["sms"]));
    let r = d.expect(&["2fa", "disable"], "", 6);
    assert_eq!(r.json()["status"], "code_sent");
    let code = r.sms_code(PHONE);
    let j = d
        .expect(
            &["2fa", "disable", "--code", &code, "--password-stdin"],
            PW,
            0,
        )
        .json();
    assert_eq!(j["user"]["two_factor"], false);
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["recovery_codes_left"], 0);
    // Login is one step again.
    d.expect(&["logout"], "", 0);
    d.expect(&["login", "--user", "alice", "--password-stdin"], PW, 0);
}

#[test]
fn bad_input_with_a_session() {
    let Some(d) = persistent_dir("bad_input_with_a_session") else {
        return;
    };
    register_and_login(&d, "bob");
    for phone in ["12", "not a phone", "+1 555 0100"] {
        d.fails(
            &["2fa", "enable-sms", "--phone", phone, "--password-stdin"],
            PW,
            2,
            "invalid_phone",
        );
    }
    d.fails(
        &["2fa", "enable-sms", "--code", "12345"],
        "",
        2,
        "malformed_code",
    );
    d.fails(
        &["2fa", "enable-sms", "--code", "123456"],
        "",
        3,
        "no_enrollment",
    );
    d.fails(
        &["2fa", "enable-totp", "--code", "abcdef"],
        "",
        2,
        "malformed_code",
    );
    d.fails(&["2fa", "disable"], "", 2, "not_enabled");
    d.fails(
        &["edit-profile", "--email", "not-an-email"],
        "",
        2,
        "invalid_email",
    );
    register_and_login(&d, "carol");
    d.fails(
        &["edit-profile", "--username", "BOB"],
        "",
        2,
        "username_taken",
    );
    let j = d
        .expect(&["edit-profile", "--username", "caroline"], "", 0)
        .json();
    assert_eq!(j["user"]["username"], "caroline");
    d.fails(
        &["password", "change", "--password-stdin"],
        "correct horse battery\npassword\n",
        2,
        "weak_password",
    );
}

#[test]
fn password_change_and_reset() {
    let Some(d) = persistent_dir("password_change_and_reset") else {
        return;
    };
    register_and_login(&d, "dave");
    d.expect(
        &["password", "change", "--password-stdin"],
        "correct horse battery\na brand new passphrase\n",
        0,
    );
    d.fails(
        &["login", "--user", "dave", "--password-stdin"],
        PW,
        3,
        "invalid_credentials",
    );
    let r = d.expect(
        &[
            "password",
            "reset",
            "request",
            "--email",
            "dave@example.com",
        ],
        "",
        0,
    );
    assert!(r.stderr.contains("[email to dave@example.com]"), "{r:?}");
    let token = r
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "--token")
        .nth(1)
        .expect("a token in the email")
        .to_owned();
    let j = d
        .expect(
            &[
                "password",
                "reset",
                "complete",
                "--token",
                &token,
                "--password-stdin",
            ],
            "third time lucky!\n",
            0,
        )
        .json();
    assert_eq!(j["status"], "password_reset");
    d.fails(
        &[
            "password",
            "reset",
            "complete",
            "--token",
            &token,
            "--password-stdin",
        ],
        "fourth time lucky!\n",
        3,
        "invalid_reset_token",
    );
    d.expect(
        &["login", "--user", "dave", "--password-stdin"],
        "third time lucky!\n",
        0,
    );
}

#[test]
fn repeated_failures_exit_4() {
    let Some(d) = persistent_dir("repeated_failures_exit_4") else {
        return;
    };
    register_and_login(&d, "erin");
    let mut last = Value::Null;
    for _ in 0..8 {
        let r = d.run(
            &["--json", "login", "--user", "erin", "--password-stdin"],
            "wrong password\n",
        );
        last = r.json();
        if r.code == 4 {
            break;
        }
        assert_eq!(r.code, 3, "{r:?}");
    }
    assert_eq!(last["exit_code"], 4, "{last}");
    assert_eq!(last["error"]["kind"], "delayed");
    assert!(last["error"]["retry_after_secs"].as_u64().unwrap_or(0) >= 1);
}

/// `--session FILE ARGS`: the same user in another terminal.
fn in_terminal<'a>(file: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--session", file];
    v.extend_from_slice(args);
    v
}

/// Turns SMS codes on (the first factor); the recovery codes it gives.
pub(crate) fn enable_sms(d: &Dir) -> Vec<String> {
    let r = d.expect(
        &["2fa", "enable-sms", "--phone", PHONE, "--password-stdin"],
        PW,
        6,
    );
    let code = r.sms_code(PHONE);
    let j = d
        .expect(&["2fa", "enable-sms", "--code", &code], "", 0)
        .json();
    j["recovery_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_password_change_in_one_terminal_ends_the_other() {
    let Some(d) = persistent_dir("a_password_change_in_one_terminal_ends_the_other") else {
        return;
    };
    register_and_login(&d, "frank");
    let other = d.dir.path().join("other.session");
    let other = other.to_str().expect("utf-8 path");
    d.expect(
        &in_terminal(other, &["login", "--user", "frank", "--password-stdin"]),
        PW,
        0,
    );
    d.expect(&in_terminal(other, &["whoami"]), "", 0);

    // The first terminal changes the password: it stays logged in, the
    // other one is out, and its file loses the session.
    let new = "a brand new passphrase\n";
    d.expect(
        &["password", "change", "--password-stdin"],
        &format!("{PW}{new}"),
        0,
    );
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["user"]["username"], "frank");
    d.fails(&in_terminal(other, &["whoami"]), "", 3, "not_logged_in");
    assert!(
        !std::path::Path::new(other).exists(),
        "the ended session is removed from its file"
    );

    // Logged in again there; then "sign out everywhere" from the first
    // terminal ends both.
    d.expect(
        &in_terminal(other, &["login", "--user", "frank", "--password-stdin"]),
        new,
        0,
    );
    d.expect(&in_terminal(other, &["whoami"]), "", 0);
    d.fails(&["sign-out-everywhere"], "", 2, "missing_password");
    d.expect(&["whoami"], "", 0);
    let j = d
        .expect(&["sign-out-everywhere", "--password-stdin"], new, 0)
        .json();
    assert_eq!(j["status"], "signed_out_everywhere");
    d.fails(&["whoami"], "", 3, "not_logged_in");
    d.fails(&in_terminal(other, &["whoami"]), "", 3, "not_logged_in");
}

#[test]
fn enable_totp_needs_the_password() {
    let Some(d) = persistent_dir("enable_totp_needs_the_password") else {
        return;
    };
    register_and_login(&d, "gina");
    // No terminal, no password source; then an empty one; then a wrong one.
    d.fails(&["2fa", "enable-totp"], "", 2, "missing_password");
    d.fails(
        &["2fa", "enable-totp", "--password-stdin"],
        "",
        2,
        "missing_password",
    );
    d.fails(
        &["2fa", "enable-totp", "--password-stdin"],
        "wrong password\n",
        3,
        "invalid_credentials",
    );
    // None of them started an enrollment.
    d.fails(
        &["2fa", "enable-totp", "--code", "123456"],
        "",
        3,
        "no_enrollment",
    );
    let j = d
        .expect(&["2fa", "enable-totp", "--password-stdin"], PW, 6)
        .json();
    let uri = j["otpauth_uri"].as_str().expect("uri").to_owned();
    let j = d
        .expect(&["2fa", "enable-totp", "--code", &totp_now(&uri)], "", 0)
        .json();
    assert_eq!(j["user"]["totp_enabled"], true);
    // Still logged in: the change was made here.
    d.expect(&["whoami"], "", 0);
}

#[test]
fn a_remembered_device_skips_the_code_until_the_password_changes() {
    let Some(d) = persistent_dir("a_remembered_device_skips_the_code_until_the_password_changes")
    else {
        return;
    };
    register_and_login(&d, "hank");
    enable_sms(&d);
    d.expect(&["logout"], "", 0);
    let login = ["login", "--user", "hank", "--password-stdin"];

    let mut args = login.to_vec();
    args.push("--remember-device");
    let r = d.expect(&args, PW, 6);
    let code = r.sms_code(PHONE);
    let j = d.expect(&["login", "--code", &code], "", 0).json();
    let id = j["device_id"].as_str().expect("a device id").to_owned();
    d.expect(&["logout"], "", 0);

    // Password only: no code asked, none sent.
    let r = d.expect(&login, PW, 0);
    assert_eq!(r.json()["device"], "remembered");
    assert!(!r.stderr.contains("[sms to"), "{r:?}");
    let j = d.expect(&["devices"], "", 0).json();
    assert_eq!(j["devices"][0]["id"], id.as_str());
    assert_eq!(j["devices"][0]["this_terminal"], true);

    // A password change ends every remembered device, this one included.
    // With 2FA on it asks for a current code too.
    let new = "a brand new passphrase\n";
    let r = d.expect(&["password", "change", "--password-stdin"], "", 6);
    assert_eq!(r.json()["status"], "code_sent");
    let code = r.sms_code(PHONE);
    d.expect(
        &[
            "password",
            "change",
            "--current-code",
            &code,
            "--password-stdin",
        ],
        &format!("{PW}{new}"),
        0,
    );
    let j = d.expect(&["devices"], "", 0).json();
    assert_eq!(j["devices"], serde_json::json!([]));
    d.expect(&["logout"], "", 0);
    let r = d.expect(&login, new, 6);
    assert_eq!(r.json()["status"], "code_required");
    assert_eq!(r.sms_code(PHONE).len(), 6);
}

#[test]
fn an_email_change_needs_a_step_up() {
    let Some(d) = persistent_dir("an_email_change_needs_a_step_up") else {
        return;
    };
    register_and_login(&d, "ivy");
    let change = |email: &'static str| ["edit-profile", "--email", email, "--password-stdin"];
    // `confirm-email` with the token mailed in a run's output.
    let confirm = |r: &Run| {
        let token = r
            .stderr
            .split_whitespace()
            .skip_while(|w| *w != "--token")
            .nth(1)
            .expect("a mailed token")
            .to_owned();
        d.expect(&["confirm-email", "--token", &token], "", 0)
    };
    d.fails(
        &["edit-profile", "--email", "ivy2@example.com"],
        "",
        2,
        "missing_password",
    );
    d.fails(
        &change("ivy2@example.com"),
        "wrong password\n",
        3,
        "invalid_credentials",
    );
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["user"]["email"], "ivy@example.com");
    // The new address gets a token; nothing changes until it is used.
    let r = d.expect(&change("ivy2@example.com"), PW, 6);
    assert_eq!(r.json()["status"], "email_confirmation_sent");
    assert!(
        r.stderr
            .contains("[email to ivy@example.com] Security notice")
    );
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["user"]["email"], "ivy@example.com");
    let j = confirm(&r).json();
    assert_eq!(j["user"]["email"], "ivy2@example.com");
    let j = d.expect(&["whoami"], "", 0).json();
    assert_eq!(j["user"]["email"], "ivy2@example.com");

    // With SMS on, the password alone is not enough: a code is texted,
    // and the change goes through with it.
    enable_sms(&d);
    let r = d.expect(&change("ivy3@example.com"), PW, 6);
    assert_eq!(r.json()["status"], "code_sent");
    let code = r.sms_code(PHONE);
    let mut args = change("ivy3@example.com").to_vec();
    args.extend(["--current-code", &code]);
    let r = d.expect(&args, PW, 6);
    let j = confirm(&r).json();
    assert_eq!(j["user"]["email"], "ivy3@example.com");
    // The username alone needs nothing more.
    let j = d
        .expect(&["edit-profile", "--username", "ivy_r"], "", 0)
        .json();
    assert_eq!(j["user"]["username"], "ivy_r");
}
