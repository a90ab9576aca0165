//! What a verification provider reported ([`Error::Provider`]).

use std::time::Duration;

use super::BoxError;
#[allow(unused_imports)] // the intra-doc links below
use super::Error;

/// What went wrong at the verification provider (Twilio Verify or an SMS gateway).
///
/// Made with [`ProviderError::new`] and its fields set one by one, so that
/// fields added later do not break a provider's code:
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::Error;
/// use twofa_verify::error::{ProviderError, ProviderErrorKind};
///
/// // An SMS gateway of your own answered 429 with `Retry-After: 30`.
/// let mut e = ProviderError::new(ProviderErrorKind::Throttled);
/// e.status = Some(429);
/// e.retry_after = Some(Duration::from_secs(30));
/// assert!(e.is_retryable());
/// let e = Error::from(e); // what an `SmsVerifier` returns
/// assert_eq!(e.http_status(), 503);
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{kind}{}", code.map(|c| format!(" (provider code {c})")).unwrap_or_default())]
pub struct ProviderError {
    /// The class of failure.
    pub kind: ProviderErrorKind,
    /// The provider's own error code, when it gave one (Twilio's 20003, 60200, ...).
    pub code: Option<u32>,
    /// HTTP status, when the failure came from an HTTP answer.
    pub status: Option<u16>,
    /// For retryable failures: the wait the provider asked for, if any.
    pub retry_after: Option<Duration>,
    /// The underlying error (URL stripped, no credentials).
    #[source]
    pub source: Option<BoxError>,
}

impl ProviderError {
    /// A provider error of the given kind with nothing else known (see the
    /// [`ProviderError`] example).
    pub fn new(kind: ProviderErrorKind) -> Self {
        ProviderError {
            kind,
            code: None,
            status: None,
            retry_after: None,
            source: None,
        }
    }

    /// True when retrying later may succeed (timeouts, 5xx, provider rate
    /// limits); see the [`ProviderError`] example.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::Unavailable
                | ProviderErrorKind::Timeout
                | ProviderErrorKind::Throttled
        )
    }
}

/// The class of a [`ProviderError`]: what an app tells the user (and
/// whether [`ProviderError::is_retryable`]); the `Display` text is for
/// logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// Credentials refused (Twilio 20003).
    #[error("authentication with the provider failed; check the credentials")]
    Authentication,
    /// The provider is misconfigured (channel disabled, 60223).
    #[error("the provider is misconfigured")]
    Misconfigured,
    /// The provider did not answer in time.
    #[error("the provider timed out")]
    Timeout,
    /// The provider could not be reached or answered 5xx.
    #[error("the provider is unavailable")]
    Unavailable,
    /// The provider throttled us (HTTP 429 / 20429).
    #[error("the provider is throttling requests")]
    Throttled,
    /// Delivery refused (fraud guard, geo permissions: 60410, 60605).
    #[error("delivery to this number was refused")]
    DeliveryRefused,
    /// The channel cannot reach this number (SMS to a landline: 60205).
    #[error("this channel is not supported for this number")]
    ChannelUnsupported,
    /// A 2xx answer whose body was not what the API documents.
    #[error("the provider gave an unexpected answer")]
    UnexpectedResponse,
    /// Anything else the provider refused.
    #[error("the provider refused the request")]
    Rejected,
}
