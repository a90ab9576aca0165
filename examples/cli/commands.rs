//! The commands, over a [`Ctx`] that tests can build in-process.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use twofa_verify::factor::RecoveryCodes as Codes;
use twofa_verify::{
    Challenge, Clock, Error, Factor, Login, SmsDelivery, StepUp, SystemClock, Timestamp, User,
};

use crate::account;
use crate::common::{self, Backend};
use crate::input::{Input, Terminal, password_source};
use crate::output::{CliError, Outcome};
use crate::session::{Pending, SessionFile, Sessions};
use crate::{Cli, Command, FactorArg, LoginArgs, Password, QrTheme, RecoveryCodes, Reset, TwoFa};

/// Everything a command runs with.
pub struct Ctx {
    /// The database setting (for `info`).
    pub db: String,
    /// Authenticator, SMS outbox, mailer.
    pub backend: Backend,
    /// The session file.
    pub sessions: Sessions,
    /// The time (sessions).
    pub clock: Arc<dyn Clock>,
    /// Passwords and codes.
    pub input: Input,
    /// Where progress for a person goes (stdout, or stderr with `--json`).
    pub notes: Box<dyn Write>,
    /// Where console SMS and emails go (stderr).
    pub console: Box<dyn Write>,
    shown_sms: usize,
    shown_mail: usize,
}

impl Ctx {
    /// A context from its parts.
    pub fn new(
        db: String,
        backend: Backend,
        sessions: Sessions,
        clock: Arc<dyn Clock>,
        input: Input,
        notes: Box<dyn Write>,
        console: Box<dyn Write>,
    ) -> Self {
        Ctx {
            db,
            backend,
            sessions,
            clock,
            input,
            notes,
            console,
            shown_sms: 0,
            shown_mail: 0,
        }
    }

    /// The context of a real run, from the flags and the environment.
    pub async fn from_cli(cli: &Cli) -> Result<Self, CliError> {
        let db = cli.db.clone().unwrap_or_else(common::default_db);
        // Read passwords before anything slow, and fail early on a bad fd.
        let passwords = password_source(cli.password_stdin, cli.password_fd)?;
        let opts = common::Options {
            db: db.clone(),
            // Codes and emails are printed here, on stderr, not by `common`.
            quiet: true,
            force_console: false,
            policy: None,
            // `register` here creates the account at once.
            confirm_email: false,
            ..Default::default()
        };
        let backend = common::backend(&opts)
            .await
            .map_err(|e| CliError::service("config_error", format!("set-up failed: {e}")))?;
        let secret = common::secret_key(&db)
            .map_err(|e| CliError::service("config_error", format!("secret key: {e}")))?;
        let path = cli
            .session
            .clone()
            .unwrap_or_else(|| Sessions::default_path(&db));
        let sessions =
            Sessions::new(path, &secret).map_err(|e| CliError::service("config_error", e))?;
        let prompter = Terminal::new(!cli.no_input && !cli.password_stdin);
        let notes: Box<dyn Write> = if cli.json {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        Ok(Ctx::new(
            db,
            backend,
            sessions,
            Arc::new(SystemClock),
            Input::new(passwords, Box::new(prompter)),
            notes,
            Box::new(std::io::stderr()),
        ))
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Tells the person something now (before a prompt).
    fn note(&mut self, text: &str) {
        let _ = writeln!(self.notes, "{}", text.trim_end());
        let _ = self.notes.flush();
    }

    /// Prints the console SMS and emails not shown yet, on stderr, so that a
    /// person (or a script) can read the codes and tokens.
    pub fn show_outbox(&mut self) {
        if let Some(sms) = &self.backend.console_sms {
            let msgs = sms.messages();
            for m in msgs.iter().skip(self.shown_sms) {
                let _ = writeln!(self.console, "[sms to {}] {}", m.to, m.body);
            }
            self.shown_sms = msgs.len();
        }
        if let Some(mail) = self.backend.mailer.console() {
            let msgs = mail.messages();
            for m in msgs.iter().skip(self.shown_mail) {
                let _ = writeln!(
                    self.console,
                    "[email to {}] {}\n{}\n[end of email]",
                    m.to,
                    m.subject,
                    m.body.trim_end()
                );
            }
            self.shown_mail = msgs.len();
        }
        let _ = self.console.flush();
    }

    /// The logged-in user: a signed, unexpired session whose stamp still
    /// matches the user's credentials. A session ended by a change made
    /// elsewhere (or a deleted account) is removed from the file.
    pub(crate) async fn current_user(&mut self) -> Result<User, CliError> {
        let mut file = self.sessions.load()?;
        let (id, stamp) = file
            .session
            .as_ref()
            .and_then(|s| Some((self.sessions.check(s, self.now())?, s.stamp.clone())))
            .ok_or_else(not_logged_in)?;
        if let Some(user) = self.backend.auth.session_user(id, &stamp).await? {
            return Ok(user);
        }
        file.session = None;
        self.sessions.save(&file)?;
        Err(CliError::auth(
            "not_logged_in",
            "the session ended: the password, email address or two-factor settings changed, \
             or every session was signed out. Log in again: `cli login --user NAME`",
        ))
    }

    /// Asks for a code when someone can answer.
    fn ask_code(&mut self, prompt: &str) -> Result<Option<String>, CliError> {
        if !self.input.interactive() {
            return Ok(None);
        }
        match self.input.text(prompt)? {
            Some(c) => Ok(Some(c)),
            None => Err(CliError::bad_input("missing_code", "no code given")),
        }
    }

    /// After a wrong or malformed code: another one, when someone can answer.
    fn ask_again(&mut self, e: &Error, prompt: &str) -> Result<Option<String>, CliError> {
        let retry = match e {
            Error::InvalidCode { attempts_left } | Error::CodeAlreadyUsed { attempts_left } => {
                *attempts_left > 0
            }
            Error::MalformedCode => true,
            _ => false,
        };
        if !retry || !self.input.interactive() {
            return Ok(None);
        }
        self.note(&format!("{e}"));
        self.ask_code(prompt)
    }
}

pub(crate) fn not_logged_in() -> CliError {
    CliError::auth(
        "not_logged_in",
        "not logged in (or the session expired): run `cli login --user NAME`",
    )
}

/// Checks the shape of a 6-digit code (spaces and dashes allowed).
fn six_digits(code: &str) -> Result<String, CliError> {
    let digits: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(Error::MalformedCode.into())
    }
}

/// A user as JSON (the phone masked).
pub(crate) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "username": u.username,
        "email": u.email,
        "phone": u.masked_phone(),
        "sms_enabled": u.phone.is_some(),
        "totp_enabled": u.totp_enabled,
        "two_factor": u.has_second_factor(),
        "created_at": u.created_at.as_millis(),
    })
}

fn sms_json(d: Option<&SmsDelivery>) -> Value {
    match d {
        Some(SmsDelivery::Sent { to }) => json!({ "state": "sent", "to": to }),
        Some(SmsDelivery::Available { to }) => json!({ "state": "available", "to": to }),
        Some(SmsDelivery::Deferred {
            to,
            reason,
            retry_after,
        }) => json!({
            "state": "deferred",
            "to": to,
            "reason": reason,
            "retry_after_secs": retry_after.map(|d| d.as_secs().max(1)),
        }),
        _ => Value::Null,
    }
}

fn factor_names(u: &User) -> Vec<&'static str> {
    let mut v = Vec::new();
    if u.phone.is_some() {
        v.push("sms");
    }
    if u.totp_enabled {
        v.push("totp");
    }
    v
}

fn with_codes(mut o: Outcome, codes: Option<Codes>) -> Outcome {
    if let Some(codes) = codes {
        let list = codes.codes();
        let _ = write!(
            o.text,
            "\n\nSave these recovery codes somewhere safe: each works once, when no\n\
             second factor is at hand. They are not shown again.\n"
        );
        for c in &list {
            let _ = writeln!(o.text, "  {c}");
        }
        o = o.with("recovery_codes", list);
    }
    o
}

/// Runs one command.
pub async fn run(cmd: &Command, ctx: &mut Ctx) -> Result<Outcome, CliError> {
    match cmd {
        Command::Register { username, email } => register(ctx, username, email).await,
        Command::Login(a) => login(ctx, a).await,
        Command::Logout => logout(ctx),
        Command::SignOutEverywhere => account::sign_out_everywhere(ctx).await,
        Command::Whoami => whoami(ctx).await,
        Command::EditProfile(a) => account::edit_profile(ctx, a).await,
        Command::Devices(a) => account::devices(ctx, a).await,
        Command::TwoFa(TwoFa::EnableSms {
            phone,
            code,
            current_code,
            sms,
        }) => {
            enable_sms(
                ctx,
                phone.as_deref(),
                code.as_deref(),
                current_code.as_deref(),
                *sms,
            )
            .await
        }
        Command::TwoFa(TwoFa::EnableTotp {
            code,
            no_qr,
            qr_theme,
            current_code,
            sms,
        }) => {
            let qr = (!*no_qr).then(|| qr_theme.resolve(ctx.input.interactive()));
            enable_totp(ctx, code.as_deref(), qr, current_code.as_deref(), *sms).await
        }
        Command::TwoFa(TwoFa::Disable { factor, code, sms }) => {
            disable(ctx, *factor, code.as_deref(), *sms).await
        }
        Command::RecoveryCodes(RecoveryCodes::Regenerate { code, sms }) => {
            regenerate(ctx, code.as_deref(), *sms).await
        }
        Command::Password(Password::Change) => account::change_password(ctx).await,
        Command::Password(Password::Reset(Reset::Request { email })) => {
            account::reset_request(ctx, email).await
        }
        Command::Password(Password::Reset(Reset::Complete { token })) => {
            account::reset_complete(ctx, token).await
        }
        Command::Info => Ok(info(ctx)),
        Command::ImportFlask { path } => crate::import::import_flask(ctx, path).await,
    }
}

async fn register(ctx: &mut Ctx, username: &str, email: &str) -> Result<Outcome, CliError> {
    let pw = ctx.input.new_password("New password: ")?;
    let user = ctx.backend.auth.register(username, email, &pw).await?;
    Ok(Outcome::done(
        "registered",
        format!(
            "Registered {} <{}>. Log in with: cli login --user {}",
            user.username, user.email, user.username
        ),
    )
    .with("user", user_json(&user)))
}

// ---------------------------------------------------------------- login

async fn login(ctx: &mut Ctx, a: &LoginArgs) -> Result<Outcome, CliError> {
    let code = match (&a.code, &a.recovery_code) {
        (Some(c), _) => Some(six_digits(c)?),
        (None, Some(r)) => Some(r.trim().to_owned()),
        (None, None) => None,
    };
    let mut file = ctx.sessions.load()?;
    let now = ctx.now().as_millis();
    // Finish (or re-send the SMS of) a pending login.
    if code.is_some() || a.sms {
        let pending = file.pending.clone().filter(|p| {
            p.expires_at > now
                && a.user
                    .as_deref()
                    .is_none_or(|u| u.trim().eq_ignore_ascii_case(p.user.trim()))
        });
        if let Some(p) = pending {
            let code = match code {
                Some(c) => c,
                None => {
                    let ch = ctx.backend.auth.resend(&p.token).await;
                    ctx.show_outbox();
                    let ch = forget_dead_pending(ctx, &mut file, ch)?;
                    let prompt = code_prompt(&ch);
                    match ctx.ask_code(&prompt)? {
                        Some(c) => c,
                        None => return Ok(pending_login(&p.user, &ch)),
                    }
                }
            };
            let remember = a.remember_device || p.remember;
            return finish_login(ctx, &mut file, &p.token, code, "Code: ", remember).await;
        }
        if code.is_some() && a.user.is_none() {
            return Err(CliError::auth(
                "no_pending_login",
                "no login is waiting for a code: run `cli login --user NAME` first",
            ));
        }
    }
    let ident = match &a.user {
        Some(u) => u.clone(),
        None => ctx.input.text("Username or email: ")?.ok_or_else(|| {
            CliError::bad_input("missing_user", "--user is required (username or email)")
        })?,
    };
    let pw = ctx.input.password("Password: ")?;
    let device = account::device_token(&file);
    let auth = ctx.backend.auth.clone();
    match auth
        .login_with_device(&ident, &pw, device.as_deref())
        .await?
    {
        Login::Complete(user) => {
            let mut o = logged_in(ctx, &mut file, &user)?;
            // A login with 2FA on completes at once only from a remembered device.
            if user.has_second_factor() {
                o = o.with("device", "remembered");
                o.text
                    .push_str("\nNo code needed: this terminal is remembered.");
            } else if a.remember_device {
                o.text
                    .push_str("\n(--remember-device: nothing to remember without 2FA.)");
            }
            Ok(o)
        }
        Login::SecondFactor(mut ch) => {
            if a.sms && matches!(ch.sms, Some(SmsDelivery::Available { .. })) {
                ch = ctx.backend.auth.resend(ch.token()).await?;
            }
            ctx.show_outbox();
            let token = ch.token().to_owned();
            // Kept so that a later `login --code` can finish this login.
            file.pending = Some(Pending {
                user: ident.clone(),
                token: token.clone(),
                expires_at: ch.expires_at.as_millis(),
                remember: a.remember_device,
            });
            ctx.sessions.save(&file)?;
            let prompt = code_prompt(&ch);
            let code = match code {
                Some(c) => c,
                None => match ctx.ask_code(&prompt)? {
                    Some(c) => c,
                    None => return Ok(pending_login(&ident, &ch)),
                },
            };
            finish_login(ctx, &mut file, &token, code, &prompt, a.remember_device).await
        }
    }
}

/// Drops a pending login that can no longer be finished.
fn forget_dead_pending<T>(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    r: Result<T, Error>,
) -> Result<T, CliError> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            if matches!(
                e,
                Error::ChallengeNotFound | Error::ChallengeExpired | Error::TooManyAttempts
            ) {
                file.pending = None;
                ctx.sessions.save(file)?;
            }
            Err(e.into())
        }
    }
}

async fn finish_login(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    token: &str,
    mut code: String,
    prompt: &str,
    remember: bool,
) -> Result<Outcome, CliError> {
    loop {
        let r = ctx.backend.auth.verify(token, &code).await;
        match r {
            Ok(v) => {
                let mut o = logged_in(ctx, file, &v.user)?;
                if let Some(n) = v.recovery_codes_left {
                    o = o.with("recovery_codes_left", n);
                    let _ = write!(o.text, "\n{n} recovery codes left.");
                }
                if !remember {
                    return Ok(o);
                }
                return Ok(account::remember_this_device(ctx, file, &v, o).await);
            }
            Err(e) => match ctx.ask_again(&e, prompt)? {
                Some(c) => code = c,
                None => return forget_dead_pending(ctx, file, Err(e)),
            },
        }
    }
}

fn logged_in(ctx: &mut Ctx, file: &mut SessionFile, user: &User) -> Result<Outcome, CliError> {
    let stamp = ctx.backend.auth.session_stamp(user);
    let session = ctx
        .sessions
        .issue(user.id, stamp.as_str(), ctx.now())
        .map_err(|e| CliError::service("session_error", e))?;
    let expires_at = session.expires_at;
    file.session = Some(session);
    file.pending = None;
    ctx.sessions.save(file)?;
    let mut text = format!(
        "Logged in as {}. The session lasts 30 minutes (`cli logout` ends it).",
        user.username
    );
    if !user.has_second_factor() {
        text.push_str("\nTip: turn on two-factor authentication with `cli 2fa enable-totp` or `cli 2fa enable-sms --phone NUMBER`.");
    }
    Ok(Outcome::done("logged_in", text)
        .with("user", user_json(user))
        .with("session_expires_at", expires_at))
}

fn code_prompt(ch: &Challenge) -> String {
    let app = ch.methods.contains(&Factor::Totp);
    match (&ch.sms, app) {
        (Some(SmsDelivery::Sent { to }), _) => format!("Code sent to {to} (or a recovery code): "),
        (_, true) => "Code from your authenticator app (or a recovery code): ".to_owned(),
        _ => "Recovery code: ".to_owned(),
    }
}

fn pending_login(ident: &str, ch: &Challenge) -> Outcome {
    let mut text = String::new();
    match &ch.sms {
        Some(SmsDelivery::Sent { to }) => {
            let _ = writeln!(text, "A code was sent to {to}.");
        }
        Some(SmsDelivery::Deferred { to, reason, .. }) => {
            let _ = writeln!(text, "No code could be sent to {to}: {reason}.");
        }
        _ => {}
    }
    if ch.methods.contains(&Factor::Totp) {
        let _ = writeln!(text, "Use a code from your authenticator app.");
    }
    let _ = write!(
        text,
        "Finish with: cli login --code CODE (or --recovery-code CODE)"
    );
    if matches!(ch.sms, Some(SmsDelivery::Available { .. })) {
        text.push_str("; `cli login --sms` texts you a code");
    }
    Outcome::pending("code_required", text)
        .with("user", ident)
        .with("methods", &ch.methods)
        .with("sms", sms_json(ch.sms.as_ref()))
        .with("expires_at", ch.expires_at.as_millis())
        .with("next", "cli login --code CODE")
}

fn logout(ctx: &mut Ctx) -> Result<Outcome, CliError> {
    let mut file = ctx.sessions.load()?;
    let was = file.session.is_some();
    // The remembered device stays: it is this terminal's, not the session's.
    file.session = None;
    file.pending = None;
    ctx.sessions.save(&file)?;
    Ok(Outcome::done(
        "logged_out",
        if was { "Logged out." } else { "Not logged in." },
    ))
}

async fn whoami(ctx: &mut Ctx) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let left = ctx.backend.auth.recovery_codes_left(user.id).await?;
    let mut text = format!("{} <{}>\n", user.username, user.email);
    let _ = writeln!(
        text,
        "SMS codes:          {}",
        user.masked_phone().as_deref().unwrap_or("off")
    );
    let _ = writeln!(
        text,
        "Authenticator app:  {}",
        if user.totp_enabled { "on" } else { "off" }
    );
    if user.has_second_factor() {
        let _ = writeln!(text, "Recovery codes left: {left}");
    }
    Ok(Outcome::done("user", text)
        .with("user", user_json(&user))
        .with("recovery_codes_left", left))
}

// ------------------------------------------------------------ step-up

pub(crate) enum Proof {
    Ready(StepUp),
    Pending(Outcome),
}

/// The password plus, when 2FA is on, a current code: from `code`, or
/// asked for (sending an SMS first when SMS is the factor, or `sms`).
/// Without a terminal and without `code`, stops after sending: the caller
/// returns the pending outcome (exit 6) and `next` says how to go on.
pub(crate) async fn step_up(
    ctx: &mut Ctx,
    user: &User,
    code: Option<&str>,
    sms: bool,
    next: &str,
) -> Result<Proof, CliError> {
    if !user.has_second_factor() {
        let password = ctx.input.password("Password: ")?;
        return Ok(Proof::Ready(StepUp {
            password,
            code: None,
        }));
    }
    if let Some(c) = code {
        let password = ctx.input.password("Password: ")?;
        return Ok(Proof::Ready(StepUp {
            password,
            code: Some(c.trim().to_owned()),
        }));
    }
    let interactive = ctx.input.interactive();
    let password = if interactive {
        Some(ctx.input.password("Password: ")?)
    } else {
        None
    };
    let via_sms = user.phone.is_some() && (sms || !user.totp_enabled);
    let sent_to = if via_sms {
        let d = ctx.backend.auth.send_step_up_code(user.id).await;
        ctx.show_outbox();
        match d? {
            SmsDelivery::Sent { to } => Some(to),
            _ => user.masked_phone(),
        }
    } else {
        None
    };
    let prompt = match &sent_to {
        Some(to) => format!("Code sent to {to} (or a recovery code): "),
        None => "Code from your authenticator app (or a recovery code): ".to_owned(),
    };
    match (password, ctx.ask_code(&prompt)?) {
        (Some(password), Some(code)) => Ok(Proof::Ready(StepUp {
            password,
            code: Some(code),
        })),
        _ => {
            let text = match &sent_to {
                Some(to) => {
                    format!("A code was sent to {to}. Confirm with your password and: {next}")
                }
                None => format!(
                    "A code from your authenticator app (or a recovery code) is needed, with your password: {next}"
                ),
            };
            let status = if sent_to.is_some() {
                "code_sent"
            } else {
                "code_required"
            };
            Ok(Proof::Pending(
                Outcome::pending(status, text)
                    .with("to", sent_to)
                    .with("next", next),
            ))
        }
    }
}

// ------------------------------------------------------------ factors

async fn enable_sms(
    ctx: &mut Ctx,
    phone: Option<&str>,
    code: Option<&str>,
    current_code: Option<&str>,
    sms: bool,
) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    if let Some(code) = code {
        let code = six_digits(code)?;
        return confirm_sms(ctx, &user, code, "Code: ").await;
    }
    let phone = match phone {
        Some(p) => p.to_owned(),
        None => ctx
            .input
            .text("Mobile number (international format, e.g. +15551234567): ")?
            .ok_or_else(|| {
                CliError::bad_input("missing_phone", "--phone is required (e.g. +15551234567)")
            })?,
    };
    let next = format!("cli 2fa enable-sms --phone {phone} --current-code CODE");
    let proof = match step_up(ctx, &user, current_code, sms, &next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let started = ctx
        .backend
        .auth
        .start_sms_enrollment(user.id, &phone, &proof)
        .await;
    ctx.show_outbox();
    let enrollment = started?;
    let prompt = format!("Code sent to {}: ", enrollment.to);
    match ctx.ask_code(&prompt)? {
        Some(code) => confirm_sms(ctx, &user, code, &prompt).await,
        None => Ok(Outcome::pending(
            "code_sent",
            format!(
                "A code was sent to {}. Confirm with: cli 2fa enable-sms --code CODE",
                enrollment.to
            ),
        )
        .with("to", &enrollment.to)
        .with("expires_at", enrollment.expires_at.as_millis())
        .with("next", "cli 2fa enable-sms --code CODE")),
    }
}

/// `ChallengeNotFound` from an enrollment means none is in progress.
fn enrollment_error(e: Error, start: &str) -> CliError {
    match e {
        Error::ChallengeNotFound | Error::ChallengeExpired | Error::TooManyAttempts => {
            CliError::auth(
                "no_enrollment",
                format!("{e} (no enrollment is waiting for this code; start again with `{start}`)"),
            )
        }
        other => other.into(),
    }
}

async fn confirm_sms(
    ctx: &mut Ctx,
    user: &User,
    mut code: String,
    prompt: &str,
) -> Result<Outcome, CliError> {
    let codes = loop {
        match ctx
            .backend
            .auth
            .confirm_sms_enrollment(user.id, &code)
            .await
        {
            Ok(codes) => break codes,
            Err(e) => match ctx.ask_again(&e, prompt)? {
                Some(c) => code = c,
                None => return Err(enrollment_error(e, "cli 2fa enable-sms --phone NUMBER")),
            },
        }
    };
    let user = ctx.restamp_from_store(user).await?;
    let o = Outcome::done(
        "sms_enabled",
        format!(
            "SMS codes are on: logins now ask for a code sent to {}.",
            user.masked_phone().as_deref().unwrap_or("your phone")
        ),
    )
    .with("user", user_json(&user));
    Ok(with_codes(o, codes))
}

impl QrTheme {
    /// `Auto` made concrete: painted only when the notes go to a terminal
    /// that takes colours (`NO_COLOR` unset), else `Dark`, the old default.
    pub fn resolve(self, interactive: bool) -> QrTheme {
        use std::io::IsTerminal;
        let colours = interactive
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        match self {
            QrTheme::Auto if !colours => QrTheme::Dark,
            t => t,
        }
    }
}

/// ANSI: black text on a white background, and back to the defaults.
const PAINT: &str = "\x1b[30;47m";
const UNPAINT: &str = "\x1b[0m";

/// The QR code as text for a terminal (two rows per line), with its quiet
/// zone (the light margin a scanner needs), drawn for `theme` (see
/// [`QrTheme`]; `Auto` paints its own colours).
pub fn qr_text(data: &str, theme: QrTheme) -> Result<String, CliError> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(data.as_bytes())
        .map_err(|e| CliError::service("internal_error", format!("QR code: {e}")))?;
    let (dark, light) = match theme {
        QrTheme::Dark => (Dense1x2::Light, Dense1x2::Dark),
        QrTheme::Light | QrTheme::Auto => (Dense1x2::Dark, Dense1x2::Light),
    };
    let text = code
        .render::<Dense1x2>()
        .dark_color(dark)
        .light_color(light)
        .quiet_zone(true)
        .build();
    Ok(match theme {
        QrTheme::Auto => text
            .lines()
            .map(|l| format!("{PAINT}{l}{UNPAINT}\n"))
            .collect(),
        _ => text,
    })
}

async fn enable_totp(
    ctx: &mut Ctx,
    code: Option<&str>,
    qr: Option<QrTheme>,
    current_code: Option<&str>,
    sms: bool,
) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    if let Some(code) = code {
        let code = six_digits(code)?;
        return confirm_totp(ctx, &user, code, "Code: ").await;
    }
    if user.totp_enabled {
        // Before asking for anything.
        return Err(Error::FactorUnavailable(
            "an authenticator app is already enabled; disable it first",
        )
        .into());
    }
    let next = "cli 2fa enable-totp --current-code CODE";
    let proof = match step_up(ctx, &user, current_code, sms, next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let e = ctx
        .backend
        .auth
        .start_totp_enrollment(user.id, &proof)
        .await?;
    let uri = e.otpauth_uri.expose_secret();
    let mut text = String::new();
    if let Some(theme) = qr {
        text.push_str(&qr_text(uri, theme)?);
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "Scan the QR code with your authenticator app, or enter this key:\n\n    {}\n",
        e.secret_grouped()
    );
    let prompt = "Code shown by the app: ";
    if ctx.input.interactive() {
        ctx.note(&text);
        if let Some(code) = ctx.ask_code(prompt)? {
            return confirm_totp(ctx, &user, code, prompt).await;
        }
    }
    text.push_str("Confirm with: cli 2fa enable-totp --code CODE");
    Ok(Outcome::pending("code_required", text)
        .with("otpauth_uri", uri)
        .with("secret", e.secret_base32.expose_secret())
        .with("next", "cli 2fa enable-totp --code CODE"))
}

async fn confirm_totp(
    ctx: &mut Ctx,
    user: &User,
    mut code: String,
    prompt: &str,
) -> Result<Outcome, CliError> {
    let codes = loop {
        match ctx
            .backend
            .auth
            .confirm_totp_enrollment(user.id, &code)
            .await
        {
            Ok(codes) => break codes,
            Err(e) => match ctx.ask_again(&e, prompt)? {
                Some(c) => code = c,
                None => return Err(enrollment_error(e, "cli 2fa enable-totp")),
            },
        }
    };
    let user = ctx.restamp_from_store(user).await?;
    let o = Outcome::done(
        "totp_enabled",
        "Authenticator app is on: logins now ask for its code.",
    )
    .with("user", user_json(&user));
    Ok(with_codes(o, codes))
}

async fn disable(
    ctx: &mut Ctx,
    factor: Option<FactorArg>,
    code: Option<&str>,
    sms: bool,
) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let factor = match (factor, user.phone.is_some(), user.totp_enabled) {
        (Some(FactorArg::Sms), true, _) | (None, true, false) => FactorArg::Sms,
        (Some(FactorArg::Totp), _, true) | (None, false, true) => FactorArg::Totp,
        (None, false, false) => {
            return Err(CliError::bad_input(
                "not_enabled",
                "two-factor authentication is not on",
            ));
        }
        (None, true, true) => {
            return Err(CliError::bad_input(
                "factor_required",
                "both SMS and an authenticator app are on: choose one with --factor sms|totp",
            ));
        }
        (Some(f), _, _) => {
            return Err(CliError::bad_input(
                "not_enabled",
                format!("{} is not on", factor_label(f)),
            ));
        }
    };
    let name = match factor {
        FactorArg::Sms => "sms",
        FactorArg::Totp => "totp",
    };
    let next = format!("cli 2fa disable --factor {name} --code CODE");
    let proof = match step_up(ctx, &user, code, sms, &next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let f = match factor {
        FactorArg::Sms => Factor::Sms,
        FactorArg::Totp => Factor::Totp,
    };
    ctx.backend.auth.disable_factor(user.id, f, &proof).await?;
    let user = ctx.restamp_from_store(&user).await?;
    let mut text = format!("{} is off.", factor_label(factor));
    if !user.has_second_factor() {
        text.push_str(" Two-factor authentication is off; your recovery codes were deleted.");
    }
    Ok(Outcome::done("disabled", text)
        .with("factor", name)
        .with("factors", factor_names(&user))
        .with("user", user_json(&user)))
}

fn factor_label(f: FactorArg) -> &'static str {
    match f {
        FactorArg::Sms => "SMS",
        FactorArg::Totp => "The authenticator app",
    }
}

async fn regenerate(ctx: &mut Ctx, code: Option<&str>, sms: bool) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    if !user.has_second_factor() {
        return Err(CliError::bad_input(
            "not_enabled",
            "turn on a second factor first (`cli 2fa enable-totp` or `enable-sms`)",
        ));
    }
    let next = "cli recovery-codes regenerate --code CODE";
    let proof = match step_up(ctx, &user, code, sms, next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let codes = ctx
        .backend
        .auth
        .regenerate_recovery_codes(user.id, &proof)
        .await?;
    let o = Outcome::done(
        "recovery_codes_regenerated",
        "New recovery codes; the old ones no longer work.",
    );
    Ok(with_codes(o, Some(codes)))
}

fn info(ctx: &Ctx) -> Outcome {
    let persistent = !ctx.backend.summary.contains("store: in memory");
    let session = ctx.sessions.path().display().to_string();
    Outcome::done(
        "info",
        format!(
            "database: {}\n{}\nsession file: {session}",
            ctx.db, ctx.backend.summary
        ),
    )
    .with("db", &ctx.db)
    .with("setup", &ctx.backend.summary)
    .with("persistent", persistent)
    .with("session_file", session)
    .with("sms_available", ctx.backend.auth.sms_available())
    .with("console_codes", ctx.backend.console_sms.is_some())
}
