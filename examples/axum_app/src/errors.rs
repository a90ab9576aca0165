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
use twofa_verify::event::LimitedAction;

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
                message: fe.sentence(),
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

impl From<twofa_verify::axum::tower_sessions::session::Error> for AppError {
    fn from(e: twofa_verify::axum::tower_sessions::session::Error) -> Self {
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

/// Whole seconds, rounded up (at least 1): a wait is never shown shorter
/// than it is.
pub fn wait_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// A wait as pages show it, rounded up: "27 s", "15 min", "3 h".
/// `static/forms.js` counts it down in the same words.
pub fn short_wait(d: Duration) -> String {
    let s = wait_secs(d);
    if s < 120 {
        format!("{s} s")
    } else if s < 2 * 3600 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{} h", s.div_ceil(3600))
    }
}

/// Sets `Retry-After` (whole seconds, rounded up).
pub fn with_retry_after(resp: &mut Response, retry_after: Option<Duration>) {
    if let Some(d) = retry_after {
        let secs = wait_secs(d);
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

/// The words before the wait of a delay or a lock.
pub const TRY_AGAIN: &str = "Too many failed attempts. You can try again";
/// The words before the wait for another text message.
pub const NEW_CODE: &str = "You can ask for a new code";

/// A user-caused failure of a form: shown on the form again, or, with a
/// wait, on the form's page after a redirect (`render::form_error`).
#[derive(Debug)]
pub struct FormError {
    /// The status of the page.
    pub status: StatusCode,
    /// What to tell the user; with a wait, the words before it ("You can
    /// ask for a new code").
    pub message: String,
    /// A wait before trying again (a delay, a lock, a rate limit).
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

    /// The message as one sentence, its wait included ("You can ask for a
    /// new code in 27 s."): for pages that do not count it down.
    pub fn sentence(&self) -> String {
        match self.retry_after {
            Some(d) => format!("{} in {}.", self.message, short_wait(d)),
            None => self.message.clone(),
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
            // One wording for every wait, a delay or a lock alike, told
            // with the failure that earned it too (`auth::login`): the
            // page ends it with " in 27 s." and counts it down.
            AuthError::Delayed { .. } | AuthError::Locked { .. } => TRY_AGAIN.to_owned(),
            AuthError::RateLimited { limit, .. } => match limit {
                LimitedAction::SmsSend => NEW_CODE.to_owned(),
                LimitedAction::Login => {
                    "Too many failed attempts from your network. You can try again".to_owned()
                }
                _ => "Too many requests. You can try again".to_owned(),
            },
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
    let stale_form = req.method() == axum::http::Method::POST;
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    if stale_form
        && resp.status() == StatusCode::FORBIDDEN
        && resp.extensions().get::<ErrorPage>().is_none()
        && let Some(to) = stale_tab(&session, &flash, &path)
    {
        return super::see_other(to);
    }
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

/// Where a form refused by the CSRF check goes instead of "Form expired",
/// when it was sent from a tab left open across a login or a logout and
/// what it asked for is done already: logging in (or registering) while
/// logged in goes to the home page, logging out while logged out too, each
/// with a note. Nothing is changed, so a forged request gains nothing.
fn stale_tab(session: &AuthSession, flash: &FlashJar, path: &str) -> Option<&'static str> {
    match (path, session.user()) {
        ("/login" | "/register", Some(user)) => {
            flash.push("info", super::auth::logged_in_note(user));
            Some("/")
        }
        ("/logout", None) if session.pending().is_none() => {
            flash.push("info", "You are logged out.".to_owned());
            Some("/")
        }
        _ => None,
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
