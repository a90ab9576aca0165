//! `cli admin ...`: an operator's support actions, each recorded in the
//! audit trail with the operator and reason, each mailing the user a notice.

use serde_json::Value;

use crate::support::Dir;

const PW: &str = "correct horse battery\n";
const PHONE: &str = "+14155552671";

fn register(d: &Dir, name: &str) {
    d.register(name, PW);
}

fn login(d: &Dir, name: &str) -> Value {
    d.expect(&["login", "--user", name, "--password-stdin"], PW, 0)
        .json()
}

/// `admin ACTION --user NAME --operator jane --reason ...`, expecting success
/// and a notice mailed to the user.
fn act(d: &Dir, action: &str, name: &str) -> Value {
    let r = d.expect(
        &[
            "admin",
            action,
            "--user",
            name,
            "--operator",
            "jane",
            "--reason",
            "ticket #4821: lost phone",
        ],
        "",
        0,
    );
    let to = format!("[email to {name}@example.com] Security notice");
    assert!(r.stderr.contains(&to), "no notice for {action}: {r:?}");
    r.json()
}

fn events(d: &Dir, name: &str) -> Vec<Value> {
    let j = d.expect(&["admin", "export", "--user", name], "", 0).json();
    j["events"].as_array().expect("events").clone()
}

/// The newest admin record: kind, operator and reason.
fn last_admin(d: &Dir, name: &str) -> (String, String, String) {
    let all = events(d, name);
    let e = all
        .iter()
        .find(|e| e["kind"].as_str().unwrap_or("").starts_with("admin_"))
        .expect("an admin record");
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    (s("kind"), s("operator"), s("reason"))
}

#[test]
fn find_show_and_export() {
    let d = Dir::with_database();
    register(&d, "alice");
    login(&d, "alice");
    d.fails(
        &["login", "--user", "alice", "--password-stdin"],
        "wrong password here\n",
        3,
        "invalid_credentials",
    );
    for query in ["alice", "ALICE", "alice@example.com", " Alice@Example.com "] {
        let j = d.expect(&["admin", "find", query], "", 0).json();
        assert_eq!(j["user"]["username"], "alice", "{query}");
    }
    d.fails(&["admin", "find", "nobody"], "", 3, "user_not_found");
    d.fails(&["admin", "find", PHONE], "", 3, "user_not_found");
    let j = d
        .expect(&["admin", "show", "--user", "alice"], "", 0)
        .json();
    assert_eq!(j["locked_for_secs"], Value::Null);
    let kinds: Vec<_> = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["login_failed", "login_succeeded", "registered"]);
    // The export is JSON in text mode too, and holds no password.
    let r = d.run(&["admin", "export", "--user", "alice"], "");
    assert_eq!(r.code, 0, "{r:?}");
    let exported: Vec<Value> = serde_json::from_str(&r.stdout).expect("a JSON array");
    assert_eq!(exported.len(), 3);
    assert!(!r.stdout.contains("correct horse"), "{}", r.stdout);
    assert!(!r.stdout.contains("wrong password"), "{}", r.stdout);
    d.fails(
        &["admin", "show", "--user", "nobody"],
        "",
        3,
        "user_not_found",
    );
    d.fails(
        &["admin", "export", "--user", "nobody"],
        "",
        3,
        "user_not_found",
    );
}

#[test]
fn lock_and_unlock() {
    let d = Dir::with_database();
    register(&d, "bob");
    login(&d, "bob");
    act(&d, "lock", "bob");
    assert_eq!(
        last_admin(&d, "bob"),
        (
            "admin_locked".into(),
            "jane".into(),
            "ticket #4821: lost phone".into()
        )
    );
    // The session ended; logins by username and by email are locked.
    d.fails(&["whoami"], "", 3, "not_logged_in");
    d.fails(
        &["login", "--user", "bob", "--password-stdin"],
        PW,
        4,
        "locked",
    );
    d.fails(
        &["login", "--user", "bob@example.com", "--password-stdin"],
        PW,
        4,
        "locked",
    );
    let j = d.expect(&["admin", "show", "--user", "bob"], "", 0).json();
    assert!(j["locked_for_secs"].as_u64().unwrap() > 3600, "{j}");
    act(&d, "unlock", "bob");
    assert_eq!(last_admin(&d, "bob").0, "admin_unlocked");
    login(&d, "bob");
}

#[test]
fn reset_second_factor() {
    let d = Dir::with_database();
    register(&d, "carol");
    login(&d, "carol");
    let r = d.expect(
        &["2fa", "enable-sms", "--phone", PHONE, "--password-stdin"],
        PW,
        6,
    );
    let code = r.sms_code(PHONE);
    d.expect(&["2fa", "enable-sms", "--code", &code], "", 0);
    d.expect(&["logout"], "", 0);
    // Found by phone, in any spacing.
    let j = d
        .expect(&["admin", "find", "+1 415 555-2671"], "", 0)
        .json();
    assert_eq!(j["user"]["sms"], true);
    let j = d
        .expect(&["login", "--user", "carol", "--password-stdin"], PW, 6)
        .json();
    assert_eq!(j["status"], "code_required");
    act(&d, "reset-second-factor", "carol");
    assert_eq!(last_admin(&d, "carol").0, "admin_second_factor_reset");
    let j = d
        .expect(&["admin", "show", "--user", "carol"], "", 0)
        .json();
    assert_eq!(
        (j["user"]["sms"].clone(), j["recovery_codes_left"].clone()),
        (Value::Bool(false), Value::from(0))
    );
    // The pending login died with the reset; a new one needs no code.
    d.fails(&["login", "--code", &code], "", 3, "no_pending_login");
    assert_eq!(login(&d, "carol")["status"], "logged_in");
}

#[test]
fn revoke_sessions() {
    let d = Dir::with_database();
    register(&d, "dave");
    login(&d, "dave");
    d.expect(&["whoami"], "", 0);
    let j = act(&d, "revoke-sessions", "dave");
    assert_eq!(j["action"], "sessions_revoked");
    d.fails(&["whoami"], "", 3, "not_logged_in");
    assert_eq!(last_admin(&d, "dave").0, "admin_sessions_revoked");
}

#[test]
fn force_password_reset() {
    let d = Dir::with_database();
    register(&d, "erin");
    login(&d, "erin");
    act(&d, "force-password-reset", "erin");
    d.fails(&["whoami"], "", 3, "not_logged_in");
    // The old password fails like any wrong one.
    d.fails(
        &["login", "--user", "erin", "--password-stdin"],
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
            "erin@example.com",
        ],
        "",
        0,
    );
    let token = r
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "--token")
        .nth(1)
        .expect("a token in the email")
        .to_owned();
    let new = "a brand new passphrase\n";
    d.expect(
        &[
            "password",
            "reset",
            "complete",
            "--token",
            &token,
            "--password-stdin",
        ],
        new,
        0,
    );
    d.expect(&["login", "--user", "erin", "--password-stdin"], new, 0);
    assert_eq!(last_admin(&d, "erin").0, "admin_password_reset_forced");
}

#[test]
fn bad_operator_input_changes_nothing() {
    let d = Dir::with_database();
    register(&d, "frank");
    let base = |op: &'static str, reason: &'static str| {
        [
            "admin",
            "lock",
            "--user",
            "frank",
            "--operator",
            op,
            "--reason",
            reason,
        ]
    };
    d.fails(&base("", "a fine reason"), "", 2, "invalid_operator");
    d.fails(&base("   ", "a fine reason"), "", 2, "invalid_operator");
    d.fails(&base("jane", "no"), "", 2, "invalid_operator");
    d.fails(
        &base("jane\u{1b}[2J", "a fine reason"),
        "",
        2,
        "invalid_operator",
    );
    d.fails(&base("jane", "line\nbreak"), "", 2, "invalid_operator");
    let long = "x".repeat(201);
    d.fails(
        &[
            "admin",
            "lock",
            "--user",
            "frank",
            "--operator",
            "jane",
            "--reason",
            &long,
        ],
        "",
        2,
        "invalid_operator",
    );
    // Missing flags are usage errors.
    d.fails(
        &[
            "admin",
            "lock",
            "--user",
            "frank",
            "--reason",
            "a fine reason",
        ],
        "",
        2,
        "usage",
    );
    d.fails(
        &["admin", "lock", "--user", "frank", "--operator", "jane"],
        "",
        2,
        "usage",
    );
    // An unknown account: nothing done.
    d.fails(
        &[
            "admin",
            "lock",
            "--user",
            "nobody",
            "--operator",
            "jane",
            "--reason",
            "a fine reason",
        ],
        "",
        3,
        "user_not_found",
    );
    assert!(
        events(&d, "frank")
            .iter()
            .all(|e| !e["kind"].as_str().unwrap().starts_with("admin_"))
    );
    login(&d, "frank");
}
