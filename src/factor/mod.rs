//! Second-factor providers: SMS verification (Twilio Verify or local codes
//! over any [`SmsSender`]), authenticator apps (TOTP) and recovery codes.

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::store::StateStore;

mod line;
mod local;
pub use line::LineType;
pub use local::{ConsoleSms, LocalCodes, SentSms, SmsSender};

#[cfg(feature = "twilio")]
mod twilio;
#[cfg(feature = "twilio")]
pub use twilio::{Channel, StartedVerification, TwilioVerify, TwilioVerifyBuilder};

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

/// What [`SmsVerifier::send`] reports about a code it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentVerification {
    /// The opaque handle of the verification (Twilio's `VE…` sid, or a
    /// local id), kept with the pending login and passed back to
    /// [`SmsVerifier::check`].
    pub handle: String,
    /// How the code was delivered, in the provider's words (Twilio: `sms`,
    /// `call`, `whatsapp`), when the provider tells. It is not the
    /// configured channel when the provider fell back to another one.
    pub channel: Option<&'static str>,
}

impl SentVerification {
    /// A sent code with `handle`, its channel untold.
    pub fn new(handle: impl Into<String>) -> Self {
        SentVerification {
            handle: handle.into(),
            channel: None,
        }
    }

    /// The same, with the channel the code went out on.
    pub fn with_channel(mut self, channel: &'static str) -> Self {
        self.channel = Some(channel);
        self
    }
}

/// Sends one-time codes by SMS (or call, WhatsApp) and checks them.
///
/// Implemented by [`TwilioVerify`] (Twilio makes, sends and counts the code)
/// and [`LocalCodes`] (the library makes the code and sends the text through
/// any [`SmsSender`]). Failures are errors, never a successful check: a
/// provider outage cannot let anyone in.
///
/// Implement it under [`#[twofa_verify::async_trait]`](crate::async_trait):
///
/// ```
/// use twofa_verify::async_trait;
/// use twofa_verify::factor::{SentVerification, SmsContext, SmsVerifier};
///
/// #[derive(Debug)]
/// struct MyGateway;
///
/// #[async_trait]
/// impl SmsVerifier for MyGateway {
///     async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> twofa_verify::Result<SentVerification> {
///         Ok(SentVerification::new("handle"))
///     }
///     async fn check(&self, phone: &str, handle: &str, code: &str, ctx: &SmsContext<'_>) -> twofa_verify::Result<()> {
///         Err(twofa_verify::Error::WrongCode)
///     }
///     async fn cancel(&self, phone: &str, handle: &str, ctx: &SmsContext<'_>) -> twofa_verify::Result<()> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait SmsVerifier: Send + Sync + fmt::Debug {
    /// Sends a fresh code to `phone` (E.164). Returns the verification's
    /// opaque handle, passed back to [`check`](Self::check), and, when the
    /// provider tells, the channel the code went out on, which may differ
    /// from the configured one when the provider fell back to another (a
    /// voice call for a landline).
    async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> Result<SentVerification>;

    /// Checks `code` against the verification `handle` sent to `phone`.
    /// `Ok(())`: right code, and the verification is used up.
    /// `Err(Error::WrongCode)`: wrong code, the user may try again.
    /// `Err(Error::ChallengeExpired)`: the verification is gone (expired,
    /// used, cancelled). Any other error (a provider or store failure) lets
    /// nobody in.
    ///
    /// [`Error::WrongCode`]: crate::Error::WrongCode
    /// [`Error::ChallengeExpired`]: crate::Error::ChallengeExpired
    async fn check(
        &self,
        phone: &str,
        handle: &str,
        code: &str,
        ctx: &SmsContext<'_>,
    ) -> Result<()>;

    /// Cancels a pending verification (best effort; used when a challenge ends).
    async fn cancel(&self, phone: &str, handle: &str, ctx: &SmsContext<'_>) -> Result<()>;
}
