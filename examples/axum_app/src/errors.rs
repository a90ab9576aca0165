//! Error pages: [`AppError`] (a friendly page, or the 500 page for what the
//! user did not cause), [`FormError`] (a form shown again with a message),
//! and the middleware that renders them, and the library's bare refusals
//! (CSRF, body size), inside the site's layout.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use twofa_verify::Error as AuthError;
use twofa_verify::axum::{AuthSession, WebError};

use super::AppState;
use super::flash::FlashJar;
use super::render::{Visitor, render_html};

/// An error page to show: a friendly message with a 4xx status, or the 500
/// page for failures the user did not cause (logged, never shown).
#[derive(Debug)]
pub enum AppError {
    /// A page with this status, title and message.
    Page {
        /// The HTTP status.
        status: StatusCode,
        /// The heading.
        title: String,
        /// What happened and what to do, in words safe to show.
        message: String,
        /// For 429: when to try again.
        retry_after: Option<Duration>,
    },
    /// A redirect the library asked for (the login page, with `next`).
    Redirect(String),
    /// Something broke on our side; logged, the user sees the 500 page.
    Internal(String),
}

impl AppError {
    /// A page with a status, a title and a message.
    pub fn page(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        AppError::Page {
            status,
            title: title.into(),
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match FormError::from_auth(e) {
            Ok(fe) => AppError::Page {
                status: fe.status,
                title: title_for(fe.status).into(),
                message: fe.message,
                retry_after: fe.retry_after,
            },
            Err(e) => e,
        }
    }
}

impl From<WebError> for AppError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::Auth(e) => e.into(),
            WebError::LoginRequired { redirect } => {
                AppError::Redirect(redirect.unwrap_or_else(|| "/login".into()))
            }
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Internal(format!("session: {e}"))
    }
}

/// The app's own tables (`examples/demo-support/src/profiles.rs`).
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(format!("profiles: {e}"))
    }
}

impl From<minijinja::Error> for AppError {
    fn from(e: minijinja::Error) -> Self {
        AppError::Internal(format!("template: {e:#}"))
    }
}

/// Marks a response whose body [`error_pages`] renders as a full page.
#[derive(Clone, Debug)]
struct ErrorPage {
    title: String,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message, retry_after) = match self {
            AppError::Page {
                status,
                title,
                message,
                retry_after,
            } => (status, title, message, retry_after),
            AppError::Redirect(to) => return super::see_other(&to),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong".to_owned(),
                    "An unexpected error happened on our side. It has been logged; please try again in a moment.".to_owned(),
                    None,
                )
            }
        };
        let mut resp = (status, format!("{title}\n\n{message}\n")).into_response();
        with_retry_after(&mut resp, retry_after);
        resp.extensions_mut().insert(ErrorPage { title, message });
        resp
    }
}

/// Sets `Retry-After` (whole seconds, rounded up).
pub fn with_retry_after(resp: &mut Response, retry_after: Option<Duration>) {
    if let Some(d) = retry_after {
        let secs = d.as_secs().max(1) + u64::from(d.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "Not allowed",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::TOO_MANY_REQUESTS => "Slow down",
        _ => "Something is not right",
    }
}

/// A user-caused failure of a form: shown on the form again.
#[derive(Debug)]
pub struct FormError {
    /// The status of the page.
    pub status: StatusCode,
    /// What to tell the user.
    pub message: String,
    /// For 429: when to try again.
    pub retry_after: Option<Duration>,
}

impl FormError {
    /// A message with a status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        FormError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A 422: the input is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// User errors become a form message with a 4xx status; the others
    /// (store, provider, configuration) become the 500 page (503 for a
    /// provider outage).
    pub fn from_auth(e: AuthError) -> Result<Self, AppError> {
        if !e.is_user_error() {
            return Err(match &e {
                AuthError::Provider(p) => {
                    tracing::error!(error = %e, "verification provider failed");
                    AppError::Page {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        title: "Service unavailable".into(),
                        message: "We could not reach the verification service. Please try again in a moment.".into(),
                        retry_after: p.retry_after,
                    }
                }
                _ => AppError::Internal(e.to_string()),
            });
        }
        let retry_after = e.retry_after();
        let status = twofa_verify::axum::error_status(&e);
        let message = match &e {
            AuthError::InvalidCredentials => "Invalid username or password.".to_owned(),
            AuthError::InvalidCode { attempts_left } => format!(
                "That code is not right. {} attempt{} left.",
                attempts_left,
                if *attempts_left == 1 { "" } else { "s" }
            ),
            // Only someone who typed a right code gets this, so it tells an
            // attacker nothing; it spares the user retyping the same code.
            AuthError::CodeAlreadyUsed { attempts_left } => format!(
                "That code was already used. Wait until your authenticator app shows the next one (a new code comes every 30 seconds), then enter it. {} attempt{} left.",
                attempts_left,
                if *attempts_left == 1 { "" } else { "s" }
            ),
            AuthError::Locked { retry_after } => format!(
                "Too many failed attempts. Please try again in {}.",
                human_duration(*retry_after)
            ),
            AuthError::RateLimited { retry_after } => format!(
                "Too many requests. Please try again in {}.",
                human_duration(*retry_after)
            ),
            AuthError::WeakPassword(w) => format!("Please choose another password: {w}."),
            AuthError::MalformedCode => {
                "Please enter the 6-digit code, or a recovery code like abcde-fghij-klmno-pqrst."
                    .to_owned()
            }
            AuthError::StepUpRequired => {
                "Please confirm with your password and a current code.".to_owned()
            }
            AuthError::UserNotFound => "User not found.".to_owned(),
            _ => sentence(&e.to_string()),
        };
        Ok(FormError {
            status,
            message,
            retry_after,
        })
    }

    /// A failed step-up: "your password" rather than "username or password".
    pub fn from_step_up(e: AuthError) -> Result<Self, AppError> {
        match e {
            AuthError::InvalidCredentials => Ok(FormError::new(
                StatusCode::UNAUTHORIZED,
                "Your password is not right.",
            )),
            e => FormError::from_auth(e),
        }
    }
}

/// The message of an error as a sentence: capital first, full stop last.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// "5 seconds", "2 minutes", "1 hour".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let s = s.max(1);
    let (n, unit) = if s < 120 {
        (s, "second")
    } else if s < 2 * 3600 {
        (s.div_ceil(60), "minute")
    } else if s < 2 * 86_400 {
        (s.div_ceil(3600), "hour")
    } else {
        (s.div_ceil(86_400), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Renders error pages: responses marked by [`AppError`], and the bare
/// answers of the library's CSRF middleware (403, 413) and axum (405).
pub async fn error_pages(
    State(state): State<AppState>,
    session: AuthSession,
    req: Request,
    next: Next,
) -> Response {
    let flash = FlashJar::new(req.extensions(), &state);
    let resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let page = match resp.extensions().get::<ErrorPage>() {
        Some(p) => p.clone(),
        None if html || !(resp.status().is_client_error() || resp.status().is_server_error()) => {
            return resp;
        }
        None => match resp.status() {
            StatusCode::FORBIDDEN => ErrorPage {
                title: "Form expired".into(),
                message: "This form has expired or was not sent from this site. Please go back, reload the page and try again.".into(),
            },
            StatusCode::METHOD_NOT_ALLOWED => ErrorPage {
                title: "Method not allowed".into(),
                message: "This page cannot be used that way.".into(),
            },
            StatusCode::PAYLOAD_TOO_LARGE => ErrorPage {
                title: "Too much data".into(),
                message: "That form was too large.".into(),
            },
            _ => return resp,
        },
    };
    let status = resp.status();
    let ctx = context! { status => status.as_u16(), title => page.title.clone(), message => page.message.clone() };
    let visitor = Visitor::without_csrf(session, flash);
    match render_html(&state, &visitor, "error.html", ctx).await {
        Ok(html) => {
            let mut out = (status, axum::response::Html(html)).into_response();
            if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
                out.headers_mut().insert(header::RETRY_AFTER, v.clone());
            }
            out
        }
        Err(e) => {
            tracing::error!(error = ?e, "could not render the error page");
            resp
        }
    }
}

/// The 404 page.
pub async fn not_found() -> AppError {
    AppError::page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "Sorry, the page you asked for does not exist.",
    )
}

/// The 500 page for a handler that panicked.
pub fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::Internal("a handler panicked".into()).into_response()
}
