//! The one error type of the crate, and the typed reasons some of its
//! variants carry.

use std::time::Duration;

use crate::event::LimitedAction;

mod provider;
mod reasons;

pub use provider::{ProviderError, ProviderErrorKind};
pub use reasons::{FactorUnavailable, HashProblem, PhoneProblem, UsernameProblem, WeakPassword};

/// A boxed error from a store or a provider. Kept opaque so that the types of
/// `sqlx` or `reqwest` never leak into the public API; a store wraps its
/// own with [`Error::store`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the crate: `Result<T>` is
/// `Result<T, Error>` (see the [`Error`] example).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A wait in whole seconds, rounded up and at least one: "try again in
/// 2 s" must never come before the wait is over.
fn whole_seconds(wait: Duration) -> u128 {
    wait.as_millis().div_ceil(1000).max(1)
}

/// Every failure the crate reports.
///
/// No variant ever carries a password, code, token or secret: the `Display`
/// text of each is safe to log and, for the user-caused ones, to show.
///
/// A login form's handler, for any web framework:
///
/// ```
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, Error, Login};
///
/// /// The status and the page's message for a login attempt.
/// async fn login(auth: &Authenticator, name: &str, password: &SecretString) -> (u16, String) {
///     match auth.login(name, password).await {
///         Ok(Login::Complete(user)) => (200, format!("welcome {}", user.username)),
///         Ok(Login::SecondFactor(_challenge)) => (200, "enter your code".into()),
///         Ok(_) => (500, "unexpected answer".into()), // `Login` is non-exhaustive
///         // Wait a little, or locked for a while: the text says how long.
///         Err(e @ (Error::Delayed { .. } | Error::Locked { .. })) => (429, e.to_string()),
///         // Wrong password, unknown user, malformed input: safe to show.
///         Err(e) if e.is_user_error() => (e.http_status(), e.to_string()),
///         // Store or provider down: log it, show nothing of it.
///         Err(e) => {
///             eprintln!("login failed: {e}");
///             (e.http_status(), "please try again later".into())
///         }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// # let auth = Authenticator::builder()
/// #     .store(twofa_verify::MemoryStore::new())
/// #     .secret_key(twofa_verify::SecretKey::generate())
/// #     .build()?;
/// let wrong = SecretString::from("not the password");
/// assert_eq!(
///     login(&auth, "nobody", &wrong).await,
///     (401, "invalid username or password".to_string())
/// );
/// # Ok(())
/// # }
/// ```
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
    /// A few failures in a row on this account by this identifier (its
    /// username and its email address are counted apart): each further
    /// attempt waits a little longer (from
    /// [`Policy::delay_base`](crate::Policy::delay_base), doubling, up to
    /// [`Policy::delay_max`](crate::Policy::delay_max)). Try again after
    /// `retry_after`: "wait a few seconds".
    #[error("too many failed attempts; try again in {} s", whole_seconds(*retry_after))]
    Delayed {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// Many failures in a row on this account by this identifier
    /// ([`Policy::lock_after_failures`](crate::Policy::lock_after_failures)):
    /// this way of signing in is locked for
    /// [`Policy::lock_duration`](crate::Policy::lock_duration), and the lock
    /// ends by time alone: "locked, try again in 15 minutes".
    ///
    /// The store records whether the wait in force is a delay or a lock, so
    /// a lock reads as `Locked` to its last second, whatever its length.
    #[error("this account is locked after too many failed attempts; try again in {} min", whole_seconds(*retry_after).div_ceil(60))]
    Locked {
        /// How long until the lock ends.
        retry_after: Duration,
    },
    /// A send or request limit was reached; try again after `retry_after`.
    #[error("too many requests; try again in {} s", whole_seconds(*retry_after))]
    RateLimited {
        /// What was limited.
        limit: LimitedAction,
        /// How long until the limit resets.
        retry_after: Duration,
    },
    /// The new password breaks the password policy; the reason says why.
    #[error("weak password: {0}")]
    WeakPassword(WeakPassword),
    /// The username breaks the username rules (RFC 8265, Unicode TR39; see
    /// `user::Username`); the reason says which, in words for the user.
    #[error("invalid username: {0}")]
    InvalidUsername(UsernameProblem),
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
    InvalidPhoneNumber(PhoneProblem),
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
    /// The operation needs a second factor that is not enabled or not
    /// configured (or, enabling one, finds it enabled already).
    #[error("{0}")]
    FactorUnavailable(FactorUnavailable),
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
    /// An imported password hash is in a recognised format but can never
    /// verify, for the reason given (a missing or truncated digest, a bad
    /// salt, impossible parameters): see
    /// [`LegacyHashVerifier::check`](crate::password::LegacyHashVerifier::check).
    /// Have the user reset the password.
    #[error("unusable password hash: {0}")]
    UnusablePasswordHash(HashProblem),
    /// The authenticator or a provider is misconfigured.
    #[error("configuration error: {0}")]
    Config(String),
    /// An internal invariant failed (a background task panicked, a record is corrupt).
    #[error("internal error: {0}")]
    Internal(String),
    /// The passkey response the browser sent is unreadable: not JSON, too
    /// large, or not a WebAuthn credential (feature `passkeys`).
    #[error("the passkey response is malformed")]
    PasskeyMalformed,
    /// The passkey response did not verify: signature, origin, relying
    /// party, challenge, user verification, or a credential this account
    /// or flow does not accept.
    #[error("the passkey was not accepted")]
    PasskeyRejected,
    /// The passkey's signature counter did not advance (a copied
    /// authenticator?): the sign-in is refused.
    #[error("the passkey was not accepted: its signature counter went back")]
    PasskeyCloneSuspected,
    /// This passkey is already registered.
    #[error("this passkey is already registered")]
    PasskeyExists,
    /// The user has no passkey with that id.
    #[error("no such passkey")]
    PasskeyNotFound,
    /// A passkey name was refused (same rules as display text: 1 to 64
    /// characters, no control, direction or invisible characters).
    #[error("invalid passkey name: {0}")]
    InvalidPasskeyName(UsernameProblem),
    /// An admin action's operator name or reason is missing or malformed
    /// ([`Operator::new`](crate::authenticator::Operator::new)); the text
    /// says which rule.
    #[error("invalid operator: {0}")]
    InvalidOperator(&'static str),
}

impl Error {
    /// Wraps any store-side error: what a [`UserStore`](crate::UserStore)
    /// or [`StateStore`](crate::StateStore) implementation returns for its
    /// own failures. Not a user error: its `Display` text includes the
    /// cause's, for the log; the page shows a generic text
    /// ([`ErrorResponse`](crate::web::ErrorResponse) does so).
    ///
    /// ```
    /// use twofa_verify::Error;
    /// let e = Error::store(std::io::Error::other("disk full"));
    /// assert!(!e.is_user_error());
    /// assert_eq!(e.http_status(), 503);
    /// ```
    pub fn store(err: impl Into<BoxError>) -> Self {
        Error::Store(err.into())
    }

    /// True when the caller (the user) caused it, so an app can answer 4xx
    /// rather than 5xx, and show the `Display` text (see the [`Error`]
    /// example).
    ///
    /// ```
    /// use twofa_verify::Error;
    /// assert!(Error::InvalidCredentials.is_user_error());
    /// assert!(!Error::Config("no store".into()).is_user_error());
    /// ```
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Provider(_)
                | Error::Store(_)
                | Error::Config(_)
                | Error::PasswordHashBeyondBound
                | Error::UnusablePasswordHash(_)
                | Error::Internal(_)
        )
    }

    /// For rate limits, delays and locks: how long until a retry can
    /// succeed, for a `Retry-After` header. Also the wait a provider asked
    /// for, when it gave one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofa_verify::Error;
    /// let locked = Error::Locked { retry_after: Duration::from_secs(600) };
    /// assert_eq!(locked.retry_after(), Some(Duration::from_secs(600)));
    /// assert_eq!(Error::InvalidCredentials.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Delayed { retry_after }
            | Error::Locked { retry_after }
            | Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::Provider(p) => p.retry_after,
            _ => None,
        }
    }

    /// The HTTP status code an app answers with, for any web framework
    /// (the `axum` feature's responses use it):
    ///
    /// | Error | Status |
    /// |---|---|
    /// | `InvalidCredentials`, `InvalidCode`, `WrongCode`, `CodeAlreadyUsed` | 401 Unauthorized |
    /// | `ChallengeNotFound`, `ChallengeExpired`, `TooManyAttempts` | 410 Gone: the pending login is over, log in again (401 stays "wrong, try again") |
    /// | `Delayed`, `Locked`, `RateLimited` | 429 Too Many Requests (send [`retry_after`](Self::retry_after) as `Retry-After`) |
    /// | `StepUpRequired` | 403 Forbidden |
    /// | `WeakPassword`, `InvalidUsername`, `InvalidEmail`, `InvalidPhoneNumber`, `MalformedCode` | 422 Unprocessable Content |
    /// | `UsernameTaken`, `EmailTaken`, `FactorUnavailable`, `RegistrationAlreadyConfirmed` | 409 Conflict (with the account's or the site's state) |
    /// | `InvalidResetToken`, `InvalidConfirmationToken` | 400 Bad Request |
    /// | `UserNotFound`, `PasskeyNotFound` | 404 Not Found |
    /// | `PasskeyRejected`, `PasskeyCloneSuspected` | 401 Unauthorized |
    /// | `PasskeyMalformed`, `InvalidPasskeyName` | 400 Bad Request |
    /// | `PasskeyExists` | 409 Conflict |
    /// | `Provider`, `Store` | 503 Service Unavailable (`Retry-After` when the provider gave one) |
    /// | `Config`, `PasswordHashBeyondBound`, `UnusablePasswordHash`, `Internal` | 500 Internal Server Error |
    ///
    /// A 4xx status comes exactly with [`is_user_error`](Self::is_user_error).
    ///
    /// ```
    /// use twofa_verify::Error;
    /// assert_eq!(Error::InvalidCredentials.http_status(), 401);
    /// assert_eq!(Error::store("connection refused").http_status(), 503);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidCredentials
            | Error::InvalidCode { .. }
            | Error::WrongCode
            | Error::CodeAlreadyUsed { .. } => 401,
            Error::ChallengeNotFound | Error::ChallengeExpired | Error::TooManyAttempts => 410,
            Error::Delayed { .. } | Error::Locked { .. } | Error::RateLimited { .. } => 429,
            Error::StepUpRequired => 403,
            Error::PasskeyRejected | Error::PasskeyCloneSuspected => 401,
            Error::PasskeyMalformed | Error::InvalidPasskeyName(_) => 400,
            Error::PasskeyExists => 409,
            Error::PasskeyNotFound => 404,
            Error::WeakPassword(_)
            | Error::InvalidUsername(_)
            | Error::InvalidEmail
            | Error::InvalidPhoneNumber(_)
            | Error::MalformedCode
            | Error::InvalidOperator(_) => 422,
            Error::UsernameTaken
            | Error::EmailTaken
            | Error::FactorUnavailable(_)
            | Error::RegistrationAlreadyConfirmed => 409,
            Error::InvalidResetToken | Error::InvalidConfirmationToken => 400,
            Error::UserNotFound => 404,
            Error::Provider(_) | Error::Store(_) => 503,
            Error::Config(_)
            | Error::PasswordHashBeyondBound
            | Error::UnusablePasswordHash(_)
            | Error::Internal(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Factor;

    #[test]
    fn every_user_error_is_4xx_and_every_other_5xx() {
        let all = [
            Error::InvalidCredentials,
            Error::InvalidCode { attempts_left: 1 },
            Error::WrongCode,
            Error::CodeAlreadyUsed { attempts_left: 1 },
            Error::ChallengeExpired,
            Error::ChallengeNotFound,
            Error::TooManyAttempts,
            Error::Delayed {
                retry_after: Duration::from_secs(1),
            },
            Error::Locked {
                retry_after: Duration::from_secs(1),
            },
            Error::RateLimited {
                limit: LimitedAction::Login,
                retry_after: Duration::from_secs(1),
            },
            Error::WeakPassword(WeakPassword::Common),
            Error::InvalidUsername(UsernameProblem::Empty),
            Error::InvalidEmail,
            Error::UsernameTaken,
            Error::EmailTaken,
            Error::InvalidPhoneNumber(PhoneProblem::NotANumber),
            Error::MalformedCode,
            Error::InvalidResetToken,
            Error::InvalidConfirmationToken,
            Error::RegistrationAlreadyConfirmed,
            Error::UserNotFound,
            Error::StepUpRequired,
            Error::FactorUnavailable(FactorUnavailable::NoFactorEnabled),
            Error::Provider(ProviderError::new(ProviderErrorKind::Timeout)),
            Error::store("down"),
            Error::Config("x".into()),
            Error::PasswordHashBeyondBound,
            Error::UnusablePasswordHash(HashProblem::Digest),
            Error::Internal("x".into()),
        ];
        for e in all {
            let s = e.http_status();
            assert_eq!(e.is_user_error(), (400..500).contains(&s), "{e:?} → {s}");
            assert_eq!(!e.is_user_error(), (500..600).contains(&s), "{e:?} → {s}");
        }
    }

    #[test]
    fn statuses_of_the_table() {
        let cases = [
            (Error::InvalidCode { attempts_left: 3 }, 401),
            (Error::ChallengeExpired, 410),
            (
                Error::Delayed {
                    retry_after: Duration::from_secs(2),
                },
                429,
            ),
            (Error::StepUpRequired, 403),
            (Error::InvalidEmail, 422),
            (Error::EmailTaken, 409),
            (Error::InvalidResetToken, 400),
            (Error::UserNotFound, 404),
            (Error::store("down"), 503),
            (Error::Internal("x".into()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.http_status(), status, "{e:?}");
        }
    }

    #[test]
    fn typed_reasons_read_as_sentences() {
        assert_eq!(
            Error::InvalidUsername(UsernameProblem::Space).to_string(),
            "invalid username: it must not contain spaces"
        );
        assert_eq!(
            Error::InvalidPhoneNumber(PhoneProblem::RefusedByProvider { code: 60200 }).to_string(),
            "invalid phone number: the provider refused this number (code 60200)"
        );
        assert_eq!(
            Error::FactorUnavailable(FactorUnavailable::NotConfigured(Factor::Sms)).to_string(),
            "SMS is not configured"
        );
        assert_eq!(
            Error::Locked {
                retry_after: Duration::from_secs(14 * 60 + 1)
            }
            .to_string(),
            "this account is locked after too many failed attempts; try again in 15 min"
        );
        // Rounded up: 1.2 s left is "2 s", never a "1 s" that ends too soon.
        assert_eq!(
            Error::Delayed {
                retry_after: Duration::from_millis(1_200)
            }
            .to_string(),
            "too many failed attempts; try again in 2 s"
        );
        assert_eq!(
            Error::RateLimited {
                limit: LimitedAction::Login,
                retry_after: Duration::from_millis(59_001)
            }
            .to_string(),
            "too many requests; try again in 60 s"
        );
    }
}
