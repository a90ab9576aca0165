//! Security notices by email: a password changed or reset, an email address
//! changed (told to the old address), a factor added or removed, recovery
//! codes regenerated, a device remembered, the username changed.
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

/// The user, the address override and the sentence of an event that gets a
/// notice.
fn notice(event: &AuthEvent) -> Option<(twofa_verify::UserId, Option<String>, String)> {
    let factor = |f: &Factor| match f {
        Factor::Sms => "text-message codes",
        Factor::Totp => "an authenticator app",
        _ => "a second factor",
    };
    Some(match event {
        AuthEvent::PasswordChanged { user, via_reset } => (
            *user,
            None,
            if *via_reset {
                "Your password was reset.".to_owned()
            } else {
                "Your password was changed.".to_owned()
            },
        ),
        AuthEvent::EmailChanged { user, old_email } => (
            *user,
            Some(old_email.clone()),
            "The email address of your account was changed; this address no longer receives its mail.".to_owned(),
        ),
        AuthEvent::FactorEnabled { user, factor: f } => {
            (*user, None, format!("Sign-in with {} was added.", factor(f)))
        }
        AuthEvent::FactorDisabled { user, factor: f } => {
            (*user, None, format!("Sign-in with {} was removed.", factor(f)))
        }
        AuthEvent::RecoveryCodesGenerated { user } => (
            *user,
            None,
            "New recovery codes were made; the old ones no longer work.".to_owned(),
        ),
        // The username is a login identifier, and changing it needs only
        // a session: a stolen one must not do it unseen.
        AuthEvent::ProfileUpdated { user } => (
            *user,
            None,
            "The username of your account was changed; this message is addressed to the new one. You can log in with it or with your email address.".to_owned(),
        ),
        AuthEvent::DeviceRemembered { user } => (
            *user,
            None,
            "A device was remembered: it can log in with the password alone.".to_owned(),
        ),
        _ => return None,
    })
}

/// Drains `outbox` in a task, mailing each notice.
pub fn spawn(mut outbox: Outbox, state: AppState) {
    tokio::spawn(async move {
        while let Some(event) = outbox.recv().await {
            let Some((id, to, what)) = notice(&event) else {
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
            send_notice(&state, &user, &to, &what).await;
        }
    });
}

/// Mails the security notice `what` about `user` to `to`, within the
/// address's mail budget (`Policy::mail_per_address`, shared with the
/// confirmation and reset mails): past it, the first notice of the window
/// becomes one summary and the others are left out, each recorded by the
/// library's `MailSuppressed` event. Every notice of the site goes through
/// here.
pub async fn send_notice(state: &AppState, user: &User, to: &str, what: &str) {
    let app = &state.config.app_name;
    let base = &state.config.base_url;
    let (subject, body) = match state.auth.reserve_mail(to, Some(user.id)).await {
        Ok(MailDecision::Send) => (
            format!("[{app}] Security notice"),
            format!(
                "Dear {},\n\n{what}\n\nIf this was you, nothing needs doing. If it was not, reset your password at {base}/reset_password_request and review your profile.\n\n{app}\n",
                user.username,
            ),
        ),
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
