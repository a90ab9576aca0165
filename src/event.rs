//! Audit events: what happened, to whom, never with a secret.

use std::fmt;

use crate::context::RequestContext;
use crate::user::UserId;

/// Which second factor an event is about, and which one passed a login
/// ([`Verification::factor`](crate::Verification::factor)).
///
/// ```
/// use twofa_verify::Factor;
/// assert_eq!(Factor::RecoveryCode.to_string(), "recovery_code"); // as in logs
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Factor {
    /// A code sent by SMS (or call / WhatsApp).
    Sms,
    /// An authenticator-app code.
    Totp,
    /// A recovery code.
    RecoveryCode,
    /// A passkey (WebAuthn), feature `passkeys`: see
    /// [`Authenticator::verify_passkey`](crate::Authenticator).
    Passkey,
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Factor::Sms => "sms",
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::Passkey => "passkey",
        })
    }
}

/// What a limit refused: the action of
/// [`Error::RateLimited`](crate::Error::RateLimited), and of a per-client
/// limit in [`AuthEvent::ClientLimited`]. See the
/// [`Authenticator::resend`](crate::Authenticator::resend) example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitedAction {
    /// Password or code attempts (a client's failures across accounts).
    Login,
    /// Registrations.
    Register,
    /// Password reset requests.
    PasswordReset,
    /// SMS sends: the budgets per phone, account, client and overall, the
    /// wait before another code, and the provider's own send limits.
    SmsSend,
    /// Mails to one address (an email change's confirmation link).
    Mail,
    /// Passwordless sign-ins started by one client
    /// ([`Policy::client_passkey_sign_ins`](crate::Policy::client_passkey_sign_ins)).
    PasskeySignIn,
}

/// What a mail is, in [`AuthEvent::MailSuppressed`] (see the
/// [`RecordingSink`] example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MailKind {
    /// A registration's confirmation link
    /// ([`RegistrationStart::Confirm`](crate::RegistrationStart::Confirm)).
    RegistrationConfirmation,
    /// The notice to the owner of an address someone tried to register
    /// again ([`RegistrationStart::AlreadyRegistered`](crate::RegistrationStart::AlreadyRegistered)).
    AlreadyRegistered,
    /// A password reset link ([`ResetToken`](crate::ResetToken)).
    PasswordReset,
    /// The link that confirms a new email address
    /// ([`EmailChangeMail`](crate::EmailChangeMail)).
    EmailChangeConfirmation,
    /// A mail of the application's own, reserved with
    /// [`Authenticator::reserve_mail`](crate::Authenticator::reserve_mail)
    /// (a security notice).
    Notice,
}

/// Something security-relevant that happened. Holds ids, never secrets;
/// phone numbers appear masked. An [`EventSink`] receives each (see its
/// example, and [`RecordingSink`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A user registered.
    Registered {
        /// The new user.
        user: UserId,
    },
    /// Password accepted and no second factor needed, or second factor passed.
    LoginSucceeded {
        /// The user.
        user: UserId,
        /// The factor that completed the login, if any.
        factor: Option<Factor>,
    },
    /// Password accepted; a second factor is now required.
    SecondFactorRequired {
        /// The user.
        user: UserId,
    },
    /// A login attempt failed (unknown user or wrong password: `user` is
    /// `None` when the account does not exist).
    LoginFailed {
        /// The account, when it exists.
        user: Option<UserId>,
        /// Consecutive failures so far.
        failures: u64,
    },
    /// A wrong second-factor code.
    CodeRejected {
        /// The user.
        user: UserId,
        /// The factor tried.
        factor: Factor,
    },
    /// A TOTP code was refused because its time step was already used.
    TotpReplayRefused {
        /// The user.
        user: UserId,
    },
    /// The account was locked after too many failures.
    Locked {
        /// The account, when it exists.
        user: Option<UserId>,
        /// Lock length in seconds.
        seconds: u64,
    },
    /// A code was sent by SMS.
    CodeSent {
        /// The user.
        user: UserId,
        /// The destination, masked.
        to: String,
    },
    /// A send was refused by a rate limit.
    SendLimited {
        /// The user.
        user: UserId,
    },
    /// A per-client limit refused a request (password spraying, mass
    /// registration, reset or SMS flooding from one client).
    ClientLimited {
        /// What the client tried to do.
        action: LimitedAction,
    },
    /// A site-wide SMS budget is spent: until its window ends, texts of
    /// that kind are refused for everyone. Raised once per window (across
    /// app instances sharing a store), at the first refusal. Texts to
    /// verified phones (logins, step-ups) and to numbers being enrolled
    /// have budgets of their own, so an exhausted enrollment budget never
    /// stops login codes; it may mean SMS pumping through enrollments (see
    /// [`Policy::sms_unverified_global`](crate::Policy::sms_unverified_global)).
    SmsBudgetExhausted {
        /// True for the budget of numbers not yet verified (enrollments),
        /// false for that of verified phones (login and step-up codes).
        unverified: bool,
        /// Seconds until the budget's window ends.
        retry_after: u64,
    },
    /// A registration awaiting email confirmation was started. When the
    /// address already belongs to an account, `existing_user` names it (the
    /// visitor is told nothing; the owner gets a notice).
    RegistrationStarted {
        /// The account that already holds the address, if any.
        existing_user: Option<UserId>,
    },
    /// A second factor was enabled.
    FactorEnabled {
        /// The user.
        user: UserId,
        /// The factor.
        factor: Factor,
    },
    /// A second factor was disabled.
    FactorDisabled {
        /// The user.
        user: UserId,
        /// The factor.
        factor: Factor,
    },
    /// The SMS factor's phone number changed.
    PhoneChanged {
        /// The user.
        user: UserId,
    },
    /// A recovery code was used.
    RecoveryCodeUsed {
        /// The user.
        user: UserId,
        /// Codes left.
        remaining: usize,
    },
    /// Recovery codes were (re)generated.
    RecoveryCodesGenerated {
        /// The user.
        user: UserId,
    },
    /// The password was changed (by the user or by a reset).
    PasswordChanged {
        /// The user.
        user: UserId,
        /// True when through a reset link.
        via_reset: bool,
    },
    /// A user was imported from another application
    /// ([`Authenticator::import_user`](crate::Authenticator::import_user)).
    UserImported {
        /// The new user.
        user: UserId,
        /// Whether a verified phone came along as the SMS factor.
        sms: bool,
    },
    /// A password reset was requested for an existing account.
    PasswordResetRequested {
        /// The user.
        user: UserId,
    },
    /// A stored password hash was upgraded to the policy's parameters.
    PasswordRehashed {
        /// The user.
        user: UserId,
    },
    /// The username changed.
    ProfileUpdated {
        /// The user.
        user: UserId,
    },
    /// A change of the email address was started (after a step-up): a
    /// link went to the new address. Tell the current one: a change the
    /// owner did not ask for dies when they change the password.
    EmailChangeRequested {
        /// The user.
        user: UserId,
        /// The current address (it stays the account's until the link is
        /// followed), where the notice goes.
        current_email: String,
    },
    /// The email address changed (its link was followed). Tell the old
    /// address: if the owner did not do it, this is how they learn.
    EmailChanged {
        /// The user.
        user: UserId,
        /// The address before the change.
        old_email: String,
    },
    /// Every session, pending login and remembered device of the user ended.
    SignedOutEverywhere {
        /// The user.
        user: UserId,
    },
    /// A mail was left out because its address's budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address)) is
    /// spent. Raised once per mail left out, so none goes silently.
    MailSuppressed {
        /// The account the mail was about, when the address has one.
        user: Option<UserId>,
        /// What the mail was.
        mail: MailKind,
        /// True when the application was told to send the window's one
        /// summary mail in its place
        /// ([`MailDecision::SendSummary`](crate::MailDecision::SendSummary)).
        summary: bool,
    },
    /// A device was remembered: its next logins skip the second factor.
    DeviceRemembered {
        /// The user.
        user: UserId,
    },
    /// One or all remembered devices were forgotten.
    DeviceForgotten {
        /// The user.
        user: UserId,
    },
    /// A user whom the policy requires a second factor of signed in
    /// without one ([`Policy::second_factor_required`](crate::Policy::second_factor_required)):
    /// within the grace period (logged in, sent to enrollment) or after it
    /// (the login ended at enrollment).
    SecondFactorEnrollmentDue {
        /// The user.
        user: UserId,
        /// True when the grace period is over and the login did not complete.
        grace_over: bool,
    },
    /// A step-up (the proof a sensitive change takes: the password, and a
    /// current factor when the user has one) was checked.
    StepUpChecked {
        /// The user.
        user: UserId,
        /// The factor that passed with the password; `None` when the
        /// password alone was enough, or when the step-up failed.
        factor: Option<Factor>,
        /// Whether the step-up passed.
        passed: bool,
    },
    /// A passkey was added (feature `passkeys`): tell the user.
    PasskeyAdded {
        /// The user.
        user: UserId,
    },
    /// A passkey was renamed.
    PasskeyRenamed {
        /// The user.
        user: UserId,
    },
    /// A passkey was removed: tell the user.
    PasskeyRemoved {
        /// The user.
        user: UserId,
    },
    /// A passkey's signature counter did not advance: the credential may
    /// have been copied. The sign-in was refused; tell the user.
    PasskeyCloneSuspected {
        /// The user.
        user: UserId,
    },
    /// An operator acted on the account through
    /// [`Authenticator::admin`](crate::Authenticator::admin). Tell the user
    /// (a notice mail): it is how they learn of it.
    AdminAction {
        /// The user.
        user: UserId,
        /// What was done.
        action: crate::authenticator::AdminAction,
        /// Who did it, and why.
        operator: crate::authenticator::Operator,
    },
}

/// Receives [`AuthEvent`]s. Must be quick and must not fail; send slow work
/// (emails, notifications) to a queue.
///
/// ```
/// use std::sync::mpsc;
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{AuthEvent, Authenticator, EventSink, MemoryStore, RequestContext};
/// use twofa_verify::{SecretKey, StepUp};
///
/// /// Hands the events worth a mail to the app's mailer; logs the rest.
/// #[derive(Debug)]
/// struct Notices(mpsc::Sender<AuthEvent>);
///
/// impl EventSink for Notices {
///     fn emit(&self, event: &AuthEvent, context: &RequestContext) {
///         match event {
///             AuthEvent::SignedOutEverywhere { .. } | AuthEvent::EmailChanged { .. } => {
///                 let _ = self.0.send(event.clone()); // never blocks
///             }
///             _ => eprintln!("{event:?} from {:?}", context.ip()),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let (tx, mailer) = mpsc::channel();
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .events(Notices(tx))
///     .build()?;
/// # let password = SecretString::from("correct horse battery");
/// # let alice = auth.register("alice", "alice@example.com", &password).await?;
/// auth.sign_out_everywhere(alice.id, &StepUp::password("correct horse battery")).await?;
/// assert_eq!(mailer.try_recv().ok(), Some(AuthEvent::SignedOutEverywhere { user: alice.id }));
/// # Ok(())
/// # }
/// ```
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Handles one event, with the client behind it (empty when the call
    /// was made without [`Authenticator::with_context`]). See the
    /// [`EventSink`] example.
    ///
    /// [`Authenticator::with_context`]: crate::Authenticator::with_context
    fn emit(&self, event: &AuthEvent, context: &RequestContext);
}

/// The default sink: logs every event through `tracing` at INFO (WARN for
/// failures, locks and replays), target `twofa_verify::audit`. Replace it
/// with [`AuthenticatorBuilder::events`](crate::AuthenticatorBuilder::events)
/// (see the [`EventSink`] example).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn emit(&self, event: &AuthEvent, context: &RequestContext) {
        let ip = context.ip().map(tracing::field::display);
        let user_agent = context.user_agent();
        match event {
            AuthEvent::LoginFailed { .. }
            | AuthEvent::CodeRejected { .. }
            | AuthEvent::TotpReplayRefused { .. }
            | AuthEvent::Locked { .. }
            | AuthEvent::SendLimited { .. }
            | AuthEvent::SmsBudgetExhausted { .. }
            | AuthEvent::ClientLimited { .. }
            | AuthEvent::MailSuppressed { .. }
            | AuthEvent::PasskeyCloneSuspected { .. } => {
                tracing::warn!(target: "twofa_verify::audit", event = ?event, ip, user_agent)
            }
            _ => tracing::info!(target: "twofa_verify::audit", event = ?event, ip, user_agent),
        }
    }
}

/// A sink that keeps every event in memory: for tests and for apps that
/// want to inspect what happened.
///
/// ```
/// use twofa_verify::event::RecordingSink;
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{AuthEvent, Authenticator, MemoryStore, RequestContext, SecretKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let events = RecordingSink::new();
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .events(events.clone()) // the test keeps a clone
///     .build()?;
/// let client = auth.with_context(RequestContext::new().with_ip("203.0.113.7".parse().unwrap()));
/// let _ = client.login("mallory", &SecretString::from("guess")).await;
///
/// assert_eq!(events.events(), vec![AuthEvent::LoginFailed { user: None, failures: 1 }]);
/// let (_, context) = &events.events_with_context()[0];
/// assert_eq!(context.ip(), Some("203.0.113.7".parse().unwrap()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct RecordingSink(std::sync::Arc<std::sync::Mutex<Vec<(AuthEvent, RequestContext)>>>);

impl RecordingSink {
    /// A new, empty recorder (see the [`RecordingSink`] example).
    pub fn new() -> Self {
        Self::default()
    }
    /// The events so far, oldest first (see the [`RecordingSink`] example).
    pub fn events(&self) -> Vec<AuthEvent> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(e, _)| e.clone()).collect())
            .unwrap_or_default()
    }
    /// The events so far, each with the client behind it (see the
    /// [`RecordingSink`] example).
    pub fn events_with_context(&self) -> Vec<(AuthEvent, RequestContext)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for RecordingSink {
    fn emit(&self, event: &AuthEvent, context: &RequestContext) {
        if let Ok(mut v) = self.0.lock() {
            v.push((event.clone(), context.clone()));
        }
    }
}
