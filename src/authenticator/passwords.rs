//! Password changes and resets.

use std::fmt;
use tracing::Instrument;

use secrecy::{ExposeSecret, SecretString};

use super::state::{BudgetKey, ClientBudget, FailScope, LiveLink, StateKey};
use super::{Authenticator, StepUp};
use crate::clock::Timestamp;
use crate::crypto::{ct_eq, random_bytes};
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction, MailKind};
use crate::password::{self, Verified};
use crate::store::UserRecord;
use crate::user::{User, UserId, normalize_email};

/// Random bytes in a reset token.
const NONCE_LEN: usize = 16;
/// Reset token bytes: the user id, the expiry, the nonce and the MAC.
const TOKEN_LEN: usize = 8 + 8 + NONCE_LEN + 32;

/// A password reset token to put in the emailed link. `Debug` hides it.
/// See the [`Authenticator::request_password_reset`] example.
pub struct ResetToken {
    token: SecretString,
    /// The account's email address (where to send the link).
    pub email: String,
    /// The account's username (for the email's greeting).
    pub username: String,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl ResetToken {
    /// The token text (URL-safe); see the
    /// [`Authenticator::request_password_reset`] example.
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetToken")
            .field("token", &"[redacted]")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Authenticator {
    /// Changes the password after a [`StepUp`]: the current password,
    /// plus a current second-factor code when the user has one enabled (a
    /// stolen session and a phished password are not enough). A missing
    /// code is [`Error::StepUpRequired`], a wrong one
    /// [`Error::InvalidCode`], a wrong password
    /// [`Error::InvalidCredentials`]; each failure counts against the
    /// account. Every other session, pending login and reset link of the
    /// user ends; stamp this session anew from the returned user.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, MemoryStore, SecretKey, StepUp};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// let current = StepUp::password("correct horse battery"); // plus a code with 2FA on
    /// let new = SecretString::from("staple battery horse correct");
    /// let user = auth.change_password(alice.id, &current, &new).await?;
    /// let stamp = auth.session_stamp(&user); // this session stays in
    /// # let _ = stamp;
    /// let old = auth.login("alice", &password).await;
    /// assert!(matches!(old, Err(Error::InvalidCredentials)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn change_password(
        &self,
        id: UserId,
        step_up: &StepUp,
        new: &SecretString,
    ) -> Result<User> {
        // A span per flow, without personal data (no user id, name or address).
        self.change_password_in_span(id, step_up, new)
            .instrument(tracing::info_span!("twofa", flow = "change_password"))
            .await
    }

    async fn change_password_in_span(
        &self,
        id: UserId,
        step_up: &StepUp,
        new: &SecretString,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let pw = password::check_password(&self.inner.policy, new, &[&rec.username, &rec.email])?;
        self.verify_step_up(&rec, step_up).await?;
        let hash = self.inner.hasher.hash(pw).await?;
        if !self
            .users()
            .replace_password_hash(id, &rec.password_hash, &hash)
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::PasswordChanged {
            user: id,
            via_reset: false,
        })
        .await?;
        self.user_to_restamp(id).await
    }

    /// Checks the current password of a logged-in user (a change, a
    /// step-up), reserving a place in the account's failure counter first.
    /// A wrong one counts as a failure; a right one hands the place back.
    pub(super) async fn check_current_password(
        &self,
        rec: &UserRecord,
        password: &SecretString,
    ) -> Result<()> {
        let attempt = self
            .reserve_attempt(&FailScope::Account(rec.id), Some(rec.id), &[])
            .await?;
        match self.password_ok(rec, password).await {
            Ok(true) => self.attempt_released(attempt).await,
            Ok(false) => {
                self.attempt_failed(attempt).await?;
                Err(Error::InvalidCredentials)
            }
            Err(e) => {
                self.attempt_released(attempt).await?;
                Err(e)
            }
        }
    }

    pub(super) async fn password_ok(
        &self,
        rec: &UserRecord,
        password: &SecretString,
    ) -> Result<bool> {
        match password::normalize_for_verify(&self.inner.policy, password) {
            Some(pw) => Ok(self.inner.hasher.verify(pw, &rec.password_hash).await? != Verified::No),
            None => Ok(false),
        }
    }

    /// The MAC of a reset token: it covers the token's own fields and what
    /// must not have changed since the link was sent (the password, the
    /// address it went to, the credential generation), so any of those
    /// changes voids the link.
    fn reset_mac(&self, rec: &UserRecord, expires: i64, nonce: &[u8]) -> [u8; 32] {
        self.inner.keys.mac_parts(
            b"password-reset",
            &[
                &rec.id.0.to_be_bytes(),
                &expires.to_be_bytes(),
                nonce,
                rec.password_hash.as_bytes(),
                rec.email.as_bytes(),
                &rec.credential_generation.to_be_bytes(),
            ],
        )
    }

    /// Starts a password reset. Returns the token to email when the address
    /// belongs to an account and its mail budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address))
    /// allows a mail, `None` otherwise; the caller should answer the same
    /// either way ("if that address is registered, we sent a link").
    /// Limited per address (known or not), so it reveals nothing: the mail
    /// budget too is counted for every address, and a reset left out for
    /// want of it raises [`AuthEvent::MailSuppressed`].
    ///
    /// The token expires ([`Policy::reset_token_ttl`](crate::Policy::reset_token_ttl),
    /// 1 hour by default), works once, and dies when the password, the email
    /// address or any other credential changes, and when a newer link is
    /// requested: only the newest link of an account works.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, Login, MemoryStore, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # auth.register("alice", "alice@example.com", &password).await?;
    /// // "Forgot your password?": the same answer whatever the address.
    /// assert!(auth.request_password_reset("nobody@example.com").await?.is_none());
    /// let reset = auth.request_password_reset("alice@example.com").await?.expect("an account");
    /// // Mail `reset.email` a link with `reset.token()` in it.
    /// let link = format!("https://example.com/reset?token={}", reset.token());
    /// # let _ = link;
    ///
    /// // The link's page shows the form only for a link that works...
    /// let user = auth.check_reset_token(reset.token()).await?;
    /// assert_eq!(user.username, "alice");
    /// // ...and the form sets the new password, once.
    /// let new = SecretString::from("staple battery horse correct");
    /// auth.reset_password(reset.token(), &new).await?;
    /// assert!(matches!(auth.login("alice", &new).await?, Login::Complete(_)));
    /// let again = auth.reset_password(reset.token(), &new).await;
    /// assert!(matches!(again, Err(Error::InvalidResetToken)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request_password_reset(&self, email: &str) -> Result<Option<ResetToken>> {
        // A span per flow, without personal data (no user id, name or address).
        self.request_password_reset_in_span(email)
            .instrument(tracing::info_span!("twofa", flow = "reset"))
            .await
    }

    async fn request_password_reset_in_span(&self, email: &str) -> Result<Option<ResetToken>> {
        let email = normalize_email(email)?;
        let p = &self.inner.policy;
        let mut budgets = vec![(BudgetKey::ResetEmail(email.clone()), p.reset_requests)];
        let client = self.client_budget(ClientBudget::ResetRequests, p.client_reset_requests);
        let client_limited = !client.is_empty();
        budgets.extend(client);
        if let Err(e) = self
            .reserve_budgets(LimitedAction::PasswordReset, budgets)
            .await
        {
            if client_limited {
                self.emit(AuthEvent::ClientLimited {
                    action: LimitedAction::PasswordReset,
                })
                .await?;
            }
            return Err(e);
        }
        let mail_allowed = self.reserve_own_mail(&email).await?;
        let expires_at = self.now().plus(self.inner.policy.reset_token_ttl);
        let Some(rec) = self.users().user_by_email(&email).await? else {
            self.issue_decoy_reset_link(expires_at).await?;
            return Ok(None);
        };
        if !mail_allowed {
            self.mail_suppressed(Some(rec.id), MailKind::PasswordReset)
                .await?;
            self.issue_decoy_reset_link(expires_at).await?;
            return Ok(None);
        }
        // Random, so that two links asked for in the same millisecond
        // differ and the newer one voids the older.
        let nonce = random_bytes::<NONCE_LEN>();
        let mac = self.reset_mac(&rec, expires_at.as_millis(), &nonce);
        self.issue_link(
            StateKey::ResetLink(rec.id),
            &LiveLink {
                hash: mac,
                expires_at,
                generation: rec.credential_generation,
                email: None,
            },
        )
        .await?;
        let mut raw = Vec::with_capacity(TOKEN_LEN);
        raw.extend_from_slice(&rec.id.0.to_be_bytes());
        raw.extend_from_slice(&expires_at.as_millis().to_be_bytes());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&mac);
        self.emit(AuthEvent::PasswordResetRequested { user: rec.id })
            .await?;
        Ok(Some(ResetToken {
            token: SecretString::from(data_encoding::BASE64URL_NOPAD.encode(&raw)),
            email: rec.email,
            username: rec.username,
            expires_at,
        }))
    }

    /// Checks a reset token without using it (to show the reset form only
    /// for a valid link: unexpired, unused, the newest of its account).
    /// Returns the user it belongs to. See the
    /// [`request_password_reset`](Self::request_password_reset) example.
    pub async fn check_reset_token(&self, token: &str) -> Result<User> {
        let (rec, mac) = self.reset_target(token).await?;
        self.live_link(StateKey::ResetLink(rec.id), &mac)
            .await?
            .ok_or(Error::InvalidResetToken)?;
        Ok(rec.to_user())
    }

    /// The account of a well-formed, authentic, unexpired reset token, and
    /// the token's MAC.
    async fn reset_target(&self, token: &str) -> Result<(UserRecord, [u8; 32])> {
        if token.len() > 128 {
            return Err(Error::InvalidResetToken);
        }
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(token.trim().as_bytes())
            .map_err(|_| Error::InvalidResetToken)?;
        if raw.len() != TOKEN_LEN {
            return Err(Error::InvalidResetToken);
        }
        let id = UserId(i64::from_be_bytes(
            raw[0..8].try_into().map_err(|_| Error::InvalidResetToken)?,
        ));
        let expires = i64::from_be_bytes(
            raw[8..16]
                .try_into()
                .map_err(|_| Error::InvalidResetToken)?,
        );
        let rec = self
            .users()
            .user_by_id(id)
            .await?
            .ok_or(Error::InvalidResetToken)?;
        let (nonce, given) = raw[16..].split_at(NONCE_LEN);
        let mac = self.reset_mac(&rec, expires, nonce);
        if !ct_eq(&mac, given) {
            return Err(Error::InvalidResetToken);
        }
        let expires_at = Timestamp::from_millis(expires);
        if expires_at <= self.now() {
            return Err(Error::InvalidResetToken);
        }
        Ok((rec, mac))
    }

    /// Sets a new password with a reset token. The token is used up; the
    /// second factor stays enabled (the next login still asks for it). An
    /// older link than the newest one requested is
    /// [`Error::InvalidResetToken`]. See the
    /// [`request_password_reset`](Self::request_password_reset) example.
    pub async fn reset_password(&self, token: &str, new_password: &SecretString) -> Result<User> {
        // A span per flow, without personal data (no user id, name or address).
        self.reset_password_in_span(token, new_password)
            .instrument(tracing::info_span!("twofa", flow = "reset"))
            .await
    }

    async fn reset_password_in_span(
        &self,
        token: &str,
        new_password: &SecretString,
    ) -> Result<User> {
        let (rec, mac) = self.reset_target(token).await?;
        let pw = password::check_password(
            &self.inner.policy,
            new_password,
            &[&rec.username, &rec.email],
        )?;
        // An account an operator locked keeps its password (and the link
        // stays usable until it expires): the operator settles it.
        self.refuse_if_admin_locked(rec.id).await?;
        // Single use, reserved before the hash: of a burst with one token,
        // one request hashes and the rest are refused at once. A failure
        // after this point burns the token; the user asks for a new link.
        self.take_link(StateKey::ResetLink(rec.id), &mac)
            .await?
            .ok_or(Error::InvalidResetToken)?;
        let hash = self.inner.hasher.hash(pw).await?;
        if !self
            .users()
            .replace_password_hash(rec.id, &rec.password_hash, &hash)
            .await?
        {
            return Err(Error::InvalidResetToken);
        }
        self.credentials_changed(rec.id).await?;
        self.emit(AuthEvent::PasswordChanged {
            user: rec.id,
            via_reset: true,
        })
        .await?;
        self.user_to_restamp(rec.id).await
    }
}

impl Authenticator {
    /// The store write a real reset link costs, for a request that makes
    /// none (an unknown address, a spent mail budget), so that the answer's
    /// timing does not tell which addresses have accounts. It goes under
    /// user id 0, which no account has, and holds nothing that works.
    async fn issue_decoy_reset_link(&self, expires_at: Timestamp) -> Result<()> {
        self.issue_link(
            StateKey::ResetLink(UserId(0)),
            &LiveLink {
                hash: random_bytes::<32>(),
                expires_at,
                generation: 0,
                email: None,
            },
        )
        .await
    }
}
