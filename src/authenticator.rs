//! The [`Authenticator`]: every flow of the crate, over pluggable stores and providers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::context::RequestContext;
use crate::crypto::{Keys, ct_eq, random_token};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, EventSink, Factor, LimitedAction, TracingSink};
use crate::factor::{SmsContext, SmsVerifier, recovery};
use crate::password::{self, Hasher, Verified};
use crate::policy::{Policy, Registration};
use crate::store::{StateStore, UserRecord, UserStore};
use crate::user::{
    User, UserId, mask_phone, normalize_email, normalize_username, username_lookup_keys,
};

mod factors;
mod import;
mod limits;
mod lockout;
mod registration;
mod session;

pub use import::ImportedUser;
pub use registration::{RegistrationMail, RegistrationStart};
pub use session::{DeviceToken, RememberedDevice, SessionStamp};

/// The outcome of a password login.
#[derive(Debug)]
#[must_use]
pub enum Login {
    /// The user is logged in (no second factor enabled).
    Complete(User),
    /// The password was right; now a second-factor code is needed. Keep the
    /// challenge's token (e.g. in the session) and call
    /// [`Authenticator::verify`].
    SecondFactor(Challenge),
}

/// A second factor passed: who logged in, with what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verification {
    /// The user, now logged in.
    pub user: User,
    /// The factor that was used.
    pub factor: Factor,
    /// When a recovery code was used: how many are left (tell the user to
    /// make new ones when few remain).
    pub recovery_codes_left: Option<usize>,
}

/// A pending login: the password was right and a second factor is due.
///
/// The token is an opaque 256-bit random string; the store keeps only its
/// keyed hash. It expires (10 minutes by default), allows a few attempts,
/// and works once. `Debug` hides it.
#[derive(Clone)]
pub struct Challenge {
    token: SecretString,
    /// When the challenge expires.
    pub expires_at: Timestamp,
    /// The factors the user may answer with.
    pub methods: Vec<Factor>,
    /// Where the SMS code went (masked), when one was sent.
    pub sms: Option<SmsDelivery>,
}

impl Challenge {
    /// The opaque token to keep (in the session) and pass to `verify`.
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("methods", &self.methods)
            .field("sms", &self.sms)
            .finish()
    }
}

/// The state of the SMS code of a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmsDelivery {
    /// A code was sent to this (masked) number.
    Sent {
        /// The masked destination, e.g. `+2547*****89`.
        to: String,
    },
    /// SMS is possible but no code was sent yet (the user also has an
    /// authenticator app); call [`Authenticator::resend`] to send one.
    Available {
        /// The masked destination.
        to: String,
    },
    /// Sending failed or was rate limited; the user may use another factor
    /// or try again later.
    Deferred {
        /// The masked destination.
        to: String,
        /// Why, in words safe to show.
        reason: String,
        /// When a retry may succeed.
        retry_after: Option<Duration>,
    },
}

/// Proof for sensitive changes (disable a factor, change the phone,
/// regenerate recovery codes): the password plus, when a factor is enabled,
/// a current code (TOTP, SMS from [`Authenticator::send_step_up_code`], or a
/// recovery code).
pub struct StepUp {
    /// The current password.
    pub password: SecretString,
    /// A current second-factor code.
    pub code: Option<String>,
}

impl StepUp {
    /// The password alone: enough while the user has no second factor.
    pub fn password(password: impl Into<String>) -> Self {
        StepUp {
            password: SecretString::from(password.into()),
            code: None,
        }
    }

    /// Password and code.
    pub fn new(password: impl Into<String>, code: Option<impl Into<String>>) -> Self {
        StepUp {
            password: SecretString::from(password.into()),
            code: code.map(Into::into),
        }
    }
}

impl fmt::Debug for StepUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepUp")
            .field("password", &"[redacted]")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A password reset token to put in the emailed link. `Debug` hides it.
pub struct ResetToken {
    token: SecretString,
    /// The account's email address (where to send the link).
    pub email: String,
    /// The account's username (for the email's greeting).
    pub username: String,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl ResetToken {
    /// The token text (URL-safe).
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetToken")
            .field("token", &"[redacted]")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An SMS enrollment in progress: a code went to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsEnrollment {
    /// The masked number the code went to.
    pub to: String,
    /// When the code expires.
    pub expires_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct ChallengeRecord {
    user: UserId,
    expires_at: Timestamp,
    sms: Option<SentCode>,
    /// The credential generation the password was checked at: a login
    /// started before a reset or a factor change cannot be finished after it.
    #[serde(default)]
    generation: i64,
}

#[derive(Serialize, Deserialize, Clone)]
struct SentCode {
    phone: String,
    handle: String,
    sent_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct PendingSms {
    phone: String,
    handle: String,
    expires_at: Timestamp,
}

/// Whether a phone number is a verified factor of the account or one being
/// enrolled: they spend separate SMS budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhoneStatus {
    Verified,
    Unverified,
}

/// Builds an [`Authenticator`]; `build()` validates everything.
#[derive(Default)]
pub struct AuthenticatorBuilder {
    users: Option<Arc<dyn UserStore>>,
    state: Option<Arc<dyn StateStore>>,
    secret: Option<SecretSlice<u8>>,
    pepper: Option<SecretSlice<u8>>,
    policy: Policy,
    clock: Option<Arc<dyn Clock>>,
    events: Option<Arc<dyn EventSink>>,
    sms: Option<Arc<dyn SmsVerifier>>,
    issuer: Option<String>,
    legacy: Vec<Arc<dyn crate::password::LegacyHashVerifier>>,
    #[cfg(feature = "totp")]
    totp_keys: std::collections::BTreeMap<u32, Arc<secrecy::SecretBox<[u8; 32]>>>,
}

impl fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("users", &self.users)
            .field("state", &self.state)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("pepper", &self.pepper.as_ref().map(|_| "[redacted]"))
            .field("policy", &self.policy)
            .field("sms", &self.sms)
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

impl AuthenticatorBuilder {
    /// Accepts password hashes in another format (imported users, see
    /// [`Authenticator::import_user`]); the first login with such a hash
    /// replaces it with Argon2id. Built in: [`WerkzeugPbkdf2`](crate::password::legacy::WerkzeugPbkdf2),
    /// [`WerkzeugScrypt`](crate::password::legacy::WerkzeugScrypt),
    /// [`Bcrypt`](crate::password::legacy::Bcrypt). Unknown-user logins then
    /// cost the slowest of Argon2 and the verifiers' dummy hashes.
    pub fn legacy_verifier(
        mut self,
        verifier: impl crate::password::LegacyHashVerifier + 'static,
    ) -> Self {
        self.legacy.push(Arc::new(verifier));
        self
    }

    /// One store for both users and state (e.g. `MemoryStore`, `SqliteStore`).
    pub fn store<S: UserStore + StateStore + Clone + 'static>(mut self, store: S) -> Self {
        self.users = Some(Arc::new(store.clone()));
        self.state = Some(Arc::new(store));
        self
    }
    /// The user store.
    pub fn user_store(mut self, store: impl UserStore + 'static) -> Self {
        self.users = Some(Arc::new(store));
        self
    }
    /// The state store.
    pub fn state_store(mut self, store: impl StateStore + 'static) -> Self {
        self.state = Some(Arc::new(store));
        self
    }
    /// The application's secret key (at least 32 random bytes): keys every
    /// token and code hash, and (unless [`totp_key`](Self::totp_key) is
    /// given) the TOTP encryption key. Keep it stable across restarts and
    /// identical on every instance.
    pub fn secret_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(SecretSlice::from(key.into()));
        self
    }
    /// An optional pepper mixed into every password hash (Argon2 secret).
    /// Changing it invalidates every password.
    pub fn pepper(mut self, pepper: impl Into<Vec<u8>>) -> Self {
        self.pepper = Some(SecretSlice::from(pepper.into()));
        self
    }
    /// Limits, lifetimes and windows (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// Where events go (default: [`TracingSink`]).
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }
    /// The SMS provider: [`TwilioVerify`](crate::factor::TwilioVerify) or
    /// [`LocalCodes`](crate::factor::LocalCodes). Without one, SMS is off.
    pub fn sms(mut self, sms: impl SmsVerifier + 'static) -> Self {
        self.sms = Some(Arc::new(sms));
        self
    }
    /// The issuer shown in authenticator apps (default `twofa-verify`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Adds a 32-byte TOTP encryption key with an id. The highest id
    /// encrypts new secrets; every given id can decrypt, so keys can be
    /// rotated by adding a new one and keeping the old.
    #[cfg(feature = "totp")]
    pub fn totp_key(mut self, id: u32, key: [u8; 32]) -> Self {
        self.totp_keys
            .insert(id, Arc::new(secrecy::SecretBox::new(Box::new(key))));
        self
    }

    /// Validates the configuration and builds the authenticator.
    pub fn build(self) -> Result<Authenticator> {
        self.policy.validate()?;
        let users = self
            .users
            .ok_or_else(|| Error::Config("a user store is required".into()))?;
        let state = self
            .state
            .ok_or_else(|| Error::Config("a state store is required".into()))?;
        let secret = self
            .secret
            .ok_or_else(|| Error::Config("a secret key is required (32+ random bytes)".into()))?;
        if secret.expose_secret().len() < 32 {
            return Err(Error::Config(
                "the secret key must be at least 32 bytes".into(),
            ));
        }
        if secret
            .expose_secret()
            .iter()
            .all(|b| *b == secret.expose_secret()[0])
        {
            return Err(Error::Config(
                "the secret key must be random, not a repeated byte".into(),
            ));
        }
        if let Some(p) = &self.pepper
            && (p.expose_secret().is_empty() || p.expose_secret().len() > 64)
        {
            return Err(Error::Config("the pepper must be 1 to 64 bytes".into()));
        }
        let issuer = self.issuer.unwrap_or_else(|| "twofa-verify".into());
        if issuer.trim().is_empty() || issuer.len() > 100 || issuer.contains(':') {
            return Err(Error::Config(
                "the issuer must be 1 to 100 characters without ':'".into(),
            ));
        }
        let keys = Keys::new(secret);
        #[cfg(feature = "totp")]
        let seal = {
            let mut k = self.totp_keys;
            if k.is_empty() {
                let derived = keys.mac(b"totp-seal-key", b"v0");
                k.insert(0, Arc::new(secrecy::SecretBox::new(Box::new(derived))));
            }
            crate::factor::totp::SealKeys::new(k)
        };
        let hasher = self.legacy.into_iter().fold(
            Hasher::new(self.policy.hash, self.policy.hash_concurrency, self.pepper),
            Hasher::with_legacy_verifier,
        );
        Ok(Authenticator {
            ctx: Arc::new(RequestContext::default()),
            inner: Arc::new(Inner {
                users,
                state,
                policy: self.policy,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                events: self.events.unwrap_or_else(|| Arc::new(TracingSink)),
                sms: self.sms,
                issuer,
                keys,
                hasher,
                #[cfg(feature = "totp")]
                seal,
            }),
        })
    }
}

/// Password login plus optional second factors, over pluggable stores.
///
/// Cheap to clone (an `Arc`); share one per application. See the crate
/// documentation for a walk-through.
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
    sms: Option<Arc<dyn SmsVerifier>>,
    issuer: String,
    keys: Keys,
    hasher: Hasher,
    #[cfg(feature = "totp")]
    seal: crate::factor::totp::SealKeys,
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

/// What a 6-digit or recovery-code answer was checked as.
enum Answer {
    Digits(String),
    Recovery(String),
}

/// What a second-factor code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeCheck {
    /// Right, for this factor.
    Accepted(Factor),
    /// Wrong for every factor the user has.
    Wrong,
    /// A right authenticator-app code whose time step was already used.
    Replayed,
}

impl CodeCheck {
    /// The error of a refused code, with the attempts left.
    fn refusal(self, attempts_left: u32) -> Error {
        match self {
            CodeCheck::Replayed => Error::CodeAlreadyUsed { attempts_left },
            _ => Error::InvalidCode { attempts_left },
        }
    }
}

fn parse_answer(code: &str) -> Result<Answer> {
    if code.len() > 64 {
        return Err(Error::MalformedCode);
    }
    let digits: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Answer::Digits(digits));
    }
    recovery::normalize(code)
        .map(Answer::Recovery)
        .ok_or(Error::MalformedCode)
}

impl Authenticator {
    /// Starts building an authenticator.
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
    /// # let _ = for_client; }
    /// ```
    pub fn with_context(&self, context: RequestContext) -> Authenticator {
        Authenticator {
            inner: Arc::clone(&self.inner),
            ctx: Arc::new(context),
        }
    }

    /// The client behind this handle's calls (empty when none was given).
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// True when an SMS provider is configured.
    pub fn sms_available(&self) -> bool {
        self.inner.sms.is_some()
    }

    /// True when authenticator apps (TOTP) are supported (feature `totp`).
    pub fn totp_available(&self) -> bool {
        cfg!(feature = "totp")
    }

    /// The current time of the authenticator's clock (the builder's
    /// [`Clock`], the system clock by default). Session code that keeps
    /// times of its own (last activity, expiry) reads this one, so that a
    /// test's [`ManualClock`](crate::ManualClock) moves them all.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn emit(&self, e: AuthEvent) {
        self.inner.events.emit_with_context(&e, &self.ctx);
    }

    fn sms_ctx(&self) -> SmsContext<'_> {
        SmsContext {
            state: &*self.inner.state,
            now: self.now(),
            code_ttl: self.inner.policy.sms_code_ttl,
            hasher: &self.inner.keys,
        }
    }

    async fn record(&self, id: UserId) -> Result<UserRecord> {
        self.inner
            .users
            .user_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)
    }

    // ---------------------------------------------------------------- users

    /// Registers a user. The username and email must be unique; the password
    /// must pass the policy (length, not common, not the username or email).
    ///
    /// Limited per client ([`Policy::client_registrations`]) before any
    /// lookup or hash. Refused with [`Error::Config`] under
    /// [`Registration::EmailConfirmed`]: use
    /// [`start_registration`](Self::start_registration) there.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &SecretString,
    ) -> Result<User> {
        if self.inner.policy.registration == Registration::EmailConfirmed {
            return Err(Error::Config(
                "this site confirms email addresses: use start_registration".into(),
            ));
        }
        let (username, username_key, username_skeleton) = normalize_username(username)?;
        let email = normalize_email(email)?;
        let pw = password::check_password(&self.inner.policy, password, &[&username, &email])?;
        let _counted = self.reserve_registration().await?;
        self.check_free(&username_key, &email).await?;
        let hash = self.inner.hasher.hash(pw).await?;
        let rec = self
            .inner
            .users
            .create_user(crate::store::NewUser {
                username,
                username_key,
                username_skeleton,
                email,
                password_hash: hash,
                created_at: self.now(),
            })
            .await?;
        self.emit(AuthEvent::Registered { user: rec.id });
        Ok(rec.to_user())
    }

    /// Cheap uniqueness pre-check of a new account, so a taken name does
    /// not cost a hash; the store's unique constraints (key and confusable
    /// skeleton) are what guarantee it.
    async fn check_free(&self, username_key: &str, email: &str) -> Result<()> {
        if self
            .inner
            .users
            .user_by_username(username_key)
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        if self.inner.users.user_by_email(email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        Ok(())
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.inner.users.user_by_id(id).await?.map(|r| r.to_user()))
    }

    /// The user with this username (case-insensitive).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.find_by_username(username).await?.map(|r| r.to_user()))
    }

    /// The record stored under the key of `raw`, or under the key it had
    /// before RFC 8265 when that differs (accounts created earlier).
    async fn find_by_username(&self, raw: &str) -> Result<Option<UserRecord>> {
        for key in username_lookup_keys(raw) {
            if let Some(rec) = self.inner.users.user_by_username(&key).await? {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// The user with this email address (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .users
            .user_by_email(&email)
            .await?
            .map(|r| r.to_user()))
    }

    /// Changes the username (`None` keeps it). The email address is
    /// changed only by [`change_email`](Self::change_email), which needs a
    /// re-authentication: an `email` that differs from the current one gives
    /// [`Error::StepUpRequired`] (the same one is accepted, so a form can
    /// send it back unchanged).
    ///
    /// The current username given again is kept even if it predates
    /// today's username rules.
    pub async fn update_profile(
        &self,
        id: UserId,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let keep = || {
            (
                rec.username.clone(),
                rec.username_key.clone(),
                rec.username_skeleton.clone(),
            )
        };
        let (username, key, skeleton) = match username {
            Some(u) if u.trim() == rec.username => keep(),
            Some(u) => match normalize_username(u)? {
                // Same key, other case: the skeleton (of the key) is the
                // current one, even if a legacy look-alike left it empty.
                (name, key, _) if key == rec.username_key => {
                    (name, key, rec.username_skeleton.clone())
                }
                (name, key, skeleton) => (name, key, Some(skeleton)),
            },
            None => keep(),
        };
        if let Some(e) = email
            && normalize_email(e)? != rec.email
        {
            return Err(Error::StepUpRequired);
        }
        self.inner
            .users
            .update_profile(id, &username, &key, skeleton.as_deref(), &rec.email)
            .await?;
        self.emit(AuthEvent::ProfileUpdated { user: id });
        Ok(self.record(id).await?.to_user())
    }

    /// Changes the email address after a re-authentication (the password,
    /// plus a current code when a second factor is enabled). A stolen
    /// session alone cannot move the account's reset emails elsewhere.
    /// Every other session ends; [`AuthEvent::EmailChanged`] carries the old
    /// address, which should be told.
    pub async fn change_email(&self, id: UserId, email: &str, step_up: &StepUp) -> Result<User> {
        let email = normalize_email(email)?;
        let rec = self.record(id).await?;
        if email == rec.email {
            return Ok(rec.to_user());
        }
        self.verify_step_up(&rec, step_up).await?;
        self.inner
            .users
            .update_profile(
                id,
                &rec.username,
                &rec.username_key,
                rec.username_skeleton.as_deref(),
                &email,
            )
            .await?;
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::EmailChanged {
            user: id,
            old_email: rec.email,
        });
        Ok(self.record(id).await?.to_user())
    }

    /// How many unused recovery codes the user has.
    pub async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        self.inner.users.recovery_codes_left(id).await
    }

    // ---------------------------------------------------------------- login

    /// Logs in with a username or email and a password.
    ///
    /// Unknown user and wrong password give the same
    /// [`Error::InvalidCredentials`] after the same work (a dummy verify).
    /// Repeated failures delay, then lock, the account for a while
    /// ([`Error::Locked`]). When the user has a second factor the result is
    /// [`Login::SecondFactor`] (and an SMS code is sent when SMS is the only
    /// factor).
    pub async fn login(&self, identifier: &str, password: &SecretString) -> Result<Login> {
        self.login_with_device(identifier, password, None).await
    }

    /// Like [`login`](Self::login), from a device that may be remembered
    /// ([`remember_device`](Self::remember_device)): when `device_token` is
    /// a live token of this account, a right password completes the login
    /// without the second factor.
    ///
    /// A remembered device also has a failure counter of its own ("smart
    /// lockout"): a stranger who locks the account with wrong passwords
    /// does not lock its owner out of a browser the owner trusts, and
    /// failures from that browser do not count against the account's
    /// counter. A wrong token is simply ignored.
    pub async fn login_with_device(
        &self,
        identifier: &str,
        password: &SecretString,
        device_token: Option<&str>,
    ) -> Result<Login> {
        let ident: String = if identifier.len() > 1024 {
            String::new()
        } else {
            // The same key as `normalize_username` makes.
            let lower = identifier.nfkc().collect::<String>().trim().to_lowercase();
            lower.nfkc().collect()
        };
        let rec = if ident.is_empty() {
            None
        } else if ident.contains('@') {
            match normalize_email(&ident) {
                Ok(e) => self.inner.users.user_by_email(&e).await?,
                Err(_) => None,
            }
        } else {
            self.find_by_username(identifier).await?
        };
        let known = rec.as_ref().map(|r| r.id);
        let device = match &rec {
            Some(r) => {
                self.trusted_device(r.id, r.credential_generation, device_token)
                    .await?
            }
            None => None,
        };
        let key = match &device {
            Some(d) => format!("{}:d:{}", self.fail_key(known, &ident), d.id),
            None => self.fail_key(known, &ident),
        };
        // Reserve, then check: the client's and the account's places are
        // taken before the hash, so a burst cannot outrun either limit.
        self.check_lock(&key).await?;
        let client = self.reserve_client_failure().await?;
        let attempt = match self.reserve_attempt(key, known).await {
            Ok(a) => a,
            Err(e) => {
                self.release_budgets(client).await?;
                return Err(e);
            }
        };
        let pw = password::normalize_for_verify(&self.inner.policy, password);
        let verified = match (&rec, pw) {
            (Some(r), Some(pw)) => self.inner.hasher.verify(pw, &r.password_hash).await,
            (_, pw) => {
                let pw = pw.unwrap_or_else(|| SecretString::from(String::new()));
                self.inner
                    .hasher
                    .dummy_verify(pw)
                    .await
                    .map(|()| Verified::No)
            }
        };
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                // Nothing was decided: the places go back, nobody is let in.
                self.release_budgets(client).await?;
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        let (Some(rec), true) = (rec, verified != Verified::No) else {
            let failures = self.attempt_failed(attempt);
            self.emit(AuthEvent::LoginFailed {
                user: known,
                failures,
            });
            return Err(Error::InvalidCredentials);
        };
        self.release_budgets(client).await?;
        if verified == Verified::YesRehash
            && let Some(pw) = password::normalize_for_verify(&self.inner.policy, password)
        {
            let new = self.inner.hasher.hash(pw).await?;
            if self
                .inner
                .users
                .replace_password_hash(rec.id, &rec.password_hash, &new)
                .await?
            {
                self.emit(AuthEvent::PasswordRehashed { user: rec.id });
            }
        }
        let user = rec.to_user();
        if let Some(d) = &device {
            self.attempt_succeeded(attempt).await?;
            self.inner
                .users
                .touch_device(&d.token_hash, self.now())
                .await?;
            self.emit(AuthEvent::LoginSucceeded {
                user: user.id,
                factor: None,
            });
            return Ok(Login::Complete(user));
        }
        if !self.second_factor_possible(&user) {
            self.attempt_succeeded(attempt).await?;
            self.emit(AuthEvent::LoginSucceeded {
                user: user.id,
                factor: None,
            });
            return Ok(Login::Complete(user));
        }
        // Earlier failures still count until the second factor is passed.
        self.attempt_released(attempt).await?;
        self.emit(AuthEvent::SecondFactorRequired { user: user.id });
        self.start_challenge(&user).await.map(Login::SecondFactor)
    }

    fn second_factor_possible(&self, user: &User) -> bool {
        user.totp_enabled || user.phone.is_some()
    }

    fn methods(&self, user: &User) -> Vec<Factor> {
        let mut m = Vec::new();
        if user.totp_enabled {
            m.push(Factor::Totp);
        }
        if user.phone.is_some() && self.inner.sms.is_some() {
            m.push(Factor::Sms);
        }
        m.push(Factor::RecoveryCode);
        m
    }

    async fn start_challenge(&self, user: &User) -> Result<Challenge> {
        let now = self.now();
        let token = random_token::<32>();
        let key = self.inner.keys.state_key("ch", token.as_bytes());
        let expires_at = now.plus(self.inner.policy.challenge_ttl);
        let mut rec = ChallengeRecord {
            user: user.id,
            expires_at,
            sms: None,
            generation: user.generation,
        };
        let mut delivery = None;
        if let (Some(phone), true) = (&user.phone, self.inner.sms.is_some()) {
            let to = mask_phone(phone);
            delivery = Some(if user.totp_enabled {
                SmsDelivery::Available { to }
            } else {
                match self.send_sms(user.id, phone, PhoneStatus::Verified).await {
                    Ok(sent) => {
                        rec.sms = Some(sent);
                        SmsDelivery::Sent { to }
                    }
                    Err(e) if e.is_user_error() || matches!(e, Error::Provider(_)) => {
                        // A provider's error text (codes, configuration) is
                        // for the logs, not for the login page.
                        let reason = match &e {
                            Error::Provider(p) => {
                                tracing::warn!(error = %p, "the login code could not be sent");
                                "the text message could not be sent right now".to_owned()
                            }
                            other => other.to_string(),
                        };
                        SmsDelivery::Deferred {
                            to,
                            reason,
                            retry_after: e.retry_after(),
                        }
                    }
                    Err(e) => return Err(e),
                }
            });
        }
        self.put_challenge(&key, &rec).await?;
        Ok(Challenge {
            token: SecretString::from(token),
            expires_at,
            methods: self.methods(user),
            sms: delivery,
        })
    }

    async fn put_challenge(&self, key: &str, rec: &ChallengeRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec)
            .map_err(|e| Error::Internal(format!("challenge encoding: {e}")))?;
        // Kept an hour past expiry so an expired challenge says "expired", not "not found".
        self.inner
            .state
            .put(key, &bytes, rec.expires_at.plus(Duration::from_secs(3600)))
            .await
    }

    async fn load_challenge(&self, token: &str) -> Result<(String, ChallengeRecord)> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::ChallengeNotFound);
        }
        let key = self.inner.keys.state_key("ch", token.as_bytes());
        let bytes = self
            .inner
            .state
            .get(&key, self.now())
            .await?
            .ok_or(Error::ChallengeNotFound)?;
        let rec: ChallengeRecord =
            serde_json::from_slice(&bytes).map_err(|_| Error::ChallengeNotFound)?;
        if rec.expires_at <= self.now() {
            self.inner.state.delete(&key).await?;
            return Err(Error::ChallengeExpired);
        }
        Ok((key, rec))
    }

    /// Reserves a place in every budget one SMS spends, then sends it.
    ///
    /// A text to an account's verified phone spends that phone's, the
    /// account's and the site's login budgets; a text to a number that is not
    /// verified yet (an enrollment) spends the separate unverified budgets
    /// of that number and of the site instead, so enrolling someone else's
    /// number never uses up the owner's login codes. Both spend the
    /// client's budget, which is far smaller than the site's.
    async fn send_sms(&self, user: UserId, phone: &str, status: PhoneStatus) -> Result<SentCode> {
        let sms = self
            .inner
            .sms
            .as_ref()
            .ok_or(Error::FactorUnavailable("SMS is not configured"))?;
        let p = &self.inner.policy;
        let (phone_scope, phone_limit, global_key, global_limit) = match status {
            PhoneStatus::Verified => ("sms-p", p.sms_per_phone, "sms-g", p.sms_global),
            PhoneStatus::Unverified => (
                "sms-pu",
                p.sms_unverified_per_phone,
                "sms-ug",
                p.sms_unverified_global,
            ),
        };
        let mut budgets = vec![(
            self.inner.keys.state_key(phone_scope, phone.as_bytes()),
            phone_limit,
        )];
        let client = self.client_budget("cs", p.client_sms);
        let client_limited = client.is_some();
        budgets.extend(client);
        budgets.push((format!("sms-a:{user}"), p.sms_per_account));
        budgets.push((global_key.to_owned(), global_limit));
        if let Err(e) = self.reserve_budgets(budgets).await {
            self.emit(AuthEvent::SendLimited { user });
            if client_limited {
                // Which budget refused is not told apart: any refusal from a
                // client with a known address is reported with it.
                self.emit(AuthEvent::ClientLimited {
                    action: LimitedAction::SmsSend,
                });
            }
            return Err(e);
        }
        let handle = sms.send(phone, &self.sms_ctx()).await?;
        self.emit(AuthEvent::CodeSent {
            user,
            to: mask_phone(phone),
        });
        Ok(SentCode {
            phone: phone.to_owned(),
            handle,
            sent_at: self.now(),
        })
    }

    /// Sends (or re-sends) the SMS code of a pending login. The new code
    /// replaces the old one. Limited per challenge (one per
    /// `resend_interval`), per phone, per account and globally.
    pub async fn resend(&self, token: &str) -> Result<Challenge> {
        let (key, mut rec) = self.load_challenge(token).await?;
        let user = self.challenge_user(&key, &rec).await?.to_user();
        // No texts (which cost money) while the account is locked.
        self.check_lock(&self.fail_key(Some(rec.user), "")).await?;
        let phone = match (&user.phone, &self.inner.sms) {
            (Some(p), Some(_)) => p.clone(),
            _ => {
                return Err(Error::FactorUnavailable(
                    "SMS is not enabled for this account",
                ));
            }
        };
        if let Some(prev) = &rec.sms {
            let next = prev.sent_at.plus(self.inner.policy.resend_interval);
            if next > self.now() {
                return Err(Error::RateLimited {
                    retry_after: self.now().until(next).max(Duration::from_secs(1)),
                });
            }
        }
        let sent = self
            .send_sms(user.id, &phone, PhoneStatus::Verified)
            .await?;
        if let (Some(prev), Some(sms)) = (rec.sms.take(), &self.inner.sms)
            && prev.handle != sent.handle
        {
            // Best effort: the old code stops working.
            let _ = sms.cancel(&prev.phone, &prev.handle, &self.sms_ctx()).await;
        }
        rec.sms = Some(sent);
        self.put_challenge(&key, &rec).await?;
        Ok(Challenge {
            token: SecretString::from(token.to_owned()),
            expires_at: rec.expires_at,
            methods: self.methods(&user),
            sms: Some(SmsDelivery::Sent {
                to: mask_phone(&phone),
            }),
        })
    }

    /// Finishes a pending login with a second-factor code: an SMS code, an
    /// authenticator-app code or a recovery code.
    ///
    /// Wrong codes give [`Error::InvalidCode`] with the attempts left, and
    /// count against the account's failure counter. Success consumes the
    /// challenge atomically: of concurrent calls with a right code, exactly
    /// one succeeds, even across app instances sharing a store. A pending
    /// login started before a change of the account's credentials (a reset,
    /// a factor change, "sign out everywhere") is void:
    /// [`Error::ChallengeNotFound`].
    pub async fn verify(&self, token: &str, code: &str) -> Result<Verification> {
        let answer = parse_answer(code)?;
        let (key, rec) = self.load_challenge(token).await?;
        let user_rec = self.challenge_user(&key, &rec).await?;
        let fail_key = self.fail_key(Some(rec.user), "");
        // A locked account spends no attempt of the challenge.
        self.check_lock(&fail_key).await?;
        let max = u64::from(self.inner.policy.challenge_max_attempts);
        let attempts = self
            .inner
            .state
            .increment(
                &format!("{key}:n"),
                self.inner.policy.challenge_ttl + Duration::from_secs(3600),
                false,
                self.now(),
            )
            .await?
            .count;
        if attempts > max {
            // Not deleted here: an earlier attempt of the same burst may be
            // checking a right code and must still be able to take it. The
            // counter stays above the cap, so nothing else gets through.
            return Err(Error::TooManyAttempts);
        }
        // Reserve, then check: the account-wide and client budgets too.
        let client = self.reserve_client_failure().await?;
        let attempt = match self.reserve_attempt(fail_key, Some(rec.user)).await {
            Ok(a) => a,
            Err(e) => {
                self.release_budgets(client).await?;
                return Err(e);
            }
        };
        let outcome = match self
            .check_answer(&user_rec, &answer, rec.sms.as_ref())
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // A store or provider failure decides nothing and lets
                // nobody in; the reservations go back.
                self.release_budgets(client).await?;
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        let factor = match outcome {
            CodeCheck::Accepted(factor) => factor,
            refused => {
                self.attempt_failed(attempt);
                let factor = match answer {
                    Answer::Recovery(_) => Factor::RecoveryCode,
                    Answer::Digits(_) if user_rec.totp.is_some() => Factor::Totp,
                    Answer::Digits(_) => Factor::Sms,
                };
                self.emit(AuthEvent::CodeRejected {
                    user: rec.user,
                    factor,
                });
                let left = max.saturating_sub(attempts);
                if left == 0 {
                    self.inner.state.delete(&key).await?;
                    return Err(Error::TooManyAttempts);
                }
                return Err(refused.refusal(u32::try_from(left).unwrap_or(u32::MAX)));
            }
        };
        self.release_budgets(client).await?;
        // Single use: of concurrent successes exactly one takes the challenge.
        if self.inner.state.take(&key, self.now()).await?.is_none() {
            self.attempt_released(attempt).await?;
            return Err(Error::ChallengeNotFound);
        }
        // The per-challenge counter expires by itself; no statement spent on it.
        self.attempt_succeeded(attempt).await?;
        if let (Some(sent), Some(sms), true) = (&rec.sms, &self.inner.sms, factor != Factor::Sms) {
            let _ = sms.cancel(&sent.phone, &sent.handle, &self.sms_ctx()).await;
        }
        self.emit(AuthEvent::LoginSucceeded {
            user: rec.user,
            factor: Some(factor),
        });
        let recovery_codes_left = match factor {
            Factor::RecoveryCode => Some(self.inner.users.recovery_codes_left(rec.user).await?),
            _ => None,
        };
        Ok(Verification {
            user: user_rec.to_user(),
            factor,
            recovery_codes_left,
        })
    }

    /// The user of a pending login, if the login is still valid for the
    /// user's current credentials; a stale one is removed.
    async fn challenge_user(&self, key: &str, rec: &ChallengeRecord) -> Result<UserRecord> {
        let user = self.record(rec.user).await?;
        if user.credential_generation != rec.generation {
            self.inner.state.delete(key).await?;
            return Err(Error::ChallengeNotFound);
        }
        Ok(user)
    }

    /// Checks a code against the user's factors.
    async fn check_answer(
        &self,
        user: &UserRecord,
        answer: &Answer,
        sms: Option<&SentCode>,
    ) -> Result<CodeCheck> {
        match answer {
            Answer::Recovery(code) => {
                let h = recovery::hash(&self.inner.keys, code);
                if self.inner.users.use_recovery_code(user.id, &h).await? {
                    let remaining = self.inner.users.recovery_codes_left(user.id).await?;
                    self.emit(AuthEvent::RecoveryCodeUsed {
                        user: user.id,
                        remaining,
                    });
                    return Ok(CodeCheck::Accepted(Factor::RecoveryCode));
                }
                Ok(CodeCheck::Wrong)
            }
            Answer::Digits(code) => {
                #[cfg_attr(not(feature = "totp"), allow(unused_mut))]
                let mut replayed = false;
                #[cfg(feature = "totp")]
                if let Some(stored) = &user.totp {
                    match self.check_totp(user.id, stored, code).await? {
                        CodeCheck::Wrong => {}
                        CodeCheck::Replayed => replayed = true,
                        accepted => return Ok(accepted),
                    }
                }
                if let (Some(sent), Some(smsv), Some(phone)) = (sms, &self.inner.sms, &user.phone)
                    && sent.phone == *phone
                {
                    match smsv.check(phone, &sent.handle, code, &self.sms_ctx()).await {
                        Ok(true) => return Ok(CodeCheck::Accepted(Factor::Sms)),
                        Ok(false) => {}
                        // The code expired at the provider: a wrong answer now.
                        Err(Error::ChallengeExpired | Error::ChallengeNotFound)
                            if user.totp.is_some() => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(if replayed {
                    CodeCheck::Replayed
                } else {
                    CodeCheck::Wrong
                })
            }
        }
    }

    /// Verifies a TOTP code and burns its step (replay refused, reported).
    #[cfg(feature = "totp")]
    async fn check_totp(
        &self,
        user: UserId,
        stored: &crate::store::StoredSecret,
        code: &str,
    ) -> Result<CodeCheck> {
        let secret = self.inner.seal.open(user, stored)?;
        self.accept_totp(user, &secret, code).await
    }

    #[cfg(feature = "totp")]
    async fn accept_totp(&self, user: UserId, secret: &[u8], code: &str) -> Result<CodeCheck> {
        let now = self.now();
        let secs = u64::try_from(now.as_secs()).unwrap_or(0);
        let p = &self.inner.policy;
        let Some(step) = crate::factor::totp::matching_step(
            secret,
            code,
            secs,
            p.totp_skew_back,
            p.totp_skew_forward,
        ) else {
            return Ok(CodeCheck::Wrong);
        };
        let step_i = i64::try_from(step).unwrap_or(i64::MAX);
        let keep = Duration::from_secs(
            crate::factor::totp::STEP
                * (u64::from(p.totp_skew_back) + u64::from(p.totp_skew_forward) + 2),
        );
        if self
            .inner
            .state
            .advance(&format!("totp-step:{user}"), step_i, now.plus(keep), now)
            .await?
        {
            Ok(CodeCheck::Accepted(Factor::Totp))
        } else {
            self.emit(AuthEvent::TotpReplayRefused { user });
            Ok(CodeCheck::Replayed)
        }
    }

    // ------------------------------------------------------------ passwords

    /// Changes the password; the current one is required. Every other
    /// session and pending login of the user ends; stamp this session anew
    /// from the returned user.
    pub async fn change_password(
        &self,
        id: UserId,
        current: &SecretString,
        new: &SecretString,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let pw = password::check_password(&self.inner.policy, new, &[&rec.username, &rec.email])?;
        self.check_current_password(&rec, current).await?;
        let hash = self.inner.hasher.hash(pw).await?;
        if !self
            .inner
            .users
            .replace_password_hash(id, &rec.password_hash, &hash)
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::PasswordChanged {
            user: id,
            via_reset: false,
        });
        Ok(self.record(id).await?.to_user())
    }

    /// Checks the current password of a logged-in user (a change, a
    /// step-up), reserving a place in the account's failure counter first.
    /// A wrong one counts as a failure; a right one hands the place back.
    async fn check_current_password(
        &self,
        rec: &UserRecord,
        password: &SecretString,
    ) -> Result<()> {
        let attempt = self
            .reserve_attempt(self.fail_key(Some(rec.id), ""), Some(rec.id))
            .await?;
        match self.password_ok(rec, password).await {
            Ok(true) => self.attempt_released(attempt).await,
            Ok(false) => {
                self.attempt_failed(attempt);
                Err(Error::InvalidCredentials)
            }
            Err(e) => {
                self.attempt_released(attempt).await?;
                Err(e)
            }
        }
    }

    async fn password_ok(&self, rec: &UserRecord, password: &SecretString) -> Result<bool> {
        match password::normalize_for_verify(&self.inner.policy, password) {
            Some(pw) => Ok(self.inner.hasher.verify(pw, &rec.password_hash).await? != Verified::No),
            None => Ok(false),
        }
    }

    /// The MAC of a reset token: it covers what must not have changed
    /// since the link was sent (the password, the address it went to, the
    /// credential generation), so any of those changes voids the link.
    fn reset_mac(&self, rec: &UserRecord, expires: i64) -> [u8; 32] {
        self.inner.keys.mac_parts(
            b"password-reset",
            &[
                &rec.id.0.to_be_bytes(),
                &expires.to_be_bytes(),
                rec.password_hash.as_bytes(),
                rec.email.as_bytes(),
                &rec.credential_generation.to_be_bytes(),
            ],
        )
    }

    /// Starts a password reset. Returns the token to email when the address
    /// belongs to an account, `None` otherwise; the caller should answer the
    /// same either way ("if that address is registered, we sent a link").
    /// Limited per address (known or not), so it reveals nothing.
    ///
    /// The token expires (1 hour by default), works once, and dies when the
    /// password changes.
    pub async fn request_password_reset(&self, email: &str) -> Result<Option<ResetToken>> {
        let email = normalize_email(email)?;
        let p = &self.inner.policy;
        let mut budgets = vec![(
            self.inner.keys.state_key("reset", email.as_bytes()),
            p.reset_requests,
        )];
        let client = self.client_budget("crr", p.client_reset_requests);
        let client_limited = client.is_some();
        budgets.extend(client);
        if let Err(e) = self.reserve_budgets(budgets).await {
            if client_limited {
                self.emit(AuthEvent::ClientLimited {
                    action: LimitedAction::PasswordReset,
                });
            }
            return Err(e);
        }
        let Some(rec) = self.inner.users.user_by_email(&email).await? else {
            return Ok(None);
        };
        let expires_at = self.now().plus(self.inner.policy.reset_token_ttl);
        let mac = self.reset_mac(&rec, expires_at.as_millis());
        let mut raw = Vec::with_capacity(48);
        raw.extend_from_slice(&rec.id.0.to_be_bytes());
        raw.extend_from_slice(&expires_at.as_millis().to_be_bytes());
        raw.extend_from_slice(&mac);
        self.emit(AuthEvent::PasswordResetRequested { user: rec.id });
        Ok(Some(ResetToken {
            token: SecretString::from(data_encoding::BASE64URL_NOPAD.encode(&raw)),
            email: rec.email,
            username: rec.username,
            expires_at,
        }))
    }

    /// Checks a reset token without using it (to show the reset form only
    /// for a valid link). Returns the user it belongs to.
    pub async fn check_reset_token(&self, token: &str) -> Result<User> {
        Ok(self.reset_target(token).await?.0.to_user())
    }

    async fn reset_target(&self, token: &str) -> Result<(UserRecord, [u8; 32], Timestamp)> {
        if token.len() > 128 {
            return Err(Error::InvalidResetToken);
        }
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(token.trim().as_bytes())
            .map_err(|_| Error::InvalidResetToken)?;
        if raw.len() != 48 {
            return Err(Error::InvalidResetToken);
        }
        let id = UserId(i64::from_be_bytes(
            raw[0..8].try_into().map_err(|_| Error::InvalidResetToken)?,
        ));
        let expires = i64::from_be_bytes(
            raw[8..16]
                .try_into()
                .map_err(|_| Error::InvalidResetToken)?,
        );
        let rec = self
            .inner
            .users
            .user_by_id(id)
            .await?
            .ok_or(Error::InvalidResetToken)?;
        let mac = self.reset_mac(&rec, expires);
        if !ct_eq(&mac, &raw[16..48]) {
            return Err(Error::InvalidResetToken);
        }
        let expires_at = Timestamp::from_millis(expires);
        if expires_at <= self.now() {
            return Err(Error::InvalidResetToken);
        }
        Ok((rec, mac, expires_at))
    }

    /// Sets a new password with a reset token. The token is used up; the
    /// second factor stays enabled (the next login still asks for it).
    pub async fn reset_password(&self, token: &str, new_password: &SecretString) -> Result<User> {
        let (rec, mac, expires_at) = self.reset_target(token).await?;
        let pw = password::check_password(
            &self.inner.policy,
            new_password,
            &[&rec.username, &rec.email],
        )?;
        // Single use, reserved before the hash: of a burst with one token,
        // one request hashes and the rest are refused at once. A failure
        // after this point burns the token; the user asks for a new link.
        let used = format!("reset-used:{}", data_encoding::HEXLOWER.encode(&mac));
        if !self
            .inner
            .state
            .put_if_absent(&used, &[1], expires_at, self.now())
            .await?
        {
            return Err(Error::InvalidResetToken);
        }
        let hash = self.inner.hasher.hash(pw).await?;
        if !self
            .inner
            .users
            .replace_password_hash(rec.id, &rec.password_hash, &hash)
            .await?
        {
            return Err(Error::InvalidResetToken);
        }
        self.credentials_changed(rec.id).await?;
        self.emit(AuthEvent::PasswordChanged {
            user: rec.id,
            via_reset: true,
        });
        Ok(self.record(rec.id).await?.to_user())
    }
}

#[cfg(test)]
mod proptests;
