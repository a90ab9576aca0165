//! Passkeys (feature `passkeys`): registration, the second factor,
//! passwordless sign-in, step-up, and managing a user's passkeys.
//!
//! Every ceremony is a start/finish pair whose state waits in the state
//! store under a random ceremony id: taken once, expiring with
//! `Policy::challenge_ttl`, and bound to the user, pending login or flow
//! that started it. Assertions spend the same failure budgets as codes,
//! reserved before the assertion is looked at.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{DiscoverableAuthentication, WebauthnError};

use super::lockout::AttemptBudget;
use super::state::{ClientBudget, FailScope, StateKey, StateValue};
use super::{Authenticator, Enrolled, StepUp, Verification};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, Factor, LimitedAction};
use crate::passkey::{
    Passkey, PasskeyRegistration, PasskeyRequest, PublicKeyCredential, RegisterPublicKeyCredential,
    check_name, parse_id, parse_response,
};
use crate::store::PasskeyRecord;
use crate::user::{User, UserId};

mod ceremony;

/// A ceremony in the state store: what it is for, bound to whom, and
/// webauthn-rs's state (its challenge; no private key material exists).
#[derive(Serialize, Deserialize)]
struct Ceremony {
    purpose: Purpose,
    state: serde_json::Value,
}

/// What a ceremony may finish, and for whom.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
enum Purpose {
    /// Adding a passkey named `name` to `user`, whose credential
    /// generation was `generation` at the start (a credential change since
    /// voids it).
    Register {
        user: UserId,
        name: String,
        #[serde(default)]
        generation: i64,
    },
    /// Answering the pending login whose state key is `challenge`.
    SecondFactor { user: UserId, challenge: String },
    /// A passwordless sign-in: anyone's discoverable passkey.
    Login,
    /// A step-up of `user`.
    StepUp { user: UserId },
}

impl StateValue for Ceremony {
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Internal(format!("state encoding: {e}")))
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// How an assertion was judged.
enum Judged {
    /// Accepted and recorded (counter, flags, last use).
    Accepted,
    /// Refused: a failure for the limits (the error says which).
    Refused(Error),
}

/// A webauthn-rs refusal as this crate's error.
fn refusal(e: &WebauthnError) -> Error {
    match e {
        WebauthnError::CredentialPossibleCompromise => Error::PasskeyCloneSuspected,
        _ => Error::PasskeyRejected,
    }
}

/// The serialised webauthn-rs state of a ceremony.
fn to_state<T: Serialize>(state: &T) -> Result<serde_json::Value> {
    serde_json::to_value(state).map_err(|e| Error::Internal(format!("passkey state: {e}")))
}

fn from_state<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Internal(format!("passkey state: {e}")))
}

/// A stored credential as webauthn-rs's `Passkey`.
fn stored_credential(r: &PasskeyRecord) -> Result<webauthn_rs::prelude::Passkey> {
    serde_json::from_str(&r.credential)
        .map_err(|e| Error::Internal(format!("stored passkey of user {}: {e}", r.user)))
}

/// Counter and backup flags of a credential, read from its serialised form
/// (webauthn-rs keeps them private unless `danger-credential-internals`).
fn credential_facts(json: &serde_json::Value) -> (u32, bool, bool) {
    let cred = &json["cred"];
    let counter = cred["counter"]
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    (
        counter,
        cred["backup_eligible"].as_bool().unwrap_or(false),
        cred["backup_state"].as_bool().unwrap_or(false),
    )
}

impl Authenticator {
    /// True when passkeys are configured
    /// ([`AuthenticatorBuilder::passkeys`](super::AuthenticatorBuilder::passkeys)).
    ///
    /// ```
    /// # fn f(auth: &twofa_verify::Authenticator) {
    /// if auth.passkeys_available() { /* show the passkey buttons */ }
    /// # }
    /// ```
    pub fn passkeys_available(&self) -> bool {
        self.inner.passkeys.is_some()
    }

    /// Starts adding a passkey named `name` to the account, after a
    /// [`StepUp`] (the same proof as adding any factor). Send
    /// [`PasskeyRegistration::options`] to the browser's
    /// `navigator.credentials.create`, keep the ceremony id in the session,
    /// and finish with [`finish_passkey_registration`](Self::finish_passkey_registration).
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId) -> twofa_verify::Result<()> {
    /// use twofa_verify::StepUp;
    /// let reg = auth.start_passkey_registration(id, "MacBook", &StepUp::password("current password")).await?;
    /// let for_the_browser = serde_json::to_string(reg.options()).unwrap();
    /// let keep_in_session = reg.ceremony_id().to_owned();
    /// # let _ = (for_the_browser, keep_in_session); Ok(()) }
    /// ```
    pub async fn start_passkey_registration(
        &self,
        id: UserId,
        name: &str,
        step_up: &StepUp,
    ) -> Result<PasskeyRegistration> {
        let rp = self.rp()?;
        let name = check_name(name)?;
        let rec = self.record(id).await?;
        self.verify_step_up(&rec, step_up).await?;
        let existing = self.users().passkeys(id).await?;
        let exclude = existing.iter().map(|p| p.credential_id.clone()).collect();
        let (mut options, state) = rp
            .webauthn
            .start_passkey_registration(
                self.user_handle(id),
                &rec.username,
                &rec.username,
                Some(exclude),
            )
            .map_err(|e| Error::Internal(format!("passkey registration: {e}")))?;
        // webauthn-rs asks for a non-discoverable credential ("discouraged");
        // passwordless sign-in needs a discoverable one, so ask for it where
        // the authenticator can keep one (security keys may decline). The
        // finish does not depend on it. The type is webauthn-rs-proto's,
        // which its prelude does not re-export: named through serde.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = serde_json::from_value(serde_json::json!("preferred"))
                .map_err(|e| Error::Internal(format!("passkey registration: {e}")))?;
        }
        let (ceremony, expires_at) = self
            .put_ceremony(
                Purpose::Register {
                    user: id,
                    name,
                    generation: rec.credential_generation,
                },
                to_state(&state)?,
            )
            .await?;
        Ok(PasskeyRegistration {
            ceremony,
            options,
            expires_at,
        })
    }

    /// Finishes adding a passkey: `response` is the credential JSON the
    /// browser's `navigator.credentials.create` gave. A credential already
    /// registered (to anyone) is [`Error::PasskeyExists`].
    /// Like enabling any factor, every session of the user ends: stamp the
    /// acting one anew from [`Enrolled::user`]; [`Enrolled::recovery_codes`]
    /// holds recovery codes when this is the first second factor.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId, ceremony: &str, body: &str) -> twofa_verify::Result<()> {
    /// let enrolled = auth.finish_passkey_registration(id, ceremony, body).await?;
    /// let stamp = auth.session_stamp(&enrolled.user);
    /// # let _ = stamp; Ok(()) }
    /// ```
    pub async fn finish_passkey_registration(
        &self,
        id: UserId,
        ceremony_id: &str,
        response: &str,
    ) -> Result<Enrolled> {
        let rp = self.rp()?;
        let credential: RegisterPublicKeyCredential = parse_response(response)?;
        let ceremony = self.take_ceremony(ceremony_id).await?;
        let Purpose::Register {
            user,
            name,
            generation,
        } = ceremony.purpose
        else {
            return Err(Error::ChallengeNotFound);
        };
        if user != id {
            return Err(Error::ChallengeNotFound);
        }
        let state = from_state(ceremony.state)?;
        let passkey = match rp.webauthn.finish_passkey_registration(&credential, &state) {
            Ok(passkey) => passkey,
            Err(e) => {
                self.emit(AuthEvent::CodeRejected {
                    user: id,
                    factor: Factor::Passkey,
                })
                .await?;
                return Err(refusal(&e));
            }
        };
        let json = to_state(&passkey)?;
        let (counter, backup_eligible, backed_up) = credential_facts(&json);
        let rec = self.record(id).await?;
        // Started before a password reset, a lock or a factor change: void.
        if rec.credential_generation != generation {
            return Err(Error::ChallengeNotFound);
        }
        self.refuse_if_admin_locked(id).await?;
        let first = rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0;
        let record = PasskeyRecord {
            user: id,
            credential_id: passkey.cred_id().to_vec(),
            name,
            credential: json.to_string(),
            counter,
            backup_eligible,
            backed_up,
            created_at: self.now(),
            last_used_at: None,
        };
        self.users().add_passkey(&record).await?;
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::PasskeyAdded { user: id }).await?;
        self.enrolled(id, first).await
    }

    /// Starts answering a pending login (the `token` of
    /// [`Challenge`](super::Challenge)) with a passkey of that user.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, token: &str, body: &str) -> twofa_verify::Result<()> {
    /// let req = auth.start_passkey_verification(token).await?;
    /// // ... the browser signs req.options(); later:
    /// let verified = auth.verify_passkey(token, req.ceremony_id(), body).await?;
    /// # let _ = verified; Ok(()) }
    /// ```
    pub async fn start_passkey_verification(&self, token: &str) -> Result<PasskeyRequest> {
        let rp = self.rp()?;
        let rec = self.load_challenge(token).await?;
        let user = self.challenge_user(token, &rec).await?;
        let challenge = self.state().key(StateKey::Challenge(token));
        let (options, state) = self.assertion_options(rp, &user).await?;
        let (ceremony, expires_at) = self
            .put_ceremony(
                Purpose::SecondFactor {
                    user: rec.user,
                    challenge,
                },
                state,
            )
            .await?;
        Ok(PasskeyRequest {
            ceremony,
            options,
            expires_at,
        })
    }

    /// Finishes a pending login with a passkey assertion, as
    /// [`verify`](Self::verify) does with a code: the same attempt limits,
    /// events and single use. Only a passkey of the pending login's user
    /// is accepted (see [`start_passkey_verification`](Self::start_passkey_verification)).
    pub async fn verify_passkey(
        &self,
        token: &str,
        ceremony_id: &str,
        response: &str,
    ) -> Result<Verification> {
        let rp = self.rp()?;
        let credential: PublicKeyCredential = parse_response(response)?;
        let rec = self.load_challenge(token).await?;
        let user_rec = self.challenge_user(token, &rec).await?;
        let scope = FailScope::Account(rec.user);
        let budgets = [
            AttemptBudget::ChallengeAnswers(token),
            AttemptBudget::ClientFailures,
        ];
        // Reserve, then check.
        let attempt = self
            .reserve_attempt(&scope, Some(rec.user), &budgets)
            .await?;
        let challenge = self.state().key(StateKey::Challenge(token));
        let expected = Purpose::SecondFactor {
            user: rec.user,
            challenge,
        };
        let judged = match self
            .judge_bound_assertion(rp, ceremony_id, &expected, &user_rec, &credential)
            .await
        {
            Ok(j) => j,
            Err(e) => {
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        if let Judged::Refused(e) = judged {
            self.attempt_failed(attempt).await?;
            return Err(e);
        }
        // Single use: of concurrent successes exactly one takes the pending login.
        if !self
            .attempt_succeeded_if_taken(attempt, StateKey::Challenge(token))
            .await?
        {
            return Err(Error::ChallengeNotFound);
        }
        self.verified(&rec, user_rec, Factor::Passkey).await
    }

    /// Starts a passwordless sign-in: any discoverable passkey of the site,
    /// user verification required. The options also serve autofill
    /// (`navigator.credentials.get({mediation: "conditional", ...})`).
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, body: &str) -> twofa_verify::Result<()> {
    /// let req = auth.start_passkey_login().await?;
    /// // ... the browser signs req.options(); later:
    /// let verified = auth.login_with_passkey(req.ceremony_id(), body).await?;
    /// println!("welcome {}", verified.user.username);
    /// # Ok(()) }
    /// ```
    pub async fn start_passkey_login(&self) -> Result<PasskeyRequest> {
        let rp = self.rp()?;
        // Reserve, then write: the client's place is taken before the
        // ceremony is kept, so a burst cannot outrun the budget.
        let _reserved = self
            .reserve_client(
                LimitedAction::PasskeySignIn,
                ClientBudget::PasskeySignIns,
                self.inner.policy.client_passkey_sign_ins,
            )
            .await?;
        let (options, state) = rp
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("passkey sign-in: {e}")))?;
        let (ceremony, expires_at) = self.put_ceremony(Purpose::Login, to_state(&state)?).await?;
        Ok(PasskeyRequest {
            ceremony,
            options,
            expires_at,
        })
    }

    /// Finishes a passwordless sign-in: both factors at once, through the
    /// same login limits and events as a password and code (see
    /// [`start_passkey_login`](Self::start_passkey_login)).
    pub async fn login_with_passkey(
        &self,
        ceremony_id: &str,
        response: &str,
    ) -> Result<Verification> {
        let rp = self.rp()?;
        let credential: PublicKeyCredential = parse_response(response)?;
        let found = match rp
            .webauthn
            .identify_discoverable_authentication(&credential)
        {
            Ok((handle, credential_id)) => self
                .users()
                .passkey_by_credential(credential_id)
                .await?
                .filter(|p| self.user_handle(p.user) == handle),
            Err(_) => None,
        };
        let Some(stored) = found else {
            // No such passkey here: a failure of the client, and of the
            // credential id (so guessing ids is slowed like guessing names).
            let scope = FailScope::Unknown(format!(
                "passkey:{}",
                crate::passkey::display_id(credential.get_credential_id())
            ));
            let attempt = self
                .reserve_attempt(&scope, None, &[AttemptBudget::ClientFailures])
                .await?;
            self.attempt_failed(attempt).await?;
            return Err(Error::PasskeyRejected);
        };
        let user = stored.user;
        let scope = FailScope::Account(user);
        let attempt = self
            .reserve_attempt(&scope, Some(user), &[AttemptBudget::ClientFailures])
            .await?;
        let judged = async {
            let ceremony = self.take_ceremony(ceremony_id).await?;
            if ceremony.purpose != Purpose::Login {
                return Err(Error::ChallengeNotFound);
            }
            let state: DiscoverableAuthentication = from_state(ceremony.state)?;
            let passkey = stored_credential(&stored)?;
            let result =
                rp.webauthn
                    .finish_discoverable_authentication_v2(&credential, state, &passkey);
            self.record_assertion(&stored, passkey, result).await
        }
        .await;
        let judged = match judged {
            Ok(j) => j,
            Err(e) => {
                self.attempt_released(attempt).await?;
                return Err(e);
            }
        };
        if let Judged::Refused(e) = judged {
            self.attempt_failed(attempt).await?;
            return Err(e);
        }
        self.attempt_succeeded(attempt).await?;
        let rec = self.record(user).await?;
        self.refuse_if_admin_locked(user).await?;
        self.emit(AuthEvent::LoginSucceeded {
            user,
            factor: Some(Factor::Passkey),
        })
        .await?;
        Ok(Verification {
            user: rec.to_user(),
            factor: Factor::Passkey,
            recovery_codes_left: None,
        })
    }

    /// Starts a step-up with one of the user's passkeys; the answer goes in
    /// [`StepUp::with_passkey`].
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId, passkey_id: &str, body: String) -> twofa_verify::Result<()> {
    /// use twofa_verify::StepUp;
    /// let req = auth.start_passkey_step_up(id).await?;
    /// // ... the browser signs req.options(); later:
    /// let proof = StepUp::with_passkey("current password", req.ceremony_id(), body);
    /// auth.remove_passkey(id, passkey_id, &proof).await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_passkey_step_up(&self, id: UserId) -> Result<PasskeyRequest> {
        let rp = self.rp()?;
        let rec = self.record(id).await?;
        let (options, state) = self.assertion_options(rp, &rec).await?;
        let (ceremony, expires_at) = self
            .put_ceremony(Purpose::StepUp { user: id }, state)
            .await?;
        Ok(PasskeyRequest {
            ceremony,
            options,
            expires_at,
        })
    }

    /// The user's passkeys, oldest first.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId) -> twofa_verify::Result<()> {
    /// for pk in auth.passkeys(id).await? {
    ///     println!("{} (added {:?}, synced: {})", pk.name, pk.created_at, pk.backed_up);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn passkeys(&self, id: UserId) -> Result<Vec<Passkey>> {
        let records = self.users().passkeys(id).await?;
        Ok(records.iter().map(Passkey::from_record).collect())
    }

    /// Renames one of the user's passkeys.
    ///
    /// ```
    /// # async fn f(auth: &twofa_verify::Authenticator, id: twofa_verify::UserId, passkey_id: &str) -> twofa_verify::Result<()> {
    /// let pk = auth.rename_passkey(id, passkey_id, "Work laptop").await?;
    /// assert_eq!(pk.name, "Work laptop");
    /// # Ok(()) }
    /// ```
    pub async fn rename_passkey(
        &self,
        id: UserId,
        passkey_id: &str,
        name: &str,
    ) -> Result<Passkey> {
        let credential_id = parse_id(passkey_id)?;
        let name = check_name(name)?;
        if !self
            .users()
            .rename_passkey(id, &credential_id, &name)
            .await?
        {
            return Err(Error::PasskeyNotFound);
        }
        self.emit(AuthEvent::PasskeyRenamed { user: id }).await?;
        self.passkeys(id)
            .await?
            .into_iter()
            .find(|p| p.id == crate::passkey::display_id(&credential_id))
            .ok_or(Error::PasskeyNotFound)
    }

    /// Removes one of the user's passkeys after a step-up. Every session of
    /// the user ends (stamp the acting one from the returned user);
    /// removing the last second factor also removes the recovery codes, as
    /// [`disable_factor`](Self::disable_factor) does. See the
    /// [`start_passkey_step_up`](Self::start_passkey_step_up) example.
    pub async fn remove_passkey(
        &self,
        id: UserId,
        passkey_id: &str,
        step_up: &StepUp,
    ) -> Result<User> {
        let credential_id = parse_id(passkey_id)?;
        self.removing_factor(id, self.remove_passkey_leased(id, &credential_id, step_up))
            .await
    }

    /// [`Authenticator::remove_passkey`] under the account's removal lease.
    async fn remove_passkey_leased(
        &self,
        id: UserId,
        credential_id: &[u8],
        step_up: &StepUp,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let owned = self
            .users()
            .passkeys(id)
            .await?
            .iter()
            .any(|p| p.credential_id == credential_id);
        if !owned {
            return Err(Error::PasskeyNotFound);
        }
        let last_factor = rec.passkeys <= 1 && rec.phone.is_none() && rec.totp.is_none();
        if last_factor && self.second_factor_required_of(&rec.to_user()) {
            return Err(Error::FactorUnavailable(
                crate::error::FactorUnavailable::Required,
            ));
        }
        self.verify_step_up(&rec, step_up).await?;
        if !self.users().remove_passkey(id, credential_id).await? {
            return Err(Error::PasskeyNotFound);
        }
        let rec = self.record(id).await?;
        if rec.phone.is_none() && rec.totp.is_none() && rec.passkeys == 0 {
            self.users().replace_recovery_codes(id, &[]).await?;
        }
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::PasskeyRemoved { user: id }).await?;
        self.user_to_restamp(id).await
    }
}
