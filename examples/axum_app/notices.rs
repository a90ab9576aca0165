//! Security notices by email: a password changed or reset, an email address
//! changed (told to the old address), a factor added or removed, recovery
//! codes regenerated, a device remembered, the username changed.
//!
//! The authenticator's events are synchronous and must be quick, so the
//! sink only logs them and forwards the interesting ones to a channel; a
//! task drains it, looks the user up and sends the mail.

use tokio::sync::mpsc;
use twofa_verify::{AuthEvent, EventSink, Factor, RequestContext, TracingSink};

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
            let app = &state.config.app_name;
            let to = to.unwrap_or(user.email);
            let subject = format!("[{app}] Security notice");
            let body = format!(
                "Dear {},\n\n{what}\n\nIf this was you, nothing needs doing. If it was not, reset your password at {}/reset_password_request and review your profile.\n\n{app}\n",
                user.username, state.config.base_url,
            );
            if let Err(e) = state.mailer.send(&to, &subject, &body).await {
                tracing::error!(error = %e, "could not send a security notice");
            }
        }
    });
}
