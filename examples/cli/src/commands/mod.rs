//! The commands, over a [`Ctx`] that tests can build in-process.

mod factors;
mod login;
mod step_up;

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use serde_json::{Value, json};
use twofa_verify::clock::Clock;
use twofa_verify::clock::SystemClock;
use twofa_verify::factor::RecoveryCodes as Codes;
use twofa_verify::{Error, SmsDelivery, Timestamp, User};

use crate::account;
use crate::input::{Input, Terminal, password_source};
use crate::output::{CliError, Outcome};
use crate::session::Sessions;
use crate::{Cli, Command, Password, RecoveryCodes, Reset, TwoFa};
use demo_support::Backend;

pub(crate) use factors::*;
pub(crate) use login::*;
pub(crate) use step_up::*;

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

    /// The context of a real run on the database `db`, from the flags and
    /// the environment.
    pub async fn from_cli(cli: &Cli, db: String) -> Result<Self, CliError> {
        // Read passwords before anything slow, and fail early on a bad fd.
        let passwords = password_source(cli.password_stdin, cli.password_fd)?;
        let opts = demo_support::Options {
            db: db.clone(),
            // Codes and emails are printed here, on stderr, not by `demo_support`.
            quiet: true,
            force_console: false,
            policy: None,
            // `register` here creates the account at once.
            confirm_email: false,
            ..Default::default()
        };
        let backend = demo_support::backend(&opts)
            .await
            .map_err(|e| CliError::service("config_error", format!("set-up failed: {e}")))?;
        let path = cli
            .session
            .clone()
            .unwrap_or_else(|| Sessions::default_path(&db));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let sessions = Sessions::new(
            path,
            &backend.secret_key,
            backend.state.clone(),
            clock.clone(),
        );
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
            clock,
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
                let _ = writeln!(self.console, "[{} to {}] {}", m.channel, m.to, m.body);
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

    /// The logged-in user: a signed, unexpired session whose record is in
    /// the store (no `logout` ended it) and whose stamp still matches the
    /// user's credentials. A session ended by a logout, a change made
    /// elsewhere (or a deleted account) is removed from the file.
    pub(crate) async fn current_user(&mut self) -> Result<User, CliError> {
        let mut file = self.sessions.load()?;
        let (session, id) = file
            .session
            .as_ref()
            .and_then(|s| Some((s.clone(), self.sessions.check(s, self.now())?)))
            .ok_or_else(not_logged_in)?;
        if !self.sessions.is_live(&session).await? {
            file.session = None;
            self.sessions.save(&file)?;
            return Err(CliError::auth(
                "not_logged_in",
                "the session was logged out (here or from a copy of this session file), \
                 or expired. Log in again: `cli login --user NAME`",
            ));
        }
        if let Some(user) = self.backend.auth.session_user(id, &session.stamp).await? {
            return Ok(user);
        }
        // Not the record: a file re-stamped by a change made here shares
        // it, and lives on.
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
pub(crate) fn six_digits(code: &str) -> Result<String, CliError> {
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

pub(crate) fn sms_json(d: Option<&SmsDelivery>) -> Value {
    match d {
        Some(SmsDelivery::Sent { to, channel, .. }) => json!({
            "state": "sent",
            "to": to,
            "channel": channel.unwrap_or("sms"),
        }),
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

pub(crate) fn factor_names(u: &User) -> Vec<&'static str> {
    let mut v = Vec::new();
    if u.phone.is_some() {
        v.push("sms");
    }
    if u.totp_enabled {
        v.push("totp");
    }
    if u.passkeys > 0 {
        v.push("passkey");
    }
    v
}

pub(crate) fn with_codes(mut o: Outcome, codes: Option<Codes>) -> Outcome {
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
        Command::Logout => logout(ctx).await,
        Command::SignOutEverywhere(a) => account::sign_out_everywhere(ctx, a).await,
        Command::Whoami => whoami(ctx).await,
        Command::EditProfile(a) => account::edit_profile(ctx, a).await,
        Command::ConfirmEmail { token } => account::confirm_email(ctx, token).await,
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
        Command::Password(Password::Change(a)) => account::change_password(ctx, a).await,
        Command::Password(Password::Reset(Reset::Request { email })) => {
            account::reset_request(ctx, email).await
        }
        Command::Password(Password::Reset(Reset::Complete { token })) => {
            account::reset_complete(ctx, token).await
        }
        Command::Passkeys(cmd) => crate::passkeys::run(ctx, cmd).await,
        Command::Info => Ok(info(ctx)),
        Command::ImportFlask { path } => crate::import::import_flask(ctx, path).await,
        Command::Admin(cmd) => crate::admin::run(ctx, cmd).await,
    }
}

pub(crate) async fn register(
    ctx: &mut Ctx,
    username: &str,
    email: &str,
) -> Result<Outcome, CliError> {
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

pub(crate) fn info(ctx: &Ctx) -> Outcome {
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
