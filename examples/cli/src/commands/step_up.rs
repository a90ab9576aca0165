//! Step-ups: the proof (password plus a current code) that sensitive
//! changes ask for.

use twofa_verify::{SmsDelivery, StepUp, User};

use super::*;
use crate::output::{CliError, Outcome};

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
        return Ok(Proof::Ready(StepUp::password(password)));
    }
    if let Some(c) = code {
        let password = ctx.input.password("Password: ")?;
        return Ok(Proof::Ready(StepUp::new(password, Some(c.trim()))));
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
            SmsDelivery::Sent { to, .. } => Some(to),
            _ => user.masked_phone(),
        }
    } else {
        None
    };
    let prompt = match &sent_to {
        Some(to) => format!("Code sent to {to} (or a recovery code): "),
        None if user.totp_enabled => {
            "Code from your authenticator app (or a recovery code): ".to_owned()
        }
        // Passkeys only: a terminal cannot use one, a recovery code stands in.
        None => "A recovery code (a passkey works only in a browser): ".to_owned(),
    };
    match (password, ctx.ask_code(&prompt)?) {
        (Some(password), Some(code)) => Ok(Proof::Ready(StepUp::new(password, Some(code)))),
        _ => {
            let text = match &sent_to {
                Some(to) => {
                    format!("A code was sent to {to}. Confirm with your password and: {next}")
                }
                None if user.totp_enabled => format!(
                    "A code from your authenticator app (or a recovery code) is needed, with your password: {next}"
                ),
                None => format!(
                    "A recovery code (a passkey works only in a browser) is needed, with your password: {next}"
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
