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
#[derive(Default)]
pub struct AuthenticatorBuilder {
    users: Option<Arc<dyn UserStore>>,
    state: Option<Arc<dyn StateStore>>,
    secret: Option<SecretKey>,
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
    /// replaces it with Argon2id. Built in (feature `legacy-hashes`): [`WerkzeugPbkdf2`](crate::password::legacy::WerkzeugPbkdf2),
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
    /// The application's secret key: keys every token and code hash, and
    /// (unless [`totp_key`](Self::totp_key) is given) the TOTP encryption
    /// key. Keep it stable across restarts and identical on every instance;
    /// give the web layer the same key (see [`SecretKey`]).
    pub fn secret_key(mut self, key: SecretKey) -> Self {
        self.secret = Some(key);
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
