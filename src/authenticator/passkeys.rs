//! Passkeys (feature `passkeys`): registration, the second factor,
//! passwordless sign-in, step-up, and managing a user's passkeys.
//!
//! Every ceremony is a start/finish pair whose state waits in the state
//! store under a random ceremony id: taken once, expiring with
//! `Policy::challenge_ttl`, and bound to the user, pending login or flow
//! that started it.

use super::{Authenticator, Enrolled, StepUp, Verification};
use crate::error::Result;
use crate::passkey::{Passkey, PasskeyRegistration, PasskeyRequest};
use crate::user::{User, UserId};

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
        let _ = (id, name, step_up);
        todo!("passkeys: registration start")
    }

    /// Finishes adding a passkey: `response` is the credential JSON the
    /// browser's `navigator.credentials.create` gave. A credential already
    /// registered (to anyone) is [`Error::PasskeyExists`](crate::Error::PasskeyExists).
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
        let _ = (id, ceremony_id, response);
        todo!("passkeys: registration finish")
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
        let _ = token;
        todo!("passkeys: second factor start")
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
        let _ = (token, ceremony_id, response);
        todo!("passkeys: second factor finish")
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
        todo!("passkeys: passwordless start")
    }

    /// Finishes a passwordless sign-in: both factors at once, through the
    /// same login limits and events as a password and code (see
    /// [`start_passkey_login`](Self::start_passkey_login)).
    pub async fn login_with_passkey(
        &self,
        ceremony_id: &str,
        response: &str,
    ) -> Result<Verification> {
        let _ = (ceremony_id, response);
        todo!("passkeys: passwordless finish")
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
        let _ = id;
        todo!("passkeys: step-up start")
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
        let _ = id;
        todo!("passkeys: list")
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
        let _ = (id, passkey_id, name);
        todo!("passkeys: rename")
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
        let _ = (id, passkey_id, step_up);
        todo!("passkeys: remove")
    }
}
