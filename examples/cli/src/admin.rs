//! `cli admin ...`: support and admin actions of an operator, over the
//! library's [`Admin`](twofa_verify::authenticator::Admin) API. Every
//! change needs `--operator NAME --reason TEXT`, is recorded in the audit
//! trail with them and mails the user a notice.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use twofa_verify::authenticator::{AdminAction, Operator};
use twofa_verify::store::AuditRecord;
use twofa_verify::{MailDecision, User};

use crate::commands::Ctx;
use crate::output::{CliError, Outcome};

/// `admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Find an account by username, email address or phone number (+E.164)
    Find {
        /// Username, email address or phone number
        query: String,
    },
    /// Show an account's security state: factors, devices, lock, recent events
    Show(Target),
    /// Lock the account until `admin unlock` (sessions and devices end)
    Lock(Acting),
    /// Lift a lock and clear the failure counters
    Unlock(Acting),
    /// Remove every second factor: the user enrolls again after logging in
    ResetSecondFactor(Acting),
    /// End every session and remembered device
    RevokeSessions(Acting),
    /// Make the password unusable: only a reset link lets the user in again
    ForcePasswordReset(Acting),
    /// Print the account's audit trail as JSON (newest first)
    Export {
        #[command(flatten)]
        target: Target,
        /// At most this many events
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

/// The account an admin command is about.
#[derive(Debug, Args)]
pub struct Target {
    /// Username, email address or phone number of the account
    #[arg(long, short)]
    pub user: String,
}

/// A change: the account, who acts and why.
#[derive(Debug, Args)]
pub struct Acting {
    #[command(flatten)]
    pub target: Target,
    /// Your name, recorded in the audit trail
    #[arg(long)]
    pub operator: String,
    /// Why (4 to 200 characters), recorded in the audit trail
    #[arg(long)]
    pub reason: String,
}

/// Runs an `admin` command.
pub async fn run(ctx: &mut Ctx, cmd: &AdminCmd) -> Result<Outcome, CliError> {
    match cmd {
        AdminCmd::Find { query } => {
            let user = find(ctx, query).await?;
            Ok(Outcome::done("found", describe(&user)).with("user", user_json(&user)))
        }
        AdminCmd::Show(t) => show(ctx, &t.user).await,
        AdminCmd::Export { target, limit } => {
            let user = find(ctx, &target.user).await?;
            let events = ctx
                .backend
                .auth
                .admin()
                .events(user.id, None, *limit)
                .await?;
            let text = serde_json::to_string_pretty(&events).unwrap_or_default();
            Ok(Outcome::done("exported", text)
                .with("user", user_json(&user))
                .with("events", &events))
        }
        AdminCmd::Lock(a) => act(ctx, a, AdminAction::Locked).await,
        AdminCmd::Unlock(a) => act(ctx, a, AdminAction::Unlocked).await,
        AdminCmd::ResetSecondFactor(a) => act(ctx, a, AdminAction::SecondFactorReset).await,
        AdminCmd::RevokeSessions(a) => act(ctx, a, AdminAction::SessionsRevoked).await,
        AdminCmd::ForcePasswordReset(a) => act(ctx, a, AdminAction::PasswordResetForced).await,
    }
}

async fn find(ctx: &Ctx, query: &str) -> Result<User, CliError> {
    ctx.backend
        .auth
        .admin()
        .find_user(query)
        .await?
        .ok_or_else(|| CliError::auth("user_not_found", format!("no account matches {query:?}")))
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.0,
        "username": user.username,
        "email": user.email,
        "sms": user.phone.is_some(),
        "totp": user.totp_enabled,
        "passkeys": user.passkeys,
    })
}

fn describe(user: &User) -> String {
    format!(
        "#{} {} <{}>, 2FA: {}",
        user.id.0,
        user.username,
        user.email,
        factors(user)
    )
}

/// The user's second factors in words ("off" without any).
fn factors(user: &User) -> String {
    let mut v: Vec<String> = Vec::new();
    if user.phone.is_some() {
        v.push("SMS".into());
    }
    if user.totp_enabled {
        v.push("authenticator app".into());
    }
    match user.passkeys {
        0 => {}
        1 => v.push("1 passkey".into()),
        n => v.push(format!("{n} passkeys")),
    }
    match v.as_slice() {
        [] => "off".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn event_line(r: &AuditRecord) -> String {
    let e = &r.entry;
    let when = e.at.as_secs();
    let mut line = format!("  {when} {}", e.kind);
    for (label, v) in [
        ("", &e.detail),
        ("from ", &e.network),
        ("on ", &e.device),
        ("by ", &e.operator),
        ("because ", &e.reason),
    ] {
        if let Some(v) = v {
            line.push_str(&format!(" {label}{v}"));
        }
    }
    line
}

async fn show(ctx: &Ctx, query: &str) -> Result<Outcome, CliError> {
    let user = find(ctx, query).await?;
    let state = ctx.backend.auth.admin().security_state(user.id).await?;
    let mut text = describe(&user);
    text.push_str(&format!(
        "\nrecovery codes left: {}\nlocked: {}\nremembered devices: {}\n",
        state.recovery_codes_left,
        state
            .locked_for
            .map_or("no".to_owned(), |d| format!("{} s more", d.as_secs())),
        state.devices.len()
    ));
    for d in &state.devices {
        text.push_str(&format!("  {} {}\n", d.id, d.label));
    }
    text.push_str("recent events (newest first):\n");
    for r in &state.recent_events {
        text.push_str(&event_line(r));
        text.push('\n');
    }
    let devices: Vec<_> = state
        .devices
        .iter()
        .map(|d| json!({ "id": d.id, "label": d.label, "last_used_at": d.last_used_at.as_secs() }))
        .collect();
    Ok(Outcome::done("security_state", text)
        .with("user", user_json(&user))
        .with("recovery_codes_left", state.recovery_codes_left)
        .with("locked_for_secs", state.locked_for.map(|d| d.as_secs()))
        .with("devices", devices)
        .with("events", &state.recent_events))
}

async fn act(ctx: &Ctx, a: &Acting, action: AdminAction) -> Result<Outcome, CliError> {
    // Checked before the lookup: a bad operator or reason changes nothing.
    let operator = Operator::new(&a.operator, &a.reason)?;
    let user = find(ctx, &a.target.user).await?;
    let admin = ctx.backend.auth.admin();
    let what = match action {
        AdminAction::Locked => {
            admin.lock(user.id, &operator).await?;
            "Your account was locked by our support team"
        }
        AdminAction::Unlocked => {
            admin.unlock(user.id, &operator).await?;
            "Your account was unlocked by our support team"
        }
        AdminAction::SecondFactorReset => {
            admin.reset_second_factor(user.id, &operator).await?;
            "Our support team removed the two-factor authentication of your account; set it up again after your next login"
        }
        AdminAction::SessionsRevoked => {
            admin.revoke_sessions(user.id, &operator).await?;
            "Our support team signed your account out everywhere and forgot its remembered devices"
        }
        AdminAction::PasswordResetForced => {
            admin.force_password_reset(user.id, &operator).await?;
            "Our support team reset your password: choose a new one with `cli password reset request`"
        }
        _ => return Err(CliError::bad_input("usage", "unknown admin action")),
    };
    notify(ctx, &user, what).await?;
    Ok(Outcome::done(
        "done",
        format!("{} on {} ({}).", action, user.username, operator.name()),
    )
    .with("action", action.name())
    .with("user", user_json(&user)))
}

/// Mails the user a notice of what was done (within the address's mail
/// budget, as every notice).
async fn notify(ctx: &Ctx, user: &User, what: &str) -> Result<(), CliError> {
    let body = format!(
        "Dear {},\n\n{what}.\n\nIf you did not ask for this, contact support.\n",
        user.username
    );
    match ctx
        .backend
        .auth
        .reserve_mail(&user.email, Some(user.id))
        .await?
    {
        MailDecision::Send | MailDecision::SendSummary => ctx
            .backend
            .mailer
            .send(&user.email, "Security notice", &body)
            .await
            .map_err(|e| {
                CliError::service("mail_error", format!("could not send the notice: {e}"))
            }),
        _ => Ok(()),
    }
}
