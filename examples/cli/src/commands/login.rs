//! Logging in and out: password, second factor, remembered device.

use secrecy::SecretString;
use std::fmt::Write as _;

use twofa_verify::{Challenge, Error, Factor, Login, SmsDelivery, User};

use super::*;
use crate::LoginArgs;
use crate::account;
use crate::output::{CliError, Outcome};
use crate::session::{Pending, SessionFile};

pub(crate) async fn login(ctx: &mut Ctx, a: &LoginArgs) -> Result<Outcome, CliError> {
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
            let mut o = logged_in(ctx, &mut file, &user).await?;
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
        // A second factor is required of this account (the policy's
        // `second_factor_required`): signed in for the grace period, told
        // what is left of it and how to enroll.
        Login::EnrollSoon { user, grace } => {
            let mut o = logged_in(ctx, &mut file, &user).await?;
            let left = match (grace.sign_ins, grace.until) {
                (Some(n), _) => format!("{n} more sign-in{}", if n == 1 { "" } else { "s" }),
                (None, Some(until)) => format!(
                    "{} more day(s)",
                    ctx.now().until(until).as_secs().div_ceil(24 * 3600)
                ),
                (None, None) => "a short while".to_owned(),
            };
            let _ = write!(
                o.text,
                "\nThis account must turn on two-factor authentication: {left} without it. \
                 Run `cli 2fa enable-totp` or `cli 2fa enable-sms --phone NUMBER`."
            );
            Ok(o.with("enrollment", "due")
                .with("next", "cli 2fa enable-totp"))
        }
        // The grace period is over: no session. This CLI has no
        // enrollment-only state, so the user enrolls where the app offers
        // it (the demo site's /enroll_2fa) or an operator helps.
        Login::EnrollmentRequired(_) => Err(CliError::auth(
            "enrollment_required",
            "this account must turn on two-factor authentication before it can sign in, and \
             its grace period is over: set it up on the website (it asks for your password and \
             leads you through it), or ask an operator",
        )),
        // A kind of login this CLI does not know (from a newer library).
        other => Err(CliError::service(
            "unsupported_login",
            format!("this login needs a step the CLI does not support: {other:?}"),
        )),
    }
}

/// Drops a pending login that can no longer be finished.
pub(crate) fn forget_dead_pending<T>(
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

pub(crate) async fn finish_login(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    token: &str,
    mut code: String,
    prompt: &str,
    remember: bool,
) -> Result<Outcome, CliError> {
    loop {
        let r = ctx
            .backend
            .auth
            .verify(token, &SecretString::from(code.as_str()))
            .await;
        match r {
            Ok(v) => {
                let mut o = logged_in(ctx, file, &v.user).await?;
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

pub(crate) async fn logged_in(
    ctx: &mut Ctx,
    file: &mut SessionFile,
    user: &User,
) -> Result<Outcome, CliError> {
    let stamp = ctx.backend.auth.session_stamp(user);
    let session = ctx
        .sessions
        .issue(user.id, stamp.as_str(), ctx.now())
        .await?;
    // The session this file held before ends: a copy of the file made
    // earlier does not live on.
    if let Some(old) = file.session.take() {
        ctx.sessions.revoke(&old).await?;
    }
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

pub(crate) fn code_prompt(ch: &Challenge) -> String {
    let app = ch.methods.contains(&Factor::Totp);
    match (&ch.sms, app) {
        (Some(SmsDelivery::Sent { to, .. }), _) => {
            format!("Code sent to {to} (or a recovery code): ")
        }
        (_, true) => "Code from your authenticator app (or a recovery code): ".to_owned(),
        _ => "Recovery code: ".to_owned(),
    }
}

pub(crate) fn pending_login(ident: &str, ch: &Challenge) -> Outcome {
    let mut text = String::new();
    match &ch.sms {
        Some(SmsDelivery::Sent {
            to,
            channel: Some("call"),
            ..
        }) => {
            let _ = writeln!(text, "{to} is being called: the code is read out.");
        }
        Some(SmsDelivery::Sent { to, .. }) => {
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

pub(crate) async fn logout(ctx: &mut Ctx) -> Result<Outcome, CliError> {
    let mut file = ctx.sessions.load()?;
    // The record goes first: should the store fail, the file keeps the
    // session, and the logout can be run again.
    if let Some(s) = &file.session {
        ctx.sessions.revoke(s).await?;
    }
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

pub(crate) async fn whoami(ctx: &mut Ctx) -> Result<Outcome, CliError> {
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
