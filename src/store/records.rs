//! The records a [`UserStore`](super::UserStore) keeps and returns: a user,
//! a remembered device, a sealed secret, and a new user to insert. Their
//! `Debug` hides hashes and secrets and masks phone numbers.

use std::fmt;

use crate::clock::Timestamp;
// The docs link to the trait these records are for.
#[cfg(doc)]
use super::UserStore;
use crate::user::{User, UserId};

/// A user as stored, including the password hash and factor data: what a
/// [`UserStore`] keeps and returns (see its example). `Debug` hides the
/// hash and masks the phone.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The store's id.
    pub id: UserId,
    /// Display username.
    pub username: String,
    /// Case-mapped username (RFC 8265), unique.
    pub username_key: String,
    /// TR39 confusable skeleton of `username_key`, unique when present.
    /// `None` only for a row written before skeletons existed whose
    /// skeleton equals an older user's (the store's backfill leaves it empty).
    pub username_skeleton: Option<String>,
    /// Lower-case email, unique.
    pub email: String,
    /// PHC string of the password hash.
    pub password_hash: String,
    /// E.164 phone of the enabled SMS factor.
    pub phone: Option<String>,
    /// Encrypted TOTP secret of the enabled authenticator-app factor.
    pub totp: Option<StoredSecret>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Goes up by one at every change of a credential or factor and at
    /// "sign out everywhere"; sessions, pending logins and remembered
    /// devices made under an older value are void.
    pub credential_generation: i64,
    /// How many passkeys the user has (the store keeps it with the
    /// passkeys; 0 in a store without them).
    pub passkeys: u32,
}

impl UserRecord {
    /// The application-facing view (no hash, no secret), as the
    /// authenticator's calls return it (see the [`UserStore`] example).
    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            totp_enabled: self.totp.is_some(),
            passkeys: self.passkeys,
            created_at: self.created_at,
            generation: self.credential_generation,
        }
    }
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("phone", &self.phone.as_deref().map(crate::user::mask_phone))
            .field("totp", &self.totp)
            .field("created_at", &self.created_at)
            .field("credential_generation", &self.credential_generation)
            .finish()
    }
}

/// A remembered device ("remember this device"): the keyed hash of its
/// token, never the token.
///
/// The authenticator writes these
/// ([`Authenticator::remember_device`](crate::Authenticator::remember_device));
/// a store keeps them:
///
/// ```
/// use twofa_verify::store::{DeviceRecord, NewUser, UserStore};
/// use twofa_verify::{MemoryStore, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// let store = MemoryStore::new();
/// # let alice = store.create_user(NewUser {
/// #     username: "alice".into(), username_key: "alice".into(),
/// #     username_skeleton: twofa_verify::user::username_skeleton("alice"),
/// #     email: "alice@example.com".into(), password_hash: "$argon2id$...".into(),
/// #     created_at: Timestamp::from_millis(0),
/// # }).await?;
/// let t = Timestamp::from_millis;
/// let laptop = DeviceRecord {
///     id: "dev_7f3a".into(),
///     user: alice.id,
///     token_hash: [7; 32], // the keyed hash of the cookie's token
///     credential_generation: alice.credential_generation,
///     label: "Firefox on Linux".into(),
///     created_at: t(1_000),
///     last_used_at: t(1_000),
///     expires_at: t(1_000 + 30 * 24 * 3600 * 1000),
/// };
/// store.add_device(&laptop).await?;
/// store.touch_device(&[7; 32], t(2_000)).await?;
/// let found = store.device_by_token(&[7; 32]).await?.expect("remembered");
/// assert_eq!(found.last_used_at, t(2_000));
/// assert_eq!(store.devices(alice.id).await?.len(), 1);
/// assert!(store.remove_device(alice.id, "dev_7f3a").await?);
/// assert_eq!(store.remove_devices(alice.id).await?, 0); // none left
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Public id, for listing and revoking (random, not derived from the token).
    pub id: String,
    /// The account.
    pub user: UserId,
    /// Keyed hash of the device token.
    pub token_hash: [u8; 32],
    /// The account's credential generation when it was remembered.
    pub credential_generation: i64,
    /// A label from the user agent, e.g. "Firefox on Linux".
    pub label: String,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it last skipped a second factor.
    pub last_used_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("token_hash", &"[redacted]")
            .field("credential_generation", &self.credential_generation)
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A secret encrypted at rest (AEAD), with the id of the key that sealed it:
/// a TOTP secret, kept by [`UserStore::set_totp`] (see the [`UserStore`]
/// example) and opened only by the authenticator.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSecret {
    /// Which application key sealed it (for key rotation).
    pub key_id: u32,
    /// Nonce followed by ciphertext and tag.
    pub sealed: Vec<u8>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("key_id", &self.key_id)
            .field("sealed", &format_args!("[{} bytes]", self.sealed.len()))
            .finish()
    }
}

/// What [`UserStore::create_user`] needs (see the [`UserStore`] example).
#[derive(Clone)]
pub struct NewUser {
    /// Display username.
    pub username: String,
    /// Case-mapped username (RFC 8265), unique.
    pub username_key: String,
    /// TR39 confusable skeleton of `username_key`
    /// ([`username_skeleton`](crate::user::username_skeleton)), unique.
    pub username_skeleton: String,
    /// Lower-case email (unique).
    pub email: String,
    /// PHC string of the password hash.
    pub password_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
}

impl NewUser {
    /// The record of this user as [`UserStore::create_user`] returns it,
    /// once the store has given it `id`: no factors yet, credential
    /// generation 0: what a store's `create_user` can return.
    ///
    /// ```
    /// use twofa_verify::store::NewUser;
    /// use twofa_verify::{Timestamp, UserId};
    /// let new = NewUser {
    ///     username: "Alice".into(),
    ///     username_key: "alice".into(),
    ///     username_skeleton: twofa_verify::user::username_skeleton("alice"),
    ///     email: "alice@example.com".into(),
    ///     password_hash: "$argon2id$...".into(),
    ///     created_at: Timestamp::from_millis(0),
    /// };
    /// let record = new.into_record(UserId(1)); // the id the database gave the row
    /// assert_eq!((record.credential_generation, record.phone, record.totp), (0, None, None));
    /// ```
    pub fn into_record(self, id: UserId) -> UserRecord {
        UserRecord {
            id,
            username: self.username,
            username_key: self.username_key,
            username_skeleton: Some(self.username_skeleton),
            email: self.email,
            password_hash: self.password_hash,
            phone: None,
            totp: None,
            created_at: self.created_at,
            credential_generation: 0,
            passkeys: 0,
        }
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("username_skeleton", &self.username_skeleton)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}
