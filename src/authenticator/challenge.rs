//! Pending logins: the challenge, its SMS code, resends.

use std::fmt;
use std::time::Duration;
use tracing::Instrument;

use secrecy::{ExposeSecret, SecretString};

use super::Authenticator;
use super::limits::Refused;
use super::state::{
    BudgetKey, ChallengeRecord, ClientBudget, FailScope, Marker, PhoneStatus, SentCode, StateKey,
};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::error::{Error, FactorUnavailable, Result};
use crate::event::{AuthEvent, Factor, LimitedAction};
use crate::store::UserRecord;
use crate::user::{User, UserId, mask_phone};

/// A pending login: the password was right and a second factor is due.
///
/// The token is an opaque 256-bit random string; the store keeps only its
/// keyed hash. It expires (10 minutes by default), allows a few attempts,
/// and works once. `Debug` hides it. See the [`Authenticator::login`]
/// example.
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
    /// The opaque token to keep (in the session) and pass to
    /// [`Authenticator::verify`] (see its example). Never put it in a URL.
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

/// The state of the SMS code of a challenge, for the page that asks for
/// the code (see the [`Authenticator::login`] and
/// [`Authenticator::resend`] examples).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmsDelivery {
    /// A code was sent to this (masked) number.
    #[non_exhaustive]
    Sent {
        /// The masked destination, e.g. `+2547******89`.
        to: String,
        /// How it went out, in the provider's words (`sms`, `call`,
        /// `whatsapp`), when the provider tells
        /// ([`SmsVerifier::send`](crate::factor::SmsVerifier::send)):
        /// `call` when the text could not be delivered and Twilio Verify
        /// fell back to a voice call. `None`: the configured channel.
        channel: Option<&'static str>,
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

impl SmsDelivery {
    /// What the caller is told about a code sent.
    pub(super) fn sent(code: &SentCode) -> Self {
        SmsDelivery::Sent {
            to: mask_phone(&code.phone),
            channel: code.channel,
        }
    }
}

impl Authenticator {
    /// A new pending login for `user`, not stored yet: the caller stores
    /// the record under [`StateKey::Challenge`] of the token (in the round
    /// trip that settles the password attempt). When SMS is the user's
    /// only factor, the code is sent now.
    pub(super) async fn new_challenge(&self, user: &User) -> Result<(Challenge, ChallengeRecord)> {
        let now = self.now();
        let token = random_token::<32>();
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
                        let delivery = SmsDelivery::sent(&sent);
                        rec.sms = Some(sent);
                        delivery
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
        let challenge = Challenge {
            token: SecretString::from(token),
            expires_at,
            methods: self.methods(user),
            sms: delivery,
        };
        Ok((challenge, rec))
    }

    /// The live pending login of `token`; an expired one is removed.
    pub(super) async fn load_challenge(&self, token: &str) -> Result<ChallengeRecord> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::ChallengeNotFound);
        }
        let key = StateKey::Challenge(token);
        let rec: ChallengeRecord = self
            .state()
            .get(key, self.now())
            .await?
            .ok_or(Error::ChallengeNotFound)?;
        if rec.expires_at <= self.now() {
            self.state().delete(key).await?;
            return Err(Error::ChallengeExpired);
        }
        Ok(rec)
    }

    /// Reserves a place in every budget one SMS spends, then sends it.
    ///
    /// A text to an account's verified phone spends that phone's, the
    /// account's and the site's login budgets; a text to a number that is not
    /// verified yet (an enrollment) spends the separate unverified budgets
    /// of that number and of the site instead, so enrolling someone else's
    /// number never uses up the owner's login codes. Both spend the
    /// client's budget, which is far smaller than the site's.
    pub(super) async fn send_sms(
        &self,
        user: UserId,
        phone: &str,
        status: PhoneStatus,
    ) -> Result<SentCode> {
        let sms = self.inner.sms.as_ref().ok_or(Error::FactorUnavailable(
            FactorUnavailable::NotConfigured(Factor::Sms),
        ))?;
        let p = &self.inner.policy;
        let (phone_limit, site_limit) = match status {
            PhoneStatus::Verified => (p.sms_per_phone, p.sms_global),
            PhoneStatus::Unverified => (p.sms_unverified_per_phone, p.sms_unverified_global),
        };
        let mut budgets = vec![(BudgetKey::SmsPhone(status, phone.to_owned()), phone_limit)];
        let client = self.client_budget(ClientBudget::Sms, p.client_sms);
        let client_limited = !client.is_empty();
        budgets.extend(client);
        budgets.push((BudgetKey::SmsAccount(user), p.sms_per_account));
        // Last: a place here is only taken by a send every other budget allows.
        let site = budgets.len();
        budgets.push((BudgetKey::SmsSite(status), site_limit));
        if let Err(refused) = self.try_reserve_budgets(budgets).await? {
            self.emit(AuthEvent::SendLimited { user }).await?;
            if refused.index == site {
                self.site_sms_budget_spent(status, refused).await?;
            } else if client_limited {
                // Which of the narrower budgets refused is not told apart:
                // any refusal from a client with a known address is
                // reported with it.
                self.emit(AuthEvent::ClientLimited {
                    action: LimitedAction::SmsSend,
                })
                .await?;
            }
            return Err(refused.error(LimitedAction::SmsSend));
        }
        // The provider may have fallen back to another channel (a call),
        // which the user must be told.
        let sent = sms.send(phone, &self.sms_ctx()).await?;
        self.emit(AuthEvent::CodeSent {
            user,
            to: mask_phone(phone),
        })
        .await?;
        Ok(SentCode {
            phone: phone.to_owned(),
            handle: sent.handle,
            sent_at: self.now(),
            channel: sent.channel,
        })
    }

    /// Tells the operator, once per window across instances (the first
    /// refusal puts a marker that lives as long as the window), that the
    /// site's budget of `status` texts is spent.
    async fn site_sms_budget_spent(&self, status: PhoneStatus, refused: Refused) -> Result<()> {
        let first = self
            .state()
            .put_if_absent(
                StateKey::SmsSiteSpent(status),
                &Marker,
                refused.until,
                self.now(),
            )
            .await?;
        if first {
            self.emit(AuthEvent::SmsBudgetExhausted {
                unverified: status == PhoneStatus::Unverified,
                retry_after: refused.retry_after.as_secs(),
            })
            .await?;
        }
        Ok(())
    }

    /// Sends (or re-sends) the SMS code of a pending login. The new code
    /// replaces the old one. Limited per challenge (one per
    /// `resend_interval`), per phone, per account and globally.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::clock::ManualClock;
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ConsoleSms, Error, LocalCodes, Login, MemoryStore};
    /// use twofa_verify::{SecretKey, SmsDelivery, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let (sms, clock) = (ConsoleSms::quiet(), ManualClock::starting_now());
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .sms(LocalCodes::new(sms.clone()))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// # auth.start_sms_enrollment(alice.id, "+14155552671", &StepUp::password("correct horse battery")).await?;
    /// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
    /// # let _ = auth.confirm_sms_enrollment(alice.id, &code).await?;
    /// let Login::SecondFactor(challenge) = auth.login("alice", &password).await? else {
    ///     panic!("SMS is enabled")
    /// };
    /// let first = sms.last_code_for("+14155552671").unwrap();
    /// // "Send a new code", at once: one per `Policy::resend_interval`.
    /// let too_soon = auth.resend(challenge.token()).await;
    /// assert!(matches!(too_soon, Err(Error::RateLimited { .. })));
    /// clock.advance(Duration::from_secs(30));
    /// let challenge = auth.resend(challenge.token()).await?;
    /// assert!(matches!(challenge.sms, Some(SmsDelivery::Sent { .. })));
    /// # let second = sms.last_code_for("+14155552671").unwrap();
    /// # if first != second {
    /// // The newest code counts; the one before it no longer does.
    /// let old = auth.verify(challenge.token(), &SecretString::from(first)).await;
    /// assert!(matches!(old, Err(Error::InvalidCode { .. })));
    /// # }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resend(&self, token: &str) -> Result<Challenge> {
        // A span per flow, without personal data (no user id, name or address).
        self.resend_in_span(token)
            .instrument(tracing::info_span!("twofa", flow = "resend"))
            .await
    }

    async fn resend_in_span(&self, token: &str) -> Result<Challenge> {
        let mut rec = self.load_challenge(token).await?;
        let user = self.challenge_user(token, &rec).await?.to_user();
        // No texts (which cost money) while the account is locked.
        self.check_lock(&FailScope::Account(rec.user)).await?;
        let phone = match (&user.phone, &self.inner.sms) {
            (Some(p), Some(_)) => p.clone(),
            _ => {
                return Err(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                    Factor::Sms,
                )));
            }
        };
        if let Some(prev) = &rec.sms {
            let next = prev.sent_at.plus(self.inner.policy.resend_interval);
            if next > self.now() {
                return Err(Error::RateLimited {
                    limit: LimitedAction::SmsSend,
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
        let delivery = SmsDelivery::sent(&sent);
        rec.sms = Some(sent);
        // Only while the pending login is still there: a `verify` that
        // took it meanwhile has used it, and an unconditional write would
        // bring it back for a second use.
        let kept = self
            .state()
            .put_if_present(
                StateKey::Challenge(token),
                &rec,
                rec.kept_until(),
                self.now(),
            )
            .await?;
        if !kept {
            return Err(Error::ChallengeNotFound);
        }
        Ok(Challenge {
            token: SecretString::from(token.to_owned()),
            expires_at: rec.expires_at,
            methods: self.methods(&user),
            sms: Some(delivery),
        })
    }

    /// The user of a pending login, if the login is still valid for the
    /// user's current credentials; a stale one is removed.
    pub(super) async fn challenge_user(
        &self,
        token: &str,
        rec: &ChallengeRecord,
    ) -> Result<UserRecord> {
        let user = self.record(rec.user).await?;
        if user.credential_generation != rec.generation {
            self.state().delete(StateKey::Challenge(token)).await?;
            return Err(Error::ChallengeNotFound);
        }
        Ok(user)
    }
}
