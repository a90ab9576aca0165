//! Security notices by email: a password changed or reset, an email change
//! asked for (told to the current address) and made (told to the old one),
//! a factor added or removed, the phone changed, recovery codes
//! regenerated, every session signed out, a device remembered, the
//! username changed.
//!
//! The authenticator's events are synchronous and must be quick, so the
//! sink only logs them and forwards the interesting ones to a channel; a
//! task drains it, looks the user up and sends the mail through
//! [`send_notice`], within the address's mail budget.

use tokio::sync::mpsc;
use twofa_verify::{AuthEvent, EventSink, Factor, MailDecision, RequestContext, TracingSink, User};

use super::AppState;

/// The event sink: logs every event, forwards the notices.
#[derive(Debug)]
pub struct NoticeSink(mpsc::UnboundedSender<AuthEvent>);

/// The receiving end, for [`spawn`].
pub type Outbox = mpsc::UnboundedReceiver<AuthEvent>;

/// A sink and its outbox.
pub fn channel() -> (NoticeSink, Outbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (NoticeSink(tx), rx)
}

impl EventSink for NoticeSink {
    fn emit(&self, event: &AuthEvent) {
        self.emit_with_context(event, &RequestContext::new());
    }

    fn emit_with_context(&self, event: &AuthEvent, context: &RequestContext) {
        TracingSink.emit_with_context(event, context);
        if notice(event).is_some() {
            // Closed only when the site is gone.
            let _ = self.0.send(event.clone());
        }
    }
}

/// What to do about a change one did not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Advice {
    /// Reset the password (the account's address still gets the link).
    ResetPassword,
    /// Change the password while logged in, which cancels the pending
    /// email change.
    ChangePassword,
    /// The account's mail now goes elsewhere: log in and take it back.
    TakeBack,
}

/// A notice: to whom (the account's address unless `to` is given), what
/// happened, and what to do if it was not the owner.
struct Notice {
    user: twofa_verify::UserId,
    to: Option<String>,
    what: String,
    advice: Advice,
}

/// The notice of an event, if it gets one.
fn notice(event: &AuthEvent) -> Option<Notice> {
    use Advice::*;
    let factor = |f: &Factor| match f {
        Factor::Sms => "text-message codes",
        Factor::Totp => "an authenticator app",
        _ => "a second factor",
    };
    let (user, to, what, advice) = match event {
        AuthEvent::PasswordChanged { user, via_reset } => (
            *user,
            None,
            if *via_reset {
                "Your password was reset.".to_owned()
            } else {
                "Your password was changed.".to_owned()
            },
            ResetPassword,
        ),
        AuthEvent::EmailChanged { user, old_email } => (
            *user,
            Some(old_email.clone()),
            "The email address of your account was changed; this address no longer receives its mail.".to_owned(),
            TakeBack,
        ),
        AuthEvent::EmailChangeRequested {
            user,
            current_email,
        } => (
            *user,
            Some(current_email.clone()),
            "Someone asked to change the email address of your account. A link went to the new address; nothing changes until it is opened.".to_owned(),
            ChangePassword,
        ),
        AuthEvent::FactorEnabled { user, factor: f } => {
            (*user, None, format!("Sign-in with {} was added.", factor(f)), ResetPassword)
        }
        AuthEvent::FactorDisabled { user, factor: f } => {
            (*user, None, format!("Sign-in with {} was removed.", factor(f)), ResetPassword)
        }
        AuthEvent::RecoveryCodesGenerated { user } => (
            *user,
            None,
            "New recovery codes were made; the old ones no longer work.".to_owned(),
            ResetPassword,
        ),
        AuthEvent::PhoneChanged { user } => (
            *user,
            None,
            "The phone number that receives your sign-in codes was changed.".to_owned(),
            ResetPassword,
        ),
        AuthEvent::SignedOutEverywhere { user } => (
            *user,
            None,
            "Every session of your account was signed out, and every remembered device forgotten.".to_owned(),
            ResetPassword,
        ),
        // The username is a login identifier, and changing it needs only
        // a session: a stolen one must not do it unseen.
        AuthEvent::ProfileUpdated { user } => (
            *user,
            None,
            "The username of your account was changed; this message is addressed to the new one. You can log in with it or with your email address.".to_owned(),
            ResetPassword,
        ),
        AuthEvent::DeviceRemembered { user } => (
            *user,
            None,
            "A device was remembered: it can log in with the password alone.".to_owned(),
            ResetPassword,
        ),
        _ => return None,
    };
    Some(Notice {
        user,
        to,
        what,
        advice,
    })
}

/// Drains `outbox` in a task, mailing each notice.
pub fn spawn(mut outbox: Outbox, state: AppState) {
    tokio::spawn(async move {
        while let Some(event) = outbox.recv().await {
            let Some(Notice {
                user: id,
                to,
                what,
                advice,
            }) = notice(&event)
            else {
                continue;
            };
            let user = match state.auth.user(id).await {
                Ok(Some(u)) => u,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot look up the user of a notice");
                    continue;
                }
            };
            let to = to.unwrap_or_else(|| user.email.clone());
            send_notice(&state, &user, &to, &what, advice).await;
        }
    });
}

/// Mails the security notice `what` about `user` to `to`, with `advice`
/// for an owner who did not do it, within the address's mail budget
/// (`Policy::mail_per_address`, shared with the confirmation and reset
/// mails): past it, the first notice of the window becomes one summary and
/// the others are left out, each recorded by the library's `MailSuppressed`
/// event. Every notice of the site goes through here.
async fn send_notice(state: &AppState, user: &User, to: &str, what: &str, advice: Advice) {
    let app = &state.config.app_name;
    let base = &state.config.base_url;
    let (subject, body) = match state.auth.reserve_mail(to, Some(user.id)).await {
        Ok(MailDecision::Send) => {
            let if_not_you = match advice {
                Advice::ResetPassword => format!(
                    "If it was not, reset your password at {base}/reset_password_request and review your profile."
                ),
                Advice::ChangePassword => format!(
                    "If it was not, someone has your password: change it now at {base}/change_password. That cancels the change and signs every other session out."
                ),
                Advice::TakeBack => format!(
                    "If it was not, log in at {base}/login with your username and password (they still work unless they were changed too), change your password, then change the email address back. If you cannot log in, ask the administrator of {app} to restore the account."
                ),
            };
            (
                format!("[{app}] Security notice"),
                format!(
                    "Dear {},\n\n{what}\n\nIf this was you, nothing needs doing. {if_not_you}\n\n{app}\n",
                    user.username,
                ),
            )
        }
        Ok(MailDecision::SendSummary) => (
            format!("[{app}] Several security notices"),
            format!(
                "Dear {},\n\nThere were several security messages for your account in the last hour; further ones are not mailed for now. Log in at {base}/login to review your account.\n\nIf something was not you, reset your password at {base}/reset_password_request.\n\n{app}\n",
                user.username,
            ),
        ),
        // Suppressed (or a kind this site does not know): nothing to send.
        Ok(_) => return,
        Err(e) => {
            tracing::error!(error = %e, user = %user.id, "cannot reserve the mail of a notice; not sent");
            return;
        }
    };
    if let Err(e) = state.mailer.send(to, &subject, &body).await {
        tracing::error!(error = %e, "could not send a security notice");
    }
}
