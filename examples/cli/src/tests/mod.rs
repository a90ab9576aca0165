//! In-process tests of the commands: one authenticator (in memory, on a
//! manual clock) shared by successive "invocations", each with its own
//! input, as a persistent store would be shared by successive processes.

use std::collections::VecDeque;
use std::io::{self, Cursor, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use twofa_verify::clock::ManualClock;
use twofa_verify::factor::{ConsoleSms, LocalCodes};
use twofa_verify::{Authenticator, MemoryStore, Timestamp};

use crate::Cli;
use crate::commands::{self, Ctx};
use crate::input::{Input, Prompter};
use crate::output::{CliError, Exit, Outcome};
use crate::session::Sessions;
use demo_support::{Backend, ConsoleMail, Mailer};

mod sessions;

const PW: &str = "correct horse battery";
const PHONE: &str = "+14155552671";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

type LineFn = Box<dyn FnMut(&str) -> Option<String>>;

/// A person at a terminal, played by the test.
struct Scripted {
    secrets: VecDeque<String>,
    lines: LineFn,
}

impl Prompter for Scripted {
    fn interactive(&self) -> bool {
        true
    }
    fn secret(&mut self, _prompt: &str) -> io::Result<Option<String>> {
        Ok(self.secrets.pop_front())
    }
    fn line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        Ok((self.lines)(prompt))
    }
}

/// No terminal (a script).
struct NoTerminal;

impl Prompter for NoTerminal {
    fn interactive(&self) -> bool {
        false
    }
    fn secret(&mut self, _: &str) -> io::Result<Option<String>> {
        Ok(None)
    }
    fn line(&mut self, _: &str) -> io::Result<Option<String>> {
        Ok(None)
    }
}

struct H {
    ctx: Ctx,
    sms: ConsoleSms,
    mail: ConsoleMail,
    clock: ManualClock,
    notes: Buf,
    dir: tempfile::TempDir,
}

async fn harness() -> H {
    harness_with(twofa_verify::Policy::default()).await
}

async fn harness_with(policy: twofa_verify::Policy) -> H {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let sms = ConsoleSms::quiet();
    let key = twofa_verify::SecretKey::from_bytes((1..=32).collect::<Vec<u8>>()).unwrap();
    let store = MemoryStore::new();
    let auth = Authenticator::builder()
        .store(store.clone())
        .secret_key(key.clone())
        .clock(clock.clone())
        .sms(LocalCodes::new(sms.clone()))
        .policy(policy)
        .build()
        .unwrap();
    let mail = ConsoleMail::default();
    let backend = Backend {
        auth,
        console_sms: Some(sms.clone()),
        mailer: Mailer::Console(mail.clone()),
        summary: "store: in memory (test)".into(),
        state: std::sync::Arc::new(store.clone()),
        secret_key: key.clone(),
        profiles: demo_support::profiles::ProfileStore::in_memory()
            .await
            .unwrap(),
    };
    let sessions = Sessions::new(
        dir.path().join("app.db.session"),
        &key,
        Arc::new(store),
        Arc::new(clock.clone()),
    );
    let notes = Buf::default();
    let ctx = Ctx::new(
        "app.db".into(),
        backend,
        sessions,
        Arc::new(clock.clone()),
        Input::new(None, Box::new(NoTerminal)),
        Box::new(notes.clone()),
        Box::new(io::sink()),
    );
    H {
        ctx,
        sms,
        mail,
        clock,
        notes,
        dir,
    }
}

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("cli").chain(args.iter().copied())).unwrap()
}

impl H {
    /// One scripted invocation: passwords from "stdin", no terminal.
    async fn run(&mut self, args: &[&str], stdin: &str) -> Result<Outcome, CliError> {
        let cli = parse(args);
        self.ctx.input = Input::new(
            Some((Box::new(Cursor::new(stdin.to_owned())), "stdin".into())),
            Box::new(NoTerminal),
        );
        commands::run(&cli.command, &mut self.ctx).await
    }

    /// One interactive invocation.
    async fn run_tty(
        &mut self,
        args: &[&str],
        secrets: &[&str],
        lines: LineFn,
    ) -> Result<Outcome, CliError> {
        let cli = parse(args);
        self.ctx.input = Input::new(
            None,
            Box::new(Scripted {
                secrets: secrets.iter().map(|s| s.to_string()).collect(),
                lines,
            }),
        );
        commands::run(&cli.command, &mut self.ctx).await
    }

    async fn ok(&mut self, args: &[&str], stdin: &str) -> Outcome {
        match self.run(args, stdin).await {
            Ok(o) => {
                assert_eq!(o.exit(), Exit::Ok, "{args:?}: {o:?}");
                o
            }
            Err(e) => panic!("{args:?} failed: {e:?}"),
        }
    }

    async fn pending(&mut self, args: &[&str], stdin: &str) -> Outcome {
        let o = self.run(args, stdin).await.unwrap();
        assert_eq!(o.exit(), Exit::Pending, "{args:?}: {o:?}");
        assert!(o.to_json()["next"].is_string());
        o
    }

    async fn err(&mut self, args: &[&str], stdin: &str, exit: Exit, kind: &str) -> CliError {
        match self.run(args, stdin).await {
            Ok(o) => panic!("{args:?} succeeded: {o:?}"),
            Err(e) => {
                assert_eq!((e.exit, e.kind), (exit, kind), "{args:?}: {e:?}");
                e
            }
        }
    }

    /// The token of the last email to `to` (the word after `--token`).
    fn mailed_token(&self, to: &str) -> String {
        let mail = self
            .mail
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .expect("an email");
        mail.body
            .split_whitespace()
            .skip_while(|w| *w != "--token")
            .nth(1)
            .expect("a token")
            .to_owned()
    }

    fn sms_code(&self, phone: &str) -> String {
        self.sms.last_code_for(phone).expect("an SMS code")
    }

    fn totp(&self, uri: &str) -> String {
        let t = totp_rs::Totp::from_url(uri).unwrap();
        let secs = u64::try_from(twofa_verify::clock::Clock::now(&self.clock).as_secs()).unwrap();
        t.generate(secs).to_string()
    }

    async fn register_and_login(&mut self, name: &str) {
        let email = format!("{name}@example.com");
        self.ok(
            &["register", "--username", name, "--email", &email],
            &format!("{PW}\n"),
        )
        .await;
        let o = self
            .ok(&["login", "--user", name], &format!("{PW}\n"))
            .await;
        assert_eq!(o.status, "logged_in");
    }
}

fn a_wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// A second factor required with a grace of one sign-in: the first login
/// signs in and says what is left and how to enroll; the next one is
/// refused with `enrollment_required` and leaves no session; once a factor
/// is on, the login asks for it as usual.
#[tokio::test]
async fn a_required_second_factor_in_its_grace_and_after() {
    let mut policy = twofa_verify::Policy::default();
    policy.second_factor_required =
        Some(twofa_verify::policy::SecondFactorRequirement::everyone().grace_sign_ins(1));
    let mut h = harness_with(policy).await;
    h.ok(
        &[
            "register",
            "--username",
            "erin",
            "--email",
            "erin@example.com",
        ],
        &format!("{PW}\n"),
    )
    .await;
    let o = h.ok(&["login", "--user", "erin"], &format!("{PW}\n")).await;
    assert_eq!(o.status, "logged_in");
    assert_eq!(o.get("enrollment"), "due");
    assert!(o.text.contains("0 more sign-ins"), "{}", o.text);
    assert!(o.text.contains("cli 2fa enable-totp"), "{}", o.text);
    h.ok(&["logout"], "").await;

    let e = h
        .err(
            &["login", "--user", "erin"],
            &format!("{PW}\n"),
            Exit::Auth,
            "enrollment_required",
        )
        .await;
    assert!(e.message.contains("grace period is over"), "{e:?}");
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
}

#[tokio::test]
async fn tutorial_flow_as_a_script() {
    let mut h = harness().await;
    let o = h
        .ok(
            &[
                "register",
                "--username",
                "alice",
                "--email",
                "alice@example.com",
            ],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "registered");
    assert_eq!(o.get("user")["username"], "alice");

    let o = h
        .ok(&["login", "--user", "alice"], &format!("{PW}\n"))
        .await;
    assert_eq!(o.status, "logged_in");
    assert!(o.get("session_expires_at").is_i64());
    let o = h.ok(&["whoami"], "").await;
    assert_eq!(o.get("user")["two_factor"], false);

    // SMS, in two invocations: send, then confirm. The password is asked.
    h.err(
        &["2fa", "enable-sms", "--phone", "+1 415 555 2671"],
        "",
        Exit::BadInput,
        "missing_password",
    )
    .await;
    let o = h
        .pending(
            &["2fa", "enable-sms", "--phone", "+1 415 555 2671"],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "code_sent");
    assert_eq!(o.get("to"), "+1415*****71");
    let code = h.sms_code(PHONE);
    let o = h.ok(&["2fa", "enable-sms", "--code", &code], "").await;
    assert_eq!(o.status, "sms_enabled");
    assert_eq!(o.get("recovery_codes").as_array().unwrap().len(), 10);
    assert_eq!(o.get("user")["sms_enabled"], true);

    // Login with the SMS code, in two invocations.
    h.ok(&["logout"], "").await;
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    let o = h
        .pending(&["login", "--user", "alice"], &format!("{PW}\n"))
        .await;
    assert_eq!(o.status, "code_required");
    assert_eq!(o.get("sms")["state"], "sent");
    assert_eq!(
        o.get("methods"),
        &serde_json::json!(["sms", "recovery_code"])
    );
    let code = h.sms_code(PHONE);
    let e = h
        .err(
            &["login", "--code", a_wrong_code(&code)],
            "",
            Exit::Auth,
            "invalid_code",
        )
        .await;
    assert_eq!(e.attempts_left, Some(4));
    let o = h.ok(&["login", "--code", &code], "").await;
    assert_eq!(o.status, "logged_in");
    // The pending login is used up.
    h.err(
        &["login", "--code", &code],
        "",
        Exit::Auth,
        "no_pending_login",
    )
    .await;

    // Authenticator app: SMS is on, so the step-up needs a current code,
    // sent by SMS in a first invocation.
    let o = h.pending(&["2fa", "enable-totp"], "").await;
    assert_eq!(o.status, "code_sent");
    assert_eq!(o.get("next"), "cli 2fa enable-totp --current-code CODE");
    let code = h.sms_code(PHONE);
    h.err(
        &["2fa", "enable-totp", "--current-code", &code],
        "wrong password\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    let o = h
        .pending(
            &["2fa", "enable-totp", "--current-code", &code],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "code_required");
    let uri = o.get("otpauth_uri").as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"));
    assert!(o.text.contains('█') || o.text.contains('▀') || o.text.contains('▄'));
    let o = h
        .ok(&["2fa", "enable-totp", "--code", &h.totp(&uri)], "")
        .await;
    assert_eq!(o.status, "totp_enabled");
    assert_eq!(
        o.get("recovery_codes"),
        &Value::Null,
        "not the first factor"
    );

    // Login with the app's code, in one invocation (no SMS is sent).
    h.clock.advance(Duration::from_secs(30));
    h.ok(&["logout"], "").await;
    let sent = h.sms.messages().len();
    let code = h.totp(&uri);
    let o = h
        .ok(
            &["login", "--user", "alice", "--code", &code],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "logged_in");
    assert_eq!(h.sms.messages().len(), sent);

    // Disable: step-up with the password and a current code.
    h.clock.advance(Duration::from_secs(30));
    h.err(&["2fa", "disable"], "", Exit::BadInput, "factor_required")
        .await;
    let e = h
        .err(
            &[
                "2fa",
                "disable",
                "--factor",
                "totp",
                "--code",
                &h.totp(&uri),
            ],
            "wrong password\n",
            Exit::Auth,
            "invalid_credentials",
        )
        .await;
    assert!(e.message.contains("invalid"));
    let o = h
        .ok(
            &[
                "2fa",
                "disable",
                "--factor",
                "totp",
                "--code",
                &h.totp(&uri),
            ],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.get("factors"), &serde_json::json!(["sms"]));
    // SMS step-up in two invocations.
    let o = h.pending(&["2fa", "disable"], "").await;
    assert_eq!(o.status, "code_sent");
    let code = h.sms_code(PHONE);
    let o = h
        .ok(&["2fa", "disable", "--code", &code], &format!("{PW}\n"))
        .await;
    assert_eq!(o.status, "disabled");
    assert_eq!(o.get("user")["two_factor"], false);
    let o = h.ok(&["whoami"], "").await;
    assert_eq!(o.get("recovery_codes_left"), 0);
}

#[tokio::test]
async fn interactive_prompts() {
    let mut h = harness().await;
    h.register_and_login("bob").await;

    // enable-sms asks for the password, then the code, in one invocation.
    let sms = h.sms.clone();
    let o = h
        .run_tty(
            &["2fa", "enable-sms", "--phone", PHONE],
            &[PW],
            Box::new(move |_| sms.last_code_for(PHONE)),
        )
        .await
        .unwrap();
    assert_eq!((o.status, o.exit()), ("sms_enabled", Exit::Ok));

    // Login: password and code prompted; a wrong code is asked again.
    h.ok(&["logout"], "").await;
    let sms = h.sms.clone();
    let mut tries = 0;
    let o = h
        .run_tty(
            &["login"],
            &[PW],
            Box::new(move |prompt| {
                if prompt.starts_with("Username") {
                    return Some("BOB".into());
                }
                tries += 1;
                let right = sms.last_code_for(PHONE)?;
                Some(if tries == 1 {
                    a_wrong_code(&right).into()
                } else {
                    right
                })
            }),
        )
        .await
        .unwrap();
    assert_eq!(o.status, "logged_in");
    assert_eq!(o.get("user")["username"], "bob");

    // enable-totp asks for the password and a current code (sent by SMS),
    // shows the QR and key, then asks for a code from the app.
    let notes = h.notes.clone();
    let clock = h.clock.clone();
    let sms = h.sms.clone();
    let o = h
        .run_tty(
            &["2fa", "enable-totp"],
            &[PW],
            Box::new(move |prompt| {
                if prompt.starts_with("Code sent to") {
                    return sms.last_code_for(PHONE);
                }
                let text = notes.text();
                let key_line = text.lines().find(|l| l.starts_with("    "))?;
                let secret = key_line.replace(' ', "");
                let t = totp_rs::Builder::new()
                    .with_secret(totp_rs::Secret::try_from_base32(secret).ok()?)
                    .build()
                    .ok()?;
                let secs = u64::try_from(twofa_verify::clock::Clock::now(&clock).as_secs()).ok()?;
                Some(t.generate(secs).to_string())
            }),
        )
        .await
        .unwrap();
    assert_eq!((o.status, o.exit()), ("totp_enabled", Exit::Ok));
    assert!(h.notes.text().contains("Scan the QR code"));

    // Step-up prompts: password, then the code sent by SMS (--sms).
    let sms = h.sms.clone();
    let o = h
        .run_tty(
            &["recovery-codes", "regenerate", "--sms"],
            &[PW],
            Box::new(move |_| sms.last_code_for(PHONE)),
        )
        .await
        .unwrap();
    assert_eq!(o.get("recovery_codes").as_array().unwrap().len(), 10);

    // Register prompts twice and refuses a mismatch.
    let e = h
        .run_tty(
            &[
                "register",
                "--username",
                "carol",
                "--email",
                "c@example.com",
            ],
            &[PW, "something else"],
            Box::new(|_| None),
        )
        .await
        .unwrap_err();
    assert_eq!((e.exit, e.kind), (Exit::BadInput, "password_mismatch"));
}

#[tokio::test]
async fn bad_input_for_every_argument() {
    let mut h = harness().await;
    let pw = format!("{PW}\n");
    let reg = |u: &'static str, e: &'static str| ["register", "--username", u, "--email", e];
    h.err(
        &reg("dave", "not-an-email"),
        &pw,
        Exit::BadInput,
        "invalid_email",
    )
    .await;
    h.err(
        &reg("da ve", "d@example.com"),
        &pw,
        Exit::BadInput,
        "invalid_username",
    )
    .await;
    h.err(
        &reg("da@ve", "d@example.com"),
        &pw,
        Exit::BadInput,
        "invalid_username",
    )
    .await;
    h.err(
        &reg("dave", "d@example.com"),
        "password\n",
        Exit::BadInput,
        "weak_password",
    )
    .await;
    h.err(
        &reg("dave", "d@example.com"),
        "short\n",
        Exit::BadInput,
        "weak_password",
    )
    .await;
    h.err(
        &reg("dave", "d@example.com"),
        "",
        Exit::BadInput,
        "missing_password",
    )
    .await;
    h.err(
        &reg("dave", "d@example.com"),
        "\n",
        Exit::BadInput,
        "missing_password",
    )
    .await;
    h.ok(&reg("dave", "d@example.com"), &pw).await;
    h.err(
        &reg("DAVE", "x@example.com"),
        &pw,
        Exit::BadInput,
        "username_taken",
    )
    .await;
    h.err(
        &reg("eve", "D@example.com"),
        &pw,
        Exit::BadInput,
        "email_taken",
    )
    .await;

    // Login.
    h.err(
        &["login", "--user", "nobody"],
        &pw,
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.err(
        &["login", "--user", "dave"],
        "nope nope nope\n",
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.err(&["login"], &pw, Exit::BadInput, "missing_user").await;
    for bad in ["abc", "12345", "1234567", "12a456"] {
        h.err(
            &["login", "--code", bad],
            "",
            Exit::BadInput,
            "malformed_code",
        )
        .await;
    }
    h.err(
        &["login", "--code", "123456"],
        "",
        Exit::Auth,
        "no_pending_login",
    )
    .await;

    // Commands that need a session.
    for args in [
        &["whoami"][..],
        &["edit-profile", "--username", "x"],
        &["2fa", "enable-totp"],
        &["2fa", "enable-sms", "--phone", PHONE],
        &["2fa", "disable"],
        &["recovery-codes", "regenerate"],
        &["password", "change"],
    ] {
        h.err(args, &pw, Exit::Auth, "not_logged_in").await;
    }

    h.ok(&["login", "--user", "d@example.com"], &pw).await;
    // A premium-rate number reaches no one's own line (a landline is a
    // phone: its codes go by call).
    for bad in ["12", "not a phone", "+1 555 0100", "+44 909 879 0879"] {
        h.err(
            &["2fa", "enable-sms", "--phone", bad],
            &pw,
            Exit::BadInput,
            "invalid_phone",
        )
        .await;
    }
    h.err(
        &["2fa", "enable-sms", "--code", "12"],
        "",
        Exit::BadInput,
        "malformed_code",
    )
    .await;
    h.err(
        &["2fa", "enable-sms", "--code", "123456"],
        "",
        Exit::Auth,
        "no_enrollment",
    )
    .await;
    h.err(
        &["2fa", "enable-totp", "--code", "x"],
        "",
        Exit::BadInput,
        "malformed_code",
    )
    .await;
    h.err(
        &["2fa", "enable-totp", "--code", "123456"],
        "",
        Exit::Auth,
        "no_enrollment",
    )
    .await;
    h.err(&["2fa", "disable"], "", Exit::BadInput, "not_enabled")
        .await;
    h.err(
        &["2fa", "disable", "--factor", "sms"],
        "",
        Exit::BadInput,
        "not_enabled",
    )
    .await;
    h.err(
        &["recovery-codes", "regenerate"],
        &pw,
        Exit::BadInput,
        "not_enabled",
    )
    .await;
    h.err(
        &["edit-profile", "--email", "nope"],
        "",
        Exit::BadInput,
        "invalid_email",
    )
    .await;
    h.err(
        &["edit-profile", "--username", ""],
        "",
        Exit::BadInput,
        "invalid_username",
    )
    .await;
    h.err(
        &["password", "change"],
        &pw,
        Exit::BadInput,
        "missing_password",
    )
    .await;
    h.err(
        &["password", "change"],
        &format!("{PW}\npassword\n"),
        Exit::BadInput,
        "weak_password",
    )
    .await;
    h.err(
        &["password", "reset", "complete", "--token", "garbage"],
        &pw,
        Exit::Auth,
        "invalid_reset_token",
    )
    .await;
    h.err(
        &["password", "reset", "request", "--email", "bad"],
        "",
        Exit::BadInput,
        "invalid_email",
    )
    .await;

    // Argument errors are clap's (exit 2).
    for args in [
        &["edit-profile"][..],
        &["2fa", "enable-sms", "--phone", PHONE, "--code", "123456"],
        &["login", "--code", "123456", "--recovery-code", "abc"],
        &["2fa", "disable", "--factor", "email"],
        &["register", "--username", "x"],
        &["login", "--password-stdin", "--password-fd", "3"],
        &["frobnicate"],
    ] {
        let e =
            Cli::try_parse_from(std::iter::once("cli").chain(args.iter().copied())).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
}

#[tokio::test]
async fn sessions_are_signed_and_expire() {
    let mut h = harness().await;
    h.register_and_login("frank").await;
    h.register_and_login("grace").await;
    let path = h.dir.path().join("app.db.session");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = h.ok(&["whoami"], "").await;
    assert_eq!(o.get("user")["username"], "grace");

    // Another user id in the file: refused.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["session"]["user"] = 1.into();
    std::fs::write(&path, v.to_string()).unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    // A later expiry: refused.
    std::fs::write(&path, &text).unwrap();
    h.ok(&["whoami"], "").await;
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["session"]["expires_at"] = (v["session"]["expires_at"].as_i64().unwrap() + 3_600_000).into();
    std::fs::write(&path, v.to_string()).unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    // Garbage: not logged in.
    std::fs::write(&path, "garbage").unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;

    // Expiry after 30 minutes.
    std::fs::write(&path, &text).unwrap();
    h.clock.advance(Duration::from_secs(29 * 60));
    h.ok(&["whoami"], "").await;
    h.clock.advance(Duration::from_secs(60));
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;

    // Logout removes the file.
    h.ok(&["login", "--user", "grace"], &format!("{PW}\n"))
        .await;
    let o = h.ok(&["logout"], "").await;
    assert_eq!(o.text, "Logged out.");
    assert!(!path.exists());
}

/// `logout` deletes the session's record: a copy of the session file made
/// before (a backup, another terminal's copy) stops working with it; so
/// does the file of a session that a new login here replaced.
#[tokio::test]
async fn logout_revokes_every_copy_of_the_session() {
    let mut h = harness().await;
    h.register_and_login("hana").await;
    let path = h.dir.path().join("app.db.session");
    let copy = std::fs::read(&path).unwrap();
    h.ok(&["logout"], "").await;
    std::fs::write(&path, &copy).unwrap();
    let e = h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    assert!(e.message.contains("logged out"), "{}", e.message);
    // The dead session is dropped from the file.
    assert!(!path.exists());

    // A new login replaces the session held in the file: the old one ends.
    h.ok(&["login", "--user", "hana"], &format!("{PW}\n")).await;
    let first = std::fs::read(&path).unwrap();
    h.ok(&["login", "--user", "hana"], &format!("{PW}\n")).await;
    let second = std::fs::read(&path).unwrap();
    h.ok(&["whoami"], "").await;
    std::fs::write(&path, &first).unwrap();
    h.err(&["whoami"], "", Exit::Auth, "not_logged_in").await;
    std::fs::write(&path, &second).unwrap();
    h.ok(&["whoami"], "").await;
}

/// A reset asked for when the address's mail budget is spent (here by
/// five notices of the application's own): the same answer, no mail.
#[tokio::test]
async fn a_reset_past_the_mail_budget_answers_alike_and_mails_nothing() {
    let mut h = harness().await;
    h.register_and_login("ivan").await;
    let args = [
        "password",
        "reset",
        "request",
        "--email",
        "ivan@example.com",
    ];
    let first = h.ok(&args, "").await;
    assert_eq!(h.mail.messages().len(), 1);
    let auth = h.ctx.backend.auth.clone();
    for _ in 0..4 {
        let d = auth.reserve_mail("ivan@example.com", None).await.unwrap();
        assert_eq!(d, twofa_verify::MailDecision::Send);
    }
    let second = h.ok(&args, "").await;
    assert_eq!(first.to_json(), second.to_json());
    assert_eq!(h.mail.messages().len(), 1, "{:?}", h.mail.messages());
}

#[tokio::test]
async fn passwords_change_and_reset() {
    let mut h = harness().await;
    h.register_and_login("heidi").await;
    let new = "a brand new passphrase";
    h.err(
        &["password", "change"],
        &format!("wrong one!\n{new}\n"),
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.ok(&["password", "change"], &format!("{PW}\n{new}\n"))
        .await;
    h.err(
        &["login", "--user", "heidi"],
        &format!("{PW}\n"),
        Exit::Auth,
        "invalid_credentials",
    )
    .await;
    h.ok(&["login", "--user", "heidi"], &format!("{new}\n"))
        .await;

    // Reset: the same answer for unknown addresses, a token for known ones.
    let o = h
        .ok(
            &[
                "password",
                "reset",
                "request",
                "--email",
                "nobody@example.com",
            ],
            "",
        )
        .await;
    assert_eq!(o.status, "reset_requested");
    assert!(h.mail.messages().is_empty());
    let o2 = h
        .ok(
            &[
                "password",
                "reset",
                "request",
                "--email",
                "HEIDI@example.com",
            ],
            "",
        )
        .await;
    assert_eq!(o.to_json(), o2.to_json());
    let mail = h.mail.messages().pop().unwrap();
    assert_eq!(mail.to, "heidi@example.com");
    let token = mail
        .body
        .split_whitespace()
        .skip_while(|w| *w != "--token")
        .nth(1)
        .unwrap()
        .to_owned();
    let third = "third time lucky!";
    h.err(
        &["password", "reset", "complete", "--token", &token],
        "password\n",
        Exit::BadInput,
        "weak_password",
    )
    .await;
    let o = h
        .ok(
            &["password", "reset", "complete", "--token", &token],
            &format!("{third}\n"),
        )
        .await;
    assert_eq!(o.status, "password_reset");
    h.err(
        &["password", "reset", "complete", "--token", &token],
        &format!("{third}\n"),
        Exit::Auth,
        "invalid_reset_token",
    )
    .await;
    h.ok(&["login", "--user", "heidi"], &format!("{third}\n"))
        .await;
}

#[tokio::test]
async fn recovery_codes_log_in_and_regenerate() {
    let mut h = harness().await;
    h.register_and_login("ivan").await;
    h.pending(
        &["2fa", "enable-sms", "--phone", "+254712345689"],
        &format!("{PW}\n"),
    )
    .await;
    let code = h.sms_code("+254712345689");
    let o = h.ok(&["2fa", "enable-sms", "--code", &code], "").await;
    let codes: Vec<String> = o
        .get("recovery_codes")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert!(o.text.contains(&codes[0]));

    h.ok(&["logout"], "").await;
    let o = h
        .ok(
            &["login", "--user", "ivan", "--recovery-code", &codes[0]],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.status, "logged_in");
    assert_eq!(o.get("recovery_codes_left"), 9, "told at login");
    let o = h.ok(&["whoami"], "").await;
    assert_eq!(o.get("recovery_codes_left"), 9);

    // Regenerate with a recovery code as the step-up code.
    let o = h
        .ok(
            &["recovery-codes", "regenerate", "--code", &codes[1]],
            &format!("{PW}\n"),
        )
        .await;
    assert_eq!(o.get("recovery_codes").as_array().unwrap().len(), 10);
    h.ok(&["logout"], "").await;
    h.pending(&["login", "--user", "ivan"], &format!("{PW}\n"))
        .await;
    h.err(
        &["login", "--recovery-code", &codes[2]],
        "",
        Exit::Auth,
        "invalid_code",
    )
    .await;
    // --sms re-sends after the resend interval; the pending login goes on.
    h.clock.advance(Duration::from_secs(31));
    let before = h.sms.messages().len();
    h.pending(&["login", "--sms"], "").await;
    assert_eq!(h.sms.messages().len(), before + 1);
    let code = h.sms_code("+254712345689");
    h.ok(&["login", "--code", &code], "").await;
}

#[tokio::test]
async fn failures_lock_with_exit_4() {
    let mut h = harness().await;
    h.register_and_login("judy").await;
    let mut last = None;
    for _ in 0..8 {
        match h
            .run(&["login", "--user", "judy"], "wrong password\n")
            .await
        {
            Err(e) if e.exit == Exit::Limited => {
                last = Some(e);
                break;
            }
            Err(e) => assert_eq!(e.exit, Exit::Auth),
            Ok(o) => panic!("{o:?}"),
        }
    }
    let e = last.expect("locked or delayed");
    // After a few failures each attempt waits (the default policy's
    // delay); the lock comes later.
    assert_eq!(e.kind, "delayed");
    let j = e.to_json();
    assert_eq!(j["exit_code"], 4);
    assert!(j["error"]["retry_after_secs"].as_u64().unwrap() >= 1);
}

#[test]
fn json_shapes() {
    let o = Outcome::pending("code_sent", "text").with("to", "+1***");
    let j = o.to_json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["pending"], true);
    assert_eq!(j["exit_code"], 6);
    assert_eq!(j["status"], "code_sent");
    let e: CliError = twofa_verify::Error::InvalidCode { attempts_left: 2 }.into();
    let j = e.to_json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["exit_code"], 3);
    assert_eq!(j["error"]["kind"], "invalid_code");
    assert_eq!(j["error"]["attempts_left"], 2);
    let e: CliError = twofa_verify::Error::store("disk on fire").into();
    assert_eq!(e.exit, Exit::Service);
}

#[test]
fn default_session_paths() {
    let p = |db: &str| Sessions::default_path(db).display().to_string();
    assert_eq!(p("app.db"), "app.db.session");
    assert_eq!(p("sqlite://data/app.db"), "data/app.db.session");
    assert_eq!(p("sqlite:app.db?mode=rwc"), "app.db.session");
    assert_eq!(p(":memory:"), ".twofa-cli-session");
    assert_eq!(p("postgres://u@h/db"), ".twofa-cli-session");
}

/// What a camera sees of `text` on a terminal whose text colour is dark
/// (`dark_ink`, a light theme) or light: 8x8 pixels a module, the text's
/// `█▀▄` in ink, the rest in the background colour.
fn photograph(text: &str, dark_ink: bool) -> (usize, usize, Vec<u8>) {
    let rows: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let (w, h) = (rows[0].len(), rows.len() * 2);
    let (ink, paper) = if dark_ink { (0u8, 255u8) } else { (255, 0) };
    let scale = 8;
    let mut px = vec![paper; w * h * scale * scale];
    for (r, line) in rows.iter().enumerate() {
        for (x, c) in line.iter().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            for (y, on) in [(2 * r, top), (2 * r + 1, bottom)] {
                if !on {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        px[(y * scale + dy) * w * scale + x * scale + dx] = ink;
                    }
                }
            }
        }
    }
    (w * scale, h * scale, px)
}

/// The text a scanner reads from `text` shown on such a terminal, if any.
fn scan(text: &str, dark_ink: bool) -> Option<String> {
    let (w, h, px) = photograph(text, dark_ink);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| px[y * w + x]);
    let grids = img.detect_grids();
    let (_, content) = grids.first()?.decode().ok()?;
    Some(content)
}

#[test]
fn qr_scans_on_light_and_dark_terminals() {
    use crate::QrTheme;
    let uri = "otpauth://totp/x:alice?secret=GEZDGNBVGY3TQOJQ&issuer=x";
    let light = commands::qr_text(uri, QrTheme::Light).unwrap();
    let dark = commands::qr_text(uri, QrTheme::Dark).unwrap();
    assert!(light.lines().count() > 10);
    // Each theme scans on its own terminal.
    assert_eq!(scan(&light, true).as_deref(), Some(uri), "light theme");
    assert_eq!(scan(&dark, false).as_deref(), Some(uri), "dark theme");
    // They are each other's negative, cell for cell (quiet zone included;
    // the last line's lower half lies below the code, blank in both).
    let negative = |l: &str| -> String {
        l.chars()
            .map(|c| match c {
                '█' => ' ',
                ' ' => '█',
                '▀' => '▄',
                '▄' => '▀',
                c => c,
            })
            .collect()
    };
    let (l, d): (Vec<&str>, Vec<&str>) = (light.lines().collect(), dark.lines().collect());
    assert_eq!(l.len(), d.len());
    for (a, b) in l.iter().zip(&d).take(l.len() - 1) {
        assert_eq!(&negative(a), b);
    }
    // The wrong theme shows a negative, which scanners do not read.
    assert_eq!(scan(&light, false), None);
    assert_eq!(scan(&dark, true), None);
    // `auto`, painted: the light drawing in black on white on every line,
    // whatever the terminal's own colours.
    let painted = commands::qr_text(uri, QrTheme::Auto).unwrap();
    for (p, l) in painted.lines().zip(light.lines()) {
        assert_eq!(p, format!("\x1b[30;47m{l}\x1b[0m"));
    }
    assert_eq!(painted.lines().count(), light.lines().count());
    // Not on a terminal (tests, pipes): `auto` falls back to `dark`.
    assert_eq!(QrTheme::Auto.resolve(false), QrTheme::Dark);
    assert_eq!(QrTheme::Light.resolve(false), QrTheme::Light);
}
