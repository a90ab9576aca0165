//! Password login, with or without a remembered device.

use secrecy::SecretString;
use tracing::Instrument;
use unicode_normalization::UnicodeNormalization;

use super::lockout::AttemptBudget;
use super::state::{FailScope, StateKey};
use super::{Authenticator, Challenge, RequiredEnrollment};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, Factor};
use crate::password::{self, Verified};
use crate::policy::GraceLeft;
use crate::store::{DeviceRecord, UserRecord};
use crate::user::{User, normalize_email};

/// The outcome of a password login (see the [`Authenticator::login`]
/// example).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Login {
    /// The user is logged in (no second factor enabled).
    Complete(User),
    /// The password was right; now a second-factor code is needed. Keep the
    /// challenge's token (e.g. in the session) and call
    /// [`Authenticator::verify`].
    SecondFactor(Challenge),
    /// The user is logged in, but the policy requires a second factor of
    /// them and they have none: send them to enrollment now. Within the
    /// grace period of
    /// [`Policy::second_factor_required`](crate::Policy::second_factor_required);
    /// `grace` says what is left of it. See the [`RequiredEnrollment`]
    /// example.
    EnrollSoon {
        /// The logged-in user.
        user: User,
        /// What is left of the grace period after this sign-in.
        grace: GraceLeft,
    },
    /// The password was right but the user is **not** logged in: the policy
    /// requires a second factor, they have none and the grace period is
    /// over. Let this session reach only the enrollment pages (see
    /// [`RequiredEnrollment`]).
    EnrollmentRequired(RequiredEnrollment),
}

/// What a login attempt of an identifier is about (see
/// [`Authenticator::login_scope`]).
struct LoginScope {
    rec: Option<UserRecord>,
    device: Option<DeviceRecord>,
    scope: FailScope,
}

impl Authenticator {
    /// Logs in with a username or email and a password.
    ///
    /// Unknown user and wrong password give the same
    /// [`Error::InvalidCredentials`] after the same work (a dummy verify).
    /// Repeated failures delay ([`Error::Delayed`]), then lock
    /// ([`Error::Locked`]), the identifier for a while: the username and the email address of one
    /// account are counted apart, so failing by one never changes what the
    /// other answers (which would tell that they belong together). When the
    /// user has a second factor the result is [`Login::SecondFactor`] (and
    /// an SMS code is sent when SMS is the only factor).
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, Error, Factor, LocalCodes, Login, MemoryStore};
    /// use twofa_verify::{SecretKey, SmsDelivery, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let sms = ConsoleSms::quiet();
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .sms(LocalCodes::new(sms.clone()))
    ///     .build()?;
    /// let password = SecretString::from("correct horse battery");
    /// let alice = auth.register("alice", "alice@example.com", &password).await?;
    ///
    /// // No second factor yet: the password is enough. The email works too.
    /// let Login::Complete(user) = auth.login("alice@example.com", &password).await? else {
    ///     panic!("no factor enabled")
    /// };
    /// assert_eq!(user.id, alice.id);
    /// let wrong = auth.login("alice", &SecretString::from("not it")).await;
    /// assert!(matches!(wrong, Err(Error::InvalidCredentials)));
    ///
    /// # auth.start_sms_enrollment(alice.id, "+14155552671", &StepUp::password("correct horse battery")).await?;
    /// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// # let _ = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// // With SMS enabled, the right password starts a pending login and
    /// // the code goes out at once.
    /// let Login::SecondFactor(challenge) = auth.login("alice", &password).await? else {
    ///     panic!("a factor is enabled")
    /// };
    /// assert_eq!(challenge.methods, vec![Factor::Sms, Factor::RecoveryCode]);
    /// assert!(matches!(&challenge.sms, Some(SmsDelivery::Sent { to, .. }) if to == "+1415*****71"));
    /// // Keep `challenge.token()` in the session; then `verify` the code.
    /// let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// let verified = auth.verify(challenge.token(), &code).await?;
    /// assert_eq!(verified.user.id, alice.id);
    /// # Ok(())
    /// # }
    /// ```
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
    /// counter. A wrong token is simply ignored. See the
    /// [`remember_device`](Self::remember_device) example.
    pub async fn login_with_device(
        &self,
        identifier: &str,
        password: &SecretString,
        device_token: Option<&str>,
    ) -> Result<Login> {
        // A span per flow, without personal data (no user id, name or address).
        self.login_with_device_in_span(identifier, password, device_token)
            .instrument(tracing::info_span!("twofa", flow = "login"))
            .await
    }

    async fn login_with_device_in_span(
        &self,
        identifier: &str,
        password: &SecretString,
        device_token: Option<&str>,
    ) -> Result<Login> {
        let LoginScope { rec, device, scope } = self.login_scope(identifier, device_token).await?;
        let known = rec.as_ref().map(|r| r.id);
        // Reserve, then check: the client's and the account's places are
        // taken before the hash (one round trip), so a burst cannot outrun
        // either limit. The reservation also refuses an operator's lock;
        // `rec` was read before it, so a lock set later changes the
        // credential generation this login's session holds, and ends it.
        let attempt = self
            .reserve_attempt(&scope, known, &[AttemptBudget::ClientFailures])
            .await?;
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
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        let (Some(rec), true) = (rec, verified != Verified::No) else {
            let failures = self.attempt_failed(attempt).await?;
            self.emit(AuthEvent::LoginFailed {
                user: known,
                failures,
            })
            .await?;
            return Err(Error::InvalidCredentials);
        };
        if verified == Verified::YesRehash
            && let Some(pw) = password::normalize_for_verify(&self.inner.policy, password)
        {
            let new = self.inner.hasher.hash(pw).await?;
            if self
                .users()
                .replace_password_hash(rec.id, &rec.password_hash, &new)
                .await?
            {
                self.emit(AuthEvent::PasswordRehashed { user: rec.id })
                    .await?;
            }
        }
        let user = rec.to_user();
        if !self.second_factor_possible(&user) {
            // Before the remembered device: a device never stands in for a
            // factor the policy requires.
            let standing = match self.unenrolled_standing(&user).await {
                Ok(s) => s,
                Err(e) => {
                    self.attempt_released(attempt).await?;
                    return Err(e);
                }
            };
            self.attempt_succeeded(attempt).await?;
            if let Some(d) = &device {
                self.users().touch_device(&d.token_hash, self.now()).await?;
            }
            return self.unenrolled_login(user, standing).await;
        }
        if let Some(d) = &device {
            self.attempt_succeeded(attempt).await?;
            self.users().touch_device(&d.token_hash, self.now()).await?;
            self.emit(AuthEvent::LoginSucceeded {
                user: user.id,
                factor: None,
            })
            .await?;
            return Ok(Login::Complete(user));
        }
        // Earlier failures still count until the second factor is passed:
        // the place goes back as the pending login is stored.
        self.emit(AuthEvent::SecondFactorRequired { user: user.id })
            .await?;
        let (challenge, rec) = match self.new_challenge(&user).await {
            Ok(c) => c,
            Err(e) => {
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        self.attempt_released_then_put(
            attempt,
            StateKey::Challenge(challenge.token()),
            &rec,
            rec.kept_until(),
        )
        .await?;
        Ok(Login::SecondFactor(challenge))
    }

    /// How long the next login attempt of `identifier` (from the device
    /// of `device_token`, as [`login_with_device`](Self::login_with_device)
    /// takes them) waits: `None` when it is evaluated at once, else the
    /// wait of the delay or lock its failures earned.
    ///
    /// For the answer to a failed login: a failure that earned a wait can
    /// say so ("invalid username or password; try again in 2 s"), where a
    /// plain "invalid" would be followed, at the next try, by an
    /// [`Error::Delayed`] out of the blue. It tells nothing an attempt does
    /// not (a refused attempt answers the same wait, and costs no hash),
    /// and an unknown identifier waits exactly like a known one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::clock::ManualClock;
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, MemoryStore, Policy, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let mut policy = Policy::default();
    /// policy.delay_after_failures = 2; // then 1 s, 2 s, 4 s, ...
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .policy(policy)
    ///     .clock(ManualClock::starting_now())
    ///     .build()?;
    /// let guess = SecretString::from("not the password");
    /// for _ in 0..2 {
    ///     let failed = auth.login("mallory", &guess).await;
    ///     assert!(matches!(failed, Err(Error::InvalidCredentials)));
    /// }
    /// // The form's answer to the second failure can tell the wait.
    /// let wait = auth.login_wait("mallory", None).await?;
    /// assert_eq!(wait, Some(Duration::from_secs(1)));
    /// let next = auth.login("mallory", &guess).await;
    /// assert!(matches!(next, Err(Error::Delayed { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn login_wait(
        &self,
        identifier: &str,
        device_token: Option<&str>,
    ) -> Result<Option<std::time::Duration>> {
        let LoginScope { scope, .. } = self.login_scope(identifier, device_token).await?;
        self.gate_wait(&scope).await
    }

    /// The account `identifier` names (by username or email), the
    /// remembered device of `device_token` when it is one of that
    /// account's, and the failure counter a login attempt counts in.
    async fn login_scope(
        &self,
        identifier: &str,
        device_token: Option<&str>,
    ) -> Result<LoginScope> {
        let ident: String = if identifier.len() > 1024 {
            String::new()
        } else {
            // The same key as `normalize_username` makes.
            let lower = identifier.nfkc().collect::<String>().trim().to_lowercase();
            lower.nfkc().collect()
        };
        let by_email = ident.contains('@');
        let rec = if ident.is_empty() {
            None
        } else if by_email {
            match normalize_email(&ident) {
                Ok(e) => self.users().user_by_email(&e).await?,
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
        let scope = match (&device, known) {
            (Some(d), Some(id)) => FailScope::Device(id, d.id.clone()),
            // The email and the username of one account lock apart (see
            // `FailScope`): lock state does not link them.
            (_, Some(id)) if by_email => FailScope::Email(id),
            (_, Some(id)) => FailScope::Account(id),
            (_, None) => FailScope::Unknown(ident),
        };
        Ok(LoginScope { rec, device, scope })
    }

    pub(super) fn second_factor_possible(&self, user: &User) -> bool {
        // Passkeys count even where none is configured: such a user then
        // answers with a recovery code, never with the password alone.
        user.has_second_factor()
    }

    pub(super) fn methods(&self, user: &User) -> Vec<Factor> {
        let mut m = Vec::new();
        if user.totp_enabled {
            m.push(Factor::Totp);
        }
        if user.phone.is_some() && self.inner.sms.is_some() {
            m.push(Factor::Sms);
        }
        #[cfg(feature = "passkeys")]
        if user.passkeys > 0 && self.passkeys_available() {
            m.push(Factor::Passkey);
        }
        m.push(Factor::RecoveryCode);
        m
    }
}
