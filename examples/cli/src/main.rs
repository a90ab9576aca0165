//! The tutorial's flows in a terminal, on the same database as the web
//! example: `cargo run -p cli -- --help`.
//!
//! Every command works both interactively (passwords prompted without echo,
//! codes asked for when needed) and from scripts (`--password-stdin` or
//! `--password-fd N`, `--code`, `--json`, documented exit codes).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod account;
mod admin;
mod commands;
mod database;
mod import;
mod input;
mod output;
mod passkeys;
mod session;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::{CliError, Exit};

const AFTER_HELP: &str = "\
Database:
  --db (or DATABASE_URL, else app.db) must exist for every command but
  `register` and `import-flask`, which create it (a mistyped path fails,
  naming it). A SQLite database is created readable by its owner only, with
  its key file (<db>.key, unless TWOFA_SECRET_KEY is set) beside it; when
  the command that created them fails before any account is in the
  database, both are removed again.

Sessions:
  `login` writes a session file (default: <db>.session beside the database,
  mode 0600; change it with --session or TWOFA_CLI_SESSION) holding your user
  id, the id of the session's record in the database, a stamp of your
  credentials, an expiry 30 minutes ahead and an HMAC of them all under the
  app's secret key. Later commands act as that user; `logout` deletes the
  record, so a copy of the file stops working too. A change of the password (or a reset), of the
  email address or of a factor made anywhere else (another session file, the
  web demo) ends this session: log in again. Changes made here keep it, and
  `sign-out-everywhere` ends every session, this one included. Enabling or
  disabling a factor, changing the phone or the email address, regenerating
  recovery codes, changing the password and `sign-out-everywhere` ask for the
  password (and a current code when 2FA is on: --current-code CODE, or --sms
  to get one). A new email address takes effect only with the token emailed
  to it (`confirm-email --token TOKEN`); the current address is told.
  `login --remember-device` keeps a device token in the same file (it
  outlives `logout`): later logins here skip the code until the password or
  a factor changes; `devices` lists and forgets remembered devices.

Scripts:
  Passwords come from --password-stdin or --password-fd N, one per line
  (`password change` reads the current password, then the new one); codes
  from --code. Without a terminal nothing is prompted: a step that needs a
  code stops with exit status 6 after sending it (SMS) or showing what to
  enter (authenticator app); the same command with --code finishes it.
  --json prints one JSON object on stdout, errors included.
  Without TWILIO_* (SMTP_*), SMS codes (emails) are printed on stderr:
    [sms to +15551234567] Your twofa-verify demo verification code is 123456. ...
  A landline's code goes by voice call: [call to +442071838750] ...

Exit status:
  0  success
  2  bad input: arguments, username, email, phone number, weak password,
     malformed code, missing password
  3  authentication failed: wrong password or code, unknown user, not logged
     in, expired or used login, enrollment or reset token
  4  rate limited or account locked: try again later (JSON: retry_after_secs)
  5  SMS provider, mail, store or configuration error
  6  waiting for a code: run the same command again with --code";

/// How the terminal QR code is drawn. A scanner wants dark modules on a
/// light background, and a terminal draws `█` in its text colour: dark on
/// a light theme, light on a dark one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QrTheme {
    /// On a terminal, paint the code black on white with ANSI colours
    /// (scans on any theme); elsewhere (a pipe, `NO_COLOR`), as `dark`.
    Auto,
    /// Dark modules drawn with `█`: for dark text on a light background.
    Light,
    /// Light modules drawn with `█`: for light text on a dark background.
    Dark,
}

/// Password login with optional two-factor authentication, from a terminal.
#[derive(Debug, Parser)]
#[command(name = "cli", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Database: a SQLite file or URL, postgres://..., or :memory:
    /// [default: $DATABASE_URL, else app.db]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DB"
    )]
    pub db: Option<String>,
    /// Print one JSON object on stdout (errors too)
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// Read passwords from standard input, one per line
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "password_fd"
    )]
    pub password_stdin: bool,
    /// Read passwords from this open file descriptor, one per line
    #[arg(long, global = true, help_heading = "Global options", value_name = "N")]
    pub password_fd: Option<u32>,
    /// Never prompt; fail (or stop with exit 6) when something is missing
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_input: bool,
    /// The session file [default: <db>.session]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "TWOFA_CLI_SESSION",
        value_name = "FILE"
    )]
    pub session: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account (asks for a new password)
    Register {
        /// Username (no spaces, no '@')
        #[arg(long)]
        username: String,
        /// Email address (for password resets)
        #[arg(long)]
        email: String,
    },
    /// Log in; asks for the second-factor code when 2FA is on
    Login(LoginArgs),
    /// Forget the session
    Logout,
    /// End every session of your account, this one included, and forget
    /// every remembered device (asks for the password, and a current code
    /// when 2FA is on)
    SignOutEverywhere(StepUpArgs),
    /// Show the logged-in user
    #[command(visible_alias = "profile")]
    Whoami,
    /// Change your username and/or email address (a new email address asks
    /// for the password, and a current code when 2FA is on, then waits for
    /// the token emailed to it)
    EditProfile(ProfileArgs),
    /// Finish an email change with the token emailed to the new address
    ConfirmEmail {
        /// The token from the email
        #[arg(long)]
        token: String,
    },
    /// List the devices that skip the second factor, or forget them
    Devices(DevicesArgs),
    /// Two-factor authentication: enable SMS or an authenticator app, disable
    #[command(name = "2fa", subcommand)]
    TwoFa(TwoFa),
    /// Recovery codes for when no second factor is at hand
    #[command(subcommand)]
    RecoveryCodes(RecoveryCodes),
    /// Your passkeys: list them, remove one (adding one needs a browser:
    /// the web demo's Passkeys page)
    #[command(subcommand)]
    Passkeys(PasskeysCmd),
    /// Change or reset the password
    #[command(subcommand)]
    Password(Password),
    /// Show the database, SMS and email set-up in use
    Info,
    /// Import the users of the Flask tutorial app's SQLite database (its
    /// `user` table): hashes kept, verified phones become SMS 2FA.
    /// Re-running imports only what is new
    ImportFlask {
        /// The Flask app's SQLite file (e.g. app.db)
        path: PathBuf,
    },
    /// Support and admin: find an account, show its security state, lock,
    /// unlock, reset its second factor, revoke its sessions, force a
    /// password reset, export its audit trail (changes need --operator and
    /// --reason)
    #[command(subcommand)]
    Admin(admin::AdminCmd),
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username or email address (not needed with --code to finish a pending login)
    #[arg(long, short)]
    pub user: Option<String>,
    /// The 6-digit code (SMS or authenticator app)
    #[arg(long, conflicts_with = "recovery_code")]
    pub code: Option<String>,
    /// A recovery code instead of a 6-digit code
    #[arg(long)]
    pub recovery_code: Option<String>,
    /// Get the code by SMS even though an authenticator app is set up (or a
    /// new code for a pending login)
    #[arg(long)]
    pub sms: bool,
    /// After the code, remember this terminal: later logins here skip the
    /// code (until the password or a factor changes)
    #[arg(long)]
    pub remember_device: bool,
}

/// `edit-profile`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
pub struct ProfileArgs {
    /// The new username
    #[arg(long, group = "change")]
    pub username: Option<String>,
    /// The new email address (asks for the password)
    #[arg(long, group = "change")]
    pub email: Option<String>,
    /// Changing the email: a current code (authenticator app, SMS, recovery)
    #[arg(long, requires = "email")]
    pub current_code: Option<String>,
    /// Changing the email: send the current code by SMS
    #[arg(long, requires = "email")]
    pub sms: bool,
}

/// The second factor of a step-up, for commands that ask for one.
#[derive(Debug, Args)]
pub struct StepUpArgs {
    /// A current code (authenticator app, SMS, recovery), when 2FA is on
    #[arg(long)]
    pub current_code: Option<String>,
    /// Send the current code by SMS
    #[arg(long)]
    pub sms: bool,
}

/// `devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub action: Option<DeviceAction>,
}

/// `devices ...`.
#[derive(Debug, Subcommand)]
pub enum DeviceAction {
    /// Forget one remembered device (its next login asks for the code), or all
    #[command(group = clap::ArgGroup::new("which").required(true))]
    Forget {
        /// The device's id, from `cli devices`
        #[arg(group = "which")]
        id: Option<String>,
        /// Every remembered device of your account
        #[arg(long, group = "which")]
        all: bool,
    },
}

/// `2fa ...`.
#[derive(Debug, Subcommand)]
pub enum TwoFa {
    /// Add (or change) the phone for SMS codes: asks for the password (and a
    /// current code when 2FA is on), sends a code, then confirms it
    EnableSms {
        /// Phone number in international format, e.g. +15551234567 (a
        /// landline gets its codes by voice call)
        #[arg(long, conflicts_with = "code")]
        phone: Option<String>,
        /// Finish: the code sent to the new phone
        #[arg(long, conflicts_with_all = ["current_code", "sms"])]
        code: Option<String>,
        /// When 2FA is on: a current code (authenticator app, SMS, recovery)
        #[arg(long)]
        current_code: Option<String>,
        /// When 2FA is on: send the current code by SMS
        #[arg(long)]
        sms: bool,
    },
    /// Add an authenticator app: asks for the password (and a current code
    /// when 2FA is on), prints a QR code and a key, then confirms a code
    EnableTotp {
        /// Finish: a code from the app
        #[arg(long, conflicts_with_all = ["current_code", "sms"])]
        code: Option<String>,
        /// Do not print the QR code (the key is still printed)
        #[arg(long)]
        no_qr: bool,
        /// How to draw the QR code: `auto` paints it black on white itself
        /// on a terminal (it scans on any background); `light` is for dark
        /// text on a light background, `dark` for light text on a dark one
        #[arg(long, value_enum, default_value_t = QrTheme::Auto, value_name = "THEME")]
        qr_theme: QrTheme,
        /// When 2FA is on: a current code (SMS or recovery code)
        #[arg(long)]
        current_code: Option<String>,
        /// When 2FA is on: send the current code by SMS
        #[arg(long)]
        sms: bool,
    },
    /// Turn a second factor off (asks for the password and a current code)
    Disable {
        /// Which factor (needed when both are on)
        #[arg(long, value_enum)]
        factor: Option<FactorArg>,
        /// A current code: authenticator app, SMS (see --sms) or recovery code
        #[arg(long)]
        code: Option<String>,
        /// Send the current code by SMS
        #[arg(long)]
        sms: bool,
    },
}

/// A second factor named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FactorArg {
    /// SMS codes
    Sms,
    /// Authenticator app
    Totp,
}

/// `passkeys ...`.
#[derive(Debug, Subcommand)]
pub enum PasskeysCmd {
    /// List your passkeys: id, name, when added and last used, synced or not
    List,
    /// Remove a passkey, by id or by name (asks for the password and a
    /// current code)
    #[command(group = clap::ArgGroup::new("which").required(true))]
    Remove {
        /// The passkey's id, from `cli passkeys list`
        #[arg(group = "which")]
        id: Option<String>,
        /// The passkey's name, when no other passkey has it
        #[arg(long, group = "which")]
        name: Option<String>,
        /// A current code: authenticator app, SMS (see --sms) or recovery code
        #[arg(long)]
        code: Option<String>,
        /// Send the current code by SMS
        #[arg(long)]
        sms: bool,
    },
}

/// `recovery-codes ...`.
#[derive(Debug, Subcommand)]
pub enum RecoveryCodes {
    /// Replace your recovery codes (asks for the password and a current code)
    Regenerate {
        /// A current code: authenticator app, SMS (see --sms) or recovery code
        #[arg(long)]
        code: Option<String>,
        /// Send the current code by SMS
        #[arg(long)]
        sms: bool,
    },
}

/// `password ...`.
#[derive(Debug, Subcommand)]
pub enum Password {
    /// Change your password (asks for the current one, and a current code
    /// when 2FA is on, then the new one)
    Change(StepUpArgs),
    /// Forgotten password: get a token by email, then set a new password
    #[command(subcommand)]
    Reset(Reset),
}

/// `password reset ...`.
#[derive(Debug, Subcommand)]
pub enum Reset {
    /// Email a reset token (the answer is the same for unknown addresses)
    Request {
        /// The account's email address
        #[arg(long)]
        email: String,
    },
    /// Set a new password with the emailed token
    Complete {
        /// The token from the email
        #[arg(long)]
        token: String,
    },
}

fn print_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

fn report(json: bool, result: &Result<output::Outcome, CliError>) -> Exit {
    match result {
        Ok(o) => {
            if json {
                print_json(&o.to_json());
            } else if !o.text.is_empty() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", o.text.trim_end());
            }
            o.exit()
        }
        Err(e) => {
            if json {
                print_json(&e.to_json());
            } else {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "error: {e}");
                if let Some(d) = e.retry_after {
                    let _ = writeln!(err, "try again in {} s", d.as_secs().max(1));
                }
            }
            e.exit
        }
    }
}

async fn run(cli: &Cli) -> Result<output::Outcome, CliError> {
    let db = cli.db.clone().unwrap_or_else(demo_support::default_db);
    let created = database::prepare(&db, cli.command.creates_database())?;
    let result = run_on(cli, db).await;
    // A failed import (or registration) into a new database leaves nothing
    // behind.
    if let (Err(_), Some(created)) = (&result, created) {
        created.remove_if_empty().await;
    }
    result
}

async fn run_on(cli: &Cli, db: String) -> Result<output::Outcome, CliError> {
    let mut ctx = commands::Ctx::from_cli(cli, db).await?;
    let result = commands::run(&cli.command, &mut ctx).await;
    ctx.show_outbox();
    ctx.backend.close().await;
    result
}

fn main() -> ExitCode {
    demo_support::load_dotenv();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            if code != 0 && args.iter().any(|a| a == "--json") {
                let msg = e.render().to_string();
                let msg = msg.lines().next().unwrap_or("invalid arguments");
                let msg = msg.trim_start_matches("error: ");
                print_json(&CliError::bad_input("usage", msg).to_json());
            } else {
                let _ = e.print();
            }
            return ExitCode::from(u8::try_from(code).unwrap_or(Exit::BadInput.code()));
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let err = CliError::service("runtime", format!("cannot start the runtime: {e}"));
            return ExitCode::from(report(cli.json, &Err(err)).code());
        }
    };
    let result = rt.block_on(run(&cli));
    ExitCode::from(report(cli.json, &result).code())
}
