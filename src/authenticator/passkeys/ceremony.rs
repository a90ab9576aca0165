//! The parts every passkey ceremony shares: the relying party, the state
//! kept between start and finish, and judging an assertion.

use secrecy::{ExposeSecret, SecretString};
use webauthn_rs::prelude::{
    AuthenticationResult, PasskeyAuthentication, RequestChallengeResponse, Uuid, WebauthnError,
};

use super::{Ceremony, Judged, Purpose, from_state, refusal, stored_credential, to_state};
use crate::authenticator::lockout::AttemptBudget;
use crate::authenticator::state::{FailScope, StateKey};
use crate::authenticator::step_up::PasskeyProof;
use crate::authenticator::{Authenticator, Passkeys};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::error::{Error, FactorUnavailable, Result};
use crate::event::{AuthEvent, Factor};
use crate::passkey::{PublicKeyCredential, parse_response};
use crate::store::{PasskeyRecord, PasskeyUse, UserRecord};
use crate::user::UserId;

/// Longest ceremony id accepted (they are 43 characters).
const CEREMONY_ID_MAX: usize = 128;

impl Authenticator {
    /// The configured relying party.
    pub(super) fn rp(&self) -> Result<&Passkeys> {
        self.inner.passkeys.as_ref().ok_or(Error::FactorUnavailable(
            FactorUnavailable::NotConfigured(Factor::Passkey),
        ))
    }

    /// The WebAuthn user handle of a user: a keyed hash of the id, so the
    /// handle on the authenticator tells nothing about the account.
    pub(super) fn user_handle(&self, id: UserId) -> Uuid {
        let mac = self
            .inner
            .keys
            .mac(b"passkey-user-handle", id.0.to_be_bytes().as_slice());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac[..16]);
        Uuid::from_bytes(bytes)
    }

    /// Stores a ceremony under a new random id until it expires.
    pub(super) async fn put_ceremony(
        &self,
        purpose: Purpose,
        state: serde_json::Value,
    ) -> Result<(SecretString, Timestamp)> {
        let id = random_token::<32>();
        let expires_at = self.now().plus(self.inner.policy.challenge_ttl);
        self.state()
            .put(
                StateKey::PasskeyCeremony(&id),
                &Ceremony { purpose, state },
                expires_at,
            )
            .await?;
        Ok((SecretString::from(id), expires_at))
    }

    /// Takes a ceremony: of concurrent finishes exactly one gets it; an
    /// unknown, used or expired id is `ChallengeNotFound`.
    pub(super) async fn take_ceremony(&self, id: &str) -> Result<Ceremony> {
        if id.is_empty() || id.len() > CEREMONY_ID_MAX {
            return Err(Error::ChallengeNotFound);
        }
        self.state()
            .take(StateKey::PasskeyCeremony(id), self.now())
            .await?
            .ok_or(Error::ChallengeNotFound)
    }

    /// Options for an assertion by one of `user`'s passkeys, and the state.
    pub(super) async fn assertion_options(
        &self,
        rp: &Passkeys,
        user: &UserRecord,
    ) -> Result<(RequestChallengeResponse, serde_json::Value)> {
        let stored = self.users().passkeys(user.id).await?;
        if stored.is_empty() {
            return Err(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                Factor::Passkey,
            )));
        }
        let creds = stored
            .iter()
            .map(stored_credential)
            .collect::<Result<Vec<_>>>()?;
        let (options, state) = rp
            .webauthn
            .start_passkey_authentication(&creds)
            .map_err(|e| Error::Internal(format!("passkey assertion: {e}")))?;
        Ok((options, to_state(&state)?))
    }

    /// Judges an assertion of `user` against the ceremony `ceremony_id`,
    /// which must have been started for `expected`. The ceremony is used
    /// up whatever the outcome. `Err` is an outage or a ceremony that is
    /// gone: no verdict.
    pub(super) async fn judge_bound_assertion(
        &self,
        rp: &Passkeys,
        ceremony_id: &str,
        expected: &Purpose,
        user: &UserRecord,
        credential: &PublicKeyCredential,
    ) -> Result<Judged> {
        let ceremony = self.take_ceremony(ceremony_id).await?;
        if ceremony.purpose != *expected {
            return Err(Error::ChallengeNotFound);
        }
        let state: PasskeyAuthentication = from_state(ceremony.state)?;
        // The credential must be one of this user's (webauthn-rs also
        // checks it against the ceremony's list).
        let stored = self
            .users()
            .passkey_by_credential(credential.get_credential_id())
            .await?
            .filter(|p| p.user == user.id);
        let Some(stored) = stored else {
            self.emit(AuthEvent::CodeRejected {
                user: user.id,
                factor: Factor::Passkey,
            })
            .await?;
            return Ok(Judged::Refused(Error::PasskeyRejected));
        };
        let passkey = stored_credential(&stored)?;
        let result = rp
            .webauthn
            .finish_passkey_authentication(credential, &state);
        self.record_assertion(&stored, passkey, result).await
    }

    /// Records the outcome of webauthn-rs's check of an assertion: on
    /// success the counter, flags and last use in one compare-and-set (a
    /// counter that did not advance refuses the sign-in); on failure the
    /// event.
    pub(super) async fn record_assertion(
        &self,
        stored: &PasskeyRecord,
        mut passkey: webauthn_rs::prelude::Passkey,
        result: std::result::Result<AuthenticationResult, WebauthnError>,
    ) -> Result<Judged> {
        let user = stored.user;
        let result = match result {
            Ok(r) if r.user_verified() || !self.requires_uv() => r,
            Ok(_) => return self.refused(user, Error::PasskeyRejected).await,
            Err(e) => return self.refused(user, refusal(&e)).await,
        };
        passkey.update_credential(&result);
        let counter = result.counter();
        let used = PasskeyUse {
            counter,
            backed_up: result.backup_state(),
            credential: to_state(&passkey)?.to_string(),
            at: self.now(),
        };
        if self
            .users()
            .record_passkey_use(user, &stored.credential_id, &used)
            .await?
        {
            return Ok(Judged::Accepted);
        }
        // Not written: the passkey is gone, or another use recorded a
        // counter at least as high meanwhile (a copy in use).
        let still_there = self
            .users()
            .passkey_by_credential(&stored.credential_id)
            .await?
            .is_some();
        let error = if still_there {
            Error::PasskeyCloneSuspected
        } else {
            Error::PasskeyRejected
        };
        self.refused(user, error).await
    }

    /// Every ceremony of this crate asks for user verification.
    fn requires_uv(&self) -> bool {
        true
    }

    /// Reports a refused assertion and says why.
    async fn refused(&self, user: UserId, error: Error) -> Result<Judged> {
        if matches!(error, Error::PasskeyCloneSuspected) {
            self.emit(AuthEvent::PasskeyCloneSuspected { user }).await?;
        } else {
            self.emit(AuthEvent::CodeRejected {
                user,
                factor: Factor::Passkey,
            })
            .await?;
        }
        Ok(Judged::Refused(error))
    }

    /// The passkey half of a step-up (the password was checked): an
    /// assertion of the user's, bound to a step-up ceremony of theirs,
    /// counted against the account like a code.
    pub(in crate::authenticator) async fn verify_passkey_step_up(
        &self,
        rec: &UserRecord,
        proof: &PasskeyProof,
    ) -> Result<()> {
        let rp = self.rp()?;
        if rec.passkeys == 0 {
            return Err(Error::FactorUnavailable(FactorUnavailable::NotEnabled(
                Factor::Passkey,
            )));
        }
        let credential: PublicKeyCredential = parse_response(&proof.response)?;
        let attempt = self
            .reserve_attempt(
                &FailScope::Account(rec.id),
                Some(rec.id),
                &[AttemptBudget::ClientFailures],
            )
            .await?;
        let expected = Purpose::StepUp { user: rec.id };
        let judged = self
            .judge_bound_assertion(
                rp,
                proof.ceremony.expose_secret(),
                &expected,
                rec,
                &credential,
            )
            .await;
        match judged {
            Ok(Judged::Accepted) => self.attempt_released(attempt).await,
            Ok(Judged::Refused(e)) => {
                self.attempt_failed(attempt).await?;
                Err(e)
            }
            Err(e) => {
                self.attempt_released(attempt).await?;
                Err(e)
            }
        }
    }
}
