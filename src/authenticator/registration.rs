//! Registration with email confirmation: a taken address answers exactly
//! like a new one, so the register form tells a visitor nothing about who
//! has an account.
//!
//! The password is not asked when the registration starts: whoever starts
//! it may not own the address (account pre-hijacking). It is chosen on the
//! page the emailed link opens, so only the holder of the mailbox types it.
//! Opening the link checks it and changes nothing (mail scanners and link
//! previews open links); only [`Authenticator::confirm_registration`],
//! called from that page's form, creates the account.

use std::fmt;
use tracing::Instrument;

use secrecy::{ExposeSecret, SecretString};

use super::Authenticator;
use super::limits::Reserved;
use super::state::{ClientBudget, Marker, PendingRegistration, StateKey};
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
/// inbox"); only the email differs, or there is none. See the
/// [`Authenticator::start_registration`] example.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum RegistrationStart {
    /// A new address: email it a link holding the token. The link's page
    /// asks for the password and hands both to
    /// [`Authenticator::confirm_registration`], which creates the account.
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

/// A confirmation link to email. `Debug` hides the token. See the
/// [`Authenticator::start_registration`] example.
pub struct RegistrationMail {
    token: SecretString,
    /// Where to send it.
    pub email: String,
    /// The username asked for.
    pub username: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// A registration whose link is valid and not used yet, as
/// [`Authenticator::check_registration_token`] finds it: what the link's
/// page shows before asking for the password (see the
/// [`Authenticator::start_registration`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingAccount {
    /// The username the account will have (chosen when the registration
    /// started; show it, so the mailbox holder sees what they accept).
    pub username: String,
    /// The address the link was sent to.
    pub email: String,
}

impl RegistrationMail {
    /// The token to put in the link (URL-safe, 256 bits); see the
    /// [`Authenticator::start_registration`] example.
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

/// The token of a link as typed, or `InvalidConfirmationToken`.
fn link_token(token: &str) -> Result<&str> {
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Err(Error::InvalidConfirmationToken);
    }
    Ok(token)
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
    /// No password is asked here: whoever fills in the register form may
    /// not own the address, so the password is chosen on the page the link
    /// opens ([`confirm_registration`](Self::confirm_registration)). An
    /// account therefore never has a password that the holder of its
    /// mailbox did not type, and a registration someone else started with
    /// an address never blocks its owner: each start is its own link, and
    /// the first link confirmed creates the account.
    ///
    /// The username is checked as by [`register`](Self::register) and a
    /// taken username is still [`Error::UsernameTaken`] (usernames are
    /// public on profile pages). A taken email address is not an error: the
    /// answer is [`RegistrationStart::AlreadyRegistered`] after the same
    /// work (the same look-ups, one state write) as for a new address, so
    /// neither the page nor its timing tells a visitor whether the address
    /// has an account. Limited per client
    /// ([`Policy::client_registrations`](crate::Policy::client_registrations)).
    ///
    /// Either mail takes a place in the address's mail budget
    /// ([`Policy::mail_per_address`](crate::Policy::mail_per_address)),
    /// reserved before the mail is made; past it the answer is
    /// [`RegistrationStart::MailSuppressed`], after the same work again.
    ///
    /// ```
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, Error, MemoryStore, Policy, Registration};
    /// use twofa_verify::{RegistrationStart, SecretKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let mut policy = Policy::default();
    /// policy.registration = Registration::EmailConfirmed;
    /// let auth = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::generate())
    ///     .policy(policy)
    ///     .build()?;
    ///
    /// // The register form: a username and an address, no password.
    /// let mail = match auth.start_registration("alice", "alice@example.com").await? {
    ///     RegistrationStart::Confirm(mail) => mail, // mail it a link
    ///     RegistrationStart::AlreadyRegistered { .. } => unreachable!("mail the owner a notice"),
    ///     _ => unreachable!("send nothing"), // MailSuppressed
    /// };
    /// // Whatever the case, the page says "check your inbox".
    /// let link = format!("https://example.com/register/confirm?token={}", mail.token());
    /// # let _ = link;
    ///
    /// // The link's page (GET) shows what it would create...
    /// let pending = auth.check_registration_token(mail.token()).await?;
    /// assert_eq!((pending.username.as_str(), pending.email.as_str()), ("alice", "alice@example.com"));
    /// // ...and its form (POST) sets the password and creates the account, once.
    /// let password = SecretString::from("correct horse battery");
    /// let alice = auth.confirm_registration(mail.token(), &password).await?;
    /// assert_eq!(alice.email, "alice@example.com");
    /// let again = auth.check_registration_token(mail.token()).await;
    /// assert!(matches!(again, Err(Error::RegistrationAlreadyConfirmed)));
    ///
    /// // The same address again: a notice to its owner, the same page.
    /// let taken = auth.start_registration("alicia", "alice@example.com").await?;
    /// assert!(matches!(taken, RegistrationStart::AlreadyRegistered { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_registration(
        &self,
        username: &str,
        email: &str,
    ) -> Result<RegistrationStart> {
        // A span per flow, without personal data (no user id, name or address).
        self.start_registration_in_span(username, email)
            .instrument(tracing::info_span!("twofa", flow = "register"))
            .await
    }

    async fn start_registration_in_span(
        &self,
        username: &str,
        email: &str,
    ) -> Result<RegistrationStart> {
        let (username, username_key, username_skeleton) = normalize_username(username)?;
        let email = normalize_email(email)?;
        let _counted = self.reserve_registration().await?;
        if self
            .users()
            .user_by_username(&username_key)
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        // Counted for a new and a taken address alike, so the budget says
        // nothing about which it is.
        let mail_allowed = self.reserve_own_mail(&email).await?;
        let existing = self.users().user_by_email(&email).await?;
        let token = random_token::<32>();
        let expires_at = self.now().plus(self.inner.policy.registration_token_ttl);
        let pending = PendingRegistration {
            username: username.clone(),
            username_key,
            username_skeleton,
            email: email.clone(),
        };
        // Written for a taken address too (its token is never handed out and
        // the entry expires): the two answers cost the same.
        self.state()
            .put(StateKey::Registration(&token), &pending, expires_at)
            .await?;
        self.emit(AuthEvent::RegistrationStarted {
            existing_user: existing.as_ref().map(|r| r.id),
        })
        .await?;
        if !mail_allowed {
            let mail = match existing {
                Some(_) => MailKind::AlreadyRegistered,
                None => MailKind::RegistrationConfirmation,
            };
            self.mail_suppressed(existing.map(|r| r.id), mail).await?;
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

    /// Checks the token of a confirmation link without using it, for the
    /// page the link opens (answer GET and HEAD with this: it reads and
    /// changes nothing, so a mail scanner opening the link does no harm).
    ///
    /// Returns the account the link would create, or:
    /// - [`Error::RegistrationAlreadyConfirmed`] when the link was used
    ///   (until it would have expired): the account exists, log in;
    /// - [`Error::InvalidConfirmationToken`] for an unknown or expired link;
    /// - [`Error::EmailTaken`] / [`Error::UsernameTaken`] when another
    ///   account took the address or the name since the link was sent.
    ///
    /// See the [`start_registration`](Self::start_registration) example.
    pub async fn check_registration_token(&self, token: &str) -> Result<PendingAccount> {
        let token = link_token(token)?;
        let pending = self.open_registration(token).await?;
        if let Err(taken) = self.check_free(&pending.username_key, &pending.email).await {
            // This very link may have been confirmed since it was read.
            return Err(if self.link_used(token).await? {
                Error::RegistrationAlreadyConfirmed
            } else {
                taken
            });
        }
        Ok(PendingAccount {
            username: pending.username,
            email: pending.email,
        })
    }

    /// Creates the account of a registration started with
    /// [`start_registration`](Self::start_registration), from the token in
    /// its link and the password typed on the link's page (call it from
    /// that page's POST, never from a GET). The password is checked as by
    /// [`register`](Self::register), against the pending username and
    /// address.
    ///
    /// The link works once: of concurrent calls exactly one creates the
    /// account, and the others, like every later call until the link would
    /// have expired, fail with [`Error::RegistrationAlreadyConfirmed`]. It
    /// expires after
    /// [`Policy::registration_token_ttl`](crate::Policy::registration_token_ttl).
    /// Errors are those of
    /// [`check_registration_token`](Self::check_registration_token), and
    /// [`Error::WeakPassword`] for a password the policy refuses. A refused
    /// password, a taken name or address and a store failure leave the link
    /// as it was: nothing is used up unless the account is created.
    pub async fn confirm_registration(&self, token: &str, password: &SecretString) -> Result<User> {
        // A span per flow, without personal data (no user id, name or address).
        self.confirm_registration_in_span(token, password)
            .instrument(tracing::info_span!("twofa", flow = "register"))
            .await
    }

    async fn confirm_registration_in_span(
        &self,
        token: &str,
        password: &SecretString,
    ) -> Result<User> {
        let token = link_token(token)?;
        let pending = self.open_registration(token).await?;
        let pw = password::check_password(
            &self.inner.policy,
            password,
            &[&pending.username, &pending.email],
        )?;
        // Single use, reserved before the hash (reserve, then check): of a
        // burst with one link, one request goes on and the rest are
        // answered at once. The marker outlives the pending entry, so a
        // used link keeps saying so until it would have expired.
        let now = self.now();
        let used_until = now.plus(self.inner.policy.registration_token_ttl);
        if !self
            .state()
            .put_if_absent(StateKey::RegistrationUsed(token), &Marker, used_until, now)
            .await?
        {
            return Err(Error::RegistrationAlreadyConfirmed);
        }
        let created = self.create_confirmed(pending, pw).await;
        match created {
            Ok(user) => {
                // The marker answers for the link from now on; a pending
                // entry left behind by a failed delete is never used again
                // and expires with the link.
                let _ = self.state().delete(StateKey::Registration(token)).await;
                self.emit(AuthEvent::Registered { user: user.id }).await?;
                Ok(user)
            }
            Err(e) => {
                // Nothing was created: hand the link back. Should this
                // delete fail too, the link says "already confirmed" and
                // its owner registers again; no account is at stake.
                let _ = self.state().delete(StateKey::RegistrationUsed(token)).await;
                Err(e)
            }
        }
    }

    /// The pending registration of a link that is valid and unused.
    async fn open_registration(&self, token: &str) -> Result<PendingRegistration> {
        let now = self.now();
        // The entry before the marker: a confirmation sets the marker
        // before it deletes the entry, so a link found without its entry
        // is either used (marker) or unknown, never mistaken for unknown.
        let pending: Option<PendingRegistration> =
            self.state().get(StateKey::Registration(token), now).await?;
        if self.link_used(token).await? {
            return Err(Error::RegistrationAlreadyConfirmed);
        }
        pending.ok_or(Error::InvalidConfirmationToken)
    }

    /// Whether the link was used (its marker is live).
    async fn link_used(&self, token: &str) -> Result<bool> {
        Ok(self
            .state()
            .get::<Marker>(StateKey::RegistrationUsed(token), self.now())
            .await?
            .is_some())
    }

    /// Checks that the name and address are still free, hashes the
    /// password and creates the account.
    async fn create_confirmed(
        &self,
        pending: PendingRegistration,
        password: SecretString,
    ) -> Result<User> {
        self.check_free(&pending.username_key, &pending.email)
            .await?;
        let password_hash = self.inner.hasher.hash(password).await?;
        let rec = self
            .users()
            .create_user(NewUser {
                username: pending.username,
                username_key: pending.username_key,
                username_skeleton: pending.username_skeleton,
                email: pending.email,
                password_hash,
                created_at: self.now(),
            })
            .await?;
        Ok(rec.to_user())
    }
}
