//! Users brought over from another application, with their password hashes.

use std::fmt;

use super::Authenticator;
use crate::error::{Error, HashProblem, Result};
use crate::event::AuthEvent;
use crate::store::NewUser;
use crate::user::{User, normalize_email, normalize_phone, normalize_username};

/// A user from another application, for [`Authenticator::import_user`]
/// (see its example). `Debug` hides the hash.
#[derive(Clone)]
pub struct ImportedUser {
    /// The username (checked like a registration's).
    pub username: String,
    /// The email address (checked like a registration's).
    pub email: String,
    /// The stored hash, as is: an Argon2 PHC string, or a format a
    /// registered [`LegacyHashVerifier`](crate::password::LegacyHashVerifier) recognizes.
    pub password_hash: String,
    /// A phone number the old application verified: becomes the user's
    /// enabled SMS factor (normalised to E.164).
    pub phone: Option<String>,
}

impl fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("phone", &self.phone.as_deref().map(crate::user::mask_phone))
            .finish()
    }
}

impl Authenticator {
    /// Creates a user with an existing password hash (and optionally a
    /// verified phone as SMS factor), for migrations. The username and
    /// email are checked as [`register`](Self::register) checks them; the
    /// password policy is not (the password is unknown), and the first
    /// login replaces a legacy hash with Argon2id.
    ///
    /// Errors: [`Error::InvalidUsername`], [`Error::InvalidEmail`],
    /// [`Error::InvalidPhoneNumber`], [`Error::UsernameTaken`],
    /// [`Error::EmailTaken`], [`Error::Config`] when no registered
    /// verifier recognizes the hash, [`Error::PasswordHashBeyondBound`]
    /// when it asks for more work than the verifier's bound, and
    /// [`Error::UnusablePasswordHash`] when it could never verify for
    /// another reason (a missing or truncated digest, an empty salt,
    /// impossible parameters; see [`legacy`](crate::password::legacy)): an
    /// account that could never log in is not made. Not rate-limited: an
    /// operator's tool, not for requests from clients.
    ///
    /// ```
    /// use twofa_verify::password::legacy::WerkzeugPbkdf2;
    /// use twofa_verify::secrecy::SecretString;
    /// use twofa_verify::{Authenticator, ImportedUser, Login, MemoryStore, SecretKey, UserStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> twofa_verify::Result<()> {
    /// let store = MemoryStore::new();
    /// let auth = Authenticator::builder()
    ///     .store(store.clone())
    ///     .secret_key(SecretKey::generate())
    ///     .legacy_verifier(WerkzeugPbkdf2::new()) // feature `legacy-hashes`
    ///     .build()?;
    ///
    /// // A row of the old Flask app's `user` table.
    /// let alice = auth
    ///     .import_user(ImportedUser {
    ///         username: "alice".into(),
    ///         email: "alice@example.com".into(),
    ///         password_hash: "pbkdf2:sha256:150000$Vq3xYb7LmN2pQr8T$\
    ///             0246befa15e73937d0a269a8a2a1c362480d3c19fb978a887396b02ba33b9512"
    ///             .into(),
    ///         phone: None, // a number the old app verified becomes the SMS factor
    ///     })
    ///     .await?;
    ///
    /// // Her old password works, and her first login moves her to Argon2id.
    /// let password = SecretString::from("werkzeug-user-pw-8");
    /// assert!(matches!(auth.login("alice", &password).await?, Login::Complete(_)));
    /// let record = store.user_by_id(alice.id).await?.expect("imported");
    /// assert!(record.password_hash.starts_with("$argon2id$"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn import_user(&self, user: ImportedUser) -> Result<User> {
        let (username, username_key, username_skeleton) = normalize_username(&user.username)?;
        let email = normalize_email(&user.email)?;
        if !self.inner.hasher.recognizes(&user.password_hash) {
            return Err(Error::Config(
                "password hash format not recognized: register a legacy verifier for it".into(),
            ));
        }
        match self.inner.hasher.check(&user.password_hash) {
            Ok(()) => {}
            Err(HashProblem::BeyondBound) => return Err(Error::PasswordHashBeyondBound),
            Err(problem) => return Err(Error::UnusablePasswordHash(problem)),
        }
        let phone = user
            .phone
            .as_deref()
            .map(|p| normalize_phone(p, self.inner.policy.default_phone_region.as_deref()))
            .transpose()?;
        self.check_free(&username_key, &email).await?;
        let rec = self
            .users()
            .create_user(NewUser {
                username,
                username_key,
                username_skeleton,
                email,
                password_hash: user.password_hash,
                created_at: self.now(),
            })
            .await?;
        if let Some(phone) = &phone {
            self.users().set_phone(rec.id, Some(phone)).await?;
        }
        self.emit(AuthEvent::UserImported {
            user: rec.id,
            sms: phone.is_some(),
        })
        .await?;
        Ok(self.record(rec.id).await?.to_user())
    }
}
