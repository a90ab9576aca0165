//! Second-factor providers: SMS verification (Twilio Verify or local codes
//! over any [`SmsSender`]), authenticator apps (TOTP) and recovery codes.

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::store::StateStore;

mod local;
pub use local::{ConsoleSms, LocalCodes, SentSms, SmsSender};

#[cfg(feature = "twilio")]
mod twilio;
#[cfg(feature = "twilio")]
pub use twilio::{Channel, TwilioVerify, TwilioVerifyBuilder};

#[cfg(feature = "totp")]
pub(crate) mod totp;
#[cfg(feature = "totp")]
pub use totp::{TotpEnrollment, code_at as totp_code};

pub(crate) mod recovery;
pub use recovery::RecoveryCodes;

/// What an [`SmsVerifier`] is handed for one operation: the state store it
/// may keep codes in, the current time, and a keyed hash for codes.
pub struct SmsContext<'a> {
    /// The authenticator's state store.
    pub state: &'a dyn StateStore,
    /// The current time (from the authenticator's clock).
    pub now: Timestamp,
    /// How long a code may live.
    pub code_ttl: std::time::Duration,
    pub(crate) hasher: &'a crate::crypto::Keys,
}

impl SmsContext<'_> {
    /// A keyed hash (HMAC-SHA-256 under the application's secret) of `data`,
    /// for storing codes without storing the codes themselves.
    pub fn keyed_hash(&self, data: &[u8]) -> [u8; 32] {
        self.hasher.mac(b"sms-code", data)
    }
}

impl fmt::Debug for SmsContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsContext")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Sends one-time codes by SMS (or call, WhatsApp) and checks them.
///
/// Implemented by [`TwilioVerify`] (Twilio makes, sends and counts the code)
/// and [`LocalCodes`] (the library makes the code and sends the text through
/// any [`SmsSender`]). Failures are errors, never a successful check: a
/// provider outage cannot let anyone in.
#[async_trait]
pub trait SmsVerifier: Send + Sync + fmt::Debug {
    /// Sends a fresh code to `phone` (E.164). Returns an opaque handle for
    /// this verification (Twilio's `VE…` sid, or a local id), kept with the
    /// pending login and passed back to [`check`](Self::check).
    async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> Result<String>;

    /// Checks `code` against the verification `handle` sent to `phone`.
    /// `Ok(true)`: right code, and the verification is used up. `Ok(false)`:
    /// wrong code. `Err(Error::ChallengeExpired)`: the verification is gone
    /// (expired, used, cancelled).
    async fn check(
        &self,
        phone: &str,
        handle: &str,
        code: &str,
        ctx: &SmsContext<'_>,
    ) -> Result<bool>;

    /// Cancels a pending verification (best effort; used when a challenge ends).
    async fn cancel(&self, phone: &str, handle: &str, ctx: &SmsContext<'_>) -> Result<()>;
}
