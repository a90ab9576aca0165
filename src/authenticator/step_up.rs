//! The step-up: the proof a sensitive change takes (the password, and a
//! current second factor when the user has one), the SMS code sent for it,
//! and its check.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::state::{FailScope, PhoneStatus, SentCode, StateKey};
use super::verify::parse_answer;
use super::{Authenticator, SmsDelivery};
use crate::error::{Error, FactorUnavailable, Result};
use crate::event::{AuthEvent, Factor, LimitedAction};
use crate::store::UserRecord;
use crate::user::UserId;

/// Proof for sensitive changes (the password, the email address, "sign out
/// everywhere", adding or disabling a factor, changing the phone,
/// regenerating recovery codes): the password plus, when a factor is enabled,
/// a current code (TOTP, SMS from [`Authenticator::send_step_up_code`], or a
/// recovery code).
///
/// Both are secrets: built from a `String`, a `&str` or a
/// [`SecretString`], kept as `SecretString`, hidden from `Debug`.
///
/// ```
/// use twofa_verify::StepUp;
/// use twofa_verify::secrecy::SecretString;
/// let typed = SecretString::from("current password");
/// let proof = StepUp::new(typed, Some("123456"));
/// assert!(!format!("{proof:?}").contains("123456"));
/// ```
pub struct StepUp {
    /// The current password.
    pub password: SecretString,
    /// A current second-factor code.
    pub code: Option<SecretString>,
    /// A passkey assertion in place of the code ([`StepUp::with_passkey`]).
    passkey: Option<PasskeyProof>,
}

/// A passkey assertion given as a step-up: the ceremony started by
/// `Authenticator::start_passkey_step_up` and the browser's response.
#[derive(Clone)]
pub(crate) struct PasskeyProof {
    /// The ceremony id.
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    pub(crate) ceremony: SecretString,
    /// The browser's credential JSON.
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    pub(crate) response: String,
}

impl StepUp {
    /// The password alone: enough while the user has no second factor
    /// (see the [`Authenticator::change_password`] example).
    pub fn password(password: impl Into<SecretString>) -> Self {
        StepUp {
            password: password.into(),
            code: None,
            passkey: None,
        }
    }

    /// Password and code: what a user with a second factor gives (see the
    /// [`StepUp`] example and the [`Authenticator::send_step_up_code`]
    /// one).
    pub fn new(password: impl Into<SecretString>, code: Option<impl Into<SecretString>>) -> Self {
        StepUp {
            password: password.into(),
            code: code.map(Into::into),
            passkey: None,
        }
    }

    /// Password and a passkey assertion, in place of a code: the ceremony
    /// id of `Authenticator::start_passkey_step_up` (feature `passkeys`)
    /// and the credential JSON the browser sent back. Without the feature
    /// such a step-up is refused
    /// ([`FactorUnavailable::NotConfigured`]`(Factor::Passkey)`).
    ///
    /// ```
    /// use twofa_verify::StepUp;
    /// let proof = StepUp::with_passkey("current password", "ceremony id", "{\"id\":\"...\"}");
    /// assert!(!format!("{proof:?}").contains("ceremony id"));
    /// ```
    pub fn with_passkey(
        password: impl Into<SecretString>,
        ceremony_id: impl Into<String>,
        response_json: impl Into<String>,
    ) -> Self {
        StepUp {
            password: password.into(),
            code: None,
            passkey: Some(PasskeyProof {
                ceremony: SecretString::from(ceremony_id.into()),
                response: response_json.into(),
            }),
        }
    }

    /// The passkey assertion, when one was given.
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    pub(crate) fn passkey(&self) -> Option<&PasskeyProof> {
        self.passkey.as_ref()
    }
}

impl fmt::Debug for StepUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepUp")
            .field("password", &"[redacted]")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("passkey", &self.passkey.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Authenticator {
    /// Sends an SMS code for a step-up (any call taking a [`StepUp`]) to a
    /// user whose factor is SMS.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, Factor, LocalCodes, MemoryStore, SecretKey, StepUp};
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
    /// # let _ = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// // Alice has SMS on; turning it off takes her password and a code.
    /// auth.send_step_up_code(alice.id).await?; // "send me a code"
    /// let code = sms.last_code_for("+14155552671").unwrap();
    /// let proof = StepUp::new("correct horse battery", Some(code));
    /// let user = auth.disable_factor(alice.id, Factor::Sms, &proof).await?;
    /// assert!(!user.has_second_factor());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_step_up_code(&self, id: UserId) -> Result<SmsDelivery> {
        let rec = self.record(id).await?;
        let phone =
            rec.phone
                .clone()
                .ok_or(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                    Factor::Sms,
                )))?;
        let key = StateKey::StepUpSms(id);
        if let Some(prev) = self.state().get::<SentCode>(key, self.now()).await? {
            let next = prev.sent_at.plus(self.inner.policy.resend_interval);
            if next > self.now() {
                return Err(Error::RateLimited {
                    limit: LimitedAction::SmsSend,
                    retry_after: self.now().until(next).max(Duration::from_secs(1)),
                });
            }
        }
        let sent = self.send_sms(id, &phone, PhoneStatus::Verified).await?;
        self.state()
            .put(key, &sent, self.now().plus(self.inner.policy.sms_code_ttl))
            .await?;
        Ok(SmsDelivery::sent(&sent))
    }

    /// Checks a step-up: the password, plus a current factor code when the
    /// user has one. Failures count against the account. Either way an
    /// [`AuthEvent::StepUpChecked`] tells the sink (a step-ups counter) and
    /// the audit trail.
    pub(super) async fn verify_step_up(&self, rec: &UserRecord, step_up: &StepUp) -> Result<()> {
        let checked = self.check_step_up(rec, step_up).await;
        let event = AuthEvent::StepUpChecked {
            user: rec.id,
            factor: checked.as_ref().ok().copied().flatten(),
            passed: checked.is_ok(),
        };
        match checked {
            Ok(_) => self.emit(event).await,
            Err(refused) => {
                // The refusal is the answer; a failed audit write of it is
                // logged by `emit`, and nothing was let through.
                let _ = self.emit(event).await;
                Err(refused)
            }
        }
    }

    /// [`verify_step_up`](Self::verify_step_up): the factor that passed
    /// with the password, if one was asked.
    async fn check_step_up(&self, rec: &UserRecord, step_up: &StepUp) -> Result<Option<Factor>> {
        self.check_current_password(rec, &step_up.password).await?;
        if rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0 {
            return Ok(None);
        }
        if let Some(proof) = step_up.passkey() {
            #[cfg(feature = "passkeys")]
            return self
                .verify_passkey_step_up(rec, proof)
                .await
                .map(|()| Some(Factor::Passkey));
            #[cfg(not(feature = "passkeys"))]
            {
                let _ = proof;
                return Err(Error::FactorUnavailable(FactorUnavailable::NotConfigured(
                    Factor::Passkey,
                )));
            }
        }
        let code = step_up
            .code
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .filter(|c| !c.trim().is_empty())
            .ok_or(Error::StepUpRequired)?;
        let answer = parse_answer(code)?;
        let sk = StateKey::StepUpSms(rec.id);
        let sent: Option<SentCode> = self.state().get(sk, self.now()).await?;
        let attempt = self
            .reserve_attempt(&FailScope::Account(rec.id), Some(rec.id), &[])
            .await?;
        let factor = match self.check_answer(rec, &answer, sent.as_ref(), true).await {
            Ok(super::verify::CodeCheck::Accepted(factor)) => {
                self.attempt_released(attempt).await?;
                factor
            }
            Ok(refused) => {
                let n = self.attempt_failed(attempt).await?;
                let left = u64::from(self.inner.policy.lock_after_failures).saturating_sub(n);
                return Err(refused.refusal(u32::try_from(left).unwrap_or(0)));
            }
            Err(e) => {
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        self.state().delete(sk).await?;
        Ok(Some(factor))
    }
}
