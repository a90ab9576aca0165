//! Changing the email address: a step-up, then a link mailed to the new
//! address; only following that link moves the account.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::state::{LiveLink, StateKey};
use super::{Authenticator, StepUp};
use crate::clock::Timestamp;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::event::{AuthEvent, LimitedAction, MailKind};
use crate::store::UserRecord;
use crate::user::{User, UserId, normalize_email};

/// The confirmation link of an email change, to mail to the NEW address.
/// `Debug` hides the token. See the
/// [`Authenticator::start_email_change`] example.
pub struct EmailChangeMail {
    token: SecretString,
    /// The new address: where to send the link.
    pub email: String,
    /// The current address, which stays the account's until the link is
    /// followed (worth a notice: a change it did not ask for can be stopped
    /// by changing the password).
    pub current_email: String,
    /// The account's username, for the greeting.
    pub username: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl EmailChangeMail {
    /// The token to put in the link (URL-safe); see the
    /// [`Authenticator::start_email_change`] example.
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for EmailChangeMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChangeMail")
            .field("token", &"[redacted]")
            .field("email", &self.email)
            .field("current_email", &self.current_email)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An email change waiting for its link, as
/// [`Authenticator::check_email_change`] shows it (see the
/// [`Authenticator::start_email_change`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingEmailChange {
    /// The account (with its current address).
    pub user: User,
    /// The address the link moves it to.
    pub new_email: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// Token bytes: the user id, then 32 random bytes.
const TOKEN_LEN: usize = 8 + 32;

impl Authenticator {
    /// Starts changing the email address after a [`StepUp`] (the password,
    /// plus a current code when a second factor is enabled). Nothing
    /// changes yet: mail [`EmailChangeMail::token`] in a link to the new
    /// address; [`confirm_email_change`](Self::confirm_email_change) with it
    /// makes the change. Whether the new address belongs to another account
    /// is not told here (the confirmation fails with
    /// [`Error::EmailTaken`] then), so the form reveals nothing about who
    /// has an account. The current address itself is `EmailTaken`.
    ///
    /// The link works once, expires after
    /// [`Policy::registration_token_ttl`](crate::Policy::registration_token_ttl),
    /// and dies when a newer change is started or any credential changes
    /// (password, factor, phone, "sign out everywhere"). Emits
    /// [`AuthEvent::EmailChangeRequested`]: tell the current address.
    ///
    /// The link takes a place in the new address's mail budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address));
    /// past it the call fails with [`Error::RateLimited`] and raises
    /// [`AuthEvent::MailSuppressed`], and no link is made.
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
    /// let step_up = StepUp::password("correct horse battery");
    /// let mail = auth.start_email_change(alice.id, "alice@new.example", &step_up).await?;
    /// // Mail a link to `mail.email`, the new address; tell `mail.current_email`.
    /// let link = format!("https://example.com/email/confirm?token={}", mail.token());
    /// # let _ = link;
    ///
    /// // The link's page (GET) shows what it would do, and changes nothing...
    /// let pending = auth.check_email_change(mail.token()).await?;
    /// assert_eq!((pending.user.email.as_str(), pending.new_email.as_str()),
    ///            ("alice@example.com", "alice@new.example"));
    /// // ...its button (POST) makes the change, once.
    /// let user = auth.confirm_email_change(mail.token()).await?;
    /// assert_eq!(user.email, "alice@new.example");
    /// let again = auth.confirm_email_change(mail.token()).await;
    /// assert!(matches!(again, Err(Error::InvalidConfirmationToken)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_email_change(
        &self,
        id: UserId,
        new_email: &str,
        step_up: &StepUp,
    ) -> Result<EmailChangeMail> {
        let email = normalize_email(new_email)?;
        let rec = self.record(id).await?;
        self.verify_step_up(&rec, step_up).await?;
        if email == rec.email {
            return Err(Error::EmailTaken);
        }
        // The link goes to an address the user typed, perhaps someone
        // else's: it takes a place in that address's mail budget first.
        if let Some(window_end) = self.count_mail(&email).await? {
            self.mail_suppressed(Some(id), MailKind::EmailChangeConfirmation)
                .await?;
            return Err(Error::RateLimited {
                limit: LimitedAction::Mail,
                retry_after: self.now().until(window_end).max(Duration::from_secs(1)),
            });
        }
        let mut raw = Vec::with_capacity(TOKEN_LEN);
        raw.extend_from_slice(&id.0.to_be_bytes());
        raw.extend_from_slice(&random_bytes::<32>());
        let expires_at = self.now().plus(self.inner.policy.registration_token_ttl);
        self.issue_link(
            StateKey::EmailChange(id),
            &LiveLink {
                hash: self.inner.keys.mac(b"email-change", &raw),
                expires_at,
                generation: rec.credential_generation,
                email: Some(email.clone()),
            },
        )
        .await?;
        self.emit(AuthEvent::EmailChangeRequested {
            user: id,
            current_email: rec.email.clone(),
        })
        .await?;
        Ok(EmailChangeMail {
            token: SecretString::from(data_encoding::BASE64URL_NOPAD.encode(&raw)),
            email,
            current_email: rec.email,
            username: rec.username,
            expires_at,
        })
    }

    /// Checks an email-change link without using it (to show a page with a
    /// button that confirms it: a GET of the link must not change
    /// anything). [`Error::InvalidConfirmationToken`] when it does not work.
    /// See the [`start_email_change`](Self::start_email_change) example.
    pub async fn check_email_change(&self, token: &str) -> Result<PendingEmailChange> {
        let (rec, hash) = self.email_change_target(token).await?;
        let id = rec.id;
        let link = self
            .live_link(StateKey::EmailChange(id), &hash)
            .await?
            .filter(|l| l.generation == rec.credential_generation)
            .ok_or(Error::InvalidConfirmationToken)?;
        Ok(PendingEmailChange {
            user: rec.to_user(),
            new_email: link.email.ok_or(Error::InvalidConfirmationToken)?,
            expires_at: link.expires_at,
        })
    }

    /// Moves the account to the new address of a link from
    /// [`start_email_change`](Self::start_email_change). The link is used
    /// up (of concurrent calls at most one changes the address). Every
    /// session of the user ends; [`AuthEvent::EmailChanged`] carries the
    /// old address, which should be told how to secure the account.
    /// [`Error::InvalidConfirmationToken`] for an unknown, used, expired or
    /// superseded link, or one older than a credential change;
    /// [`Error::EmailTaken`] when another account has the address now. See
    /// the [`start_email_change`](Self::start_email_change) example.
    pub async fn confirm_email_change(&self, token: &str) -> Result<User> {
        let (rec, hash) = self.email_change_target(token).await?;
        let id = rec.id;
        let link = self
            .take_link(StateKey::EmailChange(id), &hash)
            .await?
            .ok_or(Error::InvalidConfirmationToken)?;
        // The stamp the link was made under: a password, factor or phone
        // change, or "sign out everywhere", since then voids it.
        if link.generation != rec.credential_generation {
            return Err(Error::InvalidConfirmationToken);
        }
        let email = link.email.ok_or(Error::InvalidConfirmationToken)?;
        self.users()
            .update_profile(
                id,
                &rec.username,
                &rec.username_key,
                rec.username_skeleton.as_deref(),
                &email,
            )
            .await?;
        self.credentials_changed(id).await?;
        self.emit(AuthEvent::EmailChanged {
            user: id,
            old_email: rec.email,
        })
        .await?;
        self.user_to_restamp(id).await
    }

    /// The account a well-formed email-change token names, and the
    /// token's keyed hash.
    async fn email_change_target(&self, token: &str) -> Result<(UserRecord, [u8; 32])> {
        let raw = parse_token(token)?;
        let id_bytes: [u8; 8] = raw
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::InvalidConfirmationToken)?;
        let rec = self
            .users()
            .user_by_id(UserId(i64::from_be_bytes(id_bytes)))
            .await?
            .ok_or(Error::InvalidConfirmationToken)?;
        Ok((rec, self.inner.keys.mac(b"email-change", &raw)))
    }
}

/// The bytes of a token (the user id, then random bytes); any malformed
/// token is [`Error::InvalidConfirmationToken`].
fn parse_token(token: &str) -> Result<Vec<u8>> {
    if token.len() > 128 {
        return Err(Error::InvalidConfirmationToken);
    }
    let raw = data_encoding::BASE64URL_NOPAD
        .decode(token.trim().as_bytes())
        .map_err(|_| Error::InvalidConfirmationToken)?;
    if raw.len() != TOKEN_LEN {
        return Err(Error::InvalidConfirmationToken);
    }
    Ok(raw)
}
