//! The one error type of the crate.

use std::time::Duration;

/// A boxed error from a store or a provider. Kept opaque so that the types of
/// `sqlx` or `reqwest` never leak into the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the crate reports.
///
/// No variant ever carries a password, code, token or secret: the `Display`
/// text of each is safe to log and, for the user-caused ones, to show.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unknown user or wrong password. Deliberately does not say which.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The second-factor code was wrong; `attempts_left` more tries on this challenge.
    #[error("invalid code ({attempts_left} attempts left)")]
    InvalidCode {
        /// Attempts left on this challenge or enrollment.
        attempts_left: u32,
    },
    /// A provider did not accept a code (it is not the one it sent), as
    /// [`SmsVerifier::check`](crate::factor::SmsVerifier::check) and
    /// `TwilioVerify::check_code` (feature `twilio`) report it,
    /// without a count. The [`Authenticator`](crate::Authenticator) counts
    /// the attempt and answers [`Error::InvalidCode`] instead, so an app
    /// meets this variant only when it calls a provider directly.
    #[error("invalid code")]
    WrongCode,
    /// The authenticator-app code is right but its 30-second time step was
    /// already used (a replay, or a code older than one already accepted):
    /// wait for the next code. Counted as a failure like [`Error::InvalidCode`].
    /// Only someone who typed a valid code learns this, so it tells an
    /// attacker nothing a wrong code would not.
    #[error("this code was already used; wait for the next one ({attempts_left} attempts left)")]
    CodeAlreadyUsed {
        /// Attempts left on this challenge or enrollment.
        attempts_left: u32,
    },
    /// The pending login (or enrollment) expired; log in again.
    #[error("the code has expired; please start again")]
    ChallengeExpired,
    /// The pending login does not exist or was already used.
    #[error("this login attempt is no longer valid; please log in again")]
    ChallengeNotFound,
    /// Too many wrong codes on one challenge; it is gone.
    #[error("too many attempts; please log in again")]
    TooManyAttempts,
    /// Too many failures in a row on this account by this identifier (its
    /// username and its email address are counted apart); try again after
    /// `retry_after`.
    #[error("too many failed attempts; try again in {} s", retry_after.as_secs().max(1))]
    Locked {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// A send or request limit was reached; try again after `retry_after`.
    #[error("too many requests; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// How long until the limit resets.
        retry_after: Duration,
    },
    /// The new password breaks the password policy; the reason says why.
    #[error("weak password: {0}")]
    WeakPassword(WeakPassword),
    /// The username breaks the username rules (RFC 8265, Unicode TR39; see
    /// `user::Username`); the reason says which, in words for the user.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// The email address is malformed.
    #[error("invalid email address")]
    InvalidEmail,
    /// Another account already has this username, or one that looks the
    /// same (equal Unicode TR39 confusable skeleton).
    #[error("this username is already taken")]
    UsernameTaken,
    /// Another account already has this email address.
    #[error("this email address is already registered")]
    EmailTaken,
    /// The phone number could not be parsed or is not a mobile number.
    #[error("invalid phone number: {0}")]
    InvalidPhoneNumber(String),
    /// The code's format is wrong (not digits, wrong length).
    #[error("malformed code")]
    MalformedCode,
    /// The reset token is invalid, expired, already used, or the password changed since.
    #[error("this password reset link is invalid or has expired")]
    InvalidResetToken,
    /// The email-confirmation link is unknown or has expired.
    #[error("this confirmation link is invalid or has expired")]
    InvalidConfirmationToken,
    /// The email-confirmation link was already used: its account exists,
    /// so the answer is "log in". Only the holder of the mailbox has the
    /// link, so saying this tells nobody else anything.
    #[error("this address is already confirmed; please log in")]
    RegistrationAlreadyConfirmed,
    /// The user does not exist (lookups by id, profile updates).
    #[error("user not found")]
    UserNotFound,
    /// The operation needs the password plus a current second factor.
    #[error("please confirm with your password and a current code")]
    StepUpRequired,
    /// The operation needs a second factor that is not enabled or not configured.
    #[error("{0}")]
    FactorUnavailable(&'static str),
    /// The SMS/verification provider failed. Never lets anyone in.
    #[error("verification provider error: {0}")]
    Provider(#[from] ProviderError),
    /// The user or state store failed. Never lets anyone in.
    #[error("store error: {0}")]
    Store(#[source] BoxError),
    /// An imported password hash asks for more work than its legacy
    /// verifier's bound (see [`password::legacy`](crate::password::legacy)):
    /// it could never verify. Raise the bound (unknown-user logins then
    /// cost as much), or have the user reset the password.
    #[error("password hash asks for more work than its verifier's bound")]
    PasswordHashBeyondBound,
    /// The authenticator or a provider is misconfigured.
    #[error("configuration error: {0}")]
    Config(String),
    /// An internal invariant failed (a background task panicked, a record is corrupt).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps any store-side error.
    pub fn store(err: impl Into<BoxError>) -> Self {
        Error::Store(err.into())
    }

    /// True when the caller (the user) caused it, so an app can answer 4xx
    /// rather than 5xx.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Provider(_)
                | Error::Store(_)
                | Error::Config(_)
                | Error::PasswordHashBeyondBound
                | Error::Internal(_)
        )
    }

    /// For rate limits and locks: how long until a retry can succeed.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Locked { retry_after } | Error::RateLimited { retry_after } => {
                Some(*retry_after)
            }
            Error::Provider(p) => p.retry_after,
            _ => None,
        }
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakPassword {
    /// Shorter than the policy's minimum (in characters).
    #[error("it must be at least {0} characters long")]
    TooShort(usize),
    /// Longer than the policy's maximum (in bytes).
    #[error("it must be at most {0} bytes long")]
    TooLong(usize),
    /// On the list of commonly used passwords.
    #[error("it is one of the most commonly used passwords")]
    Common,
    /// Equal to (or contains only) the username or email.
    #[error("it must not be your username or email address")]
    SameAsIdentity,
    /// Made of control characters only or otherwise unusable.
    #[error("it contains characters that cannot be used")]
    InvalidCharacters,
}

/// What went wrong at the verification provider (Twilio Verify or an SMS gateway).
#[derive(Debug, thiserror::Error)]
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
    /// A provider error of the given kind with nothing else known.
    pub fn new(kind: ProviderErrorKind) -> Self {
        ProviderError {
            kind,
            code: None,
            status: None,
            retry_after: None,
            source: None,
        }
    }

    /// True when retrying later may succeed (timeouts, 5xx, provider rate limits).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::Unavailable
                | ProviderErrorKind::Timeout
                | ProviderErrorKind::Throttled
        )
    }
}

/// The class of a [`ProviderError`].
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
