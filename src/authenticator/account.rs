//! Accounts: registration without email confirmation, look-ups and
//! profile changes.

use secrecy::SecretString;

use super::Authenticator;
use crate::error::{Error, Result};
use crate::event::AuthEvent;
use crate::password;
use crate::policy::Registration;
use crate::store::UserRecord;
use crate::user::{User, UserId, normalize_email, normalize_username, username_lookup_keys};

impl Authenticator {
    /// Registers a user. The username and email must be unique; the password
    /// must pass the policy (length, not common, not the username or email).
    ///
    /// Limited per client ([`Policy::client_registrations`](crate::Policy::client_registrations)) before any
    /// lookup or hash. Refused with [`Error::Config`] under
    /// [`Registration::EmailConfirmed`]: use
    /// [`start_registration`](Self::start_registration) there.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &SecretString,
    ) -> Result<User> {
        if self.inner.policy.registration == Registration::EmailConfirmed {
            return Err(Error::Config(
                "this site confirms email addresses: use start_registration".into(),
            ));
        }
        let (username, username_key, username_skeleton) = normalize_username(username)?;
        let email = normalize_email(email)?;
        let pw = password::check_password(&self.inner.policy, password, &[&username, &email])?;
        let _counted = self.reserve_registration().await?;
        self.check_free(&username_key, &email).await?;
        let hash = self.inner.hasher.hash(pw).await?;
        let rec = self
            .inner
            .users
            .create_user(crate::store::NewUser {
                username,
                username_key,
                username_skeleton,
                email,
                password_hash: hash,
                created_at: self.now(),
            })
            .await?;
        self.emit(AuthEvent::Registered { user: rec.id });
        Ok(rec.to_user())
    }

    /// Cheap uniqueness pre-check of a new account, so a taken name does
    /// not cost a hash; the store's unique constraints (key and confusable
    /// skeleton) are what guarantee it.
    pub(super) async fn check_free(&self, username_key: &str, email: &str) -> Result<()> {
        if self
            .inner
            .users
            .user_by_username(username_key)
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        if self.inner.users.user_by_email(email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        Ok(())
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.inner.users.user_by_id(id).await?.map(|r| r.to_user()))
    }

    /// The user with this username (case-insensitive).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.find_by_username(username).await?.map(|r| r.to_user()))
    }

    /// The record stored under the key of `raw`, or under the key it had
    /// before RFC 8265 when that differs (accounts created earlier).
    pub(super) async fn find_by_username(&self, raw: &str) -> Result<Option<UserRecord>> {
        for key in username_lookup_keys(raw) {
            if let Some(rec) = self.inner.users.user_by_username(&key).await? {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// The user with this email address (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .users
            .user_by_email(&email)
            .await?
            .map(|r| r.to_user()))
    }

    /// Changes the username (`None` keeps it). The email address is
    /// changed only by [`start_email_change`](Self::start_email_change) and
    /// the link it mails to the new address: an `email` that differs from
    /// the current one gives
    /// [`Error::StepUpRequired`] (the same one is accepted, so a form can
    /// send it back unchanged).
    ///
    /// The current username given again is kept even if it predates
    /// today's username rules.
    pub async fn update_profile(
        &self,
        id: UserId,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<User> {
        let rec = self.record(id).await?;
        let keep = || {
            (
                rec.username.clone(),
                rec.username_key.clone(),
                rec.username_skeleton.clone(),
            )
        };
        let (username, key, skeleton) = match username {
            Some(u) if u.trim() == rec.username => keep(),
            Some(u) => match normalize_username(u)? {
                // Same key, other case: the skeleton (of the key) is the
                // current one, even if a legacy look-alike left it empty.
                (name, key, _) if key == rec.username_key => {
                    (name, key, rec.username_skeleton.clone())
                }
                (name, key, skeleton) => (name, key, Some(skeleton)),
            },
            None => keep(),
        };
        if let Some(e) = email
            && normalize_email(e)? != rec.email
        {
            return Err(Error::StepUpRequired);
        }
        self.inner
            .users
            .update_profile(id, &username, &key, skeleton.as_deref(), &rec.email)
            .await?;
        self.emit(AuthEvent::ProfileUpdated { user: id });
        Ok(self.record(id).await?.to_user())
    }

    /// How many unused recovery codes the user has.
    pub async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        self.inner.users.recovery_codes_left(id).await
    }
}
