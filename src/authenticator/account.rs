//! Accounts: registration without email confirmation, look-ups and
//! profile changes.

use secrecy::SecretString;
use tracing::Instrument;

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
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, MemoryStore, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// // The form's fields; the password read straight into a `SecretString`.
    /// let password = SecretString::from("correct horse battery");
    /// let alice = auth.register("Alice", "alice@example.com", &password).await?;
    /// assert_eq!(alice.username, "Alice");
    ///
    /// let again = auth.register("alice", "other@example.com", &password).await;
    /// assert!(matches!(again, Err(Error::UsernameTaken)));
    /// let weak = auth.register("bob", "bob@example.com", &SecretString::from("bob")).await;
    /// assert!(matches!(weak, Err(Error::WeakPassword(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &SecretString,
    ) -> Result<User> {
        // A span per flow, without personal data (no user id, name or address).
        self.register_in_span(username, email, password)
            .instrument(tracing::info_span!("twofa", flow = "register"))
            .await
    }

    async fn register_in_span(
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
            .users()
            .create_user(crate::store::NewUser {
                username,
                username_key,
                username_skeleton,
                email,
                password_hash: hash,
                created_at: self.now(),
            })
            .await?;
        self.emit(AuthEvent::Registered { user: rec.id }).await?;
        Ok(rec.to_user())
    }

    /// Cheap uniqueness pre-check of a new account, so a taken name does
    /// not cost a hash; the store's unique constraints (key and confusable
    /// skeleton) are what guarantee it.
    pub(super) async fn check_free(&self, username_key: &str, email: &str) -> Result<()> {
        if self.users().user_by_username(username_key).await?.is_some() {
            return Err(Error::UsernameTaken);
        }
        if self.users().user_by_email(email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        Ok(())
    }

    /// The user with this id, `None` when there is none (e.g. deleted since
    /// the session was made).
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, MemoryStore, SecretKey, UserId};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// let password = SecretString::from("correct horse battery");
    /// let alice = auth.register("Alice", "alice@example.com", &password).await?;
    /// assert_eq!(auth.user(alice.id).await?, Some(alice.clone()));
    /// assert_eq!(auth.user_by_username("ALICE").await?, Some(alice.clone()));
    /// assert_eq!(auth.user_by_email("Alice@Example.COM").await?, Some(alice));
    /// assert_eq!(auth.user(UserId(9_999)).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.users().user_by_id(id).await?.map(|r| r.to_user()))
    }

    /// The user with this username (case-insensitive; see the
    /// [`user`](Self::user) example).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.find_by_username(username).await?.map(|r| r.to_user()))
    }

    /// The record stored under the key of `raw`, or under the key it had
    /// before RFC 8265 when that differs (accounts created earlier).
    pub(super) async fn find_by_username(&self, raw: &str) -> Result<Option<UserRecord>> {
        for key in username_lookup_keys(raw) {
            if let Some(rec) = self.users().user_by_username(&key).await? {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// The user with this email address (case-insensitive; see the
    /// [`user`](Self::user) example). A malformed address finds nobody.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        Ok(self
            .users()
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
    ///
    /// No credential changes, so the session is not stamped anew from the
    /// returned user (a stamp from a user read after a change elsewhere,
    /// such as an operator's lock, would outlive that change).
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, MemoryStore, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// # let auth = Authenticator::builder()
    /// #     .store(MemoryStore::new())
    /// #     .secret_key(SecretKey::generate())
    /// #     .build()?;
    /// # let password = SecretString::from("correct horse battery");
    /// # let alice = auth.register("alice", "alice@example.com", &password).await?;
    /// // The profile form sends both fields back.
    /// let user = auth.update_profile(alice.id, Some("Alicia"), Some("alice@example.com")).await?;
    /// assert_eq!(user.username, "Alicia");
    /// // A new address goes through `start_email_change` (password and link).
    /// let moved = auth.update_profile(alice.id, None, Some("new@example.com")).await;
    /// assert!(matches!(moved, Err(Error::StepUpRequired)));
    /// # Ok(())
    /// # }
    /// ```
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
        self.users()
            .update_profile(id, &username, &key, skeleton.as_deref(), &rec.email)
            .await?;
        self.emit(AuthEvent::ProfileUpdated { user: id }).await?;
        Ok(self.record(id).await?.to_user())
    }

    /// How many unused recovery codes the user has: a profile page warns
    /// when few are left (see the
    /// [`regenerate_recovery_codes`](Self::regenerate_recovery_codes)
    /// example).
    pub async fn recovery_codes_left(&self, id: UserId) -> Result<usize> {
        self.users().recovery_codes_left(id).await
    }
}
