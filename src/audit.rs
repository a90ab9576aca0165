//! The audit trail: the [`AuthEvent`]s about a known user, persisted in an
//! [`AuditStore`](crate::store::AuditStore).
//!
//! Give the authenticator a store with
//! [`AuthenticatorBuilder::audit_store`](crate::AuthenticatorBuilder::audit_store);
//! every event it emits that names a user is then appended, as a
//! [`NewAuditRecord`]: the time, the event's stable name
//! ([`AuthEvent::kind`]), the factor or action, the client's network (never
//! its address, [`coarse_network`]) and its device (the user agent's
//! browser and system, as remembered devices name them). Codes, passwords,
//! tokens, phone numbers and email addresses are never written.
//!
//! # When a write fails
//!
//! The write is synchronous: the event first goes to the
//! [`EventSink`](crate::EventSink) (so it is logged even when the store is
//! down), then to the audit store, and the call that emitted it waits. If the
//! append fails, the call returns that [`Error::Store`](crate::Error::Store)
//! and logs the failure at ERROR (target `twofa_verify::audit`, the event's
//! name and user id): a login whose success cannot be recorded is refused
//! (fail closed), and a change that has already been made (a new password)
//! stays made but its caller is told.
//!
//! ```
//! use twofa_verify::secrecy::SecretString;
//! use twofa_verify::{Authenticator, MemoryStore, RequestContext, SecretKey};
//! use twofa_verify::store::AuditStore;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> twofa_verify::Result<()> {
//! let store = MemoryStore::new();
//! let auth = Authenticator::builder()
//!     .store(store.clone())
//!     .audit_store(store.clone())
//!     .secret_key(SecretKey::generate())
//!     .build()?;
//! let password = SecretString::from("correct horse battery");
//! let alice = auth.register("alice", "alice@example.com", &password).await?;
//! let client = auth.with_context(RequestContext::new().with_ip("203.0.113.7".parse().unwrap()));
//! client.login("alice", &password).await?;
//! let trail = store.audit_for_user(alice.id, None, 10).await?;
//! assert_eq!(trail[0].entry.kind, "login_succeeded");
//! assert_eq!(trail[0].entry.network.as_deref(), Some("203.0.113.0/24"));
//! assert_eq!(trail[1].entry.kind, "registered");
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::clock::Timestamp;
use crate::context::RequestContext;
use crate::event::{AuthEvent, MailKind};
use crate::store::NewAuditRecord;
use crate::user::UserId;

/// The network of `ip` as the audit trail keeps it: the /24 of an IPv4
/// address (also one mapped into IPv6), the /48 of an IPv6 address.
///
/// ```
/// use twofa_verify::audit::coarse_network;
/// assert_eq!(coarse_network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
/// assert_eq!(coarse_network("2001:db8:1:2::5".parse().unwrap()), "2001:db8:1::/48");
/// assert_eq!(coarse_network("::ffff:198.51.100.9".parse().unwrap()), "198.51.100.0/24");
/// ```
pub fn coarse_network(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

impl AuthEvent {
    /// The event's stable `snake_case` name, as the audit trail keeps it.
    ///
    /// ```
    /// use twofa_verify::{AuthEvent, UserId};
    /// assert_eq!(AuthEvent::Registered { user: UserId(1) }.kind(), "registered");
    /// ```
    pub fn kind(&self) -> &'static str {
        self.audit_parts().1
    }

    /// The user the event is about (if known), its name, and its detail.
    fn audit_parts(&self) -> (Option<UserId>, &'static str, Option<String>) {
        use AuthEvent as E;
        let f = |factor: &crate::event::Factor| Some(factor.to_string());
        match self {
            E::Registered { user } => (Some(*user), "registered", None),
            E::LoginSucceeded { user, factor } => {
                (Some(*user), "login_succeeded", factor.as_ref().and_then(f))
            }
            E::SecondFactorRequired { user } => (Some(*user), "second_factor_required", None),
            E::LoginFailed { user, failures } => {
                (*user, "login_failed", Some(format!("failures={failures}")))
            }
            E::CodeRejected { user, factor } => (Some(*user), "code_rejected", f(factor)),
            E::TotpReplayRefused { user } => {
                (Some(*user), "totp_replay_refused", Some("totp".into()))
            }
            E::Locked { user, seconds } => (*user, "locked", Some(format!("seconds={seconds}"))),
            E::CodeSent { user, .. } => (Some(*user), "code_sent", Some("sms".into())),
            E::SendLimited { user } => (Some(*user), "send_limited", Some("sms".into())),
            E::ClientLimited { .. } => (None, "client_limited", None),
            E::SmsBudgetExhausted { .. } => (None, "sms_budget_exhausted", None),
            E::RegistrationStarted { existing_user } => {
                (*existing_user, "registration_started", None)
            }
            E::FactorEnabled { user, factor } => (Some(*user), "factor_enabled", f(factor)),
            E::FactorDisabled { user, factor } => (Some(*user), "factor_disabled", f(factor)),
            E::PhoneChanged { user } => (Some(*user), "phone_changed", Some("sms".into())),
            E::RecoveryCodeUsed { user, remaining } => (
                Some(*user),
                "recovery_code_used",
                Some(format!("remaining={remaining}")),
            ),
            E::RecoveryCodesGenerated { user } => (Some(*user), "recovery_codes_generated", None),
            E::PasswordChanged { user, via_reset } => (
                Some(*user),
                "password_changed",
                via_reset.then(|| "via_reset".into()),
            ),
            E::UserImported { user, sms } => {
                (Some(*user), "user_imported", sms.then(|| "sms".into()))
            }
            E::PasswordResetRequested { user } => (Some(*user), "password_reset_requested", None),
            E::PasswordRehashed { user } => (Some(*user), "password_rehashed", None),
            E::ProfileUpdated { user } => (Some(*user), "profile_updated", None),
            E::EmailChangeRequested { user, .. } => (Some(*user), "email_change_requested", None),
            E::EmailChanged { user, .. } => (Some(*user), "email_changed", None),
            E::SignedOutEverywhere { user } => (Some(*user), "signed_out_everywhere", None),
            E::MailSuppressed { user, mail, .. } => {
                (*user, "mail_suppressed", Some(mail_name(*mail).into()))
            }
            E::DeviceRemembered { user } => (Some(*user), "device_remembered", None),
            E::DeviceForgotten { user } => (Some(*user), "device_forgotten", None),
            E::AdminAction { user, action, .. } => (Some(*user), action.audit_kind(), None),
            E::SecondFactorEnrollmentDue { user, grace_over } => (
                Some(*user),
                "second_factor_enrollment_due",
                grace_over.then(|| "grace_over".into()),
            ),
            E::StepUpChecked {
                user,
                factor,
                passed,
            } => (
                Some(*user),
                if *passed {
                    "step_up_passed"
                } else {
                    "step_up_failed"
                },
                factor.as_ref().and_then(f),
            ),
            E::PasskeyAdded { user } => (Some(*user), "passkey_added", Some("passkey".into())),
            E::PasskeyRenamed { user } => (Some(*user), "passkey_renamed", Some("passkey".into())),
            E::PasskeyRemoved { user } => (Some(*user), "passkey_removed", Some("passkey".into())),
            E::PasskeyCloneSuspected { user } => (
                Some(*user),
                "passkey_clone_suspected",
                Some("passkey".into()),
            ),
        }
    }
}

fn mail_name(mail: MailKind) -> &'static str {
    match mail {
        MailKind::RegistrationConfirmation => "registration_confirmation",
        MailKind::AlreadyRegistered => "already_registered",
        MailKind::PasswordReset => "password_reset",
        MailKind::EmailChangeConfirmation => "email_change_confirmation",
        MailKind::Notice => "notice",
    }
}

/// The audit record of `event`, when it names a user.
pub(crate) fn record_of(
    event: &AuthEvent,
    context: &RequestContext,
    at: Timestamp,
) -> Option<NewAuditRecord> {
    let (user, kind, detail) = event.audit_parts();
    Some(NewAuditRecord {
        user: user?,
        at,
        kind: kind.into(),
        detail,
        network: context.ip().map(coarse_network),
        device: context
            .user_agent()
            .map(|ua| crate::store::clip(&crate::authenticator::device_label(Some(ua)))),
        operator: match event {
            AuthEvent::AdminAction { operator, .. } => Some(operator.name().to_owned()),
            _ => None,
        },
        reason: match event {
            AuthEvent::AdminAction { operator, .. } => Some(operator.reason().to_owned()),
            _ => None,
        },
    })
}
