//! [`AuthenticatorBuilder`]: the configuration, validated in `build()`.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice};

use super::{Authenticator, Inner};
use crate::clock::{Clock, SystemClock};
use crate::context::RequestContext;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::event::{EventSink, TracingSink};
use crate::factor::SmsVerifier;
use crate::key::SecretKey;
use crate::password::Hasher;
use crate::policy::Policy;
use crate::store::{StateStore, UserStore};

/// Builds an [`Authenticator`]; `build()` validates everything.
///
/// Required: the stores ([`store`](Self::store), or
/// [`user_store`](Self::user_store) and [`state_store`](Self::state_store))
/// and the [`secret_key`](Self::secret_key). Everything else has a default.
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::clock::SystemClock;
/// use twofa_verify::event::RecordingSink;
/// use twofa_verify::password::legacy::WerkzeugPbkdf2;
/// use twofa_verify::{Authenticator, ConsoleSms, Error, LocalCodes, MemoryStore, Policy, SecretKey};
///
/// # fn main() -> twofa_verify::Result<()> {
/// let users = MemoryStore::new(); // e.g. a PostgresStore
/// let state = MemoryStore::new(); // e.g. a RedisStore
/// let events = RecordingSink::new();
/// let mut policy = Policy::default();
/// policy.challenge_ttl = Duration::from_secs(300);
///
/// let auth = Authenticator::builder()
///     .user_store(users)
///     .state_store(state)
///     .secret_key(SecretKey::generate()) // SecretKey::from_env("TWOFA_SECRET_KEY")?
///     .pepper(b"kept apart from the database".to_vec())
///     .policy(policy)
///     .clock(SystemClock)
///     .events(events.clone())
///     .sms(LocalCodes::new(ConsoleSms::new()))
///     .issuer("Example Shop")
///     .totp_key(1, [7; 32]) // rotate: add key 2, keep key 1 to open old secrets
///     .legacy_verifier(WerkzeugPbkdf2::new()) // users imported from Flask
///     .build()?;
/// assert!(auth.sms_available());
///
/// // `build` checks the settings.
/// let no_key = Authenticator::builder().store(MemoryStore::new()).build();
/// assert!(matches!(no_key, Err(Error::Config(_))));
/// let bad_issuer = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .issuer("Example: Shop") // a colon splits authenticator-app labels
///     .build();
/// assert!(matches!(bad_issuer, Err(Error::Config(_))));
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct AuthenticatorBuilder {
    users: Option<Arc<dyn UserStore>>,
    state: Option<Arc<dyn StateStore>>,
    secret: Option<SecretKey>,
    pepper: Option<SecretSlice<u8>>,
    policy: Policy,
    clock: Option<Arc<dyn Clock>>,
    events: Option<Arc<dyn EventSink>>,
    audit: Option<Arc<dyn crate::store::AuditStore>>,
    sms: Option<Arc<dyn SmsVerifier>>,
    issuer: Option<String>,
    legacy: Vec<Arc<dyn crate::password::LegacyHashVerifier>>,
    #[cfg(feature = "totp")]
    totp_keys: std::collections::BTreeMap<u32, Arc<secrecy::SecretBox<[u8; 32]>>>,
    #[cfg(feature = "passkeys")]
    passkeys: Option<crate::passkey::PasskeyConfig>,
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
    /// replaces it with Argon2id. Built in (feature `legacy-hashes`): [`WerkzeugPbkdf2`](crate::password::legacy::WerkzeugPbkdf2),
    /// [`WerkzeugScrypt`](crate::password::legacy::WerkzeugScrypt),
    /// [`Bcrypt`](crate::password::legacy::Bcrypt). Unknown-user logins then
    /// cost the slowest of Argon2 and the verifiers' dummy hashes. See the
    /// [`AuthenticatorBuilder`] example.
    pub fn legacy_verifier(
        mut self,
        verifier: impl crate::password::LegacyHashVerifier + 'static,
    ) -> Self {
        self.legacy.push(Arc::new(verifier));
        self
    }

    /// One store for both users and state (e.g. `MemoryStore`,
    /// `SqliteStore`): clones share their data, so one clone holds the
    /// users and another the state (see the [`MemoryStore`](crate::MemoryStore)
    /// example).
    pub fn store<S: UserStore + StateStore + Clone + 'static>(mut self, store: S) -> Self {
        self.users = Some(Arc::new(store.clone()));
        self.state = Some(Arc::new(store));
        self
    }
    /// The user store, when users and state live apart (see the
    /// [`AuthenticatorBuilder`] example).
    pub fn user_store(mut self, store: impl UserStore + 'static) -> Self {
        self.users = Some(Arc::new(store));
        self
    }
    /// The state store, when users and state live apart (see the
    /// [`AuthenticatorBuilder`] example).
    pub fn state_store(mut self, store: impl StateStore + 'static) -> Self {
        self.state = Some(Arc::new(store));
        self
    }
    /// The application's secret key: keys every token and code hash, and
    /// (unless [`totp_key`](Self::totp_key) is given) the TOTP encryption
    /// key. Keep it stable across restarts and identical on every instance;
    /// give the web layer the same key (see [`SecretKey`] and the
    /// [`AuthenticatorBuilder`] example).
    pub fn secret_key(mut self, key: SecretKey) -> Self {
        self.secret = Some(key);
        self
    }
    /// An optional pepper mixed into every password hash (Argon2 secret).
    /// Changing it invalidates every password. 1 to 64 bytes; keep it out of
    /// the database (see the [`AuthenticatorBuilder`] example).
    pub fn pepper(mut self, pepper: impl Into<Vec<u8>>) -> Self {
        self.pepper = Some(SecretSlice::from(pepper.into()));
        self
    }
    /// Limits, lifetimes and windows (default: [`Policy::default`]);
    /// validated by [`build`](Self::build). See the [`Policy`] example.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// The clock (default: the system clock); tests give a
    /// [`ManualClock`](crate::clock::ManualClock) (see its example).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// Where events go (default: [`TracingSink`]); see the
    /// [`EventSink`](crate::EventSink) example.
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }
    /// Persists every event about a known user in `store`, the audit trail
    /// (usually the same store as the users: `.audit_store(store.clone())`).
    /// Without one, events only reach the [`events`](Self::events) sink.
    /// See the [`audit`](crate::audit) module for what is kept and what a
    /// failed write does.
    pub fn audit_store(mut self, store: impl crate::store::AuditStore + 'static) -> Self {
        self.audit = Some(Arc::new(store));
        self
    }
    /// The SMS provider: [`TwilioVerify`](crate::factor::TwilioVerify) or
    /// [`LocalCodes`](crate::factor::LocalCodes). Without one, SMS is off.
    /// See the [`ConsoleSms`](crate::ConsoleSms) example.
    pub fn sms(mut self, sms: impl SmsVerifier + 'static) -> Self {
        self.sms = Some(Arc::new(sms));
        self
    }
    /// The issuer shown in authenticator apps (default `twofa-verify`): 1 to
    /// 100 characters, no `:`. See the [`AuthenticatorBuilder`] example.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Adds a 32-byte TOTP encryption key with an id. The highest id
    /// encrypts new secrets; every given id can decrypt, so keys can be
    /// rotated by adding a new one and keeping the old. Without one, a key
    /// derived from the [`secret_key`](Self::secret_key) seals them. See the
    /// [`AuthenticatorBuilder`] example.
    #[cfg(feature = "totp")]
    pub fn totp_key(mut self, id: u32, key: [u8; 32]) -> Self {
        self.totp_keys
            .insert(id, Arc::new(secrecy::SecretBox::new(Box::new(key))));
        self
    }

    /// Turns on passkeys (feature `passkeys`) for this relying party (see
    /// the [`PasskeyConfig`](crate::passkey::PasskeyConfig) example).
    ///
    /// ```
    /// use twofa_verify::passkey::PasskeyConfig;
    /// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
    /// let rp = PasskeyConfig::builder().rp_id("localhost").origin("http://localhost:3000").build()?;
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .passkeys(rp)
    ///     .build()?;
    /// assert!(auth.passkeys_available());
    /// # Ok::<(), twofa_verify::Error>(())
    /// ```
    #[cfg(feature = "passkeys")]
    pub fn passkeys(mut self, config: crate::passkey::PasskeyConfig) -> Self {
        self.passkeys = Some(config);
        self
    }

    /// Validates the configuration and builds the authenticator: a missing
    /// store or key, a policy [`Policy::validate`] refuses, a pepper or
    /// issuer out of bounds are [`Error::Config`] (see the
    /// [`AuthenticatorBuilder`] example).
    pub fn build(self) -> Result<Authenticator> {
        self.policy.validate()?;
        let users = self
            .users
            .ok_or_else(|| Error::Config("a user store is required".into()))?;
        let state = self
            .state
            .ok_or_else(|| Error::Config("a state store is required".into()))?;
        let secret = self.secret.ok_or_else(|| {
            Error::Config("a secret key is required (see SecretKey::from_env)".into())
        })?;
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
        let keys = Keys::from(&secret);
        #[cfg(feature = "passkeys")]
        let passkeys = match self.passkeys {
            Some(config) => Some(super::Passkeys {
                webauthn: config.webauthn()?,
                config,
            }),
            None => None,
        };
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
                audit: self.audit,
                sms: self.sms,
                issuer,
                keys,
                hasher,
                #[cfg(feature = "totp")]
                seal,
                #[cfg(feature = "passkeys")]
                passkeys,
            }),
        })
    }
}
