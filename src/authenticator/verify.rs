//! Finishing a pending login with a second-factor code.

use super::Authenticator;
use super::lockout::AttemptBudget;
use super::state::{ChallengeRecord, FailScope, SentCode, StateKey};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, Factor};
use crate::factor::recovery;
use crate::store::{StepAcceptance, StepOutcome, UserRecord};
use crate::user::User;
#[cfg(feature = "totp")]
use crate::user::UserId;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

/// A second factor passed: who logged in, with what (see the
/// [`Authenticator::verify`] example).
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

/// What a 6-digit or recovery-code answer was checked as.
pub(super) enum Answer {
    Digits(String),
    Recovery(String),
}

/// What a second-factor code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeCheck {
    /// Right, for this factor.
    Accepted(Factor),
    /// Wrong for every factor the user has.
    Wrong,
    /// A right authenticator-app code whose time step was already used.
    Replayed,
}

impl CodeCheck {
    /// The error of a refused code, with the attempts left.
    pub(super) fn refusal(self, attempts_left: u32) -> Error {
        match self {
            CodeCheck::Replayed => Error::CodeAlreadyUsed { attempts_left },
            _ => Error::InvalidCode { attempts_left },
        }
    }
}

pub(super) fn parse_answer(code: &str) -> Result<Answer> {
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
    ///
    /// With an authenticator-app code this is three store round trips: the
    /// pending login, the user, and one that reserves the attempt and, when
    /// it is admitted, accepts the code's time step and takes the pending
    /// login.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, Error, Factor, LocalCodes, Login, MemoryStore};
    /// use twofa_verify::{SecretKey, StepUp};
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
    /// # let enrolled = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// # let recovery = enrolled.recovery_codes.unwrap();
    /// # let recovery_code = recovery.codes()[0].to_owned();
    /// let Login::SecondFactor(challenge) = auth.login("alice", &password).await? else {
    ///     panic!("SMS is enabled")
    /// };
    /// let token = challenge.token(); // from the session
    /// # let sent = sms.last_code_for("+14155552671").unwrap();
    /// # let not_the_code = if sent == "000000" { "111111" } else { "000000" };
    /// let wrong = auth.verify(token, &SecretString::from(not_the_code)).await;
    /// assert!(matches!(wrong, Err(Error::InvalidCode { attempts_left: 4 })));
    ///
    /// // No phone at hand: a recovery code, "abcde-fghij-klmno-pqrst".
    /// let verified = auth.verify(token, &SecretString::from(recovery_code)).await?;
    /// assert_eq!((verified.user.id, verified.factor), (alice.id, Factor::RecoveryCode));
    /// assert_eq!(verified.recovery_codes_left, Some(9));
    /// // Used up: the pending login is gone.
    /// let again = auth.verify(token, &SecretString::from("000000")).await;
    /// assert!(matches!(again, Err(Error::ChallengeNotFound)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify(&self, token: &str, code: &SecretString) -> Result<Verification> {
        // A span per flow, without personal data (no user id, name or address).
        self.verify_in_span(token, code)
            .instrument(tracing::info_span!("twofa", flow = "verify"))
            .await
    }

    async fn verify_in_span(&self, token: &str, code: &SecretString) -> Result<Verification> {
        let answer = parse_answer(code.expose_secret())?;
        let rec = self.load_challenge(token).await?;
        let user_rec = self.challenge_user(token, &rec).await?;
        let scope = FailScope::Account(rec.user);
        // Reserve, then check: the pending login's answers, the client's
        // failures and the account's lockout, before the code is looked at
        // anywhere but here. (A locked account spends no answer.)
        let budgets = [
            AttemptBudget::ChallengeAnswers(token),
            AttemptBudget::ClientFailures,
        ];
        // A right authenticator-app code whose time step was used already.
        let mut replayed = false;
        #[cfg(feature = "totp")]
        let step = match (&answer, &user_rec.totp) {
            (Answer::Digits(digits), Some(stored)) => {
                let secret = self.inner.seal.open(rec.user, stored)?;
                self.totp_step(&secret, digits)
            }
            _ => None,
        };
        #[cfg(not(feature = "totp"))]
        let step: Option<TotpStep> = None;
        let attempt = match step {
            Some(step) => {
                let state = self.state();
                let step_key = state.key(StateKey::TotpStep(rec.user));
                let take = state.key(StateKey::Challenge(token));
                let acceptance = StepAcceptance {
                    key: &step_key,
                    step: step.step,
                    expires_at: step.remember_until,
                    take: &take,
                };
                let (attempt, outcome) = self
                    .reserve_attempt_accepting_step(&scope, Some(rec.user), &budgets, acceptance)
                    .await?;
                match outcome {
                    StepOutcome::Accepted => {
                        return self.verified(&rec, user_rec, Factor::Totp).await;
                    }
                    StepOutcome::Gone => return Err(Error::ChallengeNotFound),
                    StepOutcome::Replayed => {
                        self.emit(AuthEvent::TotpReplayRefused { user: rec.user })
                            .await?;
                        replayed = true;
                        attempt
                    }
                }
            }
            None => {
                self.reserve_attempt(&scope, Some(rec.user), &budgets)
                    .await?
            }
        };
        let answers = attempt.challenge_answers.unwrap_or(u64::MAX);
        // The authenticator app's code was judged above; the other factors now.
        let outcome = match self
            .check_answer(&user_rec, &answer, rec.sms.as_ref(), false)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // A store or provider failure decides nothing and lets
                // nobody in; the reservations go back.
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        let outcome = match outcome {
            CodeCheck::Wrong if replayed => CodeCheck::Replayed,
            other => other,
        };
        let CodeCheck::Accepted(factor) = outcome else {
            self.attempt_failed(attempt).await?;
            let factor = match answer {
                Answer::Recovery(_) => Factor::RecoveryCode,
                Answer::Digits(_) if user_rec.totp.is_some() => Factor::Totp,
                Answer::Digits(_) => Factor::Sms,
            };
            self.emit(AuthEvent::CodeRejected {
                user: rec.user,
                factor,
            })
            .await?;
            let max = u64::from(self.inner.policy.challenge_max_attempts);
            let left = max.saturating_sub(answers);
            if left == 0 {
                // The pending login stays until it expires: its answer
                // budget refuses every later attempt. Deleting it here
                // would race with a concurrent right answer admitted
                // before this one, which would then find nothing to take
                // (a spent recovery code and no login).
                return Err(Error::TooManyAttempts);
            }
            return Err(outcome.refusal(u32::try_from(left).unwrap_or(u32::MAX)));
        };
        // Single use: of concurrent successes exactly one takes the challenge.
        if !self
            .attempt_succeeded_if_taken(attempt, StateKey::Challenge(token))
            .await?
        {
            return Err(Error::ChallengeNotFound);
        }
        self.verified(&rec, user_rec, factor).await
    }

    /// The pending login `rec` was finished with `factor`.
    ///
    /// Every caller read `user` before its reservation, which refused an
    /// operator's lock (the lockout's hold): a lock set since then changed
    /// the credential generation that `user` holds, so the session made
    /// from this answer ends with it.
    pub(super) async fn verified(
        &self,
        rec: &ChallengeRecord,
        user: UserRecord,
        factor: Factor,
    ) -> Result<Verification> {
        if let (Some(sent), Some(sms), true) = (&rec.sms, &self.inner.sms, factor != Factor::Sms) {
            let _ = sms.cancel(&sent.phone, &sent.handle, &self.sms_ctx()).await;
        }
        self.emit(AuthEvent::LoginSucceeded {
            user: rec.user,
            factor: Some(factor),
        })
        .await?;
        let recovery_codes_left = match factor {
            Factor::RecoveryCode => Some(self.users().recovery_codes_left(rec.user).await?),
            _ => None,
        };
        Ok(Verification {
            user: user.to_user(),
            factor,
            recovery_codes_left,
        })
    }

    /// Checks a code against the user's factors (the authenticator app's
    /// only when `totp`).
    pub(super) async fn check_answer(
        &self,
        user: &UserRecord,
        answer: &Answer,
        sms: Option<&SentCode>,
        totp: bool,
    ) -> Result<CodeCheck> {
        match answer {
            Answer::Recovery(code) => {
                let h = recovery::hash(&self.inner.keys, code);
                if self.users().use_recovery_code(user.id, &h).await? {
                    let remaining = self.users().recovery_codes_left(user.id).await?;
                    self.emit(AuthEvent::RecoveryCodeUsed {
                        user: user.id,
                        remaining,
                    })
                    .await?;
                    return Ok(CodeCheck::Accepted(Factor::RecoveryCode));
                }
                Ok(CodeCheck::Wrong)
            }
            Answer::Digits(code) => {
                #[cfg_attr(not(feature = "totp"), allow(unused_mut))]
                let mut replayed = false;
                #[cfg(feature = "totp")]
                if let (true, Some(stored)) = (totp, &user.totp) {
                    match self.check_totp(user.id, stored, code).await? {
                        CodeCheck::Wrong => {}
                        CodeCheck::Replayed => replayed = true,
                        accepted => return Ok(accepted),
                    }
                }
                #[cfg(not(feature = "totp"))]
                let _ = totp;
                if let (Some(sent), Some(smsv), Some(phone)) = (sms, &self.inner.sms, &user.phone)
                    && sent.phone == *phone
                {
                    match smsv.check(phone, &sent.handle, code, &self.sms_ctx()).await {
                        Ok(()) => return Ok(CodeCheck::Accepted(Factor::Sms)),
                        Err(Error::WrongCode) => {}
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
    pub(super) async fn check_totp(
        &self,
        user: UserId,
        stored: &crate::store::StoredSecret,
        code: &str,
    ) -> Result<CodeCheck> {
        let secret = self.inner.seal.open(user, stored)?;
        self.accept_totp(user, &secret, code).await
    }

    /// The time step `code` matches within the allowed skew, if any.
    #[cfg(feature = "totp")]
    pub(super) fn totp_step(&self, secret: &[u8], code: &str) -> Option<TotpStep> {
        let now = self.now();
        let secs = u64::try_from(now.as_secs()).unwrap_or(0);
        let p = &self.inner.policy;
        let step = crate::factor::totp::matching_step(
            secret,
            code,
            secs,
            p.totp_skew_back,
            p.totp_skew_forward,
        )?;
        // Remembered as long as any code of the window could still match it.
        let keep = std::time::Duration::from_secs(
            crate::factor::totp::STEP
                * (u64::from(p.totp_skew_back) + u64::from(p.totp_skew_forward) + 2),
        );
        Some(TotpStep {
            step: i64::try_from(step).unwrap_or(i64::MAX),
            remember_until: now.plus(keep),
        })
    }

    /// Accepts a TOTP code once: its step must be newer than the last one
    /// the user used (a replay is refused and reported).
    #[cfg(feature = "totp")]
    pub(super) async fn accept_totp(
        &self,
        user: UserId,
        secret: &[u8],
        code: &str,
    ) -> Result<CodeCheck> {
        let Some(step) = self.totp_step(secret, code) else {
            return Ok(CodeCheck::Wrong);
        };
        if self
            .state()
            .advance(
                StateKey::TotpStep(user),
                step.step,
                step.remember_until,
                self.now(),
            )
            .await?
        {
            Ok(CodeCheck::Accepted(Factor::Totp))
        } else {
            self.emit(AuthEvent::TotpReplayRefused { user }).await?;
            Ok(CodeCheck::Replayed)
        }
    }
}

/// The time step a TOTP code matched.
pub(super) struct TotpStep {
    pub(super) step: i64,
    pub(super) remember_until: crate::clock::Timestamp,
}
