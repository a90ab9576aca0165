//! The values kept in the state store, each with its encoding: the
//! records of the flows (pending logins, SMS codes, enrollments,
//! registrations, links) as JSON, and the few fixed binary values. The
//! encodings are the format of data already stored: the tests below pin
//! them.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{Lockout, StoredSecret};
use crate::user::UserId;

/// A value kept in the state store, with its encoding.
pub(in crate::authenticator) trait StateValue: Sized {
    /// The stored bytes.
    fn encode(&self) -> Result<Vec<u8>>;
    /// The value of stored bytes; `None` when they are not one (an entry
    /// that cannot be read is treated as absent).
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// JSON, the encoding of every record.
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("state encoding: {e}")))
}

fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

macro_rules! json_values {
    ($($t:ty),*) => {$(
        impl StateValue for $t {
            fn encode(&self) -> Result<Vec<u8>> {
                to_json(self)
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                from_json(bytes)
            }
        }
    )*};
}

json_values!(
    ChallengeRecord,
    SentCode,
    PendingSms,
    PendingRegistration,
    StoredSecret,
    LiveLink
);

/// A single-use marker: its presence is all it says.
pub(in crate::authenticator) struct Marker;

impl StateValue for Marker {
    fn encode(&self) -> Result<Vec<u8>> {
        Ok(vec![1])
    }
    fn decode(_: &[u8]) -> Option<Self> {
        Some(Marker)
    }
}

/// The value of a lockout's gate: when its wait ends and whether it is a
/// lock (the layout of [`Lockout::gate_value`]; unreadable bytes hold a
/// lock until the entry expires).
pub(in crate::authenticator) struct Gate {
    pub(in crate::authenticator) until: Timestamp,
    pub(in crate::authenticator) lock: bool,
}

impl StateValue for Gate {
    fn encode(&self) -> Result<Vec<u8>> {
        Ok(Lockout::gate_value(self.until, self.lock).to_vec())
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (until, lock) = Lockout::read_gate(bytes);
        Some(Gate { until, lock })
    }
}

/// A pending login, kept under [`StateKey::Challenge`](super::StateKey) of
/// its token.
#[derive(Serialize, Deserialize)]
pub(in crate::authenticator) struct ChallengeRecord {
    pub(in crate::authenticator) user: UserId,
    pub(in crate::authenticator) expires_at: Timestamp,
    pub(in crate::authenticator) sms: Option<SentCode>,
    /// The credential generation the password was checked at: a login
    /// started before a reset or a factor change cannot be finished after it.
    #[serde(default)]
    pub(in crate::authenticator) generation: i64,
}

impl ChallengeRecord {
    /// How long the store keeps it: an hour past expiry, so an expired
    /// challenge says "expired", not "not found".
    pub(in crate::authenticator) fn kept_until(&self) -> Timestamp {
        self.expires_at.plus(Duration::from_secs(3600))
    }
}

/// An SMS code sent: inside a pending login, or alone as the last step-up
/// code of an account ([`StateKey::StepUpSms`](super::StateKey)).
#[derive(Serialize, Deserialize, Clone)]
pub(in crate::authenticator) struct SentCode {
    pub(in crate::authenticator) phone: String,
    pub(in crate::authenticator) handle: String,
    pub(in crate::authenticator) sent_at: Timestamp,
    /// The channel the code went out on, when the provider told; only for
    /// the answer to the send, not kept.
    #[serde(skip)]
    pub(in crate::authenticator) channel: Option<&'static str>,
}

/// An SMS enrollment waiting for its code, kept under
/// [`StateKey::SmsEnrollment`](super::StateKey).
#[derive(Serialize, Deserialize)]
pub(in crate::authenticator) struct PendingSms {
    pub(in crate::authenticator) phone: String,
    pub(in crate::authenticator) handle: String,
    pub(in crate::authenticator) expires_at: Timestamp,
}

/// A registration waiting for its link, kept in the state store under the
/// keyed hash of the token. It holds no password: the account's password is
/// typed on the link's page. (Entries written by earlier versions also hold
/// a `password_hash`, which is ignored.)
#[derive(Serialize, Deserialize)]
pub(in crate::authenticator) struct PendingRegistration {
    pub(in crate::authenticator) username: String,
    pub(in crate::authenticator) username_key: String,
    pub(in crate::authenticator) username_skeleton: String,
    pub(in crate::authenticator) email: String,
}

/// The live emailed link of a user (a password reset or an email change):
/// only the newest one issued works.
#[derive(Serialize, Deserialize)]
pub(in crate::authenticator) struct LiveLink {
    /// Keyed hash of the link's token (a reset link: its MAC).
    pub(in crate::authenticator) hash: [u8; 32],
    /// When the link stops working.
    pub(in crate::authenticator) expires_at: Timestamp,
    /// The user's credential generation when the link was issued.
    pub(in crate::authenticator) generation: i64,
    /// The address an email-change link moves the account to.
    #[serde(default)]
    pub(in crate::authenticator) email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_their_encodings() {
        let until = Timestamp::from_millis(1_700_000_000_123);
        for lock in [false, true] {
            let bytes = Gate { until, lock }.encode().unwrap();
            assert_eq!(bytes[..8], 1_700_000_000_123i64.to_be_bytes());
            assert_eq!(bytes[8], u8::from(lock));
            let read = Gate::decode(&bytes).unwrap();
            assert_eq!((read.until, read.lock), (until, lock));
        }
        // Unreadable gate bytes hold a lock until the entry expires.
        for bad in [&b"bad"[..], &1_700_000_000_123i64.to_be_bytes()[..]] {
            let read = Gate::decode(bad).unwrap();
            assert_eq!(
                (read.until, read.lock),
                (Timestamp::from_millis(i64::MAX), true)
            );
        }
        assert_eq!(Marker.encode().unwrap(), vec![1]);
        let rec = ChallengeRecord {
            user: UserId(9),
            expires_at: until,
            sms: None,
            generation: 3,
        };
        let json = rec.encode().unwrap();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"user":9,"expires_at":1700000000123,"sms":null,"generation":3}"#
        );
        let back = ChallengeRecord::decode(&json).unwrap();
        assert_eq!((back.user, back.generation), (UserId(9), 3));
        assert!(ChallengeRecord::decode(b"not json").is_none());
    }

    /// Entries written before the password moved to the link's page hold
    /// the hash of the password typed on the register form: they are still
    /// read (their links keep working), and that hash is dropped, so the
    /// account gets the password typed on the link's page.
    #[test]
    fn pending_registrations_of_earlier_versions_lose_their_password() {
        let earlier = br#"{"username":"ann","username_key":"ann","username_skeleton":"ann","email":"ann@example.com","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}"#;
        let pending = PendingRegistration::decode(earlier).expect("readable");
        assert_eq!(pending.email, "ann@example.com");
        let now = String::from_utf8(pending.encode().unwrap()).unwrap();
        assert!(!now.contains("password"), "{now}");
        assert!(!now.contains("argon2"), "{now}");
    }
}
