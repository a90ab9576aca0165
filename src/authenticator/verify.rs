//! Finishing a pending login with a second-factor code.

use std::time::Duration;

use super::{Authenticator, SentCode};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, Factor};
use crate::factor::recovery;
use crate::store::UserRecord;
use crate::user::User;
#[cfg(feature = "totp")]
use crate::user::UserId;

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

    /// Checks a code against the user's factors.
    pub(super) async fn check_answer(
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
    pub(super) async fn check_totp(
        &self,
        user: UserId,
        stored: &crate::store::StoredSecret,
        code: &str,
    ) -> Result<CodeCheck> {
        let secret = self.inner.seal.open(user, stored)?;
        self.accept_totp(user, &secret, code).await
    }

    #[cfg(feature = "totp")]
    pub(super) async fn accept_totp(
        &self,
        user: UserId,
        secret: &[u8],
        code: &str,
    ) -> Result<CodeCheck> {
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
}
