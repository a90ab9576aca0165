//! HTTP answers for the crate's errors and for this module's own.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::Error;
use crate::web::ErrorResponse;

/// The HTTP status for an [`Error`]: [`Error::http_status`] as a
/// [`StatusCode`] (see its table).
pub fn error_status(err: &Error) -> StatusCode {
    StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An [`ErrorResponse`] as an axum response.
fn respond(answer: ErrorResponse) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, answer.body).into_response();
    if let Some(secs) = answer.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A plain-text answer as [`ErrorResponse::from_error`] makes it: the
/// status of [`error_status`], the `Display` text of user errors, a
/// generic text for the others (their detail logged), and `Retry-After`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        respond(ErrorResponse::from_error(&self))
    }
}

/// A failure of this module's extractors and session methods: return it
/// from a handler (`Result<_, WebError>`) and `?` does the rest (see the
/// [module example](crate::axum)).
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use twofa_verify::Error;
/// use twofa_verify::axum::WebError;
///
/// let wrong = WebError::from(Error::InvalidCredentials).into_response();
/// assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
/// let login = WebError::LoginRequired { redirect: Some("/login?next=%2Faccount".into()) };
/// assert_eq!(login.into_response().status(), StatusCode::SEE_OTHER);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// An [`Authenticator`](crate::Authenticator) call failed.
    #[error(transparent)]
    Auth(#[from] Error),
    /// The session could not be loaded or written (store failure, or data
    /// this module wrote that no longer decodes).
    #[error("session error: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// The request has no session: the router lacks the [`AuthLayer`](super::AuthLayer)
    /// (or a tower-sessions `SessionManagerLayer` outside the guards).
    #[error(
        "no session in the request: add twofa_verify::axum::AuthLayer to the router (Router::layer), around every route that uses AuthSession, RequireUser or CsrfToken"
    )]
    NoSessionLayer,
    /// The request needs a logged-in user. `redirect` is the login page
    /// (with `next=`) for HTML apps, `None` for a plain 401.
    #[error("login required")]
    LoginRequired {
        /// Where to send the browser, when a login URL is configured.
        redirect: Option<String>,
    },
}

/// `Auth` answers as the [`Error`] does; `LoginRequired` is a
/// `303 See Other` to the login page or a 401; the others are a generic 500
/// (logged).
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Auth(e) => e.into_response(),
            WebError::LoginRequired {
                redirect: Some(url),
            } => Redirect::to(&url).into_response(),
            WebError::LoginRequired { redirect: None } => {
                (StatusCode::UNAUTHORIZED, "login required").into_response()
            }
            e @ (WebError::Session(_) | WebError::NoSessionLayer) => {
                tracing::error!(error = %e, "session failure");
                respond(ErrorResponse::internal())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::{ProviderError, ProviderErrorKind};

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn statuses_bodies_and_retry_after() {
        let r = Error::InvalidCode { attempts_left: 3 }.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(r).await, "invalid code (3 attempts left)");

        let r = Error::Locked {
            retry_after: Duration::from_millis(90_200),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "91");

        let r = Error::RateLimited {
            limit: crate::event::LimitedAction::SmsSend,
            retry_after: Duration::ZERO,
        }
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");

        let mut p = ProviderError::new(ProviderErrorKind::Throttled);
        p.code = Some(20429);
        p.retry_after = Some(Duration::from_secs(30));
        let r = Error::Provider(p).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "30");
        let text = body(r).await;
        assert!(
            !text.contains("20429") && !text.contains("throttl"),
            "{text}"
        );

        for e in [
            Error::Config("TWILIO_AUTH_TOKEN=abc is wrong".into()),
            Error::Internal("record 42 is corrupt".into()),
        ] {
            let r = e.into_response();
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(r.headers().get(header::RETRY_AFTER).is_none());
            assert_eq!(body(r).await, "internal server error");
        }
        let r = Error::store("connection refused at db.internal:5432").into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body(r).await.contains("temporarily unavailable"));
    }

    #[tokio::test]
    async fn web_errors() {
        let r = WebError::LoginRequired {
            redirect: Some("/login?next=%2Fa".into()),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/login?next=%2Fa");
        let r = WebError::LoginRequired { redirect: None }.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = WebError::NoSessionLayer.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = WebError::from(Error::StepUpRequired).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
