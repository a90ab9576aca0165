//! Timed access to the user store: every call of the flows passes through
//! [`Users`], which forwards it to the store and, with feature `metrics`,
//! records its time in the histogram `twofa_user_store_seconds` labelled by
//! the operation (a fixed word), as `state` does for the state store.
//!
//! The methods are written out, one per trait method the flows call, with
//! the trait's own signature: a call the list lacks does not compile, so no
//! call can go around the histogram, and no forwarding wrapper stands
//! between the flows and a store's own implementation of a method.

use super::state::timed;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::policy::RequiredSignIns;
#[cfg(feature = "passkeys")]
use crate::store::PasskeyUse;
use crate::store::{DeviceRecord, NewUser, PasskeyRecord, StoredSecret, UserRecord, UserStore};
use crate::user::UserId;

/// The histogram of the user store's calls.
const HISTOGRAM: &str = "twofa_user_store_seconds";

/// The user store, timed.
#[derive(Clone, Copy)]
pub(super) struct Users<'a>(pub(super) &'a dyn UserStore);

/// Writes `Users`' methods: each forwards to the store's method of the
/// same name under `timed`.
macro_rules! timed_methods {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        impl Users<'_> {
            $(
                pub(super) async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    timed(HISTOGRAM, stringify!($name), self.0.$name($($arg),*)).await
                }
            )*
        }
    };
}

timed_methods! {
    create_user(user: NewUser) -> UserRecord;
    user_by_id(id: UserId) -> Option<UserRecord>;
    user_by_username(username_key: &str) -> Option<UserRecord>;
    user_by_email(email: &str) -> Option<UserRecord>;
    user_by_phone(phone: &str) -> Option<UserRecord>;
    set_password_hash(id: UserId, hash: &str) -> bool;
    replace_password_hash(id: UserId, expected: &str, hash: &str) -> bool;
    update_profile(
        id: UserId,
        username: &str,
        username_key: &str,
        username_skeleton: Option<&str>,
        email: &str
    ) -> ();
    set_phone(id: UserId, phone: Option<&str>) -> ();
    set_totp(id: UserId, secret: Option<&StoredSecret>) -> ();
    replace_recovery_codes(id: UserId, hashes: &[[u8; 32]]) -> ();
    use_recovery_code(id: UserId, hash: &[u8; 32]) -> bool;
    recovery_codes_left(id: UserId) -> usize;
    bump_credential_generation(id: UserId) -> i64;
    add_device(device: &DeviceRecord) -> ();
    device_by_token(token_hash: &[u8; 32]) -> Option<DeviceRecord>;
    touch_device(token_hash: &[u8; 32], now: Timestamp) -> ();
    devices(user: UserId) -> Vec<DeviceRecord>;
    remove_device(user: UserId, device_id: &str) -> bool;
    remove_devices(user: UserId) -> u64;
    record_unenrolled_sign_in(user: UserId, now: Timestamp) -> RequiredSignIns;
    passkeys(user: UserId) -> Vec<PasskeyRecord>;
    remove_passkey(user: UserId, credential_id: &[u8]) -> bool;
}

// The passkey ceremonies' own calls.
#[cfg(feature = "passkeys")]
timed_methods! {
    add_passkey(passkey: &PasskeyRecord) -> ();
    passkey_by_credential(credential_id: &[u8]) -> Option<PasskeyRecord>;
    record_passkey_use(user: UserId, credential_id: &[u8], used: &PasskeyUse) -> bool;
    rename_passkey(user: UserId, credential_id: &[u8], name: &str) -> bool;
}
