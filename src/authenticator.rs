//! The [`Authenticator`]: every flow of the crate, over pluggable stores and providers.
//!
//! One submodule per concern, each adding its part of `impl Authenticator`:
//! the builder, accounts, login, pending logins (challenges), verification,
//! passwords, reset and email-change links, factors, sessions,
//! registration, import, the limits and lockout every flow reserves before
//! checking a secret, and the mail budget every mail reserves before it is
//! produced.
//!
//! # Secrets in, secrets out
//!
//! Passwords go in as [`SecretString`](secrecy::SecretString) (`&SecretString`
//! for a call that only reads one, `impl Into<SecretString>` for a value
//! that keeps one, such as [`StepUp`]), so that they are wiped when dropped
//! and never printed by `Debug`. Secrets that come out (recovery codes,
//! reset and device tokens, TOTP secrets) are wrapped the same way and show
//! their text only through an explicit accessor. One-time codes and the
//! tokens of links are taken as `&str`: they come from a form or a URL as
//! text, live minutes and work once; the crate never logs them.

use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, Timestamp};
use crate::context::RequestContext;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, EventSink};
use crate::factor::{SmsContext, SmsVerifier};
use crate::password::Hasher;
use crate::policy::Policy;
use crate::store::{StateStore, UserRecord, UserStore};
use crate::user::UserId;

mod account;
mod admin;
mod builder;
mod challenge;
mod email_change;
mod factors;
mod import;
mod limits;
mod links;
mod lockout;
mod login;
mod mail;
#[cfg(feature = "passkeys")]
mod passkeys;
mod passwords;
mod registration;
mod removal;
mod required;
mod session;
mod state;
mod step_up;
mod users;
mod verify;

pub use admin::{Admin, AdminAction, Operator, SecurityState};
pub use builder::AuthenticatorBuilder;
pub use challenge::{Challenge, SmsDelivery};
pub use email_change::{EmailChangeMail, PendingEmailChange};
pub use factors::{Enrolled, SmsEnrollment};
pub use import::ImportedUser;
pub use login::Login;
pub use mail::MailDecision;
pub use passwords::ResetToken;
pub use registration::{PendingAccount, RegistrationMail, RegistrationStart};
pub use required::RequiredEnrollment;
pub use session::{DeviceToken, RememberedDevice, SessionStamp};
pub use step_up::StepUp;
pub use verify::Verification;

pub(crate) use session::device_label;

/// Password login plus optional second factors, over pluggable stores.
///
/// Cheap to clone (an `Arc`); share one per application. See the crate
/// documentation for a walk-through.
///
/// ```
/// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
///
/// # fn main() -> twofa_verify::Result<()> {
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .build()?;
/// let for_a_task = auth.clone(); // the same authenticator
/// assert!(!for_a_task.sms_available()); // no SMS provider was given
/// assert!(auth.totp_available()); // feature `totp`
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
    /// The client behind the calls made through this handle.
    ctx: Arc<RequestContext>,
}

struct Inner {
    users: Arc<dyn UserStore>,
    state: Arc<dyn StateStore>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    /// Where events about a known user are persisted, if anywhere.
    audit: Option<Arc<dyn crate::store::AuditStore>>,
    sms: Option<Arc<dyn SmsVerifier>>,
    issuer: String,
    keys: Keys,
    hasher: Hasher,
    #[cfg(feature = "totp")]
    seal: crate::factor::totp::SealKeys,
    #[cfg(feature = "passkeys")]
    passkeys: Option<Passkeys>,
}

/// The configured relying party (feature `passkeys`).
#[cfg(feature = "passkeys")]
#[allow(dead_code)]
struct Passkeys {
    config: crate::passkey::PasskeyConfig,
    webauthn: webauthn_rs::Webauthn,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Authenticator")
            .field("users", &i.users)
            .field("state", &i.state)
            .field("policy", &i.policy)
            .field("sms", &i.sms)
            .field("issuer", &i.issuer)
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// What a web layer shares with the authenticator: the state store,
    /// the keys and the clock (`axum::AuthLayer`).
    #[cfg(feature = "axum")]
    pub(crate) fn web_parts(&self) -> (Arc<dyn StateStore>, Keys, Arc<dyn Clock>) {
        (
            Arc::clone(&self.inner.state),
            self.inner.keys.clone(),
            Arc::clone(&self.inner.clock),
        )
    }

    /// Starts building an authenticator (see the [`AuthenticatorBuilder`]
    /// example).
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder::default()
    }

    /// A handle for calls on behalf of one client: per-client limits
    /// ([`Policy::client_failures`] and the others) apply to them, and their
    /// events carry the context. Cheap (two `Arc` clones); make one per
    /// request. Calls on a handle without a context skip the per-client
    /// limits; the per-account, per-phone and global ones always apply.
    ///
    /// ```
    /// # fn f(auth: &twofa_verify::Authenticator) {
    /// use twofa_verify::RequestContext;
    /// let ctx = RequestContext::new()
    ///     .with_ip("203.0.113.7".parse().unwrap())
    ///     .with_user_agent("Mozilla/5.0");
    /// let for_client = auth.with_context(ctx);
    /// assert!(for_client.context().ip().is_some());
    /// # }
    /// ```
    pub fn with_context(&self, context: RequestContext) -> Authenticator {
        Authenticator {
            inner: Arc::clone(&self.inner),
            ctx: Arc::new(context),
        }
    }

    /// The client behind this handle's calls (empty when none was given);
    /// see the [`with_context`](Self::with_context) example.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The policy in force (see the [`Policy`] example).
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// True when an SMS provider is configured: a page offers SMS only then
    /// (see the [`Authenticator`] example).
    pub fn sms_available(&self) -> bool {
        self.inner.sms.is_some()
    }

    /// True when authenticator apps (TOTP) are supported (feature `totp`;
    /// see the [`Authenticator`] example).
    pub fn totp_available(&self) -> bool {
        cfg!(feature = "totp")
    }

    /// The current time of the authenticator's clock (the builder's
    /// [`Clock`], the system clock by default). Session code that keeps
    /// times of its own (last activity, expiry) reads this one, so that a
    /// test's [`ManualClock`](crate::clock::ManualClock) moves them all.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Reports an event that names no user to the sink only.
    fn notify(&self, e: &AuthEvent) {
        self.inner.events.emit(e, &self.ctx);
    }

    /// Reports `e` to the sink, then appends it to the audit trail when
    /// there is one and the event names a user. A failed append is logged
    /// and returned: the caller fails closed (see [`crate::audit`]).
    async fn emit(&self, e: AuthEvent) -> Result<()> {
        self.inner.events.emit(&e, &self.ctx);
        let Some(audit) = &self.inner.audit else {
            return Ok(());
        };
        let Some(record) = crate::audit::record_of(&e, &self.ctx, self.now()) else {
            return Ok(());
        };
        audit.append_audit(&record).await.inspect_err(|err| {
            tracing::error!(
                target: "twofa_verify::audit",
                kind = record.kind,
                user = record.user.0,
                "audit trail write failed: {err}"
            );
        })
    }

    fn sms_ctx(&self) -> SmsContext<'_> {
        SmsContext {
            state: &*self.inner.state,
            now: self.now(),
            code_ttl: self.inner.policy.sms_code_ttl,
            hasher: &self.inner.keys,
        }
    }

    /// The state store, typed.
    fn state(&self) -> state::State<'_> {
        state::State::new(&*self.inner.state, &self.inner.keys)
    }

    /// The user store, every call timed (see `users`).
    fn users(&self) -> users::Users<'_> {
        users::Users(&*self.inner.users)
    }

    async fn record(&self, id: UserId) -> Result<UserRecord> {
        self.users()
            .user_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)
    }
}

#[cfg(test)]
mod proptests;
