//! HTTP answers for the crate's errors, for any framework.

use crate::error::Error;

/// The body of 503 answers: no detail about the provider or the store.
const UNAVAILABLE: &str = "the service is temporarily unavailable; please try again later";
/// The body of 500 answers.
const INTERNAL: &str = "internal server error";

/// What to answer for an [`Error`]: a status, a plain-text body safe to
/// show, and `Retry-After` in whole seconds.
///
/// The status is [`Error::http_status`] (its table says which error gets which).
///
/// User errors ([`Error::is_user_error`]) carry their `Display` text, which
/// never holds a secret; provider and store failures a generic text, and
/// configuration and internal errors a generic 500: their detail goes to
/// the log (`tracing`, level error) when the answer is made with
/// [`from_error`](Self::from_error).
///
/// ```
/// use std::time::Duration;
/// use twofa_verify::{Error, event::LimitedAction, web::ErrorResponse};
/// let answer = ErrorResponse::from_error(&Error::RateLimited {
///     limit: LimitedAction::Login,
///     retry_after: Duration::from_millis(1500),
/// });
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
    /// The answer for `err`; a server-side failure is logged here. See the
    /// [`ErrorResponse`] example.
    pub fn from_error(err: &Error) -> Self {
        let status = err.http_status();
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::{ProviderError, ProviderErrorKind};
    use crate::event::LimitedAction;

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
            limit: LimitedAction::Login,
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
}
