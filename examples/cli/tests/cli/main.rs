//! The `cli` example as a process: help, JSON output, exit codes and bad
//! input, one invocation at a time (these pass on any store; the flows
//! across invocations are in `flows.rs`).

mod admin;
mod database;
mod flask_import;
mod flows;
mod passkeys;
mod support;

use support::Dir;

const PW: &str = "correct horse battery\n";

#[test]
fn help_lists_the_commands_and_exit_codes() {
    let d = Dir::new();
    let r = d.run(&["--help"], "");
    assert_eq!(r.code, 0, "{r:?}");
    for word in [
        "register",
        "login",
        "logout",
        "sign-out-everywhere",
        "whoami",
        "edit-profile",
        "devices",
        "2fa",
        "recovery-codes",
        "password",
        "--password-stdin",
        "--password-fd",
        "--json",
        "Exit status",
        "waiting for a code",
        "session file",
    ] {
        assert!(r.stdout.contains(word), "--help lacks {word}: {}", r.stdout);
    }
    let r = d.run(&["2fa", "--help"], "");
    for word in ["enable-sms", "enable-totp", "disable"] {
        assert!(r.stdout.contains(word), "{}", r.stdout);
    }
    let r = d.run(&["password", "reset", "--help"], "");
    for word in ["request", "complete"] {
        assert!(r.stdout.contains(word), "{}", r.stdout);
    }
    let r = d.run(&["login", "--help"], "");
    for word in ["--code", "--recovery-code", "--user", "--remember-device"] {
        assert!(r.stdout.contains(word), "{}", r.stdout);
    }
    let r = d.run(&["2fa", "enable-totp", "--help"], "");
    for word in ["--code", "--current-code", "--sms"] {
        assert!(r.stdout.contains(word), "{}", r.stdout);
    }
    let r = d.run(&["edit-profile", "--help"], "");
    for word in ["--email", "--current-code", "--sms"] {
        assert!(r.stdout.contains(word), "{}", r.stdout);
    }
    let r = d.run(&["devices", "--help"], "");
    assert!(r.stdout.contains("forget"), "{}", r.stdout);
    // No command: usage, exit 2.
    assert_eq!(d.run(&[], "").code, 2);
}

#[test]
fn register_prints_one_json_object() {
    let d = Dir::new();
    let j = d
        .expect(
            &[
                "register",
                "--username",
                "alice",
                "--email",
                "Alice@Example.com",
                "--password-stdin",
            ],
            PW,
            0,
        )
        .json();
    assert_eq!(j["status"], "registered");
    assert_eq!(j["user"]["username"], "alice");
    assert_eq!(j["user"]["email"], "alice@example.com");
    assert_eq!(j["user"]["two_factor"], false);
    assert!(j["user"]["id"].is_i64());
}

#[test]
fn bad_input_exits_2() {
    let d = Dir::with_database();
    let reg = |u: &'static str, e: &'static str| {
        [
            "register",
            "--username",
            u,
            "--email",
            e,
            "--password-stdin",
        ]
    };
    d.fails(&reg("bob", "not-an-email"), PW, 2, "invalid_email");
    d.fails(&reg("b o b", "bob@example.com"), PW, 2, "invalid_username");
    d.fails(
        &reg("bob", "bob@example.com"),
        "password\n",
        2,
        "weak_password",
    );
    d.fails(&reg("bob", "bob@example.com"), "bob\n", 2, "weak_password");
    d.fails(&reg("bob", "bob@example.com"), "", 2, "missing_password");
    // No password source and no terminal.
    d.fails(
        &[
            "register",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
        ],
        "",
        2,
        "missing_password",
    );
    d.fails(&["login", "--code", "12ab56"], "", 2, "malformed_code");
    d.fails(&["login", "--code", "1234567"], "", 2, "malformed_code");
    d.fails(
        &["login", "--user", "bob", "--password-fd", "9"],
        "",
        2,
        "password_unreadable",
    );
    // Argument errors are JSON too with --json.
    for args in [
        &["register", "--username", "bob"][..],
        &[
            "2fa",
            "enable-sms",
            "--phone",
            "+14155552671",
            "--code",
            "123456",
        ],
        &["2fa", "disable", "--factor", "email"],
        &["login", "--password-stdin", "--password-fd", "0"],
        &[
            "2fa",
            "enable-totp",
            "--code",
            "123456",
            "--current-code",
            "654321",
        ],
        &[
            "edit-profile",
            "--username",
            "bob",
            "--current-code",
            "123456",
        ],
        &["devices", "forget"],
        &["devices", "forget", "abc", "--all"],
        &["frobnicate"],
    ] {
        let j = d.fails(args, "", 2, "usage");
        assert!(j["error"]["message"].as_str().unwrap().len() > 5, "{j}");
    }
}

#[test]
fn authentication_failures_exit_3() {
    let d = Dir::with_database();
    d.fails(
        &["login", "--user", "nobody", "--password-stdin"],
        PW,
        3,
        "invalid_credentials",
    );
    // Through a file descriptor (here 0, the pipe).
    d.fails(
        &[
            "login",
            "--user",
            "nobody@example.com",
            "--password-fd",
            "0",
        ],
        PW,
        3,
        "invalid_credentials",
    );
    d.fails(&["login", "--code", "123456"], "", 3, "no_pending_login");
    for args in [
        &["whoami"][..],
        &["profile"],
        &["2fa", "enable-totp"],
        &["2fa", "enable-sms", "--phone", "+14155552671"],
        &["2fa", "disable"],
        &["recovery-codes", "regenerate"],
        &["password", "change"],
        &["edit-profile", "--email", "x@example.com"],
        &["sign-out-everywhere"],
        &["devices"],
        &["devices", "forget", "--all"],
    ] {
        d.fails(args, "", 3, "not_logged_in");
    }
    d.fails(
        &[
            "password",
            "reset",
            "complete",
            "--token",
            "AAAAAAAAAAEAAAGZ",
            "--password-stdin",
        ],
        PW,
        3,
        "invalid_reset_token",
    );
}

#[test]
fn text_mode_errors_go_to_stderr() {
    let d = Dir::with_database();
    let r = d.run(&["login", "--user", "nobody", "--password-stdin"], PW);
    assert_eq!(r.code, 3);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("error: invalid username or password"),
        "{r:?}"
    );
}

#[test]
fn reset_request_answers_the_same_for_unknown_addresses() {
    let d = Dir::with_database();
    let j = d
        .expect(
            &[
                "password",
                "reset",
                "request",
                "--email",
                "nobody@example.com",
            ],
            "",
            0,
        )
        .json();
    assert_eq!(j["status"], "reset_requested");
    d.fails(
        &["password", "reset", "request", "--email", "nobody"],
        "",
        2,
        "invalid_email",
    );
}

#[test]
fn info_reports_the_set_up() {
    let d = Dir::with_database();
    let j = d.expect(&["info"], "", 0).json();
    assert_eq!(j["db"], d.db());
    assert_eq!(j["console_codes"], true);
    assert!(j["persistent"].is_boolean());
    assert!(
        j["session_file"]
            .as_str()
            .unwrap()
            .ends_with("app.db.session")
    );
}
