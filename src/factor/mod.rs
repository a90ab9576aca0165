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

/// What [`SmsVerifier::send_verification`] reports about a code it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentVerification {
    /// The opaque handle of the verification, as [`SmsVerifier::send`]
    /// returns it.
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
/// use twofa_verify::factor::{SmsContext, SmsVerifier};
///
/// #[derive(Debug)]
/// struct MyGateway;
///
/// #[async_trait]
/// impl SmsVerifier for MyGateway {
///     async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> twofa_verify::Result<String> {
///         Ok("handle".into())
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
    /// Sends a fresh code to `phone` (E.164). Returns an opaque handle for
    /// this verification (Twilio's `VE…` sid, or a local id), kept with the
    /// pending login and passed back to [`check`](Self::check).
    async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> Result<String>;

    /// Sends a code like [`send`](Self::send), and also tells the channel it
    /// went out on, which may differ from the configured one when the
    /// provider fell back to another (a voice call for a landline).
    ///
    /// The default calls `send` and leaves the channel untold; providers that
    /// know it override this.
    async fn send_verification(
        &self,
        phone: &str,
        ctx: &SmsContext<'_>,
    ) -> Result<SentVerification> {
        self.send(phone, ctx).await.map(SentVerification::new)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A provider that only implements `send`.
    #[derive(Debug)]
    struct Fixed;

    #[async_trait]
    impl SmsVerifier for Fixed {
        async fn send(&self, _phone: &str, _ctx: &SmsContext<'_>) -> Result<String> {
            Ok("handle-1".into())
        }
        async fn check(
            &self,
            _phone: &str,
            _handle: &str,
            _code: &str,
            _ctx: &SmsContext<'_>,
        ) -> Result<()> {
            Err(crate::Error::WrongCode)
        }
        async fn cancel(&self, _phone: &str, _handle: &str, _ctx: &SmsContext<'_>) -> Result<()> {
            Ok(())
        }
    }

    /// The default `send_verification` sends through `send` and leaves the
    /// channel untold.
    #[tokio::test]
    async fn send_verification_defaults_to_send() {
        let store = MemoryStore::new();
        let keys = crate::crypto::Keys::new(secrecy::SecretSlice::from(vec![7u8; 32]));
        let ctx = SmsContext {
            state: &store,
            now: Timestamp::from_millis(1_700_000_000_000),
            code_ttl: std::time::Duration::from_secs(600),
            hasher: &keys,
        };
        let v: &dyn SmsVerifier = &Fixed;
        let sent = v.send_verification("+14155552671", &ctx).await.unwrap();
        assert_eq!(sent.handle, "handle-1");
        assert_eq!(sent.channel, None);
    }
}
