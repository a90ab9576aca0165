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
///
/// ```
/// use twofa_verify::factor::SmsContext;
///
/// /// Remembers which number a verification went to, without storing the
/// /// number: its keyed hash, under the handle, as long as a code lives.
/// async fn remember(ctx: &SmsContext<'_>, handle: &str, phone: &str) -> twofa_verify::Result<()> {
///     let expires_at = ctx.now.plus(ctx.code_ttl);
///     ctx.state.put(&format!("mygateway:{handle}"), &ctx.keyed_hash(phone.as_bytes()), expires_at).await
/// }
/// ```
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
    /// for storing codes without storing the codes themselves (see the
    /// [`SmsContext`] example).
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

/// What [`SmsVerifier::send`] reports about a code it sent (see the
/// [`SmsVerifier`] example).
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
    /// A sent code with `handle`, its channel untold (see the
    /// [`SmsVerifier`] example).
    pub fn new(handle: impl Into<String>) -> Self {
        SentVerification {
            handle: handle.into(),
            channel: None,
        }
    }

    /// The same, with the channel the code went out on (see the
    /// [`SmsVerifier`] example).
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
/// Implement it under [`#[twofa_verify::async_trait]`](crate::async_trait)
/// for a provider that makes and checks the codes itself, as Twilio Verify
/// does (for a gateway that only delivers texts, implement [`SmsSender`]
/// and use [`LocalCodes`]):
///
/// ```
/// use twofa_verify::error::{ProviderError, ProviderErrorKind};
/// use twofa_verify::factor::{SentVerification, SmsContext, SmsVerifier};
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, Error, MemoryStore, Result, SecretKey, StepUp, async_trait};
///
/// /// The provider's client (stubbed: every code is wrong).
/// #[derive(Debug)]
/// struct MyProvider;
/// impl MyProvider {
///     async fn start(&self, _phone: &str) -> std::io::Result<String> { Ok("ver_123".into()) }
///     async fn approve(&self, _id: &str, _code: &str) -> std::io::Result<bool> { Ok(false) }
/// }
///
/// fn unavailable(e: std::io::Error) -> Error {
///     let mut p = ProviderError::new(ProviderErrorKind::Unavailable);
///     p.source = Some(Box::new(e));
///     Error::Provider(p)
/// }
///
/// #[async_trait]
/// impl SmsVerifier for MyProvider {
///     async fn send(&self, phone: &str, _ctx: &SmsContext<'_>) -> Result<SentVerification> {
///         let id = self.start(phone).await.map_err(unavailable)?;
///         Ok(SentVerification::new(id).with_channel("sms"))
///     }
///     async fn check(&self, _phone: &str, handle: &str, code: &str, _ctx: &SmsContext<'_>) -> Result<()> {
///         match self.approve(handle, code).await {
///             Ok(true) => Ok(()),
///             Ok(false) => Err(Error::WrongCode),
///             Err(e) => Err(unavailable(e)), // an outage lets nobody in
///         }
///     }
///     async fn cancel(&self, _phone: &str, _handle: &str, _ctx: &SmsContext<'_>) -> Result<()> {
///         Ok(()) // the provider's verifications expire by themselves
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let auth = Authenticator::builder()
///     .store(MemoryStore::new())
///     .secret_key(SecretKey::generate())
///     .sms(MyProvider)
///     .build()?;
/// # let password = SecretString::from("correct horse battery");
/// # let user = auth.register("alice", "alice@example.com", &password).await?;
/// let step_up = StepUp::password("correct horse battery");
/// auth.start_sms_enrollment(user.id, "+14155552671", &step_up).await?;
/// // The provider says no; the authenticator counts the attempt.
/// let wrong = auth.confirm_sms_enrollment(user.id, &SecretString::from("000000")).await;
/// assert!(matches!(wrong, Err(Error::InvalidCode { .. })));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait SmsVerifier: Send + Sync + fmt::Debug {
    /// Sends a fresh code to `phone` (E.164). Returns the verification's
    /// opaque handle, passed back to [`check`](Self::check), and, when the
    /// provider tells, the channel the code went out on, which may differ
    /// from the configured one when the provider fell back to another (a
    /// voice call for a landline). See the [`SmsVerifier`] example.
    async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> Result<SentVerification>;

    /// Checks `code` against the verification `handle` sent to `phone`.
    /// `Ok(())`: right code, and the verification is used up.
    /// `Err(Error::WrongCode)`: wrong code, the user may try again.
    /// `Err(Error::ChallengeExpired)`: the verification is gone (expired,
    /// used, cancelled). Any other error (a provider or store failure) lets
    /// nobody in. See the [`SmsVerifier`] example.
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

    /// Cancels a pending verification (best effort; used when a challenge
    /// ends). See the [`SmsVerifier`] example.
    async fn cancel(&self, phone: &str, handle: &str, ctx: &SmsContext<'_>) -> Result<()>;
}
