//! The passkeys a [`UserStore`](super::UserStore) keeps: one
//! [`PasskeyRecord`] per credential, its id unique across users, and the
//! compare-and-set that records a use.

use std::fmt;

use crate::clock::Timestamp;
use crate::user::UserId;

/// A stored passkey (WebAuthn credential) of a user: its public key and
/// counter as webauthn-rs serialised them, and what a profile page lists.
/// No private key material exists on the server. `Debug` leaves out the
/// serialised credential.
///
/// ```
/// use twofa_verify::Timestamp;
/// use twofa_verify::UserId;
/// use twofa_verify::store::PasskeyRecord;
/// let record = PasskeyRecord {
///     user: UserId(1),
///     credential_id: vec![1, 2, 3],
///     name: "MacBook".into(),
///     credential: "{...}".into(),
///     counter: 0,
///     backup_eligible: true,
///     backed_up: true,
///     created_at: Timestamp::from_millis(0),
///     last_used_at: None,
/// };
/// assert!(!format!("{record:?}").contains("{...}"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The owner.
    pub user: UserId,
    /// The credential id the authenticator chose: unique across users.
    pub credential_id: Vec<u8>,
    /// The name the user gave it.
    pub name: String,
    /// The credential (public key, algorithm, counter, flags) as
    /// webauthn-rs serialises it, JSON.
    pub credential: String,
    /// The last signature counter seen (0 for authenticators without one).
    pub counter: u32,
    /// The authenticator may sync it.
    pub backup_eligible: bool,
    /// It is synced now.
    pub backed_up: bool,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

impl fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("user", &self.user)
            .field("credential_id_len", &self.credential_id.len())
            .field("name", &self.name)
            .field("counter", &self.counter)
            .field("backup_eligible", &self.backup_eligible)
            .field("backed_up", &self.backed_up)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// A use of a passkey to record with
/// [`UserStore::record_passkey_use`](super::UserStore::record_passkey_use):
/// written only if `counter` moves the stored counter forward (or both are
/// 0, for authenticators without a counter), in one atomic step.
///
/// ```
/// use twofa_verify::Timestamp;
/// use twofa_verify::store::PasskeyUse;
/// let used = PasskeyUse { counter: 7, backed_up: true, credential: "{...}".into(), at: Timestamp::from_millis(0) };
/// assert_eq!(used.counter, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The counter the authenticator reported.
    pub counter: u32,
    /// Whether it is synced now.
    pub backed_up: bool,
    /// The credential as updated by webauthn-rs.
    pub credential: String,
    /// When.
    pub at: Timestamp,
}

/// Whether a use moves a stored counter forward: a nonzero counter must
/// grow; a credential without a counter (0 then 0) is always accepted.
/// Every store applies this rule, inside its atomic update.
///
/// ```
/// use twofa_verify::store::passkey_counter_advances;
/// assert!(passkey_counter_advances(0, 0));
/// assert!(passkey_counter_advances(4, 5));
/// assert!(!passkey_counter_advances(5, 5));
/// assert!(!passkey_counter_advances(5, 0));
/// ```
pub fn passkey_counter_advances(stored: u32, reported: u32) -> bool {
    reported > stored || (stored == 0 && reported == 0)
}
