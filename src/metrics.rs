//! Counters and a histogram through the `metrics` facade (feature `metrics`):
//! [`MetricsSink`] turns the authenticator's events into counters that any
//! exporter (Prometheus, StatsD, OpenTelemetry...) can serve.
//!
//! Every label value is one of a few fixed words: never a user id, a
//! name, an address or a number, so the series stay few and carry no
//! personal data.
//!
//! | metric | labels |
//! |---|---|
//! | `twofa_logins_total` | `outcome`: `success`, `failure`, `second_factor`, `enroll_soon`, `enrollment_required`; `factor` on success: `none`, `sms`, `totp`, `recovery_code`, `passkey` |
//! | `twofa_step_ups_total` | `outcome`: `passed`, `failed`; `factor`: as for logins (`none` when the password alone was asked, or on failure) |
//! | `twofa_lockouts_total` | |
//! | `twofa_codes_sent_total` | `channel`: `sms` |
//! | `twofa_codes_rejected_total` | `factor` |
//! | `twofa_budgets_hit_total` | `budget`: `sms_account`, `client_login`, `client_register`, `client_reset`, `client_sms`, `client_mail`, `client_passkey_sign_in`, `sms_global`, `sms_unverified`, `mail` |
//! | `twofa_events_total` | `event`: the [`AuthEvent`] variant, snake case |
//!
//! Two histograms, recorded with the feature on whatever the sink (the
//! facade drops them when no recorder is installed):
//!
//! | metric | labels |
//! |---|---|
//! | `twofa_state_store_seconds` | `op`: the `StateStore` method (`get`, `reserve_attempt`, `settle_attempt`, ...); the time of every state-store call a flow makes |
//! | `twofa_user_store_seconds` | `op`: the `UserStore` method (`user_by_username`, `user_by_id`, `create_user`, ...); the time of every user-store call a flow makes |

use std::sync::Arc;

use crate::context::RequestContext;
use crate::event::{AuthEvent, EventSink, Factor, LimitedAction, TracingSink};

/// An [`EventSink`] that counts every event through the `metrics` facade,
/// then hands it on to another sink (by default [`TracingSink`], the
/// authenticator's default, so the log stays as it was). The metric names
/// and labels are in the [module documentation](self).
///
/// ```
/// use twofa_verify::event::RecordingSink;
/// use twofa_verify::metrics::MetricsSink;
/// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
///
/// // The app installs its exporter (e.g. `metrics-exporter-prometheus`)
/// // once at start-up; then:
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .events(MetricsSink::new()) // counts, then logs
///     .build()?;
/// // Or in front of the app's own sink:
/// let notices = RecordingSink::new();
/// let sink = MetricsSink::wrapping(notices);
/// # let _ = (auth, sink);
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetricsSink {
    next: Arc<dyn EventSink>,
}

impl Default for MetricsSink {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsSink {
    /// Counts, then logs through [`TracingSink`] (see the [`MetricsSink`]
    /// example).
    pub fn new() -> Self {
        Self::wrapping(TracingSink)
    }

    /// Counts, then hands each event to `next` (see the [`MetricsSink`]
    /// example).
    pub fn wrapping(next: impl EventSink + 'static) -> Self {
        MetricsSink {
            next: Arc::new(next),
        }
    }
}

impl EventSink for MetricsSink {
    fn emit(&self, event: &AuthEvent, context: &RequestContext) {
        count(event);
        self.next.emit(event, context);
    }
}

fn factor_label(factor: Option<Factor>) -> &'static str {
    match factor {
        None => "none",
        Some(Factor::Sms) => "sms",
        Some(Factor::Totp) => "totp",
        Some(Factor::RecoveryCode) => "recovery_code",
        Some(Factor::Passkey) => "passkey",
        #[allow(unreachable_patterns)]
        Some(_) => "other",
    }
}

fn login(outcome: &'static str, factor: &'static str) {
    ::metrics::counter!("twofa_logins_total", "outcome" => outcome, "factor" => factor)
        .increment(1);
}

fn budget(name: &'static str) {
    ::metrics::counter!("twofa_budgets_hit_total", "budget" => name).increment(1);
}

/// The counters of one event.
fn count(event: &AuthEvent) {
    ::metrics::counter!("twofa_events_total", "event" => event_name(event)).increment(1);
    match event {
        AuthEvent::LoginSucceeded { factor, .. } => login("success", factor_label(*factor)),
        AuthEvent::LoginFailed { .. } => login("failure", "none"),
        AuthEvent::SecondFactorRequired { .. } => login("second_factor", "none"),
        AuthEvent::SecondFactorEnrollmentDue { grace_over, .. } => login(
            if *grace_over {
                "enrollment_required"
            } else {
                "enroll_soon"
            },
            "none",
        ),
        AuthEvent::Locked { .. } => ::metrics::counter!("twofa_lockouts_total").increment(1),
        AuthEvent::CodeSent { .. } => {
            ::metrics::counter!("twofa_codes_sent_total", "channel" => "sms").increment(1);
        }
        AuthEvent::CodeRejected { factor, .. } => {
            ::metrics::counter!("twofa_codes_rejected_total", "factor" => factor_label(Some(*factor)))
                .increment(1);
        }
        AuthEvent::SendLimited { .. } => budget("sms_account"),
        AuthEvent::ClientLimited { action } => budget(match action {
            LimitedAction::Login => "client_login",
            LimitedAction::Register => "client_register",
            LimitedAction::PasswordReset => "client_reset",
            LimitedAction::SmsSend => "client_sms",
            LimitedAction::Mail => "client_mail",
            LimitedAction::PasskeySignIn => "client_passkey_sign_in",
            #[allow(unreachable_patterns)]
            _ => "client_other",
        }),
        AuthEvent::SmsBudgetExhausted { unverified, .. } => budget(if *unverified {
            "sms_unverified"
        } else {
            "sms_global"
        }),
        AuthEvent::MailSuppressed { .. } => budget("mail"),
        AuthEvent::StepUpChecked { factor, passed, .. } => {
            ::metrics::counter!(
                "twofa_step_ups_total",
                "outcome" => if *passed { "passed" } else { "failed" },
                "factor" => factor_label(*factor)
            )
            .increment(1);
        }
        _ => {}
    }
}

/// The event's variant in snake case, a fixed word (the label of
/// `twofa_events_total`).
fn event_name(event: &AuthEvent) -> &'static str {
    match event {
        AuthEvent::Registered { .. } => "registered",
        AuthEvent::LoginSucceeded { .. } => "login_succeeded",
        AuthEvent::SecondFactorRequired { .. } => "second_factor_required",
        AuthEvent::LoginFailed { .. } => "login_failed",
        AuthEvent::CodeRejected { .. } => "code_rejected",
        AuthEvent::TotpReplayRefused { .. } => "totp_replay_refused",
        AuthEvent::Locked { .. } => "locked",
        AuthEvent::CodeSent { .. } => "code_sent",
        AuthEvent::SendLimited { .. } => "send_limited",
        AuthEvent::ClientLimited { .. } => "client_limited",
        AuthEvent::SmsBudgetExhausted { .. } => "sms_budget_exhausted",
        AuthEvent::RegistrationStarted { .. } => "registration_started",
        AuthEvent::FactorEnabled { .. } => "factor_enabled",
        AuthEvent::FactorDisabled { .. } => "factor_disabled",
        AuthEvent::PhoneChanged { .. } => "phone_changed",
        AuthEvent::RecoveryCodeUsed { .. } => "recovery_code_used",
        AuthEvent::RecoveryCodesGenerated { .. } => "recovery_codes_generated",
        AuthEvent::PasswordChanged { .. } => "password_changed",
        AuthEvent::UserImported { .. } => "user_imported",
        AuthEvent::PasswordResetRequested { .. } => "password_reset_requested",
        AuthEvent::PasswordRehashed { .. } => "password_rehashed",
        AuthEvent::ProfileUpdated { .. } => "profile_updated",
        AuthEvent::EmailChangeRequested { .. } => "email_change_requested",
        AuthEvent::EmailChanged { .. } => "email_changed",
        AuthEvent::SignedOutEverywhere { .. } => "signed_out_everywhere",
        AuthEvent::MailSuppressed { .. } => "mail_suppressed",
        AuthEvent::DeviceRemembered { .. } => "device_remembered",
        AuthEvent::DeviceForgotten { .. } => "device_forgotten",
        AuthEvent::SecondFactorEnrollmentDue { .. } => "second_factor_enrollment_due",
        AuthEvent::StepUpChecked { .. } => "step_up_checked",
        AuthEvent::PasskeyAdded { .. } => "passkey_added",
        AuthEvent::PasskeyRenamed { .. } => "passkey_renamed",
        AuthEvent::PasskeyRemoved { .. } => "passkey_removed",
        AuthEvent::PasskeyCloneSuspected { .. } => "passkey_clone_suspected",
        AuthEvent::AdminAction { .. } => "admin_action",
        // Events added later (by other features) count under one word
        // until named here.
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}
