//! Turning second factors on and off, and new recovery codes.

use secrecy::SecretString;
use std::fmt::Write as _;

use twofa_verify::error::FactorUnavailable;
use twofa_verify::secrecy::ExposeSecret;
use twofa_verify::{Error, Factor, User};

use super::*;
use crate::output::{CliError, Outcome};
use crate::{FactorArg, QrTheme};

pub(crate) async fn enable_sms(
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
pub(crate) fn enrollment_error(e: Error, start: &str) -> CliError {
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

pub(crate) async fn confirm_sms(
    ctx: &mut Ctx,
    user: &User,
    mut code: String,
    prompt: &str,
) -> Result<Outcome, CliError> {
    let enrolled = loop {
        match ctx
            .backend
            .auth
            .confirm_sms_enrollment(user.id, &SecretString::from(code.as_str()))
            .await
        {
            Ok(enrolled) => break enrolled,
            Err(e) => match ctx.ask_again(&e, prompt)? {
                Some(c) => code = c,
                None => return Err(enrollment_error(e, "cli 2fa enable-sms --phone NUMBER")),
            },
        }
    };
    let user = enrolled.user;
    ctx.restamp(&user)?;
    let o = Outcome::done(
        "sms_enabled",
        format!(
            "SMS codes are on: logins now ask for a code sent to {}.",
            user.masked_phone().as_deref().unwrap_or("your phone")
        ),
    )
    .with("user", user_json(&user));
    Ok(with_codes(o, enrolled.recovery_codes))
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

pub(crate) async fn enable_totp(
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
        return Err(
            Error::FactorUnavailable(FactorUnavailable::AlreadyEnabled(Factor::Totp)).into(),
        );
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

pub(crate) async fn confirm_totp(
    ctx: &mut Ctx,
    user: &User,
    mut code: String,
    prompt: &str,
) -> Result<Outcome, CliError> {
    let enrolled = loop {
        match ctx
            .backend
            .auth
            .confirm_totp_enrollment(user.id, &SecretString::from(code.as_str()))
            .await
        {
            Ok(enrolled) => break enrolled,
            Err(e) => match ctx.ask_again(&e, prompt)? {
                Some(c) => code = c,
                None => return Err(enrollment_error(e, "cli 2fa enable-totp")),
            },
        }
    };
    let user = enrolled.user;
    ctx.restamp(&user)?;
    let o = Outcome::done(
        "totp_enabled",
        "Authenticator app is on: logins now ask for its code.",
    )
    .with("user", user_json(&user));
    Ok(with_codes(o, enrolled.recovery_codes))
}

pub(crate) async fn disable(
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
    let user = ctx.backend.auth.disable_factor(user.id, f, &proof).await?;
    ctx.restamp(&user)?;
    let mut text = format!("{} is off.", factor_label(factor));
    if !user.has_second_factor() {
        text.push_str(" Two-factor authentication is off; your recovery codes were deleted.");
    }
    Ok(Outcome::done("disabled", text)
        .with("factor", name)
        .with("factors", factor_names(&user))
        .with("user", user_json(&user)))
}

pub(crate) fn factor_label(f: FactorArg) -> &'static str {
    match f {
        FactorArg::Sms => "SMS",
        FactorArg::Totp => "The authenticator app",
    }
}

pub(crate) async fn regenerate(
    ctx: &mut Ctx,
    code: Option<&str>,
    sms: bool,
) -> Result<Outcome, CliError> {
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
