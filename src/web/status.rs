//! HTTP answers for the crate's errors, for any framework.

use crate::error::Error;

/// The body of 503 answers: no detail about the provider or the store.
const UNAVAILABLE: &str = "the service is temporarily unavailable; please try again later";
/// The body of 500 answers.
const INTERNAL: &str = "internal server error";

/// What to answer for an [`Error`]: a status, a plain-text body safe to
/// show, and `Retry-After` in whole seconds.
///
/// | Error | Status |
/// |---|---|
/// | `InvalidCredentials`, `InvalidCode`, `CodeAlreadyUsed` | 401 Unauthorized |
/// | `ChallengeNotFound`, `ChallengeExpired`, `TooManyAttempts` | 410 Gone: the pending login is over, log in again (401 stays "wrong, try again") |
/// | `Locked`, `RateLimited` | 429 Too Many Requests, with `Retry-After` |
/// | `StepUpRequired` | 403 Forbidden |
/// | `WeakPassword`, `InvalidUsername`, `InvalidEmail`, `InvalidPhoneNumber`, `MalformedCode` | 422 Unprocessable Content |
/// | `UsernameTaken`, `EmailTaken`, `FactorUnavailable`, `RegistrationAlreadyConfirmed` | 409 Conflict (with the account's or the site's state) |
/// | `InvalidResetToken`, `InvalidConfirmationToken` | 400 Bad Request |
/// | `UserNotFound` | 404 Not Found |
/// | `Provider`, `Store` | 503 Service Unavailable (`Retry-After` when the provider gave one) |
/// | `Config`, `PasswordHashBeyondBound`, `Internal` | 500 Internal Server Error |
///
/// User errors ([`Error::is_user_error`]) carry their `Display` text, which
/// never holds a secret; provider and store failures a generic text, and
/// configuration and internal errors a generic 500: their detail goes to
/// the log (`tracing`, level error) when the answer is made with
/// [`from_error`](Self::from_error).
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::{Error, web::ErrorResponse};
/// let answer = ErrorResponse::from_error(&Error::RateLimited { retry_after: Duration::from_millis(1500) });
/// assert_eq!((answer.status, answer.retry_after), (429, Some(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The plain-text body.
    pub body: String,
    /// Seconds for a `Retry-After` header (rounded up, at least 1).
    pub retry_after: Option<u64>,
}

impl ErrorResponse {
    /// The answer for `err`; a server-side failure is logged here.
    pub fn from_error(err: &Error) -> Self {
        let status = http_status(err);
        let body = if err.is_user_error() {
            err.to_string()
        } else {
            tracing::error!(error = %err, status, "request failed");
            if status == 503 { UNAVAILABLE } else { INTERNAL }.to_owned()
        };
        let retry_after = err.retry_after().map(|wait| {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            secs.max(1)
        });
        ErrorResponse {
            status,
            body,
            retry_after,
        }
    }

    /// The generic 500 answer, for a failure outside the
    /// [`Authenticator`](crate::Authenticator) (a session store, a
    /// missing middleware) whose detail the caller logs.
    pub fn internal() -> Self {
        ErrorResponse {
            status: 500,
            body: INTERNAL.to_owned(),
            retry_after: None,
        }
    }
}

/// The HTTP status for `err` (see the table of [`ErrorResponse`]).
pub(crate) fn http_status(err: &Error) -> u16 {
    match err {
        Error::InvalidCredentials | Error::InvalidCode { .. } | Error::CodeAlreadyUsed { .. } => {
            401
        }
        Error::ChallengeNotFound | Error::ChallengeExpired | Error::TooManyAttempts => 410,
        Error::Locked { .. } | Error::RateLimited { .. } => 429,
        Error::StepUpRequired => 403,
        Error::WeakPassword(_)
        | Error::InvalidUsername(_)
        | Error::InvalidEmail
        | Error::InvalidPhoneNumber(_)
        | Error::MalformedCode => 422,
        Error::UsernameTaken
        | Error::EmailTaken
        | Error::FactorUnavailable(_)
        | Error::RegistrationAlreadyConfirmed => 409,
        Error::InvalidResetToken | Error::InvalidConfirmationToken => 400,
        Error::UserNotFound => 404,
        Error::Provider(_) | Error::Store(_) => 503,
        Error::Config(_) | Error::PasswordHashBeyondBound | Error::Internal(_) => 500,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::{ProviderError, ProviderErrorKind};

    #[test]
    fn statuses_bodies_and_retry_after() {
        let r = ErrorResponse::from_error(&Error::InvalidCode { attempts_left: 3 });
        assert_eq!(r.status, 401);
        assert_eq!(r.body, "invalid code (3 attempts left)");
        assert_eq!(r.retry_after, None);

        let r = ErrorResponse::from_error(&Error::Locked {
            retry_after: Duration::from_millis(90_200),
        });
        assert_eq!((r.status, r.retry_after), (429, Some(91)));
        let r = ErrorResponse::from_error(&Error::RateLimited {
            retry_after: Duration::ZERO,
        });
        assert_eq!(r.retry_after, Some(1));

        let mut p = ProviderError::new(ProviderErrorKind::Throttled);
        p.code = Some(20429);
        p.retry_after = Some(Duration::from_secs(30));
        let r = ErrorResponse::from_error(&Error::Provider(p));
        assert_eq!((r.status, r.retry_after), (503, Some(30)));
        assert!(
            !r.body.contains("20429") && !r.body.contains("throttl"),
            "{}",
            r.body
        );

        for e in [
            Error::Config("TWILIO_AUTH_TOKEN=abc is wrong".into()),
            Error::Internal("record 42 is corrupt".into()),
        ] {
            let r = ErrorResponse::from_error(&e);
            assert_eq!(r, ErrorResponse::internal());
        }
        let r = ErrorResponse::from_error(&Error::store("connection refused at db.internal:5432"));
        assert_eq!((r.status, r.body.as_str()), (503, UNAVAILABLE));
    }

    #[test]
    fn every_user_error_is_4xx_and_every_other_5xx() {
        let all = [
            Error::InvalidCredentials,
            Error::InvalidCode { attempts_left: 1 },
            Error::CodeAlreadyUsed { attempts_left: 1 },
            Error::ChallengeExpired,
            Error::ChallengeNotFound,
            Error::TooManyAttempts,
            Error::Locked {
                retry_after: Duration::from_secs(1),
            },
            Error::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            Error::WeakPassword(crate::WeakPassword::Common),
            Error::InvalidUsername("empty"),
            Error::InvalidEmail,
            Error::UsernameTaken,
            Error::EmailTaken,
            Error::InvalidPhoneNumber("x".into()),
            Error::MalformedCode,
            Error::InvalidResetToken,
            Error::InvalidConfirmationToken,
            Error::RegistrationAlreadyConfirmed,
            Error::UserNotFound,
            Error::StepUpRequired,
            Error::FactorUnavailable("no"),
            Error::Provider(ProviderError::new(ProviderErrorKind::Timeout)),
            Error::store("down"),
            Error::Config("x".into()),
            Error::PasswordHashBeyondBound,
            Error::Internal("x".into()),
        ];
        for e in all {
            let s = http_status(&e);
            assert_eq!(e.is_user_error(), (400..500).contains(&s), "{e:?} → {s}");
            assert_eq!(!e.is_user_error(), (500..600).contains(&s), "{e:?} → {s}");
        }
    }
}
