//! Enrolling and removing second factors.

use tracing::Instrument;

use secrecy::{ExposeSecret, SecretString};

#[cfg(feature = "totp")]
use super::state::FailScope;
use super::state::{Marker, PendingSms, PhoneStatus, StateKey};
use super::verify::{Answer, parse_answer};
use super::{Authenticator, StepUp};
use crate::clock::Timestamp;
use crate::error::{Error, FactorUnavailable, Result};
use crate::event::{AuthEvent, Factor};
use crate::factor::{RecoveryCodes, recovery};
use crate::user::{User, UserId, mask_phone, normalize_phone};

/// An SMS enrollment in progress: a code went to `to` (see the
/// [`Authenticator::start_sms_enrollment`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsEnrollment {
    /// The masked number the code went to.
    pub to: String,
    /// When the code expires.
    pub expires_at: Timestamp,
}

/// A second factor just enabled by
/// [`confirm_sms_enrollment`](Authenticator::confirm_sms_enrollment) or
/// `confirm_totp_enrollment` (feature `totp`).
///
/// Enabling a factor moves the account's credential generation on, which
/// ends every session of the user; `user` is the account as the change left
/// it, so the acting session keeps going by taking its new
/// [stamp](Authenticator::session_stamp) (with the `axum` feature:
/// `AuthSession::refresh(&enrolled.user)`).
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "the session must be stamped anew from `user`, and `recovery_codes` shown"]
pub struct Enrolled {
    /// The user with the factor enabled (and a new credential generation).
    pub user: User,
    /// Recovery codes, when this is the user's first factor: show them once.
    pub recovery_codes: Option<RecoveryCodes>,
}

impl Authenticator {
    /// Starts enabling SMS (or changing the phone): parses the number to
    /// E.164, sends a code, and waits for
    /// [`confirm_sms_enrollment`](Self::confirm_sms_enrollment). The factor is
    /// enabled only after the code is confirmed.
    ///
    /// Adding the factor or changing the phone needs a [`StepUp`]: the
    /// password, plus a current code when a factor is already enabled, so a
    /// stolen session alone cannot put an attacker's phone on the account.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, MemoryStore, SecretKey, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let sms = ConsoleSms::quiet();
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .sms(LocalCodes::new(sms.clone()))
    ///     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// // The profile page: a number and the password.
    /// let step_up = StepUp::password("correct horse battery");
    /// let pending = auth.start_sms_enrollment(alice.id, "+1 (415) 555-2671", &step_up).await?;
    /// assert_eq!(pending.to, "+1415*****71"); // "we sent a code to ..."
    ///
    /// // The next page: the code that arrived.
    /// let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// let enrolled = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// assert_eq!(enrolled.user.phone.as_deref(), Some("+14155552671"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_sms_enrollment(
        &self,
        id: UserId,
        phone: &str,
        step_up: &StepUp,
    ) -> Result<SmsEnrollment> {
        // A span per flow, without personal data (no user id, name or address).
        self.start_sms_enrollment_in_span(id, phone, step_up)
            .instrument(tracing::info_span!("twofa", flow = "enroll_sms"))
            .await
    }

    async fn start_sms_enrollment_in_span(
        &self,
        id: UserId,
        phone: &str,
        step_up: &StepUp,
    ) -> Result<SmsEnrollment> {
        if self.inner.sms.is_none() {
            return Err(Error::FactorUnavailable(FactorUnavailable::NotConfigured(
                Factor::Sms,
            )));
        }
        let phone = normalize_phone(phone, self.inner.policy.default_phone_region.as_deref())?;
        let rec = self.record(id).await?;
        self.verify_step_up(&rec, step_up).await?;
        // A number the account has not proven spends the unverified budgets.
        let status = if rec.phone.as_deref() == Some(phone.as_str()) {
            PhoneStatus::Verified
        } else {
            PhoneStatus::Unverified
        };
        let sent = self.send_sms(id, &phone, status).await?;
        let expires_at = self.now().plus(self.inner.policy.challenge_ttl);
        let pending = PendingSms {
            phone: phone.clone(),
            handle: sent.handle,
            expires_at,
        };
        let state = self.state();
        state
            .put(StateKey::SmsEnrollment(id), &pending, expires_at)
            .await?;
        state.delete(StateKey::SmsEnrollmentAttempts(id)).await?;
        Ok(SmsEnrollment {
            to: mask_phone(&phone),
            expires_at,
        })
    }

    /// Confirms an SMS enrollment with the code sent, and enables the
    /// factor (or changes the phone).
    ///
    /// Every session of the user ends with the change, the acting one too
    /// unless it is stamped anew from the returned [`Enrolled::user`].
    /// [`Enrolled::recovery_codes`] holds recovery codes (show them once)
    /// when this is the user's first factor. A wrong code is
    /// [`Error::InvalidCode`] with the attempts left.
    ///
    /// ```
    /// # use twofa_verify::secrecy::SecretString;
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId, code: SecretString) -> twofa_verify::Result<()> {
    /// // `code` as the user typed it, e.g. a form field deserialized as a `SecretString`.
    /// let enrolled = auth.confirm_sms_enrollment(id, &code).await?;
    /// // Keep the session that made the change: store its new stamp.
    /// let stamp = auth.session_stamp(&enrolled.user);
    /// if let Some(codes) = &enrolled.recovery_codes {
    ///     // Show `codes.codes()` once.
    /// }
    /// # let _ = stamp; Ok(()) }
    /// ```
    pub async fn confirm_sms_enrollment(
        &self,
        id: UserId,
        code: &SecretString,
    ) -> Result<Enrolled> {
        // A span per flow, without personal data (no user id, name or address).
        self.confirm_sms_enrollment_in_span(id, code)
            .instrument(tracing::info_span!("twofa", flow = "enroll_sms"))
            .await
    }

    async fn confirm_sms_enrollment_in_span(
        &self,
        id: UserId,
        code: &SecretString,
    ) -> Result<Enrolled> {
        let Answer::Digits(code) = parse_answer(code.expose_secret())? else {
            return Err(Error::MalformedCode);
        };
        let key = StateKey::SmsEnrollment(id);
        let now = self.now();
        let pending: PendingSms = self
            .state()
            .get(key, now)
            .await?
            .ok_or(Error::ChallengeNotFound)?;
        let attempts_left = self
            .count_enrollment_attempt(StateKey::SmsEnrollmentAttempts(id))
            .await?;
        let sms = self.inner.sms.as_ref().ok_or(Error::FactorUnavailable(
            FactorUnavailable::NotConfigured(Factor::Sms),
        ))?;
        match sms
            .check(&pending.phone, &pending.handle, &code, &self.sms_ctx())
            .await
        {
            Ok(()) => {}
            Err(Error::WrongCode) => return Err(Error::InvalidCode { attempts_left }),
            Err(e) => return Err(e),
        }
        if self.state().take::<Marker>(key, now).await?.is_none() {
            return Err(Error::ChallengeNotFound);
        }
        self.refuse_if_admin_locked(id).await?;
        let rec = self.record(id).await?;
        let first = rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0;
        self.users().set_phone(id, Some(&pending.phone)).await?;
        self.credentials_changed(id).await?;
        self.emit(if rec.phone.is_some() {
            AuthEvent::PhoneChanged { user: id }
        } else {
            AuthEvent::FactorEnabled {
                user: id,
                factor: Factor::Sms,
            }
        })
        .await?;
        self.enrolled(id, first).await
    }

    /// The outcome of an enrollment: the user as it left them, and
    /// recovery codes for a first factor.
    pub(super) async fn enrolled(&self, id: UserId, first: bool) -> Result<Enrolled> {
        let recovery_codes = self.first_factor_codes(id, first).await?;
        Ok(Enrolled {
            user: self.user_to_restamp(id).await?,
            recovery_codes,
        })
    }

    /// Counts an attempt on a pending enrollment; too many ends it. Returns
    /// the attempts left after this one.
    async fn count_enrollment_attempt(&self, key: StateKey<'_>) -> Result<u32> {
        let n = self
            .state()
            .increment(key, self.inner.policy.challenge_ttl, false, self.now())
            .await?
            .count;
        let max = u64::from(self.inner.policy.challenge_max_attempts);
        if n > max {
            // Not deleted: an earlier attempt of the same burst may hold the
            // right code. The counter stays above the cap until it expires.
            return Err(Error::TooManyAttempts);
        }
        Ok(u32::try_from(max - n).unwrap_or(0))
    }

    async fn first_factor_codes(&self, id: UserId, first: bool) -> Result<Option<RecoveryCodes>> {
        if !first {
            return Ok(None);
        }
        let (codes, hashes) =
            recovery::generate(&self.inner.keys, self.inner.policy.recovery_codes);
        self.users().replace_recovery_codes(id, &hashes).await?;
        self.emit(AuthEvent::RecoveryCodesGenerated { user: id })
            .await?;
        Ok(Some(codes))
    }

    /// Starts enabling an authenticator app: returns the otpauth URI, the
    /// QR code (feature `qr`) and the base32 secret for manual entry. The
    /// factor is enabled only after
    /// [`confirm_totp_enrollment`](Self::confirm_totp_enrollment) with a
    /// correct code. Calling it again replaces the pending secret.
    ///
    /// Needs a [`StepUp`] (the password, plus a current code when a factor
    /// is already enabled): a stolen session alone cannot add an attacker's
    /// authenticator app.
    #[cfg(feature = "totp")]
    pub async fn start_totp_enrollment(
        &self,
        id: UserId,
        step_up: &StepUp,
    ) -> Result<crate::factor::TotpEnrollment> {
        // A span per flow, without personal data (no user id, name or address).
        self.start_totp_enrollment_in_span(id, step_up)
            .instrument(tracing::info_span!("twofa", flow = "enroll_totp"))
            .await
    }

    #[cfg(feature = "totp")]
    async fn start_totp_enrollment_in_span(
        &self,
        id: UserId,
        step_up: &StepUp,
    ) -> Result<crate::factor::TotpEnrollment> {
        let rec = self.record(id).await?;
        if rec.totp.is_some() {
            return Err(Error::FactorUnavailable(FactorUnavailable::AlreadyEnabled(
                Factor::Totp,
            )));
        }
        self.verify_step_up(&rec, step_up).await?;
        let secret = crate::factor::totp::new_secret();
        let sealed = self.inner.seal.seal(id, &secret)?;
        let state = self.state();
        state
            .put(
                StateKey::TotpEnrollment(id),
                &sealed,
                self.now().plus(self.inner.policy.challenge_ttl),
            )
            .await?;
        state.delete(StateKey::TotpEnrollmentAttempts(id)).await?;
        crate::factor::totp::enrollment(&secret, &self.inner.issuer, &rec.username)
    }

    /// Confirms an authenticator-app enrollment with a current code, and
    /// enables the factor.
    ///
    /// As with [`confirm_sms_enrollment`](Self::confirm_sms_enrollment),
    /// every session of the user ends, the acting one too unless it is
    /// stamped anew from the returned [`Enrolled::user`]; recovery codes come
    /// with a first factor. A wrong code is [`Error::InvalidCode`].
    ///
    /// ```
    /// # use twofa_verify::secrecy::SecretString;
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId, code: SecretString) -> twofa_verify::Result<()> {
    /// let enrolled = auth.confirm_totp_enrollment(id, &code).await?;
    /// let stamp = auth.session_stamp(&enrolled.user); // keep this session
    /// # let _ = stamp; Ok(()) }
    /// ```
    #[cfg(feature = "totp")]
    pub async fn confirm_totp_enrollment(
        &self,
        id: UserId,
        code: &SecretString,
    ) -> Result<Enrolled> {
        // A span per flow, without personal data (no user id, name or address).
        self.confirm_totp_enrollment_in_span(id, code)
            .instrument(tracing::info_span!("twofa", flow = "enroll_totp"))
            .await
    }

    #[cfg(feature = "totp")]
    async fn confirm_totp_enrollment_in_span(
        &self,
        id: UserId,
        code: &SecretString,
    ) -> Result<Enrolled> {
        let Answer::Digits(code) = parse_answer(code.expose_secret())? else {
            return Err(Error::MalformedCode);
        };
        let key = StateKey::TotpEnrollment(id);
        let now = self.now();
        let sealed: crate::store::StoredSecret = self
            .state()
            .get(key, now)
            .await?
            .ok_or(Error::ChallengeNotFound)?;
        let attempts_left = self
            .count_enrollment_attempt(StateKey::TotpEnrollmentAttempts(id))
            .await?;
        let secret = self.inner.seal.open(id, &sealed)?;
        match self.accept_totp(id, &secret, &code).await? {
            super::verify::CodeCheck::Accepted(_) => {}
            refused => return Err(refused.refusal(attempts_left)),
        }
        if self.state().take::<Marker>(key, now).await?.is_none() {
            return Err(Error::ChallengeNotFound);
        }
        self.refuse_if_admin_locked(id).await?;
        let rec = self.record(id).await?;
        let first = rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0;
        self.users().set_totp(id, Some(&sealed)).await?;
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::FactorEnabled {
            user: id,
            factor: Factor::Totp,
        })
        .await?;
        self.enrolled(id, first).await
    }

    /// Checks a current authenticator-app code of a logged-in user (e.g. to
    /// confirm a sensitive action). Each time step is accepted once; wrong
    /// codes count against the account like any other failure.
    ///
    /// `Ok(())` only for a right code: a wrong one is
    /// [`Error::InvalidCode`], a right one whose time step was already used
    /// [`Error::CodeAlreadyUsed`] (both with the attempts left before the
    /// account locks), so `?` never lets a wrong code through.
    ///
    /// ```
    /// # use twofa_verify::secrecy::SecretString;
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId) -> twofa_verify::Result<()> {
    /// let code = SecretString::from("123456"); // as the user typed it
    /// auth.verify_totp(id, &code).await?;
    /// // Only reached with a right, unused code.
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "totp")]
    pub async fn verify_totp(&self, id: UserId, code: &SecretString) -> Result<()> {
        let Answer::Digits(code) = parse_answer(code.expose_secret())? else {
            return Err(Error::MalformedCode);
        };
        let rec = self.record(id).await?;
        let stored =
            rec.totp
                .as_ref()
                .ok_or(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                    Factor::Totp,
                )))?;
        // The code is matched here, before the store is asked; the answer
        // is only given after the attempt is reserved in the account's
        // lockout, in the same round trip as the step's acceptance.
        let secret = self.inner.seal.open(id, stored)?;
        let scope = FailScope::Account(id);
        let (attempt, refused) = match self.totp_step(&secret, &code) {
            None => (
                self.reserve_attempt(&scope, Some(id), &[]).await?,
                super::verify::CodeCheck::Wrong,
            ),
            Some(step) => {
                let state = self.state();
                let key = state.key(StateKey::TotpStep(id));
                let check = crate::store::StepCheck {
                    key: &key,
                    step: step.step,
                    expires_at: step.remember_until,
                };
                match self
                    .reserve_attempt_checking_step(&scope, Some(id), check)
                    .await?
                {
                    (_, crate::store::StepOutcome::Accepted) => return Ok(()),
                    (attempt, _) => {
                        self.emit(AuthEvent::TotpReplayRefused { user: id }).await?;
                        (attempt, super::verify::CodeCheck::Replayed)
                    }
                }
            }
        };
        let failures = self.attempt_failed(attempt).await?;
        self.emit(AuthEvent::CodeRejected {
            user: id,
            factor: Factor::Totp,
        })
        .await?;
        let left = u64::from(self.inner.policy.lock_after_failures).saturating_sub(failures);
        Err(refused.refusal(u32::try_from(left).unwrap_or(0)))
    }

    /// Disables a factor after a step-up. Removing the last factor also
    /// removes the recovery codes.
    ///
    /// Every session of the user ends with the change; the returned user
    /// (its factor gone, a new credential generation) stamps the acting
    /// session anew so that it stays in.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId) -> twofa_verify::Result<()> {
    /// use twofa_verify::{Factor, StepUp};
    /// let proof = StepUp::new("current password", Some("123456"));
    /// let user = auth.disable_factor(id, Factor::Totp, &proof).await?;
    /// let stamp = auth.session_stamp(&user); // keep this session
    /// # let _ = stamp; Ok(()) }
    /// ```
    pub async fn disable_factor(
        &self,
        id: UserId,
        factor: Factor,
        step_up: &StepUp,
    ) -> Result<User> {
        // A span per flow, without personal data (no user id, name or address).
        self.disable_factor_in_span(id, factor, step_up)
            .instrument(tracing::info_span!("twofa", flow = "disable_factor"))
            .await
    }

    async fn disable_factor_in_span(
        &self,
        id: UserId,
        factor: Factor,
        step_up: &StepUp,
    ) -> Result<User> {
        self.removing_factor(id, self.disable_factor_leased(id, factor, step_up))
            .await
    }

    /// [`Authenticator::disable_factor`] under the account's removal lease.
    async fn disable_factor_leased(
        &self,
        id: UserId,
        factor: Factor,
        step_up: &StepUp,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let enabled = match factor {
            Factor::Sms => rec.phone.is_some(),
            Factor::Totp => rec.totp.is_some(),
            Factor::RecoveryCode | Factor::Passkey => false,
        };
        if !enabled {
            return Err(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                factor,
            )));
        }
        let other_left = rec.passkeys > 0
            || match factor {
                Factor::Sms => rec.totp.is_some(),
                _ => rec.phone.is_some(),
            };
        if !other_left && self.second_factor_required_of(&rec.to_user()) {
            return Err(Error::FactorUnavailable(FactorUnavailable::Required));
        }
        self.verify_step_up(&rec, step_up).await?;
        match factor {
            Factor::Sms => self.users().set_phone(id, None).await?,
            _ => self.users().set_totp(id, None).await?,
        }
        let rec = self.record(id).await?;
        if rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0 {
            self.users().replace_recovery_codes(id, &[]).await?;
        }
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::FactorDisabled { user: id, factor })
            .await?;
        self.user_to_restamp(id).await
    }

    /// Replaces the user's recovery codes after a step-up; the old ones stop
    /// working. Requires an enabled factor. The credential generation stays
    /// as it is: no session ends, nothing needs a new stamp.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, Login, LocalCodes, MemoryStore, SecretKey, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let sms = ConsoleSms::quiet();
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .sms(LocalCodes::new(sms.clone()))
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// # auth.start_sms_enrollment(alice.id, "+14155552671", &StepUp::password("correct horse battery")).await?;
    /// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// # let first = auth.confirm_sms_enrollment(alice.id, &code).await?.recovery_codes.unwrap();
    /// # let Login::SecondFactor(c) = auth.login("alice", &password).await? else { unreachable!() };
    /// # auth.verify(c.token(), &SecretString::from(first.codes()[0].to_owned())).await?;
    /// // One recovery code spent: the profile page says so.
    /// assert_eq!(auth.recovery_codes_left(alice.id).await?, 9);
    /// // "Make new codes": a step-up, then show the new ones once.
    /// auth.send_step_up_code(alice.id).await?;
    /// let code = sms.last_code_for("+14155552671").unwrap();
    /// let fresh = auth
    ///     .regenerate_recovery_codes(alice.id, &StepUp::new("correct horse battery", Some(code)))
    ///     .await?;
    /// assert_eq!(fresh.len(), 10);
    /// assert_eq!(auth.recovery_codes_left(alice.id).await?, 10);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn regenerate_recovery_codes(
        &self,
        id: UserId,
        step_up: &StepUp,
    ) -> Result<RecoveryCodes> {
        let rec = self.record(id).await?;
        if rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0 {
            return Err(Error::FactorUnavailable(FactorUnavailable::NoFactorEnabled));
        }
        self.verify_step_up(&rec, step_up).await?;
        self.first_factor_codes(id, true)
            .await?
            .ok_or_else(|| Error::Internal("no codes generated".into()))
    }
}
