//! Commands about the account's credentials, sessions and devices: the
//! password (change, reset), the email change (with a step-up),
//! `sign-out-everywhere`, remembered devices, and keeping this CLI's own
//! session after a change made through it.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;
use twofa_verify::{EmailChangeMail, Error, Timestamp, User, Verification};

use crate::commands::{Ctx, Proof, step_up, user_json};
use crate::output::{CliError, Outcome};
use crate::session::{Device, SessionFile};
use crate::{DeviceAction, DevicesArgs, ProfileArgs, StepUpArgs};

impl Ctx {
    /// Keeps this session after a change made through it: the change moved
    /// the user's credentials on (which ends every other session), so the
    /// session takes the user's new stamp. `user` is the one the change
    /// returned.
    pub(crate) fn restamp(&mut self, user: &User) -> Result<(), CliError> {
        let mut file = self.sessions.load()?;
        let Some(s) = file.session.as_ref().filter(|s| s.user == user.id.0) else {
            return Ok(());
        };
        let stamp = self.backend.auth.session_stamp(user);
        let s = self.sessions.restamp(s, stamp.as_str())?;
        file.session = Some(s);
        self.sessions.save(&file)?;
        Ok(())
    }
}

/// Remembers this terminal after a login with a second factor: the device
/// token goes into the session file (it outlives `logout`), replacing the
/// one of any other user. The login stands either way: a failure here is
/// told in the outcome, not returned.
pub async fn remember_this_device(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    v: &Verification,
    o: Outcome,
) -> Outcome {
    match remember(ctx, file, v).await {
        Ok((id, expires_at)) => {
            let lasts = roughly(ctx.now().until(expires_at));
            let mut o = o
                .with("device_id", id)
                .with("device_expires_at", expires_at.as_millis());
            let _ = write!(
                o.text,
                "\nThis terminal is remembered for {lasts}: logins here skip the code \
                 (until the password or a factor changes; `cli devices` lists remembered devices)."
            );
            o
        }
        Err(e) => {
            let mut o = o.with("device_error", &e.message);
            let _ = write!(o.text, "\nThis terminal could not be remembered: {e}");
            o
        }
    }
}

async fn remember(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    v: &Verification,
) -> Result<(String, Timestamp), CliError> {
    let token = ctx.backend.auth.remember_device(v).await?;
    // The token does not name its device; the one just added expires at
    // exactly the token's expiry.
    let id = ctx
        .backend
        .auth
        .devices(v.user.id)
        .await?
        .into_iter()
        .filter(|d| d.expires_at == token.expires_at)
        .max_by_key(|d| d.created_at)
        .map(|d| d.id)
        .unwrap_or_default();
    file.device = Some(Device {
        user: v.user.id.0,
        id: id.clone(),
        token: token.token().to_owned(),
        expires_at: token.expires_at.as_millis(),
    });
    ctx.sessions.save(file)?;
    Ok((id, token.expires_at))
}

/// The device token this terminal holds, for the next login.
pub fn device_token(file: &SessionFile) -> Option<String> {
    file.device.as_ref().map(|d| d.token.clone())
}

// ------------------------------------------------------------ passwords

/// `password change`: the current password (and a current code when 2FA
/// is on), then the new one; this session stays, every other one ends.
pub async fn change_password(ctx: &mut Ctx, a: &StepUpArgs) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let next = "cli password change --current-code CODE";
    let proof = match step_up(ctx, &user, a.current_code.as_deref(), a.sms, next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let new = ctx.input.new_password("New password: ")?;
    let user = ctx
        .backend
        .auth
        .change_password(user.id, &proof, &new)
        .await?;
    ctx.restamp(&user)?;
    Ok(Outcome::done(
        "password_changed",
        "Password changed. Every other session and remembered device of yours ended.",
    ))
}

/// `password reset request`: emails a token (the same answer for unknown
/// addresses, and without a mail once the address's mail budget,
/// `Policy::mail_per_address`, is spent: the library then returns no token).
pub async fn reset_request(ctx: &mut Ctx, email: &str) -> Result<Outcome, CliError> {
    let token = ctx.backend.auth.request_password_reset(email).await?;
    if let Some(t) = token {
        let minutes = ctx.backend.auth.policy().reset_token_ttl.as_secs() / 60;
        let mut body = format!(
            "Dear {},\n\nTo reset your password, run:\n\n    cli password reset complete --token {}\n\n",
            t.username,
            t.token()
        );
        if let Some(base) = std::env::var("BASE_URL").ok().filter(|b| !b.is_empty()) {
            let _ = write!(
                body,
                "or open this link:\n\n    {}/reset_password/{}\n\n",
                base.trim_end_matches('/'),
                t.token()
            );
        }
        let _ = write!(
            body,
            "The token works once and expires in {minutes} minutes.\nIf you did not ask for a password reset, ignore this message.\n"
        );
        ctx.backend
            .mailer
            .send(&t.email, "Reset your password", &body)
            .await
            .map_err(|e| {
                CliError::service("mail_error", format!("could not send the email: {e}"))
            })?;
    }
    Ok(Outcome::done(
        "reset_requested",
        "If this address belongs to an account, a reset token was emailed to it.\n\
         Then run: cli password reset complete --token TOKEN",
    )
    .with("next", "cli password reset complete --token TOKEN"))
}

/// `password reset complete`: a new password with the emailed token.
pub async fn reset_complete(ctx: &mut Ctx, token: &str) -> Result<Outcome, CliError> {
    // Check the token before asking for a password.
    let user = ctx.backend.auth.check_reset_token(token).await?;
    let pw = ctx
        .input
        .new_password(&format!("New password for {}: ", user.username))?;
    let user = ctx.backend.auth.reset_password(token, &pw).await?;
    Ok(Outcome::done(
        "password_reset",
        format!(
            "Password reset. Log in with: cli login --user {}",
            user.username
        ),
    )
    .with("user", user_json(&user)))
}

// ------------------------------------------------------------ account

/// `edit-profile`: the username freely; a new email address after a
/// step-up (the password, plus a current code when 2FA is on) and the
/// token emailed to it ([`confirm_email`]). The current address is told.
pub async fn edit_profile(ctx: &mut Ctx, a: &ProfileArgs) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let auth = ctx.backend.auth.clone();
    // Checks both values first; an email address that differs from the
    // current one is refused here and changed below, after a step-up.
    let user = match auth
        .update_profile(user.id, a.username.as_deref(), a.email.as_deref())
        .await
    {
        Ok(u) => u,
        Err(Error::StepUpRequired) => {
            let email = a.email.as_deref().unwrap_or_default();
            let mut next = format!("cli edit-profile --email {email}");
            if let Some(u) = &a.username {
                let _ = write!(next, " --username {u}");
            }
            next.push_str(" --current-code CODE");
            let proof = match step_up(ctx, &user, a.current_code.as_deref(), a.sms, &next).await? {
                Proof::Ready(s) => s,
                Proof::Pending(o) => return Ok(o),
            };
            let mail = auth.start_email_change(user.id, email, &proof).await?;
            let user = match &a.username {
                Some(u) => auth.update_profile(user.id, Some(u), None).await?,
                None => user,
            };
            send_email_change(ctx, &mail).await?;
            return Ok(Outcome::pending(
                "email_confirmation_sent",
                format!(
                    "A token was emailed to {}; your address stays {} until you run: cli confirm-email --token TOKEN",
                    mail.email, user.email
                ),
            )
            .with("next", "cli confirm-email --token TOKEN")
            .with("user", user_json(&user)));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Outcome::done(
        "profile_updated",
        format!("Profile updated: {} <{}>", user.username, user.email),
    )
    .with("user", user_json(&user)))
}

/// Mails an email change's token to the new address, and a notice to the
/// current one (a change its owner did not ask for dies with a password
/// change).
async fn send_email_change(ctx: &Ctx, mail: &EmailChangeMail) -> Result<(), CliError> {
    let hours = ctx.backend.auth.policy().registration_token_ttl.as_secs() / 3600;
    let link = format!(
        "Dear {},\n\nTo make this the email address of your account, run:\n\n    cli confirm-email --token {}\n\nThe token works once and expires in {hours} hours.\nIf you did not ask for this, ignore this message: nothing changes.\n",
        mail.username,
        mail.token()
    );
    let notice = format!(
        "Dear {},\n\nSomeone asked to change the email address of your account to {}. It changes only when the token sent there is used.\n\nIf this was not you, change your password now (cli password change): that cancels the change and ends every other session.\n",
        mail.username, mail.email
    );
    let mailer = &ctx.backend.mailer;
    let sent = async {
        mailer
            .send(&mail.email, "Confirm your new email address", &link)
            .await?;
        mailer
            .send(&mail.current_email, "Security notice", &notice)
            .await
    };
    sent.await
        .map_err(|e| CliError::service("mail_error", format!("could not send the email: {e}")))
}

/// `confirm-email`: moves the account to the new address of an email
/// change. Every other session ends; this one takes the new stamp.
pub async fn confirm_email(ctx: &mut Ctx, token: &str) -> Result<Outcome, CliError> {
    let user = ctx.backend.auth.confirm_email_change(token).await?;
    ctx.restamp(&user)?;
    Ok(Outcome::done(
        "email_changed",
        format!("Email address changed to {}.", user.email),
    )
    .with("user", user_json(&user)))
}

/// `sign-out-everywhere`: ends every session and remembered device of the
/// user, this session included.
pub async fn sign_out_everywhere(ctx: &mut Ctx, a: &StepUpArgs) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let next = "cli sign-out-everywhere --current-code CODE";
    let proof = match step_up(ctx, &user, a.current_code.as_deref(), a.sms, next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    ctx.backend
        .auth
        .sign_out_everywhere(user.id, &proof)
        .await?;
    let mut file = ctx.sessions.load()?;
    // The new credential stamp ends every session already; the record of
    // this one goes too.
    if let Some(s) = file.session.take() {
        ctx.sessions.revoke(&s).await?;
    }
    file.pending = None;
    if file.device.as_ref().is_some_and(|d| d.user == user.id.0) {
        file.device = None;
    }
    ctx.sessions.save(&file)?;
    Ok(Outcome::done(
        "signed_out_everywhere",
        format!(
            "Every session of {} ended, this one included, and no device is remembered any more.\n\
             Log in again with: cli login --user {}",
            user.username, user.username
        ),
    ))
}

/// "30 days", "5 minutes": how long, rounded to the nearest unit.
pub(crate) fn roughly(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0..60 => return "less than a minute".to_owned(),
        60..7_200 => ((s + 30) / 60, "minute"),
        7_200..172_800 => ((s + 1_800) / 3_600, "hour"),
        _ => ((s + 43_200) / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `devices`: lists the remembered devices; `devices forget ID|--all`.
pub async fn devices(ctx: &mut Ctx, a: &DevicesArgs) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let mut file = ctx.sessions.load()?;
    let here = file
        .device
        .as_ref()
        .filter(|d| d.user == user.id.0)
        .map(|d| d.id.clone());
    let auth = ctx.backend.auth.clone();
    match &a.action {
        None => {
            let now = ctx.now();
            let list = auth.devices(user.id).await?;
            let mut text = String::new();
            if list.is_empty() {
                text.push_str("No remembered devices: every login asks for the code.");
            }
            for d in &list {
                let _ = writeln!(
                    text,
                    "{}  {}{}  last used {} ago, expires in {}",
                    d.id,
                    d.label,
                    if here.as_deref() == Some(d.id.as_str()) {
                        " (this terminal)"
                    } else {
                        ""
                    },
                    roughly(d.last_used_at.until(now)),
                    roughly(now.until(d.expires_at)),
                );
            }
            if !list.is_empty() {
                text.push_str("Forget one with `cli devices forget ID`, or all with --all.");
            }
            let json: Vec<_> = list
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "label": d.label,
                        "this_terminal": here.as_deref() == Some(d.id.as_str()),
                        "created_at": d.created_at.as_millis(),
                        "last_used_at": d.last_used_at.as_millis(),
                        "expires_at": d.expires_at.as_millis(),
                    })
                })
                .collect();
            Ok(Outcome::done("devices", text).with("devices", json))
        }
        Some(DeviceAction::Forget { id, all }) => {
            let (count, ours) = match (id, all) {
                (_, true) => (auth.forget_all_devices(user.id).await?, here.is_some()),
                (Some(id), false) => {
                    // Forgetting is idempotent; the CLI still tells a
                    // mistyped id from a forgotten device.
                    if !auth.devices(user.id).await?.iter().any(|d| d.id == *id) {
                        return Err(CliError::bad_input(
                            "unknown_device",
                            format!("no remembered device {id}: see `cli devices`"),
                        ));
                    }
                    auth.forget_device(user.id, id).await?;
                    (1, here.as_deref() == Some(id.as_str()))
                }
                (None, false) => {
                    return Err(CliError::bad_input("usage", "give a device id or --all"));
                }
            };
            if ours {
                file.device = None;
                ctx.sessions.save(&file)?;
            }
            Ok(Outcome::done(
                "devices_forgotten",
                format!(
                    "Forgot {count} device{}: logins there ask for the code again.",
                    if count == 1 { "" } else { "s" }
                ),
            )
            .with("forgotten", count))
        }
    }
}
