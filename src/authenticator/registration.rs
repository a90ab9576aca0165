//! Registration with email confirmation: a taken address answers exactly
//! like a new one, so the register form tells a visitor nothing about who
//! has an account.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::Authenticator;
use super::limits::Reserved;
use super::state::{ClientBudget, StateKey};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction, MailKind};
use crate::password;
use crate::store::NewUser;
use crate::user::{User, normalize_email, normalize_username};

/// What [`Authenticator::start_registration`] asks the application to send.
///
/// Every variant must get the same answer on the page ("check your
/// inbox"); only the email differs, or there is none.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum RegistrationStart {
    /// A new address: email it a link holding the token, which
    /// [`Authenticator::confirm_registration`] turns into the account.
    Confirm(RegistrationMail),
    /// The address already has an account: email its owner a notice
    /// (someone tried to register with it; log in or reset the password)
    /// instead of a link. No account is created.
    AlreadyRegistered {
        /// The account's address, where the notice goes.
        email: String,
        /// The account's username, for the greeting.
        username: String,
    },
    /// The address's mail budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address)) is
    /// spent: send nothing. Whether the address has an account or not, no
    /// account is created; [`AuthEvent::MailSuppressed`] records the mail
    /// left out.
    MailSuppressed,
}

/// A confirmation link to email. `Debug` hides the token.
pub struct RegistrationMail {
    token: SecretString,
    /// Where to send it.
    pub email: String,
    /// The username asked for.
    pub username: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl RegistrationMail {
    /// The token to put in the link (URL-safe, 256 bits).
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for RegistrationMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationMail")
            .field("token", &"[redacted]")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A registration waiting for its link, kept in the state store under the
/// keyed hash of the token.
#[derive(Serialize, Deserialize)]
pub(super) struct PendingRegistration {
    username: String,
    username_key: String,
    username_skeleton: String,
    email: String,
    password_hash: String,
}

impl Authenticator {
    /// Reserves a place in the client's registration budget.
    pub(super) async fn reserve_registration(&self) -> Result<Reserved> {
        self.reserve_client(
            LimitedAction::Register,
            ClientBudget::Registrations,
            self.inner.policy.client_registrations,
        )
        .await
    }

    /// Starts a registration that the email address's owner must confirm
    /// (the mode [`Registration::EmailConfirmed`](crate::policy::Registration)).
    ///
    /// The username and password are checked as by
    /// [`register`](Self::register) and a taken username is still
    /// [`Error::UsernameTaken`] (usernames are public on profile pages).
    /// A taken email address is not an error: the answer is
    /// [`RegistrationStart::AlreadyRegistered`] after the same work (one
    /// password hash, one state write) as for a new address, so neither the
    /// page nor its timing tells a visitor whether the address has an
    /// account. Limited per client ([`Policy::client_registrations`](crate::Policy::client_registrations)).
    ///
    /// Either mail takes a place in the address's mail budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address)),
    /// reserved before the mail is made; past it the answer is
    /// [`RegistrationStart::MailSuppressed`], after the same work again.
    pub async fn start_registration(
        &self,
        username: &str,
        email: &str,
        password: &SecretString,
    ) -> Result<RegistrationStart> {
        let (username, username_key, username_skeleton) = normalize_username(username)?;
        let email = normalize_email(email)?;
        let pw = password::check_password(&self.inner.policy, password, &[&username, &email])?;
        let _counted = self.reserve_registration().await?;
        if self
            .inner
            .users
            .user_by_username(&username_key)
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        // Counted for a new and a taken address alike, so the budget says
        // nothing about which it is.
        let mail_allowed = self.reserve_own_mail(&email).await?;
        let existing = self.inner.users.user_by_email(&email).await?;
        let password_hash = self.inner.hasher.hash(pw).await?;
        let token = random_token::<32>();
        let expires_at = self.now().plus(self.inner.policy.registration_token_ttl);
        let pending = PendingRegistration {
            username: username.clone(),
            username_key,
            username_skeleton,
            email: email.clone(),
            password_hash,
        };
        // Written for a taken address too (its token is never handed out and
        // the entry expires): the two answers cost the same.
        self.state()
            .put(StateKey::Registration(&token), &pending, expires_at)
            .await?;
        self.emit(AuthEvent::RegistrationStarted {
            existing_user: existing.as_ref().map(|r| r.id),
        });
        if !mail_allowed {
            let mail = match existing {
                Some(_) => MailKind::AlreadyRegistered,
                None => MailKind::RegistrationConfirmation,
            };
            self.mail_suppressed(existing.map(|r| r.id), mail);
            return Ok(RegistrationStart::MailSuppressed);
        }
        Ok(match existing {
            Some(rec) => RegistrationStart::AlreadyRegistered {
                email: rec.email,
                username: rec.username,
            },
            None => RegistrationStart::Confirm(RegistrationMail {
                token: SecretString::from(token),
                email,
                username,
                expires_at,
            }),
        })
    }

    /// Creates the account of a registration started with
    /// [`start_registration`](Self::start_registration), from the token in
    /// its link. The token works once (of concurrent calls exactly one
    /// creates the account) and expires after
    /// [`Policy::registration_token_ttl`](crate::Policy::registration_token_ttl).
    /// Fails with [`Error::InvalidConfirmationToken`] for an unknown, used or
    /// expired token, and with `UsernameTaken` / `EmailTaken` when another
    /// account took the name or address in the meantime.
    pub async fn confirm_registration(&self, token: &str) -> Result<User> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Err(Error::InvalidConfirmationToken);
        }
        let pending: PendingRegistration = self
            .state()
            .take(StateKey::Registration(token), self.now())
            .await?
            .ok_or(Error::InvalidConfirmationToken)?;
        let rec = self
            .inner
            .users
            .create_user(NewUser {
                username: pending.username,
                username_key: pending.username_key,
                username_skeleton: pending.username_skeleton,
                email: pending.email,
                password_hash: pending.password_hash,
                created_at: self.now(),
            })
            .await?;
        self.emit(AuthEvent::Registered { user: rec.id });
        Ok(rec.to_user())
    }
}
